"""``import deepgrad as keras``: Keras 3's namespace (layers, models, ops, utils, saving, ...) on deepgrad."""

import hashlib
import io
import os
import tarfile

import numpy as np
import pytest

import deepgrad as keras
from deepgrad import configurable
from deepgrad.datasets import download


def test_the_keras_names_resolve_on_the_package_and_on_the_alias_module():
    from deepgrad import keras as alias

    assert alias is keras
    for name in ("layers", "models", "optimizers", "losses", "metrics", "callbacks", "initializers", "regularizers",
                 "constraints", "activations", "datasets", "utils", "saving", "ops"):
        assert hasattr(keras, name), name
    assert keras.Sequential is keras.models.Sequential and keras.Model is keras.models.Model
    assert keras.Input is keras.layers.Input and keras.Layer is keras.layers.Layer
    assert keras.optimizers.schedules.ExponentialDecay is not None
    for name in ("to_categorical", "pad_sequences", "set_random_seed", "plot_model", "PyDataset", "get_file",
                 "split_dataset"):
        assert callable(getattr(keras.utils, name)), name
    for name in ("load_model", "save_model", "register_keras_serializable", "get_custom_objects"):
        assert callable(getattr(keras.saving, name)), name
    assert callable(keras.datasets.mnist.load_data) and callable(keras.datasets.imdb.load_data)
    assert callable(keras.datasets.fashion_mnist.load_data) and callable(keras.datasets.cifar10.load_data)


