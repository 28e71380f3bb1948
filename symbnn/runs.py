"""Run folders: what ``symbnn fit`` writes and ``diagnose`` / ``compare`` read, and JSON output.

A run folder holds ``posterior.nc`` (:meth:`symbnn.Posterior.save`), ``run.json`` (the arguments,
the data set and its standardiser statistics, timings), ``data.npz`` (the test split) and, after
``diagnose``, ``summary.json`` and PNG plots. The CLI and the benchmarks write JSON through
:func:`write_json` (atomic, NaN and infinity as null).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["PLOTS", "Run", "describe_data", "open_run", "to_jsonable", "write_json", "write_run"]

POSTERIOR, RUN, DATA, SUMMARY = "posterior.nc", "run.json", "data.npz", "summary.json"
RANK_PLOT, OCCUPANCY_PLOT, PREDICTIVE_PLOT = "rank.png", "occupancy.png", "predictive.png"
LPPD_PLOT = "lppd_by_chains.png"
PLOTS = (RANK_PLOT, OCCUPANCY_PLOT, PREDICTIVE_PLOT, LPPD_PLOT)


@dataclasses.dataclass(frozen=True)
class Run:
    """An opened run folder: the posterior, ``run.json`` and the test split."""

    folder: Path
    post: Any
    meta: dict
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def eval_inputs(self) -> tuple[np.ndarray, str]:
        """Inputs for function-space diagnostics: the test rows, else the training rows."""
        return (self.x_test, "test") if len(self.x_test) else (self.post.x, "training")


def to_jsonable(obj: Any) -> Any:
    """Numpy scalars and arrays to plain Python, recursively; NaN/inf to None; paths to str."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # JSON has no NaN or infinity
    return str(obj) if isinstance(obj, Path) else obj


def write_json(path: str | Path, obj: dict) -> Path:
    """Write ``obj`` as indented JSON, atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(to_jsonable(obj), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def describe_data(data) -> dict:
    """The JSON description of a :class:`symbnn.datasets.Dataset` kept in ``run.json``."""
    st = data.standardizer
    stats = None if st is None else {"x_mean": st.x_mean, "x_std": st.x_std,
                                     "y_mean": st.y_mean, "y_std": st.y_std}
    return {"name": data.name, "task": data.task, "num_classes": data.num_classes,
            "num_train": data.num_train, "num_test": data.num_test,
            "in_features": data.in_features, "standardizer": stats}


def write_run(folder: str | Path, post, data, meta: dict) -> Path:
    """Write a run folder: the posterior, the test split and ``run.json``; stale outputs removed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in (SUMMARY, *PLOTS):  # of a replaced run
        (folder / stale).unlink(missing_ok=True)
    post.save(folder / POSTERIOR)
    np.savez(folder / DATA, x_test=data.x_test, y_test=data.y_test)
    write_json(folder / RUN, meta)
    return folder


def open_run(path: str | Path) -> Run:
    """Open a run folder written by :func:`write_run` (``symbnn fit``)."""
    import symbnn

    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"run folder {folder} does not exist")
    missing = [n for n in (POSTERIOR, RUN, DATA) if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} is not a symbnn run folder (missing "
                                f"{', '.join(missing)}); create one with 'symbnn fit'")
    try:
        meta = json.loads((folder / RUN).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{folder / RUN}: not valid JSON ({err})") from None
    with np.load(folder / DATA) as data:
        x_test, y_test = data["x_test"], data["y_test"]
    return Run(folder, symbnn.load(folder / POSTERIOR), meta, x_test, y_test)
