"""Metrics: stateful measures of a model's quality, accumulated batch by batch (Keras 3 API).

Every metric follows the same life cycle as in Keras:

* ``update_state(y_true, y_pred, sample_weight=None)`` folds one batch into a few running
  sums (NumPy scalars or small arrays; no per-sample Python, no stored predictions);
* ``result()`` reduces those sums to the value (a float, or an array for per-class results);
* ``reset_state()`` starts over (the model calls it at the start of every epoch).

The model feeds NumPy arrays of targets and predictions; CuPy arrays are copied to the host.
Labels may be integer class ids (``sparse_*`` metrics), one-hot rows (``categorical_*``) or
{0, 1} values (``binary_*``, precision, recall, AUC).

String identifiers resolve through :func:`get` (``"mse"`` -> :class:`MeanSquaredError`);
:func:`resolve` adds Keras' compile-time rules (``"accuracy"`` becomes binary, categorical or
sparse categorical accuracy depending on the loss and the shapes) and keeps the name the user
typed, so ``metrics=["accuracy"]`` is logged as ``accuracy``.

>>> import numpy as np
>>> from deepgrad import metrics
>>> m = metrics.BinaryAccuracy()
>>> m.update_state(np.array([1, 0, 1]), np.array([0.9, 0.2, 0.4]))
>>> m.update_state(np.array([0]), np.array([0.7]))
>>> m.result()
0.5
"""

from __future__ import annotations

import numbers
import re
import warnings

import numpy as np

from . import backend
from . import losses as _losses
from .configurable import Registry, each_identifier
from .ops.elementwise import sigmoid_data
from .tensor import Tensor, no_grad

EPSILON = 1e-7  # Keras' backend.epsilon(): clipping of probabilities, F-score denominators


# --------------------------------------------------------------------------- array helpers

def _to_numpy(x) -> np.ndarray:
    """A host NumPy array of ``x`` (CuPy arrays are copied to the host; lists are converted)."""
    if type(x) is np.ndarray:
        return x
    if isinstance(x, Tensor):
        x = x.data
    return backend.to_numpy(x)  # a device array: the one explicit copy to the host


def _same_rank(a: np.ndarray, b: np.ndarray):
    """Squeeze or expand a trailing axis of size 1 so that ``a`` and ``b`` have the same rank.

    Keras' ``squeeze_or_expand_to_same_rank``: targets shaped (N,) against predictions shaped
    (N, 1) become (N, 1), instead of broadcasting to an (N, N) table.
    """
    if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
        return (a, b[..., None]) if b.ndim == 1 else (a[..., 0], b)
    if b.ndim == a.ndim + 1 and b.shape[-1] == 1:
        return (a[..., None], b) if a.ndim == 1 else (a, b[..., 0])
    return a, b


def _aligned(y_true, y_pred, what: str):
    """``y_true`` and ``y_pred`` as float-comparable arrays of one shape, or a ValueError naming both."""
    y_true, y_pred = _same_rank(_to_numpy(y_true), _to_numpy(y_pred))
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{what} expects y_true and y_pred of the same shape; got y_true {y_true.shape} "
                         f"and y_pred {y_pred.shape}. Give one target per prediction (one-hot rows for "
                         "several classes, or use a sparse_* metric for integer class ids).")
    return y_true, y_pred


def _per_sample(values: np.ndarray) -> np.ndarray:
    """Mean over the last axis for rank >= 2 (one value per sample); rank-1 values are per sample."""
    return values.mean(axis=-1) if values.ndim >= 2 else values


def _weights_like(sample_weight, shape, what: str) -> np.ndarray:
    """``sample_weight`` broadcast to ``shape``: (N,) or (N, 1) weights apply to every column of a sample."""
    weights = _to_numpy(sample_weight).astype(np.float64, copy=False)
    while weights.ndim > len(shape) and weights.shape[-1] == 1:
        weights = weights[..., 0]
    weights = weights.reshape(weights.shape + (1,) * (len(shape) - weights.ndim))
    try:
        return np.broadcast_to(weights, shape)
    except ValueError:
        raise ValueError(f"{what}: sample_weight of shape {_to_numpy(sample_weight).shape} does not fit "
                         f"the batch of shape {tuple(shape)}; give one weight per sample, shape "
                         f"({shape[0] if shape else 1},).") from None


def _class_ids_of_one_hot(y_true: np.ndarray, y_pred: np.ndarray, what: str) -> np.ndarray:
    """argmax of one-hot targets, after checking they really are rows like ``y_pred``."""
    y_true, y_pred = _same_rank(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{what} expects one-hot y_true shaped like y_pred {y_pred.shape}; got y_true "
                         f"{y_true.shape}. For integer class ids use the sparse_{what} metric.")
    return y_true.argmax(axis=-1)


def _sparse_class_ids(y_true: np.ndarray, y_pred: np.ndarray, what: str) -> np.ndarray:
    """Integer class ids shaped like ``y_pred`` without its class axis ((N, 1) is squeezed to (N,))."""
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(f"{what} expects integer class ids of shape {y_pred.shape[:-1]} for predictions "
                         f"{y_pred.shape}; got y_true {y_true.shape}. For one-hot targets use "
                         f"{what.replace('sparse_', '')}.")
    return y_true.astype(np.int64, copy=False)


