"""Every optimizer, step by step, against PyTorch configured to the same definition (or
against the published equations where PyTorch cannot express it), in float64.

Each case runs 25 steps on (a) an ill-conditioned quadratic and (b) a small tanh MLP with a
softmax cross-entropy loss, once with loose tensors (per-variable path) and once with the
tensors in a ParameterBuffer (flat path), and compares every parameter to 1e-6 relative.
"""

import math

import numpy as np
import pytest
from torch_reference import reference, torch

import deepgrad as dg
from deepgrad import optimizers

STEPS = 25
RTOL = 1e-6

# ----------------------------------------------------------------------------- problems
CURVATURES = [np.array([1.0, 100.0]), np.array([3.0, 30.0, 0.5])]  # condition number 200
QUADRATIC_START = [np.array([1.0, -1.5]), np.array([0.5, 2.0, -1.0])]


def quadratic_loss(params, lib):
    total = 0.0
    for p, h in zip(params, CURVATURES):
        h = lib.tensor(h) if lib is torch else dg.tensor(h, dtype=np.float64)
        total = total + 0.5 * (h * p * p).sum()
    return total


_rng = np.random.default_rng(0)
MLP_X = _rng.normal(size=(16, 4))
MLP_Y = _rng.integers(0, 3, size=16)
MLP_START = [_rng.normal(size=(4, 8)) * 0.5, _rng.normal(size=8) * 0.1,
             _rng.normal(size=(8, 3)) * 0.5, _rng.normal(size=3) * 0.1]


def mlp_loss_dg(params):
    w1, b1, w2, b2 = params
    hidden = (dg.Tensor(MLP_X) @ w1 + b1).tanh()
    return dg.softmax_cross_entropy(hidden @ w2 + b2, MLP_Y)


def mlp_loss_torch(params):
    w1, b1, w2, b2 = params
    hidden = torch.tanh(torch.tensor(MLP_X) @ w1 + b1)
    return torch.nn.functional.cross_entropy(hidden @ w2 + b2, torch.tensor(MLP_Y))


PROBLEMS = {
    "quadratic": (QUADRATIC_START, lambda ps: quadratic_loss(ps, dg), lambda ps: quadratic_loss(ps, torch)),
    "mlp": (MLP_START, mlp_loss_dg, mlp_loss_torch),
}


# ----------------------------------------------------------------------------- references
class Reference:
    """Published update equations written out with torch tensors, one parameter at a time."""

    def __init__(self, params, update, **hyper):
        self.params, self.update, self.hyper = params, update, hyper
        self.state = [dict() for _ in params]
        self.t = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        self.t += 1
        with torch.no_grad():
            for p, state in zip(self.params, self.state):
                self.update(p, p.grad, state, self.t, **self.hyper)


def keras_rmsprop(p, g, s, t, lr, rho, momentum, eps, centered):
    s.setdefault("v", torch.zeros_like(p))
    s["v"] = rho * s["v"] + (1 - rho) * g * g
    denominator = s["v"] + eps
    if centered:
        s.setdefault("a", torch.zeros_like(p))
        s["a"] = rho * s["a"] + (1 - rho) * g
        denominator = s["v"] - s["a"] ** 2 + eps
    increment = lr * g / torch.sqrt(denominator)
    if momentum > 0:
        s["b"] = momentum * s.get("b", torch.zeros_like(p)) + increment
        increment = s["b"]
    p -= increment


def keras_adagrad(p, g, s, t, lr, initial, eps):
    s["G"] = s.get("G", torch.full_like(p, initial)) + g * g
    p -= lr * g / torch.sqrt(s["G"] + eps)


def keras_adamax(p, g, s, t, lr, beta_1, beta_2, eps):
    s["m"] = beta_1 * s.get("m", torch.zeros_like(p)) + (1 - beta_1) * g
    s["u"] = torch.maximum(beta_2 * s.get("u", torch.zeros_like(p)), g.abs())
    p -= lr / (1 - beta_1 ** t) * s["m"] / (s["u"] + eps)


def lion(p, g, s, t, lr, beta_1, beta_2, weight_decay=0.0):
    m = s.get("m", torch.zeros_like(p))
    p -= lr * weight_decay * p
    p -= lr * torch.sign(beta_1 * m + (1 - beta_1) * g)
    s["m"] = beta_2 * m + (1 - beta_2) * g


