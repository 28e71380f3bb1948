"""Synthetic generators: each draws n i.i.d. examples ``(x (n, d) float64, y (n,))``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

GAP = (-0.5, 0.5)
"""The open interval of inputs that the ``"gap"`` toy never produces."""


def _sinusoidal(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(0.0, 8.0, size=(n, 1))
    return x, np.sin(x[:, 0]) + 0.3 * rng.standard_normal(n)


def _gap(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # Two clusters, [-2, -0.5] and [0.5, 2], equally likely: nothing in the gap GAP.
    side = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    x = (side * rng.uniform(GAP[1], 2.0, size=n))[:, None]  # GAP is symmetric about 0
    return x, np.sin(2.0 * x[:, 0]) + 0.3 * x[:, 0] + 0.1 * rng.standard_normal(n)


def _regression2d(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-2.0, 2.0, size=(n, 2))
    y = x[:, 0] * np.sin(x[:, 0]) + np.cos(x[:, 1]) + 0.1 * rng.standard_normal(n)
    return x, y


def _moons(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # Label ~ Bernoulli(1/2); upper half circle for 0, shifted lower one for 1; N(0, 0.1^2) noise.
    y = rng.integers(0, 2, size=n)
    t = rng.uniform(0.0, np.pi, size=n)
    x = np.where(y[:, None] == 0,
                 np.stack([np.cos(t), np.sin(t)], axis=1),
                 np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1))
    return x + 0.1 * rng.standard_normal((n, 2)), y


def _spiral(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # Three arms: label k ~ U{0,1,2}, radius r ~ U(0, 1), angle 2 pi k / 3 + 4 r + N(0, 0.2^2).
    y = rng.integers(0, 3, size=n)
    r = rng.uniform(0.0, 1.0, size=n)
    theta = 2.0 * np.pi * y / 3.0 + 4.0 * r + 0.2 * rng.standard_normal(n)
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1), y


Generator = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]
SYNTHETIC: dict[str, tuple[Generator, str, int | None, int, int]] = {
    # name: (generator, task, num_classes, default num_train, default num_test)
    "sinusoidal": (_sinusoidal, "regression", None, 120, 30),
    "gap": (_gap, "regression", None, 320, 80),
    "regression2d": (_regression2d, "regression", None, 204, 52),
    "moons": (_moons, "classification", 2, 240, 60),
    "spiral": (_spiral, "classification", 3, 240, 60),
}
"""Synthetic data sets. Train and test rows come from independent streams of the seed, so the
training data do not depend on ``num_test`` (nor the test data on ``num_train``)."""
