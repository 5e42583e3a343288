"""The forward response: base state, first and second orders at a drive frequency, labelled tip harmonics.

Every physical signal is real, x(t) = X0 + sum_n Re(X_n e^{i n w t}). The first order answers each
heating harmonic of the drive linearly (label 'thermal'). The second order answers the products of
first-order fields listed by :func:`stimsim.physics.drives.second_order_pairs`. What does not come from the
ions is labelled 'nonionic': the second order's part with the ions held immobile (from a
temperature-dependent alpha and k) and the linear answer to a nonlinear heater's further heating
harmonics (:attr:`~stimsim.physics.drives.Drive.background_harmonics`); the rest of the second order, what the
mobile ions add, is 'ionic' (docs/theory/harmonics.md, 'Non-ionic second harmonics'). Tip harmonics 1 to
:data:`~stimsim.physics.drives.MAX_HARMONIC` are reported; where several parts land, a 'total' row gives their sum.

The study's ``[solver] periodic`` chooses who answers (:func:`periodic_method`): the expansion, or the
nonlinear periodic state by harmonic balance (:mod:`stimsim.solve.periodic`) or by time stepping
(:mod:`stimsim.solve.timedomain`). Those report harmonics 0..H as 'total' (what a lock-in reads), 'thermal'
(the linear response to the heating harmonics), 'nonionic' (the periodic state of the sample without
mobile ions minus its linear response to the drive's harmonics, plus its linear response to the
background harmonics) and 'ionic' (total minus thermal minus nonionic: what the mobile ions add).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from stimsim.fem.response import TipResponse
from stimsim.physics.drives import MAX_HARMONIC, second_order_pairs
from stimsim.solve.limits import check_first_order
from stimsim.solve.model import HarmonicModel
from stimsim.solve.periodic import NEWTON_BUDGET, heating_signal
from stimsim.solve.timedomain import PERIODIC_TOLERANCE, not_periodic, periodic_tip_harmonics
from stimsim.solve.validity import (
    AUTO_SWITCH_ERROR,
    exceeded,
    expected_error,
    validity_parameters,
)
from stimsim.study.modes import PeriodicMethod
from stimsim.study.schema import SCHEMA

#: Harmonic balance with adaptive H (from :attr:`~stimsim.study.study.Study.periodic_harmonics`): the
#: largest H, and the size of the highest retained harmonic of the tip displacement, relative to the
#: ionic channel, below which H suffices.
MAX_HARMONICS, HARMONIC_TAIL = 32, 1e-2
#: The largest H a study may ask for ([solver] harmonics).
HARMONICS_KEY_MAX = int(SCHEMA["solver"]["harmonics"].high)


def base_state(model: HarmonicModel, ambient_unit: dict | None = None) -> float:
    """Solve the model's base state under the drive's DC heating; returns that DC heating (scaled). A
    heater balance takes the sample's Z_0 without DC heating (:func:`ambient_state`), from
    ``ambient_unit`` (the unit first order at zero frequency there) if given."""
    if ambient_unit is None:
        ambient_state(model)
    dc = model.drive.base_heating(_tip_per_heater(model, 0.0, ambient_unit))
    model.solve_base_state(dc)
    return dc


def ambient_state(model: HarmonicModel) -> None:
    """Return a model with a heater balance and a temperature-dependent k to the base state without
    DC heating, where its DC balance takes Z_0 (the heat operator of any other base state differs, so
    the DC heating would depend on the state solved before; with constant k every base state has the
    same Z_0)."""
    if model.drive.balance is not None and model.conductivity_varies and model.base_heating:
        model.solve_base_state(0.0)


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


def heated_fields(model: HarmonicModel, frequency: float) -> tuple[dict[int, dict], dict[int, complex]]:
    """First-order fields and scaled heating amplitudes by heating harmonic n of the drive ``frequency``
    (Hz), the drive's background harmonics included."""
    drive = model.drive
    units = {n: model.solve_first_order(n * frequency) for n in (*drive.harmonics, *drive.background_harmonics)}
    ratios = {n: _tip_per_heater(model, n * frequency, unit) for n, unit in units.items()}
    amplitudes = drive.heating_spectrum(frequency, ratios, model.base_heating)
    return {n: scale(unit, amplitudes[n]) for n, unit in units.items()}, amplitudes


