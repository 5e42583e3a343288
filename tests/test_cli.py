"""Command line: outputs of ``stimsim run``, clear errors with non-zero exit and nothing half-written."""

import math
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh
from mpi4py import MPI

from stimsim.physics import analytic
from stimsim.cli import EXIT_INPUT, main
from stimsim.core.errors import SolverError
from stimsim.io.files import RESPONSE_COLUMNS, read_rows
from stimsim.solve.direct import DirectSolver

from conftest import ROOT

DEFAULT = ROOT / "studies" / "default.toml"
QUICK = ["--set", "excitation.frequencies=[1e4, 1e6]", "--set", "sample.properties.partial_molar_volume=0.0"]


def test_run_writes_response_study_and_plot(shared_tmp, capsys):
    outdir = shared_tmp / "out"
    assert main(["run", str(DEFAULT), *QUICK, "-o", str(outdir)]) == 0
    if MPI.COMM_WORLD.rank == 0:
        assert sorted(p.name for p in outdir.iterdir()) == [
            "periodic.csv", "response.csv", "response.png", "study.toml", "validity.csv"
        ]
        rows = read_rows(outdir / "response.csv")
        assert tuple(rows[0]) == RESPONSE_COLUMNS
        assert [(float(r["drive_frequency_hz"]), r["harmonic"], r["kind"]) for r in rows] == [
            (1e4, "1", "thermal"), (1e4, "2", "ionic"), (1e6, "1", "thermal"), (1e6, "2", "ionic")
        ]
        # the CSV carries the physics: compare with the half-space solution at 1 MHz (ions off)
        row = rows[2]
        u = complex(float(row["u_real_m"]), float(row["u_imag_m"]))
        assert float(row["amplitude_m"]) == pytest.approx(abs(u), rel=1e-12, abs=0)
        assert float(row["phase_deg"]) == pytest.approx(math.degrees(np.angle(u)), abs=1e-9)
        exact = analytic.halfspace_displacement(1e-6, 20e-9, 2.0, 2.0 / (7160 * 380), 12e-6, 0.3, 2 * math.pi * 1e6)
        assert abs(u - exact) / abs(exact) < 1e-2
        assert "thermal" in capsys.readouterr().out
    # the resolved study runs again to the same numbers
    again = shared_tmp / "again"
    assert main(["run", str(outdir / "study.toml"), "-o", str(again), "-q"]) == 0
    if MPI.COMM_WORLD.rank == 0:
        first, second = read_rows(outdir / "response.csv"), read_rows(again / "response.csv")
        assert [r["u_real_m"] for r in first] == [r["u_real_m"] for r in second]


@pytest.mark.serial  # printing on rank 0; runs under MPI in test_run_writes_response_study_and_plot
def test_run_prints_small_amplitudes_to_four_significant_digits(tmp_path, capsys):
    """At 1 MHz the default sample's ionic u_2 is about 3e-5 pm: the printed table gives every |u| and
    |T| of response.csv to four significant digits (a fixed number of decimals printed it as 0)."""
    settings = ["mesh.refinement=0.15", "excitation.frequencies=[1e6]"]
    assert main(["run", str(DEFAULT), *(a for s in settings for a in ("--set", s)), "-o", str(tmp_path)]) == 0
    printed = [line.split() for line in capsys.readouterr().out.splitlines() if line.split()[2:3] in (["thermal"], ["ionic"])]
    rows = read_rows(tmp_path / "response.csv")
    assert len(printed) == len(rows) == 2
    for line, row in zip(printed, rows):
        assert line[2] == row["kind"]
        for shown, value in ((float(line[3]), 1e12 * float(row["amplitude_m"])), (float(line[5]), float(row["temperature_amplitude_k"]))):
            assert shown == pytest.approx(value, rel=5e-4, abs=0)
    assert 0 < float(printed[1][3]) < 1e-4


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--set", "sample.properties.poisson_ratio=0.5"], "sample.properties.poisson_ratio = 0.5 is outside the accepted range (-1, 0.499)"),
        (["--set", "tip.contact_radius=1e-6", "--set", "mesh.domain_size=2e-6"], "tip.contact_radius = 1e-06 m must be below"),
        (["--set", "excitation.frequencies=[]"], "excitation.frequencies must be a non-empty list"),
        (["--set", "tip.colour=1"], "tip.colour is not a known key"),
    ],
)
def test_bad_input_exits_nonzero_with_one_line_and_no_output(shared_tmp, capsys, arguments, message):
    outdir = shared_tmp / "never"
    assert main(["run", str(DEFAULT), *arguments, "-o", str(outdir)]) == EXIT_INPUT
    if MPI.COMM_WORLD.rank == 0:
        err = capsys.readouterr().err
        assert err.startswith("stimsim: error: ") and message in err and err.count("\n") == 1
    assert not outdir.exists()


