"""Line scans and maps: the tip moved over a 3D sample (geometry.model = '3d'), one solve per position.

``[protocol.line_scan]`` places ``points`` positions evenly from ``start`` to ``end`` (both included);
``[protocol.map]`` a grid of ``points = [nx, ny]`` positions over the rectangle from ``origin`` (its
corner with the smallest x and y) across ``size = [wx, wy]``, x varying fastest. Positions are in m;
a coordinate within 1e-9 of the scan's extent of zero is put at zero.

Each position is solved as its tip-centred equivalent (:mod:`stimsim.study.centring`): the box
about the tip, the microstructure moved by minus the tip position. Positions whose moved
microstructure is the same (every position of a homogeneous sample; every row of a map over a
straight boundary along y; mirror images through the tip) are one problem, solved once
(:func:`scan_problems`); the tip position itself has no limit (the box moves with the tip). The
distinct problems are the samples of a sweep (:mod:`stimsim.hpc.sweep`, axes :data:`TRANSLATED`): groups
of ``ranks_per_position`` ranks, dynamic balancing and the crash-safe store OUTDIR/<name>.store (one
sample per distinct problem), which ``--resume`` completes (its failed problems are tried again). The
problems differ in their meshes (the boundaries' refinement follows them); the compiled forms do not
depend on the tip position or the boundaries (Constants and DG0 coefficients), so the problems after
the first take them from the JIT cache without compiling.

The table (``line_scan`` / ``map``) has a row per position and response row: ``x_m``, ``y_m``
(``distance_m`` from the start along a line scan) and the response.csv columns in their order; where
the instrument follows the contact stiffness (``instrument.cantilever_stiffness``), also the contact
stiffness under the tip (grains and cores by area) and the contact resonance there with its shift from
the instrument's own, given on the sample's own material (the grain interior)
(:meth:`stimsim.instrument.afm.Resonance.at_contact_stiffness`).

Beside ``map.csv`` a map writes its images as AFM users open them (:func:`write_map_images`,
:mod:`stimsim.io.maps`): ``map.gwy`` (Gwyddion) and ``map.h5`` (NSID HDF5), with Asylum-like channels.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from pathlib import Path

import numpy as np

from stimsim.core.errors import InputError, StimsimError
from stimsim.core.parallel import on_root
from stimsim.experiments.protocols import (
    INSTRUMENT,
    SCAN_RUN_KEYS,
    Protocol,
    Table,
    contact_stiffness_under_tip,
    instrument,
)
from stimsim.core.progress import format_duration
from stimsim.geometry.box import contact_cell
from stimsim.geometry.meshes import mesh_spec
from stimsim.hpc.sampling import Sweep
from stimsim.hpc.store import read_store
from stimsim.hpc.sweep import run_sweep
from stimsim.io.files import RESPONSE_COLUMN_INFO
from stimsim.io.maps import MapChannel, MapImages, write_gwy, write_nsid
from stimsim.solve.model import estimated_direct_dofs
from stimsim.study.centring import raw_key, tip_centred_raw
from stimsim.study.load import study_from_dict
from stimsim.study.schema import check_table
from stimsim.study.study import Study

log = logging.getLogger(__name__)

#: The sweep axes of a scan: the keys that :func:`stimsim.study.centring.tip_centred_raw` sets.
TRANSLATED = ("tip.position", "geometry.grain_boundaries", "sample.properties", "mesh.domain_size")
#: Coordinates closer to zero than this fraction of the scan's extent are put on zero (mirror planes).
SNAP = 1e-9
#: Columns of the position (every scan) and of the line scan's distance from its start.
POSITION_COLUMNS = (("x_m", "m", "tip position x"), ("y_m", "m", "tip position y"))
DISTANCE_COLUMN = ("distance_m", "m", "distance of the tip from the scan's start")
#: Columns of the instrument that follows the contact stiffness.
RESONANCE_COLUMNS = (
    ("contact_stiffness_n_per_m", "N/m", "contact stiffness 2 a E* under the tip"),
    ("resonance_frequency_hz", "Hz", "contact resonance at this stiffness"),
    ("resonance_shift_hz", "Hz", "its shift from instrument.resonance_frequency (the contact on the sample.s own material)"),
)
#: The sweep's run-setting keys and the scan keys that set them.
SWEEP_KEYS = {"sweep.ranks_per_sample": "ranks_per_position", "sweep.dispatcher": "dispatcher"}
#: The image files of a map beside map.csv, by writer (stimsim.io.maps).
MAP_IMAGES = {"map.gwy": write_gwy, "map.h5": write_nsid}
#: Asylum-like channels of a map's harmonic n: (name, table column, unit, quantity).
HARMONIC_CHANNELS = (("Amplitude", "amplitude_m", "m", "tip displacement amplitude"),
                     ("Phase", "phase_deg", "deg", "tip displacement phase"))
#: The channel of the contact resonance (where the instrument follows the contact stiffness).
RESONANCE_CHANNEL = ("Frequency", "resonance_frequency_hz", "Hz", "contact resonance frequency")
#: Response columns whose values are integers or text (the others are floats).
INTEGER_COLUMNS, TEXT_COLUMNS = ("harmonic", "order"), ("kind", "method")


#: Wall time of one position (s) = T (N / N0)^p per drive frequency, N the DOFs: the direct 3D ionic
#: solves of docs/developer/performance.md, '3D' (5.8 s at 11 940 DOFs, 15-22 s at 23k, 53-88 s at 54k).
SECONDS_PER_POSITION = (5.8, 11_940, 1.5)
#: A scan estimated to take longer than this (s) is announced as a warning, not a progress line.
LONG_SCAN = 24 * 3600.0


class ScanStopped(StimsimError):
    """A scan ended (stop signal or store failure) before every position was stored."""


def scan_positions(name: str, options: dict) -> list[tuple[float, float]]:
    """The tip positions (x, y) in m of the checked scan ``name``, in scan order."""
    if name == Protocol.LINE_SCAN:
        start, end = (np.array(options[key], dtype=float) for key in ("start", "end"))
        t = np.linspace(0.0, 1.0, options["points"])
        points = start + t[:, None] * (end - start)
        extent = np.abs(end - start).max()
    else:
        (x0, y0), (wx, wy), (nx, ny) = options["origin"], options["size"], options["points"]
        xs, ys = x0 + wx * np.linspace(0.0, 1.0, nx), y0 + wy * np.linspace(0.0, 1.0, ny)
        points = np.array([(x, y) for y in ys for x in xs])
        extent = max(wx, wy)
    points[np.abs(points) <= SNAP * extent] = 0.0
    return [(float(x), float(y)) for x, y in points]


def check_scan(study: Study, name: str, options: dict) -> list[tuple[float, float]]:
    """Check the scan ``name`` of a 3D study before anything is solved: the shapes of its keys (every
    position is solved tip-centred, so a position has no limit of its own; a moved boundary that cannot
    be placed fails its position). Returns the positions."""
    key = f"protocol.{name}"
    pairs = ("start", "end") if name == Protocol.LINE_SCAN else ("origin", "size", "points")
    for pair in pairs:
        if len(options[pair]) != 2:
            raise InputError(f"{key}.{pair}", f"= {options[pair]!r} must be two values [x, y]")
    if name == Protocol.LINE_SCAN and options["start"] == options["end"]:
        raise InputError(f"{key}.end", f"= {options['end']!r} m must differ from start (a scan has a length)")
    positions = scan_positions(name, options)
    _check_extent(study, name, positions)
    return positions


def scan_problems(study: Study, positions: list) -> tuple[list[int], list[dict]]:
    """The distinct tip-centred problems of the 3D ``study`` at the tip ``positions`` (m): the problem of
    each position (an index into the second list) and each problem's raw study dict
    (:func:`stimsim.study.centring.tip_centred_raw` at its first position), in order of first appearance."""
    index: dict[str, int] = {}
    which, problems = [], []
    for position in positions:
        raw = tip_centred_raw(study, position)
        key = raw_key(raw)
        if key not in index:
            index[key] = len(problems)
            problems.append(raw)
        which.append(index[key])
    return which, problems


def _check_extent(study: Study, name: str, positions: list[tuple[float, float]]) -> None:
    """Warn about a scan that spans less than a cell at the contact (:func:`stimsim.geometry.box.contact_cell`):
    positions with different problems have their own meshes, so its contrast would be the meshes'
    discretisation, not the sample's (a few per cent, docs/guide/experiments.md, 'Line scans and maps')."""
    extent = float(np.ptp(np.array(positions), axis=0).max())
    cell = contact_cell(mesh_spec(study))
    if extent < cell:
        log.warning(
            f"protocol.{name} spans {extent:.3g} m, less than the {cell:.3g} m cells at the contact: positions with "
            "different problems have their own meshes, so the contrast between them is the meshes' discretisation (a few per cent), not the "
            "sample's; scan over several cells"
        )


