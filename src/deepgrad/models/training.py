"""The training loop behind ``Model.fit``/``evaluate``/``predict``/``train_on_batch``.

Data arrive as NumPy arrays (or lists of them for several inputs/outputs) and are
validated and converted once, before the first step. Each step then costs one
gather per array, the forward pass, the loss, backward and one optimizer update:
no per-sample Python and no per-batch conversions.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..tensor import Tensor, no_grad

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
        if a.dtype.kind not in "fiub":
            raise TypeError(f"input {i} has dtype {a.dtype}; inputs must be numeric.")
        if a.ndim == 0:
            raise ValueError(f"input {i} is a scalar; inputs need a batch axis (shape (n_samples, ...)).")
        cast.append(a.astype(model.dtype, copy=False))
    counts = {len(a) for a in cast}
    if len(counts) != 1:
        raise ValueError(f"all inputs must have the same number of samples, got {[len(a) for a in cast]}.")
    return cast


def prepare_data(model, x, y):
    """Inputs and targets as arrays, checked to hold the same number of samples: (xs, ys, n)."""
    xs = prepare_inputs(model, x)
    ys = as_array_list(y, "y")
    n = sample_count(xs)
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

    def loss(self, y_batch, outputs, sample_weight):
        """The training objective: weighted mean loss of each output plus regularization penalties."""
        total = None
        for i, output in enumerate(outputs):
            loss_fn = self.fused[i] or self.loss_fns[i]
            value = loss_fn(y_batch[i], output, sample_weight=sample_weight)
            if self.loss_weights[i] != 1.0:
                value = value * self.loss_weights[i]
            total = value if total is None else total + value
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

    # ---- metrics
    def update(self, loss_value, count, y_batch, outputs, sample_weight):
        self.loss_sum += loss_value * count
        self.loss_count += count
        if any(self.metrics):
            predictions = self.predictions(outputs)
            for i, metric_list in enumerate(self.metrics):
                for metric in metric_list:
                    metric.update_state(y_batch[i], predictions[i], sample_weight=sample_weight)

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
        logs = {"loss": self.loss_sum / max(self.loss_count, 1)}
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
    """One entry per output from a single value, a list or a dict keyed by output name."""
    if isinstance(spec, dict):
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
        dummy = [_dummy_inputs(s, model.dtype) for s in expected_list]
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


def combined_sample_weight(sample_weight, class_weight, y_arrays, n, dtype):
    """Per-sample weights from ``sample_weight`` and/or ``class_weight`` (None when both are absent)."""
    weights = None
    if sample_weight is not None:
        weights = np.asarray(sample_weight, dtype=dtype).reshape(-1)
        if len(weights) != n:
            raise ValueError(f"sample_weight has {len(weights)} entries for {n} samples.")
    if class_weight is not None:
        if len(y_arrays) != 1:
            raise ValueError("class_weight is supported for single-output models only (as in Keras).")
        y = y_arrays[0]
        if y.ndim > 1 and y.shape[-1] > 1:
            ids = y.argmax(axis=-1).reshape(-1)
        else:
            ids = np.round(y.reshape(len(y), -1)[:, 0]).astype(np.int64)
        table = np.ones(int(max(ids.max() + 1, max(class_weight) + 1)), dtype=dtype)
        for cls, w in class_weight.items():
            table[int(cls)] = w
        cw = table[ids]
        weights = cw if weights is None else weights * cw
    return weights


# --------------------------------------------------------------------------- steps


def train_step(model, state, x_batch, y_batch, w_batch, trainable):
    """One step of gradient descent on a batch; returns the batch loss (a float)."""
    buffer = model._buffer
    if buffer is not None:
        buffer.zero_grad()
    else:
        for w in trainable:
            w.grad = None
    inputs = [Tensor(a) for a in x_batch]
    outputs = state.forward(inputs, training=True)
    loss = state.loss(y_batch, outputs, w_batch)
    loss.backward()
    model.optimizer.step(trainable)
    for layer in model._step_constraints:
        layer.apply_constraints()
    loss_value = float(loss.data)
    state.update(loss_value, len(x_batch[0]), y_batch, outputs, w_batch)
    return loss_value


def _verbose(verbose, default):
    if verbose == "auto":
        return default
    return int(verbose)


def fit(model, x, y, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
        validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
        steps_per_epoch=None, validation_batch_size=None, validation_freq=1):
    """The training loop behind :meth:`Model.fit` (see there): epochs of shuffled mini-batch steps."""
    from ..callbacks import CallbackList  # noqa: PLC0415

    model._require_compiled("fit")
    xs, ys, n = prepare_data(model, x, y)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight)
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}.")
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight).")
        val = tuple(validation_data) + (None,) * (3 - len(validation_data))
    elif validation_split:
        # Keras holds out the last fraction of the data, before any shuffling
        split_at = int(math.floor(n * (1.0 - validation_split)))
        if split_at == 0 or split_at == n:
            raise ValueError(f"validation_split={validation_split} leaves no training or no validation samples of {n}.")
        val = ([a[split_at:] for a in xs], [a[split_at:] for a in ys],
               None if sample_weight is None else sample_weight[split_at:])
        xs, ys = [a[:split_at] for a in xs], [a[:split_at] for a in ys]
        sample_weight = None if sample_weight is None else sample_weight[:split_at]
        n = split_at
    state, ys, weights = compiled_targets(model, xs, ys, n, sample_weight, class_weight)
    model._parameter_buffer()
    trainable = model.trainable_weights
    if not trainable:
        raise ValueError(f"model {model.name!r} has no trainable weights: every layer is frozen.")

    batch_size = int(batch_size or 32)
    if batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
    steps = steps_per_epoch or math.ceil(n / batch_size)
    verbose = _verbose(verbose, 1)
    callback_list = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model,
                                 verbose=verbose, epochs=epochs, steps=steps)
    rng = backend.new_generator()
    model.stop_training = False
    model._initial_epoch_override = None
    callback_list.on_train_begin()
    start_epoch = model._initial_epoch_override if model._initial_epoch_override is not None else initial_epoch
    wants_batch_logs = callback_list.wants_batch_logs if hasattr(callback_list, "wants_batch_logs") else True
    cursor = 0
    order = np.arange(n)
    epoch_logs = {}
    for epoch in range(start_epoch, epochs):
        state.reset()
        callback_list.on_epoch_begin(epoch)
        if steps_per_epoch is None:
            order = rng.permutation(n) if shuffle else np.arange(n)
            cursor = 0
        for step in range(steps):
            if cursor >= n:  # steps_per_epoch ran past the data: start a new pass
                order = rng.permutation(n) if shuffle else np.arange(n)
                cursor = 0
            index = order[cursor:cursor + batch_size]
            cursor += batch_size
            callback_list.on_train_batch_begin(step)
            train_step(model, state, gather(xs, index), gather(ys, index),
                       None if weights is None else weights[index], trainable)
            callback_list.on_train_batch_end(step, state.results() if wants_batch_logs else None)
            if model.stop_training:
                break
        epoch_logs = state.results()
        if val is not None and (epoch + 1) % validation_freq == 0:
            val_logs = evaluate(model, val[0], val[1], batch_size=validation_batch_size or batch_size,
                                verbose=0, sample_weight=val[2], return_dict=True, _state=state)
            epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
        callback_list.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    callback_list.on_train_end(epoch_logs)
    model.history = callback_list.history
    return model.history


def evaluate(model, x, y, batch_size=None, verbose="auto", sample_weight=None, steps=None, callbacks=None,
             return_dict=False, single_batch=False, _state=None):
    """Loss and metrics over (x, y) in batches, with no graph recorded (see :meth:`Model.evaluate`)."""
    model._require_compiled("evaluate")
    xs, ys, n = prepare_data(model, x, y)
    state, ys, weights = compiled_targets(model, xs, ys, n, sample_weight, None)
    batch_size = n if single_batch else int(batch_size or 32)
    # evaluation must not disturb the training metrics it may be called in the middle of
    saved = _snapshot(state) if _state is not None else None
    state.reset()
    callback_list = None
    if not single_batch and (callbacks or _verbose(verbose, 1)):
        from ..callbacks import CallbackList  # noqa: PLC0415

        callback_list = CallbackList(callbacks, add_progbar=_verbose(verbose, 1) != 0, model=model,
                                     verbose=_verbose(verbose, 1), epochs=1,
                                     steps=math.ceil(n / batch_size))
        callback_list.on_test_begin()
    with no_grad():
        for step, (start, stop) in enumerate(batch_slices(n, batch_size)):
            if steps is not None and step >= steps:
                break
            x_batch = [a[start:stop] for a in xs]
            y_batch = [a[start:stop] for a in ys]
            w_batch = None if weights is None else weights[start:stop]
            outputs = state.forward([Tensor(a) for a in x_batch], training=False)
            loss = state.loss(y_batch, outputs, w_batch)
            state.update(float(loss.data), stop - start, y_batch, outputs, w_batch)
            if callback_list is not None:
                callback_list.on_test_batch_end(step, state.results())
    logs = state.results()
    if callback_list is not None:
        callback_list.on_test_end(logs)
    if saved is not None:
        _restore(state, saved)
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


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
    xs = prepare_inputs(model, x)
    ensure_built(model, xs)
    n = sample_count(xs)
    batch_size = n if single_batch else int(batch_size or 32)
    verbose = _verbose(verbose, 0)
    with no_grad():
        if n <= batch_size and not callbacks and not verbose:
            # small inputs: one forward pass, no data pipeline
            out = model(Tensor(xs[0]) if len(xs) == 1 else [Tensor(a) for a in xs], training=False)
            if isinstance(out, (list, tuple)):
                return [backend.to_numpy(o.data) for o in out]
            return out.data if type(out.data) is np.ndarray else backend.to_numpy(out.data)
        callback_list = None
        if callbacks or verbose:
            from ..callbacks import CallbackList  # noqa: PLC0415

            callback_list = CallbackList(callbacks, add_progbar=verbose != 0, model=model, verbose=verbose,
                                         epochs=1, steps=math.ceil(n / batch_size))
            callback_list.on_predict_begin()
        pieces = []
        for step, (start, stop) in enumerate(batch_slices(n, batch_size)):
            if steps is not None and step >= steps:
                break
            batch = [a[start:stop] for a in xs]
            out = model(batch[0] if len(batch) == 1 else batch, training=False)
            outs = out if isinstance(out, (list, tuple)) else [out]
            pieces.append([backend.to_numpy(o.data) for o in outs])
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
    state, ys, weights = compiled_targets(model, xs, ys, n, sample_weight, class_weight)
    model._parameter_buffer()
    if reset_metrics:
        state.reset()
    train_step(model, state, xs, ys, weights, model.trainable_weights)
    logs = state.results()
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values

