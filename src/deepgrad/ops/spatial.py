"""Spatial resampling of (N, *spatial, C) tensors: up-sampling, zero-padding and cropping.

Up-sampling by integer factors is linear along each spatial axis separately:

    nearest   each value repeated s times: a broadcast view (N, n, 1, ..., C) -> (N, n, s, ..., C)
              reshaped (one copy of the output); backward sums g over the s copies of each value
    bilinear  (linear along every spatial axis; Keras offers it for 2-d) out = A x along the
              axis, A the (n s, n) interpolation matrix with at most two non-zeros per row, one
              matrix product per axis (2 (n s) n N C' flops for the other axes' sizes C'), A^T g
              in the backward. A dense A costs n * n s entries, small for image sizes, and turns
              the gather-and-blend into one BLAS call with an exact, scatter-free adjoint.

Padding and cropping are the existing differentiable :func:`~deepgrad.ops.shape.pad` and
slicing on the spatial axes.
"""

from __future__ import annotations

import numpy as np

from ..backend import namespace
from ..tensor import Tensor, as_tensor, make_result
from .convolution import as_tuple, check_data_format, check_rank, spatial_axes
from .shape import getitem, pad


def _prepare(x, data_format, op):
    x = as_tensor(x)
    data_format = check_data_format(data_format)
    check_rank(x, None, op, data_format)
    return x, data_format, spatial_axes(x, data_format)


def repeat_nearest(x, sizes, axes) -> Tensor:
    """x with every element repeated ``sizes[i]`` times along ``axes[i]`` (nearest up-sampling).

    Backward: g reshaped to (..., n, s, ...) and summed over the s copies.
    """
    x = as_tensor(x)
    xp = namespace(x.data)
    expanded, grouped, target, copies = [], [], [], []
    for axis, n in enumerate(x.shape):
        expanded.append(n)
        grouped.append(n)
        target.append(n)
        if axis in axes:
            s = sizes[axes.index(axis)]
            copies.append(len(grouped))
            expanded.append(1)
            grouped.append(s)
            target[-1] = n * s
    out = xp.broadcast_to(x.data.reshape(expanded), grouped).reshape(target)
    copies, shape = tuple(copies), x.shape

    def backward(g):
        return (g.reshape(grouped).sum(axis=copies).reshape(shape),)

    return make_result(out, (x,), backward, "repeat_nearest")


def linear_interpolation_matrix(n_in, n_out):
    """The (n_out, n_in) matrix of half-pixel linear resizing (tf.image.resize 'bilinear', one axis).

    Output i samples the input at t = (i + 1/2) n_in / n_out - 1/2 and blends its two
    neighbours floor(t) and floor(t) + 1 with weights 1 - frac(t) and frac(t), indices
    clamped to [0, n_in - 1] (so the borders repeat the edge value).
    """
    position = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    low = np.floor(position)
    weight = position - low
    low = low.astype(int)
    matrix = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(matrix, (rows, np.clip(low, 0, n_in - 1)), 1 - weight)  # once per resize, tiny
    np.add.at(matrix, (rows, np.clip(low + 1, 0, n_in - 1)), weight)
    return matrix


def linear_map_along_axis(x, matrix, axis) -> Tensor:
    """out = matrix applied along ``axis``: out[.., i, ..] = sum_j matrix[i, j] x[.., j, ..].

    One matrix product (tensordot); backward: the same with matrix^T.
    """
    x = as_tensor(x)
    xp = namespace(x.data)
    matrix = xp.asarray(matrix, dtype=x.dtype)

    def apply(m, data):
        return xp.ascontiguousarray(xp.moveaxis(xp.tensordot(m, data, axes=(1, axis)), 0, axis))

    out = apply(matrix, x.data)

    def backward(g):
        return (apply(matrix.T, g),)

    return make_result(out, (x,), backward, "linear_map_along_axis")


