"""Objectives and trials: what a search optimizes, and one evaluated point of the search space."""

from __future__ import annotations

import json
import math
import os

from ..fileio import (
    AnyOf,
    Anything,
    Int,
    ListOf,
    MapOf,
    ModelFileError,
    Nullable,
    Number,
    Record,
    Str,
    atomic_write,
    check_schema,
    read_json,
)
from .hyperparameters import HyperParameters

# metric names (after an optional 'val_' prefix) that are better when larger; everything with
# one of the lower-is-better words is minimized
_MAXIMIZED = ("accuracy", "acc", "auc", "precision", "recall", "f1_score", "fbeta_score", "r2_score",
              "iou", "specificity", "sensitivity")
_MINIMIZED = ("loss", "error", "crossentropy", "hinge", "divergence", "mse", "mae", "mape", "msle",
              "logcosh", "poisson", "huber")


class Objective:
    """The metric a search optimizes: ``Objective('val_accuracy', direction='max')``."""

    def __init__(self, name, direction):
        if not isinstance(name, str) or not name:
            raise ValueError(f"an objective needs a metric name, got {name!r}.")
        if direction not in ("min", "max"):
            raise ValueError(f"Objective {name!r}: direction must be 'min' or 'max', got {direction!r}.")
        self.name = name
        self.direction = direction

    def better(self, a, b) -> bool:
        """Whether score ``a`` beats score ``b`` (None never beats anything)."""
        if a is None:
            return False
        if b is None:
            return True
        return a > b if self.direction == "max" else a < b

    def get_config(self) -> dict:
        return {"name": self.name, "direction": self.direction}

    def __eq__(self, other) -> bool:
        return isinstance(other, Objective) and self.get_config() == other.get_config()

    def __repr__(self) -> str:
        return f"Objective(name={self.name!r}, direction={self.direction!r})"


def infer_direction(metric_name: str):
    """'max' for accuracy/auc/precision/recall-like names, 'min' for losses and errors, else None."""
    name = metric_name[4:] if metric_name.startswith("val_") else metric_name
    name = name.lower()
    if name in _MAXIMIZED or name.endswith(tuple("_" + m for m in _MAXIMIZED)):
        return "max"
    if any(word in name for word in _MINIMIZED):
        return "min"
    if any(word in name for word in _MAXIMIZED):
        return "max"
    return None


def get_objective(objective) -> Objective:
    """An :class:`Objective` from a metric name (direction inferred), an Objective, or None ('val_loss')."""
    if objective is None:
        return Objective("val_loss", "min")
    if isinstance(objective, Objective):
        return objective
    if isinstance(objective, str):
        direction = infer_direction(objective)
        if direction is None:
            raise ValueError(
                f"cannot tell whether the objective {objective!r} should be minimized or maximized; pass "
                f"Objective({objective!r}, direction='min') or direction='max'."
            )
        return Objective(objective, direction)
    if isinstance(objective, (list, tuple)):
        raise ValueError("give one objective (a metric name or an Objective); several objectives are not "
                         "supported.")
    raise TypeError(f"objective must be a metric name or an Objective, got {type(objective).__name__}.")


class TrialStatus:
    """The states of a trial (KerasTuner's names)."""

    RUNNING = "RUNNING"
    IDLE = "IDLE"
    INVALID = "INVALID"
    STOPPED = "STOPPED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class MetricsTracker:
    """Per-metric observations ``(value, step)`` of one trial, with the direction of each metric."""

    def __init__(self):
        self.metrics = {}  # name -> {"direction": ..., "observations": [{"value": [v], "step": s}]}

    def update(self, name, value, step=0) -> None:
        entry = self.metrics.setdefault(name, {"direction": infer_direction(name) or "min",
                                               "observations": []})
        entry["observations"].append({"value": [float(value)], "step": int(step)})

    def exists(self, name) -> bool:
        return name in self.metrics

    def get_history(self, name) -> list:
        """The observations of ``name`` as ``(value, step)`` pairs."""
        return [(o["value"][0], o["step"]) for o in self.metrics.get(name, {}).get("observations", [])]

    def get_last_value(self, name):
        history = self.get_history(name)
        return history[-1][0] if history else None

    def get_best_value(self, name):
        history = [v for v, _ in self.get_history(name) if not math.isnan(v)]
        if not history:
            return None
        return max(history) if self.metrics[name]["direction"] == "max" else min(history)

    def get_config(self) -> dict:
        return {"metrics": self.metrics}

    @classmethod
    def from_config(cls, config) -> "MetricsTracker":
        tracker = cls()
        tracker.metrics = dict(config.get("metrics", {}))
        return tracker


