"""Gradient descent with momentum (SGD) and its layer-wise adaptive form (LARS).

Batch, stochastic and mini-batch gradient descent are all :class:`SGD`; what differs is
how many samples the caller averages the loss over before each step:

============================  ====================  =========================================
variant                       samples per update    updates per epoch (N samples, batch B)
============================  ====================  =========================================
batch gradient descent        all N                 1 (smooth, slow, memory-hungry)
stochastic gradient descent   1                     N (noisy, high variance, no vectorization)
mini-batch gradient descent   B (e.g. 32)           ceil(N / B) (the practical default)
============================  ====================  =========================================

so ``model.fit(x, y, batch_size=len(x))`` is batch gradient descent, ``batch_size=1`` is
stochastic gradient descent and ``batch_size=32`` mini-batch gradient descent, each with
``SGD()``.
"""

from __future__ import annotations

from .. import backend
from . import fused
from .base import Optimizer


def _check_unit_interval(name, value):
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"`{name}` must be a float between [0, 1], received {name}={value!r}.")
    return float(value)


class SGD(Optimizer):
    """Gradient descent, with optional (Nesterov) momentum.

    Without momentum:   w <- w - eta * g

    With momentum (Keras 3's form; the velocity m already includes the learning rate):

        m <- momentum * m - eta * g
        w <- w + m                              (classic, heavy-ball momentum)
        w <- w + momentum * m - eta * g         (nesterov=True)

    Textbooks write the same rule as v_new = momentum * v_old - alpha * dL/dw. PyTorch keeps
    b = momentum * b + g and steps w -= eta * b, i.e. m = -eta * b: identical for a constant
    learning rate, different while a schedule changes eta (Keras' m remembers old rates).
    ``weight_decay`` is decoupled (Keras): w <- w - eta * weight_decay * w before the step.

    >>> import deepgrad as dg
    >>> w = dg.tensor([1.0, -2.0], requires_grad=True)
    >>> (w * w).sum().backward()          # g = 2w = [2, -4]
    >>> dg.optimizers.SGD(learning_rate=0.1).step([w])
    >>> w.tolist()
    [0.800000011920929, -1.600000023841858]
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name="SGD", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name, **kwargs)
        self.momentum = _check_unit_interval("momentum", momentum)
        self.nesterov = bool(nesterov)

    def _slot_names(self):
        return ("momentum",) if self.momentum != 0 else ()

    def _update_step(self, group, gradient, learning_rate):
        if self._fused_update(group, gradient, learning_rate):
            return
        step = group.scratch(0)
        backend.namespace(gradient).multiply(gradient, learning_rate, out=step)  # step = eta * g
        self._descend(group, step)

    def _fused_update(self, group, gradient, learning_rate) -> bool:
        """The same equations in one compiled pass (see :mod:`.fused`); False when unavailable."""
        name = "sgd_momentum" if self.momentum != 0 else "sgd"
        found = fused.for_arrays(name, group.value, gradient, *group.slots.values())
        if found is None:
            return False
        kernel, arrays = found
        cast = arrays[0].dtype.type
        if self.momentum != 0:
            kernel(*arrays, cast(learning_rate), cast(self.momentum), self.nesterov)
        else:
            kernel(*arrays, cast(learning_rate))
        return True

    def _descend(self, group, step):
        """w <- w - step, through the momentum buffer when momentum > 0 (shared with LARS)."""
        w = group.value
        if self.momentum == 0:
            w -= step                                   # w <- w - eta g
            return
        m = group.slots["momentum"]
        m *= self.momentum
        m -= step                                       # m <- momentum m - eta g
        if self.nesterov:
            w -= step
            backend.namespace(m).multiply(m, self.momentum, out=step)
            w += step                                   # w <- w + momentum m - eta g
        else:
            w += m                                      # w <- w + m

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return config


class LARS(SGD):
    """Layer-wise Adaptive Rate Scaling (You, Gitman & Ginsburg 2017): SGD whose step for each
    variable (layer) is rescaled by a trust ratio, for very large batches.

    For each variable w with gradient g:

        ratio = trust_coefficient * ||w|| / (||g|| + weight_decay * ||w|| + epsilon)
                (ratio = 1 when ||w|| or ||g|| is 0)
        m <- momentum * m - eta * ratio * (g + weight_decay * w)
        w <- w + m                       (or w + momentum * m - eta * ratio * (g + weight_decay * w)
                                          with nesterov=True)

    This is the paper's Algorithm 1 ("classic" momentum: the local rate enters the velocity),
    written with Keras' sign convention for the velocity (m = -v). Its ``weight_decay`` is
    the paper's L2 term inside the trust ratio, not the decoupled decay of the other
    optimizers. With ``trust_coefficient=None`` the ratio is 1 and LARS is SGD with L2
    weight decay: SGD is LARS with the trust ratio off, which is why LARS reuses SGD's
    momentum step. Keras and PyTorch have no LARS; the defaults follow the paper
    (trust coefficient 0.001, momentum 0.9), with a global learning rate of 1 so that each
    step changes a layer by about trust_coefficient of its norm.

    With a ParameterBuffer the norms are segment sums over the buffer's slices (one
    squaring pass each for w and g), not a Python loop of reductions.
    """

    _decoupled_weight_decay = False

    def __init__(self, learning_rate=1.0, momentum=0.9, nesterov=False, weight_decay=0.0,
                 trust_coefficient=0.001, epsilon=0.0, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name="LARS", **kwargs):
        super().__init__(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov,
                         weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)
        self.weight_decay = float(weight_decay or 0.0)
        if trust_coefficient is not None and not float(trust_coefficient) >= 0:
            raise ValueError(f"`trust_coefficient` must be >= 0 or None, received {trust_coefficient!r}.")
        self.trust_coefficient = None if trust_coefficient is None else float(trust_coefficient)
        self.epsilon = float(epsilon)

    def _trust_ratios(self, group, gradient):
        """One ratio per variable in the group (1-D array)."""
        xp = backend.namespace(gradient)
        if not self.trust_coefficient:
            return xp.ones(len(group.slices), dtype=gradient.dtype)
        w_norm = xp.sqrt(group.squared_norms(group.value))
        g_norm = xp.sqrt(group.squared_norms(gradient))
        defined = (w_norm > 0) & (g_norm > 0)
        denominator = g_norm + self.weight_decay * w_norm + self.epsilon
        ratio = self.trust_coefficient * w_norm / xp.where(defined, denominator, 1.0)
        return xp.where(defined, ratio, 1.0)

    def _update_step(self, group, gradient, learning_rate):
        xp = backend.namespace(gradient)
        ratios = self._trust_ratios(group, gradient)
        step = group.scratch(0)
        if self.weight_decay:
            xp.multiply(group.value, self.weight_decay, out=step)
            step += gradient                                   # g + weight_decay w
            group.scale_segments(step, learning_rate * ratios, out=step)
        else:
            group.scale_segments(gradient, learning_rate * ratios, out=step)  # eta ratio g
        self._descend(group, step)

    def get_config(self):
        config = super().get_config()
        config.update({"trust_coefficient": self.trust_coefficient, "epsilon": self.epsilon})
        return config
