"""Activations: values against PyTorch and the course's formulas, gradients against finite
differences, analytic derivatives against autograd, and the get/serialize lookup."""

import math

import numpy as np
import pytest
from torch_reference import F, reference, torch

import deepgrad as dg
from deepgrad import activations

# Points of a (2, 6) grid that stay at least 0.1 away from every kink of every activation
# (0, +-1, +-2, +-3, 6 and the thresholds used below).
SMOOTH_POINTS = np.array([[-3.7, -2.6, -1.4, -0.7, -0.3, 0.4],
                          [0.9, 1.6, 2.5, 3.4, 4.6, 6.6]])

ELEMENTWISE = activations.elementwise_names()

TORCH_EQUIVALENTS = {
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": F.hardsigmoid,
    "tanh": torch.tanh,
    "hard_tanh": F.hardtanh,
    "softsign": F.softsign,
    "relu": F.relu,
    "relu6": F.relu6,
    "leaky_relu": lambda t: F.leaky_relu(t, 0.2),
    "rrelu": lambda t: F.rrelu(t, training=False),
    "elu": F.elu,
    "selu": F.selu,
    "silu": F.silu,
    "swish": F.silu,
    "hard_silu": F.hardswish,
    "gelu": F.gelu,
    "mish": F.mish,
    "softplus": F.softplus,
    "log_sigmoid": F.logsigmoid,
    "exponential": torch.exp,
    "linear": lambda t: t,
    "softmax": lambda t: F.softmax(t, dim=-1),
    "log_softmax": lambda t: F.log_softmax(t, dim=-1),
}


def _random_points(seed=0, shape=(4, 6), scale=3.0):
    return np.random.default_rng(seed).normal(0, scale, size=shape)


@pytest.mark.parametrize("name", sorted(TORCH_EQUIVALENTS))
def test_values_and_gradients_match_torch(name):
    x = _random_points()
    direction = np.random.default_rng(1).normal(size=x.shape)
    ours = dg.tensor(x, requires_grad=True)
    out = activations.get(name)(ours)
    out.backward(direction)

    def compute():
        x_ref = torch.tensor(x, requires_grad=True)
        values = TORCH_EQUIVALENTS[name](x_ref)
        values.backward(torch.tensor(direction))
        return values.detach().numpy(), x_ref.grad.numpy()

    expected, expected_grad = reference(compute)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(ours.grad, expected_grad, atol=1e-6, rtol=1e-6)


def test_gelu_tanh_approximation_matches_torch():
    x = _random_points(2)
    np.testing.assert_allclose(activations.gelu(dg.tensor(x), approximate=True).numpy(),
                               reference(lambda: F.gelu(torch.tensor(x), approximate="tanh").numpy()),
                               atol=1e-6)


