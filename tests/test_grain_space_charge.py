"""Equilibrium space-charge layers at 3D grain boundaries (docs/theory/physics.md, 'Space-charge layers at grain
boundaries'): the input checks of the boundary tables' space_charge_potential and space_charge_charge,
the core charge split over the two sides, the warning on overlapping layers, the potential at the mesh
nodes against Gouy-Chapman, the layer as a stationary state, and its effect on the tip response: equal at
mirrored tip positions, none from a distant boundary, measurable under the tip."""

import numpy as np
import pytest
import ufl
from dolfinx import fem
from mpi4py import MPI

from stimsim.fem.coefficients import Coefficients, scales_for
from stimsim.study.load import immobile_study, study_from_dict
from stimsim.core.errors import InputError
from stimsim.geometry.meshes import load_domain, mesh_spec
from stimsim.study.grains import overlapping_layers
from stimsim.solve.model import HarmonicModel
from stimsim.study.lengths import domain_size
from stimsim.physics.coupled import CONCENTRATION
from stimsim.materials.spacecharge import gouy_chapman_potential

from test_grains import FREQUENCY, RADIUS, boundary, relative, tip_rows
from test_grains import raw_study as neutral_study

#: Ambipolar diffusivity of the symmetric pair (m^2/s): the chemical length about the contact radius.
DIFFUSIVITY = 4e-10
#: A symmetric 1:1 pair of equal concentrations (no dopant background): its layers are Gouy-Chapman's,
#: Debye length 2.72 nm in SDC (eps_r 25) at 300 K, ambipolar diffusivity DIFFUSIVITY.
CATION = dict(name="cation", charge=1, diffusivity=DIFFUSIVITY, partial_molar_volume=6.5e-6, concentration=4.0)
ANION = dict(name="anion", charge=-1, diffusivity=DIFFUSIVITY, partial_molar_volume=-1e-6, concentration=4.0)
#: Core potential (V): u0 = 1.9, e-folding length 1.2 nm at the core.
POTENTIAL = 0.05
REFINEMENT = 0.3


def raw_study(boundaries=(), position=(0.0, 0.0), refinement=REFINEMENT, ions=None):
    return {
        "sample": {"material": "SDC", "species": [dict(CATION), dict(ANION)]},
        "ions": {"electrostatics": "electroneutral", **(ions or {})},
        "geometry": {"model": "3d", "grain_boundaries": [dict(b) for b in boundaries]},
        "tip": {"contact_radius": RADIUS, "position": list(position)},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [FREQUENCY]},
        "mesh": {"refinement": refinement},
    }


def charged(x=0.0, potential=POTENTIAL, width=2e-9, **extra):
    """The boundary plane x = ``x`` with a core of ``width`` at ``potential`` and the sample's properties."""
    return {"point": [x, 0.0], "normal": [1.0, 0.0], "width": width, "space_charge_potential": potential} | extra


def by_charge(charge):
    """The boundary of :func:`charged` with its core charge ``charge`` (C/m^2) given instead of the potential."""
    return {k: v for k, v in charged(space_charge_charge=charge).items() if k != "space_charge_potential"}


def layer_potential(study, domain):
    """The scaled potential u = F phi/(R T) of ``study``'s layers at the nodes of a P2 space on ``domain``."""
    space = fem.functionspace(domain.mesh, ("Lagrange", 2))
    return Coefficients(study, domain, scales_for(study), space).fields["space_charge_potential"]


