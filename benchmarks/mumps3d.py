"""MUMPS options on a 3D coupled ionic solve: time, memory and the tip values of issue 25's ceria case
(studies/ceria_3d.toml: SDC, D = 2e-12 m^2/s, E_a = 0, a = 20 nm, 20 kHz, sqrt(D/omega) = a/5, the 3D
defaults) at one tip position (default (4a, 3a): the whole box).

    .venv/bin/python benchmarks/mumps3d.py [--position 80e-9 60e-9] [--case NAME KEY=VALUE ...] ...

Each ``--case`` is a name and PETSc options for the coupled solver (prefix ``stimsim_coupled_`` added), e.g.
``--case amd mat_mumps_icntl_7=0``; the first case is the reference of the 'diff' columns. Each case runs
in its own process on one rank (run serially; the mesh is cached after the first case), ``--ranks`` on
more. Columns: DOFs; wall and CPU s (largest over the ranks) and peak resident MB (largest over the ranks)
of the model, base state, first and second order; MUMPS's own memory of the coupled factorisation
(INFOG(21), MB effectively used, largest rank; INFOG(16): analysis estimate); the relative change of the
tip displacements u1 (thermal) and u2 (ionic) from the first case.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import child  # benchmarks/child.py: the case run in a process of its own

import stimsim  # noqa: F401
from mpi4py import MPI

#: Drive frequency (Hz), heating power (W), contact radius (m), diffusivity (m^2/s).
FREQUENCY, POWER, RADIUS, DIFFUSIVITY = 2e4, 1e-7, 20e-9, 2e-12
#: Tip rows compared: (harmonic, kind).
KEYS = ((1, "thermal"), (2, "ionic"))


def raw_study(position: list[float]) -> dict:
    """The ceria case with the tip at ``position`` (m)."""
    return {
        "sample": {"material": "SDC", "properties": {"diffusivity": DIFFUSIVITY, "activation_energy": 0.0}},
        "geometry": {"model": "3d"},
        "tip": {"contact_radius": RADIUS, "position": position},
        "excitation": {"mode": "power", "power_amplitude": POWER, "frequencies": [FREQUENCY]},
    }


def peak_mb() -> float:
    """This process's resident peak so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(position: list[float], method: str, options: list[str]) -> None:
    """One case in this process: set the options, solve, print the figures as JSON (rank 0)."""
    from petsc4py import PETSc

    from stimsim.solve.forward import responses
    from stimsim.solve.model import HarmonicModel
    from stimsim.study.load import study_from_dict

    for option in options:
        key, _, value = option.partition("=")
        PETSc.Options()[f"stimsim_coupled_{key}"] = value
    comm = MPI.COMM_WORLD
    start, cpu = time.perf_counter(), time.process_time()
    with HarmonicModel(study_from_dict(raw_study(position)), comm, method=method) as model:
        built = comm.allreduce(peak_mb(), op=MPI.MAX)
        rows = {(r.harmonic, r.kind): r.displacement for r in responses(model, FREQUENCY)}
        factor = model.coupled_solver.ksp.getPC().getFactorMatrix()
        mumps = {f"infog{i}": factor.getMumpsInfog(i) for i in (7, 16, 18, 21, 29)}
        mumps |= {f"icntl{i}": factor.getMumpsIcntl(i) for i in (22, 35)}
        result = dict(dofs=model.num_dofs, method=model.method, built=built, **mumps)
    result |= dict(wall=comm.allreduce(time.perf_counter() - start, op=MPI.MAX),
                   cpu=comm.allreduce(time.process_time() - cpu, op=MPI.MAX),
                   peak=comm.allreduce(peak_mb(), op=MPI.MAX),
                   u=[[rows[k].real, rows[k].imag] for k in KEYS])
    if comm.rank == 0:
        child.report(result)


def run_child(position: list[float], method: str, options: list[str], ranks: int) -> dict:
    """The result of one case in its own process on ``ranks`` ranks."""
    command = [sys.executable, __file__, "--child", *map(str, position), method, *options]
    if ranks > 1:
        command = [str(__import__("pathlib").Path(sys.executable).parent / "mpiexec"), "-n", str(ranks), *command]
    return child.run(command, f"case {options}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--position", type=float, nargs=2, default=[80e-9, 60e-9], help="tip position, m")
    parser.add_argument("--case", nargs="+", action="append", metavar=("NAME", "OPTION"),
                        help="a case: name and KEY=VALUE PETSc options (prefix stimsim_coupled_ added)")
    parser.add_argument("--ranks", type=int, default=1)
    parser.add_argument("--method", default="auto", help="the coupled solve's method (HarmonicModel's method)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure([float(v) for v in args.child[:2]], args.child[2], args.child[3:])
        return
    cases = args.case or [["default"]]
    print(f"ceria case, tip at {args.position} m, {args.ranks} rank(s)")
    print(f"{'case':>14} {'DOFs':>7} {'wall s':>7} {'CPU s':>7} {'peak MB':>8} {'MUMPS MB':>9} {'est MB':>7} "
          f"{'ordering':>8} {'diff u1':>8} {'diff u2':>8}")
    reference = None
    for name, *options in cases:
        found = run_child(args.position, args.method, options, args.ranks)
        reference = reference or found
        diffs = [child.relative(a, b) for a, b in zip(found["u"], reference["u"])]
        print(f"{name:>14} {found['dofs']:>7d} {found['wall']:>7.1f} {found['cpu']:>7.1f} {found['peak']:>8.0f} "
              f"{found['infog21']:>9d} {found['infog16']:>7d} {found['infog7']:>8d} "
              + " ".join(f"{d:>8.1e}" for d in diffs), flush=True)
        print("  " + json.dumps(found), flush=True)


if __name__ == "__main__":
    main()
