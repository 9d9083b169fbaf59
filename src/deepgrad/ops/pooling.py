"""Max and average pooling (N-d, channels-last) and global pooling, forward beside backward.

A pooling window of size k (K = prod k positions) with strides s reads, at kernel offset
j, the strided slice x[:, j : j + (out - 1) s + 1 : s] of the padded input: the same
slices as a convolution's col2im (:func:`~deepgrad.ops.convolution.offset_slices`).
Both directions are a loop over the K offsets (4 for a 2x2 pool), each an elementwise
operation on every sample, position and channel at once, M*C elements for M = N * prod(out)
output positions:

    max      out = max_j slice_j, keeping the first offset that reaches it (an index of
             M*C bytes); backward: dx[slice_j] += g where index == j, handed on as a
             :class:`PooledGradient` (a ReLU convolution before the pooling takes it through its
             ReLU in one pass; any other consumer gets the dense dx)
    average  out = sum_j slice_j / count; backward: dx[slice_j] += g / count

That is K*M*C reads and no copy of the windows (im2col would copy K*M*C elements to
then reduce them) and no ``np.add.at``. Padding follows Keras/TensorFlow: 'same' pads
with the extra element at the end; padded positions never win a max and are not counted
in an average (TensorFlow's rule: a 'same' average divides by the number of real inputs
in each window).
"""

from __future__ import annotations

import numpy as np

from ..backend import namespace
from ..tensor import DeferredGradient, Tensor, as_tensor, deferred_gradient, make_result
from . import kernels
from .convolution import (
    as_tuple,
    check_data_format,
    check_rank,
    conv_padding,
    crop_spatial,
    offset_slices,
    pad_spatial,
    spatial_axes,
    to_channels_first,
    to_channels_last,
)
from .reduction import max as reduce_max
from .reduction import mean
from .replay import called_again


def _pool_geometry(x, pool_size, strides, padding, op):
    rank = x.ndim - 2
    pool_size = as_tuple(pool_size, rank, f"{op}: pool_size")
    strides = pool_size if strides is None else as_tuple(strides, rank, f"{op}: strides")
    if str(padding).lower() not in ("valid", "same"):
        raise ValueError(f"{op}: unknown padding {padding!r}; expected 'valid' or 'same'.")
    pads, out_shape = conv_padding(x.shape[1:-1], pool_size, strides, (1,) * rank, padding, op)
    return pool_size, strides, pads, out_shape


def _prepare(x, data_format, op):
    x = as_tensor(x)
    data_format = check_data_format(data_format)
    check_rank(x, None, op, data_format)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{op}: expected a floating point input, got dtype {x.dtype}.")
    return x, data_format


def _max_pool_numpy(xp, padded, pool_size, strides, out_shape, index_dtype):
    """The window maximum and the index of its first maximal offset: a loop over the K offsets."""
    out = index = None
    for k, (_, window) in enumerate(offset_slices(pool_size, strides, (1,) * len(pool_size), out_shape)):
        values = padded[(slice(None),) + window]
        if out is None:
            out = values.copy()
            index = xp.zeros(out.shape, dtype=index_dtype)
            continue
        better = values > out
        xp.copyto(out, values, where=better)
        xp.copyto(index, k, where=better)
    return out, index


def _max_pool_compiled(compiled, padded, pool_size, strides, out_shape, index_dtype):
    """:func:`_max_pool_numpy` as one compiled pass (:mod:`deepgrad.ops.kernels`)."""
    rank3 = kernels.rank3
    n, channels = padded.shape[0], padded.shape[-1]
    shape = (n,) + rank3(out_shape) + (channels,)
    out, index = np.empty(shape, padded.dtype), np.empty(shape, index_dtype)
    compiled(padded.reshape((n,) + rank3(padded.shape[1:-1]) + (channels,)), out, index, *rank3(pool_size),
             *rank3(strides))
    full = (n,) + tuple(out_shape) + (channels,)
    return out.reshape(full), index.reshape(full)


