"""stimsim: frequency-domain finite-element model of scanning thermo-ionic microscopy (STIM).

``dolfinx_solver`` is imported first: it loads the MPI and PETSc libraries of the
``dolfinx-solver-complex`` wheel before dolfinx and petsc4py are imported anywhere.
"""

import dolfinx_solver  # noqa: F401  (must precede dolfinx / petsc4py)

__version__ = "0.1.0"
