"""Validity of the expansion (stimsim.solve.validity): its small parameters against hand computations and an
independent evaluation, the warnings and validity.csv of ``stimsim run``, and the refusals of a first
order that takes the temperature below 0 K or the concentration below zero (stimsim.solve.limits)."""

import math

import numpy as np
import pytest
import ufl
from dolfinx import fem
from mpi4py import MPI

from stimsim.solve import limits
from stimsim.solve import validity
from stimsim.cli import EXIT_INPUT, main
from stimsim.study.load import study_from_dict
from stimsim.core.errors import InputError
from stimsim.solve.forward import base_state, first_order_fields, responses
from stimsim.solve.model import HarmonicModel
from stimsim.io.files import read_rows
from stimsim.materials.library import EV_TO_J_PER_MOL, GAS_CONSTANT
from stimsim.physics.coupled import CONCENTRATION, STRESS, TEMPERATURE

from conftest import ROOT

FREQUENCY = 2e4
SDC = {"material": "SDC", "properties": {"diffusivity": 1e-12}}


def solved(raw: dict, frequency: float = FREQUENCY):
    """(model, first-order fields, tip rows) of a study at ``frequency`` (Hz), base state included."""
    raw = {"tip": {"contact_radius": 20e-9}, "mesh": {"refinement": 0.5}} | raw
    raw["excitation"] = raw["excitation"] | {"frequencies": [frequency]}
    model = HarmonicModel(study_from_dict(raw), MPI.COMM_WORLD)
    base_state(model)
    first, _ = first_order_fields(model, frequency)
    return model, first, responses(model, frequency)


def test_heater_sets_the_temperature_parameters():
    """A heater of amplitude theta_h behind a contact conductance far above the sample's spreading
    conductance (about 4 k a = 1.6e-7 W/K) holds the heated disk at theta_h: the largest theta_1/T is
    theta_h/T_amb and the largest activation parameter E_a theta_h/(R T_amb^2)."""
    heater, ambient, activation = 3.0, 300.0, 0.7 * EV_TO_J_PER_MOL
    model, first, _ = solved({"sample": SDC, "excitation": {
        "mode": "heater", "heater_temperature_amplitude": heater, "contact_conductance": 1e-3}})
    found = validity.validity_parameters(model, first)
    model.destroy()
    assert set(found) == {"activation", "temperature", "concentration", "stress"}
    assert found["temperature"] == pytest.approx(heater / ambient, rel=1e-3)
    assert found["activation"] == pytest.approx(activation * heater / (GAS_CONSTANT * ambient**2), rel=1e-3)
    # no DC heating: T = T_amb everywhere, so the two differ exactly by E_a/(R T_amb)
    assert found["activation"] / found["temperature"] == pytest.approx(activation / (GAS_CONSTANT * ambient), rel=1e-12)
    assert 0 < found["concentration"] < found["stress"] < found["temperature"]


def expression_maxima(model, first: dict) -> dict[str, float]:
    """The parameters by an independent route: UFL expressions of the fields and the cell-wise
    coefficients evaluated at the P2 nodes of every owned cell (each cell with its own coefficients)."""
    s, k, base = model.scales, model.coefficients.fields, model.base
    theta = sum(abs(f[TEMPERATURE]) for f in first.values()) * s.temperature
    temperature = s.ambient_temperature + s.temperature * ufl.real(base[TEMPERATURE])
    excess = sum(abs(f[CONCENTRATION]) for f in first.values())
    stress = sum(abs(f[STRESS]) for f in first.values())
    mobile, ambient = k["mobile"], s.ambient_temperature
    values = ufl.as_vector([
        theta / temperature,
        mobile * k["activation"] * ambient * theta / temperature**2,
        mobile * excess / abs(k["equilibrium"] + base[CONCENTRATION]),
        mobile * abs(k["stress_coupling"]) * ambient * stress / temperature,
    ])
    mesh = model.domain.mesh
    cells = np.arange(mesh.topology.index_map(mesh.topology.dim).size_local, dtype=np.int32)
    points = model.spaces[TEMPERATURE].element.interpolation_points
    found = fem.Expression(values, points).eval(mesh, cells).real.reshape(len(cells), -1, 4).max(axis=(0, 1))
    names = ("temperature", "activation", "concentration", "stress")
    return {name: mesh.comm.allreduce(float(v), op=MPI.MAX) for name, v in zip(names, found)}


