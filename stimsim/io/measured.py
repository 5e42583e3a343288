"""Measured lock-in signals in the files AFM users keep, read into SI units.

A :class:`ChannelSpec` names a file and the channels in it that hold the drive frequency, the
amplitude, the phase and their standard deviations, with their units; :func:`read_channels` returns
a :class:`Reading`: frequencies in Hz, amplitudes in m, phases in rad in stimsim's convention (the
phase of u_z relative to the heating, e^{iwt}: ``docs/guide/fitting.md#measured-data-files``).

Formats (``ChannelSpec.format``):

* ``"csv"``: a text table whose first non-empty line names the columns, separated by commas,
  semicolons or tabs (whichever the header line holds most of); a channel is a column.
* ``"ibw"``: an Igor binary wave (Asylum Research / Oxford Instruments, read with igor2). A 2-D wave
  whose columns carry dimension labels (Asylum's spectroscopy and DART exports: ``FrequencyRetrace``,
  ``Amplitude1Retrace``, ``Phase1Retrace``, ...) offers each labelled column as a channel (rows
  carrying the labels instead: each labelled row); unlabelled columns are named by their index
  (``"0"``, ``"1"``, ...); a 1-D wave is one channel named by the wave's name. ``"x_scaling"`` is the
  wave's X scaling along its points (x0 + dx i, e.g. the frequency of a wave scaled in Hz).
* ``"asylum-hdf5"``: Asylum's HDF5 export (ARDFtoHDF5): a group with a ``Channels`` attribute (e.g.
  ``ForceMap/0``: ``Defl, Amp, Phase, Phas2, Freq``) holds one 2-D dataset per curve (``"0:0"``,
  channels x points), whose rows are offered as ``ForceMap/0/0:0/Amp`` and so on. Besides, every 1-D
  numeric dataset (and every field of a 1-D compound dataset) of any HDF5 file is a channel named by
  its path: that is the layout to use for an HDF5 file of one's own.
* ``"labone-hdf5"``: Zurich Instruments LabOne HDF5, which mirrors the node tree
  (``000/dev1234/demods/0/sample/{x,y,frequency,timestamp}``); channels as for asylum-hdf5.
* ``"labone-csv"``: the LabOne CSV export, ``;``-separated with a header line
  (``chunk;timestamp;x;y;freq;phase;...``).
* ``"auto"`` (default): ``.ibw`` is ibw; ``.h5``/``.hdf5`` (or the HDF5 signature) is labone-hdf5
  when a path holds a LabOne device (``devNNNN``) or ``demods`` group, else asylum-hdf5; ``.csv``,
  ``.txt``, ``.tsv``, ``.dat`` are labone-csv when the header has ``chunk`` and ``timestamp``, else csv.

A channel is found by its name; in HDF5 files by its whole path or any trailing part of it
(``demods/0/sample/x`` or ``x``, when only one path ends so). A channel named ``r`` or ``theta`` that
the file does not hold is computed from the ``x`` and ``y`` beside it: r = hypot(x, y) in the
amplitude unit, theta = atan2(y, x) in rad. LabOne files are read by default with frequency ``frequency``
(HDF5) or ``freq`` (CSV), amplitude ``r`` and phase ``theta``; LabOne's ``phase`` node of a
demodulator sample is the oscillator's phase, not the signal's. A point with no value (NaN, an empty
cell) in a channel read is left out with a warning.

Units: frequencies in Hz; ``amplitude_unit`` "m" or "V" (then ``sensitivity``, m/V, the inverse
optical lever sensitivity, converts); ``phase_unit`` "deg" (default) or "rad" (default for LabOne
files; theta computed from x and y is in rad). ``phase_convention`` "bglib": the pycroscopy/BGlib SHO
model is -1 times stimsim's, so its phase is stimsim's + pi: pi is added. Every phase is wrapped to
(-pi, pi]. A sigma given as a number is in the unit of its channel.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from stimsim.core.errors import InputError, checked_number, did_you_mean, suggest

log = logging.getLogger(__name__)

FORMATS = ("auto", "csv", "ibw", "asylum-hdf5", "labone-hdf5", "labone-csv")
AMPLITUDE_UNITS = ("m", "V")
PHASE_UNITS = ("deg", "rad")
PHASE_CONVENTIONS = ("stimsim", "bglib")
#: File suffixes of the formats that ``format = "auto"`` recognises by name.
SUFFIXES = {".ibw": "ibw", ".h5": "hdf5", ".hdf5": "hdf5", ".csv": "text", ".txt": "text", ".tsv": "text", ".dat": "text"}
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Channels a LabOne file is read with when the spec names none: frequency candidates, amplitude, phase.
LABONE_CHANNELS = {"labone-hdf5": ("frequency",), "labone-csv": ("freq", "frequency")}
#: Channels computed from x and y when the file does not hold them.
POLAR = {"r": np.hypot, "theta": lambda x, y: np.arctan2(y, x)}
#: How many names an error lists at most.
LISTED = 40


@dataclass(frozen=True)
class ChannelSpec:
    """Where a measured signal is in a file. ``file``: its path; ``format``: one of :data:`FORMATS`;
    ``frequency``: the channel of the drive frequency (Hz), or the frequency (Hz) of a single-frequency
    file; ``amplitude``, ``phase``: channel names (phase optional); ``amplitude_unit``: "m" or "V" with
    ``sensitivity`` (m/V, > 0); ``phase_unit``: "deg" or "rad" (None: rad for LabOne formats, deg
    otherwise); ``phase_convention``: "stimsim" or "bglib" (phase + pi); ``amplitude_sigma``,
    ``phase_sigma``: a channel name, or a standard deviation in the channel's unit. ``key`` names the
    spec in error messages (``key.amplitude``, ...). Checked when built (InputError)."""

    file: str | Path
    format: str = "auto"
    frequency: str | float | None = None
    amplitude: str | None = None
    phase: str | None = None
    amplitude_unit: str = "m"
    sensitivity: float | None = None
    phase_unit: str | None = None
    phase_convention: str = "stimsim"
    amplitude_sigma: str | float | None = None
    phase_sigma: str | float | None = None
    key: str = "data"

    def __post_init__(self):
        if not isinstance(self.file, (str, Path)) or not str(self.file).strip():
            raise InputError(f"{self.key}.file", f"must be a file name, got {self.file!r}")
        self._choice("format", FORMATS)
        self._choice("amplitude_unit", AMPLITUDE_UNITS)
        self._choice("phase_convention", PHASE_CONVENTIONS)
        if self.phase_unit is not None:
            self._choice("phase_unit", PHASE_UNITS)
        for name in ("amplitude", "phase"):
            self._name_or(name, None)
        self._name_or("frequency", (0.0, 1e10, "Hz"))
        self._name_or("amplitude_sigma", (0.0, math.inf, self.amplitude_unit))
        self._name_or("phase_sigma", (0.0, math.inf, self.phase_unit or "deg or rad"))
        if self.amplitude_unit == "V":
            checked_number(f"{self.key}.sensitivity", self.sensitivity, 0.0, math.inf, "m/V")
        elif self.sensitivity is not None:
            raise InputError(f"{self.key}.sensitivity", "converts volts to metres: give it with amplitude_unit = 'V' only")

    def _choice(self, name: str, accepted) -> None:
        value = getattr(self, name)
        if value not in accepted:
            raise InputError(f"{self.key}.{name}", f"= {value!r} is not accepted{suggest(value, accepted)}")

    def _name_or(self, name: str, number: tuple | None) -> None:
        """Field ``name`` must be None, a channel name or (``number`` = (low, high, unit)) a number."""
        value = getattr(self, name)
        if value is None or (isinstance(value, str) and value.strip()):
            return
        if number is None or isinstance(value, (bool, str)) or not isinstance(value, (int, float)):
            accepted = "a channel name" + (f" or a number in {number[2]}" if number else "")
            raise InputError(f"{self.key}.{name}", f"must be {accepted}, got {value!r}")
        checked_number(f"{self.key}.{name}", value, number[0], number[1], number[2])


@dataclass(frozen=True)
class Reading:
    """The signal of one :class:`ChannelSpec`, one entry per point: drive ``frequency`` (Hz),
    ``amplitude`` (m, > 0), ``phase`` (rad in (-pi, pi], stimsim's convention; None without a phase
    channel), ``amplitude_sigma`` (m) and ``phase_sigma`` (rad) (None when not given), ``rows``: where
    each point is in the file, counted as ``place`` says ("line": the 1-based line of a text file;
    "point": the 0-based point index of a wave or dataset); ``file``: the file's name; ``format``: the
    format it was read as."""

    frequency: np.ndarray
    amplitude: np.ndarray
    phase: np.ndarray | None
    amplitude_sigma: np.ndarray | None
    phase_sigma: np.ndarray | None
    rows: np.ndarray
    file: str
    format: str
    place: str

    def where(self, i: int) -> str:
        """Point ``i`` for a message, e.g. "dart.ibw point 12"."""
        return f"{self.file} {self.place} {self.rows[i]}"

    def take(self, keep: np.ndarray) -> Reading:
        """The points where the boolean mask ``keep`` is true."""
        return replace(self, **{name: value[keep] for name, value in vars(self).items() if isinstance(value, np.ndarray)})


def read_channels(spec: ChannelSpec) -> Reading:
    """Read the signal ``spec`` describes (see the module docstring); every problem is an InputError
    naming ``spec.key`` and the field."""
    table = _load(spec)
    labone = table.format.startswith("labone")
    names = {
        "amplitude": spec.amplitude or ("r" if labone else None),
        "frequency": spec.frequency if spec.frequency is not None else LABONE_CHANNELS.get(table.format),
        "phase": spec.phase or ("theta" if labone else None),
        "amplitude_sigma": spec.amplitude_sigma, "phase_sigma": spec.phase_sigma,
    }
    for field in ("amplitude", "frequency"):
        if names[field] is None:
            raise InputError(f"{spec.key}.{field}", f"is required for a {table.format} file; {table.listing()}")
    if names["phase"] is None and spec.phase_sigma is not None:
        raise InputError(f"{spec.key}.phase_sigma", "needs a phase channel (phase)")
    if isinstance(names["frequency"], tuple):  # LabOne's candidates: the first the file holds
        names["frequency"] = next((n for n in names["frequency"] if table.matches(n)), names["frequency"][0])
    values = {field: table.values(name, f"{spec.key}.{field}") for field, name in names.items() if isinstance(name, str)}
    sizes = {v.size for v in values.values()}
    if len(sizes) > 1:
        counts = ", ".join(f"{field} {names[field]!r} {v.size}" for field, v in values.items())
        raise InputError(spec.key, f"reads channels of different lengths from {table.file}: {counts} points")
    rows = table.rows if table.rows is not None else np.arange(sizes.pop())
    if not isinstance(names["frequency"], str):  # a single-frequency file
        values["frequency"] = np.full(rows.size, float(names["frequency"]))
    keep = np.all([~np.isnan(v) for v in values.values()], axis=0)
    if not keep.all():
        log.warning(f"{spec.key}: {np.count_nonzero(~keep)} of {keep.size} points of {table.file} have no value "
                    "(NaN or an empty cell) in a channel read and are left out")
    if not keep.any():
        raise InputError(f"{spec.key}.file", f"{table.file} has no point with values in all the channels read")
    values = {field: v[keep] for field, v in values.items()}
    computed = names["phase"] is not None and table.computed(names["phase"])
    return _converted(spec, values, rows[keep], table, _phase_unit(spec, labone, computed))


def _phase_unit(spec: ChannelSpec, labone: bool, computed: bool) -> str:
    """The unit of the phase channel: theta computed from x and y is in rad."""
    if computed and spec.phase_unit == "deg":
        raise InputError(f"{spec.key}.phase_unit", "= 'deg', but the phase theta computed from x and y is in rad")
    return spec.phase_unit or ("rad" if labone or computed else "deg")


def _converted(spec: ChannelSpec, values: dict, rows: np.ndarray, table: _Table, phase_unit: str) -> Reading:
    """The checked values in SI units: amplitudes (and their sigmas) times the sensitivity, phases (and
    their sigmas) in rad, BGlib phases shifted by pi, every phase wrapped to (-pi, pi]."""
    count = rows.size
    volts = spec.sensitivity if spec.amplitude_unit == "V" else 1.0
    radians = math.pi / 180 if phase_unit == "deg" else 1.0

    def sigma(field: str, scale: float):
        given = getattr(spec, field)
        if given is None:
            return None
        return (values[field] if isinstance(given, str) else np.full(count, float(given))) * scale

    phase = None
    if "phase" in values:
        shift = math.pi if spec.phase_convention == "bglib" else 0.0
        with np.errstate(invalid="ignore"):  # an infinite phase becomes NaN, refused by _check
            phase = np.angle(np.exp(1j * (values["phase"] * radians + shift)))
        phase[phase == -math.pi] = math.pi
    reading = Reading(
        frequency=values["frequency"], amplitude=values["amplitude"] * volts, phase=phase,
        amplitude_sigma=sigma("amplitude_sigma", volts), phase_sigma=sigma("phase_sigma", radians),
        rows=rows, file=table.file, format=table.format, place=table.place,
    )
    _check(spec, reading)
    return reading


def _check(spec: ChannelSpec, reading: Reading) -> None:
    """Every value finite and in range, or an InputError naming the field, the point and the value."""
    checks = (
        ("frequency", reading.frequency, lambda f: (f > 0) & (f < 1e10), "a frequency in (0, 1e10) Hz"),
        ("amplitude", reading.amplitude, lambda a: a > 0, "a positive amplitude (m)"),
        ("phase", reading.phase, np.isfinite, "a finite phase"),
        ("amplitude_sigma", reading.amplitude_sigma, lambda s: s > 0, "a positive standard deviation (m)"),
        ("phase_sigma", reading.phase_sigma, lambda s: s > 0, "a positive standard deviation (rad)"),
    )
    for field, values, valid, accepted in checks:
        if values is None:
            continue
        with np.errstate(invalid="ignore"):
            bad = np.flatnonzero(~(valid(values) & np.isfinite(values)))
        if bad.size:
            i = bad[0]
            raise InputError(f"{spec.key}.{field}", f"{reading.where(i)}: {values[i]:g} is not {accepted}")


@dataclass(frozen=True)
class _Table:
    """The channels of one file: ``channels`` name -> values (an array, or the text cells of a column,
    parsed when used), the place of each point (``rows``, counted as ``place``; None: the point index,
    for channels of any length), whether names are HDF5 paths found by any trailing part (``paths``),
    the file's name and the format it is read as."""

    channels: dict
    rows: np.ndarray | None
    place: str
    paths: bool
    file: str
    format: str

    def matches(self, name: str) -> list[str]:
        """The channels ``name`` names: itself, or (HDF5) every path ending in it."""
        if name in self.channels or not self.paths:
            return [name] if name in self.channels else []
        suffix = "/" + name.strip("/")
        return [path for path in self.channels if ("/" + path).endswith(suffix)]

    def find(self, name: str, key: str) -> str | None:
        """The one channel ``name`` names, or None; an InputError naming ``key`` where several do."""
        found = self.matches(name)
        if len(found) > 1:
            raise InputError(key, f"= {name!r} is ambiguous in {self.file}: {', '.join(found)} end in it; give more of the path")
        return found[0] if found else None

    def computed(self, name: str) -> bool:
        """Whether ``name`` is r or theta computed from x and y (the file does not hold it)."""
        return name.rpartition("/")[2] in POLAR and not self.matches(name)

    def values(self, name: str, key: str) -> np.ndarray:
        """The values of channel ``name`` as floats (NaN where a cell is empty); r and theta from x and
        y when the file holds only those; an InputError naming ``key`` with the file's channels."""
        found = self.find(name, key)
        if found is None and self.computed(name):
            return self._polar(name, key)
        if found is None:
            leaves = [n.rpartition("/")[2] for n in self.channels] if self.paths else []
            hint = did_you_mean(name, [*self.channels, *leaves])
            raise InputError(key, f"= {name!r} is not a channel of {self.file}{hint}; {self.listing()}")
        column = self.channels[found]
        if isinstance(column, list):
            return np.array([_number(cell, line, found, self.file, key) for cell, line in zip(column, self.rows)])
        return column

    def _polar(self, name: str, key: str) -> np.ndarray:
        """r = hypot(x, y) or theta = atan2(y, x) of the x and y beside ``name`` (same path)."""
        head, _, leaf = name.rpartition("/")
        found = [self.matches(f"{head}/{c}".lstrip("/")) for c in "xy"]
        if not all(len(f) == 1 for f in found):
            several = any(len(f) > 1 for f in found)
            problem = "holds several: give more of the path, e.g. 'demods/0/sample/r'" if several else "does not hold both"
            raise InputError(
                key, f"= {name!r} is not a channel of {self.file} and is computed from the x and y beside it, but the file "
                f"{problem} ({', '.join(path for f in found for path in f) or 'no x or y'}); {self.listing()}"
            )
        x, y = (self.values(f[0], key) for f in found)
        return POLAR[leaf](x, y)

    def listing(self) -> str:
        """The file's channel names for a message."""
        names = list(self.channels)
        more = f", ... ({len(names) - LISTED} more)" if len(names) > LISTED else ""
        kind = "paths (or any trailing part)" if self.paths else "channels"
        return f"its {kind}: {', '.join(names[:LISTED]) or '(none)'}{more}"


