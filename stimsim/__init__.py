"""stimsim: frequency-domain finite-element model of scanning thermo-ionic microscopy (STIM).

The Python API in three lines::

    import stimsim
    study = stimsim.load_study("studies/default.toml")
    result = stimsim.simulate(study)

``result`` is a :class:`~stimsim.solve.simulate.SimulationResult` (its ``rows``, ``periodic``,
``validity`` and ``to_csv``); fitting codes call :class:`~stimsim.inverse.forward_model.ForwardModel`.
Diagnostics go through :mod:`logging` (logger ``"stimsim"``); the command line sets the handler.

``dolfinx_solver`` is imported first: it loads the MPI and PETSc libraries of the
``dolfinx-solver-complex`` wheel before dolfinx and petsc4py are imported anywhere. The API names are
imported on first use, so that ``import stimsim`` stays cheap for the command line.
"""

import importlib

import dolfinx_solver  # noqa: F401  (must precede dolfinx / petsc4py)

__version__ = "0.1.0"

#: The public API: name -> module that defines it.
_API = {
    "load_study": "stimsim.study.load",
    "study_from_dict": "stimsim.study.load",
    "Study": "stimsim.study.study",
    "simulate": "stimsim.solve.simulate",
    "SimulationResult": "stimsim.solve.simulate",
    "ForwardModel": "stimsim.inverse.forward_model",
    "StimsimError": "stimsim.core.errors",
    "InputError": "stimsim.core.errors",
    "SolverError": "stimsim.core.errors",
}

__all__ = [*_API, "__version__"]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'stimsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
