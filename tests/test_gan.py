"""GANs: two optimizers in one custom train_step, the discriminator-wins warning and diagnosis, the sample score."""

import math
import warnings

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import losses, metrics, optimizers
from deepgrad.diagnostics import (
    DiscriminatorWinsWarning,
    GANMonitor,
    diagnose,
    discriminator_wins,
    generation_score,
)
from deepgrad.layers import Dense, LeakyReLU
from deepgrad.models import Model, Sequential


@pytest.fixture(autouse=True)
def fresh_names():
    dg.backend.clear_session()
    dg.manual_seed(0)


class TinyGAN(Model):
    """A dense GAN on points in the plane: the structure of examples/gan_mnist.py at toy size."""

    def __init__(self, generator, discriminator, latent_dim=2):
        super().__init__()
        self.generator, self.discriminator, self.latent_dim = generator, discriminator, latent_dim
        self.rng = np.random.default_rng(0)
        self.d_loss_tracker = metrics.Mean(name="d_loss")
        self.g_loss_tracker = metrics.Mean(name="g_loss")

    def compile(self, d_optimizer, g_optimizer):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        self.loss_fn = losses.BinaryCrossentropy(from_logits=True)

    def train_step(self, real_points):
        n = real_points.shape[0]
        real, fake = np.ones((n, 1), "float32"), np.zeros((n, 1), "float32")
        codes = self.rng.standard_normal((n, self.latent_dim)).astype("float32")
        generated = self.generator(codes, training=True).detach()
        d_loss = (self.loss_fn(real, self.discriminator(real_points, training=True))
                  + self.loss_fn(fake, self.discriminator(generated, training=True)))
        d_weights = self.discriminator.trainable_weights
        self.d_optimizer.apply(dg.grad(d_loss, d_weights), d_weights)
        codes = self.rng.standard_normal((n, self.latent_dim)).astype("float32")
        g_loss = self.loss_fn(real, self.discriminator(self.generator(codes, training=True), training=True))
        g_weights = self.generator.trainable_weights
        self.g_optimizer.apply(dg.grad(g_loss, g_weights), g_weights)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}


def _points(n=512):
    rng = np.random.default_rng(1)
    return (rng.normal(size=(n, 2)) * 0.5 + [2.0, -1.0]).astype("float32")


def _fit(generator, discriminator, epochs, learning_rate=0.01):
    gan = TinyGAN(generator, discriminator)
    gan.compile(optimizers.Adam(learning_rate=learning_rate), optimizers.Adam(learning_rate=learning_rate))
    monitor = GANMonitor()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = gan.fit(_points(), batch_size=64, epochs=epochs, callbacks=[monitor], verbose=0)
    return history, monitor, [w for w in caught if issubclass(w.category, DiscriminatorWinsWarning)]


def test_the_warning_fires_when_the_discriminator_wins_against_a_frozen_generator():
    generator = Sequential([Dense(2, input_dim=2, kernel_initializer="zeros", bias_initializer="zeros")])
    generator.trainable = False  # always outputs the origin: the discriminator separates it at once
    discriminator = Sequential([Dense(8, input_dim=2), LeakyReLU(0.2), Dense(1)])
    history, monitor, caught = _fit(generator, discriminator, epochs=3, learning_rate=0.05)
    assert caught and monitor.wins
    assert "discriminator wins outright" in str(caught[0].message)
    assert history.history["d_loss"][-1] < 0.05
    assert "discriminator_wins" in diagnose(history=history)
    assert "discriminator wins" in str(diagnose(history=history))


def test_no_warning_on_a_healthy_tiny_gan():
    generator = Sequential([Dense(8, input_dim=2), LeakyReLU(0.2), Dense(2)])
    discriminator = Sequential([Dense(8, input_dim=2), LeakyReLU(0.2), Dense(1)])
    codes = np.random.default_rng(2).standard_normal((256, 2)).astype("float32")

    def distance_to_the_data():
        return np.linalg.norm(generator.predict(codes, verbose=0).mean(axis=0) - [2.0, -1.0])

    start = distance_to_the_data()
    history, monitor, caught = _fit(generator, discriminator, epochs=5)
    assert not caught and not monitor.wins
    assert "discriminator_wins" not in diagnose(history=history)
    assert min(history.history["d_loss"]) > 0.5  # both players stay in the game
    assert distance_to_the_data() < 0.5 * start  # the generated points moved towards the data


def test_discriminator_wins_needs_a_near_zero_discriminator_loss_and_a_growing_generator_loss():
    assert discriminator_wins([0.9, 0.2, 0.01], [1.0, 3.0, 6.0])
    assert not discriminator_wins([0.9, 0.2, 0.1], [1.0, 3.0, 6.0])  # the discriminator has not won outright
    assert not discriminator_wins([0.9, 0.2, 0.01], [6.0, 3.0, 1.0])  # the generator is catching up
    assert discriminator_wins([0.01], [7.0])  # a single value: the discriminator's loss decides
    assert not discriminator_wins([], [])
    assert not discriminator_wins([float("nan")], [1.0])


def test_generation_score_on_known_class_probabilities():
    one_hot = np.eye(10)[np.arange(100) % 10]
    score = generation_score(one_hot)  # every digit equally often, each with certainty
    assert score.confidence == pytest.approx(1.0)
    assert score.entropy == pytest.approx(math.log(10)) and score.max_entropy == pytest.approx(math.log(10))
    np.testing.assert_array_equal(score.counts, np.full(10, 10))
    collapsed = generation_score(np.tile([0.1, 0.6, 0.3], (50, 1)))  # one class only: mode collapse
    assert collapsed.entropy == 0.0 and collapsed.confidence == pytest.approx(0.6)
    halves = generation_score(np.array([[0.9, 0.1], [0.2, 0.8]]))
    assert halves.entropy == pytest.approx(math.log(2)) and halves.confidence == pytest.approx(0.85)
    with pytest.raises(ValueError, match="samples, classes"):
        generation_score(np.ones(10))
