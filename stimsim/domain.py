"""The computational domain: a distributed mesh with its tags, measures and coordinates.

The physics forms (:mod:`stimsim.physics`) are written once against this interface: every integrand
carries :attr:`weight` (the radius r on an axisymmetric (r, z) domain, 1 on a Cartesian one) and the
strain comes from :meth:`strain`. A new kind of domain (Cartesian 3D) is a new class with the same
attributes, not new forms.

Mesh coordinates are in units of the length scale (the contact radius); the top surface is at height
0 and the sample lies below it.
"""

from __future__ import annotations

import math

import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI

#: Cell tags.
FILM, SUBSTRATE = 1, 2
#: Facet tags. Top-surface segment i (from radius i-1, or the axis, to radius i) is TOP_SEGMENT + i;
#: the free top surface beyond the last radius is TOP_FREE.
TOP_FREE, AXIS, FAR, BOTTOM, INTERFACE, TOP_SEGMENT = 1, 2, 3, 4, 5, 10


class AxisymmetricDomain:
    """An axisymmetric (r, z) domain: coordinate 0 is r, coordinate 1 is z. Integrals over the body of
    revolution are 2 pi times the integral of (f r dr dz); the forms carry the weight r and leave out
    the constant 2 pi, which cancels in every balance (:meth:`integral` puts it back).

    ``spec`` is the :class:`~stimsim.geometry.MeshSpec` the mesh was made from (None for a bare mesh
    without tagged surfaces); ``quadrature_degree`` fixes the degree of the body measure (default:
    estimated per form)."""

    #: Components of the displacement.
    displacement_shape = (2,)

    def __init__(self, mesh, cell_tags=None, facet_tags=None, spec=None, quadrature_degree: int | None = None):
        self.mesh, self.cell_tags, self.facet_tags, self.spec = mesh, cell_tags, facet_tags, spec
        mesh.topology.create_connectivity(mesh.topology.dim - 1, mesh.topology.dim)
        x = ufl.SpatialCoordinate(mesh)
        #: Radial distance from the tip axis and height above the top surface (UFL, mesh units).
        self.lateral_distance, self.height = x[0], x[1]
        #: Integration weight of every integrand (UFL).
        self.weight = x[0]
        metadata = {} if quadrature_degree is None else {"quadrature_degree": quadrature_degree}
        self.dx = ufl.Measure("dx", domain=mesh, subdomain_data=cell_tags, metadata=metadata)
        self.ds = ufl.Measure("ds", domain=mesh, subdomain_data=facet_tags)
        self._one = fem.Constant(mesh, 1.0 + 0j)

    @property
    def comm(self) -> MPI.Comm:
        return self.mesh.comm

    def with_spec(self, spec) -> AxisymmetricDomain:
        """The same mesh described by another (e.g. stretched) spec."""
        return type(self)(self.mesh, self.cell_tags, self.facet_tags, spec)

    def strain(self, u):
        """Small-strain tensor of (u_r, u_z) in (r, theta, z) order, with the hoop strain u_r / r."""
        grad = ufl.grad(u)
        shear = 0.5 * (grad[0, 1] + grad[1, 0])
        return ufl.as_tensor([[grad[0, 0], 0, shear], [0, u[0] / self.lateral_distance, 0], [shear, 0, grad[1, 1]]])

    @staticmethod
    def vertical(u):
        """The upward (outward at the top surface) component of a displacement."""
        return u[1]

    def disk(self, radius: float, degree: int | None = None):
        """Facet measure of the top-surface disk r < ``radius`` (m), which must be a mesh vertex."""
        metadata = {} if degree is None else {"quadrature_degree": degree}
        return self.ds(self.spec.disk_tags(radius), metadata=metadata)

    def top_surface(self):
        """Facet measure of the whole top surface."""
        segments = [TOP_SEGMENT + i for i in range(len(self.spec.surface_radii))]
        return self.ds((TOP_FREE, *segments))

    def integral(self, integrand) -> float:
        """The physical integral (area or volume, mesh units) of a weighted ``integrand`` (it must carry
        :attr:`weight` and a measure): 2 pi times its value here, summed over the ranks."""
        local = fem.assemble_scalar(fem.form(self._one * integrand))
        return 2 * math.pi * self.comm.allreduce(local, op=MPI.SUM).real

    def facets(self, *tags: int) -> np.ndarray:
        """Local indices of the facets with any of ``tags``."""
        return np.concatenate([self.facet_tags.find(t) for t in tags]).astype(np.int32)

    def far_facets(self) -> np.ndarray:
        """Facets where the perturbations vanish (far side and bottom)."""
        return self.facets(FAR, BOTTOM)

    def symmetry_conditions(self, V) -> list:
        """Dirichlet conditions of the displacement space ``V`` that the symmetry imposes: u_r = 0 on
        the axis."""
        dofs = fem.locate_dofs_topological(V.sub(0), self.mesh.topology.dim - 1, self.facets(AXIS))
        return [fem.dirichletbc(np.complex128(0), dofs, V.sub(0))]

    def substrate_cells(self) -> np.ndarray:
        """Local indices of the substrate cells (empty without a film)."""
        return self.cell_tags.find(SUBSTRATE)
