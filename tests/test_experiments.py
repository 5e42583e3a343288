"""Virtual experiments: slow DC modulation loops, resonance sweeps, DC and force series, the CLI."""

import math
import re

import numpy as np
import pytest
from mpi4py import MPI
from scipy.io import netcdf_file

from stimsim.cli import main
from stimsim.study.load import study_from_dict
from stimsim.solve.forward import base_state, responses
from stimsim.core.errors import InputError
from stimsim.experiments.run import run_experiments
from stimsim.solve.model import HarmonicModel
from stimsim.instrument.afm import contact_mode
from stimsim.io.files import read_rows
from stimsim.experiments.modulation import Modulation, modulation_loop

DRIVE = 3e4
#: A cheap ionic case: SDC with D = 5e-14 m^2/s under a 20 nm contact, 1 uW AC on 1 uW DC, solved by
#: the expansion (the experiments' bookkeeping is under test, not the periodic method).
CASE = {
    "sample": {"material": "SDC", "properties": {"diffusivity": 5e-14}},
    "tip": {"contact_radius": 20e-9},
    "excitation": {"mode": "power", "power_amplitude": 1e-6, "dc_power": 1e-6, "frequencies": [DRIVE]},
    "mesh": {"refinement": 0.15},
    "solver": {"periodic": "expansion"},
}


@pytest.fixture(scope="module")
def model():
    model = HarmonicModel(study_from_dict(CASE), MPI.COMM_WORLD)
    yield model
    model.destroy()


def ionic_relaxation_frequency(model) -> float:
    """1/(2 pi tau_D) of the case: the slowest diffusion mode over the contact radius a, tau_D =
    a^2 / (pi^2 D_chem), with the chemical diffusivity at the steady tip temperature."""
    base_state(model)
    material, ambient = model.study.sample.material, model.study.excitation.ambient_temperature
    tip_temperature = ambient + model.tip_values(model.base)[1].real
    diffusivity = material.chemical_diffusivity(tip_temperature, ambient)
    tau = model.study.tip.contact_radius**2 / (math.pi**2 * diffusivity)
    return 1 / (2 * math.pi * tau)


def test_zero_modulation_reproduces_the_steady_harmonics(model):
    """With dP = 0 the base state stays at the steady state, and every recorded point carries the
    steady frequency-domain harmonics (to the GMRES tolerance)."""
    base_state(model)
    steady = {(r.harmonic, r.kind): r.displacement for r in responses(model, DRIVE)}
    result = modulation_loop(model, DRIVE, Modulation(100.0, 0.0, periods=1, steps_per_period=8))
    assert len(result.points) == 8
    for point in result.points:
        for row in point.responses:
            assert row.displacement == pytest.approx(steady[row.harmonic, row.kind], rel=1e-9, abs=1e-30)
    assert result.loop_area(2) < 1e-9 * abs(steady[2, "ionic"]) * 1e-6
    assert result.cost.gmres_iterations <= 2 and result.cost.factorizations <= 4  # BE, BDF2, 2 references


@pytest.mark.serial
def test_loop_area_peaks_near_the_ionic_relaxation_frequency_and_closes_in_both_limits(model):
    """Modulation at f_D x (1/1000, 1/30, 1, 30, 1000), f_D = 1/(2 pi tau_D): the loop of the ionic
    amplitude against the DC power is widest at f_D and closes when the ions follow the heating (slow)
    and when they cannot follow it (fast). Diffusion over the half-space has no single time constant,
    so the loop closes slowly (power-law tails): a factor 1000 away the area is below a tenth."""
    f_d = ionic_relaxation_frequency(model)
    factors = (1e-3, 1 / 30, 1.0, 30.0, 1e3)
    areas = [
        modulation_loop(model, DRIVE, Modulation(f_d * x, 0.5e-6, periods=2, steps_per_period=8)).loop_area(2)
        for x in factors
    ]
    assert max(areas) == areas[2], areas
    assert areas[0] < areas[2] / 10 and areas[4] < areas[2] / 10, areas


def test_modulation_rejects_a_heating_that_would_turn_negative(model):
    with pytest.raises(InputError, match="dc_power_amplitude"):
        modulation_loop(model, DRIVE, Modulation(10.0, 2e-6))


def with_protocols(case: dict, **tables) -> dict:
    """``case`` with an instrument (the paper's ceria thermal channel) and the given protocol tables."""
    return case | {"instrument": {"resonance_frequency": 123.4e3, "quality_factor": 57.7}, "protocol": tables}


