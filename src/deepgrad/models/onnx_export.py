"""ONNX export: a model as an ONNX graph that onnxruntime (and any ONNX runtime) runs as ``predict`` does.

``model.export("m.onnx", format="onnx")`` (Keras 3's call) or :func:`to_onnx` (the
``onnx.ModelProto``) write the inference graph at opset 17 with the ``onnx`` package
(``pip install deepgrad[onnx]``). Each layer becomes a few standard operators:

========================================  ===================================================
layer                                     ONNX operators
========================================  ===================================================
Dense                                     MatMul, Add, then the activation
activations (layers and ``activation=``)  Relu, Sigmoid, Tanh, Softmax, Elu, Selu, LeakyRelu,
                                          Softplus, HardSigmoid, HardSwish, Erf (gelu), ...
BatchNormalization (inference)            Mul, Add with the folded moving statistics
LayerNormalization                        LayerNormalization (trailing axes), else Reduce*
Dropout, noise, random augmentation       nothing (they are the identity at inference)
Conv, DepthwiseConv, SeparableConv        Transpose to channels-first, Conv, Transpose back
ConvTranspose                             ConvTranspose with explicit pads
pooling, global pooling                   MaxPool, AveragePool, ReduceMax, ReduceMean
UpSampling                                Resize (nearest: asymmetric/floor; bilinear: half-pixel)
ZeroPadding, Cropping                     Pad, Slice
Flatten, Reshape, RepeatVector            Flatten, Reshape, Unsqueeze + Expand
merge layers                              Sum, Sub, Mul, Mean, Max, Min, Concat
Embedding                                 Cast to int64, Gather
SimpleRNN, LSTM, GRU, Bidirectional       RNN, LSTM, GRU (time-major, gates reordered)
MultiHeadAttention, Attention              MatMul, Reshape, Transpose, Softmax
========================================  ===================================================

Convolutions follow Keras's padding rule (the extra 'same' element at the end), written
as explicit ``pads`` computed by :func:`deepgrad.ops.convolution.conv_padding`, so the
graph never relies on ONNX's SAME_UPPER/SAME_LOWER. Flatten of a channels-last tensor
keeps deepgrad's row-major order. The batch axis is dynamic (``dim_param='batch'``);
the other sizes are those the model was built for (a recurrent layer's time axis may
stay unknown). A layer with no ONNX form (Lambda, masks, stateful RNNs, custom
layers) raises :class:`OnnxExportError` naming the layer and its type.
"""

from __future__ import annotations

import math

import numpy as np

from .. import activations, backend
from ..layers import activations as activation_layers
from ..layers import (
    attention,
    convolutional,
    core,
    embedding,
    merging,
    normalization,
    pooling,
    preprocessing,
    recurrent,
    reshaping,
)
from ..layers.base import _dummy_inputs, layer_classes
from ..ops.convolution import conv_padding
from ..tensor import no_grad

OPSET = 17
_INT64_MIN = np.iinfo(np.int64).min


class OnnxExportError(ValueError):
    """A model, layer or option that has no ONNX form; the message names the layer and the way out."""


def _onnx():
    try:
        import onnx  # noqa: PLC0415
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install 'deepgrad[onnx]' (or pip install onnx)."
                          ) from None
    return onnx


def _host(weight):
    """A weight's values as a NumPy array (copied from the GPU when the model lives there)."""
    return backend.to_numpy(weight.data)


def _refuse(layer, why):
    raise OnnxExportError(f"cannot export layer {layer.name!r} ({type(layer).__name__}) to ONNX: {why}")


# --------------------------------------------------------------------------- the graph under construction

class _Graph:
    """Nodes and constant tensors of the ONNX graph being written, with unique value names."""

    def __init__(self, onnx):
        self.onnx = onnx
        self.nodes = []
        self.initializers = []
        self._used = set()

    def name(self, hint):
        base = "".join(c if c.isalnum() or c in "_./" else "_" for c in str(hint)) or "value"
        name, k = base, 1
        while name in self._used:
            name, k = f"{base}_{k}", k + 1
        self._used.add(name)
        return name

    def const(self, array, hint="const"):
        """A constant tensor: float arrays as float32, integer arrays as int64."""
        array = np.asarray(array)
        array = array.astype(np.int64 if array.dtype.kind in "biu" else np.float32)
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def ints(self, values, hint="shape"):
        return self.const(np.asarray(values, dtype=np.int64), hint)

    def op(self, op_type, inputs, hint=None, outputs=1, **attrs):
        """Add one node; returns its output name (or the list of ``outputs`` names when > 1)."""
        names = [self.name(f"{hint or op_type.lower()}" + (f"_{i}" if outputs > 1 else "")) for i in range(outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), names, name=self.name(f"{op_type}_node"),
                                                     **attrs))
        return names[0] if outputs == 1 else names


# --------------------------------------------------------------------------- activations

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _gelu(g, x):
    # x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, deepgrad's exact form (opset 17 has no Gelu)
    erf = g.op("Erf", [g.op("Mul", [x, g.const(math.sqrt(0.5))])])
    return g.op("Mul", [g.op("Mul", [x, g.const(0.5)]), g.op("Add", [erf, g.const(1.0)])], "gelu")


