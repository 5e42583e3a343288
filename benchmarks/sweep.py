"""Sweep benchmark: parallel efficiency of one sweep on 2 ranks against 1, and the per-sample overhead
of the sweep machinery (dispatch, store with fsync, logs, clean-up) against bare forward solves.

    .venv/bin/python benchmarks/sweep.py [--samples 32] [--refinement 1] [--ionic] [--ranks 2] [--repeat 3]

It starts ``mpiexec -n 1`` and ``mpiexec -n RANKS`` runs of the same samples (mesh and JIT caches warmed
first; every time is the fastest of ``--repeat`` runs) and prints: seconds per run, parallel efficiency
T1 / (RANKS T_RANKS), the busy fraction of the groups, the machine's ceiling (RANKS independent 1-rank
sweeps at once: what a perfect distribution could reach on cores shared with other work), and per
sample: a bare ``simulate`` (mesh read from the disk cache each time), a bare
:func:`stimsim.sweep.evaluate` (mesh reused, collector frozen as in the sweep) and the sweep
(``evaluate`` + dispatch, store with two fsyncs, group log, clean-up).
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
        f"mesh.refinement={args.refinement}",
        "excitation.frequencies=[1e3, 1e4, 1e5, 1e6]",
        'sweep.axes={"sample.properties.thermal_conductivity" = [1.0, 2.0, 3.0, 4.0], '
        f'"sample.properties.poisson_ratio" = {poisson}}}',
    ]
    if args.ionic:
        overrides[1] = "excitation.frequencies=[1e4, 1e5]"
    else:
        overrides.append("sample.properties.partial_molar_volume=0.0")
    return overrides


def child(args) -> None:
    """Inside mpiexec: the bare loops (serial only) and the sweep, each repeated and the fastest kept
    (the machine is shared); prints one JSON line on rank 0."""
    import gc

    import stimsim  # noqa: F401
    from mpi4py import MPI

    from stimsim.drive import simulate
    from stimsim.sampling import load_sweep
    from stimsim.store import read_store
    from stimsim.sweep import ModelCache, evaluate, run_sweep

    comm = MPI.COMM_WORLD
    sweep = load_sweep(STUDY, ["sweep.mode='grid'", *definition(args)])
    out = {"ranks": comm.size, "samples": len(sweep), "bare_simulate": [], "bare_evaluate": [], "sweep": []}
    bare = comm.size == 1 and not args.sweep_only
    if bare:
        for index in range(len(sweep)):  # warm the mesh and JIT caches
            simulate(sweep.study(index), MPI.COMM_SELF)[1].destroy()
    for repeat in range(args.repeat):
        if bare:
            start = time.perf_counter()
            for index in range(len(sweep)):
                simulate(sweep.study(index), MPI.COMM_SELF)[1].destroy()
            out["bare_simulate"].append(time.perf_counter() - start)
            cache = ModelCache(MPI.COMM_SELF)
            gc.collect()
            gc.freeze()  # as the sweep does, so that the difference is the machinery alone
            start = time.perf_counter()
            for index in range(len(sweep)):
                evaluate(sweep.study(index), MPI.COMM_SELF, cache)
            out["bare_evaluate"].append(time.perf_counter() - start)
            gc.unfreeze()
        store = Path(f"{args.store}-{repeat}")
        start = time.perf_counter()
        summary = run_sweep(sweep, store, comm, quiet=True)
        out["sweep"].append(comm.allreduce(time.perf_counter() - start, op=MPI.MAX))
        if comm.rank == 0:
            _, samples, _ = read_store(store)
            if out["sweep"][-1] == min(out["sweep"]):
                out["busy"] = sum(float(s["wall_time_s"]) for s in samples)
            out["groups"] = summary.groups
            out["dofs"] = sorted({int(s["num_dofs"]) for s in samples})
    if comm.rank == 0:
        print("RESULT " + json.dumps({k: min(v) if isinstance(v, list) and v and k != "dofs" else v
                                      for k, v in out.items()}), flush=True)


def launch(args, ranks: int, stores: list[Path], sweep_only: bool = False) -> list[dict]:
    """Run one ``mpiexec -n ranks`` child per store, all at the same time; their JSON results."""
    mpiexec = Path(sys.executable).with_name("mpiexec")
    options = ["--samples", str(args.samples), "--refinement", str(args.refinement), "--repeat", str(args.repeat)]
    options += ["--ionic"] if args.ionic else []
    options += ["--sweep-only"] if sweep_only else []
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
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the fastest counts")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--sweep-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    folder = Path(tempfile.mkdtemp(prefix="stimsim-sweep-bench-"))
    try:
        (serial,) = launch(args, 1, [folder / "serial"])
        (parallel,) = launch(args, args.ranks, [folder / "parallel"])
        independent = launch(args, 1, [folder / f"alone-{i}" for i in range(args.ranks)], sweep_only=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    n = serial["samples"]
    kind = "ions on" if args.ionic else "ions off"
    print(f"sweep of {n} samples: SDC ({kind}), refinement {args.refinement}, DOFs {serial['dofs'][0]}-{serial['dofs'][-1]}")
    print(f"{'ranks':>5} {'groups':>6} {'sweep s':>8} {'samples/s':>9} {'busy %':>7} {'efficiency':>10}")
    for run in (serial, parallel):
        efficiency = serial["sweep"] / (run["ranks"] * run["sweep"])
        busy = 100 * run["busy"] / (run["groups"] * run["sweep"])
        print(f"{run['ranks']:5d} {run['groups']:6d} {run['sweep']:8.2f} {n / run['sweep']:9.2f} {busy:7.1f} {efficiency:10.2f}")
    ceiling = serial["sweep"] / max(run["sweep"] for run in independent)
    print(f"ceiling of this machine now: {args.ranks} independent 1-rank sweeps of the same samples at once "
          f"reach efficiency {ceiling:.2f} (cores shared with other work, memory bandwidth); "
          f"the parallel sweep reaches {serial['sweep'] / (args.ranks * parallel['sweep']) / ceiling:.2f} of it")
    bare, reuse, sweep = (1e3 * serial[k] / n for k in ("bare_simulate", "bare_evaluate", "sweep"))
    print(f"per sample (1 rank): bare simulate {bare:.1f} ms, bare evaluate (mesh reused, gc frozen) {reuse:.1f} ms, "
          f"sweep {sweep:.1f} ms")
    print(f"sweep machinery overhead: {sweep - reuse:.1f} ms per sample ({100 * (sweep - reuse) / reuse:.1f} % of evaluate, "
          f"{100 * (sweep - bare) / bare:+.1f} % against bare simulate)")


if __name__ == "__main__":
    main()
