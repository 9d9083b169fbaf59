import numpy as np
import pytest

from deepgrad.datasets import load_digits, train_test_split


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
