"""Axisymmetric (r, z) sample geometries, graded gmsh meshes and the on-disk mesh cache (shared with
the 3D meshes of :mod:`stimsim.geometry.box`: :func:`mesh_spec` picks the kind the study asks for).

The sample occupies ``0 <= r <= R``, ``-R <= z <= 0`` with the tip on the axis at the top surface
``z = 0``. Mesh coordinates are in units of :attr:`MeshSpec.length_scale` (the contact radius), so
that the physics forms work with O(1) numbers. Every radius where the surface load or the averaging
changes (contact edge, heated-disk edge, laser beam radius) is a mesh vertex, and every top-surface
segment between two such radii has its own facet tag.

Grading: the cell size grows linearly with the distance d from the contact disk,
``h(d) = h_min + (growth - 1) d`` (h_min: the smallest surface radius, laser absorption length, film
thickness or thermal length at the highest frequency, over 8), with a finer ``h_min / 4`` at every
surface radius (contact, heated-disk and beam edges, where the load jumps), cells of at
most 8 film thicknesses along a film-substrate interface (bounded aspect ratio), and, with mobile ions,
an anisotropic boundary layer on the top surface out to 10 contact radii (first cell height
chemical_length / 8, growing by 1.2 up to h_min; chemical_length / 4 around the contact edge), where
the concentration has a boundary layer of the chemical length sqrt(2 D / omega) at the highest solved
frequency (or, if thinner, an equilibrium space-charge layer's e-folding length or, under
Nernst-Planck-Poisson, the Debye length takes the chemical length's place,
:func:`stimsim.study.lengths.surface_layer_length`).
``mesh.refinement`` divides every size and ``growth - 1`` (so it halves every cell at 2). The domain extends
``mesh.domain_thermal_lengths`` thermal lengths sqrt(2 kappa / omega) at the lowest frequency.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from stimsim.geometry.domain import (
    AXIS,
    BOTTOM,
    FAR,
    FILM,
    INTERFACE,
    SUBSTRATE,
    TOP_FREE,
    TOP_SEGMENT,
    AxisymmetricDomain,
)
from stimsim.study.lengths import (
    domain_size,
    highest_frequency_thermal_length,
    surface_layer_length,
)

#: Bump when the mesher changes, so that cached meshes are regenerated.
MESHER_VERSION = 3
#: Cells per smallest surface radius at refinement 1.
CELLS_PER_RADIUS = 8.0
#: Growth rate of the cell size with the distance from the heated disk, at refinement 1.
GROWTH = 1.25
#: Largest cell along a film interface, in film thicknesses.
INTERFACE_ASPECT = 8.0
#: Cells per chemical length in the ionic surface layer (first layer: half of it), the layer's radius
#: in contact radii, and the growth ratio of its cell heights.
CELLS_PER_CHEMICAL_LENGTH, IONIC_LAYER_RADII, LAYER_RATIO = 4.0, 10.0, 1.2


@dataclass(frozen=True)
class MeshSpec:
    """Everything that determines a mesh; lengths in m. Its :meth:`key` names the cached file."""

    length_scale: float
    domain_size: float
    surface_radii: tuple[float, ...]
    film_thickness: float | None
    refinement: float
    absorption_length: float | None = None
    chemical_length: float | None = None
    thermal_length: float | None = None

    #: Prefix of the cached file name, geometric dimension and the mesher's version (in the key).
    prefix, gdim, mesher = "axisym", 2, MESHER_VERSION

    def key(self) -> str:
        text = json.dumps(asdict(self) | {"mesher": self.mesher}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def write_msh(self, path: Path) -> None:
        """Generate the mesh with gmsh and write it to ``path``."""
        write_msh(self, path)

    def domain(self, mesh, cell_tags, facet_tags) -> AxisymmetricDomain:
        """The domain of a mesh made from this spec."""
        return AxisymmetricDomain(mesh, cell_tags, facet_tags, self)

    def scaled(self, length: float) -> float:
        """A length in m expressed in mesh units."""
        return length / self.length_scale

    def disk_tags(self, radius: float) -> tuple[int, ...]:
        """Facet tags of the top-surface segments that make up the disk ``r < radius`` (m)."""
        tags = tuple(
            TOP_SEGMENT + i for i, edge in enumerate(self.surface_radii) if edge <= radius * (1 + 1e-9)
        )
        if not tags or not math.isclose(self.surface_radii[len(tags) - 1], radius, rel_tol=1e-9):
            raise ValueError(f"radius {radius:g} m is not a mesh vertex (radii {self.surface_radii})")
        return tags


def axisymmetric_spec(study) -> MeshSpec:
    """The axisymmetric :class:`MeshSpec` of a validated study (the lengths a 3D spec starts from)."""
    features = set(study.drive.surface_radii().values())
    layer = surface_layer_length(study)
    radii = features | ({IONIC_LAYER_RADII * study.tip.contact_radius} if layer else set())
    return MeshSpec(
        length_scale=study.tip.contact_radius,
        domain_size=domain_size(study),
        surface_radii=tuple(sorted(radii)),
        film_thickness=study.sample.film_thickness,
        refinement=study.mesh.refinement,
        absorption_length=study.excitation.absorption_length,
        chemical_length=layer,
        thermal_length=highest_frequency_thermal_length(study),
    )


def write_msh(spec: MeshSpec, path: Path) -> None:
    """Generate the graded axisymmetric mesh of ``spec`` with gmsh and write it to ``path``."""
    import gmsh

    gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("stimsim-axisymmetric")
        top, edge_points, interface = _build_geometry(spec)
        _set_size_field(spec, top, edge_points, interface)
        gmsh.model.mesh.generate(2)
        gmsh.write(str(path))
    finally:
        gmsh.finalize()


def _build_geometry(spec: MeshSpec):
    """Points, lines, surfaces and physical groups; returns the curves and points that grade the mesh."""
    import gmsh

    geo = gmsh.model.geo
    size = spec.scaled(spec.domain_size)
    radii = [spec.scaled(r) for r in spec.surface_radii]
    top_points = [geo.addPoint(x, 0.0, 0.0) for x in [0.0, *radii, size]]
    top = [geo.addLine(a, b) for a, b in zip(top_points[:-1], top_points[1:])]
    corner_far, corner_axis = geo.addPoint(size, -size, 0.0), geo.addPoint(0.0, -size, 0.0)
    bottom = geo.addLine(corner_far, corner_axis)
    if spec.film_thickness is None:
        far = [geo.addLine(top_points[-1], corner_far)]
        axis = [geo.addLine(corner_axis, top_points[0])]
        surfaces = {FILM: [geo.addPlaneSurface([geo.addCurveLoop([*top, *far, bottom, *axis])])]}
        interface = []
    else:
        depth = -spec.scaled(spec.film_thickness)
        far_mid, axis_mid = geo.addPoint(size, depth, 0.0), geo.addPoint(0.0, depth, 0.0)
        interface = [geo.addLine(axis_mid, far_mid)]
        far = [geo.addLine(top_points[-1], far_mid), geo.addLine(far_mid, corner_far)]
        axis = [geo.addLine(corner_axis, axis_mid), geo.addLine(axis_mid, top_points[0])]
        film = geo.addCurveLoop([*top, far[0], -interface[0], axis[1]])
        substrate = geo.addCurveLoop([interface[0], far[1], bottom, axis[0]])
        surfaces = {FILM: [geo.addPlaneSurface([film])], SUBSTRATE: [geo.addPlaneSurface([substrate])]}
    geo.synchronize()
    for tag, entities in surfaces.items():
        gmsh.model.addPhysicalGroup(2, entities, tag)
    for i, line in enumerate(top[:-1]):
        gmsh.model.addPhysicalGroup(1, [line], TOP_SEGMENT + i)
    groups = {TOP_FREE: [top[-1]], AXIS: axis, FAR: far, BOTTOM: [bottom], INTERFACE: interface}
    for tag, lines in groups.items():
        if lines:
            gmsh.model.addPhysicalGroup(1, lines, tag)
    return top[:-1], top_points[1:-1], interface


def grading_sizes(spec: MeshSpec, cells_per_radius: float = CELLS_PER_RADIUS) -> tuple[float, float, float]:
    """(h_min, slope, h_max) of the grading (mesh units): the smallest feature (surface radius,
    absorption length, film thickness, thermal length) over ``cells_per_radius`` times the refinement,
    the growth of the size with the distance, and a tenth of the domain size over the refinement."""
    features = [min(spec.surface_radii), spec.absorption_length, spec.film_thickness, spec.thermal_length]
    smallest = min(length for length in features if length)
    h_min = spec.scaled(smallest) / (cells_per_radius * spec.refinement)
    return h_min, (GROWTH - 1.0) / spec.refinement, spec.scaled(spec.domain_size) / (10.0 * spec.refinement)


def _set_size_field(spec: MeshSpec, top, edge_points, interface) -> None:
    """Linear growth of the cell size away from the heated disk, its edges, the film interface and
    the ionic surface layer. ``top`` are the top-surface segments up to the largest surface radius."""
    import gmsh

    h_min, slope, h_max = grading_sizes(spec)
    layer_radius = IONIC_LAYER_RADII * spec.length_scale if spec.chemical_length else None
    heated = [line for line, r in zip(top, spec.surface_radii) if r <= spec.length_scale * (1 + 1e-9)]
    grading = [(heated, "CurvesList", h_min), (edge_points, "PointsList", h_min / 4)]
    if interface:
        grading.append((interface, "CurvesList", INTERFACE_ASPECT * spec.scaled(spec.film_thickness) / spec.refinement))
    if spec.chemical_length:
        h_layer = spec.scaled(spec.chemical_length) / (CELLS_PER_CHEMICAL_LENGTH * spec.refinement)
        grading.append((edge_points, "PointsList", min(h_layer, h_min / 4)))
        layer = [line for line, r in zip(top, spec.surface_radii) if r <= layer_radius]
        _boundary_layer(layer, h_layer / 2, h_min)
    use_smallest([linear_growth(entities, kind, h0, slope, h_max) for entities, kind, h0 in grading])
    gmsh.option.setNumber("Mesh.Algorithm", 6)


def _boundary_layer(curves, first: float, thickness: float) -> None:
    """Anisotropic layer of cells on ``curves``: first cell height ``first``, growing by
    :data:`LAYER_RATIO` up to ``thickness`` (mesh units); the tangential size follows the size field."""
    import gmsh

    field = gmsh.model.mesh.field
    layer = field.add("BoundaryLayer")
    field.setNumbers(layer, "CurvesList", curves)
    ends = {p for c in curves for _, p in gmsh.model.getBoundary([(1, c)], oriented=False)}
    field.setNumbers(layer, "PointsList", sorted(ends))
    field.setNumber(layer, "Size", first)
    field.setNumber(layer, "Ratio", LAYER_RATIO)
    field.setNumber(layer, "Thickness", thickness)
    field.setNumber(layer, "Quads", 0)
    field.setAsBoundaryLayer(layer)


def linear_growth(entities, kind: str, h0: float, slope: float, h_max: float) -> int:
    """A gmsh size field h0 + slope * d capped at h_max, d the distance from ``entities`` (``kind``:
    'PointsList', 'CurvesList' or 'SurfacesList'; mesh units); returns its tag."""
    import gmsh

    field = gmsh.model.mesh.field
    distance = field.add("Distance")
    field.setNumbers(distance, kind, entities)
    field.setNumber(distance, "Sampling", 400)
    size = field.add("MathEval")
    field.setString(size, "F", f"min({h0!r} + {slope!r} * F{distance}, {h_max!r})")
    return size


def use_smallest(sizes: list[int]) -> None:
    """Make the smallest of the size fields ``sizes`` the mesh size, and nothing else."""
    import gmsh

    field = gmsh.model.mesh.field
    smallest = field.add("Min")
    field.setNumbers(smallest, "FieldsList", sizes)
    field.setAsBackgroundMesh(smallest)
    for option in ("MeshSizeExtendFromBoundary", "MeshSizeFromPoints", "MeshSizeFromCurvature"):
        gmsh.option.setNumber(f"Mesh.{option}", 0)


