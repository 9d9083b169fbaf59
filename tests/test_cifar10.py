import io
import pickle
import struct
import tarfile

import numpy as np
import pytest

from deepgrad.datasets import cifar10, download
from deepgrad.datasets.pickle_reader import UnsafePickleError, read_pickle

PER_BATCH = 3


def _batch(seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (PER_BATCH, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, PER_BATCH)]
    return data, labels


def _py2_pickle(data, labels):
    """A batch as Python 2's cPickle writes it (protocol 2, str as SHORT_BINSTRING/BINSTRING)."""
    def s(text):
        raw = text.encode() if isinstance(text, str) else text
        return (b"U" + bytes([len(raw)]) + raw) if len(raw) < 256 else (b"T" + struct.pack("<I", len(raw)) + raw)

    def k(n):
        return b"K" + bytes([n]) if n < 256 else b"M" + struct.pack("<H", n)

    array = (b"cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02" + k(0) + b"\x85" + s("b")
             + b"\x87R(" + k(1) + b"(" + k(data.shape[0]) + k(data.shape[1]) + b"t"
             + b"cnumpy\ndtype\n" + s("u1") + k(0) + k(1) + b"\x87R(" + k(3) + s("|")
             + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff" + k(0) + b"tb\x89" + s(data.tobytes()) + b"tb")
    label_list = b"](" + b"".join(k(v) for v in labels) + b"e"
    return (b"\x80\x02}q\x00(" + s("data") + array + s("labels") + label_list
            + s("batch_label") + s("training batch") + s("filenames") + b"](" + s("a.png") + b"e" + b"u.")


def _archive(path):
    batches = {}
    with tarfile.open(path, "w:gz") as archive:
        for i, name in enumerate([f"data_batch_{j}" for j in range(1, 6)] + ["test_batch"]):
            data, labels = _batch(i)
            batches[name] = (data, labels)
            if i == 0:
                payload = _py2_pickle(data, labels)
            else:  # Python 3's pickle at protocol 2, with the bytes keys of the original files
                payload = pickle.dumps({b"batch_label": b"batch", b"labels": labels, b"data": data,
                                        b"filenames": [b"x.png"] * PER_BATCH}, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return batches


def _no_network(url, destination):
    raise OSError(f"the test reached for {url}")


def test_python2_and_python3_pickles_read_alike():
    data, labels = _batch(0)
    old = read_pickle(_py2_pickle(data, labels))
    assert old[b"labels"] == labels and old[b"filenames"] == [b"a.png"]
    np.testing.assert_array_equal(old[b"data"], data)
    new = read_pickle(pickle.dumps({"data": data.astype("<f4"), "n": [300, 70000, -5, 2 ** 70, None, 1.5]},
                                   protocol=2))
    np.testing.assert_array_equal(new["data"], data.astype(np.float32))
    assert new["n"] == [300, 70000, -5, 2 ** 70, None, 1.5]


class _Runs:
    def __reduce__(self):
        import os
        return (os.system, ("echo hostile",))


@pytest.mark.parametrize("payload", [
    pickle.dumps(_Runs(), protocol=2),
    pickle.dumps({"x": np.array([object()], dtype=object)}, protocol=2),
    pickle.dumps({"x": 1}, protocol=2)[:-3],
    b"\x80\x02cbuiltins\neval\n.",
])
def test_hostile_or_broken_pickles_are_refused_without_running_code(payload):
    with pytest.raises(UnsafePickleError):
        read_pickle(payload)


def test_load_data_reads_the_verified_cache_in_keras_layout(tmp_path, monkeypatch):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    batches = _archive(folder / cifar10.ARCHIVE)
    monkeypatch.setattr(cifar10, "SHA256", download.sha256_of(folder / cifar10.ARCHIVE))
    monkeypatch.setattr(download, "_fetch", _no_network)
    (x_train, y_train), (x_test, y_test) = cifar10.load_data(data_dir=tmp_path)
    assert x_train.shape == (5 * PER_BATCH, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (5 * PER_BATCH, 1) and y_train.dtype == np.uint8
    assert x_test.shape == (PER_BATCH, 32, 32, 3) and y_test.shape == (PER_BATCH, 1)
    data, labels = batches["data_batch_2"]
    np.testing.assert_array_equal(x_train[PER_BATCH:2 * PER_BATCH], data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y_train[PER_BATCH:2 * PER_BATCH, 0], labels)
    np.testing.assert_array_equal(y_train[:PER_BATCH, 0], batches["data_batch_1"][1])  # the Python 2 batch
    # pixel (row 0, column 1) of the red plane is byte 1 of the row, as the CIFAR page describes
    assert x_test[0, 0, 1, 0] == batches["test_batch"][0][0, 1]
    monkeypatch.setenv("DEEPGRAD_DATA", str(tmp_path))
    np.testing.assert_array_equal(cifar10.load_data()[1][0], x_test)


def test_missing_archive_is_downloaded_from_toronto_and_a_wrong_one_is_refused(tmp_path, monkeypatch):
    source = tmp_path / "source.tar.gz"
    _archive(source)
    fetched = []

    def fetch(url, destination):
        fetched.append(url)
        with open(source, "rb") as stream, open(destination, "wb") as out:
            out.write(stream.read())

    monkeypatch.setattr(download, "_fetch", fetch)
    monkeypatch.setattr(cifar10, "SHA256", download.sha256_of(source))
    (x_train, _), _ = cifar10.load_data(data_dir=tmp_path / "cache")
    assert fetched == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    assert len(x_train) == 5 * PER_BATCH
    monkeypatch.undo()
    monkeypatch.setattr(download, "_fetch", _no_network)
    with pytest.raises(ValueError, match="cifar-10-python.tar.gz does not have the expected SHA-256"):
        cifar10.load_data(data_dir=tmp_path / "cache", download=False)


def test_an_archive_without_the_batches_is_named(tmp_path):
    path = tmp_path / "other.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("readme.txt")
        archive.addfile(info, io.BytesIO(b""))
    with pytest.raises(ValueError, match="not the CIFAR-10 python archive"):
        cifar10.read_archive(path)
