"""Equilibrium space-charge layers (docs/theory/physics.md, 'Space-charge layers from equilibrium'): the
Poisson-Boltzmann profile against Gouy-Chapman, Debye-Hueckel and Mott-Schottky, Grahame's charge,
the pair flux in a layer against Nernst-Planck at zero current, the layer in the coupled model, and
bad input."""

import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh
from mpi4py import MPI

from stimsim.cli import EXIT_INPUT, main
from stimsim.study.load import study_from_dict
from stimsim.solve.forward import responses
from stimsim.geometry.meshes import load_domain, mesh_spec
from stimsim.solve.model import HarmonicModel
from stimsim.physics.diffusion import DiffusionCoefficients, Partner, chemical_flux
from stimsim.materials.spacecharge import VACUUM_PERMITTIVITY, SpaceChargeLayer, gouy_chapman_potential

from conftest import ROOT
from test_species import ELECTRON, FREQUENCY, VACANCY, error_for, raw_study

T = 300.0


def symmetric(z, c=1.0):
    return SpaceChargeLayer((z, -z), (c, c), 25.0, T)


@pytest.mark.parametrize("z, potential", [(1, 0.3), (2, 0.3), (2, -0.1), (1, 0.02), (3, -0.15)])
def test_profile_is_gouy_chapman_for_a_symmetric_electrolyte(z, potential):
    """max |phi - phi_GC| / |phi0| over 0..30 lambda_D: measured 1.8e-13 (z = 2, 0.3 V) or less."""
    layer = symmetric(z)
    depth = np.linspace(0, 30, 3001) * layer.debye_length
    phi = layer.potential(depth, potential)
    exact = gouy_chapman_potential(depth, potential, z, layer.debye_length, T)
    assert np.max(np.abs(phi - exact)) < 1e-11 * abs(potential)
    for c, charge in zip(layer.concentrations_at(depth, potential), (z, -z)):
        boltzmann = np.exp(-charge * exact / layer.thermal_voltage)
        assert np.max(np.abs(c / boltzmann - 1)) < 1e-9
    # Grahame: Q = sqrt(8 eps R T c) sinh(z F phi0 / 2RT), and back
    eps = VACUUM_PERMITTIVITY * 25.0
    grahame = np.sqrt(8 * eps * 8.314462618 * T * 1.0) * np.sinh(z * potential / (2 * layer.thermal_voltage))
    assert layer.core_charge(potential) == pytest.approx(grahame, rel=1e-12)
    assert layer.core_potential(grahame) == pytest.approx(potential, rel=1e-12)


@pytest.mark.parametrize("charges, concentrations, order, largest", [
    ((2, -2), (1.0, 1.0), 2, 6e-5),  # symmetric: the first correction is cubic in u (measured 4.8e-5 at 1 mV)
    ((2, -1), (100.0, 200.0), 1, 2e-3),  # asymmetric: quadratic in u (measured 1.6e-3)
])
def test_small_potentials_give_the_debye_hueckel_layer(charges, concentrations, order, largest):
    """phi0 exp(-x/lambda_D): the relative error at 1 mV, and its order in phi0 (halving phi0)."""
    layer = SpaceChargeLayer(charges, concentrations, 25.0, T)
    depth = np.linspace(0, 20, 2001) * layer.debye_length
    errors = []
    for potential in (1e-3, 0.5e-3):
        phi = layer.potential(depth, potential)
        errors.append(np.max(np.abs(phi - potential * np.exp(-depth / layer.debye_length))) / potential)
    assert errors[0] < largest
    assert errors[0] / errors[1] == pytest.approx(2.0**order, rel=0.05)


