"""Line scans and maps over a 3D sample (stimsim.experiments.scans): their checks, positions and tables, a
homogeneous sample scanned (every position the one tip-centred problem, against the axisymmetric
model), a line scan across a grain boundary (each distinct tip-centred problem solved once, mirror
positions equal), the map's image files (map.gwy, map.h5), resuming a store, the compiled forms reused
from one mesh to the next, and the same table on one and two ranks. Measured numbers are in
docs/guide/experiments.md ('Line scans and maps')."""

import csv
import json
import shutil

import ffcx.codegeneration.jit
import gwyfile
import h5py
import pytest
import tomli_w
from mpi4py import MPI

from stimsim.cli import EXIT_INPUT, main
from stimsim.study.load import derived_study, study_from_dict
from stimsim.core.errors import InputError
from stimsim.experiments.run import check_experiments, output_names, run_experiments
from stimsim.solve.forward import responses
from stimsim.solve.model import HarmonicModel
from stimsim.io.files import RESPONSE_COLUMNS, read_rows
from stimsim.experiments.scans import scan_positions, scan_problems
from stimsim.study.centring import tip_centred
from stimsim.hpc.sweep import ModelCache, evaluate
from stimsim.hpc.store import read_store

RADIUS, FREQUENCY = 20e-9, 1e5
#: Scan half-width: 5 contact radii, far (tens of domain sizes L/200) from the sides at +-L.
STEP = 1e-7
#: Tolerance at refinement 0.25, the coarsest mesh (a cell across the contact: cheap, not accurate;
#: at refinement 0.5 tests/test_threed.py finds off-centre tips within 0.8 % of the axisymmetric
#: model): u1 of every position against the axisymmetric model. Every position of a homogeneous
#: sample is the tip-centred quarter box (measured 2.7 %; with the sample-fixed boxes of before, half
#: boxes were 11 % off and whole boxes 12.5 %).
HOMOGENEOUS = 0.04
#: The instrument of the map: the resonance follows the contact stiffness.
INSTRUMENT = {"resonance_frequency": 3e5, "quality_factor": 50.0, "cantilever_stiffness": 40.0}
RESONANCE = ["contact_stiffness_n_per_m", "resonance_frequency_hz", "resonance_shift_hz"]


def raw_study(**sections) -> dict:
    """Thermoelastic SDC (no mobile ions: cheap) in 3D under a Hertz-weighted tip, coarse mesh."""
    raw = {
        "sample": {"material": "SDC", "properties": {"partial_molar_volume": 0.0}},
        "geometry": {"model": "3d"},
        "tip": {"contact_radius": RADIUS, "weighting": "hertz"},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [FREQUENCY]},
        "mesh": {"refinement": 0.25},
    }
    for section, table in sections.items():
        raw.setdefault(section, {}).update(table)
    return raw


LINE = {"start": [-STEP, 0.0], "end": [STEP, 0.0], "points": 3}
#: A grain boundary along y through the origin whose core conducts heat a tenth as well as the grains:
#: the thermal response u1 sees it (no grain beyond: its two sides alike).
GRAIN = {"grain_boundaries": [{"point": [0.0, 0.0], "normal": [1.0, 0.0], "width": 4e-9,
                               "properties": {"thermal_conductivity": 0.1}}]}
#: A line scan across it: positions at 0, +-d/2 and +-d, three distinct problems.
ACROSS = {"start": [-STEP, 0.0], "end": [STEP, 0.0], "points": 5}
MAP = {"origin": [-STEP, 0.0], "size": [2 * STEP, STEP], "points": [2, 2]}


def write(path, raw) -> None:
    """Write the study ``raw`` to ``path`` on rank 0, once every rank is done with what it held (a rank
    that fails fast must not overwrite a study another rank is still reading) and before any reads it."""
    MPI.COMM_WORLD.barrier()
    if MPI.COMM_WORLD.rank == 0:
        path.write_text(tomli_w.dumps(raw))
    MPI.COMM_WORLD.barrier()


