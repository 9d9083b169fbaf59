# %% [markdown]
# # The MNIST-1D benchmark table
#
# Greydanus, "Scaling down Deep Learning" (2020): 40-point signals in 10 classes, small
# enough for a CPU, yet they separate model families the way MNIST no longer does.
# The paper's recipe for every model: Adam, learning rate 1e-2, batch 100, 8,000 steps
# (200 epochs of 4,000 samples), test accuracy at the end. Its table:
# logistic regression 32%, MLP 68%, CNN 94%, GRU 91%.
#
# The architectures are those of the paper's code (`mnist1d/models.py`):
# * logistic regression: one Dense(10) on the 40 inputs;
# * MLP: 40 -> 100 -> 100 -> 10 with ReLU;
# * CNN (`ConvBase`): Conv1d(1->25, k5, s2, p1), Conv1d(25->25, k3, s2, p1),
#   Conv1d(25->25, k3, s2, p1), each with ReLU, then flatten (25 x 5) -> Dense(10).
#   PyTorch's symmetric padding of 1 is ZeroPadding1D(1) + a "valid" convolution
#   (Keras's "same" pads stride-2 convolutions asymmetrically and gives 20/10/5 steps, not 19/10/5);
# * GRU: bidirectional, 6 units each way, all 40 outputs flattened -> Dense(10).
#
# Two ways to start the weights are on offer, and for each model a validation split chooses
# one (see "How each model's start was chosen"): Keras's defaults (Glorot-uniform kernels, an orthogonal
# recurrent kernel, zero biases) or the paper code's, which are PyTorch's defaults (every
# weight and bias of a Dense or convolution uniform in ±1/sqrt(fan_in), every weight and bias
# of the GRU uniform in ±1/sqrt(units)).
#
# The input is the signal as a sequence of 40 steps of one channel, (40, 1), channels last.
# One run depends on its seed by about a point, so every model is trained with the seeds
# of `--seeds` (0-4) and the table gives the mean, the standard deviation and each run.
#
# Run `DEEPGRAD_DATA=... python examples/mnist1d_benchmark.py` (about 7 minutes: the CNN and
# GRU take longest), or with `--quick` for a few steps of each model and one seed.

# %%
import argparse
import os
import sys
import time

import numpy as np

import deepgrad as dg
from deepgrad.datasets import load_mnist1d
from deepgrad.initializers import RandomUniform
from deepgrad.layers import GRU, Bidirectional, Conv1D, Dense, Flatten, Input, ZeroPadding1D
from deepgrad.models import Sequential

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="a few steps of each model, seconds")
parser.add_argument("--models", default="logistic,mlp,cnn,gru", help="comma-separated subset of the rows")
parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds; --quick runs the first only")
parser.add_argument("--compare-initialisations", action="store_true",
                    help="train on 80%% of the training set with both starts, report validation accuracy")
args, _ = parser.parse_known_args(sys.argv[1:])
args.quick = args.quick or os.environ.get("DEEPGRAD_EXAMPLE_QUICK") == "1"  # a notebook's sys.argv is the kernel's

