"""Thermotransport (Soret) and surface exchange toward the stress equilibrium (docs/validation/verification.md,
'Thermotransport and surface exchange'): the DC-heated base state against its closed form, the
exchange that leaves the stress equilibrium of a Hertz preload undisturbed, the exchange's blocking and
equilibrium-pinning limits in the frequency domain, and the input checks."""

import math

import numpy as np
import pytest
from dolfinx import fem
from mpi4py import MPI

from stimsim.study.load import derived_study, study_from_dict
from stimsim.core.errors import InputError
from stimsim.solve.forward import base_state, responses
from stimsim.solve.model import HarmonicModel
from stimsim.materials.library import EV_TO_J_PER_MOL, GAS_CONSTANT
from stimsim.physics.coupled import CONCENTRATION, STRESS, TEMPERATURE

FREQUENCY = 2e4
#: Heat of transport of the Soret test (J/mol): 0.5 eV per particle.
HEAT_OF_TRANSPORT = 0.5 * EV_TO_J_PER_MOL


def study(properties: dict, excitation: dict | None = None, ions: dict | None = None, tip: dict | None = None,
          refinement: float = 0.5):
    return study_from_dict(
        {
            "sample": {"material": "SDC", "properties": {"diffusivity": 1e-11} | properties},
            "tip": tip or {"contact_radius": 20e-9},
            "excitation": {"mode": "power", "power_amplitude": 1e-8, "frequencies": [FREQUENCY]} | (excitation or {}),
            "ions": ions or {},
            "mesh": {"refinement": refinement},
            "solver": {"periodic": "expansion"},
        }
    )


def global_max(comm, values) -> float:
    return comm.allreduce(float(np.max(values, initial=0.0)), op=MPI.MAX)


def soret_error(refinement: float) -> tuple[float, float]:
    """Base state under 1 uW of DC power (8 K under the tip) with Q* = 0.5 eV and no stress coupling
    (Omega = 1e-10 m^3/mol: Omega sigma_h/(R T) below 1e-5 of the Soret term), blocking surfaces:
    zero flux means grad ln c = -Q* grad T/(R T^2), so c = c0 exp((Q*/R)(1/T - 1/T_amb)) at the FE
    temperature. Returns the largest error at the DOFs relative to the largest excess c - c0, and that
    relative excess."""
    s = study({"partial_molar_volume": 1e-10, "heat_of_transport": HEAT_OF_TRANSPORT}, {"dc_power": 1e-6},
              refinement=refinement)
    with HarmonicModel(s, MPI.COMM_WORLD) as model:
        base_state(model)
        scales, comm = model.scales, model.domain.comm
        ambient = scales.ambient_temperature
        temperature = ambient + scales.temperature * model.base[TEMPERATURE].x.array.real
        c0 = model.coefficients.fields["equilibrium"].x.array.real
        exact = c0 * np.expm1(HEAT_OF_TRANSPORT / GAS_CONSTANT * (1 / temperature - 1 / ambient))
        error = model.base[CONCENTRATION].x.array.real - exact
        size = global_max(comm, np.abs(exact))
        return global_max(comm, np.abs(error)) / size, size / global_max(comm, c0)


@pytest.mark.serial  # suite time: a convergence study on three meshes; the file's other tests run under MPI
def test_soret_base_state_has_the_closed_form_and_converges():
    """Measured: errors 1.1e-3, 2.3e-4, 2.2e-5 of the largest excess at refinement 0.3, 0.6, 1.2
    (rates 2.3, 3.4; P2), with the hot spot under the tip depleted by 39 %."""
    refinements = (0.3, 0.6, 1.2)
    errors, excess = zip(*(soret_error(r) for r in refinements))
    assert 0.3 < excess[-1] < 0.5  # depleted under the tip by exp(-(Q*/R)(1/T_amb - 1/T)) - 1, about -39 %
    rates = [math.log2(a / b) for a, b in zip(errors, errors[1:])]
    assert errors[-1] < 5e-5, errors
    assert min(rates) > 2 and sum(rates) / len(rates) > 2.5, (errors, rates)


PRELOAD = {"tip": {"force": 50e-9, "tip_radius": 30e-9}, "properties": {"partial_molar_volume": 5e-7}}


def preload_base_state(ions: dict) -> float:
    """Base state under a 50 nN Hertz preload (no heating; Omega lowered so that Omega sigma_h/(R T)
    reaches 0.75, not an emptied contact): the largest difference of the excess c - c0 from the stress
    equilibrium c0 (exp(Omega sigma_h/(R T)) - 1) at the DOFs, relative to the largest equilibrium
    excess."""
    s = study(PRELOAD["properties"], ions=ions, tip=PRELOAD["tip"])
    with HarmonicModel(s, MPI.COMM_WORLD) as model:
        base_state(model)
        scales, comm = model.scales, model.domain.comm
        stress = scales.stress * model.base[STRESS].x.array.real
        c0 = model.coefficients.fields["equilibrium"].x.array.real
        drive = s.sample.material.partial_molar_volume * stress / (GAS_CONSTANT * scales.ambient_temperature)
        exact = c0 * np.expm1(drive)
        error = model.base[CONCENTRATION].x.array.real - exact
        return global_max(comm, np.abs(error)) / global_max(comm, np.abs(exact))


