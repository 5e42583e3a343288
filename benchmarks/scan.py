"""3D benchmark, one tip position: a centred tip on homogeneous ionic SDC in 3D (quarter box) against
the axisymmetric model, with the DOFs, the wall time and the memory of each 3D refinement.

    .venv/bin/python benchmarks/scan.py [--refinement 0.35 0.5 0.75] [--diffusivity 4e-10]
    .venv/bin/mpiexec -n 2 .venv/bin/python benchmarks/scan.py
    .venv/bin/mpiexec -n 2 .venv/bin/python benchmarks/scan.py --scan studies/line_scan_3d.toml

With ``--scan STUDY`` it runs the study's line scan or map instead (stimsim.experiments.scans: the distinct
tip-centred problems shared among groups of ranks_per_position ranks) into a temporary folder and prints
each problem's DOFs and wall time (from the store's samples.csv) and the scan's total: run it on 1 and
on 2 ranks for the parallel efficiency of a scan.

With ``--throughput [STUDY]`` (default studies/line_scan_ceria_3d.toml, issue 25's line scan across a
grain boundary of the ceria-like sample) it runs the study's line scan with an empty mesh cache and
prints the positions per hour (wall, and from the CPU time of the two cores), the share of each stage
in the groups' time (gmsh mesh generation, mesh reading, model build with spaces and forms, MUMPS
analysis, numeric factorisation, triangular solves, and the rest of the solve phase: assembly, norms
and checks) and the estimate of a 32 x 32 map of the same study over -5 a..5 a (its distinct problems
times the mean wall time of an off-centre problem, over the groups):

    .venv/bin/mpiexec -n 2 .venv/bin/python benchmarks/scan.py --throughput

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
from pathlib import Path

import stimsim  # noqa: F401
from mpi4py import MPI

from stimsim.study.load import study_from_dict
from stimsim.solve.forward import responses
from stimsim.solve.model import HarmonicModel

FREQUENCY, RADIUS = 1e5, 20e-9
#: The study of --throughput: issue 25's line scan across a grain boundary of the ceria-like sample.
THROUGHPUT_STUDY = Path(__file__).resolve().parents[1] / "studies" / "line_scan_ceria_3d.toml"
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
    print(f"{'problem':>8} {'boundaries':>40} {'DOFs':>8} {'wall s':>8} {'group':>5}")
    for store in sorted(folder.glob("*.store")):
        _, samples, _ = read_store(store)
        for row in samples:
            cell = row["geometry.grain_boundaries"]
            planes = json.loads(cell) if cell.startswith("[") else []
            where = "; ".join(f"{b['point']} n {b['normal']}" for b in planes) or "none"
            print(f"{row['sample_id']:>8} {where:>40} {row['num_dofs']:>8} {float(row['wall_time_s']):>8.1f} "
                  f"{row['group']:>5}")
        walls = [float(row["wall_time_s"]) for row in samples]
        print(f"{store.stem}: {len(samples)} distinct problems, {sum(walls) / len(walls):.1f} s per problem, "
              f"{total:.1f} s in all (CPU {resource.getrusage(resource.RUSAGE_SELF).ru_utime:.1f} s on rank 0)")


#: PETSc events of the direct solves (MUMPS): analysis, numeric factorisation, triangular solves.
SOLVER_EVENTS = {"analysis": "MatLUFactorSym", "factorisation": "MatLUFactorNum", "solves": "MatSolve"}
#: Stages of :func:`throughput`, in the order printed.
STAGES = ("mesh generation", "mesh reading", "model build", "analysis", "factorisation", "solves", "assembly and rest")
#: The 32 x 32 map the throughput is extrapolated to, in contact radii about the boundary.
MAP_POINTS, MAP_HALF_WIDTH = 32, 5.0


class StageClock:
    """Seconds spent in wrapped callables, by stage (this rank)."""

    def __init__(self):
        self.seconds = dict.fromkeys(STAGES, 0.0)

    def wrap(self, owner, name: str, stage: str) -> None:
        """Time every call of ``owner.name`` into ``stage``."""
        inner = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - start

        setattr(owner, name, timed)


def throughput(path: str, comm) -> None:
    """Run the line scan of the study ``path`` with an empty mesh cache and print its throughput, the
    stages' shares and the estimate of a 32 x 32 map (see the module)."""
    import os
    import tempfile
    from pathlib import Path

    from petsc4py import PETSc

    from stimsim.hpc import sweep
    from stimsim.experiments.run import run_experiments
    from stimsim.experiments.scans import scan_positions, scan_problems
    from stimsim.geometry.box import BoxMeshSpec
    from stimsim.hpc.store import read_store
    from stimsim.study.load import load_study

    folder = Path(comm.bcast(tempfile.mkdtemp(prefix="stimsim-throughput-") if comm.rank == 0 else None, root=0))
    os.environ["STIMSIM_CACHE_DIR"] = str(folder / "meshes")  # mesh generation is part of the cost
    clock = StageClock()
    clock.wrap(BoxMeshSpec, "write_msh", "mesh generation")
    clock.wrap(sweep, "load_domain", "mesh reading")
    clock.wrap(sweep, "HarmonicModel", "model build")
    clock.wrap(sweep, "simulate", "assembly and rest")
    PETSc.Log.begin()
    study = load_study(path)
    cpu, start = time.process_time(), time.perf_counter()
    run_experiments(study, comm, folder=folder / "out", quiet=True)
    wall, cpu = time.perf_counter() - start, comm.allreduce(time.process_time() - cpu)
    seconds = clock.seconds
    seconds["mesh reading"] -= seconds["mesh generation"]  # load_domain generates a missing mesh
    counts = {}
    for stage, event in SOLVER_EVENTS.items():
        info = PETSc.Log.Event(event).getPerfInfo()
        seconds[stage], counts[stage] = info["time"], comm.allreduce(int(info["count"]))
        seconds["assembly and rest"] -= seconds[stage]
    seconds = {stage: comm.allreduce(value) for stage, value in seconds.items()}
    peak = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, op=MPI.MAX)
    if comm.rank != 0:
        return
    (name, options), = study.extensions["protocol"].items()
    positions = scan_positions(name, options)
    which, _ = scan_problems(study, positions)
    _, samples, _ = read_store(folder / "out" / f"{name}.store")
    groups = comm.size // options.get("ranks_per_position", 1)
    print(f"{path}: {len(positions)} positions, {len(samples)} distinct problems, {comm.size} rank(s) in {groups} group(s)")
    print(f"{'problem':>7} {'positions':>9} {'DOFs':>8} {'wall s':>8} {'group':>5}")
    for row in samples:
        index = int(row["sample_id"])
        print(f"{index:>7} {which.count(index):>9} {row['num_dofs']:>8} {float(row['wall_time_s']):>8.1f} {row['group']:>5}")
    busy = sum(seconds.values())
    print(f"wall {wall:.1f} s, CPU {cpu:.1f} s (all ranks), peak {peak:.0f} MB (largest rank): "
          f"{3600 * len(positions) / wall:.0f} positions/h wall, {3600 * len(positions) / (cpu / comm.size):.0f} "
          f"positions/h from the CPU time of {comm.size} core(s)")
    print("stage shares of the groups' time (" + f"{busy:.1f} s): "
          + ", ".join(f"{stage} {100 * value / busy:.1f} %" for stage, value in seconds.items()))
    print("per problem: " + ", ".join(f"{counts[stage] / len(samples):.1f} {stage}" for stage in SOLVER_EVENTS)
          + " (PETSc event counts)")
    _map_estimate(study, samples, which, groups, wall / len(samples) * groups, cpu / len(samples))


