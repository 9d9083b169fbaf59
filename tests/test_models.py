import numpy as np
import pytest

import deepgrad as dg
from deepgrad import callbacks, optimizers, regularizers
from deepgrad.datasets import load_digits, standardize, train_test_split
from deepgrad.layers import BatchNormalization, Concatenate, Dense, Dropout, Flatten, Input, Lambda
from deepgrad.models import Model, Sequential


@pytest.fixture(autouse=True)
def fresh_names():
    dg.backend.clear_session()
    dg.manual_seed(0)


def test_summary_matches_keras_for_the_course_model():
    model = Sequential()
    model.add(Dense(3, input_dim=11))
    model.add(Dense(1))
    text = model.summary(print_fn=lambda s: None)
    lines = text.splitlines()
    assert lines[0] == 'Model: "sequential"'
    assert "Layer (type)" in lines[2] and "Output Shape" in lines[2] and "Param #" in lines[2]
    rows = [line for line in lines if "(Dense)" in line]
    assert "dense (Dense)" in rows[0] and "(None, 3)" in rows[0] and rows[0].rstrip("│ ").endswith("36")
    assert "dense_1 (Dense)" in rows[1] and "(None, 1)" in rows[1] and rows[1].rstrip("│ ").endswith("4")
    assert " Total params: 40 (160.00 B)" in lines
    assert " Trainable params: 40 (160.00 B)" in lines
    assert " Non-trainable params: 0 (0.00 B)" in lines


def test_summary_counts_batchnorm_moving_statistics_as_non_trainable():
    model = Sequential([Dense(3, activation="relu", input_dim=2), BatchNormalization(),
                        Dense(2, activation="relu"), BatchNormalization(), Dense(1, activation="sigmoid")])
    text = model.summary(print_fn=lambda s: None)
    # dense 9, bn 12 (6 trainable), dense 8, bn 8 (4 trainable), dense 3
    assert " Total params: 40 (160.00 B)" in text
    assert " Trainable params: 30 (120.00 B)" in text
    assert " Non-trainable params: 10 (40.00 B)" in text


def test_flatten_model_of_the_course_builds_from_input_shape():
    model = Sequential()
    model.add(Flatten(input_shape=(28, 28)))
    model.add(Dense(128, activation="relu"))
    model.add(Dense(32, activation="relu"))
    model.add(Dense(10, activation="softmax"))
    assert model.count_params() == 784 * 128 + 128 + 128 * 32 + 32 + 32 * 10 + 10
    assert model.output_shape == (None, 10)


