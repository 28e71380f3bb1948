"""Multi-process runs (``chain_layout="distributed"``) with real processes on this machine.

Every test starts its processes (``distributed_worker.py``) with a coordinator on 127.0.0.1 at a
free port; each process has its own CPU device. The draws of a distributed run must equal, bit for
bit, those of one process running every chain sequentially (each chain keeps its key and start).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from symbnn.samplers import distributed

HERE = Path(__file__).resolve().parent
WORKER = HERE / "distributed_worker.py"
sys.path.insert(0, str(HERE))
from distributed_worker import arrays, run  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(tmp_path, num_processes, settings, *, port=None, per_process=None, tag="run"):
    """Start the processes; return them with the files their draws go to."""
    port = port or _free_port()
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}
    procs, outs = [], []
    for i in range(num_processes):
        s = {**settings, **(per_process or {}).get(i, {})}
        out = tmp_path / f"{tag}_{i}.npz"
        log = open(tmp_path / f"{tag}_{i}.log", "w")  # noqa: SIM115 (closed with the process)
        procs.append(subprocess.Popen(
            [sys.executable, str(WORKER), str(out), f"127.0.0.1:{port}", str(num_processes),
             str(i), json.dumps(s)], stdout=log, stderr=subprocess.STDOUT, env=env))
        outs.append(out)
    return procs, outs


def _finish(procs, timeout=240):
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append("timeout")
    return codes


def _logs(tmp_path, tag, n):
    return [(tmp_path / f"{tag}_{i}.log").read_text() for i in range(n)]


def _assert_same_draws(files, reference):
    for f in files:
        got = np.load(f)
        assert sorted(got.files) == sorted(reference)
        for k, v in reference.items():
            # bit for bit (NaN statistics, such as HMC's energy before a first step, included)
            assert np.array_equal(got[k], np.asarray(v), equal_nan=True), (f.name, k)


@pytest.mark.parametrize("num_processes,settings", [
    (2, {}),
    pytest.param(3, {"num_chains": 7, "space": "quotient", "kernel": "nuts"},
                 marks=pytest.mark.slow),
], ids=["2-processes-hmc", "3-processes-nuts-quotient"])
def test_processes_give_the_draws_of_one_sequential_run(tmp_path, num_processes, settings):
    settings = {**settings, "checkpoint": str(tmp_path / "ck")}
    procs, outs = _start(tmp_path, num_processes, settings)
    codes = _finish(procs)
    assert codes == [0] * num_processes, _logs(tmp_path, "run", num_processes)
    reference = arrays(run({k: v for k, v in settings.items() if k != "checkpoint"},
                           chain_layout="sequential"))
    _assert_same_draws(outs, reference)  # every process returns the whole Posterior
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [
        f"process_{i:04d}" for i in range(num_processes)]


@pytest.mark.slow
def test_killed_process_stops_the_others_and_resume_ends_with_the_same_draws(tmp_path):
    # blocks of one draw, each written and fsynced: slow enough to kill a process mid-run
    settings = {"num_draws": 2000, "block_size": 1, "checkpoint": str(tmp_path / "ck"),
                "heartbeat_timeout": 3}
    procs, outs = _start(tmp_path, 2, settings, tag="first")
    blocks = tmp_path / "ck" / "process_0001"
    deadline = time.monotonic() + 120
    while len(list(blocks.glob("block_*.npz"))) < 10:
        assert time.monotonic() < deadline and procs[1].poll() is None, \
            _logs(tmp_path, "first", 2)
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    code = _finish(procs[:1], timeout=60)[0]
    stopped_after = time.monotonic() - killed_at
    log = _logs(tmp_path, "first", 1)[0]
    assert code != 0 and not outs[0].exists()
    # heartbeat timeout 3 s; jax's coordinator notices a missed heartbeat within two periods
    assert stopped_after < 30, stopped_after
    assert "1" in log.split("unhealthy")[-1] or "process 1" in log, log[-2000:]
    kept = len(list(blocks.glob("block_*.npz")))
    assert kept >= 10  # nothing streamed was lost

    resumed = {**settings, "resume": True}
    procs, outs = _start(tmp_path, 2, resumed, tag="resumed")
    assert _finish(procs) == [0, 0], _logs(tmp_path, "resumed", 2)
    reference = arrays(run({"num_draws": 2000, "block_size": 1}, chain_layout="sequential"))
    _assert_same_draws(outs, reference)


@pytest.mark.parametrize("other,named", [
    ({"seed": 12}, "rng_key"),
    ({"num_chains": 6}, "num_chains"),
])
def test_a_process_with_other_settings_is_refused_before_sampling(tmp_path, other, named):
    settings = {"checkpoint": str(tmp_path / "ck")}
    procs, outs = _start(tmp_path, 2, settings, per_process={1: other})
    codes = _finish(procs)
    logs = _logs(tmp_path, "run", 2)
    assert codes[0] != 0 and codes[1] != 0
    for log in logs:
        assert "process 1 runs something else than process 0" in log and named in log, log
    assert not any((tmp_path / "ck").glob("*/block_*.npz"))  # refused before any sampling


def test_unreachable_coordinator_is_a_clear_error_within_the_timeout():
    start = time.monotonic()
    with pytest.raises(distributed.DistributedError, match=r"did not answer within 1 s"):
        distributed.initialize(f"127.0.0.1:{_free_port()}", 2, 1, timeout=1)
    assert time.monotonic() - start < 10


def test_cli_unreachable_coordinator_exits_2(capsys):
    from symbnn.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["fit", "--data", "sinusoidal", "--widths", "2", "--chains", "2", "--quiet",
              "--coordinator", f"127.0.0.1:{_free_port()}", "--num-processes", "2",
              "--process-id", "1", "--distributed-timeout", "1", "--out", "unused"])
    assert exc.value.code == 2
    assert "did not answer within 1 s" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs,message", [
    (dict(coordinator="127.0.0.1:1234"), "go together"),
    (dict(coordinator="localhost", num_processes=2, process_id=0), "HOST:PORT"),
    (dict(coordinator="h:99999", num_processes=2, process_id=0), "HOST:PORT"),
    (dict(coordinator="h:1234", num_processes=0, process_id=0), "num_processes"),
    (dict(coordinator="h:1234", num_processes=2, process_id=2), r"process_id must be .* \[0, 2\)"),
    (dict(coordinator="h:1234", num_processes=2, process_id=0, timeout=0), "timeout"),
])
def test_initialize_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        distributed.initialize(**kwargs)


def test_initialize_without_a_coordinator_needs_a_cluster_launch(monkeypatch):
    for var in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    assert not distributed.cluster_detected()
    with pytest.raises(ValueError, match="no SLURM / Open MPI launch"):
        distributed.initialize()
    monkeypatch.setenv("SLURM_NTASKS", "4")
    assert distributed.cluster_detected()


@pytest.mark.parametrize("num_chains,num_processes", [(5, 2), (7, 3), (4, 4), (1274, 16)])
def test_chain_shares_are_contiguous_and_cover_every_chain(num_chains, num_processes):
    shares = [distributed.chain_share(num_chains, num_processes, p)
              for p in range(num_processes)]
    assert shares[0][0] == 0 and shares[-1][1] == num_chains
    assert all(a[1] == b[0] for a, b in zip(shares, shares[1:], strict=False))
    sizes = [hi - lo for lo, hi in shares]
    assert max(sizes) - min(sizes) <= 1


def test_fewer_chains_than_processes_is_refused():
    with pytest.raises(ValueError, match="num_chains must be at least the number of processes"):
        distributed.chain_share(2, 3, 0)


def test_distributed_layout_needs_a_checkpoint_and_an_initialized_runtime(tmp_path):
    with pytest.raises(ValueError, match="needs checkpoint="):
        run({}, chain_layout="distributed")
    with pytest.raises(distributed.DistributedError, match="jax.distributed.initialize"):
        run({}, chain_layout="distributed", checkpoint=tmp_path / "ck")


def test_importing_symbnn_leaves_the_backend_to_jax_distributed():
    """jax.distributed.initialize must come before the backend starts; symbnn must not start it."""
    code = ("import jax._src.xla_bridge as xb, symbnn, symbnn.cli, symbnn.sklearn; "
            "from symbnn.samplers import distributed; print(xb.backends_are_initialized())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert out.stdout.strip() == "False", out.stderr


def _launch(tmp_path, argv_of, num_processes, tag):
    port = _free_port()
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}
    procs = []
    for i in range(num_processes):
        log = open(tmp_path / f"{tag}_{i}.log", "w")  # noqa: SIM115 (closed with the process)
        flags = ["--coordinator", f"127.0.0.1:{port}", "--num-processes", str(num_processes),
                 "--process-id", str(i)]
        procs.append(subprocess.Popen(argv_of(flags), stdout=log, stderr=subprocess.STDOUT,
                                      env=env, cwd=HERE.parents[1]))
    return procs


FIT = ["fit", "--data", "sinusoidal", "--num-train", "24", "--num-test", "8", "--widths", "2",
       "--chains", "3", "--warmup", "15", "--draws", "6", "--kernel", "hmc", "--quiet"]


@pytest.mark.slow
def test_cli_fit_across_two_processes_writes_one_run_with_the_sequential_draws(tmp_path):
    from symbnn.cli import main
    from symbnn.posterior import load

    out = tmp_path / "two"
    procs = _launch(tmp_path, lambda flags: [sys.executable, "-m", "symbnn", *FIT, "--out",
                                             str(out), "--no-diagnose", *flags], 2, "fit")
    assert _finish(procs) == [0, 0], _logs(tmp_path, "fit", 2)
    assert (out / "posterior.nc").exists() and (out / "checkpoint" / "process_0001").is_dir()
    assert main([*FIT, "--layout", "sequential", "--no-diagnose", "--out",
                 str(tmp_path / "one")]) == 0
    a, b = load(out / "posterior.nc"), load(tmp_path / "one" / "posterior.nc")
    assert a.attrs["chain_layout"] == "distributed"
    for k, v in b.draws.items():
        assert np.array_equal(a.draws[k], v), k


@pytest.mark.slow
def test_reproduce_table_runs_a_cell_across_two_processes(tmp_path):
    bench = HERE.parents[1] / "benchmarks" / "reproduce_table.py"
    cells = tmp_path / "cells"
    common = [sys.executable, str(bench), "--datasets", "sinusoidal", "--nets", "f1",
              "--modes", "many", "--chains", "f1=4", "--warmup", "10", "--cell-dir", str(cells)]
    procs = _launch(tmp_path, lambda flags: [*common, "--out", str(tmp_path / "t.json"), *flags],
                    2, "table")
    assert _finish(procs) == [0, 0], _logs(tmp_path, "table", 2)
    row = json.loads((cells / "sinusoidal_f1_many.json").read_text())
    assert row["processes"] == 2 and row["layout"] == "distributed" and row["num_chains"] == 4
    one = subprocess.run([*common, "--force", "--devices", "1", "--cell-dir",
                          str(tmp_path / "cells1"), "--out", str(tmp_path / "t1.json")],
                         capture_output=True, text=True, cwd=HERE.parents[1], timeout=600)
    assert one.returncode == 0, one.stderr[-2000:]
    ref = json.loads((tmp_path / "cells1" / "sinusoidal_f1_many.json").read_text())
    assert ref["processes"] == 1 and row["lppd"] == ref["lppd"]  # the same draws
