"""Differentiable operations, grouped by kind; each op's forward sits beside its backward rule."""

from .attention import masked_softmax
from .convolution import conv, conv_transpose, depthwise_conv
from .ctc import ctc_loss
from .elementwise import (
                          abs,
                          add,
                          clip,
                          exp,
                          log,
                          log1p,
                          maximum,
                          minimum,
                          mul,
                          neg,
                          pow,
                          relu,
                          sigmoid,
                          sign,
                          softplus,
                          sqrt,
                          sub,
                          tanh,
                          truediv,
                          where,
)
from .keras_names import (
                          absolute,
                          argmax,
                          argmin,
                          cast,
                          convert_to_numpy,
                          convert_to_tensor,
                          divide,
                          dot,
                          equal,
                          greater,
                          greater_equal,
                          less,
                          less_equal,
                          multiply,
                          negative,
                          norm,
                          not_equal,
                          ones,
                          power,
                          square,
                          subtract,
                          true_divide,
                          zeros,
)
from .linalg import matmul
from .nn import log_softmax, logsumexp, sigmoid_binary_cross_entropy, softmax, softmax_cross_entropy
from .pooling import average_pool, global_average_pool, global_max_pool, max_pool
from .reduction import max, mean, min, prod, std, sum, var
from .sampling import gaussian_sample
from .shape import (
                          broadcast_to,
                          concatenate,
                          expand_dims,
                          gather,
                          getitem,
                          one_hot,
                          pad,
                          permute,
                          reshape,
                          split,
                          squeeze,
                          stack,
                          take_along_axis,
                          transpose,
                          unsqueeze,
)
from .spatial import crop, upsample, zero_pad
from .special import erf

__all__ = [
    "abs", "add", "clip", "exp", "log", "log1p", "maximum", "minimum", "mul", "neg", "pow", "relu",
    "sigmoid", "sign", "softplus", "sqrt", "sub", "tanh", "truediv", "where", "matmul",
    "log_softmax", "logsumexp", "sigmoid_binary_cross_entropy", "softmax", "softmax_cross_entropy",
    "max", "mean", "min", "prod", "std", "sum", "var", "broadcast_to", "concatenate", "expand_dims",
    "gather", "getitem", "one_hot", "pad", "permute", "reshape", "split", "squeeze", "stack",
    "take_along_axis", "transpose", "unsqueeze",
    "conv", "conv_transpose", "depthwise_conv",
    "average_pool", "global_average_pool", "global_max_pool", "max_pool",
    "crop", "upsample", "zero_pad",
    "masked_softmax",
    "erf", "ctc_loss",
    # the keras.ops names (deepgrad is also usable as `keras`)
    "absolute", "argmax", "argmin", "cast", "convert_to_numpy", "convert_to_tensor", "divide", "dot", "equal",
    "greater", "greater_equal", "less", "less_equal", "multiply", "negative", "norm", "not_equal", "ones", "power",
    "square", "subtract", "true_divide", "zeros",
    "gaussian_sample",
]
