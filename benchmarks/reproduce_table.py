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

Run ``python benchmarks/reproduce_table.py`` (all cells, full protocol: many hours on 2 cores),
``--quick`` for a smoke run, or choose cells and sizes, e.g.
``--nets f2 --modes many --chains f2=16``.
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
    add_cluster_flags,
    cluster_config,
    in_cluster,
    machine_info,
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
    t0 = time.perf_counter()
    post = symbnn.sample(bnn(mlp), x, y, rng_key=jax.random.PRNGKey(config["seed"]),
                         num_chains=config["num_chains"], num_warmup=config["num_warmup"],
                         num_draws=config["num_draws"], chain_layout=config["layout"],
                         kernel=symbnn.samplers.NUTS(max_tree_depth=MAX_TREE_DEPTH), progress=False,
                         checkpoint=config.get("checkpoint"),
                         resume=config.get("checkpoint") is not None)
    wall = time.perf_counter() - t0
    ll = post.log_likelihood(data.x_test.astype(np.float32), data.y_test.astype(np.float32))
    lppd, se, _ = diagnostics.lppd(ll)
    stats = post.sample_stats
    steps = np.asarray(stats["num_integration_steps"])
    result = {
        "wall_s": wall, **clock.snapshot(), "devices": jax.device_count(),
        "num_train": int(x.shape[0]), "num_test": int(data.x_test.shape[0]),
        "num_parameters": int(mlp.num_params) + 1,
        "lppd": lppd, "lppd_se": se, "num_draws_total": int(np.prod(ll.shape[:2])),
        "lppd_by_num_draws": diagnostics.lppd_curve(ll),
        "divergences": int(np.sum(stats["diverging"])),
        "warmup_divergences": int(np.sum(post.attrs.get("warmup_divergences", 0))),
        "mean_leapfrog": float(steps.mean()), "max_leapfrog": int(steps.max()),
        "share_at_tree_cap": float(np.mean(steps >= 2**MAX_TREE_DEPTH - 1)),
        "processes": jax.process_count(),
    }
    if config.get("result_path"):
        write_worker_result(config, result)
    return result


# ------------------------------------------------------------------ cells and the table
def cell_settings(dataset: str, net: str, mode: str, sizes: dict, seed: int) -> dict:
    """What a cell runs: ``sizes`` gives num_chains (many), num_draws (one) and num_warmup."""
    many = mode == "many"
    return {"dataset": dataset, "net": net, "mode": mode,
            "num_chains": sizes["num_chains"] if many else 1,
            "num_draws": 1 if many else sizes["num_draws"],
            "num_warmup": sizes["num_warmup"], "seed": seed}


def cell_path(settings: dict, cell_dir: Path = CELL_DIR) -> Path:
    return Path(cell_dir) / f"{settings['dataset']}_{settings['net']}_{settings['mode']}.json"


def load_cell(settings: dict, cell_dir: Path = CELL_DIR) -> dict | None:
    """The stored result of a cell run with exactly these settings, else None."""
    path = cell_path(settings, cell_dir)
    if not path.exists():
        return None
    row = json.loads(path.read_text())
    same = all(row.get(k) == settings[k] for k in SETTING_KEYS)
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
    cluster = in_cluster(args)
    if cluster:
        job.update(cluster_config(args), devices=1, layout="distributed")
    if args.checkpoint or cluster:
        # one folder per settings, so a resized rerun never meets another size's checkpoint
        sizes = "_".join(f"{k}{settings[k]}" for k in SETTING_KEYS[3:])
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


def assemble(cell_dir: Path = CELL_DIR) -> dict:
    """Every stored cell, in the published table's order, with a Markdown table."""
    rows = []
    for (dataset, net) in PUBLISHED:
        for mode in MODES:
            path = Path(cell_dir) / f"{dataset}_{net}_{mode}.json"
            if path.exists():
                rows.append(json.loads(path.read_text()))
    return {"rows": rows, "markdown": markdown(rows)}


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
            for dataset in args.datasets:
                for mode in args.modes:
                    settings = cell_settings(dataset, net, mode, sizes, args.seed)
                    if not args.force and load_cell(settings, args.cell_dir) is not None:
                        print(f"{dataset} {net} {mode}: stored, skipped", file=sys.stderr)
                        continue
                    print(f"{dataset} {net} {mode} ({settings['num_chains']} chains x "
                          f"({settings['num_warmup']} + {settings['num_draws']})) ...",
                          file=sys.stderr, flush=True)
                    row = run_cell(settings, args)
                    if row is None:  # a cluster process other than 0
                        continue
                    if "error" in row:
                        print(f"  failed: {row['error']}\n{row.get('output_tail', '')}",
                              file=sys.stderr)
                    else:
                        print(f"  LPPD {row['lppd']:.3f} ({row['lppd_se']:.3f}), published "
                              f"{row['published']} ({row['published_se']}), "
                              f"{row['wall_s']:.0f} s", file=sys.stderr, flush=True)

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
              ]}
    print(table(report["rows"], COLUMNS))
    print()
    print(report["markdown"])
    path = write_json(args.out, report)
    path.with_suffix(".md").write_text(report["markdown"] + "\n")
    print(f"\nwrote {path}")
    return report


if __name__ == "__main__":
    main()
