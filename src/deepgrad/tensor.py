"""The Tensor and its define-by-run autograd.

Every differentiable operation (in :mod:`deepgrad.ops`) computes its output array and
returns it through :func:`make_result` together with a small ``backward`` function
that maps the gradient of the output, dL/d(out), to the gradients of its inputs,
dL/d(input), by the chain rule. Calling :meth:`Tensor.backward` on a scalar loss
walks the recorded graph once, in reverse topological order (computed with an
explicit stack, so graphs thousands of operations deep are fine), and accumulates
dL/dx into ``.grad`` of every leaf tensor that has ``requires_grad=True``.

After the walk the graph is released (each node drops its backward function and
parents) unless ``retain_graph=True``, so intermediate arrays are freed as soon as
the caller drops the loss. Backward functions capture arrays, never the output
tensor itself, so no reference cycles form.
"""

from __future__ import annotations

import functools
import numbers
import operator

import numpy as np

from . import backend

DEFAULT_FLOAT = np.float32


class _GradMode:
    enabled = True


class no_grad:
    """Context manager (and decorator) in which operations record no graph.

    Inside ``with deepgrad.no_grad():`` results have ``requires_grad=False`` and no
    backward function is kept, so inference costs only the arithmetic.
    """

    _enable = False

    def __enter__(self):
        self._previous = _GradMode.enabled
        _GradMode.enabled = self._enable
        return self

    def __exit__(self, *exc):
        _GradMode.enabled = self._previous
        return False

    def __call__(self, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return function(*args, **kwargs)

        return wrapper


class enable_grad(no_grad):
    """Context manager that turns graph recording back on inside a ``no_grad`` block."""

    _enable = True


class _recording:
    """Where a compiled step's recorder (:mod:`deepgrad.ops.replay`) listens; None when nothing records."""

    recorder = None


def is_grad_enabled() -> bool:
    """True when operations currently record the graph."""
    return _GradMode.enabled


def _is_float_dtype(dtype) -> bool:
    return np.dtype(dtype).kind == "f"  # ~20x cheaper than np.issubdtype (called per backward)


def _as_array(data, dtype=None, device=None, copy=False):
    """Convert user data to a backend array, applying deepgrad's dtype rules.

    Python floats (and lists of them) become float32, Python ints int64, bools bool;
    NumPy/CuPy arrays keep their dtype (float64 stays float64) unless ``dtype`` is given.
    """
    if isinstance(data, Tensor):
        array = data.data
    else:
        array = data
    if isinstance(array, np.generic):  # a NumPy scalar keeps its dtype, like an array
        array = np.asarray(array)
    # namespace() names cupy only for a CuPy array (and numpy for anything else)
    is_array = isinstance(array, np.ndarray) or backend.namespace(array) is not np
    if not is_array:
        array = np.asarray(array)
        if dtype is None and array.dtype == np.float64:
            array = array.astype(DEFAULT_FLOAT)
        if array.dtype == object:
            raise TypeError(
                f"cannot make a tensor from {type(data).__name__} holding non-numeric or ragged data."
            )
        copy = False
    if device is not None or backend.get_default_device() != "cpu":
        target = device if device is not None else backend.get_default_device()
        moved = backend.to_device(array, target)
        copy = copy and moved is array
        array = moved
    if dtype is not None:
        dtype = np.dtype(dtype)
        if array.dtype != dtype:
            array = array.astype(dtype)
            copy = False
    if copy:
        array = array.copy()
    return array


class DeferredGradient:
    """A gradient held in a compact form until a consumer needs the full array.

    A backward rule may return one for a parent when the full gradient is cheap to
    describe but costly to write out: max pooling's gradient is its pooled gradient
    scattered to the window maxima, three quarters zeros for 2x2 windows. The walk hands
    it on as it is only to a backward rule marked ``accepts_deferred = True`` (the fused
    convolution-ReLU reads the pooled form directly, skipping the dense array and the
    mask pass); every other rule, a leaf's ``.grad`` and a sum of two gradients get
    :meth:`materialize`'s dense array. Subclasses register with :func:`deferred_gradient`.
    """

    __slots__ = ()
    shape = ()
    __array_ufunc__ = None  # NumPy defers to __radd__ rather than making an object array

    def materialize(self):
        """The dense gradient array."""
        raise NotImplementedError

    def __add__(self, other):  # the sum of two consumers' gradients is dense
        return self.materialize() + dense_gradient(other)

    def __radd__(self, other):
        return dense_gradient(other) + self.materialize()


_DEFERRED_CLASSES: set = set()


def deferred_gradient(cls):
    """Class decorator: register a :class:`DeferredGradient` subclass with the backward walk."""
    if not issubclass(cls, DeferredGradient):
        raise TypeError(f"{cls.__name__} must subclass DeferredGradient.")
    _DEFERRED_CLASSES.add(cls)
    return cls


def dense_gradient(grad):
    """``grad`` as an array: a :class:`DeferredGradient` materialized, an array as it is."""
    return grad.materialize() if grad.__class__ in _DEFERRED_CLASSES else grad


def _graph_freed(_grad):
    raise RuntimeError(
        "trying to backpropagate through a graph a second time: its intermediate values were "
        "freed by the first backward(). Pass retain_graph=True to the first backward() call "
        "if you need to backpropagate twice."
    )


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    Parameters
    ----------
    data : array_like, Tensor
        Values. NumPy arrays are wrapped without a copy (use :func:`deepgrad.tensor`
        for a copying constructor).
    requires_grad : bool
        Track operations so that :meth:`backward` fills ``.grad``. Only floating
        point tensors can require gradients.
    dtype, device :
        Optional dtype and device (``'cpu'`` or ``'cuda'``).

    Attributes
    ----------
    data : ndarray
        The values (a NumPy or CuPy array).
    grad : ndarray or None
        dL/d(self), accumulated by each :meth:`backward` call until reset with
        :meth:`zero_grad`.
    """

    __slots__ = ("data", "grad", "requires_grad", "name", "_parents", "_backward", "_op",
                 "_grad_view", "__weakref__")
    # Makes ``ndarray <op> Tensor`` defer to the Tensor's reflected operator.
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False, dtype=None, device=None, name=None):
        if not (type(data) is np.ndarray and dtype is None and device is None
                and backend.get_default_device() == "cpu"):
            data = _as_array(data, dtype=dtype, device=device)  # the common case (a batch) skips this
        _set_fields(self, data, (), None, None, False)
        self.name = name
        if requires_grad:
            self.requires_grad_(True)

    # ------------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def grad_view(self):
        """The preallocated array this tensor's gradient is written into, or None.

        A :class:`~deepgrad.parameters.ParameterBuffer` sets it to the tensor's slice of the
        buffer's flat gradient array; the first gradient of each backward walk is copied into
        it and it becomes ``.grad`` (so an optimizer finds every gradient in one flat array).
        """
        return self._grad_view

    @grad_view.setter
    def grad_view(self, view):
        if view is not None and tuple(view.shape) != tuple(self.data.shape):
            raise ValueError(
                f"a gradient view must have the tensor's shape {tuple(self.data.shape)}, "
                f"got shape {tuple(view.shape)}."
            )
        self._grad_view = view

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by an operation that records a graph."""
        return self._backward is None

    @property
    def grad_fn(self):
        """Name of the operation that produced this tensor (None for leaves)."""
        return self._op if self._backward is not None else None

    @property
    def T(self) -> "Tensor":
        """The tensor with its axes reversed (the transpose for a matrix)."""
        return _shape.transpose(self)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __array__(self, dtype=None, copy=None):
        array = backend.to_numpy(self.data)
        if dtype is not None:
            array = array.astype(dtype, copy=False)
        return array

    def __repr__(self) -> str:
        body = np.array2string(backend.to_numpy(self.data), separator=", ", precision=4,
                               threshold=50, prefix="tensor(")
        extras = []
        if self.data.dtype != DEFAULT_FLOAT:
            extras.append(f"dtype={self.data.dtype}")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    __hash__ = object.__hash__

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous; "
                "use .any() or .all() on its .data"
            )
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if np.issubdtype(self.data.dtype, np.integer) and self.data.size == 1:
            return int(self.item())
        raise TypeError("only integer tensors of one element can be used as an index")

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (shares memory on the CPU; use ``.detach()`` first if needed)."""
        return backend.to_numpy(self.data)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return backend.to_numpy(self.data).tolist()

    def detach(self) -> "Tensor":
        """A new leaf tensor sharing this tensor's data, cut from the graph."""
        return Tensor(self.data)

    def to(self, device) -> "Tensor":
        """This tensor on ``device`` (``'cpu'`` or ``'cuda'``); a differentiable copy when it moves."""
        device = backend.parse_device(device)
        if device == self.device:
            return self
        moved = backend.to_device(self.data, device)
        source = self.device

        def backward(grad):
            return (backend.to_device(grad, source),)

        return make_result(moved, (self,), backward, "to")

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self) -> "Tensor":
        return self.to("cuda")

    def astype(self, dtype) -> "Tensor":
        """Cast to ``dtype``; differentiable between floating point dtypes."""
        dtype = np.dtype(dtype)
        if dtype == self.data.dtype:
            return self
        source = self.data.dtype

        def backward(grad):
            return (grad.astype(source),)

        result = self.data.astype(dtype)
        if not _is_float_dtype(dtype):
            return make_result(result, (self,), None, "astype")
        return make_result(result, (self,), backward, "astype")

    def float(self) -> "Tensor":
        return self.astype(np.float32)

    def double(self) -> "Tensor":
        return self.astype(np.float64)

    # ------------------------------------------------------------------ autograd
    def requires_grad_(self, flag: bool = True) -> "Tensor":
        """Set ``requires_grad`` in place; raises for integer and bool tensors."""
        if flag and not _is_float_dtype(self.data.dtype):
            raise TypeError(
                f"only floating point tensors can require gradients, but this tensor has dtype "
                f"{self.data.dtype}. Integer and bool tensors hold labels, indices and masks; "
                "convert with .astype('float32') if you meant values."
            )
        self.requires_grad = bool(flag)
        return self

    def zero_grad(self) -> None:
        """Reset ``.grad`` to None (no gradient yet).

        A tensor with a :attr:`grad_view` (one of a ParameterBuffer) gets that view back as ``.grad`` at
        the next backward, which writes the gradient into it: no pass of zeros is needed.
        """
        self.grad = None

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Backpropagate: accumulate dL/dx into ``.grad`` of every leaf that requires it.

        ``grad`` is dL/d(self); it may be omitted only for a one-element tensor (a
        scalar loss), where it is 1. The chain rule is applied node by node in reverse
        topological order: grad(parent) += backward_node(grad(node)).
        """
        if not _is_float_dtype(self.data.dtype):
            raise TypeError(
                f"backward() called on a tensor of dtype {self.data.dtype}: integer and bool "
                "tensors are never differentiable. Compute the loss in floating point."
            )
        if not self.requires_grad:
            raise RuntimeError(
                "backward() called on a tensor that does not require grad: none of the tensors "
                "it was computed from has requires_grad=True (or it was computed under no_grad())."
            )
        grad = _seed_gradient(self, grad)
        order = _topological_order(self)
        if _recording.recorder is not None:  # a compiled step keeps this graph to walk it again
            retain_graph = _recording.recorder.backward(self, order) or retain_graph
        backward_walk(self, grad, order, retain_graph)

    # ------------------------------------------------------------------ operators
    def __add__(self, other):
        return _ew.add(self, other)

    def __radd__(self, other):
        return _ew.add(other, self)

    def __sub__(self, other):
        return _ew.sub(self, other)

    def __rsub__(self, other):
        return _ew.sub(other, self)

    def __mul__(self, other):
        return _ew.mul(self, other)

    def __rmul__(self, other):
        return _ew.mul(other, self)

    def __truediv__(self, other):
        return _ew.truediv(self, other)

    def __rtruediv__(self, other):
        return _ew.truediv(other, self)

    def __pow__(self, other):
        return _ew.pow(self, other)

    def __rpow__(self, other):
        return _ew.pow(other, self)

    def __matmul__(self, other):
        return _linalg.matmul(self, other)

    def __rmatmul__(self, other):
        return _linalg.matmul(other, self)

    def __neg__(self):
        return _ew.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ew.abs(self)

    def __getitem__(self, index):
        return _shape.getitem(self, index)

    def __setitem__(self, index, value):
        if self.requires_grad and _GradMode.enabled:
            raise RuntimeError(
                "in-place assignment to a tensor that requires grad would corrupt its gradient; "
                "wrap it in `with deepgrad.no_grad():` or assign to .data."
            )
        self.data[_shape.plain_index(index)] = value.data if isinstance(value, Tensor) else value

    # Comparisons return bool tensors that carry no gradient (on the tensor's backend).
    # ``kernel`` (the ufunc of the comparison) lets a compiled step replay it (see make_result).
    def _compare(self, other, compare, kernel):
        other_data = other.data if isinstance(other, Tensor) else other
        if type(other_data) is np.ndarray and type(self.data) is not np.ndarray:  # a host array beside a device one
            other_data = backend.namespace(self.data).asarray(other_data)
        result = Tensor(compare(self.data, other_data))
        if _recording.recorder is not None:
            _recording.recorder.result(result, result.data, (self, other), kernel, kernel.__name__)
        return result

    def __lt__(self, other):
        return self._compare(other, operator.lt, np.less)

    def __le__(self, other):
        return self._compare(other, operator.le, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, operator.gt, np.greater)

    def __ge__(self, other):
        return self._compare(other, operator.ge, np.greater_equal)

    def __eq__(self, other):
        return self._compare(other, operator.eq, np.equal)

    def __ne__(self, other):
        return self._compare(other, operator.ne, np.not_equal)

    # ------------------------------------------------------------------ methods mirroring ops
    def exp(self):
        return _ew.exp(self)

    def log(self):
        return _ew.log(self)

    def log1p(self):
        return _ew.log1p(self)

    def sqrt(self):
        return _ew.sqrt(self)

    def abs(self):
        return _ew.abs(self)

    def sign(self):
        return _ew.sign(self)

    def tanh(self):
        return _ew.tanh(self)

    def sigmoid(self):
        return _ew.sigmoid(self)

    def relu(self):
        return _ew.relu(self)

    def softplus(self):
        return _ew.softplus(self)

    def clip(self, min=None, max=None):  # min/max shadow builtins: NumPy's and PyTorch's argument names
        return _ew.clip(self, min, max)

    clamp = clip

    def maximum(self, other):
        return _ew.maximum(self, other)

    def minimum(self, other):
        return _ew.minimum(self, other)

    def matmul(self, other):
        return _linalg.matmul(self, other)

    def dot(self, other):
        return _linalg.matmul(self, other)

    def sum(self, axis=None, keepdims=False):
        return _red.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return _red.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return _red.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return _red.min(self, axis, keepdims)

    def var(self, axis=None, keepdims=False, ddof=0):
        return _red.var(self, axis, keepdims, ddof)

    def std(self, axis=None, keepdims=False, ddof=0):
        return _red.std(self, axis, keepdims, ddof)

    def prod(self, axis=None, keepdims=False):
        return _red.prod(self, axis, keepdims)

    def argmax(self, axis=None):
        return Tensor(self.data.argmax(axis=axis))

    def argmin(self, axis=None):
        return Tensor(self.data.argmin(axis=axis))

    def reshape(self, *shape):
        return _shape.reshape(self, *shape)

    view = reshape

    def flatten(self):
        return _shape.reshape(self, -1)

    def transpose(self, *axes):
        return _shape.transpose(self, *axes)

    def permute(self, *axes):
        return _shape.transpose(self, *axes)

    def broadcast_to(self, shape):
        return _shape.broadcast_to(self, shape)

    def squeeze(self, axis=None):
        return _shape.squeeze(self, axis)

    def unsqueeze(self, axis):
        return _shape.unsqueeze(self, axis)

    expand_dims = unsqueeze

    def split(self, indices_or_sections, axis=0):
        return _shape.split(self, indices_or_sections, axis)

    def pad(self, pad_width, constant_values=0):
        return _shape.pad(self, pad_width, constant_values)

    def take_along_axis(self, indices, axis):
        return _shape.take_along_axis(self, indices, axis)

    def gather(self, axis, index):
        return _shape.take_along_axis(self, index, axis)

    def softmax(self, axis=-1):
        return _nn.softmax(self, axis)

    def log_softmax(self, axis=-1):
        return _nn.log_softmax(self, axis)

    def logsumexp(self, axis=None, keepdims=False):
        return _nn.logsumexp(self, axis, keepdims)


def backward_walk(root, grad, order, retain_graph=False):
    """The walk of :meth:`Tensor.backward` over ``order`` (from :func:`_topological_order`), seeded with ``grad``.

    A compiled step calls it again on a graph it kept (``retain_graph=True``), so a replayed
    backward pass adds the same gradients in the same order as the eager one.
    """
    # Tensors hash by identity (``__eq__`` is elementwise but set and dict lookups of
    # distinct live objects never reach it), so nodes key the dict directly.
    # grads[node] = (dL/d(node), owned): ``owned`` marks an array that only this walk
    # references, so it may be added into in place or become a leaf's .grad without a
    # copy (copying a fresh 784x256 weight gradient costs more than its bias add).
    grads = {root: (grad, True)}
    pop_grad = grads.pop
    for node in reversed(order):
        entry = pop_grad(node, None)
        if entry is None:
            continue
        node_grad = entry[0]
        backward_fn = node._backward
        if backward_fn is None:  # a leaf: accumulate into .grad
            _accumulate_leaf(node, node_grad, entry[1])
            continue
        parent_grads = backward_fn(node_grad)
        parents = node._parents
        if not retain_graph:
            node._backward = _graph_freed
            node._parents = ()
        for parent, parent_grad in zip(parents, parent_grads):
            if parent_grad is None or not parent.requires_grad:
                continue
            parent_grad, owned = _fitted_gradient(parent_grad, parent, node_grad, parent_grads)
            previous = grads.get(parent)
            if previous is None:
                grads[parent] = (parent_grad, owned)
            elif previous[1] and parent_grad.__class__ not in _DEFERRED_CLASSES:
                previous[0].__iadd__(parent_grad)  # ours alone: add in place
            else:
                grads[parent] = (previous[0] + parent_grad, True)


class RecordedWalk:
    """:func:`backward_walk` over a kept graph, with the walk's order and each node's parents looked up once.

    Calling it runs the graph's current backward functions (a replay may have replaced
    some) and adds the gradients exactly as :func:`backward_walk` does, in the same order;
    what it saves is the dictionary of pending gradients and the topological sort.
    """

    def __init__(self, root, order):
        nodes = list(reversed(order))
        position = {node: i for i, node in enumerate(nodes)}
        self.root = root
        self.seed = _seed_gradient(root, None)
        # (node, None) for a leaf; (node, [(parent position or None, parent), ...]) otherwise
        self.plan = [(node, None if node._backward is None else
                      [(position.get(parent) if parent.requires_grad else None, parent) for parent in node._parents])
                     for node in nodes]

    def __call__(self):
        plan = self.plan
        grads = [None] * len(plan)
        owned = [False] * len(plan)
        # the seed is never added into (nothing else reaches the root) nor handed to a leaf, so it is kept
        grads[0], owned[0] = self.seed, True
        for i, (node, parents) in enumerate(plan):
            node_grad = grads[i]
            if node_grad is None:
                continue
            grads[i] = None
            if parents is None:
                _accumulate_leaf(node, node_grad, owned[i])
                continue
            parent_grads = node._backward(node_grad)
            for (j, parent), parent_grad in zip(parents, parent_grads):
                if parent_grad is None or j is None:
                    continue
                parent_grad, own = _fitted_gradient(parent_grad, parent, node_grad, parent_grads)
                previous = grads[j]
                if previous is None:
                    grads[j], owned[j] = parent_grad, own
                elif owned[j] and parent_grad.__class__ not in _DEFERRED_CLASSES:
                    previous.__iadd__(parent_grad)
                else:
                    grads[j], owned[j] = previous + parent_grad, True


def _topological_order(root):
    """Tensors reachable from ``root`` that require grad, parents before children.

    Iterative depth-first post-order: an explicit stack instead of recursion, so a
    chain of any length is fine. A node is pushed again under a ``None`` marker when
    it is expanded; popping the marker means all its parents are done.
    """
    order = []
    visited = set()
    stack = [root]
    push, pop, visit, emit = stack.append, stack.pop, visited.add, order.append
    while stack:
        node = pop()
        if node is None:
            emit(pop())
            continue
        if node in visited:
            continue
        visit(node)
        push(node)
        push(None)
        for parent in node._parents:
            if parent.requires_grad and parent not in visited:
                push(parent)
    return order


def _seed_gradient(root, grad):
    """dL/d(root) as a fresh array the walk owns: ones for a scalar root, else a copy of ``grad``."""
    xp = backend.namespace(root.data)
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward() without a gradient works only for a scalar (one-element) tensor, "
                f"but this tensor has shape {root.shape}. Reduce it first (e.g. loss.mean()) or "
                "pass grad= with the same shape."
            )
        return xp.ones_like(root.data)
    grad = xp.array(_as_array(grad, dtype=root.data.dtype), copy=True)
    if grad.shape != root.data.shape:
        raise ValueError(
            f"backward(): grad has shape {grad.shape} but the tensor has shape {root.shape}."
        )
    return grad


def _fitted_gradient(parent_grad, parent, node_grad, parent_grads):
    """:func:`_owned_gradient` with its usual case settled inline: a fresh, fitted array for this parent alone."""
    parent_data = parent.data
    if (parent_grad.__class__ is parent_data.__class__ and parent_grad.shape == parent_data.shape
            and parent_grad.dtype is parent_data.dtype and parent_grad.base is None
            and parent_grad is not node_grad and parent_data.ndim
            and (len(parent_grads) == 1 or (len(parent_grads) == 2 and parent_grads[0] is not parent_grads[1]))):
        return parent_grad, True
    return _owned_gradient(parent_grad, parent, node_grad, parent_grads)


def _owned_gradient(grad, parent, node_grad, sibling_grads):
    """A backward rule's gradient for one parent, fitted to it, and whether the walk owns it.

    ``grad`` is what the rule returned for ``parent``; ``node_grad``
    the gradient the rule received and ``sibling_grads`` everything it returned. The result
    has the parent's shape and dtype. It is *owned* when no other node or leaf can see the
    array, so the walk may add into it in place or hand it to a leaf as ``.grad`` without a
    copy: true for arrays made here (unbroadcast, cast, 0-d) and for a fresh array returned
    for this parent alone (see :func:`make_result`); false for ``node_grad`` itself or a view.

    A :class:`DeferredGradient` stays deferred only for a parent whose backward rule
    accepts it; it is then not owned (a second gradient for the same parent adds to it by
    materializing it). For any other parent it is materialized here.
    """
    parent_data = parent.data
    if grad.__class__ in _DEFERRED_CLASSES:
        if getattr(parent._backward, "accepts_deferred", False):
            return grad, False
        grad = grad.materialize()
    if grad.shape != parent_data.shape:
        grad = unbroadcast(grad, parent_data.shape)
        owned = True
    elif not parent_data.shape:
        # 0-d: NumPy returns scalars from 0-d arithmetic; a fresh 0-d array
        # can be added into in place (and costs nothing to make)
        grad = backend.namespace(parent_data).array(grad)
        owned = True
    elif grad.base is not None or grad is node_grad:
        owned = False  # g itself or a view: shared with other nodes
    elif len(sibling_grads) == 1:
        owned = True  # fresh (see make_result)
    elif len(sibling_grads) == 2:  # fresh, unless returned for both parents
        owned = sibling_grads[0] is not sibling_grads[1]
    else:
        owned = sum(q is grad for q in sibling_grads) == 1
    # ``is not`` first: the cheap test settles the common case (same dtype object)
    if grad.dtype is not parent_data.dtype and grad.dtype != parent_data.dtype:
        grad = grad.astype(parent_data.dtype)
        owned = True
    return grad, owned


def _accumulate_leaf(leaf, grad, owned):
    """leaf.grad += grad, allocating (or re-attaching the shared buffer view) on first use.

    An ``owned`` gradient (a fresh array nothing else references) becomes ``.grad``
    as it is; any other is copied, since it may be shared with other tensors or be a
    read-only broadcast view.
    """
    if leaf.grad is None:
        if leaf._grad_view is not None:
            leaf.grad = leaf._grad_view
            leaf.grad[...] = grad
        else:
            leaf.grad = grad if owned else grad.copy()
    else:
        leaf.grad += grad


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``: the adjoint of NumPy broadcasting.

    Axes that broadcasting added in front and axes where ``shape`` has 1 are summed
    in one reduction. Always returns a new array.
    """
    extra = grad.ndim - len(shape)
    if extra == 1 and shape and grad.shape[1:] == shape:
        return grad.sum(axis=0)  # the bias of a batch: the common case, one call
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
    summed = grad.sum(axis=axes, keepdims=True)  # keepdims: an array even for shape ()
    return summed if summed.shape == shape else summed.reshape(shape)


