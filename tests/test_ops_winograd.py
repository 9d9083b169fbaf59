"""Winograd F(4x4, 3x3) convolutions: the constants, equality with im2col and PyTorch, gradients, when it applies."""

import numpy as np
import pytest
from test_ops_convolution import torch_conv
from torch_reference import reference

import deepgrad as dg
from deepgrad.ops import conv, max_pool, winograd

pytestmark = pytest.mark.skipif(not winograd._kernels(), reason="the Winograd path needs numba")

CASES = {  # input (N, H, W, C), filters, padding: ragged tile rows and columns, 'same' borders, one tile
    "valid 13x13x32->64 (the MNIST convnet's second layer)": ((2, 13, 13, 32), 64, "valid"),
    "same 8x8x16->16": ((2, 8, 8, 16), 16, "same"),
    "same 9x7x8->5 (ragged tiles)": ((3, 9, 7, 8), 5, "same"),
    "valid 5x6x8->3 (one row of tiles)": ((1, 5, 6, 8), 3, "valid"),
    "valid 3x3x8->2 (one output)": ((2, 3, 3, 8), 2, "valid"),
}


@pytest.fixture
def algorithm(monkeypatch):
    """Run the next convolutions by 'winograd' (also where training would choose im2col) or 'im2col'."""

    def use(name):
        monkeypatch.setenv("DEEPGRAD_FUSED", "1")
        monkeypatch.setenv("DEEPGRAD_WINOGRAD", "1" if name == "winograd" else "0")
        monkeypatch.setattr(winograd, "TRAINING_TILE_RATIO", float("inf"))

    return use


def test_the_constants_compute_a_1d_correlation():
    """A^T [(G g) (.) (B^T d)] = y, y_i = sum_k d_{i + k} g_k: F(4, 3) in one dimension, at float64 precision."""
    rng = np.random.default_rng(0)
    for _ in range(5):
        d, g = rng.standard_normal(6), rng.standard_normal(3)
        expected = np.array([d[i:i + 3] @ g for i in range(4)])
        np.testing.assert_allclose(winograd.A_T @ ((winograd.G @ g) * (winograd.B_T @ d)), expected,
                                   rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("line, matrix", [(winograd._input_line, winograd.B_T),
                                          (winograd._output_line, winograd.A_T),
                                          (winograd._output_grad_line, winograd.A_T.T),
                                          (winograd._input_grad_line, winograd.B_T.T)])
def test_each_written_out_transform_is_its_matrix(line, matrix):
    """The compiled loops' 1-d transforms (formulas) are the products by B^T, A^T, A and B."""
    rng = np.random.default_rng(1)
    v = np.zeros(6)
    v[:matrix.shape[1]] = rng.standard_normal(matrix.shape[1])
    constants = winograd._constants(1.0)
    got = np.array(line(*v, *constants))
    np.testing.assert_allclose(got[:matrix.shape[0]], matrix @ v[:matrix.shape[1]], rtol=1e-14, atol=1e-14)
    assert not got[matrix.shape[0]:].any()  # a 4-long output is padded with zeros


def _run(case, dtype, relu=False, pool=False, seed=3):
    x_shape, filters, padding = CASES[case]
    rng = np.random.default_rng(seed)
    x = dg.tensor(rng.standard_normal(x_shape).astype(dtype), requires_grad=True)
    w = dg.tensor(rng.standard_normal((3, 3, x_shape[-1], filters)).astype(dtype) * 0.3, requires_grad=True)
    b = dg.tensor(rng.standard_normal(filters).astype(dtype), requires_grad=True)
    out = conv(x, w, b, padding=padding, relu=relu)
    if pool:
        out = max_pool(out, 2)
    out.backward(rng.standard_normal(out.shape).astype(dtype))
    return out.numpy(), x.grad, w.grad, b.grad


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("case", list(CASES))
def test_winograd_equals_im2col(case, relu, algorithm):
    """Forward and every gradient, in float64 to 1e-12 and float32 to the rounding of the transforms."""
    for dtype, tolerance in ((np.float64, 1e-12), (np.float32, 2e-5)):
        algorithm("winograd")
        fast = _run(case, dtype, relu)
        algorithm("im2col")
        plain = _run(case, dtype, relu)
        for a, b in zip(fast, plain):
            assert a.dtype == dtype
            np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance * np.abs(b).max())


def test_a_pooled_relu_gradient_goes_through_the_winograd_backward(algorithm):
    algorithm("winograd")
    fast = _run("valid 13x13x32->64 (the MNIST convnet's second layer)", np.float64, relu=True, pool=True)
    algorithm("im2col")
    plain = _run("valid 13x13x32->64 (the MNIST convnet's second layer)", np.float64, relu=True, pool=True)
    for a, b in zip(fast, plain):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", list(CASES)[1:])  # the first is large for a stored reference, and im2col-checked
