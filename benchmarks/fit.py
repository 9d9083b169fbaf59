"""Training-loop benchmark: ``model.fit`` against PyTorch, Keras and scikit-learn, interleaved.

Workloads (the issue's):
  W1  MLP 784-256-128-10 (ReLU, softmax cross-entropy), Adam, batch 128,
      60,000 synthetic standard-normal samples, one epoch;
  W2  MLP 2-16-8-1 (ReLU, sigmoid + binary cross-entropy), Adam, batch 32,
      1,000 samples, 50 epochs (reported per step);
  W3  single-sample ``predict`` latency of the W1 model;
  MEM peak resident memory of a process that runs W1 (each framework in its own process).

``deepgrad fit`` replays its recorded steps (``compile(jit_compile='auto')``, the default);
``deepgrad eager`` is the same with ``jit_compile=False``. The W1 "matrix-product floor" is
the time of the epoch's matrix products alone (3 forward, 5 backward per batch, into
preallocated arrays), measured in the same run.

Every framework runs in this one process, round-robin over the repeats, because this
machine's speed drifts between minutes; the table shows the best time of each, and
ratios to PyTorch measured in the same run. Frameworks that are not installed are
skipped. Also reported: ``fit`` against a hand-written deepgrad loop (same model,
same optimizer), the framework's own overhead.

Usage: python benchmarks/fit.py [--repeats N] [--quick] [--skip NAME ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

THREADS = os.cpu_count() or 2


def _data_w1(n=60000):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 784), dtype=np.float32), rng.integers(0, 10, n)


def _data_w2(n=1000):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 2)).astype(np.float32)
    return x, (x[:, 0] * x[:, 1] > 0).astype(np.float32)


# --------------------------------------------------------------------------- deepgrad

def _deepgrad_model(sizes, out_activation, loss, jit_compile="auto"):
    from deepgrad.layers import Dense
    from deepgrad.models import Sequential

    layers = [Dense(sizes[1], activation="relu", input_dim=sizes[0])]
    layers += [Dense(n, activation="relu") for n in sizes[2:-1]]
    layers.append(Dense(sizes[-1], activation=out_activation))
    model = Sequential(layers)
    model.compile(optimizer="adam", loss=loss, jit_compile=jit_compile)
    return model


def deepgrad_fit(x, y, sizes, out_activation, loss, batch_size, epochs, jit_compile="auto"):
    model = _deepgrad_model(sizes, out_activation, loss, jit_compile)
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
    return time.perf_counter() - start


def deepgrad_fit_eager(x, y, sizes, out_activation, loss, batch_size, epochs):
    return deepgrad_fit(x, y, sizes, out_activation, loss, batch_size, epochs, jit_compile=False)


def deepgrad_loop(x, y, sizes, out_activation, loss, batch_size, epochs):
    """The same training written by hand with deepgrad tensors and its Adam (no fit machinery)."""
    import deepgrad as dg
    from deepgrad import optimizers

    model = _deepgrad_model(sizes, out_activation, loss)
    params = model.trainable_weights
    buffer = dg.ParameterBuffer(params)
    adam = optimizers.Adam()
    layers = model.layers
    rng = np.random.default_rng(0)
    y = y.astype(np.int64) if out_activation == "softmax" else y.reshape(-1, 1).astype(np.float32)
    start = time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for first in range(0, len(x), batch_size):
            index = order[first:first + batch_size]
            h = dg.Tensor(x[index])
            for layer in layers[:-1]:
                h = (h @ layer.kernel + layer.bias).relu()
            z = h @ layers[-1].kernel + layers[-1].bias
            if out_activation == "softmax":
                loss_value = dg.softmax_cross_entropy(z, y[index])
            else:
                loss_value = dg.sigmoid_binary_cross_entropy(z, y[index])
            buffer.zero_grad()
            loss_value.backward()
            adam.step(params)
    return time.perf_counter() - start


def deepgrad_predict_latency(repeats=2000, jit_compile="auto"):
    model = _deepgrad_model((784, 256, 128, 10), "softmax", "sparse_categorical_crossentropy", jit_compile)
    sample = np.random.default_rng(2).standard_normal((1, 784)).astype(np.float32)
    return _latency(lambda: model.predict(sample), repeats)


def deepgrad_predict_latency_eager(repeats=2000):
    return deepgrad_predict_latency(repeats, jit_compile=False)


def matmul_floor(x, sizes, batch_size):
    """Seconds of one epoch's matrix products alone: per batch a @ W for each layer, then the
    weight gradients a^T @ g of every layer and the input gradients g @ W^T of all but the first."""
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((i, o)).astype(np.float32) * 0.05 for i, o in zip(sizes[:-1], sizes[1:])]
    order = rng.permutation(len(x))
    acts, grads, wgrads, dgrads = {}, {}, [np.empty_like(w) for w in weights], {}
    elapsed = 0.0
    for first in range(0, len(x), batch_size):
        batch = x[order[first:first + batch_size]]
        n = len(batch)
        if n not in acts:
            acts[n] = [np.empty((n, w.shape[1]), np.float32) for w in weights]
            grads[n] = [np.full((n, w.shape[1]), 0.01, np.float32) for w in weights]
            dgrads[n] = [np.empty((n, w.shape[0]), np.float32) for w in weights]
        start = time.perf_counter()
        h = batch
        for w, a in zip(weights, acts[n]):
            np.matmul(h, w, out=a)
            h = a
        inputs = [batch] + acts[n][:-1]
        for k in reversed(range(len(weights))):
            np.matmul(inputs[k].T, grads[n][k], out=wgrads[k])
            if k:
                np.matmul(grads[n][k], weights[k].T, out=dgrads[n][k])
        elapsed += time.perf_counter() - start
    return elapsed


# --------------------------------------------------------------------------- raw NumPy


def numpy_loop(x, y, sizes, out_activation, loss, batch_size, epochs):
    """A hand-written NumPy MLP with Adam: the floor any framework adds overhead to."""
    rng = np.random.default_rng(0)
    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6 / (fan_in + fan_out))
        weights += [rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32),
                    np.zeros(fan_out, np.float32)]
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    b1, b2, lr, eps, t = 0.9, 0.999, 0.001, 1e-7, 0
    n_layers = len(sizes) - 1
    start = time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for first in range(0, len(x), batch_size):
            index = order[first:first + batch_size]
            xb, yb = x[index], y[index]
            activations = [xb]
            for k in range(n_layers):
                z = activations[-1] @ weights[2 * k] + weights[2 * k + 1]
                activations.append(np.maximum(z, 0) if k < n_layers - 1 else z)
            z = activations[-1]
            if out_activation == "softmax":
                p = np.exp(z - z.max(axis=1, keepdims=True))
                p /= p.sum(axis=1, keepdims=True)
                p[np.arange(len(yb)), yb] -= 1
                grad = p / len(yb)
            else:
                p = 1 / (1 + np.exp(-z))
                grad = (p - yb.reshape(-1, 1)) / len(yb)
            grads = [None] * len(weights)
            for k in reversed(range(n_layers)):
                grads[2 * k] = activations[k].T @ grad
                grads[2 * k + 1] = grad.sum(axis=0)
                if k:
                    grad = (grad @ weights[2 * k].T) * (activations[k] > 0)
            t += 1
            alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            for w, g, mi, vi in zip(weights, grads, m, v):
                mi += (1 - b1) * (g - mi)
                vi += (1 - b2) * (g * g - vi)
                w -= alpha * mi / (np.sqrt(vi) + eps)
    return time.perf_counter() - start


def numpy_predict_latency(repeats=2000):
    rng = np.random.default_rng(0)
    shapes = [(784, 256), (256,), (256, 128), (128,), (128, 10), (10,)]
    weights = [rng.standard_normal(s).astype(np.float32) * 0.05 for s in shapes]
    sample = rng.standard_normal((1, 784)).astype(np.float32)

    def forward():
        h = np.maximum(sample @ weights[0] + weights[1], 0)
        h = np.maximum(h @ weights[2] + weights[3], 0)
        z = h @ weights[4] + weights[5]
        e = np.exp(z - z.max())
        return e / e.sum()

    return _latency(forward, repeats)


# --------------------------------------------------------------------------- PyTorch


def torch_fit(x, y, sizes, out_activation, loss, batch_size, epochs):
    import torch

    torch.set_num_threads(THREADS)
    layers = []
    for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if k < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.Adam(model.parameters())
    criterion = torch.nn.CrossEntropyLoss() if out_activation == "softmax" else torch.nn.BCEWithLogitsLoss()
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y.astype(np.int64) if out_activation == "softmax" else y.reshape(-1, 1))
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=generator)
        for first in range(0, len(xt), batch_size):
            index = order[first:first + batch_size]
            optimizer.zero_grad()
            criterion(model(xt[index]), yt[index]).backward()
            optimizer.step()
    return time.perf_counter() - start


def torch_predict_latency(repeats=2000):
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                                torch.nn.ReLU(), torch.nn.Linear(128, 10), torch.nn.Softmax(dim=1))
    sample = torch.randn(1, 784)

    def forward():
        with torch.no_grad():
            return model(sample).numpy()

    return _latency(forward, repeats)


# --------------------------------------------------------------------------- Keras and scikit-learn


def keras_fit(x, y, sizes, out_activation, loss, batch_size, epochs):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    model = keras.Sequential([keras.Input(shape=(sizes[0],))]
                             + [keras.layers.Dense(n, activation="relu") for n in sizes[1:-1]]
                             + [keras.layers.Dense(sizes[-1], activation=out_activation)])
    model.compile(optimizer="adam", loss=loss)
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
    return time.perf_counter() - start


def keras_predict_latency(repeats=50):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    sample = np.random.default_rng(2).standard_normal((1, 784)).astype(np.float32)
    return _latency(lambda: model.predict(sample, verbose=0), repeats)


def sklearn_fit(x, y, sizes, out_activation, loss, batch_size, epochs):
    import warnings

    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(hidden_layer_sizes=sizes[1:-1], batch_size=batch_size, max_iter=epochs,
                          solver="adam", shuffle=True, random_state=0, tol=0, n_iter_no_change=10 ** 9)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y.astype(np.int64))
    return time.perf_counter() - start


def sklearn_predict_latency(repeats=2000):
    import warnings

    from sklearn.neural_network import MLPClassifier

    x, y = _data_w1(512)
    model = MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y)
    return _latency(lambda: model.predict_proba(x[:1]), repeats)


# --------------------------------------------------------------------------- harness


def _latency(function, repeats):
    for _ in range(min(20, repeats)):
        function()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats // 5):
            function()
        best = min(best, (time.perf_counter() - start) / (repeats // 5))
    return best


def _module_spec(module):
    """Whether ``module`` is installed, without importing it (imports would grow this process)."""
    import importlib.util

    return importlib.util.find_spec(module) is not None


FRAMEWORKS = {
    "deepgrad fit": ("deepgrad", deepgrad_fit, deepgrad_predict_latency),
    "deepgrad eager": ("deepgrad", deepgrad_fit_eager, deepgrad_predict_latency_eager),
    "deepgrad hand loop": ("deepgrad", deepgrad_loop, None),
    "raw NumPy": ("numpy", numpy_loop, numpy_predict_latency),
    "PyTorch eager": ("torch", torch_fit, torch_predict_latency),
    "Keras": ("keras", keras_fit, keras_predict_latency),
    "scikit-learn": ("sklearn", sklearn_fit, sklearn_predict_latency),
}


def _peak_memory(name):
    """Peak RSS (MB) of a fresh process that runs W1 with one framework."""
    code = (f"import sys, resource; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
            f"import fit as b; x, y = b._data_w1(); "
            f"b.FRAMEWORKS[{name!r}][1](x, y, (784, 256, 128, 10), 'softmax', "
            "'sparse_categorical_crossentropy', 128, 1); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(result.stdout.strip().splitlines()[-1]) / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="W1 on 12,000 samples, W2 on 10 epochs")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--skip", nargs="*", default=[], metavar="NAME",
                        help="frameworks to leave out, e.g. --skip Keras scikit-learn")
    args = parser.parse_args(argv)
    names = [n for n, (module, _, _) in FRAMEWORKS.items() if _module_spec(module) and n not in args.skip]
    missing = [n for n in FRAMEWORKS if n not in names]
    memory = {}
    if not args.no_memory:
        # first, while this process is small: Linux carries the parent's peak RSS into a child
        for name in ["deepgrad fit", "deepgrad eager", "raw NumPy", "PyTorch eager"]:
            if name in names:
                memory[name] = _peak_memory(name)
    x1, y1 = _data_w1(12000 if args.quick else 60000)
    x2, y2 = _data_w2()
    w2_epochs = 10 if args.quick else 50
    w2_steps = w2_epochs * int(np.ceil(len(x2) / 32))
    best = {(n, w): float("inf") for n in names for w in ("W1", "W2")}
    # first: PyTorch's OpenMP threads keep spinning after its calls and slow the products that follow
    floor = min(matmul_floor(x1, (784, 256, 128, 10), 128) for _ in range(args.repeats))
    for _ in range(args.repeats):
        for name in names:
            run = FRAMEWORKS[name][1]
            w1 = run(x1, y1, (784, 256, 128, 10), "softmax", "sparse_categorical_crossentropy", 128, 1)
            best[(name, "W1")] = min(best[(name, "W1")], w1)
            best[(name, "W2")] = min(best[(name, "W2")],
                                     run(x2, y2, (2, 16, 8, 1), "sigmoid", "binary_crossentropy", 32, w2_epochs))
    latency = {n: FRAMEWORKS[n][2]() for n in names if FRAMEWORKS[n][2] is not None}

    reference = "PyTorch eager" if "PyTorch eager" in names else None
    print(f"\nfit benchmark ({'quick' if args.quick else 'full'}; best of {args.repeats}, interleaved; "
          f"{THREADS} threads)")
    header = (f"{'framework':<20}{'W1 s/epoch':>12}{'ratio':>8}{'W2 us/step':>12}{'ratio':>8}"
              f"{'W3 us':>11}{'ratio':>8}{'peak MB':>9}{'ratio':>8}")
    print(header)
    print("-" * len(header))

    def ratio(value, ref):
        return f"{value / ref:>8.2f}" if ref else f"{'-':>8}"

    for name in names:
        w1, w2 = best[(name, "W1")], best[(name, "W2")] / w2_steps * 1e6
        ref1 = best.get((reference, "W1")) if reference else None
        ref2 = best[(reference, "W2")] / w2_steps * 1e6 if reference else None
        lat = latency.get(name)
        ref3 = latency.get(reference) if reference else None
        mem = memory.get(name)
        ref4 = memory.get(reference) if reference else None
        print(f"{name:<20}{w1:>12.3f}{ratio(w1, ref1)}{w2:>12.1f}{ratio(w2, ref2)}"
              + (f"{lat * 1e6:>11.1f}{ratio(lat, ref3)}" if lat is not None else f"{'-':>11}{'-':>8}")
              + (f"{mem:>9.0f}{ratio(mem, ref4)}" if mem is not None else f"{'-':>9}{'-':>8}"))
    fit_w1 = best[("deepgrad fit", "W1")]
    print(f"\nW1 matrix-product floor: {floor:.3f} s; deepgrad fit / floor = {fit_w1 / floor:.2f}")
    if "deepgrad hand loop" in names:
        overhead = best[("deepgrad fit", "W1")] / best[("deepgrad hand loop", "W1")] - 1
        overhead2 = best[("deepgrad fit", "W2")] / best[("deepgrad hand loop", "W2")] - 1
        print(f"\nfit over the hand-written deepgrad loop: W1 {overhead:+.1%}, W2 {overhead2:+.1%}")
    if missing:
        print(f"not installed or --skip (left out): {', '.join(missing)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
