"""Convolution and transposed convolution (N-d, channels-last), forward beside backward.

Layouts follow Keras: inputs are ``(N, *spatial, C)`` (``data_format='channels_first'``,
``(N, C, *spatial)``, is accepted and transposed), a convolution kernel is
``(*kernel_size, C // groups, filters)`` and a transposed-convolution kernel
``(*kernel_size, filters, C)``. Padding follows Keras/TensorFlow: ``'valid'`` (none),
``'same'`` (output length ceil(n / s), the padding split with the extra element at the
end) and, for 1-d, ``'causal'`` (all of it at the start).

How it is computed: im2col and one matrix product.
    With x padded to xp (N, *P, C), kernel size k (K = prod k positions), strides s,
    dilation d, output positions o (M = N * prod(out) rows in all):

    forward   cols[n, o, k, c] = xp[n, o*s + k*d, c]     a strided view (no copy); its
                                                           reshape to (M, K*C) copies
                                                           M*K*C elements once
              out = cols @ W                              (M, K*C) @ (K*C, F): 2*M*K*C*F flops
    backward  dW = cols^T @ g                             2*M*K*C*F flops (cols kept)
              dcols = g @ W^T                             2*M*K*C*F flops
              dx[n, o*s + k*d, c] += dcols[n, o, k, c]    col2im: K strided slice additions,
                                                           M*K*C adds in all

    All the arithmetic is in three matrix products, which BLAS runs at full speed; the
    copies are O(M*K*C), a factor F smaller. col2im loops over the K kernel offsets
    (9 for a 3x3 kernel), each a strided slice add over every sample and position at
    once: never a Python loop over samples or pixels, and no ``np.add.at`` (unbuffered
    and an order of magnitude slower). Direct or FFT convolution do not pay for the
    small kernels of image networks.
    Memory: cols (M*K*C elements) is kept for dW only when the kernel requires grad.

    With numba installed (G = 1, NumPy arrays), col2im runs as one compiled pass over dcols
    (:mod:`deepgrad.ops.kernels`) instead of K strided additions, whose short contiguous
    runs (C floats) cost more per run than the arithmetic: about 2.5x faster for the
    MNIST convnet's second layer. The im2col copy stays NumPy's: its copy of the windows
    view coalesces the contiguous (kernel column, channel) runs and beat a compiled gather.

Winograd instead of im2col: a 3x3 kernel at stride 1, without dilation or groups, on at
least 8 input channels runs by Winograd's minimal filtering F(4x4, 3x3) when numba is
installed (:mod:`deepgrad.ops.winograd`): 2.25x fewer multiplications. Inference takes it
wherever it applies; a step that will run the backward only where its tile arrays are
smaller than the im2col matrix by a margin (``winograd.tile_ratio``), since a training
step's time follows the arrays it writes and reads. Measured forward + backward
(``benchmarks/conv.py --ops-only``): 16x16x64 -> 64 'same' at batch 64, 32.7 ms against
im2col's 60.5 ms.

Groups split the C input and F output channels into G blocks convolved separately:
the same products, batched over G ((G, M, K*C/G) @ (G, K*C/G, F/G)). A depthwise
convolution is the case G = C.

A transposed convolution is the gradient of a convolution with respect to its input:
its forward is the convolution's input-gradient (matrix product then col2im) and its
backward the convolution's forward and kernel-gradient, so both share the code above.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..backend import namespace
from ..tensor import DeferredGradient, Tensor, as_tensor, dense_gradient, is_grad_enabled, make_result
from . import kernels, winograd
from .replay import called_again
from .shape import reshape, transpose

PADDINGS = ("valid", "same", "causal")
DATA_FORMATS = ("channels_last", "channels_first")


def as_tuple(value, rank, name, minimum=1) -> tuple:
    """``value`` (an int, or a sequence of ``rank`` ints) as a tuple of ``rank`` ints >= ``minimum``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values = (int(value),) * rank
    else:
        try:
            values = tuple(int(v) for v in value)
        except TypeError:
            raise ValueError(f"{name} must be an int or a tuple of {rank} ints, got {value!r}.") from None
        if len(values) != rank:
            raise ValueError(f"{name} must be an int or a tuple of {rank} ints, got {value!r}.")
    if any(v < minimum for v in values):
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}.")
    return values


