"""Measured data in the formats AFM users keep (stimsim.io.measured): files written with the writing
libraries (igorwriter, h5py, csv) are read back in SI units; the [[fit.data]] tables of a study merge
into one Data (stimsim.inverse.data.data_from_tables); ``stimsim fit`` and ``stimsim validate`` read them."""

import csv
import json
import logging
import math
from dataclasses import replace

import h5py
import numpy as np
import pytest
from igorwriter import IgorWave
from mpi4py import MPI

from stimsim.cli import main
from stimsim.core.errors import InputError
from stimsim.inverse.data import data_from_tables
from stimsim.inverse.forward_model import ForwardModel, with_values
from stimsim.io.files import read_rows
from stimsim.io.measured import ChannelSpec, read_channels
from stimsim.study.load import study_from_dict

FREQUENCY = np.array([1e3, 3e3, 1e4, 3e4])
AMPLITUDE = np.array([4e-12, 3e-12, 2e-12, 1e-12])  # m
PHASE = np.array([-10.0, -100.0, 170.0, 179.5])  # deg, stimsim's convention
SENSITIVITY = 60e-9  # m/V
PTFE = (
    '[sample]\nmaterial = "PTFE"\n[tip]\ncontact_radius = 20e-9\n[excitation]\nmode = "power"\n'
    "power_amplitude = 1e-6\nfrequencies = [{frequencies}]\n[mesh]\nrefinement = 0.5\n"
)


def wrapped(degrees) -> np.ndarray:
    """Degrees as rad in (-pi, pi]."""
    phase = np.angle(np.exp(1j * np.radians(degrees)))
    return np.where(phase == -math.pi, math.pi, phase)


def write_csv(path, header, rows, delimiter=","):
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_ibw(path, columns: dict, name="spectrum"):
    """A 2-D wave, one column a channel, named by column dimension labels (as Asylum's exports)."""
    wave = IgorWave(np.column_stack(list(columns.values())), name=name)
    for j, label in enumerate(columns):
        wave.set_dimlabel(1, j, label)
    wave.save(str(path))
    return path


def ptfe(frequencies=(1e3, 1e5)):
    return study_from_dict({
        "sample": {"material": "PTFE"}, "tip": {"contact_radius": 20e-9},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": list(frequencies)},
        "mesh": {"refinement": 0.5},
    })


@pytest.mark.serial
def test_csv_in_volts_and_degrees_with_sigmas(tmp_path):
    """A ';'-separated table: amplitude in V times the sensitivity, phase in degrees to rad, a sigma
    column (V) and a numeric phase sigma (deg); the reading keeps each point's line."""
    rows = [[f, a / SENSITIVITY, p, 0.01 * a / SENSITIVITY] for f, a, p in zip(FREQUENCY, AMPLITUDE, PHASE)]
    path = write_csv(tmp_path / "sweep.csv", ["Frequency", "Amp", "Phase", "AmpSigma"], rows, delimiter=";")
    reading = read_channels(ChannelSpec(
        path, frequency="Frequency", amplitude="Amp", phase="Phase", amplitude_unit="V", sensitivity=SENSITIVITY,
        amplitude_sigma="AmpSigma", phase_sigma=0.5,
    ))
    assert reading.format == "csv" and reading.place == "line" and reading.rows.tolist() == [2, 3, 4, 5]
    assert np.allclose(reading.frequency, FREQUENCY) and np.allclose(reading.amplitude, AMPLITUDE, rtol=1e-12)
    assert np.allclose(reading.phase, wrapped(PHASE), rtol=0, atol=1e-12)
    assert np.allclose(reading.amplitude_sigma, 0.01 * AMPLITUDE) and np.allclose(reading.phase_sigma, math.radians(0.5))


@pytest.mark.serial
def test_ibw_labelled_columns_bglib_phase_and_a_single_frequency(tmp_path):
    """An Asylum-style 2-D wave with labelled columns; BGlib's phase (stimsim's + pi) is shifted back and
    wrapped; a number for the frequency reads a single-frequency file."""
    bglib = PHASE + 180.0
    path = write_ibw(tmp_path / "dart.ibw", {"FrequencyRetrace": FREQUENCY, "Amplitude1Retrace": AMPLITUDE / SENSITIVITY,
                                             "Phase1Retrace": bglib})
    spec = ChannelSpec(path, frequency="FrequencyRetrace", amplitude="Amplitude1Retrace", phase="Phase1Retrace",
                       amplitude_unit="V", sensitivity=SENSITIVITY, phase_convention="bglib")
    reading = read_channels(spec)
    assert reading.format == "ibw" and reading.rows.tolist() == [0, 1, 2, 3] and reading.place == "point"
    assert np.allclose(reading.amplitude, AMPLITUDE, rtol=1e-12)
    assert np.allclose(reading.phase, wrapped(PHASE), rtol=0, atol=1e-12)
    single = read_channels(ChannelSpec(path, frequency=2e4, amplitude="Amplitude1Retrace", amplitude_unit="V",
                                       sensitivity=SENSITIVITY))
    assert np.all(single.frequency == 2e4) and single.phase is None


