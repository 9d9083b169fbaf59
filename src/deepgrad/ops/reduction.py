"""Reductions (sum, mean, max, min, var, std, prod) with ``axis`` and ``keepdims``.

The backward of a reduction re-inserts the reduced axes into g and broadcasts it
back over the input's shape.
"""

from __future__ import annotations

import numpy as np

from ..backend import namespace
from ..tensor import Tensor, as_tensor, make_result


def normalize_axis(axis, ndim):
    """``axis`` (None, int or tuple) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    normalized = []
    for ax in axes:
        if not -ndim <= ax < (ndim if ndim > 0 else 1):
            raise ValueError(f"axis {ax} is out of bounds for a tensor with {ndim} dimensions.")
        if ndim:  # a 0-d tensor accepts axis 0 or -1 (as PyTorch does) and reduces nothing
            normalized.append(ax % ndim)
    return tuple(sorted(set(normalized)))


def _expand(g, axes, keepdims, shape):
    """g with the reduced ``axes`` put back (size 1), ready to broadcast to ``shape``."""
    if not keepdims and axes:
        g = g.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))
    return g


def _count(shape, axes):
    count = 1
    for ax in axes:
        count *= shape[ax]
    return count


def sum(x, axis=None, keepdims=False) -> Tensor:
    """Sum over ``axis``.   d/dx_i = 1 for every summed element."""
    x = as_tensor(x)
    axes = normalize_axis(axis, x.ndim)
    out = x.data.sum(axis=axes, keepdims=keepdims)
    shape = x.shape

    def backward(g):
        return (namespace(g).broadcast_to(_expand(g, axes, keepdims, shape), shape),)

    return make_result(out, (x,), backward, "sum", _sum_into, (x, axes, keepdims))


def _sum_into(x, axes, keepdims, out):
    np.sum(x, axis=axes, keepdims=keepdims, out=out)


def _mean_into(x, axes, keepdims, out):
    np.mean(x, axis=axes, keepdims=keepdims, out=out)


def mean(x, axis=None, keepdims=False) -> Tensor:
    """Mean over ``axis``.   d/dx_i = 1/N."""
    x = as_tensor(x)
    axes = normalize_axis(axis, x.ndim)
    out = x.data.mean(axis=axes, keepdims=keepdims)
    shape = x.shape
    count = _count(shape, axes)

    def backward(g):
        return (namespace(g).broadcast_to(_expand(g, axes, keepdims, shape) / count, shape),)

    return make_result(out, (x,), backward, "mean", _mean_into, (x, axes, keepdims))


def _extreme(x, axis, keepdims, op):
    x = as_tensor(x)
    axes = normalize_axis(axis, x.ndim)
    if x.data.size == 0:
        raise ValueError(f"{op}() of an empty tensor is undefined.")
    kept = getattr(x.data, op)(axis=axes, keepdims=True)
    out = kept if keepdims else kept.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))
    x_data = x.data

    def backward(g):
        # the gradient flows to the extreme element(s), split evenly between ties
        hits = x_data == kept
        share = hits / hits.sum(axis=axes, keepdims=True)
        return (_expand(g, axes, keepdims, x_data.shape) * share,)

    return make_result(out, (x,), backward, op)


def max(x, axis=None, keepdims=False) -> Tensor:
    """Maximum over ``axis``. The gradient goes to the maximal element (split evenly on ties)."""
    return _extreme(x, axis, keepdims, "max")


def min(x, axis=None, keepdims=False) -> Tensor:
    """Minimum over ``axis``. The gradient goes to the minimal element (split evenly on ties)."""
    return _extreme(x, axis, keepdims, "min")


def var(x, axis=None, keepdims=False, ddof=0) -> Tensor:
    """Variance sum((x - mean)^2) / (N - ddof).   d/dx_i = 2 (x_i - mean) / (N - ddof)."""
    x = as_tensor(x)
    axes = normalize_axis(axis, x.ndim)
    x_data = x.data
    centered = x_data - x_data.mean(axis=axes, keepdims=True)
    dof = _count(x_data.shape, axes) - ddof
    out = (centered * centered).sum(axis=axes, keepdims=keepdims) / dof

    def backward(g):
        return (_expand(g, axes, keepdims, x_data.shape) * (2 / dof) * centered,)

    return make_result(out, (x,), backward, "var")


def std(x, axis=None, keepdims=False, ddof=0) -> Tensor:
    """Standard deviation sqrt(var).   d/dx_i = (x_i - mean) / ((N - ddof) std).

    Where std = 0 (all values equal, up to rounding) the gradient is taken as 0, as PyTorch does.
    """
    x = as_tensor(x)
    axes = normalize_axis(axis, x.ndim)
    x_data = x.data
    centered = x_data - x_data.mean(axis=axes, keepdims=True)
    dof = _count(x_data.shape, axes) - ddof
    kept = namespace(x_data).sqrt((centered * centered).sum(axis=axes, keepdims=True) / dof)
    out = kept if keepdims else kept.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))

    def backward(g):
        xp = namespace(g)
        # 1 / ((N - ddof) std), 0 where std = 0. Equal values can leave a std of pure rounding
        # noise (the mean of three 0.1s is not exactly 0.1): that counts as 0 too.
        noise = 8 * xp.finfo(kept.dtype).eps * xp.abs(x_data).max(axis=axes, keepdims=True)
        scale = xp.divide(1.0, dof * kept, out=xp.zeros_like(kept), where=kept > noise)
        return (_expand(g, axes, keepdims, x_data.shape) * centered * scale,)

    return make_result(out, (x,), backward, "std")


def prod(x, axis=None, keepdims=False) -> Tensor:
    """Product over ``axis``.   d/dx_i = product of the other elements (exact with zeros)."""
    x = as_tensor(x)
    axes = normalize_axis(axis, x.ndim)
    x_data = x.data
    out = x_data.prod(axis=axes, keepdims=keepdims)

    def backward(g):
        xp = namespace(g)
        kept_axes = [i for i in range(x_data.ndim) if i not in axes]
        order = kept_axes + list(axes)
        moved = xp.transpose(x_data, order)
        flat = moved.reshape(moved.shape[:len(kept_axes)] + (-1,))
        ones = xp.ones(flat.shape[:-1] + (1,), dtype=flat.dtype)
        # product of everything left of i times everything right of i
        left = xp.concatenate([ones, xp.cumprod(flat, axis=-1)[..., :-1]], axis=-1)
        right = xp.flip(xp.concatenate(
            [ones, xp.cumprod(xp.flip(flat, axis=-1), axis=-1)[..., :-1]], axis=-1), axis=-1)
        others = (left * right).reshape(moved.shape)
        inverse = [order.index(i) for i in range(x_data.ndim)]
        others = xp.transpose(others, inverse)
        return (_expand(g, axes, keepdims, x_data.shape) * others,)

    return make_result(out, (x,), backward, "prod")
