"""Grain-boundary mesh convergence at the 3D defaults: the tip displacements u1 (thermal) and u2 (ionic)
with a grain boundary near a centred tip, and their contrast against the homogeneous sample on the same
mesh, at the default mesh and finer refinements (docs/validation/verification.md, 'Grain boundaries').

    .venv/bin/python benchmarks/grain_convergence.py [--widths 2e-9 4e-9] [--offsets 0 1 3]
        [--cores 10 100 0.01] [--refinements default 0.6 0.8] [--cells-per-core 1 2 4 8]

The sample is issue 25's (studies/ceria_3d.toml: SDC, D = 2e-12 m^2/s, E_a = 0, a = 20 nm, 20 kHz,
sqrt(D/omega) = a/5); the boundary is the plane x = d (normal (1, 0)) with a core of the given width
whose diffusivity is the grain's times each ``--cores`` factor, d = offset contact radii, so that y = 0
stays a mirror plane (a half box; a quarter box at d = 0). 'default' is a study with nothing in [mesh]
(mesh.accuracy 0.01). Each (width, offset, refinement) runs in its own process, one rank, with an empty
mesh cache: the model is built once (its core's properties update in place) and solved for the
homogeneous sample (the core with the grain's properties) and each core. 'wall s'/'CPU s' of the first
solve include meshing and building the model (the cost of one tip position), those of the others the
solve alone; 'peak MB' is the process's resident peak. The reference is the finest refinement given, or
a Richardson extrapolation from the three finest (the observed order p from their differences, printed
where the differences are monotone); the errors are those of the complex u1 and u2 against it, and of
the contrast C = u/u_homogeneous - 1 in absolute terms (fractions of the homogeneous response).
``--cells-per-core`` replaces the refinements by the cells across the core at the first refinement
(:data:`stimsim.geometry.box.CELLS_PER_CORE` set in each child; the rest of the mesh is the same), the last
value the reference: it isolates the core's resolution.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time

import child  # benchmarks/child.py: the case run in a process of its own

#: Issue 25's sample: grain diffusivity (m^2/s), contact radius (m), drive frequency (Hz), power (W).
DIFFUSIVITY, RADIUS, FREQUENCY, POWER = 2e-12, 20e-9, 2e4, 1e-7
#: Tip rows: (harmonic, kind).
KEYS = ((1, "thermal"), (2, "ionic"))
#: The homogeneous sample's core factor (the core takes the grain's properties).
HOMOGENEOUS = 1.0


def raw_study(width: float, offset: float, factor: float, refinement: str) -> dict:
    """The study of one case: a boundary at x = offset contact radii with a core ``width`` (m) of
    ``factor`` times the grain's diffusivity; ``refinement`` a number or 'default' (nothing in [mesh])."""
    core = {} if factor == HOMOGENEOUS else {"diffusivity": factor * DIFFUSIVITY}
    raw = {
        "sample": {"material": "SDC", "properties": {"diffusivity": DIFFUSIVITY, "activation_energy": 0.0}},
        "geometry": {"model": "3d", "grain_boundaries": [
            {"point": [offset * RADIUS, 0.0], "normal": [1.0, 0.0], "width": width, "properties": core}]},
        "tip": {"contact_radius": RADIUS},
        "excitation": {"mode": "power", "power_amplitude": POWER, "frequencies": [FREQUENCY]},
    }
    if refinement != "default":
        raw["mesh"] = {"refinement": float(refinement)}
    return raw


