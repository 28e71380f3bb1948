"""Run every example script with tiny arguments and check what it prints and writes.

The runs are far too short to mix; the assertions are about the scripts (they finish, print their
sections with finite numbers, write real PNG files), plus a few facts that hold by construction
whatever the run length. JAX compilation dominates the time: each test compiles one or two
samplers, so the budget is kept by running as few samplers as the example allows.
"""

import importlib.util
import math
import re
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NAMES = ["mixing_diagnostics", "fit_symmetry_reduced", "arviz_comparison", "classification",
         "relu_scaling", "sklearn_estimators"]
TINY = ["--chains", "2", "--warmup", "30", "--draws", "30", "--quiet"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf)"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(name: str, args: list[str], capsys) -> str:
    code = load(name).main(args)
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def assert_pngs(folder: Path, names: list[str]) -> None:
    for name in names:
        path = folder / name
        assert path.is_file(), f"{path} was not written"
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000, path


def assert_sections(out: str, headers: list[str]) -> None:
    for header in headers:
        assert f"== {header}" in out, f"missing section {header!r} in\n{out}"


def numbers_after(label: str, out: str) -> list[float]:
    """The numbers on the first line that starts with ``label``."""
    line = next((ln for ln in out.splitlines() if ln.startswith(label)), None)
    assert line is not None, f"no line starting with {label!r} in\n{out}"
    return [float(v) for v in re.findall(NUMBER, line[len(label):])]


def assert_finite(values: list[float], count: int) -> None:
    assert len(values) >= count, values
    assert all(math.isfinite(v) for v in values), values


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [["--draws", "0"], ["--warmup", "-1"]])
def test_examples_reject_bad_counts(name, bad):
    # A usage error: argparse exits with code 2 before anything is sampled.
    with pytest.raises(SystemExit) as exc:
        load(name).main(bad)
    assert exc.value.code == 2


@pytest.mark.slow  # compile-bound (20-35 s); the default suite keeps classification
def test_mixing_diagnostics(tmp_path, capsys):
    out = run("mixing_diagnostics",
              [*TINY, "--samplers", "numpyro", "quotient", "--out", str(tmp_path)], capsys)
    assert_sections(out, ["summary: numpyro NUTS", "summary: symbnn NUTS, quotient",
                          "summary table", "orbit occupancy", "comparison of canonical"])
    for sampler in ("numpyro", "quotient"):
        # raw / canonical / predictive R-hat, two ESS, divergences, wall time
        assert_finite(numbers_after(f"{sampler} ", out.split("== summary table")[1]), 7)
    # Quotient draws are canonical: raw and canonical R-hat are the same number.
    raw, canon = numbers_after("quotient ", out.split("== summary table")[1])[:2]
    assert raw == canon
    # Symmetrised quotient draws carry independent uniform group elements, so the occupancy
    # test rejects at the 1% level with probability about 3% (pooled + 2 chains); seed fixed.
    assert "quotient (symmetrised)" in out
    occ = next(ln for ln in out.splitlines() if ln.startswith("quotient (symmetrised)"))
    assert "does not reject" in occ
    assert_finite(numbers_after("numpyro vs quotient: energy distance", out), 5)
    assert_pngs(tmp_path, [f"{kind}_{s}.png" for kind in ("rank", "occupancy", "predictive")
                           for s in ("numpyro", "quotient")])


@pytest.mark.slow
def test_mixing_diagnostics_all_samplers(tmp_path, capsys):
    out = run("mixing_diagnostics", [*TINY, "--out", str(tmp_path)], capsys)
    assert_sections(out, ["summary: symbnn NUTS, full space + orbit moves"])
    # Orbit moves draw a uniform group element after every transition: uniform occupancy.
    occupancy = out.split("== orbit occupancy")[1].split("==")[0]
    occ = next(ln for ln in occupancy.splitlines() if ln.startswith("orbit "))
    assert "does not reject" in occ
    assert_finite(numbers_after("numpyro vs orbit: energy distance", out), 5)
    assert_pngs(tmp_path, ["rank_orbit.png", "occupancy_orbit.png", "predictive_orbit.png"])


