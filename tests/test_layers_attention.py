"""Attention layers: masked_softmax's gradient, Attention/AdditiveAttention against Keras' formulas,
MultiHeadAttention against torch.nn.MultiheadAttention from mapped weights.

Weight mapping (E = embed dim = num_heads * key_dim, heads split contiguously in both):
torch's ``in_proj_weight`` (3E, E) holds rows [W_q; W_k; W_v] with y = x W^T + b, so
W_q = query_kernel.reshape(E, E).T (Keras kernel (E, heads, key_dim)), and likewise for
key and value; ``in_proj_bias`` = [query_bias; key_bias; value_bias] flattened (heads, key_dim);
``out_proj.weight`` = output_kernel.reshape(E, E).T (Keras (heads, value_dim, E)),
``out_proj.bias`` = output_bias. torch's masks say True = ignore, Keras' True = attend.
"""

import numpy as np
import pytest
from torch_reference import reference, torch

import deepgrad as dg
from deepgrad.layers import AdditiveAttention, Attention, Dense, Input, MultiHeadAttention
from deepgrad.models import Model, Sequential, load_model
from deepgrad.ops import masked_softmax


def _softmax(x, keep=None):
    x = np.where(keep, x, -1e9) if keep is not None else x
    e = np.exp(x - x.max(-1, keepdims=True))
    p = e / e.sum(-1, keepdims=True)
    return p * keep if keep is not None else p


def test_masked_softmax_gradient_and_values(rng, check_grad):
    x = rng.standard_normal((2, 3, 4))
    keep = rng.random((2, 1, 4)) > 0.4
    keep[1, 0] = False  # a row with every key masked gives zeros, and no gradient
    check_grad(lambda t: masked_softmax(t, keep), x)
    check_grad(lambda t: masked_softmax(t, None, axis=1), x)
    out = masked_softmax(dg.Tensor(x), keep).numpy()
    np.testing.assert_allclose(out, _softmax(x, keep), atol=1e-12)
    assert np.all(out[1] == 0)
    with pytest.raises(ValueError, match="does not broadcast"):
        masked_softmax(dg.Tensor(x), np.ones((5,), bool))


def _t(a):
    return dg.Tensor(np.asarray(a, dtype=np.float64))


@pytest.mark.parametrize("use_scale", [False, True])
@pytest.mark.parametrize("score_mode", ["dot", "concat"])
def test_attention_matches_keras_formula(rng, use_scale, score_mode):
    q, v, k = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 4))
    q_mask = np.array([[1, 1, 0], [1, 1, 1]], bool)
    v_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    layer = Attention(use_scale=use_scale, score_mode=score_mode, dtype="float64")
    out, w = layer([_t(q), _t(v), _t(k)], mask=[q_mask, v_mask], return_attention_scores=True,
                   use_causal_mask=True)
    if use_scale:
        layer.scale.data[...] = 0.7
        out, w = layer([_t(q), _t(v), _t(k)], mask=[q_mask, v_mask], return_attention_scores=True,
                       use_causal_mask=True)
    scale = 0.7 if use_scale else 1.0
    if score_mode == "dot":
        scores = scale * q @ k.transpose(0, 2, 1)
    else:
        scores = np.tanh(scale * (q[:, :, None] + k[:, None])).sum(-1)
    keep = v_mask[:, None, :] & np.tril(np.ones((3, 5), bool))[None]
    expected_w = _softmax(scores, keep)
    np.testing.assert_allclose(w.numpy(), expected_w, atol=1e-12)
    np.testing.assert_allclose(out.numpy(), (expected_w @ v) * q_mask[..., None], atol=1e-12)
    assert [x.name for x in layer.weights] == (["scale"] if use_scale else []) + (
        ["concat_score_weight"] if score_mode == "concat" else [])


def test_additive_attention_matches_keras_formula_and_gradchecks(rng, check_grad):
    q, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    layer = AdditiveAttention(dtype="float64")
    out = layer([_t(q), _t(v)])
    scale = layer.scale.numpy()
    assert scale.shape == (4,)
    expected = _softmax((scale * np.tanh(q[:, :, None] + v[:, None])).sum(-1)) @ v
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-12)
    check_grad(lambda a, b: layer([a, b], mask=[None, np.array([[1, 1, 0, 1, 0], [1] * 5], bool)]), q, v)
    check_grad(lambda s: _with_weight(layer, "scale", s, [_t(q), _t(v)]), scale)
    assert AdditiveAttention.from_config(layer.get_config()).get_config()["use_scale"] is True
    assert "score_mode" not in layer.get_config()


