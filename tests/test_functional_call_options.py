"""Functional graphs keep what a symbolic call was given: string inputs and keyword options.

``Input(shape=(), dtype="string")`` feeds raw text to a model whose first layer is
TextVectorization; keyword arguments of a layer call (``use_causal_mask=True``,
``attention_mask=<tensor>``, an explicit ``mask=``) are stored on the graph node,
replayed on every run and kept by save/load, as in Keras.
"""

import json
import zipfile

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.layers import (
    LSTM,
    Dense,
    Embedding,
    GlobalAveragePooling1D,
    Input,
    MultiHeadAttention,
    TextVectorization,
)
from deepgrad.models import Model, load_model
from deepgrad.tensor import Tensor

TEXTS = np.array(["a good film", "a bad film", "good acting and a good story", "bad story"])
LABELS = np.array([1, 0, 1, 0], dtype=np.float32)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _text_model(dtype, shape=()):
    dg.manual_seed(0)
    vectorize = TextVectorization(max_tokens=20, output_sequence_length=6)
    vectorize.adapt(TEXTS)
    text = Input(shape=shape, dtype=dtype)
    hidden = GlobalAveragePooling1D()(Embedding(20, 4)(vectorize(text)))
    return Model(text, Dense(1, activation="sigmoid")(hidden))


@pytest.mark.parametrize("dtype", ["string", str])
def test_string_input_feeds_raw_text_to_text_vectorization(dtype, tmp_path):
    model = _text_model(dtype)
    assert model.inputs[0].shape == (None,) and model.inputs[0].dtype == "string"
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(TEXTS, LABELS, epochs=2, batch_size=2, verbose=0)
    before = model.predict(np.array(["a good story", "bad"]), verbose=0)
    assert before.shape == (2, 1) and np.all(np.isfinite(before))
    model.save(tmp_path / "text.deepgrad")
    with zipfile.ZipFile(tmp_path / "text.deepgrad") as archive:
        config = json.loads(archive.read("config.json"))
    input_entry = config["model"]["config"]["layers"][0]
    assert input_entry["class_name"] == "InputLayer" and input_entry["config"]["dtype"] == "string"
    loaded = load_model(tmp_path / "text.deepgrad")
    np.testing.assert_allclose(loaded.predict(np.array(["a good story", "bad"]), verbose=0), before, rtol=1e-6)


def test_string_input_of_shape_one_and_numeric_layers_refuse_it():
    model = _text_model("string", shape=(1,))
    assert model.predict(TEXTS[:, None], verbose=0).shape == (4, 1)
    with pytest.raises(TypeError, match="TextVectorization"):
        Dense(2)(Input(shape=(3,), dtype="string"))
    assert Input(shape=(3,), dtype="float32").dtype == "float32"


def _mha_inputs(rng):
    return rng.standard_normal((2, 5, 8)).astype(np.float32)


def test_call_options_are_replayed_when_the_model_runs(rng, tmp_path):
    x = Input(shape=(5, 8))
    mha = MultiHeadAttention(num_heads=2, key_dim=4)
    out, scores = mha(x, x, use_causal_mask=True, return_attention_scores=True)
    model = Model(x, [out, scores])
    data = _mha_inputs(rng)
    got_out, got_scores = model.predict(data, verbose=0)
    want_out, want_scores = mha(Tensor(data), Tensor(data), use_causal_mask=True, return_attention_scores=True)
    np.testing.assert_allclose(got_out, want_out.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_scores, want_scores.numpy(), rtol=1e-5, atol=1e-6)
    assert got_scores.shape == (2, 2, 5, 5)
    np.testing.assert_array_equal(np.triu(got_scores, k=1), 0)  # no query sees a later key
    # saved with the node: the loaded model is still causal
    model.save(tmp_path / "causal.deepgrad")
    with zipfile.ZipFile(tmp_path / "causal.deepgrad") as archive:
        entry = [e for e in json.loads(archive.read("config.json"))["model"]["config"]["layers"]
                 if e["class_name"] == "MultiHeadAttention"][0]
    assert entry["inbound_nodes"][0]["kwargs"] == {"use_causal_mask": True, "return_attention_scores": True}
    loaded_out, loaded_scores = load_model(tmp_path / "causal.deepgrad").predict(data, verbose=0)
    np.testing.assert_allclose(loaded_scores, got_scores, rtol=1e-6)
    np.testing.assert_allclose(loaded_out, got_out, rtol=1e-6)


def test_tensor_keyword_arguments_are_resolved_at_run_time(rng, tmp_path):
    x = Input(shape=(5, 8))
    allowed = Input(shape=(5, 5), dtype="bool")
    mha = MultiHeadAttention(num_heads=2, key_dim=4)
    model = Model([x, allowed], mha(x, x, attention_mask=allowed))
    data = _mha_inputs(rng)
    keep = rng.random((2, 5, 5)) < 0.5
    keep[:, :, 0] = True  # every query keeps one key
    got = model.predict([data, keep], verbose=0)
    want = mha(Tensor(data), Tensor(data), attention_mask=keep).numpy()
    unmasked = mha(Tensor(data), Tensor(data)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert np.abs(want - unmasked).max() > 1e-3  # the mask matters, so the test cannot pass vacuously
    model.save(tmp_path / "masked.deepgrad")
    np.testing.assert_allclose(load_model(tmp_path / "masked.deepgrad").predict([data, keep], verbose=0), got,
                               rtol=1e-6)


def test_an_explicit_mask_replaces_the_carried_one(rng):
    x = Input(shape=(6, 3))
    steps = Input(shape=(6,), dtype="bool")
    lstm = LSTM(4)
    model = Model([x, steps], lstm(x, mask=steps))
    data = rng.standard_normal((3, 6, 3)).astype(np.float32)
    keep = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]], dtype=bool)
    got = model.predict([data, keep], verbose=0)
    np.testing.assert_allclose(got, lstm(Tensor(data), mask=keep).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[2], lstm(Tensor(data[2:, :1])).numpy()[0], rtol=1e-5, atol=1e-6)


def test_keyword_arguments_that_are_not_json_are_refused_on_saving(rng, tmp_path):
    x = Input(shape=(5, 8))
    keep = np.tril(np.ones((1, 5, 5), dtype=bool))
    mha = MultiHeadAttention(num_heads=2, key_dim=4)
    model = Model(x, mha(x, x, attention_mask=keep))  # a constant: replayed as is
    data = _mha_inputs(rng)
    np.testing.assert_allclose(model.predict(data, verbose=0),
                               mha(Tensor(data), Tensor(data), use_causal_mask=True).numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="attention_mask"):
        model.save(tmp_path / "constant.deepgrad")
