"""Images from files: a folder per class (Keras' ``image_dataset_from_directory``) or a CSV of ids and labels.

Both give an :class:`ImageDataset`, a :class:`deepgrad.utils.PyDataset` that ``fit``,
``evaluate`` and ``predict`` accept: batches ``(images, labels)`` with images float32
of shape (batch, height, width, channels) and pixel values 0..255 (not rescaled, as in
Keras; put a ``Rescaling(1/255)`` layer in the model), decoded and resized with Pillow
(the ``image`` extra: ``pip install 'deepgrad[image]'``) when the batch is asked for.
"""

from __future__ import annotations

import csv
import math
import os

import numpy as np

from ..backend import new_generator
from ..utils import PyDataset

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # the formats Keras lists
_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
_PILLOW_MODES = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}
_LABEL_MODES = ("int", "categorical", "binary", None)
# Keras' interpolation names and the Pillow filters closest to them
_RESAMPLING = {"bilinear": "BILINEAR", "nearest": "NEAREST", "bicubic": "BICUBIC", "area": "BOX",
               "lanczos3": "LANCZOS", "lanczos5": "LANCZOS", "hamming": "HAMMING"}


def _pillow():
    try:
        from PIL import Image  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise ImportError("reading image files needs Pillow: pip install 'deepgrad[image]' (or pip install pillow).") \
            from None
    return Image


def load_image(path, color_mode="rgb", image_size=None, interpolation="bilinear"):
    """One image file as a float32 array (height, width, channels) of pixel values 0..255.

    ``color_mode`` is ``'grayscale'`` (1 channel), ``'rgb'`` (3) or ``'rgba'`` (4);
    ``image_size=(height, width)`` resizes with ``interpolation``. A file Pillow cannot
    decode is a ``ValueError`` naming it.
    """
    image_module = _pillow()
    try:
        with image_module.open(path) as image:
            image = image.convert(_PILLOW_MODES[color_mode])
            if image_size is not None and (image.height, image.width) != tuple(image_size):
                resample = getattr(image_module.Resampling, _RESAMPLING[interpolation])
                image = image.resize((image_size[1], image_size[0]), resample=resample)
            array = np.asarray(image, dtype=np.float32)
    except (image_module.UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{path} is not an image file Pillow can read ({err}); remove it from the folder "
                         f"or convert it to one of {', '.join(IMAGE_EXTENSIONS)}.") from None
    return array[..., None] if array.ndim == 2 else array


class ImageDataset(PyDataset):
    """Image files and their labels, read batch by batch (a ``PyDataset``).

    ``dataset[i]`` is batch i: ``(images, labels)``, or ``images`` alone when
    ``label_mode`` is None; with ``batch_size=None`` it is sample i. ``class_names``
    names the class indices, ``file_paths`` lists the files in dataset order. With
    ``shuffle`` the order is redrawn at the end of every epoch (from ``seed``).
    :meth:`to_arrays` loads everything at once.
    """

    def __init__(self, file_paths, labels=None, class_names=None, label_mode="int", color_mode="rgb",
                 batch_size=32, image_size=(256, 256), shuffle=False, seed=None, interpolation="bilinear",
                 data_format=None):
        super().__init__()
        self.file_paths = list(file_paths)
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.class_names = None if class_names is None else list(class_names)
        self.label_mode = label_mode
        self.color_mode = color_mode
        self.batch_size = batch_size
        self.image_size = tuple(image_size)
        self.interpolation = interpolation
        self.data_format = data_format or "channels_last"
        self.shuffle = shuffle
        self._rng = new_generator(seed)
        self._order = np.arange(len(self.file_paths))
        if shuffle:
            self._order = self._rng.permutation(len(self.file_paths))

    def __len__(self):
        if self.batch_size is None:
            return len(self.file_paths)
        return math.ceil(len(self.file_paths) / self.batch_size)

    def _encode(self, labels):
        if self.label_mode == "int":
            return labels.astype(np.int32)
        if self.label_mode == "binary":
            return labels.astype(np.float32).reshape(-1, 1)
        return np.eye(len(self.class_names), dtype=np.float32)[labels]

    def _batch(self, indices):
        images = np.stack([load_image(self.file_paths[i], self.color_mode, self.image_size, self.interpolation)
                           for i in indices])
        if self.data_format == "channels_first":
            images = images.transpose(0, 3, 1, 2)
        if self.label_mode is None:
            return images
        return images, self._encode(self.labels[indices])

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches.")
        if self.batch_size is None:
            item = self._batch(self._order[index:index + 1])
            return tuple(part[0] for part in item) if isinstance(item, tuple) else item[0]
        return self._batch(self._order[index * self.batch_size:(index + 1) * self.batch_size])

    def on_epoch_end(self):
        if self.shuffle:
            self._order = self._rng.permutation(len(self.file_paths))

    def to_arrays(self):
        """Every image (and label) at once, in dataset order: ``images`` or ``(images, labels)``."""
        return self._batch(self._order)


