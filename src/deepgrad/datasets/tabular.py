"""CSV files as model inputs: numeric and categorical columns, class names, missing values.

Reading uses the standard library's ``csv`` module; the columns are then converted
with NumPy. A :class:`TableSchema` records every decision taken on the training file
(which columns, how categories are encoded, the class names, the values used to fill
gaps), so that new files are encoded the same way: ``load_csv(new, schema=train.schema)``.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field

import numpy as np

from .preprocessing import one_hot

MISSING_MARKERS = ("", "na", "n/a", "nan", "null", "none", "?")  # compared case-insensitively, stripped
TASKS = ("auto", "classification", "regression")
CATEGORICAL_ENCODINGS = ("onehot", "integer")
MISSING_POLICIES = ("error", "drop", "impute")
DELIMITERS = (",", ";", "\t", "|")  # the ones delimiter=None recognizes, in order of preference
# task='auto' reads a numeric target as class labels when it holds at most this many integer values
AUTO_MAX_CLASSES = 10
_LINES_SHOWN = 8
_DELIMITER_SAMPLE_LINES = 20


class MissingValuesError(ValueError):
    """A CSV file has empty or missing-marker cells where values are needed."""


class TableSchema:
    """How the columns of a CSV file become the feature matrix and the target.

    ``features``: the feature columns in order. ``categories``: for each categorical
    feature, its categories (sorted); every other feature is numeric. ``categorical``:
    'onehot' (one 0/1 column per category, named ``column=category``) or 'integer'
    (one column holding the category's index in ``categories``). ``fill_values``: what
    ``missing='impute'`` writes into gaps (numeric: the column mean, categorical: the
    most frequent category), learned from the training file. ``target``, ``task``
    ('classification' or 'regression') and ``class_names`` (class id i names
    ``class_names[i]``) describe the target. ``get_config``/``from_config`` give a
    JSON-able dict, e.g. to store in ``model.metadata``.
    """

    def __init__(self, features, categories=None, fill_values=None, target=None, task=None, class_names=None,
                 categorical="onehot"):
        if categorical not in CATEGORICAL_ENCODINGS:
            raise ValueError(f"unknown categorical encoding {categorical!r}; valid ones: {CATEGORICAL_ENCODINGS}.")
        self.features = list(features)
        self.categories = {name: list(values) for name, values in (categories or {}).items()}
        self.fill_values = dict(fill_values or {})
        self.target = target
        self.task = task
        self.class_names = None if class_names is None else list(class_names)
        self.categorical = categorical

    @property
    def feature_names(self) -> list:
        """The names of the encoded columns of x, in order."""
        names = []
        for column in self.features:
            if column in self.categories and self.categorical == "onehot":
                names.extend(f"{column}={category}" for category in self.categories[column])
            else:
                names.append(column)
        return names

    def get_config(self) -> dict:
        return {"features": self.features, "categories": self.categories, "fill_values": self.fill_values,
                "target": self.target, "task": self.task, "class_names": self.class_names,
                "categorical": self.categorical}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return (f"TableSchema(features={self.features!r}, categorical={sorted(self.categories)!r}, "
                f"target={self.target!r}, task={self.task!r}, class_names={self.class_names!r})")


@dataclass
class CSVData:
    """What :func:`load_csv` returns: unpacks as ``x, y = load_csv(...)``.

    ``x`` float32 (n, d); ``y`` int64 class ids (classification), float32 values
    (regression), or None without a target; ``schema`` the :class:`TableSchema`;
    ``lines`` the file line number of each row of x; ``dropped_lines`` the line numbers
    of rows left out by ``missing='drop'``.
    """

    x: np.ndarray
    y: np.ndarray | None
    schema: TableSchema
    lines: np.ndarray
    dropped_lines: list = field(default_factory=list)

    @property
    def feature_names(self) -> list:
        return self.schema.feature_names

    @property
    def class_names(self):
        return self.schema.class_names

    def __iter__(self):
        return iter((self.x, self.y))


def _decode(path, encoding):
    """The text of the file at ``path``; undecodable bytes are an error naming the line and the option."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such CSV file: {path}")
    with open(path, "rb") as stream:
        data = stream.read()
    # a byte-order mark is not part of the first column's name
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return data.decode(codec)
    except LookupError:
        raise ValueError(f"unknown text encoding {encoding!r}; common ones: 'utf-8', 'latin-1', 'cp1252'.") from None
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ValueError(f"{path}, line {line}: byte 0x{data[err.start]:02x} is not valid {encoding} text; the file "
                         "has another encoding: pass it with encoding='latin-1' (or 'cp1252', ...).") from None


