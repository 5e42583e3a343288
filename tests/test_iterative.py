"""The iterative coupled solve of 3D models (``[solver] linear = "iterative"``, stimsim.solve.iterative): it
reproduces the direct solve to its tolerance (serially and on 2 ranks), refuses to return an
unconverged solution, and lifts the direct solver's 3D size guard. Measured iterations and costs are
in docs/developer/performance.md ('3D solvers')."""

import pytest
from mpi4py import MPI
from petsc4py import PETSc

from stimsim.solve import model as harmonic
from stimsim.study.load import study_from_dict
from stimsim.core.errors import InputError, SolverError
from stimsim.solve.forward import responses
from stimsim.solve.model import HarmonicModel
from stimsim.solve.iterative import RTOL

FREQUENCY = 1e5
#: The coarsest 3D ionic mesh that still has the coupled structure (4.7k DOFs, quarter box).
REFINEMENT = 0.2


def study(linear: str, model: str = "3d"):
    return study_from_dict({
        "sample": {"material": "SDC", "properties": {"diffusivity": 4e-10}},
        "geometry": {"model": model},
        "tip": {"contact_radius": 20e-9},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [FREQUENCY]},
        "mesh": {"refinement": REFINEMENT},
        "solver": {"linear": linear},
    })


def tip_rows(model) -> dict:
    return {(row.harmonic, row.kind): row for row in responses(model, FREQUENCY)}


def test_the_iterative_solve_reproduces_the_direct_one_and_passes_the_size_guard(monkeypatch):
    """Thermal and ionic tip displacement and temperature equal the direct ones to well within what
    the GMRES tolerance allows (relative residual 1e-8: measured differences ~1e-10), on any number of
    ranks; with the direct solver's size limit below this mesh the iterative model is still built;
    new coefficients in place rebuild the preconditioner (the same iterations again)."""
    comm = MPI.COMM_WORLD
    with HarmonicModel(study("direct"), comm) as model:
        direct = tip_rows(model)
    monkeypatch.setattr(harmonic, "MAX_DIRECT_3D_DOFS", 1000)
    with pytest.raises(InputError, match="solver.linear = 'iterative'"):
        HarmonicModel(study("direct"), comm)
    with HarmonicModel(study("iterative"), comm) as model:
        assert model.iterative and model.method == "monolithic"
        iterative = tip_rows(model)
        first, second = model.coupled_solver.iterations[-2:]
        model.set_parameters(model.study)  # rebuilds the multigrid hierarchies: the same solve again
        again = tip_rows(model)
        assert abs(model.coupled_solver.iterations[-2] - first) <= 2
    assert 5 < first < 200 and 5 < second < 200
    assert abs(again[1, "thermal"].displacement - iterative[1, "thermal"].displacement) <= 1e3 * RTOL * abs(
        iterative[1, "thermal"].displacement
    )
    for key in [(1, "thermal"), (2, "ionic")]:
        for quantity in ("displacement", "temperature"):
            value, reference = getattr(iterative[key], quantity), getattr(direct[key], quantity)
            if reference != 0:
                assert abs(value - reference) <= 1e3 * RTOL * abs(reference), (key, quantity)


@pytest.mark.serial
def test_an_unconverged_iterative_solve_is_an_error_with_its_residual_history():
    options = PETSc.Options()
    options["stimsim_coupled_ksp_max_it"] = 3
    try:
        with HarmonicModel(study("iterative"), MPI.COMM_WORLD) as model:
            with pytest.raises(SolverError, match=r"did not converge in 3 iterations.*relative residuals 1\.00e\+00, "):
                model.solve_first_order(FREQUENCY)
    finally:
        options.delValue("stimsim_coupled_ksp_max_it")


def test_the_iterative_solver_is_for_3d_models():
    with pytest.raises(InputError, match="solver.linear.*needs geometry.model = '3d'"):
        study("iterative", model="axisymmetric")
    with pytest.raises(InputError, match="solver.linear"):
        study("gmres")