_ACTIVATIONS = {
    "linear": lambda g, x: x,
    "relu": lambda g, x: g.op("Relu", [x]),
    "sigmoid": lambda g, x: g.op("Sigmoid", [x]),
    "tanh": lambda g, x: g.op("Tanh", [x]),
    "softmax": lambda g, x: g.op("Softmax", [x], axis=-1),
    "log_softmax": lambda g, x: g.op("LogSoftmax", [x], axis=-1),
    "elu": lambda g, x: g.op("Elu", [x], alpha=1.0),
    "selu": lambda g, x: g.op("Selu", [x], alpha=_SELU_ALPHA, gamma=_SELU_SCALE),
    "leaky_relu": lambda g, x: g.op("LeakyRelu", [x], alpha=0.2),
    "softplus": lambda g, x: g.op("Softplus", [x]),
    "softsign": lambda g, x: g.op("Softsign", [x]),
    "silu": lambda g, x: g.op("Mul", [x, g.op("Sigmoid", [x])], "silu"),
    "hard_sigmoid": lambda g, x: g.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5),
    "hard_silu": lambda g, x: g.op("HardSwish", [x]),
    "relu6": lambda g, x: g.op("Clip", [x, g.const(0.0), g.const(6.0)]),
    "hard_tanh": lambda g, x: g.op("Clip", [x, g.const(-1.0), g.const(1.0)]),
    "exponential": lambda g, x: g.op("Exp", [x]),
    "mish": lambda g, x: g.op("Mul", [x, g.op("Tanh", [g.op("Softplus", [x])])], "mish"),
    "log_sigmoid": lambda g, x: g.op("Neg", [g.op("Softplus", [g.op("Neg", [x])])], "log_sigmoid"),
    "gelu": _gelu,
}


def _activation_name(function):
    if function is None:
        return "linear"
    if isinstance(function, str):
        return activations.serialize(activations.get(function))
    if getattr(function, "__module__", None) == activations.__name__:
        return activations.serialize(function)
    return getattr(function, "__name__", repr(function))


def _apply_activation(g, layer, function, x):
    name = _activation_name(function)
    if name not in _ACTIVATIONS:
        _refuse(layer, f"its activation {name!r} has no ONNX form; exportable activations are "
                       f"{sorted(_ACTIVATIONS)}.")
    return _ACTIVATIONS[name](g, x)


