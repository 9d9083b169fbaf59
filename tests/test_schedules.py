"""Learning-rate schedules: against PyTorch's schedulers where one exists, else closed forms."""

import json
import math

import numpy as np
import pytest
from torch_reference import reference, torch

from deepgrad.optimizers import schedules


def torch_rates(make_scheduler, steps, lr=1.0):
    """Learning rates PyTorch's scheduler gives for steps 0 .. steps-1."""
    def compute():
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
        scheduler = make_scheduler(optimizer)
        rates = []
        for _ in range(steps):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        return np.array(rates)

    return reference(compute)


def ours(schedule, steps):
    return np.array([schedule(step) for step in range(steps)])


def test_exponential_decay_matches_torch_and_staircase():
    np.testing.assert_allclose(ours(schedules.ExponentialDecay(1.0, 1, 0.9), 30),
                               torch_rates(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9), 30))
    stairs = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert [stairs(s) for s in (0, 9, 10, 25)] == [0.1, 0.1, 0.05, 0.025]
    assert schedules.ExponentialDecay(0.1, 10, 0.5)(5) == pytest.approx(0.1 * 0.5 ** 0.5)


def test_piecewise_constant_decay_boundaries_are_inclusive_on_the_left_value():
    schedule = schedules.PiecewiseConstantDecay([100, 200], [1.0, 0.5, 0.1])
    assert [schedule(s) for s in (0, 100, 101, 200, 201, 10_000)] == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]
    with pytest.raises(ValueError, match="1 less than the length of values"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0, 0.5])


def test_polynomial_decay_matches_torch_and_cycles():
    np.testing.assert_allclose(
        ours(schedules.PolynomialDecay(1.0, 20, end_learning_rate=0.0, power=2.0), 30),
        torch_rates(lambda o: torch.optim.lr_scheduler.PolynomialLR(o, total_iters=20, power=2.0), 30),
        atol=1e-12)
    cyclic = schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.0, cycle=True)
    assert cyclic(15) == pytest.approx(1.0 - 15 / 20)  # decay_steps stretched to 20
    assert cyclic(0) == 1.0


def test_inverse_time_decay():
    schedule = schedules.InverseTimeDecay(0.1, decay_steps=5, decay_rate=0.5)
    assert schedule(10) == pytest.approx(0.1 / 2.0)
    assert schedules.InverseTimeDecay(0.1, 5, 0.5, staircase=True)(9) == pytest.approx(0.1 / 1.5)


def test_cosine_decay_matches_torch_and_warms_up_linearly():
    np.testing.assert_allclose(
        ours(schedules.CosineDecay(1.0, 20), 21),
        torch_rates(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20), 21), atol=1e-12)
    with_alpha = schedules.CosineDecay(2.0, 10, alpha=0.1)
    assert with_alpha(10) == pytest.approx(0.2) and with_alpha(50) == pytest.approx(0.2)
    warm = schedules.CosineDecay(0.0, decay_steps=10, warmup_target=1.0, warmup_steps=5)
    assert [warm(s) for s in (0, 1, 5)] == pytest.approx([0.0, 0.2, 1.0])
    assert warm(10) == pytest.approx(0.5) and warm(15) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("t_mul", [1.0, 2.0])
def test_cosine_decay_restarts_matches_torch_warm_restarts(t_mul):
    expected = torch_rates(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=int(t_mul)), 40)
    np.testing.assert_allclose(ours(schedules.CosineDecayRestarts(1.0, 5, t_mul=t_mul), 40), expected,
                               atol=1e-9)


def test_cosine_decay_restarts_m_mul_lowers_each_restart():
    schedule = schedules.CosineDecayRestarts(1.0, 4, t_mul=1.0, m_mul=0.5)
    assert [schedule(s) for s in (0, 4, 8)] == pytest.approx([1.0, 0.5, 0.25])


@pytest.mark.parametrize("kwargs", [{}, {"anneal_strategy": "linear"}, {"three_phase": True},
                                    {"pct_start": 0.5, "div_factor": 10.0, "final_div_factor": 100.0}])
def test_one_cycle_matches_torch(kwargs):
    expected = torch_rates(lambda o: torch.optim.lr_scheduler.OneCycleLR(
        o, max_lr=0.5, total_steps=50, cycle_momentum=False, **kwargs), 50)
    np.testing.assert_allclose(ours(schedules.OneCycleDecay(0.5, 50, **kwargs), 50), expected, rtol=1e-9)
    assert schedules.OneCycleDecay(0.5, 50, **kwargs)(1000) == pytest.approx(expected[-1])


ALL = [schedules.ExponentialDecay(0.1, 10, 0.9), schedules.PiecewiseConstantDecay([3], [0.1, 0.01]),
       schedules.PolynomialDecay(0.1, 10), schedules.InverseTimeDecay(0.1, 10, 0.5),
       schedules.CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=3),
       schedules.CosineDecayRestarts(0.1, 10), schedules.OneCycleDecay(0.1, 100)]


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_config_round_trip(schedule):
    payload = json.loads(json.dumps(schedules.serialize(schedule)))
    clone = schedules.deserialize(payload)
    assert type(clone) is type(schedule) and clone.get_config() == schedule.get_config()
    assert [clone(s) for s in range(0, 40, 7)] == [schedule(s) for s in range(0, 40, 7)]
    assert schedules.get(payload).get_config() == schedule.get_config()
    assert math.isfinite(schedule(np.int64(5)))


def test_unknown_schedule_lists_valid_ones():
    with pytest.raises(ValueError, match="CosineDecay"):
        schedules.deserialize({"class_name": "Nope", "config": {}})
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, 0, 0.5)
