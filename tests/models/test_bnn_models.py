import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro import handlers
from numpyro.infer import Predictive
from numpyro.infer.util import log_density, log_likelihood

from symbnn.models import (
    REPARAMS,
    Bernoulli,
    Categorical,
    FanInNormalPrior,
    Gaussian,
    NormalPrior,
    WAsymmetric,
    bnn,
    predict,
)
from symbnn.nets import MLP

REG = MLP(2, (3, 4), 1, "tanh")
REG2 = MLP(2, (3,), 2, "relu")
CLF = MLP(2, (3,), 3, "tanh", "classification")
BIN = MLP(2, (4,), 1, "gelu", "classification")


def _data(mlp, n=7, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, mlp.in_features))
    if mlp.output == "classification":
        return x, rng.integers(0, max(mlp.out_features, 2), size=n)
    if mlp.out_features == 1:
        return x, rng.normal(size=n)
    return x, rng.normal(size=(n, mlp.out_features))


def _trace(model, sites, x, y):
    return handlers.trace(handlers.substitute(handlers.seed(model, 0), data=sites)).get_trace(x, y)


def _canonical_sites(model, seed=0):
    params, _ = model.group.canonicalize(model.mlp.init(jax.random.PRNGKey(seed)))
    sites = dict(params)
    if isinstance(model.likelihood, Gaussian) and model.likelihood.learned:
        sites["sigma"] = jnp.asarray(0.6)
    return sites


@pytest.mark.parametrize(
    ("mlp", "likelihood_cls"),
    [(REG, Gaussian), (REG2, Gaussian), (CLF, Categorical), (BIN, Bernoulli)],
)
def test_default_likelihood_and_prior(mlp, likelihood_cls):
    model = bnn(mlp)
    assert type(model.likelihood) is likelihood_cls
    assert model.prior == NormalPrior(1.0)
    assert model.reparam is None
    if likelihood_cls is Gaussian:
        assert model.likelihood.learned and model.likelihood.sigma_scale == 1.0


@pytest.mark.parametrize("reparam", REPARAMS)
@pytest.mark.parametrize(
    ("mlp", "likelihood", "y_shape"),
    [
        (REG, Gaussian(), (7,)),
        (REG, Gaussian(0.3), (7,)),
        (REG2, Gaussian(sigma_scale=2.0), (7, 2)),
        (CLF, Categorical(), (7,)),
        (BIN, Bernoulli(), (7,)),
    ],
)
def test_sites_follow_the_parameter_layout(mlp, likelihood, y_shape, reparam):
    model = bnn(mlp, likelihood=likelihood, reparam=reparam)
    x, y = _data(mlp)
    trace = _trace(model, _canonical_sites(model), x, y)
    samples = {k: s for k, s in trace.items() if s["type"] == "sample"}
    latent = [k for k, s in samples.items() if not s["is_observed"]]
    expected = list(mlp.param_shapes)
    if isinstance(likelihood, Gaussian) and likelihood.learned:
        expected.append("sigma")
    assert latent == expected
    for name, shape in mlp.param_shapes.items():
        assert samples[name]["value"].shape == shape
    if "sigma" in samples:
        assert samples["sigma"]["value"].shape == ()
    assert samples["y"]["is_observed"] and samples["y"]["value"].shape == y_shape
    assert trace["data"]["type"] == "plate" and trace["data"]["args"][0] == 7
    assert not any(s["type"] == "deterministic" for s in trace.values())
    observed = {k for k, s in samples.items() if s["is_observed"]}
    assert observed == ({"y", "quotient_prior"} if reparam == "constrained" else {"y"})


def _random_elements(group, num):
    return jax.vmap(group.sample)(jax.random.split(jax.random.PRNGKey(3), num))


