"""The Keras 3 ``.keras`` format both ways, checked against the real Keras, and Keras ``.h5`` weights.

Each family of layers is built twice from one description (once with deepgrad's classes,
once with Keras'), its weights set to random values; a file written by one library is
read by the other and the predictions must agree to 1e-5. The tests that need Keras
skip without it; the round trip through deepgrad alone and the HDF5 layout checks need
only h5py.
"""

import io
import json
import os
import types
import zipfile

import numpy as np
import pytest

from deepgrad import layers as dl
from deepgrad.fileio import ModelFileError
from deepgrad.models import Model, Sequential, keras_format, load_model

h5py = pytest.importorskip("h5py", reason="the Keras file format needs h5py (the 'keras' extra)")
# Keras's PyTorch backend converts its tensors in a way NumPy 2 deprecates: its warning, not ours
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

DEEPGRAD = types.SimpleNamespace(layers=dl, Sequential=Sequential, Model=Model, Input=dl.Input)


@pytest.fixture(scope="module")
def keras():
    os.environ["KERAS_BACKEND"] = "torch"  # read when keras is first imported
    keras = pytest.importorskip("keras", reason="the round trips with the real Keras need keras (the dev extra)")
    if keras.backend.backend() != "torch":
        pytest.skip(f"Keras runs on {keras.backend.backend()!r}; these tests need its PyTorch backend")
    return keras


def _keras_lib(keras):
    return types.SimpleNamespace(layers=keras.layers, Sequential=keras.Sequential, Model=keras.Model,
                                 Input=keras.Input)


# --------------------------------------------------------------------------- the families, written once for both


def _dense(lib):
    L = lib.layers
    return lib.Sequential([lib.Input((4,)), L.Dense(8, activation="relu"), L.BatchNormalization(), L.Dropout(0.3),
                           L.LayerNormalization(), L.Activation("tanh"), L.Dense(3, activation="softmax")])


def _conv2d(lib):
    L = lib.layers
    return lib.Sequential([
        lib.Input((8, 8, 2)), L.Conv2D(3, 3, padding="same", activation="relu"), L.DepthwiseConv2D(3),
        L.SeparableConv2D(4, 2, padding="same"), L.Conv2DTranspose(2, 3, strides=2), L.MaxPooling2D(2),
        L.AveragePooling2D(2), L.UpSampling2D(), L.ZeroPadding2D(1), L.Flatten(), L.Reshape((-1, 4)),
        L.GlobalMaxPooling1D(), L.Dense(2)])


def _conv1d(lib):
    L = lib.layers
    return lib.Sequential([lib.Input((10, 3)), L.Conv1D(4, 3, activation="relu"), L.MaxPooling1D(2),
                           L.UpSampling1D(2), L.ZeroPadding1D(1), L.AveragePooling1D(2),
                           L.GlobalAveragePooling1D(), L.Dense(2)])


def _recurrent(lib):
    L = lib.layers
    x = lib.Input((5, 3))
    merged = L.Add()([L.LSTM(4, return_sequences=True)(x), L.GRU(4, return_sequences=True)(x)])
    out = L.Dense(2)(L.Bidirectional(L.SimpleRNN(3))(merged))
    return lib.Model(x, out)


def _embedding(lib):
    L = lib.layers
    return lib.Sequential([lib.Input((6,), dtype="int32"), L.Embedding(10, 4), L.GRU(3, return_sequences=True),
                           L.Flatten(), L.Dense(2)])


def _attention(lib):
    L = lib.layers
    x = lib.Input((6, 4))
    attended = L.MultiHeadAttention(num_heads=2, key_dim=3)(x, x, use_causal_mask=True)  # a call option travels
    out = L.Dense(2)(L.GlobalAveragePooling1D()(L.LayerNormalization()(L.Add()([x, attended]))))
    return lib.Model(x, out)


def _merge(lib):
    L = lib.layers
    a, b = lib.Input((4,)), lib.Input((4,))
    left, right = L.Dense(3)(a), L.Dense(3)(b)
    joined = L.Concatenate()([L.Multiply()([left, right]), L.Subtract()([left, right]), L.Average()([left, right]),
                              L.Maximum()([left, right]), L.Minimum()([left, right])])
    return lib.Model([a, b], [L.Dense(2)(joined), L.Dense(1, activation="sigmoid")(left)])


def _nested(lib):
    L = lib.layers
    x = lib.Input((4,))
    block = lib.Sequential([L.Dense(3, activation="relu"), L.Dense(3)])
    return lib.Model(x, L.Dense(2)(L.Add()([block(x), L.Dense(3)(x)])))


