"""Weight initializers, by their Keras names: ``init(shape, dtype='float32')`` -> NumPy array.

Why the scale matters: for a layer with fan_in inputs, the variance of its outputs is
fan_in * Var(w) * Var(input), so weights of variance about 1/fan_in keep the signal's
scale from layer to layer (no vanishing or exploding activations and gradients).
The course's table, as Var(w) of a normal draw:

=========  ==============================  ==============================
Glorot     none, tanh, logistic, softmax   1 / fan_avg = 2 / (fan_in + fan_out)
He         ReLU and its variants           2 / fan_in
LeCun      SELU                            1 / fan_in
=========  ==============================  ==============================

and a uniform draw on [-r, r] with r = sqrt(3 Var(w)) has the same variance
(Glorot uniform: r = sqrt(6 / (fan_in + fan_out)); He uniform: r = sqrt(6 / fan_in)).

Fans follow Keras: a dense kernel (in, out) has fan_in = in, fan_out = out; a
convolution kernel (*receptive_field, in, out) multiplies both by the receptive
field's size. Random initializers draw from their ``seed`` when one is given (the same
values on every call, as in Keras), otherwise from a fresh stream of deepgrad's global
seed (:func:`deepgrad.backend.new_generator`), so ``deepgrad.manual_seed(n)`` makes a
whole run repeat.

>>> from deepgrad import initializers
>>> initializers.get("he_uniform")((2, 10)).shape
(2, 10)
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import backend
from .configurable import Configurable, Registry

# The standard deviation of a unit normal truncated to [-2, 2]: VarianceScaling divides by it
# so that the truncated draw still has the intended variance.
_TRUNCATED_STDDEV = 0.87962566103423978
_TRUNCATION = 2.0


def compute_fans(shape, input_axes=None, output_axes=None) -> tuple:
    """(fan_in, fan_out) of a weight of ``shape`` (Keras' rule).

    () -> (1, 1); (n,) -> (n, n); (in, out) -> (in, out); a convolution kernel
    (*receptive_field, in, out) -> (in * field, out * field), field = prod(receptive_field).
    With both ``input_axes`` and ``output_axes`` (lists of axes, as Keras 3), fan_in is the
    product of the sizes along ``input_axes`` and fan_out along ``output_axes``
    (e.g. an attention kernel (in, heads, dim): input_axes=[0], output_axes=[1, 2]).
    """
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        try:
            return (int(math.prod(shape[a] for a in input_axes)), int(math.prod(shape[a] for a in output_axes)))
        except (IndexError, TypeError):
            raise ValueError(f"compute_fans: input_axes={input_axes!r} and output_axes={output_axes!r} must be lists "
                             f"of axes of the shape {shape}.") from None
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    receptive_field = math.prod(shape[:-2])
    return int(shape[-2] * receptive_field), int(shape[-1] * receptive_field)


def _normalize_shape(shape) -> tuple:
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        shape = tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        raise TypeError(f"an initializer needs a shape (a tuple of ints), got {shape!r}.") from None
    if any(n < 0 for n in shape):
        raise ValueError(f"shape {shape} has a negative dimension.")
    return shape


def _dtype(dtype, floating=True) -> np.dtype:
    dtype = np.dtype("float32" if dtype is None else dtype)
    if floating and not np.issubdtype(dtype, np.floating):
        raise ValueError(f"random initializers produce floating point weights; got dtype {dtype}. "
                         "Use dtype='float32' (the default) or 'float64'.")
    return dtype


def _check_seed(seed):
    if seed is not None and (not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0):
        raise ValueError(f"seed must be None or a non-negative int, got {seed!r}.")
    return None if seed is None else int(seed)


class Initializer(Configurable):
    """Base class: ``initializer(shape, dtype=None)`` returns a NumPy array of ``shape``.

    Subclasses implement ``__call__`` and ``get_config``; ``from_config(config)`` rebuilds them.
    """

    def __call__(self, shape, dtype=None):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(shape, dtype=None).")


class Zeros(Initializer):
    """All zeros: w = 0."""

    def __call__(self, shape, dtype=None):
        return np.zeros(_normalize_shape(shape), dtype=_dtype(dtype, floating=False))


class Ones(Initializer):
    """All ones: w = 1."""

    def __call__(self, shape, dtype=None):
        return np.ones(_normalize_shape(shape), dtype=_dtype(dtype, floating=False))


class Constant(Initializer):
    """A constant: w = value (a number, or an array broadcastable to the shape)."""

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        shape = _normalize_shape(shape)
        try:
            return np.broadcast_to(np.asarray(self.value, dtype=_dtype(dtype, floating=False)), shape).copy()
        except ValueError:
            raise ValueError(f"Constant value of shape {np.shape(self.value)} cannot fill shape {shape}.") from None

    def get_config(self) -> dict:
        value = self.value
        return {"value": value.tolist() if isinstance(value, np.ndarray) else value}


class RandomInitializer(Initializer):
    """Base of the random initializers: holds the seed and picks the generator of each draw."""

    def __init__(self, seed=None):
        self.seed = _check_seed(seed)

    def _generator(self, generator=None) -> np.random.Generator:
        if self.seed is not None:
            return np.random.default_rng(self.seed)
        if generator is not None:
            return generator
        return backend.new_generator()

    def get_config(self) -> dict:
        return {"seed": self.seed}


def _standard_normal(rng, shape, dtype):
    native = dtype if dtype in (np.float32, np.float64) else np.float32
    return rng.standard_normal(shape, dtype=native).astype(dtype, copy=False)


def _uniform(rng, shape, dtype, low, high):
    native = dtype if dtype in (np.float32, np.float64) else np.float32
    unit = rng.random(shape, dtype=native)
    return (low + (high - low) * unit).astype(dtype, copy=False)


def _truncated_standard_normal(rng, shape, dtype):
    """Unit normal draws redrawn until every value lies in [-2, 2] (about 4.6% redrawn per round)."""
    values = _standard_normal(rng, shape, dtype)
    outside = np.abs(values) > _TRUNCATION
    while outside.any():
        values[outside] = _standard_normal(rng, int(outside.sum()), dtype)
        outside = np.abs(values) > _TRUNCATION
    return values


class RandomNormal(RandomInitializer):
    """Normal draws: w ~ N(mean, stddev^2)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None, generator=None):
        dtype = _dtype(dtype)
        return (self.mean + self.stddev * _standard_normal(self._generator(generator), _normalize_shape(shape),
                                                             dtype)).astype(dtype, copy=False)

    def get_config(self) -> dict:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(RandomInitializer):
    """Uniform draws: w ~ U[minval, maxval)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        if minval > maxval:
            raise ValueError(f"RandomUniform needs minval <= maxval, got minval={minval}, maxval={maxval}.")
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=None, generator=None):
        return _uniform(self._generator(generator), _normalize_shape(shape), _dtype(dtype),
                        self.minval, self.maxval)

    def get_config(self) -> dict:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class TruncatedNormal(RandomInitializer):
    """Truncated normal: w ~ N(mean, stddev^2) restricted to [mean - 2 stddev, mean + 2 stddev].

    Values beyond two standard deviations are redrawn, so the variance is 0.774 stddev^2.
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None, generator=None):
        dtype = _dtype(dtype)
        draws = _truncated_standard_normal(self._generator(generator), _normalize_shape(shape), dtype)
        return (self.mean + self.stddev * draws).astype(dtype, copy=False)

    def get_config(self) -> dict:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(RandomInitializer):
    """Draws with Var(w) = scale / n, n = fan_in, fan_out or fan_avg = (fan_in + fan_out) / 2.

    distribution 'truncated_normal': N(0, s^2) truncated at 2 s, s = sqrt(scale / n) / 0.8796
    (the truncated draw's variance is then scale / n); 'untruncated_normal': N(0, scale / n);
    'uniform': U[-r, r] with r = sqrt(3 scale / n). ('normal' means 'truncated_normal', as in Keras.)
    ``input_axes``/``output_axes`` (given together) choose the axes the fans are counted on
    (see :func:`compute_fans`).
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, input_axes=None,
                 output_axes=None):
        super().__init__(seed)
        if (input_axes is None) != (output_axes is None):
            raise ValueError("VarianceScaling: give both input_axes and output_axes, or neither; received "
                             f"input_axes={input_axes!r}, output_axes={output_axes!r}.")
        self.input_axes = None if input_axes is None else [int(a) for a in input_axes]
        self.output_axes = None if output_axes is None else [int(a) for a in output_axes]
        if not scale > 0:
            raise ValueError(f"VarianceScaling needs scale > 0, got scale={scale}.")
        if mode not in _MODES:
            raise ValueError(f"invalid mode {mode!r}; expected one of {list(_MODES)}.")
        distribution = str(distribution).lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(f"invalid distribution {distribution!r}; expected one of "
                             f"{list(_DISTRIBUTIONS)} (or 'normal').")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def variance(self, shape) -> float:
        """The variance scale / n these weights are drawn with, for a weight of ``shape``."""
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, n)

    def __call__(self, shape, dtype=None, generator=None):
        shape, dtype = _normalize_shape(shape), _dtype(dtype)
        variance = self.variance(shape)
        rng = self._generator(generator)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return _uniform(rng, shape, dtype, -limit, limit)
        if self.distribution == "truncated_normal":
            stddev = math.sqrt(variance) / _TRUNCATED_STDDEV
            return (stddev * _truncated_standard_normal(rng, shape, dtype)).astype(dtype, copy=False)
        return (math.sqrt(variance) * _standard_normal(rng, shape, dtype)).astype(dtype, copy=False)

    def get_config(self) -> dict:
        config = {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}
        if self.input_axes is not None:
            config.update(input_axes=self.input_axes, output_axes=self.output_axes)
        return config


class _FixedVarianceScaling(VarianceScaling):
    """A named VarianceScaling setting (Glorot, He, LeCun) whose only argument is the seed."""

    _setting: tuple = ()

    def __init__(self, seed=None):
        scale, mode, distribution = self._setting
        super().__init__(scale=scale, mode=mode, distribution=distribution, seed=seed)

    def get_config(self) -> dict:
        return {"seed": self.seed}


class GlorotNormal(_FixedVarianceScaling):
    """Glorot (Xavier) normal: truncated normal with Var(w) = 2 / (fan_in + fan_out) = 1 / fan_avg."""

    _setting = (1.0, "fan_avg", "truncated_normal")


class GlorotUniform(_FixedVarianceScaling):
    """Glorot (Xavier) uniform: U[-r, r], r = sqrt(6 / (fan_in + fan_out)) (Keras' default kernel init)."""

    _setting = (1.0, "fan_avg", "uniform")


class HeNormal(_FixedVarianceScaling):
    """He normal: truncated normal with Var(w) = 2 / fan_in (for ReLU layers)."""

    _setting = (2.0, "fan_in", "truncated_normal")


class HeUniform(_FixedVarianceScaling):
    """He uniform: U[-r, r], r = sqrt(6 / fan_in) (for ReLU layers)."""

    _setting = (2.0, "fan_in", "uniform")


class LecunNormal(_FixedVarianceScaling):
    """LeCun normal: truncated normal with Var(w) = 1 / fan_in (for SELU layers)."""

    _setting = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_FixedVarianceScaling):
    """LeCun uniform: U[-r, r], r = sqrt(3 / fan_in)."""

    _setting = (1.0, "fan_in", "uniform")


