"""Custom training: add_loss, train_step/test_step/predict_step overrides, the PyTorch-style loop, freezing."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import optimizers
from deepgrad.layers import Dense, Layer
from deepgrad.models import Model, Sequential


@pytest.fixture(autouse=True)
def fresh_names():
    dg.backend.clear_session()
    dg.manual_seed(0)


class ActivationPenalty(Layer):
    """Identity that adds ``rate * sum(x**2) / batch`` through add_loss (a loss not of (y_true, y_pred))."""

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * (inputs * inputs).sum() / inputs.shape[0])
        return inputs


def _regression_data(n=16):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = rng.normal(size=(n, 1)).astype("float32")
    return x, y


# --------------------------------------------------------------------------- add_loss


def test_add_loss_terms_belong_to_the_last_call_and_appear_in_model_losses():
    penalty = ActivationPenalty(0.5)
    model = Sequential([Dense(2, input_dim=3, kernel_initializer="ones"), penalty])
    x = np.ones((4, 3), dtype="float32")
    model(x)
    model(x)  # a second call replaces the terms of the first instead of adding to them
    assert len(penalty.losses) == 1 and len(model.losses) == 1
    assert float(model.losses[0]) == pytest.approx(0.5 * 2 * 9.0)  # each output is 3: 2 units * 9 per sample


def test_add_loss_joins_the_compiled_loss_in_fit_and_evaluate():
    x, y = _regression_data()
    model = Sequential([Dense(1, input_dim=3), ActivationPenalty(0.25)])
    model.compile(optimizer="sgd", loss="mse")
    out = model.predict(x, verbose=0)
    mse = float(np.mean((out - y) ** 2))
    penalty = 0.25 * float(np.sum(out ** 2)) / len(x)
    assert model.evaluate(x, y, batch_size=len(x), verbose=0) == pytest.approx(mse + penalty, rel=1e-5)


def test_add_loss_alone_drives_the_weights():
    # the compiled loss is zero (targets equal the outputs of the zero kernel): only add_loss moves the bias
    model = Sequential([Dense(1, input_dim=3, kernel_initializer="zeros", bias_initializer="ones"),
                        ActivationPenalty(1.0)])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mae")
    x = np.zeros((8, 3), dtype="float32")
    model.fit(x, np.ones((8, 1), dtype="float32"), batch_size=8, epochs=1, verbose=0)
    # d/db [mean|b - 1| + b**2] at b = 1 is 0 (mae's subgradient at 0) + 2: b <- 1 - 0.1 * 2
    assert float(model.layers[0].bias.data[0]) == pytest.approx(0.8, abs=1e-6)


def test_a_subclassed_model_may_add_losses_itself():
    class Penalised(Model):
        def __init__(self):
            super().__init__()
            self.dense = Dense(1)

        def call(self, inputs):
            out = self.dense(inputs)
            self.add_loss((out * out).mean())
            return out

    x, y = _regression_data()
    model = Penalised()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    out = model.predict(x, verbose=0)
    expected = float(np.mean((out - y) ** 2) + np.mean(out ** 2))
    assert model.evaluate(x, y, batch_size=len(x), verbose=0) == pytest.approx(expected, rel=1e-5)
    assert len(model.losses) == 1


def test_add_loss_refuses_what_is_not_a_number():
    with pytest.raises(TypeError, match="add_loss takes a tensor"):
        Dense(1).add_loss("kl")