def test_missing_study_file(shared_tmp, capsys):
    assert main(["validate", str(shared_tmp / "missing.toml")]) == EXIT_INPUT
    if MPI.COMM_WORLD.rank == 0:
        assert "does not exist" in capsys.readouterr().err


@pytest.mark.serial
def test_console_script_info_and_exit_status(tmp_path):
    env = dict(os.environ)
    run = [sys.executable, "-m", "stimsim.cli"]
    info = subprocess.run([*run, "info"], capture_output=True, text=True, env=env, check=True)
    assert "complex128" in info.stdout and "MPI ranks 1" in info.stdout
    bad = subprocess.run([*run, "run", str(DEFAULT), "--set", "sample.properties.thermal_conductivity=-1"], capture_output=True, text=True, env=env)
    assert bad.returncode == EXIT_INPUT
    assert "Traceback" not in bad.stderr and "thermal_conductivity" in bad.stderr


def test_validate_prints_the_resolved_study(capsys):
    assert main(["validate", str(DEFAULT)]) == 0
    if MPI.COMM_WORLD.rank == 0:
        out = capsys.readouterr().out
        assert "youngs_modulus = 200000000000.0" in out and "# valid" in out


def test_mesh_export_with_meshio(shared_tmp):
    path = shared_tmp / "mesh.vtu"
    assert main(["mesh", str(DEFAULT), "-o", str(path)]) == 0
    if MPI.COMM_WORLD.rank == 0:
        import meshio

        exported = meshio.read(path)
        assert exported.points[:, 0].max() > 1000  # in units of the contact radius
        assert "triangle" in exported.cells_dict


def test_singular_system_is_reported_not_returned():
    domain = mesh.create_unit_square(MPI.COMM_WORLD, 4, 4)
    V = fem.functionspace(domain, ("Lagrange", 1))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    singular = fem.form(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)  # pure Neumann: constant null space
    solver = DirectSolver(singular, [], "pure_neumann")
    with pytest.raises(SolverError, match="singular"):
        solver.factorize()
        solver.solve(fem.form(ufl.inner(fem.Constant(domain, 1.0 + 0j), v) * ufl.dx), fem.Function(V))
    solver.destroy()


def test_later_solves_on_a_checked_factorization_are_still_checked():
    """The backward error is checked on a factorisation's first solve only; a later solve that returns
    NaN (here from a NaN load) must still raise, on every rank."""
    domain = mesh.create_unit_square(MPI.COMM_WORLD, 4, 4)
    V = fem.functionspace(domain, ("Lagrange", 1))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    operator = fem.form((ufl.inner(ufl.grad(u), ufl.grad(v)) + ufl.inner(u, v)) * ufl.dx)
    load = fem.Constant(domain, 1.0 + 0j)
    solver = DirectSolver(operator, [], "screened")
    solver.factorize()
    solution = fem.Function(V)
    solver.solve(fem.form(ufl.inner(load, v) * ufl.dx), solution)
    assert solver.backward_error_checked and np.allclose(solution.x.array, 1.0)  # u = 1 solves -u'' + u = 1
    load.value = np.nan
    with pytest.raises(SolverError, match="not finite"):
        solver.solve(fem.form(ufl.inner(load, v) * ufl.dx), solution)
    solver.destroy()


