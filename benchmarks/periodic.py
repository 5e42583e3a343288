"""Periodic-state benchmark: harmonic balance against the time-domain model at large heating amplitudes.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/periodic.py [--refinement 0.5] [--powers 2e-6 9e-6]
        [--steps 64 128] [--periods 8 16 32] [--harmonics 4 6 8 12] [--tolerance 1e-2]

SDC, D = 1e-12 m^2/s, E_a 0.7 eV, 20 kHz, 20 nm contact, power drive. At each power (by default
theta_1 ~ 13 K and ~ 60 K at the tip): harmonic balance with H = 8 to its default Newton tolerance and
to --tolerance (the residual relative to the heat input; 1e-2 is matched to the 1 % asked of the time
domain, with its error printed), each with Newton and GMRES iterations, wall and CPU time, the memory of
its LU factors and the process's peak, and its cost in expansion forward calls at that frequency; the
same at the default tolerance with the coupled Jacobians and step factorisations instead of the split
by field (stimsim.solve.fieldsplit, which this balance takes), for their ratio; then
the time-domain model (Crank–Nicolson from the expansion's state at t = 0) at each of --steps steps
per period, read after each of --periods periods of one run. The reference is the most resolved
time-domain run; the "1 %" run is the cheapest whose u_2 is within 1 % (and u_1 within 1 %) of it,
and the cheapest harmonic balance within the same 1 % is sought the same way, over --harmonics at
--tolerance. The ratios are printed in wall and in CPU time (the process's, slowest rank: on a shared machine the
wall times are noisy). Last, the cost of harmonic balance against H at the last power.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
import resource
import time

import stimsim  # noqa: F401
import numpy as np
from mpi4py import MPI

from stimsim.study.load import study_from_dict
from stimsim.solve.forward import (
    base_state,
    expansion_harmonics,
    expansion_state,
    heating_in_time,
    responses,
    solve_harmonics,
)
from stimsim.solve.model import HarmonicModel
from stimsim.solve.periodic import RESIDUAL_TOLERANCE
from stimsim.solve.timedomain import harmonics_of, tip_signals

FREQUENCY = 2e4


def study(power: float, refinement: float, periodic: str, harmonics: int = 8):
    return study_from_dict(
        {
            "sample": {"material": "SDC", "properties": {"diffusivity": 1e-12}},
            "tip": {"contact_radius": 20e-9},
            "excitation": {"mode": "power", "power_amplitude": power, "frequencies": [FREQUENCY]},
            "mesh": {"refinement": refinement},
            "solver": {"periodic": periodic, "harmonics": harmonics},
        }
    )


def peak_memory_mb(comm) -> float:
    """Largest resident set size over the ranks so far, MB."""
    return comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, op=MPI.MAX)


def factor_memory_mb(balance) -> float:
    """Memory of harmonic balance's LU factorisations (MUMPS INFOG(22), all ranks), MB."""
    return sum(ksp.getPC().getFactorMatrix().getMumpsInfog(22) for ksp in balance.factorization_solvers()) * 1e6 / 2**20


def timed(comm, call):
    """(result, Seconds): the slowest rank's wall and CPU (process) seconds."""
    start, cpu = time.perf_counter(), time.process_time()
    result = call()
    wall, cpu = comm.allreduce(time.perf_counter() - start, op=MPI.MAX), comm.allreduce(time.process_time() - cpu, op=MPI.MAX)
    return result, Seconds(wall, cpu)


@dataclass(frozen=True)
class Seconds:
    """Wall and CPU seconds of one run."""

    wall: float
    cpu: float

    def scaled(self, factor: float) -> Seconds:
        return Seconds(self.wall * factor, self.cpu * factor)

    def over(self, other: Seconds) -> str:
        """The ratio to ``other``, in wall and in CPU time."""
        return f"{self.wall / other.wall:.1f} (CPU {self.cpu / other.cpu:.1f})"

    def __str__(self) -> str:
        return f"{self.wall:.3g} s (CPU {self.cpu:.3g} s)"


