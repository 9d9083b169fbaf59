"""Toy data sets drawn at random: the shapes a course uses to show what a network can learn.

``make_moons`` and ``make_circles`` follow scikit-learn's definitions and argument
names (the random streams differ: deepgrad draws from its own generators). Every
generator returns ``x`` as float32; class labels are int64 ids 0..K-1.
Randomness comes from ``random_state`` when given, else from deepgrad's global seed
(``deepgrad.manual_seed``), so runs repeat.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..backend import new_generator


def _check_count(n_samples, name="n_samples", minimum=1) -> int:
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n_samples!r}.")
    return int(n_samples)


def _check_noise(noise) -> float:
    noise = 0.0 if noise is None else noise
    if not isinstance(noise, numbers.Real) or not noise >= 0:
        raise ValueError(f"noise must be a standard deviation >= 0 (or None), got {noise!r}.")
    return float(noise)


def _split_in_two(n_samples):
    """(outer, inner) counts: an int is split n // 2 and n - n // 2, a pair is taken as is."""
    if isinstance(n_samples, (tuple, list)):
        if len(n_samples) != 2:
            raise ValueError(f"n_samples as a sequence must have two elements (outer, inner), got {n_samples!r}.")
        return _check_count(n_samples[0], "n_samples[0]", 0), _check_count(n_samples[1], "n_samples[1]", 0)
    n_samples = _check_count(n_samples)
    return n_samples // 2, n_samples - n_samples // 2


def _finish(x, y, shuffle, noise, rng):
    """Shuffle rows, add N(0, noise^2) to every coordinate, cast to float32 / int64."""
    if shuffle:
        order = rng.permutation(len(x))
        x, y = x[order], y[order]
    if noise:
        x = x + rng.normal(scale=noise, size=x.shape)
    return x.astype(np.float32), y.astype(np.int64)


def make_moons(n_samples=100, *, shuffle=True, noise=None, random_state=None):
    """Two interleaving half circles (scikit-learn's ``make_moons``).

    Outer moon, t in [0, pi] evenly spaced: (cos t, sin t), class 0.
    Inner moon: (1 - cos t, 1 - sin t - 0.5), class 1 (the same half circle turned over
    and shifted by (1, 0.5)). Then Gaussian noise with standard deviation ``noise``.
    ``n_samples`` is a total (split n // 2 outer, the rest inner) or a pair (outer, inner).

    Returns ``(x, y)``: x float32 (n, 2), y int64 (n,).
    """
    n_outer, n_inner = _split_in_two(n_samples)
    noise = _check_noise(noise)
    rng = new_generator(random_state)
    t_outer = np.linspace(0, np.pi, n_outer)
    t_inner = np.linspace(0, np.pi, n_inner)
    x = np.concatenate([np.stack([np.cos(t_outer), np.sin(t_outer)], axis=1),
                        np.stack([1 - np.cos(t_inner), 1 - np.sin(t_inner) - 0.5], axis=1)])
    y = np.concatenate([np.zeros(n_outer), np.ones(n_inner)])
    return _finish(x, y, shuffle, noise, rng)


def make_circles(n_samples=100, *, shuffle=True, noise=None, random_state=None, factor=0.8):
    """A small circle inside a large one (scikit-learn's ``make_circles``).

    Outer circle, t = 2 pi k / n_outer: (cos t, sin t), class 0; inner circle, radius
    ``factor`` in [0, 1): factor (cos t, sin t), class 1. Then Gaussian noise with
    standard deviation ``noise``. ``n_samples`` is a total or a pair (outer, inner).

    Returns ``(x, y)``: x float32 (n, 2), y int64 (n,).
    """
    if not isinstance(factor, numbers.Real) or not 0 <= factor < 1:
        raise ValueError(f"factor (inner radius / outer radius) must be in [0, 1), got {factor!r}.")
    n_outer, n_inner = _split_in_two(n_samples)
    noise = _check_noise(noise)
    rng = new_generator(random_state)
    t_outer = np.linspace(0, 2 * np.pi, n_outer, endpoint=False)
    t_inner = np.linspace(0, 2 * np.pi, n_inner, endpoint=False)
    x = np.concatenate([np.stack([np.cos(t_outer), np.sin(t_outer)], axis=1),
                        factor * np.stack([np.cos(t_inner), np.sin(t_inner)], axis=1)])
    y = np.concatenate([np.zeros(n_outer), np.ones(n_inner)])
    return _finish(x, y, shuffle, noise, rng)