def test_the_keras_ops_subset_computes_and_differentiates():
    ops = keras.ops
    x = keras.tensor(np.array([[1.0, -2.0], [3.0, 4.0]]), requires_grad=True)
    y = ops.sum(ops.square(ops.matmul(x, ops.transpose(x))))
    y.backward()
    a = x.numpy()
    np.testing.assert_allclose(y.item(), ((a @ a.T) ** 2).sum())
    np.testing.assert_allclose(x.grad, 4 * (a @ a.T) @ a)
    np.testing.assert_allclose(ops.norm(x).item(), np.linalg.norm(a))
    assert ops.argmax(x, axis=1).tolist() == [0, 1]
    assert ops.greater(x, 0).tolist() == [[True, False], [True, True]]
    assert ops.cast(ops.convert_to_tensor([1, 2]), "float32").dtype == np.float32
    np.testing.assert_allclose(ops.convert_to_numpy(ops.divide(ops.multiply(x, 2.0), ops.ones((2, 2)))), 2 * a)
    np.testing.assert_allclose(ops.subtract(ops.negative(x), ops.zeros((2,))).numpy(), -a)
    np.testing.assert_allclose(ops.power(x, 2).numpy(), a ** 2)
    np.testing.assert_allclose(ops.transpose(ops.reshape(x, (1, 2, 2)), axes=(0, 2, 1)).numpy(), a.T[None])
    np.testing.assert_allclose(ops.where(ops.greater(x, 0), x, 0.0).numpy(), np.maximum(a, 0))
    np.testing.assert_allclose(ops.concatenate([x, x], axis=1).numpy(), np.concatenate([a, a], axis=1))
    np.testing.assert_allclose(ops.stack([x, x]).numpy(), np.stack([a, a]))
    np.testing.assert_allclose(ops.softmax(x).numpy().sum(axis=-1), [1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(ops.one_hot(np.array([1, 0]), 3).numpy(), [[0, 1, 0], [1, 0, 0]])
    with pytest.raises(ValueError, match="only the Euclidean norm"):
        ops.norm(x, ord=1)


def test_registered_custom_objects_are_found_by_get_and_by_load_model(tmp_path):
    @keras.saving.register_keras_serializable(package="NamespaceTest")
    class Doubler(keras.layers.Layer):
        def call(self, inputs):
            return inputs * 2.0

    @keras.saving.register_keras_serializable(package="NamespaceTest")
    def halved_mse(y_true, y_pred):
        return keras.losses.mean_squared_error(y_true, y_pred) * 0.5

    try:
        assert keras.saving.get_custom_objects()["NamespaceTest>Doubler"] is Doubler
        assert keras.losses.get("NamespaceTest>halved_mse") is halved_mse
        assert keras.saving.get_registered_name(Doubler) == "NamespaceTest>Doubler"
        keras.manual_seed(0)
        model = keras.Sequential([keras.Input((3,)), Doubler(), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss=halved_mse)
        x = np.ones((2, 3), dtype=np.float32)
        path = tmp_path / "custom.deepgrad"
        model.save(path)
        loaded = keras.saving.load_model(path)
        assert isinstance(loaded.layers[0], Doubler)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
        with pytest.raises(ValueError, match="already registered"):
            keras.saving.register_keras_serializable(package="NamespaceTest", name="Doubler")(halved_mse)
    finally:
        keras.saving.get_custom_objects().pop("NamespaceTest>Doubler", None)
        keras.saving.get_custom_objects().pop("NamespaceTest>halved_mse", None)
    with pytest.raises(ValueError, match="unknown layer class 'Doubler'"):
        keras.saving.load_model(path)


def test_a_class_without_get_config_cannot_be_registered():
    with pytest.raises(ValueError, match="needs a get_config"):
        keras.saving.register_keras_serializable()(type("Bare", (), {}))
    assert configurable.get_registered_object("nothing") is None


def _serve(monkeypatch, blob):
    """Make the download step copy ``blob`` (no network); returns the list of URLs asked for."""
    asked = []

    def fetch(url, destination):
        asked.append(url)
        with open(destination, "wb") as out:
            out.write(blob)

    monkeypatch.setattr(download, "_fetch", fetch)
    return asked


def test_get_file_downloads_once_checks_the_hash_and_refetches_a_corrupt_copy(tmp_path, monkeypatch):
    blob = b"weights of a model\n"
    sha256, md5 = hashlib.sha256(blob).hexdigest(), hashlib.md5(blob).hexdigest()
    asked = _serve(monkeypatch, blob)
    path = keras.utils.get_file(origin="https://example.org/files/w.bin", file_hash=sha256, cache_dir=tmp_path)
    assert path == os.path.join(tmp_path, "datasets", "w.bin") and open(path, "rb").read() == blob
    assert keras.utils.get_file("w.bin", "https://example.org/files/w.bin", md5_hash=md5, cache_dir=tmp_path) == path
    assert len(asked) == 1  # the cached copy with the right digest is used as it is
    with open(path, "wb") as out:
        out.write(b"tampered")
    keras.utils.get_file(origin="https://example.org/files/w.bin", file_hash=sha256, cache_dir=tmp_path)
    assert len(asked) == 2 and open(path, "rb").read() == blob
    with pytest.raises(download.DownloadError, match="not the expected 0+"):
        keras.utils.get_file("other.bin", "https://example.org/other.bin", file_hash="0" * 64, cache_dir=tmp_path)
    assert not os.path.exists(os.path.join(tmp_path, "datasets", "other.bin"))


def test_get_file_reports_a_failed_download_and_extracts_only_safe_archives(tmp_path, monkeypatch):
    def offline(url, destination):
        raise OSError("network unreachable")

    monkeypatch.setattr(download, "_fetch", offline)
    with pytest.raises(download.DownloadError, match="could not download https://example.org/a.txt"):
        keras.utils.get_file(origin="https://example.org/a.txt", cache_dir=tmp_path)

    def tar_of(name):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo(name)
            info.size = 2
            archive.addfile(info, io.BytesIO(b"ok"))
        return buffer.getvalue()

    _serve(monkeypatch, tar_of("data/a.txt"))
    folder = keras.utils.get_file(origin="https://example.org/good.tar", extract=True, cache_dir=tmp_path)
    assert open(os.path.join(folder, "data", "a.txt")).read() == "ok"
    _serve(monkeypatch, tar_of("../escape.txt"))
    with pytest.raises(ValueError, match="outside its folder"):
        keras.utils.get_file(origin="https://example.org/bad.tar", extract=True, cache_dir=tmp_path)
    assert not os.path.exists(os.path.join(tmp_path, "datasets", "escape.txt"))


def test_metrics_resolve_under_keras_aliases_and_compute_their_loss_means():
    x = np.linspace(0.5, 2.0, 8, dtype=np.float32).reshape(8, 1)
    y = (2 * x + 0.5).astype(np.float32)
    keras.manual_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mape", "MSLE", "kl_divergence", "log_cosh_error"])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    np.testing.assert_allclose(logs["mape"], 100 * np.mean(np.abs(y - p) / np.abs(y)), rtol=1e-4)
    np.testing.assert_allclose(logs["MSLE"], np.mean((np.log1p(np.maximum(p, 0)) - np.log1p(y)) ** 2), rtol=1e-4)
    for alias in ("mape", "MAPE", "msle", "poisson", "hinge", "squared_hinge", "categorical_hinge", "f_beta_score",
                  "auc", "r2_score", "root_mean_squared_error"):
        assert keras.metrics.get(alias) is not None, alias


def test_a_model_compiled_with_a_loss_object_reloads_and_model_from_config_rebuilds_a_graph(tmp_path):
    keras.manual_seed(0)
    a, b = keras.Input((3,)), keras.Input((2,))
    merged = keras.layers.Concatenate()([keras.layers.Dense(4)(a), b])
    model = keras.Model([a, b], keras.layers.Dense(1, activation="sigmoid")(merged))
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(label_smoothing=0.1))
    model.save(tmp_path / "m.deepgrad")
    loaded = keras.models.load_model(tmp_path / "m.deepgrad")  # the saved Loss config is one loss, not a mapping
    x = [np.ones((4, 3), dtype=np.float32), np.zeros((4, 2), dtype=np.float32)]
    y = np.array([[1.0], [0.0], [1.0], [1.0]], dtype=np.float32)
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6)
    assert loaded.get_compile_config()["loss"]["config"]["label_smoothing"] == 0.1
    rebuilt = keras.Model.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    inputs = [np.ones((2, 3), dtype=np.float32), np.ones((2, 2), dtype=np.float32)]
    np.testing.assert_allclose(rebuilt.predict(inputs, verbose=0), model.predict(inputs, verbose=0))
