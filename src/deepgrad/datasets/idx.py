"""The IDX file format of MNIST and Fashion-MNIST, read with NumPy (gzip-compressed or raw).

Layout (all integers big-endian)::

    bytes 0-1   0x00 0x00
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    then        d uint32 sizes, then the elements in C order

Labels files are 1-D (``idx1``), image files 3-D (``idx3``: count, rows, columns).
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

_ELEMENT_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path) -> np.ndarray:
    """The array stored in the IDX file ``path`` (gzip-compressed files are detected by their magic bytes).

    Returns an array of the file's shape and element type, in native byte order.
    Raises ``ValueError`` naming the problem for a file that is not IDX, declares an
    unknown element type, or is truncated.
    """
    path = os.fspath(path)
    with open(path, "rb") as stream:
        raw = stream.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({err}).") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise ValueError(f"{path} is not an IDX file (its first two bytes must be zero).")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _ELEMENT_TYPES:
        raise ValueError(f"{path}: unknown IDX element type 0x{type_code:02X}; valid ones: "
                         + ", ".join(f"0x{code:02X} ({np.dtype(t).name})" for code, t in _ELEMENT_TYPES.items()) + ".")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({ndim} dimensions declared, file has {len(raw)} bytes).")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_ELEMENT_TYPES[type_code])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: IDX shape {shape} of {dtype.name} needs {expected} bytes, the data has {len(raw)} "
                         f"({'truncated' if len(raw) < expected else 'trailing bytes'}).")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
