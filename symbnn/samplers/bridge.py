"""From a numpyro model to a blackjax log density on the unconstrained space."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpyro
from numpyro.handlers import seed, substitute, trace
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.util import constrain_fn, potential_energy, unconstrain_fn

from symbnn.types import Array, PRNGKey

__all__ = ["Bridge", "Density", "make_bridge", "make_density", "prior_sites"]


@dataclasses.dataclass(frozen=True)
class Bridge:
    """A numpyro model seen by blackjax, on one data set.

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


@dataclasses.dataclass(frozen=True)
class Density:
    """The log density of a numpyro model as a function of position *and data*.

    Frozen and hashable (the model is), so compiled programs can be cached by it: the data are
    arguments of those programs, not constants baked into them, and a new data set of the same
    shapes reuses them. The functions are numpyro's ``potential_energy``, ``constrain_fn`` and
    ``unconstrain_fn`` with ``model_args=(x,)`` and ``model_kwargs={"y": y}``, built where they are
    called (inside a traced function ``x`` and ``y`` are tracers).

    Attributes
    ----------
    model : callable
        A numpyro model ``model(x, y=None)`` without discrete latent sites.
    site_names : tuple of str
        The latent sites, in a fixed order.
    """

    model: Any
    site_names: tuple[str, ...]

    def logdensity(self, position: dict, x: Array, y: Array | None) -> Array:
        """Log joint density at an unconstrained position."""
        return -potential_energy(self.model, (x,), {"y": y}, position)

    def constrain(self, position: dict, x: Array, y: Array | None) -> dict:
        """Unconstrained position -> constrained values of the latent sites (one draw)."""
        out = constrain_fn(self.model, (x,), {"y": y}, position)
        return {k: out[k] for k in self.site_names}

    def unconstrain(self, sites: dict, x: Array, y: Array | None) -> dict:
        """Constrained values of the latent sites -> unconstrained position (one draw)."""
        return unconstrain_fn(self.model, (x,), {"y": y}, {k: sites[k] for k in self.site_names})

    def bind(self, x: Array, y: Array | None) -> Bridge:
        """The position-only functions on the data set ``(x, y)`` (arrays or tracers)."""
        return Bridge(
            logdensity_fn=lambda position: self.logdensity(position, x, y),
            constrain_fn=lambda position: self.constrain(position, x, y),
            unconstrain_fn=lambda sites: self.unconstrain(sites, x, y),
            site_names=self.site_names,
        )


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


def make_density(rng_key: PRNGKey, model: Any, x: Array, y: Array | None) -> Density:
    """The data-free log density of ``model``; ``x`` and ``y`` only give shapes and dtypes.

    Nothing runs eagerly except one abstract trace for the site names (``initialize_model`` would
    also search for a valid starting point op by op, which costs seconds of dispatch and is not
    needed here).

    Parameters
    ----------
    rng_key : jax.Array
        Key for the abstract trace of the model (no value is drawn from it).
    model : callable
        A numpyro model ``model(x, y=None)`` without discrete latent sites.
    x, y : arrays
        Observed data (already validated), or anything with their shapes and dtypes.
    """
    shapes = tuple((jnp.shape(a), jnp.result_type(a)) for a in (x, y) if a is not None)
    try:
        return Density(model, _cached_names(model, shapes, y is None))
    except TypeError:  # an unhashable model: trace it every time
        return Density(model, _latent_names(rng_key, model, x, y))


@functools.lru_cache(maxsize=256)
def _cached_names(model: Any, shapes: tuple, y_is_none: bool) -> tuple[str, ...]:
    """``_latent_names`` for data of the given shapes and dtypes (they do not depend on a key)."""
    x = jax.ShapeDtypeStruct(*shapes[0])
    y = None if y_is_none else jax.ShapeDtypeStruct(*shapes[1])
    return _latent_names(jax.random.key(0), model, x, y)


def make_bridge(rng_key: PRNGKey, model: Any, x: Array, y: Array | None) -> Bridge:
    """Turn ``model(x, y)`` into a log density on the unconstrained space of one data set.

    ``make_density(rng_key, model, x, y).bind(x, y)``: the data are closed over.

    Parameters
    ----------
    rng_key : jax.Array
        Key for the abstract trace of the model (no value is drawn from it).
    model : callable
        A numpyro model ``model(x, y=None)`` without discrete latent sites.
    x, y : arrays
        Observed data (already validated).
    """
    return make_density(rng_key, model, x, y).bind(x, y)


def prior_sites(rng_key: PRNGKey, model: Any, x: Array, num_samples: int) -> dict[str, Array]:
    """Draw ``num_samples`` sets of latent site values from the prior of ``model``."""
    pred = numpyro.infer.Predictive(model, num_samples=num_samples)
    out = pred(rng_key, x)
    out.pop("y", None)
    return out