class Trial:
    """One point of the search space: its hyperparameters, status, score and metrics.

    ``score`` is the objective's value at the best epoch (averaged over the trial's
    executions); ``best_step`` that epoch; ``message`` the error of a failed trial;
    ``seed`` the seed its training ran with.
    """

    def __init__(self, hyperparameters, trial_id, status=TrialStatus.RUNNING, seed=None):
        self.hyperparameters = hyperparameters
        self.trial_id = trial_id
        self.status = status
        self.seed = seed
        self.score = None
        self.best_step = None
        self.metrics = MetricsTracker()
        self.message = None

    @property
    def number(self) -> int:
        """The trial's position in the search (its id as an integer)."""
        return int(self.trial_id)

    def get_state(self) -> dict:
        return {"trial_id": self.trial_id, "hyperparameters": self.hyperparameters.get_config(),
                "metrics": self.metrics.get_config(), "score": self.score, "best_step": self.best_step,
                "status": self.status, "message": self.message, "seed": self.seed}

    @classmethod
    def from_state(cls, state) -> "Trial":
        trial = cls(HyperParameters.from_config(state["hyperparameters"]), state["trial_id"],
                    state["status"], state.get("seed"))
        trial.metrics = MetricsTracker.from_config(state.get("metrics", {}))
        trial.score = state.get("score")
        trial.best_step = state.get("best_step")
        trial.message = state.get("message")
        return trial

    def save(self, filepath) -> None:
        write_json(filepath, self.get_state())

    @classmethod
    def load(cls, filepath) -> "Trial":
        """The trial saved in ``filepath``; a corrupt or forged file raises ModelFileError naming it."""
        state = read_json(filepath, TRIAL_STATE)
        try:
            return cls.from_state(state)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as err:
            raise ModelFileError(f"{filepath}: cannot restore the trial ({type(err).__name__}: {err}).") from None

    def summary(self, print_fn=print) -> None:
        """Print the trial's hyperparameters and score (the results_summary block)."""
        print_fn(f"Trial {self.trial_id} summary")
        print_fn("Hyperparameters:")
        for name, value in self.hyperparameters.values.items():
            print_fn(f"{name}: {value}")
        if self.score is not None:
            print_fn(f"Score: {self.score}")
        if self.message:
            print_fn(self.message)

    def __repr__(self) -> str:
        return (f"Trial(trial_id={self.trial_id!r}, status={self.status!r}, score={self.score!r}, "
                f"values={self.hyperparameters.values!r})")


# --------------------------------------------------------------------------- state files

# trial ids name folders (trial_<id>), so they are plain numbers: '../x' cannot leave the project
TRIAL_ID = Str(pattern=r"[0-9]{1,18}", max_length=18)
TRIAL_STATUSES = frozenset(value for name, value in vars(TrialStatus).items() if name.isupper())
HYPERPARAMETERS_CONFIG = Record(optional={"space": ListOf(MapOf(Anything())), "values": MapOf(Anything())})
_OBSERVATION = Record({"value": ListOf(Number(finite=False), min_length=1, max_length=1), "step": Int(0)})
#: what ``trial_<id>/trial.json`` must look like
TRIAL_STATE = Record({"trial_id": TRIAL_ID, "hyperparameters": HYPERPARAMETERS_CONFIG,
                      "status": Str(TRIAL_STATUSES)}, {
    "metrics": Record(optional={"metrics": MapOf(Record({"direction": Str({"min", "max"}),
                                                        "observations": ListOf(_OBSERVATION)}))}),
    "score": Nullable(Number(finite=False)), "best_step": Nullable(Int(0)),
    "message": Nullable(Str(max_length=1_000_000)), "seed": Nullable(Int(0)),
})
#: what ``oracle.json`` must look like (subclasses' own keys are checked when they are restored)
ORACLE_STATE = Record({"oracle": Str(max_length=200), "seed": Int(0), "hyperparameters": HYPERPARAMETERS_CONFIG,
                       "trial_ids": ListOf(TRIAL_ID)}, {
    "max_trials": Nullable(Int(1)), "consecutive_failures": Int(0),
    "objective": AnyOf(Str(), Record({"name": Str(), "direction": Str({"min", "max"})}),
                       description="a metric name or {'name': ..., 'direction': 'min' or 'max'}"),
})


def trial_dir(project_dir, trial_id) -> str:
    """The folder ``project_dir/trial_<id>`` of a trial; refuses ids that are not plain numbers."""
    check_schema(trial_id, TRIAL_ID, f"the tuner project {project_dir}", root="trial id")
    return os.path.join(project_dir, f"trial_{trial_id}")


def write_json(filepath, data) -> None:
    """Write ``data`` as JSON with :func:`deepgrad.fileio.atomic_write` (a crash keeps the old file)."""
    with atomic_write(filepath, "w") as stream:
        json.dump(data, stream, indent=1, allow_nan=True)


__all__ = ["Objective", "Trial", "TrialStatus", "MetricsTracker", "get_objective", "infer_direction"]
