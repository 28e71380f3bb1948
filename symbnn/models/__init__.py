"""numpyro BNN models: priors, likelihoods, data checks and symmetry-aware parameterisations."""

from symbnn.models.asymmetric import WAsymmetric
from symbnn.models.bnn import REPARAMS, BNNModel, bnn
from symbnn.models.likelihoods import Bernoulli, Categorical, Gaussian, predict, predict_draws
from symbnn.models.priors import FanInNormalPrior, NormalPrior
from symbnn.models.validation import validate_data

__all__ = [
    "REPARAMS",
    "BNNModel",
    "Bernoulli",
    "Categorical",
    "FanInNormalPrior",
    "Gaussian",
    "NormalPrior",
    "WAsymmetric",
    "bnn",
    "predict",
    "predict_draws",
    "validate_data",
]
