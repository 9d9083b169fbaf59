"""deepgrad.tuner: search spaces, oracles, tuners, persistence, and parallel/distributed trials."""

import concurrent.futures
import json
import math
import os

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import backend, optimizers
from deepgrad.callbacks import Callback
from deepgrad.fileio import ModelFileError
from deepgrad.layers import Dense, Dropout
from deepgrad.models import Sequential
from deepgrad.tuner import (
    BayesianOptimization,
    GaussianProcess,
    GridSearch,
    Hyperband,
    HyperbandOracle,
    HyperModel,
    HyperParameters,
    Objective,
    RandomSearch,
    TrialStatus,
)
from deepgrad.tuner.bayesian import expected_improvement, normal_cdf
from deepgrad.tuner.trial import get_objective


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float32)
    return x, y


# the course's KERAS TUNER build_model, verbatim but for the imports (and `return` indented into the function)
def build_model(hp):
    model = Sequential()

    # Input layer + First hidden layer: Tune the number of neurons
    model.add(Dense(units=hp.Int('input_units', min_value=8, max_value=128, step=8),
                    activation='relu', input_dim=8))

    # Add a tunable dropout layer after the first hidden layer
    model.add(Dropout(hp.Choice('dropout_input', values=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])))

    # Add a tunable number of hidden layers between 0 and 10
    for i in range(hp.Int('num_layers', min_value=0, max_value=10)):
        # Tune the number of neurons in each hidden layer
        model.add(Dense(units=hp.Int(f'layer_{i}_units', min_value=8, max_value=128, step=8),
                        activation='relu'))
        # Add a tunable dropout layer after each hidden layer
        model.add(Dropout(hp.Choice('dropout' + str(i), values=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])))

    # Output layer
    model.add(Dense(1, activation='sigmoid'))

    # Tune the optimizer
    optimizer = hp.Choice('optimizer', values=['adam', 'sgd', 'rmsprop', 'adadelta'])

    model.compile(
        optimizer=optimizer,
        loss='binary_crossentropy',
        metrics=['accuracy']
    )

    return model


