"""Bayesian optimization: a Gaussian-process model of the score chooses where to look next.

Each hyperparameter maps to [0, 1] (see :mod:`deepgrad.tuner.hyperparameters`), so a trial
is a point x of the unit cube and its score y an observation of an unknown function f.
With observations (X, y), y standardized to mean 0 and variance 1 and kernel

    Matern-5/2:  k(x, x') = (1 + sqrt(5) r / l + 5 r^2 / (3 l^2)) exp(-sqrt(5) r / l),  r = |x - x'|,

the posterior at a point x is (K = k(X, X) + alpha I = L L^T, Cholesky)

    mu(x)      = k(x, X) K^-1 y
    sigma^2(x) = k(x, x) - k(x, X) K^-1 k(X, x).

The length scale l is the one of a log-spaced grid with the largest log marginal
likelihood  -1/2 y^T K^-1 y - sum(log diag L) - n/2 log(2 pi).

The next trial maximizes the expected improvement over the best score so far (scores
turned into a quantity to minimize, best y*):

    EI(x) = (y* - mu - xi) Phi(z) + sigma phi(z),  z = (y* - mu - xi) / sigma,

over random candidate points of the cube (uniform ones plus some near the best point).
``acquisition='ucb'`` instead minimizes KerasTuner's confidence bound mu - beta sigma.

The first ``num_initial_points`` trials are random. A parallel search asks for a batch
of trials (one per worker) before their results exist; each trial of a batch counts the
ones chosen before it as observed at the posterior mean ("kriging believer"), so a batch
spreads out instead of repeating one point.
"""

from __future__ import annotations

import math

import numpy as np

from .oracle import Oracle
from .trial import TrialStatus

_SQRT5 = math.sqrt(5.0)


def matern52(a, b, length_scale):
    """The Matern-5/2 kernel matrix between the rows of ``a`` (n, d) and ``b`` (m, d): shape (n, m)."""
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    r = np.sqrt(np.maximum(squared, 0.0)) / length_scale
    return (1.0 + _SQRT5 * r + (5.0 / 3.0) * r * r) * np.exp(-_SQRT5 * r)


def normal_cdf(z):
    """Phi(z) = (1 + erf(z / sqrt 2)) / 2, erf by Abramowitz & Stegun 7.1.26 (error below 1.5e-7)."""
    x = np.abs(z) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-x * x)
    return 0.5 * (1.0 + np.sign(z) * erf)


def normal_pdf(z):
    """phi(z) = exp(-z^2 / 2) / sqrt(2 pi)."""
    return np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def expected_improvement(mu, sigma, best, xi=0.01):
    """EI for minimization: (best - mu - xi) Phi(z) + sigma phi(z), z = (best - mu - xi) / sigma."""
    sigma = np.maximum(sigma, 1e-12)
    improvement = best - mu - xi
    z = improvement / sigma
    return improvement * normal_cdf(z) + sigma * normal_pdf(z)


class GaussianProcess:
    """GP regression with a Matern-5/2 kernel, noise ``alpha`` on the diagonal and standardized targets."""

    def __init__(self, alpha=1e-4, length_scales=None):
        self.alpha = float(alpha)
        self.length_scales = np.logspace(-1.5, 0.5, 13) if length_scales is None else np.asarray(length_scales)

    def fit(self, x, y) -> "GaussianProcess":
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        self.y_mean = y.mean()
        self.y_std = y.std() if y.std() > 0 else 1.0
        target = (y - self.y_mean) / self.y_std
        best = None
        for length_scale in self.length_scales:
            factor = self._cholesky(matern52(x, x, length_scale))
            weights = np.linalg.solve(factor.T, np.linalg.solve(factor, target))  # K^-1 y
            likelihood = (-0.5 * target @ weights - np.log(np.diag(factor)).sum()
                          - 0.5 * len(x) * math.log(2 * math.pi))
            if best is None or likelihood > best[0]:
                best = (likelihood, length_scale, factor, weights)
        self.log_marginal_likelihood, self.length_scale, self._factor, self._weights = best
        self._x = x
        return self

    def _cholesky(self, kernel):
        jitter = self.alpha
        for _ in range(6):  # nearly equal points make K singular: add noise until it factors
            try:
                return np.linalg.cholesky(kernel + jitter * np.eye(len(kernel)))
            except np.linalg.LinAlgError:
                jitter *= 10.0
        raise np.linalg.LinAlgError("the kernel matrix is not positive definite even with added noise.")

    def predict(self, x):
        """Posterior mean and standard deviation at the rows of ``x``, in the units of y."""
        x = np.asarray(x, dtype=np.float64)
        cross = matern52(x, self._x, self.length_scale)  # (m, n)
        mean = cross @ self._weights
        v = np.linalg.solve(self._factor, cross.T)  # L^-1 k(X, x)
        variance = np.maximum(1.0 - (v * v).sum(0), 1e-12)
        return mean * self.y_std + self.y_mean, np.sqrt(variance) * self.y_std


