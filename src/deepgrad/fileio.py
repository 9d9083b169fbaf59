"""File utilities shared by model files, backups and tuner state: atomic writes and array archives.

This module sits on the ground floor (it imports only NumPy and the backend), so that
``models/saving.py``, ``callbacks.BackupAndRestore`` and the tuner can all use it without
importing one another.

An *archive* is a zip holding ``config.json`` (a JSON object carrying the format marker)
and one ``.npy`` member per array, written with ``allow_pickle=False``. A nested state
(dicts, lists, numbers, arrays) is stored by :func:`flatten_state`, which replaces each
array by ``{"__array__": member, "shape": [...], "dtype": "..."}``; :func:`restore_state`
reads it back with every member checked against its declared shape and dtype.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import zipfile

import numpy as np

from . import backend

FORMAT = "deepgrad"
FORMAT_VERSION = 1
# refuse archives that claim more than this per member or in all (protects against zip bombs)
MAX_MEMBER_BYTES = 4 << 30
MAX_CONFIG_BYTES = 64 << 20


class ModelFileError(ValueError):
    """A model, weights or state file is missing, truncated, corrupt, or not a deepgrad file."""


# --------------------------------------------------------------------------- writing


def npy_bytes(array) -> bytes:
    """``array`` (NumPy or CuPy) in the ``.npy`` format, without pickle."""
    stream = io.BytesIO()
    np.save(stream, np.ascontiguousarray(backend.to_numpy(array)), allow_pickle=False)
    return stream.getvalue()


@contextlib.contextmanager
def atomic_write(filepath, mode="wb", overwrite=True):
    """Open a temporary file beside ``filepath``; on success it is synced and renamed over ``filepath``.

    Readers see the old file or the complete new one, never a half-written file: a
    crash or an exception inside the block leaves ``filepath`` untouched and removes
    the temporary file.
    """
    filepath = os.fspath(filepath)
    if os.path.exists(filepath) and not overwrite:
        raise FileExistsError(f"{filepath} exists; pass overwrite=True to replace it.")
    folder = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".deepgrad-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, mode) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, filepath)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def flatten_state(value, arrays, prefix):
    """``value`` with each array replaced by a reference to a new member ``prefix/<i>.npy`` of ``arrays``."""
    if isinstance(value, dict):
        return {str(k): flatten_state(v, arrays, prefix) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [flatten_state(v, arrays, prefix) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        member = f"{prefix}/{len(arrays)}.npy"
        arrays[member] = value
        return {"__array__": member, "shape": list(value.shape), "dtype": str(value.dtype)}
    return value


def write_archive(filepath, config: dict, arrays: dict, overwrite=True):
    """Write ``config`` (with the format marker added) and ``arrays`` ({member: array}) atomically."""
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, **config}
    with atomic_write(filepath, "wb", overwrite) as stream:
        with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            archive.writestr("config.json", json.dumps(config, indent=1).encode())
            for member, array in arrays.items():
                archive.writestr(member, npy_bytes(array))


# --------------------------------------------------------------------------- reading


class Archive:
    """Read-only access to an archive (model, weights or state file), with every member checked before use."""

    def __init__(self, filepath):
        self.path = os.fspath(filepath)
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"no such model file: {self.path}")
        try:
            self.zip = zipfile.ZipFile(self.path, "r")
        except (zipfile.BadZipFile, OSError) as err:
            raise ModelFileError(f"{self.path} is not a deepgrad model file (not a readable zip: {err}).") from None
        self.infos = {}
        for info in self.zip.infolist():
            name = info.filename
            if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name:
                raise ModelFileError(f"{self.path} contains a suspicious member name {name!r}; refusing to load it.")
            if info.file_size > MAX_MEMBER_BYTES:
                raise ModelFileError(f"{self.path}: member {name!r} declares {info.file_size} bytes, over the limit.")
            self.infos[name] = info
        if "config.json" not in self.infos:
            raise ModelFileError(f"{self.path} is not a deepgrad model file (no config.json inside).")
        if self.infos["config.json"].file_size > MAX_CONFIG_BYTES:
            raise ModelFileError(f"{self.path}: config.json is implausibly large.")
        try:
            self.config = json.loads(self._read("config.json").decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise ModelFileError(f"{self.path}: config.json is not valid JSON ({err}).") from None
        if not isinstance(self.config, dict) or self.config.get("format") != FORMAT:
            raise ModelFileError(f"{self.path} is not a deepgrad model file (wrong format marker).")
        if self.config.get("format_version") != FORMAT_VERSION:
            raise ModelFileError(
                f"{self.path} has format version {self.config.get('format_version')!r}; this deepgrad reads "
                f"version {FORMAT_VERSION}."
            )

    def _read(self, name):
        try:
            return self.zip.read(name)
        except (zipfile.BadZipFile, OSError, EOFError, KeyError) as err:
            raise ModelFileError(f"{self.path}: cannot read {name!r} (truncated or corrupt file: {err}).") from None

    def array(self, member, shape, dtype):
        """The array stored in ``member``, checked to have ``shape`` and ``dtype``."""
        if not isinstance(member, str) or member not in self.infos:
            raise ModelFileError(f"{self.path}: missing array member {member!r}.")
        dtype = np.dtype(dtype)
        if dtype.kind not in "fiub":
            raise ModelFileError(f"{self.path}: member {member!r} declares non-numeric dtype {dtype}.")
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if self.infos[member].file_size > expected + 4096:
            raise ModelFileError(f"{self.path}: member {member!r} is larger than its declared shape {tuple(shape)}.")
        stream = io.BytesIO(self._read(member))
        try:
            version = np.lib.format.read_magic(stream)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise ModelFileError(f"{self.path}: member {member!r} uses unsupported .npy version {version}.")
            header_shape, _, file_dtype = read_header(stream)
            if tuple(header_shape) != tuple(shape) or file_dtype != dtype:
                raise ModelFileError(
                    f"{self.path}: member {member!r} holds {file_dtype}{tuple(header_shape)}, but the config "
                    f"declares {dtype}{tuple(shape)}."
                )
            stream.seek(0)
            return np.load(stream, allow_pickle=False)
        except ModelFileError:
            raise
        except (ValueError, OSError, EOFError) as err:
            raise ModelFileError(f"{self.path}: member {member!r} is not a valid array ({err}).") from None

    def close(self):
        self.zip.close()


def restore_state(value, archive):
    """The inverse of :func:`flatten_state`: references replaced by the checked arrays of ``archive``."""
    if isinstance(value, dict):
        if "__array__" in value:
            return archive.array(value["__array__"], value.get("shape", []), value.get("dtype", "float32"))
        return {k: restore_state(v, archive) for k, v in value.items()}
    if isinstance(value, list):
        return [restore_state(v, archive) for v in value]
    return value
