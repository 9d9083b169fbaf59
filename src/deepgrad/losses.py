"""Loss functions L(y_true, y_pred), by their Keras names, as functions and as classes.

Calling convention (Keras 3): ``loss(y_true, y_pred)``.

* The functions (``mean_squared_error``, ``binary_crossentropy``, ...) return one loss per
  sample: the mean over the last axis of the elementwise loss (a sum for the
  categorical ones), so y_pred of shape (batch, d) gives shape (batch,).
* The classes (``MeanSquaredError(reduction="sum_over_batch_size", name=...)``, ...) call the
  function, weight each sample's loss by ``sample_weight`` and reduce them:
  ``"sum_over_batch_size"``/``"mean"``: sum(w l) / number of losses; ``"sum"``: sum(w l);
  ``"mean_with_sample_weight"``: sum(w l) / sum(w); ``"none"``/None: the weighted losses.

Labels of shape (batch,) against predictions of shape (batch, 1) are aligned the way Keras
does (a trailing axis of size 1 is added or squeezed), never broadcast to (batch, batch).

Everything is composed from engine ops, so gradients come from the engine. Probabilities
are clipped to [1e-7, 1 - 1e-7] as Keras does, so probabilities of exactly 0 or 1 give
finite losses and gradients; the ``from_logits`` forms use stable log-sum-exp
compositions (finite for logits of +-1e4) and, for the plain mean, the engine's fused
ops. :func:`fused_output_loss` gives a model the loss-from-logits that replaces a
softmax/sigmoid output followed by a cross-entropy (gradient p - y).

>>> import deepgrad as dg
>>> from deepgrad import losses
>>> losses.mean_squared_error(dg.tensor([[0.0, 1.0]]), dg.tensor([[1.0, 1.0]])).tolist()
[0.5]
>>> round(losses.MeanAbsoluteError()(dg.tensor([1.0, 2.0]), dg.tensor([1.5, 3.0])).item(), 4)
0.75
"""

from __future__ import annotations

import inspect
import math
import re

import numpy as np

from .backend import namespace
from .configurable import Configurable, Registry, each_identifier
from .ops import elementwise as _ew
from .ops import nn as _nn
from .ops import reduction as _red
from .ops import shape as _shape
from .ops.ctc import ctc_loss as _ctc_loss
from .tensor import Tensor, as_tensor

EPSILON = 1e-7  # Keras' backend.epsilon(): the clipping margin for probabilities
_LOG_2 = math.log(2.0)


# --------------------------------------------------------------------------- inputs

def _as_prediction(y_pred) -> Tensor:
    y_pred = as_tensor(y_pred)
    if not np.issubdtype(y_pred.dtype, np.floating):
        y_pred = y_pred.astype(np.float32)
    return y_pred


