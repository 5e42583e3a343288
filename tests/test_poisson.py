"""Charged species under Nernst-Planck-Poisson (docs/theory/physics.md, 'Charged species: Nernst-Planck-Poisson';
docs/validation/verification.md, 'Nernst-Planck-Poisson'): the ambipolar limit (two species converge to the
electroneutral model as lambda_D/a -> 0), the Debye limit (a lone species against its fixed dopant is
suppressed as lambda_D^2 and recovers the neutral species at lambda_D >> a), the equilibrium layer as a
stationary state, harmonic balance against the expansion, bad input and parallel consistency."""

import math

import numpy as np
import pytest
from dolfinx import fem, la
from mpi4py import MPI

from stimsim.cli import main
from stimsim.study.load import study_from_dict
from stimsim.solve.forward import first_order_fields, responses
from stimsim.geometry.meshes import load_domain, mesh_spec
from stimsim.solve.model import HarmonicModel
from stimsim.fem.forms import compiled
from stimsim.physics.coupled import CARRIER, CONCENTRATION, POTENTIAL, TEMPERATURE
from stimsim.materials.spacecharge import SpaceChargeLayer
from stimsim.solve.validity import validity_parameters

from conftest import ROOT, error_for, expansion_and_balance

FREQUENCY = 1e3  # Hz: the chemical length at 2 omega (18 nm) is near the contact radius (20 nm)
VACANCY = dict(name="vacancy", charge=2, diffusivity=1e-12, partial_molar_volume=6.5e-6, concentration=100.0)
ELECTRON = dict(name="electron", charge=-1, diffusivity=1e-9, partial_molar_volume=-1e-6, concentration=400.0)


def raw_study(species=(VACANCY, ELECTRON), electrostatics="poisson", permittivity=25.0, refinement=0.2):
    """lambda_D = 0.27 nm sqrt(permittivity/25) with the two default species (lambda_D/a = 0.0136 at 25)."""
    raw = {
        "sample": {"material": "SDC", "properties": {"relative_permittivity": permittivity}},
        "tip": {"contact_radius": 20e-9},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [FREQUENCY]},
        "solver": {"periodic": "expansion"},
        "mesh": {"refinement": refinement},
    }
    if species:
        raw["sample"]["species"] = [dict(s) for s in species]
        raw["ions"] = {"electrostatics": electrostatics}
    return raw


def neutral_study(concentration, refinement=0.2):
    """The neutral species with the vacancy's D, Omega and E_a (0) at ``concentration`` (0: immobile)."""
    raw = raw_study(species=(), refinement=refinement)
    raw["sample"]["properties"] |= dict(diffusivity=VACANCY["diffusivity"], activation_energy=0.0,
                                        partial_molar_volume=VACANCY["partial_molar_volume"], concentration=concentration)
    return study_from_dict(raw)


def tip_rows(study, domain=None, comm=MPI.COMM_WORLD):
    """(u_1, ionic u_2) at the tip (m)."""
    with HarmonicModel(study, comm, domain) as model:
        rows = {(r.harmonic, r.kind): r.displacement for r in responses(model, FREQUENCY)}
    return rows[1, "thermal"], rows.get((2, "ionic"), 0j)


def relative(a, b):
    return abs(a - b) / abs(b)


# -- the ambipolar limit ---------------------------------------------------------------------------------


@pytest.mark.serial  # physics; the parallel path: test_the_response_is_the_same_on_one_and_all_ranks
def test_ion_and_fast_electrons_converge_to_the_electroneutral_model_as_the_debye_length_falls():
    """Vacancies (z = 2) and fast electrons (b/(z^2 a) = 1e3) on one mesh: u_1 and the ionic u_2 under
    poisson differ from the electroneutral model's by an amount that falls like lambda_D^2 (measured:
    u_2 1.80e-4 at lambda_D/a = 0.0136, 7.9e-4 at 0.027, rate 2.1; u_1 2.5e-6, 9.6e-6, rate 1.96). The
    vacancies alone (no electrons, lambda_D/a = 0.019) keep 3.5e-4 of that ionic response: the electrons
    restore it."""
    fine = study_from_dict(raw_study())
    domain = load_domain(mesh_spec(fine), MPI.COMM_WORLD)
    reference = tip_rows(study_from_dict(raw_study(electrostatics="electroneutral")), domain)
    errors = []
    for permittivity in (25.0, 100.0):  # lambda_D doubles
        found = tip_rows(study_from_dict(raw_study(permittivity=permittivity)), domain)
        errors.append([relative(f, r) for f, r in zip(found, reference)])
    (u1_small, u2_small), (u1_large, u2_large) = errors
    assert u2_small < 4e-4 and u1_small < 1e-5
    assert 1.7 < math.log2(u2_large / u2_small) < 2.8
    assert 1.7 < math.log2(u1_large / u1_small) < 2.3
    alone = tip_rows(study_from_dict(raw_study(species=(VACANCY,))), domain)
    assert abs(alone[1]) < 1e-2 * abs(reference[1])


