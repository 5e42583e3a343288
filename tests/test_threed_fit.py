"""Fits in 3D: a grain boundary's core diffusivity as an in-place parameter with a tangent-linear
derivative, a line scan's positions as measurement conditions (DATA.csv columns x_m, y_m), and a fit
of the hidden core diffusivity from a synthetic noisy scan across the boundary. The full-size version
with its numbers: benchmarks/fit3d.py."""

import numpy as np
import pytest
from mpi4py import MPI

from stimsim.core.errors import InputError
from stimsim.fem.coefficients import in_place
from stimsim.inverse.data import Data, data_from_tables, read_data
from stimsim.inverse.fit import JointModel, fit_options, fit_with
from stimsim.inverse.forward_model import ForwardModel
from stimsim.study.load import study_from_dict

KEY = "geometry.grain_boundaries[0].properties.diffusivity"
TRUTH, START = 4e-9, 2e-9
FREQUENCY = 1e5
#: Two positions of a scan across the core (x = 0): the tip's edge on it (a half box) and the tip on
#: it (a quarter box); refinement 0.15, about 3 800 DOFs each.
POSITIONS = ([-20e-9, 0.0], [0.0, 0.0])


def raw_study() -> dict:
    """Ionic SDC with a grain boundary at x = 0 whose 4 nm core's diffusivity starts at :data:`START`."""
    return {
        "sample": {"material": "SDC", "properties": {"diffusivity": 4e-10}},
        "geometry": {"model": "3d", "grain_boundaries": [
            {"point": [0.0, 0.0], "normal": [1.0, 0.0], "width": 4e-9, "properties": {"diffusivity": START}}]},
        "tip": {"contact_radius": 20e-9},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [FREQUENCY]},
        "mesh": {"refinement": 0.15},
        "fit": {"parameters": [KEY]},
    }


def scan_data(values: np.ndarray) -> Data:
    """Harmonics 1 and 2 at each of :data:`POSITIONS` with the complex ``values`` (m), amplitude sigmas not given."""
    count = len(values)
    return Data(frequency=np.full(count, FREQUENCY), harmonic=np.tile([1, 2], len(POSITIONS)), amplitude=np.abs(values),
                phase=np.angle(values), amplitude_sigma=0.01 * np.abs(values), phase_sigma=np.full(count, 0.01),
                sigma_given=False, rows=np.arange(count), condition=np.repeat(np.arange(len(POSITIONS)), 2),
                conditions=tuple({"tip.position": p} for p in POSITIONS))


def test_a_core_property_is_an_in_place_key_and_its_geometry_is_not():
    assert in_place(KEY) and in_place("geometry.grain_boundaries[2].beyond_properties.youngs_modulus")
    assert not in_place("geometry.grain_boundaries[0].width") and not in_place("geometry.grain_boundaries[0].point")


@pytest.fixture(scope="module")
def scan_model():
    """The joint model of the two positions at the start value, and its prediction at the truth."""
    study = study_from_dict(raw_study())
    model = JointModel(study, [KEY], scan_data(np.ones(2 * len(POSITIONS), dtype=complex)), MPI.COMM_WORLD, "fit.parameters")
    truth = model.predict([TRUTH])[0]
    yield study, model, truth
    model.destroy()


# serial: suite time (~12 s); the distributed 3D solve is covered by test_threed.py's
# test_one_and_two_ranks_give_the_same_3d_answer, the joint fit over MPI by tests/test_inverse.py
@pytest.mark.serial
def test_the_core_tangent_agrees_with_a_central_difference(scan_model):
    """d u / d D_core by the tangent-linear solves against a central difference (relative step 1e-3) of
    two evaluations, at both positions and harmonics (measured 5e-8 of the largest); the evaluations
    keep each position's mesh."""
    _, model, _ = scan_model
    rebuilds = model.rebuilds
    y, dy = model.predict([TRUTH], derivatives=True)
    assert set(model.methods.values()) == {"tangent-linear"}
    h = 1e-3 * TRUTH
    difference = (model.predict([TRUTH + h])[0] - model.predict([TRUTH - h])[0]) / (2 * h)
    assert np.abs(dy[:, 0] - difference).max() <= 1e-4 * np.abs(difference).max()
    assert np.abs(difference[1::2]).min() > 0.03 * np.abs(y[1::2]).min() / TRUTH  # the ionic harmonic feels the core
    assert model.rebuilds == rebuilds


@pytest.mark.serial
def test_a_hidden_core_diffusivity_is_recovered_from_a_noisy_scan(scan_model):
    """1 % complex noise on the two positions' harmonics 1 and 2; the fit from half the truth recovers it
    within its 95 % interval (errors scaled by the scatter), every position on its own mesh, no rebuild."""
    study, model, truth = scan_model
    rng = np.random.default_rng(7)
    noise = 0.01 * (rng.standard_normal(truth.size) + 1j * rng.standard_normal(truth.size)) / np.sqrt(2)
    data = scan_data(truth * (1 + noise))
    rebuilds = model.rebuilds
    result = fit_with(model, data, fit_options(study), start=[START])
    estimate = result.parameters[0]
    low, high = estimate.interval_95
    assert result.converged and low <= TRUTH <= high and estimate.derivative == "tangent-linear"
    assert 0 < estimate.stderr < 0.2 * TRUTH
    assert {p.condition for p in result.points} == {"tip.position=[-2e-08, 0.0]", "tip.position=[0.0, 0.0]"}
    assert model.rebuilds == rebuilds


