"""Re-entrant forward model, tangent-linear derivatives (Taylor tests), parameter recovery by the fit,
identifiability warnings, DATA.csv validation and the ``stimsim fit`` command."""

import gc
import json
import math
import resource
import warnings

import numpy as np
import pytest
from mpi4py import MPI
from petsc4py import PETSc

from stimsim.cli import main
from stimsim.study.load import study_from_dict
from stimsim.solve.forward import base_state, responses
from stimsim.solve.simulate import simulate
from stimsim.core.errors import InputError
from stimsim.inverse.data import Data, read_data
from stimsim.inverse.fit import fit, fit_options
from stimsim.solve.model import HarmonicModel
from stimsim.inverse.forward_model import ForwardModel, parameter_key, with_values

from conftest import simulated_displacements

ROOT_KEYS = ("parameters", "correlation", "warnings", "converged", "cost", "nfev", "njev", "chi2")


def sdc(mode="power", frequencies=(1e4,), diffusivity=1e-11, **excitation):
    heat = {"power": {"power_amplitude": 1e-6}, "heater": {"heater_temperature_amplitude": 1.0, "contact_conductance": 1e-7}}
    return study_from_dict(
        {
            "sample": {"material": "SDC", "properties": {"diffusivity": diffusivity}},
            "tip": {"contact_radius": 20e-9},
            "excitation": {"mode": mode, "frequencies": list(frequencies)} | heat[mode] | excitation,
            "mesh": {"refinement": 0.3},
        }
    )


def ptfe(frequencies=(1e4,), refinement=0.5):
    return study_from_dict(
        {
            "sample": {"material": "PTFE"},
            "tip": {"contact_radius": 20e-9},
            "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": list(frequencies)},
            "mesh": {"refinement": refinement},
        }
    )


def test_parameter_names_resolve_to_study_keys():
    assert parameter_key("diffusivity") == "sample.properties.diffusivity"
    assert parameter_key("sample.properties.concentration") == "sample.properties.concentration"
    assert parameter_key("contact_conductance") == "excitation.contact_conductance"
    assert parameter_key("contact_radius") == "tip.contact_radius"
    with pytest.raises(InputError, match="diffusivty is not a fit parameter"):
        parameter_key("diffusivty")
    with pytest.raises(InputError, match=r"sample.properties.diffusivity = -1 is outside the accepted range"):
        with_values(sdc(), {"sample.properties.diffusivity": -1.0})


def test_in_place_update_equals_a_fresh_model_and_matches_the_drive(comm):
    """evaluate() at new values (coefficients rewritten in place) gives the numbers of a model built for
    those values on the same mesh, and those of stimsim.solve.forward.responses."""
    forward = ForwardModel(sdc(), ["diffusivity", "concentration"], comm)
    first = forward.evaluate()
    fresh = HarmonicModel(sdc(), comm, forward.model.domain)
    rows = {(r.harmonic, r.kind): r.displacement for r in responses(fresh, 1e4)}
    fresh.destroy()
    assert np.allclose(first.displacement, [rows[1, "thermal"], rows[2, "ionic"]], rtol=1e-10, atol=0)
    moved = forward.evaluate([1.3e-11, 5e3])
    assert forward.rebuilds == 1  # in place
    study = with_values(sdc(), {"sample.properties.diffusivity": 1.3e-11, "sample.properties.concentration": 5e3})
    fresh = HarmonicModel(study, comm, forward.model.domain)
    base_state(fresh)
    rows = {(r.harmonic, r.kind): r.displacement for r in responses(fresh, 1e4)}
    fresh.destroy()
    assert np.allclose(moved.displacement, [rows[1, "thermal"], rows[2, "ionic"]], rtol=1e-9, atol=0)
    assert abs(moved.displacement[1] / first.displacement[1] - 1) > 1e-2
    forward.destroy()


def test_mesh_changes_rebuild_automatically(comm):
    forward = ForwardModel(ptfe(), ["thermal_conductivity", "contact_radius"], comm)
    forward.evaluate()
    mesh = forward.model.domain.mesh
    forward.evaluate([0.26, 20e-9])
    assert forward.rebuilds == 1 and forward.model.domain.mesh is mesh  # in place
    stretched = forward.evaluate([0.25, 22e-9])
    assert forward.rebuilds == 2 and forward.model.domain.mesh is mesh  # same mesh, stretched
    assert forward.model.domain.spec.length_scale == 22e-9
    forward.evaluate(frequencies=[1e6])  # thermal length 10x below the graded one: new mesh
    assert forward.rebuilds == 3 and forward.model.domain.mesh is not mesh
    back = forward.evaluate([0.25, 22e-9], frequencies=[1e4])
    assert np.allclose(back.displacement, stretched.displacement, rtol=2e-3)
    forward.destroy()


