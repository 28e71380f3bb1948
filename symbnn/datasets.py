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

from __future__ import annotations

import dataclasses
import json
import math
import operator
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BUILTIN",
    "GAP",
    "SKLEARN",
    "SYNTHETIC",
    "Dataset",
    "Standardizer",
    "list_datasets",
    "load",
    "load_table",
]

TASKS = ("regression", "classification")
STANDARDIZE = ("train", "all", None)
GAP = (-0.5, 0.5)
"""The open interval of inputs that the ``"gap"`` toy never produces."""


def _check_count(value: Any, argname: str, *, minimum: int) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{argname} must be an integer, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{argname} must be an integer, got {value!r}") from None
    if value < minimum:
        raise ValueError(f"{argname} must be an integer >= {minimum}, got {value}")
    return value


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclasses.dataclass(frozen=True, eq=False)
class Standardizer:
    """Means and standard deviations used to standardise a data set, and their inverses.

    Statistics use the population standard deviation (``ddof=0``), so the data they were fitted on
    has mean 0 and standard deviation 1 exactly (up to rounding). ``y_mean``/``y_std`` are ``None``
    for classification (labels are never transformed) or when fitted without targets. The
    transforms work on numpy and JAX arrays alike and return the kind they were given.
    """

    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: float | None = None
    y_std: float | None = None

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray | None = None,
        *,
        task: str = "regression",
        allow_constant: bool = False,
    ) -> Standardizer:
        """Fit the statistics of ``x`` (n, d) and, for regression, of ``y`` (n,).

        Parameters
        ----------
        x, y : array
            Inputs and (optionally) targets; ``y`` is ignored for classification.
        task : {"regression", "classification"}
        allow_constant : bool
            A column whose values are all equal has standard deviation 0. By default that raises
            a ValueError naming the column; with ``allow_constant=True`` such a column (or target)
            gets standard deviation 1, so it is centred and left unscaled.
        """
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"x must be a non-empty (n, d) array, got shape {x.shape}")
        x_std = _safe_std(x, "x", allow_constant)
        y_mean = y_std = None
        if y is not None and task == "regression":
            y = np.asarray(y, dtype=np.float64)
            if y.shape != (x.shape[0],):
                raise ValueError(f"y must have shape ({x.shape[0]},), got {y.shape}")
            y_mean = float(y.mean())
            y_std = float(_safe_std(y[:, None], "y", allow_constant)[0])
        return cls(_frozen(x.mean(axis=0)), _frozen(x_std), y_mean, y_std)

    def _need_y(self) -> None:
        if self.y_mean is None or self.y_std is None:
            raise ValueError("this Standardizer has no target statistics (classification data "
                             "or fitted without y)")

    def _check_x(self, x: Any) -> None:
        if np.shape(x)[-1:] != self.x_mean.shape:
            raise ValueError(f"x must have {self.x_mean.shape[0]} features in its last axis, "
                             f"got shape {np.shape(x)}")

    def transform_x(self, x: Any) -> Any:
        """Return ``(x - x_mean) / x_std``."""
        self._check_x(x)
        return (x - self.x_mean) / self.x_std

    def inverse_x(self, x: Any) -> Any:
        """Map standardised inputs back to the original units."""
        self._check_x(x)
        return x * self.x_std + self.x_mean

    def transform_y(self, y: Any) -> Any:
        """Return ``(y - y_mean) / y_std`` (regression only)."""
        self._need_y()
        return (y - self.y_mean) / self.y_std

    def inverse_y(self, y: Any) -> Any:
        """Map standardised targets or predictive means back to the original units."""
        self._need_y()
        return y * self.y_std + self.y_mean

    def inverse_y_scale(self, scale: Any) -> Any:
        """Map a standard deviation (e.g. a predictive or noise sd) back to the original units.

        Only the scale is applied, not the shift; multiply variances by ``y_std ** 2`` instead.
        """
        self._need_y()
        return scale * self.y_std


