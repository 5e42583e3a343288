"""Iterative solve of the coupled ionic system, for 3D models too large for a direct factorisation.

GMRES (right-preconditioned, so that its test acts on the true residual) with a multiplicative
field-split preconditioner: one block Gauss-Seidel sweep over the fields in the model's order,
temperature -> displacement -> hydrostatic stress -> concentration, each block approximately inverted:

* temperature: k grad.grad + i w C, a complex-shifted Laplacian (real symmetric parts, positive
  imaginary shift): algebraic multigrid (PETSc GAMG, which runs in complex arithmetic) with
  Gauss-Seidel smoothing, which needs no spectrum estimate (GAMG's default Chebyshev smoother assumes
  a real one; measured, it did as well here);
* displacement: linear elasticity, real symmetric positive definite: GAMG with the six rigid-body
  modes as its near-null space and three smoothing steps;
* hydrostatic stress: an L2 projection (a P2 mass matrix): two incomplete-LU sweeps;
* concentration: not the diffusion block alone but the stress-enhanced diffusion of a constrained
  layer (:func:`~stimsim.fem.forms.local_vegard_coupling`): the Schur complement of the stress projection
  with the projection taken as local. The Vegard feedback through sigma_h is as strong as the
  diffusion itself; without it the sweep needs twice the iterations (66 against 29 with exact (LU)
  blocks at 12k DOFs). GAMG with Gauss-Seidel smoothing.

Heat feeds the other fields and nothing feeds back into it, so only the non-local Vegard feedback
(concentration -> displacement) is left to GMRES. The preconditioning matrix holds the diagonal blocks
only; it is affine in the frequency as the operator is (:class:`~stimsim.solve.direct.AffineParts`). Plain
GAMG on the whole coupled block does not converge. The multigrid hierarchies (aggregates and
interpolation) are built on the first factorisation and kept across frequencies and base states
(``pc_gamg_reuse_interpolation``; only the coarse operators are recomputed): with GAMG's default
threshold every coupling counts in the aggregation, so the aggregates follow the sparsity and the
near-null space, which no frequency or base state changes. New coefficients (:meth:`refresh_all`)
rebuild them.

Every solve is checked: the KSP converged reason (else a :class:`~stimsim.core.errors.SolverError` with the
residual history), finite values, the size of the scaled solution and the backward error. Any PETSc
option can be overridden under the prefix ``stimsim_coupled_`` (e.g.
``-stimsim_coupled_fieldsplit_displacement_pc_type lu``); measured iterations and costs are in
docs/developer/performance.md ('3D solvers').
"""

from __future__ import annotations

import numpy as np
from dolfinx import fem
from dolfinx.fem.petsc import create_matrix
from petsc4py import PETSc

from stimsim.core.errors import SolverError, history
from stimsim.fem.forms import CoupledForms, compiled, local_vegard_coupling
from stimsim.physics.coupled import CONCENTRATION, DISPLACEMENT
from stimsim.solve.direct import AffineParts, DirectSolver

#: Relative residual ||b - A x||_2 / ||b||_2 that ends GMRES, its iteration limit and restart length.
RTOL, MAX_ITERATIONS, RESTART = 1e-8, 500, 200

#: PETSc options of the blocks (under the split's prefix ``fieldsplit_<field>_``), per field.
GAUSS_SEIDEL_MULTIGRID = {
    "ksp_type": "preonly", "pc_type": "gamg", "pc_gamg_reuse_interpolation": "true",
    "mg_levels_ksp_type": "richardson", "mg_levels_pc_type": "sor",
}
BLOCK_OPTIONS = {
    "temperature": GAUSS_SEIDEL_MULTIGRID,
    "displacement": {
        "ksp_type": "preonly", "pc_type": "gamg", "pc_gamg_reuse_interpolation": "true", "mg_levels_ksp_max_it": "3",
    },
    "stress": {
        "ksp_type": "richardson", "ksp_max_it": "2", "ksp_norm_type": "none", "pc_type": "bjacobi",
        "sub_pc_type": "ilu",
    },
    "concentration": GAUSS_SEIDEL_MULTIGRID,
}


def rigid_body_modes(V: fem.FunctionSpace) -> PETSc.NullSpace:
    """The six rigid-body modes (three translations, three rotations about the origin) of the 3D
    vector space ``V``, orthonormalised, as a PETSc near-null space of its owned DOFs."""
    owned = V.dofmap.index_map.size_local
    x = V.tabulate_dof_coordinates()[:owned]
    modes = []
    for k in range(6):
        values = np.zeros((owned, 3), dtype=PETSc.ScalarType)
        if k < 3:
            values[:, k] = 1.0
        else:
            i, j = ((0, 1), (1, 2), (2, 0))[k - 3]
            values[:, i], values[:, j] = -x[:, j], x[:, i]
        modes.append(PETSc.Vec().createWithArray(values.ravel(), size=(3 * owned, PETSc.DECIDE), bsize=3, comm=V.mesh.comm))
    for i, mode in enumerate(modes):
        for previous in modes[:i]:
            mode.axpy(-previous.dot(mode), previous)
        mode.normalize()
    return PETSc.NullSpace().create(vectors=modes, comm=V.mesh.comm)


