"""Slow-modulation benchmark: the cost of one slow step of temperature spectroscopy against one
harmonic solve, with and without the reuse of factorisations.

    .venv/bin/python benchmarks/modulation.py [--refinement 0.5] [--amplitude 0.5e-6 5e-6]

One harmonic solve is the frequency-domain response at the drive frequency about a fixed base state
(first order at f, second order at 2f: two factorisations and solves). A slow step is one time step of
the base state (modified Newton on a kept factorisation) plus the fast harmonics about the new base
state; the reference-LU GMRES of :meth:`HarmonicModel.freeze_operators` replaces their factorisations
by back-substitutions while the base state stays near the reference. The DC amplitude sets how far it
moves: 0.5 uW on 1 uW DC moves the tip temperature by ~3 K, 5 uW on 10 uW by ~30 K (D(T) then changes
several-fold within a period and the reference is refactorised often).
"""

from __future__ import annotations

import argparse
import time

import stimsim  # noqa: F401
from mpi4py import MPI

from stimsim.study.load import study_from_dict
from stimsim.solve.forward import base_state, responses
from stimsim.solve.model import HarmonicModel
from stimsim.experiments.modulation import Modulation, modulation_loop

DRIVE = 3e4


def harmonic_solve_seconds(model, repeats: int = 3) -> float:
    base_state(model)
    start = time.perf_counter()
    for _ in range(repeats):
        responses(model, DRIVE)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refinement", type=float, default=0.5)
    parser.add_argument("--amplitude", type=float, nargs="+", default=[0.5e-6, 5e-6], help="DC modulation (W)")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    for amplitude in args.amplitude:
        study = study_from_dict({
            "sample": {"material": "SDC", "properties": {"diffusivity": 5e-14}},
            "tip": {"contact_radius": 20e-9},
            "excitation": {"mode": "power", "power_amplitude": 1e-6, "dc_power": 2 * amplitude, "frequencies": [DRIVE]},
            "mesh": {"refinement": args.refinement},
        })
        model = HarmonicModel(study, comm, method="monolithic")
        harmonic = harmonic_solve_seconds(model)
        cost = modulation_loop(model, DRIVE, Modulation(1e3, amplitude, periods=2, steps_per_period=16)).cost
        if comm.rank == 0:
            print(f"SDC, {model.num_dofs} DOFs, {comm.size} rank(s), DC {2 * amplitude * 1e6:g} +- {amplitude * 1e6:g} uW")
            print(f"  one harmonic solve (first + second order)  {harmonic * 1e3:8.1f} ms")
            print(f"  slow time step                             {cost.step_seconds * 1e3:8.1f} ms "
                  f"({cost.step_seconds / harmonic:.2f} x; {cost.newton_iterations:.1f} Newton iterations)")
            print(f"  fast harmonics about the moving base state {cost.harmonics_seconds * 1e3:8.1f} ms "
                  f"({cost.harmonics_seconds / harmonic:.2f} x; {cost.gmres_iterations:.1f} GMRES iterations per solve)")
            print(f"  factorisations in 32 slow steps: {cost.factorizations} (one per time step and fast solve: 64)")
        model.destroy()


if __name__ == "__main__":
    main()
