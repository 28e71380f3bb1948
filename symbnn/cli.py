"""The ``symbnn`` command: fit a BNN, diagnose a run, compare two runs, list data sets.

::

    symbnn fit --data sinusoidal --widths 16,16 --space quotient --chains 8 --out runs/sin
    symbnn diagnose runs/sin
    symbnn compare runs/sin runs/sin-full
    symbnn datasets --data-dir ../shared/data

A run folder holds ``posterior.nc`` (:meth:`symbnn.Posterior.save`), ``run.json`` (the arguments,
the data set and its standardiser statistics, timings), ``data.npz`` (the test split) and, after
``diagnose`` (which ``fit`` runs unless ``--no-diagnose``), ``summary.json`` and PNG plots.

Results go to stdout; progress bars and status lines go to stderr and ``--quiet`` silences them.
Bad arguments, and bad input the library rejects, end with one line ``symbnn: error: ...`` and
exit code 2; ``symbnn --traceback ...`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from symbnn.nets import ACTIVATIONS
from symbnn.runs import (
    DATA,
    OCCUPANCY_PLOT,
    PLOTS,
    POSTERIOR,
    PREDICTIVE_PLOT,
    RANK_PLOT,
    RUN,
    SUMMARY,
    Run,
    describe_data,
    open_run,
    write_json,
    write_run,
)
from symbnn.samplers import INITS, KERNELS, LAYOUTS, SPACES, CheckpointError

__all__ = ["main"]

DESCRIPTION = """\
Sample Bayesian neural networks and judge convergence after removing their parameter-space
symmetries. Example:

  symbnn fit --data sinusoidal --widths 16,16 --space quotient --chains 8 --out runs/sin
  symbnn diagnose runs/sin
  symbnn compare runs/sin runs/sin-full
"""
STANDARDIZE = ("train", "all", "none")
TASKS = ("regression", "classification")


class _HelpFormatter(argparse.HelpFormatter):
    """Help that shows an option's default when it has one (not None or False)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if action.option_strings and not (default is None or default is False
                                          or default == argparse.SUPPRESS):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block) with exit code 2."""

    def error(self, message: str):  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ------------------------------------------------------------------ argument types
def count(minimum: int):
    """An argparse type: an integer >= ``minimum`` (the examples use it too)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


