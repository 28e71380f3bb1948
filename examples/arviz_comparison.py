"""Two priors for one BNN, compared with arviz: DataTree, PSIS-LOO, ``compare`` and plots.

The same tanh network is fitted to the built-in ``gap`` data (two clusters of inputs with nothing
in between) under two priors, by default ``NormalPrior(1.0)`` and ``NormalPrior(0.3)`` (every weight
and bias iid Normal with that scale); ``FanInNormalPrior(1.0)`` (weights scaled by 1/sqrt(fan-in))
is the third choice. Each run is sampled on the quotient space and converted with
``Posterior.to_datatree()`` into an arviz (>= 1.0) DataTree with posterior, sample_stats,
log_likelihood and observed_data groups. The script then prints

* ``arviz_stats.loo`` of each model (PSIS-LOO, with its Pareto k diagnostic),
* ``arviz_stats.compare`` of the two (elpd differences, stacking weights),
* the log pointwise predictive density on held-out test rows, as a check of the ranking,

after a line of convergence diagnostics per run (a LOO estimate of chains that disagree is an
estimate of the sampler's output, not of the model),

and draws with ``arviz_plots`` (matplotlib backend) the comparison plot, the Pareto k values and a
forest plot of canonical biases and the noise scale under both priors; if ``arviz_plots`` fails,
a plain matplotlib plot of elpd with its standard error takes the place of the comparison plot.

Parameter-space posteriors are compared after canonicalisation (``Posterior.canonical()``): raw
weights of a BNN are only defined up to the symmetry group, so their forest plot would mix copies.

Run ``python examples/arviz_comparison.py`` (under a minute on 2 idle cores).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import arviz_stats
import jax
import numpy as np

import symbnn
from symbnn import diagnostics
from symbnn.cli import count, widths
from symbnn.models import FanInNormalPrior, NormalPrior, bnn

PRIORS = {
    "normal1": NormalPrior(1.0),
    "normal0.3": NormalPrior(0.3),
    "fanin1": FanInNormalPrior(1.0),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=count(1), default=4, help="chains per prior")
    parser.add_argument("--warmup", type=count(0), default=300, help="warm-up steps per chain")
    parser.add_argument("--draws", type=count(1), default=300, help="kept draws per chain")
    parser.add_argument("--widths", type=widths, default="4",
                        help="hidden units per tanh layer, e.g. 4 or 8,8")
    parser.add_argument("--num-train", type=count(1), default=80, help="training rows")
    parser.add_argument("--num-test", type=count(1), default=80, help="test rows")
    parser.add_argument("--priors", nargs=2, choices=list(PRIORS), default=["normal1", "normal0.3"],
                        metavar="PRIOR", help=f"the two priors, from {list(PRIORS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/examples/arviz_comparison",
                        help="folder for the plots")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.priors[0] == args.priors[1]:
        parser.error("--priors must name two different priors")
    return args


def arviz_plots_figures(cmp, loos: dict, canon_trees: dict, out: Path) -> list[str]:
    """Comparison, Pareto k and forest plots with arviz_plots; returns the files written."""
    import arviz_plots

    files = []
    pc = arviz_plots.plot_compare(cmp, backend="matplotlib")
    pc.savefig(out / "compare.png")
    files.append(out / "compare.png")
    for name, loo in loos.items():
        pc = arviz_plots.plot_khat(loo, backend="matplotlib")
        pc.savefig(out / f"khat_{name}.png")
        files.append(out / f"khat_{name}.png")
    pc = arviz_plots.plot_forest(canon_trees, var_names=["b0", "bL", "sigma"], combined=True,
                                 backend="matplotlib")
    pc.add_legend("model")
    pc.savefig(out / "forest_canonical.png")
    files.append(out / "forest_canonical.png")
    return [str(f) for f in files]


def matplotlib_compare(cmp, out: Path) -> list[str]:
    """Fallback: elpd with its standard error per model, plain matplotlib."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 1.0 + 0.5 * len(cmp)))
    ax = fig.subplots()
    pos = np.arange(len(cmp))
    ax.errorbar(cmp["elpd"], pos, xerr=cmp["se"], fmt="o")
    ax.set_yticks(pos, list(cmp.index))
    ax.set_xlabel("elpd (PSIS-LOO), higher is better")
    fig.savefig(out / "compare.png", dpi=100, bbox_inches="tight")
    return [str(out / "compare.png")]


