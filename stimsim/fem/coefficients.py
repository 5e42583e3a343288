"""Reference scales and the scaled coefficients of a study on a domain, rewritable in place.

The coefficients are DG0 fields (one value per material region), constants and the stress-free
equilibrium concentration c0(x). :meth:`Coefficients.update` rewrites all of them for another study
on the same mesh (the in-place parameters, :func:`in_place`): forms that use them need no
recompilation. :meth:`Coefficients.values` gives the values of a study without writing them, for
the tangent-linear directions of :mod:`stimsim.inverse.forward_model`.
"""

from __future__ import annotations

import re

import numpy as np
import ufl
from dolfinx import fem

from stimsim.study.study import Study
from stimsim.study.grains import harmonic_mean, laminate_normals, layer_distances, region_weights
from stimsim.materials.library import GAS_CONSTANT
from stimsim.physics.scaling import Scales
from stimsim.materials.spacecharge import FARADAY

#: Study keys (prefixes) whose changes :meth:`Coefficients.update` applies in place (see :func:`in_place`).
IN_PLACE_KEYS = (
    "sample.properties.", "geometry.substrate_properties.", "ions.exchange_velocity",
    "excitation.contact_conductance", "excitation.frequencies", "solver.", "excitation.heater_temperature_coefficient",
)
#: The material overrides of a grain boundary's core and of the grain beyond it: in place as well (the
#: regions' values are weighted into the cell-wise fields, :meth:`Coefficients.values`).
GRAIN_PROPERTY_KEY = re.compile(r"geometry\.grain_boundaries\[\d+\]\.(beyond_)?properties\.\w+")


#: The transport coefficients that a cell cut into layers by grain-boundary planes holds as a laminate
#: tensor (docs/theory/physics.md 'Grain boundaries'): the field keeps the arithmetic mean (along the
#: layers), the field ``name + ACROSS`` the harmonic one (across them, :func:`stimsim.study.grains.harmonic_mean`),
#: and ``laminate_normal`` (DG0 vector) the layers' normal. Only studies with grain boundaries have them, so
#: the others' forms are unchanged.
LAMINATE_FIELDS, ACROSS, NORMAL = ("conductivity", "diffusivity", "partner_diffusivity"), "_across", "laminate_normal"


def in_place(key: str) -> bool:
    """Whether :meth:`Coefficients.update` applies a change of the study key ``key`` in place (with the
    grain boundaries' arrays flattened by index, :func:`stimsim.study.schema.flat_keys`)."""
    return key.startswith(IN_PLACE_KEYS) or GRAIN_PROPERTY_KEY.fullmatch(key) is not None


def scales_for(study: Study) -> Scales:
    """Reference scales of a study: the material under the tip and the heat-input amplitude."""
    top = study.sample.material
    length = study.tip.contact_radius
    ambient = study.excitation.ambient_temperature
    temperature = study.drive.temperature_scale(top.thermal_conductivity, length)
    expansion = max(abs(m.thermal_expansion) for m in study.sample.materials()) or 1e-6
    stress = top.youngs_modulus * expansion * temperature
    ionic = top.is_ionic
    # the equilibrium response of c0 to the stress scale or, if larger, to the temperature scale through
    # the heat of transport (Soret): c0 max(|Omega| sigma_s, |Q*| theta_s / T_amb) / (R T_amb)
    drive = max(abs(top.partial_molar_volume) * stress, abs(top.heat_of_transport) * temperature / ambient)
    concentration = top.concentration * drive / (GAS_CONSTANT * ambient)
    potential = 1.0
    if study.poisson:  # (R T_amb/F) c_s/c_ref, c_ref = sum_k z_k^2 c_k
        potential = GAS_CONSTANT * ambient / FARADAY * concentration / study.charged_layer().strength
    return Scales(
        length=length,
        temperature=temperature,
        conductivity=top.thermal_conductivity,
        heat_capacity=top.volumetric_heat_capacity,
        modulus=top.youngs_modulus,
        expansion=expansion,
        ambient_temperature=ambient,
        concentration=concentration if ionic else 1.0,
        ionic_diffusivity=top.diffusivity if ionic else None,
        potential=potential,
    )


def mobile(material, study: Study) -> bool:
    """Whether ions move in ``material``'s region of ``study`` (the sample's regions: always; the
    substrate only if 'conducting')."""
    if any(material is region for region in study.sample.regions()):
        return True
    return study.ions.substrate == "conducting" and material.is_ionic


def thermally_nonlinear(study: Study) -> bool:
    """Whether alpha or k of any of ``study``'s materials depends on the temperature: the residual then
    carries the alpha' and k' terms (:func:`stimsim.physics.coupled.static_residual`)."""
    return any(m.is_thermally_nonlinear for m in study.sample.materials())


