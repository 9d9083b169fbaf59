"""Layers behave as Keras 3's do: build by hand, config round trips, frozen BatchNormalization,
LayerNormalization's rms_scaling, and hyperparameters checked where they are given."""

import json
import math
import zipfile

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import initializers, regularizers
from deepgrad.layers import (
    APL,
    ELU,
    AlphaDropout,
    BatchNormalization,
    Concatenate,
    Dense,
    Dropout,
    GaussianNoise,
    LayerNormalization,
    LeakyReLU,
    ReLU,
    Reshape,
    Softmax,
)
from deepgrad.models import Sequential, load_model
from deepgrad.models.saving import ModelFileError

RNG = np.random.default_rng(7)


# --------------------------------------------------------------------------- build by hand


def test_build_by_hand_marks_the_layer_built_so_set_weights_survive_the_first_call():
    layer = Dense(2)
    layer.build((None, 3))
    assert layer.built and layer.input_shape_built == (None, 3)
    kernel = np.arange(6, dtype=np.float32).reshape(3, 2)
    layer.set_weights([kernel, np.array([1.0, -1.0], dtype=np.float32)])
    out = layer(np.ones((1, 3), dtype=np.float32)).numpy()
    assert len(layer.get_weights()) == 2
    assert np.allclose(out, [[7.0, 8.0]])


def test_build_by_hand_on_a_layer_without_weights_and_on_a_subclass_calling_super():
    class Wider(Dense):
        def build(self, input_shape):
            super().build(input_shape)
            self.extra = self.add_weight((self.units,), "ones", name="extra")

    layer = Wider(2)
    layer.build((None, 4))
    layer(np.ones((1, 4), dtype=np.float32))
    assert [w.name for w in layer.weights] == ["kernel", "bias", "extra"]
    flat = dg.layers.Flatten()
    flat.build((None, 2, 2))
    assert flat.built


# --------------------------------------------------------------------------- config round trips


def test_a_layer_rebuilt_from_config_gives_its_config_again_with_regularizer_and_initializer_objects():
    layer = Dense(3, kernel_regularizer=regularizers.L2(0.1), bias_regularizer=regularizers.L1L2(0.01, 0.02),
                  kernel_initializer=initializers.HeNormal(seed=3), input_dim=2)
    config = json.loads(json.dumps(layer.get_config()))
    again = Dense.from_config(config)
    assert json.loads(json.dumps(again.get_config())) == config
    assert isinstance(again.losses[0], dg.Tensor) and len(again.losses) == 2


def test_a_loaded_model_with_a_regularizer_saves_and_loads_again(tmp_path):
    dg.manual_seed(0)
    model = Sequential([Dense(4, activation="relu", kernel_regularizer=regularizers.L2(0.5), input_dim=3),
                        BatchNormalization(gamma_regularizer=regularizers.L1(0.01)), Dense(1)])
    model.compile("sgd", "mse")
    x = RNG.normal(size=(8, 3)).astype(np.float32)
    y = RNG.normal(size=(8, 1)).astype(np.float32)
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "first.deepgrad")
    loaded = load_model(tmp_path / "first.deepgrad")
    loaded.save(tmp_path / "second.deepgrad")
    again = load_model(tmp_path / "second.deepgrad")
    assert again.layers[0].get_config()["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.5}}
    penalty = sum(float(p.data) for p in again.losses)
    assert penalty == pytest.approx(sum(float(p.data) for p in model.losses), rel=1e-6) and penalty > 0
    assert again.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


# --------------------------------------------------------------------------- frozen BatchNormalization


def test_frozen_batch_normalization_runs_in_inference_mode_even_when_training():
    layer = BatchNormalization(momentum=0.5)
    x = RNG.normal(3.0, 2.0, size=(64, 4)).astype(np.float32)
    layer(x, training=True)
    mean, variance = layer.moving_mean.numpy().copy(), layer.moving_variance.numpy().copy()
    layer.trainable = False
    out = layer(x, training=True).numpy()
    assert np.allclose(out, layer(x, training=False).numpy())
    assert np.allclose(out, (x - mean) / np.sqrt(variance + 1e-3), rtol=1e-5, atol=1e-5)
    assert np.array_equal(layer.moving_mean.numpy(), mean)
    assert np.array_equal(layer.moving_variance.numpy(), variance)


def test_fit_leaves_the_statistics_of_a_frozen_batch_normalization_alone():
    dg.manual_seed(0)
    bn = BatchNormalization()
    model = Sequential([Dense(4, input_dim=3), bn, Dense(1)])
    bn.trainable = False
    model.compile("sgd", "mse")
    before = [w.copy() for w in bn.get_weights()]
    model.fit(RNG.normal(5, 2, size=(32, 3)).astype(np.float32), np.zeros((32, 1), np.float32),
              epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, bn.get_weights()))


# --------------------------------------------------------------------------- rms_scaling


