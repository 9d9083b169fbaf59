"""Hostile model files: every rejection is a ModelFileError naming the file, found before anything is built.

Every hostile file here is generated from a freshly saved model (no binary fixtures).
"""

import io
import json
import struct
import time
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import optimizers
from deepgrad.layers import BatchNormalization, Dense, Input
from deepgrad.models import Model, Sequential, load_model
from deepgrad.models.saving import ModelFileError


def _saved(tmp_path, name="m.deepgrad"):
    """A small trained model with BatchNormalization and an optimizer state, saved to ``tmp_path/name``."""
    dg.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = Sequential([Input((4,)), Dense(3, activation="relu"), BatchNormalization(),
                        Dense(2, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = tmp_path / name
    model.save(path)
    return path, model, x


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info.filename) for info in archive.infolist()}


def _write(path, members, config=None, compression=zipfile.ZIP_DEFLATED):
    """Write ``members`` (with ``config`` as config.json when given) to a new zip at ``path``."""
    if config is not None:
        members = {**members, "config.json": json.dumps(config).encode()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names on purpose
        with zipfile.ZipFile(path, "w", compression=compression) as archive:
            for name, blob in (members.items() if isinstance(members, dict) else members):
                archive.writestr(name, blob)
    return path


def _forged(tmp_path, edit, name="forged.deepgrad"):
    """The saved model's file with its config changed by ``edit(config)``."""
    good, _, _ = _saved(tmp_path)
    members = _members(good)
    config = json.loads(members["config.json"])
    edit(config)
    return _write(tmp_path / name, members, config)


def _patch_headers(path, member, method=None, flags=None):
    """Set the compression method and/or flag bits of ``member`` in both its local and central headers."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        local = archive.getinfo(member).header_offset
    end_record = data.rindex(b"PK\x05\x06")
    central = struct.unpack("<I", data[end_record + 16:end_record + 20])[0]  # first central directory entry
    while data[central:central + 4] == b"PK\x01\x02":
        name_length, extra_length, comment_length = struct.unpack("<HHH", data[central + 28:central + 34])
        if data[central + 46:central + 46 + name_length].decode() == member:
            break
        central += 46 + name_length + extra_length + comment_length
    for offset in (local + 6, central + 8):
        if flags is not None:
            data[offset:offset + 2] = struct.pack("<H", struct.unpack("<H", data[offset:offset + 2])[0] | flags)
        if method is not None:
            data[offset + 2:offset + 4] = struct.pack("<H", method)
    path.write_bytes(bytes(data))
    return path


def _rejects(path, match=None):
    with pytest.raises(ModelFileError, match=match) as info:
        load_model(path)
    assert str(path) in str(info.value)
    return info.value


# --------------------------------------------------------------------------- item 1: one error type


def test_random_bit_flips_load_or_raise_model_file_error(tmp_path):
    good, _, _ = _saved(tmp_path)
    original = good.read_bytes()
    rng = np.random.default_rng(1234)
    target = tmp_path / "flipped.deepgrad"
    outcomes = {"loaded": 0, "rejected": 0}
    for _ in range(300):
        data = bytearray(original)
        for _ in range(rng.integers(1, 5)):
            bit = int(rng.integers(len(data) * 8))
            data[bit // 8] ^= 1 << (bit % 8)
        target.write_bytes(bytes(data))
        try:
            load_model(target)
            outcomes["loaded"] += 1
        except ModelFileError as err:
            assert str(target) in str(err)
            outcomes["rejected"] += 1
    assert outcomes["rejected"] > 100  # the flips did reach the parser


def test_bad_compressed_data_is_a_model_file_error(tmp_path):
    good, _, _ = _saved(tmp_path)
    members = _members(good)
    members["config.json"] = b"\x07" + bytes(63)  # deflate block type 3 does not exist
    path = _write(tmp_path / "zlib.deepgrad", members, compression=zipfile.ZIP_STORED)
    _patch_headers(path, "config.json", method=zipfile.ZIP_DEFLATED)
    _rejects(path, "corrupt")


@pytest.mark.parametrize("method, flags", [(99, None), (None, 0x20), (None, 0x1)],
                         ids=["unknown-method", "patched-data-flag", "encrypted"])
def test_unsupported_zip_features_are_model_file_errors(tmp_path, method, flags):
    good, _, _ = _saved(tmp_path)
    path = tmp_path / "patched.deepgrad"
    path.write_bytes(good.read_bytes())
    _patch_headers(path, "weights/0.npy", method=method, flags=flags)
    _rejects(path)


def test_config_that_is_not_utf8_is_a_model_file_error(tmp_path):
    good, _, _ = _saved(tmp_path)
    members = _members(good)
    members["config.json"] = b'{"format": "deepgrad\xff\xfe"}'
    _rejects(_write(tmp_path / "latin.deepgrad", members), "not valid JSON")
    # a member name flagged as UTF-8 that is not
    members = _members(good)
    members["weights/\u00e9.npy"] = b"x"
    path = _write(tmp_path / "name.deepgrad", members)
    data = path.read_bytes()
    assert data.count("\u00e9".encode()) == 2
    path.write_bytes(data.replace("\u00e9".encode(), b"\xff\xa9"))
    _rejects(path)


def test_deeply_nested_json_is_a_model_file_error(tmp_path):
    good, _, _ = _saved(tmp_path)
    members = _members(good)
    config = json.loads(members["config.json"])
    members["config.json"] = json.dumps(config)[:-1].encode() + b', "metadata": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    _rejects(_write(tmp_path / "deep.deepgrad", members), "nested")
    config["metadata"] = {"a": [[[[[[[[]]]]]]]]}
    for _ in range(150):
        config["metadata"] = {"a": config["metadata"]}
    _rejects(_write(tmp_path / "deep2.deepgrad", members, config), "nested")


def test_many_nested_sequentials_are_a_model_file_error(tmp_path):
    def nest(config):
        inner = config["model"]
        for _ in range(240):
            inner = {"class_name": "Sequential", "config": {"name": "s", "layers": [inner]}}
        config["model"] = inner

    _rejects(_forged(tmp_path, nest), "nested")


@pytest.mark.parametrize("edit, words", [
    (lambda c: c["weights"][0].__setitem__("dtype", "bogus"), "config.weights[0].dtype"),
    (lambda c: c["weights"][0].__setitem__("dtype", "(2,)f4"), "config.weights[0].dtype"),
    (lambda c: c["weights"][1].__setitem__("shape", [3.5]), "config.weights[1].shape"),
    (lambda c: c["weights"][1].pop("name"), "name"),
    (lambda c: c.__setitem__("compile_config", "x"), "config.compile_config"),
    (lambda c: c.__setitem__("weights", {"0": 1}), "config.weights"),
    (lambda c: c["model"]["config"]["layers"][1].__setitem__("class_name", "Layer"), "unknown layer class 'Layer'"),
    (lambda c: c["model"]["config"]["layers"][1].__setitem__("config", [1]), "layers[1].config"),
    (lambda c: c["model"]["config"].__setitem__("layers", "dense"), "config.model.config.layers"),
    (lambda c: c["model"]["config"].__setitem__("build_input_shape", [None, -4]), "build_input_shape"),
    (lambda c: c["optimizer"]["state"].__setitem__("iterations", float("inf")), "iterations"),
    (lambda c: c["optimizer"]["state"]["arrays"]["momentum/0"].__setitem__("shape", "x"), "momentum/0.shape"),
    (lambda c: c["optimizer"].__setitem__("config", {"class_name": "Adam", "config": {"beta_9": 1}}), "beta_9"),
    (lambda c: c["optimizer"].__setitem__("config", {"class_name": "Adam", "config": {"learning_rate": "x"}}),
     "learning_rate"),
    (lambda c: c.__setitem__("metadata", [1, 2]), "config.metadata"),
], ids=["dtype", "subarray-dtype", "float-shape", "no-name", "compile-config", "weight-table", "base-layer",
        "layer-config", "layers", "input-shape", "iterations", "optimizer-array", "optimizer-kwarg",
        "learning-rate", "metadata"])
def test_config_fields_are_type_checked(tmp_path, edit, words):
    error = _rejects(_forged(tmp_path, edit))
    assert words in str(error)


def test_iterations_beyond_float_range_are_rejected(tmp_path):
    good, _, _ = _saved(tmp_path)
    members = _members(good)
    text = members["config.json"].decode()
    members["config.json"] = text.replace('"iterations": 2', '"iterations": 1e400').encode()
    assert members["config.json"] != text.encode()
    _rejects(_write(tmp_path / "inf.deepgrad", members), "iterations")


def test_functional_model_without_inputs_is_rejected(tmp_path):
    inputs = Input((3,))
    model = Model(inputs, Dense(2)(inputs))
    good = tmp_path / "f.deepgrad"
    model.save(good)
    members = _members(good)
    config = json.loads(members["config.json"])
    config["model"]["config"]["input_layers"] = []
    _rejects(_write(tmp_path / "noinput.deepgrad", members, config), "input_layers")
    config["model"]["config"]["input_layers"] = [["nowhere", 0, 0]]
    _rejects(_write(tmp_path / "badref.deepgrad", members, config), "nowhere")


def test_load_weights_checks_the_table_too(tmp_path):
    good, model, _ = _saved(tmp_path)
    members = _members(good)
    config = json.loads(members["config.json"])
    config["weights"][0]["dtype"] = "bogus"
    path = _write(tmp_path / "w.deepgrad", members, config)
    with pytest.raises(ModelFileError, match="config.weights\\[0\\].dtype") as info:
        model.load_weights(path)
    assert str(path) in str(info.value)


# --------------------------------------------------------------------------- item 2: check before you build


def _time_and_peak(load):
    tracemalloc.start()
    start = time.process_time()
    try:
        with pytest.raises(ModelFileError) as info:
            load()
    finally:
        elapsed = time.process_time() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return info.value, elapsed, peak


def test_layers_larger_than_the_file_are_refused_before_allocating(tmp_path):
    def widen(config):
        for layer in config["model"]["config"]["layers"]:
            if layer["class_name"] == "Dense":
                layer["config"]["units"] = 20000

    path = _forged(tmp_path, widen)
    assert path.stat().st_size < 20_000
    error, elapsed, peak = _time_and_peak(lambda: load_model(path))
    assert str(path) in str(error) and "weight" in str(error)
    assert elapsed < 1.0
    assert peak < 50 << 20  # the old loader allocated 1.6 GB before comparing shapes


def test_weight_table_declaring_more_than_its_members_hold_is_refused(tmp_path):
    def widen(config):
        config["weights"][0]["shape"] = [4, 20000]

    path = _forged(tmp_path, widen)
    error, elapsed, peak = _time_and_peak(lambda: load_model(path))
    assert "too few" in str(error) and "weights/0.npy" in str(error)
    assert elapsed < 1.0 and peak < 50 << 20


def test_forty_thousand_layers_are_refused_quickly(tmp_path):
    def many(config):
        config["model"]["config"]["layers"] = [{"class_name": "Dense", "config": {"units": 1}}] * 40_000

    def spread(config):  # within each list's bound, but 40,000 in all
        layers = [{"class_name": "Dense", "config": {"units": 1}}] * 5000
        config["model"]["config"]["layers"] = [{"class_name": "Sequential", "config": {"layers": layers}}] * 8

    for edit in (many, spread):
        path = _forged(tmp_path, edit)
        start = time.process_time()  # CPU time: the old loader took over 10 s
        with pytest.raises(ModelFileError, match=r"400[0-9][0-9] layers"):
            load_model(path)
        assert time.process_time() - start < 1.0


# --------------------------------------------------------------------------- item 3: no silent acceptance


def _swap_gamma_beta(config):
    table = config["weights"]
    names = [entry["name"] for entry in table]
    gamma, beta = names.index("gamma"), names.index("beta")
    table[gamma], table[beta] = table[beta], table[gamma]


def test_swapped_weight_names_are_rejected(tmp_path):
    path = _forged(tmp_path, _swap_gamma_beta)
    _rejects(path, "'beta'.*'gamma'")
    _, model, _ = _saved(tmp_path, "other.deepgrad")
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ModelFileError, match="'beta'.*'gamma'"):
        model.load_weights(path)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # untouched


def test_duplicate_member_names_are_rejected(tmp_path):
    good, _, _ = _saved(tmp_path)
    members = list(_members(good).items())
    stream = io.BytesIO()
    np.save(stream, np.full((4, 3), 7, np.float32))
    members.append(("weights/0.npy", stream.getvalue()))
    path = _write(tmp_path / "dup.deepgrad", members)
    _rejects(path, "twice")


def test_constructor_errors_name_the_file_and_the_layer(tmp_path):
    def bad_units(config):
        config["model"]["config"]["layers"][1]["config"]["units"] = -3

    path = _forged(tmp_path, bad_units)
    error = _rejects(path, "units must be a positive integer")
    name = json.loads(_members(path)["config.json"])["model"]["config"]["layers"][1]["config"]["name"]
    assert f"'{name}'" in str(error)

    def unknown_argument(config):
        config["model"]["config"]["layers"][2]["config"]["momentun"] = 0.5

    path = _forged(tmp_path, unknown_argument, "kw.deepgrad")
    error = _rejects(path, "momentun")
    name = json.loads(_members(path)["config.json"])["model"]["config"]["layers"][2]["config"]["name"]
    assert f"'{name}'" in str(error)


@pytest.mark.parametrize("field, value, words", [
    ("loss", "no_such_loss", "no_such_loss"),
    ("metrics", ["no_such_metric"], "no_such_metric"),
    ("loss_weights", "heavy", "loss_weights"),
])
def test_compile_settings_are_checked_at_load(tmp_path, field, value, words):
    path = _forged(tmp_path, lambda c: c["compile_config"].__setitem__(field, value))
    error = _rejects(path)
    assert words in str(error)


def test_hostile_files_still_load_with_compile_false_when_only_compile_settings_are_bad(tmp_path):
    path = _forged(tmp_path, lambda c: c["compile_config"].__setitem__("loss", "no_such_loss"))
    model = load_model(path, compile=False)
    assert not model.compiled


def test_a_good_file_still_loads_exactly(tmp_path):
    good, model, x = _saved(tmp_path)
    loaded = load_model(good)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.optimizer.iterations == model.optimizer.iterations