def test_prelu_matches_torch_including_the_slope_gradient():
    x = _random_points(3)
    alpha = np.array([0.1, 0.2, 0.3, 0.05, 0.25, 0.5])
    x_ours, a_ours = dg.tensor(x, requires_grad=True), dg.tensor(alpha, requires_grad=True)
    activations.prelu(x_ours, a_ours).sum().backward()

    def compute():
        x_ref, a_ref = torch.tensor(x, requires_grad=True), torch.tensor(alpha, requires_grad=True)
        values = F.prelu(x_ref, a_ref)
        values.sum().backward()
        return values.detach().numpy(), x_ref.grad.numpy(), a_ref.grad.numpy()

    expected, x_grad, a_grad = reference(compute)
    np.testing.assert_allclose(activations.prelu(dg.tensor(x), alpha).numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(x_ours.grad, x_grad, atol=1e-12)
    np.testing.assert_allclose(a_ours.grad, a_grad, atol=1e-12)


@pytest.mark.parametrize("name", activations.names())
def test_gradcheck_away_from_kinks(name):
    function = activations.get(name)
    dg.gradcheck(function, dg.tensor(SMOOTH_POINTS, requires_grad=True))


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_analytic_derivative_matches_autograd(name):
    x = dg.tensor(SMOOTH_POINTS, requires_grad=True)
    activations.get(name)(x).sum().backward()
    np.testing.assert_allclose(activations.derivative(name, SMOOTH_POINTS), x.grad, atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("name, params", [
    ("relu", {"negative_slope": 0.1, "max_value": 2.2, "threshold": -0.5}),
    ("relu", {"threshold": 1.5}),
    ("leaky_relu", {"negative_slope": 0.01}),
    ("elu", {"alpha": 0.7}),
    ("gelu", {"approximate": True}),
    ("prelu", {"alpha": np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])}),
    ("rrelu", {"lower": 0.1, "upper": 0.3}),
    ("apl", {"a": np.array([0.2, -0.4]), "b": np.array([0.5, -1.0])}),
    ("soft_exponential", {"alpha": 0.3}),
    ("soft_exponential", {"alpha": -0.2}),
    ("soft_clipping", {"alpha": 4.0}),
])
def test_analytic_derivative_with_parameters(name, params):
    x = dg.tensor(SMOOTH_POINTS, requires_grad=True)
    activations.get(name)(x, **params).sum().backward()
    np.testing.assert_allclose(activations.derivative(name, SMOOTH_POINTS, **params), x.grad,
                               atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_jacobians_match_autograd(name):
    z = _random_points(4, shape=(3, 5))
    v = np.random.default_rng(5).normal(size=z.shape)
    x = dg.tensor(z, requires_grad=True)
    activations.get(name)(x).backward(v)
    jacobian = activations.derivative(name, z)
    assert jacobian.shape == (3, 5, 5)
    np.testing.assert_allclose(np.einsum("...i,...ij->...j", v, jacobian), x.grad, atol=1e-12)


def test_softmax_along_another_axis():
    z = _random_points(6, shape=(4, 3))
    out = activations.softmax(dg.tensor(z), axis=0).numpy()
    np.testing.assert_allclose(out, reference(lambda: F.softmax(torch.tensor(z), dim=0).numpy()), atol=1e-12)


# --------------------------------------------------------------------------- the course's tables

def test_binary_step_table():
    assert activations.binary_step(dg.tensor([-2.0, -1e-3, 0.0, 1e-3, 5.0])).tolist() == [0, 0, 1, 1, 1]


def test_sqnl_piecewise_definition():
    x = np.array([-3.0, -2.0, -1.2, -0.5, 0.0, 0.5, 1.2, 2.0, 3.0])
    expected = np.select([x > 2, x >= 0, x >= -2], [1.0, x - x ** 2 / 4, x + x ** 2 / 4], -1.0)
    np.testing.assert_allclose(activations.sqnl(dg.tensor(x)).numpy(), expected, atol=1e-15)


def test_brelu_alternates_units():
    x = np.array([[-2.0, -2.0, 3.0, 3.0], [1.0, -1.0, -0.5, 0.5]])
    relu = np.maximum(x, 0)
    expected = np.where(np.arange(4) % 2 == 0, relu, -np.maximum(-x, 0))
    np.testing.assert_array_equal(activations.brelu(dg.tensor(x)).numpy(), expected)


def test_bent_identity_and_silu_table_formulas():
    x = np.linspace(-4, 4, 17)
    np.testing.assert_allclose(activations.bent_identity(dg.tensor(x)).numpy(),
                               (np.sqrt(x ** 2 + 1) - 1) / 2 + x, atol=1e-15)
    sigma = 1 / (1 + np.exp(-x))
    f = x * sigma
    np.testing.assert_allclose(activations.derivative("silu", x), f + sigma * (1 - f), atol=1e-15)


def test_elu_table_derivative_is_f_plus_alpha_below_zero():
    x = np.array([-3.0, -1.0, -0.2])
    f = activations.elu(dg.tensor(x), alpha=0.5).numpy()
    np.testing.assert_allclose(activations.derivative("elu", x, alpha=0.5), f + 0.5, atol=1e-15)


def test_leaky_relu_with_the_course_slope():
    out = activations.leaky_relu(dg.tensor([-100.0, 0.0, 3.0]), negative_slope=0.01)
    np.testing.assert_allclose(out.numpy(), [-1.0, 0.0, 3.0])


def test_apl_matches_its_definition_per_unit():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(5, 3))
    a, b = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    expected = np.maximum(0, x) + (a * np.maximum(0, -x[..., None] + b)).sum(-1)
    np.testing.assert_allclose(activations.apl(dg.tensor(x), a, b).numpy(), expected, atol=1e-14)


