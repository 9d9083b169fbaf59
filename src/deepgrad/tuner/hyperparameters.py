"""Search spaces: ``HyperParameters`` and the five kinds of hyperparameter (KerasTuner's API).

A model-building function receives ``hp`` and asks it for values while it builds::

    units = hp.Int("units", min_value=32, max_value=512, step=32)
    rate = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
    optimizer = hp.Choice("optimizer", ["adam", "sgd"])

Each call both *declares* a hyperparameter (it joins ``hp.space``) and *returns* its
value for the current trial (``hp.values[name]``; the default when the trial has none).
Hyperparameters declared inside ``with hp.conditional_scope(parent, values):`` are only
active, and only get values, while the parent's value is one of ``values``.

Every hyperparameter maps its values onto the unit interval and back (used by random
sampling and by Bayesian optimization):

* linear: p = (v - min) / (max - min);
* log:    p = log(v / min) / log(max / min);
* discrete (a step, Int, Choice, Boolean): value i of n sits at the bucket centre
  p = (i + 1/2) / n, and p maps back to value floor(p n).

With ``sampling="log"`` a ``step`` is a factor: min, min*step, min*step^2, ... <= max.
"""

from __future__ import annotations

import contextlib
import math
import numbers

import numpy as np

_SAMPLINGS = ("linear", "log")


class Condition:
    """Active when the hyperparameter ``name`` currently has one of ``values`` (KerasTuner's ``Parent``)."""

    def __init__(self, name, values):
        self.name = name
        self.values = list(values) if isinstance(values, (list, tuple)) else [values]

    def is_active(self, values: dict) -> bool:
        return self.name in values and values[self.name] in self.values

    def get_config(self) -> dict:
        return {"class_name": "Parent", "config": {"name": self.name, "values": list(self.values)}}

    def __repr__(self) -> str:
        return f"Parent(name={self.name!r}, values={self.values!r})"


class HyperParameter:
    """A named, searchable value with a default; the base of Int, Float, Choice, Boolean and Fixed."""

    def __init__(self, name, default=None, conditions=None):
        if not isinstance(name, str) or not name:
            raise ValueError(f"a hyperparameter name must be a non-empty string, got {name!r}.")
        self.name = name
        self._default = default
        self.conditions = list(conditions or [])

    @property
    def default(self):
        return self._default

    def is_active(self, values: dict) -> bool:
        """True when every condition holds for ``values``."""
        return all(condition.is_active(values) for condition in self.conditions)

    def random_sample(self, rng: np.random.Generator):
        """A value drawn uniformly on the unit interval and mapped back (see the module docstring)."""
        return self.prob_to_value(float(rng.random()))

    def get_config(self) -> dict:
        return {"name": self.name, "default": self.default,
                "conditions": [c.get_config() for c in self.conditions]}

    @property
    def values(self) -> list:
        """Every value, in order (the grid GridSearch walks)."""
        raise NotImplementedError

    def value_to_prob(self, value) -> float:
        raise NotImplementedError

    def prob_to_value(self, prob: float):
        raise NotImplementedError

    def __repr__(self) -> str:
        config = {k: v for k, v in self.get_config().items() if k != "name"}
        return f"{type(self).__name__}(name={self.name!r}, {config})"


class _Discrete(HyperParameter):
    """Finitely many values, bucket i of n at the centre (i + 1/2) / n."""

    def value_to_prob(self, value) -> float:
        values = self.values
        index = values.index(value) if value in values else 0
        return (index + 0.5) / len(values)

    def prob_to_value(self, prob: float):
        values = self.values
        return values[min(int(prob * len(values)), len(values) - 1)]


