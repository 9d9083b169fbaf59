"""Convolution layers: Conv1D/2D/3D, their transposes, DepthwiseConv2D, SeparableConv2D.

Keras 3 names, arguments, defaults and kernel layouts, so ``get_weights``/``set_weights``
exchange arrays with Keras unchanged:

=====================  ==========================================  ==========================
layer                  weights, in order                           output channel f
=====================  ==========================================  ==========================
ConvND                 kernel (*k, C / groups, F), bias (F,)       sum over its group's inputs
ConvNDTranspose        kernel (*k, F, C), bias (F,)                adjoint of ConvND
DepthwiseConv2D        kernel (*k, C, m), bias (C m,)              input c // m alone
SeparableConv2D        depthwise_kernel (*k, C, m),                depthwise, then a 1x1 conv
                       pointwise_kernel (1, 1, C m, F), bias (F,)
=====================  ==========================================  ==========================

Each layer is a = activation(z) with z its convolution plus bias (``pre_activation``),
computed by the ops of :mod:`deepgrad.ops.convolution` (im2col and one matrix product;
their docstrings give the formulas and the backward). Inputs are ``(batch, *spatial,
channels)`` (``data_format='channels_last'``, the default) or ``(batch, channels,
*spatial)``.
"""

from __future__ import annotations

import types

import numpy as np

from .. import activations
from ..ops.convolution import (
    as_tuple,
    check_data_format,
    check_rank,
    conv,
    conv_padding,
    conv_transpose,
    conv_transpose_length,
    depthwise_conv,
)
from .base import Layer, _serialize
from .core import apply_activation, get_activation

_SPATIAL_NAMES = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def check_input_rank(layer, input_shape, rank, data_format):
    """Raise the ops' wrong-rank ValueError (expected layout, and the ``x[..., None]`` fix) for a built shape."""
    shape = tuple(input_shape)
    check_rank(types.SimpleNamespace(ndim=len(shape), shape=shape), rank,
               f"{type(layer).__name__} layer {layer.name!r}", data_format)


def channels_of(input_shape, data_format, layer):
    """The channel count of ``input_shape``; a ValueError when it is unknown."""
    channels = input_shape[-1] if data_format == "channels_last" else input_shape[1]
    if channels is None:
        raise ValueError(f"{type(layer).__name__} layer {layer.name!r} needs a known number of input channels, "
                         f"got input shape {tuple(input_shape)}.")
    return int(channels)


def spatial_of(input_shape, data_format):
    """The spatial sizes of ``input_shape`` (entries may be None)."""
    return tuple(input_shape[1:-1]) if data_format == "channels_last" else tuple(input_shape[2:])


def with_channels(batch, spatial, channels, data_format):
    """An output shape from its parts, in ``data_format``'s order."""
    if data_format == "channels_last":
        return (batch, *spatial, channels)
    return (batch, channels, *spatial)


