"""Heating modes ("drives"): one object per mode behind one small interface.

A drive says what the scaled heating amplitude 1 stands for (:attr:`Drive.scale`, in
:attr:`Drive.scale_unit`), which harmonics of the drive frequency it heats at (:attr:`Drive.harmonics`,
DC apart), how its heat enters the sample (:meth:`Drive.heat_input`), its heater balance where it has
one (:attr:`Drive.balance`), and which tip harmonic carries the thermal and which the ionic channel
(:attr:`Drive.channels`), and for the limits checked before solving (:mod:`stimsim.solve.limits`): which study
keys set its heating (:attr:`Drive.oscillating_key`, :attr:`Drive.dc_key`) and a half-space estimate of
the tip temperature (:meth:`Drive.halfspace_response`, :meth:`Drive.tip_rise`). Nothing outside this
module asks for the mode's name.

Every physical signal is real, x(t) = X0 + sum_n Re(X_n e^{i n w t}) (docs/theory/harmonics.md). The drives:

* :class:`PowerDrive`: a prescribed heat flow P1 cos(wt) (+ a DC power) into the heated disk;
* :class:`LaserDrive`: an absorbed power A m P (1 + cos(wt)/m), Gaussian on the surface or Beer–Lambert in depth;
* :class:`HeaterDrive`: a prescribed heater-temperature oscillation coupled through the contact conductance G_c;
* :class:`JouleDrive`: a heater at V0 + V1 cos(wt) across R, whose temperature follows from its balance
  i n w C_h theta_n + G_h theta_n + G_c (theta_n - theta_tip) = P_n (:class:`HeaterBalance`). With a
  resistance temperature coefficient beta, R = R0 (1 + beta theta_h), its power V^2/R gains harmonics
  beyond the ideal ones (:func:`heater_dc_temperature`, :func:`heater_power_harmonics`): the sample
  answers them linearly, reported as 'nonionic' rows (:attr:`Drive.background_harmonics`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stimsim.core.errors import InputError
from stimsim.physics import analytic, heat


#: Highest multiple of the drive frequency that is reported.
MAX_HARMONIC = 4
#: Relative difference within which a DC power asked of a Joule drive is its own pure-AC DC power
#: V1^2/(2R) (:meth:`JouleDrive.dc_power_changes`: DC voltage 0, not a rounding error's millivolts).
OWN_POWER_MATCH = 1e-6

#: The study key of the heater's resistance temperature coefficient.
TCR_KEY = "excitation.heater_temperature_coefficient"


@dataclass(frozen=True)
class Channels:
    """Lock-in harmonics of the two STIM channels: the lowest heating harmonic (thermal) and twice the
    highest one (ionic, the second order)."""

    thermal: int
    ionic: int


@dataclass(frozen=True)
class HeatingKey:
    """A study key that sets a drive's heating, with its ``value`` in ``unit``, and how the tip
    temperature rise scales with it: as the value to the power ``exponent`` (1: powers and temperatures,
    2: voltages), in the ``parts`` of the rise it sets ('dc', 'ac' or both; empty: no simple scaling)."""

    key: str
    value: float
    unit: str
    exponent: int = 1
    parts: tuple[str, ...] = ("ac",)


@dataclass(frozen=True)
class HeaterBalance:
    """Heat balance of a heater of heat capacity ``capacity`` (J/K) losing ``loss`` (W/K) to the
    cantilever and coupled to the sample through the contact conductance ``contact`` (W/K):
    (i n w C_h + G_h + G_c (1 - Z)) theta_h = P, with Z the sample's tip temperature per heater
    temperature at that frequency."""

    capacity: float
    loss: float
    contact: float

    def admittance(self, angular_frequency: float) -> complex:
        """i w C_h + G_h (W/K): the heater's own part of the balance at ``angular_frequency`` (rad/s)."""
        return 1j * angular_frequency * self.capacity + self.loss

    def temperature(self, power: float, angular_frequency: float, tip_per_heater: complex) -> complex:
        """Heater temperature (K) of the power harmonic ``power`` (W)."""
        return power / (self.admittance(angular_frequency) + self.contact * (1 - tip_per_heater))

    def temperature_tangent(
        self, power: float, angular_frequency: float, tip_per_heater: complex, d_tip_per_heater: complex,
        d_contact: float,
    ) -> complex:
        """Change of :meth:`temperature` (K) with a change ``d_tip_per_heater`` of Z and ``d_contact``
        (W/K) of G_c."""
        total = self.admittance(angular_frequency) + self.contact * (1 - tip_per_heater)
        theta = power / total
        return -theta / total * (-self.contact * d_tip_per_heater + d_contact * (1 - tip_per_heater))


