"""Seeing inside a convnet: learned filters, feature maps, and dead channels in GradientMonitor/diagnose."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import plot
from deepgrad.diagnostics import GradientMonitor, diagnose
from deepgrad.layers import Conv1D, Conv2D, Dense, Flatten, GlobalAveragePooling2D, Input, MaxPooling2D
from deepgrad.models import Model, Sequential
from deepgrad.optimizers import SGD

pytest.importorskip("matplotlib")


def _convnet(channels=1, data_format=None):
    dg.manual_seed(0)
    shape = (8, 8, channels) if data_format is None else (channels, 8, 8)
    return Sequential([Input(shape), Conv2D(4, 3, activation="relu", data_format=data_format, name="first"),
                       MaxPooling2D(2, data_format=data_format), Conv2D(6, 2, activation="relu", name="second",
                                                                        data_format=data_format),
                       Flatten(), Dense(2, activation="softmax")])


def _titles(fig):
    return [ax.get_title() for ax in fig.axes]


def test_plot_filters_draws_one_panel_per_first_layer_filter():
    model = _convnet()
    fig = plot.plot_filters(model)
    assert _titles(fig) == [f"filter {f}" for f in range(4)]
    assert "Conv2D layer 'first': 4 filters 3 x 3" in fig._suptitle.get_text()
    image = fig.axes[2].images[0].get_array()
    np.testing.assert_allclose(image, model.layers[0].kernel.numpy()[:, :, 0, 2])
    fig = plot.plot_filters(model, layer="second", channel=3, max_filters=5, ncols=3)
    assert len(fig.axes) == 5 and "input channel 3" in fig._suptitle.get_text()
    assert "first 5 shown" in fig._suptitle.get_text()
    rgb = plot.plot_filters(_convnet(channels=3))
    assert rgb.axes[0].images[0].get_array().shape == (3, 3, 3) and "(RGB)" in rgb._suptitle.get_text()
    with pytest.raises(ValueError, match="channel must be in"):
        plot.plot_filters(model, layer="second", channel=9)
    with pytest.raises(ValueError, match="no built convolution layer"):
        plot.plot_filters(Sequential([Input((3,)), Dense(2)]))


def test_plot_feature_maps_shows_the_layer_output_for_one_image():
    model = _convnet()
    image = np.random.default_rng(0).random((8, 8)).astype(np.float32)
    fig = plot.plot_feature_maps(model, image)
    assert _titles(fig) == [f"channel {c}" for c in range(4)]
    expected = model.layers[0](image[None, :, :, None]).numpy()[0]
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), expected[:, :, 1], rtol=1e-6)
    fig = plot.plot_feature_maps(model, image[:, :, None], layer=2, max_maps=3)
    assert len(fig.axes) == 3 and "(2 x 2 x 6)" in fig._suptitle.get_text()
    assert all("_output_observer" not in vars(layer) for layer in model.layers)
    inputs = Input((4, 4, 2))
    functional = Model(inputs, Conv2D(3, 2, data_format="channels_first", name="cf")(inputs))
    fig = plot.plot_feature_maps(functional, np.ones((4, 4, 2)), layer="cf")
    # channels_first: (3 filters, 3, 1) per sample gives 3 panels of 3 x 1
    assert len(fig.axes) == 3 and fig.axes[0].images[0].get_array().shape == (3, 1)
    sequence = Sequential([Input((10, 2)), Conv1D(3, 3)])
    assert len(plot.plot_feature_maps(sequence, np.ones((10, 2))).axes) == 3
    with pytest.raises(ValueError, match="one sample of shape"):
        plot.plot_feature_maps(model, np.ones((2, 8, 8, 1)))


@pytest.mark.parametrize("data_format", [None, "channels_first"])
def test_monitor_counts_dead_channels_of_a_convolution(data_format):
    model = _convnet(data_format=data_format)
    first = model.layers[0]
    kernel, bias = first.get_weights()
    kernel[:] = 0.1
    kernel[..., 1] = kernel[..., 3] = -0.1  # channels 1 and 3 are negative on positive images: dead
    first.set_weights([kernel, np.zeros_like(bias)])
    x = np.random.default_rng(0).random((32, 8, 8, 1)).astype(np.float32) + 0.1
    x = x if data_format is None else x.transpose(0, 3, 1, 2)
    y = np.arange(32) % 2
    model.compile(optimizer=SGD(learning_rate=1e-6), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    monitor = GradientMonitor(sample_every=1)
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[monitor])
    assert monitor.records["first"]["dead_fraction"] == [0.5, 0.5, 0.5]  # 2 of 4 channels, every position
    findings = diagnose(model, history, monitor, dead_threshold=0.5)
    assert "dying_relu" in findings
    dying = next(f for f in findings if f.kind == "dying_relu")
    assert dying.evidence["dead fraction per layer (last epoch)"]["first"] == 0.5


def test_monitor_records_gradients_of_conv_layers():
    dg.manual_seed(0)
    model = Sequential([Input((6, 6, 2)), Conv2D(3, 3, activation="relu"), GlobalAveragePooling2D(), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    monitor = GradientMonitor(sample_every=1)
    model.fit(np.ones((8, 6, 6, 2), np.float32), np.ones((8, 1), np.float32), epochs=1, verbose=0,
              callbacks=[monitor])
    conv = model.layers[0].name
    assert monitor.parameter_counts[conv] == 3 * 3 * 2 * 3 + 3
    assert monitor.records[conv]["grad_norm"][0] > 0
