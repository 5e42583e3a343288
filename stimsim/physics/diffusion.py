"""Larché–Cahn stress-driven diffusion of one mobile species (docs/physics.md, 'Governing equations').

Physical flux  J = -D(T) [grad c - (Omega c / (R T)) grad sigma_h],
D(T) = D_ref exp(-(E_a/R) (1/T - 1/T_amb)).

Scaled form (module :mod:`stimsim.physics.scaling`): lengths in l, temperatures in theta_s, stresses in
sigma_s, concentrations in c_s = Omega c0_ref sigma_s / (R T_amb) (the equilibrium response to a stress
sigma_s), fluxes in D_ref c_s / l and time in l^2 / D_ref. With total scaled fields theta, s and c
(uniform c0 here; see :func:`chemical_flux` for a profile):

    J = -d exp(g eps_T theta / (1 + eps_T theta)) [grad c - eps_c c grad s / (1 + eps_T theta)],

where d = D/D_ref (per material), eps_T = theta_s/T_amb, eps_c = Omega sigma_s/(R T_amb) and
g = E_a/(R T_amb). The base concentration c0/c_s = 1/eps_c is large, so that the first-order flux
about a uniform base is -d [grad c1 - grad s1]: O(1) numbers in every term.

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
    """

    relative_diffusivity: object
    temperature_ratio: object
    stress_coupling: object
    activation: object


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
    return -mobility * driving


def transport(flux, z, weight, dx):
    """The divergence term of dc/dt + div J = 0 in weak form: -integral J . conj(grad z) w dx (w: the
    domain's integration weight)."""
    return -ufl.inner(flux, ufl.grad(z)) * weight * dx


def storage(rate, z, weight, dx):
    """The time-derivative term: integral rate conj(z) w dx (rate = i omega c in the frequency domain)."""
    return ufl.inner(rate, z) * weight * dx