def by_position(rows) -> dict:
    """(x, y) -> {(harmonic, kind): complex displacement} of scan table rows (strings or numbers)."""
    found: dict = {}
    for r in rows:
        key = (float(r["x_m"]), float(r["y_m"]))
        found.setdefault(key, {})[(int(r["harmonic"]), r["kind"])] = complex(float(r["u_real_m"]), float(r["u_imag_m"]))
    return found


# -- checks and positions (no solves) -----------------------------------------------------------


def test_line_and_map_positions():
    line = scan_positions("line_scan", {"start": [-3e-8, 1e-8], "end": [3e-8, 1e-8], "points": 7})
    assert len(line) == 7 and line[0] == (-3e-8, 1e-8) and line[-1] == (3e-8, 1e-8)
    assert line[3] == (0.0, 1e-8)  # on the mirror plane x = 0 exactly (round-off snapped)
    grid = scan_positions("map", {"origin": [0.0, -2e-8], "size": [4e-8, 2e-8], "points": [3, 2]})
    assert grid == [(0.0, -2e-8), (2e-8, -2e-8), (4e-8, -2e-8), (0.0, 0.0), (2e-8, 0.0), (4e-8, 0.0)]  # x fastest


@pytest.mark.parametrize(
    "protocol, changes, words",
    [
        ("line_scan", {"points": 1}, ["protocol.line_scan.points", "[2, 10000]"]),
        ("line_scan", {"points": 2.5}, ["protocol.line_scan.points", "integer"]),
        ("line_scan", {"end": [-STEP, 0.0]}, ["protocol.line_scan.end", "must differ from start"]),
        ("line_scan", {"start": [0.0, 0.0, 0.0]}, ["protocol.line_scan.start", "two values"]),
        ("map", {"points": [1, 3]}, ["protocol.map.points[0]", "[2, 1000]"]),
        ("map", {"points": [2.0, 3]}, ["protocol.map.points[0]", "integer"]),
        ("map", {"size": [-1e-8, 1e-8]}, ["protocol.map.size[0]", "(0, 2) m"]),
        ("map", {"ranks_per_position": 0}, ["protocol.map.ranks_per_position", "[1, "]),
    ],
)
def test_bad_scans_are_refused_by_name_before_any_solve(protocol, changes, words):
    options = (LINE if protocol == "line_scan" else MAP) | changes
    with pytest.raises(InputError) as info:
        check_experiments(study_from_dict(raw_study(protocol={protocol: options})))
    for word in words:
        assert word in str(info.value)


def test_scans_need_3d_and_3d_takes_only_scans():
    with pytest.raises(InputError, match="protocol.line_scan needs geometry.model = '3d'"):
        check_experiments(study_from_dict(raw_study(geometry={"model": "axisymmetric"}, protocol={"line_scan": LINE})))
    sweep = {"dc_series": {"dc_powers": [1e-6]}}
    with pytest.raises(InputError, match="protocol.dc_series is not yet supported with geometry.model = '3d'"):
        check_experiments(study_from_dict(raw_study(protocol=sweep)))


def test_positions_have_no_limit_and_equal_problems_are_counted_once():
    """The box moves with the tip (stimsim.study.centring): positions far beyond the sample-fixed box's
    +-L/2 are accepted; the positions of a homogeneous sample are one problem; across a boundary
    along y, the columns of a map are one problem each and mirror columns one together."""
    far = LINE | {"end": [0.5, 0.0]}  # m: about 30 000 domain sizes away
    check_experiments(study_from_dict(raw_study(protocol={"line_scan": far})))
    positions = scan_positions("map", {"origin": [-STEP, -STEP], "size": [2 * STEP, 2 * STEP], "points": [5, 3]})
    assert scan_problems(study_from_dict(raw_study()), positions)[0] == [0] * 15
    which, problems = scan_problems(study_from_dict(raw_study(geometry=GRAIN)), positions)
    assert which == [0, 1, 2, 1, 0] * 3 and len(problems) == 3


