# %% [markdown]
# # Optimizers compared, and learning-rate schedules
#
# Every optimizer of the course follows the gradient downhill; they differ in how they
# turn the gradient g_t into a step:
#
# | optimizer | update |
# |---|---|
# | (mini-batch) SGD | w <- w - eta g |
# | momentum | v <- mu v - eta g;  w <- w + v (a ball rolling downhill keeps its speed) |
# | Nesterov | the gradient is taken at the look-ahead point w + mu v |
# | AdaGrad | s <- s + g^2;  w <- w - eta g / sqrt(s + eps) (rarely moved weights get larger steps; the rate decays) |
# | RMSprop | s <- rho s + (1 - rho) g^2;  w <- w - eta g / sqrt(s + eps) (a moving average: no decay to 0) |
# | AdaDelta | RMSprop with the step scaled by the RMS of past updates (no learning rate needed) |
# | Adam | m <- b1 m + (1 - b1) g, s <- b2 s + (1 - b2) g^2, bias-corrected; w <- w - eta m / (sqrt(s) + eps) |
# | Nadam, Adamax | Adam with Nesterov momentum; Adam with the infinity norm |
#
# Part 1 draws their paths on a 2-D ravine (a valley much steeper across than along),
# part 2 trains the same MLP from the same initial weights with each of them and compares
# the loss curves, part 3 shows the learning-rate schedules and what one buys.
#
# Full setting (`python examples/optimizers_compared.py`, about 1 minute on 2 CPU
# cores), 30 epochs on the bundled digits: final training losses from 0.0001 (RMSprop)
# and 0.0003 (momentum) to 0.013 (plain SGD); test accuracies from 96.1% (plain SGD) to
# **97.5% (momentum)**. On this easy problem no schedule beats momentum's constant rate
# (96.4-97.5%): schedules pay off on longer, noisier training. `--quick` (or
# `DEEPGRAD_EXAMPLE_QUICK=1`) runs 3 epochs in seconds.
# Figures go to `--output` (default `examples-output/optimizers_compared`).

# %%
import argparse
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import deepgrad as dg
from deepgrad import optimizers
from deepgrad.datasets import load_digits, standardize, train_test_split
from deepgrad.layers import Dense, Input
from deepgrad.models import Sequential
from deepgrad.optimizers import schedules

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="3 epochs, a few seconds")
parser.add_argument("--output", default="examples-output/optimizers_compared", help="folder for the figures")
args, _ = parser.parse_known_args(sys.argv[1:])
QUICK = args.quick or os.environ.get("DEEPGRAD_EXAMPLE_QUICK") == "1"
output = Path(args.output)
output.mkdir(parents=True, exist_ok=True)

# Each optimizer with a learning rate in its usual range (AdaDelta's 1.0 is the paper's:
# its step size comes from its own statistics; Keras' default 0.001 barely moves).
OPTIMIZERS = {
    "SGD": lambda: optimizers.SGD(learning_rate=0.05),
    "momentum": lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9),
    "Nesterov": lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    "AdaGrad": lambda: optimizers.Adagrad(learning_rate=0.05),
    "AdaDelta": lambda: optimizers.Adadelta(learning_rate=1.0),
    "RMSprop": lambda: optimizers.RMSprop(learning_rate=0.001),
    "Adam": lambda: optimizers.Adam(learning_rate=0.001),
    "Nadam": lambda: optimizers.Nadam(learning_rate=0.001),
    "Adamax": lambda: optimizers.Adamax(learning_rate=0.002),
}

# %% [markdown]
# ## 1. Paths on a ravine
#
# f(w) = 0.05 w_1^2 + w_2^2: twenty times steeper across the valley (w_2) than along it
# (w_1). Plain gradient descent zig-zags across and crawls along; momentum accumulates
# the consistent w_1 direction and damps the zig-zag; the adaptive methods divide each
# coordinate by its own gradient scale, so both move at similar speeds. Each
# optimizer takes 60 steps from (-9, 2), using deepgrad's PyTorch-style
# `loss.backward(); optimizer.step([w]); optimizer.zero_grad([w])`. (Learning rates
# here suit this function, not the network below.) AdaDelta's first steps are about
# sqrt(epsilon) times the gradient and grow only as its running average of past updates
# grows: on this small problem it has barely started after 60 steps.

# %%
RAVINE_RATES = {"SGD": 0.9, "momentum": 0.1, "Nesterov": 0.1, "AdaGrad": 1.0, "AdaDelta": 1.0,
                "RMSprop": 0.3, "Adam": 0.3, "Nadam": 0.3, "Adamax": 0.3}
scale = dg.tensor([0.05, 1.0])
paths = {}
for name, rate in RAVINE_RATES.items():
    optimizer = OPTIMIZERS[name]()
    optimizer.learning_rate = rate
    w = dg.tensor([-9.0, 2.0], requires_grad=True)
    path = [w.numpy().copy()]
    for _ in range(60):
        loss = (scale * w * w).sum()
        loss.backward()
        optimizer.step([w])
        optimizer.zero_grad([w])
        path.append(w.numpy().copy())
    paths[name] = np.array(path)
    print(f"{name:>9}: after 60 steps w = ({path[-1][0]:+.3f}, {path[-1][1]:+.3f}), "
          f"f(w) = {float((scale.numpy() * path[-1] ** 2).sum()):.2e}")

