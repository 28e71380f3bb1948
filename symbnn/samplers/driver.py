"""``symbnn.sample``: warm-up and sampling of many chains, in blocks, resumable.

The driver knows no kernel and no space by name: the kernel object (:mod:`.kernels`) tunes, builds
its blackjax algorithm and names its statistics; the :class:`~.spaces.Space` carries the model,
the move after every transition and whether the mass matrix is tied. Programs are jitted once per
static configuration (:func:`_cached`) and take the data as arguments.

(Over 300 lines: ``sample``, its phase helpers and the cached programs they build share the
``_Run`` settings and the cache; split apart they would need each other's private names.)
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from symbnn.samplers import checkpoint as ckpt
from symbnn.samplers import distributed
from symbnn.samplers.bridge import Bridge, make_bridge
from symbnn.samplers.init import INITS, initial_positions
from symbnn.samplers.kernels import Kernel, resolve_kernel
from symbnn.samplers.layouts import batched, local_layout, resolve_layout
from symbnn.samplers.orbit import with_move
from symbnn.samplers.spaces import Space, resolve_space
from symbnn.symmetry.batched import over_draws

__all__ = ["sample"]


class _Run(NamedTuple):
    """The validated static settings of one call."""

    kernel: Kernel
    space: Space
    layout: str
    num_chains: int
    num_warmup: int
    num_draws: int
    block_size: int
    chain_batch_size: int | None
    init: str
    init_steps: int
    init_learning_rate: float


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _cached(builder):
    """``functools.lru_cache`` for program builders, bypassed for unhashable arguments.

    The builders return jitted programs whose arguments are the data and the chain states; their
    static configuration (bridge, kernel, space, layout, lengths) is the cache key, so a second
    run with the same configuration and data shapes compiles nothing.
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


_space = _cached(resolve_space)  # one Space (and move) per configuration: part of cache keys


@functools.partial(jax.jit, static_argnums=1)
def _chain_keys(rng_key, num_chains: int):
    return jax.vmap(lambda c: jax.random.fold_in(rng_key, c))(jnp.arange(num_chains))


