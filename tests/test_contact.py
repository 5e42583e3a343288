"""Non-ionic second harmonics: the Hertz contact's nonlinearity (instrument layer) and the Joule
heater's resistance temperature coefficient (drive layer), each against an independent time
integration of its scalar problem."""

import math
import re

import numpy as np
import pytest
from mpi4py import MPI
from scipy.integrate import solve_ivp

from stimsim.cli import main
from stimsim.study.study import Excitation, Tip
from stimsim.study.load import study_from_dict
from stimsim.physics.drives import JouleDrive
from stimsim.core.errors import InputError
from stimsim.experiments.run import run_experiments
from stimsim.solve.simulate import simulate
from stimsim.instrument.afm import HertzContact, Resonance, contact_harmonics

#: PTFE-like contact: E* = 0.5 GPa / (1 - 0.46^2), a 30 nm tip at 20 nN; resonance 120 kHz, Q = 20.
CONTACT = HertzContact(force=20e-9, tip_radius=30e-9, reduced_modulus=0.5e9 / (1 - 0.46**2))
F0, QUALITY = 120e3, 20.0


def periodic_harmonic(rhs, start, frequency: float, harmonic: int, periods: int = 40, last: int = 4) -> complex:
    """Complex amplitude of ``harmonic`` of ``frequency`` (Hz) of the first state variable of y' = rhs(t, y)
    from ``start``, by the DFT of its last ``last`` of ``periods`` periods (tight tolerances)."""
    period = 1 / frequency
    samples = np.linspace((periods - last) * period, periods * period, 64 * last, endpoint=False)
    solution = solve_ivp(rhs, (0, periods * period), start, method="DOP853", rtol=1e-12, atol=1e-30, t_eval=samples)
    assert solution.success
    return 2 * np.mean(solution.y[0] * np.exp(-2j * math.pi * harmonic * frequency * samples))


def hertz_tip_harmonic(amplitude: float, resonance: Resonance, drive: float) -> complex:
    """Second harmonic (m) of the tip z of m z'' + c z' + k_c z = K (delta0 + u_s - z)_+^(3/2) - F0 with
    u_s = amplitude cos(w t), integrated in time from the linear periodic state."""
    k, k_c = CONTACT.stiffness, resonance.cantilever_stiffness
    omega0 = 2 * math.pi * resonance.frequency
    mass = (k + k_c) / omega0**2
    damping = mass * omega0 / resonance.quality
    omega, delta0 = 2 * math.pi * drive, CONTACT.indentation

    def rhs(t, y):
        indentation = max(delta0 + amplitude * math.cos(omega * t) - y[0] * delta0, 0.0)
        force = CONTACT.prefactor * indentation**1.5 - CONTACT.force
        return [y[1], (force - k_c * y[0] * delta0 - damping * y[1] * delta0) / (mass * delta0)]

    linear = k / (k + k_c) * resonance.transfer(drive) * amplitude / delta0  # z in units of delta0
    return periodic_harmonic(rhs, [linear.real, (1j * omega * linear).real], drive, 2) * delta0


def test_hertz_contact_has_the_stiffness_2_a_e_star_and_curvature_k_over_2_delta():
    radius = math.sqrt(CONTACT.tip_radius * CONTACT.indentation)
    assert CONTACT.stiffness == pytest.approx(2 * radius * CONTACT.reduced_modulus, rel=1e-12)
    assert CONTACT.prefactor * CONTACT.indentation**1.5 == pytest.approx(CONTACT.force, rel=1e-12)
    assert CONTACT.curvature == pytest.approx(CONTACT.stiffness / (2 * CONTACT.indentation), rel=1e-12)


def test_hertz_second_harmonic_matches_the_time_integrated_contact_and_scales_as_amplitude_squared():
    """The thermal harmonic at f0/2, its second harmonic at f0 (the paper's ionic channel), with a
    cantilever of a ninth of the contact stiffness: the expansion within 1e-3, four times larger at
    twice the amplitude."""
    resonance = Resonance(F0, QUALITY, CONTACT.stiffness / 9, CONTACT.stiffness)
    drive = F0 / 2
    found = {}
    coupling = 0.9  # z = g H X: the tip's share k* / (k* + k_c) of the surface displacement
    for amplitude in (2e-3 * CONTACT.indentation, 4e-3 * CONTACT.indentation):
        expected = coupling * resonance.transfer(2 * drive) * contact_harmonics({1: amplitude}, drive, resonance, CONTACT)[2]
        found[amplitude] = hertz_tip_harmonic(amplitude, resonance, drive)
        assert abs(found[amplitude] - expected) < 1e-3 * abs(expected)  # measured 7e-6
    small, large = found.values()
    assert abs(large / small) == pytest.approx(4, rel=0.01)