def first_order_fields(model: HarmonicModel, frequency: float) -> tuple[dict[int, dict], dict[int, complex]]:
    """First-order fields and scaled heating amplitudes by heating harmonic n of the drive ``frequency``
    (Hz), without the background harmonics."""
    fields, amplitudes = heated_fields(model, frequency)
    return _own(model, fields), _own(model, amplitudes)


def _own(model: HarmonicModel, by_harmonic: dict, own: bool = True) -> dict:
    """The entries of ``by_harmonic`` at the drive's heating harmonics (or, ``own`` False, the others)."""
    return {n: value for n, value in by_harmonic.items() if (n in model.drive.harmonics) == own}


def second_order_fields(model: HarmonicModel, frequency: float, first: dict[int, dict],
                        solve=None) -> dict[int, list[dict]]:
    """Second-order fields by tip harmonic of the drive ``frequency`` (Hz), one per product of heating
    harmonics that lands there (zero fields for a linear model), by ``solve`` (default
    ``model.solve_second_order``; :meth:`~stimsim.solve.model.HarmonicModel.solve_nonionic_second_order`
    gives the non-ionic part, and an empty result when it is zero)."""
    solve = solve or model.solve_second_order
    found: dict[int, list[dict]] = {}
    for pair in second_order_pairs(first):
        other = conjugated(first[pair.second]) if pair.conjugate else first[pair.second]
        fields = solve(pair.harmonic * frequency, first[pair.first], other, pair.weight)
        if fields is not None:
            found.setdefault(pair.harmonic, []).append(fields)
    return found


def nonionic_fields(model: HarmonicModel, frequency: float, first: dict[int, dict],
                    second: dict[int, list[dict]]) -> dict[int, list[dict]]:
    """The non-ionic part of the second order ``second`` (see :func:`second_order_fields`): all of it
    without ions, empty when alpha and k are constant."""
    if not model.thermally_nonlinear:
        return {}
    if not model.ionic:
        return second
    return second_order_fields(model, frequency, first, model.solve_nonionic_second_order)


@dataclass(frozen=True)
class HarmonicSolution:
    """The solved fields (scaled) at one drive ``frequency`` (Hz): ``first`` by heating harmonic (the
    drive's amplitudes ``spectrum`` applied), ``second`` by tip harmonic (one field set per product),
    its part ``nonionic`` with the ions held immobile (:func:`nonionic_fields`; empty when zero) and
    ``background`` by background heating harmonic (amplitudes ``background_spectrum``)."""

    frequency: float
    first: dict[int, dict]
    spectrum: dict[int, complex]
    second: dict[int, list[dict]]
    nonionic: dict[int, list[dict]] = field(default_factory=dict)
    background: dict[int, dict] = field(default_factory=dict)
    background_spectrum: dict[int, complex] = field(default_factory=dict)

    @property
    def heating(self) -> dict[int, complex]:
        """Scaled heating amplitudes of every heated harmonic, the background's included."""
        return self.spectrum | self.background_spectrum

    def fields(self, harmonic: int) -> dict:
        """Everything at ``harmonic`` (all orders summed; scaled, name -> Function copy)."""
        linear = [fields[harmonic] for fields in (self.first, self.background) if harmonic in fields]
        sets = linear + self.second.get(harmonic, [])
        if not sets:
            return {}
        total = {name: f.copy() for name, f in sets[0].items()}
        for fields in sets[1:]:
            for name, f in fields.items():
                total[name].x.array[:] += f.x.array
        return total

    def by_harmonic(self) -> dict[int, dict]:
        """:meth:`fields` of every solved harmonic (harmonic -> name -> Function copy, scaled)."""
        solved = set(self.first) | set(self.background) | set(self.second)
        return {harmonic: self.fields(harmonic) for harmonic in sorted(solved)}


def solve_harmonics(model: HarmonicModel, frequency: float) -> HarmonicSolution:
    """First- and second-order fields at the drive ``frequency`` (Hz)."""
    fields, amplitudes = heated_fields(model, frequency)
    first = _own(model, fields)
    second = second_order_fields(model, frequency, first)
    return HarmonicSolution(
        frequency, first, _own(model, amplitudes), second, nonionic=nonionic_fields(model, frequency, first, second),
        background=_own(model, fields, False), background_spectrum=_own(model, amplitudes, False),
    )


