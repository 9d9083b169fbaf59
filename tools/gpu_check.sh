#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU (CUDA 12): installs CuPy, runs the device tests on
# the real device, then the GPU benchmark. Each step has a timeout; the whole fits in about 9 minutes.
#   usage: tools/gpu_check.sh [python]      (default: python3; run from the repository root)
# Writes runs/gpu_check/{pip,nvidia,tests,benchmark}.log and exits non-zero if a step fails.
set -u
PYTHON=${1:-python3}
OUT=${OUT:-runs/gpu_check}
mkdir -p "$OUT"
status=0
nvidia-smi > "$OUT/nvidia.log" 2>&1 || echo "nvidia-smi failed (see $OUT/nvidia.log)"
"$PYTHON" -c "import cupy" 2>/dev/null || \
  timeout 240 "$PYTHON" -m pip install --quiet 'cupy-cuda12x>=13' > "$OUT/pip.log" 2>&1 || { echo "pip install failed"; exit 1; }
"$PYTHON" -c "import deepgrad as dg; assert dg.cuda_available(), 'CuPy sees no GPU'; print('CuPy sees the GPU')" || exit 1
echo "== device tests (--device cuda)"
DEEPGRAD_TEST_DEVICE=cuda PYTHONPATH=src timeout 240 "$PYTHON" -m pytest -q -p no:cacheprovider \
  tests/test_backend.py tests/test_device.py tests/test_gpu_kernels.py tests/test_optimizers.py tests/test_metrics.py \
  tests/test_saving.py > "$OUT/tests.log" 2>&1 || status=1
tail -n 5 "$OUT/tests.log"
echo "== benchmark"
PYTHONPATH=src timeout 300 "$PYTHON" benchmarks/gpu.py --rounds 2 2>&1 | tee "$OUT/benchmark.log" || status=1
exit $status
