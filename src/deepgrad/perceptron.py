"""Rosenblatt's perceptron: a single threshold neuron and its learning rule.

The neuron computes a weighted sum and fires when it reaches the threshold theta:

    z = w . x + b,   o = f(z),   with b = -theta (the threshold moved into the bias,
                                  the weight w0 of a constant input x0 = 1)

where f is the step function (outputs 0/1) or the sign function (outputs -1/+1),
both firing (upper output) at z >= 0 like :func:`deepgrad.activations.binary_step`.

Learning visits the samples one by one; on each misclassified sample (target t,
output o != t) it moves the hyperplane towards it:

    w <- w + eta (t - o) x,     b <- b + eta (t - o)

On linearly separable data (some hyperplane separates the classes with a margin
gamma > 0) the rule stops after at most (R / gamma)^2 mistakes, R the largest norm
of an input (1 appended for the bias): the perceptron convergence theorem. On data
that no hyperplane separates (XOR) it never stops; then it ends after
``max_epochs`` with a :class:`ConvergenceWarning`.

The rule is sequential by nature (each update changes the next decision), so the
inner loop is one small dot product per sample; targets, updates and the epoch
bookkeeping are computed vectorized around it.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from .backend import new_generator

_ACTIVATIONS = {"step": (0, 1), "sign": (-1, 1)}  # (lower, upper) output of each activation


def _generator(random_state):
    """A generator from a seed (int), a Generator, a legacy RandomState (drawing a seed) or None."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return new_generator(int(random_state.randint(np.iinfo(np.int32).max)))
    return new_generator(random_state)


def _z(x, weights, bias):
    """z = w . x + b for a sample (1-D x) or each row of a 2-D x.

    Training and prediction share this formula: the products are summed along the last
    axis by the same reduction for one row or many, so a sample sitting exactly on the
    boundary (z = 0) gets the same decision both times.
    """
    return (x * weights).sum(axis=-1) + bias


class ConvergenceWarning(UserWarning):
    """Training ended at its epoch limit before the learning rule converged."""


def _not_separable_message(errors, n_samples, epochs):
    return (
        f"Perceptron did not converge in {epochs} epochs: {errors} of {n_samples} samples were still "
        "misclassified in the last epoch. The perceptron rule converges only on linearly separable "
        "data (some line / hyperplane w.x + b = 0 puts every sample of one class on one side); data "
        "such as XOR are not linearly separable, and no single neuron can learn them. Use a "
        "multilayer network with a nonlinear hidden layer (e.g. deepgrad.sklearn.MLPClassifier, or a "
        "Sequential of Dense layers), or raise max_epochs if the data are separable."
    )


