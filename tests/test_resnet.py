"""Convolutional networks end to end: a small ResNet through the functional API, a convnet on real MNIST."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import optimizers
from deepgrad.datasets import download as download_module
from deepgrad.layers import (
    Activation,
    Add,
    BatchNormalization,
    Conv2D,
    Dense,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    MaxPooling2D,
)
from deepgrad.models import Model, Sequential, load_model


def _conv_bn(x, filters, strides=1, relu=True):
    x = Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, kernel_initializer="he_normal")(x)
    x = BatchNormalization()(x)
    return Activation("relu")(x) if relu else x


def residual_block(x, filters, strides=1):
    """conv-BN-ReLU, conv-BN, plus the shortcut (a 1x1 projection when the shape changes), then ReLU."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = Conv2D(filters, 1, strides=strides, use_bias=False)(x)
        shortcut = BatchNormalization()(shortcut)
    y = _conv_bn(x, filters, strides)
    y = _conv_bn(y, filters, relu=False)
    return Activation("relu")(Add()([y, shortcut]))


def small_resnet():
    inputs = Input((8, 8, 3))
    x = _conv_bn(inputs, 8)
    x = residual_block(x, 8)               # identity shortcut
    x = residual_block(x, 16, strides=2)   # projection shortcut
    x = GlobalAveragePooling2D()(x)
    return Model(inputs, Dense(3, activation="softmax")(x))


def test_small_resnet_trains_and_round_trips(tmp_path):
    dg.manual_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 96)
    x = rng.normal(scale=0.5, size=(96, 8, 8, 3)).astype(np.float32)
    x[np.arange(96), :, :, y] += 1.0  # the class is the channel that is brighter
    model = small_resnet()
    adds = [layer for layer in model.layers if isinstance(layer, Add)]
    assert len(adds) == 2 and model.output_shape == (None, 3)
    projections = [layer for layer in model.layers if isinstance(layer, Conv2D) and layer.kernel_size == (1, 1)]
    assert len(projections) == 1 and projections[0].strides == (2, 2)
    model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    loss = history.history["loss"]
    assert loss[-1] < 0.7 * loss[0]
    assert "Connected to" in model.summary(print_fn=lambda *_: None)
    model.save(tmp_path / "resnet.deepgrad")
    loaded = load_model(tmp_path / "resnet.deepgrad")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.slow
def test_tiny_convnet_learns_real_mnist_digits(shared_data, monkeypatch):
    from deepgrad.datasets import mnist

    monkeypatch.setattr(download_module, "_fetch", lambda url, destination: pytest.fail("no download expected"))
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train = x_train[:2000, :, :, None].astype(np.float32) / 255
    x_test = x_test[:500, :, :, None].astype(np.float32) / 255
    dg.manual_seed(0)
    model = Sequential([Input((28, 28, 1)), Conv2D(8, 3, activation="relu"), MaxPooling2D(2),
                        Conv2D(16, 3, activation="relu"), MaxPooling2D(2), Flatten(),
                        Dense(10, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(0.002), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train[:2000], batch_size=16, epochs=1, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test[:500], verbose=0)
    assert accuracy > 0.8  # chance is 0.10
