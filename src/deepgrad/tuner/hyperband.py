"""Hyperband (Li et al. 2018): many models trained briefly, the best ones trained longer.

A bracket ``b`` (from ``s_max = number of brackets - 1`` down to 0) runs ``b + 1`` rounds of
successive halving. With ``E = max_epochs`` and factor ``f``, round ``r`` trains

    n(b, r) = ceil(ceil(1 + log_f E) / (b + 1) * f^(b - r))  models for
    e(b, r) = ceil(E / f^(b - r))                             epochs,

the first round on fresh random values, every later one continuing the best
``n(b, r)`` models of the round before (their best weights are loaded and training
resumes at epoch ``e(b, r - 1)``). The brackets together are one Hyperband iteration;
``hyperband_iterations`` repeats them.

A round starts only when the round before has finished, and brackets run one after
another, so the trials (and their ids) do not depend on which worker finishes first: a
parallel search gives the same results as a sequential one, at the cost of idle
workers while the last trials of a round finish.
"""

from __future__ import annotations

import math

from .oracle import TUNER_PREFIX, Oracle
from .trial import TrialStatus


class HyperbandOracle(Oracle):
    """Chooses Hyperband's trials; values ``tuner/epochs`` and ``tuner/initial_epoch`` drive training."""

    def __init__(self, objective=None, max_epochs=100, factor=3, hyperband_iterations=1, seed=None, **kwargs):
        kwargs.pop("max_trials", None)
        super().__init__(objective=objective, max_trials=None, seed=seed, **kwargs)
        if not isinstance(max_epochs, int) or max_epochs < 1:
            raise ValueError(f"max_epochs must be a positive integer, got {max_epochs!r}.")
        if not isinstance(factor, int) or factor < 2:
            raise ValueError(f"factor must be an integer of at least 2, got {factor!r}.")
        if not isinstance(hyperband_iterations, int) or hyperband_iterations < 1:
            raise ValueError(f"hyperband_iterations must be a positive integer, got {hyperband_iterations!r}.")
        self.max_epochs = max_epochs
        self.factor = factor
        self.hyperband_iterations = hyperband_iterations
        self._brackets = []  # {"bracket_num": b, "rounds": [[{"id": ..., "past_id": ...}, ...], ...]}
        self._current_bracket = None
        self._current_iteration = 0

    # ---------------------------------------------------------------- the schedule
    def num_brackets(self) -> int:
        """1 + floor(log_f E): how many times E can be divided by f before falling below one epoch."""
        epochs, brackets = float(self.max_epochs), 0
        while epochs >= 1:
            epochs /= self.factor
            brackets += 1
        return brackets

    def round_size(self, bracket_num, round_num) -> int:
        end_size = math.ceil(1 + math.log(self.max_epochs, self.factor)) / (bracket_num + 1)
        return math.ceil(end_size * self.factor ** (bracket_num - round_num))

    def round_epochs(self, bracket_num, round_num) -> int:
        return math.ceil(self.max_epochs / self.factor ** (bracket_num - round_num))

    # ---------------------------------------------------------------- planning trials
    def _plan(self, number):
        while True:
            if not self._brackets:
                if self._current_bracket == 0 and self._current_iteration + 1 >= self.hyperband_iterations:
                    return {"status": TrialStatus.STOPPED}
                self._start_bracket()
            bracket = self._brackets[0]
            plan = self._plan_in(bracket)
            if plan is not None:
                return plan
            self._brackets.pop(0)  # every round of the bracket is done

    def _start_bracket(self):
        if self._current_bracket is None:
            self._current_bracket = self.num_brackets() - 1
        elif self._current_bracket == 0:
            self._current_bracket = self.num_brackets() - 1
            self._current_iteration += 1
        else:
            self._current_bracket -= 1
        b = self._current_bracket
        self._brackets.append({"bracket_num": b, "rounds": [[] for _ in range(b + 1)]})

    def _plan_in(self, bracket):
        """The next trial of ``bracket``; IDLE while a round must finish first; None once it is done."""
        b, rounds = bracket["bracket_num"], bracket["rounds"]
        extra = {f"{TUNER_PREFIX}bracket": b}
        if len(rounds[0]) < self.round_size(b, 0):
            extra.update({f"{TUNER_PREFIX}epochs": self.round_epochs(b, 0),
                          f"{TUNER_PREFIX}initial_epoch": 0, f"{TUNER_PREFIX}round": 0})
            return {"status": TrialStatus.RUNNING, "values": None, "extra": extra, "slot": (b, 0, None)}
        for r in range(1, len(rounds)):
            past = [self.trials[info["id"]] for info in rounds[r - 1]]
            if any(t.status == TrialStatus.RUNNING for t in past):
                return {"status": TrialStatus.IDLE}
            if len(rounds[r]) >= self.round_size(b, r):
                continue
            chosen = {info["past_id"] for info in rounds[r]}
            candidates = [t for t in past if t.status == TrialStatus.COMPLETED and t.score is not None
                          and t.trial_id not in chosen]
            if not candidates:  # everything left in the round before failed
                continue
            sign = -1.0 if self.objective.direction == "max" else 1.0
            best = min(candidates, key=lambda t: (sign * t.score, t.number))
            values = {k: v for k, v in best.hyperparameters.values.items() if not k.startswith(TUNER_PREFIX)}
            values.update(extra)
            values.update({f"{TUNER_PREFIX}epochs": self.round_epochs(b, r),
                           f"{TUNER_PREFIX}initial_epoch": self.round_epochs(b, r - 1),
                           f"{TUNER_PREFIX}round": r, f"{TUNER_PREFIX}trial_id": best.trial_id})
            return {"status": TrialStatus.RUNNING, "values": values, "slot": (b, r, best.trial_id)}
        if any(self.trials[info["id"]].status == TrialStatus.RUNNING for info in rounds[-1]):
            return {"status": TrialStatus.IDLE}
        return None

    def _on_trial_created(self, trial, plan):
        b, r, past_id = plan["slot"]
        self._brackets[0]["rounds"][r].append({"id": trial.trial_id, "past_id": past_id})

    # ---------------------------------------------------------------- persistence
    def get_state(self):
        return {**super().get_state(), "brackets": self._brackets, "current_bracket": self._current_bracket,
                "current_iteration": self._current_iteration}

    def set_state(self, state):
        super().set_state(state)
        self._brackets = state.get("brackets", [])
        self._current_bracket = state.get("current_bracket")
        self._current_iteration = state.get("current_iteration", 0)


__all__ = ["HyperbandOracle"]