def _keras_rms_scaling(x, gamma, axes, epsilon):
    """Keras 3's LayerNormalization(rms_scaling=True): x * rsqrt(var(x) + epsilon) * gamma."""
    variance = x.var(axis=axes, keepdims=True)
    return x / np.sqrt(variance + epsilon) * gamma


@pytest.mark.parametrize("axis, shape", [(-1, (5, 6)), ([1, 2], (4, 3, 5))])
def test_layer_normalization_rms_scaling_computes_what_keras_computes(axis, shape):
    x = RNG.normal(2.0, 3.0, size=shape)
    layer = LayerNormalization(axis=axis, rms_scaling=True, epsilon=0.01, dtype="float64")
    layer.build((None,) + shape[1:])
    gamma = RNG.normal(size=layer.gamma.shape)
    layer.set_weights([gamma])
    axes = tuple(range(1, len(shape))) if axis != -1 else (-1,)
    expected = _keras_rms_scaling(x, gamma.reshape((1,) + layer._broadcast), axes, 0.01)
    assert np.allclose(layer(dg.Tensor(x)).numpy(), expected, rtol=1e-12, atol=1e-12)
    # not RMSNorm: the mean square would give another result for inputs off zero
    rms = x / np.sqrt((x ** 2).mean(axis=axes, keepdims=True) + 0.01) * gamma.reshape((1,) + layer._broadcast)
    assert not np.allclose(layer(dg.Tensor(x)).numpy(), rms, rtol=1e-3)


def test_layer_normalization_rms_scaling_has_gamma_and_no_beta_like_keras():
    layer = LayerNormalization(rms_scaling=True, scale=False, center=True)
    layer.build((None, 4))
    assert [w.name for w in layer.weights] == ["gamma"]


# --------------------------------------------------------------------------- hyperparameters checked


@pytest.mark.parametrize("make, argument", [
    (lambda: BatchNormalization(epsilon=math.nan), "epsilon"),
    (lambda: BatchNormalization(epsilon=0.0), "epsilon"),
    (lambda: BatchNormalization(epsilon=-1e-3), "epsilon"),
    (lambda: BatchNormalization(epsilon=math.inf), "epsilon"),
    (lambda: BatchNormalization(momentum=1.5), "momentum"),
    (lambda: BatchNormalization(momentum=math.nan), "momentum"),
    (lambda: BatchNormalization(epsilon="0.1"), "epsilon"),
    (lambda: BatchNormalization(axis=1.5), "axis"),
    (lambda: LayerNormalization(epsilon=math.nan), "epsilon"),
    (lambda: LayerNormalization(epsilon=-1.0), "epsilon"),
    (lambda: Dense(0), "units"),
    (lambda: Dense(2.5), "units"),
    (lambda: Dense(True), "units"),
    (lambda: Dropout(1.0), "rate"),
    (lambda: Dropout(math.nan), "rate"),
    (lambda: Dropout(-0.1), "rate"),
    (lambda: Dropout(0.5, noise_shape=(None, 0)), "noise_shape"),
    (lambda: AlphaDropout(math.nan), "rate"),
    (lambda: GaussianNoise(-1.0), "stddev"),
    (lambda: GaussianNoise(math.inf), "stddev"),
    (lambda: ReLU(negative_slope=math.nan), "negative_slope"),
    (lambda: ReLU(max_value=-1.0), "max_value"),
    (lambda: LeakyReLU(negative_slope=-0.1), "negative_slope"),
    (lambda: ELU(alpha=math.nan), "alpha"),
    (lambda: Softmax(axis="last"), "axis"),
    (lambda: APL(hinges=0), "hinges"),
    (lambda: APL(hinges=1.5), "hinges"),
    (lambda: Reshape((-1, -1)), "target_shape"),
    (lambda: Reshape((0, 3)), "target_shape"),
    (lambda: Concatenate(axis=1.5), "axis"),
])
def test_constructors_refuse_bad_hyperparameters_naming_them(make, argument):
    with pytest.raises(ValueError, match=argument):
        make()


def test_good_hyperparameters_at_the_edges_are_accepted():
    assert BatchNormalization(momentum=0.0).momentum == 0.0
    assert BatchNormalization(momentum=1, epsilon=1e-12).momentum == 1.0
    assert Dropout(0.0).rate == 0.0 and GaussianNoise(0).stddev == 0.0
    assert APL(hinges=np.int64(2)).hinges == 2


def test_a_model_file_declaring_epsilon_nan_is_refused(tmp_path):
    model = Sequential([Dense(2, input_dim=3), BatchNormalization()])
    model.save(tmp_path / "good.deepgrad")
    with zipfile.ZipFile(tmp_path / "good.deepgrad") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    layers = config["model"]["config"]["layers"]
    bn = next(entry for entry in layers if entry["class_name"] == "BatchNormalization")
    bn["config"]["epsilon"] = math.nan
    members["config.json"] = json.dumps(config).encode()  # Python's json writes NaN
    with zipfile.ZipFile(tmp_path / "nan.deepgrad", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ModelFileError, match="epsilon"):
        load_model(tmp_path / "nan.deepgrad")
