"""scikit-learn estimators: the estimator checks, and what a scikit-learn user relies on."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from symbnn.sklearn import BNNClassifier, BNNRegressor

# Small settings: the checks fit dozens of times on data of new shapes (each compiles).
# HMC compiles in about half the time of NUTS; the checks test the estimator API, not sampling.
FAST = dict(hidden_layer_sizes=(4,), num_chains=1, num_warmup=20, num_draws=10, kernel="hmc",
            chain_layout="sequential", random_state=0)


@pytest.mark.slow
@parametrize_with_checks([BNNRegressor(**FAST), BNNClassifier(**FAST)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (40, 1))
    return x, np.sin(3 * x[:, 0]) + 0.1 * rng.normal(size=40)


@pytest.fixture(scope="module")
def fitted_regressor(regression):
    x, y = regression
    return BNNRegressor((8,), num_chains=2, num_warmup=200, num_draws=100,
                        chain_layout="sequential", random_state=1).fit(x, y)


def test_regressor_predicts_the_posterior_mean_on_the_original_scale(fitted_regressor,
                                                                     regression):
    x, y = regression
    est = fitted_regressor
    direct = est.posterior_.predict(x)[..., 0].mean(axis=(0, 1)) * est.y_scale_ + est.y_mean_
    # float32: the estimator averages the draws in blocks, so sums of O(1) terms differ by a
    # few ulp (1.2e-7 each); measured 6e-8 apart on an AVX-512 machine (1.3e-6 relative near 0)
    np.testing.assert_allclose(est.predict(x), direct, rtol=1e-6, atol=1e-6)
    assert est.score(x, y) > 0.8  # sin(3x) + 0.1 noise: a fitted BNN explains most variance


def test_return_std_is_larger_far_from_the_data(fitted_regressor):
    mean, std = fitted_regressor.predict(np.array([[0.0], [6.0]]), return_std=True)
    assert mean.shape == std.shape == (2,)
    assert np.all(std > 0)
    assert std[1] > 2 * std[0]  # x = 6 is far outside the training range [-1, 1]


def test_same_random_state_gives_the_same_predictions(regression):
    x, y = regression
    a = BNNRegressor((3,), num_chains=1, num_warmup=20, num_draws=10, random_state=5,
                     chain_layout="sequential").fit(x, y)
    b = pickle.loads(pickle.dumps(clone(a).fit(x, y)))
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


def test_classifier_probabilities_and_string_labels_round_trip():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 2))
    names = np.array(["left", "middle", "right"])
    y = names[np.digitize(x[:, 0], [-0.5, 0.5])]
    est = BNNClassifier((6,), num_chains=1, num_warmup=150, num_draws=50,
                        chain_layout="sequential", random_state=0).fit(x, y)
    proba = est.predict_proba(x)
    assert list(est.classes_) == sorted(names)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(est.predict(x)) <= set(names)
    assert est.score(x, y) > 0.8  # classes split by thresholds on one input


def test_cross_val_score_and_pipeline(regression):
    x, y = regression
    pipe = make_pipeline(StandardScaler(), BNNRegressor((4,), num_chains=1, num_warmup=100,
                                                         num_draws=30, random_state=0,
                                                         chain_layout="sequential"))
    scores = cross_val_score(pipe, x, y, cv=2)
    assert scores.shape == (2,) and np.all(np.isfinite(scores))


@pytest.mark.parametrize(("param", "value"), [
    ("hidden_layer_sizes", (4, 0)), ("num_chains", 0), ("num_draws", 0), ("prior_scale", -1.0),
    ("activation", "softplus"), ("space", "curved"),
])
def test_bad_settings_raise_at_fit_naming_the_parameter(regression, param, value):
    x, y = regression
    est = BNNRegressor(**{**FAST, param: value})  # the constructor stores, fit validates
    with pytest.raises(ValueError, match=param):
        est.fit(x, y)


def test_nan_in_inputs_is_refused(regression):
    x, y = regression
    bad = x.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        BNNRegressor(**FAST).fit(bad, y)
