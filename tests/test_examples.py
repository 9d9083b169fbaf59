"""The examples run in their quick mode (a few seconds each), as notebooks in a Jupyter kernel.

Each test here checks the figures one example prints; tests/test_notebooks.py runs every
example that has no test here, so each example runs once per suite.
"""

import numpy as np
import pytest
from example_notebooks import run_example


def _run_quick(name, *extra):
    """Run ``examples/name`` with DEEPGRAD_EXAMPLE_QUICK=1 and the options ``extra`` (tests/example_notebooks.py)."""
    return run_example(name, *extra, timeout=300)


@pytest.mark.slow
def test_vanishing_gradients_through_time_example_quick():
    result = _run_quick("vanishing_gradients_through_time.py")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Which one learns the dependency on step 1 of 50" in result.stdout
    assert "||dL/dh_1|| / ||dL/dh_50||" in result.stdout


@pytest.mark.slow
def test_sentiment_sst2_example_quick(shared_data, tmp_path):
    out = tmp_path / "out"
    result = _run_quick("sentiment_sst2.py", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    for row in ("| bidirectional LSTM |", "| 1-D CNN (Kim 2014) |", "| Transformer encoder |"):
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


@pytest.mark.slow
def test_gan_mnist_example_quick_through_the_environment_variable(shared_data, tmp_path):
    result = _run_quick("gan_mnist.py", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "training images: (1024, 28, 28, 1)" in result.stdout  # the variable chose the quick slice
    header = "epoch   d_loss   g_loss confidence  entropy"
    row = result.stdout[result.stdout.index(header):].splitlines()[1].split()
    assert row[0] == "1" and 0.0 < float(row[3]) <= 1.0 and 0.0 <= float(row[4]) <= np.log(10) + 1e-9
    assert sum(int(c) for c in row[5:15]) == 200  # the 200 quick samples, counted by predicted digit
    assert (tmp_path / "samples_epoch_01.png").stat().st_size > 2000
