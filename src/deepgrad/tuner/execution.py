"""Running trials: the worker function, and where it runs (here, local processes, a Dask cluster).

:func:`run_trial` is the whole life of a trial on a worker: seed deepgrad from the
trial, build the model from the trial's values, train it, and send back the metrics of
the best epoch and that epoch's weights as arrays. It imports nothing from the driving
process but the task it is given, so it runs the same in this process, in a
``concurrent.futures.ProcessPoolExecutor`` or on a Dask worker on another machine.

Runners hide the three ways of executing it behind ``submit``/``wait``:

* no executor: trials run one after another in this process;
* a ``concurrent.futures.Executor``: ``executor.submit(run_trial, ...)`` (for processes,
  the hypermodel and callbacks are pickled: define them at the top level of a module);
* a ``dask.distributed.Client``: the training data are scattered to every worker once,
  then ``client.submit(run_trial, ...)`` per trial.
"""

from __future__ import annotations

import concurrent.futures
import copy
import math
import os
import time
import traceback

import numpy as np

from .. import backend
from ..callbacks import Callback
from .oracle import TUNER_PREFIX


class MissingObjectiveError(KeyError):
    """The objective's metric is not among the values ``fit`` logs: a setup error, not a bad trial."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class TrialDivergedError(FloatingPointError):
    """The loss or the objective became NaN during training."""


class TrialTask:
    """Everything a worker needs for one trial (picklable)."""

    def __init__(self, trial_id, hyperparameters, seed, hypermodel, objective, executions=1,
                 initial_weights=None, compile_overrides=None):
        self.trial_id = trial_id
        self.hyperparameters = hyperparameters
        self.seed = seed
        self.hypermodel = hypermodel
        self.objective = objective
        self.executions = executions
        self.initial_weights = initial_weights
        self.compile_overrides = compile_overrides or {}


class BestEpoch(Callback):
    """Tracks the best epoch of the objective (its logs and a copy of the weights) and stops on NaN."""

    def __init__(self, objective):
        super().__init__()
        self.objective = objective
        self.best_value = None
        self.best_epoch = None
        self.best_logs = None
        self.best_weights = None
        self.diverged = None
        self.logged_keys = set()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.logged_keys.update(logs)
        for name in dict.fromkeys([self.objective.name, "loss"]):
            if name in logs and np.ndim(logs[name]) == 0 and math.isnan(float(logs[name])):
                self.diverged = f"{name} became NaN at epoch {epoch + 1}"
                self.model.stop_training = True
                return
        if self.objective.name not in logs:
            return  # e.g. an epoch without validation (validation_freq > 1)
        value = float(logs[self.objective.name])
        if self.objective.better(value, self.best_value):
            self.best_value, self.best_epoch = value, epoch
            self.best_logs = {k: float(v) for k, v in logs.items() if np.ndim(v) == 0}
            self.best_weights = self.model.get_weights()  # copies: later epochs change the live arrays


def execution_seed(trial_seed: int, execution: int) -> int:
    """The seed of execution ``execution`` of a trial: ``trial_seed + execution``."""
    return int(trial_seed) + int(execution)


def run_trial(task: TrialTask, data: dict) -> dict:
    """Train the trial's model ``task.executions`` times; a dict of results, never an exception.

    ``data`` holds the positional (``args``) and keyword (``kwargs``) arguments of ``fit``.
    The result has ``status`` ('COMPLETED' or 'FAILED'); for a completed trial ``score``
    (the objective at the best epoch, averaged over executions), ``best_step``,
    ``metrics`` (every logged value at the best epoch, averaged), ``weights`` (the best
    execution's best-epoch weights) and ``input_shape``; for a failed one ``message``.
    """
    start = time.perf_counter()
    try:
        result = _run(task, data)
    except Exception as err:  # a failing trial is a result to record, not the end of the search
        result = {"status": "FAILED", "message": f"{type(err).__name__}: {err}",
                  "error_type": type(err).__name__, "traceback": traceback.format_exc()}
    result["elapsed"] = time.perf_counter() - start
    result["host"] = os.uname().nodename if hasattr(os, "uname") else ""
    return result


def _run(task, data):
    args = tuple(data.get("args", ()))
    kwargs = dict(data.get("kwargs", {}))
    values = task.hyperparameters.values
    if f"{TUNER_PREFIX}epochs" in values:  # Hyperband decides how long this trial trains
        kwargs["epochs"] = values[f"{TUNER_PREFIX}epochs"]
        kwargs["initial_epoch"] = values[f"{TUNER_PREFIX}initial_epoch"]
    user_callbacks = list(kwargs.pop("callbacks", None) or [])
    outcomes = []
    for execution in range(task.executions):
        backend.manual_seed(execution_seed(task.seed, execution))
        hp = task.hyperparameters.copy()
        model = task.hypermodel.build(hp)
        if model is None:
            raise TypeError("the hypermodel's build(hp) returned None; it must return a compiled model.")
        if task.compile_overrides:
            _recompile(model, task.compile_overrides)
        if task.initial_weights is not None:
            _ensure_built(model, args, kwargs)
            model.set_weights(task.initial_weights)
        tracker = BestEpoch(task.objective)
        callbacks = copy.deepcopy(user_callbacks) + [tracker]  # every trial starts from fresh callbacks
        result = task.hypermodel.fit(hp, model, *args, callbacks=callbacks, **kwargs)
        outcomes.append(_outcome(task.objective, tracker, result, model))
    return _combine(task.objective, outcomes)


def _recompile(model, overrides):
    model.compile(optimizer=overrides.get("optimizer") or model.optimizer,
                  loss=overrides.get("loss") or model._loss_spec,
                  metrics=overrides.get("metrics") or model._metric_spec)


def _ensure_built(model, args, kwargs):
    if model.built:
        return
    from ..models import training  # noqa: PLC0415

    x = args[0] if args else kwargs.get("x")
    if x is None:
        raise ValueError("cannot build the model to load weights into: give it an input shape in build(hp).")
    training.ensure_built(model, training.prepare_inputs(model, x))


def _outcome(objective, tracker, result, model):
    """The best epoch of one execution, from the tracker or from what ``fit`` returned."""
    if tracker.diverged:
        raise TrialDivergedError(f"training diverged: {tracker.diverged}")
    if isinstance(result, dict) or isinstance(result, (int, float, np.number)):
        metrics = dict(result) if isinstance(result, dict) else {objective.name: float(result)}
        if objective.name not in metrics:
            raise MissingObjectiveError(f"the objective {objective.name!r} is not among the values fit returned: "
                                        f"{sorted(metrics)}.")
        value = float(metrics[objective.name])
        if math.isnan(value):
            raise TrialDivergedError(f"the objective {objective.name!r} is NaN")
        return {"value": value, "epoch": 0, "metrics": {k: float(v) for k, v in metrics.items()},
                "weights": model.get_weights(), "input_shape": model.input_shape_built}
    if tracker.best_epoch is None:
        raise MissingObjectiveError(
            f"the objective {objective.name!r} is not among the values fit logs: {sorted(tracker.logged_keys)}. "
            "Pass validation_data= or validation_split= for 'val_*' objectives, or choose a logged metric."
        )
    return {"value": tracker.best_value, "epoch": tracker.best_epoch, "metrics": tracker.best_logs,
            "weights": tracker.best_weights, "input_shape": model.input_shape_built}


def _combine(objective, outcomes):
    """Average the executions' best-epoch values; keep the weights of the best execution."""
    names = set.intersection(*(set(o["metrics"]) for o in outcomes))
    metrics = {name: float(np.mean([o["metrics"][name] for o in outcomes])) for name in sorted(names)}
    values = [o["value"] for o in outcomes]
    best = outcomes[0]
    for outcome in outcomes[1:]:
        if objective.better(outcome["value"], best["value"]):
            best = outcome
    return {"status": "COMPLETED", "score": float(np.mean(values)), "best_step": best["epoch"],
            "metrics": metrics, "weights": best["weights"], "input_shape": best["input_shape"]}


# --------------------------------------------------------------------------- runners


class SequentialRunner:
    """Runs each trial in this process as soon as it is submitted."""

    capacity = 1

    def __init__(self):
        self._done = {}
        self._count = 0

    def prepare(self, data):
        return data

    def submit(self, task, data):
        self._count += 1
        self._done[self._count] = run_trial(task, data)
        return self._count

    def wait(self, handles):
        done = [(h, self._done.pop(h)) for h in handles if h in self._done]
        return done

    def cancel(self, handles):
        for handle in handles:
            self._done.pop(handle, None)


class FuturesRunner:
    """Runs trials on a ``concurrent.futures`` executor, as many at a time as it has workers."""

    def __init__(self, executor):
        self.executor = executor
        self.capacity = max(1, int(getattr(executor, "_max_workers", None) or os.cpu_count() or 1))

    def prepare(self, data):
        return data

    def submit(self, task, data):
        return self.executor.submit(run_trial, task, data)

    def wait(self, handles):
        done, _ = concurrent.futures.wait(list(handles), return_when=concurrent.futures.FIRST_COMPLETED)
        return [(future, _result(future)) for future in done]

    def cancel(self, handles):
        for future in handles:
            future.cancel()


class DaskRunner:
    """Runs trials on a Dask cluster through a ``distributed.Client``, one per worker thread."""

    def __init__(self, client):
        self.client = client
        self.capacity = max(1, sum(client.nthreads().values()))

    def prepare(self, data):
        """The arrays of ``data`` scattered to every worker once (trials then refer to them)."""
        arrays = []

        def collect(value):
            if isinstance(value, np.ndarray):
                arrays.append(value)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    collect(item)
            elif isinstance(value, dict):
                for item in value.values():
                    collect(item)

        collect(data)
        if not arrays:
            return data
        # fresh keys (no hashing): data of an earlier search being released cannot take them away
        futures = self.client.scatter(arrays, broadcast=True, hash=False)
        lookup = {id(a): f for a, f in zip(arrays, futures)}

        def replace(value):
            if isinstance(value, np.ndarray):
                return lookup[id(value)]
            if isinstance(value, (list, tuple)):
                return type(value)(replace(item) for item in value)
            if isinstance(value, dict):
                return {k: replace(v) for k, v in value.items()}
            return value

        return replace(data)

    def submit(self, task, data):
        return self.client.submit(run_trial, task, data, pure=False)

    def wait(self, handles):
        from distributed import wait  # noqa: PLC0415 - optional dependency

        done, _ = wait(list(handles), return_when="FIRST_COMPLETED")
        return [(future, _result(future)) for future in done]

    def cancel(self, handles):
        for future in handles:
            future.cancel()


def _result(future):
    try:
        return future.result()
    except Exception as err:  # the worker died or the task could not be shipped
        return {"status": "FAILED", "message": f"{type(err).__name__}: {err}", "error_type": type(err).__name__}


def get_runner(executor):
    """The runner for ``executor``: None, a ``concurrent.futures.Executor`` or a ``distributed.Client``."""
    if executor is None:
        return SequentialRunner()
    if type(executor).__module__.split(".")[0] == "distributed" and hasattr(executor, "scatter"):
        return DaskRunner(executor)
    if isinstance(executor, concurrent.futures.Executor):
        return FuturesRunner(executor)
    raise TypeError(
        "executor must be None (trials one after another), a concurrent.futures executor (e.g. "
        "ProcessPoolExecutor(2)) or a dask.distributed.Client; got " + type(executor).__name__ + "."
    )


__all__ = ["run_trial", "TrialTask", "get_runner", "MissingObjectiveError", "TrialDivergedError"]