def _as_target(y_true, y_pred) -> Tensor:
    """``y_true`` as a tensor of y_pred's dtype and device (a constant unless it is a graph tensor)."""
    if isinstance(y_true, Tensor):
        return y_true if y_true.dtype == y_pred.dtype else y_true.astype(y_pred.dtype)
    xp = namespace(y_pred.data)
    return Tensor(xp.asarray(y_true).astype(y_pred.dtype, copy=False))


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Align two tensors whose ranks differ by one through a trailing axis of size 1 (Keras' rule).

    (batch,) against (batch, 1) becomes (batch, 1) and (batch, 1); (batch, d, 1) against
    (batch, d) loses its trailing axis. Other shapes are returned unchanged.
    """
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            x2 = _shape.unsqueeze(x2, -1)
        else:
            x1 = _shape.squeeze(x1, -1)
    elif x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            x1 = _shape.unsqueeze(x1, -1)
        else:
            x2 = _shape.squeeze(x2, -1)
    return x1, x2


def _pair(y_true, y_pred, loss_name, same_shape=False):
    """(y_true, y_pred) as aligned tensors of one dtype; refuses shapes that would broadcast y_pred.

    ``same_shape`` (the cross-entropies, as Keras' backend checks) also refuses labels that
    would broadcast against y_pred: (N, 1) labels against (N, C) probabilities are class ids
    or a mistake, never one label for every class.
    """
    y_pred = _as_prediction(y_pred)
    y_true = _as_target(y_true, y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    if same_shape and y_true.shape != y_pred.shape:
        fix = ("integer class ids of shape (N,) or (N, 1) go with sparse_categorical_crossentropy; "
               "categorical_crossentropy takes one-hot rows of shape (N, C)"
               if "categorical" in loss_name else "give one {0, 1} label per prediction")
        raise ValueError(f"{loss_name}: y_true of shape {y_true.shape} does not match y_pred of shape "
                         f"{y_pred.shape}; a cross-entropy needs labels of the predictions' shape: {fix}.")
    if y_true.shape != y_pred.shape:
        try:
            combined = np.broadcast_shapes(y_true.shape, y_pred.shape)
        except ValueError:
            combined = None
        if combined != y_pred.shape:
            raise ValueError(
                f"{loss_name}: y_true of shape {y_true.shape} does not match y_pred of shape "
                f"{y_pred.shape}. Give targets with the shape of the predictions"
                + (" (integer class ids go with sparse_categorical_crossentropy)."
                   if "categorical" in loss_name else ".")
            )
    return y_true, y_pred


# --------------------------------------------------------------------------- regression

def mean_squared_error(y_true, y_pred) -> Tensor:
    """Mean squared error (L2 loss): loss = mean((y_true - y_pred)^2) over the last axis.

    dloss/dy_pred = 2 (y_pred - y_true) / d.
    """
    y_true, y_pred = _pair(y_true, y_pred, "mean_squared_error")
    error = y_true - y_pred
    return _red.mean(error * error, axis=-1)


def mean_absolute_error(y_true, y_pred) -> Tensor:
    """Mean absolute error (L1 loss): loss = mean(|y_true - y_pred|) over the last axis.

    dloss/dy_pred = sign(y_pred - y_true) / d (a subgradient, 0 at equality).
    """
    y_true, y_pred = _pair(y_true, y_pred, "mean_absolute_error")
    return _red.mean(_ew.abs(y_true - y_pred), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred) -> Tensor:
    """MAPE: loss = 100 mean(|y_true - y_pred| / max(|y_true|, 1e-7)) over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred, "mean_absolute_percentage_error")
    scale = _ew.maximum(_ew.abs(y_true), EPSILON)
    return _red.mean(_ew.abs((y_true - y_pred) / scale), axis=-1) * 100.0


def mean_squared_logarithmic_error(y_true, y_pred) -> Tensor:
    """MSLE: loss = mean((ln(1 + max(y_pred, 1e-7)) - ln(1 + max(y_true, 1e-7)))^2) over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred, "mean_squared_logarithmic_error")
    log_error = _ew.log1p(_ew.maximum(y_pred, EPSILON)) - _ew.log1p(_ew.maximum(y_true, EPSILON))
    return _red.mean(log_error * log_error, axis=-1)


def huber(y_true, y_pred, delta=1.0) -> Tensor:
    """Huber loss: with e = y_pred - y_true, l = e^2/2 for |e| <= delta, delta |e| - delta^2/2 beyond.

    Mean over the last axis. Quadratic (MSE-like) for small errors, linear (MAE-like,
    robust to outliers) for large ones; dl/de = clip(e, -delta, delta).
    """
    y_true, y_pred = _pair(y_true, y_pred, "huber")
    error = y_pred - y_true
    magnitude = _ew.abs(error)
    quadratic = error * error * 0.5
    linear = magnitude * delta - 0.5 * delta * delta
    return _red.mean(_ew.where(magnitude <= delta, quadratic, linear), axis=-1)


def log_cosh(y_true, y_pred) -> Tensor:
    """Log-cosh loss: l = ln(cosh(e)), e = y_pred - y_true, mean over the last axis.

    Computed as e + softplus(-2e) - ln 2 (no overflow). About e^2/2 for small e and
    |e| - ln 2 for large e; twice differentiable; dl/de = tanh(e).
    """
    y_true, y_pred = _pair(y_true, y_pred, "log_cosh")
    error = y_pred - y_true
    return _red.mean(error + _ew.softplus(error * -2.0) - _LOG_2, axis=-1)


def quantile(y_true, y_pred, gamma=0.5) -> Tensor:
    """Quantile (pinball) loss for the gamma-quantile, e = y_true - y_pred, mean over the last axis:

    l = gamma e for e >= 0 (under-prediction), (gamma - 1) e = (1 - gamma) |e| for e < 0.
    Minimizing it predicts the gamma-quantile of y (gamma = 0.5: half the absolute error,
    the median). dl/dy_pred = -gamma for e > 0, 1 - gamma for e < 0.
    """
    if not 0 < gamma < 1:
        raise ValueError(f"quantile loss needs 0 < gamma < 1, got gamma={gamma}.")
    y_true, y_pred = _pair(y_true, y_pred, "quantile")
    error = y_true - y_pred
    return _red.mean(_ew.where(error >= 0, error * gamma, error * (gamma - 1.0)), axis=-1)


pinball = quantile


def cosine_similarity(y_true, y_pred, axis=-1) -> Tensor:
    """Negative cosine similarity: loss = -sum(y_true/||y_true|| * y_pred/||y_pred||) along ``axis``.

    In [-1, 1]: -1 for the same direction, 0 for orthogonal vectors (and for a zero
    vector: norms are floored at 1e-7).
    """
    y_true, y_pred = _pair(y_true, y_pred, "cosine_similarity")
    return -_red.sum(l2_normalize(y_true, axis) * l2_normalize(y_pred, axis), axis=axis)


def l2_normalize(x, axis=-1) -> Tensor:
    """x / max(||x||, 1e-7) along ``axis``: unit vectors (a zero vector stays zero)."""
    # sqrt(max(s, eps^2)) rather than max(sqrt(s), eps): the gradient of sqrt at 0 is infinite
    squares = _red.sum(x * x, axis=axis, keepdims=True)
    return x / _ew.sqrt(_ew.maximum(squares, EPSILON * EPSILON))


# --------------------------------------------------------------------------- probabilistic

def _smooth_binary(y_true, label_smoothing):
    return y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing if label_smoothing else y_true


def _binary_crossentropy_elementwise(y_true, y_pred, from_logits):
    """-(y ln p + (1 - y) ln(1 - p)) elementwise: from logits z as softplus(z) - z y (stable)."""
    if from_logits:
        return _ew.softplus(y_pred) - y_pred * y_true
    probs = _ew.clip(y_pred, EPSILON, 1.0 - EPSILON)
    return -(y_true * _ew.log(probs) + (1.0 - y_true) * _ew.log(1.0 - probs))


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1) -> Tensor:
    """Binary cross-entropy (log loss): l = -(y ln p + (1 - y) ln(1 - p)), mean along ``axis``.

    p = y_pred clipped to [1e-7, 1 - 1e-7], or p = sigmoid(y_pred) with ``from_logits``
    (then computed as softplus(z) - z y, exact for any z; dl/dz = sigmoid(z) - y).
    ``label_smoothing`` s moves the labels toward 1/2: y <- y (1 - s) + s/2.
    """
    y_true, y_pred = _pair(y_true, y_pred, "binary_crossentropy", same_shape=True)
    y_true = _smooth_binary(y_true, label_smoothing)
    return _red.mean(_binary_crossentropy_elementwise(y_true, y_pred, from_logits), axis=axis)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0, axis=-1) -> Tensor:
    """Binary focal cross-entropy (Lin et al. 2017): l = w (1 - p_t)^gamma BCE, mean along ``axis``.

    p_t = y p + (1 - y)(1 - p) is the probability given to the true class, so confident
    correct predictions are down-weighted; w = alpha y + (1 - alpha)(1 - y) with
    ``apply_class_balancing``, else 1. gamma = 0 gives plain binary cross-entropy.
    With ``from_logits`` the cross-entropy factor is the exact softplus form.
    """
    y_true, y_pred = _pair(y_true, y_pred, "binary_focal_crossentropy", same_shape=True)
    y_true = _smooth_binary(y_true, label_smoothing)
    probs = _ew.sigmoid(y_pred) if from_logits else y_pred
    bce = _binary_crossentropy_elementwise(y_true, y_pred, from_logits)
    p_true = y_true * probs + (1.0 - y_true) * (1.0 - probs)
    focal = _ew.pow(1.0 - p_true, gamma) * bce
    if apply_class_balancing:
        focal = focal * (y_true * alpha + (1.0 - y_true) * (1.0 - alpha))
    return _red.mean(focal, axis=axis)


def _log_probabilities(y_pred, from_logits, axis):
    """ln p along ``axis``: log_softmax of logits, or ln of y_pred renormalized to sum 1 and clipped."""
    if from_logits:
        return _nn.log_softmax(y_pred, axis)
    probs = y_pred / _red.sum(y_pred, axis=axis, keepdims=True)
    return _ew.log(_ew.clip(probs, EPSILON, 1.0 - EPSILON))


def _smooth_categorical(y_true, label_smoothing, axis):
    if not label_smoothing:
        return y_true
    return y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[axis]


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1) -> Tensor:
    """Categorical cross-entropy: l = -sum_j y_j ln p_j along ``axis`` (one-hot or soft labels y).

    p = y_pred / sum(y_pred), clipped to [1e-7, 1 - 1e-7], or p = softmax(y_pred) with
    ``from_logits`` (computed as log_softmax; dl/dz = p - y). ``label_smoothing`` s:
    y <- y (1 - s) + s / k for k classes.
    """
    y_true, y_pred = _pair(y_true, y_pred, "categorical_crossentropy", same_shape=True)
    y_true = _smooth_categorical(y_true, label_smoothing, axis)
    return -_red.sum(y_true * _log_probabilities(y_pred, from_logits, axis), axis=axis)


def _class_ids(y_true, y_pred, axis, loss_name):
    """Integer class ids (an array of y_pred's backend) with the shape of y_pred without ``axis``."""
    xp = namespace(y_pred.data)
    ids = y_true.data if isinstance(y_true, Tensor) else xp.asarray(y_true)
    if ids.ndim == y_pred.ndim and ids.shape[-1] == 1:
        ids = ids.reshape(ids.shape[:-1])
    if not np.issubdtype(ids.dtype, np.integer):
        if np.issubdtype(ids.dtype, np.floating) and bool((ids == xp.round(ids)).all()):
            ids = ids.astype(np.int64)
        else:
            raise TypeError(f"{loss_name} expects integer class ids, got dtype {ids.dtype} with "
                            "fractional values; give one-hot rows to categorical_crossentropy instead.")
    expected = y_pred.shape[:axis % y_pred.ndim] + y_pred.shape[axis % y_pred.ndim + 1:]
    if ids.shape != expected:
        raise ValueError(f"{loss_name}: class ids of shape {ids.shape} do not match predictions of "
                         f"shape {y_pred.shape}: expected ids of shape {expected}.")
    return ids


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1) -> Tensor:
    """Sparse categorical cross-entropy: l = -ln p_c for the integer class id c of each sample.

    The same loss as categorical_crossentropy with one-hot labels, without building them
    by hand: the course's example, probabilities (0.1, 0.4, 0.5) for class 1, costs -ln 0.1.
    Positions labelled ``ignore_class`` get loss 0 (the class forms average over the rest).
    """
    y_pred = _as_prediction(y_pred)
    ids = _class_ids(y_true, y_pred, axis, "sparse_categorical_crossentropy")
    xp = namespace(ids)
    valid = None
    if ignore_class is not None:
        valid = ids != ignore_class
        ids = xp.where(valid, ids, 0)
    classes = y_pred.shape[axis]
    if xp is np and ids.size and (int(ids.min()) < 0 or int(ids.max()) >= classes):  # device: see softmax_cross_entropy
        raise ValueError(f"sparse_categorical_crossentropy: class ids must lie in [0, {classes}), got "
                         f"values from {int(ids.min())} to {int(ids.max())}.")
    # a one-hot mask times log p: a broadcast product in backward instead of a scatter
    one_hot = xp.moveaxis(xp.eye(classes, dtype=y_pred.dtype)[ids], -1, axis)
    losses = -_red.sum(_log_probabilities(y_pred, from_logits, axis) * one_hot, axis=axis)
    if valid is not None:
        losses = _ew.where(valid, losses, 0.0)
    return losses


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1) -> Tensor:
    """Categorical focal cross-entropy (Lin et al. 2017): loss = -sum_j alpha (1 - p_j)^gamma y_j ln p_j along ``axis``.

    p = y_pred / sum(y_pred) clipped to [1e-7, 1 - 1e-7], or softmax(y_pred) with
    ``from_logits``; the factor (1 - p_j)^gamma down-weights classes already predicted
    with confidence, so training dwells on the hard examples. gamma = 0 and alpha = 1 give
    categorical_crossentropy. ``label_smoothing`` s: y <- y (1 - s) + s / k for k classes.
    """
    y_true, y_pred = _pair(y_true, y_pred, "categorical_focal_crossentropy", same_shape=True)
    y_true = _smooth_categorical(y_true, label_smoothing, axis)
    probs = _nn.softmax(y_pred, axis) if from_logits else y_pred
    probs = _ew.clip(probs / _red.sum(probs, axis=axis, keepdims=True), EPSILON, 1.0 - EPSILON)
    focal = _ew.pow(1.0 - probs, gamma) * (-alpha) * y_true * _ew.log(probs)
    return _red.sum(focal, axis=axis)


