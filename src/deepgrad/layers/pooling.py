"""Pooling layers: max and average pooling over windows, and global pooling (Keras 3 names).

``MaxPooling2D(pool_size=(2, 2), strides=None, padding='valid')`` takes the maximum of
each 2x2 window (strides default to the pool size); ``GlobalAveragePooling2D`` the mean
over all positions, (batch, h, w, c) -> (batch, c). The windows and their gradients are
the ops of :mod:`deepgrad.ops.pooling`; padding follows Keras ('same' never lets a padded
position win a max or count in an average).
"""

from __future__ import annotations

from ..ops.convolution import as_tuple, check_data_format, conv_padding
from ..ops.pooling import average_pool, global_average_pool, global_max_pool, max_pool
from .base import Layer
from .convolutional import channels_of, check_input_rank, spatial_of, with_channels


class _Pooling(Layer):
    """Window pooling over ``rank`` spatial axes: ``pool_size``, ``strides`` (default ``pool_size``), ``padding``."""

    rank = None
    _op = None

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        label = type(self).__name__
        self.pool_size = as_tuple(pool_size, self.rank, f"{label}: pool_size")
        self.strides = self.pool_size if strides is None else as_tuple(strides, self.rank, f"{label}: strides")
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"{label}: unknown padding {padding!r}; expected 'valid' or 'same'.")
        self.data_format = check_data_format(data_format)

    def build(self, input_shape):
        check_input_rank(self, input_shape, self.rank, self.data_format)
        self.compute_output_shape(input_shape)  # a window larger than the input is refused here

    def call(self, inputs):
        return type(self)._op(inputs, self.pool_size, self.strides, self.padding, self.data_format)

    def compute_output_shape(self, input_shape):
        out = [None if n is None else conv_padding((n,), (k,), (s,), (1,), self.padding,
                                                   f"{type(self).__name__} layer {self.name!r}")[1][0]
               for n, k, s in zip(spatial_of(input_shape, self.data_format), self.pool_size, self.strides)]
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        return with_channels(input_shape[0], out, channels, self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": list(self.pool_size), "strides": list(self.strides),
                       "padding": self.padding, "data_format": self.data_format})
        return config


class MaxPooling1D(_Pooling):
    """Max over windows of ``pool_size`` steps: (batch, steps, channels)."""

    rank, _op = 1, max_pool


class MaxPooling2D(_Pooling):
    """Max over ``pool_size`` windows of an image: (batch, h, w, c) -> (batch, h / 2, w / 2, c) by default."""

    rank, _op = 2, max_pool


class MaxPooling3D(_Pooling):
    """Max over ``pool_size`` windows of a volume."""

    rank, _op = 3, max_pool


class AveragePooling1D(_Pooling):
    """Mean over windows of ``pool_size`` steps."""

    rank, _op = 1, average_pool


class AveragePooling2D(_Pooling):
    """Mean over ``pool_size`` windows of an image."""

    rank, _op = 2, average_pool


class AveragePooling3D(_Pooling):
    """Mean over ``pool_size`` windows of a volume."""

    rank, _op = 3, average_pool


class _GlobalPooling(Layer):
    """Reduce every spatial axis: (batch, *spatial, c) -> (batch, c), or (batch, 1, ..., 1, c) with ``keepdims``."""

    rank = None
    _op = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format)
        self.keepdims = bool(keepdims)

    def build(self, input_shape):
        check_input_rank(self, input_shape, self.rank, self.data_format)

    def call(self, inputs):
        return type(self)._op(inputs, self.data_format, self.keepdims)

    def compute_output_shape(self, input_shape):
        channels = channels_of(input_shape, self.data_format, self)
        if not self.keepdims:
            return (input_shape[0], channels)
        return with_channels(input_shape[0], (1,) * self.rank, channels, self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


class GlobalMaxPooling1D(_GlobalPooling):
    """Maximum over all steps of each channel."""

    rank, _op = 1, global_max_pool


class GlobalMaxPooling2D(_GlobalPooling):
    """Maximum over all positions of each channel of an image."""

    rank, _op = 2, global_max_pool


class GlobalMaxPooling3D(_GlobalPooling):
    """Maximum over all positions of each channel of a volume."""

    rank, _op = 3, global_max_pool


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over all steps of each channel."""

    rank, _op = 1, global_average_pool


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over all positions of each channel of an image (the head of ResNets)."""

    rank, _op = 2, global_average_pool


class GlobalAveragePooling3D(_GlobalPooling):
    """Mean over all positions of each channel of a volume."""

    rank, _op = 3, global_average_pool


# Keras's short spellings
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (GlobalAveragePooling1D, GlobalAveragePooling2D,
                                                     GlobalAveragePooling3D)
