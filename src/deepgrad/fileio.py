"""File utilities shared by model files, backups and tuner state: atomic writes and array archives.

This module sits on the ground floor (it imports only NumPy and the backend), so that
``models/saving.py``, ``callbacks.BackupAndRestore`` and the tuner can all use it without
importing one another.

An *archive* is a zip holding ``config.json`` (a JSON object carrying the format marker)
and one ``.npy`` member per array, written with ``allow_pickle=False``. A nested state
(dicts, lists, numbers, arrays) is stored by :func:`flatten_state`, which replaces each
array by ``{"__array__": member, "shape": [...], "dtype": "..."}``; :func:`restore_state`
reads it back with every member checked against its declared shape and dtype.

Everything read from a file is hostile until checked: :class:`Archive` turns every failure
of the zip and JSON layers into :class:`ModelFileError`, and :func:`check_schema` checks a
parsed config against a small schema of types and ranges before any of it is used.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import json
import math
import os
import re
import secrets
import stat
import struct
import zipfile
import zlib

import numpy as np

from . import backend

FORMAT = "deepgrad"
FORMAT_VERSION = 1
# refuse archives that claim more than this per member or in all (protects against zip bombs)
MAX_MEMBER_BYTES = 4 << 30
MAX_CONFIG_BYTES = 64 << 20
MAX_MEMBERS = 200_000
# nesting of config.json: a deep model nests about 4 levels per sub-model, so 100 allows ~20
# nested models, and every recursive reader below stays far from Python's recursion limit
MAX_JSON_DEPTH = 100
# the array dtypes a file may declare (plain numeric names: no subarray or structured dtypes)
DTYPES = frozenset(["bool", "float16", "float32", "float64", "int8", "int16", "int32", "int64",
                    "uint8", "uint16", "uint32", "uint64"])
# what zipfile, zlib and the JSON decoder raise on corrupt input (CRC and flag errors, bad
# compression methods, "is encrypted", truncated streams, undecodable text)
_CORRUPT = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, KeyError, ValueError, zlib.error,
            NotImplementedError, RuntimeError, struct.error, OverflowError, IndexError, RecursionError)


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
    the temporary file. The save keeps the file's nature:

    * the new file gets the old file's permission bits (a new file: ``0o666`` less the umask);
    * a symbolic link stays a link: its target is replaced, in the target's folder;
    * a read-only file is refused with :class:`PermissionError` (by its mode bits, so
      also when running as root, which may write anything);
    * temporaries of the same file left by a killed save are removed (they are named
      ``.<name>.deepgrad-<pid>-<random>.tmp``; only those of processes no longer running).
    """
    filepath = os.fspath(filepath)
    target = os.path.realpath(filepath) if os.path.islink(filepath) else os.path.abspath(filepath)
    if not overwrite and os.path.lexists(filepath):
        raise FileExistsError(f"{filepath} exists; pass overwrite=True to replace it.")
    permissions = _permissions_for(target, filepath)
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    _remove_stale_temporaries(target)
    temporary = os.path.join(folder, f"{_temporary_prefix(target)}{os.getpid()}-{secrets.token_hex(6)}.tmp")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    _active_temporaries.add(temporary)
    try:
        with os.fdopen(handle, mode, encoding=None if "b" in mode else "utf-8") as stream:
            yield stream
            stream.flush()
            os.fchmod(stream.fileno(), permissions)
            os.fsync(stream.fileno())
        os.replace(temporary, target)
        _sync_folder(folder)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    finally:
        _active_temporaries.discard(temporary)


_active_temporaries = set()  # this process's saves in progress: never stale


def _permissions_for(target, filepath) -> int:
    """The permission bits the saved file gets; refuses a read-only file."""
    try:
        status = os.stat(target)
    except FileNotFoundError:
        umask = os.umask(0)  # the only portable way to read the umask is to set it
        os.umask(umask)
        return 0o666 & ~umask
    if not stat.S_ISREG(status.st_mode):
        raise IsADirectoryError(f"{filepath} is not a regular file; give a file name to save to.")
    if not status.st_mode & 0o222 or not os.access(target, os.W_OK):
        raise PermissionError(
            f"{filepath} is read-only (mode {stat.filemode(status.st_mode)}); make it writable "
            f"(chmod u+w) or save under another name."
        )
    return stat.S_IMODE(status.st_mode)


def _temporary_prefix(target) -> str:
    # names stay under the 255-byte limit however long the target's name is
    return f".{os.path.basename(target)[:150]}.deepgrad-"


