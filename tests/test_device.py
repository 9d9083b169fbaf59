"""The 'cuda' code path: device plumbing, host transfers and results against the CPU.

By default every test here runs on a stand-in device (tests/fake_cupy.py: NumPy arrays underneath,
CuPy's rules enforced, transfers counted), so the device path is exercised on machines without a
GPU. With ``--device cuda`` (``DEEPGRAD_TEST_DEVICE=cuda``) and CuPy seeing a GPU, the same
comparisons run on the real device; the tests that count transfers need the stand-in and skip there.
"""

from __future__ import annotations

import contextlib

import fake_cupy
import numpy as np
import pytest

import deepgrad as dg
from deepgrad import backend
from deepgrad.models import training

_REAL_GPU = []  # holds True while the suite runs with --device cuda


@pytest.fixture(autouse=True)
def _which_device(request):
    _REAL_GPU[:] = [request.config.getoption("--device") == "cuda"]


@contextlib.contextmanager
def _installed():
    """CuPy on a real GPU run, else the stand-in installed as CuPy; the CPU is the default device after."""
    if _REAL_GPU and _REAL_GPU[0]:
        try:
            yield backend._cupy()
        finally:
            dg.set_default_device("cpu")
    else:
        with fake_cupy.installed() as cupy:
            yield cupy


@pytest.fixture
def stand_in():
    """The stand-in device installed as CuPy with 'cuda' as the default device (skips on a real GPU run)."""
    if _REAL_GPU and _REAL_GPU[0]:
        pytest.skip("counts transfers through the CuPy stand-in")
    with fake_cupy.installed() as cupy:
        dg.set_default_device("cuda")
        yield cupy


@pytest.fixture
def device():
    """The device module (CuPy, or its stand-in) with 'cuda' as the default device."""
    with _installed() as cupy:
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
        with _installed():
            if on_device:
                dg.set_default_device("cuda")
            model = build()
            assert model.device == ("cuda" if on_device else "cpu")
            results.append(run(model))
    return results


# --------------------------------------------------------------------------- the stand-in itself

def test_the_stand_in_enforces_cupys_rules(stand_in):
    device = stand_in
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
    assert t.device == "cuda" and backend.namespace(t.data) is device
    moved = t.to("cpu")
    assert moved.device == "cpu" and type(moved.data) is np.ndarray
    (moved * 3).sum().backward()
    assert backend.device_of(t.grad) == "cuda"
    np.testing.assert_array_equal(backend.to_numpy(t.grad), [3.0, 3.0])
    assert isinstance(t.numpy(), np.ndarray) and type(t.numpy()) is np.ndarray


def test_model_to_moves_the_weights_in_place(rng):
    with _installed():
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


def test_a_training_step_copies_the_batch_once_and_reads_nothing_back(stand_in, rng, monkeypatch):
    x, y = _data(rng)
    model = _mlp(metrics=())
    per_step = _count_step_transfers(model, x, y, monkeypatch)
    assert len(per_step) == 6
    assert per_step[0]["to_host"] == 0  # the first step also builds the optimizer (its segment offsets)
    for counts in per_step[1:]:
        assert counts == {"to_device": 2}  # x and y of the batch: no host round trip, no loss read
    assert fake_cupy.numpy_calls == {}


def test_compiled_metrics_read_only_the_predictions(stand_in, rng, monkeypatch):
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


# --------------------------------------------------------------------------- the suite's families on the device