def taylor_rates(forward, steps=(2e-3, 1e-3)):
    """Convergence rates of |y(p + h dp) - y(p) - h y'(p) dp| per parameter (dp = p e_k); None where
    the output is linear in the parameter (remainder at round-off)."""
    at = forward.evaluate(derivatives=True)
    values, scale = forward.values, np.abs(at.displacement)
    rates = {}
    for k, name in enumerate(forward.names):
        direction = np.zeros(len(values))
        direction[k] = values[k]
        remainders = []
        for h in steps:
            y = forward.evaluate(values + h * direction).displacement
            remainders.append(np.max(np.abs(y - at.displacement - h * at.jacobian @ direction) / scale))
        linear = max(remainders) < 1e-9
        rates[name] = None if linear else min(np.log2(a / b) for a, b in zip(remainders, remainders[1:]))
    forward.evaluate(values)
    return rates


@pytest.mark.serial  # slow; tangents under MPI: test_taylor_contact_conductance_and_radius, test_fit_is_identical_on_one_and_all_ranks
def test_taylor_with_a_heated_base_state(comm):
    """Power mode with DC heating: a nonzero base state, so the base-state tangent and R''' terms count;
    with thermotransport (Q* = 5e4 J/mol), whose derivative is checked too (measured rate 2.000)."""
    names = ["diffusivity", "activation_energy", "partial_molar_volume", "concentration", "thermal_conductivity",
             "heat_of_transport"]
    study = with_values(sdc(dc_power=2e-6), {"sample.properties.heat_of_transport": 5e4, "mesh.refinement": 0.15})
    forward = ForwardModel(study, names, comm)
    rates = taylor_rates(forward)
    assert all(forward.methods[forward.keys[k]] == "tangent-linear" for k in range(len(names)))
    for name, rate in rates.items():
        assert rate is not None and rate > 1.8, (name, rates)
    forward.destroy()


def test_taylor_contact_conductance_and_radius(comm):
    forward = ForwardModel(sdc("heater"), ["contact_conductance", "contact_radius", "diffusivity"], comm)
    rates = taylor_rates(forward)
    assert forward.methods == {
        "excitation.contact_conductance": "tangent-linear", "tip.contact_radius": "central difference",
        "sample.properties.diffusivity": "tangent-linear",
    }
    for name, rate in rates.items():
        assert rate is not None and rate > 1.8, (name, rates)
    forward.destroy()


@pytest.mark.serial  # slow; tangents under MPI: test_taylor_contact_conductance_and_radius, test_fit_is_identical_on_one_and_all_ranks
def test_joule_drive_values_and_taylor(comm):
    """Joule heater with V0 = 0.5 V and V1 = 1 V: heating at harmonics 1 and 2, ionic rows at 1 to 4
    from sums and differences. The values equal stimsim.solve.forward's (heater balance per harmonic), and the
    tangent-linear derivatives through the heater balance (Z_n, G_c, the DC heating) pass the Taylor test."""
    study = study_from_dict({
        "sample": {"material": "SDC", "properties": {"diffusivity": 1e-11}},
        "tip": {"contact_radius": 20e-9},
        "excitation": {
            "mode": "joule", "dc_voltage": 0.5, "ac_voltage": 1.0, "heater_resistance": 5e3, "heater_conductance": 1e-5,
            "contact_conductance": 1e-7, "heater_heat_capacity": 1e-11, "frequencies": [1e4],
        },
        "mesh": {"refinement": 0.15},
    })
    names = ["diffusivity", "thermal_conductivity", "contact_conductance", "concentration"]
    forward = ForwardModel(study, names, comm)
    assert set(forward.methods.values()) == {"tangent-linear"}
    prediction = forward.evaluate()
    expected = simulated_displacements(study, comm)
    assert prediction.points == ((1e4, 1), (1e4, 2), (1e4, 3), (1e4, 4))
    for point, value in zip(prediction.points, prediction.displacement):
        assert value == pytest.approx(expected[point], rel=1e-9)
    for name, rate in taylor_rates(forward).items():
        assert rate is not None and rate > 1.8, (name, rate)
    forward.destroy()


