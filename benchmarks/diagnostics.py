"""GradientMonitor overhead: a digits MLP fit with and without the monitor, interleaved.

Workload: load_digits (1,437 training images of 8x8), MLP 64-128-64-10 (ReLU, softmax
cross-entropy), Adam, batch 32, 10 epochs, validation on the held-out 20%. The two
variants run round-robin over the repeats (this machine's speed drifts between
minutes); the table shows the best and the median time of each and their ratio. The
target is an overhead of at most 10% with the default sampling (activation statistics
on every 4th batch); sample_every=1 (every batch) is shown as well.

Usage: python benchmarks/diagnostics.py [--repeats N] [--epochs N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import deepgrad as dg
from deepgrad.datasets import load_digits, train_test_split
from deepgrad.diagnostics import GradientMonitor
from deepgrad.layers import Dense
from deepgrad.models import Sequential


def fit_once(data, epochs, monitor):
    x_train, x_val, y_train, y_val = data
    dg.manual_seed(0)
    model = Sequential([Dense(128, activation="relu", input_dim=64), Dense(64, activation="relu"),
                        Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = [] if monitor is None else [monitor]
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_data=(x_val, y_val),
              callbacks=callbacks, verbose=0)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    x, y = load_digits()
    data = train_test_split(x, y, test_size=0.2, random_state=0)
    variants = {
        "fit": lambda: None,
        "fit + GradientMonitor()": lambda: GradientMonitor(),
        "fit + GradientMonitor(sample_every=1)": lambda: GradientMonitor(sample_every=1),
    }
    fit_once(data, 1, None)  # warm-up: imports, first allocations
    times = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, make in variants.items():
            times[name].append(fit_once(data, args.epochs, make()))
    base_best = min(times["fit"])
    base_median = statistics.median(times["fit"])
    print(f"digits MLP 64-128-64-10, Adam, batch 32, {args.epochs} epochs, {args.repeats} interleaved repeats")
    print(f"{'variant':40s} {'best s':>8s} {'median s':>9s} {'best ratio':>11s} {'median ratio':>13s}")
    for name, values in times.items():
        best, median = min(values), statistics.median(values)
        print(f"{name:40s} {best:8.3f} {median:9.3f} {best / base_best:11.3f} {median / base_median:13.3f}")
    overhead = min(times["fit + GradientMonitor()"]) / base_best - 1
    print(f"monitor overhead (best of {args.repeats}, default sampling): {overhead:+.1%} (target <= +10%)")


if __name__ == "__main__":
    main()
