"""One process of a multi-process test run (started by test_distributed.py).

``python distributed_worker.py OUT COORDINATOR NUM_PROCESSES PROCESS_ID [SETTINGS_JSON]`` joins the
run, samples the test problem with ``chain_layout="auto"`` (distributed, as there are several
processes) and saves the draws of the returned Posterior to OUT.
"""

import json
import sys

import jax
import numpy as np

import symbnn
from symbnn import MLP
from symbnn.models import bnn
from symbnn.samplers import HMC, distributed

SETTINGS = {"num_chains": 5, "num_warmup": 20, "num_draws": 12, "block_size": 4, "seed": 11}


def problem():
    """A 1-3-1 tanh regression on 16 rows."""
    rng = np.random.default_rng(2)
    x = rng.uniform(-2, 2, (16, 1))
    y = np.sin(2 * x[:, 0]) + 0.1 * rng.normal(size=16)
    return bnn(MLP(1, (3,), 1, "tanh", "regression", True)), x, y


def run(settings: dict, **kw):
    """``symbnn.sample`` on the test problem with ``settings`` (SETTINGS overridden)."""
    s = {**SETTINGS, **settings}
    model, x, y = problem()
    kernel = s.pop("kernel", None) or HMC(num_integration_steps=8)
    return symbnn.sample(model, x, y, rng_key=jax.random.key(s.pop("seed")), kernel=kernel,
                         progress=False, **s, **kw)


def arrays(post) -> dict:
    return {**post.draws, **{f"stats/{k}": v for k, v in post.sample_stats.items()}}


def main(argv):
    out, coordinator, num_processes, process_id = argv[1], argv[2], int(argv[3]), int(argv[4])
    settings = json.loads(argv[5]) if len(argv) > 5 else {}
    distributed.initialize(coordinator, num_processes, process_id,
                           timeout=settings.pop("timeout", 60),
                           heartbeat_timeout=settings.pop("heartbeat_timeout", 10))
    post = run(settings)
    assert post.attrs["chain_layout"] == "distributed", post.attrs["chain_layout"]
    np.savez(out, **arrays(post))
    print(f"process {process_id}: done", flush=True)


if __name__ == "__main__":
    main(sys.argv)