grid_1, grid_2 = np.meshgrid(np.linspace(-10, 2, 200), np.linspace(-3, 3, 200))
fig, axes = plt.subplots(3, 3, figsize=(13, 8), sharex=True, sharey=True)
for ax, (name, path) in zip(axes.ravel(), paths.items()):
    ax.contour(grid_1, grid_2, 0.05 * grid_1 ** 2 + grid_2 ** 2, levels=15, colors="lightgray", linewidths=0.7)
    ax.plot(path[:, 0], path[:, 1], "o-", markersize=2, linewidth=1)
    ax.plot(0, 0, "k*", markersize=10)
    ax.set_title(f"{name} (lr {RAVINE_RATES[name]:g})")
fig.suptitle("60 steps on f(w) = 0.05 w1^2 + w2^2 from (-9, 2)")
fig.tight_layout()
fig.savefig(output / "ravine_paths.png", dpi=100, bbox_inches="tight")
plt.show()

# %% [markdown]
# ## 2. The same network, nine optimizers
#
# A 64-64-64-10 ReLU MLP on the digits (8x8 images), mini-batches of 32, the same
# initial weights for every run (`get_weights` once, `set_weights` before each).

# %%
x, y = load_digits()
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
x_train, x_test = standardize(x_train, x_test)
EPOCHS = 3 if QUICK else 30


def make_mlp():
    return Sequential([Input(shape=(64,)), Dense(64, activation="relu"), Dense(64, activation="relu"),
                       Dense(10, activation="softmax")])


dg.manual_seed(0)
initial_weights = make_mlp().get_weights()


def train(optimizer, epochs=EPOCHS):
    """Train the MLP from the shared initial weights; (history, test accuracy)."""
    dg.manual_seed(1)  # the same batch order for every optimizer
    model = make_mlp()
    model.set_weights(initial_weights)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=0)
    return history, model.evaluate(x_test, y_test, verbose=0)[1]


curves, results = {}, {}
for name, make in OPTIMIZERS.items():
    history, accuracy = train(make())
    curves[name] = history.history["loss"]
    results[name] = (curves[name][-1], accuracy)
    print(f"{name:>9}: final training loss {curves[name][-1]:.4f}, test accuracy {accuracy:.2%}")

print(f"\n| optimizer | training loss after {EPOCHS} epochs | test accuracy |\n|---|---:|---:|")
for name, (final_loss, accuracy) in results.items():
    print(f"| {name} | {final_loss:.4f} | {accuracy:.2%} |")

fig, ax = plt.subplots(figsize=(8, 5))
for name, curve in curves.items():
    ax.plot(range(1, len(curve) + 1), curve, marker="o" if QUICK else None, label=name)
ax.set_yscale("log")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss (cross-entropy, log scale)")
ax.set_title("digits MLP: the same start, nine optimizers")
ax.legend(ncol=3, fontsize="small")
fig.savefig(output / "loss_curves.png", dpi=100, bbox_inches="tight")
plt.show()

# %% [markdown]
# ## 3. Learning-rate schedules
#
# A large rate early covers ground fast; a small rate late settles into a minimum instead
# of bouncing around it. A schedule eta(step) passed as the optimizer's `learning_rate`
# changes it every step:
#
# * exponential decay: eta_0 r^(step / s);
# * piecewise constant: fixed values between boundaries (the classic "divide by 10");
# * cosine decay: eta_0 (1 + cos(pi step / T)) / 2; with restarts it starts over, each
#   cycle longer (SGDR);
# * one-cycle: a warm-up to a peak, then an anneal far below the start.

# %%
steps_per_epoch = -(-len(x_train) // 32)
total_steps = EPOCHS * steps_per_epoch
SCHEDULES = {
    "exponential": schedules.ExponentialDecay(0.05, decay_steps=total_steps // 4, decay_rate=0.5),
    "piecewise constant": schedules.PiecewiseConstantDecay([total_steps // 2, 3 * total_steps // 4],
                                                           [0.05, 0.005, 0.0005]),
    "cosine": schedules.CosineDecay(0.05, decay_steps=total_steps),
    "cosine with restarts": schedules.CosineDecayRestarts(0.05, first_decay_steps=total_steps // 7),
    "one-cycle": schedules.OneCycleDecay(0.1, total_steps=total_steps),
}
fig, ax = plt.subplots(figsize=(8, 4))
steps = np.arange(total_steps)
for name, schedule in SCHEDULES.items():
    ax.plot(steps, [float(schedule(s)) for s in steps], label=name)
ax.set_xlabel("step")
ax.set_ylabel("learning rate")
ax.set_title(f"schedules over {EPOCHS} epochs of {steps_per_epoch} steps")
ax.legend()
fig.savefig(output / "schedules.png", dpi=100, bbox_inches="tight")
plt.show()

# %% [markdown]
# The same SGD with momentum, at a constant rate and with each schedule:

# %%
schedule_results = {"constant 0.05": results["momentum"][1]}
for name, schedule in SCHEDULES.items():
    _, schedule_results[name] = train(optimizers.SGD(learning_rate=schedule, momentum=0.9))
print("\n| SGD with momentum, learning rate | test accuracy |\n|---|---:|")
for name, accuracy in schedule_results.items():
    print(f"| {name} | {accuracy:.2%} |")
plt.close("all")
print("figures saved:", ", ".join(sorted(p.name for p in output.glob("*.png"))))
