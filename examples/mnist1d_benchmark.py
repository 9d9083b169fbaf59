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
# The input is the signal as a sequence of 40 steps of one channel, (40, 1), channels last.
#
# Run `DEEPGRAD_DATA=... python examples/mnist1d_benchmark.py` (minutes: the CNN and GRU
# take longest), or with `--quick` for a few steps of each model.

# %%
import argparse
import os
import sys
import time

import numpy as np

import deepgrad as dg
from deepgrad.datasets import load_mnist1d
from deepgrad.layers import GRU, Bidirectional, Conv1D, Dense, Flatten, Input, ZeroPadding1D
from deepgrad.models import Sequential

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="a few steps of each model, seconds")
parser.add_argument("--models", default="logistic,mlp,cnn,gru", help="comma-separated subset of the rows")
parser.add_argument("--seed", type=int, default=0)
args, _ = parser.parse_known_args(sys.argv[1:])
args.quick = args.quick or os.environ.get("DEEPGRAD_EXAMPLE_QUICK") == "1"  # a notebook's sys.argv is the kernel's

(x_train, y_train), (x_test, y_test) = load_mnist1d()
x_train, x_test = x_train.astype(np.float32)[..., None], x_test.astype(np.float32)[..., None]
BATCH, LEARNING_RATE = 100, 1e-2
STEPS = 10 if args.quick else 8000
EPOCHS = max(1, STEPS * BATCH // len(x_train))
if args.quick:
    x_train, y_train = x_train[:STEPS * BATCH], y_train[:STEPS * BATCH]
PAPER = {"logistic": 0.32, "mlp": 0.68, "cnn": 0.94, "gru": 0.91}

# %% [markdown]
# ## The four models

# %%


def logistic():
    return [Flatten(), Dense(10)]


def mlp():
    return [Flatten(), Dense(100, activation="relu"), Dense(100, activation="relu"), Dense(10)]


def cnn():
    return [ZeroPadding1D(1), Conv1D(25, 5, strides=2, activation="relu"),
            ZeroPadding1D(1), Conv1D(25, 3, strides=2, activation="relu"),
            ZeroPadding1D(1), Conv1D(25, 3, strides=2, activation="relu"),
            Flatten(), Dense(10)]


def gru():
    return [Bidirectional(GRU(6, return_sequences=True)), Flatten(), Dense(10)]


BUILDERS = {"logistic": logistic, "mlp": mlp, "cnn": cnn, "gru": gru}

# %% [markdown]
# ## Training every model with the same recipe

# %%
rows = []
for name in args.models.split(","):
    dg.manual_seed(args.seed)
    model = Sequential([Input((40, 1)), *BUILDERS[name]()])
    model.compile(optimizer=dg.optimizers.Adam(LEARNING_RATE),
                  loss=dg.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=BATCH, epochs=EPOCHS, shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)[1]
    rows.append((name, accuracy, model.count_params(), seconds))
    print(f"{name:9s} test accuracy {accuracy:.1%}  ({seconds:.0f} s)", flush=True)

# %% [markdown]
# ## The table

# %%
print(f"\nMNIST-1D, {EPOCHS * (len(x_train) // BATCH)} steps of Adam(1e-2), batch {BATCH}")
print(f"{'model':9s} {'accuracy':>9s} {'paper':>6s} {'parameters':>11s} {'seconds':>8s}")
for name, accuracy, parameters, seconds in rows:
    print(f"{name:9s} {accuracy:9.1%} {PAPER[name]:6.0%} {parameters:11,d} {seconds:8.1f}")
