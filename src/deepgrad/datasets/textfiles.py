"""Reading labelled text files: UTF-8 lines split on ``'\\n'`` only, integer labels checked.

``str.splitlines()`` also breaks lines at U+0085 (NEXT LINE), U+2028 and other Unicode
separators; sentences of real data sets contain such characters (the UCI
``imdb_labelled.txt`` holds two U+0085), so files are split on the newline byte alone.
"""

from __future__ import annotations

import numpy as np


def read_lines(path) -> list:
    """The lines of the UTF-8 file ``path``: split on ``'\\n'`` only; the final newline and ``'\\r'`` ends dropped."""
    with open(path, encoding="utf-8", newline="") as stream:
        text = stream.read()
    if not text:
        return []
    return [line[:-1] if line.endswith("\r") else line for line in text.rstrip("\n").split("\n")]


def parse_labelled_lines(path, label_first, separator, labels=(0, 1)):
    """Sentences and integer labels of a file with one ``label<sep>sentence`` (or ``sentence<sep>label``) per line.

    Returns ``(sentences, labels)``: a NumPy str array and an int64 array of the same
    length. A line without the separator, or with a label outside ``labels``, is a
    ``ValueError`` naming the file and the line number.
    """
    sentences, targets = [], []
    for number, line in enumerate(read_lines(path), start=1):
        parts = line.split(separator, 1) if label_first else line.rsplit(separator, 1)
        if len(parts) != 2:
            raise ValueError(f"{path}, line {number}: expected 'label{separator!r}sentence' or "
                             f"'sentence{separator!r}label', got {line[:60]!r}.")
        label, sentence = (parts[0], parts[1]) if label_first else (parts[1], parts[0])
        label = label.strip()
        if not label.lstrip("-").isdigit() or int(label) not in labels:
            raise ValueError(f"{path}, line {number}: label {label!r} is not one of {list(labels)}.")
        sentences.append(sentence)
        targets.append(int(label))
    return np.array(sentences, dtype=str), np.array(targets, dtype=np.int64)
