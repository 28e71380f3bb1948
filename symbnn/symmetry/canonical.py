"""Hard canonical forms: one representative per orbit, by sorting, sign and scale conventions.

Layer by layer from the input: (1) sign flips make each unit's key non-negative (the key is the
bias, or without biases the sum of the unit's incoming weights, which the earlier layers'
canonicalisation has fixed); (2) positive scaling gives each unit unit incoming norm (bias
included), or, with ``scale_canonical="balanced"``, all units are first rescaled to the point of
least total squared norm on the scaling orbit (incoming norm equal to outgoing norm for every
unit); (3) units are sorted by their key (where keys tie for every parameter value, a single input
without bias under unit-norm scaling, by their normalised squared outgoing weights next). Logit
shifts centre the output layer (zero mean over classes). The form is exact for generic parameters;
ties of probability zero, such as exactly equal biases, are left in input order.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from symbnn.symmetry.base import GroupElement, GroupSpec, act, compose, identity
from symbnn.types import Array, Params

__all__ = ["balance_scales", "canonicalize", "unit_keys"]

_BALANCE_TOL = 1e-10
_BALANCE_MAX_SWEEPS = 2000


def unit_keys(spec: GroupSpec, params: Params, layer: int) -> Array:
    """The per-unit key of hidden layer ``layer``: the bias, or the sum of incoming weights."""
    mlp = spec.mlp
    if mlp.use_bias:
        return params[mlp.bias_name(layer)]
    return params[mlp.weight_name(layer)].sum(axis=0)


def _in_sq_norm(spec: GroupSpec, params: Params, layer: int) -> Array:
    mlp = spec.mlp
    sq = jnp.sum(params[mlp.weight_name(layer)] ** 2, axis=0)
    if mlp.use_bias:
        sq = sq + params[mlp.bias_name(layer)] ** 2
    return sq


def _out_sq_norm(spec: GroupSpec, params: Params, layer: int) -> Array:
    return jnp.sum(params[spec.mlp.weight_name(layer + 1)] ** 2, axis=1)


def _scale_only(spec: GroupSpec, scales: tuple[Array, ...], dtype) -> GroupElement:
    g = identity(spec.mlp, dtype)
    return g._replace(scale=tuple(scales))


def balance_scales(spec: GroupSpec, params: Params) -> tuple[Params, GroupElement]:
    """Rescale every unit to the point of least squared norm on its scaling orbit.

    The objective ``sum_j c_j^2 |in_j|^2 + |out_j|^2 / c_j^2`` summed over layers is strictly convex
    in the log scales, so block coordinate descent (one layer at a time, closed form per unit)
    converges to the unique minimiser, which is therefore a canonical point of the orbit.
    """
    mlp = spec.mlp
    dtype = params[mlp.weight_name(0)].dtype
    g0 = identity(mlp, dtype)

    def sweep(carry):
        p, g, _, it = carry
        total_change = jnp.zeros((), dtype)
        for layer in range(mlp.num_hidden):
            in_sq = _in_sq_norm(spec, p, layer)
            out_sq = _out_sq_norm(spec, p, layer)
            c = (out_sq / in_sq) ** 0.25
            c = jnp.where(jnp.isfinite(c) & (c > 0), c, 1.0)
            scales = tuple(c if i == layer else s for i, s in enumerate(g0.scale))
            step = _scale_only(spec, scales, dtype)
            p = act(mlp, step, p)
            g = compose(mlp, step, g)
            total_change = total_change + jnp.sum(jnp.log(c) ** 2)
        return p, g, total_change, it + 1

    def cond(carry):
        _, _, change, it = carry
        return (change > _BALANCE_TOL) & (it < _BALANCE_MAX_SWEEPS)

    init = (params, g0, jnp.asarray(jnp.inf, dtype), jnp.asarray(0))
    p, g, _, _ = jax.lax.while_loop(cond, sweep, init)
    return p, g


def _tiebreak(spec: GroupSpec, params: Params, layer: int, norm: Array) -> Array:
    """A secondary sort key per unit, invariant under the group's action on the later layers.

    The squared outgoing weights (so the next layer's signs do not matter), in this layer's
    normalised scale, each divided by the next unit's incoming norm when that layer is scaled to
    unit norm next, and centred over classes when logit shifts apply to them.
    """
    mlp = spec.mlp
    out = params[mlp.weight_name(layer + 1)] * norm[:, None]
    if layer + 1 < mlp.num_hidden and spec.scale and spec.scale_canonical == "unit_norm":
        col_sq = jnp.sum(out**2, axis=0)
        if mlp.use_bias:
            col_sq = col_sq + params[mlp.bias_name(layer + 1)] ** 2
        out = out / jnp.sqrt(jnp.where(col_sq > 0, col_sq, 1.0))
    elif layer + 1 == mlp.num_hidden and spec.shift:
        out = out - jnp.mean(out, axis=1, keepdims=True)
    return jnp.sum(out**2, axis=1)


def _sort_units(spec: GroupSpec, params: Params, layer: int, key: Array, norm: Array) -> Array:
    """Order of the units by ``key``.

    Keys tie exactly, for every parameter value, in one configuration: unit-norm scaling of a layer
    with a single input and no bias, where every normalised key is +-1. There the ties are broken
    by :func:`_tiebreak`. Elsewhere ties have probability zero (e.g. exactly equal biases) and are
    left in input order, which keeps this step a single sort.
    """
    mlp = spec.mlp
    generic_ties = (spec.scale and spec.scale_canonical == "unit_norm" and not mlp.use_bias
                    and mlp.sizes[layer] == 1)
    if not generic_ties:
        return jnp.argsort(key, stable=True).astype(jnp.int32)
    # Lexicographic order by two stable sorts, secondary key first.
    first = jnp.argsort(_tiebreak(spec, params, layer, norm), stable=True)
    return first[jnp.argsort(key[first], stable=True)].astype(jnp.int32)


def canonicalize(spec: GroupSpec, params: Params) -> tuple[Params, GroupElement]:
    """Hard canonical form of ``params`` under the group described by ``spec``.

    Returns
    -------
    (params, g)
        The canonical parameters and the element ``g`` with ``act(g, params)`` equal to them.
    """
    mlp = spec.mlp
    dtype = params[mlp.weight_name(0)].dtype
    g_total = identity(mlp, dtype)
    p = params
    if spec.scale and spec.scale_canonical == "balanced":
        p, g_total = balance_scales(spec, p)
    perms, signs, scales = list(g_total.perm), [], []
    layer_g = identity(mlp, dtype)
    for layer in range(mlp.num_hidden):
        key = unit_keys(spec, p, layer)
        sign = jnp.ones_like(key)
        if spec.flip:
            sign = jnp.where(key >= 0, 1.0, -1.0).astype(dtype)
        norm = jnp.ones_like(key)
        if spec.scale and spec.scale_canonical == "unit_norm":
            in_norm = jnp.sqrt(_in_sq_norm(spec, p, layer))
            norm = jnp.where(in_norm > 0, in_norm, 1.0)  # a dead unit keeps its scale
        scale = 1.0 / norm
        new_key = key * sign / norm
        perm = (
            _sort_units(spec, p, layer, new_key, norm)
            if spec.permute
            else jnp.arange(key.shape[0], dtype=jnp.int32)
        )
        perms[layer] = perm
        signs.append(sign[perm])
        scales.append(scale[perm])
        one = layer_g._replace(
            perm=tuple(perm if i == layer else q for i, q in enumerate(layer_g.perm)),
            sign=tuple(signs[-1] if i == layer else s for i, s in enumerate(layer_g.sign)),
            scale=tuple(scales[-1] if i == layer else c for i, c in enumerate(layer_g.scale)),
        )
        p = act(mlp, one, p)
    g_units = GroupElement(tuple(perms), tuple(signs), tuple(scales), layer_g.shift_w,
                           layer_g.shift_b)
    g_total = compose(mlp, g_units, g_total)
    if spec.shift:
        wl = p[mlp.weight_name(mlp.num_hidden)]
        shift_w = -jnp.mean(wl, axis=1)
        shift_b = -jnp.mean(p[mlp.bias_name(mlp.num_hidden)]) if mlp.use_bias else jnp.zeros(
            (), dtype)
        g_shift = identity(mlp, dtype)._replace(shift_w=shift_w, shift_b=shift_b)
        p = act(mlp, g_shift, p)
        g_total = compose(mlp, g_shift, g_total)
    return p, g_total
