"""Verification of the thermoelastic frequency-domain model against independent semi-analytic solutions
(Hankel integrals of stimsim.physics.analytic, checked in test_analytic.py against closed forms)."""

import math

import numpy as np
import pytest
import ufl
from dolfinx import fem
from mpi4py import MPI

from stimsim.physics import analytic
from stimsim.study.load import study_from_dict
from stimsim.solve.forward import responses
from stimsim.solve.model import HarmonicModel

POWER, RADIUS = 1e-6, 20e-9
FREQUENCIES = [1e3, 1e4, 1e5, 1e6]


def make_study(**sections):
    """SDC with its ions switched off (partial_molar_volume = 0): the thermoelastic model."""
    raw = {
        "sample": {"material": "SDC", "properties": {"partial_molar_volume": 0.0}},
        "tip": {"contact_radius": RADIUS},
        "excitation": {"mode": "power", "power_amplitude": POWER, "frequencies": FREQUENCIES},
    }
    for section, table in sections.items():
        raw.setdefault(section, {}).update(table)
        raw[section] = {key: value for key, value in raw[section].items() if value is not None}
    return study_from_dict(raw)


def thermal(model, frequency):
    """The first-harmonic thermal row at ``frequency`` (Hz)."""
    row = responses(model, frequency)[0]
    assert (row.harmonic, row.kind) == (1, "thermal")
    return row


def relative_error(value, reference):
    return abs(value - reference) / abs(reference)


def phase_error_deg(value, reference):
    return abs(math.degrees(np.angle(value / reference)))


@pytest.fixture(scope="module")
def halfspace():
    study = make_study()
    model = HarmonicModel(study, MPI.COMM_WORLD)
    yield study, {f: thermal(model, f) for f in FREQUENCIES}
    model.destroy()


def test_disk_temperature_matches_thermal_wave_solution(halfspace):
    study, responses = halfspace
    m = study.sample.material
    for f, response in responses.items():
        exact = analytic.halfspace_temperature(POWER, RADIUS, m.thermal_conductivity, m.thermal_diffusivity, 2 * math.pi * f)
        assert relative_error(response.temperature, exact) < 5e-3, f
        assert phase_error_deg(response.temperature, exact) < 0.5, f


def test_disk_displacement_matches_thermoelastic_halfspace_solution(halfspace):
    study, responses = halfspace
    m = study.sample.material
    for f, response in responses.items():
        exact = analytic.halfspace_displacement(
            POWER, RADIUS, m.thermal_conductivity, m.thermal_diffusivity, m.thermal_expansion, m.poisson_ratio, 2 * math.pi * f
        )
        assert relative_error(response.displacement, exact) < 1e-2, f
        assert phase_error_deg(response.displacement, exact) < 0.5, f


def applied_power(model) -> complex:
    """2 pi times the integral of the applied heat flux (or source) in W, for the unit heating."""
    one = fem.Function(model.spaces["temperature"])
    one.x.array[:] = 1.0
    model.forms.heating.value = 1.0
    local = fem.assemble_scalar(fem.form(ufl.action(model.forms.heat_input, one)))
    model.forms.heating.value = 0.0
    return 2 * math.pi * model.domain.mesh.comm.allreduce(local, op=MPI.SUM) * model.scales.power


@pytest.mark.parametrize(
    "excitation",
    [
        {},
        {"thermal_contact_radius": 13e-9},
        {"mode": "laser", "mean_power": 1e-5, "modulation_depth": 0.4, "absorptance": 0.5, "beam_radius": 80e-9},
    ],
    ids=["disk", "small-disk", "laser"],
)
def test_the_requested_power_enters_the_sample(excitation):
    """The flux integrated over the mesh's heated disk (or Gaussian) is exactly the requested power."""
    tip = {"thermal_contact_radius": excitation.pop("thermal_contact_radius")} if "thermal_contact_radius" in excitation else {}
    laser = excitation.get("mode") == "laser"
    study = make_study(tip=tip, excitation=excitation | ({"power_amplitude": None} if laser else {}))
    model = HarmonicModel(study, MPI.COMM_WORLD)
    expected = 1e-5 * 0.4 * 0.5 if laser else POWER
    # the Gaussian is integrated by quadrature of different degrees in the two forms
    assert abs(applied_power(model) - expected) < (1e-6 if laser else 1e-12) * expected
    model.destroy()


