"""The length scales of a study that size and grade its mesh (m): thermal and chemical lengths and the
domain size, of the sample's bulk materials (grain-boundary cores are resolved by their width). Pure
functions of a validated study (and its drive)."""

from __future__ import annotations

import math

#: Domain radius at least this many times the largest surface radius.
MIN_DOMAIN_PER_RADIUS = 200.0


def lowest_frequency_thermal_length(study) -> float:
    """Largest thermal length sqrt(2 kappa / omega) (m) of the study's materials and frequencies."""
    omega = 2 * math.pi * min(study.excitation.frequencies)
    kappa = max(m.thermal_diffusivity for m in study.sample.bulk_materials())
    return math.sqrt(2 * kappa / omega)


def highest_frequency_thermal_length(study) -> float:
    """Smallest thermal length sqrt(2 kappa / omega) (m) at the highest solved frequency."""
    omega = 2 * math.pi * max(study.excitation.frequencies) * study.drive.highest_harmonic
    kappa = min(m.thermal_diffusivity for m in study.sample.bulk_materials())
    return math.sqrt(2 * kappa / omega)


def chemical_length(study) -> float | None:
    """Smallest chemical length sqrt(2 D / omega) (m) of the mobile ions at the highest solved
    frequency (the second order of the highest drive frequency); None without ions."""
    if not study.sample.material.is_ionic:
        return None
    materials = [m for m in study.sample.bulk_materials() if m.is_ionic]
    omega = 2 * math.pi * max(study.excitation.frequencies) * study.drive.highest_harmonic
    return math.sqrt(2 * min(m.diffusivity for m in materials) / omega)


def surface_layer_length(study) -> float | None:
    """The thinnest layer under the top surface that the mesh must resolve (m): the chemical length or,
    if shorter, the e-folding length of an equilibrium space-charge layer at the surface
    (:meth:`stimsim.materials.spacecharge.SpaceChargeLayer.width`) and, under ions.electrostatics = 'poisson',
    the Debye length (the perturbations separate charge over it); None without ions."""
    lengths = [chemical_length(study)]
    if lengths[0] is None:
        return None
    space_charge = study.space_charge()
    if space_charge is not None:
        layer, potential = space_charge
        lengths.append(layer.width(potential))
    if study.poisson:
        lengths.append(study.charged_layer().debye_length)
    return min(lengths)


def boundary_layer_length(study, boundary) -> float | None:
    """The length (m) a grain ``boundary``'s space-charge layers set for the mesh beside its core: the
    prescribed decay length, or the e-folding length of its equilibrium layers at the core
    (:meth:`stimsim.materials.spacecharge.SpaceChargeLayer.width`); None without layers."""
    if boundary.core_potential is None:
        return boundary.space_charge_length
    return study.charged_layer().width(boundary.core_potential)


def domain_size(study) -> float:
    """Domain radius (= depth) in m: explicit ``mesh.domain_size`` or the thermal-length rule (and at
    least :data:`MIN_DOMAIN_PER_RADIUS` times the largest surface radius)."""
    if study.mesh.domain_size is not None:
        return study.mesh.domain_size
    largest = max(study.drive.surface_radii().values())
    thermal = study.mesh.domain_thermal_lengths * lowest_frequency_thermal_length(study)
    return max(thermal, MIN_DOMAIN_PER_RADIUS * largest)


#: Closest approach of the tip to a side of the sample, in domain sizes L (the sample is 2 L wide).
SIDE_MARGIN = 0.5


def tip_range(size: float) -> float:
    """Largest |x| or |y| (m) of a tip position on a sample of domain size ``size`` (m)."""
    return (1 - SIDE_MARGIN) * size


