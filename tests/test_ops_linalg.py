"""Matrix products: gradients for 1-D, 2-D and batched operands, and clear shape errors."""

import numpy as np
import pytest

import deepgrad as dg

SHAPES = [
    ((3, 4), (4, 2)),
    ((4,), (4, 2)),          # vector @ matrix
    ((3, 4), (4,)),          # matrix @ vector
    ((4,), (4,)),            # dot product
    ((2, 3, 4), (2, 4, 5)),  # batched
    ((2, 3, 4), (4, 5)),     # batch broadcast on the left
    ((2, 3, 2, 4), (4, 5)),  # a Dense layer on a batch of sequences: one product for the kernel gradient
    ((3, 4), (2, 4, 5)),     # batch broadcast on the right
    ((2, 1, 3, 4), (5, 4, 2)),
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)),
]


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_matmul_gradients(shapes, rng, check_grad):
    a, b = (rng.standard_normal(s) for s in shapes)
    check_grad(lambda x, y: x @ y, a, b)
    np.testing.assert_allclose((dg.Tensor(a) @ dg.Tensor(b)).numpy(), a @ b)


def test_matmul_skips_gradient_of_constant_operand(rng):
    x = dg.Tensor(rng.standard_normal((5, 3)))
    w = dg.Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    (x @ w).sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(w.grad, x.numpy().T @ np.ones((5, 2)))


def test_reverse_matmul_with_ndarray(rng):
    a = rng.standard_normal((2, 3))
    w = dg.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    out = a @ w
    assert isinstance(out, dg.Tensor)
    out.sum().backward()
    np.testing.assert_allclose(w.grad, a.T @ np.ones((2, 4)))
    np.testing.assert_allclose(dg.matmul(a, w).numpy(), a @ w.numpy())


@pytest.mark.parametrize("shapes", [((3, 4), (5, 2)), ((4,), (3,)), ((2, 3, 4), (2, 5, 6))], ids=str)
def test_matmul_shape_error_names_both_shapes(shapes):
    a, b = (dg.zeros(*s) for s in shapes)
    with pytest.raises(ValueError, match=r"matmul: shapes .* are not aligned") as info:
        a @ b
    assert str(shapes[0]).replace(",)", ")") in str(info.value).replace(",)", ")")
    assert str(shapes[1]).replace(",)", ")") in str(info.value).replace(",)", ")")


def test_matmul_rejects_scalars():
    with pytest.raises(ValueError, match="at least one dimension"):
        dg.tensor(2.0) @ dg.zeros(2)
