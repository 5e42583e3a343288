"""Inversion: the re-entrant forward model with tangent-linear derivatives, weighted least-squares fits
over measurement conditions with uncertainties, the comparison of candidate models, and the Bayesian
posterior."""

from stimsim.inverse.forward_model import ForwardModel, Prediction, parameter_key
from stimsim.inverse.data import Data, read_data
from stimsim.inverse.fit import JointModel, fit
from stimsim.inverse.results import FitResult
from stimsim.inverse.compare import Comparison, fit_models
from stimsim.inverse.posterior import posterior

__all__ = [
    "ForwardModel", "Prediction", "parameter_key", "Data", "read_data", "JointModel", "fit", "FitResult", "Comparison",
    "fit_models", "posterior",
]