def _real(accept, expected: str):
    """An argparse type: a float for which ``accept(value)`` holds, else 'expected ...'."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive = _real(lambda v: math.isfinite(v) and v > 0, "a positive finite number")
_probability = _real(lambda v: 0.0 < v < 1.0, "a number in (0, 1)")


def widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers (units per hidden layer, e.g. 16,16), "
            f"got {text!r}")
    return widths


# ------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``symbnn`` command."""
    parser = _Parser(prog="symbnn", description=DESCRIPTION,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback of an error instead of one line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = sub.add_parser("fit", help="sample a BNN posterior into a run folder",
                         description="Sample the posterior of a Bayesian MLP with blackjax "
                         "NUTS/HMC and write a run folder; then diagnose it.",
                         formatter_class=_HelpFormatter)
    g = fit.add_argument_group("data")
    g.add_argument("--data", required=True, metavar="NAME_OR_PATH",
                   help="a built-in data set, a table name in --data-dir, or a table file")
    g.add_argument("--data-dir", metavar="DIR", help="folder of <name>.data/.csv tables")
    g.add_argument("--splits", metavar="FILE", help="splits.json for a table file")
    g.add_argument("--data-seed", type=count(0), default=0, metavar="N",
                   help="seed of synthetic data and of random splits")
    g.add_argument("--num-train", type=count(1), metavar="N", help="training rows (named sets)")
    g.add_argument("--num-test", type=count(0), metavar="N", help="test rows (named sets)")
    g.add_argument("--standardize", choices=STANDARDIZE, default="train",
                   help="standardise with training, all, or no statistics")
    g = fit.add_argument_group("model")
    g.add_argument("--widths", type=widths, default="16,16", metavar="H1,H2,...",
                   help="hidden units per layer")
    g.add_argument("--activation", choices=sorted(ACTIVATIONS), default="tanh", metavar="NAME",
                   help=f"one of {', '.join(sorted(ACTIVATIONS))}")
    g.add_argument("--output", choices=TASKS,
                   help="task (default: the data set's; regression for a table file)")
    g.add_argument("--prior-scale", type=_positive, default=1.0, metavar="SD",
                   help="sd of the iid Normal prior on weights and biases")
    g = fit.add_argument_group("sampler")
    g.add_argument("--space", choices=SPACES, default="full", help="parameter space sampled")
    g.add_argument("--kernel", choices=KERNELS, default="nuts", help="MCMC kernel")
    g.add_argument("--chains", type=count(1), default=4, metavar="N", help="chains")
    g.add_argument("--warmup", type=count(0), default=1000, metavar="N",
                   help="adaptation steps per chain")
    g.add_argument("--draws", type=count(1), default=1000, metavar="N",
                   help="kept draws per chain")
    g.add_argument("--layout", choices=LAYOUTS, default="auto", help="how chains share devices")
    g.add_argument("--init", choices=INITS, default="prior", help="chain initialisation")
    g.add_argument("--target-accept", type=_probability, default=0.8, metavar="P",
                   help="target acceptance rate of the step-size adaptation")
    g.add_argument("--max-tree-depth", type=count(1), default=10, metavar="N",
                   help="NUTS: maximum trajectory doublings")
    g.add_argument("--seed", type=count(0), default=0, metavar="N", help="seed of the sampler")
    g = fit.add_argument_group("output")
    g.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder to write")
    g.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    g.add_argument("--checkpoint", metavar="DIR",
                   help="stream draws to DIR, so that an interrupted run can be resumed")
    g.add_argument("--resume", action="store_true", help="continue the run in --checkpoint")
    g.add_argument("--no-diagnose", action="store_true", help="skip the diagnose step")
    g.add_argument("--no-plots", action="store_true", help="diagnose without PNG plots")
    g.add_argument("--quiet", action="store_true", help="no progress bars or status lines")
    fit.set_defaults(handler=_fit)

    diag = sub.add_parser("diagnose", help="R-hat/ESS before and after symmetry removal, plots")
    diag.add_argument("run_dir", metavar="RUN", help="a run folder written by 'symbnn fit'")
    diag.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    diag.add_argument("--quiet", action="store_true", help="no progress bars or status lines")
    diag.set_defaults(handler=_diagnose)

    comp = sub.add_parser("compare", help="compare two runs of the same model after symmetry "
                                          "removal")
    comp.add_argument("run_a", metavar="RUN_A", help="a run folder (its test inputs are used)")
    comp.add_argument("run_b", metavar="RUN_B", help="a run of the same model and data")
    comp.add_argument("--out", metavar="FILE", help="also write the comparison as JSON")
    comp.add_argument("--quiet", action="store_true", help="no status lines")
    comp.set_defaults(handler=_compare)

    data = sub.add_parser("datasets", help="list built-in data sets and tables in --data-dir")
    data.add_argument("--data-dir", metavar="DIR")
    data.set_defaults(handler=_datasets, quiet=False)
    return parser



def _test_metrics(post, x: np.ndarray, y: np.ndarray) -> dict:
    """Log pointwise predictive density and RMSE or accuracy of the posterior mean."""
    if len(x) == 0:
        return {}
    num = post.num_chains * post.num_draws
    mean = post.predict(x).reshape(num, len(x), -1).mean(0)
    out = {"num_rows": len(x), "lppd": post.lppd(x, y).mean}
    if post.mlp.output == "regression":
        out["rmse"] = float(np.sqrt(np.mean((mean[:, 0] - y) ** 2)))
    else:
        label = (mean[:, 0] > 0.5) if mean.shape[1] == 1 else mean.argmax(-1)
        out["accuracy"] = float(np.mean(label == y))
    return out


def _plots(run: Run, occupancy) -> list[str]:
    """Write the PNG plots into the run folder; returns their file names."""
    from symbnn import diagnostics

    post, folder = run.post, run.folder
    files = [diagnostics.plot_rank(post, folder / RANK_PLOT)]
    if occupancy is not None:
        files.append(diagnostics.plot_occupancy(occupancy, folder / OCCUPANCY_PLOT))
    if post.mlp.in_features == 1:
        xs = np.concatenate([post.x[:, 0], run.x_test[:, 0]])
        pad = 0.1 * (xs.max() - xs.min() + 1e-9)
        grid = np.linspace(xs.min() - pad, xs.max() + pad, 200)[:, None]
        files.append(diagnostics.plot_predictive(post, grid, folder / PREDICTIVE_PLOT,
                                                 x_data=post.x, y_data=post.y))
    names = [Path(f).name for f in files]
    for stale in set(PLOTS) - set(names):
        (folder / stale).unlink(missing_ok=True)  # left by an earlier diagnose
    return names


def _diagnose_run(run: Run, *, plots: bool, progress: bool) -> tuple[dict, str]:
    from tqdm.auto import tqdm

    from symbnn import diagnostics

    post = run.post
    x_eval, where = run.eval_inputs
    bar = tqdm(total=4 if plots else 3, desc="diagnose: R-hat/ESS", disable=not progress,
               leave=False, file=sys.stderr)
    summ = diagnostics.summary(post, x=x_eval)
    bar.update()
    bar.set_description("diagnose: orbit occupancy")
    occupancy, occ = None, {"tested": False}
    if post.space != "full":
        occ["reason"] = f"draws of the {post.space} space are canonical by construction"
    else:
        try:
            occupancy = diagnostics.orbit_occupancy(post)
            occ = {"tested": True, "pooled_p_value": occupancy.pooled_p_value,
                   "chain_p_values": occupancy.chain_p_values, "rejects": occupancy.rejects()}
        except ValueError as err:  # nothing the group can move, e.g. one ReLU unit per layer
            occ["reason"] = str(err)
    bar.update()
    bar.set_description("diagnose: test metrics")
    test = _test_metrics(post, run.x_test, run.y_test)
    bar.update()
    files = []
    if plots:
        bar.set_description("diagnose: plots")
        files = _plots(run, occupancy)
        bar.update()
    bar.close()
    result = {
        "run": str(run.folder), "data": run.meta.get("data", {}).get("name"),
        "space": post.space, "num_chains": post.num_chains, "num_draws": post.num_draws,
        "verdict": summ.verdict, "rhat_threshold": summ.rhat_threshold,
        "table": summ.table.to_dict(orient="index"), "num_divergences": summ.num_divergences,
        "divergences_per_chain": summ.divergences_per_chain, "bfmi": summ.bfmi,
        "orbit_members_visited": summ.orbit_members_visited, "notes": list(summ.notes),
        "predictive_inputs": {"rows": where, "num": len(x_eval)},
        "occupancy": occ, "test": test, "plots": files,
    }
    lines = [f"run {run.folder}: {result['data']}, {post.space} space, {post.num_chains} chains "
             f"x {post.num_draws} draws; predictive rows: {len(x_eval)} {where} inputs", str(summ)]
    if occ["tested"]:
        verdict = "rejected" if occ["rejects"] else "not rejected"
        lines.append(f"orbit occupancy: pooled p = {occ['pooled_p_value']:.3g} (uniform visits "
                     f"to orbit members {verdict} at level 0.01)")
    else:
        lines.append(f"orbit occupancy: not tested ({occ['reason']})")
    if test:
        score = ", ".join(f"{k} {v:.3f}" for k, v in test.items() if k != "num_rows")
        lines.append(f"test ({test['num_rows']} rows, standardised units): {score}")
    return result, "\n".join(lines)


def _compare_runs(run_a: Run, run_b: Run) -> tuple[dict, str]:
    from symbnn import diagnostics

    a, b = run_a.post, run_b.post
    for part in ("mlp", "prior", "likelihood"):
        pa, pb = getattr(a.model, part), getattr(b.model, part)
        if pa != pb:
            raise ValueError(f"RUN_A and RUN_B must be runs of the same model, but their {part} "
                             f"differ: {pa} vs {pb}")
    if a.x.shape != b.x.shape or not (np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)):
        raise ValueError("RUN_A and RUN_B were fitted to different training data (check --data, "
                         "--data-seed, --num-train and --standardize)")
    x_eval, where = run_a.eval_inputs
    names = (str(run_a.folder), str(run_b.folder))
    names = names if names[0] != names[1] else ("a", "b")
    cmp = diagnostics.compare(a, b, x=x_eval, names=names,
                              log_likelihood=(a.log_likelihood(), b.log_likelihood()))
    z = cmp.parameters["mean_z"].abs()
    result = {
        "runs": list(names), "space": cmp.space, "num_draws": cmp.num_draws,
        "energy_distance": cmp.energy_distance, "energy_p_value": cmp.energy_p_value,
        "mmd": cmp.mmd, "mmd_p_value": cmp.mmd_p_value, "max_abs_mean_z": cmp.max_abs_mean_z,
        "worst_parameter": str(z.idxmax()) if z.notna().any() else None,
        "function": cmp.function, "function_inputs": {"rows": where, "num": len(x_eval)},
        "loo": None if cmp.loo is None else cmp.loo.to_dict(orient="index"),
        "loo_error": cmp.loo_error,
    }
    function = ", ".join(f"{k} {v:.4g}" for k, v in cmp.function.items())
    lines = [
        f"compare {names[0]} vs {names[1]} ({cmp.space} draws; {cmp.num_draws[0]} and "
        f"{cmp.num_draws[1]} draws in the permutation tests)",
        f"  energy distance  {cmp.energy_distance:10.4g}   p = {cmp.energy_p_value:.3f}",
        f"  MMD^2            {cmp.mmd:10.4g}   p = {cmp.mmd_p_value:.3f}",
        f"  max |difference of means| / MCSE: {cmp.max_abs_mean_z:.3g} "
        f"({result['worst_parameter']})",
        f"  function space at {len(x_eval)} {where} inputs: {function}",
    ]
    if cmp.loo is not None:
        lines += ["PSIS-LOO on the training data:", cmp.loo.to_string()]
    else:
        lines.append(f"PSIS-LOO on the training data failed: {cmp.loo_error}")
    return result, "\n".join(lines)


