"""Harmonic balance split by field, for a balance whose only nonlinear rows are the ions'.

With constant conductivity and expansion (no k(T), alpha(T)) and one concentration field (a neutral
species, or a pair held electroneutral; not Nernst-Planck-Poisson), or none, the heat, mechanics and hydrostatic-stress rows of the balance
are linear in the state with constant coefficients: only the concentration row's Jacobian changes
along the period. (A Joule heater's beta changes the heating, not these rows; everything on the ions,
drift, exchange, space charge, a film, grain boundaries, stays in the concentration row.) Whether a
balance splits is read from its forms (:func:`split_applies`), not from the study.
:class:`FieldSplitSteps` then replaces the coupled Jacobians and step factorisations of
:class:`~stimsim.solve.periodic.HarmonicBalance` by blocks:

* the Jacobian: the constant blocks (heat; displacement and stress with their couplings to temperature
  and concentration) assembled once per solve, and the concentration row (its columns
  temperature, stress, concentration) at every collocation phase: two fifths of the assembly;
* the preconditioner, for b at the collocation phases:

  1. heat exactly, harmonic by harmonic: (i k S_T + K_T) Z_k = B_k, k = 0..H (H + 1 small complex LUs,
     the heat row having no other column);
  2. mechanics with the concentration held at zero, per harmonic (quasi-static and linear: one LU of
     the displacement-stress block, H + 1 back-substitutions), giving the thermal stress s_T;
  3. the concentration by one period of backward-Euler steps (:data:`~stimsim.solve.timegrid.SUBSTEPS` per
     collocation interval) from the cycle-averaged solution, on LUs of the concentration block alone at
     the collocation phases, S_c/dphi + J_cc(x_j) + J_cs(x_j) Lambda, forced by b_c - J_cT z_T - J_cs s_T
     interpolated to the steps. Lambda is the local part of the stress's dependence on the
     concentration in an unbounded body, gamma (-3 K Omega/3) with gamma = 4 mu/(3 K + 4 mu): Eshelby's
     dilatation of an inclusion, the same for any shape, and a layer's under a free surface; the rest,
     what the free surface and the mesh add, is left to GMRES;
  4. mechanics again for the concentration's Vegard strain.

Against the coupled step factorisations (9 uW, theta_1 = 60.6 K, 6 310 DOFs, H = 8, docs/theory/harmonics.md)
GMRES needs about twice the iterations, each about a third of the cost; the factorisations are of
1 262 (heat, concentration) and 3 786 (mechanics) DOFs instead of 6 310, and hold 60 MB instead of 429.
The mechanics block is constant but refactorised with the others (the coefficients may have changed
in place between solves, as in a fit): one of 28 factorisations, a few ms.
"""

from __future__ import annotations

import math

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem.petsc import create_matrix
from mpi4py import MPI
from petsc4py import PETSc
from ufl.algorithms import expand_derivatives

from stimsim.physics.coupled import CONCENTRATION, DISPLACEMENT, STRESS, TEMPERATURE
from stimsim.solve.direct import assemble_into, factorize_lu, lu_solver
from stimsim.solve.timegrid import SUBSTEPS, TimeGrid, along_period, harmonics_of, samples_of

#: The fields a split balance may have (in this order): without ions, or with one concentration field.
SPLIT_FIELDS = ((TEMPERATURE, DISPLACEMENT), (TEMPERATURE, DISPLACEMENT, STRESS, CONCENTRATION))
#: Rows whose Jacobian must not depend on the state.
LINEAR_ROWS = (TEMPERATURE, DISPLACEMENT, STRESS)
#: The constant blocks that are storage (zero, not one, on the Dirichlet rows' diagonal).
STORAGE_BLOCKS = ("heat_storage", "storage")
SUBSET, SAME = PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN, PETSc.Mat.Structure.SAME_NONZERO_PATTERN


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
    linear_blocks = [form for (i, _), form in block.items() if i in LINEAR_ROWS and not form.empty()]
    return all(_independent_of(form, sample) for form in linear_blocks)