def test_the_command_refuses_bad_run_settings(shared_tmp, capsys):
    path = shared_tmp / "off.toml"
    ranks = raw_study(protocol={"line_scan": LINE | {"ranks_per_position": 3}})
    write(path, ranks)
    assert main(["experiment", str(path), "-o", str(shared_tmp / "off")]) == EXIT_INPUT
    if MPI.COMM_WORLD.rank == 0:
        assert "protocol.line_scan.ranks_per_position = 3 must divide" in capsys.readouterr().err
    series = raw_study(geometry={"model": "axisymmetric"}, protocol={"dc_series": {"dc_powers": [1e-6]}})
    write(path, series)
    assert main(["experiment", str(path), "-o", str(shared_tmp / "off"), "--resume"]) == EXIT_INPUT
    if MPI.COMM_WORLD.rank == 0:
        assert "--resume only continues the positions of line_scan and map protocols" in capsys.readouterr().err


# -- a homogeneous sample scanned ------------------------------------------------------------------


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """A symmetric line scan (-d, 0), (0, 0), (d, 0) and a 2 x 2 map from (-d, 0) to (d, d) run by
    ``stimsim experiment`` (under mpiexec -n 2: two groups of one rank)."""
    folder = tmp_path_factory.mktemp("scans") if MPI.COMM_WORLD.rank == 0 else None
    folder = MPI.COMM_WORLD.bcast(folder, root=0)
    path = folder / "scan.toml"
    write(path, raw_study(protocol={"line_scan": LINE, "map": MAP}, instrument=INSTRUMENT))
    assert main(["experiment", str(path), "-o", str(folder / "out"), "-q"]) == 0
    return path, folder / "out"


@pytest.fixture(scope="module")
def axisymmetric():
    raw = raw_study(geometry={"model": "axisymmetric"})
    with HarmonicModel(study_from_dict(raw), MPI.COMM_WORLD) as model:
        return {(r.harmonic, r.kind): r.displacement for r in responses(model, FREQUENCY)}


def test_scan_tables_have_the_position_and_the_response_columns(scanned):
    _, out = scanned
    for name in ("line_scan", "map"):
        assert (out / f"{name}.png").stat().st_size > 0
    assert (out / "experiment.nc").stat().st_size > 0
    with open(out / "line_scan.csv") as stream:
        header = next(csv.reader(stream))
    assert header == ["x_m", "y_m", "distance_m", *RESPONSE_COLUMNS, *RESONANCE]
    rows = read_rows(out / "line_scan.csv")
    assert [(float(r["x_m"]), float(r["distance_m"])) for r in rows[::2]] == [(-STEP, 0.0), (0.0, STEP), (STEP, 2 * STEP)]
    assert [(r["harmonic"], r["kind"]) for r in rows] == [("1", "thermal"), ("2", "ionic")] * 3  # as response.csv
    grid = read_rows(out / "map.csv")
    with open(out / "map.csv") as stream:
        header = next(csv.reader(stream))
    assert header == ["x_m", "y_m", *RESPONSE_COLUMNS, *RESONANCE]
    assert [(float(r["x_m"]), float(r["y_m"])) for r in grid[::2]] == [(-STEP, 0.0), (STEP, 0.0), (-STEP, STEP), (STEP, STEP)]
    # a homogeneous sample: the contact stiffness and so the resonance are the same everywhere
    assert {float(r["resonance_shift_hz"]) for r in grid} == {0.0}
    assert {float(r["resonance_frequency_hz"]) for r in grid} == {INSTRUMENT["resonance_frequency"]}


def test_the_map_images_hold_its_channels(scanned):
    """map.gwy and map.h5 beside map.csv: Amplitude/Phase of harmonics 1 and 2 and the contact resonance
    Frequency, the values of map.csv (row 0 of the Gwyddion image at the largest y, map.h5 [x, y] from the top)."""
    _, out = scanned
    fields = gwyfile.util.get_datafields(gwyfile.load(str(out / "map.gwy")))
    assert list(fields) == ["Amplitude1", "Phase1", "Amplitude2", "Phase2", "Frequency"]
    grid = {(float(r["x_m"]), float(r["y_m"]), r["harmonic"]): r for r in read_rows(out / "map.csv")}
    with h5py.File(out / "map.h5", "r") as h5:
        nsid = h5["Measurement_000/Channel_000/Amplitude1/Amplitude1"][()]
        assert h5["Measurement_000/Channel_004/Frequency/Frequency"].attrs["units"] == "Hz"
    for row, y in enumerate((STEP, 0.0)):
        for column, x in enumerate((-STEP, STEP)):
            for name, column_name, harmonic in (("Amplitude1", "amplitude_m", "1"), ("Phase2", "phase_deg", "2")):
                assert fields[name].data[row, column] == float(grid[(x, y, harmonic)][column_name]), (name, x, y)
            assert nsid[column, row] == float(grid[(x, y, "1")]["amplitude_m"])
    assert fields["Frequency"].data.tolist() == [[INSTRUMENT["resonance_frequency"]] * 2] * 2
    # they are this run's files: a run into the same OUTDIR replaces them without --overwrite
    assert {"map.csv", "map.gwy", "map.h5"} <= set(output_names(study_from_dict(raw_study(protocol={"map": MAP}))))


