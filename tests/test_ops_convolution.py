"""Convolution ops: finite-difference gradients, PyTorch equality on random shapes, Keras rules, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_reference import F, reference, torch

import deepgrad as dg
from deepgrad.ops import conv, conv_transpose, depthwise_conv


def tf_same_pads(n, k, s, d=1):
    """TensorFlow's 'same' padding (lo, hi) for one axis, written out independently of the op."""
    span = (k - 1) * d + 1
    out = (n + s - 1) // s
    total = max((out - 1) * s + span - n, 0)
    return total // 2, total - total // 2


def to_torch(x):
    """(N, *spatial, C) -> torch (N, C, *spatial)."""
    return torch.tensor(x).movedim(-1, 1)


def from_torch(t):
    return t.detach().movedim(1, -1).numpy()


def torch_conv(x, w, b, g, strides, padding, dilation):
    """The reference: torch's convolution on TF-padded input, kernel (*k, C/G, F) -> (F, C/G, *k).

    Returns the output and, for the output gradient ``g``, the gradients of x, the kernel and the bias.
    """
    rank = x.ndim - 2
    groups = x.shape[-1] // w.shape[-2]
    pads = []
    for n, k, s, d in zip(x.shape[1:-1], w.shape[:rank], strides, dilation):
        if padding == "same":
            pads.append(tf_same_pads(n, k, s, d))
        elif padding == "causal":
            pads.append(((k - 1) * d, 0))
        else:
            pads.append((0, 0))
    flat = [p for pair in reversed(pads) for p in pair]  # F.pad lists the last axis first
    tx = F.pad(to_torch(x), flat).requires_grad_()
    tw = torch.tensor(w).permute(rank + 1, rank, *range(rank)).contiguous().requires_grad_()
    tb = torch.tensor(b, requires_grad=True)
    fn = F.conv1d if rank == 1 else F.conv2d
    out = fn(tx, tw, stride=strides, dilation=dilation, groups=groups) + tb.reshape((1, -1) + (1,) * rank)
    out.backward(to_torch(g))
    inner = (slice(None),) + tuple(slice(lo, lo + n) for (lo, _), n in zip(pads, x.shape[1:-1]))
    return from_torch(out), from_torch(tx.grad)[inner], kernel_from_torch(tw.grad, rank), tb.grad.numpy()


def kernel_from_torch(tw, rank):
    """torch weight (F, C/G, *k) -> our (*k, C/G, F)."""
    return tw.detach().permute(*range(2, rank + 2), 1, 0).numpy()


@st.composite
def conv_cases(draw):
    rank = draw(st.sampled_from([1, 2]))
    padding = draw(st.sampled_from(["valid", "same"] + (["causal"] if rank == 1 else [])))
    groups = draw(st.integers(1, 3))
    per_group = draw(st.integers(1, 2))
    filters = groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    low = [(k - 1) * d + 1 if padding == "valid" else 1 for k, d in zip(kernel, dilation)]
    spatial = tuple(draw(st.integers(lo, lo + 5)) for lo in low)
    batch = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**16))
    x_shape = (batch,) + spatial + (groups * per_group,)
    return x_shape, kernel + (per_group, filters), strides, dilation, padding, seed


@settings(max_examples=30, deadline=None, derandomize=True)
@given(conv_cases())
def test_conv_equals_torch(case):
    x_shape, w_shape, strides, dilation, padding, seed = case
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[-1])
    X, W, B = (dg.Tensor(a, requires_grad=True) for a in (x, w, b))
    out = conv(X, W, B, strides=strides, padding=padding, dilation_rate=dilation)
    g = rng.standard_normal(out.shape)
    expected, x_grad, w_grad, b_grad = reference(lambda: torch_conv(x, w, b, g, strides, padding, dilation),
                                                 key=repr(case))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-10)
    out.backward(g)
    np.testing.assert_allclose(X.grad, x_grad, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(W.grad, w_grad, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(B.grad, b_grad, rtol=1e-10, atol=1e-10)


@st.composite
def transpose_cases(draw):
    padding = draw(st.sampled_from(["valid", "same"]))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(2))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(2))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(2))
    if draw(st.booleans()):
        output_padding = tuple(draw(st.integers(0, s - 1)) for s in strides)
    else:
        output_padding = None
    spatial = tuple(draw(st.integers(1, 5)) for _ in range(2))
    channels, filters, batch = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**16))
    x_shape = (batch,) + spatial + (channels,)
    return x_shape, kernel + (filters, channels), strides, dilation, padding, output_padding, seed