def _with_weight(layer, name, value, inputs):
    """The layer's output with its weight ``name`` replaced by the tensor ``value`` (to gradcheck a weight)."""
    saved = getattr(layer, name)
    setattr(layer, name, value)
    try:
        return layer(inputs)
    finally:
        setattr(layer, name, saved)


def test_attention_dropout_only_while_training_and_seeded(rng):
    q = _t(rng.standard_normal((2, 3, 4)))
    layer = Attention(dropout=0.5, seed=3, dtype="float64")
    np.testing.assert_allclose(layer([q, q]).numpy(), Attention(dtype="float64")([q, q]).numpy())
    dg.manual_seed(0)
    first = Attention(dropout=0.5, seed=3, dtype="float64")([q, q], training=True).numpy()
    dg.manual_seed(0)
    again = Attention(dropout=0.5, seed=3, dtype="float64")([q, q], training=True).numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, layer([q, q]).numpy())
    with pytest.raises(ValueError, match="dropout"):
        Attention(dropout=1.0)
    with pytest.raises(ValueError, match="score_mode"):
        Attention(score_mode="general")
    with pytest.raises(ValueError, match=r"\[query, value\]"):
        Attention()(q)


def _mha_and_torch_weights(rng, embed, heads, dtype="float64"):
    layer = MultiHeadAttention(heads, embed // heads, dtype=dtype)
    layer.build((None, 4, embed), (None, 6, embed))
    layer.set_weights([rng.standard_normal(w.shape) * 0.3 for w in layer.get_weights()])
    wq, bq, wk, bk, wv, bv, wo, bo = layer.get_weights()
    in_proj = np.concatenate([w.reshape(embed, embed).T for w in (wq, wk, wv)])
    in_bias = np.concatenate([b.reshape(-1) for b in (bq, bk, bv)])
    return layer, (in_proj, in_bias, wo.reshape(embed, embed).T, bo)


def _torch_mha(weights, heads, q, v, key_padding=None, attn_mask=None):
    in_proj, in_bias, out_w, out_b = weights
    embed = in_proj.shape[1]
    torch.manual_seed(0)
    module = torch.nn.MultiheadAttention(embed, heads, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        module.in_proj_weight.copy_(torch.tensor(in_proj))
        module.in_proj_bias.copy_(torch.tensor(in_bias))
        module.out_proj.weight.copy_(torch.tensor(out_w))
        module.out_proj.bias.copy_(torch.tensor(out_b))
    tq, tv = torch.tensor(q, requires_grad=True), torch.tensor(v, requires_grad=True)
    out, w = module(tq, tv, tv, key_padding_mask=None if key_padding is None else torch.tensor(key_padding),
                    attn_mask=None if attn_mask is None else torch.tensor(attn_mask), average_attn_weights=False)
    out.pow(2).sum().backward()
    return [out.detach().numpy(), w.detach().numpy(), tq.grad.numpy(), tv.grad.numpy(),
            module.in_proj_weight.grad.numpy(), module.out_proj.weight.grad.numpy()]


def _run_mha(layer, q, v, **kwargs):
    tq, tv = dg.Tensor(q, requires_grad=True), dg.Tensor(v, requires_grad=True)
    out, w = layer(tq, tv, return_attention_scores=True, **kwargs)
    for weight in layer.weights:
        weight.grad = None
    (out ** 2).sum().backward()
    embed = q.shape[-1]
    in_grad = np.concatenate([layer.weights[i].grad.reshape(embed, embed).T for i in (0, 2, 4)])
    return [out.numpy(), w.numpy(), tq.grad, tv.grad, in_grad, layer.weights[6].grad.reshape(embed, embed).T]


def test_multi_head_attention_equals_torch_with_padding_mask(rng):
    embed, heads = 8, 2
    layer, weights = _mha_and_torch_weights(rng, embed, heads)
    q, v = rng.standard_normal((2, 4, embed)), rng.standard_normal((2, 6, embed))
    keep = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
    got = _run_mha(layer, q, v, value_mask=keep)
    expected = reference(lambda: _torch_mha(weights, heads, q, v, key_padding=~keep))
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-7, atol=1e-9)


def test_multi_head_attention_equals_torch_with_causal_mask(rng):
    embed, heads = 12, 3
    layer, weights = _mha_and_torch_weights(rng, embed, heads)
    x = rng.standard_normal((2, 6, embed))
    got = _run_mha(layer, x, x, use_causal_mask=True)
    causal_ignore = np.triu(np.ones((6, 6), bool), k=1)
    expected = reference(lambda: _torch_mha(weights, heads, x, x, attn_mask=causal_ignore))
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(got[1][:, :, np.triu_indices(6, 1)[0], np.triu_indices(6, 1)[1]], 0)


def test_multi_head_attention_gradcheck_and_masks_combine(rng, check_grad):
    layer = MultiHeadAttention(2, 3, value_dim=2, output_shape=5, dtype="float64")
    q, v, k = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 4, 5))
    attention_mask = rng.random((2, 3, 4)) > 0.3
    out = layer(_t(q), _t(v), _t(k), attention_mask=attention_mask, query_mask=np.array([[1, 1, 0], [1, 1, 1]]))
    assert out.shape == (2, 3, 5)
    assert [w.shape for w in layer.weights] == [(4, 2, 3), (2, 3), (5, 2, 3), (2, 3), (6, 2, 2), (2, 2),
                                                (2, 2, 5), (5,)]
    check_grad(lambda a, b, c: layer(a, b, c, attention_mask=attention_mask, use_causal_mask=True), q, v, k)
    _, w = layer(_t(q), _t(v), _t(k), attention_mask=attention_mask, query_mask=np.array([[1, 1, 0], [1, 1, 1]]),
                 return_attention_scores=True)
    np.testing.assert_array_equal(w.numpy()[0, :, 2], 0)                 # masked query step
    np.testing.assert_array_equal(w.numpy()[~np.broadcast_to(attention_mask[:, None], w.shape)], 0)


