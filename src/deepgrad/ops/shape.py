"""Shape operations and indexing: the gradient is routed back to where each value came from."""

from __future__ import annotations

import numpy as np

from ..backend import namespace
from ..tensor import Tensor, as_tensor, make_result
from .reduction import normalize_axis
from .replay import view

_RESHAPE, _TRANSPOSE, _BROADCAST = view(np.reshape), view(np.transpose), view(np.broadcast_to)
_SQUEEZE, _EXPAND, _INDEX = view(np.squeeze), view(np.expand_dims), view(lambda x, index: x[index])


def _shape_args(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(x, *shape) -> Tensor:
    """The same values with a new shape.   Backward: reshape g to the input's shape."""
    x = as_tensor(x)
    shape = _shape_args(shape)
    try:
        out = x.data.reshape(shape)
    except ValueError:
        raise ValueError(
            f"reshape: cannot reshape a tensor of shape {tuple(x.shape)} ({x.size} elements) "
            f"into shape {shape}."
        ) from None
    source = x.shape

    def backward(g):
        return (g.reshape(source),)

    return make_result(out, (x,), backward, "reshape", _RESHAPE, (x, shape))


def transpose(x, *dims, axes=None) -> Tensor:
    """Permute axes (reverse them when none are given; ``axes=`` as NumPy and keras.ops name them).

    Backward: the inverse permutation.
    """
    x = as_tensor(x)
    axes = _shape_args(dims) if axes is None else tuple(axes)
    if not axes:
        axes = tuple(reversed(range(x.ndim)))
    if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of {x.ndim} axes.")
    axes = tuple(a % x.ndim for a in axes)
    inverse = tuple(np.argsort(axes))
    out = x.data.transpose(axes)

    def backward(g):
        return (g.transpose(inverse),)

    return make_result(out, (x,), backward, "transpose", _TRANSPOSE, (x, axes))


permute = transpose


def broadcast_to(x, shape) -> Tensor:
    """x repeated along broadcast axes.   Backward: sum g over those axes."""
    x = as_tensor(x)
    shape = tuple(shape)
    try:
        out = namespace(x.data).broadcast_to(x.data, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast shape {tuple(x.shape)} to {shape}.") from None

    def backward(g):
        return (g,)  # the engine's unbroadcast sums g back to x's shape

    return make_result(out, (x,), backward, "broadcast_to", _BROADCAST, (x, shape))


def squeeze(x, axis=None) -> Tensor:
    """Remove axes of length 1.   Backward: reshape g back."""
    x = as_tensor(x)
    if axis is not None:
        for ax in normalize_axis(axis, x.ndim):
            if x.shape[ax] != 1:
                raise ValueError(f"squeeze: axis {ax} has length {x.shape[ax]}, not 1.")
    out = x.data.squeeze(axis)
    source = x.shape

    def backward(g):
        return (g.reshape(source),)

    return make_result(out, (x,), backward, "squeeze", _SQUEEZE, (x, axis))


def unsqueeze(x, axis) -> Tensor:
    """Insert an axis of length 1 at ``axis``.   Backward: reshape g back."""
    x = as_tensor(x)
    out = namespace(x.data).expand_dims(x.data, axis)
    source = x.shape

    def backward(g):
        return (g.reshape(source),)

    return make_result(out, (x,), backward, "unsqueeze", _EXPAND, (x, axis))


expand_dims = unsqueeze


def concatenate(tensors, axis=0) -> Tensor:
    """Join tensors along an existing axis.   Backward: split g into the input pieces."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate needs at least one tensor.")
    xp = namespace(tensors[0].data)
    try:
        out = xp.concatenate([t.data for t in tensors], axis=axis)
    except ValueError as err:
        raise ValueError(
            f"concatenate: shapes {[tuple(t.shape) for t in tensors]} must match except along "
            f"axis {axis}. ({err})"
        ) from None
    ax = axis % out.ndim
    bounds = [int(b) for b in np.cumsum([t.shape[ax] for t in tensors])[:-1]]  # ints: CuPy splits at a list

    def backward(g):
        return tuple(xp.split(g, bounds, axis=ax))

    return make_result(out, tuple(tensors), backward, "concatenate", _concatenate_into, (ax, *tensors))


def _concatenate_into(axis, *arrays, out):
    np.concatenate(arrays, axis=axis, out=out)


def _stack_into(axis, *arrays, out):
    np.stack(arrays, axis=axis, out=out)


def stack(tensors, axis=0) -> Tensor:
    """Join same-shaped tensors along a new axis.   Backward: take each slice of g."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack needs at least one tensor.")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}.")
    xp = namespace(tensors[0].data)
    out = xp.stack([t.data for t in tensors], axis=axis)
    ax = axis % out.ndim

    def backward(g):
        return tuple(xp.take(g, i, axis=ax) for i in range(len(tensors)))

    return make_result(out, tuple(tensors), backward, "stack", _stack_into, (ax, *tensors))


