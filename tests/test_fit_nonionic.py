"""Fitting the non-ionic second-harmonic parameters: the temperature slopes alpha' and k' of alpha(T)
and k(T) and a Joule heater's resistance temperature coefficient beta, all tangent-linear (beta's
heater spectrum by difference quotients of its scalar fixed point): Taylor tests against the forward
model and fits of synthetic PTFE-like data (docs/guide/fitting.md)."""

import numpy as np
import pytest

from stimsim.study.load import study_from_dict
from stimsim.core.errors import InputError
from stimsim.inverse.fit import fit
from stimsim.inverse.forward_model import ForwardModel, with_values

from conftest import simulated_displacements

from test_inverse import synthetic, taylor_rates

SLOPES = ["thermal_expansion_derivative", "thermal_conductivity_derivative"]
TCR = "excitation.heater_temperature_coefficient"


def ptfe_joule(properties: dict, dc_voltage: float = 0.0, frequencies=(1e3, 1e4), tcr: float = 0.0):
    """PTFE under a Joule heater at V0 + 1 V cos(wt) (5 kOhm): heating at 2w (and w with V0), the
    second order up to 4w; coarse mesh."""
    return study_from_dict({
        "sample": {"material": "PTFE", "properties": properties},
        "tip": {"contact_radius": 20e-9},
        "excitation": {
            "mode": "joule", "dc_voltage": dc_voltage, "ac_voltage": 1.0, "heater_resistance": 5e3,
            "heater_conductance": 1e-5, "contact_conductance": 1e-7, "heater_heat_capacity": 1e-11,
            "frequencies": list(frequencies), "heater_temperature_coefficient": tcr,
        },
        "mesh": {"refinement": 0.3},
        "solver": {"periodic": "expansion"},
    })


@pytest.mark.serial  # suite time; a heater balance's tangents under MPI: test_heater_coefficient_values_and_taylor
def test_taylor_of_the_slopes_through_a_heater_balance(comm):
    """Joule heater with V0 = 0.5 V (DC heating: the base state, and with k' the heat operator, move with
    the parameters; Z_0 and Z_n through the balance): tangent-linear derivatives of harmonics 1..4 of
    alpha', k', k and G_c. alpha' enters linearly (remainder at round-off), the others at rate 2."""
    study = ptfe_joule({"thermal_expansion_derivative": 1e-6, "thermal_conductivity_derivative": -1e-3}, 0.5, (1e4,))
    forward = ForwardModel(study, [*SLOPES, "thermal_conductivity", "contact_conductance"], comm)
    assert set(forward.methods.values()) == {"tangent-linear"}
    assert forward.harmonics == (1, 2, 3, 4)
    rates = taylor_rates(forward)
    assert rates["thermal_expansion_derivative"] is None or rates["thermal_expansion_derivative"] > 1.8, rates
    for name in ("thermal_conductivity_derivative", "thermal_conductivity", "contact_conductance"):
        assert rates[name] is not None and rates[name] > 1.8, (name, rates)
    forward.destroy()


def test_slopes_with_power_heating_and_a_heated_base_state(comm):
    """Power mode with DC heating, no balance: k' moves the base temperature's heat operator (rate 2)."""
    study = study_from_dict({
        "sample": {"material": "PTFE", "properties": {"thermal_expansion_derivative": 1e-6,
                                                      "thermal_conductivity_derivative": -1e-3}},
        "tip": {"contact_radius": 20e-9},
        "excitation": {"mode": "power", "power_amplitude": 2e-8, "dc_power": 2e-8, "frequencies": [2e4]},
        "mesh": {"refinement": 0.3},
        "solver": {"periodic": "expansion"},
    })
    forward = ForwardModel(study, SLOPES, comm)
    assert forward.harmonics == (1, 2)
    rates = taylor_rates(forward)
    assert rates["thermal_expansion_derivative"] is None, rates
    assert rates["thermal_conductivity_derivative"] > 1.8, rates
    forward.destroy()


def test_a_slope_cannot_start_at_zero_in_a_thermally_linear_study(comm):
    with pytest.raises(InputError) as err:
        ForwardModel(ptfe_joule({}), ["thermal_expansion_derivative"], comm)
    assert err.value.key == "sample.properties.thermal_expansion_derivative" and "non-zero" in str(err.value)


def test_heater_coefficient_values_and_taylor(comm):
    """A heater with beta = 2e-3 1/K: the predicted harmonics equal simulate()'s (its background
    harmonics 3 and 4 included), also after beta changed in place, and the tangents through its coupled spectrum (beta itself, G_c and k
    through Z_n and the DC heating; alpha' linear) pass the Taylor test."""
    study = ptfe_joule({"thermal_expansion_derivative": 1e-6, "thermal_conductivity_derivative": -1e-3}, 0.5, (1e4,), tcr=2e-3)
    forward = ForwardModel(study, [TCR, "thermal_expansion_derivative", "contact_conductance", "thermal_conductivity"], comm)
    assert set(forward.methods.values()) == {"tangent-linear"}
    for beta in (2e-3, 3e-3):
        prediction = forward.evaluate({TCR: beta})
        expected = simulated_displacements(with_values(study, {TCR: beta}), comm)
        assert prediction.points == ((1e4, 1), (1e4, 2), (1e4, 3), (1e4, 4))
        for point, value in zip(prediction.points, prediction.displacement):
            assert value == pytest.approx(expected[point], rel=1e-9)
    assert forward.rebuilds == 1  # beta changes in place
    rates = taylor_rates(forward)
    assert rates["thermal_expansion_derivative"] is None, rates
    for name in (TCR, "contact_conductance", "thermal_conductivity"):
        assert rates[name] is not None and rates[name] > 1.8, (name, rates)
    forward.destroy()


