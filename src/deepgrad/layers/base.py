"""The Layer base class and the symbolic tensors of the functional API.

A layer owns weight tensors (created in :meth:`Layer.build` from the shape of its
first input, so sizes never need to be given twice) and computes its output in
:meth:`Layer.call` from engine operations; the engine derives every gradient.
The hooks a new layer may override, and what the rest of deepgrad expects of each,
are written in :class:`Layer`'s docstring.

Called on a :class:`KerasTensor` (from :func:`Input`), a layer records a node of a
functional graph instead of computing: the output's shape is found by running the
layer once on a dummy batch of one sample.
"""

from __future__ import annotations

import abc
import functools
import inspect
import math
import numbers
import re

import numpy as np

from .. import backend
from ..fileio import reserve_weight
from ..tensor import DEFAULT_FLOAT, Tensor, no_grad


def snake_case(name: str) -> str:
    """``BatchNormalization`` -> ``batch_normalization``, ``Conv2D`` -> ``conv2d`` (Keras' automatic layer names)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def normalize_shape(shape, what="input_shape"):
    """A shape given as an int or a sequence, as a tuple of ints (None allowed)."""
    if shape is None:
        return None
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    try:
        return tuple(None if s is None else int(s) for s in shape)
    except TypeError:
        raise TypeError(f"{what} must be an int or a tuple of ints, got {shape!r}.") from None


def check_number(layer, argument, value, low=None, high=None, low_open=False, high_open=False,
                 integer=False):
    """``value`` as a float (or int) after checking that it is a finite number in the given range.

    The check every layer constructor makes of its hyperparameters, so that a bad value
    (``epsilon=nan``, ``rate=1.5``) is refused where it is given, also when a model file
    declares it. ``low``/``high`` bound the range, open at an end with ``low_open``/
    ``high_open``. Raises ValueError naming the layer, the argument, the range and the value.
    """
    interval = ("(" if low_open else "[") + f"{'-inf' if low is None else low}, " \
        f"{'inf' if high is None else high}" + (")" if high_open else "]")
    kind = "an integer" if integer else "a number"
    problem = None
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral if integer else numbers.Real)):
        problem = f"must be {kind}"
    elif not math.isfinite(value):
        problem = "must be finite"
    elif low is not None and (value <= low if low_open else value < low):
        problem = f"must be in {interval}"
    elif high is not None and (value >= high if high_open else value > high):
        problem = f"must be in {interval}"
    if problem is not None:
        raise ValueError(f"{layer}: {argument} {problem}, got {argument}={value!r}.")
    return int(value) if integer else float(value)


def check_axes(layer, argument, axis):
    """``axis`` (an int or a list/tuple of ints) after checking its type, as Keras does."""
    items = [axis] if isinstance(axis, numbers.Integral) else axis
    if (isinstance(axis, bool) or not isinstance(items, (list, tuple)) or not items
            or not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in items)):
        raise ValueError(f"{layer}: {argument} must be an int or a list of ints (Expected an int or a list/tuple "
                         f"of ints for the argument '{argument}'), got {argument}={axis!r}.")
    return int(axis) if isinstance(axis, numbers.Integral) else [int(a) for a in axis]


class Node:
    """One call of a layer in a functional graph: its input and output KerasTensors.

    ``kwargs`` are the other arguments of the call (``use_causal_mask=True``, an explicit
    ``mask=`` or ``attention_mask=``): models replay them on every run, with the
    KerasTensors among them replaced by their values.
    """

    def __init__(self, layer, inputs, list_input, kwargs=None):
        self.layer = layer
        self.inputs = tuple(inputs)
        self.list_input = list_input  # the layer was called on a list (merge layers)
        self.kwargs = dict(kwargs or {})
        self.outputs = ()

    def parents(self):
        """Every KerasTensor the call reads: its inputs, then the tensors among its keyword arguments."""
        return self.inputs + tuple(t for value in self.kwargs.values() for t in _flatten(value)
                                   if isinstance(t, KerasTensor))

    def resolved_kwargs(self, values):
        """The keyword arguments with each KerasTensor replaced by ``values[id(tensor)]``."""
        return {key: _map_symbols(value, lambda t: values[id(t)]) for key, value in self.kwargs.items()}


class KerasTensor:
    """A symbolic tensor of the functional API: a shape (batch axis None) and the node that makes it."""

    def __init__(self, shape, dtype="float32", layer=None, node=None, name=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.layer = layer  # the layer that produced it
        self.node = node    # the call that produced it (None for an Input)
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"


def combine_masks(*masks):
    """The logical AND of the masks given (None entries ignored), or None when none is given."""
    combined = None
    for mask in masks:
        if mask is not None:
            combined = mask if combined is None else combined & mask
    return combined


def _flatten(structure):
    if isinstance(structure, (list, tuple)):
        return [item for sub in structure for item in _flatten(sub)]
    return [structure]


def _map_symbols(structure, function):
    """``structure`` (nested lists/tuples) with every KerasTensor ``t`` replaced by ``function(t)``."""
    if isinstance(structure, KerasTensor):
        return function(structure)
    if isinstance(structure, (list, tuple)):
        return type(structure)(_map_symbols(item, function) for item in structure)
    return structure


STRING_DTYPES = ("string", "str")


def is_string_dtype(dtype) -> bool:
    """Whether ``dtype`` names text: Keras' ``"string"`` (or ``"str"``, ``str``, a NumPy str/bytes dtype)."""
    if isinstance(dtype, str) and dtype in STRING_DTYPES:
        return True
    try:
        return np.dtype(dtype).kind in "US"
    except TypeError:
        return False


