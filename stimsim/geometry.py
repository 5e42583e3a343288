"""Axisymmetric (r, z) sample geometries, graded gmsh meshes and the on-disk mesh cache.

The sample occupies ``0 <= r <= R``, ``-R <= z <= 0`` with the tip on the axis at the top surface
``z = 0``. Mesh coordinates are in units of :attr:`MeshSpec.length_scale` (the contact radius), so
that the physics forms work with O(1) numbers. Every radius where the surface load or the averaging
changes (contact edge, heated-disk edge, laser beam radius) is a mesh vertex, and every top-surface
segment between two such radii has its own facet tag.

Grading: the cell size grows linearly with the distance d from the heated disk,
``h(d) = h_min + (growth - 1) d`` (h_min: the smallest surface radius or laser absorption length over
8), with a finer ``h_min / 4`` at the disk edges (where the heat flux
jumps) and ``film_thickness / 4`` at a film-substrate interface. ``mesh.refinement`` divides
``h_min`` and ``growth - 1`` (so it halves every cell at 2). The domain extends
``mesh.domain_thermal_lengths`` thermal lengths sqrt(2 kappa / omega) at the lowest frequency.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from stimsim.errors import InputError

#: Cell tags.
FILM, SUBSTRATE = 1, 2
#: Facet tags. Top-surface segment i (from radius i-1, or the axis, to radius i) is TOP_SEGMENT + i;
#: the free top surface beyond the last radius is TOP_FREE.
TOP_FREE, AXIS, FAR, BOTTOM, INTERFACE, TOP_SEGMENT = 1, 2, 3, 4, 5, 10

#: Bump when the mesher changes, so that cached meshes are regenerated.
MESHER_VERSION = 1
#: Cells per smallest surface radius at refinement 1.
CELLS_PER_RADIUS = 8.0
#: Growth rate of the cell size with the distance from the heated disk, at refinement 1.
GROWTH = 1.25
#: Domain radius at least this many times the largest surface radius.
MIN_DOMAIN_PER_RADIUS = 200.0


@dataclass(frozen=True)
class MeshSpec:
    """Everything that determines a mesh; lengths in m. Its :meth:`key` names the cached file."""

    length_scale: float
    domain_size: float
    surface_radii: tuple[float, ...]
    film_thickness: float | None
    refinement: float
    absorption_length: float | None = None

    def key(self) -> str:
        text = json.dumps(asdict(self) | {"mesher": MESHER_VERSION}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

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


def lowest_frequency_thermal_length(study) -> float:
    """Largest thermal length sqrt(2 kappa / omega) (m) of the study's materials and frequencies."""
    omega = 2 * math.pi * min(study.excitation.frequencies)
    kappa = max(m.thermal_diffusivity for m in study.sample.materials())
    return math.sqrt(2 * kappa / omega)


def domain_size(study) -> float:
    """Domain radius (= depth) in m: explicit ``mesh.domain_size`` or the thermal-length rule."""
    if study.mesh.domain_size is not None:
        return study.mesh.domain_size
    from stimsim.config import surface_feature_radii

    largest = max(surface_feature_radii(study).values())
    thermal = study.mesh.domain_thermal_lengths * lowest_frequency_thermal_length(study)
    return max(thermal, MIN_DOMAIN_PER_RADIUS * largest)


def mesh_spec(study) -> MeshSpec:
    """The :class:`MeshSpec` of a validated study."""
    from stimsim.config import surface_feature_radii

    radii = sorted(set(surface_feature_radii(study).values()))
    return MeshSpec(
        length_scale=study.tip.contact_radius,
        domain_size=domain_size(study),
        surface_radii=tuple(radii),
        film_thickness=study.sample.film_thickness,
        refinement=study.mesh.refinement,
        absorption_length=study.excitation.absorption_length,
    )


