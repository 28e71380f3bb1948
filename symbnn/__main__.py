"""``python -m symbnn``: the ``symbnn`` command line (see :mod:`symbnn.cli`)."""

from symbnn.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