def _relu(g, x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras's ReLU with options, in the order deepgrad computes it (activations.relu)."""
    if threshold != 0:
        out = g.op("Where", [g.op("Greater", [x, g.const(threshold)]), x, g.const(0.0)])
    else:
        out = g.op("Relu", [x])
    if max_value is not None:
        out = g.op("Clip", [out, g.const(0.0), g.const(max_value)])
    if negative_slope != 0:
        below = g.op("Relu", [g.op("Sub", [g.const(threshold), x])])
        out = g.op("Sub", [out, g.op("Mul", [below, g.const(negative_slope)])])
    return out


# --------------------------------------------------------------------------- layer converters
# Each takes (graph, layer, input names, input sample shapes (no batch axis), call keywords) and
# returns the output name, or a list of names for a layer with several outputs.

def _identity(g, layer, xs, shapes, kwargs):
    return xs[0]


def _dense(g, layer, xs, shapes, kwargs):
    z = g.op("MatMul", [xs[0], g.const(_host(layer.kernel), f"{layer.name}/kernel")], layer.name)
    if layer.use_bias:
        z = g.op("Add", [z, g.const(_host(layer.bias), f"{layer.name}/bias")], layer.name)
    return _apply_activation(g, layer, layer.activation, z)


def _activation_layer(g, layer, xs, shapes, kwargs):
    return _apply_activation(g, layer, layer.activation, xs[0])


def _relu_layer(g, layer, xs, shapes, kwargs):
    return _relu(g, xs[0], layer.negative_slope, layer.max_value, layer.threshold)


def _leaky_relu_layer(g, layer, xs, shapes, kwargs):
    return g.op("LeakyRelu", [xs[0]], layer.name, alpha=float(layer.negative_slope))


def _elu_layer(g, layer, xs, shapes, kwargs):
    return g.op("Elu", [xs[0]], layer.name, alpha=float(layer.alpha))


def _softmax_layer(g, layer, xs, shapes, kwargs):
    axes = [layer.axis] if isinstance(layer.axis, int) else list(layer.axis)
    if len(axes) != 1:
        _refuse(layer, f"softmax over several axes {layer.axis} has no single ONNX operator.")
    return g.op("Softmax", [xs[0]], layer.name, axis=int(axes[0]))


def _prelu_layer(g, layer, xs, shapes, kwargs):
    return g.op("PRelu", [xs[0], g.const(_host(layer.alpha), f"{layer.name}/alpha")], layer.name)


def _batch_normalization(g, layer, xs, shapes, kwargs):
    # inference: y = (x - mean) / sqrt(var + eps) * gamma + beta, folded into one scale and one shift
    shape = layer._broadcast
    inv_std = 1.0 / np.sqrt(_host(layer.moving_variance).astype(np.float64) + layer.epsilon)
    scale = inv_std * (_host(layer.gamma) if layer.scale else 1.0)
    shift = -_host(layer.moving_mean) * scale + (_host(layer.beta) if layer.center else 0.0)
    y = g.op("Mul", [xs[0], g.const(scale.reshape(shape), f"{layer.name}/scale")], layer.name)
    return g.op("Add", [y, g.const(shift.reshape(shape), f"{layer.name}/shift")], layer.name)


def _layer_normalization(g, layer, xs, shapes, kwargs):
    rank = len(shapes[0]) + 1
    axes = list(layer._axes)
    x = xs[0]
    if not layer.rms_scaling and axes == list(range(axes[0], rank)):
        feature_shape = [shapes[0][a - 1] for a in axes]
        gamma = _host(layer.gamma) if layer.gamma is not None else np.ones(feature_shape, np.float32)
        beta = _host(layer.beta) if layer.beta is not None else np.zeros(feature_shape, np.float32)
        scale_and_shift = [g.const(gamma, f"{layer.name}/gamma"), g.const(beta, f"{layer.name}/beta")]
        return g.op("LayerNormalization", [x, *scale_and_shift], layer.name, axis=axes[0],
                    epsilon=float(layer.epsilon))
    mean = g.op("ReduceMean", [x], axes=axes, keepdims=1)
    centered = g.op("Sub", [x, mean])
    variance = g.op("ReduceMean", [g.op("Mul", [centered, centered])], axes=axes, keepdims=1)
    std = g.op("Sqrt", [g.op("Add", [variance, g.const(layer.epsilon)])])
    out = g.op("Div", [x if layer.rms_scaling else centered, std], layer.name)
    if layer.gamma is not None:
        out = g.op("Mul", [out, g.const(_host(layer.gamma).reshape(layer._broadcast), f"{layer.name}/gamma")])
    if layer.beta is not None:
        out = g.op("Add", [out, g.const(_host(layer.beta).reshape(layer._broadcast), f"{layer.name}/beta")])
    return out


def _rescaling(g, layer, xs, shapes, kwargs):
    x = g.op("Mul", [xs[0], g.const(layer.scale)], layer.name)
    return g.op("Add", [x, g.const(layer.offset)], layer.name)


def _normalization(g, layer, xs, shapes, kwargs):
    shape = (1,) + layer._broadcast[1:]
    mean = np.asarray(_host(layer.mean), np.float32).reshape(shape)
    std = np.maximum(np.sqrt(np.asarray(_host(layer.variance), np.float32)), preprocessing._EPSILON).reshape(shape)
    if layer.invert:
        return g.op("Add", [g.op("Mul", [xs[0], g.const(std)]), g.const(mean)], layer.name)
    return g.op("Mul", [g.op("Sub", [xs[0], g.const(mean)]), g.const((1.0 / std).astype(np.float32))], layer.name)


# ---- convolution and pooling: ONNX computes channels-first

def _channels_first(layer):
    return getattr(layer, "data_format", "channels_last") == "channels_first"


def _to_nchw(g, layer, x, rank):
    if _channels_first(layer):
        return x
    return g.op("Transpose", [x], f"{layer.name}/nchw", perm=[0, rank + 1, *range(1, rank + 1)])


def _from_nchw(g, layer, x, rank):
    if _channels_first(layer):
        return x
    return g.op("Transpose", [x], layer.name, perm=[0, *range(2, rank + 2), 1])


def _spatial(layer, shape):
    """The static spatial sizes of a sample shape; an error naming the layer when one is unknown."""
    spatial = tuple(shape[1:]) if _channels_first(layer) else tuple(shape[:-1])
    if any(n is None for n in spatial):
        _refuse(layer, f"its spatial sizes {spatial} must be known; give the model's Input a full shape.")
    return spatial


def _pads(layer, shape, kernel_size, strides, dilation_rate, padding):
    pairs, _ = conv_padding(_spatial(layer, shape), kernel_size, strides, dilation_rate, padding, layer.name)
    return [lo for lo, _ in pairs] + [hi for _, hi in pairs]


def _conv_node(g, layer, x, shape, kernel, bias, groups, padding=None, strides=None, dilations=None):
    """An ONNX Conv on channels-first x; ``kernel`` in Keras's layout (*k, C / groups, F)."""
    rank = kernel.ndim - 2
    weight = np.transpose(kernel, (rank + 1, rank, *range(rank)))  # (F, C / groups, *k)
    strides = strides or (1,) * rank
    dilations = dilations or (1,) * rank
    inputs = [x, g.const(weight, f"{layer.name}/kernel")]
    if bias is not None:
        inputs.append(g.const(bias, f"{layer.name}/bias"))
    pads = _pads(layer, shape, kernel.shape[:rank], strides, dilations, padding or "valid")
    return g.op("Conv", inputs, layer.name, kernel_shape=list(kernel.shape[:rank]), strides=list(strides),
                dilations=list(dilations), pads=pads, group=int(groups))


def _conv(g, layer, xs, shapes, kwargs):
    rank = layer.rank
    x = _to_nchw(g, layer, xs[0], rank)
    bias = _host(layer.bias) if layer.use_bias else None
    y = _conv_node(g, layer, x, shapes[0], _host(layer.kernel), bias, layer.groups, layer.padding, layer.strides,
                   layer.dilation_rate)
    return _apply_activation(g, layer, layer.activation, _from_nchw(g, layer, y, rank))


def _flat_depthwise(kernel):
    """(*k, C, m) -> (*k, 1, C m): a grouped convolution with one group per input channel."""
    return kernel.reshape(kernel.shape[:-2] + (1, kernel.shape[-2] * kernel.shape[-1]))


def _depthwise_conv(g, layer, xs, shapes, kwargs):
    rank = layer.rank
    kernel = _host(layer.kernel)
    x = _to_nchw(g, layer, xs[0], rank)
    bias = _host(layer.bias) if layer.use_bias else None
    y = _conv_node(g, layer, x, shapes[0], _flat_depthwise(kernel), bias, kernel.shape[-2], layer.padding,
                   layer.strides, layer.dilation_rate)
    return _apply_activation(g, layer, layer.activation, _from_nchw(g, layer, y, rank))


def _separable_conv(g, layer, xs, shapes, kwargs):
    rank = layer.rank
    kernel = _host(layer.depthwise_kernel)
    x = _to_nchw(g, layer, xs[0], rank)
    y = _conv_node(g, layer, x, shapes[0], _flat_depthwise(kernel), None, kernel.shape[-2], layer.padding,
                   layer.strides, layer.dilation_rate)
    bias = _host(layer.bias) if layer.use_bias else None
    # the pointwise convolution is 1x1, unpadded: any shape with known sizes gives it no pads
    y = _conv_node(g, layer, y, (1,) * (rank + 1), _host(layer.pointwise_kernel), bias, 1)
    return _apply_activation(g, layer, layer.activation, _from_nchw(g, layer, y, rank))


def _conv_transpose(g, layer, xs, shapes, kwargs):
    rank = layer.rank
    spatial = _spatial(layer, shapes[0])
    kernel = _host(layer.kernel)  # (*k, F, C): ONNX wants (C, F, *k)
    weight = np.transpose(kernel, (rank + 1, rank, *range(rank)))
    extra = layer.output_padding or (None,) * rank
    begins, ends, output_padding = [], [], []
    for n, k, s, p, d in zip(spatial, layer.kernel_size, layer.strides, extra, layer.dilation_rate):
        length = convolutional.conv_transpose_length(n, k, s, layer.padding, p, d)
        (lo, _), = conv_padding((length,), (k,), (s,), (d,), layer.padding, layer.name)[0]
        # ONNX's full output is (n - 1) s + span + output_padding - begin - end; deepgrad crops lo at the start
        surplus = (n - 1) * s + (k - 1) * d + 1 - lo - length
        begins.append(lo)
        ends.append(max(surplus, 0))
        output_padding.append(max(-surplus, 0))
    inputs = [_to_nchw(g, layer, xs[0], rank), g.const(weight, f"{layer.name}/kernel")]
    if layer.use_bias:
        inputs.append(g.const(_host(layer.bias), f"{layer.name}/bias"))
    y = g.op("ConvTranspose", inputs, layer.name, kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
             dilations=list(layer.dilation_rate), pads=begins + ends, output_padding=output_padding)
    return _apply_activation(g, layer, layer.activation, _from_nchw(g, layer, y, rank))


def _pooling(g, layer, xs, shapes, kwargs):
    rank = layer.rank
    pads = _pads(layer, shapes[0], layer.pool_size, layer.strides, (1,) * rank, layer.padding)
    x = _to_nchw(g, layer, xs[0], rank)
    if isinstance(layer, (pooling.MaxPooling1D, pooling.MaxPooling2D, pooling.MaxPooling3D)):
        y = g.op("MaxPool", [x], layer.name, kernel_shape=list(layer.pool_size), strides=list(layer.strides),
                 pads=pads)
    else:  # a window reaching into the padding averages its real inputs only (TensorFlow's rule)
        y = g.op("AveragePool", [x], layer.name, kernel_shape=list(layer.pool_size), strides=list(layer.strides),
                 pads=pads, count_include_pad=0)
    return _from_nchw(g, layer, y, rank)


_GLOBAL_MAX = (pooling.GlobalMaxPooling1D, pooling.GlobalMaxPooling2D, pooling.GlobalMaxPooling3D)


def _global_pooling(g, layer, xs, shapes, kwargs):
    rank = layer.rank
    axes = list(range(2, rank + 2)) if _channels_first(layer) else list(range(1, rank + 1))
    op = "ReduceMax" if isinstance(layer, _GLOBAL_MAX) else "ReduceMean"
    return g.op(op, [xs[0]], layer.name, axes=axes, keepdims=int(layer.keepdims))


def _spatial_axes(layer, rank):
    return list(range(2, rank + 2)) if _channels_first(layer) else list(range(1, rank + 1))


def _zero_padding(g, layer, xs, shapes, kwargs):
    rank = layer.rank
    axes = _spatial_axes(layer, rank)
    begins, ends = [0] * (rank + 2), [0] * (rank + 2)
    for axis, (lo, hi) in zip(axes, layer.padding):
        begins[axis], ends[axis] = lo, hi
    return g.op("Pad", [xs[0], g.ints(begins + ends, f"{layer.name}/pads")], layer.name, mode="constant")


def _cropping(g, layer, xs, shapes, kwargs):
    spatial = _spatial(layer, shapes[0])
    axes = _spatial_axes(layer, layer.rank)
    starts = [lo for lo, _ in layer.cropping]
    ends = [n - hi for n, (_, hi) in zip(spatial, layer.cropping)]
    return g.op("Slice", [xs[0], g.ints(starts), g.ints(ends), g.ints(axes)], layer.name)


def _upsampling(g, layer, xs, shapes, kwargs):
    rank = layer.rank
    if layer.interpolation == "nearest":  # out[i] = in[floor(i / s)]: repeat every value s times
        scales = [1.0] * (rank + 2)
        for axis, s in zip(_spatial_axes(layer, rank), layer.size):
            scales[axis] = float(s)
        return g.op("Resize", [xs[0], "", g.const(np.asarray(scales, np.float32), f"{layer.name}/scales")],
                    layer.name, mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    x = _to_nchw(g, layer, xs[0], rank)
    scales = g.const(np.asarray([1.0, 1.0, *layer.size], np.float32), f"{layer.name}/scales")
    y = g.op("Resize", [x, "", scales], layer.name, mode="linear", coordinate_transformation_mode="half_pixel")
    return _from_nchw(g, layer, y, rank)


def _flatten(g, layer, xs, shapes, kwargs):
    # row-major over the sample's axes, as deepgrad's reshape(batch, -1): no channels-first reordering
    return g.op("Flatten", [xs[0]], layer.name, axis=1)


def _reshape(g, layer, xs, shapes, kwargs):
    return g.op("Reshape", [xs[0], g.ints([0, *layer.target_shape], f"{layer.name}/shape")], layer.name)


def _repeat_vector(g, layer, xs, shapes, kwargs):
    x = g.op("Unsqueeze", [xs[0], g.ints([1])])
    return g.op("Expand", [x, g.ints([1, layer.n, 1])], layer.name)


def _merge(op):
    def convert(g, layer, xs, shapes, kwargs):
        return g.op(op, xs, layer.name)
    return convert


def _subtract(g, layer, xs, shapes, kwargs):
    if len(xs) != 2:
        _refuse(layer, f"Subtract takes exactly 2 inputs, got {len(xs)}.")
    return g.op("Sub", xs, layer.name)


def _concatenate(g, layer, xs, shapes, kwargs):
    return g.op("Concat", xs, layer.name, axis=int(layer.axis))


def _embedding(g, layer, xs, shapes, kwargs):
    if layer.mask_zero:
        _refuse(layer, "mask_zero=True makes a mask, and masks are not exported; export a copy of the model "
                       "built with mask_zero=False (the predictions of unpadded inputs are the same).")
    ids = g.op("Cast", [xs[0]], f"{layer.name}/ids", to=g.onnx.TensorProto.INT64)
    return g.op("Gather", [g.const(_host(layer.embeddings), f"{layer.name}/embeddings"), ids], layer.name, axis=0)


def _masking(g, layer, xs, shapes, kwargs):
    _refuse(layer, "masks are not exported; remove the Masking layer from the exported model.")


def _time_distributed(g, layer, xs, shapes, kwargs):
    steps, inner = shapes[0][0], tuple(shapes[0][1:])
    if steps is None:
        _refuse(layer, "the number of time steps must be known; give the model's Input a full shape.")
    folded = g.op("Reshape", [xs[0], g.ints([-1, *inner])], f"{layer.name}/folded")
    out = _convert_layer(g, layer.layer, [folded], [inner], {})
    return g.op("Reshape", [out, g.ints([-1, steps, *_output_shapes(layer.layer, [inner])])], layer.name)


# ---- recurrent layers: ONNX's RNN, LSTM and GRU, time-major

_RNN_ACTIVATIONS = {"tanh": ("Tanh", None), "sigmoid": ("Sigmoid", None), "relu": ("Relu", None),
                    "hard_sigmoid": ("HardSigmoid", (1.0 / 6.0, 0.5)), "linear": ("Affine", (1.0, 0.0))}
# Keras's gate blocks in the order ONNX expects them: LSTM (i, f, c, o) -> (i, o, f, c); GRU (z, r, h) as is
_GATE_ORDER = {"SimpleRNN": (0,), "LSTM": (0, 3, 1, 2), "GRU": (0, 1, 2)}


def _rnn_kind(layer):
    for kind in ("LSTM", "GRU", "SimpleRNN"):
        if isinstance(layer, getattr(recurrent, kind)):
            return kind
    _refuse(layer, "only SimpleRNN, LSTM and GRU have ONNX recurrent operators.")
    return None


def _rnn_activations(layer, kind):
    names = [_activation_name(layer.activation)]
    if kind != "SimpleRNN":
        recurrent_name = _activation_name(layer.recurrent_activation)
        names = [recurrent_name, names[0]] + ([names[0]] if kind == "LSTM" else [])
    onnx_names, alphas, betas = [], [], []
    for name in names:
        if name not in _RNN_ACTIVATIONS:
            _refuse(layer, f"activation {name!r} has no ONNX recurrent form; use one of {sorted(_RNN_ACTIVATIONS)}.")
        op, params = _RNN_ACTIVATIONS[name]
        onnx_names.append(op)
        if params:
            alphas.append(params[0])
            betas.append(params[1])
    return onnx_names, alphas or None, betas or None


def _gate_rows(matrix, units, order):
    """Keras's (n, k units) kernel as ONNX's (1, k units, n) with the gate blocks reordered."""
    blocks = [matrix[:, i * units:(i + 1) * units] for i in order]
    return np.concatenate(blocks, axis=1).T[None]


def _rnn_biases(layer, kind, order):
    units, width = layer.units, len(order) * layer.units
    if not layer.use_bias:
        return np.zeros((1, 2 * width), np.float32)
    bias = _host(layer.bias)
    if kind == "GRU" and layer.reset_after:
        input_bias, recurrent_bias = bias[0], bias[1]
    else:
        input_bias, recurrent_bias = bias, np.zeros_like(bias)
    pick = [np.concatenate([b[i * units:(i + 1) * units] for i in order]) for b in (input_bias, recurrent_bias)]
    return np.concatenate(pick)[None]


def _reverse_axis(g, x, axis, hint):
    return g.op("Slice", [x, g.ints([-1]), g.ints([_INT64_MIN]), g.ints([axis]), g.ints([-1])], hint)


def _rnn(g, layer, x, kind):
    """One recurrent layer on (batch, time, features) x: its output and final states, as Keras returns them."""
    if layer.stateful:
        _refuse(layer, "stateful=True carries states between calls, which an ONNX graph cannot hold; export a "
                       "copy built with stateful=False.")
    order = _GATE_ORDER[kind]
    units = layer.units
    time_major = g.op("Transpose", [x], f"{layer.name}/time_major", perm=[1, 0, 2])
    if layer.go_backwards:  # deepgrad reads the sequence from its end; outputs stay in processing order
        time_major = _reverse_axis(g, time_major, 0, f"{layer.name}/reversed")
    names, alphas, betas = _rnn_activations(layer, kind)
    inputs = [time_major, g.const(_gate_rows(_host(layer.kernel), units, order), f"{layer.name}/W"),
              g.const(_gate_rows(_host(layer.recurrent_kernel), units, order), f"{layer.name}/R"),
              g.const(_rnn_biases(layer, kind, order), f"{layer.name}/B")]
    attrs = {"hidden_size": units, "activations": names, "activation_alpha": alphas, "activation_beta": betas}
    op = {"SimpleRNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}[kind]
    if kind == "GRU":
        attrs["linear_before_reset"] = int(layer.reset_after)
    n_states = 2 if kind == "LSTM" else 1
    outs = g.op(op, inputs, layer.name, outputs=1 + n_states, **attrs)
    sequence = g.op("Squeeze", [outs[0], g.ints([1])])                 # (time, batch, units)
    sequence = g.op("Transpose", [sequence], f"{layer.name}/sequence", perm=[1, 0, 2])
    states = [g.op("Squeeze", [s, g.ints([0])], f"{layer.name}/state") for s in outs[1:]]
    output = sequence if layer.return_sequences else states[0]
    return output, states


def _recurrent(g, layer, xs, shapes, kwargs):
    if kwargs.get("initial_state") is not None:
        _refuse(layer, "an initial_state input is not exported.")
    output, states = _rnn(g, layer, xs[0], _rnn_kind(layer))
    return [output, *states] if layer.return_state else output


def _bidirectional(g, layer, xs, shapes, kwargs):
    forward, backward = layer.forward_layer, layer.backward_layer
    fwd, fwd_states = _rnn(g, forward, xs[0], _rnn_kind(forward))
    bwd, bwd_states = _rnn(g, backward, xs[0], _rnn_kind(backward))
    if layer.return_sequences and backward.go_backwards != forward.go_backwards:
        bwd = _reverse_axis(g, bwd, 1, f"{backward.name}/in_order")
    mode = layer.merge_mode
    if mode is None:
        merged = [fwd, bwd]
    elif mode == "concat":
        merged = [g.op("Concat", [fwd, bwd], layer.name, axis=-1)]
    elif mode == "ave":
        merged = [g.op("Mul", [g.op("Add", [fwd, bwd]), g.const(0.5)], layer.name)]
    else:
        merged = [g.op({"sum": "Add", "mul": "Mul"}[mode], [fwd, bwd], layer.name)]
    outputs = merged + (fwd_states + bwd_states if layer.return_state else [])
    return outputs if len(outputs) > 1 else outputs[0]


# ---- attention

def _check_attention_call(layer, kwargs):
    unsupported = {k for k, v in kwargs.items() if v not in (None, False) and k not in ("use_causal_mask",
                                                                                         "training")}
    if unsupported:
        _refuse(layer, f"the call arguments {sorted(unsupported)} (masks, attention scores) are not exported.")


def _causal(g, layer, scores, shapes, kwargs):
    """Scores with the future keys pushed to -1e9 (their softmax weight is exactly 0 in float32)."""
    if not kwargs.get("use_causal_mask"):
        return scores
    tq, tv = shapes[0][0], shapes[1][0]
    if tq is None or tv is None:
        _refuse(layer, "a causal mask needs known sequence lengths; give the Inputs full shapes.")
    blocked = np.where(attention.causal_mask(tq, tv)[0], 0.0, -1e9).astype(np.float32)
    return g.op("Add", [scores, g.const(blocked, f"{layer.name}/causal_mask")])


def _attention(g, layer, xs, shapes, kwargs):
    """Attention (dot or concat scores) and AdditiveAttention: softmax(scores(query, key)) @ value."""
    _check_attention_call(layer, kwargs)
    query, value = xs[0], xs[1]
    key = xs[2] if len(xs) > 2 else value
    scale = None if layer.scale is None else g.const(_host(layer.scale), f"{layer.name}/scale")
    additive = isinstance(layer, attention.AdditiveAttention)
    if additive or layer.score_mode == "concat":
        pairs = g.op("Add", [g.op("Unsqueeze", [query, g.ints([-2])]), g.op("Unsqueeze", [key, g.ints([-3])])])
        if additive:  # sum_d scale_d tanh(q + k)_d
            pairs = g.op("Tanh", [pairs])
            pairs = pairs if scale is None else g.op("Mul", [pairs, scale])
        else:         # c sum_d tanh(scale (q + k))_d
            pairs = g.op("Tanh", [pairs if scale is None else g.op("Mul", [pairs, scale])])
        scores = g.op("ReduceSum", [pairs, g.ints([-1])], keepdims=0)
        if not additive:
            scores = g.op("Mul", [scores, g.const(_host(layer.concat_score_weight), f"{layer.name}/concat_weight")])
    else:
        scores = g.op("MatMul", [query, g.op("Transpose", [key], perm=[0, 2, 1])])
        scores = scores if scale is None else g.op("Mul", [scores, scale])
    weights = g.op("Softmax", [_causal(g, layer, scores, shapes, kwargs)], f"{layer.name}/weights", axis=-1)
    return g.op("MatMul", [weights, value], layer.name)


def _multi_head_attention(g, layer, xs, shapes, kwargs):
    _check_attention_call(layer, kwargs)
    query, value = xs[0], xs[1]
    key = xs[2] if len(xs) > 2 else value
    heads, name = layer.num_heads, layer.name

    def project(x, kernel, bias, what):
        dim, _, depth = kernel.shape
        y = g.op("MatMul", [x, g.const(_host(kernel).reshape(dim, heads * depth), f"{name}/{what}_kernel")])
        if bias is not None:
            y = g.op("Add", [y, g.const(_host(bias).reshape(heads * depth), f"{name}/{what}_bias")])
        y = g.op("Reshape", [y, g.ints([0, 0, heads, depth])])            # (batch, T, heads, depth)
        return g.op("Transpose", [y], f"{name}/{what}", perm=[0, 2, 1, 3])  # (batch, heads, T, depth)

    q = project(query, layer.query_kernel, layer.query_bias, "query")
    q = g.op("Mul", [q, g.const(1.0 / math.sqrt(layer.key_dim))])
    k = project(key, layer.key_kernel, layer.key_bias, "key")
    v = project(value, layer.value_kernel, layer.value_bias, "value")
    scores = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])], f"{name}/scores")
    scores = _causal(g, layer, scores, shapes, kwargs)
    weights = g.op("Softmax", [scores], f"{name}/weights", axis=-1)
    context = g.op("MatMul", [weights, v])                                    # (batch, heads, Tq, value_dim)
    context = g.op("Transpose", [context], perm=[0, 2, 1, 3])
    merged = g.op("Reshape", [context, g.ints([0, 0, heads * layer.value_dim])])
    kernel = _host(layer.output_kernel)
    out = g.op("MatMul", [merged, g.const(kernel.reshape(heads * layer.value_dim, -1), f"{name}/output_kernel")],
               name)
    if layer.output_bias is not None:
        out = g.op("Add", [out, g.const(_host(layer.output_bias), f"{name}/output_bias")], name)
    return out