def _check_positive_int(layer, argument, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{layer}: {argument} must be a positive integer, got {argument}={value!r}.")
    return int(value)


def _check_padding(layer, padding, allowed):
    name = str(padding).lower()
    if name not in allowed:
        raise ValueError(f"{layer}: unknown padding {padding!r}; expected one of {list(allowed)}.")
    return name


def _check_strides_and_dilation(layer, strides, dilation_rate):
    if max(strides) > 1 and max(dilation_rate) > 1:  # Keras refuses the pair too
        raise ValueError(f"{layer}: strides > 1 is not supported together with dilation_rate > 1, got "
                         f"strides={strides} and dilation_rate={dilation_rate}.")


class _BaseConv(Layer):
    """What every convolution layer shares: geometry arguments, activation, bias and their config."""

    rank = None
    _paddings = ("valid", "same")
    _kernel_weight = "kernel"  # the weight that plays W in kernel_and_bias and is named in configs

    def __init__(self, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation=None, use_bias=True, bias_initializer="zeros", bias_regularizer=None,
                 activity_regularizer=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        label = type(self).__name__
        rank = self.rank
        self.kernel_size = as_tuple(kernel_size, rank, f"{label}: kernel_size")
        self.strides = as_tuple(strides, rank, f"{label}: strides")
        self.dilation_rate = as_tuple(dilation_rate, rank, f"{label}: dilation_rate")
        _check_strides_and_dilation(label, self.strides, self.dilation_rate)
        self.padding = _check_padding(label, padding, self._paddings)
        self.data_format = check_data_format(data_format)
        self.activation = get_activation(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = bias_initializer
        self.bias_regularizer = bias_regularizer
        self.bias_constraint = bias_constraint
        self.bias = None

    def _add_bias(self, size):
        if self.use_bias:
            self.bias = self.add_weight((size,), self.bias_initializer, regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint, name="bias")

    def _check_geometry(self, input_shape):
        """The rank check, and (for known sizes) the window-fits-the-input check of the op."""
        check_input_rank(self, input_shape, self.rank, self.data_format)
        spatial = spatial_of(input_shape, self.data_format)
        if None not in spatial:
            conv_padding(spatial, self.kernel_size, self.strides, self.dilation_rate, self.padding,
                         f"{type(self).__name__} layer {self.name!r}")

    def call(self, inputs, training=False):
        return apply_activation(self.activation, self.pre_activation(inputs), training)

    def kernel_and_bias(self):
        return getattr(self, self._kernel_weight), self.bias

    def get_config(self):
        config = super().get_config()
        config.update({
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "activation": _serialize(self.activation),
            "use_bias": self.use_bias,
            **self.serialized("bias_initializer", "bias_regularizer", "bias_constraint"),
        })
        return config


class _Conv(_BaseConv):
    """N-d convolution: a = activation(conv(x, kernel) + bias), kernel (*kernel_size, C / groups, filters).

    Output length per spatial axis (Keras's rules): 'valid' floor((n - span) / s) + 1,
    'same' ceil(n / s), with span = (k - 1) d + 1; 'causal' (Conv1D) pads span - 1
    at the start so that output t sees inputs up to t only.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        label = type(self).__name__
        self.filters = _check_positive_int(label, "filters", filters)
        self.groups = _check_positive_int(label, "groups", groups)
        if self.filters % self.groups:
            raise ValueError(f"{label}: the number of filters ({self.filters}) must be divisible by groups "
                             f"({self.groups}).")
        self.kernel_initializer = kernel_initializer
        self.kernel_regularizer = kernel_regularizer
        self.kernel_constraint = kernel_constraint
        self.kernel = None

    def build(self, input_shape):
        self._check_geometry(input_shape)
        channels = channels_of(input_shape, self.data_format, self)
        if channels % self.groups:
            raise ValueError(f"{type(self).__name__} layer {self.name!r}: the number of input channels "
                             f"({channels}) must be divisible by groups ({self.groups}).")
        self.kernel = self.add_weight(self.kernel_size + (channels // self.groups, self.filters),
                                      self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, name="kernel")
        self._add_bias(self.filters)

    def pre_activation(self, inputs, training=False):
        """z = conv(x, kernel) + bias, the input of the activation."""
        return conv(inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate,
                    self.data_format)

    def call(self, inputs, training=False):
        if self.activation is activations.relu:  # fused: one pass for bias and ReLU, one for their gradients
            return conv(inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate,
                        self.data_format, relu=True)
        return super().call(inputs, training)

    def compute_output_shape(self, input_shape):
        spatial = spatial_of(input_shape, self.data_format)
        out = [None if n is None else conv_padding((n,), (k,), (s,), (d,), self.padding, type(self).__name__)[1][0]
               for n, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)]
        return with_channels(input_shape[0], out, self.filters, self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "groups": self.groups,
            **self.serialized("kernel_initializer", "kernel_regularizer", "kernel_constraint"),
        })
        return config


class Conv1D(_Conv):
    """1-d convolution over (batch, steps, channels); ``padding='causal'`` for sequence models."""

    rank = 1
    _paddings = ("valid", "same", "causal")


class Conv2D(_Conv):
    """2-d convolution over images (batch, height, width, channels): kernel (kh, kw, C / groups, filters)."""

    rank = 2


class Conv3D(_Conv):
    """3-d convolution over volumes (batch, depth, height, width, channels)."""

    rank = 3


class _ConvTranspose(_BaseConv):
    """Transposed convolution: the gradient of a convolution with respect to its input (kernel (*k, filters, C)).

    Output length per axis (Keras's rules, :func:`~deepgrad.ops.convolution.conv_transpose_length`):
    without ``output_padding``, 'valid' n s + max(span - s, 0) and 'same' n s.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        label = type(self).__name__
        self.filters = _check_positive_int(label, "filters", filters)
        self.output_padding = None if output_padding is None else as_tuple(
            output_padding, self.rank, f"{label}: output_padding", 0)
        if self.output_padding is not None and any(p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"{label}: output_padding {self.output_padding} must be smaller than the strides "
                             f"{self.strides}.")
        self.kernel_initializer = kernel_initializer
        self.kernel_regularizer = kernel_regularizer
        self.kernel_constraint = kernel_constraint
        self.kernel = None

    def build(self, input_shape):
        check_input_rank(self, input_shape, self.rank, self.data_format)
        channels = channels_of(input_shape, self.data_format, self)
        self.kernel = self.add_weight(self.kernel_size + (self.filters, channels), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
                                      name="kernel")
        self._add_bias(self.filters)

    def pre_activation(self, inputs, training=False):
        """z = conv_transpose(x, kernel) + bias, the input of the activation."""
        return conv_transpose(inputs, self.kernel, self.bias, self.strides, self.padding, self.output_padding,
                              self.dilation_rate, self.data_format)

    def compute_output_shape(self, input_shape):
        extra = self.output_padding or (None,) * self.rank
        out = [None if n is None else conv_transpose_length(n, k, s, self.padding, p, d)
               for n, k, s, p, d in zip(spatial_of(input_shape, self.data_format), self.kernel_size,
                                        self.strides, extra, self.dilation_rate)]
        return with_channels(input_shape[0], out, self.filters, self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "output_padding": None if self.output_padding is None else list(self.output_padding),
            **self.serialized("kernel_initializer", "kernel_regularizer", "kernel_constraint"),
        })
        return config


class Conv1DTranspose(_ConvTranspose):
    """1-d transposed convolution (batch, steps, channels)."""

    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """2-d transposed convolution (up-sampling with a learned kernel (kh, kw, filters, C))."""

    rank = 2


class Conv3DTranspose(_ConvTranspose):
    """3-d transposed convolution (batch, depth, height, width, channels)."""

    rank = 3


def _depthwise_output_shape(layer, input_shape, channels_out):
    spatial = spatial_of(input_shape, layer.data_format)
    out = [None if n is None else conv_padding((n,), (k,), (s,), (d,), layer.padding, type(layer).__name__)[1][0]
           for n, k, s, d in zip(spatial, layer.kernel_size, layer.strides, layer.dilation_rate)]
    return with_channels(input_shape[0], out, channels_out, layer.data_format)


class _DepthwiseConv(_BaseConv):
    """Depthwise convolution: each input channel c convolved with its own ``depth_multiplier`` filters.

    kernel (*kernel_size, C, m), output channel c m + j = x[..., c] * kernel[..., c, j] + bias[c m + j]:
    a grouped convolution with one group per input channel (C m output channels).
    """

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        self.depth_multiplier = _check_positive_int(type(self).__name__, "depth_multiplier", depth_multiplier)
        self.depthwise_initializer = depthwise_initializer
        self.depthwise_regularizer = depthwise_regularizer
        self.depthwise_constraint = depthwise_constraint
        self.kernel = None

    def build(self, input_shape):
        self._check_geometry(input_shape)
        channels = channels_of(input_shape, self.data_format, self)
        self.kernel = self.add_weight(self.kernel_size + (channels, self.depth_multiplier),
                                      self.depthwise_initializer, regularizer=self.depthwise_regularizer,
                                      constraint=self.depthwise_constraint, name="kernel")
        self._add_bias(channels * self.depth_multiplier)

    def pre_activation(self, inputs, training=False):
        """z = depthwise_conv(x, kernel) + bias, the input of the activation."""
        return depthwise_conv(inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate,
                              self.data_format)

    def compute_output_shape(self, input_shape):
        channels = channels_of(input_shape, self.data_format, self)
        return _depthwise_output_shape(self, input_shape, channels * self.depth_multiplier)

    def get_config(self):
        config = super().get_config()
        config.update({
            "depth_multiplier": self.depth_multiplier,
            **self.serialized("depthwise_initializer", "depthwise_regularizer", "depthwise_constraint"),
        })
        return config


class DepthwiseConv1D(_DepthwiseConv):
    """1-d depthwise convolution (batch, steps, channels)."""

    rank = 1


class DepthwiseConv2D(_DepthwiseConv):
    """2-d depthwise convolution: kernel (kh, kw, C, depth_multiplier), C * depth_multiplier outputs."""

    rank = 2


class _SeparableConv(_BaseConv):
    """Depthwise separable convolution: a depthwise convolution, then a pointwise (1x1) one.

    z = conv(depthwise_conv(x, depthwise_kernel), pointwise_kernel) + bias, with
    depthwise_kernel (*kernel_size, C, m) (strides, padding and dilation apply here) and
    pointwise_kernel (1, ..., 1, C m, filters): k^2 C m + C m F weights instead of k^2 C F.
    """

    _kernel_weight = "depthwise_kernel"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        label = type(self).__name__
        self.filters = _check_positive_int(label, "filters", filters)
        self.depth_multiplier = _check_positive_int(label, "depth_multiplier", depth_multiplier)
        self.depthwise_initializer = depthwise_initializer
        self.pointwise_initializer = pointwise_initializer
        self.depthwise_regularizer = depthwise_regularizer
        self.pointwise_regularizer = pointwise_regularizer
        self.depthwise_constraint = depthwise_constraint
        self.pointwise_constraint = pointwise_constraint
        self.depthwise_kernel = self.pointwise_kernel = None

    def build(self, input_shape):
        self._check_geometry(input_shape)
        channels = channels_of(input_shape, self.data_format, self)
        self.depthwise_kernel = self.add_weight(
            self.kernel_size + (channels, self.depth_multiplier), self.depthwise_initializer,
            regularizer=self.depthwise_regularizer, constraint=self.depthwise_constraint, name="depthwise_kernel")
        self.pointwise_kernel = self.add_weight(
            (1,) * self.rank + (channels * self.depth_multiplier, self.filters), self.pointwise_initializer,
            regularizer=self.pointwise_regularizer, constraint=self.pointwise_constraint, name="pointwise_kernel")
        self._add_bias(self.filters)

    def pre_activation(self, inputs, training=False):
        """z = pointwise(depthwise(x)) + bias, the input of the activation."""
        depthwise = depthwise_conv(inputs, self.depthwise_kernel, None, self.strides, self.padding,
                                   self.dilation_rate, self.data_format)
        return conv(depthwise, self.pointwise_kernel, self.bias, data_format=self.data_format)

    def compute_output_shape(self, input_shape):
        return _depthwise_output_shape(self, input_shape, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "depth_multiplier": self.depth_multiplier,
            **self.serialized("depthwise_initializer", "pointwise_initializer", "depthwise_regularizer",
                              "pointwise_regularizer", "depthwise_constraint", "pointwise_constraint"),
        })
        return config


class SeparableConv1D(_SeparableConv):
    """1-d depthwise separable convolution (batch, steps, channels)."""

    rank = 1


class SeparableConv2D(_SeparableConv):
    """2-d depthwise separable convolution (Xception, MobileNet)."""

    rank = 2


# Keras's other spellings
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Convolution2DTranspose, Convolution3DTranspose = Conv2DTranspose, Conv3DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
