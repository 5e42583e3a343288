"""Forward-model benchmark: DOFs, set-up and per-frequency time, peak memory, error against the
half-space solution, and the ratio of a whole forward call to its bare LU factorisation + solves.

    .venv/bin/python benchmarks/forward.py [--refinement 1 2] [--frequencies 1e3 1e4 1e5 1e6]
    .venv/bin/mpiexec -n 2 .venv/bin/python benchmarks/forward.py

The "bare" time is what PETSc's own log attributes to MUMPS (symbolic + numeric factorisation and
triangular solves): the floor for a direct solver. A first forward call sets the model up (MUMPS's
analysis, first allocations); the timed figures are the best of ``--repeats`` calls after it, as a
fitting code calling the model thousands of times sees them. Everything else in a forward call (assembly,
boundary conditions, averages, Python) is overhead on top of it.
"""

from __future__ import annotations

import argparse
import math
import resource
import time

import stimsim  # noqa: F401
from mpi4py import MPI
from petsc4py import PETSc

from stimsim.physics import analytic
from stimsim.study.load import load_study
from stimsim.solve.forward import base_state, responses
from stimsim.solve.model import HarmonicModel

from pathlib import Path

STUDY = Path(__file__).resolve().parents[1] / "studies" / "default.toml"
BARE_EVENTS = ("MatLUFactorSym", "MatLUFactorNum", "MatSolve")


def bare_seconds() -> float:
    """Seconds PETSc has logged in LU factorisations and triangular solves so far (this rank)."""
    return sum(PETSc.Log.Event(name).getPerfInfo()["time"] for name in BARE_EVENTS)


def peak_memory_mb(comm) -> float:
    """Largest resident set size over the ranks, MB."""
    return comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, op=MPI.MAX)


def exact(study, frequency):
    m = study.sample.material
    omega = 2 * math.pi * frequency
    power, radius = study.excitation.power_amplitude, study.tip.contact_radius
    args = (power, radius, m.thermal_conductivity, m.thermal_diffusivity)
    return (
        analytic.halfspace_temperature(*args, omega),
        analytic.halfspace_displacement(*args, m.thermal_expansion, m.poisson_ratio, omega),
    )


def run(refinement: float, frequencies: list[float], repeats: int, comm) -> None:
    overrides = [
        f"mesh.refinement={refinement}",
        f"excitation.frequencies={frequencies!r}",
        "sample.properties.partial_molar_volume=0.0",
    ]
    study = load_study(STUDY, overrides)
    start = time.perf_counter()
    model = HarmonicModel(study, comm)
    base_state(model)
    setup = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
    rows = [responses(model, f)[0] for f in frequencies]  # the first call also sets MUMPS up
    total = bare = math.inf
    for _ in range(repeats):  # what a fitting code sees: the best of repeated calls
        bare_before = bare_seconds()
        start = time.perf_counter()
        for f in frequencies:
            responses(model, f)
        seconds = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
        if seconds < total:
            total, bare = seconds, comm.allreduce(bare_seconds() - bare_before, op=MPI.MAX)
    errors_t, errors_u = [], []
    for r in rows:
        t_exact, u_exact = exact(study, r.drive_frequency)
        errors_t.append(abs(r.temperature - t_exact) / abs(t_exact))
        errors_u.append(abs(r.displacement - u_exact) / abs(u_exact))
    if comm.rank == 0:
        n = len(frequencies)
        print(
            f"{refinement:10.2f} {model.num_dofs:8d} {setup:9.3f} {1e3 * total / n:12.2f} {1e3 * bare / n:12.2f} "
            f"{total / bare:10.2f} {max(errors_t):11.2e} {max(errors_u):11.2e} {peak_memory_mb(comm):9.0f}"
        )
    else:
        peak_memory_mb(comm)
    model.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refinement", type=float, nargs="+", default=[0.5, 1.0, 2.0, 4.0])
    parser.add_argument("--frequencies", type=float, nargs="+", default=[1e3, 1e4, 1e5, 1e6])
    parser.add_argument("--repeats", type=int, default=20, help="timed forward calls after a first one (best kept)")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    PETSc.Log.begin()
    if comm.rank == 0:
        print(f"SDC half-space (ions off), 20 nm contact, {len(args.frequencies)} frequencies, {comm.size} rank(s)")
        print(
            f"{'refinement':>10} {'DOFs':>8} {'setup s':>9} {'ms/freq':>12} {'bare ms/freq':>12} "
            f"{'ratio':>10} {'max err T':>11} {'max err u':>11} {'peak MB':>9}"
        )
    for refinement in args.refinement:
        run(refinement, args.frequencies, args.repeats, comm)


if __name__ == "__main__":
    main()