@dataclass(frozen=True)
class HeatInput:
    """UFL forms of a drive's heat input: ``source`` (the heating linear form, times the scaled heating
    amplitude) and ``exchange`` (the Robin term of a heater, a bilinear-in-theta residual, or None)."""

    source: object
    exchange: object = None


class Drive:
    """Interface of a heating mode. Subclasses set :attr:`scale`, :attr:`scale_unit`, :attr:`harmonics`
    and :attr:`dc_heating`, and write :meth:`heat_input`."""

    #: What the scaled heating amplitude 1 stands for, in :attr:`scale_unit` ('W' or 'K').
    scale: float
    scale_unit: str
    #: Heating harmonics n >= 1 of the drive frequency and their scaled amplitudes; DC apart.
    harmonics: dict[int, complex]
    #: Further harmonics (<= MAX_HARMONIC) at which a nonlinear heater heats: a background the sample
    #: answers linearly ('nonionic' rows), not a channel; amplitudes from :meth:`heating_spectrum`.
    background_harmonics: tuple[int, ...] = ()
    #: Scaled DC heating of the base state (drives without a balance; see :meth:`base_heating`).
    dc_heating: float = 0.0
    #: The heater balance (None: the heating does not depend on the sample).
    balance: HeaterBalance | None = None
    #: Contact conductance G_c (W/K) through which a heater heats the sample (None: a heat flow).
    contact_conductance: float | None = None
    #: The study's own DC heating power (W): into the sample, absorbed, or the heater's electrical power.
    dc_power: float = 0.0
    #: The study key of the oscillating heating, and of the DC heating (None: the drive has none).
    oscillating_key: HeatingKey
    dc_key: HeatingKey | None = None

    def __init__(self, excitation, tip):
        self.excitation, self.tip = excitation, tip

    @property
    def channels(self) -> Channels:
        """Lock-in harmonics of the thermal and the ionic channel."""
        return Channels(thermal=min(self.harmonics), ionic=2 * max(self.harmonics))

    @property
    def highest_harmonic(self) -> int:
        """Highest multiple of a drive frequency at which the model solves (the second order)."""
        return 2 * max(self.harmonics)

    @property
    def heated_radius(self) -> float:
        """Radius (m) of the disk whose mean temperature is reported as the tip temperature."""
        return self.tip.thermal_contact_radius

    def surface_radii(self) -> dict[str, float]:
        """Radii (m) on the top surface where the heat input or the averaging changes, by study key."""
        return {"tip.contact_radius": self.tip.contact_radius, "tip.thermal_contact_radius": self.tip.thermal_contact_radius}

    def heating(self, harmonic: int, frequency: float, tip_per_heater: complex | None = None) -> complex:
        """Scaled heating amplitude of ``harmonic`` of the drive ``frequency`` (Hz); ``tip_per_heater``
        (the sample's tip temperature per heater temperature there) is needed only with a balance."""
        return self.harmonics[harmonic]

    def heating_spectrum(self, frequency: float, tip_per_heater: dict, base_heating: float) -> dict[int, complex]:
        """Scaled heating amplitudes of the harmonics and the background harmonics of the drive
        ``frequency`` (Hz), with the sample's tip temperature per heater temperature ``tip_per_heater``
        by harmonic (None without a balance) and the scaled DC heating ``base_heating`` of the base state."""
        return {n: self.heating(n, frequency, tip_per_heater[n]) for n in self.harmonics}

    def base_heating(self, tip_per_heater: complex | None = None) -> float:
        """Scaled DC heating of the base state; ``tip_per_heater`` at zero frequency is needed only
        with a balance."""
        return self.dc_heating

    def heating_tangent(self, harmonic: int, frequency: float, tip_per_heater, d_tip_per_heater, d_contact: float) -> complex:
        """Change of :meth:`heating` with a change ``d_tip_per_heater`` of the tip temperature per
        heater temperature and ``d_contact`` (W/K) of the contact conductance: zero without a balance."""
        return 0.0

    def base_heating_tangent(self, tip_per_heater, d_tip_per_heater, d_contact: float) -> complex:
        """Change of :meth:`base_heating`, as :meth:`heating_tangent`."""
        return 0.0

    def dc_heating_per_watt(self, tip_per_heater: complex | None = None) -> float:
        """Scaled DC heating per watt of DC power (W^-1); ``tip_per_heater`` at zero frequency is
        needed only with a balance."""
        raise InputError("excitation.mode", f"= {self.excitation.mode!r} has no DC heating power: use 'power', 'laser' or 'joule'")

    def dc_power_changes(self, power: float, key: str) -> dict[str, float]:
        """The study keys and values (SI) that set the drive's DC heating power (:attr:`dc_power`) to
        ``power`` (W) and leave its oscillating heating as it is; an InputError naming ``key`` (where the
        power was asked for) if the mode has no DC heating power or cannot make ``power``."""
        raise InputError(
            key, f"is not accepted with excitation.mode = {self.excitation.mode!r}, which has no DC heating power "
            "(modes with one: 'power' sets excitation.dc_power, 'laser' excitation.mean_power, 'joule' excitation.dc_voltage)"
        )

    def heat_flow(self, heating: complex, tip_temperature: complex) -> complex:
        """Heat flow (W) into the sample of a heating harmonic of scaled amplitude ``heating`` with the
        tip temperature ``tip_temperature`` (K)."""
        return complex(heating * self.scale)

    def temperature_scale(self, conductivity: float, length: float) -> float:
        """Temperature (K) that the scaled heating 1 makes, roughly, under a contact of radius
        ``length`` (m) on a conductivity ``conductivity`` (W/(m K)): the model's temperature unit."""
        return self.scale / (math.pi * length * conductivity)

    def halfspace_response(self, material, angular_frequency: float) -> float:
        """|Tip temperature| (K) per W into a half-space of ``material`` at ``angular_frequency``
        (rad/s): a uniformly heated disk of the heated radius, averaged over it (analytic, docs/validation/verification.md)."""

        k, radius = material.thermal_conductivity, self.heated_radius
        if angular_frequency == 0:
            return analytic.steady_disk_average_temperature(1.0, radius, k)
        return abs(analytic.halfspace_temperature(1.0, radius, k, material.thermal_diffusivity, angular_frequency))

    def tip_rise(self, response, angular_frequency: float, dc_power: float | None = None) -> tuple[float, float]:
        """Estimated tip temperature above ambient (K): (DC rise, summed amplitudes of the heating
        harmonics of the drive's ``angular_frequency`` (rad/s)), from ``response(w)``, the sample's tip
        temperature per W (K/W) at w (:meth:`halfspace_response`). ``dc_power`` (W) replaces the study's DC power."""
        dc = self.dc_power if dc_power is None else dc_power
        oscillation = sum(response(n * angular_frequency) * abs(a) for n, a in self.harmonics.items())
        return response(0.0) * dc, oscillation * self.scale

    def heat_input(self, domain, theta, v, heating, contact, power_scale: float) -> HeatInput:
        """The heat input of the scaled heating amplitude ``heating`` (a Constant) on ``domain`` for the
        test function ``v``; ``contact`` is the scaled contact conductance per area (a Constant) of the
        drives with :attr:`contact_conductance`, and ``power_scale`` the model's power unit (W)."""
        raise NotImplementedError


