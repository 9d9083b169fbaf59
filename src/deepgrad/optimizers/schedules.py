"""Learning-rate schedules: eta as a function of the step, fixed in advance (Keras 3 names).

Pass one as an optimizer's ``learning_rate``; the optimizer calls it with its
``iterations`` (0 on the first step) before each update:

>>> from deepgrad.optimizers import SGD, schedules
>>> schedule = schedules.ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5)
>>> schedule(0), schedule(100), schedule(200)
(0.1, 0.05, 0.025)
>>> optimizer = SGD(learning_rate=schedule)

Every schedule round-trips through ``get_config``/``from_config`` and
:func:`serialize`/:func:`deserialize`, so it is saved with the optimizer.
"""

from __future__ import annotations

import math

from ..configurable import Registry

__all__ = [
    "LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay",
    "InverseTimeDecay", "CosineDecay", "CosineDecayRestarts", "OneCycleDecay",
    "serialize", "deserialize", "get",
]


def _step(step) -> float:
    if hasattr(step, "item"):
        step = step.item()
    return float(step)


def _check_positive_steps(name, value):
    if not value > 0:
        raise ValueError(f"`{name}` must be > 0, received {name}={value!r}.")


class LearningRateSchedule:
    """Base class: a callable ``schedule(step) -> learning rate`` with a JSON-able config.

    Subclasses implement ``__call__`` and ``get_config`` (their constructor arguments).
    """

    def __call__(self, step) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _DecayEverySteps(LearningRateSchedule):
    """Shared part of the decays driven by p = step / decay_steps (floor(p) with ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        _check_positive_steps("decay_steps", decay_steps)
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = decay_steps
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)
        self.name = name or type(self).__name__

    def _progress(self, step) -> float:
        progress = _step(step) / self.decay_steps
        return math.floor(progress) if self.staircase else progress

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_DecayEverySteps):
    """eta(step) = initial_learning_rate * decay_rate ^ (step / decay_steps).

    With ``staircase=True`` the exponent is floor(step / decay_steps): the rate drops in
    discrete stairs every decay_steps steps.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


class PiecewiseConstantDecay(LearningRateSchedule):
    """Constant rates between boundaries: values[0] while step <= boundaries[0],
    values[i] while boundaries[i-1] < step <= boundaries[i], values[-1] after the last.

    >>> PiecewiseConstantDecay([100, 200], [1.0, 0.5, 0.1])(150)
    0.5
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. Received: "
                f"boundaries={boundaries} of length {len(boundaries)}, and values={values} of length "
                f"{len(values)}."
            )
        if any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"boundaries must be strictly increasing, received {boundaries}.")
        self.boundaries = boundaries
        self.values = [float(v) for v in values]
        self.name = name

    def __call__(self, step):
        step = _step(step)
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """Polynomial decay from initial_learning_rate to end_learning_rate over decay_steps:

        eta(step) = (initial - end) * (1 - min(step, decay_steps) / decay_steps) ^ power + end

    With ``cycle=True`` decay_steps is stretched to the next multiple of itself above step
    (decay_steps * ceil(step / decay_steps)), so the rate restarts from a lower peak.
    ``power=1`` is linear decay.
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name="PolynomialDecay"):
        _check_positive_steps("decay_steps", decay_steps)
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = decay_steps
        self.end_learning_rate = float(end_learning_rate)
        self.power = float(power)
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step):
        step = _step(step)
        decay_steps = float(self.decay_steps)
        if self.cycle:
            multiplier = 1.0 if step == 0 else math.ceil(step / decay_steps)
            decay_steps *= multiplier
        else:
            step = min(step, decay_steps)
        fraction = 1.0 - step / decay_steps
        return ((self.initial_learning_rate - self.end_learning_rate) * fraction ** self.power
                + self.end_learning_rate)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power,
                "cycle": self.cycle, "name": self.name}


class InverseTimeDecay(_DecayEverySteps):
    """eta(step) = initial_learning_rate / (1 + decay_rate * step / decay_steps)
    (floor(step / decay_steps) with ``staircase=True``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step))


def _cosine(fraction: float, alpha: float) -> float:
    """(1 - alpha) * 0.5 * (1 + cos(pi * fraction)) + alpha: from 1 at fraction 0 to alpha at 1."""
    return (1.0 - alpha) * 0.5 * (1.0 + math.cos(math.pi * fraction)) + alpha


class CosineDecay(LearningRateSchedule):
    """Cosine decay (Loshchilov & Hutter, SGDR without restarts), with optional linear warmup.

    Without warmup (``warmup_target=None``):

        eta(step) = initial * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps)) + alpha)

    With warmup: eta rises linearly from initial_learning_rate to warmup_target over
    warmup_steps, then decays from warmup_target as above over the next decay_steps.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        _check_positive_steps("decay_steps", decay_steps)
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = decay_steps
        self.alpha = float(alpha)
        self.name = name
        self.warmup_target = None if warmup_target is None else float(warmup_target)
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = _step(step)
        if self.warmup_target is None:
            step = min(step, self.decay_steps)
            return self.initial_learning_rate * _cosine(step / self.decay_steps, self.alpha)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            fraction = step / self.warmup_steps
            return self.initial_learning_rate + (self.warmup_target - self.initial_learning_rate) * fraction
        return self.warmup_target * _cosine((step - self.warmup_steps) / self.decay_steps, self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov & Hutter 2017).

    Period i lasts first_decay_steps * t_mul^i steps and starts from
    initial_learning_rate * m_mul^i; within a period, eta follows the cosine of
    :class:`CosineDecay` from its start value down to alpha times it.
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0,
                 name="SGDRDecay"):
        _check_positive_steps("first_decay_steps", first_decay_steps)
        self.initial_learning_rate = float(initial_learning_rate)
        self.first_decay_steps = first_decay_steps
        self.t_mul = float(t_mul)
        self.m_mul = float(m_mul)
        self.alpha = float(alpha)
        self.name = name

    def __call__(self, step):
        completed = _step(step) / self.first_decay_steps
        if self.t_mul == 1.0:
            restarts = math.floor(completed)
            completed -= restarts
        else:
            # periods grow geometrically: the first i periods span (1 - t_mul^i) / (1 - t_mul)
            restarts = math.floor(math.log(1.0 - completed * (1.0 - self.t_mul)) / math.log(self.t_mul))
            elapsed = (1.0 - self.t_mul ** restarts) / (1.0 - self.t_mul)
            completed = (completed - elapsed) / self.t_mul ** restarts
        peak = self.m_mul ** restarts
        return self.initial_learning_rate * ((1.0 - self.alpha) * peak * 0.5 * (1.0 + math.cos(math.pi * completed))
                                             + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul, "m_mul": self.m_mul,
                "alpha": self.alpha, "name": self.name}


