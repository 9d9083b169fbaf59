"""CIFAR-10: 60,000 32x32 colour images in 10 classes, downloaded once from the University of Toronto, verified, cached.

Source: A. Krizhevsky, "Learning Multiple Layers of Features from Tiny Images" (2009),
https://www.cs.toronto.edu/~kriz/cifar.html. The python version of the archive
(``cifar-10-python.tar.gz``, 170,498,071 bytes) is kept in the data cache's ``cifar10/``
folder (see :mod:`deepgrad.datasets.download`) and checked against its SHA-256 before use.
Its batches are Python pickles; they are read with :func:`~deepgrad.datasets.pickle_reader.read_pickle`,
which builds the arrays without running code (``pickle.load`` is never called).

``load_data()`` gives the Keras call ``keras.datasets.cifar10.load_data()``.
"""

from __future__ import annotations

import os
import tarfile

import numpy as np

from .download import cached_file, data_home
from .pickle_reader import read_pickle

ARCHIVE = "cifar-10-python.tar.gz"
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_FOLDER = "cifar-10-batches-py"
_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST = "test_batch"


def _key(key):
    return key.decode("latin1") if isinstance(key, bytes) else key


def _read_batch(archive, member, path):
    """(images uint8 (n, 3, 32, 32), labels uint8 (n,)) of one pickled batch in the archive."""
    name = f"{_FOLDER}/{member}"
    try:
        stream = archive.extractfile(name)
    except KeyError:
        stream = None
    if stream is None:
        raise ValueError(f"{path} holds no {name}; it is not the CIFAR-10 python archive.")
    batch = read_pickle(stream.read())
    batch = {_key(k): v for k, v in batch.items()} if isinstance(batch, dict) else {}
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or labels is None or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 \
            or len(labels) != len(data):
        raise ValueError(f"{path}: {name} is not a CIFAR batch (a dict with 'data' of shape (n, 3072) "
                         "and n 'labels').")
    return data.astype(np.uint8, copy=False).reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.uint8)


def read_archive(path):
    """``(x_train, y_train), (x_test, y_test)`` from a CIFAR-10 python-format ``.tar.gz`` at ``path``."""
    with tarfile.open(path, "r:gz") as archive:
        train = [_read_batch(archive, member, path) for member in _TRAIN]
        x_test, y_test = _read_batch(archive, _TEST, path)
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    # channels_last, labels as a column: Keras' layout
    return ((x_train.transpose(0, 2, 3, 1), y_train.reshape(-1, 1)),
            (x_test.transpose(0, 2, 3, 1), y_test.reshape(-1, 1)))


def load_data(path=None, data_dir=None, download=True):
    """Keras' ``cifar10.load_data()``: ``(x_train, y_train), (x_test, y_test)``.

    x uint8 of shape (50000, 32, 32, 3) and (10000, 32, 32, 3) (channels last, 0..255);
    y uint8 class ids 0..9 of shape (n, 1), naming ``CLASS_NAMES``. The archive is read
    from the data cache (``data_dir``, else ``$DEEPGRAD_DATA``, else ``~/.deepgrad/datasets``),
    folder ``cifar10/``, after checking its SHA-256; it is downloaded from the CIFAR page
    when missing and ``download`` is true. ``path`` (Keras' cache file name) is accepted
    and ignored. Licence: free to use with the citation above.
    """
    folder = os.path.join(data_home(data_dir), "cifar10")
    return read_archive(cached_file(folder, ARCHIVE, SHA256, MIRRORS, download))


__all__ = ["CLASS_NAMES", "load_data", "read_archive"]
