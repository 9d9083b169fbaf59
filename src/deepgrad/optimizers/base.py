"""The skeleton every optimizer shares: gradients in, clipped, weight-decayed, one update out.

One training step of any optimizer is

    g  <- clip(dL/dw)                    clipvalue, clipnorm or global_clipnorm (at most one)
    w  <- w - learning_rate * weight_decay * w       decoupled weight decay, when set
    w  <- update(w, g, state)            the optimizer's own equation (its ``_update_step``)
    iterations <- iterations + 1

which is Keras 3's order. ``learning_rate`` is evaluated once per step, at the step count
before the update (so a schedule sees 0 on the first step).

Where the arrays come from
--------------------------
When the variables are exactly the tensors of one :class:`deepgrad.ParameterBuffer`
(a model's trainable weights), ``update`` runs once on the two flat arrays
``buffer.data`` and ``buffer.grad``: a few whole-array in-place passes instead of a
Python loop over tensors. The optimizer state (moments, accumulators) then lives in
flat arrays of the same length, and each variable's state is a view into them, so
saving, restoring and the per-variable path all see the same numbers. Quantities
defined per variable (clipnorm, LARS's trust ratio) are segment reductions over the
buffer's slices. Any other list of tensors is updated one tensor at a time with the
same equations.

Gradients are never modified in place: clipping writes into a scratch array owned by
the optimizer (other code may hold the gradient array, e.g. to plot its norm).
"""

from __future__ import annotations

import math
import numbers
import re

import numpy as np

from .. import backend, distribution
from ..parameters import ParameterBuffer
from ..tensor import Tensor

_BASE_ARGUMENTS = ("learning_rate", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema",
                   "ema_momentum", "ema_overwrite_frequency", "gradient_accumulation_steps", "name")


class _Group:
    """The arrays one update pass works on: values, state slots, scratch space, segments.

    ``value`` is a variable's array or a whole ParameterBuffer's flat array; ``slots``
    maps a state name ('momentum', 'velocity', ...) to an array shaped like ``value``.
    ``starts`` holds the first flat index of each variable when the group spans several
    variables (None for a single variable); ``slices`` the matching slices.
    """

    __slots__ = ("value", "slots", "starts", "slices", "_scratch", "variables")

    def __init__(self, value, slots, scratch, starts=None, slices=None, variables=None):
        self.value = value
        self.slots = slots
        self.starts = starts
        self.slices = slices if slices is not None else [Ellipsis]
        self._scratch = scratch
        self.variables = variables  # the tensors of ``slices``, in order (for per-variable options)

    def scratch(self, key):
        """A preallocated array shaped like ``value`` (allocated once, reused every step)."""
        array = self._scratch.get(key)
        if array is None:
            array = backend.namespace(self.value).empty_like(self.value)
            self._scratch[key] = array
        return array

    def squared_norms(self, x, scratch_key="norm"):
        """Per-variable sum(x**2) as a 1-D array: one entry per variable in the group.

        Cost: for a buffer, one squaring pass into scratch plus a segment sum
        (``add.reduceat`` over the variables' start offsets); for a single variable, one dot.
        """
        xp = backend.namespace(x)
        if self.starts is None:
            flat = x.reshape(-1)
            return xp.asarray([xp.dot(flat, flat)])
        squares = self.scratch(scratch_key)
        xp.multiply(x, x, out=squares)
        return xp.add.reduceat(squares, self.starts)

    def scale_segments(self, x, factors, out):
        """out = x * factors[i] on variable i's part (a view per variable, no allocation)."""
        xp = backend.namespace(x)
        if self.starts is None:
            xp.multiply(x, factors[0], out=out)
            return out
        for part, factor in zip(self.slices, factors.tolist()):
            xp.multiply(x[part], factor, out=out[part])
        return out


class _FlatLayout:
    """How a list of tensors sits in one ParameterBuffer's flat arrays (found once, checked each step)."""

    __slots__ = ("variables", "data_views", "data", "grad", "starts", "slices", "slots", "scratch")

    def __init__(self, variables, data, grad):
        self.variables = tuple(variables)
        self.data_views = tuple(v.data for v in variables)
        self.data = data
        self.grad = grad
        self.slices = []
        offset = 0
        for v in variables:
            self.slices.append(slice(offset, offset + int(v.data.size)))
            offset += int(v.data.size)
        xp = backend.namespace(data)
        self.starts = xp.asarray([s.start for s in self.slices], dtype=np.intp)
        self.slots = {}
        self.scratch = {}

    def still_holds(self, variables) -> bool:
        """True when ``variables`` are still these tensors, on these views, with their buffer gradients."""
        if len(variables) != len(self.variables):
            return False
        for v, mine, view in zip(variables, self.variables, self.data_views):
            if v is not mine or v.data is not view or v.grad is not v.grad_view:
                return False
        return True


