"""Typed results of a fit (:func:`stimsim.inverse.fit.fit`) and of its posterior, and their files.

:class:`FitResult` holds what ``OUTDIR/fit.json`` holds (:meth:`FitResult.to_json` writes it): one
:class:`Estimate` per parameter, the correlation matrix, the chi-square and its degrees of freedom,
the warnings, the optimiser's counts and one :class:`FitPoint` per data point (the rows of fit.csv).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Transform:
    """Fit variable x of a parameter p: p = exp(x) (log) or p = scale * x (linear)."""

    log: bool
    scale: float

    def to_x(self, p):
        return np.log(p) if self.log else np.asarray(p) / self.scale

    def to_p(self, x):
        return np.exp(x) if self.log else np.asarray(x) * self.scale

    def dp_dx(self, x):
        return np.exp(x) if self.log else self.scale


@dataclass(frozen=True)
class Estimate:
    """One fitted parameter: its fit-parameter ``name`` and study ``key``; ``value``, ``start`` and
    ``bounds`` (SI; a None bound is open); ``stderr`` (SI; None: undetermined, see
    docs/guide/fitting.md, 'Uncertainty'); the 68 % and 95 % intervals (SI; a None end is open);
    ``scale`` 'log' (fitted as ln p, the intervals exp(ln p +- t s)) or 'linear' (fitted as
    p / |start|); ``derivative`` 'tangent-linear' or 'central difference'."""

    name: str
    key: str
    value: float
    stderr: float | None
    start: float
    interval_68: tuple[float | None, float | None]
    interval_95: tuple[float | None, float | None]
    scale: str
    bounds: tuple[float | None, float | None]
    derivative: str

    @property
    def transform(self) -> Transform:
        """The map between this parameter and its fit variable."""
        return Transform(self.scale == "log", abs(self.start) or 1.0)

    @property
    def stderr_x(self) -> float | None:
        """The standard error of the fit variable (of ln p for a log parameter; None: undetermined)."""
        if self.stderr is None:
            return None
        return self.stderr / (self.value if self.scale == "log" else self.transform.scale)

    def to_json(self) -> dict:
        return {
            "key": self.key, "value": self.value, "stderr": self.stderr, "start": self.start,
            "interval_68": list(self.interval_68), "interval_95": list(self.interval_95), "scale": self.scale,
            "bounds": list(self.bounds), "derivative": self.derivative,
        }


@dataclass(frozen=True)
class FitPoint:
    """One data point and the fit there: drive frequency (Hz), harmonic, measured and model amplitude
    (m), the amplitude's sigma (m) and weighted residual, the model's phase (degrees) and, where the
    point has a phase, the measured phase, its sigma (degrees) and weighted residual (None without).
    ``condition``: the point's measurement condition (the study overrides as 'key=value; ...', '' for
    none); ``source``: the file or table it came from."""

    drive_frequency_hz: float
    harmonic: int
    amplitude_m: float
    model_amplitude_m: float
    amplitude_sigma_m: float
    amplitude_residual: float
    model_phase_deg: float
    phase_deg: float | None = None
    phase_sigma_deg: float | None = None
    phase_residual: float | None = None
    condition: str = ""
    source: str = ""

    def to_json(self) -> dict:
        """The point as a fit.json / fit.csv row (no phase columns for a point without a phase)."""
        row = dataclasses.asdict(self)
        return {key: value for key, value in row.items() if value is not None}


@dataclass(frozen=True)
class PosteriorEstimate:
    """Posterior summary of one parameter (SI): median, 16th and 84th percentiles, mean, standard deviation."""

    median: float
    p16: float
    p84: float
    mean: float
    std: float


@dataclass(frozen=True)
class Posterior:
    """Summary of an emcee posterior (:func:`stimsim.inverse.posterior.posterior`): per parameter name
    its :class:`PosteriorEstimate`, the mean acceptance fraction, walkers, steps, burn-in and seed."""

    parameters: dict[str, PosteriorEstimate]
    acceptance_fraction: float
    walkers: int
    steps: int
    burn_in: int
    seed: int

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FitResult:
    """A weighted least-squares fit (:func:`stimsim.inverse.fit.fit`); SI units throughout.

    ``parameters``: one :class:`Estimate` per fitted parameter, in the order fitted; ``correlation[i][j]``
    of the fit variables (None where undefined: an undetermined parameter); ``chi2`` (sum of squared
    weighted residuals), ``data_values`` (amplitudes and phases fitted), ``degrees_of_freedom``
    (data values - parameters), ``reduced_chi2`` (None without a degree of freedom); ``sigma_given``:
    the data's sigmas are the measurement's (absolute errors), else the errors are scaled by the
    reduced chi-square (``sigma`` says which in words); ``log_det_information``: ln det(J^T J) of the
    weighted Jacobian in the fit variables at the estimate (None where singular); optimiser status,
    counts and wall time; ``points`` (the rows of fit.csv); the ``posterior`` when sampled."""

    parameters: tuple[Estimate, ...]
    correlation: tuple[tuple[float | None, ...], ...]
    chi2: float
    data_values: int
    degrees_of_freedom: int
    reduced_chi2: float | None
    sigma_given: bool
    sigma: str
    log_det_information: float | None
    warnings: tuple[str, ...]
    converged: bool
    status: str
    cost: float
    nfev: int
    njev: int
    forward_evaluations: int
    rebuilds: int
    wall_time_s: float
    points: tuple[FitPoint, ...]
    posterior: Posterior | None = None

    @property
    def names(self) -> list[str]:
        """The fitted parameters' names."""
        return [p.name for p in self.parameters]

    def parameter(self, name: str) -> Estimate:
        """The estimate of the parameter ``name``."""
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def noise_scale(self) -> float | None:
        """The factor on the weighted residuals' variance: 1 with given sigmas, the reduced chi-square
        when the scatter sets the noise (None: it cannot, no degree of freedom)."""
        return 1.0 if self.sigma_given else self.reduced_chi2

    def to_json(self) -> dict:
        """The content of fit.json."""
        found = {
            "parameters": {p.name: p.to_json() for p in self.parameters},
            "correlation": {a: dict(zip(self.names, row)) for a, row in zip(self.names, self.correlation)},
            "warnings": list(self.warnings), "converged": self.converged, "status": self.status, "cost": self.cost,
            "chi2": self.chi2, "reduced_chi2": self.reduced_chi2, "degrees_of_freedom": self.degrees_of_freedom,
            "data_values": self.data_values, "sigma": self.sigma, "nfev": self.nfev, "njev": self.njev,
            "forward_evaluations": self.forward_evaluations, "rebuilds": self.rebuilds,
            "wall_time_s": self.wall_time_s, "points": [p.to_json() for p in self.points],
        }
        if self.posterior is not None:
            found["posterior"] = self.posterior.to_json()
        return found


