"""Autoencoders and their pieces: the PCA baseline, the VAE's sampling layer, the reconstruction plots."""

import json

import numpy as np
import pytest

pytest.importorskip("matplotlib")
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import deepgrad as dg
from deepgrad import plot
from deepgrad.decomposition import PCA
from deepgrad.layers import Dense, GaussianSampling, Input, Reshape
from deepgrad.models import Model, Sequential, load_model


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _assert_png(path, min_bytes=5000):
    assert path.stat().st_size > min_bytes
    image = matplotlib.image.imread(path)
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 8


# --------------------------------------------------------------------------- PCA


def test_pca_equals_the_truncated_svd_of_the_centred_data(rng):
    x = rng.normal(size=(200, 12)) @ rng.normal(size=(12, 12))
    pca = PCA(4).fit(x)
    centred = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    # the same directions up to sign, and the same reconstruction (the sign cancels in it)
    np.testing.assert_allclose(np.abs(pca.components_ @ vt[:4].T), np.eye(4), atol=1e-8)
    np.testing.assert_allclose(pca.singular_values_, s[:4], rtol=1e-10)
    np.testing.assert_allclose(pca.reconstruct(x), centred @ vt[:4].T @ vt[:4] + x.mean(axis=0), atol=1e-10)
    np.testing.assert_allclose(pca.explained_variance_, s[:4] ** 2 / 199, rtol=1e-10)
    assert 0 < pca.explained_variance_ratio_.sum() < 1


def test_pca_with_fewer_samples_than_features_and_images_keep_their_shape(rng):
    images = rng.random((10, 6, 6, 1))
    pca = PCA(10).fit(images)  # 10 samples of 36 pixels: the direct SVD
    codes = pca.transform(images)
    assert codes.shape == (10, 10)
    np.testing.assert_allclose(pca.inverse_transform(codes), images, atol=1e-10)  # full rank: exact
    assert pca.reconstruct(images[:3]).shape == (3, 6, 6, 1)


def test_pca_sign_is_fixed_so_fits_repeat(rng):
    x = rng.normal(size=(50, 5))
    first, flipped = PCA(3).fit(x), PCA(3).fit(-x[::-1])  # same directions, opposite signs in the data
    np.testing.assert_allclose(first.components_, flipped.components_, atol=1e-12)
    assert np.all(first.components_[np.arange(3), np.abs(first.components_).argmax(axis=1)] > 0)


def test_pca_rejects_bad_settings_and_unfitted_use(rng):
    with pytest.raises(ValueError, match="n_components must be a positive integer"):
        PCA(0)
    with pytest.raises(ValueError, match="pick at most 5"):
        PCA(6).fit(rng.normal(size=(20, 5)))
    with pytest.raises(RuntimeError, match="call fit"):
        PCA(2).transform(np.zeros((3, 4)))
    pca = PCA(2).fit(rng.normal(size=(20, 5)))
    with pytest.raises(ValueError, match="fitted on samples of 5 features, got 4"):
        pca.transform(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"codes of shape \(n_samples, 2\)"):
        pca.inverse_transform(np.zeros((3, 3)))


def test_a_nonlinear_autoencoder_beats_pca_with_the_same_code_size():
    # points on a circle in 3-D: one number (the angle) describes each, but no line through
    # the data does, so PCA with a code of 1 loses what an autoencoder with a code of 1 keeps
    rng = np.random.default_rng(0)
    angle = rng.uniform(0, 2 * np.pi, 512)
    x = np.stack([np.cos(angle), np.sin(angle), 0.3 * np.cos(angle)], axis=1).astype(np.float32)
    pca_mse = float(((PCA(1).fit(x).reconstruct(x) - x) ** 2).mean())
    dg.manual_seed(0)
    model = Sequential([Input(shape=(3,)), Dense(32, activation="tanh"), Dense(1), Dense(32, activation="tanh"),
                        Dense(3)])
    model.compile(optimizer=dg.optimizers.Adam(0.01), loss="mse")
    model.fit(x, x, batch_size=64, epochs=150, verbose=0)
    autoencoder_mse = float(model.evaluate(x, x, verbose=0))
    assert pca_mse > 0.15
    assert autoencoder_mse < 0.5 * pca_mse


