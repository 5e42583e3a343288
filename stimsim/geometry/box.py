"""3D sample geometries: a graded gmsh box under a tip anywhere on its top face, cached like the
axisymmetric meshes (:mod:`stimsim.geometry`).

The sample is the box ``-L <= x, y <= L``, ``-L <= z <= 0`` (L: the domain size of the axisymmetric
rule, :func:`stimsim.study.lengths.domain_size`), the tip at ``tip_position`` on the top face z = 0. Where
the sample is symmetric about a plane through the tip (x = 0 when the tip is at x = 0, y = 0 when it
is at y = 0) only the part ``x >= 0`` (or ``y >= 0``) is meshed: a centred tip needs a quarter, a tip
on an axis a half. Every surface radius of the axisymmetric spec (contact edge, heated-disk edge, beam
radius, ionic layer) is a circle of mesh edges around the tip (gmsh OCC disks fragmented into the
top face), and each annulus between two radii has its own facet tag as in 2D
(:data:`stimsim.geometry.domain.TOP_SEGMENT` + i).

Grading (same spirit as 2D, isotropic cells): the cell size grows linearly with the distance d from
the heated disk, ``h(d) = h_min + (growth - 1) d`` with h_min the smallest feature over
:data:`CELLS_PER_RADIUS`; each surface circle of radius r is resolved by cells of r /
:data:`CELLS_PER_CIRCLE`; with mobile ions, cells of
chemical_length / :data:`CELLS_PER_CHEMICAL_LENGTH` on the top surface out to the ionic-layer radius
(isotropic: gmsh has no 3D boundary-layer field, so a chemical length far below the contact radius
is costly). A film interface gets no size of its own (see :func:`_set_size_field`).
Grain boundaries (:mod:`stimsim.study.grains`; they do not cut the mesh) refine it through their cores and
space-charge layers near the tip: cells of min(width / :data:`CELLS_PER_CORE`, layer length /
:data:`CELLS_PER_LAYER`) at the core where it passes through the heated disk (the layer length: the
prescribed decay length, or an equilibrium layer's e-folding length at the core,
:func:`stimsim.study.lengths.boundary_layer_length`), growing at the same rate
with the distance from the core plus the distance from the heated disk (logarithmic cost in the
distance from the tip). A mirror plane through the tip is used only if every boundary is its own mirror
image in it (:meth:`stimsim.study.grains.GrainBoundary.symmetric_about`).
``mesh.refinement`` divides every size and ``growth - 1``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from stimsim.core.errors import InputError
from stimsim.geometry.axisymmetric import (
    IONIC_LAYER_RADII,
    MeshSpec,
    grading_sizes,
    linear_growth,
    use_smallest,
)
from stimsim.geometry.domain import (
    BOTTOM,
    FAR,
    FILM,
    INTERFACE,
    MIRRORS,
    SUBSTRATE,
    TOP_FREE,
    TOP_SEGMENT,
    Cartesian3DDomain,
)
from stimsim.study.lengths import boundary_layer_length

#: Bump when the 3D mesher changes, so that cached meshes are regenerated.
MESHER_3D_VERSION = 2
#: Cells per smallest feature at the contact, at refinement 1 (coarser than 2D: cells are volumes).
CELLS_PER_RADIUS = 4.0
#: Cells per radius along each surface circle (contact and heated-disk edges, where the load jumps).
CELLS_PER_CIRCLE = 8.0
#: Cells per chemical length on the top surface inside the ionic-layer radius.
CELLS_PER_CHEMICAL_LENGTH = 2.0
#: Cells across a grain-boundary core, and per length of its space-charge layer, at refinement 1.
CELLS_PER_CORE, CELLS_PER_LAYER = 1.0, 2.0
#: Smallest accepted ratio of a grain boundary's cells (core width / CELLS_PER_CORE, layer length /
#: CELLS_PER_LAYER) to the cells at the contact (:func:`contact_cell`): below it the boundary's
#: refinement multiplies the mesh. Measured on studies/grain_boundary_3d.toml at refinement 0.35 (20 nm
#: contact, contact cells of 14 nm): 1 024 cells with a 2 nm core, 1 674 at 0.2 nm (ratio 1/25), 6 207
#: at 20 pm (1/250), 37 782 at 1 pm (1/5000).
MIN_BOUNDARY_CELL_RATIO = 0.01
#: P2 nodes N = A I^p of the integral I of 1/h^3 over the box (:func:`estimated_nodes`): gmsh's meshes
#: of studies/centred_3d.toml at refinements 0.75, 1.5, 2 and 3 (9 053 to 374 095 nodes; gmsh makes
#: fewer cells than the size field asks for as the sizes fall) are within 7 % of it.
NODES_FIT = (19.6, 0.895)


@dataclass(frozen=True)
class BoxMeshSpec(MeshSpec):
    """A 3D box mesh: the axisymmetric spec's lengths (m) plus the tip position (x, y) in m and the
    mirror planes ('x': the plane x = 0, 'y': y = 0) along which the box is cut."""

    tip_position: tuple[float, float] = (0.0, 0.0)
    mirrors: tuple[str, ...] = ()
    #: Grain-boundary planes that refine the mesh: (x, y, nx, ny, half width, layer length), in m
    #: (layer length 0 without a space-charge layer; :func:`stimsim.study.lengths.boundary_layer_length`).
    refined_planes: tuple[tuple[float, ...], ...] = ()

    prefix, gdim, mesher = "box", 3, MESHER_3D_VERSION

    @property
    def scaled_tip_position(self) -> tuple[float, float]:
        """The tip position in mesh units."""
        return tuple(self.scaled(p) for p in self.tip_position)

    def write_msh(self, path: Path) -> None:
        """Generate the mesh with gmsh and write it to ``path``."""
        write_box_msh(self, path)

    def domain(self, mesh, cell_tags, facet_tags) -> Cartesian3DDomain:
        """The domain of a mesh made from this spec."""
        return Cartesian3DDomain(mesh, cell_tags, facet_tags, self)


def box_spec(study, axisymmetric: MeshSpec) -> BoxMeshSpec:
    """The :class:`BoxMeshSpec` of a validated 3D study, from its axisymmetric spec."""
    position, boundaries = tuple(study.tip.position), study.sample.grain_boundaries
    mirrors = tuple(
        name for name, (_, axis) in MIRRORS.items()
        if position[axis] == 0 and all(b.symmetric_about(axis) for b in boundaries)
    )
    planes = tuple((*b.point, *b.normal, b.width / 2, boundary_layer_length(study, b) or 0.0) for b in boundaries)
    _check_boundary_cells(study, contact_cell(axisymmetric))
    return BoxMeshSpec(**asdict(axisymmetric), tip_position=position, mirrors=mirrors, refined_planes=planes)


def contact_cell(spec: MeshSpec) -> float:
    """The cell size (m) of the 3D mesh of ``spec`` at the contact (the smallest feature over
    :data:`CELLS_PER_RADIUS` times the refinement)."""
    return grading_sizes(spec, CELLS_PER_RADIUS)[0] * spec.length_scale


def _check_boundary_cells(study, cell: float) -> None:
    """Refuse a grain-boundary core or space-charge layer whose cells would be below
    :data:`MIN_BOUNDARY_CELL_RATIO` of the contact ``cell`` (m): the mesh would grow many times over."""
    refinement = study.mesh.refinement
    for i, b in enumerate(study.sample.grain_boundaries):
        layer = boundary_layer_length(study, b)
        lengths = {"width": ("core", b.width, CELLS_PER_CORE)}
        if layer:
            key = b.core_key if b.core_potential is not None else "space_charge_length"
            lengths[key] = ("space-charge layer", layer, CELLS_PER_LAYER)
        for key, (what, length, cells) in lengths.items():
            smallest = MIN_BOUNDARY_CELL_RATIO * cell * refinement * cells
            if length < smallest:
                raise InputError(
                    f"geometry.grain_boundaries[{i}].{key}", f"makes a {what} of {length:.3g} m, below the {smallest:.3g} m "
                    f"the mesh resolves here: its cells would be below {MIN_BOUNDARY_CELL_RATIO:g} of the {cell:.3g} m "
                    "cells at the contact and the mesh would grow many times over (a 1 pm core: 37 times the cells of a "
                    "2 nm one)"
                )


def estimated_nodes(spec: BoxMeshSpec) -> float:
    """Estimate, without meshing (in milliseconds), of the P2 nodes (vertices and edges) of the mesh of
    ``spec``: :data:`NODES_FIT` of the integral of 1/h^3 over the meshed part of the box, h the size
    field of :func:`_set_size_field` about the tip (heated disk, surface circles, ionic layer), which
    depends on the distance from the tip's axis and the depth only; each circle about the axis counts by
    the fraction of it inside the meshed box. Grain-boundary planes are not counted (their refinement is
    bounded by :data:`MIN_BOUNDARY_CELL_RATIO`); below about 10 000 nodes it underestimates (by 41 % at 2 000)."""
    h_min, slope, h_max = grading_sizes(spec, CELLS_PER_RADIUS)
    size = spec.scaled(spec.domain_size)
    rho, d_rho = _cells(h_min / 100, 2 * size)
    depth, d_depth = _cells(h_min / 100, size)
    rho, depth = rho[:, None], depth[None, :]
    radii = [spec.scaled(r) for r in spec.surface_radii]
    heated = max(r for r in radii if r <= 1 + 1e-9)
    sizes = [h_min + slope * np.hypot(np.maximum(rho - heated, 0), depth)]
    sizes += [r / (CELLS_PER_CIRCLE * spec.refinement) + slope * np.hypot(rho - r, depth) for r in radii]
    if spec.chemical_length:
        layer = max(r for r in radii if r <= IONIC_LAYER_RADII * (1 + 1e-9))
        h_layer = spec.scaled(spec.chemical_length) / (CELLS_PER_CHEMICAL_LENGTH * spec.refinement)
        sizes.append(h_layer + slope * np.hypot(np.maximum(rho - layer, 0), depth))
    h = np.minimum(np.min(sizes, axis=0), h_max)
    ring = 2 * np.pi * rho[:, 0] * d_rho * _inside(spec, rho[:, 0])
    factor, exponent = NODES_FIT
    return factor * float(ring @ (h**-3.0) @ d_depth) ** exponent


def _cells(first: float, last: float, count: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Midpoints and widths of ``count`` geometrically growing intervals from 0 to ``last``, the first ``first`` wide."""
    edges = np.concatenate([[0.0], np.geomspace(first, last, count)])
    return (edges[1:] + edges[:-1]) / 2, np.diff(edges)


