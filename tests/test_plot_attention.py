"""plot_attention_weights draws one sentence's attention: tokens on both axes, per head or averaged."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import deepgrad as dg  # noqa: E402
from deepgrad import plot  # noqa: E402
from deepgrad.layers import MultiHeadAttention  # noqa: E402

TOKENS = ["a", "good", "film", "indeed"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _weights(rng, heads=3, steps=6):
    """Softmax rows of shape (1, heads, steps, steps), as MultiHeadAttention returns for one sentence."""
    scores = rng.standard_normal((1, heads, steps, steps))
    e = np.exp(scores)
    return e / e.sum(-1, keepdims=True)


def test_attention_weights_are_drawn_averaged_over_heads_with_tokens_on_both_axes(tmp_path):
    weights = _weights(np.random.default_rng(0))
    fig = plot.plot_attention_weights(weights, TOKENS, save_path=tmp_path / "attention.png")
    (ax,) = [a for a in fig.axes if a.get_title()]
    assert ax.get_title() == "mean over heads"
    assert [t.get_text() for t in ax.get_xticklabels()] == TOKENS
    assert [t.get_text() for t in ax.get_yticklabels()] == TOKENS
    assert ax.get_xlabel() == "key (attended to)" and ax.get_ylabel() == "query"
    # padded positions after the sentence are cut away; the cells are the head average
    np.testing.assert_allclose(ax.images[0].get_array(), weights[0].mean(0)[:4, :4])
    assert (tmp_path / "attention.png").stat().st_size > 5000


def test_attention_weights_per_head_and_one_head_and_from_the_layer(tmp_path):
    rng = np.random.default_rng(1)
    weights = _weights(rng)
    fig = plot.plot_attention_weights(weights[0], TOKENS, heads="all", ncols=2)
    titled = [a for a in fig.axes if a.get_title()]
    assert [a.get_title() for a in titled] == ["head 0", "head 1", "head 2"]
    for h, ax in enumerate(titled):
        np.testing.assert_allclose(ax.images[0].get_array(), weights[0, h, :4, :4])
    one = plot.plot_attention_weights(weights, TOKENS, heads=-1)
    assert [a.get_title() for a in one.axes if a.get_title()] == ["head 2"]
    dg.manual_seed(0)
    x = dg.Tensor(rng.standard_normal((1, 4, 8)).astype(np.float32))
    _, scores = MultiHeadAttention(num_heads=2, key_dim=4)(x, x, return_attention_scores=True)
    fig = plot.plot_attention_weights(scores, TOKENS, query_tokens=["w", "x", "y", "z"])
    (ax,) = [a for a in fig.axes if a.get_title()]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["w", "x", "y", "z"]
    np.testing.assert_allclose(ax.images[0].get_array().sum(-1), 1.0, rtol=1e-5)


def test_attention_weights_refuse_bad_shapes_heads_and_too_many_tokens():
    weights = _weights(np.random.default_rng(2), steps=3)
    with pytest.raises(ValueError, match="fewer than"):
        plot.plot_attention_weights(weights, TOKENS)
    with pytest.raises(ValueError, match="heads must be"):
        plot.plot_attention_weights(weights, TOKENS[:3], heads=3)
    with pytest.raises(ValueError, match="one sentence"):
        plot.plot_attention_weights(np.zeros((2, 3, 3, 3)), TOKENS[:3])
