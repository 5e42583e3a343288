"""The tip-centred equivalent of a 3D study: the tip at the origin, the microstructure moved by minus the
tip position.

The box of a 3D study (:mod:`stimsim.geometry.box`, the sample ``-L <= x, y <= L``) is a truncation of
a laterally large sample at the thermal-length rule's L (:func:`stimsim.study.lengths.domain_size`), not
its real edge. A box centred on the tip is an equally valid model of that sample, and better where the
tip moves: it never comes near the truncation, the mirror planes through the tip come back whenever the
boundaries allow them (a straight boundary along y leaves y = 0 a mirror plane at every position), and
positions whose moved microstructure is the same are one problem (:func:`problem_key`).

:func:`tip_centred_raw` moves every grain boundary by minus the tip position and writes it in a
canonical form, so that equal problems have equal raw dicts: its point is the foot of the
perpendicular from the tip (the offset n . (point - tip) along its normalised normal, rounded to
:data:`SNAP` of L), the normal of a boundary without a grain beyond points to +x (its sides are alike),
and of the eight symmetries of the square box about the tip's axis (the sample is
isotropic, the tip axisymmetric) the one with the smallest canonical JSON is taken. A boundary whose
core and space-charge layers stay outside the box (the gap from the box to its core face at least
:data:`LAYER_REACH` layer lengths) is dropped: on its near side it claims nothing, on its far side
the whole box is its grain beyond, so the sample's properties take its ``beyond_properties`` and the
earlier boundaries (whose regions it claims) are dropped with it; the later ones keep their own
materials (their overrides are written against the new sample properties). ``mesh.domain_size`` is then
set to the study's L, so that the box keeps its size.
"""

from __future__ import annotations

import copy
import json
import math

from stimsim.study.lengths import boundary_layer_length, domain_size
from stimsim.study.load import study_from_dict
from stimsim.study.study import Study

#: Offsets of the moved boundaries are rounded to the power of ten below this fraction of the domain
#: size L (positions that differ by float rounding are one problem).
SNAP = 1e-9
#: A boundary is dropped when the gap (m) between the box and its core face is at least this many
#: space-charge layer lengths (its layers' excess there below exp(-30) ~ 1e-13), or at least 0 without layers.
LAYER_REACH = 30.0
#: The symmetries of the square box about the tip's axis: (x, y) -> (sx * (x or y), sy * (y or x)) as
#: (swap, sx, sy).
SYMMETRIES = tuple((swap, sx, sy) for swap in (False, True) for sx in (1.0, -1.0) for sy in (1.0, -1.0))
#: The keys of a boundary table whose values are material-property overrides.
OVERRIDES = ("properties", "beyond_properties")


Position = tuple[float, float] | None


def tip_centred(study: Study, position: Position = None) -> Study:
    """The validated tip-centred equivalent of the 3D ``study`` with the tip at ``position`` (x, y) in m
    (default its ``tip.position``; :func:`tip_centred_raw`)."""
    return study_from_dict(tip_centred_raw(study, position))


def problem_key(study: Study, position: Position = None) -> str:
    """The canonical JSON of :func:`tip_centred_raw` without what does not change a solve (protocols,
    instrument, sweep): positions with equal keys are the same problem."""
    return raw_key(tip_centred_raw(study, position))


def raw_key(raw: dict) -> str:
    """The canonical JSON of the raw study dict ``raw`` without what does not change a solve (protocols,
    instrument, sweep)."""
    kept = {k: v for k, v in raw.items() if k not in ("protocol", "instrument", "sweep")}
    return json.dumps(kept, sort_keys=True, separators=(",", ":"))


