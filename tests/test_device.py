"""The 'cuda' code path on the CPU: device plumbing, host transfers and results against the CPU.

Every test here runs on a stand-in device (tests/fake_cupy.py: NumPy arrays underneath, CuPy's
rules enforced, transfers counted), so the device path is exercised on machines without a GPU.
What only a real GPU can show (the CUDA kernels compiling and running, timings) is in
tests/test_gpu.py, which runs with CuPy and a device.
"""

from __future__ import annotations

import fake_cupy
import numpy as np
import pytest

import deepgrad as dg
from deepgrad import backend
from deepgrad.models import training


@pytest.fixture
def device():
    """The stand-in device installed as CuPy, with 'cuda' as the default device."""
    with fake_cupy.installed() as cupy:
        dg.set_default_device("cuda")
        yield cupy


def _data(rng, n=48, features=6, classes=3):
    return rng.standard_normal((n, features)).astype(np.float32), rng.integers(0, classes, n)


def _mlp(optimizer="adam", metrics=("accuracy",)):
    dg.manual_seed(7)
    model = dg.Sequential([dg.layers.Input((6,)), dg.layers.Dense(16, activation="relu"),
                           dg.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=list(metrics))
    return model


def _on_both(build, run):
    """``run(build())`` on the CPU, then with 'cuda' as the default device: (cpu result, device result)."""
    results = []
    for on_device in (False, True):
        with fake_cupy.installed():
            if on_device:
                dg.set_default_device("cuda")
            results.append(run(build()))
    return results


# --------------------------------------------------------------------------- the stand-in itself

def test_the_stand_in_enforces_cupys_rules(device):
    x = device.asarray(np.arange(4.0))
    assert backend.namespace(x) is device and backend.device_of(x) == "cuda"
    assert fake_cupy.transfers["to_device"] == 1
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(x)
    with pytest.raises(TypeError, match="mixes a device array with a host array"):
        x + np.ones(4)
    with pytest.raises(TypeError, match="numpy.concatenate called on a device array"):
        np.concatenate([x, x])
    assert type(device.concatenate([x, x])) is fake_cupy.ndarray
    assert type(x.sum()) is fake_cupy.ndarray and x.sum().ndim == 0  # 0-d device arrays, not scalars
    assert backend.to_numpy(x).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert fake_cupy.transfers["to_host"] == 1


def test_default_device_tensors_and_moves(device):
    t = dg.tensor([1.0, 2.0], requires_grad=True)
    assert t.device == "cuda" and type(t.data) is fake_cupy.ndarray
    moved = t.to("cpu")
    assert moved.device == "cpu" and type(moved.data) is np.ndarray
    (moved * 3).sum().backward()
    assert backend.device_of(t.grad) == "cuda"
    np.testing.assert_array_equal(backend.to_numpy(t.grad), [3.0, 3.0])
    assert isinstance(t.numpy(), np.ndarray) and type(t.numpy()) is np.ndarray


def test_model_to_moves_the_weights_in_place(rng):
    with fake_cupy.installed():
        model = _mlp()
        kernel = model.layers[0].kernel
        assert model.device == "cpu"
        assert model.to("cuda") is model and model.device == "cuda"
        assert model.layers[0].kernel is kernel and kernel.device == "cuda"
        x, y = _data(rng)
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        with pytest.raises(ValueError, match="move the model before training"):
            model.to("cpu")
        assert all(type(w) is np.ndarray for w in model.get_weights())


# --------------------------------------------------------------------------- transfers per step

def _count_step_transfers(model, x, y, monkeypatch):
    """Transfers made inside each training step: a list of Counters, one per step."""
    per_step = []
    original = training.train_step

    def counted(*args):
        before = fake_cupy.transfers.copy()
        result = original(*args)
        per_step.append(fake_cupy.transfers - before)
        return result

    monkeypatch.setattr(training, "train_step", counted)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return per_step


def test_a_training_step_copies_the_batch_once_and_reads_nothing_back(device, rng, monkeypatch):
    x, y = _data(rng)
    model = _mlp(metrics=())
    per_step = _count_step_transfers(model, x, y, monkeypatch)
    assert len(per_step) == 6
    assert per_step[0]["to_host"] == 0  # the first step also builds the optimizer (its segment offsets)
    for counts in per_step[1:]:
        assert counts == {"to_device": 2}  # x and y of the batch: no host round trip, no loss read
    assert fake_cupy.numpy_calls == {}


def test_compiled_metrics_read_only_the_predictions(device, rng, monkeypatch):
    x, y = _data(rng)
    per_step = _count_step_transfers(_mlp(), x, y, monkeypatch)
    for counts in per_step[1:]:
        assert counts == {"to_device": 2, "to_host": 1}  # the output, for the host-side metrics


def test_fit_evaluate_predict_match_the_cpu_and_return_numpy(rng):
    x, y = _data(rng)

    def run(model):
        history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        evaluated = model.evaluate(x, y, verbose=0, return_dict=True)
        predicted = model.predict(x, verbose=0, batch_size=16)
        small = model.predict(x[:4], verbose=0)
        assert type(predicted) is np.ndarray and type(small) is np.ndarray
        assert all(type(w) is np.ndarray for w in model.get_weights())
        assert all(type(v) is float for v in evaluated.values())
        return history.history, evaluated, predicted, model.get_weights()

    (h_cpu, e_cpu, p_cpu, w_cpu), (h_dev, e_dev, p_dev, w_dev) = _on_both(_mlp, run)
    for key in h_cpu:
        np.testing.assert_allclose(h_dev[key], h_cpu[key], rtol=1e-5)
    for key in e_cpu:
        assert e_dev[key] == pytest.approx(e_cpu[key], rel=1e-5)
    np.testing.assert_allclose(p_dev, p_cpu, rtol=1e-5, atol=1e-6)
    for a, b in zip(w_dev, w_cpu):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
