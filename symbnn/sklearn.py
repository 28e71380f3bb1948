"""scikit-learn estimators: a BNN sampled by :func:`symbnn.sample` behind ``fit`` / ``predict``.

:class:`BNNRegressor` and :class:`BNNClassifier` follow scikit-learn's conventions: the
constructor stores its arguments unchanged, ``fit`` validates them and the data and sets the
fitted attributes (``posterior_``, ``n_features_in_``, ``classes_``), so the estimators work with
``clone``, ``GridSearchCV``, ``cross_val_score`` and ``Pipeline``. Predictions average over every
draw of every chain (Bayesian model averaging).
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import jax
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from symbnn.models import Gaussian, NormalPrior, bnn
from symbnn.nets import ACTIVATIONS, MLP
from symbnn.samplers import sample
from symbnn.samplers.init import INITS
from symbnn.samplers.layouts import LAYOUTS
from symbnn.samplers.spaces import SPACES

__all__ = ["BNNClassifier", "BNNRegressor"]

_POSITIVE = Interval(Real, 0, None, closed="neither")
# Validated by sklearn's parameter machinery at fit time. ``kernel`` is passed to
# symbnn.sample unchanged, which names it in its own error for an unknown kernel.
_CONSTRAINTS = {
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [StrOptions(set(ACTIVATIONS))],
    "prior_scale": [_POSITIVE],
    "kernel": "no_validation",
    "space": [StrOptions(set(SPACES))],
    "num_chains": [Interval(Integral, 1, None, closed="left")],
    "num_warmup": [Interval(Integral, 0, None, closed="left")],
    "num_draws": [Interval(Integral, 1, None, closed="left")],
    "chain_layout": [StrOptions(set(LAYOUTS))],
    "init": [StrOptions(set(INITS))],
    "random_state": ["random_state"],
    "verbose": ["boolean"],
}


def _widths(hidden_layer_sizes) -> tuple[int, ...]:
    """``hidden_layer_sizes`` as a tuple of positive ints (an int is one hidden layer)."""
    sizes = np.atleast_1d(np.asarray(hidden_layer_sizes, dtype=object)).tolist()
    bad = [s for s in sizes if isinstance(s, bool) or not isinstance(s, Integral) or s < 1]
    if bad or np.ndim(hidden_layer_sizes) > 1:
        raise ValueError(
            "hidden_layer_sizes must be a positive integer or a sequence of positive integers, "
            f"got {hidden_layer_sizes!r}"
        )
    return tuple(int(s) for s in sizes)


def _finite(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


class _BNNBase(BaseEstimator):
    """Shared constructor, fitting and prediction of the two estimators."""

    _parameter_constraints: dict = dict(_CONSTRAINTS)

    def __init__(self, hidden_layer_sizes=(16,), *, activation="tanh", prior_scale=1.0,
                 kernel="nuts", space="full", num_chains=4, num_warmup=1000, num_draws=1000,
                 chain_layout="auto", init="prior", random_state=None, verbose=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.prior_scale = prior_scale
        self.kernel = kernel
        self.space = space
        self.num_chains = num_chains
        self.num_warmup = num_warmup
        self.num_draws = num_draws
        self.chain_layout = chain_layout
        self.init = init
        self.random_state = random_state
        self.verbose = verbose

    def _network(self, in_features: int, out_features: int, output: str) -> MLP:
        return MLP(in_features, _widths(self.hidden_layer_sizes), out_features,
                   activation=self.activation, output=output)

    def _sample(self, model, x, y):
        """Run the sampler with the estimator's settings; returns the Posterior."""
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        return sample(model, x, y, rng_key=jax.random.PRNGKey(seed),
                      num_chains=self.num_chains, num_warmup=self.num_warmup,
                      num_draws=self.num_draws, kernel=self.kernel, space=self.space,
                      init=self.init, chain_layout=self.chain_layout, progress=self.verbose)

    def _prior(self) -> NormalPrior:
        return NormalPrior(_finite("prior_scale", self.prior_scale))

    def _outputs(self, X) -> np.ndarray:
        """Network outputs of every draw, (chain, draw, n, out), after checking ``X``."""
        check_is_fitted(self, "posterior_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.posterior_.predict(X)


class BNNRegressor(RegressorMixin, _BNNBase):
    """Bayesian MLP regression, sampled with blackjax NUTS/HMC through :func:`symbnn.sample`.

    The model is ``y ~ N(f(x), sigma^2)`` with iid ``N(0, prior_scale^2)`` weights and biases and
    ``sigma ~ HalfNormal(noise_scale)`` (on the standardised targets if ``normalize_y``).

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default (16,)
        Units of each hidden layer, as in ``sklearn.neural_network.MLPRegressor``.
    activation : str, default "tanh"
        One of :data:`symbnn.nets.ACTIVATIONS`.
    prior_scale : float, default 1.0
        Standard deviation of the Normal prior on every weight and bias.
    noise_scale : float, default 1.0
        Scale of the HalfNormal prior on the noise standard deviation.
    normalize_y : bool, default True
        Standardise the targets (per output) before sampling; predictions are mapped back.
    kernel : str or kernel object, default "nuts"
        Passed to :func:`symbnn.sample`: a name in ``symbnn.samplers.KERNELS`` or an object such
        as ``symbnn.samplers.NUTS(target_accept=0.9)``.
    space : {"full", "constrained", "quotient"}, default "full"
    num_chains, num_warmup, num_draws : int, default 4, 1000, 1000
    chain_layout : {"auto", "sequential", "vmap", "shard"}, default "auto"
    init : {"prior", "map", "ensemble"}, default "prior"
    random_state : int, RandomState or None
        Seeds the sampler's key; an int gives the same draws on every fit.
    verbose : bool, default False
        Show the sampler's progress bar.

    Attributes
    ----------
    posterior_ : symbnn.Posterior
        The draws (on the standardised scale if ``normalize_y``).
    y_mean_, y_scale_ : ndarray of shape (n_outputs,)
        The target standardisation (zeros and ones without ``normalize_y``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when ``X`` had string column names
    """

    _parameter_constraints: dict = {**_CONSTRAINTS, "noise_scale": [_POSITIVE],
                                    "normalize_y": ["boolean"]}

    def __init__(self, hidden_layer_sizes=(16,), *, activation="tanh", prior_scale=1.0,
                 noise_scale=1.0, normalize_y=True, kernel="nuts", space="full", num_chains=4,
                 num_warmup=1000, num_draws=1000, chain_layout="auto", init="prior",
                 random_state=None, verbose=False):
        super().__init__(hidden_layer_sizes, activation=activation, prior_scale=prior_scale,
                         kernel=kernel, space=space, num_chains=num_chains,
                         num_warmup=num_warmup, num_draws=num_draws, chain_layout=chain_layout,
                         init=init, random_state=random_state, verbose=verbose)
        self.noise_scale = noise_scale
        self.normalize_y = normalize_y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y):
        """Sample the posterior given inputs ``X`` (n, d) and targets ``y`` (n,) or (n, k).

        Returns
        -------
        self
        """
        self._validate_params()
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             dtype=[np.float64, np.float32])
        y2 = y.reshape(len(y), -1).astype(np.float64)
        self.y_mean_ = y2.mean(axis=0) if self.normalize_y else np.zeros(y2.shape[1])
        scale = y2.std(axis=0) if self.normalize_y else np.ones(y2.shape[1])
        # A constant target has no spread to divide by; it is centred only.
        self.y_scale_ = np.where(scale > 0, scale, 1.0)
        self._y_ndim = y.ndim
        likelihood = Gaussian(sigma_scale=_finite("noise_scale", self.noise_scale))
        model = bnn(self._network(X.shape[1], y2.shape[1], "regression"), prior=self._prior(),
                    likelihood=likelihood)
        y_std = (y2 - self.y_mean_) / self.y_scale_
        self.posterior_ = self._sample(model, X, y_std.reshape(y.shape))
        return self

    def predict(self, X, return_std: bool = False):
        """Posterior predictive mean, and optionally its standard deviation.

        Parameters
        ----------
        X : array-like of shape (n, n_features_in_)
        return_std : bool, default False
            Also return the predictive standard deviation of a new observation: the spread of
            the network outputs over the draws combined with the noise,
            ``sqrt(Var_draws[f(x)] + E_draws[sigma^2])``.

        Returns
        -------
        mean : ndarray of shape (n,) or (n, n_outputs), like the ``y`` given to ``fit``
        std : ndarray of the same shape, only with ``return_std=True``
        """
        out = self._outputs(X).astype(np.float64)
        mean = out.mean(axis=(0, 1)) * self.y_scale_ + self.y_mean_
        shape = mean.shape if self._y_ndim == 2 else mean.shape[:1]
        if not return_std:
            return mean.reshape(shape)
        noise_var = np.mean(np.asarray(self.posterior_.draws["sigma"], np.float64) ** 2)
        std = np.sqrt(out.var(axis=(0, 1)) + noise_var) * self.y_scale_
        return mean.reshape(shape), std.reshape(shape)