def measure(width: float, offset: float, refinement: str, cells: float | None, factors: list[float]) -> None:
    """One mesh in this process (``cells`` across the core, None: the default): print, per core factor
    (the homogeneous one first), the tip displacements and the times, then the DOFs, the refinement and
    the peak memory."""
    from mpi4py import MPI

    from stimsim.geometry import box

    if cells is not None:
        box.CELLS_PER_CORE = cells

    from stimsim.solve.forward import responses
    from stimsim.solve.model import HarmonicModel
    from stimsim.study.load import study_from_dict

    def timed(model) -> dict:
        rows = {(r.harmonic, r.kind): r.displacement for r in responses(model, FREQUENCY)}
        return {"u": [[rows[k].real, rows[k].imag] for k in KEYS]}

    wall, cpu = time.perf_counter(), time.process_time()
    study = study_from_dict(raw_study(width, offset, HOMOGENEOUS, refinement))
    solves = {}
    with HarmonicModel(study, MPI.COMM_WORLD) as model:
        for factor in [HOMOGENEOUS, *factors]:
            if factor != HOMOGENEOUS:
                changed = study_from_dict(raw_study(width, offset, factor, refinement))
                assert model.updates_in_place(changed)
                model.set_parameters(changed)
            solves[factor] = timed(model) | {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
            wall, cpu = time.perf_counter(), time.process_time()
        result = dict(dofs=model.num_dofs, refinement=study.mesh.refinement, cells=box.CELLS_PER_CORE,
                      mirrors=len(model.domain.spec.mirrors),
                      peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      solves={str(f): s for f, s in solves.items()})
    child.report(result)


def run_child(width: float, offset: float, refinement: str, factors: list[float], cells: float | None = None) -> dict:
    """The result of one mesh in its own process, with an empty mesh cache."""
    with tempfile.TemporaryDirectory(prefix="stimsim-grains-") as cache:
        environment = dict(os.environ, STIMSIM_CACHE_DIR=cache)
        command = [sys.executable, __file__, "--child", str(width), str(offset), refinement, str(cells or 0),
                   *map(str, factors)]
        return child.run(command, f"width {width}, offset {offset}, refinement {refinement}, cells {cells}", environment)


def stored(store: dict, path: str | None, width: float, offset: float, refinement: str, factors: list[float],
           cells: float | None = None) -> dict:
    """The result of one mesh from ``store`` or, if not there, :func:`run_child`'s, then saved to ``path``."""
    key = f"{width:g} {offset:g} {refinement} " + " ".join(f"{f:g}" for f in factors)
    if cells is not None:
        key += f" cells {cells:g}"
    if key not in store:
        store[key] = run_child(width, offset, refinement, factors, cells)
        if path:
            with open(path, "w") as file:
                json.dump(store, file, indent=1)
    return store[key]


def richardson(refinements: list[float], values: list[complex]) -> tuple[complex, float | None]:
    """The extrapolation to infinite refinement of ``values`` at the three finest ``refinements`` (cell
    sizes h ~ 1/refinement) with the observed order p, and p; the finest value and None where the
    differences are not monotone (p not defined) or there are fewer than three refinements."""
    if len(values) < 3:
        return values[-1], None
    (r1, r2, r3), (f1, f2, f3) = refinements[-3:], values[-3:]
    ratio = abs(f2 - f1) / abs(f3 - f2) if f3 != f2 else math.inf
    if not math.isfinite(ratio) or ratio <= 1 or ((f2 - f1) / (f3 - f2)).real <= 0:
        return f3, None

    def model_ratio(p: float) -> float:
        return (r1**-p - r2**-p) / (r2**-p - r3**-p)

    low, high = 0.05, 12.0  # bisection on the increasing model ratio
    if not model_ratio(low) < ratio < model_ratio(high):
        return f3, None
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if model_ratio(middle) < ratio else (low, middle)
    p = (low + high) / 2
    return f3 + (f3 - f2) * r3**-p / (r2**-p - r3**-p), p


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=float, nargs="+", default=[2e-9, 4e-9], help="core widths, m")
    parser.add_argument("--offsets", type=float, nargs="+", default=[0.0, 1.0, 3.0],
                        help="boundary offsets d from the tip's centre, contact radii")
    parser.add_argument("--cores", type=float, nargs="+", default=[10.0, 100.0, 0.01],
                        help="core diffusivities, multiples of the grain's")
    parser.add_argument("--refinements", nargs="+", default=["default", "0.6", "0.8"],
                        help="'default' (nothing in [mesh]) or mesh.refinement values, coarse to fine")
    parser.add_argument("--cells-per-core", type=float, nargs="+",
                        help="cells across the core at the first refinement, coarse to fine (instead of the refinements)")
    parser.add_argument("--reference", choices=("finest", "richardson"), default="richardson")
    parser.add_argument("--store", help="JSON file of the results so far: cases found there are not run again")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        cells = float(args.child[3]) or None
        measure(float(args.child[0]), float(args.child[1]), args.child[2], cells, [float(f) for f in args.child[4:]])
        return
    store = json.load(open(args.store)) if args.store and os.path.exists(args.store) else {}
    if not store:
        run_child(args.widths[0], 0.0, "0.3", [])  # warm-up: compile the forms
    print(f"SDC, D = {DIFFUSIVITY:g} m^2/s, E_a = 0, a = {RADIUS * 1e9:g} nm, {FREQUENCY:g} Hz; boundary x = d; one rank; "
          f"reference: {args.reference}")
    for width in args.widths:
        for offset in args.offsets:
            if args.cells_per_core:
                results = [stored(store, args.store, width, offset, args.refinements[0], args.cores, n)
                           for n in args.cells_per_core]
            else:
                results = [stored(store, args.store, width, offset, r, args.cores) for r in args.refinements]
            report(width, offset, results, args.cores, "finest" if args.cells_per_core else args.reference)


