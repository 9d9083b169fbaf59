"""Connectionist temporal classification (Graves et al. 2006): the loss and its gradient, written out.

The forward pass runs the alpha recursion over time in log space, vectorized over the
batch and the positions of the blank-extended label sequence; the backward pass runs the
beta recursion and turns alpha beta into the gradient with respect to the logits.
"""

from __future__ import annotations

import numpy as np

from ..backend import namespace
from ..tensor import Tensor, as_tensor, make_result


def _logaddexp(xp, *terms):
    out = terms[0]
    for term in terms[1:]:
        out = xp.logaddexp(out, term)
    return out


def _shift(xp, values, by):
    """values moved ``by`` positions right along the last axis, -inf filling the start."""
    out = xp.full_like(values, -np.inf)
    out[..., by:] = values[..., :-by]
    return out


def _extended_labels(xp, labels, blank):
    """l' = (blank, l_1, blank, l_2, ..., l_L, blank) for each row, and where a transition may skip a blank."""
    batch, length = labels.shape
    extended = xp.full((batch, 2 * length + 1), blank, dtype=np.int64)
    extended[:, 1::2] = labels
    skip = xp.zeros(extended.shape, dtype=bool)
    skip[:, 2:] = (extended[:, 2:] != blank) & (extended[:, 2:] != extended[:, :-2])
    return extended, skip


def _alphas(xp, emit, skip):
    """log alpha_t(s), emissions included: the log-probability of the prefixes ending at position s at time t."""
    size = emit.shape[-1]
    alpha = xp.full(emit.shape, -np.inf, dtype=emit.dtype)
    alpha[:, 0, 0] = emit[:, 0, 0]
    if size > 1:
        alpha[:, 0, 1] = emit[:, 0, 1]
    skipped = xp.where(skip, 0.0, -np.inf)
    for t in range(1, emit.shape[1]):
        prev = alpha[:, t - 1]
        alpha[:, t] = _logaddexp(xp, prev, _shift(xp, prev, 1), _shift(xp, prev, 2) + skipped) + emit[:, t]
    return alpha


def _betas(xp, emit, skip, steps, ends):
    """log beta'_t(s), emissions excluded: the log-probability of completing the labels after time t from s."""
    batch, time, size = emit.shape
    rows = xp.arange(batch)
    final = xp.full((batch, size), -np.inf, dtype=emit.dtype)
    final[rows, ends] = 0.0
    final[rows[ends > 0], ends[ends > 0] - 1] = 0.0
    beta = xp.full(emit.shape, -np.inf, dtype=emit.dtype)
    skipped = xp.where(skip, 0.0, -np.inf)
    for t in range(time - 1, -1, -1):
        if t == time - 1:
            recursion = xp.full((batch, size), -np.inf, dtype=emit.dtype)
        else:
            after = beta[:, t + 1] + emit[:, t + 1]
            one = xp.full_like(after, -np.inf)
            one[:, :-1] = after[:, 1:]
            two = xp.full_like(after, -np.inf)
            two[:, :-2] = (after + skipped)[:, 2:]
            recursion = _logaddexp(xp, after, one, two)
        last = (steps - 1 == t)[:, None]
        beta[:, t] = xp.where(last, final, xp.where((t < steps - 1)[:, None], recursion, -np.inf))
    return beta


def ctc_loss(target, output, target_length, output_length, mask_index=0) -> Tensor:
    """Per-sample CTC loss -ln p(l | x) from logits: Keras 3's ``keras.ops.ctc_loss``.

    ``target`` (batch, max_label_length) holds integer labels (the first ``target_length``
    of each row count); ``output`` (batch, time, classes) holds logits, turned into
    y = softmax(output) over classes; the first ``output_length`` steps of each row count;
    class ``mask_index`` is the blank. p(l | x) sums prod_t y_t(pi_t) over every path pi
    that collapses to l (repeats merged, blanks removed), computed by the alpha recursion
    alpha_t(s) = (alpha_{t-1}(s) + alpha_{t-1}(s-1) + [skip] alpha_{t-1}(s-2)) y_t(l'_s)
    over the blank-extended labels l'. Gradient (Graves et al. 2006, eq. 16):
    d(-ln p)/d output_t,k = y_t(k) - (1/p) sum_{s: l'_s = k} alpha_t(s) beta'_t(s), with
    beta' the completion probabilities. A label that cannot fit in its steps gives an
    infinite loss and a zero gradient. Returns a (batch,) tensor.
    """
    output = as_tensor(output)
    if output.ndim != 3:
        raise ValueError(f"ctc_loss: output must be logits of shape (batch, time, classes), got {output.shape}.")
    xp = namespace(output.data)
    labels = xp.asarray(target.data if isinstance(target, Tensor) else target).astype(np.int64)
    if labels.ndim != 2 or labels.shape[0] != output.shape[0]:
        raise ValueError(f"ctc_loss: target must be (batch, max_label_length) = ({output.shape[0]}, L) integer "
                         f"labels, got shape {labels.shape}.")
    batch, time, classes = output.shape
    lengths = xp.asarray(target_length).astype(np.int64).reshape(-1)
    steps = xp.asarray(output_length).astype(np.int64).reshape(-1)
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"ctc_loss: labels must lie in [0, {classes}), got values from {int(labels.min())} to "
                         f"{int(labels.max())}.")
    if lengths.shape != (batch,) or steps.shape != (batch,) or (lengths > labels.shape[1]).any() \
            or (steps > time).any() or (steps < 1).any():
        raise ValueError("ctc_loss: target_length and output_length need one entry per sample, with "
                         f"0 <= target_length <= {labels.shape[1]} and 1 <= output_length <= {time}.")
    logits = output.data
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))
    extended, skip = _extended_labels(xp, labels, mask_index)
    emit = xp.take_along_axis(log_probs, xp.broadcast_to(extended[:, None, :], (batch, time, extended.shape[1])),
                              axis=-1)
    alpha = _alphas(xp, emit, skip)
    rows = xp.arange(batch)
    ends = 2 * lengths  # the last blank of each row's l'
    last = alpha[rows, steps - 1]
    log_p = xp.where(lengths > 0, xp.logaddexp(last[rows, ends], last[rows, xp.maximum(ends - 1, 0)]),
                     last[rows, ends])
    loss = -log_p

    def backward(g):
        beta = _betas(xp, emit, skip, steps, ends)
        finite = xp.isfinite(log_p)
        occupancy = xp.exp(alpha + beta - xp.where(finite, log_p, 0.0)[:, None, None])
        one_hot = (extended[..., None] == xp.arange(classes)).astype(logits.dtype)
        grad = xp.exp(log_probs) - xp.einsum("bts,bsc->btc", occupancy, one_hot)
        grad = grad * (xp.arange(time)[None, :] < steps[:, None])[..., None]
        grad = xp.where(finite[:, None, None], grad, 0.0)
        return (grad * g[:, None, None],)

    return make_result(loss.astype(logits.dtype, copy=False), (output,), backward, "ctc_loss")
