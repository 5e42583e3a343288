"""Charged mobile species and their electroneutral pair (docs/theory/physics.md, 'Charged species: the
electroneutral limit').

A :class:`Species` is one ``[[sample.species]]`` table in SI units. Under ``[ions] electrostatics =
"electroneutral"`` two species of opposite charge (an ionic defect and its compensating electronic
carrier) move as one :class:`ElectroneutralPair`: electroneutrality ties the carrier's excess to the
ion's, delta c_p = w delta c_i with w = -z_i/z_p, and zero current eliminates the potential gradient, so
the ion's flux is J_i = -M grad(mu_i + w mu_p) / (R T) with the series mobility
1/M = 1/a + w^2/b, a = D_i c_i, b = D_p c_p. Everything here is at the reference (uniform, stress-free)
state; the fields' nonlinear dependence is in :func:`stimsim.physics.diffusion.chemical_flux`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stimsim.materials.library import GAS_CONSTANT
from stimsim.materials.spacecharge import SpaceChargeLayer
#: The electroneutral limit is justified while the Debye length stays below this fraction of the
#: contact radius; above it a run warns.
DEBYE_FRACTION = 0.1


@dataclass(frozen=True)
class Species:
    """A mobile charged species: ``charge`` z (integer), ``diffusivity`` D at the ambient temperature
    (m^2/s), ``activation_energy`` E_a of D(T) (J/mol), ``partial_molar_volume`` Omega (m^3/mol, its
    chemical-expansion coefficient), equilibrium ``concentration`` c (mol/m^3) and ``heat_of_transport``
    Q* (J/mol)."""

    name: str
    charge: int
    diffusivity: float
    activation_energy: float
    partial_molar_volume: float
    concentration: float
    heat_of_transport: float = 0.0

    def diffusivity_at(self, temperature: float, ambient: float) -> float:
        """D(T) = D exp(-(E_a/R)(1/T - 1/T_amb)) in m^2/s (temperatures in K)."""
        return self.diffusivity * math.exp(-self.activation_energy / GAS_CONSTANT * (1 / temperature - 1 / ambient))


@dataclass(frozen=True)
class ElectroneutralPair:
    """An ionic species ``ion`` and the compensating carrier ``partner`` (opposite charge) in the
    electroneutral, zero-current limit; ``ambient`` is T_amb (K)."""

    ion: Species
    partner: Species
    ambient: float

    @property
    def weight(self) -> float:
        """w = -z_i/z_p: moles of the partner that move with one mole of the ion (> 0)."""
        return -self.ion.charge / self.partner.charge

    @property
    def background(self) -> float:
        """N = z_i c_i + z_p c_p (mol/m^3 of elementary charges; z_i c_i - c_e with electrons): the net
        charge of the mobile species at the reference, which the immobile dopant background compensates.
        N > 0: acceptor-like background (Sm'_Ce in ceria: N = 2 c_V - c_e), N < 0: donor-like, N = 0:
        no dopant (pure reduction). Every sign is physical, so it is reported, not refused."""
        return self.ion.charge * self.ion.concentration + self.partner.charge * self.partner.concentration

    @property
    def partial_molar_volume(self) -> float:
        """Omega_n = Omega_i + w Omega_p (m^3/mol): the chemical expansion per mole of the ion moved."""
        return self.ion.partial_molar_volume + self.weight * self.partner.partial_molar_volume

    @property
    def heat_of_transport(self) -> float:
        """Q*_n = Q*_i + w Q*_p (J/mol): the heat of transport of the pair per mole of the ion moved (the
        thermal force on the pair's potential mu_n = mu_i + w mu_p)."""
        return self.ion.heat_of_transport + self.weight * self.partner.heat_of_transport

    @property
    def thermodynamic_concentration(self) -> float:
        """c* = 1 / (1/c_i + w^2/c_p) (mol/m^3): d(mu_n/RT)/d c_i = 1/c*, the concentration a neutral
        species with the same equilibrium response to stress would have."""
        return 1 / (1 / self.ion.concentration + self.weight**2 / self.partner.concentration)

    def mobility(self, temperature: float) -> float:
        """M = a b / (b + w^2 a), a = D_i c_i, b = D_p c_p at the reference concentrations, in mol/(m s)
        (J_i = -M grad(mu_n)/(R T))."""
        a = self.ion.diffusivity_at(temperature, self.ambient) * self.ion.concentration
        b = self.partner.diffusivity_at(temperature, self.ambient) * self.partner.concentration
        return a * b / (b + self.weight**2 * a)

    def chemical_diffusivity(self, temperature: float) -> float:
        """The ambipolar chemical diffusivity M/c* (m^2/s): D_i (1 + w^2 c_i/c_p) with fast electrons,
        D_p c_p/(w^2 c*) when they limit."""
        return self.mobility(temperature) / self.thermodynamic_concentration

    @property
    def activation_energy(self) -> float:
        """Apparent activation energy of M at the ambient temperature (J/mol): the mean of E_i and E_p
        weighted by the resistances 1/a and w^2/b of the series mobility."""
        a = self.ion.diffusivity * self.ion.concentration
        b = self.partner.diffusivity * self.partner.concentration
        ion, partner = 1 / a, self.weight**2 / b
        return (ion * self.ion.activation_energy + partner * self.partner.activation_energy) / (ion + partner)

    def layer(self, relative_permittivity: float) -> SpaceChargeLayer:
        """The space-charge layer of the two species (ion first) at the ambient temperature in a medium
        of ``relative_permittivity``."""
        return species_layer((self.ion, self.partner), relative_permittivity, self.ambient)

    def debye_length(self, relative_permittivity: float) -> float:
        """lambda_D = sqrt(eps_0 eps_r R T / (F^2 sum z^2 c)) at the ambient temperature (m)."""
        return self.layer(relative_permittivity).debye_length

    def summary(self, relative_permittivity: float, contact_radius: float) -> tuple[str, str | None]:
        """One log line on the pair (Debye length, background, ambipolar diffusivity, Omega_n) and a
        warning when the Debye length is not small beside the contact radius ``contact_radius`` (m),
        else None."""
        debye = self.debye_length(relative_permittivity)
        line = (
            f"electroneutral {self.ion.name} + {self.partner.name}: Debye length {debye:.3g} m "
            f"({debye / contact_radius:.2g} of the contact radius), dopant background N = z_i c_i + z_p c_p = "
            f"{self.background:.4g} mol/m^3 of elementary charge ({_kind(self.background)}), ambipolar diffusivity "
            f"{self.chemical_diffusivity(self.ambient):.3g} m^2/s, Omega_n {self.partial_molar_volume:.3g} m^3/mol"
        )
        if debye <= DEBYE_FRACTION * contact_radius:
            return line, None
        return line, (
            f"the Debye length {debye:.3g} m is {debye / contact_radius:.2g} of the contact radius "
            f"{contact_radius:.3g} m (above {DEBYE_FRACTION:g}): space charge matters and the electroneutral "
            "limit (ions.electrostatics = 'electroneutral') is not justified"
        )


def species_layer(species, relative_permittivity: float, temperature: float) -> SpaceChargeLayer:
    """The :class:`SpaceChargeLayer` of the charged ``species`` (a sequence of :class:`Species`, bulk
    concentrations) at ``temperature`` (K) in a medium of ``relative_permittivity``."""
    return SpaceChargeLayer(
        tuple(s.charge for s in species), tuple(s.concentration for s in species), relative_permittivity, temperature
    )


def _kind(background: float) -> str:
    """'acceptor-like', 'donor-like' or 'none' for the background N of :attr:`ElectroneutralPair.background`."""
    return "acceptor-like" if background > 0 else "donor-like" if background < 0 else "none"
