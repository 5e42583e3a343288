"""Parameter sweeps over MPI: sweep definitions and samplers, groups of ranks with dynamic load balancing, and a
crash-safe result store."""

from stimsim.hpc.sampling import Sweep, load_sweep
from stimsim.hpc.store import Store, read_store, export_csv
from stimsim.hpc.sweep import run_sweep

__all__ = ["Sweep", "load_sweep", "Store", "read_store", "export_csv", "run_sweep"]
