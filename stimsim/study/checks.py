"""Cross-checks of a built study: lengths the mesh can resolve beside the domain size, space-charge
layers and Debye lengths, what 3D cannot do yet (tip and grain boundaries on the sample), and a
periodic method's H that reaches the ionic channel.
"""

from __future__ import annotations

import logging

import numpy as np

from stimsim.core.errors import InputError
from stimsim.materials.species import Species
from stimsim.study.grains import GrainBoundary, layer_distances
from stimsim.study.lengths import MIN_DOMAIN_PER_RADIUS, domain_size, tip_range
from stimsim.study.modes import GeometryModel, LinearSolver, PeriodicMethod
from stimsim.study.schema import (
    MIN_DEBYE_FRACTION,
    MIN_FEATURE_FRACTION,
    STEPS_PER_HARMONIC,
    TIME_STEPPING_KEYS,
)
from stimsim.study.study import Study

log = logging.getLogger(__name__)


def cross_check(study: Study) -> None:
    _check_harmonics(study)
    size = domain_size(study)
    _check_solver(study)
    if study.sample.model == GeometryModel.THREE_D:
        _check_3d(study, size)
    elif study.solver.linear == LinearSolver.ITERATIVE:
        raise InputError(
            "solver.linear", "= 'iterative' needs geometry.model = '3d' (accepted here: 'direct'; an axisymmetric "
            "model is small enough for the direct solver)"
        )
    radii = study.drive.surface_radii()
    for name, radius in radii.items():
        if radius >= size / 4:
            raise InputError(name, f"= {radius:g} m must be below a quarter of the domain size ({size:g} m)")
    thickness = study.sample.film_thickness
    if thickness is not None and thickness >= size / 2:
        raise InputError("geometry.film_thickness", f"= {thickness:g} m must be below half the domain size ({size:g} m)")
    lengths = radii | {
        "geometry.film_thickness": thickness,
        "excitation.absorption_length": study.excitation.absorption_length,
    }
    _check_layer_width(study, size)
    _check_debye_length(study)
    _check_time_steps(study)
    radii = study.drive.surface_radii()
    largest = max(radii, key=radii.get)
    grown = study.mesh.domain_size is None and size == MIN_DOMAIN_PER_RADIUS * radii[largest]
    for name, length in lengths.items():
        if length is not None and length < MIN_FEATURE_FRACTION * size and grown and name != largest:
            raise InputError(
                largest, f"= {radii[largest]:g} m is too large beside {name} = {length:g} m: the domain grows to "
                f"{MIN_DOMAIN_PER_RADIUS:g} times it ({size:g} m), where {name} is below {MIN_FEATURE_FRACTION:g} of "
                "the domain and the mesh would not resolve it"
            )
        if length is not None and length < MIN_FEATURE_FRACTION * size:
            raise InputError(
                name, f"= {length:g} m is below {MIN_FEATURE_FRACTION:g} of the domain size ({size:g} m): the mesh "
                "would not resolve it (raise it, or lower mesh.domain_thermal_lengths / the lowest frequency)"
            )


def _check_harmonics(study: Study) -> None:
    """Refuse a [solver] harmonics H below the ionic channel's harmonic of a study with mobile ions
    whose periodic state may be solved (periodic other than 'expansion'): its ionic response would
    not be among the harmonics 0..H solved and reported."""
    harmonics, channel = study.solver.harmonics, study.drive.channels.ionic
    if harmonics is None or harmonics >= channel or study.solver.periodic == PeriodicMethod.EXPANSION:
        return
    if any(m.is_ionic for m in study.sample.materials()):
        raise InputError(
            "solver.harmonics", f"= {harmonics} is below the ionic channel's harmonic {channel} of excitation.mode "
            f"{study.excitation.mode!r}: the ions' response would be dropped (accepted: at least {channel}; absent: "
            "chosen adaptively)",
        )


def _check_solver(study: Study) -> None:
    """Refuse solver.harmonics beside solver.periodic = 'expansion' (which keeps harmonics 1 and 2 of
    the expansion, not H) and the time-stepping keys solver.periods and solver.steps_per_period
    beside any method but 'time_domain'; warn that solver.linear = 'iterative' does nothing without mobile ions (the
    iterative solver is the coupled ionic system's: heat and mechanics are factorised by MUMPS)."""
    if study.solver.periodic == PeriodicMethod.EXPANSION and study.solver.harmonics is not None:
        raise InputError(
            "solver.harmonics", "is not used by solver.periodic = 'expansion' (the expansion's orders set its "
            "harmonics): remove it, or use 'auto', 'harmonic_balance' or 'time_domain'"
        )
    stepping = [key for key in TIME_STEPPING_KEYS if key in study.raw.get("solver", {})]
    if stepping and study.solver.periodic != PeriodicMethod.TIME_DOMAIN:
        raise InputError(
            f"solver.{stepping[0]}", f"is used only by solver.periodic = 'time_domain' (here '{study.solver.periodic}', "
            "which does not step in time): remove it, or set solver.periodic = 'time_domain'"
        )
    if study.solver.linear == LinearSolver.ITERATIVE and not study.sample.material.is_ionic:
        log.warning(
            "solver.linear = 'iterative' is not used without mobile ions: it solves the coupled ionic system; "
            "heat and mechanics are factorised by MUMPS as with 'direct'"
        )


