"""Second harmonics without ions from a temperature-dependent expansion alpha(T) = alpha + alpha' theta
and conductivity k(T) = k + k' theta (docs/theory/harmonics.md, 'Non-ionic second harmonics';
docs/validation/verification.md, 'Temperature-dependent α and k')."""

import math

import numpy as np
import pytest
import ufl
from dolfinx import fem, geometry
from dolfinx.fem.petsc import LinearProblem
from mpi4py import MPI

from stimsim.physics import analytic
from stimsim.study.load import derived_study, study_from_dict
from stimsim.core.errors import InputError
from stimsim.solve.forward import base_state, expansion_responses, responses, solve_harmonics
from stimsim.solve.model import HarmonicModel
from stimsim.solve.limits import check_study
from stimsim.physics.coupled import DISPLACEMENT, TEMPERATURE

FREQUENCY, RADIUS = 2e4, 20e-9
#: alpha' (1/K^2) and k' (W/(m K^2)) of the tests: PTFE-like magnitudes (docs/guide/materials.md).
EXPANSION_SLOPE, CONDUCTIVITY_SLOPE = 1e-6, -1e-3


def _study(material: str, properties: dict, power: float, periodic: str = "expansion", dc_power: float = 0.0,
           refinement: float = 0.3):
    return study_from_dict(
        {
            "sample": {"material": material, "properties": properties},
            "tip": {"contact_radius": RADIUS},
            "excitation": {"mode": "power", "power_amplitude": power, "dc_power": dc_power, "frequencies": [FREQUENCY]},
            "mesh": {"refinement": refinement},
            "solver": {"periodic": periodic} | ({} if periodic == "expansion" else {"harmonics": 4}),
        }
    )


def _rows(model) -> dict:
    return {(r.harmonic, r.kind): r for r in responses(model, FREQUENCY)}


def _eigenstrain_displacement(model, eigenstrain) -> complex:
    """Disk-averaged outward surface displacement (m) of the isotropic eigenstrain ``eigenstrain`` (UFL,
    dimensionless) on the model's mesh: an elasticity problem written here by hand (axisymmetric
    strain, Hooke's law with E = 1, clamped far boundary, u_r = 0 on the axis), apart from the
    model's forms, scaling and second-order bookkeeping."""
    domain, nu = model.domain, model.study.sample.material.poisson_ratio
    mesh = domain.mesh
    r = ufl.SpatialCoordinate(mesh)[0]
    lam, mu = nu / ((1 + nu) * (1 - 2 * nu)), 1 / (2 * (1 + nu))

    def strain(w):
        g = ufl.grad(w)
        shear = (g[0, 1] + g[1, 0]) / 2
        return ufl.as_tensor([[g[0, 0], 0, shear], [0, w[0] / r, 0], [shear, 0, g[1, 1]]])

    def stress(e):
        return lam * ufl.tr(e) * ufl.Identity(3) + 2 * mu * e

    V = fem.functionspace(mesh, ("Lagrange", 2, (2,)))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    a = ufl.inner(stress(strain(u)), strain(v)) * r * ufl.dx
    L = ufl.inner(stress(eigenstrain * ufl.Identity(3)), strain(v)) * r * ufl.dx
    fdim = mesh.topology.dim - 1
    bcs = [fem.dirichletbc(np.zeros(2, dtype=np.complex128), fem.locate_dofs_topological(V, fdim, domain.far_facets()), V)]
    bcs += domain.symmetry_conditions(V)
    options = {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}
    solution = LinearProblem(a, L, bcs=bcs, petsc_options=options, petsc_options_prefix="eigenstrain_").solve()
    disk = domain.disk(RADIUS)
    integral = lambda f: mesh.comm.allreduce(fem.assemble_scalar(fem.form(f * r * disk)), op=MPI.SUM)  # noqa: E731
    average = integral(solution[1]) / integral(fem.Constant(mesh, 1.0 + 0j))
    return average * model.scales.length  # mesh lengths are in units of the contact radius


