"""Which measurement next: candidate measurements ranked by how much each would shrink the uncertainty
of a target parameter, and by how well it separates the ``[[fit.models]]`` (docs/guide/design.md).

Candidates are every drive frequency x harmonic x DC heating power of the study's ``[design]`` table
(:data:`DESIGN_SCHEMA`). A DC heating power is a condition: the study with the drive's DC heating key
set (:meth:`stimsim.physics.drives.Drive.dc_power_changes`), one :class:`ForwardModel` per condition,
all candidate frequencies in one evaluation with the tangent-linear Jacobian.

Target. Each candidate gives the weighted rows of an amplitude measurement (relative standard deviation
``amplitude_noise``) and, with ``phases``, of a phase measurement (``phase_noise`` degrees) with respect
to the fit variables of the target and the nuisance parameters: ln p for a positive parameter, p / |p|
for a signed one, the rows of the fit's own Jacobian (:func:`stimsim.inverse.fit.residuals`). A set S
of candidates has the Fisher information F(S) = sum_S J_c^T J_c, and the standard deviation of ln target
with the nuisance parameters marginalised is sigma(S) = sqrt([F(S)^-1]_tt), infinite where F(S) leaves
the target undetermined (:func:`stimsim.inverse.fit.covariance_of`). ``measurements`` candidates are
chosen greedily, each the one with the smallest sigma(chosen so far + it); ties among candidates that
all leave the target undetermined go to the smallest sigma under a weak prior of
:data:`UNDETERMINED_PRIOR` on every fit variable (the candidate that comes nearest to determining it).
Exchanges then swap a chosen candidate for another while that lowers sigma of the set, and the final
set is ranked in the order the greedy choice takes it. The candidates not chosen are ranked after it
by sigma(chosen + it).

Models. For an ordered pair (A, B) of ``[[fit.models]]``, chi2_AB(S) is the chi-square of model B's
linearised best fit to model A's noise-free prediction at S: with r the weighted residuals of B's
prediction against A's (A's amplitudes set the noise) and J_B B's weighted Jacobian in its own
parameters, chi2_AB(S) = min_d |r_S + J_B,S d|^2. It is the non-centrality of B's chi-square on A's
noisy data: B's expected chi-square exceeds A's by about chi2_AB. Every model is evaluated at its own
parameter values under the same settings of each DC condition (the same study keys: with a Joule drive
the same DC voltage). The separation of S is the smallest chi2_AB over the ordered pairs; a second
greedy ranking maximises it (ties broken as above).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

import numpy as np
from mpi4py import MPI

from stimsim.core.errors import InputError
from stimsim.core.progress import Progress
from stimsim.fem.coefficients import thermally_nonlinear
from stimsim.inverse.data import DEFAULT_RELATIVE_SIGMA, Data
from stimsim.inverse.fit import accepted_range, checked_parameter, covariance_of, residuals, unfittable
from stimsim.inverse.forward_model import ForwardModel, parameter_key, produced_harmonics, study_value, with_values
from stimsim.inverse.models import ModelSpec, model_specs
from stimsim.physics.drives import MAX_HARMONIC
from stimsim.solve.limits import check_study
from stimsim.study.schema import Key, check_table
from stimsim.study.study import Study

#: The keys of the study file's [design] table.
DESIGN_SCHEMA = {
    "target": Key("string", "", "the fit parameter whose uncertainty the design shrinks", "diffusivity"),
    "nuisance": Key("strings", "", "fit parameters estimated with the target (marginalised)", ()),
    "frequencies": Key("numbers", "Hz", "candidate drive frequencies (default: the study's)", low=0.0, high=1e10),
    "harmonics": Key(
        "integers", "", "candidate harmonics of the drive frequency (default: every one the study produces)",
        low=1, high=MAX_HARMONIC,
    ),
    "dc_powers": Key(
        "numbers", "W", "candidate DC heating powers (default: the study's own)", low=0.0, high=10.0, low_inclusive=True,
    ),
    "measurements": Key("integer", "", "how many candidates to choose (default: the number of parameters)", low=1, high=100000),
    "amplitude_noise": Key(
        "number", "1", "relative standard deviation of a measured amplitude", DEFAULT_RELATIVE_SIGMA, low=0.0, high=1.0,
        high_inclusive=True,
    ),
    "phase_noise": Key(
        "number", "deg", "standard deviation of a measured phase", math.degrees(DEFAULT_RELATIVE_SIGMA), low=0.0, high=180.0,
    ),
    "phases": Key("boolean", "", "whether a measurement gives the phase as well as the amplitude", True),
}
#: Standard deviation of the weak prior on every fit variable (ln p, or p/|p|) that breaks the ties of
#: the greedy choices while the chosen set leaves the target undetermined or lets a model fit another
#: exactly (it changes no reported number).
UNDETERMINED_PRIOR = 10.0
#: A model pair's chi-square below this fraction of the squared residual before the refit is round-off
#: of an exact fit (reported as 0).
ROUND_OFF = 1e-12

#: The columns of design.csv: name, unit, meaning (the separation columns only with [[fit.models]]).
DESIGN_COLUMNS = (
    ("rank", "", "rank by sigma_ln_target; 1 .. measurements are the chosen set, in the order chosen"),
    ("drive_frequency_hz", "Hz", "drive frequency"),
    ("harmonic", "", "harmonic n of the drive frequency"),
    ("dc_power_w", "W", "DC heating power (the drive's dc_power)"),
    ("amplitude_m", "m", "predicted |u_z|"),
    ("phase_deg", "deg", "predicted phase of u_z"),
    ("sigma_ln_target", "1", "sigma of ln target with the chosen set so far plus this candidate (empty: undetermined)"),
    ("sigma_ln_target_next", "1", "sigma of ln target with the whole chosen set plus one more measurement here"),
    ("chosen", "", "whether the candidate is in the chosen set"),
    ("note", "", "why sigma_ln_target is empty"),
)
SEPARATION_COLUMNS = (
    ("separation_rank", "", "rank by separation_chi2; 1 .. measurements are the separating set"),
    ("separation_chi2", "1", "smallest chi2_A_vs_B over the model pairs, with the separating set so far plus this candidate"),
    ("separation_chi2_next", "1", "the same with the whole separating set plus one more measurement here"),
    ("separating", "", "whether the candidate is in the separating set"),
)


@dataclass(frozen=True)
class DesignOptions:
    """The validated [design] table: the ``target`` and ``nuisance`` fit-parameter names, the candidate
    ``frequencies`` (Hz), ``harmonics`` (None: every one produced) and ``dc_powers`` (W; None: the
    study's own), how many ``measurements`` to choose, ``amplitude_noise`` (relative), ``phase_noise``
    (degrees) and whether the measurements give ``phases``."""

    target: str
    nuisance: tuple[str, ...]
    frequencies: tuple[float, ...]
    harmonics: tuple[int, ...] | None
    dc_powers: tuple[float, ...] | None
    measurements: int
    amplitude_noise: float
    phase_noise: float
    phases: bool

    @property
    def parameters(self) -> tuple[str, ...]:
        """The target, then the nuisance parameters."""
        return (self.target, *self.nuisance)


@dataclass(frozen=True)
class Condition:
    """One DC heating condition: the drive's DC heating power ``dc_power`` (W), the study overrides
    ``changes`` (study key -> SI value) that make it, and the study with them."""

    dc_power: float
    changes: dict
    study: Study


@dataclass(frozen=True)
class Candidate:
    """A candidate measurement: harmonic ``harmonic`` of the drive frequency ``frequency`` (Hz) in the
    DC condition ``condition`` (an index of :attr:`Design.conditions`) of DC heating power ``dc_power``
    (W), where the study predicts the complex tip displacement ``displacement`` (m)."""

    frequency: float
    harmonic: int
    dc_power: float
    condition: int
    displacement: complex


@dataclass(frozen=True)
class Ranking:
    """Candidates ranked greedily: ``order`` (candidate indices, best first; the first ``count`` are
    the chosen set, in the order chosen), ``value`` (by candidate index, the criterion of
    ``basis[index]``, the set chosen before the candidate plus the candidate itself; the candidates not
    chosen are ranked with the whole chosen set) and ``after`` (by candidate index, the criterion of
    the whole chosen set plus one more measurement at the candidate, a repeat for a chosen one)."""

    order: tuple[int, ...]
    value: tuple[float, ...]
    basis: tuple[tuple[int, ...], ...]
    count: int
    after: tuple[float, ...]

    @property
    def chosen(self) -> tuple[int, ...]:
        return self.order[: self.count]

    def rank(self, index: int) -> int:
        """The 1-based rank of candidate ``index``."""
        return self.order.index(index) + 1


@dataclass(frozen=True)
class Separation:
    """How well candidates separate the ``models`` (names): for every ordered pair ``pairs[i]`` =
    (A, B) (indices of ``models``) the weighted residual rows ``residual[i]`` (candidates x rows) of B's
    prediction against A's and B's weighted Jacobian rows ``jacobian[i]`` (candidates x rows x B's fit
    variables); ``ranking`` maximises the smallest pair chi-square (module docstring)."""

    models: tuple[str, ...]
    pairs: tuple[tuple[int, int], ...]
    residual: tuple[np.ndarray, ...]
    jacobian: tuple[np.ndarray, ...]
    ranking: Ranking

    def pair_names(self) -> list[str]:
        """``A_vs_B`` for every ordered pair: B's fit to A's prediction."""
        return [f"{self.models[a]}_vs_{self.models[b]}" for a, b in self.pairs]

    def chi2(self, pair: int, indices) -> float:
        """chi2_AB of the candidates ``indices`` for the pair of index ``pair``."""
        return pair_chi2(self.residual[pair], self.jacobian[pair], indices)


def pair_chi2(residual: np.ndarray, jacobian: np.ndarray, indices, prior: float | None = None) -> float:
    """min_d |r + J d|^2 over the candidates ``indices`` of the residual rows ``residual`` and the
    refitted model's Jacobian rows ``jacobian`` (:class:`Separation`); with ``prior`` (the standard
    deviation of a Gaussian prior on its fit variables) the prior's term |d / prior|^2 is added."""
    r = np.concatenate([residual[i] for i in indices])
    jac = np.concatenate([jacobian[i] for i in indices])
    if prior is not None:
        r = np.concatenate([r, np.zeros(jac.shape[1])])
        jac = np.vstack([jac, np.eye(jac.shape[1]) / prior])
    step = np.linalg.lstsq(jac, -r, rcond=None)[0]
    found = float(np.sum((r + jac @ step) ** 2))
    return found if found > ROUND_OFF * float(r @ r) else 0.0  # an exact fit is 0, not round-off