def _remove_stale_temporaries(target) -> None:
    """Remove temporaries of ``target`` whose saving process is gone (a save killed mid-write)."""
    folder, prefix = os.path.dirname(target), _temporary_prefix(target)
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        pid = name[len(prefix):].split("-", 1)[0]
        if path in _active_temporaries or not pid.isdigit() or _process_running(int(pid)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(path)


def _process_running(pid) -> bool:
    if pid == os.getpid():
        return False  # our own saves in progress are in _active_temporaries
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process, or cannot tell: keep its file
    return True


def _sync_folder(folder) -> None:
    """Make the rename durable (the folder entry), where the platform allows opening folders."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


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
        except _CORRUPT as err:
            raise ModelFileError(f"{self.path} is not a deepgrad model file (not a readable zip: {err}).") from None
        try:
            self._check_members()
            self.config = self._read_config()
        except BaseException:
            self.zip.close()
            raise

    def _check_members(self):
        infos = self.zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ModelFileError(f"{self.path} has {len(infos)} members, more than any model file ({MAX_MEMBERS}).")
        self.infos = {}
        for info in infos:
            name = info.filename
            if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name:
                raise ModelFileError(f"{self.path} contains a suspicious member name {name!r}; refusing to load it.")
            if name in self.infos:  # zipfile would silently read the last copy
                raise ModelFileError(f"{self.path} holds member {name!r} twice; the file is corrupt or forged.")
            if info.file_size > MAX_MEMBER_BYTES:
                raise ModelFileError(f"{self.path}: member {name!r} declares {info.file_size} bytes, over the limit.")
            self.infos[name] = info

    def json_member(self, name):
        """The JSON value in member ``name``, its size and nesting checked before it is parsed."""
        if name not in self.infos:
            raise ModelFileError(f"{self.path} is not a deepgrad model file (no {name} inside).")
        if self.infos[name].file_size > MAX_CONFIG_BYTES:
            raise ModelFileError(f"{self.path}: {name} is implausibly large.")
        try:
            text = self._read(name).decode("utf-8")
        except UnicodeDecodeError as err:
            raise ModelFileError(f"{self.path}: {name} is not valid JSON ({err}).") from None
        if json_depth(text) > MAX_JSON_DEPTH:
            raise ModelFileError(f"{self.path}: {name} is nested more than {MAX_JSON_DEPTH} levels deep.")
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as err:
            raise ModelFileError(f"{self.path}: {name} is not valid JSON ({err}).") from None

    def _read_config(self):
        config = self.json_member("config.json")
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise ModelFileError(f"{self.path} is not a deepgrad model file (wrong format marker).")
        if config.get("format_version") != FORMAT_VERSION:
            raise ModelFileError(
                f"{self.path} has format version {config.get('format_version')!r:.40}; this deepgrad reads "
                f"version {FORMAT_VERSION}."
            )
        return config

    def _read(self, name):
        try:
            return self.zip.read(name)
        except _CORRUPT as err:
            raise ModelFileError(f"{self.path}: cannot read {name!r} (truncated or corrupt file: {err}).") from None

    def check_member(self, member, shape, dtype) -> int:
        """Check that ``member`` exists and its size fits ``shape`` and ``dtype``; return its element count.

        Sizes come from the zip directory, so this reads no data: a file whose weight table
        declares arrays that its members cannot hold is refused before anything is built.
        """
        if not isinstance(member, str) or member not in self.infos:
            raise ModelFileError(f"{self.path}: missing array member {member!r:.100}.")
        check_schema(shape, SHAPE, f"{self.path}: member {member!r}", root="shape")
        check_schema(dtype, DTYPE, f"{self.path}: member {member!r}", root="dtype")
        elements = math.prod(shape)
        expected = elements * np.dtype(dtype).itemsize
        size = self.infos[member].file_size
        if size > expected + 4096:
            raise ModelFileError(f"{self.path}: member {member!r} is larger than its declared shape {tuple(shape)}.")
        if size < expected:
            raise ModelFileError(
                f"{self.path}: member {member!r} holds {size} bytes, too few for its declared {dtype}{tuple(shape)} "
                f"({expected} bytes); the file is truncated or forged."
            )
        return elements

    def array(self, member, shape, dtype):
        """The array stored in ``member``, checked to have ``shape`` and ``dtype``."""
        self.check_member(member, shape, dtype)
        dtype = np.dtype(dtype)
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
        except _CORRUPT + (TypeError,) as err:
            raise ModelFileError(f"{self.path}: member {member!r} is not a valid array ({err}).") from None

    def close(self):
        self.zip.close()


def restore_state(value, archive):
    """The inverse of :func:`flatten_state`: references replaced by the checked arrays of ``archive``."""
    if isinstance(value, dict):
        if "__array__" in value:
            return archive.array(value["__array__"], value.get("shape"), value.get("dtype"))
        return {k: restore_state(v, archive) for k, v in value.items()}
    if isinstance(value, list):
        return [restore_state(v, archive) for v in value]
    return value


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


def json_depth(text) -> int:
    """How deeply the JSON ``text`` nests lists and objects, found without parsing it.

    Strings are cut out (they may hold brackets), then the depth is the running sum of
    opening (+1) and closing (-1) brackets, computed by NumPy: a few milliseconds per
    megabyte, and safe at any depth, where the JSON parser would exhaust the stack.
    """
    skeleton = np.frombuffer(_JSON_STRING.sub("", text).encode(), np.uint8)
    steps = np.isin(skeleton, (ord("["), ord("{"))).astype(np.int64) - np.isin(skeleton, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


# --------------------------------------------------------------------------- checking the weights a file may build

_weight_allowance = contextvars.ContextVar("weight_allowance", default=None)


@contextlib.contextmanager
def weight_allowance(elements, path):
    """Within the block, layers may create at most ``elements`` weight values in all.

    A loader knows from the file's weight table (checked against the members' real sizes)
    how many values the model it rebuilds will hold; a forged config declaring layers far
    larger is then refused when the first oversized weight is requested, before allocating.
    """
    token = _weight_allowance.set([int(elements), os.fspath(path)])
    try:
        yield
    finally:
        _weight_allowance.reset(token)


def reserve_weight(shape, name=None) -> None:
    """Called by ``Layer.add_weight`` before it allocates: refuse weights beyond a loader's allowance."""
    allowance = _weight_allowance.get()
    if allowance is None:
        return
    elements = math.prod(int(s) for s in shape)
    if elements > allowance[0]:
        raise ModelFileError(
            f"{allowance[1]}: the model config asks for a weight {name!r} of shape {tuple(shape)}, more values "
            "than the file's weight arrays hold; the config is corrupt or forged."
        )
    allowance[0] -= elements


