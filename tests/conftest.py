"""Shared test helpers: a seeded generator, a gradient check for float64 inputs, PyTorch reference keys."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch_reference

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


@pytest.fixture(autouse=True)
def _torch_reference_key(request):
    """PyTorch reference values are keyed by the test that asks for them (tests/torch_reference.py)."""
    torch_reference.start_test(request.node.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if torch_reference.MODE == "record" and exitstatus == 0:
        for path in torch_reference.write_recorded():
            print(f"\nwrote {path}")


def pytest_report_header(config):
    if torch_reference.AVAILABLE:
        return f"PyTorch {torch_reference.torch.__version__}: live comparisons"
    return "PyTorch not available: comparisons use the stored values in tests/reference/"


# --------------------------------------------------------------------------- real data sets

# Verified copies of the public data sets lie beside the repository (../shared/data); the
# package never knows that folder: tests point its cache there through DEEPGRAD_DATA.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_data(monkeypatch):
    """The folder of verified real data sets, set as deepgrad's data cache; skips when it is absent."""
    folder = Path(os.environ.get("DEEPGRAD_SHARED_DATA", SHARED_DATA))
    if not folder.is_dir():
        pytest.skip(f"real data sets not available ({folder} is absent)")
    monkeypatch.setenv("DEEPGRAD_DATA", str(folder))
    return folder