def sample(model, x, y, *, rng_key, num_chains: int = 4, num_warmup: int = 1000,
           num_draws: int = 1000, kernel: str | Kernel = "nuts", space: str = "full",
           init: str = "prior", chain_layout: str = "auto", progress: bool = True,
           checkpoint: str | Path | None = None, resume: bool = False, orbit_moves: bool = False,
           block_size: int | None = None, chain_batch_size: int | None = None,
           init_steps: int = 1000, init_learning_rate: float = 1e-2):
    """Sample the posterior of a symbnn BNN model with a blackjax kernel.

    Parameters
    ----------
    model : BNNModel
        From :func:`symbnn.models.bnn`.
    x, y : arrays
        Training inputs (n, in_features) and targets.
    rng_key : jax.Array
        The run's key; the draws are a deterministic function of it and the settings.
    num_chains, num_warmup, num_draws : int
        Chains (>= 1), warm-up steps per chain (>= 0) and kept draws per chain (>= 1).
    kernel : str or Kernel
        A kernel object such as ``symbnn.samplers.NUTS(target_accept=0.9)``, or the name of one
        in ``symbnn.samplers.KERNELS`` (default settings).
    space : {"full", "constrained", "quotient"}
        See :mod:`symbnn.samplers.spaces`.
    init : {"prior", "map", "ensemble"}
    chain_layout : {"auto", "sequential", "vmap", "shard", "distributed"}
        See :mod:`symbnn.samplers.layouts`. ``"distributed"`` (what ``"auto"`` picks when
        ``jax.process_count() > 1``) splits the chains among the processes of a
        ``jax.distributed`` run; it needs ``checkpoint``, a folder every process can read, and
        every process returns the whole Posterior, whose draws equal those of one process.
    progress : bool
        Show a progress bar (tqdm) over warm-up and sampling blocks.
    checkpoint : path, optional
        Folder to stream draws to, block by block; with ``resume=True`` an interrupted run
        continues there and ends with the draws of an uninterrupted run.
    resume : bool
    orbit_moves : bool
        After each transition apply a uniform element of the finite symmetry group (full space).
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

    run = _settings(model, kernel, space, orbit_moves, chain_layout, init, num_chains, num_warmup,
                    num_draws, block_size, chain_batch_size, init_steps, init_learning_rate)
    if resume and checkpoint is None:
        raise ValueError("resume=True needs a checkpoint folder")
    x, y = validate_data(run.space.model, x, y)
    x, y = jnp.asarray(x), jnp.asarray(y)
    k_bridge, k_init, k_warm, k_draw = jax.random.split(rng_key, 4)
    bridge = make_bridge(k_bridge, run.space.model, x, y).bind(None, None)
    meta = _fingerprint(run, x, y, rng_key, orbit_moves)
    share = _share(run, meta, checkpoint, resume)
    bar = tqdm(total=num_warmup + num_draws, desc="warmup", unit="step", leave=False,
               disable=not progress or jax.process_index() != 0)
    t0 = time.perf_counter()
    warm, init_s = _warm_start(run, share, bridge, k_init, k_warm, x, y)
    timings = {"init_s": init_s, "warmup_s": time.perf_counter() - t0 - init_s}
    bar.update(run.num_warmup)
    bar.set_description("sampling")
    t1 = time.perf_counter()
    blocks = _draw_blocks(share.run, bridge, share.folder, warm,
                          _chain_keys(k_draw, run.num_chains)[share.lo:share.hi], x, y, bar)
    bar.close()
    timings["sampling_s"] = time.perf_counter() - t1
    if run.layout == "distributed":
        warm, blocks = _gather(run, bridge, Path(checkpoint), share.run_id)
    return _posterior(run, bridge, warm, blocks, x, y, orbit_moves, timings)


def _settings(model, kernel, space, orbit_moves, chain_layout, init, num_chains, num_warmup,
              num_draws, block_size, chain_batch_size, init_steps, init_learning_rate) -> _Run:
    """Validate every setting (ValueError naming the argument) before anything runs."""
    num_chains = _check_count("num_chains", num_chains, 1)
    num_draws = _check_count("num_draws", num_draws, 1)
    block_size = _check_count("block_size", min(num_draws, 100) if block_size is None
                              else block_size, 1)
    if chain_batch_size is not None:
        chain_batch_size = _check_count("chain_batch_size", chain_batch_size, 1)
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    kernel = resolve_kernel(kernel)
    if kernel.population and init != "prior":
        raise ValueError(f"init must be 'prior' for kernel {kernel.name!r}, whose chains are "
                         f"particles tempered from the prior, got init={init!r}")
    if kernel.population and num_chains < 2:
        raise ValueError(f"num_chains must be >= 2 for kernel {kernel.name!r} (its particles; "
                         f"one particle cannot be reweighted), got {num_chains}")
    if kernel.spaces is not None and space not in kernel.spaces:
        raise ValueError(f"space must be one of {kernel.spaces} for kernel {kernel.name!r}, "
                         f"got {space!r}")
    return _Run(
        kernel=kernel, space=_space(model, space, orbit_moves),
        layout=resolve_layout(chain_layout, num_chains), num_chains=num_chains,
        num_warmup=_check_count("num_warmup", num_warmup, 0), num_draws=num_draws,
        block_size=block_size, chain_batch_size=chain_batch_size, init=init,
        init_steps=init_steps, init_learning_rate=init_learning_rate,
    )


def _fingerprint(run: _Run, x, y, rng_key, orbit_moves) -> dict:
    """What identifies the run: its checkpoint's ``meta.json`` and what processes compare."""
    return ckpt.fingerprint(
        model=run.space.model, x=np.asarray(x), y=np.asarray(y),
        rng_key=np.asarray(jax.random.key_data(rng_key)), num_chains=run.num_chains,
        num_warmup=run.num_warmup, num_draws=run.num_draws, kernel=run.kernel,
        space=run.space.name, init=run.init, orbit_moves=orbit_moves, block_size=run.block_size,
        init_steps=run.init_steps, init_learning_rate=run.init_learning_rate, dtype=str(x.dtype),
    )


class _Share(NamedTuple):
    """What one process samples: chains ``[lo, hi)``, as ``run``, streamed to ``folder``."""

    lo: int
    hi: int
    run: _Run
    folder: Path | None
    run_id: str | None = None  # a distributed run's name in the coordination service


