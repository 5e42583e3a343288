"""Map images as AFM users open them (stimsim.io.maps, stimsim.experiments.scans.map_images): a synthetic map,
a known function of x and y on a grid with nx != ny, written as a Gwyddion file and an NSID HDF5 file and
read back with gwyfile and h5py (values, units, sizes, orientation, the attributes pyNSID needs); and the
Asylum-like channels a map table gives. No solve: the 3D map of tests/test_scans.py checks its files."""

import math

import gwyfile
import h5py
import numpy as np
import pytest

from stimsim.experiments.protocols import Table
from stimsim.experiments.scans import map_images, scan_positions, write_map_images
from stimsim.io.maps import MapChannel, MapImages, write_gwy, write_nsid

#: The synthetic map: 4 x 3 positions from (-100, 20) nm across 300 x 100 nm.
OPTIONS = {"origin": [-1e-7, 2e-8], "size": [3e-7, 1e-7], "points": [4, 3]}
X, Y = np.linspace(-1e-7, 2e-7, 4), np.linspace(2e-8, 1.2e-7, 3)
DX, DY = 1e-7, 5e-8
#: The position (column, row) of the synthetic map left without a value.
MISSING = (2, 1)


def height(x, y):
    """The known function of the synthetic images (m): different along x and y, so a flip or a
    transpose shows."""
    return 1e-12 * (1.0 + 2e6 * x + 3e7 * y)


def synthetic() -> MapImages:
    """Amplitude1 = height(x, y) (m) with one position missing, Phase1 = 1e9 (x - y) (deg), complete."""
    xx, yy = np.meshgrid(X, Y)  # [ny, nx], row j at Y[j]
    amplitude = height(xx, yy)
    amplitude[MISSING[1], MISSING[0]] = np.nan
    channels = (MapChannel("Amplitude1", "m", "amplitude", amplitude), MapChannel("Phase1", "deg", "phase", 1e9 * (xx - yy)))
    return MapImages(X, Y, channels, "stimsim test")


def test_the_gwyddion_file_holds_each_channel_with_its_units_sizes_and_the_afm_orientation(tmp_path):
    """Row 0 of every field is the largest y (Gwyddion draws it at the top: the usual AFM view), x to the
    right; the offsets are the map's lower-left corner, the sizes its extent (pixel centres on the positions),
    so a point Gwyddion reads at y' lies at y = y[0] + y[-1] - y'. The missing position is masked and
    filled with the mean of the others (a GWY file holds no NaN)."""
    write_gwy(synthetic(), tmp_path / "map.gwy")
    found = gwyfile.load(str(tmp_path / "map.gwy"))
    fields = gwyfile.util.get_datafields(found)
    assert list(fields) == ["Amplitude1", "Phase1"]
    for index, (title, unit) in enumerate((("Amplitude1", "m"), ("Phase1", "deg"))):
        field = found[f"/{index}/data"]
        assert found[f"/{index}/data/title"] == title
        assert (field["xres"], field["yres"]) == (4, 3) and field.data.shape == (3, 4)
        assert math.isclose(field["xreal"], 4 * DX) and math.isclose(field["yreal"], 3 * DY)
        assert math.isclose(field["xoff"], X[0] - DX / 2) and math.isclose(field["yoff"], Y[0] - DY / 2)
        assert field["si_unit_xy"]["unitstr"] == "m" and field["si_unit_z"]["unitstr"] == unit
        assert found[f"/{index}/meta"]["Source"] == "stimsim test"
    amplitude = fields["Amplitude1"].data
    for row in range(3):
        for column in range(4):
            x = found["/0/data"]["xoff"] + (column + 0.5) * DX
            y = Y[0] + Y[-1] - (found["/0/data"]["yoff"] + (row + 0.5) * DY)  # Gwyddion's y runs downward
            if (column, 2 - row) != MISSING:
                assert math.isclose(amplitude[row, column], height(x, y), rel_tol=1e-12), (row, column)
    assert amplitude[0, 0] == pytest.approx(height(X[0], Y[-1]), rel=1e-12)  # top left: smallest x, largest y
    mask = found["/0/mask"].data
    assert mask[2 - MISSING[1], MISSING[0]] == 1.0 and mask.sum() == 1.0
    others = np.delete(amplitude.ravel(), (2 - MISSING[1]) * 4 + MISSING[0])
    assert amplitude[2 - MISSING[1], MISSING[0]] == pytest.approx(others.mean(), rel=1e-12)
    assert "/1/mask" not in found  # the phase is complete


