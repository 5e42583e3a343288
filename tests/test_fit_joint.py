"""Joint fits over measurement conditions, honest uncertainties, the Hertz force as a fit parameter and
the comparison of candidate models ([[fit.models]]) by BIC (docs/guide/fitting.md, 'Joint fits',
'Uncertainty', 'Models comparison')."""

import csv
import importlib.util
import json
import math

import numpy as np
import pytest
from mpi4py import MPI

from stimsim.cli import main
from stimsim.core.errors import InputError
from stimsim.inverse.compare import bic, check_models, compare
from stimsim.inverse.data import Data
from stimsim.inverse.fit import JointModel, fit, fit_options, fit_with, half_widths
from stimsim.inverse.forward_model import ForwardModel, with_values
from stimsim.inverse.models import ModelSpec
from stimsim.inverse.posterior import posterior
from stimsim.inverse.results import Estimate, FitResult, write_fit
from stimsim.study.load import study_from_dict

POWERS = ({"excitation.power_amplitude": 1e-6}, {"excitation.power_amplitude": 2e-6})


def ptfe(frequencies=(1e3, 1e4), **properties):
    """PTFE under 1 uW power modulation, alpha' = 1e-6 1/K^2 (a second harmonic without ions), coarse."""
    return study_from_dict({
        "sample": {"material": "PTFE", "properties": {"thermal_expansion_derivative": 1e-6} | properties},
        "tip": {"contact_radius": 20e-9},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": list(frequencies)},
        "mesh": {"refinement": 0.3},
        "solver": {"periodic": "expansion"},
    })


def data_of(y, points, conditions=({},), condition=None, noise=0.01, seed=3, sigma_given=True, phase=True) -> Data:
    """Data at the model values ``y`` ((frequency, harmonic) ``points``) with relative Gaussian noise on
    amplitude and phase (seeded; no noise for ``noise`` 0)."""
    rng = np.random.default_rng(seed)
    amplitude = np.abs(y) * (1 + noise * rng.standard_normal(y.size))
    phases = np.angle(y) + noise * rng.standard_normal(y.size) if phase else None
    frequency, harmonic = (np.array(v) for v in zip(*points))
    sigma = max(noise, 0.01)
    return Data(frequency, harmonic, amplitude, phases, sigma * amplitude, np.full(y.size, sigma) if phase else None,
                sigma_given, np.arange(2, y.size + 2), condition, tuple(conditions))


@pytest.fixture(scope="module")
def two_powers():
    """PTFE data at two power amplitudes (the conditions), harmonics 1 and 2 at 1 and 10 kHz, made by
    separate forward models at the truth (k = 0.25 W/(m K), alpha' = 1e-6), 1 % noise; the second
    condition's 10 kHz phases missing (NaN)."""
    comm = MPI.COMM_WORLD
    y, points, condition = [], [], []
    for c, overrides in enumerate(POWERS):
        with ForwardModel(with_values(ptfe(), overrides), ["thermal_conductivity"], comm) as model:
            y.append(model.evaluate().displacement)
            points += model.points
            condition += [c] * len(model.points)
    y = np.concatenate(y)
    data = data_of(y, points, POWERS, np.array(condition))
    phase = data.phase.copy()
    phase[(data.condition == 1) & (data.frequency == 1e4)] = np.nan
    return y, Data(data.frequency, data.harmonic, data.amplitude, phase, data.amplitude_sigma, data.phase_sigma, True,
                   data.rows, data.condition, data.conditions)


def test_a_joint_model_predicts_each_condition_with_its_own_study(two_powers, comm):
    """One ForwardModel per condition: the stacked predictions equal the separate models' (the truth)."""
    y, data = two_powers
    with JointModel(ptfe(), ["thermal_conductivity", "thermal_expansion_derivative"], data, comm) as model:
        assert len(model.parts) == 2
        found, jacobian = model.predict([0.25, 1e-6], derivatives=True)
    assert np.allclose(found, y, rtol=1e-10, atol=0) and jacobian.shape == (8, 2)
    assert abs(found[3] / found[7] - 0.25) < 1e-3  # alpha' theta1^2 grows as the power squared