def _detect_delimiter(text) -> str:
    """The candidate delimiter that splits the first lines into the same number of fields, the most of them.

    Score per candidate: (every sampled line has as many fields as the header, fields in the header);
    ',' wins a tie. Quotes are honoured, so '"x, y";1' is two fields for ';'.
    """
    sample = [line for line in text.splitlines()[:_DELIMITER_SAMPLE_LINES] if line.strip()]

    def score(delimiter):
        counts = [len(fields) for fields in csv.reader(sample, delimiter=delimiter)]
        return (bool(counts) and counts[0] > 1 and len(set(counts)) == 1, counts[0] if counts else 0)

    return max(DELIMITERS, key=score)  # max keeps the first of equal scores


def _read_table(path, delimiter, encoding):
    """Header, cells (n, columns) stripped strings, the file line number of each row, and the delimiter used."""
    text = _decode(path, encoding)
    if delimiter is None:
        delimiter = _detect_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path} is empty; a CSV file needs a header line naming its columns.")
        header = [name.strip() for name in header]
        duplicated = sorted({name for name in header if header.count(name) > 1})
        if duplicated:
            raise ValueError(f"{path}: the header names columns {duplicated} more than once.")
        rows, lines = [], []
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue  # blank line
            if len(record) != len(header):
                raise ValueError(f"{path}, line {reader.line_num}: {len(record)} fields, but the header has "
                                 f"{len(header)} ({', '.join(header)}), separated by {delimiter!r}.")
            rows.append(record)
            lines.append(reader.line_num)
    except csv.Error as err:
        raise ValueError(f"{path}, line {reader.line_num}: malformed CSV ({err}).") from None
    if not rows:
        raise ValueError(f"{path} has a header but no data rows.")
    return header, np.char.strip(np.array(rows, dtype=str)), np.array(lines, dtype=np.int64), delimiter


def _line_list(lines) -> str:
    lines = [int(v) for v in lines]
    shown = ", ".join(str(v) for v in lines[:_LINES_SHOWN])
    more = f" and {len(lines) - _LINES_SHOWN} more" if len(lines) > _LINES_SHOWN else ""
    return f"line{'s' if len(lines) > 1 else ''} {shown}{more}"


def _parse_numbers(cells, missing):
    """``(values, bad)``: the cells as float64 (NaN where missing or not a number) and the mask of
    present cells that are not numbers."""
    values = np.full(len(cells), np.nan)
    bad = np.zeros(len(cells), dtype=bool)
    try:
        values[~missing] = cells[~missing].astype(np.float64)
    except ValueError:  # some cell is text: find which, one by one
        for i in np.flatnonzero(~missing):
            try:
                values[i] = float(cells[i])
            except ValueError:
                bad[i] = True
    return values, bad


def _mostly_text(bad, missing) -> bool:
    """A column is read as categories when at least half of its present cells are not numbers."""
    return 2 * int(bad.sum()) >= int((~missing).sum())


def _cell_list(cells, lines, mask) -> str:
    """The first cells under ``mask`` as "'abc' on line 5", and how many more there are."""
    where = np.flatnonzero(mask)
    shown = ", ".join(f"{str(cells[i])!r} on line {int(lines[i])}" for i in where[:_LINES_SHOWN])
    more = f" and {len(where) - _LINES_SHOWN} more" if len(where) > _LINES_SHOWN else ""
    return shown + more


