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

import numpy as np
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
            writer.writerow({k: repr(float(v)) if isinstance(v, (float, np.floating)) else v for k, v in row.items()})


def read_rows(path: str | Path) -> list[dict]:
    """Read a CSV written by :func:`write_rows` (values as strings)."""
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def write_study(resolved: dict, path: Path) -> None:
    """Write the resolved study (all defaults filled in) as TOML."""
    path.write_bytes(tomli_w.dumps(resolved).encode())


def write_table_csv(table, path: Path) -> None:
    """Write a :class:`~stimsim.experiments.Table` as CSV (its column names, SI units in them)."""
    write_rows(table.rows, path, columns=table.names)


def write_netcdf(tables: list, path: Path, attributes: dict[str, str]) -> None:
    """Write tables into one self-describing NetCDF-3 file (readable by xarray, netCDF4, ncdump).

    Table ``t`` gets the dimension ``t`` (its rows) and one variable ``t__column`` per column with the
    attributes ``units`` and ``long_name``; text columns are character arrays. ``attributes`` become
    global attributes (e.g. the resolved study as TOML).
    """
    from scipy.io import netcdf_file

    with netcdf_file(path, "w", version=2) as nc:
        for key, value in attributes.items():
            setattr(nc, key, value)
        for table in tables:
            nc.createDimension(table.name, len(table.rows))
            for name, unit, meaning in table.columns:
                values = [row.get(name) for row in table.rows]
                variable = _netcdf_variable(nc, table.name, name, values)
                variable.units, variable.long_name = unit or "1", meaning


def _netcdf_variable(nc, table: str, column: str, values: list):
    name = f"{table}__{column}"
    if any(isinstance(v, str) for v in values):
        width = max([len(v) for v in values] + [1])
        dimension = f"{name}__strlen"
        nc.createDimension(dimension, width)
        variable = nc.createVariable(name, "c", (table, dimension))
        variable[:] = np.array([list(v.ljust(width)) for v in values], dtype="S1").reshape(len(values), width)
        return variable
    kind = "i" if values and all(isinstance(v, (int, np.integer)) for v in values) else "d"
    variable = nc.createVariable(name, kind, (table,))
    variable[:] = np.array([np.nan if v is None else v for v in values], dtype=float if kind == "d" else np.int32)
    return variable
