"""Lamb, Ftrl and Adafactor against Keras 3 and hand-computed steps; use_ema and gradient_accumulation_steps
on every optimizer (Keras 3's semantics)."""

import math

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import optimizers
from deepgrad.models import load_model

W0 = np.array([[0.5, -1.0, 2.0], [0.1, 0.3, -0.7]])
B0 = np.array([0.2, -0.4, 0.0])
GRADS = [(np.array([[0.3, -0.2, 0.5], [1.0, 0.0, -0.6]]), np.array([0.1, -0.3, 0.2])),
         (np.array([[-0.1, 0.4, 0.2], [0.5, -0.5, 0.1]]), np.array([0.0, 0.2, -0.1])),
         (np.array([[0.2, 0.2, -0.3], [-0.4, 0.3, 0.6]]), np.array([0.3, 0.1, 0.0]))]

# the variables after the three steps above, computed by Keras 3.15 (torch backend, float32)
KERAS = {
    "Lamb": (dict(learning_rate=0.1, weight_decay=0.01),
             [[0.20798051, -1.04946533, 1.70362879], [-0.23116079, 0.43305021, -0.55163995]],
             [0.09837701, -0.36805356, -0.05076209]),
    "Ftrl": (dict(learning_rate=0.1, l1_regularization_strength=0.05, l2_regularization_strength=0.1,
                  l2_shrinkage_regularization_strength=0.02, beta=0.1),
             [[0.02523614, -0.14588725, 0.68857357], [-0.02806241, 0.02293816, -0.30102496]],
             [-0.05880177, -0.06953125, -0.01032056]),
    "Adafactor": (dict(learning_rate=0.1),
                  [[0.41629186, -1.05550088, 1.91505164], [0.00820424, 0.33359244, -0.75428194]],
                  [0.13684013, -0.40589645, -0.00999717]),
    # accumulation over 2 calls and EMA together: one update (call 2), the average then equals it
    "Adam": (dict(learning_rate=0.1, use_ema=True, ema_momentum=0.9, gradient_accumulation_steps=2),
             [[0.40000316, -1.09999684, 1.9000009], [4.2e-07, 0.39999874, -0.60000126]],
             [0.10000632, -0.30000632, -0.09999368]),
}


@pytest.mark.parametrize("name", sorted(KERAS))
def test_three_steps_match_keras(name):
    config, w_expected, b_expected = KERAS[name]
    w, b = dg.tensor(W0, requires_grad=True), dg.tensor(B0, requires_grad=True)
    optimizer = getattr(optimizers, name)(**config)
    for gw, gb in GRADS:
        optimizer.apply([gw, gb], [w, b])
    optimizer.finalize_variable_values([w, b])
    np.testing.assert_allclose(w.numpy(), w_expected, atol=2e-7)
    np.testing.assert_allclose(b.numpy(), b_expected, atol=2e-7)


def test_one_step_of_each_by_hand():
    # Lamb, t = 1: m_hat = g, v_hat = g^2, so r = g / (|g| + eps) = (1, 1); ratio = ||w|| / ||r|| = 5 / sqrt 2
    w = dg.tensor([3.0, 4.0], requires_grad=True, dtype="float64")
    optimizers.Lamb(learning_rate=0.1, epsilon=0.0).apply([np.array([2.0, 0.5])], [w])
    np.testing.assert_allclose(w.numpy(), np.array([3.0, 4.0]) - 0.1 * 5 / math.sqrt(2), rtol=1e-12)
    # Ftrl: n = 0.1 + 0.25; z = g - (sqrt(n) - sqrt(0.1)) / eta * w; w = -z / (sqrt(n) / eta) (no l1, l2)
    w = dg.tensor([1.0], requires_grad=True, dtype="float64")
    optimizers.Ftrl(learning_rate=0.1).apply([np.array([0.5])], [w])
    z = 0.5 - (math.sqrt(0.35) - math.sqrt(0.1)) / 0.1
    np.testing.assert_allclose(w.numpy(), [-z / (math.sqrt(0.35) / 0.1)], rtol=1e-12)
    # with |z| below l1 the weight is exactly 0
    w = dg.tensor([1.0], requires_grad=True, dtype="float64")
    optimizers.Ftrl(learning_rate=0.1, l1_regularization_strength=abs(z) + 0.01).apply([np.array([0.5])], [w])
    assert w.item() == 0.0
    # Adafactor, t = 1 on a vector: beta_2t = 0, V = g^2 + eps_1, U = sign(g), alpha = max(1e-3, RMS(w)) min(eta, 1)
    w = dg.tensor([0.6, -0.8], requires_grad=True, dtype="float64")
    optimizers.Adafactor(learning_rate=0.1).apply([np.array([0.3, 0.2])], [w])
    rms = math.sqrt((0.36 + 0.64) / 2)
    np.testing.assert_allclose(w.numpy(), [0.6 - 0.1 * rms, -0.8 - 0.1 * rms], rtol=1e-12)


