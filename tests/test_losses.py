"""Losses: values and gradients against PyTorch (or the Keras formula where PyTorch differs),
the course's and Keras' worked numbers, reductions and sample weights, numerical range,
the output fusion hook, and get/serialize."""

import inspect
import math

import numpy as np
import pytest
from torch_reference import F, reference, torch

import deepgrad as dg
from deepgrad import losses

EPS = 1e-7
RNG = np.random.default_rng(0)
BATCH, WIDTH = 6, 4

REAL_TRUE = RNG.normal(size=(BATCH, WIDTH))
REAL_PRED = RNG.normal(size=(BATCH, WIDTH))
POSITIVE_TRUE = RNG.uniform(0.1, 3.0, size=(BATCH, WIDTH))
POSITIVE_PRED = RNG.uniform(0.1, 3.0, size=(BATCH, WIDTH))
BINARY_TRUE = RNG.integers(0, 2, size=(BATCH, WIDTH)).astype(np.float64)
SOFT_BINARY_TRUE = RNG.uniform(0, 1, size=(BATCH, WIDTH))
PROBS_PRED = RNG.uniform(0.02, 0.98, size=(BATCH, WIDTH))
LOGITS = RNG.normal(0, 3, size=(BATCH, WIDTH))
CLASS_IDS = RNG.integers(0, WIDTH, size=BATCH)
ONE_HOT = np.eye(WIDTH)[CLASS_IDS]
SIMPLEX = RNG.dirichlet(np.ones(WIDTH), size=BATCH)
SIMPLEX_PRED = RNG.dirichlet(np.ones(WIDTH), size=BATCH)
SIGNED_TRUE = np.where(BINARY_TRUE > 0, 1.0, -1.0)


def _t(a):
    return torch.tensor(a)


def _torch_focal(y, p, gamma, alpha=None):
    bce = -(y * torch.log(p) + (1 - y) * torch.log(1 - p))
    p_t = y * p + (1 - y) * (1 - p)
    weight = 1.0 if alpha is None else y * alpha + (1 - y) * (1 - alpha)
    return (weight * (1 - p_t) ** gamma * bce).mean(-1)