# -- input --------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, species, message", [
    ({"space_charge_charge": 0.01}, True,
     "geometry.grain_boundaries[0].space_charge_charge and geometry.grain_boundaries[0].space_charge_potential both"),
    ({"space_charge_excess": 0.5, "space_charge_length": 1e-9}, True,
     "grain_boundaries[0].space_charge_potential and geometry.grain_boundaries[0].space_charge_excess both set"),
    ({"space_charge_potential": 2.5}, True, "grain_boundaries[0].space_charge_potential = 2.5 is outside"),
    ({"space_charge_potential": None, "space_charge_charge": -20.0}, True, "space_charge_charge = -20 is outside"),
    ({"space_charge_potential": 0.6}, True,
     "grain_boundaries[0].space_charge_potential makes a space-charge layer whose concentrations change e-fold"),
    ({}, False, "grain_boundaries[0].space_charge_potential needs charged species"),
    ({"space_charge_potential": None, "space_charge_excess": 0.5, "space_charge_length": 1e-9}, True,
     "grain_boundaries[0].space_charge_excess (a prescribed layer of a neutral species) is not supported with [[sample.species]]"),
    ({"space_charge_potential": None, "space_charge_excess": 0.5}, True,  # refused as such, not for its missing length
     "grain_boundaries[0].space_charge_excess (a prescribed layer of a neutral species) is not supported"),
    ({"properties": {"diffusivity": 1e-9}}, True, "grain_boundaries[0].properties.diffusivity is set by the [[sample.species]]"),
    ({"beyond_properties": {"relative_permittivity": 50.0}}, True,
     "grain_boundaries[0].beyond_properties.relative_permittivity is set by"),
])
def test_bad_boundary_space_charge_input_names_the_key(changes, species, message):
    table = {k: v for k, v in (charged() | changes).items() if v is not None}
    raw = raw_study([table])
    if not species:
        raw["sample"] = {"material": "SDC", "properties": {"diffusivity": DIFFUSIVITY, "relative_permittivity": 25.0}}
        del raw["ions"]
    with pytest.raises(InputError) as info:
        study_from_dict(raw)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("excess, low", [(-0.6, "-0.2"), (-0.5, "0")])
def test_overlapping_prescribed_layers_that_empty_the_core_are_refused_at_load(excess, low):
    """Two crossing boundaries (x = 0 and y = 0) with prescribed depletion layers (a neutral species):
    where they meet c0 (1 + A1 + A2) would be negative (-0.6 each: the solve failed after 128 s) or zero
    (-0.5 each: silently no ions in the core). Refused when the study is built, naming the keys; the
    summed excess of -0.9 leaves 0.1 c0, above the margin, and loads; so does -0.6 on parallel boundaries
    too far apart to overlap."""
    def layer(excess=excess, **where):
        return boundary(**where, space_charge_excess=excess, space_charge_length=5e-9)

    with pytest.raises(InputError) as info:
        study_from_dict(neutral_study([layer(), layer(normal=(0.0, 1.0))]))
    message = str(info.value)
    assert message.startswith("geometry.grain_boundaries[0].space_charge_excess and the other layers")
    assert f"geometry.grain_boundaries[1].space_charge_excess = {excess:g}" in message
    assert f"falls to {low} c0" in message and "at least 0.05 c0" in message and "\n" not in message
    study_from_dict(neutral_study([layer(-0.45), layer(-0.45, normal=(0.0, 1.0))]))
    study_from_dict(neutral_study([layer(), layer(x=1e-7)]))


def test_parallel_layers_and_the_surface_layer_are_summed():
    """Two parallel boundaries 4 nm apart (core faces touching) and a depleted top surface: the
    layers add between the cores and at the surface; the same boundaries far apart load."""
    def layer(x):
        return boundary(x=x, space_charge_excess=-0.4, space_charge_length=5e-9)

    raw = neutral_study([layer(0.0), layer(4e-9)])
    study_from_dict(raw)  # 1 - 0.4 - 0.4 = 0.2
    raw["ions"] = {"space_charge_excess": -0.3, "space_charge_length": 5e-9}
    with pytest.raises(InputError, match=r"ions.space_charge_excess = -0.3\) overlap at .* falls to -0.1 c0"):
        study_from_dict(raw)


def test_a_core_beyond_the_double_range_of_the_boltzmann_factors_is_refused():
    """At 20 K, z = 1: F phi0/(R T) = 300 at 0.52 V. A charge of 5 C/m^2 is within that (0.029 V, u0 = 17)
    but makes layers too thin for the mesh: refused by the key that was given."""
    raw = raw_study([charged(potential=0.6)])
    raw["excitation"]["ambient_temperature"] = 20.0
    with pytest.raises(InputError, match=r"space_charge_potential = 0.6 needs \|z F phi0/\(R T\)\| <= 300"):
        study_from_dict(raw)
    raw["geometry"]["grain_boundaries"][0] = by_charge(5.0)
    with pytest.raises(InputError, match=r"grain_boundaries\[0\].space_charge_charge makes a space-charge layer"):
        study_from_dict(raw)


def test_a_core_charge_sets_the_core_potential_by_grahame_with_half_on_each_side():
    """space_charge_charge = 2 Q(phi0) (each side's layer holds -Q(phi0), Grahame) resolves to phi0 to
    1e-12; the same Q under the top surface (one layer) is the surface core's."""
    layer = study_from_dict(raw_study([charged()])).charged_layer()
    charge = 2 * layer.core_charge(POTENTIAL)
    boundary = study_from_dict(raw_study([by_charge(charge)])).sample.grain_boundaries[0]
    assert boundary.core_potential == pytest.approx(POTENTIAL, rel=1e-12)
    assert boundary.core_key == "space_charge_charge"
    surface = study_from_dict(raw_study(ions={"space_charge_charge": charge / 2})).space_charge()[1]
    assert surface == pytest.approx(POTENTIAL, rel=1e-12)


