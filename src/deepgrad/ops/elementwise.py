"""Elementwise operations, each forward beside its backward rule.

Binary operations broadcast like NumPy; the engine sums each input's gradient back
to the input's shape (:func:`deepgrad.tensor.unbroadcast`). ``g`` below is always
dL/d(out), the gradient arriving from above.

A Python number beside a tensor (``t * 2``, ``1 - t``) is not wrapped in a tensor:
it enters NumPy as a "weak" scalar, so ``float32 * 2.0`` stays float32 and
``float64 * 2.0`` stays float64, and the node records the tensor as its only parent.
"""

from __future__ import annotations

import operator

import numpy as np

from ..backend import namespace
from ..tensor import Tensor, as_tensor, make_result


def is_scalar(value) -> bool:
    """True for a plain Python int or float, which ops keep as a weak scalar.

    NumPy scalars are not weak (``float32 * np.float64(2)`` is float64), so they go
    through :func:`as_tensor` and take the dtype of the tensor beside them.
    """
    return type(value) is float or type(value) is int


def _operands(a, b):
    """Both operands as tensors; a Python scalar takes the dtype of the tensor beside it."""
    if not isinstance(a, Tensor):
        a = as_tensor(a, like=b if isinstance(b, Tensor) else None)
    if not isinstance(b, Tensor):
        b = as_tensor(b, like=a)
    return a, b


def _broadcast_error(op, a, b, err):
    shape_a = tuple(a.shape) if hasattr(a, "shape") else ()
    shape_b = tuple(b.shape) if hasattr(b, "shape") else ()
    return ValueError(
        f"{op}: operands of shapes {shape_a} and {shape_b} cannot be broadcast together "
        f"(trailing dimensions must be equal or 1). Reshape one of them, e.g. with .reshape() "
        f"or .unsqueeze(). ({err})"
    )


def _apply(forward, op, a, b):
    """forward(a, b) on arrays, with a broadcasting failure reported in terms of the op."""
    try:
        return forward(a, b)
    except ValueError as err:
        raise _broadcast_error(op, a, b, err) from None


def _pass_both(g):
    return g, g


def _pass_one(g):
    return (g,)


def _negate(g):
    return (-g,)


def _sub_backward(g):
    return g, -g


def _additive(op, forward, a, b, backward_scalar_right, backward_scalar_left, backward_both, kernel):
    """a + b or a - b: a Python scalar operand is no parent, and both gradients need no inputs."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):  # the common case first
        return make_result(_apply(forward, op, a.data, b.data), (a, b), backward_both, op, kernel)
    if is_scalar(b) and isinstance(a, Tensor):
        return make_result(_apply(forward, op, a.data, b), (a,), backward_scalar_right, op, kernel, (a, b))
    if is_scalar(a) and isinstance(b, Tensor):
        return make_result(_apply(forward, op, a, b.data), (b,), backward_scalar_left, op, kernel, (a, b))
    a, b = _operands(a, b)
    return make_result(_apply(forward, op, a.data, b.data), (a, b), backward_both, op, kernel)


def add(a, b) -> Tensor:
    """a + b.   d/da = 1, d/db = 1."""
    return _additive("add", operator.add, a, b, _pass_one, _pass_one, _pass_both, np.add)


def sub(a, b) -> Tensor:
    """a - b.   d/da = 1, d/db = -1."""
    return _additive("sub", operator.sub, a, b, _pass_one, _negate, _sub_backward, np.subtract)


def mul(a, b) -> Tensor:
    """a * b.   d/da = b, d/db = a."""
    if is_scalar(a) and isinstance(b, Tensor):
        a, b = b, a
    if is_scalar(b) and isinstance(a, Tensor):
        def backward_scalar(g):
            return (g * b,)

        return make_result(_apply(operator.mul, "mul", a.data, b), (a,), backward_scalar, "mul", np.multiply, (a, b))
    a, b = _operands(a, b)
    a_data, b_data = a.data, b.data

    def backward(g):
        return (g * b_data if a.requires_grad else None,
                g * a_data if b.requires_grad else None)

    return make_result(_apply(operator.mul, "mul", a_data, b_data), (a, b), backward, "mul", np.multiply)


def truediv(a, b) -> Tensor:
    """a / b.   d/da = 1/b, d/db = -a/b^2 = -out/b."""
    if is_scalar(b) and isinstance(a, Tensor):
        def backward_by_scalar(g):
            return (g / b,)

        return make_result(_apply(operator.truediv, "truediv", a.data, b), (a,),
                           backward_by_scalar, "truediv", np.true_divide, (a, b))
    if is_scalar(a) and isinstance(b, Tensor):
        b_data = b.data
        out = _apply(operator.truediv, "truediv", a, b_data)

        def backward_of_scalar(g):
            return (-g * out / b_data,)

        return make_result(out, (b,), backward_of_scalar, "truediv", np.true_divide, (a, b))
    a, b = _operands(a, b)
    b_data = b.data
    out = _apply(operator.truediv, "truediv", a.data, b_data)

    def backward(g):
        grad_a = g / b_data if a.requires_grad else None
        grad_b = -g * out / b_data if b.requires_grad else None
        return grad_a, grad_b

    return make_result(out, (a, b), backward, "truediv", np.true_divide)


def neg(x) -> Tensor:
    """-x.   d/dx = -1."""
    x = as_tensor(x)
    return make_result(-x.data, (x,), _negate, "neg", np.negative)


class _quiet:
    """Silence NumPy's floating point warnings where the result is handled explicitly."""

    def __init__(self, xp):
        self._state = xp.errstate(all="ignore") if hasattr(xp, "errstate") else None

    def __enter__(self):
        if self._state is not None:
            self._state.__enter__()

    def __exit__(self, *exc):
        if self._state is not None:
            self._state.__exit__(*exc)
        return False


