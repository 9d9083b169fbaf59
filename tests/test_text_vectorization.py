"""TextVectorization: vocabulary order, standardize/split/ngrams, every output mode, saving, string inputs to models."""

import numpy as np
import pytest

from deepgrad.layers import Dense, Layer, TextVectorization
from deepgrad.models import Sequential, load_model
from deepgrad.optimizers import Adam

TEXTS = np.array(["The cat sat.", "the dog sat!", "A cat, a dog and the bird"])


def test_adapt_orders_by_count_then_token_descending():
    layer = TextVectorization()
    layer.adapt(TEXTS)
    # the: 3; then count 2 in descending token order: sat, dog, cat, a; then bird, and
    assert layer.get_vocabulary() == ["", "[UNK]", "the", "sat", "dog", "cat", "a", "bird", "and"]
    assert layer.vocabulary_size() == 9
    assert layer.get_vocabulary(include_special_tokens=False)[:2] == ["the", "sat"]
    capped = TextVectorization(max_tokens=5)
    capped.adapt(list(TEXTS))
    assert capped.get_vocabulary() == ["", "[UNK]", "the", "sat", "dog"]
    bags = TextVectorization(output_mode="multi_hot", max_tokens=3)
    bags.adapt(iter([TEXTS[:2], TEXTS[2:]]))  # an iterable of batches
    assert bags.get_vocabulary() == ["[UNK]", "the", "sat"]


def test_int_mode_ids_padding_and_truncation():
    layer = TextVectorization(vocabulary=["the", "cat", "sat"])
    np.testing.assert_array_equal(layer(TEXTS[:2]).numpy(), [[2, 3, 4], [2, 1, 4]])
    assert layer(TEXTS).numpy().shape == (3, 7)  # padded to the longest string of the batch
    assert layer(TEXTS).dtype == np.int64
    fixed = TextVectorization(vocabulary=["the", "cat", "sat"], output_sequence_length=4)
    np.testing.assert_array_equal(fixed(TEXTS).numpy(), [[2, 3, 4, 0], [2, 1, 4, 0], [1, 3, 1, 1]])
    np.testing.assert_array_equal(fixed(TEXTS[:, None]).numpy(), fixed(TEXTS).numpy())  # (batch, 1) input
    np.testing.assert_array_equal(fixed("the cat").numpy(), [2, 3, 0, 0])
    np.testing.assert_array_equal(fixed([b"sat sat"]).numpy(), [[4, 4, 0, 0]])
    np.testing.assert_array_equal(fixed(np.array(["", ""])).numpy(), np.zeros((2, 4)))


def _lower_only(text):
    return text.lower()


def test_standardize_split_and_ngram_options():
    text = np.array(["Hello, World! hello"])

    def vocab(**kwargs):
        layer = TextVectorization(**kwargs)
        layer.adapt(text)
        return layer.get_vocabulary(include_special_tokens=False)

    assert vocab() == ["hello", "world"]
    assert vocab(standardize=None) == ["hello", "World!", "Hello,"]  # code point order, descending
    assert vocab(standardize="lower") == ["world!", "hello,", "hello"]
    assert vocab(standardize="strip_punctuation") == ["hello", "World", "Hello"]
    assert vocab(standardize=_lower_only, split=lambda s: s.split(",")) == ["hello", " world! hello"]
    assert vocab(split=None) == ["hello world hello"]
    assert vocab(split="character")[:3] == ["l", "o", "h"]
    assert vocab(ngrams=2) == ["hello", "world hello", "world", "hello world"]
    assert vocab(ngrams=(2,)) == ["world hello", "hello world"]
    ids = TextVectorization(ngrams=2, vocabulary=["a", "b", "a b"])(np.array(["a b c"])).numpy()
    np.testing.assert_array_equal(ids, [[2, 3, 1, 4, 1]])  # unigrams, then bigrams


