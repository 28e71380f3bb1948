import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro import handlers
from numpyro.diagnostics import effective_sample_size
from numpyro.distributions import constraints
from numpyro.infer import MCMC, NUTS
from numpyro.infer.util import log_density
from scipy import integrate, stats

from symbnn.models import Categorical, FanInNormalPrior, Gaussian, NormalPrior, bnn
from symbnn.nets import MLP


def _data(mlp, n=6):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, mlp.in_features))
    if mlp.output == "classification":
        return x, rng.integers(0, mlp.out_features, size=n)
    return x, rng.normal(size=n)


@pytest.mark.parametrize(
    ("mlp", "prior", "likelihood"),
    [
        (MLP(2, (3, 4), 1, "tanh"), NormalPrior(1.0), Gaussian()),
        (MLP(2, (3, 4), 1, "relu"), FanInNormalPrior(1.0, overrides={"b1": 0.3}), Gaussian(0.5)),
        (MLP(1, (5,), 3, "erf", "classification"), NormalPrior(0.7), Categorical()),
    ],
)
def test_constrained_log_density_is_log_group_size_plus_full(mlp, prior, likelihood):
    full = bnn(mlp, prior=prior, likelihood=likelihood)
    constrained = bnn(mlp, prior=prior, likelihood=likelihood, reparam="constrained")
    assert constrained.group.spec.kinds == full.group.spec.kinds
    x, y = _data(mlp)
    group = full.group
    extra = {"sigma": jnp.asarray(0.8)} if getattr(likelihood, "learned", False) else {}

    @jax.jit
    @jax.vmap
    def both(key):
        canon, _ = group.canonicalize(mlp.init(key))
        sites = {**canon, **extra}
        return (
            log_density(full, (x, y), {}, sites)[0],
            log_density(constrained, (x, y), {}, sites)[0],
            canon,
        )

    lp_full, lp_constrained, canon = both(jax.random.split(jax.random.PRNGKey(0), 8))
    np.testing.assert_allclose(lp_constrained, group.log_size + lp_full, rtol=1e-5)
    expected_log_size = sum(
        math.lgamma(h + 1) + (h * math.log(2) if mlp.activation in ("tanh", "erf") else 0.0)
        for h in mlp.widths
    )
    assert group.log_size == pytest.approx(expected_log_size)
    # Canonical points of the full space lie in the constrained support.
    support = (
        constraints.positive_ordered_vector if mlp.activation in ("tanh", "erf")
        else constraints.ordered_vector
    )
    for name in constrained.hidden_bias_names():
        assert bool(jnp.all(support(canon[name])))


@pytest.mark.parametrize(
    ("activation", "support"),
    [("tanh", constraints.positive_ordered_vector), ("relu", constraints.ordered_vector)],
)
def test_hidden_biases_are_improper_uniform_on_the_ordered_support(activation, support):
    mlp = MLP(1, (3, 2), 1, activation)
    model = bnn(mlp, reparam="constrained")
    x, y = _data(mlp)
    sites = {**model.group.canonicalize(mlp.init(jax.random.PRNGKey(0)))[0], "sigma": 1.0}
    trace = handlers.trace(handlers.substitute(handlers.seed(model, 0), sites)).get_trace(x, y)

    def base(site_support):
        while isinstance(site_support, constraints.independent):
            site_support = site_support.base_constraint
        return site_support

    for name in ("b0", "b1"):
        assert base(trace[name]["fn"].support) is support
    for name in ("W0", "W1", "WL", "bL"):
        assert base(trace[name]["fn"].support) is constraints.real


def test_constrained_needs_biases():
    with pytest.raises(ValueError, match="use_bias"):
        bnn(MLP(2, (3,), 1, "tanh", use_bias=False), reparam="constrained")


@dataclasses.dataclass(frozen=True)
class _SignBreakingPrior(NormalPrior):
    """A prior that declares itself not invariant under sign flips."""

    def invariant_under(self, kind):
        return kind == "permutation"


def test_constrained_needs_an_invariant_prior():
    with pytest.raises(ValueError, match=r"not invariant under \['sign'\]"):
        bnn(MLP(2, (3,), 1, "tanh"), prior=_SignBreakingPrior(), reparam="constrained")
    # Without sign flips in the group (ReLU), the same prior is fine.
    bnn(MLP(2, (3,), 1, "relu"), prior=_SignBreakingPrior(), reparam="constrained")


def _order_statistic_means(dist, n):
    """E[X_(k)], k = 1..n, for n iid draws of a continuous scipy distribution (by quadrature)."""
    lo, hi = dist.ppf(1e-12), dist.ppf(1 - 1e-12)
    means = []
    for k in range(1, n + 1):
        coef = math.factorial(n) / (math.factorial(k - 1) * math.factorial(n - k))

        def integrand(t, k=k, coef=coef):
            cdf = dist.cdf(t)
            return t * coef * cdf ** (k - 1) * (1 - cdf) ** (n - k) * dist.pdf(t)

        means.append(integrate.quad(integrand, lo, hi)[0])
    return np.array(means)


def test_reference_order_statistics():
    # The means of sorted iid N(0, 1) triples quoted in the issue.
    np.testing.assert_allclose(
        _order_statistic_means(stats.norm(), 3), [-0.846, 0.0, 0.846], atol=1e-3
    )


@pytest.mark.parametrize(
    ("activation", "reference"),
    [("relu", stats.norm()), ("tanh", stats.halfnorm())],
    ids=["ordered", "positive-ordered"],
)
def test_prior_only_run_reproduces_order_statistics(activation, reference):
    """NUTS on the constrained model without data samples sorted iid prior biases.

    With the permutation quotient (ReLU) the hidden biases are sorted N(0, 1) triples; with sign
    flips too (tanh) they are sorted |N(0, 1)| triples. The observation site has no data, so it
    is a latent variable and the parameters follow their prior.
    """
    mlp = MLP(1, (3,), 1, activation)
    model = bnn(mlp, prior=NormalPrior(1.0), likelihood=Gaussian(1.0), reparam="constrained")
    mcmc = MCMC(NUTS(model), num_warmup=300, num_samples=2000, num_chains=1, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0), np.zeros((1, 1)))
    b0 = np.asarray(mcmc.get_samples()["b0"])
    support = (
        constraints.positive_ordered_vector if activation == "tanh" else constraints.ordered_vector
    )
    assert bool(jnp.all(support(b0)))
    expected = _order_statistic_means(reference, 3)
    ess = effective_sample_size(b0[None])
    # Monte Carlo standard error from the draws' spread and their effective sample size; 4 standard
    # errors leave a false-alarm rate of about 2e-4 per component, and a prior that is not the
    # quotient (e.g. a Jacobian-distorted ordered Normal) moves the means by far more.
    se = b0.std(axis=0) / np.sqrt(ess)
    assert np.all(ess > 200), ess
    np.testing.assert_array_less(np.abs(b0.mean(axis=0) - expected), 4 * se)
