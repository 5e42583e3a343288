"""Limits of the model: refuse a heating whose temperature or concentration means nothing.

The model is a perturbation about the ambient temperature T_amb: the tip temperature is
T_amb + theta_DC + sum_n Re(theta_n e^{i n w t}). It must stay above 0 K, and below the highest
temperature the material under the tip stands as the solid the model describes
(:attr:`~stimsim.materials.library.Material.max_temperature`, e.g. the melting point of PTFE). The same holds
at every point of the sample, and the concentration c_0 + sum_n Re(c_n e^{i n w t}) of the mobile ions
must stay above zero. A heating that breaks a bound is refused with an
:class:`~stimsim.core.errors.InputError` that names the study key setting the heating, the value reached,
the limit and about how far to lower the key. Which keys set the heating and how the tip temperature
follows them is the drive's to say (:mod:`stimsim.physics.drives`); nothing here depends on the heating mode.

Three checks, one rule each:

* :func:`check_study`, before any solve, from the study alone: the steady rise of a uniformly heated
  disk (a Gaussian spot for the laser) on a half-space and its oscillation at the lowest heating
  frequency (:meth:`~stimsim.physics.drives.Drive.tip_rise`), on the most favourable of the sample's materials, so the
  estimate does not exceed the solved temperatures of a film either (with a margin
  :data:`ESTIMATE_MARGIN`); heater modes through the heater balance (the tip temperature is a fraction of
  the heater's). It catches the huge heatings that would otherwise end in a solver failure.
* :func:`check_temperatures`, after the solve, on the solved tip harmonics (rows of
  :class:`~stimsim.fem.response.TipResponse`) and the solved DC rise of the base state (rule: :func:`check_range`).
* :func:`check_first_order`, after the first-order solve, on the largest theta_1/T and |c_1|/c_0 over the
  sample (:func:`stimsim.solve.validity.validity_parameters`): both must stay below 1.

All are public and take plain values, so that any solver (harmonic balance, time domain) can call them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stimsim.physics.drives import HeatingKey
from stimsim.core.errors import InputError
from stimsim.fem.response import PARTS

#: Estimated rises are multiplied by this before the pre-solve check (the estimate is a half-space
#: model; the mesh's finite domain lowers the solved rise by about a percent): refusals before the
#: solve are certain, borderline cases are left to :func:`check_temperatures`.
ESTIMATE_MARGIN = 0.95

#: Protocol keys whose values are the DC heating power itself (W): a bound on them can be given.
DC_POWER_KEYS = ("protocol.dc_series.dc_powers",)


@dataclass(frozen=True)
class TipTemperature:
    """Tip temperature above ambient (K): the DC rise and the summed amplitudes of its harmonics."""

    dc_rise: float
    oscillation: float


def _response(study, omega: float) -> float:
    """The smallest half-space tip response (K/W) among the sample's materials (a film's lies between)."""
    return min(study.drive.halfspace_response(m, omega) for m in study.sample.materials())


def estimate(study, dc_power: float | None = None) -> TipTemperature:
    """Estimated tip temperature above ambient (K) before any solve: DC rise and the oscillation at the
    lowest drive frequency (:meth:`~stimsim.physics.drives.Drive.tip_rise`). ``dc_power`` (W) replaces the
    study's DC heating power (the sample's power for 'power' and 'laser' (absorbed), the heater's
    electrical power for 'joule')."""
    omega = 2 * math.pi * min(study.excitation.frequencies)
    return TipTemperature(*study.drive.tip_rise(lambda w: _response(study, w), omega, dc_power))


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
    """Refuse solved tip harmonics ``rows`` (:class:`~stimsim.fem.response.TipResponse`: ``.temperature``
    complex K, ``.kind``, ``.drive_frequency``) about the solved DC tip rise ``dc_rise`` (K) whose
    temperature leaves [0 K, the material's limit] at some drive frequency."""
    by_frequency: dict[float, float] = {}
    for row in rows:
        if row.kind in PARTS:  # 'total' rows repeat their sum
            by_frequency[row.drive_frequency] = by_frequency.get(row.drive_frequency, 0.0) + abs(row.temperature)
    if not by_frequency:
        check_range(study, dc_rise, 0.0, "solved", dc_key=key, dc_value=dc_value)
    for frequency, oscillation in by_frequency.items():
        check_range(study, dc_rise, oscillation, f"solved at {frequency:g} Hz", dc_key=key, dc_value=dc_value)


def base_rise(model) -> float:
    """Solved DC tip temperature rise (K) of a model's base state (collective)."""
    return float(model.tip_values(model.base)[1].real)


def check_first_order(study, parameters: dict[float, dict[str, float]]) -> None:
    """Refuse a heating whose solved first order takes the temperature below 0 K (theta_1/T > 1) or the
    concentration below zero (|c_1|/c_0 > 1) anywhere in the sample: ``parameters`` are the validity
    parameters (:func:`stimsim.solve.validity.validity_parameters`, dimensionless) by drive frequency (Hz)."""
    key = study.drive.oscillating_key
    for frequency, found in parameters.items():
        for name, what, floor in (("temperature", "theta_1/T", "0 K"), ("concentration", "|c_1|/c_0", "zero")):
            ratio = found.get(name, 0.0)
            if ratio > 1:  # the first order, and so the ratio, is linear in the oscillating heating
                bound = _bound(key, lambda s_dc, s_ac: ratio * s_ac, 1.0)
                advice = f"lower it below about {bound}" if bound else "lower it"
                raise InputError(
                    key.key, f"{_value(key)} makes the {name} oscillate by {ratio:.3g} times its local mean value "
                    f"({what} = {ratio:.3g} > 1, solved at {frequency:g} Hz): it would fall below {floor} in the sample, "
                    f"where the model means nothing; {advice}"
                )


def check_model(
    model, rows, parameters: dict[float, dict[str, float]], key: str | None = None, dc_value: float | None = None
) -> None:
    """:func:`check_temperatures` of a solved model (its study and base state) and its ``rows``, then
    :func:`check_first_order` of its validity ``parameters`` by drive frequency (Hz)."""
    check_temperatures(model.study, rows, base_rise(model), key, dc_value)
    check_first_order(model.study, parameters)


def check_range(study, dc_rise: float, oscillation: float, where: str, dc_key=None, dc_value=None) -> None:
    """The rule of the tip checks: 0 K < T_amb + dc_rise -/+ oscillation (K) < the top material's limit. A DC
    heating power ``dc_value`` (W) set by another study key ``dc_key`` is named instead of the drive's."""
    ambient = study.excitation.ambient_temperature
    top = study.sample.material
    drive = study.drive
    ac_key = drive.oscillating_key
    low, high = ambient + dc_rise - oscillation, ambient + dc_rise + oscillation
    if low < 0:
        bound = _bound(ac_key, lambda s_dc, s_ac: ambient + dc_rise * s_dc - oscillation * s_ac, 0.0)
        advice = f"lower it below about {bound}" if bound else "lower it"
        if drive.dc_key is not None and "ac" not in drive.dc_key.parts:
            advice += f" or raise {drive.dc_key.key} (the tip needs a DC rise of at least {oscillation - ambient:.3g} K)"
        raise InputError(
            ac_key.key, f"{_value(ac_key)} makes the tip temperature oscillate by {oscillation:.4g} K about "
            f"{ambient + dc_rise:.4g} K ({where}): it would fall to {low:.4g} K, below 0 K, where the model means "
            f"nothing; {advice}"
        )
    _check_conductivity(study, (low - ambient, high - ambient), where)
    if high > top.max_temperature:
        key = ac_key
        if dc_rise >= oscillation and drive.dc_key is not None:
            key = _dc_power_key(dc_key, dc_value) if dc_key else drive.dc_key
        bound = _bound(key, lambda s_dc, s_ac: ambient + dc_rise * s_dc + oscillation * s_ac, top.max_temperature)
        advice = f"lower it below about {bound}" if bound else "lower it"
        raise InputError(
            key.key, f"{_value(key)} heats the tip to {high:.4g} K ({where}), above the "
            f"{top.max_temperature:g} K that {top.name} stands ({top.max_temperature_note}); {advice}"
        )


def _check_conductivity(study, rises: tuple[float, float], where: str) -> None:
    """Refuse a k' (thermal_conductivity_derivative) that makes k(T) = k + k' (T - T_amb) of a material
    zero or negative at the lowest or highest tip temperature rise in ``rises`` (K; k is linear in T,
    so the two ends decide)."""
    sample = study.sample
    keys = {"sample.properties": sample.material, "geometry.substrate_properties": sample.substrate}
    for prefix, material in keys.items():
        if material is None or not material.thermal_conductivity_derivative:
            continue
        for rise in rises:
            if material.conductivity_at(rise) <= 0:
                raise InputError(
                    f"{prefix}.thermal_conductivity_derivative",
                    f"= {material.thermal_conductivity_derivative:g} W/(m K^2) makes k(T) = k + k' (T - T_amb) = "
                    f"{material.conductivity_at(rise):.3g} W/(m K) <= 0 at a temperature rise of {rise:.4g} K ({where}), "
                    f"where conduction means nothing: keep |k'| below {material.thermal_conductivity / abs(rise):.3g} "
                    "W/(m K^2) or lower the heating",
                )


def _dc_power_key(key: str, value: float | None) -> HeatingKey:
    """A study key outside the excitation that sets the DC heating power ``value`` (W): linear in the
    DC rise if it is in :data:`DC_POWER_KEYS`, else without a bound."""
    return HeatingKey(key, value, "W", parts=("dc",) if key in DC_POWER_KEYS else ())


def _value(key: HeatingKey) -> str:
    """How a message names the value of ``key``: '= 1e-06 W', or the DC power a protocol key sets."""
    if not key.key.startswith("excitation."):
        return f"(at a DC heating power of {key.value:g} W)"
    return f"= {key.value:g} {key.unit}"


def _bound(key: HeatingKey, quantity, target: float) -> str:
    """About the largest value of ``key`` for which ``quantity(s_dc, s_ac)`` (a temperature in K or a
    ratio, with the DC and AC rises scaled by s_dc and s_ac) reaches ``target``, the rises scaled as
    the key scales them (a text with the unit, or '')."""
    parts = key.parts
    if not key.value or not parts:
        return ""
    dc_part = quantity(1.0, 0.0) - quantity(0.0, 0.0)
    ac_part = quantity(0.0, 1.0) - quantity(0.0, 0.0)
    fixed = quantity(0.0, 0.0) + (0 if "dc" in parts else dc_part) + (0 if "ac" in parts else ac_part)
    scaled = (dc_part if "dc" in parts else 0.0) + (ac_part if "ac" in parts else 0.0)
    if scaled == 0:
        return ""
    factor = (target - fixed) / scaled
    if factor <= 0:
        return ""
    return f"{key.value * factor ** (1 / key.exponent):.3g} {key.unit}"
