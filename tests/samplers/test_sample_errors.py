"""symbnn.sample rejects bad arguments before any sampling, with the argument named."""

import dataclasses

import jax
import numpy as np
import pytest

import symbnn
from symbnn import MLP
from symbnn.models import NormalPrior, bnn

MLP_1X3 = MLP(1, (3,), 1, "tanh", "regression", True)


@dataclasses.dataclass(frozen=True)
class SignBrokenPrior(NormalPrior):
    """A prior that declares itself not invariant under sign flips (as a skewed prior would be)."""

    def invariant_under(self, kind: str) -> bool:
        return kind != "sign" and super().invariant_under(kind)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (12, 1))
    return x, np.sin(2 * x[:, 0])


def _sample(data, model=None, **kw):
    x, y = data
    settings = dict(rng_key=jax.random.key(0), num_chains=2, num_warmup=0, num_draws=2,
                    progress=False)
    settings.update(kw)
    return symbnn.sample(model or bnn(MLP_1X3), x, y, **settings)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(num_chains=0), "num_chains"),
        (dict(num_chains=-1), "num_chains"),
        (dict(num_chains=2.0), "num_chains"),
        (dict(num_chains=True), "num_chains"),
        (dict(num_draws=0), "num_draws"),
        (dict(num_warmup=-1), "num_warmup"),
        (dict(block_size=0), "block_size"),
        (dict(chain_batch_size=0), "chain_batch_size"),
        (dict(space="folded"), "space"),
        (dict(kernel="mala"), "kernel"),
        (dict(chain_layout="pmap"), "chain_layout"),
        (dict(init="zeros"), "init"),
        (dict(orbit_moves=True, space="constrained"), "orbit_moves"),
        (dict(orbit_moves=True, space="quotient"), "orbit_moves"),
        (dict(resume=True), "resume"),
    ],
)
def test_bad_settings_raise_value_error_naming_the_argument(data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        _sample(data, **kwargs)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: symbnn.samplers.NUTS(step_size=0.0), "step_size"),
        (lambda: symbnn.samplers.NUTS(target_accept=1.0), "target_accept"),
        (lambda: symbnn.samplers.NUTS(max_tree_depth=0), "max_tree_depth"),
        (lambda: symbnn.samplers.HMC(num_integration_steps=0), "num_integration_steps"),
        (lambda: symbnn.samplers.HMC(num_integration_steps=2.5), "num_integration_steps"),
    ],
)
def test_bad_kernel_settings_raise_value_error_naming_the_setting(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_kernel_objects_are_hashable_and_equal_by_settings():
    assert symbnn.samplers.NUTS(target_accept=0.9) == symbnn.samplers.NUTS(target_accept=0.9)
    assert hash(symbnn.samplers.HMC()) == hash(symbnn.samplers.HMC())
    assert symbnn.samplers.NUTS(target_accept=0.9) != symbnn.samplers.NUTS()


def test_quotient_space_needs_a_prior_invariant_under_the_group(data):
    model = bnn(MLP_1X3, prior=SignBrokenPrior(1.0))
    assert not model.invariant_under("sign")
    with pytest.raises(ValueError, match=r"space='quotient'.*invariant.*sign"):
        _sample(data, model, space="quotient")
    # the constrained space is the same quotient: refused as well
    with pytest.raises(ValueError, match=r"invariant.*sign"):
        _sample(data, model, space="constrained")


@pytest.mark.parametrize(
    ("reparam", "space", "match"),
    [
        ("asymmetric", "quotient", "space='quotient' needs reparam=None"),
        ("constrained", "full", "space='full' needs a model without reparam='constrained'"),
        ("constrained", "quotient", "needs a model without reparam='constrained'"),
    ],
)
def test_space_the_model_cannot_run_in(data, reparam, space, match):
    with pytest.raises(ValueError, match=match):
        _sample(data, bnn(MLP_1X3, reparam=reparam), space=space)


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (np.zeros((12, 2)), np.zeros(12), r"x must have shape \(n, 1\)"),
        (np.zeros(12), np.zeros(12), r"x must have shape \(n, 1\)"),
        (np.zeros((12, 1)), np.zeros(11), r"y \(targets\) must have shape \(12,\)"),
        (np.zeros((12, 1)), np.r_[np.zeros(11), np.nan], r"\by\b.*(NaN|finite)"),
        (np.r_[np.zeros(11), np.inf][:, None], np.zeros(12), r"\bx\b.*(inf|finite)"),
    ],
)
def test_data_that_fails_validation(x, y, match):
    with pytest.raises(ValueError, match=match):
        symbnn.sample(bnn(MLP_1X3), x, y, rng_key=jax.random.key(0), num_draws=2,
                      progress=False)
