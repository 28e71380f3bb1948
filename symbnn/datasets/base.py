"""Data set containers: :class:`Dataset`, :class:`Standardizer`, and the shared checks."""

from __future__ import annotations

import dataclasses
import operator
from typing import Any

import numpy as np

TASKS = ("regression", "classification")
STANDARDIZE = ("train", "all", None)
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