class PowerDrive(Drive):
    """A prescribed heat flow into the heated disk: the scale is the power amplitude (W)."""

    scale_unit = "W"

    def __init__(self, excitation, tip):
        super().__init__(excitation, tip)
        self.scale = excitation.power_amplitude
        self.harmonics = {1: 1.0}
        self.dc_power = excitation.dc_power
        self.dc_heating = excitation.dc_power / excitation.power_amplitude
        self.oscillating_key = HeatingKey("excitation.power_amplitude", excitation.power_amplitude, "W")
        self.dc_key = HeatingKey("excitation.dc_power", excitation.dc_power, "W", parts=("dc",))

    def dc_heating_per_watt(self, tip_per_heater=None) -> float:
        return 1.0 / self.scale

    def dc_power_changes(self, power: float, key: str) -> dict[str, float]:
        return {"excitation.dc_power": power}

    def heat_input(self, domain, theta, v, heating, contact, power_scale: float) -> HeatInput:
        disk = domain.disk(self.heated_radius)
        flux = domain.constant(self.scale / power_scale / domain.integral(domain.weight * disk))
        return HeatInput(flux * heat.surface_heating(heating, v, domain.weight, disk))


class LaserDrive(Drive):
    """An absorbed laser power A P (1 + m cos wt), Gaussian of 1/e^2 radius w on the surface or
    Beer–Lambert in depth: the scale is the absorbed first-harmonic power A m P (W)."""

    scale_unit = "W"

    def __init__(self, excitation, tip):
        super().__init__(excitation, tip)
        self.scale = excitation.absorptance * excitation.modulation_depth * excitation.mean_power
        self.harmonics = {1: 1.0}
        self.dc_power = excitation.absorptance * excitation.mean_power
        self.dc_heating = 1.0 / excitation.modulation_depth
        self.oscillating_key = self.dc_key = HeatingKey("excitation.mean_power", excitation.mean_power, "W", parts=("dc", "ac"))

    @property
    def heated_radius(self) -> float:
        return self.tip.contact_radius

    def surface_radii(self) -> dict[str, float]:
        return {"tip.contact_radius": self.tip.contact_radius, "excitation.beam_radius": self.excitation.beam_radius}

    def dc_heating_per_watt(self, tip_per_heater=None) -> float:
        return 1.0 / self.scale

    def dc_power_changes(self, power: float, key: str) -> dict[str, float]:
        """The mean power A P = ``power`` with the modulation depth that keeps the absorbed oscillation
        A m P: possible down to ``power`` = A m P (m = 1)."""
        if power < self.scale * (1 - 1e-12):
            raise InputError(
                key, f"= {power:g} W is below the absorbed oscillation amplitude {self.scale:g} W (A m P): the laser "
                "power would have to go negative (modulation depth above 1)"
            )
        return {"excitation.mean_power": power / self.excitation.absorptance, "excitation.modulation_depth": min(self.scale / power, 1.0)}

    def halfspace_response(self, material, angular_frequency: float) -> float:
        """|Tip temperature| (K) per W absorbed by a half-space of ``material``: the Gaussian spot (on the
        surface or in depth) averaged over the contact."""

        exc = self.excitation
        return abs(analytic.gaussian_halfspace_temperature(
            1.0, exc.beam_radius, self.tip.contact_radius, material.thermal_conductivity, material.thermal_diffusivity,
            angular_frequency, absorption_length=exc.absorption_length,
        ))

    def heat_input(self, domain, theta, v, heating, contact, power_scale: float) -> HeatInput:
        """Gaussian normalised on the mesh surface, so the absorbed power is exact; a Beer–Lambert depth
        profile e^{z/delta}/delta integrates to 1 over the infinite depth (the power absorbed below the
        domain is lost, as it physically is); the film and the substrate absorb alike."""
        exc, spec, top = self.excitation, domain.spec, domain.top_surface()
        shape = heat.gaussian_profile(domain.lateral_distance, spec.scaled(exc.beam_radius))
        density = domain.constant(self.scale / power_scale / domain.integral(shape * domain.weight * top))
        if exc.absorption_length is None:
            return HeatInput(density * heat.surface_heating(heating * shape, v, domain.weight, top))
        depth = heat.absorption_profile(domain.height, spec.scaled(exc.absorption_length))
        return HeatInput(density * heat.volume_heating(heating * shape * depth, v, domain.weight, domain.dx))


