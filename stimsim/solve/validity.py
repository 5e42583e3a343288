"""Validity of the second-order expansion: its small parameters, measured on the solved first order.

The frequency-domain model expands the nonlinear balance about the base state to second order in the
heating amplitude (docs/theory/harmonics.md). The ionic flux J = -D(T) [grad c - (Omega c / (R T)) grad sigma_h]
with D(T) = D_ref exp(-(E_a/R)(1/T - 1/T_amb)) is Taylor-expanded in the first-order fields theta_1,
c_1 and sigma_1 about the local base state (temperature T = T_amb + theta_DC, concentration c_0), so
the expansion holds while these stay small (docs/theory/harmonics.md, 'Validity of the expansion'):

* ``activation``: E_a theta_1 / (R T^2), the change of ln D over an oscillation (ions only; for an
  electroneutral pair the larger barrier of its two species);
* ``temperature``: theta_1 / T, the change of the 1/T factor; at 1 the temperature reaches 0 K;
* ``concentration``: |c_1| / c_0, the change of the mobile population; at 1 it reaches zero (ions only;
  for an electroneutral pair the larger of |c_1|/c_i and w |c_1|/c_p: few electrons swing most);
* ``stress``: Omega sigma_1 / (R T), the stress drive of the ions in units of R T; ions that follow the
  stress reach |c_1|/c_0 of about this (ions only; under Nernst-Planck-Poisson the larger of the two
  species', whose |c_1|/c_0 also counts each species on its own);
* ``potential``: |phi_1| F / (R T), the electric drive of the charged species in units of R T / F
  (Nernst-Planck-Poisson only; its threshold is the stress parameter's by analogy, z F phi_1/(R T)
  entering the flux as Omega sigma_1/(R T) does: not measured);
* ``conductivity``: |k'| theta_1 / k(T), the swing of a temperature-dependent conductivity over an
  oscillation (only with k' != 0: the heat balance is then nonlinear; a temperature-dependent
  expansion alone keeps the expansion exact, its thermal strain being quadratic in theta).

:func:`validity_parameters` evaluates each as its largest value over the domain (all ranks) at the
nodes of the P2 fields: the nodal values, not the maxima between nodes. theta_1, c_1 and sigma_1 are
the sums of the amplitudes of the solved heating harmonics (a bound on the oscillation of a drive
with several, e.g. a Joule drive heating at 1 and 2). Ionic parameters count only where ions move, each
node with the largest coefficient (E_a, Omega) of the cells around it. :data:`THRESHOLDS` are where
the second-order tip displacement u_2 was measured to be 1 % off the nonlinear periodic state
(concentration and stress: the end of the measured range, where it was still within 0.5 %;
docs/validation/verification.md, 'Validity of the expansion'); :func:`exceeded` says which are passed and what
it means. The refusals of a temperature below 0 K or a concentration below zero are
:func:`stimsim.solve.limits.check_first_order`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mpi4py import MPI

from stimsim.physics.coupled import CARRIER, CONCENTRATION, POTENTIAL, STRESS, TEMPERATURE


@dataclass(frozen=True)
class Parameter:
    """A small parameter of the expansion: its ``name`` (key of :func:`validity_parameters`), its
    ``definition``, the ``threshold`` (dimensionless) above which a run warns, what a large value
    ``means`` (a text with ``{value}`` or ``{percent}``), and the measured error C x^p of the
    second-order tip displacement u_2 against the periodic state as ``error`` = (C, p): the threshold
    is where it reaches 1 %. ``error`` is None where no 1 % point was found below the physical limit:
    the threshold is then the end of the measured range (docs/validation/verification.md, 'Validity of the
    expansion'). ``nonlinear``: defined only for a model whose expansion is not exact (mobile ions,
    k' != 0); without any such parameter the first and second orders are exact. ``measured``: False
    for a threshold set by analogy with another parameter's, not by a measurement."""

    name: str
    definition: str
    threshold: float
    means: str
    error: tuple[float, float] | None = None
    nonlinear: bool = True
    measured: bool = True

    def sentence(self, value: float) -> str:
        """What ``value`` above the threshold means, in one sentence."""
        meaning = self.means.format(value=value, percent=100 * value)
        if not self.measured:
            return (f"{self.definition} = {value:.3g} is above {self.threshold:g}, a bound set by analogy with the "
                    f"stress parameter (not measured): {meaning}")
        if self.error is None:
            return (f"{self.definition} = {value:.3g} is above {self.threshold:g}, the end of the measured range "
                    f"(the second-order harmonics within 0.5 % of the periodic state there): {meaning}")
        coefficient, power = self.error
        error = coefficient * value**power
        expected = "50 % or more" if error >= 0.5 else f"about {100 * error:.2g} %"
        return (f"{self.definition} = {value:.3g} is above {self.threshold:g}, where the second-order "
                f"harmonics are 1 % off the periodic state: {meaning}; expect them off by {expected}")


#: The parameters, with the thresholds and errors measured in docs/validation/verification.md.
PARAMETERS = {
    p.name: p
    for p in (
        Parameter(
            "temperature", "theta_1/T", 0.24,
            "the temperature swings by {percent:.2g} % of itself over a period, and the 1/T of the ionic flux with it",
            (0.18, 2.0), nonlinear=False,
        ),
        Parameter(
            "activation", "E_a theta_1/(R T^2)", 0.58,
            "the thermally activated diffusivity swings by a factor e^(+-{value:.2g}) over a period", (0.0285, 1.94),
        ),
        Parameter(
            "concentration", "|c_1|/c_0", 0.75,
            "the mobile population swings by {percent:.2g} % of itself over a period; at 100 % it would reach zero",
        ),
        Parameter(
            "stress", "Omega sigma_1/(R T)", 0.75,
            "ions that follow the stress swing their population by up to {percent:.3g} % of itself over a period",
        ),
        Parameter(
            "potential", "|phi_1| F/(R T)", 0.75,
            "the electric potential swings by {value:.3g} R T/F over a period, and the Boltzmann factors of the "
            "charged species by up to e^(+-z {value:.2g}) with it", measured=False,
        ),
        Parameter(
            "conductivity", "|k'| theta_1/k", 0.14,
            "the thermal conductivity swings by {percent:.2g} % of itself over a period", (0.63, 2.1),
        ),
    )
}

#: Threshold of each parameter (dimensionless): where the second-order response is about 1 % off
#: (concentration and stress: the end of the measured range, below 0.5 % there).
THRESHOLDS: dict[str, float] = {name: p.threshold for name, p in PARAMETERS.items()}


def validity_parameters(model, first_order: dict[int, dict]) -> dict[str, float]:
    """The largest value over the domain of each small parameter (dimensionless; keys of
    :data:`PARAMETERS`, the ionic ones only with mobile ions, ``conductivity`` only with k' != 0) of the solved first order ``first_order``
    (heating harmonic -> field name -> scaled Function, the drive's amplitudes applied, as
    :func:`stimsim.solve.forward.first_order_fields` returns them) about the model's base state. Evaluated
    at the P2 nodes; collective (every rank gets the global maxima)."""
    s, fields = model.scales, model.coefficients.fields
    base = model.base
    temperature = s.ambient_temperature + s.temperature * base[TEMPERATURE].x.array.real  # T (K) at the nodes
    theta = s.temperature * _amplitude(first_order, TEMPERATURE)  # theta_1 (K)
    local = {"temperature": theta / temperature}
    if model.ionic:
        space = model.spaces[TEMPERATURE]
        mobile = _node_values(space, fields["mobile"])
        # E_a/R (K) = activation (E_a/(R T_amb)) * T_amb; Omega sigma_s/R (K) likewise
        activation = _node_values(space, fields["mobile"], fields["activation"]) * s.ambient_temperature
        coupling = _node_values(space, fields["mobile"], fields["stress_coupling"]) * s.ambient_temperature
        concentration = fields["equilibrium"].x.array.real + base[CONCENTRATION].x.array.real  # c_0 / c_s
        excess = _amplitude(first_order, CONCENTRATION)  # |c_1| / c_s
        relative = excess / np.abs(concentration)
        if "partner_weight" in fields:  # an electroneutral pair: the partner's population swings w times c'
            weight = _node_values(space, fields["partner_weight"])
            partner = fields["partner_equilibrium"].x.array.real + weight * base[CONCENTRATION].x.array.real
            relative = np.maximum(relative, weight * excess / np.abs(partner))
        if CARRIER in model.spaces:  # Nernst-Planck-Poisson: the second species' own excess
            partner = fields["partner_equilibrium"].x.array.real + base[CARRIER].x.array.real
            relative = np.maximum(relative, _amplitude(first_order, CARRIER) / np.abs(partner))
            coupling = np.maximum(coupling, _node_values(space, fields["mobile"], fields["partner_stress_coupling"]) * s.ambient_temperature)
        if "partner_activation" in fields:  # two species: the larger barrier
            activation = np.maximum(activation, _node_values(space, fields["mobile"], fields["partner_activation"]) * s.ambient_temperature)
        local["activation"] = activation * theta / temperature**2
        local["concentration"] = np.where(mobile > 0, relative, 0.0)
        local["stress"] = coupling * _amplitude(first_order, STRESS) / temperature
        if POTENTIAL in model.spaces:  # |phi_1| F/(R T): the scaled phi' times c_s/c_ref is in units of R T_amb/F
            coupling = _node_values(space, fields["field_coupling"]) * s.ambient_temperature
            local["potential"] = coupling * _amplitude(first_order, POTENTIAL) / temperature
    if model.conductivity_varies:
        local["conductivity"] = _conductivity_swing(model, first_order)
    maxima = np.array([np.max(values, initial=0.0) for values in local.values()])
    model.domain.comm.Allreduce(MPI.IN_PLACE, maxima, op=MPI.MAX)
    return dict(zip(local, maxima.tolist()))


def _amplitude(first_order: dict[int, dict], name: str) -> np.ndarray:
    """Sum over the heating harmonics of the nodal amplitudes |X_n| of field ``name`` (scaled)."""
    return sum(np.abs(fields[name].x.array) for fields in first_order.values())


def _conductivity_swing(model, first_order: dict[int, dict]) -> np.ndarray:
    """|k'| theta_1 / k(T_0) at the nodes, with k(T_0) = k + k' theta_0 bounded below by k (1 - |k'/k|
    theta_0) (scaled fields: k'/k per scaled temperature times the scaled theta is dimensionless)."""
    fields, space = model.coefficients.fields, model.spaces[TEMPERATURE]
    slope = _node_values(space, fields["conductivity_slope"], reciprocal=fields["conductivity"])  # |k'/k|
    rise = model.base[TEMPERATURE].x.array.real
    return slope * _amplitude(first_order, TEMPERATURE) / np.maximum(1 - slope * rise, np.finfo(float).tiny)


def _node_values(space, *cellwise, reciprocal=None) -> np.ndarray:
    """Nodal values on the scalar P2 ``space`` of |the product of the DG0 ``cellwise`` fields| (divided by
    the DG0 field ``reciprocal`` if given): each node takes the largest value of the cells around it on
    this rank (material interfaces: the larger; the maximum over the ranks covers the cells of the other
    ranks)."""
    dofs = space.dofmap.list  # P2 nodes of each local cell (owned and ghost cells)
    cells = np.abs(np.prod([_cell_values(f, dofs.shape[0]) for f in cellwise], axis=0))
    if reciprocal is not None:
        cells = cells / np.abs(_cell_values(reciprocal, dofs.shape[0]))
    nodes = np.zeros(space.dofmap.index_map.size_local + space.dofmap.index_map.num_ghosts)
    np.maximum.at(nodes, dofs, cells[:, None])
    return nodes


def _cell_values(field, count: int) -> np.ndarray:
    """The real values of the DG0 ``field`` on the first ``count`` local cells."""
    return field.x.array.real[field.function_space.dofmap.list[:count, 0]]


def exceeded(parameters: dict[str, float]) -> list[str]:
    """One sentence per parameter of ``parameters`` (as :func:`validity_parameters` returns them)
    above its threshold: the parameter, its value, the threshold and what it means for the error.
    None without the parameters of a nonlinear model (:attr:`Parameter.nonlinear`): the expansion is
    then exact."""
    if not any(PARAMETERS[name].nonlinear for name in parameters):
        return []
    return [PARAMETERS[name].sentence(value) for name, value in parameters.items() if value > PARAMETERS[name].threshold]


#: Expected error of the second-order harmonics above which [solver] periodic = 'auto' solves the
#: periodic state by harmonic balance instead (between 1 % and this the expansion answers, with a
#: warning: harmonic balance costs 50 to 500 expansion solves, docs/theory/harmonics.md 'Large amplitudes').
AUTO_SWITCH_ERROR = 0.05


def expected_error(parameters: dict[str, float]) -> float:
    """The largest expected relative error of the second-order harmonics from the measured error models
    C x^p of ``parameters``; a parameter without a model counts as infinite above its threshold (beyond
    the measured range) and zero below. Zero where the expansion is exact (no :attr:`Parameter.nonlinear`
    parameter)."""
    if not any(PARAMETERS[name].nonlinear for name in parameters):
        return 0.0
    errors = [0.0]
    for name, value in parameters.items():
        parameter = PARAMETERS[name]
        if parameter.error is not None:
            errors.append(parameter.error[0] * value ** parameter.error[1])
        elif value > parameter.threshold:
            errors.append(float("inf"))
    return max(errors)


#: Columns of validity.csv, in order: one row per drive frequency and parameter (all dimensionless).
COLUMNS = ("drive_frequency_hz", "parameter", "definition", "value", "threshold")


def table_rows(by_frequency: dict[float, dict[str, float]]) -> list[dict]:
    """Rows of validity.csv (:data:`COLUMNS`) of the parameters by drive frequency (Hz)."""
    return [
        dict(drive_frequency_hz=frequency, parameter=name, definition=PARAMETERS[name].definition, value=value,
             threshold=PARAMETERS[name].threshold)
        for frequency, parameters in by_frequency.items() for name, value in parameters.items()
    ]


def largest(by_frequency: dict[float, dict[str, float]]) -> dict[str, float]:
    """The largest value of each parameter over the drive frequencies (Hz) of ``by_frequency``."""
    found: dict[str, float] = {}
    for parameters in by_frequency.values():
        for name, value in parameters.items():
            found[name] = max(found.get(name, 0.0), value)
    return found
