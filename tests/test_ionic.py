"""Properties of the ionic (second-order) response of the full model: amplitude laws, mass
conservation, non-ionic materials, parallel consistency."""

import math

import numpy as np
import pytest
import ufl
from dolfinx import fem
from mpi4py import MPI

from stimsim.study.load import derived_study, study_from_dict
from stimsim.core.errors import SolverError
from stimsim.solve.forward import base_state, responses
from stimsim.solve.model import HarmonicModel
from stimsim.physics.coupled import CONCENTRATION

FREQUENCY = 2e4


def ionic_study(material="SDC", power=1e-6, frequencies=(FREQUENCY,), **properties):
    """These tests verify the expansion: it answers at every amplitude (not 'auto')."""
    return study_from_dict(
        {
            "sample": {"material": material, "properties": {"diffusivity": 1e-12} | properties},
            "tip": {"contact_radius": 20e-9},
            "excitation": {"mode": "power", "power_amplitude": power, "frequencies": list(frequencies)},
            "solver": {"periodic": "expansion"},
        }
    )


def rows_by_label(study, comm=MPI.COMM_WORLD):
    model = HarmonicModel(study, comm)
    rows = {(r.harmonic, r.kind): r for r in responses(model, FREQUENCY)}
    model.destroy()
    return rows


@pytest.mark.serial  # suite time; the ionic solve under MPI: test_ionic_response_is_the_same_on_one_and_all_ranks
def test_first_harmonic_is_linear_and_second_quadratic_in_the_heating():
    weak, strong = (rows_by_label(ionic_study(power=p)) for p in (1e-6, 3e-6))
    thermal = strong[1, "thermal"].displacement / weak[1, "thermal"].displacement
    ionic = strong[2, "ionic"].displacement / weak[2, "ionic"].displacement
    assert abs(thermal - 3) < 1e-9 * 3
    assert abs(ionic - 9) < 1e-9 * 9
    assert abs(weak[2, "ionic"].displacement) > 1e-4 * abs(weak[1, "thermal"].displacement)


def test_no_ionic_signal_without_mobile_ions():
    rows = rows_by_label(ionic_study(material="PTFE"))
    assert rows[2, "ionic"].displacement == 0 and rows[2, "ionic"].temperature == 0
    assert abs(rows[1, "thermal"].displacement) > 0


def test_concentration_is_conserved_with_blocking_surfaces():
    """The top surface blocks the ions: the concentrations redistribute ions without creating them.
    The second order is driven near the tip only and conserves to round-off; the first order follows the
    thermal stress out to the far boundary (c = c0 there, the reservoir of
    docs/theory/physics.md, 'Boundary conditions'), which exchanges
    2e-4 of the displaced ions at 10 thermal lengths."""
    model = HarmonicModel(ionic_study(), MPI.COMM_WORLD)
    model.solve_base_state(0.0)
    first = model.solve_first_order(FREQUENCY)
    second = model.solve_second_order(2 * FREQUENCY, first, first, 0.25)
    r, dx = model.domain.weight, model.domain.dx
    for fields, tolerance in ((first, 1e-3), (second, 1e-9)):
        c = fields[CONCENTRATION]
        total, size = (
            model.domain.mesh.comm.allreduce(fem.assemble_scalar(fem.form(f * r * dx)), op=MPI.SUM)
            for f in (c, abs(c))
        )
        assert abs(total) < tolerance * abs(size)
    model.destroy()


def test_ionic_response_is_the_same_on_one_and_all_ranks():
    study = ionic_study()
    world, alone = rows_by_label(study, MPI.COMM_WORLD), rows_by_label(study, MPI.COMM_SELF)
    for key in [(1, "thermal"), (2, "ionic")]:
        assert abs(world[key].displacement - alone[key].displacement) < 1e-9 * abs(alone[key].displacement)


