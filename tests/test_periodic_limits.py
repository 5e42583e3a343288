"""Bad input and failed solves in every periodic mode: a heating that would take the temperature below
0 K or the concentration below zero is refused with a message naming the key and the limit, before
any periodic solve; Newton or Krylov non-convergence ends ``stimsim run`` with the convergence
history, exit status 3 and no output (docs/guide/errors.md)."""

import pytest
from mpi4py import MPI

from stimsim.solve import forward
from stimsim.solve import model as harmonic
from stimsim.solve import periodic
from stimsim.solve import timedomain
from stimsim.cli import EXIT_INPUT, EXIT_SOLVER, main
from stimsim.study.load import study_from_dict
from stimsim.core.errors import InputError
from stimsim.solve.forward import base_state
from stimsim.solve.model import HarmonicModel
from stimsim.solve.simulate import solve_frequencies

from conftest import ROOT

FREQUENCY = 2e4
MODES = ("expansion", "harmonic_balance", "time_domain")
#: SDC with a depleted surface layer (c_0 down to 1e-3 of the bulk within 5 nm of the surface) and
#: fast ions: 0.6 uW makes |c_1|/c_0 = 1.07 there while the tip oscillates by 16 K.
DEPLETED = {
    "sample": {"material": "SDC", "properties": {"diffusivity": 1e-10}},
    "ions": {"space_charge_excess": -0.999, "space_charge_length": 5e-9},
}
#: Each limit: the study sections, the power (W) and what the message must say of the limit.
LIMITS = {
    "temperature": ({"sample": {"material": "SDC"}}, 1e-4, "below 0 K"),
    "concentration": (DEPLETED, 6e-7, "below zero"),
}


def study(sections: dict, power: float, periodic: str, **solver):
    return study_from_dict(
        sections | {
            "tip": {"contact_radius": 20e-9},
            "excitation": {"mode": "power", "power_amplitude": power, "frequencies": [FREQUENCY]},
            "mesh": {"refinement": 0.3},
            "solver": {"periodic": periodic} | solver,
        }
    )


@pytest.mark.parametrize("limit", sorted(LIMITS))
@pytest.mark.parametrize("mode", MODES)
def test_heating_beyond_a_limit_is_refused_in_every_mode(mode, limit):
    """theta_1/T > 1 (1e-4 W, a 700 K oscillation) or |c_1|/c_0 > 1 is an InputError naming
    excitation.power_amplitude, the limit and a lower value, whatever solves the periodic state (the
    check of the solved first order: past simulate's estimate before the solve, which refuses the
    700 K oscillation already)."""
    sections, power, floor = LIMITS[limit]
    with HarmonicModel(study(sections, power, mode), MPI.COMM_WORLD) as model, pytest.raises(InputError) as refused:
        base_state(model)
        solve_frequencies(model, [FREQUENCY])
    message = str(refused.value)
    assert refused.value.key == "excitation.power_amplitude"
    assert f"the {limit} oscillate" in message and floor in message and "lower it below about" in message


def run_argv(outdir, power: float, periodic: str, *extra: str) -> list[str]:
    """``stimsim run`` of the default study at 20 kHz on a coarse mesh with ``periodic``."""
    return [
        "run", str(ROOT / "studies" / "default.toml"), "-o", str(outdir), "-q",
        "--set", f"excitation.frequencies=[{FREQUENCY}]", "--set", f"excitation.power_amplitude={power}",
        "--set", "mesh.refinement=0.3", "--set", f'solver.periodic="{periodic}"', *extra,
    ]


def test_cli_refuses_a_concentration_below_zero_with_harmonic_balance(shared_tmp, capsys):
    outdir = shared_tmp / "never"
    extra = ["--set", "sample.properties.diffusivity=1e-10", "--set", "ions.space_charge_excess=-0.999",
             "--set", "ions.space_charge_length=5e-9"]
    assert main(run_argv(outdir, 6e-7, "harmonic_balance", *extra)) == EXIT_INPUT
    if MPI.COMM_WORLD.rank == 0:
        err = capsys.readouterr().err
        assert err.startswith("stimsim: error: excitation.power_amplitude = 6e-07 W makes the concentration")
        assert "below zero" in err and err.count("\n") == 1
    assert not outdir.exists()


#: A solver given one iteration (module, constant, value), the periodic method, extra keys and what the
#: message must hold: the failure and its history.
STARVED = {
    "harmonic_balance_newton": (
        [(periodic, "NEWTON_ITERATIONS", 1), (periodic, "CONTINUATION_STEPS", ())], "harmonic_balance", [],
        ["harmonic balance: Newton did not converge in 1 iterations", "residuals (relative to the heat input) "],
    ),
    "harmonic_balance_budget": (
        [(forward, "NEWTON_BUDGET", 1)], "harmonic_balance", [],
        ["harmonic balance: no periodic state within the budget of 1 Newton iterations (H = 4, at 100% of the heating",
         "residuals (relative to the heat input) "],
    ),
    "harmonic_balance_gmres": (
        [(periodic, "KRYLOV_ITERATIONS", 1), (periodic, "CONTINUATION_STEPS", ())], "harmonic_balance", [],
        ["harmonic balance: GMRES did not converge", "residual history "],
    ),
    "time_domain_step": (
        [(timedomain, "STEP_ITERATIONS", 1)], "time_domain", ["--set", "solver.periods=2"],
        ["time step 1: modified Newton did not converge in 1 iterations; relative updates "],
    ),
    "base_state": (
        [(harmonic, "NEWTON_ITERATIONS", 1)], "expansion", ["--set", "excitation.dc_power=1e-7"],
        ["base state: Newton did not converge in 1 iterations; relative updates "],
    ),
}


@pytest.mark.parametrize("case", sorted(STARVED))
def test_non_convergence_is_reported_with_its_history_not_returned(case, shared_tmp, capsys, monkeypatch):
    """A solver starved of iterations fails the run (exit 3, one line with the history, no output)."""
    patches, method, extra, expected = STARVED[case]
    for module, name, value in patches:
        monkeypatch.setattr(module, name, value)
    outdir = shared_tmp / "never"
    assert main(run_argv(outdir, 1e-7, method, *extra)) == EXIT_SOLVER
    if MPI.COMM_WORLD.rank == 0:
        err = capsys.readouterr().err
        assert err.startswith("stimsim: error: ") and err.count("\n") == 1, err
        assert all(text in err for text in expected), err
        assert "e-" in err.rsplit(expected[-1], 1)[1], err  # the history follows its label
    assert not outdir.exists()
