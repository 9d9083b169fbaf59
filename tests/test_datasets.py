import gzip
import hashlib
import struct

import numpy as np
import pytest

from deepgrad.datasets import (
    DownloadError,
    MissingValuesError,
    Standardizer,
    TableSchema,
    load_csv,
    load_digits,
    load_mnist,
    make_circles,
    make_moons,
    make_sine,
    make_spirals,
    make_xor,
    one_hot,
    read_idx,
    train_test_split,
)
from deepgrad.datasets import download as download_module
from deepgrad.datasets import mnist as mnist_module


def test_load_digits_shapes_and_ranges():
    x, y = load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_load_digits_raw_pixels_are_counts_0_to_16():
    x, _ = load_digits(flatten=False, normalize=False)
    assert x.shape == (1797, 8, 8)
    assert np.array_equal(x, np.round(x)) and x.max() == 16


def test_train_test_split_partitions_and_is_seeded():
    x = np.arange(100).reshape(50, 2)
    y = np.arange(50) % 2
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=3)
    assert len(x_tr) == 40 and len(x_te) == 10
    assert sorted(np.concatenate([x_tr[:, 0], x_te[:, 0]]).tolist()) == list(range(0, 100, 2))
    again = train_test_split(x, y, test_size=0.2, random_state=3)
    assert np.array_equal(again[1], x_te)
    assert np.array_equal(x_te[:, 0] // 2 % 2, y_te)


def test_train_test_split_stratify_keeps_class_proportions():
    y = np.array([0] * 80 + [1] * 20)
    _, y_te = train_test_split(y, test_size=0.25, stratify=y, random_state=0)
    assert (y_te == 1).sum() == 5 and (y_te == 0).sum() == 20


def test_train_test_split_errors():
    with pytest.raises(ValueError, match="different lengths"):
        train_test_split(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="leaves no train"):
        train_test_split(np.zeros(3), test_size=3)


# --------------------------------------------------------------------------- generated toy sets



def test_make_moons_follows_the_two_half_circles():
    x, y = make_moons(101, shuffle=False)
    assert x.shape == (101, 2) and x.dtype == np.float32 and y.dtype == np.int64
    assert (y == 0).sum() == 50 and (y == 1).sum() == 51
    outer, inner = x[y == 0].astype(np.float64), x[y == 1].astype(np.float64)
    np.testing.assert_allclose(np.hypot(*outer.T), 1.0, atol=1e-6)
    assert (outer[:, 1] >= -1e-7).all()
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1, inner[:, 1] - 0.5), 1.0, atol=1e-6)
    assert (inner[:, 1] <= 0.5 + 1e-7).all()
    np.testing.assert_allclose(outer[[0, -1]], [[1, 0], [-1, 0]], atol=1e-7)


def test_make_circles_radii_factor_and_pair_counts():
    x, y = make_circles((30, 10), shuffle=False, factor=0.3)
    assert (y == 0).sum() == 30 and (y == 1).sum() == 10
    np.testing.assert_allclose(np.hypot(*x[y == 0].T), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.hypot(*x[y == 1].T), 0.3, atol=1e-6)
    with pytest.raises(ValueError, match="factor"):
        make_circles(factor=1.0)


def test_noise_shuffle_and_seeds():
    a = make_moons(200, noise=0.1, random_state=4)
    b = make_moons(200, noise=0.1, random_state=4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    clean = make_moons(200, shuffle=False)
    noisy = make_moons(200, shuffle=False, noise=0.1, random_state=1)
    assert np.array_equal(clean[1], noisy[1])
    assert 0.08 < np.std(noisy[0] - clean[0]) < 0.12
    assert not np.array_equal(make_moons(50, random_state=0)[1], make_moons(50, shuffle=False)[1])
    with pytest.raises(ValueError, match="noise"):
        make_moons(noise=-1)
    with pytest.raises(ValueError, match="n_samples"):
        make_xor(0)


def test_make_xor_labels_are_the_xor_of_the_signs():
    x, y = make_xor(500, random_state=0)
    assert x.shape == (500, 2) and np.abs(x).max() <= 1
    assert np.array_equal(y, ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64))
    assert 200 < y.sum() < 300


