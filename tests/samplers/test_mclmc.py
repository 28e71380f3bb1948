"""kernel="mclmc": exact posterior, folded quotient, resume, layouts, tuning notes, bad settings."""

import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import symbnn
from symbnn.samplers import MCLMC
from symbnn.samplers.kernels.mclmc import tuning_notes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_cases import TANH, interrupted_then_resumed, run_tanh  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "validation"))
from test_exact_linear import MODEL as LINEAR  # noqa: E402
from test_exact_linear import Z_MAX, _beta, _data, closed_form, z_scores  # noqa: E402

SMALL = dict(num_chains=2, num_warmup=40, num_draws=12, block_size=4, progress=False)



def _run(**kw):
    return run_tanh(dict(SMALL, kernel=MCLMC(thinning=2)), **kw)


def test_draws_match_the_exact_posterior_of_a_linear_model():
    # Conjugate Gaussian posterior (tests/validation/test_exact_linear.py). MCLMC is unadjusted,
    # so its draws are biased; with the default energy-error target (Var[E]/dim = 5e-4) the bias
    # is a few per cent of a standard deviation (measured: means within 0.05 sd, covariances
    # within 6%), well inside the MCSE-based |z| < 4 of that file, whose power it shows.
    x, y = _data()
    post = symbnn.sample(LINEAR, x, y, rng_key=jax.random.key(11), kernel="mclmc", num_chains=4,
                         num_warmup=500, num_draws=1000, progress=False)
    mu, cov = closed_form(x, y)
    z_mean, z_cov, ess = z_scores(_beta(post), mu, cov)
    assert ess > 300
    assert np.all(np.abs(z_mean) < Z_MAX), z_mean
    assert np.all(np.abs(z_cov) < Z_MAX), z_cov
    assert post.attrs["kernel"] == "mclmc" and "notes" not in post.attrs
    wrong_mu, wrong_cov = closed_form(x, y, sigma=0.6)  # the power check of that file
    z_mean, z_cov, _ = z_scores(_beta(post), wrong_mu, wrong_cov)
    assert np.max(np.abs(np.concatenate([z_mean, z_cov]))) > Z_MAX


def test_quotient_draws_are_canonical_and_stats_named():
    post = _run(space="quotient")
    net = {k: post.draws[k] for k in TANH.mlp.param_names}
    canon = jax.vmap(jax.vmap(lambda p: TANH.group.canonicalize(p)[0]))(net)
    for k in net:
        np.testing.assert_allclose(canon[k], net[k], rtol=1e-6, atol=1e-7, err_msg=k)
    assert {"lp", "energy_change", "step_size", "diverging"} <= set(post.sample_stats)
    assert np.all(np.asarray(post.sample_stats["num_integration_steps"]) == 2)


def test_orbit_moves_transform_the_momentum_with_the_position():
    from blackjax.mcmc.integrators import IntegratorState

    from symbnn.samplers.orbit import apply_to_state

    params = {k: jax.random.normal(jax.random.key(i), s)
              for i, (k, s) in enumerate(TANH.mlp.param_shapes.items())}
    momentum = jax.tree.map(lambda a: a + 1.0, params)
    state = IntegratorState(params, momentum, 0.0, params)
    g = TANH.group.sample(jax.random.key(3))
    moved = apply_to_state(TANH.group, g, state)
    expected = TANH.group.act(g, momentum)
    for k in momentum:
        np.testing.assert_array_equal(moved.momentum[k], expected[k], err_msg=k)
    assert not np.array_equal(moved.momentum["W0"], momentum["W0"])  # g is not the identity


def test_resume_gives_the_draws_of_an_uninterrupted_run(tmp_path, monkeypatch):
    reference, resumed = interrupted_then_resumed(_run, tmp_path / "run", monkeypatch,
                                                  orbit_moves=True)
    for k, v in reference.draws.items():
        np.testing.assert_array_equal(resumed.draws[k], v, err_msg=k)
    np.testing.assert_array_equal(resumed.sample_stats["lp"], reference.sample_stats["lp"])


@pytest.mark.slow  # compiles the vmapped kernel (about 15 s)
def test_vmap_layout_agrees_with_sequential_within_rounding():
    # Fixed L and step size: the same arithmetic, vectorised; 24 transitions keep rounding tiny.
    fixed = dict(kernel=MCLMC(thinning=2, L=1.0, step_size=0.1), num_warmup=0)
    seq, vec = _run(chain_layout="sequential", **fixed), _run(chain_layout="vmap", **fixed)
    for k, v in seq.draws.items():
        np.testing.assert_allclose(vec.draws[k], v, rtol=1e-4, atol=1e-5, err_msg=k)
    # No such claim holds with tuning: the 40 tuning steps amplify rounding (measured on an AMD
    # EPYC with AVX-512: tuned L and step size 1.9% and 2.8% apart between the layouts, draws up
    # to 0.11; on the machine this test was written on, 3e-3), so it is not asserted.


@pytest.mark.parametrize(
    ("kernel", "fragment"),
    [
        (MCLMC(L=100.0, step_size=1e-6), "MCLMC tuning froze"),
        (MCLMC(L=1.0, step_size=3.0), "MCLMC energy error"),
    ],
)
def test_tuning_problems_are_noted_naming_the_chains(kernel, fragment):
    post = _run(kernel=kernel, num_warmup=0)
    notes = post.attrs.get("notes", [])
    assert any(n.startswith(f"chains 0, 1 (2 of 2): {fragment}") for n in notes), notes


def test_many_chains_get_one_note_per_kind_of_problem():
    # 1274 chains (the many-chain protocol): 1000 frozen, chain 7 non-finite, the rest fine.
    num_chains, num_draws = 1274, 10
    L = np.full(num_chains, 1.0)
    eps = np.full(num_chains, 0.1)
    eps[:1001] = 1e-6
    L[7] = np.nan
    info = {"L": L, "step_size": eps, "dim": np.full(num_chains, 4)}
    stats = {"energy_change": np.full((num_chains, num_draws), 1e-3)}
    notes = tuning_notes(info, stats, thinning=1, desired_energy_var=5e-4)
    assert len(notes) == 2, notes
    assert notes[0].startswith("chain 7: MCLMC tuning gave a non-finite L"), notes
    assert notes[1].startswith("chains 0, 1, 2, 3, 4 and 995 more (1000 of 1274): MCLMC tuning "
                               "froze: step_size * steps / L = 1e-05, far below 1"), notes
    assert tuning_notes({**info, "L": np.ones(num_chains), "step_size": np.full(num_chains, 0.1)},
                        stats, thinning=1, desired_energy_var=5e-4) == []


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: MCLMC(thinning=0), "thinning"),
        (lambda: MCLMC(thinning=1.5), "thinning"),
        (lambda: MCLMC(L=0.0), "L"),
        (lambda: MCLMC(L=-1.0), "L"),
        (lambda: MCLMC(step_size=0.0), "step_size"),
        (lambda: MCLMC(desired_energy_var=-1.0), "desired_energy_var"),
        (lambda: _run(kernel="mclmcx"), "kernel"),
    ],
)
def test_bad_settings_raise_one_line_errors_naming_the_argument(make, match):
    with pytest.raises(ValueError, match=match) as err:
        make()
    assert "\n" not in str(err.value)
