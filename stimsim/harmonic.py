"""Frequency-domain thermoelastic model: heat conduction then quasi-static mechanics, per frequency.

:class:`ThermoelasticModel` is built once per study and communicator: mesh, P2 spaces, material
coefficient fields, compiled forms and the mechanics factorisation (which does not depend on the
frequency). :meth:`ThermoelasticModel.solve` then costs one heat factorisation (into the same matrix,
reusing MUMPS's symbolic analysis), one heat solve and one mechanics solve per frequency.
"""

from __future__ import annotations

import math

import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI

from stimsim.config import Study
from stimsim.geometry import AXIS, BOTTOM, FAR, SUBSTRATE, TOP_FREE, TOP_SEGMENT, Domain, load_domain, mesh_spec
from stimsim.physics import heat, mechanics
from stimsim.physics.axisymmetric import body_measure, boundary_measure, radius
from stimsim.physics.scaling import Scales
from stimsim.response import DiskAverage, TipResponse
from stimsim.solvers import DirectSolver

#: Polynomial degree of the temperature and displacement spaces.
DEGREE = 2


def scales_for(study: Study) -> Scales:
    """Reference scales of a study: the material under the tip and the heat-input amplitude."""
    top = study.sample.material
    length = study.tip.contact_radius
    exc = study.excitation
    if exc.mode == "heater":
        temperature = exc.heater_temperature_amplitude
    else:
        temperature = absorbed_power_amplitude(study) / (math.pi * length * top.thermal_conductivity)
    expansion = max(abs(m.thermal_expansion) for m in study.sample.materials()) or 1e-6
    return Scales(
        length=length,
        temperature=temperature,
        conductivity=top.thermal_conductivity,
        heat_capacity=top.volumetric_heat_capacity,
        modulus=top.youngs_modulus,
        expansion=expansion,
    )


def absorbed_power_amplitude(study: Study) -> float:
    """Amplitude (W) of the heating-power oscillation entering the sample ('power', 'laser' modes)."""
    exc = study.excitation
    if exc.mode == "laser":
        return exc.absorptance * exc.modulation_depth * exc.mean_power
    return exc.power_amplitude


