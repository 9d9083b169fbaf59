# %% [markdown]
# # The artificial neuron, Rosenblatt's perceptron, and why XOR needs a hidden layer
#
# The first chapter of the course in code:
#
# 1. **the artificial neuron**: inputs x_i weighted by w_i and summed with a bias,
#    z = w . x + b, then an activation a = f(z) (the soma "decides whether to fire");
# 2. **the perceptron learning rule** (Rosenblatt, 1958) on a linearly separable problem:
#    it converges, within the (R / gamma)^2 mistakes the convergence theorem promises;
# 3. **its failure on XOR**: no line separates XOR's classes, so the rule never stops;
# 4. **a multilayer perceptron solves XOR**: first with hand-set weights
#    (XOR = AND(OR, NAND)), then learned by gradient descent with a hidden layer.
#
# Full setting (`python examples/neuron_and_perceptron.py`, about 5 s on a CPU): the
# perceptron separates 400 points after 2 epochs (100% accuracy, 14 mistakes, within the
# theorem's bound); on XOR it is still at 50% after 100 epochs (never above 75%); the
# 2-4-1 MLP reaches 100% on XOR (final loss 0.0026). `--quick` (or
# `DEEPGRAD_EXAMPLE_QUICK=1`) runs a smaller version in a second or two. Figures go to
# `--output` (default `examples-output/neuron_and_perceptron`).

# %%
import argparse
import os
import sys
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import deepgrad as dg
from deepgrad import plot
from deepgrad.datasets import logic_gate
from deepgrad.layers import Dense, Input
from deepgrad.models import Sequential
from deepgrad.perceptron import ConvergenceWarning, Perceptron

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="a smaller run, a second or two")
parser.add_argument("--output", default="examples-output/neuron_and_perceptron", help="folder for the figures")
args, _ = parser.parse_known_args(sys.argv[1:])
QUICK = args.quick or os.environ.get("DEEPGRAD_EXAMPLE_QUICK") == "1"
output = Path(args.output)
output.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## 1. One artificial neuron
#
# A neuron receives inputs x_1..x_n (the dendrites), weighs each by a synaptic weight
# w_i, sums them with a bias b (the soma) and passes the sum through an activation f
# (does it fire, and how strongly):
#
# $$z = \sum_i w_i x_i + b = w \cdot x + b, \qquad a = f(z)$$
#
# The course's example: x = (0.8, 1.2), w = (1.0, 0.75), b = 0.5. Written with deepgrad
# tensors, autograd also gives da/dw = f'(z) x: the neuron's sensitivity to each weight.

# %%
x = dg.tensor([0.8, 1.2])
w = dg.tensor([1.0, 0.75], requires_grad=True)
b = dg.tensor(0.5, requires_grad=True)
z = (w * x).sum() + b
print(f"z = w . x + b = 1.0*0.8 + 0.75*1.2 + 0.5 = {z.item():.2f}")
for name in ("binary_step", "sigmoid", "tanh", "relu"):
    print(f"  a = {name}(z) = {dg.activations.get(name)(z).item():.4f}")
a = z.relu()
a.backward()
print(f"with ReLU: da/dw = f'(z) x = {np.round(w.grad, 4).tolist()}, da/db = {float(b.grad):.1f}")

# %% [markdown]
# A neuron with a step activation is a yes/no decision. The course's concert example:
# go (1) if the weighted reasons reach the threshold theta = 1.5. Moving the threshold
# into the bias (b = -theta, the weight w_0 of a constant input x_0 = 1) gives the
# usual form f(w . x + b).

# %%
concert = Perceptron.from_weights([0.7, 0.6, 0.5, 0.3, 0.4], threshold=1.5)
reasons = np.array([[1, 0, 1, 0, 1]], dtype=np.float32)  # good weather, friend comes, near, ...
total = float(reasons[0] @ concert.weights_)
print(f"concert: weighted sum {total:.1f} >= 1.5 -> {'go' if concert.predict(reasons)[0] == 1 else 'stay home'}")

# %% [markdown]
# ## 2. The perceptron learning rule
#
# The perceptron visits the samples one by one; when its output o = step(w . x + b)
# differs from the target t it moves the line towards the sample:
#
# $$w \leftarrow w + \eta\,(t - o)\,x, \qquad b \leftarrow b + \eta\,(t - o)$$
#
# Correct samples change nothing. On **linearly separable** data (a line puts each class
# on its own side, with margin gamma > 0) the rule stops after at most (R / gamma)^2
# mistakes, R the largest norm of an input with the constant 1 appended (Novikoff's
# convergence theorem). Below: two clouds of points with a gap between them.

# %%
rng = np.random.default_rng(0)
n_points = 100 if QUICK else 400
points = rng.uniform(-3, 3, size=(4 * n_points, 2))
signed = points @ np.array([1.0, -0.7]) + 0.4           # the hidden rule: sign of x1 - 0.7 x2 + 0.4
keep = np.abs(signed) / np.hypot(1.0, 0.7) > 0.3         # drop the points near the line: a margin
x_sep = points[keep][:n_points].astype(np.float32)
y_sep = (signed[keep][:n_points] > 0).astype(np.int64)
print(f"{len(x_sep)} points, {y_sep.sum()} of class 1")

with warnings.catch_warnings():
    warnings.simplefilter("error", ConvergenceWarning)  # it must converge here
    perceptron = Perceptron(learning_rate=1.0, max_epochs=100, random_state=0).fit(x_sep, y_sep)
