"""Frequency-domain model: base state, first-order harmonics and second-order (combination) harmonics.

:class:`HarmonicModel` is built once per study and communicator from a domain
(:mod:`stimsim.geometry.domain`), the scaled coefficients (:mod:`stimsim.fem.coefficients`) and the coupled forms
(:mod:`stimsim.fem.forms`). Without mobile ions the fields are temperature and displacement, solved one
after the other (:class:`~stimsim.solve.heatmechanics.HeatMechanics`: heat per frequency, mechanics
factorised once). Such a model is linear unless alpha or k depends on the temperature
(:attr:`HarmonicModel.linear`); then its base state is solved by Newton's method and its second order
is not zero.
With ions the hydrostatic stress and the concentration join them and the coupled block system is
solved monolithically with MUMPS (or by the staggered scheme where that is faster), or in 3D with
``[solver] linear = "iterative"`` by GMRES with a field-split preconditioner (:mod:`stimsim.solve.iterative`).

All solves are in scaled units (:mod:`stimsim.physics.scaling`); the heating amplitude 1 is what the
study's drive says (:attr:`stimsim.physics.drives.Drive.scale`). Public interface: the solves
(:meth:`~HarmonicModel.solve_base_state`, :meth:`~HarmonicModel.solve_first_order`,
:meth:`~HarmonicModel.solve_second_order`), extra right-hand sides on the factorisation they keep
(:meth:`~HarmonicModel.factorize`, :meth:`~HarmonicModel.back_substitute`), in-place parameter updates
(:meth:`~HarmonicModel.updates_in_place`, :meth:`~HarmonicModel.set_parameters`) and the tip averages.
The model is a context manager that frees its PETSc objects on exit.
"""

from __future__ import annotations

import logging
import functools
import math
import time

import numpy as np
import ufl
from dolfinx import fem, la
from mpi4py import MPI

from stimsim.core.errors import InputError, SolverError, history
from stimsim.fem.coefficients import (
    Coefficients,
    in_place,
    scales_for,
    thermally_nonlinear,
)
from stimsim.fem.forms import (
    CoupledForms,
    build_forms,
    charged_fields,
    field_spaces,
    functions,
)
from stimsim.fem.response import DiskAverage
from stimsim.geometry.box import estimated_nodes, layer_heights
from stimsim.geometry.meshes import load_domain, mesh_spec
from stimsim.physics.coupled import CONCENTRATION, DISPLACEMENT, STRESS, TEMPERATURE
from stimsim.solve.direct import (
    MAX_DIRECT_3D_DOFS,
    OUT_OF_CORE_ROWS,
    AffineParts,
    DirectSolver,
    ReferenceFactorSolver,
)
from stimsim.solve.heatmechanics import HEAT, MECHANICS, HeatMechanics
from stimsim.solve.iterative import FieldSplitSolver
from stimsim.solve.periodic import HarmonicBalance
from stimsim.solve.staggered import StaggeredSolver
from stimsim.study.modes import LinearSolver
from stimsim.study.schema import flat_keys
from stimsim.study.study import Study

#: Newton iterations of the base state, and the update size (see :func:`relative_update`) that ends them.
NEWTON_ITERATIONS, NEWTON_TOLERANCE = 30, 1e-10
#: Load increments tried in turn for the base state (DC heating and preload).
LOAD_INCREMENTS = (1, 4, 16)
#: Methods of the coupled ionic solve.
METHODS = ("auto", "staggered", "monolithic")


def relative_update(update: fem.Function, field: fem.Function, comm) -> float:
    """max|update| / max(1, max|field|) over all ranks: the scaled perturbations are O(1), but the
    total concentration carries the large base value c0/c_s, whose round-off sets the floor."""
    local = (np.abs(update.x.array).max(initial=0.0), np.abs(field.x.array).max(initial=0.0))
    size, value = (comm.allreduce(v, op=MPI.MAX) for v in local)
    return size / max(1.0, value)


log = logging.getLogger(__name__)