def frequency_response(model: HarmonicModel, frequency: float, solution: HarmonicSolution | None = None,
                       keep_fields: bool = False) -> FrequencyResponse:
    """Labelled tip harmonics at the drive ``frequency`` (Hz) by the study's periodic method (the
    expansion's rows 1..MAX_HARMONIC, or the periodic state's 0..H) with the report of what was used
    and why; the expansion's ``solution`` is solved here by default. With ``keep_fields`` the response
    also holds the fields of the method that answered (harmonic balance's 0..H, the expansion's solved
    harmonics; the time domain keeps none). Nothing is kept on the model."""
    solution = solution or solve_harmonics(model, frequency)
    parameters = validity_parameters(model, solution.first)
    check_first_order(model.study, {frequency: parameters})  # before a periodic solve would fail on it
    report = periodic_method(model, parameters)
    report.validity = parameters
    if report.method == PeriodicMethod.EXPANSION:
        rows = expansion_responses(model, frequency, solution)
        return FrequencyResponse(tuple(rows), report, solution.by_harmonic() if keep_fields else {})
    if report.method == PeriodicMethod.HARMONIC_BALANCE:
        fields = harmonic_balance_fields(model, frequency, solution, report)
        tips = tips_of(model, fields)
    else:
        fields, tips = {}, time_domain_tips(model, frequency, solution, report)
    rows = periodic_responses(model, frequency, solution, report, tips)
    return FrequencyResponse(tuple(rows), report, fields if keep_fields else {})


def responses(model: HarmonicModel, frequency: float, solution: HarmonicSolution | None = None) -> list[TipResponse]:
    """The rows of :func:`frequency_response` alone."""
    return list(frequency_response(model, frequency, solution).rows)


@dataclass
class PeriodicReport:
    """How the periodic state at one drive frequency was solved: ``method`` ('expansion',
    'harmonic_balance' or 'time_domain'), ``reason`` (a sentence), for harmonic balance its
    :class:`~stimsim.solve.periodic.PeriodicStatistics`, the highest harmonic H, its size ``tail``
    relative to the ionic channel and a ``warning`` where that is above HARMONIC_TAIL, and the expansion's
    ``validity`` parameters (:func:`stimsim.solve.validity.validity_parameters`) it chose by."""

    method: PeriodicMethod
    reason: str
    statistics: object = None
    harmonics: int | None = None
    tail: float | None = None
    warning: str | None = None
    details: dict = field(default_factory=dict)
    validity: dict = field(default_factory=dict)

    def row(self, frequency: float) -> dict:
        """The periodic.csv row (:data:`PERIODIC_COLUMNS`) of this report at the drive ``frequency``
        (Hz); empty cells where a method has no such figure."""
        row = dict(drive_frequency_hz=frequency, method=self.method, reason=self.reason, harmonics=self.harmonics,
                   tail=self.tail)
        if self.statistics is not None:
            s = self.statistics
            row |= dict(newton_iterations=s.newton, krylov_iterations=s.krylov, factorizations=s.factorizations,
                        residual=s.residuals[-1] if s.residuals else None, seconds=s.seconds)
        return row


#: Columns of periodic.csv: how each drive frequency's periodic state was solved.
PERIODIC_COLUMNS = (
    "drive_frequency_hz", "method", "reason", "harmonics", "tail", "newton_iterations", "krylov_iterations",
    "factorizations", "residual", "seconds",
)


@dataclass(frozen=True)
class FrequencyResponse:
    """The tip response at one drive frequency: its labelled ``rows``, the :class:`PeriodicReport`
    of how its periodic state was solved and, when asked for, the ``fields`` of the method that
    answered (harmonic -> name -> Function, scaled deviation from the base state; empty otherwise)."""

    rows: tuple[TipResponse, ...]
    report: PeriodicReport
    fields: dict[int, dict] = field(default_factory=dict)


def periodic_method(model: HarmonicModel, parameters: dict[str, float]) -> PeriodicReport:
    """The method the study asks for; 'auto' picks the expansion while the expected error of its second
    order from the validity ``parameters`` of its first order (:func:`stimsim.solve.validity.expected_error`) is at most
    :data:`~stimsim.solve.validity.AUTO_SWITCH_ERROR`, else harmonic balance."""
    requested = model.study.solver.periodic
    if requested != PeriodicMethod.AUTO:
        return PeriodicReport(requested, "requested by [solver] periodic")
    error = expected_error(parameters)
    if error > AUTO_SWITCH_ERROR:
        return PeriodicReport(
            PeriodicMethod.HARMONIC_BALANCE, f"the expansion's second order would be off by about {_percent(error)}: "
            + "; ".join(exceeded(parameters)),
        )
    return PeriodicReport(PeriodicMethod.EXPANSION, f"the expansion's expected error is {_percent(error)} (at most "
                          f"{AUTO_SWITCH_ERROR:.0%} before harmonic balance takes over)")


