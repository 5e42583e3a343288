"""Inversion: the re-entrant forward model with tangent-linear derivatives, measured data, weighted
least-squares fits over measurement conditions with uncertainties, the comparison of candidate models,
the Bayesian posterior, and measurement designs."""

from stimsim.inverse.forward_model import ForwardModel, Prediction, parameter_key
from stimsim.inverse.data import Data, data_from_tables, read_data
from stimsim.inverse.fit import JointModel, fit
from stimsim.inverse.results import FitResult
from stimsim.inverse.compare import Comparison, fit_models
from stimsim.inverse.posterior import posterior
from stimsim.inverse.design import Design, design

__all__ = [
    "ForwardModel", "Prediction", "parameter_key", "Data", "read_data", "data_from_tables", "JointModel", "fit",
    "FitResult", "Comparison", "fit_models", "posterior", "Design", "design",
]
