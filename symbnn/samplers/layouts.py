"""Chain layouts: how one per-chain function runs over many chains.

- ``"sequential"``: ``lax.map`` over chains on one device (no lockstep: each chain takes its own
  number of leapfrog steps);
- ``"vmap"``: all chains in lockstep (pays on GPUs and for tiny networks); the vectorised code
  rounds differently, so its draws agree with the other layouts only to float precision at first
  and, chaotic as long trajectories are, not at all after a while;
- ``"shard"``: the chains are split among the local devices and every device runs the sequential
  program on its share; calls are dispatched asynchronously, so the devices work at the same time.
  The per-device program is the sequential one, so the draws are bit-for-bit those of
  ``"sequential"``. (A ``jax.shard_map`` program is partitioned by XLA's SPMD passes, which fuse
  and fold constants differently; its gradients differ in the last bits and NUTS trajectories
  then diverge.) On CPU set ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` before
  importing jax to get N devices;
- ``"distributed"``: the chains are split among the processes of a ``jax.distributed`` run (see
  :mod:`.distributed`), each running its share in the layout "auto" picks for its own devices;
- ``"auto"``: "distributed" when ``jax.process_count() > 1``, else "shard" with several local
  devices (and at least as many chains), else "vmap" on GPU/TPU, else "sequential". On CPU vmap
  does not pay even for many chains: the vectorised NUTS runs every chain to the longest
  trajectory of the batch (measured: 128 chains of a 1x3 tanh network, 1024 NUTS warm-up steps,
  took 318 s with vmap and 58 s sequentially).

Chains are processed in batches of ``chain_batch_size`` so that thousands of chains fit in memory;
the last batch is padded by repeating chains, and the padding is discarded. Arguments shared by all
chains (the data) are passed unmapped, so the compiled program does not depend on their values.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np

__all__ = ["LAYOUTS", "batched", "local_layout", "resolve_layout"]

LAYOUTS = ("auto", "sequential", "vmap", "shard", "distributed")


def resolve_layout(layout: str, num_chains: int) -> str:
    """Resolve ``"auto"`` and validate the layout name."""
    if layout not in LAYOUTS:
        raise ValueError(f"chain_layout must be one of {LAYOUTS}, got {layout!r}")
    if layout != "auto":
        return layout
    if jax.process_count() > 1:
        return "distributed"
    return local_layout(num_chains)


def local_layout(num_chains: int) -> str:
    """What ``"auto"`` picks for ``num_chains`` chains on this process's devices."""
    if jax.local_device_count() > 1 and num_chains >= jax.local_device_count():
        return "shard"
    if jax.default_backend() != "cpu":
        return "vmap"
    return "sequential"


def _over_chains(fn: Callable, layout: str) -> Callable:
    """``fn(*args, *shared)`` for one chain -> ``mapped(args, shared)`` over chains.

    Every leaf of ``args`` has a leading chain axis; ``shared`` goes to every chain as it is.
    """
    if layout == "vmap":
        def vmapped(args, shared):
            return jax.vmap(lambda *a: fn(*a, *shared))(*args)

        return vmapped

    def mapped(args, shared):
        return jax.lax.map(lambda a: fn(*a, *shared), args)

    return mapped


def _to_numpy(tree, keep: int):
    return jax.tree.map(lambda a: np.asarray(a)[:keep], tree)


def batched(fn: Callable, layout: str, num_chains: int, chain_batch_size: int | None) -> Callable:
    """Run ``fn`` (one chain) over ``num_chains`` chains in batches, under ``layout``.

    Returns ``call(*args, shared=())``: ``args`` are ``fn``'s per-chain arguments with a leading
    chain axis (numpy or jax arrays), ``shared`` its trailing arguments common to all chains (not
    mapped; traced, so new values of the same shapes reuse the compiled program). ``call``
    returns numpy arrays with a leading axis of ``num_chains``. Keep the returned function to
    reuse its compilation.
    """
    devices = jax.local_devices() if layout == "shard" else [None]
    ndev = len(devices)
    size = num_chains if chain_batch_size is None else min(chain_batch_size, num_chains)
    size = -(-size // ndev) * ndev  # a multiple of the device count
    per_device = size // ndev
    run = jax.jit(_over_chains(fn, layout))

    def run_batch(chunk, shared):
        if ndev == 1:
            return run(chunk, shared)
        def on_device(i):
            part = jax.tree.map(lambda a: a[i * per_device:(i + 1) * per_device], chunk)
            out = run(*jax.device_put((part, shared), devices[i]))
            return jax.tree.map(np.asarray, out)  # wait here, in this device's thread

        # One host thread per device: the CPU client runs a dispatched program on the calling
        # thread, so plain asynchronous dispatch kept one core busy at a time (measured).
        with ThreadPoolExecutor(max_workers=ndev) as pool:
            parts = list(pool.map(on_device, range(ndev)))
        return jax.tree.map(lambda *p: np.concatenate(p), *parts)

    def call(*args, shared=()):
        shared = tuple(shared)
        outs = []
        for start in range(0, num_chains, size):
            idx = np.arange(start, start + size) % num_chains  # pad by repeating chains
            chunk = jax.tree.map(lambda a, idx=idx: a[idx], args)
            outs.append(_to_numpy(run_batch(chunk, shared), min(size, num_chains - start)))
        return jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *outs)

    return call