def test_parameters_match_an_independent_evaluation_on_a_heated_film():
    """An SDC film on a substrate where ions do not move, under DC and AC heating (a non-uniform base
    temperature and concentration): the nodal maxima equal those of the UFL expressions cell by cell."""
    model, first, _ = solved({
        "sample": SDC,
        "geometry": {"kind": "film", "film_thickness": 30e-9, "substrate": "SDC",
                     "substrate_properties": {"activation_energy": 1.5 * EV_TO_J_PER_MOL, "youngs_modulus": 150e9}},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "dc_power": 2e-6},
    })
    found = validity.validity_parameters(model, first)
    expected = expression_maxima(model, first)
    rise = limits.base_rise(model)
    model.destroy()
    assert rise > 5.0  # the base state is heated
    for name, value in expected.items():
        assert found[name] == pytest.approx(value, rel=1e-10), name
    # T >= T_amb, and the substrate's larger activation energy does not count: its ions do not move
    assert found["activation"] <= 0.7 * EV_TO_J_PER_MOL / (GAS_CONSTANT * 300.0) * found["temperature"]


def test_material_without_ions_has_only_the_temperature_parameter():
    """Without ions only theta_1/T is defined. At 1 kHz the thermal length (6 um) dwarfs the contact, so
    the largest temperature is the centre of a steadily heated disk, 3 pi/8 times its average (the tip
    temperature): P/(pi k a) against 8P/(3 pi^2 k a)."""
    model, first, rows = solved({"sample": {"material": "PTFE"}, "excitation": {"mode": "power", "power_amplitude": 1e-7}}, 1e3)
    found = validity.validity_parameters(model, first)
    model.destroy()
    tip = abs(next(r.temperature for r in rows if r.kind == "thermal"))
    assert set(found) == {"temperature"}
    assert found["temperature"] * 300.0 / tip == pytest.approx(3 * math.pi / 8, rel=5e-3)


def test_exceeded_names_parameter_value_threshold_and_error():
    assert validity.exceeded({name: 0.9 * t for name, t in validity.THRESHOLDS.items()}) == []
    threshold = validity.THRESHOLDS["activation"]
    (sentence,) = validity.exceeded({"activation": 2 * threshold, "temperature": 0.0})
    assert sentence.startswith(f"E_a theta_1/(R T^2) = {2 * threshold:.3g} is above {threshold:g}")
    coefficient, power = validity.PARAMETERS["activation"].error
    assert sentence.endswith(f"expect them off by about {100 * coefficient * (2 * threshold) ** power:.2g} %")
    for name in ("activation", "temperature", "conductivity"):  # the thresholds are the measured 1 % points
        coefficient, power = validity.PARAMETERS[name].error
        assert coefficient * validity.THRESHOLDS[name] ** power == pytest.approx(0.01, rel=0.1)
    (sentence,) = validity.exceeded({"concentration": 0.8})
    assert "|c_1|/c_0 = 0.8 is above 0.75, the end of the measured range" in sentence
    assert len(validity.exceeded({name: 1.1 * t for name, t in validity.THRESHOLDS.items()})) == 6
    assert validity.exceeded({"temperature": 0.9}) == []  # without ions the model is linear: nothing to warn of


@pytest.mark.serial  # a harmonic-balance solve (about 10 s)
def test_conductivity_slope_error_follows_its_measured_model():
    """k' = -1e-3 W/(m K^2) on PTFE at 1 uW (theta_1 = 53 K at the tip): the only nonlinearity is k(T).
    The validity parameter |k'| theta_1/k is the nodal maximum (1.18 times the tip value, as for
    theta_1/T), the expansion's non-ionic u_2 is off harmonic balance by about the measured error model
    (docs/validation/verification.md, 'Validity of the expansion'), and 'auto' keeps the expansion with that
    expected error; alpha' alone adds no parameter (its expansion is exact)."""
    slope, conductivity = -1e-3, 0.25
    raw = {"sample": {"material": "PTFE", "properties": {"thermal_conductivity_derivative": slope}},
           "excitation": {"mode": "power", "power_amplitude": 1e-6}, "mesh": {"refinement": 0.3},
           "solver": {"periodic": "harmonic_balance", "harmonics": 8}}
    model, first, rows = solved(raw)
    found = validity.validity_parameters(model, first)
    model.destroy()
    by_kind = {(r.harmonic, r.kind, r.method): r for r in rows}
    tip = abs(by_kind[1, "thermal", "harmonic_balance"].temperature)
    assert found["conductivity"] == pytest.approx(abs(slope) / conductivity * 300 * found["temperature"], rel=1e-6)
    assert found["conductivity"] / (abs(slope) * tip / conductivity) == pytest.approx(1.18, abs=0.02)
    balance = by_kind[2, "nonionic", "harmonic_balance"].displacement
    error = abs(_expansion_u2(raw) - balance) / abs(balance)
    expected = validity.expected_error(found)
    assert 0.01 < error < expected < 1.5 * error
    assert validity.exceeded(found)[0].startswith("|k'| theta_1/k")
    model, first, _ = solved({**raw, "sample": {"material": "PTFE", "properties": {"thermal_expansion_derivative": 1e-6}},
                              "solver": {"periodic": "expansion"}})
    without_k = validity.validity_parameters(model, first)
    model.destroy()
    assert set(without_k) == {"temperature"} and validity.expected_error(without_k) == 0