def test_winograd_equals_torch(case, algorithm):
    algorithm("winograd")
    x_shape, filters, padding = CASES[case]
    rng = np.random.default_rng(11)
    x, w = rng.standard_normal(x_shape), rng.standard_normal((3, 3, x_shape[-1], filters))
    b = rng.standard_normal(filters)
    X, W, B = (dg.Tensor(a, requires_grad=True) for a in (x, w, b))
    out = conv(X, W, B, padding=padding)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    expected = reference(lambda: torch_conv(x, w, b, g, (1, 1), padding, (1, 1)), key=case)
    for got, want in zip((out.numpy(), X.grad, W.grad, B.grad), expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_winograd_gradcheck(padding, rng, check_grad, algorithm):
    algorithm("winograd")
    check_grad(lambda x, w, b: conv(x, w, b, padding=padding, relu=True),
               rng.standard_normal((2, 6, 5, 8)), rng.standard_normal((3, 3, 8, 3)), rng.standard_normal(3))


def test_channels_first_input_runs_the_same_convolution(rng, algorithm):
    algorithm("winograd")
    x = rng.standard_normal((2, 7, 9, 8))
    w = rng.standard_normal((3, 3, 8, 4))
    last = conv(x, w, padding="same").numpy()
    first = conv(np.moveaxis(x, -1, 1).copy(), w, padding="same", data_format="channels_first").numpy()
    np.testing.assert_allclose(np.moveaxis(first, 1, -1), last, rtol=1e-12, atol=1e-12)


def test_it_applies_to_3x3_stride_1_single_group_convolutions_only(monkeypatch):
    monkeypatch.setenv("DEEPGRAD_FUSED", "1")
    monkeypatch.delenv("DEEPGRAD_WINOGRAD", raising=False)
    x = np.zeros((1, 8, 8, 8), np.float32)
    w = np.zeros((3, 3, 8, 4), np.float32)

    def applies(x=x, w=w, kernel_size=(3, 3), strides=(1, 1), dilation=(1, 1), groups=1):
        return winograd.applies(x, w, kernel_size, strides, dilation, groups, (6, 6))

    assert applies()
    assert not applies(kernel_size=(5, 5))
    assert not applies(strides=(2, 2))
    assert not applies(dilation=(2, 2))
    assert not applies(groups=2)
    assert not applies(x=x[..., :4])  # fewer than MIN_CHANNELS channels
    assert not applies(w=w.astype(np.float64))  # mixed dtypes
    assert not applies(x=x.astype(np.float16), w=w.astype(np.float16))
    monkeypatch.setenv("DEEPGRAD_WINOGRAD", "0")
    assert not applies()
    monkeypatch.setenv("DEEPGRAD_WINOGRAD", "1")
    monkeypatch.setenv("DEEPGRAD_FUSED", "0")
    assert not applies()
    monkeypatch.setenv("DEEPGRAD_FUSED", "1")
    monkeypatch.setattr(winograd, "_KERNELS", {})  # numba missing
    assert not applies()


def test_tile_ratio_counts_the_tile_arrays_against_the_im2col_matrix():
    # 16x16 -> 64 'same' from 64 channels: whole tiles, 2.25 (64 + 64) against 9 * 64
    assert winograd.tile_ratio((16, 16), 64, 64) == pytest.approx(2.25 * 128 / (9 * 64))
    # 11x11 outputs fill 3x3 tiles of 4x4 = 12x12: 144/121 times more
    assert winograd.tile_ratio((11, 11), 32, 64) == pytest.approx(144 / 121 * 96 / 128)


def test_training_takes_winograd_only_where_its_arrays_are_smaller(monkeypatch):
    """The MNIST convnet's second layer (tile ratio 0.89) trains by im2col and predicts by Winograd;
    a 64-channel 'same' layer (0.5) does both by Winograd."""
    monkeypatch.setenv("DEEPGRAD_FUSED", "1")
    monkeypatch.delenv("DEEPGRAD_WINOGRAD", raising=False)
    used = []
    monkeypatch.setattr(winograd.Winograd, "input_transform",
                        lambda self, x, f=winograd.Winograd.input_transform: used.append(x.shape) or f(self, x))
    rng = np.random.default_rng(0)
    for x_shape, filters, padding, winograd_in_training in (((2, 13, 13, 32), 64, "valid", False),
                                                             ((2, 16, 16, 64), 64, "same", True)):
        x = rng.standard_normal(x_shape).astype(np.float32)
        w = dg.tensor(rng.standard_normal((3, 3, x_shape[-1], filters)).astype(np.float32), requires_grad=True)
        used.clear()
        conv(x, w, padding=padding)
        assert bool(used) == winograd_in_training
        used.clear()
        with dg.no_grad():
            conv(x, w, padding=padding)
        assert used == [x_shape]


def test_conv_runs_the_winograd_loops_when_it_applies(monkeypatch, algorithm):
    algorithm("winograd")
    calls = []
    compiled = dict(winograd._kernels())
    for name, loop in compiled.items():
        compiled[name] = lambda *a, name=name, f=loop: calls.append(name) or f(*a)
    monkeypatch.setattr(winograd, "_KERNELS", compiled)
    x = dg.tensor(np.ones((1, 6, 6, 8), np.float32), requires_grad=True)
    w = dg.tensor(np.ones((3, 3, 8, 2), np.float32), requires_grad=True)
    conv(x, w).sum().backward()
    assert sorted(calls) == sorted([winograd.INPUT, winograd.OUTPUT, winograd.OUTPUT_GRAD, winograd.INPUT_GRAD])
    calls.clear()
    conv(x, w, strides=2).sum().backward()  # im2col
    assert calls == []


def test_a_frozen_kernel_keeps_no_tiles_and_gets_no_gradient(algorithm):
    algorithm("winograd")
    x = dg.tensor(np.ones((1, 6, 6, 8)), requires_grad=True)
    w = dg.tensor(np.ones((3, 3, 8, 2)))
    conv(x, w).sum().backward()
    assert w.grad is None and x.grad.shape == x.shape


def test_a_bias_of_the_wrong_shape_is_an_error(algorithm):
    algorithm("winograd")
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\)"):
        conv(np.ones((1, 6, 6, 8)), np.ones((3, 3, 8, 2)), np.ones(3))