def upsample(x, size=2, interpolation="nearest", data_format="channels_last") -> Tensor:
    """Up-sample the spatial axes by integer factors ``size`` (Keras's UpSampling1D/2D/3D).

    'nearest' repeats every value; 'bilinear' (any number of spatial axes) interpolates
    linearly along each with half-pixel centres, as ``tf.image.resize`` (Keras's
    UpSampling2D) and ``torch.nn.functional.interpolate(mode='bilinear',
    align_corners=False)`` do.
    """
    x, data_format, axes = _prepare(x, data_format, "upsample")
    sizes = as_tuple(size, len(axes), "upsample: size")
    interpolation = str(interpolation).lower()
    if interpolation == "nearest":
        return repeat_nearest(x, sizes, axes)
    if interpolation == "bilinear":
        out = x
        for axis, s in zip(axes, sizes):
            if s != 1:
                matrix = linear_interpolation_matrix(x.shape[axis], x.shape[axis] * s)
                out = linear_map_along_axis(out, matrix, axis)
        return out
    raise ValueError(f"upsample: unknown interpolation {interpolation!r}; expected 'nearest' or 'bilinear'.")


def spatial_pairs(value, rank, name):
    """Keras's padding/cropping argument as ((lo, hi), ...) per spatial axis.

    An int is the same on every side; for 1-d a pair is (start, end); for more axes a
    tuple of ``rank`` ints is symmetric per axis and a tuple of ``rank`` pairs is explicit.
    """
    def error():
        return ValueError(f"{name} must be an int, a tuple of {rank} ints or a tuple of {rank} (lo, hi) pairs"
                          + (" (for 1-d, an int or one (start, end) pair)" if rank == 1 else "")
                          + f", with no negative values; got {value!r}.")

    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pairs = ((int(value), int(value)),) * rank
    else:
        try:
            items = tuple(value)
        except TypeError:
            raise error() from None
        if rank == 1 and len(items) == 2 and all(isinstance(v, (int, np.integer)) for v in items):
            pairs = ((int(items[0]), int(items[1])),)
        elif len(items) == rank and all(isinstance(v, (int, np.integer)) for v in items):
            pairs = tuple((int(v), int(v)) for v in items)
        elif len(items) == rank and all(not isinstance(v, (int, np.integer)) and len(v) == 2 for v in items):
            pairs = tuple((int(lo), int(hi)) for lo, hi in items)
        else:
            raise error()
    if any(v < 0 for pair in pairs for v in pair):
        raise error()
    return pairs


def zero_pad(x, padding=1, data_format="channels_last") -> Tensor:
    """Zeros added around the spatial axes (Keras's ZeroPadding1D/2D/3D ``padding`` forms).

    Backward: the un-padded slice of g (it is :func:`~deepgrad.ops.shape.pad`).
    """
    x, data_format, axes = _prepare(x, data_format, "zero_pad")
    pairs = spatial_pairs(padding, len(axes), "zero_pad: padding")
    widths = [(0, 0)] * x.ndim
    for axis, pair in zip(axes, pairs):
        widths[axis] = pair
    return pad(x, widths)


def crop(x, cropping=1, data_format="channels_last") -> Tensor:
    """The spatial axes with ``cropping`` elements cut from each side (Keras's Cropping1D/2D/3D forms).

    Backward: g placed back inside zeros (a slice).
    """
    x, data_format, axes = _prepare(x, data_format, "crop")
    pairs = spatial_pairs(cropping, len(axes), "crop: cropping")
    index = [slice(None)] * x.ndim
    for axis, (lo, hi) in zip(axes, pairs):
        if lo + hi >= x.shape[axis]:
            raise ValueError(f"crop: cropping {lo} + {hi} elements leaves nothing of spatial axis {axis} "
                             f"(length {x.shape[axis]}) of an input of shape {tuple(x.shape)}.")
        index[axis] = slice(lo, x.shape[axis] - hi)
    return getitem(x, tuple(index))
