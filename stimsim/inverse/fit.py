"""Fitting measured STIM harmonics: weighted least squares, uncertainties, report.

The measured data: :mod:`stimsim.inverse.data`.

Residuals: (|y| - A)/sigma_A and, with phases, wrap(arg y - phi)/sigma_phi, y the model's complex
tip displacement. Positive parameters are fitted in log space, the others scaled by their start value.
scipy's ``least_squares`` (trust-region reflective, bounds) gets the analytic Jacobian of
:class:`~stimsim.inverse.forward_model.ForwardModel`. Covariance (J^T J)^-1 by SVD; identifiability warnings for
correlations above :data:`CORRELATION_LIMIT`, for combinations the data do not determine (normalised
singular value below :data:`SINGULAR_LIMIT`) and for parameters at a bound.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mpi4py import MPI
from scipy.optimize import least_squares

from stimsim.study.schema import MODE_KEYS, key_spec
from stimsim.study.study import Study
from stimsim.core.errors import InputError, SolverError, StimsimError, did_you_mean, suggest
from stimsim.inverse.forward_model import ALIASES, ForwardModel, check_fittable_geometry, parameter_key, study_value
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


def accepted_range(key: str) -> tuple[float, float]:
    """The accepted open range (SI) of a study key."""
    spec = key_spec(key)
    return spec.low, spec.high


def fit_options(study: Study, parameters=(), require: bool = True) -> dict:
    """The [fit] section, validated: parameters (names), bounds {key: (low, high)} and max_evaluations;
    every parameter must be one the model depends on with a start value that can be fitted.
    ``require``: refuse a fit without parameters (``stimsim validate`` does not: --param may name them)."""
    check_fittable_geometry(study)
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
    where = "--param" if parameters else "fit.parameters"
    keys = {checked_parameter(n, study, where if where == "fit.parameters" else None) for n in names}
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
    return {"parameters": names, "bounds": bounds, "max_evaluations": evaluations,
            "listed": [] if parameters else names}


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
    ionic = section == "ions" or (prop in IONIC_PROPERTIES and section == "sample.properties")
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


def residuals(y, dy, data: Data):
    """Weighted residuals of the model values ``y`` (complex, m, one per data point) and their
    derivatives d r / d p from ``dy`` = d y / d p (None: residuals only)."""
    amplitude = np.abs(y)
    r = [(amplitude - data.amplitude) / data.amplitude_sigma]
    if data.phase is not None:
        r.append(np.angle(y * np.exp(-1j * data.phase)) / data.phase_sigma)
    if dy is None:
        return np.concatenate(r), None
    jac = [(np.conj(y)[:, None] * dy).real / (amplitude * data.amplitude_sigma)[:, None]]
    if data.phase is not None:
        jac.append((dy / y[:, None]).imag / data.phase_sigma[:, None])
    return np.concatenate(r), np.concatenate(jac)


def fit(study: Study, data: Data, parameters=(), comm: MPI.Comm = MPI.COMM_WORLD, quiet: bool = True) -> dict:
    """Weighted least-squares fit of ``parameters`` (names; default [fit] parameters) starting from the
    study's values. Collective; every rank returns the same result (the fit.json content). Progress
    lines (model evaluations, chi-square) go to stderr of rank 0 unless ``quiet``."""
    options = fit_options(study, parameters)
    check_study(study)
    names = options["parameters"]
    start_time = time.perf_counter()
    progress = Progress("fit", options["max_evaluations"], quiet, comm.rank)
    with ForwardModel(study, names, comm, frequencies=sorted(set(data.frequency))) as model:
        return _fit(model, data, names, options, start_time, progress)


def _fit(model: ForwardModel, data: Data, names, options: dict, start_time: float, progress: Progress) -> dict:
    produced = model.harmonics
    for n, line in zip(data.harmonic, data.rows):
        if n not in produced:
            raise InputError(
                "DATA", f"row {line}, column harmonic: harmonic {n} is not produced by this study "
                f"(excitation.mode {model.study.excitation.mode!r}, {'with' if model.model.ionic else 'without'} mobile ions: "
                f"harmonics {', '.join(map(str, produced))})"
            )
    points = {point: i for i, point in enumerate(model.evaluate().points)}
    index = np.array([points[f, n] for f, n in zip(data.frequency, data.harmonic)])
    start = model.values
    transforms, lower, upper, limits = [], [], [], []
    where = "fit.parameters" if options.get("listed") else "--param"
    for key, value in zip(model.keys, start):
        low, high = options["bounds"].get(key, accepted_range(key))
        slopes = slope_bounds(model.study, key)
        if slopes is not None:  # never narrower than needed to hold the start value
            low, high = max(low, min(slopes[0], value)), min(high, max(slopes[1], value))
        limits.append([low, high])
        t = Transform(log=low >= 0, scale=abs(value) or 1.0)
        if not low <= value <= high:
            raise InputError(key, f"start value {value:g} is outside the bounds [{low:g}, {high:g}]")
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
                prediction = model.evaluate(p, derivatives=True)
            except StimsimError as err:
                raise failed_at(err, names, p, where) from None
            y, dy = prediction.displacement[index], prediction.jacobian[index]
            r, jac = residuals(y, dy, data)
            jac = jac * np.array([t.dp_dx(v) for t, v in zip(transforms, x)])
            cache[key] = model.comm.bcast((r, jac, y), root=0)  # identical numbers on every rank
            values = ", ".join(f"{name} = {value:.4g}" for name, value in zip(names, p))
            progress.advance(f"chi-square {float(cache[key][0] @ cache[key][0]):.4g} at {values}")
        return cache[key]

    x0 = np.array([t.to_x(v) for t, v in zip(transforms, start)])
    unused = [name for name, column in zip(names, np.linalg.norm(evaluate(x0)[1], axis=0)) if not column > 0]
    if unused:
        raise InputError(where, f"= {unused[0]!r}: the fitted data do not depend on it in this study, so it cannot be fitted")
    solution = least_squares(
        lambda x: evaluate(x)[0], x0, jac=lambda x: evaluate(x)[1], bounds=(lower, upper), method="trf",
        x_scale=1.0, xtol=1e-10, ftol=1e-10, gtol=1e-10, max_nfev=options["max_evaluations"],
    )
    r, jac, y = evaluate(solution.x)
    fitted = [t.to_p(v) for t, v in zip(transforms, solution.x)]
    try:
        checked = model.checked(fitted)
    except StimsimError as err:
        raise failed_at(err, names, fitted, where) from None
    result = _report(model, names, transforms, start, solution, r, jac, data, limits)
    result["warnings"] += checked.periodic_warnings()
    result["forward_evaluations"] = model.evaluations
    result["rebuilds"] = model.rebuilds
    result["wall_time_s"] = model.comm.allreduce(time.perf_counter() - start_time, op=MPI.MAX)
    result["points"] = _points(data, y, r)
    return result


def _report(model, names, transforms, start, solution, r, jac, data: Data, bounds) -> dict:
    m, n = jac.shape
    dof = m - n
    chi2 = float(r @ r)
    reduced = chi2 / dof if dof > 0 else None  # undefined without degrees of freedom
    covariance, undetermined = covariance_of(jac)
    warnings = []
    if not data.sigma_given and reduced is None:
        warnings.append(
            f"{m} data value(s) and {n} parameter(s) leave no degree of freedom to estimate the scatter of the data "
            "from, and the data give no amplitude_sigma_m: the uncertainties are undetermined (stderr null); give "
            "the measurement's sigmas, or add data"
        )
        undetermined[:] = True
    elif not data.sigma_given:
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
    for i in range(n):
        for j in range(i + 1, n):
            if abs(correlation[i, j]) > CORRELATION_LIMIT:
                warnings.append(
                    f"{names[i]} and {names[j]} are not separately determined by these data (correlation "
                    f"{correlation[i, j]:+.3f}): only a combination of them is; fix one, or add data that "
                    "separates them (phases, other harmonics, frequencies around the ionic corner D/(2 pi a^2))"
                )
    column = np.linalg.norm(jac, axis=0)
    if m < n:
        warnings.append(
            f"{m} data values cannot determine {n} parameters: the uncertainties of the parameters in the undetermined "
            "combination are infinite (stderr null); fix some, or add data"
        )
    if n > 1 and np.all(column > 0):
        _, sn, vtn = np.linalg.svd(jac / column, full_matrices=True)
        sn = np.concatenate([sn, np.zeros(n - sn.size)])  # fewer data than parameters: the missing ones are 0
        if sn[-1] < SINGULAR_LIMIT * sn[0]:
            combination = " + ".join(f"{c:+.2f} {'ln ' if t.log else ''}{name}" for c, t, name in zip(vtn[-1], transforms, names))
            warnings.append(f"the data do not determine the combination {combination} (normalised singular value {sn[-1] / sn[0]:.1e})")
    parameters = {}
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
            side = "lower" if solution.active_mask[i] < 0 else "upper"
            why = ""
            if slope_bounds(model.study, key) is not None:
                why = f"; it keeps k(T) = k + k' (T - T_amb) >= {CONDUCTIVITY_KEPT:g} k at the tip's temperatures"
            warnings.append(f"{name} = {value:g} is at a bound of the fit ({side}{why})")
        parameters[name] = {
            "key": key, "value": value, "stderr": stderr, "start": float(start[i]),
            "interval_68": interval(t, solution.x[i], stderr_x[i]), "scale": "log" if t.log else "linear",
            "bounds": [_finite(b) for b in bounds[i]],
            "derivative": model.methods[key],
        }
    return {
        "parameters": parameters,
        "correlation": {a: {b: _finite(correlation[i, j]) for j, b in enumerate(names)} for i, a in enumerate(names)},
        "warnings": warnings,
        "converged": bool(solution.success), "status": solution.message,
        "cost": float(solution.cost), "chi2": chi2, "reduced_chi2": reduced, "degrees_of_freedom": m - n,
        "sigma": "given" if data.sigma_given else f"default {DEFAULT_RELATIVE_SIGMA:g} relative; errors scaled by the reduced chi-square"
        + ("" if reduced is not None else " (undefined: no degree of freedom)"),
        "nfev": int(solution.nfev), "njev": int(solution.njev or 0),
    }


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


#: The largest fit variable of a log parameter whose value is a float (ln of the largest float, about 709.8).
LARGEST_LOG = math.log(np.finfo(float).max)


def interval(t: Transform, x: float, stderr_x: float) -> list[float | None]:
    """The 68 % interval [p(x - s), p(x + s)] (SI) of a parameter at the fit variable ``x`` with the
    standard error ``stderr_x`` (s) of x: None for an end that is not a finite number (an undetermined
    parameter, or an upper end beyond the float range: exp is not evaluated there)."""
    ends = [x - stderr_x, x + stderr_x]
    return [_finite(t.to_p(e)) if np.isfinite(e) and not (t.log and e > LARGEST_LOG) else None for e in ends]


def _finite(value) -> float | None:
    return float(value) if np.isfinite(value) else None


def _points(data: Data, y, r) -> list[dict]:
    """Per data point: data, model and weighted residuals (the rows of fit.csv)."""
    count = len(data.amplitude)
    rows = []
    for i in range(count):
        row = {
            "drive_frequency_hz": float(data.frequency[i]), "harmonic": int(data.harmonic[i]),
            "amplitude_m": float(data.amplitude[i]), "model_amplitude_m": float(abs(y[i])),
            "amplitude_sigma_m": float(data.amplitude_sigma[i]), "amplitude_residual": float(r[i]),
            "model_phase_deg": math.degrees(np.angle(y[i])),
        }
        if data.phase is not None:
            row |= {
                "phase_deg": math.degrees(data.phase[i]), "phase_sigma_deg": math.degrees(data.phase_sigma[i]),
                "phase_residual": float(r[count + i]),
            }
        rows.append(row)
    return rows


FIT_COLUMNS = (
    "drive_frequency_hz", "harmonic", "amplitude_m", "model_amplitude_m", "amplitude_sigma_m", "amplitude_residual",
    "phase_deg", "model_phase_deg", "phase_sigma_deg", "phase_residual",
)


def write_fit(result: dict, outdir: Path, title: str = "", samples=None, replace: bool = False) -> None:
    """OUTDIR/fit.json, fit.csv, fit.png and, with posterior ``samples`` (SI, one column per parameter),
    posterior.csv (call on rank 0 only, e.g. through :func:`stimsim.core.parallel.on_root`)."""
    from stimsim.io.files import staged_output, write_rows
    from stimsim.io.plots import plot_fit

    with staged_output(outdir, replace=replace) as staging:
        (staging / "fit.json").write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
        write_rows(result["points"], staging / "fit.csv", FIT_COLUMNS)
        plot_fit(result["points"], staging / "fit.png", title)
        if samples is not None:
            names = list(result["parameters"])
            write_rows([dict(zip(names, map(float, row))) for row in samples], staging / "posterior.csv", names)
