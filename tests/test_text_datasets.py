"""Text and sequence data sets: UCI sentiment sentences, SST-2, MNIST-1D and Keras' IMDB (all offline)."""

import hashlib
import io
import pickle
import sys
import zipfile

import numpy as np
import pytest

from deepgrad.datasets import download as download_module
from deepgrad.datasets import imdb, mnist1d, sentiment, sst2
from deepgrad.datasets.download import DownloadError


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _no_download(monkeypatch):
    monkeypatch.setattr(download_module, "_fetch", lambda url, destination: pytest.fail(f"tried to download {url}"))


def _fetch_from(folder, requested):
    """A stand-in for the network: copies the file named at the end of the URL from ``folder``."""
    def fetch(url, destination):
        requested.append(url)
        with open(destination, "wb") as out:
            out.write((folder / url.rsplit("/", 1)[1]).read_bytes())
    return fetch


# --------------------------------------------------------------------------- real copies


def test_real_uci_sentences_load_with_their_counts_and_u0085_kept(shared_data, monkeypatch):
    _no_download(monkeypatch)
    for source in ("amazon", "imdb", "yelp"):
        sentences, labels = sentiment.load_data(source)
        assert len(sentences) == 1000 and np.bincount(labels).tolist() == [500, 500]
    sentences, labels = sentiment.load_sentiment_sentences()
    assert sentences.shape == (3000,) and labels.dtype == np.int64 and sentiment.CLASS_NAMES[1] == "positive"
    assert sentences[0].startswith("So there is no way for me to plug it in here")
    with_nel = [s for s in sentiment.load_data("imdb")[0] if "\x85" in s]
    assert len(with_nel) == 2 and "The script is\x85was there a script?" in with_nel[0]


def test_real_sst2_loads_with_the_published_split_sizes(shared_data, monkeypatch):
    _no_download(monkeypatch)
    (x_train, y_train), (x_dev, y_dev), (x_test, y_test) = sst2.load_data()
    assert [len(x_train), len(x_dev), len(x_test)] == [6920, 872, 1821]
    assert [np.bincount(y).tolist() for y in (y_train, y_dev, y_test)] == [[3310, 3610], [428, 444], [912, 909]]
    assert x_dev[0] == "one long string of cliches ." and y_dev[0] == 0


def test_real_mnist1d_loads_without_pickle(shared_data, monkeypatch):
    _no_download(monkeypatch)
    (x, y), (x_test, y_test) = mnist1d.load_data()
    assert x.shape == (4000, 40) and x_test.shape == (1000, 40) and y_test.shape == (1000,)
    assert y[:10].tolist() == [2, 6, 4, 5, 6, 6, 6, 0, 3, 1]
    assert np.bincount(y).tolist() == [398, 396, 411, 394, 394, 402, 401, 404, 402, 398]


# --------------------------------------------------------------------------- UCI sentences (generated files)

FAKE_UCI = {
    "amazon": "Great phone.\t1\nBattery died.  \t0\n",
    "imdb": "The script is\x85was there a script?  \t0\nLoved it\u2028really.\t1\n",
    "yelp": "Wow... Loved this place.\t1\n",
}


def _fake_uci(monkeypatch):
    files = {}
    for name, text in FAKE_UCI.items():
        data = text.encode("utf-8")
        filename = sentiment.SOURCES[name][0]
        files[filename] = data
        monkeypatch.setitem(sentiment.SOURCES, name, (filename, _sha(data)))
    return files


def test_uci_lines_split_on_newline_only(tmp_path, monkeypatch):
    _no_download(monkeypatch)
    files = _fake_uci(monkeypatch)
    folder = tmp_path / sentiment.FOLDER
    folder.mkdir()
    for filename, data in files.items():
        (folder / filename).write_bytes(data)
    sentences, labels = sentiment.load_data("imdb", data_dir=tmp_path)
    assert sentences.tolist() == ["The script is\x85was there a script?  ", "Loved it\u2028really."]
    assert labels.tolist() == [0, 1]
    sentences, labels = sentiment.load_data(data_dir=tmp_path)
    assert len(sentences) == 5 and labels.tolist() == [1, 0, 0, 1, 1]
    with pytest.raises(ValueError, match="unknown source 'twitter'"):
        sentiment.load_data("twitter", data_dir=tmp_path)


