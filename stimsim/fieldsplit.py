"""Harmonic balance split by field, for a balance whose only nonlinear rows are the ions'.

With constant conductivity and expansion (no k(T), alpha(T)) and one species without
Nernst-Planck-Poisson fields (or none), the heat, mechanics and hydrostatic-stress rows of the balance
are linear in the state with constant coefficients: only the concentration row's Jacobian changes
along the period. (A Joule heater's beta changes the heating, not these rows; everything on the ions,
drift, exchange, space charge, a film, grain boundaries, stays in the concentration row.) Whether a
balance splits is read from its forms (:func:`split_applies`), not from the study. :class:`FieldSplitSteps` then replaces the coupled Jacobians and step factorisations of
:class:`~stimsim.periodic.HarmonicBalance` by blocks:

* the Jacobian: the constant blocks (heat; displacement and stress with their couplings to temperature
  and concentration) assembled once per Newton step, and the concentration row (its columns
  temperature, stress, concentration) at every collocation phase: a third of the assembly;
* the preconditioner, for b at the collocation phases:

  1. heat exactly, harmonic by harmonic: (i k S_T + K_T) Z_k = B_k, k = 0..H (H + 1 small complex LUs,
     the heat row having no other column);
  2. mechanics with the concentration held at zero, per harmonic (quasi-static and linear: one LU of
     the displacement-stress block, H + 1 back-substitutions), giving the thermal stress s_T;
  3. the concentration by one period of backward-Euler steps (:data:`~stimsim.timegrid.SUBSTEPS` per
     collocation interval) from the cycle-averaged solution, on LUs of the concentration block alone at
     the collocation phases, S_c/dphi + J_cc(x_j) + J_cs(x_j) Lambda, forced by b_c - J_cT z_T - J_cs s_T
     interpolated to the steps. Lambda is the local part of the stress's dependence on the
     concentration in an unbounded body, gamma (-3 K Omega/3) with gamma = 4 mu/(3 K + 4 mu): Eshelby's
     dilatation of an inclusion, the same for any shape, and a layer's under a free surface; the rest,
     what the free surface and the mesh add, is left to GMRES;
  4. mechanics again for the concentration's Vegard strain.

Against the coupled step factorisations (9 uW, theta_1 = 60.6 K, 6 310 DOFs, H = 8, docs/harmonics.md)
GMRES needs about twice the iterations, each about a third of the cost, and the factorisations are
1 262-DOF ones instead of 6 310-DOF ones.
"""

from __future__ import annotations

import math

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem.petsc import create_matrix
from petsc4py import PETSc
from ufl.algorithms import expand_derivatives

from stimsim.physics.coupled import CONCENTRATION, DISPLACEMENT, STRESS, TEMPERATURE
from stimsim.solvers import assemble_into, factorize_lu, lu_solver
from stimsim.timegrid import SUBSTEPS, TimeGrid, along_period, harmonics_of, samples_of

#: The fields a split balance may have (in this order): without ions, or with one neutral species.
SPLIT_FIELDS = ((TEMPERATURE, DISPLACEMENT), (TEMPERATURE, DISPLACEMENT, STRESS, CONCENTRATION))
#: Rows whose Jacobian must not depend on the state.
LINEAR_ROWS = (TEMPERATURE, DISPLACEMENT, STRESS)
SUBSET = PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN


def split_applies(names: tuple, jacobian: list, sample: dict) -> bool:
    """Whether the balance with fields ``names``, Jacobian blocks ``jacobian`` (UFL, rows x columns,
    about the deviation ``sample``) can be split: the fields are those of :data:`SPLIT_FIELDS`, the heat
    row has no other column, the concentration row no displacement column, and the rows
    :data:`LINEAR_ROWS` do not depend on the state."""
    if names not in SPLIT_FIELDS:
        return False
    block = {(i, j): expand_derivatives(jacobian[a][b]) for a, i in enumerate(names) for b, j in enumerate(names)}
    if any(not block[TEMPERATURE, j].empty() for j in names if j != TEMPERATURE):
        return False
    if CONCENTRATION in names and not block[CONCENTRATION, DISPLACEMENT].empty():
        return False
    return all(
        expand_derivatives(ufl.derivative(block[i, j], sample[m], sample[m])).empty()
        for i in LINEAR_ROWS if i in names for j in names if not block[i, j].empty() for m in names
    )


