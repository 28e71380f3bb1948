"""Reproduce the published test-LPPD table of Wiese et al. (2023, ECML PKDD) with symbnn.

Protocol (supplement Table 3 of Wiese et al. 2023, as summarised in ``../shared/data/README.md``):
tanh MLP, N(0, 1) prior on every weight and bias, Gaussian likelihood with a HalfNormal(1) noise
scale, NUTS with numpyro's defaults (target acceptance 0.8, maximum tree depth 10, diagonal mass
matrix) and 1024 warm-up steps; inputs and targets standardised with the statistics of the whole
data set; the train/test split of ``splits.json``. Nets: f1 = one hidden layer of 3 units, f2 =
three hidden layers of 16. Modes: "many" = ``num_chains`` independent chains keeping one draw each
(1274 in the protocol); "one" = one chain keeping ``num_draws`` draws (1274).

Test LPPD: mean over test points of ``log (1/S) sum_s N(y | f_s(x), sigma_s)`` on the standardised
scale, with standard error ``std / sqrt(n_test)``.

Every cell (data set x net x mode) runs in a fresh process and writes its own JSON file under
``benchmarks/results/reproduce_table/``; a cell whose file exists with the same settings is not run
again, so an interrupted reproduction continues where it stopped (``--checkpoint`` also resumes a
cell inside its sampling run). Invocations on different cells may run side by side. The table is
assembled from every cell file into ``benchmarks/results/reproduce_table.json`` and ``.md``.

Other engines (``--kernel NAME [NAME ...]``, default ``nuts`` alone, the protocol's sampler):
every kernel of ``symbnn.samplers.KERNELS`` other than NUTS runs the many-chain cells only, with its
own settings: ``--kernel-chains`` chains (SMC: particles tempered from the prior; default 1274),
``--kernel-warmup`` warm-up steps (SMC: the cap on tempering steps; default 1000) and
``--kernel-draws`` draws per chain (default 5, SMC 1; MCLMC and MAMS keep every
:data:`KERNEL_THINNING`-th transition), of which the LAST of each chain enters the LPPD, as in the
many-chain protocol; ``--init prior|ensemble`` for the kernels that take it (SMC: prior only).
Each (cell, kernel) is stored as ``<data set>_<net>_many_<kernel>.json`` and reused like the NUTS
cells; ``--modes`` applies to NUTS only. The table then gets a second part: per (data set, net),
NUTS's many-chain LPPD, wall time and gradient evaluations beside the best engine's (the highest
LPPD among the other kernels stored for that cell), the ratio of their gradient evaluations and
whether the engine is within 2 published se of the published many-chain value.

Run ``python benchmarks/reproduce_table.py`` (all cells, full protocol: many hours on 2 cores),
``--quick`` for a smoke run, or choose cells and sizes, e.g.
``--nets f2 --modes many --chains f2=16``; ``--kernel mclmc smc`` adds those engines (the stored
NUTS cells are kept), ``--table-only`` rebuilds the table from the stored cells.
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
    KERNEL_THINNING,
    REPO_ROOT,
    add_cluster_flags,
    cluster_config,
    gradient_counts,
    in_cluster,
    is_population,
    machine_info,
    ratio,
    reported_warmup,
    run_worker,
    table,
    write_json,
    write_worker_result,
)

from symbnn.cli import count

SOURCE = "Wiese et al. 2023 (ECML PKDD), supplement Table 3"
NETS = {"f1": (3,), "f2": (16, 16, 16)}
DATASETS = ("sinusoidal", "izmailov", "regression2d", "airfoil", "energy", "yacht")
MODES = ("many", "one")
# (data set, net) -> ((many-chain LPPD, se), (one-chain LPPD, se))
PUBLISHED = {
    ("sinusoidal", "f1"): ((-0.53, 0.09), (-0.56, 0.11)),
    ("izmailov", "f1"): ((0.79, 0.06), (0.65, 0.07)),
    ("regression2d", "f1"): ((0.64, 0.10), (0.75, 0.11)),
    ("airfoil", "f1"): ((-0.74, 0.04), (-0.80, 0.05)),
    ("energy", "f1"): ((0.92, 0.04), (0.69, 0.12)),
    ("yacht", "f1"): ((1.90, 0.16), (1.29, 0.56)),
    ("sinusoidal", "f2"): ((-0.59, 0.12), (-0.59, 0.12)),
    ("izmailov", "f2"): ((0.91, 0.09), (0.91, 0.09)),
    ("regression2d", "f2"): ((0.95, 0.08), (0.95, 0.08)),
    ("airfoil", "f2"): ((0.92, 0.05), (0.72, 0.10)),
    ("energy", "f2"): ((2.07, 0.46), (2.38, 0.11)),
    ("yacht", "f2"): ((3.31, 0.21), (0.15, 0.09)),
}
MAX_TREE_DEPTH = 10  # numpyro's default: at most 2**10 - 1 leapfrog steps per transition
PROTOCOL = {"num_chains": 1274, "num_draws": 1274, "num_warmup": 1024}
QUICK = {"num_chains": 32, "num_draws": 200, "num_warmup": 200}
CELL_DIR = REPO_ROOT / "benchmarks/results/reproduce_table"
SETTING_KEYS = ("dataset", "net", "mode", "num_chains", "num_draws", "num_warmup", "seed")
KERNEL_SETTING_KEYS = (*SETTING_KEYS, "kernel", "init", "thinning")
"""What identifies a cell of another engine (NUTS cells keep :data:`SETTING_KEYS`, no kernel)."""
KERNEL_SIZES = {"protocol": {"num_chains": 1274, "num_warmup": 1000},
                "quick": {"num_chains": QUICK["num_chains"], "num_warmup": QUICK["num_warmup"]}}
"""Chains (SMC: particles) and warm-up steps (SMC: cap on tempering steps) of the other engines."""
KERNEL_DRAWS = {"smc": 1}
"""Draws per chain of the other engines (default :data:`DEFAULT_KERNEL_DRAWS`); the last counts."""
DEFAULT_KERNEL_DRAWS = 5
"""Engines whose chains are particles tempered from the prior: ``init="prior"`` only."""


# ------------------------------------------------------------------ worker side
def worker(config: dict) -> dict:
    """Sample one cell in this (fresh) process; write its result if asked, and return it."""
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

    data = load(config["dataset"], data_dir=config["data_dir"], standardize="all")
    x, y = data.x_train.astype(np.float32), data.y_train.astype(np.float32)
    mlp = MLP(in_features=x.shape[1], widths=NETS[config["net"]], out_features=1,
              activation="tanh", output="regression")
    name = config.get("kernel", "nuts")
    nuts = name == "nuts"
    if nuts:
        kernel, extra = symbnn.samplers.NUTS(max_tree_depth=MAX_TREE_DEPTH), {}
    else:
        options = {"thinning": config["thinning"]} if config.get("thinning") else {}
        kernel, extra = symbnn.samplers.KERNELS[name](**options), {"init": config["init"]}
    t0 = time.perf_counter()
    post = symbnn.sample(bnn(mlp), x, y, rng_key=jax.random.PRNGKey(config["seed"]),
                         num_chains=config["num_chains"], num_warmup=config["num_warmup"],
                         num_draws=config["num_draws"], chain_layout=config["layout"],
                         kernel=kernel, progress=False, checkpoint=config.get("checkpoint"),
                         resume=config.get("checkpoint") is not None, **extra)
    wall = time.perf_counter() - t0
    ll_all = post.log_likelihood(data.x_test.astype(np.float32), data.y_test.astype(np.float32))
    # many chains, one draw each: the other engines keep the last of their few draws
    ll = ll_all if nuts else np.asarray(ll_all)[:, -1:]
    lppd, se, _ = diagnostics.lppd(ll)
    stats = post.sample_stats
    steps = np.asarray(stats["num_integration_steps"])
    grads = gradient_counts(name, steps, num_warmup=config["num_warmup"],
                            thinning=kernel.steps_per_draw,
                            ensemble_members=config["num_chains"] if extra.get("init") ==
                            "ensemble" else 0, reported_warmup=reported_warmup(post.attrs))
    result = {
        "wall_s": wall, **clock.snapshot(), "devices": jax.device_count(),
        "num_train": int(x.shape[0]), "num_test": int(data.x_test.shape[0]),
        "num_parameters": int(mlp.num_params) + 1,
        "lppd": lppd, "lppd_se": se, "num_draws_total": int(np.prod(ll.shape[:2])),
        "lppd_by_num_draws": diagnostics.lppd_curve(ll),
        "divergences": int(np.sum(stats["diverging"])) if "diverging" in stats else None,
        "warmup_divergences": _warmup_divergences(post.attrs, kernel.population),
        "mean_leapfrog": float(steps.mean()), "max_leapfrog": int(steps.max()),
        "processes": jax.process_count(), **grads,
    }
    if nuts:
        result["share_at_tree_cap"] = float(np.mean(steps >= 2**MAX_TREE_DEPTH - 1))
    else:
        lp_all = diagnostics.lppd(ll_all)
        result.update(kernel_settings=kernel.settings(), steps_per_draw=kernel.steps_per_draw,
                      warmup_s=post.attrs.get("warmup_s"), sampling_s=post.attrs.get("sampling_s"),
                      chain_layout=post.attrs.get("chain_layout"),
                      sampler_notes=post.attrs.get("notes", []),
                      lppd_every_draw=lp_all.mean, lppd_every_draw_se=lp_all.se,
                      mean_acceptance=float(np.mean(stats["acceptance_rate"]))
                      if "acceptance_rate" in stats else None)
        if kernel.population:  # the run's values, the same for every chain
            result.update({k: np.asarray(post.attrs[f"warmup_{k}"]).ravel()[0].item()
                           for k in ("tempering_steps", "log_evidence", "mutation_acceptance")
                           if f"warmup_{k}" in post.attrs})
    if config.get("result_path"):
        write_worker_result(config, result)
    return result


def _warmup_divergences(attrs: dict, population: bool) -> int:
    """Divergent warm-up transitions of the run. A population kernel (SMC) reports its run's
    total once per chain, so only the first counts; the others report each chain's own."""
    per_chain = np.asarray(attrs.get("warmup_divergences", 0)).ravel()
    return int(per_chain[:1].sum() if population else per_chain.sum())


