"""The same MLP in deepgrad and in PyTorch, from identical weights, trains identically."""

import numpy as np
import pytest
from torch_reference import reference, torch

import deepgrad as dg
from deepgrad import optimizers
from deepgrad.layers import Dense
from deepgrad.models import Sequential

TORCH_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                     "elu": torch.nn.functional.elu, "linear": lambda t: t}


def _models(activation, n_out, out_activation):
    rng = np.random.default_rng(0)
    model = Sequential([Dense(6, activation=activation, input_dim=4, dtype="float64"),
                        Dense(5, activation=activation, dtype="float64"),
                        Dense(n_out, activation=out_activation, dtype="float64")])
    weights = [rng.normal(scale=0.5, size=w.shape) for w in model.get_weights()]
    model.set_weights(weights)
    return model, weights


def _torch_params(weights):
    return [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in weights]


def _torch_forward(params, x, activation):
    act = TORCH_ACTIVATIONS[activation]
    h = act(x @ params[0] + params[1])
    h = act(h @ params[2] + params[3])
    return h @ params[4] + params[5]


CASES = [
    # (hidden activation, loss, outputs, output activation, torch loss on logits/outputs)
    ("relu", "sparse_categorical_crossentropy", 3, "softmax",
     lambda z, y: torch.nn.functional.cross_entropy(z, torch.tensor(y))),
    ("tanh", "categorical_crossentropy", 3, "softmax",
     lambda z, y: torch.nn.functional.cross_entropy(z, torch.tensor(y))),
    ("sigmoid", "binary_crossentropy", 1, "sigmoid",
     lambda z, y: torch.nn.functional.binary_cross_entropy_with_logits(z, torch.tensor(y))),
    ("elu", "mse", 2, "linear", lambda z, y: torch.nn.functional.mse_loss(z, torch.tensor(y))),
    ("tanh", "mae", 2, "linear", lambda z, y: torch.nn.functional.l1_loss(z, torch.tensor(y))),
]


@pytest.mark.parametrize("optimizer_name", ["sgd", "adam"])
@pytest.mark.parametrize("activation,loss,n_out,out_activation,torch_loss", CASES)
def test_training_steps_match_pytorch(activation, loss, n_out, out_activation, torch_loss, optimizer_name):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 4))
    if loss == "sparse_categorical_crossentropy":
        y = rng.integers(0, n_out, size=16)
    elif loss == "categorical_crossentropy":
        y = np.eye(n_out)[rng.integers(0, n_out, size=16)]
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, size=(16, 1)).astype(np.float64)
    else:
        y = rng.normal(size=(16, n_out))
    model, weights = _models(activation, n_out, out_activation)
    if optimizer_name == "sgd":
        model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss=loss)
    else:
        # Keras adds epsilon to sqrt(v) before bias correction, PyTorch after: a negligible
        # epsilon makes the two definitions coincide
        model.compile(optimizer=optimizers.Adam(learning_rate=0.01, epsilon=1e-12), loss=loss)

    def compute():  # PyTorch's losses of 4 steps, then its weights
        params = _torch_params(weights)
        if optimizer_name == "sgd":
            torch_opt = torch.optim.SGD(params, lr=0.1)
        else:
            torch_opt = torch.optim.Adam(params, lr=0.01, eps=1e-12)
        x_t, step_losses = torch.tensor(x), []
        for _ in range(4):
            torch_opt.zero_grad()
            theirs = torch_loss(_torch_forward(params, x_t, activation), y)
            theirs.backward()
            torch_opt.step()
            step_losses.append(theirs.item())
        return [np.array(step_losses)] + [p.detach().numpy() for p in params]

    expected = reference(compute)
    for step in range(4):
        ours = model.train_on_batch(x, y)
        assert ours == pytest.approx(float(expected[0][step]), rel=1e-5)
    for w, p in zip(model.get_weights(), expected[1:]):
        np.testing.assert_allclose(w, p, rtol=1e-5, atol=1e-8)


def test_gradients_match_pytorch_before_any_update():
    model, weights = _models("relu", 3, "softmax")
    x = np.random.default_rng(2).normal(size=(8, 4))
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy")
    model.train_on_batch(x, y)

    def compute():
        params = _torch_params(weights)
        logits = _torch_forward(params, torch.tensor(x), "relu")
        torch.nn.functional.cross_entropy(logits, torch.tensor(y)).backward()
        return [p.grad.numpy() for p in params]

    for w, expected in zip(model.trainable_weights, reference(compute)):
        np.testing.assert_allclose(w.grad, expected, rtol=1e-7, atol=1e-12)


def test_float64_model_keeps_float64():
    model, _ = _models("tanh", 2, "linear")
    assert all(w.dtype == np.float64 for w in model.weights)
    assert model.predict(np.zeros((1, 4))).dtype == np.float64
    dg.backend.clear_session()
