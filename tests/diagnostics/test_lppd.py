import math

import jax
import numpy as np
import pytest

import symbnn
from symbnn import MLP, diagnostics
from symbnn.models import bnn


def test_lppd_is_the_mean_over_points_of_the_log_mean_density():
    rng = np.random.default_rng(0)
    ll = rng.normal(-1.0, 0.5, size=(2, 3, 4))
    got = diagnostics.lppd(ll)
    point = np.log(np.exp(ll.reshape(6, 4)).mean(axis=0))
    np.testing.assert_allclose(got.pointwise, point, rtol=1e-12)
    assert math.isclose(got.mean, point.mean(), rel_tol=1e-12)
    assert math.isclose(got.se, point.std() / 2.0, rel_tol=1e-12)


def test_lppd_is_stable_for_very_negative_log_likelihoods():
    ll = np.full((3, 1, 2), -2000.0)  # exp underflows to 0: a naive log-mean gives -inf
    assert diagnostics.lppd(ll).mean == pytest.approx(-2000.0)


def test_lppd_curve_takes_leading_draws_chain_by_chain():
    rng = np.random.default_rng(1)
    ll = rng.normal(-1.0, 0.5, size=(3, 2, 5))  # 6 draws
    curve = diagnostics.lppd_curve(ll)
    assert curve["num_draws"] == [1, 2, 4, 6]
    flat = ll.reshape(6, 5)
    assert math.isclose(curve["lppd"][0], flat[0].mean())
    assert math.isclose(curve["lppd_se"][0], flat[0].std() / math.sqrt(5))
    expected = np.log(np.exp(flat[:4]).mean(axis=0)).mean()
    assert math.isclose(curve["lppd"][2], expected, rel_tol=1e-12)
    assert math.isclose(curve["lppd"][-1], diagnostics.lppd(ll).mean)


@pytest.mark.parametrize("shape", [(5,), (2, 3, 0)])
def test_lppd_refuses_arrays_without_draws_and_points(shape):
    with pytest.raises(ValueError, match="log_lik must have shape"):
        diagnostics.lppd(np.zeros(shape))


def test_posterior_lppd_uses_the_posteriors_log_likelihood():
    rng = np.random.default_rng(2)
    x = rng.uniform(-2, 2, (12, 1))
    y = np.sin(x[:, 0])
    post = symbnn.sample(bnn(MLP(1, (2,), 1, "tanh", "regression")), x, y,
                         rng_key=jax.random.PRNGKey(0), num_chains=2, num_warmup=20,
                         num_draws=5, progress=False, chain_layout="sequential")
    got = post.lppd(x[:4], y[:4])
    assert got.pointwise.shape == (4,)
    assert got.mean == pytest.approx(diagnostics.lppd(post.log_likelihood(x[:4], y[:4])).mean)
