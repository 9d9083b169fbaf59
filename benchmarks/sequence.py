"""Sequence-model benchmark: deepgrad against PyTorch CPU, interleaved in one process.

Workloads (issue 12's speed targets):
  S1  SST-2 sentiment, Embedding(64) + LSTM(64) + Dense(1), Adam, batch 32, one epoch of
      the 6,920 training sentences (whitespace vocabulary, padded/truncated to 50 ids);
  S2  the same with GRU(64), and with Bidirectional(LSTM(32)) (PyTorch: bidirectional=True);
  C1  MNIST-1D CNN (Greydanus 2020: 3 conv layers of 25 channels, kernel 5/3/3, stride 2,
      ReLU, Dense(10)), Adam lr 1e-2, batch 100, 8,000 steps;
  T1  a Transformer encoder block (MultiHeadAttention 4 heads of 32, residual, LayerNormalization,
      feed-forward 512 ReLU 128, residual, LayerNormalization; PyTorch's
      TransformerEncoderLayer, post-norm, no dropout), sequence 64, width 128, batch 32,
      one forward + backward.

Real data come from the data cache (``$DEEPGRAD_DATA``: ``load_sst2`` and ``load_mnist1d``);
when absent, synthetic data of the same shapes stand in (the table says which). Each
workload runs in pieces (an epoch slice, a block of steps, one pass) round-robin between
the two frameworks, so that the load of a shared machine hits both alike; each time is
the best piece over the rounds scaled to the whole workload, and ratios compare times of
this one run only. PyTorch uses as many threads as there are cores.

Measured on 2 shared cores (load about 2, PyTorch 2 threads), one run, before -> after the
time-major recurrent ops with compiled step kernels: S1 LSTM 2.80 s (1.34x PyTorch) -> 1.88 s
(0.84x); GRU 2.50 s (0.63x) -> 1.83 s (0.48x); BiLSTM 3.43 s (1.45x) -> 1.94 s (0.81x);
C1 CNN 14.7-15.3 s (0.64-0.75x); T1 1.0-1.4x.

Usage: python benchmarks/sequence.py [--eager] [--rounds N] [--quick]
"""

from __future__ import annotations

import argparse
import os
import re
import time

import numpy as np
import torch

import deepgrad as dg
from deepgrad import datasets, layers, losses, models, optimizers

THREADS = os.cpu_count() or 2
LENGTH = 50

JIT_COMPILE = "auto"  # deepgrad replays its recorded steps; --eager turns that off


# --------------------------------------------------------------------------- data

def sst2_ids(limit=None):
    """(ids (n, 50) int64 with 0 = padding, labels float32, vocabulary size, source)."""
    try:
        (x, y), _, _ = datasets.load_sst2(download=False)
        source = "SST-2"
    except (OSError, ValueError):
        rng = np.random.default_rng(0)
        x = np.array([" ".join(f"w{k}" for k in rng.integers(0, 14000, rng.integers(3, 50)))
                      for _ in range(6920)])
        y = rng.integers(0, 2, len(x))
        source = "synthetic"
    vocabulary = {}
    ids = np.zeros((len(x), LENGTH), np.int64)
    for row, sentence in enumerate(x):
        tokens = re.split(r"\s+", str(sentence).strip())[:LENGTH]
        ids[row, :len(tokens)] = [vocabulary.setdefault(token, len(vocabulary) + 1) for token in tokens]
    if limit:
        ids, y = ids[:limit], y[:limit]
    return ids, y.astype(np.float32), len(vocabulary) + 1, source


def mnist1d():
    try:
        (x, y), _ = datasets.load_mnist1d()
        source = "MNIST-1D"
    except (OSError, ValueError):
        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((4000, 40)), rng.integers(0, 10, 4000)
        source = "synthetic"
    return x.astype(np.float32)[..., None], y.astype(np.int64), source


# --------------------------------------------------------------------------- models

