"""Pooling ops: finite-difference gradients, PyTorch equality on random shapes, TensorFlow's 'same' rules."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_reference import F, reference, torch

import deepgrad as dg
from deepgrad.ops import average_pool, global_average_pool, global_max_pool, max_pool


def tf_same_pads(n, k, s):
    out = (n + s - 1) // s
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


@st.composite
def pool_cases(draw):
    rank = draw(st.sampled_from([1, 2]))
    padding = draw(st.sampled_from(["valid", "same"]))
    pool = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(rank)) if draw(st.booleans()) else None
    spatial = tuple(draw(st.integers(p if padding == "valid" else 1, 7)) for p in pool)
    shape = (draw(st.integers(1, 2)),) + spatial + (draw(st.integers(1, 3)),)
    return shape, pool, strides, padding, draw(st.integers(0, 2**16))


def _torch_padded(x, pool, strides, padding, value):
    """x (channels-last numpy) -> torch (N, C, *spatial), padded by TensorFlow's rule with ``value``."""
    t = torch.tensor(x).movedim(-1, 1).requires_grad_()
    strides = strides or pool
    pads = [tf_same_pads(n, k, s) if padding == "same" else (0, 0)
            for n, k, s in zip(x.shape[1:-1], pool, strides)]
    flat = [p for pair in reversed(pads) for p in pair]
    return t, F.pad(t, flat, value=value), strides


def torch_max_pool(x, g, pool, strides, padding):
    """The reference max pooling (TensorFlow's padding by -inf): output, and the input gradient for ``g``."""
    t, padded, steps = _torch_padded(x, pool, strides, padding, -np.inf)
    expected = (F.max_pool1d if len(pool) == 1 else F.max_pool2d)(padded, pool, steps)
    expected.backward(torch.tensor(g).movedim(-1, 1))
    return expected.detach().movedim(1, -1).numpy(), t.grad.movedim(1, -1).numpy()


def torch_average_pool(x, g, pool, strides, padding):
    """The reference average pooling: output, and the input gradient for ``g``."""
    shape = x.shape
    t, padded, steps = _torch_padded(x, pool, strides, padding, 0.0)
    pool_fn = F.avg_pool1d if len(pool) == 1 else F.avg_pool2d
    if padding == "valid":
        expected = pool_fn(padded, pool, steps)
    else:  # TensorFlow divides by the real inputs in each window: sums over counts
        _, ones, _ = _torch_padded(np.ones((1,) + shape[1:-1] + (1,)), pool, strides, padding, 0.0)
        expected = pool_fn(padded, pool, steps) / pool_fn(ones.detach(), pool, steps)
    expected.backward(torch.tensor(g).movedim(-1, 1))
    return expected.detach().movedim(1, -1).numpy(), t.grad.movedim(1, -1).numpy()


@settings(max_examples=30, deadline=None, derandomize=True)
@given(pool_cases())
def test_max_pool_equals_torch(case):
    shape, pool, strides, padding, seed = case
    x = np.random.default_rng(seed).standard_normal(shape)
    X = dg.Tensor(x, requires_grad=True)
    out = max_pool(X, pool, strides, padding)
    g = np.random.default_rng(seed + 1).standard_normal(out.shape)
    expected, x_grad = reference(lambda: torch_max_pool(x, g, pool, strides, padding), key=repr(case))
    np.testing.assert_array_equal(out.numpy(), expected)
    out.backward(g)
    np.testing.assert_allclose(X.grad, x_grad, rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(pool_cases())
def test_average_pool_equals_torch(case):
    shape, pool, strides, padding, seed = case
    x = np.random.default_rng(seed).standard_normal(shape)
    X = dg.Tensor(x, requires_grad=True)
    out = average_pool(X, pool, strides, padding)
    g = np.random.default_rng(seed + 1).standard_normal(out.shape)
    expected, x_grad = reference(lambda: torch_average_pool(x, g, pool, strides, padding), key=repr(case))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
    out.backward(g)
    np.testing.assert_allclose(X.grad, x_grad, rtol=1e-10, atol=1e-12)


def test_same_average_pool_divides_by_the_real_inputs():
    """TensorFlow: avg_pool of [1, 2, 3] with pool 2, stride 2, 'same' is [1.5, 3] (not [1.5, 1.5])."""
    x = np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1)
    np.testing.assert_array_equal(average_pool(x, 2, padding="same").numpy().ravel(), [1.5, 3.0])
    np.testing.assert_array_equal(max_pool(-x, 2, padding="same").numpy().ravel(), [-1.0, -3.0])


