"""Optimizers, gradient clipping and learning-rate schedules (Keras 3 names and arguments).

Every optimizer applies, per step: gradient clipping (``clipvalue``, ``clipnorm`` or
``global_clipnorm``), decoupled ``weight_decay``, then its own update equation, in place
on the variables' arrays.

>>> import deepgrad as dg
>>> w = dg.tensor([1.0, 2.0], requires_grad=True)
>>> optimizer = dg.optimizers.get("adam")          # or dg.optimizers.Adam(learning_rate=1e-3)
>>> loss = (w * w).sum()
>>> loss.backward()
>>> optimizer.step([w])                            # PyTorch style: uses w.grad
>>> optimizer.zero_grad([w])
>>> optimizer.apply_gradients([(w.data * 2, w)])   # Keras style: (gradient, variable) pairs
>>> optimizer.iterations
2

Which one? The course's summary: plain (mini-batch) gradient descent generalizes well but
is slow in ravines; momentum and Nesterov speed it up along the valley; AdaGrad suits
sparse features but its rate decays to zero; RMSprop and AdaDelta fix that decay; Adam
merges momentum with RMSprop's scaling and is the usual default; AdamW decouples weight
decay; LARS rescales each layer for very large batches; Lion takes sign steps.
"""

from . import schedules
from .adam import Adam, Adamax, AdamW, Lion, Nadam
from .adaptive import Adadelta, Adagrad, RMSprop
from ..configurable import Registry
from .base import Optimizer
from .lr_finder import LearningRateRangeTest, find_learning_rate
from .schedules import LearningRateSchedule
from .sgd import LARS, SGD

# the course's order (plain gradient descent first), which error messages keep
_REGISTRY = Registry("optimizer", Optimizer, {cls.__name__.lower(): cls for cls in (
    SGD, RMSprop, Adam, AdamW, Adagrad, Adadelta, Adamax, Nadam, Lion, LARS)},
    hint="or pass an Optimizer object", fold_case=True, accept_callables=False)

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "Nadam",
           "Lion", "LARS", "LearningRateSchedule", "schedules", "get", "serialize", "deserialize",
           "find_learning_rate", "LearningRateRangeTest"]


def serialize(optimizer: Optimizer) -> dict:
    """``{"class_name": "Adam", "config": optimizer.get_config()}`` (JSON-able)."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"serialize expects a deepgrad optimizer, received {type(optimizer).__name__}.")
    return _REGISTRY.serialize(optimizer)


def deserialize(config: dict, custom_objects=None) -> Optimizer:
    """Rebuild an optimizer from :func:`serialize`'s dict; class names match case-insensitively."""
    return _REGISTRY.deserialize(config, custom_objects)


def get(identifier) -> Optimizer:
    """An optimizer from a name ('adam', 'SGD', ... case-insensitive, default arguments),
    a dict from :func:`serialize`, or an optimizer instance (returned as is).

    Unknown names raise ValueError naming the closest valid one.
    """
    if identifier is None:
        raise _REGISTRY.not_understood(identifier)
    return _REGISTRY.get(identifier)
