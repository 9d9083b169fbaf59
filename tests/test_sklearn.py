"""deepgrad.sklearn: scikit-learn's own estimator checks, grid search over deepgrad networks, the API rules."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_blobs, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from deepgrad import backend, datasets, perceptron  # noqa: E402
from deepgrad.layers import Dense, Input  # noqa: E402
from deepgrad.models import Sequential  # noqa: E402
from deepgrad.sklearn import (  # noqa: E402
    ConvergenceWarning,
    KerasClassifier,
    KerasRegressor,
    MLPClassifier,
    MLPRegressor,
    Perceptron,
    expected_failed_checks,
)

# short trainings in these tests end at their epoch limit on purpose; tests of the warning use pytest.warns
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def classifier_network(units=16, meta=None):
    """One hidden layer; a sigmoid unit for two classes, else a softmax over the classes."""
    dtype = meta["X_dtype_"]
    outputs = 1 if meta["n_classes_"] == 2 else meta["n_classes_"]
    return Sequential([Input(shape=(meta["n_features_in_"],), dtype=dtype),
                       Dense(units, activation="relu", dtype=dtype),
                       Dense(outputs, activation="sigmoid" if outputs == 1 else "softmax", dtype=dtype)])


def regressor_network(units=16, meta=None):
    dtype = meta["X_dtype_"]
    return Sequential([Input(shape=(meta["n_features_in_"],), dtype=dtype),
                       Dense(units, activation="relu", dtype=dtype),
                       Dense(meta["n_outputs_"], dtype=dtype)])


class Named:
    """A model function with a stable repr, so test ids do not carry memory addresses."""

    def __init__(self, function):
        self.function = function
        self.__signature__ = inspect.signature(function)

    def __call__(self, **kwargs):
        return self.function(**kwargs)

    def __repr__(self):
        return self.function.__name__


CHECKED = [
    Perceptron(),
    MLPClassifier(),
    MLPRegressor(),
    KerasClassifier(Named(classifier_network), optimizer="adam", epochs=50, model__units=32,
                    optimizer__learning_rate=0.01),
    KerasRegressor(Named(regressor_network), optimizer="adam", epochs=50, model__units=32,
                   optimizer__learning_rate=0.01),
]


@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failed_checks)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_only_the_perceptron_has_an_expected_failure():
    assert list(expected_failed_checks(Perceptron())) == ["check_sample_weight_equivalence_on_dense_data"]
    assert all(expected_failed_checks(e) == {} for e in CHECKED[1:])


# --------------------------------------------------------------------------- tuning deepgrad networks


@pytest.fixture(scope="module")
def blobs():
    x, y = make_blobs(n_samples=90, centers=3, n_features=4, random_state=0, cluster_std=2.0)
    return x.astype(np.float32), y


def test_grid_search_over_model_units_and_learning_rate(blobs):
    x, y = blobs
    search = GridSearchCV(
        KerasClassifier(classifier_network, optimizer="sgd", epochs=15, batch_size=16, random_state=0),
        {"model__units": [2, 16], "optimizer__learning_rate": [1e-4, 0.1]}, cv=3)
    search.fit(x, y)
    assert set(search.best_params_) == {"model__units", "optimizer__learning_rate"}
    assert search.best_params_["optimizer__learning_rate"] == 0.1  # 1e-4 barely moves in 15 epochs
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 4 and search.best_score_ == scores.max() > 0.9
    best = search.best_estimator_
    assert best.model_.layers[0].units == search.best_params_["model__units"]
    assert best.model_.optimizer.learning_rate == pytest.approx(0.1)


def test_randomized_search_over_mlp(blobs):
    x, y = blobs
    search = RandomizedSearchCV(
        MLPClassifier(epochs=40, random_state=0),
        {"hidden_layer_sizes": [(4,), (16,), (16, 8)], "learning_rate": [0.003, 0.03]},
        n_iter=3, cv=3, random_state=0)
    search.fit(x, y)
    assert len(search.cv_results_["params"]) == 3 and search.best_score_ > 0.9


def test_pipeline_with_standard_scaler(blobs):
    x, y = blobs
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), learning_rate=0.01,
                                                         random_state=0))
    pipe.fit(x * 100 + 50, y)
    assert pipe.score(x * 100 + 50, y) > 0.95


# --------------------------------------------------------------------------- behaviour


def test_mlp_learns_xor_where_the_perceptron_cannot():
    x, y = datasets.logic_gate("xor")
    with pytest.warns(ConvergenceWarning, match="linearly separable"):
        single = Perceptron(random_state=0).fit(x, y)
    assert single.score(x, y) < 1.0
    mlp = MLPClassifier(hidden_layer_sizes=(8,), activation="tanh", learning_rate=0.05, epochs=500,
                        alpha=0.0, random_state=0).fit(x, y)
    assert mlp.predict(x).tolist() == y.tolist()


def test_warnings_are_scikit_learn_and_deepgrad_convergence_warnings():
    assert issubclass(ConvergenceWarning, SklearnConvergenceWarning)
    assert issubclass(ConvergenceWarning, perceptron.ConvergenceWarning)
    x, y = datasets.logic_gate("and")
    with pytest.warns(SklearnConvergenceWarning, match="epochs=2"):
        MLPClassifier(epochs=2, random_state=0).fit(x, y)


def test_string_labels_and_predict_proba(blobs):
    x, y = blobs
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    for estimator in [MLPClassifier(hidden_layer_sizes=(16,), learning_rate=0.01, random_state=0),
                      KerasClassifier(classifier_network, optimizer="adam", epochs=40,
                                      optimizer__learning_rate=0.01, random_state=0)]:
        estimator.fit(x, names)
        assert estimator.classes_.tolist() == ["setosa", "versicolor", "virginica"]
        proba = estimator.predict_proba(x)
        assert proba.shape == (90, 3)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
        assert (estimator.predict(x) == estimator.classes_[proba.argmax(axis=1)]).all()
        assert estimator.score(x, names) > 0.9


def test_binary_labels_use_one_sigmoid_unit():
    x, y = datasets.logic_gate("or")
    labels = np.where(y == 1, "yes", "no")
    clf = MLPClassifier(hidden_layer_sizes=(4,), learning_rate=0.1, epochs=300, random_state=0).fit(x, labels)
    assert clf.model_.layers[-1].units == 1
    proba = clf.predict_proba(x)
    assert proba.shape == (4, 2) and clf.predict(x).tolist() == labels.tolist()
    np.testing.assert_allclose(proba[:, 1], clf.model_.predict(x)[:, 0], rtol=1e-6)


def test_perceptron_with_any_two_labels():
    x, y = datasets.logic_gate("nand")
    labels = np.where(y == 1, "fire", "rest")
    clf = Perceptron(activation="sign", random_state=0).fit(x, labels)
    assert clf.classes_.tolist() == ["fire", "rest"] and clf.converged_
    assert clf.predict(x).tolist() == labels.tolist()
    # classes_[1] ('rest') is the side where the neuron fires: z >= 0
    assert ((clf.decision_function(x) >= 0) == (labels == "rest")).all()
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        clf.fit(np.ones((3, 2)), [0, 1, 2])


def test_multi_output_regression():
    x, y = make_regression(n_samples=60, n_features=3, n_targets=2, noise=0.1, random_state=0)
    y = y / y.std(axis=0)
    for estimator in [MLPRegressor(hidden_layer_sizes=(32,), learning_rate=0.01, epochs=300, random_state=0),
                      KerasRegressor(regressor_network, optimizer="adam", epochs=300,
                                     optimizer__learning_rate=0.01, random_state=0)]:
        estimator.fit(x, y)
        assert estimator.n_outputs_ == 2 and estimator.predict(x).shape == (60, 2)
        assert estimator.score(x, y) > 0.9
        assert estimator.fit(x, y[:, 0]).predict(x).shape == (60,)


def test_integer_sample_weights_equal_repeated_samples():
    rng = np.random.default_rng(0)
    x = rng.random((20, 3))
    y = (x.sum(axis=1) > 1.5).astype(int)
    weights = rng.integers(0, 4, size=20)
    weights[:2] = [1, 2]
    estimator = MLPClassifier(hidden_layer_sizes=(8,), learning_rate=0.01, epochs=30, random_state=0)
    weighted = clone(estimator).fit(x, y, sample_weight=weights)
    repeated = clone(estimator).fit(np.repeat(x, weights, axis=0), np.repeat(y, weights))
    unweighted = clone(estimator).fit(x, y)
    np.testing.assert_allclose(weighted.predict_proba(x), repeated.predict_proba(x), rtol=1e-9)
    assert not np.allclose(weighted.predict_proba(x), unweighted.predict_proba(x), rtol=1e-6)
    with pytest.raises(ValueError, match="at least one non-zero"):
        clone(estimator).fit(x, y, sample_weight=np.zeros(20))


def test_random_state_makes_fits_repeat_and_leaves_the_global_seed_alone(blobs):
    x, y = blobs
    backend.manual_seed(7)
    expected_draw = backend.new_generator().random()
    backend.manual_seed(7)
    first = MLPClassifier(hidden_layer_sizes=(8,), dropout=0.2, epochs=5, random_state=3)
    a = clone(first).fit(x, y).predict_proba(x)
    assert backend.new_generator().random() == expected_draw  # the caller's stream is untouched
    b = clone(first).fit(x, y).predict_proba(x)
    c = clone(first).set_params(random_state=4).fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_early_stopping_batch_norm_and_dropout(blobs):
    x, y = blobs
    clf = MLPClassifier(hidden_layer_sizes=(16, 16), batch_norm=True, dropout=0.1, early_stopping=True,
                        n_iter_no_change=5, learning_rate=0.01, epochs=200, random_state=0).fit(x, y)
    kinds = [type(layer).__name__ for layer in clf.model_.layers]
    assert kinds == ["Dense", "BatchNormalization", "Activation", "Dropout"] * 2 + ["Dense"]
    assert clf.n_iter_ < 200 and "val_loss" in clf.history_
    assert clf.loss_curve_ == clf.history_["loss"] and clf.score(x, y) > 0.9


def test_routed_parameters_survive_clone_and_set_params():
    estimator = KerasClassifier(classifier_network, epochs=3, model__units=8, optimizer__learning_rate=0.1)
    params = estimator.get_params()
    assert params["model__units"] == 8 and params["optimizer__learning_rate"] == 0.1
    copy = clone(estimator).set_params(model__units=4, epochs=5)
    assert copy.get_params()["model__units"] == 4 and copy.epochs == 5
    assert estimator.get_params()["model__units"] == 8  # the original is untouched
    assert "model__units=8" in repr(estimator)
    with pytest.raises(ValueError, match="invalid parameter 'units'.*model__"):
        estimator.set_params(units=3)


def test_model_function_compiled_by_the_user_keeps_its_loss(blobs):
    x, y = blobs

    def compiled(meta):
        model = classifier_network(units=16, meta=meta)
        model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
        return model

    clf = KerasClassifier(compiled, epochs=20, optimizer__learning_rate=0.2, random_state=0).fit(x, y)
    assert type(clf.model_.optimizer).__name__ == "SGD"
    assert clf.model_.optimizer.learning_rate == pytest.approx(0.2)
    assert "accuracy" in clf.history_ and clf.score(x, y) > 0.9  # one-hot targets for the categorical loss


def test_model_instance_is_copied(blobs):
    x, y = blobs
    model = classifier_network(units=8, meta={"X_dtype_": np.float32, "n_classes_": 3, "n_features_in_": 4})
    before = model.get_weights()
    clf = KerasClassifier(model, optimizer="adam", epochs=3, random_state=0).fit(x, y)
    assert clf.model_ is not model
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert not all(np.array_equal(a, b) for a, b in zip(before, clf.model_.get_weights()))


@pytest.mark.parametrize("estimator, message", [
    (MLPClassifier(hidden_layer_sizes=(0,)), "hidden_layer_sizes must be a positive integer"),
    (MLPClassifier(activation="sigmoidal"), "unknown activation 'sigmoidal'"),
    (MLPClassifier(optimizer="adamm"), "unknown optimizer 'adamm'"),
    (MLPRegressor(dropout=1.0), r"dropout must be a number in \[0, 1.0\)"),
    (MLPRegressor(batch_size=0), "batch_size"),
    (KerasClassifier(), "model must be a deepgrad Model or a function"),
    (KerasClassifier(classifier_network, model__width=3), r"takes no argument\(s\) \['width'\]"),
])
def test_bad_parameters_are_explained_at_fit(estimator, message):
    x, y = datasets.logic_gate("and")
    with pytest.raises((ValueError, TypeError), match=message):
        estimator.fit(x, y)


# --------------------------------------------------------------------------- scikit-learn's parameter names


def test_mlp_code_written_for_scikit_learn_runs_with_the_import_changed(blobs):
    X, y = blobs
    # as written for sklearn.neural_network.MLPClassifier
    model = MLPClassifier(hidden_layer_sizes=(16,), solver="adam", learning_rate="constant",
                          learning_rate_init=0.01, max_iter=40, random_state=0).fit(X, y)
    assert model.score(X, y) > 0.9 and model.n_iter_ <= 40
    optimizer = model.model_.optimizer.get_config()
    assert optimizer["learning_rate"] == pytest.approx(0.01) and optimizer["epsilon"] == 1e-8  # sklearn's Adam
    # the same network as deepgrad's own names give
    own = MLPClassifier(hidden_layer_sizes=(16,), learning_rate=0.01, epochs=40, random_state=0).fit(X, y)
    np.testing.assert_allclose(own.predict_proba(X), MLPClassifier(
        hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=40, random_state=0).fit(X, y).predict_proba(X))
    X_reg, y_reg = make_regression(n_samples=60, n_features=3, random_state=0)
    sgd = MLPRegressor(solver="sgd", momentum=0.5, nesterovs_momentum=False, learning_rate_init=1e-3,
                       max_iter=3, shuffle=False, random_state=0).fit(X_reg, y_reg)
    config = sgd.model_.optimizer.get_config()
    assert type(sgd.model_.optimizer).__name__ == "SGD" and config["momentum"] == 0.5 and not config["nesterov"]
    defaults = MLPRegressor(solver="sgd", max_iter=1).fit(X_reg, y_reg).model_.optimizer.get_config()
    assert defaults["momentum"] == 0.9 and defaults["nesterov"]  # scikit-learn's SGD defaults
    assert clone(sgd).get_params()["max_iter"] == 3 and clone(sgd).get_params()["momentum"] == 0.5


@pytest.mark.parametrize("params, error, message", [
    ({"warm_start": True}, TypeError, r"no parameter 'warm_start' \(each fit trains a new network"),
    ({"max_iters": 5}, TypeError, "closest supported one is 'max_iter'"),
    ({"learnin_rate": 0.1}, TypeError, "closest supported one is 'learning_rate'"),
])
def test_mlp_parameters_without_an_equivalent_name_the_closest_one(params, error, message):
    for estimator in (MLPClassifier, MLPRegressor):
        with pytest.raises(error, match=message):
            estimator(**params)


@pytest.mark.parametrize("params, message", [
    ({"epochs": 10, "max_iter": 20}, "max_iter=20 and epochs=10 set the same thing"),
    ({"learning_rate": 0.1, "learning_rate_init": 0.01}, "pass only one"),
    ({"solver": "lbfgs"}, "solver='lbfgs' has no equivalent.*'adam'"),
    ({"learning_rate": "adaptive"}, "learning_rate='adaptive'.*closest supported one is learning_rate='constant'"),
    ({"solver": "adam", "momentum": 0.9}, "momentum is a setting of scikit-learn's sgd solver"),
])
def test_mlp_conflicting_or_unsupported_scikit_learn_values_are_explained_at_fit(blobs, params, message):
    with pytest.raises(ValueError, match=message):
        MLPClassifier(**{"max_iter": 2, **params}).fit(*blobs)  # short: the error comes before training


def test_perceptron_code_written_for_scikit_learn_runs_with_the_import_changed():
    from sklearn.linear_model import Perceptron as SklearnPerceptron

    X, y = make_blobs(n_samples=60, centers=[[-3, -3], [3, 3]], random_state=0)
    ours = Perceptron(max_iter=50, eta0=0.1, random_state=0).fit(X, y)
    theirs = SklearnPerceptron(max_iter=50, eta0=0.1, random_state=0).fit(X, y)
    for name in ("coef_", "intercept_"):
        assert getattr(ours, name).shape == getattr(theirs, name).shape
    np.testing.assert_array_equal(ours.coef_[0], ours.weights_)
    assert ours.intercept_[0] == ours.bias_ and ours.n_iter_ == ours.n_epochs_ and ours.n_iter_ <= 50
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_array_equal(np.sign(X @ ours.coef_.T + ours.intercept_).ravel() > 0, ours.predict(X) == 1)
    # eta0 scales every step: the weights are 0.1 x those of the default rate on the same visits
    default = Perceptron(max_iter=50, random_state=0).fit(X, y)
    np.testing.assert_allclose(ours.coef_, 0.1 * default.coef_)
    assert ours.get_params()["learning_rate"] == 1.0 and ours.get_params()["eta0"] == 0.1  # as given
    with pytest.raises(TypeError, match=r"no parameter 'penalty' \(the perceptron rule has no penalty"):
        Perceptron(penalty="l2")
    with pytest.raises(ValueError, match="pass only one"):
        Perceptron(max_epochs=5, max_iter=9).fit(X, y)
