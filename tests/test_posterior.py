"""Posterior: predictions, log-likelihood, symmetry maps, arviz DataTree, netCDF round trip.

The draws here are prior draws put into (chain, draw) shape: the Posterior methods do not care
where the draws come from, and no sampler has to be compiled.
"""

import dataclasses

import arviz_stats
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import symbnn
from symbnn import MLP, Posterior
from symbnn.models import bnn
from symbnn.samplers.bridge import prior_sites

NUM_CHAINS, NUM_DRAWS, N = 2, 6, 9


def _posterior(mlp, y_of, *, reparam=None, key=0, space="full"):
    model = bnn(mlp, reparam=reparam)
    rng = np.random.default_rng(key)
    x = rng.uniform(-2, 2, (N, mlp.in_features))
    source = bnn(mlp) if reparam == "constrained" else model
    draw = jax.jit(lambda k, x: prior_sites(k, source, x, NUM_CHAINS * NUM_DRAWS))
    sites = draw(jax.random.key(key), jnp.asarray(x))
    draws = {k: np.asarray(v).reshape((NUM_CHAINS, NUM_DRAWS, *v.shape[1:]))
             for k, v in sites.items()}
    stats = {"lp": rng.normal(size=(NUM_CHAINS, NUM_DRAWS)),
             "diverging": np.zeros((NUM_CHAINS, NUM_DRAWS), bool)}
    post = Posterior(model, draws, stats, space, x, y_of(rng, x), {"kernel": "nuts"})
    if reparam == "constrained":  # constrained draws are canonical
        post = dataclasses.replace(post.canonical(), model=model)
    return post


@pytest.fixture(scope="module")
def reg():
    mlp = MLP(1, (3,), 1, "tanh", "regression", True)
    return _posterior(mlp, lambda rng, x: np.sin(2 * x[:, 0]) + 0.1 * rng.normal(size=N))


@pytest.fixture(scope="module")
def clf():
    mlp = MLP(2, (4,), 3, "relu", "classification", True)
    return _posterior(mlp, lambda rng, x: rng.integers(0, 3, N), key=1)


def _draw(post, c, d):
    return {k: v[c, d] for k, v in post.params.items()}


