"""Observation models for the network outputs, and the predictive map from parameters to outputs.

Each likelihood samples the observation site ``"y"`` inside a plate named ``"data"`` over the rows.
No ``numpyro.deterministic`` site is created: storing the network outputs for every draw would
cost ``num_draws * n * out_features`` floats without asking; :func:`predict` recomputes them.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from symbnn.nets import MLP
from symbnn.types import Array, Params

__all__ = ["Bernoulli", "Categorical", "Gaussian", "default_likelihood", "predict"]


@dataclasses.dataclass(frozen=True)
class Gaussian:
    """Gaussian regression ``y ~ N(f(x), sigma^2)``, sigma shared by all outputs.

    Parameters
    ----------
    sigma : float, optional
        Fixed noise standard deviation. ``None`` (default) learns it: a scalar site ``"sigma"``
        with prior ``HalfNormal(sigma_scale)``.
    sigma_scale : float
        Scale of the HalfNormal prior on the learned sigma.
    """

    sigma: float | None = None
    sigma_scale: float = dataclasses.field(default=1.0, kw_only=True)

    def __post_init__(self) -> None:
        for what in ("sigma", "sigma_scale"):
            value = getattr(self, what)
            if value is None and what == "sigma":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{what} must be a positive float, got {value!r}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{what} must be a positive finite float, got {value!r}")
            object.__setattr__(self, what, float(value))

    @property
    def learned(self) -> bool:
        """Whether sigma is a sample site."""
        return self.sigma is None

    def check(self, mlp: MLP) -> None:
        """Raise a ValueError unless ``mlp`` is a regression network."""
        if mlp.output != "regression":
            raise ValueError(
                f"likelihood Gaussian needs an MLP with output='regression', got {mlp.output!r}"
            )

    def observe(self, mlp: MLP, out: Array, y: Array | None) -> None:
        """Sample ``"sigma"`` (if learned) and the observation site ``"y"``."""
        if self.learned:
            sigma = numpyro.sample("sigma", dist.HalfNormal(self.sigma_scale))
        else:
            sigma = self.sigma
        with numpyro.plate("data", out.shape[0]):
            if mlp.out_features == 1:
                numpyro.sample("y", dist.Normal(out[:, 0], sigma), obs=y)
            else:
                numpyro.sample("y", dist.Normal(out, sigma).to_event(1), obs=y)


@dataclasses.dataclass(frozen=True)
class Categorical:
    """Classification with a softmax over ``out_features >= 2`` logits; labels in [0, K)."""

    def check(self, mlp: MLP) -> None:
        """Raise a ValueError unless ``mlp`` is a classifier with at least two outputs."""
        if mlp.output != "classification" or mlp.out_features < 2:
            raise ValueError(
                "likelihood Categorical needs an MLP with output='classification' and "
                f"out_features >= 2, got output={mlp.output!r}, out_features={mlp.out_features}"
            )

    def observe(self, mlp: MLP, out: Array, y: Array | None) -> None:
        """Sample the observation site ``"y"`` (integer labels, shape (n,))."""
        with numpyro.plate("data", out.shape[0]):
            numpyro.sample("y", dist.Categorical(logits=out), obs=y)


@dataclasses.dataclass(frozen=True)
class Bernoulli:
    """Binary classification with one logit (``out_features == 1``); labels in {0, 1}."""

    def check(self, mlp: MLP) -> None:
        """Raise a ValueError unless ``mlp`` is a classifier with exactly one output."""
        if mlp.output != "classification" or mlp.out_features != 1:
            raise ValueError(
                "likelihood Bernoulli needs an MLP with output='classification' and "
                f"out_features == 1, got output={mlp.output!r}, out_features={mlp.out_features}"
            )

    def observe(self, mlp: MLP, out: Array, y: Array | None) -> None:
        """Sample the observation site ``"y"`` (labels 0/1, shape (n,))."""
        with numpyro.plate("data", out.shape[0]):
            numpyro.sample("y", dist.Bernoulli(logits=out[:, 0]), obs=y)


def default_likelihood(mlp: MLP) -> Gaussian | Categorical | Bernoulli:
    """Learned-noise Gaussian for regression, Categorical for K >= 2 classes, else Bernoulli."""
    if mlp.output == "regression":
        return Gaussian()
    return Categorical() if mlp.out_features >= 2 else Bernoulli()


def predict(mlp: MLP, params: Params, x: Array) -> Array:
    """Predictive summary of one parameter draw.

    Parameters
    ----------
    mlp : MLP
    params : dict
        One parameter dict (for an asymmetric model, pass ``model.params_of(sites)`` so the
        fixed entries are in place).
    x : array, shape (n, in_features)

    Returns
    -------
    array
        Regression: means, shape (n, out_features). Classification: class probabilities, shape
        (n, K) (softmax), or (n, 1) holding P(y = 1) (sigmoid) for one output. Callers ``vmap``
        over draws.
    """
    mlp.check_params(params)
    out = mlp.apply(params, x)
    if mlp.output == "regression":
        return out
    if mlp.out_features == 1:
        return jax.nn.sigmoid(out)
    return jax.nn.softmax(out, axis=-1)


@functools.cache
def _predict_batch(mlp: MLP):
    return jax.jit(jax.vmap(lambda p, x: predict(mlp, p, x), in_axes=(0, None)))


def predict_draws(mlp: MLP, params, x, *, lead: int = 2) -> np.ndarray:
    """:func:`predict` for every draw of ``params`` (``lead`` leading axes, e.g. (chain, draw)).

    Returns a numpy array ``(*lead_axes, n, out)``; one compiled program per network.
    """
    from symbnn.symmetry.batched import over_draws

    return over_draws(_predict_batch(mlp), params, jnp.asarray(x), lead=lead)
