"""Draws of fixed seeds are unchanged by refactoring.

``tests/data/golden_draws.npz`` holds the draws of small runs made before the sampler code was
reorganised; every configuration below must reproduce them. Regenerate (only after a deliberate
change of the samplers' arithmetic, and say so in the commit) with

    python tests/samplers/test_golden_draws.py --write

Tolerance: the runs are short (30 warm-up steps, 12 draws) so that rounding differences of another
CPU (XLA fuses differently) stay far below the tolerance instead of being amplified by chaotic
trajectories; a change of the algorithm (another key split, step order, adaptation) moves the
draws by O(0.1) and fails.
"""

import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import symbnn
from symbnn import MLP
from symbnn.models import bnn

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_draws.npz"

CONFIGS = {
    "nuts_full": dict(kernel="nuts", space="full"),
    "hmc_quotient": dict(kernel=symbnn.samplers.HMC(num_integration_steps=8), space="quotient"),
    "nuts_full_orbit_moves": dict(kernel="nuts", space="full", orbit_moves=True),
    "nuts_quotient_map": dict(kernel="nuts", space="quotient", init="map", init_steps=50),
}


def _data():
    rng = np.random.default_rng(3)
    x = rng.uniform(-2, 2, (16, 1))
    return x, np.sin(2 * x[:, 0]) + 0.1 * rng.normal(size=16)


def _run(name):
    x, y = _data()
    model = bnn(MLP(1, (3,), 1, "tanh", "regression"))
    post = symbnn.sample(model, x, y, rng_key=jax.random.PRNGKey(11), num_chains=2,
                         num_warmup=30, num_draws=12, block_size=5, progress=False,
                         chain_layout="sequential", **CONFIGS[name])
    out = {f"{name}/{k}": np.asarray(v) for k, v in post.draws.items()}
    out[f"{name}/stats/lp"] = np.asarray(post.sample_stats["lp"])
    return out


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_draws_of_a_fixed_seed_are_unchanged(name):
    golden = np.load(GOLDEN)
    got = _run(name)
    keys = sorted(k for k in golden.files if k.startswith(name + "/"))
    assert keys == sorted(got), f"sites changed: {keys} vs {sorted(got)}"
    for k in keys:
        np.testing.assert_allclose(got[k], golden[k], rtol=1e-4, atol=1e-5, err_msg=k)


def test_golden_file_detects_a_changed_seed():
    """The comparison has power: another seed's draws differ from the stored ones."""
    golden = np.load(GOLDEN)
    x, y = _data()
    model = bnn(MLP(1, (3,), 1, "tanh", "regression"))
    post = symbnn.sample(model, x, y, rng_key=jax.random.PRNGKey(12), num_chains=2,
                         num_warmup=30, num_draws=12, block_size=5, progress=False,
                         chain_layout="sequential", **CONFIGS["nuts_full"])
    assert not np.allclose(post.draws["W0"], golden["nuts_full/W0"], rtol=1e-4, atol=1e-5)


if __name__ == "__main__" and "--write" in sys.argv:
    GOLDEN.parent.mkdir(exist_ok=True)
    out = {}
    for name in sorted(CONFIGS):
        out.update(_run(name))
    np.savez(GOLDEN, **out)
    print(f"wrote {GOLDEN} ({len(out)} arrays)")