class Numerical(HyperParameter):
    """A range [min_value, max_value] sampled on a linear or log scale, continuous or stepped."""

    _cast = float

    def __init__(self, name, min_value, max_value, step=None, sampling="linear", default=None, conditions=None):
        kind = type(self).__name__
        for label, value in (("min_value", min_value), ("max_value", max_value)):
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"{kind} {name!r}: {label} must be a finite number, got {value!r}.")
        if min_value > max_value:
            raise ValueError(f"{kind} {name!r}: min_value {min_value} is larger than max_value {max_value}.")
        sampling = (sampling or "linear").lower()
        if sampling not in _SAMPLINGS:
            raise ValueError(f"{kind} {name!r}: unknown sampling {sampling!r}; use one of {list(_SAMPLINGS)}.")
        if sampling == "log" and min_value <= 0:
            raise ValueError(f"{kind} {name!r}: sampling='log' needs min_value > 0, got {min_value}.")
        if step is not None and (step <= 0 or (sampling == "log" and step <= 1)):
            raise ValueError(f"{kind} {name!r}: step must be positive (a factor above 1 with sampling='log'), "
                             f"got {step!r}.")
        self.min_value = self._cast(min_value)
        self.max_value = self._cast(max_value)
        self.step = None if step is None else self._cast(step)
        self.sampling = sampling
        super().__init__(name, self.min_value if default is None else self._cast(default), conditions)
        if not self.min_value <= self.default <= self.max_value:
            raise ValueError(f"{kind} {name!r}: default {default!r} lies outside [{min_value}, {max_value}].")

    def _grid(self):
        """The stepped values (None when continuous)."""
        if self.step is None:
            return None
        if self.sampling == "log":
            count = int(math.floor(math.log(self.max_value / self.min_value) / math.log(self.step) + 1e-9)) + 1
            return [self._cast(self.min_value * self.step ** i) for i in range(count)]
        count = int(math.floor((self.max_value - self.min_value) / self.step + 1e-9)) + 1
        return [self._cast(self.min_value + i * self.step) for i in range(count)]

    @property
    def values(self) -> list:
        grid = self._grid()
        if grid is not None:
            return grid
        # a continuous range: ten values at the bucket centres, as KerasTuner's grid does
        return list(dict.fromkeys(self.prob_to_value((i + 0.5) / 10) for i in range(10)))

    def value_to_prob(self, value) -> float:
        grid = self._grid()
        if grid is not None:
            index = int(np.argmin(np.abs(np.asarray(grid, dtype=np.float64) - value)))
            return (index + 0.5) / len(grid)
        if self.max_value == self.min_value:
            return 0.5
        if self.sampling == "log":
            return math.log(value / self.min_value) / math.log(self.max_value / self.min_value)
        return (value - self.min_value) / (self.max_value - self.min_value)

    def prob_to_value(self, prob: float):
        grid = self._grid()
        if grid is not None:
            return grid[min(int(prob * len(grid)), len(grid) - 1)]
        if self.sampling == "log":
            value = self.min_value * (self.max_value / self.min_value) ** prob
        else:
            value = self.min_value + prob * (self.max_value - self.min_value)
        return self._cast(min(max(value, self.min_value), self.max_value))

    def get_config(self) -> dict:
        return {**super().get_config(), "min_value": self.min_value, "max_value": self.max_value,
                "step": self.step, "sampling": self.sampling}


class Int(Numerical):
    """An integer in [min_value, max_value]; every integer unless ``step`` (linear: 1 is implied)."""

    _cast = int

    def __init__(self, name, min_value, max_value, step=None, sampling="linear", default=None, conditions=None):
        for label, value in (("min_value", min_value), ("max_value", max_value), ("step", step)):
            if value is not None and (not isinstance(value, numbers.Integral) or isinstance(value, bool)):
                raise ValueError(f"Int {name!r}: {label} must be an integer, got {value!r}; use hp.Float "
                                 "for real-valued ranges.")
        if step is None and (sampling or "linear") == "linear":
            step = 1
        super().__init__(name, min_value, max_value, step, sampling, default, conditions)

    def prob_to_value(self, prob: float):
        if self.step is None:  # log sampling of every integer: round the continuous value
            value = self.min_value * (self.max_value / self.min_value) ** prob
            return int(min(max(round(value), self.min_value), self.max_value))
        return super().prob_to_value(prob)

    def value_to_prob(self, value) -> float:
        if self.step is None:
            return super().value_to_prob(float(value))
        return super().value_to_prob(value)

    @property
    def values(self) -> list:
        if self.step is None:
            return list(range(self.min_value, self.max_value + 1))
        return super().values


class Float(Numerical):
    """A real number in [min_value, max_value], continuous unless ``step`` is given."""


class Choice(_Discrete):
    """One of ``values`` (all ints, all floats, all strings or all booleans)."""

    def __init__(self, name, values, ordered=None, default=None, conditions=None):
        values = list(values) if isinstance(values, (list, tuple)) else None
        if not values:
            raise ValueError(f"Choice {name!r}: values must be a non-empty list, got {values!r}.")
        kinds = {_kind(v) for v in values}
        if len(kinds) != 1 or None in kinds:
            raise TypeError(f"Choice {name!r}: values must all be ints, all floats, all strings or all "
                            f"booleans; got {values!r}.")
        if len(set(values)) != len(values):
            raise ValueError(f"Choice {name!r}: values contain duplicates: {values!r}.")
        numeric = kinds <= {"int", "float"}
        if ordered and not numeric:
            raise ValueError(f"Choice {name!r}: ordered=True needs numeric values.")
        self._values = values
        self.ordered = numeric if ordered is None else bool(ordered)
        if default is not None and default not in values:
            raise ValueError(f"Choice {name!r}: default {default!r} is not one of {values!r}.")
        super().__init__(name, values[0] if default is None else default, conditions)

    @property
    def values(self) -> list:
        return list(self._values)

    def get_config(self) -> dict:
        return {**super().get_config(), "values": list(self._values), "ordered": self.ordered}


