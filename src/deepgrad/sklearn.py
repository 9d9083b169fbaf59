"""scikit-learn estimators around deepgrad networks (optional extra ``sklearn``).

* :class:`MLPClassifier` / :class:`MLPRegressor`: a multilayer perceptron built from
  ``hidden_layer_sizes`` (Dense layers, optional batch normalization and dropout, an L2
  penalty ``alpha``), trained by ``Model.fit``.
* :class:`KerasClassifier` / :class:`KerasRegressor`: any deepgrad model (a ``Model`` or
  a function building one) with routed parameters, as scikeras does: ``model__units=16``
  reaches the model function, ``optimizer__learning_rate=0.01`` the optimizer,
  ``loss__...`` the loss and ``fit__...`` ``Model.fit``; so ``GridSearchCV`` and
  ``RandomizedSearchCV`` tune deepgrad networks.
* :class:`Perceptron`: :class:`deepgrad.perceptron.Perceptron` with any two class labels.

They follow scikit-learn's rules: ``__init__`` only stores parameters, ``fit`` validates
them, learned state ends with ``_``; ``clone``, ``Pipeline``, ``predict_proba``, string
class labels, multi-output regression and ``sample_weight`` work, and scikit-learn's own
``check_estimator`` passes (see :func:`expected_failed_checks` for the one exception).

Determinism: with an integer ``random_state`` every random draw of a fit (initial weights,
dropout masks, shuffling) comes from deepgrad's global seed set to it for the duration of
the fit and restored afterwards, so the same fit gives the same network.

Sample weights are rescaled to sum to the number of samples, so the training loss is
sum(s_i l_i) / sum(s_i): with full batches (the default on data of up to 200 samples for
the MLPs), an integer weight k trains exactly like k copies of the sample.

Data types: float64 input trains a float64 network (as scikit-learn's MLPs preserve the
dtype); any other input is converted to float32, deepgrad's default.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import functools
import inspect
import numbers
import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "deepgrad.sklearn needs scikit-learn: pip install 'deepgrad[sklearn]' (or pip install scikit-learn)."
    ) from err
from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import activations, backend, losses, optimizers
from . import perceptron as _perceptron
from .layers import Activation, BatchNormalization, Dense, Dropout, Input
from .models import Model, Sequential
from .models import training as _training
from .optimizers import Optimizer
from .regularizers import L2

# for predict: float32 stays float32 and float64 stays float64; anything else becomes float32
_FLOAT_DTYPES = [np.float32, np.float64]
# rows per forward pass in predict: few Python steps, bounded memory
_PREDICT_BATCH = 4096


class ConvergenceWarning(_perceptron.ConvergenceWarning, _SklearnConvergenceWarning):
    """Training stopped at its epoch limit before converging (scikit-learn's and deepgrad's warning)."""


# --------------------------------------------------------------------------- seeding


def _seed_of(random_state):
    """An int seed from scikit-learn's ``random_state`` (None, int or RandomState); None stays None."""
    if random_state is None:
        return None
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


# --------------------------------------------------------------------------- model pieces


def _make_optimizer(spec, settings):
    """A fresh optimizer from a name, class or instance (never the caller's object), with ``settings``."""
    if isinstance(spec, Optimizer):
        return type(spec).from_config({**spec.get_config(), **settings})
    if isinstance(spec, type) and issubclass(spec, Optimizer):
        return spec(**settings)
    return type(optimizers.get(spec))(**settings)


def _make_loss(spec, settings):
    """The loss ``spec`` (name, function, class or Loss) with the routed ``loss__`` settings applied."""
    if not settings:
        return spec
    if isinstance(spec, type) and issubclass(spec, losses.Loss):
        return spec(**settings)
    loss = losses.get(spec)
    if isinstance(loss, losses.Loss):
        return type(loss).from_config({**loss.get_config(), **settings})
    return losses.LossFunctionWrapper(loss, **settings)


def _loss_name(spec):
    if isinstance(spec, str):
        return spec
    return getattr(spec, "name", None) or getattr(spec, "__name__", type(spec).__name__)


def _normalized_sample_weight(sample_weight, X):
    """Validated weights rescaled to sum to n, so the loss is sum(s l) / sum(s) (None stays None)."""
    if sample_weight is None:
        return None
    weights = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
    total = weights.sum()
    if not total > 0:
        raise ValueError("sample_weight sums to zero: at least one sample needs a positive weight.")
    return weights * (len(weights) / total)