def test_rank_zero_failures_are_reported_on_every_rank(shared_tmp, monkeypatch, capsys):
    """File and gmsh work happens on rank 0 only; its failures must not leave other ranks waiting."""
    assert main(["mesh", str(DEFAULT), "-o", str(shared_tmp / "mesh.unknown-format")]) == EXIT_INPUT
    blocked = shared_tmp / "blocked"
    if MPI.COMM_WORLD.rank == 0:
        (blocked / "response.csv").mkdir(parents=True)
    MPI.COMM_WORLD.barrier()
    assert main(["run", str(DEFAULT), *QUICK, "-o", str(blocked), "-q"]) == EXIT_INPUT
    if MPI.COMM_WORLD.rank == 0:
        assert sorted(p.name for p in blocked.iterdir()) == ["response.csv"]  # nothing moved in
        assert "is a folder" in capsys.readouterr().err
    monkeypatch.setenv("STIMSIM_CACHE_DIR", "/proc/stimsim-cannot-write-here")
    assert main(["mesh", str(DEFAULT), "--set", "tip.contact_radius=21e-9", "-o", str(shared_tmp / "m.vtu")]) == EXIT_INPUT


# -- issue 13: refusals instead of nonsense, validate checks everything, mesh formats, outputs -----------

PROTOCOL_STUDY = """
[sample]
material = "SDC"
[tip]
contact_radius = 20e-9
[excitation]
mode = "power"
power_amplitude = 1e-6
frequencies = [1e4]
"""
FILM_STUDY = """
[sample]
material = "PTFE"
[geometry]
kind = "film"
film_thickness = 200e-9
substrate = "Si"
[tip]
contact_radius = 20e-9
[excitation]
mode = "power"
power_amplitude = 2e-5
frequencies = [1e4]
"""
FILES = {
    "unknown_protocol.toml": PROTOCOL_STUDY + "[protocol.resonance_sweeep]\npoints = 11\n",
    "no_instrument.toml": PROTOCOL_STUDY + "[protocol.resonance_sweep]\npoints = 11\n",
    "fit_typo.toml": PROTOCOL_STUDY + '[fit]\nparamters = ["diffusivity"]\n',
    "fit_name.toml": PROTOCOL_STUDY + '[fit]\nparameters = ["difusivity"]\n',
    "sweep_axis.toml": PROTOCOL_STUDY + '[sweep.axes]\n"tip.contact_raduis" = [1e-8, 2e-8]\n',
    "sweep_key.toml": PROTOCOL_STUDY + '[sweep]\nmod = "grid"\n[sweep.axes]\n"tip.contact_radius" = [1e-8]\n',
    "dc_series_hot.toml": PROTOCOL_STUDY + "[protocol.dc_series]\ndc_powers = [1e-6, 1.0]\n",
    "modulation_ptfe.toml": PROTOCOL_STUDY.replace("SDC", "PTFE")
    + "[protocol.modulation]\nmodulation_frequencies = [10.0]\ndc_power_amplitude = 0.0\n",
    "film.toml": FILM_STUDY,
    "ptfe_3d_design.toml": PROTOCOL_STUDY.replace("SDC", "PTFE").replace("[tip]", '[geometry]\nmodel = "3d"\n[tip]')
    + '[design]\ntarget = "thermal_conductivity"\n',
    "afile": "",
}
D = str(DEFAULT)
CERIA, GRAIN, LINE = (str(ROOT / "studies" / f"{name}.toml") for name in ("ceria_vacancies_electrons", "grain_boundary_3d", "line_scan_3d"))
BAD = [
    # class 1: nonsense refused, in every mode
    (["run", D, "--set", 'sample.material="PTFE"', "--set", "sample.properties.thermal_conductivity=0.25",
      "--set", "excitation.power_amplitude=10e-3"], "excitation.power_amplitude = 0.01 W makes the tip temperature oscillate"),
    (["run", D, "--set", "excitation.power_amplitude=1e-3"], "below 0 K"),
    (["run", D, "--set", "excitation.dc_power=1.0"], "excitation.dc_power = 1 W heats the tip to"),
    (["run", "{tmp}/film.toml"], "solved at 10000 Hz): it would fall below 0 K"),
    (["experiment", "{tmp}/dc_series_hot.toml"], "protocol.dc_series.dc_powers (at a DC heating power of 1 W) heats the tip"),
    (["fit", D, D, "--set", 'sample.material="PTFE"', "--param", "diffusivity"], "this study has no mobile ions"),
    (["fit", D, D, "--param", "activation_energy", "--set", "sample.properties.activation_energy=0"], "= 0 cannot start a fit"),
    (["design", "{tmp}/ptfe_3d_design.toml"],
     "design (measurement designs) is not yet supported with geometry.model = '3d' (fits, sweeps and scans are)"),
    (["fit", D, D, "--param", "excitation.heater_temperature_coefficient"],
     "excitation.mode = 'power' does not use excitation.heater_temperature_coefficient (excitation.mode 'joule' does)"),
    (["run", D, "--set", 'solver.periodic="time_domain"', "--set", "solver.periods=2", "--set", "solver.steps_per_period=8"],
     "solver.steps_per_period = 8 cannot resolve harmonic 4 (H, from the default"),
    (["validate", D, "--set", "solver.periods=6"],
     "solver.periods is used only by solver.periodic = 'time_domain' (here 'auto', which does not step in time)"),
    (["validate", D, "--set", 'solver.periodic="time_domain"', "--set", "solver.harmonics=3", "--set", "solver.steps_per_period=23"],
     "needs at least 8 steps per period of the highest reported harmonic, 24 here"),
    # class 2: validate runs every check
    (["validate", "{tmp}/unknown_protocol.toml"], "protocol.resonance_sweeep is not a protocol; did you mean 'resonance_sweep'?"),
    (["validate", "{tmp}/no_instrument.toml"], "instrument is required by the protocols"),
    (["validate", "{tmp}/fit_typo.toml"], "fit.paramters is not a [fit] key; did you mean 'parameters'?"),
    (["validate", "{tmp}/fit_name.toml"], "fit.parameters = 'difusivity' is not a fit parameter; did you mean 'diffusivity'?"),
    (["validate", "{tmp}/sweep_axis.toml"], "sweep.axes.tip.contact_raduis is not a study key; did you mean 'contact_radius'?"),
    (["validate", "{tmp}/sweep_key.toml"], "sweep.mod is not a known key; did you mean 'mode'?"),
    (["validate", "{tmp}/dc_series_hot.toml"], "heats the tip to"),
    (["validate", "{tmp}/modulation_ptfe.toml"], "sample.material has no mobile ions"),
    (["validate", D, "--set", "excitation.dc_power=1.0"], "excitation.dc_power = 1 W heats the tip"),
    # class 3: mesh formats
    (["mesh", D, "-o", "{tmp}/mesh.vtkk"], "--output = '{tmp}/mesh.vtkk': .vtkk is not a mesh format; use .msh"),
    (["mesh", D, "-o", "{tmp}/afile/mesh.vtu"], "is a file, not a folder"),
    # class 4: suggestions
    (["validate", D, "--set", "sample.properties.thermal_conductivty=1"], "did you mean 'thermal_conductivity'?"),
    (["fit", D, D, "--param", "difusivity"], "difusivity is not a fit parameter; did you mean 'diffusivity'?"),
    (["experiment", str(ROOT / "studies" / "stim_ptfe.toml"), "--protocol", "dc_serie"], "did you mean 'dc_series'?"),
    # class 5: messages that blame the right thing, in words
    (["validate", D, "--set", "tip.thermal_contact_radius=1e-3"], "tip.thermal_contact_radius = 0.001 m is too large"),
    (["validate", "{tmp}"], "is a folder; give a study file"),
    (["run", D, "-o", "{tmp}/afile/out"], "OUTDIR cannot create '{tmp}/afile/out': '{tmp}/afile' is a file, not a folder"),
    (["run", D, "--set", "solver.periodic=harmonic_balance", "--set", "solver.harmonics=1"],
     "solver.harmonics = 1 is below the ionic channel's harmonic 2 of excitation.mode 'power'"),
    (["run", D, "--set", "solver.periodic=time_domain", "--fields"],
     "--fields cannot be written with [solver] periodic = 'time_domain'"),
    (["run", D, "--set", "excitation.frequencies=1e4,1e5"], "the value is not TOML"),
    (["export", "{tmp}", "{tmp}/afile/x.csv"], "OUT cannot create"),
    # class 6: keys in a table of an array of tables, and keys that would do nothing
    (["validate", CERIA, "--set", "sample.species[5].charge=3"],
     "sample.species[5].charge has index 5, but sample.species has 2 table(s) ([[sample.species]] in the study file; indices 0 to 1)"),
    (["validate", D, "--set", "sample.species[0].charge=3"], "sample.species[0].charge has index 0, but sample.species has 0 table(s)"),
    (["validate", CERIA, "--set", "sample.species[0].chrge=3"], "sample.species[0].chrge is not a known key; did you mean 'charge'?"),
    (["fit", CERIA, D, "--param", "sample.species[3].diffusivity"], "sample.species[3].diffusivity has index 3, but sample.species has 2"),
    (["fit", CERIA, D, "--param", "diffusivity"], "fit the species' own, e.g. sample.species[0].diffusivity"),
    (["validate", D, "--set", "solver.periodic=expansion", "--set", "solver.harmonics=4"],
     "solver.harmonics is not used by solver.periodic = 'expansion'"),
    (["validate", GRAIN, "--set", "geometry.grain_boundaries[0].space_charge_excess=0"],
     "geometry.grain_boundaries[0].space_charge_length is only used by the prescribed layer"),
    (["validate", GRAIN, "--set", "geometry.grain_boundaries[0].width=1e-12"],
     "geometry.grain_boundaries[0].width makes a core of 1e-12 m, below the 2e-10 m the mesh resolves here"),
    (["validate", LINE, "--set", "instrument.resonance_frequency=3e5", "--set", "instrument.quality_factor=50.0",
      "--set", "instrument.contact_nonlinearity=hertz"], "instrument.contact_nonlinearity = 'hertz' is not yet supported by the scans"),
    # class 7: what run would refuse after meshing, refused by validate before (2.24M DOFs meshed, 2.21M estimated;
    # the direct solver named: solver.linear = 'auto' would take the iterative one)
    (["validate", str(ROOT / "studies" / "centred_3d.toml"), "--set", "mesh.refinement=3", "--set", "solver.linear=direct"],
     "mesh.refinement = 3 makes a 3D mesh of about 2205"),
]