class Boolean(_Discrete):
    """True or False."""

    def __init__(self, name, default=False, conditions=None):
        if not isinstance(default, bool):
            raise ValueError(f"Boolean {name!r}: default must be True or False, got {default!r}.")
        super().__init__(name, default, conditions)

    @property
    def values(self) -> list:
        return [False, True]


class Fixed(_Discrete):
    """A constant: recorded with the trial, never searched."""

    def __init__(self, name, value, conditions=None):
        if _kind(value) is None and value is not None:
            raise ValueError(f"Fixed {name!r}: value must be an int, float, string or boolean, got {value!r}.")
        self.value = value
        super().__init__(name, value, conditions)

    @property
    def values(self) -> list:
        return [self.value]

    def get_config(self) -> dict:
        return {**super().get_config(), "value": self.value}


def _kind(value):
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, numbers.Real):
        return "float"
    if isinstance(value, str):
        return "str"
    return None


_CLASSES = {cls.__name__: cls for cls in (Int, Float, Choice, Boolean, Fixed)}


def deserialize(config: dict) -> HyperParameter:
    """A hyperparameter from ``{'class_name': ..., 'config': ...}``."""
    name = config.get("class_name")
    if name not in _CLASSES:
        raise ValueError(f"unknown hyperparameter class {name!r}; known: {sorted(_CLASSES)}.")
    kwargs = dict(config["config"])
    kwargs["conditions"] = [Condition(c["config"]["name"], c["config"]["values"])
                            for c in kwargs.pop("conditions", [])]
    if name == "Boolean":
        return Boolean(kwargs["name"], kwargs.get("default", False), kwargs["conditions"])
    if name == "Fixed":
        return Fixed(kwargs["name"], kwargs["value"], kwargs["conditions"])
    if name == "Choice":
        return Choice(kwargs["name"], kwargs["values"], kwargs.get("ordered"), kwargs.get("default"),
                      kwargs["conditions"])
    return _CLASSES[name](kwargs["name"], kwargs["min_value"], kwargs["max_value"], kwargs.get("step"),
                          kwargs.get("sampling", "linear"), kwargs.get("default"), kwargs["conditions"])


def _python(value):
    """NumPy scalars as Python numbers, so values compare, hash and go into JSON cleanly."""
    return value.item() if isinstance(value, np.generic) else value


