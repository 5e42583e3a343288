"""Charged species in the electroneutral limit (docs/theory/physics.md, 'Charged species: the electroneutral
limit'): the pair flux against Nernst-Planck with zero current, its fast-electron and electron-limited
limits against neutral runs, the sign of the chemical strain, bad input and parallel consistency."""

import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh
from mpi4py import MPI

from stimsim.cli import EXIT_INPUT, main
from stimsim.study.load import study_from_dict
from stimsim.core.errors import InputError
from stimsim.inverse.fit import fit_options
from stimsim.solve.forward import responses
from stimsim.geometry.meshes import load_domain, mesh_spec
from stimsim.solve.model import HarmonicModel
from stimsim.materials.library import EV_TO_J_PER_MOL
from stimsim.physics.coupled import CONCENTRATION
from stimsim.physics.diffusion import DiffusionCoefficients, Partner, chemical_flux
from stimsim.solve.validity import validity_parameters

from conftest import ROOT, error_for, expansion_and_balance

FREQUENCY = 2e4
VACANCY = dict(name="vacancy", charge=2, diffusivity=1e-12, activation_energy=0.7 * EV_TO_J_PER_MOL,
               partial_molar_volume=6.5e-6, concentration=100.0)
ELECTRON = dict(name="electron", charge=-1, diffusivity=1e-9, activation_energy=0.4 * EV_TO_J_PER_MOL,
                partial_molar_volume=-1e-6, concentration=1e6)


def raw_study(species=(VACANCY, ELECTRON), electrostatics="electroneutral", properties=None):
    raw = {
        "sample": {"material": "SDC", "properties": dict(properties or {})},
        "tip": {"contact_radius": 20e-9},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [FREQUENCY]},
        "solver": {"periodic": "expansion"},
        "mesh": {"refinement": 0.5},
    }
    if species:
        raw["sample"]["species"] = [dict(s) for s in species]
        raw["ions"] = {"electrostatics": electrostatics}
    return raw


def neutral_equivalent(diffusivity, activation_energy, omega, concentration, heat_of_transport=0.0):
    return study_from_dict(raw_study(species=(), properties=dict(
        diffusivity=diffusivity, activation_energy=activation_energy, partial_molar_volume=omega,
        concentration=concentration, heat_of_transport=heat_of_transport)))


def solve(study, comm=MPI.COMM_WORLD, domain=None):
    """Tip displacement by (harmonic, kind) and the physical first-order concentration (mol/m^3), on
    ``domain`` (default: the study's mesh)."""
    model = HarmonicModel(study, comm, domain)
    rows = {(r.harmonic, r.kind): r.displacement for r in responses(model, FREQUENCY)}
    model.solve_base_state(0.0)
    first = model.solve_first_order(FREQUENCY)
    concentration = first[CONCENTRATION].x.array * model.scales.concentration
    model.destroy()
    return rows, concentration


def relative(a, b):
    return abs(a - b) / abs(b)


# -- (c) the flux coefficient against Nernst-Planck with zero current --------------------------------


@pytest.mark.parametrize("a, b, z", [(1.0, 1.0, 2), (3.0, 0.01, 2), (0.2, 50.0, 1), (1.0, 2.0, 3)])
def test_pair_flux_is_nernst_planck_at_zero_current(a, b, z):
    """J_i of chemical_flux against the two Nernst-Planck fluxes J_k = -a_k (grad mu_k/RT + z_k psi)
    with psi solved from zero current z J_i - J_e = 0: a at (c_i, c_e), gradients and stress arbitrary."""
    domain = mesh.create_unit_interval(MPI.COMM_SELF, 1)
    x = ufl.SpatialCoordinate(domain)[0]
    c_i, c_e, g_c, g_s, eps_i, eps_e = 4.0, 7.0, 0.3, -0.8, 0.05, -0.02
    weight = z  # electrons, charge -1
    partner = Partner(weight, b / c_e, 0.0, c_e)
    k = DiffusionCoefficients(a / c_i, 0.0, eps_i + weight * eps_e, 0.0, partner=partner)
    flux = chemical_flux(0.0, g_s * x, g_c * x, k, c_i)  # evaluated at x = 0: c = (c_i, c_e)
    value = fem.Expression(flux[0], np.array([[0.0]])).eval(domain, np.array([0], dtype=np.int32))[0, 0]
    eta_i = g_c / c_i - eps_i * g_s
    eta_e = weight * g_c / c_e - eps_e * g_s
    # z J_i = J_e: -z a (eta_i + z psi) = -b (eta_e - psi)
    psi = (b * eta_e - z * a * eta_i) / (z**2 * a + b)
    expected = -a * (eta_i + z * psi)
    assert abs(value - expected) < 1e-13 * abs(expected)
    assert abs(expected + a * b / (z**2 * a + b) * (eta_i + z * eta_e)) < 1e-13 * abs(expected)


