"""Record PyTorch's values for the comparison tests, so `make test` passes without PyTorch.

Run where PyTorch (the version pinned in pyproject.toml's ``torch`` extra) is installed:

    python tests/reference/generate.py

It runs the comparison tests with ``DEEPGRAD_TEST_TORCH=record``: each value a test
gets from :func:`torch_reference.reference` is computed by PyTorch and written to
``tests/reference/<test module>.npz`` (NumPy arrays and a JSON index, no pickle).
Commit the files it writes. Run it again after adding or changing a comparison test.
"""

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
MODULES = ["test_activations.py", "test_losses.py", "test_model_equivalence.py", "test_ops_convolution.py",
           "test_ops_pooling.py", "test_ops_spatial.py", "test_ops_winograd.py", "test_optimizers.py",
           "test_regularizers.py", "test_schedules.py", "test_torch_equivalence.py"]

if __name__ == "__main__":
    env = dict(os.environ, DEEPGRAD_TEST_TORCH="record")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(str(TESTS / m) for m in MODULES)]
    sys.exit(subprocess.call(command, env=env, cwd=TESTS.parent))
