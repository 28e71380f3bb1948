"""The many-chain report: runs of many short chains (the published protocol, SMC particles).

With fewer than :data:`MIN_DRAWS` draws per chain, R-hat and ESS are undefined; what such a run
can show instead (Wiese et al. 2023, ECML PKDD):

- how the chains spread over the orbit: with one draw per chain from independent starts, the
  canonicalising group elements of the chains should be uniform over the finite group (the
  occupancy test with chains as the samples, no autocorrelation adjustment);
- functionally distinct modes among the chains (:func:`count_modes` on predictions) with their
  weights, and the number of chains :func:`chains_needed` says would visit all of them;
- the test LPPD of the first 1, 2, 4, ... chains, and whether it has levelled off: the last
  doubling changed it by less than its standard error;
- warm-up divergences per chain, when the sampler recorded them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from symbnn.diagnostics import inputs
from symbnn.diagnostics.lppd import lppd_curve
from symbnn.diagnostics.modes import chains_needed, count_modes
from symbnn.diagnostics.orbits import orbit_occupancy

__all__ = ["MIN_DRAWS", "ManyChainReport", "many_chain_report"]

MIN_DRAWS = 4
"""Chains with fewer draws than this get the many-chain report instead of R-hat and ESS."""


@dataclasses.dataclass(frozen=True)
class ManyChainReport:
    """Result of :func:`many_chain_report` (``None`` fields were not computable)."""

    num_chains: int
    num_draws: int
    occupancy_p_value: float | None
    occupancy_note: str
    num_modes: int | None
    mode_weights: tuple[float, ...]
    chains_needed: int | None
    lppd_curve: dict | None
    lppd_levelled_off: bool | None
    warmup_divergences: tuple[int, ...] | None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """JSON-able fields (no NaN)."""
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        lines = [f"many-chain report: {self.num_chains} chains x {self.num_draws} draws "
                 f"(R-hat and ESS need at least {MIN_DRAWS} draws per chain)"]
        if self.occupancy_p_value is not None:
            lines.append(f"orbit spread across chains: p = {self.occupancy_p_value:.3g} "
                         f"({self.occupancy_note})")
        else:
            lines.append(f"orbit spread across chains: not tested ({self.occupancy_note})")
        if self.num_modes is not None:
            weights = ", ".join(f"{w:.2f}" for w in self.mode_weights)
            lines.append(f"functionally distinct modes: {self.num_modes} (weights {weights}); "
                         f"chains needed to visit all with probability 0.99: "
                         f"{self.chains_needed} (this run: {self.num_chains})")
        if self.lppd_curve is not None:
            pairs = zip(self.lppd_curve["num_draws"], self.lppd_curve["lppd"], strict=True)
            curve = "  ".join(f"{n}: {v:.3f}" for n, v in pairs)
            state = "levelled off" if self.lppd_levelled_off else "still changing"
            lines.append(f"test LPPD of the first S chains: {curve}  -> {state}")
        if self.warmup_divergences is not None:
            div = np.asarray(self.warmup_divergences)
            lines.append(f"warm-up divergences: {int(div.sum())} in all, in "
                         f"{int((div > 0).sum())} of {div.size} chains")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _levelled_off(curve: dict) -> bool | None:
    """Whether the last doubling changed the LPPD by less than its standard error."""
    if len(curve["lppd"]) < 2:
        return None
    return bool(abs(curve["lppd"][-1] - curve["lppd"][-2]) < curve["lppd_se"][-1])


def many_chain_report(posterior, *, x=None, y=None, mlp=None, level: float = 0.01,
                      prob: float = 0.99, names=None) -> ManyChainReport:
    """What a run of many short chains can show without R-hat and ESS (see the module doc).

    Parameters
    ----------
    posterior : result object or dict
        Draws with leading (chain, draw) axes; a dict needs ``mlp``.
    x, y : arrays, optional
        Test inputs (modes are counted on predictions at ``x``) and targets (the LPPD curve
        needs ``posterior.log_likelihood(x, y)``, a result object).
    level : float
        Level of the occupancy test.
    prob : float
        Probability for :func:`chains_needed`.
    names : dict or callable, optional
        Site names of a model symbnn did not write mapped to symbnn's.
    """
    draws = inputs.as_draws(posterior, mlp=mlp, names=names)
    notes = []
    if draws.num_chains < 2:
        raise ValueError(f"posterior must have at least 2 chains for a many-chain report, got "
                         f"{draws.num_chains}")
    p_value, occ_note = None, ""
    try:
        occ = orbit_occupancy(posterior, mlp=mlp, adjust_for_autocorrelation=False,
                              names=names)
        p_value = float(occ.pooled_p_value)
        occ_note = (f"uniform spread {'rejected' if p_value < level else 'not rejected'} at "
                    f"level {level:g}")
    except ValueError as err:  # nothing the group can move
        occ_note = str(err)
    modes = count_modes(posterior, x=x, mlp=mlp, names=names)
    needed = chains_needed(modes.num_modes, prob) if modes.num_modes > 1 else 1
    if modes.num_modes > 1 and draws.num_chains < needed:
        notes.append(f"{draws.num_chains} chains are fewer than the {needed} that visit all "
                     f"{modes.num_modes} modes with probability {prob:g}")
    curve = levelled = None
    ll_fn = getattr(posterior, "log_likelihood", None)
    if x is not None and y is not None and callable(ll_fn):
        curve = lppd_curve(ll_fn(x, y))
        levelled = _levelled_off(curve)
        if levelled is False:
            notes.append("the test LPPD still changes by more than its standard error per "
                         "doubling of the chains: more chains would change it")
    attrs = getattr(posterior, "attrs", None) or {}
    if attrs.get("chains_are_particles"):
        notes.append("the chains are particles of one SMC run and share ancestors through "
                     "resampling: the orbit-spread test and the mode count assume independent "
                     "chains, so a rejection or too few modes may come from the resampling")
    div = attrs.get("warmup_divergences")
    return ManyChainReport(
        num_chains=draws.num_chains, num_draws=draws.num_draws, occupancy_p_value=p_value,
        occupancy_note=occ_note, num_modes=int(modes.num_modes),
        mode_weights=tuple(float(w) for w in modes.weights), chains_needed=int(needed),
        lppd_curve=curve, lppd_levelled_off=levelled,
        warmup_divergences=None if div is None else tuple(int(d) for d in div),
        notes=tuple(notes),
    )