_new_tensor = object.__new__


def make_result(data, parents, backward, op, kernel=None, args=None):
    """Wrap an op's output array as a Tensor and, when needed, record how to backpropagate.

    The graph node is recorded only when grad mode is on and some parent requires
    grad; otherwise the result is a plain leaf and ``backward`` is dropped.

    ``backward(g)`` receives dL/d(out) and returns one gradient per parent (None for a
    parent that needs none). Each must be ``g`` itself, a view of ``g``, or a freshly
    allocated array, never an array saved from the forward pass: the engine adds into
    fresh arrays in place and hands them to leaves as their ``.grad``. It must not
    modify ``g`` in place (``g`` may be shared). Shapes may be broadcast versions of
    the parents' shapes; the engine sums them back (:func:`unbroadcast`).

    ``kernel`` and ``args`` let a compiled step replay the op without Tensors: ``kernel(*args,
    out=array)`` recomputes ``data`` in place from the arrays of ``args`` (the parents when
    None; Tensors stand for their arrays), or :data:`deepgrad.ops.replay.VIEW` says ``data`` is
    a view of an input, or a :func:`deepgrad.ops.replay.rebuild` kernel returns ``(data,
    backward)`` anew (see :mod:`deepgrad.ops.replay`). An op without one makes a compiled step
    fall back to eager execution.
    """
    if type(data) is not np.ndarray and isinstance(data, np.generic):
        data = np.asarray(data)  # NumPy gives scalars for 0-d results; tensors hold arrays
    out = _new_tensor(Tensor)  # skips __init__'s conversions: ``data`` is already an array
    if _recording.recorder is not None:
        _recording.recorder.result(out, data, parents if args is None else args, kernel, op)
    if backward is not None and _GradMode.enabled:
        for parent in parents:
            if parent.requires_grad:
                _set_fields(out, data, parents, backward, op, True)
                return out
    _set_fields(out, data, (), None, op, False)
    return out


