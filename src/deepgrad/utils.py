"""Utilities of the Keras ``keras.utils`` namespace: :class:`PyDataset`.

This module imports only NumPy, so ``import deepgrad`` stays light.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PyDataset"]


class PyDataset:
    """Base class for a dataset that hands out whole batches by index (Keras 3's ``keras.utils.PyDataset``).

    Subclasses implement ``__len__`` (the number of batches per epoch) and
    ``__getitem__(index)`` returning ``x``, ``(x, y)`` or ``(x, y, sample_weight)`` for
    batch ``index``; they may override ``on_epoch_begin``/``on_epoch_end`` (called around
    every epoch, e.g. to reshuffle). ``workers``, ``use_multiprocessing`` and
    ``max_queue_size`` are accepted for Keras compatibility; deepgrad loads batches
    sequentially in the training process.

    >>> class Squares(PyDataset):
    ...     def __init__(self, **kwargs):
    ...         super().__init__(**kwargs)
    ...     def __len__(self):
    ...         return 4
    ...     def __getitem__(self, index):
    ...         x = np.arange(8.0).reshape(4, 2) + index
    ...         return x, x ** 2
    >>> len(Squares())
    4
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        for name, value in (("workers", workers), ("max_queue_size", max_queue_size)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"PyDataset: {name} must be a positive integer, got {value!r}.")
        self._workers = int(workers)
        self._use_multiprocessing = bool(use_multiprocessing)
        self._max_queue_size = int(max_queue_size)

    @property
    def workers(self) -> int:
        """Number of loading workers requested (batches are loaded sequentially all the same)."""
        return getattr(self, "_workers", 1)

    @property
    def use_multiprocessing(self) -> bool:
        """Whether process workers were requested (accepted for Keras compatibility)."""
        return getattr(self, "_use_multiprocessing", False)

    @property
    def max_queue_size(self) -> int:
        """Prefetch queue length requested (accepted for Keras compatibility)."""
        return getattr(self, "_max_queue_size", 10)

    @property
    def num_batches(self):
        """Batches per epoch: ``len(self)``, or None when ``__len__`` is not implemented."""
        try:
            return len(self)
        except (NotImplementedError, TypeError):
            return None

    def __getitem__(self, index):
        """Batch ``index``: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index).")

    def __len__(self):
        """Number of batches in one epoch."""
        raise NotImplementedError(f"{type(self).__name__} must implement __len__().")

    def on_epoch_begin(self):
        """Called at the start of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""