def scan_cost(study: Study, name: str, positions: list, problems: list[dict] | None = None) -> tuple[str, float]:
    """One line on the cost of the scan ``name`` over ``positions`` and its total (s) on one group, estimated
    before any mesh (:data:`SECONDS_PER_POSITION` at the DOFs of :func:`stimsim.solve.model.estimated_direct_dofs`)
    for each of its distinct ``problems`` (raw study dicts, :func:`scan_problems`; default: ``study`` at
    every position)."""
    seconds, reference, exponent = SECONDS_PER_POSITION
    dofs = (_estimated_dofs(problems) if problems else []) or [max(estimated_direct_dofs(study), 1)] * len(positions)
    frequencies = len(study.excitation.frequencies)
    total = sum(seconds * (n / reference) ** exponent * frequencies for n in dofs)
    size = f"{min(dofs)}" if min(dofs) == max(dofs) else f"{min(dofs)}-{max(dofs)}"
    return (f"protocol.{name}: {len(positions)} positions, {len(dofs)} distinct problems of about {size} DOFs, "
            f"about {format_duration(total / len(dofs))} each: {format_duration(total)} on one group of ranks "
            "(estimate)"), total


def _estimated_dofs(problems: list[dict]) -> list[int]:
    """:func:`stimsim.solve.model.estimated_direct_dofs` of each valid problem (raw study dicts; one that is
    refused fails its positions when solved, and is not counted), computed once per mesh spec without its
    grain-boundary planes (the estimate does not count them)."""
    found: dict[str, int] = {}
    dofs = []
    for raw in problems:
        try:
            here = study_from_dict(raw)
        except InputError:
            continue
        key = dataclasses.replace(mesh_spec(here), refined_planes=()).key()
        if key not in found:
            found[key] = max(estimated_direct_dofs(here), 1)
        dofs.append(found[key])
    return dofs


