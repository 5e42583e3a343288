"""The forward response: base state, first and second orders at a drive frequency, labelled tip harmonics.

Every physical signal is real, x(t) = X0 + sum_n Re(X_n e^{i n w t}). The first order answers each
heating harmonic of the drive linearly (label 'thermal'). The second order answers the products of
first-order fields listed by :func:`stimsim.drives.second_order_pairs` (label 'ionic', since only the
ionic flux is nonlinear; docs/harmonics.md). Tip harmonics 1 to :data:`~stimsim.drives.MAX_HARMONIC`
are reported; where both orders land, a 'total' row gives their sum.

The study's ``[solver] periodic`` chooses who answers (:func:`periodic_method`): the expansion, or the
nonlinear periodic state by harmonic balance (:mod:`stimsim.periodic`) or by time stepping
(:mod:`stimsim.timedomain`). Those report harmonics 0..H as 'total' (what a lock-in reads), 'thermal'
(the linear response to the heating harmonics: the whole response of a sample without mobile ions,
whose balance is then linear) and 'ionic' (total minus thermal: what the mobile ions add).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from stimsim.drives import MAX_HARMONIC, second_order_pairs
from stimsim.errors import InputError
from stimsim.harmonic import HarmonicModel
from stimsim.limits import check_first_order
from stimsim.periodic import heating_signal
from stimsim.response import TipResponse
from stimsim.timedomain import periodic_tip_harmonics
from stimsim.validity import AUTO_SWITCH_ERROR, exceeded, expected_error, validity_parameters

#: Harmonic balance with adaptive H: the first H (times the ionic channel's harmonic), the largest, and
#: the size of the highest retained harmonic of the tip displacement, relative to the ionic channel,
#: below which H suffices.
FIRST_HARMONICS, MAX_HARMONICS, HARMONIC_TAIL = 2, 32, 1e-2


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
    """Labelled tip harmonics at the drive ``frequency`` (Hz) by the study's periodic method (the
    expansion's rows 1..MAX_HARMONIC, or the periodic state's 0..H); the expansion's ``solution`` is
    solved here by default. What was used and why is kept in ``model.periodic_reports[frequency]``."""
    solution = solution or solve_harmonics(model, frequency)
    parameters = validity_parameters(model, solution.first)
    check_first_order(model.study, {frequency: parameters})  # before a periodic solve would fail on it
    report = periodic_method(model, parameters)
    report.validity = parameters
    if report.method == "expansion":
        rows = expansion_responses(model, frequency, solution)
    else:
        rows = periodic_responses(model, frequency, solution, report)
    model.periodic_reports[frequency] = report
    return rows


@dataclass
class PeriodicReport:
    """How the periodic state at one drive frequency was solved: ``method`` ('expansion',
    'harmonic_balance' or 'time_domain'), ``reason`` (a sentence), for harmonic balance its
    :class:`~stimsim.periodic.PeriodicStatistics` and the highest harmonic H, and the expansion's
    ``validity`` parameters (:func:`stimsim.validity.validity_parameters`) it chose by."""

    method: str
    reason: str
    statistics: object = None
    harmonics: int | None = None
    tail: float | None = None
    details: dict = field(default_factory=dict)
    validity: dict = field(default_factory=dict)


#: Columns of periodic.csv: how each drive frequency's periodic state was solved.
PERIODIC_COLUMNS = (
    "drive_frequency_hz", "method", "reason", "harmonics", "tail", "newton_iterations", "krylov_iterations",
    "factorizations", "residual", "seconds",
)


def periodic_rows(model: HarmonicModel) -> list[dict]:
    """The model's :attr:`periodic_reports` as periodic.csv rows (empty cells where a method has no
    such figure)."""
    rows = []
    for frequency, report in sorted(model.periodic_reports.items()):
        row = dict(drive_frequency_hz=frequency, method=report.method, reason=report.reason,
                   harmonics=report.harmonics, tail=report.tail)
        if report.statistics is not None:
            s = report.statistics
            row |= dict(newton_iterations=s.newton, krylov_iterations=s.krylov, factorizations=s.factorizations,
                        residual=s.residuals[-1] if s.residuals else None, seconds=s.seconds)
        rows.append(row)
    return rows


def periodic_method(model: HarmonicModel, parameters: dict[str, float]) -> PeriodicReport:
    """The method the study asks for; 'auto' picks the expansion while the expected error of its second
    order from the validity ``parameters`` of its first order (:func:`stimsim.validity.expected_error`) is at most
    :data:`~stimsim.validity.AUTO_SWITCH_ERROR`, else harmonic balance."""
    requested = model.study.solver.periodic
    if requested != "auto":
        return PeriodicReport(requested, "requested by [solver] periodic")
    error = expected_error(parameters)
    if error > AUTO_SWITCH_ERROR and model.study.sample.model == "3d":
        raise InputError(
            "solver.periodic", f"'auto' would solve the periodic state by harmonic balance (the expansion's second "
            f"order would be off by about {_percent(error)}), which is not yet supported with geometry.model = '3d': "
            "lower the heating amplitude or use the axisymmetric model",
        )
    if error > AUTO_SWITCH_ERROR:
        return PeriodicReport(
            "harmonic_balance", f"the expansion's second order would be off by about {_percent(error)}: "
            + "; ".join(exceeded(parameters)),
        )
    return PeriodicReport("expansion", f"the expansion's expected error is {_percent(error)} (at most "
                          f"{AUTO_SWITCH_ERROR:.0%} before harmonic balance takes over)")


def _percent(error: float) -> str:
    if math.isinf(error):
        return "an unknown amount (beyond the measured range)"
    return "more than 100 %" if error > 1 else f"{100 * error:.2g} %"


def expansion_responses(model: HarmonicModel, frequency: float, solution: HarmonicSolution) -> list[TipResponse]:
    """The expansion's labelled tip harmonics 1..MAX_HARMONIC of ``solution`` at ``frequency`` (Hz)."""
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


