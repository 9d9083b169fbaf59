"""A stand-in for CuPy on the CPU: device arrays that are NumPy arrays underneath, with CuPy's rules enforced.

Tests of the 'cuda' code path run on machines without a GPU by installing this module as
``deepgrad.backend``'s cupy (:func:`installed`). Its arrays are :class:`ndarray`, a NumPy
subclass, so ``backend.namespace`` names this module for them and the arithmetic is NumPy's.
What CuPy forbids is refused here too, and what costs a host<->device copy is counted:

- ``asarray``/``array`` of host data is a host->device copy; ``asnumpy``, ``.get()``, ``.item()``,
  ``.tolist()``, ``float()``/``int()``/``bool()`` are device->host copies (``transfers``).
- NumPy's ``np.asarray``/``np.array``/``np.ascontiguousarray`` of a device array raise ``TypeError``
  (CuPy: "Implicit conversion to a NumPy array is not allowed").
- A device array mixed with a host array in one ufunc or function raises ``TypeError`` (CuPy accepts
  Python and NumPy scalars only).
- A NumPy *function* (``np.concatenate``, ``np.where`` ...) applied to a device array is recorded in
  ``numpy_calls`` and raises in strict mode: engine code asks ``backend.namespace`` for the module.
  NumPy ufuncs and array methods are fine (CuPy implements them).
- ``ElementwiseKernel``/``RawKernel`` are not compiled: a call runs the CPU mirror registered for the
  kernel's name in ``deepgrad.backend`` (``DeviceKernel.cpu``) and is recorded in ``kernel_calls``.
"""

from __future__ import annotations

import collections
import contextlib
import types

import numpy as np

_np_asarray, _np_array, _np_ascontiguousarray = np.asarray, np.array, np.ascontiguousarray

transfers = collections.Counter()  # 'to_device' / 'to_host' copies
numpy_calls = collections.Counter()  # NumPy functions called on device arrays
kernel_calls = collections.Counter()  # device kernels launched, by name
strict = True
_ALLOWED_NUMPY = {"ndim", "shape", "size", "result_type", "may_share_memory", "shares_memory", "iscomplexobj",
                  "isrealobj", "copyto"}


class ndarray(np.ndarray):
    """A device array: NumPy's arithmetic, CuPy's rules (see the module docstring)."""

    __array_priority__ = 100

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _check_no_host_arrays(inputs, f"numpy.{ufunc.__name__}")
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_base(o) for o in out)
        result = getattr(ufunc, method)(*[_base(a) for a in inputs], **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        name = func.__name__
        if name not in _ALLOWED_NUMPY:
            numpy_calls[name] += 1
            if strict:
                raise TypeError(f"numpy.{name} called on a device array: use backend.namespace(array).{name}")
        _check_no_host_arrays(args, f"numpy.{name}")
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    # results that NumPy gives as scalars are 0-d device arrays in CuPy
    def __getitem__(self, index):
        _check_no_host_arrays((index,), "indexing")  # CuPy takes host index arrays, but each is a copy
        return _wrap(super().__getitem__(_unwrap(index)))

    def __setitem__(self, index, value):
        _check_no_host_arrays((index, value), "assignment")
        np.ndarray.__setitem__(_base(self), _unwrap(index), _unwrap(value))

    def argmax(self, *args, **kwargs):
        return _wrap(_base(self).argmax(*args, **kwargs))

    def argmin(self, *args, **kwargs):
        return _wrap(_base(self).argmin(*args, **kwargs))

    def get(self):
        """The values on the host (a counted device->host copy)."""
        transfers["to_host"] += 1
        return _base(self).copy()

    def set(self, array):
        transfers["to_device"] += 1
        _base(self)[...] = array

    def item(self, *args):
        transfers["to_host"] += 1
        return _base(self).item(*args)

    def tolist(self):
        transfers["to_host"] += 1
        return _base(self).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    def __index__(self):
        return int(self.item())

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct "
                        "a NumPy array explicitly.")

    @property
    def device(self):
        return Device(0)


class Device:
    def __init__(self, id):
        self.id = id

    def synchronize(self):
        pass


def _base(a):
    return a.view(np.ndarray) if isinstance(a, ndarray) else a


def _wrap(result):
    if isinstance(result, ndarray):
        return result
    if isinstance(result, np.ndarray):
        return result.view(ndarray)
    if isinstance(result, np.generic):
        return _np_asarray(result).view(ndarray)
    if isinstance(result, tuple):
        return tuple(_wrap(r) for r in result)
    if isinstance(result, list):
        return [_wrap(r) for r in result]
    return result


def _unwrap(value):
    if isinstance(value, ndarray):
        return value.view(np.ndarray)
    if isinstance(value, tuple):
        return tuple(_unwrap(v) for v in value)
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _host_arrays(value):
    if type(value) is np.ndarray:
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _host_arrays(v)


def _check_no_host_arrays(values, what):
    for array in _host_arrays(values):
        numpy_calls[f"host array in {what}"] += 1
        if strict:
            raise TypeError(f"{what} mixes a device array with a host array of shape {array.shape}: move it with "
                            "backend.to_device first (CuPy accepts only scalars beside its arrays).")


# --------------------------------------------------------------------------- the module's functions

def asarray(a, dtype=None, order=None):
    """``a`` on the device: a counted host->device copy unless it is there already."""
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    transfers["to_device"] += 1
    return _np_array(a, dtype=dtype, order=order or "K", copy=True).view(ndarray)


