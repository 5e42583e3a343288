"""Frequency-domain model: base state, first-order harmonics and second-order (combination) harmonics.

:class:`HarmonicModel` is built once per study and communicator: mesh, P2 spaces, coefficient fields,
the compiled forms of every order and the solvers. Without mobile ions the fields are temperature and
displacement, solved one after the other (heat per frequency, mechanics factorised once: it does not
depend on the frequency). With ions the hydrostatic stress and the concentration join them and the
coupled block system is solved monolithically with MUMPS.

All solves are in scaled units (:mod:`stimsim.physics.scaling`); the heating amplitude 1 is the
study's first-harmonic heating (power, heater temperature or absorbed laser power).
"""

from __future__ import annotations

import math
import time

import numpy as np
import ufl
from dolfinx import fem, la
from mpi4py import MPI

from stimsim.config import Study
from stimsim.errors import SolverError
from stimsim.geometry import AXIS, BOTTOM, FAR, SUBSTRATE, TOP_FREE, TOP_SEGMENT, Domain, load_domain, mesh_spec
from stimsim.materials import GAS_CONSTANT
from stimsim.physics import heat
from stimsim.physics.axisymmetric import body_measure, boundary_measure, radius
from stimsim.physics.coupled import CONCENTRATION, DISPLACEMENT, STRESS, TEMPERATURE, static_residual, storage
from stimsim.physics.scaling import Scales
from stimsim.response import DiskAverage, hertz_weight
from stimsim.solvers import DirectSolver, ReferenceFactorSolver
from stimsim.staggered import StaggeredSolver

#: Polynomial degree of every field.
DEGREE = 2
#: Newton iterations of the base state, and the update size (see :func:`relative_update`) that ends them.
NEWTON_ITERATIONS, NEWTON_TOLERANCE = 30, 1e-10
#: Load increments tried in turn for the base state (DC heating and preload).
LOAD_INCREMENTS = (1, 4, 16)


#: Modes whose heat enters through the contact conductance from a heater temperature.
HEATER_MODES = ("heater", "joule")


def joule_power_harmonics(study: Study) -> dict[int, float]:
    """Electrical power (W) of a heater at V0 + V1 cos(wt) across R, by harmonic of the drive:
    (V0^2 + V1^2/2)/R at 0, 2 V0 V1/R at 1, V1^2/(2R) at 2 (zero terms left out)."""
    exc = study.excitation
    v0, v1, resistance = exc.dc_voltage, exc.ac_voltage, exc.heater_resistance
    powers = {0: (v0**2 + v1**2 / 2) / resistance, 1: 2 * v0 * v1 / resistance, 2: v1**2 / (2 * resistance)}
    return {n: p for n, p in powers.items() if p > 0}


def relative_update(update: fem.Function, field: fem.Function, comm) -> float:
    """max|update| / max(1, max|field|) over all ranks: the scaled perturbations are O(1), but the
    total concentration carries the large base value c0/c_s, whose round-off sets the floor."""
    local = (np.abs(update.x.array).max(initial=0.0), np.abs(field.x.array).max(initial=0.0))
    size, value = (comm.allreduce(v, op=MPI.MAX) for v in local)
    return size / max(1.0, value)


def heating_scale(study: Study) -> float:
    """What the scaled heating amplitude 1 stands for: the first-harmonic power (W) of 'power' and
    'laser', the heater-temperature amplitude (K) of 'heater', and for 'joule' the heater-temperature
    amplitude (K) that the largest AC power harmonic would give without the sample, P / (G_h + G_c)."""
    exc = study.excitation
    if exc.mode == "heater":
        return exc.heater_temperature_amplitude
    if exc.mode == "joule":
        ac = max(p for n, p in joule_power_harmonics(study).items() if n > 0)
        return ac / (exc.heater_conductance + exc.contact_conductance)
    if exc.mode == "laser":
        return exc.absorptance * exc.modulation_depth * exc.mean_power
    return exc.power_amplitude