def preconditioner_parts(forms: CoupledForms, k: dict) -> AffineParts:
    """The preconditioning matrix's parts: the diagonal blocks of the operator, the concentration's
    with the local Vegard coupling added (:func:`~stimsim.fem.forms.local_vegard_coupling`; ``k`` the
    scaled coefficient fields), and the operator's storage terms (diagonal already)."""
    concentration = forms.names.index(CONCENTRATION)
    size = len(forms.names)
    diagonal = [forms.operator_static[i][i] for i in range(size)]
    diagonal[concentration] = compiled(forms.static_blocks[concentration][concentration] + local_vegard_coupling(forms, k))
    static = [[diagonal[i] if i == j else None for j in range(size)] for i in range(size)]
    return AffineParts(static, forms.operator_terms)


class FieldSplitSolver(DirectSolver):
    """GMRES with the field-split preconditioner of the module docstring for the coupled operator of
    ``forms`` (its affine parts ``affine``), with the homogeneous Dirichlet conditions ``bcs`` (all
    fields) and the scaled coefficient fields ``k``. The interface is :class:`DirectSolver`'s:
    :meth:`factorize` sets the preconditioner up for the current operator, :meth:`solve` iterates.
    :attr:`iterations` lists the GMRES iterations of every solve."""

    #: A GMRES solution's backward error depends on its right-hand side.
    checks_every_solve = True

    def __init__(self, forms: CoupledForms, bcs: list, affine: AffineParts, k: dict, name: str = "coupled"):
        self.forms = forms
        self.preconditioner_affine = preconditioner_parts(forms, k)
        self.preconditioner = create_matrix(self.preconditioner_affine.static)
        self.near_null_space = rigid_body_modes(forms.spaces[DISPLACEMENT])
        self.iterations: list[int] = []
        super().__init__(forms.operator, bcs, name, homogeneous=True, affine=affine)

    def _configure(self, ksp) -> None:
        """Make ``ksp`` GMRES with the field split: one index set per field (its owned rows are
        contiguous in the block matrix), the displacement's with block size 3 and the rigid-body modes."""
        ksp.setType(PETSc.KSP.Type.GMRES)
        ksp.setPCSide(PETSc.PC.Side.RIGHT)
        ksp.setTolerances(rtol=RTOL, atol=0.0, max_it=MAX_ITERATIONS)
        ksp.setGMRESRestart(RESTART)
        ksp.setConvergenceHistory(length=MAX_ITERATIONS + 1, reset=True)
        pc = ksp.getPC()
        pc.setType(PETSc.PC.Type.FIELDSPLIT)
        pc.setFieldSplitType(PETSc.PC.CompositeType.MULTIPLICATIVE)
        start = self.matrix.getOwnershipRange()[0]
        for name, first, stop in zip(self.forms.names, self.offsets, self.offsets[1:]):
            fields = PETSc.IS().createStride(int(stop - first), first=int(start + first), step=1, comm=self.comm)
            if name == DISPLACEMENT:
                fields.setBlockSize(3)
                fields.compose("nearnullspace", self.near_null_space)
            pc.setFieldSplitIS((name, fields))
        options = PETSc.Options(ksp.getOptionsPrefix())
        defaults = {"pc_fieldsplit_off_diag_use_amat": "true"}  # the coupling blocks of the operator
        for name, block in BLOCK_OPTIONS.items():
            defaults |= {f"fieldsplit_{name}_{key}": value for key, value in block.items()}
        for key, value in defaults.items():
            if not options.hasName(key):
                options[key] = value

    def factorize(self) -> None:
        """Combine the operator and the preconditioning matrix at the current frequency and base state
        and set the preconditioner up (the multigrid hierarchies once, see the module docstring)."""
        if self.preconditioner_affine.terms_stale and self.factorizations:
            self.ksp.destroy()  # new coefficients: new hierarchies
            self.ksp = self._create_ksp()
        self.matrix_norm = self.affine.combine(self.matrix, self.bcs)
        self.preconditioner_affine.combine(self.preconditioner, self.bcs)
        self.ksp.setOperators(self.matrix, self.preconditioner)
        try:
            self.ksp.setUp()
        except PETSc.Error as err:
            raise SolverError(f"{self.name}: the field-split preconditioner could not be set up: {err}") from None
        self.factorizations += 1

    def refresh(self) -> None:
        """The base state changed: both operators' static parts are assembled again."""
        self.affine.refresh()
        self.preconditioner_affine.refresh()

    def refresh_all(self) -> None:
        """The coefficients changed: every part is assembled again and the hierarchies rebuilt."""
        self.affine.refresh_all()
        self.preconditioner_affine.refresh_all()

    def _check_convergence(self) -> None:
        """GMRES converged, else a SolverError with its relative residual history."""
        reason, count = self.ksp.getConvergedReason(), self.ksp.getIterationNumber()
        self.iterations.append(count)
        if reason <= 0:
            residuals = self.ksp.getConvergenceHistory()
            relative = residuals / residuals[0] if len(residuals) and residuals[0] > 0 else residuals
            raise SolverError(
                f"{self.name}: GMRES did not converge in {count} iterations (KSP reason {reason}); relative "
                f"residuals {history(relative)} (tolerance {RTOL:g}); use solver.linear = 'direct'"
            )

    def destroy(self) -> None:
        super().destroy()
        self.preconditioner.destroy()
        self.preconditioner_affine.destroy()
        self.near_null_space.destroy()