@pytest.mark.serial
def test_a_1d_wave_is_named_by_its_name_and_its_x_scaling_is_a_channel(tmp_path):
    wave = IgorWave(AMPLITUDE, name="Amp")
    wave.set_dimscale("x", 1e3, 500.0, "Hz")
    wave.save(str(tmp_path / "tune.ibw"))
    reading = read_channels(ChannelSpec(tmp_path / "tune.ibw", frequency="x_scaling", amplitude="Amp"))
    assert np.allclose(reading.frequency, [1e3, 1.5e3, 2e3, 2.5e3]) and np.allclose(reading.amplitude, AMPLITUDE)


@pytest.mark.serial
def test_labone_hdf5_gives_r_and_theta_from_x_and_y(tmp_path):
    """LabOne's node tree under a device group: channels found by a trailing part of their path, r and
    theta computed from x and y (detector volts), the frequency node read by default; two demodulators
    make the short name ambiguous."""
    signal = AMPLITUDE / SENSITIVITY * np.exp(1j * np.radians(PHASE))
    with h5py.File(tmp_path / "lockin.h5", "w") as h5:
        for demod in ("0", "1"):
            sample = h5.create_group(f"000/dev1234/demods/{demod}/sample")
            sample["x"], sample["y"] = signal.real, signal.imag
            sample["frequency"], sample["timestamp"] = FREQUENCY, np.arange(4)
    spec = ChannelSpec(tmp_path / "lockin.h5", amplitude="demods/1/sample/r", phase="demods/1/sample/theta",
                       frequency="demods/1/sample/frequency", amplitude_unit="V", sensitivity=SENSITIVITY)
    reading = read_channels(spec)
    assert reading.format == "labone-hdf5"
    assert np.allclose(reading.amplitude, AMPLITUDE, rtol=1e-12) and np.allclose(reading.phase, wrapped(PHASE), atol=1e-12)
    with pytest.raises(InputError, match=r"^data.amplitude = 'r' is not a channel .* computed from the x and y .* holds several"):
        read_channels(ChannelSpec(tmp_path / "lockin.h5", amplitude_unit="V", sensitivity=SENSITIVITY))
    with pytest.raises(InputError, match=r"^data.phase_unit = 'deg', but the phase theta computed from x and y is in rad"):
        read_channels(replace(spec, phase_unit="deg"))


@pytest.mark.serial
def test_labone_csv_is_recognised_and_read_with_its_defaults(tmp_path):
    signal = AMPLITUDE * np.exp(1j * np.radians(PHASE))
    rows = [[0, 100 + i, z.real, z.imag, f, 0.0] for i, (z, f) in enumerate(zip(signal, FREQUENCY))]
    path = write_csv(tmp_path / "dev1234_demods_0_sample_00000.csv", ["chunk", "timestamp", "x", "y", "freq", "phase"],
                     rows, delimiter=";")
    reading = read_channels(ChannelSpec(path))
    assert reading.format == "labone-csv"
    assert np.allclose(reading.frequency, FREQUENCY) and np.allclose(reading.amplitude, AMPLITUDE, rtol=1e-12)
    assert np.allclose(reading.phase, wrapped(PHASE), atol=1e-12)


@pytest.mark.serial
def test_asylum_hdf5_curves_and_datasets_by_path(tmp_path):
    """Asylum's export: a group whose Channels attribute names the rows of its curve datasets; and the
    documented generic layout, 1-D datasets by their path."""
    with h5py.File(tmp_path / "map.h5", "w") as h5:
        group = h5.create_group("ForceMap/0")
        group.attrs["Channels"] = [b"Defl", b"Amp", b"Phase", b"Phas2", b"Freq"]
        group["0:0"] = np.vstack([AMPLITUDE, AMPLITUDE, PHASE, PHASE, FREQUENCY])
        group["Segments"] = np.zeros((1, 1, 3))
        h5["Spectra/drive"], h5["Spectra/amplitude"] = FREQUENCY, AMPLITUDE
    reading = read_channels(ChannelSpec(tmp_path / "map.h5", frequency="Freq", amplitude="0:0/Amp", phase="Phase"))
    assert reading.format == "asylum-hdf5" and np.allclose(reading.phase, wrapped(PHASE), atol=1e-12)
    plain = read_channels(ChannelSpec(tmp_path / "map.h5", format="asylum-hdf5", frequency="Spectra/drive", amplitude="amplitude"))
    assert np.allclose(plain.frequency, FREQUENCY) and np.allclose(plain.amplitude, AMPLITUDE)


