"""The course in one run (``deepgrad demo``, ``make demo``): every part of deepgrad on bundled data.

Each section prints what it shows and the numbers it got; plots go to ``./deepgrad-demo/``.
Sections that need an optional extra (matplotlib for plots) say so and are skipped
when it is missing.
"""

from __future__ import annotations

import os
import time

import numpy as np


def _section(title):
    print()
    print(f"== {title} " + "=" * max(0, 74 - len(title)))


def neuron(seed=0):
    """The course's artificial neuron: a = ReLU(w . x + b) with x = (0.8, 1.2), w = (1.0, 0.75), b = 0.5."""
    import deepgrad as dg

    _section("1. One neuron, forward and backward")
    x = dg.tensor([0.8, 1.2])
    w = dg.tensor([1.0, 0.75], requires_grad=True)
    b = dg.tensor(0.5, requires_grad=True)
    z = (w * x).sum() + b
    a = z.relu()
    a.backward()
    print(f"z = w.x + b = 1.0*0.8 + 0.75*1.2 + 0.5 = {z.item():.2f};  a = ReLU(z) = {a.item():.2f}")
    print(f"da/dw = x = [{w.grad[0]:.2f}, {w.grad[1]:.2f}],  da/db = {float(b.grad):.1f}")
    return {"neuron_output": a.item()}


def perceptron_gates(seed=0):
    """Rosenblatt's perceptron on the logic gates: AND, OR, NAND, NOR are learned; XOR is not."""
    import warnings

    from deepgrad.datasets import logic_gate
    from deepgrad.perceptron import ConvergenceWarning, Perceptron

    _section("2. The perceptron on logic gates (and why XOR needs a hidden layer)")
    concert = Perceptron.from_weights([0.7, 0.6, 0.5, 0.3, 0.4], threshold=1.5)
    inputs = np.array([[1, 0, 1, 0, 1]], dtype=np.float32)
    print(f"concert decision: weighted sum {float(concert.decision_function(inputs)[0]) + 1.5:.1f} >= 1.5 "
          f"-> {'go' if concert.predict(inputs)[0] == 1 else 'stay home'}")
    results = {}
    for gate in ("and", "or", "nand", "nor", "xor"):
        x, y = logic_gate(gate)
        model = Perceptron(learning_rate=0.1, max_epochs=20, random_state=seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(x, y)
        status = (f"converged after {model.n_epochs_} epochs" if model.converged_
                  else f"NOT converged after {model.n_epochs_} epochs")
        print(f"  {gate.upper():>4}: {status}; errors per epoch {model.errors_[:8]}"
              f"{'...' if len(model.errors_) > 8 else ''}; accuracy {model.score(x, y):.0%}")
        if caught:
            print("        " + str(caught[0].message).splitlines()[0])
        results[f"perceptron_{gate}_accuracy"] = float(model.score(x, y))
    return results


def tensor_mlp(seed=0, epochs=30, batch_size=32, learning_rate=0.1):
    """A 64-64-10 MLP on the digits written directly with Tensors and a hand-written momentum update.

    Forward: a1 = relu(x W1 + b1); z2 = a1 W2 + b2; loss = cross-entropy(softmax(z2), y).
    Update: v <- mu v - eta dL/dW; W <- W + v.
    """
    import deepgrad as dg
    from deepgrad.datasets import load_digits, train_test_split

    _section("3. A digits MLP written with raw Tensors")
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
    print(f"{len(x_train)} train / {len(x_test)} test samples, {n_in}-{n_hidden}-{n_out}, ReLU, softmax "
          f"cross-entropy, SGD (lr={learning_rate}, momentum={momentum}, batch {batch_size})")
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        total = 0.0
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            logits = (dg.Tensor(x_train[batch]) @ w1 + b1).relu() @ w2 + b2
            loss = dg.softmax_cross_entropy(logits, y_train[batch])
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
    return {"tensor_mlp_accuracy": accuracy, "tensor_mlp_seconds": elapsed}


def keras_digits(seed=0, verbose=2):
    """The digits with the Keras-style API: summary, fit with validation and EarlyStopping, evaluate."""
    import deepgrad as dg
    from deepgrad import callbacks, regularizers
    from deepgrad.datasets import load_digits, standardize, train_test_split
    from deepgrad.layers import BatchNormalization, Dense, Dropout
    from deepgrad.models import Sequential

    _section("4. The digits with the Keras API (Sequential, fit, EarlyStopping)")
    dg.manual_seed(seed)
    dg.backend.clear_session()
    x, y = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    x_train, x_test = standardize(x_train, x_test)
    model = Sequential([
        Dense(256, activation="relu", input_dim=64, kernel_regularizer=regularizers.l2(1e-4)),
        BatchNormalization(),
        Dropout(0.3),
        Dense(10, activation="softmax"),
    ])
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True, verbose=1)
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=100, batch_size=32, validation_split=0.1,
                        callbacks=[stop], verbose=verbose)
    elapsed = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"trained {len(history.epoch)} epochs in {elapsed:.2f} s; test loss {loss:.4f}, "
          f"test accuracy {accuracy:.2%}")
    return {"keras_digits_accuracy": accuracy, "keras_digits_seconds": elapsed,
            "model": model, "history": history, "x_test": x_test, "y_test": y_test}


