"""Callbacks: code that ``fit``, ``evaluate`` and ``predict`` run at fixed points (Keras 3 API).

A callback subclasses :class:`Callback` and overrides the hooks it needs
(``on_epoch_end(epoch, logs)``, ``on_train_batch_end(batch, logs)``, ...). The model drives
them through a :class:`CallbackList`, which looks once, at construction, at which hooks each
callback overrides and calls only those: a fit with only :class:`EarlyStopping` pays nothing
per batch.

``logs`` is a dict of running values: ``loss`` and the metrics by the names given to
``compile`` during an epoch, plus ``val_*`` at the end of an epoch with validation data.
Epochs and batches are 0-based in the hooks; messages and file names count epochs from 1,
as Keras does.

>>> from deepgrad import callbacks
>>> stop = callbacks.EarlyStopping(monitor="val_loss", patience=5)
>>> # model.fit(x, y, validation_split=0.2, epochs=100, callbacks=[stop])
"""

from __future__ import annotations

import csv
import functools
import inspect
import json
import math
import numbers
import os
import shutil
import sys
import time
import warnings

import numpy as np

from . import distribution
from .config import print_msg
from .fileio import Archive, ModelFileError, atomic_write, flatten_state, restore_state, write_archive
from .tensorboard import TensorBoardHooks

_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end",
                "on_predict_batch_begin", "on_predict_batch_end")
_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_test_begin", "on_test_end",
          "on_predict_begin", "on_predict_end") + _BATCH_HOOKS
# Keras' older names, still called for training batches
_LEGACY_HOOKS = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}