# -- (a) fast, plentiful electrons: the neutral model ---------------------------------------------------


@pytest.mark.serial  # physics check; the parallel path is covered by the file's 1-vs-2-rank test (suite time)
def test_fast_plentiful_electrons_give_the_neutral_model_with_the_chemical_diffusivity():
    """b/(z^2 a) = 2.5e5 and z^2 c_i/c_e = 4e-4: the pair is the neutral species with D = D_i (1 + z^2
    c_i/c_e), Omega_n = Omega_i + z Omega_e, the thermodynamic concentration c* and E_a = E_i."""
    pair = study_from_dict(raw_study())
    z, c_i, c_e = 2, VACANCY["concentration"], ELECTRON["concentration"]
    neutral = neutral_equivalent(
        VACANCY["diffusivity"] * (1 + z**2 * c_i / c_e), VACANCY["activation_energy"],
        VACANCY["partial_molar_volume"] + z * ELECTRON["partial_molar_volume"], 1 / (1 / c_i + z**2 / c_e),
    )
    domain = load_domain(mesh_spec(pair), MPI.COMM_WORLD)  # one mesh: D differs by z^2 a/b = 4e-6
    (rows, c1), (reference, c1_ref) = solve(pair, domain=domain), solve(neutral, domain=domain)
    assert relative(rows[1, "thermal"], reference[1, "thermal"]) < 1e-9  # measured 7e-11
    assert np.linalg.norm(c1 - c1_ref) < 1e-5 * np.linalg.norm(c1_ref)  # 2.7e-7
    assert relative(rows[2, "ionic"], reference[2, "ionic"]) < 1e-5  # 6.7e-7


@pytest.mark.serial  # physics check; the parallel path is covered by the file's 1-vs-2-rank test (suite time)
def test_pair_thermotransport_is_the_neutral_one_with_the_pair_heat_of_transport():
    """Fast, plentiful electrons with heats of transport Q*_V and Q*_e: the neutral species of test (a)
    with Q*_n = Q*_V + z Q*_e (the thermal force on mu_n = mu_V + z mu_e); the ionic response is 27 times
    that without thermotransport here."""
    q_vacancy, q_electron = 2e4, 5e3
    pair = study_from_dict(raw_study(species=(dict(VACANCY, heat_of_transport=q_vacancy),
                                              dict(ELECTRON, heat_of_transport=q_electron))))
    z, c_i, c_e = 2, VACANCY["concentration"], ELECTRON["concentration"]
    neutral = neutral_equivalent(
        VACANCY["diffusivity"] * (1 + z**2 * c_i / c_e), VACANCY["activation_energy"],
        VACANCY["partial_molar_volume"] + z * ELECTRON["partial_molar_volume"], 1 / (1 / c_i + z**2 / c_e),
        q_vacancy + z * q_electron,
    )
    domain = load_domain(mesh_spec(pair), MPI.COMM_WORLD)
    (rows, _), (reference, _) = solve(pair, domain=domain), solve(neutral, domain=domain)
    (without, _) = solve(study_from_dict(raw_study()), domain=domain)
    assert relative(rows[1, "thermal"], reference[1, "thermal"]) < 1e-7  # the ionic part of u_1 differs by z^2 a/b
    # measured 1.4e-5: the pair's mobility is a (1 - z^2 a/b), z^2 a/b = 4e-6, and its activation mixes E_e in
    assert relative(rows[2, "ionic"], reference[2, "ionic"]) < 5e-5
    assert abs(rows[2, "ionic"] / without[2, "ionic"]) > 10  # measured 27