def _set_fields(t, data, parents, backward, op, requires_grad):
    """Every slot of a new tensor: the one place a Tensor's fields are set up."""
    t.data = data
    t.grad = None
    t.name = None
    t._grad_view = None
    t._op = op
    t._parents = parents
    t._backward = backward
    t.requires_grad = requires_grad


def as_tensor(value, like=None) -> Tensor:
    """``value`` as a Tensor (no copy). Python scalars take the dtype of ``like`` when it is floating."""
    if isinstance(value, Tensor):
        return value
    if like is not None and isinstance(value, numbers.Number) and not isinstance(value, bool) \
            and _is_float_dtype(like.data.dtype):
        return Tensor(backend.namespace(like.data).asarray(value, dtype=like.data.dtype))
    if like is not None and not isinstance(value, np.ndarray):
        xp = backend.namespace(like.data)
        if xp is not np:
            return Tensor(xp.asarray(value))
    return Tensor(value)


def tensor(data, requires_grad=False, dtype=None, device=None) -> Tensor:
    """Create a tensor holding a copy of ``data``.

    Python floats become float32 (the default), ints int64, bools bool; NumPy arrays
    keep their dtype unless ``dtype`` is given.
    """
    out = Tensor.__new__(Tensor)
    Tensor.__init__(out, _as_array(data, dtype=dtype, device=device, copy=True),
                    requires_grad=requires_grad)
    return out


