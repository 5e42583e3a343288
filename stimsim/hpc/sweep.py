"""Parameter sweeps over MPI: groups of ranks, dynamic load balancing and an incremental store.

``run_sweep(sweep, STORE, comm)`` splits ``comm`` into groups of ``sweep.ranks_per_sample`` ranks.
Rank 0 of ``comm`` runs a dispatcher thread beside its own group's work (or, with ``dispatcher =
'dedicated'``, only the dispatcher): every group leader asks it for sample ids (one ahead, so that it
never waits for the answer) and sends it each finished result, so the load balances itself and, by
default, rank 0 computes like everyone else. The dispatcher writes each result to the store
(:mod:`stimsim.hpc.store`) as it arrives, so a killed job loses only the samples in flight. Within a group
every rank solves the sample on the group communicator; an error in any rank (a rejected parameter
value, a solver failure) marks the sample failed on all of them and the sweep goes on.

Per-sample evaluation is :func:`evaluate`. Meshes are reused by the samples of a group that share a
:class:`~stimsim.geometry.axisymmetric.MeshSpec`, and so is the ionic solve method once measured; a sample that
differs from the previous one only in material properties, contact conductance or exchange velocity,
on the same mesh, reuses the whole model (forms, spaces, PETSc objects) with its parameters rewritten
in place (:class:`ModelCache`, :meth:`~stimsim.solve.model.HarmonicModel.set_parameters`); other models
take their compiled forms from the dolfinx/ffcx JIT cache.
"""

from __future__ import annotations

import gc
import logging
import signal
import socket
import threading
import time
import traceback
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path

from mpi4py import MPI
from petsc4py import PETSc

from stimsim.core.errors import InputError, StimsimError
from stimsim.core.parallel import on_root
from stimsim.core.progress import format_duration
from stimsim.geometry.domain import AxisymmetricDomain as Domain
from stimsim.geometry.meshes import load_domain, mesh_spec
from stimsim.hpc.sampling import Sweep, load_sweep, sweep_from_dict
from stimsim.hpc.store import Store, export_csv, finish_run, read_store, start_run
from stimsim.solve.model import HarmonicModel
from stimsim.solve.simulate import simulate

log = logging.getLogger(__name__)

__all__ = ["ModelCache", "Summary", "Sweep", "evaluate", "export_csv", "load_sweep", "read_store", "run_sweep",
           "sweep_from_dict"]

#: Message tags between group leaders and the dispatcher.
REQUEST, REPLY = 71, 72
#: Seconds the dispatcher sleeps between polls for requests (it must not spin a core).
POLL_SECONDS = 0.002
#: Signals that end a sweep cleanly (Slurm sends SIGTERM at the time limit; ``--signal=USR1@120`` earlier).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
#: What ffcx says when it gave up waiting for a form that another process is compiling.
JIT_TIMEOUT = "JIT compilation timed out"
#: Failed samples of a run reported on stderr (all are in samples.csv).
REPORTED_FAILURES = 10
#: Meshes kept per group.
CACHED_MESHES = 4


class ModelCache:
    """What the samples of one group share on its communicator: meshes by :meth:`MeshSpec.key` (the
    least recently used dropped first), the coupled ionic solve method once 'auto' chose the
    monolithic one (always applicable; the staggered one may not converge for another sample, so a
    staggered choice is measured again per sample) and the last model, which a sample on the same mesh
    that differs only in what :meth:`HarmonicModel.set_parameters` rewrites (material properties,
    contact conductance, exchange velocity) takes over in place: no new forms, spaces or PETSc objects."""

    def __init__(self, comm, capacity: int = CACHED_MESHES):
        self.comm, self.capacity = comm, capacity
        self.method = "auto"
        self._domains: OrderedDict[str, Domain] = OrderedDict()
        self._model: HarmonicModel | None = None

    def model(self, study) -> tuple[HarmonicModel, bool]:
        """(a model of ``study``, how it was made: 'model reused in place', 'mesh reused' or 'mesh
        loaded'); collective on the communicator. The mesh must be the one ``study`` asks for, so that
        results do not depend on the sample order."""
        spec = mesh_spec(study)
        last = self._model
        if last is not None and last.domain.spec.key() == spec.key() and last.updates_in_place(study):
            last.set_parameters(study)
            return last, "model reused in place"
        self.drop_model()
        domain, reused = self.domain(spec)
        self._model = HarmonicModel(study, self.comm, domain=domain, method=self.method)
        return self._model, "mesh reused" if reused else "mesh loaded"

    def drop_model(self) -> None:
        """Destroy the kept model (collective; after a failed sample its state is not trusted)."""
        if self._model is not None:
            self._model.destroy()
            self._model = None

    def domain(self, spec) -> tuple[Domain, bool]:
        """(the mesh of ``spec``, whether it was reused); collective on the communicator."""
        key = spec.key()
        if key in self._domains:
            self._domains.move_to_end(key)
            return self._domains[key], True
        self._domains[key] = load_domain(spec, self.comm)
        while len(self._domains) > self.capacity:
            self._domains.popitem(last=False)
        return self._domains[key], False


