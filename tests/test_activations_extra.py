"""Keras 3's further activations (celu, glu, hard/soft/tanh shrink, sparse_plus, sparsemax, squareplus, threshold):
values and gradients against PyTorch where it has them, against the published formulas otherwise."""

import numpy as np
import pytest
from torch_reference import F, reference, torch

import deepgrad as dg
from deepgrad import activations

NEW = ["celu", "glu", "hard_shrink", "soft_shrink", "tanh_shrink", "sparse_plus", "sparsemax", "squareplus",
       "threshold"]

TORCH = {
    "celu": (lambda x: activations.celu(x, alpha=0.7), lambda t: F.celu(t, alpha=0.7)),
    "glu": (activations.glu, lambda t: F.glu(t, dim=-1)),
    "glu_axis0": (lambda x: activations.glu(x, axis=0), lambda t: F.glu(t, dim=0)),
    "hard_shrink": (activations.hard_shrink, lambda t: F.hardshrink(t, 0.5)),
    "soft_shrink": (lambda x: activations.soft_shrink(x, threshold=0.8), lambda t: F.softshrink(t, 0.8)),
    "tanh_shrink": (activations.tanh_shrink, F.tanhshrink),
    "threshold": (lambda x: activations.threshold(x, 0.3, -2.0), lambda t: F.threshold(t, 0.3, -2.0)),
}


@pytest.mark.parametrize("name", sorted(TORCH))
def test_values_and_gradients_match_torch(name):
    ours_fn, torch_fn = TORCH[name]
    x = np.random.default_rng(0).normal(0, 2.0, size=(4, 6))
    ours = dg.tensor(x, requires_grad=True)
    out = ours_fn(ours)
    direction = np.random.default_rng(1).normal(size=out.shape)
    out.backward(direction)

    def compute():
        t = torch.tensor(x, requires_grad=True)
        values = torch_fn(t)
        values.backward(torch.tensor(direction))
        return values.detach().numpy(), t.grad.numpy()

    expected, expected_grad = reference(compute)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-12, rtol=1e-12)
    # PyTorch differentiates celu through its output (f/alpha + 1), which loses a few digits
    np.testing.assert_allclose(ours.grad, expected_grad, atol=1e-9, rtol=1e-6)


def test_squareplus_and_sparse_plus_follow_their_formulas():
    x = np.linspace(-3, 3, 25)
    np.testing.assert_allclose(activations.squareplus(dg.tensor(x)).numpy(), (x + np.sqrt(x * x + 4)) / 2)
    np.testing.assert_allclose(activations.squareplus(dg.tensor(x), b=0).numpy(), np.maximum(x, 0), atol=1e-12)
    expected = np.where(x <= -1, 0.0, np.where(x >= 1, x, (x + 1) ** 2 / 4))
    np.testing.assert_allclose(activations.sparse_plus(dg.tensor(x)).numpy(), expected)


def test_sparsemax_is_the_projection_onto_the_simplex():
    np.testing.assert_allclose(activations.sparsemax(dg.tensor([1.0, 0.5, -1.0])).numpy(), [0.75, 0.25, 0.0])
    np.testing.assert_allclose(activations.sparsemax(dg.tensor([[0.0, 0.0]])).numpy(), [[0.5, 0.5]])
    z = np.random.default_rng(2).normal(0, 2, size=(5, 7))
    p = activations.sparsemax(dg.tensor(z), axis=0).numpy()
    np.testing.assert_allclose(p.sum(axis=0), 1.0)
    assert (p >= 0).all() and (p == 0).any()
    # optimality (KKT) of min ||p - z||^2 on the simplex: z - p equals one tau on the support, is <= tau off it
    for column in range(z.shape[1]):
        gap = z[:, column] - p[:, column]
        support = p[:, column] > 0
        np.testing.assert_allclose(gap[support], gap[support][0])
        assert (gap[~support] <= gap[support][0] + 1e-12).all()


@pytest.mark.parametrize("axis", [-1, 0])
def test_sparsemax_and_glu_jacobians_match_autograd(axis):
    z = np.random.default_rng(3).normal(size=(4, 6))
    v = np.random.default_rng(4).normal(size=z.shape)
    x = dg.tensor(z, requires_grad=True)
    activations.sparsemax(x, axis=axis).backward(v)
    jacobian = activations.derivative("sparsemax", z, axis=axis)
    moved_v = np.moveaxis(v, axis, -1)
    np.testing.assert_allclose(np.moveaxis(np.einsum("...i,...ij->...j", moved_v, jacobian), -1, axis), x.grad,
                               atol=1e-12)
    x = dg.tensor(z, requires_grad=True)
    activations.glu(x, axis=axis).sum().backward()
    np.testing.assert_allclose(activations.derivative("glu", z, axis=axis), x.grad, atol=1e-12)
    dg.gradcheck(lambda t: activations.sparsemax(t, axis=axis), dg.tensor(z, requires_grad=True))
    dg.gradcheck(lambda t: activations.glu(t, axis=axis), dg.tensor(z, requires_grad=True))


def test_names_resolve_and_bad_arguments_are_clear_errors():
    for name in NEW:
        assert activations.serialize(activations.get(name)) == name
    assert "sparsemax" not in activations.elementwise_names() and "celu" in activations.elementwise_names()
    layer = dg.layers.Dense(4, activation="squareplus")
    assert layer(np.ones((2, 3), dtype=np.float32)).numpy().min() > 0
    with pytest.raises(ValueError, match="must be even"):
        activations.glu(dg.tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match="alpha != 0"):
        activations.celu(dg.tensor([1.0]), alpha=0)
    with pytest.raises(ValueError, match="b >= 0"):
        activations.squareplus(dg.tensor([1.0]), b=-1)
