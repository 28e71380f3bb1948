"""The spaces a chain can live in, and the moves applied after every transition.

- ``"full"``: the plain posterior on all parameters.
- ``"constrained"``: the model's ``reparam="constrained"`` version (ordering constraints).
- ``"quotient"``: the folded chain. The kernel commutes with the group (its diagonal mass matrix is
  tied across the units of each layer) and every transition is followed by canonicalisation of the
  position; the gradient is carried along by the same signed permutation (an orthogonal map, so the
  gradient transforms as the position does). The result is a valid MCMC kernel for the quotient
  posterior.

Orbit moves (finite groups): after each transition, a uniformly drawn group element is applied. The
posterior is invariant, so the move is always accepted, and a full-space chain visits all members of
an orbit.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from symbnn.nets import MLP
from symbnn.symmetry import Group
from symbnn.types import Array, PRNGKey

__all__ = ["SPACES", "identity_move", "make_move", "tie_inverse_mass_matrix"]

SPACES = ("full", "constrained", "quotient")


def _tie_one(mlp: MLP, name: str, value: Array) -> Array:
    num_hidden = mlp.num_hidden
    if num_hidden == 0:
        return value
    last_w, last_b = mlp.weight_name(num_hidden), mlp.bias_name(num_hidden)
    if name == "W0":
        # rows are inputs (fixed), columns are units of layer 0 (exchangeable)
        return jnp.broadcast_to(value.mean(axis=1, keepdims=True), value.shape)
    if name == last_w:
        return jnp.broadcast_to(value.mean(axis=0, keepdims=True), value.shape)
    if name == last_b or name not in mlp.param_shapes:
        return value
    # hidden-to-hidden weights and hidden biases: every entry is exchangeable with every other
    return jnp.full_like(value, value.mean())


def tie_inverse_mass_matrix(mlp: MLP, position: dict, inverse_mass_matrix: Array) -> Array:
    """Average a diagonal inverse mass matrix over entries that the group exchanges.

    Parameters
    ----------
    mlp : MLP
    position : dict
        One position (used for the pytree structure of the flat matrix).
    inverse_mass_matrix : array (d,)
        Diagonal, in ``jax.flatten_util.ravel_pytree(position)`` order.
    """
    _, unravel = ravel_pytree(position)
    tree = unravel(inverse_mass_matrix)
    tied = {k: _tie_one(mlp, k, v) for k, v in tree.items()}
    return ravel_pytree(tied)[0]


def _net_part(mlp: MLP, tree: dict) -> dict:
    return {k: tree[k] for k in mlp.param_names}


def _apply_to_state(group: Group, g, state):
    mlp = group.spec.mlp
    pos = dict(state.position)
    grad = dict(state.logdensity_grad)
    pos.update(group.act(g, _net_part(mlp, pos)))
    grad.update(group.act(g, _net_part(mlp, grad)))
    return state._replace(position=pos, logdensity_grad=grad)


def identity_move(rng_key: PRNGKey, state):
    """The move that does nothing."""
    del rng_key
    return state


def make_move(*, space: str, group: Group | None, orbit_moves: bool) -> Callable:
    """The function ``(rng_key, state) -> state`` applied after every transition.

    Only signed permutations act here (the finite part of the group): they are orthogonal, so the
    gradient transforms like the position and the log density is unchanged.
    """
    if space == "quotient":
        if group is None:
            raise ValueError("space='quotient' needs a symmetry group")

        def fold(rng_key, state):
            del rng_key
            _, g = group.canonicalize(_net_part(group.spec.mlp, state.position))
            return _apply_to_state(group, g, state)

        return fold
    if orbit_moves:
        if group is None:
            raise ValueError("orbit_moves=True needs a symmetry group")

        def orbit_move(rng_key, state):
            g = group.sample(rng_key)
            return _apply_to_state(group, g, state)

        return orbit_move
    return identity_move
