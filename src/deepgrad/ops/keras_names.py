"""The ``keras.ops`` names that the engine's own ops do not already carry, composed from them.

``import deepgrad as keras`` makes ``keras.ops`` this package, so a custom layer written
against Keras 3 (``ops.matmul(x, self.w) + self.b``, ``ops.square``, ``ops.mean``, ...)
runs unchanged. Differentiable functions are compositions of existing ops (their
gradients come from those ops' backward rules); comparisons, ``argmax``/``argmin`` and
the conversions return tensors without a gradient, as they do in Keras.
"""

from __future__ import annotations

import numpy as np

from ..backend import namespace
from ..tensor import Tensor, as_tensor
from . import elementwise as _ew
from . import linalg as _linalg
from . import reduction as _red

__all__ = ["square", "negative", "multiply", "subtract", "divide", "true_divide", "power", "absolute", "dot",
           "norm", "argmax", "argmin", "cast", "convert_to_tensor", "convert_to_numpy", "zeros", "ones",
           "equal", "not_equal", "greater", "greater_equal", "less", "less_equal"]


def square(x) -> Tensor:
    """x^2 elementwise.   d/dx = 2x."""
    x = as_tensor(x)
    return x * x


def negative(x) -> Tensor:
    """-x (Keras' name for :func:`neg`)."""
    return _ew.neg(x)


def multiply(x1, x2) -> Tensor:
    """x1 * x2 elementwise, with broadcasting (Keras' name for :func:`mul`)."""
    return _ew.mul(x1, x2)


def subtract(x1, x2) -> Tensor:
    """x1 - x2 elementwise, with broadcasting (Keras' name for :func:`sub`)."""
    return _ew.sub(x1, x2)


def divide(x1, x2) -> Tensor:
    """x1 / x2 elementwise, with broadcasting (Keras' name for :func:`truediv`)."""
    return _ew.truediv(x1, x2)


true_divide = divide


def power(x1, x2) -> Tensor:
    """x1 ** x2 elementwise (Keras' name for :func:`pow`)."""
    return _ew.pow(x1, x2)


def absolute(x) -> Tensor:
    """|x| (Keras' alias of :func:`abs`)."""
    return _ew.abs(x)


def dot(x1, x2) -> Tensor:
    """The matrix product x1 @ x2 (for vectors and matrices, NumPy's ``dot``)."""
    return _linalg.matmul(x1, x2)


def norm(x, ord=None, axis=None, keepdims=False) -> Tensor:
    """The Euclidean norm sqrt(sum x^2) over ``axis`` (all axes when None); other ``ord`` values are refused."""
    if ord not in (None, 2, "fro", "euclidean"):
        raise ValueError(f"norm: only the Euclidean norm (ord=None) is available, got ord={ord!r}.")
    x = as_tensor(x)
    axis = tuple(axis) if isinstance(axis, list) else axis
    return _ew.sqrt(_red.sum(x * x, axis=axis, keepdims=keepdims))


def _data(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def argmax(x, axis=None, keepdims=False) -> Tensor:
    """Index of the largest value along ``axis`` (of the flattened tensor when None); no gradient."""
    data = _data(x)
    return Tensor(namespace(data).argmax(data, axis=axis, keepdims=keepdims))


def argmin(x, axis=None, keepdims=False) -> Tensor:
    """Index of the smallest value along ``axis`` (of the flattened tensor when None); no gradient."""
    data = _data(x)
    return Tensor(namespace(data).argmin(data, axis=axis, keepdims=keepdims))


def cast(x, dtype) -> Tensor:
    """x converted to ``dtype``; a floating cast of a tensor keeps its gradient path."""
    x = as_tensor(x)
    if x.dtype == np.dtype(dtype):
        return x
    if np.issubdtype(np.dtype(dtype), np.floating) and x.requires_grad:
        return x.astype(dtype)
    return Tensor(x.data.astype(dtype))


def convert_to_tensor(x, dtype=None) -> Tensor:
    """``x`` (array, list, number or Tensor) as a Tensor, cast to ``dtype`` when given."""
    x = as_tensor(x if isinstance(x, Tensor) else np.asarray(x))
    return x if dtype is None else cast(x, dtype)


def convert_to_numpy(x) -> np.ndarray:
    """``x`` as a NumPy array (copied from the GPU when it lives there)."""
    return x.numpy() if isinstance(x, Tensor) else np.asarray(x)


def zeros(shape, dtype="float32") -> Tensor:
    """A tensor of zeros."""
    return Tensor(np.zeros(shape, dtype=dtype))


def ones(shape, dtype="float32") -> Tensor:
    """A tensor of ones."""
    return Tensor(np.ones(shape, dtype=dtype))


def _compare(name, x1, x2):
    a, b = _data(x1), _data(x2)
    return Tensor(getattr(namespace(a), name)(a, b))


def equal(x1, x2) -> Tensor:
    """x1 == x2 elementwise (a boolean tensor, no gradient)."""
    return _compare("equal", x1, x2)


def not_equal(x1, x2) -> Tensor:
    """x1 != x2 elementwise (a boolean tensor, no gradient)."""
    return _compare("not_equal", x1, x2)


def greater(x1, x2) -> Tensor:
    """x1 > x2 elementwise (a boolean tensor, no gradient)."""
    return _compare("greater", x1, x2)


def greater_equal(x1, x2) -> Tensor:
    """x1 >= x2 elementwise (a boolean tensor, no gradient)."""
    return _compare("greater_equal", x1, x2)


def less(x1, x2) -> Tensor:
    """x1 < x2 elementwise (a boolean tensor, no gradient)."""
    return _compare("less", x1, x2)


def less_equal(x1, x2) -> Tensor:
    """x1 <= x2 elementwise (a boolean tensor, no gradient)."""
    return _compare("less_equal", x1, x2)
