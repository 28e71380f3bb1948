"""What the kernel test files share: a small tanh net on a sine, and an interrupted run resumed."""

import jax
import numpy as np
import pytest

import symbnn
from symbnn import MLP
from symbnn.models import bnn
from symbnn.samplers import checkpoint as ckpt_module

TANH = bnn(MLP(1, (3,), 1, "tanh", "regression"))


def sine():
    """16 points of sin(2x) + 0.1 noise on [-2, 2]."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-2, 2, (16, 1))
    return x, np.sin(2 * x[:, 0]) + 0.1 * rng.normal(size=16)


def run_tanh(defaults: dict, **kw):
    """``symbnn.sample`` of :data:`TANH` on :func:`sine` with key 7, ``defaults`` then ``kw``."""
    x, y = sine()
    settings = dict(defaults, rng_key=jax.random.key(7))
    settings.update(kw)
    return symbnn.sample(TANH, x, y, **settings)


def interrupted_then_resumed(run, folder, monkeypatch, **kw):
    """``run(**kw)`` uninterrupted, and ``run`` into ``folder`` stopped by Ctrl-C after its first
    block and resumed: ``(reference, resumed)``."""
    reference = run(**kw)
    real, calls = ckpt_module.write_block, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(*args)

    monkeypatch.setattr(ckpt_module, "write_block", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(checkpoint=folder, **kw)
    monkeypatch.setattr(ckpt_module, "write_block", real)
    return reference, run(checkpoint=folder, resume=True, **kw)
