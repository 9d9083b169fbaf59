"""Layers: the building blocks of models (Keras 3 names and arguments)."""

from .activations import APL, ELU, LeakyReLU, PReLU, ReLU, SoftExponential, Softmax
from .attention import AdditiveAttention, Attention, MultiHeadAttention
from .base import KerasTensor, Layer
from .core import Activation, AlphaDropout, Dense, Dropout, Flatten, GaussianNoise, Input, InputLayer, Lambda, Reshape
from .embedding import Embedding
from .merging import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .normalization import BatchNormalization, LayerNormalization
from .preprocessing import (
    Normalization,
    RandomContrast,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
)
from .recurrent import GRU, LSTM, Bidirectional, Masking, RepeatVector, SimpleRNN, TimeDistributed
from .text import TextVectorization

__all__ = [
    "APL", "ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax", "SoftExponential",
    "KerasTensor", "Layer", "Activation", "AlphaDropout", "Dense", "Dropout", "Flatten", "GaussianNoise",
    "Input", "InputLayer", "Lambda", "Reshape", "Add", "Average", "Concatenate", "Maximum", "Minimum",
    "Multiply", "Subtract", "BatchNormalization", "LayerNormalization",
    "Normalization", "RandomContrast", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom",
    "Rescaling", "AdditiveAttention", "Attention", "MultiHeadAttention", "TextVectorization",
    "Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed", "RepeatVector", "Masking",
]
