"""Soft canonical form: align recovers planted permutations, sign flips, scales and shifts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symbnn.nets import MLP
from symbnn.symmetry import align, permutations, sign_flips, symmetry_of


def _max_abs(a, b):
    return jnp.max(jnp.stack([jnp.max(jnp.abs(a[k] - b[k])) for k in a]))


def recovery(mlp, num_trials, seed=0):
    """Max abs difference to the reference after aligning a planted orbit member, per trial."""
    group = symmetry_of(mlp)

    def trial(key):
        k_ref, k_g = jax.random.split(key)
        reference = mlp.init(k_ref)
        planted = group.act(group.sample(k_g), reference)
        # Entries outside the layout (a noise scale, say) pass through untouched.
        aligned, g = align(planted | {"sigma": jnp.float32(1.5)}, reference, group)
        extra_ok = aligned.pop("sigma") == 1.5
        # The returned element produces the returned parameters.
        return _max_abs(aligned, reference), _max_abs(group.act(g, planted), aligned), extra_ok

    keys = jax.random.split(jax.random.PRNGKey(seed), num_trials)
    err, err_g, extra_ok = jax.jit(jax.vmap(trial))(keys)  # all trials in one call
    assert bool(np.all(extra_ok))
    return np.asarray(err), np.asarray(err_g)


TANH_3X16 = MLP(1, (16, 16, 16), 1, "tanh")
NUM_TRIALS = 100


@pytest.fixture(scope="module")
def tanh_3x16():
    """Planted orbit members, their references, iid draws, and align jitted once for them all."""
    mlp, group = TANH_3X16, symmetry_of(TANH_3X16)
    k_ref, k_g, k_iid = jax.random.split(jax.random.PRNGKey(0), 3)
    references = jax.vmap(mlp.init)(jax.random.split(k_ref, NUM_TRIALS))
    elements = jax.vmap(group.sample)(jax.random.split(k_g, NUM_TRIALS))
    planted = jax.vmap(group.act)(elements, references)
    iid = jax.vmap(mlp.init)(jax.random.split(k_iid, NUM_TRIALS))
    aligned_fn = jax.jit(jax.vmap(lambda p, r: align(p, r, group)))
    return group, references, planted, iid, aligned_fn


def test_recovers_planted_permutation_and_sign_tanh_3x16(tanh_3x16):
    group, references, planted, _, aligned_fn = tanh_3x16
    aligned, g = aligned_fn(planted, references)  # 100 trials in one call
    err = np.asarray(jax.vmap(_max_abs)(aligned, references))
    # Exact recovery: every parameter within 1e-5 of the reference. The issue asks for >= 99/100.
    assert int(np.sum(err < 1e-5)) >= 99, np.sort(err)[-3:]
    # Permutations and sign flips move floats without rounding: act(g, planted) is exact.
    redo = jax.vmap(group.act)(g, planted)
    for k in aligned:
        np.testing.assert_array_equal(redo[k], aligned[k])


def test_align_to_itself_is_the_identity(tanh_3x16):
    group, references, _, _, aligned_fn = tanh_3x16
    same, g = aligned_fn(references, references)
    for k in references:
        np.testing.assert_array_equal(same[k], references[k])
    for perm, sign in zip(g.perm, g.sign, strict=True):
        np.testing.assert_array_equal(perm, np.broadcast_to(np.arange(16), perm.shape))
        np.testing.assert_array_equal(sign, 1.0)


def test_aligned_draw_is_closer_than_random_members(tanh_3x16):
    group, references, _, iid, aligned_fn = tanh_3x16
    aligned, _ = aligned_fn(iid, references)

    def sq_dist(a, b):
        return sum(jnp.sum((a[k] - b[k]) ** 2) for k in a)

    dist = np.asarray(jax.vmap(sq_dist)(aligned, references))
    # For iid draws, the alignment beats the best of 20 random orbit members, every time.
    members = [
        jax.vmap(group.act)(jax.vmap(group.sample)(jax.random.split(jax.random.PRNGKey(s),
                                                                    NUM_TRIALS)), iid)
        for s in range(20)
    ]
    best = np.min([np.asarray(jax.vmap(sq_dist)(m, references)) for m in members], axis=0)
    assert np.all(dist < best)


def test_recovers_scales_shifts_without_bias():
    # relu: scales; softmax: logit shifts; no biases.
    mlp = MLP(3, (8, 8), 4, "relu", "classification", use_bias=False)
    err, err_g = recovery(mlp, 20, seed=1)
    # Scaling is undone and redone in float32 (a few ulp per weight of size up to ~5).
    assert int(np.sum(err < 1e-4)) >= 19, np.sort(err)[-3:]
    assert float(err_g.max()) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize(
    ("activation", "width"), [("relu", 16), ("tanh", 64), ("relu", 64), ("sin", 8)]
)
def test_recovery_rate_relu_and_wide(activation, width):
    mlp = MLP(1, (width,) * 3, 1, activation, use_bias=activation != "sin")
    err, err_g = recovery(mlp, 100)
    # Measured 100/100 for each; scaled weights are compared at 1e-4 (see above).
    assert int(np.sum(err < 1e-4)) >= 95, np.sort(err)[-3:]
    assert float(err_g.max()) < 1e-4


@pytest.mark.slow
def test_jit_and_vmap_match_a_loop():
    mlp = MLP(2, (8, 8), 1, "tanh")
    group = symmetry_of(mlp)
    draws = jax.vmap(mlp.init)(jax.random.split(jax.random.PRNGKey(0), 3))
    reference = mlp.init(jax.random.PRNGKey(1))
    batched, _ = jax.jit(jax.vmap(lambda p: align(p, reference, group)))(draws)
    one = jax.jit(lambda p: align(p, reference, group))
    for i in range(3):
        single, _ = one(jax.tree.map(lambda v, i=i: v[i], draws))
        for k in single:
            np.testing.assert_array_equal(batched[k][i], single[k])


TANH = MLP(2, (3,), 1, "tanh")
PARAMS = TANH.init(jax.random.PRNGKey(0))
BAD_CALLS = [
    (lambda: align(PARAMS, PARAMS, symmetry_of(TANH), max_sweeps=0), ValueError, "max_sweeps"),
    (lambda: align(PARAMS, PARAMS, symmetry_of(TANH), max_sweeps=2.0), ValueError, "max_sweeps"),
    (lambda: align(PARAMS, PARAMS, sign_flips(TANH)), ValueError, "group must include perm"),
    (lambda: align(PARAMS, PARAMS, "tanh"), TypeError, "group"),
    (lambda: align(PARAMS | {"W0": jnp.zeros((3, 3))}, PARAMS, permutations(TANH)), ValueError,
     r"params\['W0'\]"),
    (lambda: align(PARAMS, {"W0": PARAMS["W0"]}, permutations(TANH)), ValueError,
     "reference is missing"),
    (lambda: align([PARAMS], PARAMS, permutations(TANH)), TypeError, "params must be a dict"),
]


@pytest.mark.parametrize(("call", "error", "pattern"), BAD_CALLS)
def test_bad_arguments_are_named(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
