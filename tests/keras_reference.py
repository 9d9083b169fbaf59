"""Keras 3 (PyTorch backend) as an optional test-time reference: tests that take the
``keras`` fixture below are skipped when Keras is not installed."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def keras():
    """The ``keras`` module on its PyTorch backend, or a skip when it is not installed."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    module = pytest.importorskip("keras")
    if module.backend.backend() != "torch":
        pytest.skip(f"Keras runs on the {module.backend.backend()} backend here, not torch")
    return module
