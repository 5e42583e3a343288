"""Harmonic balance (stimsim.solve.periodic): the operators along the period, the linear problem whose
periodic state is the expansion's exactly, and the nonlinear periodic state against the expansion at a
small heating amplitude (docs/validation/verification.md, 'Harmonic balance')."""

import logging
import math

import numpy as np
import pytest
from mpi4py import MPI

from conftest import ROOT

from stimsim.study.load import derived_study, study_from_dict
from stimsim.solve.forward import base_state, expansion_responses, frequency_response, responses, solve_harmonics
from stimsim.solve.model import HarmonicModel
from stimsim.solve.periodic import TimeGrid, harmonics_of, samples_of

FREQUENCY = 2e4


def test_time_grid_is_exact_for_h_harmonics():
    """Derivative along the period and interpolation to the preconditioner's steps are exact for a
    signal of H harmonics at the collocation phases, and harmonics_of returns its coefficients (X_0 the
    mean)."""
    grid = TimeGrid.build(3)
    coefficients = np.array([0.3, 1 - 2j, 0.5j, -0.25 + 0.1j])
    signal = lambda phi: sum((c * np.exp(1j * k * phi)).real for k, c in enumerate(coefficients))  # noqa: E731
    slope = lambda phi: sum((1j * k * c * np.exp(1j * k * phi)).real for k, c in enumerate(coefficients))  # noqa: E731
    collocation, steps = TimeGrid.phases(grid.collocation), TimeGrid.phases(grid.steps)
    assert np.allclose(grid.derivative @ signal(collocation), slope(collocation), atol=1e-13)
    assert np.allclose(grid.interpolate @ signal(collocation), signal(steps), atol=1e-13)
    assert np.allclose(harmonics_of(signal(collocation)[:, None], 3)[:, 0], coefficients, atol=1e-13)
    assert np.allclose(samples_of(coefficients[:, None], grid.steps)[:, 0], signal(steps), atol=1e-13)


def _study(material: dict, power: float, harmonics: int | None = 4, periodic="harmonic_balance"):
    solver = {"periodic": periodic} | ({"harmonics": harmonics} if harmonics else {})
    return study_from_dict(
        {
            "sample": material,
            "tip": {"contact_radius": 20e-9},
            "excitation": {"mode": "power", "power_amplitude": power, "frequencies": [FREQUENCY]},
            "mesh": {"refinement": 0.15},
            "solver": solver,
        }
    )


def _by_kind(rows):
    return {(r.harmonic, r.kind): r for r in rows}


def test_linear_problem_gives_the_expansion_exactly():
    """Without mobile ions the balance is linear: harmonic balance at 1 uW (a 60 K oscillation of PTFE) returns the
    first-order response at harmonic 1 and nothing at the others (a periodic problem whose solution,
    the expansion's, is verified against the half-space solution in test_analytic)."""
    study = _study({"material": "PTFE"}, 1e-6)
    with HarmonicModel(study, MPI.COMM_WORLD) as model:
        base_state(model)
        solution = solve_harmonics(model, FREQUENCY)
        expansion = _by_kind(expansion_responses(model, FREQUENCY, solution))
        found = frequency_response(model, FREQUENCY, solution)
        periodic = _by_kind(found.rows)
    assert found.report.method == "harmonic_balance"
    first = periodic[1, "total"]
    assert abs(first.displacement / expansion[1, "thermal"].displacement - 1) < 1e-7
    assert abs(first.temperature / expansion[1, "thermal"].temperature - 1) < 1e-7
    for harmonic in (0, 2, 3, 4):
        assert abs(periodic[harmonic, "total"].displacement) < 1e-8 * first.amplitude


