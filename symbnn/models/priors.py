"""Priors over the parameter arrays of an MLP, and which symmetries they respect.

Every prior here draws each parameter array iid from a centred Normal whose scale depends only on
the array (its name and shape). Such a prior is invariant under any transformation that only
permutes the entries of an array or flips their signs, so under the permutation and sign-flip
symmetries of hidden units; it is not invariant under positive rescaling of units (the incoming
weights grow, the outgoing ones shrink, and the Gaussian density changes) nor under logit shifts.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import jax.numpy as jnp
import numpyro.distributions as dist

from symbnn.nets import MLP
from symbnn.symmetry import KINDS
from symbnn.types import Array, Params

__all__ = ["FanInNormalPrior", "NormalPrior"]

# Which group kinds an array-wise iid centred Normal prior is invariant under (see module doc).
_IID_NORMAL_INVARIANCE = {"permutation": True, "sign": True, "scale": False, "shift": False}


def _positive_finite(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)  # numpy scalars
        except (TypeError, ValueError):
            raise TypeError(f"{what} must be a positive float, got {value!r}") from None
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{what} must be a positive finite float, got {value!r}")
    return value


def _normalise_overrides(overrides: object) -> tuple[tuple[str, float], ...]:
    if overrides is None:
        return ()
    if isinstance(overrides, Mapping):
        items = list(overrides.items())
    else:
        try:
            items = [tuple(pair) for pair in overrides]
        except TypeError:
            raise TypeError(
                f"overrides must be a mapping from site name to scale, got {overrides!r}"
            ) from None
        if any(len(pair) != 2 for pair in items):
            raise TypeError(f"overrides must be (name, scale) pairs, got {overrides!r}")
    out = {}
    for name, scale in items:
        if not isinstance(name, str):
            raise TypeError(f"overrides keys must be site names (str), got {name!r}")
        out[name] = _positive_finite(scale, f"overrides[{name!r}]")
    return tuple(sorted(out.items()))


@dataclasses.dataclass(frozen=True)
class _IIDNormalPrior:
    """Shared machinery: every array iid N(0, scale_of(mlp, name)^2)."""

    scale: float = 1.0
    overrides: tuple[tuple[str, float], ...] | Mapping[str, float] | None = dataclasses.field(
        default=None, kw_only=True
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", _positive_finite(self.scale, "scale"))
        object.__setattr__(self, "overrides", _normalise_overrides(self.overrides))

    # ------------------------------------------------------------------ scales
    def _base_scale(self, name: str) -> float:
        return dict(self.overrides).get(name, self.scale)

    def _factor(self, mlp: MLP, name: str) -> float:
        raise NotImplementedError

    def check(self, mlp: MLP) -> None:
        """Raise a ValueError if an override names an array that ``mlp`` does not have."""
        unknown = sorted(set(dict(self.overrides)) - set(mlp.param_shapes))
        if unknown:
            raise ValueError(
                f"prior overrides name unknown parameter arrays {unknown}; the network has "
                f"{list(mlp.param_shapes)}"
            )

    def scale_of(self, mlp: MLP, name: str) -> float:
        """Return the standard deviation of every entry of the array ``name``.

        Parameters
        ----------
        mlp : MLP
        name : str
            A parameter name of ``mlp`` (``"W0"``, ``"b0"``, ..., ``"WL"``, ``"bL"``).

        Returns
        -------
        float
        """
        if name not in mlp.param_shapes:
            raise ValueError(
                f"name must be a parameter of the network, one of {list(mlp.param_shapes)}; "
                f"got {name!r}"
            )
        return self._base_scale(name) * self._factor(mlp, name)

    def site_distribution(self, mlp: MLP, name: str) -> dist.Distribution:
        """Return the numpyro distribution of the array ``name`` (one event of its shape)."""
        shape = mlp.param_shapes[name]
        return dist.Normal(0.0, self.scale_of(mlp, name)).expand(shape).to_event(len(shape))

    # --------------------------------------------------------------- symmetry
    def invariant_under(self, kind: str) -> bool:
        """Whether the prior density is invariant under the symmetry ``kind``.

        Parameters
        ----------
        kind : {"permutation", "sign", "scale", "shift"}

        Returns
        -------
        bool
            True for permutations and sign flips (each array is iid and centred, whatever its
            scale), False for unit rescaling and logit shifts.
        """
        if kind not in _IID_NORMAL_INVARIANCE:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        return _IID_NORMAL_INVARIANCE[kind]

    # ----------------------------------------------------------------- density
    def log_prob(self, mlp: MLP, params: Params) -> Array:
        """Log prior density of one parameter dict (a scalar).

        Parameters
        ----------
        mlp : MLP
        params : dict
            One parameter dict in the layout of ``mlp``.

        Returns
        -------
        array, shape ()
        """
        mlp.check_params(params)
        total = jnp.zeros(())
        for name in mlp.param_shapes:
            total = total + self.site_distribution(mlp, name).log_prob(params[name])
        return total


@dataclasses.dataclass(frozen=True)
class NormalPrior(_IIDNormalPrior):
    """Every parameter iid N(0, scale^2), with optional per-array scales.

    Parameters
    ----------
    scale : float
        Standard deviation of every entry (positive).
    overrides : mapping of str to float, optional
        Per-array standard deviations by parameter name, e.g. ``{"WL": 0.1, "bL": 1.0}``. Stored
        as a sorted tuple of pairs so the prior stays hashable.

    Notes
    -----
    Invariant under permutations and sign flips of hidden units, not under rescaling or logit
    shifts (see :meth:`invariant_under`).
    """

    def _factor(self, mlp: MLP, name: str) -> float:
        return 1.0


@dataclasses.dataclass(frozen=True)
class FanInNormalPrior(_IIDNormalPrior):
    """Weights iid N(0, (scale / sqrt(fan_in))^2), biases iid N(0, scale^2).

    ``fan_in`` of a weight matrix ``W`` of shape (d_in, d_out) is ``d_in``: the number of inputs
    each unit sums over, so the prior variance of every pre-activation stays of order ``scale^2``
    whatever the width. A bias enters its unit once (fan-in 1), so its scale is not divided.

    Parameters
    ----------
    scale : float
        Base standard deviation (positive).
    overrides : mapping of str to float, optional
        Per-array base scales by parameter name; they replace ``scale`` before the division by
        ``sqrt(fan_in)``.
    """

    def _factor(self, mlp: MLP, name: str) -> float:
        shape = mlp.param_shapes[name]
        if len(shape) == 2:
            return 1.0 / math.sqrt(shape[0])
        return 1.0
