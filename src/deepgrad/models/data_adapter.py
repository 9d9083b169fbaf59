"""One data path for ``fit``, ``evaluate``, ``predict`` and the learning-rate finder.

Three kinds of source give batches (the Keras 3 data adapters):

* NumPy arrays (or lists/dicts of them), prepared once by the training loop:
  :class:`ArrayAdapter` cuts them into batches with one gather per array per batch
  (a slice when not shuffled), never per-sample Python;
* a :class:`PyDataset` (``__len__``, ``__getitem__(index)``, ``on_epoch_end``):
  :class:`PyDatasetAdapter` asks it for batch ``index``, in shuffled order when asked;
* any other iterable or generator yielding ``x``, ``(x, y)`` or ``(x, y, sample_weight)``:
  :class:`GeneratorAdapter`.

An :class:`EpochIterator` turns an adapter into epochs: without ``steps`` an epoch is one
pass over the data; with ``steps`` it is that many batches, and the stream carries over
from epoch to epoch, starting a new pass whenever one ends (a generator that cannot start
again ends training with a warning, as in Keras). Its ``get_state``/``set_state`` record
the position in the stream and the shuffle generator's state, so an interrupted run can
continue from the very batch it stopped at.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend, distribution
from ..tensor import Tensor
from ..utils import PyDataset


def is_batch_source(data) -> bool:
    """Whether ``data`` hands out whole batches (a PyDataset, a generator or another iterable of batches).

    Arrays, Tensors, lists, tuples and dicts are data, not batch sources.
    """
    if isinstance(data, PyDataset):
        return True
    if data is None or isinstance(data, (np.ndarray, Tensor, list, tuple, dict, str, bytes)):
        return False
    if hasattr(data, "__array__") or hasattr(data, "__array_interface__"):
        return False
    return hasattr(data, "__next__") or hasattr(data, "__iter__")


# --------------------------------------------------------------------------- adapters
# Each adapter hands out the batches of one pass through ``next_batch()`` (None at the end of
# the pass) and starts a pass with ``new_pass()`` (False when the source cannot start again).


class ArrayAdapter:
    """Batches of prepared arrays: ``(xs, ys, weights)`` lists, one gather per array per batch.

    Shuffled passes gather ``order[i:i + batch_size]`` (one copy of the batch); unshuffled
    passes slice (a view, no copy). ``ys`` and ``weights`` may be None.
    """

    reiterable = True

    def __init__(self, xs, ys, weights, batch_size, shuffle=False, rng=None, drop_remainder=False):
        self.xs, self.ys, self.weights = xs, ys, weights
        self.batch_size = int(batch_size)
        # with drop_remainder every batch is full: the last n % batch_size samples of a pass are left out
        self.n = len(xs[0]) - (len(xs[0]) % self.batch_size if drop_remainder else 0)
        self.shuffle = bool(shuffle)
        self.rng = rng if rng is not None or not shuffle else backend.new_generator()
        self.num_batches = math.ceil(self.n / self.batch_size)
        self.order = None
        self.cursor = self.n

    def new_pass(self) -> bool:
        self.order = self.rng.permutation(len(self.xs[0])) if self.shuffle else None
        self.cursor = 0
        return self.n > 0

    def next_batch(self):
        start = self.cursor
        if start >= self.n:
            return None
        stop = min(start + self.batch_size, self.n)
        self.cursor = stop
        if self.order is None:
            index = slice(start, stop)
        else:
            index = self.order[start:stop]
        ys, weights = self.ys, self.weights
        return ([a[index] for a in self.xs], None if ys is None else [a[index] for a in ys],
                None if weights is None else weights[index])

    def on_epoch_end(self):
        pass

    def get_state(self) -> dict:
        return {"cursor": self.cursor, "order": self.order,
                "rng": None if self.rng is None else backend.generator_state(self.rng)}

    def set_state(self, state):
        cursor, order = state["cursor"], state["order"]
        if not isinstance(cursor, int) or not 0 <= cursor <= self.n:
            raise ValueError(f"saved data position {cursor!r} does not fit {self.n} samples.")
        if order is not None and (np.shape(order) != (len(self.xs[0]),) or np.asarray(order).dtype.kind not in "iu"):
            raise ValueError(f"saved shuffle order does not fit {len(self.xs[0])} samples.")
        self.cursor = cursor
        self.order = None if order is None else np.asarray(order)
        if state.get("rng") is not None and self.rng is not None:
            backend.set_generator_state(self.rng, state["rng"])


class PyDatasetAdapter:
    """Batches ``dataset[i]`` for i in 0 .. len(dataset) - 1, in shuffled order when ``shuffle``."""

    reiterable = True

    def __init__(self, dataset, shuffle=False, rng=None):
        self.dataset = dataset
        self.num_batches = dataset.num_batches if isinstance(dataset, PyDataset) else len(dataset)
        if self.num_batches is None:
            raise ValueError(f"{type(dataset).__name__} must implement __len__ (the number of batches).")
        self.shuffle = bool(shuffle)
        self.rng = rng if rng is not None or not shuffle else backend.new_generator()
        self.order = None
        self.cursor = self.num_batches

    def new_pass(self) -> bool:
        self.num_batches = len(self.dataset)
        self.order = self.rng.permutation(self.num_batches) if self.shuffle else None
        self.cursor = 0
        return True

    def next_batch(self):
        if self.cursor >= self.num_batches:
            return None
        index = self.cursor if self.order is None else int(self.order[self.cursor])
        self.cursor += 1
        return self.dataset[index]

    def on_epoch_begin(self):
        hook = getattr(self.dataset, "on_epoch_begin", None)
        if hook is not None:
            hook()

    def on_epoch_end(self):
        hook = getattr(self.dataset, "on_epoch_end", None)
        if hook is not None:
            hook()

    def get_state(self) -> dict:
        return {"cursor": self.cursor, "order": self.order,
                "rng": None if self.rng is None else backend.generator_state(self.rng)}

    def set_state(self, state):
        cursor = state["cursor"]
        if not isinstance(cursor, int) or not 0 <= cursor <= len(self.dataset):
            raise ValueError(f"saved batch position {cursor!r} does not fit a dataset of {len(self.dataset)} batches.")
        self.num_batches = len(self.dataset)
        self.cursor = cursor
        self.order = None if state["order"] is None else np.asarray(state["order"])
        if state.get("rng") is not None and self.rng is not None:
            backend.set_generator_state(self.rng, state["rng"])


class GeneratorAdapter:
    """Batches from an iterable (a new ``iter()`` each pass) or a generator (one pass, consumed once)."""

    def __init__(self, source):
        self.source = source
        self.reiterable = not hasattr(source, "__next__")
        try:
            self.num_batches = len(source)
        except TypeError:
            self.num_batches = None
        self.iterator = None
        self.exhausted = False
        self.delivered = 0  # batches handed out in this pass (all of them, for a generator)
        self.pushed_back = None

    def new_pass(self) -> bool:
        if self.reiterable or self.iterator is None:
            self.iterator = iter(self.source)
            self.delivered = 0
            self.pushed_back = None
            self.exhausted = False
            return True
        return not self.exhausted  # a generator continues where it is, until it is exhausted

    def next_batch(self):
        if self.pushed_back is not None:
            batch, self.pushed_back = self.pushed_back, None
        else:
            batch = next(self.iterator, None)
            if batch is None:
                self.exhausted = True
                return None
        self.delivered += 1
        return batch

    def push_back(self, batch):
        """Return the batch just taken: ``peek`` reads the first batch to build the model."""
        self.pushed_back = batch
        self.delivered -= 1

    def on_epoch_end(self):
        pass

    def get_state(self) -> dict:
        return {"cursor": self.delivered}

    def set_state(self, state):
        cursor = state["cursor"]
        if not isinstance(cursor, int) or cursor < 0:
            raise ValueError(f"saved batch position {cursor!r} is not a count of batches.")
        if self.reiterable or self.iterator is None:
            self.iterator = iter(self.source)
            self.delivered, self.pushed_back = 0, None
        if cursor < self.delivered:
            raise ValueError(f"the generator is already {self.delivered} batches in; it cannot go back to {cursor}.")
        # a generator cannot seek: replay it (deterministic generators then resume exactly)
        while self.delivered < cursor:
            if self.next_batch() is None:
                raise ValueError(f"the data ran out after {self.delivered} batches; the saved position is {cursor}.")


def adapter_for(source, shuffle=False, rng=None):
    """The adapter for a PyDataset or another batch source (arrays use :class:`ArrayAdapter` directly)."""
    if isinstance(source, PyDataset):
        return PyDatasetAdapter(source, shuffle, rng)
    return GeneratorAdapter(source)


# --------------------------------------------------------------------------- epochs


class DataExhaustedWarning(UserWarning):
    """The data ran out before the requested number of steps (training stops, as in Keras)."""


def shard_batch(batch):
    """This data-parallel rank's rows of a prepared batch ``(xs, ys, weights)`` (the batch itself in one process).

    None, with a warning, when the batch has fewer samples than there are ranks.
    """
    parallel = distribution.active()
    if parallel is None:
        return batch
    xs, ys, weights = batch
    count = len(xs[0])
    if count < parallel.size:
        distribution.warn_skipped_batch(count, parallel.size)
        return None
    rows = parallel.shard(slice(0, count))
    return ([a[rows] for a in xs], None if ys is None else [a[rows] for a in ys],
            None if weights is None else weights[rows])


class EpochIterator:
    """Epochs of ``(step, batch)`` from an adapter; ``convert`` (if given) prepares each raw batch.

    Without ``steps`` each epoch is one full pass. With ``steps`` each epoch takes that many
    batches, continuing the current pass and starting a new one when it ends; with
    ``fresh_passes`` every epoch starts a new pass when the source can (used for validation,
    so each validation sees the same batches).
    """

    def __init__(self, adapter, steps=None, convert=None, fresh_passes=False):
        self.adapter = adapter
        self.steps = steps
        self.convert = convert
        self.fresh_passes = fresh_passes
        self.sharded = False  # each data-parallel rank keeps its part of every batch (training and evaluation)
        self.open = False  # a pass is under way
        self.exhausted = False  # the last epoch ended early: the data ran out

    @property
    def steps_per_epoch(self):
        """Steps in one epoch, or None when unknown (a generator without ``steps``)."""
        return self.steps if self.steps is not None else self.adapter.num_batches

    def peek(self):
        """The first raw batch, without consuming it (to build the model from its shapes)."""
        adapter = self.adapter
        if not self.open:
            if not adapter.new_pass():
                raise ValueError("the data has no batches (an exhausted generator?).")
            self.open = True
        batch = adapter.next_batch()
        if batch is None:
            raise ValueError("the data has no batches: pass a non-empty dataset or generator.")
        if isinstance(adapter, GeneratorAdapter):
            adapter.push_back(batch)
        else:
            adapter.cursor -= 1  # arrays and PyDatasets can simply step back
        return batch

    def epoch(self, start_step=0):
        """Yield ``(step, batch)`` for one epoch, from ``start_step`` when resuming inside it."""
        adapter = self.adapter
        self.exhausted = False
        if hasattr(adapter, "on_epoch_begin"):
            adapter.on_epoch_begin()
        if start_step == 0 and (self.steps is None or (self.fresh_passes and adapter.reiterable)):
            self.open = False
        step = start_step
        convert = self.convert
        steps = self.steps
        while steps is None or step < steps:
            batch = adapter.next_batch() if self.open else None
            if batch is None:
                if steps is None and self.open:
                    self.open = False  # the pass, and so the epoch, is complete
                    break
                if not adapter.new_pass():
                    self.exhausted = True
                    break
                batch = adapter.next_batch()
                if batch is None:
                    self.exhausted = True
                    break
                self.open = True
            batch = batch if convert is None else convert(batch)
            if self.sharded:
                batch = shard_batch(batch)
            if batch is not None:  # None: a last batch too small to split between the ranks
                yield step, batch
            step += 1
        adapter.on_epoch_end()

    def get_state(self) -> dict:
        """The position in the data and the shuffle generator's state (plain values and arrays)."""
        return {"open": self.open, "adapter": self.adapter.get_state()}

    def set_state(self, state):
        """Continue from a position returned by :meth:`get_state`."""
        if not isinstance(state, dict) or not isinstance(state.get("adapter"), dict):
            raise ValueError("saved data position is malformed.")
        try:
            self.adapter.set_state(state["adapter"])
        except KeyError as err:
            raise ValueError(f"saved data position lacks {err}.") from None
        self.open = bool(state.get("open"))
