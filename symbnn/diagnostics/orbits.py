"""Orbit consistency checks: invariance of the model, and uniform occupancy of orbit members.

- :func:`check_invariance`: the log density (and the network output) must not change when a random
  group element acts on the parameters. A failure points at the model or prior, not the sampler.
- :func:`orbit_occupancy`: a full-space sampler that has mixed visits every member of an orbit
  equally often, so the group element that canonicalises each draw is uniform on the group. Two
  consequences are tested with chi-square tests, per chain and pooled: each hidden unit's sign is
  fair (odd activations), and the original index of the unit with the largest key (the unit the
  hard canonical form puts last) is uniform over the layer.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping

import arviz_stats
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import scipy.stats

from symbnn.diagnostics import inputs
from symbnn.nets import MLP
from symbnn.symmetry import Group
from symbnn.types import Params, PRNGKey

__all__ = ["InvarianceResult", "OccupancyResult", "check_invariance", "orbit_occupancy"]


@dataclasses.dataclass(frozen=True)
class InvarianceResult:
    """Result of :func:`check_invariance`.

    Attributes
    ----------
    passed : bool
        Whether every deviation is within ``atol + rtol * |reference value|``.
    max_log_density_deviation : float or None
        Largest ``|log p(g.theta) - log p(theta)|`` over the elements (None without a model).
    max_output_deviation : float or None
        Largest absolute change of the network output at ``x`` (None without ``x``).
    log_density_deviations : ndarray or None
        Per element.
    output_deviations : ndarray or None
        Per element (max over inputs and outputs).
    num_elements : int
    """

    passed: bool
    max_log_density_deviation: float | None
    max_output_deviation: float | None
    log_density_deviations: np.ndarray | None
    output_deviations: np.ndarray | None
    num_elements: int


def _log_density_fn(model, model_args, model_kwargs) -> Callable[[Params], jax.Array]:
    from numpyro.infer.util import log_density

    def fn(values):
        return log_density(model, model_args, model_kwargs, values)[0]

    return fn


def check_invariance(
    rng_key: PRNGKey, model, params: Mapping, group: Group, *, model_args: tuple = (),
    model_kwargs: Mapping | None = None, log_density_fn: Callable | None = None, x=None,
    num_elements: int = 16, rtol: float = 1e-4, atol: float = 1e-4,
) -> InvarianceResult:
    """Check that the log density and the network output are invariant under ``group``.

    Parameters
    ----------
    rng_key : jax.Array
        Key for drawing the group elements.
    model : callable or None
        A numpyro model, evaluated with ``numpyro.infer.util.log_density(model, model_args,
        model_kwargs, values)``; its latent sites must be the keys of ``params``.
    params : dict
        One draw: the network parameters (layout of ``group.spec.mlp``) and any other site
        values (e.g. ``"sigma"``), which the group leaves untouched.
    group : Group
    model_args, model_kwargs
        Arguments of the model (e.g. ``(x_train,)`` and ``{"y": y_train}``).
    log_density_fn : callable, optional
        Instead of ``model``: a JAX function of the site-value dict returning the log density
        (it is vmapped over the group elements).
    x : array (n, in_features), optional
        Inputs at which to compare the network output.
    num_elements : int
        Number of random group elements.
    rtol, atol : float
        Tolerances of ``passed`` (relative to the value at ``params``).

    Returns
    -------
    InvarianceResult
    """
    if not isinstance(group, Group):
        raise TypeError(f"group must be a symbnn Group, got {type(group).__name__}")
    if num_elements < 1:
        raise ValueError(f"num_elements must be >= 1, got {num_elements}")
    if model is not None and log_density_fn is not None:
        raise ValueError("pass either model or log_density_fn, not both")
    if model is None and log_density_fn is None and x is None:
        raise ValueError("nothing to check: pass model (or log_density_fn) and/or x")
    mlp: MLP = group.spec.mlp
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict, got {type(params).__name__}")
    net = {k: jnp.asarray(params[k]) for k in mlp.param_names if k in params}
    try:
        mlp.check_params(net)
    except ValueError as err:
        raise ValueError(f"params: {err}") from None
    others = {k: jnp.asarray(v) for k, v in params.items() if k not in net}
    moved = jax.jit(jax.vmap(lambda k, p: group.act(group.sample(k), p), in_axes=(0, None)))(
        jax.random.split(rng_key, num_elements), net)
    passed = True
    ld_dev = out_dev = None
    if model is not None or log_density_fn is not None:
        fn = log_density_fn or _log_density_fn(model, model_args, model_kwargs or {})
        batch = {**net, **others}
        batch = {k: jnp.concatenate([v[None], moved[k]]) if k in net
                 else jnp.broadcast_to(v, (num_elements + 1, *v.shape)) for k, v in batch.items()}
        vals = np.asarray(jax.jit(jax.vmap(fn))(batch), dtype=float)
        base, vals = float(vals[0]), vals[1:]
        ld_dev = np.abs(vals - base)
        passed &= bool(np.all(ld_dev <= atol + rtol * abs(base)))
    if x is not None:
        x = jnp.asarray(x)
        ref = mlp.apply(net, x)
        outs = jax.jit(jax.vmap(mlp.apply, in_axes=(0, None)))(moved, x)
        out_dev = np.asarray(jnp.max(jnp.abs(outs - ref).reshape(num_elements, -1), axis=1))
        scale = float(jnp.max(jnp.abs(ref)))
        passed &= bool(np.all(out_dev <= atol + rtol * scale))
    return InvarianceResult(
        passed=passed,
        max_log_density_deviation=None if ld_dev is None else float(ld_dev.max()),
        max_output_deviation=None if out_dev is None else float(out_dev.max()),
        log_density_deviations=ld_dev,
        output_deviations=out_dev,
        num_elements=num_elements,
    )


@dataclasses.dataclass(frozen=True)
class OccupancyResult:
    """Result of :func:`orbit_occupancy`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per test: ``layer``, ``kind`` (``"sign"`` or ``"permutation"``), ``chain``
        (an int, or ``"pooled"``), ``statistic``, ``dof``, ``p_value``, ``num_effective``.
    chain_p_values : ndarray (num_chains,)
        Per chain, the Bonferroni combination of its tests (min p times number of tests, at
        most 1).
    pooled_p_value : float
        The same for the pooled tests.
    flip_frequency : tuple of ndarray
        Per hidden layer, (num_chains, h_l): fraction of draws in which each unit is flipped
        by the canonicalising element (NaN without sign flips).
    top_index_counts : tuple of ndarray
        Per hidden layer, (num_chains, h_l): how often each original unit has the largest key.
    """

    table: pd.DataFrame
    chain_p_values: np.ndarray
    pooled_p_value: float
    flip_frequency: tuple[np.ndarray, ...]
    top_index_counts: tuple[np.ndarray, ...]

    @property
    def p_value(self) -> float:
        """The pooled test and every chain's test in one p-value.

        Bonferroni: the smallest p-value times their number, at most 1, so that :meth:`rejects`
        has level ``level`` however many chains there are (each test at 0.01 would reject a
        sampler that is right in 1 - 0.99^5 = 5 % of 4-chain runs and in nearly all 1274-chain
        runs).
        """
        ps = np.concatenate([[self.pooled_p_value], np.asarray(self.chain_p_values, float)])
        return float(min(1.0, np.min(ps) * ps.size))

    def rejects(self, level: float = 0.01) -> bool:
        """Whether uniform occupancy is rejected at ``level``: :attr:`p_value` < ``level``."""
        return bool(self.p_value < level)


def _effective_factor(indicators: np.ndarray) -> float:
    """Ratio ESS / N for (chain, draw, k) indicators, mean over non-constant columns, at most 1.

    Autocorrelated draws carry less information than their number; scaling the chi-square
    statistic by this ratio treats them as that many independent draws. ESS above N (antithetic
    chains) would inflate the statistic, so the ratio is capped at 1. Constant columns have no
    ESS; if every column is constant the ratio is 1 (nothing moved: the counts stand as they are).
    """
    n = indicators.shape[0] * indicators.shape[1]
    varying = indicators.reshape(n, -1).std(0) > 0
    if not varying.any():
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ess = np.atleast_1d(arviz_stats.ess(indicators[..., varying].astype(float),
                                            method="bulk"))
    ess = ess[np.isfinite(ess)]
    return 1.0 if ess.size == 0 else float(min(1.0, ess.mean() / n))


def _sign_test(flips: np.ndarray, adjust: bool) -> tuple[float, int, float]:
    # flips: (chain, draw, h) in {0, 1}; per unit a two-cell chi-square, summed over units.
    n = flips.shape[0] * flips.shape[1]
    factor = _effective_factor(flips) if adjust else 1.0
    p_hat = flips.reshape(n, -1).mean(0)
    stat = float(np.sum(4.0 * n * factor * (p_hat - 0.5) ** 2))
    return stat, flips.shape[-1], factor * n


def _top_test(top: np.ndarray, h: int, adjust: bool) -> tuple[float, int, float]:
    # top: (chain, draw) indices; an h-cell chi-square on their frequencies.
    onehot = (top[..., None] == np.arange(h)).astype(float)
    n = top.size
    factor = _effective_factor(onehot) if adjust else 1.0
    freq = onehot.reshape(n, h).mean(0)
    stat = float(n * factor * h * np.sum((freq - 1.0 / h) ** 2))
    return stat, h - 1, factor * n


def orbit_occupancy(
    posterior, *, mlp: MLP | None = None, group: Group | None = None,
    adjust_for_autocorrelation: bool = True, extra_sites=(), names=None,
) -> OccupancyResult:
    """Test that the canonicalising group element is uniform across draws.

    Parameters
    ----------
    posterior : result object or dict
        Full-space draws with (chain, draw) axes (a dict needs ``mlp``).
    group : Group, optional
        Default: permutations, with sign flips for odd activations.
    mlp : MLP, optional
    adjust_for_autocorrelation : bool
        Scale each chi-square statistic by ESS / N of the tested indicators (arviz bulk ESS), so
        that autocorrelated chains are not rejected for autocorrelation alone. Independent
        draws are nearly unaffected.
    extra_sites : sequence of str
        Sites with two or more per-draw axes to accept outside the network (see
        :func:`symbnn.diagnostics.inputs.as_draws`).
    names : dict or callable, optional
        Site names of a model symbnn did not write mapped to symbnn's (``{"w1": "W0", ...}``).

    Returns
    -------
    OccupancyResult
        A chain stuck in one orbit member never flips its units and always has the same unit
        on top, so its p-values are tiny.
    """
    draws = inputs.as_draws(posterior, mlp=mlp, group=group, name="posterior",
                            extra_sites=extra_sites, names=names)
    spec = draws.group.spec
    if not (spec.permute or spec.flip):
        raise ValueError("orbit_occupancy needs a group with permutations or sign flips, got "
                         f"{spec.kinds}")
    _, g = inputs.canonical(draws)
    rows, flip_freq, top_counts = [], [], []
    for layer, h in enumerate(draws.mlp.widths):
        perm = np.asarray(g.perm[layer])
        # Sign applied to each ORIGINAL unit: new unit j is old unit perm[j] times sign[j].
        inv = np.argsort(perm, axis=-1)
        old_sign = np.take_along_axis(np.asarray(g.sign[layer]), inv, axis=-1)
        flips = (old_sign < 0).astype(float)
        top = perm[..., -1]
        flip_freq.append(flips.mean(1) if spec.flip else np.full(flips.shape[::2], np.nan))
        top_counts.append((top[..., None] == np.arange(h)).sum(1))
        chains = [(c, slice(c, c + 1)) for c in range(draws.num_chains)]
        for chain, sl in [*chains, ("pooled", slice(None))]:
            tests = []
            if spec.flip:
                tests.append(("sign", _sign_test(flips[sl], adjust_for_autocorrelation)))
            if spec.permute and h > 1:
                tests.append(("permutation", _top_test(top[sl], h, adjust_for_autocorrelation)))
            for kind, (stat, dof, n_eff) in tests:
                rows.append({"layer": layer, "kind": kind, "chain": chain, "statistic": stat,
                             "dof": dof, "p_value": float(scipy.stats.chi2.sf(stat, dof)),
                             "num_effective": n_eff})
    table = pd.DataFrame(rows)
    if table.empty:
        raise ValueError("orbit_occupancy: the network has no hidden unit the group can move")

    def combined(sel) -> float:
        p = table.loc[sel, "p_value"].to_numpy()
        return float(min(1.0, p.min() * p.size))

    is_pooled = table["chain"].astype(str) == "pooled"
    chain_p = np.array([combined(~is_pooled & (table["chain"].astype(str) == str(c)))
                        for c in range(draws.num_chains)])
    return OccupancyResult(table, chain_p, combined(is_pooled), tuple(flip_freq),
                           tuple(top_counts))