def _convnet():
    dg.manual_seed(3)
    model = dg.Sequential([dg.layers.Input((8, 8, 2)), dg.layers.Conv2D(4, 3, activation="relu"),
                           dg.layers.MaxPooling2D(2), dg.layers.Conv2D(4, 2, padding="same", use_bias=False),
                           dg.layers.BatchNormalization(), dg.layers.Dropout(0.2), dg.layers.Flatten(),
                           dg.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _recurrent(kind):
    def build():
        dg.manual_seed(4)
        model = dg.Sequential([dg.layers.Input((5,), dtype="int64"), dg.layers.Embedding(10, 4, mask_zero=True),
                               getattr(dg.layers, kind)(6), dg.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
        return model

    return build


def _attention():
    dg.manual_seed(5)
    inputs = dg.layers.Input((4, 6))
    attended = dg.layers.MultiHeadAttention(num_heads=2, key_dim=3)(inputs, inputs)
    normed = dg.layers.LayerNormalization()(dg.layers.Add()([inputs, attended]))
    pooled = dg.layers.GlobalAveragePooling1D()(normed)
    model = dg.Model(inputs, dg.layers.Dense(3, activation="softmax")(pooled))
    model.compile(optimizer="adamw", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _family_data(name, rng):
    if name == "convnet":
        return rng.standard_normal((32, 8, 8, 2)).astype(np.float32), rng.integers(0, 3, 32)
    if name == "attention":
        return rng.standard_normal((32, 4, 6)).astype(np.float32), rng.integers(0, 3, 32)
    return rng.integers(0, 10, (32, 5)), rng.integers(0, 2, 32).astype(np.float32)


FAMILIES = {"convnet": _convnet, "lstm": _recurrent("LSTM"), "gru": _recurrent("GRU"),
            "simple_rnn": _recurrent("SimpleRNN"), "attention": _attention}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_network_families_train_on_the_device_as_on_the_cpu(name, rng, monkeypatch):
    x, y = _family_data(name, rng)

    def run(model):
        history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        predicted = model.predict(x, verbose=0, batch_size=16)
        assert type(predicted) is np.ndarray
        return history.history, predicted, model.get_weights()

    (h_cpu, p_cpu, w_cpu), (h_dev, p_dev, w_dev) = _on_both(FAMILIES[name], run)
    assert fake_cupy.numpy_calls == {}
    # the device runs Adam as one kernel (the CPU, for these small models, as NumPy passes): the same
    # equations rounded in another order, which Adam's division by sqrt(v) magnifies over the steps
    for key in h_cpu:
        np.testing.assert_allclose(h_dev[key], h_cpu[key], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(p_dev, p_cpu, rtol=1e-3, atol=1e-4)
    for a, b in zip(w_dev, w_cpu):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


OPTIMIZERS = ["sgd", "rmsprop", "adam", "adamw", "adagrad", "adadelta", "adamax", "nadam", "lion", "lars", "lamb",
              "ftrl", "adafactor"]


def _optimizer_cases():
    cases = [(name, {}) for name in OPTIMIZERS]
    cases += [("sgd", {"momentum": 0.9, "nesterov": True}), ("sgd", {"momentum": 0.9, "clipnorm": 0.5}),
              ("adam", {"amsgrad": True, "global_clipnorm": 1.0}), ("adam", {"use_ema": True, "clipvalue": 0.1}),
              ("adamw", {"weight_decay": 0.01, "gradient_accumulation_steps": 2})]
    return cases


@pytest.mark.parametrize("name, options", _optimizer_cases(),
                         ids=[f"{n}-{'-'.join(o) or 'default'}" for n, o in _optimizer_cases()])
def test_every_optimizer_steps_on_the_device_as_on_the_cpu(name, options, rng):
    x, y = _data(rng)

    def build():
        optimizer = dg.optimizers.get({"class_name": name, "config": options})
        return _mlp(optimizer=optimizer, metrics=())

    def run(model):
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        return model.get_weights()

    cpu, on_device = _on_both(build, run)
    assert fake_cupy.numpy_calls == {}
    for a, b in zip(on_device, cpu):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)  # fused kernels round in another order


LOSSES = ["mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
          "mean_squared_logarithmic_error", "huber", "log_cosh", "quantile", "cosine_similarity",
          "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy", "kl_divergence",
          "poisson", "hinge", "squared_hinge", "categorical_hinge", "categorical_focal_crossentropy", "dice",
          "tversky", "sparse_categorical_crossentropy"]


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("as_object", [False, True], ids=["function", "class"])
def test_every_loss_and_its_gradient_on_the_device_match_the_cpu(name, as_object, rng):
    y_pred = rng.uniform(0.05, 0.95, (6, 4)).astype(np.float32)
    y_true = (rng.integers(0, 4, 6) if name.startswith("sparse")
              else np.eye(4, dtype=np.float32)[rng.integers(0, 4, 6)])
    results = []
    for on_device in (False, True):
        with _installed():
            if on_device:
                dg.set_default_device("cuda")
            loss = dg.losses.get(name)
            if as_object:
                loss = dg.losses.get({"class_name": type(dg.losses.get(name)).__name__, "config": {}}) \
                    if isinstance(loss, dg.losses.Loss) else dg.losses.LossFunctionWrapper(loss)
            prediction = dg.tensor(y_pred, requires_grad=True)
            value = loss(y_true, prediction)
            value.sum().backward()
            assert backend.device_of(prediction.grad) == ("cuda" if on_device else "cpu")
            results.append((backend.to_numpy(value.data), backend.to_numpy(prediction.grad)))
            assert fake_cupy.numpy_calls == {}
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-5, atol=1e-7)


def test_metrics_take_device_arrays_and_give_numpy(rng):
    y_true = rng.integers(0, 2, (20, 1)).astype(np.float32)
    y_pred = rng.uniform(0, 1, (20, 1)).astype(np.float32)
    names = ["binary_accuracy", "AUC", "Precision", "Recall", "mae", "mse", "binary_crossentropy", "F1Score"]
    results = []
    for on_device in (False, True):
        with _installed() as cupy:
            move = cupy.asarray if on_device else np.asarray
            values = []
            for name in names:
                metric = dg.metrics.get(name)
                metric.update_state(move(y_true), move(y_pred))
                result = metric.result()
                result = result.numpy() if isinstance(result, dg.Tensor) else result
                assert backend.namespace(result) is np
                values.append(np.asarray(result, dtype=np.float64))
            results.append(values)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_save_and_load_a_device_model(rng, tmp_path):
    x, y = _data(rng)
    with _installed():
        dg.set_default_device("cuda")
        model = _mlp()
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        expected = model.predict(x, verbose=0)
        model.save(tmp_path / "model.keras")
        loaded = dg.models.load_model(tmp_path / "model.keras")
        assert loaded.device == "cuda"
        np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6)
        loaded.fit(x, y, epochs=1, batch_size=16, verbose=0)  # the optimizer state came back on the device
        dg.set_default_device("cpu")
        on_cpu = dg.models.load_model(tmp_path / "model.keras")
        assert on_cpu.device == "cpu"
        np.testing.assert_allclose(on_cpu.predict(x, verbose=0), expected, rtol=1e-6)


def test_indexing_and_concatenation_keep_host_indices_off_the_device_arrays(device):
    x = dg.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    picked = x[np.array([2, 0, 2])]
    joined = dg.concatenate([picked, x[np.array([True, False, True])]], axis=0)
    (joined * 2).sum().backward()
    np.testing.assert_array_equal(backend.to_numpy(x.grad), [[4.0] * 4, [0.0] * 4, [6.0] * 4])
    assert (x == np.arange(12.0).reshape(3, 4)).numpy().all()
