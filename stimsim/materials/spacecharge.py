"""Equilibrium space-charge layers under a planar surface (docs/theory/physics.md, 'Space-charge layers from
equilibrium').

A surface core at the potential phi0 (V) relative to the bulk, or carrying the charge Q (C/m^2), is
screened by the mobile charged species, each in Boltzmann equilibrium in the potential,
c_k(x) = c_k exp(-z_k u(x)) with the scaled potential u = F phi/(R T), against an immobile dopant
background that neutralises the bulk (sum_k z_k c_k). In depth x the potential solves the 1D
Poisson-Boltzmann equation eps u'' = -(F^2/(R T)) sum_k z_k c_k (exp(-z_k u) - 1). Its first
integral, exact for a planar layer that decays into the bulk, is

    (du/dxi)^2 = g(u) = 2 sum_k c_k f(z_k u) / sum_k z_k^2 c_k,   f(t) = exp(-t) - 1 + t >= 0,

with xi = x / lambda_D, lambda_D = sqrt(eps R T / (F^2 sum_k z_k^2 c_k)) the Debye length. The
profile integrates d(ln|u|)/dxi = -sqrt(g(u))/|u| (smooth from the surface to the linear tail, where
it tends to -1), and the core charge is Grahame's Q = sign(u0) sqrt(2 eps R T sum_k c_k f(z_k u0)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from stimsim.materials.library import GAS_CONSTANT

#: Faraday constant F in C/mol (CODATA 2018, exact).
FARADAY = 96485.33212
#: Vacuum permittivity epsilon_0 in F/m (CODATA 2018).
VACUUM_PERMITTIVITY = 8.8541878128e-12
#: Largest |z_k F phi0/(R T)| accepted: exp(+-) of it stays well inside double precision.
LARGEST_SCALED_POTENTIAL = 300.0
#: Where the integration of the profile stops (|u| below it: the linear tail u_end exp(-(xi - xi_end))).
_TAIL = 1e-12


def _excess_free_energy(t):
    """f(t) = exp(-t) - 1 + t (>= 0) without cancellation at small |t| (numpy arrays or numbers)."""
    t = np.asarray(t, dtype=float)
    series = t**2 * (1 / 2 - t / 6 + t**2 / 24 - t**3 / 120 + t**4 / 720 - t**5 / 5040 + t**6 / 40320)
    return np.where(np.abs(t) < 0.1, series, np.expm1(-np.clip(t, -700.0, 700.0)) + t)


@dataclass(frozen=True)
class SpaceChargeLayer:
    """The mobile species (``charges`` z_k and bulk ``concentrations`` c_k in mol/m^3) of a layer in a
    medium of relative permittivity ``permittivity`` at ``temperature`` (K)."""

    charges: tuple[int, ...]
    concentrations: tuple[float, ...]
    permittivity: float
    temperature: float

    @property
    def thermal_voltage(self) -> float:
        """R T / F in V."""
        return GAS_CONSTANT * self.temperature / FARADAY

    @property
    def strength(self) -> float:
        """sum_k z_k^2 c_k in mol/m^3 (twice the ionic strength)."""
        return sum(z**2 * c for z, c in zip(self.charges, self.concentrations))

    @property
    def debye_length(self) -> float:
        """lambda_D = sqrt(eps_0 eps_r R T / (F^2 sum z_k^2 c_k)) in m."""
        return math.sqrt(VACUUM_PERMITTIVITY * self.permittivity * GAS_CONSTANT * self.temperature / (FARADAY**2 * self.strength))

    def field_squared(self, u):
        """g(u) = (du/dxi)^2 of the first integral (dimensionless) at the scaled potential ``u``."""
        return 2 * sum(c * _excess_free_energy(z * np.asarray(u)) for z, c in zip(self.charges, self.concentrations)) / self.strength

    def core_charge(self, potential: float) -> float:
        """Grahame's core charge Q (C/m^2) that the layer screens at the core potential ``potential`` (V)."""
        u0 = potential / self.thermal_voltage
        energy = sum(c * float(_excess_free_energy(z * u0)) for z, c in zip(self.charges, self.concentrations))
        eps = VACUUM_PERMITTIVITY * self.permittivity
        return math.copysign(math.sqrt(2 * eps * GAS_CONSTANT * self.temperature * energy), u0)

    def core_potential(self, charge: float) -> float:
        """The core potential phi0 (V) whose layer screens the core charge ``charge`` (C/m^2) (Grahame's
        relation inverted; it is monotonic). Raises ValueError beyond |z F phi0/(R T)| =
        :data:`LARGEST_SCALED_POTENTIAL`."""
        bound = LARGEST_SCALED_POTENTIAL / max(abs(z) for z in self.charges) * self.thermal_voltage
        if not self.core_charge(-bound) < charge < self.core_charge(bound):
            raise ValueError(f"core charge {charge:g} C/m^2 needs a core potential beyond +-{bound:.3g} V")
        if charge == 0:
            return 0.0
        return brentq(lambda phi: self.core_charge(phi) - charge, -bound, bound, xtol=1e-15, rtol=1e-14)

    def potential(self, depth, potential: float) -> np.ndarray:
        """The potential phi(x) (V) at the depths ``depth`` (m, >= 0) below a core at ``potential`` (V)."""
        xi = np.asarray(depth, dtype=float) / self.debye_length
        u0 = potential / self.thermal_voltage
        if u0 == 0:
            return np.zeros_like(xi)
        sign = math.copysign(1.0, u0)

        def slope(_, v):  # d(ln|u|)/dxi
            u = sign * math.exp(max(v[0], math.log(_TAIL) - 1))  # trial steps may overshoot the tail
            return [-math.sqrt(float(self.field_squared(u))) / abs(u)]

        def tail(_, v):
            return v[0] - math.log(_TAIL)

        tail.terminal = True
        solution = solve_ivp(slope, (0.0, 1e4), [math.log(abs(u0))], method="DOP853", rtol=1e-13, atol=1e-13,
                             dense_output=True, events=tail)
        end = solution.t[-1]
        inside = np.minimum(xi, end)
        scaled = sign * np.exp(solution.sol(inside)[0]) * np.exp(-(xi - inside))
        return scaled * self.thermal_voltage

    def concentrations_at(self, depth, potential: float) -> list[np.ndarray]:
        """The Boltzmann concentrations c_k exp(-z_k F phi(x)/(R T)) (mol/m^3) of every species at
        ``depth`` (m) below a core at ``potential`` (V)."""
        u = self.potential(depth, potential) / self.thermal_voltage
        return [c * np.exp(-z * u) for z, c in zip(self.charges, self.concentrations)]

    def width(self, potential: float) -> float:
        """The shortest e-folding length (m) of the concentrations at the surface, 1/max_k |z_k u'(0)|
        (the Debye length for a small potential): the depth a mesh must resolve."""
        u0 = potential / self.thermal_voltage
        steepest = max(abs(z) for z in self.charges) * math.sqrt(float(self.field_squared(u0)))
        return self.debye_length / max(steepest, 1.0) if steepest else self.debye_length


def gouy_chapman_potential(depth, potential: float, charge: int, debye_length: float, temperature: float):
    """The Gouy-Chapman potential (V) of a symmetric z:z electrolyte at ``depth`` (m) below a core at
    ``potential`` (V): phi = (2RT/zF) ln[(1 + t e^{-x/lambda}) / (1 - t e^{-x/lambda})],
    t = tanh(z F phi0 / (4 R T)), with the Debye length ``debye_length`` of both ions (m)."""
    thermal = GAS_CONSTANT * temperature / FARADAY
    decay = math.tanh(charge * potential / (4 * thermal)) * np.exp(-np.asarray(depth) / debye_length)
    return 2 * thermal / charge * np.log((1 + decay) / (1 - decay))
