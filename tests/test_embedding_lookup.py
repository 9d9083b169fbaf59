"""The Embedding lookup op: rows forward, repeated ids accumulate backward (against a one-hot product)."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.layers.embedding import lookup


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lookup_gradient_adds_the_rows_of_repeated_ids(dtype):
    rng = np.random.default_rng(0)
    table_data = rng.normal(size=(7, 3))
    ids = np.array([[1, 4, 1, 0], [6, 1, 4, 4]])  # repeats within and across rows; 2, 3, 5 unused
    weights = rng.normal(size=(2, 4, 3))
    table = dg.tensor(table_data, dtype=dtype, requires_grad=True)
    out = lookup(table, ids)
    np.testing.assert_array_equal(out.numpy(), table_data.astype(dtype)[ids])
    (out * dg.tensor(weights, dtype=dtype)).sum().backward()
    one_hot = np.eye(7)[ids].reshape(-1, 7)
    expected = one_hot.T @ weights.reshape(-1, 3)  # d/dtable of sum(weights * onehot @ table)
    assert table.grad.dtype == dtype
    np.testing.assert_allclose(table.grad, expected, rtol=1e-6, atol=1e-6)
    assert not table.grad[[2, 3, 5]].any()


def test_embedding_layer_uses_the_lookup_and_passes_gradcheck():
    ids = np.array([[0, 3, 3], [4, 0, 1]])
    table = dg.tensor(np.random.default_rng(1).normal(size=(5, 2)), requires_grad=True)
    assert dg.gradcheck(lambda t: lookup(t, ids) * lookup(t, ids[::-1]), table)
    layer = dg.layers.Embedding(5, 2)
    out = layer(ids)
    assert out._op == "embedding"
    assert out.shape == (2, 3, 2)
    out.sum().backward()
    np.testing.assert_allclose(layer.embeddings.grad[:, 0], [2, 1, 0, 2, 1])
