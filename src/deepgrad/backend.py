"""Array backends and random numbers.

A tensor's data is a NumPy array on the CPU (device ``'cpu'``) or a CuPy array on
a CUDA GPU (device ``'cuda'``). Engine code never names ``numpy`` when it works on
tensor data: it asks :func:`namespace` for the module that owns the array, so one
code path serves both backends (the Chainer approach).

Random numbers all come from one seeded source: :func:`manual_seed` resets it,
and every layer, initializer or dropout mask draws its own generator from it with
:func:`new_generator`, so that two runs after the same ``manual_seed`` repeat
exactly.
"""

from __future__ import annotations

import contextlib
import itertools
import os

import numpy as np

_CUPY = None  # the cupy module once imported; False when the import failed
_DEFAULT_DEVICE = "cpu"
_DEVICES = ("cpu", "cuda")


def _cupy():
    """Return the cupy module, or None when it cannot be imported (imported lazily: it is slow)."""
    global _CUPY
    if _CUPY is None:
        try:
            import cupy  # noqa: PLC0415

            _CUPY = cupy
        except Exception:  # ImportError, or a CUDA runtime error at import time
            _CUPY = False
    return _CUPY or None


def cuda_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    cupy = _cupy()
    if cupy is None:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def _require_cupy():
    cupy = _cupy()
    if cupy is None:
        raise RuntimeError(
            "device 'cuda' needs CuPy, which is not installed or cannot find CUDA. "
            "Install it with `pip install 'deepgrad[gpu]'` (or a CUDA-specific wheel such as "
            "`pip install cupy-cuda12x`), or use device='cpu'."
        )
    return cupy


def namespace(array):
    """Return the array module (``numpy`` or ``cupy``) that owns ``array``."""
    if type(array) is np.ndarray or _CUPY is None or _CUPY is False:
        return np
    return _CUPY.get_array_module(array)


def is_host_array(value) -> bool:
    """True for a NumPy array (a host array), False for a device array or anything else.

    ``isinstance(value, numpy.ndarray)`` is not the test: a device stand-in may subclass it.
    """
    return type(value) is np.ndarray or (isinstance(value, np.ndarray) and namespace(value) is np)


def parse_device(device) -> str:
    """Normalise a device name: ``'cpu'``, ``'cuda'``, ``'cuda:0'`` or ``'gpu'`` -> ``'cpu'``/``'cuda'``."""
    if device is None:
        return _DEFAULT_DEVICE
    name = str(device).lower()
    if name in ("gpu",) or name.startswith("cuda"):
        return "cuda"
    if name == "cpu":
        return "cpu"
    raise ValueError(f"unknown device {device!r}; expected one of {list(_DEVICES)} (or 'cuda:N').")


def device_of(array) -> str:
    """The device name of an array: ``'cpu'`` for NumPy, ``'cuda'`` for CuPy."""
    return "cpu" if namespace(array) is np else "cuda"


def to_device(array, device):
    """Move (or convert) ``array`` to ``device``; returns the same array when it is already there."""
    device = parse_device(device)
    if device == "cpu":
        if type(array) is np.ndarray:
            return array
        if namespace(array) is not np:
            return _CUPY.asnumpy(array)
        return np.asarray(array)
    cupy = _require_cupy()
    return cupy.asarray(array)


def set_default_device(device) -> None:
    """Set the device new tensors are created on when no ``device=`` is given."""
    global _DEFAULT_DEVICE
    device = parse_device(device)
    if device == "cuda":
        _require_cupy()
    _DEFAULT_DEVICE = device


def get_default_device() -> str:
    """The device new tensors are created on when no ``device=`` is given."""
    return _DEFAULT_DEVICE


def xp_for(device):
    """The array module for a device name."""
    return np if parse_device(device) == "cpu" else _require_cupy()


def to_numpy(array) -> np.ndarray:
    """A NumPy array with the same values (copied from the GPU when needed)."""
    return to_device(array, "cpu")


# --------------------------------------------------------------------------- device kernels

_DEVICE_KERNELS: dict = {}


class DeviceKernel:
    """A CUDA elementwise kernel written beside the CPU form it mirrors (CuPy's ``ElementwiseKernel``).

    ``in_params``/``out_params``/``operation`` are CuPy's: C declarations such as ``"T g, T alpha"``
    and a CUDA body run once per element ``i`` (``raw`` parameters are indexed by hand). ``cpu`` is
    the NumPy mirror of ``operation``: it takes the same arguments in the same order (inputs, then
    outputs, written in place) and is what tests check the kernel's equations and call sites against
    on machines without a GPU. The kernel compiles on its first launch on a device (CuPy caches the
    binary on disk) and runs as one launch; calling it on NumPy arrays runs ``cpu``.
    """

    def __init__(self, name, in_params, out_params, operation, cpu, preamble=""):
        if name in _DEVICE_KERNELS:
            raise ValueError(f"a device kernel named {name!r} exists already.")
        self.name, self.in_params, self.out_params = name, in_params, out_params
        self.operation, self.cpu, self.preamble = operation, cpu, preamble
        self._compiled = {}
        _DEVICE_KERNELS[name] = self

    @staticmethod
    def _names(params):
        return [p.split()[-1] for p in params.split(",") if p.strip()]

    @property
    def inputs(self) -> list:
        """The names of the input parameters, in call order."""
        return self._names(self.in_params)

    @property
    def outputs(self) -> list:
        """The names of the output parameters (after the inputs in a call)."""
        return self._names(self.out_params)

    def __call__(self, *args):
        expected = len(self.inputs) + len(self.outputs)
        if len(args) != expected:
            raise TypeError(f"kernel {self.name} takes {expected} arguments ({', '.join(self.inputs + self.outputs)}), "
                            f"got {len(args)}.")
        xp = next((namespace(a) for a in args if hasattr(a, "dtype") and hasattr(a, "shape")), np)
        if xp is np:
            return self.cpu(*args)
        kernel = self._compiled.get(xp)
        if kernel is None:
            kernel = xp.ElementwiseKernel(self.in_params, self.out_params, self.operation, self.name,
                                          preamble=self.preamble)
            self._compiled[xp] = kernel
        return kernel(*args)