@dataclass(frozen=True)
class Design:
    """A measurement design: the ``options``, the study ``keys`` and ``values`` (SI) of the target and
    nuisance parameters and whether each is varied in ln (``log``), the DC ``conditions`` (study
    overrides), the ``candidates``, their weighted Jacobian rows ``information`` (candidates x rows x
    parameters, fit variables), the greedy ``ranking`` by sigma of ln target, the model ``separation``
    (None without two [[fit.models]]) and the candidates left out because the study predicts no
    signal there (``silent``, descriptions)."""

    options: DesignOptions
    keys: tuple[str, ...]
    values: tuple[float, ...]
    log: tuple[bool, ...]
    conditions: tuple[dict, ...]
    candidates: tuple[Candidate, ...]
    information: np.ndarray
    ranking: Ranking
    separation: Separation | None
    silent: tuple[str, ...] = ()

    @property
    def notes(self) -> tuple[str, ...]:
        """What the numbers mean where they are infinite, and what was left out."""
        found = [f"left out, the study predicts no signal there: {', '.join(self.silent)}"] if self.silent else []
        if not math.isfinite(self.sigma_of(self.ranking.chosen)):
            found.append(
                f"the chosen {self.options.measurements} measurement(s) leave {self.target_label} undetermined "
                "(sigma infinite): choose more measurements, add candidates (phases, harmonics, DC powers) or drop "
                "nuisance parameters"
            )
        return tuple(found)

    def amplitudes_only(self) -> Design:
        """The same candidates measured without their phases (the amplitude rows alone), ranked again."""
        if not self.options.phases:
            return self
        options = dataclasses.replace(self.options, phases=False)
        separation = self.separation
        if separation is not None:
            residual = tuple(r[:, :1] for r in separation.residual)
            jacobian = tuple(j[:, :1] for j in separation.jacobian)
            separation = _separating(separation.models, separation.pairs, residual, jacobian, options.measurements)
        information = self.information[:, :1]
        return dataclasses.replace(self, options=options, information=information, separation=separation,
                                   ranking=_target_ranking(information, options.measurements))

    @property
    def target_label(self) -> str:
        """What sigma_ln_target is the standard deviation of: 'ln NAME', or 'NAME/|NAME|' for a signed target."""
        name = self.options.target
        return f"ln {name}" if self.log[0] else f"{name}/|{name}|"

    def sigmas(self, indices) -> np.ndarray:
        """The standard deviation of every fit variable (ln p, or p/|p|; target first) from the
        candidates ``indices``, nuisance parameters marginalised: inf where undetermined."""
        return _sigmas(self.information, indices)

    def sigma_of(self, indices) -> float:
        """The standard deviation of ln target (target/|target| for a signed one) from the candidates
        ``indices`` (inf: undetermined)."""
        return float(self.sigmas(indices)[0])

    def data(self, indices, rng: np.random.Generator | None = None) -> Data:
        """The measurement the design assumes at the candidates ``indices``: the study's amplitudes and
        phases with the design's standard deviations, noise-free or, with ``rng``, with Gaussian noise
        of those standard deviations; each point's DC condition in ``conditions``."""
        picked = [self.candidates[i] for i in indices]
        y = np.array([c.displacement for c in picked])
        data = _measured(y, self.options)

        def noise(size):
            return np.zeros(size) if rng is None else rng.standard_normal(size)

        amplitude = data.amplitude + data.amplitude_sigma * noise(len(y))
        phase = None if data.phase is None else data.phase + data.phase_sigma * noise(len(y))
        return Data(
            np.array([c.frequency for c in picked]), np.array([c.harmonic for c in picked]), amplitude, phase,
            data.amplitude_sigma, data.phase_sigma, True, np.arange(2, len(y) + 2),
            condition=np.array([c.condition for c in picked]), conditions=self.conditions,
        )

    def rows(self) -> list[dict]:
        """The rows of design.csv (:data:`DESIGN_COLUMNS`, :data:`SEPARATION_COLUMNS` and one
        ``chi2_A_vs_B`` column per ordered model pair), best-ranked first."""
        rows = []
        for rank, index in enumerate(self.ranking.order, 1):
            c, sigma = self.candidates[index], self.ranking.value[index]
            row = {
                "rank": rank, "drive_frequency_hz": c.frequency, "harmonic": c.harmonic, "dc_power_w": c.dc_power,
                "amplitude_m": abs(c.displacement), "phase_deg": math.degrees(np.angle(c.displacement)),
                "sigma_ln_target": _finite(sigma), "sigma_ln_target_next": _finite(self.ranking.after[index]),
                "chosen": index in self.ranking.chosen,
                "note": "" if math.isfinite(sigma) else "target undetermined by the set so far plus this candidate",
            }
            if self.separation is not None:
                row |= self._separation_cells(index)
            rows.append(row)
        return rows

    def _separation_cells(self, index: int) -> dict:
        s = self.separation
        basis = s.ranking.basis[index]
        cells = {
            "separation_rank": s.ranking.rank(index), "separation_chi2": s.ranking.value[index],
            "separation_chi2_next": s.ranking.after[index], "separating": index in s.ranking.chosen,
        }
        return cells | {f"chi2_{name}": s.chi2(p, basis) for p, name in enumerate(s.pair_names())}

    def columns(self) -> list[str]:
        """The column names of design.csv, in order."""
        names = [name for name, _, _ in DESIGN_COLUMNS]
        if self.separation is not None:
            names += [name for name, _, _ in SEPARATION_COLUMNS] + [f"chi2_{n}" for n in self.separation.pair_names()]
        return names

    def summary(self) -> dict:
        """The content of design.json: options, parameters with their sigma from the chosen set, the
        chosen set, the sigma of every candidate together, the separation and the notes."""
        o, chosen = self.options, self.ranking.chosen
        sigmas, everything = self.sigmas(chosen), self.sigmas(range(len(self.candidates)))
        parameters = {
            name: {"key": key, "value": value, "scale": "log" if log else "linear", "sigma": _finite(s), "sigma_all": _finite(a)}
            for name, key, value, log, s, a in zip(o.parameters, self.keys, self.values, self.log, sigmas, everything)
        }
        result = {
            "target": o.target, "nuisance": list(o.nuisance), "measurements": o.measurements,
            "amplitude_noise": o.amplitude_noise, "phase_noise_deg": o.phase_noise if o.phases else None,
            "parameters": parameters, "candidates": len(self.candidates),
            "chosen": [self._point(i, "sigma_ln_target", self.ranking) for i in chosen],
            "sigma_ln_target": _finite(sigmas[0]), "sigma_ln_target_all_candidates": _finite(everything[0]),
            "separation": None, "notes": list(self.notes),
        }
        if self.separation is not None:
            s = self.separation
            result["separation"] = {
                "models": list(s.models),
                "chosen": [self._point(i, "separation_chi2", s.ranking) for i in s.ranking.chosen],
                "chi2": {name: s.chi2(p, s.ranking.chosen) for p, name in enumerate(s.pair_names())},
                "chi2_of_the_target_set": {name: s.chi2(p, chosen) for p, name in enumerate(s.pair_names())},
            }
        return result

    def _point(self, index: int, name: str, ranking: Ranking) -> dict:
        """Candidate ``index`` for design.json, with its value ``name`` in ``ranking``."""
        c = self.candidates[index]
        return {"drive_frequency_hz": c.frequency, "harmonic": c.harmonic, "dc_power_w": c.dc_power,
                name: _finite(ranking.value[index])}


