"""The training loop behind ``Model.fit``/``evaluate``/``predict``/``train_on_batch``.

Data arrive as NumPy arrays (or lists/dicts of them for several inputs/outputs) and are
validated and converted once, before the first step. Each step then costs one
gather per array, the forward pass, the loss, backward and one optimizer update:
no per-sample Python and no per-batch conversions. Generators and
:class:`~deepgrad.utils.PyDataset` instances hand out whole batches instead, each
converted as it arrives; both kinds reach the loops through one
:class:`~deepgrad.models.data_adapter.EpochIterator`.

``fit`` is: check the arguments, make the training and validation iterators, then per
epoch ``_train_epoch`` and ``_validate``, with a :class:`TrainingProgress` recording where
the run stands so that :class:`~deepgrad.callbacks.BackupAndRestore` can resume it exactly.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np

from .. import backend, distribution
from ..layers.base import Layer
from ..tensor import Tensor, no_grad
from ..utils import pack_x_y_sample_weight, unpack_x_y_sample_weight
from .data_adapter import (
    ArrayAdapter,
    DataExhaustedWarning,
    EpochIterator,
    adapter_for,
    is_batch_source,
)

# --------------------------------------------------------------------------- data preparation


def as_array_list(data, what):
    """``data`` (array, list of arrays, dict or None) as a list of NumPy arrays."""
    if data is None:
        return None
    if isinstance(data, dict):
        return [np.asarray(v) for v in data.values()]
    if isinstance(data, (list, tuple)) and data and _is_array_like(data[0]) and not _is_scalar_list(data):
        return [_to_numpy(d, what) for d in data]
    return [_to_numpy(data, what)]


def _is_array_like(value):
    return isinstance(value, (np.ndarray, Tensor)) or (
        isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple, np.ndarray)))


def _is_scalar_list(data):
    # a list of rows (each row a list of numbers) is one 2-D array, not several inputs
    first = data[0]
    if isinstance(first, (list, tuple)):
        return all(isinstance(v, (int, float, np.number)) for v in first)
    return False


def _to_numpy(value, what):
    if isinstance(value, Tensor):
        return value.numpy()
    try:
        array = np.asarray(value)
    except ValueError as err:
        raise ValueError(f"{what} could not be converted to an array (ragged rows?): {err}") from None
    if array.dtype == object:
        raise TypeError(f"{what} must be numeric; got an array of Python objects (mixed or ragged data).")
    return array


def prepare_inputs(model, x):
    """Input arrays cast to the model's float dtype, with one sample count."""
    if type(x) is np.ndarray and x.ndim and x.dtype.kind in "fiub":  # the common case, checked cheaply
        return [x if x.dtype == model.dtype else x.astype(model.dtype)]
    arrays = as_array_list(x, "x")
    if arrays is None:
        raise ValueError("x is required: pass the input data as a NumPy array (or a list of arrays).")
    cast = []
    for i, a in enumerate(arrays):
        if a.ndim == 0:
            raise ValueError(f"input {i} is a scalar; inputs need a batch axis (shape (n_samples, ...)).")
        if a.dtype.kind in "US" and takes_strings(model, i):
            cast.append(a)  # raw text, read by the model's TextVectorization
            continue
        if a.dtype.kind in "US":
            raise TypeError(
                f"input {i} is a string tensor fed to a model without TextVectorization: put a "
                "TextVectorization layer first (adapt it to the texts) to turn strings into token ids."
            )
        if a.dtype.kind not in "fiub":
            raise TypeError(f"input {i} has dtype {a.dtype}; inputs must be numeric.")
        cast.append(a.astype(model.dtype, copy=False))
    counts = {len(a) for a in cast}
    if len(counts) != 1:
        raise ValueError(f"all inputs must have the same number of samples, got {[len(a) for a in cast]}.")
    return cast


def takes_strings(model, i=0):
    """Whether input ``i`` of ``model`` goes first into a layer that reads raw strings (``accepts_strings``)."""
    nodes = getattr(model, "_nodes", None)
    if nodes is not None:  # a functional graph: the layers called on that Input
        source = model.inputs[i]
        return any(getattr(node.layer, "accepts_strings", False) for node in nodes
                   if any(t is source for t in node.inputs))
    layers = model.layers
    return bool(layers) and getattr(layers[0], "accepts_strings", False)


def prepare_data(model, x, y, check=False):
    """Inputs and targets as arrays, checked to hold the same number of samples: (xs, ys, n).

    With ``check`` (once per fit/evaluate) empty data and non-finite values are refused.
    """
    if check:
        for name, data in (("x", x), ("y", y)):
            arrays = as_array_list(data, name) or []
            for i, array in enumerate(arrays):
                check_finite(array, name if len(arrays) == 1 else f"{name}[{i}]", model.dtype)
    xs = prepare_inputs(model, x)
    ys = as_array_list(y, "y")
    n = sample_count(xs)
    if check and n == 0:
        raise ValueError("x holds no samples: training and evaluation need at least one.")
    if ys is not None and any(len(a) != n for a in ys):
        raise ValueError(f"x has {n} samples but y has {[len(a) for a in ys]}: they must match.")
    return xs, ys, n


def compiled_targets(model, xs, ys, n, sample_weight=None, class_weight=None):
    """Build the model if needed, resolve its losses and metrics, and check and convert the targets.

    Returns ``(state, ys, weights)``: the :class:`CompiledState`, the prepared target
    arrays and the per-sample weights (None without sample or class weights).
    """
    ensure_built(model, xs)
    state = model._state(ys)
    ys = state.prepare_targets(ys)
    return state, ys, combined_sample_weight(sample_weight, class_weight, ys, n, model.dtype)


def sample_count(arrays):
    """Number of samples (the length of the first array)."""
    return len(arrays[0])


def ensure_built(model, inputs):
    """Build the model from the inputs' shapes when it is not built yet; check them when it is."""
    if not model.built:
        shapes = [(None,) + a.shape[1:] for a in inputs]
        model.build(shapes if len(shapes) > 1 else shapes[0])
    expected = model.input_shape_built
    if type(expected) is tuple and len(inputs) == 1 and inputs[0].shape[1:] == expected[1:]:
        return
    if expected is not None:
        expected_list = expected if isinstance(expected, list) else [expected]
        if len(expected_list) != len(inputs):
            raise ValueError(f"model {model.name!r} expects {len(expected_list)} input(s), got {len(inputs)}.")
        for i, (shape, a) in enumerate(zip(expected_list, inputs)):
            sample = tuple(shape[1:])
            if len(sample) != a.ndim - 1 or any(s is not None and s != t for s, t in zip(sample, a.shape[1:])):
                raise ValueError(
                    f"input {i} of model {model.name!r} should have shape (n_samples, "
                    f"{', '.join('None' if s is None else str(s) for s in sample)}), got {a.shape}."
                )


