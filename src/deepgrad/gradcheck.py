"""Finite-difference gradient checking.

The analytic gradient from :meth:`Tensor.backward` is compared with the central
difference (f(x + eps) - f(x - eps)) / (2 eps), in float64, for every element of
every input that requires grad. To check functions with non-scalar outputs in one
backward pass, the output is contracted with a fixed random vector v: both sides
compute d(v . f)/dx.
"""

from __future__ import annotations

import numpy as np

from . import backend
from .tensor import Tensor, no_grad


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with finite differences."""


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0) -> bool:
    """Check ``fn``'s gradients against central finite differences in float64.

    ``inputs`` are Tensors or arrays; floating point inputs with ``requires_grad``
    are checked (all floating point inputs when none requires grad). Passes when
    |analytic - numeric| <= atol + rtol * |numeric| for every element.

    Returns True, or raises :class:`GradcheckError` naming the input, the worst
    element, and both values.
    """
    tensors = []
    for value in inputs:
        if isinstance(value, Tensor):
            data, wants = value.data, value.requires_grad
        else:
            data, wants = np.asarray(value), False
        tensors.append([backend.to_numpy(data), wants])
    floating = [i for i, (d, _) in enumerate(tensors) if np.issubdtype(d.dtype, np.floating)]
    checked = [i for i in floating if tensors[i][1]] or floating
    if not checked:
        raise ValueError("gradcheck needs at least one floating point input.")

    def build(arrays):
        return [
            Tensor(a.astype(np.float64), requires_grad=(i in checked)) if i in floating else Tensor(a)
            for i, a in enumerate(arrays)
        ]

    base = [d.astype(np.float64) if i in floating else d for i, (d, _) in enumerate(tensors)]
    args = build(base)
    out = fn(*args)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}.")
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(out.shape) if out.size > 1 else np.ones(out.shape)
    if out.requires_grad:
        out.backward(direction)

    def projected(arrays):
        with no_grad():
            value = fn(*build(arrays))
        return float((backend.to_numpy(value.data).astype(np.float64) * direction).sum())

    for i in checked:
        analytic = args[i].grad
        analytic = np.zeros_like(base[i]) if analytic is None else backend.to_numpy(analytic)
        numeric = np.zeros_like(base[i])
        flat = base[i].reshape(-1)
        for k in range(flat.size):
            original = flat[k]
            flat[k] = original + eps
            upper = projected(base)
            flat[k] = original - eps
            lower = projected(base)
            flat[k] = original
            numeric.reshape(-1)[k] = (upper - lower) / (2 * eps)
        excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if (excess > 0).any() or not np.isfinite(analytic).all():
            worst = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(excess), excess, np.inf))),
                                     numeric.shape)
            raise GradcheckError(
                f"gradcheck failed for input {i} (shape {numeric.shape}): at element {tuple(int(w) for w in worst)} "
                f"the analytic gradient is {float(analytic[worst])!r} but finite differences give "
                f"{float(numeric[worst])!r} (atol={atol}, rtol={rtol}, eps={eps})."
            )
    return True
