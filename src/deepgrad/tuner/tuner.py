"""Tuners: a search loop that hands the oracle's trials to workers and records what comes back.

Usage, as with KerasTuner::

    def build_model(hp):
        model = Sequential()
        model.add(Dense(hp.Int("units", 8, 128, step=8), activation="relu", input_dim=8))
        model.add(Dense(1, activation="sigmoid"))
        model.compile(optimizer=hp.Choice("optimizer", ["adam", "sgd"]),
                      loss="binary_crossentropy", metrics=["accuracy"])
        return model

    tuner = RandomSearch(build_model, objective="val_accuracy", max_trials=10, seed=1,
                         directory="runs", project_name="mlp")
    tuner.search(x, y, epochs=20, validation_split=0.2)
    best_model = tuner.get_best_models(1)[0]

Choose the learning rate's range before tuning it: ``deepgrad.optimizers.find_learning_rate``
(the range test) shows where the loss falls fastest; search ``hp.Float('learning_rate', ...,
sampling='log')`` around that rate rather than over many decades.

A trial's score is the objective's value at its best epoch (averaged over
``executions_per_trial`` trainings), as KerasTuner does; that epoch's weights are saved.

Files, under ``directory/project_name`` (JSON and ``.npy`` zips, never pickle)::

    oracle.json                     settings, search space, trial ids, oracle state
    trial_<id>/trial.json           values, status, score, metrics, message, seed
    trial_<id>/checkpoint.weights.zip   the best epoch's weights (model.save_weights)

With ``overwrite=False`` a search started again in the same place resumes: finished
trials are kept, and a trial that was running when the search stopped runs again.

Parallel and distributed search: ``search(..., executor=...)``.

* ``executor=None`` (default): trials one after another in this process.
* ``concurrent.futures.ProcessPoolExecutor(n)``: n trials at a time in local processes;
  the model-building function (and any callbacks) must be picklable: top-level functions.
* ``dask.distributed.Client``: trials on a Dask cluster. Start a scheduler and workers
  (``dask scheduler`` on one machine, ``dask worker tcp://host:8786`` on each worker
  machine, each with deepgrad and the module defining ``build_model`` installed), then
  ``tuner.search(x, y, ..., executor=Client("tcp://host:8786"))``. The training data are
  sent to every worker once.

Trials are drawn in this process, from the tuner's ``seed`` and trial number, and every
trial trains after ``deepgrad.manual_seed(trial.seed)``; so RandomSearch, GridSearch and
Hyperband give the same trials and scores whether they run sequentially, in processes or
on a cluster. Bayesian optimization chooses from finished results: in parallel it
chooses a batch of one trial per worker, waits for the whole batch, then chooses the
next, so its results depend on the number of workers (and equal the sequential run
with one worker).
"""

from __future__ import annotations

import os
import shutil
import time

from . import execution
from .bayesian import BayesianOptimizationOracle
from .hyperband import HyperbandOracle
from .hypermodel import get_hypermodel
from .oracle import TUNER_PREFIX, GridSearchOracle, Oracle, RandomSearchOracle
from .trial import TrialStatus, trial_dir

_CHECKPOINT = "checkpoint.weights.zip"