def _inside(spec: BoxMeshSpec, rho: np.ndarray, angles: int = 720) -> np.ndarray:
    """The fraction of each circle of radius ``rho`` (mesh units) about the tip inside the meshed box."""
    size = spec.scaled(spec.domain_size)
    low = [0.0 if name in spec.mirrors else -size for name in MIRRORS]
    x0, y0 = spec.scaled_tip_position
    phi = np.linspace(0, 2 * np.pi, angles, endpoint=False)
    x, y = x0 + rho[:, None] * np.cos(phi), y0 + rho[:, None] * np.sin(phi)
    return ((x >= low[0]) & (x <= size) & (y >= low[1]) & (y <= size)).mean(axis=1)


def write_box_msh(spec: BoxMeshSpec, path: Path) -> None:
    """Generate the graded 3D mesh of ``spec`` with gmsh and write it to ``path``."""
    import gmsh

    gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("stimsim-3d")
        annuli = _build_box(spec)
        _set_size_field(spec, annuli)
        gmsh.model.mesh.generate(3)
        gmsh.write(str(path))
    finally:
        gmsh.finalize()


def _build_box(spec: BoxMeshSpec):
    """The box (a film and a substrate box with a film), the surface disks fragmented into its top
    face and the physical groups. Returns the top-surface annuli (lists of surfaces, innermost first)."""
    import gmsh

    size = spec.scaled(spec.domain_size)
    low = [0.0 if name in spec.mirrors else -size for name in MIRRORS]
    depths = [0.0, -size] if spec.film_thickness is None else [0.0, -spec.scaled(spec.film_thickness), -size]
    layers = [gmsh.model.occ.addBox(low[0], low[1], bottom, size - low[0], size - low[1], top - bottom)
              for top, bottom in zip(depths[:-1], depths[1:])]
    annuli, volumes, faces = _cut_disks(spec, layers)
    for tag, entities in zip((FILM, SUBSTRATE), volumes):
        gmsh.model.addPhysicalGroup(3, entities, tag)
    for i, surfaces in enumerate(annuli):
        gmsh.model.addPhysicalGroup(2, surfaces, TOP_SEGMENT + i)
    for tag, surfaces in _classify_faces(spec, faces).items():
        if surfaces:
            gmsh.model.addPhysicalGroup(2, surfaces, tag)
    return annuli


