"""Foundations every layer may use: user-facing errors, rank-0 work with collective failure, progress lines."""

from stimsim.core.errors import StimsimError, InputError, SolverError, checked_number
from stimsim.core.parallel import on_root, shared_from_root
from stimsim.core.progress import Progress

__all__ = ["StimsimError", "InputError", "SolverError", "checked_number", "on_root", "shared_from_root", "Progress"]
