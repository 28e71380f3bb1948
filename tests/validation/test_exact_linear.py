"""Exact posteriors: Bayesian linear regression with known noise, every kernel and space.

An MLP with no hidden layer, ``MLP(d, (), 1, activation="identity")``, is ``y = x @ WL + bL``. With
``NormalPrior(s)`` on every entry and ``Gaussian(sigma)`` with fixed sigma the posterior of
``beta = (WL[:, 0], bL)`` is Gaussian (conjugate), with features ``phi = [x, 1]``::

    Sigma = (phi.T @ phi / sigma^2 + I / s^2)^-1,    mu = Sigma @ phi.T @ y / sigma^2

Method: for every mean, ``z = (mean of draws - mu) / MCSE``; for every covariance entry
(variances included) ``z = (mean of (beta_i - mu_i)(beta_j - mu_j) - Sigma_ij) / MCSE`` of those
products, whose expectation is exactly ``Sigma_ij`` because the centre is the true mean. MCSEs
come from ``arviz_stats.mcse`` (method "mean"), which accounts for autocorrelation. Every |z| must
be < 4: with 9 z-scores per run and 6 runs, the chance that any exceeds 4 by Monte Carlo error
alone is about 54 * 6.3e-5 = 0.3%.

A network without hidden units has a trivial symmetry group, so the "quotient" (fold after every
transition) and "constrained" (ordered hidden biases) spaces have nothing to fold or order. The
tests check that sample() accepts them and returns the same draws as "full" with the same key.
"""

import arviz_stats
import jax
import numpy as np
import pytest

import symbnn
from symbnn import MLP
from symbnn.models import Gaussian, NormalPrior, bnn

D, N = 2, 12
SIGMA, PRIOR_SCALE = 0.5, 2.0
MODEL = bnn(MLP(D, (), 1, activation="identity"), prior=NormalPrior(PRIOR_SCALE),
            likelihood=Gaussian(SIGMA))
SETTINGS = dict(num_chains=4, num_warmup=300, num_draws=500, progress=False)
KERNELS = ("nuts", "hmc")
SPACES = ("full", "quotient", "constrained")
Z_MAX = 4.0  # see the module docstring
# HMC's fixed trajectory of 16 leapfrog steps (the default) resonates on this Gaussian: the adapted
# step (about 0.6 in whitened units) times 16 is near 1.5 periods (2 pi), and the ESS of the
# variances drops to about 34 of 2000 draws. 5 steps (a quarter period) give ESS in the thousands.
HMC_STEPS = 5
KERNEL_OBJECTS = {"nuts": symbnn.samplers.NUTS(),
                  "hmc": symbnn.samplers.HMC(num_integration_steps=HMC_STEPS)}
MIN_ESS = 300  # below this the MCSEs themselves are too uncertain to trust the z-scores


def _data():
    rng = np.random.default_rng(42)
    x = rng.normal(size=(N, D))
    y = x @ np.array([1.5, -0.7]) + 0.4 + SIGMA * rng.normal(size=N)
    return x, y


def closed_form(x, y, *, sigma=SIGMA, prior_scale=PRIOR_SCALE):
    """Posterior mean and covariance of (WL[:, 0], bL), float64."""
    phi = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    precision = phi.T @ phi / sigma**2 + np.eye(phi.shape[1]) / prior_scale**2
    cov = np.linalg.inv(precision)
    return cov @ phi.T @ y / sigma**2, cov


def z_scores(beta, mu, cov):
    """z of the means and of the covariance entries (upper triangle), and the min bulk ESS."""
    beta = np.asarray(beta, float)
    z_mean = (beta.mean((0, 1)) - mu) / arviz_stats.mcse(beta)
    centred = beta - mu
    iu = np.triu_indices(len(mu))
    products = centred[..., iu[0]] * centred[..., iu[1]]
    z_cov = (products.mean((0, 1)) - cov[iu]) / arviz_stats.mcse(products)
    ess = min(np.min(arviz_stats.ess(beta)), np.min(arviz_stats.ess(products)))
    return z_mean, z_cov, ess


def _beta(post):
    return np.concatenate([post.draws["WL"][..., 0], post.draws["bL"]], axis=-1)


@pytest.fixture(scope="module")
def runs():
    x, y = _data()
    out = {}
    for kernel in KERNELS:
        for space in SPACES:
            out[kernel, space] = symbnn.sample(MODEL, x, y, rng_key=jax.random.key(11),
                                               kernel=KERNEL_OBJECTS[kernel], space=space,
                                               **SETTINGS)
    return out


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("kernel", KERNELS)
def test_posterior_moments_match_the_closed_form(runs, kernel, space):
    post = runs[kernel, space]
    assert set(post.draws) == {"WL", "bL"}
    assert post.space == space
    mu, cov = closed_form(*_data())
    z_mean, z_cov, ess = z_scores(_beta(post), mu, cov)
    assert ess > MIN_ESS
    assert np.all(np.abs(z_mean) < Z_MAX), z_mean
    assert np.all(np.abs(z_cov) < Z_MAX), z_cov
    assert post.sample_stats["diverging"].sum() == 0


@pytest.mark.parametrize("kernel", KERNELS)
def test_the_comparison_has_power(runs, kernel):
    # The same draws against the posterior for a noise 20% too large: the variances differ by
    # 44%, many MCSEs at this ESS, so the test above would have failed for a sampler this wrong.
    mu, cov = closed_form(*_data(), sigma=1.2 * SIGMA)
    z_mean, z_cov, _ = z_scores(_beta(runs[kernel, "full"]), mu, cov)
    assert np.max(np.abs(np.concatenate([z_mean, z_cov]))) > Z_MAX


@pytest.mark.parametrize("space", ["quotient", "constrained"])
@pytest.mark.parametrize("kernel", KERNELS)
def test_spaces_without_hidden_units_are_the_full_space(runs, kernel, space):
    # No hidden unit: the group is trivial, the fold is the identity, nothing is ordered.
    assert MODEL.group.log_size == 0.0
    for k, v in runs[kernel, "full"].draws.items():
        np.testing.assert_array_equal(runs[kernel, space].draws[k], v, err_msg=k)
