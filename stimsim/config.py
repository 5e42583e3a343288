"""Study files: schema, validation and ``--set`` overrides.

A study file is TOML. :func:`load_study` reads it, applies ``KEY=VALUE`` overrides, checks every key
against :data:`SCHEMA` (unknown keys, types, units' ranges, mode-specific keys, cross-checks) and
returns a frozen :class:`Study` in SI units. Every error is an :class:`~stimsim.errors.InputError`
that names the key and the accepted values.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stimsim.drives import Drive, make_drive
from stimsim.errors import InputError, checked_number, did_you_mean, suggest
from stimsim.grains import GrainBoundary, region_materials
from stimsim.lengths import MIN_DOMAIN_PER_RADIUS, domain_size
from stimsim.materials import HEAT_OF_TRANSPORT_BOUND, PARAMETER_SETS, Material, material
from stimsim.spacecharge import LARGEST_SCALED_POTENTIAL, SpaceChargeLayer
from stimsim.species import ElectroneutralPair, Species, species_layer


@dataclass(frozen=True)
class Key:
    """One study-file key: kind ('number', 'integer', 'string', 'numbers', 'integers', 'table', 'species',
    'boundaries'), unit, meaning,
    default (``None``: optional without default, ``REQUIRED``: must be given), open interval or
    choices."""

    kind: str
    unit: str
    meaning: str
    default: Any = None
    low: float = -math.inf
    high: float = math.inf
    choices: tuple[str, ...] = ()
    high_inclusive: bool = False
    low_inclusive: bool = False


REQUIRED = object()
#: Smallest geometric length accepted, as a fraction of the domain size (mesh grading range).
MIN_FEATURE_FRACTION = 1e-6
_POSITIVE = dict(low=0.0)
#: Largest magnitude of a surface-core potential accepted (V): space-charge potentials of oxides are
#: tenths of a volt (about 0.3 V at ceria grain boundaries).
MAX_CORE_POTENTIAL = 2.0
#: Numbers of [[sample.species]] tables accepted under ions.electrostatics = 'poisson'.
POISSON_SPECIES = (1, 2)
#: Smallest Debye length accepted under 'poisson', as a fraction of the contact radius: the mesh
#: resolves lambda_D in the surface layer and around the contact edge (docs/physics.md,
#: 'Charged species: Nernst-Planck-Poisson'); below it the electroneutral limit holds.
MIN_DEBYE_FRACTION = 0.01

#: The study-file schema: section -> key -> :class:`Key`. The key table of
#: docs/study-files.md is written from it by hand: keep the two in step.
SCHEMA: dict[str, dict[str, Key]] = {
    "sample": {
        "material": Key("string", "", "built-in material of the sample (or of the film)", "SDC"),
        "properties": Key("table", "SI", "overrides of the material's properties (see below)", {}),
        "species": Key("species", "SI", "charged mobile species ([[sample.species]] tables, see SPECIES_SCHEMA)"),
    },
    "geometry": {
        "model": Key(
            "string", "", "geometric model: axisymmetric (r, z) with the tip on the axis, or 3d (tip anywhere)",
            "axisymmetric", choices=("axisymmetric", "3d"),
        ),
        "kind": Key("string", "", "sample geometry", "halfspace", choices=("halfspace", "film")),
        "film_thickness": Key("number", "m", "film thickness (kind = 'film')", **_POSITIVE),
        "substrate": Key("string", "", "built-in substrate material (kind = 'film')"),
        "substrate_properties": Key("table", "SI", "overrides of the substrate's properties"),
        "grain_boundaries": Key(
            "boundaries", "SI", "planar vertical grain boundaries ([[geometry.grain_boundaries]] tables, "
            "see BOUNDARY_SCHEMA; geometry.model = '3d')",
        ),
    },
    "tip": {
        "contact_radius": Key(
            "number", "m", "mechanical contact radius a (or give force and tip_radius)", **_POSITIVE
        ),
        "force": Key("number", "N", "static contact force F (Hertz preload; sets a)", low=0.0, high=1e-3),
        "tip_radius": Key("number", "m", "tip radius R of the Hertz contact (with force)", **_POSITIVE),
        "thermal_contact_radius": Key(
            "number", "m", "radius of the heated disk (default: contact_radius)", **_POSITIVE
        ),
        "weighting": Key(
            "string", "", "how u_z is averaged over the contact", "uniform", choices=("uniform", "hertz")
        ),
        "position": Key("numbers", "m", "lateral tip position [x, y] on the sample (geometry.model = '3d')"),
    },
    "excitation": {
        "mode": Key("string", "", "heat input", "power", choices=("power", "heater", "laser", "joule")),
        "power_amplitude": Key("number", "W", "amplitude of the heating-power oscillation", low=0.0, high=10.0),
        "dc_power": Key(
            "number", "W", "DC heating power of mode 'power' (sets the base state)", 0.0, low=0.0, high=10.0,
            low_inclusive=True,
        ),
        "heater_temperature_amplitude": Key(
            "number", "K", "amplitude of the heater-temperature oscillation", low=0.0, high=1000.0
        ),
        "contact_conductance": Key("number", "W/K", "tip-sample thermal contact conductance G_c", low=0.0, high=1.0),
        "dc_voltage": Key("number", "V", "DC heater voltage V0 (mode 'joule')", 0.0, low=0.0, high=1e3, low_inclusive=True),
        "ac_voltage": Key("number", "V", "AC heater voltage amplitude V1 (mode 'joule')", low=0.0, high=1e3),
        "heater_resistance": Key("number", "Ohm", "heater resistance R (mode 'joule')", low=0.0, high=1e9),
        "heater_conductance": Key(
            "number", "W/K", "heat loss G_h of the heater to the cantilever and ambient (mode 'joule')", low=0.0, high=1.0
        ),
        "heater_heat_capacity": Key(
            "number", "J/K", "heat capacity C_h of the heater (mode 'joule')", 0.0, low=0.0, high=1.0, low_inclusive=True
        ),
        "heater_temperature_coefficient": Key(
            "number", "1/K", "temperature coefficient beta of the heater resistance R0 (1 + beta theta_h) (mode 'joule')",
            0.0, low=-0.1, high=0.1,
        ),
        "mean_power": Key("number", "W", "mean laser power P (before absorptance)", low=0.0, high=100.0),
        "modulation_depth": Key(
            "number", "1", "laser modulation depth m in P(1 + m cos wt)", low=0.0, high=1.0, high_inclusive=True
        ),
        "beam_radius": Key("number", "m", "1/e^2 intensity radius w of the Gaussian spot", **_POSITIVE),
        "absorptance": Key(
            "number", "1", "fraction of the laser power absorbed", 1.0, low=0.0, high=1.0, high_inclusive=True
        ),
        "absorption_length": Key(
            "number", "m", "Beer-Lambert absorption length (absent: surface absorption)", **_POSITIVE
        ),
        "frequencies": Key("numbers", "Hz", "drive frequencies", REQUIRED, low=0.0, high=1e10),
        "ambient_temperature": Key("number", "K", "ambient temperature T_amb", 300.0, low=0.0, high=5000.0),
    },
    "ions": {
        "electrostatics": Key(
            "string", "", "how the charged species of [[sample.species]] move: Nernst-Planck-Poisson (one or two "
            "species, the potential solved), its electroneutral limit (two), or 'none': the single neutral species of "
            "[sample.properties]", "none",
            choices=("none", "electroneutral", "poisson"),
        ),
        "surface": Key(
            "string", "", "ionic condition on the top surface", "blocking", choices=("blocking", "exchange")
        ),
        "exchange_velocity": Key(
            "number", "m/s", "surface exchange J.n = k (c - c_eq) (surface = 'exchange')", **_POSITIVE
        ),
        "exchange_equilibrium": Key(
            "string", "", "the surface concentration c_eq the exchange drives toward: the stress equilibrium "
            "c0 exp(Omega sigma_h/(R T)) ('stress') or the stress-free c0 ('stress_free')", "stress",
            choices=("stress", "stress_free"),
        ),
        "substrate": Key(
            "string", "", "film-substrate interface for ions (kind = 'film')", "blocking",
            choices=("blocking", "conducting"),
        ),
        "space_charge_excess": Key(
            "number", "1", "relative excess A of c0 at the surface: c0 (1 + A exp(-depth/length))", 0.0,
            low=-1.0, high=1e3,
        ),
        "space_charge_length": Key("number", "m", "decay length of the space-charge layer", **_POSITIVE),
        "space_charge_potential": Key(
            "number", "V", "potential phi0 of the surface core relative to the bulk: equilibrium (Poisson-Boltzmann) "
            "space-charge layer of the [[sample.species]]", low=-MAX_CORE_POTENTIAL, high=MAX_CORE_POTENTIAL,
            low_inclusive=True, high_inclusive=True,
        ),
        "space_charge_charge": Key(
            "number", "C/m^2", "charge Q of the surface core per area: equilibrium space-charge layer screening it "
            "(instead of space_charge_potential)", low=-10.0, high=10.0, low_inclusive=True, high_inclusive=True,
        ),
    },
    "solver": {
        "periodic": Key(
            "string", "", "how the periodic state is solved: the second-order expansion, harmonic balance, time "
            "stepping, or 'auto' (the expansion where its validity parameters allow, else harmonic balance)",
            "auto", choices=("auto", "expansion", "harmonic_balance", "time_domain"),
        ),
        "harmonics": Key(
            "integer", "1", "highest harmonic H kept by harmonic balance and reported by it and the time domain "
            "(absent: chosen until the highest falls below 1 % of the ionic channel)", low=1, high=64,
        ),
        "periods": Key("integer", "1", "drive periods stepped by periodic = 'time_domain'", 40, low=2, high=100000),
        "steps_per_period": Key(
            "integer", "1", "time steps per drive period of periodic = 'time_domain'", 64, low=8, high=100000
        ),
        "linear": Key(
            "string", "", "linear solver of the coupled ionic system: MUMPS LU ('direct'), or GMRES with a "
            "field-split algebraic-multigrid preconditioner ('iterative', geometry.model = '3d' only)", "direct",
            choices=("direct", "iterative"),
        ),
    },
    "mesh": {
        "refinement": Key(
            "number", "1", "accuracy knob: 2 halves every cell size (error / 4 to / 8)", 1.0, low=0.1, high=16.0
        ),
        "domain_thermal_lengths": Key(
            "number", "1", "domain size in thermal lengths sqrt(2 kappa/omega) at the lowest frequency",
            10.0, low=2.0, high=1000.0,
        ),
        "domain_size": Key("number", "m", "explicit domain radius and depth (overrides the rule)", **_POSITIVE),
    },
}

#: The keys of one [[sample.species]] table (docs/study-files.md, 'Charged species').
SPECIES_SCHEMA: dict[str, Key] = {
    "name": Key("string", "", "name of the species (unique)", REQUIRED),
    "charge": Key("integer", "1", "charge number z (elementary charges per particle)", REQUIRED, low=-8, high=8),
    "diffusivity": Key("number", "m^2/s", "diffusivity D at the ambient temperature", REQUIRED, low=0.0, high=1.0),
    "activation_energy": Key(
        "number", "J/mol", "activation energy E_a of D(T)", 0.0, low=0.0, high=1e7, low_inclusive=True
    ),
    "partial_molar_volume": Key(
        "number", "m^3/mol", "partial molar volume Omega (its chemical expansion)", REQUIRED, low=-1e-3, high=1e-3
    ),
    "concentration": Key("number", "mol/m^3", "equilibrium concentration c", REQUIRED, low=0.0, high=1e7),
    "heat_of_transport": Key(
        "number", "J/mol", "heat of transport Q* (thermotransport; Q* > 0 toward the cold)", 0.0,
        low=-HEAT_OF_TRANSPORT_BOUND, high=HEAT_OF_TRANSPORT_BOUND,
    ),
}
#: The keys of one [[geometry.grain_boundaries]] table (docs/study-files.md, 'Grain boundaries').
BOUNDARY_SCHEMA: dict[str, Key] = {
    "point": Key("numbers", "m", "a point [x, y] of the boundary's plane on the top surface", REQUIRED),
    "normal": Key("numbers", "1", "lateral normal [nx, ny] of the plane (any length but zero)", REQUIRED),
    "width": Key("number", "m", "width of the core", REQUIRED, **_POSITIVE),
    "properties": Key("table", "SI", "overrides of the sample material's properties inside the core", {}),
    "beyond_properties": Key(
        "table", "SI", "overrides of the sample material's properties in the grain beyond the core, on the "
        "normal's side (absent: the sample's material)",
    ),
    "space_charge_excess": Key(
        "number", "1", "relative excess A of c0 on both sides of the core: c0 (1 + A exp(-distance/length))", 0.0,
        low=-1.0, high=1e3,
    ),
    "space_charge_length": Key("number", "m", "decay length of the boundary's space-charge layers", **_POSITIVE),
    "space_charge_potential": dataclasses.replace(
        SCHEMA["ions"]["space_charge_potential"], meaning="potential phi0 of the core relative to the bulk: "
        "equilibrium (Poisson-Boltzmann) space-charge layers of the [[sample.species]] on both sides of the core",
    ),
    "space_charge_charge": dataclasses.replace(
        SCHEMA["ions"]["space_charge_charge"], meaning="charge Q of the core per area: equilibrium space-charge "
        "layers on both sides of it, -Q/2 each (instead of space_charge_potential)",
    ),
}

#: Material properties that [[sample.species]] replace (the pair's derived values, :func:`_charged`).
SPECIES_PROPERTIES = ("diffusivity", "activation_energy", "partial_molar_volume", "concentration")

#: Sections that describe what to do with the model rather than the model (a sweep, a protocol, the
#: instrument, a fit); each is validated by the module that uses it and kept raw in
#: :attr:`Study.extensions`.
EXTENSION_SECTIONS = ("sweep", "protocol", "instrument", "fit")

#: Keys of [excitation] that each heating mode needs; the others of this list it must not have.
MODE_KEYS: dict[str, tuple[str, ...]] = {
    "power": ("power_amplitude", "dc_power"),
    "heater": ("heater_temperature_amplitude", "contact_conductance"),
    "laser": ("mean_power", "modulation_depth", "beam_radius", "absorptance", "absorption_length"),
    "joule": (
        "dc_voltage", "ac_voltage", "heater_resistance", "contact_conductance", "heater_conductance",
        "heater_heat_capacity", "heater_temperature_coefficient",
    ),
}
MODE_REQUIRED: dict[str, tuple[str, ...]] = {
    "power": ("power_amplitude",),
    "heater": ("heater_temperature_amplitude", "contact_conductance"),
    "laser": ("mean_power", "modulation_depth", "beam_radius"),
    "joule": ("ac_voltage", "heater_resistance", "contact_conductance", "heater_conductance"),
}


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
    model: str = "axisymmetric"
    #: Planar grain boundaries (3D; :mod:`stimsim.grains`).
    grain_boundaries: tuple[GrainBoundary, ...] = ()

    def regions(self) -> tuple[Material, ...]:
        """The materials of the sample (or film) region: its material, then those of the grains beyond
        the boundaries and of the boundary cores (:func:`stimsim.grains.region_materials`)."""
        return region_materials(self.material, self.grain_boundaries)

    def materials(self) -> tuple[Material, ...]:
        """Every material of the sample: :meth:`regions` and the substrate."""
        return self.regions() if self.substrate is None else (*self.regions(), self.substrate)

    def bulk_materials(self) -> tuple[Material, ...]:
        """The materials of :meth:`materials` but the grain-boundary cores: those whose thermal and
        chemical lengths the mesh grading follows (a core is resolved by its width instead)."""
        cores = [b.core for b in self.grain_boundaries]
        return tuple(m for m in self.materials() if not any(m is core for core in cores))


@dataclass(frozen=True)
class Ions:
    """Ionic boundary conditions and equilibrium profile (see :data:`SCHEMA` ['ions']); SI units."""

    electrostatics: str = "none"
    surface: str = "blocking"
    exchange_velocity: float | None = None
    exchange_equilibrium: str = "stress"
    substrate: str = "blocking"
    space_charge_excess: float = 0.0
    space_charge_length: float | None = None
    space_charge_potential: float | None = None
    space_charge_charge: float | None = None


@dataclass(frozen=True)
class MeshOptions:
    """Mesh accuracy knob and domain-size rule (see :data:`SCHEMA` ['mesh'])."""

    refinement: float = 1.0
    domain_thermal_lengths: float = 10.0
    domain_size: float | None = None


@dataclass(frozen=True)
class SolverOptions:
    """How the periodic state is solved (see :data:`SCHEMA` ['solver'])."""

    periodic: str = "auto"
    harmonics: int | None = None
    periods: int = 40
    steps_per_period: int = 64
    linear: str = "direct"


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

    @property
    def drive(self) -> Drive:
        """The heating mode of the study (:mod:`stimsim.drives`)."""
        return make_drive(self.excitation, self.tip)

    @property
    def poisson(self) -> bool:
        """Whether the charged species move under Nernst-Planck-Poisson (ions.electrostatics = 'poisson')."""
        return self.ions.electrostatics == "poisson"

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


def load_study(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Study:
    """Read, override (``KEY=VALUE`` strings, VALUE in TOML syntax) and validate a study file."""
    return study_from_dict(read_study_file(path, overrides))


def read_study_file(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """The raw study dict of a TOML file with the ``KEY=VALUE`` overrides applied (not validated)."""
    path = Path(path)
    if path.is_dir():
        raise InputError("STUDY", f"{str(path)!r} is a folder; give a study file (TOML), e.g. {str(path / 'default.toml')!r}")
    if not path.is_file():
        raise InputError("STUDY", f"file {str(path)!r} does not exist")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError("STUDY", f"{str(path)!r} is not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError("STUDY", f"{str(path)!r} is not valid TOML: {err}") from None
    for item in overrides:
        apply_override(raw, item)
    return raw


def apply_override(raw: dict, item: str) -> None:
    """Apply one ``section.key=value`` override to the raw study dict in place."""
    name, sep, text = item.partition("=")
    name = name.strip()
    if not sep or not name:
        raise InputError("--set", f"expects KEY=VALUE (e.g. tip.contact_radius=20e-9), got {item!r}")
    try:
        value = tomllib.loads(f"value = {text.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        # a bare word is a string (--set tip.weighting=hertz); anything else is a TOML typo
        if not _BARE_WORD.fullmatch(text.strip()):
            raise InputError(
                "--set", f"{name}={text.strip()!r}: the value is not TOML (numbers as 2e-8, lists as [1e4, 1e5], "
                "strings as hertz or 'hertz')"
            ) from None
        value = text.strip()
    set_key(raw, name, value)


_BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_+\-.]*")


def set_key(raw: dict, name: str, value: Any) -> None:
    """Set the dotted study key ``name`` (e.g. 'tip.force') to ``value`` in a raw study dict; ``None``
    removes the key."""
    *parents, leaf = name.split(".")
    table = raw
    for part in parents:
        table = table.setdefault(part, {})
        if not isinstance(table, dict):
            raise InputError(name, "cannot be set: its parent is not a table")
    if value is None:
        table.pop(leaf, None)
    else:
        table[leaf] = copy.deepcopy(value)


def derived_study(study: Study, changes: dict[str, Any]) -> Study:
    """The study with the dotted keys of ``changes`` set to new values (e.g. ``{"tip.force": 1e-7}``),
    validated again; ``None`` removes a key."""
    return _changed(copy.deepcopy(study.raw), changes)


def _changed(raw: dict, changes: dict[str, Any]) -> Study:
    """The study of the raw dict ``raw`` with the dotted keys of ``changes`` set, validated."""
    for name, value in changes.items():
        set_key(raw, name, value)
    return study_from_dict(raw)


def immobile_study(study: Study, changes: dict[str, Any]) -> Study:
    """The study with the ions held immobile (sample concentration 0), with the dotted keys of
    ``changes`` set as in :func:`derived_study`. [[sample.species]] tables, which own the concentration,
    go first, with the [ions] table and the grain boundaries' space-charge keys that only charged
    species can have."""
    raw = copy.deepcopy(study.raw)
    if study.sample.species:
        raw["sample"].pop("species")
        raw.pop("ions", None)
        for boundary in raw.get("geometry", {}).get("grain_boundaries", []):
            for key in LAYER_KEYS:
                boundary.pop(key, None)
    set_key(raw, "sample.properties.concentration", 0.0)
    return _changed(raw, changes)


def study_from_dict(raw: dict) -> Study:
    """Validate a raw study dict (as parsed from TOML) and return the :class:`Study`."""
    _reject_unknown(raw)
    resolved = {section: _check_section(section, raw.get(section, {})) for section in SCHEMA}
    excitation = _excitation(resolved["excitation"], given=set(raw.get("excitation", {})))
    unused = set().union(*MODE_KEYS.values()) - set(MODE_KEYS[excitation.mode])
    resolved["excitation"] = {k: v for k, v in resolved["excitation"].items() if k not in unused}
    species, pair = _charged_species(
        resolved["sample"]["species"], resolved["ions"]["electrostatics"], excitation.ambient_temperature
    )
    if resolved["ions"]["electrostatics"] == "poisson" and resolved["geometry"]["model"] == "3d":
        raise InputError(
            "geometry.model", "= '3d' is not yet supported with ions.electrostatics = 'poisson' (accepted: "
            "'axisymmetric'; 'electroneutral' supports it)"
        )
    sample = _sample(resolved["sample"], resolved["geometry"], species, pair, excitation.ambient_temperature)
    if resolved["geometry"]["grain_boundaries"]:
        resolved["geometry"]["grain_boundaries"] = [
            {k: v for k, v in t.items() if v is not None} for t in resolved["geometry"]["grain_boundaries"]
        ]
    tip = _tip(resolved["tip"], excitation.mode, sample.material, sample.model)
    resolved["tip"]["contact_radius"] = tip.contact_radius
    derived = SPECIES_PROPERTIES if species else ()
    resolved["sample"]["properties"] = {k: v for k, v in sample.material.properties().items() if k not in derived}
    if sample.substrate is not None:
        resolved["geometry"]["substrate_properties"] = sample.substrate.properties()
    mesh = MeshOptions(**{k: v for k, v in resolved["mesh"].items() if v is not None})
    ions = _ions(resolved["ions"], sample, excitation.ambient_temperature)
    extensions = {name: raw[name] for name in EXTENSION_SECTIONS if name in raw}
    solver = SolverOptions(**{k: v for k, v in resolved["solver"].items() if v is not None})
    study = Study(
        sample=sample, tip=tip, excitation=excitation, ions=ions, mesh=mesh, solver=solver,
        resolved=_drop_none(resolved) | extensions, extensions=extensions, raw=copy.deepcopy(raw),
    )
    _cross_check(study)
    return study


def _reject_unknown(raw: dict) -> None:
    for section, table in raw.items():
        if section not in SCHEMA and section not in EXTENSION_SECTIONS:
            raise InputError(section, f"is not a study section{_suggest(section, [*SCHEMA, *EXTENSION_SECTIONS])}")
        if not isinstance(table, dict):
            raise InputError(section, "must be a table ([section])")
        if section in EXTENSION_SECTIONS:
            continue
        for key in table:
            if key not in SCHEMA[section]:
                raise InputError(f"{section}.{key}", f"is not a known key{_suggest(key, SCHEMA[section])}")


def _suggest(word: str, known) -> str:
    return suggest(word, known)


def _check_section(section: str, table: dict) -> dict:
    return {key: _check_value(f"{section}.{key}", spec, table.get(key)) for key, spec in SCHEMA[section].items()}


def _check_value(name: str, spec: Key, value: Any) -> Any:
    if value is None:
        if spec.default is REQUIRED:
            raise InputError(name, f"is required ({spec.meaning}, {spec.unit})")
        return spec.default
    if spec.kind == "number":
        return _check_number(name, spec, value)
    if spec.kind == "numbers":
        if not isinstance(value, list) or not value:
            raise InputError(name, f"must be a non-empty list of numbers in {spec.unit}")
        return [_check_number(f"{name}[{i}]", spec, v) for i, v in enumerate(value)]
    if spec.kind == "integers":
        if not isinstance(value, list) or not value:
            raise InputError(name, f"must be a non-empty list of integers in [{spec.low:g}, {spec.high:g}]")
        single = dataclasses.replace(spec, kind="integer")
        return [_check_value(f"{name}[{i}]", single, v) for i, v in enumerate(value)]
    if spec.kind == "string":
        if not isinstance(value, str) or (spec.choices and value not in spec.choices):
            accepted = " or ".join(repr(c) for c in spec.choices) if spec.choices else "a string"
            hint = did_you_mean(value, spec.choices) if isinstance(value, str) and spec.choices else ""
            raise InputError(name, f"= {value!r} is not accepted; use {accepted}{hint}")
        return value
    if spec.kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int) or not spec.low <= value <= spec.high:
            raise InputError(name, f"= {value!r} must be an integer in [{spec.low:g}, {spec.high:g}]")
        return value
    if spec.kind == "table":
        if not isinstance(value, dict):
            raise InputError(name, "must be a table of property = value")
        return dict(value)
    if spec.kind == "boundaries":
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            raise InputError(name, "must be an array of tables ([[geometry.grain_boundaries]] in TOML)")
        return [check_table(f"{name}[{i}]", BOUNDARY_SCHEMA, t) for i, t in enumerate(value)]
    if spec.kind == "species":
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            raise InputError(name, "must be an array of tables ([[sample.species]] in TOML)")
        return [check_table(f"{name}[{i}]", SPECIES_SCHEMA, t) for i, t in enumerate(value)]
    raise AssertionError(f"unknown schema kind {spec.kind}")


def check_table(name: str, schema: dict[str, Key], table: Any) -> dict:
    """Validate the extension table ``name`` (e.g. 'protocol.modulation') against ``schema``: unknown
    keys, types, ranges and defaults, as for the physics sections."""
    if not isinstance(table, dict):
        raise InputError(name, "must be a table ([section])")
    for key in table:
        if key not in schema:
            raise InputError(f"{name}.{key}", f"is not a known key{_suggest(key, schema)}")
    return {key: _check_value(f"{name}.{key}", spec, table.get(key)) for key, spec in schema.items()}


def _check_number(name: str, spec: Key, value: Any) -> float:
    return checked_number(name, value, spec.low, spec.high, spec.unit, spec.low_inclusive, spec.high_inclusive)


def _excitation(table: dict, given: set[str]) -> Excitation:
    mode = table["mode"]
    for key in sorted(given & (set().union(*MODE_KEYS.values()) - set(MODE_KEYS[mode]))):
        raise InputError(f"excitation.{key}", f"is not used by mode {mode!r} (remove it)")
    for key in MODE_REQUIRED[mode]:
        if table.get(key) is None:
            raise InputError(f"excitation.{key}", f"is required for mode {mode!r} ({SCHEMA['excitation'][key].unit})")
    used = {key: table[key] for key in MODE_KEYS[mode]}
    return Excitation(
        mode=mode,
        frequencies=tuple(table["frequencies"]),
        ambient_temperature=table["ambient_temperature"],
        **used,
    )


def _tip(table: dict, mode: str, sample: Material, model: str) -> Tip:
    if mode == "laser" and table["thermal_contact_radius"] is not None:
        raise InputError("tip.thermal_contact_radius", "is not used by excitation.mode 'laser' (the beam heats)")
    force, tip_radius, radius = table["force"], table["tip_radius"], table["contact_radius"]
    if force is None:
        if tip_radius is not None:
            raise InputError("tip.tip_radius", "is only used with tip.force (a Hertz preload)")
        if radius is None:
            raise InputError("tip.contact_radius", "is required (m), or give tip.force and tip.tip_radius")
        force = 0.0
    else:
        if tip_radius is None or radius is not None:
            raise InputError("tip.force", "needs tip.tip_radius and sets the contact radius: remove tip.contact_radius")
        radius = hertz_contact_radius(force, tip_radius, sample)
    return Tip(
        contact_radius=radius,
        thermal_contact_radius=table["thermal_contact_radius"] or radius,
        weighting=table["weighting"],
        force=force,
        tip_radius=tip_radius,
        position=_tip_position(table["position"], model),
    )


def _tip_position(position: list[float] | None, model: str) -> tuple[float, float]:
    """The checked ``tip.position`` (m): two numbers, and off the axis only in 3D (its range on the
    sample is checked with the domain size, :func:`_check_tip_position`)."""
    if position is None:
        return (0.0, 0.0)
    if len(position) != 2:
        raise InputError("tip.position", f"= {position!r} must be two numbers [x, y] in m")
    if model != "3d" and any(position):
        raise InputError("tip.position", "is off the axis: it needs geometry.model = '3d' (the axisymmetric tip is on the axis)")
    return (float(position[0]), float(position[1]))


def hertz_contact_radius(force: float, tip_radius: float, sample: Material) -> float:
    """Hertz contact radius a = (3 F R / (4 E*))^(1/3) (m) of a rigid sphere of radius R (m) pressed with
    F (N) on the sample, E* = E / (1 - nu^2) (Johnson, Contact Mechanics, 1985, section 4.2)."""
    reduced = sample.youngs_modulus / (1 - sample.poisson_ratio**2)
    return (3 * force * tip_radius / (4 * reduced)) ** (1 / 3)


def _charged_species(tables: list | None, electrostatics: str, ambient: float) -> tuple[tuple[Species, ...], ElectroneutralPair | None]:
    """The charged species of the [[sample.species]] tables and, under 'electroneutral', their pair
    (none with electrostatics 'none'). 'electroneutral' needs an ion and its compensating carrier;
    'poisson' one charged species (against the fixed dopant) or two of opposite charge."""
    if electrostatics == "none":
        if tables:
            raise InputError(
                "sample.species", "needs ions.electrostatics = 'electroneutral' or 'poisson' (with 'none' the single "
                "neutral species of [sample.properties] moves)"
            )
        return (), None
    counts = (2,) if electrostatics == "electroneutral" else POISSON_SPECIES
    if not tables or len(tables) not in counts:
        accepted = ("exactly two tables under ions.electrostatics = 'electroneutral', an ionic species and its "
                    "compensating carrier (e.g. electrons, charge -1)" if electrostatics == "electroneutral" else
                    "one or two tables under ions.electrostatics = 'poisson', a charged species (against the fixed "
                    "dopant) and optionally its compensating carrier (more are not supported yet)")
        raise InputError("sample.species", f"needs {accepted}, got {len(tables or [])}")
    species = tuple(Species(**table) for table in tables)
    if len(species) == 2 and species[1].name == species[0].name:
        raise InputError("sample.species[1].name", f"= {species[1].name!r} repeats the name of sample.species[0]")
    ion = species[0]
    if ion.charge == 0 or (len(species) == 2 and ion.charge * species[1].charge >= 0):
        blamed = 0 if ion.charge == 0 else 1
        raise InputError(
            f"sample.species[{blamed}].charge",
            f"= {species[blamed].charge}: under ions.electrostatics = {electrostatics!r} the species must be charged "
            f"(z != 0), a second one of the opposite sign, compensating the first ({ion.name!r}, z = {ion.charge})",
        )
    return species, (ElectroneutralPair(*species, ambient) if electrostatics == "electroneutral" else None)


def _charged(mat: Material, species: tuple[Species, ...], ambient: float, sample: dict) -> Material:
    """The material with the ionic properties of the charged ``species``: an electroneutral pair's (or,
    under 'poisson', two species') derived values, the ambipolar chemical diffusivity and its apparent
    activation energy at the ambient temperature, Omega_n and the thermodynamic concentration c*, or the
    lone species' own, so that scales and lengths treat them as the neutral species with the same linear
    response at the ambient temperature ``ambient`` (K; docs/physics.md, 'Charged species: the
    electroneutral limit')."""
    for key in SPECIES_PROPERTIES:
        if key in sample["properties"]:
            raise InputError(f"sample.properties.{key}", "is set by the [[sample.species]] tables: remove it")
    if "relative_permittivity" not in sample["properties"] | PARAMETER_SETS[mat.name].values:
        raise InputError(
            "sample.properties.relative_permittivity",
            f"is required with [[sample.species]]: material {mat.name!r} has none (it sets the Debye length)",
        )
    if len(species) == 2:
        source = ElectroneutralPair(*species, ambient)
        diffusivity, concentration = source.chemical_diffusivity(ambient), source.thermodynamic_concentration
    else:
        source = species[0]
        diffusivity, concentration = source.diffusivity, source.concentration
    return dataclasses.replace(
        mat, diffusivity=diffusivity, activation_energy=source.activation_energy,
        partial_molar_volume=source.partial_molar_volume, concentration=concentration,
        heat_of_transport=source.heat_of_transport,
        notes={k: v for k, v in mat.notes.items() if k not in SPECIES_PROPERTIES},
    )


def _sample(sample: dict, geometry: dict, species: tuple[Species, ...], pair: ElectroneutralPair | None,
            ambient: float) -> Sample:
    """The :class:`Sample` of the checked tables, with the charged ``species`` (their ``pair`` under
    'electroneutral') at the ambient temperature ``ambient`` (K)."""
    film_keys = ("film_thickness", "substrate", "substrate_properties")
    mat = material(sample["material"], sample["properties"])
    if species:
        mat = _charged(mat, species, ambient, sample)
    boundaries = _grain_boundaries(geometry, mat, species, ambient)  # 'poisson' refuses 3D, hence grain boundaries
    if geometry["kind"] == "halfspace":
        for key in film_keys:
            if geometry[key] is not None:
                raise InputError(f"geometry.{key}", "is only used with geometry.kind = 'film'")
        return Sample(material=mat, pair=pair, species=species, model=geometry["model"], grain_boundaries=boundaries)
    for key in film_keys[:2]:
        if geometry[key] is None:
            raise InputError(f"geometry.{key}", "is required for geometry.kind = 'film'")
    substrate = material(
        geometry["substrate"], geometry["substrate_properties"], "geometry.substrate", "geometry.substrate_properties"
    )
    return Sample(
        material=mat, kind="film", film_thickness=geometry["film_thickness"], substrate=substrate, pair=pair,
        species=species, model=geometry["model"], grain_boundaries=boundaries,
    )


def _grain_boundaries(geometry: dict, mat: Material, species: tuple[Species, ...], ambient: float) -> tuple[GrainBoundary, ...]:
    """The checked [[geometry.grain_boundaries]] (their position on the sample is checked with the domain
    size, :func:`_check_3d`): 3D only, a non-zero normal (normalised), the overrides of ``mat``'s
    properties checked as [sample.properties] are, with mobile ions in every region or in none; the
    charged ``species`` at the ambient temperature ``ambient`` (K) screen the cores' charges."""
    tables = geometry["grain_boundaries"] or []
    if tables and geometry["model"] != "3d":
        raise InputError(
            "geometry.grain_boundaries", "need geometry.model = '3d' (an axisymmetric sample is laterally uniform)"
        )
    return tuple(_grain_boundary(f"geometry.grain_boundaries[{i}]", t, mat, species, ambient) for i, t in enumerate(tables))


#: Properties a grain-boundary table must not override with [[sample.species]]: the pair sets them
#: uniformly (:func:`_charged`), and its space-charge layers take the sample's permittivity.
PAIR_UNIFORM_PROPERTIES = (*SPECIES_PROPERTIES, "heat_of_transport", "relative_permittivity")


def _grain_boundary(name: str, table: dict, mat: Material, species: tuple[Species, ...], ambient: float) -> GrainBoundary:
    """The :class:`GrainBoundary` of the checked table ``name``: its core and grain are ``mat`` with
    the table's overrides; with the charged ``species``, the core potential of their equilibrium
    space-charge layers at ``ambient`` (K; :func:`_core_potential`, -Q/2 on each side)."""
    for key in ("point", "normal"):
        if len(table[key]) != 2:
            raise InputError(f"{name}.{key}", f"= {table[key]!r} must be two numbers [x, y]")
    length = math.hypot(*table["normal"])
    if length == 0:
        raise InputError(f"{name}.normal", "= [0, 0] must not be zero (the plane's lateral normal [nx, ny])")
    potential = _core_potential(name, {k: table[k] for k in LAYER_KEYS}, species, mat, ambient, sides=2)
    regions = {}
    for key in ("properties", "beyond_properties"):
        if table[key] is None:
            continue
        uniform = [p for p in PAIR_UNIFORM_PROPERTIES if p in table[key]] if species else []
        if uniform:
            raise InputError(
                f"{name}.{key}.{uniform[0]}", "is set by the [[sample.species]] tables and the sample's properties "
                "uniformly over the grains and cores: remove it"
            )
        region = material(mat.name, mat.properties() | table[key], f"{name}.{key}", f"{name}.{key}")
        if region.is_ionic != mat.is_ionic:
            raise InputError(
                f"{name}.{key}", f"must leave the ions {'mobile' if mat.is_ionic else 'immobile'} as in the sample: "
                "ions move where diffusivity, concentration and partial_molar_volume are all non-zero"
            )
        regions[key] = region
    return GrainBoundary(
        point=tuple(table["point"]), normal=tuple(v / length for v in table["normal"]), width=table["width"],
        core=regions["properties"], beyond=regions.get("beyond_properties"),
        space_charge_excess=table["space_charge_excess"], space_charge_length=table["space_charge_length"],
        core_potential=potential or None, core_charge=table["space_charge_charge"],  # a core at 0 V has no layers
    )


def _ions(table: dict, sample: Sample, ambient: float) -> Ions:
    """The checked [ions] of ``sample`` at the ambient temperature ``ambient`` (K)."""
    ions = Ions(**table)
    if ions.surface == "exchange" and ions.exchange_velocity is None:
        raise InputError("ions.exchange_velocity", "is required for ions.surface = 'exchange' (m/s)")
    _core_potential("ions", {k: table[k] for k in LAYER_KEYS}, sample.species, sample.material, ambient, sides=1)
    if sample.species and ions.substrate == "conducting":
        raise InputError("ions.substrate", "= 'conducting' is not yet supported with [[sample.species]] (the substrate's ions are neutral)")
    if ions.electrostatics == "poisson":
        _check_poisson(ions, sample)
    if ions.substrate == "conducting":
        if sample.substrate is None or not sample.substrate.is_ionic:
            raise InputError(
                "ions.substrate", "= 'conducting' needs geometry.kind = 'film' and an ionic substrate material"
            )
    return ions


def _check_poisson(ions: Ions, sample: Sample) -> None:
    """Refuse what Nernst-Planck-Poisson does not support yet: surface exchange (each species would
    need its own) and films (the potential in the substrate); 3D samples are refused before the sample
    is built (:func:`study_from_dict`), since grain boundaries check their layers with it."""
    refused = {
        "ions.surface": (ions.surface == "exchange", "= 'exchange'", "blocking"),
        "geometry.kind": (sample.kind == "film", "= 'film'", "halfspace"),
    }
    for key, (given, what, accepted) in refused.items():
        if given:
            raise InputError(
                key, f"{what} is not yet supported with ions.electrostatics = 'poisson' (accepted: {accepted!r}; "
                "'electroneutral' supports it)"
            )
    if not sample.material.is_ionic:  # the scales come from the chemical expansion of the species (Omega_n)
        raise InputError(
            f"sample.species[{len(sample.species) - 1}].partial_molar_volume", "makes the species' net chemical "
            "expansion zero (Omega_i + w Omega_p = 0 for two species): ions.electrostatics = 'poisson' scales the "
            "species by it, so it must not vanish"
        )


#: The keys of a space-charge layer, under [ions] (the top surface) and in a grain-boundary table.
LAYER_KEYS = ("space_charge_potential", "space_charge_charge", "space_charge_excess", "space_charge_length")


def _core_potential(
    prefix: str, values: dict, species: tuple[Species, ...], mat: Material, ambient: float, sides: int
) -> float | None:
    """The core potential phi0 (V) of the equilibrium space-charge layers that the keys ``values``
    (:data:`LAYER_KEYS` under ``prefix``) give, None without them: the potential, or the one at which
    ``sides`` layers (1 under a surface, 2 beside a grain-boundary core) screen the core charge together
    by Grahame's relation, each -Q/sides, in the layer of the charged ``species`` in ``mat`` at the
    ambient temperature ``ambient`` (K). Refuses the prescribed exponential with charged species or
    without its length, an equilibrium layer without charged species, given twice, beside the
    prescribed exponential, or with |phi0| > :data:`MAX_CORE_POTENTIAL` or
    |z F phi0/(R T)| > :data:`LARGEST_SCALED_POTENTIAL`."""
    excess = values["space_charge_excess"]
    given = [name for name in LAYER_KEYS[:2] if values[name] is not None]
    key = f"{prefix}.{given[0]}" if given else None
    if len(given) == 2:
        raise InputError(
            f"{prefix}.space_charge_charge", f"and {prefix}.space_charge_potential both set the core: give one of them"
        )
    if given and excess != 0:
        raise InputError(
            key, f"and {prefix}.space_charge_excess both set the space-charge layer: give the equilibrium "
            "layer (with [[sample.species]]) or the prescribed exponential (neutral species), not both"
        )
    if excess != 0 and species:
        raise InputError(
            f"{prefix}.space_charge_excess", "(a prescribed layer of a neutral species) is not supported with "
            f"[[sample.species]]: give the core of equilibrium layers, {prefix}.space_charge_potential or "
            f"{prefix}.space_charge_charge"
        )
    if excess != 0 and values["space_charge_length"] is None:
        raise InputError(f"{prefix}.space_charge_length", f"is required when {prefix}.space_charge_excess is not 0 (m)")
    if not given:
        return None
    if not species:
        electrostatics = "'electroneutral' or 'poisson'" if prefix == "ions" else "'electroneutral' (in 3D)"
        raise InputError(
            key, "needs charged species: an equilibrium space-charge layer is Boltzmann in the potential, "
            f"so it needs [[sample.species]] with ions.electrostatics = {electrostatics} (a neutral "
            f"species: {prefix}.space_charge_excess and {prefix}.space_charge_length prescribe a layer)"
        )
    layer = species_layer(species, mat.relative_permittivity, ambient)
    largest = LARGEST_SCALED_POTENTIAL * layer.thermal_voltage / max(abs(z) for z in layer.charges)
    bound = min(MAX_CORE_POTENTIAL, largest)
    try:
        potential = values["space_charge_potential"]
        if potential is None:
            potential = layer.core_potential(values["space_charge_charge"] / sides)
    except ValueError:
        potential = math.inf
    if abs(potential) > bound:
        raise InputError(
            key, f"= {values[given[0]]:g} needs |z F phi0/(R T)| <= {LARGEST_SCALED_POTENTIAL:g} for every "
            f"species and |phi0| <= {MAX_CORE_POTENTIAL:g} V: accepted here |phi0| <= {bound:.3g} V, "
            f"|Q| <= {sides * layer.core_charge(bound):.3g} C/m^2"
        )
    return potential


def _cross_check(study: Study) -> None:
    size = domain_size(study)
    if study.sample.model == "3d":
        _check_3d(study, size)
    elif study.solver.linear == "iterative":
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


#: What a study cannot use yet with geometry.model = '3d': section or key -> why.
NOT_YET_3D = {
    "fit": "fits (the inverse model stretches axisymmetric meshes)",
    "sweep": "sweeps",
}


def _check_3d(study: Study, size: float) -> None:
    """Refuse what 3D does not support yet, and a tip off the sample or too close to its side
    (:func:`check_tip_position`)."""
    for section, what in NOT_YET_3D.items():
        if section in study.extensions:
            raise InputError(section, f"{what} are not yet supported with geometry.model = '3d'")
    for i, boundary in enumerate(study.sample.grain_boundaries):
        _check_boundary_on_sample(f"geometry.grain_boundaries[{i}]", boundary, size)
    check_tip_position(study, study.tip.position)


def check_tip_position(study: Study, position, key: str = "tip.position") -> None:
    """Refuse a tip ``position`` (x, y) in m off the 3D sample of ``study`` or too close to its side
    (the sample is 2 L wide, L the domain size; :func:`stimsim.geometry3d.tip_range`), naming ``key``."""
    from stimsim.geometry3d import tip_range

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


def flat_keys(table: dict, prefix: str = "") -> dict:
    """A nested study table as {dotted key: value}."""
    flat = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat |= flat_keys(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _drop_none(resolved: dict) -> dict:
    return {
        section: {key: value for key, value in table.items() if value is not None and value != {}}
        for section, table in resolved.items()
    }

