"""The UCI "Sentiment Labelled Sentences" data set: 3 x 1,000 review sentences, positive or negative.

Kotzias, Denil, de Freitas and Smyth, "From Group to Individual Labels using Deep
Features", KDD 2015; UCI Machine Learning Repository, DOI 10.24432/C57604; licence
CC BY 4.0. Three sources of 1,000 sentences each (500 positive, 500 negative):
Amazon phone reviews, IMDB film reviews and Yelp restaurant reviews. Each file holds
``sentence<TAB>label`` lines (label 0 negative, 1 positive).

The three ``.txt`` files are cached under ``sentiment-labelled-sentences/`` of the data
cache (see :mod:`deepgrad.datasets.download`). When one is missing, UCI's zip archive is
downloaded and the files are taken out of it; each extracted file is checked against
its SHA-256 below (the digests of the archive's members) before it is kept.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from . import download as _download
from .download import DownloadError, cached_file, data_home, sha256_of
from .textfiles import parse_labelled_lines

__all__ = ["CLASS_NAMES", "SOURCES", "load_data", "load_sentiment_sentences"]

FOLDER = "sentiment-labelled-sentences"
ARCHIVE_URL = "https://archive.ics.uci.edu/static/public/331/sentiment+labelled+sentences.zip"
CLASS_NAMES = ("negative", "positive")
SOURCES = {
    "amazon": ("amazon_cells_labelled.txt", "47003fc0a0d4840b00e96e715b6189bad09e7443a3da41c4cbe12ffc79f86ae3"),
    "imdb": ("imdb_labelled.txt", "aef2e49e3da25714d61175e3a6e68eeef74a20a2f914318dc3be9947ea86512d"),
    "yelp": ("yelp_labelled.txt", "c76468b7b5c6e56a0804d728345c5f84aa2142ddb214420f61cc9cfd4c00d2ea"),
}


def _extract_from_archive(folder, wanted) -> None:
    """Download UCI's zip once and write each ``(filename, sha256)`` of ``wanted`` into ``folder``, verified."""
    os.makedirs(folder, exist_ok=True)
    partial = os.path.join(folder, "sentiment+labelled+sentences.zip.part")
    try:
        _download._fetch(ARCHIVE_URL, partial)
    except OSError as err:
        raise DownloadError(f"could not download {ARCHIVE_URL}: {err}. Place "
                            f"{', '.join(name for name, _ in wanted)} in {folder} by hand.") from err
    try:
        with zipfile.ZipFile(partial) as archive:
            # the archive nests the files in a folder and adds macOS resource forks (__MACOSX/._name)
            members = {os.path.basename(info.filename): info for info in archive.infolist()
                       if not info.filename.startswith("__MACOSX") and not info.is_dir()}
            for filename, sha256 in wanted:
                if filename not in members:
                    raise DownloadError(f"{ARCHIVE_URL} holds no {filename} (members: {sorted(members)}).")
                target = os.path.join(folder, filename)
                with open(target + ".part", "wb") as out:
                    out.write(archive.read(members[filename]))
                digest = sha256_of(target + ".part")
                if digest != sha256:
                    os.unlink(target + ".part")
                    raise DownloadError(f"{filename} from {ARCHIVE_URL} has SHA-256 {digest}, not the expected "
                                        f"{sha256}; place the verified file in {folder} by hand.")
                os.replace(target + ".part", target)
    except zipfile.BadZipFile as err:
        raise DownloadError(f"{ARCHIVE_URL} did not give a zip archive ({err}).") from err
    finally:
        os.unlink(partial)


def _cached_sentence_files(folder, names, download) -> list:
    """Paths of the verified files ``names`` in ``folder``, extracting missing or corrupt ones from the archive."""
    stale = [(SOURCES[name][0], SOURCES[name][1]) for name in names
             if not os.path.exists(os.path.join(folder, SOURCES[name][0]))
             or sha256_of(os.path.join(folder, SOURCES[name][0])) != SOURCES[name][1]]
    if stale and download:
        _extract_from_archive(folder, stale)
    # with download=False, cached_file raises the data cache's errors (missing / wrong digest), naming the file
    return [cached_file(folder, SOURCES[name][0], SOURCES[name][1], (ARCHIVE_URL,), download_missing=False)
            for name in names]


def load_sentiment_sentences(source="all", data_dir=None, download=True):
    """Labelled review sentences ``(sentences, labels)`` from ``source``: 'amazon', 'imdb', 'yelp' or 'all'.

    Returns ``sentences``, a NumPy str array (the text before the tab, unchanged), and
    ``labels``, int64 with 0 = negative and 1 = positive (``CLASS_NAMES``); 1,000
    sentences per source, 500 of each class, in file order ('all': amazon, imdb, yelp,
    3,000 sentences). There is no official train/test split: use
    ``deepgrad.datasets.train_test_split``.

    Files are read from ``data_dir/sentiment-labelled-sentences`` (``data_dir`` defaults
    to ``$DEEPGRAD_DATA``, else ``~/.deepgrad/datasets``) after checking their SHA-256;
    missing or corrupt ones are extracted from UCI's archive when ``download``, else an
    error names the file and where to put it. Lines are split on ``'\\n'`` only: some
    IMDB sentences contain U+0085, which ``str.splitlines`` would treat as a line break.
    """
    names = list(SOURCES) if source == "all" else [source]
    if source != "all" and source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; valid sources: 'all', {', '.join(map(repr, SOURCES))}.")
    folder = os.path.join(data_home(data_dir), FOLDER)
    parts = [parse_labelled_lines(path, label_first=False, separator="\t")
             for path in _cached_sentence_files(folder, names, download)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def load_data(source="all", data_dir=None, download=True):
    """Same as :func:`load_sentiment_sentences`: ``(sentences, labels)``."""
    return load_sentiment_sentences(source, data_dir=data_dir, download=download)


