"""The computational domain: a distributed mesh with its tags, measures and coordinates.

The physics forms (:mod:`stimsim.physics`) are written once against this interface: every integrand
carries :attr:`weight` (the radius r on an axisymmetric (r, z) domain, 1 on a Cartesian one) and the
strain comes from :meth:`strain`. :class:`AxisymmetricDomain` and :class:`Cartesian3DDomain` are the
two kinds; they share the measures, tags and boundary look-ups (:class:`_Domain`) and differ in the
coordinates, the strain, the symmetry conditions and what :meth:`integral` multiplies by.

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
#: Facet tags of the 3D mirror planes x = 0 and y = 0 (where the displacement normal to them vanishes).
MIRROR_X, MIRROR_Y = 6, 7
#: The mirror planes of a 3D domain by name, with their facet tag and the displacement component
#: normal to them.
MIRRORS = {"x": (MIRROR_X, 0), "y": (MIRROR_Y, 1)}


class _Domain:
    """What both kinds of domain share: the mesh, its tags, the measures, the top-surface disks and the
    boundary look-ups. ``spec`` is the mesh spec the mesh was made from (None for a bare mesh without
    tagged surfaces); ``quadrature_degree`` fixes the degree of the body measure (default: estimated
    per form). Subclasses set :attr:`lateral_distance`, :attr:`height`, :attr:`weight` and
    :attr:`displacement_shape`, and define :meth:`strain`, :meth:`vertical`, :meth:`symmetry_conditions`
    and :attr:`multiplicity` (the physical integral over the integral here)."""

    def __init__(self, mesh, cell_tags=None, facet_tags=None, spec=None, quadrature_degree: int | None = None):
        self.mesh, self.cell_tags, self.facet_tags, self.spec = mesh, cell_tags, facet_tags, spec
        self.quadrature_degree = quadrature_degree
        mesh.topology.create_connectivity(mesh.topology.dim - 1, mesh.topology.dim)
        metadata = {} if quadrature_degree is None else {"quadrature_degree": quadrature_degree}
        self.dx = ufl.Measure("dx", domain=mesh, subdomain_data=cell_tags, metadata=metadata)
        self.ds = ufl.Measure("ds", domain=mesh, subdomain_data=facet_tags)
        self._one = fem.Constant(mesh, 1.0 + 0j)

    @property
    def comm(self) -> MPI.Comm:
        return self.mesh.comm

    def with_spec(self, spec):
        """The same mesh described by another (e.g. stretched) spec."""
        return type(self)(self.mesh, self.cell_tags, self.facet_tags, spec, self.quadrature_degree)

    def constant(self, value: complex) -> fem.Constant:
        """A Constant on the mesh holding ``value``: a number that the mesh decides (an area, a
        normalisation) goes into a form as a Constant, not as a literal, so that the form's signature
        and its compiled code do not depend on the mesh (another tip position reuses them)."""
        return fem.Constant(self.mesh, np.complex128(value))

    def disk(self, radius: float, degree: int | None = None):
        """Facet measure of the top-surface disk (around the tip) of ``radius`` (m), whose edge must be
        a mesh edge."""
        metadata = {} if degree is None else {"quadrature_degree": degree}
        return self.ds(self.spec.disk_tags(radius), metadata=metadata)

    def top_surface(self):
        """Facet measure of the whole top surface."""
        segments = [TOP_SEGMENT + i for i in range(len(self.spec.surface_radii))]
        return self.ds((TOP_FREE, *segments))

    def integral(self, integrand) -> float:
        """The physical integral (area or volume of the whole sample, mesh units) of a weighted
        ``integrand`` (it must carry :attr:`weight` and a measure), summed over the ranks."""
        local = fem.assemble_scalar(fem.form(self._one * integrand))
        return self.multiplicity * self.comm.allreduce(local, op=MPI.SUM).real

    def facets(self, *tags: int) -> np.ndarray:
        """Local indices of the facets with any of ``tags``."""
        return np.concatenate([self.facet_tags.find(t) for t in tags]).astype(np.int32)

    def far_facets(self) -> np.ndarray:
        """Facets where the perturbations vanish (far side and bottom)."""
        return self.facets(FAR, BOTTOM)

    def substrate_cells(self) -> np.ndarray:
        """Local indices of the substrate cells (empty without a film)."""
        return self.cell_tags.find(SUBSTRATE)

    def _normal_displacement_zero(self, V, tag: int, component: int):
        """The Dirichlet condition u[component] = 0 on the facets tagged ``tag``."""
        dofs = fem.locate_dofs_topological(V.sub(component), self.mesh.topology.dim - 1, self.facets(tag))
        return fem.dirichletbc(np.complex128(0), dofs, V.sub(component))


class AxisymmetricDomain(_Domain):
    """An axisymmetric (r, z) domain: coordinate 0 is r, coordinate 1 is z. Integrals over the body of
    revolution are 2 pi times the integral of (f r dr dz); the forms carry the weight r and leave out
    the constant 2 pi, which cancels in every balance (:meth:`integral` puts it back)."""

    #: Components of the displacement.
    displacement_shape = (2,)
    #: The physical integral over the weighted integral on the (r, z) section.
    multiplicity = 2 * math.pi

    def __init__(self, mesh, cell_tags=None, facet_tags=None, spec=None, quadrature_degree: int | None = None):
        super().__init__(mesh, cell_tags, facet_tags, spec, quadrature_degree)
        x = ufl.SpatialCoordinate(mesh)
        #: Radial distance from the tip axis and height above the top surface (UFL, mesh units).
        self.lateral_distance, self.height = x[0], x[1]
        #: Integration weight of every integrand (UFL).
        self.weight = x[0]

    def strain(self, u):
        """Small-strain tensor of (u_r, u_z) in (r, theta, z) order, with the hoop strain u_r / r."""
        grad = ufl.grad(u)
        shear = 0.5 * (grad[0, 1] + grad[1, 0])
        return ufl.as_tensor([[grad[0, 0], 0, shear], [0, u[0] / self.lateral_distance, 0], [shear, 0, grad[1, 1]]])

    @staticmethod
    def vertical(u):
        """The upward (outward at the top surface) component of a displacement."""
        return u[1]

    def symmetry_conditions(self, V) -> list:
        """Dirichlet conditions of the displacement space ``V`` that the symmetry imposes: u_r = 0 on
        the axis."""
        return [self._normal_displacement_zero(V, AXIS, 0)]


class Cartesian3DDomain(_Domain):
    """A Cartesian (x, y, z) domain, z up, the tip at ``tip`` = (x, y) on the top surface z = 0 (mesh
    units; from the spec's :attr:`tip_position` when there is a spec). The mesh may be a half or a
    quarter of the sample cut along the mirror planes x = 0 and/or y = 0 (``mirrors``: 'x', 'y', from
    the spec), through which the fields are symmetric: heat and ion fluxes through them vanish (the
    natural condition) and so does the displacement normal to them (:meth:`symmetry_conditions`).
    :meth:`integral` counts the mirror images (the whole sample), so that a heat input normalised by
    it puts the right power into the part meshed."""

    #: Components of the displacement.
    displacement_shape = (3,)

    def __init__(self, mesh, cell_tags=None, facet_tags=None, spec=None, quadrature_degree: int | None = None):
        super().__init__(mesh, cell_tags, facet_tags, spec, quadrature_degree)
        self.mirrors = tuple(spec.mirrors) if spec is not None else ()
        position = spec.scaled_tip_position if spec is not None else (0.0, 0.0)
        #: The tip position (x, y) in mesh units, a Constant: the compiled forms do not depend on it.
        self.tip = fem.Constant(mesh, np.array(position, dtype=np.complex128))
        x, tip = ufl.SpatialCoordinate(mesh), self.tip
        #: Distance from the vertical line through the tip and height above the top surface (UFL, mesh
        #: units; real-typed, as the axisymmetric r is, so that it can be compared in complex mode).
        self.lateral_distance = ufl.real(ufl.sqrt((x[0] - tip[0]) ** 2 + (x[1] - tip[1]) ** 2))
        self.height = x[2]
        #: Integration weight of every integrand: 1.
        self.weight = 1
        #: Whole sample over the part meshed: 2 per mirror plane.
        self.multiplicity = 2 ** len(self.mirrors)

    @staticmethod
    def strain(u):
        """Small-strain tensor sym(grad u) in (x, y, z) order."""
        return ufl.sym(ufl.grad(u))

    @staticmethod
    def vertical(u):
        """The upward (outward at the top surface) component of a displacement."""
        return u[2]

    def symmetry_conditions(self, V) -> list:
        """Dirichlet conditions of the displacement space ``V`` that the mirror planes impose: the
        normal component vanishes on each."""
        return [self._normal_displacement_zero(V, *MIRRORS[name]) for name in self.mirrors]
