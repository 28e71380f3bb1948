"""``symbnn.sample``: adaptation and sampling of many chains, in blocks, resumable."""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from tqdm.auto import tqdm

from symbnn.samplers import checkpoint as ckpt
from symbnn.samplers.bridge import Density, make_density
from symbnn.samplers.init import INITS, initial_positions
from symbnn.samplers.kernels import KernelConfig, build_kernel, build_warmup, draw_stats
from symbnn.samplers.layouts import batched, resolve_layout
from symbnn.samplers.spaces import SPACES, make_move, tie_inverse_mass_matrix

__all__ = ["sample"]


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _model_for_space(model, space: str):
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    reparam = getattr(model, "reparam", None)
    if space == "constrained":
        return model if reparam == "constrained" else dataclasses.replace(
            model, reparam="constrained")
    if reparam == "constrained":
        raise ValueError(
            f"space={space!r} needs a model without reparam='constrained'; use "
            "space='constrained' for that model"
        )
    if space == "quotient":
        if reparam is not None:
            raise ValueError(f"space='quotient' needs reparam=None, got reparam={reparam!r}")
        lacking = [k for k in model.group.spec.kinds if not model.invariant_under(k)]
        if lacking:
            raise ValueError(
                f"space='quotient' needs a prior invariant under the group; the prior "
                f"{model.prior!r} is not invariant under {lacking}"
            )
    return model


@functools.partial(jax.jit, static_argnums=1)
def _chain_keys(rng_key, num_chains: int):
    return jax.vmap(lambda c: jax.random.fold_in(rng_key, c))(jnp.arange(num_chains))


def _cached(builder):
    """``functools.lru_cache`` for program builders, bypassed for unhashable arguments.

    The builders return jitted programs whose arguments are the data and the chain states; their
    static configuration (model, kernel settings, space, layout, lengths) is the cache key, so a
    second run with the same configuration and data shapes compiles nothing.
    """
    cached = functools.lru_cache(maxsize=64)(builder)

    @functools.wraps(builder)
    def get(*args):
        try:
            hash(args)
        except TypeError:
            return builder(*args)
        return cached(*args)

    get.cache_clear = cached.cache_clear
    get.cache_info = cached.cache_info
    return get


@_cached
def _make_move(model, space: str, orbit_moves: bool):
    group = model.group if (space == "quotient" or orbit_moves) else None
    return make_move(space=space, group=group, orbit_moves=orbit_moves, model=model)