def test_deep_laser_absorption_loses_the_power_below_the_domain():
    """Beer-Lambert over 2 domain depths: only P (1 - e^{-D/delta}) is absorbed in the domain."""
    laser = {"mode": "laser", "mean_power": 1e-5, "modulation_depth": 1.0, "beam_radius": 200e-9, "power_amplitude": None}
    study = make_study(excitation=laser | {"frequencies": [1e5], "absorption_length": 8e-6}, mesh={"domain_size": 4e-6})
    model = HarmonicModel(study, MPI.COMM_WORLD)
    expected = 1e-5 * (1 - math.exp(-0.5))
    assert abs(applied_power(model) - expected) < 1e-3 * expected
    model.destroy()


def test_hertz_weighted_displacement_matches_solution():
    study = make_study(tip={"weighting": "hertz"}, excitation={"frequencies": [1e4, 1e6]})
    m = study.sample.material
    model = HarmonicModel(study, MPI.COMM_WORLD)
    for f in study.excitation.frequencies:
        exact = analytic.halfspace_displacement(
            POWER, RADIUS, m.thermal_conductivity, m.thermal_diffusivity, m.thermal_expansion, m.poisson_ratio,
            2 * math.pi * f, receiver="hertz",
        )
        assert relative_error(thermal(model, f).displacement, exact) < 1e-2
    model.destroy()


def test_steady_disk_temperature_closed_form():
    """omega = 0: disk average 8P/(3 pi^2 k a) (Carslaw & Jaeger); the finite domain adds O(a/R)."""
    study = make_study()
    model = HarmonicModel(study, MPI.COMM_WORLD)
    k = study.sample.material.thermal_conductivity
    steady = thermal(model, 0.0).temperature
    model.destroy()
    assert relative_error(steady, analytic.steady_disk_average_temperature(POWER, RADIUS, k)) < 2e-3
    assert abs(steady.imag) < 1e-12 * abs(steady)


def test_mesh_refinement_knob_converges_at_the_p2_rate():
    """Doubling mesh.refinement halves every cell: the error falls about 8x (h^3, P2 in L2-like
    averages). A domain of 40 thermal lengths keeps the truncation error out of the way."""
    f = 1e5
    errors = []
    for refinement in (0.5, 1.0):
        study = make_study(mesh={"refinement": refinement, "domain_thermal_lengths": 40.0}, excitation={"frequencies": [f]})
        m = study.sample.material
        model = HarmonicModel(study, MPI.COMM_WORLD)
        response = thermal(model, f)
        model.destroy()
        omega = 2 * math.pi * f
        exact_t = analytic.halfspace_temperature(POWER, RADIUS, m.thermal_conductivity, m.thermal_diffusivity, omega)
        exact_u = analytic.halfspace_displacement(
            POWER, RADIUS, m.thermal_conductivity, m.thermal_diffusivity, m.thermal_expansion, m.poisson_ratio, omega
        )
        errors.append((relative_error(response.temperature, exact_t), relative_error(response.displacement, exact_u)))
    (t_coarse, u_coarse), (t_fine, u_fine) = errors
    assert math.log2(t_coarse / t_fine) > 2.5, errors
    assert math.log2(u_coarse / u_fine) > 2.5, errors


def test_heater_mode_with_weak_contact_is_a_power_source():
    """A contact conductance G much below the sample's spreading conductance makes the flux nearly
    uniform: theta_tip = G theta_h Z / (1 + G Z) with Z the uniform-disk thermal impedance."""
    f, theta_h = 1e5, 10.0
    base = make_study()
    m = base.sample.material
    impedance = analytic.halfspace_temperature(1.0, RADIUS, m.thermal_conductivity, m.thermal_diffusivity, 2 * math.pi * f)
    conductance = 1e-2 / abs(impedance)
    study = make_study(
        excitation={"mode": "heater", "heater_temperature_amplitude": theta_h, "contact_conductance": conductance, "power_amplitude": None}
    )
    model = HarmonicModel(study, MPI.COMM_WORLD)
    response = thermal(model, f)
    model.destroy()
    expected = conductance * theta_h * impedance / (1 + conductance * impedance)
    assert relative_error(response.temperature, expected) < 3e-3
    assert relative_error(response.heating_power, conductance * (theta_h - expected)) < 1e-4