class FieldSplitSteps:
    """The Jacobians and preconditioner of a split harmonic balance (see the module docstring) for the
    :class:`~stimsim.periodic.HarmonicBalance` ``balance``, whose compiled Jacobian and storage blocks
    it assembles by block."""

    def __init__(self, balance):
        self.balance, self.comm = balance, balance.comm
        names, blocks, stored = balance.names, balance.jacobian_forms, balance.storage_forms
        block = {(i, j): blocks[a][b] for a, i in enumerate(names) for b, j in enumerate(names)}
        self.ionic = CONCENTRATION in names
        self.mechanics_fields = [n for n in (DISPLACEMENT, STRESS) if n in names]
        spaces = balance.model.forms.spaces
        sizes = [spaces[n].dofmap.index_map.size_local * spaces[n].dofmap.index_map_bs for n in names]
        offsets = np.cumsum([0] + sizes)
        self.owned = {n: slice(offsets[a], offsets[a + 1]) for a, n in enumerate(names)}
        self.bcs = balance.model.bcs
        mechanics = self.mechanics_fields
        self.forms = {
            "heat": block[TEMPERATURE, TEMPERATURE],
            "heat_storage": stored[names.index(TEMPERATURE)][names.index(TEMPERATURE)],
            "mechanics": [[block[i, j] for j in mechanics] for i in mechanics],
            "mechanics_temperature": [[block[i, TEMPERATURE]] for i in mechanics],
        }
        if self.ionic:
            self.forms |= {
                "mechanics_concentration": [[block[i, CONCENTRATION]] for i in mechanics],
                "stress": block[STRESS, STRESS],
                "stress_concentration": block[STRESS, CONCENTRATION],
                "storage": stored[names.index(CONCENTRATION)][names.index(CONCENTRATION)],
            }
            self.row_forms = {j: block[CONCENTRATION, j] for j in (TEMPERATURE, STRESS, CONCENTRATION)}
            k = balance.model.coefficients.fields
            lam, mu = k["lame_lambda"], k["shear_modulus"]
            space = spaces[CONCENTRATION]
            self.dilatation = fem.Function(space)
            self.dilatation_expression = fem.Expression(4 * mu / (3 * (lam + 2 * mu)), space.element.interpolation_points)
        self.matrices = {name: create_matrix(form) for name, form in self.forms.items()}
        self.rows: list[dict] = []  # the concentration row's blocks at each collocation phase
        self.heat_solvers: list = []
        self.diffusion_solvers: list = []
        self.mechanics_solver = self.mean_solver = None
        self.factorized: list = []  # operators kept for the factorisations
        self.vectors: dict = {}

    # -- assembly ------------------------------------------------------------------------------------

    def assemble(self, grid: TimeGrid, state: np.ndarray) -> None:
        """The constant blocks, and the concentration row at the collocation phases of ``state``."""
        for name, matrix in self.matrices.items():
            assemble_into(matrix, self.forms[name], self.bcs, 0.0 if "storage" in name else 1.0)
        if not self.ionic:
            return
        while len(self.rows) < grid.collocation:
            self.rows.append({j: create_matrix(form) for j, form in self.row_forms.items()})
        for row, x in zip(self.rows, state):
            self.balance.set_sample(x)
            for j, matrix in row.items():
                assemble_into(matrix, self.row_forms[j], self.bcs)

    def action(self, grid: TimeGrid, v: np.ndarray) -> np.ndarray:
        """R'(x_j) v_j at the collocation phases (v: collocation x local)."""
        out = np.empty(v.shape, dtype=complex)
        T, matrices = self.owned[TEMPERATURE], self.matrices
        out[:, T] = self._apply_each(matrices["heat"], v[:, T])
        out[:, self._mechanics] = self._apply_each(matrices["mechanics"], v[:, self._mechanics]) + self._apply_each(
            matrices["mechanics_temperature"], v[:, T])
        if self.ionic:
            C = self.owned[CONCENTRATION]
            out[:, self._mechanics] += self._apply_each(matrices["mechanics_concentration"], v[:, C])
            out[:, C] = [sum(self._mult(row[j], x[self.owned[j]]) for j in row) for row, x in zip(self.rows, v)]
        return out

    @property
    def _mechanics(self) -> slice:
        return slice(self.owned[self.mechanics_fields[0]].start, self.owned[self.mechanics_fields[-1]].stop)

    # -- factorisations ---------------------------------------------------------------------------

    def factorize(self, grid: TimeGrid) -> int:
        """LU factorisations of the preconditioner at the state of the last :meth:`assemble`: heat per
        harmonic, mechanics, and the concentration's step operators at the collocation phases and their
        cycle average. Returns their number."""
        for obj in self.factorized:
            obj.destroy()
        self.factorized, m = [], self.matrices
        while len(self.heat_solvers) <= grid.harmonics:
            self.heat_solvers.append(lu_solver(self.comm, f"stimsim_split_heat{len(self.heat_solvers)}_"))
        for k, solver in enumerate(self.heat_solvers[: grid.harmonics + 1]):
            self._factorize(solver, self._combination(m["heat"], (1j * k, m["heat_storage"])), f"the heat operator at harmonic {k}")
        if self.mechanics_solver is None:
            self.mechanics_solver = lu_solver(self.comm, "stimsim_split_mechanics_")
        self._factorize(self.mechanics_solver, m["mechanics"].copy(), "the mechanics block")
        if self.ionic:
            self._factorize_diffusion(grid)
        return self.factorized_dofs(grid)[0]

    def factorized_dofs(self, grid: TimeGrid) -> tuple[int, int]:
        """(LU factorisations, their DOFs in all) that :meth:`factorize` keeps for ``grid``."""
        size = {n: self.balance.model.forms.spaces[n].dofmap.index_map.size_global
                * self.balance.model.forms.spaces[n].dofmap.index_map_bs for n in self.balance.names}
        count, dofs = grid.harmonics + 2, (grid.harmonics + 1) * size[TEMPERATURE] + sum(size[n] for n in self.mechanics_fields)
        if self.ionic:
            count, dofs = count + grid.collocation + 1, dofs + (grid.collocation + 1) * size[CONCENTRATION]
        return count, dofs

    def _factorize(self, solver, operator, name: str) -> None:
        self.factorized.append(operator)
        factorize_lu(solver, operator, operator, f"harmonic balance: {name}")

    @staticmethod
    def _combination(first, *terms):
        """A new matrix ``first`` + sum of factor x matrix over ``terms`` ((factor, matrix), patterns
        within ``first``'s)."""
        out = first.copy()
        for factor, matrix in terms:
            out.axpy(factor, matrix, structure=SUBSET)
        return out

    def _factorize_diffusion(self, grid: TimeGrid) -> None:
        """Step operators S_c/dphi + J_cc + J_cs Lambda at the collocation phases and the cycle-averaged
        J_cc + J_cs Lambda (module docstring)."""
        local = self._local_stress_coupling()
        dphi = 2 * math.pi / grid.steps
        while len(self.diffusion_solvers) < grid.collocation:
            self.diffusion_solvers.append(lu_solver(self.comm, f"stimsim_split_diffusion{len(self.diffusion_solvers)}_"))
        mean = None
        for j, (row, solver) in enumerate(zip(self.rows, self.diffusion_solvers[: grid.collocation])):
            coupling = row[STRESS].copy()
            coupling.diagonalScale(R=local)
            operator = self._combination(row[CONCENTRATION], (1.0, coupling))
            coupling.destroy()
            if mean is None:
                mean = operator.copy()
                mean.scale(1.0 / grid.collocation)
            else:
                mean.axpy(1.0 / grid.collocation, operator, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
            operator.axpy(1.0 / dphi, self.matrices["storage"], structure=SUBSET)
            self._factorize(solver, operator, f"the concentration's step operator at collocation phase {j}")
        local.destroy()
        if self.mean_solver is None:
            self.mean_solver = lu_solver(self.comm, "stimsim_split_mean_")
        self._factorize(self.mean_solver, mean, "the cycle-averaged concentration operator")

    def _local_stress_coupling(self):
        """Lambda per concentration DOF (a Vec): gamma times the stress row's local dependence on the
        concentration, -diag(J_sc)/diag(J_ss), gamma = 4 mu/(3 K + 4 mu) (module docstring)."""
        self.dilatation.interpolate(self.dilatation_expression)
        local = self.matrices["stress_concentration"].getDiagonal()
        local.pointwiseDivide(local, self.matrices["stress"].getDiagonal())
        n = local.getLocalSize()
        local.array[:] *= -self.dilatation.x.array[:n]
        return local

    # -- the preconditioner ----------------------------------------------------------------------------

    def precondition(self, grid: TimeGrid, b: np.ndarray) -> np.ndarray:
        """The approximate solution z of the collocation system J z = b (collocation x local; the
        module docstring's steps 1-4), linear over the complex numbers."""
        if np.iscomplexobj(b) and np.any(b.imag):
            return self.precondition(grid, b.real) + 1j * self.precondition(grid, b.imag)
        b = b.real
        out = np.empty_like(b)
        T, M, m = self.owned[TEMPERATURE], self._mechanics, self.matrices
        heat = harmonics_of(b[:, T], grid.harmonics)
        heat = np.array([self._solve(solver, h) for solver, h in zip(self.heat_solvers, heat)])
        out[:, T] = samples_of(heat, grid.collocation)
        loads = harmonics_of(b[:, M], grid.harmonics) - self._apply_each(m["mechanics_temperature"], heat)
        mechanics = samples_of(self._solve_each(self.mechanics_solver, loads), grid.collocation)
        if self.ionic:
            C, S = self.owned[CONCENTRATION], self._stress_within_mechanics
            c = self._diffusion(grid, b[:, C], out[:, T], mechanics[:, S])
            out[:, C] = c
            vegard = harmonics_of(self._apply_each(m["mechanics_concentration"], c).real, grid.harmonics)
            mechanics -= samples_of(self._solve_each(self.mechanics_solver, vegard), grid.collocation)
        out[:, M] = mechanics
        return out

    @property
    def _stress_within_mechanics(self) -> slice:
        stress, start = self.owned[STRESS], self._mechanics.start
        return slice(stress.start - start, stress.stop - start)

    def _diffusion(self, grid: TimeGrid, b: np.ndarray, temperature: np.ndarray, stress: np.ndarray) -> np.ndarray:
        """Step 3 of the module docstring: the concentration at the collocation phases."""
        forcing = b - np.array([self._mult(row[TEMPERATURE], t) + self._mult(row[STRESS], s)
                                for row, t, s in zip(self.rows, temperature, stress)]).real
        scale, storage = grid.steps / (2 * math.pi), self.matrices["storage"]
        c = self._solve(self.mean_solver, forcing.mean(axis=0)).real
        steps = along_period(grid.interpolate, forcing)
        out = np.empty_like(b)
        for j in range(grid.steps):
            c = self._solve(self.diffusion_solvers[j // SUBSTEPS], scale * self._mult(storage, c) + steps[j]).real
            if j % SUBSTEPS == 0:
                out[j // SUBSTEPS] = c
        return out

    # -- linear algebra on local arrays ------------------------------------------------------------------

    def _work(self, matrix):
        """(column, row) work vectors of ``matrix``'s layout."""
        key = matrix.getSizes()
        if key not in self.vectors:
            self.vectors[key] = matrix.createVecs()
        return self.vectors[key]

    def _mult(self, matrix, values: np.ndarray) -> np.ndarray:
        x, y = self._work(matrix)
        x.array[:] = values
        matrix.mult(x, y)
        return y.array_r.copy()

    def _solve(self, solver, values: np.ndarray) -> np.ndarray:
        operator = solver.getOperators()[0]
        x, y = self._work(operator)
        y.array[:] = values
        solver.solve(y, x)
        return x.array_r.copy()

    def _dense(self, layout, rows: np.ndarray):
        """A dense matrix of the parallel layout ``layout`` (a matrix's (local, global) sizes) holding the
        local arrays ``rows`` as its columns (several right-hand sides in one call: a third of the
        time of single MUMPS back-substitutions of the mechanics block)."""
        dense = PETSc.Mat().createDense((layout, (PETSc.DECIDE, len(rows))), comm=self.comm)
        dense.setUp()
        dense.getDenseArray()[:] = rows.T
        dense.assemble()
        return dense

    @staticmethod
    def _columns(dense) -> np.ndarray:
        out = dense.getDenseArray().T.copy()
        dense.destroy()
        return out

    def _apply_each(self, matrix, rows: np.ndarray) -> np.ndarray:
        """``matrix`` applied to each of the local arrays ``rows``."""
        vectors = self._dense(matrix.getSizes()[1], rows)
        out = self._columns(matrix.matMult(vectors))
        vectors.destroy()
        return out

    def _solve_each(self, solver, rows: np.ndarray) -> np.ndarray:
        """``solver`` applied to each of the local arrays ``rows``."""
        operator = solver.getOperators()[0]
        loads, out = self._dense(operator.getSizes()[0], rows), self._dense(operator.getSizes()[1], np.zeros_like(rows))
        solver.matSolve(loads, out)
        loads.destroy()
        return self._columns(out)

    def solvers(self) -> list:
        """The KSPs holding LU factorisations (for their memory)."""
        return [s for s in (*self.heat_solvers, self.mechanics_solver, *self.diffusion_solvers, self.mean_solver) if s is not None]

    def release(self) -> None:
        """Free the factorisations and the concentration row's matrices (collective)."""
        for obj in (*self.factorized, *self.solvers(), *(m for row in self.rows for m in row.values())):
            obj.destroy()
        self.factorized, self.rows, self.heat_solvers, self.diffusion_solvers = [], [], [], []
        self.mechanics_solver = self.mean_solver = None

    def destroy(self) -> None:
        """Free the PETSc objects (collective)."""
        self.release()
        for obj in (*self.matrices.values(), *(v for pair in self.vectors.values() for v in pair)):
            obj.destroy()