# ---------------------------------------------------------------------- commands
def _info(args, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr, flush=True)


def _load_data(args):
    from symbnn import datasets

    standardize = None if args.standardize == "none" else args.standardize
    source = Path(args.data)
    is_name = (source.suffix not in datasets.TABLE_SUFFIXES and os.sep not in args.data
               and (args.data in datasets.list_datasets(args.data_dir) or not source.is_file()))
    try:
        if is_name:
            if args.splits is not None:
                raise ValueError("--splits applies to a table file, not a named data set")
            data = datasets.load(args.data, seed=args.data_seed, num_train=args.num_train,
                                 num_test=args.num_test, standardize=standardize,
                                 data_dir=args.data_dir)
        else:
            if args.num_train is not None or args.num_test is not None:
                raise ValueError("--num-train/--num-test apply to named data sets; pass "
                                 "--splits for a table file")
            data = datasets.load_table(source, splits=args.splits, standardize=standardize,
                                       seed=args.data_seed, task=args.output or "regression")
    except (ValueError, TypeError, FileNotFoundError) as err:
        raise ValueError(f"argument --data: {err}") from err
    if args.output is not None and args.output != data.task:
        raise ValueError(f"argument --output: data set {data.name!r} is a {data.task} set, got "
                         f"--output {args.output}")
    return data


