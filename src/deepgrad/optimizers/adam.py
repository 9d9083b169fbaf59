"""Adam and its relatives: momentum (first moment) plus RMSprop scaling (second moment).

Adam merges momentum with a per-weight learning-rate scaling (Kingma & Ba, "Adam: A Method
for Stochastic Optimization", ICLR 2015):

    m <- beta_1 m + (1 - beta_1) g             momentum: a running mean of g
    v <- beta_2 v + (1 - beta_2) g^2           RMSprop/AdaGrad: a running mean of g^2

both biased towards 0 early on and corrected by 1 / (1 - beta^t).
"""

from __future__ import annotations

import math

from .. import backend
from . import fused
from .base import Optimizer
from .sgd import _check_unit_interval


def _update_moments(xp, m, v, gradient, beta_1, beta_2, s):
    """m <- m + (1-beta_1)(g - m);  v <- v + (1-beta_2)(g^2 - v)  (Keras' form; uses scratch s)."""
    xp.subtract(gradient, m, out=s)
    s *= 1.0 - beta_1
    m += s
    xp.multiply(gradient, gradient, out=s)
    s -= v
    s *= 1.0 - beta_2
    v += s


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015): adaptive moment estimation.

        t  = iterations + 1
        m <- beta_1 m + (1 - beta_1) g
        v <- beta_2 v + (1 - beta_2) g^2
        v_max <- max(v_max, v);  v <- v_max          (amsgrad=True only)
        alpha = eta * sqrt(1 - beta_2^t) / (1 - beta_1^t)
        w <- w - alpha * m / (sqrt(v) + epsilon)

    This is the paper's "efficient" form and Keras 3's: epsilon is added to the
    uncorrected sqrt(v) ("epsilon hat"). PyTorch computes
    w <- w - eta/(1-beta_1^t) * m / (sqrt(v/(1-beta_2^t)) + eps), which equals the above with
    eps = epsilon / sqrt(1 - beta_2^t); sqrt(v_hat + eps), seen in some textbooks, is a third variant.
    All coincide when epsilon is negligible next to sqrt(v). Keras defaults epsilon=1e-7
    (PyTorch 1e-8).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, name="adam",
                 **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name, **kwargs)
        self.beta_1 = _check_unit_interval("beta_1", beta_1)
        self.beta_2 = _check_unit_interval("beta_2", beta_2)
        self.epsilon = float(epsilon)
        self.amsgrad = bool(amsgrad)

    def _slot_names(self):
        return ("momentum", "velocity") + (("velocity_hat",) if self.amsgrad else ())

    def _update_step(self, group, gradient, learning_rate):
        xp = backend.namespace(gradient)
        t = self._local_step
        alpha = learning_rate * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)
        if not self.amsgrad and self._fused_update(group, gradient, alpha):
            return
        m, v, s, w = group.slots["momentum"], group.slots["velocity"], group.scratch(0), group.value
        _update_moments(xp, m, v, gradient, self.beta_1, self.beta_2, s)
        if self.amsgrad:
            v_max = group.slots["velocity_hat"]
            xp.maximum(v_max, v, out=v_max)              # v_max <- max(v_max, v)
            v = v_max
        xp.sqrt(v, out=s)
        s += self.epsilon
        xp.divide(m, s, out=s)
        s *= alpha
        w -= s                                           # w <- w - alpha m / (sqrt(v) + eps)

    def _fused_update(self, group, gradient, alpha) -> bool:
        """The same equations in one compiled pass (see :mod:`.fused`); False when unavailable."""
        found = fused.for_arrays("adam", group.value, gradient, group.slots["momentum"], group.slots["velocity"])
        if found is None:
            return False
        kernel, arrays = found
        cast = arrays[0].dtype.type
        kernel(*arrays, cast(1.0 - self.beta_1), cast(1.0 - self.beta_2), cast(self.epsilon), cast(alpha))
        return True

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                       "amsgrad": self.amsgrad})
        return config


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019).

        w <- w - eta * weight_decay * w       (before the Adam step, not through g)
        w <- Adam step (see :class:`Adam`)

    Adding weight_decay * w to g instead (L2 regularization, PyTorch's Adam(weight_decay=))
    lets the adaptive denominator shrink the decay of parameters with large gradients;
    decoupling keeps it uniform. Matches Keras 3 (default weight_decay=0.004) and PyTorch's
    AdamW (default 0.01) up to Adam's epsilon placement.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="adamw", **kwargs):
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name, **kwargs)