@pytest.fixture(scope="module")
def small_amplitude():
    """SDC under 0.1 uW (theta_1 ~ 0.6 K): expansion and harmonic-balance rows."""
    study = _study({"material": "SDC", "properties": {"diffusivity": 1e-12}}, 1e-7)
    with HarmonicModel(study, MPI.COMM_WORLD) as model:
        base_state(model)
        solution = solve_harmonics(model, FREQUENCY)
        expansion = _by_kind(expansion_responses(model, FREQUENCY, solution))
        found = frequency_response(model, FREQUENCY, solution)
        periodic, report = _by_kind(found.rows), found.report
    return expansion, periodic, report


def test_small_amplitude_reproduces_the_expansion(small_amplitude):
    """At a small amplitude the periodic state's harmonics 1 and 2 are the expansion's (within 0.5 %
    and 0.3 deg; the difference is the expansion's own error, of order gamma^2), its ionic rows are the
    expansion's second order, and Newton converged in few iterations."""
    expansion, periodic, report = small_amplitude
    for harmonic, kind in ((1, "thermal"), (2, "ionic")):
        ratio = periodic[harmonic, "total"].displacement / expansion[harmonic, kind].displacement
        assert abs(abs(ratio) - 1) < 5e-3, (harmonic, ratio)
        assert abs(math.degrees(np.angle(ratio))) < 0.3, (harmonic, ratio)
    ionic = periodic[2, "ionic"].displacement / expansion[2, "ionic"].displacement
    assert abs(ionic - 1) < 5e-3
    assert periodic[1, "thermal"].displacement == expansion[1, "thermal"].displacement
    assert report.statistics.newton <= 4 and report.statistics.residuals[-1] < 1e-7
    assert periodic[1, "total"].method == "harmonic_balance"


SDC_FAST = {"material": "SDC", "properties": {"diffusivity": 1e-11}}


@pytest.mark.parametrize(
    "sample",
    [
        {"geometry": {"kind": "film", "film_thickness": 100e-9, "substrate": "Si"}},
        {"ions": {"space_charge_excess": 0.5, "space_charge_length": 5e-9}},
        {"tip": {"force": 50e-9, "tip_radius": 30e-9},
         "sample": {"material": "SDC", "properties": {"diffusivity": 1e-11, "partial_molar_volume": 5e-7}}},
        {"excitation": {"mode": "power", "power_amplitude": 1e-8, "dc_power": 2e-7, "frequencies": [FREQUENCY]}},
        {"excitation": {"mode": "power", "power_amplitude": 1e-8, "dc_power": 2e-7, "frequencies": [FREQUENCY]},
         "sample": {"material": "SDC", "properties": {"diffusivity": 1e-11, "heat_of_transport": 5e4}},
         "ions": {"surface": "exchange", "exchange_velocity": 1e-2}},
    ],
    ids=["film", "space_charge", "preload", "dc_heating", "soret_exchange"],
)
@pytest.mark.serial  # suite time: harmonic balance under MPI is test_small_amplitude_reproduces_the_expansion's
def test_harmonic_balance_covers_films_space_charge_preload_and_dc_heating(sample):
    """At 10 nW (theta_1 ~ 0.07 K) the periodic state of a film on Si, a surface space-charge layer, a
    Hertz preload (50 nN on a 30 nm tip; Omega lowered so the preload does not empty the contact of
    ions), a DC-heated base state, and one with thermotransport (Q* = 5e4 J/mol, which makes u_2 13 times
    that without) and a surface exchange toward the stress equilibrium has the expansion's harmonics 1
    and 2 within 1e-4 (measured: 1e-5, 2e-6, 4e-5, 2e-6, 3e-6 on u_2): each enters the balance harmonic
    balance solves (geometry, equilibrium concentration, base-state stress and temperature, the
    thermotransport flux and the exchange)."""
    raw = {"sample": SDC_FAST, "tip": {"contact_radius": 20e-9},
           "excitation": {"mode": "power", "power_amplitude": 1e-8, "frequencies": [FREQUENCY]},
           "mesh": {"refinement": 0.3}, "solver": {"periodic": "harmonic_balance", "harmonics": 4}}
    raw |= sample
    if "force" in raw["tip"]:
        raw["tip"] = sample["tip"]
    with HarmonicModel(study_from_dict(raw), MPI.COMM_WORLD) as model:
        base_state(model)
        solution = solve_harmonics(model, FREQUENCY)
        expansion = expansion_responses(model, FREQUENCY, solution)
        periodic = _by_kind(responses(model, FREQUENCY, solution))
    for harmonic in (1, 2):
        expected = sum(r.displacement for r in expansion if r.harmonic == harmonic and r.kind in ("thermal", "ionic"))
        assert abs(periodic[harmonic, "total"].displacement / expected - 1) < 1e-4, harmonic