def test_a_homogeneous_sample_is_one_tip_centred_problem(scanned, axisymmetric):
    """Every position of both scans is the centred problem, solved once per scan: the same rows, within
    HOMOGENEOUS of the axisymmetric model (u1; the ionic row zero)."""
    _, out = scanned
    reference = axisymmetric[(1, "thermal")]
    found = by_position(read_rows(out / "line_scan.csv")) | by_position(read_rows(out / "map.csv"))
    assert len(found) == 5
    assert len({tuple(rows.items()) for rows in found.values()}) == 1
    for position, rows in found.items():
        assert abs(rows[(1, "thermal")] - reference) < HOMOGENEOUS * abs(reference), position
        assert rows[(2, "ionic")] == 0
    for name in ("line_scan", "map"):
        assert [row["status"] for row in read_store(out / f"{name}.store")[1]] == ["ok"]


@pytest.fixture(scope="module")
def across(tmp_path_factory):
    """The line scan ACROSS the boundary GRAIN, run by ``stimsim experiment`` (under mpiexec -n 2: two
    groups of one rank): (its output folder, its table rows by position)."""
    folder = tmp_path_factory.mktemp("across") if MPI.COMM_WORLD.rank == 0 else None
    folder = MPI.COMM_WORLD.bcast(folder, root=0)
    path = folder / "across.toml"
    write(path, raw_study(geometry=GRAIN, protocol={"line_scan": ACROSS}))
    assert main(["experiment", str(path), "-o", str(folder / "out"), "-q"]) == 0
    return folder / "out", by_position(read_rows(folder / "out" / "line_scan.csv"))


def test_a_scan_across_a_boundary_solves_each_distinct_problem_once(across):
    """Five positions, three problems (the boundary under the tip, d/2 and d from it): the store holds
    three samples, mirror positions have equal rows, and u1 is highest with the boundary under the tip
    (a core conducting a tenth as well; measured against the homogeneous quarter box: +3.4 % at 0,
    -3.2 % at d/2 and -3.7 % at d, the half boxes' coarse-mesh difference included)."""
    out, found = across
    assert [row["status"] for row in read_store(out / "line_scan.store")[1]] == ["ok"] * 3
    assert sorted(found) == [(x * STEP / 2, 0.0) for x in (-2, -1, 0, 1, 2)]
    for d in (STEP / 2, STEP):
        assert found[(-d, 0.0)] == found[(d, 0.0)]
    u1 = {x: abs(rows[(1, "thermal")]) for (x, _), rows in found.items()}
    assert u1[0.0] > u1[STEP / 2] > u1[STEP]


def test_resume_solves_only_the_problems_not_stored(across):
    """A scan killed after two of its three problems (the store's last samples.csv row gone) is completed
    by --resume, solving one problem, with the same table; without --resume it is refused."""
    out, before = across
    path = out.parent / "across.toml"
    again = out.parent / "again"
    store = again / "line_scan.store"
    if MPI.COMM_WORLD.rank == 0:
        shutil.copytree(out / "line_scan.store", store)
        lines = (store / "samples.csv").read_text().splitlines(keepends=True)
        (store / "samples.csv").write_text("".join(lines[:-1]))
    MPI.COMM_WORLD.barrier()
    command = ["experiment", str(path), "-o", str(again), "-q", "--protocol", "line_scan"]
    assert main(command) == EXIT_INPUT
    assert main([*command, "--resume"]) == 0
    runs = json.loads((store / "provenance.json").read_text())["runs"]
    assert [run["new_samples"] for run in runs] == [3, 1]
    after = by_position(read_rows(again / "line_scan.csv"))
    assert sorted(after) == sorted(before)
    for position, rows in after.items():
        for key, value in rows.items():
            assert abs(value - before[position][key]) <= 1e-9 * abs(value), (position, key)