# --------------------------------------------------------------------------- schemas
# A schema is a small object whose check(value, path) raises SchemaError naming the path
# (``config.weights[3].shape``), what was expected and what was found.


class SchemaError(ValueError):
    """A parsed config does not match its schema."""


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Int:
    """An integer (not a bool) in ``[low, high]``."""

    def __init__(self, low=None, high=None):
        self.low, self.high = low, high

    def check(self, value, path):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(f"{path} must be an integer, got {_shown(value)}")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise SchemaError(f"{path} must be in [{self.low}, {self.high}], got {_shown(value)}")


class Number:
    """A number (int or float, not bool) in ``[low, high]``; finite unless ``finite=False`` (NaN is then allowed)."""

    def __init__(self, low=None, high=None, finite=True):
        self.low, self.high, self.finite = low, high, finite

    def check(self, value, path):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SchemaError(f"{path} must be a number, got {_shown(value)}")
        if self.finite and not math.isfinite(value):
            raise SchemaError(f"{path} must be a finite number, got {_shown(value)}")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise SchemaError(f"{path} must be in [{self.low}, {self.high}], got {_shown(value)}")


class Str:
    """A string, optionally one of ``choices`` or matching the regular expression ``pattern`` in full."""

    def __init__(self, choices=None, max_length=10_000, pattern=None):
        self.choices, self.max_length = choices, max_length
        self.pattern = None if pattern is None else re.compile(pattern)

    def check(self, value, path):
        if not isinstance(value, str) or len(value) > self.max_length:
            raise SchemaError(f"{path} must be a string of at most {self.max_length} characters, got {_shown(value)}")
        if self.choices is not None and value not in self.choices:
            raise SchemaError(f"{path} must be one of {sorted(self.choices)}, got {_shown(value)}")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise SchemaError(f"{path} must match {self.pattern.pattern}, got {_shown(value)}")


class Bool:
    """``true`` or ``false``."""

    def check(self, value, path):
        if not isinstance(value, bool):
            raise SchemaError(f"{path} must be true or false, got {_shown(value)}")


class Anything:
    """Any JSON value (its depth is bounded when the file is read)."""

    def check(self, value, path):
        pass


