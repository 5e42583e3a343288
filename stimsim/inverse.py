"""Re-entrant forward model for fitting codes, with derivatives of every output.

:class:`ForwardModel` is built once for a study, a list of fit parameters (study keys) and the
frequencies of the data. :meth:`ForwardModel.evaluate` returns the complex tip-displacement harmonics
(m) at new parameter values and, on request, their derivatives. Parameter changes are applied in the
cheapest correct way:

* material properties, the contact conductance and the ions' exchange velocity are rewritten in place into the coefficient fields (:meth:`HarmonicModel.set_parameters`):
  no recompilation, no new PETSc objects;
* a change whose mesh is a uniform stretch of the current one (the contact radius and every radius tied
  to it) rebuilds the model on the same mesh, stretched (no remeshing, so the outputs stay smooth in the
  parameter);
* anything else, or a change that leaves the band the mesh was graded for (a chemical or thermal length
  more than :data:`MESH_BAND` times smaller than the mesh resolves, a domain more than :data:`MESH_BAND`
  times smaller than the rule asks for), generates a new mesh.

Derivatives. For the in-place parameters they are tangent-linear solves on the factorisations of the
forward solves (docs/harmonics.md, 'Perturbation orders'; every form is a UFL derivative, compiled once per model):

    base state     J dX0 = T[F - R]
    first order    L(w) dX1 = T[F] - (T + B)[L X1]
    second order   L(2w) dX2 = (T + B)[S] + S[dA, b] + S[a, dB] - (T + B)[L X2]

with T the derivative along the coefficient directions dk/dp (central differences of the algebraic
coefficient formulas, exact for the linear ones), B the derivative along dX0 and S = -w R''[a, b]. A
Joule heater adds the chain through its balance (:class:`JouleTangent`). The other parameters (contact
radius, any numeric study key outside the in-place ones) get central differences of two forward
evaluations on the same (stretched) mesh; :attr:`ForwardModel.methods` says which.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI
from ufl.algorithms import expand_derivatives

from stimsim.config import SCHEMA, Study, derived_study
from stimsim.drive import MAX_HARMONIC, base_state, conjugated, heating_spectrum
from stimsim.errors import InputError
from stimsim.geometry import Domain, MeshSpec, mesh_spec
from stimsim.harmonic import HarmonicModel, heating_scale, joule_power_harmonics
from stimsim.materials import PROPERTIES
from stimsim.physics.coupled import TEMPERATURE

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
#: Study keys whose changes :meth:`HarmonicModel.set_parameters` applies in place (prefixes).
IN_PLACE = ("sample.properties.", "geometry.substrate_properties.", "ions.exchange_velocity",
            "excitation.contact_conductance", "excitation.frequencies")


def parameter_key(name: str) -> str:
    """The study key of a fit-parameter name: a material property (``diffusivity``) is
    ``sample.properties.diffusivity``; see :data:`ALIASES`; a dotted numeric study key is itself."""
    if name in PROPERTIES:
        return f"sample.properties.{name}"
    if name in ALIASES:
        return ALIASES[name]
    section, _, key = name.partition(".")
    table, _, prop = key.partition(".")
    if (section, table) in (("sample", "properties"), ("geometry", "substrate_properties")) and prop in PROPERTIES:
        return name
    if SCHEMA.get(section, {}).get(key) is not None and SCHEMA[section][key].kind == "number":
        return name
    raise InputError(
        name, f"is not a fit parameter; use a material property ({', '.join(PROPERTIES)}), "
        f"{', '.join(ALIASES)} or a numeric study key such as tip.contact_radius",
    )


def study_value(study: Study, key: str):
    """The value of the study key ``key`` (SI) in the resolved study."""
    value = study.resolved
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise InputError(key, "has no value in this study (give it in the study file to fit it)")
        value = value[part]
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


def stretched_spec(spec: MeshSpec, required: MeshSpec, band: float = MESH_BAND) -> MeshSpec | None:
    """``spec`` stretched to the length scale of ``required``, if the stretched mesh serves ``required``
    (same geometry in units of the contact radius, lengths resolved within ``band``); else None."""
    s = required.length_scale / spec.length_scale

    def stretch(length):
        return None if length is None else length * s

    def same(a, b):
        return (a is None) == (b is None) and (a is None or math.isclose(a, b, rel_tol=1e-9))

    stretched = MeshSpec(
        length_scale=required.length_scale, domain_size=spec.domain_size * s,
        surface_radii=tuple(r * s for r in spec.surface_radii), film_thickness=stretch(spec.film_thickness),
        refinement=spec.refinement, absorption_length=stretch(spec.absorption_length),
        chemical_length=stretch(spec.chemical_length), thermal_length=stretch(spec.thermal_length),
    )
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


def updates_in_place(current: Study, study: Study) -> bool:
    """Whether :meth:`HarmonicModel.set_parameters` can turn a model of ``current`` into one of
    ``study`` (on a mesh valid for both): they differ only in :data:`IN_PLACE` keys, with the same
    heating scale and the same mobile ions."""
    old, new = _flat(current.resolved), _flat(study.resolved)
    changed = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
    return (
        all(k.startswith(IN_PLACE) for k in changed)
        and heating_scale(study) == heating_scale(current)
        and study.sample.material.is_ionic == current.sample.material.is_ionic
    )


def _flat(table: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _perturbed(study: Study, key: str, value: float) -> Study:
    """``study`` with one in-place key changed, without validation (for coefficient directions)."""
    section, _, name = key.rpartition(".")
    if section == "sample.properties":
        sample = dataclasses.replace(study.sample, material=dataclasses.replace(study.sample.material, **{name: value}))
    elif section == "geometry.substrate_properties":
        sample = dataclasses.replace(study.sample, substrate=dataclasses.replace(study.sample.substrate, **{name: value}))
    elif section == "ions":
        return dataclasses.replace(study, ions=dataclasses.replace(study.ions, **{name: value}))
    else:
        return dataclasses.replace(study, excitation=dataclasses.replace(study.excitation, **{name: value}))
    return dataclasses.replace(study, sample=sample)


class ForwardModel:
    """The forward model of ``study`` for fitting ``parameters`` (names, see :func:`parameter_key`) at
    ``frequencies`` (Hz; default the study's), on ``comm``. Collective: every rank calls every method
    with the same arguments and gets the same numbers."""

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
        self.methods = {key: "tangent-linear" if self._has_tangent(study, key) else "central difference" for key in self.keys}
        self.evaluations = self.rebuilds = 0
        self.model = self.tangent = None
        self.study = study  # the study of the latest evaluation (the model's may be a difference step)
        self._build(study)

    @staticmethod
    def _has_tangent(study: Study, key: str) -> bool:
        if not key.startswith(IN_PLACE):
            return False
        # with a Hertz preload the sample's elasticity sets the contact radius (the mesh)
        return not (study.tip.force and key in ("sample.properties.youngs_modulus", "sample.properties.poisson_ratio"))

    @property
    def values(self) -> np.ndarray:
        """Current parameter values (SI), in the order of :attr:`names`."""
        return np.array([study_value(self.study, key) for key in self.keys], dtype=float)

    @property
    def harmonics(self) -> tuple[int, ...]:
        """Harmonics of the drive frequency with a nonzero response: the heating harmonics (thermal)
        and, with mobile ions, their sums and differences (ionic)."""
        if self.study.excitation.mode == "joule":
            heating = [n for n in joule_power_harmonics(self.study) if n > 0]
        else:
            heating = list(heating_spectrum(self.study)[1])
        found = set(heating)
        if self.model.ionic:
            found |= {n + m for n in heating for m in heating if n + m <= MAX_HARMONIC} | {m - n for n in heating for m in heating if m > n}
        return tuple(sorted(found))

    def _build(self, study: Study, domain: Domain | None = None) -> None:
        self.destroy()
        self.model = HarmonicModel(study, self.comm, domain=domain, method="monolithic")
        self.rebuilds += 1

    def _move_to(self, study: Study, keep_mesh: bool = False) -> None:
        """Make the model that of ``study``: in place, on the stretched mesh or on a new mesh."""
        current = self.model.study
        if study.resolved == current.resolved:
            return
        spec = self.model.domain.spec
        stretched = stretched_spec(spec, mesh_spec(study), math.inf if keep_mesh else MESH_BAND)
        in_place = stretched is not None and stretched.length_scale == spec.length_scale and updates_in_place(current, study)
        if in_place:
            self.model.set_parameters(study)
        elif stretched is not None:
            d = self.model.domain
            self._build(study, Domain(d.mesh, d.cell_tags, d.facet_tags, stretched))
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
        """(points, displacements, Jacobian with the ``tangent`` columns filled) at the current study."""
        m, frequencies = self.model, self.model.study.excitation.frequencies
        harmonics = self.harmonics
        points = tuple((f, n) for n in harmonics for f in frequencies)
        index = {point: i for i, point in enumerate(points)}
        displacement = np.zeros(len(points), dtype=complex)
        jacobian = np.zeros((len(points), len(self.keys)), dtype=complex)
        dc_heating = base_state(m)
        work = self._tangent_work(tangent, dc_heating)
        if m.study.excitation.mode == "joule":
            JouleTangent(m, work, [self.keys[k] for k in tangent]).solve(frequencies, index, displacement, jacobian, tangent)
            return points, displacement, jacobian
        for f in frequencies:
            first = m.solve_first_order(f)
            displacement[index[f, 1]] = m.tip_values(first)[0]
            d_first = work.solve_first(first) if work else []
            for k, fields in zip(tangent, d_first):
                jacobian[index[f, 1], k] = m.tip_values(fields)[0] / work.unit[self.keys[k]]
            if m.ionic:
                second = m.solve_second_order(2 * f, first, first, 0.25)
                displacement[index[f, 2]] = m.tip_values(second)[0]
                for k, fields in zip(tangent, work.solve_second(second, d_first, 0.25) if work else []):
                    jacobian[index[f, 2], k] = m.tip_values(fields)[0] / work.unit[self.keys[k]]
        return points, displacement, jacobian

    def _tangent_work(self, tangent: list[int], dc_heating: float):
        """The tangent-linear solver of the current model for the ``tangent`` parameters, with the
        base-state tangents at fixed DC heating solved (None without tangents)."""
        m = self.model
        if not tangent:
            return None
        if self.tangent is None or self.tangent.model is not m:
            # the base state is zero for every parameter value without DC heating and preload
            base_moves = dc_heating != 0 or bool(m.study.tip.force)
            self.tangent = TangentLinear(m, [self.keys[k] for k in tangent], base_moves)
        self.tangent.set_study(m.study, [self.keys[k] for k in tangent])
        self.tangent.solve_base(dc_heating)
        return self.tangent

    def destroy(self) -> None:
        """Free the PETSc objects (collective)."""
        if self.model is not None:
            self.model.destroy()
        self.model = self.tangent = None


class TangentLinear:
    """Compiled tangent-linear right-hand sides of a :class:`HarmonicModel` (monolithic for ions,
    heat then mechanics without) for the coefficients that the in-place study ``keys`` move."""

    def __init__(self, model: HarmonicModel, keys: list[str], base_moves: bool):
        self.model = m = model
        self.base_moves = base_moves and m.ionic
        self.study = m.study
        self.unit = {}  # parameter units of the directions: |value| (1 for a zero value)
        dg0 = m.k["conductivity"].function_space
        constants = {"exchange": m.k.get("exchange"), "contact_conductance": m.contact_conductance}
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
                self.terminal[name] = m.k[name]
            self.direction[name] = fem.Function(self.terminal[name].function_space)
        if "equilibrium" in moved:
            V = m.k["equilibrium"].function_space
            bulk = ufl.replace(m.equilibrium_ufl, {m.k["bulk_concentration"]: self.direction["bulk_concentration"]})
            self.equilibrium_direction = fem.Expression(bulk, V.element.interpolation_points)
        self.x, self.dx0 = m._functions("tangent_x"), m._functions("tangent_base")
        self.da, self.db, self.previous = m._functions("tangent_a"), m._functions("tangent_b"), m._functions("tangent_prev")
        self.base_tangents = None
        self._compile()

    def _coefficient_directions(self, study: Study, key: str) -> dict:
        """d(scaled coefficient)/d(ln parameter) (per unit of a zero parameter) per coefficient name,
        nonzero ones only: arrays for the cell-wise fields, numbers for the constants. Relative
        directions keep the tangent fields O(1), like the fields themselves."""
        m, value = self.model, study_value(study, key)
        self.unit[key] = abs(value) or 1.0
        step = COEFFICIENT_STEP * self.unit[key]
        plus, minus = (_perturbed(study, key, value + s) for s in (step, -step))
        scratch = fem.Function(m.k["conductivity"].function_space)
        found = {}
        rules = zip(m.coefficient_rules(plus).items(), m.coefficient_rules(minus).values())
        for (name, rule_plus), rule_minus in rules:
            m.fill_cellwise(scratch, rule_plus, plus)
            upper = scratch.x.array.copy()
            m.fill_cellwise(scratch, rule_minus, minus)
            found[name] = (upper - scratch.x.array) / (2 * COEFFICIENT_STEP)
        if m.ionic:
            found["exchange"] = (m.exchange_value(plus) - m.exchange_value(minus)) / (2 * COEFFICIENT_STEP)
        if m.contact_conductance is not None:
            found["contact_conductance"] = (
                m.contact_conductance_value(plus) - m.contact_conductance_value(minus)
            ) / (2 * COEFFICIENT_STEP)
        local = {name: float(np.max(np.abs(d), initial=0.0)) for name, d in found.items()}
        return {name: d for name, d in found.items() if m.domain.mesh.comm.allreduce(local[name], op=MPI.MAX) > 0}

    def set_study(self, study: Study, keys: list[str]) -> None:
        """Directions at the current parameter values (the model's coefficients must be those of ``study``)."""
        self.study = study
        self.directions = {key: self._coefficient_directions(study, key) for key in keys}
        self.base_tangents = None

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
        m = self.model
        if not isinstance(form, ufl.Form) or not self.base_moves:
            return 0
        return sum((ufl.derivative(form, m.base[n], self.dx0[n]) for n in m.names), 0)

    def _compile(self) -> None:
        """Right-hand sides as sums of compiled parts: a part common to all parameters (base-state and
        source-direction terms) and one part per coefficient; a parameter's right-hand side adds the
        parts of the coefficients it moves, so no UFL expansion is repeated."""
        m = self.model
        blocks = {i: {j: expand_derivatives(b) for j, b in zip(m.names, row)} for i, row in zip(m.names, m.operator_blocks)}

        def action(i, fields, names):
            return sum((ufl.action(blocks[i][j], fields[j]) for j in names if not blocks[i][j].empty()), 0)

        def rows(make):
            return self._compiled([make(position, i) for position, i in enumerate(m.names)])

        heating = {i: m.heat_input if i == TEMPERATURE else 0 for i in m.names}
        applied = {i: action(i, self.x, m.names) for i in m.names}
        source = m.sources["second"]
        self.common = {}
        if m.ionic:
            def moved(i):
                return sum((ufl.derivative(source[i], m.direction_a[n], self.da[n])
                            + ufl.derivative(source[i], m.direction_b[n], self.db[n]) for n in m.names), 0)

            if self.base_moves:
                self.common["first"] = rows(lambda _, i: -self._B(applied[i]))
            self.common["second"] = rows(lambda _, i: self._B(source[i] - applied[i]) + moved(i))
        else:  # heat, then mechanics with the temperature tangent
            self.common["first"] = rows(lambda position, i: -action(i, self.previous, m.names[:position]))
        self.parts = {}
        for n in self.direction:
            self.parts[n] = {"first": rows(lambda _, i: self._T(heating[i] - applied[i], n))}
            if m.ionic:
                self.parts[n]["second"] = rows(lambda _, i: self._T(source[i] - applied[i], n))
                self.parts[n]["base"] = rows(lambda _, i: self._T(heating[i] - m.balance[i], n))
        self.moved = {
            key: [n for n in self.direction if n in d or (n == "equilibrium" and "bulk_concentration" in d)]
            for key, d in self.directions.items()
        }

    def _compiled(self, forms: list) -> list:
        compiled = []
        for name, form in zip(self.model.names, forms):
            form = expand_derivatives(form) if isinstance(form, ufl.Form) else form
            if not isinstance(form, ufl.Form) or form.empty():
                form = ufl.ZeroBaseForm((self.model.tests[name],))
            compiled.append(fem.form(form))
        return compiled

    def _solve(self, key: str, label: str, out: dict) -> None:
        m = self.model
        parts = ([self.common[label]] if label in self.common else []) + [self.parts[n][label] for n in self.moved[key]]
        if m.ionic:
            m.coupled_solver.solve(tuple(parts), [out[n] for n in m.names])
            return
        heat, mechanics = m.names
        m.heat_solver.solve(tuple(p[0] for p in parts), out[heat])
        self.previous[heat].x.array[:] = out[heat].x.array
        m.mechanics_solver.solve(tuple(p[1] for p in parts), out[mechanics])

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
        m._set_frequency(0.0)
        m.heating.value = dc_heating
        m.coupled_solver.factorize()
        for key in self.directions:
            self._use(key)
            fields = m._functions("d_base")
            self._solve(key, "base", fields)
            self.base_tangents[key] = fields
        m.heating.value = 0

    def _use_base(self, key: str) -> None:
        for name in self.model.names:
            fields = self.base_tangents.get(key)
            self.dx0[name].x.array[:] = fields[name].x.array if fields else 0

    def solve_first(self, first: dict) -> list[dict]:
        """Tangents of the first-order fields ``first`` per parameter, on the current factorisation."""
        m = self.model
        self._load(self.x, first)
        m.heating.value = 1.0
        found = []
        for key in self.directions:
            self._use(key)
            self._use_base(key)
            fields = m._functions("d_first")
            self._solve(key, "first", fields)
            found.append(fields)
        m.heating.value = 0
        return found

    def solve_second(self, second: dict, d_first: list[dict], weight: float, d_other: list[dict] | None = None) -> list[dict]:
        """Tangents of the second-order fields ``second`` driven by -weight R''[a, b] per parameter,
        given the tangents of a (``d_first``) and of b (``d_other``; default: b = a)."""
        m = self.model
        self._load(self.x, second)
        found = []
        for key, d_a, d_b in zip(self.directions, d_first, d_other or d_first):
            self._use(key)
            self._use_base(key)
            self._load(self.da, d_a, weight)
            self._load(self.db, d_b)
            fields = m._functions("d_second")
            self._solve(key, "second", fields)
            found.append(fields)
        return found

    def add_base_direction(self, key: str, fields: dict, factor: complex) -> None:
        """Add ``factor`` times ``fields`` to the base-state tangent of ``key`` (a DC heating that moves
        with the parameter: its response at zero frequency times the heating's derivative)."""
        if not self.base_moves:
            return
        for name in self.model.names:
            self.base_tangents[key][name].x.array[:] += factor * fields[name].x.array


class JouleTangent:
    """The harmonics of a Joule-heated probe and their tangents (docs/physics.md, 'Joule heater balance';
    docs/harmonics.md, 'Which tip harmonic carries what').

    The heater balance sets the scaled heater temperature of each power harmonic n,
    theta_n = P_n / ((i n w C_h + G_h + G_c (1 - Z_n)) h_s), with Z_n the sample's tip temperature per
    heater temperature (the tip value of the unit first-order fields U_n), and the DC heating
    theta_0 = P_0 / ((G_h + G_c (1 - Z_0)) h_s). Each parameter moves Z_n through dU_n (a tangent solve)
    and G_c directly when it is the contact conductance; the first-order fields X_n = theta_n U_n get
    dX_n = d(theta_n) U_n + theta_n dU_n, the base state gets d(theta_0) U_0 on top of its tangent at
    fixed heating, and the second orders take the tangents of both factors.
    """

    def __init__(self, model: HarmonicModel, work, keys: list[str]):
        self.model, self.work, self.keys = model, work, keys
        exc = model.study.excitation
        self.powers = joule_power_harmonics(model.study)
        self.scale = heating_scale(model.study)
        self.conductance = exc.contact_conductance
        # d G_c / d ln p: only the contact conductance itself
        self.d_conductance = [self.conductance if key == "excitation.contact_conductance" else 0.0 for key in keys]

    def _tip(self, fields: dict) -> complex:
        return self.model.tip_values(fields)[1] / self.model.scales.temperature

    def _heater(self, admittance: complex, power: float, z: complex, d_z: list[complex]):
        """(theta, [d theta / d ln p]) of the heater balance with the given admittance (W/K, without G_c)."""
        total = admittance + self.conductance * (1 - z)
        theta = power / total / self.scale
        d_theta = [-theta / total * (-self.conductance * dz + dg * (1 - z)) for dz, dg in zip(d_z, self.d_conductance)]
        return theta, d_theta

    def _first(self, frequency: float):
        """Unit first-order fields at ``frequency`` (Hz), their tangents and the tip temperature ratio."""
        unit = self.model.solve_first_order(frequency)
        d_unit = self.work.solve_first(unit) if self.work else []
        return unit, d_unit, self._tip(unit), [self._tip(d) for d in d_unit]

    def solve(self, frequencies, index: dict, displacement: np.ndarray, jacobian: np.ndarray, columns: list[int]) -> None:
        """Fill ``displacement`` and the ``columns`` of ``jacobian`` at the (frequency, harmonic) ``index``."""
        m, exc = self.model, self.model.study.excitation
        if self.work:
            unit0, d_unit0, z0, d_z0 = self._first(0.0)
            _, d_theta0 = self._heater(exc.heater_conductance, self.powers.get(0, 0.0), z0, d_z0)
            for key, d in zip(self.keys, d_theta0):
                self.work.add_base_direction(key, unit0, d)
        for f in frequencies:
            first, d_first = {}, {}
            for n in (n for n in self.powers if n > 0):
                unit, d_unit, z, d_z = self._first(n * f)
                admittance = 1j * 2 * math.pi * n * f * exc.heater_heat_capacity + exc.heater_conductance
                theta, d_theta = self._heater(admittance, self.powers[n], z, d_z)
                first[n] = _scaled(unit, theta)
                d_first[n] = [_combined(unit, dt, du, theta) for dt, du in zip(d_theta, d_unit)]
                self._add(index[f, n], first[n], d_first[n], displacement, jacobian, columns)
            if m.ionic:
                self._second_orders(f, first, d_first, index, displacement, jacobian, columns)

    def _second_orders(self, f, first, d_first, index, displacement, jacobian, columns) -> None:
        """Every product of heating harmonics n <= k: at n + k (weight 1/4 for n = k, else 1/2) and at
        k - n (weight 1/2, with the conjugate of X_n), as in :func:`stimsim.drive.responses`."""
        m = self.model
        for n in sorted(first):
            for k in sorted(first):
                if k < n:
                    continue
                pairs = []
                if n + k <= MAX_HARMONIC:
                    pairs.append((n + k, first[n], first[k], d_first[n], d_first[k], 0.25 if n == k else 0.5))
                if k > n:
                    conj = conjugated(first[n])
                    pairs.append((k - n, first[k], conj, d_first[k], [conjugated(d) for d in d_first[n]], 0.5))
                for harmonic, a, b, d_a, d_b, weight in pairs:
                    second = m.solve_second_order(harmonic * f, a, b, weight)
                    d_second = self.work.solve_second(second, d_a, weight, d_b) if self.work else []
                    self._add(index[f, harmonic], second, d_second, displacement, jacobian, columns)

    def _add(self, row: int, fields: dict, d_fields: list[dict], displacement, jacobian, columns) -> None:
        displacement[row] += self.model.tip_values(fields)[0]
        for column, d, key in zip(columns, d_fields, self.keys):
            jacobian[row, column] += self.model.tip_values(d)[0] / self.work.unit[key]


def _scaled(fields: dict, factor: complex) -> dict:
    copies = {name: f.copy() for name, f in fields.items()}
    for f in copies.values():
        f.x.array[:] *= factor
    return copies


def _combined(unit: dict, d_theta: complex, d_unit: dict, theta: complex) -> dict:
    """d_theta U + theta dU."""
    copies = {name: f.copy() for name, f in d_unit.items()}
    for name, f in copies.items():
        f.x.array[:] = d_theta * unit[name].x.array + theta * d_unit[name].x.array
    return copies
