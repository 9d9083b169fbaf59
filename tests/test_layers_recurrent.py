"""Recurrent layers and their wrappers: Keras shapes and semantics, PyTorch equality, save/load, bad input."""

import numpy as np
import pytest
from test_ops_recurrent import keras_gru_to_torch
from torch_reference import reference, torch

import deepgrad as dg
from deepgrad.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Dense,
    Embedding,
    Input,
    Masking,
    RepeatVector,
    SimpleRNN,
    TimeDistributed,
)
from deepgrad.models import Model, Sequential, load_model

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 6, 3)).astype(np.float32)


@pytest.mark.parametrize("cls, k", [(SimpleRNN, 1), (LSTM, 4), (GRU, 3)])
def test_weights_have_keras_shapes(cls, k):
    layer = cls(5)
    layer(X)
    shapes = [w.shape for w in layer.weights]
    bias = (2, 15) if cls is GRU else (5 * k,)
    assert shapes == [(3, 5 * k), (5, 5 * k), bias]
    assert [w.name for w in layer.weights] == ["kernel", "recurrent_kernel", "bias"]


def test_lstm_unit_forget_bias_and_orthogonal_recurrent_kernel():
    layer = LSTM(4)
    layer(X)
    np.testing.assert_array_equal(layer.bias.data, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
    u = layer.recurrent_kernel.data
    np.testing.assert_allclose(u @ u.T, np.eye(4), atol=1e-5)  # orthonormal rows


def test_gru_reset_after_false_has_one_bias():
    layer = GRU(4, reset_after=False)
    out = layer(X)
    assert layer.bias.shape == (12,) and out.shape == (2, 4)


def test_return_sequences_and_state_are_views_of_one_run():
    layer = LSTM(4, return_sequences=True, return_state=True)
    seq, h, c = layer(X)
    assert seq.shape == (2, 6, 4) and h.shape == (2, 4) and c.shape == (2, 4)
    np.testing.assert_array_equal(seq.data[:, -1], h.data)
    last = LSTM(4)
    last.build((None, 6, 3))
    last.set_weights(layer.get_weights())
    np.testing.assert_array_equal(last(X).data, h.data)


def test_go_backwards_reads_the_reversed_sequence():
    forward = GRU(3, return_sequences=True)
    forward(X)
    backward = GRU(3, return_sequences=True, go_backwards=True)
    backward.build((None, 6, 3))
    backward.set_weights(forward.get_weights())
    np.testing.assert_allclose(backward(X).data, forward(X[:, ::-1].copy()).data, rtol=1e-6)


def test_initial_state_is_used_and_a_wrong_shape_names_the_expected_one():
    layer = SimpleRNN(4)
    h0 = np.ones((2, 4), np.float32)
    assert not np.allclose(layer(X, initial_state=[h0]).data, layer(X).data)
    with pytest.raises(ValueError, match=r"\(batch, units\) = \(2, 4\)"):
        layer(X, initial_state=[np.ones((2, 5), np.float32)])
    with pytest.raises(ValueError, match="takes 2 initial state"):
        LSTM(4)(X, initial_state=[h0])


def test_stateful_layer_carries_its_state_between_calls():
    layer = SimpleRNN(4, stateful=True)
    whole = SimpleRNN(4)
    first = layer(X[:, :3])
    whole.build((None, 6, 3))
    whole.set_weights(layer.get_weights())
    second = layer(X[:, 3:])
    np.testing.assert_allclose(second.data, whole(X).data, rtol=1e-5, atol=1e-6)
    layer.reset_states()
    np.testing.assert_allclose(layer(X[:, :3]).data, first.data, rtol=1e-6)


def test_dropout_only_while_training_and_seeded():
    layer = LSTM(4, dropout=0.5, recurrent_dropout=0.5, seed=1)
    a = layer(X, training=False).data
    np.testing.assert_array_equal(a, layer(X, training=False).data)
    assert not np.allclose(layer(X, training=True).data, a)


def _bidirectional_torch(weights_f, weights_b):
    module = torch.nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for suffix, (w, u, b) in (("", weights_f), ("_reverse", weights_b)):
            getattr(module, "weight_ih_l0" + suffix).copy_(torch.tensor(w.T))
            getattr(module, "weight_hh_l0" + suffix).copy_(torch.tensor(u.T))
            getattr(module, "bias_ih_l0" + suffix).copy_(torch.tensor(b))
            getattr(module, "bias_hh_l0" + suffix).zero_()
    return module(torch.tensor(X))[0].detach().numpy()


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_lstm_equals_torch(merge_mode):
    dg.manual_seed(0)  # the weights must match the recorded reference
    layer = Bidirectional(LSTM(4, return_sequences=True), merge_mode=merge_mode)
    out = layer(X)
    w = layer.get_weights()
    expected = reference(lambda: _bidirectional_torch(w[:3], w[3:]))
    fwd, bwd = expected[..., :4], expected[..., 4:]
    merged = {"concat": expected, "sum": fwd + bwd, "mul": fwd * bwd, "ave": (fwd + bwd) / 2}
    if merge_mode is None:
        np.testing.assert_allclose(out[0].data, fwd, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out[1].data, bwd, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(out.data, merged[merge_mode], rtol=1e-5, atol=1e-6)


def test_bidirectional_gru_equals_torch_last_state():
    dg.manual_seed(0)
    layer = Bidirectional(GRU(4))
    out = layer(X).data
    w = layer.get_weights()

    def run():
        module = torch.nn.GRU(3, 4, batch_first=True, bidirectional=True)
        with torch.no_grad():
            for suffix, (k, u, b) in (("", w[:3]), ("_reverse", w[3:])):
                getattr(module, "weight_ih_l0" + suffix).copy_(torch.tensor(keras_gru_to_torch(k).T))
                getattr(module, "weight_hh_l0" + suffix).copy_(torch.tensor(keras_gru_to_torch(u).T))
                getattr(module, "bias_ih_l0" + suffix).copy_(torch.tensor(keras_gru_to_torch(b[0])))
                getattr(module, "bias_hh_l0" + suffix).copy_(torch.tensor(keras_gru_to_torch(b[1])))
        _, h = module(torch.tensor(X))
        return torch.cat([h[0], h[1]], dim=-1).detach().numpy()

    np.testing.assert_allclose(out, reference(run), rtol=1e-5, atol=1e-6)


def test_bidirectional_backward_layer_and_states():
    layer = Bidirectional(SimpleRNN(3, return_state=True),
                          backward_layer=SimpleRNN(3, return_state=True, go_backwards=True))
    out, h_f, h_b = layer(X)
    np.testing.assert_array_equal(out.data, np.concatenate([h_f.data, h_b.data], -1))


def test_time_distributed_and_repeat_vector():
    dense = Dense(2)
    td = TimeDistributed(dense)
    out = td(X)
    assert out.shape == (2, 6, 2)
    np.testing.assert_allclose(out.data[:, 4], dense(X[:, 4]).data, rtol=1e-6)
    rep = RepeatVector(3)(X[:, 0])
    assert rep.shape == (2, 3, 3)
    np.testing.assert_array_equal(rep.data[:, 2], X[:, 0])


def test_layers_learn_through_fit():
    dg.manual_seed(0)
    y = (X[:, 0, 0] > 0).astype(np.float32)
    model = Sequential([Input((6, 3)), Bidirectional(GRU(4, return_sequences=True)), LSTM(3), Dense(1)])
    model.compile("adam", "mse")
    before = model.evaluate(X, y, verbose=0)
    model.fit(X, y, epochs=20, verbose=0)
    assert model.evaluate(X, y, verbose=0) < before


def test_every_layer_round_trips_through_a_model_file(tmp_path):
    ids = np.array([[1, 2, 3, 0], [4, 5, 0, 0]])
    inputs = Input((4,))
    x = Embedding(8, 5, mask_zero=True)(inputs)
    x = Masking()(x)
    x = Bidirectional(LSTM(3, return_sequences=True), backward_layer=LSTM(3, return_sequences=True,
                                                                             go_backwards=True))(x)
    x = TimeDistributed(Dense(4))(x)
    x = GRU(3, reset_after=False, return_sequences=True)(x)
    x = SimpleRNN(3, activation="relu")(x)
    x = RepeatVector(2)(x)
    x = GRU(2)(x)
    model = Model(inputs, x)
    expected = model.predict(ids, verbose=0)
    model.save(tmp_path / "m.deepgrad")
    loaded = load_model(tmp_path / "m.deepgrad")
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), expected, rtol=1e-6)
    for layer in (LSTM(3, dropout=0.1, unroll=True, stateful=True), GRU(2, reset_after=False),
                  Bidirectional(SimpleRNN(2), merge_mode="mul")):
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="units"):
        LSTM(0)
    with pytest.raises(ValueError, match="dropout"):
        GRU(3, dropout=1.5)
    with pytest.raises(ValueError, match="merge_mode"):
        Bidirectional(LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match=r"\(batch, timesteps, features\)"):
        SimpleRNN(3)(X[:, 0])