class OneCycleDecay(LearningRateSchedule):
    """The one-cycle policy (Smith & Topin 2018): warm up to a peak, then anneal far below
    the start, over one cycle of total_steps.

        start = maximal_learning_rate / div_factor
        end   = start / final_div_factor
        phase 1 (steps 0 .. pct_start*total_steps - 1):  start -> maximal_learning_rate
        phase 2 (.. total_steps - 1):                     maximal_learning_rate -> end

    each by cosine annealing, anneal(a, b, p) = b + (a - b) * (1 + cos(pi p)) / 2, or
    linearly with ``anneal_strategy='linear'``. ``three_phase=True`` goes back down to start
    in a second phase of the same length as the first, then to end. Keras has no one-cycle
    schedule; this is PyTorch's OneCycleLR (learning rate only; momentum is not cycled),
    with the rate held at ``end`` after total_steps.
    """

    def __init__(self, maximal_learning_rate, total_steps, pct_start=0.3, div_factor=25.0,
                 final_div_factor=1e4, anneal_strategy="cos", three_phase=False, name="OneCycleDecay"):
        _check_positive_steps("total_steps", total_steps)
        if not 0.0 <= pct_start <= 1.0:
            raise ValueError(f"`pct_start` must be in [0, 1], received {pct_start!r}.")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"`anneal_strategy` must be 'cos' or 'linear', received {anneal_strategy!r}.")
        self.maximal_learning_rate = float(maximal_learning_rate)
        self.total_steps = int(total_steps)
        self.pct_start = float(pct_start)
        self.div_factor = float(div_factor)
        self.final_div_factor = float(final_div_factor)
        self.anneal_strategy = anneal_strategy
        self.three_phase = bool(three_phase)
        self.name = name
        start = self.maximal_learning_rate / self.div_factor
        end = start / self.final_div_factor
        warmup_end = self.pct_start * self.total_steps - 1
        if self.three_phase:
            self._phases = [(warmup_end, start, self.maximal_learning_rate),
                            (2 * self.pct_start * self.total_steps - 2, self.maximal_learning_rate, start),
                            (self.total_steps - 1, start, end)]
        else:
            self._phases = [(warmup_end, start, self.maximal_learning_rate),
                            (self.total_steps - 1, self.maximal_learning_rate, end)]

    def _anneal(self, begin, finish, fraction):
        if self.anneal_strategy == "linear":
            return begin + (finish - begin) * fraction
        return finish + (begin - finish) * 0.5 * (1.0 + math.cos(math.pi * fraction))

    def __call__(self, step):
        step = min(_step(step), self.total_steps - 1)
        phase_start = 0.0
        for i, (phase_end, begin, finish) in enumerate(self._phases):
            if step <= phase_end or i == len(self._phases) - 1:
                length = phase_end - phase_start
                fraction = (step - phase_start) / length if length > 0 else 1.0
                return self._anneal(begin, finish, fraction)
            phase_start = phase_end
        raise AssertionError("unreachable")

    def get_config(self):
        return {"maximal_learning_rate": self.maximal_learning_rate, "total_steps": self.total_steps,
                "pct_start": self.pct_start, "div_factor": self.div_factor,
                "final_div_factor": self.final_div_factor, "anneal_strategy": self.anneal_strategy,
                "three_phase": self.three_phase, "name": self.name}


_REGISTRY = Registry("learning rate schedule", LearningRateSchedule, {cls.__name__: cls for cls in (
    ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay, InverseTimeDecay, CosineDecay,
    CosineDecayRestarts, OneCycleDecay)},
    hint="or pass a LearningRateSchedule or a dict from serialize() (custom_objects={'Name': cls} "
         "for your own)", accept_callables=False)


def serialize(schedule: LearningRateSchedule) -> dict:
    """``{"class_name": ..., "config": {...}}``: JSON-able, read back by :func:`deserialize`."""
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(f"serialize expects a LearningRateSchedule, received {type(schedule).__name__}.")
    return _REGISTRY.serialize(schedule)


def deserialize(config: dict, custom_objects=None) -> LearningRateSchedule:
    """Rebuild a schedule from :func:`serialize`'s dict (Keras' extra keys are ignored)."""
    if not isinstance(config, dict):
        raise _REGISTRY.not_understood(config)
    return _REGISTRY.deserialize(config, custom_objects)


def get(identifier):
    """A schedule from a schedule instance or its serialized dict.

    Schedules have no string identifiers: they need their settings (a name alone raises
    ValueError naming the classes).
    """
    if isinstance(identifier, (LearningRateSchedule, dict)):
        return _REGISTRY.get(identifier)
    raise _REGISTRY.not_understood(identifier)
