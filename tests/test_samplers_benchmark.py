"""benchmarks/samplers.py: gradient-count arithmetic, the plan of configurations, stored NUTS
cells, merging, the Markdown table from a fake result, and argument errors (no sampling)."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def sb():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("samplers_bench", BENCH / "samplers.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))


def test_mclmc_tuning_follows_blackjax_schedule(sb):
    # 0.3, 0.3 (+ a third of it to readjust the step size), 0.2 of num_warmup
    assert sb.mclmc_tuning_transitions(100) == 30 + 30 + 10 + 20
    assert sb.mclmc_tuning_transitions(1000) == 300 + 300 + 100 + 200
    assert sb.mclmc_tuning_transitions(3) == 1 + 1  # n2 = 1: no readjustment, n3 = 1 < 2
    assert sb.mams_tuning_transitions(1000) == 999
    assert sb.mams_tuning_transitions(100) == 99


def test_nuts_gradients_count_one_per_leapfrog_and_estimate_warmup(sb):
    steps = np.array([[3, 5], [7, 1]])  # (chain, draw)
    g = sb.gradient_counts("nuts", steps, num_warmup=10)
    assert g["grad_evals_sampling"] == 16
    assert g["mean_steps_per_transition"] == 4
    assert g["grad_evals_warmup"] == 2 * 10 * 4
    assert g["grad_evals"] == 16 + 80 and g["grad_evals_ensemble"] == 0
    assert g["grad_evals_warmup_how"].startswith("estimated")


def test_mclmc_statistic_covers_the_draw_and_costs_two_gradients(sb):
    steps = np.full((4, 100), 10)  # thinning 10: the statistic is already per draw
    g = sb.gradient_counts("mclmc", steps, num_warmup=100, thinning=10, ensemble_members=4)
    assert g["grad_evals_sampling"] == 4 * 100 * 10 * 2
    assert g["grad_evals_warmup"] == 4 * 90 * 2
    assert g["grad_evals_ensemble"] == 4 * sb.ENSEMBLE_STEPS
    assert g["grad_evals"] == 8000 + 720 + 4000
    assert g["grad_evals_warmup_how"].startswith("exact")


def test_mams_scales_the_last_transition_by_thinning(sb):
    steps = np.full((2, 5), 3)  # each draw: 4 transitions, the last one had 3 steps
    g = sb.gradient_counts("mams", steps, num_warmup=30, thinning=4)
    assert g["grad_evals_sampling"] == 2 * 5 * 3 * 4 * 2
    assert g["mean_steps_per_transition"] == 3
    assert g["grad_evals_warmup"] == 2 * 30 * 3 * 2


def test_unknown_kernel_counts_one_with_a_note_or_uses_a_reported_warmup(sb):
    g = sb.gradient_counts("slice", np.ones((2, 3)), num_warmup=5, reported_warmup=123)
    assert g["grad_evals_warmup"] == 123 and g["grad_evals_sampling"] == 6
    assert g["grad_evals_warmup_how"] == "reported by the kernel"
    assert any("slice" in n for n in g["grad_notes"])
    # SMC reports its tempering cost per chain; the benchmark sums it
    assert sb.reported_warmup({"warmup_gradient_evaluations": [700, 700]}) == 1400
    assert sb.reported_warmup({}) is None


def _args(sb, tmp_path, **overrides):
    """The parsed arguments plan() reads, with defaults as main() has them."""
    import argparse

    ns = {"configs": None, "thinning": [], "num_chains": None, "num_warmup": None,
          "num_draws": None, "f2_nuts": "stored", "f2_nuts_chains": None, "devices": 2,
          "layout": "auto", "seed": 0, "data_dir": str(tmp_path),
          "workloads": list(sb.WORKLOADS)}
    return argparse.Namespace(**{**ns, **overrides})


def test_plan_skips_unregistered_kernels_and_stores_f2_nuts(sb, tmp_path):
    jobs = sb.plan(_args(sb, tmp_path), "full")
    by = {(w, j["name"]): j for w, j in jobs}
    assert len(jobs) == 3 * len(sb.CONFIG_NAMES)
    sin = by[("sinusoidal_1x50", "numpyro_all_cores")]
    assert (sin["num_chains"], sin["num_warmup"], sin["num_draws"], sin["devices"]) == \
        (4, 1000, 1000, 4)
    assert by[("sinusoidal_1x50", "mclmc_prior")]["num_draws"] == 1000
    assert by[("airfoil_f2", "mams_ensemble")]["num_chains"] == 64
    assert by[("airfoil_f2", "symbnn_nuts")].get("stored")
    assert "skip" in by[("yacht_f2", "numpyro_default")]
    from symbnn.samplers import KERNELS

    for k in sb.NEW_KERNELS:
        job = by[("sinusoidal_1x50", f"{k}_prior")]
        assert ("skip" in job) == (k not in KERNELS)
    run = sb.plan(_args(sb, tmp_path, f2_nuts="run", f2_nuts_chains=3), "full")
    nuts = {j["name"]: j for w, j in run if w == "yacht_f2" and j["family"] == "nuts"}
    assert all("skip" not in j and j["num_chains"] == 3 for j in nuts.values())


def test_stored_nuts_row_reads_a_reproduce_table_cell(sb, tmp_path):
    assert sb.stored_nuts_row("airfoil_f2", tmp_path) is None
    cell = {"num_chains": 4, "num_warmup": 10, "num_draws": 1, "mean_leapfrog": 1023.0,
            "wall_s": 50.0, "lppd": 0.5, "lppd_se": 0.1,
            "lppd_by_num_draws": {"num_draws": [1, 2, 4], "lppd": [0.1, 0.3, 0.5],
                                  "lppd_se": [0.2, 0.1, 0.1]}}
    (tmp_path / "airfoil_f2_many.json").write_text(json.dumps(cell))
    sb_root = sb.REPO_ROOT
    try:
        sb.REPO_ROOT = tmp_path.parent
        row = sb.stored_nuts_row("airfoil_f2", tmp_path)
    finally:
        sb.REPO_ROOT = sb_root
    assert row["source"].startswith("stored")
    assert row["grad_evals"] == 4 * 11 * 1023
    assert row["lppd_by_num_chains"]["num_chains"] == [1, 2, 4]
    assert "min_ess_pred" not in row


def fake_report(sb):
    def row(name, family, ess_s, rhat, **kw):
        return {"name": name, "family": family, "num_chains": 4, "num_warmup": 100,
                "num_draws": 100, "wall_s": 10.0, "grad_evals": 2e5, "min_ess_pred": 10 * ess_s,
                "ess_pred_per_s": ess_s, "ess_pred_per_grad": ess_s / 2e4,
                "canonical_rhat": rhat, "lppd": -0.5, "lppd_se": 0.05,
                "lppd_by_num_chains": {"num_chains": [1, 2, 4], "lppd": [-0.6, -0.55, -0.5],
                                       "lppd_se": [0.1, 0.1, 0.1]}, **kw}

    rows = [row("numpyro_all_cores", "nuts", 20.0, 1.02),
            row("mclmc_ensemble", "new", 120.0, 1.005, ensemble_s=3.25),
            row("mams_prior", "new", 50.0, 1.2),
            {"name": "smc_prior", "family": "new", "num_chains": 4, "num_warmup": 100,
             "num_draws": 100, "skipped": "kernel 'smc' is not in symbnn.samplers.KERNELS"}]
    comp = sb.compare(rows)
    return {"workloads": {"sinusoidal_1x50": {
        "results": rows, **comp, "target": sb.judge_target("sinusoidal_1x50", rows, comp)}}}


def test_compare_and_target_pick_the_best_new_kernel(sb):
    part = fake_report(sb)["workloads"]["sinusoidal_1x50"]
    assert part["best_new"] == "mclmc_ensemble"
    assert math.isclose(part["ratios"]["numpyro_all_cores"]["ess_pred_per_s"], 6.0)
    assert part["target"]["met"] and part["target"]["canonical_rhat"] == 1.005
    assert sb.judge_target("yacht_f2", [], {"ratios": {}}) is None


def test_markdown_table_from_a_fake_result(sb):
    text = sb.markdown(fake_report(sb))
    lines = text.splitlines()
    assert lines[0] == "**sinusoidal_1x50**"
    rows = [line for line in lines if line.startswith("| ")]
    assert len(rows) == 1 + 4  # header and one row per configuration
    ens = next(r for r in rows if r.startswith("| mclmc_ensemble |"))
    assert "| 10.0 (3.2) |" in ens and "| 120.00 |" in ens and "| 1.005 |" in ens
    assert "-0.60 / -0.55 / -0.50 (S = 1..4)" in ens and "-0.50 (0.05)" in ens
    assert "skipped: kernel 'smc'" in next(r for r in rows if r.startswith("| smc_prior |"))
    assert "6.00x" in text and ": met." in text


def test_merge_keeps_configurations_not_rerun(sb):
    old = fake_report(sb)
    new_row = {**old["workloads"]["sinusoidal_1x50"]["results"][2], "ess_pred_per_s": 500.0,
               "canonical_rhat": 1.001}
    new = {"machine": {}, "workloads": {"sinusoidal_1x50": {"results": [new_row]}}}
    merged = sb.merge(old, new)["workloads"]["sinusoidal_1x50"]
    assert [r["name"] for r in merged["results"]] == [
        "numpyro_all_cores", "mclmc_ensemble", "mams_prior", "smc_prior"]
    assert merged["best_new"] == "mams_prior" and merged["target"]["met"]


@pytest.mark.parametrize("argv,name", [
    (["--chains", "0"], "--chains"), (["--warmup", "-1"], "--warmup"),
    (["--draws", "x"], "--draws"), (["--devices", "0"], "--devices"),
    (["--f2-nuts-chains", "0"], "--f2-nuts-chains"), (["--configs", "nope"], "--configs"),
    (["--thinning", "nuts=2"], "--thinning"), (["--thinning", "mclmc=0"], "--thinning"),
    (["--workloads", "energy_f2"], "--workloads"), (["--f2-nuts", "maybe"], "--f2-nuts"),
])
def test_bad_arguments_exit_2_naming_the_argument(sb, argv, name, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        sb.main([*argv, "--out", str(tmp_path / "r.json")])
    assert exc.value.code == 2
    assert name in capsys.readouterr().err


def test_table_only_needs_an_existing_result(sb, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        sb.main(["--table-only", "--out", str(tmp_path / "none.json")])
    assert exc.value.code == 2 and "--table-only" in capsys.readouterr().err
    path = tmp_path / "r.json"
    path.write_text(json.dumps(fake_report(sb)))
    sb.main(["--table-only", "--out", str(path)])
    assert "| mclmc_ensemble |" in path.with_suffix(".md").read_text()
