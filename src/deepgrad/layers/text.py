"""Text preprocessing: TextVectorization turns raw strings into token ids or bag-of-words vectors (Keras 3).

The pipeline for each string: standardize (lower-case, strip punctuation), split into
tokens (on whitespace), optionally add n-grams, then look each token up in a vocabulary
learned by :meth:`TextVectorization.adapt` (or given). The vocabulary travels in the
layer's config, so a saved model restores it and accepts raw strings after loading.
"""

from __future__ import annotations

import collections
import numbers
import re

import numpy as np

from ..tensor import Tensor
from .base import Layer

#: Keras' DEFAULT_STRIP_REGEX: ASCII punctuation (``,-.`` is the range ',' '-' '.').
PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')

STANDARDIZE_MODES = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLIT_MODES = ("whitespace", "character")
OUTPUT_MODES = ("int", "multi_hot", "count", "tf_idf")
MASK_TOKEN = ""
OOV_TOKEN = "[UNK]"


def _check_function(argument, value, modes):
    if value is None or callable(value) or value in modes:
        return value
    raise ValueError(
        f"TextVectorization: {argument} must be None, one of {list(modes)} or a function of one string, "
        f"got {argument}={value!r}. (A model file names a custom function but never stores its code: "
        f"rebuild the layer with the function itself.)"
    )


def _check_ngrams(ngrams):
    if ngrams is None:
        return None
    if isinstance(ngrams, numbers.Integral) and not isinstance(ngrams, bool) and ngrams >= 1:
        return tuple(range(1, int(ngrams) + 1))
    if isinstance(ngrams, (list, tuple)) and ngrams and all(
            isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1 for n in ngrams):
        return tuple(int(n) for n in ngrams)
    raise ValueError(f"TextVectorization: ngrams must be None, a positive int or a tuple of positive ints, "
                     f"got ngrams={ngrams!r}.")


def _optional_positive(argument, value):
    if value is None:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"TextVectorization: {argument} must be None or a positive int, got {argument}={value!r}.")
    return int(value)


