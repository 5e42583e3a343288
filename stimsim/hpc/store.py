"""The sweep result store: a folder of append-only CSV files that survives a killed job.

Layout of ``STORE/``:

* ``results.csv``: one row per sample and output: ``sample_id``, a column per axis key, ``status``,
  ``wall_time_s`` and the response.csv columns (:data:`stimsim.io.files.RESPONSE_COLUMNS`);
* ``samples.csv``: one row per finished sample: ``sample_id``, ``status`` ('ok' or 'failed'),
  ``error``, ``wall_time_s`` (s), ``num_dofs``, ``num_rows`` (its rows in results.csv), ``group`` and
  the axis values;
* ``sweep.json``: the sweep definition (base study, axes, every sample) and its fingerprint;
* ``study.toml``: the base study with its [sweep] table, self-contained (``stimsim sweep STORE/study.toml``
  reproduces the sweep); ``provenance.json``: versions, git revision, study file hash and every run;
* ``logs/group-NNN.log``: what each group of ranks did.

Only rank 0 writes these (the group logs excepted). Each finished sample is written to both files at
once (results rows first, then its samples row) and handed to the operating system, so killing the
job loses only the samples in flight; the files are fsynced at most a second later (group commit: at
hundreds of results a second, an fsync per sample would throttle the dispatcher on a parallel file
system), so a crash of rank 0's node loses at most that second. A sample counts as stored when its
samples row is complete and, if it succeeded, all its ``num_rows`` result rows are there: resume drops
a half-written last line, result rows of unfinished samples and samples whose rows did not all reach
the disk (writes of two files may land out of order in a crash), and solves those again. CSV was
chosen over Parquet or NetCDF because it can be appended and synced row by row without rewriting,
needs no extra package and reads directly into pandas (``read_csv``).
"""

from __future__ import annotations

import csv
import datetime
import fcntl
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import tomli_w

from stimsim.core.errors import InputError
from stimsim.io.files import RESPONSE_COLUMNS, write_rows
from stimsim.hpc.sampling import Sweep

#: Version of the store layout, in sweep.json.
STORE_FORMAT = 1
#: Leading columns of samples.csv (the axis keys follow).
SAMPLE_COLUMNS = ("sample_id", "status", "error", "wall_time_s", "num_dofs", "num_rows", "group")
#: Default seconds between fsyncs of the store (0: after every sample).
SYNC_SECONDS = 1.0
#: Columns of results.csv around the axis keys.
RESULT_LEAD, RESULT_STATUS = ("sample_id",), ("status", "wall_time_s")


def result_columns(axes) -> list[str]:
    """Columns of results.csv (and of ``stimsim export``) for the axis keys ``axes``."""
    return [*RESULT_LEAD, *axes, *RESULT_STATUS, *RESPONSE_COLUMNS]


def sample_columns(axes) -> list[str]:
    """Columns of samples.csv for the axis keys ``axes``."""
    return [*SAMPLE_COLUMNS, *axes]


def cell(value) -> str:
    """A value as one CSV cell on one line: floats in full precision, lists as JSON."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return " | ".join(str(value).splitlines())


class Store:
    """An open store on rank 0: appends finished samples and knows which are stored."""

    def __init__(self, path: Path, sweep: Sweep, stored: dict[int, str], lock):
        self.path = path
        self.sweep = sweep
        self.stored = stored  # sample id -> status
        self.sync_seconds = SYNC_SECONDS
        self.unsynced = False
        self._synced = time.monotonic()
        self._lock = lock
        self._results = open(path / "results.csv", "a", newline="", encoding="utf-8")
        self._samples = open(path / "samples.csv", "a", newline="", encoding="utf-8")

    @classmethod
    def open(cls, path: str | Path, sweep: Sweep, resume: bool = False, retry_failed: bool = False) -> Store:
        """Create ``path`` for ``sweep`` or, with ``resume``, reopen it: refuse a store of another sweep,
        drop half-written lines and results of unfinished samples (and failed samples with
        ``retry_failed``, so that they run again)."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise InputError("STORE", f"{str(path)!r} exists and is not a folder")
        from stimsim.io.files import check_writable

        check_writable(path, "STORE", folder=True)
        existing = path.is_dir() and any(path.iterdir())
        if existing and not resume:
            raise InputError(
                "STORE", f"{str(path)!r} is not empty; complete the sweep in it with --resume, or choose another -o STORE"
            )
        if existing and not (path / "sweep.json").is_file():
            raise InputError("STORE", f"{str(path)!r} is not empty and holds no sweep (no sweep.json); choose another -o STORE")
        path.mkdir(parents=True, exist_ok=True)
        (path / "logs").mkdir(exist_ok=True)
        lock = _lock(path)
        try:
            if existing:
                _check_same_sweep(path, sweep)
                stored = _clean(path, sweep, retry_failed)
            else:
                _create(path, sweep)
                stored = {}
            return cls(path, sweep, stored, lock)
        except BaseException:
            lock.close()
            raise

    def record(self, sample_id: int, status: str, error: str, wall_time: float, num_dofs: int, group: int,
               rows: list[dict]) -> None:
        """Append a finished sample: its result rows, then its samples.csv row (both flushed to the
        operating system; fsynced when :attr:`sync_seconds` have passed since the last fsync)."""
        values = [cell(v) for v in self.sweep.samples[sample_id]]
        if rows:
            lines = [[str(sample_id), *values, status, cell(wall_time), *(cell(r[c]) for c in RESPONSE_COLUMNS)]
                     for r in rows]
            _append(self._results, lines)
        _append(self._samples, [[str(sample_id), status, cell(error), cell(wall_time), str(num_dofs), str(len(rows)),
                                 str(group), *values]])
        self.stored[sample_id] = status
        self.unsynced = True
        if time.monotonic() - self._synced >= self.sync_seconds:
            self.sync()

    def sync(self) -> None:
        """fsync results.csv, then samples.csv."""
        if self.unsynced:
            os.fsync(self._results.fileno())
            os.fsync(self._samples.fileno())
            self.unsynced = False
        self._synced = time.monotonic()

    def close(self) -> None:
        """fsync and close the files, release the lock."""
        self.sync()
        self._results.close()
        self._samples.close()
        self._lock.close()