def sample(
    model,
    x,
    y,
    *,
    rng_key,
    num_chains: int = 4,
    num_warmup: int = 1000,
    num_draws: int = 1000,
    kernel: str = "nuts",
    space: str = "full",
    init: str = "prior",
    chain_layout: str = "auto",
    progress: bool = True,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    orbit_moves: bool = False,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    num_integration_steps: int = 16,
    step_size: float = 0.1,
    block_size: int | None = None,
    chain_batch_size: int | None = None,
    init_steps: int = 1000,
    init_learning_rate: float = 1e-2,
):
    """Sample the posterior of a symbnn BNN model with blackjax NUTS or HMC.

    Parameters
    ----------
    model : BNNModel
        From :func:`symbnn.models.bnn`.
    x, y : arrays
        Training inputs (n, in_features) and targets.
    rng_key : jax.Array
        The run's key; the draws are a deterministic function of it and the settings.
    num_chains, num_warmup, num_draws : int
        Chains (>= 1), adaptation steps per chain (>= 0) and kept draws per chain (>= 1).
    kernel : {"nuts", "hmc"}
    space : {"full", "constrained", "quotient"}
        See :mod:`symbnn.samplers.spaces`.
    init : {"prior", "map", "ensemble"}
    chain_layout : {"auto", "sequential", "vmap", "shard"}
    progress : bool
        Show a progress bar (tqdm) over warm-up and sampling blocks.
    checkpoint : path, optional
        Folder to stream draws to, block by block; with ``resume=True`` an interrupted run
        continues there and ends with the draws of an uninterrupted run.
    resume : bool
    orbit_moves : bool
        After each transition apply a uniform element of the finite symmetry group (full space).
    target_accept, max_tree_depth, num_integration_steps : float, int, int
        Kernel settings (NUTS: first two; HMC: the last one).
    step_size : float
        Step size when ``num_warmup == 0`` (no adaptation; unit mass matrix).
    block_size : int, optional
        Draws per block (default: min(num_draws, 100)).
    chain_batch_size : int, optional
        Chains per batch; batches run one after another to bound memory.
    init_steps, init_learning_rate : int, float
        Adam settings for ``init="map"`` and ``init="ensemble"``.

    Returns
    -------
    Posterior
    """
    from symbnn.models import validate_data
    from symbnn.posterior import Posterior

    num_chains = _check_count("num_chains", num_chains, 1)
    num_warmup = _check_count("num_warmup", num_warmup, 0)
    num_draws = _check_count("num_draws", num_draws, 1)
    if block_size is None:
        block_size = min(num_draws, 100)
    block_size = _check_count("block_size", block_size, 1)
    if chain_batch_size is not None:
        chain_batch_size = _check_count("chain_batch_size", chain_batch_size, 1)
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if not (isinstance(step_size, int | float) and step_size > 0):
        raise ValueError(f"step_size must be a positive number, got {step_size!r}")
    config = KernelConfig(kernel, target_accept, max_tree_depth, num_integration_steps)
    model = _model_for_space(model, space)
    if orbit_moves and space != "full":
        raise ValueError(f"orbit_moves=True needs space='full', got space={space!r}")
    layout = resolve_layout(chain_layout, num_chains)
    x, y = validate_data(model, x, y)
    x, y = jnp.asarray(x), jnp.asarray(y)
    if resume and checkpoint is None:
        raise ValueError("resume=True needs a checkpoint folder")

    k_bridge, k_init, k_warm, k_draw = jax.random.split(rng_key, 4)
    density = make_density(k_bridge, model, x, y)
    _make_move(model, space, orbit_moves)  # invalid combinations fail here, before any file
    mlp = model.mlp

    folder = Path(checkpoint) if checkpoint is not None else None
    if folder is not None:
        meta = ckpt.fingerprint(
            model=model, x=np.asarray(x), y=np.asarray(y),
            rng_key=np.asarray(jax.random.key_data(rng_key)), num_chains=num_chains,
            num_warmup=num_warmup, num_draws=num_draws, kernel=config, space=space, init=init,
            orbit_moves=orbit_moves, step_size=step_size, block_size=block_size,
            init_steps=init_steps, init_learning_rate=init_learning_rate,
            dtype=str(x.dtype),
        )
        per_draw = 4 * (mlp.num_params + 16) * num_chains
        ckpt.check_writable(folder, per_draw * num_draws)
        ckpt.open_checkpoint(folder, meta, resume=resume)

    bar = tqdm(total=num_warmup + num_draws, disable=not progress, desc="warmup",
               unit="step", leave=False)
    timings = {}
    t0 = time.perf_counter()
    warm_file = folder / "warmup.npz" if folder is not None else None
    if warm_file is not None and warm_file.exists():
        warm = ckpt.load_tree(warm_file)
        ckpt.require_keys(warm_file, warm, _warm_keys(density))
    else:
        init_program = _init_program(density, num_chains, init, space == "quotient",
                                     init_steps, init_learning_rate)
        pos0 = init_program(k_init, x, y)
        warm = _warmup(config, density, space, orbit_moves, pos0, k_warm, num_warmup,
                       step_size, layout, num_chains, chain_batch_size, x, y)
        if warm_file is not None:
            ckpt.save_tree(warm_file, warm)
    timings["warmup_s"] = time.perf_counter() - t0
    bar.update(num_warmup)
    bar.set_description("sampling")

    t1 = time.perf_counter()
    blocks, state, start = _restore(folder, warm, num_draws)
    bar.update(start)
    chain_keys = _chain_keys(k_draw, num_chains)
    while start < num_draws:
        length = min(block_size, num_draws - start)
        run_block = _block_runner(config, density, space, orbit_moves, length, layout,
                                  num_chains, chain_batch_size)
        state, draws, stats = run_block(
            chain_keys, state, warm["step_size"], warm["inverse_mass_matrix"],
            np.full(num_chains, start), shared=(x, y))
        block = {"position": draws, "stats": stats}
        if folder is not None:
            ckpt.save_tree(ckpt.block_path(folder, start), block)
            nxt = np.asarray(start + length)
            ckpt.save_tree(folder / "state.npz", {"state": state, "next": nxt})
        blocks.append(block)
        start += length
        bar.update(length)
    bar.close()
    timings["sampling_s"] = time.perf_counter() - t1

    positions = jax.tree.map(lambda *a: np.concatenate(a, axis=1),
                             *[b["position"] for b in blocks])
    stats = jax.tree.map(lambda *a: np.concatenate(a, axis=1), *[b["stats"] for b in blocks])
    draws = _constrain(density, positions, x, y)
    divergences = {}
    if "divergences" in warm:  # absent in checkpoints of earlier versions
        divergences = {"warmup_divergences": [int(d) for d in np.asarray(warm["divergences"])]}
    return Posterior(
        model=model, draws=draws, sample_stats=stats, space=space,
        x=np.asarray(x), y=np.asarray(y),
        attrs={
            "kernel": config.name, "chain_layout": layout, "init": init,
            "num_warmup": num_warmup, "orbit_moves": orbit_moves,
            "target_accept": target_accept, "max_tree_depth": max_tree_depth,
            "num_integration_steps": num_integration_steps, **divergences, **timings,
        },
    )


