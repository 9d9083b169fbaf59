"""ONNX export: onnxruntime reproduces ``predict`` for a model of each layer family (to 1e-5).

Every graph also passes ``onnx.checker.check_model`` (``to_onnx`` runs it). The weights are
random and the moving statistics of batch normalization are set away from their initial
values, so a dropped or mis-ordered weight cannot pass.
"""

from __future__ import annotations

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import layers as L
from deepgrad.models import Model, Sequential

onnx = pytest.importorskip("onnx", reason="ONNX export needs the onnx package (pip install 'deepgrad[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="the export is checked by running it with onnxruntime")

from deepgrad.models.onnx_export import OnnxExportError, exportable_layers, to_onnx  # noqa: E402

TOLERANCE = 1e-5


def _randomize(model, rng):
    for weight in model.weights:
        weight.data[...] = rng.normal(0, 0.5, size=weight.shape)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            layer.moving_variance.data[...] = rng.uniform(0.5, 2.0, size=layer.moving_variance.shape)


def _run(model, inputs):
    session = ort.InferenceSession(to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"])
    inputs = inputs if isinstance(inputs, list) else [inputs]
    return session.run(None, {spec.name: x for spec, x in zip(session.get_inputs(), inputs)})


def _assert_matches(model, inputs):
    got = _run(model, inputs)
    want = model.predict(inputs, verbose=0)
    want = want if isinstance(want, list) else [want]
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=TOLERANCE, atol=TOLERANCE)


def _dense_model():
    return Sequential([L.Input((6,)), L.Dense(8, activation="relu"), L.BatchNormalization(), L.Dropout(0.3),
                       L.Dense(7, activation="gelu"), L.LayerNormalization(), L.GaussianNoise(0.1),
                       L.Dense(3, activation="softmax")])


def _conv2d_model():
    return Sequential([
        L.Input((10, 9, 3)), L.Conv2D(4, 3, padding="same", strides=2, activation="relu"),
        L.DepthwiseConv2D(3, padding="same", depth_multiplier=2), L.BatchNormalization(),
        L.MaxPooling2D(2, padding="same"), L.Conv2DTranspose(3, 3, strides=2, padding="same"),
        L.UpSampling2D(2), L.AveragePooling2D(3, strides=2, padding="same"), L.SeparableConv2D(6, 3, padding="same"),
        L.ZeroPadding2D(1), L.Cropping2D(((1, 0), (0, 2))), L.Conv2D(4, 2, groups=2, dilation_rate=2),
        L.Flatten(), L.Dense(2),
    ])


def _conv_geometry_model():
    return Sequential([
        L.Input((5, 4, 3)), L.Conv2DTranspose(2, 3, strides=2, padding="valid", output_padding=1),
        L.Conv2DTranspose(3, (2, 3), strides=(3, 2), padding="same", output_padding=(1, 0)),
        L.UpSampling2D((2, 3), interpolation="bilinear"), L.Conv2D(2, 3, padding="same", data_format="channels_first"),
        L.GlobalAveragePooling2D(),
    ])


def _conv1d_model():
    return Sequential([L.Input((12, 4)), L.Conv1D(6, 3, padding="causal", dilation_rate=2),
                       L.Conv1D(6, 3, strides=2), L.MaxPooling1D(2), L.UpSampling1D(2), L.GlobalMaxPooling1D()])


def _recurrent_model():
    return Sequential([L.Input((7, 5)), L.LSTM(6, return_sequences=True), L.GRU(4, return_sequences=True,
                                                                                 go_backwards=True),
                       L.Bidirectional(L.SimpleRNN(3, return_sequences=True)),
                       L.Bidirectional(L.GRU(3, reset_after=False), merge_mode="sum")])


def _embedding_model():
    return Sequential([L.Input((7,)), L.Embedding(20, 4), L.LSTM(5), L.Dense(2, activation="sigmoid")])


def _attention_model():
    x = L.Input((6, 8))
    a = L.MultiHeadAttention(2, 4)(x, x)
    b = L.MultiHeadAttention(3, 5, value_dim=2)(x, a, use_causal_mask=True)
    total = L.Add()([a, b])
    normed = L.LayerNormalization()(total)
    joined = L.Concatenate()([normed, x])
    mixed = L.Multiply()([L.Subtract()([L.Maximum()([a, L.Average()([a, b])]), L.Minimum()([a, b])]), total])
    dot = L.Attention(use_scale=True)([x, mixed], use_causal_mask=True)
    concat = L.Attention(score_mode="concat", use_scale=True)([dot, x, a])
    additive = L.AdditiveAttention()([concat, x])
    return Model(x, [joined, mixed, additive])


FAMILIES = {
    "dense": (_dense_model, lambda rng: rng.normal(size=(4, 6))),
    "conv2d": (_conv2d_model, lambda rng: rng.normal(size=(3, 10, 9, 3))),
    "conv_geometry": (_conv_geometry_model, lambda rng: rng.normal(size=(2, 5, 4, 3))),
    "conv1d": (_conv1d_model, lambda rng: rng.normal(size=(3, 12, 4))),
    "recurrent": (_recurrent_model, lambda rng: rng.normal(size=(3, 7, 5))),
    "embedding": (_embedding_model, lambda rng: rng.integers(0, 20, size=(3, 7))),
    "attention": (_attention_model, lambda rng: rng.normal(size=(3, 6, 8))),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_onnxruntime_reproduces_predict_for_each_family(family):
    dg.manual_seed(0)
    rng = np.random.default_rng(0)
    build, data = FAMILIES[family]
    model = build()
    _randomize(model, rng)
    _assert_matches(model, data(rng).astype(np.float32))


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "elu", "selu", "leaky_relu", "softplus", "softsign", "silu",
                                        "swish", "hard_sigmoid", "hard_silu", "relu6", "mish", "log_sigmoid",
                                        "exponential", "log_softmax", "linear"])
