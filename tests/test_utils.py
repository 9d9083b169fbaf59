"""keras.utils: pad_sequences, to_categorical, timeseries_dataset_from_array, split_dataset, set_random_seed."""

import random

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.layers import Dense, Flatten
from deepgrad.models import Sequential
from deepgrad.utils import (
    PyDataset,
    pad_sequences,
    set_random_seed,
    split_dataset,
    timeseries_dataset_from_array,
    to_categorical,
)

KERAS_SEQUENCES = [[1], [2, 3], [4, 5, 6]]


# --------------------------------------------------------------------------- pad_sequences


def test_pad_sequences_matches_the_keras_documented_examples():
    out = pad_sequences(KERAS_SEQUENCES)
    assert out.dtype == np.int32 and out.tolist() == [[0, 0, 1], [0, 2, 3], [4, 5, 6]]
    assert pad_sequences(KERAS_SEQUENCES, value=-1).tolist() == [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]
    assert pad_sequences(KERAS_SEQUENCES, padding="post").tolist() == [[1, 0, 0], [2, 3, 0], [4, 5, 6]]
    assert pad_sequences(KERAS_SEQUENCES, maxlen=2).tolist() == [[0, 1], [2, 3], [5, 6]]


def test_pad_sequences_truncation_padding_value_and_dtype():
    seqs = [[1, 2, 3, 4], [5]]
    assert pad_sequences(seqs, maxlen=2, truncating="post").tolist() == [[1, 2], [0, 5]]
    assert pad_sequences(seqs, maxlen=3, truncating="pre", padding="post").tolist() == [[2, 3, 4], [5, 0, 0]]
    assert pad_sequences(seqs, maxlen=6).tolist() == [[0, 0, 1, 2, 3, 4], [0, 0, 0, 0, 0, 5]]
    floats = pad_sequences([[0.5, 1.5], [2.25]], dtype="float32", value=-1.0)
    assert floats.dtype == np.float32 and floats.tolist() == [[0.5, 1.5], [-1.0, 2.25]]
    # the default int32 casts floats as Keras does
    assert pad_sequences([[0.7, 1.2]]).tolist() == [[0, 1]]
    words = pad_sequences([["a", "b"], ["c"]], dtype=object, value="<pad>")
    assert words.tolist() == [["a", "b"], ["<pad>", "c"]]
    with pytest.raises(ValueError, match="dtype=object for variable length strings"):
        pad_sequences([["a"]], value="<pad>")


def test_pad_sequences_edge_cases_empty_ragged_and_steps_with_features():
    assert pad_sequences([[], [1, 2]]).tolist() == [[0, 0], [1, 2]]
    assert pad_sequences([[], []]).shape == (2, 0)
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences([[1, 2, 3]], maxlen=0).shape == (1, 0)
    ragged = [np.arange(n) for n in (5, 1, 3)]  # arrays and generators of lengths work too
    assert pad_sequences(ragged, maxlen=3).tolist() == [[2, 3, 4], [0, 0, 0], [0, 1, 2]]
    steps = pad_sequences([[[1, 1]], [[2, 2], [3, 3]]], dtype="float32")
    assert steps.shape == (2, 2, 2) and steps[0].tolist() == [[0, 0], [1, 1]]
    with pytest.raises(ValueError, match="steps of sequence 1 have shape"):
        pad_sequences([[[1, 1]], [[2, 2, 2]]])
    with pytest.raises(ValueError, match="element 1 is 7"):
        pad_sequences([[1], 7])
    with pytest.raises(ValueError, match="padding='middle' is not understood"):
        pad_sequences(KERAS_SEQUENCES, padding="middle")
    with pytest.raises(ValueError, match="truncating='both'"):
        pad_sequences(KERAS_SEQUENCES, truncating="both")
    with pytest.raises(ValueError, match="maxlen must be a non-negative integer"):
        pad_sequences(KERAS_SEQUENCES, maxlen=-1)


# --------------------------------------------------------------------------- to_categorical


def test_to_categorical_matches_the_keras_documented_example_and_shapes():
    out = to_categorical([0, 1, 2, 3], num_classes=4)
    assert out.dtype == np.float64 and np.array_equal(out, np.eye(4))
    assert to_categorical([2, 0]).tolist() == [[0, 0, 1], [1, 0, 0]]
    # a trailing axis of size 1 is dropped, other shapes are kept
    assert to_categorical(np.array([[1], [0]])).shape == (2, 2)
    grid = to_categorical(np.array([[0, 2], [1, 1]]), num_classes=3)
    assert grid.shape == (2, 2, 3) and grid[0, 1].tolist() == [0, 0, 1]
    assert to_categorical(np.array([1.0, 0.0])).tolist() == [[0, 1], [1, 0]]
    assert to_categorical([], num_classes=3).shape == (0, 3)


def test_to_categorical_rejects_ids_out_of_range_and_non_integers():
    with pytest.raises(ValueError, match=r"class ids span -1\.\.1, outside 0\.\.2"):
        to_categorical([-1, 1], num_classes=3)
    with pytest.raises(ValueError, match="outside 0..1 for num_classes=2"):
        to_categorical([0, 2], num_classes=2)
    with pytest.raises(ValueError, match="integer class ids"):
        to_categorical([0.5])


# --------------------------------------------------------------------------- timeseries windows


def test_timeseries_windows_match_the_keras_documented_example_1():
    dataset = timeseries_dataset_from_array(np.arange(99), None, sequence_length=10, sampling_rate=2,
                                            sequence_stride=3, batch_size=128)
    assert isinstance(dataset, PyDataset) and len(dataset) == 1
    windows = dataset[0]
    assert windows[0].tolist() == list(range(0, 20, 2))
    assert windows[1].tolist() == list(range(3, 23, 2))
    assert windows[2].tolist() == list(range(6, 26, 2))
    assert windows[-1].tolist() == list(range(78, 98, 2))  # the next window (start 81) would pass step 98
    assert len(windows) == 27


