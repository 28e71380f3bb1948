"""Every sampler on the same models and data, in one run: numpyro NUTS, symbnn NUTS, new kernels.

Workloads (tanh MLPs, N(0, 1) prior on every weight and bias, Gaussian likelihood with a
HalfNormal(1) noise scale):

* ``sinusoidal_1x50``: vs_numpyro.py's workload: 1 hidden layer of 50 units, 200 training points
  of the synthetic sinusoid (``seed=0``), standardised with training statistics; predictions
  monitored at 20 evenly spaced inputs; test LPPD on 200 test points of the same generator.
* ``airfoil_f2``, ``yacht_f2``: the f2 protocol of reproduce_table.py (3 hidden layers of 16,
  whole-data standardisation, the split of ``splits.json`` in ``--data-dir``); predictions
  monitored at the first 20 test rows; test LPPD on the test split.

Configurations (:data:`CONFIGS`), each in a fresh process so that its wall time includes JAX
compilation: ``numpyro_default`` (numpyro ``MCMC(NUTS(model))`` on one CPU device),
``numpyro_all_cores`` (``set_host_device_count(num_chains)``), ``symbnn_nuts``, and for every
kernel of :data:`NEW_KERNELS` one configuration with prior starts (``<kernel>_prior``) and one
with deep-ensemble starts (``<kernel>_ensemble``). A kernel not (yet) in
``symbnn.samplers.KERNELS`` is skipped with a note. symbnn runs use ``--layout`` (default
"auto": "shard" over ``--devices`` CPU devices).

Sizes (:data:`SIZES`, chains x (warm-up + draws)): NUTS and the new kernels get the same chains,
warm-up steps and kept draws on the sinusoid (MCLMC and MAMS keep every ``thinning``-th
transition, :data:`THINNING`); on f2 the new kernels run many chains (ensemble members) and the
NUTS configurations, whose trees hit the 1023-step cap, either reuse the stored many-chain cells
of reproduce_table.py (``--f2-nuts stored``, the default; symbnn NUTS only, one draw per chain,
so no ESS or R-hat), run a few chains (``--f2-nuts run``, ``--f2-nuts-chains``), or are skipped.

Reported per configuration: wall time (compilation included; for ensemble starts also the cost of
fitting the ensemble alone, ``ensemble_s``: ``Posterior.attrs["init_s"]``, compilation
included), gradient evaluations (:func:`gradient_counts`), min bulk ESS of the predictive
means per second and per gradient evaluation, max canonical R-hat,
test LPPD and the LPPD of the first 1, 2, 4, ... chains. Results merge into ``--out`` by
workload and configuration, so parts can be run separately; the Markdown table (:func:`markdown`)
is written next to it.

Run ``python benchmarks/samplers.py`` (``--quick`` for a smoke run; ``--workloads``,
``--configs`` for parts; ``--table-only`` to rebuild the table).
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
    ENSEMBLE_STEPS,
    GRADS_PER_STEP,
    KERNEL_THINNING,
    REPO_ROOT,
    gradient_counts,
    is_population,
    machine_info,
    mams_tuning_transitions,  # noqa: F401 (part of this script's interface, tested)
    mclmc_tuning_transitions,  # noqa: F401
    ratio,
    reported_warmup,
    run_worker,
    table,
    write_json,
    write_worker_result,
)

from symbnn.cli import count

WORKLOADS = {
    "sinusoidal_1x50": {"widths": (50,), "data": "sinusoidal", "num_train": 200,
                        "num_test": 200, "standardize": "train"},
    "airfoil_f2": {"widths": (16, 16, 16), "data": "airfoil", "num_train": None,
                   "num_test": None, "standardize": "all"},
    "yacht_f2": {"widths": (16, 16, 16), "data": "yacht", "num_train": None,
                 "num_test": None, "standardize": "all"},
}
NEW_KERNELS = ("mclmc", "mams", "smc")
"""Kernels compared with NUTS, each with prior and ensemble starts; adding one is one entry."""
INITS = ("prior", "ensemble")
THINNING = KERNEL_THINNING
"""Transitions per kept draw (``--thinning KERNEL=N``; ``_common.KERNEL_THINNING``)."""
# (chains, warm-up, draws) per workload and family ("nuts": numpyro and symbnn NUTS; "new")
SIZES = {
    "full": {
        "sinusoidal_1x50": {"nuts": (4, 1000, 1000), "new": (4, 1000, 1000),
                            "particles": (256, 1000, 20)},
        "airfoil_f2": {"nuts": (2, 1024, 200), "new": (64, 1000, 200),
                       "particles": (256, 1000, 4)},
        "yacht_f2": {"nuts": (2, 1024, 200), "new": (64, 1000, 200),
                     "particles": (256, 1000, 4)},
    },
    "quick": {
        "sinusoidal_1x50": {"nuts": (4, 100, 100), "new": (4, 100, 100),
                            "particles": (32, 200, 5)},
        "airfoil_f2": {"nuts": (2, 20, 10), "new": (4, 50, 20), "particles": (16, 200, 4)},
        "yacht_f2": {"nuts": (2, 20, 10), "new": (4, 50, 20), "particles": (16, 200, 4)},
    },
}
"""For "particles" (SMC) the warm-up is the cap on tempering steps and the draws are HMC
transitions of every particle after tempering (enough for ESS and R-hat over the particles)."""
TARGET = {"workload": "sinusoidal_1x50", "peer": "numpyro_all_cores", "min_ratio": 5.0,
          "max_rhat": 1.01,
          "text": "sinusoidal 1-50-1: best new kernel >= 5x numpyro NUTS on all cores in ESS/s of "
                  "predictions, canonical R-hat < 1.01"}
STORED_DIR = REPO_ROOT / "benchmarks/results/reproduce_table"


def configurations() -> list[dict]:
    """Every configuration, with its sampler family; kernels are checked later, by the driver."""
    out = [{"name": "numpyro_default", "sampler": "numpyro", "family": "nuts", "kernel": "nuts"},
           {"name": "numpyro_all_cores", "sampler": "numpyro", "family": "nuts",
            "kernel": "nuts", "all_cores": True},
           {"name": "symbnn_nuts", "sampler": "symbnn", "family": "nuts", "kernel": "nuts",
            "init": "prior"}]
    out += [{"name": f"{k}_{init}", "sampler": "symbnn",
             "family": "particles" if is_population(k) else "new", "kernel": k, "init": init}
            for k in NEW_KERNELS for init in INITS if not is_population(k) or init == "prior"]
    return out


CONFIG_NAMES = [c["name"] for c in configurations()]


# ------------------------------------------------------------------ worker side
def _kernel(name: str, thinning: dict):
    """The kernel object of ``name`` with its thinning, or None when it is not registered."""
    from symbnn.samplers import KERNELS

    if name not in KERNELS:
        return None
    options = {"thinning": thinning[name]} if name in thinning else {}
    return KERNELS[name](**options)


def worker(config: dict) -> None:
    """Run one configuration in this (fresh) process and write its result."""
    from _common import (
        NUM_PREDICT,
        canonical_rhat,
        ess_summaries,
        load_workload,
        lppd_by_num_chains,
        set_host_devices,
    )

    set_host_devices(config["devices"])
    import jax
    from _common import CompileClock

    clock = CompileClock()
    import symbnn
    from symbnn import MLP, diagnostics
    from symbnn.models import bnn

    spec = WORKLOADS[config["workload"]]
    data, x_pred = load_workload(spec["data"], config["data_dir"], num_train=spec["num_train"],
                                 num_test=spec["num_test"] or NUM_PREDICT,
                                 standardize=spec["standardize"])
    mlp = MLP(in_features=data.in_features, widths=tuple(spec["widths"]), out_features=1,
              activation="tanh", output="regression")
    model = bnn(mlp)
    x, y = data.x_train.astype(np.float32), data.y_train.astype(np.float32)
    key = jax.random.PRNGKey(config["seed"])
    sizes = {k: config[k] for k in ("num_chains", "num_warmup", "num_draws")}
    result = {"devices": jax.device_count(), "num_params": mlp.num_params,
              "num_train": int(x.shape[0]), "num_test": int(data.x_test.shape[0])}
    thinning = 1
    if config["sampler"] == "numpyro":
        from _common import run_numpyro_nuts

        post, timing = run_numpyro_nuts(model, x, y, key, progress_bar=False, **sizes)
        wall, cpu = timing["wall_s"], timing["cpu_s"]
        result["chain_method"] = timing["chain_method"]
        kernel_name = "numpyro"
    else:
        kernel = _kernel(config["kernel"], config["thinning"])
        thinning = kernel.steps_per_draw
        t0, c0 = time.perf_counter(), time.process_time()
        post = symbnn.sample(model, x, y, rng_key=key, kernel=kernel, init=config["init"],
                             chain_layout=config["layout"], progress=False, **sizes)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        result.update(warmup_s=post.attrs["warmup_s"], sampling_s=post.attrs["sampling_s"],
                      chain_layout=post.attrs["chain_layout"], thinning=thinning,
                      kernel_settings=kernel.settings(), sampler_notes=post.attrs.get("notes", []))
        kernel_name = config["kernel"]
    result.update(wall_s=wall, cpu_s=cpu, **clock.snapshot())
    if config.get("init") == "ensemble":
        result["ensemble_s"] = post.attrs["init_s"]  # sample() times the starts apart
    result.update(ess_summaries(post, x_pred, wall, cpu))
    result.update(canonical_rhat(post))
    ll = post.log_likelihood(data.x_test.astype(np.float32), data.y_test.astype(np.float32))
    lp = diagnostics.lppd(ll)
    result.update(lppd=lp.mean, lppd_se=lp.se, lppd_by_num_chains=lppd_by_num_chains(ll))
    stats = post.sample_stats
    steps = stats.get("num_integration_steps", stats.get("num_steps"))
    grads = gradient_counts(
        kernel_name, steps, num_warmup=config["num_warmup"], thinning=thinning,
        ensemble_members=config["num_chains"] if config.get("init") == "ensemble" else 0,
        reported_warmup=reported_warmup(post.attrs))
    result.update(grads)
    result["ess_pred_per_grad"] = result["min_ess_pred"] / grads["grad_evals"]
    write_worker_result(config, result)


# ------------------------------------------------------------------ driver side
def stored_nuts_row(workload: str, stored_dir: Path = STORED_DIR) -> dict | None:
    """symbnn NUTS on an f2 workload from reproduce_table.py's stored many-chain cell, or None.

    The cell keeps one draw per chain: wall time, LPPD and its curve over chains are there; ESS
    and R-hat are not defined. Gradients: (warm-up + 1) x the mean leapfrog steps per chain
    (warm-up estimated from the sampling transitions, as in :func:`gradient_counts`).
    """
    dataset = WORKLOADS[workload]["data"]
    path = Path(stored_dir) / f"{dataset}_f2_many.json"
    if not path.exists():
        return None
    cell = json.loads(path.read_text())
    if "error" in cell or cell.get("lppd") is None:
        return None
    chains, warm, mean = cell["num_chains"], cell["num_warmup"], cell["mean_leapfrog"]
    curve = cell["lppd_by_num_draws"]
    return {
        "name": "symbnn_nuts", "sampler": "symbnn", "family": "nuts", "kernel": "nuts",
        "init": "prior", "source": f"stored: {path.relative_to(REPO_ROOT)}",
        "num_chains": chains, "num_warmup": warm, "num_draws": cell["num_draws"],
        "wall_s": cell["wall_s"], "compile_s": cell.get("compile_s"),
        "devices": cell.get("devices"), "chain_layout": cell.get("layout"),
        "lppd": cell["lppd"], "lppd_se": cell["lppd_se"],
        "lppd_by_num_chains": {"num_chains": curve["num_draws"], "lppd": curve["lppd"],
                               "lppd_se": curve["lppd_se"]},
        "mean_leapfrog_per_draw": mean, "divergences": cell.get("divergences"),
        "grad_evals_sampling": chains * cell["num_draws"] * mean,
        "grad_evals_warmup": chains * warm * mean, "grad_evals_ensemble": 0.0,
        "grad_evals": chains * (warm + cell["num_draws"]) * mean,
        "grad_evals_warmup_how": "estimated: warm-up steps x the mean leapfrog steps per "
                                 "sampling transition (the trees are at the 1023-step cap)",
        "finished": cell.get("finished"),
    }


def parse_thinning(items: list[str]) -> dict[str, int]:
    """``["mclmc=20"]`` -> THINNING updated; SystemExit naming ``--thinning`` otherwise."""
    out = dict(THINNING)
    for item in items:
        name, _, value = item.partition("=")
        if name not in ("mclmc", "mams") or not value.isdigit() or int(value) < 1:
            raise SystemExit(f"--thinning: expected KERNEL=N with KERNEL in mclmc, mams and "
                             f"N >= 1, got {item!r}")
        out[name] = int(value)
    return out


def plan(args, size: str) -> list[tuple[str, dict]]:
    """(workload, job) pairs to run; a job with ``"skip"`` or ``"stored"`` is not run."""
    from symbnn.samplers import KERNELS

    jobs = []
    names = args.configs or CONFIG_NAMES
    thinning = parse_thinning(args.thinning)
    for workload in args.workloads:
        f2 = workload.endswith("_f2")
        for cfg in configurations():
            if cfg["name"] not in names:
                continue
            chains, warm, draws = SIZES[size][workload][cfg["family"]]
            if cfg["family"] != "nuts" or not f2:
                chains = args.num_chains or chains
            elif args.f2_nuts_chains:
                chains = args.f2_nuts_chains
            warm = warm if args.num_warmup is None else args.num_warmup
            draws = args.num_draws or draws
            job = {**cfg, "workload": workload, "num_chains": chains, "num_warmup": warm,
                   "num_draws": draws, "seed": args.seed, "thinning": thinning,
                   "data_dir": str(Path(args.data_dir).resolve())}
            if cfg["sampler"] == "numpyro":
                job["devices"] = chains if cfg.get("all_cores") else 1
            else:
                job["devices"] = min(args.devices, chains)
                job["layout"] = args.layout
            if cfg["kernel"] not in KERNELS and cfg["sampler"] == "symbnn":
                job["skip"] = (f"kernel {cfg['kernel']!r} is not in symbnn.samplers.KERNELS "
                               f"{sorted(KERNELS)}")
            elif f2 and cfg["family"] == "nuts" and args.f2_nuts != "run":
                if args.f2_nuts == "stored" and cfg["sampler"] == "symbnn":
                    job["stored"] = True
                else:
                    job["skip"] = (f"--f2-nuts {args.f2_nuts}: NUTS on f2 not run (trees at the "
                                   "1023-step cap); pass --f2-nuts run")
            jobs.append((workload, job))
    return jobs


def compare(rows: list[dict]) -> dict:
    """The best new-kernel configuration by ESS/s of predictions and its ratios to each NUTS
    configuration (ESS/s and ESS per gradient of predictions)."""
    ok = {r["name"]: r for r in rows if r.get("min_ess_pred") is not None}
    new = [r for r in ok.values() if r["family"] != "nuts"]
    best = max(new, key=lambda r: r["ess_pred_per_s"], default=None)
    out = {"best_new": best["name"] if best else None, "ratios": {}}
    if best is None:
        return out
    for peer in ("numpyro_default", "numpyro_all_cores", "symbnn_nuts"):
        if peer in ok:
            out["ratios"][peer] = {
                "ess_pred_per_s": ratio(best["ess_pred_per_s"], ok[peer]["ess_pred_per_s"]),
                "ess_pred_per_grad": ratio(best["ess_pred_per_grad"],
                                           ok[peer]["ess_pred_per_grad"]),
            }
    return out


def judge_target(workload: str, rows: list[dict], comparison: dict) -> dict | None:
    """The issue's target on its workload: met, or which part is missing."""
    if workload != TARGET["workload"]:
        return None
    best = comparison.get("best_new")
    r = comparison["ratios"].get(TARGET["peer"], {}).get("ess_pred_per_s")
    row = next((x for x in rows if x["name"] == best), None)
    rhat = None if row is None else row.get("canonical_rhat")
    out = {"target": TARGET["text"], "best_new": best, "ratio_ess_pred_per_s": r,
           "canonical_rhat": rhat}
    out["met"] = bool(r is not None and rhat is not None and r >= TARGET["min_ratio"]
                      and rhat < TARGET["max_rhat"])
    return out


