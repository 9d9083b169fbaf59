"""The examples run in their quick mode (a few seconds each)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run_quick(name, *extra):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, str(ROOT / "examples" / name), "--quick", *extra], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_vanishing_gradients_through_time_example_quick():
    result = _run_quick("vanishing_gradients_through_time.py")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Which one learns the dependency on step 1 of 50" in result.stdout
    assert "||dL/dh_1|| / ||dL/dh_50||" in result.stdout


@pytest.mark.slow
def test_vanishing_gradients_through_time_example_reads_the_quick_variable():
    # in a notebook kernel there is no --quick: the environment variable asks for the small slice
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT / "src"), DEEPGRAD_EXAMPLE_QUICK="1")
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "vanishing_gradients_through_time.py"),
                             "-f", "kernel.json"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count(" in epoch 2\n") == 2 and " in epoch 40" not in result.stdout  # the quick run: 2 epochs


@pytest.mark.slow
def test_sentiment_sst2_example_quick(shared_data, tmp_path):
    out = tmp_path / "out"
    result = _run_quick("sentiment_sst2.py", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    for row in ("| bidirectional LSTM |", "| 1-D CNN (Kim 2014) |", "| Transformer encoder |", "| mean of the three |"):
        assert row in result.stdout
    assert result.stdout.count("P(positive) = ") == 4
    assert (out / "sst2_best.deepgrad").stat().st_size > 0
    assert (out / "sst2_attention.png").stat().st_size > 5000


@pytest.mark.slow
def test_mnist1d_benchmark_example_quick(shared_data):
    result = _run_quick("mnist1d_benchmark.py")
    assert result.returncode == 0, result.stderr[-2000:]
    table = result.stdout[result.stdout.index("MNIST-1D, 10 steps of Adam(1e-2), batch 100"):]
    # the parameter counts of the paper's models (mnist1d/models.py), same as PyTorch's
    for name, parameters in (("logistic", "410"), ("mlp", "15,210"), ("cnn", "5,210"), ("gru", "5,134")):
        assert any(line.split()[0] == name and line.split()[3] == parameters for line in table.splitlines()[2:])


@pytest.mark.slow
def test_mnist_convnet_example_quick(shared_data):
    result = _run_quick("mnist_convnet.py")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Total params: 34,826" in result.stdout  # the Keras recipe's parameter count
    assert "x_train shape: (512, 28, 28, 1)" in result.stdout
    accuracy = float(result.stdout.split("Test accuracy:")[1].split()[0])
    assert 0.3 < accuracy <= 1.0  # two epochs on 512 images already learn something


@pytest.mark.slow
def test_apparel_classifier_example_quick(shared_data, tmp_path):
    result = _run_quick("apparel_classifier.py", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "classes: T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot" \
        in result.stdout
    assert "test accuracy" in result.stdout and "recall per type: T-shirt/top" in result.stdout
    for name in ("history.png", "confusion_matrix.png", "misclassified.png"):
        assert (tmp_path / name).stat().st_size > 5000, name