def test_hertz_background_lands_at_sums_and_differences_with_half_weights():
    """Without a resonance effect (H ~ 0 far above f0: the indentation is the surface displacement)
    the force follows (1/2) F'' delta^2: 1/4 F'' X1^2 at 2, 1/2 F'' X1 X2 at 3, 1/2 F'' X2 X1* at 1."""
    resonance = Resonance(1.0, 1.0)  # f0 far below the harmonics: H -> 0
    x1, x2 = 1e-12 * (1 + 1j), 2e-12j
    found = contact_harmonics({1: x1, 2: x2}, 1e9, resonance, CONTACT)
    scale = CONTACT.curvature / CONTACT.stiffness
    for harmonic, value in {2: x1**2 / 4, 3: x1 * x2 / 2, 1: x2 * np.conj(x1) / 2, 4: x2**2 / 4}.items():
        assert found[harmonic] == pytest.approx(scale * value, rel=1e-6)


# -- heater resistance temperature coefficient ------------------------------------------------------

#: A lumped heater on a sample at ambient (Z = 0): R0 = 1 kOhm, G_h + G_c = 1e-5 W/K, its corner at
#: 2 f; 1 V AC heats it by about 25 K, beta theta_h ~ 2.5e-3 at beta = 1e-4 1/K.
HEATER_FREQUENCY = 1e4
HEATER = dict(
    mode="joule", frequencies=(HEATER_FREQUENCY,), ambient_temperature=300.0, ac_voltage=1.0, heater_resistance=1e3,
    heater_conductance=0.9e-5, contact_conductance=0.1e-5, heater_heat_capacity=1e-5 / (4 * math.pi * HEATER_FREQUENCY),
)
TIP = Tip(contact_radius=20e-9, thermal_contact_radius=20e-9, weighting="uniform")


def drive_heater_temperatures(excitation: Excitation) -> dict[int, complex]:
    """Heater temperature by harmonic (K; 0: DC) of the drive layer on a sample that stays at ambient."""
    drive = JouleDrive(excitation, TIP)
    base = drive.base_heating(0.0)
    spectrum = drive.heating_spectrum(HEATER_FREQUENCY, dict.fromkeys((*drive.harmonics, *drive.background_harmonics), 0.0), base)
    return {0: base * drive.scale} | {n: h * drive.scale for n, h in spectrum.items()}


def integrated_heater_temperatures(excitation: Excitation) -> dict[int, complex]:
    """The same by time integration of C theta' + (G_h + G_c) theta = V(t)^2 / (R0 (1 + beta theta))."""
    e = excitation
    omega, loss = 2 * math.pi * HEATER_FREQUENCY, e.heater_conductance + e.contact_conductance

    def rhs(t, y):
        voltage = e.dc_voltage + e.ac_voltage * math.cos(omega * t)
        power = voltage**2 / (e.heater_resistance * (1 + e.heater_temperature_coefficient * y[0]))
        return [(power - loss * y[0]) / e.heater_heat_capacity]

    return {n: periodic_harmonic(rhs, [0.0], HEATER_FREQUENCY, n, periods=30) / (1 if n else 2) for n in range(5)}


@pytest.mark.parametrize("dc_voltage", [0.0, 0.5])
def test_heater_harmonics_match_the_time_integrated_heater_and_the_extra_harmonics_grow_as_beta(dc_voltage):
    """Drive and background harmonics of the heater temperature within 1e-3 of the integrated heater
    (measured at most 1.3e-4 at beta = 1e-4 1/K), the DC within 1e-2 (it leaves out the DC of the
    oscillation beating with V^2: measured 1.2e-3 with V0 = 0, 6e-3 with V0 = 0.5 V, where theta_1 = 88 K);
    the background (4 w, and 3 w with a DC voltage) doubles with beta."""
    excitation = Excitation(**HEATER, dc_voltage=dc_voltage, heater_temperature_coefficient=1e-4)
    found, expected = drive_heater_temperatures(excitation), integrated_heater_temperatures(excitation)
    assert set(found) == ({0, 2, 4} if dc_voltage == 0 else {0, 1, 2, 3, 4})
    for n, value in found.items():
        assert abs(value - expected[n]) < (1e-2 if n == 0 else 1e-3) * abs(expected[n]), n
    background = [
        drive_heater_temperatures(Excitation(**HEATER, dc_voltage=dc_voltage, heater_temperature_coefficient=beta))[4]
        for beta in (1e-5, 2e-5)
    ]
    assert abs(background[1] / background[0]) == pytest.approx(2, rel=1e-2)