def expansion_seconds(power: float, refinement: float, comm) -> Seconds:
    """Best of three warm expansion forward calls (first and second orders, tip rows) at FREQUENCY."""
    with HarmonicModel(study(power, refinement, "expansion"), comm) as model:
        base_state(model)
        responses(model, FREQUENCY)
        return min((timed(comm, lambda: responses(model, FREQUENCY))[1] for _ in range(3)), key=lambda s: s.wall)


def harmonic_balance(model, solution, harmonics: int, comm, tolerance: float = RESIDUAL_TOLERANCE):
    """(tip displacement by harmonic, PeriodicStatistics, Seconds, memory of its LU factorisations MB)
    of one harmonic-balance solve with H = ``harmonics`` from the expansion to the Newton ``tolerance``
    (the factorisations of a previous solve freed first)."""
    balance = model.harmonic_balance()
    start = expansion_harmonics(balance, solution)
    balance.release()
    state, seconds = timed(comm, lambda: balance.solve(
        FREQUENCY, dict(solution.spectrum), model.base_heating, harmonics, start, tolerance))
    u = {k: model.tip_values(balance.to_fields(state.harmonics[k], "harmonic"))[0] for k in range(harmonics + 1)}
    return u, state.statistics, seconds, factor_memory_mb(balance)


def coupled(model, solution, split_result, comm) -> None:
    """Print harmonic balance H = 8 to the default tolerance with the coupled Jacobians and step
    factorisations instead of the split by field (stimsim.solve.fieldsplit), against ``split_result``."""
    balance = model.harmonic_balance()
    if balance.split is None:
        return
    split, balance.split = balance.split, None
    balance.release()
    split.release()
    try:
        u, s, seconds, memory = harmonic_balance(model, solution, 8, comm)
    finally:
        balance.release()
        balance.split = split
    u_split, _, split_seconds, _ = split_result
    say(comm, f"coupled (not split) H = 8 to {RESIDUAL_TOLERANCE:g}: {s.newton} Newton, {s.krylov} GMRES, {s.factorizations} LU, "
              f"{seconds}, LU factors {memory:.0f} MB; coupled / split = {seconds.over(split_seconds)}; split against coupled: "
              f"{compare(u_split, u)}")


def time_domain(model, solution, steps: int, periods: list[int], comm) -> dict:
    """{periods: (u by harmonic 1..3, Seconds)} from one time-domain run of max(periods) periods at
    ``steps`` steps per period (the seconds are those of the periods stepped so far)."""
    (times, signals), seconds = timed(comm, lambda: tip_signals(
        model, FREQUENCY, heating_in_time(model, solution), max(periods), steps, expansion_state(model, solution)))
    out = {}
    for p in periods:
        n = p * steps
        u = harmonics_of(signals[:n, 0], times[:n], FREQUENCY, steps, (1, 2, 3))
        out[p] = (u, seconds.scaled(p / max(periods)))
    return out


def within_1_percent(u: dict, reference: dict) -> bool:
    """Whether u_1 and u_2 are within 1 % of ``reference``'s."""
    return all(abs(u[k] / reference[k] - 1) < 1e-2 for k in (1, 2))


def compare(u: dict, reference: dict) -> str:
    """Relative amplitude and phase (deg) of u_1..u_3 against ``reference``."""
    return "  ".join(
        f"u{k} {abs(u[k] / reference[k]) - 1:+.2%} {math.degrees(np.angle(u[k] / reference[k])):+.2f}deg" for k in (1, 2, 3) if k in u
    )