def _float_dtype(X):
    """float64 for data that are float64 (arrays, or lists of Python floats), else float32."""
    dtype = getattr(X, "dtype", None)
    if dtype is None or not isinstance(dtype, np.dtype):
        try:
            dtype = np.asarray(X).dtype
        except (TypeError, ValueError):
            return np.float32  # validate_data will explain what is wrong with X
    return np.float64 if dtype == np.float64 else np.float32


def _check_positive_int(value, name, allow_zero=False):
    low = 0 if allow_zero else 1
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")


# --------------------------------------------------------------------------- scikit-learn's own parameter names

# scikit-learn parameters with no deepgrad equivalent, and what to use instead
_NO_EQUIVALENT = {
    "warm_start": "each fit trains a new network; to train further call est.model_.fit(X, y)",
    "power_t": "the learning rate stays constant; set it with learning_rate_init",
    "max_fun": "there is no 'lbfgs' solver; limit training with max_iter",
    "n_jobs": "training runs in one process",
    "penalty": "the perceptron rule has no penalty; use MLPClassifier(alpha=...) for an L2 penalty",
    "class_weight": "pass sample_weight to fit",
}


def _reject_unsupported(estimator, unsupported):
    """A TypeError for parameters that neither deepgrad nor scikit-learn's equivalent spelling knows."""
    if not unsupported:
        return

    supported = sorted(estimator._get_param_names())
    name = sorted(unsupported)[0]
    closest = difflib.get_close_matches(name, supported, n=1, cutoff=0.5)
    hint = _NO_EQUIVALENT.get(name, "")
    raise TypeError(
        f"{type(estimator).__name__} has no parameter {name!r}"
        + (f" ({hint})" if hint else "")
        + (f"; the closest supported one is {closest[0]!r}" if closest else "")
        + f". Supported: {', '.join(supported)}.")


def _named_parameters_only(init):
    """``init`` with a TypeError for unknown keyword arguments that names the closest parameter.

    Wrapping (not ``**kwargs``) keeps the signature that scikit-learn's ``get_params`` reads.
    """
    known = set(inspect.signature(init).parameters)

    @functools.wraps(init)
    def checked(self, *args, **params):
        _reject_unsupported(self, set(params) - known)
        init(self, *args, **params)

    return checked


def _alias(estimator, sklearn_name, value, own_name, own_default):
    """The value a parameter takes when it may be given under scikit-learn's name or deepgrad's."""
    sklearn_value = getattr(estimator, sklearn_name)
    if sklearn_value is None:
        return value
    if value is not own_default and value != own_default:
        raise ValueError(f"{sklearn_name}={sklearn_value!r} and {own_name}={value!r} set the same thing "
                         f"(scikit-learn's and deepgrad's name); pass only one.")
    return sklearn_value


# --------------------------------------------------------------------------- shared estimator machinery


class _Network(BaseEstimator):
    """Fit/predict around a deepgrad model; subclasses say how targets are encoded and the model built."""

    def fit(self, X, y, sample_weight=None):
        """Build the network for (X, y) and train it; returns self.

        X: (n_samples, n_features); y: (n_samples,) class labels or values, or
        (n_samples, n_outputs) for multi-output regression; sample_weight: (n_samples,)
        non-negative weights of the samples in the loss.
        """
        self._check_parameters()
        X, y = validate_data(self, X, y, dtype=_float_dtype(X), multi_output=self._multi_output,
                             y_numeric=not isinstance(self, ClassifierMixin))
        targets = self._encode_targets(y)
        weights = _normalized_sample_weight(sample_weight, X)
        meta = self._meta(X)
        with backend.seeded(_seed_of(self.random_state)):
            model = self._compiled_model(meta)
            _training.ensure_built(model, [X])
            targets = self._model_targets(targets, model)
            history = self._train(model, X, targets, weights)
        self.model_ = model
        self.history_ = dict(history.history)
        self.n_iter_ = len(self.history_.get("loss", []))
        return self

    def _meta(self, X):
        """What a model function may need to know about the data (passed as ``meta``)."""
        return {"n_features_in_": X.shape[1], "X_dtype_": X.dtype, **self._target_meta()}

    def _raw_predict(self, X):
        check_is_fitted(self, "model_")
        X = validate_data(self, X, dtype=_FLOAT_DTYPES, reset=False)
        out = self.model_.predict(X, batch_size=_PREDICT_BATCH, verbose=0)
        return np.asarray(out[0] if isinstance(out, list) else out)