# name -> (y_true, y_pred, our per-sample function, torch per-sample reference)
CASES = {
    "mse": (REAL_TRUE, REAL_PRED, losses.mean_squared_error,
            lambda y, p: F.mse_loss(p, y, reduction="none").mean(-1)),
    "mae": (REAL_TRUE, REAL_PRED, losses.mean_absolute_error,
            lambda y, p: F.l1_loss(p, y, reduction="none").mean(-1)),
    "huber": (REAL_TRUE, REAL_PRED, lambda y, p: losses.huber(y, p, delta=0.7),
              lambda y, p: F.huber_loss(p, y, delta=0.7, reduction="none").mean(-1)),
    "log_cosh": (REAL_TRUE, REAL_PRED, losses.log_cosh,
                 lambda y, p: torch.log(torch.cosh(p - y)).mean(-1)),
    "quantile": (REAL_TRUE, REAL_PRED, lambda y, p: losses.quantile(y, p, gamma=0.8),
                 lambda y, p: torch.maximum(0.8 * (y - p), (0.8 - 1) * (y - p)).mean(-1)),
    "msle": (POSITIVE_TRUE, POSITIVE_PRED, losses.mean_squared_logarithmic_error,
             lambda y, p: ((torch.log1p(p) - torch.log1p(y)) ** 2).mean(-1)),
    "mape": (REAL_TRUE, REAL_PRED, losses.mean_absolute_percentage_error,
             lambda y, p: 100 * (torch.abs(y - p) / torch.abs(y).clamp_min(EPS)).mean(-1)),
    "cosine_similarity": (REAL_TRUE, REAL_PRED, losses.cosine_similarity,
                          lambda y, p: -F.cosine_similarity(y, p, dim=-1)),
    "binary_crossentropy": (SOFT_BINARY_TRUE, PROBS_PRED, losses.binary_crossentropy,
                            lambda y, p: F.binary_cross_entropy(p, y, reduction="none").mean(-1)),
    "binary_crossentropy_logits": (
        BINARY_TRUE, LOGITS, lambda y, p: losses.binary_crossentropy(y, p, from_logits=True),
        lambda y, p: F.binary_cross_entropy_with_logits(p, y, reduction="none").mean(-1)),
    "binary_crossentropy_smoothing": (
        BINARY_TRUE, PROBS_PRED, lambda y, p: losses.binary_crossentropy(y, p, label_smoothing=0.2),
        lambda y, p: F.binary_cross_entropy(p, y * 0.8 + 0.1, reduction="none").mean(-1)),
    # Keras renormalizes the probabilities to sum 1, which shows in the gradient
    "categorical_crossentropy": (ONE_HOT, SIMPLEX_PRED, losses.categorical_crossentropy,
                                 lambda y, p: -(y * torch.log(p / p.sum(-1, keepdim=True))).sum(-1)),
    "categorical_crossentropy_logits": (
        SIMPLEX, LOGITS, lambda y, p: losses.categorical_crossentropy(y, p, from_logits=True,
                                                                      label_smoothing=0.1),
        lambda y, p: F.cross_entropy(p, y, reduction="none", label_smoothing=0.1)),
    "sparse_categorical_crossentropy": (
        CLASS_IDS, SIMPLEX_PRED, losses.sparse_categorical_crossentropy,
        lambda y, p: F.nll_loss(torch.log(p / p.sum(-1, keepdim=True)), y, reduction="none")),
    "sparse_categorical_crossentropy_logits": (
        CLASS_IDS, LOGITS, lambda y, p: losses.sparse_categorical_crossentropy(y, p, from_logits=True),
        lambda y, p: F.cross_entropy(p, y, reduction="none")),
    "binary_focal_crossentropy": (
        BINARY_TRUE, PROBS_PRED, losses.binary_focal_crossentropy,
        lambda y, p: _torch_focal(y, p, 2.0)),
    "binary_focal_crossentropy_balanced_logits": (
        BINARY_TRUE, LOGITS,
        lambda y, p: losses.binary_focal_crossentropy(y, p, apply_class_balancing=True, alpha=0.3,
                                                      gamma=1.5, from_logits=True),
        lambda y, p: _torch_focal(y, torch.sigmoid(p), 1.5, alpha=0.3)),
    "hinge": (SIGNED_TRUE, REAL_PRED, losses.hinge,
              lambda y, p: torch.relu(1 - y * p).mean(-1)),
    "squared_hinge": (SIGNED_TRUE, REAL_PRED, losses.squared_hinge,
                      lambda y, p: (torch.relu(1 - y * p) ** 2).mean(-1)),
    "categorical_hinge": (ONE_HOT, REAL_PRED, losses.categorical_hinge,
                          lambda y, p: torch.relu(((1 - y) * p).max(-1).values - (y * p).sum(-1) + 1)),
    "kl_divergence": (SIMPLEX, SIMPLEX_PRED, losses.kl_divergence,
                      lambda y, p: F.kl_div(torch.log(p), y, reduction="none").sum(-1)),
    "poisson": (POSITIVE_TRUE, POSITIVE_PRED, losses.poisson,
                lambda y, p: F.poisson_nll_loss(p, y, log_input=False, eps=EPS, reduction="none").mean(-1)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_per_sample_values_and_gradients_match_torch(case):
    y_true, y_pred, ours, torch_loss = CASES[case]
    direction = np.random.default_rng(1).normal(size=BATCH)
    prediction = dg.tensor(y_pred, requires_grad=True)
    out = ours(y_true, prediction)
    assert out.shape == (BATCH,)
    out.backward(direction)

    def compute():
        torch_prediction = torch.tensor(y_pred, requires_grad=True)
        values = torch_loss(_t(y_true), torch_prediction)
        values.backward(_t(direction))
        return values.detach().numpy(), torch_prediction.grad.numpy()

    expected, expected_grad = reference(compute)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(prediction.grad, expected_grad, rtol=1e-6, atol=1e-9)


def test_hinge_converts_zero_one_labels():
    np.testing.assert_allclose(losses.hinge(BINARY_TRUE, REAL_PRED).numpy(),
                               losses.hinge(SIGNED_TRUE, REAL_PRED).numpy())
    np.testing.assert_allclose(losses.squared_hinge(BINARY_TRUE, REAL_PRED).numpy(),
                               losses.squared_hinge(SIGNED_TRUE, REAL_PRED).numpy())


def test_huber_matches_the_course_formula():
    error = np.array([[-3.0, -0.5, 0.2, 1.4, 2.5]])
    delta = 1.5
    by_hand = np.where(np.abs(error) <= delta, 0.5 * error ** 2, delta * np.abs(error) - 0.5 * delta ** 2)
    np.testing.assert_allclose(losses.huber(np.zeros_like(error), error, delta=delta).numpy(),
                               by_hand.mean(-1))


def test_quantile_loss_is_minimized_at_the_quantile():
    samples = np.random.default_rng(2).exponential(size=400)
    candidates = np.linspace(0, 4, 401)
    for gamma in (0.1, 0.5, 0.9):
        costs = [losses.Quantile(gamma)(samples, np.full_like(samples, c)).item() for c in candidates]
        best = candidates[int(np.argmin(costs))]
        assert abs(best - np.quantile(samples, gamma)) < 0.05, (gamma, best)
    half_mae = 0.5 * losses.mean_absolute_error(REAL_TRUE, REAL_PRED).numpy()
    np.testing.assert_allclose(losses.pinball(REAL_TRUE, REAL_PRED).numpy(), half_mae)
    with pytest.raises(ValueError, match="0 < gamma < 1"):
        losses.quantile(REAL_TRUE, REAL_PRED, gamma=1.5)


# --------------------------------------------------------------------------- worked numbers

@pytest.mark.parametrize("predicted, listed, total", [
    ([0.43, 0.28, 0.19, 0.88, 0.72, 0.01, 0.64, 0.86, 0.99, 0.63],
     [0.1863, 0.0809, 0.0357, 0.0138, 0.5242, 0.0001, 0.4079, 0.7388, 0.9817, 0.3998], 3.37),
    ([0.02, 0.03, 0.06, 0.97, 0.07, 0.02, 0.05, 0.06, 0.08, 0.04],
     [0.0006, 0.0007, 0.0039, 0.0009, 0.0055, 0.0004, 0.0022, 0.0033, 0.0072, 0.0018], 0.03),
])
def test_cost_of_a_three(predicted, listed, total):
    """The course's squared-error cost of the digit 3: the outputs it shows are rounded to two
    decimals, so each term can differ from the listed one by 2 |error| 0.005."""
    wanted = np.eye(10)[3]
    terms = losses.MeanSquaredError(reduction=None)(wanted[:, None], np.array(predicted)[:, None]).numpy()
    errors = np.abs(np.array(predicted) - wanted)
    assert (np.abs(terms - listed) <= 2 * errors * 0.005 + 0.0001).all()
    cost = 10 * losses.mean_squared_error(wanted[None], np.array(predicted)[None]).item()
    assert abs(cost - total) < 0.015
    assert abs(sum(listed) - total) < 0.005


def test_sparse_categorical_worked_example():
    """-ln of the probability given to the true class, one row per sample."""
    probabilities = np.array([[0.1, 0.4, 0.5], [0.1, 0.4, 0.5], [0.6, 0.2, 0.2]])
    labels = np.array([0, 1, 2])
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(labels, probabilities).numpy(),
                               -np.log([0.1, 0.4, 0.2]), rtol=1e-12)


def test_keras_documented_values():
    y_true = np.array([[0, 1, 0], [0, 0, 1]], dtype=np.float32)
    y_pred = np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]], dtype=np.float32)
    np.testing.assert_allclose(losses.categorical_crossentropy(y_true, y_pred).numpy(), [0.0513, 2.303],
                               atol=5e-4)
    np.testing.assert_allclose(losses.CategoricalCrossentropy()(y_true, y_pred).item(), 1.177, atol=5e-4)
    np.testing.assert_allclose(
        losses.CategoricalCrossentropy()(y_true, y_pred, sample_weight=np.array([0.3, 0.7])).item(),
        0.814, atol=5e-4)
    np.testing.assert_allclose(losses.CategoricalCrossentropy(reduction="sum")(y_true, y_pred).item(),
                               2.354, atol=5e-4)
    np.testing.assert_allclose(losses.SparseCategoricalCrossentropy()([1, 2], y_pred).item(), 1.177,
                               atol=5e-4)
    binary_true, binary_pred = [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]
    np.testing.assert_allclose(losses.binary_crossentropy(binary_true, binary_pred).numpy(),
                               [0.916, 0.714], atol=5e-4)
    np.testing.assert_allclose(losses.binary_focal_crossentropy(binary_true, binary_pred, gamma=2).numpy(),
                               [0.330, 0.206], atol=5e-4)
    np.testing.assert_allclose(losses.Huber()(binary_true, binary_pred).item(), 0.155, atol=5e-4)
    np.testing.assert_allclose(losses.LogCosh()([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]).item(),
                               0.108, atol=5e-4)
    np.testing.assert_allclose(
        losses.cosine_similarity([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]])
        .numpy(), [0.0, -1.0, 1.0], atol=1e-6)