class TextVectorization(Layer):
    """Maps raw strings to token ids (``output_mode='int'``) or to per-token vectors, as Keras 3's layer.

    Each string is standardized (``'lower_and_strip_punctuation'``: lower-case, then drop
    ASCII punctuation; ``'lower'``; ``'strip_punctuation'``; None; or a function str -> str),
    split (``'whitespace'``, ``'character'``, None = the whole string is one token, or a
    function str -> list of str), extended with n-grams (``ngrams=2``: unigrams then
    bigrams, joined by a space) and looked up in the vocabulary:

    * ``'int'``: ids, with 0 the padding token ``''`` and 1 the out-of-vocabulary token
      ``'[UNK]'``; rows are padded with 0 (or cut) at the end to ``output_sequence_length``,
      else to the longest string of the batch. Output int64 (batch, length).
    * ``'multi_hot'``: 1 where a token occurs; ``'count'``: how often; ``'tf_idf'``: count
      times idf. Index 0 is ``'[UNK]'``. Output (batch, vocabulary_size) floats, or
      (batch, max_tokens) with ``pad_to_max_tokens``.

    :meth:`adapt` learns the vocabulary: tokens by frequency, most frequent first, ties in
    descending token order (Keras' rule), at most ``max_tokens`` entries counting the
    special tokens; for ``'tf_idf'`` also idf = log(1 + num_documents / (1 + document_frequency)),
    with the mean idf for ``'[UNK]'``.

    Input: strings of shape (batch,) or (batch, 1) (NumPy str/bytes arrays, lists or a str).
    Numeric input, the placeholder batch a model builds itself with, reads as empty strings.
    The layer has no weights; its vocabulary (and idf weights) are part of :meth:`get_config`.
    """

    #: The model's input checks let string arrays through to a model whose first layer says so.
    accepts_strings = True

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", **kwargs):
        super().__init__(**kwargs)
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"TextVectorization: output_mode must be one of {list(OUTPUT_MODES)}, "
                             f"got output_mode={output_mode!r}.")
        if sparse or ragged:
            raise ValueError("TextVectorization: deepgrad has no sparse or ragged tensors; use sparse=False, "
                             "ragged=False (int rows are padded with 0).")
        self.max_tokens = _optional_positive("max_tokens", max_tokens)
        self.output_mode = output_mode
        if self.max_tokens is not None and self.max_tokens <= self._token_start():
            raise ValueError(f"TextVectorization: max_tokens must leave room for the special tokens and at least one "
                             f"learned token (> {self._token_start()}), got max_tokens={max_tokens!r}.")
        self.standardize = _check_function("standardize", standardize, STANDARDIZE_MODES)
        self.split = _check_function("split", split, SPLIT_MODES)
        self.ngrams = ngrams
        self._ngram_widths = _check_ngrams(ngrams)
        self.output_sequence_length = _optional_positive("output_sequence_length", output_sequence_length)
        if self.output_sequence_length is not None and output_mode != "int":
            raise ValueError("TextVectorization: output_sequence_length is for output_mode='int' only, "
                             f"got output_mode={output_mode!r}.")
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        if self.pad_to_max_tokens and self.max_tokens is None:
            raise ValueError("TextVectorization: pad_to_max_tokens=True needs max_tokens.")
        self.encoding = encoding
        self._vocabulary = self._special_tokens()
        self._index = {}
        self.idf_weights = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        elif idf_weights is not None:
            raise ValueError("TextVectorization: idf_weights are given with a vocabulary (vocabulary=..., "
                             "idf_weights=...).")
        self.built = True

    # ---- vocabulary
    def _token_start(self):
        return 2 if self.output_mode == "int" else 1

    def _special_tokens(self):
        return [MASK_TOKEN, OOV_TOKEN] if self.output_mode == "int" else [OOV_TOKEN]

    def get_vocabulary(self, include_special_tokens=True) -> list:
        """The vocabulary, index i = token i: ``['', '[UNK]', ...]`` in 'int' mode, ``['[UNK]', ...]`` otherwise."""
        return list(self._vocabulary) if include_special_tokens else list(self._vocabulary[self._token_start():])

    def vocabulary_size(self) -> int:
        """The number of entries of the vocabulary, special tokens included."""
        return len(self._vocabulary)

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        """Use ``vocabulary`` (tokens, with or without the special tokens in front) and, for 'tf_idf', idf weights.

        Without the special tokens, the idf weight of '[UNK]' is the mean of the given weights (Keras' rule).
        """
        tokens = [t.decode(self.encoding) if isinstance(t, bytes) else str(t) for t in list(vocabulary)]
        special = self._special_tokens()
        has_special = tokens[:len(special)] == special
        learned = tokens[len(special):] if has_special else tokens
        reserved = sorted({MASK_TOKEN, OOV_TOKEN} & set(learned))
        if reserved:
            raise ValueError(f"TextVectorization: the vocabulary holds the reserved token(s) {reserved} after its "
                             f"start; only {special} may come first.")
        if len(set(learned)) != len(learned):
            repeated = sorted(t for t, c in collections.Counter(learned).items() if c > 1)[:5]
            raise ValueError(f"TextVectorization: the vocabulary repeats token(s) {repeated}.")
        if self.max_tokens is not None and len(special) + len(learned) > self.max_tokens:
            raise ValueError(f"TextVectorization: a vocabulary of {len(special) + len(learned)} tokens (special "
                             f"tokens included) exceeds max_tokens={self.max_tokens}.")
        weights = None
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError("TextVectorization: output_mode='tf_idf' needs idf_weights with the vocabulary.")
            weights = np.asarray(idf_weights, dtype=np.float64).reshape(-1)
            if len(weights) != len(tokens):
                raise ValueError(f"TextVectorization: {len(weights)} idf_weights for a vocabulary of "
                                 f"{len(tokens)} tokens; give one weight per token.")
            if not has_special:
                weights = np.concatenate([np.full(len(special), weights.mean() if len(weights) else 0.0), weights])
        elif idf_weights is not None:
            raise ValueError("TextVectorization: idf_weights are only used with output_mode='tf_idf'.")
        self._vocabulary = special + learned
        self._index = {token: i for i, token in enumerate(learned, start=len(special))}
        self.idf_weights = weights

    def adapt(self, data, batch_size=None, steps=None) -> None:
        """Learn the vocabulary (and idf weights) from ``data``: strings, or an iterable of batches of strings.

        Tokens are ranked by count (descending), ties by token (descending); the first
        ``max_tokens`` minus the special tokens are kept.
        """
        counts, documents, n_documents = collections.Counter(), collections.Counter(), 0
        for batch in _batches(data, steps):
            for text in self._strings(batch).reshape(-1):
                tokens = self._tokens(text)
                counts.update(tokens)
                documents.update(set(tokens))
                n_documents += 1
        for special in (MASK_TOKEN, OOV_TOKEN):
            counts.pop(special, None)
        ranked = sorted(counts.items(), key=lambda item: (item[1], item[0]), reverse=True)
        if self.max_tokens is not None:
            ranked = ranked[:self.max_tokens - self._token_start()]
        learned = [token for token, _ in ranked]
        idf = None
        if self.output_mode == "tf_idf":
            idf = np.log(1.0 + n_documents / (1.0 + np.array([documents[t] for t in learned], dtype=np.float64)))
        self.set_vocabulary(learned, idf)

    # ---- the text pipeline
    def _strings(self, inputs):
        """Inputs as a NumPy array of Python str (numeric placeholders as empty strings)."""
        data = inputs.data if isinstance(inputs, Tensor) else inputs
        if isinstance(data, (str, bytes)):
            data = [data]
        data = np.asarray(data.get() if hasattr(data, "get") else data)  # a CuPy array comes to the host
        if data.dtype.kind == "S" or data.dtype == object:
            return np.vectorize(lambda s: s.decode(self.encoding) if isinstance(s, bytes) else str(s),
                                otypes=[object])(data) if data.size else data.astype(object)
        if data.dtype.kind != "U":
            return np.full(data.shape, "", dtype=object)
        return data.astype(object)

    def _tokens(self, text):
        standardize = self.standardize
        if standardize in ("lower", "lower_and_strip_punctuation"):
            text = text.lower()
        if standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            text = PUNCTUATION.sub("", text)
        elif callable(standardize):
            text = standardize(text)
        split = self.split
        if split == "whitespace":
            tokens = text.split()
        elif split == "character":
            tokens = list(text)
        elif split is None:
            tokens = [text]
        else:
            tokens = list(split(text))
        if self._ngram_widths is None:
            return tokens
        return [" ".join(tokens[i:i + n]) for n in self._ngram_widths for i in range(len(tokens) - n + 1)]

    def _ids(self, texts):
        """Per string, the list of token ids (1 for an unknown token in 'int' mode, 0 otherwise)."""
        oov = self._token_start() - 1
        index = self._index
        return [[index.get(token, oov) for token in self._tokens(text)] for text in texts]

    def _depth(self):
        return self.max_tokens if self.pad_to_max_tokens else len(self._vocabulary)

    def __call__(self, inputs, training=None, **kwargs):
        if isinstance(inputs, (str, bytes)) or (isinstance(inputs, (list, tuple)) and inputs
                                                and isinstance(inputs[0], (str, bytes))):
            inputs = np.asarray(inputs)  # strings, not a list of inputs
        return super().__call__(inputs, training=training, **kwargs)

    def call(self, inputs):
        texts = self._strings(inputs)
        scalar = texts.ndim == 0
        if texts.ndim == 2 and texts.shape[1] == 1:
            texts = texts[:, 0]
        elif texts.ndim > 1:
            raise ValueError(f"TextVectorization expects strings of shape (batch,) or (batch, 1), got shape "
                             f"{texts.shape}.")
        ids = self._ids(texts.reshape(-1))
        lengths = np.array([len(row) for row in ids], dtype=np.int64)
        flat = np.fromiter((i for row in ids for i in row), dtype=np.int64, count=int(lengths.sum()))
        rows = np.repeat(np.arange(len(ids)), lengths)
        if self.output_mode == "int":
            out = self._int_rows(flat, rows, lengths)
        else:
            out = self._bag_rows(flat, rows, len(ids))
        return Tensor(out[0] if scalar else out)

    def _int_rows(self, flat, rows, lengths):
        length = self.output_sequence_length
        if length is None:
            length = max(1, int(lengths.max()) if len(lengths) else 1)  # never an empty axis
        out = np.zeros((len(lengths), length), dtype=np.int64)
        positions = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        kept = positions < length
        out[rows[kept], positions[kept]] = flat[kept]
        return out

    def _bag_rows(self, flat, rows, n):
        depth = self._depth()
        counts = np.bincount(rows * depth + flat, minlength=n * depth).reshape(n, depth).astype(self.dtype)
        if self.output_mode == "multi_hot":
            return np.minimum(counts, 1, out=counts)
        if self.output_mode == "tf_idf":
            idf = np.zeros(depth, dtype=np.float64)
            if self.idf_weights is not None:
                idf[:len(self.idf_weights)] = self.idf_weights
            counts *= idf.astype(self.dtype)
        return counts

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return (input_shape[0], self.output_sequence_length)
        return (input_shape[0], self._depth())

    def get_config(self):
        config = super().get_config()
        config.update({
            "max_tokens": self.max_tokens,
            "standardize": _function_name(self.standardize),
            "split": _function_name(self.split),
            "ngrams": list(self.ngrams) if isinstance(self.ngrams, (list, tuple)) else self.ngrams,
            "output_mode": self.output_mode,
            "output_sequence_length": self.output_sequence_length,
            "pad_to_max_tokens": self.pad_to_max_tokens,
            "sparse": False,
            "ragged": False,
            "vocabulary": self.get_vocabulary() if len(self._vocabulary) > self._token_start() else None,
            "idf_weights": None if self.idf_weights is None else [float(w) for w in self.idf_weights],
            "encoding": self.encoding,
        })
        return config


