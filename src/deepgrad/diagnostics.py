"""Training diagnostics: watch a fit, name what went wrong, and trace one step of backpropagation.

Three tools, in the order a student meets the problems of the course:

* :class:`GradientMonitor`, a callback that records per layer and epoch the gradient
  norm, the weight norm, how far the weights move, the share of dead ReLU units and of
  saturated sigmoid/tanh units, and NaN/Inf gradient counts. It is cheap enough to leave
  on: per batch it reads the gradients the step already computed (one dot product per
  layer over the model's flat gradient buffer); activation statistics are taken on every
  ``sample_every``-th batch only.
* :func:`diagnose`, which reads a History (and a monitor) and returns findings, each
  with its evidence and the course's remedies: vanishing and exploding gradients, dying
  ReLU, overfitting, high bias, a learning rate too high or too low.
* :func:`explain_step`, the teaching trace of one gradient-descent step on a small
  batch: per layer z, a, dL/da, dL/dz, dL/dW, dL/db and W - lr * dL/dW.

For GANs, :class:`GANMonitor` warns during training when the discriminator wins outright
(:func:`discriminator_wins`), :func:`diagnose` reports it from a History with ``d_loss`` and
``g_loss``, and :func:`generation_score` measures generated samples with a classifier.

>>> monitor = GradientMonitor()
>>> # history = model.fit(x, y, validation_split=0.2, epochs=20, callbacks=[monitor])
>>> # print(diagnose(model, history, monitor))
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import activations, backend
from .callbacks import Callback
from .ops import recurrent as _recurrent_ops
from .tensor import Tensor, no_grad

# Activations whose units can die (output exactly 0 for every input) ...
_DYING_ACTIVATIONS = frozenset({"relu", "relu6"})
# ... and those that saturate: (lower bound, upper bound) of their output.
_SATURATING_BOUNDS = {
    "sigmoid": (0.0, 1.0), "hard_sigmoid": (0.0, 1.0),
    "tanh": (-1.0, 1.0), "hard_tanh": (-1.0, 1.0), "softsign": (-1.0, 1.0),
}
# An output within this share of the output range from a bound is "saturated": there
# sigmoid'(z) = a (1 - a) < 0.02 (8% of its maximum 0.25) and tanh'(z) = 1 - a^2 < 0.08.
SATURATION_MARGIN = 0.02

MONITORED = ("grad_norm", "grad_norm_max", "weight_norm", "update_ratio", "weight_change",
             "dead_fraction", "saturated_fraction", "nan_count", "inf_count")


def activation_family(layer):
    """('dying', None) for ReLU units, ('saturating', (lo, hi)) for sigmoid/tanh-like ones, else None.

    Looks at ``layer.activation`` (Dense, Activation) or at a ReLU layer without a
    negative slope; leaky variants (LeakyReLU, ELU, ...) cannot die.
    """
    from .layers.activations import ReLU  # noqa: PLC0415 - `import deepgrad` does not load the layers

    if isinstance(layer, ReLU):
        return ("dying", None) if layer.negative_slope == 0 else None
    function = getattr(layer, "activation", None)
    if function is None:
        return None
    try:
        name = activations.serialize(function)
    except ValueError:
        return None
    if name in _DYING_ACTIVATIONS:
        return ("dying", None)
    if name in _SATURATING_BOUNDS:
        return ("saturating", _SATURATING_BOUNDS[name])
    return None


def _leaf_layers(model):
    """Every layer of ``model`` that is not itself a container of layers, in order."""
    result = []
    for layer in model.layers:
        subs = layer._sublayers()
        result.extend(_leaf_layers(layer) if subs and hasattr(layer, "layers") else [layer])
    return result


class _ActivationStats:
    """Per-unit activation counts of one layer over the sampled batches of an epoch.

    A unit is a feature of the last axis; for a convolutional output (batch, *spatial,
    channels) it is a channel (feature map), counted over every position of every sample,
    and ``channels_first`` outputs (batch, channels, *spatial) are read the same way.
    """

    def __init__(self, family, bounds, channels_first=False):
        self.family = family
        self.channels_first = channels_first
        if bounds is not None:
            lo, hi = bounds
            self.center = 0.5 * (lo + hi)
            self.half_width = 0.5 * (hi - lo) * (1.0 - 2.0 * SATURATION_MARGIN)
        self.reset()

    def reset(self):
        self.alive = None      # per unit: positive for at least one sampled sample (ReLU)
        self.saturated = None  # per unit: how many sampled outputs sat in the flat tails
        self.samples = 0

    def observe(self, outputs, training):
        if not training:  # validation passes inside fit are not training statistics
            return
        a = outputs.data
        if self.channels_first and a.ndim > 2:
            a = backend.namespace(a).moveaxis(a, 1, -1)
        a = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a.reshape(-1, 1)
        # one comparison and one reduction over the batch: a (batch, units) boolean temporary
        if self.family == "dying":
            positive = (a > 0).any(axis=0)
            self.alive = positive if self.alive is None else (self.alive | positive)
        else:
            tails = (abs(a - self.center) > self.half_width).sum(axis=0)
            self.saturated = tails if self.saturated is None else self.saturated + tails
        self.samples += a.shape[0]

    def dead_fraction(self):
        if self.family != "dying" or self.alive is None:
            return math.nan
        return float(1.0 - self.alive.mean())

    def saturated_fraction(self):
        """Share of units with more than half of their sampled outputs in the saturated tails."""
        if self.family != "saturating" or self.saturated is None:
            return math.nan
        return float((self.saturated > 0.5 * self.samples).mean())


def _views(flat, parts):
    return [flat[p] for p in parts]


def _squared_norm(views):
    """sum of squares of the views: one BLAS dot each, no temporary array."""
    total = 0.0
    for v in views:
        total += float(v.dot(v))
    return total


class _LayerRecord:
    """One layer's views into the flat parameter buffer, plus its running sums for the epoch.

    ``parts`` are the slices of ``buffer.data`` / ``buffer.grad`` holding the layer's
    trainable weights (adjacent ones merged: usually one slice, kernel then bias).
    """

    def __init__(self, layer, parts, buffer, step_copy, epoch_copy):
        self.layer = layer
        self.name = layer.name
        self.size = sum(p.stop - p.start for p in parts)
        self.grad = _views(buffer.grad, parts)
        self.data = _views(buffer.data, parts)
        self.step_copy = _views(step_copy, parts)    # weights before the sampled step, then its update
        self.epoch_copy = _views(epoch_copy, parts)  # weights at the start of the epoch, then the change
        self.single_grad = self.grad[0] if len(parts) == 1 else None  # the usual case: one dot per batch
        self.stats = None
        self.reset()

    def reset(self):
        self.norm_sum = 0.0
        self.norm_max = 0.0
        self.batches = 0
        self.ratio_sum = 0.0
        self.ratio_count = 0
        self.nan = 0
        self.inf = 0
        self.start_sq = 0.0  # ||W||^2 at the start of the epoch

    def read_gradient(self):
        """Add this step's ||dL/dW|| (and its non-finite entries, when there are any)."""
        g = self.single_grad
        squared = float(g.dot(g)) if g is not None else _squared_norm(self.grad)
        if not math.isfinite(squared):  # NaN or Inf somewhere, or a sum of squares past float32's range
            for g in self.grad:
                self.nan += int(backend.namespace(g).isnan(g).sum())
                self.inf += int(backend.namespace(g).isinf(g).sum())
            norm = squared  # inf when only the sum overflowed, else nan
        else:
            norm = math.sqrt(squared)
            if norm > self.norm_max:
                self.norm_max = norm
        self.norm_sum += norm
        self.batches += 1

    def read_update(self):
        """Add ||W_new - W_old|| / ||W_new|| of a sampled step (step_copy holds W_new - W_old)."""
        weight_sq = _squared_norm(self.data)
        if weight_sq > 0:
            self.ratio_sum += math.sqrt(_squared_norm(self.step_copy) / weight_sq)
            self.ratio_count += 1