def _share(run: _Run, meta: dict, checkpoint, resume) -> _Share:
    """The chains this process samples, its run over them and its checkpoint folder.

    In one process that is every chain, the run itself and ``checkpoint``. In a distributed run
    the processes first agree on the run (:func:`.distributed.agree`); each samples its
    contiguous share in the layout ``"auto"`` picks for one process and streams it to
    ``checkpoint/process_PPPP`` (a folder all processes can read).
    """
    if run.layout != "distributed":
        folder = None if checkpoint is None else _open_checkpoint(Path(checkpoint), run, meta,
                                                                  resume)
        return _Share(0, run.num_chains, run, folder)
    if checkpoint is None:
        raise ValueError("chain_layout='distributed' needs checkpoint=, a folder every process "
                         "can read: each streams its chains there and all of them read the rest")
    count, me = jax.process_count(), jax.process_index()
    lo, hi = distributed.chain_share(run.num_chains, count, me)
    meta = {**meta, "num_processes": count}
    run_id = distributed.new_run_id()
    distributed.agree(run_id, meta)
    local = run._replace(num_chains=hi - lo, layout=local_layout(hi - lo))
    folder = _open_checkpoint(_process_folder(Path(checkpoint), me), local,
                              {**meta, "process_index": me, "chains": [lo, hi]}, resume)
    return _Share(lo, hi, local, folder, run_id)


def _process_folder(checkpoint: Path, process_index: int) -> Path:
    return checkpoint / f"process_{process_index:04d}"


def _open_checkpoint(folder: Path, run: _Run, meta: dict, resume) -> Path:
    per_draw = 4 * (run.space.model.mlp.num_params + 16) * run.num_chains
    ckpt.check_writable(folder, per_draw * run.num_draws)
    ckpt.open_checkpoint(folder, meta, resume=resume)
    return folder


def _gather(run: _Run, bridge: Bridge, checkpoint: Path, run_id: str):
    """Every process's warm-up and draws, read from the shared folder once all have written."""
    distributed.wait_for_all(run_id, "sampled")
    warms, per_process = [], []
    for p in range(jax.process_count()):
        folder = _process_folder(checkpoint, p)
        warm = ckpt.load_warmup(folder / "warmup.npz", run.kernel, bridge.site_names)
        blocks, _, start = ckpt.restore_blocks(folder, run.kernel, warm.state, run.num_draws)
        if start != run.num_draws:
            raise ckpt.CheckpointError(f"checkpoint {folder} holds {start} of "
                                       f"{run.num_draws} draws after process {p} finished")
        warms.append(warm)
        per_process.append(blocks)
    distributed.wait_for_all(run_id, "gathered")  # nobody leaves while others still read

    def chains(*parts):
        return np.concatenate(parts, axis=0)

    return (jax.tree.map(chains, *warms),
            [jax.tree.map(chains, *same) for same in zip(*per_process, strict=True)])


def _warm_start(run: _Run, share: _Share, bridge: Bridge, k_init, k_warm, x, y):
    """Every chain's :class:`Tuned` after warm-up, and the seconds the starting points took.

    The warm-up is read from the checkpoint if it is there (then no start is computed: 0 s).
    The starting points' seconds are their own cost (a MAP fit or an ensemble).

    Starting points are drawn for all ``run.num_chains`` chains and this process's share kept,
    so that a chain starts where it does in a one-process run.
    """
    warm_file = share.folder / "warmup.npz" if share.folder is not None else None
    if warm_file is not None and warm_file.exists():
        return ckpt.load_warmup(warm_file, run.kernel, bridge.site_names), 0.0
    lo, hi, local = share.lo, share.hi, share.run
    init_program = _init_program(bridge, run.num_chains, run.init, run.space.canonical_start,
                                 run.init_steps, run.init_learning_rate)
    t0 = time.perf_counter()
    starts = jax.block_until_ready(init_program(k_init, x, y))
    init_s = time.perf_counter() - t0
    if run.kernel.population:  # all chains together; each process keeps its share
        program = _population_program(run.kernel, bridge, run.space, run.num_warmup)
        warm = jax.tree.map(lambda a: np.asarray(a)[lo:hi], program(k_warm, starts, x, y))
    else:
        positions = jax.tree.map(lambda a: a[lo:hi], starts)
        program = _warmup_program(local.kernel, bridge, local.space, local.num_warmup,
                                  local.layout, local.num_chains, local.chain_batch_size)
        warm = program(_chain_keys(k_warm, run.num_chains)[lo:hi], positions, shared=(x, y))
    run.kernel.check_tuned(warm.info, run.num_warmup)
    if warm_file is not None:
        ckpt.save_tree(warm_file, warm)
    return warm, init_s


def _draw_blocks(run: _Run, bridge: Bridge, folder, warm, chain_keys, x, y, bar) -> list[dict]:
    """The draws of every chain, block by block (resumed from the checkpoint if any)."""
    blocks, state, start = ckpt.restore_blocks(folder, run.kernel, warm.state, run.num_draws)
    bar.update(start)
    while start < run.num_draws:
        length = min(run.block_size, run.num_draws - start)
        run_block = _block_runner(run.kernel, bridge, run.space, length, run.layout,
                                  run.num_chains, run.chain_batch_size)
        state, draws, stats = run_block(chain_keys, state, warm.params,
                                        np.full(run.num_chains, start), shared=(x, y))
        block = {"position": draws, "stats": stats}
        if folder is not None:
            ckpt.write_block(folder, start, block, state)
        blocks.append(block)
        start += length
        bar.update(length)
    return blocks