def _finite(value) -> float | None:
    return float(value) if np.isfinite(value) else None


def is_log(key: str) -> bool:
    """Whether the fit variable of the study key ``key`` is ln p (a positive parameter), as in the fit."""
    return accepted_range(key)[0] >= 0


def _parameter(study: Study, name: str, where: str) -> str:
    """The study key of the fit parameter ``name`` of ``study``, refused naming ``where`` if the study
    cannot vary it (:func:`stimsim.inverse.fit.unfittable`) or a positive parameter is not > 0."""
    key = checked_parameter(name, study, where)
    reason = unfittable(study, key)
    if reason:
        raise InputError(where, f"= {name!r}: {reason}")
    value = study_value(study, key)
    if is_log(key) and not value > 0:
        raise InputError(
            where, f"= {name!r} is {value:g} in this study: a positive parameter is varied in ln, so its value must "
            "be > 0 (set it in the study, or with --set)"
        )
    return key


def design_options(study: Study) -> DesignOptions:
    """The [design] table of ``study``, validated (every key, the target and nuisance parameters, the
    DC powers against the heating mode, the harmonics against those the study produces, the models of
    [[fit.models]]); InputError naming the key otherwise."""
    table = check_table("design", DESIGN_SCHEMA, study.extensions.get("design", {}))
    names = (table["target"], *table["nuisance"])
    keys = []
    for i, name in enumerate(names):
        where = "design.target" if i == 0 else f"design.nuisance[{i - 1}]"
        keys.append(_parameter(study, name, where))
        if keys[-1] in keys[:-1]:
            raise InputError(where, f"= {name!r} is listed twice: the target and the nuisance parameters are distinct")
    frequencies = tuple(table["frequencies"] or study.excitation.frequencies)
    if len(set(frequencies)) < len(frequencies):
        raise InputError("design.frequencies", "lists a frequency twice")
    options = DesignOptions(
        table["target"], tuple(table["nuisance"]), frequencies, _tuple(table["harmonics"]), _tuple(table["dc_powers"]),
        table["measurements"] or 0, table["amplitude_noise"], table["phase_noise"], table["phases"],
    )
    count = sum(len(frequencies) * len(_harmonics(c.study, options)) for c in dc_conditions(study, options))
    if options.measurements > count:
        raise InputError("design.measurements", f"= {options.measurements} is more than the {count} candidates")
    if not options.measurements:  # default: as many as there are parameters
        options = dataclasses.replace(options, measurements=min(len(names), count))
    for i, spec in enumerate(model_specs(study)):
        for j, name in enumerate(spec.parameters):
            _parameter(spec.study(study, f"fit.models[{i}]"), name, f"fit.models[{i}].params[{j}]")
    return options


