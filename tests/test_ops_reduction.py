"""Reductions with axis and keepdims: gradients, ties, zeros in products, bad axes."""

import numpy as np
import pytest

import deepgrad as dg

REDUCTIONS = ["sum", "mean", "max", "min", "var", "std", "prod"]
AXES = [None, 0, 1, -1, (0, 2), (0, 1, 2)]


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduction_gradients(name, axis, keepdims, rng, check_grad):
    data = rng.standard_normal((2, 3, 4))
    if name == "prod":
        data = np.sign(data) * (np.abs(data) + 0.5)
    check_grad(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), data)
    expected = getattr(np, name)(data, axis=axis, keepdims=keepdims)
    got = getattr(dg, name)(dg.Tensor(data), axis=axis, keepdims=keepdims)
    assert got.shape == np.shape(expected)
    np.testing.assert_allclose(got.numpy(), expected)


@pytest.mark.parametrize("ddof", [0, 1])
def test_var_std_ddof(ddof, rng, check_grad):
    data = rng.standard_normal((3, 5))
    check_grad(lambda t: t.var(axis=1, ddof=ddof), data)
    check_grad(lambda t: t.std(axis=0, ddof=ddof), data)
    np.testing.assert_allclose(dg.Tensor(data).std(ddof=ddof).item(), data.std(ddof=ddof))


def test_max_splits_gradient_between_ties():
    x = dg.Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])


@pytest.mark.parametrize("data", [[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.5, -2.0, 4.0]])
def test_prod_gradient_exact_with_zeros(data):
    x = dg.Tensor(np.array(data), requires_grad=True)
    x.prod().backward()
    expected = [np.prod(np.delete(data, i)) for i in range(3)]
    np.testing.assert_allclose(x.grad, expected)


def test_reduction_bad_axis_and_empty_max():
    with pytest.raises(ValueError, match="axis 3 is out of bounds"):
        dg.zeros(2, 3).sum(axis=3)
    with pytest.raises(ValueError, match="empty tensor"):
        dg.zeros(0).max()


def test_sum_of_broadcast_gradient_accumulates_to_leaf(rng):
    data = rng.standard_normal((4, 3))
    x = dg.Tensor(data, requires_grad=True)
    (x.sum(axis=0) * dg.Tensor(np.array([1.0, 2.0, 3.0]))).sum().backward()
    np.testing.assert_array_equal(x.grad, np.tile([1.0, 2.0, 3.0], (4, 1)))
    x.grad[0, 0] = 100.0  # the leaf owns a writable copy, not a broadcast view
