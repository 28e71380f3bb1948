"""MCLMC's bias against an exact or long-NUTS reference: ``python tests/validation/mclmc_bias.py``.

MCLMC is unadjusted: its stationary distribution differs from the posterior by an amount that the
tuning controls through ``desired_energy_var`` (Var[E]/dim). Two cases:

* ``linear``: the conjugate model of ``test_exact_linear.py``; the reference is the closed form
  (predictive mean phi mu and sd sqrt(phi Sigma phi^T), 800 exact draws for the energy test).
* ``sine``: 1x16 tanh BNN on ``datasets.load("sinusoidal", seed=0)`` (120 points, learned sigma);
  the reference is NUTS, 8 chains x 2000 draws, cached in ``tests/data/mclmc_bias_reference.npz``
  (rebuilt with ``--rebuild``).

Measures at 10 test inputs spanning the training inputs, for f(x) (the network output):
``z_mean``/``z_sd``, the difference of predictive means/sds over the combined MCSE of both runs
(arviz_stats, methods "mean" and "sd"); ``mean_in_sd``, |difference of means| / reference sd
(what a user sees); ``sd_ratio``, MCLMC sd / reference sd; and the energy-distance permutation
p-value on canonical parameters (and sigma), both samples thinned by ESS as in
``test_symmetrization.py``. Prints a table and writes ``tests/validation/results/mclmc_bias.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import arviz_stats
import jax
import numpy as np

import symbnn
from symbnn import MLP, diagnostics
from symbnn.models import bnn
from symbnn.samplers import MCLMC

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from test_exact_linear import MODEL as LINEAR  # noqa: E402
from test_exact_linear import _data as linear_data  # noqa: E402
from test_exact_linear import closed_form  # noqa: E402
from test_symmetrization import MAX_DRAWS, _thin  # noqa: E402

SINE = bnn(MLP(1, (16,), 1, "tanh", "regression"))
REFERENCE_FILE = HERE.parent / "data" / "mclmc_bias_reference.npz"
RESULTS_FILE = HERE / "results" / "mclmc_bias.json"
NUM_TEST = 10
NUTS_SETTINGS = dict(num_chains=8, num_warmup=1000, num_draws=2000, progress=False)
MCLMC_SETTINGS = dict(num_chains=4, num_warmup=2000, num_draws=2000, progress=False)
# One MCLMC step costs one gradient, a NUTS draw here about 540 (tree depth 9): with thinning 1 the
# sine case's canonical ESS was 12-46 of 8000 draws, too few for MCSEs or the energy test.
THINNING = 10
NUM_PERMUTATIONS = 500
# Exact draws of the linear case: 5 times the MCLMC sample, so that the reference's own sampling
# noise hardly counts (with 800, seed 0 happened to put two means 2.9 standard errors off).
EXACT_DRAWS = 5 * MAX_DRAWS
ENERGY_VARS = (5e-4, 5e-2, 5e-1)  # blackjax's default, 100 and 1000 times more


def sine_data():
    """Training data and 10 test inputs evenly spread over the training inputs' range."""
    data = symbnn.datasets.load("sinusoidal", seed=0)
    x_test = np.linspace(data.x_train.min(), data.x_train.max(), NUM_TEST)[:, None]
    return data.x_train, data.y_train, x_test


def linear_test_inputs():
    return np.random.default_rng(5).normal(size=(NUM_TEST, 2))


def predictive(f):
    """Mean, sd and their MCSEs of (chain, draw, n) predictive draws, per input."""
    f = np.asarray(f, float)
    return {"mean": f.mean((0, 1)), "sd": f.std((0, 1)),
            "mcse_mean": np.asarray(arviz_stats.mcse(f, method="mean")),
            "mcse_sd": np.asarray(arviz_stats.mcse(f, method="sd"))}


def linear_reference(num_draws=EXACT_DRAWS, seed=0):
    """Closed-form predictive moments (MCSE 0) and exact draws of (WL, bL)."""
    mu, cov = closed_form(*linear_data())
    phi = np.concatenate([linear_test_inputs(), np.ones((NUM_TEST, 1))], axis=1)
    draws = np.random.default_rng(seed).multivariate_normal(mu, cov, size=num_draws)
    zero = np.zeros(NUM_TEST)
    return {"mean": phi @ mu, "sd": np.sqrt(np.einsum("ni,ij,nj->n", phi, cov, phi)),
            "mcse_mean": zero, "mcse_sd": zero, "canonical": draws}


