"""Custom training: add_loss, train_step/test_step/predict_step overrides, the PyTorch-style loop, freezing."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import callbacks, metrics, optimizers
from deepgrad.layers import BatchNormalization, Dense, Dropout, Layer
from deepgrad.models import Model, Sequential
from deepgrad.utils import unpack_x_y_sample_weight


@pytest.fixture(autouse=True)
def fresh_names():
    dg.backend.clear_session()
    dg.manual_seed(0)


class ActivationPenalty(Layer):
    """Identity that adds ``rate * sum(x**2) / batch`` through add_loss (a loss not of (y_true, y_pred))."""

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * (inputs * inputs).sum() / inputs.shape[0])
        return inputs


def _regression_data(n=16):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = rng.normal(size=(n, 1)).astype("float32")
    return x, y


# --------------------------------------------------------------------------- add_loss


def test_add_loss_terms_belong_to_the_last_call_and_appear_in_model_losses():
    penalty = ActivationPenalty(0.5)
    model = Sequential([Dense(2, input_dim=3, kernel_initializer="ones"), penalty])
    x = np.ones((4, 3), dtype="float32")
    model(x)
    model(x)  # a second call replaces the terms of the first instead of adding to them
    assert len(penalty.losses) == 1 and len(model.losses) == 1
    assert float(model.losses[0]) == pytest.approx(0.5 * 2 * 9.0)  # each output is 3: 2 units * 9 per sample


def test_add_loss_joins_the_compiled_loss_in_fit_and_evaluate():
    x, y = _regression_data()
    model = Sequential([Dense(1, input_dim=3), ActivationPenalty(0.25)])
    model.compile(optimizer="sgd", loss="mse")
    out = model.predict(x, verbose=0)
    mse = float(np.mean((out - y) ** 2))
    penalty = 0.25 * float(np.sum(out ** 2)) / len(x)
    assert model.evaluate(x, y, batch_size=len(x), verbose=0) == pytest.approx(mse + penalty, rel=1e-5)


def test_add_loss_alone_drives_the_weights():
    # the compiled loss is zero (targets equal the outputs of the zero kernel): only add_loss moves the bias
    model = Sequential([Dense(1, input_dim=3, kernel_initializer="zeros", bias_initializer="ones"),
                        ActivationPenalty(1.0)])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mae")
    x = np.zeros((8, 3), dtype="float32")
    model.fit(x, np.ones((8, 1), dtype="float32"), batch_size=8, epochs=1, verbose=0)
    # d/db [mean|b - 1| + b**2] at b = 1 is 0 (mae's subgradient at 0) + 2: b <- 1 - 0.1 * 2
    assert float(model.layers[0].bias.data[0]) == pytest.approx(0.8, abs=1e-6)


def test_a_subclassed_model_may_add_losses_itself():
    class Penalised(Model):
        def __init__(self):
            super().__init__()
            self.dense = Dense(1)

        def call(self, inputs):
            out = self.dense(inputs)
            self.add_loss((out * out).mean())
            return out

    x, y = _regression_data()
    model = Penalised()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    out = model.predict(x, verbose=0)
    expected = float(np.mean((out - y) ** 2) + np.mean(out ** 2))
    assert model.evaluate(x, y, batch_size=len(x), verbose=0) == pytest.approx(expected, rel=1e-5)
    assert len(model.losses) == 1


def test_add_loss_refuses_what_is_not_a_number():
    with pytest.raises(TypeError, match="add_loss takes a tensor"):
        Dense(1).add_loss("kl")


# --------------------------------------------------------------------------- Keras 3 style: train_step and friends


class Regressor(Model):
    """A two-layer regressor whose train_step is the documented Keras 3 recipe, with its own loss tracker."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = Dense(4, activation="tanh")
        self.out = Dense(1)
        self.tracker = metrics.Mean(name="tracked_loss")
        self.seen = []  # the structure of each batch the step received

    def call(self, inputs, training=False):
        return self.out(self.hidden(inputs))

    def train_step(self, data):
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        self.seen.append((type(data).__name__, None if sample_weight is None else sample_weight.shape))
        y_pred = self(x, training=True)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
        grads = dg.grad(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        self.tracker.update_state(loss)
        return {m.name: m.result() for m in self.metrics}


class CountBatches(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0
        self.batch_logs = []
        self.counts = []

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        self.batch_logs.append(dict(logs or {}))
        tracker = getattr(self.model, "tracker", None)
        self.counts.append(None if tracker is None else int(tracker.count))


def test_fit_runs_a_custom_train_step_with_callbacks_history_and_validation():
    x, y = _regression_data(40)
    model = Regressor()
    model.compile(optimizer=optimizers.SGD(learning_rate=0.05), loss="mse")
    counter = CountBatches()
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=0, min_delta=1e9)  # stops after its 2nd epoch
    history = model.fit(x, y, batch_size=10, epochs=5, validation_data=(x[:8], y[:8]), callbacks=[counter, stop],
                        verbose=0)
    assert counter.batches == 2 * 4 and len(model.seen) == 8
    assert model.seen[0] == ("tuple", None)  # (x, y)
    assert set(history.history) == {"loss", "tracked_loss", "val_loss", "val_tracked_loss"}
    assert history.history["loss"] == pytest.approx(history.history["tracked_loss"])  # compute_loss tracks it
    assert len(history.history["tracked_loss"]) == 2
    # the tracker restarts each epoch: its mean is of that epoch only
    assert counter.counts == [1, 2, 3, 4] * 2
    # validation ran the default test_step: the compiled loss on the validation data
    out = model.predict(x[:8], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(float(np.mean((out - y[:8]) ** 2)), rel=1e-5)


def test_a_custom_train_step_repeating_the_default_equals_the_built_in_fit():
    x, y = _regression_data(32)
    reference = Sequential([Dense(4, activation="tanh", input_dim=3), Dense(1)])
    model = Regressor()
    model(x[:1])
    model.set_weights(reference.get_weights())
    for m in (reference, model):
        m.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="mse")
        m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(reference.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_step_sees_x_alone_or_sample_weights_as_the_data_holds_them():
    x, y = _regression_data(8)

    class Recorder(Model):
        def __init__(self):
            super().__init__()
            self.dense = Dense(1)
            self.data = []

        def call(self, inputs):
            return self.dense(inputs)

        def train_step(self, data):
            self.data.append(data)
            return {}

    model = Recorder()
    model.compile(optimizer="sgd")
    model.fit(x, batch_size=8, verbose=0)
    assert isinstance(model.data[-1], dg.Tensor) and model.data[-1].shape == (8, 3)
    model.fit(x, y, sample_weight=np.arange(8.0), batch_size=8, shuffle=False, verbose=0)
    xb, yb, wb = model.data[-1]
    np.testing.assert_array_equal(wb.numpy(), np.arange(8.0))
    np.testing.assert_array_equal(yb.numpy(), y)
    model.fit(x, (y > 0).astype(int)[:, 0], class_weight={0: 1.0, 1: 3.0}, batch_size=8, shuffle=False, verbose=0)
    np.testing.assert_array_equal(model.data[-1][2].numpy(), np.where(y[:, 0] > 0, 3.0, 1.0))
    model.fit(((xb, yb) for xb, yb in [(x[:4], y[:4])] * 3), epochs=1, verbose=0)  # a generator's batches
    assert isinstance(model.data[-1], tuple) and model.data[-1][0].shape == (4, 3)
    assert model.train_on_batch(x, y) == []


def test_evaluate_and_validation_run_test_step_and_predict_runs_predict_step():
    x, y = _regression_data(12)

    class Custom(Regressor):
        def test_step(self, data):
            x, y, _ = unpack_x_y_sample_weight(data)
            self.tracker.update_state(((self(x) - y) ** 2).mean(axis=-1))
            return {"error": self.tracker.result()}

        def predict_step(self, data):
            return self(data, training=False) * 0.0 + 7.0

    model = Custom()
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, batch_size=4, validation_split=0.25, verbose=0)
    assert "val_error" in history.history
    logs = model.evaluate(x, y, batch_size=5, verbose=0, return_dict=True)
    assert list(logs) == ["error"]
    out = model(x).numpy()
    assert logs["error"] == pytest.approx(float(np.mean((out - y) ** 2)), rel=1e-5)
    np.testing.assert_array_equal(model.predict(x, batch_size=5, verbose=0), np.full((12, 1), 7.0))


def test_a_step_must_return_a_dict_of_logs():
    class Bad(Regressor):
        def train_step(self, data):
            return 1.0

    model = Bad()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match="must return a dict of logs"):
        model.fit(*_regression_data(4), verbose=0)