def _percent(error: float) -> str:
    if math.isinf(error):
        return "an unknown amount (beyond the measured range)"
    return "more than 100 %" if error > 1 else f"{100 * error:.2g} %"


def expansion_responses(model: HarmonicModel, frequency: float, solution: HarmonicSolution) -> list[TipResponse]:
    """The expansion's labelled tip harmonics 1..MAX_HARMONIC of ``solution`` at ``frequency`` (Hz)."""
    first, spectrum, second = solution.first, solution.spectrum, solution.second
    background, extra = solution.background, solution.background_spectrum
    rows = []
    for harmonic in range(1, MAX_HARMONIC + 1):
        parts = []
        if harmonic in first:
            parts.append(_row(model, frequency, harmonic, "thermal", 1, [first[harmonic]], spectrum[harmonic]))
        if harmonic in background:
            parts.append(_row(model, frequency, harmonic, "nonionic", 1, [background[harmonic]], extra[harmonic]))
        if harmonic in second:
            parts += _second_order_rows(model, frequency, harmonic, second[harmonic], solution.nonionic.get(harmonic))
        parts = _merged_by_kind(parts)
        rows += parts
        if len(parts) > 1:
            heating = solution.heating.get(harmonic, 0.0)
            displacement, temperature = sum(p.displacement for p in parts), sum(p.temperature for p in parts)
            heat_flow = model.drive.heat_flow(heating, temperature)
            rows.append(TipResponse(frequency, harmonic, "total", 0, displacement, temperature, heat_flow))
    return rows


def _second_order_rows(model, frequency: float, harmonic: int, total: list[dict], nonionic: list[dict] | None) -> list:
    """The second order's rows at ``harmonic``: 'nonionic' (the fields ``nonionic``, if any) and
    'ionic' (the ``total`` second order minus the non-ionic part)."""
    ionic = _row(model, frequency, harmonic, "ionic", 2, total, 0.0)
    if nonionic is None:
        return [ionic]
    part = _row(model, frequency, harmonic, "nonionic", 2, nonionic, 0.0)
    temperature = ionic.temperature - part.temperature
    rest = replace(ionic, displacement=ionic.displacement - part.displacement, temperature=temperature,
                   heating_power=model.drive.heat_flow(0.0, temperature))
    return [part, rest]


def periodic_responses(model, frequency: float, solution: HarmonicSolution, report: PeriodicReport,
                       tips: dict) -> list[TipResponse]:
    """Tip harmonics 0..H of the nonlinear periodic state (``report.method``) whose tip (displacement,
    temperature) by harmonic are ``tips``, each as 'thermal' (at the heating harmonics), 'nonionic' (the
    background harmonics' linear response and, when alpha or k depends on the temperature, the nonlinear
    part without ion motion), 'ionic' (the rest) and 'total' rows (order 0: all orders, except the
    linear rows' 1)."""
    nonlinear = nonionic_tips(model, frequency, solution, report, tips)
    rows = []
    for harmonic, (displacement, temperature) in sorted(tips.items()):
        heating = solution.heating.get(harmonic, 0.0)
        rest = np.array([displacement, temperature])
        if harmonic in solution.first:
            thermal = _row(model, frequency, harmonic, "thermal", 1, [solution.first[harmonic]], heating, report.method)
            rest -= (thermal.displacement, thermal.temperature)
            rows.append(thermal)
        nonionic = _periodic_nonionic(model, frequency, harmonic, solution, nonlinear, report.method)
        if nonionic is not None:
            rest -= (nonionic.displacement, nonionic.temperature)
            rows.append(nonionic)
        heat_flow = model.drive.heat_flow(heating, temperature)
        rows.append(TipResponse(frequency, harmonic, "ionic", 0, complex(rest[0]), complex(rest[1]), 0j, report.method))
        rows.append(TipResponse(frequency, harmonic, "total", 0, displacement, temperature, heat_flow, report.method))
    return rows


