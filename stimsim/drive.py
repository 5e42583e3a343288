"""Drive bookkeeping: which heating harmonics a drive makes, and which tip harmonics they produce.

Every physical signal is real, x(t) = X0 + sum_n Re(X_n e^{i n w t}). The first order answers each heating
harmonic linearly (label 'thermal'). The second order answers products of first-order fields: a
harmonic n with itself lands at 2n with weight 1/4 of -R''[X_n, X_n], two different harmonics n < m land
at n + m with weight 1/2 of -R''[X_n, X_m] and at m - n with weight 1/2 of -R''[X_m, conj(X_n)]
(physics.md section 2; label 'ionic', since only the ionic flux is nonlinear). Tip harmonics 1 to
:data:`MAX_HARMONIC` are reported; where both orders land, a 'total' row gives their sum.
"""

from __future__ import annotations

from stimsim.config import Study
from stimsim.harmonic import HarmonicModel, heating_scale
from stimsim.response import TipResponse

#: Highest multiple of the drive frequency that is reported.
MAX_HARMONIC = 4


def heating_spectrum(study: Study) -> tuple[float, dict[int, complex]]:
    """(DC heating, {harmonic n: complex amplitude}) in units of the first-harmonic heating."""
    exc = study.excitation
    if exc.mode == "power":
        return exc.dc_power / exc.power_amplitude, {1: 1.0}
    if exc.mode == "laser":
        return 1.0 / exc.modulation_depth, {1: 1.0}
    return 0.0, {1: 1.0}


def base_state(model: HarmonicModel) -> None:
    """Solve the model's base state under the study's DC heating."""
    dc, _ = heating_spectrum(model.study)
    model.solve_base_state(dc)


def responses(model: HarmonicModel, frequency: float) -> list[TipResponse]:
    """Labelled tip harmonics 1..MAX_HARMONIC at the drive ``frequency`` (Hz)."""
    _, spectrum = heating_spectrum(model.study)
    first = {n: _scaled(model.solve_first_order(n * frequency), amplitude) for n, amplitude in spectrum.items()}
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
                    model.solve_second_order((m - n) * frequency, first[m], _conjugate(first[n]), 0.5)
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
    """Heat flow into the sample (W) of a heating harmonic of relative amplitude ``heating``."""
    exc = study.excitation
    if exc.mode == "heater":
        if heating == 0:
            return -exc.contact_conductance * tip_temperature
        return exc.contact_conductance * (heating * exc.heater_temperature_amplitude - tip_temperature)
    return complex(heating * heating_scale(study))


def _scaled(fields: dict, amplitude: complex) -> dict:
    for f in fields.values():
        f.x.array[:] *= amplitude
    return fields


def _conjugate(fields: dict) -> dict:
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