class HyperParameters:
    """The search space (``space``) and one trial's values (``values``), KerasTuner's ``hp``.

    ``hp.Int(...)``, ``hp.Float(...)``, ``hp.Choice(...)``, ``hp.Boolean(...)`` and
    ``hp.Fixed(...)`` declare a hyperparameter and return its value; a name declared
    twice keeps its first definition. ``hp.get(name)`` reads a value,
    ``hp.conditional_scope(parent_name, parent_values)`` makes declarations conditional.
    """

    def __init__(self):
        self._space = {}  # name -> HyperParameter, in declaration order
        self.values = {}
        self._conditions = []  # the open conditional scopes
        self._sampler = None  # set by an oracle: the value of a name the trial has none for
        self.build_error = None  # set by an oracle when building the model for these values raised

    # ---------------------------------------------------------------- declaring
    def Int(self, name, min_value, max_value, step=None, sampling="linear", default=None,
            parent_name=None, parent_values=None):
        """An integer hyperparameter; returns its value (see :class:`Int`)."""
        return self._declare(Int(name, min_value, max_value, step, sampling, default,
                                 self._scope(parent_name, parent_values)))

    def Float(self, name, min_value, max_value, step=None, sampling="linear", default=None,
              parent_name=None, parent_values=None):
        """A real-valued hyperparameter; returns its value (see :class:`Float`)."""
        return self._declare(Float(name, min_value, max_value, step, sampling, default,
                                   self._scope(parent_name, parent_values)))

    def Choice(self, name, values, ordered=None, default=None, parent_name=None, parent_values=None):
        """One of ``values``; returns the chosen one (see :class:`Choice`)."""
        return self._declare(Choice(name, values, ordered, default, self._scope(parent_name, parent_values)))

    def Boolean(self, name, default=False, parent_name=None, parent_values=None):
        """True or False; returns the value."""
        return self._declare(Boolean(name, default, self._scope(parent_name, parent_values)))

    def Fixed(self, name, value, parent_name=None, parent_values=None):
        """A constant recorded with the trial; returns ``value``."""
        return self._declare(Fixed(name, value, self._scope(parent_name, parent_values)))

    def _scope(self, parent_name, parent_values):
        conditions = list(self._conditions)
        if parent_name is not None:
            conditions.append(self._condition(parent_name, parent_values))
        return conditions

    def _condition(self, parent_name, parent_values):
        if parent_name not in self._space:
            raise ValueError(f"conditional scope on {parent_name!r}, which is not declared yet; declare the "
                             "parent hyperparameter (e.g. hp.Choice) before its conditional scope.")
        return Condition(parent_name, parent_values)

    @contextlib.contextmanager
    def conditional_scope(self, parent_name, parent_values):
        """Hyperparameters declared inside are active only while ``parent_name``'s value is in ``parent_values``.

        Inside an inactive scope, declarations return None.
        """
        self._conditions.append(self._condition(parent_name, parent_values))
        try:
            yield
        finally:
            self._conditions.pop()

    def _declare(self, hp: HyperParameter):
        hp = self._space.setdefault(hp.name, hp)  # the first definition wins (an oracle may preset it)
        if not hp.is_active(self.values) or not all(c.is_active(self.values) for c in self._conditions):
            return None
        if hp.name not in self.values:
            if isinstance(hp, Fixed):
                value = hp.value
            elif self._sampler is not None:
                value = self._sampler(hp)
            else:
                value = hp.default
            self.values[hp.name] = _python(value)
        return self.values[hp.name]

    # ---------------------------------------------------------------- reading
    def get(self, name):
        """The current value of ``name``; KeyError when it was never declared."""
        if name in self.values:
            return self.values[name]
        if name in self._space:
            if not self.is_active(name):
                raise ValueError(f"hyperparameter {name!r} is inactive (its conditional scope does not hold).")
            return self._space[name].default
        raise KeyError(f"no hyperparameter named {name!r}; declared: {list(self._space)}.")

    def __getitem__(self, name):
        return self.get(name)

    def __contains__(self, name) -> bool:
        return name in self.values or name in self._space

    def is_active(self, name) -> bool:
        """Whether the hyperparameter ``name`` (or object) is active given the current values."""
        hp = self._space[name] if isinstance(name, str) else name
        return hp.is_active(self.values)

    @property
    def space(self) -> list:
        """Every declared hyperparameter, in declaration order."""
        return list(self._space.values())

    def active_space(self, values=None) -> list:
        """The hyperparameters whose conditions hold for ``values`` (default: the current values)."""
        values = self.values if values is None else values
        return [hp for hp in self._space.values() if hp.is_active(values)]

    def merge(self, other, overwrite=False) -> None:
        """Add the hyperparameters (and values) of ``other`` to this space."""
        for hp in other.space:
            if overwrite or hp.name not in self._space:
                self._space[hp.name] = hp
        for name, value in other.values.items():
            if overwrite or name not in self.values:
                self.values[name] = value

    def copy(self) -> "HyperParameters":
        """A new object with the same space and a copy of the values (no sampler)."""
        clone = HyperParameters()
        clone._space = dict(self._space)
        clone.values = dict(self.values)
        return clone

    # ---------------------------------------------------------------- persistence
    def get_config(self) -> dict:
        return {"space": [{"class_name": type(hp).__name__, "config": hp.get_config()} for hp in self.space],
                "values": dict(self.values)}

    @classmethod
    def from_config(cls, config: dict) -> "HyperParameters":
        hp = cls()
        for entry in config.get("space", []):
            item = deserialize(entry)
            hp._space[item.name] = item
        hp.values = dict(config.get("values", {}))
        return hp

    def __getstate__(self):
        # the sampler belongs to the oracle of this process; never ship it
        state = dict(self.__dict__)
        state["_sampler"] = None
        state["build_error"] = None
        state["_conditions"] = []
        return state

    def __repr__(self) -> str:
        return f"HyperParameters(values={self.values!r})"


__all__ = ["HyperParameters", "HyperParameter", "Int", "Float", "Choice", "Boolean", "Fixed", "Condition"]
