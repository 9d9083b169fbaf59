"""Activation functions a = f(z), by their Keras names, usable as ``activation=`` strings.

Every activation is composed from engine ops (:mod:`deepgrad.ops`), so its gradient
comes from the engine's backward rules. Beside each function sits its analytic
derivative df/dz on NumPy arrays, for teaching and plots: ``derivative(name, z)``.
The tests check each derivative against the engine's gradient.

Activations with learned parameters (PReLU, APL, soft exponential) are given here in
functional form, taking the parameter tensors as arguments; the layer classes that
own those parameters live in :mod:`deepgrad.layers`.

>>> import deepgrad as dg
>>> from deepgrad import activations
>>> activations.get("relu")(dg.tensor([-1.0, 2.0])).tolist()
[0.0, 2.0]
>>> activations.derivative("sigmoid", [0.0]).tolist()
[0.25]
"""

from __future__ import annotations

import math

import numpy as np

from . import backend
from .configurable import Registry
from .ops import elementwise as _ew
from .ops import nn as _nn
from .ops import reduction as _red
from .ops import shape as _shape
from .ops.special import erf, erfc_data
from .tensor import Tensor, as_tensor

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_HALF = math.sqrt(0.5)
_SQRT_TWO_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715

_DERIVATIVES = {}


def _derivative_of(function):
    """Register the decorated NumPy function as the analytic derivative of ``function``."""

    def register(derivative_fn):
        _DERIVATIVES[function] = derivative_fn
        return derivative_fn

    return register


# --------------------------------------------------------------------------- identity and steps

def linear(x) -> Tensor:
    """Linear (identity): f(x) = x.   Range (-inf, inf).   f'(x) = 1."""
    return as_tensor(x)


@_derivative_of(linear)
def _linear_derivative(z):
    return np.ones_like(z)


def binary_step(x) -> Tensor:
    """Binary step (threshold): f(x) = 0 for x < 0, 1 for x >= 0.   Range {0, 1}.

    f'(x) = 0 for x != 0 (undefined at 0), so no gradient flows through it: it suits
    the perceptron rule, not backpropagation. Computed as clip(sign(x) + 1, 0, 1).
    """
    x = as_tensor(x)
    return _ew.clip(_ew.sign(x) + 1, 0, 1)


@_derivative_of(binary_step)
def _binary_step_derivative(z):
    return np.zeros_like(z)


# --------------------------------------------------------------------------- sigmoid family

def sigmoid(x) -> Tensor:
    """Sigmoid (logistic, soft step): f(x) = 1 / (1 + e^-x).   Range (0, 1).

    f'(x) = f(x) (1 - f(x)), at most 1/4 (at x = 0).
    """
    return _ew.sigmoid(x)


@_derivative_of(sigmoid)
def _sigmoid_derivative(z):
    s = _ew.sigmoid_data(z)
    return s * (1 - s)


def hard_sigmoid(x) -> Tensor:
    """Hard sigmoid (Keras 3): f(x) = 0 for x <= -3, 1 for x >= 3, x/6 + 1/2 between.

    Range [0, 1].   f'(x) = 1/6 for -3 < x < 3, else 0. Computed as clip(x/6 + 1/2, 0, 1).
    """
    x = as_tensor(x)
    return _ew.clip(x * (1.0 / 6.0) + 0.5, 0.0, 1.0)


@_derivative_of(hard_sigmoid)
def _hard_sigmoid_derivative(z):
    return np.where(np.abs(z) < 3, 1.0 / 6.0, 0.0)


def tanh(x) -> Tensor:
    """Hyperbolic tangent: f(x) = (e^x - e^-x) / (e^x + e^-x) = 2 sigmoid(2x) - 1.

    Range (-1, 1), zero-centred.   f'(x) = 1 - f(x)^2.
    """
    return _ew.tanh(x)


@_derivative_of(tanh)
def _tanh_derivative(z):
    return 1 - np.tanh(z) ** 2


def hard_tanh(x) -> Tensor:
    """Hard tanh: f(x) = -1 for x < -1, x for -1 <= x <= 1, 1 for x > 1.   Range [-1, 1].

    f'(x) = 1 for |x| < 1, else 0.
    """
    return _ew.clip(as_tensor(x), -1.0, 1.0)


