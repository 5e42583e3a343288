"""Re-entrant forward model for fitting codes, with derivatives of every output.

:class:`ForwardModel` is built once for a study, a list of fit parameters (study keys) and the
frequencies of the data. :meth:`ForwardModel.evaluate` returns the complex tip-displacement harmonics
(m) at new parameter values and, on request, their derivatives. Parameter changes are applied in the
cheapest correct way:

* material properties, the contact conductance and the ions' exchange velocity are rewritten in place
  into the coefficient fields (:meth:`HarmonicModel.set_parameters`): no recompilation, no new PETSc
  objects;
* a change whose mesh is a uniform stretch of the current one (the contact radius and every radius tied
  to it) rebuilds the model on the same mesh, stretched (no remeshing, so the outputs stay smooth in the
  parameter); a 3D mesh is not stretched: it is kept while the contact radius, the tip position and the
  grain-boundary planes stay (a grain boundary's core and grain beyond are in place, like the sample's
  properties);
* anything else, or a change that leaves the band the mesh was graded for (a chemical or thermal length
  more than :data:`MESH_BAND` times smaller than the mesh resolves, a domain more than :data:`MESH_BAND`
  times smaller than the rule asks for), generates a new mesh.

Derivatives. For the in-place parameters they are tangent-linear solves on the factorisations of the
forward solves (docs/theory/harmonics.md, 'Perturbation orders'; every form is a UFL derivative, compiled once per model):

    base state     J dX0 = T[F - R]
    first order    L(w) dX1 = T[F] - (T + B)[L X1]
    second order   L(2w) dX2 = (T + B)[S] + S[dA, b] + S[a, dB] - (T + B)[L X2]

with T the derivative along the coefficient directions dk/dp (central differences of the algebraic
coefficient formulas, exact for the linear ones), B the derivative along dX0 and S = -w R''[a, b]. A
heater balance (Joule drive) adds the chain through the heating amplitudes (:meth:`ForwardModel._solve`). The other parameters (contact
radius, any numeric study key outside the in-place ones) get central differences of two forward
evaluations on the same (stretched) mesh; :attr:`ForwardModel.methods` says which. Without ions the
operator is heat then mechanics: every tangent's mechanics rows read the temperature tangent just
solved, and a temperature-dependent alpha or k (alpha', k') adds the second order and, with DC
heating, a moving base state. A Joule heater with a temperature coefficient couples its heating
harmonics (a fixed point): the amplitudes' tangents are then central differences of that scalar fixed
point in Z_n, the DC heating and the drive's own keys (:meth:`ForwardModel._coupled_tangents`).

Large amplitudes. Each frequency is solved by the study's ``[solver] periodic`` method
(:meth:`ForwardModel._method`; 'auto' switches a frequency to harmonic balance for good once its
expansion is out of range). Harmonic-balance derivatives are tangents of the solved periodic state,
J dX = -dG/dp, on its Jacobian and last factorisations (:meth:`stimsim.solve.periodic.HarmonicBalance.tangent`),
dG/dp a central difference of the residual at the solved state; the time domain's are differenced.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI
from ufl.algorithms import expand_derivatives

from stimsim.core.errors import InputError
from stimsim.fem.coefficients import in_place, thermally_nonlinear
from stimsim.fem.forms import compiled
from stimsim.geometry.axisymmetric import MeshSpec
from stimsim.geometry.box import BoxMeshSpec
from stimsim.geometry.meshes import mesh_spec
from stimsim.materials.library import PROPERTIES
from stimsim.physics.coupled import DISPLACEMENT, TEMPERATURE
from stimsim.physics.drives import TCR_KEY, second_order_pairs
from stimsim.solve.forward import (
    HarmonicSolution,
    PeriodicReport,
    ambient_state,
    base_state,
    conjugated,
    harmonic_balance_tips,
    periodic_method,
    scaled,
    second_order_fields,
    time_domain_tips,
)
from stimsim.solve.model import HarmonicModel
from stimsim.solve.simulate import SimulationResult, simulate
from stimsim.solve.validity import validity_parameters
from stimsim.study.load import derived_study
from stimsim.study.modes import PeriodicMethod
from stimsim.study.schema import key_parts, key_spec
from stimsim.study.study import Study

#: Short parameter names that are not material properties, and the study keys they stand for.
ALIASES = {
    "contact_conductance": "excitation.contact_conductance",
    "contact_radius": "tip.contact_radius",
    "exchange_velocity": "ions.exchange_velocity",
}
#: How far (factor) a resolved length may shrink, or the domain the rule asks for may grow, before the
#: mesh is regenerated.
MESH_BAND = 1.5
#: Relative step of the coefficient directions dk/dp (differences of algebraic formulas only).
COEFFICIENT_STEP = 1e-6
#: Relative step of the central-difference derivatives (differences of forward solves).
DIFFERENCE_STEP = 1e-4
#: Material properties that are temperature slopes (alpha', k'): the forms carry them only when one is nonzero.
SLOPES = ("thermal_expansion_derivative", "thermal_conductivity_derivative")
#: Relative step of the difference quotients of a heater spectrum with a temperature coefficient
#: (scalar fixed points, solved to 1e-12: the quotients are good to about 1e-8).
SPECTRUM_STEP = 1e-4
#: Study keys that change the drive's heating for a fixed sample (besides through its forms).
DRIVE_KEYS = ("excitation.contact_conductance", TCR_KEY)
#: Study keys with elastic constants that set the contact radius (the mesh) under a Hertz preload.
HERTZ_KEYS = ("sample.properties.youngs_modulus", "sample.properties.poisson_ratio")


def parameter_key(name: str) -> str:
    """The study key of a fit-parameter name: a material property (``diffusivity``) is
    ``sample.properties.diffusivity``; see :data:`ALIASES`; a dotted numeric study key is itself,
    including a key of one table of an array (``sample.species[0].diffusivity``; differenced, as every
    key outside the model's in-place keys)."""
    if name in PROPERTIES:
        return f"sample.properties.{name}"
    if name in ALIASES:
        return ALIASES[name]
    try:
        numeric = key_spec(name).kind == "number"
    except InputError:
        numeric = False
    if numeric:
        return name
    raise InputError(
        name, f"is not a fit parameter; use a material property ({', '.join(PROPERTIES)}), "
        f"{', '.join(ALIASES)} or a numeric study key such as tip.contact_radius or sample.species[0].diffusivity",
    )


def study_value(study: Study, key: str):
    """The value of the study key ``key`` (SI; indexed parts such as ``species[0]`` allowed) in the
    resolved study."""
    value, path = study.resolved, []
    for part, index in key_parts(key):
        if not isinstance(value, dict) or part not in value:
            raise InputError(key, "has no value in this study (give it in the study file to fit it)")
        value = value[part]
        path.append(part)
        if index is not None:
            if index >= len(value):
                raise InputError(key, f"has index {index}, but {'.'.join(path)} has {len(value)} table(s) in this study")
            value = value[index]
            path[-1] += f"[{index}]"
    return value


def with_values(study: Study, values: dict) -> Study:
    """``study`` with the study keys in ``values`` replaced, validated again (InputError naming the
    key and its accepted range when a value is outside it)."""
    if study.tip.force and "tip.contact_radius" in values:
        raise InputError("tip.contact_radius", "is set by tip.force (Hertz contact): fit tip.force instead")
    return derived_study(study, values)


@dataclasses.dataclass(frozen=True)
class Prediction:
    """Tip-displacement harmonics at ``points`` ((drive frequency Hz, harmonic n), ...): complex
    amplitudes ``displacement`` (m) and, when asked for, ``jacobian[i, k]`` = d displacement_i /
    d parameter_k (m per unit of parameter k, SI)."""

    points: tuple[tuple[float, int], ...]
    displacement: np.ndarray
    jacobian: np.ndarray | None = None


def produced_harmonics(drive, linear: bool) -> tuple[int, ...]:
    """Harmonics of the drive frequency at which a study with the heating ``drive``
    (:class:`~stimsim.physics.drives.Drive`) responds: its heating and background harmonics and, unless the
    model is ``linear`` (no mobile ions, constant alpha and k), the sums and differences of its heating
    harmonics (second order)."""
    found = set(drive.harmonics) | set(drive.background_harmonics)
    if not linear:
        found |= {pair.harmonic for pair in second_order_pairs(drive.harmonics)}
    return tuple(sorted(found))


def stretched_spec(spec: MeshSpec, required: MeshSpec, band: float = MESH_BAND) -> MeshSpec | None:
    """``spec`` stretched to the length scale of ``required``, if the stretched mesh serves ``required``
    (same geometry in units of the contact radius, lengths resolved within ``band``); else None. A 3D
    mesh is not stretched: it serves ``required`` as it is when the contact radius, the tip position,
    the mirror planes and the grain-boundary planes are the same (then ``spec`` itself), else None."""
    if isinstance(spec, BoxMeshSpec) and isinstance(required, BoxMeshSpec):
        placed = ("length_scale", "tip_position", "mirrors", "refined_planes")
        if any(getattr(spec, name) != getattr(required, name) for name in placed):
            return None
        stretched = spec
    elif type(spec) is MeshSpec and type(required) is MeshSpec:
        stretched = _stretched(spec, required.length_scale)
    else:
        return None

    def same(a, b):
        return (a is None) == (b is None) and (a is None or math.isclose(a, b, rel_tol=1e-9))

    similar = (
        stretched.refinement == required.refinement
        and len(stretched.surface_radii) == len(required.surface_radii)
        and all(same(a, b) for a, b in zip(stretched.surface_radii, required.surface_radii))
        and same(stretched.film_thickness, required.film_thickness)
        and same(stretched.absorption_length, required.absorption_length)
        and (stretched.chemical_length is None) == (required.chemical_length is None)
    )
    if not similar or stretched.domain_size * band < required.domain_size:
        return None
    for resolved, needed in ((stretched.chemical_length, required.chemical_length),
                             (stretched.thermal_length, required.thermal_length)):
        if needed is not None and resolved > needed * band:
            return None
    return stretched


def _stretched(spec: MeshSpec, length_scale: float) -> MeshSpec:
    """The axisymmetric ``spec`` with every length scaled to the contact radius ``length_scale`` (m)."""
    s = length_scale / spec.length_scale

    def stretch(length):
        return None if length is None else length * s

    return MeshSpec(
        length_scale=length_scale, domain_size=spec.domain_size * s,
        surface_radii=tuple(r * s for r in spec.surface_radii), film_thickness=stretch(spec.film_thickness),
        refinement=spec.refinement, absorption_length=stretch(spec.absorption_length),
        chemical_length=stretch(spec.chemical_length), thermal_length=stretch(spec.thermal_length),
    )


def _perturbed(study: Study, key: str, value: float) -> Study:
    """``study`` with one in-place key changed, without validation (for coefficient directions); with
    grain boundaries through the loader (validated), which derives the cores' and grains' materials
    from the sample's and their overrides."""
    section, _, name = key.rpartition(".")
    if study.sample.grain_boundaries:
        return with_values(study, {key: value})
    if section == "sample.properties":
        sample = dataclasses.replace(study.sample, material=dataclasses.replace(study.sample.material, **{name: value}))
    elif section == "geometry.substrate_properties":
        sample = dataclasses.replace(study.sample, substrate=dataclasses.replace(study.sample.substrate, **{name: value}))
    elif section == "ions":
        return dataclasses.replace(study, ions=dataclasses.replace(study.ions, **{name: value}))
    else:
        return dataclasses.replace(study, excitation=dataclasses.replace(study.excitation, **{name: value}))
    return dataclasses.replace(study, sample=sample)


def _check_slope_start(study: Study, key: str) -> None:
    """Refuse to fit a temperature slope (alpha', k') of a study in which both are 0: its forms would
    not carry the slopes (no coefficient to move, :func:`stimsim.fem.coefficients.thermally_nonlinear`)."""
    if key.rpartition(".")[2] in SLOPES and not thermally_nonlinear(study):
        raise InputError(
            key, "= 0 cannot start a fit while alpha and k are both independent of the temperature: start it at a "
            "small non-zero value (e.g. 1e-8 1/K^2 for thermal_expansion_derivative, 1e-6 W/(m K^2) for "
            "thermal_conductivity_derivative; accepted ranges (-1e-4, 1e-4) and (-1e2, 1e2))"
        )


class ForwardModel:
    """The forward model of ``study`` for fitting ``parameters`` (names, see :func:`parameter_key`) at
    ``frequencies`` (Hz; default the study's), on ``comm``. Collective: every rank calls every method
    with the same arguments and gets the same numbers. A context manager that frees its PETSc objects."""

    def __init__(self, study: Study, parameters, comm: MPI.Comm = MPI.COMM_WORLD, frequencies=None):
        self.comm = comm
        self.names = list(parameters)
        self.keys = [parameter_key(name) for name in self.names]
        for key in set(self.keys):
            if self.keys.count(key) > 1:
                raise InputError(key, "is given twice as a fit parameter")
        frequencies = [float(f) for f in (frequencies if frequencies is not None else study.excitation.frequencies)]
        study = with_values(study, {"excitation.frequencies": frequencies})
        for key in self.keys:
            study_value(study, key)
            _check_slope_start(study, key)
        self.evaluations = self.rebuilds = 0
        self.model = self.tangent = None
        #: The periodic method each frequency (Hz) was last solved by (see :meth:`_method`).
        self.periodic: dict[float, str] = {}
        self.study = study  # the study of the latest evaluation (the model's may be a difference step)
        self._build(study)
        self.methods = {key: "tangent-linear" if self._has_tangent(study, key) else "central difference" for key in self.keys}

    def _has_tangent(self, study: Study, key: str) -> bool:
        # with a Hertz preload the sample's elasticity sets the contact radius (the mesh); the time
        # domain has no tangent
        return (
            in_place(key) and not (study.tip.force and key in HERTZ_KEYS)
            and study.solver.periodic != PeriodicMethod.TIME_DOMAIN
        )

    @property
    def values(self) -> np.ndarray:
        """Current parameter values (SI), in the order of :attr:`names`."""
        return np.array([study_value(self.study, key) for key in self.keys], dtype=float)

    @property
    def harmonics(self) -> tuple[int, ...]:
        """Harmonics of the drive frequency with a nonzero response: the heating harmonics (thermal),
        a heater's background harmonics and, with mobile ions or a temperature-dependent alpha or k,
        the sums and differences of the heating harmonics (second order)."""
        return produced_harmonics(self.model.drive, self.model.linear)

    @property
    def points(self) -> tuple[tuple[float, int], ...]:
        """(drive frequency Hz, harmonic) of each output of :meth:`evaluate`, in its order."""
        return tuple((f, n) for n in self.harmonics for f in self.study.excitation.frequencies)

    def _build(self, study: Study, domain=None) -> None:
        self.destroy()
        self.model = HarmonicModel(study, self.comm, domain=domain, method="monolithic")
        self.rebuilds += 1

    def _move_to(self, study: Study, keep_mesh: bool = False) -> None:
        """Make the model that of ``study``: in place, on the stretched mesh or on a new mesh."""
        if study.resolved == self.model.study.resolved:
            return
        domain = self.model.domain
        stretched = stretched_spec(domain.spec, mesh_spec(study), math.inf if keep_mesh else MESH_BAND)
        in_place = stretched is not None and stretched.length_scale == domain.spec.length_scale and self.model.updates_in_place(study)
        if in_place:
            self.model.set_parameters(study)
        elif stretched is not None:
            self._build(study, domain.with_spec(stretched))
        else:
            self._build(study)

    def evaluate(self, values=None, frequencies=None, derivatives: bool = False) -> Prediction:
        """Tip-displacement harmonics at parameter ``values`` (SI, in the order of :attr:`names`, or a
        dict name -> value; default the current ones) and ``frequencies`` (Hz; default the current
        ones), with the Jacobian if ``derivatives``. Out-of-range values raise InputError."""
        changes = {}
        if values is not None:
            items = values.items() if isinstance(values, dict) else zip(self.names, values)
            changes = {parameter_key(name): float(value) for name, value in items}
        if frequencies is not None:
            changes["excitation.frequencies"] = [float(f) for f in frequencies]
        study = self.study = with_values(self.study, changes) if changes else self.study
        self._move_to(study)
        self.evaluations += 1
        tangent = [k for k, key in enumerate(self.keys) if derivatives and self.methods[key] == "tangent-linear"]
        points, displacement, jacobian = self._solve(tangent)
        if derivatives:
            for k, key in enumerate(self.keys):
                if self.methods[key] == "central difference":
                    jacobian[:, k] = self._difference(study, key)
        return Prediction(points, displacement, jacobian if derivatives else None)

    def checked(self, values) -> SimulationResult:
        """The study at parameter ``values`` (SI, in the order of :attr:`names`) solved and checked by
        the one solve path (:func:`stimsim.solve.simulate.simulate`) on this model: its heating and
        solved temperatures and concentrations within the model's range, every frequency by the
        study's periodic method, with the validity of the expansion. Out-of-range values raise
        InputError."""
        study = self.study = with_values(self.study, {key: float(v) for key, v in zip(self.keys, values)})
        self._move_to(study)
        return simulate(study, self.comm, model=self.model)

    def _difference(self, study: Study, key: str) -> np.ndarray:
        """Central difference of the outputs in ``key`` about ``study``, on the same (stretched) mesh."""
        value = study_value(study, key)
        step = DIFFERENCE_STEP * abs(value) if value else DIFFERENCE_STEP
        outputs = []
        for shifted in (value + step, value - step):
            self._move_to(with_values(study, {key: shifted}), keep_mesh=True)
            outputs.append(self._solve([])[1])
        return (outputs[0] - outputs[1]) / (2 * step)

    def _solve(self, tangent: list[int]):
        """(points, displacements, Jacobian with the ``tangent`` columns filled) at the current study,
        each frequency by its periodic method (:meth:`_method`).

        Expansion: the first-order fields are X_n = a_n U_n (U_n: the unit fields, a_n: the drive's
        heating amplitude), with dX_n = da_n U_n + a_n dU_n: da_n is zero unless a heater balance makes
        a_n depend on the sample (then through Z_n, the tip value of U_n, and G_c;
        :meth:`_amplitude_tangents`). The second orders
        take the tangents of both factors of every product. Periodic methods: :meth:`_record_periodic`."""
        m = self.model
        frequencies, points = m.study.excitation.frequencies, self.points
        out = _Outputs(points, len(self.keys), m, tangent)
        keys = [self.keys[k] for k in tangent]
        d_contact = [m.drive.contact_conductance if key == "excitation.contact_conductance" else 0.0 for key in keys]
        expansion_possible = m.study.solver.periodic in (PeriodicMethod.AUTO, PeriodicMethod.EXPANSION)
        work = self._tangent_work(keys) if expansion_possible else None
        out.units = {key: work.unit[key] for key in keys} if work else {key: 1.0 for key in keys}
        ambient = None
        if m.drive.balance is not None:  # Z_0 and its tangents without DC heating (zero base-state tangents)
            ambient_state(m)
            ambient, d_ambient = self._first_order(work, 0.0)
        dc = base_state(m, ambient)
        if work:
            work.solve_base(dc)
        coupled = bool(m.study.excitation.heater_temperature_coefficient)
        d_dc = [0.0] * len(keys)
        if work and m.drive.balance is not None:  # the DC heating moves with Z_0 and G_c: its response about the base state
            response = ambient if m.linear else m.solve_first_order(0.0)
            z, d_z = m.tip_per_heater(ambient), [m.tip_per_heater(d) for d in d_ambient]
            if coupled:  # in K, then scaled
                d_dc = [d[0] / m.drive.scale for d in self._coupled_tangents(
                    lambda drive, p: {0: drive.base_heating(p[0]) * drive.scale}, {0: z}, [{0: dz} for dz in d_z], keys)]
            else:
                d_dc = [m.drive.base_heating_tangent(z, dz, dg) for dz, dg in zip(d_z, d_contact)]
            for key, factor in zip(keys, d_dc):
                work.add_base_direction(key, response, factor)
        for f in frequencies:
            method = self.periodic.get(f, PeriodicMethod.EXPANSION if expansion_possible else m.study.solver.periodic)
            expansion_work = work if method == PeriodicMethod.EXPANSION else None
            units, d_units, ratios = {}, {}, {}
            for n in (*m.drive.harmonics, *m.drive.background_harmonics):
                units[n], d_units[n] = self._first_order(expansion_work, n * f)
                ratios[n] = m.tip_per_heater(units[n]) if m.drive.balance is not None else None
            amplitudes = m.drive.heating_spectrum(f, ratios, m.base_heating)
            first = {n: scaled(units[n], amplitudes[n]) for n in m.drive.harmonics}
            background = {n: scaled(units[n], amplitudes[n]) for n in m.drive.background_harmonics}
            d_amplitudes = self._amplitude_tangents(f, ratios, d_units, d_dc, d_contact, keys) if expansion_work else []
            d_first = {n: [_combined(units[n], da[n], d, amplitudes[n]) for d, da in zip(d_units[n], d_amplitudes)]
                       for n in units}
            method = self.periodic[f] = self._method(f, method, first)
            if method != PeriodicMethod.EXPANSION:
                self._record_periodic(out, f, method, first, background, amplitudes, dc, keys)
                continue
            for n in m.drive.harmonics:
                out.record((f, n), first[n], d_first[n])
            for n, fields in background.items():
                out.record((f, n), fields, d_first[n])
            if not m.linear:
                for pair in second_order_pairs(first):
                    a, d_a = first[pair.first], d_first[pair.first]
                    b, d_b = first[pair.second], d_first[pair.second]
                    if pair.conjugate:
                        b, d_b = conjugated(b), [conjugated(d) for d in d_b]
                    second = m.solve_second_order(pair.harmonic * f, a, b, pair.weight)
                    out.record((f, pair.harmonic), second, work.solve_second(second, d_a, pair.weight, d_b) if work else [])
        return points, out.displacement, out.jacobian

    def _amplitude_tangents(self, frequency: float, ratios: dict, d_units: dict, d_dc: list, d_contact: list,
                            keys: list[str]) -> list[dict]:
        """Per key, the change (per unit direction, see :class:`TangentLinear`) of the scaled heating
        amplitude of every heated harmonic at ``frequency`` (Hz), given the sample's tip temperature
        per heater temperature ``ratios`` and the tangents ``d_units`` of the unit fields (by harmonic),
        of the scaled DC heating ``d_dc`` and of G_c ``d_contact`` (per key): zero without a balance,
        through Z_n and G_c with one (:meth:`~stimsim.physics.drives.Drive.heating_tangent`), and for a heater
        with a temperature coefficient by :meth:`_coupled_tangents` of its whole spectrum."""
        m = self.model
        if m.drive.balance is None:
            return [dict.fromkeys(ratios, 0.0) for _ in keys]
        d_ratios = [{n: m.tip_per_heater(d_units[n][k]) for n in ratios} for k in range(len(keys))]
        if not m.study.excitation.heater_temperature_coefficient:
            return [{n: m.drive.heating_tangent(n, frequency, z, d[n], dg) for n, z in ratios.items()}
                    for d, dg in zip(d_ratios, d_contact)]
        scale = m.drive.scale

        def kelvin(drive, p):  # heater temperatures (K) with the DC heater temperature p["dc"] (K)
            spectrum = drive.heating_spectrum(frequency, {n: p[n] for n in ratios}, p["dc"] / drive.scale)
            return {n: a * drive.scale for n, a in spectrum.items()}

        found = self._coupled_tangents(kelvin, ratios | {"dc": m.base_heating * scale},
                                       [d | {"dc": dc * scale} for d, dc in zip(d_ratios, d_dc)], keys)
        return [{n: a / scale for n, a in d.items()} for d in found]

    def _coupled_tangents(self, evaluate, point: dict, d_point: list[dict], keys: list[str]) -> list[dict]:
        """Per key, the change of ``evaluate(drive, point)`` (a dict of heater temperatures, K) for a
        heater with a temperature coefficient, whose harmonics are a fixed point without a closed-form tangent:
        central differences (step :data:`SPECTRUM_STEP`) in the real and imaginary part of every entry
        of ``point`` (Z_n: complex; the DC heating: real) along its change ``d_point`` per key, plus the
        drive's own change with its keys (G_c, beta) at fixed ``point``."""
        m, h = self.model, SPECTRUM_STEP
        partials = []
        for name, value in point.items():
            size = h * max(abs(value), 1.0)
            for part in ((1.0, 1j) if isinstance(value, complex) else (1.0,)):
                plus = evaluate(m.drive, point | {name: value + size * part})
                minus = evaluate(m.drive, point | {name: value - size * part})
                partials.append((name, part, {n: (plus[n] - minus[n]) / (2 * size) for n in plus}))
        found = []
        for key, d in zip(keys, d_point):
            change = dict.fromkeys(evaluate(m.drive, point), 0j)
            for name, part, partial in partials:
                along = d[name].real if part == 1.0 else d[name].imag
                for n in change:
                    change[n] += partial[n] * along
            if key in DRIVE_KEYS:  # the drive itself moves: per unit direction, the step relative to |p| (or 1)
                value = study_value(m.study, key)
                step = h * (abs(value) or 1.0)
                plus, minus = (evaluate(with_values(m.study, {key: value + s}).drive, point) for s in (step, -step))
                for n in change:
                    change[n] += (plus[n] - minus[n]) / (2 * h)
            found.append(change)
        return found

    def _method(self, frequency: float, method: str, first: dict) -> str:
        """The periodic method at ``frequency``: the study's, or for 'auto' the one
        :func:`~stimsim.solve.forward.periodic_method` picks from the validity of the first order ``first``;
        once harmonic balance has been needed at a frequency it stays (a fit must not see the method
        flip between neighbouring evaluations)."""
        if self.model.study.solver.periodic != PeriodicMethod.AUTO or method != PeriodicMethod.EXPANSION:
            return method
        return periodic_method(self.model, validity_parameters(self.model, first)).method

    def _record_periodic(self, out, frequency: float, method: str, first: dict, background: dict, amplitudes: dict,
                         dc: float, keys: list) -> None:
        """The tip harmonics of the periodic state at ``frequency`` (what a lock-in reads: total), and
        for harmonic balance the tangents of the ``keys``: J dX = -dG/dp at the solved state, with J the
        state's Jacobian preconditioned by its last Newton step's factorisations and dG/dp the central
        difference of the residual (coefficients, base state, heating) at that state (no new solve of
        the periodic state). The time domain has no tangent (its keys are differenced, see __init__)."""
        m = self.model
        own = {n: a for n, a in amplitudes.items() if n in first}
        solution = HarmonicSolution(frequency, first, own, second_order_fields(m, frequency, first), background=background,
                                    background_spectrum={n: a for n, a in amplitudes.items() if n in background})
        report = PeriodicReport(method, "fit")
        tips = (harmonic_balance_tips if method == PeriodicMethod.HARMONIC_BALANCE else time_domain_tips)(m, frequency, solution, report)
        harmonics = [n for f, n in out.points if f == frequency]
        for n in harmonics:
            out.displacement[out.index[(frequency, n)]] += tips[n][0] if n in tips else 0.0
        if not keys:
            return
        balance = m.harmonic_balance()
        changes = [self._residual_change(balance, frequency, key) for key in keys]
        for column, change in zip(out.columns, changes):
            d = balance.tangent(change)
            for n in harmonics:
                if n < d.shape[0]:
                    value = m.tip_values(balance.to_fields(d[n], "tangent"))[0]
                    out.jacobian[out.index[(frequency, n)], column] += value

    def _residual_change(self, balance, frequency: float, key: str) -> np.ndarray:
        """dG/dp (per SI unit of ``key``) of the last solved periodic state at ``frequency``: central
        difference of its residual with the coefficients, base state and heating of the shifted
        parameter; the model is restored afterwards."""
        m, study = self.model, self.model.study
        value = study_value(study, key)
        step = DIFFERENCE_STEP * abs(value) if value else DIFFERENCE_STEP
        residuals = []
        for shifted in (value + step, value - step):
            m.set_parameters(with_values(study, {key: shifted}))
            dc = base_state(m)
            residuals.append(balance.last_residual(self._heating_spectrum(frequency), dc))
        m.set_parameters(study)
        base_state(m)
        return (residuals[0] - residuals[1]) / (2 * step)

    def _heating_spectrum(self, frequency: float) -> dict[int, complex]:
        """The drive's scaled heating amplitudes by heated harmonic (background included) at
        ``frequency`` (Hz) for the model's current parameters (a heater balance needs the unit first
        order for Z_n)."""
        m = self.model
        ratios = {
            n: m.tip_per_heater(m.solve_first_order(n * frequency)) if m.drive.balance is not None else None
            for n in (*m.drive.harmonics, *m.drive.background_harmonics)
        }
        return m.drive.heating_spectrum(frequency, ratios, m.base_heating)

    def _first_order(self, work, frequency: float) -> tuple[dict, list[dict]]:
        """Unit first-order fields at ``frequency`` (Hz) and their tangents per parameter (none
        without ``work``)."""
        unit = self.model.solve_first_order(frequency)
        return unit, work.solve_first(unit) if work else []

    def _tangent_work(self, keys: list[str]):
        """The tangent-linear solver of the current model for the parameters ``keys``, its base-state
        tangents zero until :meth:`TangentLinear.solve_base` (None without tangents)."""
        m = self.model
        if not keys:
            return None
        if self.tangent is None or self.tangent.model is not m:
            # the base state is zero for every parameter value without DC heating and preload
            base_moves = m.drive.balance is not None or m.drive.dc_heating != 0 or bool(m.study.tip.force)
            self.tangent = TangentLinear(m, keys, base_moves)
        self.tangent.set_study(m.study, keys)
        return self.tangent

    def destroy(self) -> None:
        """Free the PETSc objects (collective)."""
        if self.model is not None:
            self.model.destroy()
        self.model = self.tangent = None

    def __enter__(self) -> ForwardModel:
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()


class TangentLinear:
    """Compiled tangent-linear right-hand sides of a :class:`HarmonicModel` for the coefficients that
    the in-place study ``keys`` move, solved on the model's factorisations
    (:meth:`HarmonicModel.back_substitute`)."""

    def __init__(self, model: HarmonicModel, keys: list[str], base_moves: bool):
        self.model = m = model
        self.base_moves = base_moves and not m.linear
        self.study = m.study
        self.unit = {}  # parameter units of the directions: |value| (1 for a zero value)
        coefficients = m.coefficients.fields
        dg0 = coefficients["conductivity"].function_space
        constants = {"exchange": coefficients.get("exchange"), "contact": m.coefficients.contact}
        self.directions = {key: self._coefficient_directions(m.study, key) for key in keys}
        moved = sorted({name for d in self.directions.values() for name in d})
        if "bulk_concentration" in moved:
            moved.append("equilibrium")
        self.terminal, self.constant, self.direction = {}, {}, {}
        for name in moved:
            if name in constants:
                self.constant[name] = constants[name]
                self.terminal[name] = fem.Function(dg0)
            else:
                self.terminal[name] = coefficients[name]
            self.direction[name] = fem.Function(self.terminal[name].function_space)
        if "equilibrium" in moved:
            V = coefficients["equilibrium"].function_space
            bulk = ufl.replace(m.coefficients.equilibrium_ufl, {coefficients["bulk_concentration"]: self.direction["bulk_concentration"]})
            self.equilibrium_direction = fem.Expression(bulk, V.element.interpolation_points)
        self.x, self.dx0, self.out = m.new_fields("tangent_x"), m.new_fields("tangent_base"), m.new_fields("tangent_out")
        self.da, self.db = m.new_fields("tangent_a"), m.new_fields("tangent_b")
        self.base_tangents = {}
        self._compile()

    def _coefficient_directions(self, study: Study, key: str) -> dict:
        """d(scaled coefficient)/d(ln parameter) (per unit of a zero parameter) per coefficient name,
        nonzero ones only: arrays for the cell-wise fields, numbers for the constants. Relative
        directions keep the tangent fields O(1), like the fields themselves."""
        m, value = self.model, study_value(study, key)
        self.unit[key] = abs(value) or 1.0
        step = COEFFICIENT_STEP * self.unit[key]
        plus, minus = (m.coefficients.values(_perturbed(study, key, value + s)) for s in (step, -step))
        found = {name: (plus[name] - minus[name]) / (2 * COEFFICIENT_STEP) for name in plus}
        local = {name: float(np.max(np.abs(d), initial=0.0)) for name, d in found.items()}
        return {name: d for name, d in found.items() if m.domain.comm.allreduce(local[name], op=MPI.MAX) > 0}

    def set_study(self, study: Study, keys: list[str]) -> None:
        """Directions at the current parameter values (the model's coefficients must be those of ``study``)."""
        self.study = study
        self.directions = {key: self._coefficient_directions(study, key) for key in keys}
        self.base_tangents = {}

    def _use(self, key: str) -> None:
        """Load the coefficient directions of ``key`` (and the constants' current values)."""
        for name, constant in self.constant.items():
            self.terminal[name].x.array[:] = constant.value
        for name, function in self.direction.items():
            if name != "equilibrium":
                function.x.array[:] = self.directions[key].get(name, 0.0)
        if "equilibrium" in self.direction:
            self.direction["equilibrium"].interpolate(self.equilibrium_direction)

    def _T(self, form, name: str):
        """Derivative of ``form`` along the direction of the coefficient ``name``."""
        if not isinstance(form, ufl.Form):
            return 0
        if name in self.constant:
            form = ufl.replace(form, {self.constant[name]: self.terminal[name]})
        return ufl.derivative(form, self.terminal[name], self.direction[name])

    def _B(self, form):
        """Derivative of ``form`` along the base-state tangent dX0 (zero for a zero base state)."""
        forms = self.model.forms
        if not isinstance(form, ufl.Form) or not self.base_moves:
            return 0
        return sum((ufl.derivative(form, forms.base[n], self.dx0[n]) for n in forms.names), 0)

    def _compile(self) -> None:
        """Right-hand sides as sums of compiled parts: a part common to all parameters (base-state and
        source-direction terms) and one part per coefficient; a parameter's right-hand side adds the
        parts of the coefficients it moves, so no UFL expansion is repeated."""
        m, forms = self.model, self.model.forms
        names = forms.names
        blocks = {i: {j: expand_derivatives(b) for j, b in zip(names, row)} for i, row in zip(names, forms.operator_blocks)}

        def action(i, fields, columns):
            return sum((ufl.action(blocks[i][j], fields[j]) for j in columns if not blocks[i][j].empty()), 0)

        def rows(make):
            return self._compiled([make(i) for i in names])

        heating = {i: forms.heat_input if i == TEMPERATURE else 0 for i in names}
        applied = {i: action(i, self.x, names) for i in names}
        source = forms.sources["second"]

        def solved(i):  # without ions the mechanics row reads the temperature tangent just solved
            return -action(i, self.out, [TEMPERATURE]) if i == DISPLACEMENT and not m.ionic else 0

        def moved(i):
            return sum((ufl.derivative(source[i], forms.direction_a[n], self.da[n])
                        + ufl.derivative(source[i], forms.direction_b[n], self.db[n]) for n in names), 0)

        self.common = {}
        if self.base_moves or not m.ionic:
            self.common["first"] = rows(lambda i: solved(i) - self._B(applied[i]))
        if self.base_moves and not m.ionic:
            self.common["base"] = rows(solved)
        if not m.linear:
            self.common["second"] = rows(lambda i: solved(i) + self._B(source[i] - applied[i]) + moved(i))
        self.parts = {}
        for n in self.direction:
            self.parts[n] = {"first": rows(lambda i: self._T(heating[i] - applied[i], n))}
            if not m.linear:
                self.parts[n]["second"] = rows(lambda i: self._T(source[i] - applied[i], n))
            if self.base_moves:
                self.parts[n]["base"] = rows(lambda i: self._T(heating[i] - forms.balance[i], n))
        self.moved = {
            key: [n for n in self.direction if n in d or (n == "equilibrium" and "bulk_concentration" in d)]
            for key, d in self.directions.items()
        }

    def _compiled(self, forms: list) -> list:
        tests = self.model.forms.tests
        return [
            compiled(form if isinstance(form, ufl.Form) else ufl.ZeroBaseForm((tests[name],)))
            for name, form in zip(self.model.names, forms)
        ]

    def _solve(self, label: str, prepare) -> list[dict]:
        """The tangents of every parameter for the right-hand side ``label`` on the model's current
        factorisation, as new fields in the order of :attr:`directions`: one back-substitution of all
        of them (:meth:`HarmonicModel.back_substitute`). ``prepare(k, key)`` loads what the right-hand
        side of the k-th parameter reads."""
        m = self.model

        def right_hand_sides():
            for k, key in enumerate(self.directions):
                prepare(k, key)
                parts = ([self.common[label]] if label in self.common else []) + [self.parts[n][label] for n in self.moved[key]]
                yield [tuple(p[i] for p in parts) for i in range(len(m.names))]

        return m.back_substitute(right_hand_sides(), self.out)

    def _load(self, target: dict, fields: dict, factor: complex = 1.0) -> None:
        for name in self.model.names:
            target[name].x.array[:] = factor * fields[name].x.array

    def solve_base(self, dc_heating: complex) -> None:
        """Base-state tangents per parameter (zero when the base state is zero for every value: no DC
        heating and no preload). Refactorises the Jacobian at the converged base state."""
        m = self.model
        self.base_tangents = {}
        if not self.base_moves:
            return
        m.factorize(0.0, dc_heating)
        m.forms.heating.value = dc_heating
        self.base_tangents = dict(zip(self.directions, self._solve("base", lambda k, key: self._use(key))))
        m.forms.heating.value = 0

    def _use_base(self, key: str) -> None:
        fields = self.base_tangents.get(key)
        for name in self.model.names:
            self.dx0[name].x.array[:] = fields[name].x.array if fields else 0

    def solve_first(self, first: dict) -> list[dict]:
        """Tangents of the first-order fields ``first`` per parameter, on the current factorisation."""
        m = self.model
        self._load(self.x, first)

        def prepare(k, key):
            self._use(key)
            self._use_base(key)

        m.forms.heating.value = 1.0
        found = self._solve("first", prepare)
        m.forms.heating.value = 0
        return found

    def solve_second(self, second: dict, d_first: list[dict], weight: float, d_other: list[dict]) -> list[dict]:
        """Tangents of the second-order fields ``second`` driven by -weight R''[a, b] per parameter,
        given the tangents of a (``d_first``) and of b (``d_other``)."""
        self._load(self.x, second)

        def prepare(k, key):
            self._use(key)
            self._use_base(key)
            self._load(self.da, d_first[k], weight)
            self._load(self.db, d_other[k])

        return self._solve("second", prepare)

    def add_base_direction(self, key: str, fields: dict, factor: complex) -> None:
        """Add ``factor`` times ``fields`` to the base-state tangent of ``key`` (a DC heating that moves
        with the parameter: its response at zero frequency times the heating's derivative)."""
        if not self.base_moves:
            return
        for name in self.model.names:
            self.base_tangents[key][name].x.array[:] += factor * fields[name].x.array


class _Outputs:
    """Tip displacements (m) at ``points`` ((frequency, harmonic) pairs) and their Jacobian columns
    (``columns``: the tangent ones) for :meth:`ForwardModel._solve`; ``units`` (per key) converts a
    tangent's scaled direction to per SI unit."""

    def __init__(self, points, parameters: int, model, columns: list[int]):
        self.points, self.model, self.columns = points, model, columns
        self.index = {point: i for i, point in enumerate(points)}
        self.displacement = np.zeros(len(points), dtype=complex)
        self.jacobian = np.zeros((len(points), parameters), dtype=complex)
        self.units: dict = {}

    def record(self, point, fields: dict, d_fields: list) -> None:
        """Add the tip values of ``fields`` and of the tangents ``d_fields`` (one per column) at ``point``."""
        row = self.index[point]
        self.displacement[row] += self.model.tip_values(fields)[0]
        for column, key, d in zip(self.columns, self.units, d_fields):
            self.jacobian[row, column] += self.model.tip_values(d)[0] / self.units[key]


def _combined(unit: dict, d_amplitude: complex, d_unit: dict, amplitude: complex) -> dict:
    """d_amplitude U + amplitude dU."""
    copies = {name: f.copy() for name, f in d_unit.items()}
    for name, f in copies.items():
        f.x.array[:] = d_amplitude * unit[name].x.array + amplitude * d_unit[name].x.array
    return copies
