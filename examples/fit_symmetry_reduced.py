"""Symmetry-reduced sampling: the quotient, the full space and the constrained space, same budget.

A small tanh BNN on the built-in sinusoidal data is sampled by symbnn NUTS three times, with the
same key, chains, warm-up and draws:

* ``full``: all parameters, as a plain numpyro model would be sampled;
* ``quotient``: the folded chain (an equivariant kernel followed by canonicalisation after every
  transition), a valid MCMC kernel on the quotient by the finite symmetry group;
* ``constrained``: the model reparameterised so that hidden biases are positive and ordered, the
  same quotient reached through ordering constraints.

All three target the same posterior over functions, so after mapping every draw to its canonical
representative the three posteriors should agree. The script prints per space the wall time,
gradient evaluations, divergences, canonical and predictive R-hat and ESS, and ESS per second and
per 1000 gradient evaluations; then ``symbnn.diagnostics.compare`` of the canonical posteriors pair
by pair (energy distance and MMD permutation tests, function-space distances at test inputs).

The constrained space is known to mix badly (Wiese et al. 2023, ECML PKDD): in the unconstrained
coordinates that numpyro's ordering transform uses (first bias, log gaps), two units whose biases
tie sit at a log gap of minus infinity, a funnel-like region where an adapted step size is too large
and trajectories diverge. The script shows where its divergences happen: at draws whose smallest
bias gap is far below the typical one.

Run ``python examples/fit_symmetry_reduced.py`` (about a minute on 2 idle cores).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np
from matplotlib.figure import Figure

import symbnn
from symbnn import diagnostics
from symbnn.cli import count, widths
from symbnn.models import bnn

SPACES = ("full", "quotient", "constrained")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=count(2), default=4, help="chains per space")
    parser.add_argument("--warmup", type=count(0), default=300, help="warm-up steps per chain")
    parser.add_argument("--draws", type=count(1), default=300, help="kept draws per chain")
    parser.add_argument("--widths", type=widths, default="3",
                        help="hidden units per tanh layer, e.g. 4 or 8,8")
    parser.add_argument("--num-train", type=count(1), default=60, help="training rows")
    parser.add_argument("--num-test", type=count(1), default=30, help="test rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/examples/fit_symmetry_reduced",
                        help="folder for the plots")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    return args


def min_gaps(post) -> np.ndarray:
    """Per draw, the smallest gap of the positive ordered hidden biases (chain, draw).

    The gaps are ``b[0] - 0`` and ``b[j+1] - b[j]`` of the canonical biases of every hidden
    layer: the distances to the boundaries of the ordered region.
    """
    canon = post.canonical().params
    gaps = []
    for layer in range(post.mlp.num_hidden):
        b = canon[post.mlp.bias_name(layer)]
        gaps.append(np.diff(np.concatenate([np.zeros_like(b[..., :1]), b], -1), axis=-1))
    return np.min(np.concatenate(gaps, -1), axis=-1)


def space_row(space: str, post, summ, wall: float) -> dict:
    stats = post.sample_stats
    grads = int(np.sum(stats["num_integration_steps"]))
    ess_canon = float(summ.table.loc["canonical", "min_ess_bulk"])
    ess_pred = float(summ.table.loc["predictive", "min_ess_bulk"])
    return {
        "space": space, "wall_s": wall, "grad_evals": grads,
        "divergences": int(np.sum(stats["diverging"])),
        "rhat_canon": float(summ.table.loc["canonical", "max_rhat"]),
        "rhat_pred": float(summ.table.loc["predictive", "max_rhat"]),
        "ess_canon": ess_canon, "ess_pred": ess_pred,
        "ess_canon_per_s": ess_canon / wall, "ess_canon_per_1k_grad": 1e3 * ess_canon / grads,
        "ess_pred_per_1k_grad": 1e3 * ess_pred / grads,
    }


COLUMNS = [("space", "space", "<11"), ("wall_s", "wall s", ">7.1f"),
           ("grad_evals", "grad evals", ">10d"), ("divergences", "div", ">5d"),
           ("rhat_canon", "R-hat can", ">9.3f"), ("rhat_pred", "R-hat pred", ">10.3f"),
           ("ess_canon", "ESS can", ">8.1f"), ("ess_pred", "ESS pred", ">8.1f"),
           ("ess_canon_per_s", "can/s", ">7.2f"),
           ("ess_canon_per_1k_grad", "can/1k grad", ">11.2f"),
           ("ess_pred_per_1k_grad", "pred/1k grad", ">12.2f")]


def format_table(rows: list[dict]) -> str:
    def width(spec: str) -> int:
        return int("".join(ch for ch in spec.split(".")[0] if ch.isdigit()))

    head = " ".join(f"{h:>{width(s)}}" if s[0] == ">" else f"{h:<{width(s)}}"
                    for _, h, s in COLUMNS)
    body = [" ".join(format(r[k], s) for k, _, s in COLUMNS) for r in rows]
    return "\n".join([head, *body])


def plot_canonical_marginals(posts: dict, path: Path) -> str:
    """Histograms of the canonical hidden biases and output bias, one panel each, by space."""
    mlp = next(iter(posts.values())).mlp
    names = [(mlp.bias_name(0), j) for j in range(mlp.widths[0])] + [(mlp.bias_name(1), 0)]
    canon = {space: post.canonical().params for space, post in posts.items()}
    fig = Figure(figsize=(3.0 * len(names), 3.0))
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, (name, j) in zip(axes, names, strict=True):
        values = {s: c[name][..., j].reshape(-1) for s, c in canon.items()}
        lo = min(v.min() for v in values.values())
        hi = max(v.max() for v in values.values())
        bins = np.linspace(lo, hi, 30)
        for space, v in values.items():
            ax.hist(v, bins=bins, density=True, histtype="step", label=space)
        ax.set_title(f"canonical {name}[{j}]", fontsize=9)
        ax.set_yticks([])
    axes[0].legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return str(path)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    data = symbnn.datasets.load("sinusoidal", seed=args.seed, num_train=args.num_train,
                                num_test=args.num_test, standardize="train")
    x, y = data.x_train.astype(np.float32), data.y_train.astype(np.float32)
    x_test = data.x_test.astype(np.float32)
    mlp = symbnn.MLP(1, args.widths, 1, activation="tanh", output="regression")
    model = bnn(mlp)
    print(f"== data: sinusoidal, {len(y)} training rows; network "
          f"{'-'.join(map(str, mlp.sizes))} tanh; "
          f"|G| = {np.exp(model.group.log_size):.0f} copies of every mode")
    print(f"== budget per space: {args.chains} chains x ({args.warmup} warm-up + {args.draws} "
          "draws), NUTS, the same key")

    key = jax.random.PRNGKey(args.seed)
    posts, rows, summaries = {}, [], {}
    for space in SPACES:
        print(f"== run: {space}", flush=True)
        t0 = time.perf_counter()
        posts[space] = symbnn.sample(model, x, y, rng_key=key, num_chains=args.chains,
                                     num_warmup=args.warmup, num_draws=args.draws, space=space,
                                     progress=not args.quiet)
        wall = time.perf_counter() - t0
        summaries[space] = diagnostics.summary(posts[space], x=x_test, aligned=False)
        rows.append(space_row(space, posts[space], summaries[space], wall))

    print("\n== per space (wall time includes compilation; ESS: minimum bulk ESS over canonical "
          "parameters / predictions at the test inputs)")
    print(format_table(rows))
    for space, summ in summaries.items():
        print(f"{space:<11} verdict: {summ.verdict}")

    print("\n== canonical posteriors compared (energy distance and MMD permutation tests on "
          "standardised canonical draws; a small p-value says the two differ)")
    for a, b in (("full", "quotient"), ("full", "constrained"), ("quotient", "constrained")):
        cmp = diagnostics.compare(jax.random.key(args.seed), posts[a], posts[b], x=x_test,
                                  labels=(a, b))
        fn = ", ".join(f"{k} {v:.4f}" for k, v in cmp.function.items())
        print(f"{a:>8} vs {b:<11}: energy {cmp.energy_distance:+.4f} (p = "
              f"{cmp.energy_p_value:.3f}), MMD {cmp.mmd:+.4f} (p = {cmp.mmd_p_value:.3f}), "
              f"max |mean z| {cmp.max_abs_mean_z:.2f}; function: {fn}")

    print("\n== divergences of the constrained space")
    cons = posts["constrained"]
    div = np.asarray(cons.sample_stats["diverging"], bool)
    gaps = min_gaps(cons)
    print(f"{int(div.sum())} of {div.size} transitions diverged "
          f"(full: {rows[0]['divergences']}, quotient: {rows[1]['divergences']}).")
    print(f"median smallest bias gap: {np.median(gaps):.3f} over all draws"
          + (f", {np.median(gaps[div]):.3f} at divergent transitions" if div.any() else ""))
    print("The ordering transform samples log gaps of the ordered biases; where two units tie the\n"
          "log gap runs to minus infinity and the posterior narrows into a funnel there, so the\n"
          "step size adapted in the bulk overshoots and trajectories diverge. The quotient chain\n"
          "has no such boundary: it moves on the full space and only relabels units afterwards.")

    print(f"\n== plots in {out}")
    files = [plot_canonical_marginals(posts, out / "canonical_marginals.png")]
    grid = np.linspace(x.min() - 0.3, x.max() + 0.3, 120, dtype=np.float32)[:, None]
    for space, post in posts.items():
        files.append(diagnostics.plot_predictive(post, grid, out / f"predictive_{space}.png",
                                                 x_data=x, y_data=y))
    for f in files:
        print(f"   {f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
