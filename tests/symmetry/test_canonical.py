"""Hard canonical forms: orbit invariance, idempotence, the returned element, the conventions.

Permutations and sign flips only move and negate floats, so for generic parameters the canonical
form of every member of an orbit is the same array, compared with ==. Scaling and logit shifts
round (see test_group_actions.py for the float32 tolerances used with them).
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from param_asserts import assert_close, assert_equal, check

from symbnn.nets import ACTIVATIONS, MLP, ODD_ACTIVATIONS
from symbnn.symmetry import permutations, product, scalings, symmetry_of

WIDTHS = [(3,), (16,), (8, 8, 8)]
IO = [(1, 1, "regression"), (3, 4, "classification")]
CASES = [(a, w, io, True) for a, w, io in itertools.product(sorted(ACTIVATIONS), WIDTHS, IO)]
CASES += [(a, (8, 8, 8), io, False) for a, io in itertools.product(sorted(ACTIVATIONS), IO)]


def _case_id(case):
    act, widths, (d_in, d_out, _), bias = case
    return f"{act}-{'x'.join(map(str, widths))}-{d_in}to{d_out}{'' if bias else '-nobias'}"


def setup(case, seed=0):
    act, widths, (d_in, d_out, output), bias = case
    mlp = MLP(d_in, widths, d_out, act, output, bias)
    kinds = ("permutation", "sign") if act in ODD_ACTIVATIONS else ("permutation",)
    return mlp, symmetry_of(mlp), symmetry_of(mlp, kinds), mlp.init(jax.random.PRNGKey(seed))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_same_canonical_form_on_an_orbit(case):
    mlp, full, discrete, params = setup(case)
    canon, _ = full.canonicalize(params)
    canon_d, _ = discrete.canonicalize(params)
    for seed in range(2):
        # Permutations and sign flips: exact, also under the full group's canonical form.
        g = discrete.sample(jax.random.PRNGKey(seed))
        moved = discrete.act(g, params)
        assert_equal(full.canonicalize(moved)[0], canon)
        assert_equal(discrete.canonicalize(moved)[0], canon_d)
        # Any element of the full group (scales, logit shifts too): up to float rounding.
        h = full.sample(jax.random.PRNGKey(10 + seed))
        check(full, full.canonicalize(full.act(h, params))[0], canon)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_idempotent_and_returned_element(case):
    mlp, full, discrete, params = setup(case)
    for group in (discrete, full):
        canon, g = group.canonicalize(params)
        check(group, group.act(g, params), canon)
        again, g_again = group.canonicalize(canon)
        check(group, again, canon)
        if group.spec.finite:  # the canonical form is its own canonical form, by the identity
            for perm, sign in zip(g_again.perm, g_again.sign, strict=True):
                np.testing.assert_array_equal(perm, np.arange(perm.shape[0]))
                np.testing.assert_array_equal(sign, 1.0)


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu", "identity"])
def test_conventions(activation, use_bias):
    mlp = MLP(3, (8, 8, 8), 4, activation, "classification", use_bias)
    group = symmetry_of(mlp)
    canon, _ = group.canonicalize(mlp.init(jax.random.PRNGKey(5)))
    for layer in range(mlp.num_hidden):
        w = canon[mlp.weight_name(layer)]
        b = canon[mlp.bias_name(layer)] if use_bias else None
        in_sq = jnp.sum(w**2, 0) + (b**2 if use_bias else 0.0)
        scaled = activation in ("relu", "identity")
        # With unit-norm scaling the key is compared after normalisation, which it already is.
        key = b if use_bias else w.sum(0)
        if activation in ODD_ACTIVATIONS:
            assert bool(jnp.all(key >= 0)), "sign flips make every key non-negative"
        assert bool(jnp.all(jnp.diff(key) >= 0)), "units are sorted by their key"
        if scaled:
            np.testing.assert_allclose(in_sq, 1.0, rtol=1e-6)
    wl = canon["WL"]
    np.testing.assert_allclose(wl.mean(1), 0.0, atol=1e-6 * float(jnp.abs(wl).max()))
    if use_bias:
        assert abs(float(canon["bL"].mean())) < 1e-6 * float(jnp.abs(canon["bL"]).max())


def test_tied_keys_are_canonical():
    # One input without a bias: under unit-norm scaling every normalised incoming weight of the
    # first layer is +-1, for every parameter value. The canonical form must still be the same on
    # the whole orbit (the outgoing weights order the tied units).
    for act in ("relu", "identity"):
        mlp = MLP(1, (8, 8, 8), 1, act, use_bias=False)
        full = symmetry_of(mlp)
        params = mlp.init(jax.random.PRNGKey(1))
        canon, _ = full.canonicalize(params)
        np.testing.assert_allclose(jnp.abs(canon["W0"]), 1.0, rtol=1e-6)
        for seed in range(3):
            moved = full.act(full.sample(jax.random.PRNGKey(seed)), params)
            assert_close(full.canonicalize(moved)[0], canon)


def test_balanced_scaling():
    mlp = MLP(3, (8, 8, 8), 4, "relu", "classification")
    group = product(permutations(mlp), scalings(mlp, canonical="balanced"))
    unit_norm = product(permutations(mlp), scalings(mlp))
    params = mlp.init(jax.random.PRNGKey(2))
    canon, g = jax.jit(group.canonicalize)(params)
    assert_close(group.act(g, params), canon, rtol=1e-5)
    for layer in range(mlp.num_hidden):
        w_in, b = canon[mlp.weight_name(layer)], canon[mlp.bias_name(layer)]
        in_sq = jnp.sum(w_in**2, 0) + b**2
        out_sq = jnp.sum(canon[mlp.weight_name(layer + 1)] ** 2, 1)
        # Converged to sum(log c)^2 < 1e-10: per-unit norms agree to ~1e-5 relative.
        np.testing.assert_allclose(in_sq, out_sq, rtol=1e-4)
        assert bool(jnp.all(jnp.diff(b) >= 0))

    def sq_norm(p):
        return float(sum(jnp.sum(v**2) for v in p.values()))

    # The balanced point has the least squared norm on the scaling orbit.
    assert sq_norm(canon) < sq_norm(unit_norm.canonicalize(params)[0])
    for seed in range(3):
        h = group.sample(jax.random.PRNGKey(seed))
        assert sq_norm(canon) < sq_norm(group.act(h, canon))
        # Same canonical form from anywhere on the orbit (iterative: tolerance 1e-4).
        other, _ = jax.jit(group.canonicalize)(group.act(h, params))
        assert_close(other, canon, rtol=1e-4, floor=1e-5)


@pytest.mark.parametrize(
    ("activation", "widths", "d_in", "d_out", "output"),
    [("tanh", (16,), 1, 1, "regression"), ("relu", (3,), 3, 4, "classification")],
)
def test_jit_and_vmap_match_a_loop(activation, widths, d_in, d_out, output):
    mlp = MLP(d_in, widths, d_out, activation, output)
    group = symmetry_of(mlp)
    params = jax.vmap(mlp.init)(jax.random.split(jax.random.PRNGKey(0), 5))
    canon, g = jax.jit(jax.vmap(group.canonicalize))(params)
    for i in range(5):
        one, g_one = group.canonicalize(jax.tree.map(lambda v, i=i: v[i], params))
        check(group, jax.tree.map(lambda v, i=i: v[i], canon), one)
        for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_one), strict=True):
            np.testing.assert_allclose(a[i], b, rtol=1e-6)


@pytest.mark.parametrize("output", ["regression", "classification"])
def test_no_hidden_layers(output):
    mlp = MLP(3, (), 4, "tanh", output)
    group = symmetry_of(mlp)
    params = mlp.init(jax.random.PRNGKey(0))
    canon, g = group.canonicalize(params)
    check(group, group.act(g, params), canon)
    if output == "regression":
        assert_equal(canon, params)
    else:
        np.testing.assert_allclose(canon["WL"].mean(1), 0.0, atol=1e-6)
