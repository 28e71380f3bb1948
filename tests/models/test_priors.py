import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer.util import log_density, log_likelihood
from scipy import stats

from symbnn.models import FanInNormalPrior, NormalPrior, bnn
from symbnn.nets import MLP
from symbnn.symmetry import symmetry_of

MLP_TANH = MLP(2, (3, 4), 1, "tanh")


@pytest.mark.parametrize(
    ("prior", "name", "expected"),
    [
        (NormalPrior(0.5), "W0", 0.5),
        (NormalPrior(0.5), "bL", 0.5),
        (NormalPrior(0.5, overrides={"W1": 2.0}), "W1", 2.0),
        (NormalPrior(0.5, overrides={"W1": 2.0}), "b1", 0.5),
        (FanInNormalPrior(1.0), "W0", 1.0 / math.sqrt(2)),  # W0 is (2, 3): fan-in 2
        (FanInNormalPrior(1.0), "W1", 1.0 / math.sqrt(3)),  # W1 is (3, 4): fan-in 3
        (FanInNormalPrior(3.0), "WL", 3.0 / math.sqrt(4)),
        (FanInNormalPrior(3.0), "b1", 3.0),  # biases: fan-in 1
        (FanInNormalPrior(1.0, overrides={"W1": 6.0}), "W1", 6.0 / math.sqrt(3)),
    ],
)
def test_scale_of(prior, name, expected):
    assert prior.scale_of(MLP_TANH, name) == pytest.approx(expected)


@pytest.mark.parametrize("prior_cls", [NormalPrior, FanInNormalPrior])
def test_priors_are_hashable_and_normalise_overrides(prior_cls):
    a = prior_cls(1.0, overrides={"W0": 2, "bL": 0.5})
    b = prior_cls(1.0, overrides=(("bL", 0.5), ("W0", 2.0)))
    assert a == b and hash(a) == hash(b)
    assert a.overrides == (("W0", 2.0), ("bL", 0.5))
    assert prior_cls(1.0) != prior_cls(2.0)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"scale": -1.0}, ValueError),
        ({"scale": float("nan")}, ValueError),
        ({"scale": "big"}, TypeError),
        ({"overrides": {"W0": 0.0}}, ValueError),
        ({"overrides": {3: 1.0}}, TypeError),
        ({"overrides": 5}, TypeError),
    ],
)
def test_bad_prior_arguments(kwargs, error):
    with pytest.raises(error):
        NormalPrior(**kwargs)


def test_unknown_override_is_rejected_by_the_model():
    with pytest.raises(ValueError, match="W7"):
        bnn(MLP_TANH, prior=NormalPrior(1.0, overrides={"W7": 1.0}))
    with pytest.raises(ValueError, match="name"):
        NormalPrior(1.0).scale_of(MLP_TANH, "W7")


@pytest.mark.parametrize("prior", [NormalPrior(0.7, overrides={"b0": 3.0}), FanInNormalPrior(2.0)])
def test_log_prob_matches_scipy(prior):
    params = MLP_TANH.init(jax.random.PRNGKey(0))
    expected = sum(
        stats.norm(0.0, prior.scale_of(MLP_TANH, k)).logpdf(np.asarray(v)).sum()
        for k, v in params.items()
    )
    assert float(prior.log_prob(MLP_TANH, params)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("prior", [NormalPrior(1.0), FanInNormalPrior(1.0)])
@pytest.mark.parametrize(
    ("kind", "expected"),
    [("permutation", True), ("sign", True), ("scale", False), ("shift", False)],
)
def test_invariance_claims(prior, kind, expected):
    assert prior.invariant_under(kind) is expected
    assert bnn(MLP_TANH, prior=prior).invariant_under(kind) is expected


def test_invariant_under_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        NormalPrior().invariant_under("rotation")


# For each kind, a network that has the symmetry: sign flips need an odd activation, scaling a
# positively homogeneous one, logit shifts a softmax classifier.
_NETS = {
    "permutation": MLP(2, (3, 4), 1, "gelu"),
    "sign": MLP(2, (3, 4), 1, "tanh"),
    "scale": MLP(2, (3, 4), 1, "relu"),
    "shift": MLP(2, (3,), 3, "tanh", "classification"),
}


def _data(mlp, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(6, mlp.in_features))
    if mlp.output == "classification":
        return x, rng.integers(0, mlp.out_features, size=6)
    return x, rng.normal(size=6)


@pytest.mark.parametrize(
    "prior", [NormalPrior(1.0), FanInNormalPrior(1.5, overrides={"WL": 0.3})], ids=["iid", "fanin"]
)
@pytest.mark.parametrize("kind", ["permutation", "sign", "scale", "shift"])
def test_claim_matches_numerical_invariance(prior, kind):
    """The prior's claim agrees with what the log density does under a random group element.

    For the kinds a prior is not invariant under (e.g. the fan-in prior under ReLU scaling), the
    likelihood is unchanged (the function is the same) but the joint density moves: the test flags
    the prior as the non-invariant part.
    """
    mlp = _NETS[kind]
    model = bnn(mlp, prior=prior)
    x, y = _data(mlp)
    group = symmetry_of(mlp, kinds=(kind,))
    params = mlp.init(jax.random.PRNGKey(1))
    extra = {"sigma": jnp.asarray(0.8)} if mlp.output == "regression" else {}
    moved_params = group.act(group.sample(jax.random.PRNGKey(2)), params)
    before = float(log_density(model, (x, y), {}, {**params, **extra})[0])
    after = float(log_density(model, (x, y), {}, {**moved_params, **extra})[0])
    invariant = math.isclose(before, after, rel_tol=1e-5)
    assert invariant is prior.invariant_under(kind), (kind, before, after)
    # The likelihood never changes under a symmetry of the network.
    lik_before = log_likelihood(model, {**params, **extra}, x, y, batch_ndims=0)["y"]
    lik_after = log_likelihood(model, {**moved_params, **extra}, x, y, batch_ndims=0)["y"]
    np.testing.assert_allclose(lik_before, lik_after, rtol=1e-4, atol=1e-5)
    if not invariant:
        d_prior = float(prior.log_prob(mlp, moved_params) - prior.log_prob(mlp, params))
        assert after - before == pytest.approx(d_prior, rel=1e-3, abs=1e-3)