def _in_top_k(class_ids: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Whether each target class scores among the ``k`` highest: score >= k-th largest score.

    Ties at the boundary count as in the top k (as in Keras). One partition per batch.
    """
    num_classes = y_pred.shape[-1]
    if k >= num_classes:
        return np.ones(class_ids.shape, dtype=bool)
    target_score = np.take_along_axis(y_pred, class_ids[..., None], axis=-1)[..., 0]
    kth_largest = np.partition(y_pred, num_classes - k, axis=-1)[..., num_classes - k]
    return target_score >= kth_largest


def _float_dtype_name(dtype, what) -> str:
    """The name of a floating NumPy dtype ('float32' for None), or a ValueError naming the choices."""
    try:
        resolved = np.dtype("float32" if dtype is None else dtype)
    except TypeError:
        resolved = None
    if resolved is None or not np.issubdtype(resolved, np.floating):
        raise ValueError(f"{what}: dtype must be a floating dtype ('float16', 'float32' or 'float64'); "
                         f"got {dtype!r}.")
    return resolved.name


def _divide_no_nan(numerator, denominator):
    """numerator / denominator, with 0 where the denominator is 0 (Keras' divide_no_nan)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    safe = np.where(denominator == 0, 1.0, denominator)
    return np.where(denominator == 0, 0.0, numerator / safe)


def _as_result(value):
    """A Python float for scalars, the array itself for per-class results."""
    value = np.asarray(value)
    return float(value) if value.ndim == 0 else value


# --------------------------------------------------------------------------- per-sample functions

def _accuracy_elements(y_true, y_pred) -> np.ndarray:
    """[y_true == y_pred] element by element (Keras 3's ``accuracy``), shaped like y_pred."""
    y_true, y_pred = _aligned(y_true, y_pred, "accuracy")
    return (y_true == y_pred).astype(np.float32)


def _binary_accuracy_elements(y_true, y_pred, threshold=0.5) -> np.ndarray:
    """[y_true == (y_pred > threshold)] element by element (Keras 3's ``binary_accuracy``)."""
    y_true, y_pred = _aligned(y_true, y_pred, "binary_accuracy")
    return (y_true == (y_pred > threshold)).astype(np.float32)


def accuracy(y_true, y_pred) -> np.ndarray:
    """Exact-match accuracy per sample: mean over the last axis of [y_true == y_pred]."""
    return _per_sample(_accuracy_elements(y_true, y_pred))


def binary_accuracy(y_true, y_pred, threshold=0.5) -> np.ndarray:
    """Binary accuracy per sample: mean over the last axis of [y_true == (y_pred > threshold)].

    Labels are {0, 1}; predictions are probabilities (threshold 0.5) or logits (threshold 0).
    """
    return _per_sample(_binary_accuracy_elements(y_true, y_pred, threshold))


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """Categorical accuracy per sample: [argmax(y_true) == argmax(y_pred)] for one-hot targets."""
    y_pred = _to_numpy(y_pred)
    class_ids = _class_ids_of_one_hot(_to_numpy(y_true), y_pred, "categorical_accuracy")
    return (class_ids == y_pred.argmax(axis=-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """Sparse categorical accuracy per sample: [y_true == argmax(y_pred)] for integer class ids."""
    y_pred = _to_numpy(y_pred)
    class_ids = _sparse_class_ids(_to_numpy(y_true), y_pred, "sparse_categorical_accuracy")
    return (class_ids == y_pred.argmax(axis=-1)).astype(np.float32)


def top_k_categorical_accuracy(y_true, y_pred, k=5) -> np.ndarray:
    """Top-k accuracy per sample for one-hot targets: [y_pred[argmax(y_true)] is among the k largest]."""
    y_pred = _to_numpy(y_pred)
    class_ids = _class_ids_of_one_hot(_to_numpy(y_true), y_pred, "top_k_categorical_accuracy")
    return _in_top_k(class_ids, y_pred, k).astype(np.float32)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False) -> np.ndarray:
    """Top-k accuracy per sample for integer class ids: [y_pred[y_true] is among the k largest].

    With ``from_sorted_ids=True``, y_pred holds each sample's top class ids sorted from the
    highest score down, shaped (batch, N) with N >= k: the value is [y_true in y_pred[:, :k]].
    """
    y_pred = _to_numpy(y_pred)
    if from_sorted_ids:
        class_ids = _to_numpy(y_true)
        if class_ids.ndim == y_pred.ndim and class_ids.shape[-1] == 1:
            class_ids = class_ids[..., 0]
        if class_ids.shape != y_pred.shape[:-1]:
            raise ValueError(f"sparse_top_k_categorical_accuracy(from_sorted_ids=True) expects class ids of "
                             f"shape {y_pred.shape[:-1]} for sorted ids {y_pred.shape}; got y_true "
                             f"{class_ids.shape}.")
        return np.any(class_ids[..., None] == y_pred[..., :k], axis=-1).astype(np.float32)
    class_ids = _sparse_class_ids(_to_numpy(y_true), y_pred, "sparse_top_k_categorical_accuracy")
    return _in_top_k(class_ids, y_pred, k).astype(np.float32)


def _loss_values(loss_fn, y_true, y_pred, **kwargs) -> np.ndarray:
    """One value per sample of a :mod:`deepgrad.losses` function, as a host array (no graph is built).

    The loss computes in y_pred's floating dtype (float32 for integer predictions).
    Rank-1 inputs hold one value per sample here, so they get a trailing axis first
    (the losses average over the last axis).
    """
    y_true, y_pred = _to_numpy(y_true), _to_numpy(y_pred)
    if y_pred.ndim == 1:
        y_pred = y_pred[:, None]
        y_true = y_true[:, None] if y_true.ndim == 1 else y_true
    with no_grad():
        values = loss_fn(y_true, Tensor(y_pred), **kwargs)
    return _to_numpy(values.data)


def mean_squared_error(y_true, y_pred) -> np.ndarray:
    """Mean squared error per sample, mean over the last axis of (y_true - y_pred)^2
    (:func:`deepgrad.losses.mean_squared_error`; y_true shaped like y_pred)."""
    return _loss_values(_losses.mean_squared_error, *_aligned(y_true, y_pred, "mean_squared_error"))


def mean_absolute_error(y_true, y_pred) -> np.ndarray:
    """Mean absolute error per sample, mean over the last axis of |y_true - y_pred|
    (:func:`deepgrad.losses.mean_absolute_error`; y_true shaped like y_pred)."""
    return _loss_values(_losses.mean_absolute_error, *_aligned(y_true, y_pred, "mean_absolute_error"))


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0) -> np.ndarray:
    """Binary cross-entropy per sample, mean over the last axis of -(y ln p + (1 - y) ln(1 - p))
    (:func:`deepgrad.losses.binary_crossentropy`: p clipped to [1e-7, 1 - 1e-7] in y_pred's
    dtype, or p = sigmoid(y_pred) with ``from_logits``; smoothing y <- y (1 - s) + s/2)."""
    y_true, y_pred = _aligned(y_true, y_pred, "binary_crossentropy")
    return _loss_values(_losses.binary_crossentropy, y_true, y_pred, from_logits=from_logits,
                        label_smoothing=label_smoothing)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0) -> np.ndarray:
    """Categorical cross-entropy per sample for one-hot targets, -sum_c y_c ln p_c
    (:func:`deepgrad.losses.categorical_crossentropy`; smoothing y <- y (1 - s) + s / C)."""
    return _loss_values(_losses.categorical_crossentropy, y_true, y_pred, from_logits=from_logits,
                        label_smoothing=label_smoothing)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None) -> np.ndarray:
    """Sparse categorical cross-entropy per sample for integer class ids, -ln p[y_true]
    (:func:`deepgrad.losses.sparse_categorical_crossentropy`; 0 where y_true == ignore_class)."""
    return _loss_values(_losses.sparse_categorical_crossentropy, y_true, y_pred, from_logits=from_logits,
                        ignore_class=ignore_class)


# --------------------------------------------------------------------------- the base classes

class Metric:
    """Base class of all metrics: running state, ``update_state``, ``result``, ``reset_state``.

    Subclasses set their own arguments before calling ``super().__init__``, which calls
    ``reset_state()``. ``metric(y_true, y_pred)`` updates the state and returns the result,
    as in Keras. ``get_config()``/``from_config()`` round-trip the constructor arguments.
    ``dtype`` (a floating dtype, default float32) is the dtype values are computed in;
    running sums are kept in float64 so that long epochs do not drift.
    """

    default_name = None

    def __init__(self, name=None, dtype=None):
        if name is None:
            name = self.default_name
        if name is None:
            from .layers.base import snake_case  # noqa: PLC0415 (metrics stay importable alone)

            name = snake_case(type(self).__name__)
        self.name = name
        self.dtype = _float_dtype_name(dtype, type(self).__name__)
        before = set(vars(self))
        self.reset_state()
        # the attributes reset_state creates are the metric's state (Keras' metric variables)
        self._state_names = tuple(key for key in vars(self) if key not in before)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Fold one batch into the running state."""
        raise NotImplementedError(f"{type(self).__name__} must implement update_state().")

    def result(self):
        """The metric's value from the state accumulated so far."""
        raise NotImplementedError(f"{type(self).__name__} must implement result().")

    def reset_state(self):
        """Forget every batch seen so far."""
        raise NotImplementedError(f"{type(self).__name__} must implement reset_state().")

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    @property
    def variables(self) -> list:
        """The state arrays, in the order ``reset_state`` creates them (Keras' ``metric.variables``).

        Copies, as NumPy arrays (0-d for scalar sums): ``Mean`` gives [total, count],
        the confusion metrics [true_positives, false_positives, ...]. State not created yet
        (R2Score, F1Score before their first batch) is left out.
        """
        values = (getattr(self, key) for key in getattr(self, "_state_names", ()))
        return [np.array(value, dtype=np.float64) for value in values
                if value is not None and isinstance(value, (numbers.Number, np.ndarray))]

    def get_config(self) -> dict:
        """The constructor arguments: ``type(self).from_config(self.get_config())`` is an equal metric."""
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict):
        """A new metric built from :meth:`get_config`'s dict."""
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