@pytest.mark.serial  # the fit under MPI: test_fit_is_identical_on_one_and_all_ranks (test_inverse.py), CLI test below
def test_a_joint_fit_over_two_powers_recovers_the_parameters(two_powers, comm, tmp_path):
    """k and alpha' from the two conditions together, from 1.5x off: within 2.5 standard errors; the
    NaN phases are no residuals (8 amplitudes + 6 phases); the points keep their condition in fit.csv
    (and fit.png, which plots the phases there are)."""
    _, data = two_powers
    start = with_values(ptfe(thermal_expansion_derivative=1.5e-6), {"sample.properties.thermal_conductivity": 0.35})
    result = fit(start, data, ["thermal_conductivity", "thermal_expansion_derivative"], comm)
    assert result.converged and result.data_values == 14 and result.degrees_of_freedom == 12
    for name, truth in (("thermal_conductivity", 0.25), ("thermal_expansion_derivative", 1e-6)):
        p = result.parameter(name)
        assert abs(p.value - truth) < 2.5 * p.stderr and p.interval_95[0] < p.interval_68[0] < p.value, p
    assert [p.condition for p in result.points[:1] + result.points[-1:]] == [
        "excitation.power_amplitude=1e-06", "excitation.power_amplitude=2e-06"]
    assert "phase_deg" not in result.points[-1].to_json() and "phase_deg" in result.points[0].to_json()
    write_fit(result, tmp_path / "out")
    with open(tmp_path / "out" / "fit.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert rows[-1]["condition"] == "excitation.power_amplitude=2e-06" and rows[-1]["phase_deg"] == ""


def test_a_parameter_a_condition_sets_and_a_harmonic_it_lacks_are_refused(two_powers, comm):
    _, data = two_powers
    with pytest.raises(InputError, match=r"^--param = 'excitation.power_amplitude': the data's condition "
                                         r"'excitation.power_amplitude=1e-06' sets excitation.power_amplitude"):
        fit(ptfe(), data, ["excitation.power_amplitude"], comm)
    linear = Data(data.frequency, data.harmonic, data.amplitude, None, data.amplitude_sigma, None, True, data.rows,
                  data.condition, ({"sample.properties.thermal_expansion_derivative": 0.0}, POWERS[1]))
    with pytest.raises(InputError, match=r"^DATA row 4, column harmonic: harmonic 2 is not produced .* condition "
                                         r"'sample.properties.thermal_expansion_derivative=0': harmonics 1\)"):
        fit(ptfe(), linear, ["thermal_conductivity"], comm)


def test_the_hertz_force_is_fittable_and_its_derivative_is_a_difference_quotient(comm):
    """tip.force (Hertz contact: it sets the contact radius and the preload) as a fit parameter:
    differenced on the stretched mesh (step 1e-4); a quotient of step 1e-2 agrees to 1e-4."""
    study = study_from_dict({
        "sample": {"material": "PTFE"}, "tip": {"force": 2e-8, "tip_radius": 30e-9},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [1e4]}, "mesh": {"refinement": 0.3},
    })
    with ForwardModel(study, ["tip.force"], comm) as model:
        derivative = model.evaluate(derivatives=True).jacobian[:, 0]
        assert model.methods == {"tip.force": "central difference"}
        shifted = [model.evaluate([2e-8 * (1 + s)]).displacement for s in (1e-2, -1e-2)]
    quotient = (shifted[0] - shifted[1]) / (2 * 2e-10)
    assert abs(derivative[0]) > 0 and np.all(np.abs(derivative / quotient - 1) < 1e-4), (derivative, quotient)


def test_interval_half_widths_are_normal_with_sigmas_and_student_t_without():
    assert half_widths(7, estimated=False) == pytest.approx((1.0, 1.959964), rel=1e-6)
    assert half_widths(7, estimated=True) == pytest.approx((1.0767, 2.3646), rel=1e-4)
    assert half_widths(10_000, estimated=True) == pytest.approx((1.0, 1.96), rel=1e-3)


def test_noise_free_data_without_sigmas_are_said_to_be_too_smooth_and_a_nan_phase_counts_nothing(comm):
    """Exact model data without sigmas: the scatter is far below the default sigmas', so the scaled
    errors are tiny: the fit says so, and a posterior is refused (its walkers would start on one
    point). One amplitude with a NaN phase is one data value: with one
    parameter no degree of freedom, the uncertainty undetermined."""
    study = ptfe((1e3, 1e4))
    with ForwardModel(study, ["thermal_conductivity"], comm) as model:
        y, points = model.evaluate().displacement, model.points
    exact = data_of(y, points, noise=0.0, sigma_given=False)
    result = fit(study, exact, ["thermal_conductivity"], comm)
    assert any("far less than the default sigmas suppose" in w for w in result.warnings), result.warnings
    if importlib.util.find_spec("emcee"):  # no width to sample: refused, not emcee's traceback
        with pytest.raises(InputError, match="--posterior cannot start: walkers started within the standard errors"):
            posterior(study, exact, result, comm, 10)
    one = data_of(y[:1], points[:1], noise=0.0, sigma_given=False)
    one = Data(one.frequency, one.harmonic, one.amplitude, np.array([np.nan]), one.amplitude_sigma, one.phase_sigma, False, one.rows)
    result = fit(study, one, ["thermal_conductivity"], comm)
    assert result.data_values == 1 and result.parameter("thermal_conductivity").stderr is None
    assert any("no degree of freedom" in w for w in result.warnings)


