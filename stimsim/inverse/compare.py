"""Which mechanism is it? Every candidate model of a study (``[[fit.models]]``,
:mod:`stimsim.inverse.models`) fitted to the same data and compared by the Bayesian information
criterion (docs/guide/fitting.md, 'Models comparison').

With the measurement's sigmas the fit's chi-square is -2 ln L up to a constant common to every model,
so BIC = chi2 + k ln m (k fitted parameters, m data values). Without sigmas the noise level is a
further unknown common to every model; profiled out, -2 ln L = m ln(chi2 / m) + const, so
BIC = m ln(chi2 / m) + k ln m (the noise level's own ln m is the same for every model and left out),
undefined when the model leaves no degree of freedom (the scatter cannot be estimated). The
preferred model has the lowest BIC. With sigmas and a proper prior (finite bounds on every fitted
parameter) the Laplace approximation of the evidence is given too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mpi4py import MPI

from stimsim.core.errors import InputError, StimsimError
from stimsim.inverse.data import Data
from stimsim.inverse.fit import fit, fit_options
from stimsim.inverse.models import ModelSpec
from stimsim.inverse.results import FitResult
from stimsim.solve.limits import check_study
from stimsim.study.study import Study


#: Delta BIC below which the data do not decide between two models (2 ln of the Bayes factor below 2:
#: "not worth more than a bare mention", Kass and Raftery, J. Am. Stat. Assoc. 90, 773 (1995)).
UNDECIDED_BIC = 2.0


@dataclass(frozen=True)
class ModelFit:
    """One candidate model fitted: its ``spec``, the fit ``result`` (None: the fit failed, ``failure``
    says why, e.g. the optimiser reached values where the model does not hold), its ``bic`` (None:
    undefined), ``delta_bic`` (BIC minus the lowest BIC; None where undefined), ``weight``
    exp(-delta_bic/2) normalised over the models with a BIC (the approximate posterior probability of
    the model among them, equal prior odds), the Laplace ``log_evidence`` (natural log, up to a constant
    common to the models; None where not defined) and whether it is the ``preferred`` one (lowest BIC)."""

    spec: ModelSpec
    result: FitResult | None
    bic: float | None
    delta_bic: float | None
    weight: float | None
    log_evidence: float | None
    preferred: bool
    failure: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name


#: The columns of models.csv.
MODEL_COLUMNS = (
    "name", "chi2", "dof", "bic", "delta_bic", "preferred", "bic_weight", "log_evidence", "data_values", "parameters",
    "converged", "values", "warnings",
)


@dataclass(frozen=True)
class Comparison:
    """The candidate ``models`` fitted to the same data (in the order of [[fit.models]]) and the
    comparison's own ``warnings``."""

    models: tuple[ModelFit, ...]
    warnings: tuple[str, ...]

    columns = MODEL_COLUMNS

    @property
    def preferred(self) -> ModelFit | None:
        """The model with the lowest BIC (None when no model has one)."""
        return next((m for m in self.models if m.preferred), None)

    @property
    def chosen(self) -> ModelFit:
        """The model whose fit stands for the comparison in fit.json: the preferred one, else the first
        that was fitted."""
        return self.preferred or next(m for m in self.models if m.result is not None)

    def rows(self) -> list[dict]:
        """One models.csv row per model (a failed fit: its name, preferred 0, converged 0 and why)."""
        return [_row(m) if m.result is not None else {"name": m.name, "preferred": 0, "converged": 0, "warnings": m.failure}
                for m in self.models]

    def to_json(self) -> dict:
        """models.json: every model's fit.json content (a failed fit: its error) by name."""
        return {m.name: m.result.to_json() if m.result is not None else {"error": m.failure} for m in self.models}


def _row(m: ModelFit) -> dict:
    r = m.result
    return {
        "name": m.name, "chi2": r.chi2, "dof": r.degrees_of_freedom, "bic": _blank(m.bic), "delta_bic": _blank(m.delta_bic),
        "preferred": int(m.preferred), "bic_weight": _blank(m.weight), "log_evidence": _blank(m.log_evidence),
        "data_values": r.data_values, "parameters": len(r.parameters), "converged": int(r.converged),
        "values": "; ".join(_value(p) for p in r.parameters), "warnings": " | ".join(r.warnings),
    }


def _blank(value: float | None):
    return "" if value is None else value


def _value(estimate) -> str:
    stderr = "undetermined" if estimate.stderr is None else f"{estimate.stderr:.3g}"
    return f"{estimate.name}={estimate.value:.6g}+-{stderr}"


def bic(result: FitResult) -> float | None:
    """The Bayesian information criterion of a fit (module docstring): chi2 + k ln m with given sigmas,
    m ln(chi2 / m) + k ln m with the scatter estimated (None without a degree of freedom or with
    chi2 = 0: the scatter cannot be estimated)."""
    m, k = result.data_values, len(result.parameters)
    if result.sigma_given:
        return result.chi2 + k * math.log(m)
    if result.degrees_of_freedom <= 0 or result.chi2 <= 0:
        return None
    return m * math.log(result.chi2 / m) + k * math.log(m)


