# %% [markdown]
# # Why LSTM exists: the vanishing gradient through time, shown
#
# A plain recurrent network (SimpleRNN) passes its gradient back through time by
# multiplying it, once per step, by the Jacobian diag(f'(z_t)) U^T: over many steps the
# product shrinks geometrically, and the first steps of a long sequence receive almost
# no learning signal. The LSTM's cell state is updated additively, c_t = f c_{t-1} + i g,
# so dc_t/dc_{t-1} = f: with open forget gates the gradient crosses many steps intact.
#
# The task makes this matter: sequences of 50 steps of noise, and the class is decided
# by the sign of the **first** step only. Both models have 16 units and see the same data;
# `GradientMonitor` records ||dL/dh_t|| for every step t.
#
# Run `python examples/vanishing_gradients_through_time.py` (about a minute), or with
# `--quick` for a few seconds on a small slice.

# %%
import argparse
import sys

import numpy as np

import deepgrad as dg
from deepgrad.diagnostics import GradientMonitor, diagnose
from deepgrad.layers import LSTM, Dense, Input, SimpleRNN
from deepgrad.models import Sequential
from deepgrad.plot import plot_gradients_through_time

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="a small slice, a few seconds")
parser.add_argument("--save", default=None, help="save the figure to this file")
args, _ = parser.parse_known_args(sys.argv[1:])

STEPS = 50
n_train, epochs = (256, 2) if args.quick else (3000, 12)


def long_dependency_data(n, seed):
    """x: (n, 50, 1) Gaussian noise; y = 1 when the first step is positive, else 0."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, size=(n, STEPS, 1)).astype(np.float32)
    y = (x[:, 0, 0] > 0).astype(np.float32)
    x[:, 0, 0] = np.where(y > 0, 1.0, -1.0)  # the decisive step, clearly signed
    return x, y


x_train, y_train = long_dependency_data(n_train, 0)
x_test, y_test = long_dependency_data(1000, 1)

# %% [markdown]
# ## The same experiment for both cells

# %%
results = {}
for cell in (SimpleRNN, LSTM):
    dg.manual_seed(0)
    model = Sequential([Input((STEPS, 1)), cell(16, name=cell.__name__.lower()), Dense(1, activation="sigmoid")])
    model.compile(optimizer=dg.optimizers.Adam(1e-2), loss="binary_crossentropy", metrics=["accuracy"])
    monitor = GradientMonitor(sample_every=1)
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=64, callbacks=[monitor], verbose=0)
    accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    norms = monitor.time_gradients[cell.__name__.lower()][0]  # the first epoch: before either has learned
    results[cell.__name__] = {"accuracy": accuracy, "monitor": monitor, "history": history,
                              "first_to_last": norms[0] / norms[-1]}
    print(f"{cell.__name__:9s} test accuracy {accuracy:.3f}; in epoch 1 ||dL/dh_1|| / ||dL/dh_50|| = "
          f"{norms[0] / norms[-1]:.2e}")
    print(diagnose(model, history, monitor))

# %% [markdown]
# ## Gradient through time, side by side
#
# The curves of the first epoch, before either model has learned: how much of the
# gradient that enters at step 50 (the loss) reaches step 1 (where the answer is).
# The printed ratios and test accuracies above are computed by this run, not written in.

# %%
plt = dg.plot._pyplot()
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, (name, result) in zip(axes, results.items()):
    plot_gradients_through_time(result["monitor"], epoch=0, ax=ax,
                                title=f"{name}: test accuracy {result['accuracy']:.2f}")
if args.save:
    fig.savefig(args.save, dpi=100, bbox_inches="tight")

# %%
learner = max(results, key=lambda name: results[name]["accuracy"])
print(f"Which one learns the dependency on step 1 of {STEPS}: {learner} "
      f"({results[learner]['accuracy']:.1%} test accuracy; chance is 50%).")
