"""Chain layouts: how one per-chain function runs over many chains.

- ``"sequential"``: ``lax.map`` over chains on one device (no lockstep: each chain takes its own
  number of leapfrog steps);
- ``"vmap"``: all chains in lockstep (pays on GPUs and for tiny networks);
- ``"shard"``: ``jax.shard_map`` over a ("chain",) mesh of all devices, ``lax.map`` inside each;
  on CPU set ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` before importing jax;
- ``"auto"``: "shard" with several devices, "vmap" on accelerators or for many chains, else
  "sequential".

Chains are processed in batches of ``chain_batch_size`` so that thousands of chains fit in memory;
the last batch is padded by repeating chains, and the padding is discarded.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np
from jax.sharding import Mesh, PartitionSpec

__all__ = ["LAYOUTS", "batched", "resolve_layout"]

LAYOUTS = ("auto", "sequential", "vmap", "shard")
_VMAP_MIN_CHAINS_CPU = 32


def resolve_layout(layout: str, num_chains: int) -> str:
    """Resolve ``"auto"`` and validate the layout name."""
    if layout not in LAYOUTS:
        raise ValueError(f"chain_layout must be one of {LAYOUTS}, got {layout!r}")
    if layout != "auto":
        return layout
    if jax.device_count() > 1 and num_chains >= jax.device_count():
        return "shard"
    if jax.default_backend() != "cpu" or num_chains >= _VMAP_MIN_CHAINS_CPU:
        return "vmap"
    return "sequential"


def _over_chains(fn: Callable, layout: str) -> Callable:
    """``fn(*args)`` for one chain -> function over a leading chain axis of every argument."""

    def mapped(*args):
        return jax.lax.map(lambda a: fn(*a), args)

    if layout == "sequential":
        return mapped
    if layout == "vmap":
        return jax.vmap(fn)
    mesh = Mesh(np.array(jax.devices()), ("chain",))
    spec = PartitionSpec("chain")
    return jax.shard_map(mapped, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)


def batched(fn: Callable, layout: str, num_chains: int, chain_batch_size: int | None) -> Callable:
    """Run ``fn`` (one chain) over ``num_chains`` chains in batches, under ``layout``.

    Returns a function of the same arguments with a leading chain axis (numpy or jax arrays); it
    returns numpy arrays with a leading axis of ``num_chains``.
    """
    ndev = jax.device_count() if layout == "shard" else 1
    size = num_chains if chain_batch_size is None else min(chain_batch_size, num_chains)
    size = -(-size // ndev) * ndev  # a multiple of the device count
    run = jax.jit(_over_chains(fn, layout))

    def call(*args):
        outs = []
        for start in range(0, num_chains, size):
            idx = np.arange(start, start + size) % num_chains  # pad by repeating chains
            chunk = jax.tree.map(lambda a, idx=idx: a[idx], args)
            out = run(*chunk)
            keep = min(size, num_chains - start)
            outs.append(jax.tree.map(lambda a, keep=keep: np.asarray(a)[:keep], out))
        return jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *outs)

    return call
