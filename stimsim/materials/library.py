"""Material parameter sets (SI units) with their sources.

A :class:`Material` is an immutable, range-checked set of properties. Built-in sets live in
:data:`PARAMETER_SETS` as plain data: each value carries its unit in :data:`PROPERTIES`, each set its
citation, and uncertain or assumed values are listed with a note so that a user knows what to override.
Values, literature ranges and sources: ``docs/guide/materials.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from stimsim.core.errors import InputError, checked_number, suggest

#: Gas constant R in J/(mol K) (CODATA 2018, exact).
GAS_CONSTANT = 8.314462618
#: Elementary charge times Avogadro's number: converts eV per particle to J/mol.
EV_TO_J_PER_MOL = 96485.33212
#: Largest accepted |Q*| (J/mol): 5 eV per particle. Models of thermodiffusion relate the heat of
#: transport to the migration enthalpy, below about 3 eV per particle for ions in solids; a larger value
#: is a unit error (docs/guide/materials.md, 'Heat of transport (thermotransport)').
HEAT_OF_TRANSPORT_BOUND = 5 * EV_TO_J_PER_MOL


@dataclass(frozen=True)
class PropertySpec:
    """Unit, admissible open/closed interval and meaning of one material property."""

    unit: str
    low: float
    high: float
    meaning: str
    low_inclusive: bool = False
    #: Value of a parameter set that does not give the property.
    default: float = 0.0

    def check(self, key: str, value: object) -> float:
        """Return ``value`` as float or raise :class:`InputError` naming ``key`` and the range."""
        return checked_number(key, value, self.low, self.high, self.unit, self.low_inclusive)


#: Every material property: unit, accepted range and meaning. The single source of truth for
#: validation and for the study-file documentation.
PROPERTIES: dict[str, PropertySpec] = {
    "youngs_modulus": PropertySpec("Pa", 1e5, 2e12, "Young's modulus E"),
    "poisson_ratio": PropertySpec(
        "1", -1.0, 0.499, "Poisson ratio nu (the displacement formulation locks as nu -> 0.5)"
    ),
    "thermal_expansion": PropertySpec("1/K", -1e-3, 1e-3, "linear thermal expansion alpha"),
    "thermal_conductivity": PropertySpec("W/(m K)", 1e-3, 1e4, "thermal conductivity k"),
    "thermal_expansion_derivative": PropertySpec(
        "1/K^2", -1e-4, 1e-4, "temperature derivative alpha' of alpha(T) = alpha + alpha' (T - T_amb)"
    ),
    "thermal_conductivity_derivative": PropertySpec(
        "W/(m K^2)", -1e2, 1e2, "temperature derivative k' of k(T) = k + k' (T - T_amb)"
    ),
    "density": PropertySpec("kg/m^3", 1.0, 1e5, "mass density rho"),
    "heat_capacity": PropertySpec("J/(kg K)", 1.0, 1e5, "specific heat capacity c_p"),
    "diffusivity": PropertySpec(
        "m^2/s", 0.0, 1.0, "ionic diffusivity D at the ambient temperature", low_inclusive=True
    ),
    "activation_energy": PropertySpec(
        "J/mol", 0.0, 1e7, "activation energy E_a of D(T)", low_inclusive=True
    ),
    "partial_molar_volume": PropertySpec(
        "m^3/mol", -1e-3, 1e-3, "partial molar volume Omega of the mobile species (Vegard)"
    ),
    "concentration": PropertySpec(
        "mol/m^3", 0.0, 1e7, "equilibrium concentration c0 of the mobile species", low_inclusive=True
    ),
    "heat_of_transport": PropertySpec(
        "J/mol", -HEAT_OF_TRANSPORT_BOUND, HEAT_OF_TRANSPORT_BOUND,
        "heat of transport Q* of the mobile species (thermotransport flux -D c Q* grad T/(R T^2); "
        "Q* > 0 drives it toward the cold)",
    ),
    "relative_permittivity": PropertySpec(
        "1", 0.0, 1e5, "relative permittivity eps_r (Debye length of charged species)", default=1.0
    ),
}


@dataclass(frozen=True)
class Material:
    """An isotropic sample material in SI units (see :data:`PROPERTIES` for units and ranges)."""

    name: str
    youngs_modulus: float
    poisson_ratio: float
    thermal_expansion: float
    thermal_conductivity: float
    density: float
    heat_capacity: float
    thermal_expansion_derivative: float = 0.0
    thermal_conductivity_derivative: float = 0.0
    diffusivity: float = 0.0
    activation_energy: float = 0.0
    partial_molar_volume: float = 0.0
    concentration: float = 0.0
    heat_of_transport: float = 0.0
    relative_permittivity: float = 1.0
    citation: str = ""
    notes: dict[str, str] = field(default_factory=dict, compare=False)
    #: Highest temperature (K) the material stands as the solid the model describes (melting or
    #: decomposition; infinite where no limit is given) and what sets it, with its source.
    max_temperature: float = field(default=math.inf, compare=False)
    max_temperature_note: str = field(default="", compare=False)

    @property
    def volumetric_heat_capacity(self) -> float:
        """rho c_p in J/(m^3 K)."""
        return self.density * self.heat_capacity

    @property
    def thermal_diffusivity(self) -> float:
        """kappa = k / (rho c_p) in m^2/s."""
        return self.thermal_conductivity / self.volumetric_heat_capacity

    def chemical_diffusivity(self, temperature: float, ambient: float = 300.0) -> float:
        """Effective diffusivity (m^2/s) of the mobile ions at ``temperature`` (K): the thermally
        activated D(T) = D exp(-E_a/R (1/T - 1/T_amb)) (``ambient`` T_amb in K) enhanced by the elastic
        self-stress of the Vegard strain, D(T) (1 + 2 E Omega^2 c0 / (9 (1 - nu) R T)). The factor is
        that of an infinite body or a laterally constrained layer, where sigma_h = -2 E Omega c /
        (9 (1 - nu)) (Larche & Cahn, Acta Metall. 33, 331, 1985; tests/test_coupled.py)."""
        activated = self.diffusivity * math.exp(-self.activation_energy / GAS_CONSTANT * (1 / temperature - 1 / ambient))
        stiffening = 2 * self.youngs_modulus * self.partial_molar_volume**2 * self.concentration
        return activated * (1 + stiffening / (9 * (1 - self.poisson_ratio) * GAS_CONSTANT * temperature))

    @property
    def is_thermally_nonlinear(self) -> bool:
        """True when alpha or k depends on the temperature (alpha' or k' not zero)."""
        return self.thermal_expansion_derivative != 0 or self.thermal_conductivity_derivative != 0

    def conductivity_at(self, rise: float) -> float:
        """k(T) = k + k' (T - T_amb) in W/(m K) at the temperature ``rise`` T - T_amb (K)."""
        return self.thermal_conductivity + self.thermal_conductivity_derivative * rise

    @property
    def lame_lambda(self) -> float:
        """First Lame parameter lambda = E nu / ((1 + nu)(1 - 2 nu)) in Pa."""
        nu = self.poisson_ratio
        return self.youngs_modulus * nu / ((1 + nu) * (1 - 2 * nu))

    @property
    def shear_modulus(self) -> float:
        """Shear modulus mu = E / (2 (1 + nu)) in Pa."""
        return self.youngs_modulus / (2 * (1 + self.poisson_ratio))

    @property
    def is_ionic(self) -> bool:
        """True when the material has a mobile species that can make a Vegard strain."""
        return self.concentration > 0 and self.diffusivity > 0 and self.partial_molar_volume != 0

    def properties(self) -> dict[str, float]:
        """The physical properties as a plain dict (SI), without name, citation and notes."""
        return {key: getattr(self, key) for key in PROPERTIES}


