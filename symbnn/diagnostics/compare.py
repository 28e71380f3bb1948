"""Compare two posteriors after symmetry removal, in parameter space and in function space.

Parameter space: energy distance (Székely and Rizzo 2013) and maximum mean discrepancy with an RBF
kernel at the median-heuristic bandwidth (Gretton et al. 2012), each with a permutation-test
p-value, on standardised canonical (or aligned) draws; per-parameter differences of means and
standard deviations in units of their Monte Carlo standard errors (arviz-stats ``mcse``). Function
space, following Izmailov et al. 2021 ("What are Bayesian neural network posteriors really
like?"): top-1 agreement and total variation of the Bayesian model averages (classification),
1-D Wasserstein distance of the predictive draws at each input (regression). With log-likelihoods,
PSIS-LOO comparison by ``arviz_stats.compare``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping

import arviz_base
import arviz_stats
import jax
import numpy as np
import pandas as pd
import scipy.stats

from symbnn.diagnostics import inputs
from symbnn.nets import MLP
from symbnn.symmetry import Group

__all__ = ["Comparison", "compare", "energy_mmd_test"]

SPACES = ("canonical", "aligned")


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Result of :func:`compare`.

    Attributes
    ----------
    energy_distance, energy_p_value : float
    mmd, mmd_p_value : float
        Unbiased squared MMD and its permutation p-value.
    parameters : pandas.DataFrame
        Per scalar parameter (and extra site): ``mean_a``, ``mean_b``, ``mean_z`` (difference of
        means over its MCSE), ``sd_a``, ``sd_b``, ``sd_z``.
    function : dict
        Function-space measures (empty without ``x``): ``"rms_mean_difference"`` and
        ``"wasserstein"`` (regression) or ``"agreement"`` and ``"total_variation"``
        (classification).
    loo : pandas.DataFrame or None
        ``arviz_stats.compare`` of the two posteriors (None without log-likelihoods, or when
        PSIS-LOO failed).
    loo_error : str or None
        Why PSIS-LOO failed (e.g. too few distinct draws for the Pareto tail fit); the other
        measures do not depend on it.
    space : str
    num_draws : tuple of int
        Draws used in the permutation tests, per posterior.
    """

    energy_distance: float
    energy_p_value: float
    mmd: float
    mmd_p_value: float
    parameters: pd.DataFrame
    function: dict
    loo: pd.DataFrame | None
    space: str
    num_draws: tuple[int, int]
    loo_error: str | None = None

    @property
    def max_abs_mean_z(self) -> float:
        """Largest |difference of means| in MCSE units."""
        return float(np.nanmax(np.abs(self.parameters["mean_z"])))

    def verdict(self, level: float = 0.01) -> str:
        """The comparison in words: which test rejects at ``level``, and what the functions add.

        The energy and MMD permutation tests judge the joint distribution of the symmetry-free
        parameters; the function-space measures (with ``x``) say whether a difference in
        parameters is also one in what the networks predict.
        """
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        p = {"energy": self.energy_p_value, "MMD": self.mmd_p_value}
        if not all(np.isfinite(v) for v in p.values()):
            return ("undetermined: a permutation test gave no p-value (non-finite draws or "
                    "statistics); check the draws for NaN or inf")
        where = f"{self.space} parameters"
        shown = ", ".join(f"{k} p = {v:.3g}" for k, v in p.items())
        rejecting = [k for k, v in p.items() if v < level]
        if rejecting:
            tests = " and ".join(rejecting) + (" tests reject" if len(rejecting) > 1
                                                else " test rejects")
            text = (f"different: the {tests} equal distributions of the {where} at level "
                    f"{level:g} ({shown})")
        else:
            text = (f"no difference detected: neither the energy nor the MMD test rejects equal "
                    f"distributions of the {where} at level {level:g} ({shown}); with "
                    f"{min(self.num_draws)} draws a small difference can go unseen")
        return text + self._function_words()

    def _function_words(self) -> str:
        f = self.function
        if "rms_mean_difference" in f:
            return (f"; in function space the predictive means differ by "
                    f"{f['rms_mean_difference']:.3g} RMS (mean Wasserstein distance "
                    f"{f['wasserstein']:.3g}, in output units)")
        if "agreement" in f:
            return (f"; in function space the predicted classes agree on "
                    f"{100 * f['agreement']:.1f}% of the inputs (total variation "
                    f"{f['total_variation']:.3g})")
        return "; pass x to see whether the difference reaches the predictions"


def _subsample(flat: np.ndarray, max_draws: int, rng: np.random.Generator) -> np.ndarray:
    # A random subset, not an evenly spaced one: evenly thinned MCMC draws are more regular than
    # independent ones, which made the permutation p-values of the tests below too conservative
    # (p = 1.0 for 5 of 5 seeds on two samples of one posterior, tests/validation).
    if flat.shape[0] <= max_draws:
        return flat
    return flat[np.sort(rng.choice(flat.shape[0], max_draws, replace=False))]