def _periodic_nonionic(model, frequency: float, harmonic: int, solution: HarmonicSolution, nonlinear: dict,
                       method: PeriodicMethod) -> TipResponse | None:
    """The periodic state's 'nonionic' row at ``harmonic``: the linear response to a background heating
    harmonic plus the part without ion motion ``nonlinear`` (by harmonic, from :func:`nonionic_tips`);
    None without either."""
    parts = []
    if harmonic in solution.background:
        heating = solution.heating[harmonic]
        parts.append(_row(model, frequency, harmonic, "nonionic", 1, [solution.background[harmonic]], heating, method))
    if nonlinear:
        parts.append(TipResponse(frequency, harmonic, "nonionic", 0, *nonlinear.get(harmonic, (0j, 0j)), 0j, method))
    return _merged(parts)


def _merged(rows: list[TipResponse]) -> TipResponse | None:
    """One row of the kind of ``rows`` (all at one harmonic) with their sums (order 0 if they differ in
    order); None for no rows."""
    if len(rows) < 2:
        return rows[0] if rows else None
    orders = {r.order for r in rows}
    return replace(rows[0], order=orders.pop() if len(orders) == 1 else 0,
                   displacement=sum(r.displacement for r in rows), temperature=sum(r.temperature for r in rows),
                   heating_power=sum(r.heating_power for r in rows))


def _merged_by_kind(rows: list[TipResponse]) -> list[TipResponse]:
    """``rows`` (at one harmonic) with those of one kind merged (:func:`_merged`), in order of kind."""
    kinds = dict.fromkeys(r.kind for r in rows)
    return [_merged([r for r in rows if r.kind == kind]) for kind in kinds]


def periodic_tips(model, frequency: float, solution: HarmonicSolution, report: PeriodicReport,
                  harmonics: int | None = None) -> dict:
    """Tip (displacement, temperature) by harmonic 0..H of the periodic state by ``report.method``; H is
    ``harmonics`` if given, else the study's or the adaptive choice."""
    if report.method == PeriodicMethod.HARMONIC_BALANCE:
        return harmonic_balance_tips(model, frequency, solution, report, harmonics)
    return time_domain_tips(model, frequency, solution, report, harmonics)


def nonionic_tips(model, frequency: float, solution: HarmonicSolution, report: PeriodicReport, tips: dict) -> dict:
    """Tip (displacement, temperature) by harmonic of the periodic state of the sample with the ions
    held immobile minus its linear response (empty when alpha and k are constant): without ions the
    periodic state ``tips`` itself minus the first order; with ions that of the model's companion
    without mobile ions (:meth:`~stimsim.solve.model.HarmonicModel.without_ions`), solved by the same
    method with the same H."""
    if not model.thermally_nonlinear:
        return {}
    if model.ionic:
        model = model.without_ions()
        base_state(model)
        solution = solve_harmonics(model, frequency)
        tips = periodic_tips(model, frequency, solution, PeriodicReport(report.method, "the ions held immobile"),
                             report.harmonics)
    linear = {n: model.tip_values(fields) for n, fields in (solution.first | solution.background).items()}
    return {k: tuple(complex(x) for x in np.subtract(tip, linear.get(k, (0j, 0j)))) for k, tip in tips.items()}


def harmonic_balance_tips(model, frequency: float, solution: HarmonicSolution, report: PeriodicReport,
                          harmonics: int | None = None) -> dict:
    """Tip (displacement, temperature) by harmonic 0..H of :func:`harmonic_balance_fields`."""
    return tips_of(model, harmonic_balance_fields(model, frequency, solution, report, harmonics))


def tips_of(model, fields: dict[int, dict]) -> dict[int, tuple[complex, complex]]:
    """Tip (displacement in m, temperature in K) by harmonic of ``fields`` (harmonic -> scaled fields)."""
    return {k: model.tip_values(f) for k, f in fields.items()}


