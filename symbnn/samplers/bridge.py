"""From a numpyro model to a blackjax log density on the unconstrained space, once."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import numpyro
from numpyro.infer.util import initialize_model, unconstrain_fn

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


def make_bridge(rng_key: PRNGKey, model: Any, x: Array, y: Array | None) -> Bridge:
    """Turn ``model(x, y)`` into a log density on the unconstrained space.

    Parameters
    ----------
    rng_key : jax.Array
        Key for numpyro's initialisation trace (the values found there are not used).
    model : callable
        A numpyro model ``model(x, y=None)``.
    x, y : arrays
        Observed data.
    """
    args, kwargs = (x,), {"y": y}
    info = initialize_model(rng_key, model, model_args=args, model_kwargs=kwargs)
    potential_fn = info.potential_fn
    postprocess_fn = info.postprocess_fn
    names = tuple(info.param_info.z.keys())

    def logdensity_fn(position: dict) -> Array:
        return -potential_fn(position)

    def constrain(position: dict) -> dict:
        out = postprocess_fn(position)
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
