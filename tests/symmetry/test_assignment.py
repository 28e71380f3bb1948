"""The exact assignment solver behind align, against scipy's linear_sum_assignment."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from symbnn.symmetry.assignment import solve_assignment

SOLVE = jax.jit(jax.vmap(solve_assignment))


def _problems(n, rng, num=200):
    gauss = rng.standard_normal((num, n, n))
    ties = rng.integers(0, 3, (num, n, n)).astype(float)  # many equal costs and optima
    # Near a planted permutation (what align sees): the cheapest columns are mostly distinct.
    perms = np.array([rng.permutation(n) for _ in range(num)])
    near = np.abs(rng.standard_normal((num, n, n))) + 1.0
    near -= 1.5 * np.eye(n)[perms] * (rng.random((num, n, 1)) < 0.9)
    return {"gauss": gauss, "ties": ties, "near": near}


@pytest.mark.parametrize("n", [1, 3, 16, 40])
def test_optimal_cost_equals_scipy(n):
    rng = np.random.default_rng(n)
    for kind, costs in _problems(n, rng).items():
        costs = costs.astype(np.float32)
        perms = np.asarray(SOLVE(jnp.asarray(costs)))
        for cost, perm in zip(costs, perms, strict=True):
            assert np.array_equal(np.sort(perm), np.arange(n)), (kind, perm)
            rows, cols = linear_sum_assignment(cost)
            ours = cost[perm, np.arange(n)].sum(dtype=np.float64)
            best = cost[rows, cols].sum(dtype=np.float64)
            # float32 costs summed in float64: equal optimum up to float32 rounding.
            assert ours <= best + 1e-5 * max(1.0, abs(best)), (kind, ours, best)


def test_distinct_cheapest_columns_take_the_shortcut():
    cost = jnp.asarray([[0.0, 5.0, 5.0], [5.0, 5.0, 0.0], [5.0, 0.0, 5.0]])
    np.testing.assert_array_equal(solve_assignment(cost), [0, 2, 1])


def test_non_finite_costs_terminate():
    cost = jnp.asarray([[jnp.nan, 1.0, 2.0], [1.0, jnp.inf, 0.0], [0.0, 0.0, -jnp.inf]])
    perm = np.asarray(jax.jit(solve_assignment)(cost))
    assert sorted(perm) == [0, 1, 2]


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 2, 2)])
def test_non_square_cost_is_refused(shape):
    with pytest.raises(ValueError, match="cost must be a square matrix"):
        solve_assignment(jnp.zeros(shape))