#: Error of the estimate of :func:`estimated_direct_dofs` against the meshes (:data:`stimsim.geometry.box.NODES_FIT`):
#: a model estimated above :data:`MAX_DIRECT_3D_DOFS` by more is refused before meshing, within it a warning.
ESTIMATE_ERROR = 0.1
#: Peak memory (bytes) of a direct (MUMPS) solve of the coupled 3D ionic system of N DOFs on one rank (the
#: model, the staggered trial of method 'auto' and the monolithic factorisation), M (N / N0)^p. With the factors
#: in core: a fit to benchmarks/solvers3d.py (0.87 GB at 23k DOFs, 2.45 GB at 54k, 6.3 GB at 112k; isotropic
#: meshes), within 15 % of benchmarks/threed_defaults.py's graded meshes. From
#: :data:`~stimsim.solve.direct.OUT_OF_CORE_ROWS` DOFs on, with the factors out of core: through
#: benchmarks/mumps3d.py's ceria case, 1.44 GB with the half box (50 394 DOFs, factors forced out of core) and
#: 2.91 GB with the whole box (83 724; the staggered trial's peak, the monolithic solve's is 1.96 GB)
#: (docs/developer/performance.md, '3D solvers'). These peaks include the base state's Newton factorisation;
#: a base state at rest (no DC heating or preload) needs none: the whole box then peaks at 2.01 GB.
DIRECT_MEMORY_FIT = (0.87e9, 23_064, 1.25)
DIRECT_MEMORY_OUT_OF_CORE_FIT = (2.91e9, 83_724, 1.38)
#: solver.linear = 'auto' solves a 3D ionic model directly up to this estimated number of DOFs, iteratively
#: beyond, where the iterative solve takes less time (54k DOFs: 15.7 against 28.7 s CPU) and in core half the
#: memory (docs/developer/performance.md '3D solvers'), unless its mesh has a graded surface layer.
AUTO_DIRECT_DOFS = 45_000

#: Scalar P2 fields of the coupled ionic system (temperature, 3 displacements, stress, concentration), and
#: of heat and mechanics alone.
COUPLED_FIELDS, THERMOELASTIC_FIELDS = 6, 4


def direct_memory(dofs: float) -> float:
    """Estimated peak memory (bytes) of a direct coupled 3D solve of ``dofs`` DOFs on one rank
    (:data:`DIRECT_MEMORY_FIT`, :data:`DIRECT_MEMORY_OUT_OF_CORE_FIT` where the factors go out of core)."""
    fit = DIRECT_MEMORY_FIT if dofs < OUT_OF_CORE_ROWS else DIRECT_MEMORY_OUT_OF_CORE_FIT
    memory, reference, exponent = fit
    return memory * (dofs / reference) ** exponent


def linear_solver(study: Study) -> LinearSolver:
    """The solver of the coupled ionic system (direct or iterative): ``solver.linear``, or for 'auto' the
    iterative solver for a 3D ionic model of more than :data:`AUTO_DIRECT_DOFS` estimated DOFs
    (:func:`stimsim.geometry.box.estimated_nodes`), else the direct one. A mesh with a graded surface layer
    (:func:`stimsim.geometry.box.layer_heights`) is always solved directly: the iterative solver's multigrid
    blocks do not converge on its flat cells (docs/developer/performance.md, '3D solvers'). The choice does not
    depend on the ranks, so 1 and N ranks solve alike; it is made from the study, before meshing."""
    chosen = study.solver.linear
    if chosen != LinearSolver.AUTO:
        return chosen
    spec = mesh_spec(study)
    if spec.gdim != 3 or not study.sample.material.is_ionic or layer_heights(spec):
        return LinearSolver.DIRECT
    large = COUPLED_FIELDS * estimated_nodes(spec) > AUTO_DIRECT_DOFS
    return LinearSolver.ITERATIVE if large else LinearSolver.DIRECT


def estimated_direct_dofs(study: Study) -> int:
    """The DOFs a 3D model of ``study`` would factorise (0 for an axisymmetric one), estimated from its
    mesh spec without meshing (:func:`stimsim.geometry.box.estimated_nodes`): P2 temperature and
    displacement, with mobile ions the stress and concentration; solved iteratively (:func:`linear_solver`)
    only the heat and mechanics of a thermally nonlinear sample (see :meth:`HarmonicModel._check_size`)."""
    spec = mesh_spec(study)
    if spec.gdim != 3:
        return 0
    ionic = study.sample.material.is_ionic
    fields = COUPLED_FIELDS if ionic else THERMOELASTIC_FIELDS
    if ionic and linear_solver(study) == LinearSolver.ITERATIVE:
        fields = THERMOELASTIC_FIELDS if thermally_nonlinear(study) else 0
    return round(fields * estimated_nodes(spec))