@_cached
def _init_program(density: Density, num_chains, init, canonical, num_steps, learning_rate):
    """Jitted ``(rng_key, x, y) -> starting positions`` (leading chain axis)."""

    def run(rng_key, x, y):
        return initial_positions(
            rng_key, model=density.model, bridge=density.bind(x, y), x=x, y=y,
            num_chains=num_chains, init=init, canonical=canonical, num_steps=num_steps,
            learning_rate=learning_rate,
        )

    return jax.jit(run)


@_cached
def _warmup_program(config, density: Density, space, orbit_moves, num_warmup, step_size, layout,
                    num_chains, chain_batch_size):
    """Warm-up of every chain: ``call(chain_keys, positions, shared=(x, y))``."""
    mlp = density.model.mlp
    move = _make_move(density.model, space, orbit_moves)

    def one_chain(key, position, x, y):
        logdensity_fn = density.bind(x, y).logdensity_fn
        if num_warmup > 0:
            warmup = build_warmup(config, logdensity_fn, info_keys=("is_divergent",))
            (state, params), info = warmup.run(key, position, num_warmup)
            eps, imm = params["step_size"], params["inverse_mass_matrix"]
            divergences = jnp.sum(info.info.is_divergent)
        else:
            state = config.algorithm.init(position, logdensity_fn)
            eps = jnp.asarray(step_size, jax.tree.leaves(position)[0].dtype)
            imm = jnp.ones(ravel_pytree(position)[0].shape, eps.dtype)
            divergences = jnp.zeros((), int)
        if space == "quotient":
            imm = tie_inverse_mass_matrix(mlp, position, imm)
            state = move(key, state)
        state = {"position": state.position, "logdensity": state.logdensity,
                 "logdensity_grad": state.logdensity_grad}
        return {"state": state, "step_size": eps, "inverse_mass_matrix": imm,
                "divergences": divergences}

    return batched(one_chain, layout, num_chains, chain_batch_size)


