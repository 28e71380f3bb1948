"""Shared helpers of the benchmark scripts: subprocess workers, timing, ESS, tables, JSON.

Every configuration of a benchmark runs in its own Python process, so that the number of host
devices can differ between configurations (it is fixed when JAX initialises) and so that every
timing includes JAX compilation: nothing is cached from an earlier configuration.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
COMPILE_EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace_s",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower_s",
    "/jax/core/compile/backend_compile_duration": "backend_compile_s",
}


# ------------------------------------------------------------------ worker processes
def set_host_devices(num_devices: int) -> None:
    """Ask XLA for ``num_devices`` CPU devices; call before JAX initialises (worker start)."""
    import numpyro

    numpyro.set_host_device_count(int(num_devices))


def _failed(proc_out: str, code) -> dict:
    return {"error": f"worker exited with {code}", "output_tail": proc_out[-3000:]}


def run_worker(script: str | Path, config: dict, *, timeout_s: float | None = None) -> dict:
    """Run ``script --worker <json>`` in a fresh Python process and return the dict it writes.

    The worker receives ``config`` plus ``"result_path"`` and must write its result there as
    JSON. A failed worker yields ``{"error": ...}`` with the tail of its output, so one broken
    configuration does not lose the others.
    """
    return run_worker_group(script, config, 1, timeout_s=timeout_s)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_worker_group(script: str | Path, config: dict, num_processes: int, *,
                     timeout_s: float | None = None) -> dict:
    """Run ``num_processes`` workers at once, as the processes of one ``jax.distributed`` run.

    With more than one process each worker's config also holds ``"coordinator"`` (127.0.0.1 at
    a free port), ``"num_processes"`` and ``"process_id"``. Returns process 0's result, with
    ``process_s`` the wall time until the last process ended; any failed process fails the run.
    """
    with tempfile.TemporaryDirectory() as tmp:
        extra = {}
        if num_processes > 1:
            extra = {"coordinator": f"127.0.0.1:{free_port()}", "num_processes": num_processes}
        procs, paths = [], []
        t0 = time.perf_counter()
        for i in range(num_processes):
            paths.append(Path(tmp) / f"result_{i}.json")
            payload = json.dumps({**config, **extra, "result_path": str(paths[i]),
                                  **({"process_id": i} if extra else {})})
            with open(Path(tmp) / f"output_{i}.txt", "w") as log:  # a file: no pipe fills up
                procs.append(subprocess.Popen(
                    [sys.executable, str(script), "--worker", payload], cwd=REPO_ROOT,
                    stdout=log, stderr=subprocess.STDOUT))
        results = []
        for i, (proc, path) in enumerate(zip(procs, paths, strict=True)):
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                for p in procs:
                    p.kill()
                return {"error": f"timed out after {timeout_s} s"}
            if proc.returncode != 0 or not path.exists():
                for p in procs:
                    p.kill()
                return _failed((Path(tmp) / f"output_{i}.txt").read_text(), proc.returncode)
            results.append(json.loads(path.read_text()))
        process_s = time.perf_counter() - t0
    result = results[0]
    result["process_s"] = process_s
    return result


def add_cluster_flags(parser) -> None:
    """``--coordinator --num-processes --process-id``: the script as a process of a cluster run."""
    g = parser.add_argument_group(
        "this script as one process of a cluster run (jax.distributed; none of the three "
        "under srun / mpirun)")
    g.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0")
    g.add_argument("--num-processes", type=int, metavar="N")
    g.add_argument("--process-id", type=int, metavar="I")


def in_cluster(args) -> bool:
    """True when the flags of :func:`add_cluster_flags` or a SLURM / Open MPI launch ask for it."""
    from symbnn.samplers.distributed import cluster_detected

    return (args.coordinator is not None or args.num_processes is not None
            or args.process_id is not None or cluster_detected())


def cluster_config(args) -> dict:
    """The worker settings that make :func:`join_cluster` join the run of ``args``."""
    return {"cluster": True, "coordinator": args.coordinator,
            "num_processes": args.num_processes, "process_id": args.process_id}


def join_cluster(config: dict) -> None:
    """In a worker, before JAX starts: join the multi-process run ``config`` describes, if any."""
    if "process_id" in config or config.get("cluster"):
        from symbnn.samplers import distributed

        distributed.initialize(config.get("coordinator"), config.get("num_processes"),
                               config.get("process_id"))


def write_worker_result(config: dict, result: dict) -> None:
    """Write a worker's result where :func:`run_worker` expects it."""
    write_json(config["result_path"], result)


