"""Temperature spectroscopy: a slow modulation of the DC heating under a fast excitation.

The DC heating power is modulated slowly, P(t) = P_mean + dP w(f_m t) with a waveform w of period 1
and range [-1, 1] (f_m of 0.1-20 Hz in the STIM paper; docs/theory/harmonics.md, 'Slow modulation',
docs/theory/paper.md). On that time
scale heat and mechanics are quasi-static, while the ions diffuse: the base state X0(t) is stepped in
time (BDF2, :class:`~stimsim.solve.timedomain.TimeDomainModel` with the temperature quasi-static) from the
steady state at P_mean. At every slow step the fast harmonics are recomputed about the instantaneous
base state X0(t) (the frequency-domain orders of :mod:`stimsim.solve.forward`, whose operators now depend on
time through X0). The ionic response against the instantaneous DC power traces a loop: closed when the
ions follow the heating (slow modulation) or cannot follow it at all (fast modulation), open in between.

Factorisations are reused across slow steps: the time step keeps one factorisation (modified Newton),
and each fast frequency keeps the LU factors of its operator at the mean base state as the
preconditioner of GMRES on the current operator (:meth:`~stimsim.solve.model.HarmonicModel.freeze_operators`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stimsim.core.errors import InputError, checked_number
from stimsim.fem.response import TipResponse
from stimsim.physics.coupled import TEMPERATURE
from stimsim.solve.forward import base_state, dc_heating_per_watt, responses
from stimsim.solve.model import HarmonicModel
from stimsim.solve.timedomain import TimeDomainModel

#: Waveforms w(x) of the modulation, period 1 in x = f_m t, range [-1, 1].
WAVEFORMS = {
    "sine": lambda x: math.sin(2 * math.pi * x),
    "triangle": lambda x: 1 - 4 * abs((x + 0.25) % 1 - 0.5),
    "square": lambda x: 1.0 if (x % 1) < 0.5 else -1.0,
}


@dataclass(frozen=True)
class Modulation:
    """Slow modulation of the DC heating power: frequency f_m (Hz), amplitude dP (W: absorbed power for
    'power'/'laser' drives, heater power for 'joule'), waveform (a name in :data:`WAVEFORMS`, or any
    function w(x) of period 1 in x with values in [-1, 1]), number of modulation periods run (the last
    one is recorded; the earlier ones let the start-up decay) and slow time steps per period."""

    frequency: float
    amplitude: float
    waveform: str | Callable[[float], float] = "sine"
    periods: int = 3
    steps_per_period: int = 32

    def __post_init__(self):
        checked_number("protocol.modulation.modulation_frequencies", self.frequency, 0.0, 1e9, "Hz")
        checked_number("protocol.modulation.dc_power_amplitude", self.amplitude, 0.0, 10.0, "W", low_inclusive=True)
        if not callable(self.waveform) and self.waveform not in WAVEFORMS:
            raise InputError("protocol.modulation.waveform", f"= {self.waveform!r} is not accepted; use {', '.join(WAVEFORMS)}")
        for key, value, low in (("periods", self.periods, 1), ("steps_per_period", self.steps_per_period, 8)):
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 10000:
                raise InputError(f"protocol.modulation.{key}", f"= {value!r} must be an integer in [{low}, 10000]")

    def offset(self, t: float) -> float:
        """DC power offset dP w(f_m t) (W) at time ``t`` (s)."""
        shape = self.waveform if callable(self.waveform) else WAVEFORMS[self.waveform]
        return self.amplitude * shape(self.frequency * t)


@dataclass(frozen=True)
class LoopPoint:
    """One slow step of the recorded period: time (s) from the start, DC power (W) and the fast
    harmonics (:class:`~stimsim.fem.response.TipResponse`) about the instantaneous base state."""

    time: float
    dc_power: float
    responses: tuple[TipResponse, ...]


@dataclass(frozen=True)
class LoopCost:
    """Cost of a modulation run: wall time (s) per slow time step and per recomputation of the fast
    harmonics, modified-Newton iterations per time step, GMRES iterations per fast solve and the
    factorisations made (time step and reference operators)."""

    step_seconds: float
    harmonics_seconds: float
    newton_iterations: float
    gmres_iterations: float
    factorizations: int


@dataclass(frozen=True)
class LoopResult:
    """The recorded (last) period of one modulation and what it cost."""

    modulation: Modulation
    drive_frequency: float
    mean_dc_power: float
    points: tuple[LoopPoint, ...]
    cost: LoopCost

    def channel(self, harmonic: int, kind: str) -> np.ndarray:
        """Complex tip displacement (m) of one labelled harmonic at each recorded point."""
        return np.array([_pick(p.responses, harmonic, kind).displacement for p in self.points])

    def dc_powers(self) -> np.ndarray:
        """DC power (W) at each recorded point."""
        return np.array([p.dc_power for p in self.points])

    def loop_area(self, harmonic: int, kind: str = "ionic") -> float:
        """Area (m W) enclosed by the amplitude of a harmonic against the DC power over the recorded
        period (shoelace formula over the closed polygon): zero for a single-valued response."""
        x, y = self.dc_powers(), np.abs(self.channel(harmonic, kind))
        return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _pick(rows, harmonic: int, kind: str) -> TipResponse:
    for row in rows:
        if row.harmonic == harmonic and row.kind == kind:
            return row
    raise KeyError(f"no {kind} response at harmonic {harmonic}")


def modulation_loop(model: HarmonicModel, drive_frequency: float, modulation: Modulation) -> LoopResult:
    """Run one slow modulation about the study's DC heating and record the fast harmonics at the drive
    frequency ``drive_frequency`` (Hz) through the last modulation period (collective)."""
    if not model.ionic:
        raise InputError("sample.material", "has no mobile ions: the DC modulation changes nothing (use an ionic material)")
    mean_dc = base_state(model)
    per_watt = dc_heating_per_watt(model)
    mean_power = mean_dc / per_watt
    if mean_power - modulation.amplitude < 0:
        raise InputError(
            "protocol.modulation.dc_power_amplitude",
            f"= {modulation.amplitude:g} W exceeds the mean DC power {mean_power:g} W (the heating would turn negative)",
        )
    mean_base = {name: f.x.array.copy() for name, f in model.base.items()}
    dt = 1.0 / (modulation.frequency * modulation.steps_per_period)
    stepper = TimeDomainModel(model, dt, scheme="bdf2", quasi_static=(TEMPERATURE,))
    model.freeze_operators()
    steps = modulation.periods * modulation.steps_per_period
    record_from = steps - modulation.steps_per_period
    points, newton, step_seconds, harmonics_seconds = [], 0, 0.0, 0.0
    try:
        for k in range(steps):
            t_old, t_new = k * dt, (k + 1) * dt
            _set_base(model, mean_base)
            start = time.perf_counter()
            newton += stepper.step(mean_dc + per_watt * modulation.offset(t_old), mean_dc + per_watt * modulation.offset(t_new))
            step_seconds += time.perf_counter() - start
            if k >= record_from:
                start = time.perf_counter()
                _set_base(model, mean_base, stepper.new)
                rows = tuple(responses(model, drive_frequency))
                harmonics_seconds += time.perf_counter() - start
                points.append(LoopPoint(t_new, mean_power + modulation.offset(t_new), rows))
        frozen = model.frozen_statistics()
        cost = LoopCost(
            step_seconds=step_seconds / steps,
            harmonics_seconds=harmonics_seconds / len(points),
            newton_iterations=newton / steps,
            gmres_iterations=frozen["iterations"] / max(frozen["solves"], 1),
            factorizations=stepper.factorizations + frozen["factorizations"],
        )
    finally:
        _set_base(model, mean_base)
        model.thaw_operators()
        stepper.destroy()
    return LoopResult(modulation, drive_frequency, mean_power, tuple(points), cost)


def _set_base(model: HarmonicModel, mean: dict, deviation: dict | None = None) -> None:
    """Set the model's base state to ``mean`` (arrays) plus ``deviation`` (Functions)."""
    model.set_base_state(mean if deviation is None else {name: mean[name] + deviation[name].x.array for name in mean})
