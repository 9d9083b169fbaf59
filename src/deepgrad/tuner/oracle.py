"""Oracles: which hyperparameter values each trial of a search tries.

An oracle runs in the process that drives the search. For trial number k it draws values
from its own generator seeded with ``(seed, k)`` and from what earlier trials recorded, so
the same seed gives the same trials whether they then train one after another, in local
processes or on a Dask cluster.

A trial's values are *resolved* before the trial is handed out: the model-building
function runs once on them, and any hyperparameter it declares that the trial has no
value for yet (``num_layers`` grew, a conditional scope opened) gets one from the
oracle's policy right then. The search space thus grows in trial order, independent of
when trials finish elsewhere.

Trials whose draw repeats an earlier trial's values are drawn again (up to 100 times);
an oracle that runs out of new values stops the search.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..fileio import ModelFileError, read_json
from .hyperparameters import Fixed, HyperParameters
from .trial import ORACLE_STATE, Trial, TrialStatus, get_objective, trial_dir, write_json

_MAX_COLLISIONS = 100
TUNER_PREFIX = "tuner/"  # bookkeeping values (Hyperband's epochs, bracket, parent trial)


class SearchSpaceError(ValueError):
    """The model declares a hyperparameter the search does not allow."""


class Oracle:
    """Base oracle: trial bookkeeping, persistence and the resolve-then-record cycle.

    Subclasses choose values in :meth:`_sample` (a fresh point) and may plan trials
    differently in :meth:`_plan` (Hyperband promotes earlier trials). ``synchronous``
    oracles choose from finished results, so a parallel search hands them out in batches.
    """

    synchronous = False
    _max_collisions = _MAX_COLLISIONS

    def __init__(self, objective=None, max_trials=None, hyperparameters=None, allow_new_entries=True,
                 tune_new_entries=True, seed=None, max_retries_per_trial=0, max_consecutive_failed_trials=3):
        self.objective = get_objective(objective)
        if max_trials is not None and (not isinstance(max_trials, (int, np.integer)) or max_trials < 1):
            raise ValueError(f"max_trials must be a positive integer or None, got {max_trials!r}.")
        self.max_trials = None if max_trials is None else int(max_trials)
        self.hyperparameters = hyperparameters.copy() if hyperparameters is not None else HyperParameters()
        self.hyperparameters.values = {}
        self._preset_names = {hp.name for hp in self.hyperparameters.space}
        self.allow_new_entries = allow_new_entries
        self.tune_new_entries = tune_new_entries
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])  # recorded, so a resumed search keeps it
        self.seed = int(seed)
        self.max_retries_per_trial = int(max_retries_per_trial)
        self.max_consecutive_failed_trials = max_consecutive_failed_trials
        self.trials = {}  # trial_id -> Trial, in creation order
        self._tried_so_far = set()
        self._requeued = []
        self._consecutive_failures = 0
        self._retries = {}
        self._project_dir = None

    # ---------------------------------------------------------------- trial ids and seeds
    def _trial_id(self, number: int) -> str:
        width = len(str(self.max_trials)) if self.max_trials else 4
        return f"{number:0{width}d}"

    def trial_seed(self, number: int) -> int:
        """The training seed of trial ``number``: a hash of (seed, number), so any machine reproduces it."""
        return int(np.random.SeedSequence([self.seed, number]).generate_state(1)[0])

    def _trial_rng(self, number: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, number, 1])

    # ---------------------------------------------------------------- choosing values (subclasses)
    def _sample(self, rng, previous):
        """Values of the active known hyperparameters for a fresh point; None when none is left."""
        return self._random_values(rng)

    def _sample_new_entry(self, hp, rng):
        """The value of a hyperparameter first declared while resolving a trial."""
        return hp.random_sample(rng)

    def _plan(self, number: int) -> dict:
        """What trial ``number`` should be: ``{'status': RUNNING, 'values': dict or None}``.

        ``values`` None asks for a fresh point (:meth:`_sample`, deduplicated); a dict is
        used as is. IDLE means: wait for running trials; STOPPED: the search is over.
        """
        return {"status": TrialStatus.RUNNING, "values": None}

    def _on_trial_created(self, trial, plan) -> None:
        """Bookkeeping of a subclass once ``trial`` exists (Hyperband files it in its round)."""

    def is_tuned(self, hp) -> bool:
        """Whether the search chooses ``hp`` (else it keeps its value: Fixed, or not tuned as a new entry)."""
        if isinstance(hp, Fixed):
            return False
        return self.tune_new_entries or hp.name in self._preset_names

    @staticmethod
    def untuned_value(hp):
        return hp.value if isinstance(hp, Fixed) else hp.default

    def _random_values(self, rng) -> dict:
        """A uniform draw of every active tuned hyperparameter, parents before children."""
        values = {}
        for hp in self.hyperparameters.space:
            if hp.is_active(values):
                values[hp.name] = hp.random_sample(rng) if self.is_tuned(hp) else self.untuned_value(hp)
        return values

    # ---------------------------------------------------------------- creating trials
    def ongoing_trials(self) -> list:
        return [t for t in self.trials.values() if t.status == TrialStatus.RUNNING]

    def create_trial(self, build):
        """The next trial (status RUNNING), or a Trial-less status: ``'IDLE'`` or ``'STOPPED'``.

        ``build(hp)`` runs the model-building function on a trial's values and returns the
        model; its declarations extend the search space.
        """
        if self._requeued:
            trial = self._requeued.pop(0)
            try:
                build(trial.hyperparameters.copy())
            except Exception as err:
                return self._fail(trial, err)
            return trial
        number = len(self.trials)
        if self.max_trials is not None and number >= self.max_trials:
            return TrialStatus.STOPPED
        plan = self._plan(number)
        if plan["status"] != TrialStatus.RUNNING:
            return plan["status"]
        rng = self._trial_rng(number)
        if plan["values"] is not None:
            hp = self._resolve(plan["values"], rng, build)
        else:
            hp, previous = None, None
            for _ in range(self._max_collisions):
                values = self._sample(rng, previous)
                if values is None:
                    break
                values.update(plan.get("extra", {}))
                candidate = self._resolve(values, rng, build)
                key = self._key(candidate.values)
                if key not in self._tried_so_far:
                    self._tried_so_far.add(key)
                    hp = candidate
                    break
                previous = candidate.values
            if hp is None:  # the space is exhausted
                return TrialStatus.STOPPED
        trial = Trial(hp, self._trial_id(number), TrialStatus.RUNNING, seed=self.trial_seed(number))
        self.trials[trial.trial_id] = trial
        self._on_trial_created(trial, plan)
        if hp.build_error is not None:
            return self._fail(trial, hp.build_error)
        self._save_trial(trial)
        self.save()
        return trial

    def _fail(self, trial, error):
        """Record ``trial`` as failed because building its model raised ``error``."""
        trial.status = TrialStatus.FAILED
        trial.message = f"{type(error).__name__}: {error}"
        self._retries[trial.trial_id] = self.max_retries_per_trial  # rebuilding would fail the same way
        self.end_trial(trial)
        return trial

    def _resolve(self, values, rng, build) -> HyperParameters:
        """``values`` completed by running ``build``; new declarations join the search space.

        An exception from ``build`` is kept in ``hp.build_error``: the trial is then recorded as failed.
        """
        hp = self.hyperparameters.copy()
        hp.values = dict(values)
        hp._sampler = lambda new: self._new_entry(new, rng)
        hp.build_error = None
        try:
            build(hp)
        except Exception as err:
            if isinstance(err, SearchSpaceError):
                raise
            hp.build_error = err
        hp._sampler = None
        for item in hp.space:
            if item.name not in self.hyperparameters._space:
                self.hyperparameters._space[item.name] = item
        # keep the active values only (a value drawn for a scope that closed is noise)
        active = {k: v for k, v in hp.values.items()
                  if k.startswith(TUNER_PREFIX) or k not in hp._space or hp._space[k].is_active(hp.values)}
        hp.values = active
        return hp

    def _new_entry(self, hp, rng):
        if hp.name not in self._preset_names:
            if not self.allow_new_entries:
                raise SearchSpaceError(
                    f"the model declares hyperparameter {hp.name!r}, which is not in the given "
                    "hyperparameters; pass allow_new_entries=True or declare it in hyperparameters=."
                )
            if not self.tune_new_entries:
                return hp.default
        return self._sample_new_entry(hp, rng)

    @staticmethod
    def _key(values) -> str:
        return json.dumps(sorted((k, v) for k, v in values.items() if not k.startswith(TUNER_PREFIX)),
                          default=str)

    # ---------------------------------------------------------------- recording results
    def end_trial(self, trial) -> None:
        """Record a finished trial (COMPLETED or FAILED) and persist it.

        A failed trial is run again up to ``max_retries_per_trial`` times; more than
        ``max_consecutive_failed_trials`` failures in a row stop the search with the last error.
        """
        if trial.status == TrialStatus.FAILED:
            retries = self._retries.get(trial.trial_id, 0)
            if retries < self.max_retries_per_trial:
                self._retries[trial.trial_id] = retries + 1
                trial.status = TrialStatus.RUNNING
                self._requeued.append(trial)
                return
            self._consecutive_failures += 1
        else:
            self._consecutive_failures = 0
        self._save_trial(trial)
        self.save()
        limit = self.max_consecutive_failed_trials
        if trial.status == TrialStatus.FAILED and limit is not None and self._consecutive_failures >= limit:
            raise RuntimeError(
                f"{self._consecutive_failures} trials in a row failed; the last one ({trial.trial_id}) with: "
                f"{trial.message}"
            )

    def get_best_trials(self, num_trials=1) -> list:
        """The best completed trials, best first (ties: the earlier trial first)."""
        done = [t for t in self.trials.values() if t.status == TrialStatus.COMPLETED and t.score is not None]
        sign = -1.0 if self.objective.direction == "max" else 1.0
        done.sort(key=lambda t: (sign * t.score, t.number))
        return done[:num_trials]

    def get_trial(self, trial_id) -> Trial:
        return self.trials[trial_id]

    # ---------------------------------------------------------------- persistence
    def get_state(self) -> dict:
        """Everything needed to resume: settings, the search space, the trial ids and subclass state."""
        space = self.hyperparameters.get_config()
        space["values"] = {}
        return {"oracle": type(self).__name__, "objective": self.objective.get_config(),
                "max_trials": self.max_trials, "seed": self.seed, "hyperparameters": space,
                "trial_ids": list(self.trials), "consecutive_failures": self._consecutive_failures}

    def set_state(self, state) -> None:
        if state.get("oracle") != type(self).__name__:
            raise ValueError(
                f"the project directory holds a {state.get('oracle')} search, not {type(self).__name__}; "
                "pass overwrite=True or another project_name."
            )
        self.seed = int(state["seed"])
        saved = HyperParameters.from_config(state["hyperparameters"])
        self.hyperparameters.merge(saved)
        self._consecutive_failures = state.get("consecutive_failures", 0)

    def _set_project_dir(self, project_dir, overwrite=False) -> None:
        """Keep state in ``project_dir``; resume from it unless ``overwrite``."""
        self._project_dir = project_dir
        path = os.path.join(project_dir, "oracle.json")
        if overwrite or not os.path.exists(path):
            return
        state = read_json(path, ORACLE_STATE)
        try:
            self.set_state(state)
        except ModelFileError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as err:
            raise ModelFileError(f"{path}: {err}") from None
        for trial_id in state["trial_ids"]:
            trial_file = os.path.join(trial_dir(project_dir, trial_id), "trial.json")
            trial = Trial.load(trial_file)
            if trial.trial_id != trial_id:
                raise ModelFileError(f"{trial_file} holds trial {trial.trial_id!r}, not {trial_id!r}.")
            self.trials[trial_id] = trial
            self._tried_so_far.add(self._key(trial.hyperparameters.values))
            if trial.status == TrialStatus.RUNNING:  # interrupted: run it again, same values and seed
                self._requeued.append(trial)

    def _save_trial(self, trial) -> None:
        if self._project_dir is not None:
            trial.save(os.path.join(trial_dir(self._project_dir, trial.trial_id), "trial.json"))

    def save(self) -> None:
        if self._project_dir is not None:
            write_json(os.path.join(self._project_dir, "oracle.json"), self.get_state())


class RandomSearchOracle(Oracle):
    """Independent uniform draws (on each hyperparameter's linear or log scale)."""


class GridSearchOracle(Oracle):
    """Every combination of values in order, the last-declared hyperparameter changing fastest.

    Continuous Float ranges contribute ten values (bucket centres). Hyperparameters that
    appear while resolving a trial start at their first value.
    """

    _max_collisions = 100_000  # repeats are skipped, not redrawn at random

    def _sample(self, rng, previous):
        if previous is None:
            drawn = [t.hyperparameters.values for t in self.trials.values() if t.status != TrialStatus.INVALID]
            previous = drawn[-1] if drawn else None
        if previous is None:
            return self._first_values({})
        return self._increment(previous)

    def _sample_new_entry(self, hp, rng):
        return hp.values[0]

    def _first_values(self, values):
        for hp in self.hyperparameters.space:
            if hp.is_active(values) and hp.name not in values:
                values[hp.name] = hp.values[0] if self.is_tuned(hp) else self.untuned_value(hp)
        return values

    def _increment(self, previous):
        """The next combination after ``previous`` (odometer order), None after the last one."""
        values = {k: v for k, v in previous.items() if not k.startswith(TUNER_PREFIX)}
        active = [hp for hp in self.hyperparameters.space if hp.is_active(values) and self.is_tuned(hp)]
        for hp in reversed(active):
            options = hp.values
            position = options.index(values[hp.name]) + 1 if values.get(hp.name) in options else 0
            if position < len(options):
                values[hp.name] = options[position]
                return self._first_values(self._drop_inactive(values))
            values[hp.name] = options[0]
        return None

    def _drop_inactive(self, values):
        kept = {}
        for hp in self.hyperparameters.space:
            if hp.name in values and hp.is_active(kept):
                kept[hp.name] = values[hp.name]
        return kept


__all__ = ["Oracle", "RandomSearchOracle", "GridSearchOracle", "TUNER_PREFIX"]