def check_estimated_size(study: Study) -> None:
    """Refuse, before any mesh is built, a 3D study whose :func:`estimated_direct_dofs` exceed
    :data:`MAX_DIRECT_3D_DOFS` by more than :data:`ESTIMATE_ERROR`, naming the key that set the mesh level;
    warn within it (the mesh decides)."""
    dofs = estimated_direct_dofs(study)
    if dofs <= MAX_DIRECT_3D_DOFS * (1 - ESTIMATE_ERROR):
        return
    key, value, coarser = study.mesh.level
    message = (f"{value} makes a 3D mesh of about {dofs} DOFs to factorise "
               f"(estimated from the mesh sizing within {ESTIMATE_ERROR:.0%}; about {direct_memory(dofs) / 1e9:.1f} GB "
               f"on one rank), against the {MAX_DIRECT_3D_DOFS} the direct solver handles")
    if dofs <= MAX_DIRECT_3D_DOFS * (1 + ESTIMATE_ERROR):
        log.warning(f"{key} {message}: the run may refuse it once meshed")
        return
    raise InputError(key, f"{message}: {coarser},{_iterative_advice(study)} or raise the lowest diffusivity or lower "
                     "the highest frequency")


def _iterative_advice(study: Study) -> str:
    """' or set solver.linear = ...,' where the iterative solver could take a model the direct one refuses
    (mobile ions, no graded layer, not solved iteratively already), else ''."""
    iterative_fits = study.sample.material.is_ionic and not layer_heights(mesh_spec(study))
    if not iterative_fits or linear_solver(study) == LinearSolver.ITERATIVE:
        return ""
    return " or set solver.linear = 'iterative' (or 'auto'),"


def check_iterative_mesh(study: Study) -> None:
    """Refuse ``solver.linear = 'iterative'`` on a mesh with a graded surface layer, where its multigrid
    blocks do not converge (:func:`linear_solver`)."""
    if study.solver.linear != LinearSolver.ITERATIVE or not study.sample.material.is_ionic:
        return
    spec = mesh_spec(study)
    if spec.gdim == 3 and layer_heights(spec):
        raise InputError(
            "solver.linear", f"= 'iterative' does not converge on this mesh's graded surface layer (the chemical length "
            f"{spec.chemical_length:.3g} m is below the cells at the contact): its multigrid blocks fail on the flat "
            "cells; use 'auto' or 'direct' (the graded mesh is small enough for the direct solver)"
        )