class Adamax(Optimizer):
    """Adamax (Kingma & Ba 2015, section 7): Adam with the infinity norm for the second moment.

        t  = iterations + 1
        m <- beta_1 m + (1 - beta_1) g
        u <- max(beta_2 u, |g|)
        w <- w - eta / (1 - beta_1^t) * m / (u + epsilon)

    Keras 3 definition. PyTorch adds eps inside the max, u <- max(beta_2 u, |g| + eps), and
    divides by u alone; with epsilon = 0 they agree.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="adamax", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name, **kwargs)
        self.beta_1 = _check_unit_interval("beta_1", beta_1)
        self.beta_2 = _check_unit_interval("beta_2", beta_2)
        self.epsilon = float(epsilon)

    def _slot_names(self):
        return ("momentum", "norm")

    def _update_step(self, group, gradient, learning_rate):
        xp = backend.namespace(gradient)
        m, u, s, w = group.slots["momentum"], group.slots["norm"], group.scratch(0), group.value
        xp.subtract(gradient, m, out=s)
        s *= 1.0 - self.beta_1
        m += s                                           # m <- beta_1 m + (1-beta_1) g
        xp.abs(gradient, out=s)
        u *= self.beta_2
        xp.maximum(u, s, out=u)                          # u <- max(beta_2 u, |g|)
        xp.add(u, self.epsilon, out=s)
        xp.divide(m, s, out=s)
        s *= learning_rate / (1.0 - self.beta_1 ** self._local_step)
        w -= s                                           # w <- w - eta/(1-beta_1^t) m/(u+eps)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config


class Nadam(Optimizer):
    """Nadam (Dozat 2016): Adam with Nesterov momentum, with Keras 3's momentum schedule.

        t   = iterations + 1
        mu_t = beta_1 * (1 - 0.5 * 0.96^t)             (momentum schedule)
        P_t  = mu_1 * mu_2 * ... * mu_t                (kept as optimizer state)
        m <- beta_1 m + (1 - beta_1) g
        v <- beta_2 v + (1 - beta_2) g^2
        m_hat = mu_{t+1} m / (1 - P_t mu_{t+1}) + (1 - mu_t) g / (1 - P_t)
        v_hat = v / (1 - beta_2^t)
        w <- w - eta * m_hat / (sqrt(v_hat) + epsilon)

    Keras 3 uses 0.96^t; the paper and PyTorch use 0.96^(0.004 t) (PyTorch's
    ``momentum_decay=0.004``), so PyTorch's NAdam with momentum_decay=1 is this optimizer.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="nadam", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name, **kwargs)
        self.beta_1 = _check_unit_interval("beta_1", beta_1)
        self.beta_2 = _check_unit_interval("beta_2", beta_2)
        self.epsilon = float(epsilon)
        self._u_product = 1.0

    def _slot_names(self):
        return ("momentum", "velocity")

    def _mu(self, t):
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** t)

    def _before_update(self):
        self._u_product *= self._mu(self._local_step)    # P_t = P_{t-1} mu_t

    def _scalar_state(self):
        return {"u_product": self._u_product}

    def _set_scalar_state(self, scalars):
        self._u_product = float(scalars.get("u_product", 1.0))

    def _update_step(self, group, gradient, learning_rate):
        xp = backend.namespace(gradient)
        t = self._local_step
        m, v, w = group.slots["momentum"], group.slots["velocity"], group.value
        s, numerator = group.scratch(0), group.scratch(1)
        _update_moments(xp, m, v, gradient, self.beta_1, self.beta_2, s)
        mu_t, mu_next, product = self._mu(t), self._mu(t + 1), self._u_product
        momentum_weight = mu_next / (1.0 - product * mu_next)
        gradient_weight = (1.0 - mu_t) / (1.0 - product)
        xp.multiply(gradient, gradient_weight / momentum_weight, out=numerator)
        numerator += m
        numerator *= momentum_weight * learning_rate     # eta m_hat
        xp.multiply(v, 1.0 / (1.0 - self.beta_2 ** t), out=s)
        xp.sqrt(s, out=s)
        s += self.epsilon                                # sqrt(v_hat) + eps
        xp.divide(numerator, s, out=s)
        w -= s                                           # w <- w - eta m_hat / (sqrt(v_hat) + eps)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config


class Lion(Optimizer):
    """Lion (Chen et al. 2023, "evolved sign momentum"): the update is the sign of an
    interpolation between momentum and gradient, so every parameter moves by exactly eta.

        w <- w - eta * sign(beta_1 m + (1 - beta_1) g)
        m <- beta_2 m + (1 - beta_2) g

    Keras 3 definition and defaults (eta=0.001, beta_1=0.9, beta_2=0.99). Use a learning rate
    3-10x smaller than Adam's: sign steps are larger. PyTorch has no Lion.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name="lion", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name, **kwargs)
        if not 0.0 < float(beta_1) <= 1.0:
            raise ValueError(f"Argument for `beta_1` must be in the interval (0, 1]. Received: beta_1={beta_1}")
        self.beta_1 = float(beta_1)
        self.beta_2 = _check_unit_interval("beta_2", beta_2)

    def _slot_names(self):
        return ("momentum",)

    def _update_step(self, group, gradient, learning_rate):
        xp = backend.namespace(gradient)
        m, s, w = group.slots["momentum"], group.scratch(0), group.value
        # sign(beta_1 m + (1-beta_1) g) = sign(m + (1-beta_1)/beta_1 g) since beta_1 > 0: one pass fewer
        xp.multiply(gradient, (1.0 - self.beta_1) / self.beta_1, out=s)
        s += m
        xp.sign(s, out=s)
        s *= learning_rate
        w -= s                                           # w <- w - eta sign(c)
        m *= self.beta_2
        xp.multiply(gradient, 1.0 - self.beta_2, out=s)
        m += s                                           # m <- beta_2 m + (1-beta_2) g

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2})
        return config
