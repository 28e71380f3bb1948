"""MLP spec: validation, parameter layout, initialisation and the forward pass."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from symbnn.nets import ACTIVATIONS, HOMOGENEOUS_ACTIVATIONS, MLP, ODD_ACTIVATIONS

# Reference activations written independently in numpy/scipy (float64).
REFERENCE = {
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z >= 0, z, 0.01 * z),
    # jax.nn.gelu defaults to the tanh approximation (Hendrycks & Gimpel 2016, eq. in section 2).
    "gelu": lambda z: 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3))),
    "swish": lambda z: z * special.expit(z),
    "sigmoid": special.expit,
    "erf": special.erf,
    "sin": np.sin,
    "identity": lambda z: z,
}
REQUIRED = sorted(REFERENCE)


def test_required_activations_exist():
    assert set(REQUIRED) <= set(ACTIVATIONS)


@pytest.mark.parametrize("name", REQUIRED)
def test_activation_values(name):
    z = np.linspace(-4.0, 4.0, 41)
    got = np.asarray(ACTIVATIONS[name](jnp.asarray(z, jnp.float32)))
    np.testing.assert_allclose(got, REFERENCE[name](z), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", REQUIRED)
def test_declared_symmetries_match_the_functions(name):
    # The symmetry sets drive which groups exist, so they must be exactly right both ways.
    z = jnp.linspace(-3.0, 3.0, 61)
    f = ACTIVATIONS[name]

    def close(a, b):  # float32: a few ulp
        return bool(np.allclose(a, b, rtol=1e-6, atol=1e-6))

    assert close(f(-z), -f(z)) == (name in ODD_ACTIVATIONS)
    homogeneous = all(close(f(c * z), c * f(z)) for c in (0.3, 2.0, 7.5))
    assert homogeneous == (name in HOMOGENEOUS_ACTIVATIONS)


# ------------------------------------------------------------------------------ validation
BAD_SPECS = [
    (dict(in_features=0), ValueError, "in_features"),
    (dict(in_features=-2), ValueError, "in_features"),
    (dict(in_features=2.0), ValueError, "in_features"),
    (dict(in_features=True), ValueError, "in_features"),
    (dict(in_features="3"), ValueError, "in_features"),
    (dict(out_features=0), ValueError, "out_features"),
    (dict(out_features=1.5), ValueError, "out_features"),
    (dict(widths=(4, 0)), ValueError, "widths"),
    (dict(widths=(-1,)), ValueError, "widths"),
    (dict(widths=(2.0,)), ValueError, "widths"),
    (dict(widths=(True,)), ValueError, "widths"),
    (dict(widths="16"), ValueError, "widths"),
    (dict(widths=16), TypeError, "widths"),
    (dict(widths=None), TypeError, "widths"),
    (dict(activation="softplus"), ValueError, "activation"),
    (dict(activation="Tanh"), ValueError, "activation"),
    (dict(activation=None), ValueError, "activation"),
    (dict(activation=["tanh"]), ValueError, "activation"),
    (dict(output="multiclass"), ValueError, "output"),
    (dict(output=None), ValueError, "output"),
    (dict(output=["regression"]), ValueError, "output"),
    (dict(use_bias=1), TypeError, "use_bias"),
    (dict(use_bias="yes"), TypeError, "use_bias"),
]


@pytest.mark.parametrize(("override", "error", "argument"), BAD_SPECS)
def test_bad_spec_names_the_argument(override, error, argument):
    kwargs = dict(in_features=2, widths=(3,), out_features=1) | override
    with pytest.raises(error, match=argument):
        MLP(**kwargs)


def test_spec_is_frozen_hashable_and_normalised():
    a = MLP(2, [3, np.int64(4)], 1)
    b = MLP(2, (3, 4), 1)
    assert a.widths == (3, 4) and isinstance(a.widths, tuple)
    assert a == b and hash(a) == hash(b)
    assert MLP(2, (3, 4), 1, "relu") != b
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.widths = (5,)


# ---------------------------------------------------------------------------------- layout
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("widths", [(), (3,), (8, 8, 8), (5, 2)])
def test_param_layout(widths, use_bias):
    mlp = MLP(3, widths, 2, use_bias=use_bias)
    sizes = (3, *widths, 2)
    expected = {}
    for layer in range(len(widths) + 1):
        last = layer == len(widths)
        expected["WL" if last else f"W{layer}"] = (sizes[layer], sizes[layer + 1])
        if use_bias:
            expected["bL" if last else f"b{layer}"] = (sizes[layer + 1],)
    assert mlp.param_shapes == expected
    assert list(mlp.param_shapes) == list(expected)  # layout order
    assert mlp.param_names == tuple(expected)
    assert mlp.num_params == sum(math.prod(s) for s in expected.values())
    assert mlp.num_hidden == len(widths)
    params = mlp.init(jax.random.PRNGKey(0))
    assert {k: v.shape for k, v in params.items()} == expected


def test_init_is_deterministic_standard_normal():
    mlp = MLP(4, (64, 64), 3)
    p1 = mlp.init(jax.random.PRNGKey(1))
    p2 = mlp.init(jax.random.PRNGKey(1))
    p3 = mlp.init(jax.random.PRNGKey(2))
    for k in p1:
        assert p1[k].dtype == jnp.float32
        np.testing.assert_array_equal(p1[k], p2[k])
        assert not np.array_equal(p1[k], p3[k])
    flat = np.concatenate([np.ravel(v) for v in p1.values()])
    # 4.6k iid N(0, 1) values: mean within 5 standard errors, sd within 5%.
    assert abs(flat.mean()) < 5 / math.sqrt(flat.size)
    assert abs(flat.std() - 1.0) < 0.05


def test_check_params():
    mlp = MLP(2, (3,), 1)
    params = mlp.init(jax.random.PRNGKey(0))
    mlp.check_params(params)
    batched = jax.tree.map(lambda v: jnp.stack([v] * 4), params)
    mlp.check_params(batched, batch_ndim=1)
    with pytest.raises(ValueError, match="batch"):
        mlp.check_params(batched)
    with pytest.raises(ValueError, match="missing"):
        mlp.check_params({k: v for k, v in params.items() if k != "b0"})
    with pytest.raises(ValueError, match="unexpected"):
        mlp.check_params(params | {"W9": params["W0"]})
    with pytest.raises(ValueError, match="W0"):
        mlp.check_params(params | {"W0": jnp.zeros((3, 2))})
    with pytest.raises(TypeError, match="params"):
        mlp.check_params([params])


# --------------------------------------------------------------------------------- forward
def _numpy_forward(mlp, params, x):
    f = REFERENCE[mlp.activation]
    h = np.asarray(x, np.float64)
    for layer in range(mlp.num_hidden + 1):
        h = h @ np.asarray(params[mlp.weight_name(layer)], np.float64)
        if mlp.use_bias:
            h = h + np.asarray(params[mlp.bias_name(layer)], np.float64)
        if layer < mlp.num_hidden:
            h = f(h)
    return h


@pytest.mark.parametrize("activation", REQUIRED)
@pytest.mark.parametrize(
    ("widths", "use_bias", "output"),
    [((3,), True, "regression"), ((8, 8, 8), False, "classification"), ((), True, "regression")],
)
def test_apply_matches_numpy(activation, widths, use_bias, output):
    mlp = MLP(3, widths, 2, activation, output, use_bias)
    params = mlp.init(jax.random.PRNGKey(3))
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(4), (5, 3)))
    out = mlp.apply(params, x)
    assert out.shape == (5, 2)
    expected = _numpy_forward(mlp, params, x)
    # float32 forward pass against a float64 reference.
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    np.testing.assert_allclose(mlp.apply(params, x[0]), out[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(mlp(params, x), out)
    hidden = mlp.hidden(params, x)
    assert [h.shape for h in hidden] == [(5, w) for w in widths]


def test_apply_jit_and_vmap():
    mlp = MLP(2, (4, 4), 1, "tanh")
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    params = jax.vmap(mlp.init)(keys)
    x = jnp.linspace(-1, 1, 10).reshape(5, 2)
    batched = jax.jit(jax.vmap(mlp.apply, in_axes=(0, None)))(params, x)
    for i in range(3):
        one = mlp.apply(jax.tree.map(lambda v, i=i: v[i], params), x)
        np.testing.assert_allclose(batched[i], one, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", [(5, 3), (3,), (2, 2, 2), ()])
def test_apply_bad_x_names_x(shape):
    mlp = MLP(2, (3,), 1)
    with pytest.raises(ValueError, match="x must have shape"):
        mlp.apply(mlp.init(jax.random.PRNGKey(0)), jnp.zeros(shape))