class HeaterDrive(Drive):
    """A prescribed heater-temperature oscillation coupled to the heated disk through G_c: the scale is
    the heater-temperature amplitude (K)."""

    scale_unit = "K"

    def __init__(self, excitation, tip):
        super().__init__(excitation, tip)
        self.scale = excitation.heater_temperature_amplitude
        self.harmonics = {1: 1.0}
        self.contact_conductance = excitation.contact_conductance
        self.oscillating_key = HeatingKey("excitation.heater_temperature_amplitude", excitation.heater_temperature_amplitude, "K")

    def tip_fraction(self, response: float) -> float:
        """|Tip / heater temperature| through the contact conductance G_c onto a sample whose tip
        temperature per W is ``response`` (K/W): G_c z / (1 + G_c z)."""
        g = self.contact_conductance
        return g * response / (1 + g * response)

    def tip_rise(self, response, angular_frequency: float, dc_power: float | None = None) -> tuple[float, float]:
        """The heater temperature times :meth:`tip_fraction`; no DC rise (``dc_power`` is not used)."""
        return 0.0, self.tip_fraction(response(angular_frequency)) * self.scale

    def heat_flow(self, heating: complex, tip_temperature: complex) -> complex:
        return self.contact_conductance * (heating * self.scale - tip_temperature)

    def temperature_scale(self, conductivity: float, length: float) -> float:
        return self.scale

    def heat_input(self, domain, theta, v, heating, contact, power_scale: float) -> HeatInput:
        disk = domain.disk(self.heated_radius)
        return HeatInput(
            source=contact * heat.surface_heating(heating, v, domain.weight, disk),
            exchange=heat.contact_exchange(theta, v, contact, domain.weight, disk),
        )


