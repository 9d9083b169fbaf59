"""The ``deepgrad`` command line (also ``python -m deepgrad``).

Commands::

    deepgrad demo                                   the course in one run on bundled data
    deepgrad demo [--list] [CHAPTER] [--quick]      a longer chapter: cnn, text, autoencoder, gan
    deepgrad train DATA.csv --target COL --out M    train an MLP on a CSV file, save it
    deepgrad evaluate M DATA.csv [--target COL]     metrics of a saved model on a CSV file
    deepgrad predict M DATA.csv [--out preds.csv]   predictions for each row of a CSV file
    deepgrad summary M                              layers, parameters and the data it expects
    deepgrad bench [NAME ...]                       the benchmarks of the source repository

Exit codes: 0 success, 2 usage error, 1 failure; errors go to stderr as
``deepgrad: error: ...``.

A model trained here keeps what it needs to read new CSV files in ``model.metadata``
(saved inside the model file, see ``deepgrad.models.saving``): the
:class:`~deepgrad.datasets.TableSchema` of the training file (feature columns,
category encodings, class names, fill values) and the feature standardization
z = (x - mean) / std learned on the training rows (for regression also the target's,
so that predictions come back in the target's units).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import re
import subprocess
import sys
import time

import numpy as np


def run_demo(args) -> int:
    """The main job: the course in one run on bundled data; or a longer chapter (see :mod:`deepgrad.demo`)."""
    from . import demo  # noqa: PLC0415

    if args.list:
        demo.list_chapters()
        return 0
    if args.chapter is None:
        if args.quick:
            raise CommandError("--quick shortens a chapter (`deepgrad demo CHAPTER --quick`); the quick tour is "
                               "already short.", usage=True)
        demo.run(seed=0 if args.seed is None else args.seed, output_dir=args.output_dir)
        return 0
    if args.seed is not None:
        raise CommandError("--seed applies to the quick tour; each chapter uses the seeds written in its example.",
                           usage=True)
    try:
        script_status = demo.run_chapter(args.chapter, output_dir=args.output_dir, quick=args.quick)
    except ValueError as err:  # an unknown chapter: a usage error that lists the valid ones
        raise CommandError(str(err), usage=True) from None
    if script_status != 0:
        raise CommandError(f"chapter {args.chapter} failed (see above).")
    return 0


# --------------------------------------------------------------------------- shared pieces

METADATA_KEY = "deepgrad.cli"
BENCHMARK_NAMES = ("engine", "optimizers", "fit", "diagnostics", "tuner", "conv", "sequence")


class CommandError(Exception):
    """A failure to report as ``deepgrad: error: ...`` with exit code 1 (2 when ``usage``)."""

    def __init__(self, message, usage=False):
        super().__init__(message)
        self.usage = usage


def _layer_sizes(text):
    """argparse type of ``--hidden``: '64,32' -> (64, 32); '' or '0' -> no hidden layer."""
    if text.strip() in ("", "0", "none"):
        return ()
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer sizes such as 64,32, got {text!r}") from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def _column_names(text):
    """argparse type of a column list: 'zip,state' -> ['zip', 'state']."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {text!r}")
    return names


def _number(text, kind):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None


def _fraction(text):
    """argparse type: a fraction in [0, 1) (NaN is not one)."""
    value = _number(text, float)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def _positive_float(text):
    """argparse type: a finite number > 0 (a learning rate of NaN, inf, 0 or -1 trains nothing useful)."""
    value = _number(text, float)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number greater than 0, got {text!r}")
    return value


