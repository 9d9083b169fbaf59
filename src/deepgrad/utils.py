"""Utilities of the Keras ``keras.utils`` namespace.

:class:`PyDataset`; sequence and label preparation (:func:`pad_sequences`,
:func:`to_categorical`); forecasting windows (:func:`timeseries_dataset_from_array`);
:func:`split_dataset` and :func:`set_random_seed`. This module imports only NumPy at
module level (the data adapter imports it), so ``import deepgrad`` stays light.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PyDataset", "pack_x_y_sample_weight", "pad_sequences", "set_random_seed", "split_dataset",
           "timeseries_dataset_from_array", "to_categorical", "unpack_x_y_sample_weight"]


class PyDataset:
    """Base class for a dataset that hands out whole batches by index (Keras 3's ``keras.utils.PyDataset``).

    Subclasses implement ``__len__`` (the number of batches per epoch) and
    ``__getitem__(index)`` returning ``x``, ``(x, y)`` or ``(x, y, sample_weight)`` for
    batch ``index``; they may override ``on_epoch_begin``/``on_epoch_end`` (called around
    every epoch, e.g. to reshuffle). ``workers``, ``use_multiprocessing`` and
    ``max_queue_size`` are accepted for Keras compatibility; deepgrad loads batches
    sequentially in the training process.

    >>> class Squares(PyDataset):
    ...     def __init__(self, **kwargs):
    ...         super().__init__(**kwargs)
    ...     def __len__(self):
    ...         return 4
    ...     def __getitem__(self, index):
    ...         x = np.arange(8.0).reshape(4, 2) + index
    ...         return x, x ** 2
    >>> len(Squares())
    4
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        for name, value in (("workers", workers), ("max_queue_size", max_queue_size)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"PyDataset: {name} must be a positive integer, got {value!r}.")
        self._workers = int(workers)
        self._use_multiprocessing = bool(use_multiprocessing)
        self._max_queue_size = int(max_queue_size)

    @property
    def workers(self) -> int:
        """Number of loading workers requested (batches are loaded sequentially all the same)."""
        return getattr(self, "_workers", 1)

    @property
    def use_multiprocessing(self) -> bool:
        """Whether process workers were requested (accepted for Keras compatibility)."""
        return getattr(self, "_use_multiprocessing", False)

    @property
    def max_queue_size(self) -> int:
        """Prefetch queue length requested (accepted for Keras compatibility)."""
        return getattr(self, "_max_queue_size", 10)

    @property
    def num_batches(self):
        """Batches per epoch: ``len(self)``, or None when ``__len__`` is not implemented."""
        try:
            return len(self)
        except (NotImplementedError, TypeError):
            return None

    def __getitem__(self, index):
        """Batch ``index``: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index).")

    def __len__(self):
        """Number of batches in one epoch."""
        raise NotImplementedError(f"{type(self).__name__} must implement __len__().")

    def on_epoch_begin(self):
        """Called at the start of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not understood; use one of {', '.join(map(repr, choices))}.")


def _sequence_lengths(sequences):
    """The length of each sequence, and the shape of one step (from the first non-empty sequence)."""
    lengths, sample_shape = [], None
    for index, seq in enumerate(sequences):
        if not hasattr(seq, "__len__") or isinstance(seq, (str, bytes)):
            raise ValueError(f"pad_sequences: `sequences` must be a list of sequences; element {index} is "
                             f"{seq!r}.")
        lengths.append(len(seq))
        if sample_shape is None and len(seq):
            sample_shape = tuple(np.asarray(seq).shape[1:])
    return lengths, sample_shape or ()


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pad (and cut) a list of sequences to one length: Keras' ``keras.utils.pad_sequences``.

    Returns an array of shape ``(len(sequences), maxlen) + sample_shape`` (the shape of
    one step, taken from the first non-empty sequence) filled with ``value``; each
    sequence longer than ``maxlen`` (default: the longest) keeps its last ``maxlen``
    steps (``truncating='pre'``) or its first (``'post'``), and is placed at the end of
    its row (``padding='pre'``) or at the start (``'post'``). Empty sequences give rows
    of ``value``. Strings need ``dtype=object`` (or a str dtype).

    >>> pad_sequences([[1], [2, 3], [4, 5, 6]]).tolist()
    [[0, 0, 1], [0, 2, 3], [4, 5, 6]]
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"pad_sequences: `sequences` must be a list of sequences, got {type(sequences).__name__}.")
    _check_choice("padding", padding, ("pre", "post"))
    _check_choice("truncating", truncating, ("pre", "post"))
    lengths, sample_shape = _sequence_lengths(sequences)
    if maxlen is None:
        maxlen = max(lengths, default=0)
    elif not isinstance(maxlen, (int, np.integer)) or isinstance(maxlen, bool) or maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be a non-negative integer or None, got {maxlen!r}.")
    is_text = np.dtype(dtype).kind in "OUS"
    if isinstance(value, str) and not is_text:
        raise ValueError(f"pad_sequences: dtype {dtype!r} cannot hold the padding value {value!r}; "
                         "use dtype=object for variable length strings.")
    out = np.full((len(lengths), maxlen) + sample_shape, value, dtype=dtype)
    if maxlen == 0:
        return out
    for index, seq in enumerate(sequences):
        if not len(seq):
            continue
        kept = np.asarray(seq[-maxlen:] if truncating == "pre" else seq[:maxlen], dtype=dtype)
        if kept.shape[1:] != sample_shape:
            raise ValueError(f"pad_sequences: the steps of sequence {index} have shape {kept.shape[1:]}, "
                             f"unlike the first non-empty sequence's {sample_shape}.")
        if padding == "post":
            out[index, :len(kept)] = kept
        else:
            out[index, -len(kept):] = kept
    return out