# ------------------------------------------------------------------ cells and the table
def cell_settings(dataset: str, net: str, mode: str, sizes: dict, seed: int) -> dict:
    """What a cell runs: ``sizes`` gives num_chains (many), num_draws (one) and num_warmup."""
    many = mode == "many"
    return {"dataset": dataset, "net": net, "mode": mode,
            "num_chains": sizes["num_chains"] if many else 1,
            "num_draws": 1 if many else sizes["num_draws"],
            "num_warmup": sizes["num_warmup"], "seed": seed}


def kernel_cell_settings(dataset: str, net: str, kernel: str, sizes: dict, seed: int,
                         init: str = "prior") -> dict:
    """What a many-chain cell of another engine runs: ``sizes`` gives num_chains, num_warmup and
    num_draws (default :data:`KERNEL_DRAWS`); thinning is ``_common.KERNEL_THINNING``'s; a
    population engine (SMC, ``_common.is_population``) starts from the prior whatever ``init``
    says."""
    return {"dataset": dataset, "net": net, "mode": "many", "num_chains": sizes["num_chains"],
            "num_draws": sizes.get("num_draws") or KERNEL_DRAWS.get(kernel, DEFAULT_KERNEL_DRAWS),
            "num_warmup": sizes["num_warmup"], "seed": seed, "kernel": kernel,
            "init": "prior" if is_population(kernel) else init,
            "thinning": KERNEL_THINNING.get(kernel)}


