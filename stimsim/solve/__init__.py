"""Solving a study: direct, iterative, field-split and staggered solvers, the frequency-domain model, harmonic
balance and the time domain, the forward response, and the one solve path (:mod:`stimsim.solve.simulate`:
``simulate``, ``solve_frequencies``) with its typed result."""

from stimsim.solve.model import HarmonicModel
from stimsim.solve.forward import HarmonicSolution, PeriodicReport, solve_harmonics
from stimsim.solve.periodic import HarmonicBalance
from stimsim.solve.timedomain import TimeDomainModel
from stimsim.solve.direct import DirectSolver
from stimsim.solve.simulate import SimulationResult, solve_frequencies

__all__ = [
    "HarmonicModel",
    "HarmonicSolution",
    "PeriodicReport",
    "solve_harmonics",
    "HarmonicBalance",
    "TimeDomainModel",
    "DirectSolver",
    "SimulationResult",
    "solve_frequencies",
]