def _positive_int(text):
    """argparse type: an integer >= 1."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _seed(text):
    """argparse type: a random seed, an integer in [0, 2**32)."""
    value = _number(text, int)
    if not 0 <= value < 2 ** 32:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 2**32), got {text!r}")
    return value


def _delimiter(text):
    """argparse type of ``--delimiter``: one character ('\\t' or 'tab' for a tab), or 'auto'."""
    if text == "auto":
        return None
    text = "\t" if text in ("\\t", "tab") else text
    if len(text) != 1:
        raise argparse.ArgumentTypeError(f"expected one character (or 'tab', or 'auto'), got {text!r}")
    return text


def _check_output_path(path, option):
    """Fail before any work when ``path`` cannot be written: a folder, or a parent that is absent or a file.

    The folder is never created: a typo in a path should not leave new folders behind.
    """
    if os.path.isdir(path):
        raise CommandError(f"{option} {path} is a folder; give a file name inside it.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(folder):
        raise CommandError(f"{option} {path}: the folder {folder} does not exist; create it first or choose "
                           "another path.")
    if not os.path.isdir(folder):
        raise CommandError(f"{option} {path}: {_existing_file_above(folder)} is a file, not a folder.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CommandError(f"{option} {path}: no permission to write in the folder {folder}.")


def _existing_file_above(folder):
    """The first existing path above ``folder`` (the file that stands where a folder should be)."""
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    return folder


def _load_trained_model(path):
    """The model saved by ``deepgrad train`` at ``path`` and its preprocessing."""
    from .datasets import Standardizer, TableSchema
    from .models import load_model

    model = load_model(path)
    info = model.metadata.get(METADATA_KEY)
    if not isinstance(info, dict) or "schema" not in info:
        raise CommandError(f"{path} is a deepgrad model without the CSV preprocessing that `deepgrad train` stores "
                           "(feature columns, scaling, class names); use it from Python, or train it with "
                           "`deepgrad train`.")
    schema = TableSchema.from_config(info["schema"])
    scaler = Standardizer.from_config(info["standardizer"])
    target_scaler = Standardizer.from_config(info["target_scaler"]) if info.get("target_scaler") else None
    return model, schema, scaler, target_scaler


def _predict(model, scaler, target_scaler, x):
    """Class probabilities (n, K), or regression values (n,) in the target's units."""
    outputs = model.predict(scaler.transform(x), batch_size=1024, verbose=0)
    if target_scaler is None:
        return outputs
    return target_scaler.inverse_transform(outputs).reshape(-1)


def _scores(task, y_true, outputs) -> dict:
    """classification: loss (cross-entropy) and accuracy; regression: MSE, MAE, R^2 (target units)."""
    from . import metrics

    if task == "classification":
        return {"loss": float(np.mean(metrics.sparse_categorical_crossentropy(y_true, outputs))),
                "accuracy": float(np.mean(metrics.sparse_categorical_accuracy(y_true, outputs)))}
    y_true, outputs = y_true.reshape(-1, 1), outputs.reshape(-1, 1)
    r2 = metrics.R2Score()
    r2.update_state(y_true, outputs)
    return {"mse": float(np.mean(metrics.mean_squared_error(y_true, outputs))),
            "mae": float(np.mean(metrics.mean_absolute_error(y_true, outputs))),
            "r2": float(r2.result())}


def _format_scores(scores) -> str:
    return "  ".join(f"{name} {value:.4f}" for name, value in scores.items())


# load_csv's keyword arguments in its messages, and the options of the command line that set them
_OPTION_SPELLINGS = ((re.compile(r"missing='(\w+)'"), r"--missing \1"),
                     (re.compile(r"task='(\w+)'"), r"--task \1"),
                     (re.compile(r"categorical_columns=\['([^']*)'\]"), r"--categorical-columns \1"),
                     (re.compile(r"delimiter=('[^']*')"), r"--delimiter \1"),
                     (re.compile(r"encoding='([^']*)'"), r"--encoding \1"))


def _read_csv(path, **options):
    """``load_csv`` with the command line's option names in its hints (``--missing drop``, not ``missing='drop'``)."""
    from .datasets import load_csv

    try:
        return load_csv(path, **options)
    except ValueError as err:
        message = str(err)
        for pattern, option in _OPTION_SPELLINGS:
            message = pattern.sub(option, message)
        raise CommandError(message) from None


def _report_dropped(data):
    if data.dropped_lines:
        lines = ", ".join(map(str, data.dropped_lines[:8])) + (" ..." if len(data.dropped_lines) > 8 else "")
        print(f"dropped {len(data.dropped_lines)} rows with missing values (lines {lines})", file=sys.stderr)


# --------------------------------------------------------------------------- train


def _build_model(n_features, hidden, activation, n_outputs, task):
    from .layers import Dense, Input
    from .models import Sequential

    layers = [Input(shape=(n_features,))]
    layers += [Dense(units, activation=activation) for units in hidden]
    layers.append(Dense(n_outputs, activation="softmax" if task == "classification" else None))
    return Sequential(layers)