def _sums(values, axis):
    return _red.sum(values, axis=tuple(axis) if isinstance(axis, list) else axis)


def dice(y_true, y_pred, axis=None) -> Tensor:
    """Dice loss (overlap of soft masks): loss = 1 - 2 sum(y p) / (sum(y) + sum(p) + 1e-7), sums over ``axis``.

    ``axis`` None sums over everything (one number for the batch); give the non-batch axes
    (e.g. (1, 2, 3) for masks (batch, h, w, 1)) for one loss per sample.
    """
    y_pred = _as_prediction(y_pred)
    y_true = _as_target(y_true, y_pred)
    overlap = _sums(y_true * y_pred, axis)
    return 1.0 - overlap * 2.0 / (_sums(y_true, axis) + _sums(y_pred, axis) + EPSILON)


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None) -> Tensor:
    """Tversky loss (Salehi et al. 2017): loss = 1 - TP / (TP + alpha FN + beta FP + 1e-7), sums over ``axis``.

    TP = sum(y p), FN = sum(y (1 - p)), FP = sum((1 - y) p); alpha = beta = 1/2 gives the
    Dice loss. Keras 3 computes it so (its documentation calls alpha the weight of the false
    positives, but its code, which these values follow, multiplies sum(y (1 - p)) by alpha);
    for the paper's alpha FP + beta FN, swap the two.
    """
    y_pred = _as_prediction(y_pred)
    y_true = _as_target(y_true, y_pred)
    true_positives = _sums(y_true * y_pred, axis)
    false_negatives = _sums(y_true * (1.0 - y_pred), axis)
    false_positives = _sums((1.0 - y_true) * y_pred, axis)
    return 1.0 - true_positives / (true_positives + false_negatives * alpha + false_positives * beta + EPSILON)