def test_make_spirals_arms_and_counts():
    x, y = make_spirals(301, n_classes=3, random_state=0)
    assert np.bincount(y).tolist() == [101, 100, 100]
    radius = np.hypot(*x.T)
    assert radius.min() >= 0 and radius.max() <= 1 + 1e-6
    # noise-free points lie on their arm: angle = 2 pi (turns r + k / K) modulo 2 pi
    tip = x[(y == 1) & (radius > 0.999)][0]
    np.testing.assert_allclose(np.arctan2(tip[1], tip[0]) % (2 * np.pi), (2 * np.pi * (1 + 1 / 3)) % (2 * np.pi),
                               atol=1e-5)
    with pytest.raises(ValueError, match="fewer than n_classes"):
        make_spirals(2, n_classes=3)


def test_make_sine_is_sin_plus_noise():
    x, y = make_sine(64, random_state=0)
    assert x.shape == y.shape == (64, 1) and x.dtype == np.float32
    assert x.min() >= -np.pi and x.max() <= np.pi and np.all(np.diff(x[:, 0]) >= 0)
    np.testing.assert_allclose(y, np.sin(x), atol=1e-6)
    x, y = make_sine(1000, noise=0.2, random_state=0, x_range=(0, 10), evenly_spaced=True)
    assert x[0, 0] == 0 and x[-1, 0] == 10
    assert 0.17 < np.std(y - np.sin(x)) < 0.23
    with pytest.raises(ValueError, match="x_range"):
        make_sine(x_range=(1, 1))


def test_one_hot_is_numpy_float32_and_checks_ids():
    out = one_hot(np.array([[2, 0]]), num_classes=4)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (1, 2, 4)
    assert out.tolist() == [[[0, 0, 1, 0], [1, 0, 0, 0]]]
    assert one_hot([1, 0]).shape == (2, 2)
    with pytest.raises(ValueError, match="out of range"):
        one_hot([3], num_classes=2)
    with pytest.raises(TypeError, match="integer"):
        one_hot([0.5])


def test_standardizer_config_round_trip():
    x = np.random.default_rng(0).normal(3, 2, size=(50, 3))
    scaler = Standardizer().fit(x)
    again = Standardizer.from_config(scaler.get_config())
    np.testing.assert_allclose(again.transform(x), scaler.transform(x))
    np.testing.assert_allclose(again.transform(x).mean(axis=0), 0, atol=1e-12)


# --------------------------------------------------------------------------- CSV files


def _write(path, text):
    path.write_text(text)
    return path


def test_load_csv_numeric_and_one_hot_categorical_features(tmp_path):
    path = _write(tmp_path / "d.csv", "age,color,size,label\n30,red,1.5,yes\n40,blue,2.5,no\n50,red,3.5,yes\n")
    data = load_csv(path, target="label")
    x, y = data
    assert data.feature_names == ["age", "color=blue", "color=red", "size"]
    assert x.dtype == np.float32 and x.tolist() == [[30, 0, 1, 1.5], [40, 1, 0, 2.5], [50, 0, 1, 3.5]]
    assert data.class_names == ["no", "yes"] and y.tolist() == [1, 0, 1] and y.dtype == np.int64
    assert data.schema.task == "classification" and data.lines.tolist() == [2, 3, 4]
    codes = load_csv(path, target="label", categorical="integer")
    assert codes.feature_names == ["age", "color", "size"] and codes.x[:, 1].tolist() == [1, 0, 1]