# --------------------------------------------------------------------------- reductions

@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "mean", "sum", "none", None,
                                       "mean_with_sample_weight"])
def test_reductions_and_sample_weights(reduction):
    weights = np.random.default_rng(3).uniform(0.1, 2.0, size=BATCH)
    per_sample = losses.mean_squared_error(REAL_TRUE, REAL_PRED).numpy()
    out = losses.MeanSquaredError(reduction=reduction)(REAL_TRUE, REAL_PRED, sample_weight=weights).numpy()
    weighted = per_sample * weights
    expected = {"sum_over_batch_size": weighted.mean(), "mean": weighted.mean(), "sum": weighted.sum(),
                "none": weighted, None: weighted,
                "mean_with_sample_weight": weighted.sum() / weights.sum()}[reduction]
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    # a column of weights aligns with the losses as in Keras ('none' then keeps the column shape)
    column = losses.MeanSquaredError(reduction=reduction)(REAL_TRUE, REAL_PRED, sample_weight=weights[:, None])
    np.testing.assert_allclose(column.numpy().reshape(np.shape(expected)), expected, rtol=1e-12)


def test_bad_reduction_and_bad_weights_are_clear_errors():
    with pytest.raises(ValueError, match="invalid reduction 'avg'"):
        losses.MeanSquaredError(reduction="avg")
    with pytest.raises(ValueError, match="sample_weight of shape"):
        losses.MeanSquaredError()(REAL_TRUE, REAL_PRED, sample_weight=np.ones(BATCH + 1))


