"""``load``: a data set by name (synthetic, scikit-learn's small sets, or a table in a folder)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from symbnn.datasets.base import Dataset, _check_count, _check_options, _finish
from symbnn.datasets.synthetic import SYNTHETIC
from symbnn.datasets.tables import (
    TABLE_SUFFIXES,
    _data_dir,
    _find_table,
    _random_split,
    _read_table,
    _resolve_split,
)

SKLEARN: dict[str, tuple[str, str, dict[str, Any]]] = {
    "diabetes": ("load_diabetes", "regression", {"scaled": False}),
    "wine": ("load_wine", "classification", {}),
    "breast_cancer": ("load_breast_cancer", "classification", {}),
}
"""Small real data sets bundled with scikit-learn (no download): loader, task, loader options.
Diabetes comes in its original units (scikit-learn's pre-scaled copy is not used)."""

BUILTIN: tuple[str, ...] = (*SYNTHETIC, *SKLEARN)


def list_datasets(data_dir: str | os.PathLike | None = None) -> list[str]:
    """Names :func:`load` accepts: the built-ins, then the sorted tables found in ``data_dir``."""
    names = list(BUILTIN)
    if data_dir is not None:
        found = {p.stem for p in _data_dir(data_dir).iterdir()
                 if p.suffix in TABLE_SUFFIXES and p.is_file()}
        names += sorted(found - set(names))
    return names


def _take(idx: np.ndarray, num: int | None, argname: str) -> np.ndarray:
    if num is None:
        return idx
    num = _check_count(num, argname, minimum=1 if argname == "num_train" else 0)
    if num > len(idx):
        raise ValueError(f"{argname}={num}, but the split has only {len(idx)} rows")
    return idx[:num]


def load(
    name: str,
    *,
    seed: int = 0,
    num_train: int | None = None,
    num_test: int | None = None,
    standardize: str | None = "train",
    data_dir: str | os.PathLike | None = None,
) -> Dataset:
    """Load a data set by name.

    Parameters
    ----------
    name : str
        A table ``<name>.data`` (or ``.csv``) in ``data_dir``, which takes precedence, or one of
        :data:`BUILTIN`: synthetic ``"sinusoidal"`` (x ~ U(0, 8), y = sin x + N(0, 0.3^2)),
        ``"gap"`` (x ~ U([-2, -0.5] u [0.5, 2]), y = sin 2x + 0.3 x + N(0, 0.1^2)),
        ``"regression2d"`` (x ~ U(-2, 2)^2, y = x1 sin x1 + cos x2 + N(0, 0.1^2)), ``"moons"``
        (2 classes), ``"spiral"`` (3 classes); or scikit-learn's ``"diabetes"`` (regression),
        ``"wine"`` (3 classes), ``"breast_cancer"`` (2 classes).
    seed : int
        Seed of the synthetic draws and of the 80/20 split of the scikit-learn sets (and of tables
        without a ``splits.json``).
    num_train, num_test : int, optional
        Synthetic sets: how many rows to draw (defaults in :data:`SYNTHETIC`). Other sets: keep
        the first rows of the (already shuffled) split; asking for more than it has is an error.
    standardize : {"train", "all", None}
        Statistics of the training rows, of the training and test rows together (the protocol of
        Wiese et al. 2023), or no standardisation.
    data_dir : path, optional
        Folder of tables with an optional ``splits.json`` (e.g. ``../shared/data``).

    Returns
    -------
    Dataset
    """
    seed = _check_options(standardize, seed)
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {name!r}")
    table = None if data_dir is None else _find_table(_data_dir(data_dir), name)
    if table is not None:
        x, y = _read_table(table)
        splits_file = table.parent / "splits.json"
        train, test = (_resolve_split(splits_file, name, len(y)) if splits_file.is_file()
                       else _random_split(len(y), seed))
        task, num_classes = "regression", None
    elif name in SYNTHETIC:
        gen, task, num_classes, default_train, default_test = SYNTHETIC[name]
        num_train = _check_count(default_train if num_train is None else num_train,
                                 "num_train", minimum=1)
        num_test = _check_count(default_test if num_test is None else num_test,
                                "num_test", minimum=0)
        rng_train, rng_test = (np.random.default_rng(s)
                               for s in np.random.SeedSequence(seed).spawn(2))
        return _finish(name, *gen(rng_train, num_train), *gen(rng_test, num_test), task,
                       num_classes, standardize)
    elif name in SKLEARN:
        import sklearn.datasets  # deferred: importing scikit-learn takes about a second

        loader, task, options = SKLEARN[name]
        x, y = getattr(sklearn.datasets, loader)(return_X_y=True, **options)
        num_classes = None if task == "regression" else int(y.max()) + 1
        train, test = _random_split(len(y), seed)
    else:
        raise ValueError(f"unknown data set {name!r}; available: {list_datasets(data_dir)}")
    train, test = _take(train, num_train, "num_train"), _take(test, num_test, "num_test")
    return _finish(name, x[train], y[train], x[test], y[test], task, num_classes, standardize)
