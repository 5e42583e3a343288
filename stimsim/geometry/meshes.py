"""Meshes of a study: the spec it asks for, the on-disk cache and the distributed domain."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from stimsim.core.parallel import on_root
from stimsim.geometry.axisymmetric import MeshSpec, axisymmetric_spec
from stimsim.geometry.box import box_spec
from stimsim.study.modes import GeometryModel


def mesh_spec(study) -> MeshSpec:
    """The mesh spec of a validated study: a :class:`MeshSpec` (axisymmetric) or, with
    ``geometry.model = '3d'``, a :class:`~stimsim.geometry.box.BoxMeshSpec`."""
    spec = axisymmetric_spec(study)
    if study.sample.model == GeometryModel.THREE_D:
        return box_spec(study, spec)
    return spec


def cache_dir() -> Path:
    """Mesh cache folder: ``$STIMSIM_CACHE_DIR`` or ``$XDG_CACHE_HOME/stimsim/meshes``."""
    if "STIMSIM_CACHE_DIR" in os.environ:
        return Path(os.environ["STIMSIM_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "stimsim" / "meshes"


def mesh_file(spec: MeshSpec, comm) -> Path:
    """Path of the cached ``.msh`` for ``spec``; rank 0 of ``comm`` generates it when missing."""
    path = cache_dir() / f"{spec.prefix}-{spec.key()}.msh"
    on_root(comm, "mesh cache (STIMSIM_CACHE_DIR)", _generate_once, spec, path)
    return path


def _generate_once(spec: MeshSpec, path: Path) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        partial = Path(tmp) / path.name
        spec.write_msh(partial)
        os.replace(partial, path)


def load_domain(spec: MeshSpec, comm):
    """The domain of ``spec`` distributed on ``comm`` (generated and cached on first use; made on
    rank 0 and distributed)."""
    import gmsh
    from dolfinx.io.gmsh import model_to_mesh

    path = mesh_file(spec, comm)
    if comm.rank == 0:
        gmsh.initialize(interruptible=False)
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.merge(str(path))
    try:
        data = model_to_mesh(gmsh.model, comm, 0, gdim=spec.gdim)
    finally:
        if comm.rank == 0:
            gmsh.finalize()
    return spec.domain(data.mesh, data.cell_tags, data.facet_tags)


def export_mesh(spec: MeshSpec, path: str | Path, comm) -> Path:
    """Write the mesh of ``spec`` to ``path`` in the format its suffix names (:data:`stimsim.io.files.MESH_FORMATS`:
    gmsh's own .msh, .vtu, .vtk, .xdmf with its .h5) on rank 0; nothing half-written on failure."""
    from stimsim.io.files import check_mesh_path, write_mesh

    path = check_mesh_path(path)
    on_root(comm, "--output", check_mesh_path, path, True)
    source = mesh_file(spec, comm)
    on_root(comm, "--output", write_mesh, source, path)
    return path


