"""Recurrent layers (SimpleRNN, LSTM, GRU), their wrappers (Bidirectional, TimeDistributed) and
the sequence helpers RepeatVector and Masking, with Keras 3's names, arguments and defaults.

Each recurrent layer runs its whole sequence through one op of :mod:`deepgrad.ops.recurrent`
(the loop over time forward, backpropagation through time backward), whose result holds
every hidden state: ``return_sequences`` and ``return_state`` are views of it.
Weights have Keras' shapes and gate orders: kernel (input_dim, k units), recurrent_kernel
(units, k units), bias (k units,), or (2, 3 units) for GRU with ``reset_after=True``;
k = 1, 4 (i, f, c, o) or 3 (z, r, h).
"""

from __future__ import annotations

import numpy as np

from ..backend import namespace
from ..ops import recurrent as rnn_ops
from ..ops.shape import broadcast_to, concatenate, getitem, unsqueeze
from ..tensor import Tensor, as_tensor, no_grad
from .base import Layer, _serialize, check_number, layer_classes
from .core import _RandomLayer


class _RNN(_RandomLayer):
    """What SimpleRNN, LSTM and GRU share: arguments, weights, dropout masks, states and outputs."""

    _gates = 1
    _n_states = 1

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, **kwargs):
        kind = type(self).__name__
        units = check_number(kind, "units", units, 1, integer=True)
        super().__init__(seed=seed, activity_regularizer=activity_regularizer, **kwargs)
        self.units = units
        self.activation = activation if callable(activation) else (activation or "linear")
        rnn_ops.activation_pair(self.activation)  # refuse an unsupported activation here
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.recurrent_regularizer = recurrent_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = kernel_constraint
        self.recurrent_constraint = recurrent_constraint
        self.bias_constraint = bias_constraint
        self.dropout = check_number(kind, "dropout", dropout, 0, 1, high_open=True)
        self.recurrent_dropout = check_number(kind, "recurrent_dropout", recurrent_dropout, 0, 1, high_open=True)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # accepted for Keras' signature: the op is one loop either way
        self.states = None
        self.kernel = self.recurrent_kernel = self.bias = None

    def _bias_shape(self):
        return (self._gates * self.units,)

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} expects inputs of shape "
                             f"(batch, timesteps, features) with known features, got {input_shape}.")
        width = self._gates * self.units
        self.kernel = self.add_weight((input_shape[-1], width), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
                                      name="kernel")
        self.recurrent_kernel = self.add_weight((self.units, width), self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint, name="recurrent_kernel")
        if self.use_bias:
            self.bias = self.add_weight(self._bias_shape(), self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint,
                                        name="bias")

    def _run(self, x, states, mask, recurrent_mask):
        """The op's result: every hidden state in processing order."""
        raise NotImplementedError

    def _split(self, result):
        """(output sequence, [final states]) from the op's result."""
        return result, [result[:, -1]]

    def _initial_states(self, inputs, initial_state):
        if initial_state is None:
            if self.stateful and self.states is not None and self.states[0].shape[0] == inputs.shape[0]:
                return [Tensor(s) for s in self.states]
            return [None] * self._n_states
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        if len(states) != self._n_states:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} takes {self._n_states} initial state(s) "
                             f"of shape (batch, {self.units}), got {len(states)}.")
        expected = (inputs.shape[0], self.units)
        checked = []
        for s in states:
            s = as_tensor(s, like=inputs)
            if s.shape != expected:
                raise ValueError(f"{type(self).__name__} layer {self.name!r}: initial_state must have shape "
                                 f"(batch, units) = {expected}, got {s.shape}.")
            checked.append(s)
        return checked

    def _dropout_mask(self, rate, shape, like):
        keep = 1.0 - rate
        return (self._uniform(shape, like) < keep).astype(like.dtype) / like.dtype.type(keep)

    def call(self, inputs, training=False, mask=None, initial_state=None):
        inputs = as_tensor(inputs)
        if inputs.ndim != 3:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} expects inputs of shape "
                             f"(batch, timesteps, features), got shape {inputs.shape}.")
        states = self._initial_states(inputs, initial_state)
        x = inputs
        if training and self.dropout > 0:
            x = x * Tensor(self._dropout_mask(self.dropout, (x.shape[0], 1, x.shape[2]), x.data))
        recurrent_mask = None
        if training and self.recurrent_dropout > 0:
            recurrent_mask = self._dropout_mask(self.recurrent_dropout, (x.shape[0], self.units), x.data)
        if mask is not None:
            mask = namespace(x.data).asarray(mask.data if isinstance(mask, Tensor) else mask).astype(bool)
        result = self._run(x, states, mask, recurrent_mask)
        sequence, finals = self._split(result)
        if self.stateful:
            self.states = [f.data.copy() for f in finals]
        output = sequence if self.return_sequences else finals[0]
        return [output] + finals if self.return_state else output

    def compute_mask(self, inputs, mask=None):
        output_mask = mask if self.return_sequences else None
        return [output_mask] + [None] * self._n_states if self.return_state else output_mask

    def reset_states(self, states=None):
        """Forget the carried states of a stateful layer (or set them: arrays of shape (batch, units))."""
        self.states = None if states is None else [np.asarray(s, dtype=self.dtype) for s in states]

    reset_state = reset_states

    def kernel_and_bias(self):
        return self.kernel, self.bias

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": _serialize(self.activation),
            "use_bias": self.use_bias,
            **self.serialized("kernel_initializer", "recurrent_initializer", "bias_initializer", "kernel_regularizer",
                              "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
                              "recurrent_constraint", "bias_constraint"),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
        })
        return config


