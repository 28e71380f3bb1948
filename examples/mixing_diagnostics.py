"""Mixing diagnostics of a tanh BNN: numpyro NUTS on the full space against symbnn.

One small tanh network on the built-in sinusoidal data is sampled three ways with the same budget:

* ``numpyro``: plain ``numpyro.infer.MCMC(NUTS(model))`` on the full parameter space, its draws
  wrapped into a symbnn ``Posterior`` so that every symbnn diagnostic applies to them;
* ``quotient``: ``symbnn.sample(..., space="quotient")``, the folded chain on the quotient by the
  finite symmetry group (one canonical representative per orbit);
* ``orbit``: ``symbnn.sample(..., space="full", orbit_moves=True)``, full-space NUTS followed by a
  uniformly drawn group element after every transition.

For each run the script prints ``symbnn.diagnostics.summary`` (R-hat and ESS on raw weights, on
canonical and aligned weights, and on predictions), then one table with the three side by side,
the orbit-occupancy test (a full-space chain that mixed visits every copy of a mode equally often)
and ``symbnn.diagnostics.compare`` of numpyro's canonical draws against each symbnn run. Plots (rank
plots raw vs canonical, orbit occupancy, predictive bands) go to ``--out``.

What to expect: numpyro's chains each stay in one or a few of the |G| copies of a mode, so raw
R-hat is large and the occupancy test rejects, while canonical and predictive R-hat are near one.
The quotient draws are canonical already (raw equals canonical); symmetrised, they are exact
full-space draws and pass the occupancy test, as do the orbit-move draws.

Run ``python examples/mixing_diagnostics.py`` (about a minute on 2 idle cores).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np

import symbnn
from symbnn import diagnostics
from symbnn.cli import count, widths
from symbnn.models import bnn

SAMPLERS = {
    "numpyro": "numpyro NUTS, full space",
    "quotient": "symbnn NUTS, quotient space",
    "orbit": "symbnn NUTS, full space + orbit moves",
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=count(2), default=4, help="chains per sampler")
    parser.add_argument("--warmup", type=count(0), default=300, help="warm-up steps per chain")
    parser.add_argument("--draws", type=count(1), default=300, help="kept draws per chain")
    parser.add_argument("--widths", type=widths, default="3",
                        help="hidden units per tanh layer, e.g. 4 or 8,8")
    parser.add_argument("--num-train", type=count(1), default=60, help="training rows")
    parser.add_argument("--num-test", type=count(1), default=30,
                        help="test rows (inputs of the predictive diagnostics)")
    parser.add_argument("--samplers", nargs="+", choices=list(SAMPLERS), default=list(SAMPLERS),
                        help="which runs to make (numpyro is the reference of the comparisons)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/examples/mixing_diagnostics",
                        help="folder for the plots")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    return args


def run_numpyro(model, x, y, args, rng_key) -> symbnn.Posterior:
    """NUTS from numpyro on the full space, wrapped into a symbnn Posterior."""
    from numpyro.infer import MCMC, NUTS

    mcmc = MCMC(NUTS(model), num_warmup=args.warmup, num_samples=args.draws,
                num_chains=args.chains, chain_method="sequential", progress_bar=not args.quiet)
    mcmc.run(rng_key, x, y=y, extra_fields=("diverging", "energy", "potential_energy",
                                             "num_steps"))
    return symbnn.Posterior.from_numpyro(model, mcmc, x, y)


def run_symbnn(model, x, y, args, rng_key, *, space: str, orbit_moves: bool):
    """symbnn NUTS on ``space``."""
    return symbnn.sample(model, x, y, rng_key=rng_key, num_chains=args.chains,
                         num_warmup=args.warmup, num_draws=args.draws, space=space,
                         orbit_moves=orbit_moves, progress=not args.quiet)


def side_by_side(summaries: dict, walls: dict) -> str:
    """One line per sampler: R-hat and ESS of the raw, canonical and predictive rows."""
    head = (f"{'sampler':<10} {'R-hat raw':>10} {'canonical':>10} {'predictive':>10} "
            f"{'ESS canon':>10} {'ESS pred':>9} {'div':>5} {'wall s':>7}  verdict")
    lines = [head]
    for name, s in summaries.items():
        t = s.table
        div = "n/a" if s.num_divergences is None else str(s.num_divergences)
        rhat = [t.loc[row, "max_rhat"] for row in ("raw", "canonical", "predictive")]
        ess = [t.loc[row, "min_ess_bulk"] for row in ("canonical", "predictive")]
        lines.append(f"{name:<10} {rhat[0]:>10.3f} {rhat[1]:>10.3f} {rhat[2]:>10.3f} "
                     f"{ess[0]:>10.1f} {ess[1]:>9.1f} {div:>5} {walls[name]:>7.1f}  {s.verdict}")
    return "\n".join(lines)


def occupancy_line(label: str, occ) -> str:
    chains = " ".join(f"{p:.2g}" for p in occ.chain_p_values)
    verdict = "rejects" if occ.rejects(0.01) else "does not reject"
    return (f"{label:<23} pooled p = {occ.pooled_p_value:.3g}; per chain p = {chains}; "
            f"Bonferroni p = {occ.p_value:.3g} {verdict} uniform occupancy at the 1% level")


def comparison_lines(label: str, cmp) -> list[str]:
    lines = [f"{label}: energy distance {cmp.energy_distance:.4f} (p = {cmp.energy_p_value:.3f}),"
             f" MMD {cmp.mmd:.4f} (p = {cmp.mmd_p_value:.3f}), max |mean difference| / MCSE "
             f"{cmp.max_abs_mean_z:.2f}"]
    if cmp.function:
        lines.append("  function space at the test inputs: "
                     + ", ".join(f"{k} {v:.4f}" for k, v in cmp.function.items()))
    if cmp.loo is not None:
        cols = [c for c in ("rank", "elpd", "se", "p", "elpd_diff", "dse", "weight")
                if c in cmp.loo]
        # arviz_stats.compare rounds elpd and elpd_diff to the digits their standard errors allow.
        lines.append("  PSIS-LOO on the training data (arviz_stats.compare):")
        lines += ["    " + row for row in cmp.loo[cols].to_string(float_format="{:.2f}".format)
                  .splitlines()]
    return lines


def compare(post_a, post_b, x_test, names, seed):
    """``diagnostics.compare`` with PSIS-LOO on the training data (reported if PSIS fails)."""
    lls = (post_a.log_likelihood(), post_b.log_likelihood())
    cmp = diagnostics.compare(jax.random.key(seed), post_a, post_b, log_likelihood=lls,
                              x=x_test, labels=names)
    if cmp.loo_error is not None:  # e.g. too few distinct draws for the Pareto tail fit
        print(f"  (PSIS-LOO failed: {cmp.loo_error})")
    return cmp


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    data = symbnn.datasets.load("sinusoidal", seed=args.seed, num_train=args.num_train,
                                num_test=args.num_test, standardize="train")
    x, y = data.x_train.astype(np.float32), data.y_train.astype(np.float32)
    x_test, y_test = data.x_test.astype(np.float32), data.y_test.astype(np.float32)
    mlp = symbnn.MLP(1, args.widths, 1, activation="tanh", output="regression")
    model = bnn(mlp)
    print(f"== data: sinusoidal, {len(y)} training and {len(y_test)} test rows; network "
          f"{'-'.join(map(str, mlp.sizes))} tanh, {mlp.num_params} parameters, log|G| = "
          f"{model.group.log_size:.2f} (|G| = {np.exp(model.group.log_size):.0f})")

    keys = dict(zip(SAMPLERS, jax.random.split(jax.random.PRNGKey(args.seed), len(SAMPLERS)),
                    strict=True))
    posts, walls = {}, {}
    for name in args.samplers:
        print(f"== run: {SAMPLERS[name]} ({args.chains} chains x {args.warmup} warm-up + "
              f"{args.draws} draws)", flush=True)
        t0 = time.perf_counter()
        if name == "numpyro":
            posts[name] = run_numpyro(model, x, y, args, keys[name])
        else:
            posts[name] = run_symbnn(model, x, y, args, keys[name],
                                     space="quotient" if name == "quotient" else "full",
                                     orbit_moves=name == "orbit")
        walls[name] = time.perf_counter() - t0
        print(f"   {walls[name]:.1f} s (compilation included)")

    summaries = {}
    for name, post in posts.items():
        summaries[name] = diagnostics.summary(post, x=x_test)
        print(f"\n== summary: {SAMPLERS[name]}")
        print(summaries[name])
    print("\n== summary table: max R-hat (raw / canonical / predictive), min bulk ESS")
    print(side_by_side(summaries, walls))

    print("\n== orbit occupancy (chi-square tests that each draw's canonicalising group element "
          "is uniform)")
    occupancies = {}
    for name, post in posts.items():
        label = name
        if name == "quotient":
            # Canonical draws sit in one orbit member by construction; a uniform group element
            # per draw turns them into exact full-space draws, which must pass the test.
            post = post.symmetrized(jax.random.fold_in(keys[name], 1))
            label = "quotient (symmetrised)"
        occupancies[name] = diagnostics.orbit_occupancy(post)
        print(occupancy_line(label, occupancies[name]))

    if "numpyro" in posts and len(posts) > 1:
        print("\n== comparison of canonical posteriors (numpyro = a)")
        for name, post in posts.items():
            if name == "numpyro":
                continue
            print("\n".join(comparison_lines(f"numpyro vs {name}",
                                              compare(posts["numpyro"], post, x_test,
                                                      ("numpyro", name), args.seed))))

    print(f"\n== plots in {out}")
    grid = np.linspace(x.min() - 0.3, x.max() + 0.3, 120, dtype=np.float32)[:, None]
    files = []
    for name, post in posts.items():
        files.append(diagnostics.plot_rank(post, out / f"rank_{name}.png"))
        files.append(diagnostics.plot_occupancy(occupancies[name], out / f"occupancy_{name}.png"))
        files.append(diagnostics.plot_predictive(post, grid, out / f"predictive_{name}.png",
                                                 x_data=x, y_data=y))
    for f in files:
        print(f"   {f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