class Callback:
    """Base class of callbacks: every hook does nothing; override the ones you need.

    ``self.model`` is the model being trained (set by :meth:`set_model`), ``self.params``
    the dict of fit arguments (``verbose``, ``epochs``, ``steps``). A subclass may list in
    ``_unused_hooks`` the hooks it overrides but does not need with its current settings
    (e.g. a batch hook when saving once per epoch); :class:`CallbackList` then skips them.
    """

    chief_only = False  # True: only rank 0 of a data-parallel run keeps it (it writes, and decides nothing)

    def __init__(self):
        self.model = None
        self.params = None
        self._unused_hooks = frozenset()

    def set_params(self, params):
        """Receive the run's parameters (``verbose``, ``epochs``, ``steps``)."""
        self.params = params

    def set_model(self, model):
        """Receive the model the callback acts on."""
        self.model = model

    def on_batch_begin(self, batch, logs=None):
        """Older name of :meth:`on_train_batch_begin`."""

    def on_batch_end(self, batch, logs=None):
        """Older name of :meth:`on_train_batch_end`."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of each training epoch (0-based)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of each training epoch with its logs (``loss``, metrics, ``val_*``)."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called before each training batch."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """Called after each training batch with the running ``loss`` and metrics of the epoch."""
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        """Called before each batch of ``evaluate`` (and of validation in ``fit``)."""

    def on_test_batch_end(self, batch, logs=None):
        """Called after each batch of ``evaluate`` with the running loss and metrics."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before each batch of ``predict``."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called after each batch of ``predict`` (``logs['outputs']`` holds the batch's predictions)."""

    def on_train_begin(self, logs=None):
        """Called once at the start of ``fit``."""

    def on_train_end(self, logs=None):
        """Called once at the end of ``fit`` with the last epoch's logs."""

    def on_test_begin(self, logs=None):
        """Called at the start of ``evaluate`` (and of each validation pass in ``fit``)."""

    def on_test_end(self, logs=None):
        """Called at the end of ``evaluate`` with its logs."""

    def on_predict_begin(self, logs=None):
        """Called at the start of ``predict``."""

    def on_predict_end(self, logs=None):
        """Called at the end of ``predict``."""


def _overrides(callback, hook: str) -> bool:
    """Whether ``callback`` does something at ``hook``: a method overriding Callback's, or an instance attribute."""
    if hook in getattr(callback, "_unused_hooks", ()):
        return False
    names = (hook, _LEGACY_HOOKS[hook]) if hook in _LEGACY_HOOKS else (hook,)
    for name in names:
        if name in vars(callback) or getattr(type(callback), name, None) is not getattr(Callback, name):
            return True
    return False


def _python_logs(logs):
    """A new dict of ``logs`` with NumPy scalars as Python floats, keys sorted (Keras' pythonify_logs)."""
    if not logs:
        return {}
    result = {}
    for key in sorted(logs):
        value = logs[key]
        if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
            value = value.item()
        result[key] = value
    return result


class CallbackList(Callback):
    """The callbacks of one ``fit``/``evaluate``/``predict`` run, called as one.

    ``CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model,
    verbose=verbose, epochs=epochs, steps=steps)``: ``add_history`` appends a :class:`History`
    and ``add_progbar`` a :class:`ProgbarLogger` unless the list already holds one; the
    keyword arguments become ``params``. Each hook calls, in order, only the callbacks that
    override it; which ones is decided at construction and again after each
    ``on_*_begin`` (callbacks may change their needs once they know the run).
    Epoch-level logs are handed on as a new dict with sorted keys and Python floats.
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        # in a data-parallel run only rank 0 prints and writes files (see deepgrad.distribution)
        self.callbacks = [c for c in _flatten_callbacks(callbacks) if distribution.is_chief() or not c.chief_only]
        self._history = next((c for c in self.callbacks if isinstance(c, History)), None)
        self._progbar = next((c for c in self.callbacks if isinstance(c, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        if model is not None:
            self.set_model(model)
        self.set_params(params)

    @property
    def history(self):
        """The :class:`History` callback of this run (None without ``add_history``)."""
        return self._history

    @property
    def wants_batch_logs(self) -> bool:
        """Whether any callback reads training batch logs (else the model need not compute them per batch)."""
        return bool(self._listeners["on_train_batch_end"])

    def has_hook(self, hook: str) -> bool:
        """Whether any callback overrides ``hook`` (e.g. ``'on_test_batch_end'``)."""
        return bool(self._listeners[hook])

    def _dispatch(self):
        """Bind, per hook, the methods of the callbacks that override it (done rarely, used per batch)."""
        self._listeners = {hook: [getattr(c, hook) for c in self.callbacks if _overrides(c, hook)]
                           for hook in _HOOKS}

    def append(self, callback):
        """Add a callback at the end of the list."""
        self.callbacks.extend(_flatten_callbacks([callback]))
        if self.model is not None:
            callback.set_model(self.model)
        if self.params is not None:
            callback.set_params(self.params)
        self._dispatch()

    def set_params(self, params):
        self.params = params
        for callback in self.callbacks:
            callback.set_params(params)
        self._dispatch()

    def set_model(self, model):
        self.model = model
        if self._history is not None:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def _call(self, hook, logs):
        for method in self._listeners[hook]:
            method(logs)

    def _call_epoch(self, hook, epoch, logs):
        for method in self._listeners[hook]:
            method(epoch, logs)

    # Batch hooks: the hot path. One list lookup, no allocation when nobody listens.
    def on_train_batch_begin(self, batch, logs=None):
        for method in self._listeners["on_train_batch_begin"]:
            method(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        for method in self._listeners["on_train_batch_end"]:
            method(batch, logs)

    def on_test_batch_begin(self, batch, logs=None):
        for method in self._listeners["on_test_batch_begin"]:
            method(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        for method in self._listeners["on_test_batch_end"]:
            method(batch, logs)

    def on_predict_batch_begin(self, batch, logs=None):
        for method in self._listeners["on_predict_batch_begin"]:
            method(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        for method in self._listeners["on_predict_batch_end"]:
            method(batch, logs)

    def on_batch_begin(self, batch, logs=None):
        self.on_train_batch_begin(batch, logs)

    def on_batch_end(self, batch, logs=None):
        self.on_train_batch_end(batch, logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call_epoch("on_epoch_begin", epoch, _python_logs(logs))

    def on_epoch_end(self, epoch, logs=None):
        self._call_epoch("on_epoch_end", epoch, _python_logs(logs))

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", _python_logs(logs))
        self._dispatch()

    def on_train_end(self, logs=None):
        self._call("on_train_end", _python_logs(logs))

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", _python_logs(logs))
        self._dispatch()

    def on_test_end(self, logs=None):
        self._call("on_test_end", _python_logs(logs))

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", _python_logs(logs))
        self._dispatch()

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", _python_logs(logs))

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)


def _flatten_callbacks(callbacks) -> list:
    """``callbacks`` (None, one callback, or nested lists) as a flat list, each checked to be a Callback."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    flat = []
    for item in callbacks:
        if isinstance(item, (list, tuple)):
            flat.extend(_flatten_callbacks(item))
        elif isinstance(item, Callback):
            flat.append(item)
        else:
            raise TypeError(f"callbacks must be deepgrad.callbacks.Callback objects; got {item!r}. Subclass "
                            "Callback, or wrap functions in LambdaCallback(on_epoch_end=...).")
    return flat


# --------------------------------------------------------------------------- History

class History(Callback):
    """Records the epoch logs: ``history.history['loss']`` is the list of training losses, one per epoch.

    ``history.epoch`` lists the epochs run (0-based), ``history.params`` the fit parameters,
    ``history.model`` the model. ``fit`` returns this object (also ``model.history``).
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self

    def _repr_html_(self):
        """A table of the logged values per epoch (Jupyter shows it when the History ends a cell)."""
        from .models.summary import html_table  # noqa: PLC0415 (only when a notebook asks)

        names = list(self.history)
        epochs = max((len(values) for values in self.history.values()), default=0)
        rows = [[row + 1] + [_format_value(self.history[name][row]) if row < len(self.history[name]) else ""
                             for name in names] for row in range(epochs)]
        caption = f"History: {epochs} epoch{'' if epochs == 1 else 's'}"
        return html_table(["epoch"] + names, rows, caption=caption, right=set(range(len(names) + 1)))


# --------------------------------------------------------------------------- progress display

def _format_value(value) -> str:
    """Keras' number format in progress lines: 4 decimals, scientific below 1e-3."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=4, separator=" ")
    return str(value)


def _format_step_time(seconds: float, unit_name: str) -> str:
    """Time per step as Keras prints it: '2s/step', '4ms/step' or '850us/step'."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit_name}"
    return f"{seconds * 1e6:.0f}us/{unit_name}"


def _format_eta(seconds: float) -> str:
    if seconds > 3600:
        return "%d:%02d:%02d" % (seconds // 3600, (seconds % 3600) // 60, seconds % 60)
    if seconds > 60:
        return "%d:%02d" % (seconds // 60, seconds % 60)
    return "%ds" % seconds


def _is_dynamic(stream) -> bool:
    """Whether the stream redraws lines in place: a terminal, or a notebook's output area."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) or "ipykernel" in sys.modules


class Progbar:
    """A Keras-style progress line for one epoch (or one evaluate/predict pass).

    Final line (``verbose=1``)::

        320/320 ━━━━━━━━━━━━━━━━━━━━ 2s 4ms/step - accuracy: 0.8601 - loss: 0.2756

    ``verbose=2`` prints only ``320/320 - 2s - 4ms/step - accuracy: ... - loss: ...`` at the end.
    While running (``verbose=1`` on a terminal or in a notebook) the line is redrawn in place
    with the time left (ETA) instead of the time spent, at most once per ``interval`` seconds
    (tqdm draws the bar when it is installed). When the output is not a terminal (a file, a
    pipe, a CI log) nothing but the final line is written: no carriage returns. Time per step
    leaves out the first step, which pays one-time costs.
    """

    def __init__(self, target, width=20, verbose=1, interval=0.1, unit_name="step", stream=None):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stream = stream if stream is not None else sys.stdout
        self._dynamic = verbose == 1 and _is_dynamic(self.stream)
        self._start = time.perf_counter()
        self._time_after_first_step = None
        self._last_draw = -math.inf
        self._last_width = 0
        self._tqdm = None

    def _step_time(self, current: int, now: float) -> float:
        if self._time_after_first_step is not None and current > 1:
            return (now - self._time_after_first_step) / (current - 1)
        return (now - self._start) / max(current, 1)

    def _status(self, current: int, values, finalize: bool, now: float) -> str:
        """The text after the bar: time spent (final) or left (ETA), time per step, then the values."""
        step_time = self._step_time(current, now)
        if finalize or not self.target:
            when = f"{now - self._start:.0f}s"
        else:
            when = _format_eta(step_time * (self.target - current))
        metrics = "".join(f" - {k}: {_format_value(v)}" for k, v in sorted(values.items())) if values else ""
        return f"{when} {_format_step_time(step_time, self.unit_name)}{metrics}"

    def _line(self, current: int, values, finalize: bool, now: float) -> str:
        target = self.target
        count = f"{current:>{len(str(target))}d}/{target}" if target else f"{current}/Unknown"
        status = self._status(current, values, finalize, now)
        if self.verbose == 2:
            when, rest = status.split(" ", 1)
            return f"{count} - {when} - {rest}"
        if not target:
            return f"{count} {status}"
        done = min(self.width, int(self.width * current / target))
        bar = "━" * done + ("━" if finalize else "─") * (self.width - done)
        return f"{count} {bar} {status}"

    def update(self, current, values=None, finalize=None):
        """Show progress ``current`` (steps done) with ``values`` (a dict or (name, value) pairs).

        ``finalize`` (default: current >= target) writes the final line and a newline.
        Intermediate calls cost a clock read unless a redraw is due.
        """
        now = time.perf_counter()
        if current == 1:
            self._time_after_first_step = now
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        if not finalize:
            if not self._dynamic or now - self._last_draw < self.interval:
                return
            self._last_draw = now
        values = dict(values) if values is not None else None
        if self._dynamic and self.target and _tqdm_class() is not None:
            self._draw_tqdm(current, values, finalize, now)
            return
        if finalize:
            if self.verbose:
                line = self._line(current, values, True, now)
                if self._dynamic:
                    line = "\r" + line.ljust(self._last_width)
                self.stream.write(line + "\n")
                self.stream.flush()
            return
        line = self._line(current, values, False, now)
        self.stream.write("\r" + line.ljust(self._last_width))
        self.stream.flush()
        self._last_width = len(line)

    def _draw_tqdm(self, current, values, finalize, now):
        """Let tqdm draw the count and the bar; the Keras status text follows the bar."""
        if self._tqdm is None:
            self._tqdm = _tqdm_class()(total=self.target, file=self.stream, leave=True, mininterval=self.interval,
                                       ascii="─━", dynamic_ncols=True,
                                       bar_format="{n_fmt}/{total_fmt} {bar:" + str(self.width) + "} {desc}")
        self._tqdm.set_description_str(self._status(current, values, finalize, now), refresh=False)
        self._tqdm.update(current - self._tqdm.n)
        if finalize:
            self._tqdm.close()
            self._tqdm = None


@functools.lru_cache(maxsize=1)
def _tqdm_class():
    """tqdm's progress bar class when tqdm is installed, else None.

    ``tqdm.auto`` picks the notebook widget in Jupyter (when ipywidgets is installed) and the
    text bar elsewhere; without ipywidgets the text bar is drawn in the notebook too, and
    tqdm's warning that asks for ipywidgets is not repeated in every notebook.
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*IProgress not found")
            from tqdm.auto import tqdm  # noqa: PLC0415 (optional dependency)
    except ImportError:
        return None
    return tqdm


class ProgbarLogger(Callback):
    """Prints the progress of ``fit``, ``evaluate`` and ``predict`` (added by the model when verbose != 0).

    ``verbose=1``: an ``Epoch 3/15`` header, then a progress bar redrawn in place and the final
    line ``320/320 ━━━━━━━━━━━━━━━━━━━━ 2s 4ms/step - accuracy: 0.8601 - loss: 0.2756 -
    val_accuracy: 0.9750 - val_loss: 0.1789``; ``verbose=2``: the header and one line per
    epoch without a bar. Validation inside ``fit`` prints nothing of its own.
    """

    def __init__(self):
        super().__init__()
        self.progbar = None
        self.seen = 0
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        params = params or {}
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose)
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")
        # Batch hooks only redraw the bar: without a bar to redraw (verbose=2, or output that is not a
        # terminal) and with a known number of steps they have nothing to do.
        redraws = self.verbose == 1 and _is_dynamic(sys.stdout)
        self._unused_hooks = frozenset() if redraws or not self.target else frozenset(_BATCH_HOOKS)

    def _reset_progbar(self):
        self.seen = 0
        self.progbar = Progbar(target=self.target, verbose=self.verbose, unit_name="step")

    def on_train_begin(self, logs=None):
        self._called_in_fit = True
        # Validation inside fit is silent: its batches need not reach this logger.
        self._unused_hooks = self._unused_hooks | {"on_test_batch_end"}

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._reset_progbar()
        if self.verbose and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}", file=sys.stdout, flush=True)

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset_progbar()

    def on_predict_begin(self, logs=None):
        self._reset_progbar()

    def _update(self, batch, logs):
        self.seen = batch + 1
        if self.verbose == 1:
            self.progbar.update(self.seen, logs, finalize=False)

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)  # predictions are not numbers to print

    def _finalize(self, logs):
        if self.progbar is None:
            return
        if self.progbar.target is None:
            self.progbar.target = self.seen
        self.progbar.update(self.progbar.target, logs, finalize=True)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize(logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize(logs)

    def on_predict_end(self, logs=None):
        self._finalize(None)


# --------------------------------------------------------------------------- monitoring a quantity

# 'auto' mode maximizes quantities whose names contain one of these, and minimizes the rest.
_HIGHER_IS_BETTER = ("acc", "auc", "precision", "recall", "f1", "fbeta", "r2")


def _higher_is_better(monitor: str, mode: str, owner: str) -> bool:
    """Whether ``monitor`` improves upward: mode 'max', or 'auto' with an accuracy-like name."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner} mode {mode!r} is unknown; use 'auto', 'min' or 'max'.")
    if mode != "auto":
        return mode == "max"
    name = monitor.lower()
    if name.endswith("loss"):
        return False
    return any(word in name for word in _HIGHER_IS_BETTER)