# Converters by layer class (the most specific class first wins: subclasses of a family share one).
_IDENTITY_LAYERS = (core.InputLayer, core.Dropout, core.AlphaDropout, core.GaussianNoise,
                    preprocessing.RandomFlip, preprocessing.RandomRotation, preprocessing.RandomTranslation,
                    preprocessing.RandomZoom, preprocessing.RandomContrast)
_CONVERTERS = [
    (core.Dense, _dense),
    (core.Activation, _activation_layer),
    (activation_layers.ReLU, _relu_layer),
    (activation_layers.LeakyReLU, _leaky_relu_layer),
    (activation_layers.ELU, _elu_layer),
    (activation_layers.Softmax, _softmax_layer),
    (activation_layers.PReLU, _prelu_layer),
    (normalization.BatchNormalization, _batch_normalization),
    (normalization.LayerNormalization, _layer_normalization),
    (preprocessing.Rescaling, _rescaling),
    (preprocessing.Normalization, _normalization),
    (convolutional._Conv, _conv),
    (convolutional._ConvTranspose, _conv_transpose),
    (convolutional._DepthwiseConv, _depthwise_conv),
    (convolutional._SeparableConv, _separable_conv),
    (pooling._Pooling, _pooling),
    (pooling._GlobalPooling, _global_pooling),
    (reshaping._ZeroPadding, _zero_padding),
    (reshaping._Cropping, _cropping),
    (reshaping._UpSampling, _upsampling),
    (core.Flatten, _flatten),
    (core.Reshape, _reshape),
    (recurrent.RepeatVector, _repeat_vector),
    (merging.Add, _merge("Sum")),
    (merging.Subtract, _subtract),
    (merging.Multiply, _merge("Mul")),
    (merging.Average, _merge("Mean")),
    (merging.Maximum, _merge("Max")),
    (merging.Minimum, _merge("Min")),
    (merging.Concatenate, _concatenate),
    (embedding.Embedding, _embedding),
    (recurrent.Masking, _masking),
    (recurrent._RNN, _recurrent),
    (recurrent.Bidirectional, _bidirectional),
    (recurrent.TimeDistributed, _time_distributed),
    (attention.MultiHeadAttention, _multi_head_attention),
    (attention.Attention, _attention),
] + [(cls, _identity) for cls in _IDENTITY_LAYERS]


