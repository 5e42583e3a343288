"""Ionic-response benchmark: frequency domain against the time-domain model at the same accuracy of
the second (ionic) harmonic, and the staggered against the monolithic coupled solve, in one run.

    .venv/bin/python benchmarks/ionic.py [--periods 4 6 8] [--refinement 0.5]

The time-domain runs start from the first-order state and use 64 steps per period; their error
against the frequency-domain harmonic shrinks with the number of periods (the slow ionic transient).
"""

from __future__ import annotations

import argparse
import math
import time

import stimsim  # noqa: F401
import numpy as np
from dolfinx import fem
from mpi4py import MPI

from stimsim.study.load import study_from_dict
from stimsim.solve.forward import responses
from stimsim.core.errors import SolverError
from stimsim.solve.model import HarmonicModel
from stimsim.solve.timedomain import periodic_harmonics

FREQUENCY = 2e4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--periods", type=int, nargs="+", default=[4, 6, 8])
    parser.add_argument("--refinement", type=float, default=0.5)
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    study = study_from_dict(
        {
            "sample": {"material": "SDC", "properties": {"diffusivity": 1e-12}},
            "tip": {"contact_radius": 20e-9},
            "excitation": {"mode": "power", "power_amplitude": 1e-7, "frequencies": [FREQUENCY]},
            "mesh": {"refinement": args.refinement},
        }
    )
    model = HarmonicModel(study, comm)
    responses(model, FREQUENCY)  # warm up (JIT, first factorisations)
    start = time.perf_counter()
    rows = {(r.harmonic, r.kind): r.displacement for r in responses(model, FREQUENCY)}
    frequency_domain = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
    first = model.solve_first_order(FREQUENCY)
    initial = {name: fem.Function(V) for name, V in model.spaces.items()}
    for name in model.names:
        initial[name].x.array[:] = first[name].x.array.real
    if comm.rank == 0:
        print(f"SDC, D = 1e-12 m^2/s, {FREQUENCY:g} Hz, {model.num_dofs} DOFs, {comm.size} rank(s)")
        print(f"frequency domain (harmonics 1 and 2): {frequency_domain:.3f} s")
        print(f"{'periods':>8} {'time s':>8} {'ratio TD/FD':>12} {'err u2':>9} {'phase deg':>10} {'err u1':>9}")
    for periods in args.periods:
        start = time.perf_counter()
        found = periodic_harmonics(
            model, FREQUENCY, lambda t: math.cos(2 * math.pi * FREQUENCY * t), periods=periods, start=initial
        )
        elapsed = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
        second = found[2] / rows[2, "ionic"]
        error_first = abs(found[1] / rows[1, "thermal"] - 1)
        if comm.rank == 0:
            print(
                f"{periods:8d} {elapsed:8.2f} {elapsed / frequency_domain:12.1f} {abs(abs(second) - 1):9.2e} "
                f"{math.degrees(np.angle(second)):10.3f} {error_first:9.2e}"
            )
    model.destroy()
    compare_methods(comm)


def compare_methods(comm) -> None:
    """Wall time of harmonics 1 and 2 by the staggered and monolithic solves (warm), weak and strong
    Vegard feedback (Omega = 1e-6 and SDC's 6.5e-6 m^3/mol)."""
    if comm.rank == 0:
        print(f"{'Omega':>8} {'method':>11} {'DOFs':>7} {'time s':>8} {'sweeps':>7} {'contraction':>12}")
    for omega_v in (1e-6, 6.5e-6):
        study = study_from_dict(
            {
                "sample": {"material": "SDC", "properties": {"diffusivity": 1e-12, "partial_molar_volume": omega_v}},
                "tip": {"contact_radius": 20e-9},
                "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [FREQUENCY]},
            }
        )
        for method in ("monolithic", "staggered"):
            model = HarmonicModel(study, comm, method=method)
            try:
                responses(model, FREQUENCY)
                start = time.perf_counter()
                responses(model, FREQUENCY)
                elapsed = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
                sweeps, contraction = model.staggered.last_sweeps if method == "staggered" else ("-", float("nan"))
                line = f"{elapsed:8.3f} {sweeps!s:>7} {contraction:12.3f}"
            except SolverError as err:
                line = f"  failed: {err}"
            if comm.rank == 0:
                print(f"{omega_v:8.1e} {method:>11} {model.num_dofs:7d} {line}")
            model.destroy()


if __name__ == "__main__":
    main()