def run_train(args) -> int:
    """Train an MLP on a CSV file: split, standardize, fit, report, diagnose, save."""
    from .datasets import Standardizer

    _check_train_options(args)
    data = _read_csv(args.data, target=args.target, task=args.task, categorical=args.categorical,
                     categorical_columns=args.categorical_columns, missing=args.missing,
                     delimiter=args.delimiter, encoding=args.encoding)
    _report_dropped(data)
    schema = data.schema
    x_train, y_train, x_val, y_val = _split_rows(data, args)
    scaler = Standardizer().fit(x_train)
    target_scaler = Standardizer().fit(y_train.reshape(-1, 1)) if schema.task == "regression" else None
    _describe_run(args, data, len(x_train), len(x_val), target_scaler)

    model = _compiled_model(args, data.x.shape[1], schema)
    callbacks = _callbacks(args, validating=len(x_val) > 0)
    validation = (scaler.transform(x_val), _model_targets(target_scaler, y_val)) if len(x_val) else None
    start = time.perf_counter()
    history = model.fit(scaler.transform(x_train), _model_targets(target_scaler, y_train),
                        batch_size=args.batch_size, epochs=args.epochs, validation_data=validation,
                        callbacks=callbacks, verbose=args.verbose)
    elapsed = time.perf_counter() - start

    model.metadata[METADATA_KEY] = {
        "schema": schema.get_config(), "standardizer": scaler.get_config(),
        "target_scaler": target_scaler.get_config() if target_scaler is not None else None,
    }
    model.save(args.out)
    print(f"trained {len(history.history.get('loss', []))} epochs in {elapsed:.1f} s")
    for name, x, y in (("train:     ", x_train, y_train), ("validation:", x_val, y_val)):
        if len(x):
            outputs = _predict(model, scaler, target_scaler, x)
            print(f"{name} {_format_scores(_scores(schema.task, y, outputs))}")
    target_std = float(target_scaler.scale_[0]) if target_scaler is not None else None
    _print_diagnosis(model, _history_in_target_units(history, target_std),
                     "regression losses in the target's units: loss = mse" if target_std else "",
                     callbacks=callbacks, x=scaler.transform(x_train), y=_model_targets(target_scaler, y_train))
    print(f"saved model to {args.out}")
    return 0


def _check_train_options(args):
    """The names of ``--optimizer`` and ``--activation`` (usage errors) and the ``--out`` path, before any work."""
    from . import activations, optimizers

    for kind, name in (("optimizer", args.optimizer), ("activation", args.activation)):
        try:
            (optimizers.get if kind == "optimizer" else activations.get)(name)
        except ValueError as err:
            raise CommandError(f"--{kind}: {err}", usage=True) from None
    _check_output_path(args.out, "--out")


def _split_rows(data, args):
    """``(x_train, y_train, x_val, y_val)``: the last ``--validation-split`` of the shuffled rows validate."""
    n = len(data.x)
    n_val = int(round(n * args.validation_split)) if args.validation_split else 0
    if args.validation_split and not 1 <= n_val < n:
        raise CommandError(f"--validation-split {args.validation_split} of {n} rows leaves no training or no "
                           "validation rows; use more data or another split.", usage=True)
    # the file may be sorted by class: shuffle before holding out the validation rows
    order = np.random.default_rng(args.seed).permutation(n)
    x, y = data.x[order], data.y[order]
    return x[: n - n_val], y[: n - n_val], x[n - n_val:], y[n - n_val:]


def _describe_run(args, data, n_train, n_val, target_scaler):
    """What is about to be trained on what; notes on the options that change its meaning."""
    schema = data.schema
    classes = f", classes {schema.class_names}" if schema.class_names else ""
    print(f"{args.data}: {len(data.x)} rows, {len(schema.features)} feature columns -> {data.x.shape[1]} inputs; "
          f"target {args.target!r}: {schema.task}{classes}")
    print(f"training on {n_train} rows, validating on {n_val}")
    if args.early_stopping is not None and n_val == 0:
        print("note: --early-stopping watches the training loss (no --validation-split)", file=sys.stderr)
    if target_scaler is not None and args.verbose:
        print(f"the target is standardized for training, z = (y - {float(target_scaler.mean_[0]):.4g}) / "
              f"{float(target_scaler.scale_[0]):.4g}: the progress below shows loss (mse) and mae of z; the "
              "results after it are in the target's units")


def _model_targets(target_scaler, y):
    """What the network is trained on: class ids as they are, regression targets standardized (n, 1)."""
    return y if target_scaler is None else target_scaler.transform(y.reshape(-1, 1))


