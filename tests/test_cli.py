"""Command line: outputs of ``stimsim run``, clear errors with non-zero exit and nothing half-written."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh
from mpi4py import MPI

from stimsim import analytic
from stimsim.cli import EXIT_INPUT, main
from stimsim.errors import SolverError
from stimsim.io import RESPONSE_COLUMNS, read_rows
from stimsim.solvers import DirectSolver

from conftest import ROOT

DEFAULT = ROOT / "studies" / "default.toml"
QUICK = ["--set", "excitation.frequencies=[1e4, 1e6]", "--set", "sample.properties.partial_molar_volume=0.0"]


def test_run_writes_response_study_and_plot(shared_tmp, capsys):
    outdir = shared_tmp / "out"
    assert main(["run", str(DEFAULT), *QUICK, "-o", str(outdir)]) == 0
    if MPI.COMM_WORLD.rank == 0:
        assert sorted(p.name for p in outdir.iterdir()) == ["response.csv", "response.png", "study.toml"]
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