def announce_cost(study: Study, name: str, positions: list, problems: list[dict]) -> None:
    """Log :func:`scan_cost` (a warning when it is longer than :data:`LONG_SCAN`)."""
    line, total = scan_cost(study, name, positions, problems)
    (log.warning if total > LONG_SCAN else log.info)(line)


def scan_sweep(study: Study, name: str, options: dict) -> tuple[Sweep, list[int], list[dict]]:
    """The sweep over the distinct tip-centred problems of the scan ``name`` (:func:`scan_problems`; axes
    :data:`TRANSLATED`), the problem (sample) of each position and the problems' raw study dicts. Its base study is the study without the
    instrument, the other protocols and the scan's run settings: those do not change the solves, so a
    store can be resumed with other ranks or another instrument."""
    base = {section: copy.deepcopy(table) for section, table in study.raw.items() if section not in ("instrument", "protocol")}
    base["protocol"] = {name: {k: v for k, v in study.raw["protocol"][name].items() if k not in SCAN_RUN_KEYS}}
    which, problems = scan_problems(study, scan_positions(name, options))
    samples = tuple(tuple(_value(raw, key) for key in TRANSLATED) for raw in problems)
    sweep = Sweep(base=base, mode="list", axes=TRANSLATED, samples=samples, ranks_per_sample=options["ranks_per_position"],
                  dispatcher=options["dispatcher"])
    return sweep, which, problems


