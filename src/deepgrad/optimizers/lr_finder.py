"""The learning-rate range test (L. N. Smith, "Cyclical Learning Rates for Training Neural
Networks", WACV 2017): find the largest learning rate that still trains.

Train for a few hundred mini-batches while the learning rate grows exponentially from
``start`` to ``end``,

    eta_i = start * (end / start) ^ (i / (steps - 1)),

record the loss after each step, smooth it with a bias-corrected exponential moving
average, and stop once it diverges. The loss first stays flat (eta too small), then falls
(good rates), then explodes (too large). A good rate lies where the loss falls fastest:
the suggested rate is the one with the steepest downward slope of the smoothed loss
against log(eta) (over a window of points), taken before the minimum. Weights and optimizer state are restored
afterwards, so the test costs only time.

Two things can be tested:

* a plain function ``loss_fn(x_batch, y_batch) -> scalar loss Tensor`` with
  ``variables=[...]`` (the tensors it trains) and an ``optimizer`` (default SGD);
* a model, duck-typed; the protocol relied on is: ``model.trainable_weights`` (Tensors
  whose ``.data`` are updated in place), ``model.optimizer`` (a deepgrad optimizer), and
  ``model.train_on_batch(x, y)`` running one training step and returning the batch loss (a
  number, or a list whose first entry is the loss, as Keras returns with metrics).
  ``model.weights`` (trainable and non-trainable, e.g. BatchNormalization statistics), when
  present, is what gets saved and restored.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..tensor import Tensor


class LearningRateRangeTest:
    """What :func:`find_learning_rate` measured.

    Attributes: ``learning_rates`` and ``losses`` (smoothed) and ``raw_losses`` per step (NumPy
    arrays of equal length), ``suggested_learning_rate`` (middle of the steepest descent of
    the smoothed loss), ``minimum_learning_rate`` (the rate of the lowest smoothed loss) and ``diverged``
    (True when the test stopped early because the loss exploded).
    """

    def __init__(self, learning_rates, losses, raw_losses, diverged):
        self.learning_rates = np.asarray(learning_rates, dtype=np.float64)
        self.losses = np.asarray(losses, dtype=np.float64)
        self.raw_losses = np.asarray(raw_losses, dtype=np.float64)
        self.diverged = bool(diverged)
        finite = np.isfinite(self.losses)
        lowest = int(np.argmin(np.where(finite, self.losses, np.inf))) if finite.any() else 0
        self.minimum_learning_rate = float(self.learning_rates[lowest]) if len(self.losses) else float("nan")
        self.suggested_learning_rate = self._steepest(lowest)

    def _steepest(self, lowest: int) -> float:
        """eta in the middle of the steepest descent of the smoothed loss before its minimum.

        The slope d(loss)/d(log eta) is measured across a window of about a tenth of the
        points (a single-step difference would mostly measure batch noise); the window with
        the most negative slope wins. With too few points, the rate of the minimum / 10.
        """
        width = max(1, (lowest + 1) // 10)
        if lowest < 2 * width or lowest < 4:
            return self.minimum_learning_rate / 10.0
        log_rates = np.log(self.learning_rates[: lowest + 1])
        losses = self.losses[: lowest + 1]
        slopes = (losses[width:] - losses[:-width]) / (log_rates[width:] - log_rates[:-width])
        best = int(np.argmin(slopes))
        return float(np.exp(0.5 * (log_rates[best] + log_rates[best + width])))

    def plot(self, ax=None):
        """Smoothed loss against the learning rate on a log axis (needs matplotlib)."""
        import matplotlib.pyplot as plt  # noqa: PLC0415 - optional dependency

        ax = ax or plt.gca()
        ax.plot(self.learning_rates, self.losses)
        ax.axvline(self.suggested_learning_rate, linestyle="--", color="gray")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss (smoothed)")
        return ax

    def __repr__(self) -> str:
        return (f"LearningRateRangeTest(steps={len(self.losses)}, suggested_learning_rate="
                f"{self.suggested_learning_rate:.3g}, diverged={self.diverged})")


def find_learning_rate(model_or_loss_fn, x, y, start=1e-7, end=10.0, steps=200, *, variables=None,
                       optimizer=None, batch_size=32, smoothing=0.98, divergence_factor=4.0,
                       shuffle=True, seed=0) -> LearningRateRangeTest:
    """Run the learning-rate range test and restore the starting weights and optimizer state.

    Parameters
    ----------
    model_or_loss_fn : model or callable
        A model following the protocol in this module's docstring, or
        ``loss_fn(x_batch, y_batch) -> scalar Tensor``.
    x, y : arrays (or Tensors), or a generator / PyDataset as ``x`` with ``y=None``
        Training data; mini-batches of ``batch_size`` rows are drawn epoch after epoch
        (shuffled with ``seed`` when ``shuffle``). ``batch_size=None`` uses all rows. A
        generator or PyDataset hands out its own batches (and must last ``steps`` batches).
    start, end, steps :
        eta_i = start * (end / start) ^ (i / (steps - 1)) for i = 0 .. steps - 1.
    variables : list of Tensor
        The trained tensors (required with a loss function; a model uses its weights).
    optimizer : Optimizer or str
        For a loss function (default ``SGD()``); a model uses ``model.optimizer``. Its
        learning rate is overridden during the test and put back afterwards.
    smoothing : float
        beta of the loss average: avg_i = beta avg_{i-1} + (1 - beta) loss_i, reported as
        avg_i / (1 - beta^(i+1)).
    divergence_factor : float
        Stop when the smoothed loss exceeds this multiple of the best one so far, or is not finite.
    """
    from .registry import get as get_optimizer  # noqa: PLC0415
    from .sgd import SGD  # noqa: PLC0415

    if not (start > 0 and end > start):
        raise ValueError(f"need 0 < start < end, received start={start}, end={end}.")
    if steps < 2:
        raise ValueError(f"steps must be at least 2, received {steps}.")
    is_model = hasattr(model_or_loss_fn, "train_on_batch") and hasattr(model_or_loss_fn, "trainable_weights")
    if is_model:
        model = model_or_loss_fn
        optimizer = getattr(model, "optimizer", None)
        if optimizer is None:
            raise ValueError("the model has no optimizer: compile it first (model.compile(optimizer=..., loss=...)).")
        saved_tensors = list(getattr(model, "weights", None) or model.trainable_weights)
        train_step = _model_step(model)
    else:
        if not callable(model_or_loss_fn):
            raise TypeError(
                "find_learning_rate needs a model (with trainable_weights, optimizer and train_on_batch) "
                f"or a loss function loss_fn(x_batch, y_batch); received {type(model_or_loss_fn).__name__}."
            )
        if not variables:
            raise ValueError("with a loss function, pass variables=[...]: the tensors it trains.")
        variables = list(variables)
        optimizer = get_optimizer(optimizer) if optimizer is not None else SGD()
        saved_tensors = variables
        train_step = _function_step(model_or_loss_fn, variables, optimizer)

    saved_weights = [backend.namespace(t.data).array(t.data, copy=True) for t in saved_tensors]
    saved_optimizer = optimizer._snapshot()
    batches = _batches(x, y, batch_size, shuffle, np.random.default_rng(seed), steps)
    rates = start * (end / start) ** (np.arange(steps) / (steps - 1))
    learning_rates, losses, raw_losses = [], [], []
    average, best, diverged = 0.0, math.inf, False
    try:
        for i, rate in enumerate(rates):
            optimizer._learning_rate = float(rate)
            x_batch, y_batch = next(batches)
            loss = train_step(x_batch, y_batch)
            average = smoothing * average + (1.0 - smoothing) * loss
            smoothed = average / (1.0 - smoothing ** (i + 1))
            learning_rates.append(float(rate))
            raw_losses.append(loss)
            losses.append(smoothed)
            if not math.isfinite(smoothed) or smoothed > divergence_factor * best:
                diverged = True
                break
            best = min(best, smoothed)
    finally:
        for tensor, values in zip(saved_tensors, saved_weights):
            tensor.data[...] = values
        optimizer._restore(saved_optimizer)
    return LearningRateRangeTest(learning_rates, losses, raw_losses, diverged)


def _model_step(model):
    def step(x_batch, y_batch):
        result = model.train_on_batch(x_batch, y_batch)
        if isinstance(result, dict):
            result = result.get("loss", next(iter(result.values())))
        if isinstance(result, (list, tuple)):
            result = result[0]
        return float(result)

    return step


def _function_step(loss_fn, variables, optimizer):
    def step(x_batch, y_batch):
        optimizer.zero_grad(variables)
        loss = loss_fn(x_batch, y_batch)
        if not isinstance(loss, Tensor) or loss.data.size != 1:
            raise TypeError("loss_fn must return a scalar (one-element) Tensor computed from the variables.")
        loss.backward()
        optimizer.step(variables)
        return float(loss.data.reshape(()))

    return step


def _batches(x, y, batch_size, shuffle, rng, steps):
    """``steps`` (x_batch, y_batch) pairs through the models' data path: full batches, reshuffled every pass.

    ``x`` may also be a generator or a :class:`~deepgrad.models.PyDataset` yielding ``(x, y)``.
    """
    from ..models.data_adapter import ArrayAdapter, EpochIterator, adapter_for, is_batch_source  # noqa: PLC0415

    if is_batch_source(x):
        if y is not None:
            raise ValueError("do not pass y when x is a generator or PyDataset: its batches carry (x, y).")
        iterator = EpochIterator(adapter_for(x, shuffle, rng), steps)
        for _, batch in iterator.epoch():
            yield batch[0], batch[1] if isinstance(batch, (tuple, list)) and len(batch) > 1 else None
        if iterator.exhausted:
            raise ValueError(f"the data ran out before the {steps} steps of the test; pass a generator that repeats.")
        return
    x_data = x.data if isinstance(x, Tensor) else np.asarray(x)
    y_data = y.data if isinstance(y, Tensor) else (None if y is None else np.asarray(y))
    n = len(x_data)
    size = n if batch_size is None else min(int(batch_size), n)
    adapter = ArrayAdapter([x_data], None if y_data is None else [y_data], None, size, shuffle, rng,
                           drop_remainder=True)
    for _, (x_batch, y_batch, _) in EpochIterator(adapter, steps).epoch():
        yield x_batch[0], None if y_batch is None else y_batch[0]