def _species_rules(study: Study, s: Scales) -> dict:
    """Cell-wise rules of the charged species (uniform: they move only in the sample's material): the
    primary species' D_i/D_ref, E_i/(R T_amb), c_i/c_s and charge z_i replace the material's, and the
    second species' (``partner_``) join them (D_ref and c_s: the material's, i.e. the pair's ambipolar
    chemical diffusivity and thermodynamic concentration c* for two species; :func:`scales_for`). An
    electroneutral pair adds the weight w; Nernst-Planck-Poisson each species' stress coupling, heat of
    transport and Vegard coefficient, the screening (lambda_D/l)^2 and the field coupling c_s/c_ref."""
    ambient = GAS_CONSTANT * s.ambient_temperature
    species, values = study.sample.species, {}
    for prefix, one in zip(("", "partner_"), species):
        values |= {
            f"{prefix}diffusivity": one.diffusivity / s.ionic_diffusivity,
            f"{prefix}activation": one.activation_energy / ambient,
            ("bulk_concentration" if not prefix else "partner_concentration"): one.concentration / s.concentration,
            ("ion_charge" if not prefix else "partner_charge"): float(one.charge),
        }
        if study.poisson:
            values |= {
                f"{prefix}stress_coupling": one.partial_molar_volume * s.stress / ambient,
                f"{prefix}thermotransport": one.heat_of_transport * s.temperature / (ambient * s.ambient_temperature),
                f"{prefix}vegard": one.partial_molar_volume * s.concentration / (3 * s.expansion * s.temperature),
            }
    if study.sample.pair is not None:
        values["partner_weight"] = study.sample.pair.weight
    if study.poisson:
        values["screening"] = (study.charged_layer().debye_length / s.length) ** 2
        values["field_coupling"] = s.concentration / study.charged_layer().strength
    return {name: (lambda m, v=value: v) for name, value in values.items()}