@pytest.mark.serial
def test_a_wrong_channel_lists_the_files_names(tmp_path):
    path = write_ibw(tmp_path / "dart.ibw", {"FrequencyRetrace": FREQUENCY, "Amplitude1Retrace": AMPLITUDE})
    with pytest.raises(InputError) as info:
        read_channels(ChannelSpec(path, frequency="FrequencyRetrace", amplitude="Amplitude2Retrace", key="fit.data[0]"))
    assert str(info.value) == (
        "fit.data[0].amplitude = 'Amplitude2Retrace' is not a channel of dart.ibw; did you mean 'Amplitude1Retrace'?; "
        "its channels: FrequencyRetrace, Amplitude1Retrace, x_scaling"
    )


@pytest.mark.serial
def test_unknown_format_unreadable_file_and_bad_values(tmp_path, caplog):
    with pytest.raises(InputError, match=r"^data.format = 'labone_csv' is not accepted; did you mean 'labone-csv'\?"):
        ChannelSpec("x.csv", format="labone_csv")
    (tmp_path / "broken.ibw").write_bytes(b"not a wave")
    with pytest.raises(InputError, match=r"^data.file = '.*broken.ibw' is not readable as an Igor binary wave"):
        read_channels(ChannelSpec(tmp_path / "broken.ibw", frequency="f", amplitude="a"))
    (tmp_path / "data.xyz").write_text("f,a\n1,2\n")
    with pytest.raises(InputError, match=r"^data.format = 'auto' cannot tell the format of 'data.xyz'"):
        read_channels(ChannelSpec(tmp_path / "data.xyz", frequency="f", amplitude="a"))
    with pytest.raises(InputError, match=r"^data.file = '.*none.csv': the file does not exist"):
        read_channels(ChannelSpec(tmp_path / "none.csv", frequency="f", amplitude="a"))
    with pytest.raises(InputError, match=r"^data.sensitivity must be a number in \(0, inf\) m/V"):
        ChannelSpec("a.csv", amplitude_unit="V")
    path = write_csv(tmp_path / "gaps.csv", ["f", "a"], [[1e3, 1e-12], [2e3, ""], [3e3, -1e-12]])
    with pytest.raises(InputError, match=r"^data.amplitude gaps.csv line 4: -1e-12 is not a positive amplitude"):
        read_channels(ChannelSpec(path, frequency="f", amplitude="a"))
    path = write_csv(tmp_path / "gaps.csv", ["f", "a"], [[1e3, 1e-12], [2e3, ""], [3e3, "nan"]])
    with caplog.at_level(logging.WARNING, logger="stimsim"):
        reading = read_channels(ChannelSpec(path, frequency="f", amplitude="a"))
    assert reading.rows.tolist() == [2] and "2 of 3 points of gaps.csv have no value" in caplog.text


def harmonic_tables(folder):
    """A DART-like wave with both harmonics' amplitudes and phases (h1 in V, h2 in m without phase) and
    a CSV at another DC heating; the study's [[fit.data]] tables for them."""
    write_ibw(folder / "dart.ibw", {
        "FrequencyRetrace": FREQUENCY, "Amplitude1Retrace": AMPLITUDE / SENSITIVITY, "Phase1Retrace": PHASE,
        "Amplitude2Retrace": 0.01 * AMPLITUDE,
    })
    write_csv(folder / "heated.csv", ["f", "amp"], [[f, 2 * a] for f, a in zip(FREQUENCY, AMPLITUDE)])
    common = {"file": "dart.ibw", "frequency": "FrequencyRetrace"}
    return [
        common | {"amplitude": "Amplitude1Retrace", "phase": "Phase1Retrace", "amplitude_unit": "V", "sensitivity": SENSITIVITY},
        common | {"amplitude": "Amplitude2Retrace", "harmonic": 2},
        {"file": "heated.csv", "frequency": "f", "amplitude": "amp", "set": {"excitation": {"dc_power": 1e-6}}},
    ]