class GradientMonitor(Callback):
    """Records gradient and activation health per layer and epoch while a model trains.

    For each layer with trainable weights and each epoch:

    * ``grad_norm``: mean over batches of ||dL/dW||_2 (kernel and bias together);
      ``grad_norm_max`` the largest batch value;
    * ``weight_norm``: ||W||_2 at the end of the epoch;
    * ``update_ratio``: mean over sampled steps of ||W_new - W_old|| / ||W_new||
      (about 1e-3 is healthy for SGD-like training);
    * ``weight_change``: ||W_end - W_start|| / ||W_start|| over the whole epoch (the
      course's old_weights vs new_weights comparison);
    * ``dead_fraction``: share of ReLU units that output 0 for every sampled sample of
      the epoch (in a convolutional layer a unit is a channel: dead when its feature map
      is 0 at every position of every sampled sample); ``saturated_fraction``: share of
      sigmoid/tanh units whose outputs lie mostly within 2% of the output range from a bound (there f'(z) ~ 0);
    * ``nan_count`` / ``inf_count``: non-finite gradient entries over the epoch.

    Layers without weights whose units can die or saturate (Activation, ReLU) get the
    activation statistics only. ``records[layer_name][quantity]`` is the list over
    epochs; :meth:`array` stacks one quantity as an (epochs, layers) array.

    Cost. Per batch: one dot product per layer over its slice of the model's flat
    gradient buffer, read at the start of the next batch (the step zeroes the gradients
    only after ``on_train_batch_begin``, so the monitor needs no per-batch logs). Every
    ``sample_every``-th batch (1 = every batch): a copy of the flat weights to measure
    the step, and the layers' output observer (see ``Layer._output_observer``), one
    comparison and one reduction per observed output; a unit then counts as dead when
    it is zero on every sampled batch of the epoch.
    """

    def __init__(self, sample_every=4):
        super().__init__()
        if isinstance(sample_every, bool) or not isinstance(sample_every, (int, np.integer)) or sample_every < 1:
            raise ValueError(f"sample_every must be a positive integer, got {sample_every!r}.")
        self.sample_every = int(sample_every)
        self.records = {}
        self.layer_names = []
        self.parameter_counts = {}
        self.epochs = []
        self._layers = []
        self._observed = []

    # ------------------------------------------------------------------ setup
    def on_train_begin(self, logs=None):
        buffer = self.model._buffer
        if buffer is None:
            raise ValueError("GradientMonitor needs a model trained with fit() (its weights in a parameter buffer).")
        xp = backend.namespace(buffer.data)
        self._buffer = buffer
        self._step_copy = xp.empty_like(buffer.data)
        self._epoch_copy = xp.empty_like(buffer.data)
        index = {id(t): i for i, t in enumerate(buffer.tensors)}
        leaves = _leaf_layers(self.model)
        self._layers = []
        for layer in leaves:
            positions = sorted(index[id(w)] for w in layer.trainable_weights if id(w) in index)
            if not positions:
                continue
            parts = []
            for i in positions:
                part = buffer.slices[i]
                if parts and parts[-1].stop == part.start:
                    parts[-1] = slice(parts[-1].start, part.stop)
                else:
                    parts.append(part)
            self._layers.append(_LayerRecord(layer, parts, buffer, self._step_copy, self._epoch_copy))
        by_layer = {id(r.layer): r for r in self._layers}
        self._observed = []
        for layer in leaves:
            family = activation_family(layer)
            if family is None:
                continue
            stats = _ActivationStats(*family, channels_first=getattr(layer, "data_format", None) == "channels_first")
            self._observed.append((layer, stats))
            if id(layer) in by_layer:
                by_layer[id(layer)].stats = stats
        self._activation_only = [(layer, stats) for layer, stats in self._observed if id(layer) not in by_layer]
        sizes = {id(r.layer): r.size for r in self._layers}
        for layer in leaves:  # model order
            if id(layer) not in sizes and all(layer is not watched for watched, _ in self._activation_only):
                continue
            name, size = layer.name, sizes.get(id(layer), 0)
            if name not in self.records:
                self.records[name] = {q: [] for q in MONITORED}
                self.layer_names.append(name)
            self.parameter_counts[name] = size
        self._pending = False   # a step ran whose gradients are not read yet
        self._sampling = False  # that step was sampled (weights copied, observers on)
        self._batch = 0
        self._start_time_gradients(leaves)

    # ------------------------------------------------------------------ gradients through time
    def _start_time_gradients(self, leaves):
        """Find the recurrent layers (also inside Bidirectional/TimeDistributed) whose dL/dh_t to record.

        ``time_gradients[layer_name]`` is the list over epochs of the mean over batches of
        ||dL/dh_t|| per processing step t (averaged over the batch), read from the
        recurrent op's backward (:data:`deepgrad.ops.recurrent.last_state_gradients`).
        """
        found, stack = [], list(leaves)
        while stack:
            layer = stack.pop(0)
            if hasattr(layer, "recurrent_kernel") and hasattr(layer, "go_backwards"):
                found.append(layer.name)
            stack.extend(layer._sublayers())
        self._recurrent_names = found
        self._time_sums = {}
        self.time_gradients = {name: [] for name in found}
        for name in found:
            _recurrent_ops.last_state_gradients.pop(name, None)

    def _read_time_gradients(self):
        for name in self._recurrent_names:
            norms = _recurrent_ops.last_state_gradients.pop(name, None)
            if norms is None:
                continue
            total, count = self._time_sums.get(name, (0.0, 0))
            if count and np.shape(total) != np.shape(norms):
                continue  # sequences of another length in this epoch: keep the first length
            self._time_sums[name] = (total + backend.to_numpy(norms), count + 1)

    def _close_time_gradients(self):
        for name in self._recurrent_names:
            total, count = self._time_sums.pop(name, (None, 0))
            if count:
                self.time_gradients[name].append(np.asarray(total) / count)

    def on_train_end(self, logs=None):
        self._set_observers(False)
        self._sampling = False

    def _set_observers(self, on):
        for layer, stats in self._observed:
            if on:
                layer._output_observer = stats.observe
            elif "_output_observer" in vars(layer):
                del layer._output_observer

    # ------------------------------------------------------------------ per batch
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_copy[...] = self._buffer.data
        for record in self._layers:
            record.reset()
            record.start_sq = _squared_norm(record.data)
        for _, stats in self._observed:
            stats.reset()
        self._pending = False
        self._batch = 0

    def on_train_batch_begin(self, batch, logs=None):
        # the gradients still hold the previous step's: the step zeroes them after this hook
        if self._pending:
            self._read_step()
        sample = self._batch % self.sample_every == 0
        if sample:
            self._step_copy[...] = self._buffer.data  # one copy of the weights per sampled step
        if sample != self._sampling:
            self._set_observers(sample)
        self._sampling = sample
        self._pending = True
        self._batch += 1

    def _read_step(self):
        self._read_time_gradients()
        with np.errstate(over="ignore", invalid="ignore"):  # diverging runs are what we count
            if self._sampling:
                # the step of the sampled batch, in place in the copy taken before it
                self._step_copy -= self._buffer.data
                for record in self._layers:
                    record.read_gradient()
                    record.read_update()
            else:
                for record in self._layers:
                    record.read_gradient()
        self._pending = False

    def on_epoch_end(self, epoch, logs=None):
        if self._pending:
            self._read_step()
        self._close_time_gradients()
        if self._sampling:
            self._set_observers(False)
            self._sampling = False
        self._epoch_copy -= self._buffer.data
        self.epochs.append(epoch)
        for record in self._layers:
            out = self.records[record.name]
            with np.errstate(over="ignore", invalid="ignore"):
                weight_sq = _squared_norm(record.data)
                change_sq = _squared_norm(record.epoch_copy)
            out["grad_norm"].append(record.norm_sum / record.batches if record.batches else math.nan)
            out["grad_norm_max"].append(record.norm_max if record.batches else math.nan)
            out["weight_norm"].append(math.sqrt(weight_sq))
            out["update_ratio"].append(record.ratio_sum / record.ratio_count if record.ratio_count else math.nan)
            out["weight_change"].append(math.sqrt(change_sq / record.start_sq) if record.start_sq > 0 else math.nan)
            out["dead_fraction"].append(record.stats.dead_fraction() if record.stats else math.nan)
            out["saturated_fraction"].append(record.stats.saturated_fraction() if record.stats else math.nan)
            out["nan_count"].append(record.nan)
            out["inf_count"].append(record.inf)
        for layer, stats in self._activation_only:
            out = self.records[layer.name]
            for quantity in MONITORED:
                out[quantity].append(0 if quantity in ("nan_count", "inf_count") else math.nan)
            out["dead_fraction"][-1] = stats.dead_fraction()
            out["saturated_fraction"][-1] = stats.saturated_fraction()

    # ------------------------------------------------------------------ reading
    def array(self, quantity):
        """One recorded quantity as a float array of shape (epochs, layers), in :attr:`layer_names` order."""
        if quantity not in MONITORED:
            raise ValueError(f"unknown quantity {quantity!r}; recorded are {', '.join(MONITORED)}.")
        if not self.epochs:
            return np.zeros((0, len(self.layer_names)))
        return np.array([self.records[name][quantity] for name in self.layer_names], dtype=np.float64).T

    def weighted_layer_names(self):
        """Names of the layers that hold trainable weights (the ones with gradient statistics)."""
        return [name for name in self.layer_names if self.parameter_counts.get(name)]


