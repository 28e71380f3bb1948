"""Draws symbnn did not make: a numpyro BNN with its own site names, arviz DataTrees, Datasets."""

import arviz_base
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC, NUTS

import symbnn
from symbnn import MLP, diagnostics

NAMES = {"w1": "W0", "w2": "W1", "w3": "WL"}
SPEC = MLP(2, (3, 3), 1, "tanh", "regression", use_bias=False)


def numpyro_bnn(x, y=None):
    """The shape of numpyro's examples/bnn.py: no biases, sites w1..w3, a noise precision."""
    w1 = numpyro.sample("w1", dist.Normal(jnp.zeros((2, 3)), 1.0))
    w2 = numpyro.sample("w2", dist.Normal(jnp.zeros((3, 3)), 1.0))
    w3 = numpyro.sample("w3", dist.Normal(jnp.zeros((3, 1)), 1.0))
    prec = numpyro.sample("prec_obs", dist.Gamma(3.0, 1.0))
    mean = jnp.tanh(jnp.tanh(x @ w1) @ w2) @ w3
    numpyro.sample("y", dist.Normal(mean[:, 0], 1.0 / jnp.sqrt(prec)), obs=y)


@pytest.fixture(scope="module")
def mcmc():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2))
    y = np.tanh(x[:, 0]) + 0.1 * rng.normal(size=30)
    run = MCMC(NUTS(numpyro_bnn), num_warmup=100, num_samples=40, num_chains=2,
               chain_method="sequential", progress_bar=False)
    run.run(jax.random.PRNGKey(0), x, y)
    return run, x


def test_numpyro_model_with_names_end_to_end(mcmc):
    run, x = mcmc
    draws = run.get_samples(group_by_chain=True)
    res = diagnostics.summary(draws, x=x[:5], mlp=SPEC, names=NAMES)
    assert "prec_obs" in res.table.index and np.isfinite(res.table.loc["predictive", "max_rhat"])
    cmp = diagnostics.compare(jax.random.key(0), draws, draws, mlp=SPEC, names=NAMES)
    assert cmp.verdict().startswith("no difference detected")
    assert diagnostics.count_modes(draws, mlp=SPEC, names=NAMES).num_modes >= 1


def test_missing_sites_message_lists_shapes_and_names(mcmc):
    run, _ = mcmc
    draws = run.get_samples(group_by_chain=True)
    with pytest.raises(ValueError, match=r"lacks the network sites.*w1 \(2, 3\).*names=") as err:
        diagnostics.summary(draws, mlp=SPEC)
    assert "W0 (2, 3)" in str(err.value)


def test_names_must_name_existing_sites_once(mcmc):
    run, _ = mcmc
    draws = run.get_samples(group_by_chain=True)
    with pytest.raises(ValueError, match="do not have"):
        diagnostics.summary(draws, mlp=SPEC, names={**NAMES, "w9": "W2"})
    with pytest.raises(ValueError, match="two sites to one name"):
        diagnostics.summary(draws, mlp=SPEC, names=lambda k: "W0")


def test_datatree_and_dataset_inputs(mcmc):
    run, x = mcmc
    dt = arviz_base.from_numpyro(run)
    from_tree = diagnostics.summary(dt, x=x[:5], mlp=SPEC, names=NAMES)
    from_dict = diagnostics.summary(run.get_samples(group_by_chain=True), x=x[:5], mlp=SPEC,
                                    names=NAMES, sample_stats={"diverging": np.asarray(
                                        dt["sample_stats"]["diverging"])})
    assert from_tree.num_divergences == from_dict.num_divergences  # sample_stats group read
    np.testing.assert_allclose(from_tree.table["max_rhat"], from_dict.table["max_rhat"])
    ds = dt["posterior"].to_dataset()
    from_ds = diagnostics.summary(ds, mlp=SPEC, names=NAMES)
    np.testing.assert_allclose(from_ds.table.loc["raw", "max_rhat"],
                               from_dict.table.loc["raw", "max_rhat"])


def test_posterior_of_a_foreign_model_names_the_cause(mcmc):
    run, x = mcmc
    with pytest.raises(TypeError, match="no MLP spec.*names="):
        symbnn.Posterior.from_numpyro(numpyro_bnn, run, x, np.zeros(len(x)))


def test_posterior_from_numpyro_with_mlp_and_names(mcmc):
    run, x = mcmc
    y = np.tanh(x[:, 0])
    post = symbnn.Posterior.from_numpyro(numpyro_bnn, run, x, y, mlp=SPEC, names=NAMES)
    assert sorted(post.draws) == ["W0", "W1", "WL", "prec_obs"]
    ll = post.log_likelihood()  # the wrapped model renames its sites to the draws' names
    assert ll.shape == (2, 40, len(x)) and np.all(np.isfinite(ll))
    canon = post.canonical()
    assert diagnostics.summary(canon, x=x[:5]).table.loc["raw", "max_rhat"] == pytest.approx(
        diagnostics.summary(post, x=x[:5]).table.loc["canonical", "max_rhat"], rel=1e-6)
    with pytest.raises(ValueError, match="both mlp= and names="):
        symbnn.Posterior.from_numpyro(numpyro_bnn, run, x, y, mlp=SPEC)


def test_cli_diagnoses_a_netcdf_of_foreign_draws(mcmc, tmp_path, capsys):
    from symbnn.cli import main

    run, _ = mcmc
    path = tmp_path / "foreign.nc"
    arviz_base.from_numpyro(run).to_netcdf(path, engine="h5netcdf")
    argv = ["diagnose", str(path), "--mlp", "2-3-3-1", "--activation", "tanh", "--no-bias",
            "--names", "w1=W0,w2=W1,w3=WL", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "canonical" in out and "prec_obs" in out
    with pytest.raises(SystemExit) as exc:  # without --mlp: a one-line error naming it
        main(["diagnose", str(path)])
    assert exc.value.code == 2 and "--mlp" in capsys.readouterr().err