class CompileClock:
    """Sum of JAX tracing, lowering and XLA compilation durations seen since construction.

    Uses ``jax.monitoring`` duration events (JAX records tracing only for top-level functions,
    so the three parts do not overlap). Also keeps every XLA compile as (function name, seconds).
    """

    def __init__(self) -> None:
        from jax import monitoring

        self.totals = dict.fromkeys(COMPILE_EVENTS.values(), 0.0)
        self.compiles: list[tuple[str, float]] = []

        def listener(event: str, duration: float, **kwargs: Any) -> None:
            key = COMPILE_EVENTS.get(event)
            if key is None:
                return
            self.totals[key] += float(duration)
            if key == "backend_compile_s":
                self.compiles.append((str(kwargs.get("fun_name", "?")), float(duration)))

        monitoring.register_event_duration_secs_listener(listener)

    def snapshot(self, top: int = 5) -> dict:
        """The totals so far, ``compile_s`` = their sum, and the ``top`` slowest XLA compiles."""
        out: dict = dict(self.totals)
        out["compile_s"] = sum(self.totals.values())
        slowest = sorted(self.compiles, key=lambda kv: -kv[1])[:top]
        out["slowest_compiles_s"] = [[name, round(sec, 3)] for name, sec in slowest]
        out["num_compiles"] = len(self.compiles)
        return out


# ------------------------------------------------------------------ machine and output
def _busy(n: int) -> float:
    t0 = time.perf_counter()
    total = 0
    for i in range(n):
        total += i
    return time.perf_counter() - t0


def free_core_check(num: int = 10_000_000) -> dict:
    """Time one busy Python loop, then two at once in two processes.

    On an idle 2-core machine both take about the same time (``parallel_slowdown`` near 1);
    near 2 means only one core is free, so multi-device layouts cannot run faster there.
    """
    import multiprocessing

    one = _busy(num)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_busy, [1, 1])  # start the workers before timing
        t0 = time.perf_counter()
        pool.map(_busy, [num, num])
        two = time.perf_counter() - t0
    return {"one_loop_s": one, "two_loops_in_parallel_s": two, "parallel_slowdown": two / one}


def machine_info() -> dict:
    """Cores, load, free cores, library versions and the default JAX backend of this machine."""
    import blackjax
    import jax
    import numpyro

    return {
        "nproc": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "numpyro": numpyro.__version__,
        "blackjax": blackjax.__version__,
        "backend": jax.default_backend(),
        "loadavg_start": list(os.getloadavg()),
        "free_core_check_start": free_core_check(),
    }


def write_json(path: str | Path, obj: dict) -> Path:
    """:func:`symbnn.runs.write_json`, imported late: workers must set their devices first."""
    from symbnn.runs import write_json as write

    return write(path, obj)