# --------------------------------------------------------------------------- diagnose


REMEDIES = {
    "vanishing_gradients": [
        "use ReLU-family activations in hidden layers (ReLU, LeakyReLU, ELU, SELU) instead of sigmoid/tanh",
        "initialize for the activation: kernel_initializer='he_normal' for ReLU, 'glorot_uniform' for tanh",
        "add BatchNormalization before or after each hidden activation",
        "add residual (skip) connections",
        "use fewer layers",
    ],
    "exploding_gradients": [
        "clip the gradients: SGD(clipnorm=1.0) or SGD(clipvalue=1.0)",
        "lower the learning rate",
        "add weight regularization (kernel_regularizer=L2(0.01))",
        "standardize the inputs and use a proper initialization (Glorot/He)",
        "use fewer layers",
    ],
    "dying_relu": [
        "use LeakyReLU, PReLU or ELU, which keep a gradient for z < 0",
        "lower the learning rate",
        "initialize the biases to a small positive value (bias_initializer=Constant(0.01))",
        "use He initialization (kernel_initializer='he_normal')",
    ],
    "overfitting": [
        "stop early: EarlyStopping(monitor='val_loss', patience=..., restore_best_weights=True)",
        "add Dropout layers",
        "add L1/L2 weight regularization (kernel_regularizer=L2(0.01))",
        "get more training data or augment it",
        "use a smaller network",
    ],
    "invalid_inputs": [
        "find the bad entries: np.argwhere(~np.isfinite(x)), and fix, impute or drop those rows",
        "rescale columns with huge values (other units, or their logarithm)",
    ],
    "invalid_learning_rate": [
        "pass a finite, positive learning rate (e.g. 0.001 for Adam, 0.01 for SGD), "
        "or find one with find_learning_rate",
    ],
    "high_bias": [
        "use a bigger network (more units or layers)",
        "train longer",
        "try another architecture or better features",
        "reduce regularization",
    ],
    "learning_rate_too_high": [
        "lower the learning rate (e.g. by 10x), or find one with find_learning_rate",
        "use a learning-rate schedule that decays it",
        "clip the gradients (clipnorm=1.0)",
    ],
    "discriminator_wins": [
        "weaken the discriminator: fewer filters, more Dropout, or a lower learning rate than the generator's",
        "smooth or add noise to the discriminator's labels (e.g. 0.9 instead of 1 for real images)",
        "check that the generator trains: its loss decreasing on some batches, its weights changing, "
        "its optimizer applied to generator.trainable_weights",
        "train the generator with the non-saturating loss: BCE(1, D(G(z))) rather than -BCE(0, D(G(z)))",
    ],
    "learning_rate_too_low": [
        "raise the learning rate (e.g. by 10x), or find one with find_learning_rate",
        "use an adaptive optimizer (Adam, RMSprop)",
        "train longer",
    ],
}