def _number(cell: str, line: int, column: str, file: str, key: str) -> float:
    if not cell:
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise InputError(key, f"{file} line {line}, column {column}: {cell!r} is not a number") from None


def _load(spec: ChannelSpec) -> _Table:
    """The channels of the spec's file, in its format (``auto`` resolved)."""
    path = Path(spec.file)
    key = f"{spec.key}.file"
    if path.is_dir():
        raise InputError(key, f"= {str(path)!r} is a folder, not a data file")
    if not path.is_file():
        raise InputError(key, f"= {str(path)!r}: the file does not exist")
    family = _family(spec.format) if spec.format != "auto" else _detected(path, f"{spec.key}.format")
    try:
        table = {"text": _text_table, "ibw": _ibw_table, "hdf5": _hdf5_table}[family](path)
    except Exception as err:  # noqa: BLE001 (a file foreign to its format fails in the parser's own ways)
        readable = {"text": "a text table (CSV)", "ibw": "an Igor binary wave", "hdf5": "an HDF5 file"}[family]
        raise InputError(key, f"= {str(path)!r} is not readable as {readable}: {type(err).__name__}: {err}") from None
    return replace(table, format=spec.format if spec.format != "auto" else _format_of(family, table))


def _family(fmt: str) -> str:
    return {"csv": "text", "labone-csv": "text", "ibw": "ibw"}.get(fmt, "hdf5")