def _expansion_u2(raw: dict) -> complex:
    """The expansion's second-order (non-ionic) tip displacement (m) of the study ``raw``."""
    model, _, rows = solved({**raw, "solver": {"periodic": "expansion"}})
    model.destroy()
    return next(r.displacement for r in rows if (r.harmonic, r.kind) == (2, "nonionic"))


def test_large_heating_warns_once_per_parameter_and_writes_validity_csv(shared_tmp, capsys):
    """4 uW on SDC (theta_1 = 27 K at the tip, gamma = 2.9) solved by the expansion on request: one warning per exceeded parameter, for two
    frequencies; validity.csv has every parameter at every frequency."""
    outdir = shared_tmp / "hot"
    overrides = ["sample.properties.diffusivity=1e-12", "excitation.power_amplitude=4e-6",
                 "excitation.frequencies=[2e4, 4e4]", "mesh.refinement=0.5", "solver.periodic=expansion"]
    args = ["run", str(ROOT / "studies" / "default.toml"), "-o", str(outdir), "-q"]
    assert main([*args, *(a for o in overrides for a in ("--set", o))]) == 0
    if MPI.COMM_WORLD.rank == 0:
        warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("stimsim: warning: ")]
        rows = read_rows(outdir / "validity.csv")
        assert tuple(rows[0]) == validity.COLUMNS
        assert [(float(r["drive_frequency_hz"]), r["parameter"]) for r in rows] == [
            (f, name) for f in (2e4, 4e4) for name in ("temperature", "activation", "concentration", "stress")
        ]
        largest = {name: max(float(r["value"]) for r in rows if r["parameter"] == name) for name in set(validity.THRESHOLDS) - {"conductivity", "potential"}}
        assert largest["activation"] > 2.0
        over = [name for name, value in largest.items() if value > validity.THRESHOLDS[name]]
        assert "activation" in over and len(warnings) == len(over)
        for name in over:
            assert sum(validity.PARAMETERS[name].definition in w for w in warnings) == 1


def test_centre_below_zero_kelvin_is_refused_although_the_tip_average_is_not(shared_tmp, capsys):
    """40 uW on SDC without ions: the tip (disk-average) temperature oscillates by about 270 K about
    300 K, which the tip check passes, but the centre of the disk by 3 pi/8 times more (318 K)."""
    outdir = shared_tmp / "cold"
    overrides = ["sample.properties.partial_molar_volume=0.0", "excitation.power_amplitude=40e-6",
                 "excitation.frequencies=[2e4]", "mesh.refinement=0.5"]
    args = ["run", str(ROOT / "studies" / "default.toml"), "-o", str(outdir), "-q"]
    assert main([*args, *(a for o in overrides for a in ("--set", o))]) == EXIT_INPUT
    if MPI.COMM_WORLD.rank == 0:
        err = capsys.readouterr().err
        assert err.startswith("stimsim: error: excitation.power_amplitude = 4e-05 W makes the temperature oscillate by 1.")
        assert "theta_1/T" in err and "below 0 K" in err
    assert not outdir.exists()


def test_concentration_below_zero_is_refused_after_the_first_order():
    """Ions that follow the stress (D = 1e-9 m^2/s: omega a^2/D = 0.05) with a large partial molar
    volume and a small population (Vegard feedback c_0 Omega^2 E/(R T) = 0.7): |c_1|/c_0 = 1.3 follows
    Omega sigma_1/(R T) = 1.4 while the tip temperature oscillates by 13 K."""
    raw = {"sample": {"material": "SDC", "properties": {"diffusivity": 1e-9, "partial_molar_volume": 3e-4,
                                                        "concentration": 0.1}},
           "excitation": {"mode": "power", "power_amplitude": 2e-6}}
    raw = {"tip": {"contact_radius": 20e-9}, "mesh": {"refinement": 0.5}} | raw
    raw["excitation"] = raw["excitation"] | {"frequencies": [FREQUENCY]}
    with HarmonicModel(study_from_dict(raw), MPI.COMM_WORLD) as model:
        base_state(model)
        first, _ = first_order_fields(model, FREQUENCY)
        found = {FREQUENCY: validity.validity_parameters(model, first)}
        temperature = model.tip_values(first[1])[1]
        assert abs(temperature) < 20 and found[FREQUENCY]["concentration"] > 1
        with pytest.raises(InputError, match=r"excitation.power_amplitude = 2e-06 W makes the concentration oscillate"):
            limits.check_model(model, [], found)
        # the forward response refuses it too, before any periodic solve
        with pytest.raises(InputError, match=r"\|c_1\|/c_0 = 1.31 > 1"):
            responses(model, FREQUENCY)