def keras_transpose_length(n, k, s, padding, output_padding, d):
    span = (k - 1) * d + 1
    if output_padding is None:
        return n * s + max(span - s, 0) if padding == "valid" else n * s
    return (n - 1) * s + span - 2 * (span // 2 if padding == "same" else 0) + output_padding


def torch_conv_transpose(x, w, g, strides, dilation, lengths, pads):
    """The reference: torch's full transposed convolution laid out as TensorFlow's; output and gradients for ``g``."""
    tx = to_torch(x).requires_grad_()
    tw = torch.tensor(w).permute(3, 2, 0, 1).contiguous().requires_grad_()  # (C, F, kh, kw)
    full = F.conv_transpose2d(tx, tw, stride=strides, dilation=dilation)
    # TensorFlow's layout: the full result, zero-extended to the padded length, minus the padding
    padded = [n + lo + hi for n, (lo, hi) in zip(lengths, pads)]
    full = F.pad(full, (0, padded[1] - full.shape[3], 0, padded[0] - full.shape[2]))
    expected = full[:, :, pads[0][0]:pads[0][0] + lengths[0], pads[1][0]:pads[1][0] + lengths[1]]
    expected.backward(to_torch(g))
    return from_torch(expected), from_torch(tx.grad), tw.grad.permute(2, 3, 1, 0).numpy()


@settings(max_examples=30, deadline=None, derandomize=True)
@given(transpose_cases())
def test_conv_transpose_equals_torch(case):
    x_shape, w_shape, strides, dilation, padding, output_padding, seed = case
    extra = output_padding or (None, None)
    lengths = [keras_transpose_length(n, k, s, padding, p, d)
               for n, k, s, p, d in zip(x_shape[1:3], w_shape[:2], strides, extra, dilation)]
    pads = [tf_same_pads(n, k, s, d) if padding == "same" else (0, 0)
            for n, k, s, d in zip(lengths, w_shape[:2], strides, dilation)]
    convolved_back = [(n + lo + hi - (k - 1) * d - 1) // s + 1
                      for n, (lo, hi), k, s, d in zip(lengths, pads, w_shape[:2], strides, dilation)]
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    X, W = dg.Tensor(x, requires_grad=True), dg.Tensor(w, requires_grad=True)
    if convolved_back != list(x_shape[1:3]):  # TensorFlow refuses these; so do we
        with pytest.raises(ValueError, match="would not convolve back"):
            conv_transpose(X, W, strides=strides, padding=padding, output_padding=output_padding,
                           dilation_rate=dilation)
        return
    out = conv_transpose(X, W, strides=strides, padding=padding, output_padding=output_padding,
                         dilation_rate=dilation)
    assert out.shape == (x_shape[0], *lengths, w_shape[2])
    g = rng.standard_normal(out.shape)
    expected, x_grad, w_grad = reference(lambda: torch_conv_transpose(x, w, g, strides, dilation, lengths, pads),
                                         key=repr(case))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-10)
    out.backward(g)
    np.testing.assert_allclose(X.grad, x_grad, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(W.grad, w_grad, rtol=1e-10, atol=1e-10)


GRADCHECKS = {
    "1d_causal_dilated": ((2, 6, 2), (3, 2, 3), dict(padding="causal", dilation_rate=2)),
    "1d_same_strided": ((1, 7, 3), (2, 3, 2), dict(padding="same", strides=2)),
    "2d_valid": ((2, 5, 4, 2), (3, 2, 2, 3), dict()),
    "2d_same_strided_groups": ((1, 5, 6, 4), (3, 2, 2, 4), dict(padding="same", strides=(2, 3))),
    "2d_dilated_groups": ((1, 6, 5, 3), (2, 2, 1, 3), dict(padding="same", dilation_rate=(2, 1))),
    "3d_same": ((1, 3, 4, 3, 2), (2, 2, 2, 2, 2), dict(padding="same", strides=(1, 2, 1))),
}


@pytest.mark.parametrize("name", sorted(GRADCHECKS))
def test_conv_gradcheck(name, rng, check_grad):
    x_shape, w_shape, kwargs = GRADCHECKS[name]
    check_grad(lambda x, w, b: conv(x, w, b, **kwargs),
               rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[-1]))