def _marks_built(build):
    """Wrap a ``build`` method so that it leaves the layer built, however it is called.

    ``layer.build(shape)`` called by hand (as Keras users do before ``set_weights``)
    must not be followed by a second build on the first call, which would replace
    the weights just set.
    """
    @functools.wraps(build)
    def build_and_mark(self, input_shape, *args, **kwargs):
        result = build(self, input_shape, *args, **kwargs)
        if self.input_shape_built is None:
            self.input_shape_built = (list(map(tuple, input_shape)) if isinstance(input_shape, list)
                                      else tuple(input_shape))
        self.built = True
        return result

    build_and_mark.marks_built = True
    return build_and_mark


#: deepgrad's own public layer and model classes by name, filled by Layer.__init_subclass__:
#: the classes a model file may name. Models register here too, so loading and
#: ``Model(inputs, outputs)`` find them without importing upwards. User classes never
#: enter it (they reach a loader through ``custom_objects``).
_DEEPGRAD_LAYER_CLASSES: dict = {}


def layer_classes() -> dict:
    """deepgrad's public layer and model classes by class name (``'Model'`` names Functional, as in Keras files).

    Importing ``deepgrad.models`` (which imports ``deepgrad.layers``) registers them all.
    """
    classes = dict(_DEEPGRAD_LAYER_CLASSES)
    if "Functional" in classes:
        classes["Model"] = classes["Functional"]
    return classes


class _LayerType(abc.ABCMeta):
    """Builds a layer whose input shape was declared once its whole constructor has run.

    It derives from ``abc.ABCMeta`` so that a layer may also inherit from an abstract base class.

    A subclass's ``__init__`` sets the attributes ``build`` needs after calling
    ``super().__init__``, so the base constructor cannot build; this is the one place
    that does it (``Dense(4, input_dim=3)`` has its kernel at once, as in Keras).
    """

    def __call__(cls, *args, **kwargs):
        layer = super().__call__(*args, **kwargs)
        if not layer.built and getattr(layer, "_input_shape_arg", None) is not None:
            layer.build_from_shape(layer._input_shape_arg)
        return layer


