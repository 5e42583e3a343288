"""3D solver benchmark: the direct (MUMPS LU) and the iterative (GMRES with the field-split multigrid
preconditioner, ``[solver] linear = "iterative"``) coupled solves of one tip position, at several sizes.

    .venv/bin/python benchmarks/solvers3d.py [--refinement 0.5 0.75 1.0] [--direct-up-to 60000] [--ranks 1 2]

(run serially: it starts each measurement in its own process, on 1 and on 2 ranks).
The model is benchmarks/scan.py's (a centred tip on ionic SDC, D = 4e-10 m^2/s, 100 kHz, quarter
box). 'solve s' is the base state, first and second order at one frequency (after a warm-up that
compiles the forms), wall time and 'CPU s' the largest CPU time of a rank (the machine may be
shared); 'iterations' are GMRES's for the first and the second order; 'peak MB' is the
largest resident peak over the ranks, per rank (each size runs in its own process, so it is that
size's peak); 'diff u1/u2' is the relative difference of the iterative tip displacement from the
direct one where both ran. The direct solve is skipped above ``--direct-up-to`` DOFs (184k DOFs took
8.6 GB and 7 min on one rank).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import stimsim  # noqa: F401
from mpi4py import MPI

from stimsim.study.load import study_from_dict
from stimsim.solve.forward import responses
from stimsim.solve.model import HarmonicModel

FREQUENCY, RADIUS, DIFFUSIVITY = 1e5, 20e-9, 4e-10
#: Tip rows compared: (harmonic, kind).
KEYS = ((1, "thermal"), (2, "ionic"))


def study(refinement: float, linear: str):
    return study_from_dict({
        "sample": {"material": "SDC", "properties": {"diffusivity": DIFFUSIVITY}},
        "geometry": {"model": "3d"},
        "tip": {"contact_radius": RADIUS},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [FREQUENCY]},
        "mesh": {"refinement": refinement},
        "solver": {"linear": linear},
    })


def measure(refinement: float, linear: str, comm) -> dict:
    """DOFs, solve s, iterations, per-rank peak MB and the tip displacements of one model."""
    with HarmonicModel(study(refinement, linear), comm) as model:
        start, cpu = time.perf_counter(), time.process_time()
        rows = {(r.harmonic, r.kind): r.displacement for r in responses(model, FREQUENCY)}
        seconds = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
        cpu = comm.allreduce(time.process_time() - cpu, op=MPI.MAX)
        iterations = model.coupled_solver.iterations[-2:] if model.iterative else []
        dofs = model.num_dofs
    peak = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, op=MPI.MAX)
    return dict(dofs=dofs, seconds=seconds, cpu=cpu, iterations=iterations, peak=peak,
                u=[[rows[k].real, rows[k].imag] for k in KEYS])


def child(refinement: float, linear: str) -> None:
    """One measurement in this process (after a warm-up at the coarsest size), printed as JSON by rank 0."""
    comm = MPI.COMM_WORLD
    measure(0.3, linear, comm)
    result = measure(refinement, linear, comm)
    if comm.rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refinement", type=float, nargs="+", default=[0.5, 0.75, 1.0])
    parser.add_argument("--direct-up-to", type=int, default=60_000, help="largest DOFs solved directly")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2], help="ranks of the measurements")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(float(args.child[0]), args.child[1])
        return
    comm = MPI.COMM_WORLD
    if comm.size > 1:
        sys.exit("run the benchmark serially; it starts each measurement with --ranks ranks itself")
    print(f"SDC, D = {DIFFUSIVITY:g} m^2/s, a = {RADIUS:g} m, {FREQUENCY:g} Hz, quarter box")
    print(f"{'ranks':>5} {'refine':>6} {'DOFs':>8} {'solver':>9} {'solve s':>8} {'CPU s':>7} {'peak MB/rank':>12} "
          f"{'iterations':>10} {'diff u1':>8} {'diff u2':>8}")
    for ranks in args.ranks:
        for refinement in args.refinement:
            iterative = None
            for linear in ("iterative", "direct"):
                result = run_child(ranks, refinement, linear, iterative, args.direct_up_to)
                if result is None:
                    continue
                if linear == "iterative":
                    iterative = result
                    diffs = ["", ""]
                else:
                    diffs = [f"{d:.1e}" for d in differences(iterative["u"], result["u"])]
                iterations = "/".join(map(str, result["iterations"]))
                print(f"{ranks:>5} {refinement:>6g} {result['dofs']:>8d} {linear:>9} {result['seconds']:>8.1f} "
                      f"{result['cpu']:>7.1f} {result['peak']:>12.0f} {iterations:>10} {diffs[0]:>8} {diffs[1]:>8}",
                      flush=True)


def run_child(ranks: int, refinement: float, linear: str, iterative: dict | None, direct_up_to: int) -> dict | None:
    """The measurement of a child process on ``ranks`` ranks; None for a direct solve above
    ``direct_up_to`` DOFs (known from the iterative run)."""
    if linear == "direct" and iterative is not None and iterative["dofs"] > direct_up_to:
        return None
    mpiexec = str(Path(sys.executable).with_name("mpiexec"))
    launcher = [sys.executable] if ranks == 1 else [mpiexec, "-n", str(ranks), sys.executable]
    output = subprocess.run([*launcher, __file__, "--child", str(refinement), linear], capture_output=True, text=True)
    if output.returncode != 0:
        sys.exit(f"{linear} at refinement {refinement} on {ranks} rank(s) failed:\n{output.stderr[-2000:]}")
    line = next(l for l in output.stdout.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def differences(first: list, second: list) -> list[float]:
    """Relative differences of complex values given as [real, imag] pairs."""
    return [abs(complex(*a) - complex(*b)) / abs(complex(*b)) for a, b in zip(first, second)]


if __name__ == "__main__":
    main()