def cache_dir() -> Path:
    """Mesh cache folder: ``$STIMSIM_CACHE_DIR`` or ``$XDG_CACHE_HOME/stimsim/meshes``."""
    if "STIMSIM_CACHE_DIR" in os.environ:
        return Path(os.environ["STIMSIM_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "stimsim" / "meshes"


def mesh_file(spec: MeshSpec, comm) -> Path:
    """Path of the cached ``.msh`` for ``spec``; rank 0 of ``comm`` generates it when missing."""
    path = cache_dir() / f"axisym-{spec.key()}.msh"
    if comm.rank == 0 and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            partial = Path(tmp) / path.name
            write_msh(spec, partial)
            os.replace(partial, path)
    comm.barrier()
    return path


def write_msh(spec: MeshSpec, path: Path) -> None:
    """Generate the graded axisymmetric mesh of ``spec`` with gmsh and write it to ``path``."""
    import gmsh

    gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("stimsim-axisymmetric")
        heated_curves, edge_points, interface = _build_geometry(spec)
        _set_size_field(spec, heated_curves, edge_points, interface)
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


def _set_size_field(spec: MeshSpec, heated_curves, edge_points, interface) -> None:
    """Linear growth of the cell size away from the heated disk, its edges and the film interface."""
    import gmsh

    field = gmsh.model.mesh.field
    slope = (GROWTH - 1.0) / spec.refinement
    smallest = min(spec.surface_radii + ((spec.absorption_length,) if spec.absorption_length else ()))
    h_min = spec.scaled(smallest) / (CELLS_PER_RADIUS * spec.refinement)
    h_max = spec.scaled(spec.domain_size) / 10.0
    grading = [(heated_curves, "CurvesList", h_min), (edge_points, "PointsList", h_min / 4)]
    if interface:
        grading.append((interface, "CurvesList", spec.scaled(spec.film_thickness) / (4 * spec.refinement)))
    sizes = []
    for entities, kind, h0 in grading:
        distance = field.add("Distance")
        field.setNumbers(distance, kind, entities)
        field.setNumber(distance, "Sampling", 400)
        size = field.add("MathEval")
        field.setString(size, "F", f"min({h0!r} + {slope!r} * F{distance}, {h_max!r})")
        sizes.append(size)
    smallest = field.add("Min")
    field.setNumbers(smallest, "FieldsList", sizes)
    field.setAsBackgroundMesh(smallest)
    for option in ("MeshSizeExtendFromBoundary", "MeshSizeFromPoints", "MeshSizeFromCurvature"):
        gmsh.option.setNumber(f"Mesh.{option}", 0)
    gmsh.option.setNumber("Mesh.Algorithm", 6)


@dataclass
class Domain:
    """A distributed mesh with its cell and facet tags and the spec it was made from."""

    mesh: object
    cell_tags: object
    facet_tags: object
    spec: MeshSpec


def load_domain(spec: MeshSpec, comm) -> Domain:
    """The dolfinx mesh of ``spec`` distributed on ``comm`` (generated and cached on first use)."""
    import gmsh
    from dolfinx.io.gmsh import model_to_mesh

    path = mesh_file(spec, comm)
    if comm.rank == 0:
        gmsh.initialize(interruptible=False)
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.merge(str(path))
    try:
        data = model_to_mesh(gmsh.model, comm, 0, gdim=2)
    finally:
        if comm.rank == 0:
            gmsh.finalize()
    return Domain(mesh=data.mesh, cell_tags=data.cell_tags, facet_tags=data.facet_tags, spec=spec)


def export_mesh(spec: MeshSpec, path: str | Path, comm) -> Path:
    """Write the mesh of ``spec`` in any meshio format chosen by the suffix of ``path`` (rank 0)."""
    import meshio

    source = mesh_file(spec, comm)
    path = Path(path)
    if comm.rank == 0:
        try:
            meshio.write(path, meshio.read(source))
        except (KeyError, meshio.WriteError) as err:
            raise InputError("OUTPUT", f"cannot write a mesh to {str(path)!r}: {err}") from None
    comm.barrier()
    return path
