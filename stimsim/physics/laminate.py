"""The transport tensor of a cell cut into parallel layers (a laminate): the coefficients of the
regions conduct in parallel along the layers and in series across them, so the effective tensor is
K = k_par (I - n n^T) + k_perp n n^T, k_par the arithmetic and k_perp the harmonic volume-fraction mean
of the layers' values and n the unit normal of the layers (Wiener 1912; G. W. Milton, The Theory of
Composites, Cambridge University Press 2002, ch. 9). Used for the cells that grain-boundary planes cut
(:mod:`stimsim.study.grains`, docs/theory/physics.md 'Grain boundaries'); the coefficients themselves are
the model's cell-wise fields."""

from __future__ import annotations

import ufl


def apply(along, across, normal, vector):
    """K ``vector`` for the uniaxial tensor K = ``along`` (I - n n^T) + ``across`` n n^T with the real
    unit ``normal`` n (a zero normal: the isotropic ``along``): along v + (across - along) (n . v) n
    (UFL scalars for the coefficients, UFL vectors for n and v)."""
    return along * vector + (across - along) * ufl.dot(normal, vector) * normal
