"""Differentiable operations, grouped by kind; each op's forward sits beside its backward rule."""

from .attention import masked_softmax
from .convolution import conv, conv_transpose, depthwise_conv
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
    "gaussian_sample",
]