# -- the Debye limit ------------------------------------------------------------------------------------


@pytest.mark.serial  # physics; the parallel path: test_the_response_is_the_same_on_one_and_all_ranks
def test_a_lone_charged_species_is_suppressed_as_the_debye_length_squared_and_free_when_it_is_long():
    """Vacancies against their fixed dopant (c = 4 mol/m^3): the ionic part of u_1 (over the immobile
    sample's) relative to the neutral species with the same D, c and Omega, S = k^2 lambda^2/(1 + k^2
    lambda^2) for a Fourier mode, falls by about 4 when lambda_D halves (measured 2.34e-3 at lambda_D/a =
    0.019, 9.06e-3 at 0.039: ratio 3.87, the next order, about 3 lambda_D/a, coming from the layer at the
    blocking surface) and tends to 1 as (a/lambda_D)^2 when lambda_D >> a (measured 1 - S = 2.4e-3 at
    lambda_D/a = 5.8 and 6e-4 at 11.6; the ionic u_2 within 1 %)."""
    vacancy = dict(VACANCY, concentration=4.0)
    fine = study_from_dict(raw_study(species=(vacancy,), permittivity=1.0))
    domain = load_domain(mesh_spec(fine), MPI.COMM_WORLD)
    immobile = tip_rows(neutral_study(0.0), domain)[0]
    neutral = tip_rows(neutral_study(vacancy["concentration"]), domain)
    suppression = {}
    for permittivity in (1.0, 4.0, 9e4):
        study = study_from_dict(raw_study(species=(vacancy,), permittivity=permittivity))
        u1, u2 = tip_rows(study, domain)
        debye = study.charged_layer().debye_length / study.tip.contact_radius
        suppression[debye] = (abs((u1 - immobile) / (neutral[0] - immobile)), relative(u2, neutral[1]))
    (short, _), (double, _), (free, free_u2) = (suppression[d] for d in sorted(suppression))
    assert short < 0.02
    assert 3.6 < double / short < 4.1
    assert abs(free - 1) < 4e-3 and free_u2 < 1e-2


# -- the equilibrium layer ------------------------------------------------------------------------------


def layered(potential=0.05):
    raw = raw_study(permittivity=400.0, refinement=0.12)  # lambda_D = 1.1 nm
    raw["ions"]["space_charge_potential"] = potential
    return study_from_dict(raw)


def test_an_equilibrium_layer_is_a_stationary_state_and_responds_to_heating():
    """A 0.05 V core (accumulated electrons, depleted vacancies) without heating: the base state is the
    layer (Newton leaves every field at zero). That holds by construction, since the fluxes are written
    relative to the layer (grad ln(c/c0) and the layer's own drift taken out at T_amb); whether the layer
    is a stationary state of Nernst-Planck-Poisson is checked where it can fail, by the residual of the
    heated layer in the Grahame test below. Heated, every field responds and the validity parameters
    see the potential."""
    with HarmonicModel(layered(), MPI.COMM_WORLD) as model:
        model.solve_base_state(0.0)
        for name, field in model.base.items():
            assert np.abs(field.x.array).max(initial=0.0) < 1e-12, name
        first = first_order_fields(model, FREQUENCY)[0]
        for name in (CONCENTRATION, CARRIER, POTENTIAL):
            size = model.domain.comm.allreduce(np.abs(first[1][name].x.array).max(initial=0.0), op=MPI.MAX)
            assert size > 1e-3, name
        parameters = validity_parameters(model, first)
    assert 0 < parameters["potential"] < 0.75 and 0 < parameters["concentration"] < 0.75