def energy_mmd_test(
    a: np.ndarray, b: np.ndarray, *, num_permutations: int = 200, seed: int = 0,
) -> dict:
    """Energy distance and MMD between two samples, with permutation-test p-values.

    Parameters
    ----------
    a, b : ndarray (n_a, d), (n_b, d)
        Samples (rows are draws). They are standardised with the pooled mean and sd.
    num_permutations : int
    seed : int

    Returns
    -------
    dict with ``energy_distance``, ``energy_p_value``, ``mmd``, ``mmd_p_value``.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must be (n, d) arrays with the same d, got {a.shape}, "
                         f"{b.shape}")
    if min(len(a), len(b)) < 2:
        raise ValueError("a and b need at least 2 draws each")
    if num_permutations < 1:
        raise ValueError(f"num_permutations must be >= 1, got {num_permutations}")
    pooled = np.concatenate([a, b])
    sd = pooled.std(0)
    pooled = (pooled - pooled.mean(0)) / np.where(sd > 0, sd, 1.0)
    sq = np.sum(pooled**2, 1)
    dist2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * pooled @ pooled.T, 0.0)
    dist = np.sqrt(dist2)
    n, n_a = len(pooled), len(a)
    off = dist[np.triu_indices(n, 1)]
    bandwidth = np.median(off[off > 0]) if np.any(off > 0) else 1.0  # median heuristic
    kernel = np.exp(-dist2 / (2.0 * bandwidth**2))
    rng = np.random.default_rng(seed)
    labels = np.stack([np.arange(n)] + [rng.permutation(n) for _ in range(num_permutations)])
    # Row p: which pooled draws land in the first n_a positions of permutation p (row 0: as given).
    in_a = (np.argsort(labels, axis=1) < n_a).astype(float)
    in_b = 1.0 - in_a
    n_b = n - n_a

    def blocks(m: np.ndarray, diag: float):
        ma, mb = in_a @ m, in_b @ m
        aa = (np.sum(ma * in_a, 1) - n_a * diag) / (n_a * (n_a - 1))
        bb = (np.sum(mb * in_b, 1) - n_b * diag) / (n_b * (n_b - 1))
        ab = np.sum(ma * in_b, 1) / (n_a * n_b)
        return aa, bb, ab

    daa, dbb, dab = blocks(dist, 0.0)
    energy = 2.0 * dab - daa - dbb
    kaa, kbb, kab = blocks(kernel, 1.0)
    mmd = kaa + kbb - 2.0 * kab

    def p_value(stat):
        return float((1 + np.sum(stat[1:] >= stat[0])) / (1 + num_permutations))

    return {"energy_distance": float(energy[0]), "energy_p_value": p_value(energy),
            "mmd": float(mmd[0]), "mmd_p_value": p_value(mmd)}


def _parameter_table(pa: dict, pb: dict, names: list[str]) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rows = {}
        for stat, fn in (("mean", np.mean), ("sd", np.std)):
            va, vb = fn(pa, axis=(0, 1)), fn(pb, axis=(0, 1))
            ea = np.atleast_1d(arviz_stats.mcse(pa, method=stat))
            eb = np.atleast_1d(arviz_stats.mcse(pb, method=stat))
            rows[f"{stat}_a"], rows[f"{stat}_b"] = va, vb
            rows[f"{stat}_z"] = (va - vb) / np.sqrt(ea**2 + eb**2)
    return pd.DataFrame(rows, index=names)[["mean_a", "mean_b", "mean_z", "sd_a", "sd_b",
                                             "sd_z"]]


def _function_space(fa: np.ndarray, fb: np.ndarray, mlp: MLP) -> dict:
    fa = fa.reshape(-1, *fa.shape[2:])
    fb = fb.reshape(-1, *fb.shape[2:])
    ma, mb = fa.mean(0), fb.mean(0)
    if mlp.output == "classification":
        if mlp.out_features == 1:
            ma = np.concatenate([1 - ma, ma], -1)
            mb = np.concatenate([1 - mb, mb], -1)
        return {"agreement": float(np.mean(ma.argmax(-1) == mb.argmax(-1))),
                "total_variation": float(np.mean(0.5 * np.abs(ma - mb).sum(-1)))}
    w = [scipy.stats.wasserstein_distance(fa[:, i, j], fb[:, i, j])
         for i in range(fa.shape[1]) for j in range(fa.shape[2])]
    return {"rms_mean_difference": float(np.sqrt(np.mean((ma - mb) ** 2))),
            "wasserstein": float(np.mean(w))}


def _loo(lls: tuple, names: tuple[str, str]) -> pd.DataFrame:
    trees = {}
    for name, ll in zip(names, lls, strict=True):
        ll = np.asarray(ll, float)
        if ll.ndim != 3:
            raise ValueError(f"log-likelihood of {name} must be (chain, draw, n), got {ll.shape}")
        trees[name] = arviz_base.from_dict({"posterior": {"_": np.zeros(ll.shape[:2])},
                                            "log_likelihood": {"y": ll}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return arviz_stats.compare(trees)


def _try_loo(lls, names) -> tuple[pd.DataFrame | None, str | None]:
    if lls is None:
        return None, None
    try:
        return _loo(tuple(lls), tuple(names)), None
    except (ValueError, IndexError) as err:  # PSIS fails on degenerate draws: say why
        cause = f" ({err.__cause__})" if err.__cause__ is not None else ""
        return None, " ".join(f"{err}{cause}".split())


def compare(
    rng_key, post_a, post_b, *, x=None, y=None, mlp: MLP | None = None,
    group: Group | None = None, space: str = "canonical", reference: Mapping | None = None,
    log_likelihood: tuple | None = None, num_permutations: int = 200, max_draws: int = 500,
    labels: tuple[str, str] = ("a", "b"), extra_sites=(), names=None,
) -> Comparison:
    """Compare two posteriors of the same network after removing the symmetry.

    Parameters
    ----------
    rng_key : jax.Array
        Key of the random subsets and permutations (the result is a function of it).
    post_a, post_b : result objects or dicts of (chain, draw, ...) draws
    x : array (n, in_features), optional
        Inputs for the function-space measures.
    y : array, optional
        Targets at ``x``: with result objects that provide ``.log_likelihood(x, y)``, adds a LOO
        comparison.
    mlp : MLP, optional
        Required for dicts.
    group : Group, optional
    space : {"canonical", "aligned"}
        Hard canonical form, or alignment of both posteriors to one reference (default: the
        canonical form of the first draw of ``post_a``).
    reference : dict, optional
        The alignment reference for ``space="aligned"``.
    log_likelihood : (array, array), optional
        (chain, draw, n) pointwise log-likelihoods of the two posteriors, for dict inputs.
    num_permutations : int
        Permutations in each test (default 200).
    max_draws : int
        Each posterior is reduced to a random subset (drawn with ``rng_key``) of at most this
        many draws for the permutation tests.
    labels : (str, str)
        Labels of the posteriors in the LOO table.
    extra_sites : sequence of str
        Sites with two or more per-draw axes to accept outside the network (see
        :func:`symbnn.diagnostics.inputs.as_draws`).
    names : dict or callable, optional
        Site names of a model symbnn did not write mapped to symbnn's (``{"w1": "W0", ...}``).

    Returns
    -------
    Comparison
    """
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    if max_draws < 2:
        raise ValueError(f"max_draws must be >= 2, got {max_draws}")
    da = inputs.as_draws(post_a, mlp=mlp, group=group, name="post_a", extra_sites=extra_sites,
                         names=names)
    db = inputs.as_draws(post_b, mlp=mlp, group=group if group is not None else da.group,
                         name="post_b", extra_sites=extra_sites, names=names)
    if da.mlp != db.mlp:
        raise ValueError(f"post_a and post_b must share the MLP, got {da.mlp} and {db.mlp}")
    if set(da.extras) != set(db.extras):
        raise ValueError(f"post_a and post_b must have the same extra sites, got "
                         f"{sorted(da.extras)} and {sorted(db.extras)}")
    ca, _ = inputs.canonical(da)
    cb, _ = inputs.canonical(db)
    if space == "aligned":
        ref = reference if reference is not None else {k: v[0, 0] for k, v in ca.items()}
        ca, _ = inputs.aligned(da, ref)
        cb, _ = inputs.aligned(db, ref)
    fa, names_p = inputs.flatten_params(da.mlp, ca)
    fb, _ = inputs.flatten_params(db.mlp, cb)
    for key in sorted(da.extras):
        ea = np.asarray(da.extras[key], float)
        eb = np.asarray(db.extras[key], float)
        fa = np.concatenate([fa, ea.reshape(*ea.shape[:2], -1)], -1)
        fb = np.concatenate([fb, eb.reshape(*eb.shape[:2], -1)], -1)
        names_p += [f"{key}{list(i)}" if i else key for i in np.ndindex(*ea.shape[2:])]
    seed = int(jax.random.randint(rng_key, (), 0, np.iinfo(np.int32).max))
    rng = np.random.default_rng(seed)
    test = energy_mmd_test(
        _subsample(fa.reshape(-1, fa.shape[-1]), max_draws, rng),
        _subsample(fb.reshape(-1, fb.shape[-1]), max_draws, rng),
        num_permutations=num_permutations, seed=seed,
    )
    function = {}
    if x is not None:
        function = _function_space(inputs.predictions(da, x), inputs.predictions(db, x), da.mlp)
    lls = log_likelihood
    if lls is None and x is not None and y is not None and da.log_likelihood_fn is not None \
            and db.log_likelihood_fn is not None:
        lls = (da.log_likelihood_fn(x, y), db.log_likelihood_fn(x, y))
    loo, loo_error = _try_loo(lls, labels)
    return Comparison(
        **test,
        parameters=_parameter_table(fa, fb, names_p),
        function=function,
        loo=loo,
        loo_error=loo_error,
        space=space,
        num_draws=(min(max_draws, fa.shape[0] * fa.shape[1]),
                   min(max_draws, fb.shape[0] * fb.shape[1])),
    )
