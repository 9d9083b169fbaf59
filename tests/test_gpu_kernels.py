"""The fused CUDA kernels: their sources checked against their call sites and NumPy mirrors on the CPU,
their dispatch on the CuPy stand-in, and (with ``--device cuda`` and a GPU) their results on the device."""

from __future__ import annotations

import inspect
import re

import fake_cupy
import numpy as np
import pytest

import deepgrad as dg
from deepgrad import backend
from deepgrad.ops import kernels, nn
from deepgrad.optimizers import fused

# every kernel, with arguments for one launch (inputs, then outputs), drawn from a generator
KERNELS = {
    "deepgrad_sgd": lambda r: (r.standard_normal(40), np.float32(0.1), r.standard_normal(40)),
    "deepgrad_sgd_momentum": lambda r: (r.standard_normal(40), np.float32(0.1), np.float32(0.9), True,
                                        r.standard_normal(40), r.standard_normal(40)),
    "deepgrad_adam": lambda r: (r.standard_normal(40), np.float32(0.1), np.float32(0.001), np.float32(1e-7),
                                np.float32(0.01), r.standard_normal(40), r.standard_normal(40),
                                r.uniform(0, 1, 40)),
    "deepgrad_bias_relu": lambda r: (r.standard_normal(5), 5, r.standard_normal((8, 5))),
    "deepgrad_relu_grad_bias": lambda r: (r.standard_normal((8, 5)), r.standard_normal((8, 5)), 5,
                                          np.zeros((8, 5)), np.zeros(5)),
    "deepgrad_softmax_cross_entropy": lambda r: (r.standard_normal((6, 4)), 4, r.integers(0, 4, 6),
                                                 np.zeros(6), np.zeros((6, 4))),
    "deepgrad_sigmoid_cross_entropy": lambda r: (r.standard_normal(10) * 5, r.uniform(0, 1, 10), np.zeros(10),
                                                 np.zeros(10)),
}
_CUDA_WORDS = {"T", "i", "const", "long", "int", "for", "if", "else", "return", "bool", "float", "double",
               "max", "min", "sqrt", "exp", "log", "log1p", "fabs", "atomicAdd", "true", "false"}


def _floats(args, dtype=np.float32):
    return [a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in args]


def test_every_device_kernel_is_listed_here():
    assert set(backend.device_kernels()) == set(KERNELS)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_source_matches_its_mirror_and_declares_what_it_uses(name):
    kernel = backend.device_kernels()[name]
    parameters = kernel.inputs + kernel.outputs
    assert list(inspect.signature(kernel.cpu).parameters) == parameters  # one argument order for both forms
    body = kernel.operation
    assert body.count("(") == body.count(")") and body.count("[") == body.count("]")
    assert body.strip().endswith(";")
    declared = set(re.findall(r"\b(?:T|long long|int|bool)\s+([A-Za-z_]\w*)\s*=", body))
    used = set(re.findall(r"\b[A-Za-z_]\w*\b", re.sub(r"\(T\)", "", body)))
    unknown = used - set(parameters) - declared - _CUDA_WORDS
    assert not unknown, f"{name} uses undeclared names {sorted(unknown)}"
    assert set(parameters) <= used, f"{name} declares parameters it never uses"
    raw = set(re.findall(r"raw\s+\w+\s+(\w+)", kernel.in_params + "," + kernel.out_params))
    assert raw == set(re.findall(r"\b(\w+)\[", body)), "exactly the raw parameters are indexed by hand"


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_launches_with_its_declared_argument_count(name, rng):
    kernel = backend.device_kernels()[name]
    args = _floats(KERNELS[name](rng))
    assert len(args) == len(kernel.inputs) + len(kernel.outputs)
    with pytest.raises(TypeError, match=f"kernel {name} takes {len(args)} arguments"):
        kernel(*args[:-1])