# --------------------------------------------------------------------------- GaussianSampling


def test_gaussian_sampling_draws_from_the_encoders_gaussian():
    mean = np.full((20000, 2), [1.0, -2.0], dtype=np.float32)
    log_var = np.full((20000, 2), [0.0, np.log(0.25)], dtype=np.float32)
    z = GaussianSampling(seed=1)([mean, log_var]).numpy()
    np.testing.assert_allclose(z.mean(axis=0), [1.0, -2.0], atol=0.02)
    np.testing.assert_allclose(z.std(axis=0), [1.0, 0.5], rtol=0.02)
    assert z.dtype == np.float32


def test_gaussian_sampling_repeats_with_its_seed_and_draws_anew_each_call():
    mean, log_var = np.zeros((4, 3), np.float32), np.zeros((4, 3), np.float32)
    first, second = GaussianSampling(seed=5), GaussianSampling(seed=5)
    a, b = first([mean, log_var]).numpy(), second([mean, log_var]).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, first([mean, log_var]).numpy())


def test_gaussian_sampling_sends_the_reparameterised_gradient_to_mean_and_log_variance(rng):
    mean = dg.tensor(rng.normal(size=(5, 2)).astype(np.float32), requires_grad=True)
    log_var = dg.tensor(rng.normal(size=(5, 2)).astype(np.float32), requires_grad=True)
    z = GaussianSampling(seed=0)([mean, log_var])
    z.sum().backward()
    np.testing.assert_array_equal(mean.grad, np.ones((5, 2)))
    np.testing.assert_allclose(log_var.grad, 0.5 * (z.numpy() - mean.numpy()), rtol=1e-5, atol=1e-7)


def test_gaussian_sampling_checks_its_inputs():
    layer = GaussianSampling()
    with pytest.raises(ValueError, match=r"takes two tensors, \[z_mean, z_log_var\]"):
        layer(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="same shape"):
        GaussianSampling()([np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32)])


