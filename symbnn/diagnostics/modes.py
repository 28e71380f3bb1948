"""Functionally distinct modes: clustering of canonical draws, and how many chains find them all.

:func:`count_modes` clusters canonical (or aligned) draws in parameter space (Ward linkage, the
number of clusters chosen by the silhouette score), then merges clusters whose mean predictions at
given inputs are closer than a tolerance in units of the within-cluster predictive spread, so that
what remains are functionally different modes. :func:`chains_needed` is the coupon-collector bound
of Wiese et al. 2023 ("Towards efficient MCMC sampling in Bayesian neural networks by exploiting
symmetry", ECML PKDD) on the number of independent chains that visit every mode.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping

import numpy as np
import scipy.cluster.hierarchy
import scipy.sparse.csgraph
import scipy.stats
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score

from symbnn.diagnostics import inputs
from symbnn.nets import MLP
from symbnn.symmetry import Group

__all__ = ["Modes", "chains_needed", "count_modes", "mode_weights"]

_MAX_EXACT_MODES = 20  # inclusion-exclusion sums over 2^num_modes subsets


@dataclasses.dataclass(frozen=True)
class Modes:
    """Result of :func:`count_modes`.

    Attributes
    ----------
    num_modes : int
        Functionally distinct modes (parameter clusters if no inputs were given).
    weights : ndarray (num_modes,)
        Fraction of all draws in each mode, largest first.
    labels : ndarray (chain, draw)
        Mode of every draw.
    chain_composition : ndarray (num_chains, num_modes)
        Fraction of each chain's draws in each mode.
    num_clusters : int
        Parameter-space clusters before the function-space merge.
    silhouette : float
        Silhouette score of the chosen clustering (NaN for one cluster).
    distances : ndarray (num_clusters, num_clusters) or None
        Predictive RMS distance between cluster means over the within-cluster predictive sd.
    embedding : ndarray (m, 2)
        First two principal components of the (thinned) canonical draws, for plots.
    embedding_labels : ndarray (m,)
        Mode of each embedded draw.
    notes : tuple of str
    """

    num_modes: int
    weights: np.ndarray
    labels: np.ndarray
    chain_composition: np.ndarray
    num_clusters: int
    silhouette: float
    distances: np.ndarray | None
    embedding: np.ndarray
    embedding_labels: np.ndarray
    notes: tuple[str, ...] = ()


def _choose_clusters(feat: np.ndarray, max_modes: int, min_silhouette: float):
    # Ward linkage once; the cut into k >= 2 clusters with the best silhouette score is kept if
    # that score reaches min_silhouette, else there is one cluster.
    best_k, best_score, best_labels = 1, np.nan, np.zeros(len(feat), int)
    if max_modes < 2 or len(feat) < 3:
        return best_k, best_score, best_labels
    tree = scipy.cluster.hierarchy.linkage(feat, method="ward")
    for k in range(2, min(max_modes, len(feat) - 1) + 1):
        labels = scipy.cluster.hierarchy.fcluster(tree, k, criterion="maxclust") - 1
        if len(np.unique(labels)) != k:
            continue
        score = float(silhouette_score(feat, labels))
        if score >= min_silhouette and (best_k == 1 or score > best_score):
            best_k, best_score, best_labels = k, score, labels
    return best_k, best_score, best_labels


def _predictive_distances(pred: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    # pred: (m, n, out); labels: (m,)
    means = np.stack([pred[labels == c].mean(0) for c in range(k)])
    vars_ = np.stack([pred[labels == c].var(0) for c in range(k)])
    dist = np.zeros((k, k))
    for i, j in itertools.combinations(range(k), 2):
        rms = np.sqrt(np.mean((means[i] - means[j]) ** 2))
        spread = np.sqrt(np.mean(0.5 * (vars_[i] + vars_[j])))
        dist[i, j] = dist[j, i] = rms / spread if spread > 0 else (np.inf if rms > 0 else 0.0)
    return dist


def count_modes(
    posterior, *, x=None, mlp: MLP | None = None, group: Group | None = None,
    space: str = "canonical", reference: Mapping | None = None, max_modes: int = 8,
    tol: float = 1.0, min_silhouette: float = 0.5, max_draws: int = 1000, extra_sites=(),
    names=None,
) -> Modes:
    """Cluster canonical draws and report functionally distinct modes with their weights.

    Ward hierarchical clustering of the canonical (or aligned) parameters, cut into
    k = 2 .. ``max_modes`` clusters; the k with the best silhouette score is kept if that score
    is at least ``min_silhouette``, else there is one cluster. With inputs ``x``, clusters whose
    mean predictions are closer than ``tol`` times the within-cluster predictive standard
    deviation are merged (transitively), so that two parameter clusters computing the same
    function count as one mode.

    Parameters
    ----------
    posterior : result object or dict
    x : array (n, in_features), optional
        Inputs at which two clusters must differ to count as different modes. Without it the
        parameter-space clusters are reported as they are.
    mlp : MLP, optional
        Required for dicts.
    group : Group, optional
    space : {"canonical", "aligned"}
        Hard canonical form, or alignment to ``reference`` (default: first canonical draw).
    reference : dict, optional
    max_modes : int
        Largest number of clusters tried.
    tol : float
        Clusters whose mean predictions differ by less than ``tol`` times the within-cluster
        predictive standard deviation (both RMS over inputs) are merged.
    min_silhouette : float
        A clustering into k >= 2 clusters is accepted only with a silhouette score at least this
        (well-separated clusters); otherwise there is one cluster.
    max_draws : int
        Draws (evenly thinned) used to fit the clustering; every draw then joins the cluster
        with the nearest centroid.
    extra_sites : sequence of str
        Sites with two or more per-draw axes to accept outside the network (see
        :func:`symbnn.diagnostics.inputs.as_draws`).
    names : dict or callable, optional
        Site names of a model symbnn did not write mapped to symbnn's (``{"w1": "W0", ...}``).

    Returns
    -------
    Modes
    """
    if space not in ("canonical", "aligned"):
        raise ValueError(f"space must be 'canonical' or 'aligned', got {space!r}")
    if max_modes < 1:
        raise ValueError(f"max_modes must be >= 1, got {max_modes}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    draws = inputs.as_draws(posterior, mlp=mlp, group=group, extra_sites=extra_sites, names=names)
    params, _ = inputs.canonical(draws)
    if space == "aligned":
        ref = reference if reference is not None else {k: v[0, 0] for k, v in params.items()}
        params, _ = inputs.aligned(draws, ref)
    flat, _ = inputs.flatten_params(draws.mlp, params)
    shape = flat.shape[:2]
    # Euclidean geometry of the canonical parameters as they are: per-coordinate standardising
    # would blow the noise of the many coordinates in which modes agree up to the size of the
    # few in which they differ.
    flat = flat.reshape(-1, flat.shape[-1])
    idx = np.unique(np.round(np.linspace(0, len(flat) - 1, min(max_draws, len(flat)))).astype(int))
    fit = flat[idx]
    k, score, fit_labels = _choose_clusters(fit, max_modes, min_silhouette)
    centroids = np.stack([fit[fit_labels == c].mean(0) for c in range(k)])
    labels = np.argmin(((flat[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    notes, dist = [], None
    groups = np.arange(k)
    if x is not None and k > 1:
        pred = inputs.predictions(draws, x).reshape(len(flat), *np.shape(x)[:1], -1)[idx]
        dist = _predictive_distances(pred, labels[idx], k)
        _, groups = scipy.sparse.csgraph.connected_components(dist < tol, directed=False)
    elif x is None and k > 1:
        notes.append("no inputs x given: clusters are in parameter space and were not checked "
                     "to be different functions")
    labels = groups[labels]
    counts = np.bincount(labels, minlength=groups.max() + 1)
    order = np.argsort(-counts, kind="stable")
    relabel = np.empty_like(order)
    relabel[order] = np.arange(len(order))
    labels = relabel[labels]
    num = len(order)
    per_chain = labels.reshape(shape)
    composition = np.stack([np.bincount(c, minlength=num) / shape[1] for c in per_chain])
    n_comp = min(2, fit.shape[1], len(fit))
    emb = PCA(n_components=n_comp, svd_solver="full").fit_transform(fit)
    if emb.shape[1] < 2:
        emb = np.concatenate([emb, np.zeros((len(emb), 2 - emb.shape[1]))], 1)
    return Modes(
        num_modes=num,
        weights=counts[order] / counts.sum(),
        labels=per_chain,
        chain_composition=composition,
        num_clusters=k,
        silhouette=score,
        distances=dist,
        embedding=emb,
        embedding_labels=labels[idx],
        notes=tuple(notes),
    )


def mode_weights(num_modes: int) -> np.ndarray:
    """Mode weights of Wiese et al. 2023: a half-normal density at evenly spaced points.

    The weights are proportional to the standard half-normal density at ``num_modes`` evenly
    spaced points on [0, 1.96] (one point, 0, for a single mode), normalised to sum to one.
    """
    if isinstance(num_modes, bool) or not isinstance(num_modes, int | np.integer) \
            or num_modes < 1:
        raise ValueError(f"num_modes must be a positive integer, got {num_modes!r}")
    w = scipy.stats.halfnorm.pdf(np.linspace(0.0, 1.96, int(num_modes)))
    return w / w.sum()


def _expected_collection_time(p: np.ndarray) -> float:
    # E[T] = sum over non-empty subsets S of (-1)^(|S|+1) / p(S): the expected number of
    # independent draws until every outcome has appeared (inclusion-exclusion).
    total = 0.0
    for r in range(1, len(p) + 1):
        sign = 1.0 if r % 2 else -1.0
        total += sign * sum(1.0 / sum(s) for s in itertools.combinations(p, r))
    return total


def _all_visited_probability(p: np.ndarray, n: int) -> float:
    # P(all outcomes appear in n draws) = sum over subsets S of (-1)^|S| (1 - p(S))^n.
    total = 0.0
    for r in range(len(p) + 1):
        sign = 1.0 if r % 2 == 0 else -1.0
        total += sign * sum(max(0.0, 1.0 - sum(s)) ** n for s in itertools.combinations(p, r))
    return total


def chains_needed(num_modes: int, prob: float, *, method: str = "markov") -> int:
    """Number of independent chains so that every functionally distinct mode is visited.

    Each chain lands in one of ``num_modes`` modes with the weights of :func:`mode_weights`
    (Wiese et al. 2023). With ``T`` the number of chains until every mode has been visited (a
    coupon-collector time with unequal probabilities, whose expectation is computed by
    inclusion-exclusion), Markov's inequality gives ``P(T > n) <= E[T] / n``, so
    ``n = ceil(E[T] / (1 - prob))`` chains visit all modes with probability at least ``prob``.
    This is the bound of Wiese et al. 2023: chains_needed(3, 0.99) = 1274,
    chains_needed(2, 0.99) = 798, chains_needed(4, 0.99) = 1805, chains_needed(3, 0.9) = 128.

    Parameters
    ----------
    num_modes : int
        Number of functionally distinct modes (at most 20).
    prob : float
        Required probability of visiting every mode, in (0, 1).
    method : {"markov", "exact"}
        ``"markov"``: the bound above. ``"exact"``: the smallest ``n`` with
        ``P(all modes visited in n chains) >= prob``, that probability computed by
        inclusion-exclusion (much smaller than the bound: 54 for (3, 0.99)).

    Returns
    -------
    int
    """
    p = mode_weights(num_modes)
    if num_modes > _MAX_EXACT_MODES:
        raise ValueError(f"num_modes must be at most {_MAX_EXACT_MODES} (inclusion-exclusion over "
                         f"2^num_modes subsets), got {num_modes}")
    if isinstance(prob, bool) or not 0.0 < float(prob) < 1.0:
        raise ValueError(f"prob must be in (0, 1), got {prob!r}")
    if method == "markov":
        bound = _expected_collection_time(p) / (1.0 - float(prob))
        # A relative tolerance keeps floating-point noise from adding one chain at exact integers.
        return max(1, math.ceil(bound * (1.0 - 1e-12)))
    if method == "exact":
        lo, hi = 1, 2
        while _all_visited_probability(p, hi) < prob:
            lo, hi = hi, hi * 2
        while lo < hi:
            mid = (lo + hi) // 2
            if _all_visited_probability(p, mid) >= prob:
                hi = mid
            else:
                lo = mid + 1
        return lo
    raise ValueError(f"method must be 'markov' or 'exact', got {method!r}")