@pytest.mark.slow
def test_fit_symmetry_reduced(tmp_path, capsys):
    out = run("fit_symmetry_reduced", [*TINY, "--out", str(tmp_path)], capsys)
    assert_sections(out, ["per space", "canonical posteriors compared",
                          "divergences of the constrained space"])
    table = out.split("== per space")[1]
    for space in ("full", "quotient", "constrained"):
        # wall s, grad evals, div, 2 R-hat, 2 ESS, 3 ESS rates
        assert_finite(numbers_after(f"{space} ", table.split("\n", 1)[1]), 10)
    for pair in ("full vs quotient", "full vs constrained", "quotient vs constrained"):
        line = next(ln for ln in out.splitlines() if pair in ln)
        assert_finite([float(v) for v in re.findall(NUMBER, line.split(":", 1)[1])], 5)
    assert re.search(r"\d+ of 60 transitions diverged", out)
    assert_pngs(tmp_path, ["canonical_marginals.png", "predictive_full.png",
                           "predictive_quotient.png", "predictive_constrained.png"])


# Fifty draws per chain give noisy Pareto tail fits; arviz warns about k > 0.5, as expected here.
@pytest.mark.slow  # compile-bound (20-35 s); the default suite keeps classification
@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto:UserWarning")
def test_arviz_comparison(tmp_path, capsys):
    # PSIS needs distinct draws in every chain's tail; 30 warm-up steps can leave a chain stuck,
    # so this run is a little longer than the others.
    args = ["--chains", "2", "--warmup", "100", "--draws", "50", "--quiet", "--widths", "3",
            "--out", str(tmp_path)]
    out = run("arviz_comparison", args, capsys)
    assert_sections(out, ["DataTree groups", "PSIS-LOO, prior normal1", "PSIS-LOO, prior normal0.3",
                          "arviz_stats.compare", "held-out test rows"])
    for group in ("posterior", "sample_stats", "log_likelihood", "observed_data"):
        assert group in out.split("== DataTree groups:")[1].splitlines()[0]
    for prior in ("normal1", "normal0.3"):
        values = numbers_after(f"{prior} ", out.split("== arviz_stats.compare")[1]
                               .split("\n", 2)[2])
        assert_finite(values, 7)
        assert_finite(numbers_after(f"{prior} ", out.split("== held-out")[1].split("\n", 1)[1]),
                      1)
    assert_pngs(tmp_path, ["compare.png"])
    if "plain matplotlib instead" not in out:
        assert_pngs(tmp_path, ["khat_normal1.png", "khat_normal0.3.png", "forest_canonical.png"])


def test_classification(tmp_path, capsys):
    out = run("classification", [*TINY, "--data", "spiral", "--out", str(tmp_path)], capsys)
    assert_sections(out, ["test set", "agreement between chains", "convergence"])
    accuracy, lppd, chance = numbers_after("accuracy of the BMA:", out)
    assert 0.0 <= accuracy <= 1.0 and math.isfinite(lppd)
    # Three classes; the fitted network beats guessing (checked at this seed).
    assert chance == pytest.approx(-math.log(3), abs=1e-3)
    assert accuracy > 1 / 3
    tv = numbers_after("largest pairwise total variation:", out)[0]
    assert 0.0 <= tv <= 1.0
    agreement = numbers_after("chains [0] vs [1]: top-1 agreement", out)[0]
    assert 0.0 <= agreement <= 1.0
    assert "verdict:" in out
    assert_pngs(tmp_path, ["probabilities.png", "rank.png"])


@pytest.mark.slow  # compile-bound (20-35 s); the default suite keeps classification
def test_relu_scaling(tmp_path, capsys):
    out = run("relu_scaling", [*TINY, "--widths", "3", "--out", str(tmp_path)], capsys)
    assert_sections(out, ["ESS per gradient evaluation"])
    for label in ("plain NUTS", "orbit moves"):
        values = numbers_after(label, out.split("== ESS per gradient evaluation")[1]
                               .split("\n", 2)[2])
        assert_finite(values, 7)
        assert values[1] > 0  # gradient evaluations
    ratios = numbers_after("ratio orbit moves / plain NUTS", out)
    assert_finite(ratios, 2)
    assert all(r > 0 for r in ratios)
    assert_pngs(tmp_path, ["scale_coordinate.png", "predictive_plain_NUTS.png",
                           "predictive_orbit_moves.png"])


@pytest.mark.slow  # compile-bound (20-35 s); the default suite keeps classification
def test_sklearn_estimators(capsys):
    out = run("sklearn_estimators", [*TINY, "--folds", "2", "--widths", "3"], capsys)
    assert_sections(out, ["cross-validation", "predictive mean", "classification"])
    assert_finite(numbers_after("R^2 per fold:", out), 3)
    coverage = numbers_after("coverage of the 95% predictive interval:", out)
    assert_finite(coverage, 1)
    assert 0.0 <= coverage[0] <= 1.0
    accuracy = numbers_after("test accuracy:", out)
    assert 0.0 <= accuracy[0] <= 1.0 and 0.0 <= accuracy[1] <= 1.0
