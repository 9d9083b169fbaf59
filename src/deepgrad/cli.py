"""The ``deepgrad`` command line (also ``python -m deepgrad``).

``deepgrad demo`` runs the main job: the course in one run on bundled data.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _demo_tensor_mlp(epochs: int = 30, batch_size: int = 32, learning_rate: float = 0.1,
                     seed: int = 0) -> float:
    """Train a 64-64-10 MLP written directly with Tensors on the bundled digits; return test accuracy.

    Forward: a1 = relu(x W1 + b1); z2 = a1 W2 + b2; loss = cross-entropy(softmax(z2), y).
    Update: mini-batch gradient descent with momentum, v <- mu v - eta dL/dW; W <- W + v.
    """
    import deepgrad as dg
    from deepgrad.datasets import load_digits, train_test_split

    dg.manual_seed(seed)
    x, y = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    rng = np.random.default_rng(seed)
    n_in, n_hidden, n_out = x.shape[1], 64, 10
    # He initialization for the ReLU layer, Glorot for the output layer
    w1 = dg.tensor(rng.normal(0, np.sqrt(2 / n_in), (n_in, n_hidden)).astype(np.float32), requires_grad=True)
    b1 = dg.zeros(n_hidden, requires_grad=True)
    w2 = dg.tensor(rng.normal(0, np.sqrt(2 / (n_hidden + n_out)), (n_hidden, n_out)).astype(np.float32),
                   requires_grad=True)
    b2 = dg.zeros(n_out, requires_grad=True)
    params = [w1, b1, w2, b2]
    velocity = [np.zeros_like(p.data) for p in params]
    momentum = 0.9

    print(f"Digits MLP with raw Tensors: {len(x_train)} train / {len(x_test)} test samples, "
          f"{n_in}-{n_hidden}-{n_out}, ReLU, softmax cross-entropy, SGD (lr={learning_rate}, momentum={momentum})")
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        total = 0.0
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            xb, yb = dg.Tensor(x_train[batch]), y_train[batch]
            logits = (xb @ w1 + b1).relu() @ w2 + b2
            loss = dg.softmax_cross_entropy(logits, yb)
            for p in params:
                p.zero_grad()
            loss.backward()
            for p, v in zip(params, velocity):
                v *= momentum
                v -= learning_rate * p.grad
                p.data += v
            total += loss.item() * len(batch)
        print(f"  epoch {epoch:3d}/{epochs}  loss {total / len(x_train):.4f}")
    elapsed = time.perf_counter() - start
    with dg.no_grad():
        predictions = ((dg.Tensor(x_test) @ w1 + b1).relu() @ w2 + b2).numpy().argmax(axis=1)
    accuracy = float((predictions == y_test).mean())
    print(f"  test accuracy {accuracy:.2%}  (training wall time {elapsed:.2f} s)")
    return accuracy


def run_demo(args) -> int:
    """The main job: everything deepgrad can show, on bundled data."""
    start = time.perf_counter()
    _demo_tensor_mlp(seed=args.seed)
    print(f"demo finished in {time.perf_counter() - start:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepgrad", description="deepgrad: a transparent deep learning framework.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser("demo", help="run the course demo on bundled data")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.set_defaults(handler=run_demo)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``deepgrad`` console script; returns the exit code (0 ok, 2 usage, 1 failure)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 1
