"""Initializers: the course's variance table checked statistically, Keras' fan rules,
seeding, and get/serialize/config round trips."""

import math

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import initializers

FAN_IN, FAN_OUT = 300, 200
SHAPE = (FAN_IN, FAN_OUT)  # 60,000 draws: sample variances within about 1% of the truth


@pytest.mark.parametrize("name, variance", [
    ("glorot_normal", 2 / (FAN_IN + FAN_OUT)),
    ("xavier_normal", 2 / (FAN_IN + FAN_OUT)),
    ("he_normal", 2 / FAN_IN),
    ("lecun_normal", 1 / FAN_IN),
    ("glorot_uniform", 2 / (FAN_IN + FAN_OUT)),
    ("xavier_uniform", 2 / (FAN_IN + FAN_OUT)),
    ("he_uniform", 2 / FAN_IN),
    ("lecun_uniform", 1 / FAN_IN),
])
def test_variance_table(name, variance):
    """Glorot 1/fan_avg, He 2/fan_in, LeCun 1/fan_in, for normal and uniform draws alike."""
    weights = initializers.get(name)(SHAPE)
    assert weights.shape == SHAPE and weights.dtype == np.float32
    assert abs(weights.mean()) < 4 * math.sqrt(variance / weights.size)
    assert abs(weights.var() / variance - 1) < 0.03


@pytest.mark.parametrize("name, limit", [
    ("glorot_uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ("he_uniform", math.sqrt(6 / FAN_IN)),
    ("lecun_uniform", math.sqrt(3 / FAN_IN)),
])
def test_uniform_limits(name, limit):
    """r = sqrt(3 sigma^2): the draws fill [-r, r] and never leave it."""
    weights = initializers.get(name)(SHAPE)
    assert np.abs(weights).max() <= limit
    assert weights.max() > 0.99 * limit and weights.min() < -0.99 * limit


def test_the_courses_limits_for_its_first_layer():
    """Dense(10, input_dim=2): He uniform limit sqrt(6/2), Xavier uniform limit sqrt(6/12)."""
    assert math.isclose(initializers.HeUniform().variance((2, 10)) * 3, 6 / 2)
    assert math.isclose(initializers.GlorotUniform().variance((2, 10)) * 3, 6 / 12)
    draws = np.concatenate([initializers.HeUniform()((2, 10)).ravel() for _ in range(300)])
    assert np.abs(draws).max() <= math.sqrt(3.0) and np.abs(draws).max() > 0.99 * math.sqrt(3.0)
    draws = np.concatenate([initializers.GlorotUniform()((2, 10)).ravel() for _ in range(300)])
    assert np.abs(draws).max() <= math.sqrt(0.5) and np.abs(draws).max() > 0.99 * math.sqrt(0.5)


@pytest.mark.parametrize("name", ["glorot_normal", "he_normal", "lecun_normal"])
def test_normal_schemes_are_truncated_at_two_standard_deviations(name):
    init = initializers.get(name)
    weights = init(SHAPE)
    stddev = math.sqrt(init.variance(SHAPE)) / 0.87962566103423978
    assert np.abs(weights).max() <= 2 * stddev


def test_variance_scaling_modes_and_distributions():
    for mode, n in [("fan_in", FAN_IN), ("fan_out", FAN_OUT), ("fan_avg", (FAN_IN + FAN_OUT) / 2)]:
        for distribution in ("truncated_normal", "untruncated_normal", "uniform"):
            weights = initializers.VarianceScaling(3.0, mode, distribution, seed=1)(SHAPE, dtype="float64")
            assert weights.dtype == np.float64
            assert abs(weights.var() / (3.0 / n) - 1) < 0.03, (mode, distribution)
    untruncated = initializers.VarianceScaling(distribution="untruncated_normal", seed=2)(SHAPE)
    assert np.abs(untruncated).max() > 3 * math.sqrt(1 / FAN_IN)
    assert initializers.VarianceScaling(distribution="normal").distribution == "truncated_normal"


def test_variance_scaling_rejects_bad_arguments():
    with pytest.raises(ValueError, match="scale > 0"):
        initializers.VarianceScaling(scale=0)
    with pytest.raises(ValueError, match="invalid mode 'fan_sum'"):
        initializers.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="invalid distribution 'cauchy'"):
        initializers.VarianceScaling(distribution="cauchy")


def test_keras_fan_rules():
    assert initializers.compute_fans(()) == (1, 1)
    assert initializers.compute_fans((7,)) == (7, 7)
    assert initializers.compute_fans((5, 3)) == (5, 3)
    assert initializers.compute_fans((3, 3, 16, 32)) == (144, 288)
    assert initializers.compute_fans((5, 8, 4)) == (40, 20)
    conv = initializers.HeNormal(seed=0)((3, 3, 64, 64))
    assert abs(conv.var() / (2 / 576) - 1) < 0.05