def _address(array) -> int:
    """Memory address of an array's first element (NumPy or CuPy)."""
    if isinstance(array, np.ndarray):
        return array.__array_interface__["data"][0]
    return int(array.data.ptr)


def find_flat_layout(variables):
    """The flat (data, grad) arrays of the ParameterBuffer whose tensors are exactly ``variables``.

    A buffered tensor's ``.data`` and ``.grad_view`` are views into the buffer's two flat
    arrays (their ``.base``); the variables qualify when they tile both arrays back to back,
    in order, and each ``.grad`` is still its buffer view. Returns a ``_FlatLayout`` or None.
    """
    if not variables:
        return None
    first = variables[0]
    if first.grad_view is None:
        return None
    data, grad = first.data.base, first.grad_view.base
    if data is None or grad is None or data.ndim != 1 or grad.ndim != 1 or data.size != grad.size:
        return None
    itemsize = data.dtype.itemsize
    data_start, grad_start = _address(data), _address(grad)
    offset = 0
    for v in variables:
        view = v.grad_view
        if (view is None or v.grad is not view or v.data.base is not data or view.base is not grad
                or v.data.dtype != data.dtype or not v.data.flags.c_contiguous):
            return None
        if (_address(v.data) - data_start != offset * itemsize
                or _address(view) - grad_start != offset * grad.dtype.itemsize):
            return None
        offset += int(v.data.size)
    if offset != data.size:
        return None
    return _FlatLayout(variables, data, grad)


def _check_positive(name, value, allow_none=True):
    if value is None and allow_none:
        return None
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"`{name}` must be a positive float (or None), received {name}={value!r}.")
    return float(value)