FAMILIES = {"nested": _nested, "dense": _dense, "conv2d": _conv2d, "conv1d": _conv1d, "recurrent": _recurrent,
            "embedding": _embedding, "attention": _attention, "merge": _merge}


def _inputs(name, seed=0):
    rng = np.random.default_rng(seed)
    if name == "embedding":
        return rng.integers(0, 10, (3, 6)).astype("int32")
    if name == "merge":
        return [rng.standard_normal((3, 4)).astype("float32") for _ in range(2)]
    shapes = {"nested": (3, 4), "dense": (3, 4), "conv2d": (3, 8, 8, 2), "conv1d": (3, 10, 3), "recurrent": (3, 5, 3),
              "attention": (3, 6, 4)}
    return rng.standard_normal(shapes[name]).astype("float32")


def _random_weights(shapes, names, seed=1):
    """Random values for each weight; variances positive so that normalization stays defined."""
    rng = np.random.default_rng(seed)
    values = []
    for shape, name in zip(shapes, names):
        value = rng.uniform(-0.5, 0.5, shape).astype("float32")
        values.append(np.abs(value) + 0.5 if "variance" in name else value)
    return values


def _deepgrad_model(name):
    model = FAMILIES[name](DEEPGRAD)
    for weight, value in zip(model.weights, _random_weights([w.shape for w in model.weights],
                                                            [w.name for w in model.weights])):
        weight.data[...] = value
    return model


def _keras_model(keras, name):
    model = FAMILIES[name](_keras_lib(keras))
    model.set_weights(_random_weights([tuple(w.shape) for w in model.weights], [w.path for w in model.weights]))
    return model


def _outputs(predictions):
    return [np.asarray(p) for p in (predictions if isinstance(predictions, (list, tuple)) else [predictions])]


def _assert_same(got, want):
    got, want = _outputs(got), _outputs(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- against the real Keras


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_keras_loads_what_deepgrad_saves(keras, family, tmp_path):
    model = _deepgrad_model(family)
    data = _inputs(family)
    expected = model.predict(data, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    _assert_same(loaded.predict(data, verbose=0), expected)
    assert sorted(tuple(w.shape) for w in loaded.weights) == sorted(tuple(w.shape) for w in model.weights)


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_deepgrad_loads_what_keras_saves(keras, family, tmp_path):
    model = _keras_model(keras, family)
    data = _inputs(family)
    expected = model.predict(data, verbose=0)
    path = tmp_path / "k.keras"
    model.save(path)
    _assert_same(load_model(path).predict(data, verbose=0), expected)


@pytest.mark.slow
def test_compile_settings_travel_both_ways(keras, tmp_path):
    model = _deepgrad_model("dense")
    from deepgrad.optimizers import Adam

    model.compile(optimizer=Adam(0.005), loss="categorical_crossentropy", metrics=["accuracy"])
    model.save(tmp_path / "compiled.keras")
    loaded = keras.saving.load_model(tmp_path / "compiled.keras")
    assert type(loaded.optimizer).__name__ == "Adam"
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.005)

    original = _keras_model(keras, "dense")
    original.compile(optimizer=keras.optimizers.RMSprop(0.002), loss="mse", metrics=["mae"])
    x, y = _inputs("dense"), np.eye(3, dtype="float32")[[0, 1, 2]]
    original.fit(x, y, epochs=1, verbose=0)  # the file then holds optimizer variables too (not read)
    original.save(tmp_path / "keras_compiled.keras")
    ours = load_model(tmp_path / "keras_compiled.keras")
    assert type(ours.optimizer).__name__ == "RMSprop"
    assert ours.optimizer.get_config()["learning_rate"] == pytest.approx(0.002)
    _assert_same(ours.predict(x, verbose=0), original.predict(x, verbose=0))
    assert np.isfinite(ours.evaluate(x, y, verbose=0)).all()


@pytest.mark.slow
def test_keras_lambda_is_never_run(keras, tmp_path):
    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.Lambda(lambda t: t * 2.0, name="double")(x))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ModelFileError, match="never runs code"):
        load_model(tmp_path / "lambda.keras")
    loaded = load_model(tmp_path / "lambda.keras", custom_objects={"double": lambda t: t * 2.0})
    np.testing.assert_allclose(loaded.predict(np.ones((1, 3), "float32"), verbose=0), 2.0)