def test_overlapping_layers_are_reported():
    """Parallel cores 3 nm apart (about a Debye length) overlap, 200 nm apart they do not; planes that
    cross on the sample always do."""
    def warnings(boundaries):
        study = study_from_dict(raw_study(boundaries))
        return overlapping_layers(study.sample.grain_boundaries, study.charged_layer(), domain_size(study))

    assert "overlap: one's potential at the other's core is 0.3" in " ".join(warnings([charged(), charged(x=5e-9)]))
    assert warnings([charged(), charged(x=2e-7)]) == []
    crossing = charged() | {"normal": [0.0, 1.0], "point": [0.0, 3e-8]}
    assert "meet at (x, y) = (0, 3e-08) m" in " ".join(warnings([charged(), crossing]))
    neutral = {k: v for k, v in charged(x=5e-9).items() if k != "space_charge_potential"}
    assert warnings([charged(), neutral]) == []


# -- the layers on the mesh -------------------------------------------------------------------------


def test_the_potential_at_the_nodes_is_gouy_chapman_across_the_core():
    """The P2 potential u_h at the nodes against Gouy-Chapman in the distance from the core faces
    (phi0 inside; measured 1.7e-14 of phi0), with a surface layer too the sum of the two 1D profiles
    (4.6e-14); the mesh is graded by the layer's e-folding length. Between the nodes, within a/2 of the
    tip, the relative L2 error of u_h is the interpolation error of the layer (measured 9.2 %, 7.3 %,
    5.0 % at refinement 0.3, 0.5, 0.8: the potential's kink at the core faces, which do not follow the
    mesh, lies inside cells)."""
    study = study_from_dict(raw_study([charged()]))
    layer = study.charged_layer()
    spec = mesh_spec(study)
    assert spec.refined_planes[0][-1] == pytest.approx(layer.width(POTENTIAL), rel=1e-12)
    domain = load_domain(spec, MPI.COMM_WORLD)
    length, thermal = spec.length_scale, layer.thermal_voltage
    surface = study_from_dict(raw_study([charged()], ions={"space_charge_potential": -0.02}))
    for s, below in ((study, 0.0), (surface, -0.02)):
        u = layer_potential(s, domain)
        nodes = u.function_space.tabulate_dof_coordinates() * length
        distance = np.maximum(np.abs(nodes[:, 0]) - 1e-9, 0.0)
        exact = gouy_chapman_potential(distance, POTENTIAL, 1, layer.debye_length, 300.0)
        exact += gouy_chapman_potential(-nodes[:, 2], below, 1, layer.debye_length, 300.0) if below else 0.0
        error = np.abs(u.x.array.real * thermal - exact).max(initial=0.0)
        assert MPI.COMM_WORLD.allreduce(error, op=MPI.MAX) < 1e-12 * POTENTIAL
    x = ufl.SpatialCoordinate(domain.mesh)
    t, debye = np.tanh(POTENTIAL / (4 * thermal)), layer.debye_length / length
    decay = t * ufl.exp(-ufl.max_value(abs(x[0]) - 1e-9 / length, 0.0) / debye)
    closed = 2 * ufl.ln((1 + decay) / (1 - decay))
    near = ufl.conditional(ufl.lt(ufl.inner(x, x), 0.25), 1.0, 0.0)
    u = layer_potential(study, domain)
    squares = [fem.form(near * abs(e) ** 2 * ufl.dx(metadata={"quadrature_degree": 8})) for e in (u - closed, closed)]
    error, norm = (MPI.COMM_WORLD.allreduce(fem.assemble_scalar(f).real) for f in squares)
    assert np.sqrt(error / norm) < 0.12