class Optimizer:
    """Base class of deepgrad's optimizers (Keras 3 arguments and behaviour).

    Parameters
    ----------
    learning_rate : float, LearningRateSchedule or callable
        The step size eta. A schedule is called with ``iterations`` (the number of steps
        already taken); a callable without arguments is called each step.
    weight_decay : float or None
        Decoupled weight decay (Loshchilov & Hutter): before the update,
        w <- w - learning_rate * weight_decay * w. Keras 3 applies it this way for every
        optimizer; PyTorch's SGD/Adam instead add weight_decay * w to the gradient.
    clipnorm : float or None
        Each variable's gradient is rescaled to L2 norm at most clipnorm:
        g <- g * clipnorm / max(||g||, clipnorm) (the direction is kept).
    clipvalue : float or None
        Each gradient element is clipped to [-clipvalue, clipvalue].
    global_clipnorm : float or None
        All gradients are rescaled together so their joint L2 norm is at most global_clipnorm.
        At most one of the three clipping arguments may be set (Keras raises too).
    use_ema : bool
        Keep an exponential moving average of the weights (Polyak averaging), updated after
        every step: a <- ema_momentum a + (1 - ema_momentum) w (a <- w on the first step).
        Every ``ema_overwrite_frequency`` steps (when set) the weights are replaced by a, and
        at the end of ``fit`` (:meth:`finalize_variable_values`) too, as in Keras 3.
    ema_momentum : float
        The averaging momentum, in [0, 1] (default 0.99).
    ema_overwrite_frequency : int or None
        Overwrite the weights with their average every this many steps.
    gradient_accumulation_steps : int or None
        Update only every this many calls (>= 2), with the mean of the gradients received
        since the last update (a larger effective batch); between updates the gradients are
        summed into an accumulator. ``iterations`` counts the updates (so the learning-rate
        schedule and the bias corrections see updates, not calls), as in Keras 3.
    name : str
        Name of the optimizer (the class name by default).

    Subclasses implement ``_slot_names()`` (the state each variable needs),
    ``_update_step(group, gradient, learning_rate)`` (their equation, written with in-place
    array operations) and ``get_config()``.
    """

    #: False for optimizers whose weight decay is part of their own equation (LARS).
    _decoupled_weight_decay = True

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 gradient_accumulation_steps=None, **kwargs):
        if kwargs:
            _reject_arguments(type(self).__name__, kwargs)
        self._set_averaging(use_ema, ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps)
        clipping = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(value is not None for value in clipping.values()) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                + ", ".join(f"{k}={v}" for k, v in clipping.items()) + "."
            )
        self.clipnorm = _check_positive("clipnorm", clipnorm)
        self.clipvalue = _check_positive("clipvalue", clipvalue)
        self.global_clipnorm = _check_positive("global_clipnorm", global_clipnorm)
        if weight_decay is not None:
            if not isinstance(weight_decay, numbers.Real) or isinstance(weight_decay, bool) or weight_decay < 0:
                raise ValueError(f"`weight_decay` must be a float >= 0 or None, received {weight_decay!r}.")
            weight_decay = float(weight_decay)
        self.weight_decay = weight_decay
        self.name = name if name is not None else type(self).__name__
        self._learning_rate = _check_learning_rate(learning_rate)
        self.iterations = 0
        self._variables = []      # build order: state index i belongs to _variables[i]
        self._index = {}          # id(variable) -> index into _variables / _state
        self._state = []          # per variable: {slot name: array} (views into flat arrays when buffered)
        self._scratch = {}        # id(variable) -> {key: scratch array} for the per-variable path
        self._flat = None         # _FlatLayout of the last ParameterBuffer seen
        self._pending_state = None
        self._local_step = 1
        self._built_variables = None  # what build() was given: step() and zero_grad() without arguments

    # ------------------------------------------------------------------ learning rate
    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step (a schedule evaluated at ``iterations``).

        A float (a :class:`LearningRateValue`) that also has Keras' variable interface:
        ``.value``, ``.numpy()`` and ``.assign(new_rate)``.
        """
        return LearningRateValue(self)

    @learning_rate.setter
    def learning_rate(self, value):
        from .schedules import LearningRateSchedule  # noqa: PLC0415

        if isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError(
                "This optimizer was created with a LearningRateSchedule as its learning_rate, so its "
                "learning rate is not settable; create a new optimizer with a float learning_rate."
            )
        self._learning_rate = _check_learning_rate(value)

    def _current_learning_rate(self) -> float:
        from .schedules import LearningRateSchedule  # noqa: PLC0415

        rate = self._learning_rate
        if isinstance(rate, LearningRateSchedule):
            return float(rate(self.iterations))
        if callable(rate):
            return float(rate())
        return rate

    # ------------------------------------------------------------------ what subclasses define
    def _slot_names(self) -> tuple:
        """Names of the state arrays each variable needs (e.g. ('momentum', 'velocity'))."""
        return ()

    def _slot_initial_value(self, slot: str) -> float:
        return 0.0

    def _update_step(self, group: _Group, gradient, learning_rate: float) -> None:
        raise NotImplementedError

    def _before_update(self) -> None:
        """Once per step, before any variable is updated (for state shared by all variables)."""

    def _scalar_state(self) -> dict:
        """Optimizer-wide scalars to save with the state (Nadam's running momentum product)."""
        return {}

    def _set_scalar_state(self, scalars: dict) -> None:
        pass

    # ------------------------------------------------------------------ building state
    def build(self, variables) -> None:
        """Create the state (moments, accumulators) of every variable that has none yet.

        Done lazily by the first step, so calling it is optional; models call it before
        ``set_state`` when restoring a saved optimizer. The variables become the default of
        :meth:`step` and :meth:`zero_grad`, for a PyTorch-style loop::

            optimizer.build(model.trainable_weights)
            for x, y in batches:
                optimizer.zero_grad()
                loss = loss_fn(y, model(x, training=True))
                loss.backward()
                optimizer.step()
        """
        variables = _as_variable_list(variables)
        self._built_variables = variables
        layout = find_flat_layout(variables)
        if layout is not None:
            self._build_flat(layout)
        else:
            for v in variables:
                self._state_of(v)

    def _new_index(self, variable) -> int:
        index = len(self._variables)
        self._variables.append(variable)
        self._index[id(variable)] = index
        self._state.append(None)
        return index

    def _state_of(self, variable) -> dict:
        """The state slots of one variable, created on first use."""
        index = self._index.get(id(variable))
        if index is not None and self._variables[index] is variable:
            return self._state[index]
        index = self._new_index(variable)
        xp = backend.namespace(variable.data)
        self._state[index] = {
            slot: xp.full(variable.data.shape, self._slot_initial_value(slot), dtype=variable.data.dtype)
            for slot in self._all_slot_names()
        }
        self._apply_pending_state()
        return self._state[index]

    def _build_flat(self, layout: _FlatLayout) -> None:
        """Flat state arrays for a ParameterBuffer; each variable's state becomes a view into them."""
        xp = backend.namespace(layout.data)
        size, dtype = layout.data.size, layout.data.dtype
        layout.slots = {slot: xp.full(size, self._slot_initial_value(slot), dtype=dtype)
                        for slot in self._all_slot_names()}
        for v, part in zip(layout.variables, layout.slices):
            index = self._index.get(id(v))
            if index is None or self._variables[index] is not v:
                index = self._new_index(v)
            previous = self._state[index]
            views = {slot: flat[part].reshape(v.data.shape) for slot, flat in layout.slots.items()}
            if previous is not None:  # state built earlier on the per-variable path carries over
                for slot, view in views.items():
                    view[...] = previous[slot]
            self._state[index] = views
        self._flat = layout
        self._apply_pending_state()

    # ------------------------------------------------------------------ applying updates
    def step(self, variables=None) -> None:
        """One update of ``variables`` from their ``.grad`` (PyTorch style); variables without
        a gradient are skipped. ``variables`` may also be a ParameterBuffer; by default the
        variables given to :meth:`build`."""
        variables = self._default_variables(variables, "step")
        if isinstance(variables, ParameterBuffer):
            variables = variables.tensors
        variables = _as_variable_list(variables)
        layout = self._flat
        if layout is None or not layout.still_holds(variables):
            layout = find_flat_layout(variables)
            if layout is not None:
                self._build_flat(layout)
        if layout is not None:
            self._run([_Group(layout.data, layout.slots, layout.scratch, layout.starts, layout.slices,
                               layout.variables)], [layout.grad])
            return
        self._apply_pairs([(v.grad, v) for v in variables])

    def apply_gradients(self, grads_and_vars) -> None:
        """Apply (gradient, variable) pairs, Keras style; pairs whose gradient is None are skipped."""
        pairs = []
        for pair in grads_and_vars:
            try:
                gradient, variable = pair
            except (TypeError, ValueError):
                raise TypeError(
                    "apply_gradients expects (gradient, variable) pairs, e.g. zip(grads, variables); "
                    f"received an element of type {type(pair).__name__}."
                ) from None
            pairs.append((gradient, variable))
        variables = [v for _, v in pairs]
        _as_variable_list(variables)
        if pairs and all(g is not None and g is v.grad_view for g, v in pairs):
            self.step(variables)  # the buffer's own gradients: the flat path applies
            return
        self._apply_pairs(pairs)

    def apply(self, grads, trainable_variables) -> None:
        """Keras 3's ``optimizer.apply(grads, trainable_variables)``."""
        self.apply_gradients(zip(grads, trainable_variables))

    def zero_grad(self, variables=None) -> None:
        """Reset the variables' gradients to None (by default those given to :meth:`build`)."""
        variables = self._default_variables(variables, "zero_grad")
        if isinstance(variables, ParameterBuffer):
            variables.zero_grad()
            return
        for v in _as_variable_list(variables):
            v.zero_grad()

    def _default_variables(self, variables, method):
        if variables is not None:
            return variables
        if self._built_variables is None:
            raise ValueError(f"{self.name}.{method}() without variables needs optimizer.build(variables) first, "
                             f"e.g. optimizer.build(model.trainable_weights); or pass them: {method}(variables).")
        return self._built_variables

    def _apply_pairs(self, pairs) -> None:
        """The per-variable path: one group per variable that has a gradient."""
        groups, gradients = [], []
        for gradient, variable in pairs:
            if gradient is None:
                continue
            gradient = _as_gradient_array(gradient, variable)
            slots = self._state_of(variable)
            scratch = self._scratch.get(id(variable))
            if scratch is None or any(a.shape != variable.data.shape or a.dtype != variable.data.dtype
                                      for a in scratch.values()):
                scratch = self._scratch[id(variable)] = {}
            groups.append(_Group(variable.data, slots, scratch, variables=[variable]))
            gradients.append(gradient)
        if groups:
            self._run(groups, gradients)

    def _run(self, groups, gradients) -> None:
        parallel = distribution.active()
        if parallel is not None:  # data-parallel: one Allreduce averages the gradients over the ranks first
            gradients = parallel.average_gradients(gradients)
        learning_rate = self._current_learning_rate()
        self._local_step = self.iterations + 1
        if self.gradient_accumulation_steps:
            gradients = self._accumulate(groups, gradients)
        if gradients is not None:
            gradients = self._clip(groups, gradients)
            self._before_update()
            decay = self.weight_decay
            for group, gradient in zip(groups, gradients):
                if decay and self._decoupled_weight_decay:
                    self._decay_weights(group, 1.0 - learning_rate * decay)  # w -= lr*wd*w
                self._update_step(group, gradient, learning_rate)
        if self.use_ema:
            self._average(groups)
        if gradients is not None:
            self.iterations += 1

    # ------------------------------------------------------------------ accumulation and averaging
    def _set_averaging(self, use_ema, ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps):
        """Check and store Keras 3's use_ema / gradient_accumulation_steps options."""
        if gradient_accumulation_steps is not None and (
                not isinstance(gradient_accumulation_steps, numbers.Integral) or isinstance(
                    gradient_accumulation_steps, bool) or gradient_accumulation_steps < 2):
            raise ValueError("`gradient_accumulation_steps` must be an integer >= 2 (or None). Received: "
                             f"gradient_accumulation_steps={gradient_accumulation_steps!r}")
        if not isinstance(ema_momentum, numbers.Real) or not 0 <= ema_momentum <= 1:
            raise ValueError(f"`ema_momentum` must be in the range [0, 1]. Received: ema_momentum={ema_momentum!r}")
        if ema_overwrite_frequency is not None and (
                not isinstance(ema_overwrite_frequency, numbers.Integral) or ema_overwrite_frequency < 1):
            raise ValueError("`ema_overwrite_frequency` must be an integer >= 1 or None. Received: "
                             f"ema_overwrite_frequency={ema_overwrite_frequency!r}")
        self.use_ema = bool(use_ema)
        self.ema_momentum = float(ema_momentum)
        self.ema_overwrite_frequency = None if ema_overwrite_frequency is None else int(ema_overwrite_frequency)
        self.gradient_accumulation_steps = (None if gradient_accumulation_steps is None
                                            else int(gradient_accumulation_steps))
        self._accumulated_calls = 0  # gradients summed into the accumulators since the last update

    def _all_slot_names(self) -> tuple:
        """The optimizer's own slots, then the gradient accumulator and the weight average when enabled."""
        extra = (("accumulated_gradient",) if getattr(self, "gradient_accumulation_steps", None) else ()) + \
            (("average",) if getattr(self, "use_ema", False) else ())
        return tuple(self._slot_names()) + extra

    def _accumulate(self, groups, gradients):
        """Sum the gradients into the accumulators; on every ``gradient_accumulation_steps``-th call
        return their mean (accumulators reset), else None (no update this call)."""
        steps = self.gradient_accumulation_steps
        if self._accumulated_calls + 1 < steps:
            for group, gradient in zip(groups, gradients):
                group.slots["accumulated_gradient"] += gradient
            self._accumulated_calls += 1
            return None
        self._accumulated_calls = 0
        means = []
        for group, gradient in zip(groups, gradients):
            xp = backend.namespace(gradient)
            accumulated = group.slots["accumulated_gradient"]
            mean = xp.add(gradient, accumulated, out=group.scratch("accumulated"))
            mean /= steps
            accumulated[...] = 0
            means.append(mean)
        return means

    def _average(self, groups):
        """a <- m a + (1 - m) w (a <- w on the very first step); the weights take a's value every
        ``ema_overwrite_frequency`` steps."""
        momentum = self.ema_momentum if self.iterations else 0.0
        overwrite = self.ema_overwrite_frequency and (self.iterations + 1) % self.ema_overwrite_frequency == 0
        for group in groups:
            average, share = group.slots["average"], group.scratch("average")
            backend.namespace(average).multiply(group.value, 1.0 - momentum, out=share)
            average *= momentum
            average += share
            if overwrite:
                group.value[...] = average

    def finalize_variable_values(self, var_list) -> None:
        """At the end of training: with ``use_ema``, set each variable to its moving average (Keras 3)."""
        if not self.use_ema:
            return
        for variable in _as_variable_list(var_list):
            index = self._index.get(id(variable))
            if index is not None and self._variables[index] is variable:
                variable.data[...] = self._state[index]["average"]

    def _decay_weights(self, group, factor) -> None:
        """w <- factor * w in place, for the group's variables not excluded from weight decay."""
        xp = backend.namespace(group.value)
        excluded = getattr(self, "_decay_excluded", None)
        if excluded is None or group.variables is None:
            xp.multiply(group.value, factor, out=group.value)
            return
        for variable, part in zip(group.variables, group.slices):
            if self._use_weight_decay(variable):
                view = group.value[part]
                xp.multiply(view, factor, out=view)

    def _clip(self, groups, gradients):
        """Clipped copies of the gradients (into scratch; the gradients themselves are left alone)."""
        if self.clipvalue is not None:
            limit = self.clipvalue
            return [backend.namespace(g).clip(g, -limit, limit, out=group.scratch("clip"))
                    for group, g in zip(groups, gradients)]
        if self.clipnorm is not None:
            clipped = []
            for group, g in zip(groups, gradients):
                xp = backend.namespace(g)
                norms = xp.sqrt(group.squared_norms(g))
                # clipnorm / max(norm, clipnorm); a NaN norm stays NaN so a NaN gradient stays NaN
                factors = self.clipnorm / xp.maximum(norms, self.clipnorm)
                clipped.append(group.scale_segments(g, factors, group.scratch("clip")))
            return clipped
        if self.global_clipnorm is not None:
            total = math.sqrt(sum(float(group.squared_norms(g).sum()) for group, g in zip(groups, gradients)))
            if not total > self.global_clipnorm and not math.isnan(total):
                return gradients
            factor = self.global_clipnorm / total if not math.isnan(total) else float("nan")
            return [backend.namespace(g).multiply(g, factor, out=group.scratch("clip"))
                    for group, g in zip(groups, gradients)]
        return gradients

    # ------------------------------------------------------------------ Keras' variables and options
    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Leave some variables out of the decoupled weight decay (Keras 3's method).

        ``var_list``: the tensors themselves; ``var_names``: substrings (regular expressions)
        searched in each tensor's ``name`` (e.g. ``["bias", "gamma"]``). Call it before the
        first step: once the optimizer has built state, it raises ValueError (as Keras).
        """
        if self._variables:
            raise ValueError("`exclude_from_weight_decay()` can only be configured before the optimizer is "
                             "built (before its first step or build()).")
        self._decay_excluded = {id(v) for v in (var_list or ())}
        names = sorted(set(var_names or ()))
        self._decay_excluded_pattern = re.compile("|".join(names)) if names else None

    def _use_weight_decay(self, variable) -> bool:
        """False for a variable excluded by :meth:`exclude_from_weight_decay`."""
        if id(variable) in getattr(self, "_decay_excluded", ()):
            return False
        pattern = getattr(self, "_decay_excluded_pattern", None)
        return pattern is None or pattern.search(getattr(variable, "name", None) or "") is None

    @property
    def variables(self) -> list:
        """Keras' ``optimizer.variables``: the iteration count, the learning rate, then each
        variable's state slots (variable by variable, slots in ``_slot_names()`` order).

        Each entry is an :class:`OptimizerVariable`: ``.value``, ``.numpy()`` and
        ``.assign(value)`` read and write the optimizer's own state. A fresh optimizer has the
        first two only; the slots appear once it is built (first step or ``build``).
        """
        entries = [OptimizerVariable("iteration", lambda: np.asarray(self.iterations, dtype=np.int64),
                                     self._assign_iterations),
                   OptimizerVariable("learning_rate", lambda: np.asarray(self._current_learning_rate(),
                                                                         dtype=np.float32),
                                     self._assign_learning_rate)]
        for index, (variable, slots) in enumerate(zip(self._variables, self._state)):
            owner = getattr(variable, "name", None) or f"variable_{index}"
            for slot, array in (slots or {}).items():
                entries.append(OptimizerVariable(f"{owner}_{slot}", lambda a=array: a, _writer(array)))
        return entries

    @property
    def state_variables(self) -> list:
        """The tensors this optimizer holds state for, in the order of ``get_state()``."""
        return list(self._variables)

    def _assign_iterations(self, value) -> None:
        self.iterations = int(np.asarray(value).reshape(()))

    def _assign_learning_rate(self, value) -> None:
        self.learning_rate = value

    # ------------------------------------------------------------------ saving and restoring

    def get_state(self) -> dict:
        """The optimizer's state as JSON-able metadata plus plain NumPy arrays.

        Returns ``{"iterations": int, "scalars": {name: float}, "slot_names": [...],
        "shapes": [[...], ...], "dtypes": [...], "arrays": {"<slot>/<i>": ndarray}}`` where
        ``i`` indexes the variables in build order (``optimizer.state_variables``). Everything but
        ``arrays`` can go to JSON; each array to its own ``.npy`` file.
        """
        arrays = {}
        for i, slots in enumerate(self._state):
            for slot, array in slots.items():
                arrays[f"{slot}/{i}"] = np.array(backend.to_numpy(array), copy=True)
        return {
            "iterations": int(self.iterations),
            "scalars": {k: float(v) for k, v in self._scalar_state().items()},
            "slot_names": list(self._all_slot_names()),
            "shapes": [list(v.data.shape) for v in self._variables],
            "dtypes": [str(v.data.dtype) for v in self._variables],
            "arrays": arrays,
            "accumulated_calls": int(getattr(self, "_accumulated_calls", 0)),
        }

    def set_state(self, state: dict, variables=None) -> None:
        """Restore what :meth:`get_state` returned.

        With ``variables`` (e.g. ``model.trainable_weights``) the state is built for them
        first and restored at once; without, it is restored into the variables already
        built, or, for a fresh optimizer, kept until the first step builds them.
        Every array is checked against the variable's shape and dtype.
        """
        if variables is not None:
            self.build(variables)
        self._pending_state = state
        if self._variables:
            self._apply_pending_state()

    def _apply_pending_state(self) -> None:
        state = self._pending_state
        if state is None or len(self._variables) < len(state.get("shapes", ())):
            return
        self._pending_state = None
        shapes = state.get("shapes", [])
        if len(shapes) != len(self._variables):
            raise ValueError(
                f"optimizer state holds {len(shapes)} variables but this {self.name} optimizer has "
                f"{len(self._variables)}; restore it with the same list of variables it was saved with."
            )
        names = list(state.get("slot_names", []))
        if names != list(self._all_slot_names()):
            raise ValueError(
                f"optimizer state has slots {names} but {self.name} with this configuration uses "
                f"{list(self._all_slot_names())}; build the optimizer from the saved config first."
            )
        arrays = state.get("arrays", {})
        for i, slots in enumerate(self._state):
            for slot, target in slots.items():
                key = f"{slot}/{i}"
                if key not in arrays:
                    raise ValueError(f"optimizer state is missing the array {key!r}.")
                source = arrays[key]
                if tuple(source.shape) != tuple(target.shape) or np.dtype(source.dtype) != target.dtype:
                    raise ValueError(
                        f"optimizer state array {key!r} has shape {tuple(source.shape)} and dtype "
                        f"{source.dtype}, but variable {i} needs shape {tuple(target.shape)} and dtype "
                        f"{target.dtype}."
                    )
                target[...] = backend.namespace(target).asarray(source)
        self.iterations = int(state.get("iterations", 0))
        self._accumulated_calls = int(state.get("accumulated_calls", 0))
        self._set_scalar_state(state.get("scalars", {}))

    def _snapshot(self) -> dict:
        """Everything a step changes, copied, for :meth:`_restore` (the learning-rate range test)."""
        return {"count": len(self._variables), "flat": self._flat, "rate": self._learning_rate,
                "iterations": self.iterations, "scalars": dict(self._scalar_state()),
                "accumulated_calls": self._accumulated_calls,
                "slots": [{k: a.copy() for k, a in slots.items()} for slots in self._state]}

    def _restore(self, snapshot: dict) -> None:
        """Put back a :meth:`_snapshot`; state built after it is dropped (rebuilt lazily)."""
        count = snapshot["count"]
        for v in self._variables[count:]:
            self._index.pop(id(v), None)
            self._scratch.pop(id(v), None)
        del self._variables[count:], self._state[count:]
        for slots, saved in zip(self._state, snapshot["slots"]):
            for key, array in slots.items():
                array[...] = saved[key]
        if snapshot["flat"] is None or self._flat is not snapshot["flat"]:
            self._flat = snapshot["flat"]
            if self._flat is not None:  # flat state views were replaced: rebuild them from the copies
                self._build_flat(self._flat)
                for slots, saved in zip(self._state, snapshot["slots"]):
                    for key, array in slots.items():
                        array[...] = saved[key]
        self._learning_rate = snapshot["rate"]
        self.iterations = snapshot["iterations"]
        self._accumulated_calls = snapshot["accumulated_calls"]
        self._set_scalar_state(snapshot["scalars"])

    def get_config(self) -> dict:
        """Constructor arguments as JSON-able values (a schedule becomes its serialized dict)."""
        from .schedules import LearningRateSchedule, serialize  # noqa: PLC0415

        rate = self._learning_rate
        if isinstance(rate, LearningRateSchedule):
            rate = serialize(rate)
        elif callable(rate):
            rate = float(rate())
        return {
            "name": self.name,
            "learning_rate": rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config: dict):
        """Rebuild an optimizer from :meth:`get_config` (schedules included)."""
        from .schedules import deserialize  # noqa: PLC0415

        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self._learning_rate!r} " \
               f"iterations={self.iterations}>"


class LearningRateValue(float):
    """An optimizer's learning rate as read at one moment: a float, plus Keras' variable interface.

    ``float(rate)``, arithmetic and comparisons use the rate when it was read; ``.value`` and
    ``.numpy()`` read the optimizer's current rate, ``.assign(new_rate)`` sets it (as
    ``optimizer.learning_rate = new_rate``; a TypeError for a schedule).
    """

    def __new__(cls, optimizer):
        rate = super().__new__(cls, optimizer._current_learning_rate())
        rate._optimizer = optimizer
        return rate

    @property
    def value(self) -> float:
        """The optimizer's current learning rate."""
        return float(self._optimizer._current_learning_rate())

    def numpy(self):
        """The current learning rate as a float32 NumPy scalar (Keras' variable dtype)."""
        return np.float32(self.value)

    def assign(self, value):
        """Set the optimizer's learning rate to ``value``."""
        self._optimizer.learning_rate = value
        return self

    def __reduce__(self):  # copies and pickles are plain floats
        return float, (float(self),)


class OptimizerVariable:
    """One entry of ``optimizer.variables``: a named view of a piece of the optimizer's state.

    ``value``/``numpy()`` read it, ``assign(value)`` writes it (slots in place), ``shape`` and
    ``dtype`` describe it, as a Keras variable does.
    """

    def __init__(self, name, read, write):
        self.name = name
        self.path = name
        self._read, self._write = read, write

    @property
    def value(self):
        return self._read()

    def numpy(self) -> np.ndarray:
        return np.array(backend.to_numpy(self._read()), copy=True)

    def assign(self, value):
        self._write(value)
        return self

    @property
    def shape(self) -> tuple:
        return tuple(np.shape(self._read()))

    @property
    def dtype(self) -> str:
        return str(self._read().dtype)

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def __repr__(self) -> str:
        return f"<OptimizerVariable {self.name} shape={self.shape}>"


def _writer(array):
    """assign() for a state slot: write into the array in place (it may be a view of a flat buffer)."""
    def write(value):
        array[...] = backend.namespace(array).asarray(value, dtype=array.dtype)
    return write


def _check_learning_rate(value):
    from .schedules import LearningRateSchedule  # noqa: PLC0415

    if isinstance(value, LearningRateSchedule) or (callable(value) and not isinstance(value, numbers.Real)):
        return value
    if isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, (np.ndarray, Tensor)) and np.size(value) == 1:
        return float(np.asarray(value).reshape(()))
    raise TypeError(
        f"learning_rate must be a float, a deepgrad.optimizers.schedules.LearningRateSchedule or a "
        f"callable returning a float; received {type(value).__name__} {value!r}."
    )


