"""Direct (MUMPS LU) solvers that own their PETSc objects and check every solve.

A :class:`DirectSolver` is made once per bilinear form. :meth:`DirectSolver.factorize` re-assembles
into the same matrix (MUMPS keeps its symbolic analysis) and :meth:`DirectSolver.solve` reuses the
numeric factorisation for any number of right-hand sides. Every factorisation and solve is checked:
MUMPS's INFOG(1), the KSP converged reason, the finiteness of the solution (MUMPS can return NaN
with a positive converged reason) and the size of the (scaled, O(1)) solution: a parallel
factorisation of a singular matrix can pass every other check. The first solve on each factorisation
also checks the normwise backward error ||b - A x|| / (||A|| ||x|| + ||b||) (infinity norms; ||A||
bounded through the parts of an :class:`AffineParts` operator). Later solves on the same factors skip
it: the backward error of LU with pivoting is bounded by a multiple of |L||U|, a property of the
factorisation and not of the right-hand side (Higham, Accuracy and Stability of Numerical Algorithms,
2nd ed., Thm. 9.4); it costs a mat-vec per solve, a quarter of a small model's overhead. An iterative
solve (:class:`ReferenceFactorSolver`, and :class:`~stimsim.solve.iterative.FieldSplitSolver` for large 3D
models) checks it every time. A failure raises :class:`~stimsim.core.errors.SolverError`.
"""

from __future__ import annotations

import numpy as np
from dolfinx import fem
from dolfinx.fem import bcs_by_block, extract_function_spaces
from dolfinx.fem.petsc import (
    apply_lifting,
    assemble_matrix,
    assemble_vector,
    create_matrix,
    create_vector,
    set_bc,
)
from mpi4py import MPI
from petsc4py import PETSc

from stimsim.core.errors import SolverError

#: Meanings of MUMPS's INFOG(1) error codes that a user can act on (MUMPS users' guide, section 8).
MUMPS_ERRORS = {
    -8: "workspace too small (out of memory)",
    -9: "workspace too small (out of memory)",
    -10: "the matrix is numerically singular (check boundary conditions and material values)",
    -13: "memory allocation failed (out of memory)",
    -19: "the memory limit was exceeded",
}
#: MUMPS errors that more working space cures (INFOG(1) = -8, -9: the numerical pivoting of the
#: factorisation needed more than the analysis estimated), how many times a factorisation is then
#: retried with the margin over the estimate (ICNTL(14), %) doubled.
WORKSPACE_ERRORS, WORKSPACE_RETRIES = (-8, -9), 4
#: Largest 3D model (all fields' DOFs) the direct solver is asked to factorise: 184k DOFs of the
#: coupled ionic system took 7 min (and 8.6 GB with the factors in core) on one rank
#: (docs/developer/performance.md, '3D'). The iterative
#: coupled solve (``[solver] linear = "iterative"``) is not bound by it.
MAX_DIRECT_3D_DOFS = 200_000
#: Rows per rank from which MUMPS keeps the factors out of core (ICNTL(22) = 1: written to files in the
#: directory MUMPS_OOC_TMPDIR names, else /tmp, and read back by each solve). On the 3D ceria case with the
#: whole box (83 724 DOFs, one rank) the peak fell from 4.2 to 1.96 GB at 7 % more CPU time and the same tip
#: values to 1e-15 (docs/developer/performance.md, '3D solvers'); below it the factors of one rank fit in
#: about 3 GB and stay in core.
OUT_OF_CORE_ROWS = 60_000
#: Largest accepted normwise backward error of a solve (LU with pivoting gives ~1e-15).
MAX_BACKWARD_ERROR = 1e-9
#: Largest accepted solution entry. stimsim's unknowns are scaled to O(1); a parallel factorisation
#: of a singular matrix returns finite values of 1e15 with a tiny backward error.
MAX_SCALED_MAGNITUDE = 1e8


