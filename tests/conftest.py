"""Shared fixtures. The suite runs serially and again under ``mpiexec -n 2 pytest -m "not serial"``;
on ranks other than 0 the terminal output is silenced (the exit status still reports failures)."""

import gc
import os
import sys
from pathlib import Path

import pytest

import stimsim  # noqa: F401  (MPI/PETSc libraries first)
from mpi4py import MPI
from petsc4py import PETSc

ROOT = Path(__file__).resolve().parents[1]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if MPI.COMM_WORLD.rank != 0:
        sys.stdout = open(os.devnull, "w")


def pytest_collection_modifyitems(config, items):
    if MPI.COMM_WORLD.size > 1:
        skip = pytest.mark.skip(reason="serial-only test (run without mpiexec)")
        for item in items:
            if "serial" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="module", autouse=True)
def _module_cleanup():
    """After a module, its fixtures' objects are collected too (see :func:`_collective_cleanup`)."""
    yield
    gc.unfreeze()
    gc.collect()
    PETSc.garbage_cleanup()
    MPI.COMM_WORLD.barrier()


@pytest.fixture(autouse=True)
def _collective_cleanup():
    """After each test, every rank destroys the test's PETSc objects at the same point (collective).
    The objects alive then (imported modules, module fixtures, caches) are frozen out of the next
    collections: a full collection of the imported stack costs about 50 ms, this one microseconds;
    :func:`_module_cleanup` unfreezes and collects everything at the end of each module."""
    yield
    gc.collect()
    gc.freeze()
    PETSc.garbage_cleanup()
    MPI.COMM_WORLD.barrier()


@pytest.fixture
def comm():
    return MPI.COMM_WORLD


@pytest.fixture
def shared_tmp(tmp_path_factory):
    """A temporary folder that is the same on every rank (rank 0 makes it)."""
    return shared_folder(tmp_path_factory)


def shared_folder(tmp_path_factory, name: str = "shared") -> Path:
    """A new temporary folder that is the same on every rank (rank 0 makes it; collective), for a
    fixture of any scope."""
    path = tmp_path_factory.mktemp(name) if MPI.COMM_WORLD.rank == 0 else None
    return Path(MPI.COMM_WORLD.bcast(path, root=0))


def error_for(raw: dict) -> str:
    """The message of the InputError that validating the raw study ``raw`` raises (it must raise one)."""
    from stimsim.study.load import study_from_dict
    from stimsim.core.errors import InputError

    with pytest.raises(InputError) as info:
        study_from_dict(raw)
    return str(info.value)


def expansion_and_balance(raw: dict, harmonics: int) -> tuple[dict, dict]:
    """The tip displacement (m) by (harmonic, kind) of the raw study ``raw`` solved by the expansion and
    by harmonic balance with ``harmonics`` (H), on COMM_WORLD."""
    from stimsim.study.load import study_from_dict
    from stimsim.solve.simulate import simulate

    found = []
    for solver in ({"periodic": "expansion"}, {"periodic": "harmonic_balance", "harmonics": harmonics}):
        rows = simulate(study_from_dict(raw | {"solver": solver}), MPI.COMM_WORLD).rows
        found.append({(r.harmonic, r.kind): r.displacement for r in rows})
    return found[0], found[1]


def simulated_displacements(study, comm) -> dict:
    """stimsim.solve.simulate.simulate's tip displacement (m) of ``study`` by (drive frequency, harmonic): the
    sum of its rows of each kind (all but 'total')."""
    from stimsim.solve.simulate import simulate

    rows = simulate(study, comm).rows
    found = {}
    for row in rows:
        if row.kind != "total":
            found[row.drive_frequency, row.harmonic] = found.get((row.drive_frequency, row.harmonic), 0) + row.displacement
    return found