def setting_keys(settings: dict) -> tuple[str, ...]:
    return SETTING_KEYS if settings.get("kernel", "nuts") == "nuts" else KERNEL_SETTING_KEYS


def engine_label(settings: dict) -> str:
    """``kernel``, or ``kernel_init`` for starts other than the prior (``mclmc_ensemble``)."""
    kernel, init = settings.get("kernel", "nuts"), settings.get("init", "prior")
    return kernel if kernel == "nuts" or init == "prior" else f"{kernel}_{init}"


def cell_path(settings: dict, cell_dir: Path = CELL_DIR) -> Path:
    """``<data set>_<net>_<mode>.json`` (NUTS), ``<data set>_<net>_many_<engine>.json`` (others,
    :func:`engine_label`)."""
    kernel = settings.get("kernel", "nuts")
    tail = "" if kernel == "nuts" else f"_{engine_label(settings)}"
    return Path(cell_dir) / f"{settings['dataset']}_{settings['net']}_{settings['mode']}{tail}.json"


def load_cell(settings: dict, cell_dir: Path = CELL_DIR) -> dict | None:
    """The stored result of a cell run with exactly these settings, else None."""
    path = cell_path(settings, cell_dir)
    if not path.exists():
        return None
    row = json.loads(path.read_text())
    same = all(row.get(k) == settings[k] for k in setting_keys(settings))
    return row if same and "error" not in row else None


