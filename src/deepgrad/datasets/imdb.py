"""The Keras IMDB review set: 25,000 + 25,000 film reviews as word-index sequences, positive or negative.

Maas, Daly, Pham, Huang, Ng and Potts, "Learning Word Vectors for Sentiment Analysis",
ACL 2011 (the Large Movie Review Dataset), in the form Keras distributes it:
``imdb.npz`` with ``x_train``/``x_test`` (one list of word ranks per review, 1 = the most
frequent word) and ``y_train``/``y_test`` (0 negative, 1 positive), and
``imdb_word_index.json`` (word -> rank). Both are downloaded from Keras' storage on
first use and cached under ``imdb/``.

``imdb.npz`` stores the ragged reviews as NumPy *object* arrays, whose bytes are a
Python pickle; ``np.load(allow_pickle=False)`` refuses them and deepgrad never
unpickles (that runs code). :func:`read_ragged_npz` reads them instead with a small
interpreter of the pickle opcodes that an object array of integer lists uses (walked
with ``pickletools.genops``, which only parses): no object is ever constructed from a
name in the file, and anything but lists of integers is an error.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile

# genops only lists the opcodes of a pickle stream; nothing here ever unpickles
from pickletools import genops

import numpy as np

from . import download as _download
from .download import DownloadError, cached_file, data_home

__all__ = ["CLASS_NAMES", "get_word_index", "load_data", "read_ragged_npz"]

FOLDER = "imdb"
MIRROR = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
# Keras publishes only an MD5 for the word index
WORD_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"
CLASS_NAMES = ("negative", "positive")

_RECONSTRUCT = {"numpy.core.multiarray _reconstruct", "numpy._core.multiarray _reconstruct"}
_MARK = object()


class _Global:
    """A name referenced by the pickle; never imported or called."""

    def __init__(self, name):
        self.name = name


class _Reduce:
    """``callable(*args)`` as recorded by the pickle (REDUCE), with the state a BUILD gave it."""

    def __init__(self, func, args):
        self.func, self.args, self.state = func, args, None


_ATOMS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False, "EMPTY_LIST": None, "EMPTY_TUPLE": ()}
_VALUES = {"BININT", "BININT1", "BININT2", "INT", "LONG", "LONG1", "LONG4", "SHORT_BINUNICODE", "BINUNICODE",
           "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING", "SHORT_BINBYTES", "BINBYTES",
           "BINBYTES8"}
_SKIPPED = {"PROTO", "FRAME", "STOP"}


def _pop_mark(stack):
    """The items pushed since the last MARK (which is removed)."""
    index = len(stack) - 1 - stack[::-1].index(_MARK)
    items = stack[index + 1:]
    del stack[index:]
    return items


def _structure_op(name, arg, stack, memo):
    """Apply one opcode that builds tuples, lists, calls or memo entries; False if ``name`` is not one."""
    if name in ("TUPLE1", "TUPLE2", "TUPLE3"):
        count = int(name[-1])
        items = tuple(stack[-count:])
        del stack[-count:]
        stack.append(items)
    elif name == "TUPLE":
        stack.append(tuple(_pop_mark(stack)))
    elif name == "LIST":
        stack.append(list(_pop_mark(stack)))
    elif name == "APPEND":
        item = stack.pop()
        stack[-1].append(item)
    elif name == "APPENDS":
        items = _pop_mark(stack)
        stack[-1].extend(items)
    elif name in ("BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE"):
        memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
    elif name in ("BINGET", "LONG_BINGET", "GET"):
        stack.append(memo[arg])
    elif name == "STACK_GLOBAL":
        module, attribute = stack.pop(-2), stack.pop()
        stack.append(_Global(f"{module} {attribute}"))
    elif name == "REDUCE":
        args = stack.pop()
        stack.append(_Reduce(stack.pop(), args))
    elif name == "BUILD":
        state = stack.pop()
        stack[-1].state = state
    else:
        return False
    return True


def _run_opcodes(data: bytes, where):
    """The object tree a pickle describes, with globals and calls left as inert records."""
    stack, memo = [], {}
    for opcode, arg, _ in genops(data):
        name = opcode.name
        if name in _SKIPPED:
            continue
        if name in _VALUES:
            stack.append(arg)
        elif name in _ATOMS:
            stack.append([] if name == "EMPTY_LIST" else _ATOMS[name])
        elif name == "MARK":
            stack.append(_MARK)
        elif name == "GLOBAL":
            stack.append(_Global(arg))
        elif not _structure_op(name, arg, stack, memo):
            raise ValueError(f"{where}: unsupported pickle opcode {name}; only object arrays of integer "
                             "lists (Keras' imdb.npz layout) are read.")
    if len(stack) != 1:
        raise ValueError(f"{where}: malformed object array ({len(stack)} objects left on the pickle stack).")
    return stack[0]


def _object_array_from_pickle(data: bytes, where) -> np.ndarray:
    """The 1-D object array of integer lists that ``data`` (an ndarray pickle) describes, checked."""
    root = _run_opcodes(data, where)
    if not (isinstance(root, _Reduce) and isinstance(root.func, _Global) and root.func.name in _RECONSTRUCT
            and isinstance(root.state, tuple) and len(root.state) == 5):
        raise ValueError(f"{where}: not a pickled NumPy array.")
    _, shape, dtype, _, items = root.state
    if not (isinstance(dtype, _Reduce) and dtype.func.name in ("numpy dtype", "numpy._core.multiarray dtype")
            and dtype.args[:1] == ("O8",)):
        raise ValueError(f"{where}: the pickled array is not of object dtype.")
    if not (isinstance(shape, tuple) and len(shape) == 1 and isinstance(items, list) and len(items) == shape[0]):
        raise ValueError(f"{where}: expected a 1-D object array, got shape {shape!r}.")
    for index, item in enumerate(items):
        if not isinstance(item, list) or not all(type(v) is int for v in item):
            raise ValueError(f"{where}: element {index} is not a list of integers.")
    return _object_array(items)


def read_ragged_npz(path) -> dict:
    """The arrays of an ``.npz`` file, object arrays of integer lists included, without unpickling.

    Plain arrays are read as ``np.load(allow_pickle=False)`` reads them; a 1-D object
    array whose elements are lists of Python ints (Keras' ``imdb.npz`` and
    ``reuters.npz`` layout) is rebuilt from its pickle opcodes. Any other object array
    is a ``ValueError``. Returns ``{name: array}`` (names without ``.npy``).
    """
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            name = member[:-4] if member.endswith(".npy") else member
            with archive.open(member) as stream:
                raw = io.BytesIO(stream.read())
            version = np.lib.format.read_magic(raw)
            reader = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in reader:
                raise ValueError(f"{path}: {member} has .npy format version {version}, which is not read.")
            shape, fortran_order, dtype = reader[version](raw)
            if dtype.hasobject:
                arrays[name] = _object_array_from_pickle(raw.read(), f"{path}:{member}")
            else:
                raw.seek(0)
                arrays[name] = np.lib.format.read_array(raw, allow_pickle=False)
    return arrays


def _remove_long_sequences(maxlen, sequences, labels):
    """Keep the sequences shorter than ``maxlen`` (Keras' rule: ``len(x) < maxlen``) and their labels."""
    keep = [i for i, seq in enumerate(sequences) if len(seq) < maxlen]
    return [sequences[i] for i in keep], labels[keep]


def _object_array(lists) -> np.ndarray:
    """A 1-D object array holding ``lists`` (``np.array`` would make a 2-D array of equal-length lists)."""
    out = np.empty(len(lists), dtype=object)
    for index, item in enumerate(lists):
        out[index] = item
    return out


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
              index_from=3, data_dir=None, download=True):
    """Keras' ``imdb.load_data``: ``(x_train, y_train), (x_test, y_test)``, reviews as lists of word ids.

    Word ids are frequency ranks shifted by ``index_from`` (rank r -> r + index_from),
    so 0 stays free for padding; every review starts with ``start_char`` (None: no
    start mark). Ids of words outside ``skip_top <= id < num_words`` (``num_words``
    defaults to the largest id) become ``oov_char``, or are dropped when it is None.
    With ``maxlen``, reviews of ``maxlen`` ids or more are dropped (Keras' rule).
    Both splits are shuffled with ``np.random.RandomState(seed)`` as Keras does, so the
    same arguments give Keras' arrays. x are 1-D object arrays of lists (pad them with
    ``deepgrad.utils.pad_sequences``); y int64, 0 = negative, 1 = positive
    (``CLASS_NAMES``).

    The file is ``data_dir/imdb/imdb.npz`` (``data_dir`` defaults to ``$DEEPGRAD_DATA``,
    else ``~/.deepgrad/datasets``; Keras' ``path`` argument is accepted and ignored),
    downloaded from Keras' storage when missing (``download``); it must have the
    published SHA-256. Reading it without pickle takes about 20 s (12 million ids).
    """
    folder = os.path.join(data_home(data_dir), FOLDER)
    file = cached_file(folder, "imdb.npz", SHA256, (MIRROR,), download)
    arrays = read_ragged_npz(file)
    rng = np.random.RandomState(seed)
    splits = []
    for split in ("train", "test"):
        x, labels = arrays[f"x_{split}"], np.asarray(arrays[f"y_{split}"]).astype(np.int64)
        order = np.arange(len(x))
        rng.shuffle(order)
        shift = index_from or 0
        prefix = [] if start_char is None else [start_char]
        x = [prefix + [w + shift for w in review] for review in x[order]]
        labels = labels[order]
        if maxlen:
            x, labels = _remove_long_sequences(maxlen, x, labels)
            if not x:
                raise ValueError(f"maxlen={maxlen} leaves no {split} review; every one has {maxlen} ids or more.")
        splits.append((x, labels))
    if not num_words:
        num_words = max(max(review) for x, _ in splits for review in x if review)
    out = []
    for x, labels in splits:
        if oov_char is not None:
            x = [[w if skip_top <= w < num_words else oov_char for w in review] for review in x]
        else:
            x = [[w for w in review if skip_top <= w < num_words] for review in x]
        out.append((_object_array(x), labels))
    return tuple(out)


