"""The kernel interface: what a kernel object owns, so that the driver never asks which one it is.

A kernel is a frozen (hashable) dataclass of its settings, like an optax alias over
``GradientTransformation``; it is part of the compile-cache key and of a checkpoint's fingerprint.
For one chain it provides

- :meth:`Kernel.tune`: warm-up from a starting position, returning a :class:`Tuned` (the blackjax
  state, the tuned parameters as a NamedTuple, per-chain warm-up diagnostics);
- :meth:`Kernel.algorithm`: the blackjax ``SamplingAlgorithm`` with the tuned parameters;
- :meth:`Kernel.draw_stats`: per-draw statistics under arviz names;
- :meth:`Kernel.report`: attrs and notes for the Posterior from the warm-up diagnostics and the
  per-draw statistics (numpy, every chain);
- checkpointing: the state and parameter NamedTuple types (:meth:`Kernel.restore`).

``steps_per_draw`` transitions are made per kept draw (thinning). A new kernel is a subclass in one
module and one entry in :data:`symbnn.samplers.kernels.KERNELS`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, NamedTuple

import numpy as np

__all__ = ["Kernel", "Tuned", "TuningError", "check_positive", "check_probability", "chains_note",
           "span"]

# state fields that are pytrees shaped like the position (one array per latent site)
_SITE_FIELDS = ("position", "momentum", "logdensity_grad")


class Tuned(NamedTuple):
    """One chain after warm-up (or, stacked, every chain).

    Attributes
    ----------
    state : NamedTuple
        The blackjax state.
    params : NamedTuple
        The kernel's tuned parameters.
    info : dict
        Per-chain warm-up diagnostics (scalars), read by :meth:`Kernel.report`.
    """

    state: Any
    params: Any
    info: dict


class TuningError(RuntimeError):
    """Warm-up failed in a way that makes the draws worthless; the message says what to change."""


def check_positive(name: str, value, *, integer: bool = False) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is a positive (integer) number."""
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
        what = "an integer >= 1" if integer else "a positive number"
        raise ValueError(f"{name} must be {what}, got {value!r}")


def check_probability(name: str, value) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is in the open interval (0, 1)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")


# chains named in a note before "and N more"
_NAMED_CHAINS = 5


def chains_note(mask, text: str) -> list[str]:
    """One note for the chains where ``mask`` (one bool per chain) holds, or none.

    ``"chain 3: text"`` for one chain, ``"chains 0, 3 (2 of 8): text"`` for a few and
    ``"chains 0, 1, 2, 3, 4 and 1269 more (1274 of 1274): text"`` for many, so that a run of
    thousands of chains gets one line per kind of problem, not one per chain.
    """
    chains = np.flatnonzero(np.asarray(mask, bool))
    if chains.size == 0:
        return []
    if chains.size == 1:
        return [f"chain {chains[0]}: {text}"]
    named = ", ".join(str(c) for c in chains[:_NAMED_CHAINS])
    more = f" and {chains.size - _NAMED_CHAINS} more" if chains.size > _NAMED_CHAINS else ""
    return [f"chains {named}{more} ({chains.size} of {np.size(mask)}): {text}"]


def span(values) -> str:
    """``"0.12"``, ``"0.12 to 0.45"`` (the range of several different values) or ``""`` (none)."""
    values = np.asarray(values, float)
    if values.size == 0:
        return ""
    lo, hi = np.min(values), np.max(values)
    return f"{lo:.2g}" if f"{lo:.2g}" == f"{hi:.2g}" else f"{lo:.2g} to {hi:.2g}"


@dataclasses.dataclass(frozen=True)
class Kernel:
    """Base class of the kernel configurations (see the module doc)."""

    name: ClassVar[str]
    # True: the chains are tuned together (tune_population), e.g. as the particles of SMC
    population: ClassVar[bool] = False
    # the spaces the kernel can serve (None: every space)
    spaces: ClassVar[tuple[str, ...] | None] = None
    # the blackjax state and tuned-parameter NamedTuples (properties where they come from
    # blackjax, imported on first use: importing blackjax starts jax's backend, which a
    # multi-process run must start later, in jax.distributed.initialize)
    state_type: ClassVar[type]
    params_type: ClassVar[type]

    @property
    def steps_per_draw(self) -> int:
        """Transitions per kept draw."""
        return 1

    def settings(self) -> dict:
        """The settings as a JSON-able dict (recorded in the Posterior's attrs)."""
        return dataclasses.asdict(self)

    def tune(self, rng_key, position: dict, logdensity_fn, *, num_steps: int, space) -> Tuned:
        """Warm-up of one chain from ``position`` in ``num_steps`` steps on ``space``."""
        raise NotImplementedError

    def tune_population(self, rng_key, positions: dict, bridge, *, num_steps: int,
                        space) -> Tuned:
        """Warm-up of all chains together (``population`` kernels); ``bridge`` bound to data."""
        raise NotImplementedError

    def check_tuned(self, info: dict, num_steps: int) -> None:
        """Raise :class:`TuningError` if warm-up ``info`` (every chain) shows a failed warm-up."""

    def algorithm(self, logdensity_fn, params):
        """The blackjax ``SamplingAlgorithm`` with the tuned ``params``."""
        raise NotImplementedError

    def draw_stats(self, state, info, params) -> dict:
        """Per-draw statistics of one transition, under arviz names."""
        raise NotImplementedError

    def report(self, info: dict, stats: dict) -> tuple[dict, list[str]]:
        """Posterior attrs and notes from warm-up ``info`` and ``stats`` (leading chain axis)."""
        del stats
        return {f"warmup_{k}": np.asarray(v).tolist() for k, v in info.items()}, []

    def checkpoint_keys(self, site_names) -> list[str]:
        """The entries a warm-up file must hold (``"a/b"`` paths)."""
        keys = [f"params/{f}" for f in self.params_type._fields]
        for f in self.state_type._fields:
            keys += [f"state/{f}/{s}" for s in site_names] if f in _SITE_FIELDS else [f"state/{f}"]
        return keys

    def restore(self, tree: dict) -> Tuned:
        """A :class:`Tuned` from what :func:`symbnn.samplers.checkpoint.load_tree` read."""
        return Tuned(self.restore_state(tree["state"]), self.params_type(**tree["params"]),
                     dict(tree.get("info", {})))

    def restore_state(self, tree: dict):
        """The blackjax state NamedTuple from its saved fields."""
        return self.state_type(**{f: tree[f] for f in self.state_type._fields})