@pytest.mark.serial  # suite time (14 s on 2 ranks);
# the preload under MPI: test_contact_force_changes_the_ionic_response
def test_exchange_keeps_the_stress_equilibrium_of_a_preload():
    """Blocking surfaces and an exchange toward c_eq = c0 exp(Omega sigma_h/(R T)), slow or fast, leave
    the base state at the stress equilibrium (measured 2.1e-3, 2.7e-3, 2.1e-3 of the equilibrium excess
    at refinement 0.5: the discretisation of the Hertz stress, 7.8e-4 at refinement 1); an exchange
    toward the stress-free c0 pins the surface under the tip and misses it by 100 %."""
    fast, slow = ({"surface": "exchange", "exchange_velocity": k} for k in (10.0, 1e-5))
    for ions in ({}, fast, slow):
        assert preload_base_state(ions) < 4e-3, ions
    assert preload_base_state(fast | {"exchange_equilibrium": "stress_free"}) > 0.9


def surface_mismatch(model, first: dict) -> float:
    """max |c1 - c_eq,1| / max |c_eq,1| over the top-surface DOFs about the uniform base state, where the
    equilibrium's first order is c0 eps_c s1. (Nodal maxima: an r-weighted norm would be dominated by
    the coarse far field, where s1 is 1e-5 of its peak and poorly resolved.)"""
    k, V = model.coefficients.fields, model.spaces[CONCENTRATION]
    target = fem.Function(V)
    target.interpolate(fem.Expression(k["equilibrium"] * k["stress_coupling"] * first[STRESS], V.element.interpolation_points))
    top = fem.locate_dofs_geometrical(V, lambda x: np.isclose(x[1], 0.0))
    comm = model.domain.comm
    mismatch = np.abs(first[CONCENTRATION].x.array[top] - target.x.array[top])
    return global_max(comm, mismatch) / global_max(comm, np.abs(target.x.array[top]))


def test_exchange_limits_are_the_blocking_and_the_equilibrium_surface():
    """Exchange velocities k a/D from 1e-6 to 1e4 (in place on one model): the slow end gives the
    blocking surface's ionic second harmonic (measured 8e-7 off), the fast end pins the first-order
    surface concentration to the stress equilibrium c0 eps_c s1, the mismatch falling as 1/k (0.19,
    0.022, 2.3e-3, 2.3e-4 at k a/D = 10 ... 1e4; 0.77 with a blocking surface), and the ionic second
    harmonic converges (to 1.49 + 0.57i times the blocking one, steps 2.6e-2 and 2.6e-3)."""
    blocking = study({})
    with HarmonicModel(blocking, MPI.COMM_WORLD) as model:
        rows = {(r.harmonic, r.kind): r.displacement for r in responses(model, FREQUENCY)}
        reference = rows[2, "ionic"]
        unpinned = surface_mismatch(model, model.solve_first_order(FREQUENCY))
    exchange = study({}, ions={"surface": "exchange", "exchange_velocity": 1e-12})
    radius, diffusivity = exchange.tip.contact_radius, exchange.sample.material.diffusivity
    ionic, mismatch = {}, {}
    with HarmonicModel(exchange, MPI.COMM_WORLD) as model:
        for rate in (1e-6, 1e1, 1e2, 1e3, 1e4):
            model.set_parameters(derived_study(exchange, {"ions.exchange_velocity": rate * diffusivity / radius}))
            ionic[rate] = {(r.harmonic, r.kind): r.displacement for r in responses(model, FREQUENCY)}[2, "ionic"]
            mismatch[rate] = surface_mismatch(model, model.solve_first_order(FREQUENCY))
    assert abs(ionic[1e-6] / reference - 1) < 1e-5
    assert unpinned > 0.5
    for low, high in ((1e1, 1e2), (1e2, 1e3), (1e3, 1e4)):
        assert 7 < mismatch[low] / mismatch[high] < 13  # about 1/k
    assert mismatch[1e4] < 1e-2 * unpinned
    steps = [abs(ionic[1e3] - ionic[1e2]), abs(ionic[1e4] - ionic[1e3])]
    assert steps[1] < 0.2 * steps[0]  # the second harmonic converges to the pinned surface's


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"sample.properties.heat_of_transport": 6 * EV_TO_J_PER_MOL}, "sample.properties.heat_of_transport"),
        ({"sample.properties.heat_of_transport": -1e6}, "sample.properties.heat_of_transport"),
        ({"geometry.kind": "film", "geometry.film_thickness": 1e-7, "geometry.substrate": "SDC",
          "geometry.substrate_properties": {"heat_of_transport": 1e9}}, "geometry.substrate_properties.heat_of_transport"),
        ({"ions.surface": "exchange", "ions.exchange_velocity": 1.0, "ions.exchange_equilibrium": "strain"},
         "ions.exchange_equilibrium"),
    ],
)
def test_bad_transport_input_is_refused_naming_the_key(changes, key):
    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        derived_study(study({}), changes)