def to_categorical(x, num_classes=None):
    """One-hot rows of class ids: Keras' ``keras.utils.to_categorical``.

    ``x`` holds integer class ids 0..num_classes-1 (any shape; a trailing axis of size
    1 is dropped, as Keras does); ``num_classes`` defaults to max(x) + 1. Returns a
    float64 array of shape ``x.shape + (num_classes,)`` with out[..., x] = 1. Ids
    outside 0..num_classes-1 are a ``ValueError`` (not wrapped around).

    >>> to_categorical([0, 2], num_classes=3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    ids = np.asarray(x)
    if ids.dtype.kind == "f" and np.array_equal(ids, np.round(ids)):
        ids = ids.astype(np.int64)
    if ids.dtype.kind not in "iub":
        raise ValueError(f"to_categorical expects integer class ids, got dtype {ids.dtype}.")
    ids = ids.astype(np.int64)
    shape = ids.shape[:-1] if ids.ndim > 1 and ids.shape[-1] == 1 else ids.shape
    if num_classes is None:
        num_classes = int(ids.max()) + 1 if ids.size else 0
    if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
        raise ValueError(f"to_categorical: class ids span {ids.min()}..{ids.max()}, outside 0..{num_classes - 1} "
                         f"for num_classes={num_classes}.")
    flat = ids.reshape(-1)
    out = np.zeros((flat.size, num_classes))
    out[np.arange(flat.size), flat] = 1.0
    return out.reshape(tuple(shape) + (num_classes,))


def _positive_int(name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"timeseries_dataset_from_array: {name} must be a positive integer, got {value!r}.")
    return int(value)


class TimeseriesDataset(PyDataset):
    """Batches of sliding windows over a series, made by :func:`timeseries_dataset_from_array`.

    Batch ``i`` is ``x`` of shape (batch, sequence_length) + data.shape[1:], or
    ``(x, y)`` when targets were given; iterating yields the batches in order.
    """

    def __init__(self, data, targets, starts, sequence_length, sampling_rate, batch_size, order_rng):
        super().__init__()
        self.data, self.targets, self.starts = data, targets, starts
        self._offsets = np.arange(sequence_length) * sampling_rate
        self.batch_size = batch_size
        self._rng = order_rng

    def __len__(self):
        if self.batch_size is None:
            return len(self.starts)
        return -(-len(self.starts) // self.batch_size)

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"batch {index} of a dataset of {len(self)} batches")
        index %= len(self)
        size = self.batch_size or 1
        starts = self.starts[index * size:(index + 1) * size]
        x = self.data[starts[:, None] + self._offsets]
        out = x if self.targets is None else (x, self.targets[starts])
        if self.batch_size is None:  # one window, no batch axis
            return out[0] if self.targets is None else (out[0][0], out[1][0])
        return out

    def on_epoch_end(self):
        """Reshuffle the windows when ``shuffle=True`` (a fresh order each epoch, from the seeded generator)."""
        if self._rng is not None:
            self._rng.shuffle(self.starts)


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1,
                                  batch_size=128, shuffle=False, seed=None, start_index=None, end_index=None):
    """Sliding windows over a time series for forecasting: Keras' ``keras.utils.timeseries_dataset_from_array``.

    Window ``k`` starts at step s_k = start_index + k * sequence_stride and holds the
    steps s_k, s_k + sampling_rate, ..., s_k + (sequence_length - 1) * sampling_rate
    of ``data`` (only steps in [start_index, end_index) are used, end_index defaulting to
    ``len(data)``); its target is ``targets[s_k]`` (for forecasting ``h`` steps after a
    window, pass ``data[:-(sequence_length + h - 1)]`` and ``targets =
    data[sequence_length + h - 1:]``). ``data`` and ``targets`` have the same length;
    windows that would run past ``end_index`` are not made. With ``shuffle``, the
    windows come in a random order (``seed`` makes it repeatable, else deepgrad's seeded
    generator is used; reshuffled each epoch). Returns a :class:`PyDataset` of batches
    of ``batch_size`` windows (None: single windows), usable by ``fit``, ``evaluate`` and
    ``predict``, and iterable.
    """
    data = np.asarray(data)
    sequence_length = _positive_int("sequence_length", sequence_length)
    sequence_stride = _positive_int("sequence_stride", sequence_stride)
    sampling_rate = _positive_int("sampling_rate", sampling_rate)
    if batch_size is not None:
        batch_size = _positive_int("batch_size", batch_size)
    if targets is not None:
        targets = np.asarray(targets)
        if len(targets) != len(data):
            raise ValueError(f"timeseries_dataset_from_array: data and targets must have the same number of time "
                             f"steps, got {len(data)} and {len(targets)}.")
    start = 0 if start_index is None else start_index
    end = len(data) if end_index is None else end_index
    if not 0 <= start < max(len(data), 1) or not start < end <= len(data):
        raise ValueError(f"timeseries_dataset_from_array: need 0 <= start_index < end_index <= len(data) = "
                         f"{len(data)}, got start_index={start_index!r}, end_index={end_index!r}.")
    count = max(end - start - (sequence_length - 1) * sampling_rate, 0)
    starts = start + np.arange(0, count, sequence_stride, dtype=np.int64)
    rng = None
    if shuffle:
        from .backend import new_generator

        rng = new_generator(seed)
        rng.shuffle(starts)
    return TimeseriesDataset(data, targets, starts, sequence_length, sampling_rate, batch_size, rng)


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """Split arrays into two parts: Keras' ``keras.utils.split_dataset`` for NumPy data.

    ``dataset`` is an array, or a tuple/list of arrays of the same length (e.g.
    ``(x, y)``), split along the first axis. ``left_size``/``right_size`` are fractions in
    (0, 1) or counts; given one, the other is the rest; their sum may not exceed the
    length. Returns ``(left, right)`` in the structure of ``dataset``; with ``shuffle``
    the samples are drawn in a random order (``seed`` makes it repeatable, else
    deepgrad's seeded generator is used).
    """
    arrays = [np.asarray(a) for a in dataset] if isinstance(dataset, (tuple, list)) else [np.asarray(dataset)]
    total = len(arrays[0])
    if any(len(a) != total for a in arrays):
        raise ValueError(f"split_dataset: the arrays have different lengths {[len(a) for a in arrays]}.")
    if left_size is None and right_size is None:
        raise ValueError("split_dataset: give left_size, right_size or both.")

    def count(size, name):
        if size is None:
            return None
        if isinstance(size, float):
            if not 0 < size < 1:
                raise ValueError(f"split_dataset: a fractional {name} must lie in (0, 1), got {size}.")
            return int(round(size * total))
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or not 0 <= size <= total:
            raise ValueError(f"split_dataset: {name} must be a fraction or a count in 0..{total}, got {size!r}.")
        return int(size)

    left, right = count(left_size, "left_size"), count(right_size, "right_size")
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ValueError(f"split_dataset: left_size + right_size = {left + right} exceeds the {total} samples.")
    if shuffle:
        from .backend import new_generator

        order = new_generator(seed).permutation(total)
    else:
        order = np.arange(total)
    parts = [[a[order[:left]] for a in arrays], [a[order[left:left + right]] for a in arrays]]
    if isinstance(dataset, (tuple, list)):
        return tuple(type(dataset)(p) for p in parts)
    return parts[0][0], parts[1][0]


def set_random_seed(seed):
    """Seed Python's ``random``, NumPy's global generator and deepgrad (``deepgrad.manual_seed``), as Keras does."""
    import random

    from .backend import manual_seed

    random.seed(seed)
    np.random.seed(seed)
    manual_seed(seed)


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from one batch: a tuple/list of 1 to 3 entries, or ``x`` alone (Keras' rule).

    What a custom ``Model.train_step(data)`` starts with: ``data`` is what the data yields,
    ``(x, y)``, ``(x, y, sample_weight)``, ``(x,)`` or ``x``; missing entries come back as None.
    Several inputs travel as a list inside the tuple: ``([x1, x2], y)``.
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if 1 <= len(data) <= 3:
        return tuple(data) + (None,) * (3 - len(data))
    raise ValueError(
        f"a batch must be x, (x, y) or (x, y, sample_weight); got a tuple of {len(data)} entries. "
        "Wrap several inputs in a list inside the tuple: ([x1, x2], y)."
    )


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The batch :func:`unpack_x_y_sample_weight` reads back: ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``.

    ``x`` alone stays alone unless it is a list or tuple of inputs, which is wrapped as ``(x,)``
    so that it is not mistaken for ``(x, y)`` (Keras' rule).
    """
    if y is None:
        return (x,) if isinstance(x, (list, tuple)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)
