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

Grading (same spirit as 2D): the cell size grows linearly with the distance d from the heated disk,
``h(d) = h_min + (growth - 1) d`` with h_min the smallest feature over :data:`CELLS_PER_RADIUS`; each
surface circle of radius r where the load or the averaging changes is resolved by cells of r /
:data:`CELLS_PER_CIRCLE` (r / :data:`CELLS_PER_CONTACT_EDGE` at the contact edge of a mesh with a graded
ionic layer, where the second-order ionic sources concentrate). With mobile ions the concentration has
a boundary layer of the chemical length under the top surface (docs/developer/numerics.md, 'Model and
numerics (as implemented)'). Where the chemical length is below the contact cells it is resolved by a
graded surface layer (:func:`layer_heights`): the top face is meshed at ``z = -t`` and extruded up to
z = 0 in structured layers (prisms split into tetrahedra), from chemical_length /
:data:`LAYER_CELLS_PER_CHEMICAL_LENGTH` at the surface growing by :data:`LAYER_GROWTH` up to the contact
cells, coarse laterally (the top face's cells), so that the layer costs a number of layers that grows
with ln(a / chemical_length), not cells of the chemical length over the whole heated region.
Otherwise (a chemical length at least the contact cells) the top surface inside the ionic-layer radius
gets isotropic cells of chemical_length / :data:`CELLS_PER_CHEMICAL_LENGTH`. A film interface gets no
size of its own (see :func:`_set_size_field`).
Grain boundaries (:mod:`stimsim.study.grains`; they do not cut the mesh) refine it through their cores and
space-charge layers near the tip: cells of min(width, chemical length) / :data:`CELLS_PER_CORE` (or layer
length / :data:`CELLS_PER_LAYER` if smaller) at the core where it passes through or beside the heated
disk (the layer length: the prescribed decay length, or an equilibrium layer's e-folding length at the
core, :func:`stimsim.study.lengths.boundary_layer_length`), growing at the same rate with the distance
from the core plus the distance from the heated disk (logarithmic cost in the distance from the tip).
They are below the contact-edge cells (a / :data:`CELLS_PER_CONTACT_EDGE` with a graded layer) when
min(width, chemical length) < a/3, so they win beside the disk (a 2 nm core at a = 20 nm and the default
refinement 0.45: 1.1 nm against 3.7 nm), and the graded layer's floor, meshed with them, carries them up
through the layer, whose lateral cells are the floor's. (With one cell across the core they lost to the
contact-edge cells beside the disk once the core was wider than a/12, and left the mesh unchanged.)
A mirror plane through the tip is used only if every boundary is its own mirror image in it
(:meth:`stimsim.study.grains.GrainBoundary.symmetric_about`).
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
MESHER_3D_VERSION = 4
#: Cells per smallest feature at the contact, at refinement 1 (coarser than 2D: cells are volumes).
CELLS_PER_RADIUS = 4.0
#: Cells per radius along each surface circle (contact and heated-disk edges, where the load jumps).
CELLS_PER_CIRCLE = 8.0
#: Cells per chemical length on the top surface inside the ionic-layer radius, where there is no graded layer.
CELLS_PER_CHEMICAL_LENGTH = 2.0
#: Cells across a grain-boundary core (its width, or the chemical length if shorter), and per length of its
#: space-charge layer, at refinement 1. Measured on the ceria sample of studies/ceria_3d.toml (2 nm core,
#: default refinement 0.45, tip centred on the core; errors of the complex u2 against 8 cells): 1, 2, 4
#: cells give 3.1 %, 0.84 %, 0.43 % with a core of 100 times the diffusivity, 1.75 %, 1.69 %, 0.26 % with a
#: blocking one (D/100), at 33k, 36k, 47k DOFs (72k with 8); with the laminate tensor in the cut cells
#: (stimsim.physics.laminate) 0.88 %, 0.48 %, 0.15 % and 0.44 %, 0.24 %, 0.04 % (docs/validation/verification.md, 'Grain boundaries').
CELLS_PER_CORE, CELLS_PER_LAYER = 4.0, 2.0
#: Graded ionic surface layer (:func:`layer_heights`): layers per chemical length at the surface (at
#: refinement 1), the growth ratio of the layer heights and the fewest layers worth extruding. Measured
#: (SDC, a = 20 nm, 20 kHz, chemical length a/100, refinement 0.4, against the axisymmetric model; the
#: layer then spanned the whole top face): a growth of 2 instead of 1.5 takes 12 layers to 7 and the DOFs
#: from 94.6k to 61.0k at the same u2 error (2.25 %, 2.27 %); a first height half as large changes u2 by
#: 0.01 % (docs/validation/verification.md, '3D defaults').
LAYER_CELLS_PER_CHEMICAL_LENGTH, LAYER_GROWTH, MIN_LAYERS = 4.0, 2.0, 2
#: Cells per radius along the contact edge of a mesh with a graded ionic layer: the second-order
#: ionic sources concentrate there. Measured as above: u2 2.27 % with 8 (61.0k DOFs), 0.78 % with 12
#: (66.5k), 0.42 % with 16 (74.1k); with the layer inside the ionic-layer radius only (the pocket of
#: :func:`_build_box`), 12: u2 0.84 % at 58.3k DOFs.
CELLS_PER_CONTACT_EDGE = 12.0
#: Triangles of a surface per (1/h^2) of area (equilateral triangles of side h).
TRIANGLES_PER_AREA = 4 / np.sqrt(3)
#: Smallest accepted ratio of a grain boundary's cells (core width / CELLS_PER_CORE, layer length /
#: CELLS_PER_LAYER) to the cells at the contact (:func:`contact_cell`): below it the boundary's
#: refinement multiplies the mesh. Measured on studies/grain_boundary_3d.toml at refinement 0.35 (20 nm
#: contact, contact cells of 14 nm) with one cell across the core: 1 024 cells with a 2 nm core, 1 674 at
#: 0.2 nm (cell ratio 1/25), 6 207 at 20 pm (1/250), 37 782 at 1 pm (1/5000).
MIN_BOUNDARY_CELL_RATIO = 0.01
#: P2 nodes per unit of each term of :func:`_node_terms` (:func:`estimated_nodes`): the volume integral of
#: 1/h^3, the integrals of 1/h^2 over the top face and over the mirror planes, and the layer's triangles
#: times its layers. Least-squares fit (relative errors) to 14 gmsh meshes of 3 600-374 000 nodes: SDC at
#: sqrt(D/omega) = 0.01, 0.1, 1 a, a = 5-50 nm, the ceria case (sqrt(D/omega) = a/5) centred, on an axis and
#: off both, quarter, half and whole boxes at refinement 0.45-0.75, studies/centred_3d.toml at refinements
#: 0.75, 1.5 and 3 (374 095 nodes, the mesh of tests/test_cli.py's refusal); all within 10 %
#: (docs/developer/performance.md, '3D solvers'). Below about 3 000 nodes it underestimates (23 % at 1 700).
NODES_FIT = (4.39, 10.9, 9.31, 8.36)


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
    ``spec``: :data:`NODES_FIT` times the terms of :func:`_node_terms`. Grain-boundary planes are not
    counted (their refinement is bounded by :data:`MIN_BOUNDARY_CELL_RATIO`)."""
    return float(np.dot(NODES_FIT, _node_terms(spec)))


def _node_terms(spec: BoxMeshSpec) -> tuple[float, float, float, float]:
    """The terms of :func:`estimated_nodes`, in mesh units, h the size field of :func:`_set_size_field`
    about the tip (:func:`_size_at`, a function of the distance from the tip's axis and the depth): the
    integral of 1/h^3 over the meshed box (each circle about the axis counted by the fraction of it inside
    the box), of 1/h^2 over its top face and over its mirror planes (which pass through the tip's axis and
    the finest cells), and the triangles of the graded layer's top face (:data:`TRIANGLES_PER_AREA` over
    h^2, inside its radius) times its layers."""
    h_min = grading_sizes(spec, CELLS_PER_RADIUS)[0]
    size = spec.scaled(spec.domain_size)
    rho, d_rho = _cells(h_min / 100, 2 * size)
    depth, d_depth = _cells(h_min / 100, size)
    ring = 2 * np.pi * rho * d_rho * _inside(spec, rho)
    volume = float(ring @ _size_at(spec, rho[:, None], depth[None, :]) ** -3.0 @ d_depth)
    surface = _size_at(spec, rho, 0.0) ** -2.0
    mirrors = sum(_plane_integral(spec, extent) for extent in _mirror_extents(spec))
    layers = len(layer_heights(spec))
    inside = rho <= _layer_radius(spec) if layers else np.zeros(rho.shape, bool)
    triangles = TRIANGLES_PER_AREA * layers * float(ring[inside] @ surface[inside])
    return volume, float(ring @ surface), mirrors, triangles


def _mirror_extents(spec: BoxMeshSpec) -> list[float]:
    """How far (mesh units) each mirror plane of the box reaches on either side of the tip's axis, along
    the plane's top edge (one entry per side)."""
    size = spec.scaled(spec.domain_size)
    tip = spec.scaled_tip_position
    extents = []
    for name in spec.mirrors:
        along = 1 - MIRRORS[name][1]  # the plane x = 0 runs along y, and y = 0 along x
        low = 0.0 if ("x", "y")[along] in spec.mirrors else -size
        extents += [size - tip[along], tip[along] - low]
    return [e for e in extents if e > 0]


def _plane_integral(spec: BoxMeshSpec, extent: float) -> float:
    """The integral of 1/h^2 over a vertical plane through the tip's axis, from the axis out to ``extent``
    and down to the box's depth (mesh units)."""
    h_min = grading_sizes(spec, CELLS_PER_RADIUS)[0]
    along, d_along = _cells(h_min / 100, extent)
    depth, d_depth = _cells(h_min / 100, spec.scaled(spec.domain_size))
    return float(d_along @ _size_at(spec, along[:, None], depth[None, :]) ** -2.0 @ d_depth)


def _size_at(spec: BoxMeshSpec, rho, depth) -> np.ndarray:
    """The size field of :func:`_set_size_field` (mesh units) at the distance ``rho`` from the tip's
    axis and the ``depth`` below the top surface (mesh units, arrays that broadcast)."""
    _, slope, h_max = grading_sizes(spec, CELLS_PER_RADIUS)
    sizes = []
    for kind, radius, h0 in _surface_sizes(spec):
        lateral = np.maximum(rho - radius, 0) if kind == "disk" else rho - radius
        sizes.append(h0 + slope * np.hypot(lateral, depth))
    return np.minimum(np.min(np.broadcast_arrays(*sizes), axis=0), h_max)


def _surface_sizes(spec: BoxMeshSpec) -> list[tuple[str, float, float]]:
    """The sources of the size field about the tip, as (kind, radius, size) in mesh units: 'disk' (the
    disk of that radius on the top surface) or 'circle' (its edge), each growing at the grading's slope
    from that size (:func:`_set_size_field`)."""
    h_min = grading_sizes(spec, CELLS_PER_RADIUS)[0]
    radii = [spec.scaled(r) for r in spec.surface_radii]
    layered = bool(layer_heights(spec))
    sources = [("disk", max(r for r in radii if r <= 1 + 1e-9), h_min)]
    for r in radii:
        cells = CELLS_PER_CONTACT_EDGE if layered and r <= 1 + 1e-9 else CELLS_PER_CIRCLE
        sources.append(("circle", r, r / (cells * spec.refinement)))
    if spec.chemical_length and not layered:
        h_layer = spec.scaled(spec.chemical_length) / (CELLS_PER_CHEMICAL_LENGTH * spec.refinement)
        sources.append(("disk", max(r for r in radii if r <= IONIC_LAYER_RADII * (1 + 1e-9)), h_layer))
    return sources


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


def _build_box(spec: BoxMeshSpec) -> list[list[int]]:
    """The box (a film and a substrate box with a film), the surface disks fragmented into its top
    face, with ions and a short chemical length the graded layer (:func:`_graded_layer`), and the physical
    groups. Returns, per surface radius, the surfaces of the annulus inside it (innermost first) that the
    mesh starts from: on the top face, or for the layer's radii on its floor (extruded to the top face)."""
    import gmsh

    occ = gmsh.model.occ
    size = spec.scaled(spec.domain_size)
    low = [0.0 if name in spec.mirrors else -size for name in MIRRORS]
    depths = [0.0, -size] if spec.film_thickness is None else [0.0, -spec.scaled(spec.film_thickness), -size]
    boxes = [occ.addBox(low[0], low[1], bottom, size - low[0], size - low[1], top - bottom)
             for top, bottom in zip(depths[:-1], depths[1:])]
    heights = layer_heights(spec)
    level, pocket = -sum(heights), _layer_radius(spec) if heights else 0.0
    x, y = spec.scaled_tip_position
    if heights:  # the layer's place: a cylindrical pocket under the top face
        cylinder = occ.addCylinder(x, y, level, 0, 0, -level, pocket)
        boxes = [v for _, v in occ.cut([(3, boxes[0])], [(3, cylinder)])[0]] + boxes[1:]
    disks = [occ.addDisk(x, y, level if r <= pocket else 0.0, r, r) for r in map(spec.scaled, spec.surface_radii)]
    occ.fragment([(3, v) for v in boxes], [(2, d) for d in disks])
    occ.synchronize()
    occ.remove([(2, s) for _, s in gmsh.model.getEntities(2) if not len(gmsh.model.getAdjacencies(2, s)[0])], recursive=True)
    occ.synchronize()
    if heights:
        _graded_layer([s for surfaces in _annuli(spec, level) for s in surfaces], heights, level)
    sources = [inner if r <= pocket else top for r, inner, top in
               zip(map(spec.scaled, spec.surface_radii), _annuli(spec, level), _annuli(spec, 0.0))]
    for tag, volumes in _classify_volumes(spec).items():
        gmsh.model.addPhysicalGroup(3, volumes, tag)
    top = _annuli(spec, 0.0)
    for i, surfaces in enumerate(top):
        gmsh.model.addPhysicalGroup(2, surfaces, TOP_SEGMENT + i)
    for tag, surfaces in _classify_faces(spec, {s for surfaces in top for s in surfaces}).items():
        if surfaces:
            gmsh.model.addPhysicalGroup(2, surfaces, tag)
    return sources


def layer_heights(spec: BoxMeshSpec) -> tuple[float, ...]:
    """Heights (mesh units, the top one first) of the graded surface layer of a 3D ionic mesh: from
    chemical_length / (:data:`LAYER_CELLS_PER_CHEMICAL_LENGTH` refinement), growing by :data:`LAYER_GROWTH`
    while below the cells at the contact (:func:`grading_sizes`' h_min) and while the layer stays within
    half the film; () without ions or when fewer than :data:`MIN_LAYERS` fit (the isotropic cells of the
    ionic layer resolve the chemical length)."""
    if not spec.chemical_length:
        return ()
    h_min = grading_sizes(spec, CELLS_PER_RADIUS)[0]
    cap = spec.scaled(spec.film_thickness) / 2 if spec.film_thickness else np.inf
    height = spec.scaled(spec.chemical_length) / (LAYER_CELLS_PER_CHEMICAL_LENGTH * spec.refinement)
    heights = []
    while height < h_min and sum(heights) + height <= cap:
        heights.append(height)
        height *= LAYER_GROWTH
    return tuple(heights) if len(heights) >= MIN_LAYERS else ()


def _layer_radius(spec: BoxMeshSpec) -> float:
    """Radius (mesh units) of the graded layer: the largest surface radius within the ionic-layer radius."""
    return max(r for r in map(spec.scaled, spec.surface_radii) if r <= IONIC_LAYER_RADII * (1 + 1e-9))


def _graded_layer(floor: list[int], heights, level: float) -> None:
    """Fill the pocket above the ``floor`` surfaces (at height ``level``) by extruding them up to the top
    face z = 0 in structured layers of ``heights`` (top first, mesh units), and merge the layer's side
    with the pocket's wall (the structured layers survive the merge)."""
    import gmsh

    occ = gmsh.model.occ
    fractions = np.cumsum(heights[::-1]) / sum(heights)
    occ.extrude([(2, s) for s in floor], 0, 0, -level, numElements=[1] * len(heights), heights=list(fractions))
    occ.synchronize()
    occ.fragment(gmsh.model.getEntities(3), [])
    occ.synchronize()


def _annuli(spec: BoxMeshSpec, height: float) -> list[list[int]]:
    """Per surface radius, the flat surfaces at ``height`` (mesh units) whose farthest point from the
    tip's axis is that radius: the annulus inside it (empty where the radius lies at another height)."""
    import gmsh

    radii = [spec.scaled(r) for r in spec.surface_radii]
    found = [[] for _ in radii]
    x, y = spec.scaled_tip_position
    tolerance = 1e-6 * spec.scaled(spec.domain_size)
    for _, s in gmsh.model.getEntities(2):
        x0, y0, z0, x1, y1, z1 = gmsh.model.getBoundingBox(2, s)
        if abs(z0 - height) > tolerance or abs(z1 - height) > tolerance:
            continue
        extent = max(abs(x0 - x), abs(x1 - x), abs(y0 - y), abs(y1 - y))
        for i, r in enumerate(radii):
            if abs(extent - r) < 1e-6 * r + tolerance:
                found[i].append(s)
    return found


def _classify_volumes(spec: BoxMeshSpec) -> dict[int, list[int]]:
    """Cell tag -> volumes: the film (or the half-space) above the film's depth, the substrate below."""
    import gmsh

    bottom = -spec.scaled(spec.film_thickness) if spec.film_thickness else -np.inf
    tolerance = 1e-6 * spec.scaled(spec.domain_size)
    groups = {FILM: [], SUBSTRATE: []}
    for _, v in gmsh.model.getEntities(3):
        groups[FILM if gmsh.model.getBoundingBox(3, v)[2] > bottom - tolerance else SUBSTRATE].append(v)
    return {tag: volumes for tag, volumes in groups.items() if volumes}


def _classify_faces(spec: BoxMeshSpec, annuli: set[int]) -> dict[int, list[int]]:
    """Facet tag -> surfaces of the faces that are not top-surface ``annuli``, by their plane: the sample's
    boundary faces and the film interface (faces inside the sample elsewhere are not tagged)."""
    import gmsh

    size = spec.scaled(spec.domain_size)
    tolerance = 1e-6 * size
    interface = -spec.scaled(spec.film_thickness) if spec.film_thickness else None
    groups = {TOP_FREE: [], BOTTOM: [], INTERFACE: [], FAR: [], **{tag: [] for tag, _ in MIRRORS.values()}}
    for _, s in gmsh.model.getEntities(2):
        low, high = np.split(np.array(gmsh.model.getBoundingBox(2, s)), 2)
        flat = high[2] - low[2] < tolerance
        at_interface = flat and interface is not None and abs(high[2] - interface) < tolerance
        if s in annuli or len(gmsh.model.getAdjacencies(2, s)[0]) > 1 and not at_interface:
            continue
        if flat:
            tag = TOP_FREE if abs(high[2]) < tolerance else BOTTOM if abs(high[2] + size) < tolerance else INTERFACE
        else:
            on_mirror = [tag for name, (tag, axis) in MIRRORS.items()
                         if name in spec.mirrors and abs(high[axis]) < tolerance]
            tag = on_mirror[0] if on_mirror else FAR
        groups[tag].append(s)
    return groups


def _set_size_field(spec: BoxMeshSpec, annuli: list[list[int]]) -> None:
    """Linear growth of the cell size away from the sources of :func:`_surface_sizes` (the heated disk,
    the surface circles and, with ions and no graded layer, the top surface inside the ionic-layer
    radius; ``annuli`` the top-face surfaces between the surface radii) and the grain-boundary planes. A
    film interface has no size of its own (unlike 2D, where cells of 8 film thicknesses along it cost a
    line of cells: in 3D they would fill its whole area); its cells grow with the distance from the
    contact and become flat far away."""
    import gmsh

    _, slope, h_max = grading_sizes(spec, CELLS_PER_RADIUS)
    radii = [spec.scaled(r) for r in spec.surface_radii]
    heated = [s for r, surfaces in zip(radii, annuli) if r <= 1 + 1e-9 for s in surfaces]
    sizes = []
    for kind, radius, h0 in _surface_sizes(spec):
        if kind == "disk":
            entities = [s for r, surfaces in zip(radii, annuli) if r <= radius * (1 + 1e-9) for s in surfaces]
            sizes.append(linear_growth(entities, "SurfacesList", h0, slope, h_max))
        else:
            arcs = _circle(spec, annuli[radii.index(radius)], radius)
            sizes.append(linear_growth(arcs, "CurvesList", h0, slope, h_max))
    sizes += [_plane_refinement(spec, plane, heated, slope, h_max) for plane in spec.refined_planes]
    use_smallest(sizes)
    gmsh.option.setNumber("Mesh.Algorithm", 6)


def _plane_refinement(spec: BoxMeshSpec, plane: tuple[float, ...], heated: list[int], slope: float, h_max: float) -> int:
    """The size field of a grain-boundary ``plane`` (see :data:`BoxMeshSpec.refined_planes`): h0 +
    slope (distance from the core + distance from the ``heated`` surfaces), capped at ``h_max``, h0 the
    core's size (the smaller of its width and the chemical length over :data:`CELLS_PER_CORE`) or the
    layer's (mesh units); returns its tag."""
    import gmsh

    x, y, nx, ny, half_width, layer = plane
    across = min(2 * half_width, spec.chemical_length or np.inf)
    lengths = [across / CELLS_PER_CORE] + ([layer / CELLS_PER_LAYER] if layer else [])
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


def _circle(spec: BoxMeshSpec, surfaces: list[int], radius: float) -> list[int]:
    """The circular arcs of radius ``radius`` (mesh units) about the tip that bound ``surfaces``."""
    import gmsh

    centre = np.array([*spec.scaled_tip_position, 0.0])
    curves = {abs(c) for _, c in gmsh.model.getBoundary([(2, s) for s in surfaces], combined=False, oriented=False)}
    found = []
    for c in sorted(curves):
        if gmsh.model.getType(1, c) not in ("Circle", "Ellipse"):  # an OCC disk's edge is an 'Ellipse'
            continue
        middle = np.mean(gmsh.model.getParametrizationBounds(1, c))
        point = np.array(gmsh.model.getValue(1, c, [middle]))
        if abs(np.hypot(*(point - centre)[:2]) - radius) < 1e-6 * radius:
            found.append(c)
    return found
