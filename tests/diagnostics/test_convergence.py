import types

import numpy as np
import pytest

from symbnn.diagnostics import (
    VERDICT_CONVERGED,
    VERDICT_MODES,
    VERDICT_SYMMETRY,
    VERDICT_UNRESOLVED,
    summary,
)
from symbnn.diagnostics.convergence import ONE_CHAIN, convergence_stats
from symbnn.nets import MLP

# iid draws of 4 chains x 500: rank-normalised split R-hat of a single value exceeds 1.01 with
# a probability far below 1e-3, so the maxima over ~30 values stay below 1.01 (fixed seeds).


@pytest.fixture(scope="module")
def chain_orbit_draws(make_draws, center):
    return make_draws(center, 1, orbit="chain")


def test_symmetry_only_disagreement(chain_orbit_draws, mlp, x_grid):
    s = summary(chain_orbit_draws, mlp=mlp, x=x_grid)
    t = s.table
    assert t.loc["raw", "max_rhat"] > 1.5  # chains sit in different orbit members
    for row in ("canonical", "aligned", "predictive", "sigma"):
        assert t.loc[row, "max_rhat"] < 1.01, row
        assert t.loc[row, "min_ess_bulk"] > 1000, row  # iid: ESS near 2000
    assert s.verdict == VERDICT_SYMMETRY
    np.testing.assert_array_equal(s.orbit_members_visited, np.ones(4))
    assert t.loc["raw", "num_values"] == mlp.num_params
    assert t.loc["predictive", "num_values"] == x_grid.shape[0]
    assert "chains disagree only by symmetry" in str(s)


def test_converged_when_no_symmetry_moves(make_draws, center, mlp, x_grid):
    s = summary(make_draws(center, 2, orbit="none"), mlp=mlp, x=x_grid)
    assert s.table.loc["raw", "max_rhat"] < 1.01
    assert s.verdict == VERDICT_CONVERGED


def test_functionally_different_modes(make_draws, center, other_center, mlp, x_grid):
    a = make_draws(center, 3, orbit="chain")
    b = make_draws(other_center, 4, orbit="chain")
    mixed = {k: np.concatenate([a[k][:2], b[k][:2]]) for k in a}
    s = summary(mixed, mlp=mlp, x=x_grid)
    assert s.table.loc["predictive", "max_rhat"] > 1.5
    assert s.verdict == VERDICT_MODES


def test_without_inputs(chain_orbit_draws, mlp, make_draws, center, other_center):
    s = summary(chain_orbit_draws, mlp=mlp)
    assert np.isnan(s.table.loc["predictive", "max_rhat"])
    assert s.verdict == VERDICT_SYMMETRY
    a, b = make_draws(center, 3), make_draws(other_center, 4)
    mixed = {k: np.concatenate([a[k][:2], b[k][:2]]) for k in a}
    assert summary(mixed, mlp=mlp).verdict == VERDICT_UNRESOLVED


def test_symmetrised_draws_visit_many_members(make_draws, center, mlp, group):
    s = summary(make_draws(center, 5, orbit="draw"), mlp=mlp)
    # 500 uniform draws from a group of 4! 2^4 3! 2^3 = 147456 elements: almost all distinct.
    assert np.all(s.orbit_members_visited > 450)
    assert s.table.loc["canonical", "max_rhat"] < 1.01


def test_sample_stats_and_result_object(chain_orbit_draws, mlp, x_grid):
    rng = np.random.default_rng(0)
    diverging = np.zeros((4, 500), bool)
    diverging[1, [3, 7]] = True
    energy = rng.normal(size=(4, 500)).cumsum(1)  # random walk: a small E-BFMI
    lp = rng.normal(size=(4, 500))
    params = {k: v for k, v in chain_orbit_draws.items() if k != "sigma"}
    post = types.SimpleNamespace(
        mlp=mlp, draws=chain_orbit_draws, params=params,
        sample_stats={"diverging": diverging, "energy": energy, "lp": lp},
    )
    s = summary(post, x=x_grid)
    assert s.num_divergences == 2
    np.testing.assert_array_equal(s.divergences_per_chain, [0, 2, 0, 0])
    assert s.bfmi.shape == (4,) and np.all(s.bfmi < 0.3)
    assert s.verdict == VERDICT_SYMMETRY
    assert "E-BFMI" in str(s)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({}, TypeError, "mlp"),
        ({"mlp": MLP(1, (5,), 1)}, ValueError, "params"),
        ({"mlp": "mlp"}, TypeError, "mlp must be a symbnn.MLP"),
        ({"rhat_threshold": 1.0, "mlp": None}, ValueError, "rhat_threshold"),
    ],
)
def test_bad_input(chain_orbit_draws, mlp, kwargs, exc, match):
    kwargs = {**kwargs}
    if kwargs.get("mlp", 0) is None:
        kwargs["mlp"] = mlp
    with pytest.raises(exc, match=match):
        summary(chain_orbit_draws, **kwargs)


