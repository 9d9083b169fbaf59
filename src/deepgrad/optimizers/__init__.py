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
from .base import Optimizer
from .lr_finder import LearningRateRangeTest, find_learning_rate
from .schedules import LearningRateSchedule
from .sgd import LARS, SGD

_OPTIMIZERS = {cls.__name__.lower(): cls for cls in (
    SGD, RMSprop, Adam, AdamW, Adagrad, Adadelta, Adamax, Nadam, Lion, LARS)}

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "Nadam",
           "Lion", "LARS", "LearningRateSchedule", "schedules", "get", "serialize", "deserialize",
           "find_learning_rate", "LearningRateRangeTest"]


def serialize(optimizer: Optimizer) -> dict:
    """``{"class_name": "Adam", "config": optimizer.get_config()}`` (JSON-able)."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"serialize expects a deepgrad optimizer, received {type(optimizer).__name__}.")
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict, custom_objects=None) -> Optimizer:
    """Rebuild an optimizer from :func:`serialize`'s dict; class names match case-insensitively."""
    known = dict(_OPTIMIZERS)
    known.update({name.lower(): cls for name, cls in (custom_objects or {}).items()})
    name = str(config.get("class_name", "")).lower()
    if name not in known:
        raise ValueError(f"unknown optimizer {config.get('class_name')!r}; valid ones: {_valid_names()}.")
    return known[name].from_config(config.get("config", {}))


def get(identifier) -> Optimizer:
    """An optimizer from a name ('adam', 'SGD', ... case-insensitive, default arguments),
    a dict from :func:`serialize`, or an optimizer instance (returned as is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _OPTIMIZERS.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown optimizer {identifier!r}; valid names: {_valid_names()}.")
        return cls()
    raise ValueError(
        f"could not interpret optimizer identifier {identifier!r} ({type(identifier).__name__}); pass "
        f"a name ({_valid_names()}), a serialized dict or an Optimizer instance."
    )


def _valid_names() -> str:
    return ", ".join(repr(name) for name in _OPTIMIZERS)
