"""Elementwise operations, each forward beside its backward rule.

Binary operations broadcast like NumPy; the engine sums each input's gradient back
to the input's shape (:func:`deepgrad.tensor.unbroadcast`). ``g`` below is always
dL/d(out), the gradient arriving from above.
"""

from __future__ import annotations

from ..backend import namespace
from ..tensor import Tensor, as_tensor, make_result


def _operands(a, b, op):
    """Both operands as tensors; a Python scalar takes the dtype of the tensor beside it."""
    if not isinstance(a, Tensor):
        a = as_tensor(a, like=b)
    if not isinstance(b, Tensor):
        b = as_tensor(b, like=a)
    return a, b


def _broadcast_error(op, a, b, err):
    return ValueError(
        f"{op}: operands of shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast "
        f"together (trailing dimensions must be equal or 1). Reshape one of them, e.g. with "
        f".reshape() or .unsqueeze(). ({err})"
    )


def _binary(op, a, b, forward):
    a, b = _operands(a, b, op)
    try:
        out = forward(a.data, b.data)
    except ValueError as err:
        raise _broadcast_error(op, a, b, err) from None
    return a, b, out


def add(a, b) -> Tensor:
    """a + b.   d/da = 1, d/db = 1."""
    a, b, out = _binary("add", a, b, lambda x, y: x + y)

    def backward(g):
        return g, g

    return make_result(out, (a, b), backward, "add")


def sub(a, b) -> Tensor:
    """a - b.   d/da = 1, d/db = -1."""
    a, b, out = _binary("sub", a, b, lambda x, y: x - y)

    def backward(g):
        return g, (-g if b.requires_grad else None)

    return make_result(out, (a, b), backward, "sub")


def mul(a, b) -> Tensor:
    """a * b.   d/da = b, d/db = a."""
    a, b, out = _binary("mul", a, b, lambda x, y: x * y)
    a_data, b_data = a.data, b.data

    def backward(g):
        return (g * b_data if a.requires_grad else None,
                g * a_data if b.requires_grad else None)

    return make_result(out, (a, b), backward, "mul")


def truediv(a, b) -> Tensor:
    """a / b.   d/da = 1/b, d/db = -a/b^2 = -out/b."""
    a, b, out = _binary("truediv", a, b, lambda x, y: x / y)
    b_data = b.data

    def backward(g):
        grad_a = g / b_data if a.requires_grad else None
        grad_b = -g * out / b_data if b.requires_grad else None
        return grad_a, grad_b

    return make_result(out, (a, b), backward, "truediv")


def neg(x) -> Tensor:
    """-x.   d/dx = -1."""
    x = as_tensor(x)

    def backward(g):
        return (-g,)

    return make_result(-x.data, (x,), backward, "neg")


def pow(x, exponent) -> Tensor:  # noqa: A001 - the operator's name
    """x ** p.   d/dx = p x^(p-1);  d/dp = x^p ln x (taken as 0 where x = 0, like PyTorch)."""
    if isinstance(exponent, (int, float)) and not isinstance(x, (int, float)):
        x = as_tensor(x)
        p = exponent
        x_data = x.data
        out = x_data ** p

        def backward_scalar(g):
            if p == 2:
                return (g * 2 * x_data,)
            return (g * p * x_data ** (p - 1),)

        return make_result(out, (x,), backward_scalar, "pow")

    x, e, out = _binary("pow", x, exponent, lambda u, v: u ** v)
    x_data, e_data = x.data, e.data

    def backward(g):
        xp = namespace(g)
        grad_x = g * e_data * x_data ** (e_data - 1) if x.requires_grad else None
        grad_e = None
        if e.requires_grad:
            with _quiet(xp):
                log_x = xp.log(xp.where(x_data == 0, 1, x_data))
            grad_e = g * out * log_x
        return grad_x, grad_e

    return make_result(out, (x, e), backward, "pow")


class _quiet:
    """Silence NumPy's floating point warnings where the result is handled explicitly."""

    def __init__(self, xp):
        self._xp = xp

    def __enter__(self):
        if hasattr(self._xp, "errstate"):
            self._state = self._xp.errstate(all="ignore")
            self._state.__enter__()

    def __exit__(self, *exc):
        if hasattr(self._xp, "errstate"):
            self._state.__exit__(*exc)
        return False


def _unary(x, op, forward, backward_factory):
    x = as_tensor(x)
    out = forward(namespace(x.data), x.data)
    return make_result(out, (x,), backward_factory(x.data, out), op)


def exp(x) -> Tensor:
    """e^x.   d/dx = e^x."""
    return _unary(x, "exp", lambda xp, v: xp.exp(v), lambda v, out: lambda g: (g * out,))


def log(x) -> Tensor:
    """ln x.   d/dx = 1/x."""
    return _unary(x, "log", lambda xp, v: xp.log(v), lambda v, out: lambda g: (g / v,))


