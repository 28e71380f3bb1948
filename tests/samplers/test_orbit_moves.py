"""The scale Gibbs move along ReLU scaling orbits, and its wiring into make_move and sample."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from blackjax.mcmc.hmc import HMCState
from scipy import stats

import symbnn
from symbnn.models import NormalPrior, bnn
from symbnn.nets import MLP
from symbnn.samplers import orbit
from symbnn.samplers.bridge import make_bridge
from symbnn.samplers.orbit import make_move, make_scale_move, scale_conditionals, scale_gibbs

# 2 inputs, hidden layers of 3 and 2 units: k = n_in - n_out is 3 - 2 = 1 and 4 - 1 = 3; per-array
# prior scales make A and B weigh weights and biases differently.
MLP_RELU = MLP(2, (3, 2), 1, activation="relu")
PRIOR = NormalPrior(1.0, overrides={"b0": 2.0, "W1": 0.5, "WL": 1.5})
NUM_DRAWS = 3000
X = jax.random.normal(jax.random.PRNGKey(10), (12, 2))
Y = jnp.sin(X[:, 0]) + 0.1 * X[:, 1]


def prior_draws(rng_key, mlp, prior, num):
    keys = jax.random.split(rng_key, len(mlp.param_names))
    return {name: prior.site_distribution(mlp, name).sample(k, (num,))
            for k, name in zip(keys, mlp.param_names, strict=True)}


def log_in_norms(mlp, params):
    """Log incoming norm (bias included) of every hidden unit, one column per unit."""
    cols = []
    for layer in range(mlp.num_hidden):
        w, b = params[mlp.weight_name(layer)], params[mlp.bias_name(layer)]
        sq = jnp.sum(w**2, axis=-2) + b**2
        cols.append(0.5 * jnp.log(sq))
    return jnp.concatenate(cols, axis=-1)


def ks_pvalues(mlp, prior, before, after):
    """KS p-values of every coordinate and every unit's log incoming and outgoing norm."""
    pvals = []
    for name in mlp.param_names:
        flat = np.asarray(after[name]).reshape(NUM_DRAWS, -1)
        scale = prior.scale_of(mlp, name)
        pvals += [stats.kstest(flat[:, i], stats.norm(0, scale).cdf).pvalue
                  for i in range(flat.shape[1])]
    # The orbit coordinates themselves: against the same statistic of the untouched prior draws.
    ref, moved = np.asarray(log_in_norms(mlp, before)), np.asarray(log_in_norms(mlp, after))
    pvals += [stats.ks_2samp(ref[:, j], moved[:, j]).pvalue for j in range(ref.shape[1])]
    return np.array(pvals)


@pytest.fixture(scope="module")
def moved():
    before = prior_draws(jax.random.PRNGKey(0), MLP_RELU, PRIOR, NUM_DRAWS)
    keys = jax.random.split(jax.random.PRNGKey(1), NUM_DRAWS)
    run = jax.jit(jax.vmap(lambda k, p: scale_gibbs(k, MLP_RELU, PRIOR, p)))
    after, scales = run(keys, before)
    return before, after, scales


def test_move_preserves_the_prior(moved):
    before, after, scales = moved
    # The move must actually move: log-scales spread well beyond rounding.
    assert all(float(jnp.std(jnp.log(c))) > 0.1 for c in scales)
    pvals = ks_pvalues(MLP_RELU, PRIOR, before, after)
    # Bonferroni over all statistics: a correct move fails with probability <= 1%.
    assert pvals.min() > 0.01 / len(pvals)


def test_move_without_haar_factor_is_caught(monkeypatch):
    # Dropping the Haar density 1/c shifts p by +1/2; the same test must reject that move.
    real = orbit.log_gig
    monkeypatch.setattr(orbit, "log_gig", lambda key, p, a, b: real(key, p + 0.5, a, b))
    before = prior_draws(jax.random.PRNGKey(0), MLP_RELU, PRIOR, NUM_DRAWS)
    keys = jax.random.split(jax.random.PRNGKey(1), NUM_DRAWS)
    after, _ = jax.jit(jax.vmap(lambda k, p: scale_gibbs(k, MLP_RELU, PRIOR, p)))(keys, before)
    pvals = ks_pvalues(MLP_RELU, PRIOR, before, after)
    assert pvals.min() < 0.01 / len(pvals)


def test_move_keeps_network_outputs(moved):
    before, after, _ = moved
    apply = jax.vmap(MLP_RELU.apply, in_axes=(0, None))
    out_before, out_after = apply(before, X), apply(after, X)
    np.testing.assert_allclose(out_after, out_before, rtol=1e-5, atol=1e-5)


def test_conditional_matches_prior_along_the_orbit():
    # log p(c) = log prior(g_c θ) + (n_in - n_out - 1) log c (Jacobian and Haar density) must
    # equal the GIG log density of t = c^2 plus log |dt/dc| = log 2c, up to a constant in c.
    params = {k: v[0] for k, v in prior_draws(jax.random.PRNGKey(3), MLP_RELU, PRIOR, 1).items()}
    group = symbnn.symmetry.scalings(MLP_RELU)
    cs = jnp.array([0.3, 0.8, 1.0, 1.7, 3.0])
    unit = 1
    for layer, k in [(0, 3 - 2), (1, 4 - 1)]:
        p, a, b = scale_conditionals(MLP_RELU, PRIOR, params, layer)
        np.testing.assert_allclose(p, k / 2)

        def lhs(c, layer=layer, k=k):
            scale = [jnp.ones(h) for h in MLP_RELU.widths]
            scale[layer] = scale[layer].at[unit].set(c)
            g = group.identity()._replace(scale=tuple(scale))
            return PRIOR.log_prob(MLP_RELU, group.act(g, params)) + (k - 1) * jnp.log(c)

        t = cs**2
        rhs = (p[unit] - 1) * jnp.log(t) - (a[unit] * t + b[unit] / t) / 2 + jnp.log(2 * cs)
        diffs = np.asarray(jax.jit(jax.vmap(lhs))(cs) - rhs)
        np.testing.assert_allclose(diffs, diffs[0], atol=1e-4)


