"""Reference scales that make the unknowns and the matrix entries O(1).

Lengths are in units of ``length`` (the contact radius), temperatures in ``temperature`` (set by the
heat input), displacements in ``expansion * temperature * length``, stresses in
``modulus * expansion * temperature`` and concentrations in ``concentration`` =
c0 max(|Omega| sigma_s, |Q*| theta_s / T_amb) / (R T_amb), the equilibrium response of the ions to the
stress scale or, if larger, to the temperature scale through the heat of transport Q*. Heat has the
time scale l^2 rho c_p / k, diffusion l^2 / D. Material coefficients are divided by the reference values of
the material under the tip. Under Nernst-Planck-Poisson the potential perturbation is in units of
(R T_amb/F) c_s/c_ref with c_ref = sum_k z_k^2 c_k, the potential that moves a species by the
concentration scale, so that its drift and Gauss's law have O(1) coefficients (docs/theory/physics.md,
'Charged species: Nernst-Planck-Poisson'). In raw SI (lengths 1e-8 m, stresses 1e9 Pa, displacements 1e-12 m) the
direct solver loses all accuracy; in these units every entry is O(1) (docs/theory/physics.md,
'Scaled (dimensionless) form'; docs/developer/numerics.md, 'Measured facts that shaped the code').
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scales:
    """Reference values, SI: length m, temperature K, conductivity W/(m K), heat_capacity
    (volumetric) J/(m^3 K), modulus Pa, expansion 1/K, ambient_temperature K, concentration mol/m^3,
    ionic_diffusivity m^2/s (None without ions), potential V."""

    length: float
    temperature: float
    conductivity: float
    heat_capacity: float
    modulus: float
    expansion: float
    ambient_temperature: float = 300.0
    concentration: float = 1.0
    ionic_diffusivity: float | None = None
    #: Scale of the electric potential perturbation under Nernst-Planck-Poisson (V):
    #: (R T_amb/F) c_s/c_ref, c_ref = sum_k z_k^2 c_k (1 without).
    potential: float = 1.0

    @property
    def time(self) -> float:
        """Diffusion time length^2 rho c_p / k in s."""
        return self.length**2 * self.heat_capacity / self.conductivity

    @property
    def power(self) -> float:
        """Power scale k * temperature * length in W."""
        return self.conductivity * self.temperature * self.length

    @property
    def displacement(self) -> float:
        """Displacement scale expansion * temperature * length in m."""
        return self.expansion * self.temperature * self.length

    @property
    def stress(self) -> float:
        """Stress scale modulus * expansion * temperature in Pa."""
        return self.modulus * self.expansion * self.temperature

    @property
    def ionic_time(self) -> float:
        """Diffusion time length^2 / D_ref in s (ionic models only)."""
        return self.length**2 / self.ionic_diffusivity

    def angular_frequency(self, omega: float) -> float:
        """Dimensionless angular frequency omega * time."""
        return omega * self.time