class Layer(metaclass=_LayerType):
    """Base class of all layers; a new layer is one subclass overriding these hooks.

    The contract (each hook documented below):

    * ``__init__(..., **kwargs)`` stores and validates the hyperparameters (raising
      ValueError naming the bad one) and passes ``**kwargs`` (name, dtype, trainable,
      input_shape, ...) to ``Layer.__init__``. It creates no weights.
    * :meth:`build` ``(input_shape)`` creates the weights with :meth:`add_weight` for
      inputs of ``input_shape`` (batch axis None). It runs exactly once: on the first
      call, when the model is built from its declared input shape, or at the end of
      construction when ``input_shape``/``input_dim`` is given. Calling it by hand marks
      the layer built too.
    * :meth:`call` ``(inputs, training=None, mask=None)`` computes the outputs from
      tensor operations (the engine derives the gradients). ``training`` and ``mask``
      may be left out of an override that does not use them.
    * :meth:`compute_output_shape` ``(input_shape)``: the output shape; by default
      found by running the layer on a dummy batch of one sample.
    * :meth:`get_config` returns the constructor arguments as JSON values, so that
      ``from_config(get_config())`` rebuilds the layer.
    * A layer whose output is an elementwise activation of a pre-activation,
      a = f(z), declares it by overriding :meth:`pre_activation` (z) and setting
      ``activation`` (f). :meth:`output_activation` is the one query of that contract:
      fused softmax/sigmoid cross-entropy, the logits path of models and
      ``explain_step`` use it.
    * :meth:`kernel_and_bias` names the weights playing W and b in z = x W + b, for
      plots and step traces (layers need not call their weights ``kernel``/``bias``).
    * :meth:`compute_mask` ``(inputs, mask)``: the mask of the outputs (Keras masking: a
      boolean (batch, timesteps) array, False at padded steps). Models carry masks from
      layer to layer with :func:`call_with_mask` and pass ``mask=`` to ``call`` when it
      takes one. The default passes the mask through when the layer preserves the
      leading axes of its inputs (same rank, mask shape still a prefix of the output
      shape: Dense or Dropout on sequences) and drops it otherwise (Flatten, pooling);
      a layer that makes a mask (Embedding, Masking) or consumes one (recurrent layers
      without ``return_sequences``) overrides it.

    Parameters
    ----------
    trainable : bool
        Whether the layer's weights are updated by training (``layer.trainable = False``
        freezes it, e.g. for transfer learning).
    name : str
        Unique name; Keras-style automatic names (``dense``, ``dense_1``, ...) by default.
    input_shape / batch_input_shape / input_dim :
        Shape of one sample (without the batch axis), to build the layer at once.
    """

    #: The elementwise activation f applied last (output a = f(z)), for layers that
    #: expose their pre-activation z through :meth:`pre_activation`; None otherwise.
    activation = None

    #: Losses given to :meth:`add_loss` during the layer's last call (a list once it has any).
    _added_losses = ()
    #: True once the layer has called :meth:`add_loss`: models then visit it for losses each step.
    _adds_losses = False
    #: Counts the layers that ever called :meth:`add_loss`, so that a model notices a new one
    #: with one integer comparison per step instead of walking its layers.
    _loss_adders_version = 0

    def __init__(self, trainable=True, name=None, dtype=None, input_shape=None,
                 batch_input_shape=None, input_dim=None, activity_regularizer=None, **kwargs):
        if kwargs:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword argument(s) {sorted(kwargs)}."
            )
        self.name = name or backend.unique_name(snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.dtype = np.dtype(dtype or DEFAULT_FLOAT)
        self.built = False
        self._weights = []            # every weight tensor, in creation order
        self._weight_trainable = []   # per weight: trainable by design (moving statistics are not)
        self._regularizers = []       # (weight tensor, regularizer) pairs
        self._constraints = []        # (weight tensor, constraint) pairs
        self._activity_losses = []    # activity penalties of the last forward pass
        self.activity_regularizer = _get_regularizer(activity_regularizer)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            input_shape = tuple(batch_input_shape)[1:]
        self._input_shape_arg = normalize_shape(input_shape)
        self.input_shape_built = None  # (None, ...) once built
        self._inbound = []             # functional-API calls (Node objects)
        self.last_output_shape = None  # shape of the last output, batch axis None (for summary())

    # ------------------------------------------------------------------ weights
    def add_weight(self, shape=None, initializer="glorot_uniform", dtype=None, trainable=True,
                   regularizer=None, constraint=None, name=None):
        """Create a weight tensor of ``shape`` drawn from ``initializer`` (Keras signature)."""
        from .. import initializers  # noqa: PLC0415 - layers may be imported before initializers

        shape = normalize_shape(shape or (), "shape")
        reserve_weight(shape, name)  # a model being loaded may not create more than its file holds
        init = initializers.get(initializer)
        values = np.asarray(init(shape, dtype=np.dtype(dtype or self.dtype)), dtype=dtype or self.dtype)
        weight = Tensor(values, requires_grad=bool(trainable and self._trainable))
        weight.name = name or f"weight_{len(self._weights)}"
        self._weights.append(weight)
        self._weight_trainable.append(bool(trainable))
        regularizer = _get_regularizer(regularizer)
        if regularizer is not None:
            self._regularizers.append((weight, regularizer))
        if constraint is not None:
            self._constraints.append((weight, _get_constraint(constraint)))
        return weight

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool):
        self._trainable = bool(value)
        for weight, by_design in zip(self._weights, self._weight_trainable):
            weight.requires_grad = bool(by_design and self._trainable)
        for layer in self._sublayers():
            layer.trainable = value

    def __setattr__(self, name, value):
        # As in Keras, the layers a layer holds in its attributes (one, or a list/tuple of them) are
        # its sublayers: their weights, losses and trainable flag are the layer's too. Without this, a
        # block built from layers (self.dense = Dense(...)) would hide its weights from training.
        if isinstance(value, (Layer, list, tuple)):
            for item in (value if isinstance(value, (list, tuple)) else (value,)):
                if isinstance(item, Layer) and item is not self:
                    nested = self.__dict__.setdefault("_nested_layers", [])
                    if all(item is not known for known in nested):
                        nested.append(item)
        object.__setattr__(self, name, value)

    def _sublayers(self):
        """The layers this layer holds (assigned to its attributes), in assignment order."""
        return list(self.__dict__.get("_nested_layers", ()))

    @property
    def weights(self) -> list:
        """All weight tensors (trainable first within each layer, as Keras lists them)."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self) -> list:
        own = [w for w, t in zip(self._weights, self._weight_trainable) if t] if self._trainable else []
        return own + [w for layer in self._sublayers() for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list:
        if self._trainable:
            own = [w for w, t in zip(self._weights, self._weight_trainable) if not t]
        else:
            own = list(self._weights)
        return own + [w for layer in self._sublayers() for w in layer.non_trainable_weights]

    @property
    def trainable_variables(self) -> list:
        """Keras 3's name for :attr:`trainable_weights`."""
        return self.trainable_weights

    @property
    def variables(self) -> list:
        """Keras 3's name for :attr:`weights`."""
        return self.weights

    def get_weights(self) -> list:
        """The weights as NumPy arrays, layer by layer (for Dense: kernel (in, out), then bias)."""
        return [backend.to_numpy(w.data).copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Set the weights from NumPy arrays given in :meth:`get_weights` order (shapes are checked)."""
        mine = self.weights
        weights = list(weights)
        if len(weights) != len(mine):
            raise ValueError(
                f"{type(self).__name__} {self.name!r} expects {len(mine)} weight arrays, got {len(weights)}. "
                "Pass arrays in get_weights() order."
            )
        for w, value in zip(mine, weights):
            value = np.asarray(value)
            if value.shape != w.shape:
                raise ValueError(
                    f"layer {self.name!r}: weight {w.name!r} has shape {w.shape}, "
                    f"got an array of shape {value.shape}."
                )
            w.data[...] = backend.to_device(value.astype(w.data.dtype, copy=False), w.device)

    @property
    def device(self) -> str:
        """The device of the layer's weights (the default device while it has none)."""
        weights = self.weights
        return weights[0].device if weights else backend.get_default_device()

    def to(self, device):
        """Move every weight to ``device`` (``'cpu'`` or ``'cuda'``) in place; returns the layer.

        Each weight keeps its identity (references held elsewhere stay valid) and loses its
        gradient. Weights a layer builds later are created on the default device.
        """
        device = backend.parse_device(device)
        for weight in self.weights:
            if weight.device != device:
                weight.data = backend.to_device(weight.data, device)
                weight.grad = None
                weight.grad_view = None
        return self

    def count_params(self) -> int:
        """Number of scalars in all weights."""
        return int(sum(w.size for w in self.weights))

    def add_loss(self, loss) -> None:
        """Add a loss term that is not a function of ``(y_true, y_pred)`` (Keras' ``add_loss``).

        Called from :meth:`call` with a tensor computed there (a VAE's KL divergence, a
        penalty on an activation); a tensor with several elements counts as their sum.
        The terms of the layer's last call are in :attr:`losses`; each call replaces them.
        Training adds them to the compiled loss (``fit``, ``evaluate``, ``Model.compute_loss``),
        so their gradients reach every weight they depend on.
        """
        if not isinstance(loss, Tensor):
            try:
                loss = Tensor(np.asarray(loss, dtype=self.dtype))
            except (TypeError, ValueError):
                raise TypeError(f"layer {self.name!r}: add_loss takes a tensor or a number, "
                                f"got {type(loss).__name__}.") from None
        if loss.dtype.kind != "f":
            raise TypeError(f"layer {self.name!r}: add_loss takes a floating-point loss, got dtype {loss.dtype}.")
        if loss.size != 1:
            loss = loss.sum()
        self._added_losses = [*self._added_losses, loss]
        if not self._adds_losses:
            self._adds_losses = True
            Layer._loss_adders_version += 1

    @property
    def losses(self) -> list:
        """Loss terms (scalar tensors): weight penalties, the last activity penalties and the
        terms :meth:`add_loss` received in the last call, of this layer and its sublayers."""
        penalties = [reg(w) for w, reg in self._regularizers]
        penalties += self._activity_losses
        penalties += self._added_losses
        for layer in self._sublayers():
            penalties += layer.losses
        return penalties

    def apply_constraints(self) -> None:
        """Project constrained weights after an update (kernel_constraint / bias_constraint)."""
        for weight, constraint in self._constraints:
            with no_grad():
                projected = constraint(weight)
            weight.data[...] = projected.data if isinstance(projected, Tensor) else projected

    # ------------------------------------------------------------------ the hooks of a layer
    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.partition(".")[0] == "deepgrad" and not cls.__name__.startswith("_"):
            _DEEPGRAD_LAYER_CLASSES[cls.__name__] = cls
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "marks_built", False):
            cls.build = _marks_built(build)

    @_marks_built
    def build(self, input_shape) -> None:
        """Create the weights for inputs of ``input_shape`` (a tuple, batch axis None; a list for several inputs).

        Override it in layers with weights, creating each with :meth:`add_weight`.
        After it returns the layer is built (``built`` is True, ``input_shape_built``
        holds the shape), whether the framework or the user called it. Layers
        without weights need not override it.
        """

    def call(self, inputs, training=None, mask=None):
        """The forward computation: outputs from ``inputs`` (a Tensor, or a list for merge layers).

        Override it with tensor operations; the engine derives every gradient.
        ``training`` is True during ``fit`` (dropout, batch statistics) and False
        otherwise; ``mask`` is the boolean (batch, timesteps) mask of the inputs, given
        only to overrides that take it. An override may leave out the arguments it does
        not use.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement call().")

    def compute_output_shape(self, input_shape):
        """Output shape for an input shape (batch axis None), found by running the layer on a dummy one-sample batch.

        Override it when the shape follows without computing (it is then also cheaper).
        """
        dummy = _dummy_inputs(input_shape, self.dtype)
        with no_grad():
            out = self(dummy, training=False)
        if isinstance(out, (list, tuple)):
            return [(None,) + tuple(o.shape[1:]) for o in out]
        return (None,) + tuple(out.shape[1:])

    def pre_activation(self, inputs, training=False):
        """z, the input of the layer's final elementwise activation: ``self(x) == activation(z)``.

        Layers of the form a = f(z) override it and set ``activation``; fused losses
        then compute the loss from z (the logits), and ``explain_step`` shows z and
        dL/dz. The default raises: the layer has no such split.
        """
        raise TypeError(f"{type(self).__name__} layer {self.name!r} does not expose a pre-activation.")

    def output_activation(self):
        """The activation f with ``self(x) == f(self.pre_activation(x))``, or None when the layer has no such split.

        The one question every user of the pre-activation contract asks: a layer
        answers with its ``activation`` when its class overrides :meth:`pre_activation`.
        """
        if type(self).pre_activation is Layer.pre_activation:
            return None
        return self.activation

    def kernel_and_bias(self):
        """(W, b): the weights playing the kernel and the bias in z = x W + b, each a Tensor or None.

        Plots (weight histograms) and ``explain_step`` ask this instead of looking for
        attributes themselves. The default follows Keras' naming: the weight held in the
        attribute ``kernel`` (``bias``), else the weight created with that name; a layer
        whose weights play these roles under other names overrides it.
        """
        named = {w.name: w for w in self._weights}

        def role(name):
            held = self.__dict__.get(name)
            return held if isinstance(held, Tensor) else named.get(name)

        return role("kernel"), role("bias")

    def compute_mask(self, inputs, mask=None):
        """The mask of the outputs for ``inputs`` with ``mask`` (None: no mask).

        The default returns ``mask`` (for several inputs, the logical and of the masks
        given); :func:`call_with_mask` then drops it when the layer changed the leading
        axes. Layers that create or consume masks override it.
        """
        if isinstance(mask, (list, tuple)):
            return combine_masks(*mask)
        return mask

    def _call_accepts_mask(self) -> bool:
        cls = type(self)
        known = cls.__dict__.get("_call_takes_mask")
        if known is None:
            params = inspect.signature(cls.call).parameters
            known = "mask" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())
            cls._call_takes_mask = known
        return known

    def _maybe_build(self, inputs):
        if self.built:
            return
        shapes = [(None,) + tuple(t.shape[1:]) for t in _flatten(inputs)]
        self.build(shapes[0] if not isinstance(inputs, (list, tuple)) else shapes)

    def build_from_shape(self, input_shape) -> None:
        """Build for a sample shape given without (or with a None) batch axis."""
        if not self.built:
            shape = tuple(input_shape)
            if not shape or shape[0] is not None:
                shape = (None,) + shape
            self.build(shape)

    # Set per instance by diagnostics.GradientMonitor on the batches it samples:
    # observer(outputs, training) sees each output of __call__; None costs one test per call.
    _output_observer = None

    def _call_accepts_training(self) -> bool:
        cls = type(self)
        known = cls.__dict__.get("_call_takes_training")
        if known is None:  # found once per class
            params = inspect.signature(cls.call).parameters
            known = "training" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())
            cls._call_takes_training = known
        return known

    def __call__(self, inputs, training=None, **kwargs):
        if type(inputs) is not Tensor:  # the common case (one tensor) skips these checks
            if any(isinstance(t, KerasTensor) for t in _flatten(inputs)):
                return self._call_symbolic(inputs, **kwargs)
            inputs = _to_tensors(inputs)
        if not self.built:
            self._maybe_build(inputs)
        if self._added_losses:  # losses belong to one call: the new call adds its own
            self._added_losses = []
        if self._call_accepts_training():
            outputs = self.call(inputs, training=bool(training), **kwargs)
        else:
            outputs = self.call(inputs, **kwargs)
        if self.activity_regularizer is not None:
            self._activity_losses = [self.activity_regularizer(o) for o in _flatten(outputs)]
        if self._output_observer is not None:
            self._output_observer(outputs, bool(training))
        first = outputs if type(outputs) is Tensor else (
            outputs[0] if isinstance(outputs, (list, tuple)) else outputs)
        self.last_output_shape = (None,) + first.shape[1:]
        return outputs

    def _call_symbolic(self, inputs, **kwargs):
        symbols = _flatten(inputs)
        if not getattr(self, "accepts_strings", False):
            for s in symbols:
                if is_string_dtype(s.dtype):
                    raise TypeError(
                        f"layer {self.name!r} ({type(self).__name__}) cannot take the string tensor {s.name!r}: "
                        "put a TextVectorization layer first to turn strings into token ids."
                    )
        dummy = [_dummy_inputs(s.shape, s.dtype if is_string_dtype(s.dtype) else self.dtype) for s in symbols]
        dummy = dummy if isinstance(inputs, (list, tuple)) else dummy[0]
        # tensors among the keyword arguments (masks) get a dummy of ones: every step kept
        dummy_kwargs = {key: _map_symbols(value, lambda t: _dummy_inputs(t.shape, _dummy_dtype(t.dtype, self.dtype),
                                                                          fill=1))
                        for key, value in kwargs.items()}
        with no_grad():
            out = self(dummy, training=False, **dummy_kwargs)
        outs = out if isinstance(out, (list, tuple)) else [out]
        node = Node(self, symbols, isinstance(inputs, (list, tuple)), kwargs)
        node.outputs = tuple(KerasTensor((None,) + tuple(o.shape[1:]), str(o.dtype), self, node,
                                         name=f"{self.name}_output_{i}" if len(outs) > 1 else self.name)
                             for i, o in enumerate(outs))
        self._inbound.append(node)
        return list(node.outputs) if isinstance(out, (list, tuple)) else node.outputs[0]

    @property
    def output_shape(self):
        if self._inbound:
            outs = self._inbound[0].outputs
            return outs[0].shape if len(outs) == 1 else [o.shape for o in outs]
        if self.input_shape_built is None:
            raise AttributeError(f"layer {self.name!r} has not been built yet, so its output shape is unknown.")
        return self.compute_output_shape(self.input_shape_built)

    # ------------------------------------------------------------------ configuration
    def serialized(self, *names) -> dict:
        """``{name: JSON description}`` of the layer's attributes ``names`` (activations,
        initializers, regularizers, constraints), for ``get_config``."""
        return {name: _serialize(getattr(self, name)) for name in names}

    def get_config(self) -> dict:
        """Constructor arguments as JSON-able values (``from_config(get_config())`` rebuilds the layer)."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": str(self.dtype)}
        if self._input_shape_arg is not None:
            config["batch_input_shape"] = [None, *self._input_shape_arg]
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = _serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def call_with_mask(layer, inputs, mask, training=False, **kwargs):
    """(outputs, output mask) of ``layer`` on ``inputs`` whose mask is ``mask``: how models carry masks.

    Without a mask, and for a layer that makes none, this is ``layer(inputs)`` and None:
    models without masking pay one test per layer. A layer whose ``call`` takes ``mask``
    receives it, and ``kwargs`` (the other options a graph node stored) go to every call.
    The default :meth:`Layer.compute_mask` result is kept only while the
    output has the input's rank and the mask's shape as its leading axes.
    """
    own = type(layer).compute_mask is not Layer.compute_mask
    if not own and (mask is None or (isinstance(mask, (list, tuple)) and all(m is None for m in mask))):
        return layer(inputs, training=training, **kwargs), None
    if mask is not None and layer._call_accepts_mask():
        outputs = layer(inputs, training=training, mask=mask, **kwargs)
    else:
        outputs = layer(inputs, training=training, **kwargs)
    out_mask = layer.compute_mask(inputs, mask)
    if out_mask is not None and not own:
        first_in = _flatten(inputs)[0]
        first_out = _flatten(outputs)[0]
        shape = tuple(np.shape(out_mask))
        if first_out.ndim != first_in.ndim or tuple(first_out.shape[:len(shape)]) != shape:
            out_mask = None
    return outputs, out_mask