def test_load_csv_task_choice_for_numeric_targets(tmp_path):
    path = _write(tmp_path / "d.csv", "a,b,c\n1,2,10\n2,0,2.5\n3,1,7\n4,2,1\n")
    data = load_csv(path, target="b")
    assert data.schema.task == "classification" and data.class_names == ["0", "1", "2"]
    assert data.y.tolist() == [2, 0, 1, 2]
    data = load_csv(path, target="c")
    assert data.schema.task == "regression" and data.y.dtype == np.float32 and data.y.tolist() == [10, 2.5, 7, 1]
    forced = load_csv(path, target="b", task="regression")
    assert forced.y.tolist() == [2, 0, 1, 2] and forced.class_names is None
    # numeric class names order by value, not as text
    labels = _write(tmp_path / "l.csv", "x,y\n1,10\n2,9\n3,10\n")
    assert load_csv(labels, target="y").class_names == ["9", "10"]


def test_load_csv_schema_encodes_new_files_alike(tmp_path):
    train = load_csv(_write(tmp_path / "t.csv", "n,c,y\n1,a,x\n2,b,y\n3,c,x\n"), target="y")
    config = train.schema.get_config()
    import json
    schema = TableSchema.from_config(json.loads(json.dumps(config)))
    new = load_csv(_write(tmp_path / "n.csv", "y,c,extra,n\ny,c,0,5\nx,a,0,6\n"), target="y", schema=schema)
    assert new.feature_names == train.feature_names
    assert new.x.tolist() == [[5, 0, 0, 1], [6, 1, 0, 0]] and new.y.tolist() == [1, 0]
    features_only = load_csv(tmp_path / "n.csv", schema=schema)
    assert features_only.y is None and features_only.x.shape == (2, 4)
    with pytest.raises(ValueError, match=r"categories \['z'\].*line 2"):
        load_csv(_write(tmp_path / "u.csv", "n,c\n1,z\n"), schema=schema)
    with pytest.raises(ValueError, match="classes.*'q'"):
        load_csv(_write(tmp_path / "q.csv", "n,c,y\n1,a,q\n"), target="y", schema=schema)
    with pytest.raises(ValueError, match="'n' was numeric"):
        load_csv(_write(tmp_path / "s.csv", "n,c\nabc,a\n"), schema=schema)


def test_load_csv_missing_values_error_drop_impute(tmp_path):
    path = _write(tmp_path / "m.csv", "a,b,y\n1,u,0\n,v,1\n3,NA,0\n5,u,1\n7,u,?\n")
    with pytest.raises(MissingValuesError, match=r"column 'a' at line 3; column 'b' at line 4; column 'y' at line 6"):
        load_csv(path, target="y")
    dropped = load_csv(path, target="y", missing="drop")
    assert dropped.x[:, 0].tolist() == [1, 5] and dropped.dropped_lines == [3, 4, 6]
    assert dropped.lines.tolist() == [2, 5]
    with pytest.raises(MissingValuesError, match="target has missing values.*line 6"):
        load_csv(path, target="y", missing="impute")
    imputed = load_csv(path, missing="impute", features=["a", "b"])
    assert imputed.x[:, 0].tolist() == [1, 4, 3, 5, 7]  # mean of 1, 3, 5, 7
    assert imputed.feature_names == ["a", "b=u", "b=v"] and imputed.x[2, 1:].tolist() == [1, 0]  # mode 'u'


def test_load_csv_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such CSV file"):
        load_csv(tmp_path / "absent.csv")
    path = _write(tmp_path / "d.csv", "a,b\n1,x\n2,y\n")
    with pytest.raises(ValueError, match=r"column 'nope' not found; the columns are 'a', 'b'"):
        load_csv(path, target="nope")
    with pytest.raises(ValueError, match="regression target 'b' is not numeric.*'x' on line 2"):
        load_csv(path, target="b", task="regression")
    with pytest.raises(ValueError, match="line 3: 3 fields"):
        load_csv(_write(tmp_path / "r.csv", "a,b\n1,2\n1,2,3\n"))
    with pytest.raises(ValueError, match="no data rows"):
        load_csv(_write(tmp_path / "e.csv", "a,b\n"))
    with pytest.raises(ValueError, match="single class"):
        load_csv(_write(tmp_path / "o.csv", "a,b\n1,x\n2,x\n"), target="b")
    with pytest.raises(ValueError, match="unknown task 'class'"):
        load_csv(path, target="b", task="class")
    with pytest.raises(ValueError, match="column 'a' holds infinite values \\(line 3\\)"):
        load_csv(_write(tmp_path / "i.csv", "a,b\n1,2\n-inf,3\n"))


