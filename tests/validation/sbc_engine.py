"""Many replications of ``symbnn.sample`` under one compilation, for simulation-based calibration.

``symbnn.sample`` builds its log density as a closure over the data and jit-compiles afresh on every
call (measured in tests/validation/test_sbc.py and docs/validation.md: several seconds per call,
most of it compilation). SBC needs hundreds of runs on different data sets, so this module rebuilds
the driver's one-chain program from the library's own pieces (``make_bridge``,
``initial_positions``, ``build_warmup``, ``build_kernel``, ``make_move``,
``tie_inverse_mass_matrix``) with the data as a traced argument, and maps it over replications with
``lax.map``: one compilation per network and space. Keys are split as in
``symbnn.samplers.driver.sample``, so for one data set and one chain the draws are those of
``symbnn.sample`` (checked by ``test_engine_reproduces_sample``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpyro

from symbnn.samplers.bridge import make_bridge
from symbnn.samplers.driver import _model_for_space
from symbnn.samplers.init import initial_positions
from symbnn.samplers.kernels import KernelConfig, build_kernel, build_warmup
from symbnn.samplers.spaces import make_move, tie_inverse_mass_matrix


def one_run(model, space: str, config: KernelConfig, rng_key, x, y, *, num_warmup: int,
            num_draws: int):
    """One chain of ``symbnn.sample(model, x, y, rng_key=rng_key, num_chains=1, ...)``.

    Returns the constrained site values of the draws, (num_draws, ...) per site. Traceable: ``x``
    and ``y`` may be tracers.
    """
    model = _model_for_space(model, space)
    k_bridge, k_init, k_warm, k_draw = jax.random.split(rng_key, 4)
    bridge = make_bridge(k_bridge, model, x, y)
    group = model.group if space == "quotient" else None
    move = make_move(space=space, group=group, orbit_moves=False, model=model)
    pos0 = initial_positions(k_init, model=model, bridge=bridge, x=x, y=y, num_chains=1,
                             init="prior", canonical=space == "quotient")
    position = jax.tree.map(lambda a: a[0], pos0)
    chain = jnp.asarray(0)
    warm_key = jax.random.fold_in(k_warm, chain)
    warmup = build_warmup(config, bridge.logdensity_fn)
    (state, params), _ = warmup.run(warm_key, position, num_warmup)
    eps, imm = params["step_size"], params["inverse_mass_matrix"]
    if space == "quotient":
        imm = tie_inverse_mass_matrix(model.mlp, position, imm)
        state = move(warm_key, state)
    algo = build_kernel(config, bridge.logdensity_fn, eps, imm)
    chain_key = jax.random.fold_in(k_draw, chain)

    def step(st, i):
        k_kernel, k_move = jax.random.split(jax.random.fold_in(chain_key, i))
        st, info = algo.step(k_kernel, st)
        st = move(k_move, st)
        return st, (st.position, info.is_divergent)

    _, (positions, diverging) = jax.lax.scan(step, state, jnp.arange(num_draws))
    return jax.vmap(bridge.constrain_fn)(positions), diverging


@dataclasses.dataclass(frozen=True)
class SBCSetup:
    """What one SBC study runs: the model, the space, the fixed inputs and the chain lengths."""

    model: object
    space: str
    x: jax.Array
    num_warmup: int
    num_draws: int
    config: KernelConfig = KernelConfig()


def simulate_and_sample(setup: SBCSetup, rng_key):
    """One SBC replication: truth from the prior, y from the truth, then the sampler's draws.

    Returns ``(truth_sites, draws_sites, num_divergences)``.
    """
    k_prior, k_run = jax.random.split(rng_key)
    sim = numpyro.infer.Predictive(setup.model, num_samples=1)(k_prior, setup.x)
    truth = {k: v[0] for k, v in sim.items()}
    y = truth.pop("y")
    draws, diverging = one_run(setup.model, setup.space, setup.config, k_run, setup.x, y,
                               num_warmup=setup.num_warmup, num_draws=setup.num_draws)
    return truth, draws, diverging.sum()


def run_replications(setup: SBCSetup, rng_key, num_replications: int):
    """All replications, one after another (``lax.map``) in one compiled program."""
    keys = jax.random.split(rng_key, num_replications)
    fn = jax.jit(lambda ks: jax.lax.map(lambda k: simulate_and_sample(setup, k), ks))
    return fn(keys)