def device_kernels() -> dict:
    """Every :class:`DeviceKernel` defined so far, by name."""
    return dict(_DEVICE_KERNELS)


def fused_enabled() -> bool:
    """False when the environment variable ``DEEPGRAD_FUSED`` is '0' (every fused kernel off, both devices)."""
    return os.environ.get("DEEPGRAD_FUSED", "1") != "0"


# --------------------------------------------------------------------------- random numbers

_SEED_SEQUENCE = np.random.SeedSequence()
_GLOBAL_RNG = np.random.default_rng(_SEED_SEQUENCE.spawn(1)[0])
# Each manual_seed gets a larger token; a SeedGenerator drawn under an older token redraws its
# stream at its next use. ``seeded`` restores the previous token, which is smaller, so a
# generator drawn inside that block keeps its stream after it.
_SEED_TOKENS = itertools.count(1)
_SEED_EPOCH = 0


def manual_seed(seed: int) -> None:
    """Seed every random source deepgrad uses (initializers, dropout, shuffling, CuPy's generator).

    After ``manual_seed(n)`` the same program draws the same numbers, on either backend.
    """
    global _SEED_SEQUENCE, _GLOBAL_RNG, _SEED_EPOCH
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"manual_seed expects a non-negative integer, got {seed!r}.")
    _SEED_SEQUENCE = np.random.SeedSequence(int(seed))
    _GLOBAL_RNG = np.random.default_rng(_SEED_SEQUENCE.spawn(1)[0])
    _SEED_EPOCH = next(_SEED_TOKENS)
    cupy = _cupy() if _CUPY is not None else None
    if cupy is not None:
        try:
            cupy.random.seed(int(seed))
        except Exception:  # no usable GPU: nothing to seed
            pass


@contextlib.contextmanager
def seeded(seed):
    """Within the block, deepgrad's random numbers come from ``seed``; the previous state returns after it.

    ``seed=None`` leaves the global state untouched. Used where a component has its own
    ``random_state`` (scikit-learn estimators, tuner trials) and must not disturb the caller's stream.
    """
    global _SEED_SEQUENCE, _GLOBAL_RNG, _SEED_EPOCH
    if seed is None:
        yield
        return
    saved = _SEED_SEQUENCE, _GLOBAL_RNG, _SEED_EPOCH
    manual_seed(seed)
    try:
        yield
    finally:
        _SEED_SEQUENCE, _GLOBAL_RNG, _SEED_EPOCH = saved


def global_generator() -> np.random.Generator:
    """The library-wide generator (reset by :func:`manual_seed`)."""
    return _GLOBAL_RNG


def new_generator(seed=None) -> np.random.Generator:
    """A fresh generator: from ``seed`` when given, else the next independent stream of the global seed."""
    if seed is not None:
        return np.random.default_rng(seed)
    return np.random.default_rng(_SEED_SEQUENCE.spawn(1)[0])


def generator_state(generator: np.random.Generator) -> dict:
    """The state of ``generator`` as plain JSON values (its bit generator's ``state`` dict)."""
    return generator.bit_generator.state


def set_generator_state(generator: np.random.Generator, state) -> None:
    """Put ``generator`` back into a state returned by :func:`generator_state`.

    Raises ``ValueError`` when ``state`` is not a state of the same bit generator.
    """
    expected = type(generator.bit_generator).__name__
    if not isinstance(state, dict) or state.get("bit_generator") != expected:
        raise ValueError(f"not a saved {expected} generator state: {str(state)[:80]!r}.")
    try:
        generator.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(f"invalid saved {expected} generator state ({err}).") from None


class SeedGenerator:
    """The random stream of one layer (Keras 3's ``keras.random.SeedGenerator``).

    With a ``seed`` the stream is fixed by it. Without one it is drawn from the global seed,
    and drawn again at its first use after each :func:`manual_seed`: so a model built
    before ``manual_seed(n)`` also repeats its dropout masks run after run.
    ``get_state``/``set_state`` save and restore the position in the stream (used to resume
    an interrupted training run exactly).
    """

    def __init__(self, seed=None):
        self.seed = seed
        self._generator = new_generator(seed)
        self._epoch = _SEED_EPOCH

    @property
    def generator(self) -> np.random.Generator:
        """The NumPy generator to draw from."""
        if self.seed is None and self._epoch < _SEED_EPOCH:
            self._generator = new_generator()
            self._epoch = _SEED_EPOCH
        return self._generator

    def get_state(self) -> dict:
        """The stream's position, as plain JSON values."""
        return generator_state(self.generator)

    def set_state(self, state) -> None:
        """Continue the stream from a position returned by :meth:`get_state`."""
        set_generator_state(self.generator, state)


# --------------------------------------------------------------------------- naming

_NAME_COUNTS: dict = {}


def unique_name(base: str) -> str:
    """Keras-style automatic names: ``dense``, then ``dense_1``, ``dense_2``, ... in this process."""
    count = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def clear_session() -> None:
    """Forget the automatic layer/model names handed out so far (names restart at ``dense``)."""
    _NAME_COUNTS.clear()
