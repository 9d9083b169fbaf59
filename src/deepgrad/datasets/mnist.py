"""MNIST and Fashion-MNIST: downloaded once from their public mirrors, verified, cached.

The four gzip IDX files of each data set are fetched with ``urllib`` from the mirrors
below (tried in order), checked against their published SHA-256 digests, and kept
under the data cache (see :mod:`deepgrad.datasets.download`): ``mnist/`` for the digits,
``fashion-mnist/`` for Fashion-MNIST. Later loads read the cache, checking the
digests again (a few milliseconds). Offline, files placed there by hand work too.

``load_data()`` gives the Keras call ``keras.datasets.mnist.load_data()``.
"""

from __future__ import annotations

import os

from .download import DownloadError, cached_file, data_home
from .idx import read_idx

__all__ = ["FASHION_CLASS_NAMES", "DownloadError", "load_data", "load_mnist"]
_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
          "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

# SHA-256 of the gzip files as distributed (the same bytes on every mirror listed).
_SOURCES = {
    "digits": {
        "folder": "mnist",
        "mirrors": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        "sha256": {
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    },
    "fashion": {
        "folder": "fashion-mnist",
        "mirrors": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        "sha256": {
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
    },
}

FASHION_CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                       "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def load_mnist(kind="digits", cache_dir=None, download=True):
    """MNIST handwritten digits (``kind='digits'``) or Zalando's Fashion-MNIST (``kind='fashion'``).

    Both hold 28x28 grey images in 10 classes: 60,000 for training and 10,000 for
    testing. Returns ``(x_train, y_train), (x_test, y_test)`` as Keras does: x uint8
    of shape (n, 28, 28) with pixels 0..255 (scale with ``x / 255.0``), y uint8 class
    ids 0..9 (Fashion-MNIST's names are ``FASHION_CLASS_NAMES``).

    Files are read from ``cache_dir/mnist`` or ``cache_dir/fashion-mnist`` (``cache_dir``
    defaults to ``$DEEPGRAD_DATA``, else ``~/.deepgrad/datasets``) after checking their SHA-256;
    missing or corrupt files are downloaded when ``download`` is true, else an error
    says where to put them. Sources: MNIST by Y. LeCun, C. Cortes and C. J. C. Burges;
    Fashion-MNIST by H. Xiao, K. Rasul and R. Vollgraf (arXiv:1708.07747, MIT licence).
    """
    if kind not in _SOURCES:
        raise ValueError(f"unknown kind {kind!r}; valid kinds: {sorted(_SOURCES)}.")
    source = _SOURCES[kind]
    folder = os.path.join(data_home(cache_dir), source["folder"])
    arrays = [read_idx(cached_file(folder, filename, source["sha256"][filename], source["mirrors"], download))
              for filename in _FILES]
    x_train, y_train, x_test, y_test = arrays
    for images, labels, split in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{folder}: the {split} files hold images of shape {images.shape} and labels of "
                             f"shape {labels.shape}; expected (n, rows, cols) images with n labels.")
    return (x_train, y_train), (x_test, y_test)


def load_data(path=None, data_dir=None, download=True):
    """Keras' ``mnist.load_data()``: ``(x_train, y_train), (x_test, y_test)`` of the digits.

    ``path`` (Keras' cache file name) is accepted and ignored; the files live in the
    data cache's ``mnist/`` folder, under ``data_dir`` when given (see :func:`load_mnist`).
    """
    return load_mnist("digits", cache_dir=data_dir, download=download)