def test_xor_is_solved_by_a_small_mlp():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0], dtype=np.float32)
    model = Sequential([Dense(8, activation="tanh", input_dim=2), Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.05), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=300, batch_size=4, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
    assert np.array_equal((model.predict(x) > 0.5).astype(int).ravel(), [0, 1, 1, 0])
    assert set(history.history) == {"loss", "accuracy"}
    assert len(history.history["loss"]) == 300


@pytest.mark.slow
def test_digits_mlp_reaches_97_percent_with_validation_and_early_stopping():
    x, y = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    x_train, x_test = standardize(x_train, x_test)
    model = Sequential([Dense(256, activation="relu", input_dim=64, kernel_regularizer=regularizers.l2(1e-4)),
                        BatchNormalization(), Dropout(0.3), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
    history = model.fit(x_train, y_train, epochs=100, batch_size=32, validation_split=0.1,
                        callbacks=stop, verbose=0)
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history.history)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.97
    assert loss < 0.2


def test_validation_split_holds_out_the_last_samples():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = x.copy()
    seen = []

    class Spy(Dense):
        def call(self, inputs, training=False):
            if training:
                seen.extend(inputs.numpy().ravel().tolist())
            return super().call(inputs, training)

    model = Sequential([Spy(1, input_dim=1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, batch_size=2, validation_split=0.2, verbose=0)
    assert sorted(seen) == list(range(8))


def test_regularization_penalty_shows_in_the_logged_loss():
    x = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    y = np.zeros((32, 1), dtype=np.float32)
    plain = Sequential([Dense(1, input_dim=4, kernel_initializer="ones")])
    regular = Sequential([Dense(1, input_dim=4, kernel_initializer="ones",
                                kernel_regularizer=regularizers.l2(0.01))])
    for model in (plain, regular):
        model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="mse")
    loss_plain = plain.evaluate(x, y, verbose=0)
    loss_regular = regular.evaluate(x, y, verbose=0)
    assert loss_regular == pytest.approx(loss_plain + 0.01 * 4, rel=1e-5)


def test_get_and_set_weights_as_in_the_course():
    model = Sequential([Dense(10, activation="relu", input_dim=2, kernel_initializer="he_uniform")]
                       + [Dense(10, activation="relu", kernel_initializer="he_normal") for _ in range(3)]
                       + [Dense(1, activation="sigmoid")])
    initial_weights = model.get_weights()
    assert [w.shape for w in initial_weights] == [(2, 10), (10,), (10, 10), (10,), (10, 10), (10,),
                                                  (10, 10), (10,), (10, 1), (1,)]
    initial_weights[0] = np.random.randn(2, 10) * np.sqrt(1 / 2)
    initial_weights[1] = np.zeros(model.get_weights()[1].shape)
    model.set_weights(initial_weights)
    assert np.allclose(model.get_weights()[0], initial_weights[0])
    with pytest.raises(ValueError, match="10 weight arrays"):
        model.set_weights(initial_weights[:3])


def test_functional_model_with_two_inputs_two_outputs_and_a_shared_layer():
    left, right = Input(shape=(3,)), Input(shape=(3,))
    shared = Dense(4, activation="relu")
    merged = Concatenate()([shared(left), shared(right)])
    out_class = Dense(2, activation="softmax", name="cls")(merged)
    out_value = Dense(1, name="val")(merged)
    model = Model(inputs=[left, right], outputs=[out_class, out_value])
    assert isinstance(model, Model)
    assert model.count_params() == 16 + 18 + 9
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(64, 3)).astype(np.float32), rng.normal(size=(64, 3)).astype(np.float32)
    labels = (a.sum(axis=1) > b.sum(axis=1)).astype(np.int64)
    values = (a - b).sum(axis=1, keepdims=True).astype(np.float32)
    model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"], metrics=[["accuracy"], []])
    history = model.fit([a, b], [labels, values], epochs=5, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    predictions = model.predict([a, b])
    assert predictions[0].shape == (64, 2) and predictions[1].shape == (64, 1)
    text = model.summary(print_fn=lambda s: None)
    assert "Connected to" in text and "input_layer" in text


def test_subclassed_model_trains():
    class TwoLayer(Model):
        def __init__(self):
            super().__init__()
            self.hidden = Dense(16, activation="relu")
            self.out = Dense(1)

        def call(self, inputs, training=False):
            return self.out(self.hidden(inputs))

    x = np.random.default_rng(2).uniform(-1, 1, size=(128, 2)).astype(np.float32)
    y = (x[:, :1] * x[:, 1:]).astype(np.float32)
    model = TwoLayer()
    model.compile(optimizer=optimizers.Adam(0.01), loss="mse")
    history = model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert len(model.trainable_weights) == 4
    assert model.layers == [model.hidden, model.out]


def test_frozen_layer_does_not_change_during_fit():
    model = Sequential([Dense(4, activation="relu", input_dim=3), Dense(1)])
    model.layers[0].trainable = False
    frozen = model.layers[0].get_weights()
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(3).normal(size=(32, 3)).astype(np.float32)
    model.fit(x, x[:, :1], epochs=2, verbose=0)
    for before, after in zip(frozen, model.layers[0].get_weights()):
        assert np.array_equal(before, after)
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2


def test_input_errors_are_caught_before_training():
    model = Sequential([Dense(3, activation="softmax", input_dim=4)])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x = np.zeros((5, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="one-hot labels of shape \\(n_samples, 3\\)"):
        model.fit(x, np.array([0, 1, 2, 0, 1]), verbose=0)
    with pytest.raises(ValueError, match="should have shape \\(n_samples, 4\\)"):
        model.fit(np.zeros((5, 6)), np.eye(3)[[0, 1, 2, 0, 1]], verbose=0)
    with pytest.raises(ValueError, match="x has 5 samples but y has"):
        model.fit(x, np.eye(3)[[0, 1, 2]], verbose=0)
    sparse = Sequential([Dense(3, activation="softmax", input_dim=4)])
    sparse.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="must lie in \\[0, 3\\)"):
        sparse.fit(x, np.array([0, 1, 2, 3, 1]), verbose=0)
    uncompiled = Sequential([Dense(1, input_dim=4)])
    with pytest.raises(RuntimeError, match="compile"):
        uncompiled.fit(x, np.zeros(5), verbose=0)


def test_sample_and_class_weights_scale_the_loss():
    model = Sequential([Dense(1, input_dim=1, kernel_initializer="zeros")])
    model.compile(optimizer=optimizers.SGD(0.0), loss="mse")
    x = np.ones((4, 1), dtype=np.float32)
    y = np.array([[1.0], [1.0], [2.0], [2.0]], dtype=np.float32)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(2.5)
    weighted = model.evaluate(x, y, sample_weight=np.array([1.0, 1.0, 0.0, 0.0]), verbose=0)
    assert weighted == pytest.approx(0.5)


def test_train_on_batch_predict_on_batch_and_test_on_batch():
    model = Sequential([Dense(2, activation="softmax", input_dim=3)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(4).normal(size=(8, 3)).astype(np.float32)
    y = np.array([0, 1] * 4)
    before = model.test_on_batch(x, y)
    loss, accuracy = model.train_on_batch(x, y)
    # Keras reports the loss and metrics of the forward pass that the step was computed from
    assert [loss, accuracy] == pytest.approx(before, rel=1e-6)
    after = model.test_on_batch(x, y, return_dict=True)
    assert after["loss"] < loss  # one small gradient step on this batch lowers its loss
    assert model.predict_on_batch(x).shape == (8, 2)
    assert set(after) == {"loss", "accuracy"}
    assert model.metrics_names == ["loss", "accuracy"]


def test_predict_builds_no_graph_and_matches_forward():
    recorded = []  # per forward pass: did the hidden activations record a graph?

    def probe(hidden):
        recorded.append(hidden.requires_grad)
        return hidden

    model = Sequential([Dense(3, activation="relu", input_dim=2), Lambda(probe), Dense(2)])
    x = np.random.default_rng(5).normal(size=(70, 2)).astype(np.float32)
    batched = model.predict(x, batch_size=16)
    assert batched.shape == (70, 2)
    single = model.predict(x[:1])
    assert np.allclose(single, batched[:1], atol=1e-6)
    assert recorded and not any(recorded)  # 5 + 1 batches, none recorded a graph
    model(x)  # a direct call does record one: the probe can see the difference
    assert recorded[-1] is True


def test_steps_per_epoch_and_initial_epoch():
    model = Sequential([Dense(1, input_dim=1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((10, 1), dtype=np.float32)
    history = model.fit(x, x, epochs=3, initial_epoch=1, steps_per_epoch=2, batch_size=4, verbose=0)
    assert history.epoch == [1, 2]
    assert model.optimizer.iterations == 4


@pytest.mark.parametrize("loss,activation,y", [
    ("sparse_categorical_crossentropy", "softmax", np.array([0, 1, 1, 0])),
    ("binary_crossentropy", "sigmoid", np.array([0.0, 1.0, 1.0, 0.0])),
    ("categorical_crossentropy", "softmax", np.eye(2)[[0, 1, 1, 0]]),
])
def test_sample_weight_with_fused_cross_entropies(loss, activation, y):
    units = 1 if activation == "sigmoid" else 2
    model = Sequential([Dense(units, activation=activation, input_dim=2, kernel_initializer="ones")])
    model.compile(optimizer=optimizers.SGD(0.0), loss=loss)
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.0]], dtype=np.float32)
    full = model.evaluate(x, y, verbose=0)
    halves = model.evaluate(x, y, sample_weight=np.array([1.0, 1.0, 0.0, 0.0]), verbose=0)
    first_two = model.evaluate(x[:2], y[:2], verbose=0)
    last_two = model.evaluate(x[2:], y[2:], verbose=0)
    assert halves == pytest.approx(first_two / 2, rel=1e-5)
    assert full == pytest.approx((first_two + last_two) / 2, rel=1e-5)
    history = model.fit(x, y, sample_weight=np.ones(4), epochs=1, verbose=0)
    assert history.history["loss"][0] == pytest.approx(full, rel=1e-5)  # learning rate 0: one batch, same loss


def test_per_class_metric_arrays_are_logged():
    from deepgrad import metrics

    model = Sequential([Dense(3, activation="softmax", input_dim=2)])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=[metrics.F1Score(average=None)])
    x = np.random.default_rng(6).normal(size=(12, 2)).astype(np.float32)
    y = np.eye(3)[np.arange(12) % 3]
    history = model.fit(x, y, epochs=2, verbose=0)
    assert np.shape(history.history["f1_score"][0]) == (3,)


def test_activity_regularizer_joins_the_loss():
    x = np.ones((4, 2), dtype=np.float32)
    y = np.zeros((4, 1), dtype=np.float32)
    model = Sequential([Dense(1, input_dim=2, kernel_initializer="ones", activity_regularizer=regularizers.l1(0.5))])
    model.compile(optimizer=optimizers.SGD(0.0), loss="mse")
    # outputs are 2 for every sample: mse 4, activity penalty 0.5 * sum(|a|) = 0.5 * 8
    assert model.evaluate(x, y, verbose=0) == pytest.approx(4.0 + 4.0)
