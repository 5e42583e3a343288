"""The coupled thermo-chemo-mechanical balance, written once for the total fields.

Fields (scaled, see :mod:`stimsim.physics.scaling`): temperature rise theta, displacement u and, with
mobile ions, the hydrostatic stress s (an L2 projection of tr(sigma)/3, so that its gradient drives the
ions) and the concentration excess c - c0(x) over the stress-free equilibrium (the Vegard strain is
relative to c0); under Nernst-Planck-Poisson also the second species' excess (``carrier``) and the
electric potential perturbation (``potential``). :func:`static_residual` is the time-independent part of each balance,
:func:`storage` the part multiplied by d/dt. The frequency-domain operators are derivatives of these
forms about the base state (``ufl.derivative``): first order L(i w) = i w M + R'[.], second order
sources -1/4 R''[X1, X1] (docs/theory/harmonics.md, 'Products of harmonics'). Heat inputs are added by the model.
"""

from __future__ import annotations

import ufl

from stimsim.physics import diffusion, heat, mechanics

TEMPERATURE, DISPLACEMENT, STRESS, CONCENTRATION = "temperature", "displacement", "stress", "concentration"
#: Under Nernst-Planck-Poisson: the second species' excess and the electric potential perturbation.
CARRIER, POTENTIAL = "carrier", "potential"
#: The fields that are excesses of a mobile species (each stores, each has its own flux).
SPECIES_FIELDS = (CONCENTRATION, CARRIER)


def static_residual(fields: dict, tests: dict, k: dict, domain, ds_exchange=None, stress_free_exchange=False) -> dict:
    """Residual forms per balance (keys as ``fields``) on ``domain`` (:mod:`stimsim.geometry.domain`), with the
    surface exchange of the ions on ``ds_exchange`` (a measure, or None) toward the stress equilibrium
    c0 exp(Omega sigma_h/(R T)), or toward c0 with ``stress_free_exchange``. ``k`` holds the scaled
    coefficients: conductivity, lame_lambda, shear_modulus, expansion, optionally expansion_slope and
    conductivity_slope (alpha' and k' of a temperature-dependent alpha(T) and k(T); absent: constant)
    and, with ions, vegard, diffusivity, stress_coupling, activation, thermotransport,
    temperature_ratio, mobile (1 where ions move), equilibrium (c0(x)) and exchange, and for an
    electroneutral pair partner_weight, partner_diffusivity, partner_activation and
    partner_concentration (:class:`stimsim.physics.diffusion.Partner`), and with an equilibrium
    space-charge layer space_charge_potential, ion_charge and partner_charge (:func:`_equilibrium`), and
    under Nernst-Planck-Poisson ion_charge, field_coupling and screening (:func:`electric_force`,
    :func:`_gauss`) and for a second species partner_diffusivity, partner_activation,
    partner_stress_coupling, partner_thermotransport, partner_vegard, partner_concentration,
    partner_equilibrium and partner_charge (:func:`_carriers`). With grain boundaries also
    laminate_normal (the unit normal of the layers of a cut cell, zero elsewhere) and the values across
    the layers conductivity_across (with k(T): conductivity_slope_across), diffusivity_across and
    partner_diffusivity_across: the transport tensors of :mod:`stimsim.physics.laminate`."""
    theta, u = fields[TEMPERATURE], fields[DISPLACEMENT]
    r, dx = domain.weight, domain.dx
    expansion_slope, conductivity_slope = k.get("expansion_slope", 0), k.get("conductivity_slope", 0)
    eigenstrain = mechanics.thermal_eigenstrain(theta, k["expansion"], expansion_slope)
    conductivity = heat.conductivity_at(theta, k["conductivity"], conductivity_slope)
    across = None
    if "conductivity_across" in k:  # cells cut into layers by grain boundaries: the laminate tensor
        across = heat.conductivity_at(theta, k["conductivity_across"], k.get("conductivity_slope_across", 0))
    forms = {TEMPERATURE: heat.conduction(theta, tests[TEMPERATURE], conductivity, r, dx, across, k.get("laminate_normal"))}
    if CONCENTRATION in fields:
        s = fields[STRESS]
        carriers = _carriers(fields, k)
        for name, (_, _, vegard, _) in carriers.items():
            eigenstrain = eigenstrain + mechanics.vegard_eigenstrain(fields[name], 0, vegard)
        hydrostatic = mechanics.hydrostatic_stress(u, eigenstrain, k["lame_lambda"], k["shear_modulus"], domain)
        forms[STRESS] = ufl.inner(s - hydrostatic, tests[STRESS]) * r * dx
        force = electric_force(theta, fields[POTENTIAL], k) if POTENTIAL in fields else None
        for name, (coefficients, equilibrium, _, charge) in carriers.items():
            c = fields[name]
            flux = diffusion.chemical_flux(theta, s, c, coefficients, equilibrium, None if force is None else charge * force)
            forms[name] = diffusion.transport(k["mobile"] * flux, tests[name], r, dx)
            if ds_exchange is not None:
                target = 0 if stress_free_exchange else diffusion.stress_equilibrium_excess(theta, s, coefficients, equilibrium)
                forms[name] += diffusion.surface_exchange(c, target, k["exchange"], tests[name], r, ds_exchange)
        if POTENTIAL in fields:
            forms[POTENTIAL] = _gauss(fields, tests[POTENTIAL], k, carriers, r, dx)
    lam, mu, v = k["lame_lambda"], k["shear_modulus"], tests[DISPLACEMENT]
    forms[DISPLACEMENT] = mechanics.stiffness(u, v, lam, mu, domain) - mechanics.eigenstrain_load(
        eigenstrain, v, lam, mu, domain
    )
    return forms