@pytest.mark.parametrize(
    ("mlp", "prior"),
    [
        (REG, NormalPrior(1.0)),
        (REG2, NormalPrior(0.5, overrides={"WL": 3.0})),
        (CLF, FanInNormalPrior(2.0, overrides={"b0": 0.5})),
    ],
)
def test_full_log_density_is_invariant_under_the_group(mlp, prior):
    model = bnn(mlp, prior=prior)
    x, y = _data(mlp)
    sites = _canonical_sites(model, seed=1)
    params = model.params_of(sites)
    group = model.group

    @jax.jit
    def moved_log_density(g):
        return log_density(model, (x, y), {}, {**sites, **group.act(g, params)})[0]

    reference = log_density(model, (x, y), {}, sites)[0]
    values = jax.vmap(moved_log_density)(_random_elements(group, 16))
    np.testing.assert_allclose(values, reference, rtol=1e-5)
    # The elements moved the parameters: the invariance is not a no-op.
    moved_w0 = jax.vmap(lambda g: group.act(g, params)["W0"])(_random_elements(group, 16))
    assert not np.allclose(moved_w0, params["W0"][None])


def test_predict():
    x, _ = _data(REG2)
    params = REG2.init(jax.random.PRNGKey(0))
    np.testing.assert_allclose(predict(REG2, params, x), REG2.apply(params, x))
    probs = predict(CLF, CLF.init(jax.random.PRNGKey(0)), x)
    assert probs.shape == (7, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    bin_params = BIN.init(jax.random.PRNGKey(0))
    p1 = predict(BIN, bin_params, x)
    assert p1.shape == (7, 1)
    np.testing.assert_allclose(p1, jax.nn.sigmoid(BIN.apply(bin_params, x)), rtol=1e-6)
    with pytest.raises(ValueError, match="keys"):
        predict(REG2, {"W0": params["W0"]}, x)


def test_prior_predictive_draws_labels_in_range():
    model = bnn(CLF)
    x, _ = _data(CLF)
    draws = Predictive(model, num_samples=5)(jax.random.PRNGKey(0), x)
    assert set(draws) == {*CLF.param_shapes, "y"}
    assert draws["y"].shape == (5, 7)
    assert int(draws["y"].min()) >= 0 and int(draws["y"].max()) < 3


def test_params_of_drops_sigma_and_needs_every_array():
    model = bnn(REG)
    sites = _canonical_sites(model)
    params = model.params_of(sites)
    assert set(params) == set(REG.param_shapes)
    with pytest.raises(ValueError, match="W1"):
        model.params_of({k: v for k, v in sites.items() if k != "W1"})


def test_traced_inputs_give_the_same_log_density():
    model = bnn(REG)
    x, y = _data(REG)
    sites = _canonical_sites(model)
    eager = log_density(model, (x, y), {}, sites)[0]
    traced = jax.jit(lambda xx, yy: log_density(model, (xx, yy), {}, sites)[0])(x, y)
    np.testing.assert_allclose(traced, eager, rtol=1e-6)
    with pytest.raises(ValueError, match="x must have shape"):
        jax.jit(lambda xx: log_density(model, (xx, y), {}, sites)[0])(x[:, :1])


def test_model_is_a_valid_static_argument():
    a, b = bnn(REG, prior=NormalPrior(1.0, overrides={"W0": 2.0})), bnn(REG)
    assert hash(a) == hash(bnn(REG, prior=NormalPrior(1.0, overrides={"W0": 2.0})))
    assert a != b
    x, y = _data(REG)
    sites = _canonical_sites(a)

    @jax.jit
    def f(s):
        return jnp.stack([log_density(m, (x, y), {}, s)[0] for m in (a, b)])

    out = f(sites)
    assert out[0] != out[1]  # the override changes the W0 density
    g = jax.jit(lambda m, s: log_density(m, (x, y), {}, s)[0], static_argnums=0)
    np.testing.assert_allclose(g(a, sites), out[0], rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"reparam": "quotient"}, ValueError, "reparam must be one of"),
        ({"likelihood": Categorical()}, ValueError, "Categorical needs"),
        ({"likelihood": Bernoulli()}, ValueError, "Bernoulli needs"),
        ({"likelihood": "gaussian"}, TypeError, "likelihood must be"),
        ({"prior": 1.0}, TypeError, "prior must be"),
        ({"asymmetry": WAsymmetric()}, ValueError, "asymmetry is only used"),
        ({"reparam": "asymmetric", "asymmetry": 3}, TypeError, "asymmetry must be"),
    ],
)
def test_bad_model_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        bnn(REG, **kwargs)


def test_gaussian_needs_regression_and_positive_sigma():
    with pytest.raises(ValueError, match="regression"):
        bnn(CLF, likelihood=Gaussian())
    with pytest.raises(ValueError, match="sigma"):
        Gaussian(-1.0)
    with pytest.raises(ValueError, match="sigma_scale"):
        Gaussian(sigma_scale=0.0)


