"""MAMS (``blackjax.adjusted_mclmc_dynamic``), tuned by ``adjusted_mclmc_find_L_and_step_size``.

MAMS, the Metropolis-adjusted microcanonical sampler (Robnik, Cohn-Gordon & Seljak 2025,
"Metropolis Adjusted Microcanonical Hamiltonian Monte Carlo"), integrates the isokinetic
(microcanonical) dynamics like MCLMC, but refreshes the momentum fully at the start of every
transition and accepts or rejects the end of the trajectory: unlike MCLMC it is exact. The number
of integration steps of a transition is drawn at random with mean ``L / step_size`` (blackjax's
``make_random_trajectory_length_fn``), from a PRNG key carried in the state
(``random_generator_arg``, raw ``uint32`` key data, so a checkpoint holds it as a plain array).

Tuning (blackjax 1.7.1) runs dual averaging of the step size towards ``target_accept`` at a
trajectory of ``target_num_integration_steps`` steps (``L`` is pinned to that many step sizes),
then estimates the diagonal preconditioner from the draws and tunes the step size again. The
warm-up budget ``num_warmup`` is split as a third of step-size tuning, a third of step-size
tuning while the variances are averaged, and a third of step-size tuning with the new
preconditioner: ``num_warmup`` transitions in all. blackjax's first pass holds ``L`` while the
step shrinks, so its trajectories grow as ``L / step_size`` (3500-8600 steps per transition on
the narrow linear posterior of ``tests/samplers/test_mams.py``; 1005 s against 19 s with the cap
for 4 chains x (50 + 20) on a 3x16 tanh net from a prior start); symbnn caps them at
``target_num_integration_steps`` on average, the length the step is meant to be tuned at. The
warm-up's gradient evaluations per chain are in ``attrs["warmup_gradient_evaluations"]``. On
the quotient the tuning runs the folded kernel with the preconditioner tied across the units of
a layer, as for NUTS and MCLMC.

blackjax does not warn when tuning goes wrong; :meth:`MAMS.report` writes a note, naming the
chains, whose tuned values are not finite or whose acceptance rate over the draws is far from the
target: one note per kind of problem, however many chains.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from symbnn.samplers.kernels.base import (
    Kernel,
    Tuned,
    chains_note,
    check_positive,
    check_probability,
    span,
)

__all__ = ["MAMS"]

# fractions of num_warmup passed to the tuner as (frac_tune1, frac_tune2): it makes
# (frac_tune1 + frac_tune2) * n transitions, then frac_tune1 * n more, so n in all
_FRACTIONS = (1 / 3, 1 / 3)
# A chain whose mean acceptance rate over its draws is further than this from target_accept
# is noted.
_ACCEPT_FAR = 0.2
# gradient evaluations per step of blackjax's isokinetic McLachlan integrator (two position
# updates; the last gradient is kept in the state)
_GRADS_PER_STEP = 2
# the tuner's own start of the step size, times sqrt(dim)
_STEP_START = 0.2


def _raw_key(key):
    """``uint32`` key data of a (typed or raw) PRNG key."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    return key