@pytest.fixture
def bad_input_files(shared_tmp):
    if MPI.COMM_WORLD.rank == 0:
        for name, text in FILES.items():
            (shared_tmp / name).write_text(text)
    MPI.COMM_WORLD.barrier()
    return shared_tmp


@pytest.mark.parametrize("arguments, message", BAD, ids=[f"{i}-{a[0]}" for i, (a, _) in enumerate(BAD)])
def test_bad_inputs_are_refused_in_one_line_naming_the_key(bad_input_files, capsys, arguments, message):
    tmp = str(bad_input_files)
    outdir = bad_input_files / "never"
    argv = [a.format(tmp=tmp) for a in arguments]
    if argv[0] in ("run", "experiment", "fit") and "-o" not in argv:
        argv += ["-o", str(outdir)]
    assert main(argv) == EXIT_INPUT
    if MPI.COMM_WORLD.rank == 0:
        err = capsys.readouterr().err
        assert err.startswith("stimsim: error: ") and err.count("\n") == 1, err
        assert message.format(tmp=tmp) in err, err
    assert not outdir.exists()


@pytest.mark.parametrize("suffix", [".msh", ".vtu", ".vtk", ".xdmf"])
def test_mesh_export_in_every_format_reads_back(shared_tmp, suffix):
    path = shared_tmp / f"coarse{suffix}"
    assert main(["mesh", D, "--set", "mesh.refinement=0.4", "-o", str(path)]) == 0
    if MPI.COMM_WORLD.rank == 0:
        import meshio

        exported = meshio.read(path)
        assert "triangle" in exported.cells_dict and "line" in exported.cells_dict
        assert exported.points[:, 0].max() > 1000
        tags = np.concatenate(exported.cell_data["gmsh:physical"])
        assert {1, 2, 3, 4}.issubset(set(tags.tolist()))  # cells, axis, far and bottom boundaries
        if suffix == ".msh":
            assert path.read_text().startswith("$MeshFormat")  # gmsh's own file, not ANSYS
        assert not [p for p in shared_tmp.iterdir() if p.name.startswith(".")]