def test_bag_of_words_modes_and_tf_idf_as_keras():
    docs = np.array(["a b b c", "a d", "b b e", "a"])
    counts = TextVectorization(output_mode="count")
    counts.adapt(docs)
    vocab = counts.get_vocabulary()
    assert vocab == ["[UNK]", "b", "a", "e", "d", "c"]
    query = np.array(["b a b z z", "c"])
    np.testing.assert_array_equal(counts(query).numpy(), [[2, 2, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1]])
    multi = TextVectorization(output_mode="multi_hot", vocabulary=vocab[1:])
    np.testing.assert_array_equal(multi(query).numpy(), [[1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1]])
    tfidf = TextVectorization(output_mode="tf_idf")
    tfidf.adapt(docs)
    document_frequency = np.array([2, 3, 1, 1, 1])  # b, a, e, d, c
    idf = np.log(1 + 4 / (1 + document_frequency))
    expected_idf = np.concatenate([[idf.mean()], idf])  # '[UNK]' gets the mean idf
    np.testing.assert_allclose(tfidf.idf_weights, expected_idf)
    np.testing.assert_allclose(tfidf(query).numpy(), counts(query).numpy() * expected_idf, rtol=1e-6)
    padded = TextVectorization(output_mode="multi_hot", max_tokens=10, pad_to_max_tokens=True, vocabulary=["a"])
    assert padded(query).numpy().shape == (2, 10)
    given = TextVectorization(output_mode="tf_idf", vocabulary=["a", "b"], idf_weights=[1.0, 3.0])
    np.testing.assert_allclose(given.idf_weights, [2.0, 1.0, 3.0])


def test_bad_arguments_name_the_problem():
    for kwargs, match in (({"output_mode": "binary"}, "output_mode"),
                          ({"output_mode": "count", "output_sequence_length": 4}, "output_sequence_length"),
                          ({"standardize": "upper"}, "standardize"), ({"split": 3}, "split"),
                          ({"ngrams": 0}, "ngrams"), ({"max_tokens": 2}, "max_tokens"),
                          ({"pad_to_max_tokens": True, "output_mode": "count"}, "max_tokens"),
                          ({"vocabulary": ["a", "a"]}, "repeats"), ({"vocabulary": ["a", "[UNK]"]}, "reserved"),
                          ({"output_mode": "tf_idf", "vocabulary": ["a"]}, "idf_weights"),
                          ({"ragged": True}, "ragged")):
        with pytest.raises(ValueError, match=match):
            TextVectorization(**kwargs)
    with pytest.raises(ValueError, match=r"\(batch,\) or \(batch, 1\)"):
        TextVectorization()(np.array([["a", "b"]]))


def test_config_round_trip_keeps_the_vocabulary():
    layer = TextVectorization(max_tokens=50, output_mode="tf_idf", ngrams=2)
    layer.adapt(TEXTS)
    config = layer.get_config()
    again = TextVectorization.from_config(config)
    assert again.get_vocabulary() == layer.get_vocabulary()
    np.testing.assert_allclose(again(TEXTS).numpy(), layer(TEXTS).numpy())
    assert again.get_config() == config


class _EmbeddingMean(Layer):
    """Token embeddings averaged over the sequence (stands in for Embedding + GlobalAveragePooling1D)."""

    def __init__(self, input_dim, output_dim, **kwargs):
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = input_dim, output_dim

    def build(self, input_shape):
        self.embeddings = self.add_weight((self.input_dim, self.output_dim), "uniform", name="embeddings")

    def call(self, inputs):
        return self.embeddings[inputs.numpy()].mean(axis=1)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim}