@functools.cache
def model_and_density(activation: str):
    """A BNN model of MLP_RELU's shape and its jitted log density with gradient (built once)."""
    model = bnn(MLP(2, (3, 2), 1, activation=activation), prior=PRIOR)
    bridge = make_bridge(jax.random.PRNGKey(0), model, X, Y)
    return model, jax.jit(jax.value_and_grad(bridge.logdensity_fn))


@pytest.fixture(scope="module")
def relu_model():
    return model_and_density("relu")[0]


def bridge_state(activation, seed):
    model, density = model_and_density(activation)
    params = prior_draws(jax.random.PRNGKey(seed), model.mlp, model.prior, 1)
    position = {k: v[0] for k, v in params.items()} | {"sigma": jnp.asarray(-0.5)}
    return density, HMCState(position, *density(position))


def test_state_log_density_and_gradient_are_exact(relu_model):
    density, state = bridge_state("relu", 4)
    move = jax.jit(make_scale_move(relu_model.mlp, relu_model.prior))
    new = move(jax.random.PRNGKey(5), state)
    value, grad = density(new.position)
    assert not np.allclose(new.position["W0"], state.position["W0"])  # it moved
    assert new.position["sigma"] == state.position["sigma"]
    np.testing.assert_allclose(new.logdensity, value, rtol=1e-5)
    for name in grad:
        np.testing.assert_allclose(new.logdensity_grad[name], grad[name], rtol=1e-4, atol=1e-4)


def sorted_in_norms(mlp, position):
    return [np.sort(np.asarray(log_in_norms(mlp, position)[s])) for s in
            (slice(0, mlp.widths[0]), slice(mlp.widths[0], None))]


@pytest.mark.parametrize(
    "activation, scales",
    [("relu", True), ("tanh", False)],
)
def test_make_move_adds_scale_move_for_homogeneous_activations(activation, scales):
    model, _ = model_and_density(activation)
    density, state = bridge_state(activation, 6)
    move = jax.jit(make_move(space="full", group=model.group, orbit_moves=True, model=model))
    new = move(jax.random.PRNGKey(7), state)
    # Finite moves only permute (and flip) units: the multiset of incoming norms is unchanged.
    same = all(np.allclose(a, b, rtol=1e-5) for a, b in zip(
        sorted_in_norms(model.mlp, state.position), sorted_in_norms(model.mlp, new.position),
        strict=True))
    assert same != scales
    np.testing.assert_allclose(model.mlp.apply(model.params_of(new.position), X),
                               model.mlp.apply(model.params_of(state.position), X),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new.logdensity, density(new.position)[0], rtol=1e-5)


def test_quotient_scale_move_ends_canonical(relu_model):
    _, state = bridge_state("relu", 8)
    group = relu_model.group
    move = jax.jit(make_move(space="quotient", group=group, orbit_moves=True, model=relu_model))
    new = move(jax.random.PRNGKey(9), state)
    net = relu_model.params_of(new.position)
    canonical, _ = group.canonicalize(net)
    for name in net:
        np.testing.assert_array_equal(canonical[name], net[name])
    assert not all(np.allclose(a, b, rtol=1e-5) for a, b in zip(
        sorted_in_norms(MLP_RELU, state.position), sorted_in_norms(MLP_RELU, new.position),
        strict=True))


def test_orbit_moves_rejected_where_invalid(relu_model):
    with pytest.raises(ValueError, match="constrained"):
        make_move(space="constrained", group=relu_model.group, orbit_moves=True,
                  model=relu_model)
    asym = bnn(MLP_RELU, prior=PRIOR, reparam="asymmetric")
    with pytest.raises(ValueError, match="reparam"):
        make_move(space="full", group=asym.group, orbit_moves=True, model=asym)
    with pytest.raises(ValueError, match="activation"):
        make_scale_move(MLP(2, (3,), 1, activation="tanh"), PRIOR)


def test_sample_applies_scale_moves(relu_model):
    # Tiny HMC steps barely move the parameters; the scale move then dominates: incoming norms
    # jump between draws while the network function stays (almost) where it was.
    post = symbnn.sample(relu_model, X, Y, rng_key=jax.random.PRNGKey(11), num_chains=1,
                         num_warmup=0, num_draws=30, orbit_moves=True, progress=False,
                         kernel=symbnn.samplers.HMC(num_integration_steps=1, step_size=1e-5))
    sites = {k: v[0] for k, v in post.draws.items()}
    norms = np.sort(np.asarray(log_in_norms(MLP_RELU, sites)), axis=1)
    assert np.median(np.abs(np.diff(norms, axis=0))) > 0.05
    out = jax.vmap(MLP_RELU.apply, in_axes=(0, None))(relu_model.params_of(sites), X)
    np.testing.assert_allclose(out, np.broadcast_to(out[:1], out.shape), rtol=1e-2, atol=1e-2)