@called_again
def max_pool(x, pool_size, strides=None, padding="valid", data_format="channels_last") -> Tensor:
    """Max pooling: out[n, o, c] = max over the window at o*s of x[n, ., c].

    x (N, *spatial, C); ``strides`` default to ``pool_size`` (Keras). The gradient goes
    to the first maximal element of each window (row-major order, as PyTorch and
    TensorFlow do); overlapping windows add up.
    """
    x, data_format = _prepare(x, data_format, "max_pool")
    if data_format == "channels_first":
        return to_channels_first(max_pool(to_channels_last(x), pool_size, strides, padding))
    pool_size, strides, pads, out_shape = _pool_geometry(x, pool_size, strides, padding, "max_pool")
    xp = namespace(x.data)
    padded = pad_spatial(x.data, pads, value=-np.inf)
    index_dtype = np.uint8 if np.prod(pool_size) <= 255 else np.int32
    compiled = kernels.kernel("max_pool", padded)
    if compiled is not None:
        out, index = _max_pool_compiled(compiled, padded, pool_size, strides, out_shape, index_dtype)
    else:
        out, index = _max_pool_numpy(xp, padded, pool_size, strides, out_shape, index_dtype)
    padded_shape = padded.shape

    def backward(g):
        return (PooledGradient(g, index, out, pool_size, strides, pads, padded_shape),)

    return make_result(out, (x,), backward, "max_pool")


@deferred_gradient
class PooledGradient(DeferredGradient):
    """The gradient of a max pooling's input, kept as the pooled gradient and its window maxima.

    dx[n, o s + j, c] = g[n, o, c] at the offset j = index[n, o, c] of each window's first
    maximum, 0 elsewhere (:meth:`materialize`). A ReLU just before the pooling (a
    convolution with ``relu=True``) takes it through :meth:`through_relu` in one pass:
    the ReLU's derivative at a window's maximum is [pooled > 0], so the masked gradient
    and its per-channel sums (the bias gradient) come from the small pooled arrays.
    """

    __slots__ = ("g", "index", "pooled", "pool_size", "strides", "pads", "padded_shape")

    def __init__(self, g, index, pooled, pool_size, strides, pads, padded_shape):
        self.g, self.index, self.pooled = g, index, pooled
        self.pool_size, self.strides, self.pads, self.padded_shape = pool_size, strides, pads, padded_shape

    @property
    def shape(self):
        cropped = tuple(n - lo - hi for n, (lo, hi) in zip(self.padded_shape[1:-1], self.pads))
        return (self.padded_shape[0],) + cropped + (self.padded_shape[-1],)

    def materialize(self):
        xp = namespace(self.g)
        grad = xp.zeros(self.padded_shape, dtype=self.g.dtype)
        g = xp.ascontiguousarray(self.g)  # a broadcast g (from a sum) is one small copy away from the compiled loop
        out_shape = g.shape[1:-1]
        compiled = kernels.kernel("max_pool_grad", g, grad)
        if compiled is not None:
            rank3 = kernels.rank3
            n, channels = g.shape[0], g.shape[-1]
            shape = (n,) + rank3(out_shape) + (channels,)
            target = grad.reshape((n,) + rank3(self.padded_shape[1:-1]) + (channels,))
            compiled(g.reshape(shape), self.index.reshape(shape), target, *rank3(self.pool_size),
                     *rank3(self.strides))
            return crop_spatial(grad, self.pads)
        windows = offset_slices(self.pool_size, self.strides, (1,) * len(self.pool_size), out_shape)
        for k, (_, window) in enumerate(windows):
            grad[(slice(None),) + window] += xp.where(self.index == k, g, 0)
        return crop_spatial(grad, self.pads)

    def through_relu(self):
        """(dx [x > 0], its sums over every axis but the channels) for x = max(z, 0) pooled here, or None.

        One compiled pass that writes every element of dx once (no zeros pass, no mask pass);
        it applies to windows that do not overlap (strides equal to the pool size) without
        padding. None where it does not apply: the caller then masks :meth:`materialize`'s array.
        """
        if self.strides != self.pool_size or any(lo or hi for lo, hi in self.pads):
            return None
        xp = namespace(self.g)
        g = xp.ascontiguousarray(self.g)
        grad = xp.empty(self.padded_shape, dtype=g.dtype)
        compiled = kernels.kernel("pooled_relu_grad", g, self.pooled, grad)
        if compiled is None:
            return None
        rank3 = kernels.rank3
        n, channels = g.shape[0], g.shape[-1]
        out_shape = g.shape[1:-1]
        covered = tuple(o * k for o, k in zip(out_shape, self.pool_size))
        for axis, (length, size) in enumerate(zip(covered, self.padded_shape[1:-1])):
            if length < size:  # the rows (columns) that no window reads get no gradient
                grad[(slice(None),) * (axis + 1) + (slice(length, None),)] = 0
        bias_grad = xp.zeros(channels, dtype=g.dtype)
        shape = (n,) + rank3(out_shape) + (channels,)
        compiled(g.reshape(shape), self.index.reshape(shape), self.pooled.reshape(shape),
                 grad.reshape((n,) + rank3(self.padded_shape[1:-1]) + (channels,)), bias_grad,
                 *rank3(self.pool_size))
        return grad, bias_grad


