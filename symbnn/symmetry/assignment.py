"""Exact linear assignment for small square cost matrices, fast under ``vmap``.

Aligning a draw to a reference solves one small assignment problem per hidden layer and sweep, for
every draw, so the solver must be exact, jittable and cheap when batched. It is the shortest
augmenting path form of the Hungarian algorithm (the same recursion as
``optax.assignment.hungarian_algorithm``) with a warm start:

1. every row takes its cheapest column; when these are all different the assignment is optimal
   (each row pays its own minimum, a lower bound on any assignment) and nothing else runs;
2. otherwise the uncontested rows keep their column, with row potentials ``u_i = min_j c_ij`` and
   column potentials ``v_j = 0`` (dual feasible and tight on the kept pairs), and only the remaining
   rows are inserted by shortest augmenting paths.

All loops are ``while_loop``s that run only as long as some draw in the batch needs them, so a
batch of draws close to the reference (the usual case for posterior draws) costs little more than
one ``argmin`` per row.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from symbnn.types import Array

__all__ = ["solve_assignment"]


def _greedy_start(cost: Array) -> tuple[Array, Array, Array]:
    """Keep every row whose cheapest column is unique and claimed by no other row.

    Returns ``row_of_col`` (n,) (-1 where free), ``kept`` (n,) bool per row, ``rowmin`` (n,).
    """
    rowmin = jnp.min(cost, axis=1)
    claims = cost == rowmin[:, None]  # (row, column); several per row only on ties
    pairs = claims & (jnp.sum(claims, 1) == 1)[:, None] & (jnp.sum(claims, 0) == 1)[None, :]
    rows = jnp.arange(cost.shape[0])[:, None]
    row_of_col = jnp.where(jnp.any(pairs, 0), jnp.sum(jnp.where(pairs, rows, 0), 0), -1)
    return row_of_col, jnp.any(pairs, 1), rowmin


def _insert_row(a: Array, u: Array, v: Array, p: Array, row: Array) -> tuple[Array, Array, Array]:
    """Insert ``row`` (1-based) by a shortest augmenting path (arrays are 1-based, index 0 virtual).

    ``a`` is the (n+1, n+1) padded cost, ``u``/``v`` row/column potentials, ``p[j]`` the row of
    column ``j`` (0: free).
    """
    m = a.shape[1]
    cols = jnp.arange(m)
    p = p.at[0].set(row)
    inf = jnp.asarray(jnp.inf, a.dtype)

    def dfs_cond(s):
        return (s[2][s[7]] != 0) & (s[8] < m)

    def dfs_body(s):
        # used: columns in the search tree; rows_used: their rows (and the new row).
        u, v, p, minv, way, used, rows_used, j0, it = s
        i0 = p[j0]
        used = used | (cols == j0)
        rows_used = rows_used | (cols == i0)
        cur = a[i0] - u[i0] - v
        better = (~used) & (cur < minv)
        minv = jnp.where(better, cur, minv)
        way = jnp.where(better, j0, way)
        masked = jnp.where(used, inf, minv)
        j1 = jnp.argmin(masked).astype(jnp.int32)
        delta = jnp.min(masked)
        u = jnp.where(rows_used, u + delta, u)
        v = jnp.where(used, v - delta, v)
        minv = jnp.where(used, minv, minv - delta)
        return u, v, p, minv, way, used, rows_used, j1, it + 1

    zero = jnp.asarray(0, jnp.int32)
    init = (
        u, v, p, jnp.full(m, inf), jnp.zeros(m, jnp.int32), jnp.zeros(m, bool),
        jnp.zeros(m, bool), zero, zero,
    )
    u, v, p, _, way, _, _, j0, _ = jax.lax.while_loop(dfs_cond, dfs_body, init)

    def back_body(s):
        p, j0, it = s
        j1 = way[j0]
        return jnp.where(cols == j0, p[j1], p), j1, it + 1

    p, _, _ = jax.lax.while_loop(lambda s: (s[1] != 0) & (s[2] < m), back_body, (p, j0, zero))
    return u, v, p.at[0].set(0)


def _augment(cost: Array, row_of_col: Array, kept: Array, rowmin: Array) -> Array:
    n = cost.shape[0]
    u = jnp.concatenate([jnp.zeros(1, cost.dtype), jnp.where(kept, rowmin, 0.0)])
    v = jnp.zeros(n + 1, cost.dtype)
    p = jnp.concatenate([jnp.zeros(1, jnp.int32), (row_of_col + 1).astype(jnp.int32)])
    free = jnp.concatenate([jnp.zeros(1, bool), ~kept])

    def body(s):
        u, v, p, free = s
        row = jnp.argmax(free).astype(jnp.int32)
        a = jnp.pad(cost, ((1, 0), (1, 0)))  # built here, so a batch with no free row skips it
        u, v, p = _insert_row(a, u, v, p, row)
        return u, v, p, free & (jnp.arange(n + 1) != row)

    _, _, p, _ = jax.lax.while_loop(lambda s: jnp.any(s[3]), body, (u, v, p, free))
    return p[1:] - 1


def solve_assignment(cost: Array) -> Array:
    """Exact minimum-cost assignment of a square cost matrix.

    Parameters
    ----------
    cost : array, shape (n, n)
        Finite costs (non-finite entries are replaced by a large finite value).

    Returns
    -------
    array of int32, shape (n,)
        ``perm`` with ``perm[j]`` the row assigned to column ``j``; ``cost[perm, arange(n)].sum()``
        is minimal over all permutations.
    """
    cost = jnp.asarray(cost)
    if cost.ndim != 2 or cost.shape[0] != cost.shape[1]:
        raise ValueError(f"cost must be a square matrix, got shape {cost.shape}")
    if not jnp.issubdtype(cost.dtype, jnp.floating):
        cost = cost.astype(jnp.result_type(float))
    n = cost.shape[0]
    if n == 0:
        return jnp.zeros(0, jnp.int32)
    big = jnp.asarray(jnp.finfo(cost.dtype).max / (8 * n * n), cost.dtype)
    cost = jnp.where(jnp.isfinite(cost), cost, big)
    row_of_col, kept, rowmin = _greedy_start(cost)
    # The augmenting loop runs only for rows that lost their cheapest column; under vmap, only if
    # some draw in the batch has such a row.
    return _augment(cost, row_of_col, kept, rowmin).astype(jnp.int32)
