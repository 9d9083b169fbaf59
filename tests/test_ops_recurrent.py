"""The recurrent ops (ops/recurrent.py): gradchecks in float64 and equality with torch.nn.RNN/LSTM/GRU.

Weight layout mapping used by the comparisons (Keras 3 layout on the left):

* kernel (input_dim, k units) is PyTorch's ``weight_ih_l0`` transposed, recurrent_kernel
  (units, k units) is ``weight_hh_l0`` transposed.
* LSTM: Keras gates i, f, c, o are PyTorch's i, f, g, o in the same order; Keras has one
  bias, PyTorch two (``bias_ih_l0`` = bias, ``bias_hh_l0`` = 0).
* GRU (reset_after=True): Keras z, r, h are PyTorch's rows z = 1, r = 0, n = 2 (PyTorch
  orders r, z, n); bias[0] is ``bias_ih_l0`` and bias[1] ``bias_hh_l0``, reordered likewise.
"""

import numpy as np
import pytest
from torch_reference import reference, torch

import deepgrad as dg
from deepgrad.ops import recurrent as rec

B, T, D, U = 3, 5, 4, 3


def _arrays(k, seed=0, bias_shape=None):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, D))
    w = rng.normal(scale=0.5, size=(D, k * U))
    u = rng.normal(scale=0.5, size=(U, k * U))
    b = rng.normal(scale=0.3, size=bias_shape or (k * U,))
    return x, w, u, b


MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 1]], dtype=bool)


def _weighted_sum(out, seed=1):
    weights = np.random.default_rng(seed).normal(size=out.shape)
    return (out * dg.Tensor(weights)).sum()


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_simple_rnn_gradcheck(check_grad, activation, go_backwards):
    x, w, u, b = _arrays(1)
    h0 = np.random.default_rng(3).normal(size=(B, U))
    drop = (np.random.default_rng(4).random((B, U)) > 0.3) / 0.7
    check_grad(lambda *a: _weighted_sum(rec.simple_rnn(a[0], a[1], a[2], a[3], initial_state=a[4], mask=MASK,
                                                       go_backwards=go_backwards, activation=activation,
                                                       recurrent_dropout_mask=drop)),
               x, w, u, b, h0)


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_lstm_gradcheck(check_grad, go_backwards, masked):
    x, w, u, b = _arrays(4)
    rng = np.random.default_rng(5)
    h0, c0 = rng.normal(size=(B, U)), rng.normal(size=(B, U))
    drop = (rng.random((B, U)) > 0.3) / 0.7
    check_grad(lambda *a: _weighted_sum(rec.lstm(a[0], a[1], a[2], a[3], initial_state=[a[4], a[5]],
                                                 mask=MASK if masked else None, go_backwards=go_backwards,
                                                 recurrent_dropout_mask=drop)),
               x, w, u, b, h0, c0)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("masked", [False, True])
def test_gru_gradcheck(check_grad, reset_after, masked):
    x, w, u, b = _arrays(3, bias_shape=(2, 3 * U) if reset_after else None)
    rng = np.random.default_rng(6)
    h0 = rng.normal(size=(B, U))
    drop = (rng.random((B, U)) > 0.3) / 0.7
    check_grad(lambda *a: _weighted_sum(rec.gru(a[0], a[1], a[2], a[3], initial_state=a[4],
                                                mask=MASK if masked else None, reset_after=reset_after,
                                                go_backwards=masked, recurrent_dropout_mask=drop)),
               x, w, u, b, h0)


def test_masked_steps_keep_the_previous_state():
    x, w, u, b = _arrays(4)
    out = rec.lstm(x, w, u, b, mask=MASK).data
    np.testing.assert_array_equal(out[0, 3], out[0, 2])
    np.testing.assert_array_equal(out[0, 4], out[0, 2])
    np.testing.assert_array_equal(out[2, 0], 0)  # nothing seen yet: the zero initial state
    # a masked step at the end is the same as a shorter sequence
    short = rec.lstm(x[:1, :3], w, u, b).data
    np.testing.assert_allclose(out[0, 2], short[0, 2], rtol=1e-12)


def test_bad_initial_state_names_the_expected_shape():
    x, w, u, b = _arrays(1)
    with pytest.raises(ValueError, match=r"\(batch, units\) = \(3, 3\)"):
        rec.simple_rnn(x, w, u, b, initial_state=np.zeros((3, 4)))


def test_unsupported_activation_is_named():
    x, w, u, b = _arrays(1)
    with pytest.raises(ValueError, match="softmax"):
        rec.simple_rnn(x, w, u, b, activation="softmax")


