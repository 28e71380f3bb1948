"""kernel="mams": exact posterior, folded quotient, resume, tuning notes, bad settings, name."""

import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import symbnn
from symbnn.samplers import KERNELS, MAMS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_cases import TANH, interrupted_then_resumed, run_tanh  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "validation"))
from test_exact_linear import MIN_ESS, Z_MAX, _beta, _data, closed_form, z_scores  # noqa: E402
from test_exact_linear import MODEL as LINEAR  # noqa: E402

SMALL = dict(num_chains=2, num_warmup=40, num_draws=12, block_size=4, progress=False)



def _run(**kw):
    return run_tanh(dict(SMALL, kernel=MAMS(thinning=2)), **kw)


def test_draws_match_the_exact_posterior_of_a_linear_model():
    # Conjugate Gaussian posterior (tests/validation/test_exact_linear.py), with that file's
    # settings and MCSE-based |z| < Z_MAX, as for NUTS: MAMS is Metropolis-adjusted, hence exact.
    # Measured: means within 0.034 sd of the exact ones, |z| <= 2.1, bulk ESS about 800 of 2000.
    x, y = _data()
    post = symbnn.sample(LINEAR, x, y, rng_key=jax.random.key(11), kernel="mams", num_chains=4,
                         num_warmup=300, num_draws=500, progress=False)
    mu, cov = closed_form(x, y)
    z_mean, z_cov, ess = z_scores(_beta(post), mu, cov)
    assert ess > MIN_ESS
    assert np.all(np.abs(z_mean) < Z_MAX), z_mean
    assert np.all(np.abs(z_cov) < Z_MAX), z_cov
    assert post.attrs["kernel"] == "mams" and "notes" not in post.attrs
    assert len(post.attrs["tuned_L"]) == len(post.attrs["tuned_step_size"]) == 4
    assert np.all(np.isfinite(post.attrs["tuned_step_size"]))
    wrong_mu, wrong_cov = closed_form(x, y, sigma=0.6)  # the power check of that file
    z_mean, z_cov, _ = z_scores(_beta(post), wrong_mu, wrong_cov)
    assert np.max(np.abs(np.concatenate([z_mean, z_cov]))) > Z_MAX


def test_quotient_draws_are_canonical_and_stats_named():
    post = _run(space="quotient")
    net = {k: post.draws[k] for k in TANH.mlp.param_names}
    canon = jax.vmap(jax.vmap(lambda p: TANH.group.canonicalize(p)[0]))(net)
    for k in net:
        np.testing.assert_allclose(canon[k], net[k], rtol=1e-6, atol=1e-7, err_msg=k)
    stats = post.sample_stats
    assert {"lp", "acceptance_rate", "diverging", "step_size", "num_integration_steps"} <= set(
        stats)
    assert np.all(np.asarray(stats["num_integration_steps"]) >= 1)
    rate = np.asarray(stats["acceptance_rate"])
    assert np.all((rate >= 0) & (rate <= 1))


def test_resume_gives_the_draws_of_an_uninterrupted_run(tmp_path, monkeypatch):
    reference, resumed = interrupted_then_resumed(_run, tmp_path / "run", monkeypatch,
                                                  orbit_moves=True)
    for k, v in reference.draws.items():
        np.testing.assert_array_equal(resumed.draws[k], v, err_msg=k)
    for k in ("lp", "num_integration_steps", "acceptance_rate"):
        np.testing.assert_array_equal(resumed.sample_stats[k], reference.sample_stats[k])


@pytest.mark.parametrize(
    ("kernel", "fragment"),
    [
        (MAMS(step_size=5.0), "MAMS acceptance rate"),  # rejects nearly everything
        (MAMS(target_accept=0.3, step_size=1e-3), "MAMS acceptance rate"),  # accepts all
    ],
)
def test_tuning_problems_are_noted_naming_the_chains(kernel, fragment):
    post = _run(kernel=kernel, num_warmup=0)
    notes = post.attrs.get("notes", [])
    assert any(n.startswith(f"chains 0, 1 (2 of 2): {fragment}") for n in notes), notes


def test_the_name_mams_is_registered():
    assert KERNELS["mams"] is MAMS
    post = _run(kernel="mams", num_warmup=0)
    assert post.attrs["kernel"] == "mams" and post.attrs["target_accept"] == 0.9
    assert np.asarray(post.draws["W0"]).shape[:2] == (2, 12)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: MAMS(target_accept=1.0), "target_accept"),
        (lambda: MAMS(target_accept=0.0), "target_accept"),
        (lambda: MAMS(thinning=0), "thinning"),
        (lambda: MAMS(thinning=1.5), "thinning"),
        (lambda: MAMS(L=0.0), "L"),
        (lambda: MAMS(step_size=-1.0), "step_size"),
        (lambda: MAMS(target_num_integration_steps=1.0), "target_num_integration_steps"),
        (lambda: _run(kernel="mamsx"), "kernel"),
    ],
)
def test_bad_settings_raise_one_line_errors_naming_the_argument(make, match):
    with pytest.raises(ValueError, match=match) as err:
        make()
    assert "\n" not in str(err.value)


@pytest.mark.slow  # compiles the vmapped kernel
def test_vmap_layout_agrees_with_sequential_within_rounding():
    # Fixed L and step size, so no tuning amplifies rounding: the same arithmetic, vectorised
    # (an accept/reject decision could flip on a rounding difference; with 24 transitions at an
    # acceptance near 1 none did).
    fixed = dict(kernel=MAMS(thinning=2, L=1.0, step_size=0.05), num_warmup=0)
    seq, vec = _run(chain_layout="sequential", **fixed), _run(chain_layout="vmap", **fixed)
    assert vec.attrs["chain_layout"] == "vmap"
    for k, v in seq.draws.items():
        np.testing.assert_allclose(vec.draws[k], v, rtol=1e-4, atol=1e-5, err_msg=k)


def test_warmup_trajectories_stay_near_the_target_length_when_the_step_must_shrink():
    # A posterior 500x narrower than the tuner's starting step (noise 0.005 on 400 rows: sd
    # about 2.5e-4): blackjax's first tuning pass holds L while the step shrinks, so without
    # symbnn's cap a transition would take L / step ~ thousands of integration steps (measured:
    # 3500 and 8600 steps per warm-up transition of the two chains here; 1000 s for 4 chains x 50
    # on a 3x16 net). With the cap a transition takes at most ceil(rescale(8)) steps of two
    # gradient evaluations each, so the count is bounded exactly.
    from blackjax.mcmc.adjusted_mclmc_dynamic import rescale

    from symbnn import MLP
    from symbnn.models import Gaussian, NormalPrior, bnn

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = x @ np.array([1.5, -0.7]) + 0.4 + 0.005 * rng.normal(size=400)
    model = bnn(MLP(2, (), 1, activation="identity"), prior=NormalPrior(2.0),
                likelihood=Gaussian(0.005))
    kernel = MAMS()
    num_warmup = 60
    post = symbnn.sample(model, x, y, rng_key=jax.random.key(3), kernel=kernel, num_chains=2,
                         num_warmup=num_warmup, num_draws=10, progress=False)
    steps = np.asarray(post.attrs["warmup_gradient_evaluations"]) / (2 * num_warmup)
    assert np.all(steps >= 1)
    assert np.all(steps <= np.ceil(rescale(kernel.target_num_integration_steps))), steps
