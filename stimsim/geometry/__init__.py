"""Geometry and meshes: graded axisymmetric and 3D box meshes from a study, the on-disk mesh cache and the
distributed domain with its measures."""

from stimsim.geometry.axisymmetric import MeshSpec
from stimsim.geometry.box import BoxMeshSpec
from stimsim.geometry.domain import AxisymmetricDomain, Cartesian3DDomain
from stimsim.geometry.meshes import mesh_spec, load_domain, export_mesh

__all__ = [
    "MeshSpec",
    "BoxMeshSpec",
    "AxisymmetricDomain",
    "Cartesian3DDomain",
    "mesh_spec",
    "load_domain",
    "export_mesh",
]