def _lock(path: Path):
    """Hold an exclusive lock on STORE/.lock while the store is open (released when the process dies)."""
    handle = open(path / ".lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise InputError("STORE", f"{str(path)!r} is in use by another running sweep") from None
    except OSError:
        pass  # file systems without flock: run unlocked
    return handle


def _append(stream, lines: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(lines)
    stream.write(buffer.getvalue())
    stream.flush()


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "w", encoding="utf-8", newline="") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(partial, path)


def _csv_text(header, lines) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    return buffer.getvalue()


def _create(path: Path, sweep: Sweep) -> None:
    definition = {"format": STORE_FORMAT, "fingerprint": sweep.fingerprint(), "mode": sweep.mode,
                  "axes": list(sweep.axes), "num_samples": len(sweep), "definition": sweep.definition()}
    _write_atomic(path / "study.toml", tomli_w.dumps(sweep.portable_base()))
    _write_atomic(path / "results.csv", _csv_text(result_columns(sweep.axes), []))
    _write_atomic(path / "samples.csv", _csv_text(sample_columns(sweep.axes), []))
    _write_atomic(path / "sweep.json", json.dumps(definition, indent=1, default=str) + "\n")


def _check_same_sweep(path: Path, sweep: Sweep) -> None:
    try:
        stored = json.loads((path / "sweep.json").read_text(encoding="utf-8"))
        fingerprint, definition = stored["fingerprint"], stored["definition"]
    except (OSError, ValueError, KeyError) as err:
        raise InputError("STORE", f"{str(path / 'sweep.json')!r} is unreadable ({err}); cannot resume") from None
    if fingerprint == sweep.fingerprint():
        return
    current = json.loads(json.dumps(sweep.definition(), default=str))
    if definition["axes"] != current["axes"]:
        what = f"the axes differ (stored {definition['axes']}, now {current['axes']})"
    elif definition["samples"] != current["samples"]:
        old, new = definition["samples"], current["samples"]
        if len(old) != len(new):
            what = f"the number of samples differs (stored {len(old)}, now {len(new)})"
        else:
            index = next(i for i, (a, b) in enumerate(zip(old, new)) if a != b)
            changed = [f"{axis} {a!r} -> {b!r}" for axis, a, b in zip(current["axes"], old[index], new[index]) if a != b]
            what = f"sample {index} differs ({', '.join(changed)})"
    else:
        keys = sorted(_differing_keys(definition["base"], current["base"]))
        what = f"the base study differs at {', '.join(keys) or 'some key'}"
    raise InputError(
        "--resume", f"{str(path)!r} holds another sweep: {what}. Resume with the stored {str(path / 'study.toml')!r} "
        "or choose another -o STORE"
    )


def _differing_keys(old, new, prefix="") -> list[str]:
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [prefix] if old != new else []
    keys = []
    for key in sorted(set(old) | set(new)):
        keys += _differing_keys(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else key)
    return keys


def read_csv_lines(path: Path, columns: list[str]) -> list[dict]:
    """Rows of a store CSV, without a half-written last line (no newline yet) but refusing any other
    malformed line."""
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    complete = text[: text.rfind("\n") + 1]
    lines = list(csv.reader(io.StringIO(complete)))
    if not lines:
        return []
    if lines[0] != columns:
        raise InputError("STORE", f"{str(path)!r} has the columns {lines[0]}, expected {columns}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if len(line) != len(columns):
            raise InputError("STORE", f"{str(path)!r} line {number} is malformed ({len(line)} of {len(columns)} values)")
        rows.append(dict(zip(columns, line)))
    return rows


def read_store(path: str | Path) -> tuple[list[str], list[dict], list[dict]]:
    """(axis keys, samples.csv rows, results.csv rows) of a store, values as strings."""
    path = Path(path)
    try:
        axes = json.loads((path / "sweep.json").read_text(encoding="utf-8"))["axes"]
    except (OSError, ValueError, KeyError) as err:
        raise InputError("STORE", f"{str(path)!r} is not a sweep store (sweep.json: {err})") from None
    samples = read_csv_lines(path / "samples.csv", sample_columns(axes))
    results = read_csv_lines(path / "results.csv", result_columns(axes))
    return axes, samples, results


def _clean(path: Path, sweep: Sweep, retry_failed: bool) -> dict[int, str]:
    """Rewrite samples.csv and results.csv with only finished samples; return {id: status}."""
    _, samples, results = read_store(path)
    counts: dict[str, int] = {}
    for row in results:
        counts[row["sample_id"]] = counts.get(row["sample_id"], 0) + 1
    stored: dict[int, str] = {}
    kept = []
    for row in samples:
        sample_id = int(row["sample_id"])
        if sample_id in stored or (retry_failed and row["status"] == "failed"):
            continue
        if row["status"] == "ok" and counts.get(row["sample_id"], 0) != int(row["num_rows"]):
            continue  # its result rows did not all reach the disk
        stored[sample_id] = row["status"]
        kept.append(row)
    finished = [r for r in results if stored.get(int(r["sample_id"])) == "ok"]
    for name, columns, rows, read in (("samples.csv", sample_columns(sweep.axes), kept, samples),
                                      ("results.csv", result_columns(sweep.axes), finished, results)):
        if len(rows) != len(read) or not _ends_complete(path / name):
            _write_atomic(path / name, _csv_text(columns, [list(r.values()) for r in rows]))
    return stored


def _ends_complete(path: Path) -> bool:
    """Whether the file is non-empty and ends with a complete line."""
    with open(path, "rb") as stream:
        stream.seek(0, os.SEEK_END)
        if stream.tell() == 0:
            return False
        stream.seek(-1, os.SEEK_END)
        return stream.read(1) == b"\n"


def export_csv(store: str | Path, output: str | Path) -> tuple[int, int, int]:
    """Write one flat CSV: a row per sample and output (a column per axis key, status, error, wall
    time and the response.csv columns), failed samples as one row with empty responses, sorted by
    sample id. Returns (rows, samples, failed samples)."""
    axes, samples, results = read_store(store)
    by_sample: dict[str, list[dict]] = {}
    for row in results:
        by_sample.setdefault(row["sample_id"], []).append(row)
    rows = []
    for sample in sorted(samples, key=lambda r: int(r["sample_id"])):
        outputs = by_sample.get(sample["sample_id"], []) if sample["status"] == "ok" else []
        for out in outputs or [{}]:
            rows.append({**{c: sample[c] for c in ("sample_id", *axes, "status", "error", "wall_time_s")}, **out})
    columns = [*RESULT_LEAD, *axes, "status", "error", "wall_time_s", *RESPONSE_COLUMNS]
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_rows(rows, output, columns)
    return len(rows), len(samples), sum(s["status"] == "failed" for s in samples)


def software_versions() -> dict:
    """Versions of stimsim and the libraries that make its numbers."""
    import dolfinx
    import numpy
    from mpi4py import MPI
    from petsc4py import PETSc

    import stimsim

    return {
        "stimsim": stimsim.__version__,
        "dolfinx": dolfinx.__version__,
        "petsc": ".".join(map(str, PETSc.Sys.getVersion())),
        "mpi": MPI.Get_library_version().splitlines()[0].strip(),
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def git_revision() -> dict | None:
    """Commit and dirty flag of the stimsim source tree when it is a git checkout, else None."""
    folder = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--", "."], capture_output=True,
                                text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"revision": commit, "dirty": bool(status.strip())}


def now() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def start_run(store: Store, run: dict) -> list[str]:
    """Add a run to STORE/provenance.json (created on the first run with the study file's hash and the
    software versions); returns warnings when this run's versions differ from the store's first."""
    path = store.path / "provenance.json"
    provenance = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    versions, git = software_versions(), git_revision()
    if not provenance:
        source = Path(store.sweep.source) if store.sweep.source else None
        provenance = {
            "created": now(), "fingerprint": store.sweep.fingerprint(), "software": versions, "git": git,
            "study": {
                "path": str(source.resolve()) if source else None,
                "sha256": _sha256(source) if source and source.is_file() else None,
            },
            "runs": [],
        }
    warnings = [
        f"{name} {versions[name]} differs from the {provenance['software'].get(name)} that made the stored samples"
        for name in ("stimsim", "dolfinx", "petsc") if provenance["software"].get(name) != versions[name]
    ]
    provenance["runs"].append({**run, "started": now(), "software": versions, "git": git,
                               "command": sys.argv})
    _write_atomic(path, json.dumps(provenance, indent=1) + "\n")
    return warnings


def finish_run(store: Store, outcome: dict) -> None:
    """Record the end of the current run in STORE/provenance.json."""
    path = store.path / "provenance.json"
    provenance = json.loads(path.read_text(encoding="utf-8"))
    provenance["runs"][-1].update(outcome, finished=now())
    _write_atomic(path, json.dumps(provenance, indent=1) + "\n")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
