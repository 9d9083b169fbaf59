"""Convolution layers: Keras shapes and names, PyTorch-equal numbers, gradients, files, bad input."""

import math

import numpy as np
import pytest
from torch_reference import F, reference, torch

import deepgrad as dg
from deepgrad.layers import (
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Convolution2D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    Input,
    MaxPooling2D,
    SeparableConv2D,
)
from deepgrad.models import Model, Sequential, load_model

# --------------------------------------------------------------------------- PyTorch with Keras's weights


def _tf_pads(spatial, kernel_size, strides, dilation, padding):
    """TensorFlow's (lo, hi) padding per axis, written out independently of deepgrad's helper."""
    pads = []
    for n, k, s, d in zip(spatial, kernel_size, strides, dilation):
        span = (k - 1) * d + 1
        if padding == "same":
            total = max((math.ceil(n / s) - 1) * s + span - n, 0)
            pads.append((total // 2, total - total // 2))
        elif padding == "causal":
            pads.append((span - 1, 0))
        else:
            pads.append((0, 0))
    return pads


def _channels_first(t, rank):
    return t.permute(0, rank + 1, *range(1, rank + 1))


def _channels_last(t, rank):
    return t.permute(0, *range(2, rank + 2), 1)


def _torch_conv(x, kernel, bias, layer, groups=1):
    """F.convNd on x with a Keras kernel (*k, C / groups, F): weight (F, C / groups, *k)."""
    rank, first = layer.rank, layer.data_format == "channels_first"
    t = torch.tensor(x, dtype=torch.float64)
    t = t if first else _channels_first(t, rank)
    pads = _tf_pads(t.shape[2:], kernel.shape[:rank], layer.strides, layer.dilation_rate, layer.padding)
    t = F.pad(t, [p for pair in reversed(pads) for p in pair])
    w = torch.tensor(kernel, dtype=torch.float64).permute(rank + 1, rank, *range(rank))
    b = None if bias is None else torch.tensor(bias, dtype=torch.float64)
    out = getattr(F, f"conv{rank}d")(t, w, b, stride=layer.strides, dilation=layer.dilation_rate, groups=groups)
    return out if first else _channels_last(out, rank)


def _torch_layer(layer, x):
    """The layer's output computed by PyTorch from the layer's own (Keras-layout) weights."""
    weights = [w.numpy().astype(np.float64) for w in layer.weights]
    rank = layer.rank
    if isinstance(layer, SeparableConv2D):
        depthwise, pointwise, bias = weights
        channels = depthwise.shape[-2]
        flat = depthwise.reshape(depthwise.shape[:rank] + (1, -1))
        hidden = _torch_conv(x, flat, None, layer, groups=channels)
        point = type(layer)(layer.filters, 1, data_format=layer.data_format)
        return _torch_conv(hidden.numpy(), pointwise, bias, point)
    if isinstance(layer, DepthwiseConv2D):
        kernel, bias = weights
        return _torch_conv(x, kernel.reshape(kernel.shape[:rank] + (1, -1)), bias, layer, groups=kernel.shape[-2])
    if isinstance(layer, (Conv1DTranspose, Conv2DTranspose)):
        kernel, bias = weights
        first = layer.data_format == "channels_first"
        t = torch.tensor(x, dtype=torch.float64)
        t = t if first else _channels_first(t, rank)
        w = torch.tensor(kernel).permute(rank + 1, rank, *range(rank))  # (C, F, *k)
        full = getattr(F, f"conv_transpose{rank}d")(t, w, torch.tensor(bias), stride=layer.strides,
                                                    dilation=layer.dilation_rate)
        # Keras keeps L = n s ('same') or (n - 1) s + span ('valid') positions, cutting TF's conv padding
        index = [slice(None), slice(None)]
        for n, k, s, d in zip(t.shape[2:], layer.kernel_size, layer.strides, layer.dilation_rate):
            span = (k - 1) * d + 1
            length = n * s if layer.padding == "same" else (n - 1) * s + span
            lo = max(span - s, 0) // 2 if layer.padding == "same" else 0
            index.append(slice(lo, lo + length))
        out = full[tuple(index)]
        return out if first else _channels_last(out, rank)
    kernel, bias = weights
    return _torch_conv(x, kernel, bias, layer, groups=layer.groups)


CASES = {
    "conv1d_same_strided": (lambda: Conv1D(4, 3, strides=2, padding="same"), (2, 9, 3)),
    "conv1d_causal_dilated": (lambda: Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu"), (2, 8, 3)),
    "conv2d_same_rect_kernel": (lambda: Conv2D(6, (3, 2), strides=(2, 1), padding="same", activation="tanh"),
                                (2, 7, 6, 4)),
    "conv2d_groups_dilated": (lambda: Conv2D(6, 3, groups=2, dilation_rate=2), (2, 8, 8, 4)),
    "conv2d_channels_first": (lambda: Conv2D(5, 3, data_format="channels_first", activation="sigmoid"),
                              (2, 3, 6, 6)),
    "conv3d_strided": (lambda: Conv3D(3, 2, strides=2), (1, 4, 5, 4, 2)),
    "depthwise_same": (lambda: DepthwiseConv2D(3, depth_multiplier=2, padding="same",
                                               bias_initializer="glorot_uniform"), (2, 6, 6, 3)),
    "separable_channels_first": (lambda: SeparableConv2D(4, 3, depth_multiplier=2, strides=2, padding="same",
                                                         data_format="channels_first",
                                                         bias_initializer="glorot_uniform"), (2, 3, 7, 7)),
    "conv2d_transpose_same": (lambda: Conv2DTranspose(4, 3, strides=2, padding="same",
                                                      bias_initializer="glorot_uniform"), (2, 4, 5, 3)),
    "conv2d_transpose_valid_channels_first": (lambda: Conv2DTranspose(2, (3, 4), strides=(2, 3),
                                                                      data_format="channels_first"), (2, 3, 4, 3)),
    "conv1d_transpose_dilated": (lambda: Conv1DTranspose(3, 3, dilation_rate=2, padding="same"), (2, 6, 2)),
}


def _make(case, dtype=None):
    dg.manual_seed(7)
    factory, shape = CASES[case]
    layer = factory()
    if dtype is not None:
        config = layer.get_config()
        config.update(dtype=dtype, name=None)
        layer = type(layer).from_config(config)
    x = np.random.default_rng(3).normal(size=shape)
    return layer, x


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_equals_pytorch_with_mapped_weights(case):
    layer, x = _make(case)
    out = layer(x.astype(np.float32)).numpy()
    z = reference(lambda: _torch_layer(layer, x).numpy())
    function = layer.output_activation()
    expected = function(dg.Tensor(z)).numpy()
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_gradients_match_finite_differences(case):
    layer, x = _make(case, dtype="float64")
    layer.build_from_shape(x.shape[1:])
    names = [w.name for w in layer.weights]

    def forward(inputs, *weights):
        for name, weight in zip(names, weights):
            setattr(layer, name, weight)
        return layer(inputs) * dg.Tensor(np.linspace(-1, 1, layer(inputs).size).reshape(layer(inputs).shape))

    weights = [dg.Tensor(w.numpy(), requires_grad=True) for w in layer.weights]
    assert dg.gradcheck(forward, dg.Tensor(x, requires_grad=True), *weights)


@pytest.mark.parametrize("case", sorted(CASES))
def test_symbolic_output_shape_matches_the_computed_one(case):
    layer, x = _make(case)
    symbolic = layer(Input(x.shape[1:]))
    assert layer.compute_output_shape((None,) + x.shape[1:]) == symbolic.shape
    assert symbolic.shape[1:] == layer(x.astype(np.float32)).shape[1:]


# --------------------------------------------------------------------------- Keras's shapes and names


def test_simple_mnist_convnet_summary_matches_keras():
    """The Keras example "Simple MNIST convnet": 34,826 parameters and these output shapes."""
    dg.backend.clear_session()
    model = Sequential([Input((28, 28, 1)), Conv2D(32, 3, activation="relu"), MaxPooling2D(2),
                        Conv2D(64, 3, activation="relu"), MaxPooling2D(2), Flatten(), Dropout(0.5),
                        Dense(10, activation="softmax")])
    assert model.count_params() == 34_826
    text = model.summary(print_fn=lambda *_: None)
    expected = [("conv2d (Conv2D)", "(None, 26, 26, 32)", "320"),
                ("max_pooling2d (MaxPooling2D)", "(None, 13, 13, 32)", "0"),
                ("conv2d_1 (Conv2D)", "(None, 11, 11, 64)", "18,496"),
                ("max_pooling2d_1 (MaxPooling2D)", "(None, 5, 5, 64)", "0"),
                ("flatten (Flatten)", "(None, 1600)", "0"),
                ("dropout (Dropout)", "(None, 1600)", "0"),
                ("dense (Dense)", "(None, 10)", "16,010")]
    rows = [[cell.strip() for cell in line.split("│")[1:4]] for line in text.splitlines() if line.startswith("│")]
    assert [tuple(row) for row in rows] == expected
    assert "Total params: 34,826" in text


def test_kernel_shapes_and_weight_order_are_keras():
    shapes = {
        Conv2D(8, 3, groups=2): [("kernel", (3, 3, 2, 8)), ("bias", (8,))],
        Conv1D(8, 5, use_bias=False): [("kernel", (5, 4, 8))],
        Conv2DTranspose(6, (2, 3)): [("kernel", (2, 3, 6, 4)), ("bias", (6,))],
        DepthwiseConv2D(3, depth_multiplier=2): [("kernel", (3, 3, 4, 2)), ("bias", (8,))],
        SeparableConv2D(5, 3, depth_multiplier=3): [("depthwise_kernel", (3, 3, 4, 3)),
                                                    ("pointwise_kernel", (1, 1, 12, 5)), ("bias", (5,))],
    }
    for layer, expected in shapes.items():
        layer.build_from_shape((9, 9, 4) if layer.rank == 2 else (9, 4))
        assert [(w.name, w.shape) for w in layer.weights] == expected
        layer.set_weights([np.full(shape, 0.5) for _, shape in expected])  # Keras-shaped arrays go straight in
        kernel, bias = layer.kernel_and_bias()
        assert kernel is layer.weights[0] and (bias is None) == (not layer.use_bias)
    assert Convolution2D is Conv2D and Conv2D(4, 3).name.startswith("conv2d")


def test_conv_layer_takes_dense_style_initializers_regularizers_and_fused_softmax():
    layer = Conv2D(3, 2, activation="softmax", kernel_initializer="ones", bias_initializer="ones",
                   kernel_regularizer="l2", bias_regularizer="l1", activity_regularizer="l2",
                   kernel_constraint=lambda w: w * 0)
    x = np.ones((1, 3, 3, 2), dtype=np.float32)
    out = layer(x)
    np.testing.assert_allclose(layer.pre_activation(dg.Tensor(x)).numpy(), 9.0)  # 2*2*2 ones + bias 1
    np.testing.assert_allclose(out.numpy(), 1 / 3, rtol=1e-6)
    assert layer.output_activation() is layer.activation and len(layer.losses) == 3
    layer.apply_constraints()
    assert not layer.kernel.numpy().any()


def test_every_conv_layer_survives_save_and_load(tmp_path):
    dg.manual_seed(0)
    inputs = Input((8, 8, 3))
    h = Conv2D(4, 3, padding="same", activation="relu", kernel_regularizer="l2")(inputs)
    h = DepthwiseConv2D(3, depth_multiplier=2, padding="same")(h)
    h = SeparableConv2D(6, 3, strides=2, padding="same", activation="elu")(h)
    h = Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1)(h)
    h = Conv2D(4, 2, dilation_rate=2, groups=2, data_format="channels_first")(h)
    image = Model(inputs, h)
    sequences = Sequential([Input((10, 2)), Conv1D(4, 3, padding="causal"), Conv1DTranspose(2, 3, strides=2)])
    volumes = Sequential([Input((4, 4, 4, 1)), Conv3D(2, 2, activation="tanh")])
    rng = np.random.default_rng(0)
    for k, (model, shape) in enumerate(((image, (8, 8, 3)), (sequences, (10, 2)), (volumes, (4, 4, 4, 1)))):
        x = rng.normal(size=(2,) + shape).astype(np.float32)
        model.compile(optimizer="adam", loss="mse")
        model.save(tmp_path / f"m{k}.deepgrad")
        loaded = load_model(tmp_path / f"m{k}.deepgrad")
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
        for layer in model.layers[1:]:
            assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


def test_explain_step_traces_a_tiny_convnet():
    dg.manual_seed(0)
    model = Sequential([Input((5, 5, 1)), Conv2D(2, 3, activation="relu"), Flatten(),
                        Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    trace = dg.diagnostics.explain_step(model, np.ones((2, 5, 5, 1), np.float32), np.array([0, 1]),
                                        learning_rate=0.1)
    conv = trace.layers[0]
    assert conv.activation == "relu" and conv.z.shape == (2, 3, 3, 2)
    assert conv.dL_dW.shape == (3, 3, 1, 2) and conv.W_new.shape == (3, 3, 1, 2)


# --------------------------------------------------------------------------- bad input


def test_images_without_channel_axis_get_the_shape_and_the_fix():
    with pytest.raises(ValueError, match=r"rank 4 \(batch, size, size, channels\).*\(None, 28, 28\).*x\[\.\.\., None"):
        Conv2D(4, 3)(np.zeros((1, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"x\[\.\.\., None\]"):
        Sequential([Input((28, 28)), Conv2D(4, 3)])


def test_bad_geometry_is_refused_at_construction_or_build():
    with pytest.raises(ValueError, match="larger than the input"):
        Conv2D(4, 5)(np.zeros((1, 4, 4, 1), np.float32))
    Conv2D(4, 5, padding="same")(np.zeros((1, 4, 4, 1), np.float32))  # padded, it fits
    with pytest.raises(ValueError, match=r"filters \(6\) must be divisible by groups \(4\)"):
        Conv2D(6, 3, groups=4)
    with pytest.raises(ValueError, match=r"input channels \(3\) must be divisible by groups \(2\)"):
        Conv2D(4, 3, groups=2).build((None, 8, 8, 3))
    with pytest.raises(ValueError, match="unknown padding 'full'"):
        Conv2D(4, 3, padding="full")
    with pytest.raises(ValueError, match="unknown padding 'causal'"):
        Conv2D(4, 3, padding="causal")
    with pytest.raises(ValueError, match="strides > 1 is not supported together with dilation_rate > 1"):
        Conv2D(4, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="filters must be a positive integer"):
        Conv2D(0, 3)
    with pytest.raises(ValueError, match="kernel_size must be an int or a tuple of 2 ints"):
        Conv2D(4, (3, 3, 3))
    with pytest.raises(ValueError, match="data_format must be one of"):
        Conv2D(4, 3, data_format="NHWC")
    with pytest.raises(ValueError, match="output_padding"):
        Conv2DTranspose(4, 3, strides=2, output_padding=2)