def _compiled_model(args, n_inputs, schema):
    """The MLP of ``--hidden``/``--activation``, compiled with ``--optimizer`` and the task's loss and metric."""
    import deepgrad as dg

    from . import optimizers

    if schema.task == "regression":
        n_outputs, loss, metric_names = 1, "mse", ["mae"]
    else:
        n_outputs, loss, metric_names = len(schema.class_names), "sparse_categorical_crossentropy", ["accuracy"]
    dg.manual_seed(args.seed)
    model = _build_model(n_inputs, args.hidden, args.activation, n_outputs, schema.task)
    optimizer = optimizers.deserialize({"class_name": args.optimizer, "config": {"learning_rate": args.learning_rate}})
    model.compile(optimizer=optimizer, loss=loss, metrics=metric_names)
    return model


def _callbacks(args, validating):
    from .callbacks import EarlyStopping

    if args.early_stopping is None:
        return []
    return [EarlyStopping(monitor="val_loss" if validating else "loss", patience=args.early_stopping,
                          restore_best_weights=True)]


def _history_in_target_units(history, target_std):
    """``history`` with a regression's losses in the target's units, as the train/validation lines print them.

    Training sees z = (y - mean) / std, so its mse is std^2 times smaller than in y's units and its mae std
    times smaller; classification histories are returned as they are.
    """
    from .callbacks import History

    if target_std is None:
        return history
    converted = History()
    converted.epoch = list(history.epoch)
    converted.params = getattr(history, "params", {})
    for key, values in history.history.items():
        scale = target_std ** 2 if key.removeprefix("val_") == "loss" else \
            target_std if key.removeprefix("val_") == "mae" else 1.0
        converted.history[key] = [float(v) * scale for v in values]
    return converted


def _print_diagnosis(model, history, units="", **context):
    """The report of ``deepgrad.diagnostics.diagnose`` when that module is installed.

    ``units``: a note on the units of the history's numbers; ``context``: the fit's
    ``callbacks`` (remedies already in use are not recommended) and its ``x``, ``y``
    (a NaN loss caused by the data is named as such).
    """
    try:
        from .diagnostics import diagnose
    except ImportError:
        return
    try:
        report = diagnose(model, history, **context)
    except Exception as err:  # the model is trained and saved: a failed report must not lose it
        print(f"deepgrad: warning: no diagnosis ({type(err).__name__}: {err})", file=sys.stderr)
        return
    text = str(report).strip()
    if text:
        print(f"\ndiagnosis{f' ({units})' if units else ''}:\n" + text + "\n")


# --------------------------------------------------------------------------- evaluate, predict, summary


def run_evaluate(args) -> int:
    """Metrics of a trained model on a labelled CSV file."""
    model, schema, scaler, target_scaler = _load_trained_model(args.model)
    target = args.target or schema.target
    data = _read_csv(args.data, target=target, schema=schema, missing=args.missing, delimiter=args.delimiter,
                     encoding=args.encoding)
    _report_dropped(data)
    scores = _scores(schema.task, data.y, _predict(model, scaler, target_scaler, data.x))
    print(f"{args.data}: {len(data.x)} rows, target {target!r} ({schema.task})")
    print(_format_scores(scores))
    return 0


def run_predict(args) -> int:
    """One prediction per row of a CSV file (the target column, if present, is ignored)."""
    from .fileio import atomic_write
    if args.out:
        _check_output_path(args.out, "--out")
    model, schema, scaler, target_scaler = _load_trained_model(args.model)
    data = _read_csv(args.data, schema=schema, missing=args.missing, delimiter=args.delimiter,
                     encoding=args.encoding)
    _report_dropped(data)
    outputs = _predict(model, scaler, target_scaler, data.x)
    if schema.task == "classification":
        names = np.asarray(schema.class_names, dtype=object)
        header = ["prediction"] + [f"probability_{name}" for name in schema.class_names]
        rows = np.column_stack([names[outputs.argmax(axis=1)], np.char.mod("%.6g", outputs)])
    else:
        header, rows = ["prediction"], np.char.mod("%.7g", outputs)[:, None]
    if not args.out:
        _write_rows(sys.stdout, header, rows)
        return 0
    text = io.StringIO(newline="")
    _write_rows(text, header, rows)
    # a failed write (full disk, interrupt) keeps the previous file whole
    with atomic_write(args.out, "wb") as stream:
        stream.write(text.getvalue().encode("utf-8"))
    print(f"wrote {len(rows)} predictions to {args.out}")
    return 0


def _write_rows(stream, header, rows):
    writer = csv.writer(stream)
    writer.writerow(header)
    writer.writerows(rows.tolist())


