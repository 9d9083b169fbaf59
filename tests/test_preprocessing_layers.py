import numpy as np
import pytest

import deepgrad as dg
from deepgrad.gradcheck import gradcheck
from deepgrad.layers import (
    Dense,
    Flatten,
    Input,
    Normalization,
    RandomContrast,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
)
from deepgrad.layers.preprocessing import _fix_index, resample
from deepgrad.models import Sequential, load_model
from deepgrad.tensor import Tensor


def _images(batch=3, size=8, channels=2, seed=0):
    return np.random.default_rng(seed).random((batch, size, size, channels)).astype(np.float32) * 255


AUGMENTATIONS = [
    lambda: RandomFlip(seed=1),
    lambda: RandomRotation(0.2, seed=1),
    lambda: RandomTranslation(0.3, 0.3, fill_mode="constant", fill_value=5.0, seed=1),
    lambda: RandomZoom(0.3, 0.2, interpolation="nearest", fill_mode="wrap", seed=1),
    lambda: RandomContrast(0.5, seed=1),
]


@pytest.mark.parametrize("make", AUGMENTATIONS)
def test_augmentation_is_the_identity_at_inference_and_changes_images_in_training(make):
    layer, x = make(), _images()
    np.testing.assert_array_equal(layer(x).data, x)
    np.testing.assert_array_equal(layer(x, training=False).data, x)
    out = layer(x, training=True).data
    assert out.shape == x.shape and out.dtype == np.float32
    assert not np.allclose(out, x)


@pytest.mark.parametrize("make", AUGMENTATIONS)
def test_augmentation_repeats_after_manual_seed(make):
    x = _images()
    runs = []
    for _ in range(2):
        dg.manual_seed(3)
        layer = make()
        layer.seed_generator = dg.backend.SeedGenerator(None)  # the global stream, reset by manual_seed
        runs.append([layer(x, training=True).data for _ in range(2)])
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][0], runs[0][1])  # a fresh draw per batch