def test_labels_without_the_trailing_axis_are_aligned_not_broadcast():
    y_true = np.array([1.0, 2.0, 3.0])
    y_pred = dg.tensor(np.array([[1.5], [2.0], [2.0]]))
    np.testing.assert_allclose(losses.mean_squared_error(y_true, y_pred).numpy(), [0.25, 0.0, 1.0])
    np.testing.assert_allclose(losses.MeanSquaredError()(y_true, y_pred).item(), 1.25 / 3)
    np.testing.assert_allclose(losses.BinaryCrossentropy()(np.array([1.0, 0.0]), np.array([[0.9], [0.2]])).item(),
                               -(np.log(0.9) + np.log(0.8)) / 2)
    with pytest.raises(ValueError, match=r"y_true of shape \(3,\) does not match y_pred of shape \(3, 2\)"):
        losses.mean_squared_error(y_true, np.ones((3, 2)))
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        losses.categorical_crossentropy(np.array([0, 1, 1]), np.full((3, 2), 0.5))


def test_sparse_labels_as_floats_and_column_and_errors():
    as_float = losses.sparse_categorical_crossentropy(CLASS_IDS.astype(np.float32)[:, None], SIMPLEX_PRED)
    np.testing.assert_allclose(as_float.numpy(),
                               losses.sparse_categorical_crossentropy(CLASS_IDS, SIMPLEX_PRED).numpy())
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 4\)"):
        losses.sparse_categorical_crossentropy(np.array([0, 4, 1, 0, 0, 0]), SIMPLEX_PRED)
    with pytest.raises(TypeError, match="integer class ids"):
        losses.sparse_categorical_crossentropy(np.full(BATCH, 0.5), SIMPLEX_PRED)


