# %% [markdown]
# # Hyperparameter tuning: grid search and random search
#
# Parameters (weights, biases) are learned by gradient descent; **hyperparameters** are
# chosen before training: the number of hidden layers and of units, the learning rate,
# the dropout rate, the batch size, the number of epochs... They are tuned by training
# several models and keeping the one that does best on **validation** data (never the
# test data: that would make the test score optimistic).
#
# * **Grid search** tries every combination of a few values per hyperparameter: the
#   cost multiplies with each one added, and most trials repeat the values of the
#   hyperparameters that matter.
# * **Random search** (Bergstra & Bengio, 2012) draws each trial's values from ranges:
#   with the same budget it tries many more values of each hyperparameter, so it finds
#   good values of the few that matter faster. Rates are drawn on a log scale.
#
# `deepgrad.tuner` has KerasTuner's API: a function `build_model(hp)` declares the
# search space with `hp.Int`, `hp.Float`, `hp.Choice` while building the model; a tuner
# runs the trials (`search` takes `fit`'s arguments) and keeps the best.
#
# Full setting (`python examples/hyperparameter_tuning.py`, about 3 minutes on 2 CPU
# cores) on the bundled digits: the best grid trial (of 8) reaches a validation accuracy
# of 98.95%, the best random trial (of 12: 3 layers of 45 units, dropout 0.11, learning
# rate 0.0029) 99.30%; that model scores **96.4% test accuracy** (the winner of a search
# on 287 validation images is a little lucky: the test score is the honest one).
# `--quick` (or `DEEPGRAD_EXAMPLE_QUICK=1`) runs 3 short trials of each in seconds.
# Figures and trial files go to `--output` (default `examples-output/hyperparameter_tuning`).

# %%
import argparse
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import deepgrad as dg
from deepgrad.datasets import load_digits, standardize, train_test_split
from deepgrad.layers import Dense, Dropout, Input
from deepgrad.models import Sequential
from deepgrad.tuner import GridSearch, RandomSearch

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="3 short trials per tuner, a few seconds")
parser.add_argument("--output", default="examples-output/hyperparameter_tuning",
                    help="folder for the figures and the tuners' trial files")
args, _ = parser.parse_known_args(sys.argv[1:])
QUICK = args.quick or os.environ.get("DEEPGRAD_EXAMPLE_QUICK") == "1"
output = Path(args.output)
output.mkdir(parents=True, exist_ok=True)
EPOCHS = 3 if QUICK else 20

# %% [markdown]
# ## Three splits
#
# Training data to fit the weights, validation data to compare hyperparameters, test
# data looked at once, at the end.

# %%
x, y = load_digits()
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
x_train, x_val, y_train, y_val = train_test_split(x_train, y_train, test_size=0.2, stratify=y_train, random_state=1)
x_train, x_val, x_test = standardize(x_train, x_val, x_test)
print(f"{len(x_train)} training, {len(x_val)} validation, {len(x_test)} test images")

# %% [markdown]
# ## Grid search
#
# Two values each of the number of hidden layers, their units and the learning rate:
# 2 x 2 x 2 = 8 trials. `hp.Choice` lists the values.

