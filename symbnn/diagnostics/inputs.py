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
    dropped_chains: tuple[int, ...] = ()

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
        have = ", ".join(f"{k} {np.shape(v)[2:]}" for k, v in draws.items()) or "none"
        raise ValueError(
            f"{name} lacks the network sites {missing}. Expected per-draw shapes: "
            f"{_expected(mlp)}; the draws have: {have}. symbnn names the weights of layer l "
            "W{l} (the output layer WL) with x @ W, biases b{l}/bL; map other names with "
            "names={'w1': 'W0', ...} (and MLP(..., use_bias=False) for nets without biases)")
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
    return params, extras


def _bad_chains(sites: Mapping[str, np.ndarray]) -> np.ndarray:
    """Indices of the chains with a NaN or inf in any site."""
    bad = [(~np.isfinite(np.asarray(v, float).reshape(*v.shape[:2], -1))).any(axis=(1, 2))
           for v in sites.values()]
    return np.flatnonzero(np.any(bad, axis=0))


def _check_finite(name: str, sites: Mapping[str, np.ndarray]) -> None:
    """Refuse NaN or inf, naming the site, the number of bad draws and their chains."""
    for key, value in sites.items():
        bad = ~np.isfinite(np.asarray(value, float).reshape(*value.shape[:2], -1)).all(-1)
        if bad.any():
            chains = np.flatnonzero(bad.any(1)).tolist()
            raise ValueError(
                f"{name}: {int(bad.sum())} draws of site {key!r} hold NaN or inf (chains "
                f"{chains}); diagnostics of such draws would be NaN or silently wrong. Drop "
                "those chains (e.g. failed runs) first, or pass drop_nonfinite=True")


def rename(draws: Mapping, names) -> dict:
    """The draws with their sites renamed by a dict (unmapped names kept) or a callable."""
    if callable(names):
        new = {k: names(k) for k in draws}
    elif isinstance(names, Mapping):
        unknown = sorted(set(names) - set(draws))
        if unknown:
            raise ValueError(f"names maps sites {unknown} that the draws do not have "
                             f"(they have {sorted(draws)})")
        new = {k: names.get(k, k) for k in draws}
    else:
        raise TypeError(f"names must be a dict or a callable, got {type(names).__name__}")
    if len(set(new.values())) != len(new):
        raise ValueError(f"names maps two sites to one name: {new}")
    return {new[k]: v for k, v in draws.items()}


def _dataset_dict(ds) -> dict:
    """(chain, draw, ...) numpy arrays of an xarray Dataset's variables."""
    out = {}
    for key, var in ds.data_vars.items():
        if var.dims[:2] != ("chain", "draw"):
            if not {"chain", "draw"} <= set(var.dims):
                raise ValueError(f"variable {key!r} has dims {var.dims}, without chain and draw")
            var = var.transpose("chain", "draw", ...)
        out[str(key)] = np.asarray(var.values)
    return out


def _from_xarray(posterior, sample_stats):
    """A DataTree's posterior (and sample_stats) or a Dataset as dicts; anything else as is."""
    import xarray as xr

    if isinstance(posterior, xr.DataTree):
        if "posterior" not in posterior.children:
            raise ValueError(f"the DataTree has no posterior group (groups: "
                             f"{sorted(posterior.children)})")
        if sample_stats is None and "sample_stats" in posterior.children:
            sample_stats = _dataset_dict(posterior["sample_stats"].to_dataset())
        return _dataset_dict(posterior["posterior"].to_dataset()), sample_stats
    if isinstance(posterior, xr.Dataset):
        return _dataset_dict(posterior), sample_stats
    return posterior, sample_stats


def as_draws(
    posterior, *, mlp: MLP | None = None, group: Group | None = None,
    sample_stats: Mapping | None = None, name: str = "posterior", extra_sites=(),
    names=None, drop_nonfinite: bool = False,
) -> Draws:
    """Turn a posterior result object or a dict of draws into :class:`Draws`.

    Parameters
    ----------
    posterior : result object, dict, DataTree or Dataset
        An object with ``.mlp`` and ``.draws`` (and optionally ``.params``, ``.sample_stats``,
        ``.group``, ``.log_likelihood``), a dict of (chain, draw, ...) arrays, an arviz
        DataTree (its ``posterior`` and ``sample_stats`` groups, e.g. from
        ``arviz.from_numpyro``) or an ``xarray.Dataset`` with ``chain`` and ``draw`` dims.
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
    names : dict or callable, optional
        Site names of a model that symbnn did not write, mapped to symbnn's (``{"w1": "W0",
        "w2": "W1", "w3": "WL"}``, or a function of the name returning the new one).
    drop_nonfinite : bool
        Drop the chains that hold NaN or inf (recorded in ``Draws.dropped_chains``) instead of
        refusing them; a chain's draws stay contiguous, as R-hat and ESS need.
    """
    ll_fn = None
    posterior, sample_stats = _from_xarray(posterior, sample_stats)
    if names is not None:
        if not isinstance(posterior, Mapping):
            raise TypeError(f"names= renames the sites of a dict of draws, a DataTree or a "
                            f"Dataset, not of a {type(posterior).__name__}")
        posterior = rename(posterior, names)
    if isinstance(posterior, Mapping):
        if mlp is None:
            raise TypeError(f"{name} is a dict of draws, so mlp=... (a symbnn.MLP) is required")
        if not isinstance(mlp, MLP):
            raise TypeError(f"mlp must be a symbnn.MLP, got {type(mlp).__name__}")
        params, extras = _split(posterior, mlp, name, extra_sites)
        stats = {}
    elif hasattr(posterior, "draws"):
        try:
            posterior_mlp = posterior.mlp
        except AttributeError as err:
            raise TypeError(
                f"{name} has no MLP spec ({err}); for a model symbnn did not write, pass its "
                f"draws as a dict with mlp=MLP(...) and names={...}") from None
        if mlp is not None and mlp != posterior_mlp:
            raise ValueError(f"mlp={mlp} disagrees with {name}.mlp={posterior_mlp}")
        mlp = posterior_mlp
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
    dropped = ()
    if drop_nonfinite:
        bad = _bad_chains({**params, **extras})
        if len(bad) == shape[0]:
            raise ValueError(f"{name}: every chain holds NaN or inf; nothing is left to diagnose")
        keep = np.setdiff1d(np.arange(shape[0]), bad)
        params, extras, stats = ({k: v[keep] for k, v in d.items()}
                                 for d in (params, extras, stats))
        dropped = tuple(int(c) for c in bad)
        ll_fn = None if ll_fn is None or not dropped else _keep_chains(ll_fn, keep)
    else:
        _check_finite(name, {**params, **extras})
    return Draws(mlp, group, params, extras, stats, ll_fn, dropped)


def _keep_chains(ll_fn: Callable, keep: np.ndarray) -> Callable:
    return lambda x, y: np.asarray(ll_fn(x, y))[keep]


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
