"""What users pass to the diagnostics (a posterior object or a dict of draws), as arrays.

Every public diagnostic accepts either a result object with ``.mlp``, ``.draws``, ``.params``,
``.sample_stats`` (and optionally ``.group``, ``.log_likelihood``), or a ``dict`` of draws with
leading (chain, draw) axes together with ``mlp=...``. :func:`as_draws` turns both into
:class:`Draws`; the group operations over draws come from :mod:`symbnn.symmetry.batched`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import numpy as np

from symbnn.models.likelihoods import predict_draws
from symbnn.nets import MLP
from symbnn.symmetry import Group, batched, symmetry_of

__all__ = [
    "Draws",
    "aligned",
    "as_draws",
    "canonical",
    "default_group",
    "flatten_params",
    "predictions",
]

_DIVERGING_KEYS = ("diverging", "is_divergent")


@dataclasses.dataclass(frozen=True)
class Draws:
    """Draws of one posterior as numpy arrays with leading (chain, draw) axes.

    Attributes
    ----------
    mlp : MLP
    group : Group
        The group used to remove the symmetry.
    params : dict of ndarray
        The network parameters, ``(chain, draw, *shape)``.
    extras : dict of ndarray
        Every other site (e.g. ``"sigma"``), carried along untouched.
    sample_stats : dict of ndarray
        Sampler statistics with (chain, draw) axes (may be empty).
    log_likelihood_fn : callable or None
        ``(x, y) -> (chain, draw, n)`` when the source provides it.
    """

    mlp: MLP
    group: Group
    params: dict[str, np.ndarray]
    extras: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray]
    log_likelihood_fn: Callable | None = None

    @property
    def num_chains(self) -> int:
        """Number of chains."""
        return next(iter(self.params.values())).shape[0]

    @property
    def num_draws(self) -> int:
        """Number of draws per chain."""
        return next(iter(self.params.values())).shape[1]

    def diverging(self) -> np.ndarray | None:
        """(chain, draw) bool array of divergences, or None if the sampler did not report them."""
        for k in _DIVERGING_KEYS:
            if k in self.sample_stats:
                return np.asarray(self.sample_stats[k]).astype(bool)
        return None


def default_group(mlp: MLP) -> Group:
    """The finite symmetry group of ``mlp``: permutations, and sign flips for odd activations."""
    return symmetry_of(mlp, finite=True)


def _leading(name: str, key: str, value, shape: tuple[int, int] | None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim < 2:
        raise ValueError(
            f"{name}[{key!r}] must have leading (chain, draw) axes, got shape {arr.shape}"
        )
    if shape is not None and arr.shape[:2] != shape:
        raise ValueError(
            f"{name}[{key!r}] must have leading (chain, draw) axes {shape} like the other "
            f"entries, got shape {arr.shape}"
        )
    return arr


def _expected(mlp: MLP) -> str:
    return ", ".join(f"{k} {s}" for k, s in mlp.param_shapes.items())


def _split(draws: Mapping, mlp: MLP, name: str, extra_sites=()):
    params = {k: draws[k] for k in mlp.param_names if k in draws}
    missing = [k for k in mlp.param_names if k not in draws]
    if missing:
        raise ValueError(f"{name} must hold every network parameter {mlp.param_names}; "
                         f"missing {missing}")
    try:
        mlp.check_params(dict(params), batch_ndim=2)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None
    params = {k: np.asarray(v) for k, v in params.items()}
    shape = next(iter(params.values())).shape[:2]
    extras = {k: _leading(name, k, v, shape) for k, v in draws.items() if k not in params}
    for key, value in extras.items():
        if value.ndim - 2 >= 2 and key not in extra_sites:
            raise ValueError(
                f"{name}: site {key!r} with per-draw shape {value.shape[2:]} looks like a weight "
                f"matrix, but the MLP {mlp.sizes} expects only {_expected(mlp)}; the spec may "
                f"have a layer too few. Fix the MLP, or pass extra_sites=({key!r},) to carry it "
                "as a site outside the network")
    _check_finite(name, {**params, **extras})
    return params, extras


def _check_finite(name: str, sites: Mapping[str, np.ndarray]) -> None:
    """Refuse NaN or inf, naming the site, the number of bad draws and their chains."""
    for key, value in sites.items():
        bad = ~np.isfinite(np.asarray(value, float).reshape(*value.shape[:2], -1)).all(-1)
        if bad.any():
            chains = np.flatnonzero(bad.any(1)).tolist()
            raise ValueError(
                f"{name}: {int(bad.sum())} draws of site {key!r} hold NaN or inf (chains "
                f"{chains}); diagnostics of such draws would be NaN or silently wrong. Drop "
                "those chains or draws (e.g. divergent or failed runs) before diagnosing")


def as_draws(
    posterior, *, mlp: MLP | None = None, group: Group | None = None,
    sample_stats: Mapping | None = None, name: str = "posterior", extra_sites=(),
) -> Draws:
    """Turn a posterior result object or a dict of draws into :class:`Draws`.

    Parameters
    ----------
    posterior : result object or dict
        An object with ``.mlp`` and ``.draws`` (and optionally ``.params``, ``.sample_stats``,
        ``.group``, ``.log_likelihood``), or a dict of (chain, draw, ...) arrays.
    mlp : MLP, optional
        Required with a dict; with an object it must agree with ``posterior.mlp``.
    group : Group, optional
        Defaults to the object's ``.group``, else :func:`default_group`.
    sample_stats : dict, optional
        Sampler statistics for a dict of draws (overrides the object's).
    name : str
        The argument name used in error messages.
    extra_sites : sequence of str
        Sites with two or more per-draw axes to accept as non-network sites (refused by default:
        such a site is usually a weight of a network whose MLP spec is missing a layer).
    """
    ll_fn = None
    if isinstance(posterior, Mapping):
        if mlp is None:
            raise TypeError(f"{name} is a dict of draws, so mlp=... (a symbnn.MLP) is required")
        if not isinstance(mlp, MLP):
            raise TypeError(f"mlp must be a symbnn.MLP, got {type(mlp).__name__}")
        params, extras = _split(posterior, mlp, name, extra_sites)
        stats = {}
    elif hasattr(posterior, "draws") and hasattr(posterior, "mlp"):
        if mlp is not None and mlp != posterior.mlp:
            raise ValueError(f"mlp={mlp} disagrees with {name}.mlp={posterior.mlp}")
        mlp = posterior.mlp
        merged = dict(posterior.draws)
        merged.update(getattr(posterior, "params", None) or {})
        params, extras = _split(merged, mlp, name, extra_sites)
        stats = dict(getattr(posterior, "sample_stats", None) or {})
        group = group if group is not None else getattr(posterior, "group", None)
        ll_fn = getattr(posterior, "log_likelihood", None)
    else:
        raise TypeError(
            f"{name} must be a posterior result (with .mlp and .draws) or a dict of "
            f"(chain, draw, ...) arrays, got {type(posterior).__name__}"
        )
    if sample_stats is not None:
        stats = dict(sample_stats)
    shape = next(iter(params.values())).shape[:2]
    stats = {k: _leading("sample_stats", k, v, shape) for k, v in stats.items()}
    if group is None:
        group = default_group(mlp)
    elif not isinstance(group, Group):
        raise TypeError(f"group must be a symbnn Group, got {type(group).__name__}")
    elif group.spec.mlp != mlp:
        raise ValueError(f"group acts on {group.spec.mlp}, but the draws are for {mlp}")
    return Draws(mlp, group, params, extras, stats, ll_fn)


def flatten_params(mlp: MLP, params: Mapping[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """Stack (chain, draw, ...) parameters into (chain, draw, num_params) with scalar names."""
    cols, names = [], []
    for k in mlp.param_names:
        v = np.asarray(params[k])
        cols.append(v.reshape(*v.shape[:2], -1))
        names += [f"{k}[{','.join(map(str, i))}]" for i in np.ndindex(*v.shape[2:])]
    return np.concatenate(cols, axis=-1), names


def canonical(draws: Draws):
    """Hard canonical form of every draw: (params, group elements), both with (chain, draw) axes.

    The group's functions are rebuilt from its (hashable) spec so that one compiled function
    serves every call with the same spec and draw count.
    """
    return batched.canonicalize(draws.group.spec, draws.params)


def aligned(draws: Draws, reference: Mapping, *, max_sweeps: int = 10):
    """Soft canonical form: every draw aligned to ``reference`` (one parameter dict)."""
    if not isinstance(reference, Mapping):
        raise TypeError(f"reference must be a dict of parameters, got {type(reference).__name__}")
    try:  # other sites (e.g. "sigma") may come along; the group does not act on them
        draws.mlp.check_params({k: reference[k] for k in draws.mlp.param_names if k in reference})
    except ValueError as err:
        raise ValueError(f"reference: {err}") from None
    ref = {k: reference[k] for k in draws.mlp.param_names}
    return batched.align(draws.group.spec, draws.params, ref, max_sweeps=max_sweeps)


def predictions(draws: Draws, x) -> np.ndarray:
    """Network outputs at ``x`` for every draw: (chain, draw, n, out).

    Regression means, or class probabilities (softmax; sigmoid for one output) for
    classification, so that the values are free of every parameter-space symmetry.
    """
    x = np.asarray(x)
    mlp = draws.mlp
    if x.ndim != 2 or x.shape[1] != mlp.in_features:
        raise ValueError(f"x must have shape (n, {mlp.in_features}), got {x.shape}")
    return predict_draws(mlp, draws.params, x)