_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass
class Finding:
    """One diagnosed problem: ``kind``, ``severity`` ('critical', 'warning' or 'info'), a one-line
    ``summary``, the ``evidence`` (named numbers) and the course's ``remedies``."""

    kind: str
    severity: str
    summary: str
    evidence: dict = field(default_factory=dict)
    remedies: list = field(default_factory=list)

    def __str__(self):
        lines = [f"[{self.severity.upper()}] {self.kind.replace('_', ' ')}: {self.summary}"]
        for key, value in self.evidence.items():
            lines.append(f"    {key}: {_format_evidence(value)}")
        if self.remedies:
            lines.append("  remedies:")
            lines.extend(f"    - {r}" for r in self.remedies)
        return "\n".join(lines)


def _format_evidence(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format_evidence(v) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_format_evidence(v)}" for k, v in value.items())
    return str(value)


class Diagnosis(list):
    """The findings of :func:`diagnose`, most severe first; ``str()`` is a readable report."""

    def kinds(self):
        """The kinds found, in report order."""
        return [f.kind for f in self]

    def __contains__(self, kind):
        if isinstance(kind, str):
            return any(f.kind == kind for f in self)
        return super().__contains__(kind)

    def __str__(self):
        if not self:
            return "Training diagnosis: ok - no problems found in the loss curves or the gradients."
        header = f"Training diagnosis: {len(self)} finding(s)"
        return "\n\n".join([header] + [str(f) for f in self])

    def __repr__(self):
        return f"Diagnosis({self.kinds()!r})"


def _history_dict(history):
    if history is None:
        return {}
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict):
        raise TypeError(f"history must be a History (from fit) or its dict, got {type(history).__name__}.")
    return {k: np.asarray(v, dtype=np.float64) for k, v in logs.items()}


def _accuracy_key(logs):
    for key in ("accuracy", "acc", "categorical_accuracy", "sparse_categorical_accuracy", "binary_accuracy"):
        if key in logs:
            return key
    return None


#: A GAN's discriminator whose loss falls below this has won outright: with the binary
#: cross-entropy on real and fake batches, D(G(z)) < 0.1 on the fakes, so the generator's
#: gradient through log D(G(z)) carries almost no signal about how to improve.
DISCRIMINATOR_WINS_BELOW = 0.05


def discriminator_wins(d_loss, g_loss, threshold=DISCRIMINATOR_WINS_BELOW) -> bool:
    """Whether a GAN's discriminator has won outright over the span of ``d_loss``/``g_loss`` values.

    ``d_loss`` and ``g_loss`` are series over epochs, or over the batches of one epoch (the
    running means a train step logs). The discriminator wins when its last loss is below
    ``threshold`` (it tells real from generated almost perfectly) while the generator's loss
    ended higher than it started (the generator is not catching up): the usual GAN failure.
    """
    d_loss = np.asarray(d_loss, dtype=np.float64).reshape(-1)
    g_loss = np.asarray(g_loss, dtype=np.float64).reshape(-1)
    if not len(d_loss) or not len(g_loss) or not np.isfinite(d_loss[-1]):
        return False
    return bool(d_loss[-1] < threshold and (len(g_loss) < 2 or g_loss[-1] > g_loss[0]))


class DiscriminatorWinsWarning(UserWarning):
    """A GAN's discriminator won outright: its loss is near 0 while the generator's grows."""


class GANMonitor(Callback):
    """Warns at the end of an epoch in which a GAN's discriminator won outright (see :func:`discriminator_wins`).

    It reads the ``d_loss`` and ``g_loss`` entries (``discriminator_key``, ``generator_key``)
    that the GAN's ``train_step`` logs for every batch, and issues a
    :class:`DiscriminatorWinsWarning` naming the epoch and both losses. ``wins`` lists the
    epochs (from 0) where it fired; ``diagnose(history=...)`` reports the same failure afterwards.
    """

    def __init__(self, threshold=DISCRIMINATOR_WINS_BELOW, discriminator_key="d_loss", generator_key="g_loss"):
        super().__init__()
        self.threshold = float(threshold)
        self.keys = (discriminator_key, generator_key)
        self.wins = []
        self._batches = []

    def on_epoch_begin(self, epoch, logs=None):
        self._batches = []

    def on_train_batch_end(self, batch, logs=None):
        if logs and all(key in logs for key in self.keys):
            self._batches.append([float(logs[key]) for key in self.keys])

    def on_epoch_end(self, epoch, logs=None):
        if not self._batches:
            return
        d_loss, g_loss = np.asarray(self._batches).T
        if discriminator_wins(d_loss, g_loss, self.threshold):
            self.wins.append(epoch)
            warnings.warn(
                f"epoch {epoch + 1}: the discriminator wins outright ({self.keys[0]} {d_loss[-1]:.3g} < "
                f"{self.threshold:g}) while {self.keys[1]} grew from {g_loss[0]:.3g} to {g_loss[-1]:.3g}: "
                "the generator gets no useful gradient. Weaken the discriminator or check the generator's "
                "training (deepgrad.diagnostics.diagnose lists remedies).", DiscriminatorWinsWarning, stacklevel=2)


@dataclass
class GenerationScore:
    """How a classifier sees generated samples: ``confidence`` (mean top probability), ``entropy`` (nats) of the
    predicted-class histogram and ``counts`` (samples per predicted class)."""

    confidence: float
    entropy: float
    counts: np.ndarray

    @property
    def max_entropy(self) -> float:
        """ln(number of classes): the entropy when every class is predicted equally often."""
        return math.log(len(self.counts))