@pytest.mark.slow
def test_legacy_h5_weights_from_keras(keras, tmp_path):
    original = _keras_model(keras, "recurrent")
    data = _inputs("recurrent")
    path = str(tmp_path / "legacy.h5")
    original.save(path)  # Keras 3 still writes the legacy layout for .h5
    model = FAMILIES["recurrent"](DEEPGRAD)
    model.load_weights(path)
    _assert_same(model.predict(data, verbose=0), original.predict(data, verbose=0))

    weights = str(tmp_path / "w.weights.h5")
    original.save_weights(weights)
    again = FAMILIES["recurrent"](DEEPGRAD)
    again.load_weights(weights)
    _assert_same(again.predict(data, verbose=0), original.predict(data, verbose=0))
    _deepgrad_model("recurrent").save_weights(tmp_path / "ours.weights.h5")
    original.load_weights(str(tmp_path / "ours.weights.h5"))
    _assert_same(original.predict(data, verbose=0), _deepgrad_model("recurrent").predict(data, verbose=0))


# --------------------------------------------------------------------------- without Keras


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_keras_file_round_trip_through_deepgrad(family, tmp_path):
    model = _deepgrad_model(family)
    data = _inputs(family)
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        config = json.loads(archive.read("config.json"))
    assert config["class_name"] in ("Sequential", "Functional") and "module" in config
    assert all({"module", "class_name", "config", "registered_name"} <= set(entry)
               for entry in config["config"]["layers"])
    _assert_same(load_model(path).predict(data, verbose=0), model.predict(data, verbose=0))


def test_weights_file_follows_keras_layout(tmp_path):
    model = _deepgrad_model("recurrent")
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        h5_bytes = archive.read("model.weights.h5")
    with h5py.File(io.BytesIO(h5_bytes), "r") as h5:
        lstm, gru = model.layers[1:3] if model.layers[1].__class__.__name__ == "LSTM" else model.layers[2:0:-1]
        for path, layer in (("layers/lstm/cell/vars", lstm), ("layers/gru/cell/vars", gru)):
            assert sorted(h5[path]) == ["0", "1", "2"]
            np.testing.assert_array_equal(h5[path]["0"][()], layer.kernel.numpy())
            np.testing.assert_array_equal(h5[path]["1"][()], layer.recurrent_kernel.numpy())
            np.testing.assert_array_equal(h5[path]["2"][()], layer.bias.numpy())
        assert h5["layers/gru/cell/vars/2"].shape == (2, 12)  # reset_after: input and recurrent biases
        assert sorted(h5["layers/bidirectional"]) == ["backward_layer", "forward_layer", "vars"]
        assert h5["layers/dense/vars/0"].shape == (6, 2)
        assert h5["vars"].attrs["name"] == model.name


def test_attention_and_normalization_weights_follow_keras_layout(tmp_path):
    model = _deepgrad_model("attention")
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        h5 = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
    mha = next(layer for layer in model.layers if isinstance(layer, dl.MultiHeadAttention))
    with h5:
        for part in ("query", "key", "value", "output"):
            group = h5[f"layers/multi_head_attention/{part}_dense/vars"]
            np.testing.assert_array_equal(group["0"][()], getattr(mha, f"{part}_kernel").numpy())
            np.testing.assert_array_equal(group["1"][()], getattr(mha, f"{part}_bias").numpy())
        assert h5["layers/multi_head_attention/query_dense/vars/0"].shape == (4, 2, 3)  # (dim, heads, key_dim)
        assert h5["layers/multi_head_attention/output_dense/vars/0"].shape == (2, 3, 4)
    dense = _deepgrad_model("dense")
    dense.save(tmp_path / "d.keras")
    with zipfile.ZipFile(tmp_path / "d.keras") as archive:
        h5 = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
    norm = dense.layers[1]
    with h5:
        stored = [h5["layers/batch_normalization/vars"][str(i)][()] for i in range(4)]
    for array, weight in zip(stored, [norm.gamma, norm.beta, norm.moving_mean, norm.moving_variance]):
        np.testing.assert_array_equal(array, weight.numpy())


def test_functional_layer_order_follows_keras_depth_order():
    model = _deepgrad_model("merge")
    order = keras_format.keras_layer_order(model)
    # deepest first, ties in the order of a depth-first walk from the first output
    assert [type(layer).__name__ for layer in order] == [
        "InputLayer", "InputLayer", "Dense", "Dense", "Multiply", "Subtract", "Average", "Maximum", "Minimum",
        "Concatenate", "Dense", "Dense"]
    assert order[0] is model.inputs[0].layer and order[1] is model.inputs[1].layer
    assert order[2]._inbound[0].inputs[0] is model.inputs[0]  # the Dense fed by the first input comes first
    assert order[10] is model.outputs[0].layer and order[11] is model.outputs[1].layer


