"""ParameterBuffer in its own module, and the public gradient-view accessor the engine honours."""

import importlib

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.parameters import ParameterBuffer


def test_parameter_buffer_is_importable_from_its_old_homes():
    assert dg.ParameterBuffer is ParameterBuffer
    tensor_module = importlib.import_module("deepgrad.tensor")  # deepgrad.tensor is the function
    assert tensor_module.ParameterBuffer is ParameterBuffer
    from deepgrad.tensor import ParameterBuffer as old  # noqa: PLC0415

    assert old is ParameterBuffer
    with pytest.raises(AttributeError, match="no_such_name"):
        tensor_module.no_such_name  # noqa: B018


def test_grad_view_is_public_and_backward_writes_into_it():
    a = dg.tensor([1.0, 2.0], requires_grad=True)
    b = dg.tensor([[3.0]], requires_grad=True)
    assert a.grad_view is None
    buffer = ParameterBuffer([a, b])
    assert a.grad_view.base is buffer.grad and b.grad_view.shape == (1, 1)
    buffer.zero_grad()
    ((a * a).sum() + (b * 2.0).sum()).backward()
    assert a.grad is a.grad_view and b.grad is b.grad_view
    np.testing.assert_array_equal(buffer.grad, [2.0, 4.0, 2.0])


def test_grad_view_must_match_the_tensor_shape():
    a = dg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        a.grad_view = np.zeros(3, dtype=np.float32)


def test_release_gives_tensors_their_own_arrays_back():
    a = dg.tensor([1.0, 2.0], requires_grad=True)
    buffer = ParameterBuffer([a])
    buffer.release()
    assert a.grad_view is None and a.grad is None
    assert a.data.base is None
    np.testing.assert_array_equal(a.data, [1.0, 2.0])
    (a * a).sum().backward()  # an ordinary leaf again: a fresh gradient array
    assert a.grad.base is not buffer.grad


def test_a_tensor_given_twice_is_rejected_before_any_tensor_is_moved():
    a = dg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="same tensor twice"):
        ParameterBuffer([a, a])
    assert a.grad_view is None and a.data.base is None