def _safe_std(a: np.ndarray, what: str, allow_constant: bool) -> np.ndarray:
    std = a.std(axis=0)
    constant = np.flatnonzero(a.max(axis=0) == a.min(axis=0))
    if constant.size and not allow_constant:
        where = what if what == "y" else f"column {int(constant[0])} of {what}"
        raise ValueError(
            f"{where} is constant (every value {a[0, constant[0]]!r}), so it cannot be scaled to "
            "standard deviation 1; drop it, pass allow_constant=True to Standardizer.fit, or "
            "use standardize=None"
        )
    std[constant] = 1.0
    return std


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A train/test split as numpy arrays.

    ``x_*`` are float64 arrays (n, d). ``y_*`` are float64 (n,) for regression and int64 (n,)
    labels in ``[0, num_classes)`` for classification. The arrays are read-only copies. When
    ``standardizer`` is set, the arrays are already standardised by it. ``out_features`` is 1 for
    regression and ``num_classes`` (also for two classes: one logit per class) for classification.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str = "regression"
    num_classes: int | None = None
    standardizer: Standardizer | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.task == "regression" and self.num_classes is not None:
            raise ValueError(f"num_classes must be None for regression, got {self.num_classes!r}")
        if self.task == "classification":
            _check_count(self.num_classes, "num_classes", minimum=2)
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            x, y = np.asarray(x), np.asarray(y)
            if x.ndim != 2 or y.shape != x.shape[:1]:
                raise ValueError(f"x_{part} must be (n, d) and y_{part} (n,), got shapes "
                                 f"{x.shape} and {y.shape}")
            if not (np.isfinite(x).all() and np.isfinite(y).all()):
                raise ValueError(f"x_{part} and y_{part} must be finite (no NaN or inf)")
            if self.task == "regression":
                y = y.astype(np.float64)
            elif not np.issubdtype(y.dtype, np.integer):
                raise TypeError(f"y_{part} must hold integer labels, got dtype {y.dtype}")
            elif y.size and (y.min() < 0 or y.max() >= self.num_classes):
                raise ValueError(f"y_{part} labels must lie in [0, {self.num_classes})")
            else:
                y = y.astype(np.int64)
            object.__setattr__(self, f"x_{part}", _frozen(x.astype(np.float64)))
            object.__setattr__(self, f"y_{part}", _frozen(y))
        if self.x_train.shape[0] == 0:
            raise ValueError("x_train must hold at least one row")
        if self.x_test.shape[1] != self.x_train.shape[1]:
            raise ValueError(f"x_train and x_test must have the same number of columns, got "
                             f"{self.x_train.shape[1]} and {self.x_test.shape[1]}")

    @property
    def in_features(self) -> int:
        """Number of input columns."""
        return self.x_train.shape[1]

    @property
    def out_features(self) -> int:
        """1 for regression, ``num_classes`` for classification."""
        return 1 if self.task == "regression" else int(self.num_classes)

    @property
    def num_train(self) -> int:
        """Number of training rows."""
        return self.x_train.shape[0]

    @property
    def num_test(self) -> int:
        """Number of test rows."""
        return self.x_test.shape[0]

    def __repr__(self) -> str:
        classes = "" if self.num_classes is None else f", num_classes={self.num_classes}"
        return (f"Dataset(name={self.name!r}, task={self.task!r}{classes}, "
                f"num_train={self.num_train}, num_test={self.num_test}, "
                f"in_features={self.in_features}, standardized={self.standardizer is not None})")


# ---------------------------------------------------------------- synthetic generators
# Each generator draws n i.i.d. examples from rng: (x (n, d) float64, y (n,)).