@pytest.mark.parametrize("potential", [0.3, 0.6])
def test_depleted_carriers_beside_a_fixed_dopant_give_the_mott_schottky_layer(potential):
    """One mobile species (z = 2) depleted by a positive core: where z u > 10 the first integral gives
    sqrt(z u - 1) = sqrt(f(z u0)) - xi / sqrt(2) up to e^{-z u} (the depletion layer with its thermal
    correction, width lambda_D sqrt(2 (z u0 - 1))); measured 9e-8 of u0 at 0.3 V."""
    z = 2
    layer = SpaceChargeLayer((z,), (100.0,), 25.0, T)
    u0 = potential / layer.thermal_voltage
    f0 = np.exp(-z * u0) - 1 + z * u0
    xi = np.linspace(0, np.sqrt(2 * f0), 2001)
    u = layer.potential(xi * layer.debye_length, potential) / layer.thermal_voltage
    expected = (1 + (np.sqrt(f0) - xi / np.sqrt(2)) ** 2) / z
    deep = z * expected > 10
    assert deep.sum() > 500
    assert np.max(np.abs(u - expected)[deep]) < 1e-6 * u0


@pytest.mark.parametrize("z", [1, 2])
def test_pair_flux_in_a_layer_is_nernst_planck_at_zero_current(z):
    """In a layer c_i0 = C_i e^{-z u}, c_p0 = C_p e^{u} (electrons): chemical_flux with these profiles
    and an excess c' equals the Nernst-Planck flux of the totals with psi from zero current, and vanishes
    at c' = 0 (the layer is stationary)."""
    domain = mesh.create_unit_interval(MPI.COMM_SELF, 1)
    x = ufl.SpatialCoordinate(domain)[0]
    ci, cp, g_u, u_at, g_c, g_s, eps_i, eps_e, a_i, b_p = 4.0, 7.0, 1.3, 0.4, 0.3, -0.8, 0.05, -0.02, 1.5, 0.7
    u = u_at + g_u * (x - 0.5)
    equilibrium, partner_equilibrium = ci * ufl.exp(-z * u), cp * ufl.exp(u)
    partner = Partner(z, b_p, 0.0, partner_equilibrium)
    k = DiffusionCoefficients(a_i, 0.0, eps_i + z * eps_e, 0.0, partner=partner)
    point = np.array([[0.5]])

    def value(excess):
        flux = chemical_flux(0.0, g_s * x, excess, k, equilibrium)
        return fem.Expression(flux[0], point).eval(domain, np.array([0], dtype=np.int32))[0, 0]

    c_excess = 0.2 + g_c * (x - 0.5)
    i0, p0 = ci * np.exp(-z * u_at), cp * np.exp(u_at)
    c_i, c_p = i0 + 0.2, p0 + z * 0.2  # totals at x = 0.5 and their gradients
    grad_i, grad_p = -z * g_u * i0 + g_c, g_u * p0 + z * g_c
    a, b = a_i * c_i, b_p * c_p
    eta_i, eta_e = grad_i / c_i - eps_i * g_s, grad_p / c_p - eps_e * g_s
    psi = (b * eta_e - z * a * eta_i) / (z**2 * a + b)
    expected = -a * (eta_i + z * psi)
    assert abs(value(c_excess) - expected) < 1e-12 * abs(expected)
    mobility = a_i * i0 * b_p * p0 / (b_p * p0 + z**2 * a_i * i0)
    stationary = mobility * (eps_i + z * eps_e) * g_s  # only the stress drives at c' = 0
    assert abs(value(fem.Constant(domain, 0j)) - stationary) < 1e-12 * abs(stationary)


DILUTE = (dict(VACANCY, concentration=1.0), dict(ELECTRON, concentration=2.0, diffusivity=1e-11))


def layered(potential=None, **ions):
    raw = raw_study(DILUTE)
    raw["ions"] |= ({} if potential is None else {"space_charge_potential": potential}) | ions
    return study_from_dict(raw)


@pytest.mark.serial  # physics; the parallel path: test_the_layer_is_the_same_on_one_and_all_ranks
def test_the_coupled_model_sees_the_layer():
    """Dilute species (lambda_D = 3.1 nm beside a 20 nm contact): a 1e-8 V core is the layer-free pair
    within 1e-6 on u_2 (the wiring), a 0.05 V core changes the ionic response by tens of per cent
    (measured 33 %), and the base state without heating stays the layer (c' = 0)."""
    domain = load_domain(mesh_spec(layered(0.05)), MPI.COMM_WORLD)
    found = {}
    for potential in (None, 1e-8, 0.05):
        model = HarmonicModel(layered(potential), MPI.COMM_WORLD, domain)
        found[potential] = {(r.harmonic, r.kind): r.displacement for r in responses(model, FREQUENCY)}
        model.destroy()
    ionic = {p: rows[2, "ionic"] for p, rows in found.items()}
    assert abs(ionic[1e-8] - ionic[None]) < 1e-6 * abs(ionic[None])  # measured 6.5e-8 (linear in phi0)
    assert abs(ionic[0.05] - ionic[None]) > 0.1 * abs(ionic[None])
    assert abs(found[0.05][1, "thermal"] - found[None][1, "thermal"]) < 1e-3 * abs(found[None][1, "thermal"])


