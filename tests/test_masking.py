"""Masks: Embedding(mask_zero)/Masking make them, models carry them, recurrent layers and losses honour them."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.layers import GRU, LSTM, Dense, Dropout, Embedding, Flatten, Input, Layer, Masking, SimpleRNN
from deepgrad.layers.base import call_with_mask
from deepgrad.models import Model, Sequential

PADDED = np.array([[3, 1, 4, 0, 0], [5, 9, 2, 6, 5], [7, 0, 0, 0, 0]])
LENGTHS = [3, 5, 1]


def _model(rnn):
    dg.manual_seed(0)
    return Sequential([Input((5,)), Embedding(10, 4, mask_zero=True), rnn, Dense(2)])


@pytest.mark.parametrize("rnn", [lambda: LSTM(3), lambda: GRU(3), lambda: SimpleRNN(3)])
def test_mask_zero_through_a_recurrent_layer_equals_the_unpadded_sequences(rnn):
    model = _model(rnn())
    out = model.predict(PADDED, verbose=0)
    for row, n in enumerate(LENGTHS):
        alone = model(PADDED[row:row + 1, :n]).data  # the declared length 5 is for fit/predict only
        np.testing.assert_allclose(out[row], alone[0], rtol=1e-5, atol=1e-6)


def test_without_mask_zero_padding_changes_the_result():
    dg.manual_seed(0)
    model = Sequential([Input((5,)), Embedding(10, 4), LSTM(3)])
    out = model.predict(PADDED, verbose=0)
    assert not np.allclose(out[0], model(PADDED[:1, :3]).data[0], atol=1e-4)


def test_functional_model_carries_the_mask():
    inputs = Input((5,))
    x = Embedding(10, 4, mask_zero=True)(inputs)
    x = Dropout(0.1)(x)  # a shape-preserving layer passes the mask on
    outputs = GRU(3)(x)
    model = Model(inputs, outputs)
    out = model.predict(PADDED, verbose=0)
    np.testing.assert_allclose(out[2], model(PADDED[2:, :1]).data[0], rtol=1e-5, atol=1e-6)


def test_masking_layer_masks_all_equal_steps():
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype(np.float32)
    x[0, 2:] = 0.0
    layer = Masking()
    np.testing.assert_array_equal(layer.compute_mask(x), [[True, True, False, False], [True] * 4])
    dg.manual_seed(0)
    model = Sequential([Input((4, 3)), Masking(), LSTM(2)])
    np.testing.assert_allclose(model.predict(x, verbose=0)[0], model(x[:1, :2]).data[0], rtol=1e-5)


def test_default_compute_mask_passes_through_only_shape_preserving_layers():
    mask = np.array([[True, False, True]])
    x = dg.Tensor(np.ones((1, 3, 2), np.float32))
    assert call_with_mask(Dense(4), x, mask)[1] is mask
    assert call_with_mask(Flatten(), x, mask)[1] is None
    out, none = call_with_mask(Dense(4), x, None)
    assert none is None and out.shape == (1, 3, 4)


def test_call_receives_the_mask_when_it_takes_one():
    seen = {}

    class Spy(Layer):
        def call(self, inputs, mask=None):
            seen["mask"] = mask
            return inputs

    model = Sequential([Input((5,)), Embedding(10, 2, mask_zero=True), Spy()])
    model.predict(PADDED, verbose=0)
    np.testing.assert_array_equal(seen["mask"], PADDED != 0)


def test_masked_time_steps_contribute_nothing_to_the_loss():
    dg.manual_seed(0)
    model = Sequential([Input((5,)), Embedding(10, 3, mask_zero=True), LSTM(2, return_sequences=True)])
    model.compile("sgd", "mse")
    y = np.random.default_rng(1).normal(size=(3, 5, 2)).astype(np.float32)
    base = model.evaluate(PADDED, y, verbose=0)
    changed = y.copy()
    changed[PADDED == 0] += 100.0  # targets at padded steps must not matter
    assert model.evaluate(PADDED, changed, verbose=0) == pytest.approx(base, rel=1e-6)
    out = model.predict(PADDED, verbose=0)
    valid = PADDED != 0
    expected = ((out - y) ** 2).mean(axis=-1)[valid].mean()
    assert base == pytest.approx(expected, rel=1e-5)


def test_bad_token_ids_and_ragged_lists():
    layer = Embedding(5, 2)
    with pytest.raises(ValueError, match=r"token id 7 is outside \[0, input_dim\) = \[0, 5\)"):
        layer(np.array([[1, 7]]))
    with pytest.raises(ValueError, match="token id -1"):
        layer(np.array([[1, -1]]))
    with pytest.raises(ValueError, match="pad_sequences"):
        layer([[1, 2, 3], [4]])
    with pytest.raises(ValueError, match="TextVectorization"):
        layer(np.array([["a", "b"]]))


def test_embedding_gradient_accumulates_repeated_ids(check_grad):
    layer = Embedding(4, 3)
    ids = np.array([[1, 1, 2], [0, 1, 3]])
    out = layer(ids)
    out.sum().backward()
    np.testing.assert_array_equal(layer.embeddings.grad[:, 0], [1, 3, 1, 1])
