"""Tip response: contact averages of the fields and labelled complex harmonics.

The tip reads the normal surface displacement u_z (outward positive) averaged over the mechanical
contact disk, uniformly or with the Hertz pressure weight sqrt(1 - r^2/a^2), and the temperature
averaged uniformly over the heated disk. Amplitude and phase are relative to the heating (time factor
e^{i w t}: a signal Re(X e^{i w t}) has amplitude |X| and phase arg X).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import ufl
from dolfinx import fem, la
from mpi4py import MPI

from stimsim.study.modes import PeriodicMethod

#: Row kinds whose sum is the 'total' row (what the lock-in reads): the first order, the second order
#: with the ions held immobile, and what the mobile ions add.
PARTS = ("thermal", "nonionic", "ionic")

#: Quadrature degree of the averaging integrals (the Hertz weight has a square-root edge).
AVERAGE_QUADRATURE_DEGREE = 8


@dataclass(frozen=True)
class TipResponse:
    """One harmonic of the tip signal.

    drive_frequency: Hz. harmonic: multiple n of the drive frequency. kind: 'thermal', 'nonionic',
    'ionic' (the :data:`PARTS`) or 'total' (their sum; docs/theory/harmonics.md).
    order: perturbation order the signal comes from (1: linear in the heating; 0: all orders, a sum
    or the nonlinear periodic state). method: who solved it ('expansion', 'harmonic_balance',
    'time_domain'; see :mod:`stimsim.solve.forward`). displacement: complex amplitude of u_z in m. temperature: complex amplitude of the tip temperature in K. heating_power:
    complex amplitude of the heat flow into the sample in W.
    """

    drive_frequency: float
    harmonic: int
    kind: str
    order: int
    displacement: complex
    temperature: complex
    heating_power: complex
    method: PeriodicMethod = PeriodicMethod.EXPANSION

    @property
    def amplitude(self) -> float:
        """|u_z| in m."""
        return abs(self.displacement)

    @property
    def phase_deg(self) -> float:
        """Phase of u_z relative to the heating, degrees in (-180, 180]."""
        return math.degrees(np.angle(self.displacement))

    @property
    def temperature_amplitude(self) -> float:
        """|theta_tip| in K."""
        return abs(self.temperature)

    @property
    def temperature_phase_deg(self) -> float:
        """Phase of the tip temperature relative to the heating, degrees."""
        return math.degrees(np.angle(self.temperature))

    def row(self) -> dict:
        """The response.csv row (SI units in the column names)."""
        return {
            "drive_frequency_hz": self.drive_frequency,
            "harmonic": self.harmonic,
            "kind": self.kind,
            "order": self.order,
            "amplitude_m": self.amplitude,
            "phase_deg": self.phase_deg,
            "u_real_m": self.displacement.real,
            "u_imag_m": self.displacement.imag,
            "temperature_amplitude_k": self.temperature_amplitude,
            "temperature_phase_deg": self.temperature_phase_deg,
            "temperature_real_k": self.temperature.real,
            "temperature_imag_k": self.temperature.imag,
            "heating_power_real_w": self.heating_power.real,
            "heating_power_imag_w": self.heating_power.imag,
            "method": self.method,
        }


class DiskAverage:
    """Weighted average of one scalar component of a field over a top-surface disk of a domain: a dot
    product with a weight vector assembled once.

    ``component`` is the component read, a UFL expression of a test function (the function itself for
    a scalar space, e.g. ``v[1]`` for the vertical displacement); ``radius`` is in m (a mesh vertex);
    ``weighting`` is 'uniform' or 'hertz'. The weights are the integrals of the basis functions times
    the weight over the disk, divided by their sum (the integral of the weight: the Lagrange basis sums
    to one), so the average of a field is the sum of its values times the weights.
    """

    def __init__(self, domain, component, radius: float, weighting: str):
        distance = domain.lateral_distance
        weight = hertz_weight(distance, domain.spec.scaled(radius)) if weighting == "hertz" else 1.0
        measure = domain.disk(radius, degree=AVERAGE_QUADRATURE_DEGREE)
        form = fem.form(ufl.conj(component) * weight * domain.weight * measure)  # a real basis: conj is formal
        V = form.function_spaces[0]
        weights = fem.assemble_vector(form)
        weights.scatter_reverse(la.InsertMode.add)
        owned = weights.array[: V.dofmap.index_map.size_local * V.dofmap.index_map_bs]
        self.comm = domain.comm
        self.dofs = np.flatnonzero(owned).astype(np.int32)
        self.weights = owned[self.dofs] / self._sum(owned.sum())

    def _sum(self, local: complex) -> complex:
        total = np.array([local], dtype=np.complex128)
        self.comm.Allreduce(MPI.IN_PLACE, total, op=MPI.SUM)
        return complex(total[0])

    def __call__(self, field: fem.Function) -> complex:
        """The average of ``field`` (a Function of the component's space, in its units)."""
        return self._sum(self.weights @ field.x.array[self.dofs])


def hertz_weight(r, radius):
    """Hertz contact-pressure shape sqrt(1 - r^2/a^2), zero outside the contact."""
    return ufl.sqrt(ufl.max_value(1 - (r / radius) ** 2, 0.0))
