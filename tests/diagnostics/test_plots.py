import numpy as np
import pytest

from symbnn.diagnostics import (
    count_modes,
    orbit_occupancy,
    plot_modes,
    plot_occupancy,
    plot_predictive,
    plot_rank,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def draws(make_draws, center):
    return make_draws(center, 41, orbit="chain")


def _is_png(path) -> bool:
    with open(path, "rb") as f:
        head = f.read(8)
    return head == PNG_MAGIC


def test_plots_write_png(tmp_path, draws, mlp, x_grid):
    occ = orbit_occupancy(draws, mlp=mlp)
    modes = count_modes(draws, x=x_grid, mlp=mlp)
    written = [
        plot_rank(draws, tmp_path / "rank.png", mlp=mlp, num_params=2),
        plot_occupancy(occ, tmp_path / "sub" / "occupancy.png"),
        plot_predictive(draws, x_grid, tmp_path / "pred.png", mlp=mlp,
                        x_data=x_grid[::4], y_data=np.sin(x_grid[::4])),
        plot_modes(modes, tmp_path / "modes.png"),
    ]
    for path in written:
        assert isinstance(path, str)
        assert _is_png(path), path


def test_plot_bad_input(tmp_path, draws, mlp):
    with pytest.raises(ValueError, match="x must have shape"):
        plot_predictive(draws, np.zeros((3, 2)), tmp_path / "p.png", mlp=mlp)
    with pytest.raises(TypeError, match="OccupancyResult"):
        plot_occupancy({}, tmp_path / "o.png")
    with pytest.raises(TypeError, match="Modes"):
        plot_modes(None, tmp_path / "m.png")