def check_data_format(data_format) -> str:
    """``data_format`` validated (None means ``'channels_last'``)."""
    data_format = "channels_last" if data_format is None else str(data_format).lower()
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {list(DATA_FORMATS)}, got {data_format!r}.")
    return data_format


def check_rank(x, rank, op, data_format="channels_last"):
    """Raise a ValueError unless ``x`` has ``rank`` spatial axes plus batch and channels."""
    if rank is not None and x.ndim != rank + 2:
        layout = ("(batch, " + ", ".join(["size"] * rank) + ", channels)" if data_format == "channels_last"
                  else "(batch, channels, " + ", ".join(["size"] * rank) + ")")
        missing_channels = x.ndim == rank + 1 and data_format == "channels_last"
        hint = " Add the channel axis with x[..., None]." if missing_channels else ""
        raise ValueError(f"{op}: expected an input of rank {rank + 2} {layout}, got shape "
                         f"{tuple(x.shape)}.{hint}")
    if x.ndim < 3:
        raise ValueError(f"{op}: expected an input (batch, *spatial, channels) with at least one spatial "
                         f"axis, got shape {tuple(x.shape)}.")


def spatial_axes(x, data_format="channels_last"):
    """The positions of the spatial axes of x in ``data_format``."""
    return tuple(range(1, x.ndim - 1)) if data_format == "channels_last" else tuple(range(2, x.ndim))


def to_channels_last(x):
    """(N, C, *spatial) -> (N, *spatial, C), differentiably."""
    return transpose(x, (0,) + tuple(range(2, x.ndim)) + (1,))


def to_channels_first(x):
    """(N, *spatial, C) -> (N, C, *spatial), differentiably."""
    return transpose(x, (0, x.ndim - 1) + tuple(range(1, x.ndim - 1)))