class HarmonicModel:
    """The frequency-domain model of one study on one communicator, reusable across frequencies and
    (in place) across parameter values. ``domain`` defaults to the study's cached mesh on ``comm``;
    ``method`` of the coupled ionic solve: 'auto' (measures both on the first solve and keeps the
    faster), 'staggered' or 'monolithic'."""

    def __init__(self, study: Study, comm: MPI.Comm = MPI.COMM_WORLD, domain=None, method: str = "auto"):
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
        self.ionic = study.sample.material.is_ionic
        #: Whether the coupled ionic system is solved iteratively (:func:`linear_solver`); then monolithically.
        self.iterative = self.ionic and linear_solver(study) == LinearSolver.ITERATIVE
        if (self.iterative or study.poisson) and method == "staggered":
            raise ValueError("method 'staggered' needs solver.linear = 'direct' and no ions.electrostatics = 'poisson'")
        self.study, self.drive = study, study.drive
        # the staggered scheme splits concentration and stress only: Poisson's fields are solved monolithically
        self.method = "monolithic" if self.iterative or study.poisson else method
        if domain is None:
            check_iterative_mesh(study)
            check_estimated_size(study)
        self.domain = domain or load_domain(mesh_spec(study), comm)
        self.scales = scales_for(study)
        self.spaces = field_spaces(self.domain, self.ionic, charged_fields(study))
        self.names = tuple(self.spaces)
        self._check_size()
        self.coefficients = Coefficients(study, self.domain, self.scales, self.spaces.get(CONCENTRATION))
        #: Whether alpha or k depends on the temperature (the alpha' and k' terms are in the forms).
        self.thermally_nonlinear = self.coefficients.thermally_nonlinear
        #: Heat then mechanics: the operator without mobile ions, the ions held immobile with them
        #: (built with ions only for a thermally nonlinear sample, whose non-ionic second order it solves).
        self.heat_mechanics: HeatMechanics | None = None
        self.forms: CoupledForms = build_forms(study, self.domain, self.spaces, self.coefficients, self.scales)
        self.frequency = 0.0
        self.base_state_solved = False
        #: What 'auto' measured on its first coupled solve (None before, or with another method).
        self.method_report: dict | None = None
        self.staggered: StaggeredSolver | None = None
        #: Scaled DC heating of the base state (see :meth:`solve_base_state`).
        self.base_heating = 0.0
        #: How the periodic state was solved at each drive frequency (Hz): :class:`~stimsim.solve.forward.PeriodicReport`.
        self._harmonic_balance = None
        self._without_ions: HarmonicModel | None = None
        self._reference_solvers: dict[float, ReferenceFactorSolver] | None = None
        self._build_solvers()
        self._build_averages()

    # -- construction -------------------------------------------------------------------------

    @functools.cached_property
    def zero_fields(self) -> dict:
        """Zero Functions, one per field, kept by the model: read them, never write them."""
        return self.new_fields("zero")

    def new_fields(self, label: str) -> dict:
        """One new zero Function per field (name -> Function), named ``<field>_<label>``."""
        return functions(self.spaces, label)

    @property
    def linear(self) -> bool:
        """Whether the balance is linear (no mobile ions, constant alpha and k): the base state does not
        change the operator and the second order is zero."""
        return not self.ionic and not self.thermally_nonlinear

    @property
    def conductivity_varies(self) -> bool:
        """Whether the conductivity of any material depends on the temperature (k' != 0): the heat
        balance is then nonlinear, unlike with alpha' alone."""
        return any(m.thermal_conductivity_derivative != 0 for m in self.study.sample.materials())

    def _check_size(self) -> None:
        """Refuse a 3D model too large for the direct solver on this machine class (see
        :data:`MAX_DIRECT_3D_DOFS`) before anything is factorised. With ``[solver] linear = 'iterative'``
        the coupled ionic system is not factorised; heat and mechanics (without ions, or for alpha(T)
        and k(T)) still are, and their DOFs count."""
        if self.domain.mesh.topology.dim != 3:
            return
        direct = self.num_dofs
        if self.iterative:  # only with ions: the coupled system is not factorised
            direct = 0 if not thermally_nonlinear(self.study) else sum(
                self._field_dofs(name) for name in (TEMPERATURE, DISPLACEMENT)
            )
        if direct > MAX_DIRECT_3D_DOFS:
            key, value, coarser = self.study.mesh.level
            raise InputError(
                key, f"{value}: the 3D mesh has {direct} DOFs to factorise, more than the direct solver handles "
                f"({MAX_DIRECT_3D_DOFS}: 184k DOFs took 7 min on one rank, docs/developer/performance.md): "
                f"{coarser},{_iterative_advice(self.study)} or raise the lowest diffusivity or lower the highest frequency"
            )

    def _field_dofs(self, name: str) -> int:
        """Global number of degrees of freedom of the field ``name``."""
        V = self.spaces[name]
        return V.dofmap.index_map.size_global * V.dofmap.index_map_bs

    def _build_solvers(self) -> None:
        bcs = self._boundary_conditions()
        self.bcs = [bc for name in self.names for bc in bcs[name]]
        forms = self.forms
        if not self.ionic or self.thermally_nonlinear:
            self.heat_mechanics = HeatMechanics(forms, bcs)
            self.heat_mechanics.prepare()
        if self.ionic:
            affine = AffineParts(forms.operator_static, forms.operator_terms)
            if self.iterative:
                self.coupled_solver = FieldSplitSolver(forms, self.bcs, affine, self.coefficients.fields)
            else:
                self.coupled_solver = DirectSolver(forms.operator, self.bcs, "coupled", homogeneous=True, affine=affine)
            if self.method != "monolithic":
                self.staggered = StaggeredSolver(self, bcs)

    def _boundary_conditions(self) -> dict:
        """Homogeneous Dirichlet conditions per field (perturbations and Newton updates)."""
        zero, far = np.complex128(0), self.domain.far_facets()
        fdim = self.domain.mesh.topology.dim - 1

        def vanishing(V):
            value = zero if V.dofmap.index_map_bs == 1 else np.zeros(V.dofmap.index_map_bs, dtype=np.complex128)
            return fem.dirichletbc(value, fem.locate_dofs_topological(V, fdim, far), V)

        V_u = self.spaces[DISPLACEMENT]
        bcs = {
            TEMPERATURE: [vanishing(self.spaces[TEMPERATURE])],
            DISPLACEMENT: [vanishing(V_u), *self.domain.symmetry_conditions(V_u)],
        }
        if self.ionic:
            bcs[STRESS] = []
            immobile = self.immobile_dofs()
            for name in (CONCENTRATION, *charged_fields(self.study)):  # c' = 0 and phi' = 0 far away
                V = self.spaces[name]
                bcs[name] = [vanishing(V)]
                if immobile.size:
                    bcs[name].append(fem.dirichletbc(zero, immobile, V))
        return bcs

    def immobile_dofs(self) -> np.ndarray:
        """Concentration DOFs (local indices, the same in every scalar P2 space of the model) that touch
        no cell with mobile ions on any rank."""
        V = self.spaces[CONCENTRATION]
        cells = self.domain.mesh.topology.index_map(self.domain.mesh.topology.dim)
        indicator = self.coefficients.fields["mobile"].x.array.real
        mobile = np.flatnonzero(indicator[: cells.size_local + cells.num_ghosts] > 0.5)
        touched = fem.Function(V)
        touched.x.array[V.dofmap.list[mobile].ravel()] = 1.0
        touched.x.scatter_reverse(la.InsertMode.add)
        touched.x.scatter_forward()
        return np.flatnonzero(touched.x.array.real == 0).astype(np.int32)

    def _build_averages(self) -> None:
        domain, tip = self.domain, self.study.tip
        self.tip_temperature = DiskAverage(
            domain, ufl.TestFunction(self.spaces[TEMPERATURE]), self.drive.heated_radius, "uniform"
        )
        self.tip_displacement = DiskAverage(
            domain, domain.vertical(ufl.TestFunction(self.spaces[DISPLACEMENT])), tip.contact_radius, tip.weighting
        )

    # -- parameters ---------------------------------------------------------------------------

    def updates_in_place(self, study: Study) -> bool:
        """Whether :meth:`set_parameters` can turn this model into one of ``study`` (on a mesh valid for
        both): they differ only in in-place keys (:func:`stimsim.fem.coefficients.in_place`: material
        properties, a grain boundary's core and grain beyond included), with the same heating scale, the
        same mobile ions and alpha and k both constant or not (the forms carry the alpha' and k' terms
        only where some material has them)."""
        old, new = flat_keys(self.study.resolved, arrays=True), flat_keys(study.resolved, arrays=True)
        changed = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
        return (
            all(in_place(k) for k in changed)
            and study.drive.scale == self.drive.scale
            and study.sample.material.is_ionic == self.ionic
            and thermally_nonlinear(study) == self.thermally_nonlinear
        )

    def set_parameters(self, study: Study) -> None:
        """Rewrite every study-dependent coefficient in place for ``study`` (no recompilation, no new
        PETSc objects); see :meth:`updates_in_place`. Frequency-independent factorisations and
        assemblies are redone; the base state must be solved again."""
        if not self.updates_in_place(study):
            raise ValueError("set_parameters: the study differs in more than the in-place keys; build a new model")
        self.study, self.drive = study, study.drive
        self.coefficients.update(study)
        if self.heat_mechanics is not None:
            self.heat_mechanics.prepare()
        if self.ionic:
            self.coupled_solver.refresh_all()
        if self.staggered is not None:
            self.staggered.refactorize_static()
        self.base_state_solved = False

    # -- solving ------------------------------------------------------------------------------

    @property
    def base(self) -> dict:
        """The base-state fields (scaled, total; name -> Function). Read them; change them through
        :meth:`solve_base_state` or :meth:`set_base_state`."""
        return self.forms.base

    def set_frequency(self, frequency: float) -> None:
        """Make ``frequency`` (Hz) the one the operator forms are evaluated at."""
        self.frequency = frequency
        omega = 2 * math.pi * frequency
        self.forms.rates[TEMPERATURE].value = omega * self.scales.time
        if self.ionic:  # one rate for every species (forms.build_forms)
            self.forms.rates[CONCENTRATION].value = omega * self.scales.ionic_time

    def set_base_state(self, values: dict) -> None:
        """Set the base state to ``values`` (name -> array or Function of scaled total fields), e.g. a
        state of a slow time-domain run."""
        for name, f in self.base.items():
            value = values[name]
            f.x.array[:] = value.x.array if isinstance(value, fem.Function) else value
        self._base_state_changed()

    def solve_base_state(self, dc_heating: float) -> None:
        """Steady state under the DC heating ``dc_heating`` (in units of the drive's scale), by Newton's
        method on the nonlinear balance (one heat and one mechanics solve for a linear one)."""
        for f in self.base.values():
            f.x.array[:] = 0
        self.set_frequency(0.0)
        heating = self.forms.heating
        heating.value = dc_heating
        if not self.linear:
            self._continuation(dc_heating)
        elif dc_heating:
            self.heat_mechanics.solve_heating(dc_heating, self.forms.solution)
            for name in self.names:
                self.base[name].x.array[:] = self.forms.solution[name].x.array
        heating.value = 0
        self.base_heating = dc_heating
        self._base_state_changed()

    def _base_state_changed(self) -> None:
        """The operators are the Jacobian at the base state, to be assembled again (none depends on it
        in a linear model)."""
        if self.ionic:
            self.coupled_solver.refresh()
        if self.thermally_nonlinear:
            self.heat_mechanics.refresh_base()
        self.base_state_solved = True

    def _continuation(self, dc_heating: float) -> None:
        """Newton from the unloaded state; if it fails, in more and more load increments."""
        forms = self.forms
        for increments in LOAD_INCREMENTS:
            for f in self.base.values():
                f.x.array[:] = 0
            try:
                for step in range(1, increments + 1):
                    forms.heating.value = dc_heating * step / increments
                    forms.preload_fraction.value = step / increments
                    self._newton()
                return
            except SolverError:
                if increments == LOAD_INCREMENTS[-1]:
                    raise

    def _newton(self) -> None:
        if self._at_rest():
            return
        update, sizes = self.new_fields("update"), []
        for iteration in range(1, NEWTON_ITERATIONS + 1):
            self._newton_step(update)
            size = 0.0
            for name in self.names:
                self.base[name].x.array[:] += update[name].x.array
                size = max(size, relative_update(update[name], self.base[name], self.domain.comm))
            if size < NEWTON_TOLERANCE:
                return
            sizes.append(size)
        raise SolverError(
            f"base state: Newton did not converge in {NEWTON_ITERATIONS} iterations; relative updates "
            f"{history(sizes)} (tolerance {NEWTON_TOLERANCE:g})"
        )

    def _at_rest(self) -> bool:
        """True when the balance's residual F - R is exactly zero at the current iterate, on every rank:
        the base state without DC heating, preload or any other load (Newton's update would be exactly
        zero, and computing it costs a factorisation of the coupled system: a third of a 3D position)."""
        local = max(np.abs(fem.assemble_vector(form).array).max(initial=0.0) for form in self.forms.newton)
        return self.domain.comm.allreduce(local, op=MPI.MAX) == 0.0

    def _newton_step(self, update: dict) -> None:
        """The Newton update J update = F - R at the latest iterate: the coupled solve with ions, else
        heat then mechanics (the Jacobian is block lower-triangular)."""
        newton = self.forms.newton
        if self.ionic:
            self.coupled_solver.refresh()
            self.coupled_solver.factorize()
            self.coupled_solver.solve(newton, [update[n] for n in self.names])
            return
        self.heat_mechanics.refresh_base()
        self.heat_mechanics.solve(newton[HEAT], newton[MECHANICS], update)

    def solve_first_order(self, frequency: float) -> dict:
        """Fields (scaled) of the response at ``frequency`` (Hz) to the unit heating harmonic; copies."""
        self._require_base_state()
        self.set_frequency(frequency)
        self.forms.heating.value = 1.0
        if self.ionic:
            self._solve_coupled("first", self.forms.first_order)
        else:
            self.heat_mechanics.solve_heating(1.0, self.forms.solution)
        self.forms.heating.value = 0
        return self._copy(self.forms.solution)

    def solve_second_order(self, frequency: float, first: dict, second: dict, weight: float) -> dict:
        """Fields at ``frequency`` (Hz) driven by weight * (-R''[first, second]) (weight 1/4 for a
        harmonic with itself, 1/2 for two different ones); copies. Zero for a linear model
        (:attr:`linear`): the model's one read-only set of zero fields."""
        if self.linear:
            return self.zero_fields
        self._set_directions(frequency, first, second, weight)
        if self.ionic:
            self._solve_coupled("second", self.forms.second_order)
        else:
            self._solve_nonionic(self.forms.solution)
        return self._copy(self.forms.solution)

    def solve_nonionic_second_order(self, frequency: float, first: dict, second: dict, weight: float) -> dict | None:
        """The non-ionic part of :meth:`solve_second_order`: the response of the sample with the ions
        held immobile (temperature and displacement; no concentration change) to the heat and
        mechanics rows of its source, i.e. to the alpha' and k' terms (the only ones without ions).
        None when alpha and k are constant (the part is zero); without ions the whole second order."""
        if not self.thermally_nonlinear:
            return None
        if not self.ionic:
            return self.solve_second_order(frequency, first, second, weight)
        self._set_directions(frequency, first, second, weight)
        out = self.new_fields("nonionic")
        self._solve_nonionic(out)
        return out

    def _set_directions(self, frequency: float, first: dict, second: dict, weight: float) -> None:
        """The second-order source's directions (weight * first, second) and the frequency (Hz)."""
        self._require_base_state()
        forms = self.forms
        for name in self.names:
            forms.direction_a[name].x.array[:] = weight * first[name].x.array
            forms.direction_b[name].x.array[:] = second[name].x.array
        self.set_frequency(frequency)

    def _solve_nonionic(self, out: dict) -> None:
        """Heat, then mechanics with the ions immobile, for the second-order source into ``out``."""
        second = self.forms.second_order
        self.heat_mechanics.solve(second[HEAT], second[MECHANICS], out)

    def factorize(self, frequency: float, heating: complex = 0.0) -> None:
        """Factorise the operator at ``frequency`` (Hz) about the current base state, with the scaled
        ``heating`` in the balance (it matters for a heater's contact only through the base state), for
        :meth:`back_substitute`."""
        self.set_frequency(frequency)
        self.forms.heating.value = heating
        (self.coupled_solver if self.ionic else self.heat_mechanics.heat).factorize()
        self.forms.heating.value = 0

    def back_substitute(self, right_hand_sides, out: dict) -> list[dict]:
        """Solve the operator of the latest solve (or :meth:`factorize`) for every set of right-hand
        sides that ``right_hand_sides`` yields (per field, in :attr:`names` order: a compiled linear
        form or a tuple of them, summed; each set is assembled when yielded, so a generator may first
        set the coefficients its forms read); returns the solutions as new fields (name -> Function),
        in order. With ions the fields are solved together, every set in one back-substitution of
        the block of them (:meth:`~stimsim.solvers.DirectSolver.solve_many`); without, set by set into
        ``out`` (name -> Function), the temperature first and then the displacement, whose right-hand
        side may read ``out``'s temperature. Costs back-substitutions only."""
        found = []
        if not self.ionic:
            for rhs in right_hand_sides:
                self.heat_mechanics.back_substitute(*_as_tuples(rhs), out)
                found.append(self._copy(out))
            return found

        def problems():
            for rhs in right_hand_sides:
                found.append(self.new_fields("back_substituted"))
                yield tuple(zip(*_as_tuples(rhs))), [found[-1][n] for n in self.names]

        self.coupled_solver.solve_many(problems())
        return found

    def harmonic_balance(self):
        """The model's :class:`~stimsim.solve.periodic.HarmonicBalance` (built, and its forms compiled, on the
        first call)."""
        if self._harmonic_balance is None:
            self._harmonic_balance = HarmonicBalance(self)
        return self._harmonic_balance

    def without_ions(self) -> HarmonicModel:
        """The model of the same sample on the same mesh with the ions held immobile (the study's
        :attr:`~stimsim.study.study.Study.immobile` companion), whose periodic state defines the
        'nonionic' rows of the periodic methods. Built on the first call and kept; later calls rewrite
        its parameters in place where the study changed."""
        immobile = self.study.immobile
        if immobile is None:
            raise ValueError("the study has no immobile companion: it needs mobile ions and a temperature-dependent alpha or k")
        if self._without_ions is None:
            self._without_ions = HarmonicModel(immobile, self.domain.comm, self.domain)
        elif self._without_ions.study.resolved != immobile.resolved:
            self._without_ions.set_parameters(immobile)
        return self._without_ions

    def freeze_operators(self) -> None:
        """From now on solve the coupled first and second orders at each frequency by GMRES
        preconditioned with the LU factors of that frequency's operator at the base state of its first
        solve (:class:`~stimsim.solve.direct.ReferenceFactorSolver`): for a base state that moves slowly
        (slow modulation), a solve then costs a few back-substitutions. :meth:`thaw_operators` ends it.
        The iterative solver (``[solver] linear``) factorises nothing and is kept as it is."""
        if self.ionic and not self.iterative and self._reference_solvers is None:
            self._reference_solvers = {}

    def thaw_operators(self) -> None:
        """Free the reference factorisations of :meth:`freeze_operators` and return to direct solves."""
        for solver in (self._reference_solvers or {}).values():
            solver.destroy()
        self._reference_solvers = None

    def frozen_statistics(self) -> dict:
        """Totals over the reference solvers of :meth:`freeze_operators`: 'solves', 'iterations' (GMRES)
        and 'factorizations'."""
        solvers = list((self._reference_solvers or {}).values())
        return {
            "solves": sum(s.solves for s in solvers),
            "iterations": sum(s.iterations for s in solvers),
            "factorizations": sum(s.factorizations for s in solvers),
        }

    def _solve_frozen(self, forms: list) -> None:
        if self.frequency not in self._reference_solvers:
            self._reference_solvers[self.frequency] = ReferenceFactorSolver(self.forms.operator, self.bcs, "coupled_reference", homogeneous=True)
        solver = self._reference_solvers[self.frequency]
        solver.factorize()
        solver.solve(forms, [self.forms.solution[n] for n in self.names])

    def _solve_coupled(self, label: str, monolithic_forms: list) -> None:
        """The coupled solve by the chosen method. 'auto' times both on its first solve and keeps the
        faster one (the staggered one only if it converged); :attr:`method_report` says what it saw. The
        staggered solver's factorisations are freed once it cannot be chosen, before the monolithic
        factorisation where it did not converge (on the 3D ceria case, whole box, 1.1 GB of a 5.3 GB peak).
        Frozen operators (:meth:`freeze_operators`) take precedence."""
        if self._reference_solvers is not None:
            self._solve_frozen(monolithic_forms)
            return
        if self.method == "staggered":
            converged, sweeps, contraction = self.staggered.solve(label)
            if not converged:
                raise SolverError(
                    f"staggered solve did not converge ({sweeps} sweeps, contraction {contraction:.2f}); "
                    "use the monolithic method"
                )
            return
        if self.method == "auto":
            start = time.perf_counter()
            converged, sweeps, contraction = self.staggered.solve(label)
            staggered_time = time.perf_counter() - start
            if not converged:
                self._drop_staggered()
        start = time.perf_counter()
        self.coupled_solver.factorize()
        self.coupled_solver.solve(monolithic_forms, [self.forms.solution[n] for n in self.names])
        if self.method == "auto":
            monolithic_time = time.perf_counter() - start
            faster = converged and staggered_time < monolithic_time
            self.method = "staggered" if faster else "monolithic"
            if not faster:
                self._drop_staggered()
            self.method_report = dict(
                converged=converged, sweeps=sweeps, contraction=contraction, chosen=self.method,
                staggered_seconds=staggered_time, monolithic_seconds=monolithic_time,
            )

    def _drop_staggered(self) -> None:
        """Free the staggered solver (the coupled system is solved monolithically from now on)."""
        if self.staggered is not None:
            self.staggered.destroy()
            self.staggered = None

    def _require_base_state(self) -> None:
        if not self.base_state_solved:
            self.solve_base_state(0.0)

    @staticmethod
    def _copy(fields: dict) -> dict:
        return {name: f.copy() for name, f in fields.items()}

    # -- outputs ------------------------------------------------------------------------------

    def tip_values(self, fields: dict) -> tuple[complex, complex]:
        """(tip displacement in m, tip temperature in K) of scaled ``fields``."""
        return (
            complex(self.tip_displacement(fields[DISPLACEMENT]) * self.scales.displacement),
            complex(self.tip_temperature(fields[TEMPERATURE]) * self.scales.temperature),
        )

    def tip_per_heater(self, unit_fields: dict) -> complex:
        """The sample's tip temperature per heater temperature of the unit first-order ``unit_fields``
        of a heater drive (Z in :class:`~stimsim.physics.drives.HeaterBalance`)."""
        return self.tip_values(unit_fields)[1] / self.scales.temperature

    @property
    def num_dofs(self) -> int:
        """Global number of degrees of freedom of all fields."""
        return sum(self._field_dofs(name) for name in self.names)

    def destroy(self) -> None:
        """Free the PETSc objects (collective)."""
        if self.ionic:
            self.coupled_solver.destroy()
        if self.heat_mechanics is not None:
            self.heat_mechanics.destroy()
        if self.staggered is not None:
            self.staggered.destroy()
        if self._harmonic_balance is not None:
            self._harmonic_balance.destroy()
        if self._without_ions is not None:
            self._without_ions.destroy()
        self.thaw_operators()

    def __enter__(self) -> HarmonicModel:
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()


def _as_tuples(right_hand_sides: list) -> list[tuple]:
    return [rhs if isinstance(rhs, tuple) else (rhs,) for rhs in right_hand_sides]
