"""Numerics: the invariance suite in float32 and float64, and large but valid parameters.

The invariance suite (log density and outputs under random group elements, predictions under the
whole group including scaling and logit shifts, canonical forms) runs in-process in JAX's default
float32 and, in ``test_suite_passes_in_float64``, again in a subprocess with ``JAX_ENABLE_X64=1``;
there ``SYMBNN_EXPECT_DTYPE=float64`` makes every test check that it really computed in float64,
and the tolerances tighten from float32 to float64 precision. The same is done for the tests in
tests/symmetry when that folder has any. The suite is marked slow (about 40 s of compilation;
tests/models and tests/diagnostics check invariance in the default run).

Large weights: with every weight and bias at +-1e3 or +-1e6 (signs random), the log density of
tanh and ReLU networks (regression and classification, one and two hidden layers) and its gradient
are finite.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symbnn import MLP, symmetry_of
from symbnn.diagnostics import check_invariance
from symbnn.models import bnn, predict
from symbnn.samplers.bridge import make_bridge

X64 = bool(jax.config.jax_enable_x64)
DTYPE = jnp.float64 if X64 else jnp.float32
# float32 carries ~7 digits; sums of ~50 terms lose one or two more
RTOL = 1e-12 if X64 else 2e-5
REPO = Path(__file__).resolve().parents[2]

CASES = {
    "tanh-1x3": MLP(1, (3,), 1, "tanh"),
    "tanh-2x(3,2)": MLP(2, (3, 2), 1, "tanh"),
    "relu-1x3": MLP(1, (3,), 1, "relu"),
    "relu-2x(3,2)": MLP(2, (3, 2), 1, "relu"),
    "sin-nobias": MLP(1, (3,), 1, "sin", use_bias=False),
    "gelu-1x4": MLP(1, (4,), 1, "gelu"),
    "tanh-softmax": MLP(2, (3,), 3, "tanh", "classification"),
}
NUM_ELEMENTS = 8


def test_expected_dtype():
    expected = os.environ.get("SYMBNN_EXPECT_DTYPE", "float32")
    assert jnp.result_type(float) == jnp.dtype(expected)


def _data(mlp, n=10):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(n, mlp.in_features)), DTYPE)
    if mlp.output == "classification":
        return x, jnp.asarray(np.arange(n) % mlp.out_features)
    return x, jnp.asarray(rng.normal(size=n), DTYPE)


def _sites(mlp, key):
    sites = mlp.init(key)
    if mlp.output == "regression":
        sites["sigma"] = jnp.asarray(0.7, DTYPE)
    return sites


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_log_density_and_outputs_are_invariant(name):
    mlp = CASES[name]
    model = bnn(mlp)
    x, y = _data(mlp)
    sites = _sites(mlp, jax.random.key(0))
    assert all(v.dtype == DTYPE for v in sites.values())
    res = check_invariance(jax.random.key(1), model, sites, model.group, model_args=(x,),
                           model_kwargs={"y": y}, x=x, num_elements=NUM_ELEMENTS, rtol=RTOL,
                           atol=RTOL)
    assert res.passed, (res.max_log_density_deviation, res.max_output_deviation)
    assert res.log_density_deviations.shape == (NUM_ELEMENTS,)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_predictions_are_invariant_under_the_whole_group(name):
    # symmetry_of includes the continuous symmetries: unit scaling (ReLU), logit shifts (softmax)
    mlp = CASES[name]
    group = symmetry_of(mlp)
    x, _ = _data(mlp)
    params = mlp.init(jax.random.key(2))
    keys = jax.random.split(jax.random.key(3), NUM_ELEMENTS)
    moved = jax.jit(jax.vmap(lambda k: predict(mlp, group.act(group.sample(k), params), x)))(keys)
    ref = predict(mlp, params, x)
    assert moved.dtype == DTYPE and ref.dtype == DTYPE
    scale = float(jnp.max(jnp.abs(ref)))
    np.testing.assert_allclose(moved, jnp.broadcast_to(ref, moved.shape), rtol=0,
                               atol=10 * RTOL * max(scale, 1.0))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_canonical_form_is_a_function_of_the_orbit(name):
    mlp = CASES[name]
    group = symmetry_of(mlp)
    params = mlp.init(jax.random.key(4))
    keys = jax.random.split(jax.random.key(5), NUM_ELEMENTS)

    def check(k):
        g = group.sample(k)
        moved = group.act(g, params)
        canon, h = group.canonicalize(moved)
        canon_again, _ = group.canonicalize(canon)
        return canon, group.act(h, moved), canon_again

    canon, acted, again = jax.jit(jax.vmap(check))(keys)
    ref, _ = group.canonicalize(params)
    for k in mlp.param_names:
        assert canon[k].dtype == DTYPE, k
        scale = max(float(jnp.max(jnp.abs(ref[k]))), 1.0)
        tol = dict(rtol=0, atol=100 * RTOL * scale)
        np.testing.assert_allclose(canon[k], jnp.broadcast_to(ref[k], canon[k].shape),
                                   err_msg=k, **tol)
        np.testing.assert_allclose(acted[k], canon[k], err_msg=k, **tol)
        np.testing.assert_allclose(again[k], canon[k], err_msg=k, **tol)


LARGE_CASES = [
    (act, widths, output)
    for act in ("tanh", "relu")
    for widths in ((3,), (3, 3))
    for output in ("regression", "classification")
]
LARGE_WEIGHTS = (1e3, 1e6)


@pytest.mark.parametrize(("activation", "widths", "output"), LARGE_CASES,
                         ids=[f"{a}-{w}-{o}" for a, w, o in LARGE_CASES])
def test_log_density_is_finite_for_large_weights(activation, widths, output):
    mlp = MLP(1, widths, 1 if output == "regression" else 3, activation, output)
    x, y = _data(mlp, 20)
    bridge = make_bridge(jax.random.key(0), bnn(mlp), x, y)
    value_and_grad = jax.jit(jax.value_and_grad(bridge.logdensity_fn))
    rng = np.random.default_rng(0)
    signs = {k: rng.choice([-1.0, 1.0], size=s) for k, s in mlp.param_shapes.items()}
    for weight in LARGE_WEIGHTS:
        position = {k: jnp.asarray(weight * v, DTYPE) for k, v in signs.items()}
        if output == "regression":
            position["sigma"] = jnp.asarray(0.0, DTYPE)  # unconstrained: log sigma
        value, grad = value_and_grad(position)
        assert value.dtype == DTYPE
        assert np.isfinite(value), (weight, value)
        # the prior alone is -sum(w^2)/2: very small, yet representable
        assert value < -0.4 * weight**2
        for k, g in grad.items():
            assert np.all(np.isfinite(g)), (weight, k)


def _run_under_x64(args):
    env = {**os.environ, "JAX_ENABLE_X64": "1", "SYMBNN_EXPECT_DTYPE": "float64",
           "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          *args], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=1200)
    return out.returncode, out.stdout + out.stderr


def _count(pattern, text):
    m = re.search(rf"(\d+) {pattern}", text)
    return int(m.group(1)) if m else 0


@pytest.mark.slow
def test_suite_passes_in_float64():
    # every test of this file but the two that start subprocesses
    code, text = _run_under_x64([str(Path(__file__).relative_to(REPO)), "-m", "",
                                 "-k", "not float64"])
    assert code == 0, text[-4000:]
    num_tests = 1 + 3 * len(CASES) + len(LARGE_CASES)
    assert _count("passed", text) == num_tests, text[-2000:]


@pytest.mark.slow
def test_symmetry_tests_pass_in_float64():
    folder = REPO / "tests" / "symmetry"
    if not any(folder.glob("test_*.py")):
        pytest.skip("tests/symmetry has no tests yet")
    code, text = _run_under_x64(["tests/symmetry", "-m", "not slow"])
    assert code == 0, text[-4000:]
    assert _count("passed", text) > 0