def ctc(y_true, y_pred) -> Tensor:
    """Connectionist temporal classification loss: loss = -ln p(y_true | y_pred), one per sample.

    ``y_true`` (batch, max_length) holds integer labels padded with 0, which is also the
    blank class (so classes start at 1); ``y_pred`` (batch, time, classes) holds logits
    (not softmax outputs). p sums the probabilities of every alignment of the labels to
    the time steps (see :func:`deepgrad.ops.ctc.ctc_loss`).
    """
    y_pred = _as_prediction(y_pred)
    labels = y_true.data if isinstance(y_true, Tensor) else np.asarray(y_true)
    if labels.ndim != 2 or y_pred.ndim != 3:
        raise ValueError(f"ctc: y_true must be labels of shape (batch, max_length) and y_pred logits of shape "
                         f"(batch, time, classes), got {labels.shape} and {y_pred.shape}.")
    xp = namespace(y_pred.data)
    labels = xp.asarray(labels).astype(np.int64)
    label_length = (labels != 0).sum(axis=-1)
    return _ctc_loss(labels, y_pred, label_length, xp.full(y_pred.shape[0], y_pred.shape[1]), mask_index=0)


def kl_divergence(y_true, y_pred) -> Tensor:
    """Kullback-Leibler divergence: loss = sum_j y_j ln(y_j / p_j) over the last axis.

    Both distributions are clipped to [1e-7, 1] first. Not symmetric: KL(y || p) != KL(p || y).
    """
    y_true, y_pred = _pair(y_true, y_pred, "kl_divergence")
    y_true = _ew.clip(y_true, EPSILON, 1.0)
    y_pred = _ew.clip(y_pred, EPSILON, 1.0)
    return _red.sum(y_true * _ew.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred) -> Tensor:
    """Poisson loss: loss = mean(y_pred - y_true ln(y_pred + 1e-7)) over the last axis.

    The negative log-likelihood of counts y_true under a Poisson law of mean y_pred, up to
    a constant.
    """
    y_true, y_pred = _pair(y_true, y_pred, "poisson")
    return _red.mean(y_pred - y_true * _ew.log(y_pred + EPSILON), axis=-1)