class _Classifier(ClassifierMixin, _Network):
    """Labels of any type encoded as class ids 0..n_classes-1; predictions are the likeliest class."""

    _multi_output = False

    def _encode_targets(self, y):
        check_classification_targets(y)
        self.classes_, ids = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least two classes to learn from; y has only "
                f"one class ({self.classes_[0]!r})."
            )
        self.n_classes_ = len(self.classes_)
        self.n_outputs_ = 1
        return ids

    def _target_meta(self):
        return {"classes_": self.classes_, "n_classes_": self.n_classes_, "n_outputs_": 1,
                "target_type_": "binary" if self.n_classes_ == 2 else "multiclass"}

    def _default_loss(self, units):
        return "binary_crossentropy" if units == 1 else "sparse_categorical_crossentropy"

    def _model_targets(self, ids, model):
        """Class ids as the model's output and loss expect them: a 0/1 column, one-hot rows or ids."""
        units = _training.model_output_shapes(model)[0][-1]
        if units == 1:
            if self.n_classes_ != 2:
                raise ValueError(
                    f"the model has one output unit, which can only separate two classes, but y has "
                    f"{self.n_classes_}: give the last layer {self.n_classes_} units and a softmax."
                )
            return ids.astype(np.float32).reshape(-1, 1)
        if units < self.n_classes_:
            raise ValueError(f"the model has {units} output units for {self.n_classes_} classes; it needs "
                             f"{self.n_classes_}.")
        if _loss_name(model._loss_spec) in _training._ONE_HOT_LOSSES:
            return np.eye(units, dtype=np.float32)[ids]
        return ids

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), columns in the order of ``classes_``.

        A single sigmoid output p gives the columns (1 - p, p).
        """
        out = self._raw_predict(X)
        if out.shape[1] == 1:
            p = out[:, 0]
            return np.stack([1.0 - p, p], axis=1)
        return out

    def predict(self, X):
        """The class of highest probability for each sample (labels from ``classes_``)."""
        likeliest = np.argmax(self.predict_proba(X), axis=1)
        return self.classes_[likeliest]


class _Regressor(RegressorMixin, _Network):
    """Real targets of one or several outputs; predictions keep the shape of y."""

    _multi_output = True

    def _encode_targets(self, y):
        self._y_ndim = y.ndim
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        return y.reshape(len(y), -1)

    def _target_meta(self):
        return {"n_outputs_": self.n_outputs_,
                "target_type_": "continuous" if self.n_outputs_ == 1 else "continuous-multioutput"}

    def _default_loss(self, units):
        return "mean_squared_error"

    def _model_targets(self, y, model):
        units = _training.model_output_shapes(model)[0][-1]
        if units != self.n_outputs_:
            raise ValueError(f"the model has {units} output units, but y has {self.n_outputs_} output(s); "
                             "they must match (meta['n_outputs_'] gives the count to the model function).")
        return y.astype(model.dtype, copy=False)

    def predict(self, X):
        """Predicted values: (n_samples,) when y was 1-D, else (n_samples, n_outputs)."""
        out = self._raw_predict(X)
        return out[:, 0] if self._y_ndim == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


# --------------------------------------------------------------------------- multilayer perceptrons


class _MLP:
    """The network of MLPClassifier/MLPRegressor, its parameters and its training loop."""

    @_named_parameters_only
    def __init__(self, hidden_layer_sizes=(100,), activation="relu", optimizer="adam", learning_rate=0.001,
                 batch_size="auto", epochs=200, alpha=0.0001, dropout=0.0, batch_norm=False,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=10, tol=1e-4,
                 random_state=None, verbose=0, *, solver=None, max_iter=None, learning_rate_init=None,
                 shuffle=True, momentum=None, nesterovs_momentum=None, beta_1=None, beta_2=None, epsilon=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.alpha = alpha
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.solver = solver
        self.max_iter = max_iter
        self.learning_rate_init = learning_rate_init
        self.shuffle = shuffle
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def _resolve_sklearn_names(self):
        """The optimizer, its settings and the epoch limit, from deepgrad's or scikit-learn's parameter names.

        scikit-learn's ``learning_rate`` is a schedule name: 'constant' is the only one deepgrad
        runs (with ``learning_rate_init``). ``solver`` brings scikit-learn's optimizer defaults
        (SGD: momentum 0.9, Nesterov; Adam: epsilon 1e-8) unless set.
        """
        rate = self.learning_rate
        if isinstance(rate, str):
            if rate != "constant":
                raise ValueError(f"learning_rate={rate!r} (a scikit-learn schedule) has no equivalent here; the "
                                 "closest supported one is learning_rate='constant' with learning_rate_init, or an "
                                 "optimizer with a schedule: optimizer=SGD(learning_rate=InverseTimeDecay(...)).")
            rate = 0.001
        self._learning_rate = _alias(self, "learning_rate_init", rate, "learning_rate", 0.001)
        self._epochs = _alias(self, "max_iter", self.epochs, "epochs", 200)
        self._optimizer = _alias(self, "solver", self.optimizer, "optimizer", "adam")
        settings = {}
        if self.solver is not None:
            if self.solver not in ("adam", "sgd"):
                raise ValueError(f"solver={self.solver!r} has no equivalent here; the closest supported ones are "
                                 "solver='adam' and solver='sgd'.")
            defaults = {"sgd": {"momentum": 0.9, "nesterovs_momentum": True}, "adam": {"epsilon": 1e-8}}
            settings = dict(defaults[self.solver])
        names = {"sgd": ("momentum", "nesterovs_momentum"), "adam": ("beta_1", "beta_2", "epsilon")}
        kind = self._optimizer if isinstance(self._optimizer, str) else None
        for name in ("momentum", "nesterovs_momentum", "beta_1", "beta_2", "epsilon"):
            if getattr(self, name) is not None:
                if name not in names.get(kind, ()):
                    raise ValueError(f"{name} is a setting of scikit-learn's "
                                     f"{'sgd' if name in names['sgd'] else 'adam'} solver; this estimator's "
                                     f"optimizer is {self._optimizer!r}.")
                settings[name] = getattr(self, name)
        settings = {k: v for k, v in settings.items() if k in names.get(kind, ())}
        if "nesterovs_momentum" in settings:
            settings["nesterov"] = bool(settings.pop("nesterovs_momentum"))
        self._optimizer_settings = settings

    def _check_parameters(self):
        self._resolve_sklearn_names()
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else sizes
        try:
            sizes = list(sizes)
        except TypeError:
            sizes = None
        if sizes is None or any(not isinstance(s, numbers.Integral) or isinstance(s, bool) or s < 1
                                for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be a positive integer or a sequence of them, "
                             f"got {self.hidden_layer_sizes!r}.")
        self._hidden_sizes = [int(s) for s in sizes]
        activations.get(self.activation)  # unknown names raise, listing the valid ones
        if not isinstance(self._learning_rate, numbers.Real) or not self._learning_rate > 0:
            raise ValueError(f"learning_rate must be a positive number, got {self._learning_rate!r}.")
        if self.batch_size != "auto":
            _check_positive_int(self.batch_size, "batch_size ('auto' or a positive integer)")
        _check_positive_int(self._epochs, "max_iter" if self.max_iter is not None else "epochs")
        _check_positive_int(self.n_iter_no_change, "n_iter_no_change")
        for name, value, high in [("alpha", self.alpha, np.inf), ("dropout", self.dropout, 1.0),
                                  ("tol", self.tol, np.inf)]:
            if not isinstance(value, numbers.Real) or not 0 <= value < high:
                raise ValueError(f"{name} must be a number in [0, {high}), got {value!r}.")
        if not isinstance(self.validation_fraction, numbers.Real) or not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}.")

    def _compiled_model(self, meta):
        dtype = meta["X_dtype_"]
        penalty = L2(self.alpha) if self.alpha else None
        model = Sequential([Input(shape=(meta["n_features_in_"],), dtype=dtype)])
        for units in self._hidden_sizes:
            if self.batch_norm:  # z -> normalize -> activation, the usual place of the normalization
                model.add(Dense(units, kernel_regularizer=penalty, dtype=dtype))
                model.add(BatchNormalization(dtype=dtype))
                model.add(Activation(self.activation, dtype=dtype))
            else:
                model.add(Dense(units, activation=self.activation, kernel_regularizer=penalty, dtype=dtype))
            if self.dropout:
                model.add(Dropout(self.dropout, dtype=dtype))
        units, output_activation = self._output_layer()
        model.add(Dense(units, activation=output_activation, kernel_regularizer=penalty, dtype=dtype))
        model.compile(optimizer=_make_optimizer(self._optimizer, {"learning_rate": self._learning_rate,
                                                                  **self._optimizer_settings}),
                      loss=self._default_loss(units))
        return model

    def _train(self, model, X, y, weights):
        from .callbacks import EarlyStopping  # noqa: PLC0415

        n = len(X)
        validation = None
        if self.early_stopping:
            n_val = int(round(self.validation_fraction * n))
            if not 1 <= n_val < n:
                raise ValueError(f"early_stopping with validation_fraction={self.validation_fraction} leaves "
                                 f"no training or no validation samples of {n}.")
            order = backend.new_generator().permutation(n)
            val, train = order[:n_val], order[n_val:]
            validation = (X[val], y[val]) if weights is None else (X[val], y[val], weights[val])
            X, y = X[train], y[train]
            weights = None if weights is None else weights[train]
        monitor = "val_loss" if self.early_stopping else "loss"
        stopper = EarlyStopping(monitor=monitor, min_delta=self.tol, patience=self.n_iter_no_change,
                                restore_best_weights=self.early_stopping)
        batch_size = min(200, len(X)) if self.batch_size == "auto" else self.batch_size
        history = model.fit(X, y, batch_size=batch_size, epochs=self._epochs, verbose=self.verbose,
                            callbacks=[stopper], validation_data=validation, sample_weight=weights,
                            shuffle=bool(self.shuffle))
        if not model.stop_training:
            warnings.warn(
                f"{type(self).__name__} reached epochs={self._epochs} while the "
                f"{'validation' if self.early_stopping else 'training'} loss was still improving by more "
                f"than tol={self.tol}: raise epochs (or the learning rate) to train it to convergence.",
                ConvergenceWarning, stacklevel=3)
        return history

    @property
    def loss_curve_(self):
        """The training loss after each epoch (scikit-learn's name for ``history_['loss']``)."""
        check_is_fitted(self, "history_")
        return list(self.history_["loss"])


_MLP_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int
        Units of each hidden Dense layer, input side first; () for none.
    activation : str
        Activation of the hidden layers (any deepgrad/Keras name: 'relu', 'tanh', ...).
    optimizer : str, class or Optimizer
        'adam', 'sgd', 'rmsprop', ... (a fresh copy is made at each fit).
    learning_rate : float
        The optimizer's step size.
    batch_size : int or 'auto'
        Samples per gradient step; 'auto' is min(200, n_samples), so tiny data train by
        full-batch gradient descent.
    epochs : int
        Passes over the data at most.
    alpha : float
        L2 penalty alpha * sum(W^2) on every kernel, added to the mean loss.
    dropout : float
        Dropout rate after each hidden layer (0: none).
    batch_norm : bool
        BatchNormalization between each hidden layer's z and its activation.
    early_stopping : bool
        Hold out ``validation_fraction`` of the data (random, seeded) and stop when the
        validation loss has not improved by ``tol`` for ``n_iter_no_change`` epochs, keeping
        the best weights. Without it, training stops when the training loss stalls likewise.
    validation_fraction, n_iter_no_change, tol : see ``early_stopping``.
    random_state : int, RandomState or None
        Seed of the initial weights, dropout masks, shuffling and validation split.
    verbose : int
        ``Model.fit``'s progress display (0: silent).
    solver, max_iter, learning_rate_init, shuffle, momentum, nesterovs_momentum, beta_1, beta_2, epsilon :
        scikit-learn's names, so code written for ``sklearn.neural_network`` runs unchanged:
        ``solver`` ('adam' or 'sgd') is ``optimizer`` with scikit-learn's defaults for it,
        ``max_iter`` is ``epochs``, ``learning_rate_init`` is ``learning_rate`` (then
        ``learning_rate='constant'`` is accepted too); the others set the optimizer.
        Giving a setting under both names is an error; a scikit-learn parameter with no
        equivalent (``warm_start``, ``power_t``, ``max_fun``) is a TypeError naming what to use.

    Attributes: ``model_`` (the trained deepgrad Sequential), ``history_`` (per-epoch logs),
    ``loss_curve_``, ``n_iter_`` (epochs run), ``n_features_in_``, ``n_outputs_``.
    A ConvergenceWarning says when ``epochs`` ended training while the loss still improved.
"""


class MLPClassifier(_MLP, _Classifier):
    __doc__ = """A multilayer perceptron classifier: Dense hidden layers, softmax (sigmoid for two classes) output.

    p(class | x) = softmax(W_L a_{L-1} + b_L), a_l = activation(W_l a_{l-1} + b_l), a_0 = x;
    trained on the cross-entropy -sum_i s_i log p(y_i | x_i) / sum_i s_i plus the L2 penalty.
    Attributes also include ``classes_`` and ``n_classes_``.
""" + _MLP_DOC

    def _output_layer(self):
        return (1, "sigmoid") if self.n_classes_ == 2 else (self.n_classes_, "softmax")


class MLPRegressor(_MLP, _Regressor):
    __doc__ = """A multilayer perceptron regressor: Dense hidden layers and a linear output per target.

    y_hat = W_L a_{L-1} + b_L, a_l = activation(W_l a_{l-1} + b_l), a_0 = x; trained on the
    mean squared error sum_i s_i ||y_i - y_hat_i||^2 / (n_outputs sum_i s_i) plus the L2 penalty.
    y may have several columns (multi-output regression).
""" + _MLP_DOC

    def _output_layer(self):
        return self.n_outputs_, None


# --------------------------------------------------------------------------- any deepgrad model


_ROUTES = ("model", "optimizer", "loss", "fit")


class _KerasWrapper:
    """Parameter routing and model building for KerasClassifier/KerasRegressor.

    Extra keyword arguments of ``__init__`` are parameters too (``get_params`` lists them,
    ``set_params`` and ``clone`` keep them): plain names go to the model function when its
    signature takes them, ``model__x`` always does, ``optimizer__x``/``loss__x`` configure
    the optimizer/loss, ``fit__x`` is passed to ``Model.fit``.
    """

    def __init__(self, model=None, *, optimizer=None, loss=None, metrics=None, epochs=1, batch_size=None,
                 validation_split=0.0, shuffle=True, callbacks=None, random_state=None, verbose=0, **kwargs):
        self.model = model
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = metrics
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.shuffle = shuffle
        self.callbacks = callbacks
        self.random_state = random_state
        self.verbose = verbose
        self._kwargs = kwargs

    def _extra_params(self):
        # kept in one private dict: scikit-learn allows no public attribute but parameters in __init__
        return dict(self.__dict__.get("_kwargs", {}))

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update(self._extra_params())
        return params

    def set_params(self, **params):
        known = set(self._get_param_names())
        extra = self.__dict__.setdefault("_kwargs", {})
        for key, value in params.items():
            if key in known:
                setattr(self, key, value)
            elif key in extra or key.split("__", 1)[0] in _ROUTES:
                extra[key] = value
            else:
                raise ValueError(
                    f"invalid parameter {key!r} for {type(self).__name__}: valid ones are "
                    f"{sorted(known | set(extra))}, or a routed name starting with "
                    f"{', '.join(r + '__' for r in _ROUTES)}."
                )
        return self

    def _routed(self, route):
        prefix = route + "__"
        return {k[len(prefix):]: v for k, v in self._extra_params().items() if k.startswith(prefix)}

    def _check_parameters(self):
        _check_positive_int(self.epochs, "epochs")
        if self.batch_size is not None:
            _check_positive_int(self.batch_size, "batch_size (None or a positive integer)")
        if not isinstance(self.validation_split, numbers.Real) or not 0 <= self.validation_split < 1:
            raise ValueError(f"validation_split must be in [0, 1), got {self.validation_split!r}.")

    def _built_model(self, meta):
        spec = self.model
        if isinstance(spec, Model):
            return copy.deepcopy(spec)  # train a copy: the estimator's parameter stays as given
        if not callable(spec):
            raise ValueError(
                f"model must be a deepgrad Model or a function returning one, got {spec!r}: e.g. "
                f"{type(self).__name__}(model=build, ...) with def build(units=16, meta=None): ..."
            )
        plain = {k: v for k, v in self._extra_params().items() if k.split("__", 1)[0] not in _ROUTES
                 and "__" not in k}
        arguments = {**plain, **self._routed("model"), "meta": meta}
        parameters = inspect.signature(spec).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            missing = set(self._routed("model")) - set(parameters)
            if missing:
                raise TypeError(f"the model function {getattr(spec, '__name__', spec)!r} takes no argument(s) "
                                f"{sorted(missing)} (given as model__...); its parameters are {list(parameters)}.")
            arguments = {k: v for k, v in arguments.items() if k in parameters}
        model = spec(**arguments)
        if not isinstance(model, Model):
            raise TypeError(f"the model function must return a deepgrad Model, got {type(model).__name__}.")
        return model

    def _compiled_model(self, meta):
        """The model, compiled with the wrapper's optimizer/loss/metrics where given, else its own."""
        model = self._built_model(meta)
        _training.ensure_built(model, [np.zeros((1, meta["n_features_in_"]), dtype=meta["X_dtype_"])])
        compiled = model.compiled
        optimizer = self.optimizer if self.optimizer is not None or not compiled else model.optimizer
        loss = self.loss if self.loss is not None or not compiled else model._loss_spec
        metrics = self.metrics if self.metrics is not None or not compiled else model._metric_spec
        if loss is None:
            loss = self._default_loss(_training.model_output_shapes(model)[0][-1])
        model.compile(optimizer=_make_optimizer(optimizer if optimizer is not None else "rmsprop",
                                                self._routed("optimizer")),
                      loss=_make_loss(loss, self._routed("loss")), metrics=metrics)
        return model

    def _train(self, model, X, y, weights):
        callbacks = [copy.deepcopy(c) for c in self.callbacks] if self.callbacks else None
        arguments = {"batch_size": self.batch_size, "epochs": self.epochs, "verbose": self.verbose,
                     "validation_split": self.validation_split, "shuffle": self.shuffle,
                     "callbacks": callbacks, "sample_weight": weights, **self._routed("fit")}
        return model.fit(X, y, **arguments)


_KERAS_DOC = """
    Parameters
    ----------
    model : deepgrad Model or callable
        A model (a copy of it is trained at each fit, from its current weights) or a
        function returning one. The function receives the routed ``model__`` parameters,
        the plain extra parameters its signature names, and ``meta`` if it asks for it:
        a dict with n_features_in_, X_dtype_, n_outputs_, target_type_ (and classes_,
        n_classes_ for classifiers), to size the input and output layers.
    optimizer : str, class, Optimizer or None
        None: the model's own optimizer when the function compiled it, else 'rmsprop'.
        ``optimizer__learning_rate=...`` etc. configure it.
    loss : str, function, Loss or None
        None: the model's own loss when compiled, else a default (see the class).
    metrics : list or None
        Metrics to compile with (reported in ``history_``).
    epochs, batch_size, validation_split, shuffle, callbacks, verbose :
        ``Model.fit``'s arguments (``fit__x=...`` passes any other; callbacks are copied per fit).
    random_state : int, RandomState or None
        Seed of every random draw of a fit (initial weights, dropout, shuffling).
    **kwargs : routed parameters (``model__units=16``, ``optimizer__learning_rate=0.01``, ...)
        and plain ones for the model function.

    Attributes: ``model_`` (the trained model), ``history_``, ``n_iter_``, ``n_features_in_``,
    ``n_outputs_``.
"""


class KerasClassifier(_KerasWrapper, _Classifier):
    __doc__ = """A scikit-learn classifier around a deepgrad model (scikeras' KerasClassifier).

    Labels of any type are encoded as ids 0..n_classes-1 (``classes_``). The targets given to
    the model follow its output: one sigmoid unit gets a 0/1 column (loss
    'binary_crossentropy' by default), n_classes units get class ids ('sparse_categorical_crossentropy'
    by default) or one-hot rows when the loss is categorical. ``predict_proba`` returns the
    model's outputs ((1 - p, p) for one unit); ``predict`` the likeliest class.

    Example: ``GridSearchCV(KerasClassifier(model=build, epochs=20), {'model__units': [8, 16],
    'optimizer__learning_rate': [0.01, 0.1]})``.
""" + _KERAS_DOC


class KerasRegressor(_KerasWrapper, _Regressor):
    __doc__ = """A scikit-learn regressor around a deepgrad model (scikeras' KerasRegressor).

    y of shape (n,) or (n, n_outputs); the model's last layer needs ``meta['n_outputs_']``
    units. The default loss is 'mean_squared_error'; ``score`` is R^2 (scikit-learn's).
""" + _KERAS_DOC


# --------------------------------------------------------------------------- the perceptron


class Perceptron(ClassifierMixin, BaseEstimator, _perceptron.Perceptron):
    """:class:`deepgrad.perceptron.Perceptron` as a scikit-learn binary classifier.

    The same rule and parameters (o = f(w . x + b), w <- w + eta s (t - o) x), with any two
    class labels: ``classes_[1]`` is the class where the neuron fires (z >= 0). More than two
    classes raise (a single neuron separates two; use MLPClassifier).
    """

    _convergence_warning = ConvergenceWarning

    @_named_parameters_only
    def __init__(self, learning_rate=1.0, max_epochs=100, activation="step", threshold=0.0, fit_intercept=True,
                 shuffle=True, random_state=None, tol=None, *, eta0=None, max_iter=None):
        super().__init__(learning_rate=learning_rate, max_epochs=max_epochs, activation=activation,
                         threshold=threshold, fit_intercept=fit_intercept, shuffle=shuffle,
                         random_state=random_state, tol=tol)
        self.eta0 = eta0  # scikit-learn's name of learning_rate
        self.max_iter = max_iter  # ... and of max_epochs

    @contextlib.contextmanager
    def _sklearn_names_applied(self):
        """``eta0``/``max_iter`` in force as ``learning_rate``/``max_epochs`` during one call; the
        parameters read back by ``get_params`` stay as given (scikit-learn's rule)."""
        given = self.learning_rate, self.max_epochs
        self.learning_rate = _alias(self, "eta0", self.learning_rate, "learning_rate", 1.0)
        self.max_epochs = _alias(self, "max_iter", self.max_epochs, "max_epochs", 100)
        try:
            yield
        finally:
            self.learning_rate, self.max_epochs = given

    @property
    def coef_(self):
        """scikit-learn's name of the weights: shape (1, n_features)."""
        check_is_fitted(self, "weights_")
        return self.weights_[None, :]

    @property
    def intercept_(self):
        """scikit-learn's name of the bias: shape (1,)."""
        check_is_fitted(self, "weights_")
        return np.array([self.bias_], dtype=self.weights_.dtype)

    @property
    def n_iter_(self):
        """scikit-learn's name of ``n_epochs_``: the epochs run."""
        check_is_fitted(self, "weights_")
        return self.n_epochs_

    def _codes(self, y):
        lower, upper = _perceptron._ACTIVATIONS[self.activation]
        return np.where(y == self.classes_[1], upper, lower)

    def _set_classes(self, y, classes=None):
        check_classification_targets(y)
        labels = np.unique(y) if classes is None else np.unique(classes)
        if len(labels) > 2 or type_of_target(y) not in ("binary",):
            raise ValueError(
                f"Only binary classification is supported. The type of the target is "
                f"{type_of_target(y, input_name='y')}: a perceptron separates two classes; use "
                "MLPClassifier for more."
            )
        if len(labels) < 2:
            raise ValueError(f"Perceptron needs samples of two classes to learn from; y has only one class "
                             f"({labels[0]!r}).")
        self.classes_ = labels

    def fit(self, X, y, sample_weight=None):
        """Learn from (X, y) with y of two classes; returns self."""
        self._check_params()
        X, y = validate_data(self, X, y, dtype=_float_dtype(X))
        self._set_classes(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        with self._sklearn_names_applied():
            return super().fit(X, self._codes(y), sample_weight)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch on (X, y); ``classes`` (both labels) is needed on the first call unless y has both."""
        self._check_params()
        first = not hasattr(self, "classes_")
        X, y = validate_data(self, X, y, dtype=_float_dtype(X), reset=first)
        if first:
            self._set_classes(y, classes)
        if not np.all(np.isin(y, self.classes_)):
            raise ValueError(f"y has labels outside classes_ {self.classes_.tolist()} seen on the first call.")
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        with self._sklearn_names_applied():
            return super().partial_fit(X, self._codes(y), sample_weight)

    def decision_function(self, X):
        """z = w . x + b per sample: positive for ``classes_[1]``."""
        check_is_fitted(self, "weights_")
        X = validate_data(self, X, dtype=_FLOAT_DTYPES, reset=False)
        return super().decision_function(X)

    def predict(self, X):
        """``classes_[1]`` where z >= 0, ``classes_[0]`` elsewhere."""
        fires = self.decision_function(X) >= 0
        return self.classes_[fires.astype(np.intp)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


# --------------------------------------------------------------------------- checks


def expected_failed_checks(estimator) -> dict:
    """scikit-learn checks an estimator is known to fail, with the reason (for ``parametrize_with_checks``).

    Only the perceptron has one: its rule visits samples one at a time and updates only on
    mistakes, so a weight k (one update scaled by k) differs from k copies of a sample (up to
    k updates, each depending on the last); scikit-learn's own Perceptron fails it likewise.
    """
    if isinstance(estimator, Perceptron):
        return {"check_sample_weight_equivalence_on_dense_data":
                "the perceptron rule updates on mistakes only, one sample at a time: a weight k scales "
                "one update, while k copies of a sample may each trigger one (scikit-learn's own "
                "Perceptron is marked alike)."}
    return {}


__all__ = ["ConvergenceWarning", "KerasClassifier", "KerasRegressor", "MLPClassifier", "MLPRegressor",
           "Perceptron", "expected_failed_checks"]
