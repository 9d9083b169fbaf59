import csv
import subprocess
import sys
import types

import numpy as np
import pytest

from deepgrad import cli
from deepgrad.cli import main


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
                          cwd=cwd, timeout=120)


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
    fake.diagnose = lambda model, history: seen.append(len(history.history["loss"])) or "REPORT: all fine"
    monkeypatch.setitem(sys.modules, "deepgrad.diagnostics", fake)
    assert _train_small(tmp_path) == 0
    assert seen == [2] and "REPORT: all fine" in capsys.readouterr().out


def test_train_without_diagnostics_or_with_a_failing_one_still_succeeds(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "deepgrad.diagnostics", None)  # import fails
    assert _train_small(tmp_path) == 0
    captured = capsys.readouterr()
    assert "diagnosis" not in captured.out and captured.err == ""
    broken = types.ModuleType("deepgrad.diagnostics")
    broken.diagnose = lambda model, history: 1 / 0
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
