"""Weight penalties, by their Keras names: ``regularizer(weights)`` -> scalar Tensor added to the loss.

The cost a model minimizes becomes C = L + penalty(w), pulling weights toward zero
(simpler models, less overfitting):

* L1 (lasso): penalty = l1 * sum |w|. Its gradient l1 sign(w) has the same size for
  small and large weights, so it drives many weights exactly to zero: sparse models,
  feature selection.
* L2 (ridge, weight decay): penalty = l2 * sum w^2, gradient 2 l2 w: every weight
  shrinks in proportion to its size, none becomes exactly zero. The course's
  C = L + lambda/(2n) sum w^2 is L2 with l2 = lambda / (2n).
* L1 + L2 (elastic net): penalty = l1 sum |w| + l2 sum w^2. The mixing form
  lambda (alpha sum |w| + (1 - alpha)/2 sum w^2), alpha in [0, 1], is
  L1L2(l1=lambda alpha, l2=lambda (1 - alpha) / 2): alpha = 1 is lasso, alpha = 0 ridge.

Penalties are built from engine ops, so their gradients join the loss's in backward.

>>> import deepgrad as dg
>>> from deepgrad import regularizers
>>> regularizers.L2(2.0)(dg.ones(5, 5)).item()
50.0
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .backend import namespace
from .configurable import Configurable, Registry
from .losses import l2_normalize
from .ops import elementwise as _ew
from .ops import reduction as _red
from .tensor import Tensor, as_tensor


def _factor(value, name) -> float:
    """A penalty factor: a finite, non-negative number."""
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not math.isfinite(value) or value < 0):
        raise ValueError(f"invalid value for argument {name}: expected a non-negative float, got {name}={value!r}.")
    return float(value)


def _weights(x) -> Tensor:
    x = as_tensor(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    return x


class Regularizer(Configurable):
    """Base class: ``regularizer(weights)`` returns a scalar penalty tensor (0 for the base class).

    Any callable mapping a weight tensor to a scalar tensor also works as a regularizer.
    """

    def __call__(self, x) -> Tensor:
        return _red.sum(_weights(x)) * 0.0


class L1(Regularizer):
    """L1 (lasso) penalty: penalty = l1 * sum(|w|).   d penalty / dw = l1 sign(w)."""

    def __init__(self, l1=0.01):
        self.l1 = _factor(0.01 if l1 is None else l1, "l1")

    def __call__(self, x) -> Tensor:
        return _red.sum(_ew.abs(_weights(x))) * self.l1

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(Regularizer):
    """L2 (ridge, weight decay) penalty: penalty = l2 * sum(w^2).   d penalty / dw = 2 l2 w."""

    def __init__(self, l2=0.01):
        self.l2 = _factor(0.01 if l2 is None else l2, "l2")

    def __call__(self, x) -> Tensor:
        x = _weights(x)
        return _red.sum(x * x) * self.l2

    def get_config(self) -> dict:
        return {"l2": self.l2}


class L1L2(Regularizer):
    """Elastic net penalty: penalty = l1 * sum(|w|) + l2 * sum(w^2).

    The class defaults are 0 (Keras: ``L1L2(l2=0.1)`` has no L1 part); the function
    :func:`l1_l2` and the string ``'l1_l2'`` use l1 = l2 = 0.01.
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2")

    def __call__(self, x) -> Tensor:
        x = _weights(x)
        penalty = _red.sum(x) * 0.0  # a tensor of x's dtype in the graph, even with both factors 0
        if self.l1:
            penalty = penalty + _red.sum(_ew.abs(x)) * self.l1
        if self.l2:
            penalty = penalty + _red.sum(x * x) * self.l2
        return penalty

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


def l1_l2(l1=0.01, l2=0.01) -> L1L2:
    """Elastic net regularizer: penalty = l1 * sum(|w|) + l2 * sum(w^2), defaults l1 = l2 = 0.01."""
    return L1L2(l1=l1, l2=l2)


class OrthogonalRegularizer(Regularizer):
    """Penalty pushing the rows (or columns) of a 2-D weight toward mutual orthogonality.

    With u_i the L2-normalized rows (mode='rows') or columns (mode='columns') of W and
    n their number: penalty = factor * 0.5 * sum_{i != j} |u_i . u_j| / (n (n - 1) / 2),
    i.e. factor times the mean |cosine| between distinct rows. Zero for orthogonal rows.
    """

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _factor(factor, "factor")
        if mode not in ("rows", "columns"):
            raise ValueError(f"invalid mode {mode!r}; expected 'rows' or 'columns'.")
        self.mode = mode

    def __call__(self, x) -> Tensor:
        x = _weights(x)
        if x.ndim != 2:
            raise ValueError(f"OrthogonalRegularizer needs a 2-D weight, got shape {x.shape}.")
        if self.mode == "rows":
            units = l2_normalize(x, axis=1)
            products = units @ units.T
        else:
            units = l2_normalize(x, axis=0)
            products = units.T @ units
        size = products.shape[0]
        if size < 2:
            return _red.sum(x) * 0.0
        off_diagonal = 1.0 - namespace(x.data).eye(size, dtype=x.dtype)
        pairs = size * (size - 1) / 2.0
        return _red.sum(_ew.abs(products * off_diagonal)) * (self.factor * 0.5 / pairs)

    def get_config(self) -> dict:
        return {"factor": self.factor, "mode": self.mode}


l1 = L1
l2 = L2
orthogonal_regularizer = OrthogonalRegularizer

_REGISTRY = Registry("regularizer", Regularizer, {
    "L1": L1, "L2": L2, "L1L2": L1L2, "OrthogonalRegularizer": OrthogonalRegularizer,
    "l1": L1, "l2": L2, "l1_l2": l1_l2, "elastic_net": l1_l2, "orthogonal_regularizer": OrthogonalRegularizer,
    "l1l2": L1L2,  # Keras's snake-case name of the class: its defaults, l1 = l2 = 0
}, hint="or pass a callable mapping a weight tensor to a scalar penalty", call_functions=True)


def names() -> list:
    """Every string identifier :func:`get` accepts, sorted."""
    return _REGISTRY.names()


def get(identifier):
    """A regularizer from a name, a class, a config dict, an instance or a callable; None -> None.

    ``'l1'`` and ``'l2'`` use factor 0.01, ``'l1_l2'`` l1 = l2 = 0.01. Unknown names raise
    ValueError naming the closest valid one and listing them all.
    """
    return _REGISTRY.get(identifier)


def serialize(regularizer) -> dict:
    """{'class_name': ..., 'config': get_config()} of a regularizer."""
    return _REGISTRY.serialize(get(regularizer))


def deserialize(config):
    """The regularizer described by :func:`serialize`'s output (or a name)."""
    return _REGISTRY.deserialize(config)
