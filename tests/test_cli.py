"""The ``symbnn`` command: fit -> diagnose -> compare on a tiny run; bad input ends with exit 2.

Every command runs in-process through ``symbnn.cli.main`` (one subprocess checks
``python -m symbnn``). The two tiny runs (1-3-1 tanh, 2 chains, 50 + 50 steps, 40 training rows)
are shared by the module, so NUTS compiles once per run.
"""

import dataclasses
import json
import math
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

import symbnn
from symbnn.cli import main
from symbnn.models import NormalPrior

TINY = ["--data", "sinusoidal", "--num-train", "40", "--num-test", "10", "--widths", "3",
        "--activation", "tanh", "--chains", "2", "--warmup", "50", "--draws", "50", "--quiet"]
VIEWS = ("raw", "canonical", "aligned", "predictive")
PLOTS = ("rank.png", "occupancy.png", "predictive.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _strict_json(path):
    def refuse(name):
        raise AssertionError(f"{path} holds {name}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def _finite(value):
    return isinstance(value, int | float) and math.isfinite(value)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    assert main(["fit", *TINY, "--seed", "0", "--no-diagnose", "--out", str(root / "a")]) == 0
    assert main(["fit", *TINY, "--seed", "1", "--out", str(root / "b")]) == 0  # diagnoses too
    return root / "a", root / "b"


def test_fit_writes_the_run_folder(runs):
    run_a, run_b = runs
    assert not (run_a / "summary.json").exists()  # --no-diagnose
    for name in ("posterior.nc", "run.json", "data.npz", "summary.json", *PLOTS):
        assert (run_b / name).is_file(), name
    meta = _strict_json(run_b / "run.json")
    assert meta["arguments"]["seed"] == 1 and meta["arguments"]["chains"] == 2
    assert meta["data"]["name"] == "sinusoidal" and meta["data"]["num_train"] == 40
    scaler = meta["data"]["standardizer"]
    assert len(scaler["x_mean"]) == 1 and scaler["y_std"] > 0
    assert all(_finite(v) and v >= 0 for v in meta["timings"].values())
    post = symbnn.load(run_b / "posterior.nc")
    assert (post.num_chains, post.num_draws) == (2, 50)
    assert post.mlp.widths == (3,) and post.x.shape == (40, 1)
    with np.load(run_b / "data.npz") as data:
        assert data["x_test"].shape == (10, 1) and data["y_test"].shape == (10,)


def test_diagnose_writes_summary_and_plots(runs, capsys):
    run_a, _ = runs
    assert main(["diagnose", str(run_a), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "verdict:" in out and all(view in out for view in VIEWS)
    summary = _strict_json(run_a / "summary.json")
    assert {"verdict", "table", "num_divergences", "occupancy", "test", "plots"} <= set(summary)
    for view in VIEWS:
        row = summary["table"][view]
        assert _finite(row["max_rhat"]) and row["max_rhat"] > 0.5, (view, row)
        assert _finite(row["min_ess_bulk"]) and row["min_ess_bulk"] > 0, (view, row)
    assert summary["table"]["predictive"]["num_values"] == 10  # the 10 test inputs
    assert summary["occupancy"]["tested"] and 0 <= summary["occupancy"]["pooled_p_value"] <= 1
    # the verdict is the Bonferroni p of the pooled and chain tests; the line quotes its parts
    occ = summary["occupancy"]
    tests = [occ["pooled_p_value"], *occ["chain_p_values"]]
    assert occ["p_value"] == pytest.approx(min(1.0, min(tests) * len(tests)))
    assert occ["rejects"] == (occ["p_value"] < 0.01)
    assert f"orbit occupancy: p = {occ['p_value']:.3g}" in out, out
    assert f"smallest chain p = {min(occ['chain_p_values']):.3g}" in out, out
    assert _finite(summary["test"]["rmse"]) and _finite(summary["test"]["lppd"])
    assert sorted(summary["plots"]) == sorted(PLOTS)
    for name in PLOTS:
        assert (run_a / name).read_bytes()[:8] == PNG_MAGIC


def test_compare_prints_and_writes_json(runs, capsys, tmp_path):
    run_a, run_b = runs
    assert main(["compare", str(run_a), str(run_b), "--out", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "energy distance" in out and "MMD" in out
    result = _strict_json(tmp_path / "c.json")
    for key in ("energy_p_value", "mmd_p_value"):
        assert 0 <= result[key] <= 1
    assert _finite(result["energy_distance"]) and _finite(result["max_abs_mean_z"])
    assert set(result["function"]) == {"rms_mean_difference", "wasserstein"}
    assert all(_finite(v) for v in result["function"].values())
    assert len(result["loo"]) == 2


def _copy_run(src, dst, **changes):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.png", "summary.json"))
    post = symbnn.load(src / "posterior.nc")
    dataclasses.replace(post, **changes).save(dst / "posterior.nc")
    return dst


@pytest.mark.parametrize("change, message", [
    ("prior", "same model"),
    ("data", "different training data"),
])
def test_compare_refuses_runs_that_do_not_match(runs, tmp_path, capsys, change, message):
    run_a, _ = runs
    post = symbnn.load(run_a / "posterior.nc")
    if change == "prior":
        other = _copy_run(run_a, tmp_path / "c",
                          model=dataclasses.replace(post.model, prior=NormalPrior(2.0)))
    else:
        other = _copy_run(run_a, tmp_path / "c", x=post.x + 1.0)
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(run_a), str(other), "--quiet"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and err.count("\n") == 1


def _bad_table(tmp_path):
    path = tmp_path / "bad.data"
    path.write_text("0.1 1.0\n0.2 nan\n0.3 2.0\n")
    return str(path)


# (extra arguments, text the one-line message must contain)
BAD_FIT = [
    (lambda p: ["--activation", "softsign"], "argument --activation"),
    (lambda p: ["--widths", "0"], "argument --widths"),
    (lambda p: ["--widths", "3,x"], "argument --widths"),
    (lambda p: ["--chains", "0"], "argument --chains"),
    (lambda p: ["--prior-scale", "nan"], "argument --prior-scale"),
    (lambda p: ["--data", str(p / "missing.data")], "argument --data"),
    (lambda p: ["--data", "no_such_set"], "argument --data"),
    (lambda p: ["--output", "classification"], "argument --output"),
    (lambda p: ["--resume"], "argument --resume"),
    # a flag the chosen kernel does not take is refused, not dropped
    (lambda p: ["--kernel", "mclmc", "--target-accept", "0.9"], "argument --target-accept"),
    (lambda p: ["--kernel", "hmc", "--max-tree-depth", "5"], "argument --max-tree-depth"),
    (lambda p: ["--kernel", "smc", "--init", "map"], "argument --init"),
    (lambda p: ["--coordinator", "127.0.0.1:1"], "argument --coordinator"),
]


@pytest.mark.parametrize("extra, message", BAD_FIT)
def test_bad_fit_arguments_exit_2_with_one_line(tmp_path, capsys, extra, message):
    argv = ["fit", "--data", "sinusoidal", "--out", str(tmp_path / "run"), *extra(tmp_path)]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()


def test_failed_warmup_exits_1_with_one_line(tmp_path, capsys):
    # SMC that cannot finish tempering in one step: the run stops, no posterior is written
    argv = ["fit", "--data", "sinusoidal", "--out", str(tmp_path / "run"), "--kernel", "smc",
            "--chains", "8", "--warmup", "1", "--draws", "1", "--quiet"]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 1
    assert "warm-up failed" in err and "raise num_warmup" in err and err.count("\n") == 1, err
    assert not (tmp_path / "run" / "posterior.nc").exists()


def test_nan_in_data_file_names_data_argument(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--data", _bad_table(tmp_path), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "argument --data" in err and "line 2" in err
    assert "not a finite number" in err and err.count("\n") == 1


def test_existing_run_is_not_overwritten(runs, capsys):
    run_a, _ = runs
    before = (run_a / "posterior.nc").stat().st_mtime_ns
    with pytest.raises(SystemExit) as exc:
        main(["fit", *TINY, "--out", str(run_a)])
    assert exc.value.code == 2 and "--overwrite" in capsys.readouterr().err
    assert (run_a / "posterior.nc").stat().st_mtime_ns == before


@pytest.mark.parametrize("argv, message", [
    (["diagnose", "{tmp}"], "not a symbnn run folder"),
    (["diagnose", "{tmp}/nowhere"], "does not exist"),
    (["compare", "{tmp}", "{tmp}"], "not a symbnn run folder"),
    (["datasets", "--data-dir", "{tmp}/nowhere"], "argument --data-dir"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_run_folders_exit_2(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and err.count("\n") == 1, err


def test_used_checkpoint_needs_resume(tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "meta.json").write_text("{}")
    with pytest.raises(SystemExit) as exc:
        main(["fit", *TINY, "--out", str(tmp_path / "run"), "--checkpoint", str(ckpt)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "argument --checkpoint" in err and "--resume" in err, err
    assert err.count("\n") == 1 and not (tmp_path / "run").exists()


def test_traceback_flag_reraises(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["--traceback", "diagnose", str(tmp_path)])


def test_interrupt_exits_130_and_points_to_resume(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(symbnn, "sample", interrupted)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(SystemExit) as exc:
        main(["fit", *TINY, "--out", str(tmp_path / "run"), "--checkpoint", str(ckpt)])
    err = capsys.readouterr().err
    assert exc.value.code == 130 and "--resume" in err and str(ckpt) in err


def test_python_m_symbnn_datasets(tmp_path):
    np.savetxt(tmp_path / "mine.csv", np.arange(12.0).reshape(6, 2), delimiter=",")
    proc = subprocess.run([sys.executable, "-m", "symbnn", "datasets", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[0] for line in proc.stdout.splitlines()[1:]]
    assert names == [*symbnn.datasets.BUILTIN, "mine"]


def test_fit_with_one_chain_diagnoses_and_exits_0(tmp_path, capsys):
    out = tmp_path / "one"
    args = list(TINY)
    args[args.index("--chains") + 1] = "1"
    assert main(["fit", *args, "--no-plots", "--out", str(out)]) == 0
    summary = _strict_json(out / "summary.json")
    assert summary["num_chains"] == 1
    assert summary["verdict"].endswith("(within one chain)")
    assert _finite(summary["table"]["canonical"]["max_rhat"])
    assert "one chain" in capsys.readouterr().out


def test_many_chains_of_one_draw_get_the_many_chain_report(tmp_path, capsys):
    out = tmp_path / "many"
    args = list(TINY)
    args[args.index("--chains") + 1] = "64"  # the shape: 64 chains x 1 draw
    args[args.index("--draws") + 1] = "1"
    args[args.index("--warmup") + 1] = "30"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main(["fit", *args, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    summary = _strict_json(out / "summary.json")  # refuses NaN
    report = summary["many_chain"]
    assert summary["num_draws"] == 1 and "table" not in summary
    assert report["num_modes"] >= 1 and report["chains_needed"] >= 1
    assert report["lppd_curve"]["num_draws"] == [1, 2, 4, 8, 16, 32, 64]
    assert isinstance(report["lppd_levelled_off"], bool)
    assert 0.0 <= report["occupancy_p_value"] <= 1.0
    assert len(report["warmup_divergences"]) == 64
    assert "test LPPD of the first S chains" in text
    assert (out / "lppd_by_chains.png").read_bytes().startswith(PNG_MAGIC)