def test_without_a_coefficient_the_heater_has_only_the_ideal_harmonics():
    drive = JouleDrive(Excitation(**HEATER, dc_voltage=0.0, heater_temperature_coefficient=0.0), TIP)
    assert drive.background_harmonics == () and set(drive.harmonics) == {2}


@pytest.mark.parametrize("beta, message", [(-0.05, "thermal runaway"), (-5e-4, "resistance .* <= 0")])
def test_a_coefficient_that_leaves_no_positive_resistance_is_rejected_by_name(beta, message):
    """3 V on the heater (about 450 K): at -0.05 1/K no steady temperature at all; at -5e-4 1/K a
    steady state whose oscillation takes R through 0."""
    excitation = Excitation(**HEATER | {"ac_voltage": 3.0}, dc_voltage=0.0, heater_temperature_coefficient=beta)
    with pytest.raises(InputError, match=f"excitation.heater_temperature_coefficient .*{message}"):
        drive_heater_temperatures(excitation)


# -- in the engine and the experiments ----------------------------------------------------------------

FREQUENCY = 2e4
#: SDC with D = 1e-12 m^2/s under a pure-AC Joule heater (thermal at 2, ionic at 4), beta = 1e-3 1/K.
JOULE_STUDY = {
    "sample": {"material": "SDC", "properties": {"diffusivity": 1e-12}},
    "tip": {"contact_radius": 20e-9},
    "excitation": {
        "mode": "joule", "ac_voltage": 1.0, "heater_resistance": 5e3, "contact_conductance": 1e-7,
        "heater_conductance": 1e-5, "heater_heat_capacity": 1e-11, "heater_temperature_coefficient": 1e-3,
        "frequencies": [FREQUENCY],
    },
    "mesh": {"domain_size": 40e-6, "refinement": 0.5},
    "solver": {"periodic": "expansion"},
}


def rows_of(case: dict) -> dict:
    rows = simulate(study_from_dict(case), MPI.COMM_WORLD).rows
    return {(r.harmonic, r.kind): r for r in rows}


@pytest.mark.serial  # suite time; a heater's rows under MPI: tests/test_fit_nonionic.py, test_heater_coefficient_values_and_taylor
def test_joule_heater_coefficient_adds_a_nonionic_row_at_4w_that_the_total_includes():
    """The 4 w heating of the heater's resistance change is answered as the sample answers a heater
    temperature oscillation at 4 f (a 'heater' study at 4 f gives the same displacement per K), and the
    'total' at 4 is ionic + nonionic."""
    rows = rows_of(JOULE_STUDY)
    assert set(rows) == {(2, "thermal"), (4, "ionic"), (4, "nonionic"), (4, "total")}
    background, total = rows[4, "nonionic"], rows[4, "total"]
    assert total.displacement == pytest.approx(background.displacement + rows[4, "ionic"].displacement, rel=1e-12)
    heater = background.temperature + background.heating_power / 1e-7  # theta_h = theta_tip + flow / G_c
    prescribed = JOULE_STUDY | {"excitation": {
        "mode": "heater", "heater_temperature_amplitude": 1.0, "contact_conductance": 1e-7, "frequencies": [4 * FREQUENCY],
    }}
    per_kelvin = rows_of(prescribed)[1, "thermal"].displacement
    assert background.displacement == pytest.approx(per_kelvin * heater, rel=1e-9)
    assert 1e-4 < abs(background.displacement / rows[2, "thermal"].displacement) < 1e-1


