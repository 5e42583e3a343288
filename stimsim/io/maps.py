"""Map images the way AFM users open them: a multi-channel Gwyddion file and an NSID HDF5 file.

A :class:`MapImages` holds the images of one map: the positions along x and y (m, increasing, evenly
spaced: the tip positions are the pixel centres) and channels, each a 2-D array ``values[j, i]`` at
``(x[i], y[j])`` (row j at y[j], smallest y first; NaN where there is no value).

Orientation (docs/guide/experiments.md, 'Map images'). Gwyddion draws row 0 of a data field at the
top and counts its y coordinate downward from there (the field's ``yoff`` is its top edge); its
importers of AFM files (Igor binary waves, Nanoscope) flip the instrument's rows so that an image
looks as on the instrument, the largest y at the top. :func:`write_gwy` does the same: row 0 is the
largest y, so the picture is the usual AFM view (x to the right, y up, as map.png). The offsets are
the map's lower-left corner (``xoff = x[0] - dx/2``, ``yoff = y[0] - dy/2``) and the sizes its
extent (``xreal = nx dx``, ``yreal = ny dy``): Gwyddion's rulers span the map's x and y ranges, but
its y ruler runs downward, so a point Gwyddion reads at y' lies at y = y[0] + y[-1] - y' on the
sample (mirrored about the map's middle). The NSID file (:func:`write_nsid`) stores the same
picture in sidpy's order, ``[x, y]`` with y from the top (its y dimension decreasing): sidpy draws
it as Gwyddion does, with the true coordinates on its axes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Names the NSID file gives its dimension datasets (a channel may not take them).
DIMENSIONS = ("x", "y")
#: Relative spread of the steps along an axis that still counts as evenly spaced (the scans put a
#: coordinate within 1e-9 of their extent on zero).
EVEN = 1e-6
#: The pyNSID release whose layout and attributes the NSID file follows (its ``check_if_main`` needs
#: the attribute ``pyNSID_version``).
PYNSID_VERSION = "0.0.7.2"


@dataclass(frozen=True, eq=False)
class MapChannel:
    """One image of a map: ``name`` (Asylum-like: 'Amplitude1', 'Phase1', 'Frequency'), ``unit`` (its SI
    symbol: 'm', 'deg', 'Hz'), ``quantity`` (what it is, in words) and ``values`` [ny, nx] in that
    unit (row j at y[j], column i at x[i]; NaN where the map has no value)."""

    name: str
    unit: str
    quantity: str
    values: np.ndarray


@dataclass(frozen=True, eq=False)
class MapImages:
    """The images of one map: tip positions ``x`` [nx] and ``y`` [ny] (m, increasing, evenly spaced,
    at least two each), its ``channels``, who made them (``source``, e.g. 'stimsim 0.1.0') and the
    technique (``modality``)."""

    x: np.ndarray
    y: np.ndarray
    channels: tuple[MapChannel, ...]
    source: str
    modality: str = "STIM"

    def __post_init__(self):
        for name, axis in (("x", self.x), ("y", self.y)):
            steps = np.diff(axis)
            if axis.ndim != 1 or len(axis) < 2 or steps.min() <= 0 or np.ptp(steps) > EVEN * steps.mean():
                raise ValueError(f"map axis {name} must be at least two increasing, evenly spaced positions (m)")
        names = [c.name for c in self.channels]
        for channel in self.channels:
            if channel.values.shape != (len(self.y), len(self.x)):
                raise ValueError(f"map channel {channel.name!r} has shape {channel.values.shape}, not [ny, nx]")
            if not channel.name or "/" in channel.name or channel.name in DIMENSIONS or names.count(channel.name) > 1:
                raise ValueError(f"map channel name {channel.name!r} must be unique, without '/' and not x or y")

    @property
    def steps(self) -> tuple[float, float]:
        """The pixel sizes (dx, dy) in m: the spacing of the positions."""
        return float(np.diff(self.x).mean()), float(np.diff(self.y).mean())


def write_gwy(images: MapImages, path: Path) -> None:
    """Write ``images`` as a Gwyddion file (GWYP, read by Gwyddion and ``gwyfile.load``): channel k is
    the data field ``/k/data`` titled ``/k/data/title`` (its name), lateral unit m, value unit its
    unit, row 0 the largest y (the module's 'Orientation'), and ``/k/meta`` (quantity, source,
    modality). A GWY file holds no NaN: where a channel has none, Gwyddion's importers' convention
    is followed, a mask ``/k/mask`` (1 there) over values set to the mean of the others (0 if none)."""
    from gwyfile.objects import GwyContainer

    container = GwyContainer()
    for index, channel in enumerate(images.channels):
        top_first = channel.values[::-1]
        missing = np.isnan(top_first)
        filled = np.where(missing, np.nanmean(top_first) if not missing.all() else 0.0, top_first)
        container[f"/{index}/data"] = _data_field(images, filled, channel.unit)
        _put_text(container, f"/{index}/data/title", channel.name)
        if missing.any():
            container[f"/{index}/mask"] = _data_field(images, missing.astype(float), "")
        meta = GwyContainer()
        for key, value in (("Quantity", channel.quantity), ("Source", images.source), ("Modality", images.modality)):
            _put_text(meta, key, value)
        container[f"/{index}/meta"] = meta
    container.tofile(str(path))


def _data_field(images: MapImages, values: np.ndarray, unit: str):
    """A GwyDataField of ``values`` (rows from the top) over the map's area, lateral unit m."""
    from gwyfile.objects import GwyDataField

    (dx, dy), (ny, nx) = images.steps, values.shape
    return GwyDataField(np.ascontiguousarray(values, dtype=float), xreal=nx * dx, yreal=ny * dy,
                        xoff=float(images.x[0]) - dx / 2, yoff=float(images.y[0]) - dy / 2,
                        si_unit_xy="m", si_unit_z=unit)