def _check_layer_width(study: Study, size: float) -> None:
    """Refuse an equilibrium space-charge layer (under the top surface or beside a grain-boundary core)
    thinner than the mesh can resolve beside the domain ``size`` (m): its e-folding length at the core
    below :data:`MIN_FEATURE_FRACTION` of it."""
    layer = study.charged_layer()
    cores = []
    if study.space_charge() is not None:
        key = "ions.space_charge_potential" if study.ions.space_charge_potential is not None else "ions.space_charge_charge"
        cores.append((key, "surface", study.space_charge()[1]))
    for i, b in enumerate(study.sample.grain_boundaries):
        if b.core_potential is not None:
            cores.append((f"geometry.grain_boundaries[{i}].{b.core_key}", "core", b.core_potential))
    for key, where, potential in cores:
        width = layer.width(potential)
        if width < MIN_FEATURE_FRACTION * size:
            raise InputError(
                key, f"makes a space-charge layer whose concentrations change e-fold over {width:.3g} m at the {where} "
                f"(Debye length {layer.debye_length:.3g} m, core potential {potential:.3g} V), below "
                f"{MIN_FEATURE_FRACTION:g} of the domain size ({size:g} m): the mesh would not resolve it (lower the core "
                "potential, or the domain: mesh.domain_size or a higher lowest frequency)"
            )


def _strongest(species: tuple[Species, ...]) -> int:
    """The index of the species with the largest z^2 c, which sets the Debye length most."""
    return max(range(len(species)), key=lambda i: species[i].charge ** 2 * species[i].concentration)


def _check_debye_length(study: Study) -> None:
    """Under 'poisson', refuse a Debye length below :data:`MIN_DEBYE_FRACTION` of the contact radius:
    the mesh resolves lambda_D, and beyond that the electroneutral limit is the model to use."""
    if not study.poisson:
        return
    debye, radius = study.charged_layer().debye_length, study.tip.contact_radius
    if debye < MIN_DEBYE_FRACTION * radius:
        raise InputError(
            f"sample.species[{_strongest(study.sample.species)}].concentration", f"makes a Debye length of {debye:.3g} m, below {MIN_DEBYE_FRACTION:g} of the "
            f"contact radius ({radius:.3g} m), which ions.electrostatics = 'poisson' would have to resolve in the mesh "
            "(it needs lambda_D >= {:.3g} m). There the species cannot separate charge over the contact: use "
            "ions.electrostatics = 'electroneutral' (an ion and its compensating carrier), or lower the species' "
            "concentrations or raise sample.properties.relative_permittivity".format(MIN_DEBYE_FRACTION * radius)
        )


def _check_time_steps(study: Study) -> None:
    """Under periodic = 'time_domain', refuse fewer than :data:`STEPS_PER_HARMONIC` time steps per
    period of the highest reported harmonic H (:attr:`Study.periodic_harmonics`): the DFT of the last
    period would report it wrong, at the Nyquist frequency (2 steps) by orders of magnitude."""
    solver = study.solver
    highest = study.periodic_harmonics
    needed = STEPS_PER_HARMONIC * highest
    if solver.periodic == PeriodicMethod.TIME_DOMAIN and solver.steps_per_period < needed:
        given = "solver.harmonics" if solver.harmonics else "the default, twice the ionic channel's harmonic"
        raise InputError(
            "solver.steps_per_period", f"= {solver.steps_per_period} cannot resolve harmonic {highest} (H, from {given}): "
            f"periodic = 'time_domain' needs at least {STEPS_PER_HARMONIC} steps per period of the highest reported "
            f"harmonic, {needed} here (raise it, or lower solver.harmonics)"
        )


#: What a study cannot use yet with geometry.model = '3d': section or key -> why.
NOT_YET_3D = {"design": "measurement designs"}


def _check_3d(study: Study, size: float) -> None:
    """Refuse what 3D does not support yet, and a tip off the sample or too close to its side
    (:func:`check_tip_position`)."""
    for section, what in NOT_YET_3D.items():
        if section in study.extensions:
            raise InputError(section, f"({what}) is not yet supported with geometry.model = '3d' (fits, sweeps and "
                             "scans are)")
    for i, boundary in enumerate(study.sample.grain_boundaries):
        _check_boundary_on_sample(f"geometry.grain_boundaries[{i}]", boundary, size)
    _check_summed_excess(study, size)
    check_tip_position(study, study.tip.position)