def log1p(x) -> Tensor:
    """ln(1 + x), accurate for small x.   d/dx = 1/(1 + x)."""
    return _unary(x, "log1p", lambda xp, v: xp.log1p(v), lambda v, out: lambda g: (g / (1 + v),))


def sqrt(x) -> Tensor:
    """sqrt(x).   d/dx = 1/(2 sqrt(x))."""
    return _unary(x, "sqrt", lambda xp, v: xp.sqrt(v), lambda v, out: lambda g: (g / (2 * out),))


def abs(x) -> Tensor:  # noqa: A001
    """|x|.   d/dx = sign(x) (0 at x = 0)."""
    return _unary(x, "abs", lambda xp, v: xp.abs(v),
                  lambda v, out: lambda g: (g * namespace(v).sign(v),))


def sign(x) -> Tensor:
    """sign(x) in {-1, 0, 1}.   d/dx = 0 (almost everywhere)."""
    return _unary(x, "sign", lambda xp, v: xp.sign(v),
                  lambda v, out: lambda g: (namespace(g).zeros_like(g),))


def tanh(x) -> Tensor:
    """tanh(x) = (e^x - e^-x)/(e^x + e^-x), range (-1, 1).   d/dx = 1 - tanh(x)^2."""
    return _unary(x, "tanh", lambda xp, v: xp.tanh(v), lambda v, out: lambda g: (g * (1 - out * out),))


def _stable_sigmoid(xp, v):
    # e^-|x| never overflows; both branches are exact where they are used
    e = xp.exp(-xp.abs(v))
    return xp.where(v >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid(x) -> Tensor:
    """sigma(x) = 1/(1 + e^-x), range (0, 1), stable for large |x|.   d/dx = sigma(x)(1 - sigma(x))."""
    return _unary(x, "sigmoid", _stable_sigmoid, lambda v, out: lambda g: (g * out * (1 - out),))


def relu(x) -> Tensor:
    """max(0, x), range [0, inf).   d/dx = 1 for x > 0 else 0."""
    return _unary(x, "relu", lambda xp, v: xp.maximum(v, 0), lambda v, out: lambda g: (g * (v > 0),))


def softplus(x) -> Tensor:
    """ln(1 + e^x) computed as max(x, 0) + ln(1 + e^-|x|) (no overflow).   d/dx = sigma(x)."""
    return _unary(
        x, "softplus",
        lambda xp, v: xp.maximum(v, 0) + xp.log1p(xp.exp(-xp.abs(v))),
        lambda v, out: lambda g: (g * _stable_sigmoid(namespace(v), v),),
    )


def maximum(a, b) -> Tensor:
    """Elementwise max(a, b). The gradient goes to the larger input (split evenly on ties)."""
    a, b, out = _binary("maximum", a, b, lambda x, y: namespace(x).maximum(x, y))
    return _select_backward(a, b, out, "maximum", greater=True)


def minimum(a, b) -> Tensor:
    """Elementwise min(a, b). The gradient goes to the smaller input (split evenly on ties)."""
    a, b, out = _binary("minimum", a, b, lambda x, y: namespace(x).minimum(x, y))
    return _select_backward(a, b, out, "minimum", greater=False)


def _select_backward(a, b, out, op, greater):
    a_data, b_data = a.data, b.data

    def backward(g):
        wins = (a_data > b_data) if greater else (a_data < b_data)
        ties = a_data == b_data
        share_a = wins + 0.5 * ties
        grad_a = g * share_a if a.requires_grad else None
        grad_b = g * (1 - share_a) if b.requires_grad else None
        return grad_a, grad_b

    return make_result(out, (a, b), backward, op)


def where(condition, a, b) -> Tensor:
    """``a`` where ``condition`` else ``b``.   d/da = condition, d/db = not condition."""
    condition = condition.data if isinstance(condition, Tensor) else condition
    a, b = _operands(a, b, "where")
    xp = namespace(a.data)
    condition = xp.asarray(condition, dtype=bool)
    try:
        out = xp.where(condition, a.data, b.data)
    except ValueError as err:
        raise _broadcast_error("where", a, b, err) from None

    def backward(g):
        zero = g.dtype.type(0)
        return (xp.where(condition, g, zero) if a.requires_grad else None,
                xp.where(condition, zero, g) if b.requires_grad else None)

    return make_result(out, (a, b), backward, "where")


def clip(x, min=None, max=None) -> Tensor:  # noqa: A002 - NumPy/PyTorch names
    """Clamp x to [min, max].   d/dx = 1 where min <= x <= max, else 0."""
    x = as_tensor(x)
    if min is None and max is None:
        raise ValueError("clip needs at least one of min and max.")
    xp = namespace(x.data)
    out = xp.clip(x.data, min, max)
    x_data = x.data

    def backward(g):
        inside = xp.ones(x_data.shape, dtype=bool)
        if min is not None:
            inside &= x_data >= min
        if max is not None:
            inside &= x_data <= max
        return (g * inside,)

    return make_result(out, (x,), backward, "clip")
