"""Activation layers, including the ones with learned parameters (PReLU, APL, soft exponential).

Each layer calls its function in :mod:`deepgrad.activations`, where the formula,
range and derivative are documented once.
"""

from __future__ import annotations

from .. import activations
from .base import Layer, _serialize, check_axes, check_number


class ReLU(Layer):
    """Rectified linear unit layer: :func:`deepgrad.activations.relu` with Keras' options.

    f(x) = max_value if x >= max_value; x if threshold <= x < max_value;
    negative_slope * (x - threshold) otherwise.
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None:
            check_number("ReLU", "max_value", max_value, 0)
        self.max_value = max_value
        self.negative_slope = check_number("ReLU", "negative_slope", negative_slope, 0)
        self.threshold = check_number("ReLU", "threshold", threshold)

    def call(self, inputs, training=False):
        return activations.relu(inputs, negative_slope=self.negative_slope, max_value=self.max_value,
                                threshold=self.threshold)

    def get_config(self):
        config = super().get_config()
        config.update({"max_value": self.max_value, "negative_slope": self.negative_slope,
                       "threshold": self.threshold})
        return config


class LeakyReLU(Layer):
    """Leaky ReLU layer: f(x) = x for x >= 0, negative_slope * x otherwise (Keras default 0.3)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:  # the Keras 2 name of the slope
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        self.negative_slope = check_number("LeakyReLU", "negative_slope", negative_slope, 0)

    def call(self, inputs, training=False):
        return activations.leaky_relu(inputs, negative_slope=self.negative_slope)

    def get_config(self):
        config = super().get_config()
        config["negative_slope"] = self.negative_slope
        return config


class ELU(Layer):
    """Exponential linear unit layer: f(x) = x for x > 0, alpha (e^x - 1) otherwise."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = check_number("ELU", "alpha", alpha)

    def call(self, inputs, training=False):
        return activations.elu(inputs, alpha=self.alpha)

    def get_config(self):
        config = super().get_config()
        config["alpha"] = self.alpha
        return config


class Softmax(Layer):
    """Softmax layer: f(x)_i = e^(x_i) / sum_j e^(x_j) along ``axis``."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = check_axes("Softmax", "axis", axis)
        self.activation = activations.softmax

    def pre_activation(self, inputs, training=False):
        """z = x: the layer is softmax alone."""
        return inputs

    def output_activation(self):
        """Softmax over the last axis, the one fused cross-entropy expects; None for another axis."""
        last = self.axis == -1 or (self.input_shape_built is not None
                                   and self.axis == len(self.input_shape_built) - 1)
        return self.activation if last else None

    def call(self, inputs, training=False):
        return activations.softmax(inputs, axis=self.axis)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


def _parameter_shape(input_shape, shared_axes):
    shape = list(input_shape[1:])
    for axis in shared_axes or ():
        shape[axis - 1 if axis > 0 else axis] = 1
    return tuple(shape)


class PReLU(Layer):
    """Parametric ReLU: f(x) = x for x >= 0, alpha * x otherwise, with one learned alpha per unit.

    ``shared_axes`` shares the slope along those axes (e.g. the spatial axes of images).
    """

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = alpha_initializer
        self.alpha_regularizer = alpha_regularizer
        self.alpha_constraint = alpha_constraint
        self.shared_axes = None if shared_axes is None else (
            [shared_axes] if isinstance(shared_axes, int) else list(shared_axes))

    def build(self, input_shape):
        self.alpha = self.add_weight(_parameter_shape(input_shape, self.shared_axes), self.alpha_initializer,
                                     regularizer=self.alpha_regularizer, constraint=self.alpha_constraint,
                                     name="alpha")

    def call(self, inputs, training=False):
        return activations.prelu(inputs, self.alpha)

    def get_config(self):
        config = super().get_config()
        config.update({"alpha_initializer": _serialize(self.alpha_initializer),
                       **self.serialized("alpha_regularizer", "alpha_constraint"),
                       "shared_axes": self.shared_axes})
        return config


class APL(Layer):
    """Adaptive piecewise linear units: f(x) = max(0, x) + sum_s a_s max(0, -x + b_s).

    Each unit learns ``hinges`` slopes a_s and locations b_s (Agostinelli et al., 2015).
    """

    def __init__(self, hinges=2, a_initializer="zeros", b_initializer="random_uniform", **kwargs):
        super().__init__(**kwargs)
        self.hinges = check_number("APL", "hinges", hinges, 1, integer=True)
        self.a_initializer = a_initializer
        self.b_initializer = b_initializer

    def build(self, input_shape):
        shape = tuple(input_shape[1:]) + (self.hinges,)
        self.a = self.add_weight(shape, self.a_initializer, name="a")
        self.b = self.add_weight(shape, self.b_initializer, name="b")

    def call(self, inputs, training=False):
        return activations.apl(inputs, self.a, self.b)

    def get_config(self):
        config = super().get_config()
        config.update({"hinges": self.hinges, "a_initializer": _serialize(self.a_initializer),
                       "b_initializer": _serialize(self.b_initializer)})
        return config


class SoftExponential(Layer):
    """Soft exponential activation with a learned alpha per unit (see :func:`deepgrad.activations.soft_exponential`)."""

    def __init__(self, alpha_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = alpha_initializer

    def build(self, input_shape):
        self.alpha = self.add_weight(tuple(input_shape[1:]), self.alpha_initializer, name="alpha")

    def call(self, inputs, training=False):
        return activations.soft_exponential(inputs, self.alpha)

    def get_config(self):
        config = super().get_config()
        config["alpha_initializer"] = _serialize(self.alpha_initializer)
        return config
