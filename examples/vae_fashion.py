# %% [markdown]
# # A variational autoencoder: a map of clothes you can sample from
#
# A plain autoencoder's codes lie wherever training put them: pick a point between two
# of them and the decoder may draw nothing recognisable. A **variational autoencoder**
# (Kingma and Welling, 2014, "Auto-Encoding Variational Bayes") makes the code space a
# probability distribution you can draw from:
#
# * the **encoder** gives, for each image, a Gaussian over codes: a mean `z_mean` and a
#   log-variance `z_log_var` (here 2 numbers each, so the code space is a plane);
# * a **sampling layer** draws one code from that Gaussian,
#   z = z_mean + exp(0.5 z_log_var) * eps with eps ~ N(0, 1). Written this way (the
#   *reparameterisation trick*) the draw is a differentiable function of z_mean and
#   z_log_var with the randomness in eps alone: dz/dz_mean = 1 and
#   dz/dz_log_var = 0.5 exp(0.5 z_log_var) eps, so backpropagation reaches the encoder
#   (`deepgrad.layers.GaussianSampling`, over the op `deepgrad.ops.gaussian_sample`);
# * the **decoder** turns the code back into an image.
#
# The loss has two terms. The **reconstruction** term is the binary cross-entropy summed
# over the 784 pixels. The **KL term**, the Kullback-Leibler divergence of the encoder's
# Gaussian from the standard normal N(0, 1),
#
#     KL = -0.5 * sum(1 + z_log_var - z_mean^2 - exp(z_log_var))
#
# pulls every image's Gaussian toward N(0, 1), so the codes fill the plane around 0
# without gaps. It is not a function of (target, prediction), so the sampling layer adds
# it with `self.add_loss(...)`, and `fit()` adds it to the compiled loss. After training,
# decoding any point of the plane near 0 gives a plausible piece of clothing: the last
# figure decodes a 15 x 15 grid of them.
#
# Run `python examples/vae_fashion.py [--output DIR]` for the full run (10 epochs on the
# 60,000 training images of Fashion-MNIST, a few minutes on 2 cores), or with `--quick`
# (or `DEEPGRAD_EXAMPLE_QUICK=1`) for a few seconds on a small slice.

# %%
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import deepgrad as dg
from deepgrad import losses, plot
from deepgrad.callbacks import Callback, EarlyStopping
from deepgrad.datasets import fashion_mnist
from deepgrad.layers import Dense, Flatten, GaussianSampling, Input, Reshape
from deepgrad.models import Model, Sequential

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="a small slice and 2 epochs, a few seconds")
parser.add_argument("--output", default="vae_output", help="folder for the PNG figures")
parser.add_argument("--epochs", type=int, default=None, help="epochs to train (default 10, 2 with --quick)")
args, _ = parser.parse_known_args(sys.argv[1:])
quick = args.quick or os.environ.get("DEEPGRAD_EXAMPLE_QUICK") == "1"
output = Path(args.output)
output.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## The data
#
# Pixels scaled to [0, 1]: the decoder's sigmoid outputs are read as the probability
# that each pixel is "on", which is what the binary cross-entropy compares them with.

# %%
class_names = fashion_mnist.FASHION_CLASS_NAMES
(x_train, _), (x_test, y_test) = fashion_mnist.load_data()
if quick:
    x_train, x_test, y_test = x_train[:1024], x_test[:512], y_test[:512]
x_train = (x_train.astype("float32") / 255)[..., None]
x_test = (x_test.astype("float32") / 255)[..., None]
print(f"{len(x_train)} training and {len(x_test)} test images of shape {x_train.shape[1:]}")

# %% [markdown]
# ## The sampling layer with its KL term
#
# `GaussianSampling` draws z from [z_mean, z_log_var]; this subclass also hands the KL
# divergence (averaged over the batch) to `add_loss`, as in Keras's VAE example.


# %%
def kl_divergence(z_mean, z_log_var):
    """KL(N(z_mean, exp(z_log_var)) || N(0, 1)) per sample: -0.5 sum(1 + log var - mean^2 - var)."""
    return -0.5 * (1 + z_log_var - z_mean * z_mean - z_log_var.exp()).sum(axis=-1)


class VariationalSampling(GaussianSampling):
    """z ~ N(z_mean, exp(z_log_var)), adding the batch's mean KL divergence from N(0, 1) to the loss."""

    def call(self, inputs):
        z_mean, z_log_var = inputs
        self.add_loss(kl_divergence(z_mean, z_log_var).mean())
        return super().call(inputs)


# %% [markdown]
# ## Encoder, decoder, and the VAE that chains them
#
# Dense layers of 256 units; a code of 2 numbers, so that the code space can be drawn.
# The encoder has three outputs: z_mean, z_log_var and the sampled z, which the decoder
# receives.