def _put_text(container, key: str, text: str) -> None:
    """Store ``text`` under ``key`` as a GWY string (gwyfile would store a one-letter text as a character)."""
    container[key] = text
    container.typecodes[key] = "s"


def write_nsid(images: MapImages, path: Path) -> None:
    """Write ``images`` as an NSID HDF5 file, the layout pyNSID writes and SciFiReaders' ``NSIDReader``
    reads: channel k is the group ``Measurement_000/Channel_<kkk>/<name>`` holding the main dataset
    ``<name>`` [nx, ny] (sidpy's order: x first, y from the top, the module's 'Orientation') with the
    attributes quantity, units, main_data_name, title, data_type ('IMAGE'), modality, source and
    pyNSID_version, and its dimension datasets ``x`` and ``y`` (positions in m, attached as HDF5
    dimension scales labelled x and y, with name, units, quantity 'Length' and dimension_type
    'SPATIAL'). Missing values are NaN."""
    import h5py

    with h5py.File(path, "w") as h5:
        for index, channel in enumerate(images.channels):
            group = h5.create_group(f"Measurement_000/Channel_{index:03d}/{channel.name}")
            main = group.create_dataset(channel.name, data=np.asarray(channel.values, dtype=float)[::-1].T)
            for axis, (name, values) in enumerate(zip(DIMENSIONS, (images.x, images.y[::-1]))):
                scale = group.create_dataset(name, data=np.asarray(values, dtype=float))
                scale.attrs.update({"name": name, "units": "m", "quantity": "Length", "dimension_type": "SPATIAL"})
                scale.make_scale(name)
                main.dims[axis].label = name
                main.dims[axis].attach_scale(scale)
            main.attrs.update({
                "quantity": channel.quantity, "units": channel.unit, "main_data_name": channel.name,
                "title": channel.name, "data_type": "IMAGE", "modality": images.modality, "source": images.source,
                "pyNSID_version": PYNSID_VERSION,
            })
