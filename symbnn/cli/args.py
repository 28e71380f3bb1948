"""The ``symbnn`` parser and argument types (``count`` and ``widths`` serve the scripts too)."""

from __future__ import annotations

import argparse
import math

from symbnn.cli import commands
from symbnn.nets import ACTIVATIONS
from symbnn.samplers import INITS, KERNELS, LAYOUTS, SPACES

__all__ = ["build_parser", "count", "widths"]

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
    """Argument type: comma-separated hidden-layer widths, each >= 1 (``"16,16"``)."""
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
QUIET = ("--quiet", "no progress bars or status lines")


def sizes(text: str) -> tuple[int, ...]:
    """Argument type: layer sizes ``D-H1-...-K`` (at least input and output), each >= 1."""
    try:
        out = tuple(int(v) for v in text.split("-"))
    except ValueError:
        out = ()
    if len(out) < 2 or min(out) < 1:
        raise argparse.ArgumentTypeError(
            f"expected layer sizes such as 3-5-5-1 (inputs, hidden widths, outputs), got {text!r}")
    return out


def site_names(text: str) -> dict[str, str]:
    """Argument type: ``old=new,...`` pairs of site names."""
    pairs = [p.split("=") for p in text.split(",") if p]
    if not pairs or any(len(p) != 2 or not all(p) for p in pairs):
        raise argparse.ArgumentTypeError(f"expected OLD=NEW,... such as w1=W0,w2=WL, got {text!r}")
    return dict(pairs)


def _switches(parser, *flags: tuple[str, str]) -> None:
    """Add on/off flags given as (name, help) pairs."""
    for name, text in flags:
        parser.add_argument(name, action="store_true", help=text)


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
    g.add_argument("--target-accept", type=_probability, metavar="P",
                   help="nuts, hmc, mams, smc: target acceptance rate of the step-size adaptation "
                        "(default: the kernel's: 0.8; 0.9 for mams, 0.65 for smc)")
    g.add_argument("--max-tree-depth", type=count(1), metavar="N",
                   help="nuts: maximum trajectory doublings (default 10)")
    g.add_argument("--seed", type=count(0), default=0, metavar="N", help="seed of the sampler")
    g = fit.add_argument_group("output")
    g.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder to write")
    g.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    g.add_argument("--checkpoint", metavar="DIR",
                   help="stream draws to DIR, so that an interrupted run can be resumed")
    _switches(g, ("--resume", "continue the run in --checkpoint"),
              ("--no-diagnose", "skip the diagnose step"),
              ("--no-plots", "diagnose without PNG plots"), QUIET)
    g = fit.add_argument_group(
        "processes", "a run across processes or machines (jax.distributed): pass all three, or "
        "none under SLURM / Open MPI; process 0 writes the run folder")
    g.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0")
    g.add_argument("--num-processes", type=count(1), metavar="N", help="processes in the run")
    g.add_argument("--process-id", type=count(0), metavar="I", help="this process, 0 to N-1")
    g.add_argument("--distributed-timeout", type=count(1), default=300, metavar="S",
                   help="seconds to wait for the coordinator and the other processes")
    g.add_argument("--heartbeat-timeout", type=count(1), default=100, metavar="S",
                   help="seconds after which a silent process counts as lost")
    fit.set_defaults(handler=commands.fit)

    diag = sub.add_parser("diagnose", help="R-hat/ESS before and after symmetry removal, plots")
    diag.add_argument("run_dir", metavar="RUN",
                      help="a run folder written by 'symbnn fit', or a netCDF file of draws "
                           "written by arviz (then --mlp is required)")
    g = diag.add_argument_group("draws of a model symbnn did not write (a netCDF file)")
    g.add_argument("--mlp", type=sizes, metavar="D-H1-...-K",
                   help="layer sizes from inputs to outputs, e.g. 3-5-5-1")
    g.add_argument("--activation", choices=ACTIVATIONS, default="tanh")
    g.add_argument("--output", choices=TASKS, default="regression")
    g.add_argument("--no-bias", action="store_true", help="the network has no biases")
    g.add_argument("--names", type=site_names, metavar="OLD=NEW,...",
                   help="map the file's site names to symbnn's, e.g. w1=W0,w2=W1,w3=WL")
    _switches(diag, ("--no-plots", "skip the PNG plots"), QUIET)
    diag.set_defaults(handler=commands.diagnose)

    comp = sub.add_parser("compare", help="compare two runs of the same model after symmetry "
                                          "removal")
    comp.add_argument("run_a", metavar="RUN_A", help="a run folder (its test inputs are used)")
    comp.add_argument("run_b", metavar="RUN_B", help="a run of the same model and data")
    comp.add_argument("--out", metavar="FILE", help="also write the comparison as JSON")
    _switches(comp, ("--quiet", "no status lines"))
    comp.set_defaults(handler=commands.compare)

    data = sub.add_parser("datasets", help="list built-in data sets and tables in --data-dir")
    data.add_argument("--data-dir", metavar="DIR")
    data.set_defaults(handler=commands.datasets, quiet=False)
    return parser