def array(a, dtype=None, copy=True, order="K", ndmin=0):
    if isinstance(a, ndarray):
        return _wrap(_np_array(_base(a), dtype=dtype, copy=copy, order=order, ndmin=ndmin))
    transfers["to_device"] += 1
    return _np_array(a, dtype=dtype, copy=True, order=order, ndmin=ndmin).view(ndarray)


def ascontiguousarray(a, dtype=None):
    if not isinstance(a, ndarray):
        a = asarray(a)
    return _wrap(_np_ascontiguousarray(_base(a), dtype=dtype))


def asnumpy(a, stream=None):
    """The values on the host (a counted device->host copy for a device array)."""
    if isinstance(a, ndarray):
        return a.get()
    return _np_asarray(a)


def get_array_module(*args):
    return _MODULE if any(isinstance(a, ndarray) for a in args) else np


class _Function:
    """A NumPy function run as CuPy runs it: device arrays in, device arrays out, host arrays refused."""

    def __init__(self, function, name):
        self._function, self.__name__ = function, name

    def __call__(self, *args, **kwargs):
        _check_no_host_arrays(args, f"cupy.{self.__name__}")
        out = kwargs.get("out")
        result = self._function(*_unwrap(args), **_unwrap(kwargs))
        return out if out is not None and result is not None and not isinstance(out, tuple) else _wrap(result)

    def __getattr__(self, name):  # ufunc methods: reduce, at, outer, accumulate
        return _Function(getattr(self._function, name), f"{self.__name__}.{name}")


def _proxy(source, name):
    """A module-like object giving ``source``'s functions the device treatment."""
    module = types.ModuleType(name)

    def lookup(attr):
        value = getattr(source, attr)
        if isinstance(value, type) or not callable(value):
            return value
        if isinstance(value, types.ModuleType):
            return _proxy(value, f"{name}.{attr}")
        return _Function(value, attr)

    module.__getattr__ = lookup
    return module


class ElementwiseKernel:
    """Records the kernel; a call runs the CPU mirror of the deepgrad DeviceKernel of the same name."""

    def __init__(self, in_params, out_params, operation, name="kernel", **options):
        self.in_params, self.out_params, self.operation, self.name = in_params, out_params, operation, name
        self.options = options

    def __call__(self, *args, size=None, **kwargs):
        return _run_mirror(self.name, args, kwargs)


class RawKernel:
    """Records the kernel; a call ``(grid, block, args)`` runs the CPU mirror registered for its name."""

    def __init__(self, code, name, options=(), **kwargs):
        self.code, self.name, self.options = code, name, options

    def __call__(self, grid, block, args, **kwargs):
        return _run_mirror(self.name, tuple(args), {})


def _run_mirror(name, args, kwargs):
    from deepgrad import backend  # noqa: PLC0415 - the registry of deepgrad's device kernels

    kernel_calls[name] += 1
    kernel = backend.device_kernels()[name]
    for a in args:
        if type(a) is np.ndarray:
            raise TypeError(f"kernel {name} got a host array of shape {a.shape}")
    return _wrap(kernel.cpu(*_unwrap(args), **kwargs))


class _Runtime:
    @staticmethod
    def getDeviceCount():
        return 1


_MODULE = types.ModuleType("fake_cupy_module")


def _module_getattr(attr):
    value = getattr(np, attr)
    if isinstance(value, type) or not callable(value):
        return value
    return _Function(value, attr)


_MODULE.__getattr__ = _module_getattr
_MODULE.__dict__.update(
    ndarray=ndarray, asarray=asarray, array=array, ascontiguousarray=ascontiguousarray, asnumpy=asnumpy,
    get_array_module=get_array_module, ElementwiseKernel=ElementwiseKernel, RawKernel=RawKernel,
    random=_proxy(np.random, "cupy.random"), linalg=_proxy(np.linalg, "cupy.linalg"),
    lib=types.SimpleNamespace(stride_tricks=_proxy(np.lib.stride_tricks, "cupy.lib.stride_tricks")),
    cuda=types.SimpleNamespace(runtime=_Runtime, Device=Device),
    __name__="cupy")
_MODULE.random.seed = lambda seed=None: None  # CuPy's own generator: not used by deepgrad's draws
module = _MODULE


def _refuse_device(function, name):
    def checked(a, *args, **kwargs):
        if isinstance(a, ndarray):
            transfers["implicit"] += 1
            raise TypeError(f"numpy.{name} of a device array: Implicit conversion to a NumPy array is not "
                            "allowed; use backend.to_numpy.")
        return function(a, *args, **kwargs)

    return checked


def reset_counts():
    transfers.clear()
    numpy_calls.clear()
    kernel_calls.clear()


@contextlib.contextmanager
def installed(monkeypatch=None):
    """Within the block deepgrad sees this module as CuPy (and NumPy refuses implicit conversions)."""
    from deepgrad import backend  # noqa: PLC0415

    saved, saved_device = backend._CUPY, backend.get_default_device()
    patches = {"asarray": _np_asarray, "array": _np_array, "ascontiguousarray": _np_ascontiguousarray}
    current = {name: getattr(np, name) for name in patches}  # restored as found: blocks may nest
    backend._CUPY = _MODULE
    backend._DEFAULT_DEVICE = "cpu"  # the block chooses its device
    for name, function in patches.items():
        setattr(np, name, _refuse_device(function, name))
    reset_counts()
    try:
        yield _MODULE
    finally:
        for name, function in current.items():
            setattr(np, name, function)
        backend._DEFAULT_DEVICE = saved_device if saved is _MODULE else "cpu"
        backend._CUPY = saved