def small_model(hp):
    """A small space for the parallel and resume tests (top level: picklable)."""
    model = Sequential([Dense(hp.Int("units", 4, 32, step=4), activation="relu", input_dim=8),
                        Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizers.Adam(hp.Float("learning_rate", 1e-3, 1e-1, sampling="log")),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model


def _outcomes(tuner):
    return [(t.trial_id, t.status, t.hyperparameters.values, t.score) for t in tuner.oracle.trials.values()]


# --------------------------------------------------------------------------- hyperparameters


def test_hyperparameters_declare_return_values_and_defaults():
    hp = HyperParameters()
    assert hp.Int("units", 8, 128, step=8) == 8
    assert hp.Float("rate", 0.1, 0.5, default=0.25) == 0.25
    assert hp.Choice("act", ["relu", "tanh"]) == "relu"
    assert hp.Boolean("bn") is False
    assert hp.Fixed("k", 3) == 3
    assert hp.values == {"units": 8, "rate": 0.25, "act": "relu", "bn": False, "k": 3}
    hp.values["units"] = 64
    assert hp.Int("units", 8, 128, step=8) == 64 and hp.get("units") == 64 and hp["act"] == "relu"
    assert [p.name for p in hp.space] == ["units", "rate", "act", "bn", "k"]
    with pytest.raises(KeyError, match="no hyperparameter named 'nope'"):
        hp.get("nope")


def test_value_grids_and_unit_interval_mapping():
    hp = HyperParameters()
    hp.Int("units", 8, 32, step=8)
    hp.Int("width", 1, 16, step=2, sampling="log")
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    units, width, lr = hp.space
    assert units.values == [8, 16, 24, 32]
    assert width.values == [1, 2, 4, 8, 16]  # with log sampling the step is a factor
    assert units.prob_to_value(0.0) == 8 and units.prob_to_value(0.99) == 32 and units.prob_to_value(0.3) == 16
    assert units.value_to_prob(24) == pytest.approx(2.5 / 4)
    # log scale: p = log(v / min) / log(max / min), so 1e-2.5 sits at the middle
    assert lr.prob_to_value(0.5) == pytest.approx(10 ** -2.5)
    assert lr.value_to_prob(1e-3) == pytest.approx(1 / 3)
    draws = [lr.random_sample(np.random.default_rng(s)) for s in range(400)]
    assert np.mean(np.log10(draws) < -2.5) == pytest.approx(0.5, abs=0.08)  # uniform in log10
    assert len(lr.values) == 10 and all(1e-4 <= v <= 1e-1 for v in lr.values)


def test_conditional_scopes_activate_with_the_parent_value():
    hp = HyperParameters()
    kind = hp.Choice("kind", ["mlp", "linear"])
    with hp.conditional_scope("kind", ["mlp"]):
        units = hp.Int("units", 4, 8)
    assert kind == "mlp" and units == 4
    other = HyperParameters()
    other.values["kind"] = "linear"
    other.Choice("kind", ["mlp", "linear"])
    with other.conditional_scope("kind", "mlp"):
        assert other.Int("units", 4, 8) is None
    assert "units" not in other.values
    with pytest.raises(ValueError, match="inactive"):
        other.get("units")
    with pytest.raises(ValueError, match="not declared yet"):
        with other.conditional_scope("missing", [1]):
            pass


def test_hyperparameter_errors_name_the_problem():
    hp = HyperParameters()
    with pytest.raises(ValueError, match="unknown sampling 'cubic'.*'linear', 'log'"):
        hp.Float("x", 0.0, 1.0, sampling="cubic")
    with pytest.raises(ValueError, match="min_value > 0"):
        hp.Float("x", 0.0, 1.0, sampling="log")
    with pytest.raises(ValueError, match="must be an integer.*hp.Float"):
        hp.Int("x", 0.5, 3)
    with pytest.raises(TypeError, match="must all be ints, all floats, all strings"):
        hp.Choice("x", [1, "a"])
    with pytest.raises(ValueError, match="larger than max_value"):
        hp.Int("x", 5, 1)


def test_search_space_round_trips_through_json():
    hp = HyperParameters()
    hp.Int("units", 8, 64, step=8, default=16)
    hp.Choice("act", ["relu", "tanh"])
    with hp.conditional_scope("act", ["tanh"]):
        hp.Float("scale", 0.5, 2.0, sampling="log")
    hp.Boolean("bn", default=True)
    hp.Fixed("k", 2)
    restored = HyperParameters.from_config(json.loads(json.dumps(hp.get_config())))
    assert [p.get_config() for p in restored.space] == [p.get_config() for p in hp.space]
    assert restored.values == hp.values


def test_objective_direction_is_inferred_from_the_metric_name():
    assert get_objective("val_accuracy").direction == "max"
    assert get_objective("auc").direction == "max"
    assert get_objective("val_loss").direction == "min"
    assert get_objective("mean_absolute_error").direction == "min"
    assert get_objective(None) == Objective("val_loss", "min")
    with pytest.raises(ValueError, match="Objective\\('score_x', direction='min'\\)"):
        get_objective("score_x")


# --------------------------------------------------------------------------- searching


def test_course_build_model_runs_in_a_random_search(tmp_path):
    x, y = _data()
    tuner = RandomSearch(build_model, objective="val_accuracy", max_trials=3, seed=7,
                         directory=tmp_path, project_name="course")
    tuner.search(x, y, epochs=2, validation_split=0.25, verbose=0)
    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 3 and all(t.status == TrialStatus.COMPLETED for t in trials)
    assert {"input_units", "dropout_input", "num_layers", "optimizer"} <= set(trials[0].hyperparameters.values)
    best = tuner.get_best_hyperparameters(1)[0]
    assert best.values["optimizer"] in ("adam", "sgd", "rmsprop", "adadelta")
    assert tuner.oracle.get_best_trials(1)[0].score == max(t.score for t in trials)
    # the best model comes back with the weights of its best epoch: it scores exactly that
    model = tuner.get_best_models(1)[0]
    _, accuracy = model.evaluate(x[72:], y[72:], verbose=0)
    assert accuracy == pytest.approx(tuner.oracle.get_best_trials(1)[0].score)


_HISTORIES = {}


class RecordingModel(HyperModel):
    """Trains normally and keeps each trial's History, to check how scores are taken."""

    def build(self, hp):
        return small_model(hp)

    def fit(self, hp, model, *args, **kwargs):
        history = model.fit(*args, **kwargs)
        _HISTORIES[json.dumps(hp.values, sort_keys=True)] = history.history
        return history


def test_score_is_the_best_epoch_of_the_objective(tmp_path):
    x, y = _data()
    _HISTORIES.clear()
    tuner = RandomSearch(RecordingModel(), objective="val_loss", max_trials=2, seed=1, directory=tmp_path)
    tuner.search(x, y, epochs=4, validation_data=(x[:32], y[:32]), verbose=0)
    for trial in tuner.oracle.trials.values():
        history = _HISTORIES[json.dumps(trial.hyperparameters.values, sort_keys=True)]
        best = int(np.argmin(history["val_loss"]))
        assert trial.score == pytest.approx(history["val_loss"][best])
        assert trial.best_step == best
        assert trial.metrics.get_best_value("accuracy") == pytest.approx(history["accuracy"][best])


class Interrupt(Callback):
    """Stops the whole search (like Ctrl-C) when the given number of trainings has started."""

    started = 0
    stop_at = None

    def on_train_begin(self, logs=None):
        Interrupt.started += 1
        if Interrupt.started == Interrupt.stop_at:
            raise KeyboardInterrupt


def test_interrupted_search_resumes_without_repeating_finished_trials(tmp_path):
    x, y = _data()
    settings = dict(objective="val_accuracy", max_trials=5, seed=11)
    fit = dict(epochs=2, validation_split=0.25, verbose=0, callbacks=[Interrupt()])

    Interrupt.started, Interrupt.stop_at = 0, None
    reference = RandomSearch(small_model, directory=tmp_path, project_name="reference", **settings)
    reference.search(x, y, **fit)

    Interrupt.started, Interrupt.stop_at = 0, 3  # two trials finish, the third is interrupted
    first = RandomSearch(small_model, directory=tmp_path, project_name="resumed", **settings)
    with pytest.raises(KeyboardInterrupt):
        first.search(x, y, **fit)
    state = json.loads((tmp_path / "resumed" / "oracle.json").read_text())
    assert len(state["trial_ids"]) == 3
    assert json.loads((tmp_path / "resumed" / "trial_2" / "trial.json").read_text())["status"] == "RUNNING"

    Interrupt.started, Interrupt.stop_at = 0, None
    resumed = RandomSearch(small_model, directory=tmp_path, project_name="resumed", overwrite=False, **settings)
    assert [t.status for t in resumed.oracle.trials.values()] == ["COMPLETED", "COMPLETED", "RUNNING"]
    resumed.search(x, y, **fit)
    assert Interrupt.started == 3  # the interrupted trial and the two never started
    assert _outcomes(resumed) == _outcomes(reference)
    assert os.path.exists(resumed.get_trial_dir("4") + "/checkpoint.weights.zip")

    again = RandomSearch(small_model, directory=tmp_path, project_name="resumed", overwrite=True, **settings)
    assert again.oracle.trials == {}


class FragileHyperModel(HyperModel):
    """Fails for some values: while building, by diverging, or in training code."""

    def build(self, hp):
        mode = hp.Choice("mode", ["ok", "build_raise", "diverge", "fit_raise", "ok_again"])
        if mode == "build_raise":
            raise ValueError("this architecture is impossible")
        model = Sequential([Dense(4, activation="relu", input_dim=8), Dense(1)])
        model.compile(optimizer=optimizers.SGD(learning_rate=1e8 if mode == "diverge" else 0.01), loss="mse")
        return model

    def fit(self, hp, model, *args, **kwargs):
        if hp.get("mode") == "fit_raise":
            raise ValueError("data-dependent failure")
        return model.fit(*args, **kwargs)


def test_failed_and_diverging_trials_are_recorded_and_the_search_goes_on(tmp_path):
    x, y = _data()
    tuner = GridSearch(FragileHyperModel(), objective="loss", directory=tmp_path, project_name="f",
                       max_consecutive_failed_trials=None)
    with np.errstate(all="ignore"):
        tuner.search(x, y, epochs=3, batch_size=16, verbose=0)
    trials = list(tuner.oracle.trials.values())
    assert [t.hyperparameters.values["mode"] for t in trials] == ["ok", "build_raise", "diverge", "fit_raise",
                                                                    "ok_again"]
    assert [t.status for t in trials] == ["COMPLETED", "FAILED", "FAILED", "FAILED", "COMPLETED"]
    assert trials[1].message == "ValueError: this architecture is impossible"
    assert "loss became NaN at epoch 1" in trials[2].message and trials[2].score is None
    assert trials[3].message == "ValueError: data-dependent failure"
    saved = json.loads((tmp_path / "f" / "trial_0002" / "trial.json").read_text())
    assert saved["status"] == "FAILED" and "NaN" in saved["message"]
    assert {t.trial_id for t in tuner.oracle.get_best_trials(5)} == {"0000", "0004"}


class SeedEcho(HyperModel):
    """No training: the objective is the first number deepgrad's generator draws after the trial's seeding."""

    def build(self, hp):
        hp.Int("unused", 0, 3)
        return Sequential([Dense(1, input_dim=1)])

    def fit(self, hp, model, *args, **kwargs):
        return float(backend.global_generator().random())


def test_each_execution_is_seeded_from_the_trial_and_scores_are_averaged(tmp_path):
    tuner = RandomSearch(SeedEcho(), objective=Objective("loss", "min"), max_trials=3, seed=4,
                         executions_per_trial=2, directory=tmp_path)
    tuner.search(verbose=0)
    seeds = set()
    for trial in tuner.oracle.trials.values():
        draws = []
        for execution in range(2):
            dg.manual_seed(trial.seed + execution)
            draws.append(float(backend.global_generator().random()))
        assert trial.score == pytest.approx(np.mean(draws))
        seeds.add(trial.seed)
    assert len(seeds) == 3


class FailsOnce(FragileHyperModel):
    calls = 0

    def fit(self, hp, model, *args, **kwargs):
        FailsOnce.calls += 1
        if FailsOnce.calls == 1:
            raise ValueError("transient")
        return model.fit(*args, **kwargs)


def test_a_failed_trial_is_retried_when_asked(tmp_path):
    x, y = _data()
    FailsOnce.calls = 0
    preset = HyperParameters()
    preset.Fixed("mode", "ok")
    tuner = RandomSearch(FailsOnce(), objective="loss", max_trials=1, seed=0, directory=tmp_path,
                         hyperparameters=preset, max_retries_per_trial=1)
    tuner.search(x, y, epochs=1, verbose=0)
    trial = tuner.oracle.trials["0"]
    assert FailsOnce.calls == 2 and trial.status == TrialStatus.COMPLETED


def test_given_hyperparameters_override_the_model_and_limit_new_entries(tmp_path):
    x, y = _data()
    preset = HyperParameters()
    preset.Fixed("units", 12)
    tuner = RandomSearch(small_model, objective="loss", max_trials=2, seed=0, directory=tmp_path, project_name="a",
                         hyperparameters=preset, tune_new_entries=False)
    tuner.search(x, y, epochs=1, verbose=0)
    assert [t.hyperparameters.values for t in tuner.oracle.trials.values()] == [
        {"units": 12, "learning_rate": 1e-3}]  # the second draw repeats the first: the space is exhausted
    strict = RandomSearch(small_model, objective="loss", max_trials=2, seed=0, directory=tmp_path, project_name="b",
                          hyperparameters=preset, allow_new_entries=False)
    with pytest.raises(ValueError, match="'learning_rate', which is not in the given hyperparameters"):
        strict.search(x, y, epochs=1, verbose=0)


def test_too_many_failures_in_a_row_stop_the_search(tmp_path):
    class AlwaysFails(FragileHyperModel):
        def fit(self, hp, model, *args, **kwargs):
            raise RuntimeError("broken training code")

    x, y = _data()
    tuner = RandomSearch(AlwaysFails(), objective="loss", max_trials=10, seed=0, directory=tmp_path)
    with pytest.raises(RuntimeError, match="3 trials in a row failed.*broken training code"):
        tuner.search(x, y, epochs=1, verbose=0)
    assert len(tuner.oracle.trials) == 3


def test_an_objective_that_fit_never_logs_is_a_clear_error(tmp_path):
    x, y = _data()
    tuner = RandomSearch(small_model, objective="val_accuracy", max_trials=2, seed=0, directory=tmp_path)
    with pytest.raises(ValueError, match="'val_accuracy' is not among the values fit logs.*validation_split"):
        tuner.search(x, y, epochs=1, verbose=0)


def grid_model(hp):
    model = Sequential([Dense(hp.Choice("units", [2, 4]), activation="relu", input_dim=8),
                        Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam" if hp.Boolean("adam") else "sgd", loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def test_grid_search_visits_every_combination_once_in_order(tmp_path, capsys):
    x, y = _data()
    tuner = GridSearch(grid_model, objective="accuracy", directory=tmp_path)
    tuner.search_space_summary()
    assert "Default search space size: 2" in capsys.readouterr().out
    tuner.search(x, y, epochs=1, verbose=0)
    capsys.readouterr()
    assert [t.hyperparameters.values for t in tuner.oracle.trials.values()] == [
        {"units": 2, "adam": False}, {"units": 2, "adam": True}, {"units": 4, "adam": False},
        {"units": 4, "adam": True}]
    tuner.results_summary(num_trials=2)
    out = capsys.readouterr().out
    assert "Showing 2 best trials" in out and out.count("Score:") == 2


def test_hyperband_schedule_follows_the_formulas():
    oracle = HyperbandOracle(objective="val_loss", max_epochs=9, factor=3)
    assert oracle.num_brackets() == 3
    # bracket 2: 9 models for 1 epoch, the best 3 for 3 epochs, the best one for 9
    assert [oracle.round_size(2, r) for r in range(3)] == [9, 3, 1]
    assert [oracle.round_epochs(2, r) for r in range(3)] == [1, 3, 9]
    assert [oracle.round_size(1, r) for r in range(2)] == [5, 2]
    assert oracle.round_size(0, 0) == 3 and oracle.round_epochs(0, 0) == 9


def test_hyperband_promotes_the_best_trials_and_continues_their_training(tmp_path):
    x, y = _data()
    tuner = Hyperband(small_model, objective="val_loss", max_epochs=3, factor=3, seed=5, directory=tmp_path)
    tuner.search(x, y, validation_split=0.25, verbose=0)
    trials = list(tuner.oracle.trials.values())
    # bracket 1: three 1-epoch trials, the best continued to epoch 3; bracket 0: two 3-epoch trials
    assert len(trials) == 6
    first_round, promoted = trials[:3], trials[3]
    parent = min(first_round, key=lambda t: t.score)
    values = promoted.hyperparameters.values
    assert values["tuner/trial_id"] == parent.trial_id
    assert (values["tuner/initial_epoch"], values["tuner/epochs"]) == (1, 3)
    assert promoted.best_step in (1, 2)  # epochs count on from the parent's
    assert {k: v for k, v in values.items() if not k.startswith("tuner/")} == {
        k: v for k, v in parent.hyperparameters.values.items() if not k.startswith("tuner/")}
    assert [t.hyperparameters.values["tuner/epochs"] for t in trials[4:]] == [3, 3]


# --------------------------------------------------------------------------- Bayesian optimization


def test_gaussian_process_interpolates_and_expected_improvement_matches_its_formula():
    rng = np.random.default_rng(0)
    x = rng.random((12, 2))
    y = np.sin(6 * x[:, 0]) + x[:, 1]
    process = GaussianProcess(alpha=1e-8).fit(x, y)
    mean, std = process.predict(x)
    np.testing.assert_allclose(mean, y, atol=1e-4)
    assert np.all(std < 1e-2)
    far_mean, far_std = process.predict(np.array([[5.0, 5.0]]))
    assert far_std[0] > 0.5 * y.std()  # far from the data the model is unsure
    z = np.linspace(-4, 4, 17)
    np.testing.assert_allclose(normal_cdf(z), [0.5 * (1 + math.erf(v / math.sqrt(2))) for v in z], atol=2e-7)
    mu, sigma, best = 0.3, 0.2, 0.5
    u = (best - mu - 0.01) / sigma
    expected = (best - mu - 0.01) * 0.5 * (1 + math.erf(u / math.sqrt(2))) + sigma * math.exp(-u * u / 2) / math.sqrt(
        2 * math.pi)
    assert expected_improvement(np.array([mu]), np.array([sigma]), best)[0] == pytest.approx(expected, rel=1e-6)


class Quadratic(HyperModel):
    """No training: the objective is a known function of the hyperparameters (minimum at x=0.3, y=-0.6)."""

    def build(self, hp):
        hp.Float("x", -1.0, 1.0)
        hp.Float("y", -1.0, 1.0)
        return Sequential([Dense(1, input_dim=1)])

    def fit(self, hp, model, *args, **kwargs):
        return (hp.get("x") - 0.3) ** 2 + (hp.get("y") + 0.6) ** 2


def test_bayesian_optimization_beats_random_search_on_a_smooth_objective(tmp_path):
    best = {}
    for name, tuner_class in (("bayes", BayesianOptimization), ("random", RandomSearch)):
        scores = []
        for seed in range(3):
            tuner = tuner_class(Quadratic(), objective=Objective("loss", "min"), max_trials=14, seed=seed,
                                directory=tmp_path, project_name=f"{name}{seed}",
                                **({"num_initial_points": 4} if name == "bayes" else {}))
            tuner.search(verbose=0)
            scores.append(tuner.oracle.get_best_trials(1)[0].score)
        best[name] = np.mean(scores)
    assert best["bayes"] < 0.02
    assert best["bayes"] < best["random"] / 3


# --------------------------------------------------------------------------- parallel and distributed


def test_process_pool_gives_the_sequential_results(tmp_path):
    x, y = _data()
    settings = dict(objective="val_accuracy", max_trials=4, seed=3, directory=tmp_path)
    sequential = RandomSearch(small_model, project_name="sequential", **settings)
    sequential.search(x, y, epochs=2, validation_split=0.25, verbose=0)
    pooled = RandomSearch(small_model, project_name="pooled", **settings)
    with concurrent.futures.ProcessPoolExecutor(2) as executor:
        pooled.search(x, y, epochs=2, validation_split=0.25, verbose=0, executor=executor)
    assert _outcomes(pooled) == _outcomes(sequential)


@pytest.mark.slow
def test_dask_cluster_gives_the_sequential_results(tmp_path):
    distributed = pytest.importorskip("distributed")
    x, y = _data()
    fit = dict(validation_split=0.25, verbose=0)
    random_settings = dict(objective="val_accuracy", max_trials=4, seed=3, directory=tmp_path)
    hyperband_settings = dict(objective="val_loss", max_epochs=3, seed=5, directory=tmp_path)
    sequential = [RandomSearch(small_model, project_name="random", **random_settings),
                  Hyperband(small_model, project_name="hyperband", **hyperband_settings)]
    for tuner in sequential:
        tuner.search(x, y, epochs=2, **fit)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster, distributed.Client(cluster) as client:
        on_cluster = [RandomSearch(small_model, project_name="random_dask", **random_settings),
                      Hyperband(small_model, project_name="hyperband_dask", **hyperband_settings)]
        for tuner in on_cluster:
            tuner.search(x, y, epochs=2, executor=client, **fit)
    for a, b in zip(sequential, on_cluster):
        assert _outcomes(b) == _outcomes(a)
        assert len(b.oracle.trials) in (4, 6)
    model = on_cluster[0].get_best_models(1)[0]
    best_score = on_cluster[0].oracle.get_best_trials()[0].score
    assert model.evaluate(x[72:], y[72:], verbose=0)[1] == pytest.approx(best_score)


def test_parallel_bayesian_optimization_chooses_whole_batches_reproducibly(tmp_path):
    runs = []
    for name in ("first", "second"):
        tuner = BayesianOptimization(Quadratic(), objective=Objective("loss", "min"), max_trials=8,
                                     num_initial_points=2, seed=2, directory=tmp_path, project_name=name)
        with concurrent.futures.ProcessPoolExecutor(2) as executor:
            tuner.search(verbose=0, executor=executor)
        runs.append(_outcomes(tuner))
    assert runs[0] == runs[1] and len(runs[0]) == 8
    points = [tuple(values.values()) for _, _, values, _ in runs[0]]
    assert len(set(points)) == 8  # the two trials of a batch differ (the first counts as observed)


def test_executor_of_the_wrong_kind_is_refused(tmp_path):
    tuner = RandomSearch(small_model, objective="loss", max_trials=1, directory=tmp_path)
    with pytest.raises(TypeError, match="concurrent.futures executor.*dask.distributed.Client"):
        tuner.search(*_data(), epochs=1, verbose=0, executor="tcp://127.0.0.1:8786")


# --------------------------------------------------------------------------- corrupt or forged tuner state


def _finished_project(tmp_path):
    x, y = _data(n=32)
    settings = dict(objective="val_accuracy", max_trials=2, seed=5, directory=tmp_path, project_name="p")
    tuner = RandomSearch(small_model, **settings)
    tuner.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    return tmp_path / "p", settings


def _edit_json(path, edit):
    state = json.loads(path.read_text())
    edit(state)
    path.write_text(json.dumps(state))


@pytest.mark.parametrize("which, corrupt, words", [
    ("oracle.json", lambda p: p.write_text('{"oracle": "RandomSearchOracle", '), "corrupt"),
    ("oracle.json", lambda p: p.write_bytes(b"\xff\xfe{}"), "corrupt"),
    ("oracle.json", lambda p: _edit_json(p, lambda s: s.pop("trial_ids")), "trial_ids"),
    ("oracle.json", lambda p: _edit_json(p, lambda s: s.__setitem__("seed", "x")), "seed"),
    ("oracle.json", lambda p: _edit_json(p, lambda s: s.__setitem__("trial_ids", ["../../x"])), "trial_ids[0]"),
    ("trial_0/trial.json", lambda p: p.write_text(p.read_text()[:40]), "corrupt"),
    ("trial_0/trial.json", lambda p: _edit_json(p, lambda s: s.pop("hyperparameters")), "hyperparameters"),
    ("trial_0/trial.json", lambda p: _edit_json(p, lambda s: s.__setitem__("status", "DONE")), "status"),
    ("trial_0/trial.json", lambda p: _edit_json(p, lambda s: s.__setitem__("trial_id", "../../x")), "trial_id"),
    ("trial_0/trial.json", lambda p: _edit_json(p, lambda s: s.__setitem__("trial_id", "1")), "holds trial '1'"),
    ("trial_0/trial.json", lambda p: _edit_json(p, lambda s: s["hyperparameters"].__setitem__("space", [{}])),
     "cannot restore"),
], ids=["truncated-oracle", "not-utf8", "no-trial-ids", "seed", "trial-id-path", "truncated-trial", "no-values",
        "unknown-status", "trial-id-in-trial", "wrong-trial", "bad-space"])
def test_corrupt_tuner_state_names_the_file(tmp_path, which, corrupt, words):
    project, settings = _finished_project(tmp_path)
    corrupt(project / which)
    with pytest.raises(ModelFileError) as info:
        RandomSearch(small_model, overwrite=False, **settings)
    assert str(project / which) in str(info.value)
    assert words in str(info.value)


def test_trial_folders_stay_inside_the_project(tmp_path):
    project, settings = _finished_project(tmp_path)
    tuner = RandomSearch(small_model, overwrite=False, **settings)
    with pytest.raises(ModelFileError, match="trial id"):
        tuner.get_trial_dir("../../x")
    with pytest.raises(ModelFileError, match="trial id"):
        tuner._checkpoint("../x")  # e.g. a forged Hyperband parent in tuner/trial_id
    assert tuner.get_trial_dir("0") == str(project / "trial_0")