def _current_learning_rate(model, owner: str) -> float:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError(f'{owner}: the model\'s optimizer must have a "learning_rate" attribute; '
                         "compile the model with an optimizer first.")
    rate = optimizer.learning_rate
    if callable(rate):  # a schedule object: its value at the current step
        rate = rate(getattr(optimizer, "iterations", 0))
    return float(rate)


class EarlyStopping(Callback):
    """Stop training when a monitored quantity has stopped improving.

    After each epoch (from ``start_from_epoch`` on), ``logs[monitor]`` improves when it beats
    the best so far by more than ``min_delta``: current < best - min_delta in 'min' mode,
    current > best + min_delta in 'max' mode ('auto': max for accuracy/AUC/precision/recall/F1
    names, min otherwise). After ``patience`` epochs in a row without improvement,
    ``model.stop_training`` is set. With ``baseline``, improvements that do not also beat the
    baseline do not reset the count. ``restore_best_weights`` sets the weights of the best
    epoch back at the end of training.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._maximize = _higher_is_better(monitor, mode, "EarlyStopping")
        self.on_train_begin()

    def _is_improvement(self, value, reference) -> bool:
        if self._maximize:
            return value - self.min_delta > reference
        return value + self.min_delta < reference

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = -math.inf if self._maximize else math.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = _monitored_value(logs, self.monitor, "Early stopping conditioned on metric")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # the first epoch seen is the best so far
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print_msg(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


def _monitored_value(logs, monitor, what):
    """``logs[monitor]``, or None with a warning listing the keys that are available."""
    logs = logs or {}
    value = logs.get(monitor)
    if value is None:
        warnings.warn(f"{what} `{monitor}` which is not available. Available metrics are: "
                      f"{','.join(logs.keys())}", stacklevel=3)
    return value


class _BatchCounter:
    """Counts training batches across epochs to act every ``save_freq`` batches (Keras' rule)."""

    def __init__(self, save_freq, owner):
        if save_freq != "epoch" and (not isinstance(save_freq, (int, np.integer)) or isinstance(save_freq, bool)
                                     or save_freq < 1):
            raise ValueError(f"{owner}: unrecognized save_freq {save_freq!r}; expected 'epoch' or a positive "
                             "integer (a number of batches).")
        self.save_freq = save_freq
        self.since_last = 0
        self.last_batch = -1

    def due(self, batch) -> bool:
        """Whether ``save_freq`` batches have passed since the last save (batch numbers restart each epoch)."""
        self.since_last += batch + 1 if batch <= self.last_batch else batch - self.last_batch
        self.last_batch = batch
        if self.since_last >= self.save_freq:
            self.since_last = 0
            return True
        return False


class ModelCheckpoint(Callback):
    """Save the model (or its weights) every epoch or every ``save_freq`` batches.

    ``filepath`` may hold format fields filled from the logs: ``"model-{epoch:02d}-{val_loss:.2f}.deepgrad"``
    (``epoch`` counts from 1, ``batch`` too when saving by batch). With ``save_best_only`` the
    file is written only when ``logs[monitor]`` beats the best so far (strictly; mode as
    :class:`EarlyStopping`), starting from ``initial_value_threshold`` if given.
    ``save_weights_only`` calls ``model.save_weights`` instead of ``model.save``.
    """

    chief_only = True

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._counter = _BatchCounter(save_freq, "ModelCheckpoint")
        self._maximize = _higher_is_better(monitor, mode, "ModelCheckpoint")
        self.initial_value_threshold = initial_value_threshold
        if initial_value_threshold is not None:
            self.best = initial_value_threshold
        else:
            self.best = -math.inf if self._maximize else math.inf
        self._current_epoch = 0
        if save_freq == "epoch":
            self._unused_hooks = frozenset({"on_train_batch_end"})

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._counter.due(batch):
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _file_path(self, epoch, batch, logs) -> str:
        try:
            if batch is None:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as error:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {error} is not '
                           f"in the logs (available: epoch, {', '.join(logs)}).") from None

    def _write(self, filepath):
        if os.path.isdir(filepath):
            raise IOError("Please specify a non-directory filepath for ModelCheckpoint. "
                          f"Filepath used is an existing directory: {filepath}")
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)

    def _save(self, epoch, batch, logs):
        logs = logs or {}
        filepath = self._file_path(epoch, batch, logs)
        if not self.save_best_only:
            if self.verbose > 0:
                print_msg(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            self._write(filepath)
            return
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available, skipping.", stacklevel=2)
            return
        improved = current > self.best if self._maximize else current < self.best
        if improved:
            if self.verbose > 0:
                print_msg(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                          f"saving model to {filepath}")
            self.best = current
            self._write(filepath)
        elif self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when a monitored quantity has stopped improving.

    An epoch improves when current < best - min_delta ('min') or current > best + min_delta
    ('max'). After ``patience`` epochs without improvement: lr <- max(lr * factor, min_lr),
    then ``cooldown`` epochs during which the count does not run. The learning rate is added
    to the logs as ``learning_rate``.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau got unexpected arguments {sorted(kwargs)}.")
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        self._maximize = _higher_is_better(monitor, mode, "ReduceLROnPlateau")
        self._reset()

    def _reset(self):
        self.best = -math.inf if self._maximize else math.inf
        self.cooldown_counter = 0
        self.wait = 0

    def _improved(self, current) -> bool:
        if self._maximize:
            return current > self.best + self.min_delta
        return current < self.best - self.min_delta

    def in_cooldown(self) -> bool:
        """Whether the cooldown after a reduction is still running."""
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        old_lr = _current_learning_rate(self.model, "ReduceLROnPlateau")
        logs["learning_rate"] = old_lr
        current = _monitored_value(logs, self.monitor, "Learning rate reduction is conditioned on metric")
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and np.float32(old_lr) > np.float32(self.min_lr):
                new_lr = max(old_lr * self.factor, self.min_lr)
                self.model.optimizer.learning_rate = new_lr
                if self.verbose > 0:
                    print_msg(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                self.cooldown_counter = self.cooldown
                self.wait = 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)`` (epoch 0-based).

    ``schedule(epoch)`` with one argument is accepted too. The rate in use is added to the
    epoch logs as ``learning_rate``.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler needs a function schedule(epoch, lr); got {schedule!r}.")
        self.schedule = schedule
        self.verbose = verbose
        self._takes_lr = _accepts_two_arguments(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        lr = _current_learning_rate(self.model, "LearningRateScheduler")
        new_lr = self.schedule(epoch, lr) if self._takes_lr else self.schedule(epoch)
        if isinstance(new_lr, np.ndarray) and new_lr.ndim == 0:
            new_lr = new_lr.item()
        if not isinstance(new_lr, numbers.Real) or isinstance(new_lr, bool):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {new_lr!r}")
        self.model.optimizer.learning_rate = float(new_lr)
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new_lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _current_learning_rate(self.model, "LearningRateScheduler")


def _accepts_two_arguments(function) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return True
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


class CSVLogger(Callback):
    """Write one row per epoch to a CSV file: ``epoch`` then the logs' keys in sorted order.

    The columns are fixed by the first epoch (``val_*`` columns are added even if validation
    starts later, filled with ``NA`` when missing). ``append=True`` continues an existing file
    (writing the header only if the file is empty).
    """

    chief_only = True

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self.writer = None
        self.csv_file = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as existing:
                self.append_header = not existing.readline()
        else:
            self.append_header = True
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if not any(k.startswith("val_") for k in self.keys):
                self.keys += ["val_" + k for k in self.keys]
        if self.writer is None:
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, delimiter=self.sep,
                                         lineterminator="\n")
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        for key in self.keys:
            value = logs.get(key, "NA")
            if isinstance(value, np.ndarray) and value.ndim > 0:
                value = f"[{', '.join(map(str, value.ravel()))}]"
            row[key] = value
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None:
            self.csv_file.close()
        self.csv_file = None
        self.writer = None


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print_msg(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback made of functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: print(logs))``.

    Each given function is called at its hook with the hook's arguments ((epoch, logs),
    (batch, logs) or (logs)); other hooks (``on_test_end=...``) can be passed by name.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        known = set(_HOOKS) | set(_LEGACY_HOOKS.values())
        unknown = set(kwargs) - known
        if unknown:
            raise TypeError(f"LambdaCallback got unknown hooks {sorted(unknown)}; "
                            f"hooks are: {', '.join(sorted(known))}.")
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for hook, function in hooks.items():
            if function is not None:
                if not callable(function):
                    raise TypeError(f"LambdaCallback({hook}=...) must be a function; got {function!r}.")
                setattr(self, hook, function)


