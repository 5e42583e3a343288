"""Drive bookkeeping: which heating harmonics a drive makes, and which tip harmonics they produce.

Every physical signal is real, x(t) = X0 + sum_n Re(X_n e^{i n w t}). The first order answers each heating
harmonic linearly (label 'thermal'). The second order answers products of first-order fields: a
harmonic n with itself lands at 2n with weight 1/4 of -R''[X_n, X_n], two different harmonics n < m land
at n + m with weight 1/2 of -R''[X_n, X_m] and at m - n with weight 1/2 of -R''[X_m, conj(X_n)]
(docs/harmonics.md, 'Products of harmonics'; label 'ionic', since only the ionic flux is nonlinear). Tip harmonics 1 to
:data:`MAX_HARMONIC` are reported; where both orders land, a 'total' row gives their sum.
"""

from __future__ import annotations

import math

from stimsim.config import Study
from stimsim.errors import InputError
from stimsim.harmonic import HEATER_MODES, HarmonicModel, heating_scale, joule_power_harmonics
from stimsim.response import TipResponse

#: Highest multiple of the drive frequency that is reported.
MAX_HARMONIC = 4


def heating_spectrum(study: Study) -> tuple[float, dict[int, complex]]:
    """(DC heating, {harmonic n: amplitude}) in units of :func:`heating_scale`, for the modes whose
    heating does not depend on the sample ('power', 'laser', 'heater')."""
    exc = study.excitation
    if exc.mode == "power":
        return exc.dc_power / exc.power_amplitude, {1: 1.0}
    if exc.mode == "laser":
        return 1.0 / exc.modulation_depth, {1: 1.0}
    return 0.0, {1: 1.0}


def heater_temperature(model: HarmonicModel, harmonic: int, frequency: float, tip_per_heater: complex) -> complex:
    """Heater-temperature amplitude (scaled) of a Joule heater at ``harmonic`` of ``frequency`` (Hz).

    Heater balance i n w C_h theta_h + G_h theta_h + G_c (theta_h - theta_tip) = P_n with
    theta_tip = Z theta_h, Z = ``tip_per_heater`` the sample's tip temperature per heater temperature.
    """
    exc = model.study.excitation
    power = joule_power_harmonics(model.study)[harmonic]
    omega = 2 * math.pi * harmonic * frequency
    admittance = 1j * omega * exc.heater_heat_capacity + exc.heater_conductance
    admittance += exc.contact_conductance * (1 - tip_per_heater)
    return power / admittance / heating_scale(model.study)


def base_state(model: HarmonicModel) -> float:
    """Solve the model's base state under the study's DC heating; returns that DC heating (scaled)."""
    if model.study.excitation.mode != "joule":
        dc = heating_spectrum(model.study)[0]
    else:
        dc = dc_heating_per_watt(model) * joule_power_harmonics(model.study).get(0, 0.0)
    model.solve_base_state(dc)
    return dc


def dc_heating_per_watt(model: HarmonicModel) -> float:
    """Scaled DC heating per watt of DC power: power absorbed by the sample for 'power' and 'laser',
    electrical heater power for 'joule' (through the heater balance at DC, which needs the sample's
    steady tip temperature per heater temperature: one steady solve about the current base state)."""
    study = model.study
    if study.excitation.mode in ("power", "laser"):
        return 1.0 / heating_scale(study)
    if study.excitation.mode != "joule":
        raise InputError("excitation.mode", f"= {study.excitation.mode!r} has no DC heating power: use 'power', 'laser' or 'joule'")
    exc = study.excitation
    tip_per_heater = _tip_per_heater(model, model.solve_first_order(0.0))
    return 1.0 / ((exc.heater_conductance + exc.contact_conductance * (1 - tip_per_heater.real)) * heating_scale(study))


def _tip_per_heater(model: HarmonicModel, unit_fields: dict) -> complex:
    return model.tip_values(unit_fields)[1] / model.scales.temperature


def first_order_fields(model: HarmonicModel, frequency: float) -> tuple[dict[int, dict], dict[int, complex]]:
    """First-order fields and heating amplitudes by harmonic n of the drive ``frequency`` (Hz)."""
    if model.study.excitation.mode == "joule":
        harmonics = [n for n in joule_power_harmonics(model.study) if n > 0]
        fields = {n: model.solve_first_order(n * frequency) for n in harmonics}
        amplitudes = {n: heater_temperature(model, n, frequency, _tip_per_heater(model, fields[n])) for n in harmonics}
    else:
        _, amplitudes = heating_spectrum(model.study)
        fields = {n: model.solve_first_order(n * frequency) for n in amplitudes}
    return {n: _scaled(fields[n], amplitudes[n]) for n in fields}, amplitudes


def responses(model: HarmonicModel, frequency: float) -> list[TipResponse]:
    """Labelled tip harmonics 1..MAX_HARMONIC at the drive ``frequency`` (Hz)."""
    first, spectrum = first_order_fields(model, frequency)
    second: dict[int, list[dict]] = {}
    for n in sorted(first):
        for m in sorted(first):
            if m < n:
                continue
            weight = 0.25 if n == m else 0.5
            if n + m <= MAX_HARMONIC:
                second.setdefault(n + m, []).append(
                    model.solve_second_order((n + m) * frequency, first[n], first[m], weight)
                )
            if m > n:
                second.setdefault(m - n, []).append(
                    model.solve_second_order((m - n) * frequency, first[m], conjugated(first[n]), 0.5)
                )
    rows = []
    for harmonic in range(1, MAX_HARMONIC + 1):
        parts = []
        if harmonic in first:
            parts.append(_row(model, frequency, harmonic, "thermal", 1, [first[harmonic]], spectrum[harmonic]))
        if harmonic in second:
            parts.append(_row(model, frequency, harmonic, "ionic", 2, second[harmonic], 0.0))
        rows += parts
        if len(parts) == 2:
            thermal, ionic = parts
            rows.append(
                TipResponse(
                    frequency, harmonic, "total", 0, thermal.displacement + ionic.displacement,
                    thermal.temperature + ionic.temperature, thermal.heating_power,
                )
            )
    return rows


def _row(model, frequency, harmonic, kind, order, field_sets, heating) -> TipResponse:
    displacement = temperature = 0j
    for fields in field_sets:
        u, t = model.tip_values(fields)
        displacement, temperature = displacement + u, temperature + t
    return TipResponse(
        frequency, harmonic, kind, order, displacement, temperature, _heating_power(model.study, heating, temperature)
    )


def _heating_power(study: Study, heating: complex, tip_temperature: complex) -> complex:
    """Heat flow into the sample (W) of a heating harmonic of scaled amplitude ``heating``."""
    if study.excitation.mode in HEATER_MODES:
        return study.excitation.contact_conductance * (heating * heating_scale(study) - tip_temperature)
    return complex(heating * heating_scale(study))


def _scaled(fields: dict, amplitude: complex) -> dict:
    for f in fields.values():
        f.x.array[:] *= amplitude
    return fields


def conjugated(fields: dict) -> dict:
    """Copies of scaled ``fields`` with complex-conjugated values."""
    copies = {}
    for name, f in fields.items():
        copy = f.copy()
        copy.x.array[:] = f.x.array.conj()
        copies[name] = copy
    return copies


def simulate(study: Study, comm, frequencies=None) -> tuple[list[TipResponse], HarmonicModel]:
    """Build the model, solve the base state and every frequency (Hz; default the study's)."""
    model = HarmonicModel(study, comm)
    base_state(model)
    rows = [row for f in (frequencies or study.excitation.frequencies) for row in responses(model, f)]
    return rows, model
