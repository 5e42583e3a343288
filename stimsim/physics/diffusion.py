"""Larché–Cahn stress-driven diffusion of one mobile species with thermotransport, neutral or the
primary species of an electroneutral pair, and its surface exchange (docs/theory/physics.md, 'Governing
equations', 'Charged species: the electroneutral limit' and 'Boundary conditions').

Physical flux  J = -M grad(mu)/(R T) - M (Q* / (R T^2)) grad T: for a neutral species M = D(T) c and
J = -D(T) [grad c - (Omega c / (R T)) grad sigma_h + (Q* c / (R T^2)) grad T],
D(T) = D_ref exp(-(E_a/R) (1/T - 1/T_amb)), Q* the heat of transport (Q* > 0 drives the species toward
the cold); for a pair M = a b/(b + w^2 a) and mu = mu_i + w mu_p (:func:`chemical_flux`).

Scaled form (module :mod:`stimsim.physics.scaling`): lengths in l, temperatures in theta_s, stresses in
sigma_s, concentrations in c_s (the equilibrium response to sigma_s, or to theta_s through Q* if that
is larger), fluxes in D_ref c_s / l and time in l^2 / D_ref. With total scaled fields theta, s and c
(uniform c0 here; see :func:`chemical_flux` for a profile) and T = 1 + eps_T theta:

    J = -d exp(g eps_T theta / T) [grad c - eps_c c grad s / T + q c grad theta / T^2],

where d = D/D_ref (per material), eps_T = theta_s/T_amb, eps_c = Omega sigma_s/(R T_amb),
g = E_a/(R T_amb) and q = Q* theta_s/(R T_amb^2). The base concentration c0/c_s = 1/max(|eps_c|, |q|)
is large, and the first-order flux about a uniform base, -d [grad c1 - eps_c c0 grad s1 + q c0 grad
theta1], has coefficients eps_c c0 and q c0 of at most 1 in size: O(1) numbers in every term. For a
pair the same holds with c0 the thermodynamic concentration c* = 1/(1/c_i + w^2/c_p) and D_ref the
ambipolar chemical diffusivity M0/c* (:mod:`stimsim.materials.species`): the scaled mobility is then 1/eps_c at
the reference and the scaled thermodynamic factor 1/c_i + w^2/c_p is eps_c, so their product is again 1.

The expressions are written once for the total fields; first- and second-order operators are their
Gateaux derivatives (``ufl.derivative``) about the base state, so no term is expanded by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import ufl

from stimsim.physics import laminate


@dataclass(frozen=True)
class Partner:
    """The compensating carrier of an electroneutral pair (dimensionless, UFL constants or numbers).

    weight: w = -z_i/z_p, its moles per mole of the primary species (its excess is w times the
    primary's). relative_diffusivity: D_p/D_ref. activation: E_p/(R T_amb). equilibrium: c_p0/c_s
    (uniform, or the profile of a space-charge layer). across: D_p/D_ref across the layers of a laminate
    cell (see :class:`DiffusionCoefficients`), or None.
    """

    weight: object
    relative_diffusivity: object
    activation: object
    equilibrium: object
    across: object = None


@dataclass(frozen=True)
class DiffusionCoefficients:
    """Dimensionless coefficients of the scaled flux (UFL constants or numbers).

    relative_diffusivity: D/D_ref per cell. temperature_ratio: eps_T = theta_s / T_amb.
    stress_coupling: eps_c = Omega sigma_s / (R T_amb). activation: g = E_a / (R T_amb).
    thermotransport: q = Q* theta_s / (R T_amb^2). partner: the compensating carrier of an
    electroneutral pair, or None for a neutral species. across, normal: in cells cut into layers (grain
    boundaries), D/D_ref across the layers and their unit normal n: the diffusivity is then the laminate
    tensor d (I - n n^T) + d_across n n^T (:mod:`stimsim.physics.laminate`); None: isotropic.
    """

    relative_diffusivity: object
    temperature_ratio: object
    stress_coupling: object
    activation: object
    thermotransport: object = 0.0
    partner: Partner | None = None
    across: object = None
    normal: object = None


def chemical_flux(theta, sigma_h, excess, k: DiffusionCoefficients, equilibrium, electric=None):
    """Scaled flux J = -M grad(mu)/(R T) of the primary species for the total scaled temperature rise
    ``theta`` and hydrostatic stress ``sigma_h`` and the concentration c = ``equilibrium`` + ``excess``.

    One carrier (a neutral species): M = d(T) c and grad(mu)/(R T) = grad ln(c/c0(x)) - eps_c grad(s)/T,
    i.e. J = -d(T) [grad c' - c' grad ln c0 - eps_c c grad s / T]. ``equilibrium`` is the stress-free
    c0(x) (uniform, or a space-charge profile): grad ln(c/c0) keeps it stationary without stress, and
    working with the excess c' avoids the cancellation of the large c0/c_s against itself.

    With a partner p (an electroneutral pair): its concentration is c_p0(x) + w c', the mobilities a = d c
    and b = d_p(T) c_p act in series, M = a b / (b + w^2 a), and the potential of the pair gains
    w grad ln(c_p/c_p0) = w^2 (grad(c') - c' grad ln c_p0)/c_p (docs/theory/physics.md, 'Charged species: the
    electroneutral limit'). Both c0(x) may be the Boltzmann profiles of an equilibrium space-charge
    layer: c_i0 c_p0^w is then uniform, so the reference stays stationary.

    ``electric`` (Nernst-Planck-Poisson, one carrier): the scaled electric force z F grad(phi)/(R T) on
    the species, added to grad(mu)/(R T) (:func:`stimsim.physics.coupled.electric_force`), or None.

    With ``k.across`` (a cell cut into layers) the mobility is the laminate tensor M (I - n n^T) +
    M_across n n^T, M_across the same mobility with the diffusivities across the layers (a pair's two
    carriers in series in each direction: exact across the layers, whose series resistances add, for
    concentrations uniform in the cell).
    """
    temperature = 1 + k.temperature_ratio * theta
    reduced = k.temperature_ratio * theta / temperature  # (1/T_amb - 1/T) T_amb
    concentration = equilibrium + excess
    log_gradient = _relative_gradient(excess, equilibrium)
    potential = log_gradient / concentration - k.stress_coupling * ufl.grad(sigma_h) / temperature
    if not isinstance(k.thermotransport, (int, float)) or k.thermotransport != 0:
        potential = potential + k.thermotransport * ufl.grad(theta) / temperature**2
    if electric is not None:
        potential = potential + electric
    p = k.partner
    if p is not None:
        partner_concentration = p.equilibrium + p.weight * excess
        potential = potential + p.weight**2 * _relative_gradient(excess, p.equilibrium) / partner_concentration

    def mobility(relative_diffusivity, partner_diffusivity):
        own = _arrhenius(relative_diffusivity, k.activation, reduced) * concentration
        if p is None:
            return own
        partner_mobility = _arrhenius(partner_diffusivity, p.activation, reduced) * partner_concentration
        return own * partner_mobility / (partner_mobility + p.weight**2 * own)

    along = mobility(k.relative_diffusivity, None if p is None else p.relative_diffusivity)
    if k.across is None:
        return -along * potential
    partner_across = None if p is None else (p.relative_diffusivity if p.across is None else p.across)
    return -laminate.apply(along, mobility(k.across, partner_across), k.normal, potential)


def _relative_gradient(excess, equilibrium):
    """c grad ln(c/c0) for c = c0 + ``excess`` and c0 = ``equilibrium``: grad(c') - c' grad(c0)/c0, which
    vanishes at c' = 0 whatever the profile c0(x)."""
    if isinstance(equilibrium, (int, float)):
        return ufl.grad(excess)
    return ufl.grad(excess) - excess * ufl.grad(equilibrium) / equilibrium


def _arrhenius(relative_diffusivity, activation, reduced):
    """d(T) = d exp(g (1 - T_amb/T)), ``reduced`` = 1 - T_amb/T."""
    return relative_diffusivity * ufl.exp(activation * reduced)


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
