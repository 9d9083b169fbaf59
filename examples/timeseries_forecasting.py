# %% [markdown]
# # Time-series forecasting: next year's sunspots
#
# The yearly mean sunspot number from 1700 to 2008 (309 values, NOAA; shipped with
# statsmodels) rises and falls with the Sun's roughly 11-year cycle, with peaks of very
# different heights. The task: from the last L = 24 years, forecast the next one.
#
# A forecaster must beat the **naive forecast** (next year = this year), which is hard
# to beat on smooth series. The models, all trained on sliding windows made by
# `timeseries_dataset_from_array`:
#
# * a `Dense(1)` on the window: the classic linear autoregression AR(L),
#   y_{t+1} = b + sum_k w_k y_{t+1-k};
# * a 1-D convolutional network (filters that slide along time);
# * an LSTM and a GRU, which read the window step by step and carry a state.
#
# The split is chronological (no shuffling across time: the future must not leak into
# training): 1700-1918 train, 1919-1961 validation, 1962-2008 test.
#
# Full setting (`python examples/timeseries_forecasting.py`, about 2 minutes on 2 CPU
# cores), test MAE in sunspot numbers over 1962-2008: naive 22.3, linear AR 15.5,
# Conv1D 16.4, LSTM 12.5, **GRU 11.8**: every model beats the naive forecast, the
# recurrent ones nearly halve its error. `--quick` (or
# `DEEPGRAD_EXAMPLE_QUICK=1`) trains a few epochs in seconds. The CSV is read from
# `$DEEPGRAD_DATA/timeseries/sunspots.csv` (default `~/.deepgrad/datasets`); figures go
# to `--output` (default `examples-output/timeseries_forecasting`).

# %%
import argparse
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import deepgrad as dg
from deepgrad.callbacks import EarlyStopping
from deepgrad.datasets.download import data_home
from deepgrad.layers import GRU, LSTM, Conv1D, Dense, Flatten, Input, MaxPooling1D
from deepgrad.models import Sequential
from deepgrad.utils import timeseries_dataset_from_array

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="a few epochs, a few seconds")
parser.add_argument("--output", default="examples-output/timeseries_forecasting", help="folder for the figures")
args, _ = parser.parse_known_args(sys.argv[1:])
QUICK = args.quick or os.environ.get("DEEPGRAD_EXAMPLE_QUICK") == "1"
output = Path(args.output)
output.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## The series
#
# One CSV line per year (`YEAR,SUNACTIVITY`). The values are scaled with the mean and
# standard deviation of the training years only, so nothing of the test period leaks in.

# %%
path = Path(data_home()) / "timeseries" / "sunspots.csv"
if not path.exists():
    raise FileNotFoundError(f"{path} is missing: set DEEPGRAD_DATA to the folder that holds timeseries/sunspots.csv "
                            "(the copy from statsmodels' datasets/sunspots, YEAR,SUNACTIVITY).")
table = np.loadtxt(path, delimiter=",", skiprows=1)
years, series = table[:, 0].astype(int), table[:, 1].astype(np.float32)
print(f"{len(series)} yearly values, {years[0]}-{years[-1]}; max {series.max():.0f} in {years[series.argmax()]}")

WINDOW = 24
n_train = int(np.searchsorted(years, 1919))          # first validation year
n_val = int(np.searchsorted(years, 1962))            # first test year
mean, std = series[:n_train].mean(), series[:n_train].std()
scaled = ((series - mean) / std)[:, None]            # (years, 1 feature)

# %% [markdown]
# ## Sliding windows
#
# `timeseries_dataset_from_array(data, targets, sequence_length)` cuts windows
# data[k : k + L] and pairs each with targets[k]; for a one-step forecast the targets
# are the series shifted by L, so window k is paired with the year right after it
# (and the last window ends one year before the data, whose last year is its target). A
# validation or test window takes its L years of context from before its period, so
# every target year belongs to exactly one split.

# %%
def windows(first_target, end, batch_size=32, shuffle=False):
    """Windows whose target years are first_target..end-1, each with the WINDOW years before it."""
    segment = scaled[first_target - WINDOW:end]
    # targets[k] = segment[k + WINDOW], the year after window k; the windows end one year before the
    # segment does (end_index), so the wrapped-around tail of the roll is never used
    targets = np.roll(segment[:, 0], -WINDOW)
    return timeseries_dataset_from_array(segment, targets, sequence_length=WINDOW, end_index=len(segment) - 1,
                                         batch_size=batch_size, shuffle=shuffle, seed=0)