def judge(row: dict) -> dict:
    """Published values next to the measured one; ``within_2se``: |ours - published many-chain
    value| <= 2 x the published standard error (the test set is the same split, so the standard
    errors are not independent and are not added)."""
    (pm, pm_se), (po, po_se) = PUBLISHED[(row["dataset"], row["net"])]
    pub, pub_se = (pm, pm_se) if row["mode"] == "many" else (po, po_se)
    out = {"published_many": pm, "published_many_se": pm_se, "published_one": po,
           "published_one_se": po_se, "published": pub, "published_se": pub_se}
    if row.get("lppd") is not None:
        out["minus_published_many"] = row["lppd"] - pm
        out["z_vs_published_many"] = (row["lppd"] - pm) / pm_se
        out["within_2se_of_published_many"] = bool(abs(row["lppd"] - pm) <= 2 * pm_se)
        out["minus_published_same_mode"] = row["lppd"] - pub
    return out


def run_cell(settings: dict, args: argparse.Namespace) -> dict | None:
    """Run a cell in a worker process and store it.

    In a cluster run the cell runs in this process, distributed; process 0 stores it and the
    others return None.
    """
    many = settings["mode"] == "many"
    devices = args.devices if many else 1
    job = {**settings, "data_dir": str(Path(args.data_dir).resolve()), "devices": devices,
           "layout": "shard" if devices > 1 else "sequential"}
    if settings.get("kernel", "nuts") != "nuts" and args.kernel_layout:
        job["layout"] = args.kernel_layout
    cluster = in_cluster(args)
    if cluster:
        job.update(cluster_config(args), devices=1, layout="distributed")
    if args.checkpoint or cluster:
        # one folder per settings, so a resized rerun never meets another size's checkpoint
        sizes = "_".join(f"{k}{settings[k]}" for k in setting_keys(settings)[3:])
        folder = f"{cell_path(settings).stem}_{sizes}"
        job["checkpoint"] = str(Path(args.cell_dir) / "checkpoints" / folder)
    t0 = time.perf_counter()
    if cluster:
        import jax

        res = worker(job)
        if jax.process_index() != 0:
            return None
    else:
        res = run_worker(__file__, job, timeout_s=args.timeout)
    row = {**settings, "layout": job["layout"], "devices_requested": devices, **res,
           "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "loadavg_end": list(os.getloadavg())}
    row["cell_wall_s"] = time.perf_counter() - t0
    row.update(judge(row))
    write_json(cell_path(settings, args.cell_dir), row)
    return row


COLUMNS = [
    ("dataset", "data set", ""), ("net", "net", ""), ("mode", "mode", ""),
    ("num_chains", "chains", "d"), ("num_draws", "draws", "d"), ("num_warmup", "warm-up", "d"),
    ("wall_s", "wall s", ".0f"), ("mean_leapfrog", "leapfrog", ".0f"),
    ("divergences", "div", "d"), ("lppd", "LPPD", ".2f"), ("lppd_se", "(se)", ".2f"),
    ("published", "published", ".2f"), ("published_se", "(se)", ".2f"),
    ("z_vs_published_many", "z vs many", ".1f"),
]


KERNEL_COLUMNS = [
    ("dataset", "data set", ""), ("net", "net", ""), ("kernel", "kernel", ""),
    ("init", "init", ""), ("num_chains", "chains", "d"), ("num_draws", "draws", "d"),
    ("num_warmup", "warm-up", "d"), ("wall_s", "wall s", ".0f"), ("grad_evals", "grads", ".3g"),
    ("lppd", "LPPD", ".2f"), ("lppd_se", "(se)", ".2f"), ("published", "published", ".2f"),
    ("published_se", "(se)", ".2f"), ("z_vs_published_many", "z vs many", ".1f"),
]


def assemble(cell_dir: Path = CELL_DIR) -> dict:
    """Every stored cell, in the published table's order, with a Markdown table; with cells of
    other engines also their comparison with NUTS (:func:`engines`) and its table."""
    rows, kernel_rows = [], []
    for (dataset, net) in PUBLISHED:
        for mode in MODES:
            path = Path(cell_dir) / f"{dataset}_{net}_{mode}.json"
            if path.exists():
                rows.append(json.loads(path.read_text()))
        for path in sorted(Path(cell_dir).glob(f"{dataset}_{net}_many_*.json")):
            kernel_rows.append(json.loads(path.read_text()))
    out = {"rows": rows, "kernel_rows": kernel_rows, "markdown": markdown(rows)}
    if kernel_rows:
        out["engines"] = engines(rows, kernel_rows)
        out["engines_markdown"] = engines_markdown(out["engines"])
        out["markdown"] += "\n\n" + out["engines_markdown"]
    return out


def nuts_gradient_evaluations(row: dict) -> tuple[float | None, str | None]:
    """Gradient evaluations of a stored NUTS cell and how they were counted: stored by the cell
    (``grad_evals``), else mean leapfrog steps per draw x (warm-up + draws) x chains (the
    warm-up's trees are assumed as long as the sampling ones)."""
    if row.get("grad_evals") is not None:
        return float(row["grad_evals"]), "stored: " + str(row.get("grad_evals_warmup_how",
                                                                    "counted by the worker"))
    if row.get("mean_leapfrog") is None:
        return None, None
    total = row["mean_leapfrog"] * (row["num_warmup"] + row["num_draws"]) * row["num_chains"]
    return float(total), ("estimated from the stored cell: mean leapfrog steps x (warm-up + "
                          f"{row['num_draws']}) x chains")


def best_engine(kernel_rows: list[dict]) -> dict | None:
    """The cell of the highest LPPD among those of engines other than NUTS that have one (the
    first of equals), or None."""
    ok = [r for r in kernel_rows if r.get("kernel", "nuts") != "nuts"
          and r.get("lppd") is not None and "error" not in r]
    return max(ok, key=lambda r: r["lppd"], default=None)


def _summary(row: dict) -> dict:
    keys = ("kernel", "init", "num_chains", "num_draws", "num_warmup", "lppd", "lppd_se",
            "wall_s", "grad_evals")
    return {k: row.get(k) for k in keys}


def engines(rows: list[dict], kernel_rows: list[dict]) -> list[dict]:
    """Per published (data set, net): NUTS's many-chain cell beside every other engine's and the
    best of them (:func:`best_engine`), the ratios of their gradient evaluations and wall times
    (best / NUTS) and the best engine's verdict (:func:`judge`)."""
    out = []
    for (dataset, net), ((pm, pm_se), _) in PUBLISHED.items():
        nuts = next((r for r in rows if (r["dataset"], r["net"], r["mode"]) ==
                     (dataset, net, "many") and r.get("lppd") is not None), None)
        mine = [r for r in kernel_rows if (r["dataset"], r["net"]) == (dataset, net)]
        entry = {"dataset": dataset, "net": net, "published_many": pm,
                 "published_many_se": pm_se, "nuts": None, "engines": {}, "best_engine": None,
                 "best": None, "grad_ratio_best_to_nuts": None, "wall_ratio_best_to_nuts": None}
        if nuts is not None:
            grads, how = nuts_gradient_evaluations(nuts)
            entry["nuts"] = {**_summary(nuts), "kernel": "nuts", "grad_evals": grads,
                             "grad_evals_how": how}
        for r in mine:
            entry["engines"][engine_label(r)] = (
                _summary(r) if r.get("lppd") is not None else
                {"kernel": r["kernel"], "error": r.get("error", "no LPPD")})
        best = best_engine(mine)
        if best is not None:
            verdict = judge(best)
            entry.update(best_engine=engine_label(best), best={
                **_summary(best), **{k: verdict[k] for k in (
                    "minus_published_many", "z_vs_published_many",
                    "within_2se_of_published_many")}})
            if entry["nuts"] is not None:
                entry["grad_ratio_best_to_nuts"] = ratio(best.get("grad_evals"),
                                                         entry["nuts"]["grad_evals"])
                entry["wall_ratio_best_to_nuts"] = ratio(best.get("wall_s"),
                                                         entry["nuts"]["wall_s"])
        out.append(entry)
    return out


def _grads(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1e6:
        return f"{value / 1e6:.1f} M"
    return f"{value / 1e3:.0f} k" if value >= 1e4 else f"{value:.0f}"


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} min"


def engines_markdown(entries: list[dict]) -> str:
    """One line per published (data set, net): NUTS's many-chain LPPD (chains), wall time and
    gradient evaluations beside the best other engine's, their gradient ratio and its verdict."""
    lines = ["| data set | net | published many | NUTS many (chains) | wall | gradient evals | "
             "best engine | its LPPD (chains) | wall | gradient evals | evals / NUTS | "
             "within 2 se |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in entries:
        nuts, best = e["nuts"], e["best"]
        left = (["not run", "-", "-"] if nuts is None else
                [f"{_fmt(nuts['lppd'], nuts['lppd_se'])} ({nuts['num_chains']})",
                 _minutes(nuts["wall_s"]),
                 _grads(nuts["grad_evals"])])
        if best is None:
            failed = ", ".join(f"{k} failed" for k in e["engines"])
            right = [failed or "not run", "-", "-", "-", "-", "-"]
        else:
            ratio_ = e["grad_ratio_best_to_nuts"]
            right = [best["kernel"] + (f" ({best['init']})" if best.get("init") != "prior"
                                       else ""),
                     f"{_fmt(best['lppd'], best['lppd_se'])} ({best['num_chains']})",
                     _minutes(best["wall_s"]), _grads(best["grad_evals"]),
                     "-" if ratio_ is None else f"{ratio_:.3g}",
                     "yes" if best["within_2se_of_published_many"] else
                     f"no (z = {best['z_vs_published_many']:.1f})"]
        lines.append("| " + " | ".join([e["dataset"], e["net"],
                                         _fmt(e["published_many"], e["published_many_se"]),
                                         *left, *right]) + " |")
    lines += ["", "NUTS gradient evaluations: mean leapfrog steps per draw x (warm-up + 1) x "
                  "chains (the warm-up's trees taken as long as the sampling ones; "
                  "`grad_evals_how` in the JSON). Other engines: `grad_evals` of their cell "
                  "(warm-up, every draw and any ensemble fit). Best engine: the highest LPPD "
                  "among the other engines run on the cell; within 2 se: of the published "
                  "many-chain value."]
    return "\n".join(lines)


def _fmt(value: float | None, se: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ({se:.2f})"


def _cells(row: dict | None, count: str) -> list[str]:
    """The LPPD (with ``row[count]`` in parentheses) and wall-time cells of one stored cell."""
    if row is None or row.get("lppd") is None:
        return ["not run" if row is None else "failed", "-"]
    return [f"{_fmt(row['lppd'], row['lppd_se'])} ({row[count]})",
            f"{row['wall_s'] / 60:.1f} min"]


def markdown(rows: list[dict]) -> str:
    """One line per (data set, net): published and measured LPPD for both modes, wall times."""
    by_cell = {(r["dataset"], r["net"], r["mode"]): r for r in rows}
    lines = ["| data set | net | published many | symbnn many (chains) | wall | "
             "published one | symbnn one (draws) | wall | many within 2 se |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (dataset, net), ((pm, pm_se), (po, po_se)) in PUBLISHED.items():
        many, one = by_cell.get((dataset, net, "many")), by_cell.get((dataset, net, "one"))
        if many is None and one is None:
            continue
        verdict = "-" if many is None or many.get("lppd") is None else (
            "yes" if many["within_2se_of_published_many"] else
            f"no (z = {many['z_vs_published_many']:.1f})")
        lines.append("| " + " | ".join([dataset, net, _fmt(pm, pm_se), *_cells(many, "num_chains"),
                                         _fmt(po, po_se), *_cells(one, "num_draws"), verdict])
                     + " |")
    return "\n".join(lines)


def check_data_dir(data_dir: Path, datasets: list[str]) -> None:
    """Refuse to run unless every table and ``splits.json`` is there: some names (sinusoidal,
    regression2d) are also built-in generators, which must not stand in for the published data."""
    missing = [f"{d}.data" for d in datasets if not (data_dir / f"{d}.data").is_file()]
    missing += [] if (data_dir / "splits.json").is_file() else ["splits.json"]
    if missing:
        raise SystemExit(f"--data-dir {data_dir}: missing {', '.join(missing)} (expected the "
                         "benchmark tables and splits.json of ../shared/data)")


def parse_chains(items: list[str]) -> dict[str, int]:
    """``["f2=16"]`` -> ``{"f2": 16}``: chains of the many-chain mode per net."""
    out = {}
    for item in items:
        net, _, count = item.partition("=")
        if net not in NETS or not count.isdigit() or int(count) < 1:
            raise SystemExit(f"--chains: expected NET=COUNT with NET in {sorted(NETS)} and "
                             f"COUNT >= 1, got {item!r}")
        out[net] = int(count)
    return out


def parse_kernels(names: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """The ``--kernel`` names, in order, without repeats; unknown names exit 2 naming the
    argument (the registry is ``symbnn.samplers.KERNELS``)."""
    from symbnn.samplers import KERNELS

    unknown = [n for n in names if n not in KERNELS]
    if unknown:
        parser.error(f"argument --kernel: unknown {unknown}; choose from {sorted(KERNELS)}")
    return list(dict.fromkeys(names))


def _label(settings: dict) -> str:
    kernel = settings.get("kernel", "nuts")
    return f"{settings['dataset']} {settings['net']} {settings['mode']}" + (
        "" if kernel == "nuts" else f" {kernel} ({settings['init']})")


def _run_or_skip(settings: dict, args: argparse.Namespace) -> None:
    """Run one cell unless it is stored with the same settings (or ``--force``)."""
    if not args.force and load_cell(settings, args.cell_dir) is not None:
        print(f"{_label(settings)}: stored, skipped", file=sys.stderr)
        return
    print(f"{_label(settings)} ({settings['num_chains']} chains x "
          f"({settings['num_warmup']} + {settings['num_draws']})) ...",
          file=sys.stderr, flush=True)
    row = run_cell(settings, args)
    if row is None:  # a cluster process other than 0
        return
    if "error" in row:
        print(f"  failed: {row['error']}\n{row.get('output_tail', '')}", file=sys.stderr)
    else:
        grads = row.get("grad_evals")
        print(f"  LPPD {row['lppd']:.3f} ({row['lppd_se']:.3f}), published "
              f"{row['published']} ({row['published_se']}), {row['wall_s']:.0f} s"
              + ("" if grads is None else f", {grads:.3g} gradient evaluations"),
              file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--nets", nargs="+", choices=sorted(NETS), default=sorted(NETS))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK['num_chains']} chains, {QUICK['num_draws']} "
                             f"draws, {QUICK['num_warmup']} warm-up steps")
    parser.add_argument("--chains", nargs="*", default=[], metavar="NET=COUNT",
                        help="chains of the many-chain mode per net (default 1274)")
    parser.add_argument("--draws", dest="num_draws", type=count(1), default=None,
                        help="one-chain draws (1274)")
    parser.add_argument("--warmup", dest="num_warmup", type=count(0), default=None,
                        help="default 1024")
    parser.add_argument("--devices", type=count(1), default=2,
                        help="CPU devices of the many-chain runs (layout shard when > 1)")
    parser.add_argument("--kernel", nargs="+", default=["nuts"], metavar="NAME",
                        help="engines to run: nuts (the protocol, default) and/or others of "
                             "symbnn.samplers.KERNELS, which run the many-chain cells only")
    parser.add_argument("--kernel-chains", type=count(1), default=None,
                        help="chains (SMC: particles) of the other engines (default "
                             f"{KERNEL_SIZES['protocol']['num_chains']}, --quick "
                             f"{KERNEL_SIZES['quick']['num_chains']})")
    parser.add_argument("--kernel-warmup", type=count(0), default=None,
                        help="warm-up steps of the other engines (SMC: cap on tempering steps; "
                             f"default {KERNEL_SIZES['protocol']['num_warmup']}, --quick "
                             f"{KERNEL_SIZES['quick']['num_warmup']})")
    parser.add_argument("--kernel-draws", type=count(1), default=None,
                        help="draws per chain of the other engines, the last kept (default "
                             f"{DEFAULT_KERNEL_DRAWS}; " + ", ".join(
                                 f"{k} {v}" for k, v in KERNEL_DRAWS.items()) + ")")
    parser.add_argument("--init", choices=("prior", "ensemble"), default="prior",
                        help="starts of the other engines (SMC: prior only)")
    parser.add_argument("--kernel-layout", choices=("sequential", "vmap", "shard"), default=None,
                        help="chain_layout of the other engines (default: as NUTS, shard over "
                             "--devices when > 1, else sequential)")
    parser.add_argument("--checkpoint", action="store_true",
                        help="checkpoint every cell so that a killed cell resumes")
    parser.add_argument("--cell-dir", default=str(CELL_DIR), help="where cells are stored")
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks/results/reproduce_table.json"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=None, help="per cell, seconds")
    parser.add_argument("--force", action="store_true", help="rerun cells already stored")
    parser.add_argument("--table-only", action="store_true",
                        help="only assemble the stored cells into the table")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    add_cluster_flags(parser)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return {}
    kernels = parse_kernels(args.kernel, parser)
    others = [k for k in kernels if k != "nuts"]
    if in_cluster(args) and others:
        parser.error(f"argument --kernel: a cluster run samples NUTS cells only, got {others}")
    if in_cluster(args) and args.modes != ["many"]:
        parser.error("a cluster run splits the chains of 'many' cells among the processes: "
                     "pass --modes many (a 'one' cell is a single chain)")

    if not args.table_only:
        check_data_dir(Path(args.data_dir), args.datasets)
    base = QUICK if args.quick else PROTOCOL
    chains = parse_chains(args.chains)
    if not args.table_only:
        for net in args.nets:
            sizes = {"num_chains": chains.get(net, base["num_chains"]),
                     "num_draws": args.num_draws if args.num_draws is not None
                     else base["num_draws"],
                     "num_warmup": args.num_warmup if args.num_warmup is not None
                     else base["num_warmup"]}
            kernel_sizes = {**KERNEL_SIZES["quick" if args.quick else "protocol"]}
            if args.kernel_chains is not None:
                kernel_sizes["num_chains"] = args.kernel_chains
            if args.kernel_warmup is not None:
                kernel_sizes["num_warmup"] = args.kernel_warmup
            kernel_sizes["num_draws"] = args.kernel_draws
            for dataset in args.datasets:
                cells = [cell_settings(dataset, net, mode, sizes, args.seed)
                         for mode in args.modes] if "nuts" in kernels else []
                cells += [kernel_cell_settings(dataset, net, k, kernel_sizes, args.seed,
                                               args.init) for k in others]
                for settings in cells:
                    _run_or_skip(settings, args)

    if in_cluster(args) and not args.table_only:
        import jax

        if jax.process_index() != 0:
            return {}  # process 0 writes the table
    report = {"benchmark": "reproduce_table", "source": SOURCE, "protocol": PROTOCOL,
              "machine": machine_info(), **assemble(args.cell_dir), "notes": [
                  "Rows with fewer chains, draws or warm-up steps than the protocol say so in "
                  "num_chains / num_draws / num_warmup; their LPPD averages over their own draws.",
                  "wall_s: the sampling call in a fresh worker process, compilation included.",
                  "within_2se_of_published_many: |LPPD - published many-chain LPPD| <= 2 x the "
                  "published standard error.",
                  "kernel_rows: many-chain cells of engines other than NUTS (--kernel); each "
                  "keeps the last draw of each of its chains; grad_evals counts warm-up, every "
                  "draw (thinning included) and any ensemble fit (benchmarks/_common.py "
                  "gradient_counts). engines: per (data set, net), NUTS's many-chain cell beside "
                  "the best other engine (highest LPPD), with grad_ratio_best_to_nuts.",
              ]}
    print(table(report["rows"], COLUMNS))
    if report["kernel_rows"]:
        print()
        print(table([{**r, **judge(r)} for r in report["kernel_rows"]], KERNEL_COLUMNS))
    print()
    print(report["markdown"])
    path = write_json(args.out, report)
    path.with_suffix(".md").write_text(report["markdown"] + "\n")
    print(f"\nwrote {path}")
    return report


if __name__ == "__main__":
    main()