@dataclasses.dataclass(frozen=True)
class MAMS(Kernel):
    """Metropolis-adjusted microcanonical sampler.

    Parameters
    ----------
    target_accept : float
        Target acceptance rate of the step-size tuning, in (0, 1) (blackjax's ``target``).
    thinning : int
        Transitions per kept draw (>= 1).
    L : float, optional
        Mean trajectory length (``L / step_size`` integration steps per transition on average),
        used without warm-up (``num_warmup=0``); the tuner sets ``L`` itself. Default
        ``target_num_integration_steps * step_size``.
    step_size : float, optional
        The start of the step-size tuning, or the value used without warm-up (default
        ``0.2 sqrt(dim)``, as in blackjax).
    target_num_integration_steps : float
        Mean number of integration steps per transition that the tuner calibrates at and
        keeps (> 1.1, blackjax's floor). Default 8, not blackjax's 2: with 2 steps (a
        near-MALA chain) simulation-based calibration of 1x2 / 1x3 tanh nets failed (min
        p 1e-4 / 1e-9, R = 1000) even with four times the transitions per draw; with 8 it
        passes (min p 0.05 / 0.05), docs/validation.md.
    """

    name = "mams"
    target_accept: float = 0.9
    thinning: int = 1
    L: float | None = None
    step_size: float | None = None
    target_num_integration_steps: float = 8.0

    def __post_init__(self) -> None:
        check_probability("target_accept", self.target_accept)
        check_positive("thinning", self.thinning, integer=True)
        for name in ("L", "step_size"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name))
        check_positive("target_num_integration_steps", self.target_num_integration_steps)
        if not self.target_num_integration_steps > 1.1:
            raise ValueError("target_num_integration_steps must be > 1.1 (blackjax's floor), "
                             f"got {self.target_num_integration_steps!r}")

    @property
    def state_type(self):
        """``blackjax.mcmc.dynamic_hmc.DynamicHMCState``."""
        from blackjax.mcmc.dynamic_hmc import DynamicHMCState

        return DynamicHMCState

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
        eps = (_STEP_START * root if self.step_size is None
               else jnp.asarray(self.step_size, flat.dtype))
        L = (self.target_num_integration_steps * eps if self.L is None
             else jnp.asarray(self.L, flat.dtype))
        return self.params_type(L, eps, jnp.ones_like(flat))

    @staticmethod
    def _steps_fn():
        from blackjax.mcmc.adjusted_mclmc_dynamic import make_random_trajectory_length_fn

        return make_random_trajectory_length_fn(True)

    def tune(self, rng_key, position, logdensity_fn, *, num_steps, space) -> Tuned:
        """Tuning of the step size (L follows it) and (tied on the quotient) preconditioner."""
        import blackjax

        k_arg, k_tune, k_fold = jax.random.split(rng_key, 3)
        state = blackjax.adjusted_mclmc_dynamic.init(position, logdensity_fn, _raw_key(k_arg))
        params = self._start(position)
        if num_steps > 0:
            base = blackjax.mcmc.adjusted_mclmc_dynamic.build_kernel(
                integration_steps_fn=self._steps_fn())
            cap = self.target_num_integration_steps

            def folded(rng_key, state, logdensity_fn, step_size, inverse_mass_matrix,
                       integration_steps_params):
                k_step, k_move = jax.random.split(rng_key)
                imm = space.tied(state.position, inverse_mass_matrix)
                # the tuner's first pass holds L fixed while the step shrinks, so L / step
                # would grow with it (see the module docstring)
                avg = jnp.minimum(integration_steps_params[0], cap)
                state, info = base(k_step, state, logdensity_fn, step_size,
                                   inverse_mass_matrix=imm, integration_steps_params=(avg,))
                return space.move(k_move, state), info

            state, params, steps = blackjax.adjusted_mclmc_find_L_and_step_size(
                mclmc_kernel=folded, logdensity_fn=logdensity_fn, num_steps=num_steps,
                state=state, rng_key=k_tune, target=self.target_accept,
                frac_tune1=_FRACTIONS[0], frac_tune2=_FRACTIONS[1], frac_tune3=0.0,
                diagonal_preconditioning=True, params=params,
                target_num_integration_steps=self.target_num_integration_steps,
            )
        else:
            steps = jnp.zeros((), jnp.int32)
        state, params = space.after_warmup(k_fold, state, params)
        return Tuned(state, params, {"L": params.L, "step_size": params.step_size,
                                     "gradient_evaluations": steps * _GRADS_PER_STEP})

    def algorithm(self, logdensity_fn, params):
        """``blackjax.adjusted_mclmc_dynamic`` with the tuned parameters."""
        import blackjax

        return blackjax.adjusted_mclmc_dynamic(
            logdensity_fn, step_size=params.step_size,
            inverse_mass_matrix=params.inverse_mass_matrix,
            integration_steps_fn=self._steps_fn(),
            integration_steps_params=(params.L / params.step_size,),
        )

    def draw_stats(self, state, info, params) -> dict:
        """``lp``, ``acceptance_rate``, ``diverging``, ``step_size``, ``num_integration_steps``.

        With thinning, the statistics of the last transition of a draw. blackjax's info has no
        energy change (only the proposal's potential energy), so none is recorded.
        """
        dtype = state.logdensity.dtype
        return {
            "lp": state.logdensity,
            "acceptance_rate": info.acceptance_rate,
            "diverging": info.is_divergent,
            "step_size": jnp.asarray(params.step_size, dtype),
            "L": jnp.asarray(params.L, dtype),
            "num_integration_steps": info.num_integration_steps,
        }

    def report(self, info: dict, stats: dict) -> tuple[dict, list[str]]:
        """Tuned L and step size per chain, and :func:`tuning_notes`."""
        attrs = {"tuned_L": np.asarray(info["L"]).tolist(),
                 "tuned_step_size": np.asarray(info["step_size"]).tolist(),
                 "warmup_gradient_evaluations":
                     np.asarray(info["gradient_evaluations"]).tolist()}
        return attrs, tuning_notes(info, stats, self.target_accept)


def tuning_notes(info: dict, stats: dict, target_accept: float) -> list[str]:
    """One note per kind of problem, naming its chains.

    The kinds: tuning that gave non-finite values, an acceptance rate far below or far above the
    target.
    """
    L, eps = np.asarray(info["L"], float), np.asarray(info["step_size"], float)
    accept = np.mean(np.asarray(stats["acceptance_rate"], float), axis=1)
    broken = ~(np.isfinite(L) & np.isfinite(eps) & np.isfinite(accept))
    low = ~broken & (accept < target_accept - _ACCEPT_FAR)
    high = ~broken & (accept > target_accept + _ACCEPT_FAR)
    return (chains_note(broken, "MAMS tuning gave a non-finite L, step_size or acceptance rate; "
                                "start elsewhere (init='map') or pass a smaller step_size")
            + chains_note(low, f"MAMS acceptance rate {span(accept[low])} is far below "
                               f"target_accept={target_accept:g}: the step size "
                               f"{span(eps[low])} is too large for where the chain went; raise "
                               "num_warmup or pass a smaller step_size")
            + chains_note(high, f"MAMS acceptance rate {span(accept[high])} is far above "
                                f"target_accept={target_accept:g}: the step size "
                                f"{span(eps[high])} is smaller than needed and the chain moves "
                                "slowly; raise num_warmup or pass a larger step_size"))
