"""Training diagnostics: the monitor's numbers, the diagnosed failures, the backpropagation trace."""

import math

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import initializers
from deepgrad.datasets import load_digits, train_test_split
from deepgrad.diagnostics import (
    Diagnosis,
    Finding,
    GradientMonitor,
    StepTrace,
    activation_family,
    diagnose,
    explain_step,
)
from deepgrad.layers import Activation, BatchNormalization, Dense, Input, ReLU
from deepgrad.models import Model, Sequential
from deepgrad.optimizers import SGD, Adam

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # diverging runs overflow on purpose


def _fit(layers, x, y, epochs=5, optimizer="sgd", loss="sparse_categorical_crossentropy", batch_size=32,
         sample_every=4, **kwargs):
    dg.manual_seed(0)
    model = Sequential(layers())
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"] if "crossentropy" in loss else None)
    monitor = GradientMonitor(sample_every=sample_every)
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[monitor], **kwargs)
    return model, history, monitor


def _xor_like(n=300, d=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x, (x[:, 0] * x[:, 1] + x[:, 2] > 0).astype(np.int64)


# --------------------------------------------------------------------------- the diagnosed failures


def test_deep_sigmoid_network_with_small_init_is_diagnosed_as_vanishing():
    x, y = _xor_like()
    small = initializers.RandomNormal(stddev=0.05)

    def layers():
        return ([Dense(16, activation="sigmoid", kernel_initializer=small, input_dim=8)]
                + [Dense(16, activation="sigmoid", kernel_initializer=small) for _ in range(8)]
                + [Dense(2, activation="softmax")])

    model, history, monitor = _fit(layers, x, y)
    diagnosis = diagnose(model, history, monitor)
    assert "vanishing_gradients" in diagnosis
    finding = next(f for f in diagnosis if f.kind == "vanishing_gradients")
    assert finding.evidence["first/last layer RMS gradient"] < 1e-6
    # the seeds' old/new weights picture: the first layer barely moves, the last one does
    change = monitor.array("weight_change")
    assert change[:, 0].max() < 1e-6 < change[:, -1].min()
    assert any("he_normal" in r for r in finding.remedies) and any("BatchNormalization" in r for r in finding.remedies)


@pytest.mark.parametrize("variant", ["he_relu", "batchnorm"])
def test_the_same_depth_with_he_relu_or_batchnorm_is_not_vanishing(variant):
    x, y = _xor_like()
    if variant == "he_relu":
        def layers():
            return ([Dense(16, activation="relu", kernel_initializer="he_normal", input_dim=8)]
                    + [Dense(16, activation="relu", kernel_initializer="he_normal") for _ in range(8)]
                    + [Dense(2, activation="softmax")])
    else:
        small = initializers.RandomNormal(stddev=0.05)

        def layers():
            stack = [Input(shape=(8,))]
            for _ in range(9):
                stack += [Dense(16, kernel_initializer=small), BatchNormalization(), Activation("sigmoid")]
            return stack + [Dense(2, activation="softmax")]

    model, history, monitor = _fit(layers, x, y)
    diagnosis = diagnose(model, history, monitor)
    assert "vanishing_gradients" not in diagnosis
    names = monitor.weighted_layer_names()
    first, last = (monitor.records[n]["grad_norm"][-1] / math.sqrt(monitor.parameter_counts[n])
                   for n in (names[0], names[-1]))
    assert first / last > 1e-2


def test_learning_rate_10_on_unnormalized_data_is_diagnosed_as_exploding():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 100, size=(200, 5)).astype(np.float32)
    y = (x @ rng.normal(size=5) + 3).astype(np.float32)
    model, history, monitor = _fit(lambda: [Dense(16, activation="relu", input_dim=5), Dense(1)], x, y,
                                   optimizer=SGD(learning_rate=10.0), loss="mse")
    diagnosis = diagnose(model, history, monitor)
    assert diagnosis.kinds()[0] == "exploding_gradients"
    finding = diagnosis[0]
    assert finding.severity == "critical"
    assert finding.evidence["NaN gradient entries"] > 0
    assert any("clipnorm" in r for r in finding.remedies)
    # NaN activations are not reported as dead units: the cause is named once
    assert "dying_relu" not in diagnosis


