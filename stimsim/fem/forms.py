"""The coupled forms of a model, built once: one immutable bundle (:class:`CoupledForms`).

The balance is written once for the total fields (:func:`stimsim.physics.coupled.static_residual`,
plus the drive's heat input and the Hertz preload). Every operator is a UFL derivative of it about the
base state: the frequency-domain operator L(i w) = i w M + R'[.], the Newton load F - R(X0) of the
base state, and the second-order source -R''[a, b] along the direction functions a and b
(docs/theory/harmonics.md). The Functions in the bundle (base state, directions, solution) are the places the
compiled forms read; their values change, the bundle does not.

Quadrature. UFL's degree estimate of the ionic terms (the exponential of the thermal activation, 1/T,
and their derivatives) reaches 21 to 29, most of the assembly time. Every integral is capped at
:data:`QUADRATURE_DEGREE`, which integrates the polynomial part of every term exactly (P2 fields,
products of two of them with two gradients and the weight r: degree 7): exact for a uniform base
state, and a quadrature error of the smooth activation factor otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import ufl
from dolfinx import fem
from ufl.algorithms import expand_derivatives
from ufl.algorithms.estimate_degrees import estimate_total_polynomial_degree

from stimsim.physics import mechanics
from stimsim.physics.coupled import (
    CARRIER, CONCENTRATION, DISPLACEMENT, POTENTIAL, SPECIES_FIELDS, STRESS, TEMPERATURE, static_residual, storage,
)
from stimsim.fem.response import hertz_weight

#: Polynomial degree of every field.
DEGREE = 2
#: Largest quadrature degree of any integral (see the module docstring).
QUADRATURE_DEGREE = 8


def field_spaces(domain, ionic: bool, charged: tuple[str, ...] = ()) -> dict:
    """P2 spaces of the fields: temperature and displacement, with mobile ions the hydrostatic stress
    and the concentration excess, then the ``charged`` fields of Nernst-Planck-Poisson (:func:`charged_fields`)."""
    mesh = domain.mesh
    spaces = {
        TEMPERATURE: fem.functionspace(mesh, ("Lagrange", DEGREE)),
        DISPLACEMENT: fem.functionspace(mesh, ("Lagrange", DEGREE, domain.displacement_shape)),
    }
    if ionic:
        spaces[STRESS] = fem.functionspace(mesh, ("Lagrange", DEGREE))
        spaces[CONCENTRATION] = fem.functionspace(mesh, ("Lagrange", DEGREE))
    for name in charged:
        spaces[name] = fem.functionspace(mesh, ("Lagrange", DEGREE))
    return spaces


def charged_fields(study) -> tuple[str, ...]:
    """The fields Nernst-Planck-Poisson adds to the ionic ones: the second species' excess (with two
    species) and the potential perturbation; none otherwise."""
    if not study.poisson:
        return ()
    return (CARRIER, POTENTIAL) if len(study.sample.species) == 2 else (POTENTIAL,)


def compiled(form):
    """``form`` (UFL; a list of linear forms or a list of lists of bilinear blocks) compiled with every
    integral's quadrature degree capped at :data:`QUADRATURE_DEGREE`. A form that is zero becomes an
    empty linear form, or None as a block."""
    if isinstance(form, (list, tuple)):
        return [compiled(f) for f in form]
    if not isinstance(form, ufl.Form):
        return fem.form(form)
    arguments = form.arguments()
    form = capped(form)
    if form.empty():
        return fem.form(ufl.ZeroBaseForm(arguments)) if len(arguments) == 1 else None
    return fem.form(form)


def capped(form: ufl.Form) -> ufl.Form:
    """``form`` with derivatives expanded and every integral's quadrature degree at most
    :data:`QUADRATURE_DEGREE`."""
    form = expand_derivatives(form)
    integrals = []
    for integral in form.integrals():
        metadata = dict(integral.metadata())
        if "quadrature_degree" not in metadata:
            degree = estimate_total_polynomial_degree(integral.integrand())
            metadata["quadrature_degree"] = min(degree, QUADRATURE_DEGREE)
        integrals.append(integral.reconstruct(metadata=metadata))
    return ufl.Form(integrals)


def functions(spaces: dict, label: str) -> dict:
    """One new Function per field, named ``<field>_<label>``."""
    return {name: fem.Function(V, name=f"{name}_{label}") for name, V in spaces.items()}


@dataclass(frozen=True)
class CoupledForms:
    """The forms of one model. UFL: ``tests`` (per field), ``balance`` (static residual per field at
    the total fields ``base``), ``heat_input`` (the heating linear form, times ``heating``),
    ``static_blocks`` (R' at the base state per pair of fields), ``operator_blocks`` (L(i w) per pair
    of fields, with ``rates`` = w t per stored field) and
    ``sources`` ('first': the heating; 'second': -R''[``direction_a``, ``direction_b``]). Compiled:
    ``operator`` (the block operator), its affine parts ``operator_static`` (R' at the base state, per
    block) and ``operator_terms`` ((rate Constant, blocks of i times the storage) per stored field),
    ``first_order`` and ``second_order`` (right-hand sides per field) and ``newton`` (F - R per field,
    for a nonlinear balance: with ions, or alpha or k depending on the temperature)."""

    names: tuple[str, ...]
    spaces: dict
    tests: dict
    base: dict
    solution: dict
    direction_a: dict
    direction_b: dict
    heating: fem.Constant
    preload_fraction: fem.Constant
    rates: dict
    balance: dict
    heat_input: object
    static_blocks: list
    operator_blocks: list
    sources: dict
    operator: object
    operator_static: list
    operator_terms: list
    first_order: list
    second_order: list
    newton: list | None

    @property
    def ionic(self) -> bool:
        return CONCENTRATION in self.spaces


def build_forms(study, domain, spaces: dict, coefficients, scales) -> CoupledForms:
    """The coupled forms of ``study`` on ``domain`` with the scaled ``coefficients``."""
    mesh = domain.mesh
    names = tuple(spaces)
    k = coefficients.fields
    base, solution = functions(spaces, "base"), functions(spaces, "solution")
    direction_a, direction_b = functions(spaces, "a"), functions(spaces, "b")
    heating, preload_fraction = fem.Constant(mesh, 0j), fem.Constant(mesh, 0j)
    ionic_rate = fem.Constant(mesh, 0j)  # every species diffuses on the ionic time scale
    rates = {TEMPERATURE: fem.Constant(mesh, 0j)} | {name: ionic_rate for name in SPECIES_FIELDS}
    trials = {name: ufl.TrialFunction(V) for name, V in spaces.items()}
    tests = {name: ufl.TestFunction(V) for name, V in spaces.items()}
    exchange = domain.top_surface() if study.ions.surface == "exchange" else None
    residual = static_residual(base, tests, k, domain, exchange, study.ions.exchange_equilibrium == "stress_free")
    heat = study.drive.heat_input(domain, base[TEMPERATURE], tests[TEMPERATURE], heating, coefficients.contact, scales.power)
    if heat.exchange is not None:
        residual[TEMPERATURE] += heat.exchange
    if study.tip.force:
        residual[DISPLACEMENT] -= _preload(study, domain, scales, preload_fraction, tests[DISPLACEMENT])
    stored = storage(trials, tests, k, domain)
    static = [[ufl.derivative(residual[i], base[j], trials[j]) for j in names] for i in names]
    blocks = [[static[a][b] + (1j * rates[i] * stored[i] if i == j and i in stored else 0) for b, j in enumerate(names)]
              for a, i in enumerate(names)]
    terms = [(rates[i], [[_storage_block(i, row, j, stored, tests, trials) for j in names] for row in names])
             for i in names if i in stored]
    zero = {name: ufl.ZeroBaseForm((tests[name],)) for name in names}
    first = {name: heat.source if name == TEMPERATURE else zero[name] for name in names}
    second = {name: _second_derivative(residual[name], base, direction_a, direction_b) for name in names}
    ionic = CONCENTRATION in spaces
    nonlinear = ionic or coefficients.thermally_nonlinear
    return CoupledForms(
        names=names, spaces=spaces, tests=tests, base=base, solution=solution, direction_a=direction_a,
        direction_b=direction_b, heating=heating, preload_fraction=preload_fraction, rates=rates,
        balance=residual, heat_input=heat.source, static_blocks=static,
        operator_blocks=blocks, sources={"first": first, "second": second},
        operator=compiled(blocks) if ionic else None,
        operator_static=compiled(static), operator_terms=terms,
        first_order=[compiled(first[name]) for name in names],
        second_order=[compiled(second[name]) for name in names],
        newton=[compiled(first[name] - residual[name]) for name in names] if nonlinear else None,
    )


def local_vegard_coupling(forms: CoupledForms, k: dict):
    """The concentration row's coupling to the hydrostatic stress with the stress replaced by its local
    dependence on the concentration, -K tr(e*_Vegard) = -3 K (Omega/3) c (UFL, a concentration-concentration
    block; ``k``: the scaled coefficient fields). Added to the diffusion block it gives the
    stress-enhanced diffusion of a constrained layer: the Schur complement of the stress projection,
    the projection taken as local (the non-local part goes through the displacement)."""
    trial = ufl.TrialFunction(forms.spaces[CONCENTRATION])
    vegard = mechanics.vegard_eigenstrain(trial, 0, k["vegard"])
    local = -mechanics.bulk_modulus(k["lame_lambda"], k["shear_modulus"]) * ufl.tr(vegard)
    row, column = forms.names.index(CONCENTRATION), forms.names.index(STRESS)
    coupling = expand_derivatives(forms.operator_blocks[row][column])
    return ufl.replace(coupling, {coupling.arguments()[1]: local})


def _storage_block(field: str, row: str, column: str, stored: dict, tests: dict, trials: dict):
    """Block (row, column) of i times the storage of ``field``: the storage on its diagonal block, an
    empty form on the other diagonal blocks (so that every row and column has a space), else None."""
    if row != column:
        return None
    if row == field:
        return compiled(1j * stored[field])
    return fem.form(ufl.ZeroBaseForm((tests[row], trials[column])))


def _preload(study, domain, scales, fraction, v):
    """Hertz pressure p0 sqrt(1 - r^2/a^2) pushing on the contact disk (scaled), a base-state load."""
    tip = study.tip
    pressure = fraction * tip.hertz_pressure / scales.stress
    disk = domain.disk(tip.contact_radius)
    return -pressure * hertz_weight(domain.lateral_distance, 1.0) * ufl.conj(domain.vertical(v)) * domain.weight * disk


def _second_derivative(form, base: dict, a: dict, b: dict):
    """-R''[a, b]: the second derivative of ``form`` about ``base`` along the direction sets a and b."""
    first = sum(ufl.derivative(form, base[n], a[n]) for n in base)
    return -sum(ufl.derivative(first, base[n], b[n]) for n in base)
