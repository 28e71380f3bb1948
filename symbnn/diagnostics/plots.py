"""Diagnostic plots: rank plots raw vs canonical, orbit occupancy, predictive bands, mode clusters.

Every function writes one image file and returns its path. Figures are built with
``matplotlib.figure.Figure`` (no pyplot state, no GUI backend), so they work in scripts, tests and
on machines without a display.
"""

from __future__ import annotations

import os

import arviz_stats
import numpy as np
import scipy.stats

from symbnn.diagnostics import inputs
from symbnn.diagnostics.modes import Modes
from symbnn.diagnostics.orbits import OccupancyResult
from symbnn.nets import MLP
from symbnn.symmetry import Group

__all__ = ["plot_lppd_curve", "plot_modes", "plot_occupancy", "plot_predictive", "plot_rank"]


def Figure(**kwargs):  # noqa: N802 - stands in for the matplotlib class it returns
    """A matplotlib Figure; matplotlib comes with the ``plots`` extra and is imported on use."""
    try:
        from matplotlib.figure import Figure as _Figure
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise ImportError(
            "symbnn's plots need matplotlib: pip install 'symbnn[plots]'"
        ) from e
    return _Figure(**kwargs)


def _save(fig, path) -> str:
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def _rank_hist(ax, values: np.ndarray, num_bins: int) -> None:
    # values: (chain, draw). Ranks over all chains, one step histogram per chain.
    ranks = scipy.stats.rankdata(values, axis=None).reshape(values.shape)
    edges = np.linspace(0.5, values.size + 0.5, num_bins + 1)
    for chain in ranks:
        counts, _ = np.histogram(chain, bins=edges)
        ax.stairs(counts, edges, linewidth=1.0)
    ax.axhline(values.shape[1] / num_bins, color="k", linestyle=":", linewidth=0.8)
    ax.set_yticks([])


def plot_rank(
    posterior, path, *, mlp: MLP | None = None, group: Group | None = None,
    num_params: int = 4, num_bins: int = 20,
) -> str:
    """Rank plots of raw and canonical draws for the parameters with the worst raw R-hat.

    Parameters
    ----------
    posterior : result object or dict
    path : str or path-like
        Output image file.
    mlp, group : optional
        As in :func:`symbnn.diagnostics.summary`.
    num_params : int
        Number of parameters shown (columns).
    num_bins : int

    Returns
    -------
    str
        ``path``.
    """
    if num_params < 1:
        raise ValueError(f"num_params must be >= 1, got {num_params}")
    draws = inputs.as_draws(posterior, mlp=mlp, group=group)
    canon, _ = inputs.canonical(draws)
    raw, names = inputs.flatten_params(draws.mlp, draws.params)
    can, _ = inputs.flatten_params(draws.mlp, canon)
    rhat = np.nan_to_num(np.atleast_1d(arviz_stats.rhat(raw)), nan=-np.inf)
    cols = np.argsort(-rhat)[:num_params]
    fig = Figure(figsize=(2.6 * len(cols), 4.2))
    axes = fig.subplots(2, len(cols), squeeze=False)
    for j, c in enumerate(cols):
        _rank_hist(axes[0, j], raw[..., c], num_bins)
        _rank_hist(axes[1, j], can[..., c], num_bins)
        axes[0, j].set_title(names[c], fontsize=9)
    axes[0, 0].set_ylabel("raw")
    axes[1, 0].set_ylabel("canonical")
    fig.suptitle("rank plots (one line per chain)")
    return _save(fig, path)


