"""The Tensor API and the autograd engine: accumulation, graph release, deep graphs,
dtype rules, error messages, no_grad, seeding and the ParameterBuffer."""

import gc
import weakref

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.tensor import make_result

# --------------------------------------------------------------------------- construction


def test_dtype_rules():
    assert dg.tensor([1.0, 2.0]).dtype == np.float32
    assert dg.tensor(1.5).dtype == np.float32
    assert dg.tensor([1, 2]).dtype == np.int64
    assert dg.tensor([True, False]).dtype == np.bool_
    assert dg.tensor(np.zeros(2)).dtype == np.float64
    assert dg.tensor(np.float64(2.0)).dtype == np.float64
    assert dg.tensor([1, 2], dtype="float64").dtype == np.float64
    assert dg.zeros(2).dtype == dg.randn(2).dtype == np.float32


def test_float64_is_kept_through_ops():
    x = dg.tensor(np.array([0.5, 1.5]), requires_grad=True)
    y = (x * 2 + 1).exp().log_softmax() / 3
    y.sum().backward()
    assert y.dtype == np.float64 and x.grad.dtype == np.float64


def test_tensor_copies_and_tensor_class_wraps():
    data = np.ones(3)
    copied, wrapped = dg.tensor(data), dg.Tensor(data)
    data[0] = 5.0
    assert copied.numpy()[0] == 1.0 and wrapped.numpy()[0] == 5.0


def test_properties_and_conversions():
    t = dg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
    assert t.dtype == np.float32 and t.device == "cpu"
    assert t.T.shape == (3, 2)
    np.testing.assert_array_equal(np.asarray(t), t.numpy())
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert isinstance(t.numpy(), np.ndarray)
    assert t[1, 2].item() == 6.0 and isinstance(t[1, 2].item(), float)
    assert t.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    with pytest.raises(ValueError, match="one element"):
        t.item()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t)


def test_repr_shows_values_dtype_and_grad_fn():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<mul>)"
    assert repr(dg.tensor([1, 2])) == "tensor([1, 2], dtype=int64)"


def test_only_floating_tensors_can_require_grad():
    with pytest.raises(TypeError, match="only floating point tensors can require gradients.*int64"):
        dg.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="never differentiable"):
        (dg.tensor([1, 2]) * 2).sum().backward()


# --------------------------------------------------------------------------- backward


def test_backward_matches_hand_derivation():
    # the course's neuron: a = ReLU(w.x + b)
    w = dg.tensor([1.0, 0.75], requires_grad=True)
    b = dg.tensor(0.5, requires_grad=True)
    x = dg.tensor([0.8, 1.2])
    a = ((x * w).sum() + b).relu()
    a.backward()
    assert a.item() == pytest.approx(2.2)
    np.testing.assert_allclose(w.grad, [0.8, 1.2])
    assert b.grad == pytest.approx(1.0) and x.grad is None


def test_grad_accumulates_across_backward_calls_and_zero_grad_resets():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0 + 3.0, 4.0 + 3.0])
    x.zero_grad()
    assert x.grad is None
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad, [1.0, 1.0])


def test_tensor_used_twice_sums_both_paths():
    x = dg.tensor(np.array([3.0]), requires_grad=True)
    y = x * 2
    (y * y + y).sum().backward()  # d/dx (4x^2 + 2x) = 8x + 2
    np.testing.assert_allclose(x.grad, [26.0])


def test_backward_needs_grad_for_non_scalar():
    y = dg.tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"only for a scalar .* shape \(2,\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\)"):
        y.backward(np.ones(3))


def test_backward_with_explicit_grad_copies_it():
    x = dg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    seed = np.array([1.0, 10.0])
    x.reshape(2).backward(seed)
    seed[:] = 0.0
    np.testing.assert_array_equal(x.grad, [1.0, 10.0])


def test_backward_without_requires_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        dg.tensor([1.0]).sum().backward()


def test_graph_is_released_unless_retained():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad, [4.0, 8.0])
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()


def test_leaf_gradients_never_alias():
    a = dg.tensor([1.0, 2.0], requires_grad=True)
    b = dg.tensor([1.0, 2.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad += 1.0
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])

    def twice(g):
        shared = g * 2.0
        return shared, shared  # one fresh array for two parents

    c = dg.tensor([1.0], requires_grad=True)
    d = dg.tensor([1.0], requires_grad=True)
    make_result(c.data + d.data, (c, d), twice, "twice").sum().backward()
    assert c.grad is not d.grad
    c.grad += 1.0
    np.testing.assert_array_equal(d.grad, [2.0])


def test_chain_of_ten_thousand_ops_backpropagates():
    x = dg.tensor(np.array([1.0]), requires_grad=True)
    h = x
    for _ in range(10_000):
        h = h * 1.0001
    h.backward(np.ones(1))
    np.testing.assert_allclose(x.grad, [1.0001 ** 10_000])
    deep = x
    for _ in range(10_000):
        deep = deep + 1.0
    del deep  # dropping an unreleased deep graph must not overflow the C stack either


