"""Neural-network functions: softmax family and the fused, numerically stable losses.

All of them subtract the maximum before exponentiating, so inputs of +-1e4 give
finite values and gradients.
"""

from __future__ import annotations

import numpy as np

from ..backend import DeviceKernel, fused_enabled, namespace
from ..tensor import Tensor, as_tensor, make_result
from .elementwise import sigmoid_data
from .reduction import normalize_axis
from .replay import rebuild, recording
from .shape import along_axis_index


def _log_softmax_data(xp, data, axis):
    shifted = data - data.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(x, axis=-1) -> Tensor:
    """softmax(x)_i = e^(x_i - max x) / sum_j e^(x_j - max x).

    Backward: dL/dx = s * (g - sum(g * s)) along ``axis``.
    """
    x = as_tensor(x)
    xp = namespace(x.data)
    shifted = xp.exp(x.data - x.data.max(axis=axis, keepdims=True))
    out = shifted / shifted.sum(axis=axis, keepdims=True)

    def backward(g):
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)

    return make_result(out, (x,), backward, "softmax", _softmax_into, (x, axis))


def _softmax_into(x, axis, out):
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    np.divide(shifted, shifted.sum(axis=axis, keepdims=True), out=out)


def _log_softmax_into(x, axis, out):
    np.copyto(out, _log_softmax_data(np, x, axis))


def log_softmax(x, axis=-1) -> Tensor:
    """log softmax(x)_i = x_i - logsumexp(x).

    Backward: dL/dx = g - softmax(x) * sum(g) along ``axis``.
    """
    x = as_tensor(x)
    xp = namespace(x.data)
    out = _log_softmax_data(xp, x.data, axis)

    def backward(g):
        return (g - xp.exp(out) * g.sum(axis=axis, keepdims=True),)

    return make_result(out, (x,), backward, "log_softmax", _log_softmax_into, (x, axis))


def logsumexp(x, axis=None, keepdims=False) -> Tensor:
    """log sum_i e^(x_i), computed as m + log sum e^(x_i - m) with m = max x.

    Backward: dL/dx = g * softmax(x).
    """
    x = as_tensor(x)
    xp = namespace(x.data)
    axes = normalize_axis(axis, x.ndim)
    peak = x.data.max(axis=axes, keepdims=True)
    kept = peak + xp.log(xp.exp(x.data - peak).sum(axis=axes, keepdims=True))
    out = kept if keepdims else kept.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))
    x_data = x.data

    def backward(g):
        if not keepdims:
            g = g.reshape(kept.shape)
        return (g * xp.exp(x_data - kept),)

    return make_result(out, (x,), backward, "logsumexp")


def softmax_cross_entropy(logits, labels, axis=-1) -> Tensor:
    """Mean cross-entropy of softmax(logits) against ``labels``, fused and stable.

    L = -(1/N) sum_n sum_c y_nc log softmax(z_n)_c, for labels given either as integer
    class ids (shape = logits.shape without ``axis``) or as probabilities/one-hot
    rows (same shape as logits). With s = z - max(z) and S = sum_c e^s_c,
    log softmax(z)_c = s_c - log S. Backward: dL/dz = (softmax(z) - y) / N.
    """
    logits = as_tensor(logits)
    target = labels.data if isinstance(labels, Tensor) else namespace(logits.data).asarray(labels)
    out, backward = _softmax_cross_entropy_arrays(logits.data, target, axis)
    return make_result(out, (logits,), backward, "softmax_cross_entropy", _SOFTMAX_CROSS_ENTROPY,
                       (logits, target, axis))


