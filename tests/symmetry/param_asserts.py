"""Assertions on parameter dicts shared by the symmetry tests."""

import jax.numpy as jnp
import numpy as np


def assert_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def assert_close(a, b, rtol=1e-5, floor=1e-6):
    assert a.keys() == b.keys()
    for k in a:
        scale = float(jnp.max(jnp.abs(b[k])))
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=floor * scale, err_msg=k)


def check(group, a, b):
    """Exact for finite groups (permutations, sign flips), float tolerance otherwise."""
    (assert_equal if group.spec.finite else assert_close)(a, b)
