"""Inversion: the re-entrant forward model with tangent-linear derivatives, weighted least-squares fits with
uncertainties, the Bayesian posterior, and measurement designs."""

from stimsim.inverse.forward_model import ForwardModel, Prediction, parameter_key
from stimsim.inverse.data import Data, data_from_tables, read_data
from stimsim.inverse.fit import fit
from stimsim.inverse.posterior import posterior
from stimsim.inverse.design import Design, design

__all__ = [
    "ForwardModel", "Prediction", "parameter_key", "Data", "read_data", "data_from_tables", "fit", "posterior", "Design",
    "design",
]