def test_random_flip_flips_each_image_in_one_of_the_allowed_ways():
    x = _images(batch=32)
    out = RandomFlip("horizontal", seed=0)(x, training=True).data
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x)]
    kept = [np.array_equal(o, i) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and 5 < sum(flipped) < 27
    out = RandomFlip("vertical", seed=0)(x, training=True).data
    assert all(np.array_equal(o, i[::-1]) or np.array_equal(o, i) for o, i in zip(out, x))
    out = RandomFlip(seed=0)(x, training=True).data
    ways = [(i, i[::-1], i[:, ::-1], i[::-1, ::-1]) for i in x]
    seen = [next(k for k, w in enumerate(ws) if np.array_equal(o, w)) for o, ws in zip(out, ways)]
    assert set(seen) == {0, 1, 2, 3}


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_a_quarter_turn_equals_rot90(interpolation):
    x = _images(batch=2, size=7, channels=3)
    out = RandomRotation((0.25, 0.25), interpolation=interpolation, fill_mode="constant", seed=0)(
        x, training=True).data
    expected = np.rot90(x, k=1, axes=(1, 2))  # counter-clockwise, as Keras' positive angles
    np.testing.assert_allclose(out[:, 1:-1, 1:-1], expected[:, 1:-1, 1:-1], atol=1e-3)
    half = RandomRotation((0.5, 0.5), seed=0)(x, training=True).data
    np.testing.assert_allclose(half[:, 1:-1, 1:-1], x[:, ::-1, ::-1][:, 1:-1, 1:-1], atol=1e-3)


def test_translation_by_whole_pixels_shifts_and_fills():
    x = _images(batch=2, size=8, channels=1)
    k = 2
    out = RandomTranslation((k / 8, k / 8), (0, 0), fill_mode="constant", fill_value=-1.0, seed=0)(
        x, training=True).data
    np.testing.assert_allclose(out[:, k:], x[:, :-k], atol=1e-4)  # positive height factor moves down
    np.testing.assert_allclose(out[:, :k], -1.0)
    out = RandomTranslation((0, 0), (-k / 8, -k / 8), fill_mode="wrap", seed=0)(x, training=True).data
    np.testing.assert_allclose(out, np.roll(x, -k, axis=2), atol=1e-4)
    out = RandomTranslation((0, 0), (k / 8, k / 8), fill_mode="nearest", seed=0)(x, training=True).data
    np.testing.assert_allclose(out[:, :, :k], np.repeat(x[:, :, :1], k, axis=2), atol=1e-4)
    out = RandomTranslation((0, 0), (k / 8, k / 8), fill_mode="reflect", seed=0)(x, training=True).data
    np.testing.assert_allclose(out[:, :, :k], x[:, :, k - 1::-1], atol=1e-4)  # b a | a b ...


def test_fill_modes_follow_keras_index_rules():
    index = np.arange(-6, 10)
    np.testing.assert_array_equal(_fix_index(index, 4, "reflect"),
                                  [2, 3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0, 1])
    np.testing.assert_array_equal(_fix_index(index, 4, "wrap"), index % 4)
    np.testing.assert_array_equal(_fix_index(index, 4, "nearest"), np.clip(index, 0, 3))


def test_zoom_out_by_two_samples_every_other_pixel_about_the_centre():
    x = _images(batch=1, size=9, channels=1)
    out = RandomZoom((1.0, 1.0), fill_mode="constant", seed=0)(x, training=True).data  # zoom 2: image halves
    # output pixel y reads 2 y - 4: the centre stays, pixels 2..6 read 0, 2, 4, 6, 8
    np.testing.assert_allclose(out[0, 2:7, 2:7], x[0, 0:9:2, 0:9:2], atol=1e-4)
    np.testing.assert_allclose(out[0, :2], 0.0)
    zoom_in = RandomZoom((-0.5, -0.5), interpolation="nearest", seed=0)(x, training=True).data
    # zoom 0.5: y reads 0.5 y + 2 -> the centre 5x5 block stretched
    np.testing.assert_allclose(zoom_in[0, 4, 4], x[0, 4, 4])
    np.testing.assert_allclose(zoom_in[0, 8, 8], x[0, 6, 6])


def test_bilinear_resampling_interpolates_and_is_differentiable():
    x = np.random.default_rng(1).random((2, 4, 5, 2))
    rows = np.random.default_rng(2).uniform(-2, 6, (2, 3, 3))
    cols = np.random.default_rng(3).uniform(-2, 6, (2, 3, 3))
    assert gradcheck(lambda t: resample(t, rows, cols, "bilinear", "reflect"), x)
    assert gradcheck(lambda t: resample(t, rows, cols, "bilinear", "constant", 2.0), x)
    half = resample(Tensor(x), np.full((2, 1, 1), 1.5), np.full((2, 1, 1), 2.25), "bilinear", "nearest").data
    expected = (0.5 * (0.75 * x[:, 1, 2] + 0.25 * x[:, 1, 3]) + 0.5 * (0.75 * x[:, 2, 2] + 0.25 * x[:, 2, 3]))
    np.testing.assert_allclose(half[:, 0, 0], expected)


def test_channels_first_and_single_images():
    x = _images(batch=2, size=6, channels=3)
    last = RandomRotation(0.3, seed=4)(x, training=True).data
    first = RandomRotation(0.3, seed=4, data_format="channels_first")(x.transpose(0, 3, 1, 2), training=True).data
    np.testing.assert_allclose(first.transpose(0, 2, 3, 1), last, rtol=1e-6)
    one = RandomFlip(seed=0)(x[0], training=True).data
    assert one.shape == x[0].shape
    with pytest.raises(ValueError, match=r"x\[\.\.\., None\]"):
        RandomFlip()(np.zeros((2, 5), np.float32), training=True)


def test_random_contrast_keeps_the_mean_and_clips():
    x = _images(batch=4)
    out = RandomContrast((0.5, 0.5), seed=0)(x, training=True).data
    inside = (out > 0) & (out < 255)
    assert inside.mean() > 0.5
    assert out.min() >= 0 and out.max() <= 255
    mean = x.mean(axis=(1, 2), keepdims=True)
    ratio = (out - mean)[inside] / (x - np.broadcast_to(mean, x.shape))[inside]
    assert np.all((ratio > 0.5 - 1e-3) & (ratio < 1.5 + 1e-3))


@pytest.mark.parametrize("bad", [
    lambda: RandomRotation(0.1, fill_mode="mirror"),
    lambda: RandomRotation(0.1, interpolation="bicubic"),
    lambda: RandomRotation((0.3, 0.1)),
    lambda: RandomTranslation(1.5, 0.1),
    lambda: RandomZoom((-1.5, 0.2)),
    lambda: RandomFlip("diagonal"),
    lambda: RandomContrast(1.5),
    lambda: Rescaling("a"),
    lambda: Normalization(mean=[0.0]),
])
def test_bad_hyperparameters_are_refused(bad):
    with pytest.raises(ValueError):
        bad()


def test_rescaling_scales_and_offsets_integer_pixels():
    x = np.array([[0, 128, 255]], dtype=np.uint8)
    out = Rescaling(1 / 127.5, offset=-1)(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, [[-1.0, 128 / 127.5 - 1, 1.0]], atol=1e-6)
    per_channel = Rescaling([1.0, 2.0], offset=[0.0, 1.0])(np.ones((1, 2, 2), np.float32)).data
    np.testing.assert_allclose(per_channel[0, 0], [1.0, 3.0])


def test_normalization_adapt_matches_the_population_statistics():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(50, 3, 4, 2)) * [3.0, 0.5] + [10.0, -1.0]).astype(np.float32)
    layer = Normalization()  # axis=-1: one statistic per channel over batch, rows and columns
    layer.adapt(x)
    np.testing.assert_allclose(layer.mean.data, x.astype(np.float64).mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(layer.variance.data, x.astype(np.float64).var(axis=(0, 1, 2)), rtol=1e-5)
    out = layer(x).data
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-4)
    batched = Normalization(axis=(2, 3))
    batched.adapt([x[:20], x[20:35], (x[35:], None)])  # batches are combined exactly
    np.testing.assert_allclose(batched.variance.data, x.astype(np.float64).var(axis=(0, 1)), rtol=1e-5)
    scalar = Normalization(axis=None)
    scalar.adapt(x)
    np.testing.assert_allclose(scalar.mean.data, x.mean(), rtol=1e-5)
    np.testing.assert_allclose(Normalization(axis=None, invert=True, mean=scalar.mean.data.item(),
                                             variance=scalar.variance.data.item())(scalar(x)).data, x, atol=1e-4)


