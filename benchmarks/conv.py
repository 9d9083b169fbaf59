"""Convolution benchmark: deepgrad's conv/pool ops and the simple MNIST convnet against PyTorch, interleaved.

Parts:
  ops     forward + backward of ``deepgrad.ops`` against ``torch.nn.functional``: conv2d at
          three sizes (the convnet's two layers and a wider 3x3 one), max_pool2d 2x2, and
          conv_transpose2d (stride 2), float32, best of N, both frameworks in turn;
  epoch   the Keras "simple MNIST convnet" (Conv2D 32 3x3 ReLU, MaxPool 2, Conv2D 64 3x3 ReLU,
          MaxPool 2, Flatten, Dropout 0.5, Dense 10 softmax; Adam, batch 128) trained one
          epoch on the 60,000 MNIST images, then its test accuracy and ``predict`` time on the
          10,000 test images (PyTorch: ``no_grad`` forward at the same batch size);
  floor   the time of the epoch's matrix products alone (the same GEMM shapes on random
          float32 arrays), the lower bound of any im2col implementation on this machine;
  memory  peak resident memory of a fresh process that trains the epoch, per framework.

deepgrad's model is built from ``deepgrad.layers`` (Conv2D, MaxPooling2D, ...) when they
exist, else written by hand from the ops with deepgrad's Adam. Everything runs in this one
process, round-robin over the repeats, because this machine's speed drifts between
minutes: compare ratios from one run only. PyTorch's OpenMP threads keep spinning for a
while after its calls, which slows the OpenBLAS products that follow them in the same
process: the GEMM floor is measured first, and a best of several repeats lessens the
effect on deepgrad's runs that follow PyTorch's.

Data: real MNIST from the data cache (``deepgrad.datasets.mnist.load_data()``, which reads
``$DEEPGRAD_DATA``), or ``--synthetic`` random images (accuracy then means nothing).

Usage: python benchmarks/conv.py [--eager] [--repeats N] [--quick] [--synthetic] [--ops-only | --epoch-only]
       [--no-memory]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

JIT_COMPILE = "auto"  # deepgrad replays its recorded steps; --eager turns that off

TORCH_THREADS = 2
BATCH = 128
PREDICT_BATCH = 500
OP_CASES = [  # name, input (N, H, W, C), kernel (kh, kw, C, F)
    ("conv 28x28x1->32 3x3", (128, 28, 28, 1), (3, 3, 1, 32)),
    ("conv 13x13x32->64 3x3", (128, 13, 13, 32), (3, 3, 32, 64)),
    ("conv 16x16x64->64 3x3 same", (64, 16, 16, 64), (3, 3, 64, 64)),
]


def _best(function, repeats):
    function()  # warm-up (allocations, BLAS threads)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


# --------------------------------------------------------------------------- op microbenchmarks


def _op_cases():
    """(name, deepgrad step, torch step) for each op, fwd + bwd on the same float32 data."""
    import torch

    import deepgrad as dg
    from deepgrad import ops

    F = torch.nn.functional
    rng = np.random.default_rng(0)
    cases = []
    for name, x_shape, w_shape in OP_CASES:
        x = rng.standard_normal(x_shape).astype(np.float32)
        w = (rng.standard_normal(w_shape) * 0.1).astype(np.float32)
        padding = "same" if name.endswith("same") else "valid"
        xd, wd = dg.Tensor(x, requires_grad=True), dg.Tensor(w, requires_grad=True)
        xt = torch.tensor(np.moveaxis(x, -1, 1).copy(), requires_grad=True)
        wt = torch.tensor(np.transpose(w, (3, 2, 0, 1)).copy(), requires_grad=True)
        cases.append((name, _dg_step(lambda xd=xd, wd=wd, p=padding: ops.conv(xd, wd, padding=p), (xd, wd)),
                      _torch_step(lambda xt=xt, wt=wt, p=padding: F.conv2d(xt, wt, padding=1 if p == "same" else 0),
                                  (xt, wt))))
    x = np.maximum(rng.standard_normal((128, 26, 26, 32)), 0).astype(np.float32)
    xd, xt = dg.Tensor(x, requires_grad=True), torch.tensor(np.moveaxis(x, -1, 1).copy(), requires_grad=True)
    cases.append(("max_pool 26x26x32 2x2", _dg_step(lambda: ops.max_pool(xd, 2), (xd,)),
                  _torch_step(lambda: F.max_pool2d(xt, 2), (xt,))))
    x = np.maximum(rng.standard_normal((128, 11, 11, 64)), 0).astype(np.float32)
    xd2, xt2 = dg.Tensor(x, requires_grad=True), torch.tensor(np.moveaxis(x, -1, 1).copy(), requires_grad=True)
    cases.append(("max_pool 11x11x64 2x2", _dg_step(lambda: ops.max_pool(xd2, 2), (xd2,)),
                  _torch_step(lambda: F.max_pool2d(xt2, 2), (xt2,))))
    x = rng.standard_normal((64, 14, 14, 64)).astype(np.float32)
    w = (rng.standard_normal((3, 3, 32, 64)) * 0.1).astype(np.float32)  # (kh, kw, F, C), Keras's layout
    xd3, wd3 = dg.Tensor(x, requires_grad=True), dg.Tensor(w, requires_grad=True)
    xt3 = torch.tensor(np.moveaxis(x, -1, 1).copy(), requires_grad=True)
    wt3 = torch.tensor(np.transpose(w, (3, 2, 0, 1)).copy(), requires_grad=True)
    cases.append(("conv_transpose 14->28 3x3 s2 same",
                  _dg_step(lambda: ops.conv_transpose(xd3, wd3, strides=2, padding="same"), (xd3, wd3)),
                  _torch_step(lambda: F.conv_transpose2d(xt3, wt3, stride=2, padding=1, output_padding=1),
                              (xt3, wt3))))
    return cases


def _dg_step(forward, leaves):
    state = {}

    def step():
        out = forward()
        if "g" not in state:
            state["g"] = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
        out.backward(state["g"])
        for leaf in leaves:
            leaf.zero_grad()
    return step


def _torch_step(forward, leaves):
    import torch

    state = {}

    def step():
        out = forward()
        if "g" not in state:
            state["g"] = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
        out.backward(state["g"])
        for leaf in leaves:
            leaf.grad = None
    return step


def run_ops(repeats):
    import torch

    torch.set_num_threads(TORCH_THREADS)
    cases = _op_cases()
    best = {}
    fused = os.environ.get("DEEPGRAD_FUSED", "1")
    runs = (("deepgrad", "1", 0), ("NumPy path", "0", 0), ("torch", fused, 1))
    for _ in range(repeats):
        for case in cases:
            for framework, flag, which in runs:
                os.environ["DEEPGRAD_FUSED"] = flag  # read at each call: compiled loops on, then off
                start = time.perf_counter()
                case[1 + which]()
                elapsed = time.perf_counter() - start
                best[(case[0], framework)] = min(best.get((case[0], framework), float("inf")), elapsed)
    os.environ["DEEPGRAD_FUSED"] = fused
    print(f"\nop microbenchmarks (forward + backward, float32, best of {repeats}, interleaved; "
          f"torch threads {TORCH_THREADS}); 'NumPy path': deepgrad without its compiled loops (DEEPGRAD_FUSED=0)")
    header = f"{'op':<36}{'deepgrad ms':>13}{'NumPy path ms':>15}{'torch ms':>10}{'ratio':>8}{'NumPy ratio':>13}"
    print(header)
    print("-" * len(header))
    for name, _, _ in cases:
        ours, plain, theirs = best[(name, "deepgrad")], best[(name, "NumPy path")], best[(name, "torch")]
        print(f"{name:<36}{ours * 1e3:>13.2f}{plain * 1e3:>15.2f}{theirs * 1e3:>10.2f}{ours / theirs:>8.2f}"
              f"{plain / theirs:>13.2f}")
    return best


# --------------------------------------------------------------------------- the convnet


def load_mnist(synthetic, quick):
    if synthetic:
        rng = np.random.default_rng(0)
        x_train = rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8)
        y_train = rng.integers(0, 10, 60000)
        x_test, y_test = rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 10000)
    else:
        from deepgrad.datasets import mnist

        try:
            (x_train, y_train), (x_test, y_test) = mnist.load_data()
        except (OSError, ValueError) as error:
            print(f"MNIST is not available ({error}); using synthetic images (accuracy means nothing).")
            return load_mnist(True, quick)
    if quick:
        x_train, y_train, x_test, y_test = x_train[:6000], y_train[:6000], x_test[:2000], y_test[:2000]
    x_train = (x_train.astype(np.float32) / 255)[..., None]
    x_test = (x_test.astype(np.float32) / 255)[..., None]
    return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)


def _glorot(rng, shape):
    receptive = int(np.prod(shape[:-2]))
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    limit = np.sqrt(6 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


class HandConvnet:
    """The convnet written with deepgrad's ops and Adam (used while the layers do not exist)."""

    def __init__(self, seed=0):
        import deepgrad as dg
        from deepgrad import optimizers

        rng = np.random.default_rng(seed)
        shapes = [(3, 3, 1, 32), (32,), (3, 3, 32, 64), (64,), (1600, 10), (10,)]
        self.params = [dg.Tensor(_glorot(rng, s) if len(s) > 1 else np.zeros(s, np.float32), requires_grad=True)
                       for s in shapes]
        self.buffer = dg.ParameterBuffer(self.params)
        self.optimizer = optimizers.Adam()
        self.rng = rng
        self.label = "deepgrad (ops by hand)"

    def logits(self, x, training):
        import deepgrad as dg
        from deepgrad import ops

        w1, b1, w2, b2, w3, b3 = self.params
        h = ops.max_pool(ops.relu(ops.conv(dg.Tensor(x), w1, b1)), 2)
        h = ops.max_pool(ops.relu(ops.conv(h, w2, b2)), 2)
        h = ops.reshape(h, (h.shape[0], -1))
        if training:
            mask = (self.rng.random(h.shape, dtype=np.float32) < 0.5).astype(np.float32) * 2
            h = h * dg.Tensor(mask)
        return h @ w3 + b3

    def fit_epoch(self, x, y):
        from deepgrad import ops

        order = self.rng.permutation(len(x))
        for first in range(0, len(x), BATCH):
            index = order[first:first + BATCH]
            loss = ops.softmax_cross_entropy(self.logits(x[index], True), y[index])
            self.buffer.zero_grad()
            loss.backward()
            self.optimizer.step(self.params)

    def predict(self, x):
        import deepgrad as dg
        from deepgrad import ops

        with dg.no_grad():
            return np.concatenate([ops.softmax(self.logits(x[i:i + PREDICT_BATCH], False)).numpy()
                                   for i in range(0, len(x), PREDICT_BATCH)])