def test_the_nsid_file_has_the_layout_and_attributes_pynsid_reads(tmp_path):
    """Channel k is Measurement_000/Channel_<kkk>/<name>/<name>, [x, y] in sidpy's order with y from the
    top (the Gwyddion picture transposed), its x and y dimension datasets attached as HDF5 dimension scales:
    pyNSID's check_if_main conditions (string attributes; every dimension labelled, a sibling 1-D dataset of
    the right length with name, units, quantity and dimension_type)."""
    images = synthetic()
    write_nsid(images, tmp_path / "map.h5")
    write_gwy(images, tmp_path / "map.gwy")
    with h5py.File(tmp_path / "map.h5", "r") as h5:
        assert list(h5["Measurement_000"]) == ["Channel_000", "Channel_001"]
        for index, (name, unit) in enumerate((("Amplitude1", "m"), ("Phase1", "deg"))):
            group = h5[f"Measurement_000/Channel_{index:03d}/{name}"]
            main = group[name]
            assert main.shape == (4, 3)
            attributes = {key: main.attrs[key] for key in ("quantity", "units", "main_data_name", "pyNSID_version",
                                                           "data_type", "modality", "source")}
            assert all(isinstance(value, str) for value in attributes.values())
            assert (attributes["units"], attributes["main_data_name"], attributes["data_type"]) == (unit, name, "IMAGE")
            for axis, (label, values) in enumerate((("x", X), ("y", Y[::-1]))):
                assert main.dims[axis].label == label
                scale = group[label]
                assert main.dims[axis][0] == scale and scale.shape == (main.shape[axis],)
                assert {k: scale.attrs[k] for k in ("name", "units", "quantity", "dimension_type")} == {
                    "name": label, "units": "m", "quantity": "Length", "dimension_type": "SPATIAL"}
                assert np.allclose(scale[()], values, rtol=1e-15)
            picture = gwyfile.util.get_datafields(gwyfile.load(str(tmp_path / "map.gwy")))[name].data
            data = main[()]
            finite = np.isfinite(data)
            assert np.array_equal(data.T[finite.T], picture[finite.T])  # the same picture as Gwyddion's
        amplitude = h5["Measurement_000/Channel_000/Amplitude1/Amplitude1"][()]
        xs, ys = h5["Measurement_000/Channel_000/Amplitude1/x"][()], h5["Measurement_000/Channel_000/Amplitude1/y"][()]
        for i, x in enumerate(xs):
            for j, y in enumerate(ys):
                if (i, 2 - j) == MISSING:
                    assert np.isnan(amplitude[i, j])  # missing stays NaN
                else:
                    assert math.isclose(amplitude[i, j], height(x, y), rel_tol=1e-12), (i, j)


def test_bad_image_sets_are_refused():
    channel = MapChannel("Amplitude1", "m", "amplitude", np.zeros((3, 4)))
    with pytest.raises(ValueError, match="axis y"):
        MapImages(X, np.array([1.0, 3.0, 4.0]), (channel,), "test")
    with pytest.raises(ValueError, match="not \\[ny, nx\\]"):
        MapImages(Y, X, (channel,), "test")
    with pytest.raises(ValueError, match="unique"):
        MapImages(X, Y, (channel, channel), "test")


