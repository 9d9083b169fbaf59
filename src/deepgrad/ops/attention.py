"""The masked softmax of attention, forward beside backward.

Attention turns scores into weights with a softmax over the keys, where some keys
must get no weight at all (padding, future positions under a causal mask). Done with
plain ops that is three graph nodes (add a large negative number, softmax, multiply by
the mask) and two saved arrays; here it is one node that keeps only its output.
"""

from __future__ import annotations

import numpy as np

from ..backend import namespace
from ..tensor import Tensor, as_tensor, make_result


def _large_negative(dtype) -> float:
    # Keras' choice: -1e9, or float16's largest finite magnitude
    return -65504.0 if dtype.itemsize == 2 else -1e9


def masked_softmax(x, mask=None, axis=-1) -> Tensor:
    """softmax(x) along ``axis`` where ``mask`` is True, 0 where it is False (Keras 3's Softmax with a mask).

    p = softmax(x + (1 - m) * (-1e9)), out = p * m, with m the boolean ``mask``
    broadcast to x's shape. A row whose mask is all False gives zeros (not a uniform
    row). Backward: dL/dx = out * (g - sum(g * out)) along ``axis``, the softmax
    derivative at out; it is also exact for all-False rows (both sides are 0) and
    sends nothing to masked entries. ``mask=None`` is a plain softmax.
    """
    x = as_tensor(x)
    xp = namespace(x.data)
    keep = None
    if mask is not None:
        keep = mask.data if isinstance(mask, Tensor) else xp.asarray(mask)
    out = _masked_softmax_data(xp, x.data, keep, axis)

    def backward(g):
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)

    return make_result(out, (x,), backward, "masked_softmax", _masked_softmax_into, (x, keep, axis))


def _masked_softmax_data(xp, data, keep, axis):
    if keep is not None:
        keep = keep.astype(bool, copy=False)
        try:
            data = xp.where(keep, data, data.dtype.type(_large_negative(data.dtype)))
        except ValueError:
            raise ValueError(
                f"masked_softmax: a mask of shape {tuple(keep.shape)} does not broadcast to scores of "
                f"shape {tuple(data.shape)}."
            ) from None
    out = xp.exp(data - data.max(axis=axis, keepdims=True))
    out /= out.sum(axis=axis, keepdims=True)
    if keep is not None:
        out *= keep
    return out


def _masked_softmax_into(x, keep, axis, out):
    np.copyto(out, _masked_softmax_data(np, x, keep, axis))
