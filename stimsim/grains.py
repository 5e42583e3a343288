"""Planar vertical grain boundaries of a 3D sample: their cores, space-charge layers and the grains
beyond them.

Boundary i is the vertical plane through the top-surface point p_i (m) with the unit lateral normal
n_i; s_i(x) = n_i . (x - p_i) is the signed distance (m) from it. Its *core* is the slab
|s_i| < w_i / 2, where the sample's material takes the core's property overrides. The *grain beyond*
it, s_i >= w_i / 2, may take overrides of its own. Each boundary in turn claims its core and grain
from the sample's material or the earlier boundaries' regions (a later table wins where regions
overlap). Substrate cells are never part of a region.

A space-charge layer of a boundary multiplies the stress-free equilibrium concentration c0 of every
region by 1 + A_i exp(-max(|s_i| - w_i / 2, 0) / lambda_i), the way ``[ions] space_charge_excess``
and ``space_charge_length`` do at the top surface (the factors add their excesses:
1 + sum of the excesses).

The regions do not follow the mesh (planes at any angle, no gmsh volume per core): each DG0
coefficient holds, in a cell a plane cuts, the mean of the regions' values weighted by their exact
volume fractions (:func:`region_weights`; the arithmetic mean is exact for transport along the
core). The mesh is refined through the cores and layers near the tip (:mod:`stimsim.geometry3d`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stimsim.materials import Material

#: Relative shift that makes the vertex values of a cut cell distinct in :func:`fraction_below`.
KNOT_SHIFT = 1e-4


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
    """The materials of the regions in the order of :func:`region_weights`: the sample's ``material``,
    the grains beyond, the cores."""
    beyond = tuple(b.beyond for b in boundaries if b.beyond is not None)
    return (material, *beyond, *(b.core for b in boundaries))


def region_weights(boundaries, vertices: np.ndarray) -> np.ndarray:
    """The volume fraction of each region (index into :func:`region_materials`) in each simplex:
    ``vertices`` (cells, d + 1, >= 2) in m -> (cells, regions). Each boundary in turn claims its core
    and its grain beyond from what the earlier ones left (a later table wins where regions overlap);
    exact where one plane cuts a cell, and with the part claimed taken evenly from the earlier regions
    where several do."""
    grains = [b for b in boundaries if b.beyond is not None]
    weights = np.zeros((len(vertices), 1 + len(grains) + len(boundaries)))
    weights[:, 0] = 1.0
    grain = iter(range(1, 1 + len(grains)))
    for core, b in enumerate(boundaries, start=1 + len(grains)):
        distance = b.signed_distance(vertices[..., 0], vertices[..., 1])
        below, inside = (fraction_below(distance, t) for t in (-b.width / 2, b.width / 2))
        kept = below if b.beyond is not None else 1 - (inside - below)
        weights *= kept[:, None]
        weights[:, core] += inside - below
        if b.beyond is not None:
            weights[:, next(grain)] += 1 - inside
    return weights


#: Points per radius of the polar grid over which :func:`disk_fractions` averages.
DISK_SAMPLES = 64


def disk_fractions(boundaries, centre: tuple[float, float], radius: float) -> np.ndarray:
    """The area fraction of each region (index into :func:`region_materials`) in the disk of
    ``radius`` (m) about ``centre`` (x, y) in m on the top surface, by the midpoint rule on a polar grid
    of :data:`DISK_SAMPLES` rings (the regions' order and precedence as :func:`region_weights`)."""
    rings = (np.arange(DISK_SAMPLES) + 0.5) / DISK_SAMPLES
    angles = 2 * np.pi * (np.arange(4 * DISK_SAMPLES) + 0.5) / (4 * DISK_SAMPLES)
    r, t = np.meshgrid(rings * radius, angles)
    x, y = centre[0] + r * np.cos(t), centre[1] + r * np.sin(t)
    area = r.ravel() / r.sum()  # the ring's circumference weights each point
    region = np.zeros(x.size, dtype=int)
    grain = 1
    cores = 1 + sum(b.beyond is not None for b in boundaries)
    for core, b in enumerate(boundaries, start=cores):
        distance = b.signed_distance(x.ravel(), y.ravel())
        if b.beyond is not None:
            region[distance >= b.width / 2] = grain
            grain += 1
        region[np.abs(distance) < b.width / 2] = core
    return np.bincount(region, weights=area, minlength=cores + len(boundaries))


def fraction_below(values: np.ndarray, level: float) -> np.ndarray:
    """The fraction of each simplex's volume where a linear function is below ``level``, from its
    ``values`` (cells, d + 1) at the vertices: the cumulative distribution of the function, the
    B-spline sum_i (level - v_i)_+^d / prod_(j != i) (v_j - v_i) (Curry and Schoenberg 1966), with the
    vertex values made distinct by a shift of :data:`KNOT_SHIFT` of their spread (the fraction moves by
    about as much)."""
    low, high = values.min(axis=1), values.max(axis=1)
    fraction = (high <= level).astype(float)
    cut = (low < level) & (level < high)
    knots = values[cut] + KNOT_SHIFT * (high - low)[cut, None] * np.sqrt(np.arange(values.shape[1]) + 1.0)
    degree = values.shape[1] - 1
    total = np.zeros(len(knots))
    for i in range(degree + 1):
        others = np.delete(knots, i, axis=1) - knots[:, i : i + 1]
        total += np.maximum(level - knots[:, i], 0.0) ** degree / others.prod(axis=1)
    fraction[cut] = np.clip(total, 0.0, 1.0)
    return fraction
