"""Pooling, spatial reshaping and spatial dropout layers: PyTorch-equal numbers, gradients, files, bad input."""

import math

import numpy as np
import pytest
from torch_reference import F, reference, torch

import deepgrad as dg
from deepgrad import layers
from deepgrad.layers import (
    AveragePooling1D,
    AveragePooling2D,
    Conv1D,
    Conv2D,
    Cropping1D,
    Cropping2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    Input,
    MaxPooling1D,
    MaxPooling2D,
    SpatialDropout1D,
    SpatialDropout2D,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)
from deepgrad.models import Sequential, load_model


def _nchw(x, first):
    t = torch.tensor(x, dtype=torch.float64)
    return t if first else t.movedim(-1, 1)


def _back(t, first):
    return (t if first else t.movedim(1, -1)).numpy()


def _same_pads(spatial, pool, strides):
    pads = []
    for n, k, s in zip(spatial, pool, strides):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return [p for pair in reversed(pads) for p in pair]  # F.pad's order: last axis first


def _torch_pool(layer, x):
    first = layer.data_format == "channels_first"
    t = _nchw(x, first)
    rank = layer.rank
    pads = _same_pads(t.shape[2:], layer.pool_size, layer.strides) if layer.padding == "same" else [0] * 2 * rank
    if isinstance(layer, (MaxPooling1D, MaxPooling2D)):
        pooled = getattr(F, f"max_pool{rank}d")(F.pad(t, pads, value=-math.inf), layer.pool_size, layer.strides)
        return _back(pooled, first)
    total = getattr(F, f"avg_pool{rank}d")(F.pad(t, pads), layer.pool_size, layer.strides) * math.prod(layer.pool_size)
    count = getattr(F, f"avg_pool{rank}d")(F.pad(torch.ones_like(t), pads), layer.pool_size, layer.strides)
    return _back(total / (count * math.prod(layer.pool_size)), first)  # TF: padding is not counted


def _torch_other(layer, x):
    first = getattr(layer, "data_format", "channels_last") == "channels_first"
    t = _nchw(x, first)
    if isinstance(layer, (GlobalMaxPooling1D, GlobalMaxPooling2D)):
        return t.flatten(2).amax(-1).numpy()
    if isinstance(layer, (GlobalAveragePooling1D, GlobalAveragePooling2D)):
        return t.flatten(2).mean(-1).numpy()
    if isinstance(layer, (UpSampling1D, UpSampling2D)):
        mode = {"nearest": "nearest", "bilinear": "bilinear"}[layer.interpolation]
        extra = {} if mode == "nearest" else {"align_corners": False}
        return _back(F.interpolate(t, scale_factor=layer.size, mode=mode, **extra), first)
    if isinstance(layer, (ZeroPadding1D, ZeroPadding2D)):
        return _back(F.pad(t, [p for pair in reversed(layer.padding) for p in pair]), first)
    return _torch_pool(layer, x)


CASES = {
    "max1d": (lambda: MaxPooling1D(3, strides=2, padding="same"), (2, 9, 3)),
    "max2d_default": (lambda: MaxPooling2D(), (2, 7, 6, 3)),
    "max2d_same_rect": (lambda: MaxPooling2D((3, 2), strides=(2, 1), padding="same"), (2, 7, 5, 2)),
    "max2d_channels_first": (lambda: MaxPooling2D(2, data_format="channels_first"), (2, 3, 6, 5)),
    "avg1d": (lambda: AveragePooling1D(2), (2, 8, 3)),
    "avg2d_same": (lambda: AveragePooling2D(3, strides=2, padding="same"), (2, 6, 7, 2)),
    "avg2d_channels_first": (lambda: AveragePooling2D((2, 3), data_format="channels_first"), (2, 3, 6, 6)),
    "global_max1d": (lambda: GlobalMaxPooling1D(), (2, 5, 3)),
    "global_max2d_channels_first": (lambda: GlobalMaxPooling2D(data_format="channels_first"), (2, 3, 4, 5)),
    "global_avg1d": (lambda: GlobalAveragePooling1D(), (2, 5, 3)),
    "global_avg2d": (lambda: GlobalAveragePooling2D(), (2, 4, 5, 3)),
    "upsampling1d": (lambda: UpSampling1D(3), (2, 4, 2)),
    "upsampling2d_nearest": (lambda: UpSampling2D((2, 3)), (2, 3, 4, 2)),
    "upsampling2d_bilinear_channels_first": (
        lambda: UpSampling2D(2, interpolation="bilinear", data_format="channels_first"), (2, 2, 3, 4)),
    "zero_padding1d": (lambda: ZeroPadding1D((1, 2)), (2, 4, 3)),
    "zero_padding2d": (lambda: ZeroPadding2D(((1, 0), (2, 3))), (2, 3, 4, 2)),
}


def _make(case):
    factory, shape = CASES[case]
    return factory(), np.random.default_rng(5).normal(size=shape)


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_equals_pytorch(case):
    layer, x = _make(case)
    out = layer(x.astype(np.float32)).numpy()
    expected = reference(lambda: _torch_other(layer, x))
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    symbolic = layer(Input(x.shape[1:]))
    assert symbolic.shape == (None,) + expected.shape[1:] == layer.compute_output_shape((None,) + x.shape[1:])


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_gradients_match_finite_differences(case):
    layer, x = _make(case)
    weights = dg.Tensor(np.random.default_rng(1).normal(size=layer(x).shape))
    assert dg.gradcheck(lambda inputs: layer(inputs) * weights, dg.Tensor(x, requires_grad=True))


