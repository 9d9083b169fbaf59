"""Compiled steps (``compile(jit_compile=...)``): replayed steps give the eager numbers bit for bit.

Each test trains the same model twice from the same seed, once eagerly (``jit_compile=False``)
and once recorded and replayed, and compares the logs and every weight exactly; the status
says whether the step was replayed or, for families without replay kernels, why it fell back.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import layers as L
from deepgrad import optimizers
from deepgrad.models import Model, Sequential, compiled
from deepgrad.ops import replay
from deepgrad.tensor import RecordedWalk

RNG = np.random.default_rng(0)
FLAT = RNG.standard_normal((40, 6)).astype(np.float32)
SEQ = RNG.standard_normal((40, 5, 4)).astype(np.float32)
IMAGES = RNG.standard_normal((24, 8, 8, 3)).astype(np.float32)
CLASSES = RNG.integers(0, 3, 40)
BINARY = (FLAT[:, 0] * FLAT[:, 1] > 0).astype(np.float32)


def _train(make_layers, x, y, jit, loss="sparse_categorical_crossentropy", optimizer="adam", metrics=None,
           epochs=3, batch_size=8):
    dg.manual_seed(0)
    made = make_layers()
    model = made if isinstance(made, Model) else Sequential(made)
    model.compile(optimizer=optimizer() if callable(optimizer) else optimizer, loss=loss, metrics=metrics,
                  jit_compile=jit)
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
    return model, history.history


def _assert_same(make_layers, x, y, replayed=True, **kwargs):
    eager, eager_logs = _train(make_layers, x, y, False, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # jit_compile=True warns when it falls back (tested below)
        compiled, compiled_logs = _train(make_layers, x, y, True, **kwargs)
    assert compiled_logs == eager_logs
    assert len(compiled.weights) == len(eager.weights)
    for a, b in zip(eager.weights, compiled.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    status = compiled.jit_status()
    train_status = [v for k, v in status.items() if k.startswith("train")]
    assert train_status
    if replayed:
        assert all(v == "replayed" for v in train_status), status
    else:
        assert all(v != "replayed" for v in train_status), status
    # inference: the recorded forward pass (or its fallback) gives the eager outputs, twice
    np.testing.assert_array_equal(compiled.predict(x[:1]), eager.predict(x[:1]))
    np.testing.assert_array_equal(compiled.predict(x[:1]), eager.predict(x[:1]))
    np.testing.assert_array_equal(compiled.predict(x, batch_size=16), eager.predict(x, batch_size=16))
    return compiled


FAMILIES = {
    "dense": (lambda: [L.Input((6,)), L.Dense(8, activation="relu"), L.Dense(8, activation="tanh"),
                       L.Dense(3, activation="softmax")], FLAT),
    "activations": (lambda: [L.Input((6,)), L.Dense(8, activation="elu"), L.Dense(8, activation="gelu"),
                             L.Dense(8, activation="selu"), L.Dense(8, activation="swish"), L.LeakyReLU(),
                             L.Dense(3, activation="softmax")], FLAT),
    "dropout_and_noise": (lambda: [L.Input((6,)), L.Dense(8, activation="relu"), L.Dropout(0.3),
                                   L.GaussianNoise(0.2), L.Dense(8, activation="selu"), L.AlphaDropout(0.2),
                                   L.Dense(3, activation="softmax")], FLAT),
    "batch_normalization": (lambda: [L.Input((6,)), L.Dense(8), L.BatchNormalization(), L.Activation("relu"),
                                     L.Dense(3, activation="softmax")], FLAT),
    "layer_normalization": (lambda: [L.Input((5, 4)), L.LayerNormalization(), L.Flatten(),
                                     L.Dense(3, activation="softmax")], SEQ),
    "attention": (lambda: _attention_layers(), SEQ),
    "convolution": (lambda: [L.Input((8, 8, 3)), L.Conv2D(4, 3, activation="relu"), L.DepthwiseConv2D(3),
                             L.Conv2DTranspose(2, 3, strides=2), L.Flatten(), L.Dense(3, activation="softmax")],
                    IMAGES),
    "pooling": (lambda: [L.Input((8, 8, 3)), L.MaxPooling2D(), L.AveragePooling2D(), L.GlobalAveragePooling2D(),
                         L.Dense(3, activation="softmax")], IMAGES),
    "recurrent": (lambda: [L.Input((5, 4)), L.LSTM(6, return_sequences=True), L.GRU(5, return_sequences=True),
                           L.GRU(4, reset_after=False, return_sequences=True), L.SimpleRNN(3),
                           L.Dense(3, activation="softmax")], SEQ),
    "embedding": (lambda: [L.Input((5,), dtype="int64"), L.Embedding(10, 4), L.LSTM(4),
                           L.Dense(3, activation="softmax")], RNG.integers(0, 10, (40, 5))),
    "regularized": (lambda: [L.Input((6,)), L.Dense(8, activation="relu", kernel_regularizer="l2",
                                                    bias_regularizer="l1", activity_regularizer="l1_l2"),
                             L.Dense(3, activation="softmax")], FLAT),
}


def _attention_layers():
    inputs = L.Input((5, 4))
    attended = L.MultiHeadAttention(num_heads=2, key_dim=3)(inputs, inputs)
    outputs = L.Dense(3, activation="softmax")(L.GlobalAveragePooling1D()(attended))
    return Model(inputs, outputs)  # functional: the softmax output is fused with its loss


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_replayed_training_matches_eager_bit_for_bit(family):
    make_layers, x = FAMILIES[family]
    model = _assert_same(make_layers, x, CLASSES[:len(x)], metrics=["accuracy"])
    if family in ("dense", "activations", "dropout_and_noise", "batch_normalization", "attention"):
        # the backward pass ran as planned kernels (not the walk over the kept graph)
        assert all(not isinstance(p.backward, RecordedWalk) for p in model._compiled_steps.programs.values()
                   if p.backward is not None)


@pytest.mark.parametrize("family", ["dropout_and_noise", "attention", "batch_normalization"])
def test_the_walk_over_the_kept_graph_matches_eager_too(family, monkeypatch):
    monkeypatch.setattr(compiled, "plan_backward", lambda *args: None)
    make_layers, x = FAMILIES[family]
    model = _assert_same(make_layers, x, CLASSES[:len(x)])
    assert any(isinstance(p.backward, RecordedWalk) for p in model._compiled_steps.programs.values())


def test_ops_without_replay_kernels_fall_back_to_eager_with_the_reason():
    class Reversed(L.Layer):  # fancy indexing: an op a replay cannot refresh
        def call(self, inputs):
            return inputs[:, np.arange(inputs.shape[1])[::-1]]

    make = lambda: [L.Input((6,)), Reversed(), L.Dense(3, activation="softmax")]  # noqa: E731
    model = _assert_same(make, FLAT, CLASSES, replayed=False, epochs=1)
    assert any("the op 'getitem' has no replay kernel" in v for v in model.jit_status().values())


OPTIMIZERS = ["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "ftrl", "lion",
              "lamb", "adafactor"]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_gives_the_same_steps_replayed(name):
    _assert_same(FAMILIES["dense"][0], FLAT, CLASSES, optimizer=name, epochs=2)


def test_clipping_schedules_momentum_and_binary_metrics_replay_exactly():
    def optimizer():
        schedule = optimizers.schedules.ExponentialDecay(0.05, decay_steps=3, decay_rate=0.5)
        return optimizers.SGD(learning_rate=schedule, momentum=0.9, nesterov=True, clipnorm=0.5)

    _assert_same(lambda: [L.Input((6,)), L.Dense(8, activation="relu"), L.Dense(1, activation="sigmoid")],
                 FLAT, BINARY, loss="binary_crossentropy", optimizer=optimizer,
                 metrics=["accuracy", "auc", "precision"])
    _assert_same(lambda: [L.Input((6,)), L.Dense(8, activation="relu"), L.Dense(1)], FLAT, BINARY,
                 loss="mse", optimizer=lambda: optimizers.Adam(clipvalue=0.01, weight_decay=0.01),
                 metrics=["mae"])


def test_dropout_masks_follow_the_generator_stream_over_many_replays():
    make = FAMILIES["dropout_and_noise"][0]
    _assert_same(make, FLAT, CLASSES, epochs=12, batch_size=40)  # one recording, eleven replays


def test_auto_replays_sequential_models_and_runs_subclassed_ones_eagerly():
    class Branchy(Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(3, activation="softmax")

        def call(self, inputs, training=False):
            if float(inputs.data.sum()) > 0:  # data-dependent Python control flow
                return self.dense(inputs)
            return self.dense(-inputs)

    dg.manual_seed(0)
    model = Branchy()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")  # jit_compile='auto'
    model.fit(FLAT, CLASSES, batch_size=8, epochs=1, verbose=0)
    (reason,) = set(model.jit_status().values())
    assert "subclassed" in reason

    sequential = Sequential([L.Input((6,)), L.Dense(3, activation="softmax")])
    sequential.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    sequential.fit(FLAT, CLASSES, batch_size=8, epochs=1, verbose=0)
    assert set(sequential.jit_status().values()) == {"replayed"}


def test_custom_layers_run_eagerly_under_auto_and_jit_compile_true_warns_with_the_reason():
    class Scale(L.Layer):
        def call(self, inputs):
            return inputs * dg.Tensor(np.full(inputs.shape, 2.0, dtype=np.float32))  # not refreshable

    def make():
        return [L.Input((6,)), Scale(), L.Dense(3, activation="softmax")]

    dg.manual_seed(0)
    model = Sequential(make())
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(FLAT, CLASSES, batch_size=8, epochs=1, verbose=0)
    assert all("defined outside deepgrad" in v for v in model.jit_status().values())

    model = Sequential(make())
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=True)
    with pytest.warns(UserWarning, match="runs this step eagerly: the op 'mul' reads an array made outside"):
        model.fit(FLAT, CLASSES, batch_size=8, epochs=1, verbose=0)


def test_observed_layers_switch_the_step_to_eager_and_say_so():
    dg.manual_seed(0)
    model = Sequential([L.Input((6,)), L.Dense(8, activation="relu"), L.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    monitor = dg.diagnostics.GradientMonitor()
    model.fit(FLAT, CLASSES, batch_size=8, epochs=1, verbose=0, callbacks=[monitor])
    assert any("observed" in v for v in model.jit_status().values())
    model.fit(FLAT, CLASSES, batch_size=8, epochs=1, verbose=0)  # no observer: replayed again
    assert "replayed" in model.jit_status().values()


def test_new_weights_arrays_make_the_step_record_again():
    dg.manual_seed(0)
    model = Sequential([L.Input((6,)), L.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    first = model.predict(FLAT[:2])
    kernel = model.layers[0].kernel
    kernel.data = kernel.data * 2  # a new array: the recorded forward pass must not read the old one
    second = model.predict(FLAT[:2])
    with dg.no_grad():
        expected = model(dg.Tensor(FLAT[:2])).numpy()
    np.testing.assert_array_equal(second, expected)
    assert not np.array_equal(first, second)


def test_run_eagerly_and_jit_compile_false_record_nothing_and_bad_settings_are_rejected():
    model = Sequential([L.Input((6,)), L.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=True)
    model.fit(FLAT, CLASSES, batch_size=8, epochs=1, verbose=0)
    assert model.jit_status() == {}
    with pytest.raises(ValueError, match="jit_compile must be True, False or 'auto'"):
        model.compile(optimizer="adam", loss="mse", jit_compile="xla")


def test_the_recorder_refuses_ops_without_kernels_and_unknown_arrays():
    x = dg.Tensor(np.ones((2, 3), np.float32))
    recorder = replay.Recorder(persistent=[x.data])
    with recorder:
        y = x * 2.0
        _ = y + dg.Tensor(np.ones((2, 3), np.float32))
    assert "reads an array made outside the recorded ops" in recorder.failure
    recorder = replay.Recorder(persistent=[x.data])
    with recorder:
        dg.ops.sampling.gaussian_sample(x, x, np.zeros((2, 3), np.float32))
    assert "has no replay kernel" in recorder.failure
    recorder = replay.Recorder(persistent=[x.data])
    with recorder:
        z = (x * 3.0).reshape(3, 2).T.sum(axis=0)
    assert recorder.failure is None
    x.data[...] = 2.0
    for step in recorder.steps:
        step()
    np.testing.assert_array_equal(z.data, np.full(3, 12.0, np.float32))


def test_a_model_with_recorded_steps_pickles_and_copies_without_them():
    import copy
    import pickle

    dg.manual_seed(0)
    model = Sequential([L.Input((6,)), L.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(FLAT, CLASSES, batch_size=8, epochs=1, verbose=0)
    assert model._compiled_steps.programs
    for twin in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert not twin._compiled_steps.programs and twin._compiled_steps.model is twin
        np.testing.assert_array_equal(twin.predict(FLAT[:4]), model.predict(FLAT[:4]))


def test_arrays_backed_by_bytes_are_inputs_like_any_other():
    x = np.frombuffer(bytearray(FLAT.tobytes()), dtype=np.float32).reshape(FLAT.shape)  # its base is a bytearray
    dg.manual_seed(0)
    model = Sequential([L.Input((6,)), L.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, CLASSES, batch_size=8, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.predict(x[:4]), model.predict(FLAT[:4]))
    assert "replayed" in model.jit_status().values()


def test_a_tensor_used_twice_by_one_op_gets_both_gradients():
    class Twice(L.Layer):  # x - x * x: the same tensor is both parents of two ops
        def call(self, inputs):
            return inputs - inputs * inputs

    def make():
        return [L.Input((6,)), L.Dense(4), Twice(), L.Dense(3, activation="softmax")]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _assert_same(make, FLAT, CLASSES)


def test_explain_step_between_fits_leaves_replay_and_eager_equal():
    models = []
    for jit in (False, True):
        dg.manual_seed(0)
        model = Sequential([L.Input((6,)), L.Dense(8, activation="relu"), L.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit)
        model.fit(FLAT, CLASSES, batch_size=8, epochs=1, verbose=0)
        trace = dg.diagnostics.explain_step(model, FLAT[:4], CLASSES[:4], apply=True)  # eager, by design
        assert trace is not None
        model.fit(FLAT, CLASSES, batch_size=8, epochs=1, verbose=0)
        models.append(model)
    for a, b in zip(models[0].weights, models[1].weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert set(models[1].jit_status().values()) == {"replayed"}


def test_auto_leaves_ops_called_again_to_eager_execution_and_says_why():
    make, x = FAMILIES["convolution"]
    dg.manual_seed(0)
    model = Sequential(make())
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")  # 'auto'
    model.fit(x, CLASSES[:len(x)], batch_size=8, epochs=1, verbose=0)
    model.predict(x[:2])
    reasons = set(model.jit_status().values())
    assert len(reasons) == 1 and "measured slower replayed than eager" in reasons.pop()