def test_model_metrics_lists_the_loss_tracker_compiled_metrics_and_tracked_metrics():
    x, y = _regression_data(8)

    class Default(Model):
        def __init__(self):
            super().__init__()
            self.dense = Dense(1)
            self.extra = metrics.Mean(name="extra")

        def call(self, inputs):
            return self.dense(inputs)

        def train_step(self, data):
            logs = super().train_step(data)  # the default step, reached through super()
            self.extra.update_state(np.ones(3))
            return {**logs, "extra": self.extra.result()}

    model = Default()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert [m.name for m in model.metrics] == ["loss", "mae", "extra"]
    assert set(history.history) == {"loss", "mae", "extra"}
    assert model.extra.count == 6.0  # reset at the start of the second epoch: 2 batches of 3 values
    model.reset_metrics()
    assert all(m.count == 0 for m in (model.extra, model.metrics[0]))


def test_compute_loss_adds_regularization_and_add_loss_terms():
    model = Sequential([Dense(1, input_dim=3, kernel_regularizer="l2", kernel_initializer="ones"),
                        ActivationPenalty(0.5)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = _regression_data(4)
    y_pred = model(x, training=True)
    loss = model.compute_loss(x=x, y=y, y_pred=y_pred)
    out = y_pred.numpy()
    expected = np.mean((out - y) ** 2) + 0.01 * 3 + 0.5 * np.sum(out ** 2) / 4
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    model.compile(optimizer="sgd")
    penalties = 0.01 * 3 + 0.5 * np.sum(out ** 2) / 4  # without a compiled loss: the penalties alone
    assert float(model.compute_loss(x=x, y=y, y_pred=model(x))) == pytest.approx(penalties, rel=1e-5)
    bare = Sequential([Dense(1, input_dim=3)])
    bare.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="no loss to compute"):
        bare.compute_loss(x=x, y=y, y_pred=bare(x))


def test_grad_returns_fresh_gradients_of_the_variables():
    w = dg.tensor([1.0, 2.0], requires_grad=True)
    w.grad = np.array([100.0, 100.0], dtype="float32")  # stale: grad() replaces it
    (g,) = dg.grad((w * w).sum(), [w])
    np.testing.assert_array_equal(g, [2.0, 4.0])
    unused = dg.tensor([1.0], requires_grad=True)
    assert dg.grad((w * 3.0).sum(), [w, unused])[1] is None


# --------------------------------------------------------------------------- PyTorch style


def test_train_and_eval_set_the_default_training_mode_of_calls():
    model = Sequential([Dropout(0.5, input_shape=(100,))])
    x = np.ones((2, 100), dtype="float32")
    np.testing.assert_array_equal(model(x).numpy(), x)  # inference by default
    assert model.train() is model
    dropped = model(x).numpy()
    assert (dropped == 0).any() and set(np.unique(dropped)) <= {0.0, 2.0}
    np.testing.assert_array_equal(model(x, training=False).numpy(), x)  # an explicit argument still decides
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), x)
    outer = Sequential([model])
    outer.train()
    assert model._training_mode  # nested models follow