def _torch_run(module, x, h0=None, c0=None):
    xt = torch.tensor(x, requires_grad=True)
    state = None if h0 is None else (torch.tensor(h0)[None] if c0 is None
                                     else (torch.tensor(h0)[None], torch.tensor(c0)[None]))
    out, _ = module(xt, state)
    weights = torch.tensor(np.random.default_rng(1).normal(size=out.shape))
    (out * weights).sum().backward()
    return [out.detach().numpy(), xt.grad.numpy()] + [p.grad.numpy() for p in module.parameters()]


def _ours(op, x, w, u, b, **kwargs):
    tensors = [dg.Tensor(a, requires_grad=True) for a in (x, w, u, b)]
    out = op(*tensors, **kwargs)
    if op is rec.lstm:  # [h | c] per step: PyTorch's output is h
        out = out[..., :U]
    _weighted_sum(out).backward()
    return out.data, [t.grad for t in tensors]


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_simple_rnn_equals_torch(nonlinearity):
    x, w, u, b = _arrays(1)

    def run():
        module = torch.nn.RNN(D, U, nonlinearity=nonlinearity, batch_first=True).double()
        with torch.no_grad():
            module.weight_ih_l0.copy_(torch.tensor(w.T))
            module.weight_hh_l0.copy_(torch.tensor(u.T))
            module.bias_ih_l0.copy_(torch.tensor(b))
            module.bias_hh_l0.zero_()
        return _torch_run(module, x)

    expected = reference(run)
    out, (dx, dw, du, db) = _ours(rec.simple_rnn, x, w, u, b, activation=nonlinearity)
    np.testing.assert_allclose(out, expected[0], rtol=1e-10, atol=1e-12)
    for ours, theirs in zip((dx, dw.T, du.T, db), expected[1:]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_lstm_equals_torch_with_initial_state():
    x, w, u, b = _arrays(4)
    rng = np.random.default_rng(7)
    h0, c0 = rng.normal(size=(B, U)), rng.normal(size=(B, U))

    def run():
        module = torch.nn.LSTM(D, U, batch_first=True).double()
        with torch.no_grad():  # Keras i, f, c, o = PyTorch i, f, g, o: no reordering
            module.weight_ih_l0.copy_(torch.tensor(w.T))
            module.weight_hh_l0.copy_(torch.tensor(u.T))
            module.bias_ih_l0.copy_(torch.tensor(b))
            module.bias_hh_l0.zero_()
        return _torch_run(module, x, h0, c0)

    expected = reference(run)
    out, (dx, dw, du, db) = _ours(rec.lstm, x, w, u, b, initial_state=[h0, c0])
    np.testing.assert_allclose(out, expected[0], rtol=1e-10, atol=1e-12)
    for ours, theirs in zip((dx, dw.T, du.T, db), expected[1:]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def keras_gru_to_torch(matrix):
    """Keras z, r, h blocks (last axis) -> PyTorch r, z, n rows."""
    z, r, h = np.split(matrix, 3, axis=-1)
    return np.concatenate([r, z, h], axis=-1)


def test_gru_equals_torch():
    x, w, u, b = _arrays(3, bias_shape=(2, 3 * U))

    def run():
        module = torch.nn.GRU(D, U, batch_first=True).double()
        with torch.no_grad():
            module.weight_ih_l0.copy_(torch.tensor(keras_gru_to_torch(w).T))
            module.weight_hh_l0.copy_(torch.tensor(keras_gru_to_torch(u).T))
            module.bias_ih_l0.copy_(torch.tensor(keras_gru_to_torch(b[0])))
            module.bias_hh_l0.copy_(torch.tensor(keras_gru_to_torch(b[1])))
        return _torch_run(module, x)

    expected = reference(run)
    out, (dx, dw, du, db) = _ours(rec.gru, x, w, u, b)
    np.testing.assert_allclose(out, expected[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, expected[1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(keras_gru_to_torch(dw).T, expected[2], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(keras_gru_to_torch(du).T, expected[3], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(keras_gru_to_torch(db[0]), expected[4], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(keras_gru_to_torch(db[1]), expected[5], rtol=1e-9, atol=1e-12)


def test_state_gradient_norms_are_recorded_per_step():
    x, w, u, b = _arrays(1)
    xt = dg.Tensor(x, requires_grad=True)
    rec.simple_rnn(xt, w, u, b)[:, -1].sum().backward()
    norms = rec.last_state_gradients["simple_rnn"]
    assert norms.shape == (T,)
    assert norms[-1] > 0 and np.all(np.isfinite(norms))