def lars(p, g, s, t, lr, momentum, weight_decay, trust_coefficient, nesterov):
    """You et al. 2017, Algorithm 1: v <- m v + eta * local_lr * (g + beta w); w <- w - v."""
    w_norm, g_norm = torch.linalg.norm(p), torch.linalg.norm(g)
    local = trust_coefficient * w_norm / (g_norm + weight_decay * w_norm)
    if w_norm == 0 or g_norm == 0:
        local = 1.0
    update = lr * local * (g + weight_decay * p)
    s["v"] = momentum * s.get("v", torch.zeros_like(p)) + update
    p -= momentum * s["v"] + update if nesterov else s["v"]


def adam_epsilon_hook(epsilon, beta_2):
    """PyTorch's Adam adds eps to sqrt(v_hat); Keras adds epsilon to sqrt(v), i.e.
    eps_t = epsilon / sqrt(1 - beta_2^t) in PyTorch's form: set it before each step."""
    def hook(torch_optimizer, t):
        for group in torch_optimizer.param_groups:
            group["eps"] = epsilon / math.sqrt(1 - beta_2 ** t)
    return hook


# (id, deepgrad optimizer factory, reference factory taking torch params, per-step hook)
CASES = [
    ("sgd", lambda: optimizers.SGD(learning_rate=0.004),
     lambda ps: torch.optim.SGD(ps, lr=0.004), None),
    ("sgd-momentum", lambda: optimizers.SGD(learning_rate=0.004, momentum=0.9),
     lambda ps: torch.optim.SGD(ps, lr=0.004, momentum=0.9), None),
    ("sgd-nesterov", lambda: optimizers.SGD(learning_rate=0.003, momentum=0.8, nesterov=True),
     lambda ps: torch.optim.SGD(ps, lr=0.003, momentum=0.8, nesterov=True), None),
    ("rmsprop-eps0", lambda: optimizers.RMSprop(learning_rate=0.01, rho=0.9, epsilon=0.0),
     lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=0.0), None),
    ("rmsprop-centered-momentum", lambda: optimizers.RMSprop(learning_rate=0.005, rho=0.8, momentum=0.5,
                                                             centered=True, epsilon=0.0),
     lambda ps: torch.optim.RMSprop(ps, lr=0.005, alpha=0.8, momentum=0.5, centered=True, eps=0.0), None),
    ("rmsprop-keras-eps", lambda: optimizers.RMSprop(learning_rate=0.01, momentum=0.3, centered=True),
     lambda ps: Reference(ps, keras_rmsprop, lr=0.01, rho=0.9, momentum=0.3, eps=1e-7, centered=True), None),
    ("adagrad-eps0", lambda: optimizers.Adagrad(learning_rate=0.1, epsilon=0.0),
     lambda ps: torch.optim.Adagrad(ps, lr=0.1, initial_accumulator_value=0.1, eps=0.0), None),
    ("adagrad-initial", lambda: optimizers.Adagrad(learning_rate=0.05, initial_accumulator_value=0.5, epsilon=0.0),
     lambda ps: torch.optim.Adagrad(ps, lr=0.05, initial_accumulator_value=0.5, eps=0.0), None),
    ("adagrad-keras-eps", lambda: optimizers.Adagrad(learning_rate=0.1, initial_accumulator_value=0.0),
     lambda ps: Reference(ps, keras_adagrad, lr=0.1, initial=0.0, eps=1e-7), None),
    ("adadelta", lambda: optimizers.Adadelta(learning_rate=1.0, rho=0.9, epsilon=1e-6),
     lambda ps: torch.optim.Adadelta(ps, lr=1.0, rho=0.9, eps=1e-6), None),
    ("adadelta-keras", lambda: optimizers.Adadelta(learning_rate=0.5),
     lambda ps: torch.optim.Adadelta(ps, lr=0.5, rho=0.95, eps=1e-7), None),
    ("adam", lambda: optimizers.Adam(learning_rate=0.01),
     lambda ps: torch.optim.Adam(ps, lr=0.01), adam_epsilon_hook(1e-7, 0.999)),
    ("adam-amsgrad", lambda: optimizers.Adam(learning_rate=0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-3,
                                             amsgrad=True),
     lambda ps: torch.optim.Adam(ps, lr=0.02, betas=(0.8, 0.99), amsgrad=True), adam_epsilon_hook(1e-3, 0.99)),
    ("adamw", lambda: optimizers.AdamW(learning_rate=0.01, weight_decay=0.1),
     lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1), adam_epsilon_hook(1e-7, 0.999)),
    ("adamw-amsgrad", lambda: optimizers.AdamW(learning_rate=0.02, amsgrad=True, epsilon=1e-4),
     lambda ps: torch.optim.AdamW(ps, lr=0.02, weight_decay=0.004, amsgrad=True), adam_epsilon_hook(1e-4, 0.999)),
    ("adamax-eps0", lambda: optimizers.Adamax(learning_rate=0.02, epsilon=0.0),
     lambda ps: torch.optim.Adamax(ps, lr=0.02, eps=0.0), None),
    ("adamax-keras-eps", lambda: optimizers.Adamax(learning_rate=0.02, beta_1=0.8, epsilon=1e-3),
     lambda ps: Reference(ps, keras_adamax, lr=0.02, beta_1=0.8, beta_2=0.999, eps=1e-3), None),
    ("nadam", lambda: optimizers.Nadam(learning_rate=0.01),
     lambda ps: torch.optim.NAdam(ps, lr=0.01, eps=1e-7, momentum_decay=1.0), None),
    ("nadam-betas", lambda: optimizers.Nadam(learning_rate=0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-4),
     lambda ps: torch.optim.NAdam(ps, lr=0.02, betas=(0.8, 0.99), eps=1e-4, momentum_decay=1.0), None),
    ("lion", lambda: optimizers.Lion(learning_rate=0.003),
     lambda ps: Reference(ps, lion, lr=0.003, beta_1=0.9, beta_2=0.99), None),
    ("lion-decay", lambda: optimizers.Lion(learning_rate=0.002, beta_1=0.5, beta_2=0.9, weight_decay=0.1),
     lambda ps: Reference(ps, lion, lr=0.002, beta_1=0.5, beta_2=0.9, weight_decay=0.1), None),
    ("lars", lambda: optimizers.LARS(learning_rate=1.0, momentum=0.9, weight_decay=1e-3, trust_coefficient=0.01),
     lambda ps: Reference(ps, lars, lr=1.0, momentum=0.9, weight_decay=1e-3, trust_coefficient=0.01,
                          nesterov=False), None),
    ("lars-nesterov", lambda: optimizers.LARS(learning_rate=0.5, momentum=0.8, nesterov=True,
                                              trust_coefficient=0.02),
     lambda ps: Reference(ps, lars, lr=0.5, momentum=0.8, weight_decay=0.0, trust_coefficient=0.02,
                          nesterov=True), None),
]