def evaluate(study, comm, cache: ModelCache) -> tuple[list, int, str]:
    """Solve one sample: (tip responses at every drive frequency of ``study``, number of DOFs, how the
    model was made, see :meth:`ModelCache.model`). Collective on ``comm``."""
    model, reused = cache.model(study)
    rows = list(simulate(study, comm, model=model).rows)
    if model.method_report is not None and model.method_report["chosen"] == "monolithic":
        cache.method = "monolithic"
    return rows, model.num_dofs, reused


@dataclass
class Summary:
    """Outcome of :func:`run_sweep`: sample counts (``stored`` and ``failed`` include earlier runs,
    ``new`` is this run's), seconds of this run, groups, and ``complete``: every sample is stored (False
    when a limit, a stop signal or a store error ended the run first)."""

    total: int
    stored: int
    failed: int
    new: int
    seconds: float
    groups: int
    complete: bool


class Dispatcher:
    """Rank 0: hands out sample ids, records results in the store, reports progress."""

    def __init__(self, store: Store, sweep: Sweep, max_samples, time_limit, quiet: bool, interval: float):
        self.store, self.sweep = store, sweep
        self.pending = deque(i for i in range(len(sweep)) if i not in store.stored)
        self.max_samples, self.time_limit, self.quiet, self.interval = max_samples, time_limit, quiet, interval
        self.lock = threading.Lock()
        self.start = time.perf_counter()
        self.handed = self.new = self.new_failed = 0
        self.error: str | None = None  # why the store cannot be written
        self.first_failure: str | None = None
        self.stopped: str | None = None  # name of the signal that asked to stop
        self.last_report = -float("inf")

    def next_index(self) -> int:
        """The next sample id to solve, or -1 when there is none (all handed out, a limit or a stop
        signal reached, or the store failed)."""
        with self.lock:
            if self.error is not None or not self.pending or self.limited():
                return -1
            self.handed += 1
            return self.pending.popleft()

    def record(self, group: int, outcome: dict) -> None:
        """Append a finished sample of ``group`` to the store; a write failure stops the sweep."""
        with self.lock:
            if self.error is not None:
                return
            try:
                self.store.record(**outcome, group=group)
                self.new += 1
                if outcome["status"] == "failed":
                    self.new_failed += 1
                    self.first_failure = self.first_failure or f"sample {outcome['sample_id']}: {outcome['error']}"
                    self.report_failure(outcome)
                self.report()
            except Exception as err:  # noqa: BLE001 (stops the sweep, reported on every rank)
                self.error = f"cannot be written: {type(err).__name__}: {err}"

    def sync(self) -> None:
        """fsync the store now (the dispatcher does when no message waits: group commit)."""
        with self.lock:
            try:
                self.store.sync()
            except OSError as err:
                self.error = self.error or f"cannot be written: {type(err).__name__}: {err}"

    def limited(self) -> bool:
        """Whether a stop signal, ``max_samples`` or ``time_limit`` forbid handing out another sample."""
        if self.stopped or self.max_samples is not None and self.handed >= self.max_samples:
            return True
        return self.time_limit is not None and time.perf_counter() - self.start >= self.time_limit

    def serve(self, comm, remote: int) -> None:
        """Answer the messages of ``remote`` other group leaders on ``comm`` (see :class:`RemoteQueue`)
        until each said it is done."""
        status = MPI.Status()
        while remote:
            if not comm.Iprobe(source=MPI.ANY_SOURCE, tag=REQUEST, status=status):
                if self.store.unsynced:
                    self.sync()
                time.sleep(POLL_SECONDS)
                continue
            source = status.Get_source()
            kind, group, outcome = comm.recv(source=source, tag=REQUEST)
            if kind == "next":
                comm.send(self.next_index(), dest=source, tag=REPLY)
            elif kind == "result":
                self.record(group, outcome)
            else:
                remote -= 1

    def report_failure(self, outcome: dict) -> None:
        """A failed sample is a problem, not progress: one line on stderr even when ``quiet``, for the
        first :data:`REPORTED_FAILURES` of a run (the rest are in samples.csv)."""
        if self.new_failed <= REPORTED_FAILURES:
            log.warning(f"sweep: sample {outcome['sample_id']} failed: {outcome['error']}")
        if self.new_failed == REPORTED_FAILURES:
            log.warning("sweep: further failures are recorded in samples.csv only")

    def report(self) -> None:
        """One progress line on stderr: stored samples, failures, rate and time left; at most every
        ``interval`` seconds or 2 % of the elapsed time (a few hundred lines for a day-long job)."""
        elapsed = time.perf_counter() - self.start
        if self.quiet or elapsed - self.last_report < max(self.interval, 0.02 * elapsed):
            return
        self.last_report = elapsed
        total, stored = len(self.sweep), len(self.store.stored)
        failed = sum(s == "failed" for s in self.store.stored.values())
        rate = self.new / elapsed if elapsed > 0 else 0.0
        left = f"{format_duration((total - stored) / rate)} left" if rate > 0 and stored < total else ""
        log.info(f"sweep: {stored}/{total} stored ({failed} failed) | {rate:.3g} samples/s | {left}".rstrip(" |"))


