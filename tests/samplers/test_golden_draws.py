"""Draws of fixed seeds are unchanged by refactoring.

``tests/data/golden_draws.npz`` holds the draws of small runs; every configuration below must
reproduce them. Regenerate (only after a deliberate change of the samplers' arithmetic, and say
so in the commit) with

    XLA_FLAGS=--xla_cpu_max_isa=AVX2 python tests/samplers/test_golden_draws.py --write

The runs happen in a subprocess with XLA's CPU code generation capped at AVX2: XLA compiles for
the host's instruction set, and rounding differences between instruction sets are amplified by
NUTS trajectories (measured on an AMD EPYC with AVX-512 against files written with AVX-512
only: the quotient-space run with MAP starts was 3e4 times outside the tolerance by default,
within it at ``--xla_cpu_max_isa=AVX512``; capped at SSE4.2 or AVX2 every configuration moved
by O(1)). With the cap, any x86-64 machine with AVX2 compiles the same arithmetic.

Tolerance: the runs are short (30 warm-up steps, 12 draws), so the remaining rounding differences
stay far below it; a change of the algorithm (another key split, step order, adaptation) moves
the draws by O(0.1) and fails.
"""

import os
import platform
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import symbnn
from symbnn import MLP
from symbnn.models import bnn

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_draws.npz"
ISA = "--xla_cpu_max_isa=AVX2"

pytestmark = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                                reason="the golden draws were computed by x86-64 AVX2 code")

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


@pytest.fixture(scope="module")
def pinned(tmp_path_factory):
    """Every configuration's draws (and the changed-seed run), computed with AVX2 code."""
    out = tmp_path_factory.mktemp("golden") / "draws.npz"
    env = {**os.environ, "XLA_FLAGS": ISA, "JAX_PLATFORMS": "cpu"}
    subprocess.run([sys.executable, __file__, "--out", str(out)], env=env, check=True,
                   timeout=600)
    return np.load(out)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_draws_of_a_fixed_seed_are_unchanged(pinned, name):
    golden = np.load(GOLDEN)
    keys = sorted(k for k in golden.files if k.startswith(name + "/"))
    got = sorted(k for k in pinned.files if k.startswith(name + "/"))
    assert keys == got, f"sites changed: {keys} vs {got}"
    for k in keys:
        np.testing.assert_allclose(pinned[k], golden[k], rtol=1e-4, atol=1e-5, err_msg=k)


def test_golden_file_detects_a_changed_seed(pinned):
    """The comparison has power: another seed's draws differ from the stored ones."""
    golden = np.load(GOLDEN)
    assert not np.allclose(pinned["seed12/W0"], golden["nuts_full/W0"], rtol=1e-4, atol=1e-5)


def _changed_seed() -> dict:
    x, y = _data()
    model = bnn(MLP(1, (3,), 1, "tanh", "regression"))
    post = symbnn.sample(model, x, y, rng_key=jax.random.PRNGKey(12), num_chains=2,
                         num_warmup=30, num_draws=12, block_size=5, progress=False,
                         chain_layout="sequential", **CONFIGS["nuts_full"])
    return {"seed12/W0": np.asarray(post.draws["W0"])}


def _all() -> dict:
    out = {}
    for name in sorted(CONFIGS):
        out.update(_run(name))
    return out


if __name__ == "__main__" and "--out" in sys.argv:
    assert os.environ.get("XLA_FLAGS") == ISA, "run with XLA_FLAGS=" + ISA
    np.savez(sys.argv[sys.argv.index("--out") + 1], **_all(), **_changed_seed())

if __name__ == "__main__" and "--write" in sys.argv:
    assert os.environ.get("XLA_FLAGS") == ISA, "run with XLA_FLAGS=" + ISA
    GOLDEN.parent.mkdir(exist_ok=True)
    out = _all()
    np.savez(GOLDEN, **out)
    print(f"wrote {GOLDEN} ({len(out)} arrays)")