class Nullable:
    """``schema`` or null."""

    def __init__(self, schema):
        self.schema = schema

    def check(self, value, path):
        if value is not None:
            self.schema.check(value, path)


class AnyOf:
    """A value matching at least one of ``schemas`` (tried in order)."""

    def __init__(self, *schemas, description):
        self.schemas, self.description = schemas, description

    def check(self, value, path):
        for schema in self.schemas:
            try:
                schema.check(value, path)
                return
            except SchemaError:
                continue
        raise SchemaError(f"{path} must be {self.description}, got {_shown(value)}")


class ListOf:
    """A list of ``min_length`` to ``max_length`` items, each matching ``item``."""

    def __init__(self, item, min_length=0, max_length=1_000_000):
        self.item, self.min_length, self.max_length = item, min_length, max_length

    def check(self, value, path):
        if not isinstance(value, list):
            raise SchemaError(f"{path} must be a list, got {_shown(value)}")
        if not self.min_length <= len(value) <= self.max_length:
            raise SchemaError(f"{path} must hold {self.min_length} to {self.max_length} items, got {len(value)}")
        for i, item in enumerate(value):
            self.item.check(item, f"{path}[{i}]")


class Tuple:
    """A list of fixed length whose items match ``items`` one by one."""

    def __init__(self, *items):
        self.items = items

    def check(self, value, path):
        if not isinstance(value, list) or len(value) != len(self.items):
            raise SchemaError(f"{path} must be a list of {len(self.items)} items, got {_shown(value)}")
        for i, (item, schema) in enumerate(zip(value, self.items)):
            schema.check(item, f"{path}[{i}]")


class MapOf:
    """An object with string keys whose values all match ``value``."""

    def __init__(self, value, max_length=1_000_000):
        self.value, self.max_length = value, max_length

    def check(self, value, path):
        if not isinstance(value, dict) or len(value) > self.max_length:
            raise SchemaError(f"{path} must be an object of at most {self.max_length} entries, got {_shown(value)}")
        for key, item in value.items():
            self.value.check(item, f"{path}.{key}")


class Record:
    """An object with the ``required`` keys and possibly the ``optional`` ones (other keys are ignored)."""

    def __init__(self, required=None, optional=None):
        self.required, self.optional = dict(required or {}), dict(optional or {})

    def check(self, value, path):
        if not isinstance(value, dict):
            raise SchemaError(f"{path} must be an object, got {_shown(value)}")
        for key, schema in self.required.items():
            if key not in value:
                raise SchemaError(f"{path} lacks the required key {key!r}")
            schema.check(value[key], f"{path}.{key}")
        for key, schema in self.optional.items():
            if key in value:
                schema.check(value[key], f"{path}.{key}")


def check_schema(value, schema, where, root="config") -> None:
    """Raise :class:`ModelFileError` ``"<where>: <root.path> must be ..., got ..."`` unless ``value`` fits."""
    try:
        schema.check(value, root)
    except SchemaError as err:
        raise ModelFileError(f"{where}: {err}.") from None


def read_json(filepath, schema=None):
    """The JSON value in ``filepath`` (a state file), checked against ``schema``.

    A missing file raises FileNotFoundError; an unreadable, non-UTF-8, invalid, too deeply
    nested or schema-violating one raises :class:`ModelFileError` naming the file.
    """
    filepath = os.fspath(filepath)
    try:
        with open(filepath, "rb") as stream:
            text = stream.read(MAX_CONFIG_BYTES + 1)
        if len(text) > MAX_CONFIG_BYTES:
            raise ModelFileError(f"{filepath} is implausibly large for a state file.")
        text = text.decode("utf-8")
        if json_depth(text) > MAX_JSON_DEPTH:
            raise ModelFileError(f"{filepath} is nested more than {MAX_JSON_DEPTH} levels deep.")
        value = json.loads(text)
    except (FileNotFoundError, ModelFileError):
        raise
    except (OSError, ValueError, RecursionError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ModelFileError(f"{filepath} is corrupt or not a state file ({err}).") from None
    if schema is not None:
        check_schema(value, schema, filepath, root=os.path.basename(filepath))
    return value


# the sizes a file may declare: dimensions up to 2**31, arrays within the member limit
DIMENSION = Int(0, 1 << 31)
SHAPE = ListOf(DIMENSION, max_length=32)
DTYPE = Str(DTYPES)
ARRAY_REFERENCE = Record({"__array__": Str(max_length=1000), "shape": SHAPE, "dtype": DTYPE})