def test_random_normal_uniform_and_truncated_defaults():
    normal = initializers.RandomNormal(seed=3)(SHAPE)
    assert abs(normal.std() / 0.05 - 1) < 0.02 and abs(normal.mean()) < 1e-3
    uniform = initializers.RandomUniform(seed=3)(SHAPE)
    assert uniform.min() >= -0.05 and uniform.max() < 0.05 and abs(uniform.var() / (0.1 ** 2 / 12) - 1) < 0.03
    truncated = initializers.TruncatedNormal(mean=1.0, stddev=0.5, seed=3)(SHAPE)
    assert np.abs(truncated - 1.0).max() <= 1.0
    assert abs(truncated.var() / (0.25 * 0.87962566103423978 ** 2) - 1) < 0.03
    shifted = initializers.RandomNormal(mean=2.0, stddev=3.0, seed=4)(SHAPE)
    assert abs(shifted.mean() - 2.0) < 0.05 and abs(shifted.std() / 3.0 - 1) < 0.02
    with pytest.raises(ValueError, match="minval <= maxval"):
        initializers.RandomUniform(1.0, -1.0)


def test_constants():
    assert (initializers.Zeros()((2, 3)) == 0).all()
    assert (initializers.get("ones")((4,)) == 1).all()
    np.testing.assert_array_equal(initializers.Constant(0.3)((2, 2)), np.full((2, 2), 0.3, dtype=np.float32))
    np.testing.assert_array_equal(initializers.Constant([1.0, 2.0])((3, 2)), [[1, 2]] * 3)
    assert initializers.Zeros()((3,), dtype="int64").dtype == np.int64
    with pytest.raises(ValueError, match="cannot fill shape"):
        initializers.Constant([1.0, 2.0, 3.0])((3, 2))


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (3, 3, 2, 5)])
def test_orthogonal(shape):
    weights = initializers.Orthogonal(gain=2.0, seed=0)(shape, dtype="float64")
    assert weights.shape == shape
    flat = weights.reshape(-1, shape[-1])
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(gram.shape[0]), atol=1e-12)
    with pytest.raises(ValueError, match="rank 2"):
        initializers.Orthogonal()((5,))


def test_identity():
    np.testing.assert_array_equal(initializers.Identity(gain=3.0)((3, 3)), 3 * np.eye(3))
    np.testing.assert_array_equal(initializers.get("identity")((2, 3)), np.eye(2, 3))
    with pytest.raises(ValueError, match="only for 2-D"):
        initializers.Identity()((2, 2, 2))


# --------------------------------------------------------------------------- seeding

def test_a_seed_gives_the_same_values_on_every_call():
    init = initializers.GlorotUniform(seed=42)
    np.testing.assert_array_equal(init((4, 5)), init((4, 5)))
    np.testing.assert_array_equal(init((4, 5)), initializers.GlorotUniform(seed=42)((4, 5)))
    assert not np.array_equal(init((4, 5)), initializers.GlorotUniform(seed=43)((4, 5)))


def test_manual_seed_makes_unseeded_draws_repeat():
    def run():
        dg.manual_seed(7)
        init = initializers.HeNormal()
        return init((3, 4)), init((3, 4)), initializers.get("random_uniform")((2,))

    first, second = run(), run()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])  # successive draws differ


def test_an_explicit_generator_is_used_when_there_is_no_seed():
    a = initializers.RandomNormal()((5,), generator=np.random.default_rng(9))
    b = initializers.RandomNormal()((5,), generator=np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)


def test_bad_seed_shape_and_dtype_are_clear_errors():
    with pytest.raises(ValueError, match="seed must be None or a non-negative int"):
        initializers.HeNormal(seed="abc")
    with pytest.raises(ValueError, match="floating point"):
        initializers.HeNormal()((2, 2), dtype="int32")
    with pytest.raises(TypeError, match="tuple of ints"):
        initializers.Zeros()("big")
    with pytest.raises(ValueError, match="negative dimension"):
        initializers.Zeros()((2, -1))


# --------------------------------------------------------------------------- lookup

def test_get_names_classes_and_errors():
    assert initializers.get(None) is None
    assert isinstance(initializers.get("xavier_uniform"), initializers.GlorotUniform)
    assert isinstance(initializers.get("normal"), initializers.RandomNormal)
    assert isinstance(initializers.get(initializers.Ones), initializers.Ones)
    custom = initializers.Constant(2.0)
    assert initializers.get(custom) is custom

    def by_hand(shape, dtype=None):
        return np.full(shape, 0.5)

    assert initializers.get(by_hand) is by_hand
    with pytest.raises(ValueError, match="unknown initializer 'he_norm'.*he_normal"):
        initializers.get("he_norm")
    with pytest.raises(TypeError):
        initializers.get(3.5)


@pytest.mark.parametrize("name", initializers.names())
def test_config_round_trip(name):
    init = initializers.get(name)
    config = init.get_config()
    rebuilt = type(init).from_config(config)
    assert rebuilt.get_config() == config
    assert initializers.deserialize(initializers.serialize(init)).get_config() == config
    assert type(init).__doc__


def test_seeded_config_round_trip_draws_the_same_weights():
    init = initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=5)
    again = initializers.deserialize(initializers.serialize(init))
    np.testing.assert_array_equal(init((3, 4)), again((3, 4)))
    assert initializers.serialize(initializers.HeNormal(seed=1)) == {"class_name": "HeNormal",
                                                                      "config": {"seed": 1}}
    with pytest.raises(ValueError, match="unknown initializer config"):
        initializers.deserialize({"class_name": "Nope"})
