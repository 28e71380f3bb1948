"""Faults: runs killed at random points, unwritable or full output folders, divergences.

- A run SIGKILLed three times at random points and resumed each time ends with exactly the draws
  of an uninterrupted run. The kill points come from a seeded generator: the first kill a random
  delay after the run started (during warm-up), the others after a random number of blocks
  completed by the resumed run plus a random fraction of a few blocks' time, so they land in the
  middle of sampling a block or of writing one. (tests/samplers/test_resume.py kills once, at a
  fixed block boundary.)
- An output folder that cannot be written, or a disk without room for the run, raises before any
  sampling: no warm-up runs, no block file appears, and the error comes within seconds.
- Divergent transitions are counted in the sample statistics and surfaced by
  ``diagnostics.summary`` (its count, per chain, and its text).
"""

import collections
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
from symbnn import MLP, diagnostics
from symbnn.models import bnn
from symbnn.posterior import model_to_config
from symbnn.samplers import checkpoint as ckpt_module
from symbnn.samplers import driver as driver_module

MODEL = bnn(MLP(1, (3,), 1, "tanh"))
# 40 blocks of about 0.1-0.2 s each (measured on 2 cores), so a kill lands inside the run
SETTINGS = dict(num_chains=2, num_warmup=50, num_draws=2000, block_size=50, progress=False)
KEY = 3
KILL_SEED = 20240531
NUM_KILLS = 3
FAIL_FAST_S = 10.0  # validation and set-up only; one compilation alone takes longer than this

CHILD = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    import symbnn
    from symbnn.posterior import model_from_config

    spec = json.loads(open(sys.argv[1]).read())
    data = np.load(spec["data"])
    symbnn.sample(model_from_config(spec["model"]), data["x"], data["y"],
                  rng_key=jax.random.key(spec["key"]), checkpoint=spec["folder"], resume=True,
                  **spec["settings"])
    print("finished without being killed")