class Perceptron:
    """Rosenblatt's perceptron: o = f(w . x + b), trained with w <- w + eta (t - o) x.

    Parameters
    ----------
    learning_rate : float
        eta, the step of each update (with zero initial weights and threshold it only
        scales the weights: the decisions and the number of mistakes do not depend on it).
    max_epochs : int
        Passes over the data at most.
    activation : 'step' or 'sign'
        f(z) = 1 if z >= 0 else 0 ('step'), or +1 if z >= 0 else -1 ('sign'). Targets
        must use the same two values.
    threshold : float
        theta: the neuron fires when w . x >= theta. It becomes the initial bias
        b = -theta (w0 with x0 = 1).
    fit_intercept : bool
        Whether the bias is learned; if False it stays at -threshold.
    shuffle : bool
        Visit the samples in a new random order each epoch.
    random_state : int, numpy Generator/RandomState or None
        Seed of the shuffling (None: deepgrad's global seed, see ``deepgrad.manual_seed``).
    tol : float or None
        None: stop only after an epoch without mistakes. A fraction in [0, 1): also stop
        once the fraction of misclassified samples in an epoch is at most ``tol``.

    Attributes (after ``fit``)
    --------------------------
    weights_ (n_features,), bias_ (float), errors_ (misclassifications per epoch),
    n_epochs_, converged_, weights_history_ (n_epochs_ + 1, n_features) and
    bias_history_ (n_epochs_ + 1,): the hyperplane before training and after each epoch.

    Example: ``Perceptron().fit(*deepgrad.datasets.logic_gate('and')).predict([[1, 1]])`` -> [1].
    """

    _convergence_warning = ConvergenceWarning  # the class warned with (scikit-learn's wrapper widens it)

    def __init__(self, learning_rate=1.0, max_epochs=100, activation="step", threshold=0.0,
                 fit_intercept=True, shuffle=True, random_state=None, tol=None):
        self.learning_rate = learning_rate
        self.max_epochs = max_epochs
        self.activation = activation
        self.threshold = threshold
        self.fit_intercept = fit_intercept
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_weights(cls, weights, threshold=0.0, activation="step"):
        """A ready-made neuron with fixed weights: fires when w . x >= threshold.

        The course's concert decision: ``Perceptron.from_weights([0.7, 0.6, 0.5, 0.3, 0.4],
        threshold=1.5)`` on inputs (1, 0, 1, 0, 1) sums to 1.6 >= 1.5 and predicts 1 (go).
        """
        neuron = cls(threshold=threshold, activation=activation)
        neuron._check_params()
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 1 or weights.size == 0:
            raise ValueError(f"weights must be a non-empty 1-D sequence, got shape {weights.shape}.")
        neuron._start(weights.size, np.float64)
        neuron.weights_[:] = weights
        neuron.weights_history_ = neuron.weights_[None].copy()
        return neuron

    # ------------------------------------------------------------------ validation
    def _check_params(self):
        if self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"unknown perceptron activation {self.activation!r}; valid: {', '.join(map(repr, _ACTIVATIONS))}."
            )
        if not isinstance(self.learning_rate, numbers.Real) or not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate!r}.")
        if (not isinstance(self.max_epochs, numbers.Integral) or isinstance(self.max_epochs, bool)
                or self.max_epochs < 1):
            raise ValueError(f"max_epochs must be a positive integer, got {self.max_epochs!r}.")
        if not isinstance(self.threshold, numbers.Real) or not np.isfinite(self.threshold):
            raise ValueError(f"threshold must be a finite number, got {self.threshold!r}.")
        if self.tol is not None and (not isinstance(self.tol, numbers.Real) or not 0 <= self.tol < 1):
            raise ValueError(f"tol must be None or a fraction in [0, 1), got {self.tol!r}.")

    def _check_x(self, x, fitted=False):
        x = np.asarray(x)
        if x.dtype.kind not in "fiub":
            raise TypeError(f"x must be numeric, got dtype {x.dtype}.")
        if x.ndim != 2:
            raise ValueError(
                f"x must be 2-D (n_samples, n_features), got shape {x.shape}; reshape a single sample "
                "with x.reshape(1, -1) or a single feature with x.reshape(-1, 1)."
            )
        if not np.all(np.isfinite(x)):
            raise ValueError("x contains NaN or infinity; remove or impute those values first.")
        if fitted and x.shape[1] != self.weights_.shape[0]:
            raise ValueError(
                f"x has {x.shape[1]} features, but the perceptron was fitted with {self.weights_.shape[0]}."
            )
        # float64 throughout: the rule decides on the sign of z, so training and predict must
        # compute z with the same rounding (a float32 z of exactly 0 vs 1e-8 flips a decision)
        return x.astype(np.float64, copy=False)

    def _check_targets(self, y, n_samples):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or len(y) != n_samples:
            raise ValueError(f"y must have shape ({n_samples},) (one target per sample), got {y.shape}.")
        lower, upper = _ACTIVATIONS[self.activation]
        if y.dtype.kind not in "fiub" or not np.all((y == lower) | (y == upper)):
            found = np.unique(y)[:5]
            raise ValueError(
                f"targets of a perceptron with activation={self.activation!r} must be {lower} or {upper}, "
                f"got values such as {found.tolist()}. Encode the two classes as {lower}/{upper}, or use "
                f"activation={'sign' if self.activation == 'step' else 'step'!r} for "
                f"{'-1/+1' if self.activation == 'step' else '0/1'} targets."
            )
        return y == upper

    def _check_sample_weight(self, sample_weight, n_samples):
        if sample_weight is None:
            return np.ones(n_samples)
        weights = np.asarray(sample_weight, dtype=np.float64)
        if weights.ndim == 0:
            weights = np.full(n_samples, float(weights))
        if weights.shape != (n_samples,):
            raise ValueError(f"sample_weight must have shape ({n_samples},), got {weights.shape}.")
        if np.any(weights < 0) or not np.all(np.isfinite(weights)):
            raise ValueError("sample_weight must be finite and non-negative.")
        return weights

    # ------------------------------------------------------------------ training
    def _start(self, n_features, dtype):
        self.weights_ = np.zeros(n_features, dtype=dtype)
        self.bias_ = -float(self.threshold)
        self.errors_ = []
        self.n_epochs_ = 0
        self.converged_ = False
        self.weights_history_ = self.weights_[None].copy()
        self.bias_history_ = np.array([self.bias_])
        self._rng = _generator(self.random_state)

    def fit(self, x, y, sample_weight=None):
        """Learn weights and bias from (x, y), epoch after epoch, until an epoch has no mistake.

        x: (n_samples, n_features); y: (n_samples,) with the activation's two values
        (0/1 for 'step', -1/+1 for 'sign'); sample_weight scales each sample's update
        (w <- w + eta s (t - o) x; a weight of 0 drops the sample). Returns self.
        """
        self._check_params()
        x = self._check_x(x)
        self._start(x.shape[1], x.dtype)
        self._train(x, y, sample_weight, self.max_epochs, warn=True)
        return self

    def partial_fit(self, x, y, sample_weight=None):
        """One epoch of the learning rule on (x, y), continuing from the current weights."""
        self._check_params()
        fitted = hasattr(self, "weights_")
        x = self._check_x(x, fitted=fitted)
        if not fitted:
            self._start(x.shape[1], x.dtype)
        self._train(x, y, sample_weight, 1, warn=False)
        return self

    def _train(self, x, y, sample_weight, epochs, warn):
        n_samples = len(x)
        if n_samples == 0:
            raise ValueError("x has no samples: the perceptron needs at least one to learn from.")
        target_upper = self._check_targets(y, n_samples)
        weights = self._check_sample_weight(sample_weight, n_samples)
        # zero-weight samples neither move the hyperplane nor count as mistakes
        keep = np.flatnonzero(weights > 0)
        x, target_upper, weights = x[keep], target_upper[keep], weights[keep]
        lower, upper = _ACTIVATIONS[self.activation]
        # the update of a misclassified sample, found once: eta s (t - o), o being the other value
        step = self.learning_rate * weights * np.where(target_upper, upper - lower, lower - upper)
        step_list, upper_list, rows = step.tolist(), target_upper.tolist(), list(x)
        w = self.weights_
        b = self.bias_
        learn_bias = bool(self.fit_intercept)
        allowed = 0 if self.tol is None else int(np.floor(self.tol * len(rows)))
        history_w, history_b = [], []
        errors = 0
        for _ in range(epochs):
            order = self._rng.permutation(len(rows)).tolist() if self.shuffle else range(len(rows))
            errors = 0
            for i in order:
                row = rows[i]
                fires = float(_z(row, w, b)) >= 0.0  # one product and sum of n_features per sample
                if fires != upper_list[i]:
                    w += step_list[i] * row  # in place: one temporary of n_features
                    if learn_bias:
                        b += step_list[i]
                    errors += 1
            self.errors_.append(errors)
            self.n_epochs_ += 1
            history_w.append(w.copy())
            history_b.append(b)
            if errors <= allowed:
                break
        self.bias_ = float(b)
        self.converged_ = errors <= allowed
        self.weights_history_ = np.concatenate([self.weights_history_, np.array(history_w, dtype=w.dtype)])
        self.bias_history_ = np.concatenate([self.bias_history_, history_b])
        if warn and not self.converged_:
            warnings.warn(_not_separable_message(errors, len(rows), self.n_epochs_), self._convergence_warning,
                          stacklevel=3)

    # ------------------------------------------------------------------ inference
    def _check_fitted(self):
        if not hasattr(self, "weights_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet: call fit(x, y) first.")

    def decision_function(self, x):
        """z = w . x + b for each sample (n_samples,): positive side fires, z = 0 on the boundary."""
        self._check_fitted()
        x = self._check_x(x, fitted=True)
        return _z(x, self.weights_, self.bias_)

    def predict(self, x):
        """o = f(w . x + b): the upper output (1 or +1) where z >= 0, the lower (0 or -1) elsewhere."""
        lower, upper = _ACTIVATIONS[self.activation]
        return np.where(self.decision_function(x) >= 0, upper, lower)

    def score(self, x, y, sample_weight=None):
        """Accuracy: the (weighted) fraction of samples whose prediction equals the target."""
        y = np.asarray(y).reshape(-1)
        correct = (self.predict(x) == y).astype(np.float64)
        return float(np.average(correct, weights=sample_weight))


__all__ = ["ConvergenceWarning", "Perceptron"]
