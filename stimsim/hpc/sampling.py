"""Sweep definitions: the ``[sweep]`` table of a study, its samplers and the samples' studies.

A sweep names parameter axes by their study keys (``"sample.properties.diffusivity"``) and turns them
into an ordered list of samples, each a ``{key: value}`` dict applied to the base study with
:func:`stimsim.study.load.apply_override` semantics. The sample id is the index in that list, so the same
definition gives the same ids on any number of ranks. Modes:

* ``grid`` (default): the product of the axes' value lists, the first axis varying slowest;
* ``list``: axes of equal length, sample i takes the i-th value of each;
* ``lhs``: a Latin hypercube of ``samples`` points in per-axis bounds ``[low, high]`` (``log`` names
  the axes sampled uniformly in log), reproducible from ``seed``;
* ``csv``: the rows of a CSV ``file`` (path relative to the study file) with a column per key.

The definition is checked here (unknown keys, value types, shapes); a value that is of the right type
but out of range, or a combination the study rejects, makes that sample fail, not the sweep.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import itertools
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stimsim.study.schema import key_spec
from stimsim.study.study import Study
from stimsim.study.load import read_study_file, set_key, study_from_dict
from stimsim.core.errors import InputError, did_you_mean, suggest

#: Sampling modes of ``sweep.mode``.
MODES = ("grid", "list", "lhs", "csv")
#: Keys of the [sweep] table, by the modes that use them (the run settings ranks_per_sample and
#: dispatcher: every mode).
SWEEP_KEYS = {
    "mode": MODES, "axes": ("grid", "list", "lhs"), "samples": ("lhs",), "seed": ("lhs",),
    "log": ("lhs",), "file": ("csv",), "ranks_per_sample": MODES, "dispatcher": MODES,
}
#: Where the dispatcher runs: beside rank 0's group ('shared') or alone on rank 0 ('dedicated').
DISPATCHERS = ("shared", "dedicated")


@dataclass(frozen=True)
class Sweep:
    """A checked sweep: the base study (raw dict, with the [sweep] table), the axis keys in order, the
    samples (tuples of axis values in the same order) and the run settings ``ranks_per_sample`` and
    ``dispatcher``."""

    base: dict
    mode: str
    axes: tuple[str, ...]
    samples: tuple[tuple, ...]
    ranks_per_sample: int = 1
    dispatcher: str = "shared"
    source: str = ""

    def __len__(self) -> int:
        return len(self.samples)

    def values(self, index: int) -> dict:
        """``{axis key: value}`` of sample ``index``."""
        return dict(zip(self.axes, self.samples[index]))

    def raw(self, index: int) -> dict:
        """The raw study dict of sample ``index`` (base study with the axis values set, no [sweep])."""
        raw = {k: copy.deepcopy(v) for k, v in self.base.items() if k != "sweep"}
        for key, value in self.values(index).items():
            set_key(raw, key, value)
        return raw

    def study(self, index: int) -> Study:
        """The validated :class:`Study` of sample ``index`` (InputError if its values are rejected)."""
        return study_from_dict(self.raw(index))

    def definition(self) -> dict:
        """What makes the results (JSON-ready): the base study without [sweep], the axes and the samples
        (so a CSV sweep and its stored list form, or a grid and the same list, are the same sweep)."""
        base = {k: v for k, v in self.base.items() if k != "sweep"}
        return {"base": base, "axes": list(self.axes), "samples": [list(s) for s in self.samples]}

    def fingerprint(self) -> str:
        """SHA-256 of :meth:`definition` in canonical JSON."""
        text = json.dumps(self.definition(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def portable_base(self) -> dict:
        """The base study with a CSV-file sweep written as an explicit list (self-contained TOML)."""
        base = copy.deepcopy(self.base)
        if self.mode == "csv":
            columns = {key: [s[i] for s in self.samples] for i, key in enumerate(self.axes)}
            base["sweep"] = {"mode": "list", "ranks_per_sample": self.ranks_per_sample,
                             "dispatcher": self.dispatcher, "axes": columns}
        return base


def load_sweep(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Sweep:
    """Read a study file with a ``[sweep]`` table, apply ``KEY=VALUE`` overrides and check the sweep."""
    path = Path(path)
    raw = read_study_file(path, overrides)
    return sweep_from_dict(raw, path.parent, source=str(path))


def sweep_from_dict(raw: dict, folder: str | Path = ".", source: str = "") -> Sweep:
    """Check the ``[sweep]`` table of a raw study dict; ``folder`` resolves a relative CSV ``file``."""
    table = raw.get("sweep")
    if not isinstance(table, dict):
        raise InputError("sweep", "is missing: add a [sweep] table with [sweep.axes] (README: Parameter sweeps)")
    mode = table.get("mode", "grid")
    if mode not in MODES:
        raise InputError("sweep.mode", f"= {mode!r} is not accepted; use {_either(MODES)}{did_you_mean(mode, MODES)}")
    for key in table:
        if key not in SWEEP_KEYS:
            raise InputError(f"sweep.{key}", f"is not a known key{suggest(key, SWEEP_KEYS)}")
        if mode not in SWEEP_KEYS[key]:
            raise InputError(f"sweep.{key}", f"is not used by sweep.mode = {mode!r} (remove it)")
    ranks = _integer("sweep.ranks_per_sample", table.get("ranks_per_sample", 1), 1)
    dispatcher = table.get("dispatcher", "shared")
    if dispatcher not in DISPATCHERS:
        raise InputError(
            "sweep.dispatcher", f"= {dispatcher!r} is not accepted; use {_either(DISPATCHERS)}{did_you_mean(dispatcher, DISPATCHERS)}"
        )
    if mode == "csv":
        axes, samples = _csv_samples(table, Path(folder))
    else:
        columns = _axes(table)
        sampler = {"grid": _grid, "list": _list, "lhs": _latin_hypercube}[mode]
        axes, samples = tuple(columns), sampler(columns, table)
    for key in axes:
        _check_key(key, raw)
    for sample in samples:
        for key, value in zip(axes, sample):
            _check_type(key, value)
    return Sweep(base=raw, mode=mode, axes=axes, samples=tuple(samples), ranks_per_sample=ranks,
                 dispatcher=dispatcher, source=source)


def _either(choices) -> str:
    return " or ".join(repr(c) for c in choices)


def _integer(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(name, f"must be an integer >= {low}, got {value!r}")
    return value


def _axes(table: dict) -> dict[str, list]:
    """The [sweep.axes] table flattened to ``{dotted key: list}`` (quoted or nested keys alike)."""
    axes = table.get("axes")
    if not isinstance(axes, dict) or not axes:
        raise InputError("sweep.axes", 'must be a table of study key = [values], e.g. "tip.contact_radius" = [1e-8, 2e-8]')
    flat: dict[str, list] = {}

    def walk(prefix: str, node: dict) -> None:
        for key, value in node.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                walk(name, value)
            elif not isinstance(value, list) or not value:
                raise InputError(f"sweep.axes.{name}", f"must be a non-empty list of values, got {value!r}")
            elif name in flat:
                raise InputError(f"sweep.axes.{name}", "is given twice")
            else:
                flat[name] = value

    walk("", axes)
    return flat


def _grid(columns: dict[str, list], table: dict) -> list[tuple]:
    return list(itertools.product(*columns.values()))


def _list(columns: dict[str, list], table: dict) -> list[tuple]:
    lengths = {key: len(values) for key, values in columns.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{k}: {n}" for k, n in lengths.items())
        raise InputError("sweep.axes", f"must all have the same length with sweep.mode = 'list' ({listed})")
    return list(zip(*columns.values()))


def _latin_hypercube(columns: dict[str, list], table: dict) -> list[tuple]:
    """Stratified samples: each axis' range cut in ``samples`` equal strata (in log for ``log`` axes),
    one point per stratum at a uniform random place, strata paired by independent permutations."""
    count = _integer("sweep.samples", table.get("samples"), 1)
    seed = _integer("sweep.seed", table.get("seed", 0), 0)
    log = table.get("log", [])
    if log is True:
        log = list(columns)
    if not isinstance(log, list) or any(key not in columns for key in log):
        raise InputError("sweep.log", f"must be true or a list of axis keys among {list(columns)}, got {log!r}")
    rng = np.random.default_rng(seed)
    points = []
    for key, bounds in columns.items():
        name = f"sweep.axes.{key}"
        if len(bounds) != 2 or not all(_is_number(b) for b in bounds) or not bounds[0] < bounds[1]:
            raise InputError(name, f"must be bounds [low, high] with low < high for sweep.mode = 'lhs', got {bounds!r}")
        low, high = (float(b) for b in bounds)
        if key in log:
            if low <= 0:
                raise InputError(name, f"must have bounds > 0 to be sampled in log (sweep.log), got {bounds!r}")
            low, high = math.log(low), math.log(high)
        unit = (rng.permutation(count) + rng.random(count)) / count
        values = low + unit * (high - low)
        points.append(np.exp(values) if key in log else values)
    return [tuple(float(v) for v in row) for row in zip(*points)]


def _csv_samples(table: dict, folder: Path) -> tuple[tuple[str, ...], list[tuple]]:
    name = table.get("file")
    if not isinstance(name, str) or not name:
        raise InputError("sweep.file", "is required with sweep.mode = 'csv' (a CSV file with a column per study key)")
    path = Path(name) if Path(name).is_absolute() else folder / name
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            rows = list(csv.reader(stream))
    except (OSError, UnicodeDecodeError) as err:
        raise InputError("sweep.file", f"cannot read {str(path)!r}: {err}") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise InputError("sweep.file", f"{str(path)!r} needs a header of study keys and at least one row")
    header = tuple(cell.strip() for cell in rows[0])
    if len(set(header)) != len(header) or not all(header):
        raise InputError("sweep.file", f"{str(path)!r}: the header must name each study key once, got {list(header)}")
    samples = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header) or any(not cell.strip() for cell in row):
            raise InputError("sweep.file", f"{str(path)!r} line {line}: expected {len(header)} non-empty values, got {row}")
        samples.append(tuple(_parse_cell(cell.strip()) for cell in row))
    return header, samples


def _parse_cell(text: str):
    """A CSV cell as a number, else a TOML value (true, "text", [1, 2]), else the text itself."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_key(key: str, raw: dict) -> None:
    """An axis key must name one value of the study (:func:`stimsim.study.schema.key_spec`: a key of a
    section, a material property of a property table, ``table[i].key`` in an existing table of an
    array of tables of the base study ``raw``)."""
    name = f"sweep.axes.{key}"
    try:
        key_spec(key)
        set_key(copy.deepcopy(raw), key, 0)  # the index names an existing table
    except InputError as err:
        raise InputError(name, str(err).removeprefix(f"{err.key} ")) from None


def _check_type(key: str, value) -> None:
    """Values must have the key's type (a number where a number goes, ...); ranges are checked per sample."""
    kind = key_spec(key).kind
    ok = {
        "number": _is_number(value),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "numbers": isinstance(value, list) and bool(value) and all(_is_number(v) for v in value),
        "string": isinstance(value, str),
    }[kind]
    if not ok:
        expected = {"number": "a number", "integer": "a whole number", "numbers": "a non-empty list of numbers",
                    "string": "a string"}[kind]
        raise InputError(f"sweep.axes.{key}", f"values must each be {expected}, got {value!r}")
