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
    for row in ("| bidirectional LSTM |", "| 1-D CNN (Kim 2014) |", "| Transformer encoder |", "| mean of the three |"):
        assert row in result.stdout
    assert "log-count ratio of 'good': +" in result.stdout  # the wide branch's naive-Bayes ratios
    assert "trained on train + dev for 1 epoch(s): test" in result.stdout
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


# ---- the course's chapters as notebooks (neuron to transformer), quick mode

def _figure_after(stdout, label):
    """The number printed right after ``label`` (trailing punctuation such as % , ; ) dropped)."""
    return float(stdout.split(label)[1].split()[0].rstrip("%,;)"))


@pytest.mark.slow
def test_neuron_and_perceptron_example_quick(tmp_path):
    result = _run_quick("neuron_and_perceptron.py", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "z = w . x + b = 1.0*0.8 + 0.75*1.2 + 0.5 = 2.20" in result.stdout
    assert "converged: True" in result.stdout and "XOR: NOT converged" in result.stdout
    assert _figure_after(result.stdout, "perceptron accuracy on XOR:") <= 75
    assert _figure_after(result.stdout, "MLP accuracy on XOR:") == 100
    for name in ("perceptron_separable.png", "perceptron_xor.png", "mlp_xor.png"):
        assert (tmp_path / name).stat().st_size > 5000, name


@pytest.mark.slow
def test_mlp_backpropagation_example_quick(tmp_path):
    result = _run_quick("mlp_backpropagation.py", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert _figure_after(result.stdout, "largest gradient difference, NumPy vs autograd:") < 1e-10
    assert _figure_after(result.stdout, "largest difference over the epochs") < 1e-4
    assert 50 < _figure_after(result.stdout, "test accuracy") <= 100  # 5 epochs on the digits
    for name in ("gradient_descent_by_hand_and_fit.png", "history.png"):
        assert (tmp_path / name).stat().st_size > 5000, name


@pytest.mark.slow
def test_transformer_text_classifier_example_quick(shared_data, tmp_path):
    result = _run_quick("transformer_text_classifier.py", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "400 training and 100 test sentences" in result.stdout
    assert "transformer_block (TransformerBlock)" in result.stdout
    # the block's own layers are counted: attention 4,224 + feed-forward 2,112 + two LayerNormalizations 128
    assert "6,464" in result.stdout
    assert _figure_after(result.stdout, "attention weights by hand vs MultiHeadAttention: largest difference") < 1e-5
    assert 0 <= _figure_after(result.stdout, "test accuracy") <= 100
    assert result.stdout.count("P(positive) = ") == 4
    assert (tmp_path / "attention_weights.png").stat().st_size > 5000


@pytest.mark.slow
def test_timeseries_forecasting_example_quick(shared_data, tmp_path):
    result = _run_quick("timeseries_forecasting.py", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "309 yearly values, 1700-2008" in result.stdout
    assert "windows: 195 train, 43 validation, 47 test (test targets 1962-2008)" in result.stdout
    rows = {line.split("|")[1].strip(): line.split("|")[3] for line in result.stdout.splitlines()
            if line.startswith("| ") and line.count("|") == 5 and "forecaster" not in line}
    assert set(rows) == {"naive (last value)", "linear AR(24)", "Conv1D", "LSTM", "GRU"}
    assert 10 < float(rows["naive (last value)"]) < 40  # sunspot numbers, not scaled units
    assert (tmp_path / "forecast.png").stat().st_size > 5000


@pytest.mark.slow
def test_optimizers_compared_example_quick(tmp_path):
    result = _run_quick("optimizers_compared.py", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    table = result.stdout.split("| optimizer | training loss after 3 epochs | test accuracy |")[1]
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| ") and "%" in line][:9]
    assert [row[1].strip() for row in rows] == ["SGD", "momentum", "Nesterov", "AdaGrad", "AdaDelta", "RMSprop",
                                                "Adam", "Nadam", "Adamax"]
    assert all(0 < float(row[2]) < 2.31 and 50 < float(row[3].strip(" %")) <= 100 for row in rows)
    assert "| one-cycle |" in result.stdout and "| cosine with restarts |" in result.stdout
    # Nesterov momentum ends next to the minimum of the ravine, plain SGD still on its way
    assert _figure_after(result.stdout, "Nesterov: after 60 steps w = (+0.020, -0.000), f(w) =") < 1e-3
    for name in ("ravine_paths.png", "loss_curves.png", "schedules.png"):
        assert (tmp_path / name).stat().st_size > 5000, name


@pytest.mark.slow
def test_regularisation_example_quick(tmp_path):
    result = _run_quick("regularisation.py", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    for remedy in ("L2 (lambda = 1e-3)", "L1 (lambda = 1e-4)", "Dropout(0.5)", "BatchNormalization",
                   "EarlyStopping(patience=20)"):
        assert f"| {remedy} |" in result.stdout
    assert "high bias" in result.stdout  # a straight boundary cannot enclose the inner ring
    no_clipping = result.stdout.split("--- no clipping")[1].split("--- clipnorm")[0]
    assert "final nan" in no_clipping and "exploding gradients" in no_clipping
    clipped = result.stdout.split("--- clipnorm=5.0")[1]
    assert _figure_after(clipped, "(scaled by the target variance") < 1  # finite and falling
    for name in ("under_good_over.png", "overfit_history.png", "remedies.png"):
        assert (tmp_path / name).stat().st_size > 5000, name


@pytest.mark.slow
def test_activations_and_initialisation_example_quick(tmp_path):
    result = _run_quick("activations_and_initialisation.py", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| sigmoid | 0.047 | 0.500 | 0.953 | 0.250 | 0.250 |" in result.stdout
    assert "| relu | 0.000 | 0.000 | 3.000 | 0.000 | 1.000 |" in result.stdout
    # tiny weights: the tanh activations shrink towards 0 layer after layer; He keeps ReLU's spread
    assert _figure_after(result.stdout, "tanh, N(0, 0.01): activation std layer 1 0.0759 -> layer 10") < 1e-6
    assert _figure_after(result.stdout, "ReLU, He normal: activation std layer 1 0.861 -> layer 10") > 0.3
    assert "--- tanh, N(0, 0.01): test accuracy" in result.stdout and "vanishing gradients:" in result.stdout
    for name in ("activations.png", "std_per_layer.png", "activation_histograms.png", "gradient_flow_vanishing.png"):
        assert (tmp_path / name).stat().st_size > 5000, name


@pytest.mark.slow
def test_hyperparameter_tuning_example_quick(tmp_path):
    result = _run_quick("hyperparameter_tuning.py", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "grid search: 3 trials" in result.stdout and "random search: 3 trials" in result.stdout
    assert "| layers | units | dropout | learning_rate | val_accuracy |" in result.stdout
    assert 0.5 < _figure_after(result.stdout, "random search: 3 trials, best validation accuracy") / 100 <= 1
    assert 0 <= _figure_after(result.stdout, "test accuracy") <= 100
    assert (tmp_path / "random" / "oracle.json").exists()
    assert (tmp_path / "random_search_trials.png").stat().st_size > 5000


@pytest.mark.slow
def test_autoencoders_fashion_example_quick(shared_data, tmp_path):
    result = _run_quick("autoencoders_fashion.py", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    table = result.stdout[result.stdout.index("test MSE   vs PCA"):]
    for row in ("PCA", "dense autoencoder", "convolutional autoencoder", "denoising autoencoder", "sparse autoencoder"):
        assert any(line.startswith(row) and line.split()[-4] == "32" for line in table.splitlines()), row
    assert "Total params: 111,521" in result.stdout  # the convolutional autoencoder
    assert "denoising AE   MSE" in result.stdout
    for name in ("reconstructions.png", "denoising.png", "code_space_2d.png"):
        assert (tmp_path / name).stat().st_size > 5000, name


@pytest.mark.slow
def test_vae_fashion_example_quick(shared_data, tmp_path):
    result = _run_quick("vae_fashion.py", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "epoch 2: validation reconstruction" in result.stdout  # the callback ran after each epoch
    test_line = result.stdout[result.stdout.index("test: reconstruction"):].splitlines()[0].split()
    reconstruction, kl, total = float(test_line[2]), float(test_line[5]), float(test_line[7])
    assert 0 < kl < reconstruction < 544 and total == pytest.approx(reconstruction + kl, abs=0.02)  # 544 = 784 ln 2
    for name in ("history.png", "code_space.png", "latent_grid.png", "reconstructions.png"):
        assert (tmp_path / name).stat().st_size > 5000, name