class BayesianOptimizationOracle(Oracle):
    """Chooses trials by expected improvement under a Gaussian-process model of the score."""

    synchronous = True

    def __init__(self, objective=None, max_trials=10, num_initial_points=None, alpha=1e-4, beta=2.6,
                 seed=None, acquisition="ei", num_candidates=2000, **kwargs):
        super().__init__(objective=objective, max_trials=max_trials, seed=seed, **kwargs)
        if acquisition not in ("ei", "ucb"):
            raise ValueError(f"acquisition must be 'ei' (expected improvement) or 'ucb', got {acquisition!r}.")
        if num_initial_points is not None and num_initial_points < 1:
            raise ValueError(f"num_initial_points must be at least 1, got {num_initial_points!r}.")
        self.num_initial_points = num_initial_points
        self.alpha = alpha
        self.beta = beta
        self.acquisition = acquisition
        self.num_candidates = int(num_candidates)

    def _tunable(self):
        return [hp for hp in self.hyperparameters.space if self.is_tuned(hp)]

    def _encode(self, values, dims):
        return [hp.value_to_prob(values[hp.name] if hp.name in values else hp.default) for hp in dims]

    def _decode(self, point, dims):
        position = {hp.name: i for i, hp in enumerate(dims)}
        values = {}
        for hp in self.hyperparameters.space:
            if hp.is_active(values):
                values[hp.name] = (hp.prob_to_value(float(point[position[hp.name]])) if hp.name in position
                                   else self.untuned_value(hp))
        return values

    def _sample(self, rng, previous):
        dims = self._tunable()
        initial = self.num_initial_points or max(3 * len(dims), 2)
        done = [t for t in self.trials.values()
                if t.status == TrialStatus.COMPLETED and t.score is not None and math.isfinite(t.score)]
        if previous is not None or not dims or len(self.trials) < initial or len(done) < 2:
            return self._random_values(rng)
        sign = -1.0 if self.objective.direction == "max" else 1.0
        x = np.array([self._encode(t.hyperparameters.values, dims) for t in done])
        y = sign * np.array([t.score for t in done])
        process = GaussianProcess(self.alpha).fit(x, y)
        pending = [t for t in self.ongoing_trials()]
        if pending:  # kriging believer: chosen-but-unfinished trials count as observed at the posterior mean
            x_pending = np.array([self._encode(t.hyperparameters.values, dims) for t in pending])
            x = np.concatenate([x, x_pending])
            y = np.concatenate([y, process.predict(x_pending)[0]])
            process = GaussianProcess(self.alpha).fit(x, y)
        best_point = x[int(np.argmin(y))]
        local = np.clip(best_point + 0.05 * rng.standard_normal((self.num_candidates // 4, len(dims))), 0, 1)
        candidates = np.concatenate([rng.random((self.num_candidates, len(dims))), local])
        mean, std = process.predict(candidates)
        if self.acquisition == "ei":
            score = expected_improvement(mean, std, y.min())
        else:
            score = -(mean - self.beta * std)
        return self._decode(candidates[int(np.argmax(score))], dims)

    def get_state(self):
        return {**super().get_state(), "num_initial_points": self.num_initial_points}


__all__ = ["BayesianOptimizationOracle", "GaussianProcess", "matern52", "expected_improvement", "normal_cdf"]
