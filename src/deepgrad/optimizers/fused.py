"""Optional fused Adam kernel: one multi-threaded pass over the parameters instead of ~13.

The NumPy form of Adam reads and writes every parameter-sized array once per operation
(13 passes); compiled with numba, the same equations run as one loop over two threads
that touches each element once. Measured on the 784-256-128-10 MLP (235,146 float32),
2 cores, median per update step: NumPy buffer path ~480 us, this kernel ~220 us (the
threads' wake-up is most of it), PyTorch's default Adam ~430 us. SGD and momentum keep
their two or three NumPy passes: there the wake-up cost more than the passes saved.

Used automatically for Adam/AdamW without amsgrad when numba is installed
(``pip install 'deepgrad[fast]'``), the arrays are contiguous NumPy arrays of at least
``MIN_SIZE`` elements, and the environment variable ``DEEPGRAD_FUSED`` is not ``0``. The
kernel is the loop form of the equations in Adam's docstring, with the hyperparameters
cast to the parameters' dtype exactly as NumPy does for Python scalars.
"""

from __future__ import annotations

import math
import os

import numpy as np

MIN_SIZE = 16_384  # below this, thread start-up costs more than the passes it saves
_KERNELS = None


def _compile() -> dict:
    try:
        import numba  # noqa: PLC0415 - optional dependency
    except ImportError:
        return {}
    if "NUMBA_THREADING_LAYER" not in os.environ:
        # numba's default (OpenMP/TBB) worker threads keep spinning after a kernel and starve
        # OpenBLAS's threads in the matrix products that follow: on the 784-256-128-10 MLP an
        # epoch took 6x longer. The simple 'workqueue' pool sleeps between kernels (measured:
        # 1.21 s -> 0.19 s per 157 training steps, against 0.42 s for a raw NumPy loop).
        numba.config.THREADING_LAYER = "workqueue"

    @numba.njit(parallel=True, cache=True)
    def adam(w, g, m, v, one_minus_beta_1, one_minus_beta_2, epsilon, alpha):
        for i in numba.prange(w.size):
            gi = g[i]
            m[i] += (gi - m[i]) * one_minus_beta_1                         # m <- beta_1 m + (1-beta_1) g
            v[i] += (gi * gi - v[i]) * one_minus_beta_2                    # v <- beta_2 v + (1-beta_2) g^2
            w[i] -= alpha * m[i] / (math.sqrt(v[i]) + epsilon)             # w <- w - alpha m / (sqrt(v) + eps)

    return {"adam": adam}


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
    if not isinstance(first, np.ndarray) or first.size < MIN_SIZE:
        return None
    for a in arrays:
        if not isinstance(a, np.ndarray) or not a.flags.c_contiguous or a.dtype != first.dtype \
                or a.size != first.size:
            return None
    return [a.reshape(-1) for a in arrays]


def kernel(name):
    """The compiled kernel ``name``, or None when fused kernels are off or unavailable."""
    if os.environ.get("DEEPGRAD_FUSED", "1") == "0":
        return None
    return _kernels().get(name)
