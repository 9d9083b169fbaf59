"""Layers: the building blocks of models (Keras 3 names and arguments)."""

from .activations import APL, ELU, LeakyReLU, PReLU, ReLU, SoftExponential, Softmax
from .attention import AdditiveAttention, Attention, MultiHeadAttention
from .base import KerasTensor, Layer
from .convolutional import (
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    Convolution1D,
    Convolution2D,
    Convolution2DTranspose,
    Convolution3D,
    Convolution3DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
    SeparableConvolution1D,
    SeparableConvolution2D,
)
from .core import (
    Activation,
    AlphaDropout,
    Dense,
    Dropout,
    Flatten,
    GaussianNoise,
    GaussianSampling,
    Input,
    InputLayer,
    Lambda,
    Reshape,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
)
from .embedding import Embedding
from .merging import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    AvgPool1D,
    AvgPool2D,
    AvgPool3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalAvgPool3D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    GlobalMaxPool3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPool1D,
    MaxPool2D,
    MaxPool3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
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
from .reshaping import (
    Cropping1D,
    Cropping2D,
    Cropping3D,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
    ZeroPadding1D,
    ZeroPadding2D,
    ZeroPadding3D,
)
from .text import TextVectorization

__all__ = [
    "APL", "ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax", "SoftExponential",
    "KerasTensor", "Layer", "Activation", "AlphaDropout", "Dense", "Dropout", "Flatten", "GaussianNoise",
    "GaussianSampling", "Input", "InputLayer", "Lambda", "Reshape", "Add", "Average", "Concatenate", "Maximum",
    "Minimum", "Multiply", "Subtract", "BatchNormalization", "LayerNormalization",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "Convolution1D", "Convolution2D", "Convolution3D", "Convolution2DTranspose", "Convolution3DTranspose",
    "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
    "SeparableConvolution1D", "SeparableConvolution2D",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
    "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D",
    "Normalization", "RandomContrast", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom",
    "Rescaling", "AdditiveAttention", "Attention", "MultiHeadAttention", "TextVectorization",
    "Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed", "RepeatVector", "Masking",
]