def _posterior(run: _Run, bridge: Bridge, warm, blocks, x, y, orbit_moves, timings):
    from symbnn.posterior import Posterior

    def joined(part):
        return jax.tree.map(lambda *a: np.concatenate(a, axis=1), *[b[part] for b in blocks])

    stats = joined("stats")
    reported, notes = run.kernel.report(jax.tree.map(np.asarray, warm.info), stats)
    attrs = {
        "kernel": run.kernel.name, **run.kernel.settings(), "chain_layout": run.layout,
        "init": run.init, "num_warmup": run.num_warmup, "orbit_moves": orbit_moves,
        **reported, **timings,
    }
    if run.kernel.population:  # read by the diagnostics, which assume independent chains
        attrs["chains_are_particles"] = True
    if notes:
        attrs["notes"] = notes
    return Posterior(model=run.space.model, draws=_constrain(bridge, joined("position"), x, y),
                     sample_stats=stats, space=run.space.name, x=np.asarray(x), y=np.asarray(y),
                     attrs=attrs)


@_cached
def _init_program(bridge: Bridge, num_chains, init, canonical, num_steps, learning_rate):
    """Jitted ``(rng_key, x, y) -> starting positions`` (leading chain axis)."""

    def run(rng_key, x, y):
        return initial_positions(
            rng_key, model=bridge.model, bridge=bridge.bind(x, y), x=x, y=y,
            num_chains=num_chains, init=init, canonical=canonical, num_steps=num_steps,
            learning_rate=learning_rate,
        )

    return jax.jit(run)


@_cached
def _warmup_program(kernel: Kernel, bridge: Bridge, space: Space, num_warmup, layout, num_chains,
                    chain_batch_size):
    """Warm-up of every chain: ``call(chain_keys, positions, shared=(x, y))`` -> Tuned."""

    def one_chain(key, position, x, y):
        return kernel.tune(key, position, bridge.bind(x, y).logdensity_fn, num_steps=num_warmup,
                           space=space)

    return batched(one_chain, layout, num_chains, chain_batch_size)


@_cached
def _population_program(kernel: Kernel, bridge: Bridge, space: Space, num_warmup):
    """Jitted ``(rng_key, positions, x, y) -> Tuned`` of all chains tuned together."""

    def run(rng_key, positions, x, y):
        return kernel.tune_population(rng_key, positions, bridge.bind(x, y),
                                      num_steps=num_warmup, space=space)

    return jax.jit(run)


def _thinned(algorithm, steps: int):
    """``step(rng_key, state)`` making ``steps`` transitions; the last transition's info."""
    if steps == 1:
        return algorithm.step

    def step(rng_key, state):
        state, infos = jax.lax.scan(lambda s, k: algorithm.step(k, s), state,
                                    jax.random.split(rng_key, steps))
        return state, jax.tree.map(lambda a: a[-1], infos)

    return step


@_cached
def _block_runner(kernel: Kernel, bridge: Bridge, space: Space, length, layout, num_chains,
                  chain_batch_size):
    """``length`` draws of every chain.

    ``call(chain_keys, state, params, start, shared=(x, y))`` -> (state, positions, stats). Draw
    ``i`` of a chain uses the key ``fold_in(chain_key, i)``, so blocks of any size (and a resumed
    run) give the same draws.
    """

    def one_chain(chain_key, state, params, start, x, y):
        algo = with_move(kernel.algorithm(bridge.bind(x, y).logdensity_fn, params), space.move)
        step_fn = _thinned(algo, kernel.steps_per_draw)

        def step(st, i):
            st, info = step_fn(jax.random.fold_in(chain_key, i), st)
            return st, (st.position, kernel.draw_stats(st, info, params))

        state, (positions, stats) = jax.lax.scan(step, state, start + jnp.arange(length))
        return state, positions, stats

    return batched(one_chain, layout, num_chains, chain_batch_size)


@_cached
def _constrain_program(bridge: Bridge):
    return jax.jit(lambda positions, x, y: jax.vmap(bridge.bind(x, y).constrain_fn)(positions))


def _constrain(bridge: Bridge, positions: dict, x, y) -> dict:
    return over_draws(_constrain_program(bridge), positions, x, y)
