"""Engine benchmark: per-op overhead and one epoch of an MLP, against PyTorch CPU and raw NumPy.

1. Per-op overhead: 100,000 small ops (8-element vectors) forward and backward, as
   1,000 graphs of 100 ops each: h = tanh(h * w + b) repeated 33 times, then sum.
2. MLP 784-256-128-10 (ReLU, softmax cross-entropy, plain SGD with lr 0.01), batch
   128, one epoch over 60,000 synthetic float32 samples: deepgrad (loose tensors and
   a ParameterBuffer), PyTorch eager, and a raw NumPy loop with hand-written
   forward and backward. The runs are interleaved and repeated; the table reports
   the best and the median time and their ratio to the raw NumPy loop.

PyTorch runs with as many threads as NumPy's BLAS (one per core), so the matrix
products get the same hardware. Run: ``python benchmarks/engine.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

import deepgrad as dg

THREADS = os.cpu_count() or 1
SAMPLES, FEATURES, HIDDEN1, HIDDEN2, CLASSES = 60_000, 784, 256, 128, 10
BATCH, LEARNING_RATE = 128, 0.01
GRAPHS, STEPS_PER_GRAPH = 1_000, 33  # 33 steps x 3 ops + 1 sum = 100 ops per graph


# --------------------------------------------------------------------------- per-op overhead

def per_op(make_leaf, vectors):
    """Seconds for GRAPHS graphs of 100 small ops, forward and backward (same code for both
    frameworks: their tensors share these operators and methods)."""
    x, w, b = (make_leaf(v) for v in vectors)
    start = time.perf_counter()
    for _ in range(GRAPHS):
        h = x
        for _ in range(STEPS_PER_GRAPH):
            h = (h * w + b).tanh()
        h.sum().backward()
    return time.perf_counter() - start


# --------------------------------------------------------------------------- MLP epoch

def make_data(rng):
    inputs = rng.standard_normal((SAMPLES, FEATURES), dtype=np.float32)
    teacher = rng.standard_normal((FEATURES, CLASSES), dtype=np.float32)
    labels = (inputs @ teacher).argmax(axis=1)
    return inputs, labels


def init_weights(rng):
    """He-normal weights and zero biases, shared by every implementation."""
    sizes = [FEATURES, HIDDEN1, HIDDEN2, CLASSES]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append((rng.standard_normal((fan_in, fan_out)) * np.sqrt(2 / fan_in)).astype(np.float32))
        params.append(np.zeros(fan_out, dtype=np.float32))
    return params


def epoch_numpy(inputs, labels, initial):
    """Raw NumPy: the forward pass and the chain rule written out by hand."""
    w1, b1, w2, b2, w3, b3 = (p.copy() for p in initial)
    start = time.perf_counter()
    for i in range(0, SAMPLES, BATCH):
        x, y = inputs[i:i + BATCH], labels[i:i + BATCH]
        n = x.shape[0]
        z1 = x @ w1 + b1
        a1 = np.maximum(z1, 0)
        z2 = a1 @ w2 + b2
        a2 = np.maximum(z2, 0)
        z3 = a2 @ w3 + b3
        shifted = z3 - z3.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sums = exp.sum(axis=1, keepdims=True)
        loss = (np.log(sums[:, 0]) - shifted[np.arange(n), y]).mean()
        dz3 = exp / sums
        dz3[np.arange(n), y] -= 1
        dz3 /= n
        dw3, db3 = a2.T @ dz3, dz3.sum(axis=0)
        dz2 = (dz3 @ w3.T) * (z2 > 0)
        dw2, db2 = a1.T @ dz2, dz2.sum(axis=0)
        dz1 = (dz2 @ w2.T) * (z1 > 0)
        dw1, db1 = x.T @ dz1, dz1.sum(axis=0)
        for p, g in ((w1, dw1), (b1, db1), (w2, dw2), (b2, db2), (w3, dw3), (b3, db3)):
            p -= LEARNING_RATE * g
    return time.perf_counter() - start, float(loss)


def _deepgrad_forward(x, y, w1, b1, w2, b2, w3, b3):
    a1 = (x @ w1 + b1).relu()
    a2 = (a1 @ w2 + b2).relu()
    return dg.softmax_cross_entropy(a2 @ w3 + b3, y)


def epoch_deepgrad(inputs, labels, initial):
    """deepgrad with loose parameter tensors, updated one by one."""
    params = [dg.tensor(p, requires_grad=True) for p in initial]
    start = time.perf_counter()
    for i in range(0, SAMPLES, BATCH):
        loss = _deepgrad_forward(dg.Tensor(inputs[i:i + BATCH]), labels[i:i + BATCH], *params)
        loss.backward()
        for p in params:
            p.data -= LEARNING_RATE * p.grad
            p.zero_grad()
    return time.perf_counter() - start, loss.item()


def epoch_deepgrad_buffer(inputs, labels, initial):
    """deepgrad with the parameters in one ParameterBuffer: one update over a flat array."""
    params = [dg.tensor(p, requires_grad=True) for p in initial]
    buffer = dg.ParameterBuffer(params)
    start = time.perf_counter()
    for i in range(0, SAMPLES, BATCH):
        loss = _deepgrad_forward(dg.Tensor(inputs[i:i + BATCH]), labels[i:i + BATCH], *params)
        loss.backward()
        buffer.data -= LEARNING_RATE * buffer.grad
        buffer.zero_grad()
    return time.perf_counter() - start, loss.item()


def epoch_torch(inputs, labels, initial):
    """PyTorch eager with the same hand-built model and update."""
    params = [torch.tensor(p, requires_grad=True) for p in initial]
    w1, b1, w2, b2, w3, b3 = params
    inputs_t, labels_t = torch.from_numpy(inputs), torch.from_numpy(labels)
    start = time.perf_counter()
    for i in range(0, SAMPLES, BATCH):
        x, y = inputs_t[i:i + BATCH], labels_t[i:i + BATCH]
        a1 = torch.relu(x @ w1 + b1)
        a2 = torch.relu(a1 @ w2 + b2)
        loss = torch.nn.functional.cross_entropy(a2 @ w3 + b3, y)
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LEARNING_RATE * p.grad
                p.grad = None
    return time.perf_counter() - start, loss.item()


# --------------------------------------------------------------------------- report

def _row(name, times, reference):
    best, median = min(times), statistics.median(times)
    return (f"{name:<34}{best * 1e3:>10.1f}{median * 1e3:>10.1f}"
            f"{best / min(reference):>10.2f}x{median / statistics.median(reference):>10.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats per benchmark")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    rng = np.random.default_rng(0)

    vectors = [rng.standard_normal(8, dtype=np.float32) * 0.5 for _ in range(3)]
    leaf_makers = {"deepgrad": lambda v: dg.tensor(v, requires_grad=True),
                   "PyTorch eager": lambda v: torch.tensor(v, requires_grad=True)}
    per_op_times = {name: [] for name in leaf_makers}
    for _ in range(args.repeats):
        for name, make_leaf in leaf_makers.items():
            per_op_times[name].append(per_op(make_leaf, vectors))
    ops = GRAPHS * (3 * STEPS_PER_GRAPH + 1)
    print(f"\nPer-op overhead: {ops:,} small ops forward + backward "
          f"({THREADS} threads; ratio to PyTorch eager)")
    print(f"{'':<34}{'best ms':>10}{'median ms':>10}{'best':>11}{'median':>11}{'us/op':>10}")
    for name, times in per_op_times.items():
        print(_row(name, times, per_op_times["PyTorch eager"]) + f"{min(times) / ops * 1e6:>10.2f}")

    inputs, labels = make_data(rng)
    initial = init_weights(rng)
    runs = {"raw NumPy loop": epoch_numpy, "deepgrad": epoch_deepgrad,
            "deepgrad (ParameterBuffer)": epoch_deepgrad_buffer, "PyTorch eager": epoch_torch}
    times = {name: [] for name in runs}
    losses = {}
    for _ in range(args.repeats):
        for name, run in runs.items():
            elapsed, losses[name] = run(inputs, labels, initial)
            times[name].append(elapsed)
    print(f"\nMLP {FEATURES}-{HIDDEN1}-{HIDDEN2}-{CLASSES}, batch {BATCH}, one epoch of {SAMPLES:,} "
          f"samples, SGD lr {LEARNING_RATE} ({args.repeats} interleaved repeats; ratio to raw NumPy)")
    print(f"{'':<34}{'best ms':>10}{'median ms':>10}{'best':>11}{'median':>11}{'last loss':>10}")
    for name in runs:
        print(_row(name, times[name], times["raw NumPy loop"]) + f"{losses[name]:>10.4f}")
    deepgrad_best = min(times["deepgrad"])
    print(f"\ndeepgrad / PyTorch eager (best): {deepgrad_best / min(times['PyTorch eager']):.2f}x")


if __name__ == "__main__":
    main()
