import importlib.util
import math
import re
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "models_tour.py"


def _load():
    spec = importlib.util.spec_from_file_location("models_tour", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_models_tour_prints_every_variant_and_its_sites(capsys):
    _load().main(["--widths", "2,3", "--n", "4", "--seed", "1"])
    out = capsys.readouterr().out
    blocks = dict(re.findall(r"^\[(.+?)\].*\n  sites: (.*)$", out, flags=re.MULTILINE))
    assert set(blocks) == {"full", "constrained", "asymmetric", "fan-in prior", "classifier"}
    for label, sites in blocks.items():
        for name, shape in [("W0", "(1, 2)"), ("b0", "(2,)"), ("W1", "(2, 3)"), ("b1", "(3,)")]:
            assert f"{name}{shape}:latent" in sites, (label, sites)
        assert "y(4,):observed" in sites
    assert "WL(3, 3):latent" in blocks["classifier"] and "sigma" not in blocks["classifier"]
    assert "sigma():latent" in blocks["full"]
    assert "quotient_prior" in blocks["constrained"]
    assert "quotient_prior" not in blocks["full"]
    # The printed check: constrained - full equals log|G| = log(2! 2^2 3! 2^3).
    diff, log_g = map(float, re.search(r"= (-?[\d.]+); log\|G\| = ([\d.]+)", out).groups())
    assert log_g == round(math.log(2 * 4 * 6 * 8), 4)
    assert abs(diff - log_g) < 1e-3