def test_the_compiled_forms_serve_every_mesh(monkeypatch, scanned):
    """The forms of another mesh (a sample-fixed box with the tip off the centre: a whole box) are those
    of the tip-centred quarter box: every compiled module it asks for was asked for by the first (none
    compiled for it). And the scan's rows are those of the tip-centred solve."""
    requested = []
    compile_forms = ffcx.codegeneration.jit.compile_forms

    def recording(forms, *args, **kwargs):
        found = compile_forms(forms, *args, **kwargs)
        requested[-1].add(found[1].__name__)
        return found

    monkeypatch.setattr(ffcx.codegeneration.jit, "compile_forms", recording)
    cache = ModelCache(MPI.COMM_WORLD)
    study = derived_study(study_from_dict(raw_study()), {"tip.position": [STEP, STEP]})
    scanned_rows = by_position(read_rows(scanned[1] / "map.csv"))[(STEP, STEP)]
    try:
        for here in (tip_centred(study), study):
            requested.append(set())
            evaluate(here, MPI.COMM_WORLD, cache)
        for r in evaluate(tip_centred(study), MPI.COMM_WORLD, cache)[0]:
            expected = scanned_rows[(r.harmonic, r.kind)]
            assert abs(r.displacement - expected) <= 1e-9 * abs(r.displacement), r.kind
    finally:
        cache.drop_model()
    assert requested[0] and requested[1] <= requested[0]


def test_one_and_two_ranks_give_the_same_scan(across, shared_tmp):
    """Under mpiexec -n 2: the scan across the boundary solved by one group of two ranks equals the
    fixture's, solved by two groups of one rank."""
    if MPI.COMM_WORLD.size == 1:
        pytest.skip("needs mpiexec -n 2")
    _, serial = across
    study = study_from_dict(raw_study(geometry=GRAIN, protocol={"line_scan": ACROSS | {"ranks_per_position": 2}}))
    table = run_experiments(study, MPI.COMM_WORLD, folder=shared_tmp / "pair", quiet=True)[0]
    together = by_position(table.rows)
    assert sorted(together) == sorted(serial)
    for position, rows in together.items():
        for key, value in rows.items():
            assert abs(value - serial[position][key]) <= 1e-8 * abs(serial[position][(1, "thermal")]), (position, key)


def test_what_a_scan_does_not_use_is_said_and_its_cost_estimated(caplog):
    """tip.position beside a scan warns (the scan moves the tip); a scan shorter than a contact cell
    warns that its contrast is the meshes'; the cost line counts the positions before any mesh."""
    from stimsim.experiments.scans import scan_cost

    short = LINE | {"end": [-STEP + 1e-12, 0.0]}
    study = study_from_dict(raw_study(tip={"position": [0.0, 0.0]}, protocol={"line_scan": short}))
    check_experiments(study)
    assert "tip.position = [0.0, 0.0] m is not used by line_scan and map" in caplog.text
    assert "protocol.line_scan spans 1e-12 m, less than the" in caplog.text
    line, total = scan_cost(study, "map", [(0.0, 0.0)] * 1000)
    assert line.startswith("protocol.map: 1000 positions, 1000 distinct problems of about") and total > 0
    positions = scan_positions("line_scan", ACROSS)  # the centred quarter box and two half boxes
    line, each = scan_cost(study, "line_scan", positions, scan_problems(study_from_dict(raw_study(geometry=GRAIN)), positions)[1])
    dofs = [int(n) for n in line.split("problems of about ")[1].split(" DOFs")[0].split("-")]
    assert line.startswith("protocol.line_scan: 5 positions, 3 distinct problems") and dofs[1] > 1.5 * dofs[0]