def test_saved_model_predicts_raw_strings_after_load(tmp_path):
    rng = np.random.default_rng(0)
    words = np.array(["good", "great", "fine", "bad", "awful", "poor", "movie", "plot", "the"])
    labels = rng.integers(0, 2, 64)
    texts = np.array([" ".join(rng.choice(words[:3] if y else words[3:6], 2)) + " the movie" for y in labels])
    vectorize = TextVectorization(max_tokens=20, output_sequence_length=6)
    vectorize.adapt(texts)
    model = Sequential([vectorize, _EmbeddingMean(20, 4), Dense(1, activation="sigmoid")])
    model.compile(Adam(0.05), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(texts, labels.astype(np.float32), epochs=30, batch_size=16, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    sentences = np.array(["A great movie!", "The plot is awful", "never seen words"])
    before = model.predict(sentences)
    model.save(tmp_path / "text.deepgrad")
    loaded = load_model(tmp_path / "text.deepgrad", custom_objects={"_EmbeddingMean": _EmbeddingMean})
    np.testing.assert_allclose(loaded.predict(sentences), before, rtol=1e-6)
    assert loaded.layers[0].get_vocabulary() == vectorize.get_vocabulary()
    assert loaded.evaluate(texts, labels.astype(np.float32), verbose=0)[1] > 0.9

    bags = Sequential([TextVectorization(output_mode="tf_idf", vocabulary=["good", "bad"], idf_weights=[1.0, 2.0]),
                       Dense(1)])
    bags.compile("sgd", "mse")
    expected = bags.predict(["good bad bad"])  # a list of strings builds the model too
    np.testing.assert_allclose(expected[0], bags.layers[1].bias.numpy() + bags.layers[1].kernel.numpy()[1:].T @ [1, 4],
                               rtol=1e-6)
    bags.save(tmp_path / "bags.deepgrad")
    np.testing.assert_allclose(load_model(tmp_path / "bags.deepgrad").predict(["good bad bad"]), expected, rtol=1e-6)


def test_string_tensor_to_a_model_without_text_vectorization_names_it():
    model = Sequential([Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(TypeError, match="string tensor fed to a model without TextVectorization"):
        model.predict(np.array(["a sentence", "another"]))
    with pytest.raises(TypeError, match="TextVectorization"):
        model.fit(np.array([["a"], ["b"]]), np.zeros(2), verbose=0)


def test_log_count_ratios_are_the_smoothed_naive_bayes_log_odds_per_feature():
    from deepgrad.layers.text import log_count_ratios

    layer = TextVectorization(output_mode="multi_hot")
    texts = np.array(["good fun", "good film", "dull film", "dull dull plot"])
    labels = np.array([1, 1, 0, 0])
    layer.adapt(texts)
    r = log_count_ratios(layer, texts, labels, alpha=1.0, batch_size=3)  # two batches, summed
    vocabulary = layer.get_vocabulary()
    # rows containing each word, plus alpha = 1 for each of the 6 features:
    # positives good 2, fun 1, film 1 -> p sums to 4 + 6; negatives dull 2 (multi_hot: once per row), film 1,
    # plot 1 -> q sums to 4 + 6
    p = {"[UNK]": 1, "good": 3, "fun": 2, "film": 2, "dull": 1, "plot": 1}
    q = {"[UNK]": 1, "good": 1, "fun": 1, "film": 2, "dull": 3, "plot": 2}
    np.testing.assert_allclose(r, [np.log((p[t] / 10) / (q[t] / 10)) for t in vocabulary])
    # naive Bayes with equal priors classifies the training texts from these ratios
    np.testing.assert_array_equal(layer(texts).numpy() @ r > 0, labels == 1)
    with pytest.raises(ValueError, match="output_mode='multi_hot'"):
        log_count_ratios(TextVectorization(), texts, labels)
    with pytest.raises(ValueError, match="one label per text"):
        log_count_ratios(layer, texts, [0, 1])
    with pytest.raises(ValueError, match="binary"):
        log_count_ratios(layer, texts, [0, 1, 2, 0])
    with pytest.raises(ValueError, match="alpha must be > 0"):
        log_count_ratios(layer, texts, labels, alpha=0)
