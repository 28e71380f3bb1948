"""Group actions on MLP parameters: function invariance, group laws, sampling, factories, errors.

Tolerances: permutations and sign flips move and negate floats, so the parameters they produce are
compared exactly; network outputs are compared with rtol 1e-5 (the hidden sums run in another
order). Scalings and logit shifts multiply, divide and add in float32 (relative rounding ~6e-8 per
operation, a few operations per weight), so their parameters are compared with rtol 1e-5 and an
absolute floor of 1e-6 times the largest entry, and outputs with rtol 1e-5 plus an absolute floor of
1e-5 times the largest output (sums of terms of both signs lose relative accuracy near zero).
"""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from param_asserts import assert_close, assert_equal, check

from symbnn.nets import ACTIVATIONS, HOMOGENEOUS_ACTIVATIONS, MLP, ODD_ACTIVATIONS
from symbnn.symmetry import (
    Group,
    logit_shifts,
    permutations,
    product,
    scalings,
    sign_flips,
    symmetry_of,
)

WIDTHS = [(3,), (16,), (8, 8, 8)]
IO = [(1, 1, "regression"), (3, 4, "classification")]
CASES = [(a, w, io, True) for a, w, io in itertools.product(sorted(ACTIVATIONS), WIDTHS, IO)]
CASES += [(a, (8, 8, 8), io, False) for a, io in itertools.product(sorted(ACTIVATIONS), IO)]


def _case_id(case):
    act, widths, (d_in, d_out, _), bias = case
    return f"{act}-{'x'.join(map(str, widths))}-{d_in}to{d_out}{'' if bias else '-nobias'}"


def discrete_kinds(mlp):
    return ("permutation", "sign") if mlp.activation in ODD_ACTIVATIONS else ("permutation",)


def setup(case, seed=0):
    act, widths, (d_in, d_out, output), bias = case
    mlp = MLP(d_in, widths, d_out, act, output, bias)
    params = mlp.init(jax.random.PRNGKey(seed))
    x = jax.random.normal(jax.random.PRNGKey(1000 + seed), (16, d_in))
    return mlp, symmetry_of(mlp), symmetry_of(mlp, discrete_kinds(mlp)), params, x


def outputs(mlp, params, x):
    out = mlp.apply(params, x)
    # Logit shifts change raw logits, not the class probabilities.
    return jax.nn.log_softmax(out) if mlp.output == "classification" else out


def element_leaves_equal(g, h):
    return all(np.array_equal(u, v) for u, v in zip(jax.tree.leaves(g), jax.tree.leaves(h),
                                                   strict=True))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_outputs_invariant(case):
    mlp, group, _, params, x = setup(case)
    ref = outputs(mlp, params, x)
    scale = float(jnp.max(jnp.abs(ref)))
    for seed in range(2):
        g = group.sample(jax.random.PRNGKey(seed))
        moved = group.act(g, params)
        got = outputs(mlp, moved, x)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * scale)
        if mlp.widths[0] > 3:  # a random element of a big group moves the parameters
            assert not np.array_equal(moved[mlp.weight_name(0)], params[mlp.weight_name(0)])


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_inverse_and_composition(case):
    mlp, group, discrete, params, _ = setup(case)
    for grp in (discrete, group):
        g, h = grp.sample(jax.random.PRNGKey(1)), grp.sample(jax.random.PRNGKey(2))
        check(grp, grp.act(grp.inverse(g), grp.act(g, params)), params)
        check(grp, grp.act(grp.compose(g, grp.inverse(g)), params), params)
        check(grp, grp.act(grp.compose(grp.inverse(g), g), params), params)
        check(grp, grp.act(grp.compose(g, h), params), grp.act(g, grp.act(h, params)))
        assert_equal(grp.act(grp.identity(), params), params)


def test_composition_is_not_commutative():
    # Permutations and sign flips form a semidirect product: the order of composition matters,
    # and compose must get it right (act(compose(g, h)) == act(g, act(h)) above), not just be
    # symmetric in its arguments.
    mlp = MLP(1, (16,), 1, "tanh")
    group = symmetry_of(mlp)
    params = mlp.init(jax.random.PRNGKey(0))
    g, h = group.sample(jax.random.PRNGKey(3)), group.sample(jax.random.PRNGKey(4))
    gh = group.act(group.compose(g, h), params)
    hg = group.act(group.compose(h, g), params)
    assert not np.array_equal(gh["W0"], hg["W0"])


