"""Temperature limits: refuse a heating whose tip temperature means nothing.

The model is a perturbation about the ambient temperature T_amb: the tip temperature is
T_amb + theta_DC + sum_n Re(theta_n e^{i n w t}). It must stay above 0 K, and below the highest
temperature the material under the tip stands as the solid the model describes
(:attr:`~stimsim.materials.Material.max_temperature`, e.g. the melting point of PTFE). A heating that
breaks either bound is refused with an :class:`~stimsim.errors.InputError` that names the study key
setting the heating, the temperature reached, the limit and about how far to lower the key.

Two checks, one rule (:func:`check_range`):

* :func:`check_study`, before any solve, from the study alone: the steady rise of a uniformly heated
  disk (a Gaussian spot for the laser) on a half-space and its oscillation at the lowest heating
  frequency (:mod:`stimsim.analytic`), on the most favourable of the sample's materials, so the
  estimate does not exceed the solved temperatures of a film either (with a margin
  :data:`ESTIMATE_MARGIN`); heater modes through the heater balance (the tip temperature is a fraction of
  the heater's). It catches the huge heatings that would otherwise end in a solver failure.
* :func:`check_temperatures`, after the solve, on the solved tip harmonics (rows of
  :class:`~stimsim.response.TipResponse`) and the solved DC rise of the base state.

Both are public and take plain values, so that any solver (harmonic balance, time domain) can call them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stimsim.errors import InputError

#: Estimated rises are multiplied by this before the pre-solve check (the estimate is a half-space
#: model; the mesh's finite domain lowers the solved rise by about a percent): refusals before the
#: solve are certain, borderline cases are left to :func:`check_temperatures`.
ESTIMATE_MARGIN = 0.95

#: How the tip temperature scales with each heating key: 1 (linear in it) or 2 (quadratic: voltages),
#: and which parts it scales ('dc', 'ac' or both).
_SCALING = {
    "excitation.power_amplitude": (1, ("ac",)),
    "excitation.dc_power": (1, ("dc",)),
    "excitation.heater_temperature_amplitude": (1, ("ac",)),
    "excitation.mean_power": (1, ("dc", "ac")),
    "excitation.ac_voltage": (2, ("dc", "ac")),
    "excitation.dc_voltage": (2, ("dc", "ac")),
    "protocol.dc_series.dc_powers": (1, ("dc",)),
}
_UNITS = {"power_amplitude": "W", "dc_power": "W", "heater_temperature_amplitude": "K", "mean_power": "W",
          "ac_voltage": "V", "dc_voltage": "V", "dc_powers": "W"}


@dataclass(frozen=True)
class TipTemperature:
    """Tip temperature above ambient (K): the DC rise and the summed amplitudes of its harmonics."""

    dc_rise: float
    oscillation: float


def heating_keys(study) -> tuple[str, str | None]:
    """(key of the oscillating heating, key of the DC heating or None) of the study's mode."""
    exc = study.excitation
    if exc.mode == "power":
        return "excitation.power_amplitude", "excitation.dc_power"
    if exc.mode == "heater":
        return "excitation.heater_temperature_amplitude", None
    if exc.mode == "laser":
        return "excitation.mean_power", "excitation.mean_power"
    dc = "excitation.dc_voltage" if exc.dc_voltage else "excitation.ac_voltage"
    return "excitation.ac_voltage", dc


def _halfspace_response(study, material, omega: float) -> float:
    """|tip temperature| (K) per W absorbed by a half-space of ``material`` at ``omega`` (rad/s)."""
    from stimsim import analytic

    exc, tip = study.excitation, study.tip
    k, kappa = material.thermal_conductivity, material.thermal_diffusivity
    if exc.mode == "laser":
        value = analytic.gaussian_halfspace_temperature(
            1.0, exc.beam_radius, tip.contact_radius, k, kappa, omega, absorption_length=exc.absorption_length
        )
        return abs(value)
    if omega == 0:
        return analytic.steady_disk_average_temperature(1.0, tip.thermal_contact_radius, k)
    return abs(analytic.halfspace_temperature(1.0, tip.thermal_contact_radius, k, kappa, omega))


def _response(study, omega: float) -> float:
    """The smallest half-space tip response (K/W) among the sample's materials (a film's lies between)."""
    return min(_halfspace_response(study, m, omega) for m in study.sample.materials())


def estimate(study, dc_power: float | None = None) -> TipTemperature:
    """Estimated tip temperature above ambient (K) before any solve: DC rise and the oscillation at the
    lowest drive frequency. ``dc_power`` (W) replaces the study's DC heating power (the sample's power
    for 'power' and 'laser' (absorbed), the heater's electrical power for 'joule')."""
    from stimsim.drives import joule_power_harmonics

    exc = study.excitation
    omega = 2 * math.pi * min(exc.frequencies)
    if exc.mode == "power":
        dc = exc.dc_power if dc_power is None else dc_power
        return TipTemperature(_response(study, 0.0) * dc, _response(study, omega) * exc.power_amplitude)
    if exc.mode == "laser":
        absorbed = exc.absorptance * exc.mean_power if dc_power is None else dc_power
        ac = exc.absorptance * exc.modulation_depth * exc.mean_power
        return TipTemperature(_response(study, 0.0) * absorbed, _response(study, omega) * ac)

    def tip_per_heater(w: float) -> tuple[float, float]:
        """(|tip / heater temperature|, sample admittance seen by the heater (W/K)) at w (rad/s)."""
        z = _response(study, w)
        g = exc.contact_conductance
        return g * z / (1 + g * z), g / (1 + g * z)

    if exc.mode == "heater":
        return TipTemperature(0.0, tip_per_heater(omega)[0] * exc.heater_temperature_amplitude)
    powers = joule_power_harmonics(study.excitation)
    if dc_power is not None:
        powers[0] = dc_power
    dc = oscillation = 0.0
    for n, power in powers.items():
        ratio, admittance = tip_per_heater(n * omega)
        heater = power / abs(exc.heater_conductance + admittance + 1j * n * omega * exc.heater_heat_capacity)
        if n == 0:
            dc = ratio * heater
        else:
            oscillation += ratio * heater
    return TipTemperature(dc, oscillation)


