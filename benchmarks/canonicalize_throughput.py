"""Throughput of the hard canonical form and of align, against a scipy assignment loop.

Network: a tanh MLP 1-16-16-16-1 (3x16, biases; group: permutations and sign flips). Two sets of
draws, both ``--draws`` long:

* ``prior``: iid N(0, 1) draws, every one from a different mode (the hardest case for align);
* ``posterior``: draws from one mode seen through the symmetry, i.e. a random group element applied
  to one reference draw plus N(0, 0.1^2) noise per parameter (what a multi-chain posterior looks
  like: draws near permuted copies of a few modes).

Methods, all on CPU:

* ``canonicalize``: ``jit(vmap(group.canonicalize))`` over all draws at once;
* ``align``: ``symbnn.symmetry.align`` to one reference draw, ``jit`` + ``vmap`` over chunks of
  ``--batch-size`` draws (``lax.map(..., batch_size=...)``; a chunk runs as many sweeps as its
  slowest draw, so small chunks waste less), and on the posterior draws also one ``vmap`` over
  all draws (on prior draws that would run every draw for the slowest one's 10 sweeps);
* ``scipy``: the peer, a Python loop over draws that does what align does (per layer, the same cost
  matrix built in numpy, ``scipy.optimize.linear_sum_assignment``, the sign from the matched inner
  product; first sweep on incoming weights and bias, then full units, until a sweep moves no unit,
  at most 10 sweeps). It runs on the first ``--num-peer-draws`` draws and its per-draw rate is
  extrapolated to all draws (it is linear in the number of draws).

Times are wall clock, measured once including compilation (first call) and once excluding it (a
second call on the same draws). The script also checks that align and the peer agree on the peer's
draws, and records align's recovery rate of planted permutations (and sign flips) for tanh and
relu nets of widths 16 and 64. Usage::

    python benchmarks/canonicalize_throughput.py [--draws 100000] [--out PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, machine_info, write_json  # noqa: E402

from symbnn.nets import MLP  # noqa: E402
from symbnn.symmetry import align, symmetry_of  # noqa: E402

MLP_3X16 = MLP(1, (16, 16, 16), 1, "tanh")
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "canonicalize_throughput.json"
MAX_SWEEPS = 10


# ----------------------------------------------------------------------------------- draws
def make_draws(kind: str, num_draws: int, seed: int):
    """(draws, reference) for the ``prior`` or ``posterior`` workload (see the module doc)."""
    mlp, group = MLP_3X16, symmetry_of(MLP_3X16)
    k_ref, k_draws, k_noise = jax.random.split(jax.random.PRNGKey(seed), 3)
    reference = mlp.init(k_ref)
    keys = jax.random.split(k_draws, num_draws)
    if kind == "prior":
        draws = jax.jit(jax.vmap(mlp.init))(keys)
    else:

        def near(key, noise_key):
            member = group.act(group.sample(key), reference)
            noise = mlp.init(noise_key)
            return {k: member[k] + 0.1 * noise[k] for k in member}

        draws = jax.jit(jax.vmap(near))(keys, jax.random.split(k_noise, num_draws))
    return jax.block_until_ready(draws), reference


# ------------------------------------------------------------------------------- the peer
def _features(p: dict, layer: int, outgoing: bool) -> np.ndarray:
    mlp = MLP_3X16
    parts = [p[mlp.weight_name(layer)].T, p[mlp.bias_name(layer)][:, None]]
    if outgoing:
        parts.append(p[mlp.weight_name(layer + 1)])
    return np.concatenate(parts, axis=1)


def scipy_align(params: dict, reference: dict) -> tuple[dict, int]:
    """One draw aligned to ``reference`` the way symbnn's align does it, with scipy's solver."""
    mlp = MLP_3X16
    p = {k: np.array(v) for k, v in params.items()}
    for sweep in range(MAX_SWEEPS):
        moved = False
        for layer in range(mlp.num_hidden):
            u = _features(p, layer, sweep > 0)
            r = _features(reference, layer, sweep > 0)
            dots = u @ r.T
            cost = (u**2).sum(1)[:, None] + (r**2).sum(1)[None, :] - 2.0 * np.abs(dots)
            rows, cols = linear_sum_assignment(cost)
            perm = np.empty(len(cols), np.int64)
            perm[cols] = rows
            sign = np.where(dots[perm, np.arange(len(perm))] >= 0, 1.0, -1.0).astype(np.float32)
            moved |= bool(np.any(perm != np.arange(len(perm))) or np.any(sign < 0))
            w_in, b = mlp.weight_name(layer), mlp.bias_name(layer)
            w_out = mlp.weight_name(layer + 1)
            p[w_in] = p[w_in][:, perm] * sign
            p[b] = p[b][perm] * sign
            p[w_out] = p[w_out][perm, :] * sign[:, None]
        if not moved:
            return p, sweep + 1
    return p, MAX_SWEEPS


def run_peer(draws: dict, reference: dict, num: int) -> dict:
    ref = {k: np.asarray(v) for k, v in reference.items()}
    host = {k: np.asarray(v[:num]) for k, v in draws.items()}
    out = {k: np.empty_like(v) for k, v in host.items()}
    sweeps = np.empty(num, np.int64)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(num):
        aligned, sweeps[i] = scipy_align({k: v[i] for k, v in host.items()}, ref)
        for k in out:
            out[k][i] = aligned[k]
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    return {
        "seconds": seconds, "cpu_seconds": cpu_seconds, "num_draws_run": num,
        "draws_per_s": num / seconds, "draws_per_cpu_s": num / cpu_seconds,
        "mean_sweeps": float(sweeps.mean()), "sweeps_histogram": np.bincount(sweeps).tolist(),
        "aligned": out,
    }


# --------------------------------------------------------------------------------- timing
def timed(fn, *args, repeats: int = 1) -> dict:
    """First call (with compilation), then the fastest of ``repeats`` further calls."""
    t0 = time.perf_counter()
    result = jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return {"seconds_incl_compile": first, "seconds": best, "cpu_seconds": best_cpu,
            "result": result}


def rate(entry: dict, num_draws: int) -> dict:
    return {
        "seconds": entry["seconds"], "seconds_incl_compile": entry["seconds_incl_compile"],
        "cpu_seconds": entry["cpu_seconds"],
        "draws_per_s": num_draws / entry["seconds"],
        "draws_per_s_incl_compile": num_draws / entry["seconds_incl_compile"],
        "draws_per_cpu_s": num_draws / entry["cpu_seconds"],
    }


def run_workload(kind: str, args) -> dict:
    group = symmetry_of(MLP_3X16)
    draws, reference = make_draws(kind, args.num_draws, args.seed)
    n = args.num_draws

    def align_one(p):
        return align(p, reference, group, max_sweeps=MAX_SWEEPS)

    canon = timed(jax.jit(jax.vmap(group.canonicalize)), draws, repeats=args.repeats)
    chunk_name = f"align_chunked_{args.batch_size}"
    chunked = timed(jax.jit(lambda d: jax.lax.map(align_one, d, batch_size=args.batch_size)),
                    draws, repeats=args.repeats)
    out = {"canonicalize": rate(canon, n), chunk_name: rate(chunked, n)}
    aligns = [chunk_name]
    if kind == "posterior":  # on prior draws one vmap over everything runs every draw 10 sweeps
        out["align_one_vmap"] = rate(timed(jax.jit(jax.vmap(align_one)), draws), n)
        aligns.append("align_one_vmap")
    peer = run_peer(draws, reference, min(args.num_peer_draws, n))
    aligned, m = chunked["result"][0], peer["num_draws_run"]
    diffs = [np.abs(np.asarray(aligned[k][:m]) - peer["aligned"][k]).reshape(m, -1).max(1)
             for k in aligned]
    out["scipy_loop"] = {k: v for k, v in peer.items() if k != "aligned"}
    out["scipy_loop"]["extrapolated_seconds"] = n / peer["draws_per_s"]
    out["align_agrees_with_scipy_fraction"] = float(np.mean(np.max(diffs, axis=0) <= 1e-5))
    best = max(aligns, key=lambda a: out[a]["draws_per_s"])
    out["align_best"] = best
    out["align_over_scipy"] = out[best]["draws_per_s"] / peer["draws_per_s"]
    out["align_incl_compile_over_scipy"] = (
        max(out[a]["draws_per_s_incl_compile"] for a in aligns) / peer["draws_per_s"]
    )
    out["align_over_scipy_per_cpu_s"] = out[best]["draws_per_cpu_s"] / peer["draws_per_cpu_s"]
    out["targets_met"] = {
        "canonicalize_>=_1e5_per_s": out["canonicalize"]["draws_per_s"] >= 1e5,
        "align_>=_50x_scipy": out["align_over_scipy"] >= 50,
    }
    return out


def recovery_rates(num_trials: int = 100) -> dict:
    """Fraction of planted orbit members that align moves back onto their reference (1e-5)."""
    rates = {}
    for activation in ("tanh", "relu"):
        for width in (16, 64):
            mlp = MLP(1, (width,) * 3, 1, activation)
            group = symmetry_of(mlp)

            def trial(key, mlp=mlp, group=group):
                k_ref, k_g = jax.random.split(key)
                reference = mlp.init(k_ref)
                aligned, _ = align(group.act(group.sample(k_g), reference), reference, group)
                return jnp.max(jnp.stack([jnp.max(jnp.abs(aligned[k] - reference[k]))
                                          for k in aligned]))

            keys = jax.random.split(jax.random.PRNGKey(1), num_trials)
            err = np.asarray(jax.jit(jax.vmap(trial))(keys))
            rates[f"{activation}_3x{width}"] = {
                "recovered": int(np.sum(err < 1e-5)), "trials": num_trials,
                "max_abs_error": float(err.max()), "group": list(group.spec.kinds),
            }
    return rates


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", dest="num_draws", type=int, default=100_000)
    parser.add_argument("--num-peer-draws", type=int, default=2000,
                        help="draws the scipy loop runs (its rate is extrapolated)")
    parser.add_argument("--batch-size", type=int, default=32, help="align chunk size (lax.map)")
    parser.add_argument("--workloads", default="posterior,prior")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed calls after the first; the fastest counts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-recovery", action="store_true")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    for name in ("num_draws", "num_peer_draws", "batch_size", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    result = {
        "benchmark": "canonicalize_throughput",
        "network": "tanh MLP 1-16-16-16-1, biases; group: permutations x sign flips",
        "num_draws": args.num_draws,
        "num_peer_draws": args.num_peer_draws,
        "peer": "per draw, per layer: numpy cost matrix + scipy.optimize.linear_sum_assignment, "
                "same sweeps as align; rate measured on num_peer_draws draws, extrapolated",
        "timing": "wall clock; 'seconds' excludes compilation (fastest of --repeats calls "
                  "after the first), 'seconds_incl_compile' is the first call; cpu_seconds is "
                  "this process's CPU time (both cores count), a guard against other load",
        "machine": machine_info(),
        "workloads": {},
    }
    for kind in args.workloads.split(","):
        print(f"workload {kind}: {args.num_draws} draws", flush=True)
        result["workloads"][kind] = res = run_workload(kind, args)
        for key in ("canonicalize", f"align_chunked_{args.batch_size}", "align_one_vmap"):
            if key not in res:
                continue
            r = res[key]
            print(f"  {key:22s} {r['draws_per_s']:12.0f} draws/s "
                  f"({r['draws_per_s_incl_compile']:.0f} incl. compile)", flush=True)
        print(f"  {'scipy_loop':22s} {res['scipy_loop']['draws_per_s']:12.0f} draws/s "
              f"(mean sweeps {res['scipy_loop']['mean_sweeps']:.2f})")
        print(f"  align / scipy: {res['align_over_scipy']:.1f}x "
              f"({res['align_incl_compile_over_scipy']:.1f}x incl. compile, "
              f"{res['align_over_scipy_per_cpu_s']:.1f}x per CPU second); "
              f"agreement {res['align_agrees_with_scipy_fraction']:.4f}", flush=True)
    if not args.skip_recovery:
        result["align_recovery"] = recovery_rates()
        for name, r in result["align_recovery"].items():
            print(f"  recovery {name}: {r['recovered']}/{r['trials']}")
    result["machine"]["loadavg_end"] = list(os.getloadavg())
    path = write_json(args.out, result)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