def test_apl_gradcheck_through_hinges():
    x = dg.tensor(SMOOTH_POINTS, requires_grad=True)
    a = dg.tensor(np.array([0.3, -0.6]), requires_grad=True)
    b = dg.tensor(np.array([0.15, -1.75]), requires_grad=True)
    dg.gradcheck(activations.apl, x, a, b)


def test_soft_exponential_branches_and_inverse():
    x = np.array([-1.0, 0.0, 0.5, 2.0])
    for alpha in (0.4, 1.0):
        expected = (np.exp(alpha * x) - 1) / alpha + alpha
        forward = activations.soft_exponential(dg.tensor(x), alpha)
        np.testing.assert_allclose(forward.numpy(), expected, atol=1e-14)
        # the alpha < 0 branch is the inverse of the alpha > 0 branch
        back = activations.soft_exponential(forward, -alpha).numpy()
        np.testing.assert_allclose(back, x, atol=1e-12)
    np.testing.assert_array_equal(activations.soft_exponential(dg.tensor(x), 0.0).numpy(), x)


def test_soft_exponential_with_a_learned_alpha_per_unit():
    x = dg.tensor(np.array([[0.3, -0.4, 1.1], [-0.9, 0.8, 0.2]]), requires_grad=True)
    alpha = dg.tensor(np.array([0.5, -0.3, 0.25]), requires_grad=True)
    dg.gradcheck(activations.soft_exponential, x, alpha)
    per_unit = activations.soft_exponential(x, alpha).numpy()
    for unit, value in enumerate(alpha.numpy()):
        column = activations.soft_exponential(dg.tensor(x.numpy()[:, unit]), float(value)).numpy()
        np.testing.assert_allclose(per_unit[:, unit], column, atol=1e-14)


def test_soft_exponential_zero_alpha_tensor_is_identity_with_finite_gradients():
    x = dg.tensor(np.array([-800.0, 0.5, 900.0]), requires_grad=True)
    alpha = dg.tensor(np.zeros(3), requires_grad=True)
    out = activations.soft_exponential(x, alpha)
    out.sum().backward()
    np.testing.assert_array_equal(out.numpy(), x.numpy())
    assert np.isfinite(x.grad).all() and np.isfinite(alpha.grad).all()


def test_soft_clipping_definition_and_range():
    x = np.linspace(-3, 4, 15)
    for alpha in (1.0, 10.0):
        expected = np.log((1 + np.exp(alpha * x)) / (1 + np.exp(alpha * (x - 1)))) / alpha
        out = activations.soft_clipping(dg.tensor(x), alpha).numpy()
        np.testing.assert_allclose(out, expected, atol=1e-12)
        assert ((out > 0) & (out < 1)).all()
    # the course's sinh/sech form of the derivative
    p = 3.0
    table = 0.5 * np.sinh(p / 2) / np.cosh(p * x / 2) / np.cosh(p * (1 - x) / 2)
    np.testing.assert_allclose(activations.derivative("soft_clipping", x, alpha=p), table, atol=1e-12)
    with pytest.raises(ValueError, match="alpha > 0"):
        activations.soft_clipping(dg.tensor(x), 0.0)


# --------------------------------------------------------------------------- Keras options

def test_relu_keras_options():
    x = dg.tensor([-10.0, -5.0, 0.0, 5.0, 10.0])
    assert activations.relu(x).tolist() == [0, 0, 0, 5, 10]
    assert activations.relu(x, negative_slope=0.5).tolist() == [-5, -2.5, 0, 5, 10]
    assert activations.relu(x, max_value=5.0).tolist() == [0, 0, 0, 5, 5]
    assert activations.relu(x, threshold=5.0).tolist() == [0, 0, 0, 0, 10]
    combined = activations.relu(x, negative_slope=0.1, max_value=8.0, threshold=2.0).tolist()
    np.testing.assert_allclose(combined, [-1.2, -0.7, -0.2, 5.0, 8.0], atol=1e-6)


