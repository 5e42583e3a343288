"""Output files: response tables, the resolved study, and an all-or-nothing output folder.

Only rank 0 of the communicator writes. Files are written into a temporary folder next to OUTDIR and
moved in once every one of them is complete, so a failed run leaves nothing half-written in OUTDIR.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import tomli_w

from stimsim.errors import InputError

#: Columns of response.csv, in order (SI units in the names).
RESPONSE_COLUMNS = (
    "drive_frequency_hz",
    "harmonic",
    "kind",
    "order",
    "amplitude_m",
    "phase_deg",
    "u_real_m",
    "u_imag_m",
    "temperature_amplitude_k",
    "temperature_phase_deg",
    "temperature_real_k",
    "temperature_imag_k",
    "heating_power_real_w",
    "heating_power_imag_w",
)


def check_output_dir(path: str | Path) -> Path:
    """Reject an OUTDIR that exists as a file or cannot be created (before any solve)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError("OUTDIR", f"{str(path)!r} exists and is not a folder")
    parent = path.resolve().parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise InputError("OUTDIR", f"cannot create {str(path)!r}: {str(parent)!r} is not writable")
    return path


@contextmanager
def staged_output(path: str | Path):
    """Yield a temporary folder; on success move its files into ``path`` (created if needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        yield staging
        path.mkdir(exist_ok=True)
        items = list(staging.iterdir())
        for item in items:
            if (path / item.name).is_dir():
                raise InputError("OUTDIR", f"{str(path / item.name)!r} is a folder; remove it")
        for item in items:
            os.replace(item, path / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_rows(rows: list[dict], path: Path, columns=RESPONSE_COLUMNS) -> None:
    """Write dict rows as CSV with ``columns`` in order (floats with full precision)."""
    with open(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})


def read_rows(path: str | Path) -> list[dict]:
    """Read a CSV written by :func:`write_rows` (values as strings)."""
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def write_study(resolved: dict, path: Path) -> None:
    """Write the resolved study (all defaults filled in) as TOML."""
    path.write_bytes(tomli_w.dumps(resolved).encode())