class BNNClassifier(ClassifierMixin, _BNNBase):
    """Bayesian MLP classification, sampled with blackjax NUTS/HMC through :func:`symbnn.sample`.

    Two classes use one logit (Bernoulli likelihood), K > 2 classes a softmax over K logits
    (categorical likelihood); weights and biases are iid ``N(0, prior_scale^2)``. Labels may be
    any values scikit-learn accepts (ints, strings); they are kept in ``classes_``.

    Parameters
    ----------
    hidden_layer_sizes, activation, prior_scale, kernel, space, num_chains, num_warmup,
    num_draws, chain_layout, init, random_state, verbose
        As for :class:`BNNRegressor`.

    Attributes
    ----------
    posterior_ : symbnn.Posterior
        The draws; its labels are the indices into ``classes_``.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when ``X`` had string column names
    """

    def fit(self, X, y):
        """Sample the posterior given inputs ``X`` (n, d) and class labels ``y`` (n,).

        Returns
        -------
        self
        """
        self._validate_params()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self.classes_, labels = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"y must hold at least two classes, got 1 class ({self.classes_[0]!r})")
        out_features = 1 if len(self.classes_) == 2 else len(self.classes_)
        model = bnn(self._network(X.shape[1], out_features, "classification"),
                    prior=self._prior())
        self.posterior_ = self._sample(model, X, labels.astype(np.int32))
        return self

    def predict_proba(self, X):
        """Posterior predictive class probabilities (n, n_classes), columns as in ``classes_``."""
        probs = self._outputs(X).astype(np.float64).mean(axis=(0, 1))
        if probs.shape[1] == 1:  # one logit: P(classes_[1])
            probs = np.concatenate([1.0 - probs, probs], axis=1)
        return probs

    def predict(self, X):
        """The most probable class of every row of ``X`` under the predictive probabilities."""
        probs = self.predict_proba(X)
        return self.classes_[np.argmax(probs, axis=1)]
