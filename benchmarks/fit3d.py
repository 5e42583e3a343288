"""3D fit benchmark: a grain boundary's core diffusivity from a synthetic noisy line scan across it.

    .venv/bin/python benchmarks/fit3d.py [--refinement 0.25] [--positions 5] [--noise 0.01] [--seeds 3]
    .venv/bin/mpiexec -n 2 .venv/bin/python benchmarks/fit3d.py

Ionic SDC in 3D (D = 4e-10 m^2/s in the grains) with a grain boundary in the plane x = 0 (a 4 nm core
whose diffusivity, 4e-9 m^2/s, is hidden), a 20 nm tip, 1 uW power modulation at 100 kHz. The scan:
``--positions`` tip positions from x = -40 nm to +40 nm along y = 0, harmonics 1 and 2 (amplitude and
phase) at each, made by the one solve path (stimsim.simulate, each position its own mesh) and given
complex Gaussian noise of ``--noise`` relative to each amplitude in each part (the sigmas the fit is
given: ``--noise`` of the amplitude and ``--noise`` rad of the phase; ``--seeds`` noise draws). The fit
(stimsim.inverse.fit.fit_with: one forward model per position, tangent-linear derivatives) starts at
1.5e-9 m^2/s. Printed: DOFs per position, the cost of a forward evaluation and of one with the
tangent (all positions; after the first, which compiles the tangent forms), the tangent against a
central difference (relative step 1e-3), and per seed the fitted value, its standard error, whether
the truth is in the 95 % interval, evaluations and wall time.
"""

from __future__ import annotations

import argparse
import time

import stimsim  # noqa: F401
import numpy as np
from mpi4py import MPI

from stimsim.inverse.data import Data
from stimsim.inverse.fit import JointModel, fit_options, fit_with
from stimsim.solve.simulate import simulate
from stimsim.study.load import derived_study, study_from_dict

KEY = "geometry.grain_boundaries[0].properties.diffusivity"
TRUTH, START = 4e-9, 1.5e-9
FREQUENCY = 1e5


def study(refinement: float):
    return study_from_dict({
        "sample": {"material": "SDC", "properties": {"diffusivity": 4e-10}},
        "geometry": {"model": "3d", "grain_boundaries": [
            {"point": [0.0, 0.0], "normal": [1.0, 0.0], "width": 4e-9, "properties": {"diffusivity": START}}]},
        "tip": {"contact_radius": 20e-9},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [FREQUENCY]},
        "mesh": {"refinement": refinement},
        "fit": {"parameters": [KEY]},
    })


def scan(base, positions, comm) -> tuple[list, np.ndarray]:
    """(conditions, complex displacement per (position, harmonic 1, 2)) of the truth by simulate()."""
    conditions, values = [], []
    for x in positions:
        conditions.append({"tip.position": [float(x), 0.0]})
        rows = simulate(derived_study(base, conditions[-1] | {KEY: TRUTH}), comm).rows
        read = {}  # what the lock-in reads per harmonic: the total row where there is one
        for r in rows:
            if r.kind == "total" or r.harmonic not in read:
                read[r.harmonic] = r.displacement
        values += [read[1], read[2]]
    return conditions, np.array(values)


def noisy(conditions, values, noise: float, seed: int) -> Data:
    rng = np.random.default_rng(seed)
    # complex noise of standard deviation noise |y| in each part: amplitude sigma noise |y|, phase sigma noise rad
    y = values * (1 + noise * (rng.standard_normal(values.size) + 1j * rng.standard_normal(values.size)))
    count = len(values)
    return Data(frequency=np.full(count, FREQUENCY), harmonic=np.tile([1, 2], len(conditions)), amplitude=np.abs(y),
                phase=np.angle(y), amplitude_sigma=noise * np.abs(y), phase_sigma=np.full(count, noise),
                sigma_given=True, rows=np.arange(count), condition=np.repeat(np.arange(len(conditions)), 2),
                conditions=tuple(conditions))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refinement", type=float, default=0.25)
    parser.add_argument("--positions", type=int, default=5)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    comm = MPI.COMM_WORLD

    def say(text):
        if comm.rank == 0:
            print(text, flush=True)

    base = study(args.refinement)
    positions = np.linspace(-40e-9, 40e-9, args.positions)
    start = time.perf_counter()
    conditions, values = scan(base, positions, comm)
    say(f"data: {len(positions)} positions by simulate() in {time.perf_counter() - start:.1f} s")
    first = noisy(conditions, values, args.noise, 0)
    start = time.perf_counter()
    with JointModel(base, [KEY], first, comm, "fit.parameters") as model:
        say(f"models built in {time.perf_counter() - start:.1f} s; DOFs per position: "
            f"{[part.model.model.num_dofs for part in model.parts]}")
        for label, derivatives in (("forward", False), ("forward + tangent (first: compiles)", True),
                                   ("forward + tangent", True)):
            start = time.perf_counter()
            y, dy = model.predict([TRUTH], derivatives)
            say(f"{label}: {comm.allreduce(time.perf_counter() - start, op=MPI.MAX):.2f} s for {len(positions)} positions")
        h = 1e-3 * TRUTH
        difference = (model.predict([TRUTH + h])[0] - model.predict([TRUTH - h])[0]) / (2 * h)
        say(f"tangent against central difference: max |error| / max |derivative| = "
            f"{np.abs(dy[:, 0] - difference).max() / np.abs(difference).max():.2e}; prediction against simulate(): "
            f"{np.abs(y - values).max() / np.abs(values).max():.2e}")
        options = fit_options(base)
        for seed in range(args.seeds):
            data = noisy(conditions, values, args.noise, seed)
            before = model.evaluations
            result = fit_with(model, data, options, start=[START])
            p = result.parameters[0]
            low, high = p.interval_95
            say(f"seed {seed}: D_core = {p.value:.4g} +- {p.stderr:.3g} m^2/s (truth {TRUTH:g}; {(p.value - TRUTH) / p.stderr:+.2f} "
                f"sigma; in the 95 % interval: {low <= TRUTH <= high}), chi2_red {result.reduced_chi2:.2f}, "
                f"{result.nfev} evaluations ({model.evaluations - before} forward over all positions), "
                f"{result.wall_time_s:.1f} s, warnings {list(result.warnings)}")


if __name__ == "__main__":
    main()
