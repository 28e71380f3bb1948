"""Resumable runs: a killed run, resumed, ends with the draws of an uninterrupted run.

One subprocess samples with a checkpoint and is SIGKILLed in the middle of the run; while it
runs, this process makes the uninterrupted reference run (with its own checkpoint folder, which
the error tests below copy and damage).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

import symbnn
from symbnn import MLP
from symbnn.models import NormalPrior, bnn
from symbnn.posterior import model_to_config
from symbnn.samplers import CheckpointError
from symbnn.samplers import driver as driver_module

MODEL = bnn(MLP(1, (3,), 1, "tanh", "regression", True))
SETTINGS = dict(num_chains=2, num_warmup=30, num_draws=20, block_size=5, progress=False)
KEY = 7
HANG_AT = 10  # the child hangs after writing the block that starts at draw 10 (before its state)

CHILD = textwrap.dedent("""
    import json, sys, time
    import jax, numpy as np
    import symbnn
    from symbnn.posterior import model_from_config
    from symbnn.samplers import checkpoint as ckpt

    spec = json.loads(open(sys.argv[1]).read())
    data = np.load(spec["data"])
    save_tree = ckpt.save_tree

    def save_and_maybe_hang(path, tree):
        save_tree(path, tree)
        if path.name == ckpt.block_path(path.parent, spec["hang_at"]).name:
            time.sleep(600)  # a block is on disk, its state is not: wait to be killed

    ckpt.save_tree = save_and_maybe_hang
    symbnn.sample(model_from_config(spec["model"]), data["x"], data["y"],
                  rng_key=jax.random.key(spec["key"]), checkpoint=spec["folder"],
                  **spec["settings"])
    print("finished without being killed")
""")


def _data():
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, (20, 1))
    return x, np.sin(2 * x[:, 0]) + 0.1 * rng.normal(size=20)


def _run(folder=None, *, key=KEY, model=MODEL, data=None, **kw):
    x, y = _data() if data is None else data
    settings = {**SETTINGS, **kw}
    return symbnn.sample(model, x, y, rng_key=jax.random.key(key), checkpoint=folder,
                         **settings)


def _assert_same_draws(a, b):
    assert set(a.draws) == set(b.draws) and set(a.sample_stats) == set(b.sample_stats)
    for k in a.draws:
        np.testing.assert_array_equal(a.draws[k], b.draws[k], err_msg=k)
    for k in a.sample_stats:
        np.testing.assert_array_equal(a.sample_stats[k], b.sample_stats[k], err_msg=k)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    killed, reference = root / "killed", root / "reference"
    x, y = _data()
    np.savez(root / "data.npz", x=x, y=y)
    spec = {"model": model_to_config(MODEL), "data": str(root / "data.npz"), "key": KEY,
            "folder": str(killed), "settings": SETTINGS, "hang_at": HANG_AT}
    (root / "spec.json").write_text(json.dumps(spec))
    (root / "child.py").write_text(CHILD)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    child = subprocess.Popen([sys.executable, str(root / "child.py"), str(root / "spec.json")],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        ref = _run(reference)  # the uninterrupted run, while the child works
        target = killed / f"block_{HANG_AT:08d}.npz"
        deadline = time.monotonic() + 300
        while not target.exists():
            if child.poll() is not None:
                pytest.fail(f"child ended before the kill: {child.stdout.read().decode()}")
            if time.monotonic() > deadline:
                pytest.fail("child wrote no block within 300 s")
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    return {"killed": killed, "reference": reference, "ref": ref, "root": root}


def _copy(runs, name):
    dest = runs["root"] / name
    shutil.copytree(runs["reference"], dest)
    return dest


@pytest.fixture
def no_sampling(monkeypatch):
    """Fail the test if warm-up or a block of draws would run."""

    def forbidden(*args, **kwargs):
        raise AssertionError("sampling started")

    monkeypatch.setattr(driver_module, "_warmup_program", forbidden)
    monkeypatch.setattr(driver_module, "_block_runner", forbidden)


def test_killed_run_resumes_to_the_uninterrupted_draws(runs):
    killed = runs["killed"]
    # the kill came mid-run: blocks 0, 5, 10 on disk, the state says 10 draws are done
    state = np.load(killed / "state.npz")
    assert int(state["next"]) == HANG_AT
    assert (killed / f"block_{HANG_AT:08d}.npz").exists()
    assert not (killed / f"block_{HANG_AT + 5:08d}.npz").exists()
    before = (killed / "block_00000000.npz").read_bytes()
    resumed = _run(killed, resume=True)
    _assert_same_draws(resumed, runs["ref"])
    assert (killed / "block_00000000.npz").read_bytes() == before  # kept, not redrawn
    assert int(np.load(killed / "state.npz")["next"]) == SETTINGS["num_draws"]
    # the reference's own checkpoint holds the same draws, block by block
    first = np.load(runs["reference"] / "block_00000000.npz")
    np.testing.assert_array_equal(first["stats/lp"], runs["ref"].sample_stats["lp"][:, :5])


def test_resuming_a_finished_run_returns_its_draws(runs, no_sampling):
    _assert_same_draws(_run(_copy(runs, "finished"), resume=True), runs["ref"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (dict(key=KEY + 1), "rng_key"),
        (dict(model=bnn(MLP(1, (3,), 1, "tanh", "regression", True),
                        prior=NormalPrior(2.0))), "model"),
        (dict(data=(_data()[0], _data()[1] + 1.0)), "'y'"),
        (dict(num_draws=25), "num_draws"),
        (dict(space="quotient"), "space"),
    ],
    ids=["key", "model", "data", "num_draws", "space"],
)
def test_resume_of_a_different_run_names_the_difference(runs, no_sampling, change, field):
    folder = _copy(runs, f"different-{field.strip(chr(39))}")
    with pytest.raises(CheckpointError, match=f"different run.*{field}"):
        _run(folder, resume=True, **change)


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda f: (f / "block_00000005.npz").write_bytes(b"not an npz"), "corrupted"),
        (lambda f: (f / "state.npz").write_bytes((f / "state.npz").read_bytes()[:40]),
         "corrupted"),
        (lambda f: (f / "warmup.npz").write_bytes(b""), "corrupted"),
        (lambda f: (f / "meta.json").write_text("{"), "corrupted"),
        (lambda f: (f / "block_00000010.npz").unlink(), "lacks block"),
    ],
    ids=["block", "state", "warmup", "meta", "missing-block"],
)
def test_damaged_checkpoint_raises(runs, no_sampling, damage, match):
    folder = _copy(runs, f"damaged-{len(list(runs['root'].iterdir()))}")
    damage(folder)
    with pytest.raises(CheckpointError, match=match):
        _run(folder, resume=True)


def test_existing_checkpoint_without_resume_is_not_overwritten(runs, no_sampling):
    folder = _copy(runs, "no-resume")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(CheckpointError, match="resume=True"):
        _run(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_foreign_files_without_meta_are_refused(runs, no_sampling):
    folder = _copy(runs, "foreign")
    (folder / "meta.json").unlink()
    with pytest.raises(CheckpointError, match="no meta.json"):
        _run(folder, resume=True)


def test_unwritable_folder_fails_before_sampling(tmp_path, no_sampling):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(OSError, match="not writable"):
        _run(blocker / "checkpoint")


def test_a_sampled_run_survives_netcdf(runs):
    ref = runs["ref"]
    loaded = symbnn.load(ref.save(runs["root"] / "ref.nc"))
    _assert_same_draws(loaded, ref)
    assert loaded.model == ref.model and loaded.attrs == ref.attrs