def test_expansion_slope_second_harmonic_is_the_eigenstrain_of_the_squared_temperature():
    """alpha' alone: the 2w tip displacement is the 'nonionic' row (no ionic part, no 2w temperature),
    grows as P^2, and equals the displacement of the eigenstrain alpha' Theta_1^2 / 4 (the 2w part of
    alpha' theta^2 / 2 with theta = Re(Theta_1 e^{iwt})) solved by hand on the same mesh. With
    alpha' = 0 the model stays linear and reports no 'nonionic' row."""
    properties = {"thermal_expansion_derivative": EXPANSION_SLOPE}
    rows = {}
    for power in (1e-8, 2e-8):
        with HarmonicModel(_study("PTFE", properties, power), MPI.COMM_WORLD) as model:
            base_state(model)
            solution = solve_harmonics(model, FREQUENCY)
            rows[power] = {(r.harmonic, r.kind): r for r in expansion_responses(model, FREQUENCY, solution)}
            theta = solution.first[1][TEMPERATURE] * model.scales.temperature  # K
            reference = _eigenstrain_displacement(model, EXPANSION_SLOPE * theta**2 / 4)
    second = {p: found[2, "nonionic"].displacement for p, found in rows.items()}
    assert abs(second[2e-8] / second[1e-8] - 4) < 1e-9
    assert rows[2e-8][2, "ionic"].displacement == 0 and rows[2e-8][2, "nonionic"].temperature == 0
    assert abs(rows[2e-8][2, "total"].displacement - second[2e-8]) == 0
    assert abs(second[2e-8] - reference) < 1e-9 * abs(reference)
    with HarmonicModel(_study("PTFE", {"thermal_expansion_derivative": 0.0}, 1e-8), MPI.COMM_WORLD) as model:
        assert model.linear
        assert not any(kind == "nonionic" for _, kind in _rows(model))


def _centre_value(field, component: int) -> complex:
    """``field``'s ``component`` at the centre of the top surface (the origin), collective."""
    mesh = field.function_space.mesh
    point = np.zeros((1, 3))
    candidates = geometry.compute_collisions_points(geometry.bb_tree(mesh, mesh.topology.dim), point)
    cells = geometry.compute_colliding_cells(mesh, candidates, point).links(0)
    value = complex(field.eval(point, cells[:1])[component]) if len(cells) else 0j
    found = mesh.comm.allreduce(1 if len(cells) else 0, op=MPI.SUM)
    return mesh.comm.allreduce(value, op=MPI.SUM) / found


@pytest.mark.serial  # suite time: a finer mesh; the file's other tests run under MPI
def test_expansion_slope_second_harmonic_matches_the_mindlin_nucleus_integral():
    """The 2w surface displacement at the disk centre (alpha' = 1e-6 1/K^2, PTFE, theta_1 = 1.1 K) against
    the semi-analytic half-space value of the eigenstrain alpha' Theta_1^2/4 with the thermal wave
    of the disk source (stimsim.physics.analytic.squared_temperature_centre_displacement): independent of the
    mesh, the first order and the model. Measured 1.7e-4 at mesh.refinement 0.6 (6e-3 at 0.3)."""
    study = _study("PTFE", {"thermal_expansion_derivative": EXPANSION_SLOPE}, 2e-8, refinement=0.6)
    with HarmonicModel(study, MPI.COMM_WORLD) as model:
        base_state(model)
        second = solve_harmonics(model, FREQUENCY).nonionic[2][0]
        centre = _centre_value(second[DISPLACEMENT], 1) * model.scales.displacement
    m = study.sample.material
    reference = analytic.squared_temperature_centre_displacement(
        2e-8, RADIUS, m.thermal_conductivity, m.thermal_diffusivity, EXPANSION_SLOPE, m.poisson_ratio, 2 * math.pi * FREQUENCY
    )
    assert abs(centre - reference) < 1e-3 * abs(reference)


def test_disk_temperature_field_matches_the_hankel_centre_temperature():
    """The point-source sum of analytic.disk_temperature_field at the disk centre (just below it)
    against the Hankel integral of analytic.halfspace_temperature with the 'centre' receiver."""
    m = _study("PTFE", {}, 1e-8).sample.material
    omega = 2 * math.pi * FREQUENCY
    field = analytic.disk_temperature_field(1e-8, RADIUS, m.thermal_conductivity, m.thermal_diffusivity, omega,
                                            np.array([0.0]), np.array([1e-6 * RADIUS]))[0]
    exact = analytic.halfspace_temperature(1e-8, RADIUS, m.thermal_conductivity, m.thermal_diffusivity, omega, "centre")
    assert abs(field - exact) < 1e-5 * abs(exact)


def test_nonionic_part_does_not_depend_on_the_diffusivity():
    """With mobile ions (SDC) and alpha': the 'nonionic' 2w row does not change when D changes (in
    place, on the same mesh) while the 'ionic' one does; it equals the second order of the same
    sample without mobile ions; 'total' is their sum."""
    study = _study("SDC", {"thermal_expansion_derivative": 2e-8, "diffusivity": 1e-13}, 1e-7)
    found = {}
    with HarmonicModel(study, MPI.COMM_WORLD) as model:
        for diffusivity in (1e-13, 1e-12):
            model.set_parameters(derived_study(study, {"sample.properties.diffusivity": diffusivity}))
            base_state(model)
            found[diffusivity] = _rows(model)
        immobile = model.without_ions()
        base_state(immobile)
        without_ions = _rows(immobile)[2, "nonionic"].displacement
    nonionic = {d: rows[2, "nonionic"].displacement for d, rows in found.items()}
    ionic = {d: rows[2, "ionic"].displacement for d, rows in found.items()}
    assert abs(nonionic[1e-12] - nonionic[1e-13]) < 1e-9 * abs(nonionic[1e-13])
    assert abs(without_ions - nonionic[1e-13]) < 1e-9 * abs(nonionic[1e-13])
    assert abs(ionic[1e-12] - ionic[1e-13]) > 0.5 * abs(ionic[1e-13])
    rows = found[1e-12]
    assert abs(rows[2, "total"].displacement - nonionic[1e-12] - ionic[1e-12]) < 1e-12 * abs(rows[2, "total"].displacement)


