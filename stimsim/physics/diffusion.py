"""Larché–Cahn stress-driven diffusion of one mobile species with thermotransport, and its surface
exchange (docs/physics.md, 'Governing equations' and 'Boundary conditions').

Physical flux  J = -D(T) [grad c - (Omega c / (R T)) grad sigma_h + (Q* c / (R T^2)) grad T],
D(T) = D_ref exp(-(E_a/R) (1/T - 1/T_amb)), Q* the heat of transport (Q* > 0 drives the species toward
the cold).

Scaled form (module :mod:`stimsim.physics.scaling`): lengths in l, temperatures in theta_s, stresses in
sigma_s, concentrations in c_s (the equilibrium response to sigma_s, or to theta_s through Q* if that
is larger), fluxes in D_ref c_s / l and time in l^2 / D_ref. With total scaled fields theta, s and c
(uniform c0 here; see :func:`chemical_flux` for a profile) and T = 1 + eps_T theta:

    J = -d exp(g eps_T theta / T) [grad c - eps_c c grad s / T + q c grad theta / T^2],

where d = D/D_ref (per material), eps_T = theta_s/T_amb, eps_c = Omega sigma_s/(R T_amb),
g = E_a/(R T_amb) and q = Q* theta_s/(R T_amb^2). The base concentration c0/c_s = 1/max(|eps_c|, |q|)
is large, and the first-order flux about a uniform base, -d [grad c1 - eps_c c0 grad s1 + q c0 grad
theta1], has coefficients eps_c c0 and q c0 of at most 1 in size: O(1) numbers in every term.

The expressions are written once for the total fields; first- and second-order operators are their
Gateaux derivatives (``ufl.derivative``) about the base state, so no term is expanded by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import ufl


@dataclass(frozen=True)
class DiffusionCoefficients:
    """Dimensionless coefficients of the scaled flux (UFL constants or numbers).

    relative_diffusivity: D/D_ref per cell. temperature_ratio: eps_T = theta_s / T_amb.
    stress_coupling: eps_c = Omega sigma_s / (R T_amb). activation: g = E_a / (R T_amb).
    thermotransport: q = Q* theta_s / (R T_amb^2).
    """

    relative_diffusivity: object
    temperature_ratio: object
    stress_coupling: object
    activation: object
    thermotransport: object = 0.0


def chemical_flux(theta, sigma_h, excess, k: DiffusionCoefficients, equilibrium):
    """Scaled Larché–Cahn flux for the total scaled temperature rise ``theta`` and hydrostatic stress
    ``sigma_h`` and the concentration c = ``equilibrium`` + ``excess``.

    ``equilibrium`` is the stress-free equilibrium concentration c0(x) (uniform, or a space-charge
    profile): the chemical potential R T ln(c / c0(x)) - Omega sigma_h keeps it stationary without
    stress, so that grad c - c grad(ln c0) = grad(excess) - excess grad(ln c0). Working with the
    excess avoids the cancellation of the large c0/c_s against itself.
    """
    temperature = 1 + k.temperature_ratio * theta
    mobility = k.relative_diffusivity * ufl.exp(k.activation * k.temperature_ratio * theta / temperature)
    concentration = equilibrium + excess
    driving = ufl.grad(excess)
    if not isinstance(equilibrium, (int, float)):
        driving = driving - excess * ufl.grad(equilibrium) / equilibrium
    driving = driving - k.stress_coupling * concentration * ufl.grad(sigma_h) / temperature
    if not isinstance(k.thermotransport, (int, float)) or k.thermotransport != 0:
        driving = driving + k.thermotransport * concentration * ufl.grad(theta) / temperature**2
    return -mobility * driving


def stress_equilibrium_excess(theta, sigma_h, k: DiffusionCoefficients, equilibrium):
    """The excess over c0(x) = ``equilibrium`` of the stress equilibrium c0 exp(eps_c s / T) at the
    total scaled temperature rise ``theta`` and stress ``sigma_h``: c0 (exp(x) - 1) written as
    2 c0 exp(x/2) sinh(x/2), which keeps its relative accuracy at small x (the large c0 multiplies x, not
    exp(x) - 1 rounded to the unit)."""
    x = k.stress_coupling * sigma_h / (1 + k.temperature_ratio * theta)
    return 2 * equilibrium * ufl.exp(x / 2) * ufl.sinh(x / 2)


def surface_exchange(excess, target, rate, z, weight, ds):
    """The exchange J.n = rate (c - c_target) through the surface ``ds`` in weak form, for excesses over
    c0 (``excess``, ``target``) and the scaled exchange velocity ``rate`` = k_ex l / D_ref."""
    return rate * ufl.inner(excess - target, z) * weight * ds


def transport(flux, z, weight, dx):
    """The divergence term of dc/dt + div J = 0 in weak form: -integral J . conj(grad z) w dx (w: the
    domain's integration weight)."""
    return -ufl.inner(flux, ufl.grad(z)) * weight * dx


def storage(rate, z, weight, dx):
    """The time-derivative term: integral rate conj(z) w dx (rate = i omega c in the frequency domain)."""
    return ufl.inner(rate, z) * weight * dx