@_derivative_of(hard_tanh)
def _hard_tanh_derivative(z):
    return np.where(np.abs(z) < 1, 1.0, 0.0)


def softsign(x) -> Tensor:
    """Softsign (ElliotSig): f(x) = x / (1 + |x|).   Range (-1, 1).   f'(x) = 1 / (1 + |x|)^2."""
    x = as_tensor(x)
    return x / (_ew.abs(x) + 1)


@_derivative_of(softsign)
def _softsign_derivative(z):
    return 1 / (1 + np.abs(z)) ** 2


def sqnl(x) -> Tensor:
    """Square nonlinearity (SQNL): f(x) = 1 for x > 2, x - x^2/4 on [0, 2], x + x^2/4 on [-2, 0), -1 below.

    Range [-1, 1].   f'(x) = 1 -+ x/2 = 1 - |x|/2 for |x| <= 2, else 0.
    Computed as c - c|c|/4 with c = clip(x, -2, 2).
    """
    clipped = _ew.clip(as_tensor(x), -2.0, 2.0)
    return clipped - clipped * _ew.abs(clipped) * 0.25


@_derivative_of(sqnl)
def _sqnl_derivative(z):
    return np.where(np.abs(z) <= 2, 1 - np.abs(z) / 2, 0.0)


# --------------------------------------------------------------------------- rectifiers

def relu(x, negative_slope=0.0, max_value=None, threshold=0.0) -> Tensor:
    """Rectified linear unit with Keras' options.

    With the defaults f(x) = max(0, x).   Range [0, inf).   f'(x) = 1 for x > 0 else 0.
    In general (Keras 3): f(x) = min(x, max_value) for x > threshold,
    f(x) = negative_slope (x - threshold) for x <= threshold.
    """
    x = as_tensor(x)
    if negative_slope != 0 and max_value is None and threshold == 0:
        return leaky_relu(x, negative_slope)
    if threshold != 0:
        out = _ew.where(x > threshold, x, 0.0)
    else:
        out = _ew.relu(x)
    if max_value is not None:
        out = _ew.clip(out, 0.0, max_value)
    if negative_slope != 0:
        out = out - _ew.relu(threshold - x) * negative_slope
    return out


@_derivative_of(relu)
def _relu_derivative(z, negative_slope=0.0, max_value=None, threshold=0.0):
    above = z > threshold
    kept = np.where(above, z, 0.0) if threshold != 0 else np.maximum(z, 0.0)
    slope = above.astype(z.dtype)
    if max_value is not None:
        slope = slope * ((kept >= 0) & (kept < max_value))
    return slope + negative_slope * (z < threshold)


def relu6(x) -> Tensor:
    """ReLU capped at 6: f(x) = min(max(0, x), 6).   Range [0, 6].   f'(x) = 1 for 0 < x < 6, else 0."""
    return _ew.clip(as_tensor(x), 0.0, 6.0)


@_derivative_of(relu6)
def _relu6_derivative(z):
    return np.where((z > 0) & (z < 6), 1.0, 0.0)


def brelu(x) -> Tensor:
    """Bipolar ReLU: f(x_i) = relu(x_i) for even i, -relu(-x_i) for odd i (i = index on the last axis).

    Range (-inf, inf).   f'(x_i) = 1 where x_i >= 0 (even i) or x_i < 0 (odd i), else 0.
    Half the units pass positive inputs and half negative ones, so a layer's mean output
    stays near zero.
    """
    x = as_tensor(x)
    keep = _brelu_mask(backend.namespace(x.data), x.data)
    return _ew.where(keep, x, 0.0)


def _brelu_mask(xp, z):
    even = (xp.arange(z.shape[-1]) % 2 == 0) if z.ndim else xp.asarray(True)
    return xp.where(even, z >= 0, z < 0)


@_derivative_of(brelu)
def _brelu_derivative(z):
    return _brelu_mask(np, z).astype(z.dtype)


def leaky_relu(x, negative_slope=0.2) -> Tensor:
    """Leaky ReLU: f(x) = x for x >= 0, negative_slope * x for x < 0.   Range (-inf, inf).

    f'(x) = 1 for x >= 0, negative_slope for x < 0. Keras' default slope is 0.2
    (the course's table uses 0.01: pass ``negative_slope=0.01``).
    """
    x = as_tensor(x)
    return _ew.where(x >= 0, x, x * negative_slope)