def _cut_disks(spec: BoxMeshSpec, layers: list[int]):
    """Fragment the surface disks around the tip into the top face of the ``layers`` (volumes) and
    drop their parts outside the box. Returns the annuli (surfaces between two radii, innermost
    first), the volumes of each layer and the other boundary surfaces."""
    import gmsh

    occ = gmsh.model.occ
    x, y = spec.scaled_tip_position
    disks = [occ.addDisk(x, y, 0.0, spec.scaled(r), spec.scaled(r)) for r in spec.surface_radii]
    _, pieces = occ.fragment([(3, v) for v in layers], [(2, d) for d in disks])
    occ.synchronize()
    dangling = [(2, s) for _, s in gmsh.model.getEntities(2) if not len(gmsh.model.getAdjacencies(2, s)[0])]
    occ.remove(dangling, recursive=True)
    occ.synchronize()
    existing = {s for _, s in gmsh.model.getEntities(2)}
    inside = [{s for dim, s in piece if dim == 2 and s in existing} for piece in pieces[len(layers):]]
    annuli = [sorted(disk - smaller) for disk, smaller in zip(inside, [set(), *inside[:-1]])]
    volumes = [[v for dim, v in piece if dim == 3] for piece in pieces[: len(layers)]]
    return annuli, volumes, existing - set().union(*inside)