@pytest.mark.slow
def test_large_network_on_50_samples_is_diagnosed_as_overfitting():
    rng = np.random.default_rng(1)
    w = rng.normal(size=20)
    x = rng.normal(size=(50, 20)).astype(np.float32)
    y = (x @ w + rng.normal(scale=2.0, size=50) > 0).astype(np.int64)
    x_val = rng.normal(size=(200, 20)).astype(np.float32)
    y_val = (x_val @ w + rng.normal(scale=2.0, size=200) > 0).astype(np.int64)
    model, history, monitor = _fit(
        lambda: [Dense(256, activation="relu", input_dim=20), Dense(256, activation="relu"),
                 Dense(2, activation="softmax")],
        x, y, epochs=40, optimizer=Adam(learning_rate=1e-3), batch_size=16, validation_data=(x_val, y_val))
    diagnosis = diagnose(model, history, monitor)
    assert diagnosis.kinds() == ["overfitting"]
    evidence = diagnosis[0].evidence
    best = evidence["best epoch (lowest val_loss)"]
    assert best < 40
    assert history.history["val_loss"][-1] > history.history["val_loss"][best - 1]
    assert any("EarlyStopping" in r for r in diagnosis[0].remedies)


def test_relu_network_with_large_negative_bias_is_diagnosed_as_dying():
    x, y = _xor_like()
    negative = initializers.Constant(-10.0)
    model, history, monitor = _fit(
        lambda: [Dense(32, activation="relu", bias_initializer=negative, input_dim=8),
                 Dense(32, activation="relu", bias_initializer=negative), Dense(2, activation="softmax")], x, y)
    diagnosis = diagnose(model, history, monitor)
    assert "dying_relu" in diagnosis
    finding = next(f for f in diagnosis if f.kind == "dying_relu")
    assert finding.severity == "critical"
    assert finding.evidence["dead fraction per layer (last epoch)"] == {model.layers[0].name: 1.0,
                                                                       model.layers[1].name: 1.0}
    assert any("LeakyReLU" in r for r in finding.remedies)
    # dead units pass no gradient back; that is not reported a second time as vanishing
    assert "vanishing_gradients" not in diagnosis


def test_a_healthy_digits_run_has_no_findings():
    x, y = load_digits()
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.2, random_state=0)
    model, history, monitor = _fit(lambda: [Dense(64, activation="relu", input_dim=64),
                                            Dense(10, activation="softmax")],
                                   x_train, y_train, epochs=15, optimizer="adam", validation_data=(x_val, y_val))
    diagnosis = diagnose(model, history, monitor)
    assert diagnosis == []
    assert "ok" in str(diagnosis)


# --------------------------------------------------------------------------- rules on the loss curves


def test_learning_rate_rules_read_the_shape_of_the_loss_curve():
    oscillating = {"loss": [1.0, 0.7, 0.9, 0.6, 0.95, 0.55, 0.9, 0.6]}
    assert diagnose(history=oscillating).kinds() == ["learning_rate_too_high"]
    slow = {"loss": [1.0 - 0.005 * i for i in range(10)]}
    assert diagnose(history=slow).kinds() == ["learning_rate_too_low"]
    converged = {"loss": [1.0, 0.4, 0.2, 0.15, 0.13, 0.12, 0.118, 0.117]}
    assert diagnose(history=converged) == []


def test_high_bias_from_a_low_training_accuracy():
    diagnosis = diagnose(history={"loss": [0.69, 0.68, 0.6, 0.5], "accuracy": [0.5, 0.55, 0.6, 0.62]})
    assert diagnosis.kinds() == ["high_bias"]
    assert diagnosis[0].evidence["final training accuracy"] == pytest.approx(0.62)
    assert any("bigger network" in r for r in diagnosis[0].remedies)


def test_overfitting_rule_needs_the_training_loss_still_falling():
    rising_together = {"loss": [1.0, 0.5, 0.6, 0.7, 0.8], "val_loss": [1.0, 0.5, 0.6, 0.7, 0.8]}
    assert "overfitting" not in diagnose(history=rising_together)
    diverging = {"loss": [1.0, 0.5, 0.4, 0.3, 0.2], "val_loss": [1.0, 0.5, 0.6, 0.7, 0.8]}
    assert diagnose(history=diverging).kinds() == ["overfitting"]


def test_report_text_and_finding_structure():
    finding = Finding("overfitting", "warning", "val_loss rose.", {"best epoch": 3, "ratio": 0.123456},
                      ["add Dropout layers"])
    report = str(Diagnosis([finding]))
    assert "[WARNING] overfitting: val_loss rose." in report
    assert "best epoch: 3" in report and "ratio: 0.1235" in report and "- add Dropout layers" in report
    assert "overfitting" in Diagnosis([finding]) and "dying_relu" not in Diagnosis([finding])


