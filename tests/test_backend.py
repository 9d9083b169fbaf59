"""Backends and devices: NumPy on 'cpu', CuPy on 'cuda' (skipped where CuPy or a GPU is missing)."""

import importlib.util

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import backend

HAS_CUPY = importlib.util.find_spec("cupy") is not None
needs_gpu = pytest.mark.skipif(not (HAS_CUPY and dg.cuda_available()),
                               reason="needs CuPy and a CUDA device")


def test_namespace_and_device_of_numpy_arrays():
    assert backend.namespace(np.zeros(2)) is np
    assert backend.device_of(np.zeros(2)) == "cpu"
    assert dg.get_default_device() == "cpu"
    assert dg.zeros(2).device == "cpu"


@pytest.mark.parametrize("name, expected", [("cpu", "cpu"), ("CPU", "cpu"), ("cuda", "cuda"),
                                            ("cuda:1", "cuda"), ("gpu", "cuda"), (None, "cpu")])
def test_parse_device(name, expected):
    assert backend.parse_device(name) == expected


def test_unknown_device_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown device 'tpu'; expected one of \['cpu', 'cuda'\]"):
        dg.tensor([1.0], device="tpu")


def test_to_cpu_is_identity():
    t = dg.tensor([1.0], requires_grad=True)
    assert t.to("cpu") is t and t.cpu() is t


@pytest.mark.skipif(HAS_CUPY, reason="CuPy is installed here")
def test_cuda_without_cupy_says_how_to_install():
    for attempt in (lambda: dg.set_default_device("cuda"), lambda: dg.tensor([1.0], device="cuda"),
                    lambda: dg.zeros(2, device="cuda"), lambda: dg.tensor([1.0]).cuda()):
        with pytest.raises(RuntimeError, match=r"needs CuPy.*pip install"):
            attempt()
    assert dg.get_default_device() == "cpu"
    assert not dg.cuda_available()


def test_generators_follow_manual_seed():
    dg.manual_seed(3)
    first = backend.new_generator().standard_normal(3)
    dg.manual_seed(3)
    np.testing.assert_array_equal(backend.new_generator().standard_normal(3), first)
    np.testing.assert_array_equal(backend.new_generator(5).random(2),
                                  np.random.default_rng(5).random(2))


@needs_gpu
def test_gpu_forward_and_backward_match_cpu(rng):
    import cupy

    data = rng.standard_normal((4, 3)).astype(np.float32)
    weights = rng.standard_normal((3, 2)).astype(np.float32)
    results = {}
    for device in ("cpu", "cuda"):
        x = dg.tensor(data, device=device)
        w = dg.tensor(weights, device=device, requires_grad=True)
        loss = dg.softmax_cross_entropy((x @ w).relu() + w.sum(), np.array([0, 1, 1, 0]))
        loss.backward()
        results[device] = (loss.item(), backend.to_numpy(w.grad))
        assert w.device == device
        if device == "cuda":
            assert isinstance(w.grad, cupy.ndarray) and backend.namespace(w.data) is cupy
    assert results["cuda"][0] == pytest.approx(results["cpu"][0], rel=1e-5)
    np.testing.assert_allclose(results["cuda"][1], results["cpu"][1], rtol=1e-4, atol=1e-6)


@needs_gpu
def test_gpu_default_device_and_transfer_gradient():
    dg.set_default_device("cuda")
    t = dg.ones(3, requires_grad=True)
    assert t.device == "cuda"
    dg.set_default_device("cpu")
    moved = t.to("cpu")
    assert moved.device == "cpu"
    (moved * 2).sum().backward()
    assert t.device == "cuda" and backend.device_of(t.grad) == "cuda"
    np.testing.assert_array_equal(backend.to_numpy(t.grad), [2.0, 2.0, 2.0])


def test_seeded_block_repeats_and_restores_the_outer_stream():
    import deepgrad as dg

    dg.manual_seed(5)
    expected_outer = dg.randn(3).numpy()
    dg.manual_seed(5)
    with dg.backend.seeded(11):
        inner = dg.randn(3).numpy()
    with dg.backend.seeded(11):
        assert np.array_equal(dg.randn(3).numpy(), inner)
    assert np.array_equal(dg.randn(3).numpy(), expected_outer)