def test_legacy_h5_weights_are_read_and_never_written(tmp_path):
    model = _deepgrad_model("dense")
    path = tmp_path / "legacy.h5"
    with h5py.File(path, "w") as h5:  # Keras 2's layout, written here by hand
        layers = [layer for layer in model.layers if layer.weights]
        h5.attrs["layer_names"] = [f"layer{i}".encode() for i in range(len(layers) + 1)]
        h5.create_group(f"layer{len(layers)}").attrs["weight_names"] = []
        for i, layer in enumerate(layers):
            group = h5.create_group(f"layer{i}")
            names = [f"layer{i}/w{j}:0" for j in range(len(layer.weights))]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for n, weight in zip(names, layer.weights):
                group[n] = weight.numpy() + 1.0
    fresh = FAMILIES["dense"](DEEPGRAD)
    fresh.load_weights(str(path))
    for got, want in zip(fresh.weights, model.weights):
        np.testing.assert_allclose(got.numpy(), want.numpy() + 1.0)
    with pytest.raises(ValueError, match=r"\.keras"):
        model.save(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"\.keras"):
        model.save_weights(tmp_path / "w.h5")


def _check_weights_reload(family, path, save):
    """Weights written by ``save(model, path)`` give a fresh model of the family the same predictions."""
    model = _deepgrad_model(family)
    save(model, path)
    fresh = FAMILIES[family](DEEPGRAD)
    fresh.load_weights(path)
    data = _inputs(family)
    _assert_same(fresh.predict(data, verbose=0), model.predict(data, verbose=0))


def test_load_weights_reads_a_keras_file(tmp_path):
    _check_weights_reload("attention", tmp_path / "m.keras", Model.save)


def test_weights_h5_round_trip_and_shape_mismatch(tmp_path):
    _check_weights_reload("conv1d", tmp_path / "w.weights.h5", Model.save_weights)
    other = DEEPGRAD.Sequential([dl.Input((10, 3)), dl.Conv1D(5, 3), dl.GlobalAveragePooling1D(), dl.Dense(2)])
    before = [w.numpy().copy() for w in other.weights]
    with pytest.raises(ModelFileError, match="conv1d"):
        other.load_weights(tmp_path / "w.weights.h5")
    for weight, value in zip(other.weights, before):  # a refused file leaves the model untouched
        np.testing.assert_array_equal(weight.numpy(), value)


def _keras_file(tmp_path, config, weights=None):
    path = tmp_path / "forged.keras"
    stream = io.BytesIO()
    with h5py.File(stream, "w") as h5:
        for key, value in (weights or {}).items():
            h5[key] = value
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", "{}")
        archive.writestr("model.weights.h5", stream.getvalue())
    return path


def _sequential_record(*layers):
    return {"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 3], "name": "in"}},
        *layers]}}


def test_unknown_layer_types_and_unsupported_arguments_are_named(tmp_path):
    unknown = {"module": "keras_hub.layers", "class_name": "RotaryEmbedding", "config": {"name": "rope"},
               "registered_name": "keras_hub>RotaryEmbedding"}
    with pytest.raises(ModelFileError, match="RotaryEmbedding"):
        load_model(_keras_file(tmp_path, _sequential_record(unknown)))
    quantized = {"module": "keras.layers", "class_name": "Dense",
                 "config": {"name": "q", "units": 2, "quantization_config": {"mode": "int8"}}}
    with pytest.raises(ModelFileError, match="quantization_config"):
        load_model(_keras_file(tmp_path, _sequential_record(quantized)))
    inert = {"module": "keras.layers", "class_name": "Dense",
             "config": {"name": "d", "units": 2, "quantization_config": None, "lora_rank": None}}
    weights = {"layers/dense/vars/0": np.ones((3, 2), "float32"), "layers/dense/vars/1": np.zeros(2, "float32")}
    loaded = load_model(_keras_file(tmp_path, _sequential_record(inert), weights))
    np.testing.assert_allclose(loaded.predict(np.ones((1, 3), "float32"), verbose=0), [[3.0, 3.0]])


def test_forged_weights_are_refused(tmp_path):
    dense = {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 2}}
    wrong = {"layers/dense/vars/0": np.ones((4, 2), "float32"), "layers/dense/vars/1": np.zeros(2, "float32")}
    with pytest.raises(ModelFileError, match="shape"):
        load_model(_keras_file(tmp_path, _sequential_record(dense), wrong))
    with pytest.raises(ModelFileError, match="holds 0"):
        load_model(_keras_file(tmp_path, _sequential_record(dense), {}))


def test_keras_lambda_bytecode_is_refused_without_keras(tmp_path):
    record = {"module": "keras.layers", "class_name": "Lambda", "config": {
        "name": "evil", "function": {"class_name": "__lambda__", "config": {"code": "YQ==", "defaults": None}}}}
    with pytest.raises(ModelFileError, match="never runs code"):
        load_model(_keras_file(tmp_path, _sequential_record(record)))
