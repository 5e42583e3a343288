"""Axisymmetric (r, z) calculus: radial weight, strain with the hoop term, measures.

Mesh coordinate 0 is r, coordinate 1 is z. Integrals over the body of revolution are
``2 pi * integral(f r dr dz)``; the forms here carry the weight r and leave out the constant 2 pi, which
cancels in every balance (it is put back where a physical total such as a power is needed).
"""

from __future__ import annotations

import ufl


def radius(mesh):
    """The radial coordinate r as a UFL expression."""
    return ufl.SpatialCoordinate(mesh)[0]


def strain(u, r):
    """Small-strain tensor of an axisymmetric displacement (u_r, u_z) in (r, theta, z) order."""
    grad = ufl.grad(u)
    shear = 0.5 * (grad[0, 1] + grad[1, 0])
    return ufl.as_tensor([[grad[0, 0], 0, shear], [0, u[0] / r, 0], [shear, 0, grad[1, 1]]])


def body_measure(mesh, cell_tags=None, degree: int | None = None):
    """Cell measure (to be multiplied by r in the integrands)."""
    metadata = {} if degree is None else {"quadrature_degree": degree}
    return ufl.Measure("dx", domain=mesh, subdomain_data=cell_tags, metadata=metadata)


def boundary_measure(mesh, facet_tags, degree: int | None = None):
    """Exterior-facet measure over the tagged boundary (to be multiplied by r in the integrands)."""
    metadata = {} if degree is None else {"quadrature_degree": degree}
    return ufl.Measure("ds", domain=mesh, subdomain_data=facet_tags, metadata=metadata)
