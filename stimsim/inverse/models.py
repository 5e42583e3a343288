"""Candidate models of one measurement: the ``[[fit.models]]`` tables of a study.

Each table names a model (``name``), the parameters fitted in it (``params``, fit-parameter names as
in ``[fit] parameters``) and the study overrides that make it (``set``, dotted study key -> value,
e.g. ``{ "sample.properties.concentration" = 0.0 }`` for "no mobile ions"). Every model is fitted to
the same data and the models are compared (:mod:`stimsim.inverse.fit`), or told apart by a
measurement design (:mod:`stimsim.inverse.design`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stimsim.core.errors import InputError, suggest
from stimsim.inverse.forward_model import with_values
from stimsim.study.schema import flat_keys
from stimsim.study.study import Study

#: Keys of one [[fit.models]] table.
MODEL_KEYS = ("name", "params", "set")


@dataclass(frozen=True)
class ModelSpec:
    """One candidate model: its ``name``, the fit-parameter names it fits (``parameters``) and the
    study overrides (dotted study key -> value, SI) that make it from the study."""

    name: str
    parameters: tuple[str, ...]
    overrides: dict = field(default_factory=dict)

    def study(self, study: Study, where: str = "fit.models") -> Study:
        """``study`` with this model's overrides, validated again; an InputError names ``where``.set."""
        try:
            return with_values(study, self.overrides) if self.overrides else study
        except InputError as err:
            raise InputError(f"{where}.set", f"of model {self.name!r}: {err}") from None


def model_specs(study: Study) -> list[ModelSpec]:
    """The [[fit.models]] tables of ``study``, validated (names unique and non-empty, ``params`` a
    non-empty list of names, ``set`` a table whose keys the study accepts); [] without them."""
    tables = study.extensions.get("fit", {}).get("models", []) if isinstance(study.extensions.get("fit"), dict) else []
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise InputError("fit.models", "must be an array of tables ([[fit.models]])")
    specs, names = [], set()
    for i, table in enumerate(tables):
        where = f"fit.models[{i}]"
        for key in table:
            if key not in MODEL_KEYS:
                raise InputError(f"{where}.{key}", f"is not a [[fit.models]] key{suggest(key, MODEL_KEYS)} (keys: {', '.join(MODEL_KEYS)})")
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{where}.name", f"must be a non-empty string, got {name!r}")
        if name in names:
            raise InputError(f"{where}.name", f"= {name!r} names two models; give each model its own name")
        names.add(name)
        params = table.get("params")
        if not isinstance(params, list) or not params or not all(isinstance(p, str) for p in params):
            raise InputError(f"{where}.params", f"must be a non-empty list of fit-parameter names, got {params!r}")
        overrides = table.get("set", {})
        if not isinstance(overrides, dict):
            raise InputError(f"{where}.set", f"must be a table of study keys and values, got {overrides!r}")
        spec = ModelSpec(name, tuple(params), flat_keys(overrides))  # nested tables as dotted keys
        spec.study(study, where)  # every key known and every value in range
        specs.append(spec)
    return specs
