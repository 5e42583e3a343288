"""Loading a study: read a TOML file, apply ``--set KEY=VALUE`` overrides, check every key against
the schema (:mod:`stimsim.study.schema`), build the :class:`~stimsim.study.study.Study` and run the
cross-checks (:mod:`stimsim.study.checks`). Derived studies (a changed key, the ions held immobile)
go through the same path.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import re
import tomllib
from pathlib import Path
from typing import Any

from stimsim.core.errors import InputError
from stimsim.materials.library import (
    PARAMETER_SETS,
    Material,
    material,
)
from stimsim.materials.spacecharge import LARGEST_SCALED_POTENTIAL
from stimsim.materials.species import ElectroneutralPair, Species, species_layer
from stimsim.study.checks import cross_check
from stimsim.study.grains import GrainBoundary
from stimsim.study.modes import PeriodicMethod
from stimsim.study.schema import (
    ARRAYS,
    EXTENSION_SECTIONS,
    MAX_CORE_POTENTIAL,
    MODE_KEYS,
    MODE_REQUIRED,
    POISSON_SPECIES,
    SCHEMA,
    SPECIES_PROPERTIES,
    TIME_STEPPING_KEYS,
    check_section,
    key_parts,
    reject_unknown,
)
from stimsim.study.modes import GeometryModel
from stimsim.study.study import (
    DEFAULT_3D_ACCURACY,
    DEFAULT_REFINEMENT,
    Excitation,
    Ions,
    MeshOptions,
    Sample,
    SolverOptions,
    Study,
    Tip,
    refinement_for,
)


log = logging.getLogger(__name__)


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
    """Set the dotted study key ``name`` (e.g. 'tip.force', or 'sample.species[0].charge' in a table of
    an array, :func:`~stimsim.study.schema.key_parts`) to ``value`` in a raw study dict; ``None``
    removes the key. An index must name an existing table of the array."""
    *parents, (leaf, index) = key_parts(name)
    table = raw
    for part, position in parents:
        table = table.setdefault(part, {}) if position is None else _element(table, part, position, name)
        if not isinstance(table, dict):
            raise InputError(name, "cannot be set: its parent is not a table")
    if index is not None:
        _element(table, leaf, index, name)
        array = table[leaf]
        if value is None:
            array.pop(index)
        else:
            array[index] = copy.deepcopy(value)
    elif value is None:
        table.pop(leaf, None)
    else:
        table[leaf] = copy.deepcopy(value)


def _element(table: dict, part: str, index: int, name: str) -> dict:
    """Table ``index`` of the array of tables ``part`` of ``table``, or an InputError naming ``name``,
    the array and its length."""
    array = table.get(part, [])
    if not isinstance(array, list):
        raise InputError(name, f"indexes {part}, which is not an array of tables (indexed: {', '.join(ARRAYS)})")
    if index >= len(array):
        where = name[: name.index(f"{part}[")] + part
        accepted = f"indices 0 to {len(array) - 1}" if array else "none"
        raise InputError(name, f"has index {index}, but {where} has {len(array)} table(s) ([[{where}]] in the study "
                         f"file; {accepted})")
    return array[index]


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
    return _changed(_immobile_raw(study), changes)


def _immobile_raw(study: Study) -> dict:
    """The raw study dict of :func:`immobile_study`."""
    raw = copy.deepcopy(study.raw)
    if study.sample.species:
        raw["sample"].pop("species")
        raw.pop("ions", None)
        for boundary in raw.get("geometry", {}).get("grain_boundaries", []):
            for key in LAYER_KEYS:
                boundary.pop(key, None)
    set_key(raw, "sample.properties.concentration", 0.0)
    return raw


def study_from_dict(raw: dict) -> Study:
    """Validate a raw study dict (as parsed from TOML) and return the :class:`Study`, with its
    :attr:`~stimsim.study.study.Study.immobile` companion where a periodic method needs one: mobile
    ions and a temperature-dependent alpha or k."""
    study = _built(raw)
    materials = study.sample.materials()
    if any(m.is_ionic for m in materials) and any(m.is_thermally_nonlinear for m in materials):
        return dataclasses.replace(study, immobile=_built(_immobile_raw(study)))
    return study


def _built(raw: dict) -> Study:
    """The :class:`Study` of the raw dict ``raw``, every key and cross-check validated."""
    reject_unknown(raw)
    resolved = {section: check_section(section, raw.get(section, {})) for section in SCHEMA}
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
    mesh = _mesh(resolved["mesh"], sample.model)
    ions = _ions(resolved["ions"], sample, excitation.ambient_temperature)
    extensions = {name: raw[name] for name in EXTENSION_SECTIONS if name in raw}
    solver = SolverOptions(**{k: v for k, v in resolved["solver"].items() if v is not None})
    if solver.periodic != PeriodicMethod.TIME_DOMAIN:  # the resolved study keeps only the keys its method reads
        resolved["solver"] = {k: v for k, v in resolved["solver"].items() if k not in TIME_STEPPING_KEYS}
    study = Study(
        sample=sample, tip=tip, excitation=excitation, ions=ions, mesh=mesh, solver=solver,
        resolved=_drop_none(resolved) | extensions, extensions=extensions, raw=copy.deepcopy(raw),
    )
    cross_check(study)
    return study


def _mesh(table: dict, model: GeometryModel) -> MeshOptions:
    """The mesh options of the [mesh] ``table`` (defaults filled in; completed in place to what sets the
    mesh level: mesh.refinement as given, else mesh.accuracy, 0.01 in 3D, or the axisymmetric default
    refinement). mesh.refinement wins over mesh.accuracy (warned); an accuracy chooses the refinement by
    :func:`~stimsim.study.study.refinement_for`."""
    refinement, accuracy = table["refinement"], table["accuracy"]
    if refinement is not None and accuracy is not None:
        log.warning(f"mesh.accuracy = {accuracy:g} is not used: mesh.refinement = {refinement:g} sets the mesh")
        accuracy = table["accuracy"] = None
    if refinement is None and accuracy is None:
        if model == GeometryModel.THREE_D:
            accuracy = table["accuracy"] = DEFAULT_3D_ACCURACY
        else:
            refinement = table["refinement"] = DEFAULT_REFINEMENT
    if accuracy is not None:
        refinement = refinement_for(accuracy, model)
    return MeshOptions(refinement, accuracy, table["domain_thermal_lengths"], table["domain_size"])


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
    response at the ambient temperature ``ambient`` (K; docs/theory/physics.md, 'Charged species: the
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
    if excess == 0 and values["space_charge_length"] is not None:
        raise InputError(
            f"{prefix}.space_charge_length", f"is only used by the prescribed layer, with {prefix}.space_charge_excess "
            "not 0 (an equilibrium layer's width follows from its core potential and the Debye length): remove it, "
            f"or give {prefix}.space_charge_excess"
        )
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


def _drop_none(resolved: dict) -> dict:
    return {
        section: {key: value for key, value in table.items() if value is not None and value != {}}
        for section, table in resolved.items()
    }