# -- (b) slow electrons: the electron-limited pair ------------------------------------------------------

SLOW = dict(VACANCY, diffusivity=1e-10)


def slow_electrons(diffusivity, omega=-1e-6):
    return study_from_dict(raw_study((SLOW, dict(ELECTRON, concentration=1e4, diffusivity=diffusivity,
                                                           partial_molar_volume=omega))))


@pytest.mark.serial  # physics check; the parallel path is covered by the file's 1-vs-2-rank test (suite time)
def test_slow_electrons_limit_the_pair_to_the_ambipolar_mobility_b_over_z_squared():
    """b/(z^2 a) = 2.5e-3: the pair is the neutral species with the electron-limited diffusivity
    D_e c_e/(z^2 c*) and the electrons' activation energy; the ionic response falls with D_e."""
    z, c_i, c_e, d_e = 2, SLOW["concentration"], 1e4, 1e-14
    slowest = slow_electrons(d_e / 10)
    domain = load_domain(mesh_spec(slowest), MPI.COMM_WORLD)  # fine enough for the smallest chemical length
    c_star = 1 / (1 / c_i + z**2 / c_e)
    neutral = neutral_equivalent(d_e * c_e / (z**2 * c_star), ELECTRON["activation_energy"],
                                 SLOW["partial_molar_volume"] + z * ELECTRON["partial_molar_volume"], c_star)
    (rows, c1), (reference, c1_ref) = solve(slow_electrons(d_e), domain=domain), solve(neutral, domain=domain)
    assert np.linalg.norm(c1 - c1_ref) < 5e-3 * np.linalg.norm(c1_ref)  # measured 1.7e-3 ~ b/(z^2 a)
    assert relative(rows[2, "ionic"], reference[2, "ionic"]) < 3e-3  # 5.7e-4
    ionic = [abs(solve(slow_electrons(d), domain=domain)[0][2, "ionic"]) for d in (1e-11, 1e-13)]
    assert ionic[0] > ionic[1] > abs(rows[2, "ionic"])


# -- (d) the sign of the pair's chemical strain --------------------------------------------------------


def test_the_pair_chemical_strain_sets_the_direction_of_the_ions():
    """Omega_e = -5.5e-6 instead of -1e-6 m^3/mol turns Omega_n = Omega_i + z Omega_e from +4.5e-6 to
    -4.5e-6: the ions move the other way (c_1 changes sign), while the Vegard displacement, even in
    Omega_n at first order, keeps its sign."""
    domain = load_domain(mesh_spec(study_from_dict(raw_study())), MPI.COMM_WORLD)
    flipped = study_from_dict(raw_study((VACANCY, dict(ELECTRON, partial_molar_volume=-5.5e-6))))
    assert flipped.sample.pair.partial_molar_volume == pytest.approx(-4.5e-6)
    (rows, c1), (turned, c1_turned) = solve(study_from_dict(raw_study()), domain=domain), solve(flipped, domain=domain)
    assert np.linalg.norm(c1 + c1_turned) < 1e-8 * np.linalg.norm(c1)  # measured 1e-12
    assert relative(turned[1, "thermal"], rows[1, "thermal"]) < 1e-9  # 9e-15
    # the second harmonic is even in Omega_n but for the odd terms (c_1 grad sigma_1): 1.7e-3 here
    assert 1e-4 < relative(turned[2, "ionic"], rows[2, "ionic"]) < 1e-2


def test_validity_counts_the_population_that_swings_most():
    """Few electrons (c_e = 100 against c_i = 4200 mol/m^3): |c_1|/c_0 of the expansion's validity is the
    electrons' z |c_1|/c_e, not the vacancies' |c_1|/c_i."""
    few = dict(VACANCY, concentration=4200.0), dict(ELECTRON, concentration=100.0)
    model = HarmonicModel(study_from_dict(raw_study(few)), MPI.COMM_WORLD)
    model.solve_base_state(0.0)
    first = model.solve_first_order(FREQUENCY)
    largest = model.domain.comm.allreduce(np.abs(first[CONCENTRATION].x.array).max(), op=MPI.MAX)
    swing = largest * model.scales.concentration
    found = validity_parameters(model, {1: first})["concentration"]
    model.destroy()
    assert found == pytest.approx(2 * swing / 100.0, rel=1e-12)
    assert found > 80 * swing / 4200.0


