"""A reader of pickled data that runs no code: the plain values and NumPy arrays of a data set file.

Some public data sets (CIFAR-10's python version) are distributed as pickles. ``pickle.load``
on a downloaded file can run any code the file names, so deepgrad never calls it. This
module interprets the pickle opcodes itself (protocols 0-2 binary forms and the
protocol-4 framing-free opcodes that such files use) and builds only: dicts, lists,
tuples, byte and text strings, integers, floats, booleans, None, and NumPy arrays of
numeric dtypes (``numpy.core.multiarray._reconstruct`` + ``BUILD`` with the raw bytes).
The only globals it accepts are those four names (and ``_codecs.encode`` that
Python 3 writes for bytes at protocol 2), each mapped to a fixed safe constructor;
any other opcode or global is an :class:`UnsafePickleError` naming it.
"""

from __future__ import annotations

import re
import struct

import numpy as np


class UnsafePickleError(ValueError):
    """The pickle uses an opcode or names a global that this reader refuses."""


_NUMERIC_DTYPE = re.compile(r"^[<>|=]?[biuf][1248]$|^[<>|=]?f16$|^[<>|=]?[biu]1$|^b1$")


def _text(value):
    """A Python 2 str (read as bytes) as text; other values unchanged."""
    return value.decode("latin1") if isinstance(value, bytes) else value


class _DType:
    """A NumPy dtype being rebuilt: ``numpy.dtype(name, align, copy)`` then ``BUILD`` with its byte order."""

    def __init__(self, name):
        name = _text(name)
        if not isinstance(name, str) or not _NUMERIC_DTYPE.match(name):
            raise UnsafePickleError(f"refusing array dtype {name!r}: only numeric dtypes are read.")
        self.dtype = np.dtype(name)

    def build(self, state):
        order = _text(state[1]) if isinstance(state, tuple) and len(state) > 1 else None
        if order in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(order)
        return self


class _Array:
    """An ndarray being rebuilt: ``_reconstruct(ndarray, (0,), b'b')``, then ``BUILD``.

    The state is (version, shape, dtype, fortran order, raw bytes).
    """

    def build(self, state):
        if not isinstance(state, tuple) or len(state) != 5:
            raise UnsafePickleError(f"unexpected ndarray state of {type(state).__name__}.")
        _, shape, dtype, fortran, raw = state
        if not isinstance(dtype, _DType) or not isinstance(raw, (bytes, bytearray)):
            raise UnsafePickleError("ndarray state without a numeric dtype and raw bytes.")
        shape = tuple(int(s) for s in shape)
        if int(np.prod(shape)) * dtype.dtype.itemsize != len(raw):
            raise UnsafePickleError(f"ndarray of shape {shape} and dtype {dtype.dtype} does not hold "
                                    f"{len(raw)} bytes.")
        return np.frombuffer(bytes(raw), dtype=dtype.dtype).reshape(shape, order="F" if fortran else "C").copy()


_NDARRAY = object()  # the class argument of _reconstruct


def _reconstruct(cls, shape, typecode):
    if cls is not _NDARRAY:
        raise UnsafePickleError("_reconstruct of a class other than numpy.ndarray.")
    return _Array()


def _encode(text, encoding):
    if encoding != "latin1":
        raise UnsafePickleError(f"_codecs.encode with encoding {encoding!r}.")
    return text.encode("latin1")


_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): lambda name, align=False, copy=True: _DType(name),
    ("_codecs", "encode"): _encode,
}
_CALLABLES = {id(v) for v in _GLOBALS.values() if v is not _NDARRAY}


class _Machine:
    """The pickle virtual machine, restricted to the opcodes that build data."""

    def __init__(self, data):
        self.data, self.pos = memoryview(data), 0
        self.stack, self.marks, self.memo = [], [], {}

    def take(self, n):
        if self.pos + n > len(self.data):
            raise UnsafePickleError("truncated pickle.")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def line(self):
        end = bytes(self.data[self.pos:]).find(b"\n")
        if end < 0:
            raise UnsafePickleError("truncated pickle.")
        return bytes(self.take(end + 1)[:-1]).decode("ascii")

    def pop_mark(self):
        mark = self.marks.pop()
        items = self.stack[mark:]
        del self.stack[mark:]
        return items

    def run(self):
        handlers = _HANDLERS
        while True:
            code = self.take(1)[0]
            if code == 0x2E:  # STOP
                return self.stack.pop()
            handler = handlers.get(code)
            if handler is None:
                raise UnsafePickleError(f"refusing pickle opcode {bytes([code])!r} at byte {self.pos - 1}.")
            handler(self)