@pytest.mark.parametrize(
    "solver, key",
    [({"periodic": "shooting"}, "solver.periodic"), ({"harmonics": 0}, "solver.harmonics"),
     ({"steps_per_period": 4}, "solver.steps_per_period"), ({"harmonic": 8}, "solver.harmonic"),
     ({"harmonics": 1}, "solver.harmonics"), ({"harmonics": 1, "periodic": "time_domain"}, "solver.harmonics")],
)
def test_solver_keys_are_checked(solver, key):
    """A bad [solver] key is refused with a message that names it."""
    from stimsim.core.errors import InputError

    raw = {"tip": {"contact_radius": 20e-9}, "excitation": {"power_amplitude": 1e-7, "frequencies": [FREQUENCY]},
           "solver": solver}
    with pytest.raises(InputError) as err:
        study_from_dict(raw)
    assert key in str(err.value)


@pytest.mark.serial
@pytest.mark.parametrize("power, harmonics", [(2e-6, 6), (9e-6, 8)], ids=["13K", "60K"])
def test_harmonic_balance_matches_the_time_domain(power, harmonics):
    """SDC with D = 1e-11 m^2/s (omega tau ~ 5) under 2 uW (theta_1 ~ 13 K, gamma ~ 1.2) and 9 uW
    (theta_1 ~ 60 K, gamma ~ 5.4, u_3/u_2 ~ 1/3): harmonic balance (H = 6, 8) and the time-domain model
    (Crank–Nicolson, 64 steps per period, the last of 6 periods) agree on u_1, u_2 and u_3 within 1 %
    and 1 deg. The time-domain figures move by less than 0.3 % from 64 to 128 steps and from 4 to 6
    periods at 13 K; at 60 K by 0.1 % (u_2) and 0.3 % (u_3) from 64 to 128 steps, 0.1 % and 1.3 % from
    4 to 6 periods, while harmonic balance is within 0.1 % (u_2) and 0.2 % (u_3) of the runs at 64 and
    128 steps (docs/theory/harmonics.md, "Large amplitudes"). Both methods run on one mesh, whose size
    leaves their agreement unchanged (at refinement 0.15 and 0.3 it is the same to 1e-4)."""
    rows = {}
    for periodic, extra in (("harmonic_balance", {}), ("time_domain", {"solver.periods": 6, "solver.steps_per_period": 64})):
        study = derived_study(
            _study({"material": "SDC", "properties": {"diffusivity": 1e-11}}, power, harmonics=harmonics, periodic=periodic), extra
        )
        with HarmonicModel(study, MPI.COMM_WORLD) as model:
            base_state(model)
            rows[periodic] = _by_kind(responses(model, FREQUENCY))
    for harmonic in (1, 2, 3):
        ratio = rows["harmonic_balance"][harmonic, "total"].displacement / rows["time_domain"][harmonic, "total"].displacement
        assert abs(abs(ratio) - 1) < 1e-2, (harmonic, ratio)
        assert abs(math.degrees(np.angle(ratio))) < 1.0, (harmonic, ratio)