def test_associativity():
    mlp = MLP(3, (8, 8, 8), 4, "identity", "classification")
    group = symmetry_of(mlp)
    g, h, k = (group.sample(jax.random.PRNGKey(s)) for s in range(3))
    params = mlp.init(jax.random.PRNGKey(9))
    left = group.act(group.compose(group.compose(g, h), k), params)
    right = group.act(group.compose(g, group.compose(h, k)), params)
    assert_close(left, right)


@pytest.mark.parametrize("widths", [(3,), (2, 2)])
def test_sample_is_uniform_on_finite_group(widths):
    mlp = MLP(1, widths, 1, "tanh")
    group = symmetry_of(mlp)
    size = math.exp(group.log_size)
    num_draws = 96 * round(size)
    draws = jax.jit(jax.vmap(group.sample))(jax.random.split(jax.random.PRNGKey(0), num_draws))
    codes = np.zeros(num_draws, np.int64)
    for perm, sign in zip(draws.perm, draws.sign, strict=True):
        perm, sign = np.asarray(perm), np.asarray(sign)
        h = perm.shape[1]
        assert np.array_equal(np.sort(perm, axis=1), np.broadcast_to(np.arange(h), perm.shape))
        assert set(np.unique(sign)) <= {-1.0, 1.0}
        perm_code = np.array([_perm_rank(row) for row in perm])
        sign_code = ((sign > 0) * 2 ** np.arange(h)).sum(1)
        codes = (codes * math.factorial(h) + perm_code) * 2**h + sign_code
    counts = np.bincount(codes, minlength=round(size))
    assert counts.size == round(size) and counts.min() > 0  # every element occurs
    # Chi-square against uniform, 96 expected per cell: fixed seed, threshold at p = 1e-4.
    chi2 = ((counts - 96.0) ** 2 / 96.0).sum()
    dof = counts.size - 1
    assert chi2 < dof + 3.72 * math.sqrt(2 * dof) + 10


def _perm_rank(perm):
    rank, items = 0, list(range(len(perm)))
    for p in perm:
        i = items.index(p)
        rank = rank * len(items) + i
        items.pop(i)
    return rank


def test_continuous_samples_are_valid():
    mlp = MLP(2, (5, 4), 3, "relu", "classification")
    group = symmetry_of(mlp)
    g = group.sample(jax.random.PRNGKey(0))
    assert all(bool(jnp.all(c > 0)) for c in g.scale)
    assert all(bool(jnp.all(s == 1)) for s in g.sign)  # relu has no sign flips
    assert g.shift_w.shape == (4,) and g.shift_b.shape == ()
    assert not element_leaves_equal(g, group.sample(jax.random.PRNGKey(1)))
    assert element_leaves_equal(g, group.sample(jax.random.PRNGKey(0)))


def test_jit_and_vmap_match_a_loop():
    mlp = MLP(3, (3,), 4, "relu", "classification")
    group = symmetry_of(mlp)
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    params = jax.vmap(mlp.init)(keys)
    elements = jax.vmap(group.sample)(keys[::-1])
    acted = jax.jit(jax.vmap(group.act))(elements, params)
    sampled = jax.jit(jax.vmap(group.sample))(keys[::-1])
    for a, b in zip(jax.tree.leaves(sampled), jax.tree.leaves(elements), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)  # integer permutations: exact
    for i in range(4):
        one = jax.tree.map(lambda v, i=i: v[i], (elements, params, acted))
        assert_close(group.act(one[0], one[1]), one[2], rtol=1e-6)