def _detected(path: Path, key: str) -> str:
    """The family of a file by its suffix, else by the HDF5 signature."""
    family = SUFFIXES.get(path.suffix.lower())
    if family is None:
        with open(path, "rb") as stream:
            family = "hdf5" if stream.read(8) == HDF5_SIGNATURE else None
    if family is None:
        raise InputError(key, f"= 'auto' cannot tell the format of {path.name!r} by its name; set format to one of "
                              f"{', '.join(FORMATS[1:])}")
    return family


def _format_of(family: str, table: _Table) -> str:
    """The format of an ``auto`` file from its family and its channel names."""
    if family == "text":
        return "labone-csv" if {"chunk", "timestamp"} <= set(table.channels) else "csv"
    if family == "hdf5":
        labone = any(re.fullmatch(r"dev\d+|demods", part) for path in table.channels for part in path.split("/"))
        return "labone-hdf5" if labone else "asylum-hdf5"
    return family


def _text_table(path: Path) -> _Table:
    """A text table: the first non-empty line names the columns; cells kept as text."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip()), None)
    if start is None:
        raise ValueError("the file is empty")
    delimiter = max(",;\t", key=lines[start].count)
    parsed = csv.reader(lines[start:], delimiter=delimiter)
    names = [name.strip() for name in next(parsed)]
    records = [(i + start + 2, row) for i, row in enumerate(parsed) if any(cell.strip() for cell in row)]
    rows = np.array([line for line, _ in records], dtype=int)
    channels = {}
    for j, name in enumerate(names):
        if name and name not in channels:
            channels[name] = [row[j].strip() if j < len(row) else "" for _, row in records]
    return _Table(channels, rows, "line", False, path.name, "")


def _ibw_table(path: Path) -> _Table:
    """An Igor binary wave: labelled columns (or rows) of a 2-D wave, or a 1-D wave by its name; and
    ``x_scaling``, the wave's X scaling, where the points run along its first dimension."""
    from igor2 import binarywave

    wave = binarywave.load(str(path))["wave"]
    data = np.asarray(wave["wData"], dtype=float)
    labels = [[label.decode("latin-1") for label in dimension[1:]] for dimension in wave["labels"]]
    if data.ndim == 1:
        channels = {wave["wave_header"]["bname"].decode("latin-1"): data}
    elif data.ndim == 2 and not any(labels[1]) and any(labels[0]):  # one channel a row
        return _Table({label: data[i] for i, label in enumerate(labels[0]) if label}, np.arange(data.shape[1]),
                      "point", False, path.name, "")
    elif data.ndim == 2:
        names = labels[1] + [""] * (data.shape[1] - len(labels[1]))
        channels = {name or str(j): data[:, j] for j, name in enumerate(names)}
    else:
        raise ValueError(f"a {data.ndim}-D wave (an image or map) is not a spectrum; export its points as a 1-D or 2-D wave")
    header = wave["wave_header"]
    start, step = (header["sfB"][0], header["sfA"][0]) if "sfA" in header else (header["hsB"], header["hsA"])
    channels.setdefault("x_scaling", start + step * np.arange(data.shape[0]))
    return _Table(channels, np.arange(data.shape[0]), "point", False, path.name, "")