def _tuple(values) -> tuple | None:
    return None if values is None else tuple(values)


def _harmonics(study: Study, options: DesignOptions) -> tuple[int, ...]:
    """The candidate harmonics of ``study`` (one DC condition): ``options.harmonics`` among those it
    produces (all of them by default); a listed harmonic it does not produce is refused."""
    linear = not study.sample.material.is_ionic and not thermally_nonlinear(study)
    produced = produced_harmonics(study.drive, linear)
    for n in options.harmonics or ():
        if n not in produced:
            raise InputError(
                "design.harmonics", f"lists harmonic {n}, which this study does not produce (it responds at harmonics "
                f"{', '.join(map(str, produced))})"
            )
    return tuple(n for n in produced if options.harmonics is None or n in options.harmonics)


def dc_conditions(study: Study, options: DesignOptions) -> tuple[Condition, ...]:
    """The DC conditions of the design: the study itself without ``dc_powers``, else one study per
    DC heating power (the drive's DC heating key set, :meth:`~stimsim.physics.drives.Drive.dc_power_changes`),
    each checked against the temperature limits; refusals name design.dc_powers."""
    if options.dc_powers is None:
        return (Condition(study.drive.dc_power, {}, study),)
    if len(set(options.dc_powers)) < len(options.dc_powers):
        raise InputError("design.dc_powers", "lists a DC power twice")
    conditions = []
    for power in options.dc_powers:
        changes = study.drive.dc_power_changes(power, "design.dc_powers")
        try:
            changed = with_values(study, changes)
            check_study(changed)
        except InputError as err:
            raise InputError("design.dc_powers", f"= {power:g} W: {err}") from None
        conditions.append(Condition(power, changes, changed))
    return tuple(conditions)


