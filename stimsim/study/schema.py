"""The study-file schema: every key's kind, unit, meaning, default and accepted range
(:data:`SCHEMA` and the tables of [[sample.species]] and [[geometry.grain_boundaries]]), and the
checks of one value or table against it. Every error is an :class:`~stimsim.core.errors.InputError`
that names the key and the accepted values.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

from stimsim.core.errors import InputError, checked_number, did_you_mean, suggest
from stimsim.materials.library import (
    HEAT_OF_TRANSPORT_BOUND,
    PROPERTIES,
)


@dataclass(frozen=True)
class Key:
    """One study-file key: kind ('number', 'integer', 'string', 'boolean', 'numbers', 'integers', 'strings',
    'table', 'species', 'boundaries'), unit, meaning,
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
#: resolves lambda_D in the surface layer and around the contact edge (docs/theory/physics.md,
#: 'Charged species: Nernst-Planck-Poisson'); below it the electroneutral limit holds.
MIN_DEBYE_FRACTION = 0.01
#: Fewest time steps of periodic = 'time_domain' per period of the highest reported harmonic: there
#: Crank–Nicolson leaves the second to fourth harmonics of SDC 3 to 12 % off (4 steps: 13 to 34 %; 2,
#: the Nyquist frequency: two orders of magnitude), falling as (H/steps)^2 above (docs/theory/harmonics.md,
#: 'Time domain').
STEPS_PER_HARMONIC = 8

#: The study-file schema: section -> key -> :class:`Key`. The key table of
#: docs/guide/study-files.md is written from it by hand: keep the two in step.
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
            "string", "", "linear solver of the coupled ionic system: MUMPS LU ('direct'), GMRES with a "
            "field-split algebraic-multigrid preconditioner ('iterative', geometry.model = '3d' only), or 'auto' "
            "(the direct solver unless its estimated memory exceeds the budget of a 3D model the iterative one "
            "solves)", "auto", choices=("auto", "direct", "iterative"),
        ),
    },
    "mesh": {
        "refinement": Key(
            "number", "1", "mesh level: 2 halves every cell size (error / 4 to / 8); absent: from mesh.accuracy in "
            "3D, 1 in the axisymmetric model", low=0.1, high=16.0
        ),
        "accuracy": Key(
            "number", "1", "relative error asked of the tip response (u1; the ionic u2 within twice it), which "
            "chooses mesh.refinement by the geometry model's measured rule; absent: 0.01 in 3D (the axisymmetric "
            "model then keeps refinement 1)", low=1e-5, high=0.1, low_inclusive=True, high_inclusive=True,
        ),
        "domain_thermal_lengths": Key(
            "number", "1", "domain size in thermal lengths sqrt(2 kappa/omega) at the lowest frequency",
            10.0, low=2.0, high=1000.0,
        ),
        "domain_size": Key("number", "m", "explicit domain radius and depth (overrides the rule)", **_POSITIVE),
    },
}

#: The keys of one [[sample.species]] table (docs/guide/study-files.md, 'Charged species').
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
#: The keys of one [[geometry.grain_boundaries]] table (docs/guide/study-files.md, 'Grain boundaries').
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

#: Keys of [solver] that only the time domain reads (periodic = 'time_domain').
TIME_STEPPING_KEYS = ("periods", "steps_per_period")

#: Sections that describe what to do with the model rather than the model (a sweep, a protocol, the
#: instrument, a fit, a measurement design); each is validated by the module that uses it and kept raw
#: in :attr:`Study.extensions`.
EXTENSION_SECTIONS = ("sweep", "protocol", "instrument", "fit", "design")

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

#: The arrays of tables of a study file, by dotted name: the schema of one table (a key inside one is
#: named with its index, ``sample.species[0].diffusivity``).
ARRAYS: dict[str, dict[str, Key]] = {"sample.species": SPECIES_SCHEMA, "geometry.grain_boundaries": BOUNDARY_SCHEMA}
#: Keys of tables of material-property overrides, by the table (or array) that holds them.
PROPERTY_TABLES = {"sample": ("properties",), "geometry": ("substrate_properties",),
                   "geometry.grain_boundaries": ("properties", "beyond_properties")}
_INDEXED = re.compile(r"(?P<name>[^.\[\]]+)\[(?P<index>[^\]]*)\]")