def test_ignore_class_matches_torch_ignore_index():
    ids = CLASS_IDS.copy()
    ids[[1, 4]] = 2
    prediction = dg.tensor(LOGITS, requires_grad=True)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=2)(ids, prediction)
    loss.backward()

    def compute():
        logits = torch.tensor(LOGITS, requires_grad=True)
        value = F.cross_entropy(logits, torch.tensor(ids), ignore_index=2)
        value.backward()
        return value.item(), logits.grad.numpy()

    expected, expected_grad = reference(compute)
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    np.testing.assert_allclose(prediction.grad, expected_grad, atol=1e-12)
    per_sample = losses.sparse_categorical_crossentropy(ids, LOGITS, from_logits=True, ignore_class=2).numpy()
    assert (per_sample[ids == 2] == 0).all() and (per_sample[ids != 2] > 0).all()
    wrapped = losses.LossFunctionWrapper(losses.sparse_categorical_crossentropy, from_logits=True, ignore_class=2)
    np.testing.assert_allclose(wrapped(ids, LOGITS).item(), expected, rtol=1e-12)


def test_fused_fast_paths_equal_the_compositions():
    weights = np.ones(BATCH)
    for loss, y_true in [(losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), BINARY_TRUE),
                         (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), SIMPLEX),
                         (losses.SparseCategoricalCrossentropy(from_logits=True), CLASS_IDS)]:
        fused_input = dg.tensor(LOGITS, requires_grad=True)
        fused = loss(y_true, fused_input)
        fused.backward()
        assert fused.grad_fn in ("sigmoid_binary_cross_entropy", "softmax_cross_entropy")
        composed_input = dg.tensor(LOGITS, requires_grad=True)
        composed = loss(y_true, composed_input, sample_weight=weights)
        composed.backward()
        np.testing.assert_allclose(fused.item(), composed.item(), rtol=1e-12)
        np.testing.assert_allclose(fused_input.grad, composed_input.grad, atol=1e-14)


# --------------------------------------------------------------------------- numerical range

@pytest.mark.parametrize("loss", [losses.binary_crossentropy, losses.binary_focal_crossentropy,
                                  losses.kl_divergence, losses.poisson,
                                  losses.mean_squared_logarithmic_error])
def test_probabilities_of_exactly_zero_and_one_are_finite(loss):
    y_true = np.array([[1.0, 0.0, 1.0, 0.0]], dtype=np.float32)
    y_pred = dg.tensor(np.array([[1.0, 0.0, 0.0, 1.0]], dtype=np.float32), requires_grad=True)
    out = loss(y_true, y_pred)
    out.sum().backward()
    assert np.isfinite(out.numpy()).all() and np.isfinite(y_pred.grad).all()


def test_categorical_probabilities_with_zeros_are_finite():
    y_pred = dg.tensor(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32), requires_grad=True)
    out = losses.CategoricalCrossentropy()(np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]), y_pred)
    out.backward()
    assert np.isfinite(out.item()) and np.isfinite(y_pred.grad).all()
    np.testing.assert_allclose(out.item(), -np.log(np.float32(EPS)) / 2, rtol=1e-3)