def test_uci_files_come_out_of_the_archive_verified(tmp_path, monkeypatch):
    files = _fake_uci(monkeypatch)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    archive_name = sentiment.ARCHIVE_URL.rsplit("/", 1)[1]
    with zipfile.ZipFile(mirror / archive_name, "w") as archive:
        for filename, data in files.items():
            archive.writestr(f"sentiment labelled sentences/{filename}", data)
            archive.writestr(f"__MACOSX/sentiment labelled sentences/._{filename}", b"resource fork")
        archive.writestr("sentiment labelled sentences/readme.txt", "about")
    requested = []
    monkeypatch.setattr(download_module, "_fetch", _fetch_from(mirror, requested))
    cache = tmp_path / "cache"
    with pytest.raises(FileNotFoundError, match="amazon_cells_labelled.txt is not cached"):
        sentiment.load_data(data_dir=cache, download=False)
    sentences, _ = sentiment.load_data(data_dir=cache)
    assert len(sentences) == 5 and requested == [sentiment.ARCHIVE_URL]
    assert sorted(p.name for p in (cache / sentiment.FOLDER).iterdir()) == sorted(files)
    sentiment.load_data(data_dir=cache)
    assert len(requested) == 1  # from the cache
    # a corrupt cached file: an error naming it without download, extracted again with it
    (cache / sentiment.FOLDER / "yelp_labelled.txt").write_bytes(b"tampered\t1\n")
    with pytest.raises(ValueError, match="yelp_labelled.txt does not have the expected SHA-256"):
        sentiment.load_data(data_dir=cache, download=False)
    assert sentiment.load_data("yelp", data_dir=cache)[0].tolist() == ["Wow... Loved this place."]
    # an archive whose member differs from the published digest is refused and leaves nothing behind
    monkeypatch.setitem(sentiment.SOURCES, "yelp", ("yelp_labelled.txt", "0" * 64))
    with pytest.raises(DownloadError, match="yelp_labelled.txt from .* has SHA-256 .* not the expected 0000"):
        sentiment.load_data("yelp", data_dir=cache)
    assert sorted(p.name for p in (cache / sentiment.FOLDER).iterdir()) == sorted(files)


def test_bad_labels_are_named_with_file_and_line(tmp_path, monkeypatch):
    _no_download(monkeypatch)
    data = b"fine\t1\nno label here\n"
    monkeypatch.setitem(sentiment.SOURCES, "yelp", ("yelp_labelled.txt", _sha(data)))
    (tmp_path / sentiment.FOLDER).mkdir()
    (tmp_path / sentiment.FOLDER / "yelp_labelled.txt").write_bytes(data)
    with pytest.raises(ValueError, match="yelp_labelled.txt, line 2: expected"):
        sentiment.load_data("yelp", data_dir=tmp_path)


# --------------------------------------------------------------------------- SST-2 (generated files)


def _fake_sst2(folder, monkeypatch):
    texts = {"train": "1 a stirring , funny film .\n0 dull .\n", "dev": "0 one long string of cliches .\n",
             "test": "1 great\x85fun .\n0 no .\n"}
    folder.mkdir(parents=True)
    for split, text in texts.items():
        filename = sst2.FILES[split][0]
        (folder / filename).write_bytes(text.encode("utf-8"))
        monkeypatch.setitem(sst2.FILES, split, (filename, _sha(text.encode("utf-8"))))


def test_sst2_downloads_from_the_repository_and_checks_digests(tmp_path, monkeypatch):
    _fake_sst2(tmp_path / "mirror", monkeypatch)
    requested = []
    monkeypatch.setattr(download_module, "_fetch", _fetch_from(tmp_path / "mirror", requested))
    (x_train, y_train), _, (x_test, y_test) = sst2.load_sst2(data_dir=tmp_path / "cache")
    assert x_train.tolist() == ["a stirring , funny film .", "dull ."] and y_train.tolist() == [1, 0]
    assert x_test.tolist() == ["great\x85fun .", "no ."]
    assert requested == [sst2.MIRRORS[0] + name for name, _ in sst2.FILES.values()]
    (tmp_path / "cache" / "sst2" / "stsa.binary.dev").write_bytes(b"0 changed .\n")
    with pytest.raises(ValueError, match=r"stsa\.binary\.dev does not have the expected SHA-256"):
        sst2.load_sst2(data_dir=tmp_path / "cache", download=False)


# --------------------------------------------------------------------------- MNIST-1D (generated files)