def test_intermediates_freed_by_refcounting_alone():
    gc.collect()
    gc.disable()
    try:
        w = dg.tensor(np.ones((3, 3)), requires_grad=True)
        x = dg.tensor(np.ones((2, 3)))
        hidden = (x @ w).tanh()
        logits = hidden * 2 + 1
        refs = [weakref.ref(t) for t in (hidden, logits)]
        array_ref = weakref.ref(hidden.data)
        loss = logits.sum()
        del hidden, logits
        assert all(r() is not None for r in refs)  # alive: the graph still needs them
        loss.backward()
        assert all(r() is None for r in refs)  # backward released the graph
        assert array_ref() is None

        keep = (w * 3).exp()
        kept_ref = weakref.ref(keep)
        loss = keep.sum()
        del keep
        assert kept_ref() is not None
        del loss  # no backward: dropping the loss frees the graph
        assert kept_ref() is None
    finally:
        gc.enable()


# --------------------------------------------------------------------------- grad modes


def test_no_grad_records_nothing():
    x = dg.tensor([1.0], requires_grad=True)
    with dg.no_grad():
        assert not dg.is_grad_enabled()
        y = x * 2
        with dg.enable_grad():
            z = x * 2
    assert dg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    assert z.requires_grad and z.grad_fn == "mul"

    @dg.no_grad()
    def infer(t):
        return t.exp()

    assert not infer(x).requires_grad


def test_detach_shares_data_and_cuts_the_graph():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).detach()
    assert not y.requires_grad and y.is_leaf
    z = x * 3
    assert np.shares_memory(z.detach().numpy(), z.numpy())


def test_setitem_guards_tensors_that_require_grad():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place assignment"):
        x[0] = 5.0
    with dg.no_grad():
        x[0] = 5.0
    assert x.numpy()[0] == 5.0


def test_astype_is_differentiable_between_floats():
    x = dg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x.float()
    assert y.dtype == np.float32
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, [2.0, 4.0])
    assert not x.astype("int64").requires_grad


def test_manual_seed_repeats_random_tensors():
    dg.manual_seed(7)
    first = (dg.randn(3).numpy(), dg.rand(2).numpy())
    dg.manual_seed(7)
    second = (dg.randn(3).numpy(), dg.rand(2).numpy())
    dg.manual_seed(8)
    third = dg.randn(3).numpy()
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], third)
    with pytest.raises(ValueError, match="non-negative integer"):
        dg.manual_seed(-1)


def test_factories():
    assert dg.zeros(2, 3).shape == (2, 3) and dg.ones((2,)).numpy().sum() == 2
    assert dg.full((2, 2), 7.0).numpy().max() == 7.0
    np.testing.assert_array_equal(dg.arange(3).numpy(), [0, 1, 2])
    np.testing.assert_array_equal(dg.eye(2).numpy(), np.eye(2))
    t = dg.ones(2, requires_grad=True)
    assert t.requires_grad and dg.zeros_like(t).shape == (2,) and dg.ones_like(t).dtype == np.float32


# --------------------------------------------------------------------------- ParameterBuffer


def test_parameter_buffer_views_and_gradients():
    weights = dg.tensor(np.arange(6.0).reshape(2, 3).astype(np.float32), requires_grad=True)
    bias = dg.tensor([0.5, -0.5], requires_grad=True)
    buffer = dg.ParameterBuffer([weights, bias])
    assert buffer.size == 8 and buffer.slices == [slice(0, 6), slice(6, 8)]
    assert np.shares_memory(weights.data, buffer.data) and np.shares_memory(bias.data, buffer.data)
    np.testing.assert_array_equal(buffer.data, [0, 1, 2, 3, 4, 5, 0.5, -0.5])

    x = dg.tensor([[1.0, 2.0, 3.0]])
    for _ in range(2):  # gradients accumulate in the flat buffer across backward calls
        (x @ weights.T + bias).sum().backward()
    np.testing.assert_array_equal(buffer.grad, [2, 4, 6, 2, 4, 6, 2, 2])
    assert weights.grad is weights._grad_view and np.shares_memory(weights.grad, buffer.grad)

    buffer.data -= 0.5 * buffer.grad  # one in-place update reaches every tensor
    np.testing.assert_array_equal(bias.numpy(), [-0.5, -1.5])

    buffer.zero_grad()
    assert weights.grad is None and bias.grad is None
    (x @ weights.T).sum().backward()  # the new gradient replaces the old one in the view
    assert weights.grad is weights._grad_view
    np.testing.assert_array_equal(buffer.grad[:6], [1, 2, 3, 1, 2, 3])
    assert bias.grad is None  # no gradient reached it
    weights.zero_grad()
    assert weights.grad is None

    assert buffer.owns([weights, bias])
    assert not buffer.owns([bias, weights]) and not buffer.owns([weights])
    weights.data = weights.data.copy()  # detached from the buffer
    assert not buffer.owns([weights, bias])


def test_parameter_buffer_errors():
    with pytest.raises(ValueError, match="at least one tensor"):
        dg.ParameterBuffer([])
    t = dg.zeros(2, requires_grad=True)
    dg.ParameterBuffer([t])
    with pytest.raises(ValueError, match="only one ParameterBuffer"):
        dg.ParameterBuffer([t])