class Tuner:
    """Runs an oracle's trials with a hypermodel; the base of RandomSearch, GridSearch, Hyperband, BayesianOptimization.

    ``optimizer``, ``loss`` and ``metrics``, when given, recompile every built model with them.
    """

    def __init__(self, oracle, hypermodel=None, directory=None, project_name=None, overwrite=False,
                 executions_per_trial=1, optimizer=None, loss=None, metrics=None):
        if not isinstance(oracle, Oracle):
            raise TypeError(f"oracle must be a deepgrad.tuner Oracle, got {type(oracle).__name__}.")
        if hypermodel is None:
            raise ValueError("a tuner needs a hypermodel: a function build_model(hp) or a HyperModel.")
        if not isinstance(executions_per_trial, int) or executions_per_trial < 1:
            raise ValueError(f"executions_per_trial must be a positive integer, got {executions_per_trial!r}.")
        self.oracle = oracle
        self.hypermodel = get_hypermodel(hypermodel)
        self.executions_per_trial = executions_per_trial
        self.compile_overrides = {k: v for k, v in (("optimizer", optimizer), ("loss", loss),
                                                     ("metrics", metrics)) if v is not None}
        self.directory = directory or "."
        self.project_name = project_name or "untitled_project"
        self.project_dir = os.path.join(self.directory, self.project_name)
        if overwrite and os.path.exists(self.project_dir):
            shutil.rmtree(self.project_dir)
        os.makedirs(self.project_dir, exist_ok=True)
        self.oracle._set_project_dir(self.project_dir, overwrite=overwrite)
        self._resolved_model = None

    # ---------------------------------------------------------------- the search
    def search(self, *fit_args, executor=None, **fit_kwargs):
        """Run trials until the oracle stops; ``fit_args``/``fit_kwargs`` go to every ``model.fit``.

        ``validation_data``, ``validation_split``, ``epochs``, ``batch_size``, ``callbacks``
        (copied afresh for each trial) pass through. ``verbose`` (default 1) also controls
        the tuner's per-trial report. ``executor``: see the module docstring.
        """
        verbose = fit_kwargs.get("verbose", 1)
        runner = execution.get_runner(executor)
        data = runner.prepare({"args": fit_args, "kwargs": fit_kwargs})
        self._populate_initial_space()
        pending = {}  # handle -> (trial, model built while resolving it)
        stopped = False
        start = time.perf_counter()
        try:
            while True:
                # a synchronous oracle (Bayesian) chooses from results: it draws a batch only when none runs
                can_draw = not self.oracle.synchronous or not pending
                while can_draw and not stopped and len(pending) < runner.capacity:
                    trial = self.oracle.create_trial(self._build_for_resolve)
                    if trial == TrialStatus.STOPPED:
                        stopped = True
                    if not hasattr(trial, "trial_id"):  # STOPPED, or IDLE: wait for running trials
                        break
                    if trial.status == TrialStatus.FAILED:  # its model could not even be built
                        if verbose:
                            self._report(trial, {}, start)
                        continue
                    if verbose:
                        print(f"Search: running trial #{trial.number + 1}: {_format_values(trial)}")
                    handle = runner.submit(self._task(trial, self._resolved_model), data)
                    pending[handle] = (trial, self._resolved_model)
                if not pending:
                    if stopped:
                        break
                    raise RuntimeError("the oracle waits for running trials, but none is running.")
                for handle, result in sorted(runner.wait(pending), key=lambda item: pending[item[0]][0].number):
                    trial, model = pending.pop(handle)
                    self._record(trial, model, result, verbose, start)
        finally:
            runner.cancel(list(pending))

    def _build_for_resolve(self, hp):
        model = self.hypermodel.build(hp)
        if model is None:
            raise TypeError("the hypermodel's build(hp) returned None; it must return a compiled model.")
        self._resolved_model = model
        return model

    def _populate_initial_space(self):
        """Declare the hyperparameters the model uses with default values (KerasTuner does the same)."""
        if not self.oracle.hyperparameters.space:
            hp = self.oracle.hyperparameters.copy()
            self.hypermodel.build(hp)
            self.oracle.hyperparameters.merge(hp)
            self.oracle.hyperparameters.values = {}

    def _task(self, trial, model):
        initial_weights = None
        parent = trial.hyperparameters.values.get(f"{TUNER_PREFIX}trial_id")
        if parent is not None:  # Hyperband: continue from the parent trial's best epoch
            model.load_weights(self._checkpoint(parent))
            initial_weights = model.get_weights()
        return execution.TrialTask(trial.trial_id, trial.hyperparameters.copy(), trial.seed, self.hypermodel,
                                   self.oracle.objective, self.executions_per_trial, initial_weights,
                                   self.compile_overrides)

    def _record(self, trial, model, result, verbose, start):
        if result["status"] == "COMPLETED":
            trial.score = result["score"]
            trial.best_step = result["best_step"]
            for name, value in result["metrics"].items():
                trial.metrics.update(name, value, step=result["best_step"])
            if not model.built:
                model.build(result["input_shape"])
            model.set_weights(result["weights"])
            model.save_weights(self._checkpoint(trial.trial_id))
            trial.status = TrialStatus.COMPLETED
        else:
            trial.status = TrialStatus.FAILED
            trial.message = result["message"]
            if result.get("error_type") == "MissingObjectiveError":
                self.oracle.end_trial(trial)
                raise ValueError(result["message"])
        self.oracle.end_trial(trial)
        if verbose:
            self._report(trial, result, start)

    def _report(self, trial, result, start):
        name = self.oracle.objective.name
        print(f"Trial {trial.number + 1} {'Complete' if trial.status == TrialStatus.COMPLETED else 'Failed'} "
              f"[{_format_time(result.get('elapsed', 0.0))}]")
        print(f"{name}: {trial.score}" if trial.score is not None else trial.message)
        best = self.oracle.get_best_trials(1)
        if best:
            print(f"\nBest {name} So Far: {best[0].score}")
        print(f"Total elapsed time: {_format_time(time.perf_counter() - start)}\n")

    # ---------------------------------------------------------------- results
    def _checkpoint(self, trial_id):
        return os.path.join(trial_dir(self.project_dir, trial_id), _CHECKPOINT)

    def get_trial_dir(self, trial_id):
        return trial_dir(self.project_dir, trial_id)

    def load_model(self, trial):
        """The model of ``trial`` rebuilt from its values, with its best epoch's weights."""
        model = self.hypermodel.build(trial.hyperparameters.copy())
        model.load_weights(self._checkpoint(trial.trial_id))
        return model

    def get_best_models(self, num_models=1) -> list:
        """The ``num_models`` best models, best first, each with its best epoch's saved weights."""
        return [self.load_model(trial) for trial in self.oracle.get_best_trials(num_models)]

    def get_best_hyperparameters(self, num_trials=1) -> list:
        """The values of the ``num_trials`` best trials, best first (HyperParameters objects)."""
        return [trial.hyperparameters for trial in self.oracle.get_best_trials(num_trials)]

    def search_space_summary(self, extended=False, print_fn=print) -> None:
        """Print every hyperparameter of the search space with its settings."""
        self._populate_initial_space()
        space = self.oracle.hyperparameters.space
        print_fn("Search space summary")
        print_fn(f"Default search space size: {len(space)}")
        for hp in space:
            config = hp.get_config()
            config.pop("name")
            print_fn(f"{hp.name} ({type(hp).__name__})")
            print_fn(str(config))

    def results_summary(self, num_trials=10, print_fn=print) -> None:
        """Print the best ``num_trials`` trials: values and score."""
        print_fn("Results summary")
        print_fn(f"Results in {self.project_dir}")
        print_fn(f"Showing {num_trials} best trials")
        print_fn(str(self.oracle.objective))
        for trial in self.oracle.get_best_trials(num_trials):
            print_fn("")
            trial.summary(print_fn=print_fn)