def _carriers(fields: dict, k: dict) -> dict:
    """Per species field (:data:`SPECIES_FIELDS` in ``fields``): its flux coefficients
    (:class:`~stimsim.physics.diffusion.DiffusionCoefficients`), stress-free equilibrium c0(x), scaled
    Vegard coefficient and charge number (None without electrostatics). The primary species reads the
    plain keys of ``k`` (with the partner of an electroneutral pair), the second species of
    Nernst-Planck-Poisson the ``partner_`` ones."""
    found = {
        CONCENTRATION: (
            diffusion.DiffusionCoefficients(
                k["diffusivity"], k["temperature_ratio"], k["stress_coupling"], k["activation"], k.get("thermotransport", 0),
                _partner(k), k.get("diffusivity_across"), k.get("laminate_normal"),
            ),
            _equilibrium(k, "bulk_concentration", "ion_charge", k["equilibrium"]), k["vegard"], k.get("ion_charge"),
        )
    }
    if CARRIER in fields:
        found[CARRIER] = (
            diffusion.DiffusionCoefficients(
                k["partner_diffusivity"], k["temperature_ratio"], k["partner_stress_coupling"], k["partner_activation"],
                k["partner_thermotransport"], None, k.get("partner_diffusivity_across"), k.get("laminate_normal"),
            ),
            _equilibrium(k, "partner_concentration", "partner_charge", k["partner_equilibrium"]), k["partner_vegard"],
            k["partner_charge"],
        )
    return found


def electric_force(theta, potential, k: dict):
    """The scaled electric force per charge number F grad(phi)/(R T) (per scaled length) for the
    potential perturbation ``potential`` (phi' in units of R T_amb/F times ``k['field_coupling']`` =
    c_s/c_ref) on top of an equilibrium layer's u_eq = F phi_eq/(R T_amb) (``k['space_charge_potential']``,
    if any): (T_amb/T) grad(u_eq + coupling phi') - grad(u_eq), the layer's own force balanced by its
    Boltzmann profile at T_amb (so a layer stays stationary unless the temperature changes)."""
    temperature = 1 + k["temperature_ratio"] * theta
    force = k["field_coupling"] * ufl.grad(potential)
    if "space_charge_potential" in k:
        force = force - k["temperature_ratio"] * theta * ufl.grad(k["space_charge_potential"])
    return force / temperature


def _gauss(fields: dict, test, k: dict, carriers: dict, r, dx):
    """Gauss's law for the potential perturbation, scaled: kappa integral grad(phi') . conj(grad(psi)) w dx
    = integral sum_k z_k c_k' conj(psi) w dx, kappa = (lambda_ref/l)^2 ``k['screening']`` (the equilibrium
    layer and the dopant cancel in the reference; zero normal field where no condition is imposed)."""
    charge = sum(z * fields[name] for name, (_, _, _, z) in carriers.items())
    return k["screening"] * ufl.inner(ufl.grad(fields[POTENTIAL]), ufl.grad(test)) * r * dx - ufl.inner(charge, test) * r * dx


def _partner(k: dict):
    """The compensating carrier of an electroneutral pair from ``k`` (None for a neutral species)."""
    if "partner_weight" not in k:
        return None
    equilibrium = _equilibrium(k, "partner_concentration", "partner_charge", k["partner_concentration"])
    return diffusion.Partner(k["partner_weight"], k["partner_diffusivity"], k["partner_activation"], equilibrium,
                             k.get("partner_diffusivity_across"))


def _equilibrium(k: dict, bulk: str, charge: str, otherwise):
    """The stress-free equilibrium concentration of a species: with an equilibrium space-charge layer
    (``k['space_charge_potential']``, the scaled potential u = F phi/(R T_amb)) its Boltzmann profile
    k[bulk] exp(-k[charge] u), evaluated at the quadrature points (positive everywhere, however thin the
    layer beside the cells), else ``otherwise``."""
    if "space_charge_potential" not in k:
        return otherwise
    return k[bulk] * ufl.exp(-k[charge] * k["space_charge_potential"])


def storage(trials: dict, tests: dict, k: dict, domain) -> dict:
    """Forms multiplied by the time derivative: heat capacity and, with ions, the concentration
    (with the mobile-region indicator). The model multiplies them by i w t_heat and i w t_ions."""
    r, dx = domain.weight, domain.dx
    forms = {TEMPERATURE: heat.storage(trials[TEMPERATURE], tests[TEMPERATURE], k["heat_capacity"], r, dx)}
    for name in SPECIES_FIELDS:
        if name in trials:
            forms[name] = diffusion.storage(k["mobile"] * trials[name], tests[name], r, dx)
    return forms