def _converter(layer):
    return _class_converter(type(layer))


def _class_converter(layer_class):
    for cls in layer_class.__mro__:
        for family, convert in _CONVERTERS:
            if cls is family:
                return convert
    return None


def exportable_layers() -> list:
    """The names of deepgrad's layer classes that ONNX export writes (Sequential and functional models nest)."""
    return sorted(name for name, cls in layer_classes().items()
                  if _class_converter(cls) not in (None, _masking) and name not in ("Model", "Functional",
                                                                                   "Sequential"))


# --------------------------------------------------------------------------- walking the model

def _is_model(layer):
    return hasattr(layer, "_tracked_layers") and hasattr(layer, "compile")


def _sample_shape(value):
    return tuple(value.shape[1:])


def _convert_layer(g, layer, xs, shapes, kwargs):
    """Convert one layer call on values ``xs`` of sample shapes ``shapes``; returns its output name(s)."""
    if _is_model(layer):
        return _convert_model(g, layer, xs, shapes)[0]
    convert = _converter(layer)
    if convert is None:
        _refuse(layer, f"deepgrad has no ONNX form for this layer type. Exportable layers: {exportable_layers()}.")
    return convert(g, layer, xs, shapes, kwargs)


def _output_shapes(layer, shapes):
    """Sample output shapes of ``layer`` for inputs of sample shapes ``shapes``, by a one-sample dummy run."""
    dummies = [_dummy_inputs((1,) + tuple(8 if n is None else n for n in s), layer.dtype) for s in shapes]
    with no_grad():
        out = layer(dummies if len(dummies) > 1 else dummies[0], training=False)
    if isinstance(out, (list, tuple)):
        return [_sample_shape(o) for o in out]
    return _sample_shape(out)


