"""Heat, then mechanics: the temperature and displacement rows of a model's operator solved in turn.

Heat depends on neither the displacement nor the ions, and with the ions held immobile the mechanics
depends only on the temperature (through the thermal coupling block dR_u/dtheta, minus its product
with the temperature on the right-hand side). Without mobile ions this is the model's whole operator;
with them it is the operator of the same sample with the ions held immobile, which answers the
non-ionic second order (docs/theory/harmonics.md, 'Non-ionic second harmonics'). Mechanics does not depend
on the frequency or the base state and is factorised once per parameter set; the heat operator and the
coupling depend on the base state only through a temperature-dependent k(T) and alpha(T)
(:meth:`HeatMechanics.refresh_base`).
"""

from __future__ import annotations

from dolfinx.fem.petsc import create_matrix, create_vector

from stimsim.fem.forms import CoupledForms, compiled
from stimsim.physics.coupled import DISPLACEMENT, TEMPERATURE
from stimsim.solve.direct import AffineParts, DirectSolver, assemble_into

#: Positions of the temperature and displacement in every model's field order.
HEAT, MECHANICS = 0, 1


class HeatMechanics:
    """The heat and mechanics solvers of ``forms`` (:class:`~stimsim.fem.forms.CoupledForms`) with the
    homogeneous Dirichlet conditions ``bcs`` (field -> list)."""

    def __init__(self, forms: CoupledForms, bcs: dict):
        self.forms = forms
        rate, heat_storage = forms.operator_terms[HEAT]
        affine = AffineParts([[forms.operator_static[HEAT][HEAT]]], [(rate, [[heat_storage[HEAT][HEAT]]])])
        heat_block = compiled(forms.operator_blocks[HEAT][HEAT])
        self.heat = DirectSolver(heat_block, bcs[TEMPERATURE], "heat", homogeneous=True, affine=affine)
        mechanics_block = compiled(forms.operator_blocks[MECHANICS][MECHANICS])
        self.mechanics = DirectSolver(mechanics_block, bcs[DISPLACEMENT], "mechanics", homogeneous=True)
        self.coupling = create_matrix(forms.operator_static[MECHANICS][HEAT])
        self.heat_source = create_vector(self.heat.spaces, kind="mpi")
        self.thermal_load = create_vector(self.mechanics.spaces, kind="mpi")

    def prepare(self) -> None:
        """What depends on the coefficients (once per parameter set): the mechanics factorisation, the
        heat operator's parts and the coupling at the current base state, and the unit heat input."""
        forms = self.forms
        self.mechanics.factorize()
        self.heat.refresh_all()
        self.refresh_base()
        forms.heating.value = 1.0
        self.heat.assemble_rhs(forms.first_order[HEAT], self.heat_source)
        forms.heating.value = 0

    def refresh_base(self) -> None:
        """Assemble again what depends on the base state: the static heat operator and the coupling."""
        assemble_into(self.coupling, self.forms.operator_static[MECHANICS][HEAT], [])
        self.heat.refresh()
        self.heat.assemble_parts()

    def solve_heating(self, heating: complex, out: dict) -> None:
        """The temperature of ``heating`` times the unit heat input at the current frequency, then the
        displacement of its thermal load, into ``out`` (name -> Function)."""
        self.heat.factorize()
        self.heat_source.copy(self.heat.rhs)
        self.heat.rhs.scale(heating)
        self.heat.solve_rhs(out[TEMPERATURE])
        self._solve_mechanics(out)

    def solve(self, heat_rhs, mechanics_rhs, out: dict) -> None:
        """Factorise the heat operator at the current frequency and base state, solve it for the linear
        form(s) ``heat_rhs``, then the mechanics for ``mechanics_rhs`` minus the coupling times that
        temperature, into ``out``."""
        self.heat.factorize()
        self.heat.solve(heat_rhs, out[TEMPERATURE])
        self.mechanics.assemble_rhs(mechanics_rhs, self.mechanics.rhs)
        self._solve_mechanics(out, accumulate=True)

    def _solve_mechanics(self, out: dict, accumulate: bool = False) -> None:
        """Mechanics with the right-hand side (the one assembled, if ``accumulate``) minus the coupling
        times the temperature just solved."""
        rhs = self.mechanics.rhs
        if not accumulate:
            with rhs.localForm() as local:
                local.set(0)
        self.coupling.mult(self.heat.solution, self.thermal_load)
        rhs.axpy(-1.0, self.thermal_load)
        self.mechanics.solve_rhs(out[DISPLACEMENT])

    def back_substitute(self, heat_rhs, mechanics_rhs, out: dict) -> None:
        """Solve the latest factorisations for the given right-hand sides (the mechanics' may read
        ``out``'s temperature, solved first)."""
        self.heat.solve(heat_rhs, out[TEMPERATURE])
        self.mechanics.solve(mechanics_rhs, out[DISPLACEMENT])

    def destroy(self) -> None:
        """Free the PETSc objects (collective)."""
        for obj in (self.heat, self.mechanics, self.coupling, self.heat_source, self.thermal_load):
            obj.destroy()
