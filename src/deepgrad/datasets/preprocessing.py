"""Label encodings for NumPy data (the engine's ``deepgrad.one_hot`` does the work)."""

from __future__ import annotations

import numpy as np

from .. import backend
from ..ops.shape import one_hot as _one_hot_tensor


def one_hot(labels, num_classes=None, dtype=np.float32) -> np.ndarray:
    """One-hot rows as a NumPy array: out[i, labels[i]] = 1, every other entry 0.

    ``labels`` are integer class ids 0..K-1 of any shape (integral floats are accepted);
    ``num_classes`` defaults to max(labels) + 1. Returns ``dtype`` (float32) of shape
    labels.shape + (num_classes,). Same rules and errors as ``deepgrad.one_hot``, which
    returns a Tensor; this is the array for ``fit`` with a categorical cross-entropy.
    """
    return backend.to_numpy(_one_hot_tensor(np.asarray(labels), num_classes, dtype).data)