def test_auto_keeps_the_expansion_where_valid_and_says_why_it_leaves_it():
    """'auto': at 0.1 uW the expansion answers; at 10 uW (theta_1 ~ 60 K, gamma ~ 6, where the
    expansion's u_2 is a factor ~1.9 off) harmonic balance is chosen, and the reason names the
    activation parameter."""
    from stimsim.solve.forward import periodic_method
    from stimsim.solve.validity import validity_parameters

    reports = {}
    for power in (1e-7, 1e-5):
        study = _study({"material": "SDC", "properties": {"diffusivity": 1e-12}}, power, harmonics=None, periodic="auto")
        with HarmonicModel(study, MPI.COMM_WORLD) as model:
            base_state(model)
            reports[power] = periodic_method(model, validity_parameters(model, solve_harmonics(model, FREQUENCY).first))
    assert reports[1e-7].method == "expansion" and "expected error" in reports[1e-7].reason
    assert reports[1e-5].method == "harmonic_balance"
    assert "E_a theta_1/(R T^2)" in reports[1e-5].reason and "more than 100 %" in reports[1e-5].reason


@pytest.mark.serial  # 73 s under MPI; the tangent's parallel parts (residual, Krylov, norms) run in the other tests
def test_fitting_differentiates_the_periodic_state():
    """The fitting model in harmonic balance (SDC, D = 1e-11 m^2/s, 0.75 uW: theta_1 ~ 5 K): its
    values are the periodic state's total rows, and its tangents (J dX = -dG/dp on the solved state)
    agree with central differences of whole harmonic-balance solves within 1e-5 (the differences'
    own error, O(h^2) at h = 0.3 %), for a parameter of the ions and one of the mechanics."""
    from stimsim.inverse.forward_model import ForwardModel

    study = derived_study(_study({"material": "SDC", "properties": {"diffusivity": 1e-11}}, 7.5e-7, harmonics=3), {"mesh.refinement": 0.12})
    names = ["diffusivity", "thermal_expansion"]
    with ForwardModel(study, names, MPI.COMM_WORLD) as fitted:
        prediction = fitted.evaluate(derivatives=True)
        assert fitted.periodic == {FREQUENCY: "harmonic_balance"}
        with HarmonicModel(study, MPI.COMM_WORLD) as model:
            base_state(model)
            rows = _by_kind(responses(model, FREQUENCY))
        for (frequency, harmonic), value in zip(prediction.points, prediction.displacement):
            assert abs(value / rows[harmonic, "total"].displacement - 1) < 1e-9, harmonic
        values = fitted.values
        for column, (name, value) in enumerate(zip(names, values)):
            step = 3e-3 * value
            shifted = [fitted.evaluate({name: value + sign * step}).displacement for sign in (1, -1)]
            difference = (shifted[0] - shifted[1]) / (2 * step)
            assert np.all(np.abs(prediction.jacobian[:, column] / difference - 1) < 1e-5), (name, prediction.jacobian[:, column], difference)
            fitted.evaluate(values)


def test_one_harmonic_is_accepted_where_no_ionic_channel_is_solved_by_it():
    """H = 1 is refused only where it would drop an ionic channel (above): a sample without mobile ions
    has none. (With periodic = 'expansion', which does not read H, the key is refused as unused.)"""
    raw = {"sample": {"material": "PTFE"}, "solver": {"harmonics": 1}}
    study = study_from_dict({"tip": {"contact_radius": 20e-9}, "excitation": {"power_amplitude": 1e-7, "frequencies": [FREQUENCY]}} | raw)
    assert study.solver.harmonics == 1


def test_a_converged_harmonic_balance_gives_no_warning(small_amplitude):
    """At 0.1 uW, H = 4 leaves u_4 far below 1 % of u_2: no warning."""
    _, _, report = small_amplitude
    assert report.tail < 1e-3 and report.warning is None