def key_parts(name: str) -> list[tuple[str, int | None]]:
    """The parts of a dotted study key with their indices: ``'sample.species[0].charge'`` is
    ``[('sample', None), ('species', 0), ('charge', None)]``. An index must be a whole number >= 0."""
    parts = []
    for part in name.split("."):
        match = _INDEXED.fullmatch(part)
        if match is None:
            parts.append((part, None))
            continue
        if not match["index"].isdigit():
            raise InputError(name, f"has the index [{match['index']}]: an index is a whole number >= 0, e.g. {match['name']}[0]")
        parts.append((match["name"], int(match["index"])))
    return parts


def key_spec(name: str) -> Key:
    """The :class:`Key` of the dotted study key ``name`` that holds one value: a key of a section
    (``tip.force``), a material property of a property table (``sample.properties.diffusivity``,
    ``geometry.grain_boundaries[0].properties.diffusivity``) or a key of one table of an array
    (``sample.species[1].charge``). InputError naming ``name`` and what is accepted otherwise (the
    index is checked against a study by :func:`stimsim.study.load.set_key`)."""
    parts = key_parts(name)
    section = parts[0][0]
    if section not in SCHEMA:
        raise InputError(name, f"is not a study key: {section!r} is not a section{_listed(section, SCHEMA, 'sections')}")
    if parts[0][1] is not None:
        raise InputError(name, f"indexes {section}, which is not an array of tables (indexed: {', '.join(ARRAYS)})")
    table, path = SCHEMA[section], section
    for i, (part, index) in enumerate(parts[1:], start=1):
        if part in PROPERTY_TABLES.get(path, ()) and index is None:
            return _property_spec(name, parts[i + 1:], path, part)
        if part not in table:
            where = f"[[{path}]]" if path in ARRAYS else f"[{path}]"
            raise InputError(name, f"is not a study key{_listed(part, table, f'keys of {where}')}")
        path = f"{path}.{part}"
        if path in ARRAYS:
            if index is None:
                raise InputError(name, f"names the array of tables {path} ([[{path}]]): name one table by its index, "
                                 f"e.g. {path}[0].{next(iter(ARRAYS[path]))}")
            table = ARRAYS[path]
            continue
        if index is not None:
            raise InputError(name, f"indexes {path}, which is not an array of tables (indexed: {', '.join(ARRAYS)})")
        if i != len(parts) - 1:
            raise InputError(name, f"is not a study key ({path} has no sub-keys)")
        return table[part]
    raise InputError(name, f"names a table, not one value{_listed('', table, 'its keys')}")


def _listed(word: str, known, what: str) -> str:
    """' (what: a, b, ...)' with the did-you-mean hint of :func:`stimsim.core.errors.did_you_mean` before it."""
    return f"{did_you_mean(word, known)} ({what}: {', '.join(known)})"


def _property_spec(name: str, rest: list, path: str, table: str) -> Key:
    """The :class:`Key` of the material property ``rest`` (one part) of the property table ``table`` in ``path``."""
    if len(rest) != 1 or rest[0][1] is not None or rest[0][0] not in PROPERTIES:
        hint = did_you_mean(rest[0][0], PROPERTIES) if len(rest) == 1 else ""
        raise InputError(name, f"must name one material property{hint}: {path}.{table}.<{'|'.join(PROPERTIES)}>")
    spec = PROPERTIES[rest[0][0]]
    return Key("number", spec.unit, spec.meaning, low=spec.low, high=spec.high, low_inclusive=spec.low_inclusive)


def reject_unknown(raw: dict) -> None:
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


def check_section(section: str, table: dict) -> dict:
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
    if spec.kind == "strings":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(name, f"must be a list of strings ({spec.meaning}), got {value!r}")
        return list(value)
    if spec.kind == "boolean":
        if not isinstance(value, bool):
            raise InputError(name, f"= {value!r} must be true or false")
        return value
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


def flat_keys(table: dict, prefix: str = "", arrays: bool = False) -> dict:
    """A nested study table as {dotted key: value}; with ``arrays`` an array of tables is flattened too,
    by index (``geometry.grain_boundaries[0].properties.diffusivity``), else it is one value."""
    flat = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat |= flat_keys(value, f"{prefix}{key}.", arrays)
        elif arrays and isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for i, item in enumerate(value):
                flat |= flat_keys(item, f"{prefix}{key}[{i}].", arrays)
        else:
            flat[f"{prefix}{key}"] = value
    return flat