def plot_occupancy(result: OccupancyResult, path) -> str:
    """Bar plots of orbit occupancy: sign-flip frequency and top-unit counts per hidden layer.

    Parameters
    ----------
    result : OccupancyResult
        From :func:`symbnn.diagnostics.orbit_occupancy`.
    path : str or path-like

    Returns
    -------
    str
    """
    if not isinstance(result, OccupancyResult):
        raise TypeError(f"result must be an OccupancyResult, got {type(result).__name__}")
    layers = len(result.top_index_counts)
    fig = Figure(figsize=(3.5 * layers, 5.0))
    axes = fig.subplots(2, layers, squeeze=False)
    for layer in range(layers):
        flips = result.flip_frequency[layer]
        tops = result.top_index_counts[layer]
        num_chains, h = tops.shape
        width = 0.8 / num_chains
        units = np.arange(h)
        for c in range(num_chains):
            offset = (c - (num_chains - 1) / 2) * width
            if np.all(np.isfinite(flips)):
                axes[0, layer].bar(units + offset, flips[c], width)
            axes[1, layer].bar(units + offset, tops[c] / tops[c].sum(), width)
        axes[0, layer].axhline(0.5, color="k", linestyle=":")
        axes[1, layer].axhline(1.0 / h, color="k", linestyle=":")
        axes[0, layer].set_title(f"layer {layer}", fontsize=9)
        axes[1, layer].set_xlabel("unit")
    axes[0, 0].set_ylabel("sign-flip frequency")
    axes[1, 0].set_ylabel("largest-key frequency")
    fig.suptitle(f"orbit occupancy (pooled p = {result.pooled_p_value:.2g})")
    return _save(fig, path)


def plot_predictive(
    posterior, x, path, *, mlp: MLP | None = None, x_data=None, y_data=None, output: int = 0,
    prob: float = 0.9,
) -> str:
    """Posterior predictive mean and central band at 1-D inputs, with the data.

    Parameters
    ----------
    posterior : result object or dict
    x : array (n, 1)
        Inputs (one feature) at which to draw the band.
    path : str or path-like
    mlp : MLP, optional
    x_data, y_data : arrays, optional
        Observations to scatter.
    output : int
        Which output (regression) or class probability (classification) to show.
    prob : float
        Mass of the central band.

    Returns
    -------
    str
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != 1:
        raise ValueError(f"x must have shape (n, 1) for a predictive band plot, got {x.shape}")
    if not 0.0 < prob < 1.0:
        raise ValueError(f"prob must be in (0, 1), got {prob}")
    draws = inputs.as_draws(posterior, mlp=mlp)
    pred = inputs.predictions(draws, x)
    if not 0 <= output < pred.shape[-1]:
        raise ValueError(f"output must be in [0, {pred.shape[-1]}), got {output}")
    f = pred[..., output].reshape(-1, x.shape[0])
    order = np.argsort(x[:, 0])
    xs = x[order, 0]
    lo, hi = np.quantile(f[:, order], [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.fill_between(xs, lo, hi, alpha=0.3, label=f"{prob:.0%} band")
    ax.plot(xs, f[:, order].mean(0), label="mean")
    if x_data is not None and y_data is not None:
        yd = np.asarray(y_data)
        yd = yd[:, output] if yd.ndim == 2 else yd
        ax.scatter(np.asarray(x_data).reshape(-1), yd, s=8, color="k", label="data")
    ax.legend(fontsize=8)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)" if draws.mlp.output == "regression" else f"p(class {output})")
    return _save(fig, path)


def plot_modes(modes: Modes, path) -> str:
    """Scatter of the first two principal components of the draws, coloured by mode.

    Parameters
    ----------
    modes : Modes
        From :func:`symbnn.diagnostics.count_modes`.
    path : str or path-like

    Returns
    -------
    str
    """
    if not isinstance(modes, Modes):
        raise TypeError(f"modes must be a Modes result, got {type(modes).__name__}")
    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    for m in range(modes.num_modes):
        sel = modes.embedding_labels == m
        ax.scatter(*modes.embedding[sel].T, s=6, label=f"mode {m} ({modes.weights[m]:.0%})")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=8)
    ax.set_title(f"{modes.num_modes} functionally distinct mode(s)")
    return _save(fig, path)



def plot_lppd_curve(curve: dict, path) -> str:
    """Test LPPD of the first S chains (draws) against S, with one standard error.

    Parameters
    ----------
    curve : dict
        From :func:`symbnn.diagnostics.lppd_curve` (``num_draws``, ``lppd``, ``lppd_se``).
    path : str or path-like

    Returns
    -------
    str
    """
    n, v, se = (np.asarray(curve[k], float) for k in ("num_draws", "lppd", "lppd_se"))
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    ax.errorbar(n, v, yerr=se, marker="o", capsize=3)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("number of chains (draws) S")
    ax.set_ylabel("test LPPD of the first S")
    ax.set_title("does the LPPD level off with more chains?")
    return _save(fig, path)
