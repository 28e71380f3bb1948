"""Data sets: synthetic generators, small built-in data and a loader for numeric tables.

Everything here returns numpy arrays (float64 inputs; float64 regression targets or int64 class
labels); callers convert to JAX arrays themselves.

* :func:`load` gives a :class:`Dataset` by name: the synthetic sets ``"sinusoidal"``, ``"gap"``,
  ``"regression2d"``, ``"moons"``, ``"spiral"`` (drawn from a seed); the small real sets that ship
  inside scikit-learn, ``"diabetes"``, ``"wine"``, ``"breast_cancer"`` (a seeded 80/20 split); and
  the ``<name>.data`` / ``<name>.csv`` files of a ``data_dir`` such as ``../shared/data``, split by
  the ``splits.json`` found next to them.
* :func:`load_table` reads one whitespace- or comma-separated numeric file (last column: target).
* :class:`Standardizer` stores the means and standard deviations it applied, so predictions can be
  mapped back to the original units.

Splits of n rows are 80/20 with ``floor(0.8 n)`` training rows, the rule of the shared
``splits.json`` files.
"""

from symbnn.datasets.base import Dataset, Standardizer
from symbnn.datasets.loading import BUILTIN, SKLEARN, list_datasets, load
from symbnn.datasets.synthetic import GAP, SYNTHETIC
from symbnn.datasets.tables import TABLE_SUFFIXES, load_table

__all__ = [
    "BUILTIN",
    "GAP",
    "SKLEARN",
    "SYNTHETIC",
    "TABLE_SUFFIXES",
    "Dataset",
    "Standardizer",
    "list_datasets",
    "load",
    "load_table",
]
