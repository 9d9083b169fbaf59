"""Keras' ``fashion_mnist.load_data()`` over :func:`deepgrad.datasets.load_mnist`."""

from __future__ import annotations

from .mnist import FASHION_CLASS_NAMES, load_mnist


def load_data():
    """``(x_train, y_train), (x_test, y_test)`` of Fashion-MNIST (uint8, as Keras returns them).

    Class ids 0..9 name ``FASHION_CLASS_NAMES`` (T-shirt/top ... Ankle boot).
    """
    return load_mnist("fashion")


__all__ = ["FASHION_CLASS_NAMES", "load_data"]