def test_timeseries_regression_and_many_to_many_examples():
    data = np.arange(100.0)
    inputs, targets = next(iter(timeseries_dataset_from_array(data[:-10], data[10:], sequence_length=10)))
    assert np.array_equal(inputs[0], data[:10]) and targets[0] == data[10]
    assert inputs.shape == (81, 10) and np.array_equal(targets, data[10:91])
    x, y = np.arange(100), np.arange(100) * 2
    x_windows = timeseries_dataset_from_array(x, None, sequence_length=20, sequence_stride=20)
    y_windows = timeseries_dataset_from_array(y, None, sequence_length=20, sequence_stride=20)
    for inputs, outputs in zip(x_windows, y_windows):
        assert np.array_equal(inputs[0], x[:20]) and np.array_equal(outputs[1], y[20:40])
    # batches, start/end index, multivariate steps, one window per item
    series = np.arange(40).reshape(20, 2)
    dataset = timeseries_dataset_from_array(series, np.arange(20), sequence_length=3, batch_size=4,
                                            start_index=2, end_index=12)
    assert len(dataset) == 2 and [len(b[0]) for b in dataset] == [4, 4]
    first_x, first_y = dataset[0]
    assert first_x.shape == (4, 3, 2) and first_x[0, :, 0].tolist() == [4, 6, 8] and first_y.tolist() == [2, 3, 4, 5]
    assert dataset[-1][1].tolist() == [6, 7, 8, 9]
    one_x, one_y = timeseries_dataset_from_array(series, np.arange(20), sequence_length=3, batch_size=None)[5]
    assert one_x.shape == (3, 2) and one_y == 5


def test_timeseries_shuffle_is_seeded_and_covers_every_window():
    data = np.arange(50)
    first = timeseries_dataset_from_array(data, data, sequence_length=5, batch_size=8, shuffle=True, seed=3)
    second = timeseries_dataset_from_array(data, data, sequence_length=5, batch_size=8, shuffle=True, seed=3)
    starts = np.concatenate([b[1] for b in first])
    assert np.array_equal(starts, np.concatenate([b[1] for b in second]))
    assert not np.array_equal(starts, np.arange(46)) and sorted(starts) == list(range(46))
    for x, y in first:
        assert np.array_equal(x[:, 0], y)  # the target stays with its window
    first.on_epoch_end()
    assert sorted(np.concatenate([b[1] for b in first])) == list(range(46))


def test_timeseries_bad_arguments_are_named():
    with pytest.raises(ValueError, match="same number of time steps, got 10 and 9"):
        timeseries_dataset_from_array(np.zeros(10), np.zeros(9), sequence_length=2)
    with pytest.raises(ValueError, match="sequence_length must be a positive integer"):
        timeseries_dataset_from_array(np.zeros(10), None, sequence_length=0)
    with pytest.raises(ValueError, match="sampling_rate must be a positive integer"):
        timeseries_dataset_from_array(np.zeros(10), None, sequence_length=2, sampling_rate=0)
    with pytest.raises(ValueError, match="start_index < end_index"):
        timeseries_dataset_from_array(np.zeros(10), None, sequence_length=2, start_index=5, end_index=5)
    assert len(timeseries_dataset_from_array(np.zeros(3), None, sequence_length=5)) == 0


def test_timeseries_dataset_trains_through_fit():
    dg.backend.clear_session()
    dg.manual_seed(0)
    t = np.arange(400, dtype=np.float32)
    series = np.sin(0.3 * t)[:, None]
    dataset = timeseries_dataset_from_array(series[:-8], series[8:, 0], sequence_length=8, batch_size=32)
    model = Sequential([Flatten(input_shape=(8, 1)), Dense(16, activation="tanh"), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(dataset, epochs=15, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.1 * losses[0]
    predictions = model.predict(dataset, verbose=0)
    assert predictions.shape == (392 - 7, 1)


# --------------------------------------------------------------------------- split and seed


def test_split_dataset_sizes_structure_and_shuffle():
    x, y = np.arange(10).reshape(10, 1), np.arange(10)
    (x_left, y_left), (x_right, y_right) = split_dataset((x, y), left_size=0.8)
    assert y_left.tolist() == list(range(8)) and y_right.tolist() == [8, 9] and x_right.shape == (2, 1)
    left, right = split_dataset(y, right_size=3)
    assert len(left) == 7 and right.tolist() == [7, 8, 9]
    left, right = split_dataset(y, left_size=2, right_size=3)
    assert left.tolist() == [0, 1] and right.tolist() == [2, 3, 4]
    (_, shuffled), _ = split_dataset([x, y], left_size=5, shuffle=True, seed=1)
    (_, again), _ = split_dataset([x, y], left_size=5, shuffle=True, seed=1)
    assert np.array_equal(shuffled, again) and shuffled.tolist() != [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="give left_size, right_size or both"):
        split_dataset(y)
    with pytest.raises(ValueError, match="exceeds the 10 samples"):
        split_dataset(y, left_size=6, right_size=5)
    with pytest.raises(ValueError, match="different lengths"):
        split_dataset((x, y[:3]), left_size=0.5)


def test_set_random_seed_seeds_python_numpy_and_deepgrad():
    set_random_seed(11)
    draws = (random.random(), np.random.rand(), dg.backend.new_generator().random())
    set_random_seed(11)
    assert draws == (random.random(), np.random.rand(), dg.backend.new_generator().random())
