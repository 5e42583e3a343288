"""Fitting measured STIM harmonics: weighted least squares over every measurement condition,
uncertainties, identifiability.

The measured data: :mod:`stimsim.inverse.data`; the typed result: :mod:`stimsim.inverse.results`;
the comparison of candidate models: :mod:`stimsim.inverse.compare`.

Residuals: (|y| - A)/sigma_A and, for the points with a phase, wrap(arg y - phi)/sigma_phi, y the
model's complex tip displacement. The points of each measurement condition (``Data.conditions``: study
overrides such as a DC heating level or a force) are predicted by their own
:class:`~stimsim.inverse.forward_model.ForwardModel` (:class:`JointModel`); the fitted parameters are
shared. Positive parameters are fitted in log space, the others scaled by their start value. scipy's
``least_squares`` (trust-region reflective, bounds) gets the analytic Jacobian. Covariance (J^T J)^-1
by SVD, scaled by the reduced chi-square when the data give no sigmas; intervals from the normal
distribution with given sigmas and from Student's t when the scatter is estimated
(docs/guide/fitting.md, 'Uncertainty'); identifiability warnings for correlations above
:data:`CORRELATION_LIMIT`, for combinations the data do not determine (normalised singular value below
:data:`SINGULAR_LIMIT`) and for parameters at a bound.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from mpi4py import MPI
from scipy import stats
from scipy.optimize import least_squares

from stimsim.study.schema import MODE_KEYS, key_spec
from stimsim.study.study import Study
from stimsim.core.errors import InputError, SolverError, StimsimError, did_you_mean, suggest
from stimsim.fem.coefficients import GRAIN_PROPERTY_KEY
from stimsim.inverse.forward_model import (
    ALIASES, ForwardModel, parameter_key, study_value, with_values,
)
from stimsim.inverse.results import Estimate, FitPoint, FitResult, Transform, finite, interval
from stimsim.solve.limits import check_study, estimate
from stimsim.materials.library import PROPERTIES
from stimsim.core.progress import Progress
from stimsim.inverse.data import DEFAULT_RELATIVE_SIGMA, Data

#: |correlation| above which two parameters are reported as not separately determined.
CORRELATION_LIMIT = 0.95
#: Normalised singular value of the Jacobian below which a combination is reported as undetermined.
SINGULAR_LIMIT = 1e-3
#: Material properties that act only through mobile ions.
IONIC_PROPERTIES = ("diffusivity", "activation_energy", "partial_molar_volume", "concentration", "heat_of_transport")
#: Fraction of k that k(T) = k + k' (T - T_amb) keeps at the estimated lowest and highest tip temperature
#: when k' is fitted: the bound :func:`slope_bounds` puts on k' (the optimiser cannot reach k(T) <= 0).
CONDUCTIVITY_KEPT = 0.5
#: Keys of the study file's [fit] section ([[fit.data]]: :mod:`stimsim.inverse.data`; [[fit.models]]:
#: :mod:`stimsim.inverse.models`).
FIT_KEYS = ("parameters", "bounds", "max_evaluations", "data", "models")
#: Probability inside the reported 68 % interval: one standard deviation of a normal distribution.
LEVEL_68 = math.erf(1 / math.sqrt(2))
#: Probability inside the reported 95 % interval.
LEVEL_95 = 0.95
#: With the scatter estimated from the data: a chi-square below this quantile of the chi-square
#: distribution of the default sigmas is reported (data far smoother than 1 % noise: noise-free or averaged).
SMOOTH_QUANTILE = 1e-3


@dataclass(frozen=True)
class FitOptions:
    """The validated [fit] section for one fit: the fit-parameter ``parameters`` (names), ``bounds``
    {study key: (low, high)} (SI), ``max_evaluations`` of the residuals and ``where`` the parameters
    were named (the key an error about one of them names: '--param', 'fit.parameters' or
    'fit.models[i].params')."""

    parameters: tuple[str, ...]
    bounds: dict
    max_evaluations: int
    where: str


def accepted_range(key: str) -> tuple[float, float]:
    """The accepted open range (SI) of a study key."""
    spec = key_spec(key)
    return spec.low, spec.high


def fit_options(study: Study, parameters=(), require: bool = True, where: str | None = None) -> FitOptions:
    """The [fit] section, validated, for a fit of ``parameters`` (names; default [fit] parameters):
    every parameter must be one the model depends on with a start value that can be fitted. ``require``:
    refuse a fit without parameters (``stimsim validate`` does not: --param may name them); ``where``:
    the key errors about ``parameters`` name (default '--param')."""
    table = study.extensions.get("fit", {})
    if not isinstance(table, dict):
        raise InputError("fit", "must be a table ([fit])")
    for key in table:
        if key not in FIT_KEYS:
            raise InputError(f"fit.{key}", f"is not a [fit] key{suggest(key, FIT_KEYS)}")
    listed = table.get("parameters", [])
    if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
        raise InputError("fit.parameters", f"must be a list of parameter names, e.g. [\"diffusivity\"], got {listed!r}")
    for name in listed:
        checked_parameter(name, study, "fit.parameters")
    names = list(parameters) or listed
    if not names and require:
        raise InputError("--param", "is required: name the parameters to fit (e.g. --param diffusivity), or list them in [fit] parameters")
    where = (where or "--param") if parameters else "fit.parameters"
    keys = {checked_parameter(n, study, None if where == "--param" else where) for n in names}
    for name in names:
        _check_fittable(study, name, checked_parameter(name, study), where)
    bounds = {}
    raw_bounds = table.get("bounds", {})
    if not isinstance(raw_bounds, dict):
        raise InputError("fit.bounds", "must be a table NAME = [low, high]")
    for name, pair in raw_bounds.items():
        key = checked_parameter(name, study, f"fit.bounds.{name}")
        low, high = accepted_range(key)
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, (int, float)) for v in pair)
                and low <= pair[0] < pair[1] <= high):
            raise InputError(f"fit.bounds.{name}", f"must be [low, high] with {low:g} <= low < high <= {high:g}, got {pair!r}")
        if key in keys:  # bounds of parameters this fit leaves fixed are checked, not used
            bounds[key] = (float(pair[0]), float(pair[1]))
    evaluations = table.get("max_evaluations", 100)
    if isinstance(evaluations, bool) or not isinstance(evaluations, int) or evaluations < 1:
        raise InputError("fit.max_evaluations", f"must be a whole number >= 1, got {evaluations!r}")
    return FitOptions(tuple(names), bounds, evaluations, where)


def _check_fittable(study: Study, name: str, key: str, where: str) -> None:
    """Refuse a parameter this study cannot fit (:func:`unfittable`), or one whose start value cannot be
    fitted (0 for a positive parameter, fitted in log space)."""
    reason = unfittable(study, key)
    if reason:
        raise InputError(where, f"= {name!r}: {reason}")
    value = study_value(study, key)
    if accepted_range(key)[0] >= 0 and isinstance(value, (int, float)) and value <= 0:
        raise InputError(
            key, f"= {value:g} cannot start a fit: a positive parameter is fitted in log space, so its start value "
            "must be > 0 (set it in the study, or with --set)"
        )


def unfittable(study: Study, key: str) -> str | None:
    """Why ``study`` cannot fit the study key ``key`` whatever its start value, or None: an ionic property
    or [ions] key without mobile ions, an ionic property set by [[sample.species]] (not fittable yet), the
    permittivity, or a drive key of another heating mode."""
    section, _, prop = key.rpartition(".")
    material = study.sample.material
    sample_region = section == "sample.properties" or GRAIN_PROPERTY_KEY.fullmatch(key) is not None
    ionic = section == "ions" or (prop in IONIC_PROPERTIES and sample_region)
    if ionic and not material.is_ionic:
        return (
            f"this study has no mobile ions ({material.name}: concentration, diffusivity and partial_molar_volume "
            "must all be non-zero), so the data do not depend on it: it cannot be fitted"
        )
    if prop == "relative_permittivity":
        return (
            "the relative permittivity sets the Debye length that the log reports and the shape of an equilibrium "
            "space-charge layer, which the fit's derivatives do not follow, so it cannot be fitted"
        )
    if prop in IONIC_PROPERTIES and section == "sample.properties" and study.sample.species:
        return f"with [[sample.species]] the species set it; fit the species' own, e.g. sample.species[0].{prop}"
    mode = study.excitation.mode
    if section == "excitation" and prop in set().union(*MODE_KEYS.values()) - set(MODE_KEYS[mode]):
        users = " or ".join(repr(m) for m, keys in MODE_KEYS.items() if prop in keys)
        return (
            f"excitation.mode = {mode!r} does not use {key} (excitation.mode {users} does), so the data do not "
            "depend on it: it cannot be fitted in this study"
        )
    return None


def checked_parameter(name: str, study: Study, where: str | None = None) -> str:
    """The study key of the fit-parameter ``name`` (see :func:`stimsim.inverse.forward_model.parameter_key`), or an
    InputError naming ``where`` (default the name) with the closest name (a spelling: of all) and the
    list of those ``study`` can fit (:func:`unfittable`)."""
    try:
        return parameter_key(name)
    except InputError:
        names = (*PROPERTIES, *ALIASES)
        known = [n for n in names if not unfittable(study, parameter_key(n))]
        raise InputError(
            where or name, f"{'= ' + repr(name) + ' ' if where else ''}is not a fit parameter{did_you_mean(name, names)} "
            f"(known here: {', '.join(known)}, or a numeric study key such as tip.contact_radius)"
        ) from None


def slope_bounds(study: Study, key: str) -> tuple[float, float] | None:
    """Bounds (W/(m K^2)) on a fitted k' (``key`` a thermal_conductivity_derivative) that keep
    k(T) = k + k' (T - T_amb) >= f k, f = :data:`CONDUCTIVITY_KEPT`, at the tip temperature rises the
    heating makes: the estimated rises theta (DC rise -/+ the oscillation, K,
    :func:`stimsim.solve.limits.estimate`, for the study's k) grow about as k / k(T), to theta / f where
    k(T) = f k, so |k'| <= f (1 - f) k / |theta|. None for other keys."""
    section, _, prop = key.rpartition(".")
    if prop != "thermal_conductivity_derivative":
        return None
    material = study.sample.material if section == "sample.properties" else study.sample.substrate
    rise = estimate(study)
    lowest, highest = rise.dc_rise - rise.oscillation, rise.dc_rise + rise.oscillation
    room = CONDUCTIVITY_KEPT * (1 - CONDUCTIVITY_KEPT) * material.thermal_conductivity
    return (-room / highest if highest > 0 else -math.inf, room / -lowest if lowest < 0 else math.inf)


def failed_at(err: StimsimError, names, values, where: str) -> StimsimError:
    """``err`` of the model at the parameter ``values`` (SI) the optimiser reached, as the fit's error
    naming the parameters (``names``) and their values: an InputError naming ``where``, or a SolverError."""
    reached = ", ".join(f"{name} = {value:.4g}" for name, value in zip(names, values))
    if isinstance(err, InputError):
        return InputError(where, f"the fit reached {reached}, where the model does not hold: {err}")
    return SolverError(f"fit: the fit reached {reached}, where the model could not be solved: {err}")


def with_phase(data: Data) -> np.ndarray:
    """Indices of the points with a measured phase: none when ``data.phase`` is None, and a NaN phase
    is a point without one (no phase residual)."""
    return np.array([], dtype=int) if data.phase is None else np.flatnonzero(np.isfinite(data.phase))


def data_values(data: Data) -> int:
    """How many values a fit of ``data`` has: every amplitude and every measured phase."""
    return len(data.amplitude) + with_phase(data).size


def residuals(y, dy, data: Data):
    """Weighted residuals of the model values ``y`` (complex, m, one per data point): the amplitudes',
    then the phases' of the points with one (:func:`with_phase`), and their derivatives d r / d p from
    ``dy`` = d y / d p (None: residuals only)."""
    amplitude, phased = np.abs(y), with_phase(data)
    r = [(amplitude - data.amplitude) / data.amplitude_sigma]
    if phased.size:
        r.append(np.angle(y[phased] * np.exp(-1j * data.phase[phased])) / data.phase_sigma[phased])
    if dy is None:
        return np.concatenate(r), None
    jac = [(np.conj(y)[:, None] * dy).real / (amplitude * data.amplitude_sigma)[:, None]]
    if phased.size:
        jac.append((dy[phased] / y[phased, None]).imag / data.phase_sigma[phased, None])
    return np.concatenate(r), np.concatenate(jac)


def condition_label(overrides: dict) -> str:
    """A measurement condition's study overrides as 'key=value; ...' ('' for none)."""
    return "; ".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}" for key, value in overrides.items())