def tip_centred_raw(study: Study, position: Position = None) -> dict:
    """The raw dict of the tip-centred equivalent of the 3D ``study`` with the tip at ``position`` (x, y)
    in m (default its ``tip.position``; any position, the box moves with the tip): ``tip.position`` =
    [0, 0] and every ``[[geometry.grain_boundaries]]`` table moved by minus the position, in canonical
    form, the boundaries outside the box dropped (see the module)."""
    position = tuple(study.tip.position) if position is None else tuple(position)
    raw = copy.deepcopy(study.raw)
    raw.setdefault("tip", {})["position"] = [0.0, 0.0]
    tables = raw.get("geometry", {}).get("grain_boundaries")
    if not tables:
        return raw
    size = domain_size(study)
    kept, beyond = _moved(study, position, tables, size)
    if beyond is not None or len(kept) < len(tables):
        raw.setdefault("mesh", {})["domain_size"] = size
    if beyond is not None:
        _rebase(raw, kept, beyond, study.sample.material.properties())
    if kept:
        raw["geometry"]["grain_boundaries"] = _canonical(kept)
    else:
        raw["geometry"].pop("grain_boundaries")
    return raw


def _moved(study: Study, position: tuple[float, float], tables: list[dict], size: float) -> tuple[list[dict], dict | None]:
    """The boundary ``tables`` that reach into the box of half-width ``size`` (m) about the tip at
    ``position`` (m), moved
    (point: the foot of the perpendicular from the tip, normal: the unit normal), and the
    ``beyond_properties`` of the last dropped boundary whose grain beyond holds the whole box (None: none)."""
    kept, beyond = [], None
    snap = 10.0 ** math.floor(math.log10(SNAP * size))
    for table, b in zip(tables, study.sample.grain_boundaries):
        offset = round(-b.signed_distance(*position) / snap) * snap  # n . (point - tip), m
        reach = size * (abs(b.normal[0]) + abs(b.normal[1]))  # the largest n . x over the box
        gap = abs(offset) - b.width / 2 - reach
        if gap >= 0 and gap >= LAYER_REACH * (boundary_layer_length(study, b) or 0.0):
            if offset < 0 and b.beyond is not None:  # the tip, and the whole box, in the grain beyond
                kept, beyond = [], table.get("beyond_properties", {})
            continue
        moved = dict(table, normal=[n + 0.0 for n in b.normal], point=[offset * n + 0.0 for n in b.normal])
        kept.append(moved)
    return kept, beyond


def _rebase(raw: dict, kept: list[dict], beyond: dict, material: dict) -> None:
    """Make the grain ``beyond`` (property overrides) the sample's material in ``raw``, and write the
    overrides of the ``kept`` tables against it so that their regions keep the properties they had on the
    original ``material`` (every property, SI)."""
    properties = raw["sample"].setdefault("properties", {})
    properties.update(beyond)
    for table in kept:
        for key in OVERRIDES:
            if key in table or key == "properties":  # every boundary has a core; a grain beyond only if given
                own = table.get(key, {})
                table[key] = dict(own) | {k: material[k] for k in beyond if k not in own}


def _canonical(tables: list[dict]) -> list[dict]:
    """The moved boundary ``tables`` under the symmetry of :data:`SYMMETRIES` whose JSON is the smallest."""
    images = [[_mapped(t, *symmetry) for t in tables] for symmetry in SYMMETRIES]
    return min(images, key=lambda image: json.dumps(image, sort_keys=True))


def _mapped(table: dict, swap: bool, sx: float, sy: float) -> dict:
    """The boundary ``table`` under the symmetry (``swap`` x and y, then scale by ``sx``, ``sy``); the normal of
    a boundary without a grain beyond (its two sides alike) points to positive x (or y along the y axis)."""

    def image(vector):
        x, y = vector[::-1] if swap else vector
        return [sx * x + 0.0, sy * y + 0.0]

    normal = image(table["normal"])
    if "beyond_properties" not in table and (normal[0] < 0 or normal[0] == 0 and normal[1] < 0):
        normal = [-normal[0] + 0.0, -normal[1] + 0.0]
    return dict(table, point=image(table["point"]), normal=normal)

