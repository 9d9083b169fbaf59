"""Tuner benchmark: trials per minute on the bundled digits, sequential against local Dask workers.

Workload: RandomSearch over a fixed small space (hidden units in {32, 64, 128}, learning
rate log-uniform in [1e-3, 1e-2], Adam), an MLP 64-units-10 with softmax, ``epochs`` per
trial on 80% of the 1,797 digits with the rest for validation. The same seed runs
sequentially (in this process) and on a LocalCluster of ``--workers`` single-threaded
worker processes; the cluster's start-up (and the workers' first import of deepgrad) is not
timed: it is paid once per session, or not at all with an existing cluster. The table also
checks that both runs found the same trials and scores.

Usage: python benchmarks/tuner.py [--trials N] [--epochs E] [--workers W]
"""

from __future__ import annotations

import argparse
import importlib
import os
import tempfile
import time

from deepgrad import optimizers
from deepgrad.datasets import load_digits
from deepgrad.layers import Dense
from deepgrad.models import Sequential
from deepgrad.tuner import RandomSearch


def build_digits_model(hp):
    model = Sequential([Dense(hp.Choice("units", [32, 64, 128]), activation="relu", input_dim=64),
                        Dense(10, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(hp.Float("learning_rate", 1e-3, 1e-2, sampling="log")),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def run(directory, name, trials, epochs, x, y, executor=None):
    tuner = RandomSearch(build_digits_model, objective="val_accuracy", max_trials=trials, seed=0,
                         directory=directory, project_name=name)
    start = time.perf_counter()
    tuner.search(x, y, epochs=epochs, batch_size=32, validation_split=0.2, verbose=0, executor=executor)
    seconds = time.perf_counter() - start
    outcome = [(t.hyperparameters.values, t.score) for t in tuner.oracle.trials.values()]
    return seconds, outcome, tuner.oracle.get_best_trials(1)[0].score


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    x, y = load_digits()
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        seconds, reference, best = run(directory, "sequential", args.trials, args.epochs, x, y)
        rows.append(("sequential (this process)", seconds, best))
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          host="127.0.0.1") as cluster, Client(cluster) as client:
            client.run(importlib.import_module, "deepgrad.tuner")  # worker start-up: imports, not trials
            seconds, outcome, best = run(directory, "dask", args.trials, args.epochs, x, y, executor=client)
        rows.append((f"Dask LocalCluster, {args.workers} workers", seconds, best))
    same = outcome == reference
    print(f"RandomSearch on digits: {args.trials} trials x {args.epochs} epochs, {os.cpu_count()} CPU cores")
    print(f"{'execution':<32} {'seconds':>8} {'trials/min':>11} {'speed-up':>9} {'best val_accuracy':>18}")
    base = rows[0][1]
    for label, seconds, best in rows:
        print(f"{label:<32} {seconds:8.2f} {60 * args.trials / seconds:11.1f} {base / seconds:8.2f}x {best:18.4f}")
    print(f"same trials and scores in both runs: {same}")


if __name__ == "__main__":
    main()