def test_cropping_cuts_keras_forms():
    x = np.arange(2 * 6 * 7 * 1, dtype=np.float32).reshape(2, 6, 7, 1)
    np.testing.assert_array_equal(Cropping2D(((1, 2), (0, 3)))(x).numpy(), x[:, 1:4, 0:4])
    np.testing.assert_array_equal(Cropping2D((1, 2))(x).numpy(), x[:, 1:5, 2:5])
    np.testing.assert_array_equal(Cropping2D(1, data_format="channels_first")(x.transpose(0, 3, 1, 2)).numpy(),
                                  x.transpose(0, 3, 1, 2)[:, :, 1:5, 1:6])
    np.testing.assert_array_equal(Cropping1D()(x[..., 0]).numpy(), x[:, 1:5, :, 0])
    assert dg.gradcheck(lambda t: Cropping2D(((1, 2), (0, 3)))(t) * 2.0, dg.Tensor(x.astype(np.float64),
                                                                                  requires_grad=True))
    assert Cropping2D((1, 2)).compute_output_shape((None, 6, 7, 1)) == (None, 4, 3, 1)


def test_keras_aliases_and_defaults():
    assert layers.MaxPool2D is MaxPooling2D and layers.AvgPool1D is AveragePooling1D
    assert layers.GlobalAvgPool2D is GlobalAveragePooling2D and layers.GlobalMaxPool1D is GlobalMaxPooling1D
    pool = MaxPooling2D()
    assert (pool.pool_size, pool.strides, pool.padding, pool.data_format) == ((2, 2), (2, 2), "valid",
                                                                              "channels_last")
    assert GlobalAveragePooling2D(keepdims=True)(np.ones((2, 3, 3, 4), np.float32)).shape == (2, 1, 1, 4)
    assert ZeroPadding2D().padding == ((1, 1), (1, 1)) and Cropping1D().cropping == ((1, 1),)


def test_spatial_dropout_drops_whole_feature_maps_only_while_training():
    x = np.ones((8, 5, 5, 16), np.float32)
    layer = SpatialDropout2D(0.5, seed=3)
    np.testing.assert_array_equal(layer(x).numpy(), x)  # inference: identity
    out = layer(x, training=True).numpy()
    per_map = out.reshape(8, 25, 16)
    assert (per_map == per_map[:, :1]).all()  # one draw per sample and channel
    assert set(np.unique(out)) == {0.0, 2.0} and 0.2 < (out == 0).mean() < 0.8
    first = SpatialDropout2D(0.5, data_format="channels_first", seed=3)(x.transpose(0, 3, 1, 2), training=True)
    assert (first.numpy().reshape(8, 16, 25) == first.numpy().reshape(8, 16, 25)[:, :, :1]).all()
    sequence = SpatialDropout1D(0.5, seed=0)(np.ones((4, 6, 8), np.float32), training=True).numpy()
    assert (sequence == sequence[:, :1]).all()
    dg.manual_seed(1)
    a = SpatialDropout1D(0.3)(np.ones((4, 6, 8), np.float32), training=True).numpy()
    dg.manual_seed(1)
    b = SpatialDropout1D(0.3)(np.ones((4, 6, 8), np.float32), training=True).numpy()
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"rank 4 \(batch, size, size, channels\)"):
        SpatialDropout2D(0.5)(np.ones((4, 6, 8), np.float32))
    with pytest.raises(ValueError, match="rate"):
        SpatialDropout2D(1.5)


def test_every_layer_survives_save_and_load(tmp_path):
    dg.manual_seed(0)
    model = Sequential([Input((9, 9, 2)), ZeroPadding2D(((1, 0), (0, 1))), Conv2D(3, 3), SpatialDropout2D(0.3),
                        MaxPooling2D(2, padding="same"), UpSampling2D(2, interpolation="bilinear"),
                        Cropping2D(((1, 0), (2, 1))), AveragePooling2D((2, 1), strides=1), GlobalMaxPooling2D()])
    sequence = Sequential([Input((12, 3)), Conv1D(2, 1), ZeroPadding1D(2), Cropping1D((0, 3)), SpatialDropout1D(0.2),
                           MaxPooling1D(2), AveragePooling1D(2, padding="same"), UpSampling1D(2),
                           GlobalAveragePooling1D()])
    rng = np.random.default_rng(0)
    for k, (net, shape) in enumerate(((model, (9, 9, 2)), (sequence, (12, 3)))):
        x = rng.normal(size=(3,) + shape).astype(np.float32)
        net.compile(optimizer="adam", loss="mse")
        net.fit(x, np.zeros((3,) + net.layers[-1].output_shape[1:], np.float32), epochs=1, verbose=0)
        net.save(tmp_path / f"{k}.deepgrad")
        loaded = load_model(tmp_path / f"{k}.deepgrad")
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), net.predict(x, verbose=0))
        for layer in net.layers:
            assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


def test_bad_pooling_input_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"x\[\.\.\., None\]"):
        MaxPooling2D()(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match="larger than the input"):
        MaxPooling2D(4)(np.zeros((1, 3, 3, 1), np.float32))
    with pytest.raises(ValueError, match="unknown padding 'causal'"):
        AveragePooling1D(padding="causal")
    with pytest.raises(ValueError, match="pool_size must be >= 1"):
        MaxPooling2D(0)
    with pytest.raises(ValueError, match="leaves nothing"):
        Cropping2D(3)(np.zeros((1, 6, 6, 1), np.float32))
    with pytest.raises(ValueError, match="unknown interpolation 'cubic'"):
        UpSampling2D(interpolation="cubic")
    with pytest.raises(ValueError, match="padding must be an int"):
        ZeroPadding2D((1, 2, 3))