def fake(chi2: float, values: int, parameters: int, sigma_given: bool) -> FitResult:
    """A FitResult with the numbers BIC reads (no solve)."""
    estimate = Estimate("p", "sample.properties.p", 1.0, 0.1, 1.0, (0.9, 1.1), (0.8, 1.2), "log", (0.1, 10.0), "tangent-linear")
    return FitResult(
        parameters=(estimate,) * parameters, correlation=(), chi2=chi2, data_values=values,
        degrees_of_freedom=values - parameters, reduced_chi2=None, sigma_given=sigma_given, sigma="", log_det_information=None,
        warnings=(), converged=True, status="", cost=chi2 / 2, nfev=1, njev=1, forward_evaluations=1, rebuilds=1,
        wall_time_s=0.0, points=(),
    )


def test_bic_with_given_sigmas_and_with_the_scatter_estimated_and_a_failed_model():
    assert bic(fake(10.0, 8, 2, True)) == pytest.approx(10 + 2 * math.log(8))
    assert bic(fake(10.0, 8, 2, False)) == pytest.approx(8 * math.log(10 / 8) + 2 * math.log(8))
    assert bic(fake(1e-20, 2, 2, False)) is None  # no degree of freedom: no scatter to compare by
    specs = [ModelSpec("a", ("p",)), ModelSpec("b", ("p", "q")), ModelSpec("c", ("p", "q"))]
    comparison = compare(specs, [fake(30.0, 8, 1, True), fake(10.0, 8, 2, True), fake(9.5, 8, 2, True)])
    assert [m.preferred for m in comparison.models] == [False, False, True] and comparison.preferred.name == "c"
    assert comparison.models[1].delta_bic == pytest.approx(0.5)
    assert comparison.warnings == (
        "the data do not decide between the preferred model 'c' and 'b' (delta BIC < 2): its preference is no evidence; "
        "add data that tell them apart (phases, other harmonics, frequencies or conditions)",)
    assert sum(m.weight for m in comparison.models) == pytest.approx(1.0)
    undecided = compare(specs[1:], [fake(0.0, 2, 2, False), fake(0.0, 2, 2, False)])
    assert undecided.preferred is None and undecided.chosen.name == "b" and "cannot be compared" in undecided.warnings[0]
    failed = compare(specs[:2], [InputError("fit.models[0].params", "the fit reached p = 0.1, where ..."), fake(10.0, 8, 2, True)])
    assert failed.chosen.name == "b" and failed.models[0].bic is None and failed.rows()[0]["converged"] == 0
    assert failed.warnings == ("model 'a' could not be fitted, so it is not compared: fit.models[0].params the fit reached "
                               "p = 0.1, where ...",)
    assert failed.to_json()["a"] == {"error": "fit.models[0].params the fit reached p = 0.1, where ..."}


def test_a_model_that_sets_what_the_conditions_set_is_refused_and_its_set_starts_what_it_fits():
    """A model's set of a key it fits is its start value (alpha' cannot start at 0); a set key that
    the data's conditions set per condition is refused, before any solve."""
    study = study_from_dict({
        "sample": {"material": "PTFE"}, "tip": {"contact_radius": 20e-9}, "mesh": {"refinement": 0.3},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [1e3, 1e4]},
    })
    slope = ModelSpec("slope", ("thermal_expansion_derivative",), {"sample.properties.thermal_expansion_derivative": 1e-8})
    check_models(study, [slope])
    power = ModelSpec("power", ("thermal_conductivity",), {"excitation.power_amplitude": 3e-6})
    data = data_of(np.ones(2), ((1e3, 1), (1e4, 1)), POWERS, np.array([0, 1]))
    with pytest.raises(InputError, match=r"^fit.models\[1\].set of model 'power' sets excitation.power_amplitude, which"):
        check_models(study, [slope, power], data)


def sdc(**properties):
    """SDC at 3 kHz (near the ionic corner), coarse, D in [1e-14, 1e-8] and alpha' in [1e-10, 1e-5] (proper priors)."""
    return study_from_dict({
        "sample": {"material": "SDC", "properties": {"diffusivity": 1e-11, "thermal_expansion_derivative": 1e-8} | properties},
        "tip": {"contact_radius": 20e-9},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [3e3]},
        "mesh": {"refinement": 0.3},
        "fit": {"max_evaluations": 10, "bounds": {"diffusivity": [1e-14, 1e-8], "thermal_expansion_derivative": [1e-10, 1e-5]}},
    })


MODELS = (ModelSpec("ions", ("diffusivity",)),
          ModelSpec("background", ("thermal_expansion_derivative",), {"sample.properties.concentration": 0.0}))