def amplitude(power: float, args, comm) -> None:
    expansion = expansion_seconds(power, args.refinement, comm)
    with HarmonicModel(study(power, args.refinement, "harmonic_balance"), comm) as model:
        base_state(model)
        solution = solve_harmonics(model, FREQUENCY)
        model.harmonic_balance()  # compiles its forms
        theta = abs(model.tip_values(solution.first[1])[1])
        say(comm, f"\nP1 = {power:g} W: theta_1 = {theta:.1f} K, {model.num_dofs} DOFs, {comm.size} rank(s)")
        balances = {}
        for tolerance in (RESIDUAL_TOLERANCE, args.tolerance):
            u, s, seconds, memory = balances[tolerance] = harmonic_balance(model, solution, 8, comm, tolerance)
            say(comm, f"harmonic balance H = 8 to {tolerance:g}: {s.newton} Newton, {s.krylov} GMRES, {s.factorizations} LU, "
                      f"{seconds} = {seconds.over(expansion)} expansion calls ({expansion} each), "
                      f"LU factors {memory:.0f} MB, process peak {peak_memory_mb(comm):.0f} MB; u3/u2 {abs(u[3] / u[2]):.3f}")
        say(comm, f"to {args.tolerance:g} against to {RESIDUAL_TOLERANCE:g}: {compare(balances[args.tolerance][0], balances[RESIDUAL_TOLERANCE][0])}")
        coupled(model, solution, balances[RESIDUAL_TOLERANCE], comm)
        by_h = {h: harmonic_balance(model, solution, h, comm, args.tolerance) for h in args.harmonics}
        runs = {steps: time_domain(model, solution, steps, args.periods, comm) for steps in args.steps}
    reference = runs[max(args.steps)][max(args.periods)][0]
    seconds = balances[RESIDUAL_TOLERANCE][2]
    say(comm, f"{'steps':>6} {'periods':>8} {'time':>22} {'TD/HB':>16}  against the most resolved time-domain run")
    within = []
    for steps, by_periods in runs.items():
        for periods, (v, td_seconds) in by_periods.items():
            within += [(td_seconds.wall, steps, periods, td_seconds)] if within_1_percent(v, reference) else []
            say(comm, f"{steps:6d} {periods:8d} {str(td_seconds):>22} {td_seconds.over(seconds):>16}  {compare(v, reference)}")
    _, steps, periods, cheapest = min(within)
    say(comm, f"1 % run: {steps} steps x {periods} periods, {cheapest}")
    for tolerance, (u, _, seconds, _) in balances.items():
        say(comm, f"HB H = 8 to {tolerance:g}: 1 % run / HB = {cheapest.over(seconds)}; against the reference: {compare(u, reference)}")
    for h, (u, s, seconds, _) in by_h.items():
        say(comm, f"HB H = {h} to {args.tolerance:g}: {s.newton} Newton, {s.krylov} GMRES, {seconds}, 1 % run / HB = "
                  f"{cheapest.over(seconds)}; against the reference: {compare(u, reference)}")
    close = [(seconds.wall, h, seconds) for h, (u, _, seconds, _) in by_h.items() if within_1_percent(u, reference)]
    if close:
        _, h, seconds = min(close)
        say(comm, f"cheapest HB within 1 %: H = {h} to {args.tolerance:g}, {seconds}; 1 % run / HB = {cheapest.over(seconds)}")
    else:
        say(comm, "no harmonic balance within 1 % of the reference")


def growth(power: float, args, comm) -> None:
    """Cost of harmonic balance against H at ``power``."""
    with HarmonicModel(study(power, args.refinement, "harmonic_balance"), comm) as model:
        base_state(model)
        solution = solve_harmonics(model, FREQUENCY)
        model.harmonic_balance()
        say(comm, f"\nP1 = {power:g} W against H\n{'H':>3} {'Newton':>7} {'GMRES':>6} {'LU':>5} {'time':>22} {'LU MB':>10} {'u2 change':>10}")
        previous = None
        for h in args.harmonics:
            u, s, seconds, memory = harmonic_balance(model, solution, h, comm)
            change = f"{abs(u[2] / previous - 1):.1e}" if previous else ""
            say(comm, f"{h:3d} {s.newton:7d} {s.krylov:6d} {s.factorizations:5d} {str(seconds):>22} {memory:10.0f} {change:>10}")
            previous = u[2]


def say(comm, text: str) -> None:
    if comm.rank == 0:
        print(text, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refinement", type=float, default=0.5)
    parser.add_argument("--powers", type=float, nargs="+", default=[2e-6, 9e-6])
    parser.add_argument("--steps", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--periods", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--harmonics", type=int, nargs="+", default=[4, 6, 8, 12])
    parser.add_argument("--tolerance", type=float, default=1e-2, help="the matched Newton tolerance (relative residual)")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    for power in args.powers:
        amplitude(power, args, comm)
    growth(args.powers[-1], args, comm)


if __name__ == "__main__":
    main()
