"""Finite-element pieces of a model: scaled coefficients rewritable in place, the coupled forms compiled once, and
the tip averages of the fields."""

from stimsim.fem.coefficients import Coefficients
from stimsim.fem.forms import CoupledForms, build_forms
from stimsim.fem.response import TipResponse, DiskAverage

__all__ = ["Coefficients", "CoupledForms", "build_forms", "TipResponse", "DiskAverage"]