def test_the_layer_is_the_same_on_one_and_all_ranks():
    """The 0.05 V layer's u_1 and ionic u_2 on COMM_WORLD against COMM_SELF (measured 1e-11 on 2 ranks)."""
    if MPI.COMM_WORLD.size == 1:
        pytest.skip("compares a distributed run with a serial one")
    found = []
    for comm in (MPI.COMM_WORLD, MPI.COMM_SELF):
        model = HarmonicModel(layered(0.05), comm)
        found.append({(r.harmonic, r.kind): r.displacement for r in responses(model, FREQUENCY)})
        model.destroy()
    for key in [(1, "thermal"), (2, "ionic")]:
        assert abs(found[0][key] - found[1][key]) < 1e-9 * abs(found[1][key])


@pytest.mark.parametrize("ions, expected", [
    (dict(space_charge_potential=0.1, space_charge_charge=0.01), "ions.space_charge_charge and ions.space_charge_potential both"),
    (dict(space_charge_potential=0.1, space_charge_excess=0.5, space_charge_length=1e-9),
     "ions.space_charge_potential and ions.space_charge_excess both set the space-charge layer"),
    (dict(space_charge_potential=2.5), "ions.space_charge_potential = 2.5 is outside"),
    (dict(space_charge_charge=20.0), "ions.space_charge_charge = 20 is outside"),
    (dict(space_charge_potential=0.6), "ions.space_charge_potential makes a space-charge layer whose concentrations change"),
])
def test_bad_space_charge_input_names_the_key(ions, expected):
    raw = raw_study(DILUTE)
    raw["ions"] |= ions
    assert expected in error_for(raw)


def test_a_space_charge_potential_needs_charged_species():
    raw = raw_study(species=(), properties={"relative_permittivity": 25.0})
    raw["ions"] = {"space_charge_potential": 0.1}
    assert "ions.space_charge_potential needs charged species" in error_for(raw)


@pytest.mark.serial
def test_validate_logs_the_layer_and_refuses_an_unresolvable_one(capsys):
    study = str(ROOT / "studies" / "ceria_vacancies_electrons.toml")
    assert main(["validate", study, "--set", "ions.space_charge_potential=0.02"]) == 0
    assert "space-charge layer: core potential 0.02 V, core charge 0.0" in capsys.readouterr().out
    assert main(["validate", study, "--set", "ions.space_charge_potential=0.3"]) == EXIT_INPUT
    assert "the mesh would not resolve it" in capsys.readouterr().err


def test_a_core_potential_beyond_the_double_range_of_the_boltzmann_factors_is_refused():
    """At 20 K, z = 2: z F phi0/(R T) = 300 at 0.26 V."""
    raw = raw_study(DILUTE)
    raw["ions"] |= {"space_charge_potential": 0.5}
    raw["excitation"]["ambient_temperature"] = 20.0
    assert "ions.space_charge_potential = 0.5 needs |z F phi0/(R T)| <= 300 for every species" in error_for(raw)


def test_a_core_charge_sets_the_core_potential_by_grahame():
    """ions.space_charge_charge = Q(0.03 V) of the pair's layer resolves to 0.03 V (1e-12)."""
    layer, _ = layered(0.03).space_charge()
    charge = layer.core_charge(0.03)
    _, potential = study_from_dict(raw_study(DILUTE) | {"ions": {"electrostatics": "electroneutral",
                                                                 "space_charge_charge": charge}}).space_charge()
    assert potential == pytest.approx(0.03, rel=1e-12)
