"""NUTS and HMC (blackjax), tuned by blackjax's window adaptation (diagonal mass matrix)."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from symbnn.samplers.kernels.base import Kernel, Tuned, check_positive, check_probability
from symbnn.types import Array

__all__ = ["HMC", "NUTS", "HMCParams"]


class HMCParams(NamedTuple):
    """Tuned parameters of NUTS and HMC."""

    step_size: Array
    inverse_mass_matrix: Array


@dataclasses.dataclass(frozen=True)
class _Hamiltonian(Kernel):
    """What NUTS and HMC share: window adaptation, state type, statistics."""

    params_type = HMCParams

    @property
    def state_type(self):
        """``blackjax.mcmc.hmc.HMCState``."""
        from blackjax.mcmc.hmc import HMCState

        return HMCState

    def _blackjax(self):
        raise NotImplementedError

    def _extra(self) -> dict:
        raise NotImplementedError

    def tune(self, rng_key, position, logdensity_fn, *, num_steps, space) -> Tuned:
        import blackjax
        from blackjax.adaptation.base import get_filter_adapt_info_fn

        algo = self._blackjax()
        if num_steps > 0:
            warmup = blackjax.window_adaptation(
                algo, logdensity_fn, target_acceptance_rate=self.target_accept,
                adaptation_info_fn=get_filter_adapt_info_fn(info_keys={"is_divergent"}),
                **self._extra(),
            )
            (state, found), info = warmup.run(rng_key, position, num_steps)
            params = HMCParams(found["step_size"], found["inverse_mass_matrix"])
            divergences = jnp.sum(info.info.is_divergent)
        else:
            state = algo.init(position, logdensity_fn)
            eps = jnp.asarray(self.step_size, jax.tree.leaves(position)[0].dtype)
            params = HMCParams(eps, jnp.ones(ravel_pytree(position)[0].shape, eps.dtype))
            divergences = jnp.zeros((), int)
        state, params = space.after_warmup(rng_key, state, params)
        return Tuned(state, params, {"divergences": divergences})

    def algorithm(self, logdensity_fn, params):
        return self._blackjax()(logdensity_fn, step_size=params.step_size,
                                inverse_mass_matrix=params.inverse_mass_matrix, **self._extra())

    def _depth(self, info):
        raise NotImplementedError

    def draw_stats(self, state, info, params) -> dict:
        return {
            "diverging": info.is_divergent,
            "acceptance_rate": info.acceptance_rate,
            "num_integration_steps": info.num_integration_steps,
            "tree_depth": self._depth(info),
            "energy": info.energy,
            "lp": state.logdensity,
            "step_size": jnp.asarray(params.step_size, state.logdensity.dtype),
        }


@dataclasses.dataclass(frozen=True)
class NUTS(_Hamiltonian):
    """The No-U-Turn sampler (``blackjax.nuts``).

    Parameters
    ----------
    target_accept : float
        Target acceptance rate of the step-size adaptation, in (0, 1).
    max_tree_depth : int
        Maximum number of trajectory doublings (>= 1).
    step_size : float
        Step size without warm-up (``num_warmup=0``; unit mass matrix).
    """

    name = "nuts"
    target_accept: float = 0.8
    max_tree_depth: int = 10
    step_size: float = 0.1

    def __post_init__(self) -> None:
        check_probability("target_accept", self.target_accept)
        check_positive("max_tree_depth", self.max_tree_depth, integer=True)
        check_positive("step_size", self.step_size)

    def _blackjax(self):
        import blackjax

        return blackjax.nuts

    def _extra(self) -> dict:
        return {"max_num_doublings": int(self.max_tree_depth)}

    def _depth(self, info):
        return info.num_trajectory_expansions


@dataclasses.dataclass(frozen=True)
class HMC(_Hamiltonian):
    """Hamiltonian Monte Carlo with a fixed number of leapfrog steps (``blackjax.hmc``).

    Parameters
    ----------
    target_accept : float
        Target acceptance rate of the step-size adaptation, in (0, 1).
    num_integration_steps : int
        Leapfrog steps per transition (>= 1).
    step_size : float
        Step size without warm-up (``num_warmup=0``; unit mass matrix).
    """

    name = "hmc"
    target_accept: float = 0.8
    num_integration_steps: int = 16
    step_size: float = 0.1

    def __post_init__(self) -> None:
        check_probability("target_accept", self.target_accept)
        check_positive("num_integration_steps", self.num_integration_steps, integer=True)
        check_positive("step_size", self.step_size)

    def _blackjax(self):
        import blackjax

        return blackjax.hmc

    def _extra(self) -> dict:
        return {"num_integration_steps": int(self.num_integration_steps)}

    def _depth(self, info):
        return jnp.zeros_like(info.num_integration_steps)
