"""Error of the second-order expansion against the nonlinear periodic state, by its small parameters.

    .venv/bin/python benchmarks/validity.py [--powers 0.02e-6 0.5e-6 1e-6 2e-6 4e-6]
        [--activation-energy 0.7] [--diffusivity 1e-12] [--partial-molar-volume 6.5e-6]
        [--concentration 4.15e3] [--periods 6] [--steps 64]

SDC under a 20 nm tip (by default D = 1e-12 m^2/s: omega tau = omega a^2/D = 50), power drive at
20 kHz, mesh refinement 0.5. For each power amplitude: the expansion's small parameters (stimsim.solve.validity), the
second harmonic u_2 of the expansion, and the periodic state of the nonlinear time-domain model
(stimsim.solve.timedomain, started from the first-order state, harmonics from the last of ``periods``).
The time stepping has its own error (Crank–Nicolson, ``steps`` per period: about 0.4 % on u_2), the
same fraction at every small amplitude, so the error of the expansion is measured against the
smallest amplitude: error = |R(P) / R(P_0) - 1| with R = u_2(time domain) / u_2(expansion). The last
line fits error = C gamma^p (gamma = E_a theta_1/(R T^2)) to the amplitudes with error > 0.1 %.
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
from stimsim.solve.forward import first_order_fields, responses
from stimsim.solve.model import HarmonicModel
from stimsim.materials.library import EV_TO_J_PER_MOL
from stimsim.solve.timedomain import periodic_harmonics
from stimsim.solve.validity import validity_parameters

FREQUENCY = 2e4


def study(power: float, properties: dict):
    return study_from_dict(
        {
            "sample": {"material": "SDC", "properties": properties},
            "tip": {"contact_radius": 20e-9},
            "excitation": {"mode": "power", "power_amplitude": power, "frequencies": [FREQUENCY]},
            "mesh": {"refinement": 0.5},
        }
    )


def measure(power: float, properties: dict, periods: int, steps: int) -> dict:
    """Small parameters, the expansion's u_2 and the time domain's u_1..u_3 at one power (W) on SDC
    with the material ``properties`` (SI)."""
    with HarmonicModel(study(power, properties), MPI.COMM_WORLD) as model:
        rows = {(r.harmonic, r.kind): r for r in responses(model, FREQUENCY)}
        first, _ = first_order_fields(model, FREQUENCY)
        parameters = validity_parameters(model, first)
        start = {name: fem.Function(V) for name, V in model.spaces.items()}
        for name in model.names:
            start[name].x.array[:] = first[1][name].x.array.real
        heating = lambda t: math.cos(2 * math.pi * FREQUENCY * t)  # noqa: E731  (the scaled harmonic 1)
        found = periodic_harmonics(model, FREQUENCY, heating, (1, 2, 3), periods, steps, start)
    return dict(power=power, tip=abs(rows[1, "thermal"].temperature), expansion=rows[2, "ionic"].displacement,
                found=found, **parameters)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--powers", type=float, nargs="+", default=[0.02e-6, 0.5e-6, 1e-6, 2e-6, 4e-6])
    parser.add_argument("--activation-energy", type=float, default=0.7, help="eV")
    parser.add_argument("--diffusivity", type=float, default=1e-12, help="m^2/s")
    parser.add_argument("--partial-molar-volume", type=float, default=6.5e-6, help="m^3/mol (SDC: 6.5e-6)")
    parser.add_argument("--concentration", type=float, default=4.15e3, help="mol/m^3 (SDC: 4.15e3)")
    parser.add_argument("--periods", type=int, default=6)
    parser.add_argument("--steps", type=int, default=64)
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    properties = {"activation_energy": args.activation_energy * EV_TO_J_PER_MOL, "diffusivity": args.diffusivity,
                  "partial_molar_volume": args.partial_molar_volume, "concentration": args.concentration}
    results = []
    for power in args.powers:
        start = time.perf_counter()
        results.append(measure(power, properties, args.periods, args.steps))
        results[-1]["seconds"] = time.perf_counter() - start
    reference = results[0]["found"][2] / results[0]["expansion"]
    if comm.rank == 0:
        print(f"E_a = {args.activation_energy} eV, D = {args.diffusivity:g} m^2/s, Omega = {args.partial_molar_volume:g} m^3/mol, "
              f"c0 = {args.concentration:g} mol/m^3; {args.periods} periods x {args.steps} steps; error against "
              f"P_0 = {args.powers[0]:g} W (R(P_0) = {abs(reference):.4f}, {math.degrees(np.angle(reference)):+.2f} deg)")
        print(f"{'P (W)':>9} {'theta_tip':>9} {'gamma':>7} {'th1/T':>7} {'c1/c0':>7} {'OmS/RT':>7} "
              f"{'|R|':>7} {'arg R':>7} {'error':>8} {'|u3/u2|':>8} {'s':>5}")
    fit = []
    for r in results:
        ratio = r["found"][2] / r["expansion"]
        error = abs(ratio / reference - 1)
        if error > 1e-3:
            fit.append((r["activation"], error))
        if comm.rank == 0:
            print(f"{r['power']:9.3g} {r['tip']:9.4g} {r['activation']:7.3g} {r['temperature']:7.3g} "
                  f"{r['concentration']:7.3g} {r['stress']:7.3g} {abs(ratio):7.4f} {math.degrees(np.angle(ratio)):+7.2f} "
                  f"{error:8.2%} {abs(r['found'][3] / r['found'][2]):8.2%} {r['seconds']:5.0f}")
    if comm.rank == 0 and len(fit) >= 2 and all(g > 0 for g, _ in fit):
        power, log_c = np.polyfit(np.log([g for g, _ in fit]), np.log([e for _, e in fit]), 1)
        coefficient = math.exp(log_c)
        print(f"fit: error = {coefficient:.3g} gamma^{power:.2f}; 1 % at gamma = {(0.01 / coefficient) ** (1 / power):.3g}")


if __name__ == "__main__":
    main()
