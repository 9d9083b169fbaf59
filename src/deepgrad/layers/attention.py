"""Attention layers: Attention (dot-product), AdditiveAttention and MultiHeadAttention (Keras 3).

Every one of them computes weights w = softmax(scores(query, key)) over the keys and
returns w @ value, the average of the values weighted by how well their key matches
each query. Masks take keys out of the softmax (padding, or the future under a causal
mask) through :func:`deepgrad.ops.attention.masked_softmax`; everything else is
composed from matrix products, so the engine derives the gradients.

Shapes: query (batch, Tq, dim), value (batch, Tv, dim_v), key (batch, Tv, dim_k)
(key defaults to value); scores and weights (batch, Tq, Tv), or (batch, heads, Tq, Tv)
for multi-head attention.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..ops.attention import masked_softmax
from ..tensor import Tensor
from .base import check_number, combine_masks
from .core import _RandomLayer


def _array(mask):
    """A mask (Tensor, array, list or None) as a boolean NumPy/CuPy array, or None."""
    if mask is None:
        return None
    data = mask.data if isinstance(mask, Tensor) else mask
    data = data if backend.namespace(data) is not np else np.asarray(data)  # a device mask stays there
    return data.astype(bool, copy=False)


def causal_mask(query_length, value_length):
    """(1, Tq, Tv) boolean: query i may attend to keys j <= i (Keras' lower-triangular causal mask)."""
    rows = np.arange(query_length)[:, None]
    cols = np.arange(value_length)[None, :]
    return (rows >= cols)[None]


class _AttentionDropout(_RandomLayer):
    """The seeded dropout of attention weights shared by the attention layers."""

    def _drop(self, weights, training):
        """Inverted dropout of the attention weights while training: w * m / (1 - rate), m ~ Bernoulli(1 - rate)."""
        if not training or self.dropout == 0:
            return weights
        keep = 1.0 - self.dropout
        mask = (self._uniform(weights.shape, weights.data) < keep).astype(weights.dtype)
        mask *= 1.0 / keep
        return weights * Tensor(mask)


class Attention(_AttentionDropout):
    """Dot-product (Luong-style) attention, Keras 3's ``Attention``.

    scores = query @ key^T (times the learned scalar ``scale`` when ``use_scale``), or with
    ``score_mode='concat'``: scores[i, j] = c * sum_d tanh(scale * (query_i + key_j)_d)
    with the learned scalar c; w = softmax(scores) over the keys (masked keys get no
    weight); output = w @ value, zeroed at masked query steps.

    Called on ``[query, value]`` or ``[query, value, key]``, with ``mask=[query_mask,
    value_mask]`` (boolean, (batch, Tq) and (batch, Tv)), ``use_causal_mask`` (query i sees
    keys j <= i) and ``return_attention_scores`` (also return w).
    """

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"Attention: score_mode must be 'dot' or 'concat', got score_mode={score_mode!r}.")
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.dropout = check_number(type(self).__name__, "dropout", dropout, 0, 1, high_open=True)
        self.scale = None
        self.concat_score_weight = None

    def build(self, input_shape):
        _split_inputs(input_shape, type(self).__name__)
        if self.use_scale:
            self.scale = self.add_weight((), "ones", name="scale")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight((), "ones", name="concat_score_weight")

    def _calculate_scores(self, query, key):
        if self.score_mode == "dot":
            scores = query @ key.transpose(0, 2, 1)
            return scores * self.scale if self.scale is not None else scores
        pairs = query.unsqueeze(-2) + key.unsqueeze(-3)  # (batch, Tq, Tv, dim)
        if self.scale is not None:
            pairs = pairs * self.scale
        return self.concat_score_weight * pairs.tanh().sum(axis=-1)

    def call(self, inputs, mask=None, training=False, return_attention_scores=False, use_causal_mask=False):
        query, value, key = _split_inputs(inputs, type(self).__name__)
        query_mask, value_mask = _split_masks(mask, type(self).__name__)
        scores = self._calculate_scores(query, key)
        keep = None if value_mask is None else value_mask[:, None, :]
        if use_causal_mask:
            keep = combine_masks(keep, causal_mask(scores.shape[-2], scores.shape[-1]))
        weights = masked_softmax(scores, keep, axis=-1)
        result = self._drop(weights, training) @ value
        if query_mask is not None:
            result = result * Tensor(query_mask[..., None].astype(result.dtype))
        return (result, weights) if return_attention_scores else result

    def compute_output_shape(self, input_shape):
        query, value, _ = _split_inputs(input_shape, type(self).__name__)
        return tuple(query[:-1]) + (value[-1],)

    def get_config(self):
        config = super().get_config()
        config.update({"use_scale": self.use_scale, "score_mode": self.score_mode, "dropout": self.dropout})
        return config