def test_normalization_with_given_statistics_and_a_zero_variance():
    layer = Normalization(mean=[1.0, 2.0], variance=[4.0, 0.0])
    out = layer(np.array([[3.0, 2.0]], np.float32)).data
    np.testing.assert_allclose(out, [[1.0, 0.0]])
    assert layer.weights == []
    with pytest.raises(ValueError, match="cannot adapt"):
        layer.adapt(np.zeros((2, 2)))


def test_every_new_layer_round_trips_through_a_model_file(tmp_path):
    dg.manual_seed(0)
    x = _images(batch=6, size=8, channels=3)
    norm = Normalization()
    norm.adapt(x)
    model = Sequential([Input(shape=(8, 8, 3)), Rescaling(1 / 255, offset=0.1), norm,
                        RandomFlip("horizontal", seed=2), RandomRotation(0.1, fill_mode="nearest", seed=3),
                        RandomTranslation(0.1, (-0.2, 0.1), seed=4), RandomZoom(0.2, interpolation="nearest", seed=5),
                        RandomContrast((0.1, 0.3), value_range=(0, 1), seed=6),
                        Normalization(axis=None, mean=0.5, variance=2.0), Flatten(), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, np.zeros((6, 2), np.float32), epochs=1, verbose=0)
    path = tmp_path / "augment.deepgrad"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for original, restored in zip(model.layers, loaded.layers):
        assert restored.get_config() == original.get_config()
    np.testing.assert_array_equal(loaded.layers[1].mean.data, norm.mean.data)
    np.testing.assert_array_equal(loaded.layers[1].variance.data, norm.variance.data)