@pytest.mark.parametrize("kwargs", [dict(padding="valid", strides=2), dict(padding="same", strides=(2, 1)),
                                    dict(padding="same", strides=2, output_padding=1),
                                    dict(padding="valid", dilation_rate=2)])
def test_conv_transpose_gradcheck(kwargs, rng, check_grad):
    check_grad(lambda x, w, b: conv_transpose(x, w, b, **kwargs),
               rng.standard_normal((2, 3, 2, 2)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3))


def test_conv_transpose_1d_and_3d_gradcheck(rng, check_grad):
    check_grad(lambda x, w: conv_transpose(x, w, strides=2, padding="same"),
               rng.standard_normal((2, 3, 2)), rng.standard_normal((3, 2, 2)))
    check_grad(lambda x, w: conv_transpose(x, w, strides=(2, 1, 1)),
               rng.standard_normal((1, 2, 2, 2, 1)), rng.standard_normal((2, 2, 1, 2, 1)))


def test_conv_transpose_is_the_input_gradient_of_conv(rng):
    """<conv(y, W), x> = <y, conv_transpose(x, W)> for every y: the adjoint identity."""
    w = rng.standard_normal((3, 3, 2, 4))
    x = rng.standard_normal((2, 4, 5, 4))
    up = conv_transpose(x, w, strides=2, padding="same").numpy()
    y = rng.standard_normal(up.shape)
    down = conv(y, w, strides=2, padding="same").numpy()
    assert down.shape == x.shape
    np.testing.assert_allclose((down * x).sum(), (y * up).sum(), rtol=1e-12)


def test_depthwise_conv_equals_torch_and_gradchecks(rng, check_grad):
    x, w = rng.standard_normal((2, 6, 5, 3)), rng.standard_normal((3, 3, 3, 2))  # multiplier 2
    out = depthwise_conv(x, w, strides=2, padding="same").numpy()
    expected = reference(lambda: from_torch(F.conv2d(
        F.pad(to_torch(x), tf_same_pads(5, 3, 2) + tf_same_pads(6, 3, 2)),
        torch.tensor(w).permute(2, 3, 0, 1).reshape(6, 1, 3, 3),  # output channel c*2 + j
        stride=2, groups=3)))
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)
    check_grad(lambda a, b: depthwise_conv(a, b, padding="same"),
               rng.standard_normal((1, 4, 3, 2)), rng.standard_normal((2, 2, 2, 2)))