@pytest.mark.serial
def test_tables_merge_harmonics_and_dc_levels(tmp_path, caplog):
    """Three tables: two harmonics of one wave and a second DC heating level (``set``, nested keys
    become dotted ones); points outside the study's frequencies are left out with a warning; the
    table without a phase has NaN phases."""
    study = with_values(ptfe((1e3, 1e4)), {"fit": {"data": harmonic_tables(tmp_path)}})
    with caplog.at_level(logging.WARNING, logger="stimsim"):
        data = data_from_tables(study, tmp_path)
    assert caplog.text.count("1 of 4 points of") == 3 and "are left out" in caplog.text  # 3e4 Hz
    assert data.harmonic.tolist() == [1, 1, 1, 2, 2, 2, 1, 1, 1]
    assert data.conditions == ({}, {"excitation.dc_power": 1e-6}) and data.condition.tolist() == [0] * 6 + [1] * 3
    assert data.sources == ("fit.data[0] (dart.ibw)", "fit.data[1] (dart.ibw)", "fit.data[2] (heated.csv)")
    assert data.source.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] and data.rows.tolist() == [0, 1, 2] * 2 + [2, 3, 4]
    assert np.allclose(data.amplitude[:3], AMPLITUDE[:3]) and np.allclose(data.amplitude[6:], 2 * AMPLITUDE[:3])
    assert np.allclose(data.phase[:3], wrapped(PHASE[:3])) and np.isnan(data.phase[3:]).all()
    assert np.allclose(data.phase_sigma[:3], 0.01) and np.isnan(data.phase_sigma[3:]).all()
    assert not data.sigma_given and np.allclose(data.amplitude_sigma, 0.01 * data.amplitude)


@pytest.mark.serial
def test_bad_tables_are_refused_naming_the_table(tmp_path):
    tables = harmonic_tables(tmp_path)
    study = ptfe((1e3, 1e4))

    def error(changed: list) -> str:
        with pytest.raises(InputError) as info:
            data_from_tables(with_values(study, {"fit": {"data": changed}}), tmp_path)
        return str(info.value)

    assert error([tables[0] | {"harmonics": 2}]).startswith("fit.data[0].harmonics is not a [[fit.data]] key; did you mean 'harmonic'?")
    assert error([tables[0], tables[2] | {"set": {"excitation.dc_powr": 1.0}}]).startswith(
        "fit.data[1].set names a study key or value the study refuses: excitation.dc_powr is not a known key; did you mean 'dc_power'?")
    assert error([tables[0], tables[0]]) == (
        "fit.data[1] dart.ibw point 0: drive frequency 1000 Hz, harmonic 1 is also at dart.ibw point 0 of fit.data[0] "
        "(dart.ibw); give each point once (average the repeated measurements of one frequency)")
    assert error([tables[0], tables[1] | {"amplitude_sigma": 1e-14}]).startswith(
        "fit.data[0].amplitude_sigma is not given while fit.data[1] gives one")
    assert error([tables[0] | {"harmonic": 0}]).startswith("fit.data[0].harmonic must be a whole number >= 1")
    # LabOne's demodulator frequency of harmonic 2 is twice the drive's: frequency_of = "harmonic" halves it
    halved = data_from_tables(with_values(study, {"fit": {"data": [tables[1] | {"frequency_of": "harmonic"}]}}), tmp_path)
    assert halved.frequency.tolist() == [1.5e3, 5e3]


@pytest.mark.serial
def test_a_table_without_overlap_with_the_studys_frequencies_is_refused(tmp_path):
    tables = harmonic_tables(tmp_path)
    study = with_values(ptfe((1e5, 1e6)), {"fit": {"data": tables[:1]}})
    with pytest.raises(InputError) as info:
        data_from_tables(study, tmp_path)
    assert str(info.value) == (
        "fit.data[0] = dart.ibw: data with no overlap with the study's frequencies: its drive frequencies span 1000 to "
        "30000 Hz, the study's excitation.frequencies span 100000 to 1e+06 Hz"
    )


