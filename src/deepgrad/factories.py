"""Tensor constructors: zeros, ones, full, arange, eye, and seeded random tensors."""

from __future__ import annotations

import numpy as np

from . import backend
from .tensor import DEFAULT_FLOAT, Tensor


def _make(array, requires_grad, device):
    if device is not None or backend.get_default_device() != "cpu":
        array = backend.to_device(array, device or backend.get_default_device())
    return Tensor(array, requires_grad=requires_grad)


def zeros(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, device=None) -> Tensor:
    """A tensor of zeros."""
    return _make(np.zeros(_shape(shape), dtype=dtype), requires_grad, device)


def ones(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, device=None) -> Tensor:
    """A tensor of ones."""
    return _make(np.ones(_shape(shape), dtype=dtype), requires_grad, device)


def full(shape, fill_value, dtype=DEFAULT_FLOAT, requires_grad=False, device=None) -> Tensor:
    """A tensor filled with ``fill_value``."""
    return _make(np.full(_shape((shape,)), fill_value, dtype=dtype), requires_grad, device)


def zeros_like(t, requires_grad=False) -> Tensor:
    """Zeros with the shape, dtype and device of ``t``."""
    return Tensor(backend.namespace(t.data).zeros_like(t.data), requires_grad=requires_grad)


def ones_like(t, requires_grad=False) -> Tensor:
    """Ones with the shape, dtype and device of ``t``."""
    return Tensor(backend.namespace(t.data).ones_like(t.data), requires_grad=requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None) -> Tensor:
    """Evenly spaced values in [start, stop), as numpy.arange."""
    return _make(np.arange(start, stop, step, dtype=dtype) if stop is not None
                 else np.arange(start, dtype=dtype), False, device)


def eye(n, m=None, dtype=DEFAULT_FLOAT, requires_grad=False, device=None) -> Tensor:
    """The identity matrix (n x m)."""
    return _make(np.eye(n, m, dtype=dtype), requires_grad, device)


def randn(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, device=None, generator=None) -> Tensor:
    """Standard normal samples N(0, 1), from deepgrad's seeded generator."""
    rng = generator or backend.global_generator()
    return _make(rng.standard_normal(_shape(shape)).astype(dtype), requires_grad, device)


def rand(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, device=None, generator=None) -> Tensor:
    """Uniform samples in [0, 1), from deepgrad's seeded generator."""
    rng = generator or backend.global_generator()
    return _make(rng.random(_shape(shape)).astype(dtype), requires_grad, device)


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(int(n) for n in shape)