def design(study: Study, comm: MPI.Comm = MPI.COMM_WORLD, quiet: bool = True) -> Design:
    """The measurement design of ``study``'s [design] table (module docstring). Collective; every rank
    returns the same design. Progress lines on stderr of rank 0 unless ``quiet``."""
    options = design_options(study)
    check_study(study)
    conditions = dc_conditions(study, options)
    specs = model_specs(study)
    specs = specs if len(specs) > 1 else []
    progress = Progress("design", len(conditions) * (1 + len(specs)), quiet, comm.rank)
    keys = tuple(parameter_key(name) for name in options.parameters)
    predicted = [_predicted(c.study, options.parameters, options.frequencies, comm, progress) for c in conditions]
    candidates, silent = _candidates(conditions, predicted, options)
    y = np.array([c.displacement for c in candidates])
    jac = np.array([predicted[c.condition][c.frequency, c.harmonic][1] for c in candidates])
    information = _rows(y, y, jac, options)[1]
    separation = _separation(study, specs, conditions, candidates, options, comm, progress) if specs else None
    values = tuple(float(study_value(study, key)) for key in keys)
    return Design(
        options, keys, values, tuple(is_log(k) for k in keys), tuple(c.changes for c in conditions), tuple(candidates),
        information, _target_ranking(information, options.measurements), separation, tuple(silent),
    )