def gather(arrays, index):
    """One fancy-index gather per array (the batch's only copy of the data)."""
    return [a[index] for a in arrays]


def batch_slices(n, batch_size):
    """(start, stop) of consecutive batches covering n samples; the last one may be shorter."""
    return [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


# --------------------------------------------------------------------------- compiled losses and metrics


class CompiledState:
    """Losses and metrics resolved against the model's outputs and the training targets."""

    def __init__(self, model, loss_spec, loss_weights, metric_spec, y_arrays):
        from .. import activations, losses, metrics  # noqa: PLC0415

        self.model = model
        output_shapes = model_output_shapes(model)
        self.n_outputs = len(output_shapes)
        self.output_names = output_names(model, self.n_outputs)
        loss_list = _per_output(loss_spec, self.n_outputs, self.output_names, "loss")
        if any(spec is None for spec in loss_list):
            raise ValueError(
                "compile() needs a loss for training and evaluation, e.g. "
                "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')."
            )
        # reducing Loss objects: loss(y, out, sample_weight) -> sum(w * l) / batch_size
        self.loss_fns = [losses.as_loss(spec) for spec in loss_list]
        self.loss_names = [_name_of(spec) for spec in loss_list]
        weights = _per_output(loss_weights, self.n_outputs, self.output_names, "loss_weights")
        self.loss_weights = [1.0 if w is None else float(w) for w in weights]

        # fuse softmax/sigmoid outputs with their cross-entropy: loss from the logits
        layers = model.output_layers()
        self.fused = [None] * self.n_outputs
        self.output_activations = [None] * self.n_outputs
        if layers is not None:
            for i, layer in enumerate(layers):
                activation = layer.output_activation()
                if activation is None:
                    continue
                name = activations.serialize(activation)
                self.output_activations[i] = activation
                self.fused[i] = losses.fused_output_loss(loss_list[i], name)
        self.any_fused = any(f is not None for f in self.fused)
        self.any_fused_mask = [f is not None for f in self.fused]  # the outputs given as logits

        metric_lists = _per_output(metric_spec, self.n_outputs, self.output_names, "metrics",
                                   broadcast_list=True)
        self.metrics = []
        for i, specs in enumerate(metric_lists):
            specs = specs if isinstance(specs, (list, tuple)) else ([] if specs is None else [specs])
            target_shape = y_arrays[i].shape if y_arrays is not None and i < len(y_arrays) else None
            resolved = [metrics.resolve(s, loss=loss_list[i], output_shape=output_shapes[i],
                                        target_shape=target_shape) for s in specs]
            self.metrics.append(resolved)
        self.loss_sum = 0.0
        self.loss_count = 0
        self.output_shapes = output_shapes
        self.penalty_layers = model._penalty_layers()  # visited each step for regularization terms
        self.loss_adders_version = Layer._loss_adders_version

    # ---- targets
    def prepare_targets(self, y_arrays, what="y"):
        """Validate and convert targets once: dtype and rank matched to each output and loss."""
        if y_arrays is None:
            raise ValueError(f"{what} is required for training and evaluation.")
        if len(y_arrays) != self.n_outputs:
            raise ValueError(f"the model has {self.n_outputs} output(s) but {what} has {len(y_arrays)} array(s).")
        prepared = []
        for i, (y, shape) in enumerate(zip(y_arrays, self.output_shapes)):
            prepared.append(prepare_target(self.loss_names[i], y, shape, self.model.dtype,
                                           self.output_names[i] if self.n_outputs > 1 else None))
        return prepared

    # ---- forward and loss
    def forward(self, inputs, training):
        """Model outputs (a list), with logits in place of fused softmax/sigmoid outputs."""
        model = self.model
        args = inputs if len(inputs) > 1 else inputs[0]
        if self.any_fused:
            outputs = model.forward_logits(args, training=training, outputs=self.any_fused_mask)
        else:
            outputs = model(args, training=training)
        return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

    def loss(self, y_batch, outputs, sample_weight, logits=True, penalties=True):
        """The training objective: weighted mean loss of each output plus regularization penalties.

        ``logits``: the outputs of fused softmax/sigmoid layers are their logits (from
        :meth:`forward`), not the model's activated outputs. ``penalties``: add the
        regularization and ``add_loss`` terms.
        """
        total = None
        masks = getattr(self.model, "_output_masks", None) or [None] * len(outputs)
        for i, output in enumerate(outputs):
            loss_fn = (self.fused[i] if logits else None) or self.loss_fns[i]
            weights = sample_weight if masks[i] is None else masked_weights(masks[i], sample_weight)
            value = loss_fn(y_batch[i], output, sample_weight=weights)
            if self.loss_weights[i] != 1.0:
                value = value * self.loss_weights[i]
            total = value if total is None else total + value
        return self.add_penalties(total) if penalties else total

    def add_penalties(self, total):
        """``total`` plus every regularization penalty and ``add_loss`` term of the last forward pass."""
        model = self.model
        if self.loss_adders_version != Layer._loss_adders_version:  # a layer started calling add_loss
            self.penalty_layers = model._penalty_layers()
            self.loss_adders_version = Layer._loss_adders_version
        for penalty in model._added_losses:
            total = total + penalty
        for layer in self.penalty_layers:
            for penalty in layer.losses:
                total = total + penalty
        return total

    def predictions(self, outputs):
        """Output arrays as the user sees them (the fused activation applied, no graph)."""
        result = []
        for i, output in enumerate(outputs):
            if self.fused[i] is not None:
                with no_grad():
                    output = self.output_activations[i](Tensor(output.data))
            result.append(backend.to_numpy(output.data))
        return result

    def prepare_batch_targets(self, y_batch):
        """One batch of targets (arrays or Tensors, one per output) converted as :meth:`prepare_targets` does."""
        return self.prepare_targets([host_array(y) for y in y_batch])

    def train_batch(self, x_batch, y_batch, w_batch, trainable):
        """One gradient step of the built-in training step (see :func:`train_step`)."""
        train_step(self.model, self, x_batch, y_batch, w_batch, trainable)

    # ---- metrics
    def update(self, loss_value, count, y_batch, outputs, sample_weight):
        # a device loss stays a device scalar: the sum is read (one copy) when the logs are
        self.loss_sum = self.loss_sum + loss_value * count
        self.loss_count += count
        if any(self.metrics):
            self.update_metrics(y_batch, self.predictions(outputs), sample_weight)

    def update_metrics(self, y_batch, predictions, sample_weight):
        """Fold one batch of (targets, predicted arrays) into every compiled metric."""
        for i, metric_list in enumerate(self.metrics):
            for metric in metric_list:
                metric.update_state(y_batch[i], predictions[i], sample_weight=sample_weight)

    def metric_results(self) -> dict:
        """``{log name: result}`` of the compiled metrics."""
        return dict(zip(self.metric_names(), [m.result() for ml in self.metrics for m in ml]))

    def reset(self):
        self.loss_sum = 0.0
        self.loss_count = 0
        for metric_list in self.metrics:
            for metric in metric_list:
                metric.reset_state()

    def metric_names(self):
        names = []
        for i, metric_list in enumerate(self.metrics):
            prefix = f"{self.output_names[i]}_" if self.n_outputs > 1 else ""
            names.extend(prefix + m.name for m in metric_list)
        return names

    def results(self):
        """Logs with Keras key names: 'loss' then each metric's name."""
        logs = {"loss": float(self.loss_sum) / max(self.loss_count, 1)}
        for name, metric in zip(self.metric_names(), [m for ml in self.metrics for m in ml]):
            value = metric.result()
            # per-class metrics (F1Score(average=None), several thresholds) stay arrays, as in Keras
            logs[name] = float(value) if np.ndim(value) == 0 else np.asarray(value)
        return logs


_SPARSE_LOSSES = ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy")
_ONE_HOT_LOSSES = ("categorical_crossentropy", "CategoricalCrossentropy", "categorical_hinge",
                   "CategoricalHinge", "categorical_focal_crossentropy", "CategoricalFocalCrossentropy")


def prepare_target(loss_name, y, output_shape, dtype, output_name=None):
    """Targets for one output, checked against the output shape and the loss's label format.

    Sparse cross-entropy takes integer class ids (n,) or (n, 1); categorical losses
    take one-hot rows (n, classes); other losses take targets shaped like the output,
    where (n,) is accepted for an output of shape (n, 1).
    """
    where = f" for output {output_name!r}" if output_name else ""
    sample_shape = tuple(output_shape[1:])
    y = np.asarray(y)
    if y.dtype.kind not in "fiub":
        raise TypeError(
            f"labels{where} have dtype {y.dtype}; they must be numeric. Encode string classes as "
            "integer ids first (e.g. with numpy.unique(..., return_inverse=True))."
        )
    if loss_name in _SPARSE_LOSSES:
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or (y.dtype.kind == "f" and not np.all(y == np.round(y))):
            raise ValueError(
                f"{loss_name} expects integer class ids of shape (n_samples,){where}, got labels of "
                f"shape {y.shape} and dtype {y.dtype}. For one-hot labels use categorical_crossentropy."
            )
        y = y.astype(np.int64)
        n_classes = sample_shape[-1] if sample_shape else 1
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(
                f"class ids{where} must lie in [0, {n_classes}) for an output of {n_classes} units; "
                f"got values from {y.min()} to {y.max()}."
            )
        return y
    if loss_name in _ONE_HOT_LOSSES and y.ndim == 1 and sample_shape and sample_shape[-1] > 1:
        raise ValueError(
            f"{loss_name} expects one-hot labels of shape (n_samples, {sample_shape[-1]}){where}, but got "
            f"integer class ids of shape {y.shape}. Use loss='sparse_categorical_crossentropy', or "
            "encode the labels with deepgrad.one_hot(y, num_classes)."
        )
    if y.ndim == len(sample_shape) and sample_shape and sample_shape[-1] == 1:
        y = y.reshape(y.shape + (1,))
    if tuple(y.shape[1:]) != sample_shape:
        raise ValueError(
            f"targets{where} have shape {y.shape}, but the model's output has shape "
            f"(n_samples, {', '.join(str(s) for s in sample_shape)}); they must match."
        )
    return y.astype(dtype, copy=False)


def _name_of(spec):
    if isinstance(spec, str):
        return spec
    return getattr(spec, "name", None) or getattr(spec, "__name__", type(spec).__name__)


def _per_output(spec, n, names, what, broadcast_list=False):
    """One entry per output from a single value, a list or a dict keyed by output name (a dict with a
    'class_name' key is one serialized identifier, as a saved Loss instance is)."""
    if isinstance(spec, dict) and "class_name" not in spec:
        unknown = set(spec) - set(names)
        if unknown:
            raise ValueError(f"{what} names unknown output(s) {sorted(unknown)}; outputs are {names}.")
        return [spec.get(name) for name in names]
    if n == 1:
        return [spec]
    if isinstance(spec, (list, tuple)) and not broadcast_list:
        if len(spec) != n:
            raise ValueError(f"{what} has {len(spec)} entries but the model has {n} outputs.")
        return list(spec)
    if isinstance(spec, (list, tuple)) and broadcast_list and len(spec) == n and all(
            isinstance(s, (list, tuple)) or s is None for s in spec):
        return list(spec)
    return [spec] * n


def model_output_shapes(model):
    """Each output's shape (batch axis None), from one dummy sample through the built model."""
    shapes = getattr(model, "_output_shapes_cache", None)
    if shapes is None:
        from ..layers.base import _dummy_inputs  # noqa: PLC0415

        expected = model.input_shape_built
        expected_list = expected if isinstance(expected, list) else [expected]
        device = model.device
        dummy = [_dummy_inputs(s, model.dtype).to(device) for s in expected_list]
        with no_grad():
            out = model(dummy if len(dummy) > 1 else dummy[0], training=False)
        outs = out if isinstance(out, (list, tuple)) else [out]
        shapes = [(None,) + tuple(o.shape[1:]) for o in outs]
        model._output_shapes_cache = shapes
    return shapes


def output_names(model, n):
    """Names used in logs for each output: the output layers' names, else output_1, output_2, ..."""
    layers = model.output_layers()
    if layers is not None and len(layers) == n:
        return [layer.name for layer in layers]
    return [f"output_{i + 1}" for i in range(n)]


def masked_weights(mask, sample_weight):
    """Per-step loss weights from an output mask (Keras 3): masked steps weigh 0, and the
    others total/valid, so that a mean over the batch is the mean over unmasked steps."""
    mask = np.asarray(backend.to_numpy(mask), dtype=np.float32)
    valid = float(mask.sum())
    weights = mask * (mask.size / valid if valid else 0.0)
    if sample_weight is not None:
        sw = np.asarray(backend.to_numpy(sample_weight.data if isinstance(sample_weight, Tensor)
                                         else sample_weight), dtype=np.float32)
        weights = weights * sw.reshape(sw.shape + (1,) * (weights.ndim - sw.ndim))
    return weights


def combined_sample_weight(sample_weight, class_weight, y_arrays, n, dtype):
    """Per-sample weights from ``sample_weight`` and/or ``class_weight`` (None when both are absent)."""
    weights = None
    if sample_weight is not None:
        weights = np.asarray(sample_weight, dtype=dtype).reshape(-1)
        if len(weights) != n:
            raise ValueError(f"sample_weight has {len(weights)} entries for {n} samples.")
    if class_weight is not None:
        table = class_weight if isinstance(class_weight, np.ndarray) else class_weight_table(class_weight, dtype)
        cw = class_weights_for(table, y_arrays)
        weights = cw if weights is None else weights * cw
    return weights


def class_weight_table(class_weight, dtype):
    """``class_weight`` ({class id: weight}) checked and turned into a lookup table (1.0 for absent ids)."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class id: weight}}, got {type(class_weight).__name__}.")
    if not class_weight:
        raise ValueError("class_weight is empty: give a weight per class id, e.g. {0: 1.0, 1: 5.0}, "
                         "or pass class_weight=None to weigh all classes equally.")
    ids = {}
    for key, weight in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise TypeError(f"class_weight keys must be integer class ids (0, 1, ...); got {key!r} "
                            f"({type(key).__name__}). Encode class names as ids first.")
        if key < 0:
            raise ValueError(f"class_weight has the negative class id {key}; class ids start at 0.")
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.number)) or not (
                math.isfinite(weight) and weight >= 0):
            raise ValueError(f"class_weight[{key}] must be a finite non-negative number, got {weight!r}.")
        ids[int(key)] = float(weight)
    table = np.ones(max(ids) + 1, dtype=dtype)
    for key, weight in ids.items():
        table[key] = weight
    return table


def class_weights_for(table, y_arrays):
    """Each sample's class weight: ``table[class id]``, the id from integer labels or one-hot rows."""
    if len(y_arrays) != 1:
        raise ValueError("class_weight is supported for single-output models only (as in Keras).")
    y = y_arrays[0]
    if y.ndim > 1 and y.shape[-1] > 1:
        ids = y.argmax(axis=-1).reshape(-1)
    else:
        labels = y.reshape(len(y), -1)[:, 0]
        if labels.dtype.kind == "f":
            fractional = labels != np.round(labels)
            if fractional.any():
                first = int(np.argmax(fractional))
                raise ValueError(
                    f"class_weight needs class labels, but y holds non-integer values (e.g. {labels[first]!r} at "
                    f"sample {first}): is this a regression target? Use sample_weight to weigh samples.")
        ids = labels.astype(np.int64)
        if ids.size and ids.min() < 0:
            raise ValueError(f"class_weight needs class ids >= 0; y holds {ids.min()}.")
    if ids.size and ids.max() >= len(table):  # classes without a weight keep 1.0
        table = np.concatenate([table, np.ones(int(ids.max()) + 1 - len(table), dtype=table.dtype)])
    return table[ids]


def check_finite(array, what, dtype=None):
    """Raise ``ValueError`` when ``array`` holds NaN or Inf (or values beyond ``dtype``'s range).

    When all is well it costs one matrix-vector product (the row sums: NaN and Inf
    propagate through them, and BLAS reads the array faster than a NumPy reduction),
    or a min and a max where values must also fit a narrower dtype; the count and the
    first bad index are computed only for the error message.
    """
    array = np.asarray(array)
    if array.dtype.kind not in "fc" or array.size == 0:
        return
    narrower = dtype is not None and np.dtype(dtype).kind == "f" and np.dtype(dtype).itemsize < array.dtype.itemsize
    limit = float(np.finfo(dtype).max) if narrower else math.inf
    if not narrower and array.ndim >= 2 and array.flags.c_contiguous and array.dtype.kind == "f":
        rows = array.reshape(len(array), -1)
        with np.errstate(invalid="ignore", over="ignore"):
            if np.isfinite(rows @ np.ones(rows.shape[1], dtype=rows.dtype)).all():
                return
    else:
        low, high = array.min(), array.max()
        if math.isfinite(low) and math.isfinite(high) and -limit <= low and high <= limit:
            return
    with np.errstate(invalid="ignore", over="ignore"):
        bad = ~np.isfinite(array)
        if narrower:
            bad |= np.abs(array) > limit
    count = int(bad.sum())
    if count == 0:
        return  # finite values whose row sum overflowed
    first = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), array.shape))
    beyond = f", or beyond {np.dtype(dtype).name}'s range" if narrower else ""
    raise ValueError(
        f"{what} holds {count} non-finite value(s) (NaN, Inf{beyond}); the first is {array[first]!r} at index "
        f"{first[0] if len(first) == 1 else first} (sample {first[0]}). Remove or impute them before training."
    )