def test_every_exportable_activation_matches(activation):
    dg.manual_seed(1)
    model = Sequential([L.Input((6,)), L.Dense(5, activation=activation)])
    _assert_matches(model, np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32))


def test_activation_layers_and_preprocessing_match():
    dg.manual_seed(2)
    rng = np.random.default_rng(2)
    norm = L.Normalization()
    norm.adapt(rng.normal(2, 3, size=(50, 6)).astype(np.float32))
    model = Sequential([L.Input((6,)), norm, L.Rescaling(0.5, 1.0), L.ReLU(max_value=1.0, negative_slope=0.1,
                                                                           threshold=0.2),
                        L.PReLU(alpha_initializer="random_normal"), L.LeakyReLU(), L.ELU(0.5), L.RepeatVector(3),
                        L.TimeDistributed(L.Dense(4)), L.Softmax(axis=1), L.Reshape((2, -1)),
                        L.LayerNormalization(axis=(1, 2), rms_scaling=True)])
    _assert_matches(model, rng.normal(size=(5, 6)).astype(np.float32))


def test_functional_graph_with_states_nested_model_and_two_inputs():
    dg.manual_seed(3)
    rng = np.random.default_rng(3)
    sequence, extra = L.Input((7, 3)), L.Input((2,))
    out, h, c = L.LSTM(4, return_sequences=True, return_state=True)(sequence)
    head = Sequential([L.Input((6,)), L.Dense(2, activation="tanh")])
    both = L.Bidirectional(L.GRU(3, return_state=True, return_sequences=True), merge_mode=None)(out)
    model = Model([sequence, extra], [out, head(L.Concatenate()([h, extra])), c, *both])
    _assert_matches(model, [rng.normal(size=(2, 7, 3)).astype(np.float32), rng.normal(size=(2, 2)).astype(np.float32)])


def test_batch_size_and_unknown_time_axis_stay_dynamic():
    dg.manual_seed(4)
    rng = np.random.default_rng(4)
    model = Sequential([L.Input((None, 3)), L.LSTM(4, return_sequences=True), L.GRU(2)])
    proto = to_onnx(model)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_param and dims[2].dim_value == 3
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for batch, steps in ((1, 3), (5, 9)):
        x = rng.normal(size=(batch, steps, 3)).astype(np.float32)
        got = session.run(None, {session.get_inputs()[0].name: x})[0]
        np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=TOLERANCE, atol=TOLERANCE)


def test_model_export_writes_a_file_that_onnx_checks_and_runs(tmp_path, capsys):
    dg.manual_seed(5)
    model = _dense_model()
    path = tmp_path / "m.onnx"
    model.export(str(path), format="onnx")
    assert "Saved ONNX model" in capsys.readouterr().out
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded)
    assert loaded.opset_import[0].version >= 17
    x = np.random.default_rng(5).normal(size=(3, 6)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x})[0], model.predict(x, verbose=0),
                               rtol=TOLERANCE, atol=TOLERANCE)


def test_export_refuses_other_formats_and_unknown_options(tmp_path):
    model = _dense_model()
    with pytest.raises(ValueError, match="format='onnx' only"):
        model.export(str(tmp_path / "m"), format="tf_saved_model")
    with pytest.raises(TypeError, match="unexpected keyword"):
        model.export(str(tmp_path / "m.onnx"), verbose=False, dynamic_axes=True)


@pytest.mark.parametrize("layer, data, message", [
    (lambda: L.Lambda(lambda t: t * 2), (4,), r"'lambda\w*' \(Lambda\).*no ONNX form.*Exportable layers: \["),
    (lambda: L.Embedding(5, 2, mask_zero=True), (4,), r"\(Embedding\).*mask_zero=True"),
    (lambda: L.LSTM(2, stateful=True), (3, 4), r"\(LSTM\).*stateful=True"),
    (lambda: L.Masking(), (3, 4), r"\(Masking\).*masks are not exported"),
    (lambda: L.Dense(2, activation="brelu"), (4,), r"\(Dense\).*activation 'brelu'"),
])
def test_a_layer_without_onnx_form_is_named(layer, data, message):
    model = Sequential([L.Input(data), layer()])
    with pytest.raises(OnnxExportError, match=message):
        to_onnx(model)


def test_subclassed_and_unbuilt_models_get_clear_errors():
    class Doubler(Model):
        def call(self, inputs, training=False):
            return inputs * 2

    with pytest.raises(OnnxExportError, match="subclassed model"):
        to_onnx(Doubler())
    with pytest.raises(OnnxExportError, match="not built yet"):
        to_onnx(Sequential([L.Dense(2)]))


def test_exportable_layers_lists_public_classes():
    names = exportable_layers()
    for expected in ("Dense", "Conv2D", "LSTM", "GRU", "SimpleRNN", "MultiHeadAttention", "Embedding", "Flatten",
                     "UpSampling2D", "Concatenate", "BatchNormalization", "LayerNormalization", "Bidirectional"):
        assert expected in names
    assert "Lambda" not in names and "Masking" not in names
