"""Virtual experiments: the protocols an STIM user runs (resonance sweeps, DC and force series, modulation
loops, line scans and maps) and the tables the AFM would record."""

from stimsim.experiments.modulation import modulation_loop
from stimsim.experiments.protocols import Table
from stimsim.experiments.run import check_experiments, run_experiments

__all__ = ["Table", "modulation_loop", "check_experiments", "run_experiments"]