@pytest.mark.serial
def test_resonance_sweep_sho_fit_and_dart_recover_the_intrinsic_response():
    """The lock-in reads the model's harmonics through the resonance; the SHO fit of the noise-free
    sweep and DART recover f0 and Q and the model's intrinsic amplitude at f0 (which varies slightly
    across the sweep: 1 %)."""
    study = study_from_dict(with_protocols(CASE, resonance_sweep={"points": 9}))
    spectra, fits = run_experiments(study, MPI.COMM_WORLD)
    assert {r["channel"] for r in spectra.rows} == {"thermal", "ionic"} and len(spectra.rows) == 18
    found = {(r["channel"], r["method"]): r for r in fits.rows}
    for channel in ("thermal", "ionic"):
        truth = found[channel, "model"]
        for method in ("sho_fit", "dart"):
            estimate = found[channel, method]
            assert estimate["resonance_frequency_hz"] == pytest.approx(123.4e3, rel=1e-3)
            assert estimate["quality_factor"] == pytest.approx(57.7, rel=2e-2)
            assert estimate["intrinsic_amplitude_m"] == pytest.approx(truth["intrinsic_amplitude_m"], rel=1e-2)
    peak = max(spectra.rows, key=lambda r: r["measured_amplitude_m"] if r["channel"] == "ionic" else 0)
    assert peak["harmonic"] == 2 and peak["signal_frequency_hz"] == pytest.approx(123.4e3)


def test_dc_series_starts_at_the_steady_response_and_heats_linearly(model):
    """The first point (the study's own DC power) is the steady result of the study; the steady tip
    temperature rise is proportional to the DC power (heat conduction is linear); the ionic response
    changes with the DC heating while the ions are mobile."""
    base_state(model)
    steady = {(r.harmonic, r.kind): r.displacement for r in responses(model, DRIVE)}
    study = study_from_dict(with_protocols(CASE, dc_series={"dc_powers": [1e-6, 3e-6]}))
    (table,) = run_experiments(study, MPI.COMM_WORLD)
    rows = {(r["dc_power_w"], r["harmonic"], r["kind"]): r for r in table.rows}
    for (harmonic, kind), value in steady.items():
        row = rows[1e-6, harmonic, kind]
        assert complex(row["u_real_m"], row["u_imag_m"]) == pytest.approx(value, rel=1e-9)
    rise = [rows[p, 1, "thermal"]["dc_tip_temperature_rise_k"] for p in (1e-6, 3e-6)]
    assert rise[1] == pytest.approx(3 * rise[0], rel=1e-9) and rise[0] > 1.0
    ionic = [rows[p, 2, "ionic"]["amplitude_m"] for p in (1e-6, 3e-6)]
    assert abs(ionic[1] / ionic[0] - 1) > 0.05


@pytest.mark.serial  # suite time (21 s on 2 ranks);
# the series protocols under MPI: test_dc_series_starts_at_the_steady_response_and_heats_linearly
def test_force_series_follows_hertz_and_moves_the_resonance():
    """Contact radius (3FR/4E*)^(1/3), stiffness 2aE*, resonance of the cantilever's contact mode; the
    ionic response changes with the force (contact size and preload; its sign depends on the case)."""
    case = CASE | {"tip": {"force": 20e-9, "tip_radius": 100e-9}}
    case["instrument"] = {"resonance_frequency": 123.4e3, "quality_factor": 57.7, "cantilever_stiffness": 40.0}
    case["protocol"] = {"force_series": {"forces": [20e-9, 80e-9]}}
    case["sample"] = {"material": "SDC", "properties": {"diffusivity": 5e-14}}
    case["mesh"] = {"refinement": 0.5}  # the force's effect on u2 (1-2 %) needs it: 0.9 % at 0.3
    (table,) = run_experiments(study_from_dict(case), MPI.COMM_WORLD)
    ionic = [r for r in table.rows if r["kind"] == "ionic"]
    reduced = 200e9 / (1 - 0.3**2)
    for row in ionic:
        assert row["contact_radius_m"] == pytest.approx((3 * row["force_n"] * 100e-9 / (4 * reduced)) ** (1 / 3))
        assert row["contact_stiffness_n_per_m"] == pytest.approx(2 * row["contact_radius_m"] * reduced)
    k = [r["contact_stiffness_n_per_m"] for r in ionic]
    assert ionic[0]["resonance_frequency_hz"] == pytest.approx(123.4e3)
    assert ionic[1]["resonance_frequency_hz"] == pytest.approx(123.4e3 * (contact_mode(k[1] / 40) / contact_mode(k[0] / 40)) ** 2)
    assert ionic[1]["resonance_frequency_hz"] > 123.4e3
    assert abs(ionic[1]["amplitude_m"] / ionic[0]["amplitude_m"] - 1) > 1e-2


