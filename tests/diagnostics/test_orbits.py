import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from symbnn.diagnostics import check_invariance, orbit_occupancy
from symbnn.diagnostics.inputs import default_group
from symbnn.nets import MLP


def _model(mlp, scales):
    def model(x, y=None):
        params = {
            name: numpyro.sample(name, dist.Normal(0.0, scales[name]).to_event(len(shape)))
            for name, shape in mlp.param_shapes.items()
        }
        sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
        numpyro.sample("y", dist.Normal(mlp.apply(params, x), sigma).to_event(2), obs=y)

    return model


@pytest.fixture(scope="module")
def data(mlp):
    x = jnp.linspace(-2.0, 2.0, 8)[:, None]
    return x, jnp.sin(2.0 * x)


@pytest.fixture(scope="module")
def site_values(center):
    return {**center, "sigma": jnp.asarray(0.4)}


def test_invariant_model_passes(mlp, group, data, site_values):
    x, y = data
    model = _model(mlp, {k: jnp.ones(s) for k, s in mlp.param_shapes.items()})
    res = check_invariance(jax.random.PRNGKey(0), model, site_values, group,
                           model_args=(x,), model_kwargs={"y": y}, x=x, num_elements=8)
    assert res.passed
    assert res.max_log_density_deviation < 1e-3  # float32 round-off of a sum of ~40 terms
    assert res.max_output_deviation < 1e-5
    assert res.log_density_deviations.shape == (8,)


def test_non_invariant_prior_fails(mlp, group, data, site_values):
    x, y = data
    # Unit-dependent prior scales in the first layer: not invariant under permutations.
    scales = {k: jnp.ones(s) for k, s in mlp.param_shapes.items()}
    scales["b0"] = jnp.array([0.1, 1.0, 2.0, 4.0])
    model = _model(mlp, scales)
    res = check_invariance(jax.random.PRNGKey(0), model, site_values, group,
                           model_args=(x,), model_kwargs={"y": y}, num_elements=8)
    assert not res.passed
    assert res.max_log_density_deviation > 1.0


def test_log_density_fn_and_output_only(mlp, group, center, data):
    x, _ = data
    res = check_invariance(jax.random.PRNGKey(1), None, center, group, x=x)
    assert res.passed and res.max_log_density_deviation is None

    def not_invariant(p):  # depends on the order of the units
        return jnp.sum(p["b0"] * jnp.arange(4.0))

    res = check_invariance(jax.random.PRNGKey(1), None, center, group,
                           log_density_fn=not_invariant)
    assert not res.passed


@pytest.mark.parametrize(
    "kwargs, match",
    [({"num_elements": 0}, "num_elements"), ({}, "nothing to check"),
     ({"log_density_fn": jnp.sum, "x": None, "model": lambda: None}, "either model")],
)
def test_invariance_bad_input(group, center, kwargs, match):
    kwargs = {"model": None, "x": np.zeros((2, 1)), **kwargs}
    if kwargs.get("num_elements", 1) != 0 and "log_density_fn" not in kwargs:
        kwargs["x"] = None
    model = kwargs.pop("model")
    with pytest.raises(ValueError, match=match):
        check_invariance(jax.random.PRNGKey(0), model, center, group, **kwargs)


@pytest.mark.parametrize("orbit", ["none", "chain"])
def test_occupancy_rejects_draws_that_never_flip(make_draws, center, mlp, orbit):
    res = orbit_occupancy(make_draws(center, 11, orbit=orbit), mlp=mlp)
    assert np.all(res.chain_p_values < 1e-3)
    assert res.rejects(1e-3)
    assert set(res.table["kind"]) == {"sign", "permutation"}
    if orbit == "none":
        # All chains stuck in the same member: the pooled draws never flip either.
        assert res.pooled_p_value < 1e-3
    # With one member per chain the pooled indicators have an ESS of a few draws (the chains
    # disagree), so the pooled test rightly has little power; the per-chain tests carry it.


def test_occupancy_accepts_symmetrised_draws(make_draws, center, mlp):
    res = orbit_occupancy(make_draws(center, 12, orbit="draw"), mlp=mlp)
    # Under uniform occupancy each Bonferroni-combined p-value is <= 0.01 with probability at
    # most 0.01; fixed seed.
    assert np.all(res.chain_p_values > 0.01)
    assert res.pooled_p_value > 0.01
    assert not res.rejects(0.01)
    # Flip frequencies near 1/2 and top-unit counts near uniform.
    for flips, tops in zip(res.flip_frequency, res.top_index_counts, strict=True):
        assert np.all(np.abs(flips - 0.5) < 0.1)
        assert np.all(tops.sum(1) == 500)


def test_occupancy_verdict_has_its_level_whatever_the_number_of_chains():
    # rejects(level) is one test of level `level`: the smallest of the pooled and per-chain
    # p-values times their number (Bonferroni). One chain p of 0.004 among 4 chains and the
    # pooled test (p = 0.02 combined) is not a rejection at 0.01; 0.001 (0.005 combined) is.
    from symbnn.diagnostics.orbits import OccupancyResult

    def result(pooled, chains):
        return OccupancyResult(None, np.asarray(chains, float), pooled, (), ())

    mild = result(0.5, [0.004, 0.5, 0.6, 0.7])
    assert mild.p_value == pytest.approx(0.02) and not mild.rejects(0.01)
    assert result(0.5, [0.001, 0.5, 0.6, 0.7]).rejects(0.01)
    assert result(0.001, [0.5, 0.5]).p_value == pytest.approx(0.003)
    assert result(0.9, [0.9] * 3).p_value == 1.0  # capped at 1
    # 1274 chains from a right sampler: uniform p-values; the combined test rejects at about
    # its level, where "any chain below 0.01" would almost surely reject (1 - 0.99^1274).
    rng = np.random.default_rng(0)
    runs = [result(rng.uniform(), rng.uniform(size=1274)) for _ in range(2000)]
    rate = np.mean([r.rejects(0.01) for r in runs])
    assert rate <= 0.01 + 3 * np.sqrt(0.01 * 0.99 / 2000)  # Bonferroni is at most its level
    assert np.mean([np.any(r.chain_p_values < 0.01) for r in runs]) > 0.99


def test_occupancy_adjusts_for_slow_mixing(make_draws, center, mlp):
    # Each group element repeated for 10 consecutive draws: a chain that mixes over the orbit,
    # slowly. The ESS adjustment divides the evidence by about 10.
    d = make_draws(center, 13, orbit="draw", num_draws=50)
    slow = {k: np.repeat(v, 10, axis=1) for k, v in d.items()}
    adj = orbit_occupancy(slow, mlp=mlp)
    raw = orbit_occupancy(slow, mlp=mlp, adjust_for_autocorrelation=False)
    assert np.all(adj.table["num_effective"] < 0.5 * raw.table["num_effective"])
    assert np.all(adj.table["statistic"] < raw.table["statistic"])
    assert not adj.rejects(0.01)


def test_occupancy_permutation_only():
    mlp = MLP(2, (5,), 1, "relu")
    group = default_group(mlp)
    assert group.spec.kinds == ("permutation",)
    p = mlp.init(jax.random.PRNGKey(0))
    p["b0"] = jnp.arange(5.0)
    draws = {k: np.broadcast_to(np.asarray(v), (2, 100, *v.shape)) for k, v in p.items()}
    res = orbit_occupancy(draws, mlp=mlp)
    assert set(res.table["kind"]) == {"permutation"}
    assert np.all(np.isnan(res.flip_frequency[0]))
    assert res.pooled_p_value < 1e-3
