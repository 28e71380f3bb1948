"""The spaces a chain can live in, each resolved once into a :class:`Space`.

- ``"full"``: the plain posterior on all parameters.
- ``"constrained"``: the model's ``reparam="constrained"`` version (ordering constraints).
- ``"quotient"``: the folded chain. The kernel commutes with the group (its diagonal mass matrix or
  preconditioner is tied across the units of each layer) and every transition is followed by
  canonicalisation of the state (:mod:`symbnn.samplers.orbit`). The result is a valid MCMC kernel
  for the quotient posterior.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from symbnn.nets import MLP
from symbnn.samplers.orbit import make_move
from symbnn.types import Array

__all__ = ["SPACES", "Space", "resolve_space", "tie_inverse_mass_matrix"]

SPACES = ("full", "constrained", "quotient")


class Space(NamedTuple):
    """A sampling space, resolved from its name once.

    Attributes
    ----------
    name : {"full", "constrained", "quotient"}
    model : BNNModel
        The model the kernel samples (the constrained reparameterisation for "constrained").
    move : callable
        ``(rng_key, state) -> state`` after every transition (folding and/or orbit moves).
    tie : bool
        Tie the diagonal mass matrix / preconditioner across exchangeable units.
    canonical_start : bool
        Start the chains at canonical representatives.
    """

    name: str
    model: Any
    move: Callable
    tie: bool
    canonical_start: bool

    def tied(self, position: dict, inverse_mass_matrix: Array) -> Array:
        """The diagonal ``inverse_mass_matrix``, tied if this space needs it."""
        if not self.tie:
            return inverse_mass_matrix
        return tie_inverse_mass_matrix(self.model.mlp, position, inverse_mass_matrix)

    def after_warmup(self, rng_key, state, params):
        """On the quotient: tie ``params.inverse_mass_matrix`` and fold ``state``."""
        if not self.tie:
            return state, params
        imm = self.tied(state.position, params.inverse_mass_matrix)
        return self.move(rng_key, state), params._replace(inverse_mass_matrix=imm)


def _model_for_space(model, space: str):
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    reparam = getattr(model, "reparam", None)
    if space == "constrained":
        return model if reparam == "constrained" else dataclasses.replace(
            model, reparam="constrained")
    if reparam == "constrained":
        raise ValueError(
            f"space={space!r} needs a model without reparam='constrained'; use "
            "space='constrained' for that model"
        )
    if space == "quotient":
        if reparam is not None:
            raise ValueError(f"space='quotient' needs reparam=None, got reparam={reparam!r}")
        lacking = [k for k in model.group.spec.kinds if not model.invariant_under(k)]
        if lacking:
            raise ValueError(
                f"space='quotient' needs a prior invariant under the group; the prior "
                f"{model.prior!r} is not invariant under {lacking}"
            )
    return model


def resolve_space(model, space: str, orbit_moves: bool) -> Space:
    """Check ``space`` and ``orbit_moves`` against ``model`` and build the :class:`Space`.

    Raises
    ------
    ValueError
        An unknown space, a model that does not fit it, or orbit moves off the full space.
    """
    model = _model_for_space(model, space)
    if orbit_moves and space != "full":
        raise ValueError(f"orbit_moves=True needs space='full', got space={space!r}")
    quotient = space == "quotient"
    group = model.group if (quotient or orbit_moves) else None
    move = make_move(space=space, group=group, orbit_moves=orbit_moves, model=model)
    return Space(space, model, move, tie=quotient, canonical_start=quotient)


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
