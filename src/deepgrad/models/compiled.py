"""Compiled training and inference steps (``compile(jit_compile=...)``): record a step once, replay it.

The first step of each *signature* (the shapes and dtypes of the batch arrays, training or
inference) runs eagerly under a :class:`~deepgrad.ops.replay.Recorder`, which keeps the
array kernels of the forward pass and the loss, and the graph of the backward pass. Later
steps of that signature copy the batch into the recorded input arrays and replay: the
kernels write into the same arrays (``out=``), the backward walk runs again over the kept
graph, then the optimizer, constraints and metrics run as in an eager step. The numbers
are the eager ones, bit for bit (same kernels, same order, same random streams).

A step runs eagerly instead, with its reason kept in :meth:`CompiledSteps.status`, when:
the setting is off; the model is subclassed (under ``'auto'``) or holds layers defined
outside deepgrad (their ``call`` may branch on data); an op of the step has no replay kernel
or reads arrays the recorder cannot refresh (see :mod:`deepgrad.ops.replay`); the arrays are
not NumPy's; training is data-parallel; a layer's outputs are observed
(:class:`~deepgrad.diagnostics.GradientMonitor`, activation plots), for as long as they are.
With ``jit_compile=True`` such a fallback warns once, naming the reason.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from .. import distribution
from ..ops.replay import Recorder, plan_backward
from ..tensor import RecordedWalk, Tensor, no_grad

_BUILT_IN_PREFIX = "deepgrad."


def check_setting(jit_compile):
    """``jit_compile`` as given to compile(): True, False or 'auto'."""
    if jit_compile in (True, False, "auto"):
        return jit_compile
    raise ValueError(f"jit_compile must be True, False or 'auto', got {jit_compile!r}.")


class _Program:
    """One recorded step: input arrays, forward kernels, the kept backward graph, the outputs."""

    def __init__(self, recorder, inputs, outputs, loss, weights, many=False):
        self.inputs = inputs
        self.many = many
        self.steps = recorder.steps
        self.backward = None
        if recorder.graph is not None:
            planned = plan_backward(*recorder.graph, recorder.ops)
            if planned is None:
                self.backward = RecordedWalk(*recorder.graph)
            else:
                self.backward = functools.partial(_planned_backward, *planned)
        self.outputs = outputs
        self.loss = loss
        self.weights = [(w, w.data) for w in weights]  # a replay reads these arrays: they must stay

    def valid(self) -> bool:
        return all(w.data is data for w, data in self.weights)

    def forward(self, arrays):
        for buffer, array in zip(self.inputs, arrays):
            np.copyto(buffer, array)
        for step in self.steps:
            step()


def _planned_backward(steps, leaves):
    for step in steps:
        step()
    for leaf in leaves:  # as the walk does: a reached leaf's gradient is its view of the flat buffer
        leaf.grad = leaf._grad_view


class CompiledSteps:
    """The recorded steps of one compiled model, by signature, and why a step runs eagerly."""

    def __init__(self, model, setting):
        self.model = model
        self.setting = check_setting(setting)
        self.programs = {}
        self.reasons = {}  # why a signature ran eagerly last time, for status()
        self.failed = set()  # signatures whose recording failed: they stay eager
        self._warned = set()
        self._layers = None  # (layer count, every layer, why the model cannot be replayed)

    def __getstate__(self):
        # recorded steps are a cache of closures over this process's arrays: a copy records its own
        state = dict(self.__dict__)
        state.update(programs={}, reasons={}, failed=set(), _layers=None)
        return state

    # ------------------------------------------------------------------ when to replay
    def _model_reason(self):
        """Why no step of this model can be replayed now (None when one can)."""
        if distribution.active() is not None:
            return "data-parallel training runs eagerly"
        count = len(self.model._sublayers())
        if self._layers is None or self._layers[0] != count:  # found again when layers are added
            layers = _all_layers(self.model)
            self._layers = (count, layers, self._static_reason(layers))
        _, layers, reason = self._layers
        if reason is not None:
            return reason
        for layer in layers:
            if layer._output_observer is not None:
                return f"the outputs of layer {layer.name!r} are observed (GradientMonitor, activation plots)"
        return None

    def _static_reason(self, layers):
        if self.setting == "auto" and self.model.output_layers() is None:
            return "a subclassed model's call() may branch on data (pass jit_compile=True to record it anyway)"
        if self.setting == "auto":
            for layer in layers:
                if not type(layer).__module__.startswith(_BUILT_IN_PREFIX):
                    return (f"layer {layer.name!r} ({type(layer).__name__}) is defined outside deepgrad and its call() "
                            "may branch on data (pass jit_compile=True to record it anyway)")
        return None

    def _eager(self, key, reason, warn=True):
        self.reasons[key] = reason
        if warn and self.setting is True and reason not in self._warned:
            self._warned.add(reason)
            warnings.warn(f"jit_compile=True: model {self.model.name!r} runs this step eagerly: {reason}.",
                          stacklevel=4)

    def _declines(self, key, recorder) -> bool:
        """Under 'auto', steps whose ops are called again run eagerly: measured slower replayed.

        On the MNIST convnet (benchmarks/conv.py) a replayed epoch took 2.7 s against 2.05 s eager and
        its predict 0.48 s against 0.33 s: calling convolutions again and copying their large outputs
        into the recorded arrays costs more than the graph bookkeeping it saves. A choice, not a
        failure: no warning, and ``jit_compile=True`` replays them.
        """
        if self.setting != "auto" or recorder.failure is not None or not recorder.called_again:
            return False
        self._eager(key, "its ops are called again (convolution, pooling, recurrence, embedding), which "
                         "measured slower replayed than eager; jit_compile=True replays them", warn=False)
        self.failed.add(key)
        return True

    def status(self) -> dict:
        """``{signature: 'replayed' or the reason it runs eagerly}`` for every step signature seen."""
        found = {_describe(key): "replayed" for key in self.programs}
        found.update({_describe(key): reason for key, reason in self.reasons.items()})
        return found

    # ------------------------------------------------------------------ training
    def train(self, state, x_batch, y_batch, w_batch, trainable, eager_step):
        """One training step: replayed when recorded, else recorded (run eagerly once) or run eagerly."""
        model = self.model
        key = ("train", id(state), id(model._buffer), len(trainable), _signature(x_batch),
               _signature(y_batch), None if w_batch is None else _signature([w_batch]))
        program = self.programs.get(key)
        reason = self._model_reason()
        if reason is not None:
            self._eager(key, reason)
            return eager_step(model, state, x_batch, y_batch, w_batch, trainable)
        if program is not None and program.valid():
            if self.reasons:
                self.reasons.pop(key, None)
            return self._replay_train(program, state, x_batch, y_batch, w_batch, trainable)
        if key in self.failed:
            return eager_step(model, state, x_batch, y_batch, w_batch, trainable)
        return self._record_train(key, state, x_batch, y_batch, w_batch, trainable, eager_step)

    def _record_train(self, key, state, x_batch, y_batch, w_batch, trainable, eager_step):
        model = self.model
        reason = _arrays_reason(list(x_batch) + list(y_batch))
        if reason is None and trainable and model._buffer is None:
            reason = "the trainable weights are not in one flat parameter buffer"
        if reason is not None:
            self._eager(key, reason)
            return eager_step(model, state, x_batch, y_batch, w_batch, trainable)
        recorder = Recorder(_persistent_arrays(model))
        xs = [recorder.input(a) for a in x_batch]
        ys = [recorder.input(a) for a in y_batch]
        ws = None if w_batch is None else recorder.input(w_batch)
        loss_value, outputs, loss = eager_step(model, state, xs, ys, ws, trainable, recorder=recorder)
        if recorder.failure is None and trainable and recorder.graph is None:
            recorder.fail("the loss has no backward pass")
        inputs = xs + ys + ([] if ws is None else [ws])
        self._keep(key, recorder, lambda: _Program(recorder, inputs, outputs, loss, model.weights))
        return loss_value

    def _keep(self, key, recorder, make_program):
        """Store the program recorded for ``key``, unless its recording declined or failed (then it runs eagerly)."""
        if self._declines(key, recorder):
            return
        if recorder.failure is not None:
            self._eager(key, recorder.failure)
            self.failed.add(key)
            return
        self.reasons.pop(key, None)
        self.programs[key] = make_program()

    def _replay_train(self, program, state, x_batch, y_batch, w_batch, trainable):
        model = self.model
        program.forward(list(x_batch) + list(y_batch) + ([] if w_batch is None else [w_batch]))
        if trainable:
            model._buffer.zero_grad()
            program.backward()  # the recorded walk: gradients into the buffer's views, as eagerly
            model.optimizer.step(trainable)
        for layer in model._step_constraints:
            layer.apply_constraints()
        loss_value = float(program.loss.data)
        state.update(loss_value, len(x_batch[0]), y_batch, program.outputs, w_batch)
        return loss_value

    # ------------------------------------------------------------------ inference
    def predict(self, xs):
        """Outputs of ``model(xs, training=False)`` (a Tensor or a list), replayed when recorded; None: run eagerly."""
        key = ("predict", _signature(xs))
        program = self.programs.get(key)
        reason = self._model_reason()
        if program is not None and program.valid() and reason is None:
            if self.reasons:
                self.reasons.pop(key, None)
            with no_grad():
                program.forward(xs)
            outputs = [Tensor(o.data.copy()) for o in program.outputs]  # the buffers belong to the next replay
            return outputs if program.many else outputs[0]
        reason = reason or _arrays_reason(xs)
        if reason is not None:
            self._eager(key, reason)
            return None
        if key in self.failed:
            return None
        model = self.model
        recorder = Recorder(_persistent_arrays(model))
        inputs = [recorder.input(a) for a in xs]
        with no_grad(), recorder:
            out = model(Tensor(inputs[0]) if len(inputs) == 1 else [Tensor(a) for a in inputs], training=False)
        many = isinstance(out, (list, tuple))
        outs = list(out) if many else [out]
        self._keep(key, recorder, lambda: _Program(recorder, inputs, outs, None, model.weights, many))
        copies = [Tensor(o.data.copy()) for o in outs]
        return copies if many else copies[0]


def _signature(arrays):
    return tuple((a.shape, a.dtype.str) for a in arrays)


def _describe(key):
    kind, *rest = key
    shapes = [s for part in rest if isinstance(part, tuple) for s, _ in part]
    return f"{kind} {' '.join(str(s) for s in shapes)}"


def _arrays_reason(arrays):
    for a in arrays:
        if type(a) is not np.ndarray:
            return f"the batch holds {type(a).__name__} arrays: replay runs on NumPy arrays"
        if a.dtype.kind in "OSUV":
            return f"the batch holds {a.dtype} values"
    return None


def _all_layers(model):
    found, stack = [], list(model._sublayers())
    while stack:
        layer = stack.pop()
        found.append(layer)
        stack.extend(layer._sublayers())
    return found


def _persistent_arrays(model):
    arrays = [w.data for w in model.weights]
    if model._buffer is not None:
        arrays += [model._buffer.data, model._buffer.grad]
    return arrays