def _cached_md5_file(folder, filename, md5, download) -> str:
    """``folder/filename`` once its MD5 is ``md5`` (the only digest published for it), downloading it if needed."""
    path = os.path.join(folder, filename)
    if os.path.exists(path) and hashlib.md5(open(path, "rb").read(), usedforsecurity=False).hexdigest() == md5:
        return path
    if not download:
        raise FileNotFoundError(f"{path} is missing or does not have the expected MD5 {md5}; pass download=True "
                                f"to fetch it from {MIRROR}{filename}, or place the file there by hand.")
    os.makedirs(folder, exist_ok=True)
    try:
        _download._fetch(MIRROR + filename, path + ".part")
    except OSError as err:
        raise DownloadError(f"could not download {MIRROR}{filename}: {err}. Place it in {folder} by hand.") from err
    with open(path + ".part", "rb") as stream:
        digest = hashlib.md5(stream.read(), usedforsecurity=False).hexdigest()
    if digest != md5:
        os.unlink(path + ".part")
        raise DownloadError(f"{MIRROR}{filename} has MD5 {digest}, not the published {md5}.")
    os.replace(path + ".part", path)
    return path


def get_word_index(path="imdb_word_index.json", data_dir=None, download=True) -> dict:
    """Keras' ``imdb.get_word_index()``: ``{word: rank}`` (rank 1 = most frequent).

    Add ``index_from`` (3) to a rank to get the id :func:`load_data` uses. Cached as
    ``data_dir/imdb/imdb_word_index.json``; downloaded from Keras' storage when missing
    and checked against the MD5 Keras publishes for it (``path`` is accepted and ignored).
    """
    folder = os.path.join(data_home(data_dir), FOLDER)
    file = _cached_md5_file(folder, "imdb_word_index.json", WORD_INDEX_MD5, download)
    with open(file, encoding="utf-8") as stream:
        index = json.load(stream)
    if not isinstance(index, dict) or not all(isinstance(v, int) for v in index.values()):
        raise ValueError(f"{file} is not a JSON object of word -> integer rank.")
    return index


