"""The nonlinear periodic state at any heating amplitude: harmonic balance by trigonometric collocation.

Every field's deviation from the base state is a truncated Fourier series in the drive phase
phi = w t, x(phi) = sum_{k=0..H} Re(X_k e^{i k phi}) (X_0 real: the rectified DC part), carried by its
values at the 2H + 1 equally spaced collocation phases (:attr:`TimeGrid.collocation`). The balance the
time-domain model steps, S dx/dphi + R(x) = F(phi), holds at those phases:

    G_j(x) = S (D x)_j + R(x_j) - F(phi_j) = 0,   j = 0..2H,

with D the spectral derivative (exact for H harmonics), S = sum_f (w t_f) M_f the storage (heat
capacity and ions, scaled times), R the whole static balance (every nonlinear term: D(T), 1/T, the
c grad(sigma) drift, the preload) and F the heat input. This is the time-spectral form of harmonic
balance: equivalent to G_k = i k S X_k + R_k(X) - F_k = 0 for k = 0..H with R_k the DFT of R at the
2H + 1 phases, i.e. with the harmonics of R above H aliased instead of dropped. Both converge
spectrally in H; the dealiased form (R at 2(2H + 1) phases, projected) is not used because its
Jacobian, a Toeplitz operator truncated at H, was not approximated by any time stepping at
E_a theta_1/(R T^2) ~ 6, where the diffusivity swings by e^{+-6} within a period (docs/theory/harmonics.md,
'Large amplitudes').
The unknowns are real vectors, so every operator below is real and Krylov methods in complex PETSc
arithmetic see a complex-linear map.

Solver. Newton's method; each step solves J dx = -G by flexible GMRES, (J v)_j = S (D v)_j + R'(x_j) v_j
with the Jacobians R'(x_j) assembled at the collocation phases once per Newton step. The
preconditioner is a period of backward-Euler steps through SUBSTEPS x (2H + 1) phases, each step
operator A_j = S/dphi + R'(x) factorised at the collocation phase that begins its interval (2H + 1 LU
factorisations, SUBSTEPS steps each), read at the collocation phases, started from the cycle-averaged
solution (what the slow modes need). It is factorised at the state of the first Newton step
and kept while the Krylov iterations per decade of residual reduction stay within LAGGED_ITERATIONS
times those on fresh factorisations. Where only the ions' rows are nonlinear (constant k and alpha, one
concentration field, not Nernst-Planck-Poisson, or none) the Jacobians are assembled and the preconditioner works
by field instead (:mod:`stimsim.solve.fieldsplit`: heat per harmonic, mechanics on one factorisation, the
steps on the concentration block alone), about twice as fast. Each Krylov solve asks for an Eisenstat–Walker
reduction (loose while Newton is far from converged). Newton starts from the expansion (first and second orders); where it fails from
there, the heating amplitude is raised in steps from the last converged state (continuation).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem import bcs_by_block, extract_function_spaces
from dolfinx.fem.petsc import assemble_vector, assign, create_matrix, create_vector, set_bc
from mpi4py import MPI
from petsc4py import PETSc

from stimsim.core.errors import InputError, SolverError, history
from stimsim.solve.fieldsplit import FieldSplitSteps, split_applies
from stimsim.fem.forms import compiled, functions
from stimsim.physics.coupled import TEMPERATURE, storage
from stimsim.solve.direct import MAX_DIRECT_3D_DOFS, assemble_into, factorize_lu, lu_solver
from stimsim.solve.timegrid import SUBSTEPS, TimeGrid, along_period, harmonics_of, samples_of

log = logging.getLogger(__name__)

#: Newton iterations, the residual (relative to the heat input) and the relative update that end them.
NEWTON_ITERATIONS, RESIDUAL_TOLERANCE, NEWTON_TOLERANCE = 12, 1e-7, 1e-9
#: Newton iterations in all for one periodic state: the attempt from the expansion, the continuation's and
#: (:func:`stimsim.solve.forward.harmonic_balance_tips`) those of every H tried. A converging solve takes
#: 2 to 4 per H (docs/theory/harmonics.md, 'Large amplitudes'); E_a = 2e5 J/mol at theta_1/T = 0.9,
#: which cannot converge, took 55 and 3 minutes on 7 890 DOFs before it gave up.
NEWTON_BUDGET = 40
#: A Newton iteration diverges when its residual exceeds this multiple of its first (plus 1).
DIVERGED = 1e3
#: Largest relative residual reduction asked of a Newton step's Krylov solve (it asks for no more
#: than the Newton tolerance needs), and its iteration limit.
KRYLOV_TOLERANCE, KRYLOV_ITERATIONS = 1e-4, 200
#: Forcing terms (Eisenstat & Walker, SIAM J. Sci. Comput. 17, 16 (1996), choice 2): the first Newton
#: step asks FIRST_FORCING of its Krylov solve, later ones FORCING_GAIN (|G_k|/|G_{k-1}|)^2, at most
#: MAX_FORCING (and never less than the two limits above).
FIRST_FORCING, FORCING_GAIN, MAX_FORCING = 1e-2, 0.9, 0.1
#: Heating fractions of the continuation, tried when Newton fails from the expansion.
CONTINUATION_STEPS = (4, 16)
#: Relative residual of the Krylov solve of a tangent (a derivative of the periodic state).
TANGENT_TOLERANCE = 1e-10
#: The preconditioner's factorisations are kept across Newton steps (at the state of the first) until
#: a Krylov solve needs more than this multiple of the iterations per decade of residual reduction it
#: needed on fresh ones (per decade: the solves ask for different reductions).
LAGGED_ITERATIONS = 2


@dataclass
class PeriodicStatistics:
    """What a harmonic-balance solve did: Newton iterations, Krylov iterations, preconditioner
    applications, LU factorisations, the Newton residual history (relative to the heat input), the
    heating fractions of the continuation, and the wall time (s)."""

    newton: int = 0
    krylov: int = 0
    preconditioner: int = 0
    factorizations: int = 0
    residuals: list = field(default_factory=list)
    continuation: list = field(default_factory=list)
    seconds: float = 0.0


class _Shell:
    """A PETSc shell matrix (``mult``) or preconditioner (``apply``) calling ``operator(x_array) ->
    y_array`` on local arrays. An exception inside, Ctrl-C's KeyboardInterrupt included, is kept in
    :attr:`error` (PETSc would report only its own error code) for the caller to raise."""

    def __init__(self, operator):
        self.operator, self.error = operator, None

    def mult(self, mat, x, y):
        self._call(x, y)

    def apply(self, pc, x, y):
        self._call(x, y)

    def _call(self, x, y):
        try:
            y.array[:] = self.operator(x.array_r)
        except BaseException as err:  # noqa: BLE001 (raised again after PETSc returns)
            self.error = err
            raise


class HarmonicBalance:
    """Harmonic balance of a :class:`~stimsim.solve.model.HarmonicModel` (its forms, boundary conditions
    and base state), built once per model: the forms at a phase sample are compiled here once and
    reused for every frequency, amplitude and number of harmonics."""

    def __init__(self, model):
        self.model = model
        forms = model.forms
        self.names = model.names
        self.sample = functions(forms.spaces, "sample")
        self.heating = fem.Constant(model.domain.mesh, 0j)
        total = {forms.base[n]: forms.base[n] + self.sample[n] for n in self.names}
        residual = {n: ufl.replace(forms.balance[n], total) for n in self.names}
        residual[TEMPERATURE] = residual[TEMPERATURE] - ufl.replace(forms.heat_input, {forms.heating: self.heating})
        trials = {n: ufl.TrialFunction(V) for n, V in forms.spaces.items()}
        self.residual_forms = compiled([residual[n] for n in self.names])
        jacobian = [[ufl.derivative(residual[i], self.sample[j], trials[j]) for j in self.names] for i in self.names]
        self.jacobian_forms = compiled(jacobian)
        stored = storage(trials, forms.tests, model.coefficients.fields, model.domain)
        self.storage_forms = [
            [compiled(forms.rates[i] * stored[i]) if i == j and i in stored else
             (fem.form(ufl.ZeroBaseForm((forms.tests[i], trials[j]))) if i == j else None) for j in self.names]
            for i in self.names
        ]
        spaces = extract_function_spaces(self.jacobian_forms, 0)
        self.row_bcs = bcs_by_block(spaces, model.bcs)
        self.vector = create_vector(spaces, kind="mpi")
        self.work = create_vector(spaces, kind="mpi")
        self.storage_matrix = create_matrix(self.jacobian_forms)
        self.size = self.vector.getLocalSize()
        self.comm = model.domain.comm
        self.jacobians: list = []
        self.steps: list = []
        self.statistics, self.budget = PeriodicStatistics(), NEWTON_BUDGET
        self.mean_solver = self.mean_matrix = None
        #: The last solved state (for :meth:`tangent`), and (frequency, H) of the kept factorisations.
        self.last: _Solved | None = None
        self.factorized_at: tuple | None = None
        #: The Jacobians and preconditioner split by field where only the ions' rows are nonlinear
        #: (:mod:`stimsim.solve.fieldsplit`), else None: coupled ones.
        self.split = FieldSplitSteps(self) if split_applies(self.names, jacobian, self.sample) else None

    # -- fields and vectors -----------------------------------------------------------------------

    def set_sample(self, values: np.ndarray) -> None:
        """Make the local vector ``values`` (owned part) the deviation the sample forms read."""
        self._copy_into(values, self.sample)

    def to_vector(self, fields: dict) -> np.ndarray:
        """Owned part of the block vector of ``fields`` (name -> Function)."""
        assign([fields[n] for n in self.names], self.vector)
        return self.vector.array_r.copy()

    def to_fields(self, values: np.ndarray, label: str) -> dict:
        """New Functions (name -> Function) holding the local vector ``values``."""
        out = functions(self.model.spaces, label)
        self._copy_into(values, out)
        return out

    def _copy_into(self, values: np.ndarray, fields: dict) -> None:
        self.vector.array[:] = values
        self.vector.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)
        assign(self.vector, [fields[n] for n in self.names])
        for f in fields.values():
            f.x.scatter_forward()

    def _residual_at(self, values: np.ndarray, heating: float) -> np.ndarray:
        """R(base + x) - F at one phase, x = ``values``, with the scaled total heating ``heating``."""
        self.set_sample(values)
        self.heating.value = heating
        with self.work.localForm() as local:
            local.set(0)
        assemble_vector(self.work, self.residual_forms)
        self.work.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        set_bc(self.work, self.row_bcs)
        return self.work.array_r.copy()

    def _mult(self, matrix, values: np.ndarray) -> np.ndarray:
        self.vector.array[:] = values
        matrix.mult(self.vector, self.work)
        return self.work.array_r.copy()

    def _apply_storage(self, samples: np.ndarray) -> np.ndarray:
        return np.array([self._mult(self.storage_matrix, s) for s in samples])

    # -- the balance -----------------------------------------------------------------------------

    def residual(self, grid: TimeGrid, state: np.ndarray, heating: np.ndarray) -> np.ndarray:
        """G at the collocation phases for the state ``state`` (collocation x local) under the scaled
        total heating ``heating`` there."""
        static = np.array([self._residual_at(x, h) for x, h in zip(state, heating)])
        return static + self._apply_storage(along_period(grid.derivative, state))

    def assemble_jacobians(self, grid: TimeGrid, state: np.ndarray) -> None:
        """R'(x_j) at the collocation phases of ``state`` (kept for :meth:`jacobian_action`)."""
        if self.split is not None:
            return self.split.assemble(grid, state)
        while len(self.jacobians) < grid.collocation:
            self.jacobians.append(create_matrix(self.jacobian_forms))
        for matrix, x in zip(self.jacobians, state):
            self._assemble_jacobian(matrix, x)

    def _assemble_jacobian(self, matrix, values: np.ndarray) -> None:
        """R'(base + x) into ``matrix``, x = ``values`` (Dirichlet rows: identity)."""
        self.set_sample(values)
        assemble_into(matrix, self.jacobian_forms, self.model.bcs)

    def jacobian_action(self, grid: TimeGrid, v: np.ndarray) -> np.ndarray:
        """J v at the collocation phases (v: collocation x local)."""
        if self.split is not None:
            static = self.split.action(grid, v)
        else:
            static = np.array([self._mult(J, x) for J, x in zip(self.jacobians, v)])
        return static + self._apply_storage(along_period(grid.derivative, v))

    # -- preconditioner: a period of backward-Euler steps -----------------------------------------------

    def factorize_steps(self, grid: TimeGrid) -> None:
        """LU of the step operators A_j = S/dphi + R'(x_j) at the collocation phases, from the Jacobians
        of the last :meth:`assemble_jacobians`, and of the cycle-averaged Jacobian (their mean); split by
        field where it applies (:mod:`stimsim.solve.fieldsplit`)."""
        self.factorized_at = None  # until every factorisation below succeeded
        if self.split is not None:
            self.statistics.factorizations += self.split.factorize(grid)
            self.factorized_at = (self.model.frequency, grid.harmonics)
            return
        dphi = 2 * math.pi / grid.steps
        jacobians = self.jacobians[: grid.collocation]
        while len(self.steps) < grid.collocation:
            solver = lu_solver(self.comm, f"stimsim_periodic_step{len(self.steps)}_")
            self.steps.append((solver, jacobians[len(self.steps)].duplicate(copy=False)))
        steps = self.steps[: grid.collocation]
        self._factorize_mean(jacobians)
        for j, ((solver, matrix), jacobian) in enumerate(zip(steps, jacobians)):
            jacobian.copy(matrix, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
            matrix.axpy(1.0 / dphi, self.storage_matrix, structure=PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN)
            factorize_lu(solver, matrix, matrix, f"harmonic balance: the step operator at collocation phase {j}")
        self.statistics.factorizations += grid.collocation + 1
        self.factorized_at = (self.model.frequency, grid.harmonics)

    def _factorize_mean(self, jacobians: list) -> None:
        """LU of the mean of ``jacobians`` (the cycle-averaged Jacobian)."""
        if self.mean_solver is None:
            self.mean_solver = lu_solver(self.comm, "stimsim_periodic_mean_")
            self.mean_matrix = jacobians[0].duplicate(copy=False)
        self.mean_matrix.zeroEntries()
        for J in jacobians:
            self.mean_matrix.axpy(1.0 / len(jacobians), J, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        factorize_lu(self.mean_solver, self.mean_matrix, self.mean_matrix, "harmonic balance: the cycle-averaged Jacobian")

    def _step(self, j: int, rhs: np.ndarray) -> np.ndarray:
        """Backward-Euler step ``j`` (on the factorisation of the collocation phase that begins its
        interval) for the right-hand side ``rhs``."""
        ksp, _ = self.steps[j // SUBSTEPS]
        self.vector.array[:] = rhs
        ksp.solve(self.vector, self.work)
        return self.work.array_r.copy()

    def _sweep(self, grid: TimeGrid, forcing: np.ndarray, start: np.ndarray) -> np.ndarray:
        """One period of backward-Euler steps through the step phases from the state ``start`` before
        phase 0 under ``forcing`` (steps x local, as the result)."""
        scale = grid.steps / (2 * math.pi)
        out, previous = np.empty((grid.steps, self.size), dtype=complex), start
        for j in range(grid.steps):
            rhs = scale * self._mult(self.storage_matrix, previous) + forcing[j]
            out[j] = previous = self._step(j, rhs)
        return out

    def precondition(self, grid: TimeGrid, b: np.ndarray) -> np.ndarray:
        """Approximately the periodic solution z of S (z_j - z_{j-1})/dphi + A_j z_j = b_j on the step
        phases (b interpolated there, z read at the collocation phases): one period of steps from the
        cycle-averaged solution z_{-1} = Jbar^{-1} mean(b), Jbar the mean Jacobian. That start is right
        for the slow modes, which matter: ion diffusion over lengths above sqrt(D / f) barely decays within
        a period, so its periodic state is the response to the period average (from rest, the rectified
        DC part would be wrong by 1/(1 - Phi)); the fast modes forget the start within a few steps.
        (Estimating the periodic start from a first period of steps saved two of 27 Krylov iterations
        at theta_1 ~ 60 K for twice the back-substitutions: docs/theory/harmonics.md.) Split by field where it
        applies (:mod:`stimsim.solve.fieldsplit`)."""
        self.statistics.preconditioner += 1
        if self.split is not None:
            return self.split.precondition(grid, b)
        self.vector.array[:] = b.mean(axis=0)
        self.mean_solver.solve(self.vector, self.work)
        return self._sweep(grid, along_period(grid.interpolate, b), self.work.array_r.copy())[::SUBSTEPS]

    # -- Krylov and Newton ---------------------------------------------------------------------------

    def _krylov(self, operator, preconditioner, rhs: np.ndarray, rtol: float):
        """Solve operator(x) = rhs (local arrays) by flexible GMRES with ``preconditioner``."""
        n = rhs.size
        matrix_shell, preconditioner_shell = _Shell(operator), _Shell(preconditioner)
        A = PETSc.Mat().createPython(((n, PETSc.DECIDE), (n, PETSc.DECIDE)), matrix_shell, comm=self.comm)
        A.setUp()
        ksp = PETSc.KSP().create(self.comm)
        ksp.setOperators(A)
        ksp.setType(PETSc.KSP.Type.FGMRES)
        ksp.setGMRESRestart(KRYLOV_ITERATIONS)
        ksp.setTolerances(rtol=rtol, atol=0.0, max_it=KRYLOV_ITERATIONS)
        ksp.getPC().setType(PETSc.PC.Type.PYTHON)
        ksp.getPC().setPythonContext(preconditioner_shell)
        ksp.setConvergenceHistory()
        b, x = A.createVecs()
        b.array[:] = rhs
        x.set(0)
        try:
            ksp.solve(b, x)
        except PETSc.Error:
            error = matrix_shell.error or preconditioner_shell.error
            if error is None:
                raise
            raise error from None
        result = _KrylovResult(x.array_r.copy(), ksp.getIterationNumber(), ksp.getConvergedReason(),
                               list(ksp.getConvergenceHistory()))
        for obj in (ksp, A, b, x):
            obj.destroy()
        if result.reason <= 0:
            raise SolverError(
                f"harmonic balance: GMRES did not converge (PETSc reason {result.reason}) in "
                f"{result.iterations} iterations; residual history {history(result.history)}"
            )
        return result

    # -- the periodic state ----------------------------------------------------------------------

    def _check_memory(self, grid: TimeGrid) -> None:
        """Refuse a 3D harmonic balance whose kept LU factorisations hold more factorised DOFs than the
        largest single direct 3D solve, :data:`~stimsim.solve.direct.MAX_DIRECT_3D_DOFS`: coupled, 2H + 2 of the
        whole model (a 7.6k-DOF box at H = 4 took 2.1 GB with the 19 the preconditioner kept before it
        stepped on the collocation phases' factors); split by field, the blocks'
        (:meth:`~stimsim.solve.fieldsplit.FieldSplitSteps.factorized_dofs`)."""
        model = self.model
        if model.domain.mesh.topology.dim != 3:
            return
        if self.split is not None:
            count, dofs = self.split.factorized_dofs(grid)
        else:
            count, dofs = grid.collocation + 1, model.num_dofs * (grid.collocation + 1)
        if dofs > MAX_DIRECT_3D_DOFS:
            raise InputError(
                "solver.harmonics", f"harmonic balance with H = {grid.harmonics} keeps {count} LU factorisations of "
                f"{dofs} DOFs in all for the {model.num_dofs}-DOF 3D model, more than the {MAX_DIRECT_3D_DOFS} "
                "factorised DOFs of the largest direct 3D solve (docs/developer/performance.md): at this H the mesh may have "
                f"{MAX_DIRECT_3D_DOFS * model.num_dofs // dofs} DOFs; lower mesh.refinement or solver.harmonics, or "
                "the heating amplitude so that the expansion holds",
            )

    def solve(self, frequency: float, spectrum: dict[int, complex], dc: float, harmonics: int,
              start: np.ndarray | None = None, tolerance: float = RESIDUAL_TOLERANCE,
              budget: int = NEWTON_BUDGET) -> PeriodicState:
        """The periodic state at the drive ``frequency`` (Hz) under the scaled total heating
        dc + sum_n Re(spectrum[n] e^{i n phi}) with ``harmonics`` (H) retained. ``start``: harmonics
        (any count, local arrays) to begin Newton from, e.g. the expansion's; without it, zero.
        ``tolerance``: the residual, relative to the heat input, that ends Newton (0 < tolerance < 1;
        looser than the default only where a coarse answer is wanted, as in benchmarks/periodic.py: at
        theta_1 ~ 60 K, 1e-2 left u_2 within 1e-4 of the converged state, but at small amplitudes it
        accepts the start as it is, without the harmonics the start lacks: docs/theory/harmonics.md).
        ``budget``: Newton iterations in all, the continuation's included; a SolverError with the
        residual history once they are spent. Logs each Newton iteration's residual (INFO)."""
        if not 0 < tolerance < 1:
            raise ValueError(f"the Newton tolerance must be in (0, 1), not {tolerance!r}")
        self.statistics, self.budget = PeriodicStatistics(), budget
        began = time.perf_counter()
        grid = TimeGrid.build(harmonics)
        self._check_memory(grid)
        self.set_frequency(frequency)
        forcing = self._forcing(dc)
        initial = np.zeros((grid.collocation, self.size))
        if start is not None:
            initial = samples_of(_resized(start, harmonics), grid.collocation)
        try:
            state = self._newton(grid, initial, spectrum, dc, 1.0, forcing, tolerance)
        except SolverError as failure:
            state = self._continuation(grid, spectrum, dc, forcing, tolerance, failure)
        self.statistics.seconds = time.perf_counter() - began
        self.last = _Solved(frequency, grid, state)
        return PeriodicState(frequency, harmonics_of(state, harmonics), self.statistics)

    def set_frequency(self, frequency: float) -> None:
        """Make the drive ``frequency`` (Hz) the model's and assemble the storage S = sum_f (w t_f) M_f at it
        (what the residual, the Jacobian action and the preconditioner read), and where the balance is split
        the blocks that do not change with the state."""
        self.model.set_frequency(frequency)
        assemble_into(self.storage_matrix, self.storage_forms, self.model.bcs, 0.0)
        if self.split is not None:
            self.split.assemble_constant()

    def _newton(self, grid: TimeGrid, state: np.ndarray, spectrum: dict, dc: float, fraction: float,
                forcing: float, tolerance: float) -> np.ndarray:
        """Newton's method from ``state`` (collocation x local) at ``fraction`` of the oscillating heating
        until the relative residual is below ``tolerance``; ``forcing`` is the norm of the unit heat
        input (:meth:`_forcing`)."""
        phases = TimeGrid.phases(grid.collocation)
        heating = dc + fraction * heating_signal(spectrum, phases)
        reference = forcing * math.sqrt(np.sum(heating_signal(spectrum, phases) ** 2) / 2) * fraction
        if reference == 0:
            return np.zeros_like(state)
        shape = state.shape
        fresh = rate = None  # Krylov iterations per decade on fresh factorisations, and on the current ones
        forcing_term, previous, first = FIRST_FORCING, None, None
        for _ in range(NEWTON_ITERATIONS):
            self._check_budget(grid, fraction)
            residual = self.residual(grid, state, heating)
            norm = self._norm(residual) / reference
            if previous is not None:
                forcing_term = min(MAX_FORCING, FORCING_GAIN * (norm / previous) ** 2)
            previous, first = norm, first or norm
            self.statistics.residuals.append(norm)
            self.statistics.newton += 1
            log.info(f"harmonic balance, H = {grid.harmonics}, {fraction:.0%} of the heating amplitude: Newton "
                     f"iteration {self.statistics.newton} of at most {self.budget}, residual {norm:.2e}")
            if norm < tolerance:
                return state
            if not math.isfinite(norm) or norm > DIVERGED * first + 1.0:
                break
            self.assemble_jacobians(grid, state)
            refresh = fresh is None or rate > LAGGED_ITERATIONS * fresh
            if refresh:
                self.factorize_steps(grid)
                fresh = None
            solve = lambda: self._krylov(  # noqa: E731
                lambda v: self.jacobian_action(grid, v.reshape(shape)).ravel(),
                lambda r: self.precondition(grid, r.reshape(shape)).ravel(),
                -residual.ravel(), max(KRYLOV_TOLERANCE, 0.1 * tolerance / norm, forcing_term),
            )
            try:
                result = solve()
            except SolverError:
                if refresh:
                    raise
                self.factorize_steps(grid)  # the kept factorisations failed: once more on fresh ones
                fresh, result = None, solve()
            self.statistics.krylov += result.iterations
            rate = result.iterations_per_decade
            fresh = rate if fresh is None else fresh
            update = result.solution.reshape(shape).real
            state = state + update
            if self._max(update) <= NEWTON_TOLERANCE * self._max(state):
                return state
        raise SolverError(
            f"harmonic balance: Newton did not converge in {self.statistics.newton} iterations at "
            f"{fraction:.0%} of the heating amplitude; residuals (relative to the heat input) {history(self.statistics.residuals)}"
        )

    def _check_budget(self, grid: TimeGrid, fraction: float) -> None:
        """Raise a SolverError with the residual history once the solve's Newton budget is spent."""
        if self.statistics.newton >= self.budget:
            raise SolverError(
                f"harmonic balance: no periodic state within the budget of {self.budget} Newton iterations (H = "
                f"{grid.harmonics}, at {fraction:.0%} of the heating amplitude); residuals (relative to the heat input) "
                f"{history(self.statistics.residuals)}; a heating this strong may have no periodic state within reach of "
                "the expansion and the continuation: lower its amplitude"
            )

    def _continuation(self, grid: TimeGrid, spectrum: dict, dc: float, forcing: float, tolerance: float,
                      failure: SolverError) -> np.ndarray:
        """Raise the oscillating heating in steps from zero, each Newton solve starting from the last
        state scaled to the new amplitude; none once the Newton budget is spent (``failure`` says why)."""
        for steps in CONTINUATION_STEPS:
            if self.statistics.newton >= self.budget:
                break
            state = np.zeros((grid.collocation, self.size))
            try:
                for step in range(1, steps + 1):
                    self.statistics.continuation.append(step / steps)
                    start = state * (step / (step - 1)) if step > 1 else state
                    state = self._newton(grid, start, spectrum, dc, step / steps, forcing, tolerance)
                return state
            except SolverError as err:
                failure = err
        raise failure

    def _forcing(self, dc: float) -> float:
        """Norm of the heat-input vector of a unit heating (scaled)."""
        zero = np.zeros(self.size)
        return self._norm(self._residual_at(zero, dc) - self._residual_at(zero, dc + 1.0))

    def _norm(self, values: np.ndarray) -> float:
        return math.sqrt(self.comm.allreduce(float(np.vdot(values, values).real), op=MPI.SUM))

    def _max(self, values: np.ndarray) -> float:
        return self.comm.allreduce(float(np.abs(values).max(initial=0.0)), op=MPI.MAX)

    # -- derivatives of the last solved state ---------------------------------------------------------

    def last_residual(self, spectrum: dict[int, complex], dc: float) -> np.ndarray:
        """G of the last solved state (collocation phases x local) under the model's current
        coefficients and base state and the scaled heating dc + sum_n Re(spectrum[n] e^{i n phi}): the
        residual a parameter change leaves, for :meth:`tangent` by differences in the parameter."""
        last = self.last
        self.set_frequency(last.frequency)
        return self.residual(last.grid, last.state, dc + heating_signal(spectrum, TimeGrid.phases(last.grid.collocation)))

    def tangent(self, change: np.ndarray) -> np.ndarray:
        """Harmonics 0..H (local arrays, scaled) of the change dX of the last solved state for a change
        ``change`` of its residual (collocation phases x local, e.g. dG/dp from :meth:`last_residual`):
        J dX = -change, J the Jacobian at that state, solved by flexible GMRES preconditioned by the
        factorisations of the last Newton step (refactorised only if they belong to another solve)."""
        last = self.last
        self.set_frequency(last.frequency)
        self.assemble_jacobians(last.grid, last.state)
        if self.factorized_at != (last.frequency, last.grid.harmonics):
            self.factorize_steps(last.grid)
        shape = last.state.shape
        result = self._krylov(
            lambda v: self.jacobian_action(last.grid, v.reshape(shape)).ravel(),
            lambda r: self.precondition(last.grid, r.reshape(shape)).ravel(),
            -change.ravel(), TANGENT_TOLERANCE,
        )
        return harmonics_of(result.solution.reshape(shape).real, last.grid.harmonics)

    def release(self) -> None:
        """Free what a solve builds: the factorisations and Jacobians (collective)."""
        self.factorized_at = None
        for ksp, matrix in self.steps:
            ksp.destroy()
            matrix.destroy()
        for obj in (*self.jacobians, self.mean_solver, self.mean_matrix):
            if obj is not None:
                obj.destroy()
        self.steps, self.jacobians = [], []
        self.mean_solver = self.mean_matrix = None
        if self.split is not None:
            self.split.release()

    def factorization_solvers(self) -> list:
        """The KSPs holding the preconditioner's LU factorisations (for their memory)."""
        if self.split is not None:
            return self.split.solvers()
        return [ksp for ksp, _ in self.steps] + ([self.mean_solver] if self.mean_solver is not None else [])

    def destroy(self) -> None:
        """Free the PETSc objects (collective)."""
        self.release()
        if self.split is not None:
            self.split.destroy()
        for obj in (self.storage_matrix, self.vector, self.work):
            obj.destroy()


def heating_signal(spectrum: dict[int, complex], phases: np.ndarray) -> np.ndarray:
    """sum_n Re(spectrum[n] e^{i n phi}) at ``phases`` (rad)."""
    return sum((h * np.exp(1j * n * phases)).real for n, h in spectrum.items())


def _resized(spectrum: np.ndarray, harmonics: int) -> np.ndarray:
    """``spectrum`` (harmonics along axis 0) cut or zero-padded to harmonics 0..``harmonics``."""
    out = np.zeros((harmonics + 1,) + spectrum.shape[1:], dtype=complex)
    count = min(harmonics + 1, spectrum.shape[0])
    out[:count] = spectrum[:count]
    return out


@dataclass(frozen=True)
class PeriodicState:
    """The periodic state at the drive ``frequency`` (Hz): ``harmonics`` X_0..X_H of the deviation from
    the base state (scaled, local block-vector arrays along axis 1) and what the solve did."""

    frequency: float
    harmonics: np.ndarray
    statistics: PeriodicStatistics

    @property
    def highest(self) -> int:
        """H, the highest retained harmonic."""
        return self.harmonics.shape[0] - 1


@dataclass(frozen=True)
class _Solved:
    """A solved periodic state: drive ``frequency`` (Hz), its :class:`TimeGrid` and the ``state`` at
    the collocation phases (coarse x local)."""

    frequency: float
    grid: TimeGrid
    state: np.ndarray


@dataclass(frozen=True)
class _KrylovResult:
    solution: np.ndarray
    iterations: int
    reason: int
    history: list

    @property
    def iterations_per_decade(self) -> float:
        """Iterations per decade of residual reduction (a reduction below one decade counts as one)."""
        if not self.iterations:
            return 0.0
        decades = math.log10(self.history[0] / self.history[-1]) if self.history[-1] > 0 else math.inf
        return self.iterations / max(decades, 1.0)