class Coefficients:
    """Scaled coefficients of ``study`` on ``domain`` with ``scales``; ``concentration_space`` (the P2
    space of c0(x)) is None without mobile ions.

    :attr:`fields` maps each name of :func:`stimsim.physics.coupled.static_residual`'s ``k`` to a
    DG0 Function or a Constant; :attr:`contact` is the heater's scaled contact conductance per area (a
    Constant, or None for drives that impose a heat flow)."""

    def __init__(self, study: Study, domain, scales: Scales, concentration_space=None):
        self.domain, self.scales, self.study = domain, scales, study
        self.ionic = concentration_space is not None
        self.thermally_nonlinear = thermally_nonlinear(study)
        mesh = domain.mesh
        dg0 = fem.functionspace(mesh, ("DG", 0))
        self.fields = {name: fem.Function(dg0, name=name) for name in self._cellwise_rules(study)}
        #: Volume fraction of each region (:func:`stimsim.study.grains.region_weights`) in each cell (local
        #: and ghost), or None without grain boundaries.
        self.region_weights = self._region_weights(study) if study.sample.grain_boundaries else None
        #: Whether each cell (local and ghost) is a laminate of grain-boundary layers
        #: (:func:`stimsim.study.grains.laminate_normals`), or None without grain boundaries.
        self.laminate = None
        if self.region_weights is not None:
            self._add_laminate(study, dg0)
        self.contact = None
        if study.drive.contact_conductance is not None:
            self.heated_area = domain.integral(domain.weight * domain.disk(study.drive.heated_radius))
            self.contact = fem.Constant(mesh, 0j)
        if self.ionic:
            self.fields["temperature_ratio"] = fem.Constant(mesh, np.complex128(scales.temperature / scales.ambient_temperature))
            self.fields["exchange"] = fem.Constant(mesh, 0j)
            points = concentration_space.element.interpolation_points
            self._add_space_charge(study, concentration_space)
            self.equilibrium_ufl = self.fields["bulk_concentration"] * self._space_charge_profile(study)
            self.equilibrium_expression = fem.Expression(self.equilibrium_ufl, points)
            self.fields["equilibrium"] = fem.Function(concentration_space, name="equilibrium_concentration")
            if len(study.sample.species) == 2:
                self.fields["partner_equilibrium"] = fem.Function(concentration_space, name="partner_equilibrium")
                partner = self.fields["partner_concentration"] * self._boltzmann("partner_charge")
                self.partner_expression = fem.Expression(partner, points)
        self.update(study)

    def _add_laminate(self, study: Study, dg0) -> None:
        """The fields of the laminate tensors (:data:`LAMINATE_FIELDS`): the values across the layers
        (set by :meth:`update`) and the layers' unit normal, a DG0 vector field that depends on the mesh
        and the boundaries' planes only (set here, zero in the cells that are not laminates)."""
        mesh = self.domain.mesh
        for name in [n for n in LAMINATE_FIELDS if n in self.fields]:
            self.fields[name + ACROSS] = fem.Function(dg0, name=name + ACROSS)
        if "conductivity_slope" in self.fields:
            self.fields["conductivity_slope" + ACROSS] = fem.Function(dg0, name="conductivity_slope" + ACROSS)
        normals, self.laminate = laminate_normals(study.sample.grain_boundaries, self._vertices())
        if study.sample.substrate is not None:
            substrate = self.domain.substrate_cells()
            self.laminate[substrate] = False
            normals[substrate] = 0.0
        dim = mesh.geometry.dim
        normal = fem.Function(fem.functionspace(mesh, ("DG", 0, (dim,))), name=NORMAL)
        cells = normal.x.array.size // dim
        values = np.zeros((cells, dim))
        values[:, :2] = normals[:cells]
        normal.x.array[:] = values.ravel()
        self.fields[NORMAL] = normal

    def _add_space_charge(self, study: Study, space) -> None:
        """With equilibrium space-charge layers (under the top surface, :meth:`stimsim.study.study.Study.space_charge`,
        or beside grain-boundary cores): the scaled potential u = F phi/(R T_amb) on ``space``
        (``space_charge_potential``, set by :meth:`update`; the species' charges are the cell-wise
        ``ion_charge`` and ``partner_charge``) and the coordinates (m) of the nodes of ``space``: lateral,
        and the depth."""
        if study.space_charge() is None and not study.charged_boundaries():
            return
        self.fields["space_charge_potential"] = fem.Function(space, name="space_charge_potential")
        height = fem.Function(space)
        height.interpolate(fem.Expression(self.domain.height, space.element.interpolation_points))
        height.x.scatter_forward()
        self._depths = np.maximum(-height.x.array.real, 0.0) * self.scales.length
        self._lateral = space.tabulate_dof_coordinates()[:, :2].T * self.domain.spec.length_scale

    def _boltzmann(self, charge: str):
        """exp(-z u) of the species whose charge is the field ``charge`` in the space-charge potential u
        (1 without a layer)."""
        if "space_charge_potential" not in self.fields:
            return 1.0
        return ufl.exp(-self.fields[charge] * self.fields["space_charge_potential"])

    def _cellwise_rules(self, study: Study) -> dict:
        """name -> function of a material giving the scaled cell-wise coefficient."""
        s, sample = self.scales, study.sample
        rules = {
            "conductivity": lambda m: m.thermal_conductivity / s.conductivity,
            "heat_capacity": lambda m: m.volumetric_heat_capacity / s.heat_capacity,
            "lame_lambda": lambda m: m.lame_lambda / s.modulus,
            "shear_modulus": lambda m: m.shear_modulus / s.modulus,
            "expansion": lambda m: m.thermal_expansion / s.expansion,
        }
        if self.thermally_nonlinear:  # alpha(T) and k(T) about T_amb, per scaled temperature rise
            rules |= {
                "expansion_slope": lambda m: m.thermal_expansion_derivative * s.temperature / s.expansion,
                "conductivity_slope": lambda m: m.thermal_conductivity_derivative * s.temperature / s.conductivity,
            }
        if self.ionic:
            ambient = s.ambient_temperature
            rules |= {
                "vegard": lambda m: m.partial_molar_volume * s.concentration / (3 * s.expansion * s.temperature),
                "diffusivity": lambda m: m.diffusivity / s.ionic_diffusivity,
                "stress_coupling": lambda m: m.partial_molar_volume * s.stress / (GAS_CONSTANT * ambient),
                "activation": lambda m: m.activation_energy / (GAS_CONSTANT * ambient),
                "thermotransport": lambda m: m.heat_of_transport * s.temperature / (GAS_CONSTANT * ambient**2),
                "mobile": lambda m: 1.0 if mobile(m, study) else 0.0,
                "bulk_concentration": lambda m: (m if mobile(m, study) else sample.material).concentration
                / s.concentration,
            }
            if sample.species:
                rules |= _species_rules(study, s)
        return rules

    def _vertices(self) -> np.ndarray:
        """(cells, d + 1, 3) coordinates (m) of each cell's vertices (local and ghost cells)."""
        geometry = self.domain.mesh.geometry
        return geometry.x[geometry.dofmaps[0]] * self.domain.spec.length_scale

    def _region_weights(self, study: Study) -> np.ndarray:
        """(cells, regions) array of the volume fraction of each region in each cell (:mod:`stimsim.study.grains`)."""
        return region_weights(study.sample.grain_boundaries, self._vertices())

    def _space_charge_profile(self, study: Study):
        """c0(x)/c0 of the primary species: its Boltzmann factor in the equilibrium layers (charged
        species, under the top surface and beside grain-boundary cores), else 1 + the excesses A exp(-distance/length) of the
        prescribed layers at the top surface and on both sides of the grain-boundary cores (1 without any)."""
        if "space_charge_potential" in self.fields:
            return self._boltzmann("ion_charge")
        ions, spec = study.ions, self.domain.spec
        profile = 1.0
        if ions.space_charge_excess:
            profile = profile + ions.space_charge_excess * ufl.exp(self.domain.height / spec.scaled(ions.space_charge_length))
        x = ufl.SpatialCoordinate(self.domain.mesh)
        for b in study.sample.grain_boundaries:
            if b.space_charge_excess:
                distance = abs(ufl.real(b.signed_distance(x[0] * spec.length_scale, x[1] * spec.length_scale)))
                outside = ufl.max_value(distance - b.width / 2, 0.0)
                profile = profile + b.space_charge_excess * ufl.exp(-outside / b.space_charge_length)
        return profile

    def values(self, study: Study) -> dict:
        """The scaled in-place coefficients of ``study`` (same mesh and scales): name -> array of the
        cell values (local cells and ghosts) for the cell-wise fields, complex number for the constants."""
        substrate_cells = self.domain.substrate_cells()
        found = {}
        regions = study.sample.regions()
        rules = self._cellwise_rules(study)
        for name, rule in rules.items():
            if self.region_weights is None:
                values = np.full(self.fields[name].x.array.shape, rule(study.sample.material), dtype=np.complex128)
            else:  # the regions' values weighted by their volume fractions
                values = (self.region_weights @ np.array([rule(m) for m in regions])).astype(np.complex128)
            if study.sample.substrate is not None:
                values[substrate_cells] = rule(study.sample.substrate)
            found[name] = values
        if self.laminate is not None:
            found |= self._across(rules, regions, found)
        if self.ionic:
            velocity = study.ions.exchange_velocity or 0.0
            found["exchange"] = complex(velocity * self.scales.length / self.scales.ionic_diffusivity)
        if self.contact is not None:
            s = self.scales
            found["contact"] = complex(study.excitation.contact_conductance / (self.heated_area * s.length) / s.conductivity)
        return found

    def _across(self, rules: dict, regions, along: dict) -> dict:
        """The values across the layers of the laminate cells (:data:`LAMINATE_FIELDS`): the harmonic
        volume-fraction mean of the regions' values, and the ``along`` (arithmetic, isotropic) value in
        the other cells. With k(T) the slope across is the temperature derivative of the harmonic mean
        of k_r + k'_r theta at theta = 0, k_perp^2 sum_r w_r k'_r / k_r^2 (first order in theta, as the
        expansion about the base state needs)."""
        w, found = self.region_weights, {}
        cut = self.laminate
        for name in [n for n in LAMINATE_FIELDS if n in rules]:
            values = np.real([rules[name](m) for m in regions])
            found[name + ACROSS] = np.where(cut, harmonic_mean(w, values), along[name])
        if "conductivity_slope" in rules:
            k = np.real([rules["conductivity"](m) for m in regions])
            slope = np.real([rules["conductivity_slope"](m) for m in regions])
            across = found["conductivity" + ACROSS].real
            found["conductivity_slope" + ACROSS] = np.where(cut, across**2 * (w @ (slope / k**2)), along["conductivity_slope"])
        return {name: np.asarray(value, dtype=np.complex128) for name, value in found.items()}

    def update(self, study: Study) -> None:
        """Write the coefficients of ``study`` (same mesh, scales and mobile regions) in place."""
        self.study = study
        for name, value in self.values(study).items():
            target = self.contact if name == "contact" else self.fields[name]
            if isinstance(target, fem.Function):
                target.x.array[:] = value
                target.x.scatter_forward()
            else:
                target.value = value
        if self.ionic:
            self._update_space_charge(study)
            self.fields["equilibrium"].interpolate(self.equilibrium_expression)
            if "partner_equilibrium" in self.fields:
                self.fields["partner_equilibrium"].interpolate(self.partner_expression)

    def _update_space_charge(self, study: Study) -> None:
        """The equilibrium layers' potential of ``study`` at the mesh nodes (with layers): the sum of the
        top surface's Poisson-Boltzmann profile in the depth and each charged grain boundary's in the
        distance from its core faces (phi0 inside the core; exact where the layers do not overlap,
        docs/theory/physics.md 'Space-charge layers at grain boundaries')."""
        if "space_charge_potential" not in self.fields:
            return
        layer = study.charged_layer()
        potential = np.zeros_like(self._depths)
        if study.space_charge() is not None:
            potential += layer.potential(self._depths, study.space_charge()[1])
        boundaries = study.charged_boundaries()
        for b, distance in zip(boundaries, layer_distances(boundaries, *self._lateral)):
            potential += layer.potential(distance, b.core_potential)
        scaled = self.fields["space_charge_potential"]
        scaled.x.array[:] = potential / layer.thermal_voltage
        scaled.x.scatter_forward()