def test_a_scan_table_gives_a_condition_per_position(tmp_path):
    """DATA.csv with x_m and y_m (a line_scan.csv): one condition {'tip.position': [x, y]} per position,
    the total row of each harmonic; a position's point given twice and x_m alone are refused."""
    header = "x_m,y_m,distance_m,drive_frequency_hz,harmonic,kind,amplitude_m,phase_deg\n"
    rows = ["-2e-08,0.0,0.0,100000.0,1,thermal,4e-12,-5",
            "-2e-08,0.0,0.0,100000.0,2,ionic,1e-14,-150",
            "0.0,0.0,2e-08,100000.0,1,thermal,3.9e-12,-5",
            "0.0,0.0,2e-08,100000.0,2,thermal,1e-15,10",
            "0.0,0.0,2e-08,100000.0,2,ionic,1e-14,-150",
            "0.0,0.0,2e-08,100000.0,2,total,1.1e-14,-145"]
    path = tmp_path / f"scan-{MPI.COMM_WORLD.rank}.csv"
    path.write_text(header + "\n".join(rows) + "\n")
    data = read_data(path)
    assert data.conditions == ({"tip.position": [-2e-8, 0.0]}, {"tip.position": [0.0, 0.0]})
    assert data.condition.tolist() == [0, 0, 1, 1] and data.amplitude.tolist() == [4e-12, 1e-14, 3.9e-12, 1.1e-14]
    path.write_text(header + "\n".join(rows[:2] + rows[1:2]) + "\n")
    with pytest.raises(InputError, match=r"rows 3 and 4: frequency 100000 Hz, harmonic 2 at tip.position \[-2e-08, 0.0\]"):
        read_data(path)
    path.write_text("x_m,drive_frequency_hz,harmonic,amplitude_m\n0.0,1e5,1,1e-12\n")
    with pytest.raises(InputError, match="has the column x_m alone: a tip position needs both x_m and y_m"):
        read_data(path)


def test_fit_data_tables_set_the_tip_position_of_their_points(tmp_path):
    """[[fit.data]] tables with set = { "tip.position" = [x, y] }: a condition per position (a file each);
    a position off the sample is refused naming the table's set."""
    folder = tmp_path / f"rank-{MPI.COMM_WORLD.rank}"
    folder.mkdir()
    tables = []
    for i, position in enumerate(POSITIONS):
        (folder / f"p{i}.csv").write_text("freq,amp2\n100000.0,1e-14\n")
        tables.append({"file": f"p{i}.csv", "frequency": "freq", "amplitude": "amp2", "harmonic": 2,
                       "set": {"tip.position": position}})
    data = data_from_tables(study_from_dict(raw_study() | {"fit": {"data": tables}}), folder)
    assert data.conditions == tuple({"tip.position": p} for p in POSITIONS) and data.condition.tolist() == [0, 1]
    tables[1]["set"] = {"tip": {"position": [1.0, 0.0]}}
    with pytest.raises(InputError, match=r"fit.data\[1\].set names a study key or value the study refuses: tip.position x = 1"):
        data_from_tables(study_from_dict(raw_study() | {"fit": {"data": tables}}), folder)


def test_a_3d_forward_model_writes_a_core_change_in_place():
    """ForwardModel on a 3D study (also under MPI: a distributed mesh): a change of the core's Young's
    modulus keeps the model and its mesh, and gives what a model built for it gives (the change: 2e-4 of
    u1 for a 4 nm core under the tip). Cheap: no ions, coarse, no derivatives."""
    raw = raw_study() | {"mesh": {"refinement": 0.25}, "fit": {}}
    raw["sample"] = {"material": "SDC", "properties": {"partial_molar_volume": 0.0}}
    raw["geometry"]["grain_boundaries"][0]["properties"] = {"youngs_modulus": 140e9}
    key = "geometry.grain_boundaries[0].properties.youngs_modulus"
    with ForwardModel(study_from_dict(raw), [key], MPI.COMM_WORLD) as model:
        first = model.evaluate([140e9]).displacement
        second = model.evaluate([60e9]).displacement
        assert model.rebuilds == 1 and model.methods == {key: "tangent-linear"}
    raw["geometry"]["grain_boundaries"][0]["properties"] = {"youngs_modulus": 60e9}
    with ForwardModel(study_from_dict(raw), [key], MPI.COMM_WORLD) as fresh:
        built = fresh.evaluate().displacement
    assert np.abs(second - built).max() <= 1e-10 * abs(built[0]) < 1e-2 * abs(second[0] - first[0])