def test_heater_mode_with_strong_contact_gives_isothermal_disk_conductance():
    """G >> 4 k a: the disk is isothermal at theta_h and the steady heat flow is 4 k a theta_h
    (Carslaw & Jaeger, isothermal disk on a half-space); the finite domain adds O(a/R)."""
    base = make_study()
    k = base.sample.material.thermal_conductivity
    conductance = 1e3 * 4 * k * RADIUS
    study = make_study(
        excitation={"mode": "heater", "heater_temperature_amplitude": 1.0, "contact_conductance": conductance, "power_amplitude": None}
    )
    model = HarmonicModel(study, MPI.COMM_WORLD)
    response = thermal(model, 0.0)
    model.destroy()
    assert relative_error(response.heating_power, 4 * k * RADIUS) < 1e-2


@pytest.mark.parametrize("absorption_length", [None, 10e-9])
def test_gaussian_laser_spot_matches_solution(absorption_length):
    """Surface absorption, and Beer-Lambert absorption over 10 nm (half the contact radius)."""
    beam, mean, depth = 200e-9, 2e-5, 0.5
    laser = {"mode": "laser", "mean_power": mean, "modulation_depth": depth, "beam_radius": beam, "power_amplitude": None}
    laser["absorption_length"] = absorption_length
    study = make_study(excitation=laser | {"frequencies": [1e4, 1e6]})
    m = study.sample.material
    model = HarmonicModel(study, MPI.COMM_WORLD)
    for f in study.excitation.frequencies:
        omega = 2 * math.pi * f
        args = (mean * depth, beam, RADIUS, m.thermal_conductivity, m.thermal_diffusivity)
        response = thermal(model, f)
        exact_t = analytic.gaussian_halfspace_temperature(*args, omega, absorption_length=absorption_length)
        exact_u = analytic.gaussian_halfspace_displacement(
            *args, m.thermal_expansion, m.poisson_ratio, omega, absorption_length=absorption_length
        )
        assert relative_error(response.temperature, exact_t) < 5e-3
        assert relative_error(response.displacement, exact_u) < 1e-2
    if absorption_length:  # the depth profile matters at this size: a surface source is far off
        surface_t = analytic.gaussian_halfspace_temperature(*args, omega)
        assert relative_error(surface_t, exact_t) > 0.05
    model.destroy()


def test_film_on_substrate_matches_layered_solution():
    """A film with its own conductivity, heat capacity and expansion on a substrate with the same
    elastic constants: two-layer Hankel solution (temperature continuity and flux balance at z = h)."""
    film_props = {"thermal_conductivity": 1.0, "thermal_expansion": 20e-6, "heat_capacity": 400.0, "partial_molar_volume": 0.0}
    substrate_props = {"thermal_conductivity": 10.0, "thermal_expansion": 3e-6, "heat_capacity": 700.0}
    thickness = 20e-9
    study = make_study(
        sample={"properties": film_props},
        geometry={"kind": "film", "film_thickness": thickness, "substrate": "SDC", "substrate_properties": substrate_props},
        excitation={"frequencies": [1e4, 1e5, 1e6]},
    )
    film, substrate = (
        analytic.Layer(m.thermal_conductivity, m.thermal_diffusivity, m.thermal_expansion) for m in study.sample.materials()
    )
    nu = study.sample.material.poisson_ratio
    model = HarmonicModel(study, MPI.COMM_WORLD)
    for f in study.excitation.frequencies:
        omega = 2 * math.pi * f
        response = thermal(model, f)
        exact_t = analytic.film_temperature(POWER, RADIUS, thickness, film, substrate, omega)
        exact_u = analytic.film_displacement(POWER, RADIUS, thickness, film, substrate, nu, omega)
        assert relative_error(response.temperature, exact_t) < 5e-3, f
        assert relative_error(response.displacement, exact_u) < 1e-2, f
        # the substrate matters: the half-space of film material is far off
        halfspace_t = analytic.halfspace_temperature(POWER, RADIUS, film.conductivity, film.diffusivity, omega)
        assert relative_error(halfspace_t, exact_t) > 0.05
    model.destroy()


def test_same_results_on_all_ranks_and_on_one_rank():
    """COMM_WORLD (distributed under mpiexec) against COMM_SELF (whole mesh on each rank)."""
    study = make_study(excitation={"frequencies": [3e3, 3e5]})
    results = {}
    for name, comm in (("world", MPI.COMM_WORLD), ("self", MPI.COMM_SELF)):
        model = HarmonicModel(study, comm)
        results[name] = [(r.temperature, r.displacement) for f in (3e3, 3e5) for r in [thermal(model, f)]]
        model.destroy()
    for (t_w, u_w), (t_s, u_s) in zip(results["world"], results["self"]):
        assert relative_error(t_w, t_s) < 1e-10
        assert relative_error(u_w, u_s) < 1e-10