def test_keras_style_load_data_modules(tmp_path, monkeypatch):
    from deepgrad.datasets import fashion_mnist, mnist

    monkeypatch.setenv("DEEPGRAD_DATA", str(tmp_path))
    monkeypatch.setattr(download_module, "_fetch", lambda url, destination: pytest.fail("no download expected"))
    digits = _fake_mnist(tmp_path / "mnist", monkeypatch, n_train=4)
    fashion = _fake_mnist(tmp_path / "fashion-mnist", monkeypatch, kind="fashion", n_train=6)
    assert np.array_equal(mnist.load_data()[0][0], digits["train-images-idx3-ubyte.gz"])
    assert np.array_equal(fashion_mnist.load_data()[0][0], fashion["train-images-idx3-ubyte.gz"])
    assert len(fashion_mnist.FASHION_CLASS_NAMES) == 10


def test_keras_style_load_data_takes_path_and_data_dir(tmp_path, monkeypatch):
    from deepgrad.datasets import fashion_mnist, mnist

    monkeypatch.setenv("DEEPGRAD_DATA", str(tmp_path / "elsewhere"))
    monkeypatch.setattr(download_module, "_fetch", lambda url, destination: pytest.fail("no download expected"))
    digits = _fake_mnist(tmp_path / "mnist", monkeypatch, n_train=4)
    fashion = _fake_mnist(tmp_path / "fashion-mnist", monkeypatch, kind="fashion", n_train=6)
    assert np.array_equal(mnist.load_data(path="mnist.npz", data_dir=tmp_path)[0][0],
                          digits["train-images-idx3-ubyte.gz"])
    assert np.array_equal(fashion_mnist.load_data(data_dir=tmp_path)[0][0], fashion["train-images-idx3-ubyte.gz"])
    with pytest.raises(FileNotFoundError, match="not cached"):
        mnist.load_data(download=False)


# --------------------------------------------------------------------------- IDX and MNIST (offline)


def _idx_bytes(array, type_code=0x08):
    big_endian = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[type_code]
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.asarray(array).astype(big_endian).tobytes()


def test_read_idx_raw_gzip_and_element_types(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "raw.idx").write_bytes(_idx_bytes(images))
    (tmp_path / "zipped.gz").write_bytes(gzip.compress(_idx_bytes(images)))
    for name in ("raw.idx", "zipped.gz"):
        out = read_idx(tmp_path / name)
        assert out.dtype == np.uint8 and np.array_equal(out, images)
    values = np.array([[1.5, -2.25], [300.0, 0.0]], dtype=np.float32)
    (tmp_path / "f.idx").write_bytes(_idx_bytes(values, 0x0D))
    out = read_idx(tmp_path / "f.idx")
    assert out.dtype == np.float32 and out.dtype.isnative and np.array_equal(out, values)
    (tmp_path / "s.idx").write_bytes(_idx_bytes(np.array([-300, 7], dtype=np.int16), 0x0B))
    assert read_idx(tmp_path / "s.idx").tolist() == [-300, 7]


def test_read_idx_rejects_bad_files(tmp_path):
    good = _idx_bytes(np.zeros((2, 2), np.uint8))
    cases = {"short.idx": (good[:-1], "truncated"), "magic.idx": (b"\x01" + good[1:], "not an IDX file"),
             "type.idx": (good[:2] + b"\x07" + good[3:], "unknown IDX element type 0x07"),
             "gz.gz": (gzip.compress(good)[:-6], "corrupt or truncated gzip")}
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=message):
            read_idx(tmp_path / name)


