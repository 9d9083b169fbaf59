import json
import os
import zipfile

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import optimizers
from deepgrad.layers import BatchNormalization, Concatenate, Dense, Dropout, Input, Lambda
from deepgrad.models import Model, Sequential, load_model
from deepgrad.models.saving import ModelFileError


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return x, y


def _model():
    dg.manual_seed(0)
    model = Sequential([Dense(8, activation="relu", input_dim=4, kernel_regularizer="l2"),
                        BatchNormalization(), Dropout(0.2), Dense(2, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_round_trip_gives_identical_predictions(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=2, verbose=0)
    path = tmp_path / "m.deepgrad"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert loaded.optimizer.iterations == model.optimizer.iterations
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        config = json.loads(archive.read("config.json"))
    assert "config.json" in names and all(n.endswith(".npy") for n in names if n != "config.json")
    assert config["format"] == "deepgrad"


def test_resumed_training_continues_exactly(tmp_path):
    x, y = _data()
    uninterrupted = Sequential([Dense(8, activation="tanh", input_dim=4), Dense(2, activation="softmax")])
    uninterrupted.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    resumed = Sequential([Dense(8, activation="tanh", input_dim=4), Dense(2, activation="softmax")])
    resumed.set_weights(uninterrupted.get_weights())
    resumed.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    uninterrupted.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0)
    resumed.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    resumed.save(tmp_path / "half.deepgrad")
    restored = load_model(tmp_path / "half.deepgrad")
    restored.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(restored.get_weights(), uninterrupted.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_functional_model_round_trip(tmp_path):
    a, b = Input(shape=(3,)), Input(shape=(2,))
    shared = Dense(4, activation="relu")
    out = Dense(1)(Concatenate()([shared(a), Dense(4)(b)]))
    model = Model([a, b], out)
    model.compile(optimizer="sgd", loss="mse")
    path = tmp_path / "f.deepgrad"
    model.save(path)
    loaded = load_model(path)
    xa, xb = np.ones((2, 3), np.float32), np.ones((2, 2), np.float32)
    np.testing.assert_array_equal(loaded.predict([xa, xb]), model.predict([xa, xb]))


def test_weights_only_round_trip(tmp_path):
    model = _model()
    path = tmp_path / "w.weights.deepgrad"
    model.save_weights(path)
    other = _model()
    other.load_weights(path)
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ModelFileError, match="holds only weights"):
        load_model(path)


def test_weights_load_into_a_model_not_built_yet(tmp_path):
    model = Sequential([Dense(3, activation="relu"), Dense(1)])
    model.build((None, 4))
    path = tmp_path / "w.weights.deepgrad"
    model.save_weights(path)
    fresh = Sequential([Dense(3, activation="relu"), Dense(1)])
    fresh.load_weights(path)  # built from the input shape stored with the weights
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_lambda_layer_needs_its_function_when_loading(tmp_path):
    def double(t):
        return t * 2

    model = Sequential([Dense(2, input_dim=2), Lambda(double)])
    model.save(tmp_path / "l.deepgrad")
    with pytest.raises(ModelFileError, match="custom_objects"):
        load_model(tmp_path / "l.deepgrad")
    loaded = load_model(tmp_path / "l.deepgrad", custom_objects={"double": double})
    x = np.ones((1, 2), np.float32)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    with pytest.raises(ValueError, match="anonymous"):
        Sequential([Dense(2, input_dim=2), Lambda(lambda t: t)]).save(tmp_path / "anon.deepgrad")


def test_save_is_atomic_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    model = _model()
    path = tmp_path / "m.deepgrad"
    model.save(path)
    before = path.read_bytes()
    import deepgrad.fileio as fileio

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fileio, "npy_bytes", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.deepgrad"]


def test_truncated_and_garbage_files_fail_clearly(tmp_path):
    model = _model()
    path = tmp_path / "m.deepgrad"
    model.save(path)
    data = path.read_bytes()
    (tmp_path / "cut.deepgrad").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "cut.deepgrad")
    (tmp_path / "junk.deepgrad").write_bytes(b"not a zip at all")
    with pytest.raises(ModelFileError, match="not a deepgrad model file"):
        load_model(tmp_path / "junk.deepgrad")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.deepgrad")


def _rewrite(src, dst, edit_config=None, extra=None):
    with zipfile.ZipFile(src) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    config = json.loads(members["config.json"])
    if edit_config:
        edit_config(config)
    members["config.json"] = json.dumps(config).encode()
    members.update(extra or {})
    with zipfile.ZipFile(dst, "w") as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)


def test_hostile_files_are_rejected_before_anything_runs(tmp_path):
    model = _model()
    good = tmp_path / "m.deepgrad"
    model.save(good)

    def wrong_shape(config):
        config["weights"][0]["shape"] = [5, 8]

    _rewrite(good, tmp_path / "shape.deepgrad", wrong_shape)
    with pytest.raises(ModelFileError, match="shape"):
        load_model(tmp_path / "shape.deepgrad")

    def unknown_layer(config):
        config["model"]["config"]["layers"][0]["class_name"] = "os.system"

    _rewrite(good, tmp_path / "layer.deepgrad", unknown_layer)
    with pytest.raises(ModelFileError, match="unknown layer class 'os.system'"):
        load_model(tmp_path / "layer.deepgrad")

    _rewrite(good, tmp_path / "trav.deepgrad", extra={"../../evil.npy": b"x"})
    with pytest.raises(ModelFileError, match="suspicious member name"):
        load_model(tmp_path / "trav.deepgrad")
    assert not (tmp_path.parent / "evil.npy").exists()

    def object_dtype(config):
        config["weights"][0]["dtype"] = "object"

    _rewrite(good, tmp_path / "obj.deepgrad", object_dtype)
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "obj.deepgrad")

    def huge(config):
        config["weights"][0]["shape"] = [4, 8]
        config["weights"][0]["member"] = "weights/big.npy"

    big = np.zeros((400, 800), np.float32)
    import io
    stream = io.BytesIO()
    np.save(stream, big)
    _rewrite(good, tmp_path / "big.deepgrad", huge, extra={"weights/big.npy": stream.getvalue()})
    with pytest.raises(ModelFileError, match="larger than its declared shape"):
        load_model(tmp_path / "big.deepgrad")


def test_saving_an_unbuilt_model_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="not built"):
        Sequential([Dense(2)]).save(tmp_path / "x.deepgrad")
    assert not os.path.exists(tmp_path / "x.deepgrad")


def test_model_metadata_round_trips_and_must_be_json(tmp_path):
    model = _model()
    model.fit(*_data(), epochs=1, verbose=0)
    assert model.metadata == {}
    model.metadata["preprocessing"] = {"mean": [0.5, -1.25], "classes": ["a", "b"]}
    model.save(tmp_path / "m.deepgrad")
    assert load_model(tmp_path / "m.deepgrad").metadata == model.metadata
    model.metadata["bad"] = np.zeros(2)
    with pytest.raises(TypeError, match="JSON"):
        model.save(tmp_path / "bad.deepgrad")
    assert not os.path.exists(tmp_path / "bad.deepgrad")


def test_sequential_starting_with_input_round_trips(tmp_path):
    dg.manual_seed(0)
    model = Sequential([Input(shape=(4,)), Dense(3, activation="relu"), Dense(2, activation="softmax")])
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    model.save(tmp_path / "s.deepgrad")
    loaded = load_model(tmp_path / "s.deepgrad")
    x = _data(8)[0]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
