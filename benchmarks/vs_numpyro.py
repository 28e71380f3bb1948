"""symbnn vs numpyro NUTS on the same numpyro model: wall time, bulk ESS and ESS per second.

Workloads (tanh MLPs, N(0, 1) prior, Gaussian likelihood with HalfNormal(1) noise scale):

* ``sinusoidal_1x50``: 1 hidden layer of 50 units, 200 training points of the synthetic 1-D
  sinusoid (``symbnn.datasets.load("sinusoidal", num_train=200)``); predictions at 20 evenly
  spaced inputs over the training range.
* ``airfoil_2x16``: 2 hidden layers of 16 units on airfoil (``--data-dir``, its ``splits.json``);
  predictions at the first 20 test rows.

Both standardised with training statistics. Each sampler runs 4 chains x (1000 warm-up + 1000
draws) (``--size full``, the issue's protocol; ``--size reduced`` and ``--quick`` take fewer steps)
in its own process, so the timings include JAX compilation. Configurations:

* symbnn with ``chain_layout`` "sequential", "vmap" (one CPU device) and "shard" (two host
  devices, one per core);
* numpyro ``MCMC(NUTS(model))`` with its default chain method on one CPU device (with fewer devices
  than chains numpyro runs the chains one after another);
* numpyro with ``numpyro.set_host_device_count(num_chains)``, numpyro's own advice for parallel
  chains on CPU (with 2 devices and 4 chains it would fall back to sequential chains).

Reported: wall time of the sampling call (compilation included) and the part of it spent
tracing and compiling, minimum bulk ESS (arviz-stats) over the predictive means at the 20 inputs
and over the canonical parameters (``Posterior.canonical()``, sigma included), ESS per second, and
the ratios symbnn / numpyro.

Run ``python benchmarks/vs_numpyro.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from _common import (
    DEFAULT_DATA_DIR,
    REPO_ROOT,
    ess_summaries,
    load_workload,
    machine_info,
    ratio,
    run_numpyro_nuts,
    run_worker,
    table,
    write_json,
    write_worker_result,
)

WORKLOADS = {
    "sinusoidal_1x50": {"widths": (50,), "data": "sinusoidal", "num_train": 200},
    "airfoil_2x16": {"widths": (16, 16), "data": "airfoil", "num_train": None},
}
STEPS = {"full": {"sinusoidal_1x50": (1000, 1000), "airfoil_2x16": (1000, 1000)},
         "reduced": {"sinusoidal_1x50": (1000, 1000), "airfoil_2x16": (100, 100)},
         "quick": {"sinusoidal_1x50": (100, 100), "airfoil_2x16": (50, 50)}}
"""(warm-up, draws) per chain: the issue's protocol; a reduced run (airfoil cut to 100 + 100: its
NUTS trees reach the 1023-step cap, so the protocol costs about an hour per configuration on a
loaded 2-core machine); a smoke run."""
SYMBNN_LAYOUTS = ("sequential", "vmap", "shard")


# ------------------------------------------------------------------ worker side
def _load(workload: str, data_dir: str):
    spec = WORKLOADS[workload]
    return load_workload(spec["data"], data_dir, num_train=spec["num_train"])


def worker(config: dict) -> None:
    """Run one configuration in this (fresh) process and write its result."""
    from _common import set_host_devices

    set_host_devices(config["devices"])
    import jax
    from _common import CompileClock

    clock = CompileClock()
    import symbnn
    from symbnn import MLP
    from symbnn.models import bnn

    data, x_pred = _load(config["workload"], config["data_dir"])
    mlp = MLP(in_features=data.in_features, widths=tuple(WORKLOADS[config["workload"]]["widths"]),
              out_features=1, activation="tanh", output="regression")
    model = bnn(mlp)
    x, y = data.x_train.astype(np.float32), data.y_train.astype(np.float32)
    key = jax.random.PRNGKey(config["seed"])
    n_chains, n_warm, n_draws = config["num_chains"], config["num_warmup"], config["num_draws"]
    result = {"devices": jax.device_count(), "num_params": mlp.num_params,
              "num_train": int(x.shape[0])}
    if config["sampler"] == "symbnn":
        t0, c0 = time.perf_counter(), time.process_time()
        post = symbnn.sample(model, x, y, rng_key=key, num_chains=n_chains, num_warmup=n_warm,
                             num_draws=n_draws, chain_layout=config["layout"], progress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        result.update(warmup_s=post.attrs["warmup_s"], sampling_s=post.attrs["sampling_s"],
                      chain_layout=post.attrs["chain_layout"])
    else:
        post, timing = run_numpyro_nuts(model, x, y, key, num_chains=n_chains, num_warmup=n_warm,
                                        num_draws=n_draws, progress_bar=config["progress_bar"])
        wall, cpu = timing["wall_s"], timing["cpu_s"]
        result["chain_method"] = timing["chain_method"]
    result.update(wall_s=wall, cpu_s=cpu, **clock.snapshot())
    result.update(ess_summaries(post, x_pred, wall, cpu))
    write_worker_result(config, result)


# ------------------------------------------------------------------ driver side
def configurations(num_chains: int) -> list[dict]:
    """The samplers to compare, each with the host device count its process gets."""
    out = [{"name": f"symbnn_{lay}", "sampler": "symbnn", "layout": lay,
            "devices": 2 if lay == "shard" else 1} for lay in SYMBNN_LAYOUTS]
    out.append({"name": "numpyro_default", "sampler": "numpyro", "devices": 1})
    out.append({"name": "numpyro_all_cores", "sampler": "numpyro", "devices": num_chains})
    return out


def _compare(rows: list[dict]) -> dict:
    """ESS/s and wall-time ratios of each symbnn layout to each numpyro configuration."""
    ok = {r["name"]: r for r in rows if "error" not in r}
    symb = [r for r in ok.values() if r["sampler"] == "symbnn"]
    peers = [r for r in ok.values() if r["sampler"] == "numpyro"]
    out = {}
    for s in symb:
        for p in peers:
            out[f"{s['name']}/{p['name']}"] = {
                "ess_pred_per_s": ratio(s["ess_pred_per_s"], p["ess_pred_per_s"]),
                "ess_canonical_per_s": ratio(s["ess_canonical_per_s"],
                                             p["ess_canonical_per_s"]),
                "speed (peer wall / symbnn wall)": ratio(p["wall_s"], s["wall_s"]),
                "ess_pred_per_cpu_s": ratio(s["ess_pred_per_cpu_s"], p["ess_pred_per_cpu_s"]),
            }
    best = max(symb, key=lambda r: r["ess_pred_per_s"], default=None)
    return {"ratios": out, "best_symbnn": best["name"] if best else None}


COLUMNS = [
    ("name", "config", ""), ("devices", "dev", "d"), ("wall_s", "wall s", ".1f"),
    ("cpu_s", "cpu s", ".1f"), ("compile_s", "compile s", ".1f"),
    ("mean_leapfrog_per_draw", "leapfrog/draw", ".1f"),
    ("divergences", "div", "d"), ("min_ess_pred", "ESS pred", ".0f"),
    ("min_ess_canonical", "ESS canon", ".1f"), ("ess_pred_per_s", "ESS/s pred", ".2f"),
    ("ess_canonical_per_s", "ESS/s canon", ".3f"),
]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks/results/vs_numpyro.json"))
    parser.add_argument("--size", choices=list(STEPS), default="full",
                        help="steps per chain: the issue's protocol (full), a reduced run, or a "
                             "smoke run (quick); see STEPS")
    parser.add_argument("--quick", action="store_true", help="same as --size quick")
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS),
                        default=list(WORKLOADS))
    parser.add_argument("--configs", nargs="+", default=None,
                        help="subset of configuration names (default: all)")
    parser.add_argument("--skip", nargs="*", default=[], metavar="WORKLOAD:CONFIG",
                        help="configurations to leave out of one workload")
    parser.add_argument("--chains", dest="num_chains", type=int, default=4)
    parser.add_argument("--warmup", dest="num_warmup", type=int, default=None,
                        help="overrides --size")
    parser.add_argument("--draws", dest="num_draws", type=int, default=None,
                        help="overrides --size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--numpyro-progress-bar", action="store_true",
                        help="numpyro's default progress bar (a Python loop over steps); off by "
                             "default, which lets numpyro compile the whole loop (faster)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="per configuration, s")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return {}

    size = "quick" if args.quick else args.size
    steps = {}
    for workload in args.workloads:
        warm, draws = STEPS[size][workload]
        steps[workload] = {"num_warmup": warm if args.num_warmup is None else args.num_warmup,
                           "num_draws": draws if args.num_draws is None else args.num_draws}
    settings = {
        "num_chains": args.num_chains, "size": size, "steps": steps,
        "protocol_steps": STEPS["full"], "seed": args.seed,
        "numpyro_progress_bar": args.numpyro_progress_bar,
        "data_dir": str(Path(args.data_dir).resolve()),
        "kernel": "NUTS, diagonal mass matrix, target accept 0.8, max tree depth 10 (both)",
        "init": "symbnn: prior draw; numpyro: init_to_uniform (its default)",
        "dtype": "float32",
    }
    configs = configurations(args.num_chains)
    names = {c["name"] for c in configs}
    if args.configs:
        unknown = set(args.configs) - names
        if unknown:
            parser.error(f"unknown --configs {sorted(unknown)}")
        configs = [c for c in configs if c["name"] in args.configs]
    skip = set()
    for item in args.skip:
        workload, _, name = item.partition(":")
        if workload not in WORKLOADS or name not in names:
            parser.error(f"--skip expects WORKLOAD:CONFIG, got {item!r}")
        skip.add((workload, name))
    settings["skipped"] = sorted(f"{w}:{n}" for w, n in skip)
    report = {"benchmark": "vs_numpyro", "machine": machine_info(), "settings": settings,
              "notes": [
                  "wall_s: the sampling call in a fresh process (model set-up, JAX tracing and "
                  "compilation, warm-up, draws, conversion to constrained values); imports and "
                  "data loading excluded. compile_s: JAX trace + lowering + XLA compile time "
                  "inside it (jax.monitoring).",
                  "numpyro_all_cores uses numpyro.set_host_device_count(num_chains), as numpyro's "
                  "warning advises; with 2 devices and 4 chains numpyro falls back to sequential "
                  "chains, i.e. numpyro_default.",
                  "The machine is shared with other jobs: see loadavg_start/loadavg_end.",
              ],
              "workloads": {}}
    for workload in args.workloads:
        rows = []
        for cfg in configs:
            if (workload, cfg["name"]) in skip:
                continue
            job = {**cfg, **steps[workload], "num_chains": args.num_chains, "seed": args.seed,
                   "workload": workload, "data_dir": settings["data_dir"],
                   "progress_bar": args.numpyro_progress_bar}
            print(f"[{workload}] {cfg['name']} ...", file=sys.stderr, flush=True)
            res = run_worker(__file__, job, timeout_s=args.timeout)
            rows.append({**cfg, **res})
            if "error" in res:
                print(f"  failed: {res['error']}\n{res.get('output_tail', '')}", file=sys.stderr)
        comp = _compare(rows)
        report["workloads"][workload] = {"results": rows, **comp}
        print(f"\n== {workload}: {args.num_chains} chains x ({steps[workload]['num_warmup']} "
              f"warm-up + {steps[workload]['num_draws']} draws)")
        print(table(rows, COLUMNS))
        print(f"best symbnn layout (ESS/s of predictions): {comp['best_symbnn']}")
        for pair, r in comp["ratios"].items():
            print(f"  {pair}: ESS/s pred x{_fmt(r['ess_pred_per_s'])}, canon "
                  f"x{_fmt(r['ess_canonical_per_s'])}, speed x"
                  f"{_fmt(r['speed (peer wall / symbnn wall)'])}, ESS/cpu-s pred "
                  f"x{_fmt(r['ess_pred_per_cpu_s'])}")
    report["machine"]["loadavg_end"] = list(os.getloadavg())
    path = write_json(args.out, report)
    print(f"\nwrote {path}")
    return report


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


if __name__ == "__main__":
    main()
