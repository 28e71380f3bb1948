"""The GIG sampler of symbnn.samplers.gig against scipy's distributions (KS tests, fixed seed)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from symbnn.samplers.gig import gig, log_gig

# (p, a, b) in the parametrisation density ∝ t^(p-1) exp(-(a t + b / t) / 2): negative p, tiny and
# huge a and b, the Gamma limit (b = 0, p > 0) and the inverse Gamma limit (a = 0, p < 0).
CASES = [
    (0.5, 1.0, 1.0),
    (-3.5, 2.0, 0.1),
    (4.0, 1e-6, 1e3),
    (-0.25, 1e4, 1e-4),
    (0.0, 1e-8, 1e-8),
    (10.0, 1e6, 1e6),
    (-8.0, 0.5, 30.0),
    (2.5, 3.0, 0.0),
    (-1.5, 0.0, 2.0),
]
NUM_DRAWS = 4000
# Per-case KS level, Bonferroni over the cases: a correct sampler fails some case with probability
# at most 1 % (at 0.01 per case, 70 of 1000 seeds failed one; tests/validation/false_alarm.py).
ALPHA = 0.01 / len(CASES)


def scipy_law(p: float, a: float, b: float):
    """The same law in scipy: geninvgauss(p, sqrt(a b), scale=sqrt(b / a)) and its limits."""
    if b == 0.0:
        return stats.gamma(p, scale=2.0 / a)
    if a == 0.0:
        return stats.invgamma(-p, scale=b / 2.0)
    return stats.geninvgauss(p, np.sqrt(a * b), scale=np.sqrt(b / a))


def cdf_of_log(law, p: float, a: float, b: float):
    """CDF of log t from scipy's log density, integrated on a fine grid of s = log t.

    scipy's own geninvgauss.cdf integrates numerically point by point, too slow for the budget.
    """
    # reference mode of s (independent of the implementation's stable formulas), in float64
    mode = np.log((p + np.hypot(p, np.sqrt(a * b))) / a) if a > 0 else np.log(b / (-2 * p))

    def logpdf(s):
        return law.logpdf(np.exp(s)) + s

    top = logpdf(mode)
    left = right = 1e-6
    while logpdf(mode - left) > top - 50:
        left *= 2
    while logpdf(mode + right) > top - 50:
        right *= 2
    grid = np.linspace(mode - left, mode + right, 400_001)
    dens = np.exp(logpdf(grid) - top)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
    cum /= cum[-1]
    return lambda s: np.interp(s, grid, cum)


SEED = 0


def draw(seed: int = SEED) -> np.ndarray:
    """NUM_DRAWS log-GIG draws of every case (rows), from ``jax.random.PRNGKey(seed)``."""
    p, a, b = (np.repeat(np.array(col)[:, None], NUM_DRAWS, axis=1)
                 for col in zip(*CASES, strict=True))
    out = log_gig(jax.random.PRNGKey(seed), p, a, b)
    return np.asarray(out, dtype=np.float64)


@functools.cache
def _cdfs() -> tuple:
    """The reference CDFs of log t: every case, then the shifted law of the power check."""
    p, a, b = CASES[0]
    return (*(cdf_of_log(scipy_law(*c), *c) for c in CASES),
            cdf_of_log(scipy_law(p + 0.3, a, b), p + 0.3, a, b))


def statistic(seed: int = SEED) -> dict:
    """KS p-values of every case, and of case 0 against the shifted law (also run over many
    seeds by ``tests/validation/false_alarm.py``)."""
    u = draw(seed)
    *cdfs, shifted = _cdfs()
    return {"finite": bool(np.isfinite(u).all()),
            "p_values": [float(stats.kstest(u[i], cdf).pvalue) for i, cdf in enumerate(cdfs)],
            "shifted_p": float(stats.kstest(u[0], shifted).pvalue)}


# Each check: (kind, passes(statistic)); "null" failures are false alarms, "power" ones misses.
CHECKS = {
    **{f"case {i}": ("null", lambda s, i=i: s["finite"] and s["p_values"][i] > ALPHA)
       for i in range(len(CASES))},
    "shifted law": ("power", lambda s: s["shifted_p"] < ALPHA),
}


@pytest.mark.parametrize("index", range(len(CASES)), ids=[str(c) for c in CASES])
def test_matches_scipy(index):
    s = statistic(SEED)
    assert CHECKS[f"case {index}"][1](s), s


def test_ks_has_power():
    # The same harness must reject a nearby wrong law (p shifted by 0.3, the size of error a
    # missing Jacobian or Haar factor would make in the scale move), or passing means nothing.
    s = statistic(SEED)
    assert CHECKS["shifted law"][1](s), s


def test_improper_or_invalid_parameters_give_nan():
    # a = 0 needs p < 0 and b = 0 needs p > 0; negative or non-finite parameters define no law.
    # The last entry is proper, so one NaN does not spill over to its neighbours.
    p = jnp.array([0.0, 0.0, -1.0, 1.0, 1.0, jnp.inf, 0.5])
    a = jnp.array([0.0, 1.0, 1.0, -1.0, 1.0, 1.0, 1.0])
    b = jnp.array([1.0, 0.0, 0.0, 1.0, jnp.nan, 1.0, 1.0])
    out = np.asarray(log_gig(jax.random.PRNGKey(1), p, a, b))
    assert np.isnan(out[:-1]).all() and np.isfinite(out[-1])


def test_broadcasting_shape_and_determinism():
    key = jax.random.PRNGKey(2)
    t = gig(key, 0.5, jnp.ones((3, 1)), jnp.ones((1, 4)))
    assert t.shape == (3, 4)
    assert (t > 0).all()
    assert len(np.unique(np.asarray(t))) == 12  # independent draws, not one repeated
    np.testing.assert_array_equal(t, gig(key, 0.5, jnp.ones((3, 1)), jnp.ones((1, 4))))