def _classify_faces(spec: BoxMeshSpec, surfaces) -> dict[int, list[int]]:
    """Facet tag -> surfaces of the faces that are not top-surface annuli: by their plane."""
    import gmsh

    size = spec.scaled(spec.domain_size)
    tolerance = 1e-6 * size
    groups = {TOP_FREE: [], BOTTOM: [], INTERFACE: [], FAR: [], **{tag: [] for tag, _ in MIRRORS.values()}}
    for s in sorted(surfaces):
        box = gmsh.model.getBoundingBox(2, s)
        low, high = box[:3], box[3:]
        if high[2] - low[2] < tolerance:
            tag = TOP_FREE if abs(high[2]) < tolerance else BOTTOM if abs(high[2] + size) < tolerance else INTERFACE
        else:
            on_mirror = [tag for name, (tag, axis) in MIRRORS.items()
                         if name in spec.mirrors and abs(high[axis]) < tolerance]
            tag = on_mirror[0] if on_mirror else FAR
        groups[tag].append(s)
    return groups


def _set_size_field(spec: BoxMeshSpec, annuli: list[list[int]]) -> None:
    """Linear growth of the cell size away from the heated disk, the surface circles and (with ions)
    the top surface inside the ionic-layer radius. A film interface has no size of its own (unlike
    2D, where cells of 8 film thicknesses along it cost a line of cells: in 3D they would fill its
    whole area); its cells grow with the distance from the contact and become flat far away."""
    import gmsh

    h_min, slope, h_max = grading_sizes(spec, CELLS_PER_RADIUS)
    heated = [s for r, surfaces in zip(spec.surface_radii, annuli) if r <= spec.length_scale * (1 + 1e-9) for s in surfaces]
    grading = [(heated, "SurfacesList", h_min)]
    for r, surfaces in zip(spec.surface_radii, annuli):
        grading.append((_circles(surfaces), "CurvesList", spec.scaled(r) / (CELLS_PER_CIRCLE * spec.refinement)))
    if spec.chemical_length:
        layer_radius = IONIC_LAYER_RADII * spec.length_scale * (1 + 1e-9)
        layer = [s for r, surfaces in zip(spec.surface_radii, annuli) if r <= layer_radius for s in surfaces]
        h_layer = spec.scaled(spec.chemical_length) / (CELLS_PER_CHEMICAL_LENGTH * spec.refinement)
        grading.append((layer, "SurfacesList", h_layer))
    sizes = [linear_growth(entities, kind, h0, slope, h_max) for entities, kind, h0 in grading]
    sizes += [_plane_refinement(spec, plane, heated, slope, h_max) for plane in spec.refined_planes]
    use_smallest(sizes)
    gmsh.option.setNumber("Mesh.Algorithm", 6)


def _plane_refinement(spec: BoxMeshSpec, plane: tuple[float, ...], heated: list[int], slope: float, h_max: float) -> int:
    """The size field of a grain-boundary ``plane`` (see :data:`BoxMeshSpec.refined_planes`): h0 +
    slope (distance from the core + distance from the ``heated`` surfaces), capped at ``h_max``, h0 the
    core's or the layer's size (mesh units); returns its tag."""
    import gmsh

    x, y, nx, ny, half_width, layer = plane
    lengths = [2 * half_width / CELLS_PER_CORE] + ([layer / CELLS_PER_LAYER] if layer else [])
    h0 = spec.scaled(min(lengths)) / spec.refinement
    field = gmsh.model.mesh.field
    distance = field.add("Distance")
    field.setNumbers(distance, "SurfacesList", heated)
    field.setNumber(distance, "Sampling", 400)
    cx, cy, hw = spec.scaled(x), spec.scaled(y), spec.scaled(half_width)
    from_core = f"max(abs((x - ({cx!r})) * ({nx!r}) + (y - ({cy!r})) * ({ny!r})) - {hw!r}, 0)"
    size = field.add("MathEval")
    field.setString(size, "F", f"min({h0!r} + {slope!r} * ({from_core} + F{distance}), {h_max!r})")
    return size


def _circles(surfaces: list[int]) -> list[int]:
    """The circular arcs that bound ``surfaces``."""
    import gmsh

    curves = {abs(c) for _, c in gmsh.model.getBoundary([(2, s) for s in surfaces], combined=False, oriented=False)}
    return sorted(c for c in curves if gmsh.model.getType(1, c) == "Circle")
