"""The heap settings applied at import (deepgrad.allocator): freed arrays are reused, not faulted in anew."""

import os
import subprocess
import sys
import textwrap

import pytest

from deepgrad import allocator

GLIBC = sys.platform.startswith("linux") and allocator._mallopt() is not None

_FAULTS_PER_ALLOCATION = textwrap.dedent("""
    import resource, numpy as np, deepgrad
    from deepgrad import allocator
    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    def step():  # a step's temporaries: four 12 MB arrays alive together, then freed
        arrays = [np.ones(3_000_000, np.float32) for _ in range(4)]
        del arrays
    step(); step()  # the first steps grow the heap
    start = faults()
    for _ in range(10):
        step()
    print(allocator.retained_bytes(), (faults() - start) / 10)
""")


def _run(env_value):
    env = dict(os.environ)
    env.pop("DEEPGRAD_HEAP_RETAIN", None)
    if env_value is not None:
        env["DEEPGRAD_HEAP_RETAIN"] = env_value
    result = subprocess.run([sys.executable, "-c", _FAULTS_PER_ALLOCATION], env=env, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
    retained, faults = result.stdout.split()
    return retained, float(faults)


@pytest.mark.skipif(not GLIBC, reason="the heap settings apply to glibc's malloc only")
def test_freed_arrays_are_reused_without_page_faults():
    retained, faults = _run(None)
    assert retained == str(allocator.DEFAULT_RETAIN)
    # 48 MB of fresh pages would be about 11,700 faults (4 KiB pages) per step.
    assert faults < 200


@pytest.mark.skipif(not GLIBC, reason="the heap settings apply to glibc's malloc only")
def test_zero_leaves_the_c_library_settings_alone():
    retained, _ = _run("0")
    assert retained == "None"


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="non-negative number of bytes"):
        allocator.retain_freed_memory(-1)
    with pytest.raises(ValueError, match="non-negative number of bytes"):
        allocator.retain_freed_memory(True)
    env = dict(os.environ, DEEPGRAD_HEAP_RETAIN="lots")
    result = subprocess.run([sys.executable, "-c", "import deepgrad"], env=env, capture_output=True, text=True,
                            check=False)
    assert result.returncode != 0 and "DEEPGRAD_HEAP_RETAIN must be a non-negative number of bytes" in result.stderr


def test_retaining_nothing_returns_false():
    assert allocator.retain_freed_memory(0) is False