def test_mnist1d_npz_is_checked_by_digest_or_contents(tmp_path, monkeypatch):
    _no_download(monkeypatch)
    with pytest.raises(FileNotFoundError, match="generate it with the mnist1d package"):
        mnist1d.load_data(data_dir=tmp_path)
    folder = tmp_path / "mnist1d"
    folder.mkdir()
    rng = np.random.default_rng(0)
    arrays = {"x": rng.normal(size=(6, 40)), "y": np.arange(6) % 10, "x_test": rng.normal(size=(2, 40)),
              "y_test": np.array([3, 9]), "t": np.linspace(0, 1, 40)}
    np.savez(folder / "mnist1d.npz", **arrays)
    with pytest.raises(ValueError, match=r"mnist1d\.npz has SHA-256 .* pass verify=False"):
        mnist1d.load_data(data_dir=tmp_path)
    (x, y), (x_test, y_test) = mnist1d.load_data(data_dir=tmp_path, verify=False)
    assert np.array_equal(x, arrays["x"]) and y_test.tolist() == [3, 9]
    monkeypatch.setattr(mnist1d, "SHA256", download_module.sha256_of(folder / "mnist1d.npz"))
    assert mnist1d.load_mnist1d(data_dir=tmp_path)[0][1].tolist() == arrays["y"].tolist()
    np.savez(folder / "mnist1d.npz", **{**arrays, "y": np.array([0, 1, 2, 3, 4, 12])})
    with pytest.raises(ValueError, match=r"train labels span 0\.\.12; expected 0\.\.9"):
        mnist1d.load_data(data_dir=tmp_path, verify=False)
    np.savez(folder / "mnist1d.npz", x=arrays["x"])
    with pytest.raises(ValueError, match=r"lacks the arrays \['x_test', 'y', 'y_test'\]"):
        mnist1d.load_data(data_dir=tmp_path, verify=False)


# --------------------------------------------------------------------------- Keras IMDB (generated files)


def _ragged(lists):
    out = np.empty(len(lists), dtype=object)
    for i, item in enumerate(lists):
        out[i] = item
    return out


TRAIN = [[1, 14, 22, 16], [43, 530], [973, 1622, 1385, 65, 458, 4468], [5], [12, 1, 7]]
TEST = [[4, 2, 9], [100, 200], []]


def _write_imdb(folder, monkeypatch, protocol=None):
    """An imdb.npz in Keras' layout (object arrays of int lists, pickled inside the .npy members)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "imdb.npz"
    y_train, y_test = np.array([1, 0, 1, 0, 1]), np.array([0, 1, 1])
    if protocol is None:
        np.savez(path, x_train=_ragged(TRAIN), y_train=y_train, x_test=_ragged(TEST), y_test=y_test)
    else:  # members written by hand with an older pickle protocol, as old NumPy wrote them
        with zipfile.ZipFile(path, "w") as archive:
            for name, array in (("x_train", _ragged(TRAIN)), ("y_train", y_train), ("x_test", _ragged(TEST)),
                                ("y_test", y_test)):
                stream = io.BytesIO()
                if array.dtype == object:
                    np.lib.format.write_array_header_1_0(stream, np.lib.format.header_data_from_array_1_0(array))
                    pickle.dump(array, stream, protocol=protocol)
                else:
                    np.lib.format.write_array(stream, array)
                archive.writestr(name + ".npy", stream.getvalue())
    monkeypatch.setattr(imdb, "SHA256", download_module.sha256_of(path))
    return path


def _keras_reference(x, seed, start_char=1, oov_char=2, index_from=3, num_words=None, skip_top=0, maxlen=None):
    """Keras' imdb.load_data steps, written out for the two splits together."""
    rng = np.random.RandomState(seed)
    out = []
    for reviews, labels in x:
        order = np.arange(len(reviews))
        rng.shuffle(order)
        seqs = [[start_char] + [w + index_from for w in reviews[i]] for i in order]
        labs = labels[order]
        if maxlen:
            keep = [i for i, s in enumerate(seqs) if len(s) < maxlen]
            seqs, labs = [seqs[i] for i in keep], labs[keep]
        out.append((seqs, labs))
    num_words = num_words or max(max(s) for seqs, _ in out for s in seqs)
    return [([[w if skip_top <= w < num_words else oov_char for w in s] for s in seqs], labs) for seqs, labs in out]


