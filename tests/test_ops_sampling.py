"""The reparameterised Gaussian draw: values, the written-out gradient, gradcheck, PyTorch."""

import numpy as np
import pytest
from torch_reference import reference, torch

import deepgrad as dg
from deepgrad.ops import gaussian_sample


def test_gaussian_sample_is_mean_plus_sigma_times_noise(rng):
    mean, log_var, eps = rng.normal(size=(3, 4, 5))
    z = gaussian_sample(dg.tensor(mean), dg.tensor(log_var), eps)
    np.testing.assert_allclose(z.numpy(), mean + np.exp(0.5 * log_var) * eps, rtol=1e-15)


def test_gaussian_sample_gradient_is_one_for_the_mean_and_half_the_noise_for_the_log_variance(rng):
    mean = dg.tensor(rng.normal(size=(6, 2)), requires_grad=True)
    log_var = dg.tensor(rng.normal(size=(6, 2)), requires_grad=True)
    eps = rng.normal(size=(6, 2))
    upstream = rng.normal(size=(6, 2))
    (gaussian_sample(mean, log_var, eps) * dg.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(mean.grad, upstream, rtol=1e-15)
    np.testing.assert_allclose(log_var.grad, upstream * 0.5 * np.exp(0.5 * log_var.numpy()) * eps, rtol=1e-14)


@pytest.mark.parametrize("shapes", [((5, 3), (5, 3), (5, 3)), ((5, 3), (3,), (5, 3)), ((1, 3), (5, 1), (5, 3))],
                         ids=["same", "shared log-variance", "both broadcast"])
def test_gaussian_sample_gradcheck(check_grad, rng, shapes):
    mean_shape, log_var_shape, eps_shape = shapes
    eps = rng.normal(size=eps_shape)
    check_grad(lambda m, v: gaussian_sample(m, v, eps), rng.normal(size=mean_shape), rng.normal(size=log_var_shape))


def test_gaussian_sample_gradcheck_at_edge_values(check_grad):
    # zero noise (z = mean, no gradient to the log-variance), large and very negative log-variances
    eps = np.array([0.0, 1.0, -2.0, 3.0])
    check_grad(lambda m, v: gaussian_sample(m, v, eps), np.zeros(4), np.array([0.0, 4.0, -20.0, 2.5]))


def test_gaussian_sample_keeps_float32_and_takes_noise_as_a_tensor_without_gradient(rng):
    mean = dg.tensor(rng.normal(size=(3, 2)).astype(np.float32), requires_grad=True)
    log_var = dg.tensor(np.zeros((3, 2), dtype=np.float32), requires_grad=True)
    eps = dg.tensor(rng.normal(size=(3, 2)), requires_grad=True)
    z = gaussian_sample(mean, log_var, eps)
    assert z.dtype == np.float32
    z.sum().backward()
    assert eps.grad is None
    np.testing.assert_allclose(log_var.grad, 0.5 * eps.numpy(), rtol=1e-6)


def test_gaussian_sample_values_and_gradients_equal_torch(rng):
    mean, log_var, eps, upstream = rng.normal(size=(4, 8, 3))
    m = dg.tensor(mean, requires_grad=True)
    v = dg.tensor(log_var, requires_grad=True)
    z = gaussian_sample(m, v, eps)
    (z * dg.tensor(upstream)).sum().backward()

    def torch_side():
        tm = torch.tensor(mean, requires_grad=True)
        tv = torch.tensor(log_var, requires_grad=True)
        tz = tm + torch.exp(0.5 * tv) * torch.tensor(eps)
        (tz * torch.tensor(upstream)).sum().backward()
        return np.stack([tz.detach().numpy(), tm.grad.numpy(), tv.grad.numpy()])

    expected = reference(torch_side)
    np.testing.assert_allclose(np.stack([z.numpy(), m.grad, v.grad]), expected, rtol=1e-12, atol=1e-14)