@_derivative_of(leaky_relu)
def _leaky_relu_derivative(z, negative_slope=0.2):
    return np.where(z >= 0, 1.0, negative_slope)


def prelu(x, alpha=0.25) -> Tensor:
    """Parametric ReLU: f(x) = x for x >= 0, alpha * x for x < 0, with a learned slope ``alpha``.

    Range (-inf, inf).   df/dx = 1 for x >= 0, alpha for x < 0;  df/dalpha = min(x, 0).
    ``alpha`` is a tensor broadcastable to x (one slope per unit, as the PReLU layer
    holds it) or a number; 0.25 is the customary initial value.
    """
    x = as_tensor(x)
    return _ew.where(x >= 0, x, _ew.mul(x, alpha))


@_derivative_of(prelu)
def _prelu_derivative(z, alpha=0.25):
    return np.where(z >= 0, 1.0, np.asarray(alpha, dtype=np.float64))


def rrelu(x, lower=1.0 / 8.0, upper=1.0 / 3.0, training=False, generator=None) -> Tensor:
    """Randomized leaky ReLU: f(x) = x for x >= 0, a x for x < 0.   Range (-inf, inf).

    While training, a ~ Uniform(lower, upper) is drawn for every element on each call
    (from ``generator``, else deepgrad's global generator, so ``deepgrad.manual_seed``
    makes runs repeat); at inference a = (lower + upper) / 2.
    f'(x) = 1 for x >= 0, a for x < 0.
    """
    x = as_tensor(x)
    if not 0 <= lower <= upper:
        raise ValueError(f"rrelu needs 0 <= lower <= upper, got lower={lower}, upper={upper}.")
    if not training:
        return leaky_relu(x, (lower + upper) / 2.0)
    rng = generator if generator is not None else backend.global_generator()
    slopes = rng.uniform(lower, upper, size=x.shape).astype(x.dtype)
    if backend.namespace(x.data) is not np:
        slopes = backend.to_device(slopes, x.device)
    return _ew.where(x >= 0, x, x * slopes)


@_derivative_of(rrelu)
def _rrelu_derivative(z, lower=1.0 / 8.0, upper=1.0 / 3.0):
    return np.where(z >= 0, 1.0, (lower + upper) / 2.0)


def elu(x, alpha=1.0) -> Tensor:
    """Exponential linear unit: f(x) = x for x > 0, alpha (e^x - 1) for x <= 0.   Range (-alpha, inf).

    f'(x) = 1 for x > 0, f(x) + alpha = alpha e^x for x <= 0 (smooth at 0 when alpha = 1).
    The exponential sees min(x, 0), so large positive inputs never overflow.
    """
    x = as_tensor(x)
    negative_part = (_ew.exp(_ew.clip(x, None, 0.0)) - 1) * alpha
    return _ew.where(x > 0, x, negative_part)


@_derivative_of(elu)
def _elu_derivative(z, alpha=1.0):
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0)))


def selu(x) -> Tensor:
    """Scaled ELU: f(x) = scale * elu(x, alpha), alpha = 1.67326..., scale = 1.05070...

    Range (-scale alpha, inf) = (-1.758, inf).   f'(x) = scale for x > 0, scale alpha e^x for x <= 0.
    With LeCun-normal weights it keeps activations near zero mean and unit variance.
    """
    return elu(x, _SELU_ALPHA) * _SELU_SCALE


@_derivative_of(selu)
def _selu_derivative(z):
    return _SELU_SCALE * np.where(z > 0, 1.0, _SELU_ALPHA * np.exp(np.minimum(z, 0)))


