"""The error function op: values against math.erf, gradient against finite differences."""

import math

import numpy as np

import deepgrad as dg
from deepgrad.ops.special import erf, erfc_data


def test_erf_matches_math_erf_everywhere():
    x = np.linspace(-7, 7, 2801)
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(erf(dg.tensor(x)).numpy(), expected, atol=2e-7)
    tails = np.array([math.erfc(v) for v in x])
    np.testing.assert_allclose(erfc_data(np, x), tails, rtol=1.4e-7, atol=0)


def test_erf_keeps_float32_and_is_odd():
    x = dg.tensor(np.array([-2.0, -0.5, 0.0, 0.5, 2.0], dtype=np.float32))
    out = erf(x).numpy()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, -out[::-1], rtol=0, atol=1.2e-7)  # one float32 ulp at 1


def test_erf_gradcheck():
    x = dg.tensor(np.linspace(-3, 3, 13).reshape(13), requires_grad=True)
    dg.gradcheck(erf, x)
    erf(x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 / math.sqrt(math.pi) * np.exp(-x.numpy() ** 2), rtol=1e-12)
