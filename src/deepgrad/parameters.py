"""ParameterBuffer: many parameter tensors stored as views into one contiguous array.

A model's trainable weights live in two flat arrays (values and gradients); each
tensor's ``.data`` and gradient view are reshaped slices of them. Layers keep using
ordinary tensors, while an optimizer can update every weight with a few whole-array
passes (:mod:`deepgrad.optimizers.base`) instead of a Python loop over tensors.

The engine (:mod:`deepgrad.tensor`) knows nothing of this class: it only honours a
tensor's :attr:`~deepgrad.Tensor.grad_view`, the array backward writes the first
gradient of a walk into.
"""

from __future__ import annotations

import numpy as np

from . import backend


class ParameterBuffer:
    """Many parameter tensors stored as views into one contiguous array.

    ``data`` is a flat array holding every tensor's values back to back, ``grad`` a
    second one holding their gradients; each tensor's ``.data`` and ``.grad_view`` are
    reshaped views into them. Layers keep using ordinary tensors, while an optimizer
    can update all of them with a few passes over two flat arrays instead of a
    Python loop over tensors.

    ``slices[i]`` is the ``slice`` of the flat arrays that belongs to ``tensors[i]``.
    After :meth:`zero_grad` a tensor's ``.grad`` is None until backward writes its new
    gradient into its view and sets ``.grad`` to that view again.
    """

    def __init__(self, tensors, dtype=None):
        tensors = list(tensors)
        if not tensors:
            raise ValueError("ParameterBuffer needs at least one tensor.")
        devices = {t.device for t in tensors}
        if len(devices) != 1:
            raise ValueError(f"ParameterBuffer tensors must share one device, got {sorted(devices)}.")
        if len({id(t) for t in tensors}) != len(tensors):
            raise ValueError("ParameterBuffer got the same tensor twice; pass each tensor once.")
        if any(t.grad_view is not None for t in tensors):
            raise ValueError("a tensor can belong to only one ParameterBuffer.")
        if dtype is None:
            dtype = np.result_type(*[t.data.dtype for t in tensors])
        xp = backend.namespace(tensors[0].data)
        total = sum(int(t.data.size) for t in tensors)
        self.tensors = tensors
        self.data = xp.empty(total, dtype=dtype)
        self.grad = xp.zeros(total, dtype=dtype)
        self.slices = []
        self._data_views = []
        offset = 0
        for t in tensors:
            n = int(t.data.size)
            part = slice(offset, offset + n)
            data_view = self.data[part].reshape(t.data.shape)
            data_view[...] = t.data
            t.data = data_view
            self._data_views.append(data_view)
            grad_view = self.grad[part].reshape(t.data.shape)
            if t.grad is not None:
                grad_view[...] = t.grad
            t.grad_view = grad_view
            t.grad = grad_view
            self.slices.append(part)
            offset += n

    @property
    def size(self) -> int:
        return int(self.data.size)

    def owns(self, tensors) -> bool:
        """True when ``tensors`` are exactly this buffer's tensors, in order, still attached to it."""
        tensors = list(tensors)
        if len(tensors) != len(self.tensors):
            return False
        return all(mine is theirs and theirs.data is view
                   for mine, theirs, view in zip(self.tensors, tensors, self._data_views))

    def zero_grad(self) -> None:
        """Reset every tensor's gradient to None, as PyTorch's ``zero_grad(set_to_none=True)``.

        The flat ``grad`` array keeps its old values until backward writes each tensor's
        new gradient into its view (one copy instead of a pass of zeros plus an addition).
        Read gradients through the tensors, or through ``grad`` only when every tensor's
        ``.grad`` is its view again (what optimizers check before a flat update).
        """
        for t in self.tensors:
            t.grad = None

    def release(self) -> None:
        """Give each tensor its own arrays again (values copied, gradient and view reset).

        Called when the set of trainable weights changes and a new buffer replaces this one.
        """
        for t in self.tensors:
            t.data = t.data.copy()
            t.grad = None
            t.grad_view = None


__all__ = ["ParameterBuffer"]