@called_again
def average_pool(x, pool_size, strides=None, padding="valid", data_format="channels_last") -> Tensor:
    """Average pooling: out[n, o, c] = mean of x[n, ., c] over the real inputs of the window at o*s.

    x (N, *spatial, C); ``strides`` default to ``pool_size``. With 'same' padding, windows
    that reach into the padding divide by the number of real inputs they cover (TensorFlow's
    rule). Backward: each input in a window receives g / count.
    """
    x, data_format = _prepare(x, data_format, "average_pool")
    if data_format == "channels_first":
        return to_channels_first(average_pool(to_channels_last(x), pool_size, strides, padding))
    pool_size, strides, pads, out_shape = _pool_geometry(x, pool_size, strides, padding, "average_pool")
    xp = namespace(x.data)
    padded = pad_spatial(x.data, pads)
    slices = [window for _, window in offset_slices(pool_size, strides, (1,) * len(pool_size), out_shape)]
    total = padded[(slice(None),) + slices[0]].copy()
    for window in slices[1:]:
        total += padded[(slice(None),) + window]
    if any(lo or hi for lo, hi in pads):
        # real inputs per window: the same sums over a padded field of ones, (1, *out, 1)
        ones = pad_spatial(xp.ones((1,) + tuple(x.shape[1:-1]) + (1,), dtype=x.dtype), pads)
        count = sum(ones[(slice(None),) + window] for window in slices)
    else:
        count = float(np.prod(pool_size))
    out = total / count
    padded_shape = padded.shape

    def backward(g):
        share = g / count
        grad = xp.zeros(padded_shape, dtype=g.dtype)
        for window in slices:
            grad[(slice(None),) + window] += share
        return (crop_spatial(grad, pads),)

    return make_result(out, (x,), backward, "average_pool")


def global_average_pool(x, data_format="channels_last", keepdims=False) -> Tensor:
    """The mean over all spatial axes: (N, *spatial, C) -> (N, C) (a :func:`mean`)."""
    x, data_format = _prepare(x, data_format, "global_average_pool")
    return mean(x, axis=spatial_axes(x, data_format), keepdims=keepdims)


def global_max_pool(x, data_format="channels_last", keepdims=False) -> Tensor:
    """The maximum over all spatial axes: (N, *spatial, C) -> (N, C) (a :func:`max`; ties share g)."""
    x, data_format = _prepare(x, data_format, "global_max_pool")
    return reduce_max(x, axis=spatial_axes(x, data_format), keepdims=keepdims)