#: The smallest stress-free equilibrium concentration, as a fraction of c0, that overlapping prescribed
#: space-charge layers may leave: 1 + the sum of their excesses A exp(-distance/length) must stay at least
#: this wherever they overlap (one layer alone keeps c0 (1 + A) > 0 by the range A > -1 of its key).
MIN_LAYER_FACTOR = 0.05
#: Points per core line and per gap between parallel cores at which :func:`_check_summed_excess` sums the layers.
LAYER_SAMPLES = 401


def _check_summed_excess(study: Study, size: float) -> None:
    """Refuse prescribed space-charge layers (the grain boundaries' ``space_charge_excess`` and the top
    surface's ``ions.space_charge_excess``) whose excesses add up, where they overlap on the sample of
    domain ``size`` (m), to a factor 1 + sum below :data:`MIN_LAYER_FACTOR`: the concentration would be
    zero or negative there (a singular diffusion operator, a failing solve). The layers are summed on
    the boundaries' core lines (where two planes meet included) and across the gap of parallel cores,
    with the surface layer at its strongest."""
    layered = [(i, b) for i, b in enumerate(study.sample.grain_boundaries) if b.space_charge_excess]
    surface = study.ions.space_charge_excess
    if len(layered) + bool(surface) < 2:
        return
    boundaries = [b for _, b in layered]
    x, y = _layer_points(boundaries, size)
    distances = layer_distances(boundaries, x, y)
    factor = 1 + min(surface, 0.0) + sum(
        b.space_charge_excess * np.exp(-d / b.space_charge_length) for b, d in zip(boundaries, distances)
    )
    k = int(np.argmin(factor))
    if factor[k] >= MIN_LAYER_FACTOR:
        return
    keys = [f"geometry.grain_boundaries[{i}].space_charge_excess = {b.space_charge_excess:g}" for i, b in layered]
    keys += [f"ions.space_charge_excess = {surface:g}"] if surface else []
    raise InputError(
        f"geometry.grain_boundaries[{layered[0][0]}].space_charge_excess",
        f"and the other layers ({', '.join(keys)}) overlap at (x, y) = ({x[k]:.3g}, {y[k]:.3g}) m, where the "
        f"equilibrium concentration c0 (1 + sum of A exp(-distance/length)) falls to {factor[k]:.3g} c0: it must "
        f"stay at least {MIN_LAYER_FACTOR:g} c0 (make the excesses less negative, shorten space_charge_length, or "
        "move the boundaries apart)",
    )


def _layer_points(boundaries, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Points (x, y) in m on the sample (it spans +-``size``) where overlapping layers are strongest:
    along each boundary's core line, where two of them meet, and across the gap between parallel ones."""
    t = np.linspace(-1.0, 1.0, LAYER_SAMPLES)
    points = []
    for a in boundaries:
        along = np.array([-a.normal[1], a.normal[0]])
        points.append(np.array(a.point) + 2 * size * t[:, None] * along)
        for b in boundaries:
            cross = a.normal[0] * b.normal[1] - a.normal[1] * b.normal[0]
            if abs(cross) > 1e-9:  # where the planes meet: n_a . x = n_a . p_a, n_b . x = n_b . p_b
                ca, cb = np.dot(a.normal, a.point), np.dot(b.normal, b.point)
                points.append(np.array([[(ca * b.normal[1] - cb * a.normal[1]) / cross,
                                         (a.normal[0] * cb - b.normal[0] * ca) / cross]]))
            else:  # across the gap from a's core to b's
                gap = b.signed_distance(*a.point)
                points.append(np.array(a.point) - gap * (t[:, None] + 1) / 2 * np.array(b.normal))
    found = np.concatenate(points)
    found = found[np.all(np.abs(found) <= size, axis=1)]
    return found[:, 0], found[:, 1]


def check_tip_position(study: Study, position, key: str = "tip.position") -> None:
    """Refuse a tip ``position`` (x, y) in m off the 3D sample of ``study`` or too close to its side
    (the sample is 2 L wide, L the domain size; :func:`stimsim.study.lengths.tip_range`), naming ``key``."""
    size = domain_size(study)
    limit = tip_range(size)
    for axis, value in zip("xy", position):
        if abs(value) > limit:
            raise InputError(
                key, f"{axis} = {value:g} m is off the sample or too close to its side: |{axis}| must be "
                f"at most {limit:g} m (the sample spans ±{size:g} m, the domain size)"
            )


def _check_boundary_on_sample(name: str, boundary: GrainBoundary, size: float) -> None:
    """Refuse a boundary whose point is off the sample (it spans ±``size``, m) or whose core or layers
    are as wide as a quarter of it."""
    for axis, value in zip("xy", boundary.point):
        if abs(value) >= size:
            raise InputError(
                f"{name}.point", f"{axis} = {value:g} m is off the sample: |{axis}| must be below {size:g} m (the "
                "sample spans ±L, L the domain size)"
            )
    for key, length in (("width", boundary.width), ("space_charge_length", boundary.space_charge_length)):
        if length is not None and length >= size / 4:
            raise InputError(f"{name}.{key}", f"= {length:g} m must be below a quarter of the domain size ({size:g} m)")
