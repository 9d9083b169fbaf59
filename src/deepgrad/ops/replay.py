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

An op too large to restate as a kernel (a convolution, a recurrence) is decorated with
:func:`called_again`: a replay calls it again on the step's tensors, takes the new output
values and gives the graph node the new backward function.

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

__all__ = ["view", "rebuild", "called_again", "drawn", "effect", "recording", "Recorder", "plan_backward"]


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


class _Again:
    __slots__ = ("op", "args", "kwargs")

    def __init__(self, op, args, kwargs):
        self.op, self.args, self.kwargs = op, args, kwargs


def called_again(op):
    """Decorator of an op that a replay runs by calling it again (with the recorded arguments).

    While a step is recorded, the op runs with the recorder paused (the ops it calls inside are
    not recorded one by one) and is recorded as one kernel. Its Tensor arguments are those of
    the recorded step, whose arrays a replay refreshes, so calling it again computes the new
    values; it must draw no random numbers and read no other changing state.
    """
    @functools.wraps(op)
    def replayable(*args, **kwargs):
        recorder = _recording.recorder
        if recorder is None:
            return op(*args, **kwargs)
        _recording.recorder = None
        try:
            result = op(*args, **kwargs)
        finally:
            _recording.recorder = recorder
        inputs = list(args) + list(kwargs.values())
        inputs += [t for value in inputs if isinstance(value, (list, tuple)) for t in value]
        recorder.result(result, result.data, inputs, _Again(op, args, kwargs), op.__name__)
        return result

    return replayable


def _call_again(kernel, target, node):
    result = kernel.op(*kernel.args, **kernel.kwargs)
    np.copyto(target, result.data)
    if node._backward is not None:
        node._backward = result._backward


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
        self.ops = {}
        self.called_again = False  # some op is replayed by calling it again (@called_again)
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
        self.ops[id(tensor)] = op
        if isinstance(kernel, view) and self._known(data):
            return  # a view of a buffer of the step: it sees every replay's values
        # a view kernel's copy, and the output of an op called again (a view of its own work array), may keep a base
        fresh = data.base is None or (isinstance(kernel, (view, _Again)) and not self._known(data))
        if not fresh or not data.flags.writeable:
            self.fail(f"the op {op!r} gave an array that is neither a view of the step's arrays nor a fresh one")
            return
        if isinstance(kernel, view):
            self.keep(data)
            self.steps.append(functools.partial(_recopied, kernel.fn, arrays, data))
            return
        self.keep(data)
        if isinstance(kernel, _Again):
            self.called_again = True
            self.steps.append(functools.partial(_call_again, kernel, data, tensor))
        elif isinstance(kernel, rebuild):
            self.steps.append(functools.partial(_rebuilt, kernel.fn, arrays, data, tensor))
        else:
            self.steps.append(functools.partial(kernel, *arrays, out=data))

    def backward(self, root, order) -> bool:
        """Called by Tensor.backward: keep the graph (the walk is told to retain it)."""
        if self.graph is not None:
            self.fail("the step calls backward() more than once")
        self.graph = (root, order)
        return True


# --------------------------------------------------------------------------- the planned backward pass
#
# A replay may also run the backward pass as a fixed list of kernels writing into fixed gradient
# arrays (a leaf's gradient straight into its view of the flat gradient buffer), instead of walking
# the graph. Each planned op below repeats, with ``out=``, the arithmetic of its backward function in
# the engine, so the bits stay the eager ones; every other op of the safe list calls its current
# backward function and copies what it returns. A graph holding any other op is walked as eagerly.

_ALIAS = object()  # a builder's answer "the gradient for this parent is g itself"


def _reduce_into(c, target):
    """``target[...] = unbroadcast(c, target.shape)``: the engine's adjoint of broadcasting, into ``target``."""
    shape = target.shape
    extra = c.ndim - len(shape)
    if extra == 1 and shape and c.shape[1:] == shape:
        np.sum(c, axis=0, out=target)
        return
    axes = tuple(range(extra)) + tuple(extra + i for i, n in enumerate(shape) if n == 1 and c.shape[extra + i] != 1)
    np.copyto(target, c.sum(axis=axes, keepdims=True).reshape(shape))


def _reducer(c, target):
    """A kernel doing ``_reduce_into(c, target)``: the bias case binds ``np.add.reduce`` (what ``sum`` calls)."""
    if c.ndim == target.ndim + 1 and target.shape and c.shape[1:] == target.shape:
        return functools.partial(np.add.reduce, c, 0, out=target)
    return functools.partial(_reduce_into, c, target)


def _pass_through(g, parents, out, targets):
    steps = []
    answers = []
    for target in targets:
        if target is None:
            answers.append(None)
        elif target.shape == g.shape:
            answers.append(_ALIAS)
        else:
            steps.append(_reducer(g, target))
            answers.append(target)
    return steps, answers


