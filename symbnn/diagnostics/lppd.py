"""Test log pointwise predictive density (LPPD): the one implementation.

For draws ``s = 1..S`` and test points ``i``, ``lppd_i = log (1/S) sum_s p(y_i | theta_s)``; the
reported value is the mean over test points with its standard error ``std_i / sqrt(n)``, as in the
protocol of Wiese et al. (2023, ECML PKDD). Every (chain, draw) pair counts as one draw, so a
many-chain run of one draw per chain and one long chain are treated alike.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp

__all__ = ["LPPD", "lppd", "lppd_curve"]


class LPPD(NamedTuple):
    """Test LPPD: the mean over test points, its standard error and the pointwise values."""

    mean: float
    se: float
    pointwise: np.ndarray


def lppd(log_lik) -> LPPD:
    """LPPD of pointwise log-likelihoods ``log_lik`` with shape (chain, draw, n) or (draws, n).

    Raises
    ------
    ValueError
        If ``log_lik`` has fewer than two axes or no draws or no points.
    """
    log_lik = np.asarray(log_lik, dtype=float)
    if log_lik.ndim < 2 or log_lik.shape[-1] == 0 or log_lik.size == 0:
        raise ValueError(
            f"log_lik must have shape (chain, draw, n) or (draws, n) with n >= 1, got "
            f"{log_lik.shape}")
    flat = log_lik.reshape((-1, log_lik.shape[-1]))
    pointwise = logsumexp(flat, axis=0) - np.log(flat.shape[0])
    return LPPD(float(pointwise.mean()), float(pointwise.std() / np.sqrt(pointwise.size)),
                pointwise)


def lppd_curve(log_lik) -> dict[str, list]:
    """LPPD (and se) of the first S draws for S = 1, 2, 4, ... and all of them.

    ``log_lik`` is (chain, draw, n); draws are taken chain by chain. The curve shows how far an
    estimate from fewer draws may still be from its limit (it grows with S on average: the log of
    a mean of more predictive densities).
    """
    log_lik = np.asarray(log_lik, dtype=float)
    flat = log_lik.reshape((-1, log_lik.shape[-1]))
    total = flat.shape[0]
    sizes = sorted({2**k for k in range(int(np.log2(total)) + 1)} | {total})
    pairs = [lppd(flat[:size]) for size in sizes]
    return {"num_draws": sizes, "lppd": [p.mean for p in pairs], "lppd_se": [p.se for p in pairs]}
