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


@pytest.mark.slow  # three worker processes: NUTS twice, MCLMC once (about 1 min)
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
    # another engine: its own cell beside the stored NUTS cells, which are not rerun
    kernel_argv = [*argv, "--kernel", "mclmc", "--kernel-chains", "2", "--kernel-warmup", "10",
                   "--kernel-draws", "2"]
    report = rt.main(kernel_argv)
    (row,) = report["kernel_rows"]
    assert "error" not in row, row.get("output_tail")
    assert (row["kernel"], row["num_chains"], row["num_draws_total"]) == ("mclmc", 2, 2)
    assert row["grad_evals"] > 0 and math.isfinite(row["lppd"])
    entry = report["engines"][0]
    assert entry["best_engine"] == "mclmc" and entry["grad_ratio_best_to_nuts"] > 0
    assert "| sinusoidal | f1 |" in report["engines_markdown"]
    capsys.readouterr()
    rt.main(kernel_argv)
    assert capsys.readouterr().err.count("stored, skipped") == 1
    after_kernel = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cells").glob("*.json")}
    assert {k: after_kernel[k] for k in before} == before
    assert set(after_kernel) - set(before) == {"sinusoidal_f1_many_mclmc.json"}


@pytest.mark.parametrize("argv", [["--draws", "0"], ["--warmup", "-1"], ["--devices", "0"]])
def test_bad_sizes_exit_2_naming_the_argument(rt, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        rt.main(argv)
    assert exc.value.code == 2
    assert argv[0] in capsys.readouterr().err


# ------------------------------------------------------------------ other engines (--kernel)
def kernel_settings(rt, kernel="mclmc", init="prior", chains=8):
    return rt.kernel_cell_settings("sinusoidal", "f1", kernel,
                                   {"num_chains": chains, "num_warmup": 20, "num_draws": None},
                                   seed=0, init=init)


def kernel_row(rt, kernel, lppd, **extra):
    row = {**kernel_settings(rt, kernel), "lppd": lppd, "lppd_se": 0.1, "wall_s": 30.0,
           "grad_evals": 1e5, **extra}
    return {**row, **rt.judge(row)}


def test_kernel_cells_have_their_own_files_and_nuts_cells_keep_theirs(rt, tmp_path):
    assert rt.cell_path(settings(rt), tmp_path).name == "sinusoidal_f1_many.json"
    assert rt.cell_path(settings(rt, "one"), tmp_path).name == "sinusoidal_f1_one.json"
    mclmc = kernel_settings(rt)
    assert rt.cell_path(mclmc, tmp_path).name == "sinusoidal_f1_many_mclmc.json"
    # another start is another cell, stored beside the prior-start one
    ensemble = {**mclmc, "init": "ensemble"}
    assert rt.cell_path(ensemble, tmp_path).name == "sinusoidal_f1_many_mclmc_ensemble.json"
    assert (mclmc["mode"], mclmc["num_draws"], mclmc["thinning"]) == ("many", 5, 10)
    smc = kernel_settings(rt, "smc", init="ensemble")
    assert (smc["init"], smc["num_draws"], smc["thinning"]) == ("prior", 1, None)
    assert "kernel" not in settings(rt)  # stored NUTS cells stay valid


def test_kernel_cells_are_reused_only_with_the_same_settings(rt, tmp_path):
    cell = kernel_settings(rt)
    rt.write_json(rt.cell_path(cell, tmp_path), {**cell, "lppd": -0.5, "lppd_se": 0.1})
    assert rt.load_cell(cell, tmp_path)["lppd"] == -0.5
    for other in (kernel_settings(rt, init="ensemble"), kernel_settings(rt, chains=9),
                  {**cell, "thinning": 20}):
        assert rt.load_cell(other, tmp_path) is None
    assert rt.load_cell(settings(rt), tmp_path) is None  # the NUTS cell is another file


def test_best_engine_is_the_highest_lppd_of_the_other_kernels(rt):
    rows = [kernel_row(rt, "mclmc", -0.7), kernel_row(rt, "smc", -0.55),
            {**kernel_settings(rt, "mams"), "error": "timed out"},
            {**kernel_row(rt, "mams", 5.0), "error": "x"}, {**settings(rt), "lppd": 9.0}]
    assert rt.best_engine(rows)["kernel"] == "smc"
    assert rt.best_engine(rows[2:4]) is None


def test_nuts_gradient_evaluations_stored_or_estimated(rt):
    cell = {**settings(rt), "mean_leapfrog": 10.0, "lppd": -0.6}
    grads, how = rt.nuts_gradient_evaluations(cell)
    assert grads == 10.0 * (5 + 1) * 4 and how.startswith("estimated")
    grads, how = rt.nuts_gradient_evaluations({**cell, "grad_evals": 123.0})
    assert grads == 123.0 and how.startswith("stored")


def test_engine_table_puts_the_best_engine_beside_nuts(rt):
    nuts = {**settings(rt), "lppd": -0.6, "lppd_se": 0.1, "wall_s": 600.0,
            "mean_leapfrog": 100.0}
    nuts.update(rt.judge(nuts))
    kernel_rows = [kernel_row(rt, "mclmc", -0.58), kernel_row(rt, "smc", -0.9)]
    entries = rt.engines([nuts], kernel_rows)
    assert len(entries) == len(rt.PUBLISHED)  # every published cell
    e = entries[0]
    assert (e["dataset"], e["net"], e["best_engine"]) == ("sinusoidal", "f1", "mclmc")
    assert set(e["engines"]) == {"mclmc", "smc"}
    assert e["nuts"]["grad_evals"] == 100.0 * 6 * 4
    assert math.isclose(e["grad_ratio_best_to_nuts"], 1e5 / 2400)
    assert math.isclose(e["wall_ratio_best_to_nuts"], 30 / 600)
    assert e["best"]["within_2se_of_published_many"]  # -0.58 vs -0.53 (0.09)
    lines = rt.engines_markdown(entries).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["data set", "net", "published many", "NUTS many (chains)", "wall",
                      "gradient evals", "best engine", "its LPPD (chains)", "wall",
                      "gradient evals", "evals / NUTS", "within 2 se"]
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert cells == ["sinusoidal", "f1", "-0.53 (0.09)", "-0.60 (0.10) (4)", "10.0 min", "2400",
                     "mclmc", "-0.58 (0.10) (8)", "0.5 min", "100 k", "41.7", "yes"]
    assert "| izmailov | f1 | 0.79 (0.06) | not run |" in lines[3]
    failed = rt.engines_markdown(rt.engines([], [{**kernel_settings(rt, "smc"),
                                                   "error": "timed out"}]))
    assert "| sinusoidal | f1 | -0.53 (0.09) | not run | - | - | smc failed |" in failed


def test_assemble_adds_the_engine_table_only_with_kernel_cells(rt, tmp_path):
    nuts = {**settings(rt), "lppd": -0.6, "lppd_se": 0.1, "wall_s": 600.0, "mean_leapfrog": 1.0}
    rt.write_json(rt.cell_path(nuts, tmp_path), {**nuts, **rt.judge(nuts)})
    plain = rt.assemble(tmp_path)
    assert "engines" not in plain and plain["kernel_rows"] == []
    assert plain["markdown"] == rt.markdown(plain["rows"])
    row = kernel_row(rt, "smc", -0.5)
    rt.write_json(rt.cell_path(row, tmp_path), row)
    both = rt.assemble(tmp_path)
    assert [r["kernel"] for r in both["kernel_rows"]] == ["smc"]
    assert both["engines"][0]["best_engine"] == "smc"
    assert both["markdown"].endswith(both["engines_markdown"])


@pytest.mark.parametrize("argv", [["--kernel", "slice"], ["--kernel", "nuts", "NUTS"],
                                  ["--kernel-chains", "0"], ["--kernel-warmup", "-1"],
                                  ["--kernel-draws", "0"], ["--init", "map"]])
def test_bad_kernel_arguments_exit_2_naming_the_argument(rt, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        rt.main(argv)
    assert exc.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_warmup_divergences_of_a_population_count_once(rt):
    attrs = {"warmup_divergences": [7, 7, 7]}
    assert rt._warmup_divergences(attrs, population=True) == 7
    assert rt._warmup_divergences(attrs, population=False) == 21
    assert rt._warmup_divergences({}, population=True) == 0
