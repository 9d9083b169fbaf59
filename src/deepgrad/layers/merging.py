"""Merge layers: combine a list of tensors of the functional API into one."""

from __future__ import annotations

import functools

from .. import ops
from .base import Layer, check_number


class _Merge(Layer):
    """Base of the merge layers: ``call`` receives a list of at least two tensors."""

    def call(self, inputs, training=False):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} needs a list of at least 2 inputs.")
        return self._merge(list(inputs))


class Add(_Merge):
    """Elementwise sum: out = x_1 + x_2 + ... (a residual connection's join)."""

    def _merge(self, inputs):
        return functools.reduce(ops.add, inputs)


class Subtract(_Merge):
    """Elementwise difference of exactly two inputs: out = x_1 - x_2."""

    def _merge(self, inputs):
        if len(inputs) != 2:
            raise ValueError(f"Subtract layer {self.name!r} needs exactly 2 inputs, got {len(inputs)}.")
        return inputs[0] - inputs[1]


class Multiply(_Merge):
    """Elementwise product: out = x_1 * x_2 * ..."""

    def _merge(self, inputs):
        return functools.reduce(ops.mul, inputs)


class Average(_Merge):
    """Elementwise mean: out = (x_1 + ... + x_n) / n."""

    def _merge(self, inputs):
        return functools.reduce(ops.add, inputs) / len(inputs)


class Maximum(_Merge):
    """Elementwise maximum of the inputs."""

    def _merge(self, inputs):
        return functools.reduce(ops.maximum, inputs)


class Minimum(_Merge):
    """Elementwise minimum of the inputs."""

    def _merge(self, inputs):
        return functools.reduce(ops.minimum, inputs)


class Concatenate(_Merge):
    """Joins the inputs along ``axis`` (the features by default)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = check_number("Concatenate", "axis", axis, integer=True)

    def _merge(self, inputs):
        return ops.concatenate(inputs, axis=self.axis)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config