@dataclass(frozen=True)
class ConditionModel:
    """The forward ``model`` of one measurement condition (``label``, :func:`condition_label`) and
    where its data points are: ``rows`` (indices into the data) and ``index`` (their places in the
    model's prediction)."""

    model: ForwardModel
    rows: np.ndarray
    index: np.ndarray
    label: str


class JointModel:
    """The forward model of a joint fit: one :class:`ForwardModel` per measurement condition of
    ``data`` (``study`` with the condition's overrides, at the condition's frequencies), sharing the
    fitted parameters ``names``. Predictions and Jacobians come in the order of the data's points.
    A parameter a condition sets is refused (it cannot be shared), naming ``where``; so is a data point
    at a harmonic its condition does not produce. Collective; a context manager."""

    def __init__(self, study: Study, names, data: Data, comm: MPI.Comm = MPI.COMM_WORLD, where: str = "--param"):
        self.names, self.comm, self.count = list(names), comm, len(data.amplitude)
        self.keys = [parameter_key(name) for name in self.names]
        self.parts: list[ConditionModel] = []
        try:
            for c, overrides in enumerate(data.conditions):
                rows = np.flatnonzero(data.condition == c)
                if rows.size:
                    self.parts.append(self._part(study, data, overrides, rows, where))
        except BaseException:
            self.destroy()
            raise

    def _part(self, study: Study, data: Data, overrides: dict, rows: np.ndarray, where: str) -> ConditionModel:
        label = condition_label(overrides)
        for name, key in zip(self.names, self.keys):
            if key in overrides:
                raise InputError(
                    where, f"= {name!r}: the data's condition {label!r} sets {key}, so it cannot be fitted as a parameter "
                    "shared by every condition; fit it to the data of that condition alone, or leave it out of the condition"
                )
        try:
            here = with_values(study, overrides) if overrides else study
            check_study(here)
        except InputError as err:
            raise InputError(err.key, f"{str(err).removeprefix(err.key + ' ')} (in the data's condition {label!r})") from None
        model = ForwardModel(here, self.names, self.comm, frequencies=sorted(set(data.frequency[rows])))
        points = {point: i for i, point in enumerate(model.points)}
        for i in rows:
            if (data.frequency[i], data.harmonic[i]) not in points:
                message = f"{_row(data, i)}, column harmonic: {_not_produced(model, data.harmonic[i], label)}"
                model.destroy()
                raise InputError("DATA", message)
        return ConditionModel(model, rows, np.array([points[data.frequency[i], data.harmonic[i]] for i in rows]), label)

    @property
    def values(self) -> np.ndarray:
        """Current parameter values (SI), in the order of :attr:`names` (shared by every condition)."""
        return self.parts[0].model.values

    @property
    def methods(self) -> dict[str, str]:
        """How each parameter's derivative is taken (study key -> method; methods that differ between
        conditions are joined by ' / ')."""
        return {key: " / ".join(dict.fromkeys(part.model.methods[key] for part in self.parts)) for key in self.keys}

    @property
    def studies(self) -> list[Study]:
        """The study of every condition at the latest evaluation."""
        return [part.model.study for part in self.parts]

    @property
    def evaluations(self) -> int:
        return sum(part.model.evaluations for part in self.parts)

    @property
    def rebuilds(self) -> int:
        return sum(part.model.rebuilds for part in self.parts)

    def predict(self, values, derivatives: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """The model's complex tip displacement (m) at every data point for the parameter ``values`` (SI),
        and with ``derivatives`` its Jacobian d y / d p (m per SI unit; None without)."""
        y = np.zeros(self.count, dtype=complex)
        dy = np.zeros((self.count, len(self.names)), dtype=complex) if derivatives else None
        for part in self.parts:
            prediction = part.model.evaluate(values, derivatives=derivatives)
            y[part.rows] = prediction.displacement[part.index]
            if derivatives:
                dy[part.rows] = prediction.jacobian[part.index]
        return y, dy

    def checked_warnings(self, values) -> list[str]:
        """Every condition solved at ``values`` (SI) and checked by the one solve path
        (:meth:`ForwardModel.checked`): the periodic state's warnings, with the condition where there
        are several."""
        found = []
        for part in self.parts:
            for warning in part.model.checked(values).periodic_warnings():
                found.append(f"{warning} (condition {part.label!r})" if len(self.parts) > 1 else warning)
        return found

    def destroy(self) -> None:
        """Free the PETSc objects of every condition's model (collective)."""
        for part in self.parts:
            part.model.destroy()
        self.parts = []

    def __enter__(self) -> JointModel:
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()


def _row(data: Data, i: int) -> str:
    """Where data point ``i`` came from: 'row 7', or 'NAME row 7' with several sources."""
    line = f"row {data.rows[i]}"
    return line if len(data.sources) == 1 else f"{data.sources[data.source[i]]} {line}"


def _not_produced(model: ForwardModel, harmonic: int, label: str) -> str:
    produced = ", ".join(map(str, model.harmonics))
    ions = "with" if model.model.ionic else "without"
    condition = f", condition {label!r}" if label else ""
    return (f"harmonic {harmonic} is not produced by this study (excitation.mode {model.study.excitation.mode!r}, "
            f"{ions} mobile ions{condition}: harmonics {produced})")


def fit(study: Study, data: Data, parameters=(), comm: MPI.Comm = MPI.COMM_WORLD, quiet: bool = True,
        where: str | None = None) -> FitResult:
    """Weighted least-squares fit of ``parameters`` (names; default [fit] parameters) to ``data``
    (every measurement condition, :class:`JointModel`) starting from the study's values. Collective;
    every rank returns the same result. Progress lines (model evaluations, chi-square) go to stderr of
    rank 0 unless ``quiet``; ``where``: the key errors about the parameters name (default '--param')."""
    options = fit_options(study, parameters, where=where)
    check_study(study)
    start_time = time.perf_counter()
    with JointModel(study, options.parameters, data, comm, options.where) as model:
        return fit_with(model, data, options, Progress("fit", options.max_evaluations, quiet, comm.rank), start_time)


def fit_with(model: JointModel, data: Data, options: FitOptions, progress: Progress | None = None,
             start_time: float | None = None, start=None) -> FitResult:
    """The fit of :func:`fit` on an existing ``model`` (a benchmark fits many data sets with one model)
    from the parameter values ``start`` (SI; default the model's current ones). ``start_time``
    (``time.perf_counter``) counts into the wall time."""
    start_time = time.perf_counter() if start_time is None else start_time
    names, where = options.parameters, options.where
    start = model.values if start is None else np.asarray(start, dtype=float)
    transforms, lower, upper, limits = [], [], [], []
    for key, value in zip(model.keys, start):
        low, high = _bounds(model, options, key, value)
        limits.append((finite(low), finite(high)))
        t = Transform(log=low >= 0, scale=abs(value) or 1.0)
        transforms.append(t)
        lower.append(t.to_x(low) if low > 0 or not t.log else -np.inf)
        upper.append(t.to_x(high))
    cache = {}

    def evaluate(x):
        key = x.tobytes()
        if key not in cache:
            cache.clear()
            p = np.array([t.to_p(v) for t, v in zip(transforms, x)])
            try:
                y, dy = model.predict(p, derivatives=True)
            except StimsimError as err:
                raise failed_at(err, names, p, where) from None
            r, jac = residuals(y, dy, data)
            jac = jac * np.array([t.dp_dx(v) for t, v in zip(transforms, x)])
            cache[key] = model.comm.bcast((r, jac, y), root=0)  # identical numbers on every rank
            values = ", ".join(f"{name} = {value:.4g}" for name, value in zip(names, p))
            if progress is not None:
                progress.advance(f"chi-square {float(cache[key][0] @ cache[key][0]):.4g} at {values}")
        return cache[key]

    x0 = np.array([t.to_x(v) for t, v in zip(transforms, start)])
    unused = [name for name, column in zip(names, np.linalg.norm(evaluate(x0)[1], axis=0)) if not column > 0]
    if unused:
        raise InputError(where, f"= {unused[0]!r}: the fitted data do not depend on it in this study, so it cannot be fitted")
    solution = least_squares(
        lambda x: evaluate(x)[0], x0, jac=lambda x: evaluate(x)[1], bounds=(lower, upper), method="trf",
        x_scale=1.0, xtol=1e-10, ftol=1e-10, gtol=1e-10, max_nfev=options.max_evaluations,
    )
    r, jac, y = evaluate(solution.x)
    fitted = [float(t.to_p(v)) for t, v in zip(transforms, solution.x)]
    try:
        checked = model.checked_warnings(fitted)
    except StimsimError as err:
        raise failed_at(err, names, fitted, where) from None
    fields = _report(model, names, transforms, start, solution, r, jac, data, limits)
    fields["warnings"] = (*fields["warnings"], *checked)
    return FitResult(
        **fields, forward_evaluations=model.evaluations, rebuilds=model.rebuilds,
        wall_time_s=model.comm.allreduce(time.perf_counter() - start_time, op=MPI.MAX), points=_points(data, y, r),
    )


def _bounds(model: JointModel, options: FitOptions, key: str, value: float) -> tuple[float, float]:
    """The fit bounds (SI) of the study key ``key`` started at ``value``: [fit] bounds or the accepted
    range, for a conductivity slope narrowed by :func:`slope_bounds` in every condition (never
    narrower than needed to hold the start value)."""
    low, high = options.bounds.get(key, accepted_range(key))
    for study in model.studies:
        slopes = slope_bounds(study, key)
        if slopes is not None:
            low, high = max(low, min(slopes[0], value)), min(high, max(slopes[1], value))
    if not low <= value <= high:
        raise InputError(key, f"start value {value:g} is outside the bounds [{low:g}, {high:g}]")
    return low, high


def half_widths(dof: int, estimated: bool) -> tuple[float, float]:
    """Half widths, in standard errors, of the 68.3 % and 95 % intervals: the normal distribution's
    (1 and 1.96) with given sigmas; with the scatter estimated from ``dof`` degrees of freedom those of
    Student's t with ``dof`` degrees of freedom, whose wider tails carry the uncertainty of that
    estimate (1.08 and 2.36 at 7; the normal's as dof grows)."""
    levels = np.array([LEVEL_68, LEVEL_95])
    quantiles = stats.t.ppf((1 + levels) / 2, dof) if estimated and dof > 0 else stats.norm.ppf((1 + levels) / 2)
    return float(quantiles[0]), float(quantiles[1])


def _report(model: JointModel, names, transforms, start, solution, r, jac, data: Data, bounds) -> dict:
    """The :class:`FitResult` fields of the uncertainty and the identifiability (all but the counts,
    the wall time and the points) at the optimiser's ``solution`` with weighted residuals ``r`` and
    Jacobian ``jac`` (in the fit variables)."""
    m, n = jac.shape
    dof = m - n
    chi2 = float(r @ r)
    reduced = chi2 / dof if dof > 0 else None  # undefined without degrees of freedom
    covariance, undetermined = covariance_of(jac)
    estimated = not data.sigma_given
    warnings = _scatter_warnings(m, n, chi2) if estimated else []
    if estimated and not reduced:  # no degree of freedom, or an exact fit: no scatter to scale by
        undetermined[:] = True
    elif estimated:
        covariance *= reduced
    stderr_x = np.sqrt(np.clip(np.diag(covariance), 0, None))
    stderr_x[undetermined] = np.inf
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.clip(covariance / np.outer(stderr_x, stderr_x), -1, 1)
    correlation[undetermined, :] = correlation[:, undetermined] = np.nan  # undefined where a variance is infinite
    if not solution.success:
        warnings.append(f"the optimiser stopped without converging: {solution.message}")
    if data.sigma_given and reduced is not None and reduced > 4:
        warnings.append(f"reduced chi-square {reduced:.3g} >> 1: the model does not describe the data within the given sigmas")
    warnings += _identifiability_warnings(names, transforms, jac, correlation)
    w68, w95 = half_widths(dof, estimated)
    column = np.linalg.norm(jac, axis=0)
    estimates = []
    for i, (name, key, t) in enumerate(zip(names, model.keys, transforms)):
        value = float(t.to_p(solution.x[i]))
        stderr = float(value * stderr_x[i] if t.log else t.scale * stderr_x[i])
        if column[i] == 0:
            warnings.append(f"{name} does not change the fitted data at all: it cannot be determined")
            stderr = None
        elif undetermined[i]:
            stderr = None
        elif t.log and stderr_x[i] > 1:
            warnings.append(f"{name} is not determined by these data (relative uncertainty {stderr_x[i]:.1f} in ln {name})")
        if solution.active_mask[i] != 0:
            warnings.append(_at_bound(model, name, key, value, solution.active_mask[i]))
        estimates.append(Estimate(
            name=name, key=key, value=value, stderr=stderr, start=float(start[i]),
            interval_68=interval(t, solution.x[i], w68 * stderr_x[i]), interval_95=interval(t, solution.x[i], w95 * stderr_x[i]),
            scale="log" if t.log else "linear", bounds=tuple(bounds[i]), derivative=model.methods[key],
        ))
    singular = np.linalg.svd(jac, compute_uv=False)
    full = singular.size == n and singular.size and singular[-1] > 0
    return dict(
        parameters=tuple(estimates), correlation=tuple(tuple(finite(c) for c in row) for row in correlation),
        chi2=chi2, data_values=m, degrees_of_freedom=dof, reduced_chi2=reduced, sigma_given=data.sigma_given,
        sigma="given" if data.sigma_given else f"default {DEFAULT_RELATIVE_SIGMA:g} relative; errors scaled by the reduced chi-square"
        + ("" if reduced is not None else " (undefined: no degree of freedom)"),
        log_det_information=float(2 * np.sum(np.log(singular))) if full else None,
        warnings=warnings, converged=bool(solution.success), status=solution.message, cost=float(solution.cost),
        nfev=int(solution.nfev), njev=int(solution.njev or 0),
    )


def _scatter_warnings(m: int, n: int, chi2: float) -> list[str]:
    """Without the data's sigmas the scatter about the fit sets the noise: say when it cannot (no degree
    of freedom, or a fit through every point) and when it is far below the default sigmas' (chi-square
    below the :data:`SMOOTH_QUANTILE` quantile of their distribution: noise-free or averaged data, whose
    standard errors are as small as that scatter)."""
    dof = m - n
    if dof <= 0:
        return [
            f"{m} data value(s) and {n} parameter(s) leave no degree of freedom to estimate the scatter of the data "
            "from, and the data give no amplitude_sigma_m: the uncertainties are undetermined (stderr null); give "
            "the measurement's sigmas, or add data"
        ]
    if chi2 == 0:
        return ["the fit goes through every data value (chi-square 0): the scatter of the data, which sets the "
                "uncertainties without amplitude_sigma_m, is 0, so they are undetermined (stderr null); give the "
                "measurement's sigmas"]
    if stats.chi2.cdf(chi2, dof) < SMOOTH_QUANTILE:
        return [
            f"the data scatter about the fit far less than the default sigmas suppose ({DEFAULT_RELATIVE_SIGMA:g} of each "
            f"amplitude, {DEFAULT_RELATIVE_SIGMA:g} rad): chi-square {chi2:.3g} for {dof} degrees of freedom; noise-free or "
            "averaged data? The standard errors are scaled down to that scatter; give the measurement's sigmas if it is known"
        ]
    return []


def _identifiability_warnings(names, transforms, jac, correlation) -> list[str]:
    """Warnings on what the data do not determine: strongly correlated pairs, fewer data values than
    parameters, and a combination of parameters along which the normalised Jacobian is (nearly) singular."""
    m, n = jac.shape
    warnings = []
    for i in range(n):
        for j in range(i + 1, n):
            if abs(correlation[i, j]) > CORRELATION_LIMIT:
                warnings.append(
                    f"{names[i]} and {names[j]} are not separately determined by these data (correlation "
                    f"{correlation[i, j]:+.3f}): only a combination of them is; fix one, or add data that "
                    "separates them (phases, other harmonics, frequencies around the ionic corner D/(2 pi a^2))"
                )
    if m < n:
        warnings.append(
            f"{m} data values cannot determine {n} parameters: the uncertainties of the parameters in the undetermined "
            "combination are infinite (stderr null); fix some, or add data"
        )
    column = np.linalg.norm(jac, axis=0)
    if n > 1 and np.all(column > 0):
        _, sn, vtn = np.linalg.svd(jac / column, full_matrices=True)
        sn = np.concatenate([sn, np.zeros(n - sn.size)])  # fewer data than parameters: the missing ones are 0
        if sn[-1] < SINGULAR_LIMIT * sn[0]:
            combination = " + ".join(f"{c:+.2f} {'ln ' if t.log else ''}{name}" for c, t, name in zip(vtn[-1], transforms, names))
            warnings.append(f"the data do not determine the combination {combination} (normalised singular value {sn[-1] / sn[0]:.1e})")
    return warnings


def _at_bound(model: JointModel, name: str, key: str, value: float, side: int) -> str:
    why = ""
    if slope_bounds(model.studies[0], key) is not None:
        why = f"; it keeps k(T) = k + k' (T - T_amb) >= {CONDUCTIVITY_KEPT:g} k at the tip's temperatures"
    return f"{name} = {value:g} is at a bound of the fit ({'lower' if side < 0 else 'upper'}{why})"


def covariance_of(jac: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The covariance (J^T J)^-1 of the fit variables from the weighted Jacobian ``jac`` (data x
    parameters) on the subspace the data determine, and a mask of the parameters with a component in
    its complement (a rank-deficient J, e.g. fewer data than parameters): their variance is infinite,
    which the pseudo-inverse alone would hide behind a finite number."""
    n = jac.shape[1]
    _, s, vt = np.linalg.svd(jac, full_matrices=True)
    rank = int(np.sum(s > s[0] * 1e-12)) if s.size and s[0] > 0 else 0
    covariance = (vt[:rank].T / s[:rank] ** 2) @ vt[:rank]
    undetermined = np.any(np.abs(vt[rank:]) > 1e-8, axis=0) if rank < n else np.zeros(n, dtype=bool)
    return covariance, undetermined


def _points(data: Data, y, r) -> tuple[FitPoint, ...]:
    """Per data point: data, model and weighted residuals (the rows of fit.csv)."""
    count, labels = len(data.amplitude), [condition_label(c) for c in data.conditions]
    phase_row = {int(i): count + k for k, i in enumerate(with_phase(data))}
    points = []
    for i in range(count):
        phase = {}
        if i in phase_row:
            phase = dict(phase_deg=math.degrees(data.phase[i]), phase_sigma_deg=math.degrees(data.phase_sigma[i]),
                         phase_residual=float(r[phase_row[i]]))
        points.append(FitPoint(
            drive_frequency_hz=float(data.frequency[i]), harmonic=int(data.harmonic[i]), amplitude_m=float(data.amplitude[i]),
            model_amplitude_m=float(abs(y[i])), amplitude_sigma_m=float(data.amplitude_sigma[i]),
            amplitude_residual=float(r[i]), model_phase_deg=math.degrees(np.angle(y[i])), **phase,
            condition=labels[data.condition[i]], source=data.sources[data.source[i]],
        ))
    return tuple(points)
