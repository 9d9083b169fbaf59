"""Weight constraints (keras.constraints): the projections, their names, and every layer with weights taking them."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import constraints, layers
from deepgrad.models import Sequential, load_model

EPS = 1e-7


def _norms(w, axis):
    return np.sqrt((w * w).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("axis", [0, 1, [0, 1, 2]])
def test_the_projections_follow_keras_formulas(axis):
    w = np.random.default_rng(0).normal(scale=2.0, size=(3, 4, 2, 5))
    ax = tuple(axis) if isinstance(axis, list) else axis
    norms = _norms(w, ax)
    np.testing.assert_allclose(constraints.MaxNorm(1.5, axis=axis)(w).numpy(),
                               w * np.clip(norms, 0, 1.5) / (EPS + norms), rtol=1e-12)
    desired = 0.3 * np.clip(norms, 0.5, 2.0) + 0.7 * norms
    np.testing.assert_allclose(constraints.MinMaxNorm(0.5, 2.0, rate=0.3, axis=axis)(w).numpy(),
                               w * desired / (EPS + norms), rtol=1e-12)
    np.testing.assert_allclose(constraints.UnitNorm(axis=axis)(w).numpy(), w / (EPS + norms), rtol=1e-12)
    np.testing.assert_array_equal(constraints.NonNeg()(w).numpy(), w * (w >= 0))


def test_a_hand_computed_case():
    w = np.array([[3.0, 0.3], [4.0, 0.4]])  # column norms 5 and 0.5
    np.testing.assert_allclose(constraints.get("max_norm")(w).numpy(), [[1.2, 0.3], [1.6, 0.4]], rtol=1e-6)
    np.testing.assert_allclose(constraints.get("unit_norm")(w).numpy(), [[0.6, 0.6], [0.8, 0.8]], rtol=1e-6)
    np.testing.assert_allclose(constraints.get("min_max_norm")(w).numpy(), [[0.6, 0.3], [0.8, 0.4]], rtol=1e-6)


def test_names_classes_and_configs_resolve_through_the_one_registry():
    assert isinstance(constraints.get("max_norm"), constraints.MaxNorm)
    assert isinstance(constraints.get("MinMaxNorm"), constraints.MinMaxNorm)
    assert isinstance(constraints.get(constraints.NonNeg), constraints.NonNeg)
    assert constraints.names() == sorted(["max_norm", "min_max_norm", "non_neg", "unit_norm", "MaxNorm",
                                          "MinMaxNorm", "NonNeg", "UnitNorm"])
    original = constraints.MinMaxNorm(0.1, 3.0, rate=0.5, axis=[0, 1])
    config = constraints.serialize(original)
    assert config == {"class_name": "MinMaxNorm", "config": {"min_value": 0.1, "max_value": 3.0, "rate": 0.5,
                                                             "axis": [0, 1]}}
    assert constraints.deserialize(config).get_config() == original.get_config()

    def clip(w):
        return w

    assert constraints.get(clip) is clip and constraints.get(None) is None
    with pytest.raises(ValueError, match="unknown constraint 'max_nrom'; did you mean 'max_norm'"):
        constraints.get("max_nrom")
    with pytest.raises(ValueError, match="unknown constraint 'max_nrom'"):
        layers.Dense(2, kernel_constraint="max_nrom").build((None, 3))


# each layer family with weights, and the constraint arguments Keras gives it
FAMILIES = [
    (lambda c: layers.Dense(3, kernel_constraint=c, bias_constraint=c), (5, 4)),
    (lambda c: layers.Conv1D(2, 3, kernel_constraint=c, bias_constraint=c), (2, 6, 3)),
    (lambda c: layers.Conv2D(2, 3, kernel_constraint=c, bias_constraint=c), (2, 5, 5, 2)),
    (lambda c: layers.Conv3D(2, 2, kernel_constraint=c, bias_constraint=c), (1, 3, 3, 3, 1)),
    (lambda c: layers.Conv2DTranspose(2, 3, kernel_constraint=c, bias_constraint=c), (1, 4, 4, 2)),
    (lambda c: layers.DepthwiseConv2D(3, depthwise_constraint=c, bias_constraint=c), (1, 5, 5, 2)),
    (lambda c: layers.SeparableConv2D(2, 3, depthwise_constraint=c, pointwise_constraint=c, bias_constraint=c),
     (1, 5, 5, 2)),
    (lambda c: layers.Embedding(7, 3, embeddings_constraint=c), None),
    (lambda c: layers.SimpleRNN(3, kernel_constraint=c, recurrent_constraint=c, bias_constraint=c), (2, 4, 3)),
    (lambda c: layers.LSTM(3, kernel_constraint=c, recurrent_constraint=c, bias_constraint=c), (2, 4, 3)),
    (lambda c: layers.GRU(3, kernel_constraint=c, recurrent_constraint=c, bias_constraint=c), (2, 4, 3)),
    (lambda c: layers.BatchNormalization(beta_constraint=c, gamma_constraint=c), (4, 3)),
    (lambda c: layers.LayerNormalization(beta_constraint=c, gamma_constraint=c), (4, 3)),
    (lambda c: layers.PReLU(alpha_constraint=c), (4, 3)),
]


@pytest.mark.parametrize("index", range(len(FAMILIES)))
def test_every_layer_with_weights_applies_constraints_given_by_name(index):
    make, shape = FAMILIES[index]
    dg.manual_seed(index)
    layer = make("non_neg")
    layer(np.zeros((2, 3), dtype=np.int64) if shape is None else np.zeros(shape, dtype=np.float32))
    trainable = layer.trainable_weights
    for w in trainable:
        w.data[...] = -np.abs(w.data) - 1.0
    layer.apply_constraints()
    assert trainable and all((w.numpy() == 0).all() for w in trainable)
    config = layer.get_config()
    rebuilt = type(layer).from_config(config)
    assert any(v == "non_neg" for v in config.values())
    assert rebuilt.get_config() == config


def test_fit_keeps_constrained_weights_in_bounds_and_a_model_file_keeps_the_constraints(tmp_path):
    dg.manual_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    y = (x @ np.array([[30.0], [-40.0], [20.0], [10.0]])).astype(np.float32) - 5.0
    model = Sequential([dg.Input((4,)), layers.Dense(8, kernel_constraint=constraints.MaxNorm(0.5)),
                        layers.Dense(1, kernel_constraint="unit_norm", bias_constraint="non_neg")])
    model.compile(optimizer=dg.optimizers.SGD(0.05), loss="mse")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    first, second = model.layers[0].kernel.numpy(), model.layers[1].kernel.numpy()
    assert np.linalg.norm(first, axis=0).max() <= 0.5 + 1e-5
    np.testing.assert_allclose(np.linalg.norm(second, axis=0), 1.0, rtol=1e-5)
    assert (model.layers[1].bias.numpy() >= 0).all()
    model.save(tmp_path / "constrained.deepgrad")
    loaded = load_model(tmp_path / "constrained.deepgrad")
    assert isinstance(loaded.layers[0]._constraints[0][1], constraints.MaxNorm)
    assert loaded.layers[0]._constraints[0][1].max_value == 0.5
    assert isinstance(loaded.layers[1]._constraints[1][1], constraints.NonNeg)