def grad(output, variables, retain_graph=False) -> list:
    """The gradients d(output)/d(v) of a scalar ``output`` for each tensor in ``variables``, as arrays.

    What a custom training step needs between the loss and ``optimizer.apply(grads, variables)``.
    It clears each variable's ``.grad``, runs ``output.backward()`` and returns the new ``.grad``
    of each variable, None for a variable the output does not depend on. As with ``backward``,
    other leaves of the graph accumulate their gradients and the graph is freed unless
    ``retain_graph``.
    """
    variables = list(variables)
    for v in variables:
        v.grad = None
    output.backward(retain_graph=retain_graph)
    return [v.grad for v in variables]


def __getattr__(name):
    # ParameterBuffer lived here before it got its own module (deepgrad.parameters)
    if name == "ParameterBuffer":
        from .parameters import ParameterBuffer  # noqa: PLC0415

        return ParameterBuffer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The method-attachment cycle, the one import cycle in the package: the ops modules import
# Tensor and make_result from here, and Tensor's operators and methods call the ops. Importing
# them last, once Tensor exists, lets both sides resolve.
from .ops import elementwise as _ew  # noqa: E402
from .ops import linalg as _linalg  # noqa: E402
from .ops import nn as _nn  # noqa: E402
from .ops import reduction as _red  # noqa: E402
from .ops import shape as _shape  # noqa: E402