@pytest.mark.serial  # suite time: harmonic balance under MPI is tests/test_periodic.py's
def test_harmonic_balance_carries_the_heater_background_like_the_expansion():
    """At a small amplitude (theta ~ 0.1 K, beta = 1e-3 1/K: the background about 2.5 times the ionic
    part at 4) the nonlinear periodic state with the heater's 4 w heating gives the expansion's thermal
    row at 2, and its total and ionic part at 4 (0.5 %), with the same nonionic row."""
    case = JOULE_STUDY | {"mesh": {"refinement": 0.3}, "sample": {"material": "SDC", "properties": {"diffusivity": 1e-11}}}
    case["excitation"] = JOULE_STUDY["excitation"] | {"ac_voltage": 0.3}
    expansion = rows_of(case)
    periodic = rows_of(case | {"solver": {"periodic": "harmonic_balance", "harmonics": 4}})
    assert periodic[4, "nonionic"].displacement == pytest.approx(expansion[4, "nonionic"].displacement, rel=1e-12)
    for found, expected in (((2, "total"), (2, "thermal")), ((4, "total"), (4, "total")), ((4, "ionic"), (4, "ionic"))):
        difference = periodic[found].displacement - expansion[expected].displacement
        assert abs(difference) < 5e-3 * abs(expansion[expected].displacement), found


CONTACT_STUDY = {
    "sample": {"material": "PTFE"},
    "tip": {"force": 20e-9, "tip_radius": 30e-9},
    "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [3e4]},
    "mesh": {"refinement": 0.5},
    "instrument": {"resonance_frequency": 6e4, "quality_factor": 40.0, "contact_nonlinearity": "hertz"},
    "protocol": {"dc_series": {"dc_powers": [0.0]}, "resonance_sweep": {"channel": "ionic", "points": 5}},
}


def test_dc_series_and_sweep_read_the_hertz_contact_and_say_so():
    """On PTFE (no ions: a zero 'ionic' row) the 2 w signal the lock-in reads is the contact's: a
    'contact' row equal to the expansion of F ~ delta^(3/2) about the 1 w thermal row, and the 'total';
    the ionic-channel sweep reads only the contact, and says so in its contact columns."""
    study = study_from_dict(CONTACT_STUDY)
    table, spectra, _ = run_experiments(study, MPI.COMM_WORLD)
    assert all(r["intrinsic_amplitude_m"] == r["contact_amplitude_m"] > 0 for r in spectra.rows)
    rows = {(r["harmonic"], r["kind"]): complex(r["u_real_m"], r["u_imag_m"]) for r in table.rows}
    assert set(rows) == {(1, "thermal"), (2, "ionic"), (2, "contact"), (2, "total")} and rows[2, "ionic"] == 0
    top = study.sample.material
    contact = HertzContact(20e-9, 30e-9, top.youngs_modulus / (1 - top.poisson_ratio**2))
    expected = contact_harmonics({1: rows[1, "thermal"]}, 3e4, Resonance(6e4, 40.0), contact)
    assert rows[2, "contact"] == pytest.approx(expected[2], rel=1e-12) and rows[2, "total"] == rows[2, "contact"]
    assert abs(expected[2]) > 1e-4 * abs(rows[1, "thermal"])


def write_case(path, case: dict) -> str:
    import tomli_w

    if MPI.COMM_WORLD.rank == 0:
        path.write_text(tomli_w.dumps(case))
    MPI.COMM_WORLD.barrier()
    return str(path)


@pytest.mark.parametrize(
    "command, change, message",
    [
        ("experiment", {"tip": {"contact_radius": 20e-9}}, "instrument.contact_nonlinearity = 'hertz' needs a Hertz contact"),
        ("experiment", {"tip": {"force": -1e-9, "tip_radius": 30e-9}}, "tip.force = -1e-09 is outside"),
        ("run", {"excitation": JOULE_STUDY["excitation"] | {"heater_temperature_coefficient": -0.05}},
         "excitation.heater_temperature_coefficient = -0.05 1/K leaves the heater no steady temperature"),
        ("run", {"excitation": CONTACT_STUDY["excitation"] | {"heater_temperature_coefficient": 1e-3}},
         "excitation.heater_temperature_coefficient is not used by mode 'power'"),
    ],
)
def test_bad_nonionic_input_is_rejected_by_key_with_exit_2(shared_tmp, capsys, command, change, message):
    study = write_case(shared_tmp / "bad_nonionic.toml", CONTACT_STUDY | change)
    assert main([command, study, "-o", str(shared_tmp / "none")]) == 2
    if MPI.COMM_WORLD.rank == 0:
        err = capsys.readouterr().err
        assert err.startswith("stimsim: error: ") and len(err.strip().splitlines()) == 1
        assert re.search(message, err), err