def test_validate_shows_materials_sources_and_every_section(shared_tmp, capsys):
    assert main(["validate", str(ROOT / "studies" / "stim_ptfe.toml")]) == 0
    if MPI.COMM_WORLD.rank == 0:
        out = capsys.readouterr().out
        assert "# sample.material PTFE: PTFE, NETZSCH" in out
        assert "#   youngs_modulus: 0.4-0.75 GPa reported" in out
        assert "stands up to 600 K" in out and "# tip temperature (estimate)" in out
        assert "# valid; protocols resonance_sweep, dc_series, force_series" in out


def test_output_folder_of_another_run_is_refused_unless_overwrite(shared_tmp, capsys):
    outdir = shared_tmp / "used"
    if MPI.COMM_WORLD.rank == 0:
        outdir.mkdir()
        (outdir / "other-run.csv").write_text("x\n")
    MPI.COMM_WORLD.barrier()
    quick = ["--set", "excitation.frequencies=[1e5]", "--set", "sample.properties.partial_molar_volume=0.0"]
    assert main(["run", D, *quick, "-o", str(outdir), "-q"]) == EXIT_INPUT
    if MPI.COMM_WORLD.rank == 0:
        assert "holds files of another run (other-run.csv)" in capsys.readouterr().err
    assert main(["run", D, *quick, "-o", str(outdir), "-q", "--overwrite"]) == 0
    if MPI.COMM_WORLD.rank == 0:
        assert sorted(p.name for p in outdir.iterdir()) == [
            "periodic.csv", "response.csv", "response.png", "study.toml", "validity.csv"
        ]
    assert main(["run", D, *quick, "-o", str(outdir), "-q"]) == 0  # its own files: a rerun replaces them