def synthetic(study, names, comm, noise=0.01, seed=3):
    """Model data at ``study`` with relative Gaussian noise on amplitude and phase (seeded)."""
    forward = ForwardModel(study, names, comm)
    prediction = forward.evaluate()
    forward.destroy()
    y = prediction.displacement
    rng = np.random.default_rng(seed)
    amplitude = np.abs(y) * (1 + noise * rng.standard_normal(y.size))
    phase = np.angle(y) + noise * rng.standard_normal(y.size)
    frequency, harmonic = (np.array(v) for v in zip(*prediction.points))
    sigma = noise * np.abs(y)
    return Data(frequency, harmonic, amplitude, phase, sigma, np.full(y.size, noise), True, np.arange(2, y.size + 2))


@pytest.mark.serial  # the fit under MPI: test_fit_is_identical_on_one_and_all_ranks
def test_diffusivity_is_recovered_from_noisy_data(comm):
    truth = 1e-11
    frequencies = (1e3, 3e3, 1e4, 3e4)
    data = synthetic(sdc(frequencies=frequencies, diffusivity=truth), ["diffusivity"], comm)
    result = fit(sdc(frequencies=frequencies, diffusivity=2e-11), data, ["diffusivity"], comm)
    found = result.parameter("diffusivity")
    assert result.converged and not result.warnings
    assert abs(found.value / truth - 1) < 0.05
    assert abs(found.value - truth) < 2 * found.stderr
    assert found.derivative == "tangent-linear" and found.stderr < 0.05 * truth
    assert all(key in result.to_json() for key in ROOT_KEYS)


@pytest.mark.serial
def test_diffusivity_and_concentration_are_flagged_at_high_frequency(comm):
    """Far above the ionic corner D/(2 pi a^2) (~4 kHz) the ionic harmonic fixes only a combination of
    D and c0."""
    frequencies = (1e5, 3e5)
    data = synthetic(sdc(frequencies=frequencies), ["diffusivity"], comm)
    study = with_values(sdc(frequencies=frequencies), {"fit": {"max_evaluations": 3}})
    result = fit(study, data, ["diffusivity", "concentration"], comm)
    assert abs(result.correlation[0][1]) > 0.95
    assert any("diffusivity and concentration are not separately determined" in w for w in result.warnings)


@pytest.mark.serial
def test_thousand_evaluations_keep_memory_and_petsc_objects():
    forward = ForwardModel(ptfe(refinement=0.2), ["thermal_conductivity"], MPI.COMM_SELF)

    def petsc_objects():
        gc.collect()
        PETSc.garbage_cleanup()
        return sum(isinstance(o, PETSc.Object) for o in gc.get_objects())

    for i in range(100):
        forward.evaluate([0.25 + 1e-3 * (i % 7)])
    rss, objects = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, petsc_objects()
    for i in range(1000):
        forward.evaluate([0.25 + 1e-3 * (i % 7)], derivatives=i % 10 == 0)
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss
    assert petsc_objects() == objects and forward.rebuilds == 1
    assert growth < 20_000, f"max RSS grew by {growth} kB over 1000 evaluations"
    forward.destroy()


BAD_FILES = {
    "missing column": ("drive_frequency_hz,amplitude_m\n1e4,1e-12\n", "lacks the column\\(s\\) harmonic"),
    "not a number": ("drive_frequency_hz,harmonic,amplitude_m\n1e4,1,abc\n", "row 2, column amplitude_m: 'abc' is not a number"),
    "negative amplitude": ("drive_frequency_hz,harmonic,amplitude_m\n1e4,1,-1e-12\n", "row 2, column amplitude_m: -1e-12 is not a positive"),
    "zero sigma": (
        "drive_frequency_hz,harmonic,amplitude_m,amplitude_sigma_m\n1e4,1,1e-12,0\n", "column amplitude_sigma_m: 0 is not a positive"
    ),
    "harmonic": ("drive_frequency_hz,harmonic,amplitude_m\n1e4,1.5,1e-12\n", "column harmonic: 1.5 is not a whole number"),
    "duplicate": ("drive_frequency_hz,harmonic,amplitude_m\n1e4,1,1e-12\n1e4,1,2e-12\n", "rows 2 and 3: frequency 10000 Hz, harmonic 1 is given twice"),
    "empty": ("drive_frequency_hz,harmonic,amplitude_m\n", "has no data rows"),
}