def stacked(dataset):
    """All the windows and targets of a dataset as two arrays."""
    xs, ys = zip(*(dataset[i] for i in range(len(dataset))))
    return np.concatenate(xs), np.concatenate(ys)


train = windows(WINDOW, n_train, shuffle=True)
x_val, y_val = stacked(windows(n_train, n_val))
x_test, y_test = stacked(windows(n_val, len(series)))
test_years = years[n_val:n_val + len(y_test)]
print(f"windows: {sum(len(b[1]) for b in train)} train, {len(y_val)} validation, {len(y_test)} test "
      f"(test targets {test_years[0]}-{test_years[-1]}); one batch: x {train[0][0].shape}, y {train[0][1].shape}")

# %% [markdown]
# ## The naive baseline
#
# $$\hat y_{t+1} = y_t$$: the last value of each window. The mean absolute error
# MAE = mean |y - y_hat| is reported in sunspot numbers (the scaling undone).

# %%
def mae(scaled_forecast, scaled_truth):
    return float(np.mean(np.abs(scaled_forecast - scaled_truth)) * std)


forecasts = {"naive (last value)": x_test[:, -1, 0]}
results = {"naive (last value)": (mae(x_val[:, -1, 0], y_val), mae(x_test[:, -1, 0], y_test), 0)}

# %% [markdown]
# ## The neural forecasters
#
# Each reads a window of shape (24, 1) and outputs one number; mean squared error,
# Adam, early stopping on the validation MAE (the best epoch's weights are kept).

# %%
def build(kind):
    layers = {
        "linear AR(24)": [Flatten(), Dense(1)],
        "Conv1D": [Conv1D(16, 3, activation="relu"), MaxPooling1D(2), Conv1D(16, 3, activation="relu"),
                   Flatten(), Dense(16, activation="relu"), Dense(1)],
        "LSTM": [LSTM(32), Dense(1)],
        "GRU": [GRU(32), Dense(1)],
    }[kind]
    return Sequential([Input(shape=(WINDOW, 1))] + layers, name=kind.split()[0].lower())


for kind in ("linear AR(24)", "Conv1D", "LSTM", "GRU"):
    dg.manual_seed(0)
    model = build(kind)
    model.compile(optimizer=dg.optimizers.Adam(3e-3), loss="mse", metrics=["mae"])
    stop = EarlyStopping(monitor="val_mae", patience=25, restore_best_weights=True)
    history = model.fit(train, epochs=3 if QUICK else 300, validation_data=(x_val, y_val), callbacks=[stop],
                        verbose=0)
    forecasts[kind] = model.predict(x_test, verbose=0)[:, 0]
    results[kind] = (mae(model.predict(x_val, verbose=0)[:, 0], y_val), mae(forecasts[kind], y_test),
                     len(history.epoch))
    print(f"{kind}: {model.count_params()} parameters, {len(history.epoch)} epochs, test MAE {results[kind][1]:.1f}")

# %% [markdown]
# ## Results

# %%
print("\n| forecaster | validation MAE | test MAE | epochs |\n|---|---:|---:|---:|")
for kind, (val_mae, test_mae, epochs) in results.items():
    print(f"| {kind} | {val_mae:.1f} | {test_mae:.1f} | {epochs} |")
best = min(results, key=lambda k: results[k][1])
print(f"\nbest on the test years: {best}, MAE {results[best][1]:.1f} against the naive "
      f"{results['naive (last value)'][1]:.1f}")

fig, ax = plt.subplots(figsize=(10, 4))
ax.plot(years, series, color="lightgray", label="sunspot number")
ax.plot(test_years, y_test * std + mean, color="black", linewidth=2, label="actual (test)")
for kind in ("naive (last value)", best):
    ax.plot(test_years, forecasts[kind] * std + mean, "--", linewidth=1.5, label=f"{kind} forecast")
ax.axvspan(years[n_train], years[n_val - 1], color="tab:blue", alpha=0.08, label="validation years")
ax.set_xlabel("year")
ax.set_ylabel("sunspot number")
ax.set_title("one-year-ahead forecasts on the test years")
ax.legend(loc="upper left", fontsize="small")
fig.savefig(output / "forecast.png", dpi=100, bbox_inches="tight")
plt.show()
plt.close("all")
print("figures saved:", ", ".join(sorted(p.name for p in output.glob("*.png"))))