# --------------------------------------------------------------------------- BackupAndRestore

def _write_json_atomically(path, data):
    """Write JSON to ``path`` through a temporary file renamed over it (never half-written)."""
    with atomic_write(path, "w") as stream:
        json.dump(data, stream)


class BackupAndRestore(Callback):
    """Back up training so that a run killed mid-way resumes where it stopped, bit for bit.

    Every epoch (or every ``save_freq`` batches) the weights (``model.save_weights``), the
    optimizer state (``get_state()`` in an archive of :mod:`deepgrad.fileio`, no pickle), the
    training progress (the next epoch and batch, the position in the data, the shuffle
    generator's and every dropout/noise layer's random state) and the number of completed
    epochs go to a new folder in ``backup_dir``; then ``latest.json`` is pointed at it by an
    atomic rename, and older folders are removed. A crash at any moment thus leaves the
    previous complete backup in force.

    When ``fit`` starts with a backup present, weights, optimizer state and progress are
    restored and training continues from the batch after the last one backed up, with the
    same shuffle order and dropout masks: a run of the same program and seed ends with the
    weights an uninterrupted run reaches. (A Python generator cannot seek: it is replayed
    from its start to the saved position, which is exact when it is deterministic.) A damaged
    backup raises :class:`~deepgrad.fileio.ModelFileError` naming the file. When training
    ends normally the backup is deleted (``delete_checkpoint=True``); only the files this
    callback wrote are removed, and ``backup_dir`` itself if left empty.
    """

    POINTER = "latest.json"
    WEIGHTS = "weights.deepgrad"
    OPTIMIZER = "optimizer.deepgrad"
    PROGRESS = "progress.deepgrad"

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed; give the folder for the backup files.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = delete_checkpoint
        self._counter = _BatchCounter(save_freq, "BackupAndRestore")
        self._completed_epochs = 0
        self._saves = 0
        if save_freq == "epoch":
            self._unused_hooks = frozenset({"on_train_batch_end"})

    def _pointer_path(self):
        return os.path.join(self.backup_dir, self.POINTER)

    def _read_pointer(self, pointer):
        """``latest.json``, checked: {"folder": "backup-N", "epoch": int, "saves": int}."""
        try:
            with open(pointer, encoding="utf-8") as stream:
                latest = json.load(stream)
        except (ValueError, UnicodeDecodeError) as err:
            raise ModelFileError(f"{pointer}: the backup pointer is not valid JSON ({err}); delete the "
                                 "backup folder to start training afresh.") from None
        folder = latest.get("folder") if isinstance(latest, dict) else None
        counts = [latest.get(key, 0) if isinstance(latest, dict) else None for key in ("epoch", "saves")]
        if (not isinstance(folder, str) or not folder.startswith("backup-")
                or any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in counts)):
            raise ModelFileError(f"{pointer}: not a backup pointer (expected {{\"folder\": \"backup-N\", "
                                 f"\"epoch\": int, \"saves\": int}}, got {str(latest)[:120]!r}).")
        return os.path.join(self.backup_dir, os.path.basename(folder)), counts[0], counts[1]

    def _read_archive(self, path, restore):
        """Open the archive ``path`` and hand its config to ``restore``; any inconsistency names the file."""
        archive = Archive(path)
        try:
            restore(archive.config, archive)
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise ModelFileError(f"{path}: the backup does not fit this training run ({err}).") from None
        finally:
            archive.close()

    def on_train_begin(self, logs=None):
        pointer = self._pointer_path()
        if not os.path.exists(pointer):
            return
        folder, completed_epochs, saves = self._read_pointer(pointer)
        self.model.load_weights(os.path.join(folder, self.WEIGHTS))
        optimizer_file = os.path.join(folder, self.OPTIMIZER)
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and os.path.exists(optimizer_file):
            self._read_archive(optimizer_file, lambda config, archive: self._restore_optimizer(
                optimizer, config, archive))
        self._completed_epochs = completed_epochs
        self._saves = saves
        self.model._initial_epoch_override = completed_epochs
        progress = getattr(self.model, "_training_progress", None)
        progress_file = os.path.join(folder, self.PROGRESS)
        if progress is not None and os.path.exists(progress_file):
            self._read_archive(progress_file, lambda config, archive: progress.set_state(
                restore_state(config["progress"], archive)))
            self.model._initial_epoch_override = progress.epoch
            # batch numbers continue from the saved one, so the save cadence does too
            self._counter.last_batch, self._counter.since_last = progress.step - 1, 0

    @staticmethod
    def _restore_optimizer(optimizer, saved, archive):
        optimizer.set_state(restore_state(saved["state"], archive))
        if saved.get("learning_rate") is not None:
            try:
                optimizer.learning_rate = saved["learning_rate"]
            except TypeError:  # a schedule: its value follows from the restored step count
                pass

    def on_train_batch_end(self, batch, logs=None):
        if self._counter.due(batch):
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        self._completed_epochs = epoch + 1
        if self.save_freq == "epoch":
            self._save()

    def _save(self):
        if not distribution.is_chief():
            return  # rank 0 writes the backup; every rank reads it when resuming
        os.makedirs(self.backup_dir, exist_ok=True)
        self._saves += 1
        name = f"backup-{self._saves}"
        final = os.path.join(self.backup_dir, name)
        partial = final + ".partial"
        for stale in (partial, final):
            if os.path.isdir(stale):
                shutil.rmtree(stale)
        os.makedirs(partial)
        self.model.save_weights(os.path.join(partial, self.WEIGHTS))
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "get_state"):
            try:
                learning_rate = float(optimizer.learning_rate)
            except (TypeError, ValueError):
                learning_rate = None
            arrays = {}
            state = flatten_state(optimizer.get_state(), arrays, "optimizer")
            write_archive(os.path.join(partial, self.OPTIMIZER),
                          {"state": state, "learning_rate": learning_rate}, arrays)
        progress = getattr(self.model, "_training_progress", None)
        if progress is not None:
            arrays = {}
            state = flatten_state(progress.get_state(), arrays, "progress")
            write_archive(os.path.join(partial, self.PROGRESS), {"progress": state}, arrays)
        os.replace(partial, final)
        _write_json_atomically(self._pointer_path(), {"folder": name, "epoch": self._completed_epochs,
                                                      "saves": self._saves})
        self._remove_backups(keep=name)

    def _remove_backups(self, keep=None):
        if not os.path.isdir(self.backup_dir):
            return
        for entry in os.listdir(self.backup_dir):
            if entry.startswith("backup-") and entry != keep:
                shutil.rmtree(os.path.join(self.backup_dir, entry), ignore_errors=True)

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint or not distribution.is_chief():
            return
        self._remove_backups()
        if os.path.exists(self._pointer_path()):
            os.unlink(self._pointer_path())
        try:
            os.rmdir(self.backup_dir)
        except OSError:
            pass  # not empty (the user's own files) or already gone
        self._completed_epochs = 0
        self._saves = 0


# --------------------------------------------------------------------------- TensorBoard

class TensorBoard(TensorBoardHooks, Callback):
    """Keras's TensorBoard callback: event files for TensorBoard in ``log_dir/train`` and ``log_dir/validation``.

    ``TensorBoard(log_dir='logs', histogram_freq=0, write_graph=True, write_images=False,
    write_steps_per_second=False, update_freq='epoch', profile_batch=0, embeddings_freq=0,
    embeddings_metadata=None, gradient_monitor=None)``: epoch scalars (``epoch_loss``, the
    metrics, ``epoch_learning_rate``), batch scalars every ``update_freq`` batches, weight
    histograms (and, with ``write_images``, kernels as images) every ``histogram_freq``
    epochs, the layer graph, and a GradientMonitor's statistics. The hooks and the writer
    live in :mod:`deepgrad.tensorboard` (needs ``pip install deepgrad[tensorboard]``).
    In data-parallel training only rank 0 writes.
    """

    chief_only = True