def deepgrad_text_model(vocabulary, cell):
    recurrent = {"LSTM": lambda: layers.LSTM(64), "GRU": lambda: layers.GRU(64),
                 "BiLSTM": lambda: layers.Bidirectional(layers.LSTM(32))}[cell]()
    model = models.Sequential([layers.Input((LENGTH,), dtype="int64"), layers.Embedding(vocabulary, 64),
                               recurrent, layers.Dense(1)])
    model.compile(optimizer="adam", loss=losses.BinaryCrossentropy(from_logits=True), jit_compile=JIT_COMPILE)
    return model


class TorchText(torch.nn.Module):
    def __init__(self, vocabulary, cell):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocabulary, 64)
        kind, units, both = {"LSTM": (torch.nn.LSTM, 64, False), "GRU": (torch.nn.GRU, 64, False),
                             "BiLSTM": (torch.nn.LSTM, 32, True)}[cell]
        self.recurrent = kind(64, units, batch_first=True, bidirectional=both)
        self.dense = torch.nn.Linear(64, 1)

    def forward(self, ids):
        out, _ = self.recurrent(self.embedding(ids))
        return self.dense(out[:, -1]).squeeze(1)


def deepgrad_cnn():
    model = models.Sequential([layers.Input((40, 1)),
                               layers.Conv1D(25, 5, strides=2, padding="same", activation="relu"),
                               layers.Conv1D(25, 3, strides=2, padding="same", activation="relu"),
                               layers.Conv1D(25, 3, strides=2, padding="same", activation="relu"),
                               layers.Flatten(), layers.Dense(10)])
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-2),
                  loss=losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=JIT_COMPILE)
    return model


def torch_cnn():
    return torch.nn.Sequential(torch.nn.Conv1d(1, 25, 5, 2, 2), torch.nn.ReLU(), torch.nn.Conv1d(25, 25, 3, 2, 1),
                               torch.nn.ReLU(), torch.nn.Conv1d(25, 25, 3, 2, 1), torch.nn.ReLU(),
                               torch.nn.Flatten(), torch.nn.Linear(125, 10))


def torch_epochs(model, x, y, batch_size, loss_fn, optimizer, steps):
    """``steps`` training steps over (x, y) in order, wrapping around; returns the seconds taken."""
    start = time.perf_counter()
    n = len(x)
    for step in range(steps):
        first = (step * batch_size) % n
        optimizer.zero_grad()
        loss = loss_fn(model(x[first:first + batch_size]), y[first:first + batch_size])
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def deepgrad_steps(model, x, y, batch_size, steps):
    n_samples = steps * batch_size
    reps = -(-n_samples // len(x))
    x, y = np.concatenate([x] * reps)[:n_samples], np.concatenate([y] * reps)[:n_samples]
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
    return time.perf_counter() - start


# --------------------------------------------------------------------------- workloads

def text_workload(cell, ids, labels, vocabulary, pieces):
    """Runners (deepgrad, torch) that each train ``1/pieces`` of an epoch, and the scale to one epoch."""
    steps = -(-len(ids) // 32)
    per_piece = max(1, steps // pieces)
    dg_model = deepgrad_text_model(vocabulary, cell)
    t_model = TorchText(vocabulary, cell)
    t_opt = torch.optim.Adam(t_model.parameters(), lr=1e-3)
    t_ids, t_labels = torch.from_numpy(ids), torch.from_numpy(labels)
    loss = torch.nn.BCEWithLogitsLoss()
    return ((lambda: deepgrad_steps(dg_model, ids, labels[:, None], 32, per_piece)),
            (lambda: torch_epochs(t_model, t_ids, t_labels, 32, loss, t_opt, per_piece)), steps / per_piece)


def cnn_workload(x, y, steps, pieces):
    per_piece = max(1, steps // pieces)
    dg_model = deepgrad_cnn()
    t_model = torch_cnn()
    t_opt = torch.optim.Adam(t_model.parameters(), lr=1e-2)
    t_x, t_y = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 2, 1))), torch.from_numpy(y)
    loss = torch.nn.CrossEntropyLoss()
    return ((lambda: deepgrad_steps(dg_model, x, y, 100, per_piece)),
            (lambda: torch_epochs(t_model, t_x, t_y, 100, loss, t_opt, per_piece)), steps / per_piece)


def transformer_workload():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 64, 128)).astype(np.float32)
    attention = layers.MultiHeadAttention(num_heads=4, key_dim=32)
    norm_1, norm_2 = layers.LayerNormalization(), layers.LayerNormalization()
    ff_1, ff_2 = layers.Dense(512, activation="relu"), layers.Dense(128)

    def deepgrad_block():
        start = time.perf_counter()
        inputs = dg.tensor(x, requires_grad=True)
        h = norm_1(inputs + attention(inputs, inputs))
        out = norm_2(h + ff_2(ff_1(h)))
        out.sum().backward()
        return time.perf_counter() - start

    block = torch.nn.TransformerEncoderLayer(128, 4, dim_feedforward=512, dropout=0.0, batch_first=True)
    t_x = torch.from_numpy(x).requires_grad_()

    def torch_block():
        start = time.perf_counter()
        block(t_x).sum().backward()
        return time.perf_counter() - start

    return deepgrad_block, torch_block, 1.0


