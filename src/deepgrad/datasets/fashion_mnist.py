"""Keras' ``fashion_mnist.load_data()`` over :func:`deepgrad.datasets.load_mnist`."""

from __future__ import annotations

from .mnist import FASHION_CLASS_NAMES, load_mnist


def load_data(path=None, data_dir=None, download=True):
    """``(x_train, y_train), (x_test, y_test)`` of Fashion-MNIST (uint8, as Keras returns them).

    Class ids 0..9 name ``FASHION_CLASS_NAMES`` (T-shirt/top ... Ankle boot). ``path``
    (Keras' argument) is accepted and ignored; the files live in the data cache's
    ``fashion-mnist/`` folder, under ``data_dir`` when given (see :func:`load_mnist`).
    """
    return load_mnist("fashion", cache_dir=data_dir, download=download)


__all__ = ["FASHION_CLASS_NAMES", "load_data"]
