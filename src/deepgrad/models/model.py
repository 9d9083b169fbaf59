"""The Model: layers plus compile/fit/evaluate/predict (Keras 3's training API).

``Model(inputs, outputs)`` builds a functional model; subclassing ``Model`` with a
``call(self, x, training=False)`` method gives a model of any shape; ``Sequential``
stacks layers. All three share the training loop here.

The training step is short (DESIGN.md): one gather per batch, forward with the
graph, the loss (fused from logits for softmax/sigmoid outputs with a
cross-entropy), backward, one optimizer pass over the flat parameter buffer.
"""

from __future__ import annotations

from .. import backend
from ..layers.base import KerasTensor, Layer, _flatten, layer_classes
from ..parameters import ParameterBuffer
from ..tensor import no_grad
from . import training as _training


class Model(Layer):
    """A trainable stack or graph of layers with Keras' ``compile``/``fit``/``evaluate``/``predict``.

    Three ways to build one, as in Keras:

    * functional: ``Model(inputs=Input(shape=(4,)), outputs=Dense(1)(...))``;
    * subclassing: define ``call(self, inputs, training=False)`` and create layers in
      ``__init__`` (they are tracked automatically);
    * :class:`deepgrad.models.Sequential`.
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model and ("inputs" in kwargs or (args and _is_symbolic(args[0]))):
            # functional.py registers Functional when deepgrad.models is imported; looking it
            # up keeps this base module from importing its own subclass
            functional = layer_classes()["Functional"]
            return functional.__new__(functional)
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        if args:
            raise TypeError(
                "Model() takes (inputs, outputs) from Input() and layer calls for a functional model; "
                f"got positional arguments {args!r}."
            )
        name = kwargs.pop("name", None)
        trainable = kwargs.pop("trainable", True)
        super().__init__(name=name or backend.unique_name(_model_base_name(type(self))),
                         trainable=trainable, **kwargs)
        self._init_training_state()

    def _init_training_state(self):
        object.__setattr__(self, "_tracked_layers", [])
        object.__setattr__(self, "_tracked_metrics", [])  # Metric objects set as attributes
        self._loss_tracker = None
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._loss_spec = None
        self._metric_spec = None
        self._compiled_state = None
        self._buffer = None
        self._step_constraints = []
        self._compiled_steps = None
        self._initial_epoch_override = None
        # JSON-able facts saved with the model (e.g. the preprocessing a command-line model needs)
        self.metadata = {}

    # ------------------------------------------------------------------ layer tracking
    def __setattr__(self, name, value):
        if _is_metric(value):
            tracked = self.__dict__.get("_tracked_metrics")
            if tracked is not None and all(m is not value for m in tracked):
                tracked.append(value)
        elif isinstance(value, (Layer, list, tuple)):
            tracked = self.__dict__.get("_tracked_layers")
            if tracked is not None:
                for item in (value if isinstance(value, (list, tuple)) else (value,)):
                    if isinstance(item, Layer) and item is not self and item not in tracked:
                        tracked.append(item)
        object.__setattr__(self, name, value)

    @property
    def layers(self) -> list:
        """The model's layers in order (Keras' ``model.layers``)."""
        return list(self._tracked_layers)

    def _sublayers(self):
        return self.layers

    def get_layer(self, name=None, index=None):
        """A layer by name or by index."""
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; layers are {[layer.name for layer in self.layers]}.")

    def _unique_weights(self, weights):
        seen, unique = set(), []
        for w in weights:
            if id(w) not in seen:
                seen.add(id(w))
                unique.append(w)
        return unique

    @property
    def trainable_weights(self) -> list:
        if not self.trainable:
            return []
        return self._unique_weights(w for layer in self._sublayers() for w in layer.trainable_weights)

    @property
    def non_trainable_weights(self) -> list:
        if not self.trainable:
            return self._unique_weights(w for layer in self._sublayers() for w in layer.weights)
        return self._unique_weights(w for layer in self._sublayers() for w in layer.non_trainable_weights)

    @property
    def weights(self) -> list:
        """Every weight, layer by layer in Keras order (for Dense: kernel, bias)."""
        return self._unique_weights(w for layer in self._sublayers() for w in layer.weights)

    @property
    def losses(self) -> list:
        """Every loss term of the last forward pass: the model's own :meth:`add_loss` terms, then its
        layers' (regularization penalties, activity penalties, ``add_loss`` terms)."""
        return list(self._added_losses) + [p for layer in self._sublayers() for p in layer.losses]

    # ------------------------------------------------------------------ forward
    #: The ``training`` a call without one uses: set by :meth:`train` and :meth:`eval`.
    _training_mode = False

    def __call__(self, inputs, training=None, **kwargs):
        if training is None:
            training = self._training_mode
        return super().__call__(inputs, training=training, **kwargs)

    def train(self, mode=True):
        """Make ``model(x)`` run in training mode (dropout active, batch statistics), as PyTorch's ``train()``.

        It sets the default of ``training`` for calls that do not pass it, of this model
        and of the models nested in it; ``model(x, training=...)``, ``fit``, ``evaluate``
        and ``predict`` still choose for themselves. Returns the model.
        """
        for model in self._nested_models():
            object.__setattr__(model, "_training_mode", bool(mode))
        return self

    def eval(self):
        """Make ``model(x)`` run in inference mode again (the default), as PyTorch's ``eval()``; returns the model."""
        return self.train(False)

    def _nested_models(self):
        found, stack = [], [self]
        while stack:
            layer = stack.pop()
            if isinstance(layer, Model) and all(m is not layer for m in found):
                found.append(layer)
                stack.extend(layer._sublayers())
        return found

    def build(self, input_shape):
        """Build every layer for ``input_shape`` by running a dummy batch through the model."""
        from ..layers.base import _dummy_inputs  # noqa: PLC0415

        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        dummy = [_dummy_inputs(s, self.dtype) for s in shapes]
        self.built = True
        self.input_shape_built = input_shape
        inputs = dummy if isinstance(input_shape, list) else dummy[0]
        with no_grad():
            self.call(inputs, training=False) if self._call_accepts_training() else self.call(inputs)

    def call(self, inputs, training=False):
        raise NotImplementedError(
            f"{type(self).__name__} must define call(self, inputs, training=False), or build the model "
            "with Model(inputs, outputs) or Sequential([...])."
        )

    def forward_logits(self, inputs, training=False, outputs=None):
        """Outputs with the final activation left out, for fused losses (see :meth:`output_layers`).

        ``outputs`` says per output whether to give its pre-activation (the layer's
        :meth:`~deepgrad.layers.Layer.pre_activation`) instead of its value; by
        default every output whose layer exposes one.
        """
        raise NotImplementedError

    def output_layers(self):
        """The layers producing the outputs, when the model knows them (None for subclassed models)."""
        return None

    def _constrained_layers(self):
        return [layer for layer in self._sublayers() if layer._constraints]

    def _penalty_layers(self):
        """Layers that contribute loss terms (weight or activity regularizers, ``add_loss``)."""
        return [layer for layer in self._sublayers()
                if layer._regularizers or layer.activity_regularizer is not None or layer._adds_losses
                or layer._sublayers()]

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=None, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        """Configure training: the optimizer, the loss(es) and the metrics (Keras 3 arguments).

        ``optimizer`` is a name ('rmsprop', 'adam', 'sgd', ...) or an optimizer object;
        ``loss`` a name, a function ``loss(y_true, y_pred)`` or a Loss object (one per
        output for multi-output models: list or dict by output name); ``metrics`` a
        list of names ('accuracy', 'mae', ...) or Metric objects. ``run_eagerly`` and
        ``steps_per_execution`` are accepted for compatibility.

        ``jit_compile`` (True, False or 'auto', the default) records the training step and
        the inference forward pass once per batch shape and replays them into the same arrays
        afterwards, with the eager numbers bit for bit (see :mod:`deepgrad.models.compiled`
        and docs/jit_compile.md). Under 'auto', Sequential and functional models of deepgrad's
        layers are replayed, other models run eagerly; ``run_eagerly=True`` turns it off.
        :meth:`jit_status` says, per batch shape, whether a step is replayed or why not.
        """
        from .. import losses, optimizers  # noqa: PLC0415
        from .. import metrics as metric_identifiers  # noqa: PLC0415
        from .compiled import CompiledSteps, check_setting  # noqa: PLC0415

        self.optimizer = optimizers.get(optimizer)
        losses.check(loss)  # unknown names fail here, not at the first batch
        metric_identifiers.check(metrics)
        metric_identifiers.check(weighted_metrics)
        self._loss_spec = loss
        self._loss_weights = loss_weights
        self._metric_spec = metrics
        self._weighted_metric_spec = weighted_metrics
        # the running mean of the loss that custom steps and self.metrics report as 'loss'
        self._loss_tracker = metric_identifiers.Mean(name="loss") if loss is not None else None
        self.compiled = True
        self._compiled_state = None  # resolved on first use, once output shapes are known
        setting = False if run_eagerly else check_setting(jit_compile)
        self._compiled_steps = CompiledSteps(self, setting) if setting is not False else None

    def jit_status(self) -> dict:
        """``{step and batch shapes: 'replayed' or why it runs eagerly}`` (see ``compile(jit_compile=...)``)."""
        if self._compiled_steps is None:
            return {}
        return self._compiled_steps.status()

    @property
    def metrics_names(self) -> list:
        state = self._compiled_state
        if state is None:
            return ["loss"]
        return ["loss"] + state.metric_names()

    # ------------------------------------------------------------------ custom training (Keras 3)
    @property
    def metrics(self) -> list:
        """The metrics a training step updates and ``fit`` resets at the start of every epoch (Keras 3).

        The loss tracker (a :class:`~deepgrad.metrics.Mean` named ``loss``, when a loss was
        compiled), the compiled metrics once the first batch has resolved them, then every
        :class:`~deepgrad.metrics.Metric` set as an attribute of the model, in that order.
        A custom :meth:`train_step` returns ``{m.name: m.result() for m in self.metrics}``.
        """
        found = []
        if self._loss_tracker is not None:
            found.append(self._loss_tracker)
        if self._compiled_state is not None:
            found += [m for metric_list in self._compiled_state.metrics for m in metric_list]
        return found + [m for m in self._tracked_metrics if all(m is not f for f in found)]

    def get_metrics_result(self) -> dict:
        """``{name: result}`` of every metric in :attr:`metrics` (compiled ones named as in the logs)."""
        logs = {}
        if self._loss_tracker is not None:
            logs["loss"] = self._loss_tracker.result()
        if self._compiled_state is not None:
            logs.update(self._compiled_state.metric_results())
        for metric in self._tracked_metrics:
            logs[metric.name] = metric.result()
        return {name: _training.log_value(value) for name, value in logs.items()}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The training objective of a batch: the compiled loss of ``(y, y_pred)`` plus :attr:`losses`.

        ``losses`` are the regularization penalties and the :meth:`add_loss` terms of the
        last forward pass, so call it right after ``y_pred = self(x, training=True)``.
        The compiled loss takes ``y_pred`` as the model returned it (probabilities for a
        softmax output). Returns a scalar Tensor to differentiate; its value also goes to the
        loss tracker (the ``loss`` entry of :attr:`metrics`), weighted by the batch size.
        """
        penalties = self.losses  # read first: resolving the compiled loss may run a dummy forward pass
        total = None
        if self._loss_spec is not None:
            if y is None or y_pred is None:
                raise ValueError("compute_loss needs y and y_pred for the loss given to compile(); "
                                 "call it as self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sw).")
            ys = list(y) if isinstance(y, (list, tuple)) else [y]
            state = self._state([_training.host_array(t) for t in ys])
            weights = None if sample_weight is None else _training.host_array(sample_weight)
            total = state.loss(state.prepare_batch_targets(ys), _training.as_output_list(y_pred), weights,
                               logits=False, penalties=False)
        for penalty in penalties:
            total = penalty if total is None else total + penalty
        if total is None:
            raise ValueError("there is no loss to compute: give compile() a loss, or add loss terms "
                             "with add_loss() in call().")
        self._track_loss(total, x if x is not None else y_pred)
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None) -> dict:
        """Update the compiled metrics with the batch ``(y, y_pred)`` and return :meth:`get_metrics_result`."""
        state = self._compiled_state
        if state is not None and y is not None:
            ys = state.prepare_batch_targets(list(y) if isinstance(y, (list, tuple)) else [y])
            weights = None if sample_weight is None else _training.host_array(sample_weight)
            state.update_metrics(ys, [_training.host_array(o) for o in _training.as_output_list(y_pred)], weights)
        return self.get_metrics_result()

    def train_step(self, data) -> dict:
        """One training step on one batch ``data``; returns the logs. Override it for a custom step.

        ``data`` is what the training data yields: ``(x, y)``, ``(x, y, sample_weight)`` or
        ``x`` alone (read it with :func:`deepgrad.utils.unpack_x_y_sample_weight`). The
        default is::

            x, y, sample_weight = unpack_x_y_sample_weight(data)
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
            grads = deepgrad.grad(loss, self.trainable_variables)  # or self.zero_grad(); loss.backward()
            self.optimizer.apply(grads, self.trainable_variables)
            return self.compute_metrics(x, y, y_pred, sample_weight)

        ``fit`` calls an override for every batch, with callbacks, progress bar, History and
        validation around it; without an override it runs the same step on a faster path.
        """
        from ..tensor import grad  # noqa: PLC0415

        x, y, sample_weight = _training.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=True)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
        variables = self.trainable_variables
        self.optimizer.apply(grad(loss, variables), variables)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data) -> dict:
        """Loss and metrics of one evaluation batch (no update); returns the logs. Override it as :meth:`train_step`."""
        x, y, sample_weight = _training.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data):
        """The outputs for one batch of ``predict``: ``self(x, training=False)``. Override it to predict otherwise."""
        x, _, _ = _training.unpack_x_y_sample_weight(data)
        return self(x, training=False)

    def _track_loss(self, loss, batch):
        if self._loss_tracker is not None:
            count = len(_flatten(batch)[0])
            self._loss_tracker.update_state(_training.host_array(loss).reshape(1), sample_weight=[count])

    def _overrides(self, step) -> bool:
        """Whether the model's class overrides ``step`` ('train_step', 'test_step', 'predict_step')."""
        return getattr(type(self), step) is not getattr(Model, step)

    def zero_grad(self) -> None:
        """Clear the ``.grad`` of every trainable weight (before ``loss.backward()`` in a hand-written step)."""
        for weight in self.trainable_weights:
            weight.grad = None

    def _require_compiled(self, what):
        if not self.compiled or self.optimizer is None and what != "evaluate":
            raise RuntimeError(
                f"you must compile the model before {what}: call model.compile(optimizer=..., loss=...)."
            )

    def _state(self, y_arrays):
        if self._compiled_state is None:
            self._compiled_state = _training.CompiledState(self, self._loss_spec, self._loss_weights,
                                                           self._metric_spec, y_arrays)
        return self._compiled_state

    def to(self, device):
        """Move the model's weights to ``device`` (``'cpu'`` or ``'cuda'``) in place; returns the model.

        As in PyTorch, move a model before its optimizer holds state (before the first step):
        ``ValueError`` otherwise. ``fit``, ``evaluate`` and ``predict`` then move each batch to
        the model's device once and return NumPy arrays.
        """
        device = backend.parse_device(device)
        if device == self.device:
            return self
        if self.optimizer is not None and getattr(self.optimizer, "_variables", None):
            raise ValueError(f"model {self.name!r} is moved to {device!r} after its optimizer built state on "
                             f"{self.device!r}; move the model before training (or compile it again).")
        if self._buffer is not None:
            self._buffer.release()
            self._buffer = None
        return super().to(device)

    # ------------------------------------------------------------------ parameter buffer
    def _parameter_buffer(self):
        """The flat buffer holding every trainable weight (rebuilt when the trainable set changes)."""
        trainable = self.trainable_weights
        buffer = self._buffer
        if buffer is not None and buffer.owns(trainable):
            return buffer
        if buffer is not None:
            buffer.release()
        self._buffer = ParameterBuffer(trainable) if trainable else None
        # what each training step must visit, found once instead of per batch
        self._step_constraints = self._constrained_layers()
        return self._buffer

    # ------------------------------------------------------------------ training API
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` passes over ``(x, y)``; returns a ``History``.

        Mini-batch gradient descent with ``batch_size`` samples per step (32 by
        default): ``batch_size=len(x)`` is batch gradient descent, ``batch_size=1``
        stochastic gradient descent. ``validation_split`` holds out the *last*
        fraction of the data (before shuffling), as Keras does.
        """
        return _training.fit(self, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                             callbacks=callbacks, validation_split=validation_split,
                             validation_data=validation_data, shuffle=shuffle,
                             class_weight=class_weight, sample_weight=sample_weight,
                             initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                             validation_batch_size=validation_batch_size,
                             validation_freq=validation_freq, validation_steps=validation_steps)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """Loss and metrics on ``(x, y)``: a scalar without metrics, else ``[loss, *metrics]`` (or a dict)."""
        return _training.evaluate(self, x, y, batch_size=batch_size, verbose=verbose,
                                  sample_weight=sample_weight, steps=steps, callbacks=callbacks,
                                  return_dict=return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for ``x`` as NumPy arrays, in batches of ``batch_size`` (32), with no graph recorded.

        Unlike Keras, ``verbose='auto'`` shows no progress bar (pass ``verbose=1``),
        so predicting on a single sample costs little more than the matrix products.
        """
        return _training.predict(self, x, batch_size=batch_size, verbose=verbose, steps=steps,
                                 callbacks=callbacks)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False,
                       reset_metrics=True):
        """One gradient step on one batch; returns its loss (and metrics)."""
        return _training.train_on_batch(self, x, y, sample_weight=sample_weight,
                                        class_weight=class_weight, return_dict=return_dict,
                                        reset_metrics=reset_metrics)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss (and metrics) on one batch, without updating the weights."""
        return _training.evaluate(self, x, y, batch_size=None, verbose=0, sample_weight=sample_weight,
                                  return_dict=return_dict, single_batch=True)

    def predict_on_batch(self, x):
        """Outputs for one batch as NumPy arrays."""
        return _training.predict(self, x, batch_size=None, verbose=0, single_batch=True)

    def reset_metrics(self) -> None:
        """Reset the state of every metric: the compiled ones and those in :attr:`metrics`."""
        if self._compiled_state is not None:
            self._compiled_state.reset()
        for metric in self.metrics:
            metric.reset_state()

    # ------------------------------------------------------------------ summary, config, saving
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print the Keras 3 summary table: layers, output shapes, parameter counts and totals."""
        from .summary import print_summary  # noqa: PLC0415

        return print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                             show_trainable=show_trainable)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"model {self.name!r} has not been built yet: call it on data, fit it, or give the "
                "first layer input_shape=/input_dim= (or start with an Input)."
            )
        return int(sum(w.size for w in self.weights))

    def save(self, filepath, overwrite=True, **kwargs):
        """Save architecture, weights, compile settings and optimizer state to one zip file."""
        from .saving import save_model  # noqa: PLC0415

        save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath, overwrite=True):
        """Save only the weights (``.npz``-style zip of arrays, no pickle)."""
        from .saving import save_weights  # noqa: PLC0415

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        """Load weights saved by :meth:`save_weights` or :meth:`save` (names and shapes validated)."""
        from .saving import load_weights  # noqa: PLC0415

        load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def export(self, filepath, format="onnx", verbose=True, input_signature=None, **kwargs):
        """Write the inference graph for a serving runtime: ``format='onnx'`` (opset 17, needs ``onnx``).

        See :mod:`deepgrad.models.onnx_export` for the layers it covers; returns the ONNX ModelProto.
        """
        from .onnx_export import export_model  # noqa: PLC0415

        return export_model(self, filepath, format=format, verbose=verbose, input_signature=input_signature,
                            **kwargs)

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable}
        return config

    def architecture_config(self) -> dict:
        """``{"class_name": ..., "config": get_config()}``: the architecture as JSON-able data.

        Sequential and functional models describe themselves; a subclassed model must
        implement ``get_config``/``from_config`` (deepgrad never stores code).
        """
        if type(self).get_config is Model.get_config:
            raise NotImplementedError(
                f"{type(self).__name__} is a subclassed model without get_config(), so its architecture "
                "cannot be saved (deepgrad never stores code). Use model.save_weights(path), or implement "
                "get_config()/from_config() and pass the class in custom_objects when loading."
            )
        return {"class_name": type(self).__name__, "config": self.get_config()}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A model from its config (``Model.from_config`` of a functional config rebuilds the graph, as in Keras)."""
        functional = layer_classes()["Functional"]
        if cls is Model and "input_layers" in config and "layers" in config:
            return functional.from_config(config, custom_objects=custom_objects)
        return cls(**config)

    def get_compile_config(self):
        """The compile arguments as JSON-able values (saved with the model)."""
        if not self.compiled:
            return None
        from .saving import serialize_compile  # noqa: PLC0415

        return serialize_compile(self)


def _is_metric(value) -> bool:
    """Whether ``value`` is a metric (duck-typed, so that this module need not import deepgrad.metrics)."""
    return all(callable(getattr(value, name, None)) for name in ("update_state", "result", "reset_state")) \
        and not isinstance(value, type)


def _is_symbolic(value) -> bool:
    return any(isinstance(t, KerasTensor) for t in _flatten(value)) if value is not None else False


def _model_base_name(cls) -> str:
    from ..layers.base import snake_case  # noqa: PLC0415

    if cls.__name__ in ("Model", "Functional"):
        return "functional"
    return snake_case(cls.__name__)


__all__ = ["Model"]

