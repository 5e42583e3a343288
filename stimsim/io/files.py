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

from stimsim.core.errors import InputError, did_you_mean

#: Columns of response.csv, in order: (name with its SI unit, unit, meaning).
RESPONSE_COLUMN_INFO = (
    ("drive_frequency_hz", "Hz", "drive frequency f"),
    ("harmonic", "", "harmonic n of the drive"),
    ("kind", "", "thermal (first order), ionic (second order), nonionic or total"),
    ("order", "", "perturbation order of the signal (0: all orders)"),
    ("amplitude_m", "m", "tip displacement amplitude"),
    ("phase_deg", "deg", "its phase relative to the heating"),
    ("u_real_m", "m", "real part of the complex tip displacement"),
    ("u_imag_m", "m", "imaginary part of the complex tip displacement"),
    ("temperature_amplitude_k", "K", "tip temperature amplitude"),
    ("temperature_phase_deg", "deg", "its phase relative to the heating"),
    ("temperature_real_k", "K", "real part of the complex tip temperature"),
    ("temperature_imag_k", "K", "imaginary part of the complex tip temperature"),
    ("heating_power_real_w", "W", "real part of the heat flow into the sample"),
    ("heating_power_imag_w", "W", "imaginary part of the heat flow into the sample"),
    ("method", "", "who solved the row: expansion, harmonic_balance or time_domain"),
)
#: Columns of response.csv, in order (SI units in the names).
RESPONSE_COLUMNS = tuple(name for name, _, _ in RESPONSE_COLUMN_INFO)


def check_writable(path: str | Path, key: str = "OUTDIR", folder: bool = False) -> Path:
    """Reject, before any solve, an output ``path`` (a file, or with ``folder`` a folder) that cannot
    be created: a parent that is a file, or a nearest existing folder where nothing can be written
    (tried, not guessed from permission bits, which root ignores)."""
    path = Path(path)
    parent = path.absolute() if folder else path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(key, f"cannot create {str(path)!r}: {str(parent)!r} is a file, not a folder")
    try:
        tempfile.TemporaryDirectory(prefix=".stimsim-probe-", dir=parent).cleanup()
    except OSError as err:
        raise InputError(key, f"cannot create {str(path)!r}: nothing can be written in {str(parent)!r} ({err.strerror})") from None
    return path


def check_output_dir(path: str | Path, names=None, overwrite: bool = False) -> Path:
    """Reject, before any solve, an OUTDIR that exists as a file, cannot be created, or (given the
    ``names`` of the files this run writes) holds other entries, which would mix another run's files
    with this one's: refused unless ``overwrite`` (then :func:`staged_output` removes the other files;
    a folder inside OUTDIR is refused either way)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError("OUTDIR", f"{str(path)!r} exists and is not a folder")
    check_writable(path, "OUTDIR", folder=True)
    if not path.exists():
        return path
    if names is None:
        return path
    others = sorted(p.name for p in path.iterdir() if p.name not in names and not p.name.startswith("."))
    folders = [name for name in others if (path / name).is_dir() and not (path / name).is_symlink()]
    if folders:
        raise InputError("OUTDIR", f"{str(path)!r} holds the folder {folders[0]!r}: choose an empty or new output folder")
    if others and not overwrite:
        listed = ", ".join(others[:4]) + (", ..." if len(others) > 4 else "")
        raise InputError(
            "OUTDIR", f"{str(path)!r} holds files of another run ({listed}): choose an empty or new output folder, "
            "or give --overwrite to replace its files"
        )
    return path


@contextmanager
def staged_output(path: str | Path, replace: bool = False):
    """Yield a temporary folder; on success move its files into ``path`` (created if needed); with
    ``replace``, files of ``path`` that this output does not contain are removed."""
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
        if replace:
            keep = {item.name for item in items}
            for old in path.iterdir():
                if old.name not in keep and not old.name.startswith(".") and (old.is_file() or old.is_symlink()):
                    old.unlink()
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
    """Write a :class:`~stimsim.experiments.protocols.Table` as CSV (its column names, SI units in them)."""
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


#: Mesh formats of ``stimsim mesh`` by suffix (each is read back by the tests).
MESH_FORMATS = {".msh": "gmsh", ".vtu": "VTK XML", ".vtk": "legacy VTK", ".xdmf": "XDMF with an .h5 beside it"}


def check_mesh_path(path: str | Path, writable: bool = False) -> Path:
    """A mesh file path with a known suffix (and, with ``writable``, a place it can be written)."""
    path = Path(path)
    if path.is_dir():
        raise InputError("--output", f"= {str(path)!r} is a folder; give a file name, e.g. {str(path / 'mesh.vtu')!r}")
    suffix = path.suffix.lower()
    if suffix not in MESH_FORMATS:
        listed = ", ".join(f"{s} ({what})" for s, what in MESH_FORMATS.items())
        raise InputError(
            "--output", f"= {str(path)!r}: {suffix or 'no suffix'} is not a mesh format; use {listed}{did_you_mean(suffix, MESH_FORMATS)}"
        )
    if writable:
        check_writable(path, "--output")
    return path


def write_mesh(source: Path, path: Path) -> None:
    """Write the cached gmsh mesh ``source`` to ``path`` in the format of its suffix: .msh is gmsh's
    own file, copied; the others carry the triangles and the tagged boundary lines with their
    physical tags (cell data ``gmsh:physical``), without gmsh's bounding-entity sets, which meshio
    cannot convert. Written beside ``path`` and moved in when complete."""
    import meshio

    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        partial = staging / path.name
        if path.suffix.lower() == ".msh":
            shutil.copyfile(source, partial)
        else:
            mesh = meshio.read(source)
            keep = [i for i, block in enumerate(mesh.cells) if block.type in ("triangle", "line")]
            cells = [(mesh.cells[i].type, mesh.cells[i].data) for i in keep]
            data = {name: [np.asarray(mesh.cell_data[name][i]) for i in keep]
                    for name in ("gmsh:physical", "gmsh:geometrical") if name in mesh.cell_data}
            meshio.write(partial, meshio.Mesh(mesh.points, cells, cell_data=data))
        for item in staging.iterdir():
            os.replace(item, path.parent / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
