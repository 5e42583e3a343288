"""Pure UFL form builders, one module per physics; no PETSc state lives here.

All forms are written in the scaled (dimensionless) variables of :mod:`stimsim.physics.scaling` on a
:mod:`stimsim.domain` domain (its integration weight, measures and strain), so that one set of forms
serves the axisymmetric (r, z) and the Cartesian domains.
"""