class ThermoelasticModel:
    """Heat conduction and thermoelasticity of one study on one communicator, reusable across frequencies."""

    def __init__(self, study: Study, comm: MPI.Comm = MPI.COMM_WORLD, domain: Domain | None = None):
        self.study = study
        self.domain = domain or load_domain(mesh_spec(study), comm)
        self.scales = scales_for(study)
        mesh = self.domain.mesh
        mesh.topology.create_connectivity(1, 2)
        self.r = radius(mesh)
        self.dx = body_measure(mesh, self.domain.cell_tags)
        self.ds = boundary_measure(mesh, self.domain.facet_tags)
        self.V_T = fem.functionspace(mesh, ("Lagrange", DEGREE))
        self.V_u = fem.functionspace(mesh, ("Lagrange", DEGREE, (2,)))
        self.temperature = fem.Function(self.V_T, name="temperature")
        self.displacement = fem.Function(self.V_u, name="displacement")
        self.omega = fem.Constant(mesh, 0j)
        self.coefficients = self._coefficient_fields()
        self._build_heat()
        self._build_mechanics()
        self._build_averages()

    # -- construction -------------------------------------------------------------------------

    def _coefficient_fields(self) -> dict[str, fem.Function]:
        """Scaled, cell-wise constant material coefficients (film and substrate regions)."""
        s, sample = self.scales, self.study.sample
        Q = fem.functionspace(self.domain.mesh, ("DG", 0))
        values = {
            "conductivity": lambda m: m.thermal_conductivity / s.conductivity,
            "heat_capacity": lambda m: m.volumetric_heat_capacity / s.heat_capacity,
            "lame_lambda": lambda m: m.lame_lambda / s.modulus,
            "shear_modulus": lambda m: m.shear_modulus / s.modulus,
            "expansion": lambda m: m.thermal_expansion / s.expansion,
        }
        fields = {}
        substrate_cells = self.domain.cell_tags.find(SUBSTRATE)
        for name, scaled in values.items():
            field = fem.Function(Q, name=name)
            field.x.array[:] = scaled(sample.material)
            if sample.substrate is not None:
                field.x.array[substrate_cells] = scaled(sample.substrate)
            field.x.scatter_forward()
            fields[name] = field
        return fields

    def _dirichlet(self, V, tags, value):
        facets = np.concatenate([self.domain.facet_tags.find(t) for t in tags])
        dofs = fem.locate_dofs_topological(V, 1, facets)
        return fem.dirichletbc(value, dofs, V)

    def _build_heat(self) -> None:
        c, r, dx = self.coefficients, self.r, self.dx
        theta, v = ufl.TrialFunction(self.V_T), ufl.TestFunction(self.V_T)
        a = heat.conduction(theta, v, c["conductivity"], c["heat_capacity"], self.omega, r, dx)
        exchange, source = self._heat_input(theta, v)
        bcs = [self._dirichlet(self.V_T, (FAR, BOTTOM), np.complex128(0))]
        self.heat_solver = DirectSolver(fem.form(a + exchange if exchange else a), bcs, "heat")
        self.heat_rhs = fem.form(source)

    def _heat_input(self, theta, v):
        """(extra bilinear term or None, linear form) of the excitation mode, in scaled units."""
        exc, s, spec, r = self.study.excitation, self.scales, self.domain.spec, self.r
        mesh = self.domain.mesh
        if exc.mode == "laser":
            top = self.ds((TOP_FREE, *[TOP_SEGMENT + i for i in range(len(spec.surface_radii))]))
            shape = heat.gaussian_profile(r, spec.scaled(exc.beam_radius))
            if exc.absorption_length is None:
                measure = top
            else:
                shape = shape * heat.absorption_profile(ufl.SpatialCoordinate(mesh)[1], spec.scaled(exc.absorption_length))
                measure = self.dx
            total = self._integral(shape * r * measure)
            density = fem.Constant(mesh, np.complex128(absorbed_power_amplitude(self.study) / s.power / total))
            return None, ufl.inner(density * shape, v) * r * measure
        disk = self.ds(spec.disk_tags(self.study.tip.thermal_contact_radius))
        area = self._integral(r * disk)
        if exc.mode == "power":
            flux = fem.Constant(mesh, np.complex128(exc.power_amplitude / s.power / area))
            return None, heat.surface_heating(flux, v, r, disk)
        conductance = exc.contact_conductance / (area * s.length**2) * s.length / s.conductivity
        h = fem.Constant(mesh, np.complex128(conductance))
        heater = fem.Constant(mesh, np.complex128(1.0))
        return heat.contact_exchange(theta, v, h, r, disk), heat.surface_heating(h * heater, v, r, disk)

    def _integral(self, integrand) -> float:
        """2 pi times the r-weighted integral: a physical area or volume integral in mesh units."""
        local = fem.assemble_scalar(fem.form(fem.Constant(self.domain.mesh, 1.0 + 0j) * integrand))
        return 2 * math.pi * self.domain.mesh.comm.allreduce(local, op=MPI.SUM).real

    def _build_mechanics(self) -> None:
        c, r, dx = self.coefficients, self.r, self.dx
        u, v = ufl.TrialFunction(self.V_u), ufl.TestFunction(self.V_u)
        lam, mu = c["lame_lambda"], c["shear_modulus"]
        a = mechanics.stiffness(u, v, lam, mu, r, dx)
        eigenstrain = mechanics.thermal_eigenstrain(self.temperature, c["expansion"])
        L = mechanics.eigenstrain_load(eigenstrain, v, lam, mu, r, dx)
        bcs = [
            self._dirichlet(self.V_u, (FAR, BOTTOM), np.zeros(2, dtype=np.complex128)),
            self._dirichlet(self.V_u.sub(0), (AXIS,), np.complex128(0)),
        ]
        self.mechanics_solver = DirectSolver(fem.form(a), bcs, "mechanics")
        self.mechanics_solver.factorize()
        self.mechanics_rhs = fem.form(L)

    def _build_averages(self) -> None:
        spec, tip, mesh = self.domain.spec, self.study.tip, self.domain.mesh
        hot_radius = tip.contact_radius if self.study.excitation.mode == "laser" else tip.thermal_contact_radius
        self.tip_temperature = DiskAverage(
            mesh, self.temperature, self.ds, spec.disk_tags(hot_radius), spec.scaled(hot_radius), "uniform"
        )
        self.tip_displacement = DiskAverage(
            mesh, self.displacement[1], self.ds, spec.disk_tags(tip.contact_radius), 1.0, tip.weighting
        )

    # -- solving ------------------------------------------------------------------------------

    def solve(self, frequency: float) -> None:
        """Solve heat and mechanics at the drive ``frequency`` (Hz) into :attr:`temperature` and
        :attr:`displacement` (scaled units)."""
        self.omega.value = self.scales.angular_frequency(2 * math.pi * frequency)
        self.heat_solver.factorize()
        self.heat_solver.solve(self.heat_rhs, self.temperature)
        self.mechanics_solver.solve(self.mechanics_rhs, self.displacement)

    def response(self, frequency: float) -> TipResponse:
        """Tip temperature (K) and displacement (m) at the drive ``frequency`` (Hz), first harmonic."""
        self.solve(frequency)
        temperature = complex(self.tip_temperature() * self.scales.temperature)
        return TipResponse(
            drive_frequency=frequency,
            harmonic=1,
            kind="thermal",
            order=1,
            displacement=complex(self.tip_displacement() * self.scales.displacement),
            temperature=temperature,
            heating_power=self._heating_power(temperature),
        )

    def _heating_power(self, tip_temperature: complex) -> complex:
        """Heat flow into the sample (W): the input power, or G_c (theta_h - mean disk temperature)."""
        exc = self.study.excitation
        if exc.mode == "heater":
            return exc.contact_conductance * (exc.heater_temperature_amplitude - tip_temperature)
        return complex(absorbed_power_amplitude(self.study))

    def run(self, frequencies=None) -> list[TipResponse]:
        """Responses at ``frequencies`` (Hz; default: the study's)."""
        return [self.response(f) for f in (frequencies or self.study.excitation.frequencies)]

    @property
    def num_dofs(self) -> int:
        """Global number of degrees of freedom (temperature + displacement)."""
        return sum(V.dofmap.index_map.size_global * V.dofmap.index_map_bs for V in (self.V_T, self.V_u))

    def destroy(self) -> None:
        """Free the PETSc objects (collective)."""
        self.heat_solver.destroy()
        self.mechanics_solver.destroy()