def _target_ranking(information: np.ndarray, count: int) -> Ranking:
    """The candidates of the weighted Jacobian rows ``information`` ranked by sigma of ln target."""
    return _greedy(len(information), count, lambda s: _sigma_score(information, s))


def _predicted(study: Study, names, frequencies, comm, progress: Progress) -> dict:
    """(frequency, harmonic) -> (displacement (m), its derivatives by the fit variables of ``names``)
    of ``study`` at ``frequencies`` (Hz), the same on every rank."""
    with ForwardModel(study, names, comm, frequencies=frequencies) as model:
        prediction = model.evaluate(derivatives=True)
        scales = np.array([v if is_log(k) else (abs(v) or 1.0) for k, v in zip(model.keys, model.values)])
    points, y, jac = comm.bcast((prediction.points, prediction.displacement, prediction.jacobian), root=0)
    progress.advance(f"{len(points)} points")
    return {point: (y[i], jac[i] * scales) for i, point in enumerate(points)}


def _candidates(conditions, predicted: list[dict], options: DesignOptions) -> tuple[list[Candidate], list[str]]:
    """The candidates by condition, harmonic and frequency, and those where the study predicts exactly
    no signal, left out (a relative noise has no scale there)."""
    candidates, silent = [], []
    for i, (condition, table) in enumerate(zip(conditions, predicted)):
        for n in _harmonics(condition.study, options):
            for f in options.frequencies:
                y = table[f, n][0]
                if y == 0:
                    silent.append(f"{f:g} Hz harmonic {n} at {condition.dc_power:g} W")
                    continue
                candidates.append(Candidate(f, n, condition.dc_power, i, complex(y)))
    if not candidates:
        raise InputError("design.harmonics", "leaves no candidate where the study predicts a signal")
    return candidates, silent


