"""The compiled col2im and max-pool loops give the NumPy paths' results (skipped without numba)."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.ops import conv, conv_transpose, kernels, max_pool

pytest.importorskip("numba")

CONV_CASES = [  # x shape, kernel shape, strides, dilation, padding (8+ channels: col2im compiled)
    ((2, 9, 8), (3, 8, 4), 1, 1, "valid"),
    ((2, 9, 8), (2, 8, 2), 2, 2, "causal"),
    ((2, 7, 8, 1), (3, 3, 1, 5), 1, 1, "valid"),
    ((2, 7, 8, 9), (3, 2, 9, 4), (2, 1), (1, 2), "same"),
    ((1, 5, 6, 4, 8), (2, 3, 2, 8, 3), (1, 2, 1), 1, "same"),
]
POOL_CASES = [  # x shape, pool, strides, padding
    ((2, 9, 3), 2, None, "valid"),
    ((2, 6, 7, 3), 2, None, "valid"),
    ((2, 6, 7, 3), 3, 2, "same"),
    ((1, 5, 4, 6, 2), (2, 2, 3), (1, 2, 2), "valid"),
]


def run_conv(case, dtype, fused_on, monkeypatch):
    monkeypatch.setenv("DEEPGRAD_FUSED", "1" if fused_on else "0")
    x_shape, w_shape, strides, dilation, padding = case
    rng = np.random.default_rng(0)
    x = dg.tensor(rng.standard_normal(x_shape), requires_grad=True, dtype=dtype)
    w = dg.tensor(rng.standard_normal(w_shape), requires_grad=True, dtype=dtype)
    out = conv(x, w, strides=strides, padding=padding, dilation_rate=dilation)
    out.backward(rng.standard_normal(out.shape).astype(dtype))
    return out.numpy(), x.grad, w.grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV_CASES)
def test_compiled_conv_matches_numpy(case, dtype, monkeypatch):
    assert kernels.kernel("col2im", np.zeros(1, dtype)) is not None, "numba is installed: the kernels must be on"
    compiled = run_conv(case, dtype, True, monkeypatch)
    plain = run_conv(case, dtype, False, monkeypatch)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(compiled, plain):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance)


def run_transpose(dtype, fused_on, monkeypatch):
    monkeypatch.setenv("DEEPGRAD_FUSED", "1" if fused_on else "0")
    rng = np.random.default_rng(1)
    x = dg.tensor(rng.standard_normal((2, 4, 5, 3)), requires_grad=True, dtype=dtype)
    w = dg.tensor(rng.standard_normal((3, 3, 8, 3)), requires_grad=True, dtype=dtype)
    out = conv_transpose(x, w, strides=2, padding="same")
    out.backward(rng.standard_normal(out.shape).astype(dtype))
    return out.numpy(), x.grad, w.grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_conv_transpose_matches_numpy(dtype, monkeypatch):
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(run_transpose(dtype, True, monkeypatch), run_transpose(dtype, False, monkeypatch)):
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance)


def run_pool(case, dtype, fused_on, monkeypatch, data):
    monkeypatch.setenv("DEEPGRAD_FUSED", "1" if fused_on else "0")
    x_shape, pool, strides, padding = case
    x = dg.tensor(data, requires_grad=True, dtype=dtype)
    out = max_pool(x, pool, strides, padding)
    out.backward(np.random.default_rng(2).standard_normal(out.shape).astype(dtype))
    return out.numpy(), x.grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", POOL_CASES)
def test_compiled_max_pool_matches_numpy(case, dtype, monkeypatch):
    rng = np.random.default_rng(3)
    # rounded values: ties inside windows, where the first maximum must take the gradient
    data = np.round(rng.standard_normal(case[0]), 0)
    (out, grad), (plain_out, plain_grad) = (run_pool(case, dtype, True, monkeypatch, data),
                                            run_pool(case, dtype, False, monkeypatch, data))
    np.testing.assert_array_equal(out, plain_out)
    # overlapping windows add their shares into one input element in another order
    np.testing.assert_allclose(grad, plain_grad, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=1e-12)
    assert np.count_nonzero(grad) == np.count_nonzero(plain_grad)


def test_kernels_step_aside_for_non_contiguous_or_mixed_arrays(monkeypatch):
    monkeypatch.setenv("DEEPGRAD_FUSED", "1")
    a = np.zeros((4, 4), np.float32)
    assert kernels.kernel("col2im", a) is not None
    assert kernels.kernel("col2im", a.T) is None
    assert kernels.kernel("col2im", a, a.astype(np.float64)) is None
    assert kernels.kernel("col2im", a.astype(np.int64)) is None
    monkeypatch.setenv("DEEPGRAD_FUSED", "0")
    assert kernels.kernel("col2im", a) is None


def test_conv_and_max_pool_run_the_compiled_loops(monkeypatch):
    monkeypatch.setenv("DEEPGRAD_FUSED", "1")
    monkeypatch.setenv("DEEPGRAD_WINOGRAD", "0")  # the im2col path, whose col2im is compiled
    calls = []
    compiled = kernels._kernels()
    for name in ("col2im", "max_pool", "max_pool_grad"):
        monkeypatch.setitem(compiled, name, lambda *a, name=name, f=compiled[name]: calls.append(name) or f(*a))
    x = dg.tensor(np.random.default_rng(4).standard_normal((2, 8, 8, 8)), requires_grad=True, dtype=np.float32)
    w = dg.tensor(np.random.default_rng(5).standard_normal((3, 3, 8, 4)), requires_grad=True, dtype=np.float32)
    max_pool(conv(x, w), 2).sum().backward()
    assert sorted(calls) == ["col2im", "max_pool", "max_pool_grad"]


def run_conv_relu(dtype, fused_on, relu, monkeypatch, channels_first=False):
    monkeypatch.setenv("DEEPGRAD_FUSED", "1" if fused_on else "0")
    rng = np.random.default_rng(6)
    x = dg.tensor(rng.standard_normal((3, 7, 6, 5)), requires_grad=True, dtype=dtype)
    w = dg.tensor(rng.standard_normal((3, 3, 5, 8)), requires_grad=True, dtype=dtype)
    b = dg.tensor(rng.standard_normal(8), requires_grad=True, dtype=dtype)
    data_format = "channels_first" if channels_first else "channels_last"
    source = dg.ops.transpose(x, (0, 3, 1, 2)) if channels_first else x
    if relu:
        out = conv(source, w, b, padding="same", data_format=data_format, relu=True)
    else:
        out = dg.ops.relu(conv(source, w, b, padding="same", data_format=data_format))
    out.backward(rng.standard_normal(out.shape).astype(dtype))
    return out.numpy(), x.grad, w.grad, b.grad


@pytest.mark.parametrize("channels_first", [False, True])
@pytest.mark.parametrize("fused_on", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_with_fused_relu_equals_conv_then_relu(dtype, fused_on, channels_first, monkeypatch):
    fused = run_conv_relu(dtype, fused_on, True, monkeypatch, channels_first)
    separate = run_conv_relu(dtype, False, False, monkeypatch, channels_first)
    assert (fused[0] == 0).mean() > 0.2  # the ReLU cuts a good share of the outputs
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(fused, separate):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance)


def test_conv_with_fused_relu_passes_gradcheck():
    from deepgrad.gradcheck import gradcheck

    rng = np.random.default_rng(7)
    x = dg.tensor(rng.standard_normal((2, 5, 5, 3)), requires_grad=True, dtype=np.float64)
    w = dg.tensor(rng.standard_normal((3, 3, 3, 4)), requires_grad=True, dtype=np.float64)
    b = dg.tensor(rng.standard_normal(4), requires_grad=True, dtype=np.float64)
    assert gradcheck(lambda x, w, b: conv(x, w, b, relu=True), x, w, b)


def test_conv2d_layer_with_relu_takes_the_fused_path(monkeypatch):
    from deepgrad import layers
    from deepgrad.ops import convolution

    seen = []
    original = convolution._relu_grad
    monkeypatch.setattr(convolution, "_relu_grad", lambda *a: seen.append(1) or original(*a))
    layer = layers.Conv2D(4, 3, activation="relu")
    x = dg.tensor(np.random.default_rng(8).standard_normal((2, 6, 6, 3)), dtype=np.float32)
    out = layer(x)
    out.sum().backward()
    assert seen == [1]
    np.testing.assert_allclose(out.numpy(), dg.ops.relu(layer.pre_activation(x)).numpy(), rtol=1e-6)