def pow(x, exponent) -> Tensor:
    """x ** p.   d/dx = p x^(p-1);  d/dp = x^p ln x (taken as 0 where x = 0, like PyTorch)."""
    if is_scalar(exponent) and isinstance(x, Tensor):
        p = exponent
        x_data = x.data
        out = x_data ** p

        def backward_scalar(g):
            if p == 0:
                return (namespace(g).zeros_like(g),)
            if p == 1:
                return (g,)
            if p == 2:
                return (g * (2 * x_data),)
            return (g * (p * x_data ** (p - 1)),)

        return make_result(out, (x,), backward_scalar, "pow", _pow_into, (x, p))

    x, e = _operands(x, exponent)
    x_data, e_data = x.data, e.data
    out = _apply(operator.pow, "pow", x_data, e_data)

    def backward(g):
        xp = namespace(g)
        grad_x = g * e_data * x_data ** (e_data - 1) if x.requires_grad else None
        grad_e = None
        if e.requires_grad:
            with _quiet(xp):
                log_x = xp.log(xp.where(x_data == 0, 1, x_data))
            grad_e = g * out * log_x
        return grad_x, grad_e

    return make_result(out, (x, e), backward, "pow", _pow_into)


def _pow_into(x, p, out):
    np.copyto(out, x ** p)  # ``**`` takes NumPy's shortcuts (x**2 = square, x**0.5 = sqrt): keep them


def exp(x) -> Tensor:
    """e^x.   d/dx = e^x."""
    x = as_tensor(x)
    out = namespace(x.data).exp(x.data)

    def backward(g):
        return (g * out,)

    return make_result(out, (x,), backward, "exp", np.exp)


def log(x) -> Tensor:
    """ln x.   d/dx = 1/x."""
    x = as_tensor(x)
    v = x.data

    def backward(g):
        return (g / v,)

    return make_result(namespace(v).log(v), (x,), backward, "log", np.log)


def log1p(x) -> Tensor:
    """ln(1 + x), accurate for small x.   d/dx = 1/(1 + x)."""
    x = as_tensor(x)
    v = x.data

    def backward(g):
        return (g / (1 + v),)

    return make_result(namespace(v).log1p(v), (x,), backward, "log1p", np.log1p)


def sqrt(x) -> Tensor:
    """sqrt(x).   d/dx = 1/(2 sqrt(x))."""
    x = as_tensor(x)
    out = namespace(x.data).sqrt(x.data)

    def backward(g):
        return (g / (2 * out),)

    return make_result(out, (x,), backward, "sqrt", np.sqrt)


def abs(x) -> Tensor:
    """|x|.   d/dx = sign(x) (0 at x = 0)."""
    x = as_tensor(x)
    v = x.data
    xp = namespace(v)

    def backward(g):
        return (g * xp.sign(v),)

    return make_result(xp.abs(v), (x,), backward, "abs", np.absolute)


def sign(x) -> Tensor:
    """sign(x) in {-1, 0, 1}.   d/dx = 0 (almost everywhere)."""
    x = as_tensor(x)

    def backward(g):
        return (namespace(g).zeros_like(g),)

    return make_result(namespace(x.data).sign(x.data), (x,), backward, "sign", np.sign)


def tanh(x) -> Tensor:
    """tanh(x) = (e^x - e^-x)/(e^x + e^-x), range (-1, 1).   d/dx = 1 - tanh(x)^2."""
    x = as_tensor(x)
    out = namespace(x.data).tanh(x.data)

    def backward(g):
        return (g * (1 - out * out),)

    return make_result(out, (x,), backward, "tanh", np.tanh)