def _value(raw: dict, key: str):
    """The value of the dotted ``key`` (no indices) in ``raw``, None where it is absent."""
    for part in key.split("."):
        raw = raw.get(part) if isinstance(raw, dict) else None
    return raw


def check_store(store: Path, resume: bool, comm) -> None:
    """Refuse, before any solve, a scan store left by an earlier run unless ``resume`` (collective)."""

    def check():
        if not resume and store.is_dir() and any(store.iterdir()):
            raise InputError(
                "--resume", f"is needed: {str(store)!r} holds the positions of an earlier run (continue it with "
                "--resume, or choose another output folder)"
            )

    on_root(comm, "--resume", check)


def run_scan(study: Study, name: str, options: dict, store: Path, comm, resume: bool = False,
             quiet: bool = True) -> Table:
    """Solve every position of the scan ``name`` not yet in ``store`` over ``comm`` (collective; groups
    of ``ranks_per_position`` ranks; each distinct tip-centred problem once) and return its table on every
    rank. A position whose problem failed is reported and has no rows; ``resume`` tries it again. Raises
    :class:`ScanStopped` when a stop signal ended the run first."""
    sweep, which, problems = scan_sweep(study, name, options)
    announce_cost(study, name, which, problems)
    try:
        summary = run_sweep(sweep, store, comm, resume=resume, retry_failed=resume, quiet=quiet)
    except InputError as err:  # the run settings are the scan's keys here
        if err.key not in SWEEP_KEYS:
            raise
        raise InputError(f"protocol.{name}.{SWEEP_KEYS[err.key]}", str(err).removeprefix(f"{err.key} ")) from None
    if not summary.complete:
        raise ScanStopped(f"protocol.{name} stopped with {summary.stored} of {summary.total} problems stored in "
                          f"{str(store)!r}; continue with --resume")
    table = on_root(comm, "STORE", scan_table, study, name, options, sweep, which, store)
    return comm.bcast(table, root=0)


def scan_table(study: Study, name: str, options: dict, sweep: Sweep, which: list[int], store: Path) -> Table:
    """The table of a complete scan store (rank 0): every position's rows are those of its problem
    (``which``: the sample of each position), its failed problems reported."""
    _, samples, results = read_store(store)
    status = {int(row["sample_id"]): row for row in samples}
    failed = sorted(i for i, row in status.items() if row["status"] == "failed")
    if failed:
        first = status[failed[0]]
        lost = sum(which.count(i) for i in failed)
        log.warning(f"protocol.{name}: {len(failed)} of {len(sweep)} problems failed, {lost} positions have no rows "
                    f"(first: {first['error']}); --resume tries them again")
    resonance = _following_resonance(study)
    by_problem: dict[int, list[dict]] = {}
    for row in results:
        by_problem.setdefault(int(row["sample_id"]), []).append(_typed(row))
    positions = scan_positions(name, options)
    contact: dict[int, dict] = {}  # the resonance columns of each problem, computed once
    rows = []
    for position, problem in zip(positions, which):
        lead = {"x_m": position[0], "y_m": position[1]}
        if name == Protocol.LINE_SCAN:
            lead["distance_m"] = float(np.hypot(*(np.array(position) - np.array(positions[0]))))
        if resonance is not None and by_problem.get(problem):
            if problem not in contact:
                contact[problem] = _resonance_columns(sweep.study(problem), resonance)
            lead |= contact[problem]
        rows += [lead | response for response in by_problem.get(problem, [])]
    columns = POSITION_COLUMNS + ((DISTANCE_COLUMN,) if name == Protocol.LINE_SCAN else ()) + RESPONSE_COLUMN_INFO
    return Table(name, columns + (RESONANCE_COLUMNS if resonance is not None else ()), rows)


def _typed(row: dict) -> dict:
    """A stored response row (text) with the types of response.csv."""
    typed = {}
    for name, _, _ in RESPONSE_COLUMN_INFO:
        value = row[name]
        typed[name] = value if name in TEXT_COLUMNS else int(value) if name in INTEGER_COLUMNS else float(value)
    return typed