class SimpleRNN(_RNN):
    """A fully connected recurrent layer: h_t = activation(x_t W + h_{t-1} U + b).

    ``activation`` is 'tanh' (default) or 'relu' (also 'sigmoid', 'linear', 'hard_sigmoid').
    Its gradient through time is a product of one Jacobian per step and vanishes over long
    sequences (see :func:`deepgrad.ops.recurrent.simple_rnn`).
    """

    def _run(self, x, states, mask, recurrent_mask):
        return rnn_ops.simple_rnn(x, self.kernel, self.recurrent_kernel, self.bias, states[0], mask,
                                  self.go_backwards, self.activation, recurrent_mask, trace_key=self.name)


class LSTM(_RNN):
    """Long short-term memory (gates i, f, c, o; equations in :func:`deepgrad.ops.recurrent.lstm`).

    ``unit_forget_bias=True`` (default) starts the forget gate's bias at 1, so the cell
    state and its gradient pass through time from the first step of training.
    ``return_state=True`` returns [output, h_T, c_T].
    """

    _gates = 4
    _n_states = 2

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer, **kwargs)
        self.recurrent_activation = recurrent_activation
        rnn_ops.activation_pair(recurrent_activation, "recurrent_activation")
        self.unit_forget_bias = bool(unit_forget_bias)

    def build(self, input_shape):
        super().build(input_shape)
        if self.use_bias and self.unit_forget_bias:
            self.bias.data[self.units:2 * self.units] = 1

    def _run(self, x, states, mask, recurrent_mask):
        return rnn_ops.lstm(x, self.kernel, self.recurrent_kernel, self.bias, states, mask, self.go_backwards,
                            self.activation, self.recurrent_activation, recurrent_mask, trace_key=self.name)

    def _split(self, result):
        n = self.units
        return result[:, :, :n], [result[:, -1, :n], result[:, -1, n:]]

    def get_config(self):
        config = super().get_config()
        config.update({"recurrent_activation": _serialize(self.recurrent_activation),
                       "unit_forget_bias": self.unit_forget_bias})
        return config


class GRU(_RNN):
    """Gated recurrent unit (gates z, r, h; equations in :func:`deepgrad.ops.recurrent.gru`).

    ``reset_after=True`` (Keras 3's default, PyTorch's formulation) applies the reset
    gate after the recurrent product and has two biases, bias (2, 3 units).
    """

    _gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 reset_after=True, **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)
        self.recurrent_activation = recurrent_activation
        rnn_ops.activation_pair(recurrent_activation, "recurrent_activation")
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _run(self, x, states, mask, recurrent_mask):
        return rnn_ops.gru(x, self.kernel, self.recurrent_kernel, self.bias, states[0], mask, self.go_backwards,
                           self.activation, self.recurrent_activation, self.reset_after, recurrent_mask,
                           trace_key=self.name)

    def get_config(self):
        config = super().get_config()
        config.update({"recurrent_activation": _serialize(self.recurrent_activation),
                       "reset_after": self.reset_after})
        return config