def sigmoid_data(v):
    """1/(1 + e^-x) on an array, for any x.

    For x << 0, e^-x overflows to inf and the quotient is the correct limit 0;
    elsewhere the quotient is accurate to rounding (no cancellation), so the only
    thing to handle is the overflow warning.
    """
    xp = namespace(v)
    with _quiet(xp):
        return 1 / (1 + xp.exp(-v))


def _sigmoid_into(v, out):
    """sigmoid_data(v) written into ``out`` (the same operations, so the same bits)."""
    with np.errstate(all="ignore"):
        np.true_divide(1, 1 + np.exp(-v), out=out)


def sigmoid(x) -> Tensor:
    """sigma(x) = 1/(1 + e^-x), range (0, 1), stable for large |x|.   d/dx = sigma(x)(1 - sigma(x))."""
    x = as_tensor(x)
    out = sigmoid_data(x.data)

    def backward(g):
        return (g * (out * (1 - out)),)

    return make_result(out, (x,), backward, "sigmoid", _sigmoid_into)


def relu(x) -> Tensor:
    """max(0, x), range [0, inf).   d/dx = 1 for x > 0 else 0."""
    x = as_tensor(x)
    out = namespace(x.data).maximum(x.data, 0)

    def backward(g):
        # one comparison and one product: the cheapest form on both backends (np.where
        # over a random mask is ~10x slower on the CPU)
        return (g * (out > 0),)

    return make_result(out, (x,), backward, "relu", np.maximum, (x, 0))


def softplus(x) -> Tensor:
    """ln(1 + e^x) computed as max(x, 0) + ln(1 + e^-|x|) (no overflow).   d/dx = sigma(x)."""
    x = as_tensor(x)
    v = x.data
    xp = namespace(v)
    out = xp.maximum(v, 0) + xp.log1p(xp.exp(-xp.abs(v)))

    def backward(g):
        return (g * sigmoid_data(v),)

    return make_result(out, (x,), backward, "softplus", _softplus_into)


def _softplus_into(v, out):
    np.add(np.maximum(v, 0), np.log1p(np.exp(-np.abs(v))), out=out)


def maximum(a, b) -> Tensor:
    """Elementwise max(a, b). The gradient goes to the larger input (split evenly on ties)."""
    a, b = _operands(a, b)
    out = _apply(namespace(a.data).maximum, "maximum", a.data, b.data)
    return _select_backward(a, b, out, "maximum", greater=True, kernel=np.maximum)


def minimum(a, b) -> Tensor:
    """Elementwise min(a, b). The gradient goes to the smaller input (split evenly on ties)."""
    a, b = _operands(a, b)
    out = _apply(namespace(a.data).minimum, "minimum", a.data, b.data)
    return _select_backward(a, b, out, "minimum", greater=False, kernel=np.minimum)


def _select_backward(a, b, out, op, greater, kernel):
    a_data, b_data = a.data, b.data

    def backward(g):
        wins = (a_data > b_data) if greater else (a_data < b_data)
        share_a = wins + 0.5 * (a_data == b_data)
        grad_a = g * share_a if a.requires_grad else None
        grad_b = g * (1 - share_a) if b.requires_grad else None
        return grad_a, grad_b

    return make_result(out, (a, b), backward, op, kernel)


def where(condition, a, b) -> Tensor:
    """``a`` where ``condition`` else ``b``.   d/da = condition, d/db = not condition."""
    condition = condition.data if isinstance(condition, Tensor) else condition
    a, b = _operands(a, b)
    xp = namespace(a.data)
    condition = xp.asarray(condition, dtype=bool)
    try:
        out = xp.where(condition, a.data, b.data)
    except ValueError as err:
        raise ValueError(
            f"where: condition of shape {tuple(condition.shape)} and operands of shapes "
            f"{tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast together. ({err})"
        ) from None

    def backward(g):
        # masks by multiplication: exact for finite g, and far faster than xp.where
        return (g * condition if a.requires_grad else None,
                g * ~condition if b.requires_grad else None)

    return make_result(out, (a, b), backward, "where", _where_into, (condition, a, b))


def _where_into(condition, a, b, out):
    np.copyto(out, np.where(condition, a, b))


def _clip_into(x, low, high, out):
    np.copyto(out, np.clip(x, low, high))


def clip(x, min=None, max=None) -> Tensor:
    """Clamp x to [min, max].   d/dx = 1 where min <= x <= max, else 0."""
    x = as_tensor(x)
    if min is None and max is None:
        raise ValueError("clip needs at least one of min and max.")
    xp = namespace(x.data)
    x_data = x.data
    out = xp.clip(x_data, min, max)

    def backward(g):
        if min is None:
            inside = x_data <= max
        elif max is None:
            inside = x_data >= min
        else:
            inside = (x_data >= min) & (x_data <= max)
        return (g * inside,)

    return make_result(out, (x,), backward, "clip", _clip_into, (x, min, max))