def _kernel(args):
    """The kernel object of ``--kernel`` with the adaptation flags it takes."""
    options = {"nuts": dict(target_accept=args.target_accept, max_tree_depth=args.max_tree_depth),
               "hmc": dict(target_accept=args.target_accept)}
    return KERNELS[args.kernel](**options.get(args.kernel, {}))


def _fit(args) -> None:
    import jax

    import symbnn
    from symbnn.models import NormalPrior, bnn

    out = Path(args.out)
    if (out / POSTERIOR).exists() and not args.overwrite:
        raise ValueError(f"argument --out: {out} already holds a run; pass --overwrite to "
                         "replace it")
    if args.resume and args.checkpoint is None:
        raise ValueError("argument --resume: needs --checkpoint DIR (the folder to resume)")
    t0 = time.perf_counter()
    data = _load_data(args)
    mlp = symbnn.MLP(data.in_features, args.widths, data.out_features,
                     activation=args.activation, output=data.task)
    model = bnn(mlp, prior=NormalPrior(args.prior_scale))
    log_size = symbnn.symmetry_of(mlp, finite=True).log_size
    _info(args, f"symbnn fit: {data!r}; net {'-'.join(map(str, mlp.sizes))} {mlp.activation}, "
                f"{mlp.num_params} parameters, |G| = exp({log_size:.1f}); "
                f"{args.chains} chains x ({args.warmup} warm-up + {args.draws} draws), "
                f"{args.kernel} on the {args.space} space")
    t1 = time.perf_counter()
    try:
        post = symbnn.sample(
            model, data.x_train, data.y_train, rng_key=jax.random.PRNGKey(args.seed),
            num_chains=args.chains, num_warmup=args.warmup, num_draws=args.draws,
            space=args.space, init=args.init, chain_layout=args.layout,
            progress=not args.quiet, checkpoint=args.checkpoint, resume=args.resume,
            kernel=_kernel(args),
        )
    except CheckpointError as err:  # speak of the command's flags, not the function's
        message = str(err).replace("resume=True", "--resume")
        raise CheckpointError(f"argument --checkpoint: {message}") from err
    t2 = time.perf_counter()
    post.attrs["data"] = data.name
    options = {k: v for k, v in vars(args).items() if k not in ("handler", "traceback", "argv")}
    meta = {
        "symbnn_version": symbnn.__version__,
        "command": "symbnn " + shlex.join(args.argv),
        "arguments": options,
        "data": describe_data(data),
        "model": {"sizes": list(mlp.sizes), "activation": mlp.activation, "output": mlp.output,
                  "num_params": mlp.num_params, "log_orbit_size": log_size,
                  "prior_scale": args.prior_scale},
        "platform": {"jax_backend": jax.default_backend(), "num_devices": jax.device_count()},
        "timings": {"load_s": t1 - t0, "sample_s": t2 - t1,
                    **{k: v for k, v in post.attrs.items() if k.endswith("_s")},
                    "save_s": time.perf_counter() - t2},
    }
    write_run(out, post, data, meta)
    _info(args, f"symbnn fit: wrote {out / POSTERIOR}, {out / RUN} and {out / DATA} "
                f"(sampling took {t2 - t1:.1f} s)")
    if not args.no_diagnose:
        _diagnose(argparse.Namespace(run_dir=str(out), quiet=args.quiet,
                                     no_plots=args.no_plots))


