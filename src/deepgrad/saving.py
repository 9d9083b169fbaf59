"""Keras 3's ``keras.saving``: model files and the user objects they may name.

``load_model``/``save_model`` and the weight files come from :mod:`deepgrad.models.saving`;
:func:`register_keras_serializable` and :func:`get_custom_objects` from
:mod:`deepgrad.configurable`, whose registry every ``get()`` and every loader consults.
"""

from .configurable import (
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)
from .models.saving import load_model, load_weights, save_model, save_weights

__all__ = ["get_custom_objects", "get_registered_name", "get_registered_object", "load_model", "load_weights",
           "register_keras_serializable", "save_model", "save_weights"]