def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """A plain-text table; ``columns`` are (key, header, format spec) triples."""
    cells = [[h for _, h, _ in columns]]
    for row in rows:
        line = []
        for key, _, spec in columns:
            value = row.get(key)
            if value is None:
                line.append("-")
            elif isinstance(value, float | int | np.floating) and spec:
                line.append(format(value, spec))
            else:
                line.append(str(value))
        cells.append(line)
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    out = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing or ``b`` is not positive."""
    if a is None or b is None or not b > 0:
        return None
    return float(a) / float(b)


# ------------------------------------------------------------------ posterior summaries
def min_bulk_ess(arrays: dict[str, np.ndarray]) -> tuple[float, dict[str, float]]:
    """Minimum bulk ESS (arviz-stats) over every scalar of ``arrays`` (chain, draw, ...).

    Returns the overall minimum and the minimum per variable.
    """
    import arviz_stats
    from arviz_base import dict_to_dataset

    ds = dict_to_dataset({k: np.asarray(v) for k, v in arrays.items()})
    ess = arviz_stats.ess(ds, method="bulk")
    per_var = {k: float(np.nanmin(ess[k].values)) for k in ess.data_vars}
    return float(min(per_var.values())), per_var


def ess_summaries(post, x_pred, wall_s: float, cpu_s: float) -> dict:
    """Minimum bulk ESS of the predictive means at ``x_pred`` and of the canonical parameters
    (``Posterior.canonical()``, sigma included), per second of ``wall_s`` / ``cpu_s``, the mean
    integration steps per draw and the divergences of a Posterior."""
    ess_pred, _ = min_bulk_ess({"f": post.predict(x_pred)})
    ess_canon, per_site = min_bulk_ess(post.canonical().draws)
    stats = post.sample_stats
    steps = stats.get("num_integration_steps", stats.get("num_steps"))
    out = {
        "min_ess_pred": ess_pred, "min_ess_canonical": ess_canon,
        "min_ess_canonical_per_site": per_site,
        "ess_pred_per_s": ess_pred / wall_s, "ess_canonical_per_s": ess_canon / wall_s,
        "ess_pred_per_cpu_s": ess_pred / cpu_s,
    }
    if steps is not None:
        out["mean_leapfrog_per_draw"] = float(np.mean(steps))
    if "diverging" in stats:
        out["divergences"] = int(np.sum(stats["diverging"]))
    return out


def canonical_rhat(post) -> dict:
    """Max R-hat (``symbnn.diagnostics`` convergence statistics: rank-normalised split R-hat,
    constant values skipped) over every canonical parameter, sigma included."""
    from symbnn.diagnostics.convergence import convergence_stats

    draws = post.canonical().draws
    names, parts = [], []
    for site in sorted(draws):
        value = np.asarray(draws[site], dtype=float)
        flat = value.reshape(*value.shape[:2], -1)
        parts.append(flat)
        names += [f"{site}[{i}]" for i in range(flat.shape[-1])]
    stats = convergence_stats(np.concatenate(parts, axis=-1), names)
    return {"canonical_rhat": stats["max_rhat"], "canonical_rhat_worst": stats["worst"]}


def lppd_by_num_chains(log_lik) -> dict[str, list]:
    """Test LPPD (``symbnn.diagnostics.lppd``) of the first S chains, S = 1, 2, 4, ... and all.

    ``log_lik`` is (chain, draw, n); every draw of the first S chains counts. With one draw per
    chain this is ``symbnn.diagnostics.lppd_curve``. The curve shows how far the estimate from
    fewer chains (ensemble members) is from its limit.
    """
    from symbnn.diagnostics import lppd

    log_lik = np.asarray(log_lik, dtype=float)
    total = log_lik.shape[0]
    sizes = sorted({2**k for k in range(int(np.log2(total)) + 1)} | {total})
    pairs = [lppd(log_lik[:size]) for size in sizes]
    return {"num_chains": sizes, "lppd": [p.mean for p in pairs],
            "lppd_se": [p.se for p in pairs]}


# ------------------------------------------------------------------ gradient evaluations
KERNEL_THINNING = {"mclmc": 10, "mams": 2}
"""Transitions per kept draw of the new kernels in samplers.py and reproduce_table.py: a draw
costs 20 (MCLMC) and about 32 (MAMS, trajectories of about 8 steps) gradient evaluations, a
tenth of a typical NUTS draw on the sinusoid."""


def is_population(kernel: str) -> bool:
    """Whether symbnn's kernel ``kernel`` tunes its chains together as particles (SMC): then its
    chains start from the prior only."""
    from symbnn.samplers import KERNELS

    return kernel in KERNELS and KERNELS[kernel].population


GRADS_PER_STEP = {"numpyro": 1, "nuts": 1, "hmc": 1, "mclmc": 2, "mams": 2, "smc": 1}
"""Gradient evaluations per integration step: velocity Verlet (NUTS, HMC) 1; the isokinetic
McLachlan integrator of blackjax's MCLMC and MAMS 2 (two position updates, the last gradient
kept in the state). A kernel not listed counts 1, with a note."""
STAT_PER_DRAW = {"mclmc"}
"""Kernels whose ``num_integration_steps`` statistic counts every transition of a kept draw; the
others record the last transition's (with thinning it is scaled by the transitions per draw)."""
ENSEMBLE_STEPS = 1000
"""Adam steps per member of an ``init="ensemble"`` start (symbnn.sample's default init_steps)."""


def mclmc_tuning_transitions(num_warmup: int, fractions=(0.3, 0.3, 0.2)) -> int:
    """Transitions of ``blackjax.mclmc_find_L_and_step_size`` with a diagonal preconditioner
    (blackjax 1.7): ``n1 + n2`` tuning steps, ``round(n2 / 3)`` step-size readjustment after the
    preconditioner, and ``n3`` steps for L (when at least 2)."""
    n1, n2, n3 = (round(num_warmup * f) for f in fractions)
    total = n1 + n2 + (round(n2 / 3) if n2 > 1 else 0)
    return total + (n3 if n3 >= 2 else 0)


def mams_tuning_transitions(num_warmup: int) -> int:
    """Transitions of symbnn's MAMS tuning (``adjusted_mclmc_find_L_and_step_size`` with
    ``frac_tune1 = frac_tune2 = 1/3``, no third phase): ``n1 + n2`` then ``n1`` again."""
    n = int(num_warmup * (1 / 3))
    return 3 * n


