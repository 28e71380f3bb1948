"""Soft canonical form: align a draw to a reference draw by linear assignment, layer by layer.

For each hidden layer, unit ``i`` of the draw and unit ``j`` of the reference are compared through
the vector ``(incoming weights, bias, outgoing weights)``. The cost folds in the best sign for odd
activations, ``|u|^2 + |r|^2 - 2|u.r|``, and for positively homogeneous ones both networks are first
brought to unit incoming norm, so the scale is fixed before matching. A Hungarian solver
(``optax.assignment.hungarian_algorithm``) gives the permutation; sweeps over the layers repeat
until no unit moves (the outgoing weights of one layer depend on the next layer's order).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from symbnn.symmetry.base import Group, GroupElement, GroupSpec
from symbnn.symmetry.canonical import canonicalize
from symbnn.types import Array, Params

__all__ = ["align", "unit_features"]


def unit_features(mlp, params: Params, layer: int, *, outgoing: bool = True) -> Array:
    """(h_l, d) matrix whose row ``j`` is hidden unit ``j``: incoming weights, bias, outgoing."""
    parts = [params[mlp.weight_name(layer)].T]
    if mlp.use_bias:
        parts.append(params[mlp.bias_name(layer)][:, None])
    if outgoing:
        parts.append(params[mlp.weight_name(layer + 1)])
    return jnp.concatenate(parts, axis=1)


def _cost(u: Array, r: Array, flip: bool) -> tuple[Array, Array]:
    dots = u @ r.T
    sim = jnp.abs(dots) if flip else dots
    return jnp.sum(u**2, 1)[:, None] + jnp.sum(r**2, 1)[None, :] - 2.0 * sim, dots


def _assign(cost: Array) -> Array:
    rows, cols = optax.assignment.hungarian_algorithm(cost)
    return jnp.zeros(cost.shape[1], jnp.int32).at[cols].set(rows.astype(jnp.int32))


def _layer_step(
    group: Group, p: Params, ref: Params, layer: int, first: Array
) -> GroupElement:
    # The first sweep matches on incoming weights and bias alone: the previous layers are already
    # aligned, so these are comparable, whereas outgoing weights still follow the next layer's
    # arbitrary order. Later sweeps use the whole unit.
    mlp, flip = group.spec.mlp, group.spec.flip
    cost_in, dots_in = _cost(
        unit_features(mlp, p, layer, outgoing=False),
        unit_features(mlp, ref, layer, outgoing=False),
        flip,
    )
    cost_all, dots_all = _cost(unit_features(mlp, p, layer), unit_features(mlp, ref, layer), flip)
    cost = jnp.where(first, cost_in, cost_all)
    dots = jnp.where(first, dots_in, dots_all)
    perm = _assign(cost)
    ident = group.identity()
    matched = dots[perm, jnp.arange(perm.shape[0])]
    sign = (
        jnp.where(matched >= 0, 1.0, -1.0).astype(ident.sign[layer].dtype)
        if group.spec.flip
        else ident.sign[layer]
    )
    return ident._replace(
        perm=tuple(perm if i == layer else q for i, q in enumerate(ident.perm)),
        sign=tuple(sign if i == layer else s for i, s in enumerate(ident.sign)),
    )


def align(
    params: Params, reference: Params, group: Group, *, max_sweeps: int = 10
) -> tuple[Params, GroupElement]:
    """Move ``params`` along its orbit to the member closest to ``reference``.

    Parameters
    ----------
    params, reference : dict
        One parameter dict each, same MLP.
    group : Group
        The symmetry group (permutations, optionally with sign flips and/or scaling).
    max_sweeps : int
        Upper bound on sweeps over the layers; the loop stops as soon as a sweep moves no unit.

    Returns
    -------
    (params, g)
        The aligned parameters and ``g`` with ``act(g, params)`` equal to them.
    """
    spec: GroupSpec = group.spec
    mlp = spec.mlp
    if not spec.permute:
        raise ValueError("align needs a group that includes permutations")
    if max_sweeps < 1:
        raise ValueError(f"max_sweeps must be >= 1, got {max_sweeps}")
    g = group.identity()
    p = params
    if spec.scale or spec.shift:
        # Fix the continuous part first, on both sides, with the hard canonical convention.
        cont = GroupSpec(mlp, scale=spec.scale, shift=spec.shift,
                         scale_canonical=spec.scale_canonical)
        p, g = canonicalize(cont, p)
        reference, _ = canonicalize(cont, reference)

    def sweep(carry):
        p, g, _, it = carry
        moved = jnp.zeros((), bool)
        for layer in range(mlp.num_hidden):
            step = _layer_step(group, p, reference, layer, it == 0)
            p = group.act(step, p)
            g = group.compose(step, g)
            moved = moved | jnp.any(step.perm[layer] != jnp.arange(mlp.widths[layer]))
            moved = moved | jnp.any(step.sign[layer] < 0)
        return p, g, moved, it + 1

    def cond(carry):
        return carry[2] & (carry[3] < max_sweeps)

    p, g, _, _ = jax.lax.while_loop(cond, sweep, (p, g, jnp.asarray(True), jnp.asarray(0)))
    return p, g
