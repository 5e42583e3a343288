"""The physics, independent of any study, mesh or solver: pure UFL form builders (one module per
physics), the heating modes (drives) and semi-analytic reference solutions; no PETSc state lives here.

All forms are written in the scaled (dimensionless) variables of :mod:`stimsim.physics.scaling` on a
domain that owns its integration weight, measures and strain (:mod:`stimsim.geometry.domain`), so
that one set of forms serves the axisymmetric (r, z) and the Cartesian domains.
"""

from stimsim.physics import analytic, coupled, diffusion, drives, heat, laminate, mechanics, scaling

__all__ = ["analytic", "coupled", "diffusion", "drives", "heat", "laminate", "mechanics", "scaling"]