PTFE = {
    "sample": {"material": "PTFE"},
    "tip": {"contact_radius": 20e-9},
    "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [DRIVE]},
    "mesh": {"refinement": 0.3},
}


def write_study(path, case: dict) -> str:
    import tomli_w

    if MPI.COMM_WORLD.rank == 0:
        path.write_text(tomli_w.dumps(case))
    MPI.COMM_WORLD.barrier()
    return str(path)


def test_experiment_command_writes_csv_netcdf_and_plots(shared_tmp, capsys):
    case = with_protocols(PTFE, resonance_sweep={"channel": "thermal", "points": 5}, dc_series={"dc_powers": [0.0, 1e-6]})
    study = write_study(shared_tmp / "ptfe.toml", case)
    outdir = shared_tmp / "out"
    assert main(["experiment", study, "-o", str(outdir)]) == 0
    if MPI.COMM_WORLD.rank != 0:
        return
    names = sorted(p.name for p in outdir.iterdir())
    tables = ["dc_series", "resonance_fit", "resonance_sweep"]
    assert names == sorted([f"{t}.{e}" for t in tables for e in ("csv", "png")] + ["experiment.nc", "study.toml"])
    sweep = read_rows(outdir / "resonance_sweep.csv")
    assert len(sweep) == 5 and sweep[0]["channel"] == "thermal"
    fits = read_rows(outdir / "resonance_fit.csv")
    assert [r["method"] for r in fits] == ["model", "sho_fit", "dart"]
    assert all(float(r[c]) > 0 for r in fits for c in ("resonance_frequency_hz", "quality_factor", "intrinsic_amplitude_m"))
    with netcdf_file(outdir / "experiment.nc", "r", mmap=False) as nc:
        amplitude = nc.variables["resonance_sweep__measured_amplitude_m"]
        assert amplitude.units == b"m" and amplitude.shape == (5,)
        np.testing.assert_allclose(amplitude[:], [float(r["measured_amplitude_m"]) for r in sweep], rtol=1e-15)
        channel = nc.variables["resonance_sweep__channel"][:]
        assert b"".join(channel[0]).strip() == b"thermal"
        assert b"PTFE" in nc.study
    assert "resonance_fit:" in capsys.readouterr().out


@pytest.mark.parametrize(
    "tables, message",
    [
        ({"sweep_resonance": {}}, "protocol.sweep_resonance is not a protocol"),
        ({"dc_series": {"dc_powers": [1e-6], "dc_power": 1}}, "protocol.dc_series.dc_power is not a known key"),
        ({"dc_series": {}}, "protocol.dc_series.dc_powers is required"),
        ({"modulation": {"modulation_frequencies": [1.0], "dc_power_amplitude": 0.0}}, "sample.material has no mobile ions"),
        ({"resonance_sweep": {"points": 3}}, r"protocol.resonance_sweep.points = 3 must be an integer in \[5, 2001\]"),
    ],
)
def test_bad_protocols_are_rejected_by_key(shared_tmp, capsys, tables, message):
    study = write_study(shared_tmp / "bad.toml", with_protocols(PTFE, **tables))
    assert main(["experiment", study, "-o", str(shared_tmp / "none")]) == 2
    if MPI.COMM_WORLD.rank == 0:
        err = capsys.readouterr().err
        assert err.startswith("stimsim: error: ") and len(err.strip().splitlines()) == 1
        assert re.search(message, err), err
        assert not (shared_tmp / "none").exists()


def test_missing_instrument_is_rejected(shared_tmp, capsys):
    case = PTFE | {"protocol": {"resonance_sweep": {}}}
    assert main(["experiment", write_study(shared_tmp / "noinst.toml", case), "-o", str(shared_tmp / "x")]) == 2
    if MPI.COMM_WORLD.rank == 0:
        assert "instrument is required" in capsys.readouterr().err


@pytest.mark.parametrize("waveform", ["sine", "triangle", "square"])
def test_waveforms_have_period_one_range_one_and_the_phase_of_a_sine(waveform):
    setting = Modulation(2.0, 3e-6, waveform=waveform)
    t = np.linspace(0, 0.5, 2001)[:-1]  # one period of f_m = 2 Hz
    values = np.array([setting.offset(x) for x in t])
    assert values.max() == pytest.approx(3e-6) and values.min() == pytest.approx(-3e-6)
    assert abs(values.mean()) < 1e-3 * 3e-6
    assert setting.offset(0.125) == pytest.approx(3e-6) and setting.offset(0.375) == pytest.approx(-3e-6)
    assert setting.offset(0.1) == pytest.approx(setting.offset(0.6))
    assert Modulation(2.0, 1.0, waveform=lambda x: math.cos(2 * math.pi * x)).offset(0.5) == pytest.approx(1.0)
