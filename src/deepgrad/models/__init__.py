"""Models: ``Sequential``, functional ``Model(inputs, outputs)``, subclassed ``Model``, and saving."""

from ..utils import PyDataset
from . import keras_format  # registers the .keras and .h5 formats with saving
from .functional import Functional
from .model import Model
from .saving import load_model, save_model
from .sequential import Sequential

__all__ = ["Functional", "Model", "PyDataset", "Sequential", "load_model", "save_model"]