@pytest.mark.parametrize("make_loss, y_true", [
    (lambda: losses.BinaryCrossentropy(from_logits=True), np.array([[1.0, 0.0, 1.0, 0.0]])),
    (lambda: losses.BinaryFocalCrossentropy(from_logits=True), np.array([[1.0, 0.0, 1.0, 0.0]])),
    (lambda: losses.CategoricalCrossentropy(from_logits=True), np.array([[0.0, 1.0, 0.0, 0.0]])),
    (lambda: losses.SparseCategoricalCrossentropy(from_logits=True), np.array([1])),
])
@pytest.mark.parametrize("weighted", [False, True])
def test_huge_logits_are_finite(make_loss, y_true, weighted):
    logits = dg.tensor(np.array([[1e4, -1e4, -1e4, 1e4]], dtype=np.float32), requires_grad=True)
    out = make_loss()(y_true, logits, sample_weight=np.ones(1) if weighted else None)
    out.backward()
    assert np.isfinite(out.item()) and np.isfinite(logits.grad).all()


def test_huge_logit_values_are_right():
    y_true = np.array([[1.0, 0.0, 1.0, 0.0]])
    logits = np.array([[1e4, -1e4, -1e4, 1e4]])
    np.testing.assert_allclose(losses.binary_crossentropy(y_true, logits, from_logits=True).numpy(), [5e3])
    np.testing.assert_allclose(
        losses.categorical_crossentropy(np.array([[0.0, 1.0, 0.0, 0.0]]), logits, from_logits=True).numpy(),
        [2e4 + math.log(2)])


def test_float32_stays_float32():
    y_pred = dg.tensor(PROBS_PRED.astype(np.float32))
    for loss in (losses.MeanSquaredError(), losses.BinaryCrossentropy(), losses.Huber()):
        assert loss(BINARY_TRUE, y_pred).dtype == np.float32


# --------------------------------------------------------------------------- fusion hook

@pytest.mark.parametrize("identifier, activation, y_true", [
    ("binary_crossentropy", "sigmoid", BINARY_TRUE),
    (losses.BinaryCrossentropy(label_smoothing=0.1, reduction="sum"), "sigmoid", BINARY_TRUE),
    ("categorical_crossentropy", "softmax", ONE_HOT),
    (losses.CategoricalCrossentropy(label_smoothing=0.2), "softmax", ONE_HOT),
    ("sparse_categorical_crossentropy", "softmax", CLASS_IDS),
    (losses.SparseCategoricalCrossentropy(ignore_class=0), "softmax", CLASS_IDS),
    ("binary_focal_crossentropy", "sigmoid", BINARY_TRUE),
    (losses.LossFunctionWrapper(losses.binary_crossentropy, label_smoothing=0.05), "sigmoid", BINARY_TRUE),
])
def test_fused_output_loss_equals_loss_of_the_activation(identifier, activation, y_true):
    fused = losses.fused_output_loss(identifier, activation)
    assert isinstance(fused, losses.Loss) and fused.get_config()["from_logits"]
    plain = losses.as_loss(identifier)
    assert fused.name == plain.name and fused.reduction == plain.reduction
    from deepgrad import activations
    logits = dg.tensor(LOGITS * 0.3, requires_grad=True)
    fused(y_true, logits).backward()
    through_activation = dg.tensor(LOGITS * 0.3, requires_grad=True)
    expected = plain(y_true, activations.get(activation)(through_activation))
    expected.backward()
    np.testing.assert_allclose(fused(y_true, LOGITS * 0.3).item(), expected.item(), rtol=1e-9)
    np.testing.assert_allclose(logits.grad, through_activation.grad, atol=1e-9)