@pytest.mark.serial  # 4 fits of an ionic model; fit_models and models.csv under MPI: test_cli_compares_models
def test_data_made_with_ions_prefer_ions_and_data_made_with_a_background_prefer_it():
    """Harmonics 1 and 2 at 3 kHz with phases, 1 % noise: made with mobile ions (D = 1e-11, alpha' =
    1e-8) and made without (c0 = 0) with alpha' = 4e-8 (a 2w row of the same size). Each model
    fitted to each: the model that made the data has the lowest BIC and the higher Laplace evidence."""
    comm = MPI.COMM_SELF
    points = ((3e3, 1), (3e3, 2))
    template = data_of(np.ones(2), points)
    studies = [spec.study(sdc()) for spec in MODELS]
    with JointModel(studies[0], MODELS[0].parameters, template, comm) as ions, \
            JointModel(studies[1], MODELS[1].parameters, template, comm) as background:
        models = (ions, background)
        made = {"ions": data_of(ions.predict([1e-11])[0], points), "background": data_of(background.predict([4e-8])[0], points)}
        assert 0.3 < abs(made["ions"].amplitude[1] / made["background"].amplitude[1]) < 3
        for truth, data in made.items():
            results = [fit_with(model, data, fit_options(study, spec.parameters), start=[2 * model.values[0]])
                       for model, study, spec in zip(models, studies, MODELS)]
            comparison = compare(MODELS, results)
            assert comparison.preferred.name == truth, [(m.name, m.bic) for m in comparison.models]
            other = next(m for m in comparison.models if m.name != truth)
            assert other.delta_bic > 10 and other.log_evidence < comparison.preferred.log_evidence


MODEL_STUDY = """[sample]
material = "PTFE"
properties.thermal_expansion_derivative = 1e-6
[tip]
contact_radius = 20e-9
[excitation]
mode = "power"
power_amplitude = 1e-6
frequencies = [1e3, 1e4]
[mesh]
refinement = 0.3
[fit]
max_evaluations = 20
[[fit.models]]
name = "slope"
params = ["thermal_expansion_derivative", "thermal_conductivity"]
[[fit.models]]
name = "no slope"
params = ["thermal_conductivity"]
set = { "sample.properties.thermal_expansion_derivative" = 1e-9 }
"""


def test_cli_compares_models(shared_tmp, two_powers, capsys):
    """`stimsim fit` of a study with [[fit.models]]: models.csv (one row per model, the one with the
    2w background preferred), fit.json that model's fit; a model whose set names an unknown key, or
    --param beside the models: one line, exit 2, nothing written."""
    y = two_powers[0][:4]  # the first condition's: the study's own power
    data, study = shared_tmp / "data.csv", shared_tmp / "models.toml"
    if MPI.COMM_WORLD.rank == 0:
        rows = [f"{f},{n},{float(abs(v))!r},{0.01 * float(abs(v))!r}" for (f, n), v in zip(((1e3, 1), (1e4, 1), (1e3, 2), (1e4, 2)), y)]
        data.write_text("drive_frequency_hz,harmonic,amplitude_m,amplitude_sigma_m\n" + "\n".join(rows) + "\n")
        study.write_text(MODEL_STUDY)
        (shared_tmp / "bad.toml").write_text(MODEL_STUDY.replace('"sample.properties.thermal_expansion_derivative"', '"sample.properties.thermal_expansoin"'))
    MPI.COMM_WORLD.barrier()
    out = shared_tmp / "out"
    assert main(["fit", str(study), str(data), "-o", str(out), "-q"]) == 0
    if MPI.COMM_WORLD.rank == 0:
        with open(out / "models.csv") as stream:
            rows = list(csv.DictReader(stream))
        assert list(rows[0])[:6] == ["name", "chi2", "dof", "bic", "delta_bic", "preferred"]
        assert [(r["name"], r["preferred"], r["dof"]) for r in rows] == [("slope", "1", "2"), ("no slope", "0", "3")]
        assert float(rows[0]["delta_bic"]) == 0 and float(rows[1]["delta_bic"]) > 10
        result = json.loads((out / "fit.json").read_text())
        assert set(result["parameters"]) == {"thermal_expansion_derivative", "thermal_conductivity"}
        assert set(json.loads((out / "models.json").read_text())) == {"slope", "no slope"}
    capsys.readouterr()
    never = shared_tmp / "never"
    assert main(["fit", str(shared_tmp / "bad.toml"), str(data), "-o", str(never)]) == 2
    assert main(["fit", str(study), str(data), "--param", "thermal_conductivity", "-o", str(never)]) == 2
    if MPI.COMM_WORLD.rank == 0:
        lines = capsys.readouterr().err.strip().splitlines()
        assert lines[0].startswith("stimsim: error: fit.models[1].set of model 'no slope': sample.properties.thermal_expansoin")
        assert lines[1] == ("stimsim: error: --param cannot be given with [[fit.models]]: each model names its "
                            "parameters (params)") and len(lines) == 2
        assert not never.exists()