def report(width: float, offset: float, results: list[dict], factors: list[float], how: str) -> None:
    """Print the table of one (width, offset): per core, per refinement, u1 and u2, the contrasts and
    their errors against the reference."""
    refinements = [r["refinement"] for r in results]
    print(f"\ncore {width * 1e9:g} nm, d = {offset:g} a")
    print(f"{'core D':>7} {'refine':>6} {'cells':>5} {'DOFs':>8} {'wall s':>7} {'CPU s':>7} {'peak MB':>8} {'|u1| pm':>9} "
          f"{'|u2| am':>9} {'C1 %':>8} {'C2 %':>8} {'err u1':>7} {'err u2':>7} {'err C1':>7} {'err C2':>7}")
    for factor in [HOMOGENEOUS, *factors]:
        u = [[complex(*r["solves"][str(factor)]["u"][i]) for r in results] for i in range(2)]
        homogeneous = [[complex(*r["solves"][str(HOMOGENEOUS)]["u"][i]) for r in results] for i in range(2)]
        contrast = [[a / b - 1 for a, b in zip(u[i], homogeneous[i])] for i in range(2)]
        extrapolated = [richardson(refinements, u[i]) if how == "richardson" else (u[i][-1], None) for i in range(2)]
        contrast_reference = [richardson(refinements, contrast[i]) if how == "richardson" else (contrast[i][-1], None)
                              for i in range(2)]
        for j, r in enumerate(results):
            solve = r["solves"][str(factor)]
            errors = [abs(u[i][j] / extrapolated[i][0] - 1) for i in range(2)]
            errors += [abs(contrast[i][j] - contrast_reference[i][0]) for i in range(2)]
            print(f"{factor:>7g} {r['refinement']:>6.3g} {r.get('cells', 0):>5g} {r['dofs']:>8d} {solve['wall']:>7.1f} {solve['cpu']:>7.1f} "
                  f"{r['peak']:>8.0f} {abs(u[0][j]) * 1e12:>9.4f} {abs(u[1][j]) * 1e18:>9.4f} "
                  f"{100 * abs(contrast[0][j] + 1) - 100:>8.3f} {100 * abs(contrast[1][j] + 1) - 100:>8.3f} "
                  + " ".join(f"{100 * e:>6.2f}%" for e in errors))
        orders = [p for _, p in extrapolated + contrast_reference]
        print(f"{'':>7} order p (u1, u2, C1, C2): " + ", ".join("-" if p is None else f"{p:.2f}" for p in orders),
              flush=True)


if __name__ == "__main__":
    main()
