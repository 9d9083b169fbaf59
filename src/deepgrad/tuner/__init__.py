"""Hyperparameter tuning with KerasTuner's API: search spaces, oracles and tuners.

>>> from deepgrad.tuner import RandomSearch
>>> # tuner = RandomSearch(build_model, objective="val_accuracy", max_trials=10, seed=0)
>>> # tuner.search(x, y, epochs=10, validation_split=0.2)
>>> # best = tuner.get_best_models(num_models=1)[0]

``build_model(hp)`` declares its hyperparameters with ``hp.Int``, ``hp.Float``,
``hp.Choice``, ``hp.Boolean`` and ``hp.Fixed`` (see :mod:`.hyperparameters`). Tuners:
:class:`RandomSearch`, :class:`GridSearch`, :class:`Hyperband` and
:class:`BayesianOptimization` (see :mod:`.tuner` for files, resuming, and running trials
in parallel processes or on a Dask cluster). Choose a learning-rate range with
``deepgrad.optimizers.find_learning_rate`` before tuning the learning rate.
"""

from .bayesian import BayesianOptimizationOracle, GaussianProcess
from .execution import MissingObjectiveError, TrialDivergedError, run_trial
from .hyperband import HyperbandOracle
from .hypermodel import HyperModel
from .hyperparameters import Boolean, Choice, Fixed, Float, HyperParameter, HyperParameters, Int
from .oracle import GridSearchOracle, Oracle, RandomSearchOracle
from .trial import Objective, Trial, TrialStatus
from .tuner import BayesianOptimization, GridSearch, Hyperband, RandomSearch, Tuner

__all__ = [
    "HyperParameters", "HyperParameter", "Int", "Float", "Choice", "Boolean", "Fixed",
    "HyperModel", "Objective", "Trial", "TrialStatus",
    "Oracle", "RandomSearchOracle", "GridSearchOracle", "HyperbandOracle", "BayesianOptimizationOracle",
    "GaussianProcess", "Tuner", "RandomSearch", "GridSearch", "Hyperband", "BayesianOptimization",
    "run_trial", "MissingObjectiveError", "TrialDivergedError",
]