def _layer_config(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def _layer_from_config(entry):
    if isinstance(entry, Layer):
        return entry
    classes = layer_classes()
    name = entry["class_name"]
    if name not in classes:
        raise ValueError(f"unknown layer class {name!r} in a wrapper's config.")
    return classes[name].from_config(dict(entry["config"]))


def _reverse_time(t):
    return getitem(t, (slice(None), slice(None, None, -1)))


class Bidirectional(Layer):
    """Runs a recurrent layer forward and a copy backward in time and merges their outputs.

    ``merge_mode``: 'concat' (default), 'sum', 'mul', 'ave' or None (a list of both
    outputs). The backward layer is ``backward_layer`` when given, else a copy of
    ``layer`` with ``go_backwards`` flipped; its output sequence is put back in input
    order before merging. With ``return_state`` the states of the forward layer follow
    the output, then those of the backward layer.
    """

    _MODES = ("concat", "sum", "mul", "ave", None)

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        layer = _layer_from_config(layer)
        if not isinstance(layer, _RNN):
            raise ValueError(f"Bidirectional wraps a SimpleRNN, LSTM or GRU layer, got {layer!r}.")
        if merge_mode not in self._MODES:
            raise ValueError(f"Bidirectional: merge_mode must be one of {list(self._MODES)}, got {merge_mode!r}.")
        kwargs.setdefault("name", f"bidirectional_{layer.name}")
        super().__init__(**kwargs)
        self.merge_mode = merge_mode
        self._backward_given = backward_layer is not None
        if backward_layer is None:
            config = layer.get_config()
            config["go_backwards"] = not layer.go_backwards
            config["name"] = f"backward_{layer.name}"
            backward_layer = type(layer).from_config(config)
        else:
            backward_layer = _layer_from_config(backward_layer)
        if backward_layer.return_sequences != layer.return_sequences or \
                backward_layer.return_state != layer.return_state:
            raise ValueError("Bidirectional: the forward and backward layers must agree on return_sequences "
                             "and return_state.")
        self.forward_layer = layer
        self.backward_layer = backward_layer
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self._initial_weights = weights

    def _sublayers(self):
        return [self.forward_layer, self.backward_layer]

    def build(self, input_shape):
        self.forward_layer.build_from_shape(input_shape)
        self.backward_layer.build_from_shape(input_shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def _merge(self, a, b):
        if self.merge_mode == "concat":
            return concatenate([a, b], axis=-1)
        if self.merge_mode == "sum":
            return a + b
        if self.merge_mode == "mul":
            return a * b
        if self.merge_mode == "ave":
            return (a + b) * 0.5
        return [a, b]

    def call(self, inputs, training=False, mask=None, initial_state=None):
        forward_states = backward_states = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_states, backward_states = initial_state[:half], initial_state[half:]
        kwargs = {} if mask is None else {"mask": mask}
        fwd = self.forward_layer(inputs, training=training, initial_state=forward_states, **kwargs)
        bwd = self.backward_layer(inputs, training=training, initial_state=backward_states, **kwargs)
        states = []
        if self.return_state:
            fwd, states = fwd[0], fwd[1:] + bwd[1:]
            bwd = bwd[0]
        if self.return_sequences and self.backward_layer.go_backwards != self.forward_layer.go_backwards:
            bwd = _reverse_time(bwd)
        merged = self._merge(fwd, bwd)
        if self.return_state:
            return (merged if isinstance(merged, list) else [merged]) + states
        return merged

    def compute_mask(self, inputs, mask=None):
        output_mask = mask if self.return_sequences else None
        if self.merge_mode is None:
            output_mask = [output_mask, output_mask]
        if self.return_state:
            n_states = 2 * self.forward_layer._n_states
            return (output_mask if isinstance(output_mask, list) else [output_mask]) + [None] * n_states
        return output_mask

    def reset_states(self, states=None):
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    def get_config(self):
        config = super().get_config()
        config.update({"layer": _layer_config(self.forward_layer), "merge_mode": self.merge_mode})
        if self._backward_given:
            config["backward_layer"] = _layer_config(self.backward_layer)
        return config


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step: (batch, time, ...) -> (batch, time, ...out).

    The steps are folded into the batch axis, so the layer runs once on (batch * time, ...)
    and its weights are shared by all steps. A mask passes through unchanged.
    """

    def __init__(self, layer, **kwargs):
        layer = _layer_from_config(layer)
        kwargs.setdefault("name", f"time_distributed_{layer.name}")
        super().__init__(**kwargs)
        self.layer = layer

    def _sublayers(self):
        return [self.layer]

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(f"TimeDistributed expects inputs of shape (batch, time, ...), got {input_shape}.")
        self.layer.build_from_shape((None,) + tuple(input_shape[2:]))

    def call(self, inputs, training=False):
        batch, steps = inputs.shape[:2]
        out = self.layer(inputs.reshape((batch * steps,) + tuple(inputs.shape[2:])), training=training)
        return out.reshape((batch, steps) + tuple(out.shape[1:]))

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config["layer"] = _layer_config(self.layer)
        return config


class RepeatVector(Layer):
    """Repeats a vector n times: (batch, features) -> (batch, n, features)."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = check_number("RepeatVector", "n", n, 1, integer=True)

    def call(self, inputs):
        if inputs.ndim != 2:
            raise ValueError(f"RepeatVector expects inputs of shape (batch, features), got {inputs.shape}.")
        return broadcast_to(unsqueeze(inputs, 1), (inputs.shape[0], self.n, inputs.shape[1]))

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config["n"] = self.n
        return config


class Masking(Layer):
    """Masks the time steps whose features all equal ``mask_value``: later layers skip them.

    The mask is any(x != mask_value) over the last axis; the output is x with the masked
    steps set to zero (as Keras does).
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = check_number("Masking", "mask_value", mask_value)

    def _mask(self, inputs):
        data = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        return (data != self.mask_value).any(axis=-1)

    def call(self, inputs):
        keep = self._mask(inputs)
        return inputs * Tensor(keep[..., None].astype(inputs.dtype))

    def compute_mask(self, inputs, mask=None):
        with no_grad():
            return self._mask(inputs)

    def get_config(self):
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config
