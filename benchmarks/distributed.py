"""Data-parallel scaling: the MNIST MLP (W1) on 1 and 2 MPI ranks, measured, then projected to clusters.

Measured (each rank with one BLAS thread, ``mpiexec -n R`` launched from here): one epoch of
the 784-256-128-10 MLP with Adam on the 60,000 MNIST images (or random images with
``--synthetic``) at global batch 128 and 1024: time per epoch, the share of the step spent
in the gradient Allreduce, and the scaling efficiency E = T_1 / (R T_R).

Projected, on paper, from the measured compute time per sample t (1 rank, batch 1024) and
a ring Allreduce of the G gradient bytes over R ranks with link bandwidth b and per-message
latency a:

    allreduce(R) = 2 (R - 1) / R * G / b + 2 (R - 1) a
    step(R, B)   = (B / R) t + allreduce(R)          (a global batch of B samples)
    E(R, B)      = B t / (R step(R, B))
    B_80(R)      = the smallest B with E >= 0.8:  B >= 4 R allreduce(R) / t

Usage: python benchmarks/distributed.py [--synthetic] [--quick] [--latency-us 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

BATCHES = (128, 1024)
RANKS = (1, 2)
NETWORKS = {"10 Gb/s": 10e9 / 8, "100 Gb/s": 100e9 / 8}
PROJECTED_RANKS = (8, 64, 256)


def _data(synthetic, quick):
    if not synthetic:
        try:
            from deepgrad.datasets import mnist

            (x, y), _ = mnist.load_data()
            x = x.reshape(len(x), -1).astype(np.float32) / 255
        except (OSError, ValueError) as error:
            print(f"MNIST is not available ({error}); using random images.", file=sys.stderr)
            synthetic = True
    if synthetic:
        rng = np.random.default_rng(0)
        x, y = rng.random((60000, 784), dtype=np.float32), rng.integers(0, 10, 60000)
    if quick:
        x, y = x[:6000], y[:6000]
    return x, y.astype(np.int64)


def worker(args):
    """One rank: train one epoch per batch size, rank 0 writes the timings as JSON."""
    import deepgrad as dg
    from deepgrad import distribution, layers
    from deepgrad.models import Sequential

    parallel = distribution.DataParallel()
    distribution.set_distribution(parallel)
    spent = [0.0]
    reduce = parallel.allreduce

    def timed_allreduce(array):
        start = time.perf_counter()
        result = reduce(array)
        spent[0] += time.perf_counter() - start
        return result

    parallel.allreduce = timed_allreduce
    x, y = _data(args.synthetic, args.quick)
    results = {}
    for batch in BATCHES:
        dg.manual_seed(0)
        model = Sequential([layers.Input((784,)), layers.Dense(256, activation="relu"),
                            layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x[:batch * 2], y[:batch * 2], batch_size=batch, epochs=1, verbose=0)  # warm-up
        spent[0] = 0.0
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        results[batch] = {"epoch": time.perf_counter() - start, "allreduce": spent[0],
                          "parameters": model.count_params(), "samples": len(x)}
    if parallel.is_chief:
        with open(args.worker, "w") as out:
            json.dump(results, out)


def _launcher():
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    return shutil.which("mpiexec", path=path)


def measure(args):
    launcher = _launcher()
    if launcher is None:
        sys.exit("no mpiexec found: pip install 'deepgrad[mpi]' (mpi4py and the mpich wheel).")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    measured = {}
    for ranks in RANKS:
        with tempfile.TemporaryDirectory() as folder:
            out = os.path.join(folder, "result.json")
            command = [launcher, "-n", str(ranks), sys.executable, __file__, "--worker", out]
            command += [flag for flag, on in (("--synthetic", args.synthetic), ("--quick", args.quick)) if on]
            subprocess.run(command, env=env, check=True)
            with open(out) as result:
                measured[ranks] = {int(k): v for k, v in json.load(result).items()}
    return measured


def report(measured, latency):
    one = measured[1]
    print("\nmeasured: MLP 784-256-128-10, Adam, one epoch, one BLAS thread per rank")
    print(f"{'batch':>6} {'ranks':>6} {'epoch s':>9} {'allreduce share':>16} {'efficiency':>11}")
    for batch in BATCHES:
        for ranks in RANKS:
            row = measured[ranks][batch]
            efficiency = one[batch]["epoch"] / (ranks * row["epoch"])
            print(f"{batch:>6} {ranks:>6} {row['epoch']:>9.2f} {row['allreduce'] / row['epoch']:>15.1%} "
                  f"{efficiency:>11.2f}")
    base = one[1024]
    per_sample = base["epoch"] / base["samples"]
    gradient_bytes = 4 * base["parameters"]
    print(f"\nprojected: t = {per_sample * 1e6:.1f} us per sample (1 rank, batch 1024), "
          f"G = {gradient_bytes / 1e6:.2f} MB of float32 gradients, latency {latency * 1e6:.0f} us per message")
    print(f"{'network':>9} {'ranks':>6} {'allreduce ms':>13} " + " ".join(f"{'E@B=' + str(b):>9}" for b in BATCHES)
          + f" {'B for E>=0.8':>13} {'epoch s @B_80':>14}")
    for network, bandwidth in NETWORKS.items():
        for ranks in PROJECTED_RANKS:
            allreduce = 2 * (ranks - 1) / ranks * gradient_bytes / bandwidth + 2 * (ranks - 1) * latency
            efficiencies = [b * per_sample / (ranks * (b / ranks * per_sample + allreduce)) for b in BATCHES]
            needed = int(np.ceil(4 * ranks * allreduce / per_sample))
            epoch = base["samples"] / needed * (needed / ranks * per_sample + allreduce)
            print(f"{network:>9} {ranks:>6} {allreduce * 1e3:>13.3f} "
                  + " ".join(f"{e:>9.2f}" for e in efficiencies) + f" {needed:>13,} {epoch:>14.3f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true", help="random images instead of MNIST")
    parser.add_argument("--quick", action="store_true", help="6,000 images instead of 60,000")
    parser.add_argument("--latency-us", type=float, default=20.0, help="per-message latency of the projection")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    report(measure(args), args.latency_us * 1e-6)


if __name__ == "__main__":
    main()
