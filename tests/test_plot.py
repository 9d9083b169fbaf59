"""Plots render with Agg into non-trivial PNGs, and draw the numbers they are given."""

import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

import deepgrad as dg  # noqa: E402
from deepgrad import plot  # noqa: E402
from deepgrad.diagnostics import GradientMonitor  # noqa: E402
from deepgrad.layers import Dense  # noqa: E402
from deepgrad.models import Sequential  # noqa: E402
from deepgrad.optimizers import find_learning_rate  # noqa: E402
from deepgrad.regularizers import L2  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def assert_png(path, min_colors=8, min_bytes=5000):
    """The file exists, is a sizeable PNG, and shows more than a few distinct colors."""
    assert path.exists()
    assert path.stat().st_size > min_bytes
    image = matplotlib.image.imread(path)
    colors = np.unique((image[..., :3].reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colors) > min_colors


def _blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(-1.5, 0.6, size=(n // 2, 2)), rng.normal(1.5, 0.6, size=(n // 2, 2))])
    y = np.repeat([0, 1], n // 2)
    return x.astype(np.float32), y


def _classifier(x, y, epochs=20, **dense_kwargs):
    dg.manual_seed(0)
    model = Sequential([Dense(8, activation="relu", input_dim=2, **dense_kwargs), Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=16, validation_split=0.25, verbose=0)
    return model, history


def test_plot_history_draws_loss_and_metric_panels(tmp_path):
    x, y = _blobs()
    model, history = _classifier(x, y)
    fig = plot.plot_history(history, save_path=tmp_path / "history.png")
    assert_png(tmp_path / "history.png")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    train, val = fig.axes[0].lines
    np.testing.assert_allclose(train.get_ydata(), history.history["loss"])
    np.testing.assert_allclose(val.get_ydata(), history.history["val_loss"])
    np.testing.assert_array_equal(train.get_xdata(), np.arange(1, 21))
    # the dict works too, and path= is the same as save_path=
    plot.plot_history({"loss": [1.0, 0.5, 0.25]}, path=tmp_path / "dict.png")
    assert (tmp_path / "dict.png").exists()
    with pytest.raises(ValueError, match="records"):
        plot.plot_history(history, metrics=["precision"])
    with pytest.raises(ValueError, match="History"):
        plot.plot_history({})


@pytest.mark.slow
def test_plot_decision_regions_for_a_model_and_for_any_estimator(tmp_path):
    x, y = _blobs()
    model, _ = _classifier(x, y, epochs=40)
    fig = plot.plot_decision_regions(model, x, y, resolution=60, save_path=tmp_path / "regions.png")
    assert_png(tmp_path / "regions.png")
    assert fig.axes[0].get_title() == "decision regions"

    class SignOfSum:  # an estimator with -1/+1 scores: the nearest class value is the label
        def predict(self, points):
            return np.sign(points.sum(axis=1)) * 0.9

    plot.plot_decision_regions(SignOfSum(), x, np.where(y == 1, 1, -1), resolution=40, path=tmp_path / "sign.png")
    assert_png(tmp_path / "sign.png")
    with pytest.raises(ValueError, match=r"shape \(n_samples, 2\)"):
        plot.plot_decision_regions(model, np.zeros((4, 3)), np.zeros(4))


def test_as_labels_turns_scores_and_probabilities_into_classes():
    classes = np.array([0.0, 1.0])
    np.testing.assert_array_equal(plot._as_labels(np.array([[0.2, 0.8], [0.9, 0.1]]), classes), [1, 0])
    np.testing.assert_array_equal(plot._as_labels(np.array([[0.7], [0.2]]), classes), [1, 0])
    np.testing.assert_array_equal(plot._as_labels(np.array([-0.3, 2.0]), np.array([-1.0, 1.0])), [-1, 1])


def test_plot_activation_draws_the_function_and_its_derivative(tmp_path):
    fig = plot.plot_activation("sigmoid", save_path=tmp_path / "sigmoid.png")
    assert_png(tmp_path / "sigmoid.png")
    f, df = fig.axes[0].lines[:2]
    z = f.get_xdata()
    np.testing.assert_allclose(f.get_ydata(), 1 / (1 + np.exp(-z)), rtol=1e-6)
    np.testing.assert_allclose(df.get_ydata(), np.exp(-z) / (1 + np.exp(-z)) ** 2, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="whole vector"):
        plot.plot_activation("softmax")
    with pytest.raises(ValueError, match="Valid names"):
        plot.plot_activation("relu7")


@pytest.mark.slow
def test_plot_activations_grid_draws_every_elementwise_activation(tmp_path):
    fig = plot.plot_activations_grid(save_path=tmp_path / "grid.png")
    assert_png(tmp_path / "grid.png")
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == plot._elementwise_activation_names()
    assert {"relu", "sigmoid", "tanh", "elu", "leaky_relu", "selu"} <= set(titles)
    assert "softmax" not in titles and "swish" not in titles  # vector activations and aliases left out
    # brelu flips every other unit: the points are samples of one unit, so its curve is relu's
    brelu = next(ax for ax in fig.axes if ax.get_title() == "brelu").lines[0]
    np.testing.assert_allclose(brelu.get_ydata(), np.maximum(brelu.get_xdata(), 0), atol=1e-6)


def test_plot_weight_histograms_compares_two_models_side_by_side(tmp_path):
    x, y = _blobs()
    plain, _ = _classifier(x, y)
    regularized, _ = _classifier(x, y, kernel_regularizer=L2(0.5))
    fig = plot.plot_weight_histograms(plain, regularized, labels=("without L2", "with L2"),
                                      save_path=tmp_path / "weights.png")
    assert_png(tmp_path / "weights.png")
    assert len(fig.axes) == 4  # two layers x two models
    assert fig.axes[0].get_title().startswith("without L2: ") and fig.axes[1].get_title().startswith("with L2: ")
    counts = sum(patch.get_height() for patch in fig.axes[0].patches)
    assert counts == plain.layers[0].kernel.size
    with pytest.raises(ValueError, match="same number"):
        plot.plot_weight_histograms(plain, Sequential([Dense(1, input_dim=2)]))


def test_plot_gradient_flow_from_a_monitor(tmp_path):
    x, y = _blobs()
    dg.manual_seed(0)
    model = Sequential([Dense(8, activation="relu", input_dim=2), Dense(8, activation="tanh"),
                        Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    monitor = GradientMonitor(sample_every=1)
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[monitor])
    fig = plot.plot_gradient_flow(monitor, save_path=tmp_path / "flow.png")
    assert_png(tmp_path / "flow.png")
    gradient_axes = fig.axes[0]
    assert len(gradient_axes.lines) == 3  # one line per epoch
    rms = monitor.array("grad_norm")[-1] / np.sqrt([monitor.parameter_counts[n] for n in monitor.layer_names])
    np.testing.assert_allclose(gradient_axes.lines[-1].get_ydata(), rms)
    with pytest.raises(ValueError, match="at least one epoch"):
        plot.plot_gradient_flow(GradientMonitor())


def test_plot_lr_finder_marks_the_suggested_rate(tmp_path):
    x, y = _blobs(n=200)
    dg.manual_seed(0)
    model = Sequential([Dense(8, activation="relu", input_dim=2), Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    result = find_learning_rate(model, x, y, start=1e-4, end=10.0, steps=60, batch_size=16)
    fig = plot.plot_lr_finder(result, save_path=tmp_path / "lr.png")
    assert_png(tmp_path / "lr.png")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = [line.get_label() for line in ax.lines]
    assert f"suggested {result.suggested_learning_rate:.2g}" in labels
    with pytest.raises(TypeError, match="find_learning_rate"):
        plot.plot_lr_finder({"losses": []})


def test_confusion_matrix_counts_and_its_plot(tmp_path):
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    scores = np.eye(3)[[0, 1, 1, 1, 2, 0, 2]]  # one-hot predictions: two mistakes
    expected = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 2]])
    np.testing.assert_array_equal(plot.confusion_matrix(y_true, scores), expected)
    np.testing.assert_array_equal(plot.confusion_matrix([0, 1, 1], [0.2, 0.7, 0.4]), [[1, 0], [1, 1]])
    fig = plot.plot_confusion_matrix(y_true, scores, labels=["a", "b", "c"], save_path=tmp_path / "cm.png")
    assert_png(tmp_path / "cm.png")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == [str(v) for v in expected.ravel()]
    fig = plot.plot_confusion_matrix(y_true, scores, normalize=True)
    assert fig.axes[0].texts[4].get_text() == "1.00"
    with pytest.raises(ValueError, match="samples"):
        plot.confusion_matrix([0, 1], [0])


def test_plot_misclassified_shows_only_the_errors_with_true_and_predicted_names(tmp_path, rng):
    images = rng.uniform(0, 1, (8, 6, 6, 1))
    y_true = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    scores = np.eye(3)[[0, 2, 2, 1, 1, 0, 0, 1]]  # wrong at 1, 3, 5
    fig = plot.plot_misclassified(images, y_true, scores, labels=["shirt", "bag", "boot"],
                                  save_path=tmp_path / "wrong.png")
    assert_png(tmp_path / "wrong.png", min_colors=8, min_bytes=2000)
    assert [ax.get_title() for ax in fig.axes] == ["bag \u2192 boot", "shirt \u2192 bag", "boot \u2192 shirt"]
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), images[3, :, :, 0])
    assert "3 of 8 misclassified" in fig._suptitle.get_text()
    fig = plot.plot_misclassified(images[:, :, :, 0], y_true, scores.argmax(axis=1), max_images=2)
    assert [ax.get_title() for ax in fig.axes] == ["1 \u2192 2", "0 \u2192 1"]
    assert "first 2 shown" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="every prediction is correct"):
        plot.plot_misclassified(images, y_true, y_true)
    with pytest.raises(ValueError, match="one entry per sample"):
        plot.plot_misclassified(images[:3], y_true, scores)


def test_plot_perceptron_boundary_from_a_weight_history_and_a_perceptron(tmp_path):
    x, y = _blobs(n=40)
    history = [(np.zeros(2), 0.0), (np.array([1.0, 0.5]), -0.2), (np.array([1.0, 1.0]), 0.0),
               (np.array([0.0, 2.0]), 0.1), (np.array([3.0, 0.0]), 0.3)]
    fig = plot.plot_perceptron_boundary(history, x, y, save_path=tmp_path / "boundary.png")
    assert_png(tmp_path / "boundary.png")
    ax = fig.axes[0]
    # the zero line is skipped; w = (1, 1), b = 0 is y = -x; w = (3, 0) is the vertical x = -0.1
    assert len(ax.lines) == 4
    line = ax.lines[1]
    np.testing.assert_allclose(line.get_ydata(), -line.get_xdata())
    np.testing.assert_allclose(ax.lines[-1].get_xdata(), [-0.1, -0.1])
    assert ax.lines[-1].get_label() == "epoch 4"
    with pytest.raises(TypeError, match="Perceptron"):
        plot.plot_perceptron_boundary(3, x, y)


def test_plot_perceptron_boundary_reads_a_fitted_perceptron():
    perceptron_module = pytest.importorskip("deepgrad.perceptron")
    x, y = _blobs(n=40)
    perceptron = perceptron_module.Perceptron(random_state=0).fit(x, y)
    fig = plot.plot_perceptron_boundary(perceptron, x, y)
    w, b = perceptron.weights_, perceptron.bias_
    final = fig.axes[0].lines[-1]
    np.testing.assert_allclose(final.get_ydata(), -(w[0] * final.get_xdata() + b) / w[1], rtol=1e-5)
    errors_axes = fig.axes[1]
    np.testing.assert_array_equal(errors_axes.lines[0].get_ydata(), perceptron.errors_)


def test_save_path_and_path_must_agree(tmp_path):
    with pytest.raises(ValueError, match="differ"):
        plot.plot_activation("relu", save_path=tmp_path / "a.png", path=tmp_path / "b.png")


def test_matplotlib_is_imported_only_when_a_plot_is_drawn():
    code = ("import sys; import deepgrad, deepgrad.plot, deepgrad.diagnostics; "
            "assert 'matplotlib' not in sys.modules, 'imported early'; "
            "sys.modules['matplotlib'] = None\n"
            "try:\n    deepgrad.plot.plot_activation('relu')\n"
            "except ImportError as err:\n    print(err)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "pip install 'deepgrad[plot]'" in result.stdout


# --------------------------------------------------------------------------- labels a reader needs


def test_activation_panels_have_axis_labels():
    fig = plot.plot_activations_grid(names=["relu", "tanh", "sigmoid"], ncols=2)
    for ax in (a for a in fig.axes if a.get_visible()):
        assert ax.get_xlabel().startswith("z") and ax.get_ylabel() == "f(z), f'(z)"
    ax = plot.plot_activation("tanh", derivative=False).axes[0]
    assert ax.get_xlabel().startswith("z") and ax.get_ylabel() == "f(z)"


def test_weight_histogram_panels_name_the_layer_class_and_the_kernel_shape_and_count_on_y():
    x, y = _blobs()
    model, _ = _classifier(x, y, epochs=1)
    fig = plot.plot_weight_histograms(model)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("Dense layer 1 (") and "kernel 2 x 8, 2 inputs -> 8 units" in titles[0]
    assert "Dense layer 2 (" in titles[1] and "8 inputs -> 2 units" in titles[1]
    assert all(ax.get_ylabel() == "number of weights" for ax in fig.axes)


def _monitored(epochs):
    x, y = _blobs()
    dg.manual_seed(0)
    model = Sequential([Dense(4, activation="relu", input_dim=2), Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    monitor = GradientMonitor(sample_every=1)
    model.fit(x, y, epochs=epochs, batch_size=30, verbose=0, callbacks=[monitor])
    return monitor


def _colorbars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def test_gradient_flow_over_many_epochs_labels_them_with_a_colour_bar():
    fig = plot.plot_gradient_flow(_monitored(12))
    bars = _colorbars(fig)
    assert len(bars) == 1 and bars[0].get_ylabel() == "epoch"
    assert bars[0].get_ylim() == (1.0, 12.0)
    assert fig.axes[0].get_legend() is None and len(fig.axes[0].lines) == 12
    assert fig.axes[0].get_ylabel() and fig.axes[1].get_ylabel()
    # two epochs: a legend names both, no bar needed
    fig = plot.plot_gradient_flow(_monitored(2))
    assert not _colorbars(fig)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["epoch 1", "epoch 2"]


def test_perceptron_boundary_labels_earlier_epochs_with_a_colour_bar():
    x, y = _blobs(n=40)
    history = [(np.array([1.0, 0.2 * k]), 0.1 * k) for k in range(1, 7)]
    fig = plot.plot_perceptron_boundary(history, x, y)
    bars = _colorbars(fig)
    assert len(bars) == 1 and bars[0].get_ylabel() == "epoch" and bars[0].get_ylim() == (0.0, 5.0)