@pytest.mark.serial  # suite time (17 s on 2 ranks);
# exchange and layers under MPI: tests/test_transport.py, test_the_layer_is_the_same_on_one_and_all_ranks
def test_exchanging_surface_and_space_charge_change_the_ionic_response():
    """Sanity of the optional physics: a fast surface exchange pins c at the surface to the stress
    equilibrium (tests/test_transport.py) and an ion-rich surface layer strengthens the stress-driven
    response (both move the second harmonic). Measured with k = 10 m/s: u_2 is 2.9 + 2.0i times the
    blocking one (-0.52 with the exchange toward the stress-free c0 of earlier versions), on the default
    mesh and on the test's coarser one (refinement 0.3: 2.88 + 1.99i)."""
    coarse = {"refinement": 0.3}
    base = rows_by_label(derived_study(ionic_study(), {"mesh.refinement": coarse["refinement"]}))[2, "ionic"].displacement
    raw = {
        "sample": {"material": "SDC", "properties": {"diffusivity": 1e-12}},
        "tip": {"contact_radius": 20e-9},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [FREQUENCY]},
        "mesh": coarse,
    }
    exchange = study_from_dict(raw | {"ions": {"surface": "exchange", "exchange_velocity": 10.0}})
    rich = study_from_dict(raw | {"ions": {"space_charge_excess": 2.0, "space_charge_length": 5e-9}})
    for study in (exchange, rich):
        changed = rows_by_label(study)[2, "ionic"].displacement
        assert abs(changed - base) > 0.05 * abs(base)
    assert abs(rows_by_label(rich)[2, "ionic"].displacement) > abs(base)


def joule_study(dc_voltage, **excitation):
    return study_from_dict(
        {
            "sample": {"material": "SDC", "properties": {"diffusivity": 1e-12}},
            "tip": {"contact_radius": 20e-9},
            "excitation": {
                "mode": "joule", "dc_voltage": dc_voltage, "ac_voltage": 1.0, "heater_resistance": 5e3,
                "contact_conductance": 1e-7, "heater_conductance": 1e-5, "heater_heat_capacity": 1e-11,
                "frequencies": [FREQUENCY],
            } | excitation,
            "mesh": {"domain_size": 40e-6},
        }
    )


def test_pure_ac_joule_drive_puts_thermal_at_2_and_ionic_at_4():
    rows = rows_by_label(joule_study(0.0))
    assert sorted(rows) == [(2, "thermal"), (4, "ionic")]


@pytest.mark.serial  # suite time; a heater balance under MPI: tests/test_fit_nonionic.py, test_heater_coefficient_values_and_taylor
def test_joule_heater_balances_power_and_matches_a_prescribed_heater_temperature():
    """The heater temperature solves i w C_h th + G_h th + (flow into the sample) = V1^2 / (2 R) at 2 w;
    a 'heater' study driven with that temperature at 2 f gives the same thermal response."""
    study = joule_study(0.0)
    exc = study.excitation
    thermal = rows_by_label(study)[2, "thermal"]
    heater = thermal.temperature + thermal.heating_power / exc.contact_conductance
    omega = 2 * math.pi * 2 * FREQUENCY
    balance = (1j * omega * exc.heater_heat_capacity + exc.heater_conductance) * heater + thermal.heating_power
    power = exc.ac_voltage**2 / (2 * exc.heater_resistance)
    assert abs(balance - power) < 1e-9 * power
    prescribed = study_from_dict(
        {
            "sample": {"material": "SDC", "properties": {"diffusivity": 1e-12}},
            "tip": {"contact_radius": 20e-9},
            "excitation": {
                "mode": "heater", "heater_temperature_amplitude": abs(heater),
                "contact_conductance": exc.contact_conductance, "frequencies": [2 * FREQUENCY],
            },
            "mesh": {"domain_size": 40e-6},
        }
    )
    model = HarmonicModel(prescribed, MPI.COMM_WORLD)
    reference = responses(model, 2 * FREQUENCY)[0]
    model.destroy()
    phase = heater / abs(heater)
    assert abs(reference.displacement * phase - thermal.displacement) < 1e-9 * abs(thermal.displacement)


