"""Harmonic balance split by field (stimsim.fieldsplit): where it applies, its Jacobian against the
coupled one, its preconditioner exact where the balance is linear, and the periodic state it solves
against the coupled solver's (docs/harmonics.md, 'Split by field')."""

import numpy as np
import pytest
from mpi4py import MPI

from stimsim.config import study_from_dict
from stimsim.forward import base_state, expansion_harmonics, solve_harmonics
from stimsim.harmonic import HarmonicModel
from stimsim.timegrid import TimeGrid, samples_of

FREQUENCY = 2e4
SDC = {"material": "SDC", "properties": {"diffusivity": 1e-12}}


def _study(sample: dict, power: float = 2e-6):
    return study_from_dict(
        {
            "sample": sample,
            "tip": {"contact_radius": 20e-9},
            "excitation": {"mode": "power", "power_amplitude": power, "frequencies": [FREQUENCY]},
            "mesh": {"refinement": 0.3},
            "solver": {"periodic": "harmonic_balance", "harmonics": 4},
        }
    )


@pytest.mark.parametrize(
    "sample, split",
    [
        (SDC, True),
        ({"material": "PTFE"}, True),
        ({"material": "SDC", "properties": {"thermal_conductivity_derivative": -5e-3}}, False),
        ({"material": "SDC", "properties": {"thermal_expansion_derivative": 1e-8}}, False),
    ],
    ids=["ions", "no-ions", "k(T)", "alpha(T)"],
)
def test_split_applies_where_only_the_ion_rows_are_nonlinear(sample, split):
    """Split for a neutral species with constant k and alpha and without ions; coupled where k(T) or
    alpha(T) makes the heat or mechanics rows depend on the state."""
    with HarmonicModel(_study(sample), MPI.COMM_WORLD) as model:
        assert (model.harmonic_balance().split is not None) is split


@pytest.fixture(scope="module")
def sdc():
    """SDC at 2 uW (theta_1 ~ 13 K at the tip): the model, the expansion's start and the phases'
    states of H = 4 from it."""
    with HarmonicModel(_study(SDC), MPI.COMM_WORLD) as model:
        base_state(model)
        solution = solve_harmonics(model, FREQUENCY)
        balance = model.harmonic_balance()
        start = expansion_harmonics(balance, solution)
        yield model, solution, start


def _random_phases(balance, grid, seed):
    rng = np.random.default_rng(seed + balance.comm.rank)
    return rng.standard_normal((grid.collocation, balance.size))


def test_split_jacobian_equals_the_coupled_one(sdc):
    """J v at the collocation phases of the expansion's state, by blocks, against the monolithic
    Jacobians assembled there (the same forms: only the assembly differs)."""
    model, _, start = sdc
    balance = model.harmonic_balance()
    grid = TimeGrid.build(4)
    model.set_frequency(FREQUENCY)
    state = samples_of(start[:5], grid.collocation)
    v = _random_phases(balance, grid, 1)
    split = balance.split
    try:
        split.assemble(grid, state)
        by_blocks = split.action(grid, v)
        balance.split = None
        balance.assemble_jacobians(grid, state)
        coupled = np.array([balance._mult(J, x) for J, x in zip(balance.jacobians, v)])
    finally:
        balance.release()
        balance.split = split
    scale = balance._max(coupled)
    assert balance._max(by_blocks - coupled) < 1e-12 * scale


def test_split_preconditioner_inverts_a_linear_balance():
    """Without ions the balance is linear with constant coefficients: heat solved harmonic by harmonic
    and mechanics at each phase invert the collocation Jacobian exactly, P J v = v."""
    with HarmonicModel(_study({"material": "PTFE"}), MPI.COMM_WORLD) as model:
        base_state(model)
        balance = model.harmonic_balance()
        grid = TimeGrid.build(3)
        model.set_frequency(FREQUENCY)
        balance._assemble_storage()
        balance.assemble_jacobians(grid, np.zeros((grid.collocation, balance.size)))
        balance.factorize_steps(grid)
        v = _random_phases(balance, grid, 2)
        recovered = balance.precondition(grid, balance.jacobian_action(grid, v))
        balance.release()
    assert balance._max(recovered - v) < 1e-10 * balance._max(v)


def test_split_and_coupled_solvers_give_the_same_periodic_state(sdc):
    """The periodic state at theta_1 ~ 13 K from the split solver and from the coupled one: every field's
    harmonics 0..4 agree to the Newton tolerance, while the split one factorises only small blocks."""
    model, solution, start = sdc
    balance = model.harmonic_balance()
    split = balance.split

    def solve():
        balance.release()
        return balance.solve(FREQUENCY, dict(solution.spectrum), model.base_heating, 4, start)

    try:
        by_blocks = solve()
        balance.split = None
        coupled = solve()
    finally:
        balance.release()
        balance.split = split
    scale = balance._max(coupled.harmonics)
    assert balance._max(by_blocks.harmonics - coupled.harmonics) < 1e-6 * scale
    for k in (2, 3):  # the small harmonics too, each relative to itself
        assert balance._max(by_blocks.harmonics[k] - coupled.harmonics[k]) < 1e-4 * balance._max(coupled.harmonics[k])
    assert by_blocks.statistics.newton <= coupled.statistics.newton + 1