class JouleDrive(HeaterDrive):
    """A Joule heater at V0 + V1 cos(wt) across R: power (V0^2 + V1^2/2)/R at DC, 2 V0 V1/R at w and
    V1^2/(2R) at 2w; each power harmonic sets a heater temperature through :class:`HeaterBalance`. The
    scale is the heater temperature that the largest AC power harmonic would make without the sample,
    P / (G_h + G_c) (K), at the cold resistance R0.

    With ``excitation.heater_temperature_coefficient`` beta (1/K) the resistance is R0 (1 + beta theta_h):
    the DC heater temperature solves its balance with the hot resistance (:func:`heater_dc_temperature`),
    and the power harmonics up to MAX_HARMONIC follow from the periodic heater temperature
    (:func:`heater_power_harmonics`), those beyond the ideal ones as :attr:`background_harmonics`."""

    def __init__(self, excitation, tip):
        Drive.__init__(self, excitation, tip)
        self.contact_conductance = excitation.contact_conductance
        self.balance = HeaterBalance(excitation.heater_heat_capacity, excitation.heater_conductance, excitation.contact_conductance)
        powers = joule_power_harmonics(excitation)
        self.dc_power = powers.pop(0, 0.0)
        self.powers = powers
        self.coefficient = excitation.heater_temperature_coefficient or 0.0
        if self.coefficient:
            heated = range(1, MAX_HARMONIC + 1) if excitation.dc_voltage else range(2, MAX_HARMONIC + 1, 2)
            self.background_harmonics = tuple(n for n in heated if n not in powers)
        self.scale = max(powers.values()) / (excitation.heater_conductance + excitation.contact_conductance)
        self.harmonics = dict.fromkeys(powers, None)  # amplitudes from the balance (:meth:`heating`)
        self.oscillating_key = HeatingKey("excitation.ac_voltage", excitation.ac_voltage, "V", 2, ("dc", "ac"))
        self.dc_key = self.oscillating_key
        if excitation.dc_voltage:
            self.dc_key = HeatingKey("excitation.dc_voltage", excitation.dc_voltage, "V", 2, ("dc", "ac"))

    def heating(self, harmonic: int, frequency: float, tip_per_heater: complex | None = None) -> complex:
        if self.coefficient:  # the harmonics depend on each other: only heating_spectrum has them
            raise InputError(TCR_KEY, "couples the heater's harmonics: they are defined only together (heating_spectrum)")
        omega = 2 * math.pi * harmonic * frequency
        return self.balance.temperature(self.powers[harmonic], omega, tip_per_heater) / self.scale

    def heating_spectrum(self, frequency: float, tip_per_heater: dict, base_heating: float) -> dict[int, complex]:
        """With a temperature coefficient, the heater temperature theta_n = T_n P_n of every power
        harmonic (T_n = 1 / (i n w C_h + G_h + G_c (1 - Z_n)), K/W) about the base state's heater
        temperature ``base_heating`` times the scale."""
        if not self.coefficient:
            return super().heating_spectrum(frequency, tip_per_heater, base_heating)
        transfer = {
            n: self.balance.temperature(1.0, 2 * math.pi * n * frequency, tip_per_heater[n])
            for n in (*self.powers, *self.background_harmonics)
        }
        powers = heater_power_harmonics(self.excitation, base_heating * self.scale, transfer)
        return {n: transfer[n] * powers[n] / self.scale for n in transfer}

    def dc_heating_per_watt(self, tip_per_heater: complex | None = None) -> float:
        return self.balance.temperature(1.0, 0.0, complex(tip_per_heater).real).real / self.scale

    def dc_power_changes(self, power: float, key: str) -> dict[str, float]:
        """The DC voltage V0 that makes the electrical DC power (V0^2 + V1^2/2)/R = ``power`` at the AC
        voltage V1: possible down to the pure AC drive's own V1^2/(2R). V0 adds heating at the drive
        frequency too (2 V0 V1/R)."""
        exc = self.excitation
        own = exc.ac_voltage**2 / (2 * exc.heater_resistance)
        if power < own * (1 - OWN_POWER_MATCH):
            raise InputError(key, f"= {power:g} W is below the drive's own DC power {own:g} W (V1^2/(2R) at excitation.dc_voltage = 0)")
        if power <= own * (1 + OWN_POWER_MATCH):  # the pure AC drive itself (a rounded value of its power)
            return {"excitation.dc_voltage": 0.0}
        return {"excitation.dc_voltage": math.sqrt(exc.heater_resistance * power - exc.ac_voltage**2 / 2)}

    def base_heating(self, tip_per_heater: complex | None = None) -> float:
        if self.coefficient:
            transfer = self.balance.temperature(1.0, 0.0, complex(tip_per_heater).real).real
            return heater_dc_temperature(self.excitation, transfer) / self.scale
        return self.dc_heating_per_watt(tip_per_heater) * self.dc_power

    def heating_tangent(self, harmonic: int, frequency: float, tip_per_heater, d_tip_per_heater, d_contact: float) -> complex:
        omega = 2 * math.pi * harmonic * frequency
        return self.balance.temperature_tangent(self.powers[harmonic], omega, tip_per_heater, d_tip_per_heater, d_contact) / self.scale

    def base_heating_tangent(self, tip_per_heater, d_tip_per_heater, d_contact: float) -> complex:
        return self.balance.temperature_tangent(self.dc_power, 0.0, tip_per_heater, d_tip_per_heater, d_contact) / self.scale

    def tip_rise(self, response, angular_frequency: float, dc_power: float | None = None) -> tuple[float, float]:
        """Each power harmonic's heater temperature from the balance with the sample's |tip / heater
        temperature| (:meth:`tip_fraction`), times that fraction; ``dc_power`` (W) replaces the
        heater's DC electrical power."""
        powers = self.powers | {0: self.dc_power if dc_power is None else dc_power}
        rises = {}
        for n, power in powers.items():
            omega = n * angular_frequency
            fraction = self.tip_fraction(response(omega))
            rises[n] = fraction * abs(self.balance.temperature(power, omega, fraction))
        return rises.pop(0), sum(rises.values())


