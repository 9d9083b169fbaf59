"""The learning-rate range test on a plain loss function and on a duck-typed model."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import optimizers

rng = np.random.default_rng(0)
X = rng.normal(size=(256, 5))
TRUE_W = rng.normal(size=(5, 1))
Y = X @ TRUE_W + 0.01 * rng.normal(size=(256, 1))


def linear_problem():
    w = dg.tensor(np.zeros((5, 1)), requires_grad=True, dtype=np.float64)

    def loss_fn(x_batch, y_batch):
        error = dg.Tensor(x_batch) @ w - dg.Tensor(y_batch)
        return (error * error).mean()

    return w, loss_fn


def test_range_test_on_a_function_diverges_suggests_a_working_rate_and_restores():
    w, loss_fn = linear_problem()
    w.data[...] = 0.3
    before = w.numpy().copy()
    optimizer = optimizers.SGD(momentum=0.5)
    result = optimizers.find_learning_rate(loss_fn, X, Y, variables=[w], optimizer=optimizer, steps=100)
    rates = result.learning_rates
    assert rates[0] == pytest.approx(1e-7) and np.all(np.diff(np.log(rates)) == pytest.approx(np.log(1e8) / 99))
    assert result.diverged and len(rates) < 100     # MSE with SGD explodes well before eta = 10
    assert len(result.losses) == len(result.raw_losses) == len(rates)
    assert 1e-4 < result.suggested_learning_rate < 1.0
    np.testing.assert_array_equal(w.numpy(), before)  # weights restored
    assert optimizer.iterations == 0 and optimizer.state_variables == [] and optimizer.learning_rate == 0.01

    # the suggestion trains: 100 SGD steps at that rate cut the loss a lot
    trained = optimizers.SGD(learning_rate=result.suggested_learning_rate, momentum=0.5)
    start_loss = float(loss_fn(X, Y).data)
    for _ in range(100):
        trained.zero_grad([w])
        loss_fn(X, Y).backward()
        trained.step([w])
    assert float(loss_fn(X, Y).data) < 0.05 * start_loss


def test_smoothing_is_a_bias_corrected_moving_average():
    w, loss_fn = linear_problem()
    result = optimizers.find_learning_rate(loss_fn, X, Y, variables=[w], steps=20, end=1e-3, smoothing=0.9)
    average = 0.0
    for i, raw in enumerate(result.raw_losses):
        average = 0.9 * average + 0.1 * raw
        assert result.losses[i] == pytest.approx(average / (1 - 0.9 ** (i + 1)))
    assert not result.diverged and len(result.losses) == 20


class TinyModel:
    """The protocol find_learning_rate relies on: trainable_weights, optimizer, train_on_batch."""

    def __init__(self):
        self.kernel = dg.tensor(np.zeros((5, 1)), requires_grad=True, dtype=np.float64)
        self.bias = dg.tensor(np.zeros(1), requires_grad=True, dtype=np.float64)
        self.trainable_weights = [self.kernel, self.bias]
        self.buffer = dg.ParameterBuffer(self.trainable_weights)
        self.optimizer = optimizers.Adam(learning_rate=0.003)

    def train_on_batch(self, x, y):
        self.buffer.zero_grad()
        error = dg.Tensor(x) @ self.kernel + self.bias - dg.Tensor(y)
        loss = (error * error).mean()
        loss.backward()
        self.optimizer.step(self.trainable_weights)
        return [float(loss.data), 0.0]  # Keras returns [loss, *metrics] with metrics


def test_range_test_on_a_model_restores_weights_and_optimizer_state():
    model = TinyModel()
    for _ in range(3):  # a model already part-way through training
        model.train_on_batch(X[:32], Y[:32])
    weights = [w.numpy().copy() for w in model.trainable_weights]
    state = model.optimizer.get_state()
    result = optimizers.find_learning_rate(model, X, Y, steps=60, end=100.0)
    assert len(result.losses) > 10
    for w, saved in zip(model.trainable_weights, weights):
        np.testing.assert_array_equal(w.numpy(), saved)
    after = model.optimizer.get_state()
    assert after["iterations"] == state["iterations"] == 3
    for key, array in state["arrays"].items():
        np.testing.assert_array_equal(after["arrays"][key], array)
    assert model.optimizer.learning_rate == 0.003
    assert model.kernel.data.base is model.buffer.data  # still the buffer's views
    model.train_on_batch(X[:32], Y[:32])  # and training carries on on the flat path
    assert model.optimizer._flat is not None


def test_bad_arguments_explain_the_fix():
    w, loss_fn = linear_problem()
    with pytest.raises(ValueError, match="variables="):
        optimizers.find_learning_rate(loss_fn, X, Y)
    with pytest.raises(ValueError, match="start < end"):
        optimizers.find_learning_rate(loss_fn, X, Y, variables=[w], start=1.0, end=0.1)
    with pytest.raises(TypeError, match="train_on_batch"):
        optimizers.find_learning_rate(object(), X, Y)