def test_diagnose_rejects_a_history_of_the_wrong_type():
    with pytest.raises(TypeError, match="History"):
        diagnose(history=[0.1, 0.2])


# --------------------------------------------------------------------------- the monitor's numbers


def test_monitor_gradient_norm_weight_change_and_update_ratio_match_a_hand_computation():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 3)).astype(np.float32)
    y = rng.normal(size=(16, 1)).astype(np.float32)
    dg.manual_seed(0)
    model = Sequential([Dense(4, activation="tanh", input_dim=3), Dense(1)])
    model.compile(optimizer=SGD(learning_rate=0.1), loss="mse")
    before = model.get_weights()
    monitor = GradientMonitor(sample_every=1)
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0, callbacks=[monitor])  # one step
    after = model.get_weights()
    # the step's gradient is what SGD applied: g = (W_before - W_after) / lr
    for i, name in enumerate(monitor.weighted_layer_names()):
        kernel_step, bias_step = after[2 * i] - before[2 * i], after[2 * i + 1] - before[2 * i + 1]
        step = np.sqrt((kernel_step ** 2).sum() + (bias_step ** 2).sum())
        weights_before = np.sqrt((before[2 * i] ** 2).sum() + (before[2 * i + 1] ** 2).sum())
        weights_after = np.sqrt((after[2 * i] ** 2).sum() + (after[2 * i + 1] ** 2).sum())
        record = monitor.records[name]
        assert record["grad_norm"] == [pytest.approx(step / 0.1, rel=1e-4)]
        assert record["weight_norm"] == [pytest.approx(weights_after, rel=1e-5)]
        assert record["weight_change"] == [pytest.approx(step / weights_before, rel=1e-4)]
        assert record["update_ratio"] == [pytest.approx(step / weights_after, rel=1e-4)]
        assert record["nan_count"] == [0] and record["inf_count"] == [0]
    assert monitor.array("grad_norm").shape == (1, 2)


def test_monitor_counts_dead_and_saturated_units_exactly():
    x = np.linspace(0.5, 1.0, 64, dtype=np.float32).reshape(-1, 1)
    y = np.zeros((64, 1), dtype=np.float32)
    dg.manual_seed(0)
    model = Sequential([Dense(4, activation="relu", input_dim=1), Dense(2, activation="sigmoid"), Dense(1)])
    model.compile(optimizer=SGD(learning_rate=1e-6), loss="mse")
    model.layers[0].set_weights([np.array([[1.0, -1.0, 1.0, -1.0]]), np.zeros(4)])  # units 1 and 3: z < 0
    model.layers[1].set_weights([np.array([[100.0, 0.01]] + [[0.0, 0.0]] * 3), np.zeros(2)])  # unit 0: z >= 50
    monitor = GradientMonitor(sample_every=1)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[monitor], validation_data=(-x, y))
    relu, sigmoid, linear = monitor.layer_names
    # validation inputs (-x) would revive units 1 and 3: they are not training statistics
    assert monitor.records[relu]["dead_fraction"] == [0.5, 0.5]
    assert monitor.records[sigmoid]["saturated_fraction"] == [0.5, 0.5]
    assert all(math.isnan(v) for v in monitor.records[linear]["dead_fraction"])
    # observers are removed when training ends
    assert all("_output_observer" not in vars(layer) for layer in model.layers)


