"""Soft canonical form: align a draw to a reference draw by linear assignment, layer by layer.

For each hidden layer, unit ``i`` of the draw and unit ``j`` of the reference are compared through
the vector ``(incoming weights, bias, outgoing weights)`` by the squared distance, with the best
sign folded in for odd activations: ``|u|^2 + |r|^2 - 2|u.r|``. Continuous symmetries are fixed
first: both networks are brought to the hard canonical convention of the scaling and logit-shift
parts (e.g. unit incoming norm), matched, and the result is mapped back onto the reference's own
scales and shifts, so that a member of the reference's orbit is moved onto the reference itself.

The first sweep matches on incoming weights and bias alone (the earlier layers are already aligned,
whereas outgoing weights still follow the next layer's arbitrary order); later sweeps use the whole
unit and repeat until no unit moves. Each assignment is solved exactly by
:func:`symbnn.symmetry.assignment.solve_assignment`, a warm-started Hungarian algorithm (the
recursion of ``optax.assignment.hungarian_algorithm``) that costs one ``argmin`` per row when the
rows' cheapest columns already differ.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from symbnn.nets import MLP
from symbnn.symmetry.assignment import solve_assignment
from symbnn.symmetry.base import Group, GroupElement, GroupSpec
from symbnn.symmetry.canonical import canonicalize
from symbnn.types import Array, Params

__all__ = ["align", "unit_features"]


def unit_features(mlp: MLP, params: Params, layer: int, *, outgoing: bool = True) -> Array:
    """(h_l, d) matrix whose row ``j`` is hidden unit ``j``: incoming weights, bias, outgoing."""
    parts = [params[mlp.weight_name(layer)].T]
    if mlp.use_bias:
        parts.append(params[mlp.bias_name(layer)][:, None])
    if outgoing:
        parts.append(params[mlp.weight_name(layer + 1)])
    return jnp.concatenate(parts, axis=1)


def _dots(mlp: MLP, p: Params, ref: Params, layer: int, outgoing: bool) -> Array:
    """Inner products of the units of ``p`` (rows) with those of ``ref`` (columns)."""
    w = mlp.weight_name(layer)
    dots = p[w].T @ ref[w]
    if mlp.use_bias:
        b = mlp.bias_name(layer)
        dots = dots + p[b][:, None] * ref[b][None, :]
    return dots + _dots_out(mlp, p, ref, layer) if outgoing else dots


def _dots_out(mlp: MLP, p: Params, ref: Params, layer: int) -> Array:
    w_out = mlp.weight_name(layer + 1)
    return p[w_out] @ ref[w_out].T


def _permute_layer(mlp: MLP, p: Params, layer: int, perm: Array, sign: Array) -> Params:
    """New unit ``j`` of ``layer`` is old unit ``perm[j]`` times ``sign[j]`` (a ±1 vector)."""
    p = dict(p)
    w_in, w_out = mlp.weight_name(layer), mlp.weight_name(layer + 1)
    p[w_in] = p[w_in][:, perm] * sign
    if mlp.use_bias:
        b = mlp.bias_name(layer)
        p[b] = p[b][perm] * sign
    p[w_out] = p[w_out][perm, :] * sign[:, None]
    return p


def _sweep(spec: GroupSpec, p, perms, signs, ref, ref_sq, first: Array):
    mlp = spec.mlp
    perms, signs = list(perms), list(signs)
    moved = jnp.zeros((), bool)
    for layer in range(mlp.num_hidden):
        # The first sweep compares incoming weights and bias only; later ones the whole unit.
        dots_in = _dots(mlp, p, ref, layer, False)
        dots = jnp.where(first, dots_in, dots_in + _dots_out(mlp, p, ref, layer))
        col_sq = jnp.where(first, ref_sq[0][layer], ref_sq[1][layer])
        # |u_i|^2 is the same for every column of row i, so it cannot change the assignment.
        cost = col_sq[None, :] - 2.0 * (jnp.abs(dots) if spec.flip else dots)
        perm = solve_assignment(cost)
        idx = jnp.arange(perm.shape[0])
        sign = jnp.ones(perm.shape, p[mlp.weight_name(layer)].dtype)
        if spec.flip:
            sign = jnp.where(dots[perm, idx] >= 0, sign, -sign)
        p = _permute_layer(mlp, p, layer, perm, sign)
        perms[layer] = perms[layer][perm]
        signs[layer] = signs[layer][perm] * sign
        moved = moved | jnp.any(perm != idx) | jnp.any(sign < 0)
    return p, tuple(perms), tuple(signs), moved


def _check_net_params(mlp: MLP, params: Params, name: str) -> None:
    """Every array of the layout present with its shape (other entries pass through untouched)."""
    if not isinstance(params, dict):
        raise TypeError(f"{name} must be a dict of arrays, got {type(params).__name__}")
    missing = [k for k in mlp.param_shapes if k not in params]
    if missing:
        raise ValueError(f"{name} is missing {missing} of the layout {list(mlp.param_shapes)}")
    for k, shape in mlp.param_shapes.items():
        if tuple(jnp.shape(params[k])) != shape:
            raise ValueError(
                f"{name}[{k!r}] must have shape {shape} (one draw; vmap over draws), "
                f"got {tuple(jnp.shape(params[k]))}"
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
        The symmetry group (permutations, optionally with sign flips, scaling, logit shifts).
    max_sweeps : int
        Upper bound on sweeps over the layers; the loop stops as soon as a sweep moves no unit.

    Returns
    -------
    (params, g)
        The aligned parameters and ``g`` with ``act(g, params)`` equal to them. If ``params`` is a
        member of the orbit of ``reference`` (and the units are distinct), the aligned parameters
        equal ``reference`` up to rounding.
    """
    if not isinstance(group, Group):
        raise TypeError(f"group must be a symbnn Group, got {type(group).__name__}")
    spec: GroupSpec = group.spec
    mlp = spec.mlp
    if not spec.permute:
        raise ValueError("group must include permutations for align (e.g. symmetry_of(mlp))")
    if isinstance(max_sweeps, bool) or not isinstance(max_sweeps, int) or max_sweeps < 1:
        raise ValueError(f"max_sweeps must be an integer >= 1, got {max_sweeps!r}")
    _check_net_params(mlp, params, "params")
    _check_net_params(mlp, reference, "reference")
    g = group.identity()
    p = params
    continuous = spec.scale or spec.shift
    if continuous:
        # Fix the continuous part first, on both sides, with the hard canonical convention.
        cont = GroupSpec(mlp, scale=spec.scale, shift=spec.shift,
                         scale_canonical=spec.scale_canonical)
        p, g = canonicalize(cont, p)
        reference, g_ref = canonicalize(cont, reference)
    ref_sq = tuple(
        tuple(jnp.sum(unit_features(mlp, reference, layer, outgoing=out) ** 2, axis=1)
              for layer in range(mlp.num_hidden))
        for out in (False, True)
    )
    ident = group.identity()
    perms, signs = ident.perm, ident.sign
    if mlp.num_hidden:

        def body(carry):
            p, perms, signs, _, it = carry
            p, perms, signs, moved = _sweep(spec, p, perms, signs, reference, ref_sq, it == 0)
            return p, perms, signs, moved, it + 1

        def cond(carry):
            return carry[3] & (carry[4] < max_sweeps)

        init = (p, perms, signs, jnp.asarray(True), jnp.asarray(0))
        p, perms, signs, _, _ = jax.lax.while_loop(cond, body, init)
    g = group.compose(ident._replace(perm=perms, sign=signs), g)
    if continuous:
        # Back onto the reference's own scales and shifts: unit j now matches reference unit j.
        back = group.inverse(g_ref)
        p = group.act(back, p)
        g = group.compose(back, g)
    return p, g
