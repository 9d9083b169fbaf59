"""Record the array kernels of one step once, then replay them on the same arrays: the engine side of ``jit_compile``.

While a :class:`Recorder` listens (``with recorder:``), every op that
:func:`~deepgrad.tensor.make_result` builds also reports how to recompute its output
array in place (its *kernel*). The recorder keeps:

- the forward program: one zero-argument callable per op, each writing the new values
  into the very array the recorded step produced (``kernel(*input arrays, out=that
  array)``). Those arrays become the step's fixed buffers: views taken of them (reshape,
  transpose), backward functions that saved them and layer code that holds them (the
  batch statistics of a normalization layer) all see the new values of a replay;
- the graph of the backward pass, kept alive (``retain_graph``) together with its
  topological order, so a replay runs :func:`~deepgrad.tensor.backward_walk` again:
  the same backward functions adding the same gradients in the same order, hence the
  same bits as eager execution.

A replay thus creates no Tensor, no graph node and no dispatch; what remains is the
arithmetic (and the backward walk's bookkeeping).

Kernels an op can declare (``make_result(..., kernel=..., args=...)``):

- a callable ``kernel(*args, out=array)`` (a NumPy ufunc or a small function): ``args``
  are the op's inputs, Tensors standing for their arrays, other values passed as they are;
- :class:`view` ``(fn)``: the output is ``fn(*args)``, a view of an input array (reshape,
  transpose, basic indexing) that stays valid as long as that array is a buffer of the
  step: nothing to run; when NumPy had to copy instead, a replay copies ``fn(*args)`` again;
- :func:`rebuild` ``(fn)``: ``fn(*args)`` returns ``(output array, backward function)``
  anew; the replay copies the output into the recorded array and gives the graph node
  the new backward function (for ops whose backward saves intermediates of the forward).

Random draws and side effects written in layer code take part through :func:`drawn`
(a tensor whose values a replay draws again from the same generator) and
:func:`effect` (an in-place update, such as moving statistics, run again by each replay).

Anything else makes the recording fail with a reason (:attr:`Recorder.failure`) and the
step runs eagerly: an op without a kernel, an op reading an array that is neither an input,
an output of a recorded op, a drawn tensor nor a long-lived array (the model's weights),
arrays of a non-NumPy backend.
"""

from __future__ import annotations

import functools

import numpy as np

from ..tensor import Tensor, _recording

__all__ = ["view", "rebuild", "drawn", "effect", "recording", "Recorder"]


class view:
    """Kernel of an op whose output ``fn(*args)`` is a view of an input (a copy when NumPy cannot view)."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn


class rebuild:
    """Kernel of an op recomputed as a whole: ``fn(*args) -> (output array, backward function)``."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn


def recording() -> bool:
    """True while a compiled step is being recorded."""
    return _recording.recorder is not None


def drawn(draw) -> Tensor:
    """A tensor holding ``draw()`` (random values, or values computed from state); a replay calls ``draw`` again.

    Layers that draw masks or noise (Dropout, GaussianNoise) make them through this, so a
    replayed step takes new values from the same generator, in the same order, as eager steps;
    so do layers that derive a constant from their state (BatchNormalization's 1/sqrt(var + eps)).
    """
    array = draw()
    if array.base is not None:
        array = array.copy()  # the tensor owns its array, so that a replay can write into it
    result = Tensor(array)
    recorder = _recording.recorder
    if recorder is not None:
        recorder.drawn(array, draw)
    return result


def effect(update) -> None:
    """Run ``update()`` (an in-place change of layer state, such as moving statistics) now and in every replay.

    ``update`` must read only arrays of the step (outputs of ops of this step, weights).
    """
    update()
    recorder = _recording.recorder
    if recorder is not None:
        recorder.steps.append(update)


def _root(array):
    """The array owning ``array``'s memory (bases that are not arrays, such as bytes or an mmap, end the chain)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def _copy_into(target, draw):
    np.copyto(target, draw())


def _recopied(fn, arrays, target):
    np.copyto(target, fn(*arrays))


def _rebuilt(fn, arrays, target, node):
    data, backward = fn(*arrays)
    np.copyto(target, data)
    if node._backward is not None:
        node._backward = backward


class RecordingFailed(Exception):
    """Raised inside a recording when the step cannot be replayed; the message says why."""


class Recorder:
    """Listens to the ops of one step (``with recorder:``) and keeps what a replay needs.

    ``persistent`` are arrays that outlive the step (the model's weights, its flat
    parameter buffer): ops may read them, and a replay reads their current values.
    ``steps`` is the forward program; ``graph`` the ``(root, order)`` of the recorded backward
    pass; ``failure`` the reason the step cannot be replayed (None while it can).
    """

    def __init__(self, persistent=()):
        self.steps = []
        self.graph = None
        self.failure = None
        self._roots = {}
        self._kept = []
        for array in persistent:
            self.keep(array)

    def __enter__(self):
        if _recording.recorder is not None:
            raise RuntimeError("a step is already being recorded.")
        _recording.recorder = self
        return self

    def __exit__(self, *exc):
        _recording.recorder = None
        return False

    def keep(self, array):
        """Declare ``array`` (and every view of it) readable by the recorded ops."""
        root = _root(array)
        self._roots[id(root)] = root

    def fail(self, reason):
        if self.failure is None:
            self.failure = reason

    def _known(self, array) -> bool:
        return id(_root(array)) in self._roots

    def input(self, array):
        """A private copy of ``array`` that the recorded step reads; a replay copies each new batch into it."""
        buffer = np.array(array, copy=True, order="C")
        self.keep(buffer)
        return buffer

    def drawn(self, array, draw):
        if type(array) is not np.ndarray:
            self.fail("a drawn tensor must be a fresh NumPy array")
            return
        self.keep(array)
        self.steps.append(functools.partial(_copy_into, array, draw))

    def result(self, tensor, data, args, kernel, op):
        """Called by make_result for each op: record how to recompute ``data``, or fail."""
        if self.failure is not None:
            return
        if kernel is None:
            self.fail(f"the op {op!r} has no replay kernel")
            return
        if type(data) is not np.ndarray:
            self.fail(f"the op {op!r} gave a {type(data).__name__}: replay runs on NumPy arrays")
            return
        arrays = []
        for value in args:
            if isinstance(value, Tensor):
                value = value.data
            if isinstance(value, np.ndarray) and value.size > 1 and not self._known(value):
                self.fail(f"the op {op!r} reads an array made outside the recorded ops (e.g. a Tensor built "
                          "from computed values inside call()), which a replay could not refresh")
                return
            arrays.append(value)
        self._kept.append(tensor)
        if isinstance(kernel, view) and self._known(data):
            return  # a view of a buffer of the step: it sees every replay's values
        fresh = data.base is None or isinstance(kernel, view)  # a view kernel's copy may keep a base
        if not fresh or not data.flags.writeable:
            self.fail(f"the op {op!r} gave an array that is neither a view of the step's arrays nor a fresh one")
            return
        if isinstance(kernel, view):
            self.keep(data)
            self.steps.append(functools.partial(_recopied, kernel.fn, arrays, data))
            return
        self.keep(data)
        if isinstance(kernel, rebuild):
            self.steps.append(functools.partial(_rebuilt, kernel.fn, arrays, data, tensor))
        else:
            self.steps.append(functools.partial(kernel, *arrays, out=data))

    def backward(self, root, order) -> bool:
        """Called by Tensor.backward: keep the graph (the walk is told to retain it)."""
        if self.graph is not None:
            self.fail("the step calls backward() more than once")
        self.graph = (root, order)
        return True