def _convert_model(g, model, xs, shapes):
    classes = layer_classes()
    if isinstance(model, classes["Sequential"]):
        x, shape = xs[0], shapes[0]
        for layer in model.layers:
            x, shape = _convert_layer(g, layer, [x], [shape], {}), _output_shapes(layer, [shape])
        return x, shape
    if isinstance(model, classes["Functional"]):
        return _convert_functional(g, model, xs)
    raise OnnxExportError(f"cannot export model {model.name!r} ({type(model).__name__}) to ONNX: a subclassed model "
                          "has no graph to write; build it with Sequential([...]) or Model(inputs, outputs).")


def _convert_functional(g, model, xs):
    values = {id(sym): name for sym, name in zip(model.inputs, xs)}
    for node in model._nodes:
        args = [values[id(t)] for t in node.inputs]
        shapes = [tuple(t.shape[1:]) for t in node.inputs]
        for key, value in (node.kwargs or {}).items():
            if hasattr(value, "node") or (isinstance(value, (list, tuple)) and any(hasattr(v, "node") for v in value)):
                _refuse(node.layer, f"the tensor passed as {key}= is not exported.")
        out = _convert_layer(g, node.layer, args, shapes, dict(node.kwargs or {}))
        outs = out if isinstance(out, (list, tuple)) else [out]
        for sym, name in zip(node.outputs, outs):
            values[id(sym)] = name
    names = [values[id(t)] for t in model.outputs]
    shapes = [tuple(t.shape[1:]) for t in model.outputs]
    return (names, shapes) if len(names) > 1 else (names[0], shapes[0])