@pytest.mark.serial
@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_data_files_are_rejected_clearly(tmp_path, case):
    text, message = BAD_FILES[case]
    path = tmp_path / "data.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=f"^DATA .*{message}"):
        read_data(path)


@pytest.mark.serial
def test_missing_file_and_harmonic_the_drive_does_not_make(tmp_path):
    with pytest.raises(InputError, match="DATA file .* does not exist"):
        read_data(tmp_path / "none.csv")
    path = tmp_path / "data.csv"
    path.write_text("drive_frequency_hz,harmonic,amplitude_m\n1e4,2,1e-12\n")
    with pytest.raises(InputError, match="row 2, column harmonic: harmonic 2 is not produced .* without mobile ions: harmonics 1"):
        fit(ptfe(), read_data(path), ["thermal_conductivity"], MPI.COMM_SELF)


@pytest.mark.serial
def test_fit_section_is_validated():
    def options(section, names=("thermal_conductivity",)):
        return fit_options(with_values(ptfe(), {"fit": section}), names)

    with pytest.raises(InputError, match=r"fit.bound is not a \[fit\] key"):
        options({"bound": {}})
    with pytest.raises(InputError, match=r"fit.bounds.thermal_conductivity must be \[low, high\] with 0.001 <= low"):
        options({"bounds": {"thermal_conductivity": [2.0, 1.0]}})
    with pytest.raises(InputError, match="--param is required"):
        options({}, ())
    section = {"parameters": ["thermal_conductivity"], "bounds": {"thermal_conductivity": [0.05, 2.0], "diffusivity": [1e-14, 1e-9]}}
    assert options(section, ()).bounds == {"sample.properties.thermal_conductivity": (0.05, 2.0)}
    # PTFE has no mobile ions: the data do not depend on its diffusivity (issue 13)
    with pytest.raises(InputError, match="fit.parameters = 'diffusivity': this study has no mobile ions"):
        options({"parameters": ["diffusivity"]}, ())
    with pytest.raises(InputError, match=r"fit.parameters = 'difusivity' is not a fit parameter; did you mean 'diffusivity'\?"):
        options({"parameters": ["difusivity"]}, ())


def test_cli_fits_a_response_csv(shared_tmp):
    """A response.csv of `stimsim run` is valid DATA; the fit from a wrong start finds the study's value."""
    study = shared_tmp / "ptfe.toml"
    if MPI.COMM_WORLD.rank == 0:
        study.write_text(
            '[sample]\nmaterial = "PTFE"\n[tip]\ncontact_radius = 20e-9\n[excitation]\nmode = "power"\n'
            "power_amplitude = 1e-6\nfrequencies = [1e3, 1e4, 1e5]\n[mesh]\nrefinement = 0.5\n"
            "[fit]\nbounds.thermal_conductivity = [0.05, 2.0]\n"
        )
    MPI.COMM_WORLD.barrier()
    assert main(["run", str(study), "-o", str(shared_tmp / "run"), "-q"]) == 0
    out = shared_tmp / "fit"
    code = main([
        "fit", str(study), str(shared_tmp / "run" / "response.csv"), "--param", "thermal_conductivity",
        "--set", "sample.properties.thermal_conductivity=0.6", "-o", str(out), "-q",
    ])
    assert code == 0
    result = json.loads((out / "fit.json").read_text())
    found = result["parameters"]["thermal_conductivity"]
    assert abs(found["value"] / 0.25 - 1) < 1e-3 and found["bounds"] == [0.05, 2.0]  # meshes may differ
    assert (out / "fit.csv").is_file() and (out / "fit.png").is_file()
    assert main(["fit", str(study), str(shared_tmp / "none.csv"), "--param", "thermal_conductivity", "-o", str(out)]) == 2
    assert main(["fit", str(study), str(shared_tmp / "run" / "response.csv"), "--param", "conductivity", "-o", str(out)]) == 2


def test_fit_is_identical_on_one_and_all_ranks(comm):
    data = synthetic(ptfe((1e3, 1e5)), ["thermal_conductivity"], comm, seed=5)
    start = with_values(ptfe((1e3, 1e5)), {"sample.properties.thermal_conductivity": 0.4})
    world = fit(start, data, ["thermal_conductivity"], comm)
    alone = fit(start, data, ["thermal_conductivity"], MPI.COMM_SELF)
    a, b = (r.parameter("thermal_conductivity") for r in (world, alone))
    assert math.isclose(a.value, b.value, rel_tol=1e-8) and math.isclose(a.stderr, b.stderr, rel_tol=1e-6)