def xor_mlp(seed=0):
    """XOR, which no single perceptron can learn, solved by a 2-8-1 network."""
    import deepgrad as dg
    from deepgrad import optimizers
    from deepgrad.layers import Dense
    from deepgrad.models import Sequential

    _section("5. XOR with a small MLP")
    dg.manual_seed(seed)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0], dtype=np.float32)
    model = Sequential([Dense(8, activation="tanh", input_dim=2), Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.05), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=300, batch_size=4, verbose=0)
    outputs = model.predict(x).ravel()
    for row, out in zip(x.astype(int), outputs):
        print(f"  XOR({row[0]}, {row[1]}) -> {out:.3f} -> {int(out > 0.5)}")
    accuracy = history.history["accuracy"][-1]
    print(f"  accuracy {accuracy:.0%} after {len(history.epoch)} epochs (final loss {history.history['loss'][-1]:.4f})")
    return {"xor_accuracy": accuracy}


def sine_approximation(seed=0):
    """Universal approximation: one hidden layer of tanh units fits y = sin(x)."""
    import deepgrad as dg
    from deepgrad import optimizers
    from deepgrad.datasets import make_sine
    from deepgrad.layers import Dense
    from deepgrad.models import Sequential

    _section("6. Universal approximation: one hidden layer fits sin(x)")
    dg.manual_seed(seed)
    x, y = make_sine(n_samples=256, noise=0.0, random_state=seed)
    model = Sequential([Dense(32, activation="tanh", input_dim=1), Dense(1)])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="mse")
    start = time.perf_counter()
    history = model.fit(x, y, epochs=300, batch_size=32, verbose=0)
    elapsed = time.perf_counter() - start
    grid = np.linspace(-np.pi, np.pi, 9, dtype=np.float32).reshape(-1, 1)
    fitted = model.predict(grid).ravel()
    worst = float(np.abs(fitted - np.sin(grid.ravel())).max())
    print(f"32 tanh units, 300 epochs in {elapsed:.2f} s: final MSE {history.history['loss'][-1]:.2e}, "
          f"largest error on a grid {worst:.3f}")
    print("   x     " + " ".join(f"{v:6.2f}" for v in grid.ravel()))
    print("sin(x)   " + " ".join(f"{v:6.2f}" for v in np.sin(grid.ravel())))
    print("network  " + " ".join(f"{v:6.2f}" for v in fitted))
    return {"sine_mse": float(history.history["loss"][-1]), "sine_model": model, "sine_data": (x, y)}


