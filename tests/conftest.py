"""Shared test helpers: a seeded generator and a gradient check for float64 inputs."""

from __future__ import annotations

import numpy as np
import pytest

import deepgrad as dg


@pytest.fixture
def rng():
    """A fresh generator with a fixed seed, so every test draws the same numbers."""
    return np.random.default_rng(1234)


@pytest.fixture
def check_grad():
    """gradcheck ``fn`` at float64 copies of ``arrays``, each requiring grad unless an int array."""

    def check(fn, *arrays, **tolerances):
        inputs = [
            dg.Tensor(np.asarray(a, dtype=np.float64), requires_grad=True)
            if np.issubdtype(np.asarray(a).dtype, np.floating) else a
            for a in arrays
        ]
        assert dg.gradcheck(fn, *inputs, **tolerances) is True

    return check


@pytest.fixture(autouse=True)
def _cpu_default_device():
    """Every test starts and ends on the CPU, whatever a failing test left behind."""
    yield
    dg.set_default_device("cpu")