# %%
def build_grid_model(hp):
    model = Sequential([Input(shape=(64,))])
    for _ in range(hp.Choice("layers", [1, 2])):
        model.add(Dense(hp.Choice("units", [16, 64]), activation="relu"))
    model.add(Dense(10, activation="softmax"))
    model.compile(optimizer=dg.optimizers.Adam(hp.Choice("learning_rate", [1e-3, 1e-2])),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


grid = GridSearch(build_grid_model, objective="val_accuracy", max_trials=3 if QUICK else None, seed=0,
                  directory=output, project_name="grid", overwrite=True)
grid.search_space_summary()
grid.search(x_train, y_train, validation_data=(x_val, y_val), epochs=EPOCHS, batch_size=32, verbose=0)


def trial_table(tuner, names):
    """Every finished trial of a tuner, best first: (values, score)."""
    trials = tuner.oracle.get_best_trials(len(tuner.oracle.trials))
    print("| " + " | ".join(names) + " | val_accuracy |\n|" + "---|" * (len(names) + 1))
    for trial in trials:
        values = trial.hyperparameters.values
        print("| " + " | ".join(f"{values[n]:.3g}" if isinstance(values[n], float) else str(values[n])
                                for n in names) + f" | {trial.score:.4f} |")
    return trials


grid_trials = trial_table(grid, ["layers", "units", "learning_rate"])
print(f"grid search: {len(grid_trials)} trials, best validation accuracy {grid_trials[0].score:.2%}")

# %% [markdown]
# ## Random search
#
# Wider ranges, one more hyperparameter (dropout), and each trial draws its values:
# `hp.Int("units", 16, 256, sampling="log")`, `hp.Float("learning_rate", 1e-4, 3e-1,
# sampling="log")`. The tuner's `seed` makes the draws repeatable.

# %%
def build_random_model(hp):
    model = Sequential([Input(shape=(64,))])
    units = hp.Int("units", 16, 256, sampling="log")
    dropout = hp.Float("dropout", 0.0, 0.5)
    for _ in range(hp.Int("layers", 1, 3)):
        model.add(Dense(units, activation="relu"))
        model.add(Dropout(dropout))
    model.add(Dense(10, activation="softmax"))
    model.compile(optimizer=dg.optimizers.Adam(hp.Float("learning_rate", 1e-4, 3e-1, sampling="log")),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


random_search = RandomSearch(build_random_model, objective="val_accuracy", max_trials=3 if QUICK else 12, seed=0,
                             directory=output, project_name="random", overwrite=True)
random_search.search(x_train, y_train, validation_data=(x_val, y_val), epochs=EPOCHS, batch_size=32, verbose=0)
random_trials = trial_table(random_search, ["layers", "units", "dropout", "learning_rate"])
print(f"random search: {len(random_trials)} trials, best validation accuracy {random_trials[0].score:.2%}")

# %% [markdown]
# Which hyperparameter mattered? The validation accuracy of each random trial against
# its learning rate: too small and 20 epochs are not enough, too large and Adam's
# steps overshoot.

# %%
rates = [t.hyperparameters.values["learning_rate"] for t in random_trials]
units = [t.hyperparameters.values["units"] for t in random_trials]
fig, ax = plt.subplots(figsize=(7, 4))
points = ax.scatter(rates, [t.score for t in random_trials], c=np.log2(units), cmap="viridis", s=60,
                    edgecolor="black")
fig.colorbar(points, ax=ax, label="log2(units)")
ax.set_xscale("log")
ax.set_xlabel("learning rate")
ax.set_ylabel("best validation accuracy")
ax.set_title("random search trials")
ax.grid(alpha=0.3)
fig.savefig(output / "random_search_trials.png", dpi=100, bbox_inches="tight")
plt.show()
plt.close("all")

# %% [markdown]
# ## The winner, on the test data
#
# `get_best_models` rebuilds the best trial's model with the weights of its best epoch;
# `get_best_hyperparameters` gives its values (to retrain on training + validation data,
# for instance). Only now is the test set used.

# %%
best_values = random_search.get_best_hyperparameters(1)[0].values
best_model = random_search.get_best_models(1)[0]
val_accuracy = best_model.evaluate(x_val, y_val, verbose=0)[1]
assert abs(val_accuracy - random_trials[0].score) < 1e-6  # the saved weights are those of the best epoch
test_loss, test_accuracy = best_model.evaluate(x_test, y_test, verbose=0)
print("best hyperparameters:", {k: round(v, 5) if isinstance(v, float) else v for k, v in best_values.items()})
print(f"best random-search model: test loss {test_loss:.4f}, test accuracy {test_accuracy:.2%}")
