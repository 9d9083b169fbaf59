"""MNIST-1D: 4,000 + 1,000 one-dimensional "digit" signals of length 40 in 10 classes.

Greydanus, "Scaling down Deep Learning" (arXiv:2011.14439, 2020); the ``mnist1d``
package, Apache-2.0. Each sample is one of ten 1-D templates, padded, translated,
sheared, scaled, correlated-noised and downsampled to 40 points; small enough to train
on a CPU in seconds yet, unlike MNIST, it separates linear, MLP, CNN and RNN models.

The data set is generated, not downloaded: the project publishes it only as a Python
pickle, which deepgrad never loads (unpickling runs code). The accepted file is an
``.npz`` archive of plain arrays, ``mnist1d/mnist1d.npz`` in the data cache, with keys
``x``, ``y``, ``x_test``, ``y_test`` (and ``t``, the 40 sample times). Make it once with
the package's defaults (seed 42)::

    from mnist1d.data import make_dataset, get_dataset_args
    data = make_dataset(get_dataset_args())
    numpy.savez(path, **{key: data[key] for key in ("x", "y", "x_test", "y_test", "t")})

The reference file's SHA-256 is :data:`SHA256`. A regenerated file holds the same
numbers up to rounding but not the same bytes (zip timestamps, library versions): load
it with ``verify=False``, which checks its keys, shapes and labels instead.
"""

from __future__ import annotations

import os

import numpy as np

from .download import data_home, sha256_of

__all__ = ["SHA256", "load_data", "load_mnist1d"]

FOLDER = "mnist1d"
FILENAME = "mnist1d.npz"
SHA256 = "0566804e8728ee188a0b8723dfc4a2d8d2ae0a5a3ee21588f3026c4395273687"
_GENERATE = ("from mnist1d.data import make_dataset, get_dataset_args; d = make_dataset(get_dataset_args()); "
             "numpy.savez(path, **{k: d[k] for k in ('x', 'y', 'x_test', 'y_test', 't')})")


def _checked_arrays(path):
    """x, y, x_test, y_test from the npz at ``path`` (no pickle), with shapes and labels checked."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = {"x", "y", "x_test", "y_test"} - set(archive.files)
            if missing:
                raise ValueError(f"{path} lacks the arrays {sorted(missing)}; expected keys x, y, x_test, y_test.")
            arrays = [archive[key] for key in ("x", "y", "x_test", "y_test")]
    except (OSError, EOFError) as err:  # not a zip / truncated: np.load's own errors
        raise ValueError(f"{path} is not a readable .npz archive ({err}).") from err
    x, y, x_test, y_test = arrays
    for signals, labels, split in ((x, y, "train"), (x_test, y_test, "test")):
        if signals.ndim != 2 or labels.shape != (len(signals),) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"{path}: the {split} arrays have shapes {signals.shape} and {labels.shape} "
                             f"({labels.dtype}); expected (n, length) signals and n integer labels.")
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise ValueError(f"{path}: {split} labels span {labels.min()}..{labels.max()}; expected 0..9.")
    if x.shape[1] != x_test.shape[1]:
        raise ValueError(f"{path}: train signals have length {x.shape[1]}, test signals {x_test.shape[1]}.")
    return x, y, x_test, y_test


def load_mnist1d(data_dir=None, verify=True):
    """MNIST-1D as ``(x_train, y_train), (x_test, y_test)``.

    x float64 of shape (4000, 40) and (1000, 40), y int64 class ids 0..9 (the digit
    whose template made the signal; first training labels 2 6 4 5 6 6 6 0 3 1). Add a
    channel axis for Conv1D / recurrent layers with ``x[..., None]``.

    Reads ``data_dir/mnist1d/mnist1d.npz`` (``data_dir`` defaults to ``$DEEPGRAD_DATA``,
    else ``~/.deepgrad/datasets``) without pickle. With ``verify`` its SHA-256 must be
    the reference file's; ``verify=False`` accepts a regenerated file after checking
    its contents. A missing file is a ``FileNotFoundError`` saying how to generate it.
    """
    path = os.path.join(data_home(data_dir), FOLDER, FILENAME)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is not cached. MNIST-1D is published only as a pickle, which deepgrad "
                                f"does not load; generate it with the mnist1d package and save it there: "
                                f"{_GENERATE}. Then load it with verify=False (its bytes differ from the "
                                f"reference file, SHA-256 {SHA256}).")
    if verify:
        digest = sha256_of(path)
        if digest != SHA256:
            raise ValueError(f"{path} has SHA-256 {digest}, not the reference file's {SHA256}; if you "
                             "generated it yourself with the mnist1d package, pass verify=False.")
    x, y, x_test, y_test = _checked_arrays(path)
    return (x, y), (x_test, y_test)


def load_data(data_dir=None, verify=True):
    """Same as :func:`load_mnist1d`: ``(x_train, y_train), (x_test, y_test)``."""
    return load_mnist1d(data_dir=data_dir, verify=verify)
