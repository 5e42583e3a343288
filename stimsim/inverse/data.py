"""Measured STIM harmonics: the :class:`Data` a fit reads, the DATA.csv reader, and the study's
``[[fit.data]]`` tables of measured files (:func:`data_from_tables`, files read by
:mod:`stimsim.io.measured`; docs/guide/fitting.md#measured-data-files).

DATA.csv has the column names of response.csv (a response.csv is valid input):

* required ``drive_frequency_hz`` (Hz), ``harmonic`` (multiple n of the drive frequency),
  ``amplitude_m`` (|u_z| in m, > 0);
* optional ``phase_deg`` (degrees, relative to the heating as in response.csv), ``amplitude_sigma_m``
  (m, > 0) and ``phase_sigma_deg`` (degrees, > 0), the standard deviations of the measurement, and
  ``kind``: where a response.csv gives thermal, ionic and total rows for one harmonic, the total (what
  the tip measures) is used, and rows of exactly zero amplitude (the ionic rows of a material without
  mobile ions) are left out;
* optional ``x_m`` and ``y_m`` (both or neither): the tip position (m) of a line scan or map (a 3D
  study's line_scan.csv or map.csv is valid input). Each distinct position is a measurement condition
  ``{"tip.position": [x, y]}``, so it gets its own forward model (its own mesh).

Without ``amplitude_sigma_m`` every amplitude gets a relative standard deviation of
:data:`DEFAULT_RELATIVE_SIGMA` and every phase :data:`DEFAULT_RELATIVE_SIGMA` rad (the same complex
noise), and the standard errors are scaled by the reduced chi-square (the scatter of the data sets the
noise level). With sigmas the errors are the absolute ones from the Jacobian.
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stimsim.core.errors import InputError, suggest
from stimsim.inverse.forward_model import with_values
from stimsim.io.measured import ChannelSpec, Reading, read_channels
from stimsim.study.schema import flat_keys
from stimsim.study.study import Study

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("drive_frequency_hz", "harmonic", "amplitude_m")
OPTIONAL_COLUMNS = ("phase_deg", "amplitude_sigma_m", "phase_sigma_deg")
#: Columns of the tip position (m) of a scan: each position is a measurement condition.
POSITION_COLUMNS = ("x_m", "y_m")
#: The study key a scan's positions set.
POSITION_KEY = "tip.position"
#: Default relative standard deviation of the amplitudes (and, in rad, of the phases).
DEFAULT_RELATIVE_SIGMA = 0.01
#: Keys of a [[fit.data]] table that describe its channels (:class:`stimsim.io.measured.ChannelSpec`).
CHANNEL_KEYS = ("file", "format", "frequency", "amplitude", "phase", "amplitude_unit", "sensitivity", "phase_unit",
                "phase_convention", "amplitude_sigma", "phase_sigma")
#: Keys of one [[fit.data]] table.
TABLE_KEYS = (*CHANNEL_KEYS, "harmonic", "frequency_of", "set")
#: What a table's frequency channel holds: the drive frequency f, or that of the measured harmonic, n f.
FREQUENCY_OF = ("drive", "harmonic")
#: Relative tolerance of the span of the study's excitation.frequencies that a table's points must lie in.
SPAN_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Data:
    """Measured harmonics, one entry per point: drive frequency (Hz), harmonic, amplitude (m), phase
    (rad; None when no point has one), standard deviations (m, rad), whether the amplitude sigmas
    were given, and the row of each point in its source (the 1-based line of a CSV file, the 0-based
    point index of a wave or dataset). ``condition[i]`` indexes ``conditions``, the study overrides
    (dotted key -> value, e.g. a DC heating level or a force) under which point i was measured: the
    points of one condition share one forward model. ``source[i]`` indexes ``sources``, the names of
    the files (or tables) the points came from.

    Missing phases: where some points have a phase and others do not (``[[fit.data]]`` tables with and
    without a phase channel), ``phase`` and ``phase_sigma`` are arrays that hold NaN for the points
    without: such a point has an amplitude residual and no phase residual."""

    frequency: np.ndarray
    harmonic: np.ndarray
    amplitude: np.ndarray
    phase: np.ndarray | None
    amplitude_sigma: np.ndarray
    phase_sigma: np.ndarray | None
    sigma_given: bool
    rows: np.ndarray
    condition: np.ndarray | None = None
    conditions: tuple[dict, ...] = ({},)
    source: np.ndarray | None = None
    sources: tuple[str, ...] = ("DATA",)

    def __post_init__(self):
        zeros = np.zeros(len(self.amplitude), dtype=int)
        if self.condition is None:
            object.__setattr__(self, "condition", zeros)
        if self.source is None:
            object.__setattr__(self, "source", zeros)


def read_data(path: str | Path) -> Data:
    """Read and validate DATA.csv; every error is an InputError naming DATA, the column and the row."""
    path = Path(path)
    if path.is_dir():
        raise InputError("DATA", f"{str(path)!r} is a folder, not a CSV file")
    if not path.is_file():
        raise InputError("DATA", f"file {str(path)!r} does not exist")
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            header = stream.readline()
            stream.seek(0)
            # comma-separated; a header without commas but with ';' or tabs names the separator
            delimiter = next((d for d in ",;\t" if d in header), ",")
            reader = csv.DictReader(stream, delimiter=delimiter)
            columns = [c.strip() for c in reader.fieldnames or []]
            rows = [({k.strip(): v for k, v in row.items() if k is not None}, reader.line_num) for row in reader]
    except (UnicodeDecodeError, csv.Error) as err:
        raise InputError("DATA", f"{str(path)!r} is not a readable CSV file: {err}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InputError("DATA", f"{str(path)!r} lacks the column(s) {', '.join(missing)} (needs {', '.join(REQUIRED_COLUMNS)})")
    located = [c for c in POSITION_COLUMNS if c in columns]
    if len(located) == 1:
        raise InputError("DATA", f"{str(path)!r} has the column {located[0]} alone: a tip position needs both "
                                 f"{' and '.join(POSITION_COLUMNS)} (m)")

    def place(row):  # the point's (position and) frequency and harmonic, as written
        return tuple(row[c] for c in (*located, "drive_frequency_hz", "harmonic"))

    if "kind" in columns:
        totals = {place(r) for r, _ in rows if r.get("kind") == "total"}
        rows = [(r, n) for r, n in rows if r.get("kind") == "total" or place(r) not in totals]
    if not rows:
        raise InputError("DATA", f"{str(path)!r} has no data rows")
    present = [c for c in (*OPTIONAL_COLUMNS, *located) if c in columns]
    table = {c: np.array([_number(r.get(c), c, n) for r, n in rows]) for c in (*REQUIRED_COLUMNS, *present)}
    lines = np.array([n for _, n in rows])
    if "kind" in columns:  # response.csv of a material without ions: its ionic rows are exactly zero
        keep = table["amplitude_m"] != 0
        table, lines = {c: v[keep] for c, v in table.items()}, lines[keep]
    _check(table, "drive_frequency_hz", lines, lambda f: (f > 0) & (f < 1e10), "a frequency in (0, 1e10) Hz")
    _check(table, "harmonic", lines, lambda n: (n >= 1) & (n == np.round(n)), "a whole number >= 1")
    _check(table, "amplitude_m", lines, lambda a: a > 0, "a positive amplitude in m")
    _check(table, "phase_deg", lines, lambda p: np.abs(p) <= 360, "a phase in [-360, 360] degrees")
    for column in ("amplitude_sigma_m", "phase_sigma_deg"):
        _check(table, column, lines, lambda s: s > 0, "a positive standard deviation")
    if "phase_sigma_deg" in table and "phase_deg" not in table:
        raise InputError("DATA", "column phase_sigma_deg needs the column phase_deg")
    condition, conditions = _positions(table, located)
    seen = {}
    for c, f, n, line in zip(condition, table["drive_frequency_hz"], table["harmonic"], lines):
        if (c, f, n) in seen:
            at = f" at {POSITION_KEY} {conditions[c][POSITION_KEY]} m" if located else ""
            raise InputError("DATA", f"rows {seen[c, f, n]} and {line}: frequency {f:g} Hz, harmonic {int(n)}{at} is given twice")
        seen[c, f, n] = line
    amplitude, phase = table["amplitude_m"], table.get("phase_deg")
    sigma_given = "amplitude_sigma_m" in table
    phase_sigma = None
    if phase is not None:
        phase_sigma = np.radians(table["phase_sigma_deg"]) if "phase_sigma_deg" in table else np.full(len(amplitude), DEFAULT_RELATIVE_SIGMA)
    return Data(
        frequency=table["drive_frequency_hz"], harmonic=table["harmonic"].astype(int), amplitude=amplitude,
        phase=None if phase is None else np.radians(phase),
        amplitude_sigma=table["amplitude_sigma_m"] if sigma_given else DEFAULT_RELATIVE_SIGMA * amplitude,
        phase_sigma=phase_sigma, sigma_given=sigma_given, rows=lines, condition=condition, conditions=conditions,
    )


def _positions(table: dict, located: list) -> tuple[np.ndarray, tuple[dict, ...]]:
    """The condition of every row and the conditions: one per distinct tip position (x_m, y_m; m) in the
    order of first appearance, ``{"tip.position": [x, y]}``; without the columns one condition, {}."""
    count = len(table["amplitude_m"])
    if not located:
        return np.zeros(count, dtype=int), ({},)
    positions = list(zip(*(table[c].tolist() for c in POSITION_COLUMNS)))
    distinct = list(dict.fromkeys(positions))
    condition = np.array([distinct.index(p) for p in positions], dtype=int)
    return condition, tuple({POSITION_KEY: list(p)} for p in distinct)


def _number(text, column: str, line: int) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        hint = " (write numbers with a decimal point)" if isinstance(text, str) and "," in text else ""
        raise InputError("DATA", f"row {line}, column {column}: {text!r} is not a number{hint}") from None
    if not math.isfinite(value):
        raise InputError("DATA", f"row {line}, column {column}: {text!r} is not a finite number")
    return value


def _check(table: dict, column: str, lines, valid, accepted: str) -> None:
    if column not in table:
        return
    bad = np.flatnonzero(~valid(table[column]))
    if bad.size:
        i = bad[0]
        raise InputError("DATA", f"row {lines[i]}, column {column}: {table[column][i]:g} is not {accepted}")


def fit_tables(study: Study) -> list[dict]:
    """The raw [[fit.data]] tables of ``study`` ([] without them): a non-empty array of tables."""
    section = study.extensions.get("fit", {})
    if not isinstance(section, dict) or "data" not in section:
        return []
    tables = section["data"]
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise InputError("fit.data", f"must be an array of tables ([[fit.data]] with file, frequency, amplitude, ...), got {tables!r}")
    return tables


@dataclass(frozen=True)
class _Table:
    """The points of one [[fit.data]] table: what its file holds (within the study's frequencies),
    their drive frequencies (Hz), the harmonic, the study overrides and the table's name."""

    reading: Reading
    frequency: np.ndarray
    harmonic: int
    overrides: dict
    name: str


def data_from_tables(study: Study, base_folder: str | Path) -> Data:
    """The measured harmonics of the study's [[fit.data]] tables, merged into one :class:`Data` (relative
    file names are relative to ``base_folder``, the study file's folder). Each table is read by
    :func:`stimsim.io.measured.read_channels`; its ``set`` overrides become its points' condition.
    Points outside the span of the study's excitation.frequencies are left out with a warning (a table
    with none inside is refused); a (condition, frequency, harmonic) given twice, a mix of tables with
    and without amplitude sigmas, and unknown keys are refused, naming ``fit.data[i]``."""
    tables = fit_tables(study)
    if not tables:
        raise InputError("fit.data", "is not in the study: add [[fit.data]] tables (file, frequency, amplitude, ...)")
    return _merged([_table(study, table, i, Path(base_folder)) for i, table in enumerate(tables)])


def _table(study: Study, table: dict, i: int, base_folder: Path) -> _Table:
    """Table ``i``, checked and read, its points restricted to the study's frequencies."""
    where = f"fit.data[{i}]"
    for key in table:
        if key not in TABLE_KEYS:
            raise InputError(f"{where}.{key}", f"is not a [[fit.data]] key{suggest(key, TABLE_KEYS)}")
    if "file" not in table:
        raise InputError(f"{where}.file", "is required: the measured file (relative to the study file's folder)")
    harmonic = table.get("harmonic", 1)
    if isinstance(harmonic, bool) or not isinstance(harmonic, int) or harmonic < 1:
        raise InputError(f"{where}.harmonic", f"must be a whole number >= 1 (the multiple n of the drive frequency), got {harmonic!r}")
    frequency_of = table.get("frequency_of", "drive")
    if frequency_of not in FREQUENCY_OF:
        raise InputError(f"{where}.frequency_of", f"= {frequency_of!r} is not accepted{suggest(frequency_of, FREQUENCY_OF)}")
    overrides, condition = _condition(study, table.get("set", {}), where)
    channels = {key: value for key, value in table.items() if key in CHANNEL_KEYS}
    if isinstance(channels["file"], str) and channels["file"].strip():
        channels["file"] = base_folder / channels["file"]
    reading = read_channels(ChannelSpec(**channels, key=where))
    frequency = reading.frequency / (harmonic if frequency_of == "harmonic" else 1)
    inside = _inside(frequency, condition.excitation.frequencies, reading, where)
    return _Table(reading.take(inside), frequency[inside], harmonic, overrides, f"{where} ({reading.file})")


def _condition(study: Study, overrides, where: str) -> tuple[dict, Study]:
    """The ``set`` table of a [[fit.data]] table as dotted study keys (nested tables flattened), and the
    study under them; an InputError naming ``where``.set for a key or value the study refuses."""
    if not isinstance(overrides, dict):
        raise InputError(f"{where}.set", f"must be a table of study keys and values, e.g. {{ \"excitation.dc_power\" = 1e-6 }}, got {overrides!r}")
    flat = flat_keys(overrides)
    try:
        return flat, with_values(study, flat) if flat else study
    except InputError as err:
        raise InputError(f"{where}.set", f"names a study key or value the study refuses: {err}") from None


def _inside(frequency: np.ndarray, study_frequencies, reading: Reading, where: str) -> np.ndarray:
    """Which drive frequencies lie within the span of the study's frequencies (relative tolerance
    :data:`SPAN_TOLERANCE`); none is an InputError naming ``where``, some a logged warning."""
    low, high = min(study_frequencies) * (1 - SPAN_TOLERANCE), max(study_frequencies) * (1 + SPAN_TOLERANCE)
    inside = (frequency >= low) & (frequency <= high)
    span = f"the study's excitation.frequencies span {min(study_frequencies):g} to {max(study_frequencies):g} Hz"
    if not inside.any():
        raise InputError(where, f"= {reading.file}: data with no overlap with the study's frequencies: its drive frequencies "
                                f"span {frequency.min():g} to {frequency.max():g} Hz, {span}")
    if not inside.all():
        log.warning(f"{where}: {np.count_nonzero(~inside)} of {inside.size} points of {reading.file} lie outside the study's "
                    f"frequencies ({span}) and are left out")
    return inside


def _merged(tables: list[_Table]) -> Data:
    """One :class:`Data` of the tables' points: a condition per distinct ``set``, NaN phases for the
    points of tables without a phase; refused: amplitude sigmas for some tables only, and a
    (condition, frequency, harmonic) given twice."""
    given = [t.reading.amplitude_sigma is not None for t in tables]
    if any(given) and not all(given):
        i, j = given.index(True), given.index(False)
        raise InputError(
            f"fit.data[{j}].amplitude_sigma", f"is not given while fit.data[{i}] gives one: give amplitude_sigma in every "
            "table or in none (the fit's errors are either absolute or scaled by the scatter of the data)"
        )
    conditions = []
    for t in tables:
        if t.overrides not in conditions:
            conditions.append(t.overrides)
    phased = any(t.reading.phase is not None for t in tables)

    def joined(values) -> np.ndarray:
        return np.concatenate([np.broadcast_to(v, t.frequency.shape) for v, t in zip(values, tables)])

    amplitude = joined([t.reading.amplitude for t in tables])
    phase_sigma = [DEFAULT_RELATIVE_SIGMA if t.reading.phase_sigma is None else t.reading.phase_sigma for t in tables]
    data = Data(
        frequency=joined([t.frequency for t in tables]), harmonic=joined([t.harmonic for t in tables]), amplitude=amplitude,
        phase=joined([np.nan if t.reading.phase is None else t.reading.phase for t in tables]) if phased else None,
        amplitude_sigma=joined([t.reading.amplitude_sigma for t in tables]) if all(given) else DEFAULT_RELATIVE_SIGMA * amplitude,
        phase_sigma=joined([np.nan if t.reading.phase is None else s for t, s in zip(tables, phase_sigma)]) if phased else None,
        sigma_given=all(given), rows=joined([t.reading.rows for t in tables]),
        condition=joined([conditions.index(t.overrides) for t in tables]), conditions=tuple(conditions),
        source=joined(list(range(len(tables)))), sources=tuple(t.name for t in tables),
    )
    _check_unique(data, tables)
    return data


def _check_unique(data: Data, tables: list[_Table]) -> None:
    """Each (condition, frequency, harmonic) once, or an InputError naming both places."""
    seen = {}
    for i, point in enumerate(zip(data.condition, data.frequency, data.harmonic)):
        if point in seen:
            first, condition = seen[point], data.conditions[point[0]]
            under = f" under set {condition}" if condition else ""
            raise InputError(
                f"fit.data[{data.source[i]}]",
                f"{_place(data, tables, i)}: drive frequency {point[1]:g} Hz, harmonic {point[2]}{under} is also at "
                f"{_place(data, tables, first)} of {tables[data.source[first]].name}; give each point once (average the "
                "repeated measurements of one frequency)"
            )
        seen[point] = i


def _place(data: Data, tables: list[_Table], i: int) -> str:
    """Where point ``i`` of ``data`` is in its file, e.g. "dart.ibw point 3"."""
    reading = tables[data.source[i]].reading
    return f"{reading.file} {reading.place} {data.rows[i]}"
