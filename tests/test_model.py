"""Reuse across frequencies (no form compilation, no mechanics factorisation per frequency) and no factorisation for a base state at rest."""

import dolfinx.fem
import pytest
from mpi4py import MPI

from stimsim.physics.coupled import TEMPERATURE
from stimsim.solve.model import HarmonicModel
from stimsim.study.load import study_from_dict

from test_verification import make_study, thermal


def test_frequency_sweep_reuses_forms_and_the_mechanics_factorisation(monkeypatch):
    model = HarmonicModel(make_study(), MPI.COMM_WORLD)
    compiled = []
    original = dolfinx.fem.form
    monkeypatch.setattr(dolfinx.fem, "form", lambda *a, **k: compiled.append(a) or original(*a, **k))
    model.solve_base_state(0.0)
    responses = [thermal(model, f) for f in (1e3, 1e4, 1e5)]
    assert compiled == []
    assert model.heat_mechanics.mechanics.factorizations == 1
    assert model.heat_mechanics.heat.factorizations == 3
    assert abs(responses[0].displacement) > abs(responses[2].displacement)  # falls with frequency
    model.destroy()


def test_model_answers_the_same_after_other_frequencies():
    model = HarmonicModel(make_study(), MPI.COMM_WORLD)
    first = thermal(model, 1e5)
    thermal(model, 1e3)
    thermal(model, 1e6)
    again = thermal(model, 1e5)
    model.destroy()
    assert again.displacement == pytest.approx(first.displacement, rel=1e-12, abs=0)
    assert again.temperature == pytest.approx(first.temperature, rel=1e-12, abs=0)


def test_parameters_set_in_place_answer_as_a_new_model():
    """Without ions the model keeps what depends on the coefficients only (the heat operator's parts,
    the unit heat input, the thermal coupling, the mechanics factors): set_parameters renews all of it
    (here the heater's contact conductance and the Poisson ratio)."""
    heater = {"mode": "heater", "heater_temperature_amplitude": 1.0, "contact_conductance": 1e-7, "power_amplitude": None}
    before = make_study(excitation=heater)
    after = make_study(
        excitation={**heater, "contact_conductance": 3e-7},
        sample={"properties": {"partial_molar_volume": 0.0, "poisson_ratio": 0.4}},
    )
    model = HarmonicModel(before, MPI.COMM_WORLD)
    old = thermal(model, 1e4)
    model.set_parameters(after)
    got = thermal(model, 1e4)
    model.destroy()
    fresh = HarmonicModel(after, MPI.COMM_WORLD)
    want = thermal(fresh, 1e4)
    fresh.destroy()
    assert abs(got.displacement - old.displacement) > 0.05 * abs(old.displacement)
    assert got.displacement == pytest.approx(want.displacement, rel=1e-10, abs=0)
    assert got.temperature == pytest.approx(want.temperature, rel=1e-10, abs=0)


def test_a_base_state_at_rest_costs_no_factorisation():
    """Without DC heating the ionic balance's residual is exactly zero at the unloaded state: the base
    state is that state, found without factorising the coupled system (a third of a 3D tip position's
    cost); with DC heating Newton factorises and moves it."""
    study = study_from_dict({
        "sample": {"material": "SDC", "properties": {"diffusivity": 1e-12}},
        "tip": {"contact_radius": 20e-9},
        "excitation": {"mode": "power", "power_amplitude": 1e-7, "frequencies": [1e4]},
        "mesh": {"refinement": 0.2},
    })
    with HarmonicModel(study, MPI.COMM_WORLD, method="monolithic") as model:
        model.solve_base_state(0.0)
        assert model.coupled_solver.factorizations == 0
        assert all(not f.x.array.any() for f in model.base.values())
        model.solve_base_state(1.0)
        assert model.coupled_solver.factorizations >= 1
        assert MPI.COMM_WORLD.allreduce(model.base[TEMPERATURE].x.array.real.max(initial=0.0), op=MPI.MAX) > 0
