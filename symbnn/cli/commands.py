"""The ``symbnn`` subcommands: ``fit``, ``diagnose``, ``compare``, ``datasets``."""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

from symbnn.cli.reports import compare_runs, diagnose_run
from symbnn.runs import (
    DATA,
    POSTERIOR,
    RUN,
    SUMMARY,
    describe_data,
    open_run,
    write_json,
    write_run,
)
from symbnn.samplers import KERNELS, CheckpointError

__all__ = ["compare", "datasets", "diagnose", "fit"]


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


_KERNEL_FLAGS = {"target_accept": ("nuts", "hmc", "mams", "smc"), "max_tree_depth": ("nuts",)}


def _kernel(args):
    """The kernel object of ``--kernel`` with the flags given for it.

    A flag the kernel does not take is refused, never silently dropped.
    """
    given = {k: getattr(args, k) for k in _KERNEL_FLAGS if getattr(args, k) is not None}
    for flag, kernels in _KERNEL_FLAGS.items():
        if flag in given and args.kernel not in kernels:
            raise ValueError(f"argument --{flag.replace('_', '-')}: applies to --kernel "
                             f"{' or '.join(kernels)}, not {args.kernel}")
    kernel = KERNELS[args.kernel](**given)
    if kernel.population and args.init != "prior":
        raise ValueError(f"argument --init: --kernel {args.kernel} tempers its chains from the "
                         f"prior and needs --init prior, got --init {args.init}")
    return kernel


def _join_processes(args) -> bool:
    """Join a multi-process run if the flags or a SLURM / Open MPI launch ask for one."""
    from symbnn.samplers import distributed

    flags = (args.coordinator, args.num_processes, args.process_id)
    if all(f is None for f in flags) and not distributed.cluster_detected():
        return False
    try:
        distributed.initialize(*flags, timeout=args.distributed_timeout,
                               heartbeat_timeout=args.heartbeat_timeout)
    except ValueError as err:
        raise ValueError(f"argument --coordinator/--num-processes/--process-id: {err}") from err
    return True


def fit(args) -> None:
    """``symbnn fit``: sample, write the run folder, then diagnose it (unless told not to)."""
    import jax

    import symbnn
    from symbnn.models import NormalPrior, bnn

    out = Path(args.out)
    if (out / POSTERIOR).exists() and not args.overwrite:
        raise ValueError(f"argument --out: {out} already holds a run; pass --overwrite to "
                         "replace it")
    kernel = _kernel(args)  # refuses flags the kernel does not take, before anything runs
    if _join_processes(args):
        if args.layout not in ("auto", "distributed"):
            raise ValueError(f"argument --layout: a run across processes splits the chains "
                             f"among them (auto or distributed), got {args.layout}")
        if args.checkpoint is None:
            args.checkpoint = str(out / "checkpoint")  # every process streams its chains there
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
            kernel=kernel,
        )
    except CheckpointError as err:  # speak of the command's flags, not the function's
        message = str(err).replace("resume=True", "--resume")
        raise CheckpointError(f"argument --checkpoint: {message}") from err
    t2 = time.perf_counter()
    if jax.process_index() != 0:
        _info(args, f"symbnn fit: process {jax.process_index()} done; process 0 writes {out}")
        return
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
        _diagnose_folder(args, out)


def diagnose(args) -> None:
    """``symbnn diagnose RUN``: write ``summary.json`` and the plots, print the report."""
    if Path(args.run_dir).is_file():
        diagnose_file(args)
        return
    if args.mlp is not None or args.names is not None:
        raise ValueError("argument --mlp/--names: they describe a netCDF file of draws, but "
                         f"{args.run_dir} is not a file")
    _diagnose_folder(args, args.run_dir)


def _diagnose_folder(args, folder) -> None:
    run = open_run(folder)
    result, text = diagnose_run(run, plots=not args.no_plots, progress=not args.quiet)
    write_json(run.folder / SUMMARY, result)
    print(text, flush=True)
    _info(args, f"symbnn diagnose: wrote {run.folder / SUMMARY}"
                + "".join(f", {run.folder / p}" for p in result["plots"]))


def diagnose_file(args) -> None:
    """``symbnn diagnose FILE.nc --mlp ...``: draws written by arviz, from any numpyro model."""
    import xarray as xr

    from symbnn import diagnostics
    from symbnn.nets import MLP

    if args.mlp is None:
        raise ValueError(f"argument --mlp: {args.run_dir} is a file of draws, so the network's "
                         "layer sizes are needed, e.g. --mlp 3-5-5-1")
    mlp = MLP(args.mlp[0], args.mlp[1:-1], args.mlp[-1], activation=args.activation,
              output=args.output, use_bias=not args.no_bias)
    try:
        tree = xr.open_datatree(args.run_dir, engine="h5netcdf").load()
    except (OSError, ValueError) as err:
        raise ValueError(f"{args.run_dir} is not a readable netCDF file of draws: {err}") from err
    num_draws = tree["posterior"].sizes.get("draw", 0) if "posterior" in tree.children else 0
    if 0 < num_draws < diagnostics.MIN_DRAWS:
        text = str(diagnostics.many_chain_report(tree, mlp=mlp, names=args.names))
    else:
        text = str(diagnostics.summary(tree, mlp=mlp, names=args.names))
    print(text, flush=True)


def compare(args) -> None:
    """``symbnn compare RUN_A RUN_B``: print (and optionally write) the comparison."""
    run_a, run_b = open_run(args.run_a), open_run(args.run_b)
    _info(args, f"symbnn compare: {run_a.folder} vs {run_b.folder}")
    result, text = compare_runs(run_a, run_b)
    print(text, flush=True)
    if args.out is not None:
        write_json(Path(args.out), result)
        _info(args, f"symbnn compare: wrote {args.out}")


def datasets(args) -> None:
    """``symbnn datasets``: list the built-in data sets and the tables in ``--data-dir``."""
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