def _matmul_2d(g, parents, out, targets):
    a, b = parents[0].data, parents[1].data
    if a.ndim != 2 or b.ndim != 2:
        return None
    steps = []
    if targets[0] is not None:
        steps.append(functools.partial(np.matmul, g, b.T, out=targets[0]))  # g @ b^T
    if targets[1] is not None:
        steps.append(functools.partial(np.matmul, a.T, g, out=targets[1]))  # a^T @ g
    return steps, list(targets)


def _relu_into(g, out, target):
    np.multiply(g, out > 0, out=target)


def _tanh_into(g, out, target):
    np.multiply(g, 1 - out * out, out=target)


def _sigmoid_grad_into(g, out, target):
    np.multiply(g, out * (1 - out), out=target)


def _elementwise(rule):
    def build(g, parents, out, targets):
        if targets[0] is None or targets[0].shape != g.shape:
            return None
        return [functools.partial(rule, g, out, targets[0])], list(targets)

    return build


def _call_backward(node, g, targets):
    for grad, target in zip(node._backward(g), targets):
        if target is not None:
            if grad.shape == target.shape:
                np.copyto(target, grad)
            else:
                _reduce_into(grad, target)


_PLANNED = {"add": _pass_through, "matmul": _matmul_2d, "relu": _elementwise(_relu_into),
            "tanh": _elementwise(_tanh_into), "sigmoid": _elementwise(_sigmoid_grad_into)}
# ops whose backward function returns an array for every parent that requires a gradient
_CALLED = {"sub", "mul", "truediv", "neg", "pow", "exp", "log", "log1p", "sqrt", "abs", "softplus", "maximum",
           "minimum", "where", "clip", "erf", "sum", "mean", "reshape", "transpose", "squeeze", "unsqueeze",
           "broadcast_to", "concatenate", "stack", "getitem", "softmax", "log_softmax", "masked_softmax",
           "softmax_cross_entropy", "sigmoid_binary_cross_entropy"}


def _plannable(nodes, ops, dtype) -> bool:
    for node in nodes:
        if node._backward is None:
            if node.grad_view is None or node.grad_view.dtype != node.data.dtype:
                return False
        elif ops.get(id(node)) not in _PLANNED and ops.get(id(node)) not in _CALLED:
            return False
        elif any(p.requires_grad and p.data.dtype != dtype for p in node._parents):
            return False
    return True


def _target(parent, grads):
    """Where a contribution to ``parent`` is written: a leaf's first one into its gradient view."""
    if not parent.requires_grad:
        return None
    if parent not in grads and parent._backward is None:
        return parent.grad_view
    return np.empty(parent.data.shape, parent.data.dtype)


def _accumulate(steps, grads, owned, parent, answer, g):
    """Add one contribution to ``parent``'s gradient as the walk does (first: keep it; then: add)."""
    contribution = g if answer is _ALIAS else answer
    if parent not in grads:
        if parent._backward is None and contribution is not parent.grad_view:
            steps.append(functools.partial(np.copyto, parent.grad_view, contribution))
            contribution = parent.grad_view
        grads[parent] = contribution
        owned[parent] = answer is not _ALIAS or parent._backward is None  # a leaf's view is ours
    elif owned[parent]:
        steps.append(functools.partial(np.add, grads[parent], contribution, out=grads[parent]))
    else:  # the first gradient was g of another node: add into a new array, as the walk does
        total = np.empty(parent.data.shape, parent.data.dtype)
        steps.append(functools.partial(np.add, grads[parent], contribution, out=total))
        grads[parent], owned[parent] = total, True


def plan_backward(root, order, ops):
    """The backward pass of the kept graph ``(root, order)`` as (kernels, leaves reached), or None.

    ``ops`` maps id(tensor) to the op that made it. None when an op is in neither table, a leaf
    has no gradient view (the flat buffer's), dtypes differ (the walk would cast) or a node
    gets no gradient.
    """
    nodes = list(reversed(order))
    if not _plannable(nodes, ops, root.data.dtype):
        return None
    grads, owned = {root: np.ones_like(root.data)}, {root: False}
    steps, leaves = [], []
    for node in nodes:
        g = grads.get(node)
        if g is None:
            return None
        if node._backward is None:
            leaves.append(node)
            continue
        parents = node._parents
        # a parent given twice (x * x) gets a second array for its second contribution
        targets = [_target(parent, parents if any(parent is q for q in parents[:i]) else grads)
                   for i, parent in enumerate(parents)]
        built = _PLANNED.get(ops[id(node)], lambda *args: None)(g, node._parents, node.data, targets)
        if built is None:
            steps.append(functools.partial(_call_backward, node, g, targets))
            answers = targets
        else:
            kernels, answers = built
            steps.extend(kernels)
        for parent, answer in zip(node._parents, answers):
            if answer is not None:
                _accumulate(steps, grads, owned, parent, answer, g)
    return steps, leaves