def make_xor(n_samples=200, noise=0.0, random_state=None):
    """The XOR problem in the plane: a class per pair of opposite quadrants.

    x ~ Uniform([-1, 1]^2); y = 1 when x1 and x2 have opposite signs (x1 x2 < 0), else 0
    (the truth table of XOR on the signs). No single line separates the classes, one
    hidden layer does. Gaussian noise of standard deviation ``noise`` is added to x
    after labelling, so points near the axes may cross over.

    Returns ``(x, y)``: x float32 (n, 2), y int64 (n,).
    """
    n_samples = _check_count(n_samples)
    noise = _check_noise(noise)
    rng = new_generator(random_state)
    x = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
    y = (x[:, 0] * x[:, 1] < 0)
    return _finish(x, y, False, noise, rng)


def make_spirals(n_samples=200, n_classes=2, noise=0.0, random_state=None, turns=1.0):
    """Interleaved spiral arms, one per class.

    Point j of class k (t = j / (m_k - 1) in [0, 1]): radius r = t, angle
    theta = 2 pi (turns t + k / n_classes), x = r (cos theta, sin theta), plus Gaussian
    noise of standard deviation ``noise``. Samples are shared out as evenly as possible
    (the first n_samples mod n_classes classes get one more).

    Returns ``(x, y)``: x float32 (n, 2), y int64 (n,), shuffled.
    """
    n_samples = _check_count(n_samples)
    n_classes = _check_count(n_classes, "n_classes")
    if n_samples < n_classes:
        raise ValueError(f"n_samples={n_samples} is fewer than n_classes={n_classes}: each arm needs a point.")
    noise = _check_noise(noise)
    rng = new_generator(random_state)
    counts = np.full(n_classes, n_samples // n_classes)
    counts[: n_samples % n_classes] += 1
    y = np.repeat(np.arange(n_classes), counts)
    # position along each arm: 0 at the centre, 1 at the tip
    t = np.concatenate([np.linspace(0.0, 1.0, m) for m in counts])
    theta = 2 * np.pi * (turns * t + y / n_classes)
    x = t[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    return _finish(x, y, True, noise, rng)


def make_sine(n_samples=200, noise=0.0, random_state=None, x_range=(-np.pi, np.pi), evenly_spaced=False):
    """Samples of y = sin(x) + noise: the universal approximation demonstration.

    x ~ Uniform(x_range) sorted ascending (or evenly spaced over x_range, ends included,
    with ``evenly_spaced=True``); y = sin(x) + e with e ~ N(0, noise^2). A network with
    one hidden layer learns this curve from the points.

    Returns ``(x, y)``: both float32 of shape (n, 1), ready for ``Dense(1)`` regression.
    """
    n_samples = _check_count(n_samples)
    noise = _check_noise(noise)
    low, high = (float(v) for v in x_range)
    if not low < high:
        raise ValueError(f"x_range must be (low, high) with low < high, got {x_range!r}.")
    rng = new_generator(random_state)
    x = np.linspace(low, high, n_samples) if evenly_spaced else np.sort(rng.uniform(low, high, n_samples))
    y = np.sin(x)
    if noise:
        y = y + rng.normal(scale=noise, size=n_samples)
    return x[:, None].astype(np.float32), y[:, None].astype(np.float32)