def test_update_mirrors_match_the_compiled_cpu_loops(rng):
    if fused.kernel("adam") is None:
        pytest.skip("numba is not installed")
    w, g, m = (rng.standard_normal(50).astype(np.float32) for _ in range(3))
    v = rng.uniform(0, 1, 50).astype(np.float32)
    scalars = [np.float32(x) for x in (0.1, 0.001, 1e-7, 0.01)]
    expected = [a.copy() for a in (w, m, v)]
    fused.kernel("adam")(expected[0], g, expected[1], expected[2], *scalars)
    fused.CUDA_ADAM(g, *scalars, w, m, v)  # NumPy arrays: the mirror
    for got, want in zip((w, m, v), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    for nesterov in (False, True):
        w2, m2 = w.copy(), m.copy()
        fused.kernel("sgd_momentum")(w2, g, m2, np.float32(0.1), np.float32(0.9), nesterov)
        w3, m3 = w.copy(), m.copy()
        fused.CUDA_SGD_MOMENTUM(g, np.float32(0.1), np.float32(0.9), nesterov, w3, m3)
        np.testing.assert_allclose(w3, w2, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(m3, m2, rtol=1e-6, atol=1e-7)


def test_bias_relu_mirrors_match_the_compiled_cpu_loops(rng):
    z, bias = rng.standard_normal((7, 5)).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    expected = np.maximum(z + bias, 0)
    kernels.CUDA_BIAS_RELU(bias, 5, z)
    np.testing.assert_allclose(z, expected, rtol=1e-6)
    g = rng.standard_normal((7, 5)).astype(np.float32)
    grad, bias_grad = np.empty_like(g), np.zeros(5, np.float32)
    kernels.CUDA_RELU_GRAD_BIAS(g, expected, 5, grad, bias_grad)
    np.testing.assert_allclose(grad, g * (expected > 0))
    np.testing.assert_allclose(bias_grad, (g * (expected > 0)).sum(axis=0), rtol=1e-5)


def test_cross_entropy_mirrors_match_the_numpy_ops(rng):
    z = rng.standard_normal((6, 4)).astype(np.float32) * 3
    labels = rng.integers(0, 4, 6)
    logits = dg.tensor(z, requires_grad=True)
    expected = nn.softmax_cross_entropy(logits, labels)
    expected.backward()
    loss, grad = np.empty(6, np.float32), np.empty_like(z)
    nn.CUDA_SOFTMAX_CROSS_ENTROPY(z, 4, labels, loss, grad)
    assert loss.mean() == pytest.approx(expected.item(), rel=1e-6)
    np.testing.assert_allclose(grad / 6, logits.grad, rtol=1e-5, atol=1e-7)
    y = rng.uniform(0, 1, (6, 4)).astype(np.float32)
    logits = dg.tensor(z, requires_grad=True)
    expected = nn.sigmoid_binary_cross_entropy(logits, y)
    expected.backward()
    loss, grad = np.empty_like(z), np.empty_like(z)
    nn.CUDA_SIGMOID_CROSS_ENTROPY(z, y, loss, grad)
    assert loss.mean() == pytest.approx(expected.item(), rel=1e-6)
    np.testing.assert_allclose(grad / z.size, logits.grad, rtol=1e-5, atol=1e-7)


def _stand_in_only(request):
    if request.config.getoption("--device") == "cuda":
        pytest.skip("counts launches through the CuPy stand-in")


@pytest.mark.parametrize("optimizer, launched", [("adam", "deepgrad_adam"), ("adamw", "deepgrad_adam"),
                                                 ("sgd", "deepgrad_sgd"),
                                                 ({"class_name": "SGD", "config": {"momentum": 0.9}},
                                                  "deepgrad_sgd_momentum")])
def test_a_device_step_launches_one_update_kernel_and_the_fused_loss(optimizer, launched, rng, request):
    _stand_in_only(request)
    x, y = rng.standard_normal((32, 6)).astype(np.float32), rng.integers(0, 3, 32)
    with fake_cupy.installed():
        dg.set_default_device("cuda")
        model = dg.Sequential([dg.layers.Input((6,)), dg.layers.Dense(8, activation="relu"),
                               dg.layers.Dense(3, activation="softmax")])
        model.compile(optimizer=dg.optimizers.get(optimizer), loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        assert fake_cupy.kernel_calls == {launched: 4, "deepgrad_softmax_cross_entropy": 4}


def test_the_convolution_relu_and_binary_loss_launch_their_kernels(rng, request):
    _stand_in_only(request)
    x, y = rng.standard_normal((8, 6, 6, 2)).astype(np.float32), rng.integers(0, 2, 8).astype(np.float32)
    with fake_cupy.installed():
        dg.set_default_device("cuda")
        model = dg.Sequential([dg.layers.Input((6, 6, 2)), dg.layers.Conv2D(3, 3, activation="relu"),
                               dg.layers.Flatten(), dg.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy")
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        calls = dict(fake_cupy.kernel_calls)
    assert calls["deepgrad_relu_grad_bias"] == 1 and calls["deepgrad_sigmoid_cross_entropy"] == 1
    assert calls["deepgrad_bias_relu"] >= 1  # the build's forward pass runs it too


def test_fused_off_runs_the_numpy_forms_on_the_device(rng, request, monkeypatch):
    _stand_in_only(request)
    monkeypatch.setenv("DEEPGRAD_FUSED", "0")
    x, y = rng.standard_normal((16, 6)).astype(np.float32), rng.integers(0, 3, 16)
    with fake_cupy.installed():
        dg.set_default_device("cuda")
        model = dg.Sequential([dg.layers.Input((6,)), dg.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        assert fake_cupy.kernel_calls == {}


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_on_the_device_matches_its_mirror(name, dtype, rng, request):
    """Runs only with --device cuda and CuPy seeing a GPU: the compiled kernel against its NumPy mirror."""
    if request.config.getoption("--device") != "cuda" or not dg.cuda_available():
        pytest.skip("needs --device cuda, CuPy and a CUDA device")
    kernel = backend.device_kernels()[name]
    host = _floats(KERNELS[name](rng), dtype)
    host = [dtype(a) if isinstance(a, np.floating) else a for a in host]
    cupy = backend._cupy()
    device = [cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in host]
    kernel.cpu(*host)
    kernel(*device)
    cupy.cuda.Device().synchronize()
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    for got, want in zip(device, host):
        if isinstance(want, np.ndarray):
            np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=tolerance, atol=tolerance)


def test_the_gpu_benchmark_says_what_it_needs_without_a_gpu(capsys, request):
    if request.config.getoption("--device") == "cuda":
        pytest.skip("a GPU is present")
    import importlib.util  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location("gpu_bench", Path(__file__).parents[1] / "benchmarks" / "gpu.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--quick"]) == 2
    assert "needs CuPy and a CUDA device" in capsys.readouterr().err
    for name in bench.WORKLOADS:  # the deepgrad models build (on the CPU here)
        assert bench._deepgrad_model(name).count_params() > 0