@pytest.mark.parametrize("protocol", [None, 2])
def test_imdb_load_data_reads_keras_object_arrays_without_unpickling(tmp_path, monkeypatch, protocol):
    _no_download(monkeypatch)
    _write_imdb(tmp_path / "imdb", monkeypatch, protocol)
    raw = imdb.read_ragged_npz(tmp_path / "imdb" / "imdb.npz")
    assert [list(r) for r in raw["x_train"]] == TRAIN and raw["x_test"][2] == [] and raw["y_test"].tolist() == [0, 1, 1]
    y = (np.array([1, 0, 1, 0, 1]), np.array([0, 1, 1]))
    for kwargs in ({}, {"num_words": 30, "skip_top": 5}, {"maxlen": 4, "seed": 7}):
        (x_train, y_train), (x_test, y_test) = imdb.load_data(data_dir=tmp_path, **kwargs)
        expected = _keras_reference([(TRAIN, y[0]), (TEST, y[1])], seed=kwargs.get("seed", 113),
                                    **{k: v for k, v in kwargs.items() if k != "seed"})
        assert x_train.dtype == object and x_train.ndim == 1
        assert [list(s) for s in x_train] == expected[0][0] and y_train.tolist() == expected[0][1].tolist()
        assert [list(s) for s in x_test] == expected[1][0] and y_test.tolist() == expected[1][1].tolist()
    (x_train, _), _ = imdb.load_data(data_dir=tmp_path, start_char=None, oov_char=None, index_from=0, num_words=20)
    assert sorted(map(sorted, x_train)) == sorted(sorted(w for w in r if w < 20) for r in TRAIN)
    with pytest.raises(ValueError, match="maxlen=1 leaves no train review"):
        imdb.load_data(data_dir=tmp_path, maxlen=1)


def test_imdb_reader_refuses_other_pickled_objects_without_running_them(tmp_path, monkeypatch):
    class Payload:
        def __reduce__(self):
            return (exec, ("import sys; sys.modules[__name__ + '_ran'] = 1",))

    for content, message in (([Payload()], "not a pickled NumPy array"),
                             (_ragged([[1, 2], {"a": 1}]), "unsupported pickle opcode|element 1 is not a list"),
                             (_ragged([[1, 2.5]]), "unsupported pickle opcode|element 0 is not a list")):
        stream = io.BytesIO()
        np.lib.format.write_array_header_1_0(stream, {"descr": "|O", "fortran_order": False, "shape": (1,)})
        pickle.dump(content, stream, protocol=2)
        with zipfile.ZipFile(tmp_path / "hostile.npz", "w") as archive:
            archive.writestr("x_train.npy", stream.getvalue())
        with pytest.raises(ValueError, match=message):
            imdb.read_ragged_npz(tmp_path / "hostile.npz")
    assert not any(name.endswith("_ran") for name in sys.modules)
    with pytest.raises(ValueError):
        np.load(tmp_path / "hostile.npz", allow_pickle=False)["x_train"]  # what plain NumPy does with it


def test_imdb_download_checks_the_digest(tmp_path, monkeypatch):
    _write_imdb(tmp_path / "mirror", monkeypatch)
    (tmp_path / "mirror" / "imdb_word_index.json").write_text('{"the": 1, "and": 2}')
    monkeypatch.setattr(imdb, "WORD_INDEX_MD5",
                        hashlib.md5((tmp_path / "mirror" / "imdb_word_index.json").read_bytes()).hexdigest())
    requested = []
    monkeypatch.setattr(download_module, "_fetch", _fetch_from(tmp_path / "mirror", requested))
    cache = tmp_path / "cache"
    with pytest.raises(FileNotFoundError, match="imdb.npz is not cached"):
        imdb.load_data(data_dir=cache, download=False)
    (x_train, _), _ = imdb.load_data(data_dir=cache)
    assert len(x_train) == 5 and requested == [imdb.MIRROR + "imdb.npz"]
    assert imdb.get_word_index(data_dir=cache) == {"the": 1, "and": 2}
    assert imdb.get_word_index(data_dir=cache) == {"the": 1, "and": 2} and len(requested) == 2
    (cache / "imdb" / "imdb.npz").write_bytes(b"not the file")
    with pytest.raises(ValueError, match=r"imdb\.npz does not have the expected SHA-256"):
        imdb.load_data(data_dir=cache, download=False)
    (cache / "imdb" / "imdb_word_index.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="imdb_word_index.json is missing or does not have the expected MD5"):
        imdb.get_word_index(data_dir=cache, download=False)
    monkeypatch.setattr(imdb, "WORD_INDEX_MD5", "0" * 32)
    with pytest.raises(DownloadError, match="imdb_word_index.json has MD5 .* not the published 000"):
        imdb.get_word_index(data_dir=cache)
