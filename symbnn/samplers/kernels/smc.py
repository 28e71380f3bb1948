"""Adaptive tempered SMC from the prior to the posterior (``blackjax.adaptive_tempered_smc``).

The chains are the particles. They start as prior draws (canonicalised on the quotient) and are
moved through the tempered posteriors ``prior * likelihood**beta``, ``beta`` from 0 to 1, each
step choosing the next ``beta`` so that the effective sample size of the reweighted particles is
``target_ess`` times their number (Jasra et al. 2011, "Inference for Lévy-driven stochastic
volatility models via adaptive sequential Monte Carlo", Scand. J. Stat. 38). After reweighting
and systematic resampling every particle makes ``num_mcmc_steps`` HMC transitions of
``num_integration_steps`` leapfrog steps on the current tempered posterior (folded on the
quotient, with orbit moves if asked). Between tempering steps the HMC parameters are tuned from
the particles (Buchholz, Chopin & Jacob 2021, "Adaptive tuning of Hamiltonian Monte Carlo within
sequential Monte Carlo", Bayesian Analysis 16(3)): the diagonal inverse mass matrix is the
particles' weighted variance (tied across the units of a layer on the quotient), and the step
size is multiplied by ``exp(mean acceptance - target_accept)``.

This is the kernel's warm-up: it runs over all chains at once (:attr:`Kernel.population`), for at
most ``num_warmup`` tempering steps; a run that has not reached ``beta = 1`` by then stops with a
:class:`~symbnn.samplers.kernels.base.TuningError`. The particles, equally weighted by a last
resampling, then continue as HMC chains on the posterior with the final parameters, so
``num_draws=1`` gives the "many chains, one draw each" shape and more draws refine each particle.

The run records blackjax's estimate of the log marginal likelihood (the sum of the log mean
incremental weights) as ``log_evidence``. These and the other tempering diagnostics
(``tempering_steps``, ``mutation_acceptance`` of the last step, ``mutation_divergences`` of all
particles) describe the whole population and are repeated on every chain;
``gradient_evaluations`` is per particle. The draws after tempering use the mutation kernel,
jittered step size included.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from symbnn.samplers.kernels.base import Tuned, TuningError, check_positive, check_probability
from symbnn.samplers.kernels.hmc import HMCParams, _Hamiltonian

__all__ = ["SMC"]

# Below this mean acceptance of the last mutation the particles hardly moved at the end.
_STUCK_BELOW = 0.1


@dataclasses.dataclass(frozen=True)
class SMC(_Hamiltonian):
    """Adaptive tempered SMC with HMC mutations; particles = chains.

    Parameters
    ----------
    target_ess : float
        Fraction of the particles that the effective sample size keeps at each tempering step,
        in (0, 1): closer to 1 takes more, smaller steps.
    num_mcmc_steps : int
        HMC transitions per particle after each tempering step (>= 1).
    num_integration_steps : int
        Leapfrog steps per HMC transition (>= 1), also for the draws after tempering.
    target_accept : float
        Acceptance rate the step size is steered to, in (0, 1) (0.65: Beskos et al. 2013,
        "Optimal tuning of the hybrid Monte Carlo algorithm", Bernoulli 19(5A)).
    step_size : float
        Step size of the first mutation (on the prior).
    step_range : float
        Every transition uses the tuned step size divided by ``step_range**u``, ``u`` uniform on
        [0, 1) and drawn independently of the state (>= 1; 1: no jitter). Particles in narrow
        regions then still move, where one shared step size leaves them stuck (measured on a
        1x3 tanh net: the particles' median log density -17.5 with 10 against -20.9 without).
    """

    name = "smc"
    population = True
    # the constrained space's prior is not the canonicalised prior draws the particles start as
    spaces = ("full", "quotient")
    target_ess: float = 0.9
    num_mcmc_steps: int = 10
    num_integration_steps: int = 10
    target_accept: float = 0.65
    step_size: float = 0.1
    step_range: float = 10.0

    def __post_init__(self) -> None:
        check_probability("target_ess", self.target_ess)
        check_positive("num_mcmc_steps", self.num_mcmc_steps, integer=True)
        check_positive("num_integration_steps", self.num_integration_steps, integer=True)
        check_probability("target_accept", self.target_accept)
        check_positive("step_size", self.step_size)
        if not (isinstance(self.step_range, int | float) and self.step_range >= 1.0):
            raise ValueError(f"step_range must be a number >= 1, got {self.step_range!r}")

    def _depth(self, info):
        return jnp.zeros_like(info.num_integration_steps)

    def _jittered(self):
        """The HMC transition with the step size over ``step_range**u``, ``u`` uniform.

        ``u`` is drawn afresh every time, independently of the state, so the transition is a
        mixture of invariant kernels.
        """
        from blackjax.mcmc import hmc

        kernel = hmc.build_kernel()

        def step(rng_key, state, logdensity_fn, step_size, inverse_mass_matrix):
            k_jitter, k_step = jax.random.split(rng_key)
            shrink = jnp.exp(-jax.random.uniform(k_jitter) * jnp.log(self.step_range))
            return kernel(k_step, state, logdensity_fn, step_size * shrink, inverse_mass_matrix,
                          self.num_integration_steps)

        return step

    def algorithm(self, logdensity_fn, params):
        """The draws after tempering: the mutation kernel (jittered HMC) on the posterior."""
        from blackjax.base import SamplingAlgorithm
        from blackjax.mcmc import hmc

        jittered = self._jittered()

        def init(position, rng_key=None):
            del rng_key
            return hmc.init(position, logdensity_fn)

        def step(rng_key, state):
            return jittered(rng_key, state, logdensity_fn, params.step_size,
                            params.inverse_mass_matrix)

        return SamplingAlgorithm(init, step)

    def tune(self, rng_key, position, logdensity_fn, *, num_steps, space) -> Tuned:
        """Not for SMC, whose chains are tuned together (:meth:`tune_population`)."""
        raise TypeError("kernel 'smc' tunes all chains together: use tune_population")

    def tune_population(self, rng_key, positions: dict, bridge, *, num_steps: int,
                        space) -> Tuned:
        """Temper every particle (chain) from the prior to the posterior; stacked :class:`Tuned`.

        ``positions`` are prior draws with a leading particle axis; ``bridge`` is bound to the
        data. At most ``num_steps`` tempering steps.
        """
        from blackjax.mcmc import hmc
        from blackjax.smc import adaptive_tempered, resampling

        n = jax.tree.leaves(positions)[0].shape[0]
        jittered = self._jittered()

        def mutation(key, state, logdensity_fn, step_size, inverse_mass_matrix):
            k_step, k_move = jax.random.split(key)
            state, info = jittered(k_step, state, logdensity_fn, step_size, inverse_mass_matrix)
            return space.move(k_move, state), info

        smc_step = adaptive_tempered.build_kernel(
            bridge.logprior_fn, bridge.loglik_fn, mutation, hmc.init, resampling.systematic,
            self.target_ess)
        first = jax.tree.map(lambda a: a[0], positions)
        dtype = ravel_pytree(first)[0].dtype

        def tuned_imm(particles, weights):
            rows = jax.vmap(lambda p: ravel_pytree(p)[0])(particles)
            mean = weights @ rows
            var = weights @ (rows - mean) ** 2
            return space.tied(first, jnp.maximum(var, jnp.finfo(dtype).tiny))

        def body(carry):
            i, key, state, eps, imm, log_z, acc, div = carry
            key, k_step = jax.random.split(key)
            params = {"step_size": eps[None], "inverse_mass_matrix": imm[None]}
            state, info = smc_step(k_step, state, self.num_mcmc_steps, params)
            acc = jnp.mean(info.update_info.acceptance_rate).astype(dtype)
            eps = eps * jnp.exp(acc - self.target_accept)
            div = div + jnp.sum(info.update_info.is_divergent)
            return (i + 1, key, state, eps, tuned_imm(state.particles, state.weights),
                    log_z + info.log_likelihood_increment, acc, div)

        def cond(carry):
            return (carry[2].tempering_param < 1.0) & (carry[0] < num_steps)

        k_loop, k_final = jax.random.split(rng_key)
        state = adaptive_tempered.init(positions)
        state = state._replace(tempering_param=jnp.asarray(0.0, dtype))
        start = (jnp.asarray(0), k_loop, state, jnp.asarray(self.step_size, dtype),
                 tuned_imm(positions, state.weights), jnp.asarray(0.0, dtype),
                 jnp.asarray(jnp.nan, dtype), jnp.asarray(0))
        steps, _, state, eps, imm, log_z, acc, div = jax.lax.while_loop(cond, body, start)
        chosen = resampling.systematic(k_final, state.weights, n)
        particles = jax.tree.map(lambda a: a[chosen], state.particles)
        hmc_states = jax.vmap(lambda p: hmc.init(p, bridge.logdensity_fn))(particles)
        per_chain = {
            "tempering_steps": steps, "tempering": state.tempering_param,
            "log_evidence": log_z, "mutation_acceptance": acc, "mutation_divergences": div,
            "gradient_evaluations": steps * self.num_mcmc_steps * self.num_integration_steps,
        }
        params = HMCParams(jnp.broadcast_to(eps, (n,)), jnp.broadcast_to(imm, (n, imm.size)))
        info = {k: jnp.broadcast_to(jnp.asarray(v), (n,)) for k, v in per_chain.items()}
        return Tuned(hmc_states, params, info)

    def check_tuned(self, info: dict, num_steps: int) -> None:
        """Raise :class:`TuningError` unless tempering reached ``beta = 1``."""
        beta = np.asarray(info["tempering"], float)
        if beta.size and not np.all(beta >= 1.0):
            raise TuningError(
                f"kernel 'smc' reached beta = {float(np.min(beta)):.3g} of 1 after num_warmup="
                f"{num_steps} tempering steps (all chains are particles of one run): raise "
                "num_warmup, or lower target_ess so that each step tempers further"
            )

    def report(self, info: dict, stats: dict) -> tuple[dict, list[str]]:
        """Tempering steps, log evidence, last mutation acceptance; a note if it is tiny."""
        attrs, notes = super().report(info, stats)
        acc = float(np.asarray(info["mutation_acceptance"]).ravel()[0])
        if not acc >= _STUCK_BELOW:
            notes.append(f"all chains: SMC mutation acceptance {acc:.3g} at the last tempering "
                         "step: the particles hardly moved; raise num_mcmc_steps or lower "
                         "step_size")
        return attrs, notes