def _dummy_inputs(shape, dtype, fill=0):
    shape = tuple(1 if s is None else s for s in shape)
    if is_string_dtype(dtype):
        return Tensor(np.full(shape, "", dtype=np.str_))
    return Tensor(np.full(shape, fill, dtype=dtype))


def _dummy_dtype(dtype, default):
    """The dtype of a dummy standing for a keyword-argument tensor: its own if boolean or integer."""
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        return default
    return dtype if kind in "biu" else default


def _to_tensors(inputs):
    if isinstance(inputs, Tensor):
        return inputs
    if isinstance(inputs, (list, tuple)):
        return type(inputs)(_to_tensors(t) for t in inputs)
    array = np.asarray(inputs) if backend.namespace(inputs) is np else inputs  # a device array stays there
    if array.dtype == np.float64:
        array = array.astype(DEFAULT_FLOAT)
    return Tensor(array)


def _get_regularizer(identifier):
    if identifier is None:
        return None
    from .. import regularizers  # noqa: PLC0415

    return regularizers.get(identifier)


def _get_constraint(identifier):
    from .. import constraints  # noqa: PLC0415

    return constraints.get(identifier)


def _serialize(obj):
    """A JSON-able description of an activation/initializer/regularizer/... object."""
    if obj is None:
        return None
    if isinstance(obj, (str, dict)):  # a name, or a description read back from a config
        return obj
    module = type(obj).__module__ if not inspect.isfunction(obj) else obj.__module__
    if module.endswith(".activations"):
        from .. import activations  # noqa: PLC0415

        return activations.serialize(obj)
    if hasattr(obj, "get_config"):
        return {"class_name": type(obj).__name__, "config": obj.get_config()}
    name = getattr(obj, "__name__", None)
    if name:
        return name
    raise TypeError(f"cannot serialize {obj!r}: give it a get_config() or use a registered name.")