def _model_inputs(model):
    """[(name, sample shape, dtype)] of the model's inputs."""
    classes = layer_classes()
    if isinstance(model, classes["Functional"]):
        return [(t.layer.name, tuple(t.shape[1:]), t.dtype) for t in model.inputs]
    if isinstance(model, classes["Sequential"]):
        if not model.built or model.input_shape_built is None:
            raise OnnxExportError(f"model {model.name!r} is not built yet, so its input shape is unknown: start it "
                                  "with an Input, give the first layer input_shape=, or call it on data first.")
        layer = model._input_layer
        name = layer.name if layer is not None else "input"
        dtype = layer.output.dtype if layer is not None else str(model.dtype)
        return [(name, tuple(model.input_shape_built[1:]), dtype)]
    raise OnnxExportError(f"cannot export model {model.name!r} ({type(model).__name__}) to ONNX: a subclassed model "
                          "has no graph to write; build it with Sequential([...]) or Model(inputs, outputs).")


_ELEMENT_TYPES = {"float32": "FLOAT", "float64": "FLOAT", "float16": "FLOAT", "int32": "INT32", "int64": "INT64",
                  "uint8": "UINT8", "bool": "BOOL"}


def _value_info(onnx, name, shape, dtype, dim_prefix):
    element = getattr(onnx.TensorProto, _ELEMENT_TYPES.get(str(dtype), "FLOAT"))
    dims = ["batch"] + [f"{dim_prefix}_{i + 1}" if n is None else int(n) for i, n in enumerate(shape)]
    return onnx.helper.make_tensor_value_info(name, element, dims)


