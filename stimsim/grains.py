"""Planar vertical grain boundaries of a 3D sample: their cores, space-charge layers and the grains
beyond them.

Boundary i is the vertical plane through the top-surface point p_i (m) with the unit lateral normal
n_i; s_i(x) = n_i . (x - p_i) is the signed distance (m) from it. Its *core* is the slab
|s_i| < w_i / 2, where the sample's material takes the core's property overrides. The *grain beyond*
it, s_i >= w_i / 2, may take overrides of its own. Regions are assigned in order: the sample's
material, then each boundary's grain beyond (a later one wins where they overlap), then each core
(cores win over grains). Substrate cells are never part of a region.

A space-charge layer of a boundary multiplies the stress-free equilibrium concentration c0 of every
region by 1 + A_i exp(-max(|s_i| - w_i / 2, 0) / lambda_i), the way ``[ions] space_charge_excess``
and ``space_charge_length`` do at the top surface (the factors add their excesses:
1 + sum of the excesses).

The regions do not follow the mesh (planes at any angle, no gmsh volume per core): each DG0
coefficient holds, in a cell the plane cuts, the mean of the regions' values over a lattice of
:data:`LATTICE_ORDER` points of the cell (the arithmetic mean of the volume fractions, exact for
transport along the core). The mesh is refined through the cores and layers near the tip
(:mod:`stimsim.geometry3d`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from stimsim.materials import Material

#: Points per cell edge of the barycentric lattice that averages a region's values over a cell.
LATTICE_ORDER = 4


@dataclass(frozen=True)
class GrainBoundary:
    """One planar vertical grain boundary: ``point`` (x, y) in m on its plane, unit lateral
    ``normal``, core ``width`` (m), the ``core`` material (the sample's with the core's overrides), the
    grain ``beyond`` it on the normal's side (None: the sample's material), and the space-charge
    excess A (1) and decay length (m) on both sides of the core."""

    point: tuple[float, float]
    normal: tuple[float, float]
    width: float
    core: Material
    beyond: Material | None = None
    space_charge_excess: float = 0.0
    space_charge_length: float | None = None

    def signed_distance(self, x, y):
        """n . ((x, y) - point) (m) of coordinates in m (numpy arrays or UFL expressions)."""
        return (x - self.point[0]) * self.normal[0] + (y - self.point[1]) * self.normal[1]

    def symmetric_about(self, axis: int) -> bool:
        """Whether the boundary with its core, layers and grain beyond is its own mirror image in the
        plane where coordinate ``axis`` (0: x, 1: y) is 0: a plane perpendicular to the mirror, or
        the mirror plane itself without a grain beyond."""
        if self.normal[axis] == 0:
            return True
        return self.normal[1 - axis] == 0 and self.point[axis] == 0 and self.beyond is None


def region_materials(material: Material, boundaries) -> tuple[Material, ...]:
    """The materials of the regions in the order of :func:`region_index`: the sample's ``material``,
    the grains beyond, the cores."""
    beyond = tuple(b.beyond for b in boundaries if b.beyond is not None)
    return (material, *beyond, *(b.core for b in boundaries))


def region_index(boundaries, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The region (index into :func:`region_materials`) of the points (x, y) in m."""
    index = np.zeros(np.shape(x), dtype=np.int16)
    grains = [b for b in boundaries if b.beyond is not None]
    for k, b in enumerate(grains, start=1):
        index[b.signed_distance(x, y) >= b.width / 2] = k
    for k, b in enumerate(boundaries, start=1 + len(grains)):
        index[np.abs(b.signed_distance(x, y)) < b.width / 2] = k
    return index


def cell_lattice(vertices: np.ndarray, order: int = LATTICE_ORDER) -> np.ndarray:
    """Interior lattice points of simplices: ``vertices`` (cells, d + 1, 3) -> points (cells, n, 3),
    the barycentric points (i_0 + 1/(d+1), ..., i_d + 1/(d+1)) / (order + 1) with sum(i) = order."""
    corners = vertices.shape[1]
    combos = [c for c in itertools.product(range(order + 1), repeat=corners) if sum(c) == order]
    weights = (np.array(combos, dtype=float) + 1.0 / corners) / (order + 1)
    return np.einsum("pv,cvx->cpx", weights, vertices)
