"""Checks on the data a BNN model is given: shapes, dtypes, finiteness and class labels.

Two layers: :func:`check_shapes` needs only static shapes, so the model runs it even on traced
inputs; :func:`validate_data` also reads the values (NaN/inf, label range) and so needs concrete
arrays. Both are linear in the data size and run once per trace of the model.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from symbnn.nets import MLP
from symbnn.types import Array

__all__ = ["check_shapes", "is_concrete", "validate_data"]

_MAX_ROWS_SHOWN = 10


def _mlp_of(model_or_mlp: object) -> MLP:
    if isinstance(model_or_mlp, MLP):
        return model_or_mlp
    mlp = getattr(model_or_mlp, "mlp", None)
    if isinstance(mlp, MLP):
        return mlp
    raise TypeError(
        f"model_or_mlp must be a symbnn MLP or a BNN model, got {type(model_or_mlp).__name__}"
    )


def is_concrete(*arrays: object) -> bool:
    """Whether none of ``arrays`` is a JAX tracer (their values can be read)."""
    return not any(isinstance(a, jax.core.Tracer) for a in arrays)


def _rows(mask: np.ndarray) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(r) for r in rows[:_MAX_ROWS_SHOWN])
    more = f", ... ({rows.size} rows in all)" if rows.size > _MAX_ROWS_SHOWN else ""
    return f"[{shown}{more}]"


def _y_shape(mlp: MLP, n: int) -> tuple[int, ...]:
    if mlp.output == "regression" and mlp.out_features > 1:
        return (n, mlp.out_features)
    return (n,)


def check_shapes(mlp: MLP, x: Array, y: Array | None = None) -> tuple[Array, Array | None]:
    """Check shapes only (works on tracers); return ``(x, y)`` with y of the expected shape.

    A regression ``y`` of shape (n, 1) for a one-output network is flattened to (n,), the shape
    of the observation site; every other mismatch raises a ValueError.
    """
    x_shape = tuple(np.shape(x))
    if len(x_shape) != 2 or x_shape[1] != mlp.in_features:
        raise ValueError(f"x must have shape (n, {mlp.in_features}), got {x_shape}")
    n = x_shape[0]
    if n == 0:
        raise ValueError("x must have at least one row, got n = 0")
    if y is None:
        return x, None
    y_shape = tuple(np.shape(y))
    expected = _y_shape(mlp, n)
    if mlp.output == "regression" and mlp.out_features == 1 and y_shape == (n, 1):
        y = y[:, 0]
        y_shape = (n,)
    if y_shape != expected:
        what = "class labels" if mlp.output == "classification" else "targets"
        raise ValueError(
            f"y ({what}) must have shape {expected} to match x with {n} rows, got {y_shape}"
        )
    return x, y


def _check_dtype(name: str, a: np.ndarray) -> None:
    if not (np.issubdtype(a.dtype, np.bool_) or np.issubdtype(a.dtype, np.integer)
            or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")


def _check_finite(name: str, a: np.ndarray) -> None:
    if np.issubdtype(a.dtype, np.floating):
        bad = ~np.isfinite(a)
        if bad.ndim > 1:
            bad = bad.reshape(bad.shape[0], -1).any(axis=1)
        if bad.any():
            raise ValueError(f"{name} contains NaN or inf in rows {_rows(bad)}")


def _as_float(name: str, a: np.ndarray) -> np.ndarray:
    """Cast to JAX's default float, refusing values that overflow it (e.g. 1e39 in float32)."""
    dtype = np.dtype(jnp.result_type(float))
    with np.errstate(over="ignore", invalid="ignore"):
        out = a.astype(dtype)
    bad = ~np.isfinite(out)
    if bad.ndim > 1:
        bad = bad.reshape(bad.shape[0], -1).any(axis=1)
    if bad.any():
        raise ValueError(
            f"{name} has values too large for {dtype} (the dtype the model computes in) in rows "
            f"{_rows(bad)}; rescale the data or enable float64 (JAX_ENABLE_X64=1)"
        )
    return out


def _labels(mlp: MLP, y: np.ndarray) -> np.ndarray:
    num_classes = max(mlp.out_features, 2)
    if np.issubdtype(y.dtype, np.floating):
        non_int = y != np.round(y)
        if non_int.any():
            raise ValueError(
                f"y must hold integer class labels; rows {_rows(non_int)} are not integers"
            )
    out = (y < 0) | (y >= num_classes)
    if out.any():
        raise ValueError(
            f"y must hold class labels in [0, {num_classes}); rows {_rows(out)} are out of range "
            f"(values {np.unique(y[out])[:_MAX_ROWS_SHOWN].tolist()})"
        )
    return y.astype(np.int32)


def validate_data(model_or_mlp: object, x: Array, y: Array | None = None):
    """Validate inputs (and targets or labels) for a BNN model.

    Parameters
    ----------
    model_or_mlp : MLP or BNNModel
        The network the data is for.
    x : array-like, shape (n, in_features)
        Inputs (real numeric, finite, n >= 1).
    y : array-like, optional
        Regression targets, shape (n,) for one output ((n, 1) is accepted and flattened) or
        (n, out_features); classification labels, integers of shape (n,) in [0, K) (K = 2 for a
        one-output Bernoulli network). Integer-valued floats are accepted as labels.

    Returns
    -------
    (x, y)
        ``x`` as a float jax array; ``y`` as a float array (regression), an int32 array
        (classification) or None.

    Raises
    ------
    TypeError
        A non-numeric dtype.
    ValueError
        Wrong shapes, no rows, NaN/inf (the message names the rows), labels out of range or not
        integers.
    """
    mlp = _mlp_of(model_or_mlp)
    x_np = np.asarray(x)
    _check_dtype("x", x_np)
    check_shapes(mlp, x_np, None)
    _check_finite("x", x_np)
    x_out = jnp.asarray(_as_float("x", x_np))
    if y is None:
        return x_out, None
    y_np = np.asarray(y)
    _check_dtype("y", y_np)
    _, y_np = check_shapes(mlp, x_np, y_np)
    _check_finite("y", y_np)
    if mlp.output == "classification":
        return x_out, jnp.asarray(_labels(mlp, y_np))
    return x_out, jnp.asarray(_as_float("y", y_np))