def to_onnx(model, opset_version=OPSET):
    """The inference graph of ``model`` (Sequential or functional) as an ``onnx.ModelProto``.

    Inputs are named after the model's Input layers and outputs after the layers that
    produce them; the batch axis is dynamic. Weights are stored as float32 initializers.
    Raises :class:`OnnxExportError` naming the first layer with no ONNX form.
    """
    onnx = _onnx()
    if opset_version < OPSET:
        raise ValueError(f"ONNX export writes opset {OPSET} or newer (LayerNormalization), got "
                         f"opset_version={opset_version}.")
    inputs = _model_inputs(model)
    g = _Graph(onnx)
    names = [g.name(name) for name, _, _ in inputs]
    outs, out_shapes = _convert_model(g, model, names, [shape for _, shape, _ in inputs])
    if not isinstance(outs, (list, tuple)):
        outs, out_shapes = [outs], [out_shapes]
    output_layers = model.output_layers() or []
    graph_outputs = []
    for i, (value, shape) in enumerate(zip(outs, out_shapes)):
        hint = output_layers[i].name if i < len(output_layers) else f"output_{i}"
        out_name = g.name(hint if hint not in names else f"{hint}_output")
        g.nodes.append(onnx.helper.make_node("Identity", [value], [out_name], name=g.name("output_node")))
        graph_outputs.append(_value_info(onnx, out_name, shape, "float32", out_name))
    graph_inputs = [_value_info(onnx, name, shape, dtype, name) for name, (_, shape, dtype) in zip(names, inputs)]
    graph = onnx.helper.make_graph(g.nodes, model.name, graph_inputs, graph_outputs, g.initializers)
    proto = onnx.helper.make_model(graph, producer_name="deepgrad",
                                   opset_imports=[onnx.helper.make_opsetid("", opset_version)])
    proto.ir_version = min(proto.ir_version, 8)  # IR 8 is what opset 17 shipped with: older runtimes read it
    onnx.checker.check_model(proto)
    return proto


def export_model(model, filepath, format="onnx", verbose=True, input_signature=None, **kwargs):
    """Write ``model`` to ``filepath`` in ``format`` (Keras 3's ``Model.export``); deepgrad writes ONNX.

    ``opset_version`` (default 17) may be passed. ``input_signature`` is accepted for
    Keras's signature and not used: the graph takes the model's own input shapes.
    """
    if format != "onnx":
        raise ValueError(f"Model.export: deepgrad exports format='onnx' only, got format={format!r} "
                         "(TensorFlow SavedModel and OpenVINO need TensorFlow/OpenVINO; convert the ONNX file "
                         "with their tools).")
    unknown = set(kwargs) - {"opset_version"}
    if unknown:
        raise TypeError(f"Model.export got unexpected keyword arguments {sorted(unknown)}; ONNX export takes "
                        "opset_version=.")
    proto = to_onnx(model, kwargs.get("opset_version") or OPSET)
    _onnx().save_model(proto, str(filepath))
    if verbose:
        print(f"Saved ONNX model (opset {proto.opset_import[0].version}) to {filepath}")
    return proto


__all__ = ["OPSET", "OnnxExportError", "export_model", "exportable_layers", "to_onnx"]
