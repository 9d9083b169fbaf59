"""Per-parameter learning rates from running averages of squared gradients: AdaGrad,
AdaDelta and RMSprop.

Each divides the step by the square root of an accumulated g^2, so parameters with
large or frequent gradients take smaller steps and rare (sparse) features larger ones.
All three put epsilon inside the square root, as Keras 3 does; PyTorch's Adagrad and
RMSprop add it outside (sqrt(v) + eps). With epsilon = 0 the two definitions agree.
"""

from __future__ import annotations

from .. import backend
from .base import Optimizer
from .sgd import _check_unit_interval


class Adagrad(Optimizer):
    """AdaGrad (Duchi et al. 2011): the learning rate of each parameter shrinks with the sum
    of all its past squared gradients.

        G <- G + g^2                                  (G starts at initial_accumulator_value)
        w <- w - eta * g / sqrt(G + epsilon)

    Duchi et al. (JMLR 2011) write w_new = w_old - alpha / (sqrt(cache) + eps) * dL/dw. deepgrad follows
    Keras 3 (epsilon inside the root, G starting at 0.1); PyTorch's Adagrad starts G at 0
    and uses sqrt(G) + eps, and its ``lr_decay`` has no Keras counterpart.
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="adagrad", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name, **kwargs)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def _slot_names(self):
        return ("accumulator",)

    def _slot_initial_value(self, slot):
        return self.initial_accumulator_value

    def _update_step(self, group, gradient, learning_rate):
        xp = backend.namespace(gradient)
        accumulator, s, w = group.slots["accumulator"], group.scratch(0), group.value
        xp.multiply(gradient, gradient, out=s)
        accumulator += s                                 # G <- G + g^2
        xp.add(accumulator, self.epsilon, out=s)
        xp.sqrt(s, out=s)
        xp.divide(gradient, s, out=s)
        s *= learning_rate
        w -= s                                           # w <- w - eta g / sqrt(G + eps)

    def get_config(self):
        config = super().get_config()
        config.update({"initial_accumulator_value": self.initial_accumulator_value,
                       "epsilon": self.epsilon})
        return config


class Adadelta(Optimizer):
    """AdaDelta (Zeiler 2012): AdaGrad with a decaying average instead of a sum, and a step
    whose units match w's (the ratio of two root-mean-squares).

        E[g^2]  <- rho * E[g^2] + (1 - rho) * g^2
        dw       = -sqrt(E[dw^2] + epsilon) / sqrt(E[g^2] + epsilon) * g
        E[dw^2] <- rho * E[dw^2] + (1 - rho) * dw^2
        w       <- w + eta * dw

    The paper has no learning rate (eta = 1). Keras 3 keeps one with default 0.001 and
    rho=0.95, epsilon=1e-7; PyTorch defaults to lr=1.0, rho=0.9, eps=1e-6 with the same
    equation, so the two agree once their arguments do.
    """

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name="adadelta", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name, **kwargs)
        self.rho = _check_unit_interval("rho", rho)
        self.epsilon = float(epsilon)

    def _slot_names(self):
        return ("accumulated_grad", "accumulated_delta_var")

    def _update_step(self, group, gradient, learning_rate):
        xp = backend.namespace(gradient)
        rho, eps = self.rho, self.epsilon
        mean_g2, mean_dw2 = group.slots["accumulated_grad"], group.slots["accumulated_delta_var"]
        s, t, w = group.scratch(0), group.scratch(1), group.value
        xp.multiply(gradient, gradient, out=s)
        s *= 1.0 - rho
        mean_g2 *= rho
        mean_g2 += s                                     # E[g^2] <- rho E[g^2] + (1-rho) g^2
        xp.add(mean_dw2, eps, out=s)
        xp.add(mean_g2, eps, out=t)
        xp.divide(s, t, out=s)
        xp.sqrt(s, out=s)
        s *= gradient                                    # s = -dw = sqrt(E[dw^2]+eps)/sqrt(E[g^2]+eps) g
        xp.multiply(s, s, out=t)
        t *= 1.0 - rho
        mean_dw2 *= rho
        mean_dw2 += t                                    # E[dw^2] <- rho E[dw^2] + (1-rho) dw^2
        s *= learning_rate
        w -= s                                           # w <- w + eta dw

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "epsilon": self.epsilon})
        return config


class RMSprop(Optimizer):
    """RMSprop (Hinton 2012): divide the gradient by a running root-mean-square of recent
    gradients, so AdaGrad's rate no longer decays to zero.

        v <- rho * v + (1 - rho) * g^2
        a <- rho * a + (1 - rho) * g                  (centered=True only)
        d  = v - a^2 + epsilon   (centered)   or   v + epsilon
        step = eta * g / sqrt(d)
        w <- w - step                                 (momentum = 0)
        b <- momentum * b + step;  w <- w - b         (momentum > 0)

    Keras 3 definition: epsilon inside the root, eta inside the momentum buffer, defaults
    rho=0.9, epsilon=1e-7. PyTorch uses sqrt(d) + eps (eps=1e-8), alpha=0.99 for rho, and
    b <- momentum * b + g / sqrt(d), w <- w - eta * b (the same for a constant eta).
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="rmsprop", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name, **kwargs)
        self.rho = _check_unit_interval("rho", rho)
        self.momentum = _check_unit_interval("momentum", momentum)
        self.epsilon = float(epsilon)
        self.centered = bool(centered)

    def _slot_names(self):
        return (("velocity",) + (("momentum",) if self.momentum > 0 else ())
                + (("average_gradient",) if self.centered else ()))

    def _update_step(self, group, gradient, learning_rate):
        xp = backend.namespace(gradient)
        rho = self.rho
        v, s, w = group.slots["velocity"], group.scratch(0), group.value
        xp.multiply(gradient, gradient, out=s)
        s *= 1.0 - rho
        v *= rho
        v += s                                           # v <- rho v + (1-rho) g^2
        if self.centered:
            a = group.slots["average_gradient"]
            xp.multiply(gradient, 1.0 - rho, out=s)
            a *= rho
            a += s                                       # a <- rho a + (1-rho) g
            xp.multiply(a, a, out=s)
            xp.subtract(v, s, out=s)
            s += self.epsilon                            # d = v - a^2 + eps
        else:
            xp.add(v, self.epsilon, out=s)               # d = v + eps
        xp.sqrt(s, out=s)
        xp.divide(gradient, s, out=s)
        s *= learning_rate                               # step = eta g / sqrt(d)
        if self.momentum > 0:
            b = group.slots["momentum"]
            b *= self.momentum
            b += s                                       # b <- momentum b + step
            w -= b
        else:
            w -= s

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                       "centered": self.centered})
        return config