def _measured(y: np.ndarray, options: DesignOptions) -> Data:
    """Noise-free data of the complex displacements ``y`` (m, all nonzero) with the design's noise."""
    amplitude = np.abs(y)
    phase_sigma = np.full(len(y), math.radians(options.phase_noise)) if options.phases else None
    return Data(
        np.zeros(len(y)), np.ones(len(y), dtype=int), amplitude, np.angle(y) if options.phases else None,
        options.amplitude_noise * amplitude, phase_sigma, True, np.arange(2, len(y) + 2),
    )


def _rows(data_y: np.ndarray, model_y: np.ndarray, model_jac: np.ndarray, options: DesignOptions):
    """Weighted residuals (candidates x rows) of a model's displacements ``model_y`` against data
    ``data_y`` (m, with the design's noise) and the model's weighted Jacobian rows (candidates x rows x
    fit variables) from ``model_jac`` (d y / d x): the fit's residuals (amplitude row, phase row).
    Where the data are zero the rows are zero (no noise scale); where only the model is zero, its
    amplitude misses the whole signal and its phase and derivatives count nothing."""
    rows = 2 if options.phases else 1
    count, width = model_jac.shape
    r, jac = np.zeros((rows, count)), np.zeros((rows, count, width))
    seen = data_y != 0
    both = seen & (model_y != 0)
    if both.any():
        found, slopes = residuals(model_y[both], model_jac[both], _measured(data_y[both], options))
        r[:, both], jac[:, both] = found.reshape(rows, -1), slopes.reshape(rows, -1, width)
    r[0, seen & ~both] = -1 / options.amplitude_noise
    return r.T, jac.transpose(1, 0, 2)


def _sigmas(information: np.ndarray, indices) -> np.ndarray:
    """sqrt of the diagonal of F^-1 of the candidates ``indices`` (inf where undetermined)."""
    jac = np.concatenate([information[i] for i in indices])
    covariance, undetermined = covariance_of(jac)
    sigmas = np.sqrt(np.clip(np.diag(covariance), 0, None))
    sigmas[undetermined] = np.inf
    return sigmas


def _sigma_score(information: np.ndarray, indices) -> tuple[tuple, float]:
    """The greedy key (smaller is better) and value of the candidates ``indices``: sigma of ln target,
    then the same under the weak prior :data:`UNDETERMINED_PRIOR`."""
    sigma = float(_sigmas(information, indices)[0])
    jac = np.concatenate([information[i] for i in indices])
    fisher = jac.T @ jac + np.eye(jac.shape[1]) / UNDETERMINED_PRIOR**2
    return (sigma, float(np.sqrt(np.linalg.inv(fisher)[0, 0]))), sigma


