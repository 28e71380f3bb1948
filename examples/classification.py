"""Bayesian classification with a tanh BNN: test accuracy, agreement between chains, diagnostics.

A one-hidden-layer tanh classifier with a Categorical (softmax) likelihood is fitted to the
built-in ``moons`` (2 classes) or ``spiral`` (3 classes) data by symbnn NUTS (quotient space by
default). The script prints

* test accuracy and log pointwise predictive density of the Bayesian model average (BMA), and the
  accuracy of each chain's own average;
* the total variation between the chains' predictive distributions at the test inputs (0: the
  chains predict the same class probabilities; 1: they are certain of different classes), and
  ``symbnn.diagnostics.compare`` of the first half of the chains against the second half
  (energy distance of canonical draws, top-1 agreement and total variation of the BMAs);
* ``symbnn.diagnostics.summary``: R-hat and ESS on raw weights, canonical weights and predicted
  probabilities.

Chains that agree in function space but not in canonical parameters have found functionally
equivalent solutions that the finite symmetry group does not identify (e.g. units that are
switched off); chains that disagree in function space sit in different modes.

Plots in ``--out``: the BMA's class probabilities on a grid with the training data, and rank plots
of raw against canonical draws.

Run ``python examples/classification.py`` (under a minute on 2 idle cores).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time
from pathlib import Path

import jax
import numpy as np
from matplotlib.figure import Figure

import symbnn
from symbnn import diagnostics
from symbnn.cli import count, widths
from symbnn.models import Categorical, bnn


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["moons", "spiral"], default="moons")
    parser.add_argument("--chains", type=count(2), default=4, help="chains (at least 2)")
    parser.add_argument("--warmup", type=count(0), default=300, help="warm-up steps per chain")
    parser.add_argument("--draws", type=count(1), default=300, help="kept draws per chain")
    parser.add_argument("--widths", type=widths, default="6",
                        help="hidden units per tanh layer, e.g. 4 or 8,8")
    parser.add_argument("--num-train", type=count(1), default=120, help="training rows")
    parser.add_argument("--num-test", type=count(1), default=200, help="test rows")
    parser.add_argument("--space", choices=["full", "quotient"], default="quotient")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/examples/classification",
                        help="folder for the plots")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    return args


def chain_subset(post, chains) -> symbnn.Posterior:
    """The posterior restricted to the given chains."""
    idx = np.asarray(chains)
    return dataclasses.replace(
        post, draws={k: v[idx] for k, v in post.draws.items()},
        sample_stats={k: v[idx] for k, v in post.sample_stats.items()})


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """Mean over inputs of the total variation between class distributions (n, K)."""
    return float(np.mean(0.5 * np.abs(p - q).sum(-1)))


def plot_probabilities(post, x, y, path: Path) -> str:
    """BMA class probabilities on a grid, with the training data."""
    lo, hi = x.min(0) - 0.5, x.max(0) + 0.5
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], 80), np.linspace(lo[1], hi[1], 80))
    grid = np.stack([g0.ravel(), g1.ravel()], 1).astype(np.float32)
    prob = post.predict(grid).reshape(-1, len(grid), post.mlp.out_features).mean(0)
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.subplots()
    num_classes = prob.shape[1]
    if num_classes == 2:
        mesh = ax.contourf(g0, g1, prob[:, 1].reshape(g0.shape), levels=np.linspace(0, 1, 11),
                           cmap="RdBu_r", alpha=0.8)
        fig.colorbar(mesh, ax=ax, label="p(class 1)")
    else:
        ax.contourf(g0, g1, prob.argmax(1).reshape(g0.shape), levels=np.arange(num_classes + 1)
                    - 0.5, cmap="tab10", vmin=0, vmax=9, alpha=0.35)
        mesh = ax.contour(g0, g1, prob.max(1).reshape(g0.shape), levels=[0.5, 0.7, 0.9],
                          colors="k", linewidths=0.6)
        ax.clabel(mesh, fontsize=7)
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="tab10", vmin=0, vmax=9, s=10, edgecolors="k",
               linewidths=0.3)
    ax.set_title("posterior predictive (BMA)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return str(path)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    data = symbnn.datasets.load(args.data, seed=args.seed, num_train=args.num_train,
                                num_test=args.num_test, standardize="train")
    x, y = data.x_train.astype(np.float32), data.y_train.astype(np.int32)
    x_test, y_test = data.x_test.astype(np.float32), data.y_test.astype(np.int32)
    num_classes = int(data.num_classes)
    mlp = symbnn.MLP(2, args.widths, num_classes, activation="tanh", output="classification")
    model = bnn(mlp, likelihood=Categorical())
    print(f"== data: {args.data}, {num_classes} classes, {len(y)} training and {len(y_test)} test "
          f"rows; network {'-'.join(map(str, mlp.sizes))} tanh, Categorical likelihood")
    print(f"== run: {args.chains} chains x ({args.warmup} warm-up + {args.draws} draws), "
          f"{args.space} space", flush=True)
    t0 = time.perf_counter()
    post = symbnn.sample(model, x, y, rng_key=jax.random.PRNGKey(args.seed),
                         num_chains=args.chains, num_warmup=args.warmup, num_draws=args.draws,
                         space=args.space, progress=not args.quiet)
    print(f"   {time.perf_counter() - t0:.1f} s (compilation included)")

    prob = post.predict(x_test)  # (chain, draw, n, K)
    bma = prob.reshape(-1, *prob.shape[2:]).mean(0)
    per_chain = prob.mean(1)
    lppd = post.lppd(x_test, y_test).mean
    print("\n== test set")
    print(f"accuracy of the BMA: {np.mean(bma.argmax(-1) == y_test):.3f}; mean log predictive "
          f"density: {lppd:.3f} (chance: {-np.log(num_classes):.3f})")
    print("accuracy per chain: " + " ".join(f"{np.mean(p.argmax(-1) == y_test):.3f}"
                                            for p in per_chain))

    print("\n== agreement between chains (predictive total variation at the test inputs)")
    tv = np.zeros((args.chains, args.chains))
    for i, j in itertools.combinations(range(args.chains), 2):
        tv[i, j] = tv[j, i] = total_variation(per_chain[i], per_chain[j])
    print("\n".join(f"chain {i}: " + " ".join(f"{v:.3f}" for v in row)
                    for i, row in enumerate(tv)))
    print(f"largest pairwise total variation: {tv.max():.3f}")
    half = args.chains // 2
    cmp = diagnostics.compare(jax.random.key(args.seed), chain_subset(post, range(half)),
                              chain_subset(post, range(half, args.chains)), x=x_test)
    print(f"chains {list(range(half))} vs {list(range(half, args.chains))}: top-1 agreement "
          f"{cmp.function['agreement']:.3f}, total variation {cmp.function['total_variation']:.3f}"
          f"; canonical energy distance {cmp.energy_distance:+.4f} (p = {cmp.energy_p_value:.3f})")

    print("\n== convergence (raw vs canonical weights vs predicted probabilities)")
    print(diagnostics.summary(post, x=x_test, aligned=False))

    print(f"\n== plots in {out}")
    files = [plot_probabilities(post, x, y, out / "probabilities.png"),
             diagnostics.plot_rank(post, out / "rank.png")]
    for f in files:
        print(f"   {f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
