"""The optional numba kernels give the same numbers as the NumPy equations (skipped without numba)."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import optimizers
from deepgrad.optimizers import fused

pytest.importorskip("numba")

CASES = {
    "sgd": lambda: optimizers.SGD(learning_rate=0.05),
    "momentum": lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9),
    "nesterov": lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    "adam": lambda: optimizers.Adam(learning_rate=0.01),
    "adamw": lambda: optimizers.AdamW(learning_rate=0.01, weight_decay=0.1),
}


def run(make_optimizer, dtype, fused_on, monkeypatch):
    monkeypatch.setenv("DEEPGRAD_FUSED", "1" if fused_on else "0")
    rng = np.random.default_rng(0)
    variables = [dg.tensor(rng.normal(size=(160, 128)), requires_grad=True, dtype=dtype),
                 dg.tensor(rng.normal(size=128), requires_grad=True, dtype=dtype)]
    buffer = dg.ParameterBuffer(variables)
    assert buffer.size >= fused.MIN_SIZE
    optimizer = make_optimizer()
    for step in range(5):
        buffer.grad[...] = np.random.default_rng(step).normal(size=buffer.size)
        optimizer.step(variables)
    return buffer.data.copy(), optimizer.get_state()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_kernel_matches_numpy_equations(name, dtype, monkeypatch):
    assert fused.enabled()
    with_kernel, state_kernel = run(CASES[name], dtype, True, monkeypatch)
    plain, state_plain = run(CASES[name], dtype, False, monkeypatch)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(with_kernel, plain, rtol=tolerance, atol=tolerance)
    for key, array in state_plain["arrays"].items():
        np.testing.assert_allclose(state_kernel["arrays"][key], array, rtol=tolerance, atol=tolerance)
