"""GPU benchmark: one training epoch, deepgrad on CuPy against PyTorch CUDA eager, in one process.

Three workloads (the GPU issue's targets, float32, data synthetic with the real shapes, so the
timing does not depend on a download):

(a) MLP 784-256-128-10, ReLU, Adam, batch 128, 60,000 samples (MNIST's size);
(b) the Keras MNIST convnet: Conv2D 32 3x3 ReLU, MaxPool 2, Conv2D 64 3x3 ReLU, MaxPool 2,
    Flatten, Dropout 0.5, Dense 10 softmax; Adam, batch 128, 60,000 images 28x28x1;
(c) the SST-2 LSTM: Embedding 10,000 x 64 (mask_zero), LSTM 64, Dense 1 sigmoid; Adam, batch 64,
    67,349 sentences of 48 token ids.

Each contender first runs one warm-up epoch (CUDA kernels compile, memory pools fill), then
``--rounds`` timed epochs, interleaved so that the card's state hits both alike; the table gives
the median epoch in seconds and deepgrad's ratio to PyTorch (below 1: deepgrad is faster).
Every timed epoch ends with a device synchronization. Without CuPy seeing a GPU, or without a
CUDA build of PyTorch, the script says so and exits with status 2.

Run: ``python benchmarks/gpu.py [--rounds N] [--only mlp,convnet,lstm] [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import deepgrad as dg

WORKLOADS = ("mlp", "convnet", "lstm")


def _data(name, quick):
    rng = np.random.default_rng(0)
    n = {"mlp": 60_000, "convnet": 60_000, "lstm": 67_349}[name] // (20 if quick else 1)
    if name == "mlp":
        return rng.standard_normal((n, 784)).astype(np.float32), rng.integers(0, 10, n)
    if name == "convnet":
        return rng.standard_normal((n, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, n)
    return rng.integers(1, 10_000, (n, 48)), rng.integers(0, 2, n).astype(np.float32)


def _deepgrad_model(name):
    layers = dg.layers
    dg.manual_seed(0)
    if name == "mlp":
        stack = [layers.Input((784,)), layers.Dense(256, activation="relu"), layers.Dense(128, activation="relu"),
                 layers.Dense(10, activation="softmax")]
        loss = "sparse_categorical_crossentropy"
    elif name == "convnet":
        stack = [layers.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
                 layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                 layers.Dropout(0.5), layers.Dense(10, activation="softmax")]
        loss = "sparse_categorical_crossentropy"
    else:
        stack = [layers.Input((48,), dtype="int64"), layers.Embedding(10_000, 64, mask_zero=True), layers.LSTM(64),
                 layers.Dense(1, activation="sigmoid")]
        loss = "binary_crossentropy"
    model = dg.Sequential(stack)
    model.compile(optimizer="adam", loss=loss)
    return model


def _deepgrad_epoch(name, quick):
    x, y = _data(name, quick)
    model = _deepgrad_model(name)
    batch = 64 if name == "lstm" else 128
    cupy = dg.backend._cupy()

    def epoch():
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        cupy.cuda.Device().synchronize()
        return time.perf_counter() - start

    return epoch


def _torch_model(torch, name):
    nn = torch.nn
    torch.manual_seed(0)
    if name == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    if name == "convnet":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))

    class LSTMClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(10_000, 64, padding_idx=0)
            self.lstm = nn.LSTM(64, 64, batch_first=True)
            self.out = nn.Linear(64, 1)

        def forward(self, ids):
            _, (h, _) = self.lstm(self.embedding(ids))
            return self.out(h[-1]).squeeze(-1)

    return LSTMClassifier()


def _torch_epoch(torch, name, quick):
    x, y = _data(name, quick)
    device = torch.device("cuda")
    if name == "convnet":
        x = x.transpose(0, 3, 1, 2).copy()
    xs = torch.as_tensor(x)
    ys = torch.as_tensor(y)
    model = _torch_model(torch, name).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.BCEWithLogitsLoss() if name == "lstm" else torch.nn.CrossEntropyLoss()
    batch = 64 if name == "lstm" else 128

    def epoch():
        start = time.perf_counter()
        order = torch.randperm(len(xs))
        for i in range(0, len(xs), batch):
            index = order[i:i + batch]
            xb, yb = xs[index].to(device), ys[index].to(device)  # batches cross the bus, as deepgrad's do
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(xb), yb).backward()
            optimizer.step()
        torch.cuda.synchronize()
        return time.perf_counter() - start

    return epoch


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--quick", action="store_true", help="a twentieth of each data set (a smoke run)")
    args = parser.parse_args(argv)
    if not dg.cuda_available():
        print("benchmarks/gpu.py needs CuPy and a CUDA device (pip install cupy-cuda12x); none found.",
              file=sys.stderr)
        return 2
    try:
        import torch  # noqa: PLC0415 - optional, and only here
    except ImportError:
        torch = None
    if torch is None or not torch.cuda.is_available():
        print("benchmarks/gpu.py compares with PyTorch CUDA eager: install a CUDA build of torch.", file=sys.stderr)
        return 2
    dg.set_default_device("cuda")
    print(f"{'workload':10} {'deepgrad s':>11} {'PyTorch s':>10} {'ratio':>6}")
    for name in args.only.split(","):
        contenders = {"deepgrad": _deepgrad_epoch(name, args.quick), "torch": _torch_epoch(torch, name, args.quick)}
        times = {key: [] for key in contenders}
        for epoch in contenders.values():
            epoch()  # warm-up
        for _ in range(args.rounds):
            for key, epoch in contenders.items():
                times[key].append(epoch())
        ours, theirs = statistics.median(times["deepgrad"]), statistics.median(times["torch"])
        print(f"{name:10} {ours:11.3f} {theirs:10.3f} {ours / theirs:6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
