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
exit code 2; a warm-up that fails (:class:`~symbnn.samplers.TuningError`) ends with one line
``symbnn: warm-up failed: ...`` and exit code 1; ``symbnn --traceback ...`` shows the traceback
instead.
"""

from __future__ import annotations

import sys

from symbnn.cli.args import build_parser, count, widths
from symbnn.samplers import CheckpointError, TuningError
from symbnn.samplers.distributed import DistributedError

__all__ = ["build_parser", "count", "main", "widths"]



def main(argv: list[str] | None = None) -> int:
    """Run the ``symbnn`` command with ``argv`` (default ``sys.argv[1:]``); returns 0.

    Errors end the process: ``SystemExit(2)`` with a one-line message for bad arguments or
    input, ``SystemExit(1)`` for a failed warm-up, ``SystemExit(130)`` on Ctrl-C.
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
    except (ValueError, TypeError, OSError, CheckpointError, DistributedError) as err:
        if args.traceback:
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        parser.exit(2, f"symbnn: error: {message}\n")
    except TuningError as err:  # the arguments were fine; the run failed and wrote no draws
        if args.traceback:
            raise
        parser.exit(1, f"symbnn: warm-up failed: {' '.join(str(err).split())}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
