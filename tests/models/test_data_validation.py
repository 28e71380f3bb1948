import jax.numpy as jnp
import numpy as np
import pytest

from symbnn.models import bnn, validate_data
from symbnn.nets import MLP

REG = MLP(2, (3,), 1, "tanh")
REG2 = MLP(2, (3,), 2, "tanh")
CLF = MLP(2, (3,), 3, "tanh", "classification")
BIN = MLP(2, (3,), 1, "tanh", "classification")


def _x(n=5):
    return np.arange(2 * n, dtype=float).reshape(n, 2)


def test_valid_regression_returns_float_arrays():
    x, y = validate_data(REG, _x(), np.ones(5))
    assert isinstance(x, jnp.ndarray) and x.shape == (5, 2)
    assert y.shape == (5,) and jnp.issubdtype(y.dtype, jnp.floating)


def test_regression_column_target_is_flattened():
    _, y = validate_data(REG, _x(), np.arange(5.0)[:, None])
    np.testing.assert_array_equal(np.asarray(y), np.arange(5.0))


def test_integer_inputs_become_float():
    x, _ = validate_data(REG, np.ones((3, 2), dtype=int))
    assert jnp.issubdtype(x.dtype, jnp.floating)


@pytest.mark.parametrize(("mlp", "labels"), [(CLF, [0, 2, 1]), (BIN, [1.0, 0.0, 1.0])])
def test_valid_labels_become_int(mlp, labels):
    _, y = validate_data(mlp, _x(3), np.asarray(labels))
    assert jnp.issubdtype(y.dtype, jnp.integer)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(labels, dtype=int))


def test_accepts_a_model():
    x, y = validate_data(bnn(CLF), _x(3), [0, 1, 2])
    assert y.shape == (3,)


def _with_nan_rows(rows, n=12):
    x = _x(n)
    x[rows, 1] = np.nan
    return x


@pytest.mark.parametrize(
    ("mlp", "x", "y", "error", "pattern"),
    [
        (REG, _with_nan_rows([3, 7]), None, ValueError, r"x contains NaN or inf in rows \[3, 7\]"),
        (REG, _x(), np.array([0, np.inf, 0, 0, -np.inf]), ValueError, r"y .*rows \[1, 4\]"),
        (REG, _with_nan_rows(list(range(12))), None, ValueError, r"12 rows in all"),
        (REG, np.ones((5, 3)), None, ValueError, r"x must have shape \(n, 2\)"),
        (REG, np.ones(5), None, ValueError, r"x must have shape"),
        (REG, np.ones((0, 2)), None, ValueError, "at least one row"),
        (REG, _x(), np.ones(4), ValueError, r"y \(targets\) must have shape \(5,\)"),
        (REG2, _x(), np.ones(5), ValueError, r"shape \(5, 2\)"),
        (CLF, _x(), np.ones((5, 3)), ValueError, r"y \(class labels\) must have shape \(5,\)"),
        (CLF, _x(3), np.array([0, 3, -1]), ValueError, r"\[0, 3\); rows \[1, 2\]"),
        (BIN, _x(3), np.array([0, 2, 1]), ValueError, r"\[0, 2\); rows \[1\]"),
        (CLF, _x(3), np.array([0.0, 1.5, 2.0]), ValueError, r"rows \[1\] are not integers"),
        (REG, np.array([["a", "b"]]), None, TypeError, "x must be a real numeric array"),
        (REG, _x(2), np.array([1 + 1j, 2]), TypeError, "y must be a real numeric array"),
        ("not a model", _x(), None, TypeError, "model_or_mlp"),
    ],
)
def test_invalid_data(mlp, x, y, error, pattern):
    with pytest.raises(error, match=pattern):
        validate_data(mlp, x, y)


def test_model_call_validates_concrete_data():
    from numpyro import handlers

    model = bnn(REG)
    with pytest.raises(ValueError, match=r"rows \[3, 7\]"):
        handlers.seed(model, 0)(_with_nan_rows([3, 7]), np.ones(12))
    with pytest.raises(ValueError, match="y"):
        handlers.seed(model, 0)(_x(), np.ones((5, 2)))
