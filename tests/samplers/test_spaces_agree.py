"""The three spaces sample the same posterior: canonical draws agree; symmetrized draws fill orbits.

A 1x3 tanh network on 30 noisy points of sin(2x), 4 chains per space (8 in the full space, which
also provide the baseline), 300 warm-up steps and 500 draws each.

The statistic is the energy distance (Szekely & Rizzo 2013, J. Stat. Plan. Inference 143(8)),
V-statistic form, between two sets of 4 chains, on standardised canonical parameters (with
log sigma) and on predictions at 7 inputs. MCMC draws are autocorrelated and chains differ, so
the statistic of two sets of chains of the SAME posterior is not zero: its level is set by the
mixing. The baseline is that level for the full space, the mean over all 35 ways to split its 8
chains into two halves of 4 ("two independent full runs"); the statistic of a space is the mean
over all 70 sets of 4 full chains of its distance to them. Both compare 4 chains with 4 chains,
so for a space that samples the same posterior and mixes as well the ratio is about 1; the test
allows 3 (room for the noise of both means and for somewhat slower mixing). A space that samples
another distribution gives ratios of tens to hundreds (the constrained space below).
"""

import functools
import itertools

import jax
import numpy as np
import pytest
import scipy.stats
from scipy.spatial.distance import cdist

import symbnn
from symbnn import MLP
from symbnn.diagnostics import orbit_occupancy
from symbnn.models import bnn

pytestmark = pytest.mark.slow

MODEL = bnn(MLP(1, (3,), 1, "tanh", "regression", True))
SETTINGS = dict(num_warmup=300, num_draws=500, progress=False)
GRID = np.linspace(-2.5, 2.5, 7)[:, None]
RATIO_LIMIT = 3.0
THIN = 2  # every 2nd draw in the distance computations (autocorrelated anyway; half the work)


def _data():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (30, 1))
    return x, np.sin(2 * x[:, 0]) + 0.2 * rng.normal(size=30)


SEED = 0  # keys 100 (full), 200 (quotient), 300 (constrained), 0 (symmetrisation); + 1000 * seed


def _run(space, key, num_chains=4):
    x, y = _data()
    return symbnn.sample(MODEL, x, y, rng_key=jax.random.key(key), num_chains=num_chains,
                         space=space, **SETTINGS)


@functools.cache
def runs(seed: int = SEED) -> dict:
    k = 1000 * seed
    return {"full": _run("full", k + 100, num_chains=8), "quotient": _run("quotient", k + 200),
            "constrained": _run("constrained", k + 300)}


def _features(post):
    """(chain, draw, d): canonical parameters with log sigma; predictions on the grid."""
    canon = post.canonical()
    parts = [v.reshape((*v.shape[:2], -1)) for v in canon.params.values()]
    params = np.concatenate([*parts, np.log(canon.draws["sigma"])[..., None]], axis=-1)
    return {"parameters": params, "predictions": post.predict(GRID)[..., 0]}


def _chain_distance_means(chains: np.ndarray) -> np.ndarray:
    """M[i, j]: mean distance between the draws of chain i and chain j (V-statistic)."""
    c, n, d = chains.shape
    dist = cdist(chains.reshape(c * n, d), chains.reshape(c * n, d))
    return dist.reshape(c, n, c, n).mean(axis=(1, 3))


def _energy(m: np.ndarray, a, b) -> float:
    a, b = list(a), list(b)
    return 2 * m[np.ix_(a, b)].mean() - m[np.ix_(a, a)].mean() - m[np.ix_(b, b)].mean()