@dataclass(frozen=True)
class ParameterSet:
    """A named, cited set of property values; ``notes`` flags uncertain or assumed values."""

    values: dict[str, float]
    citation: str
    notes: dict[str, str] = field(default_factory=dict)
    max_temperature: float = math.inf
    max_temperature_note: str = ""


_EV = EV_TO_J_PER_MOL

#: Built-in materials. Values in SI; see ``notes`` of each set for what is uncertain.
PARAMETER_SETS: dict[str, ParameterSet] = {
    "SDC": ParameterSet(
        values=dict(
            youngs_modulus=200e9,
            poisson_ratio=0.30,
            thermal_expansion=12e-6,
            thermal_conductivity=2.0,
            density=7160.0,
            heat_capacity=380.0,
            diffusivity=1e-13,
            activation_energy=0.7 * _EV,
            partial_molar_volume=6.5e-6,
            concentration=4.15e3,
            relative_permittivity=25.0,
        ),
        citation=(
            "Sm-doped ceria (SDC20, nanocrystalline). Elasticity: Wachtel & Lubomirsky, Scripta Mater. "
            "65 (2011) 112; conductivity: Solid State Ionics 100 (1997) 23; chemical expansion: "
            "Bishop et al., Electrochim. Acta 54 (2009) 1436."
        ),
        notes=dict(
            thermal_expansion="8-12e-6 1/K reported",
            thermal_conductivity="uncertain, 1-2 W/(m K) for nanocrystalline SDC",
            diffusivity="very uncertain at 300 K (1e-21 ... 1e-11 m^2/s); STIM data suggest 1e-15 ... 1e-11",
            activation_energy="assumed 0.7 eV, a typical oxygen-vacancy migration energy",
            partial_molar_volume="from a chemical expansion of 0.09; sign and size uncertain",
            concentration="oxygen vacancies of SDC20",
            heat_of_transport="not known for SDC at room temperature: 0 (no thermotransport); override it",
            relative_permittivity="24-26 for ceria; uncertain for nanocrystalline SDC",
        ),
        max_temperature=2670.0,
        max_temperature_note="melting point of CeO2, 2400 C (CRC Handbook of Chemistry and Physics, 97th ed., 2016)",
    ),
    "PTFE": ParameterSet(
        values=dict(
            youngs_modulus=0.5e9,
            poisson_ratio=0.46,
            thermal_expansion=120e-6,
            thermal_conductivity=0.25,
            density=2200.0,
            heat_capacity=1000.0,
        ),
        citation="PTFE, NETZSCH polymer data sheet (non-ionic STIM control sample).",
        notes=dict(
            youngs_modulus="0.4-0.75 GPa reported",
            thermal_expansion="100-150e-6 1/K reported",
        ),
        max_temperature=600.0,
        max_temperature_note="crystalline melting point of PTFE, 327 C (Ebnesajjad, Fluoroplastics Vol. 1, 2nd ed., 2015)",
    ),
    "LiCoO2": ParameterSet(
        values=dict(
            youngs_modulus=375e9,
            poisson_ratio=0.2,
            thermal_expansion=1.0e-5,
            thermal_conductivity=1.58,
            density=2470.0,
            heat_capacity=1080.0,
            diffusivity=5.4e-15,
            activation_energy=5e3,
            partial_molar_volume=-7.28e-7,
            concentration=49943.0,
        ),
        citation="PyBaMM parameter set Ai2020 (Ai et al., J. Electrochem. Soc. 167 (2020) 013512).",
        notes=dict(
            thermal_expansion="not in the cited set: assumed 1e-5 1/K; override it",
            thermal_conductivity="composite electrode value",
            density="composite electrode value (bulk about 5050 kg/m^3)",
            concentration="maximum lithium concentration c_max",
        ),
    ),
    "LiMn2O4": ParameterSet(
        values=dict(
            youngs_modulus=10e9,
            poisson_ratio=0.3,
            thermal_expansion=1.0e-5,
            thermal_conductivity=1.0,
            density=4280.0,
            heat_capacity=700.0,
            diffusivity=7.08e-15,
            partial_molar_volume=3.497e-6,
            concentration=2.29e4,
        ),
        citation="Zhang, Shyy & Sastry, J. Electrochem. Soc. 154 (2007) A910.",
        notes=dict(
            youngs_modulus="10 GPa in the cited paper; others report about 100 GPa",
            thermal_expansion="not in the cited paper: assumed 1e-5 1/K; override it",
            thermal_conductivity="unknown: assumed 1 W/(m K); override it",
            heat_capacity="not in the cited paper: assumed 700 J/(kg K); override it",
            concentration="maximum lithium concentration c_max",
        ),
    ),
    "MAPbI3": ParameterSet(
        values=dict(
            youngs_modulus=15e9,
            poisson_ratio=0.3,
            thermal_expansion=5e-5,
            thermal_conductivity=0.4,
            density=4160.0,
            heat_capacity=300.0,
            diffusivity=6.5e-8 * math.exp(-0.58 * _EV / (GAS_CONSTANT * 300.0)),
            activation_energy=0.58 * _EV,
            concentration=1.6e25 / 6.02214076e23,
        ),
        citation=(
            "CH3NH3PbI3. E: Appl. Phys. Lett. 110 (2017) 121903; iodide vacancies: IonMonger "
            "parameter file (Courtier et al.) and Eames et al., Nat. Commun. 6 (2015) 7497."
        ),
        notes=dict(
            youngs_modulus="10-20 GPa reported",
            thermal_conductivity="0.3-0.5 W/(m K) reported",
            diffusivity="D = 6.5e-8 exp(-0.58 eV/kT) m^2/s evaluated at 300 K",
            partial_molar_volume="unknown: set to 0 (no Vegard strain); override it",
        ),
    ),
    "Si": ParameterSet(
        values=dict(
            youngs_modulus=169e9,
            poisson_ratio=0.28,
            thermal_expansion=2.6e-6,
            thermal_conductivity=148.0,
            density=2329.0,
            heat_capacity=700.0,
        ),
        citation="Silicon (tip, substrate); isotropic average of the cubic constants (130-169 GPa).",
        notes=dict(
            youngs_modulus="130-169 GPa depending on direction",
            poisson_ratio="0.06-0.28 depending on direction",
        ),
        max_temperature=1687.0,
        max_temperature_note="melting point of silicon, 1414 C (CRC Handbook of Chemistry and Physics, 97th ed., 2016)",
    ),
}


def material(
    name: str,
    overrides: dict[str, object] | None = None,
    name_key: str = "sample.material",
    properties_key: str = "sample.properties",
) -> Material:
    """Return the built-in material ``name`` with ``overrides`` (SI) applied and every value checked.

    ``name_key`` and ``properties_key`` are the study-file entries named in error messages.
    """
    if name not in PARAMETER_SETS:
        raise InputError(name_key, f"= {name!r} is not a built-in material{suggest(name, PARAMETER_SETS)}")
    overrides = overrides or {}
    for prop in overrides:
        if prop not in PROPERTIES:
            raise InputError(f"{properties_key}.{prop}", f"is not a material property{suggest(prop, PROPERTIES)}")
    base = PARAMETER_SETS[name]
    values = {prop: base.values.get(prop, spec.default) for prop, spec in PROPERTIES.items()} | overrides
    checked = {
        prop: PROPERTIES[prop].check(f"{properties_key}.{prop}", value) for prop, value in values.items()
    }
    notes = {prop: note for prop, note in base.notes.items() if prop not in overrides}
    return Material(
        name=name, citation=base.citation, notes=notes, max_temperature=base.max_temperature,
        max_temperature_note=base.max_temperature_note, **checked,
    )