def _map_estimate(study, samples, which, groups: int, wall: float, cpu: float) -> None:
    """Print the estimated time of a 32 x 32 map of ``study`` over -5 a..5 a: its distinct problems (and,
    for comparison, its positions) times the mean wall time of an off-centre problem of the scan
    (``samples`` of the store, ``which`` the problem of each position), over ``groups``; ``wall`` and
    ``cpu`` the scan's wall and CPU seconds per problem, all stages included."""
    from stimsim.experiments.scans import scan_positions, scan_problems

    radius = study.tip.contact_radius
    half = MAP_HALF_WIDTH * radius
    grid = {"origin": [-half, -half], "size": [2 * half, 2 * half], "points": [MAP_POINTS, MAP_POINTS]}
    problems = len(scan_problems(study, scan_positions("map", grid))[1])
    centred = which[len(which) // 2]  # the middle position of the line scan: the boundary under the tip
    off = [float(row["wall_time_s"]) for row in samples if int(row["sample_id"]) != centred]
    each = sum(off) / len(off)
    hours = problems * each / groups / 3600
    print(f"32 x 32 map over +-{MAP_HALF_WIDTH:g} a: {problems} distinct problems; {each:.1f} s each (solve wall, mean "
          f"off-centre problem): {hours:.2f} h on {groups} group(s); scan wall per problem with every stage "
          f"{wall:.1f} s, CPU {cpu:.1f} s: {problems * wall / groups / 3600:.2f} h wall, "
          f"{problems * cpu / groups / 3600:.2f} h CPU; one solve per position instead: "
          f"{MAP_POINTS**2 * wall / groups / 3600:.1f} h wall, {MAP_POINTS**2 * cpu / groups / 3600:.1f} h CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refinement", type=float, nargs="+", default=[0.35, 0.5, 0.75])
    parser.add_argument("--diffusivity", type=float, default=4e-10, help="ionic diffusivity, m^2/s")
    parser.add_argument("--scan", metavar="STUDY", help="run this study's line scan or map instead")
    parser.add_argument("--throughput", metavar="STUDY", nargs="?", const=str(THROUGHPUT_STUDY),
                        help="run this study's line scan (default: issue 25's) for its throughput instead")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    if args.throughput:
        throughput(args.throughput, comm)
        return
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
