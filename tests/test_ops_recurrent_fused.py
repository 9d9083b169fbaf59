"""The compiled LSTM/GRU step kernels give the NumPy equations' numbers (skipped without numba)."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.ops import recurrent, recurrent_fused

pytest.importorskip("numba")

UNITS = 5


def run(cell, dtype, fused_on, monkeypatch, go_backwards=False, masked=False, dropout=False, state=False):
    """Outputs and every gradient of one recurrent op on fixed random data."""
    monkeypatch.setenv("DEEPGRAD_FUSED", "1" if fused_on else "0")
    rng = np.random.default_rng(3)
    k = 4 if cell == "lstm" else 3
    batch, steps, features = 3, 7, 4
    x = dg.tensor(rng.normal(size=(batch, steps, features)), dtype=dtype, requires_grad=True)
    kernel = dg.tensor(rng.normal(size=(features, k * UNITS)) * 0.5, dtype=dtype, requires_grad=True)
    rec = dg.tensor(rng.normal(size=(UNITS, k * UNITS)) * 0.5, dtype=dtype, requires_grad=True)
    bias = dg.tensor(rng.normal(size=(k * UNITS,) if cell == "lstm" else (2, k * UNITS)) * 0.1, dtype=dtype,
                     requires_grad=True)
    mask = None
    if masked:
        mask = np.ones((batch, steps), bool)
        mask[0, 4:] = False
        mask[2, :2] = False
    drop = (rng.random((batch, UNITS)) > 0.3).astype(dtype) / 0.7 if dropout else None
    inputs = [x, kernel, rec, bias]
    h0 = dg.tensor(rng.normal(size=(batch, UNITS)), dtype=dtype, requires_grad=True) if state else None
    if cell == "lstm":
        c0 = dg.tensor(rng.normal(size=(batch, UNITS)), dtype=dtype, requires_grad=True) if state else None
        out = recurrent.lstm(x, kernel, rec, bias, [h0, c0] if state else None, mask, go_backwards,
                             recurrent_dropout_mask=drop)
        inputs += [h0, c0] if state else []
    else:
        out = recurrent.gru(x, kernel, rec, bias, h0, mask, go_backwards, recurrent_dropout_mask=drop)
        inputs += [h0] if state else []
    weights = np.random.default_rng(4).normal(size=out.shape)
    (out * dg.tensor(weights, dtype=dtype)).sum().backward()
    return [out.numpy()] + [t.grad for t in inputs]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("variant", [{}, {"go_backwards": True, "masked": True},
                                     {"dropout": True, "state": True, "masked": True}])
def test_compiled_steps_match_the_numpy_equations(cell, dtype, variant, monkeypatch):
    compiled = run(cell, dtype, True, monkeypatch, **variant)
    plain = run(cell, dtype, False, monkeypatch, **variant)
    tolerance = 2e-5 if dtype == np.float32 else 1e-12
    assert len(compiled) == len(plain)
    for a, b in zip(compiled, plain):
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance)


def test_kernels_are_used_when_enabled_and_not_when_switched_off(monkeypatch):
    pairs = recurrent.activation_pair("sigmoid") + recurrent.activation_pair("tanh")
    sample = np.zeros((2, 4 * UNITS), np.float32)
    monkeypatch.setenv("DEEPGRAD_FUSED", "1")
    assert recurrent_fused.enabled()
    kernels = recurrent_fused._kernels()
    assert recurrent_fused.step_functions("lstm", ("tanh", "sigmoid", pairs), sample)[1] is kernels["lstm_backward"]
    assert recurrent_fused.step_functions("gru", ("tanh", "sigmoid", pairs), sample)[1] is kernels["gru_backward"]
    # other activations and the switch take the NumPy equations
    assert recurrent_fused.step_functions("lstm", ("relu", "sigmoid", pairs), sample)[1] is not kernels["lstm_backward"]
    monkeypatch.setenv("DEEPGRAD_FUSED", "0")
    assert not recurrent_fused.enabled()
    assert recurrent_fused.step_functions("lstm", ("tanh", "sigmoid", pairs), sample)[1] is not kernels["lstm_backward"]
