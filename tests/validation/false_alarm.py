"""False-alarm rates of the slow statistical tests, measured over many seeds.

Each statistical test file exposes ``statistic(seed)`` (the seeded core its tests call with their
fixed seed) and ``CHECKS``: ``{name: (kind, passes)}`` with ``passes(statistic) -> bool``. A "null"
check should pass (the distributions agree); its failures over seeds 0..N-1 are false alarms. A
"power" check should reject (a wrong distribution); its failures are misses. For each check this
script counts the failures, the rate and an exact (Clopper-Pearson) 95 % interval, and writes them
with every seed's statistic to ``tests/validation/results/false_alarm.json`` (merged with the
entries already there; rewritten after every seed, so an interrupted run keeps what it measured).

    python tests/validation/false_alarm.py [--tests symmetrization spaces_agree ...] [--seeds 50]
                                           [--start 0] [--tag before]

One process, one seed after another (the programs are compiled once per test file).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import sys
import time

import numpy as np
import scipy.stats

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = HERE / "results" / "false_alarm.json"
TESTS = {
    "symmetrization": "validation/test_symmetrization.py",
    "spaces_agree": "samplers/test_spaces_agree.py",
    "gig": "samplers/test_gig.py",
    "sbc_1x2": "validation/test_sbc.py",
    "sbc_1x3": "validation/test_sbc.py",
}


def load(name: str):
    path = ROOT / "tests" / TESTS[name]
    spec = importlib.util.spec_from_file_location(f"_false_alarm_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def interval(k: int, n: int) -> tuple[float, float]:
    """Exact two-sided 95 % binomial interval (Clopper-Pearson)."""
    lo = 0.0 if k == 0 else float(scipy.stats.beta.ppf(0.025, k, n - k + 1))
    hi = 1.0 if k == n else float(scipy.stats.beta.ppf(0.975, k + 1, n - k))
    return lo, hi


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def summarise(checks: dict, rows: list[dict]) -> dict:
    """Per check, and for the file ("any null": some null check fails, the suite goes red)."""
    out = {}
    null = [c for c, (kind, _) in checks.items() if kind == "null"]
    for name, kind in [*((c, k) for c, (k, _) in checks.items()), ("any null", "null")]:
        failed = [r["seed"] for r in rows
                  if not (all(r["passed"][c] for c in null) if name == "any null"
                          else r["passed"][name])]
        n, k = len(rows), len(failed)
        lo, hi = interval(k, n) if n else (float("nan"), float("nan"))
        out[name] = {"kind": kind, "seeds": n, "failures": k, "rate": k / n if n else None,
                     "interval95": [lo, hi], "failed_seeds": failed}
    return out


def measure(name: str, seeds: range, tag: str | None, results: dict) -> None:
    module = load(name)
    statistic = module.statistic
    checks = module.CHECKS
    if name.startswith("sbc_"):  # one network per entry: its own checks, seed-only statistic
        arch = name.split("_", 1)[1]
        checks = {k: v for k, v in checks.items() if k.startswith(arch)}
        statistic = lambda seed: module.statistic(seed, archs=(arch,))  # noqa: E731
    key = f"{name}@{tag}" if tag else name
    entry = results.get(key, {"rows": []})
    done = {r["seed"] for r in entry["rows"]}
    for seed in seeds:
        if seed in done:
            continue
        t0 = time.perf_counter()
        s = statistic(seed)
        row = {"seed": seed, "seconds": round(time.perf_counter() - t0, 2),
               "passed": {c: bool(f(s)) for c, (_, f) in checks.items()},
               "statistic": _jsonable(s)}
        entry["rows"].append(row)
        entry["rows"].sort(key=lambda r: r["seed"])
        entry["summary"] = summarise(checks, entry["rows"])
        entry["file"] = f"tests/{TESTS[name]}"
        results[key] = entry
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(json.dumps(results, indent=1) + "\n")
        bad = [c for c, ok in row["passed"].items() if not ok]
        print(f"{key} seed {seed}: {row['seconds']:.1f} s, failed: {bad or 'none'}", flush=True)
    if entry["rows"]:  # (re)summarised with the checks as they are now
        entry["summary"] = summarise(checks, entry["rows"])
        results[key] = entry
        OUT.write_text(json.dumps(results, indent=1) + "\n")
    for c, v in entry.get("summary", {}).items():
        print(f"{key:28s} {c:26s} {v['kind']:5s} {v['failures']:3d}/{v['seeds']:<3d} "
              f"rate {v['rate']:.3f}  95% [{v['interval95'][0]:.3f}, {v['interval95'][1]:.3f}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", nargs="+", default=["symmetrization", "spaces_agree", "gig"],
                        choices=list(TESTS))
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--tag", default=None, help="stored as name@tag (e.g. before a fix)")
    args = parser.parse_args()
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    for name in args.tests:
        measure(name, range(args.start, args.start + args.seeds), args.tag, results)


if __name__ == "__main__":
    main()