def _warmup(config, density, space, orbit_moves, pos0, rng_key, num_warmup, step_size, layout,
            num_chains, chain_batch_size, x, y):
    """Adapted state, step size, inverse mass matrix and divergence count of every chain."""
    step_size = step_size if num_warmup == 0 else None  # used only without adaptation
    run = _warmup_program(config, density, space, orbit_moves, num_warmup, step_size, layout,
                          num_chains, chain_batch_size)
    return run(_chain_keys(rng_key, num_chains), pos0, shared=(x, y))


@_cached
def _block_runner(config, density: Density, space, orbit_moves, length, layout, num_chains,
                  chain_batch_size):
    """``length`` draws of every chain.

    ``call(chain_keys, state, eps, imm, start, shared=(x, y))`` -> (state, positions, stats).
    """
    move = _make_move(density.model, space, orbit_moves)

    def one_chain(chain_key, state, eps, imm, start, x, y):
        from blackjax.mcmc.hmc import HMCState

        algo = build_kernel(config, density.bind(x, y).logdensity_fn, eps, imm)
        st = HMCState(state["position"], state["logdensity"], state["logdensity_grad"])

        def step(st, i):
            k_kernel, k_move = jax.random.split(jax.random.fold_in(chain_key, i))
            st, info = algo.step(k_kernel, st)
            st = move(k_move, st)
            return st, (st.position, draw_stats(config, st, info, eps))

        st, (positions, stats) = jax.lax.scan(step, st, start + jnp.arange(length))
        out_state = {"position": st.position, "logdensity": st.logdensity,
                     "logdensity_grad": st.logdensity_grad}
        return out_state, positions, stats

    return batched(one_chain, layout, num_chains, chain_batch_size)


def _warm_keys(density: Density) -> list[str]:
    """The entries a warm-up file must hold."""
    keys = ["step_size", "inverse_mass_matrix", "state/logdensity"]
    for name in density.site_names:
        keys += [f"state/position/{name}", f"state/logdensity_grad/{name}"]
    return keys


def _restore(folder, warm, num_draws):
    """Blocks already on disk, the state to continue from, and the next draw index."""
    if folder is None or not (folder / "state.npz").exists():
        return [], warm["state"], 0
    state_file = folder / "state.npz"
    saved = ckpt.load_tree(state_file)
    ckpt.require_keys(state_file, saved, ["next", *(
        f"state/{k}" for k in ckpt.flat_keys(warm["state"]))])
    nxt = np.asarray(saved["next"])
    if nxt.ndim != 0 or nxt.dtype.kind not in "iu" or nxt < 0:
        raise ckpt.CheckpointError(
            f"checkpoint file {state_file} holds next={nxt!r}, not a draw index")
    start = int(nxt)
    blocks, i = [], 0
    while i < start:
        path = ckpt.block_path(folder, i)
        if not path.exists():
            raise ckpt.CheckpointError(f"checkpoint {folder} lacks block {path.name}")
        block = ckpt.load_tree(path)
        ckpt.require_keys(path, block, ["stats/lp", *(
            f"position/{k}" for k in ckpt.flat_keys(warm["state"]["position"]))])
        blocks.append(block)
        i += next(iter(block["stats"].values())).shape[1]
    if i != start or start > num_draws:
        raise ckpt.CheckpointError(f"checkpoint {folder} blocks do not add up to {start} draws")
    return blocks, saved["state"], start


@_cached
def _constrain_program(density: Density):
    return jax.jit(lambda positions, x, y: jax.vmap(density.bind(x, y).constrain_fn)(positions))


def _constrain(density: Density, positions: dict, x, y) -> dict:
    lead = next(iter(positions.values())).shape[:2]
    flat = jax.tree.map(lambda a: a.reshape((-1, *a.shape[2:])), positions)
    sites = _constrain_program(density)(flat, x, y)
    return {k: np.asarray(v).reshape((*lead, *v.shape[1:])) for k, v in sites.items()}