def run_summary(args) -> int:
    """The layer table of a model file and, for a `deepgrad train` model, the data it expects."""
    from .models import load_model

    model = load_model(args.model)
    model.summary()
    info = model.metadata.get(METADATA_KEY)
    if isinstance(info, dict) and "schema" in info:
        schema = info["schema"]
        print(f"target: {schema['target']!r} ({schema['task']})")
        if schema.get("class_names"):
            print(f"classes ({len(schema['class_names'])}): {', '.join(schema['class_names'])}")
        categorical = schema.get("categories", {})
        columns = [f"{name} (categorical: {len(categorical[name])} values)" if name in categorical else name
                   for name in schema["features"]]
        print(f"feature columns ({len(columns)}): {', '.join(columns)}")
        print("inputs are standardized with the training rows' mean and standard deviation")
    return 0


# --------------------------------------------------------------------------- bench


def _benchmarks_dir():
    """The source repository's ``benchmarks/`` folder, or None when deepgrad is installed without it."""
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "benchmarks")
    return folder if os.path.isdir(folder) else None


def _available_benchmarks(folder):
    return [name for name in BENCHMARK_NAMES if os.path.isfile(os.path.join(folder, f"{name}.py"))]


def run_bench(args) -> int:
    """Run the benchmark scripts (each in its own process, output passed through)."""
    folder = _benchmarks_dir()
    if folder is None:
        raise CommandError("the benchmarks are not available: they live in the benchmarks/ folder of the deepgrad "
                           "source repository, which this installation does not include. Clone the repository and "
                           "install it with `pip install -e .` to run them.")
    available = _available_benchmarks(folder)
    if args.list:
        print("\n".join(f"{name:12s} {os.path.join(folder, name + '.py')}" for name in available))
        return 0
    unknown = [name for name in args.names if name not in available]
    if unknown:
        raise CommandError(f"unknown benchmark {', '.join(map(repr, unknown))}; available: {', '.join(available)}.",
                           usage=True)
    failed = []
    for name in args.names or available:
        script = os.path.join(folder, f"{name}.py")
        command = [sys.executable, script]
        with open(script, encoding="utf-8") as source:
            if args.quick and "--quick" in source.read():
                command.append("--quick")
        print(f"== benchmarks/{name}.py", flush=True)
        if subprocess.run(command, cwd=os.path.dirname(folder)).returncode != 0:
            failed.append(name)
    if failed:
        raise CommandError(f"benchmark{'s' if len(failed) > 1 else ''} {', '.join(failed)} failed (see above).")
    return 0


# --------------------------------------------------------------------------- parser and entry point