def log_evidence(result: FitResult) -> float | None:
    """Laplace approximation of ln(evidence) of a fit with given sigmas, up to a constant common to
    every model of the same data: -chi2/2 + (k/2) ln(2 pi) - (1/2) ln det(J^T J) - sum ln w_i, with J
    the weighted Jacobian in the fit variables and w_i the width of the flat prior of fit variable i
    (its bounds: ln(high/low) for a log parameter, (high - low)/|start| for a linear one). None without
    sigmas, with a singular J^T J or with an open bound."""
    if not result.sigma_given or result.log_det_information is None:
        return None
    widths = []
    for p in result.parameters:
        low, high = p.bounds
        if low is None or high is None or (p.scale == "log" and low <= 0):
            return None
        widths.append(math.log(high / low) if p.scale == "log" else (high - low) / p.transform.scale)
    k = len(result.parameters)
    return -0.5 * result.chi2 + 0.5 * k * math.log(2 * math.pi) - 0.5 * result.log_det_information - sum(map(math.log, widths))


def compare(specs, results) -> Comparison:
    """The :class:`Comparison` of the fits ``results`` of the models ``specs`` (same order, same data;
    a failed fit is the StimsimError it raised)."""
    failures = {i: str(r) for i, r in enumerate(results) if isinstance(r, StimsimError)}
    results = [None if i in failures else r for i, r in enumerate(results)]
    bics = [None if r is None else bic(r) for r in results]
    defined = [b for b in bics if b is not None]
    lowest = min(defined) if defined else None
    best = bics.index(lowest) if defined else None
    total = sum(math.exp(-(b - lowest) / 2) for b in defined)
    models = tuple(
        ModelFit(spec, result, b, None if b is None else b - lowest, None if b is None else math.exp(-(b - lowest) / 2) / total,
                 None if result is None else log_evidence(result), i == best, failures.get(i))
        for i, (spec, result, b) in enumerate(zip(specs, results, bics))
    )
    warnings = [f"model {models[i].name!r} could not be fitted, so it is not compared: {message}" for i, message in failures.items()]
    if best is None:
        warnings.append(
            "no model has a BIC (without amplitude_sigma_m the scatter of the data sets the noise, and no model leaves "
            "a degree of freedom to estimate it from): the models cannot be compared; give the measurement's sigmas, or add data"
        )
    close = [repr(m.name) for m in models if not m.preferred and m.delta_bic is not None and m.delta_bic < UNDECIDED_BIC]
    if close:
        warnings.append(
            f"the data do not decide between the preferred model {models[best].name!r} and {', '.join(close)} (delta BIC "
            f"< {UNDECIDED_BIC:g}): its preference is no evidence; add data that tell them apart (phases, other harmonics, "
            "frequencies or conditions)"
        )
    undefined = [m.name for m, b in zip(models, bics) if b is None and m.result is not None and best is not None]
    if undefined:
        warnings.append(f"model(s) {', '.join(undefined)} have no BIC (no degree of freedom to estimate the scatter from): not compared")
    return Comparison(models, tuple(warnings))


def check_models(study: Study, specs: list[ModelSpec], data: Data | None = None) -> None:
    """Refuse, before any solve, a model that cannot be fitted: each model's study (its ``set``) valid
    and within the temperature limits, its ``params`` fittable in it (a ``set`` key it fits is its
    start value), and (with ``data``) no ``set`` key that the data's measurement conditions set too."""
    condition_keys = {key for c in (data.conditions if data is not None else ()) for key in c}
    for i, spec in enumerate(specs):
        where = f"fit.models[{i}]"
        here = spec.study(study, where)
        fit_options(here, spec.parameters, where=f"{where}.params")
        clash = sorted(condition_keys & set(spec.overrides))
        if clash:
            raise InputError(
                f"{where}.set", f"of model {spec.name!r} sets {clash[0]}, which the data's measurement conditions set per "
                "condition: leave it to the conditions"
            )
        check_study(here)


def fit_models(study: Study, data: Data, specs: list[ModelSpec], comm: MPI.Comm = MPI.COMM_WORLD,
               quiet: bool = True) -> Comparison:
    """Fit every model of ``specs`` (its ``params`` from the study's values with its ``set`` applied)
    to ``data`` and compare them (:func:`compare`). A model whose fit fails (the optimiser reaching
    values where the model does not hold, a solver failure) is reported, not compared; if every fit
    fails the first failure is raised. Collective; every rank returns the same comparison."""
    if not specs:
        raise InputError("fit.models", "is empty: give at least one [[fit.models]] table to compare")
    check_models(study, specs, data)
    results = [_fitted(study, data, spec, comm, quiet, f"fit.models[{i}].params") for i, spec in enumerate(specs)]
    failed = [r for r in results if isinstance(r, StimsimError)]
    if len(failed) == len(results):
        raise failed[0]
    return compare(specs, results)


def _fitted(study: Study, data: Data, spec: ModelSpec, comm: MPI.Comm, quiet: bool, where: str) -> FitResult | StimsimError:
    """The fit of one model, or the error its fit raised (every rank raises the same one)."""
    try:
        return fit(spec.study(study), data, spec.parameters, comm, quiet, where=where)
    except StimsimError as err:
        return err

