"""The tip-centred equivalent of a 3D study (stimsim.study.centring): the boundaries moved by minus the tip
position (the tip keeps its distance and side), mirror planes regained, equal problems equal, a
boundary outside the box dropped (on its far side the whole box is its grain beyond, and the later
boundaries keep their own materials), and the verification: the same u1 and u2 as the sample-fixed
box for an off-centre tip, to the meshes' difference."""

import pytest
from test_grains import DIFFUSIVITY, RADIUS, boundary, raw_study, relative, tip_rows

from stimsim.geometry.meshes import mesh_spec
from stimsim.study.centring import problem_key, tip_centred, tip_centred_raw
from stimsim.study.lengths import domain_size
from stimsim.study.load import study_from_dict

#: A grain beyond the boundary, four times as stiff as the sample's grain.
STIFF = {"youngs_modulus": 800e9}


def moved(raw) -> tuple:
    """(original, tip-centred) studies of ``raw``."""
    study = study_from_dict(raw)
    return study, tip_centred(study)


@pytest.mark.parametrize("beyond", [None, STIFF])
def test_the_tip_keeps_its_distance_and_side_of_each_boundary(beyond):
    """Tip at (2.5 a, 3 a), boundaries through (a, 0) along y and oblique through (0, -a): in the moved
    study the tip is at the origin at the same distance from each boundary (on the same side where a
    grain beyond makes the sides differ) and the box is cut along a mirror plane again."""
    extra = {} if beyond is None else {"beyond_properties": beyond}
    tables = [boundary(x=RADIUS, **extra), boundary(y=-RADIUS, normal=(1.0, 2.0), **extra)]
    study, centred = moved(raw_study(tables, (2.5 * RADIUS, 3 * RADIUS)))
    assert centred.tip.position == (0.0, 0.0)
    assert mesh_spec(study).mirrors == () and mesh_spec(centred).mirrors == ()  # oblique: no mirror
    for before, after in zip(study.sample.grain_boundaries, centred.sample.grain_boundaries):
        distance = before.signed_distance(*study.tip.position)
        found = after.signed_distance(0.0, 0.0)
        assert (found if beyond else abs(found)) == pytest.approx(distance if beyond else abs(distance), rel=1e-9)
    _, straight = moved(raw_study(tables[:1], (2.5 * RADIUS, 3 * RADIUS)))
    assert mesh_spec(straight).mirrors == ("y",) or mesh_spec(straight).mirrors == ("x",)  # a half box


def test_equal_problems_have_equal_keys():
    """Along a boundary, and at mirror positions of a boundary without a grain beyond, the problems are
    one; with a grain beyond, the mirror positions differ (one tip is in it)."""
    def key(tables, x, y):
        return problem_key(study_from_dict(raw_study(tables, (x, y))))

    plain, grain = [boundary()], [boundary(beyond_properties=STIFF)]
    assert key(plain, RADIUS, 0.0) == key(plain, RADIUS, 2 * RADIUS) == key(plain, -RADIUS, -RADIUS)
    assert key(grain, RADIUS, 0.0) == key(grain, RADIUS, 3 * RADIUS) != key(grain, -RADIUS, 0.0)
    assert key(plain, RADIUS, 0.0) != key(plain, 2 * RADIUS, 0.0)
    assert key([], RADIUS, 0.0) == key([], 0.0, 0.0)


@pytest.mark.parametrize("side", [-1, 1])
def test_a_boundary_outside_the_box_is_dropped_and_its_grain_kept(side):
    """The boundary x = 0 with a stiff grain beyond (x > 0) and a boundary y = a, the tip at x = 3 L on
    either side (the sample-fixed box allows |x| <= L/2): the first is dropped (its core 3 L away); on
    its near side the sample keeps its material, on its far side the whole box is the stiff grain, and
    the core of the later boundary keeps the sample's own Young's modulus and its diffusivity. The box
    keeps its size L."""
    plain = {"point": [0.0, -RADIUS], "normal": [0.0, 1.0], "width": 4e-9}  # a core of the sample's material
    tables = [boundary(beyond_properties=STIFF), boundary(y=RADIUS, normal=(0.0, 1.0)), plain]
    study = study_from_dict(raw_study(tables))
    size = domain_size(study)
    raw = tip_centred_raw(study, (side * 3 * size, 0.0))
    assert raw["mesh"]["domain_size"] == size
    centred = study_from_dict(raw)
    cores = sorted((b.core for b in centred.sample.grain_boundaries), key=lambda m: m.diffusivity)
    grain = STIFF["youngs_modulus"] if side > 0 else study.sample.material.youngs_modulus
    assert centred.sample.material.youngs_modulus == grain
    assert [core.youngs_modulus for core in cores] == [study.sample.material.youngs_modulus] * 2
    assert [core.diffusivity for core in cores] == [DIFFUSIVITY, 10 * DIFFUSIVITY]
    alone = tip_centred(study_from_dict(raw_study(tables[:1])), (side * 3 * size, 0.0))
    assert alone.sample.grain_boundaries == () and alone.sample.material.youngs_modulus == grain


@pytest.mark.serial
def test_the_tip_centred_box_gives_the_sample_fixed_response():
    """A boundary along y at x = a (core 10 times as diffusive, conducting 1 W/(m K), 100 GPa), the tip at
    x = 2.5 a: the sample-fixed half box and the tip-centred one (another mesh) agree to their meshes'
    difference. Measured at refinement 0.3: u1 0.33 %, u2 1.32 % apart; at 0.5: 0.06 %, 0.30 % (it falls
    with the mesh); the boundary moves u2 by 10.3 % (against the homogeneous sample, same refinement) and
    u2 moves 8 % from refinement 0.3 to 0.5. Two solves of about 9k DOFs (serial: about 9 s CPU)."""
    core = boundary(x=RADIUS, properties={"diffusivity": 10 * DIFFUSIVITY, "thermal_conductivity": 1.0,
                                          "youngs_modulus": 100e9})
    study, centred = moved(raw_study([core], (2.5 * RADIUS, 0.0)))
    assert mesh_spec(study).key() != mesh_spec(centred).key()
    fixed, found = tip_rows(study), tip_rows(centred)
    assert relative(found[(1, "thermal")], fixed[(1, "thermal")]) < 0.01
    assert relative(found[(2, "ionic")], fixed[(2, "ionic")]) < 0.03
