"""Normalization layers: BatchNormalization and LayerNormalization."""

from __future__ import annotations

import math

import numpy as np

from .. import backend, distribution
from ..ops.replay import drawn, effect
from ..tensor import Tensor, make_result
from .base import Layer, check_axes, check_number


def _normalized_axes(axis, ndim):
    axes = [axis] if isinstance(axis, int) else list(axis)
    return sorted(a % ndim for a in axes)


def synchronized_mean(x, axes, parallel) -> Tensor:
    """The mean over ``axes`` of the global batch, every data-parallel rank's part of it (one Allreduce).

    Forward: m = (sum over the ranks of each rank's sum of x) / N, N the global count.
    Backward: rank r's loss counts s_r = n_r / B in the global loss and the gradient Allreduce
    scales rank r's gradients by s_r, so the gradient this rank sends into its x is
    dL/dx_i = (sum_r' s_r' dL_r'/dm) / (s_r N): the ranks' upstream gradients of m, added in
    a second Allreduce. Keras's ``BatchNormalization(synchronized=True)``.
    """
    data = x.data
    xp = backend.namespace(data)
    sums = data.sum(axis=axes, keepdims=True, dtype=np.float64)
    packed = parallel.sum_values(np.concatenate([backend.to_numpy(sums).reshape(-1),
                                                 [math.prod(data.shape[a] for a in axes)]]))
    count = packed[-1]
    mean = xp.asarray((packed[:-1] / count).reshape(sums.shape).astype(data.dtype))
    batch = parallel.batch
    share = (batch[2] - batch[1]) / batch[0] if batch else 1.0 / parallel.size

    def backward(g):
        summed = parallel.sum_values(backend.to_numpy(g).reshape(-1) * share).reshape(g.shape) / (share * count)
        return (xp.broadcast_to(xp.asarray(summed.astype(data.dtype)), data.shape),)

    return make_result(mean, (x,), backward, "synchronized_mean")


