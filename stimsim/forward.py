"""The forward response: base state, first and second orders at a drive frequency, labelled tip harmonics.

Every physical signal is real, x(t) = X0 + sum_n Re(X_n e^{i n w t}). The first order answers each
heating harmonic of the drive linearly (label 'thermal'). The second order answers the products of
first-order fields listed by :func:`stimsim.drives.second_order_pairs` (label 'ionic', since only the
ionic flux is nonlinear; docs/harmonics.md). Tip harmonics 1 to :data:`~stimsim.drives.MAX_HARMONIC`
are reported; where both orders land, a 'total' row gives their sum.
"""

from __future__ import annotations

from dataclasses import dataclass

from stimsim.drives import MAX_HARMONIC, second_order_pairs
from stimsim.harmonic import HarmonicModel
from stimsim.response import TipResponse


def base_state(model: HarmonicModel) -> float:
    """Solve the model's base state under the drive's DC heating; returns that DC heating (scaled)."""
    dc = model.drive.base_heating(_tip_per_heater(model, 0.0))
    model.solve_base_state(dc)
    return dc


def dc_heating_per_watt(model: HarmonicModel) -> float:
    """Scaled DC heating per watt of DC power (the power absorbed by the sample, or the heater's
    electrical power through its balance at DC about the current base state)."""
    return model.drive.dc_heating_per_watt(_tip_per_heater(model, 0.0))


def _tip_per_heater(model: HarmonicModel, frequency: float, unit_fields: dict | None = None) -> complex | None:
    """The sample's tip temperature per heater temperature at ``frequency`` (Hz) for a drive with a
    heater balance (None otherwise), from ``unit_fields`` or a unit first-order solve."""
    if model.drive.balance is None:
        return None
    return model.tip_per_heater(unit_fields if unit_fields is not None else model.solve_first_order(frequency))


def first_order_fields(model: HarmonicModel, frequency: float) -> tuple[dict[int, dict], dict[int, complex]]:
    """First-order fields and scaled heating amplitudes by heating harmonic n of the drive ``frequency`` (Hz)."""
    fields, amplitudes = {}, {}
    for n in model.drive.harmonics:
        unit = model.solve_first_order(n * frequency)
        amplitudes[n] = model.drive.heating(n, frequency, _tip_per_heater(model, n * frequency, unit))
        fields[n] = scale(unit, amplitudes[n])
    return fields, amplitudes


def second_order_fields(model: HarmonicModel, frequency: float, first: dict[int, dict]) -> dict[int, list[dict]]:
    """Second-order fields by tip harmonic of the drive ``frequency`` (Hz), one per product of heating
    harmonics that lands there (zero fields without ions)."""
    found: dict[int, list[dict]] = {}
    for pair in second_order_pairs(first):
        other = conjugated(first[pair.second]) if pair.conjugate else first[pair.second]
        fields = model.solve_second_order(pair.harmonic * frequency, first[pair.first], other, pair.weight)
        found.setdefault(pair.harmonic, []).append(fields)
    return found


@dataclass(frozen=True)
class HarmonicSolution:
    """The solved fields (scaled) at one drive ``frequency`` (Hz): ``first`` by heating harmonic (the
    drive's amplitudes ``spectrum`` applied) and ``second`` by tip harmonic (one field set per product)."""

    frequency: float
    first: dict[int, dict]
    spectrum: dict[int, complex]
    second: dict[int, list[dict]]

    def fields(self, harmonic: int) -> dict:
        """Everything at ``harmonic`` (first and second orders summed; scaled, name -> Function copy)."""
        sets = ([self.first[harmonic]] if harmonic in self.first else []) + self.second.get(harmonic, [])
        if not sets:
            return {}
        total = {name: f.copy() for name, f in sets[0].items()}
        for fields in sets[1:]:
            for name, f in fields.items():
                total[name].x.array[:] += f.x.array
        return total


def solve_harmonics(model: HarmonicModel, frequency: float) -> HarmonicSolution:
    """First- and second-order fields at the drive ``frequency`` (Hz)."""
    first, spectrum = first_order_fields(model, frequency)
    return HarmonicSolution(frequency, first, spectrum, second_order_fields(model, frequency, first))


def responses(model: HarmonicModel, frequency: float, solution: HarmonicSolution | None = None) -> list[TipResponse]:
    """Labelled tip harmonics 1..MAX_HARMONIC at the drive ``frequency`` (Hz), of ``solution`` (solved
    here by default)."""
    solution = solution or solve_harmonics(model, frequency)
    first, spectrum, second = solution.first, solution.spectrum, solution.second
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
    heat_flow = model.drive.heat_flow(heating, temperature)
    return TipResponse(frequency, harmonic, kind, order, displacement, temperature, heat_flow)


def scale(fields: dict, factor: complex) -> dict:
    """``fields`` multiplied by ``factor`` in place; returns them."""
    for f in fields.values():
        f.x.array[:] *= factor
    return fields


def scaled(fields: dict, factor: complex) -> dict:
    """Copies of ``fields`` times ``factor``."""
    return scale({name: f.copy() for name, f in fields.items()}, factor)


def conjugated(fields: dict) -> dict:
    """Copies of ``fields`` with complex-conjugated values."""
    copies = {name: f.copy() for name, f in fields.items()}
    for f in copies.values():
        f.x.array[:] = f.x.array.conj()
    return copies


def simulate(study, comm, frequencies=None, keep_fields: bool = False):
    """Build the model, solve the base state and every frequency (Hz; default the study's). Returns
    (tip responses, model), and with ``keep_fields`` also the :class:`HarmonicSolution` per frequency."""
    model = HarmonicModel(study, comm)
    base_state(model)
    rows, solutions = [], []
    for f in frequencies or study.excitation.frequencies:
        solution = solve_harmonics(model, f)
        rows += responses(model, f, solution)
        if keep_fields:
            solutions.append(solution)
    return (rows, model, solutions) if keep_fields else (rows, model)
