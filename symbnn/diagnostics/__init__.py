"""Diagnostics after symmetry removal: convergence, orbit checks, posterior comparison, modes.

Every function takes a posterior result object (with ``.mlp``, ``.draws``, ``.sample_stats``) or a
dict of (chain, draw, ...) draws together with ``mlp=...``, e.g. numpyro's
``MCMC.get_samples(group_by_chain=True)``.
"""

from symbnn.diagnostics.compare import Comparison, compare, energy_mmd_test
from symbnn.diagnostics.convergence import (
    VERDICT_CONVERGED,
    VERDICT_MODES,
    VERDICT_SYMMETRY,
    VERDICT_UNRESOLVED,
    Summary,
    orbit_members_visited,
    summary,
)
from symbnn.diagnostics.lppd import LPPD, lppd, lppd_curve
from symbnn.diagnostics.many_chains import MIN_DRAWS, ManyChainReport, many_chain_report
from symbnn.diagnostics.modes import Modes, chains_needed, count_modes, mode_weights
from symbnn.diagnostics.orbits import (
    InvarianceResult,
    OccupancyResult,
    check_invariance,
    orbit_occupancy,
)
from symbnn.diagnostics.plots import (
    plot_lppd_curve,
    plot_modes,
    plot_occupancy,
    plot_predictive,
    plot_rank,
)

__all__ = [
    "VERDICT_CONVERGED",
    "VERDICT_MODES",
    "VERDICT_SYMMETRY",
    "VERDICT_UNRESOLVED",
    "Comparison",
    "InvarianceResult",
    "LPPD",
    "MIN_DRAWS",
    "ManyChainReport",
    "Modes",
    "OccupancyResult",
    "Summary",
    "chains_needed",
    "check_invariance",
    "compare",
    "count_modes",
    "energy_mmd_test",
    "lppd",
    "lppd_curve",
    "many_chain_report",
    "mode_weights",
    "orbit_members_visited",
    "orbit_occupancy",
    "plot_lppd_curve",
    "plot_modes",
    "plot_occupancy",
    "plot_predictive",
    "plot_rank",
    "summary",
]
