"""Random composite expressions against PyTorch CPU in float64: values and gradients to 1e-7.

Hypothesis draws a small program: a sequence of ops, each applied to operands picked
from the inputs and earlier results. Every intermediate keeps a shape that broadcasts
to (3, 4), so any two can meet in a binary op. The program runs once on deepgrad
tensors and once on torch tensors; the final value is contracted with fixed weights
to a scalar and both frameworks backpropagate it.
"""

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_reference import reference, torch

import deepgrad as dg

INPUT_SHAPES = [(3, 4), (4,), (3, 1), (1, 4), ()]
COLUMNS = [0, 2, 2, 1]  # a fancy index with a repeat: gradients must accumulate


def _full(t, lib):
    """t broadcast to (3, 4) through arithmetic (differentiable in both frameworks)."""
    ones = lib.ones((3, 4), dtype=t.dtype) if lib is np else torch.ones((3, 4), dtype=t.dtype)
    return t * (dg.Tensor(ones) if lib is np else ones)


# name: (arity, deepgrad function, torch function)
OPS = {
    "add": (2, lambda a, b: a + b, lambda a, b: a + b),
    "sub": (2, lambda a, b: a - b, lambda a, b: a - b),
    "mul": (2, lambda a, b: a * b, lambda a, b: a * b),
    "div": (2, lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1)),
    "rsub": (1, lambda a: 2 - a, lambda a: 2 - a),
    "rdiv": (1, lambda a: 1 / (a * a + 0.5), lambda a: 1 / (a * a + 0.5)),
    "pow_scalar": (1, lambda a: (a * a + 1) ** 1.5, lambda a: (a * a + 1) ** 1.5),
    "pow_tensor": (2, lambda a, b: (a * a + 1) ** b.tanh(), lambda a, b: (a * a + 1) ** b.tanh()),
    "rpow": (1, lambda a: 2 ** a.tanh(), lambda a: 2 ** a.tanh()),
    "maximum": (2, dg.maximum, torch.maximum),
    "minimum": (2, dg.minimum, torch.minimum),
    "where": (2, lambda a, b: dg.where(a > b, a * 2, b), lambda a, b: torch.where(a > b, a * 2, b)),
    "exp_tanh": (1, lambda a: a.tanh().exp(), lambda a: a.tanh().exp()),
    "log": (1, lambda a: (a * a + 0.1).log(), lambda a: (a * a + 0.1).log()),
    "log1p": (1, lambda a: (a * a).log1p(), lambda a: (a * a).log1p()),
    "sqrt": (1, lambda a: (a * a + 0.1).sqrt(), lambda a: (a * a + 0.1).sqrt()),
    "abs": (1, lambda a: a.abs(), lambda a: a.abs()),
    "neg": (1, lambda a: -a, lambda a: -a),
    "tanh": (1, lambda a: a.tanh(), lambda a: a.tanh()),
    "sigmoid": (1, lambda a: (a * 5).sigmoid(), lambda a: (a * 5).sigmoid()),
    "relu": (1, lambda a: a.relu(), lambda a: a.relu()),
    "softplus": (1, lambda a: (a * 5).softplus(), lambda a: torch.nn.functional.softplus(a * 5)),
    "clip": (1, lambda a: a.clip(-0.5, 0.5), lambda a: a.clamp(-0.5, 0.5)),
    "sum0": (1, lambda a: a.sum(axis=0, keepdims=True), lambda a: a.sum(dim=0, keepdim=True)),
    "mean1": (1, lambda a: _full(a, np).mean(axis=1, keepdims=True),
              lambda a: _full(a, torch).mean(dim=1, keepdim=True)),
    "max1": (1, lambda a: _full(a, np).max(axis=1, keepdims=True),
             lambda a: _full(a, torch).amax(dim=1, keepdim=True)),
    "min0": (1, lambda a: _full(a, np).min(axis=0, keepdims=True),
             lambda a: _full(a, torch).amin(dim=0, keepdim=True)),
    "var1": (1, lambda a: _full(a, np).var(axis=1, keepdims=True),
             lambda a: _full(a, torch).var(dim=1, keepdim=True, correction=0)),
    "std0": (1, lambda a: _full(a, np).std(axis=0, keepdims=True, ddof=1),
             lambda a: _full(a, torch).std(dim=0, keepdim=True)),
    "prod1": (1, lambda a: _full(a, np).prod(axis=1, keepdims=True),
              lambda a: _full(a, torch).prod(dim=1, keepdim=True)),
    "softmax": (1, lambda a: _full(a, np).softmax(axis=1), lambda a: _full(a, torch).softmax(dim=1)),
    "log_softmax": (1, lambda a: dg.log_softmax(_full(a, np), axis=0),
                    lambda a: _full(a, torch).log_softmax(dim=0)),
    "logsumexp": (1, lambda a: _full(a, np).logsumexp(axis=1, keepdims=True),
                  lambda a: _full(a, torch).logsumexp(dim=1, keepdim=True)),
    "matmul": (2, lambda a, b: _full(a, np) @ _full(b, np).T @ _full(a, np) / 4,
               lambda a, b: _full(a, torch) @ _full(b, torch).T @ _full(a, torch) / 4),
    "transpose": (1, lambda a: _full(a, np).reshape(4, 3).T, lambda a: _full(a, torch).reshape(4, 3).T),
    "permute_stack": (2, lambda a, b: dg.stack([_full(a, np), _full(b, np)], axis=2).permute(2, 0, 1)[1],
                      lambda a, b: torch.stack([_full(a, torch), _full(b, torch)], dim=2).permute(2, 0, 1)[1]),
    "concat_slice": (2, lambda a, b: dg.concatenate([_full(a, np), _full(b, np)], axis=1)[:, 2:6],
                     lambda a, b: torch.cat([_full(a, torch), _full(b, torch)], dim=1)[:, 2:6]),
    "fancy_index": (1, lambda a: _full(a, np)[:, COLUMNS], lambda a: _full(a, torch)[:, COLUMNS]),
    "flip_rows": (1, lambda a: _full(a, np)[::-1], lambda a: _full(a, torch).flip(0)),
    "mask_select": (1, lambda a: dg.where(_full(a, np) > 0, _full(a, np)[_full(a, np) > -10].reshape(3, 4), 0.0),
                    lambda a: torch.where(_full(a, torch) > 0,
                                          _full(a, torch)[_full(a, torch) > -10].reshape(3, 4), 0.0)),
    "gather": (1, lambda a: _full(a, np).gather(1, np.array([[1, 1, 0, 3]] * 3)),
               lambda a: _full(a, torch).gather(1, torch.tensor([[1, 1, 0, 3]] * 3))),
    "pad_crop": (1, lambda a: _full(a, np).pad(((1, 0), (0, 2)))[:3, 1:5],
                 lambda a: torch.nn.functional.pad(_full(a, torch), (0, 2, 1, 0))[:3, 1:5]),
    "broadcast_to": (1, lambda a: a.broadcast_to((2, 3, 4)).sum(axis=0) / 2,
                     lambda a: a.broadcast_to((2, 3, 4)).sum(dim=0) / 2),
    "squeeze": (1, lambda a: _full(a, np)[:, :1].squeeze(1).unsqueeze(1),
                lambda a: _full(a, torch)[:, :1].squeeze(1).unsqueeze(1)),
}