def _as_variable_list(variables) -> list:
    variables = list(variables)
    for v in variables:
        if not isinstance(v, Tensor):
            raise TypeError(
                f"optimizers update deepgrad Tensors, received {type(v).__name__}; pass "
                "model.trainable_weights or a list of Tensors created with requires_grad=True."
            )
    return variables


def _as_gradient_array(gradient, variable):
    """The gradient as an array of the variable's shape and dtype (a cast copy only when needed)."""
    if isinstance(gradient, Tensor):
        gradient = gradient.data
    xp = backend.namespace(variable.data)
    if not hasattr(gradient, "shape"):
        gradient = xp.asarray(gradient, dtype=variable.data.dtype)
    if gradient.shape != variable.data.shape:
        raise ValueError(
            f"gradient of shape {tuple(gradient.shape)} does not match its variable "
            f"{variable.name or ''} of shape {tuple(variable.data.shape)}; pass (gradient, variable) "
            "pairs in matching order."
        )
    if gradient.dtype != variable.data.dtype:
        gradient = gradient.astype(variable.data.dtype)
    return gradient


def _reject_arguments(cls_name, kwargs):
    renamed = {"lr": "learning_rate", "decay": "a learning rate schedule (deepgrad.optimizers.schedules)",
               "betas": "beta_1 and beta_2", "eps": "epsilon", "alpha": "rho"}
    hints = [f"`{k}` -> use {renamed[k]}" for k in kwargs if k in renamed]
    raise TypeError(
        f"{cls_name} got unexpected argument(s) {sorted(kwargs)}"
        + (f" ({'; '.join(hints)})" if hints else "")
        + f". Arguments every optimizer accepts: {', '.join(_BASE_ARGUMENTS)}."
    )