def test_posterior_brackets_the_fit_and_is_the_same_on_every_rank(comm):
    pytest.importorskip("emcee")
    from stimsim.inverse.posterior import posterior

    frequencies = (1e3, 1e5)
    data = synthetic(ptfe(frequencies), ["thermal_conductivity"], comm, seed=11)
    start = with_values(ptfe(frequencies), {"sample.properties.thermal_conductivity": 0.3})
    result = fit(start, data, ["thermal_conductivity"], comm)
    summary, samples = posterior(start, data, result, comm, steps=30, walkers=8)
    found, sampled = result.parameter("thermal_conductivity"), summary.parameters["thermal_conductivity"]
    assert samples.shape == (8 * 15, 1) and 0.2 < summary.acceptance_fraction < 0.95
    assert sampled.p16 < found.value < sampled.p84
    assert 0.5 < (sampled.p84 - sampled.p16) / (2 * found.stderr) < 2
    assert comm.allreduce(float(samples.sum()), op=MPI.MAX) == comm.allreduce(float(samples.sum()), op=MPI.MIN)


def test_covariance_is_infinite_along_what_the_data_do_not_determine():
    """The pseudo-inverse alone gives finite variances for parameters the data cannot fix (fewer data
    than parameters, or dependent columns): covariance_of marks them and keeps the determined part."""
    from stimsim.inverse.fit import covariance_of

    full = np.array([[2.0, 1.0], [1.0, 3.0]])
    covariance, undetermined = covariance_of(full)
    assert np.allclose(covariance, np.linalg.inv(full.T @ full)) and not undetermined.any()
    assert covariance_of(np.array([[1.0, 1.0]]))[1].tolist() == [True, True]  # one datum, two parameters
    covariance, undetermined = covariance_of(np.array([[1.0, 0.0, 1.0], [2.0, 0.0, 2.0], [0.0, 1.0, 0.0]]))
    assert undetermined.tolist() == [True, False, True] and math.isclose(covariance[1, 1], 1.0)


@pytest.mark.serial  # suite time; the fit under MPI: test_fit_is_identical_on_one_and_all_ranks
def test_fit_with_fewer_data_than_parameters_reports_them_undetermined(comm):
    """One amplitude, two parameters (the thermal conductivity and the expansion coefficient of PTFE):
    the fit reproduces the datum but must not claim a finite uncertainty for either."""
    study = ptfe((1e4,), refinement=0.3)
    rows = simulate(study, comm).rows
    thermal = next(r for r in rows if r.harmonic == 1)
    data = Data(np.array([1e4]), np.array([1]), np.array([thermal.amplitude * 1.05]), None,
                np.array([0.05 * thermal.amplitude]), None, True, np.array([2]))
    result = fit(study, data, ["thermal_conductivity", "thermal_expansion"], comm)
    assert all(p.stderr is None for p in result.parameters)
    assert any("cannot determine 2 parameters" in w for w in result.warnings)
    json.dumps(result.to_json(), allow_nan=False)  # no Infinity or NaN in fit.json


def one_point(comm, sigma_given: bool) -> tuple:
    """A PTFE study and its thermal amplitude at 10 kHz, 5 % off: one datum for one parameter."""
    study = ptfe((1e4,), refinement=0.3)
    amplitude = 1.05 * next(r for r in simulate(study, comm).rows if r.harmonic == 1).amplitude
    data = Data(np.array([1e4]), np.array([1]), np.array([amplitude]), None, np.array([0.01 * amplitude]), None,
                sigma_given, np.array([2]))
    return study, data


