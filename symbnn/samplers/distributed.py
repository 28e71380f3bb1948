"""Many chains across processes and machines, on JAX's multi-controller runtime.

``jax.distributed.initialize`` starts (process 0) or joins (the others) a coordination service;
it also finds SLURM, Open MPI and TPU-pod settings by itself. A distributed run
(``symbnn.sample(..., chain_layout="distributed")``) then uses three things of that service:

- :func:`agree`: before anything is sampled every process publishes the fingerprint of its run
  (seed, model, data, settings) and compares it with process 0's, so that a process started with
  other settings is refused, naming what differs;
- :func:`chain_share`: the contiguous share of the chains a process samples; every chain keeps
  the key it has in a one-process run, so the union of the shares is that run's draws;
- :func:`wait_for_all`: a barrier after every process has streamed its chains to the shared
  checkpoint folder; a process lost on the way turns the wait into an error naming it.

The key-value store and barriers are those of ``jax._src.distributed.global_state.client``, the
handle ``jax.experimental.multihost_utils`` uses too (jax has no public name for it).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import time

import jax

__all__ = [
    "DistributedError",
    "agree",
    "chain_share",
    "cluster_detected",
    "initialize",
    "wait_for_all",
]

AGREE_TIMEOUT_S = 600  # how long a process waits for the others to reach the same run
BARRIER_TIMEOUT_S = 30 * 24 * 3600  # the end of sampling: a lost process ends it sooner

_runs = itertools.count()  # every process calls sample() equally often: run ids agree


class DistributedError(RuntimeError):
    """A multi-process run cannot go on: a process is lost, unreachable or runs something else."""


def cluster_detected() -> bool:
    """True under a SLURM or Open MPI launch of more than one task (jax finds its settings)."""
    for var in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"):
        try:
            if int(os.environ.get(var, "1")) > 1:
                return True
        except ValueError:
            pass
    return False


def _parse_address(coordinator: str) -> tuple[str, int]:
    host, sep, port = str(coordinator).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"coordinator must be HOST:PORT (port 1-65535), got {coordinator!r}")
    return host.strip("[]"), int(port)


def _wait_reachable(host: str, port: int, timeout: float) -> None:
    """Poll a TCP connection to the coordinator until it answers or ``timeout`` passes.

    jax aborts the whole process (from C++, with a message about another task dying) when the
    coordinator never answers; this check turns that into an exception that says what happened.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=min(2.0, timeout)):
                return
        except OSError as err:
            if time.monotonic() >= deadline:
                raise DistributedError(
                    f"the coordinator {host}:{port} did not answer within {timeout:g} s ({err}); "
                    "start process 0 first, or check the address and the firewall") from err
            time.sleep(0.2)


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, timeout: int = 300,
               heartbeat_timeout: int = 100) -> None:
    """Start or join a multi-process run (``jax.distributed.initialize``), failing clearly.

    Pass all of ``coordinator`` ("HOST:PORT" of process 0), ``num_processes`` and ``process_id``,
    or none of them under SLURM / Open MPI (jax reads the launcher's settings). A process other
    than 0 first waits up to ``timeout`` seconds for the coordinator to answer and raises
    :class:`DistributedError` if it does not. ``heartbeat_timeout`` is how soon the others stop
    when a process is lost.
    """
    given = [coordinator is not None, num_processes is not None, process_id is not None]
    if any(given) and not all(given):
        raise ValueError("coordinator, num_processes and process_id go together: pass all "
                         "three, or none of them under SLURM / Open MPI")
    for name, value in (("timeout", timeout), ("heartbeat_timeout", heartbeat_timeout)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number of seconds >= 1, got {value!r}")
    if all(given):
        if isinstance(num_processes, bool) or not isinstance(num_processes, int) \
                or num_processes < 1:
            raise ValueError(f"num_processes must be an integer >= 1, got {num_processes!r}")
        if isinstance(process_id, bool) or not isinstance(process_id, int) \
                or not 0 <= process_id < num_processes:
            raise ValueError(f"process_id must be an integer in [0, {num_processes}), got "
                             f"{process_id!r}")
        host, port = _parse_address(coordinator)
        if process_id != 0:
            _wait_reachable(host, port, timeout)
    elif not cluster_detected():
        raise ValueError("no coordinator given and no SLURM / Open MPI launch found: pass "
                         "coordinator, num_processes and process_id")
    jax.distributed.initialize(coordinator, num_processes, process_id,
                               initialization_timeout=timeout,
                               heartbeat_timeout_seconds=heartbeat_timeout)


def _client():
    from jax._src.distributed import global_state

    if global_state.client is None:
        raise DistributedError("chain_layout='distributed' needs jax.distributed.initialize "
                               "(or symbnn.samplers.distributed.initialize) to run first")
    return global_state.client


def chain_share(num_chains: int, num_processes: int, process_index: int) -> tuple[int, int]:
    """The chains ``[lo, hi)`` of one process: contiguous shares differing by at most one."""
    if num_chains < num_processes:
        raise ValueError(f"num_chains must be at least the number of processes "
                         f"({num_processes}), got {num_chains}")
    base, extra = divmod(num_chains, num_processes)
    lo = process_index * base + min(process_index, extra)
    return lo, lo + base + (process_index < extra)


def new_run_id() -> str:
    """A name for the next distributed run, the same in every process."""
    return f"symbnn/run{next(_runs)}"


def agree(run_id: str, fingerprint: dict) -> None:
    """Refuse to go on unless every process runs what process 0 runs.

    Every process publishes ``fingerprint`` (JSON-able) and reads every other one; all of them
    raise the same ValueError when any differs, so none is left waiting.
    """
    client = _client()
    me, count = jax.process_index(), jax.process_count()
    client.key_value_set(f"{run_id}/fingerprint/{me}", json.dumps(fingerprint, sort_keys=True))
    prints = {}
    for p in range(count):
        try:
            prints[p] = json.loads(client.blocking_key_value_get(
                f"{run_id}/fingerprint/{p}", AGREE_TIMEOUT_S * 1000))
        except Exception as err:  # jax raises its runtime error on a timeout
            raise DistributedError(f"process {p} did not reach this run within "
                                   f"{AGREE_TIMEOUT_S} s: {err}") from err
    ref = prints[0]
    for p, other in prints.items():
        diff = sorted(k for k in set(ref) | set(other) if ref.get(k) != other.get(k))
        if diff:
            raise ValueError(
                f"process {p} runs something else than process 0: it differs in {diff} (the "
                "seed is rng_key, the data x and y); start every process with the same seed, "
                "model, data and settings")


def wait_for_all(run_id: str, what: str) -> None:
    """Barrier: return when every process has reached it; a lost process raises instead."""
    try:
        _client().wait_at_barrier(f"{run_id}/{what}", BARRIER_TIMEOUT_S * 1000)
    except Exception as err:
        if isinstance(err, DistributedError):
            raise
        lost = sorted(set(re.findall(r"[Tt]ask (\d+)", str(err))))
        who = f"process {', '.join(lost)}" if lost else "a process"
        raise DistributedError(
            f"{who} of the distributed run was lost before '{what}' ({err}); the chains "
            "already streamed to the checkpoint are kept: rerun the same command with resume "
            "(--resume) to sample only what is missing") from err
