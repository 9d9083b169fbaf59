"""Datasets: bundled and generated data, CSV files, MNIST, and data utilities.

Everything runs offline except the first download of a public data set (MNIST,
Fashion-MNIST, the UCI sentiment sentences, SST-2, Keras' IMDB): the digits ship inside
the package, the toy sets (moons, circles, XOR, spirals, sine) are generated, MNIST-1D
is generated once with its package, and :func:`load_csv` reads a user's CSV file.
"""

from __future__ import annotations

import os

import numpy as np

from ..backend import new_generator
from .idx import read_idx
from .images import ImageDataset, image_dataset_from_csv, image_dataset_from_directory, load_image
from .mnist import FASHION_CLASS_NAMES, DownloadError, load_mnist
from .mnist1d import load_mnist1d
from .preprocessing import one_hot
from .sentiment import load_sentiment_sentences
from .sst2 import load_sst2
from .synthetic import make_circles, make_moons, make_sine, make_spirals, make_xor
from .tabular import CSVData, MissingValuesError, TableSchema, load_csv

_DATA_DIR = os.path.join(os.path.dirname(__file__), "data")


def load_digits(flatten: bool = True, normalize: bool = True):
    """The UCI optical recognition of handwritten digits data (8x8 images, 1,797 samples).

    Source: E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten Digits",
    UCI Machine Learning Repository (1998), the test part (``optdigits.tes``; 13 writers),
    as also distributed with scikit-learn. Licence: Creative Commons Attribution 4.0
    International (CC BY 4.0). Each image is 32x32 bitmaps counted in 4x4 blocks, so
    pixels are integers 0..16; 10 classes, about 180 samples each.

    Returns ``(x, y)``: ``x`` float32 of shape (1797, 64) (or (1797, 8, 8) with
    ``flatten=False``), scaled to [0, 1] when ``normalize`` (pixel / 16); ``y`` int64
    class ids 0..9.
    """
    with np.load(os.path.join(_DATA_DIR, "digits.npz"), allow_pickle=False) as archive:
        images = archive["images"]
        target = archive["target"]
    x = images.astype(np.float32)
    if normalize:
        x /= 16.0
    if flatten:
        x = x.reshape(len(x), -1)
    return x, target.astype(np.int64)


def train_test_split(*arrays, test_size=0.25, shuffle=True, random_state=None, stratify=None):
    """Split arrays into train and test parts: ``x_train, x_test, y_train, y_test = ...``.

    ``test_size`` is a fraction in (0, 1) or a count. With ``stratify`` (class labels),
    each class keeps its proportion in both parts. Shuffling uses ``random_state`` when
    given, else deepgrad's seeded generator.
    """
    if not arrays:
        raise ValueError("train_test_split needs at least one array.")
    n = len(arrays[0])
    for a in arrays:
        if len(a) != n:
            raise ValueError(f"train_test_split: arrays have different lengths {[len(a) for a in arrays]}.")
    n_test = int(np.ceil(test_size * n)) if isinstance(test_size, float) else int(test_size)
    if not 0 < n_test < n:
        raise ValueError(f"test_size={test_size!r} leaves no train or no test samples out of {n}.")
    rng = new_generator(random_state)
    if stratify is not None:
        labels = np.asarray(stratify)
        test_idx = []
        for cls in np.unique(labels):
            members = np.flatnonzero(labels == cls)
            if shuffle:
                members = rng.permutation(members)
            test_idx.append(members[: int(round(len(members) * n_test / n))])
        test_idx = np.concatenate(test_idx)
        mask = np.zeros(n, dtype=bool)
        mask[test_idx] = True
        train_idx, test_idx = np.flatnonzero(~mask), np.flatnonzero(mask)
        if shuffle:
            train_idx, test_idx = rng.permutation(train_idx), rng.permutation(test_idx)
    else:
        order = rng.permutation(n) if shuffle else np.arange(n)
        train_idx, test_idx = order[: n - n_test], order[n - n_test:]
    result = []
    for a in arrays:
        a = np.asarray(a)
        result.extend([a[train_idx], a[test_idx]])
    return result


class Standardizer:
    """Feature scaling z = (x - mean) / std, with mean and std learned from training data.

    Constant features (std 0) are left centred but unscaled. ``fit`` learns the
    statistics, ``transform`` applies them (to any data: fit on the training set only,
    so no information leaks from the test set), ``inverse_transform`` undoes them.
    """

    def __init__(self, axis=0):
        self.axis = axis
        self.mean_ = None
        self.scale_ = None

    def fit(self, x):
        x = np.asarray(x, dtype=np.float64)
        self.mean_ = x.mean(axis=self.axis)
        scale = x.std(axis=self.axis)
        self.scale_ = np.where(scale == 0, 1.0, scale)
        return self

    def _check(self):
        if self.mean_ is None:
            raise RuntimeError("this Standardizer is not fitted yet: call fit(x_train) first.")

    def transform(self, x):
        self._check()
        x = np.asarray(x)
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
        return ((x - self.mean_) / self.scale_).astype(dtype)

    def fit_transform(self, x):
        return self.fit(x).transform(x)

    def get_config(self) -> dict:
        """The learned statistics as JSON-able lists (e.g. for ``model.metadata``)."""
        self._check()
        return {"axis": self.axis, "mean": np.asarray(self.mean_).tolist(), "scale": np.asarray(self.scale_).tolist()}

    @classmethod
    def from_config(cls, config):
        scaler = cls(axis=config.get("axis", 0))
        scaler.mean_ = np.asarray(config["mean"], dtype=np.float64)
        scaler.scale_ = np.asarray(config["scale"], dtype=np.float64)
        return scaler

    def inverse_transform(self, z):
        self._check()
        z = np.asarray(z)
        return (z * self.scale_ + self.mean_).astype(z.dtype if np.issubdtype(z.dtype, np.floating) else np.float32)


def standardize(x_train, *others):
    """Standardize ``x_train`` feature-wise and apply the same scaling to ``others`` (e.g. the test set).

    Returns the scaled arrays in the order given (a single array when only one is given).
    """
    scaler = Standardizer().fit(x_train)
    scaled = [scaler.transform(x_train)] + [scaler.transform(o) for o in others]
    return scaled[0] if not others else scaled


_GATE_INPUTS = ((0, 0), (0, 1), (1, 0), (1, 1))
# output of each gate for the inputs above, in that order
_GATE_OUTPUTS = {
    "and": (0, 0, 0, 1),
    "or": (0, 1, 1, 1),
    "nand": (1, 1, 1, 0),
    "nor": (1, 0, 0, 0),
    "xor": (0, 1, 1, 0),
    "xnor": (1, 0, 0, 1),
}


def logic_gate(name: str):
    """The truth table of a two-input logic gate as a tiny dataset.

    ``name`` is one of 'and', 'or', 'nand', 'nor', 'xor', 'xnor' (any case).
    Returns ``(x, y)``: ``x`` float32 of shape (4, 2) with rows (0,0), (0,1), (1,0),
    (1,1); ``y`` int64 of shape (4,), the gate's output for each row, e.g.
    xor: y = x1 + x2 mod 2 = [0, 1, 1, 0]. Every gate but xor and xnor is linearly
    separable, so a single perceptron learns it.
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in _GATE_OUTPUTS:
        raise ValueError(f"unknown logic gate {name!r}; valid names: {', '.join(_GATE_OUTPUTS)}.")
    return np.array(_GATE_INPUTS, dtype=np.float32), np.array(_GATE_OUTPUTS[key], dtype=np.int64)