POOLS = {
    "max_2d": lambda t: max_pool(t, 2),
    "max_2d_overlapping_same": lambda t: max_pool(t, (3, 2), strides=1, padding="same"),
    "avg_2d": lambda t: average_pool(t, (2, 3), strides=(1, 2)),
    "avg_2d_same_strided": lambda t: average_pool(t, 3, strides=2, padding="same"),
    "max_1d": lambda t: max_pool(t.reshape(2, 20, 3), 3, strides=2),
    "avg_1d_same": lambda t: average_pool(t.reshape(2, 20, 3), 3, padding="same"),
    "max_3d": lambda t: max_pool(t.reshape(2, 2, 5, 2, 3), 2, strides=1, padding="same"),
    "avg_3d": lambda t: average_pool(t.reshape(2, 2, 5, 2, 3), (1, 2, 2)),
    "channels_first": lambda t: max_pool(t.reshape(2, 3, 4, 5), 2, padding="same", data_format="channels_first"),
    "global_average": lambda t: global_average_pool(t),
    "global_average_keepdims": lambda t: global_average_pool(t, keepdims=True),
    "global_max": lambda t: global_max_pool(t),
    "global_max_channels_first": lambda t: global_max_pool(t, data_format="channels_first"),
}


@pytest.mark.parametrize("name", sorted(POOLS))
def test_pooling_gradcheck(name, rng, check_grad):
    check_grad(POOLS[name], rng.standard_normal((2, 4, 5, 3)))


def test_global_pooling_shapes_and_values(rng):
    x = rng.standard_normal((2, 4, 5, 3))
    np.testing.assert_allclose(global_average_pool(x).numpy(), x.mean(axis=(1, 2)))
    np.testing.assert_allclose(global_max_pool(x, keepdims=True).numpy(), x.max(axis=(1, 2), keepdims=True))
    assert global_average_pool(np.moveaxis(x, -1, 1), data_format="channels_first").shape == (2, 3)


def test_max_pool_sends_the_gradient_to_the_first_maximum():
    x = dg.Tensor(np.array([[[1.0], [1.0], [0.0], [2.0], [2.0], [2.0]]]), requires_grad=True)
    max_pool(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.ravel(), [1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    def torch_gradient():
        t = torch.tensor(x.numpy()).movedim(-1, 1).requires_grad_()
        F.max_pool1d(t, 2).sum().backward()
        return t.grad.ravel().numpy()

    np.testing.assert_array_equal(reference(torch_gradient), x.grad.ravel())


def test_pooling_keeps_float32_and_rejects_bad_input(rng):
    x = rng.standard_normal((2, 6, 6, 1)).astype(np.float32)
    assert max_pool(x, 2).dtype == np.float32 and average_pool(x, 2, padding="same").dtype == np.float32
    with pytest.raises(ValueError, match=r"window \(3\) is larger than the input \(2\)"):
        max_pool(np.zeros((1, 2, 1)), 3)
    with pytest.raises(ValueError, match="unknown padding 'causal'"):
        average_pool(x, 2, padding="causal")
    with pytest.raises(ValueError, match="pool_size must be an int or a tuple of 2 ints"):
        max_pool(x, (2, 2, 2))
    with pytest.raises(ValueError, match="at least one spatial axis"):
        max_pool(np.zeros((3, 4)), 2)
    with pytest.raises(TypeError, match="floating point input"):
        max_pool(np.zeros((1, 4, 1), dtype=np.int64), 2)