@pytest.mark.parametrize("name", ["lamb", "ftrl", "adafactor"])
def test_training_a_model_takes_the_same_steps_as_loose_tensors(name):
    """The flat ParameterBuffer path (Lamb's segment norms) equals the per-variable path."""
    dg.manual_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 4))
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]])
    model = dg.Sequential([dg.Input((4,)), dg.layers.Dense(3, activation="tanh"), dg.layers.Dense(1)], )
    start = [w.copy() for w in model.get_weights()]
    model.compile(optimizer=optimizers.get(name), loss="mse")
    model.fit(x.astype(np.float32), y.astype(np.float32), epochs=1, batch_size=64, shuffle=False, verbose=0)
    twin = dg.Sequential([dg.Input((4,)), dg.layers.Dense(3, activation="tanh"), dg.layers.Dense(1)])
    twin.set_weights(start)
    loose = optimizers.get(name)
    weights = twin.trainable_weights
    loss = dg.losses.MeanSquaredError()(y.astype(np.float32), twin(x.astype(np.float32)))
    loss.backward()
    loose.apply([w.grad for w in weights], weights)
    for ours, theirs in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_gradient_accumulation_equals_one_step_on_the_mean_gradient():
    w = dg.tensor([1.0, -1.0], requires_grad=True, dtype="float64")
    sgd = optimizers.SGD(learning_rate=0.5, gradient_accumulation_steps=2)
    sgd.apply([np.array([0.2, 0.4])], [w])
    np.testing.assert_array_equal(w.numpy(), [1.0, -1.0])          # first call: accumulated only
    assert sgd.iterations == 0
    sgd.apply([np.array([0.6, 0.0])], [w])
    np.testing.assert_allclose(w.numpy(), [1.0 - 0.5 * 0.4, -1.0 - 0.5 * 0.2])
    assert sgd.iterations == 1
    np.testing.assert_array_equal(sgd._state_of(w)["accumulated_gradient"], 0.0)


def test_ema_tracks_the_weights_and_fit_ends_on_the_average():
    w = dg.tensor([1.0], requires_grad=True, dtype="float64")
    sgd = optimizers.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.5)
    for _ in range(3):
        sgd.apply([np.array([1.0])], [w])
    # weights 0.9, 0.8, 0.7; average 0.9 (first step), 0.85, 0.775
    np.testing.assert_allclose(w.numpy(), [0.7])
    np.testing.assert_allclose(sgd._state_of(w)["average"], [0.775])
    sgd.finalize_variable_values([w])
    np.testing.assert_allclose(w.numpy(), [0.775])
    overwriting = optimizers.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=2)
    v = dg.tensor([1.0], requires_grad=True, dtype="float64")
    overwriting.apply([np.array([1.0])], [v])
    overwriting.apply([np.array([1.0])], [v])
    np.testing.assert_allclose(v.numpy(), [0.85])                 # second step: overwritten by the average

    dg.manual_seed(0)
    x = np.random.default_rng(1).normal(size=(64, 3)).astype(np.float32)
    model = dg.Sequential([dg.Input((3,)), dg.layers.Dense(1)])
    model.compile(optimizer=optimizers.Adam(0.05, use_ema=True), loss="mse")
    model.fit(x, x[:, :1] * 3, epochs=2, batch_size=16, verbose=0)
    for weight in model.trainable_weights:
        np.testing.assert_array_equal(weight.numpy(), model.optimizer._state_of(weight)["average"])


@pytest.mark.parametrize("name", optimizers.registry._REGISTRY.names())
def test_every_optimizer_accepts_the_averaging_options_and_keeps_them_in_its_config(name):
    optimizer = type(optimizers.get(name))(use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=3,
                                           gradient_accumulation_steps=2)
    config = optimizer.get_config()
    assert (config["use_ema"], config["ema_momentum"], config["ema_overwrite_frequency"],
            config["gradient_accumulation_steps"]) == (True, 0.9, 3, 2)
    clone = optimizers.deserialize(optimizers.serialize(optimizer))
    assert clone.get_config() == config
    w = dg.tensor(np.array([[0.5, -0.3], [0.2, 0.1]]), requires_grad=True)
    for _ in range(4):
        clone.apply([np.array([[0.1, 0.2], [-0.3, 0.4]])], [w])
    assert clone.iterations == 2 and np.isfinite(w.numpy()).all()


def test_bad_averaging_options_are_clear_errors():
    with pytest.raises(ValueError, match="gradient_accumulation_steps` must be an integer >= 2"):
        optimizers.Adam(gradient_accumulation_steps=1)
    with pytest.raises(ValueError, match="ema_momentum` must be in the range"):
        optimizers.SGD(use_ema=True, ema_momentum=1.5)
    with pytest.raises(ValueError, match="ema_overwrite_frequency"):
        optimizers.SGD(use_ema=True, ema_overwrite_frequency=0)
    with pytest.raises(ValueError, match="learning_rate_power"):
        optimizers.Ftrl(learning_rate_power=0.5)


def test_a_saved_model_resumes_mid_accumulation(tmp_path):
    dg.manual_seed(0)
    x = np.random.default_rng(2).normal(size=(96, 5)).astype(np.float32)
    model = dg.Sequential([dg.Input((5,)), dg.layers.Dense(1)])
    model.compile(optimizer=optimizers.Lamb(0.01, use_ema=True, gradient_accumulation_steps=2), loss="mse")
    model.fit(x, x[:, :1] * 2, epochs=1, batch_size=32, verbose=0)   # three calls: one update, one pending
    model.save(tmp_path / "m.deepgrad")
    loaded = load_model(tmp_path / "m.deepgrad")
    assert (loaded.optimizer.iterations, loaded.optimizer._accumulated_calls) == (1, 1)
    saved, restored = model.optimizer.get_state(), loaded.optimizer.get_state()
    assert sorted(saved["arrays"]) == sorted(restored["arrays"])
    for key, array in saved["arrays"].items():
        np.testing.assert_array_equal(array, restored["arrays"][key])
