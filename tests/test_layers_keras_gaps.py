"""Layer features of Keras 3 that deepgrad lacked: BatchNormalization(renorm=True), Dense(lora_rank=),
validation of LayerNormalization(axis=) and Dropout(noise_shape=), and fitting a model without
trainable weights. Keras is the reference where installed."""

from __future__ import annotations

import keras_reference
import numpy as np
import pytest

import deepgrad as dg
from deepgrad.layers import BatchNormalization, Dense, Dropout, Flatten, Input, LayerNormalization
from deepgrad.models import Sequential

keras = keras_reference.keras  # the fixture

RNG = np.random.default_rng(5)


def _renorm_batches():
    return [(RNG.standard_normal((16, 3)) * [1.0, 3.0, 0.2] + [0.5, -2.0, 4.0]).astype(np.float32)
            for _ in range(4)]


def _dg_value(t):
    return np.asarray(t.data if isinstance(t, dg.Tensor) else t)


@pytest.mark.parametrize("clipping", [None, {"rmax": 1.5, "rmin": 0.8, "dmax": 0.3}])
def test_batch_renormalization_matches_keras(keras, clipping):
    kwargs = dict(renorm=True, renorm_clipping=clipping, renorm_momentum=0.9, momentum=0.8)
    mine, theirs = BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    for batch in _renorm_batches():
        out = mine(batch, training=True)
        expected = keras.ops.convert_to_numpy(theirs(batch, training=True))
        # Keras's float32 variance E[x^2] - E[x]^2 loses ~1e-5 on the column of mean 4 and std 0.2
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-4)
    for name in ("moving_mean", "moving_variance", "moving_stddev", "renorm_mean", "renorm_stddev"):
        np.testing.assert_allclose(_dg_value(getattr(mine, name)),
                                   keras.ops.convert_to_numpy(getattr(theirs, name)), rtol=1e-4, atol=1e-5)
    batch = _renorm_batches()[0]
    np.testing.assert_allclose(mine(batch, training=False).numpy(),
                               keras.ops.convert_to_numpy(theirs(batch, training=False)), rtol=1e-4, atol=1e-5)


def test_batch_renormalization_by_hand():
    layer = BatchNormalization(renorm=True, renorm_clipping={"rmax": 1.0, "dmax": 0.0}, momentum=0.5,
                               renorm_momentum=0.5, epsilon=1e-3)
    x = np.array([[0.0], [4.0]], np.float32)  # mean 2, variance 4
    out = layer(x, training=True).numpy()
    # r = min(sqrt(4.001) / 1, 1) = 1 and d = clip(2, 0, 0) = 0: plain batch normalization
    np.testing.assert_allclose(out[:, 0], [-2 / np.sqrt(4.001), 2 / np.sqrt(4.001)], rtol=1e-5)
    np.testing.assert_allclose(layer.renorm_mean.numpy(), [1.0])
    np.testing.assert_allclose(layer.moving_stddev.numpy(), [(1.0 + np.sqrt(4.001)) / 2], rtol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.numpy(), layer.moving_stddev.numpy() ** 2 - 1e-3, rtol=1e-6)
    assert len(layer.weights) == 7 and len(layer.trainable_weights) == 2


def test_batch_renormalization_config_and_validation():
    layer = BatchNormalization(renorm=True, renorm_clipping={"rmax": 3.0}, renorm_momentum=0.9)
    config = layer.get_config()
    assert config["renorm"] and config["renorm_clipping"] == {"rmax": 3.0} and config["renorm_momentum"] == 0.9
    assert BatchNormalization.from_config(config).renorm_clipping == {"rmax": 3.0}
    with pytest.raises(ValueError, match="invalid keys"):
        BatchNormalization(renorm=True, renorm_clipping={"rmx": 3.0})
    with pytest.raises(ValueError, match="rmax should be greater than rmin"):
        BatchNormalization(renorm=True, renorm_clipping={"rmax": 1.0, "rmin": 2.0})
    with pytest.raises(ValueError, match="dmax should be non-negative"):
        BatchNormalization(renorm=True, renorm_clipping={"dmax": -1.0})
    assert "renorm" not in BatchNormalization().get_config()