def run_deepgrad(make_optimizer, start, loss_fn, buffered):
    params = [dg.tensor(a.copy(), requires_grad=True, dtype=np.float64) for a in start]
    if buffered:
        dg.ParameterBuffer(params)  # the tensors become views into its flat arrays
    optimizer = make_optimizer()
    for _ in range(STEPS):
        optimizer.zero_grad(params)
        loss_fn(params).backward()
        optimizer.step(params)
    if buffered:
        assert optimizer._flat is not None, "the buffered tensors should take the flat path"
    return [p.numpy().copy() for p in params], optimizer


def run_reference(make_reference, start, loss_fn, hook):
    params = [torch.tensor(a.copy(), requires_grad=True) for a in start]
    reference = make_reference(params)
    for t in range(1, STEPS + 1):
        reference.zero_grad()
        loss_fn(params).backward()
        if hook is not None:
            hook(reference, t)
        reference.step()
    return [p.detach().numpy() for p in params]


@pytest.mark.parametrize("buffered", [False, True], ids=["loose", "buffer"])
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_reference_for_25_steps(case, problem, buffered):
    _, make_optimizer, make_reference, hook = case
    start, dg_loss, torch_loss = PROBLEMS[problem]
    ours, optimizer = run_deepgrad(make_optimizer, start, dg_loss, buffered)
    expected = reference(lambda: run_reference(make_reference, start, torch_loss, hook))
    assert optimizer.iterations == STEPS
    for a, b, initial in zip(ours, expected, start):
        assert not np.allclose(b, initial), "the reference did not move: the comparison would be vacuous"
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-12)


def test_every_optimizer_is_covered_by_two_settings():
    covered = {}
    for _case_id, make_optimizer, _, _ in CASES:
        name = type(make_optimizer()).__name__
        covered[name] = covered.get(name, 0) + 1
    assert set(covered) == {"SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "AdamW", "Adamax", "Nadam",
                            "Lion", "LARS"}
    assert min(covered.values()) >= 2