def test_monitor_samples_every_kth_batch_and_watches_activation_layers():
    x, y = _xor_like(n=128)
    dg.manual_seed(0)
    model = Sequential([Dense(8, input_dim=8), ReLU(), Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    seen = []
    monitor = GradientMonitor(sample_every=3)
    original = GradientMonitor._set_observers

    def spy(self, on):
        seen.append(on)
        original(self, on)

    GradientMonitor._set_observers = spy
    try:
        model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[monitor])  # 8 batches
    finally:
        GradientMonitor._set_observers = original
    # on for batches 0, 3, 6 and off after each; once more off at the end of training
    assert seen == [True, False, True, False, True, False, False]
    assert monitor.layer_names == [model.layers[0].name, model.layers[1].name, model.layers[2].name]
    assert monitor.parameter_counts[model.layers[1].name] == 0
    assert 0.0 <= monitor.records[model.layers[1].name]["dead_fraction"][0] <= 1.0


def test_monitor_argument_errors():
    with pytest.raises(ValueError, match="sample_every"):
        GradientMonitor(sample_every=0)
    with pytest.raises(ValueError, match="recorded are"):
        GradientMonitor().array("gradient")


def test_activation_family_knows_relu_and_saturating_functions():
    assert activation_family(Dense(2, activation="relu")) == ("dying", None)
    assert activation_family(Dense(2, activation="sigmoid")) == ("saturating", (0.0, 1.0))
    assert activation_family(Dense(2, activation="tanh")) == ("saturating", (-1.0, 1.0))
    assert activation_family(Dense(2, activation="leaky_relu")) is None
    assert activation_family(ReLU(negative_slope=0.1)) is None
    assert activation_family(ReLU()) == ("dying", None)


def test_output_observer_sees_each_output_with_the_training_flag():
    layer = Dense(3, input_dim=2)
    calls = []
    layer._output_observer = lambda out, training: calls.append((out.shape, training))
    layer(np.ones((4, 2), dtype=np.float32), training=True)
    layer(np.ones((1, 2), dtype=np.float32))
    assert calls == [((4, 3), True), ((1, 3), False)]
    del layer._output_observer
    layer(np.ones((1, 2), dtype=np.float32))
    assert len(calls) == 2


# --------------------------------------------------------------------------- explain_step


def _seed_network():
    """The seeds' 2-2-1 regression network: unit weights, zero biases, linear activations, squared error."""
    model = Sequential([Dense(2, input_dim=2, kernel_initializer="ones", bias_initializer="zeros"),
                        Dense(1, kernel_initializer="ones", bias_initializer="zeros")])
    model.compile(optimizer=SGD(learning_rate=0.001), loss="mse")
    return model


def test_explain_step_reproduces_the_seeds_2_2_1_worked_example():
    # Inputs with x1 + x2 = 9 make the seeds' prediction: o11 = o12 = 9, y_hat = 18, while y = 3,
    # so L = (3 - 18)^2 = 225 and dL/dy_hat = -2 (y - y_hat) = 30.
    model = _seed_network()
    x, y = np.array([[5.0, 4.0]]), np.array([3.0])
    trace = explain_step(model, x, y)
    assert isinstance(trace, StepTrace)
    hidden, output = trace.layers
    assert trace.loss == pytest.approx(225.0)
    np.testing.assert_allclose(hidden.z, [[9.0, 9.0]])
    np.testing.assert_allclose(output.a, [[18.0]])
    np.testing.assert_allclose(output.dL_da, [[30.0]])
    # 1-3: dL/dw2_11 = -2 (y - y_hat) o11, dL/dw2_21 = -2 (y - y_hat) o12, dL/db21 = -2 (y - y_hat)
    np.testing.assert_allclose(output.dL_dW, [[270.0], [270.0]])
    np.testing.assert_allclose(output.dL_db, [30.0])
    # 4-9: dL/dw1_ij = -2 (y - y_hat) w2_j x_i, dL/db1_j = -2 (y - y_hat) w2_j
    np.testing.assert_allclose(hidden.dL_da, [[30.0, 30.0]])
    np.testing.assert_allclose(hidden.dL_dW, [[150.0, 150.0], [120.0, 120.0]])
    np.testing.assert_allclose(hidden.dL_db, [30.0, 30.0])
    # w_new = w_old - eta dL/dw with eta = 0.001
    np.testing.assert_allclose(output.W_new, [[0.73], [0.73]], rtol=1e-6)
    np.testing.assert_allclose(output.b_new, [-0.03], rtol=1e-6)
    np.testing.assert_allclose(hidden.W_new, [[0.85, 0.85], [0.88, 0.88]], rtol=1e-6)
    np.testing.assert_allclose(hidden.b_new, [-0.03, -0.03], rtol=1e-6)
    # the model is untouched, and one SGD step of fit's machinery lands on the same weights
    np.testing.assert_array_equal(model.layers[1].kernel.numpy(), [[1.0], [1.0]])
    model.train_on_batch(x, y)
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), hidden.W_new, rtol=1e-6)
    np.testing.assert_allclose(model.layers[1].bias.numpy(), output.b_new, rtol=1e-6)
    text = str(trace)
    assert "loss L = 225" in text and "W new" in text and "dL/dW = a_prev^T dL/dz" in text