def main(argv=None) -> int:
    import matplotlib

    matplotlib.use("Agg")  # arviz_plots draws with pyplot; no display needed
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = symbnn.datasets.load("gap", seed=args.seed, num_train=args.num_train,
                                num_test=args.num_test, standardize="train")
    x, y = data.x_train.astype(np.float32), data.y_train.astype(np.float32)
    x_test, y_test = data.x_test.astype(np.float32), data.y_test.astype(np.float32)
    mlp = symbnn.MLP(1, args.widths, 1, activation="tanh", output="regression")
    print(f"== data: gap, {len(y)} training and {len(y_test)} test rows; network "
          f"{'-'.join(map(str, mlp.sizes))} tanh; {args.chains} chains x "
          f"({args.warmup} warm-up + {args.draws} "
          "draws) per prior, quotient space")

    posts, trees, canon_trees, loos, lppd = {}, {}, {}, {}, {}
    for i, name in enumerate(args.priors):
        model = bnn(mlp, prior=PRIORS[name])
        print(f"== run: prior {name} = {PRIORS[name]!r}", flush=True)
        t0 = time.perf_counter()
        post = symbnn.sample(model, x, y, rng_key=jax.random.PRNGKey(args.seed + i),
                             num_chains=args.chains, num_warmup=args.warmup,
                             num_draws=args.draws, space="quotient", progress=not args.quiet)
        print(f"   {time.perf_counter() - t0:.1f} s")
        posts[name] = post
        trees[name] = post.to_datatree()
        canon_trees[name] = post.canonical().to_datatree(log_likelihood=False)
        lppd[name] = post.lppd(x_test, y_test).mean
        summ = diagnostics.summary(post, x=x_test, aligned=False)
        rhat = summ.table.loc[["canonical", "predictive"], "max_rhat"].to_numpy()
        print(f"   max R-hat canonical {rhat[0]:.3f}, predictive {rhat[1]:.3f}; "
              f"{summ.num_divergences} divergences; {summ.verdict}")

    print("\n== DataTree groups: " + ", ".join(trees[args.priors[0]].children))
    for name, dt in trees.items():
        try:
            loos[name] = arviz_stats.loo(dt, pointwise=True)
        except ValueError as err:  # e.g. a stuck chain: too few distinct draws for the tail fit
            print(f"PSIS-LOO failed for prior {name}: {str(err).splitlines()[0]}\n"
                  "(too few distinct draws; run with more --warmup and --draws)")
            return 1
        print(f"\n== PSIS-LOO, prior {name}\n{loos[name]}")
    cmp = arviz_stats.compare(trees)
    print("\n== arviz_stats.compare (elpd rounded to the digits its standard error allows)")
    cols = [c for c in ("rank", "elpd", "se", "p", "elpd_diff", "dse", "weight") if c in cmp]
    print(cmp[cols].to_string())
    print("\n== held-out test rows: mean log pointwise predictive density")
    for name, value in lppd.items():
        print(f"{name:<10} {value:.4f}")
    best_loo, best_test = cmp.index[0], max(lppd, key=lppd.get)
    print(f"best by PSIS-LOO: {best_loo}; best on the test rows: {best_test}")

    print(f"\n== plots in {out}")
    try:
        files = arviz_plots_figures(cmp, loos, canon_trees, out)
    except Exception as err:  # noqa: BLE001 - plotting is optional; say why and fall back
        print(f"   arviz_plots failed ({type(err).__name__}: {err}); plain matplotlib instead")
        files = matplotlib_compare(cmp, out)
    for f in files:
        print(f"   {f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