@pytest.mark.serial  # the fit machinery under MPI: tests/test_inverse.py
def test_expansion_slope_and_expansion_are_recovered_from_the_thermal_and_4w_rows(comm):
    """PTFE-like data (2w thermal, 4w non-ionic, 1 % noise) at alpha' = 1.2e-6 1/K^2, fitted with alpha
    from alpha' = 3e-6 and alpha 1.5e-4: both within 1 % and two standard errors, weakly correlated."""
    names = ["thermal_expansion_derivative", "thermal_expansion"]
    truth = ptfe_joule({"thermal_expansion_derivative": 1.2e-6})
    alpha = truth.sample.material.thermal_expansion
    data = synthetic(truth, names, comm)
    assert sorted(set(data.harmonic)) == [2, 4]
    start = with_values(ptfe_joule({"thermal_expansion_derivative": 3e-6}), {"sample.properties.thermal_expansion": 1.5e-4})
    result = fit(start, data, names, comm)
    assert result.converged and not result.warnings
    for name, value in zip(names, (1.2e-6, alpha)):
        found = result.parameter(name)
        assert found.derivative == "tangent-linear"
        assert abs(found.value / value - 1) < 0.01, (name, found)
        assert abs(found.value - value) < 2 * found.stderr, (name, found)
    assert abs(result.correlation[0][1]) < 0.5


@pytest.mark.serial
def test_heater_coefficient_is_recovered_from_the_4w_background(comm):
    """The same data made by the heater's beta = 2e-3 1/K instead of alpha': beta fitted from 5e-3."""
    truth = ptfe_joule({}, tcr=2e-3)
    data = synthetic(truth, [TCR], comm)
    result = fit(with_values(truth, {TCR: 5e-3}), data, [TCR], comm)
    found = result.parameter(TCR)
    assert result.converged and found.derivative == "tangent-linear"
    assert abs(found.value / 2e-3 - 1) < 0.01 and abs(found.value - 2e-3) < 2 * found.stderr, found


@pytest.mark.serial  # 12 s; harmonic balance's tangents under MPI: tests/test_periodic.py
def test_harmonic_balance_tangents_through_a_heater_with_a_temperature_coefficient(comm):
    """Joule heater with beta = 1e-3 1/K in harmonic balance (SDC, D = 1e-11 m^2/s, 0.3 V: the heating
    at 2w and the heater's own 4w): the tangents of harmonics 2 and 4 in beta and D agree with central
    differences of whole harmonic-balance solves (step 0.3 %, whose own error is O(h^2) ~ 1e-5)."""
    study = study_from_dict({
        "sample": {"material": "SDC", "properties": {"diffusivity": 1e-11}},
        "tip": {"contact_radius": 20e-9},
        "excitation": {
            "mode": "joule", "ac_voltage": 0.3, "heater_resistance": 5e3, "contact_conductance": 1e-7,
            "heater_conductance": 1e-5, "heater_heat_capacity": 1e-11, "heater_temperature_coefficient": 1e-3,
            "frequencies": [5e3],
        },
        "mesh": {"domain_size": 40e-6, "refinement": 0.2},
        "solver": {"periodic": "harmonic_balance", "harmonics": 4},
    })
    names = [TCR, "diffusivity"]
    with ForwardModel(study, names, comm) as forward:
        prediction = forward.evaluate(derivatives=True)
        assert forward.periodic == {5e3: "harmonic_balance"} and set(forward.methods.values()) == {"tangent-linear"}
        assert prediction.points == ((5e3, 2), (5e3, 4))
        values = forward.values
        for column, (name, value) in enumerate(zip(names, values)):
            step = 3e-3 * value
            shifted = [forward.evaluate({name: value + sign * step}).displacement for sign in (1, -1)]
            difference = (shifted[0] - shifted[1]) / (2 * step)
            assert np.all(np.abs(prediction.jacobian[:, column] / difference - 1) < 2e-5), (name, prediction.jacobian[:, column], difference)
            forward.evaluate(values)


def test_a_conductivity_slope_is_bounded_so_that_k_stays_positive(comm):
    """PTFE, 1 uW at 10 kHz (tip oscillation estimated at 54 K), k' = -1e-4 W/(m K^2) and a 2w datum 300 times
    the model's: unbounded, the optimiser drove k' to -2.3e-3, where harmonic balance failed with a message
    naming neither the fit nor k'. Bounded by the heating (|k'| <= 0.25 k / 54 K), the fit ends at the bound
    with a warning saying why."""
    from stimsim.inverse.data import Data
    from stimsim.inverse.fit import slope_bounds
    from stimsim.solve.limits import estimate

    study = study_from_dict({
        "sample": {"material": "PTFE", "properties": {"thermal_conductivity_derivative": -1e-4}},
        "tip": {"contact_radius": 20e-9}, "mesh": {"refinement": 0.3},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [1e4]},
    })
    low, high = slope_bounds(study, "sample.properties.thermal_conductivity_derivative")
    assert np.isclose(high, 0.25 * 0.25 / estimate(study).oscillation) and low == -high
    amplitude = 300 * abs(simulated_displacements(study, comm)[1e4, 2])
    data = Data(np.array([1e4]), np.array([2]), np.array([amplitude]), None, np.array([0.01 * amplitude]), None,
                True, np.array([2]))
    result = fit(study, data, ["thermal_conductivity_derivative"], comm)
    slope = result.parameter("thermal_conductivity_derivative")
    assert np.isclose(slope.value, low) and slope.bounds == (low, high)
    assert any("is at a bound of the fit (lower; it keeps k(T)" in w for w in result.warnings)