def nuts_reference(seed=0):
    """The long NUTS run of the sine case, summarised (what the cache file holds)."""
    x, y, x_test = sine_data()
    post = symbnn.sample(SINE, x, y, rng_key=jax.random.key(seed), kernel="nuts",
                         **NUTS_SETTINGS)
    canon, ess = _thin(post, canonical=True, seed=seed, grid=x_test)
    ref = predictive(post.predict(x_test)[..., 0])
    ref.update(canonical=canon.astype(np.float32), ess=ess, x_test=x_test,
               divergences=int(np.sum(post.sample_stats["diverging"])))
    return ref


def sine_reference(rebuild=False):
    if rebuild or not REFERENCE_FILE.exists():
        np.savez_compressed(REFERENCE_FILE, **nuts_reference())
    with np.load(REFERENCE_FILE) as f:
        return dict(f)


def run_mclmc(case, seed, desired_energy_var=5e-4, **settings):
    """An MCLMC posterior of ``case`` ("linear" or "sine")."""
    model, (x, y) = (LINEAR, linear_data()) if case == "linear" else (SINE, sine_data()[:2])
    kw = dict(MCLMC_SETTINGS,
              kernel=MCLMC(thinning=THINNING, desired_energy_var=desired_energy_var))
    kw.update(settings)
    return symbnn.sample(model, x, y, rng_key=jax.random.key(seed), **kw)


def bias(post, ref, x_test, seed=0):
    """The bias measures of the module docstring, as a dict of floats."""
    got = predictive(post.predict(x_test)[..., 0])
    z_mean = (got["mean"] - ref["mean"]) / np.hypot(got["mcse_mean"], ref["mcse_mean"])
    z_sd = (got["sd"] - ref["sd"]) / np.hypot(got["mcse_sd"], ref["mcse_sd"])
    canon, ess = _thin(post, canonical=True, seed=seed, grid=x_test)
    test = diagnostics.energy_mmd_test(canon, ref["canonical"],
                                       num_permutations=NUM_PERMUTATIONS, seed=seed)
    return {"max_abs_z_mean": float(np.max(np.abs(z_mean))),
            "max_abs_z_sd": float(np.max(np.abs(z_sd))),
            "max_mean_in_sd": float(np.max(np.abs(got["mean"] - ref["mean"]) / ref["sd"])),
            "max_abs_log_sd_ratio": float(np.max(np.abs(np.log(got["sd"] / ref["sd"])))),
            "energy_p_value": test["energy_p_value"], "min_ess": ess,
            "notes": len(post.attrs.get("notes", []))}


def case_reference(case, rebuild=False):
    """(reference dict, test inputs) of a case."""
    if case == "linear":
        return linear_reference(), linear_test_inputs()
    ref = sine_reference(rebuild)
    return ref, ref["x_test"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--cases", default="linear,sine")
    parser.add_argument("--rebuild", action="store_true", help="rerun the NUTS reference")
    args = parser.parse_args(argv)
    rows = []
    header = ("case", "energy_var", "seed", "max|z_mean|", "max|z_sd|", "mean/sd",
              "|log sd ratio|", "energy p", "ESS", "notes", "s")
    print(" ".join(f"{h:>13}" for h in header))
    for case in args.cases.split(","):
        ref, x_test = case_reference(case, args.rebuild)
        for energy_var in ENERGY_VARS:
            for seed in range(args.seeds):
                t = time.time()
                row = {"case": case, "desired_energy_var": energy_var, "seed": seed,
                       **bias(run_mclmc(case, seed, energy_var), ref, x_test, seed)}
                row["seconds"] = round(time.time() - t, 1)
                rows.append(row)
                print(" ".join(f"{v:>13.4g}" if isinstance(v, float) else f"{v!s:>13}"
                               for v in row.values()), flush=True)
    RESULTS_FILE.parent.mkdir(exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {RESULTS_FILE}")


if __name__ == "__main__":
    main()