class Mean(Metric):
    """Weighted mean of values over every batch seen: sum(w_i v_i) / sum(w_i).

    Used by the model to track the loss. Values with more axes than the weights are first
    averaged over the extra axes (one value per sample, as Keras); without weights every
    sample weighs 1. The result of no samples at all is 0.
    """

    default_name = "mean"

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        """total += sum(w v), count += sum(w) over the samples of this batch (v in the metric's dtype)."""
        values = _to_numpy(values).astype(self.dtype, copy=False)
        if sample_weight is None:
            values = _per_sample(values) if values.ndim > 1 else values
            self.total += float(values.sum(dtype=np.float64))
            self.count += float(values.size)
            return
        weights = _to_numpy(sample_weight).astype(np.float64, copy=False)
        values, weights = _same_rank(values, weights)
        if values.ndim > weights.ndim:  # average the extra axes: one value per weight
            values = values.mean(axis=tuple(range(weights.ndim, values.ndim)))
        elif weights.ndim > values.ndim:
            raise ValueError(f"{self.name}: sample_weight of shape {weights.shape} has more axes than the "
                             f"values {values.shape} it weighs (one value per sample); give one weight per "
                             "sample, or use a metric computed element by element (Accuracy, BinaryAccuracy).")
        try:
            weights = np.broadcast_to(weights, values.shape)
        except ValueError:
            raise ValueError(f"{self.name}: sample_weight of shape {weights.shape} does not fit values of shape "
                             f"{values.shape}; give one weight per sample.") from None
        self.total += float((values * weights).sum(dtype=np.float64))
        self.count += float(weights.sum(dtype=np.float64))

    def result(self):
        return _as_result(_divide_no_nan(self.total, self.count))


class MeanMetricWrapper(Mean):
    """The weighted mean over samples of ``fn(y_true, y_pred, **kwargs)`` (one value per sample).

    Wraps any per-sample function as a stateful metric; ``metrics=[my_function]`` uses it.
    """

    # the metrics below built on a loss function cast y_pred to the metric's dtype first: the
    # loss then computes (and clips probabilities) in that dtype, as Keras' float32 metrics do
    _in_metric_dtype = False
    # the function giving one value per element, for metrics whose per-sample value is a mean of
    # element values: per-element sample weights (shaped like y_true) then weigh each element
    _elementwise_fn = None

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        self._fn = fn
        self._fn_kwargs = kwargs
        super().__init__(name=name or getattr(fn, "__name__", "mean_metric_wrapper"), dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self._in_metric_dtype:
            y_pred = _to_numpy(y_pred).astype(self.dtype, copy=False)
        fn = self._fn
        if (sample_weight is not None and self._elementwise_fn is not None and np.ndim(sample_weight) >= 2
                and np.shape(sample_weight)[-1] != 1):
            fn = type(self)._elementwise_fn
        super().update_state(fn(y_true, y_pred, **self._fn_kwargs), sample_weight=sample_weight)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(self._fn_kwargs)
        if type(self) is MeanMetricWrapper:
            config["fn"] = self._fn
        return config


class Accuracy(MeanMetricWrapper):
    """Fraction of predictions equal to their targets: mean of [y_true == y_pred].

    Per-element sample weights (shaped like y_true) weigh each element:
    sum(w [y_true == y_pred]) / sum(w).
    """

    _elementwise_fn = _accuracy_elements

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """Fraction of binary predictions right: mean of [y_true == (y_pred > threshold)].

    Per-element sample weights (shaped like y_true) weigh each element.
    """

    _elementwise_fn = _binary_accuracy_elements

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    """Fraction of samples whose argmax prediction is the one-hot target's class."""

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """Fraction of samples whose argmax prediction equals the integer class id."""

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """Fraction of samples whose one-hot target class is among the k highest scores."""

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """Fraction of samples whose integer class id is among the k highest scores.

    ``from_sorted_ids=True``: predictions are the top class ids sorted by score (batch, N >= k).
    """

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k,
                         from_sorted_ids=bool(from_sorted_ids))


class MeanSquaredError(MeanMetricWrapper):
    """Mean over samples of mean_c (y_true - y_pred)^2."""

    _in_metric_dtype = True

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """Mean over samples of mean_c |y_true - y_pred|."""

    _in_metric_dtype = True

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    """Mean over samples of -(y log p + (1 - y) log(1 - p)) (see :func:`binary_crossentropy`)."""

    _in_metric_dtype = True

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0):
        super().__init__(binary_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)


