"""Convergence after symmetry removal: R-hat and ESS on raw, canonical, aligned, predictive draws.

Raw R-hat of BNN weights is meaningless when chains sit in different members of the same orbit.
Mapping every draw to a canonical representative (hard canonical form, or alignment to one reference
draw) removes that disagreement; predictions at fixed inputs are free of the symmetry by
construction. Comparing the rows tells apart "chains disagree only by symmetry" from "chains sit in
functionally different modes". R-hat (rank-normalised, split) and bulk/tail ESS come from
arviz-stats (Vehtari et al. 2021, Bayesian Analysis 16(2)).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping

import arviz_stats
import numpy as np
import pandas as pd

from symbnn.diagnostics import inputs
from symbnn.nets import MLP
from symbnn.symmetry import Group

__all__ = [
    "VERDICT_CONVERGED",
    "VERDICT_MODES",
    "VERDICT_SYMMETRY",
    "VERDICT_UNRESOLVED",
    "Summary",
    "convergence_stats",
    "orbit_members_visited",
    "summary",
]

VERDICT_CONVERGED = "converged"
ONE_CHAIN = "(within one chain)"
VERDICT_SYMMETRY = "chains disagree only by symmetry"
VERDICT_MODES = "chains sit in functionally different modes"
VERDICT_UNRESOLVED = (
    "chains disagree beyond the symmetry (pass x to tell whether they differ functionally)"
)
_TAIL_PROBS = (0.05, 0.95)  # tail-ESS quantiles of Vehtari et al. (2021)


@dataclasses.dataclass(frozen=True)
class Summary:
    """Result of :func:`summary`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per view (``raw``, ``canonical``, ``aligned``, ``predictive``) and one per extra
        site (e.g. ``sigma``); columns ``max_rhat``, ``min_ess_bulk``, ``min_ess_tail``,
        ``num_values`` and ``worst`` (the value with the largest R-hat). NaN where a view was not
        computed (``predictive`` without ``x``).
    verdict : str
        One of :data:`VERDICT_CONVERGED`, :data:`VERDICT_SYMMETRY`, :data:`VERDICT_MODES`,
        :data:`VERDICT_UNRESOLVED`.
    num_divergences : int or None
        Total divergent transitions (None if the sampler did not report them).
    divergences_per_chain : ndarray or None
    bfmi : ndarray or None
        E-BFMI per chain (None without an ``energy`` statistic).
    orbit_members_visited : ndarray
        Per chain, the number of distinct group elements that canonicalise its draws.
    rhat_threshold : float
    notes : tuple of str
    """

    table: pd.DataFrame
    verdict: str
    num_divergences: int | None
    divergences_per_chain: np.ndarray | None
    bfmi: np.ndarray | None
    orbit_members_visited: np.ndarray
    rhat_threshold: float
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        fmt = {"max_rhat": "{:.3f}".format, "min_ess_bulk": "{:.0f}".format,
               "min_ess_tail": "{:.0f}".format}
        with pd.option_context("display.width", 120, "display.max_columns", 10):
            text = self.table.to_string(formatters=fmt)
        lines = [f"verdict: {self.verdict} (R-hat threshold {self.rhat_threshold})", text]
        div = "n/a" if self.num_divergences is None else str(self.num_divergences)
        lines.append(f"divergences: {div}")
        if self.bfmi is not None:
            lines.append("E-BFMI per chain: " + " ".join(f"{b:.2f}" for b in self.bfmi))
        lines.append("orbit members visited per chain: "
                     + " ".join(str(int(m)) for m in self.orbit_members_visited))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def convergence_stats(values: np.ndarray, names: list[str] | None = None) -> dict:
    """Max R-hat, min bulk and tail ESS over the trailing values of a (chain, draw, k) array.

    Values without a defined R-hat (constant ones) are skipped in the maxima and counted in
    ``num_undefined``.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 2:
        values = values[..., None]
    values = values.reshape(*values.shape[:2], -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rhat = np.atleast_1d(arviz_stats.rhat(_as_two_chains(values)))
        bulk = np.atleast_1d(arviz_stats.ess(values, method="bulk"))
        tail = np.atleast_1d(arviz_stats.ess(values, method="tail", prob=_TAIL_PROBS))
    ok = np.isfinite(rhat)
    worst = int(np.nanargmax(np.where(ok, rhat, -np.inf))) if ok.any() else None
    return {
        "max_rhat": float(np.max(rhat[ok])) if ok.any() else np.nan,
        "min_ess_bulk": float(np.nanmin(bulk)) if np.isfinite(bulk).any() else np.nan,
        "min_ess_tail": float(np.nanmin(tail)) if np.isfinite(tail).any() else np.nan,
        "num_values": int(rhat.size),
        "num_undefined": int((~ok).sum()),
        "worst": (names[worst] if names is not None else str(worst)) if worst is not None else "",
    }


def _as_two_chains(values: np.ndarray) -> np.ndarray:
    """One chain as two chains (its halves), so that arviz's split R-hat compares its quarters.

    arviz gives NaN for one chain. An odd last draw is left out of the R-hat only (the ESS uses
    every draw); several chains are returned as they are.
    """
    if values.shape[0] != 1:
        return values
    half = values.shape[1] // 2
    return values[:, : 2 * half].reshape(2, half, *values.shape[2:])


def orbit_members_visited(elements) -> np.ndarray:
    """Per chain, the number of distinct finite group elements (permutations and signs).

    Parameters
    ----------
    elements : GroupElement
        With leading (chain, draw) axes, as returned by canonicalisation.
    """
    parts = [np.asarray(p) for p in elements.perm] + [np.asarray(s) for s in elements.sign]
    if not parts:
        return np.ones(1, int)
    keys = np.concatenate([p.reshape(*p.shape[:2], -1) for p in parts], axis=-1)
    return np.array([len(np.unique(k, axis=0)) for k in keys])


def _reference(draws: inputs.Draws, canon: dict, reference) -> dict:
    if reference is not None:
        return reference
    flat, _ = inputs.flatten_params(draws.mlp, canon)
    flat = flat.reshape(-1, flat.shape[-1])
    lp = draws.sample_stats.get("lp")
    if lp is None and "potential_energy" in draws.sample_stats:
        lp = -np.asarray(draws.sample_stats["potential_energy"])
    if lp is not None:
        idx = int(np.nanargmax(np.asarray(lp, dtype=float).reshape(-1)))
    else:
        sd = flat.std(0) + 1e-12
        idx = int(np.argmin((((flat - flat.mean(0)) / sd) ** 2).sum(-1)))
    return {k: v.reshape(-1, *v.shape[2:])[idx] for k, v in canon.items()}


def _empty_row(like: dict) -> dict:
    return dict.fromkeys(like, np.nan) | {"worst": "", "num_values": 0, "num_undefined": 0}


def _verdict(rows: dict, thr: float) -> tuple[str, list[str]]:
    notes = []
    raw_ok = rows["raw"]["max_rhat"] < thr
    canon_ok = np.nanmin([rows["canonical"]["max_rhat"], rows["aligned"]["max_rhat"]]) < thr
    pred = rows["predictive"]["max_rhat"]
    if np.isfinite(pred):
        if pred >= thr:
            return VERDICT_MODES, notes
        if raw_ok:
            return VERDICT_CONVERGED, notes
        if not canon_ok:
            notes.append("canonical R-hat is also above the threshold although predictions "
                         "agree: the chains differ in parameters that do not change the function "
                         "(e.g. inactive units)")
        return VERDICT_SYMMETRY, notes
    if raw_ok:
        return VERDICT_CONVERGED, notes
    return (VERDICT_SYMMETRY if canon_ok else VERDICT_UNRESOLVED), notes


def summary(
    posterior, *, x=None, mlp: MLP | None = None, group: Group | None = None,
    sample_stats: Mapping | None = None, reference: Mapping | None = None,
    rhat_threshold: float = 1.01, aligned: bool = True, max_sweeps: int = 10,
    extra_sites=(), names=None, drop_nonfinite: bool = False,
) -> Summary:
    """Convergence diagnostics before and after symmetry removal.

    Parameters
    ----------
    posterior : result object or dict
        A posterior result, or a dict of (chain, draw, ...) draws (then ``mlp`` is required).
    x : array (n, in_features), optional
        Inputs at which to compare predictions (function-space R-hat/ESS).
    mlp : MLP, optional
    group : Group, optional
        Finite symmetry group (default: permutations, with sign flips for odd activations).
    sample_stats : dict, optional
        (chain, draw) sampler statistics (``diverging``, ``energy``, ``lp``) for a dict of draws.
    reference : dict, optional
        One parameter dict to align to; default the draw with the highest ``lp`` if reported,
        else the canonical draw nearest the canonical mean.
    rhat_threshold : float
        R-hat at or above which chains count as disagreeing (default 1.01).
    aligned : bool
        Whether to compute the ``aligned`` row (one linear assignment per draw and layer: the
        costliest part for wide layers and many draws). Its row is NaN when skipped.
    max_sweeps : int
        Passed to :func:`symbnn.symmetry.align`.
    extra_sites : sequence of str
        Sites with two or more per-draw axes to accept outside the network (see
        :func:`symbnn.diagnostics.inputs.as_draws`).
    names : dict or callable, optional
        Site names of a model symbnn did not write mapped to symbnn's (``{"w1": "W0", ...}``).
    drop_nonfinite : bool
        Drop chains holding NaN or inf (named in the notes and the verdict) instead of refusing.

    Returns
    -------
    Summary
    """
    if not rhat_threshold > 1.0:
        raise ValueError(f"rhat_threshold must be > 1, got {rhat_threshold}")
    draws = inputs.as_draws(posterior, mlp=mlp, group=group, sample_stats=sample_stats,
                            extra_sites=extra_sites, names=names,
                            drop_nonfinite=drop_nonfinite)
    mlp = draws.mlp
    canon, g = inputs.canonical(draws)
    rows = {}
    for label, params in (("raw", draws.params), ("canonical", canon)):
        rows[label] = convergence_stats(*inputs.flatten_params(mlp, params))
    if aligned:
        ref = _reference(draws, canon, reference)
        align_p, _ = inputs.aligned(draws, ref, max_sweeps=max_sweeps)
        rows["aligned"] = convergence_stats(*inputs.flatten_params(mlp, align_p))
    else:
        rows["aligned"] = _empty_row(rows["raw"])
    if x is not None:
        pred = inputs.predictions(draws, x)
        n, k = pred.shape[2:]
        names = [f"f(x[{i}])[{j}]" for i in range(n) for j in range(k)]
        rows["predictive"] = convergence_stats(pred.reshape(*pred.shape[:2], -1), names)
    else:
        rows["predictive"] = _empty_row(rows["raw"])
    for key, value in draws.extras.items():
        v = np.asarray(value, dtype=float)
        names = [f"{key}{list(i)}" if i else key for i in np.ndindex(*v.shape[2:])]
        rows[key] = convergence_stats(v.reshape(*v.shape[:2], -1), names)
    verdict, notes = _verdict(rows, rhat_threshold)
    if draws.dropped_chains:
        verdict = f"{verdict} (after dropping {len(draws.dropped_chains)} chains with NaN/inf)"
        notes.append(f"chains {list(draws.dropped_chains)} held NaN or inf and were dropped "
                     "(drop_nonfinite=True); the result describes the other chains only")
    if draws.num_chains == 1:
        verdict = f"{verdict} {ONE_CHAIN}"
        notes.append("one chain: R-hat compares the four quarters of the chain (split R-hat), "
                     "so it sees drift and stuck segments, not whether other chains would find "
                     "other modes or other orbit members; run several chains for that")
    table = pd.DataFrame.from_dict(rows, orient="index")
    div = draws.diverging()
    energy = draws.sample_stats.get("energy")
    bfmi = None if energy is None else np.atleast_1d(arviz_stats.bfmi(np.asarray(energy, float)))
    return Summary(
        table=table,
        verdict=verdict,
        num_divergences=None if div is None else int(div.sum()),
        divergences_per_chain=None if div is None else div.sum(axis=1),
        bfmi=bfmi,
        orbit_members_visited=orbit_members_visited(g),
        rhat_threshold=rhat_threshold,
        notes=tuple(notes),
    )