def _num(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _curve(row: dict) -> str:
    curve = row.get("lppd_by_num_chains")
    if not curve:
        return "-"
    return " / ".join(f"{v:.2f}" for v in curve["lppd"]) + f" (S = {curve['num_chains'][0]}"\
        f"..{curve['num_chains'][-1]})"


def markdown(report: dict) -> str:
    """One Markdown table per workload: a row per configuration (run, stored or skipped)."""
    out = []
    header = ("| config | chains x (warm-up + draws) | wall s (ensemble s) | gradient evals | "
              "ESS/s pred | ESS/1k grad pred | canonical R-hat | test LPPD (se) | "
              "LPPD of first 1, 2, 4, ... chains |")
    for workload, part in report.get("workloads", {}).items():
        out += [f"**{workload}**", "", header, "|---|---|---|---|---|---|---|---|---|"]
        for row in part["results"]:
            size = f"{row.get('num_chains')} x ({row.get('num_warmup')} + {row.get('num_draws')})"
            if "skipped" in row:
                cells = [size, f"skipped: {row['skipped']}"] + ["-"] * 6
            elif "error" in row:
                cells = [size, f"failed: {row['error']}"] + ["-"] * 6
            else:
                wall = _num(row.get("wall_s"), ".1f")
                if row.get("ensemble_s") is not None:
                    wall += f" ({row['ensemble_s']:.1f})"
                if row.get("source", "").startswith("stored"):
                    wall += " stored"
                per_grad = row.get("ess_pred_per_grad")
                cells = [size, wall, _num(row.get("grad_evals"), ".3g"),
                         _num(row.get("ess_pred_per_s"), ".2f"),
                         _num(None if per_grad is None else 1e3 * per_grad, ".3f"),
                         _num(row.get("canonical_rhat"), ".3f"),
                         f"{row['lppd']:.2f} ({row['lppd_se']:.2f})" if row.get("lppd")
                         is not None else "-", _curve(row)]
            out.append("| " + " | ".join([row["name"], *cells]) + " |")
        target = part.get("target")
        if target:
            out.append("")
            out.append(f"Target ({target['target']}): best new kernel {target['best_new']}, "
                       f"{_num(target['ratio_ess_pred_per_s'], '.2f')}x, canonical R-hat "
                       f"{_num(target['canonical_rhat'], '.3f')}: "
                       f"{'met' if target['met'] else 'not met'}.")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def merge(old: dict | None, new: dict) -> dict:
    """``new`` with the workloads and configurations of ``old`` that ``new`` did not run (each
    workload keeps the settings of its latest run; rows keep their own sizes)."""
    if not old:
        return new
    merged = {**new, "workloads": {}}
    for workload in dict.fromkeys([*old.get("workloads", {}), *new["workloads"]]):
        before = old.get("workloads", {}).get(workload, {}).get("results", [])
        now = new["workloads"].get(workload, {}).get("results", [])
        fresh = {r["name"] for r in now}
        rows = [r for r in before if r["name"] not in fresh] + now
        rows.sort(key=lambda r: CONFIG_NAMES.index(r["name"]) if r["name"] in CONFIG_NAMES
                  else len(CONFIG_NAMES))
        comp = compare(rows)
        latest = new["workloads"].get(workload) or old["workloads"][workload]
        merged["workloads"][workload] = {
            "results": rows, **comp, "target": judge_target(workload, rows, comp),
            **{k: latest[k] for k in ("settings", "loadavg_end") if k in latest}}
    return merged


COLUMNS = [
    ("name", "config", ""), ("num_chains", "chains", "d"), ("devices", "dev", "d"),
    ("wall_s", "wall s", ".1f"), ("ensemble_s", "ens s", ".1f"),
    ("compile_s", "compile s", ".1f"), ("grad_evals", "grads", ".3g"),
    ("mean_steps_per_transition", "steps/trans", ".1f"), ("divergences", "div", "d"),
    ("min_ess_pred", "ESS pred", ".0f"), ("ess_pred_per_s", "ESS/s pred", ".2f"),
    ("ess_pred_per_grad", "ESS/grad", ".2e"), ("canonical_rhat", "R-hat can", ".3f"),
    ("lppd", "LPPD", ".3f"), ("lppd_se", "(se)", ".3f"),
]

NOTES = [
    "wall_s: the sampling call in a fresh process (model set-up, JAX tracing and compilation, "
    "init (the ensemble fit for *_ensemble), warm-up, draws, conversion); imports and data "
    "loading excluded. ensemble_s: the ensemble fit alone (init='ensemble', 1000 Adam steps per "
    "member), compiled and run afresh after the sampling call; it is part of wall_s.",
    "grad_evals: sampling from the per-draw num_integration_steps (numpyro: num_steps) times "
    "the gradients per integration step (GRADS_PER_STEP); warm-up as grad_evals_warmup_how says "
    "(NUTS and MAMS: estimated as tuning transitions x mean steps per sampling transition; "
    "MCLMC: exact from blackjax's schedule); ensemble: members x 1000 Adam gradients on 90% of "
    "the rows. ess_pred_per_grad divides by the total.",
    "min ESS of predictions: bulk ESS (arviz-stats), minimum over the predictive means at 20 "
    "inputs. canonical_rhat: max rank-normalised split R-hat over the canonical parameters "
    "(Posterior.canonical(), sigma included).",
    "Test LPPD: symbnn.diagnostics.lppd on the test set; lppd_by_num_chains: the LPPD of every "
    "draw of the first S chains, S = 1, 2, 4, ..., all.",
    "Sizes: on sinusoidal_1x50 every configuration runs the same chains, warm-up steps and kept "
    "draws (MCLMC and MAMS keep every thinning-th transition); on f2 the new kernels run many "
    "chains and NUTS few (or its stored reproduce_table cell, marked 'source': 'stored: ...').",
    "The machine may be shared with other jobs: see loadavg_start/loadavg_end.",
]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--out", default=None,
                        help="JSON to merge the results into (default benchmarks/results/"
                             "samplers.json, samplers_quick.json with --quick); .md next to it")
    parser.add_argument("--size", choices=list(SIZES), default="full")
    parser.add_argument("--quick", action="store_true", help="same as --size quick")
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS),
                        default=list(WORKLOADS))
    parser.add_argument("--configs", nargs="+", default=None, metavar="CONFIG",
                        help=f"subset of {CONFIG_NAMES}")
    parser.add_argument("--chains", dest="num_chains", type=count(1), default=None,
                        help="overrides SIZES (all but the f2 NUTS cells)")
    parser.add_argument("--warmup", dest="num_warmup", type=count(0), default=None)
    parser.add_argument("--draws", dest="num_draws", type=count(1), default=None)
    parser.add_argument("--thinning", nargs="*", default=[], metavar="KERNEL=N",
                        help=f"transitions per kept draw (default {THINNING})")
    parser.add_argument("--f2-nuts", choices=("stored", "run", "skip"), default="stored",
                        help="NUTS on f2: symbnn NUTS from reproduce_table's stored cells "
                             "(default), run every NUTS configuration, or skip them")
    parser.add_argument("--f2-nuts-chains", type=count(1), default=None,
                        help="chains of the f2 NUTS runs (default 2)")
    parser.add_argument("--devices", type=count(1), default=os.cpu_count() or 1,
                        help="CPU devices of the symbnn runs (capped at the chains)")
    parser.add_argument("--layout", default="auto",
                        choices=("auto", "sequential", "vmap", "shard"),
                        help="chain_layout of the symbnn runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=7200.0, help="per configuration, s")
    parser.add_argument("--stored-dir", default=str(STORED_DIR), help=argparse.SUPPRESS)
    parser.add_argument("--table-only", action="store_true",
                        help="only rebuild the Markdown table from --out")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return {}
    if args.configs:
        unknown = sorted(set(args.configs) - set(CONFIG_NAMES))
        if unknown:
            parser.error(f"--configs: unknown {unknown}; choose from {CONFIG_NAMES}")
    try:
        parse_thinning(args.thinning)
    except SystemExit as exc:
        parser.error(str(exc))
    size = "quick" if args.quick else args.size
    out = Path(args.out or REPO_ROOT / "benchmarks/results" /
               ("samplers_quick.json" if size == "quick" else "samplers.json"))
    old = json.loads(out.read_text()) if out.exists() else None
    if args.table_only:
        if old is None:
            parser.error(f"--table-only: {out} does not exist")
        text = markdown(old)
        out.with_suffix(".md").write_text(text)
        print(text)
        return old

    report = {"benchmark": "samplers", "machine": machine_info(), "notes": NOTES,
              "settings": {"size": size, "sizes": SIZES[size], "thinning":
                           parse_thinning(args.thinning), "layout": args.layout,
                           "devices": args.devices, "f2_nuts": args.f2_nuts, "seed": args.seed,
                           "grads_per_step": GRADS_PER_STEP, "ensemble_steps": ENSEMBLE_STEPS,
                           "data_dir": str(Path(args.data_dir).resolve()),
                           "dtype": "float32", "target": TARGET,
                           "overrides": {k: getattr(args, k) for k in (
                               "num_chains", "num_warmup", "num_draws", "f2_nuts_chains")}},
              "workloads": {}}
    for workload, job in plan(args, size):
        rows = report["workloads"].setdefault(workload, {"results": []})["results"]
        keep = {k: job[k] for k in ("name", "sampler", "family", "kernel", "num_chains",
                                    "num_warmup", "num_draws")}
        keep["init"] = job.get("init")
        if "skip" in job:
            print(f"[{workload}] {job['name']}: skipped ({job['skip']})", file=sys.stderr)
            rows.append({**keep, "skipped": job["skip"]})
            continue
        if job.get("stored"):
            row = stored_nuts_row(workload, Path(args.stored_dir))
            print(f"[{workload}] {job['name']}: "
                  f"{'stored' if row else 'no stored cell, skipped'}", file=sys.stderr)
            rows.append(row or {**keep, "skipped": "no stored reproduce_table cell"})
            continue
        print(f"[{workload}] {job['name']} ({job['num_chains']} x ({job['num_warmup']} + "
              f"{job['num_draws']})) ...", file=sys.stderr, flush=True)
        res = run_worker(__file__, job, timeout_s=args.timeout)
        rows.append({**keep, "devices_requested": job["devices"], **res,
                     "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
        if "error" in res:
            print(f"  failed: {res['error']}\n{res.get('output_tail', '')}", file=sys.stderr)
    for workload, part in report["workloads"].items():
        comp = compare(part["results"])
        part.update(comp, target=judge_target(workload, part["results"], comp),
                    settings=report["settings"], loadavg_end=list(os.getloadavg()))
        print(f"\n== {workload}")
        print(table(part["results"], COLUMNS))
    report["machine"]["loadavg_end"] = list(os.getloadavg())
    report = merge(old, report)
    path = write_json(out, report)
    text = markdown(report)
    path.with_suffix(".md").write_text(text)
    print("\n" + text)
    print(f"wrote {path}")
    return report


if __name__ == "__main__":
    main()