class CategoricalCrossentropy(MeanMetricWrapper):
    """Mean over samples of -sum_c y_c log p_c for one-hot targets (see :func:`categorical_crossentropy`)."""

    _in_metric_dtype = True

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0):
        super().__init__(categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Mean over samples of -log p[y_true] for integer class ids.

    With ``ignore_class``, positions labelled so contribute a loss of 0 and still count in the
    mean, as Keras 3's metric does (the loss class instead averages over the other positions).
    """

    _in_metric_dtype = True

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, ignore_class=None):
        super().__init__(sparse_categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         ignore_class=ignore_class)


class RootMeanSquaredError(Mean):
    """Root mean squared error over every batch: sqrt(sum_i w_i mean_c (y - p)^2 / sum_i w_i)."""

    default_name = "root_mean_squared_error"

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _aligned(y_true, y_pred, "root_mean_squared_error")
        error = y_true.astype(self.dtype, copy=False) - y_pred.astype(self.dtype, copy=False)
        super().update_state(error * error, sample_weight=sample_weight)

    def result(self):
        return float(np.sqrt(_divide_no_nan(self.total, self.count)))


# --------------------------------------------------------------------------- confusion counts

def _confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, thresholds: np.ndarray,
                      weights: np.ndarray | None, per_label: bool = False):
    """Weighted true/false positives and negatives at each of the sorted ``thresholds``.

    A prediction p counts as positive at threshold t when p > t. Instead of comparing every
    prediction with every threshold (N x T), each prediction is placed once with
    ``searchsorted`` (k = how many thresholds lie below it) and the counts are the reversed
    cumulative sums of a histogram over k: O(N log T + T) per batch.

    Labels are used as weights (1 = positive, 0 = negative). Returns (tp, fp, tn, fn), each
    shaped (T,), or (T, L) with ``per_label`` (one column per label, last axis of the inputs).
    """
    num_thresholds = len(thresholds)
    labels = y_true.astype(np.float64, copy=False)
    positive_weight = labels if weights is None else labels * weights
    negative_weight = (1.0 - labels) if weights is None else (1.0 - labels) * weights
    bins = np.searchsorted(thresholds, y_pred, side="left")  # int per prediction
    num_columns = 1
    if per_label:
        num_columns = y_pred.shape[-1]
        bins = bins + np.arange(num_columns) * (num_thresholds + 1)  # one block of bins per label
    bins = bins.ravel()
    size = num_columns * (num_thresholds + 1)
    counts = []
    for weight in (positive_weight, negative_weight):
        histogram = np.bincount(bins, weights=np.broadcast_to(weight, y_pred.shape).ravel(), minlength=size)
        histogram = histogram.reshape(num_columns, num_thresholds + 1)
        above = np.cumsum(histogram[:, ::-1], axis=1)[:, ::-1]  # above[:, j] = sum(histogram[:, j:])
        counts.append((above[:, 1:], above[:, :1]))  # (weight above each threshold, total weight)
    (tp, total_positive), (fp, total_negative) = counts
    tp, fp, tn, fn = tp, fp, total_negative - fp, total_positive - tp
    if per_label:
        return tp.T, fp.T, tn.T, fn.T
    return tp[0], fp[0], tn[0], fn[0]


def _parse_thresholds(thresholds, default) -> np.ndarray:
    """Thresholds as a 1-D float64 array, each checked to lie in [0, 1]."""
    if thresholds is None:
        return np.array([default], dtype=np.float64)
    values = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if values.ndim != 1 or np.any((values < 0) | (values > 1)):
        raise ValueError(f"Threshold values must be in [0, 1]. Received: {thresholds!r}")
    return values


def _filter_top_k(y_pred: np.ndarray, k: int) -> np.ndarray:
    """y_pred with every score outside each row's k largest replaced by -inf (never positive)."""
    if k >= y_pred.shape[-1]:
        return y_pred
    order = np.argsort(-y_pred, axis=-1, kind="stable")[..., :k]
    filtered = np.full(y_pred.shape, -np.inf)
    np.put_along_axis(filtered, order, np.take_along_axis(y_pred, order, axis=-1), axis=-1)
    return filtered


class _ThresholdedConfusion(Metric):
    """Shared state of Precision and Recall: tp, fp, fn per threshold, summed over batches."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        if top_k is not None and (not isinstance(top_k, (int, np.integer)) or top_k < 1):
            raise ValueError(f"top_k must be a positive integer or None; got {top_k!r}.")
        if class_id is not None and (not isinstance(class_id, (int, np.integer)) or isinstance(class_id, bool)
                                     or class_id < 0):
            raise ValueError(f"class_id must be an integer >= 0 (a column of the predictions) or None; "
                             f"got {class_id!r}.")
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        # With top_k and no thresholds, every top-k score is positive (Keras' NEG_INF default).
        self.thresholds = _parse_thresholds(thresholds, 0.5) if thresholds is not None or top_k is None \
            else np.array([-1e10])
        self._order = np.argsort(self.thresholds, kind="stable")
        self._sorted_thresholds = self.thresholds[self._order]
        self._unsort = np.argsort(self._order)
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        size = len(self.thresholds)
        self.true_positives = np.zeros(size)
        self.false_positives = np.zeros(size)
        self.false_negatives = np.zeros(size)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add this batch's weighted tp, fp, fn at each threshold (p > t counts as positive)."""
        y_true, y_pred = _aligned(y_true, y_pred, type(self).__name__)
        if self.top_k is not None:
            y_pred = _filter_top_k(y_pred, self.top_k)
        if self.class_id is not None:
            if y_pred.ndim < 2 or self.class_id >= y_pred.shape[-1]:
                raise ValueError(f"{self.name}: class_id={self.class_id} selects a column of predictions "
                                 f"shaped (batch, classes); got predictions of shape {y_pred.shape}. "
                                 "For one binary output drop class_id; otherwise give one column per class.")
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        weights = None if sample_weight is None else _weights_like(sample_weight, y_pred.shape, self.name)
        tp, fp, _, fn = _confusion_counts(y_true, y_pred, self._sorted_thresholds, weights)
        self.true_positives += tp[self._unsort]
        self.false_positives += fp[self._unsort]
        self.false_negatives += fn[self._unsort]

    def _one_or_all(self, values):
        return float(values[0]) if len(values) == 1 else values

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(thresholds=self.init_thresholds, top_k=self.top_k, class_id=self.class_id)
        return config


class Precision(_ThresholdedConfusion):
    """Precision = tp / (tp + fp): of the samples predicted positive (p > threshold), the share truly positive.

    ``thresholds`` (default 0.5) may be a list: the result is then one precision per threshold.
    ``top_k`` counts only each row's k highest scores as positive; ``class_id`` measures one
    column of a multi-label output. No positive predictions give 0.
    """

    default_name = "precision"

    def result(self):
        return self._one_or_all(_divide_no_nan(self.true_positives, self.true_positives + self.false_positives))


class Recall(_ThresholdedConfusion):
    """Recall = tp / (tp + fn): of the truly positive samples, the share predicted positive (p > threshold).

    Arguments as :class:`Precision`. No positive samples give 0.
    """

    default_name = "recall"

    def result(self):
        return self._one_or_all(_divide_no_nan(self.true_positives, self.true_positives + self.false_negatives))


class FBetaScore(Metric):
    """F-beta score per class: (1 + b^2) P R / (b^2 P + R), with P = tp / (tp + fp), R = tp / (tp + fn).

    Inputs are (batch, classes): one-hot or multi-label targets and scores. A score counts as a
    positive prediction when it exceeds ``threshold``; with ``threshold=None`` only each row's
    highest score does. ``average``: None (one score per class), 'micro' (counts pooled over
    classes), 'macro' (mean of the class scores) or 'weighted' (mean weighted by each class's
    number of true samples). Epsilon 1e-7 in the denominators, as Keras.
    """

    default_name = "fbeta_score"
    _AVERAGES = (None, "micro", "macro", "weighted")

    def __init__(self, average=None, beta=1.0, threshold=None, name=None, dtype=None):
        if average not in self._AVERAGES:
            raise ValueError(f"Invalid `average` argument value {average!r}; expected one of {self._AVERAGES}.")
        if not isinstance(beta, (int, float)) or beta <= 0:
            raise ValueError(f"Invalid `beta` argument value {beta!r}; it should be a float > 0.")
        if threshold is not None and not (isinstance(threshold, (int, float)) and 0 < threshold <= 1):
            raise ValueError(f"Invalid `threshold` argument value {threshold!r}; it should be a float in ]0, 1].")
        self.average = average
        self.beta = float(beta)
        self.threshold = threshold
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        self.true_positives = self.false_positives = self.false_negatives = self.true_counts = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add this batch's weighted tp, fp, fn and true counts per class (or pooled for 'micro')."""
        y_true, y_pred = _to_numpy(y_true), _to_numpy(y_pred)
        if y_true.ndim != 2 or y_pred.ndim != 2 or y_true.shape != y_pred.shape:
            raise ValueError(f"{type(self).__name__} expects 2D inputs with shape (batch_size, output_dim): "
                             f"one-hot targets and scores; got y_true {y_true.shape} and y_pred "
                             f"{y_pred.shape}. A single sigmoid output must be shaped (batch_size, 1) "
                             "and used with threshold=0.5.")
        if self.threshold is None:
            predicted = (y_pred >= y_pred.max(axis=-1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        predicted = predicted.astype(np.float64)
        truth = y_true.astype(np.float64)
        if sample_weight is not None:
            weights = _weights_like(sample_weight, y_pred.shape, self.name)
            predicted_weighted, truth_weighted = predicted * weights, truth * weights
        else:
            predicted_weighted, truth_weighted = predicted, truth
        axis = None if self.average == "micro" else 0
        batch = (np.sum(predicted_weighted * truth, axis=axis), np.sum(predicted_weighted * (1 - truth), axis=axis),
                 np.sum((1 - predicted) * truth_weighted, axis=axis), np.sum(truth_weighted, axis=axis))
        if self.true_positives is None:
            self.true_positives, self.false_positives, self.false_negatives, self.true_counts = batch
        else:
            if np.shape(batch[0]) != np.shape(self.true_positives):
                raise ValueError(f"{self.name}: this batch has {y_pred.shape[-1]} classes, earlier batches had "
                                 f"{np.shape(self.true_positives)[0]}.")
            self.true_positives = self.true_positives + batch[0]
            self.false_positives = self.false_positives + batch[1]
            self.false_negatives = self.false_negatives + batch[2]
            self.true_counts = self.true_counts + batch[3]

    def result(self):
        if self.true_positives is None:
            return 0.0
        precision = self.true_positives / (self.true_positives + self.false_positives + EPSILON)
        recall = self.true_positives / (self.true_positives + self.false_negatives + EPSILON)
        beta2 = self.beta ** 2
        score = (1 + beta2) * precision * recall / (beta2 * precision + recall + EPSILON)
        if self.average == "weighted":
            score = np.sum(score * self.true_counts / (np.sum(self.true_counts) + EPSILON))
        elif self.average is not None:
            score = np.mean(score)
        return _as_result(score)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(average=self.average, beta=self.beta, threshold=self.threshold)
        return config


class F1Score(FBetaScore):
    """F1 score per class: 2 P R / (P + R), the F-beta score with beta = 1 (see :class:`FBetaScore`)."""

    default_name = "f1_score"

    def __init__(self, average=None, threshold=None, name=None, dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config


class AUC(Metric):
    """Area under the ROC or precision-recall curve, from confusion counts at fixed thresholds.

    Thresholds: ``num_thresholds`` evenly spaced, t_i = i / (n - 1) for i = 1..n-2, plus -1e-7
    and 1 + 1e-7 at the ends (or the given ``thresholds`` between those ends). At each threshold
    t the predictions p > t are positive, giving tp, fp, tn, fn.

    * ROC: x = FPR = fp / (fp + tn), y = TPR = tp / (tp + fn);
    * PR: x = recall = tp / (tp + fn), y = precision = tp / (tp + fp);
    * PRGAIN (Flach & Kull's precision-recall-gain curve): with the class ratio s = P / N,
      x = recall gain = max(0, 1 - s fn / tp), y = precision gain = 1 - s fp / tp
      (recall gain 0 and precision gain 1 where tp = 0, as Keras).

    ``summation_method``: 'interpolation' sums trapezoids, (x_i - x_{i+1}) (y_i + y_{i+1}) / 2
    (for PR the Davis & Goadrich interpolation of precision between thresholds); 'minoring' and
    'majoring' use min/max(y_i, y_{i+1}) as heights (Riemann sums below/above the curve).
    Predictions must be probabilities in [0, 1] (``from_logits=True`` applies a sigmoid first).
    ``multi_label=True`` keeps one curve per label (last axis) and averages their areas
    (weighted by ``label_weights`` if given).
    """

    default_name = "auc"
    # Each threshold keeps four float64 counts (per label with multi_label). The bounds keep a
    # config read from a file from allocating gigabytes; Keras' default is 200 thresholds.
    MAX_THRESHOLDS = 1_000_000
    MAX_COUNTS = 10_000_000
    _CURVES = ("ROC", "PR", "PRGAIN")
    _SUMMATIONS = ("interpolation", "minoring", "majoring")

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None,
                 dtype=None, thresholds=None, multi_label=False, num_labels=None, label_weights=None,
                 from_logits=False):
        if str(curve).upper() not in self._CURVES:
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected one of {self._CURVES}.')
        if str(summation_method).lower() not in self._SUMMATIONS:
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". '
                             f"Expected one of {self._SUMMATIONS}.")
        if thresholds is not None:
            if np.size(thresholds) > self.MAX_THRESHOLDS - 2:
                raise ValueError(f"AUC takes at most {self.MAX_THRESHOLDS - 2} thresholds; received "
                                 f"{np.size(thresholds)}.")
            inner = np.sort(_parse_thresholds(thresholds, 0.5))
            num_thresholds = len(inner) + 2
        else:
            if (not isinstance(num_thresholds, (int, np.integer)) or isinstance(num_thresholds, bool)
                    or not 1 < num_thresholds <= self.MAX_THRESHOLDS):
                raise ValueError(f"Argument `num_thresholds` must be an integer > 1 and at most "
                                 f"{self.MAX_THRESHOLDS} (the default is 200). "
                                 f"Received: num_thresholds={num_thresholds!r}")
            inner = np.arange(1, num_thresholds - 1, dtype=np.float64) / (num_thresholds - 1)
        if num_labels is not None:
            self._check_num_labels(num_labels, num_thresholds)
        self._init_from_thresholds = thresholds is not None
        self.num_thresholds = int(num_thresholds)
        self.thresholds = np.concatenate([[0.0 - EPSILON], inner, [1.0 + EPSILON]])
        self.curve = str(curve).upper()
        self.summation_method = str(summation_method).lower()
        self.multi_label = bool(multi_label)
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, dtype=np.float64)
        self.from_logits = bool(from_logits)
        super().__init__(name=name, dtype=dtype)

    def _check_num_labels(self, num_labels, num_thresholds):
        """Refuse a label count that is not a positive integer or whose counts would exceed MAX_COUNTS."""
        if (not isinstance(num_labels, (int, np.integer)) or isinstance(num_labels, bool) or num_labels < 1
                or int(num_thresholds) * int(num_labels) > self.MAX_COUNTS):
            raise ValueError(f"Argument `num_labels` must be None or an integer >= 1 with num_thresholds x "
                             f"num_labels at most {self.MAX_COUNTS}. Received: num_labels={num_labels!r} "
                             f"(num_thresholds={num_thresholds}).")

    def reset_state(self):
        shape = (self.num_thresholds, self.num_labels) if self.multi_label and self.num_labels else \
            (self.num_thresholds,)
        self.true_positives = np.zeros(shape)
        self.false_positives = np.zeros(shape)
        self.true_negatives = np.zeros(shape)
        self.false_negatives = np.zeros(shape)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add this batch's weighted confusion counts at every threshold."""
        y_true, y_pred = _aligned(y_true, y_pred, "AUC")
        y_pred = y_pred.astype(np.float64, copy=False)
        if self.from_logits:
            y_pred = sigmoid_data(y_pred)
        elif y_pred.size and (y_pred.min() < 0 or y_pred.max() > 1):
            raise ValueError(f"AUC expects probabilities in [0, 1]; got predictions in "
                             f"[{y_pred.min():.4g}, {y_pred.max():.4g}]. For logits pass from_logits=True.")
        weights = None if sample_weight is None else _weights_like(sample_weight, y_pred.shape, self.name)
        if self.label_weights is not None and not self.multi_label:
            weights = self.label_weights if weights is None else weights * self.label_weights
            weights = np.broadcast_to(weights, y_pred.shape)
        if self.multi_label:
            if y_pred.ndim != 2:
                raise ValueError(f"AUC(multi_label=True) expects inputs shaped (batch, labels); got {y_pred.shape}.")
            if self.true_positives.ndim == 1:  # the number of labels is known from the first batch
                self._check_num_labels(y_pred.shape[1], self.num_thresholds)
                self.num_labels = y_pred.shape[1]
                self.reset_state()
            elif self.true_positives.shape[1] != y_pred.shape[1]:
                raise ValueError(f"AUC: {y_pred.shape[1]} labels in this batch, {self.true_positives.shape[1]} "
                                 "before (num_labels).")
        counts = _confusion_counts(y_true, y_pred, self.thresholds, weights, per_label=self.multi_label)
        self.true_positives += counts[0]
        self.false_positives += counts[1]
        self.true_negatives += counts[2]
        self.false_negatives += counts[3]

    def _interpolated_pr_area(self):
        """Davis & Goadrich PR area: precision interpolated linearly in the number of positives between thresholds."""
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        predicted = tp + fp
        dp = predicted[:-1] - predicted[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * predicted[1:]
        both_positive = (predicted[:-1] > 0) & (predicted[1:] > 0)
        ratio = np.where(both_positive, _divide_no_nan(predicted[:-1], np.maximum(predicted[1:], 0)), 1.0)
        with np.errstate(divide="ignore"):
            log_ratio = np.log(np.where(ratio > 0, ratio, 1.0))
        return _divide_no_nan(slope * (dtp + intercept * log_ratio), np.maximum(tp[1:] + fn[1:], 0)).sum(axis=0)

    def result(self):
        if self.curve == "PR" and self.summation_method == "interpolation":
            areas = self._interpolated_pr_area()
        else:
            tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
            recall = _divide_no_nan(tp, tp + fn)
            if self.curve == "ROC":
                x, y = _divide_no_nan(fp, fp + tn), recall
            elif self.curve == "PR":
                x, y = recall, _divide_no_nan(tp, tp + fp)
            else:
                x, y = _precision_recall_gains(tp, fp, tn, fn)
            if self.summation_method == "interpolation":
                heights = (y[:-1] + y[1:]) / 2.0
            elif self.summation_method == "minoring":
                heights = np.minimum(y[:-1], y[1:])
            else:
                heights = np.maximum(y[:-1], y[1:])
            areas = ((x[:-1] - x[1:]) * heights).sum(axis=0)
        if self.multi_label:
            if self.label_weights is None:
                return float(np.mean(areas))
            return float(_divide_no_nan(np.sum(areas * self.label_weights), np.sum(self.label_weights)))
        return float(areas)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(num_thresholds=self.num_thresholds, curve=self.curve,
                      summation_method=self.summation_method, multi_label=self.multi_label,
                      num_labels=self.num_labels, from_logits=self.from_logits,
                      label_weights=None if self.label_weights is None else self.label_weights.tolist(),
                      thresholds=self.thresholds[1:-1].tolist() if self._init_from_thresholds else None)
        return config


def _precision_recall_gains(tp, fp, tn, fn):
    """Recall gain and precision gain at each threshold (see :class:`AUC`'s 'PRGAIN' curve)."""
    scale = _divide_no_nan(tp + fn, tn + fp)
    recall_gain = np.where(tp == 0, 0.0, 1.0 - scale * _divide_no_nan(fn, tp))
    precision_gain = np.where(tp == 0, 1.0, 1.0 - scale * _divide_no_nan(fp, tp))
    return np.maximum(recall_gain, 0.0), precision_gain


class R2Score(Metric):
    """Coefficient of determination per output: R^2 = 1 - SS_res / SS_tot.

    SS_res = sum_i w_i (y_i - p_i)^2 and SS_tot = sum_i w_i (y_i - mean_w(y))^2 are accumulated
    as sum(w y), sum(w y^2), sum(w (y - p)^2) and sum(w) (SS_tot = sum(w y^2) - sum(w y)^2 / sum(w)).
    ``class_aggregation``: 'uniform_average' (mean over outputs), 'variance_weighted_average'
    (weighted by SS_tot) or None (one score per output). ``num_regressors`` p > 0 gives the
    adjusted R^2 = 1 - (1 - R^2)(n - 1)/(n - p - 1). A constant target (SS_tot = 0) scores 0.
    """

    default_name = "r2_score"
    _AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name=None, dtype=None):
        if class_aggregation not in self._AGGREGATIONS:
            raise ValueError(f"Invalid value for argument `class_aggregation`: {class_aggregation!r}; "
                             f"expected one of {self._AGGREGATIONS}.")
        if not isinstance(num_regressors, (int, np.integer)) or num_regressors < 0:
            raise ValueError(f"Invalid value for argument `num_regressors`: {num_regressors!r}; "
                             "expected an integer >= 0.")
        self.class_aggregation = class_aggregation
        self.num_regressors = int(num_regressors)
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        self.sum = self.squared_sum = self.total_mse = self.count = None
        self.num_samples = 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add sum(w y), sum(w y^2), sum(w (y - p)^2) and sum(w) per output column."""
        y_true, y_pred = _aligned(y_true, y_pred, "R2Score")
        if y_true.ndim == 1:
            y_true, y_pred = y_true[:, None], y_pred[:, None]
        if y_true.ndim != 2:
            raise ValueError(f"R2Score expects 2D inputs with shape (batch_size, output_dim); got {y_true.shape}.")
        y_true = y_true.astype(np.float64, copy=False)
        weights = np.ones_like(y_true) if sample_weight is None else \
            _weights_like(sample_weight, y_true.shape, self.name)
        batch = ((weights * y_true).sum(axis=0), (weights * y_true * y_true).sum(axis=0),
                 (weights * np.square(y_true - y_pred)).sum(axis=0), weights.sum(axis=0))
        if self.sum is None:
            self.sum, self.squared_sum, self.total_mse, self.count = batch
        else:
            if batch[0].shape != self.sum.shape:
                raise ValueError(f"R2Score: {batch[0].shape[0]} outputs in this batch, {self.sum.shape[0]} before.")
            self.sum = self.sum + batch[0]
            self.squared_sum = self.squared_sum + batch[1]
            self.total_mse = self.total_mse + batch[2]
            self.count = self.count + batch[3]
        self.num_samples += y_true.shape[0]

    def result(self):
        if self.sum is None:
            return 0.0
        total = self.squared_sum - self.sum * _divide_no_nan(self.sum, self.count)
        with np.errstate(divide="ignore", invalid="ignore"):
            raw_scores = 1.0 - self.total_mse / total
        raw_scores = np.where(np.isinf(raw_scores), 0.0, raw_scores)
        if self.class_aggregation == "uniform_average":
            score = np.mean(raw_scores)
        elif self.class_aggregation == "variance_weighted_average":
            score = np.sum(total * raw_scores) / np.sum(total)
        else:
            score = raw_scores
        n, p = self.num_samples, self.num_regressors
        if p:
            if p >= n - 1:
                warnings.warn(f"More independent predictors ({p}) than datapoints ({n}) allow for an adjusted "
                              "R^2; returning the plain R^2. Consider using `num_regressors=0`.", stacklevel=2)
            else:
                score = 1.0 - (1.0 - score) * (n - 1) / (n - p - 1)
        return _as_result(score)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(class_aggregation=self.class_aggregation, num_regressors=self.num_regressors)
        return config


# --------------------------------------------------------------------------- identifiers

_CLASSES = (Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
            TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, Precision, Recall, FBetaScore, F1Score,
            AUC, MeanSquaredError, MeanAbsoluteError, RootMeanSquaredError, R2Score, BinaryCrossentropy,
            CategoricalCrossentropy, SparseCategoricalCrossentropy)

_ACCURACY_NAMES = ("accuracy", "acc")
_CROSSENTROPY_NAMES = ("crossentropy", "ce")
# Keras' names of metrics that average a loss function over the samples: the metric class when
# this module has it, else the function (get() wraps it in a MeanMetricWrapper, as Keras' class does)
_KERAS_MEAN_METRICS = {
    "mape": ("MeanAbsolutePercentageError", _losses.mean_absolute_percentage_error),
    "mean_absolute_percentage_error": ("MeanAbsolutePercentageError", _losses.mean_absolute_percentage_error),
    "msle": ("MeanSquaredLogarithmicError", _losses.mean_squared_logarithmic_error),
    "mean_squared_logarithmic_error": ("MeanSquaredLogarithmicError", _losses.mean_squared_logarithmic_error),
    "kl_divergence": ("KLDivergence", _losses.kl_divergence), "poisson": ("Poisson", _losses.poisson),
    "log_cosh_error": ("LogCoshError", _losses.log_cosh), "hinge": ("Hinge", _losses.hinge),
    "squared_hinge": ("SquaredHinge", _losses.squared_hinge),
    "categorical_hinge": ("CategoricalHinge", _losses.categorical_hinge),
}


def _keras_snake_case(name):
    """Keras' to_snake_case: 'FBetaScore' -> 'f_beta_score', 'AUC' -> 'auc'."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


_REGISTRY = Registry("metric", Metric, {
    **{alias: globals().get(class_name, fn) for alias, (class_name, fn) in _KERAS_MEAN_METRICS.items()},
    "MAPE": globals().get("MeanAbsolutePercentageError", _losses.mean_absolute_percentage_error),
    "MSLE": globals().get("MeanSquaredLogarithmicError", _losses.mean_squared_logarithmic_error),
    **{_keras_snake_case(cls.__name__): cls for cls in _CLASSES},
    **{cls.__name__: cls for cls in _CLASSES}, **{cls().name: cls for cls in _CLASSES},
    "acc": Accuracy, "mse": MeanSquaredError, "MSE": MeanSquaredError, "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError, "rmse": RootMeanSquaredError, "bce": BinaryCrossentropy,
    "BCE": BinaryCrossentropy, "f1": F1Score,
}, hint="or pass a Metric object or a function fn(y_true, y_pred) returning one value per sample",
    fold_case=True)


def names() -> list:
    """Every string :func:`get` and :func:`resolve` accept."""
    return sorted(set(_REGISTRY.names()) | set(_CROSSENTROPY_NAMES), key=str.lower)


def get(identifier):
    """A metric object for ``identifier``.

    A name ('mse', 'precision', 'AUC', ...) gives a new metric of that class with its default
    arguments; a Metric is returned as is; a Metric class is instantiated; a dict
    ``{'class_name': ..., 'config': {...}}`` is deserialized; any other callable
    ``fn(y_true, y_pred)`` returning per-sample values is wrapped in a
    :class:`MeanMetricWrapper` named after the function. None gives None. Unknown names raise
    ValueError naming the closest valid one. Note: 'accuracy' here is exact-match
    :class:`Accuracy`, as in Keras; :func:`resolve` applies the compile-time meaning.
    """
    metric = _REGISTRY.get(identifier)
    if metric is None or isinstance(metric, Metric):
        return metric
    return MeanMetricWrapper(metric)


def serialize(metric) -> dict:
    """``{'class_name': ..., 'config': metric.get_config()}`` (JSON-able for built-in metrics)."""
    return _REGISTRY.serialize(get(metric))


def deserialize(config: dict):
    """The metric described by :func:`serialize`'s dict."""
    if not isinstance(config, dict):
        raise _REGISTRY.not_understood(config)
    return _REGISTRY.deserialize(config)


def check(spec):
    """Interpret every metric identifier of a ``compile(metrics=...)`` argument now.

    ``spec`` is one identifier, a list (per output, lists of lists) or a dict by output
    name. Unknown names raise ValueError naming the closest valid one, and config dicts are
    built (their arguments validated) at compile time rather than at the first batch.
    """
    def visit(identifier):
        if not (isinstance(identifier, str) and identifier.lower() in _ACCURACY_NAMES + _CROSSENTROPY_NAMES):
            get(identifier)

    each_identifier(spec, visit)


def _loss_name(loss) -> str:
    """A lower-case name for a loss given as a string, a loss object or a function ('' if none)."""
    if loss is None:
        return ""
    if isinstance(loss, str):
        name = loss
    else:
        name = getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__
        if not isinstance(name, str):
            name = type(loss).__name__
    name = name.lower().replace("_", "")
    return {"bce": "binarycrossentropy", "cce": "categoricalcrossentropy",
            "scce": "sparsecategoricalcrossentropy"}.get(name, name)


def _classification_kind(loss, output_shape, target_shape, identifier) -> str:
    """'binary', 'categorical' or 'sparse_categorical' for 'accuracy'/'crossentropy' (Keras' compile rules).

    1. From the loss: binary_crossentropy -> binary; sparse_categorical_crossentropy -> sparse;
       categorical_crossentropy -> categorical (focal variants alike).
    2. Otherwise from the shapes: an output whose last axis is 1 (or a 1-D output) -> binary;
       else integer targets (one axis fewer than the output, or a last axis of 1) -> sparse;
       else (one-hot targets, or targets not known) -> categorical.
    """
    name = _loss_name(loss)
    if "sparsecategorical" in name:
        return "sparse_categorical"
    if "categorical" in name:
        return "categorical"
    if "binary" in name:
        return "binary"
    if output_shape is None:
        raise ValueError(f"cannot tell which {identifier!r} to use: the loss {loss!r} is not a cross-entropy "
                         "and no output_shape was given. Pass output_shape (and target_shape), or name the "
                         "metric: 'binary_accuracy', 'categorical_accuracy' or 'sparse_categorical_accuracy'.")
    output_shape = tuple(output_shape)
    if len(output_shape) <= 1 or output_shape[-1] == 1:
        return "binary"
    if target_shape is not None:
        target_shape = tuple(target_shape)
        if len(target_shape) < len(output_shape) or target_shape[-1] == 1:
            return "sparse_categorical"
    return "categorical"


def resolve(identifier, loss=None, output_shape=None, target_shape=None):
    """The metric object ``model.compile(metrics=[identifier])`` means, named as the user typed it.

    'accuracy'/'acc' and 'crossentropy'/'ce' depend on the task (see ``_classification_kind``):
    binary -> BinaryAccuracy / BinaryCrossentropy, categorical -> CategoricalAccuracy /
    CategoricalCrossentropy, sparse -> SparseCategoricalAccuracy / SparseCategoricalCrossentropy.
    ``loss`` is the compiled loss (name, object or function); ``output_shape`` and
    ``target_shape`` are shapes of one output and its targets (batch axis included or not, only
    the ranks and last axes matter). A loss object with ``from_logits=True`` gives the
    cross-entropy metric ``from_logits=True`` and binary accuracy threshold 0 (sigmoid(z) > 0.5
    exactly when z > 0). Any other identifier goes through :func:`get`.

    A string identifier becomes the metric's name: ``metrics=['acc']`` is logged as 'acc',
    ``metrics=['mse']`` as 'mse' (Keras 3 behaviour).
    """
    if isinstance(identifier, str) and identifier.lower() in _ACCURACY_NAMES + _CROSSENTROPY_NAMES:
        kind = _classification_kind(loss, output_shape, target_shape, identifier)
        from_logits = bool(getattr(loss, "from_logits", False))
        if identifier.lower() in _ACCURACY_NAMES:
            cls = {"binary": BinaryAccuracy, "categorical": CategoricalAccuracy,
                   "sparse_categorical": SparseCategoricalAccuracy}[kind]
            kwargs = {"threshold": 0.0} if kind == "binary" and from_logits else {}
        else:
            cls = {"binary": BinaryCrossentropy, "categorical": CategoricalCrossentropy,
                   "sparse_categorical": SparseCategoricalCrossentropy}[kind]
            kwargs = {"from_logits": from_logits}
        return cls(name=identifier, **kwargs)
    metric = get(identifier)
    if isinstance(identifier, str):
        metric.name = identifier
    return metric


# --------------------------------------------------------------------------- Keras metrics added later
# (confusion counts at thresholds, sensitivity/specificity and precision/recall trade-offs, and
# the metric forms of the regression, probabilistic and hinge losses)

def _confusion_inputs(metric, y_true, y_pred, sample_weight, class_id=None):
    """Aligned y_true, y_pred (one column with ``class_id``) and weights broadcast to them, or None."""
    y_true, y_pred = _aligned(y_true, y_pred, type(metric).__name__)
    if class_id is not None:
        if y_pred.ndim < 2 or class_id >= y_pred.shape[-1]:
            raise ValueError(f"{metric.name}: class_id={class_id} selects a column of predictions shaped "
                             f"(batch, classes); got predictions of shape {y_pred.shape}.")
        y_true, y_pred = y_true[..., class_id], y_pred[..., class_id]
    weights = None if sample_weight is None else _weights_like(sample_weight, y_pred.shape, metric.name)
    return y_true, y_pred.astype(np.float64, copy=False), weights


class _ConfusionMatrixConditionCount(Metric):
    """One weighted confusion count at each threshold, summed over batches (a prediction p is
    positive at threshold t when p > t; ``thresholds`` default 0.5, a list gives one count each)."""

    _which = 0  # index into _confusion_counts' (tp, fp, tn, fn)

    def __init__(self, thresholds=None, name=None, dtype=None):
        self.init_thresholds = thresholds
        self.thresholds = _parse_thresholds(thresholds, 0.5)
        self._order = np.argsort(self.thresholds, kind="stable")
        self._unsort = np.argsort(self._order)
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        self.accumulator = np.zeros(len(self.thresholds))

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add this batch's weighted count at every threshold."""
        y_true, y_pred, weights = _confusion_inputs(self, y_true, y_pred, sample_weight)
        counts = _confusion_counts(y_true, y_pred, self.thresholds[self._order], weights)
        self.accumulator += counts[self._which][self._unsort]

    def result(self):
        return float(self.accumulator[0]) if len(self.thresholds) == 1 else self.accumulator.copy()

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(thresholds=self.init_thresholds)
        return config


class TruePositives(_ConfusionMatrixConditionCount):
    """Weighted number of true positives: sum of w over samples with y = 1 and p > threshold."""

    default_name = "true_positives"
    _which = 0


class FalsePositives(_ConfusionMatrixConditionCount):
    """Weighted number of false positives: sum of w over samples with y = 0 and p > threshold."""

    default_name = "false_positives"
    _which = 1


class TrueNegatives(_ConfusionMatrixConditionCount):
    """Weighted number of true negatives: sum of w over samples with y = 0 and p <= threshold."""

    default_name = "true_negatives"
    _which = 2


class FalseNegatives(_ConfusionMatrixConditionCount):
    """Weighted number of false negatives: sum of w over samples with y = 1 and p <= threshold."""

    default_name = "false_negatives"
    _which = 3


class _SensitivitySpecificityBase(Metric):
    """tp, fp, tn, fn at ``num_thresholds`` thresholds t_i = i / (n - 1), i = 0..n-1 (0.5 alone for n = 1).

    The result is the best ``dependent`` rate over the thresholds whose ``constrained`` rate is
    at least ``value`` (0 when none is): max_i { dependent_i : constrained_i >= value }, Keras'
    ``_find_max_under_constraint``. ``class_id`` measures one column of a multi-label output.
    """

    _value_name = "value"

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        if not isinstance(value, numbers.Real) or not 0 <= value <= 1:
            raise ValueError(f"Argument `{self._value_name}` must be in the range [0, 1]. "
                             f"Received: {self._value_name}={value!r}")
        if (not isinstance(num_thresholds, (int, np.integer)) or isinstance(num_thresholds, bool)
                or not 0 < num_thresholds <= AUC.MAX_THRESHOLDS):
            raise ValueError(f"Argument `num_thresholds` must be an integer > 0 (at most {AUC.MAX_THRESHOLDS}). "
                             f"Received: num_thresholds={num_thresholds!r}")
        if class_id is not None and (not isinstance(class_id, (int, np.integer)) or class_id < 0):
            raise ValueError(f"class_id must be an integer >= 0 or None; got {class_id!r}.")
        self.value = float(value)
        self.num_thresholds = int(num_thresholds)
        self.class_id = class_id
        self.thresholds = np.array([0.5]) if num_thresholds == 1 else \
            np.arange(num_thresholds, dtype=np.float64) / (num_thresholds - 1)
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        size = len(self.thresholds)
        self.true_positives = np.zeros(size)
        self.false_positives = np.zeros(size)
        self.true_negatives = np.zeros(size)
        self.false_negatives = np.zeros(size)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add this batch's weighted tp, fp, tn, fn at every threshold."""
        y_true, y_pred, weights = _confusion_inputs(self, y_true, y_pred, sample_weight, self.class_id)
        tp, fp, tn, fn = _confusion_counts(y_true, y_pred, self.thresholds, weights)
        self.true_positives += tp
        self.false_positives += fp
        self.true_negatives += tn
        self.false_negatives += fn

    def _rates(self):
        """(sensitivity = recall, specificity, precision) at every threshold."""
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        return _divide_no_nan(tp, tp + fn), _divide_no_nan(tn, tn + fp), _divide_no_nan(tp, tp + fp)

    def _max_under_constraint(self, constrained, dependent):
        return float(np.max(np.where(constrained >= self.value, dependent, 0.0), initial=0.0))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({self._value_name: self.value, "num_thresholds": self.num_thresholds,
                       "class_id": self.class_id})
        return config


class SensitivityAtSpecificity(_SensitivitySpecificityBase):
    """Best sensitivity tp / (tp + fn) over the thresholds whose specificity tn / (tn + fp) >= ``specificity``."""

    default_name = "sensitivity_at_specificity"
    _value_name = "specificity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    def result(self):
        sensitivity, specificity, _ = self._rates()
        return self._max_under_constraint(specificity, sensitivity)


class SpecificityAtSensitivity(_SensitivitySpecificityBase):
    """Best specificity tn / (tn + fp) over the thresholds whose sensitivity tp / (tp + fn) >= ``sensitivity``."""

    default_name = "specificity_at_sensitivity"
    _value_name = "sensitivity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    def result(self):
        sensitivity, specificity, _ = self._rates()
        return self._max_under_constraint(sensitivity, specificity)


class PrecisionAtRecall(_SensitivitySpecificityBase):
    """Best precision tp / (tp + fp) over the thresholds whose recall tp / (tp + fn) >= ``recall``."""

    default_name = "precision_at_recall"
    _value_name = "recall"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def result(self):
        recall, _, precision = self._rates()
        return self._max_under_constraint(recall, precision)


class RecallAtPrecision(_SensitivitySpecificityBase):
    """Best recall tp / (tp + fn) over the thresholds whose precision tp / (tp + fp) >= ``precision``
    (0 when no threshold reaches that precision)."""

    default_name = "recall_at_precision"
    _value_name = "precision"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def result(self):
        recall, _, precision = self._rates()
        return self._max_under_constraint(precision, recall)


def _loss_metric(loss_fn, what, sign=1.0, **fixed):
    """A per-sample metric function from a :mod:`deepgrad.losses` function (y_true shaped like y_pred)."""
    def fn(y_true, y_pred, **kwargs):
        return sign * _loss_values(loss_fn, *_aligned(y_true, y_pred, what), **fixed, **kwargs)

    fn.__name__ = what
    fn.__doc__ = f"{what} per sample ({sign:+g} x :func:`deepgrad.losses.{loss_fn.__name__}`)."
    return fn


mean_absolute_percentage_error = _loss_metric(_losses.mean_absolute_percentage_error,
                                              "mean_absolute_percentage_error")
mean_squared_logarithmic_error = _loss_metric(_losses.mean_squared_logarithmic_error,
                                              "mean_squared_logarithmic_error")
log_cosh = _loss_metric(_losses.log_cosh, "logcosh")
kl_divergence = _loss_metric(_losses.kl_divergence, "kl_divergence")
poisson = _loss_metric(_losses.poisson, "poisson")
hinge = _loss_metric(_losses.hinge, "hinge")
squared_hinge = _loss_metric(_losses.squared_hinge, "squared_hinge")
categorical_hinge = _loss_metric(_losses.categorical_hinge, "categorical_hinge")


def cosine_similarity(y_true, y_pred, axis=-1) -> np.ndarray:
    """Cosine similarity per sample, sum(y_true / ||y_true|| * y_pred / ||y_pred||) along ``axis``
    (the negative of :func:`deepgrad.losses.cosine_similarity`; 1 for the same direction)."""
    y_true, y_pred = _aligned(y_true, y_pred, "cosine_similarity")
    if y_pred.ndim == 1:
        y_true, y_pred = y_true[:, None], y_pred[:, None]
    with no_grad():
        values = _losses.cosine_similarity(y_true, Tensor(y_pred), axis=axis)
    return -_to_numpy(values.data)


class _LossMetric(MeanMetricWrapper):
    """A MeanMetricWrapper around one of the functions above, computed in the metric's dtype."""

    _in_metric_dtype = True
    _function = None

    def __init__(self, name=None, dtype=None):
        super().__init__(type(self)._function, name=name or self.default_name, dtype=dtype)


class MeanAbsolutePercentageError(_LossMetric):
    """Mean over samples of 100 mean_c |y - p| / max(|y|, 1e-7)."""

    default_name = "mean_absolute_percentage_error"
    _function = mean_absolute_percentage_error


class MeanSquaredLogarithmicError(_LossMetric):
    """Mean over samples of mean_c (ln(1 + max(p, 1e-7)) - ln(1 + max(y, 1e-7)))^2."""

    default_name = "mean_squared_logarithmic_error"
    _function = mean_squared_logarithmic_error


class LogCoshError(_LossMetric):
    """Mean over samples of mean_c ln(cosh(p - y))."""

    default_name = "logcosh"
    _function = log_cosh


class KLDivergence(_LossMetric):
    """Mean over samples of sum_c y_c ln(y_c / p_c), y and p clipped to [1e-7, 1]."""

    default_name = "kl_divergence"
    _function = kl_divergence


class Poisson(_LossMetric):
    """Mean over samples of mean_c (p - y ln(p + 1e-7))."""

    default_name = "poisson"
    _function = poisson


class Hinge(_LossMetric):
    """Mean over samples of mean_c max(0, 1 - y p), labels in {-1, 1} ({0, 1} mapped by y -> 2y - 1)."""

    default_name = "hinge"
    _function = hinge


class SquaredHinge(_LossMetric):
    """Mean over samples of mean_c max(0, 1 - y p)^2, labels in {-1, 1} ({0, 1} mapped by y -> 2y - 1)."""

    default_name = "squared_hinge"
    _function = squared_hinge


class CategoricalHinge(_LossMetric):
    """Mean over samples of max(0, 1 + max_{j != c} p_j - p_c) for one-hot targets of class c."""

    default_name = "categorical_hinge"
    _function = categorical_hinge


class CosineSimilarity(MeanMetricWrapper):
    """Mean over samples of the cosine similarity of y_true and y_pred along ``axis`` (in [-1, 1])."""

    _in_metric_dtype = True

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(cosine_similarity, name=name, dtype=dtype, axis=axis)


_ADDED_CLASSES = (MeanAbsolutePercentageError, MeanSquaredLogarithmicError, LogCoshError, KLDivergence,
                  Poisson, Hinge, SquaredHinge, CategoricalHinge, CosineSimilarity, TruePositives,
                  FalsePositives, TrueNegatives, FalseNegatives)
_REGISTRY.entries.update({**{cls.__name__: cls for cls in _ADDED_CLASSES},
                          **{cls().name: cls for cls in _ADDED_CLASSES},
                          **{cls.__name__: cls for cls in (SensitivityAtSpecificity, SpecificityAtSensitivity,
                                                           PrecisionAtRecall, RecallAtPrecision)}})
