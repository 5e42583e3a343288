"""Planar vertical grain boundaries of a 3D sample: their cores, space-charge layers and the grains
beyond them.

Boundary i is the vertical plane through the top-surface point p_i (m) with the unit lateral normal
n_i; s_i(x) = n_i . (x - p_i) is the signed distance (m) from it. Its *core* is the slab
|s_i| < w_i / 2, where the sample's material takes the core's property overrides. The *grain beyond*
it, s_i >= w_i / 2, may take overrides of its own. Each boundary in turn claims its core and grain
from the sample's material or the earlier boundaries' regions (a later table wins where regions
overlap). Substrate cells are never part of a region.

A prescribed space-charge layer of a boundary (a neutral species) multiplies the stress-free
equilibrium concentration c0 of every region by 1 + A_i exp(-max(|s_i| - w_i / 2, 0) / lambda_i), the
way ``[ions] space_charge_excess`` and ``space_charge_length`` do at the top surface (the factors add
their excesses: 1 + sum of the excesses). With charged species a boundary's core may instead sit at
the potential phi0_i: on both sides the equilibrium (Poisson-Boltzmann) layer of
:class:`stimsim.materials.spacecharge.SpaceChargeLayer` in the distance max(|s_i| - w_i / 2, 0) from the core's
faces, phi0_i inside the core; the layers' potentials add (:func:`layer_distances`,
:func:`overlapping_layers`).

The regions do not follow the mesh (planes at any angle, no gmsh volume per core): each DG0
coefficient holds, in a cell a plane cuts, the mean of the regions' values weighted by their exact
volume fractions (:func:`region_weights`). For the transport coefficients (thermal conductivity, ionic
diffusivities) that arithmetic mean is exact only along the planes; across them the layers conduct in
series, and a cut cell is given the effective tensor of a laminate, k_par (I - n n^T) + k_perp n n^T
with k_par the arithmetic and k_perp the harmonic volume-fraction mean and n the cutting planes' normal
(:func:`laminate_normals`, :func:`harmonic_mean`). The mesh is refined through the cores and layers near
the tip (:mod:`stimsim.geometry.box`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stimsim.materials.library import Material

#: Relative shift that makes the vertex values of a cut cell distinct in :func:`fraction_below`.
KNOT_SHIFT = 1e-4


@dataclass(frozen=True)
class GrainBoundary:
    """One planar vertical grain boundary: ``point`` (x, y) in m on its plane, unit lateral
    ``normal``, core ``width`` (m), the ``core`` material (the sample's with the core's overrides), the
    grain ``beyond`` it on the normal's side (None: the sample's material), and the space-charge
    excess A (1) and decay length (m) on both sides of the core (prescribed), or the ``core_potential``
    phi0 (V) of equilibrium layers and the ``core_charge`` Q (C/m^2) it was found from (None: phi0 given)."""

    point: tuple[float, float]
    normal: tuple[float, float]
    width: float
    core: Material
    beyond: Material | None = None
    space_charge_excess: float = 0.0
    space_charge_length: float | None = None
    core_potential: float | None = None
    core_charge: float | None = None

    @property
    def core_key(self) -> str:
        """The table key that set :attr:`core_potential` (``space_charge_potential`` or ``space_charge_charge``)."""
        return "space_charge_potential" if self.core_charge is None else "space_charge_charge"

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


#: A core more than FAST_CORE_RATIO times as diffusive as the sample whose face is within FAST_CORE_REACH
#: contact radii of the tip has a u2 that the 3D meshes have not been shown to converge to 2 %: a 2 nm core
#: 100 times as diffusive one contact radius from the tip moves u2 by 0.4, 0.95 and 1.4 % with the doublings
#: of the cells across it (1 to 8; 1.5-1.8 % with arithmetic means in the cut cells instead of the laminate
#: tensor), while 10 times as diffusive, or three radii away, is converged to 0.4 %
#: (docs/validation/verification.md, "Grain boundaries").
FAST_CORE_RATIO, FAST_CORE_REACH = 10.0, 2.0


def unconverged_cores(boundaries, material: Material, tip: tuple[float, float], radius: float) -> list[str]:
    """One sentence for each of the ``boundaries`` (in their table order) whose core is more than
    :data:`FAST_CORE_RATIO` times as diffusive as ``material`` (the sample's) and whose core face is within
    :data:`FAST_CORE_REACH` contact radii ``radius`` (m) of the ``tip`` (x, y) in m: its effect on u2 is
    not known to the 2 % of the 3D defaults."""
    sentences = []
    for i, b in enumerate(boundaries):
        ratio = b.core.diffusivity / material.diffusivity if material.diffusivity > 0 else 0.0
        gap = abs(b.signed_distance(*tip)) - b.width / 2
        if ratio > FAST_CORE_RATIO and gap < FAST_CORE_REACH * radius:
            sentences.append(
                f"geometry.grain_boundaries[{i}]: a core {ratio:.3g} times as diffusive as the sample "
                f"{max(gap, 0.0) / radius:.2g} contact radii from the tip: its effect on u2 is not mesh-converged to "
                "2 % here (docs/validation/verification.md, \"Grain boundaries\"); compare with a finer mesh.refinement"
            )
    return sentences

def layer_distances(boundaries, x, y) -> np.ndarray:
    """The distance (m) of the points (x, y) in m (arrays) from the core faces of each boundary,
    max(|s_i| - w_i / 2, 0) (0 inside the core): (boundaries, points)."""
    return np.array([np.maximum(np.abs(b.signed_distance(x, y)) - b.width / 2, 0.0) for b in boundaries])


#: Two boundaries' layers overlap strongly where one's potential at the other's core face is above
#: this fraction of that core's potential (the summed potentials then miss the cores' own).
OVERLAP_FRACTION = 0.05


def overlapping_layers(boundaries, layer, size: float) -> list[str]:
    """Warnings on the equilibrium layers (of ``layer``, :class:`stimsim.materials.spacecharge.SpaceChargeLayer`)
    of ``boundaries`` that overlap strongly on the sample of domain size ``size`` (m, it spans
    +-size): planes that meet on it, or parallel ones whose potential at the other's core face is above
    :data:`OVERLAP_FRACTION` of its core potential."""
    charged = [(i, b) for i, b in enumerate(boundaries) if b.core_potential is not None]
    warnings = []
    for k, (i, a) in enumerate(charged):
        for j, b in charged[k + 1:]:
            where = f"the space-charge layers of geometry.grain_boundaries[{i}] and [{j}]"
            cross = a.normal[0] * b.normal[1] - a.normal[1] * b.normal[0]
            if abs(cross) > 1e-9:
                # the planes meet on the vertical line n_a . x = n_a . p_a, n_b . x = n_b . p_b
                ca, cb = np.dot(a.normal, a.point), np.dot(b.normal, b.point)
                x, y = (ca * b.normal[1] - cb * a.normal[1]) / cross, (a.normal[0] * cb - b.normal[0] * ca) / cross
                if max(abs(x), abs(y)) < size:
                    warnings.append(f"{where} meet at (x, y) = ({x:.3g}, {y:.3g}) m: their summed potentials are "
                                    "approximate there (not the Poisson-Boltzmann solution of the corner)")
                continue
            gap = max(float(layer_distances([a], *b.point)[0]) - b.width / 2, 0.0)  # between the core faces
            tails = [abs(float(layer.potential(gap, c.core_potential)[()])) for c in (a, b)]
            reach = max(tails[0] / abs(b.core_potential), tails[1] / abs(a.core_potential))
            if reach > OVERLAP_FRACTION:
                warnings.append(f"{where} overlap: one's potential at the other's core is {reach:.2g} of that core's "
                                "potential (their summed potentials are approximate between them)")
    return warnings


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


#: Two boundaries' normals are parallel (one laminate) where the sine of the angle between them is below this.
PARALLEL_SINE = 1e-9


def laminate_normals(boundaries, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lateral unit normal (cells, 2) of the planes that cut each simplex (``vertices`` (cells, d + 1,
    >= 2) in m) into regions, and whether the cell is a laminate (cells,): cut by one boundary's core
    faces, or by several whose normals are parallel (the layers are then parallel slabs, and the
    arithmetic and harmonic means of :func:`harmonic_mean` are the exact effective coefficients along and
    across them). A cell that no core face cuts (one region) is not a laminate, nor is one cut by
    boundaries that cross inside it (the few cells along the line where two planes meet): their
    coefficients stay the isotropic arithmetic mean, the upper (Wiener) bound of the effective ones.
    The normal is zero where the cell is not a laminate."""
    normals = np.zeros((len(vertices), 2))
    cut_before = np.zeros(len(vertices), dtype=bool)
    crossed = np.zeros(len(vertices), dtype=bool)
    for b in boundaries:
        distance = b.signed_distance(vertices[..., 0], vertices[..., 1])
        low, high = distance.min(axis=1), distance.max(axis=1)
        cut = ((low < -b.width / 2) & (-b.width / 2 < high)) | ((low < b.width / 2) & (b.width / 2 < high))
        sine = np.abs(normals[:, 0] * b.normal[1] - normals[:, 1] * b.normal[0])
        crossed |= cut & cut_before & (sine > PARALLEL_SINE)
        normals[cut & ~cut_before] = b.normal
        cut_before |= cut
    laminate = cut_before & ~crossed
    normals[~laminate] = 0.0
    return normals, laminate


def harmonic_mean(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The volume-fraction weighted harmonic mean 1 / sum_r (w_r / v_r) of the regions' ``values`` (regions,)
    with the ``weights`` (cells, regions) of :func:`region_weights`: the effective coefficient across the
    layers of a laminate (fluxes in series). A region of zero value that a cell holds makes it zero (a
    blocking layer); regions a cell does not hold are left out whatever their value. Wiener (1912), "Die
    Theorie des Mischkörpers für das Feld der stationären Strömung", Abh. Math.-Phys. Kl. Sächs. Akad.
    Wiss. 32, 509; G. W. Milton, The Theory of Composites (Cambridge University Press, 2002), ch. 9
    (laminates)."""
    values = np.asarray(values, dtype=float)
    zero = values == 0
    reciprocal = 1.0 / np.where(zero, 1.0, values)
    resistance = weights @ np.where(zero, 0.0, reciprocal)
    blocked = (weights[:, zero] > 0).any(axis=1)
    return np.where(blocked, 0.0, 1.0 / np.where(blocked, 1.0, resistance))


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
