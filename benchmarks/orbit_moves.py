"""Scale orbit moves for ReLU networks: ESS per gradient evaluation with and without them.

Workloads: ReLU MLPs with one and two hidden layers of 16 units (``--widths``), N(0, 1) prior,
Gaussian likelihood with HalfNormal(1) noise scale, on 100 training points of the synthetic 1-D
sinusoid (``symbnn.datasets.load("sinusoidal")``, standardised with training statistics).

Each workload is sampled twice with the same key by symbnn NUTS, 4 chains x (500 warm-up + 500
draws): without orbit moves, and with ``orbit_moves=True`` (after every transition a uniform
permutation of hidden units and an exact Gibbs draw of every unit's scale along its orbit, see
:mod:`symbnn.samplers.orbit`). Warm-up has no orbit moves in either run.

Reported per run (bulk ESS from arviz-stats, pooled over chains):

* scale-orbit coordinates: the log incoming norm (bias included) of the hidden units, sorted within
  each layer so that the statistic does not depend on unit labels (the permutation move relabels
  units, which would make per-label ESS meaningless); minimum over the sorted positions;
* predictions: network outputs at 20 evenly spaced inputs over the training range; minimum;
* gradient evaluations: leapfrog steps of the sampling phase summed over chains. The scale move
  transforms the log density and its gradient analytically and adds none (it evaluates only the
  prior);
* ESS per gradient evaluation and ESS per second of the sampling phase (compilation of the
  sampling loop included), and the ratios with / without orbit moves.

Run ``python benchmarks/orbit_moves.py`` (about 2-4 minutes on 2 cores; ``--quick`` for a smoke
run). Results go to ``benchmarks/results/orbit_moves.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO_ROOT, machine_info, min_bulk_ess, ratio, table, write_json  # noqa: E402

NUM_PREDICT = 20


def sorted_log_in_norms(mlp, draws: dict) -> dict[str, np.ndarray]:
    """Per hidden layer: sorted log incoming norms (chain, draw, units) of the draws."""
    out = {}
    for layer in range(mlp.num_hidden):
        sq = np.sum(draws[mlp.weight_name(layer)] ** 2, axis=-2)
        if mlp.use_bias:
            sq = sq + draws[mlp.bias_name(layer)] ** 2
        out[f"layer{layer}"] = np.sort(0.5 * np.log(sq), axis=-1)
    return out


def run_one(widths, orbit_moves: bool, args, data, x_pred) -> dict:
    import jax

    import symbnn
    from symbnn.models import bnn

    mlp = symbnn.MLP(1, tuple(widths), 1, activation="relu")
    model = bnn(mlp)
    t0 = time.perf_counter()
    post = symbnn.sample(
        model, data.x_train, data.y_train, rng_key=jax.random.PRNGKey(args.seed),
        num_chains=args.num_chains, num_warmup=args.num_warmup, num_draws=args.num_draws,
        orbit_moves=orbit_moves, progress=False,
    )
    wall_s = time.perf_counter() - t0
    stats = post.sample_stats
    num_grad = int(np.sum(stats["num_integration_steps"]))  # + 0 for the move (analytic)
    ess_scale, per_layer = min_bulk_ess(sorted_log_in_norms(mlp, post.draws))
    ess_pred, _ = min_bulk_ess({"f": post.predict(x_pred)})
    sampling_s = float(post.attrs["sampling_s"])
    same = len(set(widths)) == 1
    return {
        "net": f"{len(widths)}x{widths[0]}" if same else "-".join(map(str, widths)),
        "widths": list(widths),
        "orbit_moves": orbit_moves,
        "num_grad_evals": num_grad,
        "grad_evals_per_draw": num_grad / (args.num_chains * args.num_draws),
        "ess_scale_min": ess_scale,
        "ess_scale_min_per_layer": per_layer,
        "ess_pred_min": ess_pred,
        "ess_scale_per_grad": ess_scale / num_grad,
        "ess_pred_per_grad": ess_pred / num_grad,
        "ess_scale_per_s": ess_scale / sampling_s,
        "ess_pred_per_s": ess_pred / sampling_s,
        "divergences": int(np.sum(stats["diverging"])),
        "mean_tree_depth": float(np.mean(stats["tree_depth"])),
        "step_size_mean": float(np.mean(stats["step_size"])),
        "warmup_s": float(post.attrs["warmup_s"]),
        "sampling_s": sampling_s,
        "wall_s": wall_s,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", nargs="+", default=["16", "16,16"],
                        help="hidden widths per workload, e.g. 16 16,16")
    parser.add_argument("--num-train", type=int, default=100)
    parser.add_argument("--chains", dest="num_chains", type=int, default=4)
    parser.add_argument("--warmup", dest="num_warmup", type=int, default=500)
    parser.add_argument("--draws", dest="num_draws", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 chains x (50 + 50)")
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks/results/orbit_moves.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.num_chains, args.num_warmup, args.num_draws = 2, 50, 50

    from symbnn.datasets import load

    data = load("sinusoidal", seed=args.seed, num_train=args.num_train, num_test=NUM_PREDICT,
                standardize="train")
    x_pred = np.linspace(data.x_train.min(), data.x_train.max(), NUM_PREDICT)[:, None]
    info = machine_info()
    rows = []
    for spec in args.widths:
        widths = [int(w) for w in spec.split(",")]
        base = run_one(widths, False, args, data, x_pred)
        moved = run_one(widths, True, args, data, x_pred)
        for key in ("ess_scale_per_grad", "ess_pred_per_grad", "ess_scale_per_s",
                    "ess_pred_per_s"):
            moved[f"{key}_ratio"] = ratio(moved[key], base[key])
        rows += [base, moved]
        print(f"done {spec}", flush=True)
    columns = [
        ("net", "net", ""), ("orbit_moves", "orbit", ""),
        ("grad_evals_per_draw", "grad/draw", ".1f"),
        ("ess_scale_min", "ESS scale", ".0f"), ("ess_pred_min", "ESS pred", ".0f"),
        ("ess_scale_per_grad", "scale/grad", ".2e"), ("ess_pred_per_grad", "pred/grad", ".2e"),
        ("ess_scale_per_s", "scale/s", ".1f"), ("ess_pred_per_s", "pred/s", ".1f"),
        ("ess_scale_per_grad_ratio", "scale ratio", ".2f"),
        ("ess_pred_per_grad_ratio", "pred ratio", ".2f"), ("divergences", "div", ""),
    ]
    print(table(rows, columns))
    result = {
        "settings": {"widths": args.widths, "num_train": args.num_train,
                     "num_chains": args.num_chains, "num_warmup": args.num_warmup,
                     "num_draws": args.num_draws, "seed": args.seed, "kernel": "nuts",
                     "prior": "NormalPrior(1.0)", "data": "sinusoidal (standardised)"},
        "machine": {**info, "loadavg_end": list(os.getloadavg())},
        "rows": rows,
    }
    path = write_json(args.out, result)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