class GroupLog:
    """Append-only log of one group, written by its leader to STORE/logs/group-NNN.log."""

    def __init__(self, path: Path | None):
        try:
            self.stream = open(path, "a", buffering=1, encoding="utf-8") if path else None
        except OSError as err:
            log.warning(f"sweep: no group log ({err})")
            self.stream = None

    def __call__(self, text: str) -> None:
        if self.stream:
            self.stream.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}\n")

    def close(self) -> None:
        if self.stream:
            self.stream.close()


class LocalQueue:
    """Sample ids and results of the group of rank 0: direct calls to the dispatcher."""

    def __init__(self, dispatcher: Dispatcher, group: int):
        self.dispatcher, self.group = dispatcher, group

    def take(self) -> int:
        return self.dispatcher.next_index()

    def give(self, outcome: dict) -> None:
        self.dispatcher.record(self.group, outcome)

    def close(self) -> None:
        pass


class RemoteQueue:
    """Sample ids and results of another group's leader, by messages to the dispatcher on rank 0.

    The id of the next sample is asked for as soon as one is taken, so that the answer is there when
    the sample is solved: the dispatcher thread shares rank 0 with a solving group and answers only
    when that group's Python code lets it run (measured: 28 ms on average, 62 ms at worst, beside
    0.12-s samples), which would otherwise idle this group for that long per sample. Each group thus holds at most one reserved id besides the
    sample it solves."""

    def __init__(self, comm, group: int):
        self.comm, self.group, self.asked = comm, group, False

    def _ask(self) -> None:
        self.comm.send(("next", self.group, None), dest=0, tag=REQUEST)
        self.asked = True

    def take(self) -> int:
        if not self.asked:
            self._ask()
        index = self.comm.recv(source=0, tag=REPLY)
        self.asked = False
        if index >= 0:
            self._ask()
        return index

    def give(self, outcome: dict) -> None:
        self.comm.send(("result", self.group, outcome), dest=0, tag=REQUEST)

    def close(self) -> None:
        self.comm.send(("done", self.group, None), dest=0, tag=REQUEST)


class StopSignals:
    """While the sweep runs, SIGTERM and SIGUSR1 stop the handing out of samples (on rank 0; other ranks
    ignore them) instead of killing the process: the samples in flight finish and are stored.

    gmsh and PETSc install their own SIGTERM handlers when they start, so :meth:`arm` is called again
    after every sample. Only the main thread can set handlers; elsewhere this does nothing."""

    def __init__(self, dispatcher: Dispatcher | None):
        self.dispatcher = dispatcher
        self.active = threading.current_thread() is threading.main_thread()
        self.previous: dict = {}

    def _stop(self, number, frame) -> None:
        if self.dispatcher is not None:
            self.dispatcher.stopped = signal.Signals(number).name

    def arm(self) -> None:
        if self.active:
            for number in STOP_SIGNALS:
                signal.signal(number, self._stop)

    def __enter__(self) -> StopSignals:
        if self.active:
            self.previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
        self.arm()
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)


