"""benchmarks/reproduce_table.py: verdicts, stored cells, the Markdown table, argument errors, and
one tiny end-to-end run on a synthetic stand-in for the benchmark folder (the tests do not read
../shared/data)."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def rt():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("reproduce_table",
                                                      BENCH / "reproduce_table.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))


def settings(rt, mode="many", chains=4):
    return rt.cell_settings("sinusoidal", "f1", mode,
                            {"num_chains": chains, "num_draws": 7, "num_warmup": 5}, seed=0)


def test_cell_settings_follow_the_mode(rt):
    many, one = settings(rt, "many"), settings(rt, "one")
    assert (many["num_chains"], many["num_draws"]) == (4, 1)
    assert (one["num_chains"], one["num_draws"]) == (1, 7)


def test_judge_uses_twice_the_published_many_chain_se(rt):
    # sinusoidal f1: published many-chain -0.53 (0.09), one-chain -0.56 (0.11)
    inside = rt.judge({**settings(rt, "one"), "lppd": -0.53 - 0.17})
    outside = rt.judge({**settings(rt, "many"), "lppd": -0.53 + 0.19})
    assert inside["within_2se_of_published_many"]
    assert inside["published"] == -0.56 and inside["published_se"] == 0.11
    assert not outside["within_2se_of_published_many"]
    assert math.isclose(outside["z_vs_published_many"], 0.19 / 0.09)
    assert "within_2se_of_published_many" not in rt.judge({**settings(rt), "lppd": None})


def test_stored_cells_are_reused_only_with_the_same_settings(rt, tmp_path):
    cell = settings(rt)
    assert rt.load_cell(cell, tmp_path) is None
    rt.write_json(rt.cell_path(cell, tmp_path), {**cell, "lppd": -0.5, "lppd_se": 0.1})
    assert rt.load_cell(cell, tmp_path)["lppd"] == -0.5
    assert rt.load_cell(settings(rt, chains=5), tmp_path) is None
    rt.write_json(rt.cell_path(cell, tmp_path), {**cell, "error": "worker exited with 1"})
    assert rt.load_cell(cell, tmp_path) is None


def test_markdown_names_missing_and_failed_cells(rt):
    many = {**settings(rt), "lppd": -0.6, "lppd_se": 0.1, "wall_s": 90.0}
    many.update(rt.judge(many))
    failed = {**settings(rt, "one"), "error": "timed out"}
    lines = rt.markdown([many, failed]).splitlines()
    assert len(lines) == 3  # header, rule, the one (data set, net) that has cells
    row = lines[2]
    assert "-0.60 (0.10) (4)" in row and "1.5 min" in row and "failed" in row
    assert row.endswith("| yes |")
    assert "not run" in rt.markdown([failed])


@pytest.mark.parametrize("item", ["f3=4", "f1=0", "f1=x", "f1"])
def test_bad_chain_counts_are_refused(rt, item):
    with pytest.raises(SystemExit, match="--chains"):
        rt.parse_chains([item])


def test_missing_tables_are_refused_not_replaced_by_generators(rt, tmp_path):
    with pytest.raises(SystemExit, match="sinusoidal.data, splits.json"):
        rt.main(["--datasets", "sinusoidal", "--data-dir", str(tmp_path),
                 "--cell-dir", str(tmp_path / "cells"), "--out", str(tmp_path / "t.json")])


@pytest.mark.slow  # two worker processes, each compiling NUTS (about 30 s)
def test_tiny_run_writes_cells_and_resumes_by_skipping(rt, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 8, 30)
    np.savetxt(data / "sinusoidal.data", np.c_[x, np.sin(x) + 0.3 * rng.normal(size=30)])
    (data / "splits.json").write_text(json.dumps(
        {"sinusoidal": {"train": list(range(20)), "test": list(range(20, 30))}}))
    argv = ["--datasets", "sinusoidal", "--nets", "f1", "--chains", "f1=2", "--draws", "3",
            "--warmup", "5", "--devices", "1", "--data-dir", str(data),
            "--cell-dir", str(tmp_path / "cells"), "--out", str(tmp_path / "t.json")]
    report = rt.main(argv)
    rows = {r["mode"]: r for r in report["rows"]}
    assert set(rows) == {"many", "one"}, rows
    for mode, draws in (("many", 2), ("one", 3)):
        row = rows[mode]
        assert "error" not in row, row.get("output_tail")
        assert row["num_test"] == 10 and row["num_train"] == 20
        assert row["num_draws_total"] == draws
        assert row["lppd_by_num_draws"]["num_draws"][-1] == draws
        assert row["lppd_by_num_draws"]["lppd"][-1] == row["lppd"]
        assert math.isfinite(row["lppd"]) and row["lppd_se"] > 0
    stored = json.loads((tmp_path / "t.json").read_text())
    assert len(stored["rows"]) == 2
    assert (tmp_path / "t.md").read_text().count("| sinusoidal | f1 |") == 1
    capsys.readouterr()
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cells").glob("*.json")}
    rt.main(argv)
    assert capsys.readouterr().err.count("stored, skipped") == 2
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cells").glob("*.json")}
    assert before == after


@pytest.mark.parametrize("argv", [["--draws", "0"], ["--warmup", "-1"], ["--devices", "0"]])
def test_bad_sizes_exit_2_naming_the_argument(rt, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        rt.main(argv)
    assert exc.value.code == 2
    assert argv[0] in capsys.readouterr().err
