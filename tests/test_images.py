import numpy as np
import pytest

import deepgrad as dg
from deepgrad.datasets.images import image_dataset_from_csv, image_dataset_from_directory, load_image
from deepgrad.layers import Dense, Flatten, Input, Rescaling
from deepgrad.models import Sequential
from deepgrad.utils import PyDataset

Image = pytest.importorskip("PIL.Image", reason="reading image files needs Pillow (the 'image' extra)")

CLASSES = ("cat", "dog", "frog")


def _pixels(value, size=(6, 5)):
    """An RGB image whose red channel holds ``value`` everywhere (the class is readable back)."""
    array = np.zeros(size + (3,), np.uint8)
    array[..., 0] = value
    array[..., 1] = np.arange(size[1], dtype=np.uint8) * 10
    return array


def _write_folders(root, per_class=4):
    for c, name in enumerate(CLASSES):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            suffix = ".png" if i % 2 == 0 else ".jpg"
            Image.fromarray(_pixels(40 * c + i)).save(folder / f"img{i}{suffix}")
    (root / "cat" / "notes.txt").write_text("not an image, and not an image extension: skipped")
    return root


def _all(dataset):
    images, labels = zip(*(dataset[i] for i in range(len(dataset))))
    return np.concatenate(images), np.concatenate(labels)


def test_directory_gives_keras_batches_with_inferred_labels(tmp_path, capsys):
    root = _write_folders(tmp_path / "data")
    dataset = image_dataset_from_directory(root, image_size=(6, 5), batch_size=5, shuffle=False)
    assert "Found 12 files belonging to 3 classes." in capsys.readouterr().out
    assert isinstance(dataset, PyDataset) and dataset.class_names == list(CLASSES)
    assert len(dataset) == 3
    images, labels = dataset[0]
    assert images.shape == (5, 6, 5, 3) and images.dtype == np.float32 and labels.dtype == np.int32
    images, labels = _all(dataset)
    np.testing.assert_array_equal(labels, np.repeat([0, 1, 2], 4))
    png = images[:, :, :, 0][::2]  # lossless files: the red channel is 40 class + index exactly
    np.testing.assert_array_equal(png[:, 0, 0], [0, 2, 40, 42, 80, 82])
    np.testing.assert_allclose(images[:, 0, :, 1][0], np.arange(5) * 10)


def test_label_modes_color_modes_resizing_and_unbatched(tmp_path):
    root = _write_folders(tmp_path / "data")
    one_hot = image_dataset_from_directory(root, label_mode="categorical", color_mode="grayscale",
                                           image_size=(3, 4), shuffle=False, verbose=False)
    images, labels = one_hot[0]
    assert images.shape == (12, 3, 4, 1) and labels.shape == (12, 3) and labels.dtype == np.float32
    np.testing.assert_array_equal(labels.argmax(axis=1), np.repeat([0, 1, 2], 4))
    rgba = image_dataset_from_directory(root, label_mode=None, color_mode="rgba", image_size=(6, 5),
                                        batch_size=None, shuffle=False, verbose=False)
    assert rgba[0].shape == (6, 5, 4) and len(rgba) == 12
    binary = image_dataset_from_directory(root, class_names=["dog", "cat"], label_mode="binary",
                                          image_size=(6, 5), verbose=False, seed=1, shuffle=False)
    images, labels = binary[0]
    assert binary.class_names == ["dog", "cat"] and labels.shape == (8, 1)
    np.testing.assert_array_equal(labels[:, 0], [0] * 4 + [1] * 4)  # dog first, as class_names says
    first = image_dataset_from_directory(root, image_size=(6, 5), data_format="channels_first",
                                         shuffle=False, verbose=False)
    assert first[0][0].shape == (12, 3, 6, 5)


def test_binary_needs_two_classes_and_bad_options_are_named(tmp_path):
    root = _write_folders(tmp_path / "data")
    with pytest.raises(ValueError, match="exactly 2 classes"):
        image_dataset_from_directory(root, label_mode="binary", verbose=False)
    with pytest.raises(ValueError, match="color_mode"):
        image_dataset_from_directory(root, color_mode="cmyk")
    with pytest.raises(ValueError, match="needs a seed"):
        image_dataset_from_directory(root, validation_split=0.25, subset="training")
    with pytest.raises(ValueError, match="subset needs validation_split"):
        image_dataset_from_directory(root, subset="training")
    with pytest.raises(ValueError, match=r"no sub-folder .* for \['bird'\]"):
        image_dataset_from_directory(root, class_names=["cat", "bird"])
    with pytest.raises(ValueError, match="labels has 2 entries"):
        image_dataset_from_directory(root, labels=[0, 1])


