"""The study: its schema, the validated frozen dataclasses (SI units), loading with ``--set`` overrides, cross-checks,
the length scales that size its mesh and its grain boundaries."""

from stimsim.study.study import Study, Tip, Excitation, Sample, Ions, MeshOptions, SolverOptions
from stimsim.study.load import load_study, study_from_dict, derived_study, immobile_study
from stimsim.study.schema import Key, SCHEMA
from stimsim.study.grains import GrainBoundary

__all__ = [
    "Study",
    "Tip",
    "Excitation",
    "Sample",
    "Ions",
    "MeshOptions",
    "SolverOptions",
    "load_study",
    "study_from_dict",
    "derived_study",
    "immobile_study",
    "Key",
    "SCHEMA",
    "GrainBoundary",
]
