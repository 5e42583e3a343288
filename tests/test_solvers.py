"""The direct solver's recovery from MUMPS running out of the working space its analysis estimated."""

import numpy as np
import pytest
import scipy.sparse as sp
from mpi4py import MPI
from petsc4py import PETSc

import stimsim  # noqa: F401  (loads dolfinx_solver before PETSc is used)
from stimsim.solve import direct as solvers
from stimsim.core.errors import SolverError


def _saddle_point_solver():
    """A MUMPS LU (on this rank alone) of the saddle-point matrix [[eps I, B], [B^T, 0]] with the
    preprocessing that would keep its pivots on the diagonal switched off (no maximum transversal,
    no scaling, AMD ordering) and no margin over the estimated workspace: its zero block delays pivots
    beyond the analysis's estimate, and the factorisation ends with INFOG(1) = -9."""
    rows, columns = 600, 450
    coupling = sp.random(rows, columns, density=4 / rows, random_state=1, format="csr") + sp.eye(rows, columns)
    saddle = sp.bmat([[sp.eye(rows) * 1e-3, coupling], [coupling.T, None]]).tocsr()
    matrix = PETSc.Mat().createAIJ(
        saddle.shape, csr=(saddle.indptr.astype(PETSc.IntType), saddle.indices.astype(PETSc.IntType), saddle.data.astype(complex)),
        comm=MPI.COMM_SELF,
    )
    matrix.assemble()
    ksp = PETSc.KSP().create(MPI.COMM_SELF)
    ksp.setType(PETSc.KSP.Type.PREONLY)
    ksp.getPC().setType(PETSc.PC.Type.LU)
    ksp.getPC().setFactorSolverType("mumps")
    ksp.setOperators(matrix)
    ksp.getPC().setFactorSetUpSolverType()
    factor = ksp.getPC().getFactorMatrix()
    for control, value in ((6, 0), (7, 0), (8, 0), (14, 0)):
        factor.setMumpsIcntl(control, value)
    return ksp, matrix


@pytest.mark.serial
def test_a_factorisation_out_of_workspace_is_redone_with_a_larger_margin():
    ksp, matrix = _saddle_point_solver()
    solvers.factorize_lu(ksp, matrix, matrix, "saddle")
    factor = ksp.getPC().getFactorMatrix()
    assert factor.getMumpsInfog(1) == 0
    assert factor.getMumpsIcntl(14) >= 20  # it took at least one retry
    rhs, solution = matrix.createVecs()
    rhs.setArray(np.linspace(1, 2, rhs.getSize()))
    ksp.solve(rhs, solution)
    residual = rhs.duplicate()
    matrix.mult(solution, residual)
    residual.axpy(-1, rhs)
    assert residual.norm() < 1e-10 * rhs.norm()


@pytest.mark.serial
def test_without_retries_the_workspace_error_is_reported(monkeypatch):
    monkeypatch.setattr(solvers, "WORKSPACE_RETRIES", 0)
    ksp, matrix = _saddle_point_solver()
    with pytest.raises(SolverError, match=r"saddle: MUMPS factorisation failed with INFOG\(1\) = -9: workspace too small"):
        solvers.factorize_lu(ksp, matrix, matrix, "saddle")


def test_large_factorisations_are_kept_out_of_core_with_the_same_solution(monkeypatch):
    """From OUT_OF_CORE_ROWS rows per rank the MUMPS factors go out of core (ICNTL(22) = 1, files in
    MUMPS_OOC_TMPDIR or /tmp); below it they stay in core; the PETSc options of the solver's prefix (here
    the SCOTCH ordering, ICNTL(7) = 3) apply in both. Both solve a complex sparse system as scipy's own LU
    does, to round-off: a complex-shifted 5-point Laplacian on a 40 x 50 grid."""
    line = [sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) for n in (40, 50)]
    system = (sp.kronsum(*line) + 1j * sp.eye(2000)).tocsr()
    size = system.shape[0]
    load = np.random.default_rng(3).standard_normal(size) * (1 + 0.5j)
    reference = sp.linalg.spsolve(system.tocsc(), load)
    matrix = PETSc.Mat().createAIJ(
        system.shape, csr=(system.indptr.astype(PETSc.IntType), system.indices.astype(PETSc.IntType), system.data),
        comm=MPI.COMM_SELF,
    )
    matrix.assemble()
    options = PETSc.Options()
    options["ooc_test_mat_mumps_icntl_7"] = 3
    for rows, out_of_core in ((size, 1), (size + 1, 0)):
        monkeypatch.setattr(solvers, "OUT_OF_CORE_ROWS", rows)
        ksp = solvers.lu_solver(MPI.COMM_SELF, "ooc_test_")
        solvers.factorize_lu(ksp, matrix, matrix, "out of core")
        factor = ksp.getPC().getFactorMatrix()
        assert factor.getMumpsIcntl(22) == out_of_core and factor.getMumpsInfog(7) == 3
        rhs, solution = matrix.createVecs()
        rhs.setArray(load)
        ksp.solve(rhs, solution)
        assert np.abs(solution.getArray() - reference).max() < 1e-12 * np.abs(reference).max()
        ksp.destroy()
    options.delValue("ooc_test_mat_mumps_icntl_7")