def gradient_counts(kernel: str, steps, *, num_warmup: int, thinning: int = 1,
                    ensemble_members: int = 0, ensemble_steps: int = ENSEMBLE_STEPS,
                    reported_warmup: float | None = None) -> dict:
    """Gradient evaluations of one run, from its per-draw ``num_integration_steps`` (chain, draw).

    Sampling is counted from the statistic (times ``thinning`` unless the kernel's statistic
    already covers the whole draw, :data:`STAT_PER_DRAW`). Warm-up is ``reported_warmup`` when
    the kernel reports it; else MCLMC's from blackjax's schedule (exact); else the tuning
    transitions times the mean integration steps per sampling transition (estimated: NUTS's
    early trees may differ). An ensemble start adds ``members x ensemble_steps`` Adam gradients
    (each on 90% of the training rows), counted separately and in the total.
    """
    steps = np.asarray(steps, dtype=float)
    num_chains, num_draws = steps.shape[:2]
    per_step = GRADS_PER_STEP.get(kernel, 1)
    scale = 1 if kernel in STAT_PER_DRAW else thinning
    sampling_steps = float(steps.sum()) * scale
    per_transition = sampling_steps / (num_chains * num_draws * thinning)
    notes = []
    if kernel not in GRADS_PER_STEP:
        notes.append(f"{kernel}: gradient evaluations per integration step unknown, counted 1")
    if reported_warmup is not None:
        warm = float(reported_warmup)
        how = "reported by the kernel"
    elif kernel == "mclmc":
        warm = num_chains * mclmc_tuning_transitions(num_warmup) * per_step
        how = "exact: blackjax's MCLMC tuning schedule, one integration step per transition"
    else:
        transitions = mams_tuning_transitions(num_warmup) if kernel == "mams" else num_warmup
        warm = num_chains * transitions * per_transition * per_step
        how = (f"estimated: {transitions} tuning transitions x the mean integration steps per "
               "sampling transition")
    sampling = sampling_steps * per_step
    ensemble = float(ensemble_members * ensemble_steps)
    return {"grad_evals_sampling": sampling, "grad_evals_warmup": warm,
            "grad_evals_ensemble": ensemble, "grad_evals": sampling + warm + ensemble,
            "mean_steps_per_transition": per_transition, "grad_evals_warmup_how": how,
            "grad_notes": notes}


def reported_warmup(attrs: dict) -> float | None:
    """Warm-up gradient evaluations of every chain, where the kernel reports them (SMC)."""
    per_chain = attrs.get("warmup_gradient_evaluations")
    return None if per_chain is None else float(np.sum(per_chain))


# ------------------------------------------------------------------ workloads and peers
NUM_PREDICT = 20
"""Inputs at which the predictive means are evaluated for their ESS."""


def load_workload(data: str, data_dir: str, *, num_train: int | None = None,
                  num_test: int = NUM_PREDICT, standardize: str = "train"):
    """A data set and the ``NUM_PREDICT`` inputs whose predictive means are monitored.

    ``"sinusoidal"`` with ``num_train`` is the synthetic 1-D sinusoid (``seed=0``; its training
    data do not depend on ``num_test``), monitored at evenly spaced inputs over the training
    range; any other name is a table of ``data_dir`` with its ``splits.json``, monitored at the
    first test rows.
    """
    from symbnn.datasets import load

    if data == "sinusoidal" and num_train is not None:
        out = load("sinusoidal", seed=0, num_train=num_train, num_test=num_test,
                   standardize=standardize)
        lo, hi = out.x_train.min(), out.x_train.max()
        return out, np.linspace(lo, hi, NUM_PREDICT)[:, None]
    out = load(data, data_dir=data_dir, standardize=standardize)
    return out, out.x_test[:NUM_PREDICT]


def run_numpyro_nuts(model, x, y, rng_key, *, num_chains: int, num_warmup: int,
                     num_draws: int, progress_bar: bool = False):
    """numpyro ``MCMC(NUTS(model))`` with its defaults; returns the Posterior and timings.

    ``wall_s`` / ``cpu_s`` cover the ``run`` call until the draws are ready (compilation
    included). The chain method is numpyro's default: parallel when there are as many host
    devices as chains, else sequential.
    """
    import jax
    from numpyro.infer import MCMC, NUTS

    from symbnn.posterior import Posterior

    t0, c0 = time.perf_counter(), time.process_time()
    mcmc = MCMC(NUTS(model), num_warmup=num_warmup, num_samples=num_draws,
                num_chains=num_chains, progress_bar=progress_bar)
    mcmc.run(rng_key, x, y=y, extra_fields=("num_steps", "diverging"))
    jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    post = Posterior.from_numpyro(model, mcmc, x, y)
    return post, {"wall_s": wall, "cpu_s": cpu, "chain_method": mcmc.chain_method}
