"""From a numpyro model to a blackjax log density on the unconstrained space, once."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpyro
from numpyro.handlers import seed, substitute, trace
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.util import constrain_fn, potential_energy, unconstrain_fn

from symbnn.types import Array, PRNGKey

__all__ = ["Bridge", "make_bridge", "prior_sites"]


@dataclasses.dataclass(frozen=True)
class Bridge:
    """A numpyro model seen by blackjax.

    Attributes
    ----------
    logdensity_fn : callable
        Unconstrained position (dict of site arrays) -> log joint density.
    constrain_fn : callable
        Unconstrained position -> constrained site values (one draw).
    unconstrain_fn : callable
        Constrained site values -> unconstrained position (one draw).
    site_names : tuple of str
        The latent sites, in a fixed order.
    """

    logdensity_fn: Callable[[dict], Array]
    constrain_fn: Callable[[dict], dict]
    unconstrain_fn: Callable[[dict], dict]
    site_names: tuple[str, ...]


def _latent_names(rng_key: PRNGKey, model: Any, x: Array, y: Array | None) -> tuple[str, ...]:
    """Names of the latent sample sites, read from one abstract (shape-only) trace."""
    names: list[str] = []

    def run(key, x, y):
        # init_to_uniform gives values to sites that cannot be sampled (ImproperUniform)
        tr = trace(substitute(seed(model, key), substitute_fn=init_to_uniform)).get_trace(x, y=y)
        names.extend(k for k, s in tr.items() if s["type"] == "sample" and not s["is_observed"])
        return jnp.zeros(())

    jax.eval_shape(run, rng_key, x, y)
    return tuple(names)


def make_bridge(rng_key: PRNGKey, model: Any, x: Array, y: Array | None) -> Bridge:
    """Turn ``model(x, y)`` into a log density on the unconstrained space.

    The functions are numpyro's ``potential_energy``, ``constrain_fn`` and ``unconstrain_fn``
    (the ones ``numpyro.infer.util.initialize_model`` builds); nothing runs eagerly except one
    abstract trace for the site names (``initialize_model`` would also search for a valid
    starting point op by op, which costs seconds of dispatch and is not needed here).

    Parameters
    ----------
    rng_key : jax.Array
        Key for the abstract trace of the model (no value is drawn from it).
    model : callable
        A numpyro model ``model(x, y=None)`` without discrete latent sites.
    x, y : arrays
        Observed data (already validated).
    """
    args, kwargs = (x,), {"y": y}
    names = _latent_names(rng_key, model, x, y)

    def logdensity_fn(position: dict) -> Array:
        return -potential_energy(model, args, kwargs, position)

    def constrain(position: dict) -> dict:
        out = constrain_fn(model, args, kwargs, position)
        return {k: out[k] for k in names}

    def unconstrain(sites: dict) -> dict:
        return unconstrain_fn(model, args, kwargs, {k: sites[k] for k in names})

    return Bridge(logdensity_fn, constrain, unconstrain, names)


def prior_sites(rng_key: PRNGKey, model: Any, x: Array, num_samples: int) -> dict[str, Array]:
    """Draw ``num_samples`` sets of latent site values from the prior of ``model``."""
    pred = numpyro.infer.Predictive(model, num_samples=num_samples)
    out = pred(rng_key, x)
    out.pop("y", None)
    return out


def vmap_tree(fn: Callable, tree: dict) -> dict:
    """``jax.vmap(fn)`` over the leading axis of every leaf of ``tree``."""
    return jax.vmap(fn)(tree)
