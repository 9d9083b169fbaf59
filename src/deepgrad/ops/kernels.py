"""Optional compiled loops for the convolution and pooling ops (numba), beside their NumPy forms.

NumPy runs col2im and pooling as strided additions and comparisons, one per kernel offset;
when the runs of contiguous elements are short (the 32 channels of a col2im slice) its
per-run overhead dominates. Compiled, each is one pass in memory order:

    col2im       x[n, o s + k d, c] += cols[n, o, k, c]          (one pass over cols; the target row
                                                                  of each sample stays in cache)
    max pool     out[n, o, c] = max_k x[n, o s + k, c], index of the first maximum;
                 backward dx[n, o s + k(index), c] += g[n, o, c]
    bias + ReLU  z = max(z + b, 0) in place on a convolution's fresh product; backward
                 dz = g [z > 0] and db = sum_m dz in one pass (the convolution's ``relu=True``)
    pooled ReLU  dz[n, o k + j, c] = g[n, o, c] [j = index, pooled > 0], written once for every
                 element of non-overlapping windows, and db from the pooled arrays (a max pooling's
                 gradient taken through the ReLU of the convolution before it: ``PooledGradient``)

Every kernel works on rank-3 spatial layouts; 1-d and 2-d inputs get singleton axes
(kernel 1, stride 1), which is a free reshape. They run on C-contiguous NumPy arrays of one
floating dtype, single-threaded (see :mod:`deepgrad.optimizers.fused` for why), and give
the NumPy paths' results: exactly for the max pool's output (the same comparisons), to
rounding for col2im and overlapping pools (the additions into one element come in another
order). The NumPy forms in ``convolution.py`` and ``pooling.py`` stay the reference and the
fallback: without numba, on CuPy arrays, or with ``DEEPGRAD_FUSED=0``.
"""

from __future__ import annotations

import os

import numpy as np

from ..backend import DeviceKernel, namespace

_KERNELS = None
MIN_CHANNELS = 8  # col2im: with shorter rows, NumPy's slice additions were as fast (1 channel: faster)


def jit(numba):
    """``numba.njit`` that caches the machine code on disk when it can, and compiles without a cache otherwise.

    numba looks for a writable cache folder beside the source file, then under ``$HOME``
    (or ``NUMBA_CACHE_DIR``); when there is none, as for an installed package run by a
    user without a home folder in a container, ``njit(cache=True)`` raises "cannot cache
    function". The kernels then compile at each start instead (about a second), with the
    same code.
    """
    cached = numba.njit(cache=True, error_model="numpy")
    uncached = numba.njit(cache=False, error_model="numpy")

    def compile_kernel(function):
        try:
            return cached(function)
        except RuntimeError as error:
            if "cannot cache" not in str(error):
                raise
            return uncached(function)

    return compile_kernel


def _col2im(cols, x, s1, s2, s3, d1, d2, d3):
    # x (N, P1, P2, P3, C) zeros, += cols (N, O1, O2, O3, K1, K2, K3, C)
    n_, o1_, o2_, o3_, k1_, k2_, k3_, c_ = cols.shape
    for n in range(n_):
        for o1 in range(o1_):
            for o2 in range(o2_):
                for o3 in range(o3_):
                    for k1 in range(k1_):
                        for k2 in range(k2_):
                            for k3 in range(k3_):
                                for c in range(c_):
                                    x[n, o1 * s1 + k1 * d1, o2 * s2 + k2 * d2, o3 * s3 + k3 * d3, c] += \
                                        cols[n, o1, o2, o3, k1, k2, k3, c]


def _max_pool(x, out, index, k1_, k2_, k3_, s1, s2, s3):
    # x (N, P1, P2, P3, C) -> out, index (N, O1, O2, O3, C); index k = (k1 K2 + k2) K3 + k3
    n_, o1_, o2_, o3_, c_ = out.shape
    for n in range(n_):
        for o1 in range(o1_):
            for o2 in range(o2_):
                for o3 in range(o3_):
                    for c in range(c_):
                        out[n, o1, o2, o3, c] = x[n, o1 * s1, o2 * s2, o3 * s3, c]
                        index[n, o1, o2, o3, c] = 0
                    k = 0  # offset 0 again changes nothing (v > v is false), as after NumPy's first copy
                    for k1 in range(k1_):
                        for k2 in range(k2_):
                            for k3 in range(k3_):
                                for c in range(c_):
                                    v = x[n, o1 * s1 + k1, o2 * s2 + k2, o3 * s3 + k3, c]
                                    if v > out[n, o1, o2, o3, c]:
                                        out[n, o1, o2, o3, c] = v
                                        index[n, o1, o2, o3, c] = k
                                k += 1


def _max_pool_grad(g, index, grad, k1_, k2_, k3_, s1, s2, s3):
    # grad (N, P1, P2, P3, C) zeros; grad[n, o s + k(index), c] += g[n, o, c]. The loop visits
    # every offset of a window and adds where the index matches: a select over contiguous
    # channels that vectorizes, instead of decoding the offset of each element with divisions.
    n_, o1_, o2_, o3_, c_ = g.shape
    for n in range(n_):
        for o1 in range(o1_):
            for o2 in range(o2_):
                for o3 in range(o3_):
                    k = 0
                    for k1 in range(k1_):
                        for k2 in range(k2_):
                            for k3 in range(k3_):
                                p1, p2, p3 = o1 * s1 + k1, o2 * s2 + k2, o3 * s3 + k3
                                for c in range(c_):
                                    if index[n, o1, o2, o3, c] == k:
                                        grad[n, p1, p2, p3, c] += g[n, o1, o2, o3, c]
                                k += 1