def _fake_mnist(folder, monkeypatch, kind="digits", n_train=5, n_test=3):
    """Gzip IDX files under their real names, with the digest table pointing at them."""
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8)}
    folder.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name, array in arrays.items():
        data = gzip.compress(_idx_bytes(array), mtime=0)
        (folder / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    monkeypatch.setitem(mnist_module._SOURCES[kind], "sha256", digests)
    return arrays


def test_load_mnist_reads_a_verified_cache_without_network(tmp_path, monkeypatch):
    def no_network(url, destination):
        raise AssertionError(f"tried to download {url}")

    monkeypatch.setattr(download_module, "_fetch", no_network)
    arrays = _fake_mnist(tmp_path / "fashion-mnist", monkeypatch, kind="fashion")
    (x_train, y_train), (x_test, y_test) = load_mnist("fashion", cache_dir=tmp_path)
    assert x_train.shape == (5, 28, 28) and x_train.dtype == np.uint8 and x_test.shape == (3, 28, 28)
    assert np.array_equal(x_train, arrays["train-images-idx3-ubyte.gz"])
    assert np.array_equal(y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    with pytest.raises(ValueError, match="unknown kind 'kmnist'"):
        load_mnist("kmnist", cache_dir=tmp_path)


def test_load_mnist_downloads_verifies_and_caches(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    arrays = _fake_mnist(mirror, monkeypatch)
    requested = []

    def fetch_from_folder(url, destination):
        requested.append(url)
        if url.startswith(mnist_module._SOURCES["digits"]["mirrors"][0]):
            raise OSError("mirror down")
        with open(destination, "wb") as out:
            out.write((mirror / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(download_module, "_fetch", fetch_from_folder)
    cache = tmp_path / "cache"
    with pytest.raises(FileNotFoundError, match="not cached; pass download=True"):
        load_mnist(cache_dir=cache, download=False)
    (x_train, y_train), _ = load_mnist(cache_dir=cache)
    assert np.array_equal(y_train, arrays["train-labels-idx1-ubyte.gz"])
    assert len(requested) == 8 and sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(arrays)
    load_mnist(cache_dir=cache)
    assert len(requested) == 8  # second load: from the cache
    # a corrupt cached file is fetched again; a mirror with wrong bytes is an error
    (cache / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="expected SHA-256"):
        load_mnist(cache_dir=cache, download=False)
    load_mnist(cache_dir=cache)
    assert len(requested) == 10
    (cache / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    (mirror / "t10k-labels-idx1-ubyte.gz").write_bytes(b"tampered")
    with pytest.raises(DownloadError, match="mirror down.*SHA-256 .* differs"):
        load_mnist(cache_dir=cache)
    assert not (cache / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()
    assert not (cache / "mnist" / "t10k-labels-idx1-ubyte.gz.part").exists()


def test_mnist_digest_table_is_complete():
    for _kind, source in mnist_module._SOURCES.items():
        assert sorted(source["sha256"]) == sorted(mnist_module._FILES)
        assert all(len(d) == 64 and int(d, 16) >= 0 for d in source["sha256"].values())
    digests = [d for s in mnist_module._SOURCES.values() for d in s["sha256"].values()]
    assert len(set(digests)) == 8


def test_moons_and_circles_match_scikit_learn_without_randomness():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    for n in (7, (3, 5)):
        ours, theirs = make_moons(n, shuffle=False), sklearn_datasets.make_moons(n, shuffle=False)
        np.testing.assert_allclose(ours[0], theirs[0], atol=1e-6)
        assert np.array_equal(ours[1], theirs[1])
        ours = make_circles(n, shuffle=False, factor=0.4)
        theirs = sklearn_datasets.make_circles(n, shuffle=False, factor=0.4)
        np.testing.assert_allclose(ours[0], theirs[0], atol=1e-6)
        assert np.array_equal(ours[1], theirs[1])


def test_load_csv_one_text_cell_does_not_turn_a_numeric_column_into_categories(tmp_path):
    rows = "".join(f"{i},{i % 3},{10.5 * i}\n" for i in range(20))
    typo = _write(tmp_path / "t.csv", "a,b,y\n" + rows.replace("\n4,1,", "\nfour,1,"))
    with pytest.raises(ValueError, match=r"column 'a' holds numbers except in 1 of 20 cells \('four' on line 6\)"
                                         r".*categorical_columns=\['a'\]"):
        load_csv(typo, target="y")
    declared = load_csv(typo, target="y", categorical_columns=["a"])
    assert "a=four" in declared.feature_names and declared.schema.task == "regression"
    # a column that is mostly text is read as categories, as before
    mostly_text = _write(tmp_path / "m.csv", "a,y\nred,1.5\nblue,2.5\n3,3.5\ngreen,4.5\n")
    assert load_csv(mostly_text, target="y").feature_names == ["a=3", "a=blue", "a=green", "a=red"]
    # columns that hold numbers can be declared categorical too (codes)
    codes = load_csv(mostly_text, target="a", categorical_columns=["y"], task="classification")
    assert codes.feature_names == ["y=1.5", "y=2.5", "y=3.5", "y=4.5"]
    with pytest.raises(ValueError, match="categorical_columns must be a list of feature columns"):
        load_csv(mostly_text, target="y", categorical_columns=["nope"])


def test_load_csv_one_text_cell_does_not_turn_a_regression_target_into_classes(tmp_path):
    rows = [f"{i},{100 + 7.25 * i}" for i in range(30)]
    rows[11] = "11,n/a?"
    path = _write(tmp_path / "r.csv", "x,price\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=r"target 'price' holds numbers except in 1 of 30 rows \('n/a\?' on line 13\)"
                                         r".*task='regression'.*task='classification'"):
        load_csv(path, target="price")
    with pytest.raises(ValueError, match=r"regression target 'price' is not numeric \('n/a\?' on line 13\)"):
        load_csv(path, target="price", task="regression")
    assert len(load_csv(path, target="price", task="classification").class_names) == 30


def test_load_csv_rejects_values_beyond_float32_and_reads_other_encodings_and_delimiters(tmp_path):
    with pytest.raises(ValueError, match=r"column 'b' holds values beyond the float32 range.*'-1e300' on line 3"):
        load_csv(_write(tmp_path / "big.csv", "a,b\n1,2\n2,-1e300\n"))
    with pytest.raises(ValueError, match=r"column 'b' holds values beyond the float32 range.*'1e39' on line 2"):
        load_csv(_write(tmp_path / "t.csv", "a,b\n1,1e39\n2,2.5\n"), target="b")
    assert load_csv(_write(tmp_path / "ok.csv", "a\n3e38\n")).x[0, 0] == np.float32(3e38)
    (tmp_path / "l.csv").write_bytes("a\tb\n1\tcafé\n2\tthé\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"l.csv, line 2: byte 0xe9 is not valid utf-8 text.*encoding='latin-1'"):
        load_csv(tmp_path / "l.csv")
    data = load_csv(tmp_path / "l.csv", encoding="latin-1")
    assert data.feature_names == ["a", "b=café", "b=thé"]
    with pytest.raises(ValueError, match="unknown text encoding 'klingon'"):
        load_csv(tmp_path / "l.csv", encoding="klingon")
    (tmp_path / "bom.csv").write_bytes("\ufeffa|b\n1|2\n".encode("utf-8"))
    assert load_csv(tmp_path / "bom.csv", target="b", task="regression").feature_names == ["a"]
    quoted = _write(tmp_path / "q.csv", 'name;"price, eur"\n"x, y";1,5\n"z";2\n')
    assert load_csv(quoted, features=["name"]).feature_names == ["name=x, y", "name=z"]


def test_real_mnist_and_fashion_mnist_load_from_the_verified_cache(shared_data, monkeypatch):
    from deepgrad.datasets import fashion_mnist, mnist

    monkeypatch.setattr(download_module, "_fetch", lambda url, destination: pytest.fail("no download expected"))
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28) and x_train.dtype == np.uint8
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    (_, y_fashion), _ = fashion_mnist.load_data()
    assert np.bincount(y_fashion).tolist() == [6000] * 10
