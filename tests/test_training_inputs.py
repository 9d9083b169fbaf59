"""Training inputs that used to give silent or late results get clear errors, once per call."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.layers import Dense
from deepgrad.models import Sequential

RNG = np.random.default_rng(5)
X = RNG.normal(size=(40, 3)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int64)


@pytest.fixture(autouse=True)
def seeded():
    dg.manual_seed(0)


def classifier():
    model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def regressor():
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.mark.parametrize("batch_size", [-1, 0, 2.5, True])
def test_a_batch_size_that_is_not_a_positive_integer_is_refused(batch_size):
    model = classifier()
    for call in (lambda: model.fit(X, Y, batch_size=batch_size, verbose=0),
                 lambda: model.evaluate(X, Y, batch_size=batch_size, verbose=0),
                 lambda: model.predict(X, batch_size=batch_size)):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            call()


def test_evaluate_and_fit_on_empty_arrays_are_refused():
    model = classifier()
    with pytest.raises(ValueError, match="no samples"):
        model.evaluate(X[:0], Y[:0], verbose=0)
    with pytest.raises(ValueError, match="no samples"):
        model.fit(X[:0], Y[:0], verbose=0)


@pytest.mark.parametrize("name,value", [("steps_per_epoch", -1), ("steps_per_epoch", 0),
                                        ("validation_freq", 0), ("validation_steps", -2)])
def test_step_counts_and_validation_freq_must_be_positive(name, value):
    with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
        classifier().fit(X, Y, validation_data=(X, Y), verbose=0, **{name: value})


@pytest.mark.parametrize("class_weight,error,match", [
    ({-1: 100.0}, ValueError, "negative class id -1"),
    ({}, ValueError, "class_weight is empty"),
    ({"cat": 2.0}, TypeError, "integer class ids"),
    ({0: float("nan")}, ValueError, "finite non-negative"),
    ([1.0, 2.0], TypeError, "must be a dict"),
])
def test_malformed_class_weights_are_refused(class_weight, error, match):
    with pytest.raises(error, match=match):
        classifier().fit(X, Y, class_weight=class_weight, verbose=0)


def test_class_weight_on_a_regression_target_is_refused():
    y = X[:, 0] * 0.7
    with pytest.raises(ValueError, match="non-integer values .* regression target"):
        regressor().fit(X, y, class_weight={0: 1.0, 1: 2.0}, verbose=0)


def test_class_weight_still_weighs_the_named_classes():
    plain, weighted = classifier(), classifier()
    weighted.set_weights(plain.get_weights())
    plain.fit(X, Y, sample_weight=np.where(Y == 1, 3.0, 1.0), shuffle=False, verbose=0)
    weighted.fit(X, Y, class_weight={1: 3.0}, shuffle=False, verbose=0)
    for a, b in zip(plain.get_weights(), weighted.get_weights()):
        assert np.allclose(a, b)


def test_non_finite_inputs_are_reported_with_their_count_and_first_index():
    x = X.copy()
    x[7, 2] = np.nan
    x[9, 0] = np.inf
    with pytest.raises(ValueError, match=r"x holds 2 non-finite value\(s\).*index \(7, 2\) \(sample 7\)"):
        classifier().fit(x, Y, verbose=0)
    with pytest.raises(ValueError, match="non-finite"):
        classifier().evaluate(x, Y, verbose=0)


def test_non_finite_targets_and_validation_data_are_reported():
    y = X[:, 0].copy()
    y[3] = -np.inf
    with pytest.raises(ValueError, match=r"y holds 1 non-finite value\(s\).*sample 3"):
        regressor().fit(X, y, verbose=0)
    x_val = X.copy()
    x_val[0, 0] = np.nan
    with pytest.raises(ValueError, match="x holds 1 non-finite"):
        classifier().fit(X, Y, validation_data=(x_val, Y), verbose=0)


def test_float64_values_beyond_float32_range_count_as_non_finite():
    x = X.astype(np.float64)
    x[4, 1] = 1e300
    with pytest.raises(ValueError, match=r"1 non-finite value\(s\) \(NaN, Inf, or beyond float32's range\).*sample 4"):
        classifier().fit(x, Y, verbose=0)


def test_finite_values_whose_row_sums_overflow_are_accepted_and_nan_in_a_wide_array_is_found():
    from deepgrad.models.training import check_finite

    check_finite(np.full((4, 3), 3e38, np.float32), "x")  # each value fits float32; only the sums overflow
    wide = np.zeros((3, 2, 5), np.float32)
    wide[2, 1, 4] = np.nan
    with pytest.raises(ValueError, match=r"1 non-finite value\(s\).*index \(2, 1, 4\)"):
        check_finite(wide, "x")