def _check_finite(values, path, name, lines, cells):
    """Infinite values, and finite ones beyond float32's range (they become inf in x), are errors."""
    infinite = ~np.isfinite(values) & ~np.isnan(values)
    if infinite.any():
        raise ValueError(f"{path}: column {name!r} holds infinite values ({_line_list(lines[infinite])}); "
                         "replace them, or mark them missing (empty cell).")
    too_large = np.abs(np.nan_to_num(values)) > np.finfo(np.float32).max
    if too_large.any():
        raise ValueError(f"{path}: column {name!r} holds values beyond the float32 range (|v| > 3.4e38) that "
                         f"deepgrad computes in: {_cell_list(cells, lines, too_large)}; rescale the column "
                         "(e.g. to other units or its logarithm).")


def _label_name(value: float) -> str:
    """A numeric label as a class name: 1.0 -> '1', 0.5 -> '0.5'."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _most_frequent(values):
    categories, counts = np.unique(values, return_counts=True)
    return str(categories[int(np.argmax(counts))])


def _encode_categories(name, cells, categories, lines, path):
    """Indices of ``cells`` in the sorted ``categories``; unknown values are an error naming them."""
    known = np.asarray(categories, dtype=str)
    codes = np.clip(np.searchsorted(known, cells), 0, len(known) - 1)
    unknown = known[codes] != cells
    if unknown.any():
        values = sorted(set(cells[unknown].tolist()))
        raise ValueError(f"{path}: column {name!r} has categories {values[:5]} ({_line_list(lines[unknown])}) that "
                         f"the training data did not have; known categories: {categories}.")
    return codes


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid values: {', '.join(repr(c) for c in choices)}.")


def load_csv(path, target=None, *, task="auto", features=None, categorical="onehot", categorical_columns=None,
             missing="error", missing_values=MISSING_MARKERS, delimiter=None, encoding="utf-8",
             schema=None) -> CSVData:
    """Read a CSV file with a header line into ``(x, y)`` plus what is needed to read the next file alike.

    Columns: a column whose present cells all parse as numbers is numeric; one where at
    least half of them are not numbers is categorical; one that is numeric except for a
    few cells is an error naming those cells (line and value), since one typo must not
    turn a numeric column into hundreds of categories. ``categorical_columns`` names
    columns to read as categories whatever they hold (codes such as zip codes, or a
    column with a few text values on purpose). Categorical columns are encoded
    (``categorical=``) as one-hot columns ``column=category`` ('onehot', the default;
    categories sorted) or as the integer index of its category ('integer').
    ``features`` picks the feature columns (default: all but ``target``).

    Target: ``task='classification'`` turns labels into class ids 0..K-1 in sorted
    order (numbers sorted by value) and records ``class_names``; 'regression' needs
    numbers; 'auto' chooses classification for a mostly non-numeric target or one with at
    most ``AUTO_MAX_CLASSES`` distinct integer values, regression otherwise, and a
    numeric target with a few text cells is an error naming them.
    ``target=None`` reads features only (y is None).

    Missing values are empty cells or ``missing_values`` markers (NA, NaN, null, ?...,
    any case). ``missing='error'`` (default) raises :class:`MissingValuesError`
    naming each column and its line numbers; 'drop' leaves those rows out (their
    lines are in ``dropped_lines``); 'impute' fills features with the column mean
    (numeric) or most frequent category (a missing target is still an error).

    The file is decoded as ``encoding`` (UTF-8 by default, a byte-order mark ignored); an
    undecodable byte is an error naming its line. ``delimiter=None`` (default) takes the
    one of ``DELIMITERS`` (',', ';', tab, '|') that splits the header line into the most
    fields. Numbers must fit float32, the type of x and y: 1e300 is an error.

    ``schema``: a :class:`TableSchema` from the training file; the same columns,
    categories, class names and fill values are then used, and a category or class
    the training file did not have is an error. Returns a :class:`CSVData`.
    """
    path = os.fspath(path)
    _check_choice("task", task, TASKS)
    _check_choice("categorical encoding", categorical, CATEGORICAL_ENCODINGS)
    _check_choice("missing-value policy", missing, MISSING_POLICIES)
    header, cells, lines, delimiter = _read_table(path, delimiter, encoding)
    features = _choose_features(path, header, delimiter, target, features, schema, categorical_columns)
    column = {name: header.index(name) for name in features + ([target] if target is not None else [])}
    gaps = np.isin(np.char.lower(cells), [m.lower() for m in missing_values])
    keep = _rows_to_keep(path, gaps, lines, column, features, target, missing)
    dropped = lines[~keep].tolist()
    cells, gaps, lines = cells[keep], gaps[keep], lines[keep]
    x, categories, fill_values = _encode_features(path, features, cells, gaps, lines, column, schema, categorical,
                                                  set(categorical_columns or ()))
    y, task_used, class_names = None, None, None
    if target is not None:
        y, task_used, class_names = _encode_target(
            path, target, cells[:, column[target]], lines,
            schema.task if schema is not None and schema.task else task,
            schema.class_names if schema is not None else None)
    if schema is None:
        schema = TableSchema(features, categories, fill_values, target, task_used, class_names, categorical)
    return CSVData(x=x, y=y, schema=schema, lines=lines, dropped_lines=dropped)


def _choose_features(path, header, delimiter, target, features, schema, categorical_columns) -> list:
    """The feature columns (the schema's, the given ones, or all but the target), checked against the header."""
    if schema is not None:
        features = list(schema.features)
    elif features is None:
        features = [name for name in header if name != target]
    else:
        features = list(features)
    wanted = features + ([target] if target is not None else [])
    absent = [name for name in wanted if name not in header]
    if absent:
        raise ValueError(f"{path}: column{'s' if len(absent) > 1 else ''} {', '.join(map(repr, absent))} not found; "
                         f"the columns are {', '.join(map(repr, header))} (read with "
                         f"delimiter={delimiter!r}).")
    if target is not None and target in features:
        raise ValueError(f"column {target!r} cannot be both the target and a feature.")
    if not features:
        raise ValueError(f"{path}: no feature columns left besides the target {target!r}.")
    if isinstance(categorical_columns, str) or set(categorical_columns or ()) - set(features):
        raise ValueError(f"categorical_columns must be a list of feature columns; got {categorical_columns!r}, "
                         f"the feature columns are {', '.join(map(repr, features))}.")
    return features


def _rows_to_keep(path, gaps, lines, column, features, target, missing):
    """The rows kept under the ``missing`` policy (a boolean mask); 'error' and gaps in the target raise."""
    target_gaps = gaps[:, column[target]] if target is not None else np.zeros(len(gaps), dtype=bool)
    if missing == "drop":
        keep = ~(gaps[:, [column[name] for name in features]].any(axis=1) | target_gaps)
        if not keep.any():
            raise MissingValuesError(f"{path}: every row has a missing value; nothing is left after dropping them.")
        return keep
    problems = [(name, gaps[:, column[name]]) for name in features] if missing == "error" else []
    problems.append((target, target_gaps))
    problems = [(name, gap) for name, gap in problems if name is not None and gap.any()]
    if problems:
        where = "; ".join(f"column {name!r} at {_line_list(lines[gap])}" for name, gap in problems)
        hint = ("missing='drop' leaves those rows out" if missing == "impute" else
                "pass missing='drop' to leave those rows out or missing='impute' to fill them "
                "(numeric: column mean, categorical: most frequent value)")
        what = "the target has missing values, which cannot be imputed" if missing == "impute" else \
            "missing values"
        raise MissingValuesError(f"{path}: {what}: {where}. Fix the file, or {hint}.")
    return np.ones(len(gaps), dtype=bool)


def _encode_features(path, features, cells, gaps, lines, column, schema, categorical, declared):
    """``(x, categories, fill_values)``: numeric columns as they are, categorical ones encoded, gaps filled."""
    categories = dict(schema.categories) if schema is not None else {}
    fill_values = dict(schema.fill_values) if schema is not None else {}
    encoding = schema.categorical if schema is not None else categorical
    blocks = []
    for name in features:
        raw, gap = cells[:, column[name]], gaps[:, column[name]]
        if gap.all():
            raise ValueError(f"{path}: column {name!r} has no values at all; leave it out with features=[...].")
        numbers = None
        if name not in categories and name not in declared:
            numbers = _numeric_feature(path, name, raw, gap, lines, trained=schema is not None)
        if numbers is not None:
            fill_values.setdefault(name, float(np.mean(numbers[~gap])))
            blocks.append(np.where(gap, fill_values[name], numbers)[:, None])
            continue
        if name not in categories:
            categories[name] = sorted(set(raw[~gap].tolist()))
        fill_values.setdefault(name, _most_frequent(raw[~gap]))
        codes = _encode_categories(name, np.where(gap, fill_values[name], raw), categories[name], lines, path)
        blocks.append(one_hot(codes, len(categories[name])) if encoding == "onehot" else codes[:, None])
    return np.concatenate(blocks, axis=1).astype(np.float32), categories, fill_values


def _numeric_feature(path, name, raw, gap, lines, trained):
    """The column as float64 numbers, or None when it is mostly text (categorical); a numeric column
    with a few text cells is an error naming them (``trained``: the schema says it is numeric)."""
    numbers, bad = _parse_numbers(raw, gap)
    if bad.any() and trained:
        raise ValueError(f"{path}: column {name!r} was numeric in the training data but holds "
                         f"{_cell_list(raw, lines, bad)}.")
    if bad.any() and not _mostly_text(bad, gap):
        raise ValueError(
            f"{path}: column {name!r} holds numbers except in {int(bad.sum())} of {int((~gap).sum())} "
            f"cells ({_cell_list(raw, lines, bad)}). Fix those cells or empty them (empty cells are "
            f"missing values), or, if the column holds categories, pass categorical_columns=[{name!r}].")
    if bad.any():
        return None
    _check_finite(numbers, path, name, lines, raw)
    return numbers


def _encode_target(path, target, raw, lines, task, class_names):
    """``(y, task, class_names)`` for the target cells ``raw``: regression values or class ids."""
    no_gaps = np.zeros(len(raw), dtype=bool)
    values, bad = _parse_numbers(raw, no_gaps)
    if task == "auto" and bad.any() and not _mostly_text(bad, no_gaps):
        raise ValueError(
            f"{path}: the target {target!r} holds numbers except in {int(bad.sum())} of {len(raw)} rows "
            f"({_cell_list(raw, lines, bad)}). Fix those cells, or say what the target is: "
            "task='regression' for numbers, task='classification' for class labels.")
    if bad.any():
        values = None
    if task == "auto":
        task = "classification" if values is None or (
            np.all(values == np.round(values)) and len(np.unique(values)) <= AUTO_MAX_CLASSES) else "regression"
    if task == "regression":
        if values is None:
            raise ValueError(f"{path}: the regression target {target!r} is not numeric "
                             f"({_cell_list(raw, lines, bad)}); "
                             "for class labels use task='classification'.")
        _check_finite(values, path, target, lines, raw)
        return values.astype(np.float32), task, class_names
    y, class_names = _class_ids(path, target, raw, values, class_names)
    return y, task, class_names


def _class_ids(path, target, raw, values, class_names):
    """Class ids of the labels (numeric ``values`` named and ordered by value, else the text ``raw``)
    and the class names (``class_names`` when given: then an unknown label is an error)."""
    if values is not None:
        distinct, inverse = np.unique(values, return_inverse=True)
        found = [_label_name(v) for v in distinct]
    else:
        distinct, inverse = np.unique(raw, return_inverse=True)
        found = distinct.tolist()
    if class_names is None:
        if len(found) < 2:
            raise ValueError(f"{path}: the target {target!r} has a single class {found}; "
                             "classification needs at least two.")
        class_names = found
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(found) - set(index))
    if unknown:
        raise ValueError(f"{path}: the target {target!r} has classes {unknown[:5]} that the model does not "
                         f"know; its classes are {class_names}.")
    # one lookup per distinct label, then a gather for the rows
    return np.array([index[name] for name in found], dtype=np.int64)[inverse.reshape(-1)], class_names