def test_dc_and_ac_joule_drive_fills_harmonics_1_to_4():
    rows = rows_by_label(joule_study(0.5))
    assert {(1, "thermal"), (1, "ionic"), (1, "total"), (2, "total"), (3, "ionic"), (4, "ionic")} <= set(rows)
    total = rows[1, "total"]
    assert total.displacement == rows[1, "thermal"].displacement + rows[1, "ionic"].displacement


def preloaded_study(force):
    """SDC ions in a soft (2 GPa) matrix: the preload makes Omega sigma_h / (R T) of order 1."""
    return study_from_dict(
        {
            "sample": {"material": "SDC", "properties": {"diffusivity": 1e-12, "youngs_modulus": 2e9}},
            "tip": {"force": force, "tip_radius": 30e-9},
            "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [FREQUENCY]},
            "solver": {"periodic": "expansion"},
        }
    )


def test_hertz_preload_base_state_is_the_boltzmann_equilibrium():
    """Without DC heating the steady flux vanishes, so c = c0 exp(Omega sigma_h / (R T)) with the
    self-consistent (Vegard-relaxed) hydrostatic stress of the preload: checked in L2 within 20 contact
    radii (farther out the clamped box and the c = c0 reservoir, 10 thermal lengths away, perturb it)."""
    study = preloaded_study(1e-7)
    assert abs(study.tip.contact_radius - (3 * 1e-7 * 30e-9 / (4 * 2e9 / (1 - 0.3**2))) ** (1 / 3)) < 1e-18
    model = HarmonicModel(study, MPI.COMM_WORLD)
    model.solve_base_state(0.0)
    c0 = model.coefficients.fields["equilibrium"]
    eps = model.coefficients.fields["stress_coupling"]
    stress, excess = model.base["stress"], model.base[CONCENTRATION]
    boltzmann = c0 * (ufl.exp(eps * stress) - 1)
    x = ufl.SpatialCoordinate(model.domain.mesh)
    r, dx = model.domain.weight, model.domain.dx(metadata={"quadrature_degree": 6})
    near = ufl.conditional(ufl.lt(x[0] ** 2 + x[1] ** 2, 20.0**2), 1.0, 0.0)
    error, size = (
        model.domain.mesh.comm.allreduce(fem.assemble_scalar(fem.form(f * r * dx)), op=MPI.SUM)
        for f in (near * abs(excess - boltzmann) ** 2, near * abs(boltzmann) ** 2)
    )
    peak = model.domain.mesh.comm.allreduce(np.abs(eps.x.array).max() * np.abs(stress.x.array).max(), op=MPI.MAX)
    model.destroy()
    assert peak > 0.5  # a nonlinear equilibrium: the exponent Omega sigma_h / (R T) exceeds 0.5
    assert math.sqrt(abs(error) / abs(size)) < 2e-3


def test_contact_force_changes_the_ionic_response():
    light, heavy = (rows_by_label(preloaded_study(f))[2, "ionic"].displacement for f in (1e-9, 1e-7))
    assert abs(heavy - light) > 0.05 * abs(light)


@pytest.mark.parametrize("interface", ["blocking", "conducting"])
def test_ions_in_a_film_stay_in_it_unless_the_substrate_conducts(interface):
    study = study_from_dict(
        {
            "sample": {"material": "SDC", "properties": {"diffusivity": 1e-12}},
            "geometry": {"kind": "film", "film_thickness": 30e-9, "substrate": "SDC",
                         "substrate_properties": {"youngs_modulus": 150e9}},
            "tip": {"contact_radius": 20e-9},
            "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [FREQUENCY]},
            "ions": {"substrate": interface},
        }
    )
    model = HarmonicModel(study, MPI.COMM_WORLD)
    model.solve_base_state(0.0)
    c = model.solve_first_order(FREQUENCY)[CONCENTRATION]
    comm = model.domain.mesh.comm
    in_film, in_substrate = (
        comm.allreduce(fem.assemble_scalar(fem.form(abs(c) * model.domain.weight * model.domain.dx(tag))), op=MPI.SUM).real
        for tag in (1, 2)
    )
    film_total = comm.allreduce(fem.assemble_scalar(fem.form(c * model.domain.weight * model.domain.dx(1))), op=MPI.SUM)
    constrained = model.immobile_dofs()
    model.destroy()
    if interface == "blocking":
        # every concentration DOF off the film is held at zero, and the film keeps its ions
        assert comm.allreduce(np.abs(c.x.array[constrained]).max(initial=0.0), op=MPI.MAX) == 0.0
        assert comm.allreduce(constrained.size, op=MPI.SUM) > 0
        assert abs(film_total) < 1e-3 * in_film
    else:
        assert constrained.size == 0 and in_substrate > 1e-3 * in_film