# -- (e) bad input --------------------------------------------------------------------------------------


NEUTRAL = dict(ELECTRON, charge=0)


@pytest.mark.parametrize("change, expected", [
    (dict(species=(VACANCY, NEUTRAL)), "sample.species[1].charge = 0: under ions.electrostatics = 'electroneutral'"),
    (dict(species=(VACANCY, dict(ELECTRON, charge=1))), "sample.species[1].charge = 1"),
    (dict(species=(NEUTRAL, VACANCY)), "sample.species[0].charge = 0"),
    (dict(species=(VACANCY,)), "sample.species needs exactly two tables under ions.electrostatics = 'electroneutral'"),
    (dict(species=(VACANCY, dict(ELECTRON, charge=-1.5))), "sample.species[1].charge = -1.5 must be an integer"),
    (dict(species=(VACANCY, dict(ELECTRON, name="vacancy"))), "sample.species[1].name = 'vacancy' repeats"),
    (dict(properties={"relative_permittivity": 0}), "sample.properties.relative_permittivity = 0 is outside"),
    (dict(properties={"relative_permittivity": -3}), "sample.properties.relative_permittivity = -3 is outside"),
    (dict(electrostatics="poisson"), "sample.species[1].concentration makes a Debye length of 7.7e-12 m, below 0.01 "
     "of the contact radius"),
    (dict(electrostatics="none"), "sample.species needs ions.electrostatics = 'electroneutral'"),
    (dict(species=(dict(VACANCY, heat_of_transport=6e5), ELECTRON)), "sample.species[0].heat_of_transport = 600000 is outside"),
    (dict(properties={"diffusivity": 1e-12}), "sample.properties.diffusivity is set by the [[sample.species]]"),
    (dict(species=(VACANCY, dict(ELECTRON, concentration=0))), "sample.species[1].concentration = 0 is outside"),
])
def test_bad_species_input_names_the_key(change, expected):
    assert expected in error_for(raw_study(**change))


def test_species_without_a_permittivity_and_other_unsupported_combinations_are_refused():
    raw = raw_study()
    raw["sample"]["material"] = "LiCoO2"
    assert "sample.properties.relative_permittivity is required with [[sample.species]]" in error_for(raw)
    raw = raw_study()
    raw["ions"] |= {"space_charge_excess": -0.5, "space_charge_length": 2e-9}
    assert "ions.space_charge_excess (a prescribed layer of a neutral species) is not supported with [[sample.species]]" in error_for(raw)


def test_fits_of_the_permittivity_and_of_properties_the_pair_sets_are_refused():
    for name, message in (("relative_permittivity", "the relative permittivity sets the Debye length"),
                          ("diffusivity", "with [[sample.species]] the species set it")):
        raw = raw_study() | {"fit": {"parameters": [name]}}
        with pytest.raises(InputError) as info:
            fit_options(study_from_dict(raw))
        assert f"fit.parameters = {name!r}: {message}" in str(info.value)


def test_the_resolved_study_loads_again_and_names_the_pair():
    study = study_from_dict(raw_study())
    again = study_from_dict(study.resolved)
    assert again.sample.pair == study.sample.pair and again.sample.material == study.sample.material
    assert "diffusivity" not in study.resolved["sample"]["properties"]
    pair = study.sample.pair
    assert pair.background == pytest.approx(2 * 100.0 - 1e6)
    assert pair.debye_length(25.0) == pytest.approx(
        np.sqrt(8.8541878128e-12 * 25 * 8.314462618 * 300 / (96485.33212**2 * (4 * 100 + 1e6))))
    line, warning = pair.summary(25.0, 20e-9)
    assert "Debye length" in line and warning is None
    assert "not justified" in pair.summary(25.0, 1e-11)[1]


