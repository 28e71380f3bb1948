import types

import jax
import numpy as np
import pytest

from symbnn.diagnostics import compare, energy_mmd_test
from symbnn.diagnostics.inputs import as_draws, predictions
from symbnn.nets import MLP

KEY = jax.random.key(0)


@pytest.fixture(scope="module")
def runs(make_draws, center, other_center):
    """Two independent runs of one posterior (chains in random orbit members) and a run of a
    posterior for different data (a centre computing a different function)."""
    return (make_draws(center, 21, orbit="chain"), make_draws(center, 22, orbit="draw"),
            make_draws(other_center, 23, orbit="chain"))


def test_same_posterior_is_not_rejected(runs, mlp, x_grid):
    a, b, _ = runs
    res = compare(KEY, a, b, mlp=mlp, x=x_grid)
    # Under the null each p-value is below 0.05 with probability 0.05; fixed seeds.
    assert res.energy_p_value > 0.05
    assert res.mmd_p_value > 0.05
    # iid draws: each mean difference is N(0, 1) in MCSE units; 28 of them stay below 4.5.
    assert res.max_abs_mean_z < 4.5
    assert list(res.parameters.index[-1:]) == ["sigma"]
    assert res.function["wasserstein"] < 0.05
    assert res.num_draws == (500, 500)
    assert res.loo is None


def test_different_data_is_rejected(runs, mlp, x_grid):
    a, _, c = runs
    res = compare(KEY, a, c, mlp=mlp, x=x_grid)
    assert res.energy_p_value < 0.01
    assert res.mmd_p_value < 0.01
    assert res.max_abs_mean_z > 10
    same = compare(KEY, a, runs[1], mlp=mlp, x=x_grid)
    assert res.function["wasserstein"] > 10 * same.function["wasserstein"]
    assert res.function["rms_mean_difference"] > 0.1


def test_verdict_in_words(runs, mlp, x_grid):
    a, b, c = runs
    same = compare(KEY, a, b, mlp=mlp, x=x_grid).verdict()
    diff = compare(KEY, a, c, mlp=mlp, x=x_grid).verdict()
    assert same.startswith("no difference detected") and "level 0.01" in same
    assert diff.startswith("different: the energy and MMD tests reject")
    assert "predictive means differ by" in diff
    assert "pass x" in compare(KEY, a, c, mlp=mlp).verdict()
    with pytest.raises(ValueError, match="level"):
        compare(KEY, a, b, mlp=mlp).verdict(level=1.5)


def test_aligned_space(runs, mlp):
    a, b, c = runs
    same = compare(KEY, a, b, mlp=mlp, space="aligned", num_permutations=100)
    diff = compare(KEY, a, c, mlp=mlp, space="aligned", num_permutations=100)
    assert same.space == "aligned"
    assert same.energy_p_value > 0.05 and diff.energy_p_value < 0.02  # 1/101 is the minimum


def test_energy_mmd_test_on_gaussians():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 3)), rng.normal(size=(200, 3))
    same = energy_mmd_test(a, b, num_permutations=99, seed=1)
    shifted = energy_mmd_test(a, b + 0.5, num_permutations=99, seed=1)
    assert same["energy_p_value"] > 0.05 and same["mmd_p_value"] > 0.05
    assert shifted["energy_p_value"] == pytest.approx(0.01)  # no permutation beats it
    assert shifted["energy_distance"] > same["energy_distance"]
    with pytest.raises(ValueError, match="same d"):
        energy_mmd_test(a, b[:, :2])


def test_classification_and_loo(runs, center, other_center):
    clf = MLP(1, (4, 3), 3, "tanh", output="classification")
    rng = np.random.default_rng(5)

    def draws(c, seed):
        d = {k: v for k, v in runs[0].items() if k not in ("WL", "bL", "sigma")}
        d["WL"] = np.asarray(c["WL"])[None, None] * np.ones((4, 500, 3, 3), np.float32)
        d["WL"] = d["WL"] * np.array([1.0, -1.0, 0.5], np.float32)
        d["WL"] = d["WL"] + 0.05 * np.random.default_rng(seed).normal(size=d["WL"].shape)
        d["bL"] = 0.05 * np.random.default_rng(seed + 1).normal(size=(4, 500, 3))
        return d

    a, b = draws(center, 1), draws(other_center, 2)
    x = np.linspace(-3.0, 3.0, 15)[:, None]
    y = rng.integers(0, 3, 15)

    def log_lik(d):
        probs = predictions(as_draws(d, mlp=clf), x)
        return np.log(np.take_along_axis(probs, y[None, None, :, None], -1)[..., 0])

    res = compare(KEY, a, b, mlp=clf, x=x, log_likelihood=(log_lik(a), log_lik(b)),
                  labels=("A", "B"), num_permutations=50)
    assert 0.0 <= res.function["agreement"] <= 1.0
    assert 0.0 < res.function["total_variation"] <= 1.0
    self_cmp = compare(KEY, a, a, mlp=clf, x=x, num_permutations=20)
    assert self_cmp.function == {"agreement": 1.0, "total_variation": 0.0}
    assert set(res.loo.index) == {"A", "B"}
    assert "elpd" in res.loo.columns


def test_result_objects_use_log_likelihood(runs, mlp, x_grid):
    a, b, _ = runs
    calls = []

    def post(d):
        def log_likelihood(x, y):
            calls.append(len(x))
            f = predictions(as_draws(d, mlp=mlp), x)[..., 0]
            return -0.5 * ((f - y[:, 0]) / 0.3) ** 2

        params = {k: v for k, v in d.items() if k != "sigma"}
        return types.SimpleNamespace(mlp=mlp, draws=d, params=params, sample_stats={},
                                     log_likelihood=log_likelihood)

    y = np.sin(x_grid)
    res = compare(KEY, post(a), post(b), x=x_grid, y=y, num_permutations=20)
    assert calls == [20, 20]
    assert res.loo.shape[0] == 2


def test_failed_loo_is_reported_not_raised(runs, mlp):
    a, b, _ = runs
    # Three identical draws: PSIS cannot fit a Pareto tail, so LOO fails; the draws-based
    # measures must still come back, with the reason for the missing LOO table.
    degenerate = (np.zeros((1, 3, 5)), np.zeros((1, 3, 5)))
    res = compare(KEY, a, b, mlp=mlp, log_likelihood=degenerate, num_permutations=20)
    assert res.loo is None
    assert isinstance(res.loo_error, str) and res.loo_error
    assert np.isfinite(res.energy_distance)
    ok = compare(KEY, a, b, mlp=mlp, num_permutations=20)
    assert ok.loo is None and ok.loo_error is None


def test_bad_input(runs, mlp):
    a, b, _ = runs
    with pytest.raises(ValueError, match="space"):
        compare(KEY, a, b, mlp=mlp, space="raw")
    with pytest.raises(ValueError, match="extra sites"):
        compare(KEY, a, {k: v for k, v in b.items() if k != "sigma"}, mlp=mlp)
    with pytest.raises(TypeError, match="post_b"):
        compare(KEY, a, [1, 2], mlp=mlp)