# --------------------------------------------------------------------------- margins

def _hinge_labels(y_true):
    """Labels in {-1, 1}; labels that are all 0 or 1 are mapped by y -> 2y - 1 (as Keras does)."""
    data = y_true.data
    if bool(((data == 0) | (data == 1)).all()):
        return y_true * 2.0 - 1.0
    return y_true


def hinge(y_true, y_pred) -> Tensor:
    """Hinge loss (SVM): loss = mean(max(0, 1 - y y_pred)) over the last axis, labels y in {-1, 1}.

    Zero once a prediction is on the right side with margin 1; {0, 1} labels are
    converted to {-1, 1}. dl/dy_pred = -y where y y_pred < 1, else 0.
    """
    y_true, y_pred = _pair(y_true, y_pred, "hinge")
    return _red.mean(_ew.relu(1.0 - _hinge_labels(y_true) * y_pred), axis=-1)


def squared_hinge(y_true, y_pred) -> Tensor:
    """Squared hinge loss: loss = mean(max(0, 1 - y y_pred)^2) over the last axis, y in {-1, 1}."""
    y_true, y_pred = _pair(y_true, y_pred, "squared_hinge")
    margin = _ew.relu(1.0 - _hinge_labels(y_true) * y_pred)
    return _red.mean(margin * margin, axis=-1)


def categorical_hinge(y_true, y_pred) -> Tensor:
    """Categorical (multi-class SVM) hinge: loss = max(0, 1 + max_{j != c} s_j - s_c), one-hot y.

    s = y_pred are class scores, c the true class: the true score must beat the best
    wrong score by a margin of 1 (pos = sum(y s), neg = max((1 - y) s)).
    """
    y_true, y_pred = _pair(y_true, y_pred, "categorical_hinge")
    true_score = _red.sum(y_true * y_pred, axis=-1)
    best_wrong_score = _red.max((1.0 - y_true) * y_pred, axis=-1)
    return _ew.relu(best_wrong_score - true_score + 1.0)