def test_replace_is_validated():
    model = bnn(MLP(2, (3,), 1, "tanh", use_bias=False))
    with pytest.raises(ValueError, match="use_bias"):
        dataclasses.replace(model, reparam="constrained")


# ------------------------------------------------------------------------ asymmetric


def test_asymmetric_pattern_is_fixed_distinct_and_deterministic():
    mlp = MLP(4, (5, 6), 1, "tanh")  # C(4, 2) = 6 >= 5 and C(5, 2) = 10 >= 6 subsets
    model = bnn(mlp, reparam="asymmetric", asymmetry=WAsymmetric(num_fixed=2, seed=4))
    fixed = model.fixed_pattern()
    assert set(fixed) == {"W0", "W1"}
    for mask, values in fixed.values():
        np.testing.assert_array_equal(mask.sum(axis=0), 2)  # 2 fixed inputs per unit
        columns = {tuple(np.flatnonzero(mask[:, j])) for j in range(mask.shape[1])}
        assert len(columns) == mask.shape[1]  # distinct positions for every unit
        assert np.all(values[mask] != 0) and np.all(values[~mask] == 0)
    again = bnn(mlp, reparam="asymmetric", asymmetry=WAsymmetric(num_fixed=2, seed=4))
    for name in fixed:
        np.testing.assert_array_equal(again.fixed_pattern()[name][1], fixed[name][1])
    other = bnn(mlp, reparam="asymmetric", asymmetry=WAsymmetric(num_fixed=2, seed=5))
    assert not np.array_equal(other.fixed_pattern()["W1"][1], fixed["W1"][1])


@pytest.mark.parametrize(("in_features", "num_fixed"), [(1, 2), (3, 2), (2, 5)])
def test_asymmetric_with_few_subsets_still_breaks_the_symmetry(in_features, num_fixed):
    # fan-in 1: every W0 entry is fixed; fan-in 3 with 2 fixed: C(3, 2) = 3 < 4 units, so some
    # units share positions; fan-in 2: at most fan_in - 1 = 1 entry fixed. Units still differ
    # through their fixed values.
    asym = WAsymmetric(num_fixed=num_fixed)
    model = bnn(MLP(in_features, (4,), 1, "tanh"), reparam="asymmetric", asymmetry=asym)
    mask, values = model.fixed_pattern()["W0"]
    k = asym.num_fixed_of(in_features)
    assert k == (1 if in_features <= 2 else 2)
    np.testing.assert_array_equal(mask.sum(axis=0), k)
    unit_patterns = {tuple(values[:, j].tolist()) for j in range(4)}
    assert len(unit_patterns) == 4


def test_asymmetric_forward_pass_uses_the_pattern():
    model = bnn(REG, reparam="asymmetric")
    x, y = _data(REG)
    sites = _canonical_sites(model)
    params = model.params_of(sites)
    for name, (mask, values) in model.fixed_pattern().items():
        np.testing.assert_allclose(np.asarray(params[name])[mask], values[mask], rtol=1e-6)
        np.testing.assert_array_equal(np.asarray(params[name])[~mask], sites[name][~mask])
    # Changing a site's fixed entries changes nothing in the likelihood.
    mask0 = model.fixed_pattern()["W0"][0]
    shaken = {**sites, "W0": jnp.where(mask0, 100.0, sites["W0"])}
    np.testing.assert_allclose(
        log_likelihood(model, shaken, x, y, batch_ndims=0)["y"],
        log_likelihood(model, sites, x, y, batch_ndims=0)["y"],
        rtol=1e-6,
    )


def test_asymmetric_model_is_not_invariant():
    """W-asymmetry changes the model: a random permutation changes the log density."""
    model = bnn(REG, reparam="asymmetric")
    full = bnn(REG)
    x, y = _data(REG)
    sites = _canonical_sites(model)
    params = full.params_of(sites)
    g = model.group.sample(jax.random.PRNGKey(0))
    moved = {**sites, **model.group.act(g, params)}
    before = float(log_density(model, (x, y), {}, sites)[0])
    after = float(log_density(model, (x, y), {}, moved)[0])
    assert abs(after - before) > 1e-3 * abs(before)