def _sinusoidal(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(0.0, 8.0, size=(n, 1))
    return x, np.sin(x[:, 0]) + 0.3 * rng.standard_normal(n)


def _gap(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # Two clusters, [-2, -0.5] and [0.5, 2], equally likely: nothing in the gap GAP.
    side = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    x = (side * rng.uniform(GAP[1], 2.0, size=n))[:, None]  # GAP is symmetric about 0
    return x, np.sin(2.0 * x[:, 0]) + 0.3 * x[:, 0] + 0.1 * rng.standard_normal(n)


def _regression2d(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-2.0, 2.0, size=(n, 2))
    y = x[:, 0] * np.sin(x[:, 0]) + np.cos(x[:, 1]) + 0.1 * rng.standard_normal(n)
    return x, y


def _moons(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # Label ~ Bernoulli(1/2); upper half circle for 0, shifted lower one for 1; N(0, 0.1^2) noise.
    y = rng.integers(0, 2, size=n)
    t = rng.uniform(0.0, np.pi, size=n)
    x = np.where(y[:, None] == 0,
                 np.stack([np.cos(t), np.sin(t)], axis=1),
                 np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1))
    return x + 0.1 * rng.standard_normal((n, 2)), y


def _spiral(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # Three arms: label k ~ U{0,1,2}, radius r ~ U(0, 1), angle 2 pi k / 3 + 4 r + N(0, 0.2^2).
    y = rng.integers(0, 3, size=n)
    r = rng.uniform(0.0, 1.0, size=n)
    theta = 2.0 * np.pi * y / 3.0 + 4.0 * r + 0.2 * rng.standard_normal(n)
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1), y


Generator = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]
SYNTHETIC: dict[str, tuple[Generator, str, int | None, int, int]] = {
    # name: (generator, task, num_classes, default num_train, default num_test)
    "sinusoidal": (_sinusoidal, "regression", None, 120, 30),
    "gap": (_gap, "regression", None, 320, 80),
    "regression2d": (_regression2d, "regression", None, 204, 52),
    "moons": (_moons, "classification", 2, 240, 60),
    "spiral": (_spiral, "classification", 3, 240, 60),
}
"""Synthetic data sets. Train and test rows come from independent streams of the seed, so the
training data do not depend on ``num_test`` (nor the test data on ``num_train``)."""

SKLEARN: dict[str, tuple[str, str, dict[str, Any]]] = {
    "diabetes": ("load_diabetes", "regression", {"scaled": False}),
    "wine": ("load_wine", "classification", {}),
    "breast_cancer": ("load_breast_cancer", "classification", {}),
}
"""Small real data sets bundled with scikit-learn (no download): loader, task, loader options.
Diabetes comes in its original units (scikit-learn's pre-scaled copy is not used)."""

BUILTIN: tuple[str, ...] = (*SYNTHETIC, *SKLEARN)
TABLE_SUFFIXES = (".data", ".csv")


# ---------------------------------------------------------------- tables and splits


def _read_table(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse a numeric table; blank lines and lines starting with '#' are not rows."""
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} does not exist or is not a file")
    rows: list[list[float]] = []
    width = first = sep = None
    try:
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                if sep is None:
                    sep = "," if "," in text else " "
                cells = [c.strip() for c in text.split(",")] if sep == "," else text.split()
                if width is None:
                    width, first = len(cells), lineno
                elif len(cells) != width:
                    raise ValueError(f"{path}, line {lineno}: ragged row with {len(cells)} "
                                     f"columns, but line {first} has {width}")
                rows.append([_cell(c, path, lineno, j, width) for j, c in enumerate(cells)])
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a UTF-8 text file ({err})") from None
    if not rows:
        raise ValueError(f"{path}: empty file (no data rows)")
    if width < 2:
        raise ValueError(f"{path}, line {first}: need at least one input column and the target "
                         f"column, found {width} column")
    table = np.asarray(rows, dtype=np.float64)
    return table[:, :-1], table[:, -1]


def _cell(cell: str, path: Path, lineno: int, j: int, width: int) -> float:
    role = "target" if j == width - 1 else "input"
    try:
        value = float(cell)
    except ValueError:
        hint = " (a header line is not supported)" if lineno == 1 else ""
        raise ValueError(f"{path}, line {lineno}, column {j + 1} ({role}): non-numeric cell "
                         f"{cell!r}{hint}") from None
    if not math.isfinite(value):
        raise ValueError(f"{path}, line {lineno}, column {j + 1} ({role}): {cell!r} is not a "
                         "finite number")
    return value


def _split_indices(split: Any, source: str, num_rows: int) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(split, Mapping) or set(split) != {"train", "test"}:
        got = sorted(split) if isinstance(split, Mapping) else type(split).__name__
        raise ValueError(f"{source}: a split must be a mapping with keys 'train' and 'test', "
                         f"got {got}")
    out = []
    for part in ("train", "test"):
        values = split[part]
        if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
            raise ValueError(f"{source}: {part!r} must be a list of row indices")
        idx = np.asarray(values)
        if idx.size == 0:
            idx = idx.astype(np.int64)
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"{source}: {part!r} must be a flat list of integer row indices, "
                             f"got dtype {idx.dtype} and shape {idx.shape}")
        bad = idx[(idx < 0) | (idx >= num_rows)]
        if bad.size:
            raise ValueError(f"{source}: {part!r} index {int(bad[0])} is out of range for a "
                             f"table of {num_rows} rows")
        uniq, counts = np.unique(idx, return_counts=True)
        if (counts > 1).any():
            raise ValueError(f"{source}: {part!r} repeats row index {int(uniq[counts > 1][0])}")
        out.append(idx.astype(np.int64))
    shared = np.intersect1d(out[0], out[1])
    if shared.size:
        raise ValueError(f"{source}: 'train' and 'test' overlap in {shared.size} rows, e.g. "
                         f"row {int(shared[0])}")
    if out[0].size == 0:
        raise ValueError(f"{source}: 'train' is empty")
    return out[0], out[1]


def _resolve_split(splits: Any, name: str, num_rows: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(splits, str | os.PathLike):
        source = Path(splits)
        if not source.is_file():
            raise FileNotFoundError(f"splits file {source} does not exist or is not a file")
        try:
            content = json.loads(source.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"splits file {source}: not valid JSON ({err})") from None
    elif isinstance(splits, Mapping):
        source, content = "splits", splits
    else:
        raise TypeError(f"splits must be None, a path to a JSON file or a mapping, got "
                        f"{type(splits).__name__}")
    if not isinstance(content, Mapping):
        raise ValueError(f"{source}: expected a JSON object, got {type(content).__name__}")
    if "train" not in content:
        if name not in content:
            raise ValueError(f"{source}: no split named {name!r}; it has {sorted(content)}")
        content, source = content[name], f"{source} [{name!r}]"
    return _split_indices(content, str(source), num_rows)


def _random_split(num_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(num_rows)
    num_train = (4 * num_rows) // 5
    return perm[:num_train], perm[num_train:]


def _finish(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
            y_test: np.ndarray, task: str, num_classes: int | None,
            standardize: str | None) -> Dataset:
    scaler = None
    if standardize is not None:
        if standardize == "all":
            x_fit, y_fit = np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test])
        else:
            x_fit, y_fit = x_train, y_train
        scaler = Standardizer.fit(x_fit, y_fit, task=task)
        x_train, x_test = scaler.transform_x(x_train), scaler.transform_x(x_test)
        if task == "regression":
            y_train, y_test = scaler.transform_y(y_train), scaler.transform_y(y_test)
    return Dataset(name, x_train, y_train, x_test, y_test, task, num_classes, scaler)


def _check_options(standardize: Any, seed: Any) -> int:
    if standardize not in STANDARDIZE:
        raise ValueError(f"standardize must be one of {STANDARDIZE}, got {standardize!r}")
    return _check_count(seed, "seed", minimum=0)


def _labels(y: np.ndarray, source: str) -> tuple[np.ndarray, int]:
    if (y < 0).any() or (y != np.round(y)).any():
        raise ValueError(f"{source}: classification targets must be integers 0, 1, ..., K-1")
    labels = y.astype(np.int64)
    return labels, max(int(labels.max()) + 1, 2)


def load_table(
    path: str | os.PathLike,
    *,
    splits: str | os.PathLike | Mapping | None = None,
    name: str | None = None,
    standardize: str | None = None,
    seed: int = 0,
    task: str = "regression",
) -> Dataset:
    """Load a whitespace- or comma-separated numeric table whose last column is the target.

    Blank lines and lines starting with ``#`` are skipped; row indices count data rows from 0.

    Parameters
    ----------
    path : path
        The table. The separator is a comma if the first data line has one, else whitespace.
    splits : path, mapping or None
        A JSON file ``{"name": {"train": [...], "test": [...]}, ...}`` (the ``splits.json``
        format), a mapping of that form, or one split ``{"train": [...], "test": [...]}``. Rows in
        neither list are left out. None: a random 80/20 split drawn from ``seed``.
    name : str, optional
        Key of the split in ``splits`` and name of the data set; defaults to the file's stem.
    standardize : {"train", "all", None}
        Standardise with training statistics, with whole-data (train and test) statistics as in
        the protocol of Wiese et al. (2023, ECML PKDD), or not at all.
    seed : int
        Seed of the random split when ``splits`` is None.
    task : {"regression", "classification"}
        For classification the targets must be the integers 0, ..., K-1.

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError
        If ``path`` (or a splits file) does not exist.
    ValueError
        Naming the file and line, for an empty file, ragged rows, non-numeric cells or non-finite
        values; for split indices that are out of range, repeated or overlapping, or a ``name``
        missing from the split file.
    """
    seed = _check_options(standardize, seed)
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    path = Path(path)
    name = path.stem if name is None else name
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {name!r}")
    x, y = _read_table(path)
    train, test = (_random_split(len(y), seed) if splits is None
                   else _resolve_split(splits, name, len(y)))
    num_classes = None
    if task == "classification":
        y, num_classes = _labels(y, str(path))
    return _finish(name, x[train], y[train], x[test], y[test], task, num_classes, standardize)


def _find_table(data_dir: Path, name: str) -> Path | None:
    for suffix in TABLE_SUFFIXES:
        if (data_dir / f"{name}{suffix}").is_file():
            return data_dir / f"{name}{suffix}"
    return None


def _data_dir(data_dir: str | os.PathLike) -> Path:
    path = Path(data_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"data_dir {path} does not exist or is not a directory")
    return path


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