def test_conductivity_slope_harmonic_balance_matches_the_expansion():
    """k' alone, a 0.5 K oscillation of PTFE: harmonic balance's 'nonionic' 2w displacement and
    temperature match the expansion's, and its 'ionic' rows are zero (no ions)."""
    properties = {"thermal_conductivity_derivative": CONDUCTIVITY_SLOPE}
    with HarmonicModel(_study("PTFE", properties, 1e-8, "harmonic_balance"), MPI.COMM_WORLD) as model:
        base_state(model)
        solution = solve_harmonics(model, FREQUENCY)
        expansion = {(r.harmonic, r.kind): r for r in expansion_responses(model, FREQUENCY, solution)}[2, "nonionic"]
        periodic = {(r.harmonic, r.kind): r for r in responses(model, FREQUENCY, solution)}
    balance = periodic[2, "nonionic"]
    assert abs(balance.displacement - expansion.displacement) < 5e-3 * abs(expansion.displacement)
    assert abs(balance.temperature - expansion.temperature) < 5e-3 * abs(expansion.temperature)
    assert periodic[2, "ionic"].displacement == 0


def test_conductivity_slope_base_state_is_the_kirchhoff_transform_of_the_linear_one():
    """Steady DC heating through the disk with theta = 0 far away: with k(T) = k + k' theta the rise
    theta solves the linear problem for theta + k' theta^2 / (2 k) (Kirchhoff transform). Measured at
    the P2 nodes of the same mesh: 5e-5 of the peak (the nonlinear rise itself differs from the linear
    one by 2.7 %)."""
    rises = {}
    for slope in (0.0, CONDUCTIVITY_SLOPE):
        with HarmonicModel(_study("PTFE", {"thermal_conductivity_derivative": slope}, 1e-8, dc_power=2e-7), MPI.COMM_WORLD) as model:
            base_state(model)
            rises[slope] = model.base[TEMPERATURE].x.array.real * model.scales.temperature
    k, linear, rise = 0.25, rises[0.0], rises[CONDUCTIVITY_SLOPE]
    peak = MPI.COMM_WORLD.allreduce(np.abs(linear).max(), op=MPI.MAX)
    mapped = MPI.COMM_WORLD.allreduce(np.abs(rise + CONDUCTIVITY_SLOPE * rise**2 / (2 * k) - linear).max(), op=MPI.MAX)
    unmapped = MPI.COMM_WORLD.allreduce(np.abs(rise - linear).max(), op=MPI.MAX)
    assert mapped < 2e-4 * peak
    assert unmapped > 0.02 * peak


@pytest.mark.parametrize(
    "key, value",
    [("sample.properties.thermal_expansion_derivative", 1e-3),
     ("sample.properties.thermal_conductivity_derivative", -1e3),
     ("geometry.substrate_properties.thermal_conductivity_derivative", "hot")],
)
def test_out_of_range_slopes_are_refused(key, value):
    raw = {"sample": {"material": "PTFE"}, "tip": {"contact_radius": RADIUS},
           "excitation": {"power_amplitude": 1e-8, "frequencies": [FREQUENCY]}}
    if key.startswith("geometry"):
        raw["geometry"] = {"kind": "film", "film_thickness": 1e-6, "substrate": "Si"}
    section, table, name = key.split(".")
    raw.setdefault(section, {}).setdefault(table, {})[name] = value
    with pytest.raises(InputError) as err:
        study_from_dict(raw)
    assert key in str(err.value)


def test_conductivity_reaching_zero_at_the_peak_temperature_is_refused():
    """k' = -5e-3 W/(m K^2) on PTFE (k = 0.25) makes k(T) vanish 50 K above ambient: a heating whose
    estimated tip temperature exceeds that is refused before any solve, naming the key."""
    study = _study("PTFE", {"thermal_conductivity_derivative": -5e-3}, 1e-7, dc_power=2e-6)
    with pytest.raises(InputError) as err:
        check_study(study)
    assert "sample.properties.thermal_conductivity_derivative" in str(err.value)
    check_study(_study("PTFE", {"thermal_conductivity_derivative": -5e-3}, 1e-8))