steps = st.lists(
    st.tuples(st.sampled_from(sorted(OPS)), st.integers(0, 100), st.integers(0, 100)),
    min_size=1, max_size=6,
)


@pytest.mark.slow
@settings(max_examples=200, derandomize=True, deadline=None)
@given(seed=st.integers(0, 2**16), shapes=st.lists(st.sampled_from(INPUT_SHAPES), min_size=1,
                                                    max_size=3), program=steps)
def test_random_programs_match_pytorch(seed, shapes, program):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) for shape in shapes]
    ours = [dg.Tensor(a.copy(), requires_grad=True) for a in arrays]
    pool_ours = list(ours)
    picked = []
    for name, first, second in program:
        arity, op_ours, _ = OPS[name]
        picks = [first % len(pool_ours), second % len(pool_ours)][:arity]
        picked.append((name, picks))
        pool_ours.append(op_ours(*(pool_ours[i] for i in picks)))
    out_ours = pool_ours[-1]
    weights = rng.standard_normal(out_ours.shape)

    def compute():  # the program's value and its inputs' gradients (empty where PyTorch has none)
        theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
        pool_theirs = list(theirs)
        for name, picks in picked:
            pool_theirs.append(OPS[name][2](*(pool_theirs[i] for i in picks)))
        (pool_theirs[-1] * torch.tensor(weights)).sum().backward()
        return [pool_theirs[-1].detach().numpy()] + [
            t.grad.numpy() if t.grad is not None else np.empty(0) for t in theirs]

    example = hashlib.sha256(repr((seed, shapes, picked)).encode()).hexdigest()[:16]
    expected_out, *expected_grads = reference(compute, key=example)
    np.testing.assert_allclose(out_ours.numpy(), expected_out, rtol=1e-7, atol=1e-12)

    (out_ours * dg.Tensor(weights)).sum().backward()
    for ours_input, expected in zip(ours, expected_grads):
        if expected.size == 0:
            assert ours_input.grad is None or not ours_input.grad.any()
            continue
        assert ours_input.grad is not None
        assert ours_input.grad.dtype == np.float64
        np.testing.assert_allclose(ours_input.grad, expected, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_mlp_step_matches_pytorch(scale):
    """One MLP forward/backward with the fused cross-entropy, float64, extreme logits included."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 5))
    labels = rng.integers(0, 3, size=8)
    params = [rng.standard_normal((5, 4)), rng.standard_normal(4), rng.standard_normal((4, 3)) * scale,
              rng.standard_normal(3)]
    ours = [dg.Tensor(p.copy(), requires_grad=True) for p in params]
    loss = dg.softmax_cross_entropy((dg.Tensor(x) @ ours[0] + ours[1]).relu() @ ours[2] + ours[3], labels)
    loss.backward()

    def compute():
        theirs = [torch.tensor(p, requires_grad=True) for p in params]
        value = torch.nn.functional.cross_entropy(
            torch.relu(torch.tensor(x) @ theirs[0] + theirs[1]) @ theirs[2] + theirs[3], torch.tensor(labels))
        value.backward()
        return [np.asarray(value.item())] + [t.grad.numpy() for t in theirs]

    expected_loss, *expected_grads = reference(compute)
    assert loss.item() == pytest.approx(float(expected_loss), rel=1e-7)
    for mine, expected in zip(ours, expected_grads):
        np.testing.assert_allclose(mine.grad, expected, rtol=1e-7, atol=1e-10)


def test_std_of_equal_values_has_zero_gradient_despite_rounding():
    x = dg.Tensor(np.full(3, 0.1), requires_grad=True)
    x.std(ddof=1).backward()
    assert np.array_equal(x.grad, np.zeros(3))
