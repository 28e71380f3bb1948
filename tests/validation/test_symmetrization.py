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
to the smallest bulk ESS (arviz) of the canonical parameters, sigma and the predictions at 5
inputs, then subsampled at random. Threshold: p > ALPHA = 0.0025 where the distributions agree
(seeds fixed), p < ALPHA where they do not (0.01 over the 4 null checks, Bonferroni); the
occupancy tests are also Bonferroni-corrected over the pooled
and the 4 chains' tests. NUTS with target_accept 0.95 (see SETTINGS). False-alarm rates over 50
seeds: ``python tests/validation/false_alarm.py --tests symmetrization`` (docs/validation.md).
"""

import functools
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
# target_accept 0.95: with the default 0.8, in 4 of 50 seeds one quotient chain adapted a step
# size too large for a low-sigma region (sigma 0.29-0.31 against 0.34), diverged in 190-240 of its
# 1500 transitions and stuck there, so the min ESS fell to 51-189 (tests/validation/false_alarm.py)
SETTINGS = dict(num_chains=4, num_warmup=400, num_draws=1500, progress=False,
                kernel=symbnn.samplers.NUTS(target_accept=0.95))
GRID = np.linspace(-2.0, 2.0, 5)[:, None]  # the function's values here join the ESS
# Level of every check: 0.01 over the file's 4 null checks (Bonferroni), so the file as a whole
# goes red in at most 1 % of seeds when symbnn is right. At 0.01 per check it went red in 3 of 100
# seeds; recomputed from those seeds' p-values, 0 of 100 at 0.0025 (false_alarm.py).
ALPHA = 0.01 / 4
NUM_PERMUTATIONS = 2000  # smallest p 1/2001, well below ALPHA (500 gave 0.002: no room)
SEED = 0  # keys 1, 2, 3 (3 * seed + 1, 2, 3)
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


def _thin(post, *, canonical=False, seed=0, grid=GRID):
    """Nearly independent draws: every k-th draw of every chain, k = draws / min bulk ESS of the
    canonical values and of the predictions at ``grid`` (inputs of the model; the slowest
    functional quantity: a chain can move between functional modes more slowly than any one
    canonical parameter says), then a random subset of at most MAX_DRAWS.

    (An evenly spaced subset keeps the lag structure of the chains; NUTS draws are often
    negatively correlated at short lags, which made the energy test's p-value 1.0 for five seeds
    out of five when comparing the canonical draws of two runs. A random subset does not.)
    """
    canon = _flat(post.canonical())
    ess = min(float(np.min(arviz_stats.ess(canon, method="bulk"))), _prediction_ess(post, grid))
    step = max(1, math.ceil(canon.shape[0] * canon.shape[1] / ess))
    values = canon if canonical else _flat(post)
    kept = values[:, ::step].reshape(-1, values.shape[-1])
    rng = np.random.default_rng(seed)
    return kept[rng.choice(len(kept), min(MAX_DRAWS, len(kept)), replace=False)], ess


@functools.cache
def runs(seed: int = SEED) -> dict:
    """The quotient run, its symmetrisation and the full run with orbit moves, for one seed."""
    x, y = _data()
    k = 3 * seed
    quotient = symbnn.sample(MODEL, x, y, rng_key=jax.random.key(k + 1), space="quotient",
                             **SETTINGS)
    full = symbnn.sample(MODEL, x, y, rng_key=jax.random.key(k + 2), space="full",
                         orbit_moves=True, **SETTINGS)
    return {"quotient": quotient, "symmetrized": quotient.symmetrized(jax.random.key(k + 3)),
            "full": full}


def _energy_p(a, b) -> float:
    return diagnostics.energy_mmd_test(a, b, num_permutations=NUM_PERMUTATIONS,
                                       seed=0)["energy_p_value"]


def statistic(seed: int = SEED) -> dict:
    """Every statistic the tests below check, for one seed (also run over many seeds by
    ``tests/validation/false_alarm.py``)."""
    r = runs(seed)
    sym, ess_sym = _thin(r["symmetrized"])
    full, ess_full = _thin(r["full"])
    quot, _ = _thin(r["quotient"])
    canon_q, _ = _thin(r["quotient"], canonical=True)
    canon_f, _ = _thin(r["full"], canonical=True)
    occupancy = {}
    for name in ("symmetrized", "full", "quotient"):
        # Bonferroni over the pooled test and the chains' tests (each test at 0.01, as rejects()
        # once did, failed 3 and 1 times in 50 seeds)
        occupancy[name] = diagnostics.orbit_occupancy(r[name]).p_value
    return {"match_p": _energy_p(sym, full), "min_ess": min(ess_sym, ess_full),
            "told_apart_p": _energy_p(quot, full), "canonical_p": _energy_p(canon_q, canon_f),
            "occupancy_p": occupancy,
            # diagnostic only: the mixing of the function, min bulk ESS of f on a grid
            "prediction_ess": {name: _prediction_ess(r[name]) for name in ("quotient", "full")}}


def _prediction_ess(post, grid=GRID) -> float:
    pred = post.predict(grid)[..., 0]
    return float(np.min(arviz_stats.ess(pred, method="bulk")))


# Each check: (kind, passes(statistic)). "null" checks hold when the sampler is right and are
# false alarms when they fail; "power" checks must reject a wrong distribution.
CHECKS = {
    "match": ("null", lambda s: s["match_p"] > ALPHA and s["min_ess"] > 200),
    "canonical": ("null", lambda s: s["canonical_p"] > ALPHA),
    "occupancy_symmetrized": ("null", lambda s: s["occupancy_p"]["symmetrized"] >= ALPHA),
    "occupancy_full": ("null", lambda s: s["occupancy_p"]["full"] >= ALPHA),
    "told_apart": ("power", lambda s: s["told_apart_p"] < ALPHA),
    "occupancy_quotient": ("power", lambda s: s["occupancy_p"]["quotient"] < ALPHA),
}


def _check(name: str) -> None:
    s = statistic(SEED)
    assert CHECKS[name][1](s), s


@pytest.mark.slow
def test_symmetrized_quotient_draws_match_full_space_draws():
    # min ESS > 200: enough nearly independent draws for the test to see
    _check("match")


@pytest.mark.slow
def test_unsymmetrized_quotient_draws_are_told_apart():
    _check("told_apart")


@pytest.mark.slow
def test_quotient_and_full_agree_after_canonicalisation():
    _check("canonical")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["symmetrized", "full", "quotient"])
def test_orbit_occupancy(name):
    # uniform for symmetrized and full, rejected for the canonical quotient draws
    _check(f"occupancy_{name}")


@pytest.mark.slow
def test_symmetrized_draws_keep_the_function():
    x, _ = _data()
    r = runs()
    np.testing.assert_allclose(r["symmetrized"].predict(x), r["quotient"].predict(x),
                               rtol=1e-5, atol=1e-5)
    for k in r["quotient"].draws:
        assert r["symmetrized"].draws[k].shape == r["quotient"].draws[k].shape
    np.testing.assert_array_equal(r["symmetrized"].draws["sigma"], r["quotient"].draws["sigma"])