def test_dense_lora_effective_kernel_and_frozen_kernel():
    dg.manual_seed(0)
    layer = Dense(3, lora_rank=2, lora_alpha=4)
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(layer(x).numpy(), x @ layer._kernel.numpy() + layer.bias.numpy(),
                               rtol=1e-6)  # B starts at 0
    assert [w.name for w in layer.trainable_weights] == ["bias", "lora_kernel_a", "lora_kernel_b"]
    assert [w.name for w in layer.non_trainable_weights] == ["kernel"]
    assert layer.lora_kernel_a.shape == (4, 2) and layer.lora_kernel_b.shape == (2, 3)
    layer.lora_kernel_b.data[...] = RNG.standard_normal((2, 3))
    kernel = layer._kernel.numpy() + 2.0 * layer.lora_kernel_a.numpy() @ layer.lora_kernel_b.numpy()
    np.testing.assert_allclose(layer(x).numpy(), x @ kernel + layer.bias.numpy(), rtol=1e-5)
    np.testing.assert_allclose(layer.kernel.numpy(), kernel, rtol=1e-6)
    config = layer.get_config()
    assert config["lora_rank"] == 2 and config["lora_alpha"] == 4
    with pytest.raises(ValueError, match="already enabled"):
        layer.enable_lora(2)
    with pytest.raises(ValueError, match="isn't yet built"):
        Dense(2).enable_lora(1)
    with pytest.raises(ValueError, match="lora_rank"):
        Dense(2, lora_rank=0)


def test_dense_lora_trains_only_the_factors_and_round_trips(tmp_path):
    dg.manual_seed(1)
    model = Sequential([Input((4,)), Dense(8, activation="relu"), Dense(1)])
    model.layers[0].enable_lora(2)
    model.compile(optimizer="adam", loss="mse")
    x = RNG.standard_normal((32, 4)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    frozen = model.layers[0]._kernel.numpy().copy()
    b_before = model.layers[0].lora_kernel_b.numpy().copy()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    np.testing.assert_array_equal(model.layers[0]._kernel.numpy(), frozen)
    assert not np.allclose(model.layers[0].lora_kernel_b.numpy(), b_before)
    path = tmp_path / "lora.deepgrad"
    model.save(path)
    restored = dg.models.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert Sequential.from_config(model.get_config()).layers[0].lora_rank == 2


def test_dense_lora_matches_keras(keras):
    # lora_alpha left at its default (the rank): Keras 3.15's build() re-enables LoRA without the
    # constructor's lora_alpha, so a given alpha would not reach its forward pass
    theirs = keras.layers.Dense(3, lora_rank=2)
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    theirs(x)
    theirs.lora_kernel_b.assign(RNG.standard_normal((2, 3)).astype(np.float32))
    mine = Dense(3, lora_rank=2)
    mine(x)
    for name in ("_kernel", "bias", "lora_kernel_a", "lora_kernel_b"):
        getattr(mine, name).data[...] = keras.ops.convert_to_numpy(getattr(theirs, name))
    np.testing.assert_allclose(mine(x).numpy(), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-5, atol=1e-6)
    assert len(mine.trainable_weights) == len(theirs.trainable_weights)


def test_layer_normalization_axis_is_validated():
    x = np.ones((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="Expected an int or a list/tuple of ints for the argument 'axis'"):
        LayerNormalization(axis={"axis": -1})
    with pytest.raises(ValueError, match="axis=5 does not fit inputs of rank 3"):
        LayerNormalization(axis=5)(x)
    with pytest.raises(ValueError, match="batch axis"):
        LayerNormalization(axis=(-3, -2, -1))(x)
    assert LayerNormalization(axis=[-1, -2])(x).shape == (2, 3, 4)


def test_dropout_noise_shape_validation_and_broadcast():
    for bad, message in [("Invalid", "Expected a tuple or list of integers"),
                         ((20, 1.5, 10), "Expected all elements to be integers or None")]:
        with pytest.raises(ValueError, match=message):
            Dropout(0.5, noise_shape=bad)
    assert Dropout(0.5, noise_shape=[20, 1, 10]).noise_shape == (20, 1, 10)
    x = np.ones((20, 5, 10), np.float32)
    for noise_shape in [(None, 1, None), (20, 1, 10)]:
        out = Dropout(0.5, noise_shape=noise_shape, seed=3)(x, training=True).numpy()
        np.testing.assert_array_equal(out[:, 0, :], out[:, 1, :])
        assert 0 < (out == 0).mean() < 1
    for bad in [(None, 3, None), (None, 1)]:
        with pytest.raises(ValueError, match="does not fit inputs"):
            Dropout(0.5, noise_shape=bad)(x, training=True)


def test_model_without_weights_fits_and_logs_its_loss():
    model = Sequential([Input((3,)), Flatten()])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    with pytest.warns(UserWarning, match="does not have any trainable weights"):
        history = model.fit(np.ones((4, 3)), np.zeros((4, 3)), epochs=2, verbose=0)
    assert history.history == {"loss": [1.0, 1.0], "mae": [1.0, 1.0]}
    frozen = Sequential([Input((3,)), Dense(2)])
    frozen.layers[0].trainable = False
    frozen.compile(optimizer="adam", loss="mse")
    before = frozen.layers[0].kernel.numpy().copy()
    with pytest.warns(UserWarning):
        frozen.fit(np.ones((4, 3)), np.zeros((4, 2)), verbose=0)
    np.testing.assert_array_equal(frozen.layers[0].kernel.numpy(), before)