@pytest.mark.serial
def test_commands_log_the_debye_length_and_warn_when_it_is_not_small(capsys):
    study = str(ROOT / "studies" / "ceria_vacancies_electrons.toml")
    assert main(["validate", study]) == 0
    captured = capsys.readouterr()
    assert "Debye length 5.92e-11 m" in captured.out and "acceptor-like" in captured.out and not captured.err
    assert main(["validate", study, "--set", "tip.contact_radius=3e-10"]) == 0
    assert "the electroneutral limit (ions.electrostatics = 'electroneutral') is not justified" in capsys.readouterr().err
    assert main(["validate", study, "--set", "ions.electrostatics=poisson"]) == EXIT_INPUT


# -- (f) parallel --------------------------------------------------------------------------------------


def test_pair_response_is_the_same_on_one_and_all_ranks():
    study = study_from_dict(raw_study())
    world, alone = solve(study, MPI.COMM_WORLD)[0], solve(study, MPI.COMM_SELF)[0]
    for key in [(1, "thermal"), (2, "ionic")]:
        assert abs(world[key] - alone[key]) < 1e-9 * abs(alone[key])


# -- the pair through harmonic balance: the residual, not a linearisation, carries it -------------------


@pytest.mark.serial  # physics check; the parallel path is covered by the file's 1-vs-2-rank test (suite time)
def test_small_amplitude_harmonic_balance_of_a_pair_reproduces_the_expansion():
    """b = z^2 a (both carriers limit, so the series mobility and both barriers are nonlinear) at a
    0.3 K oscillation: harmonic balance (H = 4) and the expansion agree on u_1 and the ionic u_2."""
    balanced = dict(VACANCY, diffusivity=1e-11), dict(ELECTRON, concentration=1e3, diffusivity=4e-12)
    raw = raw_study(balanced)
    raw["excitation"]["power_amplitude"] = 5e-8
    raw["mesh"]["refinement"] = 0.3
    expansion, balance = expansion_and_balance(raw, 4)
    assert relative(balance[1, "total"], expansion[1, "thermal"]) < 1e-6  # measured 2.3e-8
    assert relative(balance[2, "ionic"], expansion[2, "ionic"]) < 5e-4  # 3.2e-5: third order


@pytest.mark.serial  # slow; the pair under MPI: test_pair_response_is_the_same_on_one_and_all_ranks
@pytest.mark.parametrize("space_charge", [None, 0.05], ids=["pair", "pair-in-a-layer"])
def test_nonionic_rows_of_species_are_those_of_the_sample_without_ions(space_charge):
    """With alpha(T) the periodic modes report a 'nonionic' row, the periodic state of the sample with
    its ions held immobile. For species that sample drops the species tables (they own the
    concentration) and the layer keys; its rows equal those of the neutral study's immobile sample on
    the same mesh (the other path to it: concentration 0), at every harmonic."""
    species = (dict(VACANCY, concentration=1.0), dict(ELECTRON, concentration=2.0, diffusivity=1e-11))
    raw = raw_study(species, properties={"thermal_expansion_derivative": 1e-8, "relative_permittivity": 25.0})
    if space_charge is not None:
        raw["ions"]["space_charge_potential"] = space_charge
    raw["solver"] = {"periodic": "harmonic_balance", "harmonics": 4}
    raw["mesh"]["refinement"] = 0.15  # the two paths are compared on one mesh: its size does not matter
    neutral = raw_study(species=(), properties={"thermal_expansion_derivative": 1e-8})
    neutral["solver"] = raw["solver"]
    with HarmonicModel(study_from_dict(raw), MPI.COMM_WORLD) as model:
        charged = {(r.harmonic, r.kind): r.displacement for r in responses(model, FREQUENCY)}
        with HarmonicModel(study_from_dict(neutral), MPI.COMM_WORLD, model.domain) as reference:
            plain = {(r.harmonic, r.kind): r.displacement for r in responses(reference, FREQUENCY)}
    assert not model.without_ions().study.sample.species
    for harmonic in range(5):
        assert abs(charged[harmonic, "nonionic"] - plain[harmonic, "nonionic"]) <= 1e-8 * abs(plain[1, "thermal"])
    assert abs(charged[2, "nonionic"]) > 1e-4 * abs(plain[1, "thermal"])  # alpha(T) does act at 2 omega
