"""Measured STIM harmonics: the :class:`Data` a fit reads, and the DATA.csv reader.

DATA.csv has the column names of response.csv (a response.csv is valid input):

* required ``drive_frequency_hz`` (Hz), ``harmonic`` (multiple n of the drive frequency),
  ``amplitude_m`` (|u_z| in m, > 0);
* optional ``phase_deg`` (degrees, relative to the heating as in response.csv), ``amplitude_sigma_m``
  (m, > 0) and ``phase_sigma_deg`` (degrees, > 0), the standard deviations of the measurement, and
  ``kind``: where a response.csv gives thermal, ionic and total rows for one harmonic, the total (what
  the tip measures) is used, and rows of exactly zero amplitude (the ionic rows of a material without
  mobile ions) are left out.

Without ``amplitude_sigma_m`` every amplitude gets a relative standard deviation of
:data:`DEFAULT_RELATIVE_SIGMA` and every phase :data:`DEFAULT_RELATIVE_SIGMA` rad (the same complex
noise), and the standard errors are scaled by the reduced chi-square (the scatter of the data sets the
noise level). With sigmas the errors are the absolute ones from the Jacobian.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stimsim.core.errors import InputError

REQUIRED_COLUMNS = ("drive_frequency_hz", "harmonic", "amplitude_m")
OPTIONAL_COLUMNS = ("phase_deg", "amplitude_sigma_m", "phase_sigma_deg")
#: Default relative standard deviation of the amplitudes (and, in rad, of the phases).
DEFAULT_RELATIVE_SIGMA = 0.01


@dataclass(frozen=True)
class Data:
    """Measured harmonics, one entry per point: drive frequency (Hz), harmonic, amplitude (m), phase
    (rad; None when no point has one), standard deviations (m, rad), whether the sigmas were given,
    and the 1-based row of each point in its source. ``condition[i]`` indexes ``conditions``, the
    study overrides (key -> value, e.g. a DC heating level or a force) under which point i was
    measured: the points of one condition share one forward model. ``source[i]`` indexes ``sources``,
    the names of the files (or tables) the points came from."""

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
    if "kind" in columns:
        totals = {(r["drive_frequency_hz"], r["harmonic"]) for r, _ in rows if r.get("kind") == "total"}
        rows = [(r, n) for r, n in rows if r.get("kind") == "total" or (r["drive_frequency_hz"], r["harmonic"]) not in totals]
    if not rows:
        raise InputError("DATA", f"{str(path)!r} has no data rows")
    present = [c for c in OPTIONAL_COLUMNS if c in columns]
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
    seen = {}
    for f, n, line in zip(table["drive_frequency_hz"], table["harmonic"], lines):
        if (f, n) in seen:
            raise InputError("DATA", f"rows {seen[f, n]} and {line}: frequency {f:g} Hz, harmonic {int(n)} is given twice")
        seen[f, n] = line
    amplitude, phase = table["amplitude_m"], table.get("phase_deg")
    sigma_given = "amplitude_sigma_m" in table
    phase_sigma = None
    if phase is not None:
        phase_sigma = np.radians(table["phase_sigma_deg"]) if "phase_sigma_deg" in table else np.full(len(amplitude), DEFAULT_RELATIVE_SIGMA)
    return Data(
        frequency=table["drive_frequency_hz"], harmonic=table["harmonic"].astype(int), amplitude=amplitude,
        phase=None if phase is None else np.radians(phase),
        amplitude_sigma=table["amplitude_sigma_m"] if sigma_given else DEFAULT_RELATIVE_SIGMA * amplitude,
        phase_sigma=phase_sigma, sigma_given=sigma_given, rows=lines,
    )


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