def _rows(x: float, y: float) -> list[dict]:
    """The map table rows of one position: per drive frequency, harmonic 0 (skipped by the images), the
    thermal first harmonic and the second harmonic's nonionic, ionic and total rows (the lock-in reads total),
    with the contact resonance of the position."""
    rows = []
    for f in (1e5, 2.5e5):
        scale = f / 1e5
        rows += [
            {"drive_frequency_hz": f, "harmonic": 0, "kind": "total", "amplitude_m": 9.0, "phase_deg": 9.0},
            {"drive_frequency_hz": f, "harmonic": 1, "kind": "thermal", "amplitude_m": scale * height(x, y), "phase_deg": -45.0},
            {"drive_frequency_hz": f, "harmonic": 2, "kind": "nonionic", "amplitude_m": 1.0, "phase_deg": 1.0},
            {"drive_frequency_hz": f, "harmonic": 2, "kind": "ionic", "amplitude_m": 2.0, "phase_deg": 2.0},
            {"drive_frequency_hz": f, "harmonic": 2, "kind": "total", "amplitude_m": scale * 1e-3 * height(y, x),
             "phase_deg": 1e9 * x},
        ]
    resonance = {"resonance_frequency_hz": 3e5 + 1e12 * y, "x_m": x, "y_m": y}
    return [resonance | row for row in rows]


def map_table() -> Table:
    """A synthetic map table over OPTIONS whose position MISSING failed (no rows)."""
    positions = scan_positions("map", OPTIONS)
    rows = [row for k, (x, y) in enumerate(positions) if divmod(k, 4)[::-1] != MISSING for row in _rows(x, y)]
    names = ("x_m", "y_m", "drive_frequency_hz", "harmonic", "kind", "amplitude_m", "phase_deg", "resonance_frequency_hz")
    return Table("map", tuple((name, "", "") for name in names), rows)


def test_a_map_table_gives_asylum_channels_of_what_the_lock_in_reads(tmp_path):
    """Amplitude<n> (m) and Phase<n> (deg) per harmonic n >= 1 from the total row where several kinds land
    on n, with the drive frequency appended when there are several; Frequency (Hz) from the contact
    resonance; the failed position NaN everywhere. write_map_images writes map.gwy and map.h5 with them."""
    images = map_images(map_table(), OPTIONS, "test")
    names = [c.name for c in images.channels]
    assert names == ["Amplitude1_100000Hz", "Phase1_100000Hz", "Amplitude2_100000Hz", "Phase2_100000Hz",
                     "Amplitude1_250000Hz", "Phase1_250000Hz", "Amplitude2_250000Hz", "Phase2_250000Hz", "Frequency"]
    assert [c.unit for c in images.channels] == ["m", "deg"] * 4 + ["Hz"]
    assert np.allclose(images.x, X, rtol=0, atol=1e-20) and np.allclose(images.y, Y, rtol=0, atol=1e-20)
    xx, yy = np.meshgrid(images.x, images.y)
    by_name = {c.name: c.values for c in images.channels}
    known = np.ones((3, 4), dtype=bool)
    known[MISSING[1], MISSING[0]] = False
    expected = {"Amplitude1_250000Hz": 2.5 * height(xx, yy), "Phase1_100000Hz": np.full((3, 4), -45.0),
                "Amplitude2_100000Hz": 1e-3 * height(yy, xx), "Phase2_250000Hz": 1e9 * xx, "Frequency": 3e5 + 1e12 * yy}
    for name, values in expected.items():
        assert np.allclose(by_name[name][known], values[known], rtol=1e-12), name
        assert np.isnan(by_name[name][MISSING[1], MISSING[0]]), name
    write_map_images(map_table(), OPTIONS, tmp_path, "test")
    assert list(gwyfile.util.get_datafields(gwyfile.load(str(tmp_path / "map.gwy")))) == names
    with h5py.File(tmp_path / "map.h5", "r") as h5:
        assert [next(iter(h5[f"Measurement_000/Channel_{k:03d}"])) for k in range(len(names))] == names


def test_one_drive_frequency_gives_plain_asylum_names():
    table = map_table()
    single = Table("map", table.columns, [r for r in table.rows if r["drive_frequency_hz"] == 1e5])
    assert [c.name for c in map_images(single, OPTIONS, "test").channels] == [
        "Amplitude1", "Phase1", "Amplitude2", "Phase2", "Frequency"]


def test_a_map_whose_every_position_failed_writes_no_images(tmp_path):
    write_map_images(Table("map", map_table().columns, []), OPTIONS, tmp_path, "test")
    assert list(tmp_path.iterdir()) == []