class AffineParts:
    """An operator that is affine in a few constants, A = K + sum_k c_k M_k (the frequency-domain
    operator: K the static derivative at the base state, M_k the storage blocks times i, c_k the
    scaled angular frequencies). K is assembled again when :meth:`refresh` says it is stale (a new base
    state or coefficients), the M_k when :meth:`refresh_all` says so; a factorisation at a new
    frequency then costs a matrix copy and AXPYs instead of an assembly (the ionic kernels are the
    costly part).

    ``static``: block bilinear forms of K; ``terms``: (Constant c_k, block forms of M_k) pairs, every
    block list shaped like ``static`` (None where a block is zero). The parts share K's nonzero
    pattern (the M_k may have no entry outside it: PETSc refuses such a new nonzero), so the AXPYs are
    plain vector operations on the stored values.

    The backward-error check of a solve needs ||A||; :meth:`combine` gives the bound
    ||K|| + sum |c_k| ||M_k|| (infinity norms, of the parts taken once per assembly) instead of a pass
    over A per frequency. For a real K and imaginary c_k M_k on separate entries it is at most
    sqrt(2) (1 + number of terms) times ||A||: the check is that much less strict at most."""

    def __init__(self, static, terms):
        self.static, self.terms = static, terms
        self.static_matrix = None
        self.term_matrices = []
        self.static_norm, self.term_norms = 0.0, []
        self.static_stale = self.terms_stale = True

    def refresh(self) -> None:
        """K must be assembled again before the next :meth:`combine` (the base state or the
        coefficients changed)."""
        self.static_stale = True

    def refresh_all(self) -> None:
        """K and the M_k must be assembled again (the coefficients changed)."""
        self.static_stale = self.terms_stale = True

    def assemble(self, target, bcs: list) -> None:
        """Assemble the stale parts, with ``bcs`` (identity rows in K, zero rows in the M_k). ``target``
        is a matrix of the full operator: K's first assembly goes into it and sets the parts' pattern."""
        if self.static_stale:
            if self.static_matrix is None:
                assemble_into(target, self.static, bcs)
                self.static_matrix = target.duplicate(copy=True)
                self.term_matrices = [target.duplicate(copy=False) for _ in self.terms]
            else:
                assemble_into(self.static_matrix, self.static, bcs)
            self.static_norm = self.static_matrix.norm(PETSc.NormType.INFINITY)
            self.static_stale = False
        if self.terms_stale:
            for (_, blocks), matrix in zip(self.terms, self.term_matrices):
                assemble_into(matrix, blocks, bcs, diagonal=0.0)
            self.term_norms = [matrix.norm(PETSc.NormType.INFINITY) for matrix in self.term_matrices]
            self.terms_stale = False

    def combine(self, target, bcs: list) -> float:
        """Write K + sum c_k M_k into ``target`` (see :meth:`assemble`); returns the bound of its norm."""
        self.assemble(target, bcs)
        self.static_matrix.copy(target, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        bound = self.static_norm
        for (constant, _), matrix, norm in zip(self.terms, self.term_matrices, self.term_norms):
            value = complex(constant.value)
            target.axpy(value, matrix, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
            bound += abs(value) * norm
        return bound

    def destroy(self) -> None:
        """Free the parts' matrices."""
        for matrix in [self.static_matrix, *self.term_matrices]:
            if matrix is not None:
                matrix.destroy()
        self.static_matrix, self.term_matrices = None, []
        self.static_stale = self.terms_stale = True


def _largest_entry(vector) -> float:
    """Largest modulus of the local entries of a PETSc vector; inf if one is NaN or Inf (an MPI
    maximum may drop a NaN)."""
    value = np.abs(vector.getArray(readonly=True)).max(initial=0.0)
    return value if np.isfinite(value) else np.inf


def _constrained_rows(vector, bcs_by_row: list) -> np.ndarray:
    """Local indices of the owned entries of a block ``vector`` that the Dirichlet conditions set
    (``vector``'s values are overwritten)."""
    vector.set(1.0)
    set_bc(vector, bcs_by_row, alpha=0.0)
    return np.flatnonzero(vector.array_r == 0).astype(np.int32)


def assemble_into(matrix, blocks, bcs: list, diagonal: float = 1.0) -> None:
    """Assemble the bilinear form or block forms ``blocks`` into ``matrix`` (its values replaced, its
    storage kept), ``diagonal`` on the rows of ``bcs``."""
    matrix.zeroEntries()
    assemble_matrix(matrix, blocks, bcs=bcs, diag=diagonal)
    matrix.assemble()


def factorize_lu(ksp, operator, preconditioner, name: str) -> None:
    """Set up ``ksp`` (whose preconditioner is a MUMPS LU) on ``operator``, factorising
    ``preconditioner``; checked. When MUMPS runs out of the working space its analysis estimated
    (:data:`WORKSPACE_ERRORS`) the factorisation is redone with the margin ICNTL(14) doubled, up to
    :data:`WORKSPACE_RETRIES` times; the larger margin stays
    for the solver's later factorisations. ``name`` labels the error. INFOG(1) is global, so every rank
    of the communicator takes the same branch."""
    for attempt in range(WORKSPACE_RETRIES + 1):
        ksp.setOperators(operator, preconditioner)
        _choose_factor_storage(ksp, preconditioner)
        try:
            ksp.setUp()
        except PETSc.Error as err:
            raise SolverError(f"{name}: LU factorisation failed ({_mumps_status(ksp)}): {err}") from None
        factor = ksp.getPC().getFactorMatrix()
        if attempt == WORKSPACE_RETRIES or factor.getMumpsInfog(1) not in WORKSPACE_ERRORS:
            break
        margin = 2 * max(factor.getMumpsIcntl(14), 10)
        ksp.reset()  # a failed factorisation is not redone for an unchanged operator
        ksp.setOperators(operator, preconditioner)
        ksp.getPC().setFactorSetUpSolverType()
        ksp.getPC().getFactorMatrix().setMumpsIcntl(14, margin)
    check_mumps(ksp, name, "factorisation")


def _choose_factor_storage(ksp, matrix) -> None:
    """Keep the MUMPS factors of ``matrix`` (the operator set on ``ksp``) out of core from
    :data:`OUT_OF_CORE_ROWS` rows per rank on, else leave MUMPS's default (in core, or what the PETSc
    options database says)."""
    if matrix.getSize()[0] >= OUT_OF_CORE_ROWS * matrix.getComm().getSize():
        pc = ksp.getPC()
        pc.setFactorSetUpSolverType()
        factor = pc.getFactorMatrix()
        factor.setOptionsPrefix(ksp.getOptionsPrefix())  # as the PC's own set-up would: the options still apply
        factor.setMumpsIcntl(22, 1)


def lu_solver(comm, prefix: str):
    """A KSP that applies a MUMPS LU factorisation (options prefix ``prefix``)."""
    ksp = PETSc.KSP().create(comm)
    ksp.setOptionsPrefix(prefix)
    ksp.setType(PETSc.KSP.Type.PREONLY)
    ksp.getPC().setType(PETSc.PC.Type.LU)
    ksp.getPC().setFactorSolverType("mumps")
    ksp.setFromOptions()
    return ksp


def check_mumps(ksp, name: str, stage: str) -> None:
    """Raise SolverError naming ``name`` and ``stage`` if MUMPS's INFOG(1) in ``ksp`` reports an error."""
    infog1 = ksp.getPC().getFactorMatrix().getMumpsInfog(1)
    if infog1 < 0:
        meaning = MUMPS_ERRORS.get(infog1, "see the MUMPS users' guide")
        raise SolverError(f"{name}: MUMPS {stage} failed with INFOG(1) = {infog1}: {meaning}")


def _mumps_status(ksp) -> str:
    """MUMPS's INFOG(1) in ``ksp`` as text, for error messages."""
    try:
        return f"MUMPS INFOG(1) = {ksp.getPC().getFactorMatrix().getMumpsInfog(1)}"
    except PETSc.Error:
        return "MUMPS status unavailable"


class DirectSolver:
    """MUMPS LU solver for a bilinear form, or a block (list of lists) of bilinear forms over several
    fields, with Dirichlet ``bcs`` (any of the fields' spaces).

    ``name`` labels error messages and the PETSc options prefix ``stimsim_<name>_``. With
    ``homogeneous`` (every condition prescribes zero) the right-hand sides skip the lifting of the
    conditions' values, which would add nothing, and their Dirichlet rows are zeroed through indices
    found once. ``affine`` (:class:`AffineParts`) makes :meth:`factorize` combine the operator from
    its parts instead of assembling it.
    """

    #: LU back-substitutions on a checked factorisation are not checked for backward error again.
    checks_every_solve = False

    def __init__(self, a, bcs: list, name: str, homogeneous: bool = False, affine: AffineParts | None = None):
        self.blocks = [[a]] if isinstance(a, fem.Form) else a
        self.bcs, self.name, self.homogeneous = bcs, name, homogeneous
        self.affine = affine
        self.matrix_norm = 0.0
        self.spaces = extract_function_spaces(self.blocks, 0)
        self.row_bcs = bcs_by_block(self.spaces, bcs)
        self.column_bcs = bcs_by_block(extract_function_spaces(self.blocks, 1), bcs)
        self.comm = self.spaces[0].mesh.comm
        self.matrix = create_matrix(self.blocks)
        self.rhs = create_vector(self.spaces, kind="mpi")
        self.solution = self.rhs.duplicate()
        self.residual = self.rhs.duplicate()
        #: Where each field's owned values start and end in the owned part of the vectors.
        self.offsets = np.cumsum([0] + [V.dofmap.index_map.size_local * V.dofmap.index_map_bs for V in self.spaces])
        #: Local indices of the Dirichlet rows (zeroed in a homogeneous right-hand side).
        self.constrained_rows = _constrained_rows(self.rhs, self.row_bcs)
        self.ksp = self._create_ksp()
        self.factorizations = 0
        #: Whether a solve on the current factorisation has had its backward error checked.
        self.backward_error_checked = False

    def _create_ksp(self):
        """A new KSP under the options prefix ``stimsim_<name>_``, set up by :meth:`_configure` and then
        by the PETSc options database."""
        ksp = PETSc.KSP().create(self.comm)
        ksp.setOptionsPrefix(f"stimsim_{self.name}_")
        self._configure(ksp)
        ksp.setFromOptions()
        return ksp

    def _configure(self, ksp) -> None:
        """Make ``ksp`` a MUMPS LU solve."""
        ksp.setType(PETSc.KSP.Type.PREONLY)
        pc = ksp.getPC()
        pc.setType(PETSc.PC.Type.LU)
        pc.setFactorSolverType("mumps")

    def refresh(self) -> None:
        """The base state changed: the operator's static part is assembled again (see :class:`AffineParts`)."""
        self.affine.refresh()

    def refresh_all(self) -> None:
        """The coefficients changed: every part of the operator is assembled again."""
        self.affine.refresh_all()

    def assemble_parts(self) -> None:
        """Assemble the stale affine parts of the operator now (else the next :meth:`factorize` does)."""
        self.affine.assemble(self.matrix, self.bcs)

    def factorize(self) -> None:
        """Assemble the matrix (into the same storage) and compute its LU factorisation."""
        if self.affine is None:
            assemble_into(self.matrix, self.blocks, self.bcs)
            self.matrix_norm = self.matrix.norm(PETSc.NormType.INFINITY)
        else:
            self.matrix_norm = self.affine.combine(self.matrix, self.bcs)
        factorize_lu(self.ksp, self.matrix, self.matrix, self.name)
        self.factorizations += 1
        self.backward_error_checked = False

    def solve(self, L, solution) -> None:
        """Solve A x = b(L) on the current factorisation into ``solution``: a Function for a single
        form, or a list of Functions (one per block row) with a list of linear forms ``L``. A tuple of
        such ``L`` solves for the sum of their vectors."""
        self.assemble_rhs(L, self.rhs)
        self.solve_rhs(solution)

    def assemble_rhs(self, L, vector) -> None:
        """Assemble the right-hand side b(L) of :meth:`solve` into ``vector`` (a vector like :attr:`rhs`),
        without its Dirichlet rows (:meth:`solve_rhs` sets them)."""
        with vector.localForm() as local:
            local.set(0)
        for forms in L if isinstance(L, tuple) else (L,):
            assemble_vector(vector, forms)
        if not self.homogeneous:
            apply_lifting(vector, self.blocks, bcs=self.column_bcs)
        vector.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)

    def solve_rhs(self, solution) -> None:
        """Solve A x = :attr:`rhs` (its owned entries as the caller wrote them, e.g. by
        :meth:`assemble_rhs` or a matrix product; its Dirichlet rows are set here) on the current
        factorisation into ``solution`` (as in :meth:`solve`); checked."""
        self._set_constrained_rows()
        self.ksp.solve(self.rhs, self.solution)
        self._check_convergence()
        self._accept(solution)

    def solve_many(self, problems) -> None:
        """Solve A x = b(L) on the current factorisation for every (``L``, ``solution``) pair (as in
        :meth:`solve`) that ``problems`` yields, in one MUMPS solve of the block of right-hand sides
        (five of them cost 1.8 single solves at 5650 DOFs). Each ``L`` is assembled when yielded, so a
        generator may first set the coefficients it reads; every solution is checked as by :meth:`solve`."""
        loads, solutions = [], []
        for L, solution in problems:
            self.assemble_rhs(L, self.rhs)
            self._set_constrained_rows()
            loads.append(self.rhs.array_r.copy())
            solutions.append(solution)
        block = PETSc.Mat().createDense((self.rhs.getSizes(), (PETSc.DECIDE, len(loads))), comm=self.comm)
        block.setUp()
        block.getDenseArray()[:] = np.transpose(loads)
        block.assemble()
        out = block.duplicate()
        try:
            self.ksp.matSolve(block, out)
            self._check_convergence()
            for load, values, solution in zip(loads, out.getDenseArray().T, solutions):
                self.rhs.array_w[:] = load
                self.solution.array_w[:] = values
                self._accept(solution)
        finally:
            block.destroy()
            out.destroy()

    def _set_constrained_rows(self) -> None:
        """Set the Dirichlet rows of :attr:`rhs` (zero for homogeneous conditions)."""
        if self.homogeneous:
            self.rhs.array_w[self.constrained_rows] = 0
        else:
            set_bc(self.rhs, self.row_bcs)

    def _accept(self, solution) -> None:
        """Check :attr:`solution`, the solve of :attr:`rhs`, and copy it into ``solution`` (as in :meth:`solve`)."""
        self._check_solution()
        functions = [solution] if isinstance(solution, fem.Function) else solution
        values = self.solution.array_r
        for function, start, stop in zip(functions, self.offsets, self.offsets[1:]):
            function.x.array[: stop - start] = values[start:stop]
            function.x.scatter_forward()

    def _check_convergence(self) -> None:
        """The KSP's converged reason and MUMPS's status of the last solve."""
        reason = self.ksp.getConvergedReason()
        if reason <= 0:
            raise SolverError(f"{self.name}: linear solve did not converge (KSP reason {reason})")
        check_mumps(self.ksp, self.name, "solve")

    def _check_solution(self) -> None:
        if self.backward_error_checked and not self.checks_every_solve:
            error, magnitude = 0.0, self._largest_solution_entry()
        else:
            error, magnitude = self.backward_error()
            self.backward_error_checked = True
        if not np.isfinite(magnitude):
            raise SolverError(f"{self.name}: the solution is not finite (NaN or Inf): check the input scales")
        if not (error < MAX_BACKWARD_ERROR and magnitude < MAX_SCALED_MAGNITUDE):
            raise SolverError(
                f"{self.name}: backward error {error:.1e} (limit {MAX_BACKWARD_ERROR:g}), largest scaled value "
                f"{magnitude:.1e} (limit {MAX_SCALED_MAGNITUDE:g}): the matrix is singular or too ill-conditioned "
                "(check boundary conditions and material values)"
            )

    def _largest_solution_entry(self) -> float:
        """||x|| (infinity norm) of the last solve over the ranks; inf if x has a NaN or Inf entry."""
        largest = np.array([_largest_entry(self.solution)])
        self.comm.Allreduce(MPI.IN_PLACE, largest, op=MPI.MAX)
        return largest[0]

    def backward_error(self) -> tuple[float, float]:
        """Normwise backward error ||b - A x|| / (||A|| ||x|| + ||b||) (infinity norms) of the last solve
        and ||x|| (inf if x has a NaN or Inf entry): one mat-vec and one reduction over the ranks."""
        self.matrix.mult(self.solution, self.residual)
        self.residual.axpy(-1.0, self.rhs)
        norms = np.array([_largest_entry(v) for v in (self.residual, self.solution, self.rhs)])
        self.comm.Allreduce(MPI.IN_PLACE, norms, op=MPI.MAX)
        residual, magnitude, load = norms
        scale = self.matrix_norm * magnitude + load
        return (residual / scale if scale > 0 else 0.0), magnitude

    def destroy(self) -> None:
        """Free the PETSc objects (collective on the solver's communicator)."""
        for obj in (self.ksp, self.matrix, self.rhs, self.solution, self.residual):
            obj.destroy()
        if self.affine is not None:
            self.affine.destroy()


class ReferenceFactorSolver(DirectSolver):
    """GMRES on the current operator, preconditioned by the LU factors of a reference operator: the
    operator of the first :meth:`factorize`, refactorised only when GMRES needs more than
    :attr:`MAX_ITERATIONS` iterations (the operator has drifted too far from it). After such a miss the
    next solves factorise their own operator directly, for a number of solves that doubles with every
    miss in a row (so an operator that drifts fast costs no more than direct solves).

    For operators that drift slowly (a base state that moves in time), most solves then cost a few
    back-substitutions instead of a factorisation. Right preconditioning makes the convergence test act
    on the true residual; the checks of :class:`DirectSolver` still apply.
    """

    #: Relative residual that ends GMRES, and the iterations after which the reference is refactorised.
    RTOL, MAX_ITERATIONS = 1e-12, 12
    #: A GMRES solution's backward error depends on its right-hand side.
    checks_every_solve = True

    def __init__(self, a, bcs: list, name: str, homogeneous: bool = False):
        super().__init__(a, bcs, name, homogeneous)
        self.ksp.setType(PETSc.KSP.Type.GMRES)
        self.ksp.setPCSide(PETSc.PC.Side.RIGHT)
        self.ksp.setTolerances(rtol=self.RTOL, atol=0.0, max_it=self.MAX_ITERATIONS)
        self.reference = None
        self.iterations = self.solves = 0
        self.direct_solves, self.misses = 0, 0

    def factorize(self) -> None:
        """Assemble the current operator; it becomes the (factorised) reference on the first call and
        while direct solves are due after a miss."""
        assemble_into(self.matrix, self.blocks, self.bcs)
        self.matrix_norm = self.matrix.norm(PETSc.NormType.INFINITY)
        if self.reference is None:
            self.reference = self.matrix.copy()
            self._factorize_reference()
        elif self.direct_solves > 0:
            self.direct_solves -= 1
            self.matrix.copy(self.reference, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
            self._factorize_reference()
        self.ksp.setOperators(self.matrix, self.reference)

    def _factorize_reference(self) -> None:
        """LU of the reference operator (set to the current one beforehand)."""
        pc = self.ksp.getPC()
        pc.setReusePreconditioner(False)
        factorize_lu(self.ksp, self.matrix, self.reference, self.name)
        pc.setReusePreconditioner(True)
        self.factorizations += 1

    def solve(self, L, solution) -> None:
        """Solve with the reference factors; if GMRES does not converge in :attr:`MAX_ITERATIONS`, make
        the current operator the reference and solve again (then in one iteration)."""
        try:
            super().solve(L, solution)
            if self.ksp.getIterationNumber() > 1:
                self.misses = 0  # the reference served (one iteration: it was this operator)
        except SolverError:
            if self.ksp.getConvergedReason() != PETSc.KSP.ConvergedReason.DIVERGED_MAX_IT:
                raise
            self.iterations += self.ksp.getIterationNumber()
            self.matrix.copy(self.reference, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
            self._factorize_reference()
            super().solve(L, solution)
            self.direct_solves = 2**self.misses
            self.misses = min(self.misses + 1, 4)
        self.iterations += self.ksp.getIterationNumber()
        self.solves += 1

    def destroy(self) -> None:
        super().destroy()
        if self.reference is not None:
            self.reference.destroy()