def test_explain_step_apply_writes_the_update_and_lowers_the_loss():
    model = _seed_network()
    x, y = np.array([[5.0, 4.0]]), np.array([3.0])
    trace = explain_step(model, x, y, apply=True)
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), trace.layers[0].W_new, rtol=1e-6)
    assert explain_step(model, x, y).loss < trace.loss


def test_explain_step_matches_the_fused_training_step_of_a_classifier():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4)).astype(np.float32)
    y = np.array([0, 2, 1, 2, 0])
    dg.manual_seed(1)
    model = Sequential([Dense(6, activation="tanh", input_dim=4), Dense(3, activation="softmax")])
    model.compile(optimizer=SGD(learning_rate=0.5), loss="sparse_categorical_crossentropy")
    trace = explain_step(model, x, y)
    # softmax + cross-entropy: dL/dz of the output is (p - onehot(y)) / N
    p = trace.layers[-1].a
    np.testing.assert_allclose(trace.layers[-1].dL_dz, (p - np.eye(3)[y]) / 5, atol=1e-6)
    # tanh: dL/dz = dL/da (1 - a^2)
    hidden = trace.layers[0]
    np.testing.assert_allclose(hidden.dL_dz, hidden.dL_da * (1 - hidden.a ** 2), atol=1e-6)
    model.train_on_batch(x, y)
    for layer, step in zip(model.layers, trace.layers):
        np.testing.assert_allclose(layer.kernel.numpy(), step.W_new, atol=1e-6)
        np.testing.assert_allclose(layer.bias.numpy(), step.b_new, atol=1e-6)


def test_explain_step_errors_name_the_fix():
    inputs = Input(shape=(2,))
    functional = Model(inputs, Dense(1)(inputs))
    functional.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match="Sequential"):
        explain_step(functional, np.ones((1, 2)), np.ones(1))
    plain = Sequential([Dense(1, input_dim=2)])
    with pytest.raises(ValueError, match="loss="):
        explain_step(plain, np.ones((1, 2)), np.ones(1))
    with pytest.raises(ValueError, match="learning_rate="):
        explain_step(plain, np.ones((1, 2)), np.ones(1), loss="mse")
    assert explain_step(plain, np.ones((1, 2)), np.ones(1), loss="mse", learning_rate=0.1).learning_rate == 0.1


def test_overfitting_rule_skips_histories_validated_every_few_epochs():
    # validation_freq=2: val_loss has half the entries, so epochs cannot be compared one by one
    history = {"loss": [1.0, 0.8, 0.6, 0.4, 0.3, 0.2], "val_loss": [0.9, 0.7, 1.5]}
    assert "overfitting" not in diagnose(history=history)


def test_a_wide_train_validation_gap_is_overfitting_in_any_units():
    # the last epochs of a regression whose train r2 is 0.73 and validation r2 0.33 (standardized target)
    history = {"loss": [0.771, 0.545, 0.40, 0.32, 0.281, 0.278], "val_loss": [0.647, 0.628, 0.58, 0.55, 0.542, 0.537]}
    for scale in (1.0, 78.58 ** 2):  # the same history in the target's units
        scaled = {key: [v * scale for v in values] for key, values in history.items()}
        diagnosis = diagnose(history=scaled)
        assert diagnosis.kinds() == ["overfitting"]
        assert "1.9x the training loss" in diagnosis[0].summary
        assert diagnosis[0].evidence["final loss / val_loss"] == pytest.approx([0.278 * scale, 0.537 * scale])
    # a small gap, or a tiny one between two good fits, is not
    assert diagnose(history={"loss": [1.0, 0.5, 0.3, 0.2], "val_loss": [1.0, 0.5, 0.32, 0.24]}) == []
    assert diagnose(history={"loss": [1.0, 0.2, 0.05, 0.01], "val_loss": [1.0, 0.2, 0.06, 0.03]}) == []
    accuracy_gap = {"loss": [0.7, 0.5, 0.3, 0.2], "val_loss": [0.7, 0.5, 0.35, 0.27],
                    "accuracy": [0.6, 0.8, 0.95, 0.99], "val_accuracy": [0.6, 0.75, 0.8, 0.82]}
    diagnosis = diagnose(history=accuracy_gap)
    assert diagnosis.kinds() == ["overfitting"] and "17.0% below the training accuracy" in diagnosis[0].summary