class AdditiveAttention(Attention):
    """Additive (Bahdanau-style) attention, Keras 3's ``AdditiveAttention``.

    scores[i, j] = sum_d scale_d * tanh(query_i + key_j)_d, with the learned vector
    ``scale`` (dim,) when ``use_scale`` (the default) and 1 otherwise; then as
    :class:`Attention`: w = softmax(scores), output = w @ value. Query and key need the
    same last dimension.
    """

    def __init__(self, use_scale=True, dropout=0.0, seed=None, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, seed=seed, **kwargs)

    def build(self, input_shape):
        query, _, _ = _split_inputs(input_shape, type(self).__name__)
        if self.use_scale:
            self.scale = self.add_weight((query[-1],), "glorot_uniform", name="scale")

    def _calculate_scores(self, query, key):
        pairs = (query.unsqueeze(-2) + key.unsqueeze(-3)).tanh()  # (batch, Tq, Tv, dim)
        if self.scale is not None:
            pairs = pairs * self.scale
        return pairs.sum(axis=-1)

    def get_config(self):
        config = super().get_config()
        del config["score_mode"]
        return config


def _split_inputs(inputs, layer):
    """(query, value, key) from ``[query, value]`` or ``[query, value, key]`` (key defaults to value)."""
    if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
        raise ValueError(f"{layer} is called on a list [query, value] or [query, value, key], got {inputs!r}.")
    query, value = inputs[0], inputs[1]
    return query, value, inputs[2] if len(inputs) == 3 else value


def _split_masks(mask, layer):
    if mask is None:
        return None, None
    if not isinstance(mask, (list, tuple)) or len(mask) not in (2, 3):
        raise ValueError(f"{layer}: mask must be a list [query_mask, value_mask], got {mask!r}.")
    return _array(mask[0]), _array(mask[1])