def _greedy(total: int, count: int, score) -> Ranking:
    """Choose ``count`` of ``total`` candidates: greedily, each the one with the smallest
    ``score(chosen + [it])[0]``, then improved by exchanges (:func:`_exchanged`) and put in the order in
    which the greedy choice takes them from the final set; the rest are ranked by their score with the
    whole chosen set."""
    chosen = _exchanged(_picked(range(total), count, score)[0], total, score)
    chosen, value, basis = _picked(chosen, count, score)
    rest = [c for c in range(total) if c not in chosen]
    scores = {c: score([*chosen, c]) for c in range(total)}
    for c in rest:
        value[c], basis[c] = scores[c][1], (*chosen, c)
    order = (*chosen, *sorted(rest, key=lambda c: scores[c][0]))
    return Ranking(order, tuple(value[c] for c in range(total)), tuple(basis[c] for c in range(total)), count,
                   tuple(scores[c][1] for c in range(total)))


def _picked(pool, count: int, score) -> tuple[list[int], dict, dict]:
    """``count`` candidates of ``pool`` taken greedily, and the value and basis (the set taken so far)
    of each when taken."""
    chosen, rest, value, basis = [], list(pool), {}, {}
    for _ in range(count):
        scores = {c: score([*chosen, c]) for c in rest}
        best = min(rest, key=lambda c: scores[c][0])
        chosen.append(best)
        rest.remove(best)
        value[best], basis[best] = scores[best][1], tuple(chosen)
    return chosen, value, basis


def _exchanged(chosen: list[int], total: int, score) -> list[int]:
    """``chosen`` improved by exchanges: a chosen candidate is swapped for one not chosen while that
    lowers the score of the set (a Fedorov exchange, to a set no single swap improves)."""
    best = score(chosen)[0]
    improved = True
    while improved:
        improved = False
        for i in range(len(chosen)):
            for c in (c for c in range(total) if c not in chosen):
                trial = [*chosen[:i], c, *chosen[i + 1:]]
                found = score(trial)[0]
                if found < best:
                    chosen, best, improved = trial, found, True
    return chosen


def _separation(study: Study, specs: list[ModelSpec], conditions, candidates: list[Candidate], options: DesignOptions,
                comm, progress: Progress) -> Separation:
    """Every ordered pair of the models ``specs``: B's residual and Jacobian rows against A's prediction
    at every candidate, and the greedy ranking by the smallest pair chi-square."""
    predictions = []
    for spec in specs:
        tables = [
            _predicted(with_values(spec.study(study), c.changes), spec.parameters, options.frequencies, comm, progress)
            for c in conditions
        ]
        width = len(spec.parameters)
        found = [tables[c.condition].get((c.frequency, c.harmonic), (0j, np.zeros(width))) for c in candidates]
        predictions.append((np.array([y for y, _ in found]), np.array([d for _, d in found])))
    pairs = tuple((a, b) for a in range(len(specs)) for b in range(len(specs)) if a != b)
    rows = [_rows(predictions[a][0], *predictions[b], options) for a, b in pairs]
    models = tuple(s.name for s in specs)
    return _separating(models, pairs, tuple(r for r, _ in rows), tuple(j for _, j in rows), options.measurements)


def _separating(models, pairs, residual, jacobian, count: int) -> Separation:
    """The :class:`Separation` of these rows, ranked greedily by the smallest pair chi-square."""

    def score(indices):  # the pair that is hardest to tell apart, its prior-regularised value as the tie-break
        smallest = min(
            (pair_chi2(r, j, indices), pair_chi2(r, j, indices, UNDETERMINED_PRIOR)) for r, j in zip(residual, jacobian)
        )
        return (-smallest[0], -smallest[1]), smallest[0]

    return Separation(models, pairs, residual, jacobian, _greedy(len(residual[0]), count, score))


def write_design(result: Design, outdir, title: str = "", replace: bool = False) -> None:
    """OUTDIR/design.csv, design.json and design.png (call on rank 0 only, e.g. through
    :func:`stimsim.core.parallel.on_root`)."""
    from stimsim.io.files import staged_output, write_rows
    from stimsim.io.plots import plot_design

    rows = result.rows()
    with staged_output(outdir, replace=replace) as staging:
        write_rows(rows, staging / "design.csv", result.columns())
        (staging / "design.json").write_text(json.dumps(result.summary(), indent=2, allow_nan=False) + "\n")
        plot_design(rows, staging / "design.png", f"{title}: sigma of {result.target_label}".lstrip(": "))