def test_explicit_labels_follow_the_alphanumeric_order_of_files(tmp_path):
    root = _write_folders(tmp_path / "data")
    labels = list(range(12))
    labels = [i % 2 for i in labels]
    dataset = image_dataset_from_directory(root, labels=labels, image_size=(6, 5), shuffle=False, verbose=False)
    assert dataset.file_paths[0].endswith("img0.png") and dataset.file_paths[1].endswith("img1.jpg")
    np.testing.assert_array_equal(dataset[0][1], labels)


def test_validation_split_is_disjoint_repeatable_and_shuffles_each_epoch(tmp_path):
    root = _write_folders(tmp_path / "data", per_class=5)
    train, val = image_dataset_from_directory(root, image_size=(6, 5), seed=7, validation_split=0.2,
                                              subset="both", batch_size=4, verbose=False)
    assert len(train.file_paths) == 12 and len(val.file_paths) == 3
    assert not set(train.file_paths) & set(val.file_paths)
    again = image_dataset_from_directory(root, image_size=(6, 5), seed=7, validation_split=0.2,
                                         subset="validation", verbose=False)
    assert again.file_paths == val.file_paths
    first = _all(train)[1]
    train.on_epoch_end()
    second = _all(train)[1]
    assert sorted(first) == sorted(second) and not np.array_equal(first, second)


def test_a_file_that_is_not_an_image_is_named(tmp_path):
    root = _write_folders(tmp_path / "data")
    bad = root / "dog" / "broken.png"
    bad.write_bytes(b"this is text pretending to be a PNG")
    dataset = image_dataset_from_directory(root, image_size=(6, 5), shuffle=False, verbose=False)
    with pytest.raises(ValueError, match="broken.png is not an image"):
        _all(dataset)
    with pytest.raises(ValueError, match="broken.png"):
        load_image(bad)


def test_fit_trains_on_a_directory_dataset(tmp_path):
    dg.manual_seed(0)
    root = _write_folders(tmp_path / "data")
    dataset = image_dataset_from_directory(root, image_size=(6, 5), batch_size=4, seed=0, verbose=False)
    model = Sequential([Input(shape=(6, 5, 3)), Rescaling(1 / 255), Flatten(), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(dataset, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    assert model.predict(dataset, verbose=0).shape == (12, 3)


def test_csv_of_ids_and_label_names(tmp_path):
    folder = tmp_path / "train"
    folder.mkdir()
    names = ["Trouser", "Bag", "Trouser", "Coat", "Bag"]
    for i in range(5):
        Image.fromarray(_pixels(10 * i)[..., 0]).save(folder / f"{i}.png")
    (tmp_path / "train.csv").write_text("id,label\n" + "".join(f"{i},{n}\n" for i, n in enumerate(names)))
    dataset = image_dataset_from_csv(tmp_path / "train.csv", image_dir=folder, color_mode="grayscale",
                                     image_size=(6, 5), shuffle=False, verbose=False)
    assert dataset.class_names == ["Bag", "Coat", "Trouser"]
    images, labels = dataset.to_arrays()
    np.testing.assert_array_equal(labels, [2, 0, 2, 1, 0])
    np.testing.assert_array_equal(images[:, 0, 0, 0], [0, 10, 20, 30, 40])
    kept = image_dataset_from_csv(tmp_path / "train.csv", image_dir=folder, extension=".png",
                                  class_names=["Trouser", "Bag", "Coat"], image_size=(6, 5), shuffle=False,
                                  verbose=False)
    np.testing.assert_array_equal(kept.to_arrays()[1], [0, 1, 0, 2, 1])
    numeric = tmp_path / "numbers.csv"
    numeric.write_text("id,label\n0,10\n1,2\n2,2\n")
    assert image_dataset_from_csv(numeric, image_dir=folder, image_size=(6, 5), verbose=False).class_names == \
        ["2", "10"]
    (tmp_path / "test.csv").write_text("id\n3\n4\n")
    unlabelled = image_dataset_from_csv(tmp_path / "test.csv", image_dir=folder, image_size=(6, 5),
                                        shuffle=False, verbose=False)
    assert unlabelled.to_arrays().shape == (2, 6, 5, 3)


def test_csv_errors_name_the_missing_file_and_column(tmp_path):
    (tmp_path / "a.csv").write_text("id,label\n9,Bag\n")
    with pytest.raises(FileNotFoundError, match="'9'"):
        image_dataset_from_csv(tmp_path / "a.csv", verbose=False)
    with pytest.raises(ValueError, match="no 'image' column"):
        image_dataset_from_csv(tmp_path / "a.csv", id_column="image", verbose=False)
