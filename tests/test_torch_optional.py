"""The comparison tests pass without PyTorch, against the values recorded from it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent


def test_every_reference_file_is_plain_arrays_with_an_index():
    files = sorted((TESTS / "reference").glob("*.npz"))
    assert len(files) >= 7  # one per comparing test module; new modules add theirs
    for path in files:
        with np.load(path, allow_pickle=False) as archive:  # no pickled objects
            index = json.loads(str(archive["__index__"]))
            assert index, path
            names = {name for _, entry_names in index.values() for name in entry_names}
            assert names == set(archive.files) - {"__index__"}


@pytest.mark.slow
def test_comparisons_pass_with_pytorch_hidden():
    env = dict(os.environ, DEEPGRAD_TEST_TORCH="0", PYTHONPATH=str(TESTS.parent / "src"))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs",
         str(TESTS / "test_regularizers.py"), str(TESTS / "test_schedules.py"),
         str(TESTS / "test_model_equivalence.py")],
        env=env, capture_output=True, text=True, timeout=600, cwd=TESTS.parent)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "stored values in tests/reference/" in result.stdout  # the header: PyTorch was hidden
    assert "skipped" not in result.stdout  # every comparison ran against a stored reference
