"""Pure UFL form builders, one module per physics; no PETSc state lives here.

All forms are written in the scaled (dimensionless) variables of :mod:`stimsim.physics.scaling` on
an axisymmetric (r, z) mesh whose coordinates are in units of the length scale.
"""