def _softmax_cross_entropy_arrays(z, target, axis):
    """The loss array and its backward function (see :func:`softmax_cross_entropy`)."""
    xp = namespace(z)
    ax = axis % z.ndim
    if xp is not np and ax == z.ndim - 1 and target.dtype.kind in "iu" and target.shape == z.shape[:-1] \
            and fused_enabled():
        return _device_softmax_cross_entropy(z, target)
    count = z.size // z.shape[ax]
    shifted = z - z.max(axis=ax, keepdims=True)
    exps = xp.exp(shifted)  # kept for the backward pass: softmax = exps / sums
    sums = exps.sum(axis=ax, keepdims=True)
    if target.shape == z.shape:
        target = target.astype(z.dtype, copy=False)
        out = -(target * (shifted - xp.log(sums))).sum() / count
        index = None
    elif target.shape == z.shape[:ax] + z.shape[ax + 1:] and target.dtype.kind in "iu":
        # picks z[n, labels[n]] along ``axis`` by plain fancy indexing (numpy's
        # take_along_axis costs more in Python than the arithmetic here)
        index = along_axis_index(target.reshape(target.shape[:ax] + (1,) + target.shape[ax:]), ax)
        try:
            # negative ids would silently wrap around; on a device the check would wait for the GPU at
            # every step, so there the caller validates labels on the host (fit does, once)
            if xp is np and target.size and target.min() < 0:
                raise IndexError
            picked = shifted[index]
        except IndexError:
            raise ValueError(
                f"softmax_cross_entropy: class ids must lie in [0, {z.shape[ax]}), "
                f"got values from {int(target.min())} to {int(target.max())}."
            ) from None
        out = (xp.log(sums).sum() - picked.sum()) / count
    else:
        raise ValueError(
            f"softmax_cross_entropy: labels of shape {tuple(target.shape)} and dtype {target.dtype} "
            f"do not match logits of shape {tuple(z.shape)}: give integer class ids of shape "
            f"{z.shape[:ax] + z.shape[ax + 1:]} or one-hot/probability rows of shape {tuple(z.shape)}."
        )
    out = xp.asarray(out, dtype=z.dtype)

    def backward(g):
        grad = exps / sums  # fresh: updated in place below
        if index is None:
            grad -= target
        else:
            grad[index] -= 1
        grad *= g / count
        return (grad,)

    return out, backward


_SOFTMAX_CROSS_ENTROPY = rebuild(_softmax_cross_entropy_arrays)


def sigmoid_binary_cross_entropy(logits, labels) -> Tensor:
    """Mean binary cross-entropy of sigmoid(logits) against labels y in [0, 1], fused and stable.

    L = mean(max(z, 0) - z y + log(1 + e^-|z|)), the same as
    -mean(y log sigma(z) + (1 - y) log(1 - sigma(z))) without overflow.
    Backward: dL/dz = (sigma(z) - y) / N.
    """
    logits = as_tensor(logits)
    y = labels.data if isinstance(labels, Tensor) else namespace(logits.data).asarray(labels)
    z = logits.data
    if namespace(z) is not np:  # on a device: the fused kernel when enabled (no replay there)
        out, backward = _sigmoid_binary_cross_entropy_arrays(z, y)
        return make_result(out, (logits,), backward, "sigmoid_binary_cross_entropy")
    fitted = _fitted_labels(z, y)
    out = _sigmoid_binary_cross_entropy_data(z, fitted)
    count = z.size

    def backward(g):
        return ((sigmoid_data(z) - fitted) * (g / count),)

    if recording() and fitted.base is not None and np.shares_memory(fitted, y):
        # the labels are used as they come (a view): the backward function reads the step's arrays
        return make_result(out, (logits,), backward, "sigmoid_binary_cross_entropy", _sigmoid_bce_into,
                           (logits, fitted))
    return make_result(out, (logits,), backward, "sigmoid_binary_cross_entropy", _SIGMOID_BINARY_CROSS_ENTROPY,
                       (logits, y))


def _fitted_labels(z, y):
    """Labels as the logits' dtype, broadcast to their shape."""
    xp = namespace(z)
    y = y.astype(z.dtype, copy=False)
    try:
        return xp.broadcast_to(y, z.shape)
    except ValueError:
        raise ValueError(
            f"sigmoid_binary_cross_entropy: labels of shape {tuple(y.shape)} do not match "
            f"logits of shape {tuple(z.shape)}."
        ) from None