def _add_reading_options(command):
    command.add_argument("--delimiter", type=_delimiter, default=None, metavar="CHAR",
                         help="the field separator (default auto: the one of , ; tab | that splits the header "
                              "into the most columns)")
    command.add_argument("--encoding", default="utf-8", help="the file's text encoding (default utf-8; e.g. latin-1, "
                                                             "cp1252)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every ``deepgrad`` command."""
    from .datasets.tabular import CATEGORICAL_ENCODINGS, MISSING_POLICIES, TASKS

    parser = argparse.ArgumentParser(prog="deepgrad", description="deepgrad: a transparent deep learning framework.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser("demo", help="run the course demo on bundled data, or one of its longer chapters",
                               description="Without CHAPTER: the quick tour of the course on bundled data (under "
                                           "a minute). With CHAPTER: one longer chapter, an example notebook run "
                                           "as a script on real data (minutes), its figures saved to "
                                           "OUTPUT_DIR/CHAPTER.")
    demo.add_argument("chapter", nargs="?", metavar="CHAPTER",
                      help="a longer chapter: cnn, text, autoencoder or gan (`--list` describes them)")
    demo.add_argument("--list", action="store_true", help="list the chapters and exit")
    demo.add_argument("--quick", action="store_true",
                      help="run the chapter's short setting (also DEEPGRAD_EXAMPLE_QUICK=1): seconds, not minutes")
    demo.add_argument("--seed", type=_seed, default=None, help="random seed of the quick tour (default 0)")
    demo.add_argument("--output-dir", default="deepgrad-demo", help="where the plots go (default ./deepgrad-demo)")
    demo.set_defaults(handler=run_demo)

    missing_help = ("cells that are empty or NA/NaN/null/?: 'error' (default) names them, 'drop' leaves their rows "
                    "out, 'impute' fills them (numeric: mean, categorical: most frequent value)")
    train = commands.add_parser("train", help="train an MLP on a CSV file and save it",
                                description="Train a multilayer perceptron on a CSV file with a header line. "
                                            "Categorical feature columns are one-hot encoded (or integer-coded), "
                                            "inputs are standardized, and the model file keeps both.")
    train.add_argument("data", metavar="DATA.csv", help="training data")
    train.add_argument("--target", required=True, metavar="COL", help="the column to predict")
    train.add_argument("--out", required=True, metavar="MODEL", help="where to save the model (e.g. model.deepgrad)")
    train.add_argument("--task", choices=TASKS, default="auto",
                       help="auto (default): classification for text labels or at most 10 integer values; a numeric "
                            "target with a few text cells is an error until --task says which")
    train.add_argument("--hidden", type=_layer_sizes, default=(64, 32), metavar="64,32",
                       help="hidden layer sizes (default 64,32; 0 for none)")
    train.add_argument("--activation", default="relu", help="hidden layer activation (default relu)")
    train.add_argument("--optimizer", default="adam", help="optimizer name (default adam)")
    train.add_argument("--learning-rate", type=_positive_float, default=0.001, help="default 0.001")
    train.add_argument("--epochs", type=_positive_int, default=50, help="default 50")
    train.add_argument("--batch-size", type=_positive_int, default=32, help="default 32")
    train.add_argument("--validation-split", type=_fraction, default=0.2,
                       help="fraction of the (shuffled) rows held out for validation (default 0.2)")
    train.add_argument("--early-stopping", type=_positive_int, metavar="PATIENCE",
                       help="stop after PATIENCE epochs without a better validation loss; keep the best weights")
    train.add_argument("--categorical", choices=CATEGORICAL_ENCODINGS, default="onehot",
                       help="encoding of categorical feature columns (default onehot)")
    train.add_argument("--categorical-columns", type=_column_names, metavar="COL[,COL]",
                       help="read these columns as categories even where they hold numbers (by default a column "
                            "is categorical when at least half of its cells are not numbers)")
    train.add_argument("--missing", choices=MISSING_POLICIES, default="error", help=missing_help)
    _add_reading_options(train)
    train.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    train.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1,
                       help="0 silent, 1 progress bar (default), 2 one line per epoch")
    train.set_defaults(handler=run_train)

    def model_and_data_parser(name, handler, help_text):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("model", metavar="MODEL", help="a model file written by `deepgrad train`")
        command.add_argument("data", metavar="DATA.csv")
        command.add_argument("--missing", choices=MISSING_POLICIES, default="error", help=missing_help)
        _add_reading_options(command)
        command.set_defaults(handler=handler)
        return command

    evaluate = model_and_data_parser("evaluate", run_evaluate, "metrics of a trained model on a CSV file")
    evaluate.add_argument("--target", metavar="COL", help="the target column (default: the one it was trained on)")
    predict = model_and_data_parser("predict", run_predict,
                                    "predictions of a trained model for each row of a CSV file")
    predict.add_argument("--out", metavar="PREDS.csv", help="output file (default: standard output)")

    summary = commands.add_parser("summary", help="layers and parameters of a model file")
    summary.add_argument("model", metavar="MODEL")
    summary.set_defaults(handler=run_summary)

    bench = commands.add_parser("bench", help="run the benchmarks of the source repository")
    bench.add_argument("names", nargs="*", metavar="NAME",
                       help=f"which ones (default: all of {', '.join(BENCHMARK_NAMES)} that exist)")
    bench.add_argument("--list", action="store_true", help="list the available benchmarks")
    bench.add_argument("--quick", action="store_true", help="pass --quick to the benchmarks that accept it")
    bench.set_defaults(handler=run_bench)
    return parser


def _detach_stdout():
    """Point standard output at the null device, so that the interpreter's final flush does not fail again."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):  # stdout replaced by an object without a file descriptor
        pass


def main(argv=None) -> int:
    """Entry point of the ``deepgrad`` console script; returns the exit code (0 ok, 2 usage, 1 failure)."""
    from .models.saving import ModelFileError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2), already printed
        return int(exit_.code or 0)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 1
    except BrokenPipeError:  # the reader left (`deepgrad predict ... | head`): stop quietly, as Unix tools do
        _detach_stdout()
        return 0
    except CommandError as err:
        print(f"deepgrad: error: {err}", file=sys.stderr)
        return 2 if err.usage else 1
    except (ModelFileError, ValueError, OSError) as err:  # FileNotFoundError is an OSError
        print(f"deepgrad: error: {err}", file=sys.stderr)
        return 1