def generation_score(probabilities) -> GenerationScore:
    """Score generated samples by a classifier's class ``probabilities`` (n, classes) for them.

    * confidence = mean over samples of max_k p_k: near 1 when each sample clearly looks like
      one class (recognisable digits), near 1/classes for noise;
    * entropy = -sum_k q_k ln q_k of q, the share of samples predicted as each class: ln(classes)
      (2.303 nats for 10 digits) when every class appears equally often, 0 when all samples are
      one class (mode collapse).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ValueError(f"probabilities must be a (samples, classes) array with at least 2 classes, "
                         f"got shape {p.shape}.")
    counts = np.bincount(p.argmax(axis=1), minlength=p.shape[1])
    q = counts[counts > 0] / len(p)
    return GenerationScore(float(p.max(axis=1).mean()), 0.0 - float((q * np.log(q)).sum()), counts)


def diagnose(model=None, history=None, monitor=None, *, vanishing_ratio=1e-3, dead_threshold=0.5,
             overfit_tolerance=0.1, overfit_gap=0.1, accuracy_target=0.8, callbacks=None, x=None, y=None):
    """Name the training problems visible in ``history`` (and ``monitor``), with evidence and remedies.

    Rules (``r`` = per-parameter RMS gradient, ``||g|| / sqrt(n)``, averaged over epochs):

    * invalid inputs: NaN/Inf in ``x`` or ``y`` (when given), or a learning rate that is
      NaN, infinite or not positive; these explain a NaN loss, so the rules below are skipped;
    * vanishing gradients: r(first layer) / r(last layer) < ``vanishing_ratio``;
    * vanishing gradients through time: in a recurrent layer, ||dL/dh_t|| at the first step
      over its largest value over the steps < ``vanishing_ratio`` (median over epochs), while
      the training loss stalls (the last epoch's loss above 0.9x the first's): a model that
      learns anyway does not need its first steps, so a short memory alone is not reported;
    * exploding gradients: NaN/Inf in the loss or the gradients, gradient norms growing
      more than 100x across epochs, or the loss ending above 10x its start;
    * dying ReLU: a ReLU layer with at least ``dead_threshold`` of its units dead in the last epoch;
    * overfitting (high variance): val_loss above (1 + ``overfit_tolerance``) x its minimum at
      the end, with the training loss still falling after that minimum; or a large gap between
      training and validation at the end: validation accuracy ``overfit_gap`` or more below
      training accuracy, or val_loss at least 1.5x the training loss and above it by
      2 x ``overfit_gap`` x the first epoch's loss (scale-free: the same in any units);
    * high bias: final training accuracy below ``accuracy_target``;
    * learning rate too high: the training loss rises in at least 30% of epochs, or ends above its start;
    * learning rate too low: the loss falls every epoch but by under 10% overall, as fast at the end as at the start;
    * discriminator wins (a GAN, whose history has ``d_loss`` and ``g_loss``): :func:`discriminator_wins`
      over the epochs.

    ``callbacks``: those passed to ``fit``; a remedy already in place (EarlyStopping, a
    learning-rate schedule) is not recommended again. ``x``, ``y``: the training data, to
    tell a NaN loss caused by the data from one caused by the training.

    Returns a :class:`Diagnosis` (a list of :class:`Finding`); an empty one prints as "ok".
    """
    logs = _history_dict(history if history is not None else getattr(model, "history", None))
    findings = []
    loss = logs.get("loss", np.zeros(0))
    if _check_invalid_inputs(model, x, y, findings):
        return Diagnosis(_without_remedies_in_place(findings, callbacks))
    exploding = _check_exploding(logs, monitor, findings)
    # NaN activations read as dead units and dead units pass no gradient back: report the cause only
    if monitor is not None and monitor.epochs and not exploding:
        if not _check_dying(monitor, findings, dead_threshold):
            _check_vanishing(monitor, findings, vanishing_ratio)
        _check_vanishing_through_time(monitor, findings, vanishing_ratio, loss)
    if not exploding and len(loss) >= 3:
        _check_overfitting(logs, findings, overfit_tolerance, overfit_gap)
        _check_learning_rate(loss, findings)
    if not exploding and len(loss):
        _check_high_bias(logs, findings, accuracy_target)
    _check_gan(logs, findings)
    findings.sort(key=lambda f: _SEVERITY_ORDER[f.severity])
    return Diagnosis(_without_remedies_in_place(findings, callbacks))


def _check_gan(logs, findings):
    d_loss, g_loss = logs.get("d_loss"), logs.get("g_loss")
    if d_loss is None or g_loss is None or not discriminator_wins(d_loss, g_loss):
        return
    findings.append(Finding(
        "discriminator_wins", "critical",
        f"the discriminator tells real from generated samples almost perfectly (d_loss {d_loss[-1]:.3g}) while "
        "the generator's loss grows: the generator gets no useful gradient and stops improving.",
        {"d_loss first / final": [float(d_loss[0]), float(d_loss[-1])],
         "g_loss first / final": [float(g_loss[0]), float(g_loss[-1])]},
        REMEDIES["discriminator_wins"]))


def _check_vanishing_through_time(monitor, findings, ratio_limit, loss=()):
    """Recurrent layers whose gradient dies before it reaches the first time steps, while learning stalls.

    The ratio is ||dL/dh_1|| / max_t ||dL/dh_t|| of each epoch's curve (the mean over its
    batches), its median over the epochs (one epoch's jump does not decide); the
    geometric per-step factor ratio ** (1 / (T - 1)) tells how fast it decays along a
    sequence of T steps. An LSTM that learns a long dependency opens its forget gates and
    carries the gradient back; a SimpleRNN's gradient shrinks at every step and its loss stays
    where it started. Without a loss history the gradients alone decide.
    """
    loss = np.asarray(loss, dtype=float)
    stalled = len(loss) < 2 or not np.isfinite(loss[[0, -1]]).all() or loss[-1] > _STALLED_LOSS * loss[0]
    if not stalled:
        return
    for name, epochs in getattr(monitor, "time_gradients", {}).items():
        if not epochs:
            continue
        curves = [np.asarray(norms, dtype=float) for norms in epochs]
        ratios = [float(c[0] / c.max()) for c in curves if c.size > 1 and np.isfinite(c).all() and c.max() > 0]
        if not ratios:
            continue
        ratio, steps = float(np.median(ratios)), int(curves[-1].size)
        if ratio < ratio_limit:
            evidence = {"layer": name, "first_to_peak_ratio": ratio, "steps": steps,
                        "per_step_factor": ratio ** (1.0 / (steps - 1))}
            if len(loss) >= 2:
                evidence["loss first / last epoch"] = [float(loss[0]), float(loss[-1])]
            findings.append(Finding(
                "vanishing_gradients_through_time", "warning",
                f"in recurrent layer {name!r} the gradient reaching the first time step is {ratio:.2g} of its "
                f"largest value and the loss has stalled: the layer cannot learn dependencies that span the "
                f"sequence.",
                evidence,
                ["use LSTM or GRU: their additive state path (cell state, update gate) carries the gradient "
                 "through time",
                 "shorten the sequences or feed the informative steps last",
                 "start the recurrent kernel orthogonal (the default) and avoid saturating activations"]))


# the training loss counts as stalled when its last epoch is above this fraction of its first
_STALLED_LOSS = 0.9


# callback class -> words that mark the remedies it already applies
_REMEDIES_IN_PLACE = {"EarlyStopping": ("EarlyStopping",), "ReduceLROnPlateau": ("schedule",),
                      "LearningRateScheduler": ("schedule",)}


def _without_remedies_in_place(findings, callbacks):
    """The findings, without the remedies that ``callbacks`` already apply."""
    present = {type(callback).__name__ for callback in callbacks or ()}
    words = [word for name in present & set(_REMEDIES_IN_PLACE) for word in _REMEDIES_IN_PLACE[name]]
    for finding in findings:
        finding.remedies = [r for r in finding.remedies if not any(word in r for word in words)]
    return findings


def _learning_rate_value(model):
    """The optimizer's current learning rate as a float, or None when there is none to read."""
    try:
        return float(model.optimizer.learning_rate)
    except (AttributeError, TypeError, ValueError):
        return None


def _check_invalid_inputs(model, x, y, findings):
    """NaN/Inf in the data or an unusable learning rate: the loss is NaN from the first step, whatever the
    gradients do, so these are named instead of exploding gradients."""
    found = False
    for name, data in (("x", x), ("y", y)):
        if data is None:
            continue
        values = np.asarray(data, dtype=np.float64)
        bad = ~np.isfinite(values) | (np.abs(np.nan_to_num(values)) > np.finfo(np.float32).max)
        if bad.any():
            first = np.unravel_index(int(np.argmax(bad)), values.shape)
            findings.append(Finding(
                "invalid_inputs", "critical",
                f"{name} holds NaN/Inf (or values beyond float32's range): every loss that touches them is NaN; "
                "this is the data, not the gradients.",
                {f"non-finite entries in {name}": int(bad.sum()), "first at index": [int(i) for i in first]},
                REMEDIES["invalid_inputs"]))
            found = True
    rate = _learning_rate_value(model)
    if rate is not None and not (math.isfinite(rate) and rate > 0):
        findings.append(Finding(
            "invalid_learning_rate", "critical",
            f"the learning rate is {rate}: every update is {'NaN' if not math.isfinite(rate) else 'zero or uphill'}; "
            "this is the setting, not the gradients.",
            {"learning rate": rate}, REMEDIES["invalid_learning_rate"]))
        found = True
    return found


def _check_exploding(logs, monitor, findings):
    evidence = {}
    loss = logs.get("loss", np.zeros(0))
    bad_loss = [i + 1 for i, v in enumerate(loss) if not math.isfinite(v)]
    if bad_loss:
        evidence["epochs with NaN/Inf loss"] = bad_loss[:10]
    finite = loss[np.isfinite(loss)]
    if len(finite) >= 2 and finite[0] > 0 and finite.max() > 10 * finite[0]:
        evidence["largest loss / first loss"] = float(finite.max() / finite[0])
    if monitor is not None and monitor.epochs:
        names = monitor.weighted_layer_names()
        nan = sum(sum(monitor.records[n]["nan_count"]) for n in names)
        inf = sum(sum(monitor.records[n]["inf_count"]) for n in names)
        if nan or inf:
            evidence["NaN gradient entries"] = int(nan)
            evidence["Inf gradient entries"] = int(inf)
        norms = monitor.array("grad_norm_max")[:, [monitor.layer_names.index(n) for n in names]]
        total = np.sqrt(np.nansum(norms ** 2, axis=1)) if norms.size else np.zeros(0)
        total = total[np.isfinite(total) & (total > 0)]
        if len(total) >= 2 and total.max() > 100 * total[0]:
            evidence["largest / first gradient norm"] = float(total.max() / total[0])
    if not evidence:
        return False
    severity = "critical" if bad_loss or "NaN gradient entries" in evidence else "warning"
    summary = "gradients grow until the updates overshoot: the loss diverges" + (" to NaN/Inf." if bad_loss else ".")
    if bad_loss and bad_loss[0] == 1:  # no finite epoch to see a divergence in
        summary = ("the loss is NaN/Inf from the first epoch: either the inputs hold NaN/Inf (pass x= and y= to "
                   "diagnose to check them) or the updates diverged within the first epoch.")
    findings.append(Finding("exploding_gradients", severity, summary, evidence, REMEDIES["exploding_gradients"]))
    return True


def _rms_gradients(monitor):
    """(names, mean over epochs of the per-parameter RMS gradient) for layers with weights."""
    names = monitor.weighted_layer_names()
    norms = monitor.array("grad_norm")[:, [monitor.layer_names.index(n) for n in names]]
    counts = np.array([monitor.parameter_counts[n] for n in names], dtype=np.float64)
    finite = np.isfinite(norms)
    epochs = np.maximum(finite.sum(axis=0), 1)
    rms = np.where(finite, norms, 0.0).sum(axis=0) / epochs / np.sqrt(counts)
    return names, rms


def _check_vanishing(monitor, findings, vanishing_ratio):
    names, rms = _rms_gradients(monitor)
    if len(names) < 2 or not np.isfinite(rms).all() or rms[-1] <= 0:
        return
    ratio = float(rms[0] / rms[-1])
    if ratio >= vanishing_ratio:
        return
    change = monitor.array("weight_change")[:, [monitor.layer_names.index(n) for n in names]]
    evidence = {
        "first/last layer RMS gradient": ratio,
        "RMS gradient per layer": [float(v) for v in rms],
        "weight change per epoch, first layer": float(np.nanmean(change[:, 0])),
        "weight change per epoch, last layer": float(np.nanmean(change[:, -1])),
    }
    saturated = monitor.array("saturated_fraction")[-1]
    if np.nan_to_num(saturated).any():
        evidence["saturated units per layer (last epoch)"] = [
            float(v) for v in saturated if math.isfinite(v)]
    findings.append(Finding(
        "vanishing_gradients", "critical" if ratio < vanishing_ratio ** 2 else "warning",
        f"the first layer ({names[0]}) gets {ratio:.2g}x the gradient of the last ({names[-1]}): "
        "early layers' weights barely move, so the network learns slowly or not at all.",
        evidence, REMEDIES["vanishing_gradients"]))


def _check_dying(monitor, findings, dead_threshold):
    dead = monitor.array("dead_fraction")[-1]
    bad = {name: float(v) for name, v in zip(monitor.layer_names, dead) if math.isfinite(v) and v >= dead_threshold}
    if not bad:
        return False
    worst = max(bad.values())
    findings.append(Finding(
        "dying_relu", "critical" if worst >= 0.9 else "warning",
        f"{worst:.0%} of the units of a ReLU layer output 0 for every sample: they get no gradient and never recover.",
        {"dead fraction per layer (last epoch)": bad}, REMEDIES["dying_relu"]))
    return True


def _check_overfitting(logs, findings, tolerance, gap):
    val = logs.get("val_loss")
    loss = logs["loss"]
    if val is None or len(val) != len(loss) or len(val) < 3 or not np.isfinite(val).all():
        return  # (validation_freq > 1 leaves epochs without val_loss: no epoch-by-epoch comparison)
    evidence, summaries = {}, []
    best = int(np.argmin(val))
    final = float(val[-1])
    if best < len(val) - 1 and final > val[best] * (1 + tolerance) and loss[-1] < loss[best]:
        evidence["best epoch (lowest val_loss)"] = best + 1
        evidence["val_loss at best / final"] = [float(val[best]), final]
        evidence["loss at best / final"] = [float(loss[best]), float(loss[-1])]
        summaries.append(f"val_loss rose {final / val[best] - 1:.0%} above its minimum (epoch {best + 1}) while "
                         "the training loss kept falling: the model memorizes the training set.")
    key = _accuracy_key(logs)
    accuracies = [float(logs[key][-1]), float(logs[f"val_{key}"][-1])] if key and f"val_{key}" in logs else None
    wide_accuracy_gap = accuracies is not None and accuracies[0] - accuracies[1] >= gap
    wide_loss_gap = (math.isfinite(loss[-1]) and loss[0] > 0 and final >= 1.5 * loss[-1]
                     and final - loss[-1] >= 2 * gap * loss[0])
    if wide_accuracy_gap or wide_loss_gap:
        evidence["final loss / val_loss"] = [float(loss[-1]), final]
        summaries.append(
            f"at the end the validation {'accuracy is ' if wide_accuracy_gap else 'loss is '}"
            + (f"{accuracies[0] - accuracies[1]:.1%} below the training accuracy" if wide_accuracy_gap
               else f"{final / loss[-1]:.1f}x the training loss")
            + ": the model fits the training set much better than new data (high variance).")
    if not summaries:
        return
    if accuracies is not None:
        evidence[f"{key} / val_{key} (final)"] = accuracies
    findings.append(Finding("overfitting", "warning", " ".join(summaries), evidence, REMEDIES["overfitting"]))


def _check_high_bias(logs, findings, target):
    key = _accuracy_key(logs)
    if key is None:
        return
    final = float(logs[key][-1])
    if final >= target:
        return
    evidence = {f"final training {key}": final, "target": target}
    if f"val_{key}" in logs:
        evidence[f"final val_{key}"] = float(logs[f"val_{key}"][-1])
    findings.append(Finding(
        "high_bias", "warning",
        f"the training {key} is only {final:.1%}: the model underfits even the data it is trained on.",
        evidence, REMEDIES["high_bias"]))


def _check_learning_rate(loss, findings):
    if not np.isfinite(loss).all() or loss[0] <= 0:
        return
    steps = np.diff(loss)
    rises = float(np.mean(steps > 0.02 * np.abs(loss[:-1])))
    if rises >= 0.3 or loss[-1] > loss[0]:
        findings.append(Finding(
            "learning_rate_too_high", "warning",
            "the training loss oscillates or climbs instead of falling steadily: the steps overshoot the minimum.",
            {"share of epochs where the loss rose": rises, "first / final loss": [float(loss[0]), float(loss[-1])]},
            REMEDIES["learning_rate_too_high"]))
        return
    drop = float(1 - loss[-1] / loss[0])
    third = max(1, len(loss) // 3)
    early = (loss[0] - loss[third]) / third
    late = (loss[-1 - third] - loss[-1]) / third
    if len(loss) >= 5 and 0 <= drop < 0.1 and (steps <= 0).all() and early > 0 and late >= 0.5 * early:
        findings.append(Finding(
            "learning_rate_too_low", "info",
            f"the loss falls steadily but only {drop:.1%} in {len(loss)} epochs, as fast at the end as at the "
            "start: the steps are too small.",
            {"relative loss decrease": drop, "decrease per epoch, first / last third": [float(early), float(late)]},
            REMEDIES["learning_rate_too_low"]))


# --------------------------------------------------------------------------- explain_step


@dataclass
class LayerStep:
    """One layer of :class:`StepTrace`: its forward values, gradients and gradient-descent update.

    ``inputs`` (a_prev), ``z`` = a_prev W + b (None for layers without weights), ``a`` =
    activation(z); ``dL_da``, ``dL_dz`` = dL/da * f'(z); ``dL_dW`` = a_prev^T dL/dz,
    ``dL_db`` = sum over the batch of dL/dz; ``W_new`` = W - lr dL/dW, ``b_new`` = b - lr dL/db.
    """

    name: str
    activation: str
    inputs: np.ndarray
    z: np.ndarray
    a: np.ndarray
    dL_da: np.ndarray = None
    dL_dz: np.ndarray = None
    W: np.ndarray = None
    b: np.ndarray = None
    dL_dW: np.ndarray = None
    dL_db: np.ndarray = None
    W_new: np.ndarray = None
    b_new: np.ndarray = None


@dataclass
class StepTrace:
    """The teaching trace of one gradient-descent step (see :func:`explain_step`)."""

    layers: list
    loss: float
    loss_name: str
    y_true: np.ndarray
    y_pred: np.ndarray
    learning_rate: float

    def __str__(self):
        def show(name, value):
            if value is None:
                return []
            text = np.array2string(np.asarray(value), precision=6, suppress_small=True, separator=", ")
            pad = " " * (len(name) + 7)
            return [f"    {name} = " + text.replace("\n", "\n" + pad)]

        lines = [f"One gradient-descent step (learning rate {self.learning_rate:g}, loss {self.loss_name})",
                 "Forward pass:"]
        for i, layer in enumerate(self.layers, 1):
            lines.append(f"  layer {i} ({layer.name}, activation {layer.activation})")
            lines += show("a_prev", layer.inputs) + show("z = a_prev W + b", layer.z) + show("a = f(z)", layer.a)
        lines.append(f"  y_pred = {np.array2string(self.y_pred, precision=6, separator=', ')}, "
                     f"y_true = {np.array2string(np.asarray(self.y_true), precision=6, separator=', ')}")
        lines.append(f"  loss L = {self.loss:.6g}")
        lines.append("Backward pass (chain rule, output to input):")
        for i in range(len(self.layers), 0, -1):
            layer = self.layers[i - 1]
            lines.append(f"  layer {i} ({layer.name})")
            lines += show("dL/da", layer.dL_da) + show("dL/dz = dL/da * f'(z)", layer.dL_dz)
            lines += show("dL/dW = a_prev^T dL/dz", layer.dL_dW) + show("dL/db", layer.dL_db)
        lines.append("Update W <- W - lr * dL/dW, b <- b - lr * dL/db:")
        for i, layer in enumerate(self.layers, 1):
            if layer.W is None:
                continue
            lines.append(f"  layer {i} ({layer.name})")
            lines += show("W old", layer.W) + show("W new", layer.W_new)
            lines += show("b old", layer.b) + show("b new", layer.b_new)
        return "\n".join(lines)


def _learning_rate_of(model, learning_rate):
    if learning_rate is not None:
        return float(learning_rate)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError("explain_step needs a learning rate: compile the model or pass learning_rate=0.01.")
    return float(optimizer.learning_rate)


def explain_step(model, x, y, learning_rate=None, loss=None, apply=False):
    """Trace one step of backpropagation and gradient descent on a small batch ``(x, y)``.

    Forward, layer by layer: z = a_prev W + b, a = f(z). The loss L(y, a_last) (the
    compiled loss, or ``loss``; a softmax/sigmoid output is *not* fused here, so every
    dL/da is shown). Backward, by the chain rule: dL/dz = dL/da * f'(z),
    dL/dW = a_prev^T dL/dz, dL/db = sum_batch dL/dz, dL/da_prev = dL/dz W^T. Update
    with plain gradient descent: W_new = W - learning_rate * dL/dW (whatever the
    compiled optimizer; ``learning_rate`` defaults to the optimizer's).

    The model is left unchanged unless ``apply=True``, which writes W_new and b_new into
    it. Works on a plain stack of layers (Sequential). Returns a :class:`StepTrace`;
    ``print()`` it for the worked example.
    """
    from .losses import as_loss  # noqa: PLC0415
    from .models.training import _name_of, ensure_built, prepare_inputs, prepare_target  # noqa: PLC0415

    stack = _traced_layers(model)
    spec = loss if loss is not None else getattr(model, "_loss_spec", None)
    if spec is None:
        raise ValueError("explain_step needs a loss: compile the model (loss='mse', ...) or pass loss='mse'.")
    loss_fn = as_loss(spec)
    lr = _learning_rate_of(model, learning_rate)
    xs = prepare_inputs(model, x)
    ensure_built(model, xs)

    steps, links = [], []
    a_prev = Tensor(xs[0], requires_grad=True)
    for layer in stack:
        step, link = _forward_layer(layer, a_prev)
        steps.append(step)
        links.append(link)
        a_prev = Tensor(link.a.data, requires_grad=True)  # a leaf, so dL/da stops here to be read

    output = a_prev
    y_true = prepare_target(_name_of(spec), y, (None,) + tuple(output.shape[1:]), model.dtype)
    value = loss_fn(y_true, output)
    value.backward()
    grad = output.grad
    for link, step in zip(reversed(links), reversed(steps)):
        grad = _backward_layer(link, step, grad, lr)
    if apply:
        _apply_update(links, steps)
    return StepTrace(steps, float(value.data), _name_of(spec), np.asarray(y_true),
                     backend.to_numpy(output.data).copy(), lr)


@dataclass
class _Link:
    """One layer of the traced chain: its input leaf, its pre-activation (leaf and tensor) and output."""

    layer: object
    a_in: Tensor
    z_leaf: Tensor
    z: Tensor
    a: Tensor


def _traced_layers(model):
    """The layers explain_step walks: those of a Sequential model, its InputLayer left out."""
    from .layers.core import InputLayer  # noqa: PLC0415

    stack = getattr(model, "_tracked_layers", None)
    if stack is None or type(model).call is not _sequential_call():
        raise TypeError("explain_step traces a Sequential model (a plain stack of layers); "
                        f"got {type(model).__name__}.")
    return [layer for layer in stack if not isinstance(layer, InputLayer)]


def _copy(value):
    """A host copy of a tensor's values or of a gradient array (None stays None)."""
    if value is None:
        return None
    return backend.to_numpy(value.data if isinstance(value, Tensor) else value).copy()


def _forward_layer(layer, a_prev):
    """One layer's forward pass, split at its pre-activation when the layer exposes one.

    z is cut from a = f(z) by a leaf, so that backward stops there and dL/dz can be read.
    """
    from .layers.core import apply_activation  # noqa: PLC0415

    function = layer.output_activation()
    if function is not None:
        z = layer.pre_activation(a_prev)
        z_leaf = Tensor(z.data, requires_grad=True)
        a = apply_activation(function, z_leaf, False)
        name = activations.serialize(function)
    else:
        z = z_leaf = None
        a = layer(a_prev, training=False)
        name = type(layer).__name__
    for w in layer.trainable_weights:
        w.zero_grad()
    kernel, bias = layer.kernel_and_bias()
    step = LayerStep(layer.name, name, _copy(a_prev), _copy(z), _copy(a), W=_copy(kernel), b=_copy(bias))
    return step, _Link(layer, a_prev, z_leaf, z, a)


def _backward_layer(link, step, grad, lr):
    """Send dL/da back through one layer, record dL/dz, dL/dW, dL/db and the update; returns dL/da_prev."""
    step.dL_da = _copy(grad)
    link.a.backward(grad)
    if link.z_leaf is not None:
        step.dL_dz = _copy(link.z_leaf.grad)
        link.z.backward(link.z_leaf.grad)
    kernel, bias = link.layer.kernel_and_bias()
    if kernel is not None and kernel.grad is not None:
        step.dL_dW = _copy(kernel.grad)
        step.W_new = step.W - lr * step.dL_dW
    if bias is not None and bias.grad is not None:
        step.dL_db = _copy(bias.grad)
        step.b_new = step.b - lr * step.dL_db
    for w in link.layer.trainable_weights:
        w.zero_grad()
    a_in = link.a_in
    return a_in.grad if a_in.grad is not None else np.zeros(a_in.shape, dtype=a_in.dtype)


def _apply_update(links, steps):
    """Write each traced W_new and b_new into the layer's own weights."""
    with no_grad():
        for link, step in zip(links, steps):
            kernel, bias = link.layer.kernel_and_bias()
            if step.W_new is not None:
                kernel.data[...] = step.W_new
            if step.b_new is not None:
                bias.data[...] = step.b_new


def _sequential_call():
    from .models.sequential import Sequential  # noqa: PLC0415

    return Sequential.call
