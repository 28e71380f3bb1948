"""Hand-built posterior draws for the diagnostics tests.

A "known posterior" is a canonical centre plus small iid Gaussian noise. Its canonical form is the
centre itself because the hidden biases are positive and at least 1 apart (noise sd 0.05), so the
hard canonical form of every noisy draw is the noisy centre. Pushing each chain (or each draw)
through a random group element then gives draws whose raw values disagree only by symmetry.
All tests share one network and one (chain, draw) shape so that jitted functions compile once.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symbnn.diagnostics.inputs import default_group
from symbnn.nets import MLP
from symbnn.symmetry import GroupElement

NUM_CHAINS, NUM_DRAWS = 4, 500
NOISE = 0.05


@pytest.fixture(scope="session")
def mlp():
    return MLP(1, (4, 3), 1, "tanh")


@pytest.fixture(scope="session")
def group(mlp):
    return default_group(mlp)


@pytest.fixture(scope="session")
def x_grid():
    return np.linspace(-3.0, 3.0, 20)[:, None]


def _center(mlp, seed):
    p = mlp.init(jax.random.PRNGKey(seed))
    p["b0"] = jnp.array([0.5, 1.5, 2.5, 3.5])
    p["b1"] = jnp.array([0.6, 1.8, 3.0])
    return p


@pytest.fixture(scope="session")
def center(mlp):
    return _center(mlp, 0)


def random_elements(mlp, rng, num):
    """``num`` uniform elements of the permutation-and-sign group, drawn with numpy.

    (Cheaper to build than vmapping ``group.sample``, whose compilation dominates test time.)
    """
    perm = tuple(np.argsort(rng.random((num, h)), axis=1).astype(np.int32) for h in mlp.widths)
    sign = tuple(rng.choice(np.float32([-1.0, 1.0]), (num, h)) for h in mlp.widths)
    scale = tuple(np.ones((num, h), np.float32) for h in mlp.widths)
    return GroupElement(perm, sign, scale, np.zeros((num, mlp.widths[-1]), np.float32),
                        np.zeros(num, np.float32))


@pytest.fixture(scope="session")
def make_draws(mlp, group):
    """make_draws(center, seed, *, orbit="chain"|"draw"|"none", sigma=True) -> dict of draws.

    orbit="chain": one uniform group element per chain; "draw": one per draw (symmetrised
    draws); "none": no group action (draws stay canonical).
    """
    act = jax.jit(jax.vmap(group.act))

    def make(center, seed, *, orbit="chain", sigma=True, num_chains=NUM_CHAINS,
             num_draws=NUM_DRAWS):
        rng = np.random.default_rng(seed)
        n = num_chains * num_draws
        flat = {k: (np.asarray(v) + NOISE * rng.standard_normal((n, *v.shape))).astype(
            np.float32) for k, v in center.items()}
        if orbit == "chain":
            gs = random_elements(mlp, rng, num_chains)
            gs = jax.tree_util.tree_map(lambda a: np.repeat(a, num_draws, axis=0), gs)
        elif orbit == "draw":
            gs = random_elements(mlp, rng, n)
        elif orbit != "none":
            raise ValueError(orbit)
        if orbit != "none":
            flat = act(gs, flat)
        out = {k: np.asarray(flat[k]).reshape(num_chains, num_draws, *flat[k].shape[1:])
               for k in mlp.param_names}
        if sigma:
            out["sigma"] = (0.3 + 0.01 * rng.standard_normal((num_chains, num_draws))).astype(
                np.float32)
        return out

    return make


@pytest.fixture(scope="session")
def other_center(mlp, center):
    """A centre computing a different function: output weights negated."""
    p = dict(center)
    p["WL"] = -center["WL"]
    return p
