"""The optimizers by name: ``get('adam')``, ``serialize`` and ``deserialize`` (one registry, Keras names)."""

from ..configurable import Registry
from .adam import Adam, Adamax, AdamW, Lion, Nadam
from .adaptive import Adadelta, Adagrad, RMSprop
from .base import Optimizer
from .extra import Adafactor, Ftrl, Lamb
from .sgd import LARS, SGD

# the course's order (plain gradient descent first), which error messages keep
_REGISTRY = Registry("optimizer", Optimizer, {cls.__name__.lower(): cls for cls in (
    SGD, RMSprop, Adam, AdamW, Adagrad, Adadelta, Adamax, Nadam, Lion, LARS, Lamb, Ftrl, Adafactor)},
    hint="or pass an Optimizer object", fold_case=True, accept_callables=False)


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