def _setitems(m):
    items = m.pop_mark()
    target = m.stack[-1]
    for key, value in zip(items[::2], items[1::2]):
        target[key] = value


def _global(m):
    module, name = m.line(), m.line()
    if (module, name) not in _GLOBALS:
        raise UnsafePickleError(f"refusing global {module}.{name}.")
    m.stack.append(_GLOBALS[(module, name)])


def _reduce(m):
    args = m.stack.pop()
    function = m.stack.pop()
    if id(function) not in _CALLABLES or not isinstance(args, tuple):
        raise UnsafePickleError("REDUCE of something other than an allowed constructor.")
    m.stack.append(function(*args))


def _build(m):
    state = m.stack.pop()
    target = m.stack.pop()
    if not isinstance(target, (_Array, _DType)):
        raise UnsafePickleError(f"BUILD of a {type(target).__name__}.")
    m.stack.append(target.build(state))


def _push(value):
    return lambda m: m.stack.append(value() if callable(value) else value)


def _sized(fmt, convert):
    return lambda m: m.stack.append(convert(bytes(m.take(m.unpack(fmt)))))


def _tuple(n):
    def make(m):
        items = m.stack[-n:] if n else []
        del m.stack[len(m.stack) - n:]
        m.stack.append(tuple(items))
    return make


def _put(fmt):
    def put(m):
        m.memo[m.unpack(fmt)] = m.stack[-1]
    return put


def _get(fmt):
    def get(m):
        key = m.unpack(fmt)
        if key not in m.memo:
            raise UnsafePickleError(f"memo key {key} used before it was set.")
        m.stack.append(m.memo[key])
    return get


def _append(m):
    value = m.stack.pop()
    m.stack[-1].append(value)


def _appends(m):
    items = m.pop_mark()  # before looking at the list: it lies under the mark
    m.stack[-1].extend(items)


def _setitem(m):
    value, key = m.stack.pop(), m.stack.pop()
    m.stack[-1][key] = value


def _long1(m):
    m.stack.append(int.from_bytes(bytes(m.take(m.unpack("<B"))), "little", signed=True))


_HANDLERS = {
    0x80: lambda m: m.take(1),                                  # PROTO
    0x95: lambda m: m.take(8),                                  # FRAME (protocol 4)
    ord("("): lambda m: m.marks.append(len(m.stack)),           # MARK
    ord("}"): _push(dict), ord("]"): _push(list), ord(")"): _push(()),
    ord("N"): _push(None), 0x88: _push(True), 0x89: _push(False),
    ord("t"): lambda m: m.stack.append(tuple(m.pop_mark())),
    0x85: _tuple(1), 0x86: _tuple(2), 0x87: _tuple(3),
    ord("l"): lambda m: m.stack.append(m.pop_mark()),           # LIST
    ord("a"): _append, ord("e"): _appends,
    ord("s"): _setitem, ord("u"): _setitems,
    ord("q"): _put("<B"), ord("r"): _put("<I"), 0x94: lambda m: m.memo.__setitem__(len(m.memo), m.stack[-1]),
    ord("h"): _get("<B"), ord("j"): _get("<I"),
    ord("K"): lambda m: m.stack.append(m.unpack("<B")),
    ord("M"): lambda m: m.stack.append(m.unpack("<H")),
    ord("J"): lambda m: m.stack.append(m.unpack("<i")),
    0x8A: _long1,
    ord("G"): lambda m: m.stack.append(m.unpack(">d")),
    ord("U"): _sized("<B", bytes), ord("T"): _sized("<I", bytes),   # Python 2 str: kept as bytes
    ord("C"): _sized("<B", bytes), ord("B"): _sized("<I", bytes),
    ord("X"): _sized("<I", lambda b: b.decode("utf-8")), 0x8C: _sized("<B", lambda b: b.decode("utf-8")),
    ord("c"): _global, ord("R"): _reduce, ord("b"): _build,
}


def read_pickle(data: bytes):
    """The value pickled in ``data``, built without running any code (see the module docstring).

    Python 2 byte strings come back as ``bytes``; arrays as NumPy arrays.
    Raises :class:`UnsafePickleError` on anything else.
    """
    try:
        return _Machine(data).run()
    except (IndexError, KeyError, TypeError, AttributeError, struct.error) as err:
        raise UnsafePickleError(f"malformed pickle ({type(err).__name__}: {err}).") from None


__all__ = ["UnsafePickleError", "read_pickle"]