class BatchNormalization(Layer):
    """Normalizes each feature over the batch, then scales and shifts it.

    Training:  x_hat = (x - mu_B) / sqrt(var_B + epsilon),  y = gamma * x_hat + beta,
    with mu_B, var_B the mean and (biased) variance over the batch (every axis except
    ``axis``), and the moving statistics updated as
    moving = momentum * moving + (1 - momentum) * batch_statistic.
    Inference: the moving mean and variance replace the batch statistics. A frozen
    layer (``trainable=False``) always runs in inference mode, also under
    ``training=True``, as in Keras 3: fine-tuning a network around a frozen
    BatchNormalization neither uses nor updates its statistics.

    gamma and beta are trainable; moving_mean and moving_variance are not (they count
    as non-trainable parameters in ``summary()``). ``epsilon`` must be > 0 and
    ``momentum`` in [0, 1].

    In data-parallel training (:mod:`deepgrad.distribution`) each rank normalizes its part of
    the batch with that part's statistics; ``synchronized=True`` uses the statistics of the
    whole global batch instead (:func:`synchronized_mean`), which trains exactly as one
    process does. Without a distribution it changes nothing.

    ``renorm=True`` is batch renormalization (Ioffe, 2017), Keras 3's formula: with
    sigma_B = sqrt(var_B + epsilon) and the renorm moving statistics mu_R, sigma_R
    (sigma_R floored at sqrt(epsilon)), training computes
    r = clip(sigma_B / sigma_R, rmin, rmax), d = clip((mu_B - mu_R) / sigma_R, -dmax, dmax)
    (no gradient through r and d) and y = gamma * (x_hat * r + d) + beta; then
    mu_R, sigma_R move towards mu_B, sigma_B with ``renorm_momentum``, and the inference
    statistics with ``momentum``: moving_mean as above, moving_stddev towards sigma_B and
    moving_variance = max(moving_stddev^2 - epsilon, 0). ``renorm_clipping`` is a dict
    with keys among 'rmax', 'rmin', 'dmax' (a missing key: no clipping on that side).
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, synchronized=False, renorm=False, renorm_clipping=None,
                 renorm_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self.renorm = bool(renorm)
        self.renorm_clipping = _check_renorm_clipping(renorm_clipping) if self.renorm else renorm_clipping
        self.renorm_momentum = check_number("BatchNormalization", "renorm_momentum", renorm_momentum, 0, 1)
        self.axis = check_axes("BatchNormalization", "axis", axis)
        self.momentum = check_number("BatchNormalization", "momentum", momentum, 0, 1)
        self.epsilon = check_number("BatchNormalization", "epsilon", epsilon, 0, low_open=True)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self.beta_regularizer = beta_regularizer
        self.gamma_regularizer = gamma_regularizer
        self.beta_constraint = beta_constraint
        self.gamma_constraint = gamma_constraint
        self.synchronized = synchronized
        self.gamma = self.beta = None

    def build(self, input_shape):
        ndim = len(input_shape)
        self._axes = _normalized_axes(self.axis, ndim)
        shape = tuple(input_shape[a] for a in self._axes)
        if any(s is None for s in shape):
            raise ValueError(f"BatchNormalization {self.name!r}: axis {self.axis} of {input_shape} must be known.")
        # statistics broadcast against inputs: size 1 on the reduced axes
        self._broadcast = tuple(input_shape[a] if a in self._axes else 1 for a in range(ndim))[1:]
        self._reduce = tuple(a for a in range(ndim) if a not in self._axes)
        if self.scale:
            self.gamma = self.add_weight(shape, self.gamma_initializer, regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint, name="gamma")
        if self.center:
            self.beta = self.add_weight(shape, self.beta_initializer, regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint, name="beta")
        self.moving_mean = self.add_weight(shape, self.moving_mean_initializer, trainable=False,
                                           name="moving_mean")
        self.moving_variance = self.add_weight(shape, self.moving_variance_initializer, trainable=False,
                                               name="moving_variance")
        if self.renorm:  # Keras's extra statistics: standard deviations start at sqrt(moving variance init)
            self.moving_stddev = self.add_weight(shape, self.moving_variance_initializer, trainable=False,
                                                 name="moving_stddev")
            self.renorm_mean = self.add_weight(shape, self.moving_mean_initializer, trainable=False,
                                               name="renorm_mean")
            self.renorm_stddev = self.add_weight(shape, self.moving_variance_initializer, trainable=False,
                                                 name="renorm_stddev")
            for stddev in (self.moving_stddev, self.renorm_stddev):
                stddev.data[...] = backend.namespace(stddev.data).sqrt(stddev.data)

    def _shaped(self, t):
        return t.reshape((1,) + self._broadcast)

    def call(self, inputs, training=False):
        if training and self.trainable:
            parallel = distribution.active() if self.synchronized else None
            if parallel is not None:  # the statistics of the global batch, over every rank's part
                mean = synchronized_mean(inputs, tuple(self._reduce), parallel)
                centered = inputs - mean
                variance = synchronized_mean(centered * centered, tuple(self._reduce), parallel)
            else:
                mean = inputs.mean(axis=self._reduce, keepdims=True)
                centered = inputs - mean
                variance = (centered * centered).mean(axis=self._reduce, keepdims=True)
            # moving statistics: plain array arithmetic, no graph
            m = self.momentum
            batch_mean = mean.data.reshape(self.moving_mean.shape)
            batch_var = variance.data.reshape(self.moving_variance.shape)
            normalized = centered / (variance + self.epsilon).sqrt()
            if self.renorm:
                normalized = self._renormalized(normalized, batch_mean, batch_var)
            else:
                moving_mean, moving_variance = self.moving_mean.data, self.moving_variance.data

                def update():  # a compiled step runs it again after each replayed forward pass
                    moving_mean.__imul__(m)
                    moving_mean.__iadd__((1 - m) * batch_mean)
                    moving_variance.__imul__(m)
                    moving_variance.__iadd__((1 - m) * batch_var)

                effect(update)
        else:
            xp = backend.namespace(inputs.data)
            shape = (1,) + self._broadcast
            moving_variance, epsilon = self.moving_variance.data, self.epsilon
            inv_std = drawn(lambda: (1.0 / xp.sqrt(moving_variance + epsilon)).reshape(shape))
            normalized = (inputs - Tensor(self.moving_mean.data.reshape(shape))) * inv_std
        if self.scale:
            normalized = normalized * self._shaped(self.gamma)
        if self.center:
            normalized = normalized + self._shaped(self.beta)
        return normalized

    def _renormalized(self, normalized, batch_mean, batch_var):
        """x_hat * r + d (r, d constants), then the renorm and moving statistics updates (see the class)."""
        xp = backend.namespace(batch_mean)
        stddev = xp.sqrt(batch_var + self.epsilon)
        renorm_stddev = xp.maximum(self.renorm_stddev.data, math.sqrt(self.epsilon))
        r = stddev / renorm_stddev
        d = (batch_mean - self.renorm_mean.data) / renorm_stddev
        clipping = self.renorm_clipping or {}
        if clipping.get("rmin") is not None:
            r = xp.maximum(r, clipping["rmin"])
        if clipping.get("rmax") is not None:
            r = xp.minimum(r, clipping["rmax"])
        if clipping.get("dmax") is not None:
            d = xp.clip(d, -clipping["dmax"], clipping["dmax"])
        shape = (1,) + self._broadcast
        corrected = normalized * Tensor(r.reshape(shape).astype(normalized.dtype)) + \
            Tensor(d.reshape(shape).astype(normalized.dtype))
        rm, m = self.renorm_momentum, self.momentum
        self.renorm_mean.data[...] = self.renorm_mean.data * rm + batch_mean * (1 - rm)
        self.renorm_stddev.data[...] = self.renorm_stddev.data * rm + stddev * (1 - rm)
        self.moving_mean.data[...] = self.moving_mean.data * m + batch_mean * (1 - m)
        self.moving_stddev.data[...] = self.moving_stddev.data * m + stddev * (1 - m)
        self.moving_variance.data[...] = xp.maximum(self.moving_stddev.data ** 2 - self.epsilon, 0.0)
        return corrected

    def get_config(self):
        config = super().get_config()
        if self.renorm:
            config.update(renorm=True, renorm_clipping=self.renorm_clipping, renorm_momentum=self.renorm_momentum)
        config.update({
            "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
            "center": self.center, "scale": self.scale,
            **self.serialized("beta_initializer", "gamma_initializer", "moving_mean_initializer",
                              "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
                              "beta_constraint", "gamma_constraint"),
            "synchronized": self.synchronized,
        })
        return config


def _check_renorm_clipping(clipping):
    """``renorm_clipping`` as a dict with keys among rmax, rmin, dmax, checked as Keras checks it."""
    clipping = dict(clipping or {})
    keys = ("rmax", "rmin", "dmax")
    if set(clipping) - set(keys):
        raise ValueError(f"Received invalid keys for `renorm_clipping` argument: {clipping}. "
                         f"Supported values: {list(keys)}.")
    rmax, rmin, dmax = (clipping.get(k) for k in keys)
    if rmax is not None and rmin is not None and rmax < rmin:
        raise ValueError(f"rmax should be greater than rmin in the `renorm_clipping` argument. "
                         f"Received: rmax={rmax}, rmin={rmin}.")
    if dmax is not None and dmax < 0:
        raise ValueError(f"dmax should be non-negative in the `renorm_clipping` argument. Received: dmax={dmax}.")
    return clipping


class LayerNormalization(Layer):
    """Normalizes each sample over ``axis`` (the features), then scales and shifts it.

    y = gamma * (x - mu) / sqrt(var + epsilon) + beta, with mu and var (biased) computed
    per sample over ``axis``; the same in training and inference (Ba et al., 2016).

    ``rms_scaling=True`` computes what Keras 3 computes: y = gamma * x / sqrt(var + epsilon),
    with the same variance var = mean((x - mu)^2) but x itself not centered, and no beta
    (gamma is created even with ``scale=False``). It is not RMSNorm's x / sqrt(mean(x^2) + epsilon).
    ``epsilon`` must be > 0.
    """

    def __init__(self, axis=-1, epsilon=0.001, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = check_axes("LayerNormalization", "axis", axis)
        self.epsilon = check_number("LayerNormalization", "epsilon", epsilon, 0, low_open=True)
        self.center = bool(center)
        self.scale = bool(scale)
        self.rms_scaling = bool(rms_scaling)
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.beta_regularizer = beta_regularizer
        self.gamma_regularizer = gamma_regularizer
        self.beta_constraint = beta_constraint
        self.gamma_constraint = gamma_constraint
        self.gamma = self.beta = None

    def build(self, input_shape):
        ndim = len(input_shape)
        axes = [self.axis] if isinstance(self.axis, int) else self.axis
        if any(not -ndim <= a < ndim for a in axes) or 0 in _normalized_axes(self.axis, ndim):
            raise ValueError(f"LayerNormalization {self.name!r}: axis={self.axis} does not fit inputs of rank {ndim} "
                             f"{tuple(input_shape)}: each axis must lie in [{1 - ndim}, {ndim - 1}] and not be the "
                             "batch axis 0.")
        self._axes = tuple(_normalized_axes(self.axis, ndim))
        shape = tuple(input_shape[a] for a in self._axes)
        self._broadcast = tuple(input_shape[a] if a in self._axes else 1 for a in range(ndim))[1:]
        if self.scale or self.rms_scaling:
            self.gamma = self.add_weight(shape, self.gamma_initializer, regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint, name="gamma")
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight(shape, self.beta_initializer, regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint, name="beta")

    def call(self, inputs, training=False):
        centered = inputs - inputs.mean(axis=self._axes, keepdims=True)
        variance = (centered * centered).mean(axis=self._axes, keepdims=True)
        # rms_scaling divides x itself, not x - mu, by the standard deviation (Keras 3)
        normalized = (inputs if self.rms_scaling else centered) / (variance + self.epsilon).sqrt()
        if self.gamma is not None:
            normalized = normalized * self.gamma.reshape((1,) + self._broadcast)
        if self.beta is not None:
            normalized = normalized + self.beta.reshape((1,) + self._broadcast)
        return normalized

    def get_config(self):
        config = super().get_config()
        config.update({
            "axis": self.axis, "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
            "rms_scaling": self.rms_scaling,
            **self.serialized("beta_initializer", "gamma_initializer", "beta_regularizer", "gamma_regularizer",
                              "beta_constraint", "gamma_constraint"),
        })
        return config