XavierNormal = GlorotNormal
XavierUniform = GlorotUniform


class Orthogonal(RandomInitializer):
    """A random orthogonal matrix times ``gain``: W^T W = gain^2 I (or W W^T for wide matrices).

    The shape is flattened to (prod(shape[:-1]), shape[-1]); Q comes from the QR
    decomposition of a normal matrix, with the signs of R's diagonal folded in so that Q is
    uniformly distributed.
    """

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype=None, generator=None):
        shape, dtype = _normalize_shape(shape), _dtype(dtype)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape of rank 2 or more, got {shape}.")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        normal = self._generator(generator).standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(normal)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtype)

    def get_config(self) -> dict:
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """The identity matrix times ``gain``: W = gain I (rectangular: ones on the main diagonal)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        shape = _normalize_shape(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity works only for 2-D weights, got shape {shape}.")
        return (self.gain * np.eye(*shape)).astype(_dtype(dtype, floating=False))

    def get_config(self) -> dict:
        return {"gain": self.gain}


OrthogonalInitializer = Orthogonal
IdentityInitializer = Identity

_CLASSES = (Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
            GlorotNormal, GlorotUniform, HeNormal, HeUniform, LecunNormal, LecunUniform, Orthogonal,
            Identity)
_REGISTRY = Registry("initializer", Initializer, {
    **{cls.__name__: cls for cls in _CLASSES},
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
    "random_normal": RandomNormal, "normal": RandomNormal,
    "random_uniform": RandomUniform, "uniform": RandomUniform,
    "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_normal": GlorotNormal, "glorot_uniform": GlorotUniform,
    "xavier_normal": GlorotNormal, "xavier_uniform": GlorotUniform,
    "XavierNormal": GlorotNormal, "XavierUniform": GlorotUniform,
    "he_normal": HeNormal, "he_uniform": HeUniform,
    "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform,
    "orthogonal": Orthogonal, "OrthogonalInitializer": Orthogonal,
    "identity": Identity, "IdentityInitializer": Identity,
}, hint="or pass a callable init(shape, dtype)")


def names() -> list:
    """Every string identifier :func:`get` accepts, sorted."""
    return _REGISTRY.names()


def get(identifier):
    """An initializer from a name, a class, a config dict, an instance or a callable; None -> None.

    Names give an instance with the default arguments (``'he_normal'`` -> HeNormal()).
    Unknown names raise ValueError naming the closest valid one and listing them all.
    """
    return _REGISTRY.get(identifier)


def serialize(initializer) -> dict:
    """{'class_name': ..., 'config': get_config()} of an initializer."""
    return _REGISTRY.serialize(get(initializer))


def deserialize(config):
    """The initializer described by :func:`serialize`'s output (or a name)."""
    return _REGISTRY.deserialize(config)
