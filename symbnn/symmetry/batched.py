"""The batch layer: group operations and per-draw functions over leading (chain, draw) axes.

Everything else in symbnn is written for ONE draw; this module is the one place that maps such
functions over many draws. :func:`over_draws` merges the ``lead`` leading axes of every array into
one, calls a batch function, and restores the axes of every output (numpy out). The group
operations below are jitted once per (hashable) :class:`~symbnn.symmetry.base.GroupSpec`, so
repeated calls with the same spec and draw count reuse their compilation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from symbnn.symmetry.align import align as _align_one
from symbnn.symmetry.base import GroupSpec
from symbnn.symmetry.groups import make_group

__all__ = ["align", "canonicalize", "canonicalize_batch", "over_draws", "symmetrize"]


def over_draws(batch_fn: Callable, tree: Mapping, *shared, lead: int = 2):
    """``batch_fn(flat_tree, *shared)`` with the ``lead`` leading axes of ``tree`` merged.

    Every leaf of ``tree`` has the same ``lead`` leading axes (e.g. (chain, draw)); ``batch_fn``
    sees them merged into one and returns a pytree whose leaves have that merged axis first. The
    result has the original leading axes restored, as numpy arrays.
    """
    shape = np.shape(next(iter(tree.values())))[:lead]
    flat = {k: jnp.asarray(v).reshape((-1, *np.shape(v)[lead:])) for k, v in tree.items()}
    out = batch_fn(flat, *shared)
    return jax.tree.map(lambda a: np.asarray(a).reshape((*shape, *a.shape[1:])), out)


def canonicalize_batch(group, params: Mapping) -> tuple[dict, object]:
    """Hard canonical form of a batch (one leading axis), traceable inside ``jit``."""
    return jax.vmap(group.canonicalize)(params)


@functools.cache
def _canonicalize_fn(spec: GroupSpec):
    group = make_group(spec)
    return jax.jit(lambda p: canonicalize_batch(group, p))


@functools.cache
def _align_fn(spec: GroupSpec, max_sweeps: int):
    group = make_group(spec)
    one = functools.partial(_align_one, group=group, max_sweeps=max_sweeps)
    return jax.jit(jax.vmap(lambda p, ref: one(p, ref), in_axes=(0, None)))


@functools.cache
def _symmetrize_fn(spec: GroupSpec):
    group = make_group(spec)
    return jax.jit(jax.vmap(lambda k, p: group.act(group.sample(k), p)))


def canonicalize(spec: GroupSpec, params: Mapping, *, lead: int = 2):
    """Canonical params and the group elements that map each draw there (numpy, same axes)."""
    return over_draws(_canonicalize_fn(spec), params, lead=lead)


def align(spec: GroupSpec, params: Mapping, reference: Mapping, *, max_sweeps: int = 10,
          lead: int = 2):
    """Every draw aligned to ``reference`` (one parameter dict): params and group elements."""
    ref = {k: jnp.asarray(v) for k, v in reference.items()}
    return over_draws(_align_fn(spec, int(max_sweeps)), params, ref, lead=lead)


def symmetrize(spec: GroupSpec, rng_key, params: Mapping, *, lead: int = 2) -> dict:
    """An independent uniform group element applied to every draw (finite groups)."""
    num = int(np.prod(np.shape(next(iter(params.values())))[:lead]))
    keys = jax.random.split(rng_key, num)  # typed keys (n,) or legacy uint32 keys (n, 2)
    return over_draws(lambda flat: _symmetrize_fn(spec)(keys, flat), params, lead=lead)