def joule_power_harmonics(excitation) -> dict[int, float]:
    """Electrical power (W) of a heater at V0 + V1 cos(wt) across R, by harmonic of the drive:
    (V0^2 + V1^2/2)/R at 0, 2 V0 V1/R at 1, V1^2/(2R) at 2 (zero terms left out)."""
    v0, v1, resistance = excitation.dc_voltage, excitation.ac_voltage, excitation.heater_resistance
    powers = {0: (v0**2 + v1**2 / 2) / resistance, 1: 2 * v0 * v1 / resistance, 2: v1**2 / (2 * resistance)}
    return {n: p for n, p in powers.items() if p > 0}


def heater_dc_temperature(excitation, transfer: float) -> float:
    """Steady heater temperature rise theta0 (K) of a heater R0 (1 + beta theta) at the mean square
    voltage V0^2 + V1^2/2 (V^2), with ``transfer`` (K/W) the steady heater temperature per W: the root
    of theta (1 + beta theta) = c, c = transfer (V0^2 + V1^2/2) / R0, that tends to c as beta -> 0,
    2c / (1 + sqrt(1 + 4 beta c)). It leaves out the DC power of the heater temperature's oscillation
    beating with V^2 (of order beta theta_n P_n / 2, docs/theory/harmonics.md)."""
    beta = excitation.heater_temperature_coefficient
    square = excitation.dc_voltage**2 + excitation.ac_voltage**2 / 2
    c = transfer * square / excitation.heater_resistance
    if 1 + 4 * beta * c < 0:
        raise InputError(
            TCR_KEY, f"= {beta:g} 1/K leaves the heater no steady temperature (thermal runaway: its resistance falls "
            f"faster than it heats; needs beta > {-1 / (4 * c):.3g} 1/K at this voltage)"
        )
    return 2 * c / (1 + math.sqrt(1 + 4 * beta * c))


