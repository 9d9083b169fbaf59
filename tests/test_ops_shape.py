"""Shape ops and indexing: gradients routed back to where each value came from."""

import numpy as np
import pytest

import deepgrad as dg

SHAPE_OPS = {
    "reshape": lambda t: t.reshape(4, 6),
    "reshape_tuple": lambda t: dg.reshape(t, (-1,)),
    "view": lambda t: t.view(2, 12),
    "flatten": lambda t: t.flatten(),
    "transpose": lambda t: t.transpose(),
    "T": lambda t: t.T,
    "permute": lambda t: t.permute(2, 0, 1),
    "permute_negative": lambda t: dg.permute(t, (-1, 0, 1)),
    "broadcast_to": lambda t: t[:, :1, :].broadcast_to((5, 2, 3, 4)),
    "squeeze": lambda t: t[:, :1].squeeze(1),
    "squeeze_all": lambda t: t[:1, :1, :1].squeeze(),
    "unsqueeze": lambda t: t.unsqueeze(1),
    "expand_dims": lambda t: dg.expand_dims(t, -1),
    "pad": lambda t: t.pad(((0, 1), (2, 0), (1, 1)), constant_values=3.0),
    "pad_scalar_width": lambda t: dg.pad(t, 1),
    "split_sections": lambda t: t.split(2, axis=2)[1] * 2 + t.split(2, axis=2)[0],
    "split_points": lambda t: dg.split(t, [1, 2], axis=1)[2].sum() * t,
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op_gradients(name, rng, check_grad):
    check_grad(SHAPE_OPS[name], rng.standard_normal((2, 3, 4)))


INDICES = {
    "int": 1,
    "negative_int": -1,
    "slice": slice(1, None),
    "step_slice": (slice(None), slice(None, None, 2)),
    "ellipsis_newaxis": (Ellipsis, None, 0),
    "int_list": [0, 1, 0],                        # repeated rows accumulate
    "int_array_2d": np.array([[0, 1], [1, 1]]),
    "pairs": (np.array([0, 1, 1]), np.array([2, 0, 2])),
    "mixed": (slice(None), np.array([2, 2, 0])),
    "bool_mask": np.array([[True, False, True], [False, True, True]]),
    "bool_rows": np.array([True, False]),
}


@pytest.mark.parametrize("name", sorted(INDICES))
def test_indexing_gradients(name, rng, check_grad):
    index = INDICES[name]
    data = rng.standard_normal((2, 3, 4))
    check_grad(lambda t: t[index], data)
    np.testing.assert_array_equal(dg.Tensor(data)[index].numpy(), data[index])


def test_repeated_fancy_indices_accumulate():
    x = dg.Tensor(np.zeros(4), requires_grad=True)
    x[[1, 1, 3, 1]].sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 3.0, 0.0, 1.0])


def test_indexing_with_tensor_index():
    x = dg.Tensor(np.arange(5.0), requires_grad=True)
    x[dg.tensor([4, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 0.0, 0.0, 1.0])
    assert x[dg.tensor(2)].item() == 2.0


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack_gradients(axis, rng, check_grad):
    a, b, c = (rng.standard_normal((2, 3)) for _ in range(3))
    check_grad(lambda x, y, z: dg.concatenate([x, y, z * 2], axis=axis), a, b, c)
    check_grad(lambda x, y, z: dg.stack([x, y * y, z], axis=axis), a, b, c)


def test_concatenate_and_stack_shape_errors():
    with pytest.raises(ValueError, match=r"concatenate: shapes \[\(2, 3\), \(2, 4\)\] must match"):
        dg.concatenate([dg.zeros(2, 3), dg.zeros(2, 4)])
    with pytest.raises(ValueError, match="stack: all tensors must have the same shape"):
        dg.stack([dg.zeros(2), dg.zeros(3)])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_take_along_axis_and_gather(axis, rng, check_grad):
    data = rng.standard_normal((3, 4))
    shape = [3, 4]
    shape[axis] = 5
    indices = rng.integers(0, data.shape[axis], size=shape)
    check_grad(lambda t: t.take_along_axis(indices, axis), data)
    check_grad(lambda t: dg.gather(t, axis, indices), data)
    np.testing.assert_array_equal(dg.take_along_axis(dg.Tensor(data), indices, axis).numpy(),
                                  np.take_along_axis(data, indices, axis))


def test_take_along_axis_rejects_float_indices():
    with pytest.raises(TypeError, match="indices must be integers"):
        dg.zeros(2, 2).take_along_axis(np.zeros((2, 1)), 1)


def test_one_hot():
    out = dg.one_hot(dg.tensor([2, 0, 1]), 4)
    np.testing.assert_array_equal(out.numpy(), np.eye(4, dtype=np.float32)[[2, 0, 1]])
    assert out.dtype == np.float32 and not out.requires_grad
    assert dg.one_hot([1, 3]).shape == (2, 4)
    with pytest.raises(ValueError, match="out of range for 3 classes"):
        dg.one_hot([0, 3], 3)
    with pytest.raises(TypeError, match="integer class ids"):
        dg.one_hot([0.5])


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match=r"cannot reshape a tensor of shape \(2, 3\)"):
        dg.zeros(2, 3).reshape(4)
    with pytest.raises(ValueError, match="not a permutation"):
        dg.zeros(2, 3).transpose(0, 0)
    with pytest.raises(ValueError, match=r"cannot broadcast shape \(3,\) to \(4,\)"):
        dg.zeros(3).broadcast_to((4,))
    with pytest.raises(ValueError, match="axis 0 has length 2, not 1"):
        dg.zeros(2, 3).squeeze(0)
    with pytest.raises(IndexError, match=r"invalid for a tensor of shape \(2,\)"):
        dg.zeros(2)[5]
    with pytest.raises(ValueError, match="cannot be split into 4 equal sections"):
        dg.zeros(6).split(4)
    with pytest.raises(ValueError, match="widths must be non-negative"):
        dg.zeros(2).pad(-1)