#: The columns of fit.csv.
FIT_COLUMNS = (
    "drive_frequency_hz", "harmonic", "amplitude_m", "model_amplitude_m", "amplitude_sigma_m", "amplitude_residual",
    "phase_deg", "model_phase_deg", "phase_sigma_deg", "phase_residual", "condition", "source",
)


def write_fit(result: FitResult, outdir: Path, title: str = "", samples=None, replace: bool = False,
              comparison=None) -> None:
    """OUTDIR/fit.json, fit.csv, fit.png; with posterior ``samples`` (SI, one column per parameter)
    posterior.csv; with a models ``comparison`` (:class:`stimsim.inverse.compare.Comparison`)
    models.csv and models.json. Call on rank 0 only (e.g. through :func:`stimsim.core.parallel.on_root`)."""
    from stimsim.io.files import staged_output, write_rows
    from stimsim.io.plots import plot_fit

    rows = [p.to_json() for p in result.points]
    with staged_output(outdir, replace=replace) as staging:
        _write_json(result.to_json(), staging / "fit.json")
        write_rows(rows, staging / "fit.csv", FIT_COLUMNS)
        plot_fit(rows, staging / "fit.png", title)
        if samples is not None:
            write_rows([dict(zip(result.names, map(float, row))) for row in samples], staging / "posterior.csv", result.names)
        if comparison is not None:
            write_rows(comparison.rows(), staging / "models.csv", comparison.columns)
            _write_json(comparison.to_json(), staging / "models.json")


def _write_json(content: dict, path: Path) -> None:
    path.write_text(json.dumps(content, indent=2, allow_nan=False) + "\n")


def finite(value) -> float | None:
    """``value`` as a float, or None where it is not a finite number (fit.json has no NaN or Infinity)."""
    return float(value) if value is not None and np.isfinite(value) else None


#: The largest fit variable of a log parameter whose value is a float (ln of the largest float, about 709.8).
LARGEST_LOG = math.log(np.finfo(float).max)


def interval(t: Transform, x: float, half_width: float) -> tuple[float | None, float | None]:
    """The interval [p(x - w), p(x + w)] (SI) of a parameter at the fit variable ``x`` with the half
    width ``half_width`` (w) in x: None for an end that is not a finite number (an undetermined
    parameter, or an upper end beyond the float range: exp is not evaluated there)."""
    ends = (x - half_width, x + half_width)
    return tuple(finite(t.to_p(e)) if np.isfinite(e) and not (t.log and e > LARGEST_LOG) else None for e in ends)
