"""W-asymmetric networks: symmetry removal by architecture.

Lim, Putterman, Walters, Maron and Jegelka (2024), "The Empirical Impact of Neural Parameter
Symmetries, or Lack Thereof" (NeurIPS), break the permutation symmetry of hidden units by fixing a
few incoming weights of every unit to constants that are not trained, with a different set of
fixed positions (and values) for every unit. Permuting two units would move their fixed entries,
so the permuted parameters describe a different network of the same architecture; flipping the sign
or rescaling a unit would change its fixed values, so those symmetries are broken as well.

Here the pattern of hidden layer ``l`` lives in ``W{l}`` (shape (fan_in, h_l); unit ``j`` is
column ``j``): each unit gets ``k_l = min(num_fixed, max(1, fan_in - 1))`` fixed rows, so every
unit keeps a trainable incoming weight unless ``fan_in == 1``, in which case the whole ``W0`` is
fixed (random features). Positions are distinct subsets across units whenever
``C(fan_in, k_l) >= h_l``; otherwise some units share positions but not values, which still breaks
the symmetry for almost every choice of values. Values are drawn from N(0, value_scale^2) (by
default the prior scale of that array). Everything is drawn from a NumPy generator seeded with
``seed``: the pattern is part of the (static) model.

This changes the model, i.e. the prior over functions, unlike the full and constrained
parameterisations, which describe the same posterior over functions.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math

import jax.numpy as jnp
import numpy as np

from symbnn.nets import MLP
from symbnn.types import Params

__all__ = ["WAsymmetric", "apply_pattern", "pattern"]

_MAX_ENUMERATE = 20_000  # enumerate all position subsets below this count, else draw and reject


@dataclasses.dataclass(frozen=True)
class WAsymmetric:
    """Configuration of the fixed weights of a W-asymmetric network.

    Parameters
    ----------
    num_fixed : int
        Fixed incoming weights per hidden unit (capped at ``max(1, fan_in - 1)``).
    value_scale : float, optional
        Standard deviation of the fixed values; ``None`` uses the prior scale of each matrix.
    seed : int
        Seed of the NumPy generator that draws positions and values.
    """

    num_fixed: int = 2
    value_scale: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.num_fixed, bool) or not isinstance(self.num_fixed, int | np.integer):
            raise TypeError(f"num_fixed must be a positive int, got {self.num_fixed!r}")
        if self.num_fixed < 1:
            raise ValueError(f"num_fixed must be a positive int, got {self.num_fixed!r}")
        if self.value_scale is not None and not (
            math.isfinite(self.value_scale) and self.value_scale > 0
        ):
            raise ValueError(f"value_scale must be None or positive, got {self.value_scale!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer):
            raise TypeError(f"seed must be an int, got {self.seed!r}")
        object.__setattr__(self, "num_fixed", int(self.num_fixed))
        object.__setattr__(self, "seed", int(self.seed))

    def num_fixed_of(self, fan_in: int) -> int:
        """Return how many incoming weights per unit are fixed in a layer with ``fan_in`` inputs."""
        return min(self.num_fixed, max(1, fan_in - 1))


def _positions(rng: np.random.Generator, fan_in: int, width: int, k: int) -> np.ndarray:
    """(width, k) row indices; rows distinct across units whenever enough subsets exist."""
    total = math.comb(fan_in, k)
    if total <= _MAX_ENUMERATE:
        subsets = np.array(list(itertools.combinations(range(fan_in), k)))
        picks = rng.permutation(total)[:width]
        if width > total:  # not enough distinct subsets: reuse some (values still differ)
            picks = np.concatenate([picks, rng.integers(0, total, width - total)])
        return subsets[picks]
    seen: set[tuple[int, ...]] = set()
    rows = []
    while len(rows) < width:
        subset = tuple(sorted(rng.choice(fan_in, size=k, replace=False).tolist()))
        if subset not in seen:
            seen.add(subset)
            rows.append(subset)
    return np.array(rows)


@functools.cache
def pattern(mlp: MLP, config: WAsymmetric, scales: tuple[float, ...]) -> dict:
    """Draw the fixed entries of every hidden weight matrix (cached per configuration).

    Parameters
    ----------
    mlp : MLP
    config : WAsymmetric
    scales : tuple of float
        Default value scale per hidden layer (the prior scale of ``W{l}``), used when
        ``config.value_scale`` is None.

    Returns
    -------
    dict
        ``{"W{l}": (mask, values)}`` with boolean ``mask`` and float ``values`` as NumPy arrays of
        the shape of ``W{l}``; ``values`` is zero where ``mask`` is False.
    """
    rng = np.random.default_rng(config.seed)
    out = {}
    for layer, width in enumerate(mlp.widths):
        name = mlp.weight_name(layer)
        fan_in = mlp.sizes[layer]
        k = config.num_fixed_of(fan_in)
        rows = _positions(rng, fan_in, width, k)
        mask = np.zeros((fan_in, width), dtype=bool)
        mask[rows, np.arange(width)[:, None]] = True
        scale = config.value_scale if config.value_scale is not None else scales[layer]
        values = np.where(mask, scale * rng.standard_normal((fan_in, width)), 0.0)
        mask.setflags(write=False)
        values.setflags(write=False)
        out[name] = (mask, values)
    return out


def apply_pattern(params: Params, fixed: dict) -> Params:
    """Overwrite the fixed entries of ``params`` (works with leading batch axes too)."""
    p = dict(params)
    for name, (mask, values) in fixed.items():
        w = p[name]
        p[name] = jnp.where(mask, jnp.asarray(values, dtype=w.dtype), w)
    return p
