"""The perceptron rule: the seeds' worked examples, logic gates, convergence theorem, XOR."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepgrad import activations, datasets
from deepgrad.layers import Dense
from deepgrad.models import Sequential
from deepgrad.perceptron import ConvergenceWarning, Perceptron

SEPARABLE_GATES = ["and", "or", "nand", "nor"]


# --------------------------------------------------------------------------- the seeds' examples


def test_concert_decision():
    # weights 0.7, 0.6, 0.5, 0.3, 0.4, threshold 1.5; inputs 1, 0, 1, 0, 1 -> 1.6 -> go
    neuron = Perceptron.from_weights([0.7, 0.6, 0.5, 0.3, 0.4], threshold=1.5)
    inputs = np.array([[1, 0, 1, 0, 1]])
    weighted_sum = neuron.decision_function(inputs)[0] + 1.5
    assert weighted_sum == pytest.approx(1.6)
    assert neuron.bias_ == -1.5  # threshold moved into the bias: w0 = -theta
    assert neuron.predict(inputs).tolist() == [1]
    # a lower wish to go (no friend, no alcohol): 0.7 < 1.5 -> stay home
    assert neuron.predict([[1, 0, 0, 0, 0]]).tolist() == [0]


def test_two_layer_xor_network_of_the_seeds():
    # hidden: a1 = [x1 + x2 >= 1], a2 = [-x1 - x2 >= -1]; output: y = [a1 + a2 >= 2]
    # binary_step fires at 0 (f(0) = 1), so each threshold goes into the bias as -theta
    assert activations.binary_step(np.array([-1e-6, 0.0, 1e-6])).numpy().tolist() == [0, 1, 1]
    model = Sequential([Dense(2, activation="binary_step", input_dim=2),
                        Dense(1, activation="binary_step")])
    model.set_weights([np.array([[1.0, -1.0], [1.0, -1.0]]), np.array([-1.0, 1.0]),
                       np.array([[1.0], [1.0]]), np.array([-2.0])])
    x, y = datasets.logic_gate("xor")
    hidden = model.layers[0](x).numpy()
    assert hidden.tolist() == [[0, 1], [1, 1], [1, 1], [1, 0]]  # the seeds' cases 1-4
    assert model.predict(x)[:, 0].tolist() == y.tolist()


# --------------------------------------------------------------------------- logic gates


def test_logic_gate_tables():
    x, y = datasets.logic_gate("XOR")
    assert x.dtype == np.float32 and x.shape == (4, 2) and y.dtype == np.int64
    assert y.tolist() == (x[:, 0] != x[:, 1]).astype(int).tolist()
    tables = {name: datasets.logic_gate(name)[1].tolist() for name in ["and", "or", "nand", "nor", "xnor"]}
    a, b = x[:, 0].astype(bool), x[:, 1].astype(bool)
    assert tables == {"and": (a & b).astype(int).tolist(), "or": (a | b).astype(int).tolist(),
                      "nand": (~(a & b)).astype(int).tolist(), "nor": (~(a | b)).astype(int).tolist(),
                      "xnor": (a == b).astype(int).tolist()}


def test_logic_gate_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="and, or, nand, nor, xor, xnor"):
        datasets.logic_gate("implies")


@pytest.mark.parametrize("gate", SEPARABLE_GATES)
@pytest.mark.parametrize("activation", ["step", "sign"])
def test_learns_separable_gates(gate, activation):
    x, y = datasets.logic_gate(gate)
    targets = y if activation == "step" else 2 * y - 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        neuron = Perceptron(activation=activation, random_state=0).fit(x, targets)
    assert neuron.converged_
    assert neuron.errors_[-1] == 0 and len(neuron.errors_) == neuron.n_epochs_
    assert neuron.predict(x).tolist() == targets.tolist()
    assert neuron.score(x, targets) == 1.0
    assert neuron.weights_history_.shape == (neuron.n_epochs_ + 1, 2)
    assert neuron.weights_history_[-1].tolist() == neuron.weights_.tolist()
    assert neuron.bias_history_[-1] == neuron.bias_


def test_xor_does_not_converge_and_points_to_a_multilayer_network():
    x, y = datasets.logic_gate("xor")
    with pytest.warns(ConvergenceWarning, match="linearly separable.*multilayer"):
        neuron = Perceptron(max_epochs=25, random_state=0).fit(x, y)
    assert not neuron.converged_
    assert neuron.n_epochs_ == 25 and min(neuron.errors_) > 0
    assert neuron.score(x, y) < 1.0


def test_hand_computed_first_epoch():
    # AND, no shuffling, eta = 0.5, zero start; z >= 0 fires, so (0,0) is misclassified first
    x, y = datasets.logic_gate("and")
    neuron = Perceptron(learning_rate=0.5, shuffle=False)
    neuron.partial_fit(x, y)
    # (0,0): z=0 fires, t=0 -> w=(0,0), b=-0.5; (0,1): z=-0.5 ok; (1,0): ok;
    # (1,1): z=-0.5, t=1 -> w=(0.5,0.5), b=0
    assert neuron.weights_.tolist() == [0.5, 0.5] and neuron.bias_ == 0.0
    assert neuron.errors_ == [2]
    neuron.partial_fit(x, y)  # continues from the current weights
    assert neuron.n_epochs_ == 2 and len(neuron.bias_history_) == 3


def test_learning_rate_only_scales_the_weights():
    x, y = datasets.logic_gate("nand")
    # powers of two keep the arithmetic exact, so ties at z = 0 fall the same way
    small = Perceptron(learning_rate=0.25, random_state=3).fit(x, y)
    large = Perceptron(learning_rate=8.0, random_state=3).fit(x, y)
    assert small.errors_ == large.errors_
    assert large.weights_.tolist() == (32 * small.weights_).tolist()
    assert large.bias_ == 32 * small.bias_


def test_fixed_threshold_without_intercept():
    x, y = datasets.logic_gate("and")
    neuron = Perceptron(threshold=1.5, fit_intercept=False, random_state=0).fit(x, y)
    assert neuron.bias_ == -1.5 and neuron.converged_
    assert neuron.predict(x).tolist() == y.tolist()


def test_sample_weight_zero_drops_a_sample():
    # OR's (0,0) sample is the only 0; with weight 0 the rule sees only positives
    x, y = datasets.logic_gate("or")
    neuron = Perceptron(random_state=0).fit(x, y, sample_weight=[0, 1, 1, 1])
    assert neuron.predict(x[1:]).tolist() == [1, 1, 1]
    assert neuron.errors_[-1] == 0


def test_tol_stops_on_almost_separable_data():
    x, y = datasets.logic_gate("xor")
    neuron = Perceptron(tol=0.5, random_state=0).fit(x, y)  # at most 2 of 4 wrong
    assert neuron.converged_ and neuron.errors_[-1] <= 2


def test_weights_are_float64_whatever_the_input():
    x, y = datasets.logic_gate("or")
    assert Perceptron().fit(x.astype(np.float64), y).weights_.dtype == np.float64
    assert Perceptron().fit(x, y).weights_.dtype == np.float64


@pytest.mark.parametrize("gate", ["and", "or", "nand", "nor"])
def test_converged_means_every_training_sample_is_classified_right(gate):
    # samples land exactly on the boundary (z = 0) with eta = 0.1: training and predict must agree
    x, y = datasets.logic_gate(gate)
    for seed in range(20):
        model = Perceptron(learning_rate=0.1, max_epochs=50, random_state=seed).fit(x, y)
        assert model.converged_ and model.score(x, y) == 1.0


@pytest.mark.parametrize("params, message", [
    ({"activation": "relu"}, "activation 'relu'; valid: 'step', 'sign'"),
    ({"learning_rate": 0}, "learning_rate must be a positive"),
    ({"max_epochs": 0}, "max_epochs must be a positive integer"),
    ({"tol": 1.5}, "tol must be None or a fraction"),
])
def test_bad_parameters(params, message):
    x, y = datasets.logic_gate("and")
    with pytest.raises(ValueError, match=message):
        Perceptron(**params).fit(x, y)


def test_bad_data():
    x, y = datasets.logic_gate("and")
    with pytest.raises(ValueError, match="must be 0 or 1.*activation='sign'"):
        Perceptron().fit(x, 2 * y - 1)
    with pytest.raises(ValueError, match="must be 2-D"):
        Perceptron().fit(x[:, 0], y)
    with pytest.raises(ValueError, match="NaN"):
        Perceptron().fit(np.where(x == 1, np.nan, x), y)
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(4,\)"):
        Perceptron().fit(x, y, sample_weight=[1, 2])
    with pytest.raises(RuntimeError, match="not fitted"):
        Perceptron().predict(x)
    with pytest.raises(ValueError, match="fitted with 2"):
        Perceptron().fit(x, y).predict(np.ones((1, 3)))


# --------------------------------------------------------------------------- the convergence theorem


@st.composite
def separable_problems(draw):
    """Points drawn in [-1, 1]^d, moved to at least ``margin`` from a random hyperplane, labelled by its side."""
    seed = draw(st.integers(0, 2**32 - 1))
    n_features = draw(st.integers(1, 5))
    n_samples = draw(st.integers(2, 60))
    margin = draw(st.floats(0.05, 0.5))
    rng = np.random.default_rng(seed)
    normal = rng.standard_normal(n_features + 1)  # (w*, b*)
    normal /= np.linalg.norm(normal)
    x = rng.uniform(-1, 1, size=(n_samples, n_features))
    distance = x @ normal[:-1] + normal[-1]
    # move each point closer than the margin along w* until it lies exactly at the margin
    side = np.where(distance >= 0, 1.0, -1.0)
    shortfall = np.maximum(margin - side * distance, 0.0) * side
    x = x + shortfall[:, None] * normal[:-1] / np.sum(normal[:-1] ** 2)
    return x, (x @ normal[:-1] + normal[-1] > 0).astype(np.int64), normal, seed


@settings(max_examples=40, deadline=None, derandomize=True)
@given(separable_problems())
def test_convergence_theorem(problem):
    x, y, normal, seed = problem
    # gamma: the smallest distance of an augmented sample (x, 1) to the separating plane
    gamma = np.min(np.abs(x @ normal[:-1] + normal[-1]))
    radius = np.max(np.linalg.norm(np.hstack([x, np.ones((len(x), 1))]), axis=1))
    bound = (radius / gamma) ** 2
    neuron = Perceptron(max_epochs=int(bound) + 2, random_state=seed % 1000).fit(x, y)
    assert neuron.converged_
    assert sum(neuron.errors_) <= bound  # Novikoff: at most (R / gamma)^2 mistakes
    assert neuron.predict(x).tolist() == y.tolist()