def test_hard_sigmoid_is_keras3_slope():
    np.testing.assert_allclose(activations.hard_sigmoid(dg.tensor([-4.0, -1.5, 0.0, 3.0, 9.0])).numpy(),
                               [0.0, 0.25, 0.5, 1.0, 1.0])


def test_selu_constants():
    out = activations.selu(dg.tensor(np.array([-1e3, 1.0]))).numpy()
    np.testing.assert_allclose(out, [-1.0507009873554805 * 1.6732632423543772, 1.0507009873554805])


def test_rrelu_training_draws_slopes_and_inference_uses_their_mean():
    x = dg.tensor(-np.ones((50, 40)))
    dg.manual_seed(3)
    first = activations.rrelu(x, training=True).numpy()
    dg.manual_seed(3)
    again = activations.rrelu(x, training=True).numpy()
    np.testing.assert_array_equal(first, again)
    slopes = -first
    assert slopes.min() >= 1 / 8 and slopes.max() <= 1 / 3
    assert abs(slopes.mean() - (1 / 8 + 1 / 3) / 2) < 0.01 and slopes.std() > 0.05
    np.testing.assert_allclose(activations.rrelu(x, training=False).numpy(), -(1 / 8 + 1 / 3) / 2)
    positive = dg.tensor(np.ones(5))
    np.testing.assert_array_equal(activations.rrelu(positive, training=True).numpy(), 1.0)


def test_rrelu_training_gradient_is_the_drawn_slope():
    x = dg.tensor(-np.ones(20), requires_grad=True)
    out = activations.rrelu(x, training=True, generator=np.random.default_rng(0))
    out.sum().backward()
    np.testing.assert_allclose(x.grad, -out.numpy())
    with pytest.raises(ValueError, match="lower <= upper"):
        activations.rrelu(x, lower=0.5, upper=0.1, training=True)


# --------------------------------------------------------------------------- numerical range

@pytest.mark.parametrize("name", ELEMENTWISE)
def test_extreme_inputs_give_finite_values_and_gradients(name):
    if name == "exponential":
        pytest.skip("e^x overflows by definition")
    x = dg.tensor(np.array([-1e4, -50.0, 50.0, 1e4], dtype=np.float32), requires_grad=True)
    out = activations.get(name)(x)
    out.sum().backward()
    assert out.dtype == np.float32
    if name != "bent_identity":  # sqrt(x^2 + 1) of 1e4 is finite, its value just large
        assert np.isfinite(out.numpy()).all(), out
    assert np.isfinite(x.grad).all(), x.grad


def test_softmax_of_huge_logits_is_finite():
    out = activations.softmax(dg.tensor([[1e4, -1e4, 0.0]]))
    np.testing.assert_allclose(out.numpy(), [[1.0, 0.0, 0.0]])


# --------------------------------------------------------------------------- lookup

def test_get_none_is_linear_and_callables_pass_through():
    assert activations.get(None) is activations.linear

    def custom(z):
        return z * 2

    assert activations.get(custom) is custom


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown activation 'rellu'.*relu.*sigmoid"):
        activations.get("rellu")
    with pytest.raises(TypeError):
        activations.get(3)


@pytest.mark.parametrize("name", activations.names())
def test_serialize_round_trip(name):
    function = activations.get(name)
    assert activations.get(activations.serialize(function)) is function


def test_aliases_serialize_to_the_canonical_name():
    assert activations.serialize("swish") == "silu"
    assert activations.serialize(activations.hard_swish) == "hard_silu"
    assert activations.get({"class_name": "function", "config": "tanh"}) is activations.tanh
    with pytest.raises(ValueError, match="anonymous"):
        activations.serialize(lambda z: z)


def test_derivative_of_an_unknown_function_is_a_clear_error():
    with pytest.raises(ValueError, match="no analytic derivative"):
        activations.derivative(lambda z: z, [1.0])


@pytest.mark.parametrize("name", activations.names())
def test_every_activation_documents_its_formula_and_range(name):
    doc = activations.get(name).__doc__
    assert doc and "Range" in doc and "f(" in doc, name


def test_gelu_exact_is_the_default_and_uses_erf():
    x = np.linspace(-5, 5, 41)
    expected = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(activations.gelu(dg.tensor(x)).numpy(), expected, atol=1e-6)
