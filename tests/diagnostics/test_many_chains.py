import numpy as np
import pytest

from symbnn.diagnostics import many_chain_report
from symbnn.diagnostics.many_chains import _levelled_off


def test_levelled_off_compares_the_last_doubling_with_its_se():
    flat = {"num_draws": [1, 2, 4], "lppd": [-1.0, -0.6, -0.58], "lppd_se": [0.1, 0.1, 0.05]}
    rising = {**flat, "lppd": [-1.0, -0.6, -0.4]}
    assert _levelled_off(flat) is True
    assert _levelled_off(rising) is False
    assert _levelled_off({"num_draws": [1], "lppd": [-1.0], "lppd_se": [0.1]}) is None


def test_report_on_one_draw_per_chain_counts_modes_and_chains_needed(make_draws, center,
                                                                     other_center, mlp, x_grid):
    # 40 chains of one draw, half from each of two functionally different centres
    a = make_draws(center, 41, orbit="chain")
    b = make_draws(other_center, 42, orbit="chain")
    draws = {k: np.concatenate([a[k][:, :1], b[k][:, :1]])[:40] for k in a}
    report = many_chain_report(draws, x=x_grid, mlp=mlp)
    assert report.num_draws == 1
    assert report.num_modes == 2
    assert report.chains_needed > report.num_chains  # two modes need hundreds of chains at 0.99
    assert any("fewer than" in n for n in report.notes)
    assert report.lppd_curve is None  # a dict of draws has no log-likelihood
    assert "functionally distinct modes: 2" in str(report)


def test_report_needs_two_chains(make_draws, center, mlp):
    one = {k: v[:1, :1] for k, v in make_draws(center, 43, orbit="chain").items()}
    with pytest.raises(ValueError, match="at least 2 chains"):
        many_chain_report(one, mlp=mlp)
