import csv
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import deepgrad
from deepgrad import cli
from deepgrad.cli import main

# child processes import the deepgrad under test, whatever their working directory
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(deepgrad.__file__)))
_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))}


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2


def test_python_m_deepgrad_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "deepgrad", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "demo" in result.stdout
    for command in ("train", "evaluate", "predict", "summary", "bench"):
        assert command in result.stdout


# --------------------------------------------------------------------------- helpers


def _deepgrad(*args, cwd):
    """Run the real entry point: python -m deepgrad ARGS."""
    return subprocess.run([sys.executable, "-m", "deepgrad", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120, env=_ENV)


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _classification_rows(n=240, seed=0):
    """Label 'hi' when a + b + (color == 'red') > 0.5: learnable from numeric and categorical columns."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], n)
    label = np.where(a + b + (color == "red") > 0.5, "hi", "lo")
    return [[f"{a[i]:.4f}", f"{b[i]:.4f}", color[i], label[i]] for i in range(n)]


def _regression_rows(n=240, seed=1):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    return [[f"{a[i]:.4f}", f"{b[i]:.4f}", f"{1000 + 300 * a[i] - 200 * b[i]:.3f}"] for i in range(n)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A classifier trained once through the command line, shared by the tests below."""
    folder = tmp_path_factory.mktemp("cli")
    _write_csv(folder / "train.csv", ["a", "b", "color", "label"], _classification_rows())
    result = _deepgrad("train", "train.csv", "--target", "label", "--out", "model.deepgrad", "--epochs", "40",
                       "--hidden", "16", "--learning-rate", "0.01", "--early-stopping", "5", "--seed", "3", cwd=folder)
    return folder, result


# --------------------------------------------------------------------------- train, evaluate, predict, summary


def test_train_reports_progress_metrics_and_saves_the_preprocessing(trained):
    folder, result = trained
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "target 'label': classification, classes ['hi', 'lo']" in out
    assert "training on 192 rows, validating on 48" in out
    assert "Epoch 1/40" in out and "━" in out  # the progress bar of fit(verbose=1)
    accuracy = float(out.split("validation: ")[1].split("accuracy ")[1].split()[0])
    assert accuracy >= 0.85
    assert "saved model to model.deepgrad" in out
    from deepgrad.models import load_model

    info = load_model(folder / "model.deepgrad").metadata[cli.METADATA_KEY]
    assert info["schema"]["class_names"] == ["hi", "lo"]
    assert info["schema"]["categories"] == {"color": ["blue", "green", "red"]}
    assert len(info["standardizer"]["mean"]) == 5 and info["target_scaler"] is None


@pytest.mark.slow
def test_evaluate_predict_and_summary_on_new_files(trained):
    folder, _ = trained
    rows = _classification_rows(100, seed=7)
    _write_csv(folder / "test.csv", ["a", "b", "color", "label"], rows)
    result = _deepgrad("evaluate", "model.deepgrad", "test.csv", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "100 rows, target 'label' (classification)" in result.stdout
    assert float(result.stdout.split("accuracy ")[1].split()[0]) >= 0.85
    # columns in another order, no target column: predictions per row with class names
    _write_csv(folder / "new.csv", ["color", "b", "a"], [[r[2], r[1], r[0]] for r in rows])
    result = _deepgrad("predict", "model.deepgrad", "new.csv", "--out", "preds.csv", cwd=folder)
    assert result.returncode == 0, result.stderr
    with open(folder / "preds.csv", newline="") as stream:
        table = list(csv.reader(stream))
    assert table[0] == ["prediction", "probability_hi", "probability_lo"] and len(table) == 101
    probabilities = np.array([[float(v) for v in row[1:]] for row in table[1:]])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    predicted = [row[0] for row in table[1:]]
    assert predicted == [["hi", "lo"][i] for i in probabilities.argmax(axis=1)]
    assert np.mean([p == r[3] for p, r in zip(predicted, rows)]) >= 0.85
    result = _deepgrad("summary", "model.deepgrad", cwd=folder)
    assert result.returncode == 0 and "Total params" in result.stdout
    assert "classes (2): hi, lo" in result.stdout and "color (categorical: 3 values)" in result.stdout


@pytest.mark.slow
def test_regression_predictions_are_in_target_units(tmp_path):
    _write_csv(tmp_path / "r.csv", ["a", "b", "price"], _regression_rows())
    result = _deepgrad("train", "r.csv", "--target", "price", "--out", "r.deepgrad", "--epochs", "60",
                       "--hidden", "16", "--learning-rate", "0.01", "--verbose", "0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "target 'price': regression" in result.stdout and "r2 " in result.stdout
    result = _deepgrad("evaluate", "r.deepgrad", "r.csv", cwd=tmp_path)
    assert result.returncode == 0 and float(result.stdout.split("r2 ")[1].split()[0]) > 0.95
    result = _deepgrad("predict", "r.deepgrad", "r.csv", cwd=tmp_path)  # to standard output
    lines = result.stdout.splitlines()
    assert lines[0] == "prediction" and len(lines) == 241
    predictions = np.array(lines[1:], dtype=float)
    truth = np.array([float(r[2]) for r in _regression_rows()])
    assert np.mean(np.abs(predictions - truth)) < 40  # the target spans about 1000 +- 700


def test_training_is_repeatable_with_a_seed(tmp_path):
    _write_csv(tmp_path / "d.csv", ["a", "b", "color", "label"], _classification_rows(80))
    outputs = []
    for name in ("one", "two"):
        assert main(["train", str(tmp_path / "d.csv"), "--target", "label", "--out", str(tmp_path / name),
                     "--epochs", "3", "--verbose", "0", "--seed", "5"]) == 0
        assert main(["predict", str(tmp_path / name), str(tmp_path / "d.csv"),
                     "--out", str(tmp_path / f"{name}.csv")]) == 0
        outputs.append((tmp_path / f"{name}.csv").read_text())
    assert outputs[0] == outputs[1]


# --------------------------------------------------------------------------- errors and exit codes


@pytest.mark.slow
def test_failures_exit_1_with_a_clear_message(trained, tmp_path):
    folder, _ = trained
    _write_csv(tmp_path / "d.csv", ["a", "b", "color", "label"], _classification_rows(20))
    (tmp_path / "notes.txt").write_text("not a model")
    cases = [
        (["train", "absent.csv", "--target", "label", "--out", "m"], "no such CSV file: absent.csv"),
        (["train", "d.csv", "--target", "price", "--out", "m"], "column 'price' not found; the columns are"),
        (["train", "d.csv", "--target", "color", "--task", "regression", "--out", "m"],
         "regression target 'color' is not numeric"),
        (["evaluate", "notes.txt", "d.csv"], "notes.txt is not a deepgrad model file"),
        (["evaluate", folder / "absent.deepgrad", "d.csv"], "no such model file"),
        (["predict", folder / "model.deepgrad", "absent.csv"], "no such CSV file"),
    ]
    for args, message in cases:
        result = _deepgrad(*args, cwd=tmp_path)
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr.startswith("deepgrad: error: ") and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_usage_errors_exit_2(tmp_path, capsys):
    _write_csv(tmp_path / "d.csv", ["a", "label"], [["1", "x"], ["2", "y"]])
    data = str(tmp_path / "d.csv")
    cases = [(["train", data, "--out", "m"], "required: --target"),
             (["train", data, "--target", "label", "--out", "m", "--hidden", "8,x"], "comma-separated layer sizes"),
             (["train", data, "--target", "label", "--out", "m", "--optimizer", "adamm"], "unknown optimizer 'adamm'"),
             (["train", data, "--target", "label", "--out", "m", "--validation-split", "1.5"], "fraction"),
             (["bench", "nonexistent"], "unknown benchmark 'nonexistent'"),
             (["frobnicate"], "invalid choice")]
    for args, message in cases:
        assert main(args) == 2, args
        assert message in capsys.readouterr().err


def test_missing_values_name_their_lines_and_the_options(tmp_path):
    rows = _classification_rows(60)
    rows[4][0] = ""
    rows[9][2] = "NA"
    _write_csv(tmp_path / "gaps.csv", ["a", "b", "color", "label"], rows)
    result = _deepgrad("train", "gaps.csv", "--target", "label", "--out", "m", cwd=tmp_path)
    assert result.returncode == 1
    assert "column 'a' at line 6; column 'color' at line 11" in result.stderr
    assert "--missing drop" in result.stderr and "--missing impute" in result.stderr
    assert main(["train", str(tmp_path / "gaps.csv"), "--target", "label", "--out", str(tmp_path / "m"),
                 "--missing", "drop", "--epochs", "1", "--verbose", "0"]) == 0


def test_a_model_saved_from_python_needs_the_cli_preprocessing(tmp_path, capsys):
    from deepgrad.layers import Dense, Input
    from deepgrad.models import Sequential

    model = Sequential([Input(shape=(1,)), Dense(2)])
    model.save(tmp_path / "plain.deepgrad")
    _write_csv(tmp_path / "d.csv", ["a", "label"], [["1", "x"], ["2", "y"]])
    assert main(["evaluate", str(tmp_path / "plain.deepgrad"), str(tmp_path / "d.csv")]) == 1
    assert "without the CSV preprocessing" in capsys.readouterr().err
    assert main(["summary", str(tmp_path / "plain.deepgrad")]) == 0


# --------------------------------------------------------------------------- diagnosis and benchmarks


def _train_small(tmp_path):
    _write_csv(tmp_path / "d.csv", ["a", "b", "color", "label"], _classification_rows(40))
    return main(["train", str(tmp_path / "d.csv"), "--target", "label", "--out", str(tmp_path / "m"),
                 "--epochs", "2", "--verbose", "0"])


def test_train_prints_the_diagnosis_when_available(tmp_path, monkeypatch, capsys):
    seen = []
    fake = types.ModuleType("deepgrad.diagnostics")
    fake.diagnose = lambda model, history, **context: seen.append(len(history.history["loss"])) or "REPORT: all fine"
    monkeypatch.setitem(sys.modules, "deepgrad.diagnostics", fake)
    assert _train_small(tmp_path) == 0
    assert seen == [2] and "REPORT: all fine" in capsys.readouterr().out


def test_train_without_diagnostics_or_with_a_failing_one_still_succeeds(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "deepgrad.diagnostics", None)  # import fails
    assert _train_small(tmp_path) == 0
    captured = capsys.readouterr()
    assert "diagnosis" not in captured.out and captured.err == ""
    broken = types.ModuleType("deepgrad.diagnostics")
    broken.diagnose = lambda model, history, **context: 1 / 0
    monkeypatch.setitem(sys.modules, "deepgrad.diagnostics", broken)
    assert _train_small(tmp_path) == 0
    assert "warning: no diagnosis (ZeroDivisionError" in capsys.readouterr().err
    assert (tmp_path / "m").exists()


def test_bench_lists_the_repository_benchmarks():
    result = _deepgrad("bench", "--list", cwd=".")
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert {"engine", "optimizers", "fit"} <= set(names)


def test_bench_runs_scripts_and_reports_failures(tmp_path, monkeypatch, capfd):
    (tmp_path / "engine.py").write_text("import sys\nprint('engine ran', sys.argv[1:])\n")
    (tmp_path / "fit.py").write_text("import sys\n# accepts --quick\nprint('fit ran', sys.argv[1:])\n")
    (tmp_path / "optimizers.py").write_text("raise SystemExit(3)\n")
    monkeypatch.setattr(cli, "_benchmarks_dir", lambda: str(tmp_path))
    assert main(["bench", "engine", "fit", "--quick"]) == 0
    out = capfd.readouterr().out
    assert "engine ran []" in out and "fit ran ['--quick']" in out
    assert main(["bench"]) == 1
    assert "benchmark optimizers failed" in capfd.readouterr().err
    monkeypatch.setattr(cli, "_benchmarks_dir", lambda: None)
    assert main(["bench"]) == 1
    assert "the benchmarks are not available" in capfd.readouterr().err


def test_a_typo_in_a_numeric_column_or_target_is_an_error_naming_the_cell_and_the_option(tmp_path, capsys):
    rows = _regression_rows(60)
    rows[5][0] = "0.3O"  # letter O for zero
    _write_csv(tmp_path / "typo.csv", ["a", "b", "price"], rows)
    args = ["train", str(tmp_path / "typo.csv"), "--target", "price", "--out", str(tmp_path / "m"), "--epochs", "1",
            "--verbose", "0"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "column 'a' holds numbers except in 1 of 60 cells ('0.3O' on line 7)" in err
    assert "--categorical-columns a" in err and not (tmp_path / "m").exists()
    assert main(args + ["--categorical-columns", "a"]) == 0
    assert "61 inputs" in capsys.readouterr().out  # 60 one-hot columns of a, and b: what the user asked for
    rows = _regression_rows(60)
    rows[9][2] = "unknown"
    _write_csv(tmp_path / "target.csv", ["a", "b", "price"], rows)
    args[1] = str(tmp_path / "target.csv")
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "target 'price' holds numbers except in 1 of 60 rows ('unknown' on line 11)" in err
    assert "--task regression" in err and "--task classification" in err


# --------------------------------------------------------------------------- hostile inputs and paths


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A classifier trained for one epoch: enough to run predict."""
    folder = tmp_path_factory.mktemp("small")
    _write_csv(folder / "d.csv", ["a", "b", "color", "label"], _classification_rows(40))
    assert main(["train", str(folder / "d.csv"), "--target", "label", "--out", str(folder / "m.deepgrad"),
                 "--epochs", "1", "--verbose", "0"]) == 0
    return folder


def test_predict_into_a_pipe_closed_early_exits_quietly(small_model):
    _write_csv(small_model / "big.csv", ["a", "b", "color"], [r[:3] for r in _classification_rows(20000)])
    # about 800 KB of predictions, far beyond a pipe's buffer: the writer meets the closed pipe
    process = subprocess.Popen([sys.executable, "-m", "deepgrad", "predict", "m.deepgrad", "big.csv"],
                               cwd=small_model, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_ENV)
    assert process.stdout.readline() == b"prediction,probability_hi,probability_lo\r\n"
    process.stdout.close()  # what `| head -1` does
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0, stderr
    assert stderr == ""


def test_every_numeric_option_is_validated_before_training(tmp_path, capsys):
    _write_csv(tmp_path / "d.csv", ["a", "b", "color", "label"], _classification_rows(40))
    base = ["train", str(tmp_path / "d.csv"), "--target", "label", "--out", str(tmp_path / "m")]
    cases = [("--learning-rate", "nan", "finite number greater than 0"), ("--learning-rate", "-1", "greater than 0"),
             ("--learning-rate", "inf", "finite"), ("--learning-rate", "0", "greater than 0"),
             ("--learning-rate", "fast", "expected a number, got 'fast'"), ("--epochs", "0", "positive integer"),
             ("--epochs", "2.5", "expected an integer"), ("--batch-size", "-3", "positive integer"),
             ("--early-stopping", "0", "positive integer"), ("--validation-split", "nan", "fraction"),
             ("--seed", "-1", "seed"), ("--delimiter", ";;", "one character")]
    for option, value, message in cases:
        assert main(base + [option, value]) == 2, (option, value)
        err = capsys.readouterr().err
        assert f"error: argument {option}: " in err and message in err, err
    assert not (tmp_path / "m").exists()
    assert main(["demo", "--seed", "x"]) == 2


def test_a_non_utf8_file_names_its_line_and_the_encoding_option(tmp_path, capsys):
    rows = b"".join(b"%d,%d,%s\n" % (i, i % 5, b"caf\xe9" if i % 2 else b"tea") for i in range(20))
    (tmp_path / "latin.csv").write_bytes(b"a,b,drink\n" + rows)
    args = ["train", str(tmp_path / "latin.csv"), "--target", "drink", "--out", str(tmp_path / "m"),
            "--epochs", "1", "--verbose", "0"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "latin.csv, line 3: byte 0xe9 is not valid utf-8 text" in err and "--encoding latin-1" in err
    assert main(args + ["--encoding", "latin-1"]) == 0
    assert "classes ['café', 'tea']" in capsys.readouterr().out


def test_a_semicolon_separated_file_is_read_and_the_delimiter_is_named(tmp_path, capsys):
    rows = _classification_rows(40)
    (tmp_path / "s.csv").write_text("a;b;color;label\n" + "".join(";".join(r) + "\n" for r in rows))
    out = str(tmp_path / "m")
    assert main(["train", str(tmp_path / "s.csv"), "--target", "label", "--out", out, "--epochs", "1",
                 "--verbose", "0"]) == 0
    assert "3 feature columns -> 5 inputs" in capsys.readouterr().out
    assert main(["evaluate", out, str(tmp_path / "s.csv"), "--delimiter", ","]) == 1
    assert "the columns are 'a;b;color;label' (read with --delimiter ',')" in capsys.readouterr().err


def test_output_paths_are_checked_before_training_and_no_folder_is_created(tmp_path, capsys):
    _write_csv(tmp_path / "d.csv", ["a", "b", "color", "label"], _classification_rows(40))
    (tmp_path / "file").write_text("x")
    for out, message in ((tmp_path / "file" / "m.deepgrad", "file is a file, not a folder"),
                         (tmp_path / "absent" / "dir" / "m.deepgrad", "absent/dir does not exist"),
                         (tmp_path, "is a folder")):
        assert main(["train", str(tmp_path / "d.csv"), "--target", "label", "--out", str(out)]) == 1
        captured = capsys.readouterr()
        assert message in captured.err and "training on" not in captured.out
    assert not (tmp_path / "absent").exists()
    assert main(["predict", str(tmp_path / "nothing"), str(tmp_path / "d.csv"), "--out",
                 str(tmp_path / "absent" / "p.csv")]) == 1
    assert "absent does not exist" in capsys.readouterr().err


def test_a_failed_predict_write_keeps_the_previous_file(small_model):
    (small_model / "preds.csv").write_text("previous predictions\n")
    # a file-size limit makes the write fail part way, as a full disk would
    script = ("import resource, signal, sys\n"
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (300, 300))\n"
              "from deepgrad.cli import main\n"
              "sys.exit(main(['predict', 'm.deepgrad', 'd.csv', '--out', 'preds.csv']))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=small_model, capture_output=True, text=True,
                            timeout=120, env=_ENV)
    assert result.returncode == 1 and "deepgrad: error: " in result.stderr
    assert (small_model / "preds.csv").read_text() == "previous predictions\n"
    assert [p.name for p in small_model.iterdir() if p.name.endswith(".tmp")] == []


def _diabetes_csv(folder):
    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_diabetes(scaled=False)  # bundled with scikit-learn: no download
    rows = [[f"{v:g}" for v in row] + [f"{t:g}"] for row, t in zip(data.data, data.target)]
    return _write_csv(folder / "diabetes.csv", list(data.feature_names) + ["progression"], rows)


def test_diagnosis_names_a_wide_train_validation_gap_in_the_targets_units(tmp_path, capsys):
    data = _diabetes_csv(tmp_path)
    assert main(["train", str(data), "--target", "progression", "--out", str(tmp_path / "m"), "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    train_r2 = float(out.split("train:")[1].split("r2 ")[1].split()[0])
    val_r2 = float(out.split("validation:")[1].split("r2 ")[1].split()[0])
    assert train_r2 - val_r2 > 0.3  # the gap of the report: train 0.73, validation 0.33
    assert "diagnosis (regression losses in the target's units: loss = mse)" in out
    assert "[WARNING] overfitting" in out and "EarlyStopping" in out
    # the diagnosis's final val_loss is the validation mse printed above it, in the same units
    val_mse = float(out.split("validation: mse ")[1].split()[0])
    val_loss = float(out.split("final loss / val_loss: [")[1].split("]")[0].split(", ")[1])
    assert val_loss == pytest.approx(val_mse, rel=1e-3)


def test_diagnosis_does_not_recommend_early_stopping_when_it_is_on(tmp_path, capsys):
    data = _diabetes_csv(tmp_path)
    assert main(["train", str(data), "--target", "progression", "--out", str(tmp_path / "m"), "--verbose", "0",
                 "--early-stopping", "5"]) == 0
    out = capsys.readouterr().out
    assert "[WARNING] overfitting" in out and "add Dropout layers" in out
    assert "EarlyStopping" not in out