def test_zero_degrees_of_freedom_leave_the_uncertainty_undetermined_without_sigmas(comm):
    """One amplitude and one parameter: the fit matches the datum, so chi2 ~ 0 and scaling by it gave a
    standard error of 3e-15. Without sigmas the scatter cannot be estimated: stderr null, a warning
    saying why; the reduced chi2 is undefined (null, not chi2); no numpy warning on the way."""
    study, data = one_point(comm, sigma_given=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = fit(study, data, ["thermal_conductivity"], comm)
    k = result.parameter("thermal_conductivity")
    assert k.stderr is None and k.interval_68 == (None, None) and k.interval_95 == (None, None)
    assert result.reduced_chi2 is None and result.degrees_of_freedom == 0
    assert any("no degree of freedom to estimate the scatter" in w and "undetermined" in w for w in result.warnings)
    json.dumps(result.to_json(), allow_nan=False)


def test_zero_degrees_of_freedom_with_given_sigmas_keep_the_absolute_errors(comm):
    """With the measurement's sigmas the covariance is the absolute one: a finite stderr, no scatter
    warning; the reduced chi2 is still undefined."""
    study, data = one_point(comm, sigma_given=True)
    result = fit(study, data, ["thermal_conductivity"], comm)
    k = result.parameter("thermal_conductivity")
    assert 0 < k.stderr < k.value and None not in k.interval_68
    assert result.reduced_chi2 is None and not any("scatter" in w for w in result.warnings)


def test_an_interval_beyond_the_float_range_is_open_without_overflow():
    """A log parameter with a standard error of 800 in ln p: exp(x + 800) is beyond the floats, the
    upper end is null (exp is not evaluated: no overflow), the lower end exp(x - 800) = 0."""
    from stimsim.inverse.results import Transform, interval

    with np.errstate(over="raise", invalid="raise"):  # (underflow to 0 is numpy's silent default)
        assert interval(Transform(log=True, scale=1.0), 0.0, 800.0) == (0.0, None)
        assert interval(Transform(log=True, scale=1.0), 0.0, np.inf) == (None, None)
        assert interval(Transform(log=False, scale=2.0), 1.0, 0.5) == (1.0, 3.0)


def test_the_known_fit_parameters_are_those_the_study_can_fit():
    """A misspelt name lists the parameters this study can fit: no diffusivity for a species study (the
    species set it), no ionic property or [ions] key without mobile ions (the spelling suggestion is
    still the closest name, whose refusal says why); a drive key of another mode is refused naming the
    mode that uses it, not asked for in the study."""
    species = study_from_dict({
        "sample": {"material": "SDC", "species": [
            dict(name="cation", charge=1, diffusivity=4e-10, partial_molar_volume=6.5e-6, concentration=4.0),
            dict(name="anion", charge=-1, diffusivity=4e-10, partial_molar_volume=-1e-6, concentration=4.0)]},
        "ions": {"electrostatics": "electroneutral"}, "tip": {"contact_radius": 20e-9},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [1e4]},
    })
    for study, absent in ((species, "diffusivity"), (ptfe(), "exchange_velocity")):
        with pytest.raises(InputError, match="did you mean 'diffusivity'") as info:
            fit_options(study, ["difusivity"])
        assert "known here: youngs_modulus" in str(info.value) and absent not in str(info.value).partition("known")[2]
    with pytest.raises(InputError, match=r"excitation.mode = 'power' does not use excitation.heater_temperature_coefficient "
                                         r"\(excitation.mode 'joule' does\)"):
        fit_options(ptfe(), ["excitation.heater_temperature_coefficient"])


def test_a_model_failure_during_the_fit_names_the_parameters_and_their_values():
    """What the optimiser's step makes fail (a solver error, a value out of the model's range) is
    reported as the fit's error with the values it reached, in its class (exit 3 or 2)."""
    from stimsim.core.errors import SolverError
    from stimsim.inverse.fit import failed_at

    names, values = ["thermal_conductivity_derivative"], [-2.3e-3]
    err = failed_at(SolverError("harmonic balance: Newton did not converge"), names, values, "--param")
    assert isinstance(err, SolverError) and str(err) == (
        "fit: the fit reached thermal_conductivity_derivative = -0.0023, where the model could not be solved: "
        "harmonic balance: Newton did not converge")
    err = failed_at(InputError("sample.properties.x", "is too large"), names, values, "--param")
    assert isinstance(err, InputError) and err.key == "--param" and "reached thermal_conductivity_derivative = -0.0023" in str(err)


def test_a_posterior_without_an_estimate_of_the_noise_is_refused(comm):
    """No sigmas and no degree of freedom (reduced chi2 null): the likelihood has no noise level."""
    from stimsim.inverse.posterior import posterior

    study, data = one_point(comm, sigma_given=False)
    result = fit(study, data, ["thermal_conductivity"], comm)
    with pytest.raises(InputError, match="--posterior needs the noise of the data"):
        posterior(study, data, result, comm, 10)