def _hot(harmonics: int | None):
    """The default study at 3 uW and 10 kHz (E_a theta_1/(R T^2) = 2.1) by harmonic balance with
    [solver] harmonics = ``harmonics`` (None: adaptive), solved; its result and the warnings logged."""
    from stimsim.solve.simulate import simulate
    from stimsim.study.load import load_study

    settings = ["mesh.refinement=0.3", "excitation.frequencies=[1e4]", "excitation.power_amplitude=3e-6",
                "solver.periodic=harmonic_balance"] + ([f"solver.harmonics={harmonics}"] if harmonics else [])
    return simulate(load_study(ROOT / "studies" / "default.toml", settings), MPI.COMM_WORLD)


@pytest.mark.serial  # bookkeeping of H and the Newton budget, the same on every rank (MPI: test_fieldsplit)
def test_too_few_harmonics_are_warned_about(caplog):
    """H = 3 at 3 uW leaves u_3 at 16 % of u_2 (measured 0.163; 1.3 % at H = 4): a warning with H, the
    tail and the remedy, logged and in the result's warnings (what the CLI prints and a fit reports)."""
    with caplog.at_level("WARNING", logger="stimsim"):
        result = _hot(3)
    report = result.periodic[1e4]
    assert report.harmonics == 3 and 0.1 < report.tail < 0.2
    expected = (f"harmonic balance at 10000 Hz: [solver] harmonics = 3 leaves the highest harmonic u_3 at "
                f"{report.tail:.3g} of the ionic channel u_2 (tolerance 0.01)")
    assert len(result.warnings()) == 1 and result.warnings()[0].startswith(expected)
    assert "raise [solver] harmonics (e.g. to 6)" in result.warnings()[0]
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == result.warnings()


@pytest.mark.serial  # bookkeeping of H and the Newton budget, the same on every rank (MPI: test_fieldsplit)
def test_adaptive_harmonics_warn_when_the_most_leave_a_tail(monkeypatch):
    """Adaptive H stops at MAX_HARMONICS; where the tail is still above HARMONIC_TAIL there it warns (the
    largest H lowered to the first, 4, where 3 uW leaves a tail of 1.3 %)."""
    from stimsim.solve import forward

    monkeypatch.setattr(forward, "MAX_HARMONICS", 4)
    result = _hot(None)
    report = result.periodic[1e4]
    assert report.harmonics == 4 and report.tail > forward.HARMONIC_TAIL
    assert len(result.warnings()) == 1
    assert "the adaptive H reached its maximum 4 leaves the highest harmonic u_4" in result.warnings()[0]
    assert "set [solver] harmonics up to 64" in result.warnings()[0]


@pytest.mark.serial  # bookkeeping of H and the Newton budget, the same on every rank (MPI: test_fieldsplit)
def test_adaptive_h_shares_one_newton_budget_and_logs_every_iteration(monkeypatch, caplog):
    """SDC with D = 1e-11 m^2/s under 9 uW (theta_1 ~ 60 K): without [solver] harmonics H doubles from 4;
    each solve gets what the ones before left of NEWTON_BUDGET, and every Newton iteration logs its
    residual at INFO."""
    from stimsim.solve.periodic import NEWTON_BUDGET, HarmonicBalance

    calls = []
    solve = HarmonicBalance.solve

    def recorded(self, *args, budget, **kwargs):
        state = solve(self, *args, budget=budget, **kwargs)
        calls.append((budget, state.statistics.newton))
        return state

    monkeypatch.setattr(HarmonicBalance, "solve", recorded)
    study = _study({"material": "SDC", "properties": {"diffusivity": 1e-11}}, 9e-6, harmonics=None)
    with caplog.at_level(logging.INFO, logger="stimsim"), HarmonicModel(study, MPI.COMM_WORLD) as model:
        base_state(model)
        report = frequency_response(model, FREQUENCY).report
    assert len(calls) >= 2 and report.harmonics > 4, calls
    assert calls[0][0] == NEWTON_BUDGET
    assert all(later[0] == budget - newton for (budget, newton), later in zip(calls, calls[1:])), calls
    lines = [m for m in caplog.messages if "Newton iteration" in m]
    assert len(lines) == sum(newton for _, newton in calls) and "residual " in lines[-1], lines