@pytest.mark.serial  # suite time; the staggered trial of method 'auto' under MPI: every ionic test on 2 ranks, e.g.
# test_ionic_response_is_the_same_on_one_and_all_ranks
def test_staggered_and_monolithic_solves_agree_and_auto_measures_both():
    """Weak Vegard feedback (Omega = 1e-6 m^3/mol): the staggered scheme converges and matches the
    monolithic solve to solver precision; SDC's strong feedback makes it contract too slowly, and 'auto'
    then frees the staggered solver."""
    weak = ionic_study(partial_molar_volume=1e-6)
    rows = {}
    for method in ("monolithic", "staggered", "auto"):
        model = HarmonicModel(weak, MPI.COMM_WORLD, method=method)
        rows[method] = {(r.harmonic, r.kind): r.displacement for r in responses(model, FREQUENCY)}
        if method == "auto":
            report = model.method_report
        model.destroy()
    for key, value in rows["monolithic"].items():
        assert abs(rows["staggered"][key] - value) < 1e-8 * abs(value)
        assert abs(rows["auto"][key] - value) < 1e-8 * abs(value)
    assert report["converged"] and report["contraction"] < 0.3 and report["chosen"] in ("staggered", "monolithic")
    strong = HarmonicModel(ionic_study(), MPI.COMM_WORLD, method="staggered")
    with pytest.raises(SolverError, match="staggered solve did not converge"):
        responses(strong, FREQUENCY)
    strong.destroy()
    with HarmonicModel(ionic_study(), MPI.COMM_WORLD) as strong:  # auto frees the staggered factorisations
        responses(strong, FREQUENCY)
        assert not strong.method_report["converged"] and strong.method == "monolithic" and strong.staggered is None


@pytest.mark.serial  # suite time; a DC base state under MPI: tests/test_experiments.py, test_dc_series_starts_at_the_steady_response_and_heats_linearly
def test_dc_heating_sets_the_base_temperature_and_changes_the_ionic_response():
    """dc_power heats the base state: its tip temperature is the steady disk average 8P/(3 pi^2 k a)
    (Carslaw & Jaeger; the finite domain adds O(a/R)), and the hotter, faster ions answer differently."""
    raw = {
        "sample": {"material": "SDC", "properties": {"diffusivity": 1e-12}},
        "tip": {"contact_radius": 20e-9},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "dc_power": 5e-6, "frequencies": [FREQUENCY]},
    }
    study = study_from_dict(raw)
    model = HarmonicModel(study, MPI.COMM_WORLD)
    base_state(model)
    _, base_temperature = model.tip_values(model.base)
    hot = {(r.harmonic, r.kind): r.displacement for r in responses(model, FREQUENCY)}
    model.destroy()
    k = study.sample.material.thermal_conductivity
    steady = 8 * 5e-6 / (3 * math.pi**2 * k * 20e-9)
    assert abs(base_temperature - steady) < 2e-3 * steady
    cold = rows_by_label(ionic_study())
    assert abs(hot[2, "ionic"] - cold[2, "ionic"].displacement) > 0.05 * abs(cold[2, "ionic"].displacement)