# ------------------------------------------------------------------------ factories and sizes
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("output", ["regression", "classification"])
def test_symmetry_of_kinds(activation, output):
    mlp = MLP(2, (3,), 3, activation, output)
    expected = ["permutation"]
    expected += ["sign"] if activation in ODD_ACTIVATIONS else []
    expected += ["scale"] if activation in HOMOGENEOUS_ACTIVATIONS else []
    expected += ["shift"] if output == "classification" else []
    group = symmetry_of(mlp)
    assert isinstance(group, Group)
    assert group.spec.kinds == tuple(expected)
    assert group.spec.finite == (len(set(expected) & {"scale", "shift"}) == 0)
    assert activation in group.description


def test_binary_classification_has_no_logit_shift():
    # One logit (a Bernoulli model) has no softmax translation symmetry.
    assert "shift" not in symmetry_of(MLP(2, (3,), 1, "tanh", "classification")).spec.kinds


def test_product_matches_symmetry_of():
    mlp = MLP(2, (3, 3), 1, "tanh")
    assert product(permutations(mlp), sign_flips(mlp)).spec == symmetry_of(mlp).spec
    assert product(sign_flips(mlp)).spec.kinds == ("sign",)
    relu = MLP(2, (3,), 4, "relu", "classification")
    assert (product(permutations(relu), scalings(relu), logit_shifts(relu)).spec
            == symmetry_of(relu).spec)


@pytest.mark.parametrize(
    ("activation", "widths", "expected"),
    [
        ("tanh", (3,), math.log(math.factorial(3) * 2**3)),
        ("relu", (3,), math.log(math.factorial(3))),
        ("gelu", (16,), math.log(math.factorial(16))),
        ("erf", (8, 8, 8), 3 * math.log(math.factorial(8) * 2**8)),
        ("identity", (4, 2), math.log(math.factorial(4) * 2**4 * math.factorial(2) * 2**2)),
        ("sigmoid", (), 0.0),
    ],
)
def test_finite_group_log_size(activation, widths, expected):
    mlp = MLP(2, widths, 3, activation, "classification")
    finite = symmetry_of(mlp, finite=True)
    assert finite.log_size == pytest.approx(expected, rel=1e-12)
    assert finite.spec == symmetry_of(mlp, discrete_kinds(mlp)).spec
    full = symmetry_of(mlp)
    assert full.log_size == (math.inf if not full.spec.finite else pytest.approx(expected))


def test_finite_and_kinds_together_are_refused():
    with pytest.raises(ValueError, match="either kinds=... or finite=True"):
        symmetry_of(MLP(2, (3,), 1, "tanh"), ("permutation",), finite=True)


# ---------------------------------------------------------------------------------- errors
RELU = MLP(2, (3,), 1, "relu")
TANH = MLP(2, (3,), 1, "tanh")
BAD_CALLS = [
    (lambda: sign_flips(RELU), ValueError, "activation 'relu'"),
    (lambda: symmetry_of(RELU, ("permutation", "sign")), ValueError, "kinds.*'sign'.*relu"),
    (lambda: symmetry_of(TANH, ("scale",)), ValueError, "kinds.*'scale'.*tanh"),
    (lambda: symmetry_of(TANH, ("shift",)), ValueError, "kinds.*'shift'.*output"),
    (lambda: symmetry_of(TANH, ("rotation",)), ValueError, "kinds"),
    (lambda: symmetry_of(TANH, ()), ValueError, "kinds"),
    (lambda: symmetry_of(TANH, 3), TypeError, "kinds"),
    (lambda: scalings(TANH), ValueError, "activation 'tanh'"),
    (lambda: scalings(RELU, canonical="l1"), ValueError, "canonical"),
    (lambda: logit_shifts(TANH), ValueError, "output"),
    (lambda: symmetry_of("tanh"), TypeError, "mlp"),
    (lambda: permutations(None), TypeError, "mlp"),
    (lambda: product(), ValueError, "at least one group"),
    (lambda: product(permutations(TANH), "sign"), TypeError, "Group"),
    (lambda: product(permutations(TANH), permutations(RELU)), ValueError, "same MLP"),
    (lambda: product(scalings(RELU), scalings(RELU, canonical="balanced")), ValueError,
     "canonical"),
]


@pytest.mark.parametrize(("call", "error", "pattern"), BAD_CALLS)
def test_bad_arguments_are_named(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
