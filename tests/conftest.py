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


# --------------------------------------------------------------------------- the device the suite runs on

def pytest_addoption(parser):
    parser.addoption("--device", default=os.environ.get("DEEPGRAD_TEST_DEVICE", "cpu"),
                     choices=("cpu", "cuda", "fake"),
                     help="default device of the device-independent tests: cpu (default), cuda (CuPy and a GPU; "
                          "the tests skip without them) or fake (the CuPy stand-in of tests/fake_cupy.py). "
                          "Also DEEPGRAD_TEST_DEVICE.")


def suite_device(config) -> str:
    """The device the suite was asked to run on ('cpu', 'cuda' or 'fake')."""
    return config.getoption("--device")


# Modules whose every test holds on any device: they read results through .numpy()/.item() and
# compare with the CPU's numbers. With --device cuda (or fake) these run with that default device;
# the other modules check CPU specifics (array types, numba kernels, files) and skip.
DEVICE_INDEPENDENT = ("test_device.py", "test_gpu_kernels.py", "test_optimizers.py", "test_metrics.py",
                      "test_saving.py")


def pytest_collection_modifyitems(config, items):
    device = suite_device(config)
    if device == "cpu":
        return
    reason = None
    if device == "cuda" and not dg.cuda_available():
        reason = "--device cuda needs CuPy and a CUDA device (pip install cupy-cuda12x)"
    for item in items:
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))
        elif item.path.name not in DEVICE_INDEPENDENT:
            item.add_marker(pytest.mark.skip(reason=f"a CPU-only test (--device {device} runs the "
                                                    "device-independent modules of tests/conftest.py)"))


@pytest.fixture(autouse=True)
def _cpu_default_device(request):
    """Every test starts on the suite's device (the CPU unless --device says otherwise) and ends on the CPU."""
    device = suite_device(request.config)
    if device == "cpu":
        yield
    elif device == "fake":
        import fake_cupy  # noqa: PLC0415 - only for this mode

        with fake_cupy.installed():
            dg.set_default_device("cuda")
            yield
    else:
        dg.set_default_device("cuda")
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