def heater_power_harmonics(
    excitation, dc_temperature: float, transfer: dict[int, complex], samples: int = 64,
    tolerance: float = 1e-12, iterations: int = 200,
) -> dict[int, complex]:
    """Power harmonics P_n (W) of V(t)^2 / (R0 (1 + beta (theta0 + theta(t)))), V = V0 + V1 cos(wt), at
    the harmonics n of ``transfer`` (heater temperature per W, K/W), with theta(t) = sum_n Re(transfer[n]
    P_n e^{i n w t}) about the DC heater temperature ``dc_temperature`` theta0 (K): a fixed point on the
    sampled period (``samples`` instants), to a change of ``tolerance`` of the temperature oscillation.
    Its contraction is about |beta theta_n|."""
    beta, r0 = excitation.heater_temperature_coefficient, excitation.heater_resistance
    phases = 2 * np.pi * np.arange(samples) / samples
    square = (excitation.dc_voltage + excitation.ac_voltage * np.cos(phases)) ** 2
    oscillation = np.zeros(samples)
    for _ in range(iterations):
        resistance = r0 * (1 + beta * (dc_temperature + oscillation))
        if resistance.min() <= 0:
            raise InputError(
                TCR_KEY, f"= {beta:g} 1/K makes the heater resistance R0 (1 + beta theta_h) <= 0 at theta_h = "
                f"{dc_temperature + oscillation[np.argmin(resistance)]:.3g} K"
            )
        spectrum = 2 * np.fft.rfft(square / resistance) / samples
        powers = {n: complex(spectrum[n]) for n in transfer}
        updated = sum((transfer[n] * p * np.exp(1j * n * phases)).real for n, p in powers.items())
        change, oscillation = np.abs(updated - oscillation).max(), updated
        if change <= tolerance * np.abs(updated).max():
            return powers
    raise InputError(TCR_KEY, f"= {beta:g} 1/K: the heater's electrothermal feedback did not settle in {iterations} iterations")


#: The drive class of each ``excitation.mode``.
DRIVES: dict[str, type[Drive]] = {"power": PowerDrive, "laser": LaserDrive, "heater": HeaterDrive, "joule": JouleDrive}


def make_drive(excitation, tip) -> Drive:
    """The drive of a validated excitation and tip."""
    return DRIVES[excitation.mode](excitation, tip)


@dataclass(frozen=True)
class SecondOrderPair:
    """A product of two heating harmonics that lands at ``harmonic``: the source is
    -``weight`` R''[X_first, X_second], with X_second conjugated when ``conjugate`` (docs/theory/harmonics.md)."""

    harmonic: int
    first: int
    second: int
    weight: float
    conjugate: bool


def second_order_pairs(harmonics, highest: int = MAX_HARMONIC) -> list[SecondOrderPair]:
    """Every product of the heating ``harmonics``: n with itself at 2n (weight 1/4); n < m at n + m
    (weight 1/2) and at m - n (weight 1/2, with the conjugate of X_n); sums above ``highest`` left out."""
    pairs = []
    ordered = sorted(harmonics)
    for i, n in enumerate(ordered):
        for m in ordered[i:]:
            if n + m <= highest:
                pairs.append(SecondOrderPair(n + m, n, m, 0.25 if n == m else 0.5, False))
            if m > n:
                pairs.append(SecondOrderPair(m - n, m, n, 0.5, True))
    return pairs