def check_study(study, dc_power: float | None = None, key: str | None = None) -> None:
    """Refuse, before any solve, a study whose heating takes the tip below 0 K or above the material's
    limit by the :func:`estimate` (``dc_power``, W: another DC heating power, named ``key`` in the
    message)."""
    found = estimate(study, dc_power)
    try:
        check_range(study, ESTIMATE_MARGIN * found.dc_rise, ESTIMATE_MARGIN * found.oscillation, "", key, dc_power)
    except InputError:  # certain: report the estimate itself
        check_range(study, found.dc_rise, found.oscillation, "estimated before solving", key, dc_power)


def check_temperatures(study, rows, dc_rise: float = 0.0, key: str | None = None, dc_value: float | None = None) -> None:
    """Refuse solved tip harmonics ``rows`` (:class:`~stimsim.response.TipResponse`: ``.temperature``
    complex K, ``.kind``, ``.drive_frequency``) about the solved DC tip rise ``dc_rise`` (K) whose
    temperature leaves [0 K, the material's limit] at some drive frequency."""
    by_frequency: dict[float, float] = {}
    for row in rows:
        if row.kind in ("thermal", "ionic"):  # 'total' rows repeat their sum
            by_frequency[row.drive_frequency] = by_frequency.get(row.drive_frequency, 0.0) + abs(row.temperature)
    if not by_frequency:
        check_range(study, dc_rise, 0.0, "solved", dc_key=key, dc_value=dc_value)
    for frequency, oscillation in by_frequency.items():
        check_range(study, dc_rise, oscillation, f"solved at {frequency:g} Hz", dc_key=key, dc_value=dc_value)


def base_rise(model) -> float:
    """Solved DC tip temperature rise (K) of a model's base state (collective)."""
    return float(model.tip_values(model.base)[1].real)


def check_model(model, rows, key: str | None = None, dc_value: float | None = None) -> None:
    """:func:`check_temperatures` of a solved model (its study and base state) and its ``rows``."""
    check_temperatures(model.study, rows, base_rise(model), key, dc_value)


def check_range(study, dc_rise: float, oscillation: float, where: str, dc_key=None, dc_value=None) -> None:
    """The rule of both checks: 0 K < T_amb + dc_rise -/+ oscillation < the top material's limit."""
    ambient = study.excitation.ambient_temperature
    top = study.sample.material
    ac_key, default_dc_key = heating_keys(study)
    low, high = ambient + dc_rise - oscillation, ambient + dc_rise + oscillation
    if low < 0:
        bound = _bound(study, ac_key, None, lambda s_dc, s_ac: ambient + dc_rise * s_dc - oscillation * s_ac, 0.0)
        advice = f"lower it below about {bound}" if bound else "lower it"
        if ac_key == "excitation.power_amplitude":
            advice += f" or raise excitation.dc_power (the tip needs a DC rise of at least {oscillation - ambient:.3g} K)"
        raise InputError(
            ac_key, f"{_value(study, ac_key, None)} makes the tip temperature oscillate by {oscillation:.4g} K about "
            f"{ambient + dc_rise:.4g} K ({where}): it would fall to {low:.4g} K, below 0 K, where the model means "
            f"nothing; {advice}"
        )
    if high > top.max_temperature:
        key, value = ac_key, None
        if dc_rise >= oscillation and default_dc_key is not None:
            key, value = (dc_key, dc_value) if dc_key else (default_dc_key, None)
        bound = _bound(study, key, value, lambda s_dc, s_ac: ambient + dc_rise * s_dc + oscillation * s_ac,
                       top.max_temperature)
        advice = f"lower it below about {bound}" if bound else "lower it"
        raise InputError(
            key, f"{_value(study, key, value)} heats the tip to {high:.4g} K ({where}), above the "
            f"{top.max_temperature:g} K that {top.name} stands ({top.max_temperature_note}); {advice}"
        )


def _value(study, key: str, value) -> str:
    name = key.rpartition(".")[2]
    if value is not None and not key.startswith("excitation."):
        return f"(at a DC heating power of {value:g} W)"
    value = getattr(study.excitation, name, None)
    return f"= {value:g} {_UNITS.get(name, '')}".rstrip() if value is not None else ""


def _bound(study, key: str, value, temperature, target: float) -> str:
    """About the largest value of ``key`` for which ``temperature(s_dc, s_ac)`` reaches ``target``,
    with the DC and AC rises scaled as the key scales them (a text with the unit, or '')."""
    name = key.rpartition(".")[2]
    if value is None:
        value = getattr(study.excitation, name, None)
    if not value or key not in _SCALING:
        return ""
    power, parts = _SCALING[key]
    dc_part = temperature(1.0, 0.0) - temperature(0.0, 0.0)
    ac_part = temperature(0.0, 1.0) - temperature(0.0, 0.0)
    fixed = temperature(0.0, 0.0) + (0 if "dc" in parts else dc_part) + (0 if "ac" in parts else ac_part)
    scaled = (dc_part if "dc" in parts else 0.0) + (ac_part if "ac" in parts else 0.0)
    if scaled == 0:
        return ""
    factor = (target - fixed) / scaled
    if factor <= 0:
        return ""
    return f"{value * factor ** (1 / power):.3g} {_UNITS[name]}"