def test_fused_gradient_is_p_minus_y():
    fused = losses.fused_output_loss("categorical_crossentropy", "softmax")
    logits = dg.tensor(LOGITS, requires_grad=True)
    fused(ONE_HOT, logits).backward()
    probabilities = np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True)
    np.testing.assert_allclose(logits.grad, (probabilities - ONE_HOT) / BATCH, atol=1e-14)


@pytest.mark.parametrize("identifier, activation", [
    ("mse", "sigmoid"), ("binary_crossentropy", "softmax"), ("categorical_crossentropy", "sigmoid"),
    ("binary_crossentropy", "linear"), (losses.BinaryCrossentropy(from_logits=True), "sigmoid"),
    (losses.CategoricalCrossentropy(axis=0), "softmax"), ("hinge", "tanh"),
    ("binary_crossentropy", lambda z: z),
])
def test_no_fusion_where_it_does_not_apply(identifier, activation):
    assert losses.fused_output_loss(identifier, activation) is None


# --------------------------------------------------------------------------- lookup

def test_get_names_classes_and_errors():
    assert losses.get(None) is None
    assert losses.get("mse") is losses.mean_squared_error
    assert losses.get("MAE") is losses.mean_absolute_error
    assert isinstance(losses.get("MeanSquaredError"), losses.MeanSquaredError)
    assert isinstance(losses.get(losses.Huber), losses.Huber)
    custom = losses.Huber(delta=3.0)
    assert losses.get(custom) is custom
    with pytest.raises(ValueError, match="unknown loss 'mean_square_error'.*mean_squared_error"):
        losses.get("mean_square_error")
    with pytest.raises(TypeError):
        losses.get(12)


CLASSES = [losses.MeanSquaredError, losses.MeanAbsoluteError, losses.MeanAbsolutePercentageError,
           losses.MeanSquaredLogarithmicError, losses.Huber, losses.LogCosh, losses.Quantile,
           losses.CosineSimilarity, losses.BinaryCrossentropy, losses.BinaryFocalCrossentropy,
           losses.CategoricalCrossentropy, losses.SparseCategoricalCrossentropy, losses.KLDivergence,
           losses.Poisson, losses.Hinge, losses.SquaredHinge, losses.CategoricalHinge]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_config_round_trip(cls):
    loss = cls(reduction="sum", name="custom_name")
    config = loss.get_config()
    assert config["name"] == "custom_name" and config["reduction"] == "sum"
    rebuilt = cls.from_config(config)
    assert rebuilt.get_config() == config
    assert losses.deserialize(losses.serialize(loss)).get_config() == config
    assert "loss = " in cls.__doc__


def test_keras_signatures_and_defaults():
    assert list(inspect.signature(losses.BinaryCrossentropy).parameters) == [
        "from_logits", "label_smoothing", "axis", "reduction", "name", "dtype"]
    assert list(inspect.signature(losses.SparseCategoricalCrossentropy).parameters) == [
        "from_logits", "ignore_class", "reduction", "name", "dtype"]
    assert losses.Huber().name == "huber_loss" and losses.Huber(2.0).delta == 2.0
    assert losses.BinaryCrossentropy(True).from_logits
    assert losses.KLDivergence().name == "kl_divergence"
    with pytest.raises(TypeError):
        losses.Huber(delta=1.0, width=3)


def test_function_serialization_and_wrapper_round_trip():
    assert losses.serialize(losses.mean_squared_error) == "mean_squared_error"
    wrapped = losses.LossFunctionWrapper("huber", delta=2.0, reduction="sum")
    config = wrapped.get_config()
    assert config["fn"] == "huber" and config["delta"] == 2.0
    again = losses.LossFunctionWrapper.from_config(config)
    np.testing.assert_allclose(again(REAL_TRUE, REAL_PRED).item(), wrapped(REAL_TRUE, REAL_PRED).item())
    with pytest.raises(ValueError, match="cannot serialize"):
        losses.serialize(lambda y, p: p)
    with pytest.raises(ValueError, match="unknown loss config"):
        losses.deserialize({"class_name": "Nope", "config": {}})