class LayerConvnet:
    """The convnet from ``deepgrad.layers`` (Conv2D, MaxPooling2D, Flatten, Dropout, Dense) and ``fit``."""

    def __init__(self, seed=0):
        import deepgrad as dg
        from deepgrad.layers import Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
        from deepgrad.models import Sequential

        dg.manual_seed(seed)
        self.model = Sequential([
            Input(shape=(28, 28, 1)), Conv2D(32, 3, activation="relu"), MaxPooling2D(2),
            Conv2D(64, 3, activation="relu"), MaxPooling2D(2), Flatten(), Dropout(0.5),
            Dense(10, activation="softmax"),
        ])
        self.model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=JIT_COMPILE)
        self.label = "deepgrad (layers, fit)"

    def fit_epoch(self, x, y):
        self.model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)

    def predict(self, x):
        return self.model.predict(x, batch_size=PREDICT_BATCH, verbose=0)


def deepgrad_convnet(seed=0):
    try:
        return LayerConvnet(seed)
    except ImportError:
        return HandConvnet(seed)


class TorchConvnet:
    def __init__(self, seed=0):
        import torch

        torch.set_num_threads(TORCH_THREADS)
        torch.manual_seed(seed)
        nn = torch.nn
        self.torch = torch
        self.model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                                   nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))
        self.optimizer = torch.optim.Adam(self.model.parameters())
        self.generator = torch.Generator().manual_seed(seed)
        self.label = "PyTorch eager"

    def fit_epoch(self, x, y):
        torch = self.torch
        xt, yt = torch.from_numpy(np.moveaxis(x, -1, 1).copy()), torch.from_numpy(y)
        self.model.train()
        loss_fn = torch.nn.CrossEntropyLoss()
        order = torch.randperm(len(xt), generator=self.generator)
        for first in range(0, len(xt), BATCH):
            index = order[first:first + BATCH]
            self.optimizer.zero_grad()
            loss_fn(self.model(xt[index]), yt[index]).backward()
            self.optimizer.step()

    def predict(self, x):
        torch = self.torch
        xt = torch.from_numpy(np.moveaxis(x, -1, 1).copy())
        self.model.eval()
        with torch.no_grad():
            return np.concatenate([torch.softmax(self.model(xt[i:i + PREDICT_BATCH]), 1).numpy()
                                   for i in range(0, len(xt), PREDICT_BATCH)])