def test_predict_shape_and_values(reg, clf):
    for post in (reg, clf):
        pred = post.predict(post.x)
        out = post.mlp.out_features
        assert pred.shape == (NUM_CHAINS, NUM_DRAWS, N, out)
        direct = post.mlp.apply(_draw(post, 1, 4), jnp.asarray(post.x))
        if post.mlp.output == "classification":
            direct = jax.nn.softmax(direct, axis=-1)
            np.testing.assert_allclose(pred.sum(-1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(pred[1, 4], direct, rtol=1e-5, atol=1e-6)


def test_log_likelihood_matches_direct_computation(reg, clf):
    ll = reg.log_likelihood()
    assert ll.shape == (NUM_CHAINS, NUM_DRAWS, N)
    mean = reg.predict(reg.x)[..., 0]
    sigma = reg.draws["sigma"][..., None]
    np.testing.assert_allclose(ll, scipy.stats.norm.logpdf(reg.y, mean, sigma), rtol=1e-4,
                               atol=1e-4)
    ll = clf.log_likelihood()
    probs = clf.predict(clf.x)
    direct = np.log(np.take_along_axis(probs, clf.y[None, None, :, None], -1)[..., 0])
    np.testing.assert_allclose(ll, direct, rtol=1e-4, atol=1e-4)
    # new data of another size
    x_new, y_new = reg.x[:4], reg.y[:4]
    assert reg.log_likelihood(x_new, y_new).shape == (NUM_CHAINS, NUM_DRAWS, 4)
    no_data = dataclasses.replace(reg, x=None, y=None)
    with pytest.raises(ValueError, match="needs x and y"):
        no_data.log_likelihood()


@pytest.mark.parametrize(
    ("which", "key"),
    [("reg", jax.random.key(3)), ("reg", jax.random.PRNGKey(3)), ("clf", jax.random.key(3))],
    ids=["regression-typed-key", "regression-legacy-key", "classification"],
)
def test_symmetrized_changes_parameters_not_predictions(request, which, key):
    post = request.getfixturevalue(which)
    sym = post.symmetrized(key)
    assert sym.attrs["symmetrized"] is True
    # a uniform element of a group of order 48 (tanh 3 units) or 24 (relu 4 units) moved the
    # parameters of most draws (the chance that all 12 draws get the identity is negligible)
    moved = [not np.allclose(sym.draws["W0"][c, d], post.draws["W0"][c, d])
             for c in range(NUM_CHAINS) for d in range(NUM_DRAWS)]
    assert np.mean(moved) > 0.5
    # function-space invariance
    np.testing.assert_allclose(sym.predict(post.x), post.predict(post.x), rtol=1e-5, atol=1e-6)
    # the same orbit: equal canonical forms
    for k in post.mlp.param_names:
        np.testing.assert_allclose(sym.canonical().draws[k], post.canonical().draws[k],
                                   rtol=1e-5, atol=1e-6)
    # same key, same draws
    np.testing.assert_array_equal(post.symmetrized(key).draws["W0"], sym.draws["W0"])


def test_canonical_is_idempotent_and_ordered(reg):
    canon = reg.canonical()
    b0 = canon.draws["b0"]
    assert np.all(b0 >= 0)  # tanh: signs fixed by a non-negative bias
    assert np.all(np.diff(b0, axis=-1) >= 0)  # then units sorted by bias
    again = canon.canonical()
    for k in reg.mlp.param_names:
        np.testing.assert_array_equal(again.draws[k], canon.draws[k])
    np.testing.assert_allclose(canon.predict(reg.x), reg.predict(reg.x), rtol=1e-5, atol=1e-6)


def test_symmetrized_constrained_draws_leave_the_constrained_model():
    mlp = MLP(1, (3,), 1, "tanh", "regression", True)
    post = _posterior(mlp, lambda rng, x: x[:, 0], reparam="constrained", key=2,
                      space="constrained")
    assert post.model.reparam == "constrained"
    sym = post.symmetrized(jax.random.key(0))
    assert sym.model.reparam is None
    assert np.any(sym.draws["b0"] < 0)


def test_asymmetric_model_refuses_symmetry_maps():
    mlp = MLP(1, (3,), 1, "tanh", "regression", True)
    post = _posterior(mlp, lambda rng, x: x[:, 0], reparam="asymmetric", key=2)
    with pytest.raises(ValueError, match="asymmetric"):
        post.canonical()
    with pytest.raises(ValueError, match="asymmetric"):
        post.symmetrized(jax.random.key(0))


def test_to_datatree_groups_and_rhat(reg):
    dt = reg.to_datatree()
    for group in ("posterior", "sample_stats", "log_likelihood", "observed_data"):
        assert group in dt.children
    post = dt["posterior"]
    assert post.sizes["chain"] == NUM_CHAINS and post.sizes["draw"] == NUM_DRAWS
    assert set(post.data_vars) == set(reg.draws)
    np.testing.assert_array_equal(post["W0"].values, reg.draws["W0"])
    np.testing.assert_allclose(dt["log_likelihood"]["y"].values, reg.log_likelihood())
    np.testing.assert_array_equal(dt["observed_data"]["y"].values, reg.y)
    rhat = arviz_stats.rhat(dt)
    assert set(rhat.data_vars) == set(reg.draws)
    assert all(np.all(np.isfinite(rhat[v].values)) for v in rhat.data_vars)


def _assert_same_run(a, b):
    assert a.model == b.model
    assert a.space == b.space and a.attrs == b.attrs
    for k in a.draws:
        np.testing.assert_array_equal(a.draws[k], b.draws[k])
    for k in a.sample_stats:
        np.testing.assert_array_equal(a.sample_stats[k], b.sample_stats[k])
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)


def test_datatree_round_trip(reg, clf):
    for post in (reg, clf):
        _assert_same_run(Posterior.from_datatree(post.to_datatree()), post)
    bare = reg.to_datatree()
    bare.attrs = {}
    with pytest.raises(ValueError, match="symbnn_model"):
        Posterior.from_datatree(bare)


def test_save_load_round_trip(reg, tmp_path):
    path = reg.save(tmp_path / "run" / "post.nc")
    assert path.exists() and not path.with_name("post.nc.tmp").exists()
    _assert_same_run(symbnn.load(path), reg)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no symbnn run"):
        symbnn.load(tmp_path / "nothing.nc")


def test_from_numpyro_keeps_draws_and_renames_statistics():
    from numpyro.infer import MCMC, NUTS

    mlp = MLP(1, (2,), 1, "tanh")
    model = bnn(mlp)
    rng = np.random.default_rng(3)
    x = rng.uniform(-2, 2, (N, 1)).astype(np.float32)
    y = np.sin(x[:, 0]).astype(np.float32)
    mcmc = MCMC(NUTS(model), num_warmup=20, num_samples=7, num_chains=2,
                chain_method="sequential", progress_bar=False)
    mcmc.run(jax.random.key(0), x, y=y, extra_fields=("diverging", "potential_energy",
                                                        "num_steps"))
    post = Posterior.from_numpyro(model, mcmc, x, y)
    samples = mcmc.get_samples(group_by_chain=True)
    assert post.num_chains == 2 and post.num_draws == 7
    np.testing.assert_array_equal(post.draws["W0"], np.asarray(samples["W0"]))
    extra = mcmc.get_extra_fields(group_by_chain=True)
    np.testing.assert_array_equal(post.sample_stats["lp"], -np.asarray(extra["potential_energy"]))
    np.testing.assert_array_equal(post.sample_stats["num_integration_steps"],
                                  np.asarray(extra["num_steps"]))
    assert "potential_energy" not in post.sample_stats and post.attrs["sampler"] == "numpyro"
    assert post.predict(x).shape == (2, 7, N, 1)
