"""From a numpyro model to a blackjax log density on the unconstrained space."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpyro
from numpyro.handlers import seed, substitute, trace
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.util import constrain_fn, potential_energy, unconstrain_fn
from numpyro.primitives import Messenger

from symbnn.types import Array, PRNGKey

__all__ = ["Bridge", "make_bridge", "prior_sites"]


@dataclasses.dataclass(frozen=True)
class Bridge:
    """A numpyro model seen by blackjax: log density and (un)constraining maps on a data set.

    The data are not part of the identity: two bridges of the same model compare equal and hash
    alike whatever data they are bound to, so compiled programs can be cached by an unbound
    bridge and take the data as arguments (inside a traced function ``bind(x, y)`` binds
    tracers); a new data set of the same shapes reuses them. The functions are numpyro's
    ``potential_energy``, ``constrain_fn`` and ``unconstrain_fn`` with ``model_args=(x,)`` and
    ``model_kwargs={"y": y}``.

    Attributes
    ----------
    model : callable
        A numpyro model ``model(x, y=None)`` without discrete latent sites.
    site_names : tuple of str
        The latent sites, in a fixed order.
    x, y : arrays or None
        The data the functions use (None: unbound).
    """

    model: Any
    site_names: tuple[str, ...]
    x: Any = dataclasses.field(default=None, compare=False, repr=False)
    y: Any = dataclasses.field(default=None, compare=False, repr=False)

    def bind(self, x: Array | None, y: Array | None) -> Bridge:
        """The same bridge on the data set ``(x, y)`` (arrays or tracers; None unbinds)."""
        return dataclasses.replace(self, x=x, y=y)

    def logdensity_fn(self, position: dict) -> Array:
        """Log joint density at an unconstrained position."""
        return -potential_energy(self.model, (self.x,), {"y": self.y}, position)

    def logprior_fn(self, position: dict) -> Array:
        """Log prior density at an unconstrained position (Jacobians of the transforms included).

        The prior is the latent sites and the log-Jacobian factors numpyro adds for them; every
        other sample site (observations, ``numpyro.factor`` terms of the model) is likelihood.
        ``logprior_fn + loglik_fn == logdensity_fn``.
        """
        model = _Only(self.model, frozenset(self.site_names), prior=True)
        return -potential_energy(model, (self.x,), {"y": self.y}, position)

    def loglik_fn(self, position: dict) -> Array:
        """Log likelihood at an unconstrained position (see :meth:`logprior_fn`)."""
        model = _Only(self.model, frozenset(self.site_names), prior=False)
        return -potential_energy(model, (self.x,), {"y": self.y}, position)

    def constrain_fn(self, position: dict) -> dict:
        """Unconstrained position -> constrained values of the latent sites (one draw)."""
        out = constrain_fn(self.model, (self.x,), {"y": self.y}, position)
        return {k: out[k] for k in self.site_names}

    def unconstrain_fn(self, sites: dict) -> dict:
        """Constrained values of the latent sites -> unconstrained position (one draw)."""
        return unconstrain_fn(self.model, (self.x,), {"y": self.y},
                              {k: sites[k] for k in self.site_names})


class _Only(Messenger):
    """Mask the sample sites of the likelihood (``prior=True``) or of the prior (``False``)."""

    def __init__(self, fn, latent: frozenset, prior: bool):
        self.latent, self.prior = latent, prior
        super().__init__(fn)

    def _is_prior(self, name: str) -> bool:
        if name in self.latent:
            return True
        return name.startswith("_") and name.endswith(_LOG_DET) and name[1:-len(_LOG_DET)] in (
            self.latent)

    def process_message(self, msg):
        if msg["type"] == "sample" and self._is_prior(msg["name"]) != self.prior:
            msg["fn"] = msg["fn"].mask(False)


_LOG_DET = "_log_det"  # numpyro names the Jacobian factor of latent site "a" "_a_log_det"


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
    """The bridge of ``model``, bound to the data ``x, y``.

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
        names = _cached_names(model, shapes, y is None)
    except TypeError:  # an unhashable model: trace it every time
        names = _latent_names(rng_key, model, x, y)
    return Bridge(model, names).bind(x, y)


@functools.lru_cache(maxsize=256)
def _cached_names(model: Any, shapes: tuple, y_is_none: bool) -> tuple[str, ...]:
    """``_latent_names`` for data of the given shapes and dtypes (they do not depend on a key)."""
    x = jax.ShapeDtypeStruct(*shapes[0])
    y = None if y_is_none else jax.ShapeDtypeStruct(*shapes[1])
    return _latent_names(jax.random.key(0), model, x, y)


def prior_sites(rng_key: PRNGKey, model: Any, x: Array, num_samples: int) -> dict[str, Array]:
    """Draw ``num_samples`` sets of latent site values from the prior of ``model``."""
    pred = numpyro.infer.Predictive(model, num_samples=num_samples)
    out = pred(rng_key, x)
    out.pop("y", None)
    return out
