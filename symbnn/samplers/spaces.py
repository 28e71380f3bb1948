"""The spaces a chain can live in, and the moves applied after every transition.

- ``"full"``: the plain posterior on all parameters.
- ``"constrained"``: the model's ``reparam="constrained"`` version (ordering constraints).
- ``"quotient"``: the folded chain. The kernel commutes with the group (its diagonal mass matrix is
  tied across the units of each layer) and every transition is followed by canonicalisation of the
  position; the gradient is carried along by the same signed permutation (an orthogonal map, so the
  gradient transforms as the position does). The result is a valid MCMC kernel for the quotient
  posterior.

Orbit moves (``orbit_moves=True``), after each transition:

- finite groups: a uniformly drawn group element is applied. The posterior is invariant, so the move
  is always accepted, and a full-space chain visits all members of an orbit;
- positively homogeneous activations (ReLU, leaky ReLU, identity): an exact generalised Gibbs draw
  of every hidden unit's scale along its orbit, layer by layer (:mod:`symbnn.samplers.orbit`); no
  likelihood evaluation, and the log density and gradient are transformed analytically.

On the quotient the scale move is followed by the canonicalisation: it commutes with permutations
(each unit's conditional depends on its own weights and on per-array prior scales shared by all
units of a layer), so kernel, scale move and folding still form a valid kernel for the quotient.
The constrained space has no orbit moves (rescaling a unit reorders the biases it constrains).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from symbnn.nets import HOMOGENEOUS_ACTIVATIONS, MLP
from symbnn.samplers.orbit import make_scale_move
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


def _scale_move(model) -> Callable | None:
    """The scale Gibbs move for ``model``, or None if its activation has no scaling symmetry."""
    if model is None or model.mlp.activation not in HOMOGENEOUS_ACTIVATIONS:
        return None
    return make_scale_move(model.mlp, model.prior)


def _then(first: Callable, second: Callable) -> Callable:
    def both(rng_key, state):
        k_first, k_second = jax.random.split(rng_key)
        return second(k_second, first(k_first, state))

    return both


def make_move(*, space: str, group: Group | None, orbit_moves: bool, model=None) -> Callable:
    """The function ``(rng_key, state) -> state`` applied after every transition.

    Parameters
    ----------
    space : {"full", "constrained", "quotient"}
    group : Group or None
        The finite symmetry group (signed permutations: orthogonal, so the gradient transforms
        like the position and the log density is unchanged). Needed for ``space="quotient"`` and
        for ``orbit_moves``.
    orbit_moves : bool
        Add the orbit moves of the module doc.
    model : BNNModel, optional
        Its prior defines the scale move (positively homogeneous activations); without it only
        the finite move is made.
    """
    if orbit_moves and space == "constrained":
        raise ValueError("orbit_moves=True is not available for space='constrained'")
    if orbit_moves and model is not None and getattr(model, "reparam", None) is not None:
        raise ValueError(
            f"orbit_moves=True needs a model with reparam=None, got reparam={model.reparam!r}"
        )
    scale = _scale_move(model) if orbit_moves else None
    if space == "quotient":
        if group is None:
            raise ValueError("space='quotient' needs a symmetry group")

        def fold(rng_key, state):
            del rng_key
            _, g = group.canonicalize(_net_part(group.spec.mlp, state.position))
            return _apply_to_state(group, g, state)

        return fold if scale is None else _then(scale, fold)
    if orbit_moves:
        if group is None:
            raise ValueError("orbit_moves=True needs a symmetry group")

        def orbit_move(rng_key, state):
            g = group.sample(rng_key)
            return _apply_to_state(group, g, state)

        return orbit_move if scale is None else _then(orbit_move, scale)
    return identity_move
