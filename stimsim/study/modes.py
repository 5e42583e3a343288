"""The modes a study chooses by name, as enums: the study file's strings become these once, when the
study is built (:mod:`stimsim.study.study`), and nothing below compares strings. Each is a
:class:`~enum.StrEnum`, so that it prints, and writes to TOML and CSV, as the study file spells it.
"""

from __future__ import annotations

from enum import StrEnum


class PeriodicMethod(StrEnum):
    """How the periodic state is solved ([solver] periodic): the second-order expansion, harmonic
    balance, time stepping, or 'auto' (the expansion where its validity parameters allow it, else
    harmonic balance)."""

    AUTO = "auto"
    EXPANSION = "expansion"
    HARMONIC_BALANCE = "harmonic_balance"
    TIME_DOMAIN = "time_domain"


class GeometryModel(StrEnum):
    """The geometric model (geometry.model): axisymmetric (r, z) with the tip on the axis, or a 3D box
    with the tip anywhere on its top face."""

    AXISYMMETRIC = "axisymmetric"
    THREE_D = "3d"


class Electrostatics(StrEnum):
    """How charged species move (ions.electrostatics): no charged species (one neutral species),
    their electroneutral pair, or Nernst-Planck-Poisson with the potential solved."""

    NONE = "none"
    ELECTRONEUTRAL = "electroneutral"
    POISSON = "poisson"


class LinearSolver(StrEnum):
    """The linear solver of the coupled ionic system (solver.linear): MUMPS LU, GMRES with a
    field-split algebraic-multigrid preconditioner (3D), or 'auto' (chosen by the model from its
    estimated size: :func:`stimsim.solve.model.linear_solver`)."""

    AUTO = "auto"
    DIRECT = "direct"
    ITERATIVE = "iterative"
