"""3D defaults benchmark: a 3D study that names nothing about the mesh or the solver, against the
axisymmetric model, over chemical lengths sqrt(D/omega) of 0.01-1 contact radii and contact radii of
5-50 nm (docs/validation/verification.md, '3D defaults').

    .venv/bin/python benchmarks/threed_defaults.py [--ratios 0.01 0.1 0.3 1] [--radii 5e-9 20e-9 50e-9] [--frequency 2e4]

(run serially: each case runs in its own process, one rank, with an empty mesh cache, so that its wall
time includes meshing and its peak memory is its own). The sample is SDC with E_a = 0 at 20 kHz (as in
issue 25: D = 2e-12 m^2/s under a 20 nm contact is sqrt(D/omega) = a/5), D = (ratio a)^2 omega; the
study gives geometry.model = '3d' and nothing about [mesh] or [solver] (``--frequency``: another drive
frequency, Hz): mesh.accuracy 0.01 and
solver.linear 'auto' choose. 'wall s' is the whole case (mesh, model, base state, first and second
order), 'solve s' the solves alone, 'peak MB' the process's resident peak; the errors are those of the
complex tip displacement u1 (thermal) and u2 (ionic) against the axisymmetric model at refinement 2
(within 0.012 % of refinement 4 at sqrt(D/omega) = a/100, a = 20 nm). A warm-up case compiles the forms first.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import tempfile
import time

import child  # benchmarks/child.py: the case run in a process of its own

#: Drive frequency (Hz) unless --frequency, and heating power amplitude (W).
FREQUENCY, POWER = 2e4, 1e-7
#: Refinement of the axisymmetric reference.
REFERENCE_REFINEMENT = 2.0
#: Tip rows compared: (harmonic, kind).
KEYS = ((1, "thermal"), (2, "ionic"))


def raw_study(ratio: float, radius: float, model: str, frequency: float) -> dict:
    """The study of one case at ``frequency`` (Hz): only geometry.model chosen (the 3D defaults), or the
    axisymmetric reference."""
    diffusivity = (ratio * radius) ** 2 * 2 * math.pi * frequency
    raw = {
        "sample": {"material": "SDC", "properties": {"diffusivity": diffusivity, "activation_energy": 0.0}},
        "geometry": {"model": model},
        "tip": {"contact_radius": radius},
        "excitation": {"mode": "power", "power_amplitude": POWER, "frequencies": [frequency]},
    }
    if model == "axisymmetric":
        raw["mesh"] = {"refinement": REFERENCE_REFINEMENT}
    return raw


def measure(ratio: float, radius: float, model: str, frequency: float) -> None:
    """One case in this process: print its DOFs, times, solver, peak memory and tip displacements."""
    from mpi4py import MPI

    from stimsim.solve.forward import responses
    from stimsim.solve.model import HarmonicModel
    from stimsim.study.load import study_from_dict

    start = time.perf_counter()
    study = study_from_dict(raw_study(ratio, radius, model, frequency))
    with HarmonicModel(study, MPI.COMM_WORLD) as model_:
        built = time.perf_counter()
        rows = {(r.harmonic, r.kind): r.displacement for r in responses(model_, frequency)}
        solved = time.perf_counter()
        result = dict(dofs=model_.num_dofs, solver="iterative" if model_.iterative else "direct",
                      refinement=study.mesh.refinement, wall=solved - start, solve=solved - built,
                      peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      u=[[rows[k].real, rows[k].imag] for k in KEYS])
    child.report(result)


def run_child(ratio: float, radius: float, model: str, frequency: float, cache: str) -> dict:
    """The result of one case in its own process, with the mesh cache ``cache``."""
    environment = dict(os.environ, STIMSIM_CACHE_DIR=cache)
    command = [sys.executable, __file__, "--child", str(ratio), str(radius), model, str(frequency)]
    return child.run(command, f"{model} case ratio {ratio}, a = {radius}", environment)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.01, 0.1, 0.3, 1.0],
                        help="sqrt(D/omega) in contact radii")
    parser.add_argument("--radii", type=float, nargs="+", default=[5e-9, 20e-9, 50e-9], help="contact radii, m")
    parser.add_argument("--frequency", type=float, default=FREQUENCY, help="drive frequency, Hz")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure(float(args.child[0]), float(args.child[1]), args.child[2], float(args.child[3]))
        return
    with tempfile.TemporaryDirectory(prefix="stimsim-defaults-") as cache:
        run_child(1.0, 20e-9, "3d", args.frequency, cache)  # warm-up: compile the forms
        print(f"SDC, E_a = 0, {args.frequency:g} Hz, geometry.model = '3d' and nothing else; reference: axisymmetric at "
              f"refinement {REFERENCE_REFINEMENT:g}; one rank")
        print(f"{'sqrt(D/w)/a':>11} {'a nm':>5} {'refine':>6} {'DOFs':>8} {'solver':>9} {'wall s':>7} {'solve s':>7} "
              f"{'peak MB':>8} {'err u1':>8} {'err u2':>8}")
        for radius in args.radii:
            for ratio in args.ratios:
                found = run_child(ratio, radius, "3d", args.frequency, cache)
                reference = run_child(ratio, radius, "axisymmetric", args.frequency, cache)
                errors = [child.relative(a, b) for a, b in zip(found["u"], reference["u"])]
                print(f"{ratio:>11g} {radius * 1e9:>5g} {found['refinement']:>6.3g} {found['dofs']:>8d} "
                      f"{found['solver']:>9} {found['wall']:>7.1f} {found['solve']:>7.1f} {found['peak']:>8.0f} "
                      + " ".join(f"{100 * e:>7.2f}%" for e in errors), flush=True)


if __name__ == "__main__":
    main()
