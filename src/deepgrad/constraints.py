"""Weight constraints: projections applied to a weight after each optimizer step (Keras 3's ``keras.constraints``).

A layer given ``kernel_constraint=`` (or ``bias_constraint=``, ``embeddings_constraint=``,
...) replaces the weight w by c(w) after every update of ``fit``. Each constraint is a
:class:`Constraint` (``get_config``/``from_config``), named in files and ``get()`` by its
Keras identifier: ``'max_norm'``, ``'min_max_norm'``, ``'non_neg'``, ``'unit_norm'``
(or the class name). Norms are taken along ``axis`` (0 by default: for a Dense kernel
(in, out), the incoming weights of each unit), and ``EPSILON`` keeps divisions finite.

>>> import numpy as np
>>> from deepgrad import constraints
>>> w = np.array([[3.0, 0.3], [4.0, 0.4]])
>>> constraints.get("max_norm")(w).numpy().round(4).tolist()
[[1.2, 0.3], [1.6, 0.4]]
"""

from __future__ import annotations

from .configurable import Configurable, Registry
from .ops import elementwise as _ew
from .ops import reduction as _red
from .tensor import Tensor, as_tensor

EPSILON = 1e-7  # Keras' backend.epsilon()

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "get", "serialize", "deserialize"]


def _norms(w: Tensor, axis) -> Tensor:
    """||w|| along ``axis``, kept as length-1 axes so that it broadcasts against w."""
    return _ew.sqrt(_red.sum(w * w, axis=_axes(axis), keepdims=True))


def _axes(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


class Constraint(Configurable):
    """Base class: ``constraint(w)`` returns the projection of the weight ``w`` (a Tensor or array) as a Tensor."""

    def __call__(self, w) -> Tensor:
        return as_tensor(w)


class MaxNorm(Constraint):
    """Caps the norm of the weights along ``axis`` at ``max_value``:
    w <- w clip(||w||, 0, max_value) / (eps + ||w||) (Srivastava et al. 2014, with dropout)."""

    def __init__(self, max_value=2.0, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w) -> Tensor:
        w = as_tensor(w)
        norms = _norms(w, self.axis)
        return w * (_ew.clip(norms, 0.0, self.max_value) / (norms + EPSILON))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Keeps the norm along ``axis`` between ``min_value`` and ``max_value``:
    w <- w d / (eps + ||w||), d = rate clip(||w||, min_value, max_value) + (1 - rate) ||w||
    (``rate`` < 1 moves the norm only part of the way at each step)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w) -> Tensor:
        w = as_tensor(w)
        norms = _norms(w, self.axis)
        desired = _ew.clip(norms, self.min_value, self.max_value) * self.rate + norms * (1.0 - self.rate)
        return w * (desired / (norms + EPSILON))

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


class NonNeg(Constraint):
    """Non-negative weights: w <- w [w >= 0] (negative entries set to zero)."""

    def __call__(self, w) -> Tensor:
        w = as_tensor(w)
        return _ew.where(w.data >= 0, w, 0.0)


class UnitNorm(Constraint):
    """Unit norm along ``axis``: w <- w / (eps + ||w||)."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w) -> Tensor:
        w = as_tensor(w)
        return w / (_norms(w, self.axis) + EPSILON)

    def get_config(self) -> dict:
        return {"axis": self.axis}


_REGISTRY = Registry("constraint", Constraint, {
    "max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm,
    "MaxNorm": MaxNorm, "MinMaxNorm": MinMaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm,
}, hint="or pass a callable mapping a weight to its projection")


def names() -> list:
    """Every string identifier :func:`get` accepts, sorted."""
    return _REGISTRY.names()


def get(identifier):
    """The constraint for a name ('max_norm', 'MaxNorm', ...), a config dict, a :class:`Constraint`
    or any callable mapping a weight to its projection (returned as is); None -> None."""
    return _REGISTRY.get(identifier)


def serialize(constraint) -> dict:
    """``{'class_name': 'MaxNorm', 'config': {...}}`` for a :class:`Constraint`."""
    return _REGISTRY.serialize(constraint)


def deserialize(config, custom_objects=None):
    """The constraint for :func:`serialize`'s output (or a name)."""
    return _REGISTRY.deserialize(config, custom_objects)