""")


def _data():
    rng = np.random.default_rng(4)
    x = rng.uniform(-2, 2, (20, 1))
    return x, np.tanh(2 * x[:, 0]) - 0.5 * x[:, 0] + 0.1 * rng.normal(size=20)


def _progress(folder):
    """-1 before warm-up is on disk, else the number of draws whose block and state are saved."""
    if not (folder / "warmup.npz").exists():
        return -1
    try:
        with np.load(folder / "state.npz") as state:
            return int(state["next"])
    except (FileNotFoundError, OSError, ValueError, KeyError):
        return 0


def kill_plan(seed=KILL_SEED):
    """Per kill: (blocks the child must complete, delay as a fraction of a time unit).

    ``None`` blocks: the first child is killed a fraction (0-0.5) of the reference run's warm-up
    time after it wrote meta.json, during its own warm-up. The others wait for 1-8 blocks of
    their own, then 0-3 block durations more, so each resumed run is killed after it has done
    some work and none can finish (at most 2 * 12 of 40 blocks).
    """
    rng = np.random.default_rng(seed)
    plan = [(None, float(rng.uniform(0.0, 0.5)))]
    plan += [(int(rng.integers(1, 9)), float(rng.uniform(0.0, 3.0)))
             for _ in range(NUM_KILLS - 1)]
    return plan


def _block_seconds(folder):
    """Median time between block files of a checkpoint (the first block holds compilation)."""
    times = sorted(p.stat().st_mtime for p in folder.glob("block_*.npz"))
    return float(np.median(np.diff(times[1:])))


def _kill_when(child, folder, blocks, delay):
    """Kill ``child`` once it completed ``blocks`` blocks (None: once it started), after
    ``delay`` seconds."""
    start = _progress(folder)
    target = start if blocks is None else max(start, 0) + blocks * SETTINGS["block_size"]
    deadline = time.monotonic() + 300
    while not (folder / "meta.json").exists() or _progress(folder) < target:
        if child.poll() is not None:
            pytest.fail(f"child ended before the kill: {child.stdout.read().decode()}")
        if time.monotonic() > deadline:
            pytest.fail(f"child reached no {target} draws within 300 s")
        time.sleep(0.002)
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    return child.returncode, target


@pytest.fixture(scope="module")
def killed_three_times(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    folder = root / "run"
    x, y = _data()
    np.savez(root / "data.npz", x=x, y=y)
    spec = {"model": model_to_config(MODEL), "data": str(root / "data.npz"), "key": KEY,
            "folder": str(folder), "settings": SETTINGS}
    (root / "spec.json").write_text(json.dumps(spec))
    (root / "child.py").write_text(CHILD)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    reference = symbnn.sample(MODEL, x, y, rng_key=jax.random.key(KEY),
                              checkpoint=root / "reference", **SETTINGS)
    units = {True: reference.attrs["warmup_s"], False: _block_seconds(root / "reference")}
    kills = []
    for blocks, fraction in kill_plan():
        delay = fraction * units[blocks is None]
        child = subprocess.Popen([sys.executable, str(root / "child.py"),
                                  str(root / "spec.json")],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        try:
            code, target = _kill_when(child, folder, blocks, delay)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        kills.append({"target": target, "returncode": code, "progress": _progress(folder),
                      "delay": delay})
    resumed = symbnn.sample(MODEL, x, y, rng_key=jax.random.key(KEY), checkpoint=folder,
                            resume=True, **SETTINGS)
    return {"kills": kills, "resumed": resumed, "reference": reference, "folder": folder}


@pytest.mark.slow
def test_kills_landed_mid_run(killed_three_times):
    kills = killed_three_times["kills"]
    assert len(kills) == NUM_KILLS
    assert all(k["returncode"] == -signal.SIGKILL for k in kills)
    progress = [k["progress"] for k in kills]
    # the first kill came in warm-up; every later run got further, and none finished
    assert progress[0] == -1, kills
    assert all(a < b for a, b in zip(progress[:-1], progress[1:], strict=True)), kills
    assert progress[-1] < SETTINGS["num_draws"], kills
    assert all(p >= k["target"] for p, k in zip(progress, kills, strict=True)), kills


@pytest.mark.slow
def test_three_times_killed_run_equals_the_uninterrupted_run(killed_three_times):
    a, b = killed_three_times["resumed"], killed_three_times["reference"]
    assert set(a.draws) == set(b.draws) and set(a.sample_stats) == set(b.sample_stats)
    for k in b.draws:
        np.testing.assert_array_equal(a.draws[k], b.draws[k], err_msg=k)
    for k in b.sample_stats:
        np.testing.assert_array_equal(a.sample_stats[k], b.sample_stats[k], err_msg=k)
    folder = killed_three_times["folder"]
    blocks = sorted(p.name for p in folder.glob("block_*.npz"))
    assert len(blocks) == SETTINGS["num_draws"] // SETTINGS["block_size"]


def test_kill_plan_is_seeded_and_spread():
    plan = kill_plan()
    assert plan == kill_plan() and plan != kill_plan(KILL_SEED + 1)
    assert len(plan) == NUM_KILLS and plan[0][0] is None
    # the later kills cannot use up the run: at most 8 + 3 blocks each, 40 blocks in all
    blocks = SETTINGS["num_draws"] // SETTINGS["block_size"]
    assert all(1 <= b <= 8 and 0 <= f <= 3 for b, f in plan[1:])
    assert 12 * (NUM_KILLS - 1) < blocks


# --------------------------------------------------------------- unwritable or full folder
@pytest.fixture
def sampling_forbidden(monkeypatch):
    calls = []

    def forbidden(*args, **kwargs):
        calls.append(1)
        raise AssertionError("sampling started")

    monkeypatch.setattr(driver_module, "_warmup_program", forbidden)
    monkeypatch.setattr(driver_module, "_block_runner", forbidden)
    return calls


def _read_only_dir(path):
    """A directory this process cannot write, or None where none can be made.

    chmod 0o500 stops ordinary users; root ignores permission bits, so for root the immutable
    attribute (chattr +i, which needs CAP_LINUX_IMMUTABLE) is tried instead.
    """
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o500)
    elif shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        return None
    try:
        (path / "probe").write_text("")
    except OSError:
        return path
    (path / "probe").unlink()
    return None


def _release(path):
    if os.geteuid() == 0 and shutil.which("chattr"):
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    path.chmod(0o700)


def _timed_failure(folder, match, **kw):
    x, y = _data()
    t0 = time.perf_counter()
    with pytest.raises(OSError, match=match):
        symbnn.sample(MODEL, x, y, rng_key=jax.random.key(KEY), checkpoint=folder,
                      **{**SETTINGS, **kw})
    return time.perf_counter() - t0


def test_folder_below_a_file_fails_fast(tmp_path, sampling_forbidden):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    seconds = _timed_failure(blocker / "sub", "not writable")
    assert seconds < FAIL_FAST_S and not sampling_forbidden
    assert blocker.read_text() == "not a folder"


def test_read_only_folder_fails_fast(tmp_path, sampling_forbidden):
    folder = _read_only_dir(tmp_path / "read_only")
    if folder is None:
        pytest.skip("no way to make a folder this process cannot write (root without chattr)")
    try:
        seconds = _timed_failure(folder / "run", "not writable")
        seconds_top = _timed_failure(folder, "not writable")
    finally:
        _release(tmp_path / "read_only")
    assert max(seconds, seconds_top) < FAIL_FAST_S and not sampling_forbidden
    assert list((tmp_path / "read_only").iterdir()) == []


def test_full_disk_fails_fast(tmp_path, monkeypatch, sampling_forbidden):
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(ckpt_module.shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 512,
                                                                          512))
    folder = tmp_path / "run"
    seconds = _timed_failure(folder, r"512 bytes free, the run needs about \d+")
    assert seconds < FAIL_FAST_S and not sampling_forbidden
    # nothing half-written: no meta.json, no warm-up, no block (an empty folder may remain)
    assert not folder.exists() or list(folder.iterdir()) == []


def test_room_for_the_run_is_enough(tmp_path, monkeypatch, sampling_forbidden):
    # the same check passes with room to spare, and the run gets as far as warm-up
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(ckpt_module.shutil, "disk_usage", lambda p: usage(10**12, 0, 10**12))
    x, y = _data()
    with pytest.raises(AssertionError, match="sampling started"):
        symbnn.sample(MODEL, x, y, rng_key=jax.random.key(KEY), checkpoint=tmp_path / "run",
                      **SETTINGS)
    assert (tmp_path / "run" / "meta.json").exists()


# -------------------------------------------------------------------------- divergences
@pytest.fixture(scope="module")
def divergent():
    # No adaptation and a step size far beyond the posterior's scale: most trajectories blow up.
    x, y = _data()
    return symbnn.sample(MODEL, x, y, rng_key=jax.random.key(0), num_chains=2, num_warmup=0,
                         num_draws=30, kernel=symbnn.samplers.HMC(step_size=8.0), progress=False)


def test_divergences_are_counted_and_surfaced(divergent):
    diverging = np.asarray(divergent.sample_stats["diverging"])
    assert diverging.dtype == bool and diverging.shape == (2, 30)
    assert diverging.sum() > 0
    s = diagnostics.summary(divergent, aligned=False)
    assert s.num_divergences == int(diverging.sum())
    np.testing.assert_array_equal(s.divergences_per_chain, diverging.sum(axis=1))
    assert f"divergences: {int(diverging.sum())}" in str(s)
    dt = divergent.to_datatree(log_likelihood=False)
    assert int(dt["sample_stats"]["diverging"].values.sum()) == int(diverging.sum())


def test_no_divergences_reads_zero_not_missing(divergent):
    quiet = dict(divergent.sample_stats, diverging=np.zeros((2, 30), bool))
    s = diagnostics.summary(divergent.draws, mlp=MODEL.mlp, sample_stats=quiet, aligned=False)
    assert s.num_divergences == 0 and "divergences: 0" in str(s)