(x_train, y_train), (x_test, y_test) = load_mnist1d()
x_train, x_test = x_train.astype(np.float32)[..., None], x_test.astype(np.float32)[..., None]
BATCH, LEARNING_RATE = 100, 1e-2
STEPS = 10 if args.quick else 8000
EPOCHS = max(1, STEPS * BATCH // len(x_train))  # 200 epochs of the 4,000 training signals
if args.quick:
    x_train, y_train = x_train[:STEPS * BATCH], y_train[:STEPS * BATCH]
SEEDS = [int(seed) for seed in args.seeds.split(",")][:1 if args.quick else None]
PAPER = {"logistic": 0.32, "mlp": 0.68, "cnn": 0.94, "gru": 0.91}

# %% [markdown]
# ## The four models

# %%


def uniform(fan_in):
    """PyTorch's default start, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as a Keras initializer."""
    return RandomUniform(-fan_in ** -0.5, fan_in ** -0.5)


def starts(init, fan_in):
    """Initializer arguments of a Dense or convolution: Keras's defaults, or the paper code's (PyTorch's)."""
    return {} if init == "keras" else {"kernel_initializer": uniform(fan_in), "bias_initializer": uniform(fan_in)}


def logistic(init):
    return [Flatten(), Dense(10, **starts(init, 40))]


def mlp(init):
    return [Flatten(), Dense(100, activation="relu", **starts(init, 40)),
            Dense(100, activation="relu", **starts(init, 100)), Dense(10, **starts(init, 100))]


def cnn(init):
    def conv(width, channels):
        return [ZeroPadding1D(1), Conv1D(25, width, strides=2, activation="relu", **starts(init, width * channels))]
    return [*conv(5, 1), *conv(3, 25), *conv(3, 25), Flatten(), Dense(10, **starts(init, 125))]


def gru(init, units=6):
    start = uniform(units)  # PyTorch's GRU: every weight and bias in ±1/sqrt(units)
    cell = {} if init == "keras" else dict(kernel_initializer=start, recurrent_initializer=start,
                                           bias_initializer=start)
    return [Bidirectional(GRU(units, return_sequences=True, **cell)), Flatten(), Dense(10, **starts(init, 80 * units))]


BUILDERS = {"logistic": logistic, "mlp": mlp, "cnn": cnn, "gru": gru}
# Chosen on a validation split (--compare-initialisations, below), not on the test split.
INITIALISATION = {"logistic": "paper", "mlp": "keras", "cnn": "paper", "gru": "keras"}


def train(name, init, seed, x, y, x_eval, y_eval):
    """(accuracy on (x_eval, y_eval), seconds, parameters) of one run: STEPS steps of Adam, batch BATCH."""
    dg.manual_seed(seed)
    model = Sequential([Input((40, 1)), *BUILDERS[name](init)])
    model.compile(optimizer=dg.optimizers.Adam(LEARNING_RATE),
                  loss=dg.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=max(1, STEPS * BATCH // len(x)), shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    return model.evaluate(x_eval, y_eval, batch_size=1000, verbose=0)[1], seconds, model.count_params()


# %% [markdown]
# ## How each model's start was chosen
#
# `--compare-initialisations` trains every model with both starts on the first 80% of the
# training set (the same 8,000 steps) and scores it on the remaining 20%, for each seed; the
# start with the higher mean validation accuracy is the one in `INITIALISATION`. The test
# split plays no part. With seeds 0-2 the CNN and the GRU tied (89.3% and 87.3% either way),
# so the comparison was run with seeds 0-4:
#
# | model | Keras's start | the paper's start | chosen |
# |---|---:|---:|---|
# | logistic | 32.1% | 32.8% | paper |
# | MLP | 65.5% | 63.9% | Keras |
# | CNN | 89.1% | 90.0% | paper |
# | GRU | 88.7% | 88.2% | Keras |
#
# (`python examples/mnist1d_benchmark.py --compare-initialisations`, one BLAS thread per
# process.)

# %%
if args.compare_initialisations:
    cut = int(0.8 * len(x_train))
    print(f"\nvalidation accuracy (trained on {cut} samples, scored on {len(x_train) - cut}), seeds {SEEDS}")
    for name in args.models.split(","):
        means = {}
        for init in ("keras", "paper"):
            scores = [train(name, init, seed, x_train[:cut], y_train[:cut], x_train[cut:], y_train[cut:])[0]
                      for seed in SEEDS]
            means[init] = np.mean(scores)
            print(f"{name:9s} {init:6s} {means[init]:7.1%}  (" + " / ".join(f"{a:.1%}" for a in scores) + ")",
                  flush=True)
        print(f"{name:9s} chosen: {max(means, key=means.get)}")
    sys.exit(0)  # a run of its own: no test figures


# %% [markdown]
# ## Training every model with the same recipe

# %%
rows = []
for name in args.models.split(","):
    runs = [train(name, INITIALISATION[name], seed, x_train, y_train, x_test, y_test) for seed in SEEDS]
    for seed, (accuracy, _, _) in zip(SEEDS, runs):
        print(f"{name:9s} seed {seed}: test accuracy {accuracy:.1%}", flush=True)
    rows.append((name, [r[0] for r in runs], runs[0][2], np.mean([r[1] for r in runs])))

# %% [markdown]
# ## The table
#
# A full run (seeds 0-4, one BLAS thread per process; the thread count changes the order of
# the additions in the matrix products, so other settings give other runs of the same spread)
# printed:
#
# | model | accuracy, mean of 5 seeds | paper | sd | each seed |
# |---|---:|---:|---:|---|
# | logistic | 31.8% | 32% | 1.3% | 31.4 / 31.0 / 33.9 / 30.0 / 32.5% |
# | MLP | 67.2% | 68% | 1.9% | 68.3 / 65.0 / 69.1 / 64.9 / 68.7% |
# | CNN | 93.0% | 94% | 0.9% | 91.3 / 94.1 / 93.1 / 93.0 / 93.6% |
# | GRU | 90.2% | 91% | 0.9% | 89.8 / 89.5 / 89.3 / 90.6 / 91.9% |
#
# Every row is within one point of the paper's single run. PyTorch with the paper's code on
# this machine (3 seeds, one thread) gave the MLP 67.0%, the CNN 93.0% and the GRU 91.4%: one
# run of any of them moves by one or two points with its seed.

# %%
print(f"\nMNIST-1D, {EPOCHS * (len(x_train) // BATCH)} steps of Adam(1e-2), batch {BATCH}, seeds {SEEDS}")
print(f"{'model':9s} {'accuracy':>9s} {'paper':>6s} {'parameters':>11s} {'seconds':>8s} {'sd':>6s}  each seed")
for name, accuracies, parameters, seconds in rows:
    each = " / ".join(f"{a:.1%}" for a in accuracies)
    print(f"{name:9s} {np.mean(accuracies):9.1%} {PAPER[name]:6.0%} {parameters:11,d} {seconds:8.1f} "
          f"{np.std(accuracies):6.1%}  {each}")

