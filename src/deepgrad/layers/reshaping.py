"""Spatial reshaping layers: ZeroPadding, Cropping and UpSampling in 1, 2 and 3 dimensions (Keras 3 names).

``ZeroPadding2D(padding)`` adds rows and columns of zeros around an image,
``Cropping2D(cropping)`` cuts them off, ``UpSampling2D(size)`` repeats (or bilinearly
interpolates) every pixel ``size`` times. ``padding``/``cropping`` take Keras's forms: an
int (every side), one int per axis (both sides), or one (before, after) pair per axis.
The computations are the ops of :mod:`deepgrad.ops.spatial`.
"""

from __future__ import annotations

from ..ops.convolution import as_tuple, check_data_format
from ..ops.spatial import crop, spatial_pairs, upsample, zero_pad
from .base import Layer
from .convolutional import check_input_rank, spatial_of, with_channels


class _Spatial(Layer):
    """A layer that maps each spatial length to a new one and keeps the channels."""

    rank = None

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format)

    def _length(self, axis, n):
        raise NotImplementedError

    def build(self, input_shape):
        check_input_rank(self, input_shape, self.rank, self.data_format)
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        out = [None if n is None else self._length(axis, n)
               for axis, n in enumerate(spatial_of(input_shape, self.data_format))]
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        return with_channels(input_shape[0], out, channels, self.data_format)

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class _ZeroPadding(_Spatial):
    """Zeros around the spatial axes: length n -> before + n + after."""

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.padding = spatial_pairs(padding, self.rank, f"{type(self).__name__}: padding")

    def _length(self, axis, n):
        return self.padding[axis][0] + n + self.padding[axis][1]

    def call(self, inputs):
        return zero_pad(inputs, self.padding, self.data_format)

    def get_config(self):
        config = super().get_config()
        config["padding"] = [list(pair) for pair in self.padding]
        return config


class ZeroPadding1D(_ZeroPadding):
    """Zeros before and after the steps of (batch, steps, channels): ``padding`` an int or (before, after)."""

    rank = 1


class ZeroPadding2D(_ZeroPadding):
    """Rows and columns of zeros around images: ``padding`` an int, (rows, cols) or ((top, bottom), (left, right))."""

    rank = 2


class ZeroPadding3D(_ZeroPadding):
    """Zeros around the three spatial axes of volumes."""

    rank = 3


class _Cropping(_Spatial):
    """Elements cut off each side of the spatial axes: length n -> n - before - after (something must remain)."""

    def __init__(self, cropping=1, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.cropping = spatial_pairs(cropping, self.rank, f"{type(self).__name__}: cropping")

    def _length(self, axis, n):
        lo, hi = self.cropping[axis]
        if lo + hi >= n:
            raise ValueError(f"{type(self).__name__} layer {self.name!r}: cropping {lo} + {hi} leaves nothing of "
                             f"spatial axis {axis} (length {n}); crop less.")
        return n - lo - hi

    def call(self, inputs):
        return crop(inputs, self.cropping, self.data_format)

    def get_config(self):
        config = super().get_config()
        config["cropping"] = [list(pair) for pair in self.cropping]
        return config


class Cropping1D(_Cropping):
    """Steps cut from the start and end of (batch, steps, channels): ``cropping`` an int or (start, end)."""

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, **kwargs)


class Cropping2D(_Cropping):
    """Rows and columns cut from images: ``cropping`` an int, (rows, cols) or ((top, bottom), (left, right))."""

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(_Cropping):
    """Elements cut from the three spatial axes of volumes."""

    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class _UpSampling(_Spatial):
    """Each spatial length multiplied by its ``size`` factor (nearest: every value repeated)."""

    _interpolations = ("nearest",)

    def __init__(self, size=2, data_format=None, interpolation="nearest", **kwargs):
        super().__init__(data_format, **kwargs)
        label = type(self).__name__
        self.size = as_tuple(size, self.rank, f"{label}: size")
        self.interpolation = str(interpolation).lower()
        if self.interpolation not in self._interpolations:
            raise ValueError(f"{label}: unknown interpolation {interpolation!r}; expected one of "
                             f"{list(self._interpolations)}.")

    def _length(self, axis, n):
        return n * self.size[axis]

    def call(self, inputs):
        return upsample(inputs, self.size, self.interpolation, self.data_format)

    def get_config(self):
        config = super().get_config()
        config["size"] = list(self.size)
        if len(self._interpolations) > 1:
            config["interpolation"] = self.interpolation
        return config


class UpSampling1D(_UpSampling):
    """Every step repeated ``size`` times: (batch, steps, channels) -> (batch, steps * size, channels)."""

    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(size, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["data_format"]  # Keras's UpSampling1D is channels-last only
        config["size"] = self.size[0]
        return config


class UpSampling2D(_UpSampling):
    """Images enlarged by ``size`` (rows, cols): 'nearest' repeats pixels, 'bilinear' interpolates them."""

    rank = 2
    _interpolations = ("nearest", "bilinear")


class UpSampling3D(_UpSampling):
    """Volumes enlarged by ``size`` along each axis, every value repeated."""

    rank = 3