def _check_options(label_mode, color_mode, batch_size, image_size, interpolation, data_format):
    if label_mode not in _LABEL_MODES:
        raise ValueError(f"label_mode must be one of {list(_LABEL_MODES)}, got label_mode={label_mode!r}.")
    if color_mode not in _CHANNELS:
        raise ValueError(f"color_mode must be one of {list(_CHANNELS)}, got color_mode={color_mode!r}.")
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got batch_size={batch_size!r}.")
    if (not isinstance(image_size, (list, tuple)) or len(image_size) != 2
            or not all(isinstance(s, (int, np.integer)) and s > 0 for s in image_size)):
        raise ValueError(f"image_size must be (height, width) of positive integers, got image_size={image_size!r}.")
    if interpolation not in _RESAMPLING:
        raise ValueError(f"interpolation must be one of {list(_RESAMPLING)}, got interpolation={interpolation!r}.")
    if data_format not in (None, "channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {data_format!r}.")


def _image_files(folder, follow_links):
    """The image files under ``folder`` (recursively), in alphanumeric order of their paths."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=follow_links):
        dirs.sort()
        found.extend(os.path.join(root, f) for f in sorted(files) if f.lower().endswith(IMAGE_EXTENSIONS))
    return found


def _index_directory(directory, labels, class_names, follow_links):
    """(file paths, integer labels or None, class names) as Keras indexes a folder."""
    if labels == "inferred":
        folders = sorted(d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
        if class_names is not None:
            missing = sorted(set(class_names) - set(folders))
            if missing:
                raise ValueError(f"class_names {list(class_names)} name no sub-folder of {directory} for {missing}; "
                                 f"its sub-folders are {folders}.")
            folders = list(class_names)
        paths, indices = [], []
        for index, name in enumerate(folders):
            files = _image_files(os.path.join(directory, name), follow_links)
            paths += files
            indices += [index] * len(files)
        return paths, np.asarray(indices, dtype=np.int64), folders
    if class_names is not None:
        raise ValueError("class_names can only be given with labels='inferred'.")
    paths = _image_files(directory, follow_links)
    if labels is None:
        return paths, None, None
    if not isinstance(labels, (list, tuple, np.ndarray)):
        raise ValueError(f"labels must be 'inferred', None or a list of integer labels, got labels={labels!r}.")
    if len(labels) != len(paths):
        raise ValueError(f"labels has {len(labels)} entries but {directory} holds {len(paths)} image files; "
                         "give one label per file, in the alphanumeric order of their paths.")
    labels = np.asarray(labels, dtype=np.int64)
    return paths, labels, [str(c) for c in range(int(labels.max()) + 1 if len(labels) else 0)]


def _split(paths, labels, validation_split, subset, shuffle, seed):
    """Keras' split: the (shuffled) file list's last ``int(validation_split * n)`` files are the validation part."""
    if validation_split is None:
        if subset is not None:
            raise ValueError("subset needs validation_split (e.g. validation_split=0.2).")
        return [(paths, labels)]
    if not isinstance(validation_split, float) or not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be a float in (0, 1), got {validation_split!r}.")
    if subset not in ("training", "validation", "both"):
        raise ValueError(f"subset must be 'training', 'validation' or 'both' with validation_split, got {subset!r}.")
    if shuffle and seed is None:
        raise ValueError("validation_split with shuffle=True needs a seed, so that the training and "
                         "validation subsets do not overlap.")
    n_val = int(validation_split * len(paths))
    cut = len(paths) - n_val
    parts = {"training": (paths[:cut], None if labels is None else labels[:cut]),
             "validation": (paths[cut:], None if labels is None else labels[cut:])}
    return [parts["training"], parts["validation"]] if subset == "both" else [parts[subset]]


def _datasets(paths, labels, class_names, options, validation_split, subset, verbose):
    """The ImageDataset(s) of one file list, shuffled and split as Keras does."""
    shuffle, seed, label_mode = options["shuffle"], options["seed"], options["label_mode"]
    if label_mode == "binary" and (class_names is None or len(class_names) != 2):
        raise ValueError(f"label_mode='binary' needs exactly 2 classes, got class_names={class_names}.")
    if not paths:
        raise ValueError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found.")
    if shuffle:  # one fixed order first, so that the split is the same in every call with this seed
        order = new_generator(seed).permutation(len(paths))
        paths = [paths[i] for i in order]
        labels = None if labels is None else labels[order]
    if verbose:
        classes = f" belonging to {len(class_names)} classes" if class_names is not None else ""
        print(f"Found {len(paths)} files{classes}.")
    parts = _split(paths, labels, validation_split, subset, shuffle, seed)
    kinds = ["training", "validation"] if subset == "both" else [subset]
    datasets = []
    for (part_paths, part_labels), kind in zip(parts, kinds):
        if verbose and validation_split is not None:
            print(f"Using {len(part_paths)} files for {kind}.")
        datasets.append(ImageDataset(part_paths, part_labels, class_names, **options))
    return datasets if subset == "both" else datasets[0]


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 color_mode="rgb", batch_size=32, image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear", follow_links=False,
                                 data_format=None, verbose=True):
    """An :class:`ImageDataset` of the images in ``directory`` (Keras 3's ``image_dataset_from_directory``).

    With ``labels='inferred'`` each sub-folder is a class (class index = position of
    its name in ``class_names``, alphanumeric by default; given ``class_names``, only
    the sub-folders they name are read) and its image files
    (``.bmp .gif .jpeg .jpg .png``, searched recursively) are the samples. ``labels``
    may instead be a list of integer labels, one per file of ``directory`` in the
    alphanumeric order of their paths, or None (images only). ``label_mode``: ``'int'``
    (int32 labels), ``'categorical'`` (one-hot float32), ``'binary'`` (float32 0/1,
    shape (batch, 1); two classes) or None. ``color_mode``: ``'grayscale'``, ``'rgb'``,
    ``'rgba'``. Images are resized to ``image_size`` (height, width) with
    ``interpolation`` (Pillow's filter of that name; Pillow antialiases when shrinking).
    ``shuffle`` fixes a random file order from ``seed`` and redraws the batch order every
    epoch. ``validation_split`` keeps the last fraction of that order for validation;
    ``subset`` picks ``'training'``, ``'validation'`` or ``'both'`` (a list of the two).
    """
    if not os.path.isdir(directory):
        raise ValueError(f"{directory} is not a folder (expected one sub-folder of images per class).")
    _check_options(label_mode, color_mode, batch_size, image_size, interpolation, data_format)
    if labels is None:
        label_mode = None
    paths, indices, names = _index_directory(os.fspath(directory), labels, class_names, follow_links)
    options = {"label_mode": label_mode, "color_mode": color_mode, "batch_size": batch_size,
               "image_size": tuple(image_size), "shuffle": shuffle, "seed": seed,
               "interpolation": interpolation, "data_format": data_format}
    return _datasets(paths, indices, names, options, validation_split, subset, verbose)


def _class_order(names):
    """Label names sorted as numbers when they all are (``'2' < '10'``), else alphanumerically."""
    try:
        return sorted(names, key=float)
    except ValueError:
        return sorted(names)


def _resolve(image_dir, identifier, extension):
    """The file of one image id: ``image_dir/id``, or with ``extension`` / one of the image extensions added."""
    base = os.path.join(image_dir, identifier)
    candidates = [base + extension] if extension else [base] + [base + e for e in IMAGE_EXTENSIONS]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"no image file for id {identifier!r}: tried {', '.join(candidates)}.")


def image_dataset_from_csv(csv_file, image_dir=None, id_column="id", label_column="label", class_names=None,
                           extension=None, label_mode="int", color_mode="rgb", batch_size=32,
                           image_size=(256, 256), shuffle=True, seed=None, validation_split=None, subset=None,
                           interpolation="bilinear", data_format=None, verbose=True):
    """An :class:`ImageDataset` of the images a CSV lists: one row per image, an id column and a label column.

    The course's apparel data comes this way: a folder of images (``image_dir``, by
    default the CSV's folder) and a CSV such as ``id,label`` where the file of id ``7``
    is ``image_dir/7`` or ``7`` plus ``extension`` (by default the first of
    ``.bmp .gif .jpeg .jpg .png`` that exists). Label names map to class indices in
    the order of ``class_names`` (default: the distinct names, numerically sorted when
    they are all numbers, else alphanumerically), kept as ``dataset.class_names``.
    ``label_column=None`` (or a CSV without it) gives images only. The other arguments
    are those of :func:`image_dataset_from_directory`.
    """
    _check_options(label_mode, color_mode, batch_size, image_size, interpolation, data_format)
    csv_file = os.fspath(csv_file)
    image_dir = os.path.dirname(csv_file) if image_dir is None else os.fspath(image_dir)
    with open(csv_file, newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    columns = list(rows[0]) if rows else []
    if id_column not in columns:
        raise ValueError(f"{csv_file} has no {id_column!r} column (columns: {columns}); pass id_column=.")
    if label_column is not None and label_column not in columns:
        if class_names is not None:
            raise ValueError(f"{csv_file} has no {label_column!r} column (columns: {columns}); pass label_column=.")
        label_column = None
    paths = [_resolve(image_dir, row[id_column].strip(), extension) for row in rows]
    labels = names = None
    if label_column is None:
        label_mode = None
    else:
        raw = [row[label_column].strip() for row in rows]
        names = [str(c) for c in class_names] if class_names is not None else _class_order(set(raw))
        position = {name: i for i, name in enumerate(names)}
        unknown = sorted(set(raw) - set(position))
        if unknown:
            raise ValueError(f"{csv_file}: labels {unknown[:5]} are not in class_names {names}.")
        labels = np.asarray([position[r] for r in raw], dtype=np.int64)
    options = {"label_mode": label_mode, "color_mode": color_mode, "batch_size": batch_size,
               "image_size": tuple(image_size), "shuffle": shuffle, "seed": seed,
               "interpolation": interpolation, "data_format": data_format}
    return _datasets(paths, labels, names, options, validation_split, subset, verbose)


__all__ = ["IMAGE_EXTENSIONS", "ImageDataset", "image_dataset_from_csv", "image_dataset_from_directory",
           "load_image"]
