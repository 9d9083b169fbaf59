"""Regularizers: penalties and their gradients against PyTorch, the course's formulas,
Keras' defaults, and get/serialize/config round trips."""

import numpy as np
import pytest
from torch_reference import reference, torch

import deepgrad as dg
from deepgrad import regularizers

WEIGHTS = np.random.default_rng(0).normal(size=(5, 3))


def _penalty_and_gradient(regularizer, weights=WEIGHTS):
    w = dg.tensor(weights, requires_grad=True)
    penalty = regularizer(w)
    assert penalty.shape == ()
    penalty.backward()
    return penalty.item(), w.grad


def _torch_penalty_and_gradient(formula, weights=WEIGHTS):
    def compute():
        w = torch.tensor(weights, requires_grad=True)
        penalty = formula(w)
        penalty.backward()
        return penalty.item(), w.grad.numpy()

    return reference(compute)


@pytest.mark.parametrize("regularizer, formula", [
    (regularizers.L1(0.3), lambda w: 0.3 * w.abs().sum()),
    (regularizers.L2(0.1), lambda w: 0.1 * (w ** 2).sum()),
    (regularizers.L1L2(l1=0.02, l2=0.05), lambda w: 0.02 * w.abs().sum() + 0.05 * (w ** 2).sum()),
    (regularizers.l1_l2(), lambda w: 0.01 * w.abs().sum() + 0.01 * (w ** 2).sum()),
    (regularizers.OrthogonalRegularizer(0.2), lambda w: 0.2 * 0.5 * (
        (torch.nn.functional.normalize(w, dim=1) @ torch.nn.functional.normalize(w, dim=1).T)
        * (1 - torch.eye(5, dtype=w.dtype))).abs().sum() / 10),
    (regularizers.OrthogonalRegularizer(0.2, mode="columns"), lambda w: 0.2 * 0.5 * (
        (torch.nn.functional.normalize(w, dim=0).T @ torch.nn.functional.normalize(w, dim=0))
        * (1 - torch.eye(3, dtype=w.dtype))).abs().sum() / 3),
], ids=["l1", "l2", "l1l2", "l1_l2_defaults", "orthogonal_rows", "orthogonal_columns"])
def test_penalties_and_gradients_match_torch(regularizer, formula):
    ours, our_gradient = _penalty_and_gradient(regularizer)
    expected, expected_gradient = _torch_penalty_and_gradient(formula)
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    np.testing.assert_allclose(our_gradient, expected_gradient, rtol=1e-10, atol=1e-14)


def test_keras_documented_value_and_defaults():
    assert regularizers.L2(2.0)(dg.ones(5, 5)).item() == 50.0
    assert regularizers.L1().l1 == 0.01 and regularizers.L2().l2 == 0.01
    assert regularizers.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.get("l1_l2").get_config() == {"l1": 0.01, "l2": 0.01}
    assert regularizers.get("l2").get_config() == {"l2": 0.01}
    assert regularizers.L1(None).l1 == 0.01


def test_the_courses_l2_cost_term():
    """C = L + lambda/(2n) sum w^2 is L2 with l2 = lambda / (2n)."""
    lam, n = 0.8, 32
    penalty = regularizers.L2(lam / (2 * n))(dg.tensor(WEIGHTS)).item()
    np.testing.assert_allclose(penalty, lam / (2 * n) * (WEIGHTS ** 2).sum(), rtol=1e-12)


def test_the_courses_l1_norm_and_elastic_net_mixing():
    lam = 0.5
    np.testing.assert_allclose(regularizers.L1(lam)(WEIGHTS).item(), lam * np.abs(WEIGHTS).sum(), rtol=1e-12)
    for alpha in (0.0, 0.3, 1.0):
        mixed = lam * (alpha * np.abs(WEIGHTS).sum() + (1 - alpha) / 2 * (WEIGHTS ** 2).sum())
        net = regularizers.L1L2(l1=lam * alpha, l2=lam * (1 - alpha) / 2)
        np.testing.assert_allclose(net(WEIGHTS).item(), mixed, rtol=1e-12)


def test_l1_gradient_is_constant_size_and_l2_proportional():
    _, l1_gradient = _penalty_and_gradient(regularizers.L1(0.1))
    np.testing.assert_allclose(np.abs(l1_gradient), 0.1)
    _, l2_gradient = _penalty_and_gradient(regularizers.L2(0.1))
    np.testing.assert_allclose(l2_gradient, 0.2 * WEIGHTS)


def test_orthogonal_rows_cost_nothing():
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(6, 6)))
    assert abs(regularizers.OrthogonalRegularizer(1.0)(q[:4]).item()) < 1e-12
    # identical rows: every |cosine| is 1, and the penalty is factor times their mean
    assert regularizers.OrthogonalRegularizer(1.0)(np.ones((3, 4))).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="2-D weight"):
        regularizers.OrthogonalRegularizer()(np.ones(4))
    with pytest.raises(ValueError, match="invalid mode 'diagonal'"):
        regularizers.OrthogonalRegularizer(mode="diagonal")


def test_penalties_keep_float32_and_the_graph():
    w = dg.tensor(WEIGHTS.astype(np.float32), requires_grad=True)
    for regularizer in (regularizers.L1(), regularizers.L2(), regularizers.L1L2(),
                        regularizers.OrthogonalRegularizer()):
        penalty = regularizer(w)
        assert penalty.dtype == np.float32 and penalty.requires_grad
    regularizers.L1L2()(w).backward()
    np.testing.assert_array_equal(w.grad, 0.0)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.1"])
def test_bad_factors_are_clear_errors(bad):
    with pytest.raises(ValueError, match="expected a non-negative float"):
        regularizers.L2(bad)


def test_get_names_classes_and_errors():
    assert regularizers.get(None) is None
    assert isinstance(regularizers.get("l1"), regularizers.L1)
    assert isinstance(regularizers.get("orthogonal_regularizer"), regularizers.OrthogonalRegularizer)
    assert isinstance(regularizers.get(regularizers.L2), regularizers.L2)
    custom = regularizers.L1(0.5)
    assert regularizers.get(custom) is custom

    def by_hand(w):
        return w.sum() * 0.0

    assert regularizers.get(by_hand) is by_hand
    with pytest.raises(ValueError, match="unknown regularizer 'l3'.*l1_l2"):
        regularizers.get("l3")
    with pytest.raises(TypeError):
        regularizers.get(0.01)


@pytest.mark.parametrize("name", regularizers.names())
def test_config_round_trip(name):
    regularizer = regularizers.get(name)
    config = regularizer.get_config()
    assert type(regularizer).from_config(config).get_config() == config
    rebuilt = regularizers.deserialize(regularizers.serialize(regularizer))
    assert type(rebuilt) is type(regularizer) and rebuilt.get_config() == config
    np.testing.assert_allclose(rebuilt(WEIGHTS).item(), regularizer(WEIGHTS).item())
    assert "penalty" in type(regularizer).__doc__


def test_deserialize_rejects_unknown_classes():
    with pytest.raises(ValueError, match="unknown regularizer config"):
        regularizers.deserialize({"class_name": "l1_l2", "config": {}})