def near_tip_residuals(model, radius=5.0) -> list[float]:
    """l2 norms of the residual vectors of the two species and Gauss's law at the model's base state,
    over the DOFs within ``radius`` contact radii of the axis (where the mesh resolves the layer)."""
    found = []
    for form in compiled([model.forms.balance[name] for name in (CONCENTRATION, CARRIER, POTENTIAL)]):
        vector = fem.assemble_vector(form)
        vector.scatter_reverse(la.InsertMode.add)
        owned = vector.index_map.size_local
        near = model.spaces[POTENTIAL].tabulate_dof_coordinates()[:owned, 0] < radius
        found.append(math.sqrt(model.domain.comm.allreduce(np.sum(np.abs(vector.array[:owned][near]) ** 2))))
    return found


@pytest.mark.serial  # physics; the parallel path: test_the_response_is_the_same_on_one_and_all_ranks
def test_a_uniformly_heated_layer_at_fixed_core_charge_is_grahames_layer_at_the_new_temperature():
    """The 0.01 V layer heated uniformly by 10 K: at fixed core charge Grahame's relation at 310 K gives
    the new core potential, and the Poisson-Boltzmann layer at 310 K is a stationary state of the
    model's residual (the drift's T_amb/T and Gauss's law with the zero normal field): its species
    residuals near the tip are 1e-2 and 5e-3 of the unshifted layer's (measured at refinement 0.5,
    falling to 2e-3 and 1.2e-3 at refinement 2), and Gauss's law sets it apart from the layer heated
    at a fixed core potential (residual 0.059 of that one's: its core charge differs)."""
    raw = raw_study(permittivity=400.0, refinement=0.5)
    raw["ions"]["space_charge_potential"] = 0.01
    study, rise = study_from_dict(raw), 10.0
    cold, potential = study.space_charge()
    hot = SpaceChargeLayer(cold.charges, cold.concentrations, cold.permittivity, cold.temperature + rise)
    shifted = hot.core_potential(cold.core_charge(potential))
    with HarmonicModel(study, MPI.COMM_WORLD) as model:
        s, V = model.scales, model.spaces[POTENTIAL]
        height = fem.Function(V)
        height.interpolate(fem.Expression(model.domain.height, V.element.interpolation_points))
        depth = np.maximum(-height.x.array.real, 0.0) * s.length
        base = model.base
        base[TEMPERATURE].x.array[:] = rise / s.temperature
        unshifted = near_tip_residuals(model)

        def heated_layer(core):
            base[POTENTIAL].x.array[:] = (hot.potential(depth, core) - cold.potential(depth, potential)) / s.potential
            for name, c_hot, c_cold in zip((CONCENTRATION, CARRIER), hot.concentrations_at(depth, core),
                                           cold.concentrations_at(depth, potential)):
                base[name].x.array[:] = (c_hot - c_cold) / s.concentration
            return near_tip_residuals(model)

        grahame, fixed_potential = heated_layer(shifted), heated_layer(potential)
    assert shifted == pytest.approx(potential * math.sqrt(1 + rise / 300.0), rel=1e-4)  # Debye-Hueckel: phi0 ~ lambda_D
    assert grahame[0] < 2e-2 * unshifted[0] and grahame[1] < 1e-2 * unshifted[1]
    assert grahame[2] < 0.15 * fixed_potential[2]


def test_the_response_is_the_same_on_one_and_all_ranks():
    """Two species with a 0.05 V layer: u_1 and the ionic u_2 on COMM_WORLD against COMM_SELF, within
    1e-8 (measured 1.8e-10 to 1.2e-9 on u_1 and 3.6e-10 on u_2, varying from run to run with the
    distributed factorisation's round-off: the screened Gauss block, (lambda_D/a)^2 = 3e-3 beside O(1)
    couplings, amplifies it more than the other fields do)."""
    if MPI.COMM_WORLD.size == 1:
        pytest.skip("compares a distributed run with a serial one")
    study = layered()
    world, alone = tip_rows(study, comm=MPI.COMM_WORLD), tip_rows(study, comm=MPI.COMM_SELF)
    for a, b in zip(world, alone):
        assert abs(a - b) < 1e-8 * abs(b), abs(a - b) / abs(b)