def measure(runners, rounds):
    deepgrad_run, torch_run, scale = runners
    best = [float("inf"), float("inf")]
    deepgrad_run(), torch_run()  # warm-up: compilation, allocation, thread start
    for _ in range(rounds):
        best[0] = min(best[0], deepgrad_run())
        best[1] = min(best[1], torch_run())
    return best[0] * scale, best[1] * scale


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="pieces timed per framework (best is kept)")
    parser.add_argument("--quick", action="store_true", help="an eighth of SST-2, 400 CNN steps")
    parser.add_argument("--eager", action="store_true",
                        help="deepgrad with compile(jit_compile=False): no recorded, replayed steps")
    args = parser.parse_args(argv)
    global JIT_COMPILE
    JIT_COMPILE = False if args.eager else "auto"
    torch.set_num_threads(THREADS)
    dg.manual_seed(0)
    torch.manual_seed(0)
    ids, labels, vocabulary, text_source = sst2_ids(865 if args.quick else None)
    x1d, y1d, cnn_source = mnist1d()
    cnn_steps = 400 if args.quick else 8000
    print(f"deepgrad vs PyTorch {torch.__version__} CPU ({THREADS} threads); best piece of {args.rounds} "
          "rounds scaled to the workload; shared machines are noisy: compare within this run only")
    print(f"{'workload':<52} {'deepgrad s':>11} {'PyTorch s':>10} {'ratio':>6}", flush=True)
    sizes = {"LSTM": "LSTM(64)", "GRU": "GRU(64)", "BiLSTM": "BiLSTM(2x32)"}
    workloads = [(f"S{'1' if cell == 'LSTM' else '2'} {text_source} Embedding+{sizes[cell]}+Dense, 1 epoch",
                  lambda cell=cell: text_workload(cell, ids, labels, vocabulary, 4), args.rounds)
                 for cell in ("LSTM", "GRU", "BiLSTM")]
    workloads.append((f"C1 {cnn_source} CNN, {cnn_steps} steps", lambda: cnn_workload(x1d, y1d, cnn_steps, 8),
                      args.rounds))
    workloads.append(("T1 Transformer block fwd+bwd (32x64x128)", transformer_workload, 3 * args.rounds))
    for name, make, rounds in workloads:
        ours, theirs = measure(make(), rounds)
        print(f"{name:<52} {ours:>11.3f} {theirs:>10.3f} {ours / theirs:>6.2f}", flush=True)

if __name__ == "__main__":
    main()
