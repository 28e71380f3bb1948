"""MCLMC (``blackjax.mclmc``), tuned by ``mclmc_find_L_and_step_size``, diagonal preconditioner.

MCLMC (Robnik et al. 2023, "Microcanonical Hamiltonian Monte Carlo", JMLR 24(311); Robnik & Seljak
2024, "Fluctuation without dissipation: Microcanonical Langevin Monte Carlo") is an unadjusted
kernel: its bias is controlled by the energy error, whose variance per dimension the tuning drives
to ``desired_energy_var``. Its state carries a momentum that persists between steps; on the
quotient it is folded with the position (:mod:`symbnn.samplers.orbit`). Tuning runs the same
folded kernel with the preconditioner tied across the units of a layer, as the NUTS mass matrix is.

The warm-up budget ``num_warmup`` is split as 30% step-size tuning, 30% step size and
preconditioner (plus blackjax's extra third of it and a step-size readjustment of a tenth), and 20%
for ``L`` from the autocorrelation time: about ``num_warmup`` transitions in all.

blackjax does not warn when tuning goes wrong; :meth:`MCLMC.report` writes a note, naming the
chains, when a run travels far less than one decoherence length ``L`` (a frozen chain) or when
the energy error is far above its target: one note per kind of problem, however many chains.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from symbnn.samplers.kernels.base import Kernel, Tuned, chains_note, check_positive, span

__all__ = ["MCLMC"]

_FRACTIONS = (0.3, 0.3, 0.2)
# A chain that travels less than a tenth of L over all its draws keeps the memory of its start.
_FROZEN_BELOW = 0.1
# Tuning targets Var[E]/dim = desired_energy_var; 100 times more (a step size about 100^(1/6), so
# 2.2 times too large, for the leapfrog-type scaling Var[E] ~ eps^6) means tuning failed.
_ENERGY_ABOVE = 100.0


@dataclasses.dataclass(frozen=True)
class MCLMC(Kernel):
    """Microcanonical Langevin Monte Carlo.

    Parameters
    ----------
    thinning : int
        Transitions per kept draw (>= 1).
    L : float, optional
        Momentum decoherence length: the start of the tuning, or the value used without warm-up
        (default ``sqrt(dim)``, as in blackjax).
    step_size : float, optional
        Likewise (default ``0.25 sqrt(dim)``).
    desired_energy_var : float
        Target variance of the energy error per dimension (blackjax's default 5e-4).
    """

    name = "mclmc"
    thinning: int = 1
    L: float | None = None
    step_size: float | None = None
    desired_energy_var: float = 5e-4

    def __post_init__(self) -> None:
        check_positive("thinning", self.thinning, integer=True)
        for name in ("L", "step_size"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name))
        check_positive("desired_energy_var", self.desired_energy_var)

    @property
    def state_type(self):
        """``blackjax.mcmc.integrators.IntegratorState``."""
        from blackjax.mcmc.integrators import IntegratorState

        return IntegratorState

    @property
    def params_type(self):
        """``blackjax.adaptation.mclmc_adaptation.MCLMCAdaptationState``."""
        from blackjax.adaptation.mclmc_adaptation import MCLMCAdaptationState

        return MCLMCAdaptationState

    @property
    def steps_per_draw(self) -> int:
        """``thinning``."""
        return int(self.thinning)

    def _start(self, position):
        flat = ravel_pytree(position)[0]
        root = jnp.sqrt(jnp.asarray(flat.size, flat.dtype))
        L = root if self.L is None else jnp.asarray(self.L, flat.dtype)
        eps = 0.25 * root if self.step_size is None else jnp.asarray(self.step_size, flat.dtype)
        return self.params_type(L, eps, jnp.ones_like(flat))

    def tune(self, rng_key, position, logdensity_fn, *, num_steps, space) -> Tuned:
        """Tuning of L, step size and (tied on the quotient) diagonal preconditioner."""
        import blackjax

        k_init, k_tune, k_fold = jax.random.split(rng_key, 3)
        state = blackjax.mcmc.mclmc.init(position, logdensity_fn, k_init)
        params = self._start(position)
        if num_steps > 0:
            base = blackjax.mcmc.mclmc.build_kernel()

            def folded(rng_key, state, logdensity_fn, inverse_mass_matrix, L, step_size):
                k_step, k_move = jax.random.split(rng_key)
                imm = space.tied(state.position, inverse_mass_matrix)
                state, info = base(k_step, state, logdensity_fn, imm, L, step_size)
                return space.move(k_move, state), info

            state, params, _ = blackjax.mclmc_find_L_and_step_size(
                mclmc_kernel=folded, num_steps=num_steps, state=state, rng_key=k_tune,
                logdensity_fn=logdensity_fn, frac_tune1=_FRACTIONS[0],
                frac_tune2=_FRACTIONS[1], frac_tune3=_FRACTIONS[2],
                desired_energy_var=self.desired_energy_var, diagonal_preconditioning=True,
                params=params,
            )
        state, params = space.after_warmup(k_fold, state, params)
        dim = jnp.asarray(params.inverse_mass_matrix.size)
        return Tuned(state, params, {"L": params.L, "step_size": params.step_size, "dim": dim})

    def algorithm(self, logdensity_fn, params):
        """``blackjax.mclmc`` with the tuned parameters."""
        import blackjax

        return blackjax.mclmc(logdensity_fn, L=params.L, step_size=params.step_size,
                              inverse_mass_matrix=params.inverse_mass_matrix)

    def draw_stats(self, state, info, params) -> dict:
        """``lp``, ``energy_change``, ``diverging`` (a reverted NaN step), ``step_size``, ..."""
        dtype = state.logdensity.dtype
        return {
            "lp": state.logdensity,
            "energy_change": info.energy_change,
            "diverging": jnp.logical_not(info.nonans),
            "step_size": jnp.asarray(params.step_size, dtype),
            "L": jnp.asarray(params.L, dtype),
            "num_integration_steps": jnp.asarray(self.thinning, jnp.int32),
        }

    def report(self, info: dict, stats: dict) -> tuple[dict, list[str]]:
        """Tuned L and step size per chain, and :func:`tuning_notes`."""
        attrs = {"tuned_L": np.asarray(info["L"]).tolist(),
                 "tuned_step_size": np.asarray(info["step_size"]).tolist()}
        return attrs, tuning_notes(info, stats, self.thinning, self.desired_energy_var)


def tuning_notes(info: dict, stats: dict, thinning: int, desired_energy_var: float) -> list[str]:
    """One note per kind of problem, naming its chains.

    The kinds: tuning that gave non-finite values, froze, or left the energy error far above its
    target.
    """
    L, eps = np.asarray(info["L"], float), np.asarray(info["step_size"], float)
    dim = np.asarray(info["dim"], float)
    energy = np.asarray(stats["energy_change"], float)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        travel = eps * energy.shape[1] * thinning / L
        var = np.mean(energy**2, axis=1) / dim
    broken = ~(np.isfinite(L) & np.isfinite(eps) & np.isfinite(var))
    frozen = ~broken & (travel < _FROZEN_BELOW)
    hot = ~broken & ~frozen & (var > _ENERGY_ABOVE * desired_energy_var)
    return (chains_note(broken, "MCLMC tuning gave a non-finite L, step_size or energy error; "
                                "start elsewhere (init='map') or pass a smaller step_size")
            + chains_note(frozen, f"MCLMC tuning froze: step_size * steps / L = "
                                  f"{span(travel[frozen])}, far below 1, "
                                  "so the chain hardly moved; raise num_warmup or num_draws, or "
                                  "pass a larger step_size")
            + chains_note(hot, f"MCLMC energy error Var[E]/dim = "
                               f"{span(var[hot])}, "
                               f"{span(var[hot] / desired_energy_var)} "
                               "times desired_energy_var; the draws are biased: raise num_warmup "
                               "or pass a smaller step_size"))
