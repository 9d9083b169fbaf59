"""A max pooling after a ReLU convolution: the pooled gradient goes through the ReLU in one pass.

The fused backward (``PooledGradient.through_relu``) must give exactly the gradients of the
unfused chain conv -> relu -> max_pool, wherever it applies, and step aside (materialize)
wherever it does not: overlapping or padded windows, a second consumer of the convolution's
output, a leaf input.
"""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.ops import conv, max_pool, pooling
from deepgrad.tensor import DeferredGradient, deferred_gradient

CASES = {  # input (N, H, W, C), kernel (kh, kw, C, F), pool size, strides, padding
    "2x2 over an even map": ((2, 9, 9, 2), (2, 2, 2, 3), 2, None, "valid"),
    "2x2 leaving a row and a column": ((3, 13, 13, 1), (3, 3, 1, 4), 2, None, "valid"),
    "3x3 windows": ((2, 11, 11, 2), (3, 3, 2, 3), 3, None, "valid"),
    "1-d": ((2, 15, 3), (3, 3, 5), 2, None, "valid"),
    "overlapping windows (unfused)": ((2, 9, 9, 2), (2, 2, 2, 3), 3, 2, "valid"),
    "padded windows (unfused)": ((2, 9, 9, 2), (2, 2, 2, 3), 3, None, "same"),
}


def _chain(x, kernel, bias, pool, strides, padding, fused):
    if fused:
        out = conv(x, kernel, bias, relu=True)
    else:
        out = dg.ops.relu(conv(x, kernel, bias))
    return max_pool(out, pool, strides, padding)


def _gradients(case, fused, dtype=np.float32, extra_consumer=False):
    x_shape, k_shape, pool, strides, padding = CASES[case]
    rng = np.random.default_rng(7)
    x = dg.tensor(rng.standard_normal(x_shape).astype(dtype), requires_grad=True)
    kernel = dg.tensor(rng.standard_normal(k_shape).astype(dtype), requires_grad=True)
    bias = dg.tensor(rng.standard_normal(k_shape[-1]).astype(dtype) * 0.5, requires_grad=True)
    pooled = _chain(x, kernel, bias, pool, strides, padding, fused)
    weights = rng.standard_normal(pooled.shape).astype(dtype)
    loss = (pooled * dg.tensor(weights)).sum()
    if extra_consumer:  # the convolution's output also feeds a second op: the gradients add up
        out = pooled._parents[0]
        loss = loss + (out * out).sum() * 0.1
    loss.backward()
    return pooled.data, x.grad, kernel.grad, bias.grad


@pytest.mark.parametrize("case", list(CASES))
def test_fused_backward_equals_the_unfused_chain(case):
    fused = _gradients(case, fused=True)
    plain = _gradients(case, fused=False)
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_a_second_consumer_gets_the_summed_dense_gradient():
    fused = _gradients("2x2 over an even map", fused=True, extra_consumer=True)
    plain = _gradients("2x2 over an even map", fused=False, extra_consumer=True)
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pool_first", [True, False])
def test_dense_and_deferred_gradients_add_up_in_either_order(pool_first):
    rng = np.random.default_rng(5)
    x = dg.tensor(rng.standard_normal((2, 6, 6, 2)).astype(np.float32), requires_grad=True)
    kernel = dg.tensor(rng.standard_normal((3, 3, 2, 3)).astype(np.float32), requires_grad=True)
    grads = []
    for fused in (True, False):
        kernel.grad = None
        out = conv(x, kernel, relu=True) if fused else dg.ops.relu(conv(x, kernel))
        pooled, squares = max_pool(out, 2).sum(), (out * out).sum()
        loss = pooled + squares if pool_first else squares + pooled
        loss.backward()
        grads.append(kernel.grad.copy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-5)


def test_the_fused_pass_is_taken_where_it_applies(monkeypatch):
    calls = []
    original = pooling.PooledGradient.through_relu

    def spy(self):
        result = original(self)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(pooling.PooledGradient, "through_relu", spy)
    _gradients("2x2 leaving a row and a column", fused=True)
    _gradients("overlapping windows (unfused)", fused=True)
    compiled = pooling.kernels.kernel("pooled_relu_grad", np.zeros((1, 1), np.float32)) is not None
    assert calls == [compiled, False]


def test_float64_gradcheck_through_the_fused_pair():
    rng = np.random.default_rng(3)
    x = dg.tensor(rng.standard_normal((2, 7, 7, 2)), requires_grad=True)
    kernel = dg.tensor(rng.standard_normal((2, 2, 2, 3)), requires_grad=True)
    bias = dg.tensor(rng.standard_normal(3) * 0.3, requires_grad=True)
    assert dg.gradcheck(lambda a, k, b: max_pool(conv(a, k, b, relu=True), 2), x, kernel, bias)


def test_a_leaf_gets_a_dense_gradient():
    x = dg.tensor(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1), requires_grad=True)
    max_pool(x, 2).sum().backward()
    assert isinstance(x.grad, np.ndarray)
    expected = np.zeros((4, 4), np.float32)
    expected[1::2, 1::2] = 1
    np.testing.assert_array_equal(x.grad[0, :, :, 0], expected)


def test_deferred_gradients_must_subclass_the_protocol():
    with pytest.raises(TypeError, match="must subclass DeferredGradient"):
        deferred_gradient(type("NotDeferred", (), {}))
    with pytest.raises(NotImplementedError):
        DeferredGradient().materialize()