class MultiHeadAttention(_AttentionDropout):
    """Multi-head attention (Vaswani et al. 2017, "Attention Is All You Need"), Keras 3's signature.

    For each head h: Q_h = query W^q_h + b^q_h, K_h = key W^k_h + b^k_h, V_h = value W^v_h + b^v_h,
    A_h = softmax(Q_h K_h^T / sqrt(key_dim)) (masked keys get no weight), O_h = A_h V_h;
    output = sum_h O_h W^o_h + b^o. Weights as Keras stores them: the query/key/value kernels
    (dim, num_heads, key_dim) (value_dim for value) with biases (num_heads, key_dim), the output
    kernel (num_heads, value_dim, output_dim) with bias (output_dim,); ``output_dim`` is the
    query's last dimension unless ``output_shape`` is given.

    Called as ``layer(query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
    attention_mask=None, return_attention_scores=False, training=None, use_causal_mask=False)``
    on (batch, T, dim) inputs. Masks are boolean, True = attend: query/value/key masks
    (batch, T), ``attention_mask`` (batch, Tq, Tv); they are combined by AND. With
    ``return_attention_scores`` the weights A (batch, num_heads, Tq, Tv), before dropout, are
    returned too. Attention runs over axis 1 (Keras' default ``attention_axes``).
    """

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, seed=None, **kwargs):
        super().__init__(seed=seed, activity_regularizer=activity_regularizer, **kwargs)
        self.num_heads = check_number("MultiHeadAttention", "num_heads", num_heads, 1, integer=True)
        self.key_dim = check_number("MultiHeadAttention", "key_dim", key_dim, 1, integer=True)
        self.value_dim = self.key_dim if value_dim is None else check_number(
            "MultiHeadAttention", "value_dim", value_dim, 1, integer=True)
        self._value_dim_arg = value_dim
        self.dropout = check_number("MultiHeadAttention", "dropout", dropout, 0, 1, high_open=True)
        self.use_bias = bool(use_bias)
        self.output_shape_arg = _check_output_shape(output_shape)
        if attention_axes not in (None, 1, (1,), [1]):
            raise ValueError(
                "MultiHeadAttention: deepgrad supports attention over the sequence axis of (batch, T, dim) "
                f"inputs (attention_axes=None or (1,)), got attention_axes={attention_axes!r}."
            )
        self.attention_axes = None if attention_axes is None else (1,)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint

    # ---- weights
    def _projection(self, name, shape):
        kernel = self.add_weight(shape, self.kernel_initializer, regularizer=self.kernel_regularizer,
                                 constraint=self.kernel_constraint, name=f"{name}_kernel")
        bias = None
        if self.use_bias:
            bias_shape = shape[1:] if name != "output" else shape[-1:]
            bias = self.add_weight(bias_shape, self.bias_initializer, regularizer=self.bias_regularizer,
                                   constraint=self.bias_constraint, name=f"{name}_bias")
        return kernel, bias

    def build(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None and isinstance(query_shape, list):  # built from a call's list of shapes
            query_shape, value_shape, key_shape = (list(query_shape) + [None])[:3]
        if value_shape is None:
            raise ValueError("MultiHeadAttention.build needs the query and value shapes: "
                             "build(query_shape, value_shape).")
        key_shape = value_shape if key_shape is None else key_shape
        for what, shape in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if len(shape) != 3 or shape[-1] is None:
                raise ValueError(f"MultiHeadAttention: {what} must have shape (batch, sequence, features) with known "
                                 f"features, got {tuple(shape)}.")
        if value_shape[1] is not None and key_shape[1] is not None and value_shape[1] != key_shape[1]:
            raise ValueError(f"MultiHeadAttention: key and value must have the same sequence length, got key "
                             f"{tuple(key_shape)} and value {tuple(value_shape)}.")
        heads = self.num_heads
        out_dim = self.output_shape_arg[0] if self.output_shape_arg else query_shape[-1]
        self.query_kernel, self.query_bias = self._projection("query", (query_shape[-1], heads, self.key_dim))
        self.key_kernel, self.key_bias = self._projection("key", (key_shape[-1], heads, self.key_dim))
        self.value_kernel, self.value_bias = self._projection("value", (value_shape[-1], heads, self.value_dim))
        self.output_kernel, self.output_bias = self._projection("output", (heads, self.value_dim, out_dim))

    def kernel_and_bias(self):
        return self.output_kernel, self.output_bias

    # ---- forward
    def __call__(self, query, value=None, key=None, training=None, **kwargs):
        if value is None:  # already packed: a functional graph or a symbolic call hands over the list
            return super().__call__(query, training=training, **kwargs)
        inputs = [query, value] if key is None else [query, value, key]
        return super().__call__(inputs, training=training, **kwargs)

    def _project(self, x, kernel, bias):
        """(batch, T, dim) -> (batch, heads, T, depth): x W + b with W (dim, heads, depth), as one 2-D product."""
        batch, steps, dim = x.shape
        _, heads, depth = kernel.shape
        y = x.reshape(batch * steps, dim) @ kernel.reshape(dim, heads * depth)
        if bias is not None:
            y = y + bias.reshape(heads * depth)
        return y.reshape(batch, steps, heads, depth).transpose(0, 2, 1, 3)

    def call(self, query, value=None, key=None, query_mask=None, value_mask=None, key_mask=None,
             attention_mask=None, return_attention_scores=False, training=None, use_causal_mask=False):
        if isinstance(query, (list, tuple)):
            query, value, key = (list(query) + [None])[:3]
        key = value if key is None else key
        for what, x in (("query", query), ("value", value), ("key", key)):
            if x.ndim != 3:
                raise ValueError(f"MultiHeadAttention: {what} must have shape (batch, sequence, features), "
                                 f"got {tuple(x.shape)}.")
        q = self._project(query, self.query_kernel, self.query_bias) * (1.0 / math.sqrt(self.key_dim))
        k = self._project(key, self.key_kernel, self.key_bias)
        v = self._project(value, self.value_kernel, self.value_bias)
        scores = q @ k.transpose(0, 1, 3, 2)                      # (batch, heads, Tq, Tv)
        keep = self._attention_mask(query.shape[1], value.shape[1], query_mask, value_mask, key_mask,
                                    attention_mask, use_causal_mask)
        weights = masked_softmax(scores, None if keep is None else keep[:, None], axis=-1)
        context = self._drop(weights, training) @ v               # (batch, heads, Tq, value_dim)
        batch, heads, steps, depth = context.shape
        merged = context.transpose(0, 2, 1, 3).reshape(batch * steps, heads * depth)
        out = merged @ self.output_kernel.reshape(heads * depth, -1)
        if self.output_bias is not None:
            out = out + self.output_bias
        out = out.reshape(batch, steps, -1)
        return (out, weights) if return_attention_scores else out

    @staticmethod
    def _attention_mask(query_length, value_length, query_mask, value_mask, key_mask, attention_mask, causal):
        """The (batch or 1, Tq, Tv) boolean mask of allowed query-key pairs (Keras' rule: the AND of all given)."""
        query_mask, value_mask, key_mask = _array(query_mask), _array(value_mask), _array(key_mask)
        return combine_masks(
            None if query_mask is None else query_mask[:, :, None],
            None if value_mask is None else value_mask[:, None, :],
            None if key_mask is None else key_mask[:, None, :],
            causal_mask(query_length, value_length) if causal else None,
            _array(attention_mask),
        )

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None and isinstance(query_shape, list):
            query_shape = query_shape[0]
        out_dim = self.output_shape_arg[0] if self.output_shape_arg else query_shape[-1]
        return tuple(query_shape[:-1]) + (out_dim,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self._value_dim_arg,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "output_shape": None if self.output_shape_arg is None else list(self.output_shape_arg),
            "attention_axes": None if self.attention_axes is None else list(self.attention_axes),
            **self.serialized("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                              "kernel_constraint", "bias_constraint"),
        })
        return config


def _check_output_shape(output_shape):
    """``output_shape`` (None, an int or a one-entry tuple) as None or a 1-tuple."""
    if output_shape is None:
        return None
    shape = (output_shape,) if isinstance(output_shape, (int, np.integer)) else tuple(output_shape)
    if len(shape) != 1 or not isinstance(shape[0], (int, np.integer)) or isinstance(shape[0], bool) or shape[0] < 1:
        raise ValueError("MultiHeadAttention: output_shape must be a positive int (the last dimension of the "
                         f"output), got output_shape={output_shape!r}.")
    return (int(shape[0]),)
