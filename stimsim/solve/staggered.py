"""Staggered block solver for the coupled (theta, u, sigma_h, c) system of one frequency.

Heat is solved first (nothing feeds back into it). Then block Gauss-Seidel sweeps mechanics ->
sigma_h -> diffusion until the concentration stops changing:

* the local part of the Vegard feedback, sigma_h's own dependence on c (-3 K Omega/3 c, the same
  constitutive law as the model), is eliminated into the diffusion operator (it is the stress-enhanced
  diffusivity of a constrained layer), so only the non-local feedback through the displacement is
  iterated;
* the iteration is accelerated by Aitken (Irons-Tuck) relaxation;
* mechanics and the sigma_h projection do not depend on the frequency and are factorised once; heat and
  diffusion are refactorised per frequency into the same matrices (smaller than the monolithic one).

The measured contraction decides in :class:`~stimsim.solve.model.HarmonicModel` whether the staggered or
the monolithic solve is used (docs/developer/numerics.md, 'Measured facts that shaped the code').
"""

from __future__ import annotations

import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI
from ufl.algorithms import expand_derivatives

from stimsim.fem.forms import compiled, local_vegard_coupling
from stimsim.physics.coupled import CONCENTRATION, DISPLACEMENT, STRESS, TEMPERATURE
from stimsim.solve.direct import DirectSolver

#: Sweeps before giving up, relative change of c that ends them, contraction above which staggering
#: is judged slower than a monolithic solve.
MAX_SWEEPS, SWEEP_TOLERANCE, SLOW_CONTRACTION = 40, 1e-10, 0.5


class StaggeredSolver:
    """Block Gauss-Seidel with local Vegard elimination for the operator blocks and the right-hand
    sides (label -> {field: UFL linear form}) of a model's :class:`~stimsim.fem.forms.CoupledForms`, with
    the Dirichlet conditions ``bcs`` per field."""

    def __init__(self, model, bcs: dict):
        self.comm = model.domain.comm
        forms = model.forms
        self.x = forms.solution
        blocks = {i: dict(zip(forms.names, row)) for i, row in zip(forms.names, forms.operator_blocks)}
        diffusion = blocks[CONCENTRATION][CONCENTRATION] + local_vegard_coupling(forms, model.coefficients.fields)
        self.nonlocal_stress = fem.Function(forms.spaces[STRESS], name="nonlocal_stress")
        self.heat = DirectSolver(compiled(blocks[TEMPERATURE][TEMPERATURE]), bcs[TEMPERATURE], "staggered_heat", homogeneous=True)
        self.mechanics = DirectSolver(compiled(blocks[DISPLACEMENT][DISPLACEMENT]), bcs[DISPLACEMENT], "staggered_mechanics", homogeneous=True)
        self.projection = DirectSolver(compiled(blocks[STRESS][STRESS]), [], "staggered_projection", homogeneous=True)
        self.diffusion = DirectSolver(compiled(diffusion), bcs[CONCENTRATION], "staggered_diffusion", homogeneous=True)
        self.refactorize_static()
        self.forms = {label: self._sweep_forms(blocks, source) for label, source in forms.sources.items()}
        self.previous = fem.Function(forms.spaces[CONCENTRATION])
        self.change = fem.Function(forms.spaces[CONCENTRATION])
        self.last_change = fem.Function(forms.spaces[CONCENTRATION])
        self.last_sweeps = (0, 0.0)  # sweeps and contraction of the latest solve

    def refactorize_static(self) -> None:
        """Factorise the frequency-independent blocks (mechanics, sigma_h projection) again, after the
        coefficients changed in place."""
        self.mechanics.factorize()
        self.projection.factorize()

    def _sweep_forms(self, blocks: dict, source: dict) -> dict:
        """Right-hand sides of each sweep stage: the source minus the coupling to the other fields."""

        def minus(row: str, fields: dict):
            form = source[row]
            for name, function in fields.items():
                coupling = expand_derivatives(blocks[row][name])
                if not coupling.empty():
                    form = form - ufl.action(coupling, function)
            return compiled(form)

        x, theta = self.x, {TEMPERATURE: self.x[TEMPERATURE]}
        return {
            TEMPERATURE: compiled(source[TEMPERATURE]),
            DISPLACEMENT: minus(DISPLACEMENT, theta | {CONCENTRATION: x[CONCENTRATION]}),
            "nonlocal": minus(STRESS, theta | {DISPLACEMENT: x[DISPLACEMENT]}),
            CONCENTRATION: minus(
                CONCENTRATION, theta | {DISPLACEMENT: x[DISPLACEMENT], STRESS: self.nonlocal_stress}
            ),
            STRESS: minus(STRESS, theta | {DISPLACEMENT: x[DISPLACEMENT], CONCENTRATION: x[CONCENTRATION]}),
        }

    def solve(self, label: str) -> tuple[bool, int, float]:
        """Solve for the source ``label`` into the model's solution fields at the model's current
        frequency. Returns (converged, sweeps, measured contraction)."""
        forms, x = self.forms[label], self.x
        self.heat.factorize()
        self.diffusion.factorize()
        self.heat.solve(forms[TEMPERATURE], x[TEMPERATURE])
        x[CONCENTRATION].x.array[:] = 0
        relaxation, contraction, previous_size = 1.0, 0.0, None
        for sweep in range(1, MAX_SWEEPS + 1):
            self.previous.x.array[:] = x[CONCENTRATION].x.array
            self.mechanics.solve(forms[DISPLACEMENT], x[DISPLACEMENT])
            self.projection.solve(forms["nonlocal"], self.nonlocal_stress)
            self.diffusion.solve(forms[CONCENTRATION], x[CONCENTRATION])
            self.change.x.array[:] = x[CONCENTRATION].x.array - self.previous.x.array
            if sweep > 1:
                relaxation = self._aitken(relaxation)
            self.last_change.x.array[:] = self.change.x.array
            x[CONCENTRATION].x.array[:] = self.previous.x.array + relaxation * self.change.x.array
            size, scale = self._norm(self.change), self._norm(x[CONCENTRATION])
            if previous_size:
                contraction = size / previous_size
            previous_size = size
            self.last_sweeps = (sweep, contraction)
            if size <= SWEEP_TOLERANCE * max(scale, 1e-300):
                self.mechanics.solve(forms[DISPLACEMENT], x[DISPLACEMENT])
                self.projection.solve(forms[STRESS], x[STRESS])
                return True, sweep, contraction
            if sweep > 3 and contraction > SLOW_CONTRACTION:
                return False, sweep, contraction
        return False, MAX_SWEEPS, contraction

    def _aitken(self, relaxation: complex) -> complex:
        """Irons-Tuck update of the relaxation factor from the last two raw changes."""
        comm = self.comm
        owned = self.change.function_space.dofmap.index_map.size_local
        delta = self.change.x.array[:owned] - self.last_change.x.array[:owned]
        numerator = comm.allreduce(np.vdot(delta, self.last_change.x.array[:owned]), op=MPI.SUM)
        denominator = comm.allreduce(np.vdot(delta, delta).real, op=MPI.SUM)
        return -relaxation * numerator / denominator if denominator > 0 else relaxation

    def _norm(self, f: fem.Function) -> float:
        owned = f.function_space.dofmap.index_map.size_local
        return float(np.sqrt(self.comm.allreduce(np.vdot(f.x.array[:owned], f.x.array[:owned]).real, op=MPI.SUM)))

    def destroy(self) -> None:
        for solver in (self.heat, self.mechanics, self.projection, self.diffusion):
            solver.destroy()