def split(x, indices_or_sections, axis=0) -> list:
    """Split into pieces along ``axis`` (as numpy.split); each piece is differentiable."""
    x = as_tensor(x)
    ax = axis % x.ndim
    length = x.shape[ax]
    if isinstance(indices_or_sections, int):
        if indices_or_sections <= 0 or length % indices_or_sections:
            raise ValueError(
                f"split: axis {ax} of length {length} cannot be split into {indices_or_sections} "
                "equal sections; pass split points instead."
            )
        step = length // indices_or_sections
        bounds = list(range(step, length, step))
    else:
        bounds = list(indices_or_sections)
    edges = [0] + bounds + [length]
    pieces = []
    for start, stop in zip(edges[:-1], edges[1:]):
        index = (slice(None),) * ax + (slice(start, stop),)
        pieces.append(getitem(x, index))
    return pieces


def plain_index(index):
    """An index with any tensors in it replaced by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def index_on(index, data):
    """``index`` with its host index arrays moved to ``data``'s device (none move on the CPU)."""
    xp = namespace(data)
    if xp is np:
        return index

    def move(part):
        return xp.asarray(part) if isinstance(part, np.ndarray) and namespace(part) is np else part

    return tuple(move(p) for p in index) if isinstance(index, tuple) else move(index)


def _is_basic(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice, np.integer)) for p in parts)


def getitem(x, index) -> Tensor:
    """Slicing and integer/boolean/fancy indexing.

    Backward: g is scattered into zeros of the input's shape; with fancy indexing,
    repeated indices accumulate (np.add.at).
    """
    x = as_tensor(x)
    index = index_on(plain_index(index), x.data)
    try:
        out = x.data[index]
    except IndexError as err:
        raise IndexError(f"index {index!r} is invalid for a tensor of shape {tuple(x.shape)}: {err}") from None
    shape, dtype = x.shape, x.dtype
    basic = _is_basic(index)

    def backward(g):
        xp = namespace(g)
        grad = xp.zeros(shape, dtype=dtype)
        if basic:
            grad[index] = g
        else:
            xp.add.at(grad, index, g)
        return (grad,)

    # fancy indices are arrays a replay could not refresh: only basic indexing is replayed
    return make_result(out, (x,), backward, "getitem", _INDEX if basic else None, (x, index))


def pad(x, pad_width, constant_values=0) -> Tensor:
    """Pad with a constant (numpy.pad's ``pad_width``).   Backward: the un-padded slice of g."""
    x = as_tensor(x)
    xp = namespace(x.data)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=int), (x.ndim, 2))
    if (widths < 0).any():
        raise ValueError(f"pad: widths must be non-negative, got {pad_width!r}.")
    out = xp.pad(x.data, [tuple(w) for w in widths], mode="constant", constant_values=constant_values)
    inner = tuple(slice(int(lo), int(lo) + n) for (lo, _), n in zip(widths, x.shape))

    def backward(g):
        return (g[inner],)

    return make_result(out, (x,), backward, "pad")


def along_axis_index(indices, axis):
    """A full fancy index selecting ``indices`` along ``axis`` and every position elsewhere."""
    xp = namespace(indices)
    index = []
    for dim, size in enumerate(indices.shape):
        if dim == axis:
            index.append(indices)
        else:
            shape = [1] * indices.ndim
            shape[dim] = size
            index.append(xp.arange(size).reshape(shape))
    return tuple(index)


def take_along_axis(x, indices, axis) -> Tensor:
    """out[..., i, ...] = x[..., indices[..., i, ...], ...] (numpy.take_along_axis, torch.gather).

    Backward: g is added back at the gathered positions (repeats accumulate).
    """
    x = as_tensor(x)
    indices = indices.data if isinstance(indices, Tensor) else namespace(x.data).asarray(indices)
    if not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(f"take_along_axis: indices must be integers, got dtype {indices.dtype}.")
    ax = axis % x.ndim
    out = namespace(x.data).take_along_axis(x.data, indices, axis=ax)
    shape, dtype = x.shape, x.dtype

    def backward(g):
        xp = namespace(g)
        grad = xp.zeros(shape, dtype=dtype)
        xp.add.at(grad, along_axis_index(indices, ax), g)
        return (grad,)

    return make_result(out, (x,), backward, "take_along_axis")


def gather(x, axis, index) -> Tensor:
    """PyTorch's name for :func:`take_along_axis` (argument order of torch.gather)."""
    return take_along_axis(x, index, axis)


def one_hot(labels, num_classes=None, dtype=np.float32) -> Tensor:
    """Encode integer class ids as one-hot rows: out[i, labels[i]] = 1 (no gradient)."""
    data = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    xp = namespace(data)
    if not np.issubdtype(data.dtype, np.integer):
        if np.issubdtype(data.dtype, np.floating) and data.size and (data == xp.round(data)).all():
            data = data.astype(np.int64)
        else:
            raise TypeError(f"one_hot expects integer class ids, got dtype {data.dtype}.")
    if data.size and data.min() < 0:
        raise ValueError("one_hot: class ids must be non-negative.")
    if num_classes is None:
        num_classes = int(data.max()) + 1 if data.size else 0
    elif data.size and int(data.max()) >= num_classes:
        raise ValueError(f"one_hot: class id {int(data.max())} is out of range for {num_classes} classes.")
    out = xp.zeros(data.shape + (num_classes,), dtype=dtype)
    xp.put_along_axis(out, data[..., None], 1, axis=-1)
    return Tensor(out)
