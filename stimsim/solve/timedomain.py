"""Time-domain model of the same nonlinear balance, for cross-checks and slow processes.

The fields are stepped in time (Crank–Nicolson, backward Euler or BDF2, :data:`SCHEMES`) on the
balances that store something (heat and ions) with the quasi-static balances (mechanics, hydrostatic
stress, and the heat when declared quasi-static) enforced at the new time level. Each step is solved by
a modified Newton iteration on one factorisation of the step operator at the base state, kept for the
whole run while it contracts fast (small heating amplitudes); a strong nonlinearity refactorises.
The harmonics of the periodic steady state come from a DFT of the tip signal over the last period:
for a real signal x(t), X_n = (2/N) sum_k x(t_k) e^{-i n w t_k}.

It uses the forms of a :class:`~stimsim.solve.model.HarmonicModel` (:class:`~stimsim.fem.forms.CoupledForms`:
no second copy of the physics), compiled with the same quadrature.
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

import numpy as np
import ufl
from dolfinx import fem

from stimsim.core.errors import SolverError, history
from stimsim.fem.forms import compiled, functions
from stimsim.solve.model import HarmonicModel, relative_update
from stimsim.physics.coupled import SPECIES_FIELDS, TEMPERATURE, storage
from stimsim.solve.direct import DirectSolver

log = logging.getLogger(__name__)

#: Modified-Newton iterations per step, the update size (relative, see relative_update) that ends them, and the
#: contraction above which the step operator is refactorised at the current state (an update larger than
#: the last is undone first).
STEP_ITERATIONS, STEP_TOLERANCE, SLOW_CONTRACTION = 30, 1e-9, 0.2
#: A run is periodic when no tip-displacement harmonic changed over its last period by more than
#: PERIODIC_TOLERANCE of its size, sizes below NEGLIGIBLE of the ionic channel's harmonic (or ROUNDOFF
#: of the largest) counted as that (SDC at 2 uW, 20 kHz: 0.04 %, 3 %, 33 %, 150 % for harmonics 1 to 4
#: after 4 periods, all below 1 % after 7; docs/theory/harmonics.md, 'Time domain').
PERIODIC_TOLERANCE, NEGLIGIBLE, ROUNDOFF = 1e-2, 1e-2, 1e-9


#: Time-stepping schemes: (a0, a1, a2, theta) of the step a0 X1 + a1 X0 + a2 X(-1) (times M/dt) +
#: theta R(X1) + (1 - theta) R(X0) = theta F1 + (1 - theta) F0. Crank–Nicolson is second order and keeps
#: the amplitude of every mode; BDF2 is second order and damps the stiff ones (its first step is
#: backward Euler).
SCHEMES = {
    "crank-nicolson": (1.0, -1.0, 0.0, 0.5),
    "backward-euler": (1.0, -1.0, 0.0, 1.0),
    "bdf2": (1.5, -2.0, 0.5, 1.0),
}


class TimeDomainModel:
    """Time stepping of a harmonic model's balance at a fixed time step ``dt`` (s).

    ``scheme`` is a key of :data:`SCHEMES`. Fields in ``quasi_static`` (e.g. the temperature when the
    time step is far longer than the thermal time) store nothing: their balance holds at each new time
    level, as the mechanics and hydrostatic stress always do.
    """

    def __init__(self, model: HarmonicModel, dt: float, scheme: str = "crank-nicolson", quasi_static=()):
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, not {scheme!r}")
        self.model = model
        forms, mesh, names = model.forms, model.domain.mesh, model.names
        # unknowns are the deviations from the base state: the base concentration c0/c_s is large and
        # would cost digits in a total-field representation
        self.new, self.old, self.older = (functions(forms.spaces, label) for label in ("new", "old", "older"))
        total_new = {forms.base[n]: forms.base[n] + self.new[n] for n in names}
        total_old = {forms.base[n]: forms.base[n] + self.old[n] for n in names}
        self.heating_new, self.heating_old = fem.Constant(mesh, 0j), fem.Constant(mesh, 0j)
        self.coefficients = [fem.Constant(mesh, 0j) for _ in range(4)]
        a0, a1, a2, theta = self.coefficients
        s = model.scales
        ionic = (s.ionic_time / dt) if model.ionic else None  # every species on the ionic time scale
        times = {TEMPERATURE: s.time / dt} | {n: ionic for n in SPECIES_FIELDS}
        rate = {n: a0 * self.new[n] + a1 * self.old[n] + a2 * self.older[n] for n in names}
        stored = {n: form for n, form in storage(rate, forms.tests, model.coefficients.fields, model.domain).items()
                  if n not in quasi_static}
        at_new = {n: ufl.replace(forms.balance[n], total_new) for n in names}
        at_old = {n: ufl.replace(forms.balance[n], total_old) for n in names}
        heat_new = ufl.replace(forms.heat_input, {forms.heating: self.heating_new})
        heat_old = ufl.replace(forms.heat_input, {forms.heating: self.heating_old})
        step = {}
        for n in names:
            if n in stored:
                step[n] = times[n] * stored[n] + theta * at_new[n] + (1 - theta) * at_old[n]
            else:
                step[n] = at_new[n]
        if TEMPERATURE in stored:
            step[TEMPERATURE] -= theta * heat_new + (1 - theta) * heat_old
        else:
            step[TEMPERATURE] -= heat_new
        trials = {n: ufl.TrialFunction(V) for n, V in forms.spaces.items()}
        jacobian = [[ufl.derivative(step[i], self.new[j], trials[j]) for j in names] for i in names]
        self.residual = compiled([-step[n] for n in names])
        self.update = functions(forms.spaces, "update")
        self.solver = DirectSolver(compiled(jacobian), model.bcs, "time_step", homogeneous=True)
        self.scheme, self.steps, self.dt = scheme, 0, dt
        self._set_scheme(SCHEMES["backward-euler"] if scheme == "bdf2" else SCHEMES[scheme])

    def _set_scheme(self, coefficients) -> None:
        """Set the step coefficients and factorise the step operator at the current state (modified
        Newton keeps this factorisation while it contracts fast)."""
        for constant, value in zip(self.coefficients, coefficients):
            constant.value = value
        self.solver.factorize()

    def set_state(self, fields: dict) -> None:
        """Start from the scaled deviation ``fields`` from the base state (name -> Function), and
        factorise the step operator there (at a large amplitude the base state's is out of reach)."""
        for n, f in fields.items():
            self.new[n].x.array[:] = f.x.array
            self.old[n].x.array[:] = f.x.array
        self.solver.factorize()

    def step(self, heating_old: float, heating_new: float) -> int:
        """Advance one step with the scaled heating going from ``heating_old`` to ``heating_new``;
        returns the Newton iterations used. ``heating`` is the total scaled heating, the base state's DC
        part included."""
        if self.scheme == "bdf2" and self.steps == 1:
            self._set_scheme(SCHEMES["bdf2"])
        self.steps += 1
        for n in self.model.names:
            self.older[n].x.array[:] = self.old[n].x.array
            self.old[n].x.array[:] = self.new[n].x.array
            if self.steps > 2:  # start Newton from the linear extrapolation of the last two states
                self.new[n].x.array[:] += self.old[n].x.array - self.older[n].x.array
        self.heating_old.value, self.heating_new.value = heating_old, heating_new
        comm = self.model.domain.comm
        sizes, previous = [], math.inf
        for iteration in range(1, STEP_ITERATIONS + 1):
            self.solver.solve(self.residual, [self.update[n] for n in self.model.names])
            size = 0.0
            for n in self.model.names:
                self.new[n].x.array[:] += self.update[n].x.array
                size = max(size, relative_update(self.update[n], self.new[n], comm))
            if size < STEP_TOLERANCE:
                return iteration
            sizes.append(size)
            if size > previous:  # diverging on a stale factorisation: undo the update
                for n in self.model.names:
                    self.new[n].x.array[:] -= self.update[n].x.array
            if size > SLOW_CONTRACTION * previous:
                self.solver.factorize()  # strong nonlinearity: Newton with the current Jacobian
                size = math.inf  # its first update is not compared with the stale one's
            previous = size
        raise SolverError(
            f"time step {self.steps}: modified Newton did not converge in {STEP_ITERATIONS} iterations; "
            f"relative updates {history(sizes)} (tolerance {STEP_TOLERANCE:g})"
        )

    @property
    def factorizations(self) -> int:
        """Factorisations of the step operator so far."""
        return self.solver.factorizations

    def destroy(self) -> None:
        self.solver.destroy()


def periodic_harmonics(
    model: HarmonicModel,
    frequency: float,
    heating,
    harmonics=(1, 2),
    periods: int = 4,
    steps_per_period: int = 64,
    start: dict | None = None,
) -> dict[int, complex]:
    """Tip-displacement harmonics (m) of the periodic state under the scaled heating ``heating(t)``
    (a function of time in s; the total heating, the base state's DC part included), from the DFT of the last of ``periods``
    drive periods of ``frequency`` (Hz). ``start`` optionally gives the initial deviation from the base."""
    return periodic_tip_harmonics(model, frequency, heating, harmonics, periods, steps_per_period, start).displacement


class TipHarmonics(NamedTuple):
    """Tip harmonics of the last period, each a dict harmonic -> complex: ``displacement`` (m) and
    ``temperature`` (K); ``change``: how far the run is from periodic (:func:`period_change`, 1 = 100 %)."""

    displacement: dict[int, complex]
    temperature: dict[int, complex]
    change: float


def periodic_tip_harmonics(model, frequency, heating, harmonics, periods, steps_per_period, start=None) -> TipHarmonics:
    """The :class:`TipHarmonics` of the last of ``periods`` periods; arguments as
    :func:`periodic_harmonics`. Logs a warning when the run is not periodic (a change beyond
    :data:`PERIODIC_TOLERANCE`)."""
    if periods < 2:
        raise ValueError("periods must be at least 2 (the last two give the drift)")
    times, signals = tip_signals(model, frequency, heating, periods, steps_per_period, start)
    last, previous = (
        [harmonics_of(signals[:end, i], times[:end], frequency, steps_per_period, harmonics) for i in range(2)]
        for end in (len(times), len(times) - steps_per_period)
    )
    channel = min(model.drive.channels.ionic, max(harmonics))
    change = period_change(last[0], previous[0], channel)
    if change > PERIODIC_TOLERANCE:
        log.warning(not_periodic(frequency, change, periods))
    return TipHarmonics(*last, change)


def period_change(last: dict[int, complex], previous: dict[int, complex], channel: int) -> float:
    """The largest change of a harmonic n >= 1 between the ``previous`` and the ``last`` period relative
    to its size, a size below :data:`NEGLIGIBLE` of harmonic ``channel``'s or :data:`ROUNDOFF` of the
    largest counted as that."""
    sizes = {n: abs(x) for n, x in last.items() if n}
    floor = max(NEGLIGIBLE * sizes.get(channel, 0.0), ROUNDOFF * max(sizes.values(), default=0.0))
    return max((abs(last[n] - previous[n]) / max(size, floor) for n, size in sizes.items() if max(size, floor)),
               default=0.0)


def not_periodic(frequency: float, change: float, periods: int) -> str:
    """The warning for a time-domain run at ``frequency`` (Hz) whose harmonics still ``change``d (1 = 100 %)
    over the last of ``periods`` periods."""
    return (
        f"time domain at {frequency:g} Hz is not periodic yet: a tip harmonic changed by {100 * change:.2g} % over the "
        f"last of {periods} periods (more than {100 * PERIODIC_TOLERANCE:g} %); raise solver.periods"
    )


def tip_signals(model, frequency, heating, periods, steps_per_period, start=None):
    """Times (s) and real tip (displacement m, temperature K) at every step of ``periods`` periods
    (steps x 2); arguments as :func:`periodic_harmonics`."""
    dt = 1.0 / (frequency * steps_per_period)
    stepper = TimeDomainModel(model, dt)
    if start is not None:
        stepper.set_state(start)
    signals = []
    for k in range(periods * steps_per_period):
        stepper.step(heating(k * dt), heating((k + 1) * dt))
        signals.append(model.tip_values(stepper.new))
    stepper.destroy()
    return dt * np.arange(1, periods * steps_per_period + 1), np.asarray(signals).real


def harmonics_of(signal, times, frequency: float, steps_per_period: int, harmonics) -> dict[int, complex]:
    """Complex amplitudes X_n of x(t) = X0 + sum Re(X_n e^{i n w t}) from the last period of samples
    (X_0: the mean of the last period, which still drifts), the others after removing the slow drift (the rectified mean that still diffuses away): a polynomial in t of
    degree (number of recorded periods - 1, at most 2) whose period means match the last periods' means.
    Without it the drift leaks into every harmonic as a trend across the analysed period."""
    n = steps_per_period
    degree = min(2, len(signal) // n - 1)
    windows = [slice(len(signal) - (j + 1) * n, len(signal) - j * n) for j in range(degree + 1)]
    scale = times[-1]
    basis = np.array([[np.mean((times[w] / scale) ** p) for p in range(degree + 1)] for w in windows])
    coefficients = np.linalg.solve(basis, np.array([signal[w].mean() for w in windows]))
    t = times[-n:]
    drift = sum(c * (t / scale) ** p for p, c in enumerate(coefficients))
    omega = 2 * math.pi * frequency
    detrended = signal[-n:] - drift
    return {
        h: complex(2 / n * np.sum(detrended * np.exp(-1j * h * omega * t))) if h else complex(signal[-n:].mean())
        for h in harmonics
    }