mistakes = int(np.sum(perceptron.errors_))
print(f"converged: {perceptron.converged_} after {perceptron.n_epochs_} epochs; errors per epoch "
      f"{perceptron.errors_}; accuracy {perceptron.score(x_sep, y_sep):.0%}")

# the theorem's bound, with the margin of the line it found (its true margin is at least that large)
augmented = np.hstack([x_sep, np.ones((len(x_sep), 1))])
normal = np.append(perceptron.weights_, perceptron.bias_)
gamma = float(np.min((2 * y_sep - 1) * (augmented @ normal)) / np.linalg.norm(normal))
radius = float(np.linalg.norm(augmented, axis=1).max())
print(f"mistakes {mistakes} <= (R / gamma)^2 = ({radius:.2f} / {gamma:.3f})^2 = {(radius / gamma) ** 2:.0f}")
assert mistakes <= (radius / gamma) ** 2

plot.plot_perceptron_boundary(perceptron, x_sep, y_sep, save_path=output / "perceptron_separable.png")
plt.show()

# %% [markdown]
# The logic gates AND, OR, NAND, NOR are linearly separable too: one perceptron learns
# each. XOR (output 1 when exactly one input is 1) is not: its two 1s sit on one
# diagonal of the unit square and its two 0s on the other, and no line separates the
# diagonals. The rule keeps correcting one corner by breaking another and never
# converges (deepgrad warns with a `ConvergenceWarning`); at best 3 of the 4 points
# are right.

# %%
gate_accuracy = {}
for gate in ("and", "or", "nand", "nor", "xor"):
    x_gate, y_gate = logic_gate(gate)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        gate_perceptron = Perceptron(learning_rate=0.1, max_epochs=20 if QUICK else 100, random_state=0)
        gate_perceptron.fit(x_gate, y_gate)
    gate_accuracy[gate] = gate_perceptron.score(x_gate, y_gate)
    status = (f"converged after {gate_perceptron.n_epochs_} epochs" if gate_perceptron.converged_
              else f"NOT converged after {gate_perceptron.n_epochs_} epochs ({len(caught)} warning)")
    print(f"{gate.upper():>4}: {status}; accuracy {gate_accuracy[gate]:.0%}")
    if gate == "xor":
        xor_perceptron = gate_perceptron
print("errors per epoch on XOR (never 0):", xor_perceptron.errors_[:12], "...")
print(f"perceptron accuracy on XOR: {gate_accuracy['xor']:.0%}")
x_xor, y_xor = logic_gate("xor")
plot.plot_perceptron_boundary(xor_perceptron, x_xor, y_xor, save_path=output / "perceptron_xor.png")
plt.show()

# %% [markdown]
# ## 3. A multilayer perceptron solves XOR
#
# Two neurons in a hidden layer make two lines; the output neuron combines their
# answers. By hand, with step neurons:
#
# $$h_1 = \mathrm{OR}(x_1, x_2),\quad h_2 = \mathrm{NAND}(x_1, x_2),\quad
#   \mathrm{XOR}(x_1, x_2) = \mathrm{AND}(h_1, h_2)$$
#
# The hidden layer maps the four corners to new coordinates (h_1, h_2) in which the two
# classes *are* linearly separable.

# %%
or_neuron = Perceptron.from_weights([1.0, 1.0], threshold=0.5)
nand_neuron = Perceptron.from_weights([-1.0, -1.0], threshold=-1.5)
and_neuron = Perceptron.from_weights([1.0, 1.0], threshold=1.5)
hidden = np.column_stack([or_neuron.predict(x_xor), nand_neuron.predict(x_xor)])
by_hand = and_neuron.predict(hidden)
for row, h, out in zip(x_xor.astype(int), hidden, by_hand):
    print(f"x = {row} -> (h1, h2) = {h} -> XOR = {out}")
assert np.array_equal(by_hand, y_xor)

# %% [markdown]
# Learned instead of set by hand: a 2-4-1 network with tanh hidden units and a sigmoid
# output, trained by gradient descent (backpropagation, next chapter) on the binary
# cross-entropy. The step function has zero derivative almost everywhere, so it cannot
# be trained this way: smooth activations make the error surface differentiable.

# %%
dg.manual_seed(0)
mlp = Sequential([Input(shape=(2,)), Dense(4, activation="tanh"), Dense(1, activation="sigmoid")])
mlp.compile(optimizer=dg.optimizers.Adam(learning_rate=0.05), loss="binary_crossentropy", metrics=["accuracy"])
history = mlp.fit(x_xor, y_xor, epochs=150 if QUICK else 400, batch_size=4, verbose=0)
probabilities = mlp.predict(x_xor, verbose=0).ravel()
for row, p in zip(x_xor.astype(int), probabilities):
    print(f"MLP: XOR({row[0]}, {row[1]}) -> {p:.3f} -> {int(p > 0.5)}")
mlp_accuracy = float(np.mean((probabilities > 0.5) == y_xor))
print(f"MLP accuracy on XOR: {mlp_accuracy:.0%} (final loss {history.history['loss'][-1]:.4f})")

plot.plot_decision_regions(mlp, x_xor, y_xor, title="2-4-1 MLP on XOR", save_path=output / "mlp_xor.png")
plt.show()
plt.close("all")
print("figures saved:", ", ".join(sorted(p.name for p in output.glob("*.png"))))
