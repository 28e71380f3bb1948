"""Symmetrisation is exact: symmetrised quotient draws are full-space draws.

Two runs of a 1x3 tanh BNN on the same data: the folded quotient chain (``space="quotient"``) and
the full-space chain with orbit moves (``orbit_moves=True``: a uniform group element after every
transition, so the chain visits every member of an orbit). ``Posterior.symmetrized`` applies an
independent uniform group element to every quotient draw; the result must have the distribution
of the full-space draws in raw parameter space (energy-distance permutation test, Szekely and
Rizzo 2013), and the group element that canonicalises each draw must be uniform on the group
(``diagnostics.orbit_occupancy``). The tests have power: the quotient draws without
symmetrisation are rejected by both.

The permutation test assumes independent draws, so both samples are thinned by the ratio of draws
to the smallest bulk ESS (arviz) of the canonical parameters and sigma, then subsampled at random.
Threshold: p > 0.01 where the distributions agree (seeds fixed), p < 0.01 where they do not.
"""

import math

import arviz_stats
import jax
import numpy as np
import pytest

import symbnn
from symbnn import MLP, diagnostics
from symbnn.models import bnn

MLP_1X3 = MLP(1, (3,), 1, "tanh")
MODEL = bnn(MLP_1X3)
SETTINGS = dict(num_chains=4, num_warmup=400, num_draws=1500, progress=False)
ALPHA = 0.01
MAX_DRAWS = 800  # per sample in the permutation test (its cost grows with the square)


def _data():
    rng = np.random.default_rng(7)
    x = np.sort(rng.uniform(-2.0, 2.0, 15))[:, None]
    teacher = {"W0": np.array([[1.5, -2.0, 0.7]]), "b0": np.array([0.5, 1.0, -1.5]),
               "WL": np.array([[1.0], [0.8], [-1.2]]), "bL": np.array([0.1])}
    y = np.asarray(MLP_1X3.apply(teacher, x))[:, 0] + 0.3 * rng.normal(size=15)
    return x, y


def _flat(post):
    """Network parameters and sigma (if learned) as (chain, draw, dim)."""
    parts = [post.params[k].reshape(post.num_chains, post.num_draws, -1)
             for k in post.mlp.param_names]
    if "sigma" in post.draws:
        parts.append(post.draws["sigma"][..., None])
    return np.concatenate(parts, axis=-1)


def _thin(post, *, canonical=False, seed=0):
    """Nearly independent draws: every k-th draw of every chain, k = draws / min bulk ESS of the
    canonical values, then a random subset of at most MAX_DRAWS.

    (An evenly spaced subset keeps the lag structure of the chains; NUTS draws are often
    negatively correlated at short lags, which made the energy test's p-value 1.0 for five seeds
    out of five when comparing the canonical draws of two runs. A random subset does not.)
    """
    canon = _flat(post.canonical())
    ess = float(np.min(arviz_stats.ess(canon, method="bulk")))
    step = max(1, math.ceil(canon.shape[0] * canon.shape[1] / ess))
    values = canon if canonical else _flat(post)
    kept = values[:, ::step].reshape(-1, values.shape[-1])
    rng = np.random.default_rng(seed)
    return kept[rng.choice(len(kept), min(MAX_DRAWS, len(kept)), replace=False)], ess


@pytest.fixture(scope="module")
def runs():
    x, y = _data()
    quotient = symbnn.sample(MODEL, x, y, rng_key=jax.random.key(1), space="quotient",
                             **SETTINGS)
    full = symbnn.sample(MODEL, x, y, rng_key=jax.random.key(2), space="full",
                         orbit_moves=True, **SETTINGS)
    return {"quotient": quotient, "symmetrized": quotient.symmetrized(jax.random.key(3)),
            "full": full}


@pytest.mark.slow
def test_symmetrized_quotient_draws_match_full_space_draws(runs):
    a, ess_a = _thin(runs["symmetrized"])
    b, ess_b = _thin(runs["full"])
    assert min(ess_a, ess_b) > 200  # enough nearly independent draws for the test to see
    test = diagnostics.energy_mmd_test(a, b, num_permutations=500, seed=0)
    assert test["energy_p_value"] > ALPHA, test


@pytest.mark.slow
def test_unsymmetrized_quotient_draws_are_told_apart(runs):
    a, _ = _thin(runs["quotient"])
    b, _ = _thin(runs["full"])
    test = diagnostics.energy_mmd_test(a, b, num_permutations=500, seed=0)
    assert test["energy_p_value"] < ALPHA, test


@pytest.mark.slow
def test_quotient_and_full_agree_after_canonicalisation(runs):
    a, _ = _thin(runs["quotient"], canonical=True)
    b, _ = _thin(runs["full"], canonical=True)
    test = diagnostics.energy_mmd_test(a, b, num_permutations=500, seed=0)
    assert test["energy_p_value"] > ALPHA, test


@pytest.mark.slow
@pytest.mark.parametrize(("name", "uniform"),
                         [("symmetrized", True), ("full", True), ("quotient", False)])
def test_orbit_occupancy(runs, name, uniform):
    occupancy = diagnostics.orbit_occupancy(runs[name])
    assert occupancy.rejects(ALPHA) != uniform, occupancy.table


@pytest.mark.slow
def test_symmetrized_draws_keep_the_function(runs):
    x, _ = _data()
    np.testing.assert_allclose(runs["symmetrized"].predict(x), runs["quotient"].predict(x),
                               rtol=1e-5, atol=1e-5)
    for k in runs["quotient"].draws:
        assert runs["symmetrized"].draws[k].shape == runs["quotient"].draws[k].shape
    np.testing.assert_array_equal(runs["symmetrized"].draws["sigma"],
                                  runs["quotient"].draws["sigma"])
