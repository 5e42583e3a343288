"""A validated study: frozen dataclasses in SI units (:class:`Study` and its sections), built by
:func:`stimsim.study.load.study_from_dict`; nothing here reads a file or checks a value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from stimsim.materials.library import (
    Material,
)
from stimsim.materials.spacecharge import SpaceChargeLayer
from stimsim.materials.species import ElectroneutralPair, Species, species_layer
from stimsim.physics.drives import Drive, make_drive
from stimsim.study.grains import GrainBoundary, region_materials
from stimsim.study.modes import (
    Electrostatics,
    GeometryModel,
    LinearSolver,
    PeriodicMethod,
)


@dataclass(frozen=True)
class Tip:
    """AFM tip contact: mechanical radius ``contact_radius`` (m), heated-disk radius
    ``thermal_contact_radius`` (m) and the displacement ``weighting`` ('uniform' or 'hertz')."""

    contact_radius: float
    thermal_contact_radius: float
    weighting: str
    force: float = 0.0
    tip_radius: float | None = None
    #: Lateral position (x, y) in m of the tip on the sample (3D; the axis in axisymmetric studies).
    position: tuple[float, float] = (0.0, 0.0)

    @property
    def hertz_pressure(self) -> float:
        """Peak Hertz pressure p0 = 3F/(2 pi a^2) in Pa (0 without preload)."""
        return 3 * self.force / (2 * math.pi * self.contact_radius**2)


@dataclass(frozen=True)
class Excitation:
    """Heat input. Powers in W, temperatures in K, conductance in W/K, lengths in m, frequencies in Hz."""

    mode: str
    frequencies: tuple[float, ...]
    ambient_temperature: float
    power_amplitude: float | None = None
    dc_power: float | None = None
    heater_temperature_amplitude: float | None = None
    dc_voltage: float | None = None
    ac_voltage: float | None = None
    heater_resistance: float | None = None
    heater_conductance: float | None = None
    heater_heat_capacity: float | None = None
    heater_temperature_coefficient: float | None = None
    contact_conductance: float | None = None
    mean_power: float | None = None
    modulation_depth: float | None = None
    beam_radius: float | None = None
    absorptance: float | None = None
    absorption_length: float | None = None


@dataclass(frozen=True)
class Sample:
    """The sample: a half-space of ``material``, or a film of it (``film_thickness``, m) on ``substrate``;
    ``model`` is the geometric model ('axisymmetric' or '3d')."""

    material: Material
    kind: str = "halfspace"
    film_thickness: float | None = None
    substrate: Material | None = None
    #: The charged species moving together (ions.electrostatics = 'electroneutral'), else None.
    pair: ElectroneutralPair | None = None
    #: The charged species ([[sample.species]], 'electroneutral' or 'poisson'; empty without).
    species: tuple[Species, ...] = ()
    model: GeometryModel = GeometryModel.AXISYMMETRIC
    #: Planar grain boundaries (3D; :mod:`stimsim.study.grains`).
    grain_boundaries: tuple[GrainBoundary, ...] = ()

    def regions(self) -> tuple[Material, ...]:
        """The materials of the sample (or film) region: its material, then those of the grains beyond
        the boundaries and of the boundary cores (:func:`stimsim.study.grains.region_materials`)."""
        return region_materials(self.material, self.grain_boundaries)

    def materials(self) -> tuple[Material, ...]:
        """Every material of the sample: :meth:`regions` and the substrate."""
        return self.regions() if self.substrate is None else (*self.regions(), self.substrate)

    def bulk_materials(self) -> tuple[Material, ...]:
        """The materials of :meth:`materials` but the grain-boundary cores: those whose thermal and
        chemical lengths the mesh grading follows (a core is resolved by its width instead)."""
        cores = [b.core for b in self.grain_boundaries]
        return tuple(m for m in self.materials() if not any(m is core for core in cores))

    def __post_init__(self):
        object.__setattr__(self, "model", GeometryModel(self.model))


@dataclass(frozen=True)
class Ions:
    """Ionic boundary conditions and equilibrium profile (see :data:`SCHEMA` ['ions']); SI units."""

    electrostatics: Electrostatics = Electrostatics.NONE
    surface: str = "blocking"
    exchange_velocity: float | None = None
    exchange_equilibrium: str = "stress"
    substrate: str = "blocking"
    space_charge_excess: float = 0.0
    space_charge_length: float | None = None
    space_charge_potential: float | None = None
    space_charge_charge: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "electrostatics", Electrostatics(self.electrostatics))


@dataclass(frozen=True)
class MeshOptions:
    """Mesh level, the accuracy it was chosen for (None: ``mesh.refinement`` given, or the axisymmetric
    default) and the domain-size rule (see :data:`SCHEMA` ['mesh'])."""

    refinement: float = 1.0
    accuracy: float | None = None
    domain_thermal_lengths: float = 10.0
    domain_size: float | None = None

    @property
    def level(self) -> tuple[str, str, str]:
        """How a message names the mesh level: the key that set it, its value ('= ...') and the advice
        that coarsens the mesh."""
        if self.accuracy is None:
            return "mesh.refinement", f"= {self.refinement:g}", "lower mesh.refinement"
        return ("mesh.accuracy", f"= {self.accuracy:g} (mesh.refinement {self.refinement:.3g})",
                "raise mesh.accuracy (a looser target)")


#: mesh.refinement of an axisymmetric study without mesh.refinement or mesh.accuracy (errors about 1e-4).
DEFAULT_REFINEMENT = 1.0
#: mesh.accuracy that a 3D study without mesh.refinement or mesh.accuracy is meshed for: the tolerance of
#: the axisymmetric model's own comparisons (1 % on u1, 2 % on u2).
DEFAULT_3D_ACCURACY = 0.01
#: The rule mesh.accuracy -> mesh.refinement of each geometry model: (refinement R at accuracy 0.01, order
#: p of the error in the refinement), refinement = R (accuracy / 0.01)^(-1/p). Measured against the
#: axisymmetric model at refinement 4 (SDC, E_a = 0, 20 kHz, sqrt(D/omega) = 0.01-1 of the contact radius;
#: docs/validation/verification.md, '3D defaults'): in 3D (a = 20 nm) u1 0.78-0.85 % and u2 0.23-1.5 % at
#: refinement 0.4 and u1 0.37-0.48 % at 0.5, u1 falling as refinement^-3 (P2); axisymmetric u1 <= 0.46 % and
#: u2 <= 0.6 % from refinement 0.3 on, u2 0.12 % at 0.7 and 0.032 % at 1.4 (sqrt(D/omega) = a/100, the worst).
ACCURACY_RULES = {GeometryModel.THREE_D: (0.45, 3.0), GeometryModel.AXISYMMETRIC: (0.35, 2.5)}


def refinement_for(accuracy: float, model: GeometryModel) -> float:
    """The mesh.refinement that :data:`ACCURACY_RULES` gives the geometry ``model`` for the relative
    ``accuracy`` (over mesh.accuracy's range [1e-5, 0.1]: 0.21-4.5 in 3D, 0.14-5.5 axisymmetric, within
    mesh.refinement's range)."""
    refinement, order = ACCURACY_RULES[model]
    return refinement * (accuracy / DEFAULT_3D_ACCURACY) ** (-1 / order)


#: Without [solver] harmonics, the periodic methods report harmonics up to this multiple of the ionic
#: channel's harmonic (harmonic balance starts there and may double it).
FIRST_HARMONICS = 2


@dataclass(frozen=True)
class SolverOptions:
    """How the periodic state is solved (see :data:`SCHEMA` ['solver'])."""

    periodic: PeriodicMethod = PeriodicMethod.AUTO
    harmonics: int | None = None
    periods: int = 40
    steps_per_period: int = 64
    linear: LinearSolver = LinearSolver.AUTO

    def __post_init__(self):
        object.__setattr__(self, "periodic", PeriodicMethod(self.periodic))
        object.__setattr__(self, "linear", LinearSolver(self.linear))


@dataclass(frozen=True)
class Study:
    """A validated study. ``resolved`` is the study as a TOML-ready dict with all defaults filled."""

    sample: Sample
    tip: Tip
    excitation: Excitation
    ions: Ions
    mesh: MeshOptions
    resolved: dict
    solver: SolverOptions = SolverOptions()
    extensions: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict, repr=False)
    #: The same study with the ions held immobile, built with it where a periodic method needs it
    #: (mobile ions and a temperature-dependent alpha or k: its periodic state defines the 'nonionic'
    #: rows); None otherwise (:func:`stimsim.study.load.immobile_study`).
    immobile: Study | None = field(default=None, repr=False, compare=False)

    @property
    def drive(self) -> Drive:
        """The heating mode of the study (:mod:`stimsim.physics.drives`)."""
        return make_drive(self.excitation, self.tip)

    @property
    def periodic_harmonics(self) -> int:
        """H, the highest harmonic the periodic methods report (harmonic balance's first choice): [solver]
        harmonics, else :data:`FIRST_HARMONICS` times the ionic channel's harmonic."""
        return self.solver.harmonics or FIRST_HARMONICS * self.drive.channels.ionic

    @property
    def poisson(self) -> bool:
        """Whether the charged species move under Nernst-Planck-Poisson (ions.electrostatics = 'poisson')."""
        return self.ions.electrostatics == Electrostatics.POISSON

    def charged_layer(self) -> SpaceChargeLayer | None:
        """The charged species' :class:`SpaceChargeLayer` (bulk values, the sample's permittivity, the
        ambient temperature; its Debye length), or None without [[sample.species]]."""
        if not self.sample.species:
            return None
        return species_layer(self.sample.species, self.sample.material.relative_permittivity, self.excitation.ambient_temperature)

    def charged_boundaries(self) -> tuple[GrainBoundary, ...]:
        """The grain boundaries with equilibrium space-charge layers (a core potential)."""
        return tuple(b for b in self.sample.grain_boundaries if b.core_potential is not None)

    def space_charge(self) -> tuple[SpaceChargeLayer, float] | None:
        """The equilibrium space-charge layer of the charged species under the top surface and its core
        potential phi0 (V; from ``ions.space_charge_charge`` by Grahame's relation if that is given), or
        None without ``ions.space_charge_potential`` / ``space_charge_charge``."""
        ions = self.ions
        if ions.space_charge_potential is None and ions.space_charge_charge is None:
            return None
        layer = self.charged_layer()
        if ions.space_charge_potential is not None:
            return layer, ions.space_charge_potential
        return layer, layer.core_potential(ions.space_charge_charge)
