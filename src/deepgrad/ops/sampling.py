"""Sampling that gradients can pass through: the reparameterisation trick, forward beside backward.

A variational autoencoder's encoder gives, for each input, the mean mu and the log-variance
log(sigma^2) of a Gaussian over the code z, and the decoder is fed one draw of z. A draw
z ~ N(mu, sigma^2) made by a random number generator is not a function of mu and sigma,
so no gradient would reach the encoder. Kingma and Welling (2014, "Auto-Encoding
Variational Bayes", section 2.4) write the same draw as a deterministic function of the
parameters and a noise that does not depend on them:

    z = mu + sigma * eps,   sigma = exp(0.5 * log_var),   eps ~ N(0, 1)

With eps held fixed, z is differentiable in mu and log_var, and backpropagation goes
through the sample to the encoder's weights.
"""

from __future__ import annotations

from ..backend import namespace
from ..tensor import Tensor, as_tensor, make_result


def gaussian_sample(mean, log_var, epsilon) -> Tensor:
    """z = mean + exp(0.5 * log_var) * epsilon: a Gaussian draw written as a function of its parameters.

    ``epsilon`` is standard normal noise (an array or a Tensor, drawn by the caller, e.g. a
    layer's seeded generator) and receives no gradient; ``mean`` and ``log_var`` broadcast
    against it and against each other. Parameterising by the log-variance keeps sigma
    positive for any network output.

    The gradient flows to both parameters because epsilon, not z, is the random quantity:

        dz/dmean    = 1
        dz/dlog_var = 0.5 * exp(0.5 * log_var) * epsilon = 0.5 * (z - mean)

    so a loss L on z sends dL/dmean = dL/dz to the mean and dL/dlog_var =
    0.5 * (z - mean) * dL/dz to the log-variance (Kingma and Welling, 2014).
    """
    mean = as_tensor(mean)
    log_var = as_tensor(log_var, like=mean)
    eps = epsilon.data if isinstance(epsilon, Tensor) else epsilon
    xp = namespace(mean.data)
    eps = xp.asarray(eps, dtype=mean.dtype)
    noise = xp.exp(0.5 * log_var.data) * eps  # sigma * eps, kept for the log-variance's gradient
    out = mean.data + noise

    def backward(g):
        return (g if mean.requires_grad else None,
                0.5 * g * noise if log_var.requires_grad else None)

    return make_result(out, (mean, log_var), backward, "gaussian_sample")