def test_gradient_monitor_records_gradients_through_time_and_diagnose_reports_vanishing(tmp_path):
    from deepgrad.diagnostics import GradientMonitor, diagnose
    from deepgrad.plot import plot_gradients_through_time

    dg.manual_seed(0)
    x = np.random.default_rng(0).normal(size=(32, 40, 1)).astype(np.float32)
    y = (x[:, 0, 0] > 0).astype(np.float32)
    model = Sequential([Input((40, 1)), SimpleRNN(4, name="plain"), Dense(1)])
    model.compile("sgd", "mse")
    monitor = GradientMonitor(sample_every=1)
    model.fit(x, y, epochs=2, batch_size=16, callbacks=[monitor], verbose=0)
    norms = monitor.time_gradients["plain"]
    assert len(norms) == 2 and norms[0].shape == (40,)
    assert norms[-1][0] < 1e-3 * norms[-1].max()  # the plain RNN's gradient dies on its way back
    findings = diagnose(model, model.history, monitor)
    assert any(f.kind == "vanishing_gradients_through_time" and f.evidence["layer"] == "plain" for f in findings)
    fig = plot_gradients_through_time(monitor, path=tmp_path / "g.png")
    assert (tmp_path / "g.png").exists() and fig.axes[0].get_yscale() == "log"