def test_a_pytorch_style_loop_matches_fit_on_identical_weights():
    x, y = _regression_data(24)
    reference = Sequential([Dense(5, activation="tanh", input_dim=3), Dense(1)])
    reference.compile(optimizer=optimizers.Adam(learning_rate=0.02), loss="mse")
    model = Sequential([Dense(5, activation="tanh", input_dim=3), Dense(1)])
    model.set_weights(reference.get_weights())
    reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)

    loss_fn = dg.losses.MeanSquaredError()
    optimizer = optimizers.Adam(learning_rate=0.02)
    optimizer.build(model.trainable_weights)
    model.train()
    for _ in range(2):
        for start in range(0, len(x), 8):
            optimizer.zero_grad()
            loss = loss_fn(y[start:start + 8], model(x[start:start + 8]))
            loss.backward()
            optimizer.step()
    assert optimizer.iterations == 6
    for a, b in zip(reference.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_optimizer_step_without_variables_asks_for_build():
    with pytest.raises(ValueError, match="build"):
        optimizers.SGD().step()


# --------------------------------------------------------------------------- freezing and two optimizers


def test_a_layer_frozen_between_compiles_keeps_its_weights_in_fit():
    x, y = _regression_data(16)
    model = Sequential([Dense(4, input_dim=3), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    first, second = model.layers
    first.trainable = False
    model.compile(optimizer="adam", loss="mse")
    frozen = first.get_weights()
    before = second.get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(frozen, first.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(before[0], second.get_weights()[0])
    first.trainable = True
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(frozen[0], first.get_weights()[0])


def test_a_frozen_base_model_runs_batch_normalization_in_inference_mode():
    x, y = _regression_data(32)
    base = Sequential([Dense(4, input_dim=3), BatchNormalization()])
    base.trainable = False
    model = Sequential([base, Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    statistics = base.layers[1].get_weights()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for a, b in zip(statistics, base.layers[1].get_weights()):  # gamma, beta and the moving statistics
        np.testing.assert_array_equal(a, b)
    assert len(model.trainable_weights) == 2


class TwoHeads(Model):
    """Two sub-models trained in one custom step, each by its own optimizer (the GAN's arrangement)."""

    def __init__(self):
        super().__init__()
        self.first = Sequential([Dense(2, input_dim=3)])
        self.second = Sequential([Dense(1, input_dim=2)])
        self.first_loss = metrics.Mean(name="first_loss")
        self.second_loss = metrics.Mean(name="second_loss")

    def compile(self, first_optimizer, second_optimizer):
        super().compile()
        self.first_optimizer, self.second_optimizer = first_optimizer, second_optimizer

    def train_step(self, data):
        x, y, _ = unpack_x_y_sample_weight(data)
        hidden = self.first(x, training=True)
        loss_first = ((hidden - 1.0) ** 2).mean()
        self.first_optimizer.apply(dg.grad(loss_first, self.first.trainable_weights), self.first.trainable_weights)
        out = self.second(hidden.detach(), training=True)
        loss_second = ((out - y) ** 2).mean()
        self.second_optimizer.apply(dg.grad(loss_second, self.second.trainable_weights),
                                    self.second.trainable_weights)
        self.first_loss.update_state(loss_first)
        self.second_loss.update_state(loss_second)
        return {m.name: m.result() for m in self.metrics}


def test_two_optimizers_each_update_their_own_sub_model_in_one_step():
    x, y = _regression_data(16)
    model = TwoHeads()
    first_optimizer, second_optimizer = optimizers.Adam(learning_rate=0.05), optimizers.SGD(learning_rate=0.1)
    model.compile(first_optimizer, second_optimizer)
    second_before = model.second.get_weights()
    history = model.fit(x, y, batch_size=8, epochs=20, verbose=0)
    assert first_optimizer.iterations == second_optimizer.iterations == 40
    assert {id(v) for v in first_optimizer.state_variables} == {id(v) for v in model.first.trainable_weights}
    assert {id(v) for v in second_optimizer.state_variables} == {id(v) for v in model.second.trainable_weights}
    assert history.history["first_loss"][-1] < 0.5 * history.history["first_loss"][0]
    assert not np.array_equal(second_before[0], model.second.get_weights()[0])
