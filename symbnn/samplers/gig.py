"""Exact draws from the generalised inverse Gaussian (GIG) law.

The scale move of :mod:`symbnn.samplers.orbit` draws ``t = c²`` from a GIG(p, a, b) law, in the
parametrisation ``∝ t^(p-1) exp(-(a t + b / t) / 2)``. The sampler is exact rejection sampling of
``u = log t``, whose log density is concave: a flat envelope around the mode and exponential tails
along the tangents where the log density has dropped by about 1.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from symbnn.types import Array, PRNGKey

__all__ = ["gig", "log_gig"]

# About 1.33 proposals per draw were measured over p in [-8, 1e4] and a, b in [0, 1e30]; a cap of
# 1000 is never reached in practice, and guards the loop against non-finite input.
_MAX_TRIALS = 1000


def _phi(v: Array) -> Array:
    """``e^v - 1 - v >= 0``, accurate near 0 (Taylor series) and without cancellation."""
    small = jnp.abs(v) < 0.5
    s = jnp.where(small, v, 0.0)
    coeffs = [1.0 / math.factorial(n) for n in range(9, 1, -1)]  # 1/9!, ..., 1/2!
    series = jnp.zeros_like(s)
    for c in coeffs:
        series = (series + c) * s
    return jnp.where(small, series * s, jnp.expm1(v) - v)


def _q(v, alpha, beta):
    """Drop of the log density from the mode: ``alpha φ(v) + beta φ(-v)`` (>= 0, convex)."""
    return jnp.where(alpha > 0, alpha * _phi(v), 0.0) + jnp.where(beta > 0, beta * _phi(-v), 0.0)


def _dq(v, alpha, beta):
    return jnp.where(alpha > 0, alpha * jnp.expm1(v), 0.0) - jnp.where(
        beta > 0, beta * jnp.expm1(-v), 0.0)


def _crossings(alpha, beta):
    """Points ``v_l < 0 < v_r`` where the drop ``q`` is about 1 (bisection in ``log|v|``).

    Any ``v_l < 0 < v_r`` gives a valid envelope; precision only affects efficiency.
    """
    finfo = jnp.finfo(alpha.dtype)
    lo, hi = 0.5 * math.log(float(finfo.tiny)), math.log(0.9 * math.log(float(finfo.max)))
    num_steps = math.ceil(math.log2((hi - lo) / 1e-3))
    side = jnp.array([-1.0, 1.0], alpha.dtype).reshape((2,) + (1,) * alpha.ndim)

    def body(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        above = _q(side * jnp.exp(mid), alpha, beta) >= 1.0
        return jnp.where(above, lo, mid), jnp.where(above, mid, hi)

    shape = (2, *alpha.shape)
    init = (jnp.full(shape, lo, alpha.dtype), jnp.full(shape, hi, alpha.dtype))
    _, hi = jax.lax.fori_loop(0, num_steps, body, init)
    v = side * jnp.exp(hi)
    return v[0], v[1]


def _draw_v(rng_key, alpha, beta):
    """Exact draws from the densities ``∝ exp(-q(v))`` (elementwise) by rejection sampling.

    ``-q`` is concave with maximum 0 at ``v = 0``; for ``v_l < 0 < v_r`` the envelope is 0 on
    ``[v_l, v_r]`` and the tangent lines of ``-q`` at ``v_l`` and ``v_r`` outside (above ``-q`` by
    concavity). Proposals are made for all entries until every entry has accepted one. Returns the
    draws (NaN where ``_MAX_TRIALS`` proposals were all rejected) and the number of proposals.
    """
    dtype, shape = alpha.dtype, alpha.shape
    v_l, v_r = _crossings(alpha, beta)
    q_l, q_r = _q(v_l, alpha, beta), _q(v_r, alpha, beta)
    d_l, d_r = -_dq(v_l, alpha, beta), _dq(v_r, alpha, beta)  # both > 0
    w_mid = v_r - v_l
    w_l, w_r = jnp.exp(-q_l) / d_l, jnp.exp(-q_r) / d_r
    total = w_mid + w_l + w_r

    def propose(key):
        k_u, k_e, k_acc = jax.random.split(key, 3)
        u = jax.random.uniform(k_u, shape, dtype) * total
        e = jax.random.exponential(k_e, shape, dtype)
        mid, left = u < w_mid, u < w_mid + w_l
        v = jnp.where(mid, v_l + u, jnp.where(left, v_l - e / d_l, v_r + e / d_r))
        envelope = jnp.where(mid, 0.0, jnp.where(left, -q_l - e, -q_r - e))
        log_ratio = -_q(v, alpha, beta) - envelope
        return v, -jax.random.exponential(k_acc, shape, dtype) <= log_ratio

    def cond(carry):
        _, _, accepted, trials = carry
        return jnp.any(jnp.logical_not(accepted) & (trials < _MAX_TRIALS))

    def body(carry):
        key, v, accepted, trials = carry
        key, sub = jax.random.split(key)
        v_new, ok = propose(sub)
        fresh = ok & jnp.logical_not(accepted)
        busy = jnp.logical_not(accepted) & (trials < _MAX_TRIALS)
        return key, jnp.where(fresh, v_new, v), accepted | fresh, trials + busy

    init = (rng_key, jnp.zeros(shape, dtype), jnp.zeros(shape, bool), jnp.zeros(shape, jnp.int32))
    _, v, accepted, trials = jax.lax.while_loop(cond, body, init)
    return jnp.where(accepted, v, jnp.nan), trials


def _log_gig(rng_key, p, a, b):
    """Elementwise ``log t`` draws and proposal counts for arrays ``p, a, b`` of one shape."""
    proper = (
        jnp.isfinite(p) & jnp.isfinite(a) & jnp.isfinite(b) & (a >= 0) & (b >= 0)
        & (((a > 0) & (b > 0)) | ((a > 0) & (p > 0)) | ((b > 0) & (p < 0)))
    )
    p, a, b = jnp.where(proper, p, 1.0), jnp.where(proper, a, 1.0), jnp.where(proper, b, 1.0)
    # Centre u = log t at its mode m: log density - its maximum = -(alpha φ(v) + beta φ(-v)), with
    # v = u - m, alpha = a e^m / 2, beta = b e^-m / 2 and alpha - beta = p; stable forms of both.
    omega = jnp.sqrt(a) * jnp.sqrt(b)
    r = jnp.hypot(p, omega)
    big, small = 0.5 * (r + jnp.abs(p)), 0.5 * omega * (omega / (r + jnp.abs(p)))
    alpha, beta = jnp.where(p >= 0, big, small), jnp.where(p >= 0, small, big)
    mode = jnp.where(alpha >= beta, jnp.log(2 * alpha) - jnp.log(a), jnp.log(b) - jnp.log(2 * beta))
    v, trials = _draw_v(rng_key, alpha, beta)
    return jnp.where(proper, mode + v, jnp.nan), trials


@jax.jit
def log_gig(rng_key: PRNGKey, p, a, b) -> Array:
    """Draw ``log t`` for ``t ~ GIG(p, a, b)``, density ``∝ t^(p-1) exp(-(a t + b / t) / 2)``.

    Exact rejection sampling of ``u = log t`` (log-concave), one independent draw per entry of the
    broadcast of ``p``, ``a`` and ``b``. Jitted; not differentiable.

    Parameters
    ----------
    rng_key : jax.Array
    p : array_like
        Any real.
    a, b : array_like
        Non-negative. ``b = 0`` needs ``p > 0`` (a Gamma(p, rate a/2) law); ``a = 0`` needs
        ``p < 0`` (an inverse Gamma(-p, scale b/2) law).

    Returns
    -------
    array
        ``log t``; NaN where the parameters define no proper distribution (as jax.random does
        for invalid parameters, since values cannot be checked under ``jit``).

    Notes
    -----
    scipy's ``geninvgauss(p, sqrt(a b), scale=sqrt(b / a))`` is the same law.
    """
    dtype = jnp.result_type(p, a, b, float)
    p, a, b = jnp.broadcast_arrays(*(jnp.asarray(z, dtype) for z in (p, a, b)))
    return _log_gig(rng_key, p, a, b)[0]


def gig(rng_key: PRNGKey, p, a, b) -> Array:
    """Draw ``t ~ GIG(p, a, b)``; ``exp`` of :func:`log_gig` (see there)."""
    return jnp.exp(log_gig(rng_key, p, a, b))
