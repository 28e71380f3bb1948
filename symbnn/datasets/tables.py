"""Numeric tables (``.data`` / ``.csv``, last column the target) and their train/test splits.

Splits of n rows are 80/20 with ``floor(0.8 n)`` training rows, the rule of the shared
``splits.json`` files.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from symbnn.datasets.base import TASKS, Dataset, _check_options, _finish, _labels

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