def conv_padding(spatial, kernel_size, strides, dilation_rate, padding, op="conv"):
    """Keras/TensorFlow padding: ``(lo, hi)`` per spatial axis and the output shape.

    With span = (k - 1) d + 1: 'valid' gives out = floor((n - span) / s) + 1 and no padding;
    'same' gives out = ceil(n / s) and pads total = max((out - 1) s + span - n, 0), the
    extra element at the end (lo = total // 2); 'causal' (1-d) pads span - 1 at the start.
    """
    padding = str(padding).lower()
    if padding not in PADDINGS:
        raise ValueError(f"{op}: unknown padding {padding!r}; expected 'valid', 'same' or (1-d) 'causal'.")
    if padding == "causal" and len(spatial) != 1:
        raise ValueError(f"{op}: padding='causal' is only defined for 1-d inputs, got {len(spatial)} "
                         "spatial axes.")
    pads, out = [], []
    for axis, (n, k, s, d) in enumerate(zip(spatial, kernel_size, strides, dilation_rate)):
        span = (k - 1) * d + 1
        if padding == "same":
            length = -(-n // s)
            total = max((length - 1) * s + span - n, 0)
            pads.append((total // 2, total - total // 2))
        elif padding == "causal":
            length = (n - 1) // s + 1
            pads.append((span - 1, 0))
        else:
            if n < span:
                raise ValueError(
                    f"{op}: the window ({k}" + (f" dilated by {d} to {span}" if d > 1 else "") +
                    f") is larger than the input ({n}) along spatial axis {axis}; use padding='same' "
                    "or a smaller window."
                )
            length = (n - span) // s + 1
            pads.append((0, 0))
        out.append(length)
    return pads, tuple(out)


def windows(x, kernel_size, strides, dilation_rate, out_shape):
    """The view w[n, *o, *k, ...] = x[n, *(o s + k d), ...] of a padded input (no copy).

    ``x`` is (N, *P, ...): the axes after the spatial ones (channels, or groups and
    channels) are carried along. Read-only by convention: it aliases ``x``.
    """
    rank = len(kernel_size)
    st = x.strides
    shape = (x.shape[0],) + tuple(out_shape) + tuple(kernel_size) + x.shape[1 + rank:]
    steps = ((st[0],) + tuple(st[1 + i] * s for i, s in enumerate(strides))
             + tuple(st[1 + i] * d for i, d in enumerate(dilation_rate)) + st[1 + rank:])
    return namespace(x).lib.stride_tricks.as_strided(x, shape, steps)


def offset_slices(kernel_size, strides, dilation_rate, out_shape):
    """For each kernel offset k (in C order), the spatial slices k d, k d + s, ..., k d + (out - 1) s."""
    for offset in itertools.product(*(range(k) for k in kernel_size)):
        yield offset, tuple(slice(j * d, j * d + (o - 1) * s + 1, s)
                            for j, s, d, o in zip(offset, strides, dilation_rate, out_shape))


def col2im(cols, padded_shape, kernel_size, strides, dilation_rate):
    """Sum cols (N, *out, *k, ...) back into an array of ``padded_shape`` (N, *P, ...).

    result[n, o s + k d, ...] += cols[n, o, k, ...]: one strided slice addition per
    kernel offset (K of them, over all samples and positions at once).
    """
    xp = namespace(cols)
    rank = len(kernel_size)
    out_shape = cols.shape[1:1 + rank]
    result = xp.zeros(padded_shape, dtype=cols.dtype)
    lead = (slice(None),) * (1 + rank)
    for offset, window in offset_slices(kernel_size, strides, dilation_rate, out_shape):
        result[(slice(None),) + window] += cols[lead + offset]
    return result


def pad_spatial(data, pads, value=0):
    """``data`` (N, *spatial, ...) padded with ``value`` by ``pads`` ((lo, hi) per spatial axis)."""
    if not any(lo or hi for lo, hi in pads):
        return data
    widths = [(0, 0)] + list(pads) + [(0, 0)] * (data.ndim - 1 - len(pads))
    return namespace(data).pad(data, widths, mode="constant", constant_values=value)


def crop_spatial(data, pads):
    """The inverse of :func:`pad_spatial`: ``data`` without its padding (a view)."""
    if not any(lo or hi for lo, hi in pads):
        return data
    return data[(slice(None),) + tuple(slice(lo, n - hi) for (lo, hi), n in zip(pads, data.shape[1:]))]


def grouped_matmul(a, b):
    """(G, m, k) @ (G, k, n), as one 2-d product when G = 1 (NumPy's stacked products of
    transposed views can miss BLAS's fast path)."""
    if a.shape[0] == 1:
        return (a[0] @ b[0])[None]
    return a @ b


class _Geometry:
    """Kernel size, strides, dilation and output positions of one convolution."""

    def __init__(self, kernel_size, strides, dilation_rate, out_shape, groups):
        self.kernel_size, self.strides, self.dilation_rate = kernel_size, strides, dilation_rate
        self.out_shape, self.groups = out_shape, groups

    def grouped_cols(self, padded):
        """im2col of padded (N, *P, C) as (G, M, K*C/G): one copy of the windows view."""
        n, channels, groups = padded.shape[0], padded.shape[-1], self.groups
        split = padded.reshape(padded.shape[:-1] + (groups, channels // groups))
        view = windows(split, self.kernel_size, self.strides, self.dilation_rate, self.out_shape)
        view = namespace(padded).moveaxis(view, -2, 0)  # (G, N, *out, *k, C/G)
        rows = n * math.prod(self.out_shape)
        return view.reshape(groups, rows, -1)

    def grouped_kernel(self, kernel):
        """kernel (*k, C/G, F) as (G, K*C/G, F/G)."""
        groups, per_group = self.groups, kernel.shape[-2]
        k = math.prod(self.kernel_size)
        return (kernel.reshape(k, per_group, groups, kernel.shape[-1] // groups)
                .transpose(2, 0, 1, 3).reshape(groups, k * per_group, -1))

    def ungrouped_kernel(self, grad, kernel_shape):
        """(G, K*C/G, F/G) back to the kernel layout (*k, C/G, F)."""
        groups = self.groups
        k = math.prod(self.kernel_size)
        return grad.reshape(groups, k, kernel_shape[-2], -1).transpose(1, 2, 0, 3).reshape(kernel_shape)

    def grouped_rows(self, g):
        """g (N, *out, F) as (G, M, F/G) (no copy when G = 1)."""
        groups = self.groups
        return g.reshape(-1, groups, g.shape[-1] // groups).transpose(1, 0, 2)

    def forward(self, padded, kernel):
        """The convolution of padded (N, *P, C): (N, *out, F), and the cols for dW."""
        cols = self.grouped_cols(padded)
        out = grouped_matmul(cols, self.grouped_kernel(kernel))  # (G, M, F/G)
        n, features = padded.shape[0], kernel.shape[-1]
        out = out.transpose(1, 0, 2).reshape((n,) + self.out_shape + (features,))
        return out, cols

    def kernel_grad(self, cols, g, kernel_shape):
        """dW = cols^T g, in the kernel's layout."""
        return self.ungrouped_kernel(grouped_matmul(namespace(g).swapaxes(cols, 1, 2), self.grouped_rows(g)),
                                     kernel_shape)

    def input_grad(self, g, kernel, padded_shape):
        """dL/d(padded input) = col2im(g W^T), shape ``padded_shape`` (N, *P, C)."""
        xp = namespace(g)
        groups = self.groups
        weights_t = xp.swapaxes(self.grouped_kernel(kernel), 1, 2)
        dcols = grouped_matmul(self.grouped_rows(g), weights_t)  # (G, M, K*C/G)
        n = padded_shape[0]
        # measured: 2-2.5x faster than NumPy's slice additions for 32 or 64 channels, slower for 1
        compiled = kernels.kernel("col2im", dcols) if groups == 1 and padded_shape[-1] >= kernels.MIN_CHANNELS else None
        if compiled is not None:
            rank3 = kernels.rank3
            grad = xp.zeros(padded_shape, dtype=dcols.dtype)
            compiled(dcols.reshape((n,) + rank3(self.out_shape) + rank3(self.kernel_size) + (-1,)),
                     grad.reshape((n,) + rank3(padded_shape[1:-1]) + (padded_shape[-1],)),
                     *rank3(self.strides), *rank3(self.dilation_rate))
            return grad
        dcols = dcols.reshape((groups, n) + self.out_shape + self.kernel_size + (-1,))
        dcols = xp.moveaxis(dcols, 0, -2)  # (N, *out, *k, G, C/G), a view
        split_shape = tuple(padded_shape[:-1]) + (groups, padded_shape[-1] // groups)
        grad = col2im(dcols, split_shape, self.kernel_size, self.strides, self.dilation_rate)
        return grad.reshape(padded_shape)


def _check_operands(x, kernel, rank, op):
    if not isinstance(kernel, Tensor):
        kernel = as_tensor(kernel, like=x)
    if kernel.ndim < 3:
        raise ValueError(f"{op}: the kernel must be (*kernel_size, in_channels, filters), got shape "
                         f"{tuple(kernel.shape)}.")
    rank = kernel.ndim - 2 if rank is None else rank
    if kernel.ndim != rank + 2:
        raise ValueError(f"{op}: a {rank}-d kernel must have rank {rank + 2}, got shape "
                         f"{tuple(kernel.shape)}.")
    return kernel, rank


def _check_bias(bias, features, op):
    if bias is not None and tuple(bias.shape) != (features,):
        raise ValueError(f"{op}: bias must have shape ({features},), got {tuple(bias.shape)}.")


def _add_bias(out, bias, features, op, relu=False):
    """out + bias, then max(., 0) when ``relu``, in place on the fresh product ``out`` (N, *out, F)."""
    _check_bias(bias, features, op)
    if relu:
        xp = namespace(out)
        shift = xp.zeros(features, dtype=out.dtype) if bias is None else bias.data.astype(out.dtype, copy=False)
        compiled = kernels.kernel("bias_relu", out, shift)
        if compiled is not None:  # out is C-contiguous: the (M, F) reshape is a view of it
            compiled(out.reshape(-1, features), shift)
            return out
        out += shift
        return xp.maximum(out, 0, out=out)
    if bias is not None:
        out += bias.data
    return out


def _bias_grad(g, bias):
    """dL/dbias = the column sums of g (M, F), as one matrix-vector product (5x faster than a sum over axis 0)."""
    if bias is None or not bias.requires_grad:
        return None
    rows = g.reshape(-1, g.shape[-1])
    return namespace(g).ones(rows.shape[0], dtype=rows.dtype) @ rows


def _relu_grad(g, out, bias):
    """g [out > 0] (the gradient through a fused ReLU) and, from the same pass, dL/dbias."""
    xp = namespace(g)
    features = out.shape[-1]
    rows, kept = xp.ascontiguousarray(g).reshape(-1, features), out.reshape(-1, features)
    compiled = kernels.kernel("relu_grad_bias", rows, kept)
    if compiled is None:
        masked = g * (out > 0)
        return masked, _bias_grad(masked, bias)
    masked = xp.empty_like(rows)
    bias_grad = xp.zeros(features, dtype=rows.dtype)
    compiled(rows, kept, masked, bias_grad)
    wanted = bias is not None and bias.requires_grad
    return masked.reshape(out.shape), bias_grad if wanted else None


def _output_grad(g, out, bias, relu):
    """(the gradient of the product before the bias and the fused ReLU, dL/dbias) from g = dL/dout."""
    if not relu:
        return g, _bias_grad(g, bias)
    fused = g.through_relu() if isinstance(g, DeferredGradient) else None
    if fused is None:
        return _relu_grad(dense_gradient(g), out, bias)
    g, grad_bias = fused
    return g, grad_bias if bias is not None and bias.requires_grad else None


def _winograd_conv(x, kernel, bias, pads, out_shape, relu):
    """:func:`conv` of a 3x3 kernel at stride 1 by Winograd's F(4x4, 3x3) (:mod:`deepgrad.ops.winograd`)."""
    features = kernel.shape[-1]
    _check_bias(bias, features, "conv")
    plan = winograd.Winograd(x.shape, pads, out_shape, x.dtype)
    out, tiles, kernel_tiles = plan.forward(x.data, kernel.data, None if bias is None else bias.data, relu)
    tiles = tiles if kernel.requires_grad else None  # kept only for dW
    kernel_shape = kernel.shape

    def backward(g):
        g, grad_bias = _output_grad(g, out, bias, relu)
        grad_tiles = plan.output_grad_transform(g)
        grad_x = plan.input_grad(grad_tiles, kernel_tiles) if x.requires_grad else None
        grad_w = plan.kernel_grad(tiles, grad_tiles, kernel_shape) if kernel.requires_grad else None
        return grad_x, grad_w, grad_bias

    backward.accepts_deferred = relu
    parents = (x, kernel) if bias is None else (x, kernel, bias)
    return make_result(out, parents, backward, "conv")


@called_again
def conv(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1,
         data_format="channels_last", relu=False) -> Tensor:
    """N-d convolution (cross-correlation, as in every framework), channels-last.

    out[n, o, f] = sum_{k, c} x_padded[n, o*s + k*d, g(f)*C/G + c] W[k, c, f] + bias[f]
    for x (N, *spatial, C), kernel W (*kernel_size, C/G, F) and output (N, *out, F); the
    number of groups G = C / W.shape[-2] comes from the kernel (as in ``keras.ops.conv``):
    G = 1 is an ordinary convolution, G = C a depthwise one. ``padding`` is 'valid',
    'same' or (1-d) 'causal' with Keras's rules (:func:`conv_padding`).

    Computed by im2col and one matrix product (see the module docstring for the formulas
    and their cost). Backward: dW = cols^T g, dx = col2im(g W^T), dbias = sum of g.

    ``relu=True`` returns max(out, 0), the ReLU fused in: the bias and the ReLU are one
    in-place pass over the fresh product, and the backward masks g (g [out > 0]) and sums
    it for dbias in one pass, instead of three separate ops' passes over an array as
    large as the output (what a Conv2D layer with ``activation='relu'`` uses).
    """
    x = as_tensor(x)
    data_format = check_data_format(data_format)
    kernel, rank = _check_operands(x, kernel, None, "conv")
    check_rank(x, rank, "conv", data_format)
    if data_format == "channels_first":
        return to_channels_first(conv(to_channels_last(x), kernel, bias, strides, padding, dilation_rate,
                                      relu=relu))
    bias = None if bias is None else as_tensor(bias, like=x)
    channels, per_group, features = x.shape[-1], kernel.shape[-2], kernel.shape[-1]
    if channels % per_group:
        raise ValueError(f"conv: the input has {channels} channels, not a multiple of the kernel's "
                         f"{per_group} input channels per group (kernel shape {tuple(kernel.shape)}).")
    groups = channels // per_group
    if features % groups:
        raise ValueError(f"conv: {features} filters cannot be split into {groups} groups; "
                         "use a multiple of the number of groups.")
    kernel_size = tuple(kernel.shape[:rank])
    strides = as_tuple(strides, rank, "conv: strides")
    dilation_rate = as_tuple(dilation_rate, rank, "conv: dilation_rate")
    pads, out_shape = conv_padding(x.shape[1:-1], kernel_size, strides, dilation_rate, padding, "conv")
    geometry = _Geometry(kernel_size, strides, dilation_rate, out_shape, groups)
    training = is_grad_enabled() and (x.requires_grad or kernel.requires_grad)
    if winograd.applies(x.data, kernel.data, kernel_size, strides, dilation_rate, groups, out_shape, training):
        return _winograd_conv(x, kernel, bias, pads, out_shape, relu)
    padded = pad_spatial(x.data, pads)
    out, cols = geometry.forward(padded, kernel.data)
    out = _add_bias(out, bias, features, "conv", relu)
    kernel_data, padded_shape = kernel.data, padded.shape
    cols = cols if kernel.requires_grad else None  # kept only for dW

    def backward(g):
        grad_x = grad_w = None
        g, grad_bias = _output_grad(g, out, bias, relu)
        if x.requires_grad:
            grad_x = crop_spatial(geometry.input_grad(g, kernel_data, padded_shape), pads)
        if kernel.requires_grad:
            grad_w = geometry.kernel_grad(cols, g, kernel_data.shape)
        return grad_x, grad_w, grad_bias

    backward.accepts_deferred = relu  # a max pooling's gradient goes through the ReLU in one pass
    parents = (x, kernel) if bias is None else (x, kernel, bias)
    return make_result(out, parents, backward, "conv")


def depthwise_conv(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1,
                   data_format="channels_last") -> Tensor:
    """Depthwise convolution: each input channel convolved with its own ``m`` filters.

    kernel (*kernel_size, C, m) (Keras's layout); output channel c*m + j is channel c
    convolved with W[..., c, j]. It is :func:`conv` with G = C groups on the kernel
    reshaped to (*kernel_size, 1, C*m).
    """
    x = as_tensor(x)
    kernel, rank = _check_operands(x, kernel, None, "depthwise_conv")
    channels = x.shape[-1] if check_data_format(data_format) == "channels_last" else x.shape[1]
    if kernel.shape[-2] != channels:
        raise ValueError(f"depthwise_conv: the kernel {tuple(kernel.shape)} is for {kernel.shape[-2]} input "
                         f"channels, the input has {channels}.")
    flat = reshape(kernel, tuple(kernel.shape[:rank]) + (1, channels * kernel.shape[-1]))
    return conv(x, flat, bias, strides, padding, dilation_rate, data_format)


def conv_transpose_length(length, kernel_size, stride, padding, output_padding=None, dilation=1):
    """Keras's output length of a transposed convolution along one axis.

    With span = (k - 1) d + 1 and no output_padding: 'valid' n s + max(span - s, 0),
    'same' n s; with output_padding p: (n - 1) s + span - 2 pad + p, pad = span // 2
    for 'same' and 0 for 'valid'.
    """
    span = (kernel_size - 1) * dilation + 1
    if output_padding is None:
        return length * stride + (max(span - stride, 0) if padding == "valid" else 0)
    pad = span // 2 if padding == "same" else 0
    return (length - 1) * stride + span - 2 * pad + output_padding


@called_again
def conv_transpose(x, kernel, bias=None, strides=1, padding="valid", output_padding=None, dilation_rate=1,
                   data_format="channels_last") -> Tensor:
    """Transposed convolution: the gradient of :func:`conv` with respect to its input.

    For x (N, *n, C) and kernel W (*kernel_size, F, C) (Keras's layout), the output
    y (N, *L, F), L from :func:`conv_transpose_length`, is the y whose convolution
    ``conv(y, W, strides=s, padding=padding)`` has x's shape, and
    y = d/dy <conv(y, W), x>: ypad[n, o*s + k*d, f] += sum_c x[n, o, c] W[k, f, c], then
    the padding that conv would add to an input of length L is cut off (TensorFlow's
    rule, which places the extra 'same' element at the end).

    Forward: col2im(x W^T); backward: dx = conv(g_padded, W) (im2col and one matrix
    product), dW = cols(g_padded)^T x. Same costs as :func:`conv` with the roles swapped.
    """
    x = as_tensor(x)
    data_format = check_data_format(data_format)
    kernel, rank = _check_operands(x, kernel, None, "conv_transpose")
    check_rank(x, rank, "conv_transpose", data_format)
    if data_format == "channels_first":
        return to_channels_first(conv_transpose(to_channels_last(x), kernel, bias, strides, padding,
                                                output_padding, dilation_rate))
    bias = None if bias is None else as_tensor(bias, like=x)
    if kernel.shape[-1] != x.shape[-1]:
        raise ValueError(f"conv_transpose: the kernel {tuple(kernel.shape)} is for {kernel.shape[-1]} input "
                         f"channels (its last axis), the input has {x.shape[-1]}.")
    padding = str(padding).lower()
    if padding not in ("valid", "same"):
        raise ValueError(f"conv_transpose: unknown padding {padding!r}; expected 'valid' or 'same'.")
    kernel_size = tuple(kernel.shape[:rank])
    strides = as_tuple(strides, rank, "conv_transpose: strides")
    dilation_rate = as_tuple(dilation_rate, rank, "conv_transpose: dilation_rate")
    extra = (None,) * rank if output_padding is None else as_tuple(output_padding, rank,
                                                                    "conv_transpose: output_padding", 0)
    for p, s in zip(extra, strides):
        if p is not None and p >= s:
            raise ValueError(f"conv_transpose: output_padding {output_padding!r} must be smaller than the "
                             f"strides {strides}.")
    spatial = tuple(conv_transpose_length(n, k, s, padding, p, d)
                    for n, k, s, p, d in zip(x.shape[1:-1], kernel_size, strides, extra, dilation_rate))
    pads, check = conv_padding(spatial, kernel_size, strides, dilation_rate, padding, "conv_transpose")
    if check != tuple(x.shape[1:-1]):
        raise ValueError(f"conv_transpose: an output of spatial shape {spatial} would not convolve back to the "
                         f"input's {tuple(x.shape[1:-1])} (kernel {kernel_size}, strides {strides}, "
                         f"padding {padding!r}, output_padding {output_padding!r}); change output_padding.")
    features = kernel.shape[-2]
    geometry = _Geometry(kernel_size, strides, dilation_rate, tuple(x.shape[1:-1]), 1)
    padded_shape = (x.shape[0],) + tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pads)) + (features,)
    out = crop_spatial(geometry.input_grad(x.data, kernel.data, padded_shape), pads)
    out = _add_bias(namespace(out).ascontiguousarray(out), bias, features, "conv_transpose")
    x_data, kernel_data = x.data, kernel.data

    def backward(g):
        padded = pad_spatial(g, pads)
        grad_x = grad_w = None
        if x.requires_grad:
            grad_x, cols = geometry.forward(padded, kernel_data)
        if kernel.requires_grad:
            cols = geometry.grouped_cols(padded) if not x.requires_grad else cols
            # conv's dW with the roles swapped: the padded g is the input, x the output gradient
            grad_w = geometry.kernel_grad(cols, x_data, kernel_data.shape)
        return grad_x, grad_w, _bias_grad(g, bias)

    parents = (x, kernel) if bias is None else (x, kernel, bias)
    return make_result(out, parents, backward, "conv_transpose")
