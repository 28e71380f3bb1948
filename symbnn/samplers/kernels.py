"""blackjax NUTS/HMC kernels, their window adaptation, and per-draw statistics."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import blackjax
import jax.numpy as jnp
from blackjax.adaptation.base import get_filter_adapt_info_fn

from symbnn.types import Array

__all__ = ["KernelConfig", "STAT_NAMES", "build_kernel", "build_warmup", "draw_stats"]

KERNELS = ("nuts", "hmc")
STAT_NAMES = (
    "diverging",
    "acceptance_rate",
    "num_integration_steps",
    "tree_depth",
    "energy",
    "lp",
    "step_size",
)


@dataclasses.dataclass(frozen=True)
class KernelConfig:
    """Static kernel settings.

    Attributes
    ----------
    name : {"nuts", "hmc"}
    target_accept : float
        Target acceptance rate of the step-size adaptation, in (0, 1).
    max_tree_depth : int
        NUTS: maximum number of trajectory doublings.
    num_integration_steps : int
        HMC: leapfrog steps per transition.
    """

    name: str = "nuts"
    target_accept: float = 0.8
    max_tree_depth: int = 10
    num_integration_steps: int = 16

    def __post_init__(self) -> None:
        if self.name not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {self.name!r}")
        if not 0.0 < self.target_accept < 1.0:
            raise ValueError(f"target_accept must be in (0, 1), got {self.target_accept}")
        if int(self.max_tree_depth) < 1:
            raise ValueError(f"max_tree_depth must be >= 1, got {self.max_tree_depth}")
        if int(self.num_integration_steps) < 1:
            raise ValueError(
                f"num_integration_steps must be >= 1, got {self.num_integration_steps}"
            )

    @property
    def algorithm(self):
        """The blackjax algorithm."""
        return blackjax.nuts if self.name == "nuts" else blackjax.hmc

    @property
    def extra(self) -> dict:
        """Keyword arguments of the blackjax algorithm besides step size and mass matrix."""
        if self.name == "nuts":
            return {"max_num_doublings": int(self.max_tree_depth)}
        return {"num_integration_steps": int(self.num_integration_steps)}


def build_warmup(config: KernelConfig, logdensity_fn: Callable, *, info_keys: tuple = ()):
    """Blackjax window adaptation (diagonal mass matrix).

    Per step it keeps only the kernel's info fields named in ``info_keys`` (e.g.
    ``("is_divergent",)``), stacked over the warm-up steps; by default nothing.
    """
    return blackjax.window_adaptation(
        config.algorithm,
        logdensity_fn,
        target_acceptance_rate=config.target_accept,
        adaptation_info_fn=get_filter_adapt_info_fn(info_keys=set(info_keys)),
        **config.extra,
    )


def build_kernel(config: KernelConfig, logdensity_fn: Callable, step_size, inverse_mass_matrix):
    """A blackjax sampling algorithm with fixed step size and inverse mass matrix."""
    return config.algorithm(
        logdensity_fn,
        step_size=step_size,
        inverse_mass_matrix=inverse_mass_matrix,
        **config.extra,
    )


def draw_stats(config: KernelConfig, state, info, step_size) -> dict[str, Array]:
    """Per-draw statistics from a blackjax state and info, with names as in arviz."""
    depth = (
        info.num_trajectory_expansions
        if config.name == "nuts"
        else jnp.zeros_like(info.num_integration_steps)
    )
    return {
        "diverging": info.is_divergent,
        "acceptance_rate": info.acceptance_rate,
        "num_integration_steps": info.num_integration_steps,
        "tree_depth": depth,
        "energy": info.energy,
        "lp": state.logdensity,
        "step_size": jnp.asarray(step_size, state.logdensity.dtype),
    }
