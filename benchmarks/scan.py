"""3D benchmark, one tip position: a centred tip on homogeneous ionic SDC in 3D (quarter box) against
the axisymmetric model, with the DOFs, the wall time and the memory of each 3D refinement.

    .venv/bin/python benchmarks/scan.py [--refinement 0.35 0.5 0.75] [--diffusivity 4e-10]
    .venv/bin/mpiexec -n 2 .venv/bin/python benchmarks/scan.py
    .venv/bin/mpiexec -n 2 .venv/bin/python benchmarks/scan.py --scan studies/line_scan_3d.toml

With ``--scan STUDY`` it runs the study's line scan or map instead (stimsim.experiments.scans: positions shared
among groups of ranks_per_position ranks) into a temporary folder and prints each position's DOFs and
wall time (from the store's samples.csv) and the scan's total: run it on 1 and on 2 ranks for the
parallel efficiency of a scan.

The reference is the axisymmetric model at refinement 4 (exact for this geometry up to its
discretisation, far below the 3D errors). Errors are relative, of the first harmonic (thermal) and
the second (ionic) tip displacement and of the first-harmonic tip temperature. 'solve s' is the base
state, first and second order at one frequency with the direct (MUMPS) solver, after a warm-up that
compiles the forms; 'build s' makes the model (mesh from the cache or gmsh, spaces, forms). 'peak MB'
is the peak resident set of rank 0 so far: the 3D refinements run first, from coarse to fine, so
each 3D line's value is that refinement's peak (the axisymmetric lines repeat the largest).
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import stimsim  # noqa: F401
from mpi4py import MPI

from stimsim.study.load import study_from_dict
from stimsim.solve.forward import responses
from stimsim.solve.model import HarmonicModel

FREQUENCY, RADIUS = 1e5, 20e-9
#: What is compared: (harmonic, kind) of the tip rows.
KEYS = ((1, "thermal"), (2, "ionic"))


def study(model: str, refinement: float, diffusivity: float):
    return study_from_dict({
        "sample": {"material": "SDC", "properties": {"diffusivity": diffusivity}},
        "geometry": {"model": model},
        "tip": {"contact_radius": RADIUS},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [FREQUENCY]},
        "mesh": {"refinement": refinement},
    })


def run(model: str, refinement: float, diffusivity: float, comm) -> tuple[dict, int, float, float]:
    """(rows, DOFs, build s, solve s) of one model."""
    start = time.perf_counter()
    with HarmonicModel(study(model, refinement, diffusivity), comm, method="monolithic") as m:
        built = time.perf_counter()
        rows = {(r.harmonic, r.kind): r for r in responses(m, FREQUENCY)}
        solved = time.perf_counter()
        return rows, m.num_dofs, comm.allreduce(built - start, op=MPI.MAX), comm.allreduce(solved - built, op=MPI.MAX)


def relative(value: complex, reference: complex) -> float:
    return abs(value - reference) / abs(reference)


def scan(path: str, comm) -> None:
    """Run the scan of the study ``path`` and print the cost of each position and of the whole."""
    import tempfile
    from pathlib import Path

    from stimsim.study.load import load_study
    from stimsim.experiments.run import run_experiments
    from stimsim.hpc.store import read_store

    folder = Path(comm.bcast(tempfile.mkdtemp(prefix="stimsim-scan-") if comm.rank == 0 else None, root=0))
    start = time.perf_counter()
    run_experiments(load_study(path), comm, folder=folder, quiet=True)
    total = time.perf_counter() - start
    if comm.rank != 0:
        return
    print(f"{path} on {comm.size} rank(s)")
    print(f"{'position':>8} {'x m':>10} {'y m':>10} {'DOFs':>8} {'wall s':>8} {'group':>5}")
    for store in sorted(folder.glob("*.store")):
        axes, samples, _ = read_store(store)
        for row in samples:
            x, y = json.loads(row[axes[0]])
            print(f"{row['sample_id']:>8} {x:>10.3g} {y:>10.3g} {row['num_dofs']:>8} {float(row['wall_time_s']):>8.1f} "
                  f"{row['group']:>5}")
        walls = [float(row["wall_time_s"]) for row in samples]
        print(f"{store.stem}: {len(samples)} positions, {sum(walls) / len(walls):.1f} s per position, "
              f"{total:.1f} s in all (CPU {resource.getrusage(resource.RUSAGE_SELF).ru_utime:.1f} s on rank 0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refinement", type=float, nargs="+", default=[0.35, 0.5, 0.75])
    parser.add_argument("--diffusivity", type=float, default=4e-10, help="ionic diffusivity, m^2/s")
    parser.add_argument("--scan", metavar="STUDY", help="run this study's line scan or map instead")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    if args.scan:
        scan(args.scan, comm)
        return
    run("3d", min(args.refinement), args.diffusivity, comm)  # warm-up: compile the 3D forms
    measured = []
    for model, refinements in (("3d", sorted(args.refinement)), ("axisymmetric", [0.5, 1.0])):
        for refinement in refinements:
            rows, dofs, build, solve = run(model, refinement, args.diffusivity, comm)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            measured.append((model, refinement, dofs, build, solve, peak, rows))
    reference, *_ = run("axisymmetric", 4.0, args.diffusivity, comm)  # last: its memory is the largest
    if comm.rank != 0:
        return
    print(f"SDC, D = {args.diffusivity:g} m^2/s, a = {RADIUS:g} m, {FREQUENCY:g} Hz, {comm.size} rank(s); "
          "reference: axisymmetric at refinement 4")
    print(f"{'model':>12} {'refine':>6} {'DOFs':>8} {'build s':>8} {'solve s':>8} {'peak MB':>8} "
          f"{'err u1':>8} {'err T1':>8} {'err u2':>8}")
    for model, refinement, dofs, build, solve, peak, rows in measured:
        errors = [relative(rows[k].displacement, reference[k].displacement) for k in KEYS]
        errors.insert(1, relative(rows[KEYS[0]].temperature, reference[KEYS[0]].temperature))
        print(f"{model:>12} {refinement:>6g} {dofs:>8d} {build:>8.1f} {solve:>8.1f} {peak:>8.0f} "
              + " ".join(f"{100 * e:>7.2f}%" for e in errors))

if __name__ == "__main__":
    main()
