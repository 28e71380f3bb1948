"""Chain initialisation: prior draws, MAP fits, or deep-ensemble members.

- ``"prior"``: a draw from the prior (canonicalised for the constrained and quotient spaces);
- ``"map"``: from a prior draw, Adam (optax) on the log posterior, one optimisation per chain;
- ``"ensemble"``: deep-ensemble members as chain starts (Sommer et al. 2025, "Microcanonical
  Langevin Ensembles", ICLR): each member is fitted by Adam on the log posterior of 90% of the
  training rows and the iterate with the best log-likelihood on the other 10% is kept (early
  stopping); each member has its own random split and start.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
from numpyro.infer.util import log_likelihood

from symbnn.samplers.bridge import Bridge, prior_sites
from symbnn.symmetry.batched import canonicalize_batch
from symbnn.types import PRNGKey

__all__ = ["INITS", "initial_positions"]

INITS = ("prior", "map", "ensemble")


def _canonical_sites(group, sites: dict) -> dict:
    names = group.spec.mlp.param_names
    net = {k: sites[k] for k in names}
    canon, _ = canonicalize_batch(group, net)
    return {**sites, **canon}


def _prior_start(rng_key, model, x, num_chains: int, canonical: bool) -> dict:
    source = model
    if getattr(model, "reparam", None) == "constrained":
        source = dataclasses.replace(model, reparam=None)
        canonical = True
    sites = prior_sites(rng_key, source, x, num_chains)
    if canonical:
        sites = _canonical_sites(model.group, sites)
    return sites


def _adam_fit(logdensity_fn, position, *, num_steps: int, learning_rate: float, score_fn=None):
    opt = optax.adam(learning_rate)
    loss = lambda p: -logdensity_fn(p)  # noqa: E731

    def step(carry, _):
        p, s, best, best_score = carry
        grads = jax.grad(loss)(p)
        updates, s = opt.update(grads, s, p)
        p = optax.apply_updates(p, updates)
        if score_fn is None:
            return (p, s, p, best_score), None
        score = score_fn(p)
        better = jnp.isfinite(score) & (score > best_score)
        best = jax.tree.map(lambda a, b: jnp.where(better, a, b), p, best)
        return (p, s, best, jnp.where(better, score, best_score)), None

    init = (position, opt.init(position), position, jnp.asarray(-jnp.inf))
    (_, _, best, _), _ = jax.lax.scan(step, init, None, length=num_steps)
    return best


def initial_positions(
    rng_key: PRNGKey,
    *,
    model,
    bridge: Bridge,
    x,
    y,
    num_chains: int,
    init: str,
    canonical: bool,
    num_steps: int = 1000,
    learning_rate: float = 1e-2,
) -> dict:
    """Unconstrained starting positions with a leading chain axis.

    Parameters
    ----------
    rng_key : jax.Array
    model : BNNModel
    bridge : Bridge
        The model's log density on the full training data.
    x, y : arrays
        Training data.
    num_chains : int
    init : {"prior", "map", "ensemble"}
    canonical : bool
        Canonicalise the starts (quotient space).
    num_steps, learning_rate : int, float
        Adam settings for "map" and "ensemble".
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    k_prior, k_fit = jax.random.split(rng_key)
    sites = _prior_start(k_prior, model, x, num_chains, canonical)
    pos = jax.jit(jax.vmap(bridge.unconstrain_fn))(sites)
    if init == "prior":
        return pos
    if init == "map":
        fit = jax.jit(jax.vmap(lambda p: _adam_fit(
            bridge.logdensity_fn, p, num_steps=num_steps, learning_rate=learning_rate)))
        pos = fit(pos)
    else:
        pos = _ensemble(k_fit, model, bridge, x, y, pos, num_steps, learning_rate)
    if canonical:
        sites = jax.jit(jax.vmap(bridge.constrain_fn))(pos)
        pos = jax.jit(jax.vmap(bridge.unconstrain_fn))(_canonical_sites(model.group, sites))
    return pos


def _ensemble(rng_key, model, bridge, x, y, pos, num_steps, learning_rate):
    n = np.shape(x)[0]
    num_val = max(1, n // 10)
    if n - num_val < 1:
        raise ValueError(f"init='ensemble' needs at least 2 training rows, got {n}")
    num_chains = jax.tree.leaves(pos)[0].shape[0]
    keys = jax.random.split(rng_key, num_chains)
    # each member's own random split, as a mask of its validation rows
    val_masks = jax.vmap(
        lambda k: jnp.zeros(n, bool).at[jax.random.permutation(k, n)[:num_val]].set(True))(keys)

    def rows_loglik(p):
        sites = bridge.constrain_fn(p)
        return log_likelihood(model, sites, x, y=y, batch_ndims=0)["y"]

    def fit(p, val):
        # the log density of the model on the fit rows only: the full log density minus the
        # log-likelihood of the validation rows (the prior and every row enter additively)
        def val_loglik(q):
            return jnp.sum(jnp.where(val, rows_loglik(q), 0.0))

        return _adam_fit(lambda q: bridge.logdensity_fn(q) - val_loglik(q), p,
                         num_steps=num_steps, learning_rate=learning_rate, score_fn=val_loglik)

    # one compilation for all members (their splits are data, not shapes)
    return jax.jit(jax.vmap(fit))(pos, val_masks)