def scales_for(study: Study) -> Scales:
    """Reference scales of a study: the material under the tip and the heat-input amplitude."""
    top = study.sample.material
    length = study.tip.contact_radius
    ambient = study.excitation.ambient_temperature
    if study.excitation.mode in HEATER_MODES:
        temperature = heating_scale(study)
    else:
        temperature = heating_scale(study) / (math.pi * length * top.thermal_conductivity)
    expansion = max(abs(m.thermal_expansion) for m in study.sample.materials()) or 1e-6
    stress = top.youngs_modulus * expansion * temperature
    ionic = top.is_ionic
    concentration = top.partial_molar_volume * top.concentration * stress / (GAS_CONSTANT * ambient)
    return Scales(
        length=length,
        temperature=temperature,
        conductivity=top.thermal_conductivity,
        heat_capacity=top.volumetric_heat_capacity,
        modulus=top.youngs_modulus,
        expansion=expansion,
        ambient_temperature=ambient,
        concentration=abs(concentration) if ionic else 1.0,
        ionic_diffusivity=top.diffusivity if ionic else None,
    )


class HarmonicModel:
    """The frequency-domain model of one study on one communicator, reusable across frequencies."""

    def __init__(
        self, study: Study, comm: MPI.Comm = MPI.COMM_WORLD, domain: Domain | None = None, method: str = "auto"
    ):
        """``method`` of the coupled ionic solve: 'auto' (measures both on the first solve and keeps
        the faster), 'staggered' or 'monolithic'."""
        if method not in ("auto", "staggered", "monolithic"):
            raise ValueError(f"method must be 'auto', 'staggered' or 'monolithic', not {method!r}")
        self.method = method
        self.study = study
        self.ionic = study.sample.material.is_ionic
        self.domain = domain or load_domain(mesh_spec(study), comm)
        self.scales = scales_for(study)
        mesh = self.domain.mesh
        mesh.topology.create_connectivity(1, 2)
        self.r = radius(mesh)
        self.dx = body_measure(mesh, self.domain.cell_tags)
        self.ds = boundary_measure(mesh, self.domain.facet_tags)
        self.spaces = self._spaces()
        self.names = list(self.spaces)
        self.base = self._functions("base")
        self.solution = self._functions("solution")
        self.zero = self._functions("zero")
        self.direction_a, self.direction_b = self._functions("a"), self._functions("b")
        self.omega_heat = fem.Constant(mesh, 0j)
        self.omega_ions = fem.Constant(mesh, 0j)
        self.heating = fem.Constant(mesh, 0j)
        self.preload_fraction = fem.Constant(mesh, 0j)
        self.k = self._coefficients()
        self._build_forms()
        self._build_solvers()
        self._build_averages()
        self.base_state_solved = False
        self.frozen: dict[float, ReferenceFactorSolver] | None = None

    # -- construction -------------------------------------------------------------------------

    def _spaces(self) -> dict:
        mesh = self.domain.mesh
        spaces = {
            TEMPERATURE: fem.functionspace(mesh, ("Lagrange", DEGREE)),
            DISPLACEMENT: fem.functionspace(mesh, ("Lagrange", DEGREE, (2,))),
        }
        if self.ionic:
            spaces[STRESS] = fem.functionspace(mesh, ("Lagrange", DEGREE))
            spaces[CONCENTRATION] = fem.functionspace(mesh, ("Lagrange", DEGREE))
        return spaces

    def _functions(self, label: str) -> dict:
        return {name: fem.Function(V, name=f"{name}_{label}") for name, V in self.spaces.items()}

    def coefficient_rules(self, study: Study) -> dict:
        """Scaled cell-wise coefficients of ``study``'s materials (with the model's scales): name ->
        function of a material."""
        s, sample = self.scales, study.sample
        cellwise = {
            "conductivity": lambda m: m.thermal_conductivity / s.conductivity,
            "heat_capacity": lambda m: m.volumetric_heat_capacity / s.heat_capacity,
            "lame_lambda": lambda m: m.lame_lambda / s.modulus,
            "shear_modulus": lambda m: m.shear_modulus / s.modulus,
            "expansion": lambda m: m.thermal_expansion / s.expansion,
        }
        if self.ionic:
            ambient = s.ambient_temperature
            cellwise |= {
                "vegard": lambda m: m.partial_molar_volume * s.concentration / (3 * s.expansion * s.temperature),
                "diffusivity": lambda m: m.diffusivity / s.ionic_diffusivity,
                "stress_coupling": lambda m: m.partial_molar_volume * s.stress / (GAS_CONSTANT * ambient),
                "activation": lambda m: m.activation_energy / (GAS_CONSTANT * ambient),
                "mobile": lambda m: 1.0 if self._mobile(m, study) else 0.0,
                "bulk_concentration": lambda m: (m if self._mobile(m, study) else sample.material).concentration
                / s.concentration,
            }
        return cellwise

    def _coefficients(self) -> dict:
        """Scaled coefficients: cell-wise material fields, constants and the equilibrium c0(x)."""
        s = self.scales
        mesh = self.domain.mesh
        k = {}
        for name, value in self.coefficient_rules(self.study).items():
            k[name] = fem.Function(fem.functionspace(mesh, ("DG", 0)), name=name)
            self.fill_cellwise(k[name], value, self.study)
        if self.ionic:
            k["temperature_ratio"] = fem.Constant(mesh, np.complex128(s.temperature / s.ambient_temperature))
            k["exchange"] = fem.Constant(mesh, np.complex128(self.exchange_value(self.study)))
            k["equilibrium"] = self._equilibrium(k["bulk_concentration"])
        return k

    def exchange_value(self, study: Study) -> float:
        """Scaled surface-exchange velocity of ``study``."""
        velocity = study.ions.exchange_velocity or 0.0
        return velocity * self.scales.length / self.scales.ionic_diffusivity

    def set_parameters(self, study: Study) -> None:
        """Rewrite every study-dependent coefficient in place for ``study`` (no recompilation): for a
        study that differs from the model's only in material properties, the ions' exchange velocity
        and the contact conductance, on the same mesh. The scales stay those of construction (only
        the coefficient values change), so ``study`` must keep the heating scale and which materials
        carry mobile ions. Frequency-independent factorisations are redone; the base state must be
        solved again."""
        if heating_scale(study) != heating_scale(self.study) or study.sample.material.is_ionic != self.ionic:
            raise ValueError("set_parameters: the heating scale or the presence of mobile ions changed; rebuild")
        self.study = study
        for name, value in self.coefficient_rules(study).items():
            self.fill_cellwise(self.k[name], value, study)
        if self.ionic:
            self.k["exchange"].value = self.exchange_value(study)
            self.k["equilibrium"].interpolate(self.equilibrium_expression)
        if self.contact_conductance is not None:
            self.contact_conductance.value = self.contact_conductance_value(study)
        if not self.ionic:
            self.mechanics_solver.factorize()
        elif hasattr(self, "staggered"):
            self.staggered.mechanics.factorize()
            self.staggered.projection.factorize()
        self.base_state_solved = False

    @staticmethod
    def _mobile(material, study: Study) -> bool:
        """Whether ions move in ``material``'s region of ``study`` (the substrate only if 'conducting')."""
        if material is study.sample.material:
            return True
        return study.ions.substrate == "conducting" and material.is_ionic

    def fill_cellwise(self, field: fem.Function, value, study: Study) -> None:
        """Set the DG0 ``field`` to value(material) on the film (or half-space) and the substrate."""
        field.x.array[:] = value(study.sample.material)
        if study.sample.substrate is not None:
            field.x.array[self.domain.cell_tags.find(SUBSTRATE)] = value(study.sample.substrate)
        field.x.scatter_forward()

    def _equilibrium(self, bulk: fem.Function) -> fem.Function:
        """c0(x)/c_s: the bulk value times 1 + A exp(-depth/length) (space-charge layer), P2. Regions
        without mobile ions carry the film's value (their concentration is constrained anyway)."""
        ions, spec = self.study.ions, self.domain.spec
        z = ufl.SpatialCoordinate(self.domain.mesh)[1]
        profile = 1.0
        if ions.space_charge_excess:
            profile = 1 + ions.space_charge_excess * ufl.exp(z / spec.scaled(ions.space_charge_length))
        V = self.spaces[CONCENTRATION]
        field = fem.Function(V, name="equilibrium_concentration")
        self.equilibrium_ufl = bulk * profile  # linear in the bulk value (UFL)
        self.equilibrium_expression = fem.Expression(self.equilibrium_ufl, V.element.interpolation_points)
        field.interpolate(self.equilibrium_expression)
        return field

    def _top_surface(self):
        spec = self.domain.spec
        return self.ds((TOP_FREE, *[TOP_SEGMENT + i for i in range(len(spec.surface_radii))]))

    def _build_forms(self) -> None:
        trials = {name: ufl.TrialFunction(V) for name, V in self.spaces.items()}
        tests = {name: ufl.TestFunction(V) for name, V in self.spaces.items()}
        exchange = self._top_surface() if self.study.ions.surface == "exchange" else None
        residual = static_residual(self.base, tests, self.k, self.r, self.dx, exchange)
        contact, heating = self._heat_input(self.base[TEMPERATURE], tests[TEMPERATURE])
        self.heat_input = heating  # UFL linear form of the heating (times :attr:`heating`)
        if contact is not None:
            residual[TEMPERATURE] += contact
        if self.study.tip.force:
            residual[DISPLACEMENT] -= self._preload(tests[DISPLACEMENT])  # a static load: no derivatives
        self.tests, self.balance = tests, residual  # UFL, for the time-domain model
        stored = storage(trials, tests, self.k, self.r, self.dx)
        rates = {TEMPERATURE: self.omega_heat, CONCENTRATION: self.omega_ions}
        blocks = [
            [
                ufl.derivative(residual[i], self.base[j], trials[j]) + (1j * rates[i] * stored[i] if i == j and i in stored else 0)
                for j in self.names
            ]
            for i in self.names
        ]
        self.operator_blocks = blocks
        zero = {name: ufl.ZeroBaseForm((tests[name],)) for name in self.names}
        heating = {name: heating if name == TEMPERATURE else zero[name] for name in self.names}
        self.heating_forms = [fem.form(heating[name]) for name in self.names]
        loads = {name: heating[name] - residual[name] for name in self.names}
        self.newton_forms = [fem.form(loads[name]) for name in self.names] if self.ionic else None
        second = {name: self._second_derivative(residual[name]) for name in self.names}
        self.second_order_forms = [fem.form(second[name]) for name in self.names]
        self.sources = {"first": heating, "second": second}  # UFL, for the staggered solver
        self.mechanics_load = fem.form(
            -ufl.derivative(residual[DISPLACEMENT], self.base[TEMPERATURE], self.solution[TEMPERATURE])
        )

    def _preload(self, v):
        """Hertz pressure p0 sqrt(1 - r^2/a^2) pushing on the contact disk (scaled), a base-state load."""
        tip, spec = self.study.tip, self.domain.spec
        pressure = self.preload_fraction * tip.hertz_pressure / self.scales.stress
        disk = self.ds(spec.disk_tags(tip.contact_radius))
        return -pressure * hertz_weight(self.r, 1.0) * ufl.conj(v[1]) * self.r * disk

    def _second_derivative(self, form):
        """R''[a, b] along the direction sets a and b (compiled once, values copied in per solve)."""
        first = sum(ufl.derivative(form, self.base[n], self.direction_a[n]) for n in self.names)
        return -sum(ufl.derivative(first, self.base[n], self.direction_b[n]) for n in self.names)

    def _heat_input(self, theta, v):
        """(Robin term of the heater or None, heating linear form) for scaled heating amplitude
        :attr:`heating`, in scaled units."""
        exc, s, spec, r = self.study.excitation, self.scales, self.domain.spec, self.r
        mesh = self.domain.mesh
        if exc.mode == "laser":
            # Gaussian normalised on the mesh surface, so the absorbed power is exact; a Beer-Lambert
            # depth profile e^{z/delta}/delta integrates to 1 over the infinite depth (the power
            # absorbed below the domain is lost, as it physically is); the film and the substrate absorb alike
            shape = heat.gaussian_profile(r, spec.scaled(exc.beam_radius))
            top = self._top_surface()
            self.contact_conductance = None
            density = self.heating * heating_scale(self.study) / s.power / self._integral(shape * r * top)
            if exc.absorption_length is None:
                return None, heat.surface_heating(density * shape, v, r, top)
            depth = heat.absorption_profile(ufl.SpatialCoordinate(mesh)[1], spec.scaled(exc.absorption_length))
            return None, heat.volume_heating(density * shape * depth, v, r, self.dx)
        disk = self.ds(spec.disk_tags(self.study.tip.thermal_contact_radius))
        self.heated_area = area = self._integral(r * disk)
        self.contact_conductance = None  # the scaled conductance per area of the heater modes (Constant)
        if exc.mode == "power":
            flux = heating_scale(self.study) / s.power / area
            return None, heat.surface_heating(self.heating * flux, v, r, disk)
        h = self.contact_conductance = fem.Constant(mesh, np.complex128(self.contact_conductance_value(self.study)))
        return heat.contact_exchange(theta, v, h, r, disk), heat.surface_heating(h * self.heating, v, r, disk)

    def contact_conductance_value(self, study: Study) -> float:
        """``study``'s G_c per heated area (mesh units), scaled by the conductivity over the length scale."""
        s = self.scales
        return study.excitation.contact_conductance / (self.heated_area * s.length) / s.conductivity

    def _integral(self, integrand) -> float:
        """2 pi times the r-weighted integral: a physical area or volume integral in mesh units."""
        local = fem.assemble_scalar(fem.form(fem.Constant(self.domain.mesh, 1.0 + 0j) * integrand))
        return 2 * math.pi * self.domain.mesh.comm.allreduce(local, op=MPI.SUM).real

    def _dirichlet(self, V, tags, value):
        facets = np.concatenate([self.domain.facet_tags.find(t) for t in tags])
        return fem.dirichletbc(value, fem.locate_dofs_topological(V, 1, facets), V)

    def _boundary_conditions(self) -> dict:
        """Homogeneous Dirichlet conditions per field (perturbations and Newton updates)."""
        zero = np.complex128(0)
        bcs = {
            TEMPERATURE: [self._dirichlet(self.spaces[TEMPERATURE], (FAR, BOTTOM), zero)],
            DISPLACEMENT: [
                self._dirichlet(self.spaces[DISPLACEMENT], (FAR, BOTTOM), np.zeros(2, dtype=np.complex128)),
                self._dirichlet(self.spaces[DISPLACEMENT].sub(0), (AXIS,), zero),
            ],
        }
        if self.ionic:
            bcs[STRESS] = []
            bcs[CONCENTRATION] = [self._dirichlet(self.spaces[CONCENTRATION], (FAR, BOTTOM), zero)]
            immobile = self.immobile_dofs()
            if immobile.size:
                bcs[CONCENTRATION].append(fem.dirichletbc(zero, immobile, self.spaces[CONCENTRATION]))
        return bcs

    def immobile_dofs(self) -> np.ndarray:
        """Concentration DOFs (local indices) that touch no cell with mobile ions on any rank."""
        V = self.spaces[CONCENTRATION]
        cells = self.domain.mesh.topology.index_map(2)
        mobile = np.flatnonzero(self.k["mobile"].x.array.real[: cells.size_local + cells.num_ghosts] > 0.5)
        touched = fem.Function(V)
        touched.x.array[V.dofmap.list[mobile].ravel()] = 1.0
        touched.x.scatter_reverse(la.InsertMode.add)
        touched.x.scatter_forward()
        return np.flatnonzero(touched.x.array.real == 0).astype(np.int32)

    def _build_solvers(self) -> None:
        bcs = self._boundary_conditions()
        self.bcs = [bc for name in self.names for bc in bcs[name]]
        if self.ionic:
            self.operator_form = fem.form(self.operator_blocks)
            self.coupled_solver = DirectSolver(self.operator_form, self.bcs, "coupled")
            if self.method != "monolithic":
                self.staggered = StaggeredSolver(self, self.sources, bcs)
            return
        (a_tt, _), (_, a_uu) = self.operator_blocks
        self.heat_solver = DirectSolver(fem.form(a_tt), bcs[TEMPERATURE], "heat")
        self.mechanics_solver = DirectSolver(fem.form(a_uu), bcs[DISPLACEMENT], "mechanics")
        self.mechanics_solver.factorize()

    def _build_averages(self) -> None:
        spec, tip, mesh = self.domain.spec, self.study.tip, self.domain.mesh
        hot_radius = tip.contact_radius if self.study.excitation.mode == "laser" else tip.thermal_contact_radius
        self.probe = self._functions("probe")
        self.tip_temperature = DiskAverage(
            mesh, self.probe[TEMPERATURE], self.ds, spec.disk_tags(hot_radius), spec.scaled(hot_radius), "uniform"
        )
        self.tip_displacement = DiskAverage(
            mesh, self.probe[DISPLACEMENT][1], self.ds, spec.disk_tags(tip.contact_radius), 1.0, tip.weighting
        )

    # -- solving ------------------------------------------------------------------------------

    def _set_frequency(self, frequency: float) -> None:
        self.frequency = frequency
        omega = 2 * math.pi * frequency
        self.omega_heat.value = omega * self.scales.time
        if self.ionic:
            self.omega_ions.value = omega * self.scales.ionic_time

    def solve_base_state(self, dc_heating: float) -> None:
        """Steady state under the DC heating ``dc_heating`` (in units of the first-harmonic heating),
        by Newton's method on the coupled nonlinear balance (linear without ions)."""
        for f in self.base.values():
            f.x.array[:] = 0
        self._set_frequency(0.0)
        self.heating.value = dc_heating
        if self.ionic:
            self._continuation(dc_heating)
        elif dc_heating:
            self._solve_staggered()
            for name in self.names:
                self.base[name].x.array[:] = self.solution[name].x.array
        self.heating.value = 0
        self.base_state_solved = True

    def _continuation(self, dc_heating: float) -> None:
        """Newton from the unloaded state; if it fails, in more and more load increments."""
        for increments in LOAD_INCREMENTS:
            for f in self.base.values():
                f.x.array[:] = 0
            try:
                for step in range(1, increments + 1):
                    self.heating.value = dc_heating * step / increments
                    self.preload_fraction.value = step / increments
                    self._newton()
                return
            except SolverError:
                if increments == LOAD_INCREMENTS[-1]:
                    raise

    def _newton(self) -> None:
        update = self._functions("update")
        right = self.newton_forms
        for iteration in range(1, NEWTON_ITERATIONS + 1):
            self.coupled_solver.factorize()
            self.coupled_solver.solve(right, [update[n] for n in self.names])
            size = 0.0
            for name in self.names:
                self.base[name].x.array[:] += update[name].x.array
                size = max(size, relative_update(update[name], self.base[name], self.domain.mesh.comm))
            if size < NEWTON_TOLERANCE:
                return
        raise SolverError(f"base state: Newton did not converge in {NEWTON_ITERATIONS} iterations")

    def solve_first_order(self, frequency: float) -> dict:
        """Fields (scaled) of the response at ``frequency`` (Hz) to the unit heating harmonic; copies."""
        self._require_base_state()
        self._set_frequency(frequency)
        self.heating.value = 1.0
        if self.ionic:
            self._solve_coupled("first", self.heating_forms)
        else:
            self._solve_staggered()
        self.heating.value = 0
        return self._copy(self.solution)

    def solve_second_order(self, frequency: float, first: dict, second: dict, weight: float) -> dict:
        """Fields at ``frequency`` (Hz) driven by weight * (-R''[first, second]) (weight 1/4 for a
        harmonic with itself, 1/2 for two different ones); copies. Zero without ions."""
        self._require_base_state()
        if not self.ionic:
            return self.zero  # the balance is linear: no second-order response
        for name in self.names:
            self.direction_a[name].x.array[:] = weight * first[name].x.array
            self.direction_b[name].x.array[:] = second[name].x.array
        self._set_frequency(frequency)
        self._solve_coupled("second", self.second_order_forms)
        return self._copy(self.solution)

    def freeze_operators(self) -> None:
        """From now on solve the coupled first and second orders at each frequency by GMRES
        preconditioned with the LU factors of that frequency's operator at the base state of its first
        solve (:class:`~stimsim.solvers.ReferenceFactorSolver`): for a base state that moves slowly
        (slow modulation), a solve then costs a few back-substitutions. :meth:`thaw_operators` ends it."""
        if self.ionic and self.frozen is None:
            self.frozen = {}

    def thaw_operators(self) -> None:
        """Free the reference factorisations of :meth:`freeze_operators` and return to direct solves."""
        for solver in (self.frozen or {}).values():
            solver.destroy()
        self.frozen = None

    def _solve_frozen(self, forms: list) -> None:
        if self.frequency not in self.frozen:
            self.frozen[self.frequency] = ReferenceFactorSolver(self.operator_form, self.bcs, "coupled_reference")
        solver = self.frozen[self.frequency]
        solver.factorize()
        solver.solve(forms, [self.solution[n] for n in self.names])

    def _solve_coupled(self, label: str, monolithic_forms: list) -> None:
        """The coupled solve by the chosen method. 'auto' times both on its first solve and keeps the
        faster one (the staggered one only if it converged); :attr:`method_report` says what it saw.
        Frozen operators (:meth:`freeze_operators`) take precedence."""
        if self.frozen is not None:
            self._solve_frozen(monolithic_forms)
            return
        if self.method == "staggered":
            converged, sweeps, contraction = self.staggered.solve(label)
            if not converged:
                raise SolverError(
                    f"staggered solve did not converge ({sweeps} sweeps, contraction {contraction:.2f}); "
                    "use the monolithic method"
                )
            return
        if self.method == "auto":
            start = time.perf_counter()
            converged, sweeps, contraction = self.staggered.solve(label)
            staggered_time = time.perf_counter() - start
        start = time.perf_counter()
        self.coupled_solver.factorize()
        self.coupled_solver.solve(monolithic_forms, [self.solution[n] for n in self.names])
        if self.method == "auto":
            monolithic_time = time.perf_counter() - start
            faster = converged and staggered_time < monolithic_time
            self.method = "staggered" if faster else "monolithic"
            self.method_report = dict(
                converged=converged, sweeps=sweeps, contraction=contraction, chosen=self.method,
                staggered_seconds=staggered_time, monolithic_seconds=monolithic_time,
            )

    def _solve_staggered(self) -> None:
        self.heat_solver.factorize()
        self.heat_solver.solve(self.heating_forms[0], self.solution[TEMPERATURE])
        self.mechanics_solver.solve(self.mechanics_load, self.solution[DISPLACEMENT])

    def _require_base_state(self) -> None:
        if not self.base_state_solved:
            self.solve_base_state(0.0)

    @staticmethod
    def _copy(fields: dict) -> dict:
        return {name: f.copy() for name, f in fields.items()}

    def tip_values(self, fields: dict) -> tuple[complex, complex]:
        """(tip displacement in m, tip temperature in K) of scaled ``fields``."""
        self.probe[TEMPERATURE].x.array[:] = fields[TEMPERATURE].x.array
        self.probe[DISPLACEMENT].x.array[:] = fields[DISPLACEMENT].x.array
        return (
            complex(self.tip_displacement() * self.scales.displacement),
            complex(self.tip_temperature() * self.scales.temperature),
        )

    @property
    def num_dofs(self) -> int:
        """Global number of degrees of freedom of all fields."""
        return sum(V.dofmap.index_map.size_global * V.dofmap.index_map_bs for V in self.spaces.values())

    def destroy(self) -> None:
        """Free the PETSc objects (collective)."""
        solvers = [self.coupled_solver] if self.ionic else [self.heat_solver, self.mechanics_solver]
        for solver in solvers:
            solver.destroy()
        if hasattr(self, "staggered"):
            self.staggered.destroy()
        self.thaw_operators()