def test_channels_first_matches_channels_last(rng, check_grad):
    x, w = rng.standard_normal((2, 5, 6, 3)), rng.standard_normal((3, 3, 3, 4))
    last = conv(x, w, padding="same").numpy()
    first = conv(np.moveaxis(x, -1, 1), w, padding="same", data_format="channels_first").numpy()
    np.testing.assert_allclose(np.moveaxis(first, 1, -1), last, rtol=1e-12)
    wt = rng.standard_normal((2, 2, 3, 3))
    up = conv_transpose(x, wt, strides=2).numpy()
    up_first = conv_transpose(np.moveaxis(x, -1, 1), wt, strides=2, data_format="channels_first").numpy()
    np.testing.assert_allclose(np.moveaxis(up_first, 1, -1), up, rtol=1e-12)
    check_grad(lambda a, b: conv(a, b, strides=2, data_format="channels_first"),
               rng.standard_normal((1, 2, 5, 4)), rng.standard_normal((2, 2, 2, 3)))


def test_same_padding_puts_the_extra_element_at_the_end():
    """TensorFlow's rule: n=4, k=2, s=1 pads (0, 1), so out[-1] only sees x[-1]."""
    x = np.arange(1.0, 5.0).reshape(1, 4, 1)
    out = conv(x, np.ones((2, 1, 1)), padding="same").numpy().ravel()
    np.testing.assert_array_equal(out, [3.0, 5.0, 7.0, 4.0])
    causal = conv(x, np.ones((2, 1, 1)), padding="causal").numpy().ravel()
    np.testing.assert_array_equal(causal, [1.0, 3.0, 5.0, 7.0])


def test_dtypes_are_kept_and_grads_skip_inputs_without_requires_grad(rng):
    x = dg.Tensor(rng.standard_normal((2, 6, 6, 1)).astype(np.float32))
    w = dg.Tensor(rng.standard_normal((3, 3, 1, 4)).astype(np.float32), requires_grad=True)
    out = conv(x, w)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad is None and w.grad.dtype == np.float32 and w.grad.shape == (3, 3, 1, 4)
    assert conv_transpose(x, dg.Tensor(w.data[:, :, :, :1])).dtype == np.float32
    with dg.no_grad():
        assert not conv(x, w).requires_grad


def test_convolution_errors_name_the_problem():
    x = dg.zeros(2, 28, 28, 1)
    with pytest.raises(ValueError, match=r"rank 4 .*got shape \(2, 28, 28\).*x\[\.\.\., None\]"):
        conv(dg.zeros(2, 28, 28), dg.zeros(3, 3, 1, 8))
    with pytest.raises(ValueError, match="unknown padding 'full'"):
        conv(x, dg.zeros(3, 3, 1, 8), padding="full")
    with pytest.raises(ValueError, match="'causal' is only defined for 1-d"):
        conv(x, dg.zeros(3, 3, 1, 8), padding="causal")
    with pytest.raises(ValueError, match=r"window \(3 dilated by 20 to 41\) is larger than the input \(28\)"):
        conv(x, dg.zeros(3, 3, 1, 8), dilation_rate=20)
    with pytest.raises(ValueError, match="6 channels, not a multiple of the kernel's 4"):
        conv(dg.zeros(1, 5, 5, 6), dg.zeros(3, 3, 4, 8))
    with pytest.raises(ValueError, match="5 filters cannot be split into 2 groups"):
        conv(dg.zeros(1, 5, 5, 4), dg.zeros(3, 3, 2, 5))
    with pytest.raises(ValueError, match=r"strides must be >= 1"):
        conv(x, dg.zeros(3, 3, 1, 8), strides=0)
    with pytest.raises(ValueError, match=r"bias must have shape \(8,\)"):
        conv(x, dg.zeros(3, 3, 1, 8), bias=dg.zeros(4))
    with pytest.raises(ValueError, match="output_padding .* must be smaller than the strides"):
        conv_transpose(x, dg.zeros(3, 3, 4, 1), strides=2, output_padding=2)
    with pytest.raises(ValueError, match="kernel .* is for 3 input channels"):
        conv_transpose(x, dg.zeros(3, 3, 4, 3))
    with pytest.raises(ValueError, match="data_format must be one of"):
        conv(x, dg.zeros(3, 3, 1, 8), data_format="NHWC")