def harmonic_balance_fields(model, frequency: float, solution: HarmonicSolution, report: PeriodicReport,
                            harmonics: int | None = None) -> dict[int, dict]:
    """The periodic state by harmonic balance, started from the expansion: by harmonic 0..H its scaled
    deviation from the base state (name -> Function; 0 the rectified DC part). H is doubled from
    the study's first choice (:attr:`~stimsim.study.study.Study.periodic_harmonics`) until the highest
    falls below HARMONIC_TAIL of the ionic channel (at most MAX_HARMONICS), or is ``harmonics`` if given,
    else the study's [solver] harmonics; the solves at every H share one budget of
    :data:`~stimsim.solve.periodic.NEWTON_BUDGET` Newton iterations. ``report`` gets the statistics, H,
    the tail and, with the tail above HARMONIC_TAIL, a warning (:func:`tail_warning`)."""
    balance = model.harmonic_balance()
    start = expansion_harmonics(balance, solution)
    given = harmonics or model.study.solver.harmonics
    harmonics = given or model.study.periodic_harmonics
    spent = 0
    while True:
        state = balance.solve(frequency, solution.heating, model.base_heating, harmonics, start,
                              budget=NEWTON_BUDGET - spent)
        spent += state.statistics.newton
        fields = {k: balance.to_fields(state.harmonics[k], f"harmonic{k}") for k in range(harmonics + 1)}
        channel = min(model.drive.channels.ionic, harmonics)
        reference = abs(model.tip_values(fields[channel])[0])
        tail = abs(model.tip_values(fields[harmonics])[0]) / reference if reference else 0.0
        report.statistics, report.harmonics, report.tail = state.statistics, harmonics, tail
        if given or tail <= HARMONIC_TAIL or 2 * harmonics > MAX_HARMONICS:
            report.warning = tail_warning(frequency, harmonics, channel, tail, given)
            return fields
        start, harmonics = state.harmonics, 2 * harmonics


def tail_warning(frequency: float, harmonics: int, channel: int, tail: float, given: int | None) -> str | None:
    """The warning for a harmonic-balance state at ``frequency`` (Hz) whose highest retained harmonic
    H = ``harmonics`` is ``tail`` times the ionic ``channel``'s harmonic at the tip (None if at most
    HARMONIC_TAIL): H is too low for the harmonics to be converged. ``given``: the H the study asked for
    (None: adaptive, which stopped at MAX_HARMONICS)."""
    if tail <= HARMONIC_TAIL:
        return None
    if given:
        how = f"[solver] harmonics = {given}"
        remedy = f"raise [solver] harmonics (e.g. to {min(2 * given, HARMONICS_KEY_MAX)}) or remove it to choose H adaptively"
    else:
        how = f"the adaptive H reached its maximum {harmonics}"
        remedy = f"set [solver] harmonics up to {HARMONICS_KEY_MAX}, or lower the heating amplitude"
    return (
        f"harmonic balance at {frequency:g} Hz: {how} leaves the highest harmonic u_{harmonics} at {tail:.3g} of the "
        f"ionic channel u_{channel} (tolerance {HARMONIC_TAIL:g}), so the reported harmonics are not converged in H "
        f"(periodic.csv, column tail); {remedy}"
    )


def expansion_harmonics(balance, solution: HarmonicSolution) -> np.ndarray:
    """The expansion's harmonics 0..MAX_HARMONIC as local block-vector arrays of ``balance`` (a
    :class:`~stimsim.solve.periodic.HarmonicBalance`), to start Newton from."""
    return np.array([balance.to_vector(solution.fields(k)) if solution.fields(k) else np.zeros(balance.size)
                     for k in range(MAX_HARMONIC + 1)])


def time_domain_tips(model, frequency: float, solution: HarmonicSolution, report: PeriodicReport,
                     harmonics: int | None = None) -> dict:
    """Tip (displacement, temperature) by harmonic 0..H from the last of [solver] periods time-stepped
    periods (steps_per_period each), started from the expansion's state at t = 0; H is ``harmonics`` if given.
    ``report.details`` gets the periods, the steps and the last period's change (:class:`~stimsim.solve.timedomain.TipHarmonics`),
    and ``report.reason`` the warning of a run that is not periodic yet."""
    options = model.study.solver
    harmonics = harmonics or model.study.periodic_harmonics
    found = periodic_tip_harmonics(
        model, frequency, heating_in_time(model, solution), range(harmonics + 1), options.periods,
        options.steps_per_period, expansion_state(model, solution)
    )
    report.harmonics = harmonics
    report.details = dict(periods=options.periods, steps_per_period=options.steps_per_period, change=found.change)
    if found.change > PERIODIC_TOLERANCE:
        report.reason += f"; warning: {not_periodic(frequency, found.change, options.periods)}"
    return {k: (found.displacement[k], found.temperature[k]) for k in range(harmonics + 1)}


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
    spectrum, omega = solution.heating, 2 * math.pi * solution.frequency
    return lambda t: model.base_heating + heating_signal(spectrum, np.array([omega * t]))[0]


def _row(model, frequency, harmonic, kind, order, field_sets, heating, method: PeriodicMethod = PeriodicMethod.EXPANSION) -> TipResponse:
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
