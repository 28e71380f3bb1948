"""The BNN model: a plain numpyro model over the parameters of an MLP, in three parameterisations.

``reparam=None`` (the full space)
    One site per parameter array, each drawn from the prior.
``reparam="constrained"`` (the quotient by the finite symmetry group G)
    The bias of every hidden layer is ordered ascending (for odd activations, also positive), which
    picks the representative of each orbit that :mod:`symbnn.symmetry`'s hard canonical form picks
    (sign by bias >= 0, then sort by bias). The ordered biases are sampled through numpyro
    constraints (``ImproperUniform`` on ``ordered_vector`` / ``positive_ordered_vector``), and one
    factor site ``"quotient_prior"`` adds their Normal log density and ``log|G|``. The log density
    at a canonical point is then ``log|G|`` + the full-space log density there: the quotient
    posterior, a proper density on the canonical region, not a different prior. (Pushing a
    Normal through the ordering bijection, ``TransformedDistribution(Normal, OrderedTransform())``,
    would put the Normal on the unconstrained coordinates, the first bias and the logs of the gaps:
    a different prior, not the iid one restricted to ordered vectors.)
``reparam="asymmetric"`` (symmetry removal by architecture)
    The W-asymmetric network of Lim et al. (2024): a fixed pattern of non-trainable entries in each
    hidden weight matrix (see :mod:`symbnn.models.asymmetric`). Sites keep their full shapes; the
    fixed entries of a site's value are ignored and overwritten by the pattern in the forward pass
    (their posterior is their prior). This changes the model, the prior over functions.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from symbnn.models.asymmetric import WAsymmetric, apply_pattern, pattern
from symbnn.models.likelihoods import Bernoulli, Categorical, Gaussian, default_likelihood
from symbnn.models.priors import FanInNormalPrior, NormalPrior
from symbnn.models.validation import check_shapes, is_concrete, validate_data
from symbnn.nets import MLP, ODD_ACTIVATIONS
from symbnn.symmetry import Group, symmetry_of
from symbnn.types import Array, Params

__all__ = ["REPARAMS", "BNNModel", "bnn"]

REPARAMS = (None, "constrained", "asymmetric")
"""Accepted values of ``reparam``: the full space, the constrained quotient, W-asymmetric."""

QUOTIENT_FACTOR = "quotient_prior"
"""Name of the factor site of the constrained model (ordered-bias prior density + log|G|)."""


@dataclasses.dataclass(frozen=True)
class BNNModel:
    """A numpyro model of a Bayesian MLP; call it as ``model(x, y=None)``.

    Build it with :func:`bnn`. Frozen and hashable, so it can be a static argument of ``jax.jit``.

    Attributes
    ----------
    mlp : MLP
    prior : NormalPrior or FanInNormalPrior
    likelihood : Gaussian, Categorical or Bernoulli
    reparam : {None, "constrained", "asymmetric"}
    asymmetry : WAsymmetric or None
        The fixed-weight configuration when ``reparam == "asymmetric"``.
    """

    mlp: MLP
    prior: NormalPrior | FanInNormalPrior
    likelihood: Gaussian | Categorical | Bernoulli
    reparam: str | None = None
    asymmetry: WAsymmetric | None = None

    def __post_init__(self) -> None:
        # Validate here, not only in bnn(), so dataclasses.replace(model, reparam=...) is checked.
        _check_components(self.mlp, self.prior, self.likelihood)
        _check_reparam(self.mlp, self.prior, self.reparam)
        if self.reparam == "asymmetric":
            if self.asymmetry is None:
                object.__setattr__(self, "asymmetry", WAsymmetric())
            elif not isinstance(self.asymmetry, WAsymmetric):
                raise TypeError(
                    f"asymmetry must be a WAsymmetric, got {type(self.asymmetry).__name__}"
                )
        elif self.asymmetry is not None:
            raise ValueError(
                f"asymmetry is only used with reparam='asymmetric', got reparam={self.reparam!r}"
            )

    # ------------------------------------------------------------- symmetry
    @property
    def group(self) -> Group:
        """The finite symmetry group of the network: permutations, plus sign flips if odd."""
        return symmetry_of(self.mlp, finite=True)

    def invariant_under(self, kind: str) -> bool:
        """Whether the prior is invariant under the symmetry ``kind`` (see the prior's method)."""
        return self.prior.invariant_under(kind)

    # ------------------------------------------------------------ parameters
    def fixed_pattern(self) -> dict:
        """Return the fixed entries of the asymmetric model, ``{"W{l}": (mask, values)}``.

        Empty for the other parameterisations. ``mask`` and ``values`` are read-only NumPy arrays
        of the shape of ``W{l}``.
        """
        if self.reparam != "asymmetric":
            return {}
        scales = tuple(
            self.prior.scale_of(self.mlp, self.mlp.weight_name(layer))
            for layer in range(self.mlp.num_hidden)
        )
        return pattern(self.mlp, self.asymmetry, scales)

    def params_of(self, sites: dict[str, Array]) -> Params:
        """Network parameters of one draw from a dict of site values.

        Keeps the parameter sites (drops ``"sigma"`` and any other non-parameter site) and, for
        the asymmetric model, writes the fixed entries into the weight matrices.

        Parameters
        ----------
        sites : dict
            Site values of one draw (leading batch axes also work for the asymmetric pattern).

        Returns
        -------
        dict
            A parameter dict in the layout of ``self.mlp``.
        """
        missing = [name for name in self.mlp.param_shapes if name not in sites]
        if missing:
            raise ValueError(f"sites lacks the parameter sites {missing}; got {sorted(sites)}")
        params = {name: sites[name] for name in self.mlp.param_shapes}
        if self.reparam == "asymmetric":
            params = apply_pattern(params, self.fixed_pattern())
        return params

    def hidden_bias_names(self) -> tuple[str, ...]:
        """Names of the hidden biases, the arrays ordered by the constrained model."""
        if not self.mlp.use_bias:
            return ()
        return tuple(self.mlp.bias_name(layer) for layer in range(self.mlp.num_hidden))

    def _sample_sites(self) -> dict[str, Array]:
        mlp, prior = self.mlp, self.prior
        ordered = set(self.hidden_bias_names()) if self.reparam == "constrained" else set()
        support = (
            constraints.positive_ordered_vector
            if mlp.activation in ODD_ACTIVATIONS
            else constraints.ordered_vector
        )
        sites, extra = {}, jnp.zeros(())
        for name, shape in mlp.param_shapes.items():
            prior_dist = prior.site_distribution(mlp, name)
            if name in ordered:
                value = numpyro.sample(name, dist.ImproperUniform(support, (), shape))
                extra = extra + prior_dist.log_prob(value)
            else:
                value = numpyro.sample(name, prior_dist)
            sites[name] = value
        if ordered:
            numpyro.factor(QUOTIENT_FACTOR, extra + self.group.log_size)
        return sites

    # ----------------------------------------------------------------- model
    def __call__(self, x: Array, y: Array | None = None) -> None:
        """Run the numpyro model.

        Parameters
        ----------
        x : array, shape (n, in_features)
        y : array, optional
            Observations: shape (n,) for one-output regression, (n, out_features) for several;
            integer labels of shape (n,) for classification. ``None`` samples them (prior or
            posterior predictive).

        Notes
        -----
        Shapes are always checked; values (finiteness, labels) only when ``x`` and ``y`` are
        concrete arrays, since traced values cannot be read.
        """
        if is_concrete(x, y):
            x, y = validate_data(self.mlp, x, y)
        else:
            x, y = check_shapes(self.mlp, x, y)
            x = jnp.asarray(x)
            if not jnp.issubdtype(x.dtype, jnp.floating):
                x = x.astype(jnp.result_type(float))
        sites = self._sample_sites()
        out = self.mlp.apply(self.params_of(sites), x)
        self.likelihood.observe(self.mlp, out, y)


def _check_components(mlp: MLP, prior, likelihood) -> None:
    if not isinstance(mlp, MLP):
        raise TypeError(f"mlp must be a symbnn.MLP, got {type(mlp).__name__}")
    if not hasattr(prior, "site_distribution") or not hasattr(prior, "invariant_under"):
        raise TypeError(
            f"prior must be a NormalPrior or FanInNormalPrior, got {type(prior).__name__}"
        )
    prior.check(mlp)
    if not isinstance(likelihood, Gaussian | Categorical | Bernoulli):
        raise TypeError(
            "likelihood must be a Gaussian, Categorical or Bernoulli, got "
            f"{type(likelihood).__name__}"
        )
    likelihood.check(mlp)


def _check_reparam(mlp: MLP, prior, reparam) -> None:
    if reparam not in REPARAMS:
        raise ValueError(f"reparam must be one of {REPARAMS}, got {reparam!r}")
    if reparam != "constrained":
        return
    if not mlp.use_bias:
        raise ValueError(
            "reparam='constrained' orders the hidden units by their bias, so it needs an MLP "
            "with use_bias=True"
        )
    kinds = symmetry_of(mlp, finite=True).spec.kinds
    broken = [k for k in kinds if not prior.invariant_under(k)]
    if broken:
        raise ValueError(
            f"reparam='constrained' is the quotient by {kinds}, which needs a prior invariant "
            f"under them; {type(prior).__name__} is not invariant under {broken}"
        )


def bnn(
    mlp: MLP,
    *,
    prior: NormalPrior | FanInNormalPrior | None = None,
    likelihood: Gaussian | Categorical | Bernoulli | None = None,
    reparam: str | None = None,
    asymmetry: WAsymmetric | None = None,
) -> BNNModel:
    """Build the numpyro model of a Bayesian MLP.

    Parameters
    ----------
    mlp : MLP
        The network specification.
    prior : NormalPrior or FanInNormalPrior, optional
        Prior over the parameter arrays (default ``NormalPrior(1.0)``).
    likelihood : Gaussian, Categorical or Bernoulli, optional
        Default: ``Gaussian()`` (learned noise, HalfNormal(1.0)) for regression, ``Categorical()``
        for classification with ``out_features >= 2``, ``Bernoulli()`` with one output.
    reparam : {None, "constrained", "asymmetric"}
        ``None``: the full parameter space. ``"constrained"``: the quotient by permutations (and
        sign flips for odd activations), hidden biases ordered; same posterior over functions,
        log density ``log|G|`` higher at every canonical point. ``"asymmetric"``: the
        W-asymmetric architecture of Lim et al. (2024), which changes the model (the prior over
        functions) by fixing a pattern of weights.
    asymmetry : WAsymmetric, optional
        Fixed-weight configuration for ``reparam="asymmetric"`` (default ``WAsymmetric()``).

    Returns
    -------
    BNNModel
        Call it as ``model(x, y=None)``. Sites: ``mlp.param_names`` with ``mlp.param_shapes``,
        ``"sigma"`` (learned Gaussian noise), ``"y"`` (observations, in the plate ``"data"``) and,
        for the constrained model, the factor ``"quotient_prior"``.

    Raises
    ------
    ValueError
        Unknown ``reparam``; a constrained model without biases or with a prior that is not
        invariant under the group; a likelihood that does not fit ``mlp.output``; prior overrides
        naming unknown arrays.
    """
    if not isinstance(mlp, MLP):
        raise TypeError(f"mlp must be a symbnn.MLP, got {type(mlp).__name__}")
    prior = NormalPrior(1.0) if prior is None else prior
    likelihood = default_likelihood(mlp) if likelihood is None else likelihood
    return BNNModel(mlp, prior, likelihood, reparam, asymmetry)
