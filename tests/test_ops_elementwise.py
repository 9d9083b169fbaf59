"""Elementwise ops: every backward rule against finite differences (float64), broadcasting,
scalars on either side, numerical stability at large |x| and clear broadcasting errors."""

import numpy as np
import pytest

import deepgrad as dg

SHAPE_PAIRS = [
    ((3,), (3,)),
    ((2, 3), (2, 3)),
    ((2, 3), (3,)),          # trailing broadcast
    ((4, 1), (1, 3)),        # both sides stretched
    ((2, 1, 3), (4, 3)),     # new leading axis on one side
    ((), (2, 2)),            # 0-d against a matrix
]

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "truediv": lambda a, b: a / (b * b + 0.5),
    "pow": lambda a, b: (a * a + 0.5) ** b,
    "maximum": dg.maximum,
    "minimum": dg.minimum,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
def test_binary_gradients_broadcast(name, shapes, rng, check_grad):
    a, b = (rng.standard_normal(s) for s in shapes)
    check_grad(BINARY[name], a, b)


UNARY = {
    "neg": (lambda x: -x, lambda v: v),
    "exp": (dg.exp, lambda v: v),
    "log": (dg.log, lambda v: np.abs(v) + 0.5),
    "log1p": (dg.log1p, lambda v: np.abs(v)),
    "sqrt": (dg.sqrt, lambda v: np.abs(v) + 0.5),
    "abs": (dg.abs, lambda v: v + np.sign(v) * 0.1),
    "sign": (dg.sign, lambda v: v + np.sign(v) * 0.1),
    "tanh": (dg.tanh, lambda v: v),
    "sigmoid": (dg.sigmoid, lambda v: v * 3),
    "relu": (dg.relu, lambda v: v + np.sign(v) * 0.1),
    "softplus": (dg.softplus, lambda v: v * 3),
    "square": (lambda x: x ** 2, lambda v: v),
    "cube": (lambda x: x ** 3, lambda v: v),
    "inverse_sqrt": (lambda x: x ** -0.5, lambda v: np.abs(v) + 0.5),
    "pow_zero": (lambda x: x ** 0, lambda v: v),
    "pow_one": (lambda x: x ** 1, lambda v: v),
    "clip": (lambda x: dg.clip(x, -0.5, 0.5), lambda v: v + np.sign(v) * 0.01),
    "clip_min": (lambda x: x.clip(min=0.2), lambda v: v),
    "clip_max": (lambda x: x.clamp(max=0.2), lambda v: v),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", [(5,), (2, 3), ()], ids=str)
def test_unary_gradients(name, shape, rng, check_grad):
    fn, domain = UNARY[name]
    check_grad(fn, domain(rng.standard_normal(shape)))


@pytest.mark.parametrize("make", [
    lambda t: 2 - t, lambda t: 2 + t, lambda t: 3 * t, lambda t: 2 / (t * t + 1),
    lambda t: 2 ** t, lambda t: t - 2, lambda t: t / 4, lambda t: t ** 2.5,
], ids=["rsub", "radd", "rmul", "rtruediv", "rpow", "sub_scalar", "div_scalar", "pow_float"])
def test_scalar_operands_either_side(make, rng, check_grad):
    check_grad(make, np.abs(rng.standard_normal((2, 3))) + 0.1)


def test_reverse_operators_with_arrays_give_tensors():
    t = dg.tensor([1.0, 2.0], requires_grad=True)
    for result in (np.array([3.0, 4.0]) - t, np.array([2.0, 2.0]) ** t, np.ones(2) * t):
        assert isinstance(result, dg.Tensor) and result.requires_grad
    (np.array([3.0, 4.0]) - t).sum().backward()
    np.testing.assert_array_equal(t.grad, [-1.0, -1.0])


def test_tensor_exponent_gradient_at_zero_base_is_finite():
    x = dg.Tensor(np.array([0.0, 2.0]), requires_grad=True)
    p = dg.Tensor(np.array([2.0, 3.0]), requires_grad=True)
    (x ** p).sum().backward()
    np.testing.assert_allclose(p.grad, [0.0, 8.0 * np.log(2.0)])
    np.testing.assert_allclose(x.grad, [0.0, 12.0])


def test_where_routes_gradient_by_condition(rng, check_grad):
    condition = rng.standard_normal((3, 4)) > 0
    check_grad(lambda a, b: dg.where(condition, a, b), rng.standard_normal((3, 4)),
               rng.standard_normal((4,)))
    check_grad(lambda a: dg.where(dg.Tensor(condition), a, 0.0), rng.standard_normal((3, 4)))


def test_maximum_splits_gradient_on_ties():
    a = dg.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = dg.Tensor(np.array([1.0, 5.0, 0.0]), requires_grad=True)
    dg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad, [0.5, 1.0, 0.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_softplus_stable_for_large_inputs(dtype):
    x = dg.Tensor(np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=dtype), requires_grad=True)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        s = x.sigmoid()
        (s.sum() + x.softplus().sum()).backward()
    assert s.dtype == dtype
    np.testing.assert_allclose(s.numpy(), [0.0, np.exp(-50.0), 0.5, 1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(x.softplus().numpy(), [0.0, np.exp(-50.0), np.log(2.0), 50.0, 1e4],
                               rtol=1e-6)
    assert np.isfinite(x.grad).all()
    # sigma'(x) + softplus'(x) = sigma(x)(1 - sigma(x)) + sigma(x)
    np.testing.assert_allclose(x.grad[2], 0.75)


def test_relu_gradient_is_zero_at_and_below_zero():
    x = dg.Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])


@pytest.mark.parametrize("op", [lambda a, b: a + b, lambda a, b: a * b, dg.maximum],
                         ids=["add", "mul", "maximum"])
def test_broadcast_error_names_op_and_both_shapes(op):
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\) cannot be broadcast") as info:
        op(dg.zeros(2, 3), dg.zeros(4))
    assert str(info.value).split(":")[0] in ("add", "mul", "maximum")


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match="at least one of min and max"):
        dg.zeros(2).clip()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_python_scalars_keep_the_tensor_dtype(dtype):
    t = dg.Tensor(np.ones(3, dtype=dtype))
    for result in (t + 1, 2.5 * t, t / 3, 1 - t, t ** 2, 2 ** t, t * np.float64(2.0)):
        assert result.dtype == dtype


def test_comparisons_return_bool_tensors_without_gradient():
    t = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result in (t > 1.5, t >= 2, t < 2, t <= 2, t == 2, t != 2, t > dg.tensor([0.0, 5.0, 1.0])):
        assert result.dtype == np.bool_ and not result.requires_grad and result.grad_fn is None
    np.testing.assert_array_equal((t > 1.5).numpy(), [False, True, True])
    np.testing.assert_array_equal((np.array([2.0, 2.0, 2.0]) < t).numpy(), [False, False, True])


def test_module_functions_mirror_methods(rng):
    data = rng.standard_normal((2, 3))
    t = dg.Tensor(data)
    for name in ("exp", "tanh", "sigmoid", "relu", "softplus", "abs", "sign"):
        np.testing.assert_array_equal(getattr(dg, name)(t).numpy(), getattr(t, name)().numpy())