def test_the_layer_is_a_stationary_state():
    """The model's reference profiles of the two species are Boltzmann in the same potential, so the
    pair's potential mu_i + w mu_p, ln c_i0 + w ln c_p0, is uniform at the nodes (measured: spread 0,
    while c_i0 varies 6.9-fold; a partner left uniform gives u0 = 1.93): the layers are an equilibrium
    of the pair. Without heating the base state
    is then c' = 0 (the flux is written with grad ln(c/c0(x)), so this part holds for any reference)."""
    study = study_from_dict(raw_study([charged()]))
    with HarmonicModel(study, MPI.COMM_WORLD, method="monolithic") as model:
        fields, comm = model.coefficients.fields, MPI.COMM_WORLD
        ion, partner = (fields[name].x.array.real for name in ("equilibrium", "partner_equilibrium"))
        pair = np.log(ion) + study.sample.pair.weight * np.log(partner)
        spread = comm.allreduce(pair.max(), op=MPI.MAX) - comm.allreduce(pair.min(), op=MPI.MIN)
        assert spread < 1e-12
        assert comm.allreduce(ion.max(), op=MPI.MAX) > 5 * comm.allreduce(ion.min(), op=MPI.MIN)  # the layer
        model.solve_base_state(0.0)
        excess = np.abs(model.base[CONCENTRATION].x.array).max(initial=0.0)
        assert comm.allreduce(excess, op=MPI.MAX) < 1e-12 * comm.allreduce(ion.max(), op=MPI.MAX)


@pytest.mark.serial
def test_mirrored_tip_positions_see_the_same_change_from_a_charged_core():
    """The core x = 0 at 0.05 V, the tip at x = +-a/2 (each a half box meshed on its own): the layer
    changes u2 by about 8 % against phi0 = 0 on the same mesh, and by the same amount on both sides to
    the layer's resolution (measured: the changes differ by 9 % of themselves at refinement 0.3, while
    the totals differ by 2.6 % of u2, the mesh error of two different meshes, 1.5 % without the layer)."""
    changes = []
    for sign in (1, -1):
        position = (sign * RADIUS / 2, 0.0)
        study = study_from_dict(raw_study([charged()], position))
        domain = load_domain(mesh_spec(study), MPI.COMM_WORLD)
        uncharged = tip_rows(study_from_dict(raw_study([charged(potential=0.0)], position)), domain)
        changes.append(tip_rows(study, domain)[2, "ionic"] - uncharged[2, "ionic"])
        assert abs(changes[-1]) > 0.05 * abs(uncharged[2, "ionic"])
    assert relative(changes[1], changes[0]) < 0.2


@pytest.mark.serial
def test_a_charged_core_far_from_the_tip_changes_nothing():
    """The 0.05 V core 20 contact radii away, on the same mesh as the homogeneous sample: u1 and u2
    unchanged to 1e-5 (measured 1.4e-10 and 7.3e-9 at refinement 0.25; 3e-9 and 5.5e-7 at 0.3); under
    the centred tip it changes u2 by 13 % (docs/validation/verification.md)."""
    far = study_from_dict(raw_study([charged(x=20 * RADIUS)], refinement=0.25))
    domain = load_domain(mesh_spec(far), MPI.COMM_WORLD)
    rows, homogeneous = tip_rows(far, domain), tip_rows(study_from_dict(raw_study(refinement=0.25)), domain)
    for key in ((1, "thermal"), (2, "ionic")):
        assert relative(rows[key], homogeneous[key]) < 1e-5, key


def test_one_and_two_ranks_give_the_same_answer_with_a_charged_core():
    """Under mpiexec -n 2 (skipped serially): the layers' potential at the nodes of either rank gives
    the distributed solve each rank's serial answer."""
    if MPI.COMM_WORLD.size == 1:
        pytest.skip("compares a distributed solve with a serial one")
    study = study_from_dict(raw_study([charged(x=RADIUS)], refinement=0.25))
    whole, alone = tip_rows(study), tip_rows(study, comm=MPI.COMM_SELF)
    for key, value in whole.items():
        assert relative(value, alone[key]) < 1e-8, key


def test_the_sample_without_ions_keeps_the_boundaries_without_their_layers():
    """The immobile sample of the periodic modes' 'nonionic' rows (stimsim.study.load.immobile_study) drops
    the species and the boundary's space-charge keys, which need charged species, and keeps the
    boundary itself (its properties still act on heat and mechanics)."""
    study = study_from_dict(raw_study([charged(width=3e-9)]))
    immobile = immobile_study(study, {"solver.harmonics": 4})
    assert not immobile.sample.species and not immobile.charged_boundaries()
    assert immobile.sample.material.concentration == 0.0
    boundary = immobile.raw["geometry"]["grain_boundaries"][0]
    assert boundary["width"] == 3e-9 and "space_charge_potential" not in boundary
    assert immobile.raw["solver"]["harmonics"] == 4
