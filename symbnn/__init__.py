"""symbnn: sampling Bayesian neural networks with knowledge of their parameter-space symmetries."""

from symbnn import datasets, diagnostics, models, samplers, symmetry
from symbnn.nets import MLP
from symbnn.posterior import Posterior, load
from symbnn.samplers import sample
from symbnn.symmetry import symmetry_of

__version__ = "0.1.0"

__all__ = [
    "MLP",
    "Posterior",
    "datasets",
    "diagnostics",
    "load",
    "models",
    "sample",
    "samplers",
    "symmetry",
    "symmetry_of",
]