def positive_int(value, name, default=None):
    """``value`` as a positive int (``default`` when None); a clear ``ValueError`` otherwise."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)

# --------------------------------------------------------------------------- steps


def train_step(model, state, x_batch, y_batch, w_batch, trainable):
    """One step of gradient descent on a batch; returns the batch loss (a float on the CPU, a
    device scalar on a GPU: reading it would wait for the step).

    With ``compile(jit_compile=...)`` on, the step is recorded once per batch signature and
    replayed afterwards (:mod:`deepgrad.models.compiled`); otherwise it runs eagerly.
    """
    steps = model._compiled_steps
    if steps is not None:
        return steps.train(state, x_batch, y_batch, w_batch, trainable, _eager_train_step)
    return _eager_train_step(model, state, x_batch, y_batch, w_batch, trainable)


def _eager_train_step(model, state, x_batch, y_batch, w_batch, trainable, recorder=None):
    """The eager step; with a ``recorder``, also records its forward pass, loss and backward pass.

    Returns the loss value, or with a recorder ``(loss value, outputs, loss tensor)``.
    """
    buffer = model._buffer
    if buffer is not None:
        buffer.zero_grad()
        device = backend.device_of(buffer.data)
    else:
        for w in trainable:
            w.grad = None
        device = model.device
    inputs = [Tensor(a) for a in batch_on(device, x_batch)]
    with recorder if recorder is not None else contextlib.nullcontext():
        outputs = state.forward(inputs, training=True)
        loss = state.loss(batch_on(device, y_batch), outputs, batch_on(device, w_batch))
        if trainable:  # a model without trainable weights only measures its loss (as Keras)
            loss.backward()
    if trainable:
        model.optimizer.step(trainable)
    for layer in model._step_constraints:
        layer.apply_constraints()
    loss_value = float(loss.data) if device == "cpu" else loss.data
    state.update(loss_value, len(x_batch[0]), y_batch, outputs, w_batch)
    return loss_value if recorder is None else (loss_value, outputs, loss)


def batch_on(device, arrays):
    """A batch (a list of host arrays, or None) on ``device``: one copy per array, none on the CPU."""
    if arrays is None or device == "cpu":
        return arrays
    return [backend.to_device(a, device) for a in arrays]


def host_array(value):
    """A NumPy array of ``value`` (a Tensor, a CuPy or NumPy array, a number)."""
    if isinstance(value, Tensor):
        value = value.data
    return value if type(value) is np.ndarray else backend.to_numpy(value)


def as_output_list(outputs) -> list:
    """One model output or a list of them, as a list."""
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def log_value(value):
    """A log entry as History and the progress bar keep it: a float, or an array (per-class metrics)."""
    value = host_array(value) if isinstance(value, Tensor) else value
    return float(value) if np.ndim(value) == 0 else np.asarray(value)


def _as_batch(x_batch, y_batch, w_batch):
    """A prepared batch as a step receives it: ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` of Tensors."""
    x = Tensor(x_batch[0]) if len(x_batch) == 1 else [Tensor(a) for a in x_batch]
    y = None if y_batch is None else (Tensor(y_batch[0]) if len(y_batch) == 1 else [Tensor(a) for a in y_batch])
    return pack_x_y_sample_weight(x, y, None if w_batch is None else Tensor(w_batch))


class StepLoop:
    """Runs a model's own ``train_step``/``test_step`` for each batch and keeps the logs they return.

    The stand-in for :class:`CompiledState` in the loops when a model overrides its steps
    (``reset``, ``results``, ``train_batch``, ``evaluate``): ``fit`` resets ``model.metrics`` at
    every epoch start and passes the logs of the last batch to callbacks and History.
    """

    def __init__(self, model):
        self.model = model
        self.logs = {}

    def reset(self):
        self.model.reset_metrics()
        self.logs = {}

    def results(self) -> dict:
        return dict(self.logs)

    def _run(self, step, x_batch, y_batch, w_batch):
        logs = step(_as_batch(x_batch, y_batch, w_batch))
        if not isinstance(logs, dict):
            raise TypeError(f"{type(self.model).__name__}.{step.__name__} must return a dict of logs, e.g. "
                            f"{{m.name: m.result() for m in self.metrics}}; it returned {type(logs).__name__}.")
        self.logs = {name: log_value(value) for name, value in logs.items()}

    def train_batch(self, x_batch, y_batch, w_batch, trainable=None):
        self.model.zero_grad()  # every step starts from fresh gradients, also after a bare loss.backward()
        self._run(self.model.train_step, x_batch, y_batch, w_batch)

    def evaluate(self, iterator, callback_list=None) -> dict:
        """Logs of ``test_step`` over one epoch of ``iterator``, with no graph recorded."""
        self.reset()
        ran = False
        with no_grad():
            for step, (x_batch, y_batch, w_batch) in iterator.epoch():
                self._run(self.model.test_step, x_batch, y_batch, w_batch)
                ran = True
                if callback_list is not None:
                    callback_list.on_test_batch_end(step, self.results())
        if not ran:
            raise ValueError("evaluation ran no batches: the data is empty or a generator ran out "
                             "(pass validation_steps/steps, or a generator that repeats).")
        return self.results()


def _verbose(verbose, default):
    if verbose == "auto":
        return default
    return int(verbose)


# --------------------------------------------------------------------------- data sources


def _reject_with_batch_source(what, **given):
    """Arguments that a generator or PyDataset provides itself must not be passed beside it."""
    for name, value in given.items():
        if value is not None and not (isinstance(value, (bool, float, int)) and not value):
            raise ValueError(
                f"{what}: do not pass {name} when x is a generator or PyDataset; its batches carry the data "
                "(x, y[, sample_weight]) and set their own size."
            )


def _batch_converter(model, state, class_table, training=True):
    """Prepare a raw batch of a generator or PyDataset as arrays are prepared once: ``(xs, ys, weights)``."""

    def convert(batch):
        x, y, sample_weight = unpack_x_y_sample_weight(batch)
        if not training:
            return prepare_inputs(model, x), None, None
        if y is None:
            raise ValueError("training and evaluation batches must be (x, y) or (x, y, sample_weight); got x alone.")
        xs, ys, n = prepare_data(model, x, y, check=True)
        ys = state.prepare_targets(ys)
        return xs, ys, combined_sample_weight(sample_weight, class_table, ys, n, model.dtype)

    return convert


def _peek_source(model, iterator, class_weight=None):
    """Build the model and its compiled state from the first batch of a batch source; set its converter."""
    x, y, _ = unpack_x_y_sample_weight(iterator.peek())
    xs, ys, n = prepare_data(model, x, y)
    state, _, _ = compiled_targets(model, xs, ys, n)
    table = None if class_weight is None else class_weight_table(class_weight, model.dtype)
    iterator.convert = _batch_converter(model, state, table)
    return state


def _training_source(model, x, y, sample_weight, class_weight, batch_size, shuffle, steps, validation_split):
    """The compiled state, the training :class:`EpochIterator` and the held-out validation arrays (or None)."""
    if is_batch_source(x):
        _reject_with_batch_source("fit", y=y, sample_weight=sample_weight, batch_size=batch_size,
                                  validation_split=validation_split)
        adapter = adapter_for(x, shuffle)
        iterator = EpochIterator(adapter, steps)
        if model._overrides("train_step"):
            state, iterator.convert = StepLoop(model), _step_converter(model, class_weight)
        else:
            state = _peek_source(model, iterator, class_weight)
        adapter.rng = backend.new_generator() if shuffle else None
        return state, iterator, None
    xs, ys, n = prepare_data(model, x, y, check=True)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight)
        check_finite(sample_weight, "sample_weight")
    xs, ys, sample_weight, n, held_out = _hold_out(xs, ys, sample_weight, n, validation_split)
    if model._overrides("train_step"):
        state, weights = StepLoop(model), step_sample_weight(model, ys, n, sample_weight, class_weight)
    else:
        state, ys, weights = compiled_targets(model, xs, ys, n, sample_weight, class_weight)
    rng = backend.new_generator()  # after the build, which draws the initial weights first
    adapter = ArrayAdapter(xs, ys, weights, positive_int(batch_size, "batch_size", 32), shuffle, rng)
    return state, EpochIterator(adapter, steps), held_out


def _hold_out(xs, ys, sample_weight, n, validation_split):
    """``(xs, ys, sample_weight, n, held_out)``: the last ``validation_split`` of the data set aside (Keras: before
    any shuffling) as ``held_out = (xs, ys, sample_weight)``, or None without a split."""
    if not validation_split:
        return xs, ys, sample_weight, n, None
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(f"validation_split={validation_split} leaves no training or no validation samples of {n}.")
    held_out = ([a[split_at:] for a in xs], None if ys is None else [a[split_at:] for a in ys],
                None if sample_weight is None else sample_weight[split_at:])
    xs, ys = [a[:split_at] for a in xs], None if ys is None else [a[:split_at] for a in ys]
    sample_weight = None if sample_weight is None else sample_weight[:split_at]
    return xs, ys, sample_weight, split_at, held_out


def step_sample_weight(model, ys, n, sample_weight, class_weight):
    """The per-sample weights handed to a model's own steps (None without sample or class weights)."""
    if class_weight is not None and ys is None:
        raise ValueError("class_weight needs the labels y: pass fit(x, y, class_weight=...).")
    return combined_sample_weight(sample_weight, class_weight, ys, n, model.dtype)


def _step_converter(model, class_weight):
    """Prepare a raw batch of a generator or PyDataset for a model's own steps: ``(xs, ys, weights)``."""
    table = None if class_weight is None else class_weight_table(class_weight, model.dtype)

    def convert(batch):
        x, y, sample_weight = unpack_x_y_sample_weight(batch)
        xs, ys, n = prepare_data(model, x, y, check=True)
        return xs, ys, step_sample_weight(model, ys, n, sample_weight, table)

    return convert


def _evaluation_source(model, x, y, sample_weight, batch_size, steps, state=None):
    """The compiled state (a :class:`StepLoop` for a model with its own ``test_step``) and an
    :class:`EpochIterator` of single passes over evaluation data."""
    custom = model._overrides("test_step") or model._overrides("train_step")
    if is_batch_source(x):
        _reject_with_batch_source("evaluate", y=y, sample_weight=sample_weight, batch_size=batch_size)
        iterator = EpochIterator(adapter_for(x), steps, fresh_passes=True)
        if custom:
            iterator.convert = _step_converter(model, None)
            return StepLoop(model), iterator
        peeked = _peek_source(model, iterator)
        return state or peeked, iterator
    xs, ys, n = prepare_data(model, x, y, check=True)
    if sample_weight is not None:
        check_finite(sample_weight, "sample_weight")
    if custom:
        adapter = ArrayAdapter(xs, ys, step_sample_weight(model, ys, n, sample_weight, None),
                               n if batch_size is None else batch_size)
        return StepLoop(model), EpochIterator(adapter, steps, fresh_passes=True)
    compiled, ys, weights = compiled_targets(model, xs, ys, n, sample_weight, None)
    adapter = ArrayAdapter(xs, ys, weights, n if batch_size is None else batch_size)
    return state or compiled, EpochIterator(adapter, steps, fresh_passes=True)


def _validation_runner(model, state):
    """What runs the validation steps: a :class:`StepLoop` when the model has its own steps, else ``state``."""
    return StepLoop(model) if model._overrides("test_step") or model._overrides("train_step") else state


def _validation_source(model, state, validation_data, held_out, batch_size, steps):
    """``(runner, iterator)`` for the validation data (None without any): the compiled state or a
    :class:`StepLoop`, and an :class:`EpochIterator` over the data."""
    if held_out is not None:
        return _validation_runner(model, state), EpochIterator(ArrayAdapter(*held_out, batch_size), steps,
                                                              fresh_passes=True)
    if validation_data is None:
        return None
    if is_batch_source(validation_data):
        return _evaluation_source(model, validation_data, None, None, None, steps, state)
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight), "
                         "a generator or a PyDataset.")
    x_val, y_val, weights = tuple(validation_data) + (None,) * (3 - len(validation_data))
    return _evaluation_source(model, x_val, y_val, weights, batch_size, steps, state)


# --------------------------------------------------------------------------- resumable progress


def random_streams(model):
    """Every layer's :class:`~deepgrad.backend.SeedGenerator` in the model (nested models included), once each."""
    streams, seen = [], set()

    def visit(layer):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        stream = getattr(layer, "seed_generator", None)
        if stream is not None:
            streams.append(stream)
        for sublayer in layer._sublayers():
            visit(sublayer)

    for layer in model._sublayers():
        visit(layer)
    return streams


class TrainingProgress:
    """Where a running ``fit`` stands: the next epoch and step, the position in the data and all random streams.

    ``fit`` exposes it as ``model._training_progress`` while it runs. :class:`~deepgrad.callbacks.BackupAndRestore`
    saves :meth:`get_state` and gives it back through :meth:`set_state` in ``on_train_begin``;
    training then continues from that very batch, with the shuffle order and the dropout
    masks it would have had, so the resumed run ends bit for bit where an uninterrupted one does.
    """

    def __init__(self, model, iterator):
        self.iterator = iterator
        self.streams = random_streams(model)
        self.epoch = 0
        self.step = 0
        self.restored = False

    def get_state(self) -> dict:
        """Plain values and arrays, for :func:`deepgrad.fileio.flatten_state`."""
        return {"epoch": self.epoch, "step": self.step, "data": self.iterator.get_state(),
                "layers": [stream.get_state() for stream in self.streams]}

    def set_state(self, state) -> None:
        """Continue from a state returned by :meth:`get_state` (``ValueError`` when it does not fit this run)."""
        if not isinstance(state, dict):
            raise ValueError("saved training progress is not a mapping.")
        epoch, step, layers = state.get("epoch"), state.get("step"), state.get("layers")
        for name, value in (("epoch", epoch), ("step", step)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"saved training progress has an invalid {name}: {value!r}.")
        if not isinstance(layers, list) or len(layers) != len(self.streams):
            raise ValueError(f"saved training progress holds {len(layers) if isinstance(layers, list) else 'no'} "
                             f"random layer streams; the model has {len(self.streams)}.")
        self.iterator.set_state(state.get("data"))
        for stream, saved in zip(self.streams, layers):
            stream.set_state(saved)
        self.epoch, self.step, self.restored = epoch, step, True


# --------------------------------------------------------------------------- loops


def _check_fit_arguments(epochs, steps_per_epoch, validation_steps, validation_freq, validation_split,
                         validation_batch_size):
    """Fail before any work on arguments that would otherwise give silent or late errors."""
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}.")
    positive_int(steps_per_epoch, "steps_per_epoch")
    positive_int(validation_steps, "validation_steps")
    positive_int(validation_freq, "validation_freq")
    positive_int(validation_batch_size, "validation_batch_size")
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}.")


def fit(model, x, y, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
        validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
        steps_per_epoch=None, validation_batch_size=None, validation_freq=1, validation_steps=None):
    """The training loop behind :meth:`Model.fit` (see there): epochs of shuffled mini-batch steps."""
    from ..callbacks import CallbackList  # noqa: PLC0415

    model._require_compiled("fit")
    _check_fit_arguments(epochs, steps_per_epoch, validation_steps, validation_freq, validation_split,
                         validation_batch_size)
    state, iterator, held_out = _training_source(model, x, y, sample_weight, class_weight, batch_size, shuffle,
                                                 steps_per_epoch, validation_split)
    validation = _validation_source(model, state, validation_data, held_out,
                                    validation_batch_size or positive_int(batch_size, "batch_size", 32),
                                    validation_steps)
    trainable = None
    if not isinstance(state, StepLoop):  # a model's own train_step finds its variables itself
        model._parameter_buffer()
        trainable = model.trainable_weights
        if not trainable:  # Keras trains such a model too: the loss and metrics are logged, nothing changes
            warnings.warn(f"The model {model.name!r} does not have any trainable weights.", stacklevel=3)
    verbose = _verbose(verbose, 1) if distribution.is_chief() else 0
    _start_data_parallel(model, iterator, None if validation is None else validation[1])
    callback_list = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model,
                                 verbose=verbose, epochs=epochs, steps=iterator.steps_per_epoch)
    progress = TrainingProgress(model, iterator)
    start_epoch, start_step = _begin_training(model, callback_list, progress, initial_epoch)
    epoch_logs = {}
    try:
        for epoch in range(start_epoch, epochs):
            logs = _train_epoch(model, state, iterator, callback_list, progress, epoch, start_step, trainable)
            start_step = 0
            if logs is None:  # the data ran out before this epoch began
                break
            epoch_logs = logs
            average_non_trainable_weights(model)
            if validation is not None and (epoch + 1) % validation_freq == 0:
                epoch_logs.update({f"val_{k}": v for k, v in _validate(*validation).items()})
            progress.epoch, progress.step = epoch + 1, 0
            callback_list.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
        if epochs > start_epoch:
            model.optimizer.finalize_variable_values(trainable)  # use_ema: the weights become their average
        callback_list.on_train_end(epoch_logs)
    finally:
        model._training_progress = None
    model.history = callback_list.history
    return model.history


def _begin_training(model, callback_list, progress, initial_epoch):
    """Run ``on_train_begin`` (where a backup may restore the run) and return the (epoch, step) to start at."""
    model.stop_training = False
    model._initial_epoch_override = None
    model._training_progress = progress
    callback_list.on_train_begin()
    if not progress.restored:
        override = model._initial_epoch_override
        progress.epoch = override if override is not None else initial_epoch
    return progress.epoch, progress.step


def _train_epoch(model, state, iterator, callback_list, progress, epoch, start_step, trainable):
    """One epoch of training steps from ``start_step``; its logs, or None when the data ran out before it."""
    state.reset()
    callback_list.on_epoch_begin(epoch)
    wants_batch_logs = callback_list.wants_batch_logs
    progress.epoch = epoch
    ran = False
    for step, (x_batch, y_batch, w_batch) in iterator.epoch(start_step):
        callback_list.on_train_batch_begin(step)
        state.train_batch(x_batch, y_batch, w_batch, trainable)
        _finish_shard()
        progress.step = step + 1
        ran = True
        callback_list.on_train_batch_end(step, global_results(state) if wants_batch_logs else None)
        if model.stop_training:
            break
    if iterator.exhausted:
        warnings.warn("the training data ran out; training stops. Make sure the generator or dataset yields at "
                      "least steps_per_epoch * epochs batches.", DataExhaustedWarning, stacklevel=4)
        model.stop_training = True
        if not ran and start_step == 0:
            return None
    return global_results(state)


def _validate(state, iterator):
    """Validation logs, leaving the training metrics' running state as it was."""
    if isinstance(state, StepLoop):
        state.evaluate(iterator)
        _finish_shard()
        return global_results(state)
    saved = _snapshot(state)
    try:
        return _evaluation_pass(state, iterator)
    finally:
        _restore(state, saved)


def _evaluation_pass(state, iterator, callback_list=None):
    """Loss and metrics over one epoch of ``iterator`` with no graph recorded."""
    state.reset()
    with no_grad():
        device = state.model.device
        for step, (x_batch, y_batch, w_batch) in iterator.epoch():
            outputs = state.forward([Tensor(a) for a in batch_on(device, x_batch)], training=False)
            loss = state.loss(batch_on(device, y_batch), outputs, batch_on(device, w_batch))
            state.update(float(loss.data) if device == "cpu" else loss.data, len(x_batch[0]), y_batch, outputs,
                         w_batch)
            _finish_shard()
            if callback_list is not None:
                callback_list.on_test_batch_end(step, global_results(state))
    results = global_results(state)
    if state.loss_count == 0:
        raise ValueError("evaluation ran no batches: the data is empty or a generator ran out "
                         "(pass validation_steps/steps, or a generator that repeats).")
    return results


def evaluate(model, x, y, batch_size=None, verbose="auto", sample_weight=None, steps=None, callbacks=None,
             return_dict=False, single_batch=False):
    """Loss and metrics over (x, y) in batches, with no graph recorded (see :meth:`Model.evaluate`)."""
    model._require_compiled("evaluate")
    steps = positive_int(steps, "steps")
    batch_size = None if single_batch else positive_int(batch_size, "batch_size", None if is_batch_source(x) else 32)
    state, iterator = _evaluation_source(model, x, y, sample_weight, batch_size, steps)
    iterator.sharded = distribution.active() is not None  # each rank evaluates its part; the sums are added
    callback_list = None
    verbose = _verbose(verbose, 1) if distribution.is_chief() else 0
    if not single_batch and (callbacks or verbose):
        from ..callbacks import CallbackList  # noqa: PLC0415

        callback_list = CallbackList(callbacks, add_progbar=verbose != 0, model=model, verbose=verbose, epochs=1,
                                     steps=iterator.steps_per_epoch)
        callback_list.on_test_begin()
    if isinstance(state, StepLoop):
        state.evaluate(iterator, callback_list)
        _finish_shard()
        logs = global_results(state)
    else:
        logs = _evaluation_pass(state, iterator, callback_list)
    if callback_list is not None:
        callback_list.on_test_end(logs)
    return _returned_logs(logs, return_dict)


# --------------------------------------------------------------------------- data parallelism


def _start_data_parallel(model, *iterators):
    """In a data-parallel run: rank 0's weights on every rank, and the iterators sharded."""
    parallel = distribution.active()
    if parallel is None:
        return
    for weight in model.weights:
        weight.data[...] = parallel.broadcast(np.ascontiguousarray(weight.data))
    for iterator in iterators:
        if iterator is not None:
            iterator.sharded = True


def _finish_shard():
    parallel = distribution.active()
    if parallel is not None:
        parallel.finish_batch()


def average_non_trainable_weights(model):
    """Average the non-trainable weights (BatchNormalization's moving statistics) over the ranks, once per epoch."""
    parallel = distribution.active()
    if parallel is None:
        return
    for weight in model.non_trainable_weights:
        total = parallel.allreduce(np.ascontiguousarray(weight.data, dtype=np.float64))
        weight.data[...] = total / parallel.size


def global_results(state):
    """``state.results()`` over every rank's batches: the loss and metric sums added over the ranks first
    (for a model's own ``train_step``, its logs averaged over the ranks)."""
    parallel = distribution.active()
    if parallel is None:
        return state.results()
    if isinstance(state, StepLoop):  # a model's own step: its logs, averaged over the ranks
        logs = state.results()
        numeric = [k for k, v in logs.items() if np.ndim(v) == 0]
        totals = parallel.sum_values([logs[k] for k in numeric]) / parallel.size
        return dict(logs, **{k: float(v) for k, v in zip(numeric, totals)})
    saved = _snapshot(state)
    try:
        metrics = [m for ml in state.metrics for m in ml]
        fields = [(m, name) for m in metrics for name in getattr(m, "_state_names", ())
                  if isinstance(getattr(m, name), (int, float, np.number, np.ndarray))]
        values = [np.asarray(getattr(m, name), dtype=np.float64).reshape(-1) for m, name in fields]
        flat = parallel.sum_values(np.concatenate([[state.loss_sum, state.loss_count]] + values))
        state.loss_sum, state.loss_count = float(flat[0]), int(flat[1])
        offset = 2
        for (metric, name), value in zip(fields, values):
            old = getattr(metric, name)
            total = flat[offset:offset + value.size]
            offset += value.size
            setattr(metric, name, total.reshape(np.shape(old)).astype(np.asarray(old).dtype)
                    if isinstance(old, np.ndarray) else type(old)(total[0]))
        return state.results()
    finally:
        _restore(state, saved)


def _snapshot(state):
    import copy  # noqa: PLC0415

    return (state.loss_sum, state.loss_count, [[copy.deepcopy(m.__dict__) for m in ml] for ml in state.metrics])


def _restore(state, saved):
    state.loss_sum, state.loss_count, metric_states = saved
    for ml, states in zip(state.metrics, metric_states):
        for metric, values in zip(ml, states):
            metric.__dict__.update(values)


def predict(model, x, batch_size=None, verbose="auto", steps=None, callbacks=None, single_batch=False):
    """Outputs for x as NumPy arrays, batched, with no graph recorded (see :meth:`Model.predict`)."""
    steps = positive_int(steps, "steps")
    verbose = _verbose(verbose, 0)
    if is_batch_source(x):
        _reject_with_batch_source("predict", batch_size=batch_size)
        iterator = EpochIterator(adapter_for(x), steps, fresh_passes=True)
        ensure_built(model, prepare_inputs(model, unpack_x_y_sample_weight(iterator.peek())[0]))
        iterator.convert = _batch_converter(model, None, None, training=False)
    else:
        xs = prepare_inputs(model, x)
        ensure_built(model, xs)
        n = sample_count(xs)
        batch_size = n if single_batch else positive_int(batch_size, "batch_size", 32)
        if n <= batch_size and not callbacks and not verbose and not model._overrides("predict_step"):
            # the flat buffer names the device at once; model.device walks every layer's weights
            device = backend.device_of(model._buffer.data) if model._buffer is not None else model.device
            xs = batch_on(device, xs)
            out = _replayed_forward(model, xs)
            if out is None:
                with no_grad():  # small inputs: one forward pass, no data pipeline
                    out = model(Tensor(xs[0]) if len(xs) == 1 else [Tensor(a) for a in xs], training=False)
            if isinstance(out, (list, tuple)):
                return [backend.to_numpy(o.data) for o in out]
            return out.data if type(out.data) is np.ndarray else backend.to_numpy(out.data)
        iterator = EpochIterator(ArrayAdapter(xs, None, None, batch_size), steps, fresh_passes=True)
    return _predict_pass(model, iterator, callbacks, verbose)


def _replayed_forward(model, xs):
    """``model(xs, training=False)`` replayed from a recorded forward pass, or None when it runs eagerly."""
    steps = model._compiled_steps
    return None if steps is None else steps.predict(xs)


def _predict_pass(model, iterator, callbacks, verbose):
    """Outputs over one epoch of ``iterator``, concatenated per output."""
    callback_list = None
    if callbacks or verbose:
        from ..callbacks import CallbackList  # noqa: PLC0415

        callback_list = CallbackList(callbacks, add_progbar=verbose != 0, model=model, verbose=verbose,
                                     epochs=1, steps=iterator.steps_per_epoch)
        callback_list.on_predict_begin()
    pieces = []
    custom = model._overrides("predict_step")
    device = model.device
    with no_grad():
        for step, (batch, _, _) in iterator.epoch():
            batch = batch_on(device, batch)
            if custom:
                out = model.predict_step(_as_batch(batch, None, None))
            else:
                out = _replayed_forward(model, [b.data if isinstance(b, Tensor) else b for b in batch])
                if out is None:
                    out = model(batch[0] if len(batch) == 1 else batch, training=False)
            outs = out if isinstance(out, (list, tuple)) else [out]
            pieces.append([host_array(o) for o in outs])
            if callback_list is not None:
                callback_list.on_predict_batch_end(step, {"outputs": outs})
    if callback_list is not None:
        callback_list.on_predict_end()
    if not pieces:
        raise ValueError("predict: no batches were run (empty input or steps=0).")
    joined = [np.concatenate([p[i] for p in pieces]) for i in range(len(pieces[0]))]
    return joined[0] if len(joined) == 1 else joined


def train_on_batch(model, x, y, sample_weight=None, class_weight=None, return_dict=False, reset_metrics=True):
    """One training step on one batch; returns its loss and metrics (see :meth:`Model.train_on_batch`)."""
    model._require_compiled("train_on_batch")
    xs, ys, n = prepare_data(model, x, y)
    if model._overrides("train_step"):
        loop = StepLoop(model)
        if reset_metrics:
            loop.reset()
        loop.train_batch(xs, ys, step_sample_weight(model, ys, n, sample_weight, class_weight))
        return _returned_logs(loop.results(), return_dict)
    state, ys, weights = compiled_targets(model, xs, ys, n, sample_weight, class_weight)
    model._parameter_buffer()
    if reset_metrics:
        state.reset()
    train_step(model, state, xs, ys, weights, model.trainable_weights)
    return _returned_logs(state.results(), return_dict)


def _returned_logs(logs, return_dict):
    """Logs as evaluate and train_on_batch return them: the dict, a scalar or a list of values."""
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values
