"""Sweep benchmark: parallel efficiency of one sweep on 2 ranks against 1, and the per-sample overhead
of the sweep machinery (dispatch, store with fsync, logs, clean-up) against bare forward solves.

    .venv/bin/python benchmarks/sweep.py [--samples 32] [--refinement 1] [--ionic] [--ranks 2] [--rounds 3]

Efficiency: ``--rounds`` rounds, each launching ``mpiexec -n 1`` and ``mpiexec -n RANKS`` sweeps of the
same samples one after the other (every process warms its JIT modules and meshes on one sample first),
and RANKS independent 1-rank sweeps at once: the machine's ceiling, what a perfect distribution can
reach on cores and memory bandwidth shared with other work. The fastest run of each kind counts.
Efficiency = T1 / (RANKS T_RANKS).

Overhead (one rank): the sweep's wall time minus the time spent inside
:func:`stimsim.hpc.sweep.evaluate` in the same run (robust to load from other processes), per sample and
relative to ``evaluate``; and, for scale, a bare loop of ``simulate`` (mesh read from the disk cache,
model built, solved, destroyed: what a user's own loop costs).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STUDY = Path(__file__).resolve().parents[1] / "studies" / "default.toml"


def definition(args) -> list[str]:
    """The sweep as --set overrides of the default study: conductivity (changes the mesh: thermal
    length) x Poisson ratio (does not)."""
    count = max(1, args.samples // 4)
    poisson = [round(0.2 + 0.2 * i / max(1, count - 1), 4) for i in range(count)]
    overrides = [
        "sweep.mode='grid'",
        f"mesh.refinement={args.refinement}",
        "excitation.frequencies=[1e4, 1e5]" if args.ionic else "excitation.frequencies=[1e3, 1e4, 1e5, 1e6]",
        'sweep.axes={"sample.properties.thermal_conductivity" = [1.0, 2.0, 3.0, 4.0], '
        f'"sample.properties.poisson_ratio" = {poisson}}}',
    ]
    return overrides if args.ionic else [*overrides, "sample.properties.partial_molar_volume=0.0"]


def child(args) -> None:
    """Inside mpiexec; prints one JSON line on rank 0."""
    import stimsim  # noqa: F401
    from mpi4py import MPI

    import stimsim.hpc.sweep as module
    from stimsim.solve.simulate import simulate
    from stimsim.hpc.sampling import load_sweep
    from stimsim.hpc.store import read_store

    comm = MPI.COMM_WORLD
    sweep = load_sweep(STUDY, definition(args))
    simulate(sweep.study(0), MPI.COMM_SELF)  # JIT modules and mesh cache, on every rank
    out = {"ranks": comm.size, "samples": len(sweep)}
    if args.role == "overhead":
        real, inside = module.evaluate, []

        def timed(study, comm, cache):
            start = time.perf_counter()
            try:
                return real(study, comm, cache)
            finally:
                inside.append(time.perf_counter() - start)

        module.evaluate = timed
        bare, runs = [], []
        for repeat in range(args.rounds):
            start = time.perf_counter()
            for index in range(len(sweep)):
                simulate(sweep.study(index), MPI.COMM_SELF)
            bare.append(time.perf_counter() - start)
            inside.clear()
            start = time.perf_counter()
            module.run_sweep(sweep, Path(f"{args.store}-{repeat}"), comm, quiet=True)
            total = time.perf_counter() - start
            runs.append((total, sum(inside)))
        out |= {"bare_simulate": min(bare), "sweep": min(t for t, _ in runs), "evaluate": min(e for _, e in runs),
                "machinery": min(t - e for t, e in runs)}
    else:
        start = time.perf_counter()
        summary = module.run_sweep(sweep, Path(args.store), comm, quiet=True)
        out["sweep"] = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
        if comm.rank == 0:
            _, samples, _ = read_store(args.store)
            out |= {"busy": sum(float(s["wall_time_s"]) for s in samples), "groups": summary.groups,
                    "dofs": sorted({int(s["num_dofs"]) for s in samples})}
    if comm.rank == 0:
        print("RESULT " + json.dumps(out), flush=True)


def launch(args, ranks: int, stores: list[Path], role: str = "sweep") -> list[dict]:
    """Run one ``mpiexec -n ranks`` child per store, all at the same time; their JSON results."""
    mpiexec = Path(sys.executable).with_name("mpiexec")
    options = ["--samples", str(args.samples), "--refinement", str(args.refinement), "--rounds", str(args.rounds),
               "--role", role] + (["--ionic"] if args.ionic else [])
    processes = [
        subprocess.Popen([str(mpiexec), "-n", str(ranks), sys.executable, __file__, "--child", "--store", str(store),
                          *options], stdout=subprocess.PIPE, text=True)
        for store in stores
    ]
    results = []
    for process in processes:
        output, _ = process.communicate()
        if process.returncode:
            raise SystemExit(f"benchmark child failed with status {process.returncode}")
        results.append(json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[7:]))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--refinement", type=float, default=1.0)
    parser.add_argument("--ionic", action="store_true", help="SDC with mobile ions (default: ions off)")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each kind; the fastest counts")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--role", default="sweep", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    folder = Path(tempfile.mkdtemp(prefix="stimsim-sweep-bench-"))
    serial, parallel, ceiling = [], [], []
    try:
        (overhead,) = launch(args, 1, [folder / "overhead"], role="overhead")
        for round_ in range(args.rounds):
            serial += launch(args, 1, [folder / f"serial-{round_}"])
            parallel += launch(args, args.ranks, [folder / f"parallel-{round_}"])
            alone = launch(args, 1, [folder / f"alone-{round_}-{i}" for i in range(args.ranks)])
            ceiling.append(max(run["sweep"] for run in alone))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    one, many = min(serial, key=lambda r: r["sweep"]), min(parallel, key=lambda r: r["sweep"])
    n = one["samples"]
    kind = "ions on" if args.ionic else "ions off"
    print(f"sweep of {n} samples: SDC ({kind}), refinement {args.refinement}, DOFs {one['dofs'][0]}-{one['dofs'][-1]}; "
          f"fastest of {args.rounds} rounds")
    print(f"{'ranks':>5} {'groups':>6} {'sweep s':>8} {'samples/s':>9} {'busy %':>7} {'efficiency':>10}")
    for run in (one, many):
        efficiency = one["sweep"] / (run["ranks"] * run["sweep"])
        busy = 100 * run["busy"] / (run["groups"] * run["sweep"])
        print(f"{run['ranks']:5d} {run['groups']:6d} {run['sweep']:8.2f} {n / run['sweep']:9.2f} {busy:7.1f} {efficiency:10.2f}")
    best = one["sweep"] / min(ceiling)
    achieved = one["sweep"] / (args.ranks * many["sweep"])
    print(f"machine ceiling now ({args.ranks} independent 1-rank sweeps at once): efficiency {best:.2f}; "
          f"the parallel sweep reaches {achieved / best:.2f} of it")
    per = {k: 1e3 * overhead[k] / n for k in ("bare_simulate", "sweep", "evaluate", "machinery")}
    print(f"per sample, 1 rank: sweep {per['sweep']:.1f} ms = evaluate {per['evaluate']:.1f} ms + machinery "
          f"{per['machinery']:.1f} ms ({100 * per['machinery'] / per['evaluate']:.1f} % of evaluate); "
          f"bare simulate loop {per['bare_simulate']:.1f} ms")


if __name__ == "__main__":
    main()
