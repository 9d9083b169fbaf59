"""Up-sampling, zero-padding and cropping: gradients, PyTorch's interpolate, Keras's argument forms."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_reference import F, reference, torch

from deepgrad.ops import crop, upsample, zero_pad


@settings(max_examples=30, deadline=None, derandomize=True)
@given(rank=st.sampled_from([1, 2]), mode=st.sampled_from(["nearest", "bilinear"]),
       spatial=st.lists(st.integers(1, 6), min_size=2, max_size=2),
       size=st.lists(st.integers(1, 3), min_size=2, max_size=2),
       channels=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_upsample_equals_torch_interpolate(rank, mode, spatial, size, channels, seed):
    if rank == 1 and mode == "bilinear":
        mode = "linear"
    spatial, size = tuple(spatial[:rank]), tuple(size[:rank])
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2,) + spatial + (channels,))
    out = upsample(x.copy(), size, "bilinear" if mode == "linear" else mode)
    target = tuple(n * s for n, s in zip(spatial, size))
    expected = reference(lambda: F.interpolate(torch.tensor(x).movedim(-1, 1).requires_grad_(), size=target, mode=mode,
                                               **({} if mode == "nearest" else {"align_corners": False}))
                         .detach().movedim(1, -1).numpy(),
                         key=repr((rank, mode, spatial, size, channels, seed)))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_bilinear_matches_tensorflow_half_pixel_values():
    """tf.image.resize([[0, 1]] -> width 4, 'bilinear') is [0, 0.25, 0.75, 1]."""
    x = np.array([0.0, 1.0]).reshape(1, 2, 1)
    np.testing.assert_allclose(upsample(x, 2, "bilinear").numpy().ravel(), [0.0, 0.25, 0.75, 1.0])
    np.testing.assert_array_equal(upsample(x, 3).numpy().ravel(), [0, 0, 0, 1, 1, 1])


SPATIAL = {
    "nearest_2d": lambda t: upsample(t, (2, 3)),
    "nearest_1d": lambda t: upsample(t.reshape(2, 12, 2), 2),
    "nearest_channels_first": lambda t: upsample(t, 2, data_format="channels_first"),
    "bilinear_2d": lambda t: upsample(t, 2, "bilinear"),
    "bilinear_3d": lambda t: upsample(t.reshape(1, 2, 3, 4, 2), (1, 2, 3), "bilinear"),
    "zero_pad_int": lambda t: zero_pad(t, 1),
    "zero_pad_pairs": lambda t: zero_pad(t, ((0, 2), (1, 0))),
    "zero_pad_1d": lambda t: zero_pad(t.reshape(2, 12, 2), (1, 3)),
    "crop_symmetric": lambda t: crop(t, (1, 0)),
    "crop_pairs_channels_first": lambda t: crop(t, ((1, 1), (1, 0)), data_format="channels_first"),
}


@pytest.mark.parametrize("name", sorted(SPATIAL))
def test_spatial_gradcheck(name, rng, check_grad):
    check_grad(SPATIAL[name], rng.standard_normal((2, 3, 4, 2)))


def test_padding_and_cropping_forms_follow_keras(rng):
    x = rng.standard_normal((2, 4, 5, 3))
    assert zero_pad(x, 1).shape == (2, 6, 7, 3)
    assert zero_pad(x, (1, 2)).shape == (2, 6, 9, 3)                 # symmetric per axis
    assert zero_pad(x, ((1, 0), (0, 2))).shape == (2, 5, 7, 3)
    assert zero_pad(x[:, :, 0], (1, 2)).shape == (2, 7, 3)           # 1-d: (start, end)
    assert zero_pad(np.moveaxis(x, -1, 1), 1, data_format="channels_first").shape == (2, 3, 6, 7)
    padded = zero_pad(x, ((1, 0), (0, 2))).numpy()
    np.testing.assert_array_equal(padded[:, 1:, :5], x)
    assert padded[:, 0].any() == 0 and padded[:, :, 5:].any() == 0
    np.testing.assert_array_equal(crop(x, ((1, 2), (0, 1))).numpy(), x[:, 1:2, :4])
    np.testing.assert_array_equal(crop(x[:, :, 0], (1, 2)).numpy(), x[:, 1:2, 0])
    np.testing.assert_array_equal(crop(zero_pad(x, (2, 3)), (2, 3)).numpy(), x)


def test_spatial_errors_name_the_problem(rng):
    x = rng.standard_normal((2, 4, 5, 3))
    with pytest.raises(ValueError, match="leaves nothing of spatial axis 1"):
        crop(x, ((2, 2), (0, 0)))
    with pytest.raises(ValueError, match="zero_pad: padding must be an int, a tuple of 2 ints"):
        zero_pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match="no negative values"):
        zero_pad(x, -1)
    with pytest.raises(ValueError, match="unknown interpolation 'bicubic'"):
        upsample(x, 2, "bicubic")
    with pytest.raises(ValueError, match="upsample: size must be >= 1"):
        upsample(x, 0)