def gemm_floor_per_batch(repeats):
    """Seconds of one training step's matrix products alone (forward and backward of both convs and the Dense).

    Measured before PyTorch runs in this process: its OpenMP threads spin for a while after
    each parallel region and starve OpenBLAS's threads meanwhile.
    """
    rng = np.random.default_rng(0)
    m1, m2 = BATCH * 26 * 26, BATCH * 11 * 11
    shapes = [((m1, 9), (9, 32)), ((9, m1), (m1, 32)),                           # conv1: out, dW
              ((m2, 288), (288, 64)), ((288, m2), (m2, 64)), ((m2, 64), (64, 288)),  # conv2: out, dW, dx
              ((BATCH, 1600), (1600, 10)), ((1600, BATCH), (BATCH, 10)), ((BATCH, 10), (10, 1600))]
    pairs = [(rng.standard_normal(a).astype(np.float32), rng.standard_normal(b).astype(np.float32))
             for a, b in shapes]
    return _best(lambda: [a @ b for a, b in pairs], repeats)


def run_epoch(args):
    x_train, y_train, x_test, y_test = load_mnist(args.synthetic, args.quick)
    results = {}
    for _ in range(args.repeats):
        for make in (deepgrad_convnet, TorchConvnet):
            model = make(0)
            start = time.perf_counter()
            model.fit_epoch(x_train, y_train)
            epoch = time.perf_counter() - start
            start = time.perf_counter()
            probabilities = model.predict(x_test)
            predict = time.perf_counter() - start
            accuracy = float((probabilities.argmax(axis=1) == y_test).mean())
            old = results.get(model.label)
            if old is None or epoch < old[0]:
                results[model.label] = (epoch, min(predict, old[1]) if old else predict, accuracy)
            else:
                results[model.label] = (old[0], min(predict, old[1]), old[2])
    floor = args.floor_per_batch * -(-len(x_train) // BATCH)
    reference = results.get("PyTorch eager")
    print(f"\nsimple MNIST convnet, one epoch on {len(x_train)} images ({'synthetic' if args.synthetic else 'MNIST'}"
          f"; best of {args.repeats}, interleaved; torch threads {TORCH_THREADS}), predict on {len(x_test)}")
    header = f"{'framework':<26}{'epoch s':>9}{'ratio':>8}{'predict s':>11}{'ratio':>8}{'test acc':>10}{'peak MB':>9}"
    print(header)
    print("-" * len(header))
    for label, (epoch, predict, accuracy) in results.items():
        memory = args.memory.get("torch" if label == "PyTorch eager" else "deepgrad")
        print(f"{label:<26}{epoch:>9.2f}{epoch / reference[0]:>8.2f}{predict:>11.3f}{predict / reference[1]:>8.2f}"
              f"{accuracy:>10.4f}" + (f"{memory:>9.0f}" if memory else f"{'-':>9}"))
    print(f"GEMM floor (the epoch's matrix products alone): {floor:.2f} s")
    return results


def _peak_memory(framework, args):
    """Peak RSS (MB) of a fresh process that trains the convnet for one epoch."""
    maker = "deepgrad_convnet" if framework == "deepgrad" else "TorchConvnet"
    code = (f"import sys, resource; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
            f"import conv as b; x, y, _, _ = b.load_mnist({args.synthetic!r}, {args.quick!r}); "
            f"b.{maker}(0).fit_epoch(x, y); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(result.stdout.strip().splitlines()[-1]) / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="best of N (default 5 for ops, 2 for the epoch)")
    parser.add_argument("--quick", action="store_true", help="6,000 training and 2,000 test images")
    parser.add_argument("--synthetic", action="store_true", help="random images instead of MNIST")
    parser.add_argument("--ops-only", action="store_true", help="only the op microbenchmarks")
    parser.add_argument("--epoch-only", action="store_true", help="only the convnet epoch and predict")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--eager", action="store_true",
                        help="deepgrad with compile(jit_compile=False): no recorded, replayed steps")
    args = parser.parse_args(argv)
    global JIT_COMPILE
    JIT_COMPILE = False if args.eager else "auto"
    try:
        import torch  # noqa: F401 - the reference
    except ImportError:
        print("conv benchmark: PyTorch is not installed; nothing to compare with.")
        return 0
    args.memory = {}
    if not (args.no_memory or args.ops_only):
        # first, while this process is small: Linux carries the parent's peak RSS into a child
        args.memory = {name: _peak_memory(name, args) for name in ("deepgrad", "torch")}
    repeats = args.repeats
    args.floor_per_batch = gemm_floor_per_batch(10)
    if not args.epoch_only:
        run_ops(repeats or 5)
    if not args.ops_only:
        args.repeats = repeats or 2
        run_epoch(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