def apl(x, a=None, b=None) -> Tensor:
    """Adaptive piecewise linear unit: f(x) = max(0, x) + sum_s a_s max(0, -x + b_s).

    Range (-inf, inf).   f'(x) = H(x) - sum_s a_s H(-x + b_s)  (H = Heaviside step).
    ``a`` and ``b`` hold the S learned hinges on their last axis: shape (S,) shared by
    all units, or x.shape[1:] + (S,) for one set per unit (as the APL layer holds them).
    Without hinges (a = b = None) APL is the ReLU.
    """
    x = as_tensor(x)
    if a is None and b is None:
        return _ew.relu(x)
    if a is None or b is None:
        raise ValueError("apl needs both the hinge slopes `a` and the hinge locations `b` (or neither).")
    a, b = as_tensor(a, like=x), as_tensor(b, like=x)
    if a.shape != b.shape:
        raise ValueError(f"apl: hinge slopes a {a.shape} and locations b {b.shape} must have the same shape.")
    # (..., units, S) temporary: S is small (a few hinges)
    hinges = _ew.relu(b - _shape.unsqueeze(x, -1))
    return _ew.relu(x) + _red.sum(hinges * a, axis=-1)


@_derivative_of(apl)
def _apl_derivative(z, a=None, b=None):
    step = (z > 0).astype(np.float64)
    if a is None:
        return step
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return step - (a * (b - z[..., None] > 0)).sum(axis=-1)


def bent_identity(x) -> Tensor:
    """Bent identity: f(x) = (sqrt(x^2 + 1) - 1)/2 + x.   Range (-inf, inf).

    f'(x) = x / (2 sqrt(x^2 + 1)) + 1, between 1/2 and 3/2.
    """
    x = as_tensor(x)
    return (_ew.sqrt(x * x + 1) - 1) * 0.5 + x


@_derivative_of(bent_identity)
def _bent_identity_derivative(z):
    return z / (2 * np.sqrt(z * z + 1)) + 1


# --------------------------------------------------------------------------- smooth rectifiers

def silu(x) -> Tensor:
    """SiLU / Swish-1: f(x) = x sigmoid(x).   Range [-0.278, inf).

    f'(x) = f(x) + sigmoid(x) (1 - f(x)).
    """
    x = as_tensor(x)
    return x * _ew.sigmoid(x)


swish = silu


@_derivative_of(silu)
def _silu_derivative(z):
    s = _ew.sigmoid_data(z)
    f = z * s
    return f + s * (1 - f)