def test_ctrl_c_says_interrupted_exits_130_and_writes_nothing(shared_tmp, monkeypatch, capsys):
    import importlib

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    # the module, not the package attribute of the same name (stimsim.solve.simulate is the function)
    monkeypatch.setattr(importlib.import_module("stimsim.solve.simulate"), "simulate", interrupted)
    outdir = shared_tmp / "interrupted"
    assert main(["run", D, "-o", str(outdir)]) == 130
    if MPI.COMM_WORLD.rank == 0:
        err = capsys.readouterr().err
        assert err == "stimsim: interrupted\n"
    assert not outdir.exists()


def test_console_tables_keep_names_units_and_empty_values():
    from stimsim.cli import format_table

    columns = (("resonance_frequency_stderr_hz", "Hz", ""), ("note", "", ""))
    lines = format_table(columns, [{"resonance_frequency_stderr_hz": None, "note": "no signal"}, {"resonance_frequency_stderr_hz": 1.5}])
    assert "resonance_frequency_stderr_hz" in lines[0] and "[Hz]" in lines[1]
    assert "None" not in "".join(lines) and lines[2].split() == ["-", "no", "signal"]


def test_response_plot_skips_zero_rows_on_log_axes(tmp_path):
    from stimsim.io.plots import plot_response
    from stimsim.fem.response import TipResponse

    rows = [TipResponse(f, 1, "thermal", 1, 1e-12 / f**0.5 + 0j, 1.0 + 0j, 1e-6 + 0j) for f in (1e3, 1e4)]
    rows += [TipResponse(f, 2, "ionic", 2, 0j, 0j, 0j) for f in (1e3, 1e4)]
    plot_response(rows, tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 0


def test_semicolon_data_files_are_read(tmp_path):
    from stimsim.inverse.data import read_data

    path = tmp_path / "data.csv"
    path.write_text("drive_frequency_hz;harmonic;amplitude_m\n1e4;1;1e-12\n1e5;1;5e-13\n")
    assert list(read_data(path).amplitude) == [1e-12, 5e-13]
    path.write_text("drive_frequency_hz;harmonic;amplitude_m\n1e4;1;1,5e-12\n")
    with pytest.raises(Exception, match="decimal point"):
        read_data(path)


def test_run_prints_a_harmonic_balance_tail_warning_once(shared_tmp, capsys):
    """Harmonic balance with too few harmonics (H = 3 at 3 uW: u_3 is 16 % of u_2): `run` exits 0 and
    prints the warning, logged where it arose and in the result's warnings, once."""
    settings = ["mesh.refinement=0.15", "excitation.frequencies=[1e4]", "excitation.power_amplitude=3e-6",
                "solver.periodic=harmonic_balance", "solver.harmonics=3"]
    argv = ["run", str(DEFAULT), *(a for s in settings for a in ("--set", s)), "-o", str(shared_tmp / "hot"), "-q"]
    assert main(argv) == 0
    if MPI.COMM_WORLD.rank == 0:
        lines = capsys.readouterr().err.splitlines()
        assert [line for line in lines if "harmonic balance at 10000 Hz" in line] == [
            next(line for line in lines if line.startswith("stimsim: warning: harmonic balance at 10000 Hz: [solver] "
                                                           "harmonics = 3 leaves the highest harmonic u_3 at 0.1"))
        ]


def _command(code: str, env_path: str = "", timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with this checkout (and ``env_path`` first) on the path."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (env_path, str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    # SIGINT back to its default in the child: a shell that runs the suite in the background without job control
    # leaves it ignored, and Python then installs no KeyboardInterrupt handler (the interrupt would be lost).
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.mark.serial
def test_ctrl_c_while_the_command_loads_is_one_line_and_130(tmp_path):
    """A real SIGINT while ``stimsim`` imports its modules (here from the first library it loads,
    dolfinx_solver, shadowed by one that interrupts itself) ends the console script's entry point with
    exactly 'stimsim: interrupted' and status 130, no traceback."""
    (tmp_path / "dolfinx_solver.py").write_text("import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(30)\n")
    done = _command("import sys, stimsim_command; sys.argv = ['stimsim', 'info']; raise SystemExit(stimsim_command.main())",
                    str(tmp_path))
    assert (done.returncode, done.stderr, done.stdout) == (130, "stimsim: interrupted\n", "")


@pytest.mark.serial
def test_ctrl_c_inside_a_petsc_callback_of_harmonic_balance_is_one_line_and_130(tmp_path):
    """A real SIGINT inside harmonic balance's preconditioner (a Python callback PETSc's GMRES calls):
    exactly 'stimsim: interrupted', status 130, no output folder (it was three tracebacks and status 1)."""
    outdir = tmp_path / "interrupted"
    argv = ["run", D, "-o", str(outdir), "-q", "--set", "excitation.frequencies=[2e4]", "--set", "mesh.refinement=0.3",
            "--set", 'solver.periodic="harmonic_balance"', "--set", "excitation.power_amplitude=1e-7"]
    done = _command(
        "import os, signal, sys, stimsim_command\n"
        "from stimsim.solve.periodic import HarmonicBalance\n"
        "HarmonicBalance.precondition = lambda self, grid, b: os.kill(os.getpid(), signal.SIGINT)\n"
        f"sys.argv = ['stimsim', *{argv!r}]\n"
        "raise SystemExit(stimsim_command.main())\n"
    )
    assert (done.returncode, done.stderr, done.stdout) == (130, "stimsim: interrupted\n", "")
    assert not outdir.exists() and not list(tmp_path.iterdir())