# --------------------------------------------------------------------------- reduction

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def standardize_reduction(reduction):
    """Validate a reduction name (Keras' set)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"invalid reduction {reduction!r}; expected one of {list(REDUCTIONS)}.")
    return reduction


def reduce_weighted_values(values, sample_weight=None, mask=None, reduction="sum_over_batch_size"):
    """Weight per-sample losses and reduce them (Keras 3's rule).

    weights = sample_weight * mask, where a mask (positions to count) under a mean
    reduction is rescaled by total/valid so that the mean runs over valid positions only.
    Then 'sum_over_batch_size'/'mean': sum(w l) / size(l); 'sum': sum(w l);
    'mean_with_sample_weight': sum(w l) / sum(w); 'none'/None: w l.
    """
    reduction = standardize_reduction(reduction)
    values = as_tensor(values)
    weights = None
    if sample_weight is not None:
        weights = _as_target(sample_weight, values)
    if mask is not None:
        xp = namespace(values.data)
        mask_values = xp.asarray(mask, dtype=values.dtype)
        if reduction in ("sum_over_batch_size", "mean"):
            valid = float(mask_values.sum())
            mask_values = mask_values * (mask_values.size / valid if valid else 0.0)
        mask_tensor = Tensor(mask_values)
        if weights is None:
            weights = mask_tensor
        else:
            mask_tensor, weights = squeeze_or_expand_to_same_rank(mask_tensor, weights)
            weights = weights * mask_tensor
    if weights is not None:
        values, weights = squeeze_or_expand_to_same_rank(values, weights)
        try:
            np.broadcast_shapes(values.shape, weights.shape)
        except ValueError:
            raise ValueError(f"sample_weight of shape {weights.shape} does not fit per-sample losses of "
                             f"shape {values.shape}: give one weight per sample.") from None
        values = values * weights
    if reduction in (None, "none") or values.ndim == 0 or values.shape == (0,):
        return values
    total = _red.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and weights is not None:
        weight_sum = _red.sum(weights)
        return total / weight_sum if float(weight_sum.item()) != 0 else total * 0.0
    return total * (1.0 / values.size)


# --------------------------------------------------------------------------- classes

def _snake_case(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Loss(Configurable):
    """Base class of losses: ``loss(y_true, y_pred, sample_weight=None)`` -> reduced loss tensor.

    Subclasses implement ``call(y_true, y_pred)`` returning per-sample losses; the base
    class weights and reduces them (see :func:`reduce_weighted_values`).
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or _snake_case(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self.dtype = None if dtype is None else np.dtype(dtype).name

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = _as_prediction(y_pred)
        if self.dtype is not None and y_pred.dtype != self.dtype:
            y_pred = y_pred.astype(self.dtype)
        fused = None if sample_weight is not None else self._fused_mean(y_true, y_pred)
        if fused is not None:
            return fused
        losses = self.call(y_true, y_pred)
        return reduce_weighted_values(losses, sample_weight, self._mask(y_true, y_pred), self.reduction)

    def call(self, y_true, y_pred):
        """Per-sample losses (shape of y_pred without its last axis); subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred) "
                                  "returning one loss per sample.")

    def _mask(self, y_true, y_pred):
        """Positions that count (None: all). Overridden by losses that ignore some labels."""
        return None

    def _fused_mean(self, y_true, y_pred):
        """The mean loss from one fused engine op, when this loss and its settings allow it."""
        return None

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}


class LossFunctionWrapper(Loss):
    """A loss class around a per-sample loss function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        fn = get(fn) if isinstance(fn, str) else fn
        if not callable(fn):
            raise TypeError(f"LossFunctionWrapper needs a callable loss function, got {fn!r}.")
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        if not isinstance(y_true, Tensor):
            y_true = _as_target(y_true, y_pred)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def _mask(self, y_true, y_pred):
        ignored = self._fn_kwargs.get("ignore_class")
        if self.fn is not sparse_categorical_crossentropy or ignored is None:
            return None
        return _class_ids(y_true, y_pred, self._fn_kwargs.get("axis", -1), self.name) != ignored

    def get_config(self) -> dict:
        config = super().get_config()
        config["fn"] = serialize(self.fn)
        config.update(self._fn_kwargs)
        return config


class _KerasLoss(LossFunctionWrapper):
    """A loss class with Keras' signature: its function's options, then reduction, name, dtype.

    Subclasses name their function (``_fn``), its options with their defaults (``_options``,
    in Keras' argument order) and the default ``name``; options become attributes.
    """

    _fn = None
    _options: dict = {}
    _default_name = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        parameters = [inspect.Parameter(k, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=v)
                       for k, v in cls._options.items()]
        parameters += [inspect.Parameter("reduction", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                         default="sum_over_batch_size"),
                       inspect.Parameter("name", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                         default=cls._default_name),
                       inspect.Parameter("dtype", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)]
        cls.__signature__ = inspect.Signature(parameters)

    def __init__(self, *args, **kwargs):
        bound = self.__signature__.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        options = {k: arguments.pop(k) for k in self._options}
        for key, value in options.items():
            setattr(self, key, value)
        super().__init__(type(self)._fn, **arguments, **options)

    def get_config(self) -> dict:
        config = Loss.get_config(self)
        config.update({k: getattr(self, k) for k in self._options})
        return config

    def _fused_mean(self, y_true, y_pred):
        if not (getattr(self, "from_logits", False) and self.reduction in ("sum_over_batch_size", "mean")):
            return None
        y_true, y_pred = _pair(y_true, y_pred, self.name)
        if y_true.requires_grad or y_true.shape != y_pred.shape:
            return None
        return self._mean_from_logits(y_true, y_pred)

    def _mean_from_logits(self, y_true, y_pred):
        """The mean loss as one fused engine op (cross-entropies from logits), or None."""
        return None


class MeanSquaredError(_KerasLoss):
    """Mean squared error: loss = mean((y_true - y_pred)^2), reduced over the batch."""

    _fn = staticmethod(mean_squared_error)
    _default_name = "mean_squared_error"


class MeanAbsoluteError(_KerasLoss):
    """Mean absolute error: loss = mean(|y_true - y_pred|), reduced over the batch."""

    _fn = staticmethod(mean_absolute_error)
    _default_name = "mean_absolute_error"


class MeanAbsolutePercentageError(_KerasLoss):
    """MAPE: loss = 100 mean(|y_true - y_pred| / max(|y_true|, 1e-7)), reduced over the batch."""

    _fn = staticmethod(mean_absolute_percentage_error)
    _default_name = "mean_absolute_percentage_error"


class MeanSquaredLogarithmicError(_KerasLoss):
    """MSLE: loss = mean((ln(1 + y_pred) - ln(1 + y_true))^2), reduced over the batch."""

    _fn = staticmethod(mean_squared_logarithmic_error)
    _default_name = "mean_squared_logarithmic_error"


class Huber(_KerasLoss):
    """Huber loss: loss = e^2/2 for |e| <= delta, delta |e| - delta^2/2 beyond, reduced over the batch."""

    _fn = staticmethod(huber)
    _options = {"delta": 1.0}
    _default_name = "huber_loss"


class LogCosh(_KerasLoss):
    """Log-cosh loss: loss = ln cosh(y_pred - y_true), reduced over the batch."""

    _fn = staticmethod(log_cosh)
    _default_name = "log_cosh"


class Quantile(_KerasLoss):
    """Quantile (pinball) loss: loss = max(gamma e, (gamma - 1) e), e = y_true - y_pred, reduced over the batch."""

    _fn = staticmethod(quantile)
    _options = {"gamma": 0.5}
    _default_name = "quantile"


Pinball = Quantile


class CosineSimilarity(_KerasLoss):
    """Negative cosine similarity: loss = -sum(y_true/||y_true|| * y_pred/||y_pred||), reduced over the batch."""

    _fn = staticmethod(cosine_similarity)
    _options = {"axis": -1}
    _default_name = "cosine_similarity"


class BinaryCrossentropy(_KerasLoss):
    """Binary cross-entropy: loss = -(y ln p + (1 - y) ln(1 - p)), reduced over the batch.

    With ``from_logits=True`` and the default reduction (no sample weights) the mean is
    one fused engine op, gradient (sigmoid(z) - y) / N.
    """

    _fn = staticmethod(binary_crossentropy)
    _options = {"from_logits": False, "label_smoothing": 0.0, "axis": -1}
    _default_name = "binary_crossentropy"

    def _mean_from_logits(self, y_true, y_pred):
        return _nn.sigmoid_binary_cross_entropy(y_pred, _smooth_binary(y_true, self.label_smoothing))


class BinaryFocalCrossentropy(_KerasLoss):
    """Binary focal cross-entropy: loss = w (1 - p_t)^gamma BCE, reduced over the batch."""

    _fn = staticmethod(binary_focal_crossentropy)
    _options = {"apply_class_balancing": False, "alpha": 0.25, "gamma": 2.0, "from_logits": False,
                "label_smoothing": 0.0, "axis": -1}
    _default_name = "binary_focal_crossentropy"


class CategoricalCrossentropy(_KerasLoss):
    """Categorical cross-entropy: loss = -sum_j y_j ln p_j, reduced over the batch.

    With ``from_logits=True`` and the default reduction (no sample weights) the mean is
    one fused engine op, gradient (softmax(z) - y) / N.
    """

    _fn = staticmethod(categorical_crossentropy)
    _options = {"from_logits": False, "label_smoothing": 0.0, "axis": -1}
    _default_name = "categorical_crossentropy"

    def _mean_from_logits(self, y_true, y_pred):
        labels = _smooth_categorical(y_true, self.label_smoothing, self.axis)
        return _nn.softmax_cross_entropy(y_pred, labels, axis=self.axis)


class SparseCategoricalCrossentropy(_KerasLoss):
    """Sparse categorical cross-entropy: loss = -ln p_c for integer class ids c, reduced over the batch.

    Positions labelled ``ignore_class`` are left out of the mean. With ``from_logits=True``,
    no ignored class and the default reduction (no sample weights) the mean is one fused
    engine op, gradient (softmax(z) - onehot(c)) / N.
    """

    _fn = staticmethod(sparse_categorical_crossentropy)
    _options = {"from_logits": False, "ignore_class": None}
    _default_name = "sparse_categorical_crossentropy"

    def call(self, y_true, y_pred):
        # class ids keep their own shape: no rank alignment with y_pred
        return sparse_categorical_crossentropy(y_true, y_pred, self.from_logits, self.ignore_class)

    def _fused_mean(self, y_true, y_pred):
        # class ids are not shaped like y_pred, so the shared guard does not apply
        if not (self.from_logits and self.ignore_class is None
                and self.reduction in ("sum_over_batch_size", "mean")):
            return None
        if isinstance(y_true, Tensor) and y_true.requires_grad:
            return None
        ids = _class_ids(y_true, y_pred, -1, self.name)
        return _nn.softmax_cross_entropy(y_pred, ids, axis=-1)


class CategoricalFocalCrossentropy(_KerasLoss):
    """Categorical focal cross-entropy: loss = -sum_j alpha (1 - p_j)^gamma y_j ln p_j, reduced over the batch."""

    _fn = staticmethod(categorical_focal_crossentropy)
    _options = {"alpha": 0.25, "gamma": 2.0, "from_logits": False, "label_smoothing": 0.0, "axis": -1}
    _default_name = "categorical_focal_crossentropy"


class Dice(_KerasLoss):
    """Dice loss: loss = 1 - 2 sum(y p) / (sum(y) + sum(p)), sums over ``axis``, reduced over the batch."""

    _fn = staticmethod(dice)
    _options = {"axis": None}
    _default_name = "dice"


class Tversky(_KerasLoss):
    """Tversky loss: loss = 1 - TP / (TP + alpha FN + beta FP) (Keras' reading), reduced over the batch."""

    _fn = staticmethod(tversky)
    _options = {"alpha": 0.5, "beta": 0.5, "axis": None}
    _default_name = "tversky"


class CTC(_KerasLoss):
    """CTC loss: loss = -ln p(labels | logits) summed over alignments, reduced over the batch."""

    _fn = staticmethod(ctc)
    _default_name = "ctc"

    def call(self, y_true, y_pred):
        # integer labels keep their own shape: no rank alignment with the logits
        return ctc(y_true, y_pred)


class KLDivergence(_KerasLoss):
    """Kullback-Leibler divergence: loss = sum_j y_j ln(y_j / p_j), reduced over the batch."""

    _fn = staticmethod(kl_divergence)
    _default_name = "kl_divergence"


class Poisson(_KerasLoss):
    """Poisson loss: loss = mean(y_pred - y_true ln y_pred), reduced over the batch."""

    _fn = staticmethod(poisson)
    _default_name = "poisson"


class Hinge(_KerasLoss):
    """Hinge loss: loss = mean(max(0, 1 - y y_pred)), y in {-1, 1} ({0, 1} converted), reduced over the batch."""

    _fn = staticmethod(hinge)
    _default_name = "hinge"


class SquaredHinge(_KerasLoss):
    """Squared hinge loss: loss = mean(max(0, 1 - y y_pred)^2), reduced over the batch."""

    _fn = staticmethod(squared_hinge)
    _default_name = "squared_hinge"


class CategoricalHinge(_KerasLoss):
    """Multi-class hinge: loss = max(0, 1 + max_{j != c} s_j - s_c), reduced over the batch."""

    _fn = staticmethod(categorical_hinge)
    _default_name = "categorical_hinge"


# --------------------------------------------------------------------------- lookup

_FUNCTIONS = (
    mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
    mean_squared_logarithmic_error, huber, log_cosh, quantile, cosine_similarity,
    binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy,
    sparse_categorical_crossentropy, kl_divergence, poisson, hinge, squared_hinge, categorical_hinge,
    categorical_focal_crossentropy, dice, tversky, ctc,
)
_CLASSES = (
    Loss, LossFunctionWrapper, MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, Huber, LogCosh, Quantile, CosineSimilarity, BinaryCrossentropy,
    BinaryFocalCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, KLDivergence,
    Poisson, Hinge, SquaredHinge, CategoricalHinge, CategoricalFocalCrossentropy, Dice, Tversky, CTC,
)
_REGISTRY = Registry("loss", Loss, {
    **{obj.__name__: obj for obj in _FUNCTIONS + _CLASSES},
    "mse": mean_squared_error, "MSE": mean_squared_error,
    "mae": mean_absolute_error, "MAE": mean_absolute_error,
    "mape": mean_absolute_percentage_error, "MAPE": mean_absolute_percentage_error,
    "msle": mean_squared_logarithmic_error, "MSLE": mean_squared_logarithmic_error,
    "bce": binary_crossentropy, "BCE": binary_crossentropy,
    "kld": kl_divergence, "KLD": kl_divergence, "kullback_leibler_divergence": kl_divergence,
    "logcosh": log_cosh, "pinball": quantile, "Pinball": Quantile,
}, hint="or pass a callable loss(y_true, y_pred)", unlisted=("LossFunctionWrapper",))


def names() -> list:
    """Every string identifier :func:`get` accepts, sorted."""
    return _REGISTRY.names()


def get(identifier):
    """A loss from a name, a Keras-style config dict, a Loss class/instance or a callable; None -> None.

    Function names (``'mse'``, ``'categorical_crossentropy'``) give the per-sample
    function; class names (``'MeanSquaredError'``) an instance with the default settings.
    Unknown names raise ValueError naming the closest valid one and listing them all.
    """
    if identifier == "LossFunctionWrapper":
        raise ValueError("LossFunctionWrapper needs a loss function: use LossFunctionWrapper(fn, ...).")
    return _REGISTRY.get(identifier)


def serialize(loss):
    """A loss function -> its name; a Loss instance -> {'class_name': ..., 'config': get_config()}."""
    return _REGISTRY.serialize(loss)


def deserialize(config):
    """The loss described by :func:`serialize`'s output (a name or a class_name/config dict)."""
    return _REGISTRY.deserialize(config)


def check(spec):
    """Interpret every loss identifier of a ``compile(loss=...)`` argument now.

    ``spec`` is one identifier, a list (one per output) or a dict by output name. Unknown
    names raise ValueError naming the closest valid one at compile time rather than at the
    first batch; config dicts are built, so their arguments are validated too.
    """
    each_identifier(spec, get)


def as_loss(identifier) -> Loss:
    """``identifier`` as a reducing :class:`Loss` (a plain function is wrapped, reduction 'sum_over_batch_size')."""
    loss = get(identifier)
    if loss is None:
        raise ValueError("a loss is needed (got None): pass e.g. loss='mse' or loss='categorical_crossentropy'.")
    if isinstance(loss, Loss):
        return loss
    return LossFunctionWrapper(loss)


# --------------------------------------------------------------------------- output fusion

_FUSABLE = {
    # (loss function, its class, the output activation it fuses with)
    binary_crossentropy: (BinaryCrossentropy, "sigmoid"),
    binary_focal_crossentropy: (BinaryFocalCrossentropy, "sigmoid"),
    categorical_crossentropy: (CategoricalCrossentropy, "softmax"),
    sparse_categorical_crossentropy: (SparseCategoricalCrossentropy, "softmax"),
}


def fused_output_loss(loss, output_activation):
    """The loss to apply to the logits z of a model whose output is activation(z), or None.

    When the output activation is ``'sigmoid'`` and the loss a binary (focal) cross-entropy
    on probabilities, or the activation is ``'softmax'`` (last axis) and the loss a
    categorical or sparse categorical cross-entropy, this returns the same loss (same
    reduction, smoothing, ignored class, name) with ``from_logits=True``: called as
    ``fused(y_true, z, sample_weight=None)`` it equals ``loss(y_true, activation(z))``
    but is stable for any z and its gradient is (p - y)/N. Otherwise (other losses,
    other activations, losses already from logits) it returns None.
    """
    from . import activations  # noqa: PLC0415 - activations does not import losses

    try:
        activation_name = activations.serialize(output_activation)
    except (ValueError, TypeError):
        return None
    loss = get(loss)
    if isinstance(loss, _KerasLoss):
        fn, config = type(loss)._fn, loss.get_config()
    elif isinstance(loss, LossFunctionWrapper):
        fn, config = loss.fn, {"name": loss.name, "reduction": loss.reduction, **loss._fn_kwargs}
    elif isinstance(loss, Loss) or loss is None:
        return None
    else:
        fn, config = loss, {"name": loss.__name__ if hasattr(loss, "__name__") else None}
    if fn not in _FUSABLE:
        return None
    cls, fusing_activation = _FUSABLE[fn]
    if activation_name != fusing_activation or config.get("from_logits", False):
        return None
    if fusing_activation == "softmax" and config.get("axis", -1) != -1:
        return None
    config.pop("fn", None)
    config["from_logits"] = True
    return cls.from_config(config)