def test_custom_loss_subclass_gets_weights_and_reduction():
    class Cubic(losses.Loss):
        def call(self, y_true, y_pred):
            return ((y_pred - y_true) ** 3).mean(axis=-1)

    loss = Cubic(reduction="sum")
    assert loss.name == "cubic"
    expected = (((REAL_PRED - REAL_TRUE) ** 3).mean(-1) * 2).sum()
    np.testing.assert_allclose(loss(dg.tensor(REAL_TRUE), REAL_PRED, sample_weight=np.full(BATCH, 2.0)).item(),
                               expected)
    with pytest.raises(NotImplementedError, match="must implement call"):
        losses.Loss()(REAL_TRUE, REAL_PRED)


def test_as_loss_wraps_functions():
    wrapped = losses.as_loss("mse")
    assert isinstance(wrapped, losses.LossFunctionWrapper) and wrapped.name == "mean_squared_error"
    np.testing.assert_allclose(wrapped(REAL_TRUE, REAL_PRED).item(), ((REAL_TRUE - REAL_PRED) ** 2).mean())
    with pytest.raises(ValueError, match="a loss is needed"):
        losses.as_loss(None)


@pytest.mark.parametrize("name", losses.names())
def test_every_name_resolves_and_is_documented(name):
    loss = losses.get(name)
    assert callable(loss)
    doc = (type(loss) if isinstance(loss, losses.Loss) else loss).__doc__
    assert doc and "loss = " in doc or " l = " in doc, name


def test_gradient_of_mse_matches_the_chain_rule():
    prediction = dg.tensor(REAL_PRED, requires_grad=True)
    losses.MeanSquaredError()(REAL_TRUE, prediction).backward()
    np.testing.assert_allclose(prediction.grad, 2 * (REAL_PRED - REAL_TRUE) / REAL_PRED.size, rtol=1e-12)
    assert math.isclose(losses.MeanSquaredError()(REAL_TRUE, REAL_TRUE).item(), 0.0)


# --------------------------------------------------------------------------- label shapes of the cross-entropies

@pytest.mark.parametrize("loss", [
    losses.binary_crossentropy, losses.binary_focal_crossentropy, losses.categorical_crossentropy,
    losses.BinaryCrossentropy(), losses.CategoricalCrossentropy(), losses.BinaryFocalCrossentropy(),
    losses.BinaryCrossentropy(from_logits=True), losses.CategoricalCrossentropy(from_logits=True),
], ids=lambda fn: getattr(fn, "__name__", None) or type(fn).__name__ + ("_logits" if fn.from_logits else ""))
def test_crossentropies_refuse_column_labels_against_several_classes(loss):
    # (N, 1) labels against (N, C) predictions used to broadcast: one label scored against every class
    labels = np.array([[0.0], [1.0], [1.0], [0.0]])
    predictions = np.full((4, 3), 1 / 3, dtype=np.float32)
    with pytest.raises(ValueError, match=r"y_true of shape \(4, 1\) does not match y_pred of shape \(4, 3\)"):
        loss(labels, predictions)


def test_sparse_crossentropy_still_takes_flat_or_column_class_ids():
    probabilities = np.array([[0.1, 0.4, 0.5], [0.7, 0.2, 0.1]], dtype=np.float32)
    flat = losses.sparse_categorical_crossentropy(np.array([1, 0]), probabilities).numpy()
    column = losses.sparse_categorical_crossentropy(np.array([[1], [0]]), probabilities).numpy()
    np.testing.assert_allclose(flat, -np.log([0.4, 0.7]), rtol=1e-6)
    np.testing.assert_array_equal(flat, column)
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        losses.categorical_crossentropy(np.array([[1], [0]]), probabilities)
    # one label per sample against one output column still aligns (Keras' rank rule)
    np.testing.assert_allclose(losses.binary_crossentropy(np.array([1, 0]), np.array([[0.8], [0.4]])).numpy(),
                               -np.log([0.8, 0.6]), rtol=1e-6)
