"""Optimizer benchmark: microseconds per update step, deepgrad against PyTorch CPU.

Two parameter sets, float32, gradients fixed (only the update is timed):

(a) the 784-256-128-10 MLP: 235,146 floats in 6 tensors;
(b) a 784-1024-256-10 MLP: 1,068,810 floats in 6 tensors (about 1M).

Contenders for SGD, SGD with momentum 0.9, Adam and AdamW (Keras defaults, lr 1e-3):
deepgrad on a ParameterBuffer (the flat path a model uses), deepgrad on loose tensors
(the per-variable path), PyTorch's default implementation and PyTorch with fused=True.
All run in one process, interleaved round by round, so machine load hits them alike; the
table reports the median over rounds and each time's ratio to PyTorch's default step.

PyTorch runs with as many threads as there are cores (its default; NumPy's element-wise
ufuncs use one). Run: ``python benchmarks/optimizers.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

import deepgrad as dg
from deepgrad import optimizers

SHAPES = {
    "(a) 784-256-128-10": [(784, 256), (256,), (256, 128), (128,), (128, 10), (10,)],
    "(b) 784-1024-256-10": [(784, 1024), (1024,), (1024, 256), (256,), (256, 10), (10,)],
}
LEARNING_RATE = 1e-3


def deepgrad_factories():
    return {
        "SGD": lambda: optimizers.SGD(learning_rate=LEARNING_RATE),
        "momentum": lambda: optimizers.SGD(learning_rate=LEARNING_RATE, momentum=0.9),
        "Adam": lambda: optimizers.Adam(learning_rate=LEARNING_RATE),
        "AdamW": lambda: optimizers.AdamW(learning_rate=LEARNING_RATE),
    }


def torch_factories(**flags):
    return {
        "SGD": lambda ps: torch.optim.SGD(ps, lr=LEARNING_RATE, **flags),
        "momentum": lambda ps: torch.optim.SGD(ps, lr=LEARNING_RATE, momentum=0.9, **flags),
        "Adam": lambda ps: torch.optim.Adam(ps, lr=LEARNING_RATE, eps=1e-7, **flags),
        "AdamW": lambda ps: torch.optim.AdamW(ps, lr=LEARNING_RATE, eps=1e-7, weight_decay=0.004, **flags),
    }


def deepgrad_step(shapes, make_optimizer, buffered, rng):
    variables = [dg.tensor(rng.standard_normal(s, dtype=np.float32) * 0.05, requires_grad=True) for s in shapes]
    if buffered:
        dg.ParameterBuffer(variables)
    for v in variables:
        gradient = rng.standard_normal(v.shape, dtype=np.float32) * 0.01
        if v._grad_view is not None:
            v.grad[...] = gradient
        else:
            v.grad = gradient
    optimizer = make_optimizer()
    optimizer.step(variables)  # builds the state outside the timed region
    return lambda: optimizer.step(variables)


def torch_step(shapes, make_optimizer, rng):
    params = [torch.nn.Parameter(torch.from_numpy(rng.standard_normal(s, dtype=np.float32) * 0.05))
              for s in shapes]
    for p in params:
        p.grad = torch.from_numpy(rng.standard_normal(p.shape, dtype=np.float32) * 0.01)
    optimizer = make_optimizer(params)
    optimizer.step()
    return optimizer.step


def time_per_call(step, calls):
    start = time.perf_counter()
    for _ in range(calls):
        step()
    return (time.perf_counter() - start) / calls * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20, help="steps per contender per round")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(0)
    print(f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"{args.rounds} rounds x {args.calls} steps; median microseconds per step\n")
    for set_name, shapes in SHAPES.items():
        total = sum(int(np.prod(s)) for s in shapes)
        contenders = {}
        for opt_name, make in deepgrad_factories().items():
            contenders[(opt_name, "deepgrad buffer")] = deepgrad_step(shapes, make, True, rng)
            contenders[(opt_name, "deepgrad loose")] = deepgrad_step(shapes, make, False, rng)
        for label, flags in (("torch default", {}), ("torch fused", {"fused": True})):
            for opt_name, make in torch_factories(**flags).items():
                contenders[(opt_name, label)] = torch_step(shapes, make, rng)
        samples = {key: [] for key in contenders}
        for _ in range(args.rounds):
            for key, step in contenders.items():  # interleaved: every contender once per round
                samples[key].append(time_per_call(step, args.calls))
        medians = {key: statistics.median(values) for key, values in samples.items()}
        print(f"{set_name}: {total:,} float32 parameters in {len(shapes)} tensors")
        columns = ["deepgrad buffer", "deepgrad loose", "torch default", "torch fused"]
        print(f"  {'optimizer':10s}" + "".join(f"{c:>18s}" for c in columns) + f"{'buffer/default':>16s}"
              + f"{'buffer/fused':>14s}")
        for opt_name in deepgrad_factories():
            row = [medians[(opt_name, c)] for c in columns]
            print(f"  {opt_name:10s}" + "".join(f"{t:16.0f}us" for t in row)
                  + f"{row[0] / row[2]:15.2f}x" + f"{row[0] / row[3]:13.2f}x")
        print()


if __name__ == "__main__":
    main()
