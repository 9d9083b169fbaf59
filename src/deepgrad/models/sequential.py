"""Sequential: a plain stack of layers, each feeding the next."""

from __future__ import annotations

from .. import backend
from ..layers.base import KerasTensor, Layer, call_with_mask
from ..layers.core import InputLayer
from .model import Model


class Sequential(Model):
    """A linear stack of layers: ``Sequential([Dense(8, activation='relu', input_dim=4), Dense(1)])``.

    The input shape comes from an ``Input``/``InputLayer`` first, from ``input_shape=``
    or ``input_dim=`` on the first layer, or from the first data the model sees.
    """

    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__(name=name or backend.unique_name("sequential"), trainable=trainable)
        self._input_layer = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer, rebuild=True):
        """Append a layer (an ``Input`` first sets the input shape)."""
        if isinstance(layer, KerasTensor):
            layer = layer.layer
        if isinstance(layer, InputLayer):
            if self._tracked_layers or self._input_layer is not None:
                raise ValueError("an Input/InputLayer can only be the first element of a Sequential model.")
            # not a tracked layer: Keras' model.layers leaves the InputLayer out (and so does get_config's list)
            object.__setattr__(self, "_input_layer", layer)
            self.dtype = layer.dtype
            self._build_if_possible()
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add() expects a Layer, got {type(layer).__name__}: {layer!r}.")
        if layer in self._tracked_layers:
            raise ValueError(f"layer {layer.name!r} is already in the model.")
        if not self._tracked_layers and self._input_layer is None:
            self.dtype = layer.dtype  # the model computes in its first layer's dtype
        self._tracked_layers.append(layer)
        self._output_shapes_cache = None
        self._compiled_state = None
        if rebuild:
            self._build_if_possible()

    def pop(self):
        """Remove and return the last layer."""
        if not self._tracked_layers:
            raise ValueError("pop() on an empty Sequential model.")
        layer = self._tracked_layers.pop()
        self._output_shapes_cache = None
        self._compiled_state = None
        return layer

    def _declared_input_shape(self):
        if self._input_layer is not None:
            return (None,) + self._input_layer.shape
        if self._tracked_layers and self._tracked_layers[0]._input_shape_arg is not None:
            return (None,) + self._tracked_layers[0]._input_shape_arg
        return None

    def _build_if_possible(self):
        shape = self._declared_input_shape() or (self.input_shape_built if self.built else None)
        if shape is not None and self._tracked_layers:
            self.build(shape)

    def call(self, inputs, training=False):
        x, mask = inputs, None
        for layer in self._tracked_layers:
            x, mask = call_with_mask(layer, x, mask, training)
        self._output_masks = [mask]  # read by the loss: masked time steps contribute nothing
        return x

    def forward_logits(self, inputs, training=False, outputs=None):
        """The forward pass with the last layer's activation left out (for fused losses)."""
        layers = self._tracked_layers
        last = layers[-1]
        if (outputs is not None and not outputs[0]) or last.output_activation() is None:
            return self.call(inputs, training=training)
        x, mask = inputs, None
        for layer in layers[:-1]:
            x, mask = call_with_mask(layer, x, mask, training)
        self._output_masks = [mask]
        return last.pre_activation(x, training=training)

    def output_layers(self):
        return self._tracked_layers[-1:] if self._tracked_layers else None

    @property
    def input_shape(self):
        return self.input_shape_built

    @property
    def output_shape(self):
        return self._tracked_layers[-1].last_output_shape if self._tracked_layers else None

    def get_config(self):
        from .saving import serialize_layer  # noqa: PLC0415

        layers = []
        if self._input_layer is not None:
            layers.append(serialize_layer(self._input_layer))
        layers.extend(serialize_layer(layer) for layer in self._tracked_layers)
        config = {"name": self.name, "trainable": self.trainable, "layers": layers}
        if self.built and self.input_shape_built is not None:
            config["build_input_shape"] = list(self.input_shape_built)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from .saving import deserialize_layer  # noqa: PLC0415

        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for layer_config in config["layers"]:
            model.add(deserialize_layer(layer_config, custom_objects), rebuild=False)
        shape = config.get("build_input_shape")
        if shape is not None:
            model.build(tuple(shape))
        else:
            model._build_if_possible()
        return model