def _hdf5_table(path: Path) -> _Table:
    """An HDF5 file: every 1-D numeric dataset (and field of a 1-D compound dataset) by its path, and
    the rows of Asylum's curve datasets (in a group whose ``Channels`` attribute names them)."""
    import h5py

    channels = {}
    with h5py.File(path, "r") as h5:
        def visit(name, item):
            if isinstance(item, h5py.Group) or item.ndim == 0:
                return
            names = _asylum_channels(item)
            if names is not None:
                channels.update({f"{name}/{channel}": np.asarray(item[i], dtype=float) for i, channel in enumerate(names)})
            elif item.ndim == 1 and item.dtype.names:
                data = item[()]
                channels.update({f"{name}/{field}": data[field].astype(float) for field in item.dtype.names
                                 if data[field].dtype.kind in "fiu"})
            elif item.ndim == 1 and item.dtype.kind in "fiu":
                channels[name] = np.asarray(item[()], dtype=float)

        h5.visititems(visit)
    return _Table(channels, None, "point", True, path.name, "")


def _asylum_channels(item) -> list[str] | None:
    """The channel names of an Asylum curve dataset (2-D, one row per name in its group's ``Channels``
    attribute), or None."""
    names = item.parent.attrs.get("Channels")
    if names is None or item.ndim != 2:
        return None
    names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in np.atleast_1d(names)]
    return names if item.shape[0] == len(names) else None