def run_sweep(
    sweep: Sweep, store: str | Path, comm=None, *, resume: bool = False, retry_failed: bool = False,
    quiet: bool = False, max_samples: int | None = None, time_limit: float | None = None,
    progress_interval: float = 1.0,
) -> Summary:
    """Solve every sample of ``sweep`` not yet in ``store`` on ``comm`` (default COMM_WORLD; collective).

    ``resume``: complete an existing store of the same sweep (refused for another sweep; an existing
    non-empty store is refused without it). ``retry_failed``: run the stored failed samples again.
    ``max_samples``, ``time_limit`` (s): hand out no more samples after that many or that long (a job
    ending cleanly before its wall-time limit; continue with ``resume``); SIGTERM and SIGUSR1 do the
    same (:class:`StopSignals`). Progress goes to stderr of
    rank 0 every ``progress_interval`` seconds unless ``quiet``. Returns the :class:`Summary` on every rank.
    """
    comm = comm or MPI.COMM_WORLD
    size, per = comm.size, sweep.ranks_per_sample
    dedicated = sweep.dispatcher == "dedicated"
    workers = size - dedicated
    if dedicated and size < 2:
        raise InputError("sweep.dispatcher", "= 'dedicated' needs at least 2 MPI ranks (rank 0 only dispatches)")
    if per > workers or workers % per:
        solving = f"{workers} solving ranks (all but the dedicated dispatcher)" if dedicated else f"{size} MPI ranks"
        raise InputError("sweep.ranks_per_sample", f"= {per} must divide the {solving}")
    if size > 1 and not dedicated and MPI.Query_thread() < MPI.THREAD_MULTIPLE:
        raise InputError("MPI", "must provide MPI_THREAD_MULTIPLE for a shared dispatcher (mpi4py.rc.thread_level); "
                         "or set sweep.dispatcher = 'dedicated'")
    groups = workers // per
    group = None if dedicated and comm.rank == 0 else (comm.rank - dedicated) // per
    hosts = sorted(set(comm.allgather(socket.gethostname())))

    def prepare():
        opened = Store.open(Path(store), sweep, resume, retry_failed)
        try:
            run = {"ranks": size, "ranks_per_sample": per, "groups": groups, "hosts": hosts}
            return opened, start_run(opened, run)
        except Exception:
            opened.close()
            raise

    prepared = on_root(comm, "STORE", prepare)
    start = time.perf_counter()
    dispatcher = opened = None
    if comm.rank == 0:
        opened, warnings = prepared
        dispatcher = Dispatcher(opened, sweep, max_samples, time_limit, quiet, progress_interval)
        if groups == 1 and not dedicated:
            opened.sync_seconds = 0.0  # no dispatcher thread to sync when idle: after every sample
        for warning in warnings:  # shown even when quiet
            log.warning(f"sweep: {warning}")
        if not quiet:
            log.info(f"sweep: {len(sweep)} samples, {len(dispatcher.pending)} to solve on {groups} group(s) of {per} "
                     f"rank(s){' + a dedicated dispatcher' if dedicated else ''} -> {store}")
    control = comm.Dup()
    group_comm = comm.Split(MPI.UNDEFINED if group is None else group, comm.rank)
    server = None
    if dispatcher is not None and not dedicated and groups > 1:
        server = threading.Thread(target=dispatcher.serve, args=(control, groups - 1), name="sweep-dispatcher")
        server.start()
    try:
        with StopSignals(dispatcher) as signals:
            if group is None:
                dispatcher.serve(control, groups)
            else:
                _work(sweep, Path(store), group, group_comm, control, dispatcher, signals.arm)
    finally:
        if server is not None:
            server.join()
        if group_comm != MPI.COMM_NULL:
            group_comm.Free()
        control.Free()
    outcome = None
    if comm.rank == 0:
        outcome = _finish(dispatcher, opened, time.perf_counter() - start, groups, str(store))
    outcome = comm.bcast(outcome, root=0)
    if isinstance(outcome, str):
        raise InputError("STORE", outcome)
    return outcome