def _format_values(trial) -> str:
    return ", ".join(f"{k}={v}" for k, v in trial.hyperparameters.values.items())


def _format_time(seconds) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:02d}h {seconds // 60 % 60:02d}m {seconds % 60:02d}s"


_ORACLE_OPTIONS = ("hyperparameters", "tune_new_entries", "allow_new_entries", "max_retries_per_trial",
                   "max_consecutive_failed_trials")


def _split_oracle_options(kwargs):
    """Take the options every oracle accepts out of a tuner's keyword arguments.

    ``hyperparameters`` (a HyperParameters whose definitions override the model's),
    ``tune_new_entries`` (False: hyperparameters not in it keep their defaults),
    ``allow_new_entries`` (False: declaring one is an error), ``max_retries_per_trial``
    (0) and ``max_consecutive_failed_trials`` (3; None for no limit).
    """
    return {name: kwargs.pop(name) for name in _ORACLE_OPTIONS if name in kwargs}


class RandomSearch(Tuner):
    """Random search: each trial draws every hyperparameter uniformly (on its linear or log scale).

    Oracle options (``hyperparameters``, ``tune_new_entries``, ...): see :func:`_split_oracle_options`;
    the rest of ``kwargs`` goes to :class:`Tuner` (``directory``, ``project_name``, ``overwrite``, ...).
    """

    def __init__(self, hypermodel=None, objective=None, max_trials=10, seed=None, **kwargs):
        oracle = RandomSearchOracle(objective=objective, max_trials=max_trials, seed=seed,
                                    **_split_oracle_options(kwargs))
        super().__init__(oracle, hypermodel, **kwargs)


class GridSearch(Tuner):
    """Grid search: every combination in order (``max_trials=None`` runs the whole grid); options as RandomSearch."""

    def __init__(self, hypermodel=None, objective=None, max_trials=None, seed=None, **kwargs):
        oracle = GridSearchOracle(objective=objective, max_trials=max_trials, seed=seed,
                                  **_split_oracle_options(kwargs))
        super().__init__(oracle, hypermodel, **kwargs)


class Hyperband(Tuner):
    """Hyperband: brackets of successive halving (see :mod:`deepgrad.tuner.hyperband`); options as RandomSearch.

    ``epochs`` given to ``search`` is ignored: each trial trains for its round's epochs.
    """

    def __init__(self, hypermodel=None, objective=None, max_epochs=100, factor=3, hyperband_iterations=1,
                 seed=None, **kwargs):
        oracle = HyperbandOracle(objective=objective, max_epochs=max_epochs, factor=factor,
                                 hyperband_iterations=hyperband_iterations, seed=seed, **_split_oracle_options(kwargs))
        super().__init__(oracle, hypermodel, **kwargs)


class BayesianOptimization(Tuner):
    """Bayesian optimization with a Gaussian process and expected improvement (see :mod:`deepgrad.tuner.bayesian`).

    ``alpha`` is the noise added to the kernel's diagonal; ``beta`` the exploration weight
    of ``acquisition='ucb'``; ``num_initial_points`` random trials come first (default
    3 x the number of hyperparameters). Options as RandomSearch.
    """

    def __init__(self, hypermodel=None, objective=None, max_trials=10, num_initial_points=None, alpha=1e-4,
                 beta=2.6, seed=None, acquisition="ei", **kwargs):
        oracle = BayesianOptimizationOracle(objective=objective, max_trials=max_trials,
                                            num_initial_points=num_initial_points, alpha=alpha, beta=beta,
                                            seed=seed, acquisition=acquisition, **_split_oracle_options(kwargs))
        super().__init__(oracle, hypermodel, **kwargs)


__all__ = ["Tuner", "RandomSearch", "GridSearch", "Hyperband", "BayesianOptimization"]