def _agreement(full_feat: np.ndarray, other_feat: np.ndarray) -> tuple[float, float]:
    """(statistic of the other space, baseline of the full space), as in the module doc."""
    scale = full_feat.reshape(-1, full_feat.shape[-1]).std(0)
    chains = np.concatenate([full_feat, other_feat])[:, ::THIN] / scale
    m = _chain_distance_means(chains)
    num_full = full_feat.shape[0]
    full_idx = range(num_full)
    other = range(num_full, chains.shape[0])
    halves = [s for s in itertools.combinations(full_idx, num_full // 2) if 0 in s]
    baseline = np.mean([_energy(m, s, set(full_idx) - set(s)) for s in halves])
    subsets = itertools.combinations(full_idx, len(other))
    statistic = np.mean([_energy(m, other, s) for s in subsets])
    return float(statistic), float(baseline)


def statistic(seed: int = SEED) -> dict:
    """Every statistic the tests below check, for one seed (also run over many seeds by
    ``tests/validation/false_alarm.py``): statistic / baseline ratios and occupancy p-values."""
    r = runs(seed)
    full = _features(r["full"])
    out = {}
    for space in ("quotient", "constrained"):
        other = _features(r[space])
        for kind in ("parameters", "predictions"):
            stat, baseline = _agreement(full[kind], other[kind])
            out[f"{space}_{kind}_ratio"] = stat / baseline
    sym = r["quotient"].symmetrized(jax.random.key(1000 * seed))
    for name, post in (("symmetrized", sym), ("quotient", r["quotient"])):
        out[f"{name}_occupancy_p"] = _occupancy_p_values(post.draws["b0"])
        out[f"{name}_orbit_occupancy_p"] = _orbit_occupancy_p(post)
    return out


def _orbit_occupancy_p(post) -> float:
    """``diagnostics.orbit_occupancy``'s pooled and per-chain p-values, Bonferroni-combined.

    (Each of the 5 at 0.01: 5 of 50 seeds rejected the symmetrized draws, whose group elements
    are exactly uniform; tests/validation/false_alarm.py.)
    """
    return orbit_occupancy(post).p_value


# Each check: (kind, passes(statistic)). "null" checks hold when the sampler is right and are
# false alarms when they fail; "power" checks must reject a wrong distribution.
CHECKS = {
    "quotient_parameters": ("null", lambda s: s["quotient_parameters_ratio"] < RATIO_LIMIT),
    "quotient_predictions": ("null", lambda s: s["quotient_predictions_ratio"] < RATIO_LIMIT),
    # Bonferroni over the 4 chi-square tests at level 0.01
    "symmetrized_occupancy": ("null", lambda s: min(s["symmetrized_occupancy_p"]) * 4 > 0.01
                              and s["symmetrized_orbit_occupancy_p"] >= 0.01),
    # a space that samples another distribution (in effect: mixes badly) must be told apart
    "constrained_parameters": ("power", lambda s: s["constrained_parameters_ratio"] > RATIO_LIMIT),
    "constrained_predictions": ("power",
                                lambda s: s["constrained_predictions_ratio"] > RATIO_LIMIT),
    # canonical draws sit in one orbit member
    "quotient_occupancy": ("power", lambda s: min(s["quotient_occupancy_p"]) < 1e-10
                           and s["quotient_orbit_occupancy_p"] < 0.01),
}


def _check(name: str) -> None:
    s = statistic(SEED)
    assert CHECKS[name][1](s), s


@pytest.fixture(scope="module")
def quotient():
    return runs()["quotient"]


@pytest.fixture(scope="module")
def constrained():
    return runs()["constrained"]


@pytest.mark.parametrize("kind", ["parameters", "predictions"])
def test_quotient_agrees_with_full(kind):
    _check(f"quotient_{kind}")


def test_quotient_draws_are_canonical(quotient):
    b0 = quotient.draws["b0"]
    assert np.all(b0 >= 0) and np.all(np.diff(b0, axis=-1) >= 0)
    canon = quotient.canonical()
    np.testing.assert_allclose(canon.draws["W0"], quotient.draws["W0"])


@pytest.mark.xfail(
    strict=False,
    reason="the constrained space mixes badly. Its chains cannot cross the boundaries b_1 = 0 "
    "and b_i = b_(i+1) of the ordered region (at -inf in its unconstrained coordinates), which "
    "full and quotient chains cross freely. Measured here: statistic / baseline 185 on "
    "parameters and 74 on predictions (quotient: 1.0 and 1.2). Given b > 0, every full chain "
    "visits both signs of each unit's input weight (fractions 0.3-0.9 per unit, alike in all "
    "8 chains); every constrained chain keeps one sign per unit for all 500 draws, and one "
    "sits in a mode (small biases, sigma 0.30 against 0.165) that no full chain visits.",
)
@pytest.mark.parametrize("kind", ["parameters", "predictions"])
def test_constrained_agrees_with_full(kind):
    s = statistic(SEED)
    assert s[f"constrained_{kind}_ratio"] < RATIO_LIMIT, s


@pytest.mark.parametrize("kind", ["parameters", "predictions"])
def test_agreement_has_power(kind):
    # the constrained space's draws (another distribution in effect, see above) are told apart
    _check(f"constrained_{kind}")


def test_constrained_draws_respect_the_ordering(constrained):
    b0 = constrained.draws["b0"]
    assert np.all(b0 > 0) and np.all(np.diff(b0, axis=-1) > 0)


def _occupancy_p_values(b0: np.ndarray) -> list[float]:
    """Chi-square p-values: sign of each unit's bias; which unit has the largest |bias|."""
    flat = b0.reshape(-1, b0.shape[-1])
    n, h = flat.shape
    p = []
    for j in range(h):
        neg = int(np.sum(flat[:, j] < 0))
        p.append(scipy.stats.chisquare([neg, n - neg]).pvalue)
    top = np.bincount(np.argmax(np.abs(flat), axis=1), minlength=h)
    p.append(scipy.stats.chisquare(top).pvalue)
    return p


def test_symmetrized_quotient_draws_occupy_orbits_uniformly():
    # Canonical draws carry b >= 0, sorted; an independent uniform group element per draw makes
    # each unit's sign and the position of the largest |bias| uniform and independent across
    # draws, so the chi-square tests are exact. Bonferroni over the 4 tests at level 0.01.
    _check("symmetrized_occupancy")
    # the test can fail: canonical draws sit in one orbit member
    _check("quotient_occupancy")