def _finish(dispatcher: Dispatcher, store: Store, seconds: float, groups: int, name: str) -> Summary | str:
    """Rank 0 after the last sample: close the store, record the run, print the last line."""
    stored = len(store.stored)
    failed = sum(s == "failed" for s in store.stored.values())
    summary = Summary(len(dispatcher.sweep), stored, failed, dispatcher.new, seconds, groups, stored == len(dispatcher.sweep))
    stopped = None if summary.complete else dispatcher.stopped or dispatcher.error and "store error" or "a limit"
    try:
        try:
            store.sync()
            finish_run(store, {"new_samples": dispatcher.new, "new_failed": dispatcher.new_failed,
                               "seconds": round(seconds, 3), "stopped_by": stopped})
        finally:
            store.close()
    except Exception as err:  # noqa: BLE001 (reported on every rank)
        dispatcher.error = dispatcher.error or f"cannot be written: {type(err).__name__}: {err}"
    if dispatcher.error is not None:
        return f"{name!r} {dispatcher.error}"
    if dispatcher.new and dispatcher.new_failed == dispatcher.new:  # shown even when quiet
        log.warning(f"sweep: every sample of this run failed (first: {dispatcher.first_failure}); "
                    "check the base study (stimsim sweep --dry-run)")
    if not dispatcher.quiet:
        state = "done" if summary.complete else f"stopped by {stopped} (continue with --resume)"
        log.info(f"sweep: {state}: {stored}/{summary.total} stored ({failed} failed), {dispatcher.new} solved in "
                 f"{format_duration(seconds)} -> {name}")
    return summary


def _work(sweep: Sweep, store: Path, group: int, comm, control, dispatcher: Dispatcher | None, after_sample) -> None:
    """The loop of one group: get a sample id, solve it on ``comm``, hand in the result, repeat
    (calling ``after_sample()`` after each)."""
    leader = comm.rank == 0
    log = GroupLog(store / "logs" / f"group-{group:03d}.log" if leader else None)
    log(f"start: {comm.size} rank(s) on {', '.join(sorted(set(comm.allgather(socket.gethostname()))))}")
    cache = ModelCache(comm)
    queue = None
    if leader:
        queue = LocalQueue(dispatcher, group) if dispatcher is not None else RemoteQueue(control, group)
    frozen = False
    try:
        while True:
            index = comm.bcast(queue.take() if leader else None, root=0)
            if index < 0:
                break
            outcome = _solve(sweep, index, comm, cache, log)
            if leader:
                queue.give(outcome)
            after_sample()
            if not frozen:
                # What lives after the first sample (modules, compiled forms, cached meshes) leaves the
                # collector's sight: the clean-up after each sample then costs ~0.2 ms, not ~40 ms.
                gc.freeze()
                frozen = True
    finally:
        cache.drop_model()
        if leader:
            queue.close()
        if frozen:
            gc.unfreeze()
        log("stop")
        log.close()


def _attempt(sweep: Sweep, index: int, comm, cache: ModelCache) -> tuple[list, int, str, list]:
    """One try at sample ``index`` on every rank of ``comm``: (rows, DOFs, how the model was made, [(rank, error,
    traceback)] of the ranks that failed, the same list on every rank)."""
    rows, dofs, reused, error, detail = [], 0, "", None, None
    try:
        rows, dofs, reused = evaluate(sweep.study(index), comm, cache)
    except StimsimError as err:
        error = str(err)
    except Exception as err:  # noqa: BLE001 (one bad sample must not end the sweep)
        error, detail = f"{type(err).__name__}: {err}", traceback.format_exc()
    errors = comm.allgather((error, detail))
    if any(e is not None for e, _ in errors):
        cache.drop_model()
    gc.collect()
    PETSc.garbage_cleanup(comm)
    return rows, dofs, reused, [(rank, e, d) for rank, (e, d) in enumerate(errors) if e is not None]


def _solve(sweep: Sweep, index: int, comm, cache: ModelCache, log) -> dict:
    """Solve sample ``index`` on every rank of ``comm``; the leader gets the store record. A sample
    that failed only because another group was compiling the same form (dolfinx's JIT timeout, on a
    cold cache) is tried once more."""
    log(f"sample {index} start {sweep.values(index)}")
    start = time.perf_counter()
    rows, dofs, reused, failures = _attempt(sweep, index, comm, cache)
    if failures and all(JIT_TIMEOUT in error for _, error, _ in failures):
        log(f"sample {index}: {failures[0][1]}; trying again")
        rows, dofs, reused, failures = _attempt(sweep, index, comm, cache)
    wall = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
    if failures:
        rank, error, detail = failures[0]
        log(f"sample {index} failed after {wall:.3f} s on rank {rank} of the group: {error}")
        if detail:
            log(detail.rstrip())
        return dict(sample_id=index, status="failed", error=error, wall_time=wall, num_dofs=dofs, rows=[])
    log(f"sample {index} ok in {wall:.3f} s, {dofs} DOFs, {reused}")
    return dict(sample_id=index, status="ok", error="", wall_time=wall, num_dofs=dofs, rows=[r.row() for r in rows])