def hard_silu(x) -> Tensor:
    """Hard SiLU / hard swish: f(x) = x hard_sigmoid(x) = x relu6(x + 3) / 6.   Range [-0.375, inf).

    f'(x) = 0 for x < -3, x/3 + 1/2 for -3 < x < 3, 1 for x > 3.
    """
    x = as_tensor(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


@_derivative_of(hard_silu)
def _hard_silu_derivative(z):
    return np.clip(z / 6 + 0.5, 0, 1) + z * _hard_sigmoid_derivative(z)


def gelu(x, approximate=False) -> Tensor:
    """Gaussian error linear unit: f(x) = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2.   Range [-0.17, inf).

    f'(x) = Phi(x) + x phi(x), phi the standard normal density. With ``approximate=True``:
    f(x) = x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2. Keras' default is the exact form.
    """
    x = as_tensor(x)
    if approximate:
        inner = (x + x * x * x * _GELU_CUBIC) * _SQRT_TWO_OVER_PI
        return x * (_ew.tanh(inner) + 1) * 0.5
    return x * (erf(x * _SQRT_HALF) + 1) * 0.5


@_derivative_of(gelu)
def _gelu_derivative(z, approximate=False):
    if approximate:
        t = np.tanh(_SQRT_TWO_OVER_PI * (z + _GELU_CUBIC * z ** 3))
        return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * _SQRT_TWO_OVER_PI * (1 + 3 * _GELU_CUBIC * z * z)
    cdf = 0.5 * erfc_data(np, -z * _SQRT_HALF)
    density = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return cdf + z * density


def mish(x) -> Tensor:
    """Mish: f(x) = x tanh(softplus(x)).   Range [-0.31, inf).

    f'(x) = tanh(sp) + x sigmoid(x) (1 - tanh(sp)^2), sp = softplus(x).
    """
    x = as_tensor(x)
    return x * _ew.tanh(_ew.softplus(x))


@_derivative_of(mish)
def _mish_derivative(z):
    t = np.tanh(np.logaddexp(0, z))
    return t + z * _ew.sigmoid_data(z) * (1 - t * t)


def softplus(x) -> Tensor:
    """Softplus: f(x) = ln(1 + e^x), a smooth ReLU.   Range (0, inf).   f'(x) = sigmoid(x)."""
    return _ew.softplus(x)


@_derivative_of(softplus)
def _softplus_derivative(z):
    return _ew.sigmoid_data(z)


def log_sigmoid(x) -> Tensor:
    """Log-sigmoid: f(x) = ln sigmoid(x) = -softplus(-x).   Range (-inf, 0).   f'(x) = sigmoid(-x)."""
    return -_ew.softplus(-as_tensor(x))


@_derivative_of(log_sigmoid)
def _log_sigmoid_derivative(z):
    return _ew.sigmoid_data(-z)


def exponential(x) -> Tensor:
    """Exponential: f(x) = e^x.   Range (0, inf).   f'(x) = e^x."""
    return _ew.exp(x)


@_derivative_of(exponential)
def _exponential_derivative(z):
    return np.exp(z)


def soft_exponential(x, alpha=0.0) -> Tensor:
    """Soft exponential (Godfrey and Gashler 2015), interpolating log, identity and exp by ``alpha``.

    f(alpha, x) = -ln(1 - alpha (x + alpha)) / alpha   for alpha < 0
                = x                                   for alpha = 0
                = (e^(alpha x) - 1) / alpha + alpha    for alpha > 0
    Range (-inf, inf).   df/dx = 1 / (1 - alpha (alpha + x)) for alpha < 0, e^(alpha x) for alpha >= 0.
    The two branches are inverse functions of each other and f is continuous in alpha
    (the course table writes the alpha < 0 branch with epsilon standing for alpha and
    drops the + alpha of the alpha > 0 branch, which changes no derivative in x).
    For alpha < 0 the function is defined only where 1 - alpha (x + alpha) > 0.
    ``alpha`` is learned (the SoftExponential layer): a number or a tensor broadcastable
    to x; the gradient reaches it through every branch.
    """
    x = as_tensor(x)
    if not isinstance(alpha, Tensor):
        alpha_value = float(alpha)
        if alpha_value == 0:
            return x
        if alpha_value > 0:
            return (_ew.exp(x * alpha_value) - 1) * (1.0 / alpha_value) + alpha_value
        return -_ew.log((x + alpha_value) * -alpha_value + 1) * (1.0 / alpha_value)
    positive, negative = alpha.data > 0, alpha.data < 0
    # each branch sees a harmless alpha where it is not selected, so no inf/NaN leaks into the
    # gradient of the selected branch
    a_positive = _ew.where(positive, alpha, 1.0)
    a_negative = _ew.where(negative, alpha, -1.0)
    exp_branch = (_ew.exp(_ew.where(positive, a_positive * x, 0.0)) - 1) / a_positive + a_positive
    log_argument = _ew.where(negative, 1 - a_negative * (x + a_negative), 1.0)
    log_branch = -_ew.log(log_argument) / a_negative
    return _ew.where(negative, log_branch, _ew.where(positive, exp_branch, x))


@_derivative_of(soft_exponential)
def _soft_exponential_derivative(z, alpha=0.0):
    a = np.asarray(alpha.data if isinstance(alpha, Tensor) else alpha, dtype=np.float64)
    with np.errstate(all="ignore"):
        return np.where(a < 0, 1 / (1 - a * (a + z)), np.exp(a * z))


def soft_clipping(x, alpha=1.0) -> Tensor:
    """Soft clipping: f(x) = (1/alpha) ln((1 + e^(alpha x)) / (1 + e^(alpha (x - 1)))).   Range (0, 1).

    A smooth clip to [0, 1] that sharpens as alpha grows; computed as
    (softplus(alpha x) - softplus(alpha (x - 1))) / alpha, which never overflows.
    f'(x) = sigmoid(alpha x) - sigmoid(alpha (x - 1))
          = (1/2) sinh(alpha/2) sech(alpha x/2) sech(alpha (1 - x)/2).
    """
    if alpha <= 0:
        raise ValueError(f"soft_clipping needs alpha > 0, got alpha={alpha}.")
    x = as_tensor(x)
    return (_ew.softplus(x * alpha) - _ew.softplus((x - 1) * alpha)) * (1.0 / alpha)


@_derivative_of(soft_clipping)
def _soft_clipping_derivative(z, alpha=1.0):
    return _ew.sigmoid_data(alpha * z) - _ew.sigmoid_data(alpha * (z - 1))


def celu(x, alpha=1.0) -> Tensor:
    """Continuously differentiable ELU (Barron 2017): f(x) = max(0, x) + min(0, alpha (e^(x/alpha) - 1)).

    Range (-alpha, inf).   f'(x) = 1 for x > 0, e^(x/alpha) for x <= 0 (continuous at 0 for every alpha).
    The exponential sees min(x, 0), so large positive inputs never overflow.
    """
    if alpha == 0:
        raise ValueError("celu needs alpha != 0 (it divides x by alpha).")
    x = as_tensor(x)
    negative_part = (_ew.exp(_ew.clip(x, None, 0.0) * (1.0 / alpha)) - 1) * alpha
    return _ew.where(x > 0, x, negative_part)


@_derivative_of(celu)
def _celu_derivative(z, alpha=1.0):
    return np.where(z > 0, 1.0, np.exp(np.minimum(z, 0) / alpha))


def hard_shrink(x, threshold=0.5) -> Tensor:
    """Hard shrinkage: f(x) = x for |x| > threshold, 0 otherwise.   Range (-inf, -t) U {0} U (t, inf).

    f'(x) = 1 for |x| > threshold, else 0.
    """
    x = as_tensor(x)
    return _ew.where(abs(x.data) > threshold, x, 0.0)


@_derivative_of(hard_shrink)
def _hard_shrink_derivative(z, threshold=0.5):
    return np.where(np.abs(z) > threshold, 1.0, 0.0)


def soft_shrink(x, threshold=0.5) -> Tensor:
    """Soft shrinkage (soft thresholding): f(x) = x - t for x > t, x + t for x < -t, 0 between (t = threshold).

    Range (-inf, inf).   f'(x) = 1 for |x| > t, else 0. Computed as x - clip(x, -t, t).
    """
    x = as_tensor(x)
    return x - _ew.clip(x, -threshold, threshold)


@_derivative_of(soft_shrink)
def _soft_shrink_derivative(z, threshold=0.5):
    return np.where(np.abs(z) > threshold, 1.0, 0.0)


def tanh_shrink(x) -> Tensor:
    """Tanh shrinkage: f(x) = x - tanh(x).   Range (-inf, inf).   f'(x) = tanh(x)^2."""
    x = as_tensor(x)
    return x - _ew.tanh(x)


@_derivative_of(tanh_shrink)
def _tanh_shrink_derivative(z):
    return np.tanh(z) ** 2


def sparse_plus(x) -> Tensor:
    """SparsePlus: f(x) = 0 for x <= -1, (x + 1)^2 / 4 for -1 < x < 1, x for x >= 1.   Range [0, inf).

    A softplus with exact zeros.   f'(x) = 0 for x <= -1, (x + 1)/2 for -1 < x < 1, 1 for x >= 1.
    Computed as where(x >= 1, x, (clip(x, -1, 1) + 1)^2 / 4).
    """
    x = as_tensor(x)
    shifted = _ew.clip(x, -1.0, 1.0) + 1
    return _ew.where(x >= 1, x, shifted * shifted * 0.25)


@_derivative_of(sparse_plus)
def _sparse_plus_derivative(z):
    return np.where(z >= 1, 1.0, (np.clip(z, -1, 1) + 1) / 2)


def squareplus(x, b=4) -> Tensor:
    """Squareplus (Barron 2021): f(x) = (x + sqrt(x^2 + b)) / 2, a softplus from a square root.   Range (0, inf).

    f'(x) = (1 + x / sqrt(x^2 + b)) / 2. ``b`` >= 0 sets the curvature at 0 (b = 0 gives the ReLU).
    """
    if b < 0:
        raise ValueError(f"squareplus needs b >= 0, got b={b}.")
    x = as_tensor(x)
    return (x + _ew.sqrt(x * x + b)) * 0.5


@_derivative_of(squareplus)
def _squareplus_derivative(z, b=4):
    return (1 + z / np.sqrt(z * z + b)) / 2


def threshold(x, threshold=0.0, default_value=0.0) -> Tensor:
    """Threshold: f(x) = x for x > threshold, default_value otherwise.   Range {default_value} U (threshold, inf).

    f'(x) = 1 for x > threshold, else 0. Keras 3 requires both arguments; here they default
    to 0 (the ReLU), so that the name alone is a usable activation.
    """
    x = as_tensor(x)
    return _ew.where(x > threshold, x, float(default_value))


@_derivative_of(threshold)
def _threshold_derivative(z, threshold=0.0, default_value=0.0):
    return np.where(z > threshold, 1.0, 0.0)


def glu(x, axis=-1) -> Tensor:
    """Gated linear unit (Dauphin et al. 2017): x split in halves a, b along ``axis``; f(x) = a sigmoid(b).

    Range (-inf, inf); the output has half the input's size along ``axis``.
    f_i depends only on a_i and b_i: df_i/da_i = sigmoid(b_i), df_i/db_i = a_i sigmoid(b_i) (1 - sigmoid(b_i));
    :func:`derivative` returns these two partials laid out as the input (a's part, then b's).
    """
    x = as_tensor(x)
    if x.ndim == 0 or x.shape[axis] % 2:
        raise ValueError(f"glu splits the input in two halves along axis {axis}; its size there must be even, "
                         f"got shape {tuple(x.shape)}.")
    a, b = _shape.split(x, 2, axis=axis)
    return a * _ew.sigmoid(b)


@_derivative_of(glu)
def _glu_derivative(z, axis=-1):
    a, b = np.split(z, 2, axis=axis)
    s = _ew.sigmoid_data(b)
    return np.concatenate([s, a * s * (1 - s)], axis=axis)


# --------------------------------------------------------------------------- vector activations

def softmax(x, axis=-1) -> Tensor:
    """Softmax: f(x)_i = e^(x_i) / sum_j e^(x_j) along ``axis``.   Range (0, 1), summing to 1.

    Jacobian: d f_i / d x_j = f_i (delta_ij - f_j). Computed with the maximum subtracted.
    """
    return _nn.softmax(x, axis)


def _np_softmax_last(z, axis):
    """softmax(z) along ``axis``, with that axis moved last (where the Jacobian's axes go)."""
    z = np.moveaxis(z, axis, -1)
    shifted = np.exp(z - z.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


@_derivative_of(softmax)
def _softmax_derivative(z, axis=-1):
    s = _np_softmax_last(z, axis)
    return s[..., :, None] * (np.eye(s.shape[-1]) - s[..., None, :])


def log_softmax(x, axis=-1) -> Tensor:
    """Log-softmax: f(x)_i = x_i - ln sum_j e^(x_j).   Range (-inf, 0).

    Jacobian: d f_i / d x_j = delta_ij - softmax(x)_j.
    """
    return _nn.log_softmax(x, axis)


@_derivative_of(log_softmax)
def _log_softmax_derivative(z, axis=-1):
    s = _np_softmax_last(z, axis)
    return np.eye(s.shape[-1]) - s[..., None, :]


def sparsemax(x, axis=-1) -> Tensor:
    """Sparsemax (Martins and Astudillo 2016): the Euclidean projection of x onto the probability simplex.

    f(x)_i = max(x_i - tau(x), 0), tau chosen so that sum_i f(x)_i = 1: with x sorted
    decreasingly, k = max{j : 1 + j x_(j) > sum_(l<=j) x_(l)} and tau = (sum_(l<=k) x_(l) - 1) / k.
    Range [0, 1], summing to 1, with exact zeros (unlike softmax).
    Jacobian on the support S (|S| = k): d f_i / d x_j = [i in S] (delta_ij - [j in S] / k).
    Computed as relu(x - tau) with tau = (sum over S of x - 1) / k, S fixed by the forward pass,
    so the engine's gradient is exactly that Jacobian.
    """
    x = as_tensor(x)
    xp = backend.namespace(x.data)
    support = _sparsemax_support(xp, x.data, axis)
    size = support.sum(axis=axis, keepdims=True)
    tau = (_red.sum(x * support, axis=axis, keepdims=True) - 1) / size
    return _ew.relu(x - tau)


def _sparsemax_support(xp, z, axis):
    """The mask of the coordinates that sparsemax keeps positive (its support S)."""
    moved = xp.moveaxis(z, axis, -1)
    ordered = -xp.sort(-moved, axis=-1)
    ranks = xp.arange(1, moved.shape[-1] + 1, dtype=z.dtype)
    kept = 1 + ranks * ordered > xp.cumsum(ordered, axis=-1)
    k = kept.sum(axis=-1, keepdims=True)
    tau = (xp.take_along_axis(xp.cumsum(ordered, axis=-1), k - 1, axis=-1) - 1) / k
    return xp.moveaxis((moved > tau).astype(z.dtype), -1, axis)


@_derivative_of(sparsemax)
def _sparsemax_derivative(z, axis=-1):
    support = np.moveaxis(_sparsemax_support(np, z, axis), axis, -1)
    k = support.sum(axis=-1)[..., None, None]
    return support[..., :, None] * (np.eye(support.shape[-1]) - support[..., None, :] / k)


# --------------------------------------------------------------------------- lookup

_CANONICAL = (
    linear, binary_step, sigmoid, hard_sigmoid, tanh, hard_tanh, softsign, sqnl, relu, relu6,
    brelu, leaky_relu, prelu, rrelu, elu, selu, apl, bent_identity, silu, hard_silu, gelu, mish,
    softplus, log_sigmoid, exponential, soft_exponential, soft_clipping, softmax, log_softmax,
    celu, glu, hard_shrink, soft_shrink, tanh_shrink, sparse_plus, sparsemax, squareplus, threshold,
)
_REGISTRY = Registry("activation", None, {
    **{fn.__name__: fn for fn in _CANONICAL}, "swish": silu, "hard_swish": hard_silu, "identity": linear,
}, hint="or pass a callable mapping a tensor to a tensor")
_VECTOR_ACTIVATIONS = (softmax, log_softmax, sparsemax, glu)


def names() -> list:
    """Every string identifier :func:`get` accepts, sorted."""
    return _REGISTRY.names()


def elementwise_names() -> list:
    """The names of the activations that map each element alone (all but softmax, log_softmax, sparsemax, glu)."""
    return [name for name in names() if _REGISTRY.lookup(name) not in _VECTOR_ACTIVATIONS]


def get(identifier):
    """The activation function for ``identifier``: a name, a callable (returned as is), or None (linear).

    A Keras-style dict ``{"class_name": "function", "config": name}`` is also accepted.
    Unknown names raise ValueError naming the closest valid one.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, dict):
        name = identifier.get("config")
        if not isinstance(name, str):
            raise ValueError(f"cannot read an activation from the dict {identifier!r}: expected "
                             "{'class_name': 'function', 'config': <name>}.")
        identifier = name
    return _REGISTRY.get(identifier)


def serialize(activation) -> str:
    """The name of an activation (the canonical one for aliases: swish -> 'silu').

    Functions outside this module serialize to their ``__name__``; anonymous ones raise.
    """
    activation = get(activation)
    for fn in _CANONICAL:
        if fn is activation:
            return fn.__name__
    name = getattr(activation, "__name__", None)
    if name is None or name == "<lambda>":
        raise ValueError(f"cannot serialize the anonymous activation {activation!r}: give it a name "
                         "(def ...) or use one of " + ", ".join(names()) + ".")
    return name


def deserialize(config):
    """The activation for a name (or Keras dict) written by :func:`serialize`."""
    return get(config)


def derivative(activation, z, **params) -> np.ndarray:
    """The analytic derivative df/dz of an activation at ``z``, as a float64 NumPy array.

    ``params`` are the activation's own arguments (``alpha=``, ``negative_slope=``, ...).
    Elementwise activations give an array shaped like z; softmax, log_softmax and sparsemax
    give the Jacobian, shaped z.shape + (n,) with J[..., i, j] = d f_i / d z_j; glu gives its
    two non-zero partials per output laid out as z (see :func:`glu`).
    For plots and teaching; training uses the engine's gradients.
    """
    function = get(activation)
    try:
        derivative_fn = _DERIVATIVES[function]
    except KeyError:
        raise ValueError(f"no analytic derivative is known for {activation!r}; known: "
                         f"{', '.join(sorted(fn.__name__ for fn in _DERIVATIVES))}.") from None
    z = np.asarray(z.numpy() if isinstance(z, Tensor) else z, dtype=np.float64)
    result = np.asarray(derivative_fn(z, **params), dtype=np.float64)
    if function in _VECTOR_ACTIVATIONS:
        return result
    return np.broadcast_to(result, z.shape).copy()
