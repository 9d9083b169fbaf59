"""Optional fused update kernels: one compiled pass over the parameters instead of ~13.

The NumPy form of Adam reads and writes every parameter-sized array once per operation
(13 passes); compiled with numba, the same equations run as one loop that touches each
element once. The loops are single-threaded on purpose, and compiled with NumPy's error
model (division by zero gives inf, as in NumPy, instead of raising), which lets LLVM
vectorize them. Measured on the 784-256-128-10 MLP's 235,146 float32 parameters, 2 cores,
per Adam update: NumPy passes ~480 us, this kernel ~130 us, PyTorch's default ~430 us.
A multi-threaded version (numba ``parallel=True``) was no faster once its threads' wake-up
was counted, and its spinning OpenMP threads starved OpenBLAS in the matrix products of
the next training step (an epoch took 6x longer): one thread is the better trade.

Used automatically for SGD (plain, momentum, Nesterov) and Adam/AdamW without amsgrad when
numba is installed (``pip install 'deepgrad[fast]'``), the arrays are contiguous NumPy arrays
of at least ``MIN_SIZE`` elements, and the environment variable ``DEEPGRAD_FUSED`` is not
``0``. Each kernel is the loop form of the equations in its optimizer's docstring, with the
hyperparameters cast to the parameters' dtype exactly as NumPy does for Python scalars.
"""

from __future__ import annotations

import math
import os

import numpy as np

from .. import backend
from ..ops.kernels import jit as _jit

MIN_SIZE = 16_384  # below this, the call overhead costs more than the passes it saves
_KERNELS = None


def _compile() -> dict:
    try:
        import numba  # noqa: PLC0415 - optional dependency
    except ImportError:
        return {}
    compiled = _jit(numba)

    @compiled
    def sgd(w, g, learning_rate):
        for i in range(w.size):
            w[i] -= learning_rate * g[i]                                   # w <- w - eta g

    @compiled
    def sgd_momentum(w, g, m, learning_rate, momentum, nesterov):
        for i in range(w.size):
            step = learning_rate * g[i]
            m[i] = momentum * m[i] - step                                  # m <- momentum m - eta g
            if nesterov:
                w[i] += momentum * m[i] - step                             # w <- w + momentum m - eta g
            else:
                w[i] += m[i]                                               # w <- w + m

    @compiled
    def adam(w, g, m, v, one_minus_beta_1, one_minus_beta_2, epsilon, alpha):
        for i in range(w.size):
            gi = g[i]
            mi = m[i] + (gi - m[i]) * one_minus_beta_1                     # m <- beta_1 m + (1-beta_1) g
            vi = v[i] + (gi * gi - v[i]) * one_minus_beta_2                # v <- beta_2 v + (1-beta_2) g^2
            m[i] = mi
            v[i] = vi
            w[i] -= alpha * mi / (math.sqrt(vi) + epsilon)                 # w <- w - alpha m / (sqrt(v) + eps)

    return {"sgd": sgd, "sgd_momentum": sgd_momentum, "adam": adam}


def enabled() -> bool:
    """True when numba is importable and ``DEEPGRAD_FUSED`` is not '0'."""
    return os.environ.get("DEEPGRAD_FUSED", "1") != "0" and bool(_kernels())


def _kernels() -> dict:
    global _KERNELS
    if _KERNELS is None:
        _KERNELS = _compile()
    return _KERNELS


def flat_arrays(*arrays):
    """The arrays as 1-D views when all are C-contiguous NumPy arrays of one dtype and size, else None."""
    first = arrays[0]
    if type(first) is not np.ndarray or first.size < MIN_SIZE:  # host arrays only (a device array never)
        return None
    for a in arrays:
        if type(a) is not np.ndarray or not a.flags.c_contiguous or a.dtype != first.dtype \
                or a.size != first.size:
            return None
    return [a.reshape(-1) for a in arrays]


def kernel(name):
    """The compiled kernel ``name``, or None when fused kernels are off or unavailable."""
    if os.environ.get("DEEPGRAD_FUSED", "1") == "0":
        return None
    return _kernels().get(name)


# --------------------------------------------------------------------------- the same updates on a GPU
# One CUDA launch per update over the flat buffer, each the loop body above; the NumPy mirrors state
# the same equations over whole arrays (what tests compare with the kernels above on the CPU).


def _sgd_mirror(g, learning_rate, w):
    w -= learning_rate * g


def _sgd_momentum_mirror(g, learning_rate, momentum, nesterov, w, m):
    step = learning_rate * g
    m *= momentum
    m -= step
    if nesterov:
        w += momentum * m - step
    else:
        w += m


def _adam_mirror(g, one_minus_beta_1, one_minus_beta_2, epsilon, alpha, w, m, v):
    m += (g - m) * one_minus_beta_1
    v += (g * g - v) * one_minus_beta_2
    w -= alpha * m / (np.sqrt(v) + epsilon)


CUDA_SGD = backend.DeviceKernel(
    "deepgrad_sgd", "T g, T learning_rate", "T w",
    "w -= learning_rate * g;", _sgd_mirror)
CUDA_SGD_MOMENTUM = backend.DeviceKernel(
    "deepgrad_sgd_momentum", "T g, T learning_rate, T momentum, bool nesterov", "T w, T m",
    """
    T step = learning_rate * g;
    T mi = momentum * m - step;
    m = mi;
    w += nesterov ? momentum * mi - step : mi;
    """, _sgd_momentum_mirror)
CUDA_ADAM = backend.DeviceKernel(
    "deepgrad_adam", "T g, T one_minus_beta_1, T one_minus_beta_2, T epsilon, T alpha", "T w, T m, T v",
    """
    T mi = m + (g - m) * one_minus_beta_1;
    T vi = v + (g * g - v) * one_minus_beta_2;
    m = mi;
    v = vi;
    w -= alpha * mi / (sqrt(vi) + epsilon);
    """, _adam_mirror)


def _device_sgd(w, g, learning_rate):
    CUDA_SGD(g, learning_rate, w)


def _device_sgd_momentum(w, g, m, learning_rate, momentum, nesterov):
    CUDA_SGD_MOMENTUM(g, learning_rate, momentum, bool(nesterov), w, m)


def _device_adam(w, g, m, v, one_minus_beta_1, one_minus_beta_2, epsilon, alpha):
    CUDA_ADAM(g, one_minus_beta_1, one_minus_beta_2, epsilon, alpha, w, m, v)


_DEVICE = {"sgd": _device_sgd, "sgd_momentum": _device_sgd_momentum, "adam": _device_adam}


def for_arrays(name, *arrays):
    """``(kernel, flat arrays)`` for update ``name`` over ``arrays`` (w, g, slots...), or None.

    The one dispatch of the fused updates: contiguous NumPy arrays get the compiled CPU loop
    (:func:`kernel` and :func:`flat_arrays`), device arrays the CUDA kernel of the same
    signature, one launch whatever their size; anything else, or ``DEEPGRAD_FUSED=0``, None.
    """
    if not backend.fused_enabled():
        return None
    first = arrays[0]
    if backend.namespace(first) is np:
        compiled, flat = kernel(name), flat_arrays(*arrays)
        return None if compiled is None or flat is None else (compiled, flat)
    for a in arrays:
        if backend.namespace(a) is not backend.namespace(first) or not a.flags.c_contiguous \
                or a.dtype != first.dtype or a.size != first.size:
            return None
    return _DEVICE[name], [a.reshape(-1) for a in arrays]