def _diagnose(args) -> None:
    run = open_run(args.run_dir)
    result, text = _diagnose_run(run, plots=not args.no_plots, progress=not args.quiet)
    write_json(run.folder / SUMMARY, result)
    print(text, flush=True)
    _info(args, f"symbnn diagnose: wrote {run.folder / SUMMARY}"
                + "".join(f", {run.folder / p}" for p in result["plots"]))


def _compare(args) -> None:
    run_a, run_b = open_run(args.run_a), open_run(args.run_b)
    _info(args, f"symbnn compare: {run_a.folder} vs {run_b.folder}")
    result, text = _compare_runs(run_a, run_b)
    print(text, flush=True)
    if args.out is not None:
        write_json(Path(args.out), result)
        _info(args, f"symbnn compare: wrote {args.out}")


def _datasets(args) -> None:
    from symbnn import datasets

    folder = None if args.data_dir is None else Path(args.data_dir)
    try:
        names = datasets.list_datasets(folder)
    except FileNotFoundError as err:
        raise ValueError(f"argument --data-dir: {err}") from err
    tables = {}
    for name in names if folder is not None else ():
        found = [folder / f"{name}{s}" for s in datasets.TABLE_SUFFIXES]
        found = [p for p in found if p.is_file()]
        if found:  # the file load() would read
            tables[name] = found[0]
    rows = []
    for name in names:
        if name in tables:  # a table in --data-dir takes precedence over a built-in name
            split = "splits.json" if (folder / "splits.json").is_file() else "80/20 split"
            rows.append((name, f"table {tables[name]}", "regression", split))
        elif name in datasets.SYNTHETIC:
            spec = datasets.SYNTHETIC[name]
            rows.append((name, "synthetic", spec[1], f"{spec[3]} / {spec[4]}"))
        else:
            rows.append((name, "scikit-learn", datasets.SKLEARN[name][1], "80/20 split"))
    width = max(len(r[0]) for r in rows)
    print(f"{'name':<{width}}  {'task':<14}  {'train / test':<14}  source")
    for name, source, task, size in rows:
        print(f"{name:<{width}}  {task:<14}  {size:<14}  {source}")


# -------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    """Run the ``symbnn`` command with ``argv`` (default ``sys.argv[1:]``); returns 0.

    Errors end the process: ``SystemExit(2)`` with a one-line message for bad arguments or
    input, ``SystemExit(130)`` on Ctrl-C.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        args.handler(args)
    except KeyboardInterrupt:
        checkpoint = getattr(args, "checkpoint", None)
        hint = ""
        if checkpoint:
            hint = f"; the draws so far are in {checkpoint}: run the same command with --resume"
        elif args.command == "fit":
            hint = "; pass --checkpoint DIR to make a run resumable"
        parser.exit(130, f"symbnn: interrupted{hint}\n")
    except (ValueError, TypeError, OSError, CheckpointError) as err:
        if args.traceback:
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        parser.exit(2, f"symbnn: error: {message}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