def _following_resonance(study: Study):
    """The study's contact resonance if its instrument follows the contact stiffness, else None."""
    if "instrument" not in study.extensions:
        return None
    if check_table("instrument", INSTRUMENT, study.extensions["instrument"])["cantilever_stiffness"] is None:
        return None
    return instrument(study)[0]


def _resonance_columns(here: Study, resonance) -> dict:
    """Contact stiffness (N/m) under the tip of the position's study ``here`` and the resonance there (Hz)."""
    stiffness = contact_stiffness_under_tip(here)
    frequency = resonance.at_contact_stiffness(stiffness).frequency
    return {"contact_stiffness_n_per_m": stiffness, "resonance_frequency_hz": frequency,
            "resonance_shift_hz": frequency - resonance.frequency}


def map_images(table: Table, options: dict, source: str) -> MapImages:
    """The images of the map ``table`` of the checked ``[protocol.map]`` ``options``: at every drive
    frequency and harmonic n >= 1 what the lock-in reads (the 'total' row where several kinds land on n,
    else its one row) as 'Amplitude<n>' (m) and 'Phase<n>' (deg), named with '_<f>Hz' appended when the
    study has several drive frequencies f; then, where the table has the contact resonance, 'Frequency'
    (Hz). A position without rows (it failed) is NaN in every channel."""
    positions = scan_positions(Protocol.MAP, options)
    nx, ny = options["points"]
    pixel = {position: divmod(k, nx) for k, position in enumerate(positions)}
    read = _lock_in_rows(table.rows)
    several = len({f for f, _ in read}) > 1
    channels = []
    for (frequency, harmonic), rows in read.items():
        suffix = f"_{frequency:.12g}Hz" if several else ""
        for name, column, unit, quantity in HARMONIC_CHANNELS:
            what = f"{quantity}, harmonic {harmonic} of the drive at {frequency:.12g} Hz"
            channels.append(MapChannel(f"{name}{harmonic}{suffix}", unit, what, _grid(rows, column, pixel, (ny, nx))))
    if RESONANCE_CHANNEL[1] in table.names:
        name, column, unit, quantity = RESONANCE_CHANNEL
        at = {(r["x_m"], r["y_m"]): r for r in table.rows}
        channels.append(MapChannel(name, unit, quantity, _grid(at, column, pixel, (ny, nx))))
    x, y = np.array([p[0] for p in positions[:nx]]), np.array([p[1] for p in positions[::nx]])
    return MapImages(x, y, tuple(channels), source)


def _lock_in_rows(rows: list[dict]) -> dict[tuple[float, int], dict[tuple[float, float], dict]]:
    """The rows a lock-in reads, by (drive frequency, harmonic >= 1) and position (x, y): the 'total'
    row where several kinds land on a harmonic, else its one row; in the table's order (by drive frequency,
    then harmonic)."""
    read: dict = {}
    for row in rows:
        if row["harmonic"] >= 1:
            at = read.setdefault((row["drive_frequency_hz"], row["harmonic"]), {})
            position = (row["x_m"], row["y_m"])
            if position not in at or row["kind"] == "total":
                at[position] = row
    return read


def _grid(rows: dict, column: str, pixel: dict, shape: tuple[int, int]) -> np.ndarray:
    """``column`` of the ``rows`` by position as an image [ny, nx] (``pixel``: position -> (row, column)),
    NaN where a position has no row."""
    grid = np.full(shape, np.nan)
    for position, row in rows.items():
        grid[pixel[position]] = row[column]
    return grid


def write_map_images(table: Table, options: dict, folder: Path, source: str) -> None:
    """Write the images of the map ``table`` (:func:`map_images`) into ``folder`` as :data:`MAP_IMAGES`
    (rank 0 only); a map without rows (every position failed) has no images and writes none."""
    if not table.rows:
        return
    images = map_images(table, options, source)
    for name, write in MAP_IMAGES.items():
        write(images, folder / name)