def test_multi_head_attention_config_errors_and_saving(rng, tmp_path):
    x = Input(shape=(5, 8))
    y = MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.1, kernel_regularizer="l2")(x, x)
    model = Model(x, Dense(1)(y))
    data = rng.standard_normal((3, 5, 8)).astype(np.float32)
    before = model.predict(data)
    assert model.count_params() == 3 * (8 * 8 + 8) + (8 * 8 + 8) + 9
    model.save(tmp_path / "mha.deepgrad")
    np.testing.assert_allclose(load_model(tmp_path / "mha.deepgrad").predict(data), before, rtol=1e-6)
    layer = model.layers[1]
    config = layer.get_config()
    assert config["value_dim"] is None and config["dropout"] == 0.1
    assert MultiHeadAttention.from_config(config).get_config() == {**config, "name": config["name"]}
    for bad in ({"num_heads": 0, "key_dim": 2}, {"num_heads": 2, "key_dim": 2, "attention_axes": (1, 2)},
                {"num_heads": 2, "key_dim": 2, "output_shape": (3, 4)}):
        with pytest.raises(ValueError, match="MultiHeadAttention"):
            MultiHeadAttention(**bad)
    with pytest.raises(ValueError, match="sequence, features"):
        MultiHeadAttention(2, 2)(dg.Tensor(np.zeros((2, 3))), dg.Tensor(np.zeros((2, 3))))


def test_multi_head_attention_trains_in_a_sequential_model(rng):
    model = Sequential([Input(shape=(4, 6)), _SelfAttention(2, 3), Dense(1)])
    model.compile("adam", "mse")
    x = rng.standard_normal((16, 4, 6)).astype(np.float32)
    y = x.mean(axis=(1, 2))[:, None, None] * np.ones((1, 4, 1), np.float32)
    history = model.fit(x, y, epochs=15, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


class _SelfAttention(MultiHeadAttention):
    """Self-attention on one input, as a Sequential model calls its layers."""

    def __call__(self, query, value=None, key=None, training=None, **kwargs):
        return super().__call__(query, query if value is None else value, key, training=training, **kwargs)