def test_cli_fits_an_ibw_file_of_fit_data_tables(shared_tmp, capsys):
    """End to end: a DART-like .ibw (amplitude in V, BGlib phase in degrees) made by the model at PTFE's
    thermal conductivity 0.25 W/(m K) (its thermal diffusivity k / (rho c)), fitted from 0.4 through
    ``stimsim fit STUDY -o OUT`` with the data from [[fit.data]]; ``validate`` reads the tables too."""
    comm = MPI.COMM_WORLD
    study_text = PTFE.format(frequencies="1e3, 1e4, 1e5") + "[sample.properties]\nthermal_conductivity = 0.4\n"
    start = study_from_dict({
        "sample": {"material": "PTFE", "properties": {"thermal_conductivity": 0.4}}, "tip": {"contact_radius": 20e-9},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [1e3, 1e4, 1e5]}, "mesh": {"refinement": 0.5},
    })
    with ForwardModel(start, ["thermal_conductivity"], comm) as model:  # same mesh as the fit's: exact data
        y = model.evaluate([0.25]).displacement
    if comm.rank == 0:
        write_ibw(shared_tmp / "dart.ibw", {"FrequencyRetrace": [1e3, 1e4, 1e5], "Amplitude1Retrace": np.abs(y) / SENSITIVITY,
                                            "Phase1Retrace": np.degrees(np.angle(y)) + 180.0})
        (shared_tmp / "ptfe.toml").write_text(
            study_text + '[fit]\nparameters = ["thermal_conductivity"]\n[[fit.data]]\nfile = "dart.ibw"\n'
            'frequency = "FrequencyRetrace"\namplitude = "Amplitude1Retrace"\nphase = "Phase1Retrace"\n'
            f'amplitude_unit = "V"\nsensitivity = {SENSITIVITY!r}\nphase_convention = "bglib"\n'
        )
        (shared_tmp / "typo.toml").write_text(
            study_text + '[[fit.data]]\nfile = "dart.ibw"\nfrequency = "FrequencyRetrace"\namplitude = "Amplitude3Retrace"\n'
        )
    comm.barrier()
    out = shared_tmp / "fit"
    assert main(["fit", str(shared_tmp / "ptfe.toml"), "-o", str(out), "-q"]) == 0
    result = json.loads((out / "fit.json").read_text())
    assert abs(result["parameters"]["thermal_conductivity"]["value"] / 0.25 - 1) < 1e-6
    assert np.allclose([p["phase_deg"] for p in result["points"]], np.degrees(np.angle(y)), atol=1e-9)
    assert main(["validate", str(shared_tmp / "ptfe.toml")]) == 0
    printed = capsys.readouterr().out
    assert main(["validate", str(shared_tmp / "typo.toml")]) == 2
    # DATA on the command line wins over the tables (an INFO line says so); with neither: one line, exit 2
    assert main(["fit", str(shared_tmp / "ptfe.toml"), str(shared_tmp / "none.csv"), "-o", str(shared_tmp / "x")]) == 2
    for emptied in ("fit.data=[]", "fit={}"):
        argv = ["fit", str(shared_tmp / "typo.toml"), "--param", "thermal_conductivity", "--set", emptied, "-o", str(shared_tmp / "y")]
        assert main(argv) == 2
    assert not (shared_tmp / "x").exists() and not (shared_tmp / "y").exists()
    if comm.rank == 0:  # the command prints on rank 0
        lines = capsys.readouterr().err.strip().splitlines()
        assert "fit data 3 points from 1 [[fit.data]] table(s), 1 condition(s)" in printed
        assert lines[0].startswith("stimsim: error: fit.data[0].amplitude = 'Amplitude3Retrace' is not a channel of dart.ibw")
        assert lines[1].endswith("is given: the study's [[fit.data]] tables are not read")
        assert lines[2].startswith("stimsim: error: DATA file") and "none.csv" in lines[2]
        assert lines[3].startswith("stimsim: error: fit.data must be an array of tables")
        assert lines[4].startswith("stimsim: error: DATA is required: give a DATA file") and len(lines) == 5
    # the same tables compared as [[fit.models]]: k fitted, against k held at 0.4 with alpha fitted
    models = '[[fit.models]]\nname = "k"\nparams = ["thermal_conductivity"]\n[[fit.models]]\nname = "alpha"\n' \
             'params = ["thermal_expansion"]\n'
    if comm.rank == 0:
        text = (shared_tmp / "ptfe.toml").read_text().replace('[fit]\nparameters = ["thermal_conductivity"]\n', "")
        (shared_tmp / "models.toml").write_text(text + models)
    comm.barrier()
    assert main(["fit", str(shared_tmp / "models.toml"), "-o", str(shared_tmp / "models"), "-q"]) == 0
    ranked = {row["name"]: row for row in read_rows(shared_tmp / "models" / "models.csv")}
    assert ranked["k"]["preferred"] == "1" and ranked["alpha"]["preferred"] == "0"
