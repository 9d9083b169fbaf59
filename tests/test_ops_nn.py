"""softmax, log_softmax, logsumexp and the fused losses: gradients, stability at +-1e4."""

import numpy as np
import pytest

import deepgrad as dg


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_gradients(name, axis, rng, check_grad):
    check_grad(lambda t: getattr(dg, name)(t, axis=axis), rng.standard_normal((3, 4)))


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_gradients(axis, keepdims, rng, check_grad):
    data = rng.standard_normal((3, 4))
    check_grad(lambda t: t.logsumexp(axis=axis, keepdims=keepdims), data)
    peak = data.max(axis=axis, keepdims=True)
    expected = peak + np.log(np.exp(data - peak).sum(axis=axis, keepdims=True))
    got = dg.logsumexp(dg.Tensor(data), axis=axis, keepdims=keepdims).numpy()
    np.testing.assert_allclose(got, expected if keepdims else expected.reshape(got.shape))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_family_finite_at_large_inputs(dtype):
    data = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=dtype)
    for fn in (lambda t: dg.softmax(t, axis=1), lambda t: dg.log_softmax(t, axis=1),
               lambda t: dg.logsumexp(t, axis=1)):
        x = dg.Tensor(data, requires_grad=True)
        out = fn(x)
        (out * dg.Tensor(np.arange(out.size, dtype=dtype).reshape(out.shape))).sum().backward()
        assert out.dtype == dtype
        assert np.isfinite(out.numpy()).all() and np.isfinite(x.grad).all()
    np.testing.assert_allclose(dg.log_softmax(dg.Tensor(data), axis=1).numpy()[0], [0.0, -2e4, -1e4])
    np.testing.assert_allclose(dg.logsumexp(dg.Tensor(data), axis=1).numpy(),
                               [1e4, -1e4 + np.log(3.0)], rtol=1e-6)


def test_softmax_cross_entropy_sparse_and_dense(rng, check_grad):
    logits = rng.standard_normal((5, 4))
    labels = rng.integers(0, 4, size=5)
    check_grad(lambda z: dg.softmax_cross_entropy(z, labels), logits)
    check_grad(lambda z: dg.softmax_cross_entropy(z, np.eye(4)[labels]), logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    expected = -log_probs[np.arange(5), labels].mean()
    np.testing.assert_allclose(dg.softmax_cross_entropy(dg.Tensor(logits), labels).item(), expected)
    np.testing.assert_allclose(
        dg.softmax_cross_entropy(dg.Tensor(logits), np.eye(4)[labels]).item(), expected)


def test_softmax_cross_entropy_other_axis(rng, check_grad):
    logits = rng.standard_normal((2, 3, 4))
    labels = rng.integers(0, 3, size=(2, 4))
    check_grad(lambda z: dg.softmax_cross_entropy(z, labels, axis=1), logits)


def test_softmax_cross_entropy_gradient_is_p_minus_y_over_n():
    z = dg.Tensor(np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]]), requires_grad=True)
    loss = dg.softmax_cross_entropy(z, np.array([1, 2]))
    loss.backward()
    np.testing.assert_allclose(loss.item(), (1e4 + np.log(3.0)) / 2)
    np.testing.assert_allclose(z.grad, [[0.5, -0.5, 0.0], [1 / 6, 1 / 6, -1 / 3]], atol=1e-12)


def test_softmax_cross_entropy_errors():
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 3\)"):
        dg.softmax_cross_entropy(dg.zeros(2, 3), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"labels of shape \(3,\) .* do not match logits of shape \(2, 3\)"):
        dg.softmax_cross_entropy(dg.zeros(2, 3), np.array([0, 1, 2]))


def test_sigmoid_binary_cross_entropy(rng, check_grad):
    logits = rng.standard_normal((4, 3)) * 3
    labels = rng.random((4, 3))
    check_grad(lambda z: dg.sigmoid_binary_cross_entropy(z, labels), logits)
    p = 1 / (1 + np.exp(-logits))
    expected = -(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean()
    np.testing.assert_allclose(dg.sigmoid_binary_cross_entropy(dg.Tensor(logits), labels).item(),
                               expected)
    z = dg.Tensor(np.array([1e4, -1e4]), requires_grad=True)
    loss = dg.sigmoid_binary_cross_entropy(z, np.array([0.0, 1.0]))
    loss.backward()
    np.testing.assert_allclose(loss.item(), 1e4)
    np.testing.assert_allclose(z.grad, [0.5, -0.5])
    with pytest.raises(ValueError, match=r"labels of shape \(3,\) do not match logits of shape \(2,\)"):
        dg.sigmoid_binary_cross_entropy(dg.zeros(2), np.zeros(3))
