"""deepgrad.gradcheck: passes correct rules, and pinpoints a wrong one."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.tensor import make_result


def wrong_square(x):
    """x^2 with a backward rule that is off by one at the last element."""
    data = x.data

    def backward(g):
        grad = g * 2 * data
        grad.reshape(-1)[-1] += 1.0
        return (grad,)

    return make_result(data * data, (x,), backward, "wrong_square")


def test_gradcheck_passes_correct_rules(rng):
    a = dg.Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    b = dg.Tensor(rng.standard_normal(3), requires_grad=True)
    assert dg.gradcheck(lambda x, y: (x * y).tanh() @ y, a, b) is True


def test_gradcheck_failure_names_input_element_and_values(rng):
    good = dg.Tensor(rng.standard_normal(4), requires_grad=True)
    bad_input = rng.standard_normal((2, 3))
    with pytest.raises(dg.GradcheckError) as info:
        dg.gradcheck(lambda a, b: a.sum() * wrong_square(b).sum(), good,
                     dg.Tensor(bad_input, requires_grad=True))
    message = str(info.value)
    assert "input 1" in message and "shape (2, 3)" in message
    assert "element (1, 2)" in message
    numeric = 2 * bad_input[1, 2] * good.numpy().sum()
    analytic = float(message.split("analytic gradient is ")[1].split(" ")[0])
    reported = float(message.split("finite differences give ")[1].split(" ")[0])
    assert reported == pytest.approx(numeric, rel=1e-6)
    assert analytic == pytest.approx(numeric + 1.0, rel=1e-9)  # the rule is off by one


def test_gradcheck_checks_non_scalar_outputs(rng):
    x = dg.Tensor(rng.standard_normal(3), requires_grad=True)
    with pytest.raises(dg.GradcheckError, match="element \\(2,\\)"):
        dg.gradcheck(wrong_square, x)


def test_gradcheck_ignores_integer_inputs_and_checks_all_floats_by_default(rng):
    indices = np.array([2, 0])
    assert dg.gradcheck(lambda t, i: t[i] * 3, rng.standard_normal(3), indices)
    with pytest.raises(ValueError, match="at least one floating point input"):
        dg.gradcheck(lambda i: i * 2, np.array([1, 2]))
    with pytest.raises(TypeError, match="must return a Tensor"):
        dg.gradcheck(lambda t: 1.0, rng.standard_normal(2))