def test_remedies_already_in_place_are_not_recommended():
    from deepgrad.callbacks import EarlyStopping, ReduceLROnPlateau

    diverging = {"loss": [1.0, 0.5, 0.4, 0.3, 0.2], "val_loss": [1.0, 0.5, 0.6, 0.7, 0.8]}
    assert any("EarlyStopping" in r for r in diagnose(history=diverging)[0].remedies)
    remedies = diagnose(history=diverging, callbacks=[EarlyStopping(patience=3)])[0].remedies
    assert remedies and not any("EarlyStopping" in r for r in remedies)
    oscillating = {"loss": [1.0, 0.7, 0.9, 0.6, 0.95, 0.55, 0.9, 0.6]}
    remedies = diagnose(history=oscillating, callbacks=[ReduceLROnPlateau()])[0].remedies
    assert remedies and not any("schedule" in r for r in remedies)


def test_a_nan_loss_from_the_data_or_the_learning_rate_is_not_called_exploding_gradients():
    import types

    nan_history = {"loss": [float("nan")] * 3}
    x = np.ones((20, 3), dtype=np.float32)
    x[7, 2] = np.nan
    diagnosis = diagnose(history=nan_history, x=x, y=np.zeros(20))
    assert diagnosis.kinds() == ["invalid_inputs"] and diagnosis[0].severity == "critical"
    assert diagnosis[0].evidence == {"non-finite entries in x": 1, "first at index": [7, 2]}
    assert "this is the data, not the gradients" in str(diagnosis)
    diagnosis = diagnose(history=nan_history, x=np.ones((4, 1)), y=np.array([1.0, 1e300, 2.0, 3.0]))
    assert diagnosis.kinds() == ["invalid_inputs"] and "first at index: [1]" in str(diagnosis)
    model = types.SimpleNamespace(optimizer=types.SimpleNamespace(learning_rate=float("nan")), history=None)
    diagnosis = diagnose(model, nan_history)
    assert diagnosis.kinds() == ["invalid_learning_rate"] and "the learning rate is nan" in str(diagnosis)
    # without the data, a loss NaN from the first epoch says what it may be
    diagnosis = diagnose(history=nan_history)
    assert diagnosis.kinds() == ["exploding_gradients"] and "NaN/Inf from the first epoch" in diagnosis[0].summary


def test_vanishing_gradient_through_time_is_reported_only_with_a_stalled_loss():
    from deepgrad.layers import SimpleRNN

    rng = np.random.default_rng(0)
    x = rng.normal(0, 3, size=(32, 30, 1)).astype(np.float32)  # strong input noise saturates the tanh
    y = (x[:, 0, 0] > 0).astype(np.float32)
    model, history, monitor = _fit(lambda: [Input((30, 1)), SimpleRNN(4, name="plain"), Dense(1, name="out")], x, y,
                                   epochs=2, loss="mse", batch_size=16, sample_every=1)
    curves = monitor.time_gradients["plain"]
    ratios = [norms[0] / norms.max() for norms in curves]
    assert max(ratios) < 1e-3
    stalled = {"loss": [0.70, 0.69, 0.69]}
    finding = next(f for f in diagnose(model, stalled, monitor) if f.kind == "vanishing_gradients_through_time")
    assert finding.evidence["layer"] == "plain" and finding.evidence["steps"] == 30
    assert finding.evidence["first_to_peak_ratio"] == pytest.approx(np.median(ratios))
    assert finding.evidence["per_step_factor"] == pytest.approx(np.median(ratios) ** (1 / 29))
    assert finding.evidence["loss first / last epoch"] == [0.70, 0.69]
    assert "loss has stalled" in finding.summary and "LSTM" in finding.remedies[0]
    # the same gradients in a model whose loss keeps falling: the first steps did not matter
    learning = {"loss": [0.70, 0.30, 0.05]}
    assert "vanishing_gradients_through_time" not in diagnose(model, learning, monitor).kinds()
    # an LSTM-like curve (the forget gates carry the gradient back) with a stalled loss: not this rule
    monitor.time_gradients["plain"] = [np.linspace(0.2, 1.0, 30)] * 3
    assert "vanishing_gradients_through_time" not in diagnose(model, stalled, monitor).kinds()
    # one epoch whose gradient reaches the start does not hide two that vanish
    monitor.time_gradients["plain"] = [curves[0], np.linspace(0.2, 1.0, 30), curves[1]]
    assert "vanishing_gradients_through_time" in diagnose(model, stalled, monitor).kinds()
    # only the gradients to go by (no loss history): they decide
    monitor.time_gradients["plain"] = curves
    assert "vanishing_gradients_through_time" in diagnose(monitor=monitor).kinds()