def vanishing_gradients(seed=0):
    """A deep sigmoid network with small initial weights stops learning; diagnosed, then fixed."""
    import deepgrad as dg
    from deepgrad import initializers, optimizers
    from deepgrad.datasets import make_moons
    from deepgrad.diagnostics import GradientMonitor, diagnose
    from deepgrad.layers import Dense
    from deepgrad.models import Sequential

    _section("7. Vanishing gradients: diagnosed, then fixed")
    x, y = make_moons(n_samples=400, noise=0.15, random_state=seed)
    runs = {}
    for label, activation, initializer in (
            ("10 sigmoid layers, N(0, 0.05) weights", "sigmoid", initializers.RandomNormal(stddev=0.05)),
            ("10 ReLU layers, He initialization", "relu", "he_normal")):
        dg.manual_seed(seed)
        model = Sequential([Dense(16, activation=activation, kernel_initializer=initializer, input_dim=2)]
                           + [Dense(16, activation=activation, kernel_initializer=initializer) for _ in range(9)]
                           + [Dense(2, activation="softmax")])
        model.compile(optimizer=optimizers.SGD(learning_rate=0.05), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        monitor = GradientMonitor()
        history = model.fit(x, y, epochs=30, batch_size=32, validation_split=0.2, verbose=0, callbacks=[monitor])
        diagnosis = diagnose(model, history, monitor)
        print(f"-- {label}: training accuracy {history.history['accuracy'][-1]:.0%}")
        print("   " + str(diagnosis).replace("\n", "\n   "))
        runs[label] = (model, history, monitor, diagnosis)
    (sick_label, sick), (fixed_label, fixed) = runs.items()
    return {"vanishing_detected": "vanishing_gradients" in sick[3],
            "vanishing_after_fix": "vanishing_gradients" in fixed[3],
            "moons": (x, y), "vanishing_runs": runs,
            "vanishing_fixed_accuracy": float(fixed[1].history["accuracy"][-1])}


def plots(results, output_dir):
    """Every plot of deepgrad.plot, written to ``output_dir`` (needs matplotlib)."""
    _section(f"8. Plots written to {output_dir}/")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("matplotlib is not installed: pip install 'deepgrad[plot]' to draw the plots.")
        return {}
    import deepgrad as dg
    from deepgrad import optimizers, plot, regularizers
    from deepgrad.datasets import logic_gate
    from deepgrad.layers import Dense
    from deepgrad.models import Sequential
    from deepgrad.perceptron import Perceptron

    paths = []

    def save(name, draw):
        path = os.path.join(output_dir, name)
        figure = draw(path)
        paths.append(path)
        import matplotlib.pyplot as plt

        plt.close(figure)

    save("history_digits.png", lambda p: plot.plot_history(results["history"], save_path=p))
    save("confusion_digits.png", lambda p: plot.plot_confusion_matrix(
        results["y_test"], results["model"].predict(results["x_test"]).argmax(axis=1), save_path=p))
    save("activations.png", lambda p: plot.plot_activations_grid(save_path=p))
    save("activation_gelu.png", lambda p: plot.plot_activation("gelu", save_path=p))
    x, y = results["moons"]
    fixed_model, _, fixed_monitor, _ = list(results["vanishing_runs"].values())[1]
    sick_monitor = list(results["vanishing_runs"].values())[0][2]
    save("decision_regions_moons.png", lambda p: plot.plot_decision_regions(fixed_model, x, y, save_path=p))
    save("gradient_flow_vanishing.png", lambda p: plot.plot_gradient_flow(sick_monitor, save_path=p))
    save("gradient_flow_fixed.png", lambda p: plot.plot_gradient_flow(fixed_monitor, save_path=p))
    x_gate, y_gate = logic_gate("and")
    perceptron = Perceptron(learning_rate=0.1, max_epochs=20, random_state=0).fit(x_gate, y_gate)
    save("perceptron_and.png", lambda p: plot.plot_perceptron_boundary(perceptron, x_gate, y_gate, save_path=p))

    # the regularization comparison: the same network with and without L2
    pair = []
    for regularizer in (None, regularizers.l2(0.01)):
        dg.manual_seed(0)
        model = Sequential([Dense(64, activation="relu", input_dim=2, kernel_regularizer=regularizer),
                            Dense(64, activation="relu", kernel_regularizer=regularizer),
                            Dense(2, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=40, batch_size=32, verbose=0)
        pair.append(model)
    save("weights_l2_vs_none.png", lambda p: plot.plot_weight_histograms(
        pair[0], pair[1], labels=("no regularization", "L2 0.01"), save_path=p))

    # the learning-rate range test on the moons network
    dg.manual_seed(0)
    model = Sequential([Dense(32, activation="relu", input_dim=2), Dense(2, activation="softmax")])
    model.compile(optimizer=optimizers.SGD(), loss="sparse_categorical_crossentropy")
    finder = optimizers.find_learning_rate(model, x, y, start=1e-4, end=10, steps=100)
    print(f"learning-rate range test suggests {finder.suggested_learning_rate:.3g}")
    save("lr_finder.png", lambda p: plot.plot_lr_finder(finder, save_path=p))
    for path in paths:
        print(f"  {path}")
    return {"plots": len(paths), "suggested_learning_rate": float(finder.suggested_learning_rate)}


SECTIONS = [neuron, perceptron_gates, tensor_mlp, keras_digits, xor_mlp, sine_approximation, vanishing_gradients]


def run(seed=0, output_dir="deepgrad-demo"):
    """Run every section; returns the figures (accuracies, timings) by name."""
    start = time.perf_counter()
    os.makedirs(output_dir, exist_ok=True)
    results = {}
    for section in SECTIONS:
        results.update(section(seed=seed))
    results.update(plots(results, output_dir))
    elapsed = time.perf_counter() - start
    _section("Summary")
    for key, value in results.items():
        if isinstance(value, float):
            shown = f"{value:.2%}" if "accuracy" in key else f"{value:.3f}"
            print(f"  {key:<28} {shown}")
    print(f"demo finished in {elapsed:.1f} s")
    results["seconds"] = elapsed
    return results


# --------------------------------------------------------------------------- the longer chapters

# The chapters are the course's example notebooks (examples/*.py, jupytext percent-format
# scripts): one source, run here as a script. A wheel carries them as deepgrad/examples/
# (copied in by setup.py when the wheel is built); a source checkout runs its examples/ folder.
CHAPTERS = {
    "cnn": ("apparel_classifier.py", "image classification: a CNN finds the type of apparel (Fashion-MNIST)"),
    "text": ("sentiment_sst2.py", "sentiment analysis on SST-2: bidirectional LSTM, 1-D CNN, Transformer"),
    "autoencoder": ("autoencoders_fashion.py", "autoencoders on Fashion-MNIST, measured against PCA"),
    "gan": ("gan_mnist.py", "a DCGAN writes MNIST digits, scored by a classifier"),
}
QUICK_VARIABLE = "DEEPGRAD_EXAMPLE_QUICK"


def example_folders():
    """Where the example scripts may be: the source checkout's examples/ first, then the copy in the package."""
    package = os.path.dirname(os.path.abspath(__file__))
    source = os.path.dirname(package)
    folders = []
    if os.path.basename(source) == "src":  # deepgrad runs from a source checkout (src layout)
        folders.append(os.path.join(os.path.dirname(source), "examples"))
    folders.append(os.path.join(package, "examples"))
    return folders


def chapter_script(name):
    """The path of chapter ``name``'s example script; a ``ValueError`` that says what is wrong otherwise."""
    if name not in CHAPTERS:
        raise ValueError(f"unknown chapter {name!r}; the chapters are {', '.join(CHAPTERS)} "
                         "(`deepgrad demo --list` describes them).")
    filename = CHAPTERS[name][0]
    for folder in example_folders():
        path = os.path.join(folder, filename)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"chapter {name!r} runs the example {filename}, which this installation does not have "
                            f"(looked in {' and '.join(example_folders())}); it is in the examples/ folder of the "
                            "deepgrad source repository: run it from a checkout, or install a wheel built from one.")


def list_chapters(stream=None):
    """Print the chapters, what each shows and the example it runs (or that it is missing)."""
    import sys

    stream = stream or sys.stdout
    print("the quick tour: `deepgrad demo` (under a minute); the longer chapters: `deepgrad demo CHAPTER`", file=stream)
    for name, (filename, description) in CHAPTERS.items():
        try:
            where = chapter_script(name)
        except FileNotFoundError:
            where = f"{filename}: not installed"
        print(f"  {name:<12} {description}\n  {'':<12} ({where})", file=stream)


def run_chapter(name, output_dir="deepgrad-demo", quick=False):
    """Run chapter ``name`` (its example script, in a new Python process); its figures go to ``output_dir/name``.

    ``quick`` (or ``DEEPGRAD_EXAMPLE_QUICK=1`` in the environment) runs the example's short
    setting: a slice of the data and an epoch or two. Returns the script's exit status.
    """
    import subprocess
    import sys

    script = chapter_script(name)
    folder = os.path.join(output_dir, name)
    os.makedirs(folder, exist_ok=True)
    env = dict(os.environ)
    # the script imports this deepgrad, wherever it was imported from
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    env.setdefault("MPLBACKEND", "Agg")  # the figures are written to files, no window opens
    if quick:
        env[QUICK_VARIABLE] = "1"
    setting = "quick setting" if env.get(QUICK_VARIABLE) == "1" else "full setting"
    _section(f"chapter {name}: {CHAPTERS[name][1]} ({setting})")
    print(f"running {script}; figures go to {folder}/", flush=True)
    start = time.perf_counter()
    status = subprocess.run([sys.executable, script, "--output", folder], env=env).returncode
    print(f"chapter {name} {'finished' if status == 0 else f'FAILED (exit status {status})'} in "
          f"{time.perf_counter() - start:.1f} s; figures in {folder}/", flush=True)
    return status