def log_count_ratios(vectorizer, texts, labels, alpha=1.0, batch_size=512):
    """Naive-Bayes log-count ratios of a bag-of-words vocabulary (Wang & Manning 2012, NBSVM).

    ``vectorizer`` is an adapted :class:`TextVectorization` with ``output_mode`` 'multi_hot'
    (Wang & Manning's binarized features) or 'count'; ``texts`` the training strings and
    ``labels`` their binary labels. With p = alpha + the sum of the bags of the texts
    labelled 1 and q = alpha + the sum of those labelled 0,

        r = log((p / ||p||_1) / (q / ||q||_1)),

    one ratio per vocabulary entry (index i = ``vectorizer.get_vocabulary()[i]``): how much
    more often the token occurs in positive than in negative texts, smoothed by ``alpha``.
    ``bag @ r`` plus the log prior ratio is the multinomial naive-Bayes log-odds of a text.
    The texts are vectorized ``batch_size`` at a time (the bags of a whole corpus of n-grams
    would not fit in memory). Compute it from training data only.
    """
    if not isinstance(vectorizer, TextVectorization) or vectorizer.output_mode not in ("multi_hot", "count"):
        raise ValueError("log_count_ratios: vectorizer must be a TextVectorization with output_mode='multi_hot' or "
                         "'count' (adapted on the training texts).")
    texts = np.asarray(texts)
    labels = np.asarray(labels.data if isinstance(labels, Tensor) else labels).reshape(-1)
    if len(texts) != len(labels):
        raise ValueError(f"log_count_ratios: {len(texts)} texts but {len(labels)} labels; give one label per text.")
    if not set(np.unique(labels).tolist()) <= {0, 1}:
        raise ValueError("log_count_ratios: labels must be binary (0 or 1).")
    if not alpha > 0:
        raise ValueError(f"log_count_ratios: alpha must be > 0 (it keeps unseen features finite), got alpha={alpha!r}.")
    p = np.full(vectorizer._depth(), float(alpha))
    q = p.copy()
    for start in range(0, len(texts), batch_size):
        bags = np.asarray(vectorizer(texts[start:start + batch_size]).data, dtype=np.float64)
        positive = labels[start:start + batch_size] == 1
        p += bags[positive].sum(axis=0)
        q += bags[~positive].sum(axis=0)
    return np.log(p / p.sum()) - np.log(q / q.sum())


def _function_name(value):
    return getattr(value, "__name__", None) if callable(value) else value


def _batches(data, steps):
    """The batches of ``data``: an array/list/str of strings is one batch; other iterables give theirs."""
    if isinstance(data, (str, bytes, np.ndarray, Tensor)) or (
            isinstance(data, (list, tuple)) and (not data or isinstance(data[0], (str, bytes)))):
        yield data
        return
    for step, batch in enumerate(data):
        if steps is not None and step >= steps:
            return
        yield batch[0] if isinstance(batch, tuple) else batch

