"""PyTorch as a test-time reference, optional: live when installed, stored values otherwise.

A comparison test computes its expected values through :func:`reference`::

    expected = reference(lambda: F.gelu(torch.tensor(x), approximate="tanh").numpy())

With PyTorch installed the function runs (a live comparison). Without it, the values
that ``tests/reference/generate.py`` recorded from PyTorch are returned instead; they
lie in ``tests/reference/<test module>.npz``, keyed by the test's id and the call's
position in the test. A test that calls PyTorch outside :func:`reference` is skipped
when PyTorch is missing.

``DEEPGRAD_TEST_TORCH=0`` hides an installed PyTorch (to check the stored path);
``DEEPGRAD_TEST_TORCH=record`` runs PyTorch and records every reference
(what ``generate.py`` does).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
MODE = os.environ.get("DEEPGRAD_TEST_TORCH", "auto")  # auto, 0 or record


class _Missing:
    """Stands in for torch when it is not installed: any attribute is another stand-in, a call skips."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attribute):
        return _Missing(f"{self._name}.{attribute}")

    def __call__(self, *args, **kwargs):
        pytest.skip(f"needs PyTorch ({self._name}) and has no stored reference values")

    def __repr__(self):
        return f"<{self._name}: PyTorch is not installed>"


def _import_torch():
    if MODE == "0":
        return None
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        if MODE == "record":
            raise
        return None
    return torch


_TORCH = _import_torch()
AVAILABLE = _TORCH is not None
torch = _TORCH if AVAILABLE else _Missing("torch")
F = _TORCH.nn.functional if AVAILABLE else _Missing("torch.nn.functional")

_current = {"module": None, "test": None, "count": 0}
_recorded: dict = {}   # module -> {key: list of arrays, plus the result's form}
_stored: dict = {}     # module -> loaded references


def start_test(nodeid: str) -> None:
    """Called by conftest before each test: references are keyed by test id and call order."""
    path, _, test = nodeid.partition("::")
    _current.update(module=Path(path).stem, test=test, count=0)


def _key() -> str:
    _current["count"] += 1
    return f"{_current['test']}#{_current['count']}"


def _flatten(result):
    if isinstance(result, (tuple, list)):
        return "tuple", [np.asarray(r) for r in result]
    if isinstance(result, float):
        return "float", [np.asarray(result)]
    return "array", [np.asarray(result)]


def _unflatten(form, arrays):
    if form == "tuple":
        return tuple(arrays)
    if form == "float":
        return float(arrays[0])
    return arrays[0]


def reference(compute, key=None):
    """``compute()`` (PyTorch's values) when PyTorch is installed, else the values it gave when recorded.

    ``compute`` returns an array, a float, or a tuple/list of arrays. ``key`` names the values
    within the test instead of the call's position (for tests whose calls vary, e.g. Hypothesis
    examples: a key derived from the example keeps a different example from getting its values).
    """
    key = _key() if key is None else f"{_current['test']}#{key}"
    module = _current["module"]
    if AVAILABLE:
        result = compute()
        if MODE == "record":
            form, arrays = _flatten(result)
            _recorded.setdefault(module, {})[key] = (form, arrays)
        return result
    stored = _load(module)
    if key not in stored:
        pytest.skip(f"needs PyTorch: no stored reference {key!r} in tests/reference/{module}.npz "
                    "(run tests/reference/generate.py where PyTorch is installed)")
    return stored[key]


def _load(module: str) -> dict:
    if module not in _stored:
        path = REFERENCE_DIR / f"{module}.npz"
        values = {}
        if path.exists():
            with np.load(path, allow_pickle=False) as archive:
                index = json.loads(str(archive["__index__"]))
                for key, (form, names) in index.items():
                    values[key] = _unflatten(form, [archive[name] for name in names])
        _stored[module] = values
    return _stored[module]


def write_recorded() -> list:
    """Write every recorded reference to tests/reference/<module>.npz; returns the paths written."""
    written = []
    REFERENCE_DIR.mkdir(exist_ok=True)
    for module, entries in sorted(_recorded.items()):
        arrays, index = {}, {}
        for key, (form, values) in entries.items():
            names = []
            for value in values:
                name = f"a{len(arrays)}"
                arrays[name] = value
                names.append(name)
            index[key] = (form, names)
        path = REFERENCE_DIR / f"{module}.npz"
        np.savez_compressed(path, __index__=np.array(json.dumps(index, sort_keys=True)), **arrays)
        written.append(path)
    return written