def test_one_chain_gets_split_rhat_and_says_what_it_cannot_show(chain_orbit_draws, mlp):
    one = {k: v[:1] for k, v in chain_orbit_draws.items()}
    res = summary(one, mlp=mlp)
    assert np.isfinite(res.table.loc["canonical", "max_rhat"])
    assert np.isfinite(res.table.loc["raw", "min_ess_bulk"])
    assert res.verdict.endswith(ONE_CHAIN)
    assert any("one chain" in n for n in res.notes)


def test_one_chain_rhat_detects_a_drifting_chain():
    # the second half of the chain sits 3 sd away from the first: its quarters disagree
    rng = np.random.default_rng(4)
    steady = rng.normal(size=(1, 400, 2))
    drift = steady + np.where(np.arange(400) < 200, 0.0, 3.0)[None, :, None]
    assert convergence_stats(steady)["max_rhat"] < 1.02
    assert convergence_stats(drift)["max_rhat"] > 1.5


def test_bad_extra_site(chain_orbit_draws, mlp):
    bad = {**chain_orbit_draws, "sigma": np.ones(3)}
    with pytest.raises(ValueError, match="sigma"):
        summary(bad, mlp=mlp)


def test_reference_and_skipping_alignment(chain_orbit_draws, mlp, center):
    ref = {**center, "sigma": 0.3}  # extra sites in the reference are ignored
    s = summary(chain_orbit_draws, mlp=mlp, reference=ref)
    assert s.table.loc["aligned", "max_rhat"] < 1.01
    skipped = summary(chain_orbit_draws, mlp=mlp, aligned=False)
    assert np.isnan(skipped.table.loc["aligned", "max_rhat"])
    assert skipped.verdict == VERDICT_SYMMETRY  # the canonical row suffices
    with pytest.raises(ValueError, match="reference"):
        summary(chain_orbit_draws, mlp=mlp, reference={"W0": center["W0"]})


def test_a_spec_with_a_layer_too_few_is_refused(chain_orbit_draws, mlp):
    # the draws of a net with one more hidden layer: its extra weight matrix and bias
    h, name = mlp.widths[-1], f"W{mlp.num_hidden}"
    lead = chain_orbit_draws["W0"].shape[:2]
    deeper = {**chain_orbit_draws, name: np.zeros((*lead, h, h)),
              f"b{mlp.num_hidden}": np.zeros((*lead, h))}
    with pytest.raises(ValueError, match=f"'{name}'.*layer too few.*extra_sites"):
        summary(deeper, mlp=mlp)
    res = summary(deeper, mlp=mlp, extra_sites=(name,))  # allowed on purpose
    assert res.table.index.str.startswith(name).any()


def test_nonfinite_draws_are_refused_naming_site_count_and_chains(chain_orbit_draws, mlp):
    bad = {k: np.array(v, float) for k, v in chain_orbit_draws.items()}
    bad["W0"][1, :10] = np.nan
    bad["W0"][2, 5] = np.inf
    message = r"11 draws of site 'W0' hold NaN or inf \(chains \[1, 2\]\)"
    with pytest.raises(ValueError, match=message):
        summary(bad, mlp=mlp)


def test_drop_nonfinite_drops_the_chains_and_says_so(chain_orbit_draws, mlp):
    bad = {k: np.array(v, float) for k, v in chain_orbit_draws.items()}
    bad["W0"][1, :10] = np.nan
    res = summary(bad, mlp=mlp, drop_nonfinite=True)
    clean = summary({k: np.delete(v, 1, axis=0) for k, v in bad.items()}, mlp=mlp)
    assert "after dropping 1 chains with NaN/inf" in res.verdict
    assert any("chains [1]" in n for n in res.notes)
    np.testing.assert_allclose(res.table["max_rhat"], clean.table["max_rhat"])
