"""The fused kernels work where numba has no writable cache folder (a non-root container)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("numba")

SRC = str(Path(__file__).resolve().parents[1] / "src")

# Adam on a ParameterBuffer large enough for the fused kernel, compared with the NumPy path.
SCRIPT = textwrap.dedent("""
    import os
    import numpy as np
    import deepgrad as dg
    from deepgrad import optimizers
    from deepgrad.optimizers import fused

    def train(fused_on):
        os.environ["DEEPGRAD_FUSED"] = "1" if fused_on else "0"
        w = dg.tensor(np.linspace(-1.0, 1.0, 2 * fused.MIN_SIZE), requires_grad=True)
        buffer = dg.ParameterBuffer([w])
        optimizer = optimizers.Adam(learning_rate=0.01)
        for _ in range(3):
            buffer.zero_grad()
            (w * w).sum().backward()
            optimizer.step(buffer)
        return w.numpy().copy()

    assert fused.enabled(), "numba is installed, so the fused kernels must be on"
    assert set(fused._kernels()) == {"sgd", "sgd_momentum", "adam"}
    np.testing.assert_allclose(train(True), train(False), rtol=1e-6, atol=1e-7)
    print("fused ok")
""")


@pytest.mark.slow
def test_fused_kernels_compile_without_a_writable_cache_folder(tmp_path):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("numba cannot make a cache folder below a regular file")
    env = dict(os.environ, PYTHONPATH=SRC,
               # the only place numba may cache is one it cannot create: no locator is available
               NUMBA_CACHE_LOCATOR_CLASSES="UserProvidedCacheLocator",
               NUMBA_CACHE_DIR=str(not_a_folder / "cache"))
    env.pop("DEEPGRAD_FUSED", None)
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "fused ok" in result.stdout
    assert "cannot cache" not in result.stderr