def _sigmoid_binary_cross_entropy_data(z, y):
    xp = namespace(z)
    return xp.asarray((xp.maximum(z, 0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))).sum() / z.size, dtype=z.dtype)


def _sigmoid_bce_into(z, y, out):
    np.copyto(out, _sigmoid_binary_cross_entropy_data(z, y))


def _sigmoid_binary_cross_entropy_arrays(z, y):
    """The loss array and its backward function (see :func:`sigmoid_binary_cross_entropy`)."""
    fitted = _fitted_labels(z, y)
    count = z.size
    if namespace(z) is not np and fused_enabled():  # one kernel: the losses and the gradient, then one sum
        xp = namespace(z)
        losses, grad = xp.empty_like(z), xp.empty_like(z)
        CUDA_SIGMOID_CROSS_ENTROPY(z, xp.ascontiguousarray(fitted), losses, grad)

        def device_backward(g):
            return (grad * (g / count),)

        return losses.sum() / z.dtype.type(count), device_backward

    def backward(g):
        return ((sigmoid_data(z) - fitted) * (g / count),)

    return _sigmoid_binary_cross_entropy_data(z, fitted), backward


_SIGMOID_BINARY_CROSS_ENTROPY = rebuild(_sigmoid_binary_cross_entropy_arrays)


# --------------------------------------------------------------------------- the fused losses on a GPU
# One kernel computes each row's (or element's) loss and its gradient at once; the mean is one sum.


def _softmax_cross_entropy_mirror(z, classes, label, loss, grad):
    rows = z.reshape(-1, classes)
    shifted = rows - rows.max(axis=1, keepdims=True)
    exps = np.exp(shifted)
    sums = exps.sum(axis=1)
    picked = shifted[np.arange(len(rows)), label]
    loss[...] = np.log(sums) - picked
    out = grad.reshape(-1, classes)
    out[...] = exps / sums[:, None]
    out[np.arange(len(rows)), label] -= 1


def _sigmoid_cross_entropy_mirror(z, y, loss, grad):
    loss[...] = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    grad[...] = 1 / (1 + np.exp(-z)) - y


CUDA_SOFTMAX_CROSS_ENTROPY = DeviceKernel(
    "deepgrad_softmax_cross_entropy", "raw T z, int64 classes, int64 label", "T loss, raw T grad",
    """
    const long long row = i * classes;
    T peak = z[row];
    for (long long c = 1; c < classes; ++c) peak = max(peak, z[row + c]);
    T total = 0;
    for (long long c = 0; c < classes; ++c) total += exp(z[row + c] - peak);
    loss = log(total) - (z[row + label] - peak);
    for (long long c = 0; c < classes; ++c) grad[row + c] = exp(z[row + c] - peak) / total - (c == label ? 1 : 0);
    """, _softmax_cross_entropy_mirror)
CUDA_SIGMOID_CROSS_ENTROPY = DeviceKernel(
    "deepgrad_sigmoid_cross_entropy", "T z, T y", "T loss, T grad",
    """
    loss = max(z, (T)0) - z * y + log1p(exp(-fabs(z)));
    grad = 1 / (1 + exp(-z)) - y;
    """, _sigmoid_cross_entropy_mirror)


def _device_softmax_cross_entropy(z, labels):
    """softmax_cross_entropy of device logits (..., C) and integer ids (...): one kernel, then one sum.

    Returns the loss array and its backward function.
    """
    xp = namespace(z)
    z = xp.ascontiguousarray(z)
    classes = z.shape[-1]
    count = z.size // classes
    loss, grad = xp.empty(count, dtype=z.dtype), xp.empty_like(z)
    CUDA_SOFTMAX_CROSS_ENTROPY(z, classes, xp.ascontiguousarray(labels.reshape(-1), dtype=xp.int64), loss, grad)
    out = loss.sum() / z.dtype.type(count)

    def backward(g):
        return (grad * (g / count),)

    return out, backward