def test_a_vae_encoder_with_gaussian_sampling_round_trips_through_config_and_a_model_file(tmp_path):
    dg.manual_seed(0)
    inputs = Input(shape=(6,))
    z_mean = Dense(2, name="z_mean")(inputs)
    z_log_var = Dense(2, name="z_log_var")(inputs)
    z = GaussianSampling(seed=7, name="z")([z_mean, z_log_var])
    encoder = Model(inputs, [z_mean, z_log_var, z])
    assert encoder.count_params() == 28
    layer = encoder.get_layer("z")
    assert json.loads(json.dumps(layer.get_config()))["seed"] == 7
    assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()
    encoder.save(tmp_path / "encoder.deepgrad")
    loaded = load_model(tmp_path / "encoder.deepgrad")
    x = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    for ours, theirs in zip(encoder.predict(x, verbose=0)[:2], loaded.predict(x, verbose=0)[:2]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert isinstance(loaded.get_layer("z"), GaussianSampling)


class _VariationalSampling(GaussianSampling):
    """The VAE example's sampling layer: the KL divergence from N(0, 1) goes to add_loss."""

    def call(self, inputs):
        z_mean, z_log_var = inputs
        self.add_loss((-0.5 * (1 + z_log_var - z_mean * z_mean - z_log_var.exp()).sum(axis=-1)).mean())
        return super().call(inputs)


def _tiny_vae(seed):
    dg.manual_seed(seed)
    inputs = Input(shape=(4,))
    z_mean = Dense(2, bias_initializer="ones")(inputs)
    z_log_var = Dense(2, bias_initializer="ones")(inputs)
    z = _VariationalSampling(seed=seed)([z_mean, z_log_var])
    encoder = Model(inputs, [z_mean, z_log_var, z])
    return encoder, Model(inputs, Dense(4)(encoder(inputs)[2]))


def test_the_kl_term_given_to_add_loss_trains_the_encoder_through_fit_and_the_sampling_layer():
    x = np.random.default_rng(0).normal(size=(256, 4)).astype(np.float32)
    encoder, vae = _tiny_vae(0)
    means, log_vars, _ = encoder.predict(x, verbose=0)
    kl_before = float(np.mean(-0.5 * (1 + log_vars - means ** 2 - np.exp(log_vars)).sum(axis=1)))
    vae(x[:8])
    np.testing.assert_allclose(float(vae.losses[0].numpy()), np.mean(
        -0.5 * (1 + log_vars[:8] - means[:8] ** 2 - np.exp(log_vars[:8])).sum(axis=1)), rtol=1e-5)
    # a compiled loss of zero: the KL term alone drives training, toward z_mean = 0, z_log_var = 0
    vae.compile(optimizer=dg.optimizers.Adam(0.05), loss=lambda y_true, y_pred: (y_pred * 0.0).sum(axis=-1))
    history = vae.fit(x, x, batch_size=64, epochs=30, verbose=0)
    assert history.history["loss"][0] > 0.5 * kl_before  # the compiled loss is 0: fit's loss is the KL term
    means, log_vars, _ = encoder.predict(x, verbose=0)
    assert kl_before > 1.0 and history.history["loss"][-1] < 0.01 * kl_before
    assert np.abs(means).max() < 0.1 and np.abs(log_vars).max() < 0.1


# --------------------------------------------------------------------------- plots


def test_plot_reconstructions_draws_one_row_per_model(tmp_path, rng):
    originals = rng.random((12, 8, 8, 1)).astype(np.float32)
    fig = plot.plot_reconstructions(originals, {"PCA 4": originals * 0.5, "autoencoder": originals ** 2}, n=6,
                                    save_path=tmp_path / "reconstructions.png")
    axes = [ax for ax in fig.axes if ax.images]
    assert len(axes) == 18
    assert [axes[i].get_ylabel() for i in (0, 6, 12)] == ["original", "PCA 4", "autoencoder"]
    np.testing.assert_allclose(axes[6].images[0].get_array(), originals[0, ..., 0] * 0.5)
    _assert_png(tmp_path / "reconstructions.png")
    one_row = plot.plot_reconstructions(originals[:3], originals[:3])
    assert [ax.get_ylabel() for ax in one_row.axes if ax.get_ylabel()] == ["original", "reconstruction"]
    with pytest.raises(ValueError, match="one reconstruction per original"):
        plot.plot_reconstructions(originals, originals[:5])


def test_plot_latent_space_colours_each_class_and_names_it(rng):
    codes = rng.normal(size=(90, 2))
    labels = np.repeat([0, 2, 5], 30)
    fig = plot.plot_latent_space(codes, labels, class_names=[f"type {i}" for i in range(6)])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["type 0", "type 2", "type 5"]
    colours = {tuple(np.round(c.get_facecolor()[0][:3], 3)) for c in ax.collections}
    assert len(colours) == 3
    with pytest.raises(ValueError, match=r"shape \(n_samples, 2\)"):
        plot.plot_latent_space(rng.normal(size=(5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="90 samples but labels has 5"):
        plot.plot_latent_space(codes, np.zeros(5))


def test_plot_latent_grid_decodes_a_grid_with_the_largest_second_code_on_top():
    # a decoder whose image is bright in proportion to code[0] + code[1]
    decoder = Sequential([Input(shape=(2,)), Dense(16, use_bias=False, kernel_initializer="ones"),
                          Reshape((4, 4, 1))])
    fig = plot.plot_latent_grid(decoder, n=5, x_range=(0.0, 0.1))
    picture = fig.axes[0].images[0].get_array()
    assert picture.shape == (20, 20)
    assert picture[0, -1] == pytest.approx(0.2) and picture[-1, 0] == pytest.approx(0.0)  # top right: both 0.1
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][0] == "0.1"
    with pytest.raises(ValueError, match="n >= 2"):
        plot.plot_latent_grid(decoder, n=1)
