"""Keras 3's remaining optimizers: Lamb (large batches), Ftrl (sparse linear models), Adafactor (factored memory).

Each follows Keras 3's equations (and defaults); ``t`` is ``iterations + 1``, the number of
the step being taken, and every step starts with the shared skeleton of
:mod:`.base` (clipping, decoupled weight decay).
"""

from __future__ import annotations

import math

from .. import backend
from .adam import _update_moments
from .base import Optimizer, _as_variable_list
from .sgd import _check_unit_interval


class Lamb(Optimizer):
    """LAMB (You et al. 2020, "Large Batch Optimization for Deep Learning"): Adam with a layer-wise trust ratio.

        m <- beta_1 m + (1 - beta_1) g;   v <- beta_2 v + (1 - beta_2) g^2
        r  = (m / (1 - beta_1^t)) / (sqrt(v / (1 - beta_2^t)) + epsilon)
        ratio = ||w|| / ||r||   (1 when either norm is 0), per variable
        w <- w - eta * ratio * r

    Keras 3's form: decoupled ``weight_decay`` is applied before the step (the paper adds
    lambda w to r inside the ratio instead), and epsilon is added to the bias-corrected
    sqrt(v_hat). With a ParameterBuffer the norms are segment sums over the variables.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name="lamb", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name, **kwargs)
        self.beta_1 = _check_unit_interval("beta_1", beta_1)
        self.beta_2 = _check_unit_interval("beta_2", beta_2)
        self.epsilon = float(epsilon)

    def _slot_names(self):
        return ("momentum", "velocity")

    def _update_step(self, group, gradient, learning_rate):
        xp = backend.namespace(gradient)
        t = self._local_step
        m, v, r, w = group.slots["momentum"], group.slots["velocity"], group.scratch(0), group.value
        _update_moments(xp, m, v, gradient, self.beta_1, self.beta_2, r)
        xp.divide(v, 1.0 - self.beta_2 ** t, out=r)
        xp.sqrt(r, out=r)
        r += self.epsilon
        xp.divide(m, r, out=r)
        r /= 1.0 - self.beta_1 ** t                      # r = m_hat / (sqrt(v_hat) + eps)
        w_norm = xp.sqrt(group.squared_norms(w))
        r_norm = xp.sqrt(group.squared_norms(r, "r_norm"))
        defined = (w_norm > 0) & (r_norm > 0)
        ratios = xp.where(defined, w_norm / xp.where(defined, r_norm, 1.0), 1.0)
        group.scale_segments(r, learning_rate * ratios, out=r)
        w -= r                                           # w <- w - eta ratio r

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config


def _non_negative(name, value, upper=False):
    if upper and value > 0:
        raise ValueError(f"`{name}` needs to be negative or zero. Received: {name}={value}.")
    if not upper and value < 0:
        raise ValueError(f"`{name}` needs to be positive or zero. Received: {name}={value}.")
    return float(value)


class Ftrl(Optimizer):
    """FTRL-Proximal (McMahan et al. 2013, "Ad Click Prediction: a View from the Trenches"), Keras 3's form.

    With p = -learning_rate_power (1/2 by default), lambda_1 = l1_regularization_strength,
    lambda_2 = l2_regularization_strength + beta / (2 eta) and
    g' = g + 2 l2_shrinkage_regularization_strength w:

        n_new = n + g^2                                   (n starts at initial_accumulator_value)
        z <- z + g' - (n_new^p - n^p) / eta * w
        w <- (clip(z, -lambda_1, lambda_1) - z) / (n_new^p / eta + 2 lambda_2)
        n <- n_new

    so a coordinate whose |z| stays below lambda_1 is exactly 0 (sparse models), and each
    coordinate's step shrinks as its squared gradients accumulate (as AdaGrad's).
    """

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name="ftrl", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name, **kwargs)
        self.initial_accumulator_value = _non_negative("initial_accumulator_value", initial_accumulator_value)
        self.learning_rate_power = _non_negative("learning_rate_power", learning_rate_power, upper=True)
        self.l1_regularization_strength = _non_negative("l1_regularization_strength", l1_regularization_strength)
        self.l2_regularization_strength = _non_negative("l2_regularization_strength", l2_regularization_strength)
        self.l2_shrinkage_regularization_strength = _non_negative("l2_shrinkage_regularization_strength",
                                                                  l2_shrinkage_regularization_strength)
        self.beta = float(beta)

    def _slot_names(self):
        return ("accumulator", "linear")

    def _slot_initial_value(self, slot):
        return self.initial_accumulator_value if slot == "accumulator" else 0.0

    def _update_step(self, group, gradient, learning_rate):
        xp = backend.namespace(gradient)
        n, z, w = group.slots["accumulator"], group.slots["linear"], group.value
        power = -self.learning_rate_power
        l1 = self.l1_regularization_strength
        l2 = self.l2_regularization_strength + self.beta / (2.0 * learning_rate)
        old, s = group.scratch(0), group.scratch(1)
        xp.power(n, power, out=old)                      # n^p
        xp.multiply(gradient, gradient, out=s)
        n += s                                           # n <- n + g^2
        xp.power(n, power, out=s)                        # n_new^p
        old -= s
        old /= learning_rate
        old *= w                                         # -(n_new^p - n^p) / eta * w
        z += gradient
        if self.l2_shrinkage_regularization_strength:
            z += (2.0 * self.l2_shrinkage_regularization_strength) * w
        z += old
        s /= learning_rate
        s += 2.0 * l2                                    # quadratic = n_new^p / eta + 2 lambda_2
        xp.clip(z, -l1, l1, out=old)
        old -= z
        xp.divide(old, s, out=w)                         # w <- (clip(z) - z) / quadratic

    def get_config(self):
        config = super().get_config()
        config.update({
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1_regularization_strength,
            "l2_regularization_strength": self.l2_regularization_strength,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
            "beta": self.beta,
        })
        return config


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern 2018): Adam-like scaling with a factored second moment, Keras 3's form.

        rho = min(eta, 1 / sqrt(t));   alpha = max(epsilon_2, RMS(w)) rho   (a step relative to w's size)
        beta_2t = 1 - t^beta_2_decay;  G = g^2 + epsilon_1
        for w with 2 or more axes (the last two factored):
            R <- beta_2t R + (1 - beta_2t) mean(G, axis=-1)       (one number per row)
            C <- beta_2t C + (1 - beta_2t) mean(G, axis=-2)       (one number per column)
            V  = (R / mean(R, axis=-1)) outer C
        for vectors and scalars: V <- beta_2t V + (1 - beta_2t) G
        U = g / sqrt(V);   U <- U / max(1, RMS(U) / clip_threshold)
        w <- w - alpha U

    R and C hold rows + columns numbers instead of rows x columns (the memory the paper
    saves); V is kept too, as Keras does. RMS(x) = sqrt(mean(x^2)) over the variable. The
    state has the shapes of R and C, so each variable is updated on its own (no flat-buffer
    pass).
    """

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                 relative_step=True, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="adafactor", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name, **kwargs)
        self.beta_2_decay = float(beta_2_decay)
        self.epsilon_1 = float(epsilon_1)
        self.epsilon_2 = float(epsilon_2)
        self.clip_threshold = float(clip_threshold)
        self.relative_step = bool(relative_step)

    def _slot_names(self):
        return ("row", "column", "velocity")

    def build(self, variables) -> None:
        for v in _as_variable_list(variables):
            self._state_of(v)

    def step(self, variables) -> None:
        """One update from the variables' ``.grad``, variable by variable (the factored state has its own shapes)."""
        if hasattr(variables, "tensors"):
            variables = variables.tensors
        self._apply_pairs([(v.grad, v) for v in _as_variable_list(variables)])

    def _state_of(self, variable):
        index = self._index.get(id(variable))
        if index is not None and self._variables[index] is variable:
            return self._state[index]
        index = self._new_index(variable)
        xp = backend.namespace(variable.data)
        shape = tuple(variable.data.shape)
        factored = len(shape) >= 2
        shapes = {"row": shape[:-1] if factored else (), "column": shape[:-2] + shape[-1:] if factored else ()}
        self._state[index] = {slot: xp.zeros(shapes.get(slot, shape), dtype=variable.data.dtype)
                              for slot in self._all_slot_names()}
        self._apply_pending_state()
        return self._state[index]

    def _update_step(self, group, gradient, learning_rate):
        xp = backend.namespace(gradient)
        t = self._local_step
        w = group.value
        lr = learning_rate
        if not callable(self._learning_rate) and self.relative_step:
            lr = min(lr, 1.0 / math.sqrt(t))
        rho = min(lr, 1.0 / math.sqrt(t))
        alpha = max(self.epsilon_2, float(xp.sqrt(xp.mean(w * w)))) * rho
        regulated = gradient * gradient + self.epsilon_1
        beta_2t = 1.0 - t ** self.beta_2_decay
        v = group.slots["velocity"]
        if w.ndim >= 2:
            r, c = group.slots["row"], group.slots["column"]
            r[...] = beta_2t * r + (1.0 - beta_2t) * regulated.mean(axis=-1)
            c[...] = beta_2t * c + (1.0 - beta_2t) * regulated.mean(axis=-2)
            v[...] = (r / r.mean(axis=-1, keepdims=True))[..., None] * c[..., None, :]
        else:
            v[...] = beta_2t * v + (1.0 - beta_2t) * regulated
        update = gradient / xp.sqrt(v)
        update /= max(1.0, float(xp.sqrt(xp.mean(update * update))) / self.clip_threshold)
        w -= alpha * update

    def get_config(self):
        config = super().get_config()
        config.update({"beta_2_decay": self.beta_2_decay, "epsilon_1": self.epsilon_1, "epsilon_2": self.epsilon_2,
                       "clip_threshold": self.clip_threshold, "relative_step": self.relative_step})
        return config