def periodic_responses(model, frequency: float, solution: HarmonicSolution, report: PeriodicReport) -> list[TipResponse]:
    """Tip harmonics 0..H of the nonlinear periodic state (``report.method``), each as 'thermal' (at
    the heating harmonics), 'ionic' and 'total' rows of order 0 (all orders)."""
    if report.method == "harmonic_balance":
        tips = harmonic_balance_tips(model, frequency, solution, report)
    else:
        tips = time_domain_tips(model, frequency, solution, report)
    rows = []
    for harmonic, (displacement, temperature) in sorted(tips.items()):
        heating = solution.spectrum.get(harmonic, 0.0)
        thermal_u = thermal_t = 0j
        if harmonic in solution.first:
            thermal = _row(model, frequency, harmonic, "thermal", 1, [solution.first[harmonic]], heating, report.method)
            thermal_u, thermal_t = thermal.displacement, thermal.temperature
            rows.append(thermal)
        heat_flow = model.drive.heat_flow(heating, temperature)
        rows.append(TipResponse(frequency, harmonic, "ionic", 0, displacement - thermal_u, temperature - thermal_t,
                                0j, report.method))
        rows.append(TipResponse(frequency, harmonic, "total", 0, displacement, temperature, heat_flow, report.method))
    return rows


def harmonic_balance_tips(model, frequency: float, solution: HarmonicSolution, report: PeriodicReport) -> dict:
    """Tip (displacement, temperature) by harmonic 0..H by harmonic balance, started from the
    expansion; H doubled from FIRST_HARMONICS until the highest falls below HARMONIC_TAIL of the ionic
    channel (or the study's [solver] harmonics)."""
    balance = model.harmonic_balance()
    start = expansion_harmonics(balance, solution)
    given = model.study.solver.harmonics
    harmonics = given or FIRST_HARMONICS * model.drive.channels.ionic
    while True:
        state = balance.solve(frequency, dict(solution.spectrum), model.base_heating, harmonics, start)
        tips = {k: model.tip_values(balance.to_fields(state.harmonics[k], "harmonic")) for k in range(harmonics + 1)}
        channel = abs(tips[min(model.drive.channels.ionic, harmonics)][0])
        tail = abs(tips[harmonics][0]) / channel if channel else 0.0
        report.statistics, report.harmonics, report.tail = state.statistics, harmonics, tail
        if given or tail <= HARMONIC_TAIL or 2 * harmonics > MAX_HARMONICS:
            return tips
        start, harmonics = state.harmonics, 2 * harmonics


def expansion_harmonics(balance, solution: HarmonicSolution) -> np.ndarray:
    """The expansion's harmonics 0..MAX_HARMONIC as local block-vector arrays of ``balance`` (a
    :class:`~stimsim.periodic.HarmonicBalance`), to start Newton from."""
    return np.array([balance.to_vector(solution.fields(k)) if solution.fields(k) else np.zeros(balance.size)
                     for k in range(MAX_HARMONIC + 1)])


def time_domain_tips(model, frequency: float, solution: HarmonicSolution, report: PeriodicReport) -> dict:
    """Tip (displacement, temperature) by harmonic 0..H from the last of [solver] periods time-stepped
    periods (steps_per_period each), started from the expansion's state at t = 0."""
    options = model.study.solver
    harmonics = options.harmonics or FIRST_HARMONICS * model.drive.channels.ionic
    displacement, temperature = periodic_tip_harmonics(
        model, frequency, heating_in_time(model, solution), range(harmonics + 1), options.periods,
        options.steps_per_period, expansion_state(model, solution)
    )
    report.harmonics = harmonics
    report.details = dict(periods=options.periods, steps_per_period=options.steps_per_period)
    return {k: (displacement[k], temperature[k]) for k in range(harmonics + 1)}


def expansion_state(model, solution: HarmonicSolution) -> dict:
    """The expansion's scaled deviation from the base state at t = 0 (name -> Function): the real
    parts of its harmonics 1..MAX_HARMONIC."""
    start = model.new_fields("start")
    for k in range(1, MAX_HARMONIC + 1):
        for name, f in solution.fields(k).items():
            start[name].x.array[:] += f.x.array.real
    return start


def heating_in_time(model, solution: HarmonicSolution):
    """The scaled total heating as a function of time (s): the base state's DC part and the drive's
    harmonics at ``solution.frequency``."""
    spectrum, omega = dict(solution.spectrum), 2 * math.pi * solution.frequency
    return lambda t: model.base_heating + heating_signal(spectrum, np.array([omega * t]))[0]


def _row(model, frequency, harmonic, kind, order, field_sets, heating, method: str = "expansion") -> TipResponse:
    displacement = temperature = 0j
    for fields in field_sets:
        u, t = model.tip_values(fields)
        displacement, temperature = displacement + u, temperature + t
    heat_flow = model.drive.heat_flow(heating, temperature)
    return TipResponse(frequency, harmonic, kind, order, displacement, temperature, heat_flow, method)


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