# %%
latent_dim = 2
dg.manual_seed(0)
inputs = Input(shape=(28, 28, 1), name="image")
hidden = Dense(256, activation="relu")(Flatten()(inputs))
z_mean = Dense(latent_dim, name="z_mean")(hidden)
z_log_var = Dense(latent_dim, name="z_log_var")(hidden)
z = VariationalSampling(seed=1, name="z")([z_mean, z_log_var])
encoder = Model(inputs, [z_mean, z_log_var, z], name="encoder")

decoder = Sequential([
    Input(shape=(latent_dim,)),
    Dense(256, activation="relu"),
    Dense(28 * 28, activation="sigmoid"),
    Reshape((28, 28, 1)),
], name="decoder")

vae = Model(inputs, decoder(encoder(inputs)[2]), name="vae")
vae.summary()


# %% [markdown]
# ## Training through `fit()`
#
# The compiled loss is the reconstruction term per image, averaged over the batch;
# `fit()` adds the KL term that the sampling layer gave to `add_loss`, so `loss` and
# `val_loss` are the negative evidence lower bound (ELBO) per image, in nats. A callback
# splits the validation loss into its two terms after each epoch, and early stopping
# keeps the best weights.

# %%
def reconstruction_loss(images, reconstructions):
    """Binary cross-entropy summed over the pixels of each image (the decoder as independent Bernoulli pixels)."""
    return losses.binary_crossentropy(images, reconstructions).sum(axis=(1, 2))


def loss_terms(images):
    """(mean reconstruction term, mean KL term) on ``images``, with one code drawn per image."""
    means, log_vars, codes = encoder.predict(images, verbose=0)
    decoded = decoder.predict(codes, verbose=0)
    reconstruction = reconstruction_loss(images, decoded).numpy().mean()
    kl = kl_divergence(dg.tensor(means), dg.tensor(log_vars)).numpy().mean()
    return float(reconstruction), float(kl)


class LossTerms(Callback):
    """After each epoch: the validation loss split into its reconstruction and KL terms, added to the logs."""

    def on_epoch_end(self, epoch, logs=None):
        reconstruction, kl = loss_terms(x_test)
        if logs is not None:
            logs.update(val_reconstruction=reconstruction, val_kl=kl)
        print(f"epoch {epoch + 1}: validation reconstruction {reconstruction:.2f} + KL {kl:.2f} nats per image")


epochs = args.epochs or (2 if quick else 10)
vae.compile(optimizer=dg.optimizers.Adam(1e-3), loss=reconstruction_loss)
start = time.perf_counter()
history = vae.fit(x_train, x_train, batch_size=128, epochs=epochs, validation_data=(x_test, x_test),
                  callbacks=[LossTerms(), EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)],
                  verbose=0 if quick else 2)
seconds = time.perf_counter() - start
trained = len(history.history["loss"])
print(f"trained {trained} epochs in {seconds:.0f} s ({seconds / trained:.0f} s per epoch)")
print("epoch  loss (-ELBO)  val_loss  val reconstruction  val KL")
for i in range(trained):
    print(f"{i + 1:>5}  {history.history['loss'][i]:>12.2f}  {history.history['val_loss'][i]:>8.2f}"
          f"  {history.history['val_reconstruction'][i]:>18.2f}  {history.history['val_kl'][i]:>6.2f}")
reconstruction, kl = loss_terms(x_test)
print(f"test: reconstruction {reconstruction:.2f} + KL {kl:.2f} = {reconstruction + kl:.2f} nats per image")
plot.plot_history(history, metrics=["loss"], title="VAE: negative ELBO per image", save_path=output / "history.png")

# %% [markdown]
# ## The code space
#
# Each test image at its z_mean, coloured by its clothing type (which the VAE never
# saw). The KL term keeps the cloud centred on 0 with a spread of about 1.

# %%
means = encoder.predict(x_test, verbose=0)[0]
print(f"z_mean over the test images: mean {np.round(means.mean(axis=0), 2)}, std {np.round(means.std(axis=0), 2)}")
plot.plot_latent_space(means, y_test, class_names, title="VAE: z_mean of each test image",
                       save_path=output / "code_space.png")

# %% [markdown]
# ## Sampling new clothes
#
# Decode a 15 x 15 grid of codes from -2 to 2 on both axes (about 95% of N(0, 1)
# along each): neighbouring images change smoothly, from trousers to dresses, from
# sandals to sneakers to boots.

# %%
plot.plot_latent_grid(decoder, n=15, x_range=(-2.0, 2.0), title="VAE: images decoded from a grid of codes",
                      save_path=output / "latent_grid.png")
plot.plot_reconstructions(x_test[:10], vae.predict(x_test[:10], verbose=0), title="VAE: test images and "
                          "their reconstructions from one sampled code", save_path=output / "reconstructions.png")
print("figures saved:", ", ".join(sorted(p.name for p in output.glob("*.png"))))