def _independent_of(form, sample: dict) -> bool:
    """Whether the UFL ``form`` does not change with any of the Functions in ``sample``."""
    return all(expand_derivatives(ufl.derivative(form, f, f)).empty() for f in sample.values())


class FieldSplitSteps:
    """The Jacobians and preconditioner of a split harmonic balance (see the module docstring) for the
    :class:`~stimsim.solve.periodic.HarmonicBalance` ``balance``, whose compiled Jacobian and storage blocks
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
        #: Global DOFs per field.
        self.sizes = {n: spaces[n].dofmap.index_map.size_global * spaces[n].dofmap.index_map_bs for n in names}
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
            self.local_fraction = fem.Function(space, name="local_stress_fraction")
            self.local_fraction_expression = fem.Expression(4 * mu / (3 * (lam + 2 * mu)), space.element.interpolation_points)
        self.matrices = {name: create_matrix(form) for name, form in self.forms.items()}
        self.rows: list[dict] = []  # the concentration row's blocks at each collocation phase
        self.heat_factors: list[_Factor] = []
        self.diffusion_factors: list[_Factor] = []
        self.mechanics_factor = _Factor(self.comm, "stimsim_split_mechanics_")
        self.mean_factor = _Factor(self.comm, "stimsim_split_mean_")
        self.scaled_coupling = None  # J_cs Lambda, refilled per phase
        self.vectors: dict = {}

    # -- assembly ------------------------------------------------------------------------------------

    def assemble_constant(self) -> None:
        """The blocks that do not change with the state, at the model's current frequency and
        coefficients (once per solve: :meth:`~stimsim.solve.periodic.HarmonicBalance.set_frequency`)."""
        for name, matrix in self.matrices.items():
            assemble_into(matrix, self.forms[name], self.bcs, 0.0 if name in STORAGE_BLOCKS else 1.0)

    def assemble(self, grid: TimeGrid, state: np.ndarray) -> None:
        """The concentration row at the collocation phases of ``state``."""
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
        """The displacement and stress fields' part of the local arrays."""
        return slice(self.owned[self.mechanics_fields[0]].start, self.owned[self.mechanics_fields[-1]].stop)

    # -- factorisations ---------------------------------------------------------------------------

    def factorize(self, grid: TimeGrid) -> int:
        """LU factorisations of the preconditioner at the state of the last :meth:`assemble`: heat per
        harmonic, mechanics, and the concentration's step operators at the collocation phases and their
        cycle average. Each factor keeps its operator matrix (refilled in place: MUMPS's analysis and
        workspace margin carry over). Returns their number."""
        m = self.matrices
        while len(self.heat_factors) <= grid.harmonics:
            self.heat_factors.append(_Factor(self.comm, f"stimsim_split_heat{len(self.heat_factors)}_"))
        for k, factor in enumerate(self.heat_factors[: grid.harmonics + 1]):
            factor.refill(m["heat"], (1j * k, m["heat_storage"]))
            factor.factorize(f"the heat operator at harmonic {k}")
        self.mechanics_factor.refill(m["mechanics"])
        self.mechanics_factor.factorize("the mechanics block")
        if self.ionic:
            self._factorize_diffusion(grid)
        return self.factorized_dofs(grid)[0]

    def factorized_dofs(self, grid: TimeGrid) -> tuple[int, int]:
        """(LU factorisations, their DOFs in all) that :meth:`factorize` keeps for ``grid``."""
        count = grid.harmonics + 2
        dofs = (grid.harmonics + 1) * self.sizes[TEMPERATURE] + sum(self.sizes[n] for n in self.mechanics_fields)
        if self.ionic:
            count, dofs = count + grid.collocation + 1, dofs + (grid.collocation + 1) * self.sizes[CONCENTRATION]
        return count, dofs

    def _factorize_diffusion(self, grid: TimeGrid) -> None:
        """Step operators S_c/dphi + J_cc + J_cs Lambda at the collocation phases and the cycle-averaged
        J_cc + J_cs Lambda (module docstring; dphi in rad). The blocks J_cT and J_cs that force the steps
        are those of the latest :meth:`assemble`, also while these factorisations are kept from an earlier
        one."""
        local = self._local_stress_coupling()
        dphi = 2 * math.pi / grid.steps
        while len(self.diffusion_factors) < grid.collocation:
            self.diffusion_factors.append(_Factor(self.comm, f"stimsim_split_diffusion{len(self.diffusion_factors)}_"))
        for j, (row, factor) in enumerate(zip(self.rows, self.diffusion_factors[: grid.collocation])):
            if self.scaled_coupling is None:
                self.scaled_coupling = row[STRESS].copy()
            else:
                row[STRESS].copy(self.scaled_coupling, structure=SAME)
            self.scaled_coupling.diagonalScale(R=local)
            factor.refill(row[CONCENTRATION], (1.0, self.scaled_coupling))
            if j == 0:
                self.mean_factor.refill(factor.operator)
                self.mean_factor.operator.scale(1.0 / grid.collocation)
            else:
                self.mean_factor.operator.axpy(1.0 / grid.collocation, factor.operator, structure=SAME)
            factor.operator.axpy(1.0 / dphi, self.matrices["storage"], structure=SUBSET)
            factor.factorize(f"the concentration's step operator at collocation phase {j}")
        local.destroy()
        self.mean_factor.factorize("the cycle-averaged concentration operator")

    def _local_stress_coupling(self):
        """Lambda per concentration DOF (a Vec): gamma times the stress row's local dependence on the
        concentration, -diag(J_sc)/diag(J_ss), gamma = 4 mu/(3 K + 4 mu) (module docstring). Stress and
        concentration share the P2 element and its DOFs (:func:`stimsim.fem.forms.field_spaces`), so the
        ratio of the diagonals is the local coefficient itself where it is uniform."""
        self.local_fraction.interpolate(self.local_fraction_expression)
        local = self.matrices["stress_concentration"].getDiagonal()
        local.pointwiseDivide(local, self.matrices["stress"].getDiagonal())
        n = local.getLocalSize()
        local.array[:] *= -self.local_fraction.x.array[:n]
        return local

    # -- the preconditioner ----------------------------------------------------------------------------

    def precondition(self, grid: TimeGrid, b: np.ndarray) -> np.ndarray:
        """The approximate solution z of the collocation system J z = b (collocation x local; the
        module docstring's steps 1-4), linear over the complex numbers."""
        if self.comm.allreduce(bool(np.iscomplexobj(b) and np.any(b.imag)), op=MPI.LOR):
            return self.precondition(grid, b.real) + 1j * self.precondition(grid, b.imag)
        b = b.real
        out = np.empty_like(b)
        T, M, m = self.owned[TEMPERATURE], self._mechanics, self.matrices
        heat = harmonics_of(b[:, T], grid.harmonics)
        heat = np.array([self._solve(factor.solver, h) for factor, h in zip(self.heat_factors, heat)])
        out[:, T] = samples_of(heat, grid.collocation)
        loads = harmonics_of(b[:, M], grid.harmonics) - self._apply_each(m["mechanics_temperature"], heat)
        mechanics = samples_of(self._solve_each(self.mechanics_factor.solver, loads), grid.collocation)
        if self.ionic:
            C, S = self.owned[CONCENTRATION], self._stress_within_mechanics
            c = self._diffusion(grid, b[:, C], out[:, T], mechanics[:, S])
            out[:, C] = c
            vegard = harmonics_of(self._apply_each(m["mechanics_concentration"], c).real, grid.harmonics)
            mechanics -= samples_of(self._solve_each(self.mechanics_factor.solver, vegard), grid.collocation)
        out[:, M] = mechanics
        return out

    @property
    def _stress_within_mechanics(self) -> slice:
        """The stress's part of the local displacement-stress arrays."""
        stress, start = self.owned[STRESS], self._mechanics.start
        return slice(stress.start - start, stress.stop - start)

    def _diffusion(self, grid: TimeGrid, b: np.ndarray, temperature: np.ndarray, stress: np.ndarray) -> np.ndarray:
        """Step 3 of the module docstring: the concentration at the collocation phases for its load ``b``
        and the temperature and the thermal stress there (collocation x local each); ``scale`` = 1/dphi
        (1/rad)."""
        forcing = b - np.array([self._mult(row[TEMPERATURE], t) + self._mult(row[STRESS], s)
                                for row, t, s in zip(self.rows, temperature, stress)]).real
        scale, storage = grid.steps / (2 * math.pi), self.matrices["storage"]
        c = self._solve(self.mean_factor.solver, forcing.mean(axis=0)).real
        steps = along_period(grid.interpolate, forcing)
        out = np.empty_like(b)
        for j in range(grid.steps):
            c = self._solve(self.diffusion_factors[j // SUBSTEPS].solver, scale * self._mult(storage, c) + steps[j]).real
            if j % SUBSTEPS == 0:
                out[j // SUBSTEPS] = c
        return out

    # -- linear algebra on local arrays ------------------------------------------------------------------

    def _work(self, matrix):
        """(column, row) work vectors of ``matrix``'s layout, shared by every matrix of the same sizes
        (safe: each use copies its result out before the next)."""
        key = matrix.getSizes()
        if key not in self.vectors:
            self.vectors[key] = matrix.createVecs()
        return self.vectors[key]

    def _mult(self, matrix, values: np.ndarray) -> np.ndarray:
        """``matrix`` times the local array ``values``."""
        x, y = self._work(matrix)
        x.array[:] = values
        matrix.mult(x, y)
        return y.array_r.copy()

    def _solve(self, solver, values: np.ndarray) -> np.ndarray:
        """``solver``'s LU applied to the local array ``values``."""
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
        """The local columns of ``dense`` as rows of an array; ``dense`` is destroyed."""
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
        factors = (*self.heat_factors, self.mechanics_factor, *self.diffusion_factors, self.mean_factor)
        return [factor.solver for factor in factors if factor.solver is not None]

    def release(self) -> None:
        """Free the factorisations and the concentration row's matrices (collective)."""
        for factor in (*self.heat_factors, self.mechanics_factor, *self.diffusion_factors, self.mean_factor):
            factor.destroy()
        for matrix in (*(m for row in self.rows for m in row.values()), self.scaled_coupling):
            if matrix is not None:
                matrix.destroy()
        self.rows, self.heat_factors, self.diffusion_factors, self.scaled_coupling = [], [], [], None

    def destroy(self) -> None:
        """Free the PETSc objects (collective)."""
        self.release()
        for obj in (*self.matrices.values(), *(v for pair in self.vectors.values() for v in pair)):
            obj.destroy()


class _Factor:
    """A MUMPS LU factorisation (``solver``, options prefix ``prefix``) of an ``operator`` matrix that
    it keeps and refills in place."""

    def __init__(self, comm, prefix: str):
        self.comm, self.prefix = comm, prefix
        self.solver = self.operator = None

    def refill(self, source, *terms) -> None:
        """operator = ``source`` + the sum of factor x matrix over ``terms`` ((factor, matrix), their
        patterns within ``source``'s, which is the same at every call)."""
        if self.operator is None:
            self.operator = source.copy()
        else:
            source.copy(self.operator, structure=SAME)
        for factor, matrix in terms:
            self.operator.axpy(factor, matrix, structure=SUBSET)

    def factorize(self, name: str) -> None:
        """Factorise the operator (checked; ``name`` labels errors)."""
        if self.solver is None:
            self.solver = lu_solver(self.comm, self.prefix)
        factorize_lu(self.solver, self.operator, self.operator, f"harmonic balance: {name}")

    def destroy(self) -> None:
        """Free the solver and the operator (collective); the factor can be refilled afterwards."""
        for obj in (self.solver, self.operator):
            if obj is not None:
                obj.destroy()
        self.solver = self.operator = None