def _pooled_relu_grad(g, index, pooled, grad, bias_grad, k1_, k2_, k3_):
    # Non-overlapping windows (strides = pool size) over x = max(z, 0): every element of the
    # windows in grad (N, P1, P2, P3, C) is written once: g at the window's maximum when it is
    # positive (the ReLU passes it), else 0; bias_grad (C,) += the passed g.
    n_, o1_, o2_, o3_, c_ = g.shape
    for n in range(n_):
        for o1 in range(o1_):
            for o2 in range(o2_):
                for o3 in range(o3_):
                    k = 0
                    for k1 in range(k1_):
                        for k2 in range(k2_):
                            for k3 in range(k3_):
                                p1, p2, p3 = o1 * k1_ + k1, o2 * k2_ + k2, o3 * k3_ + k3
                                for c in range(c_):
                                    hit = index[n, o1, o2, o3, c] == k and pooled[n, o1, o2, o3, c] > 0
                                    grad[n, p1, p2, p3, c] = g[n, o1, o2, o3, c] if hit else 0
                                k += 1
                    for c in range(c_):
                        if pooled[n, o1, o2, o3, c] > 0:
                            bias_grad[c] += g[n, o1, o2, o3, c]


def _bias_relu(z, bias):
    # in place on a fresh (M, F) product: z = max(z + bias, 0)
    m_, f_ = z.shape
    for m in range(m_):
        for f in range(f_):
            v = z[m, f] + bias[f]
            z[m, f] = v if v > 0 else 0


def _relu_grad_bias(g, out, grad, bias_grad):
    # grad = g where out > 0 else 0 (M, F); bias_grad (F,) += its column sums, in the same pass
    m_, f_ = g.shape
    for m in range(m_):
        for f in range(f_):
            v = g[m, f] if out[m, f] > 0 else 0
            grad[m, f] = v
            bias_grad[f] += v


def _compile() -> dict:
    try:
        import numba  # noqa: PLC0415 - optional dependency
    except ImportError:
        return {}
    compiled = jit(numba)
    return {"col2im": compiled(_col2im), "max_pool": compiled(_max_pool),
            "max_pool_grad": compiled(_max_pool_grad), "bias_relu": compiled(_bias_relu),
            "relu_grad_bias": compiled(_relu_grad_bias),
            "pooled_relu_grad": compiled(_pooled_relu_grad)}


def _kernels() -> dict:
    global _KERNELS
    if _KERNELS is None:
        _KERNELS = _compile()
    return _KERNELS


def kernel(name, *arrays):
    """The compiled kernel ``name`` when it applies to ``arrays``, else None (use the NumPy form).

    It applies when ``DEEPGRAD_FUSED`` is not '0', numba is installed, and the arrays are
    C-contiguous NumPy arrays of the first one's floating dtype (index arrays excepted).
    """
    if os.environ.get("DEEPGRAD_FUSED", "1") == "0":
        return None
    first = arrays[0]
    if namespace(first) is not np:  # device arrays: the CUDA form, where there is one
        return DEVICE_FORMS.get(name)
    for a in arrays:
        if type(a) is not np.ndarray or not a.flags.c_contiguous:  # a device array (of any class) never
            return None
        if a.dtype.kind == "f" and a.dtype != first.dtype:
            return None
    if first.dtype not in (np.float32, np.float64):
        return None
    return _kernels().get(name)


def rank3(values, fill=1):
    """A per-axis tuple of one to three entries padded with ``fill`` to three (singleton spatial axes)."""
    return tuple(values) + (fill,) * (3 - len(values))


# --------------------------------------------------------------------------- the same kernels on a GPU
# CUDA forms with the compiled kernels' signatures, so the call sites dispatch through ``kernel`` alone.
# Each body is the loop body above for one element; the NumPy mirrors are the reference on the CPU.


def _bias_relu_mirror(bias, features, z):
    z += bias
    np.maximum(z, 0, out=z)


def _relu_grad_bias_mirror(g, out, features, grad, bias_grad):
    np.multiply(g, out > 0, out=grad)
    bias_grad += grad.reshape(-1, features).sum(axis=0)


CUDA_BIAS_RELU = DeviceKernel(
    "deepgrad_bias_relu", "raw T bias, int64 features", "T z",
    "T v = z + bias[i % features]; z = v > 0 ? v : (T)0;", _bias_relu_mirror)
CUDA_RELU_GRAD_BIAS = DeviceKernel(
    "deepgrad_relu_grad_bias", "T g, T out, int64 features", "T grad, raw T bias_grad",
    "T v = out > 0 ? g : (T)0; grad = v; atomicAdd(&bias_grad[i % features], v);", _relu_grad_bias_mirror)


def _device_bias_relu(z, bias):
    CUDA_BIAS_RELU(bias, z.shape[-1], z)


def _device_relu_grad_bias(g, out, grad, bias_grad):
    # the column sums are added atomically: their order, and so the last bits, vary from run to run
    CUDA_RELU_GRAD_BIAS(g, out, g.shape[-1], grad, bias_grad)


DEVICE_FORMS = {"bias_relu": _device_bias_relu, "relu_grad_bias": _device_relu_grad_bias}
