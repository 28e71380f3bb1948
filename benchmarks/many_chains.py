"""The many-short-chains protocol of Wiese et al. (2023, ECML PKDD), symbnn vs numpyro.

Protocol (supplement of Wiese et al. 2023, as summarised in ``../shared/data/README.md``): a tanh
MLP with one hidden layer of 3 units, N(0, 1) prior on every weight and bias, Gaussian likelihood
with a HalfNormal(1) noise scale; NUTS with 1024 warm-up steps; 1274 independent chains keeping one
draw each; inputs and targets standardised with the statistics of the whole data set; sinusoidal
data and its split from ``--data-dir``. Published: test LPPD -0.53 (0.09), 17 minutes on CPU.

Test LPPD: mean over test points of ``log (1/S) sum_s N(y | f_s(x), sigma_s)`` on the standardised
scale, with standard error ``std / sqrt(n_test)`` (numpy's std, ddof 0).

Configurations, each in a fresh process (timings include compilation):

* symbnn with ``chain_layout`` "vmap" and "sequential" on one CPU device and "shard" on two host
  devices;
* numpyro ``MCMC(NUTS(model), chain_method="vectorized")`` on a subset of the chains
  (``--peer-chains``), its wall time extrapolated linearly to the full number of chains;
* with ``--processes N``: symbnn ``chain_layout="distributed"`` over N processes of one CPU
  device each (a ``jax.distributed`` run on 127.0.0.1), compared with "sequential" in one process
  (speed-up, efficiency = speed-up / N, and whether the draws are bit-identical).

Run ``python benchmarks/many_chains.py`` (``--quick`` for a smoke run). On a cluster, start the
script once per process with ``--coordinator HOST:PORT --num-processes N --process-id I`` (or
under ``srun`` / ``mpirun`` with none of them) and ``--checkpoint DIR`` on a shared file system:
every process samples its share of the protocol's chains and process 0 writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import (
    DEFAULT_DATA_DIR,
    REPO_ROOT,
    add_cluster_flags,
    cluster_config,
    in_cluster,
    machine_info,
    ratio,
    run_worker_group,
    table,
    write_json,
    write_worker_result,
)

PUBLISHED = {"lppd": -0.53, "lppd_se": 0.09, "wall_s": 17 * 60.0, "num_chains": 1274,
             "num_warmup": 1024,
             "source": "Wiese et al. 2023 (ECML PKDD), supplement Table 3, sinusoidal / f1"}
LAYOUTS = ("vmap", "sequential", "shard")


# ------------------------------------------------------------------ worker side
def worker(config: dict) -> None:
    """Run one configuration in this (fresh) process and write its result."""
    from _common import join_cluster, set_host_devices

    set_host_devices(config["devices"])
    join_cluster(config)
    import jax
    from _common import CompileClock

    clock = CompileClock()
    import symbnn
    from symbnn import MLP, diagnostics
    from symbnn.datasets import load
    from symbnn.models import bnn
    from symbnn.posterior import Posterior

    data = load("sinusoidal", data_dir=config["data_dir"], standardize="all")
    mlp = MLP(in_features=1, widths=(3,), out_features=1, activation="tanh",
              output="regression")
    model = bnn(mlp)
    x, y = data.x_train.astype(np.float32), data.y_train.astype(np.float32)
    key = jax.random.PRNGKey(config["seed"])
    n_chains, n_warm = config["num_chains"], config["num_warmup"]
    result = {"devices": jax.device_count(), "num_train": int(x.shape[0]),
              "num_test": int(data.x_test.shape[0])}
    t0, c0 = time.perf_counter(), time.process_time()
    if config["sampler"] == "symbnn":
        post = symbnn.sample(model, x, y, rng_key=key, num_chains=n_chains, num_warmup=n_warm,
                             num_draws=1, chain_layout=config["layout"], progress=False,
                             chain_batch_size=config.get("chain_batch_size"),
                             checkpoint=config.get("checkpoint"),
                             resume=config.get("resume", False))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        result.update(warmup_s=post.attrs["warmup_s"], sampling_s=post.attrs["sampling_s"])
    else:
        from numpyro.infer import MCMC, NUTS

        mcmc = MCMC(NUTS(model), num_warmup=n_warm, num_samples=1, num_chains=n_chains,
                    chain_method="vectorized", progress_bar=False)
        mcmc.run(key, x, y=y, extra_fields=("num_steps", "diverging"))
        jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        post = Posterior.from_numpyro(model, mcmc, x, y)
    result.update(wall_s=wall, cpu_s=cpu, **clock.snapshot())
    ll = post.log_likelihood(data.x_test.astype(np.float32), data.y_test.astype(np.float32))
    lppd, se, _ = diagnostics.lppd(ll)
    stats = post.sample_stats
    steps = stats.get("num_integration_steps", stats.get("num_steps"))
    result.update(lppd=lppd, lppd_se=se, num_draws_total=int(np.prod(ll.shape[:2])),
                  divergences=int(np.sum(stats["diverging"])),
                  mean_leapfrog_last_step=float(np.mean(steps)),
                  max_leapfrog_last_step=int(np.max(steps)),
                  processes=jax.process_count())
    if config.get("draws_path"):
        np.savez(config["draws_path"], **post.draws)
    if config.get("result_path"):
        write_worker_result(config, result)
    return result


# ------------------------------------------------------------------ driver side
def _extrapolate(row: dict, num_chains: int) -> None:
    """Full-protocol wall time of a run on fewer chains: linear in the number of chains."""
    scale = num_chains / row["num_chains"]
    row["extrapolated"] = scale != 1.0
    row["wall_full_s"] = row["wall_s"] * scale
    # compilation does not grow with the number of chains; the rest is taken as linear
    row["wall_full_excl_compile_scaling_s"] = (row["compile_s"]
                                               + (row["wall_s"] - row["compile_s"]) * scale)


COLUMNS = [
    ("name", "config", ""), ("devices", "dev", "d"), ("num_chains", "chains", "d"),
    ("wall_s", "wall s", ".1f"), ("cpu_s", "cpu s", ".1f"), ("compile_s", "compile s", ".1f"),
    ("wall_full_s", "wall full s", ".1f"), ("divergences", "div", "d"),
    ("mean_leapfrog_last_step", "leapfrog", ".1f"), ("lppd", "LPPD", ".3f"),
    ("lppd_se", "(se)", ".3f"),
]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks/results/many_chains.json"))
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 64 chains x (200 warm-up + 1 draw), peer 32 chains")
    parser.add_argument("--chains", dest="num_chains", type=int, default=None, help="default 1274")
    parser.add_argument("--warmup", dest="num_warmup", type=int, default=None, help="default 1024")
    parser.add_argument("--layouts", nargs="+", choices=LAYOUTS, default=list(LAYOUTS))
    parser.add_argument("--subset-layouts", nargs="*", choices=LAYOUTS, default=[],
                        help="symbnn layouts run on --peer-chains chains only (too slow for all)")
    parser.add_argument("--chain-batch-size", type=int, default=None)
    parser.add_argument("--peer-chains", type=int, default=None,
                        help="chains of the numpyro run (default 128; 0 skips the peer)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=3600.0, help="per configuration, s")
    parser.add_argument("--processes", type=int, default=0, metavar="N",
                        help="also run symbnn distributed over N local processes")
    add_cluster_flags(parser)
    parser.add_argument("--checkpoint", metavar="DIR",
                        help="cluster run: the shared folder the processes stream their chains "
                             "to (default: OUT without .json, plus .checkpoint)")
    parser.add_argument("--resume", action="store_true", help="cluster run: continue it")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return {}

    num_chains = args.num_chains or (64 if args.quick else PUBLISHED["num_chains"])
    peer_chains = args.peer_chains if args.peer_chains is not None else (
        32 if args.quick else 128)
    settings = {
        "num_chains": num_chains,
        "num_warmup": args.num_warmup or (200 if args.quick else PUBLISHED["num_warmup"]),
        "num_draws_per_chain": 1, "peer_chains": peer_chains, "seed": args.seed,
        "quick": args.quick, "chain_batch_size": args.chain_batch_size,
        "data_dir": str(Path(args.data_dir).resolve()),
        "model": "MLP 1-3-1 tanh, N(0,1) prior, Gaussian likelihood, sigma ~ HalfNormal(1)",
        "standardize": "all (whole-data statistics)", "dtype": "float32",
    }
    if in_cluster(args):
        return _cluster_process(args, settings)
    configs = [{"name": f"symbnn_{lay}", "sampler": "symbnn", "layout": lay,
                "devices": 2 if lay == "shard" else 1,
                "num_chains": peer_chains if lay in args.subset_layouts else num_chains}
               for lay in args.layouts]
    if args.processes > 1:
        configs.append({"name": f"symbnn_distributed_{args.processes}proc", "sampler": "symbnn",
                        "layout": "distributed", "devices": 1, "processes": args.processes,
                        "num_chains": num_chains})
    if peer_chains:
        configs.append({"name": "numpyro_vectorized", "sampler": "numpyro", "devices": 1,
                        "num_chains": peer_chains})
    report = {"benchmark": "many_chains", "machine": machine_info(), "settings": settings,
              "published": PUBLISHED, "notes": [
                  "wall_s: the sampling call in a fresh process (set-up, JAX tracing and "
                  "compilation, warm-up, the draw); cpu_s: CPU time of the process (all "
                  "threads) over the same span; compile_s: trace + lowering + XLA compile.",
                  "Runs on fewer chains than the protocol (extrapolated=true) report "
                  "wall_full_s = wall_s * num_chains_protocol / num_chains (linear, as asked) "
                  "and wall_full_excl_compile_scaling_s (compilation not scaled); their LPPD "
                  "uses their own, fewer draws.",
                  "The machine is shared with other jobs: see loadavg_start/loadavg_end.",
              ]}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cfg in configs:
            job = {**settings, **cfg, "chain_batch_size": args.chain_batch_size,
                   "draws_path": f"{tmp}/{cfg['name']}.npz", "checkpoint": (
                       f"{tmp}/{cfg['name']}_checkpoint" if cfg.get("processes") else None)}
            print(f"{cfg['name']} ({cfg['num_chains']} chains) ...", file=sys.stderr,
                  flush=True)
            res = run_worker_group(__file__, job, cfg.get("processes", 1),
                                   timeout_s=args.timeout)
            row = {**cfg, **res}
            if "error" in res:
                print(f"  failed: {res['error']}\n{res.get('output_tail', '')}",
                      file=sys.stderr)
            else:
                _extrapolate(row, num_chains)
            rows.append(row)
        report["distributed"] = _distributed_summary(rows, tmp)
    ok = [r for r in rows if "error" not in r]
    symb = [r for r in ok if r["sampler"] == "symbnn"]
    peer = next((r for r in ok if r["sampler"] == "numpyro"), None)
    best = min(symb, key=lambda r: r["wall_full_s"], default=None)
    report["results"] = rows
    report["best_symbnn"] = best["name"] if best else None
    if best is not None:
        report["speedup_vs_published"] = ratio(PUBLISHED["wall_s"], best["wall_full_s"])
        report["lppd_minus_published_in_se"] = (
            (best["lppd"] - PUBLISHED["lppd"]) / np.hypot(best["lppd_se"], PUBLISHED["lppd_se"]))
        report["target_under_3_min"] = bool(best["wall_full_s"] < 180 and not best["extrapolated"])
    if best is not None and peer is not None:
        report["speedup_vs_numpyro (peer wall full / symbnn wall full)"] = ratio(
            peer["wall_full_s"], best["wall_full_s"])
    report["machine"]["loadavg_end"] = list(os.getloadavg())
    dist = report["distributed"]

    print(f"\n== many chains: {num_chains} chains x ({settings['num_warmup']} warm-up + 1 draw), "
          f"sinusoidal, 1x3 tanh")
    print(table(rows, COLUMNS))
    print(f"published: LPPD {PUBLISHED['lppd']} ({PUBLISHED['lppd_se']}), "
          f"{PUBLISHED['wall_s'] / 60:.0f} min")
    if best is not None:
        print(f"best symbnn layout: {best['name']}, {best['wall_full_s']:.1f} s "
              f"(x{report['speedup_vs_published']:.1f} vs published)")
    if best is not None and peer is not None:
        print(f"numpyro vectorized ({peer['num_chains']} chains) extrapolated: "
              f"{peer['wall_full_s']:.1f} s")
    if dist:
        print(f"distributed over {dist['processes']} processes: x{dist['speedup_wall']:.2f} vs "
              f"sequential in one process (efficiency {dist['efficiency_wall']:.0%}; with "
              f"process start-up x{dist['speedup_process']:.2f}), draws bit-identical: "
              f"{dist['draws_equal_sequential']}")
    path = write_json(args.out, report)
    print(f"\nwrote {path}")
    return report


def _distributed_summary(rows: list[dict], folder: str) -> dict | None:
    """Speed-up and draw equality of the distributed run against the sequential one."""
    ok = {r["layout"]: r for r in rows if r["sampler"] == "symbnn" and "error" not in r}
    dist, seq = ok.get("distributed"), ok.get("sequential")
    if dist is None or seq is None or dist["num_chains"] != seq["num_chains"]:
        return None
    a = np.load(f"{folder}/{dist['name']}.npz")
    b = np.load(f"{folder}/{seq['name']}.npz")
    equal = sorted(a.files) == sorted(b.files) and all(
        np.array_equal(a[k], b[k], equal_nan=True) for k in a.files)
    speedup = ratio(seq["wall_s"], dist["wall_s"])
    return {"processes": dist["processes"], "speedup_wall": speedup,
            "efficiency_wall": speedup / dist["processes"],
            "speedup_process": ratio(seq["process_s"], dist["process_s"]),
            "draws_equal_sequential": bool(equal), "target_efficiency": 0.9,
            "note": "wall_s: the sampling call of process 0 (it ends after every process has "
                    "sampled and the draws are gathered); process_s: from starting the "
                    "processes to the last one's exit, start-up and imports included"}


def _cluster_process(args, settings: dict) -> dict:
    """This process's part of a cluster run of the symbnn protocol; process 0 writes JSON."""
    out = Path(args.out)
    config = {**settings, "name": "symbnn_distributed", "sampler": "symbnn",
              "layout": "distributed", "devices": 1, **cluster_config(args),
              "resume": args.resume,
              "checkpoint": args.checkpoint or str(out.with_suffix("")) + ".checkpoint"}
    result = worker(config)
    import jax

    if jax.process_index() != 0:
        return result
    row = {**config, **result}
    _extrapolate(row, settings["num_chains"])
    report = {"benchmark": "many_chains", "machine": machine_info(), "settings": settings,
              "published": PUBLISHED, "results": [row]}
    print(table([row], COLUMNS))
    print(f"\nwrote {write_json(out, report)}")
    return report


if __name__ == "__main__":
    main()