# -- harmonic balance -----------------------------------------------------------------------------------


@pytest.mark.serial  # physics check (suite time)
def test_small_amplitude_harmonic_balance_reproduces_the_expansion():
    """Vacancies and electrons of comparable mobility (b = z^2 a) under poisson (lambda_D/a = 0.054) at a
    0.3 K oscillation: harmonic balance (H = 2; the residual, not a linearisation, carries the drift and
    Gauss's law) and the expansion agree on u_1 and the ionic u_2 (measured 2.6e-7 with H = 3)."""
    species = (dict(VACANCY, diffusivity=1e-11), dict(ELECTRON, diffusivity=1e-11 * 4 * 100 / 400))
    raw = raw_study(species, permittivity=400.0, refinement=0.12)
    raw["excitation"]["power_amplitude"] = 5e-8
    expansion, balance = expansion_and_balance(raw, 2)
    assert relative(balance[1, "total"], expansion[1, "thermal"]) < 1e-6  # measured 3.7e-10
    assert relative(balance[2, "ionic"], expansion[2, "ionic"]) < 1e-3  # 3.07e-4: H = 2 leaves out the third harmonic


# -- bad input ------------------------------------------------------------------------------------------


CERIA_VACANCY = dict(VACANCY, concentration=4000.0)


@pytest.mark.parametrize("change, expected", [
    (dict(species=(VACANCY, ELECTRON, dict(ELECTRON, name="hole", charge=1))),
     "sample.species needs one or two tables under ions.electrostatics = 'poisson'"),
    (dict(species=(dict(VACANCY, charge=0),)), "sample.species[0].charge = 0: under ions.electrostatics = 'poisson'"),
    (dict(species=(VACANCY, dict(ELECTRON, charge=1))), "sample.species[1].charge = 1"),
    (dict(species=(VACANCY, dict(ELECTRON, charge=-0.5))), "sample.species[1].charge = -0.5 must be an integer"),
    (dict(species=(VACANCY, dict(ELECTRON, name="vacancy"))), "sample.species[1].name = 'vacancy' repeats"),
    (dict(permittivity=0.0), "sample.properties.relative_permittivity = 0 is outside"),
    (dict(species=(CERIA_VACANCY, ELECTRON)), "sample.species[0].concentration makes a Debye length of"),
    (dict(species=(VACANCY, dict(ELECTRON, partial_molar_volume=-3.25e-6))),
     "sample.species[1].partial_molar_volume makes the species' net chemical expansion zero"),
])
def test_bad_poisson_input_names_the_key(change, expected):
    assert expected in error_for(raw_study(**change))


def test_an_unresolvable_debye_length_points_to_the_electroneutral_limit():
    message = error_for(raw_study(species=(CERIA_VACANCY, ELECTRON)))
    assert "use ions.electrostatics = 'electroneutral'" in message and "0.01 of the contact radius" in message


@pytest.mark.parametrize("key, value, expected", [
    ("ions.surface", "exchange", "ions.surface = 'exchange' is not yet supported with ions.electrostatics = 'poisson'"),
    ("geometry.kind", "film", "geometry.kind = 'film' is not yet supported"),
    ("geometry.model", "3d", "geometry.model = '3d' is not yet supported"),
])
def test_what_poisson_does_not_support_yet_is_refused(key, value, expected):
    raw = raw_study()
    section, name = key.split(".")
    raw.setdefault(section, {})[name] = value
    if value == "exchange":
        raw["ions"]["exchange_velocity"] = 1e-6
    if value == "film":
        raw["geometry"] |= {"film_thickness": 100e-9, "substrate": "Si"}
    assert expected in error_for(raw)


def test_the_shipped_study_validates_and_logs_the_debye_length(capsys):
    assert main(["validate", str(ROOT / "studies" / "dilute_poisson.toml")]) == 0
    out = capsys.readouterr().out
    if MPI.COMM_WORLD.rank == 0:
        assert "poisson oxygen vacancy + electron: Debye length 1.09e-09 m (0.054 of the contact radius)" in out
        assert "space-charge layer: core potential 0.05 V" in out


def test_the_model_refuses_the_staggered_method():
    with pytest.raises(ValueError, match="staggered"):
        HarmonicModel(study_from_dict(raw_study()), MPI.COMM_WORLD, method="staggered")
