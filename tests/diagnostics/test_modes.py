import numpy as np
import pytest

from symbnn.diagnostics import chains_needed, count_modes, mode_weights


@pytest.mark.parametrize(
    "num_modes, prob, expected",
    [(3, 0.99, 1274), (2, 0.99, 798), (4, 0.99, 1805), (3, 0.9, 128)],  # Wiese et al. 2023
)
def test_chains_needed_reproduces_the_bound(num_modes, prob, expected):
    assert chains_needed(num_modes, prob) == expected


@pytest.mark.parametrize("num_modes, prob", [(2, 0.99), (3, 0.9), (4, 0.99)])
def test_exact_chain_count_is_below_the_bound_and_tight(num_modes, prob):
    n = chains_needed(num_modes, prob, method="exact")
    assert 1 < n < chains_needed(num_modes, prob)
    # Monte Carlo check of P(every mode visited): enough at n, not at n - 1 (well below).
    rng = np.random.default_rng(0)
    w = mode_weights(num_modes)

    def visited_all(k):
        draws = rng.choice(num_modes, size=(20000, k), p=w)
        return np.mean([len(np.unique(r)) == num_modes for r in draws])

    assert visited_all(n) > prob - 0.01  # MC sd < 0.0035 at these probabilities
    assert visited_all(max(1, n // 2)) < prob


def test_mode_weights():
    w = mode_weights(4)
    assert w.sum() == pytest.approx(1.0)
    assert np.all(np.diff(w) < 0)
    assert w[0] / w[-1] == pytest.approx(np.exp(1.96**2 / 2))
    np.testing.assert_allclose(mode_weights(1), [1.0])


@pytest.mark.parametrize(
    "args, match",
    [((0, 0.9), "num_modes"), ((2.5, 0.9), "num_modes"), ((2, 1.0), "prob"),
     ((2, 0.0), "prob"), ((21, 0.9), "at most 20")],
)
def test_chains_needed_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        chains_needed(*args)
    with pytest.raises(ValueError, match="method"):
        chains_needed(2, 0.9, method="union")


def test_one_mode_under_symmetry(make_draws, center, mlp, x_grid):
    res = count_modes(make_draws(center, 31, orbit="draw"), x=x_grid, mlp=mlp)
    assert res.num_modes == 1
    np.testing.assert_allclose(res.weights, [1.0])
    assert res.labels.shape == (4, 500)


def test_two_functional_modes_with_weights(make_draws, center, other_center, mlp, x_grid):
    a = make_draws(center, 32, orbit="chain")
    b = make_draws(other_center, 33, orbit="chain")
    mixed = {k: np.concatenate([a[k][:3], b[k][:1]]) for k in a}
    res = count_modes(mixed, x=x_grid, mlp=mlp)
    assert res.num_modes == 2
    np.testing.assert_allclose(res.weights, [0.75, 0.25])
    np.testing.assert_allclose(res.chain_composition, [[1, 0], [1, 0], [1, 0], [0, 1]])
    assert res.distances[0, 1] > 10  # cluster means many predictive sds apart
    assert res.embedding.shape == (1000, 2)


def test_parameter_clusters_with_the_same_function_merge(make_draws, center, mlp, x_grid):
    # Unit 0 of the second layer has no outgoing weights; shifting its incoming weights makes a
    # second cluster in parameter space that computes (nearly) the same function.
    dead = dict(center)
    dead["WL"] = center["WL"].at[0].set(0.0)
    moved = dict(dead)
    moved["W1"] = dead["W1"].at[:, 0].add(3.0)
    a, b = make_draws(dead, 34, orbit="chain"), make_draws(moved, 35, orbit="chain")
    mixed = {k: np.concatenate([a[k][:2], b[k][:2]]) for k in a}
    res = count_modes(mixed, x=x_grid, mlp=mlp)
    assert res.num_clusters == 2
    assert res.num_modes == 1
    assert res.distances[0, 1] < 1.0
    blind = count_modes(mixed, mlp=mlp)
    assert blind.num_modes == 2 and blind.notes


def test_count_modes_bad_input(make_draws, center, mlp):
    d = make_draws(center, 36, orbit="none")
    for kwargs, match in [({"space": "raw"}, "space"), ({"max_modes": 0}, "max_modes"),
                          ({"tol": -1.0}, "tol")]:
        with pytest.raises(ValueError, match=match):
            count_modes(d, mlp=mlp, **kwargs)
