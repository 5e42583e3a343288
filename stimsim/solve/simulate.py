"""The one orchestration path: solve a study at its drive frequencies and check the result.

:func:`simulate` is what ``stimsim run``, the sweeps (and so the line scans and maps), the
protocols of the virtual experiments and the Python API call: it checks the heating before any solve
(:func:`~stimsim.solve.limits.check_study`), builds the model (or takes the caller's), solves its
base state and then :func:`solve_frequencies`, which answers each drive frequency by the study's
periodic method (:func:`~stimsim.solve.forward.frequency_response`) and refuses a result whose
temperature or concentration leaves the model's range (:func:`~stimsim.solve.limits.check_model`).
Everything a caller needs comes back in one :class:`SimulationResult`, the fields of the method that
answered each frequency included when asked for; nothing is left on the model for it to read later.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from mpi4py import MPI

from stimsim.fem.response import TipResponse
from stimsim.io.files import RESPONSE_COLUMNS, write_rows
from stimsim.solve.forward import (
    PERIODIC_COLUMNS,
    PeriodicReport,
    base_state,
    frequency_response,
    solve_harmonics,
)
from stimsim.solve.limits import check_model, check_study
from stimsim.solve.model import HarmonicModel
from stimsim.solve.validity import COLUMNS as VALIDITY_COLUMNS
from stimsim.solve.validity import exceeded, largest, table_rows
from stimsim.study.grains import unconverged_cores
from stimsim.study.modes import PeriodicMethod
from stimsim.study.study import Study

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulationResult:
    """The checked tip response of a study: its labelled ``rows`` (:class:`~stimsim.fem.response.TipResponse`,
    every drive frequency in the study's order), how each drive frequency's periodic state was solved
    (``periodic``: frequency in Hz -> :class:`~stimsim.solve.forward.PeriodicReport`, with the validity
    parameters of the expansion's first order), the model's size ``num_dofs`` on ``comm``, the solve's
    wall time ``seconds`` (s) and, when asked for, the ``fields`` of the method that answered each
    frequency (frequency in Hz -> harmonic -> name -> Function: the scaled deviation from the base state
    on the model's function spaces; harmonic balance's 0..H, the expansion's solved harmonics, none for
    the time domain). Files are written on rank 0 of ``comm`` only."""

    rows: tuple[TipResponse, ...]
    periodic: dict[float, PeriodicReport]
    num_dofs: int
    seconds: float
    fields: dict[float, dict[int, dict]] = field(default_factory=dict)
    comm: MPI.Comm = field(default_factory=lambda: MPI.COMM_WORLD, repr=False, compare=False)

    @property
    def validity(self) -> dict[float, dict[str, float]]:
        """The expansion's validity parameters by drive frequency (Hz; :mod:`stimsim.solve.validity`)."""
        return {frequency: report.validity for frequency, report in self.periodic.items()}

    def row(self, frequency: float, harmonic: int, kind: str = "total") -> TipResponse:
        """The row at drive ``frequency`` (Hz), tip ``harmonic`` and ``kind`` ('thermal', 'ionic',
        'nonionic' or 'total'; where one part alone lands, its row is the total)."""
        found = {r.kind: r for r in self.rows if r.drive_frequency == frequency and r.harmonic == harmonic}
        if kind in found:
            return found[kind]
        if kind == "total" and len(found) == 1:
            return next(iter(found.values()))
        raise KeyError(f"no {kind!r} row at harmonic {harmonic} of {frequency:g} Hz (rows: {sorted(found)})")

    def warnings(self) -> list[str]:
        """:meth:`validity_warnings` and :meth:`periodic_warnings` together."""
        return self.validity_warnings() + self.periodic_warnings()

    def validity_warnings(self) -> list[str]:
        """One sentence per validity parameter above its threshold at a frequency the expansion
        answered."""
        expansion = {f: r.validity for f, r in self.periodic.items() if r.method == PeriodicMethod.EXPANSION}
        remedy = "[solver] periodic = 'auto' or 'harmonic_balance' solves the periodic state instead"
        return [f"{warning} (validity.csv; {remedy})" for warning in exceeded(largest(expansion))]

    def periodic_warnings(self) -> list[str]:
        """One sentence per frequency whose periodic state kept too few harmonics
        (:func:`~stimsim.solve.forward.tail_warning`)."""
        return [r.warning for _, r in sorted(self.periodic.items()) if r.warning is not None]

    def periodic_rows(self) -> list[dict]:
        """The periodic.csv rows (:data:`~stimsim.solve.forward.PERIODIC_COLUMNS`), by drive frequency."""
        return [report.row(frequency) for frequency, report in sorted(self.periodic.items())]

    def to_csv(self, path: str | Path) -> Path:
        """Write the response table (response.csv columns, SI units in their names) to ``path``."""
        path = Path(path)
        if self.comm.rank == 0:
            write_rows([r.row() for r in self.rows], path, RESPONSE_COLUMNS)
        self.comm.barrier()
        return path

    def write_tables(self, folder: Path) -> None:
        """response.csv, validity.csv and periodic.csv into ``folder`` (the caller's rank writes: call it
        on one rank, e.g. inside :func:`~stimsim.core.parallel.on_root`)."""
        write_rows([r.row() for r in self.rows], folder / "response.csv", RESPONSE_COLUMNS)
        write_rows(table_rows(self.validity), folder / "validity.csv", VALIDITY_COLUMNS)
        write_rows(self.periodic_rows(), folder / "periodic.csv", PERIODIC_COLUMNS)


def simulate(study: Study, comm: MPI.Comm | None = None, frequencies=None, *, model: HarmonicModel | None = None,
             keep_fields: bool = False) -> SimulationResult:
    """Solve ``study`` at ``frequencies`` (Hz; default the study's) on ``comm`` (default
    ``MPI.COMM_WORLD``; collective) and check the result. The heating is checked first; then the
    base state under the drive's DC heating and every frequency (:func:`solve_frequencies`). The
    model is built and freed here unless the caller passes ``model`` (of this study, on ``comm``),
    e.g. to write the result's fields (``keep_fields``: :attr:`SimulationResult.fields`). Raises :class:`~stimsim.core.errors.InputError` for
    a heating outside the model's range and :class:`~stimsim.core.errors.SolverError` for a failed solve."""
    comm = comm or MPI.COMM_WORLD
    check_study(study)
    for sentence in unconverged_cores(study.sample.grain_boundaries, study.sample.material, study.tip.position,
                                      study.tip.contact_radius):
        log.warning(sentence)
    frequencies = list(frequencies or study.excitation.frequencies)
    if model is not None:
        base_state(model)
        return solve_frequencies(model, frequencies, keep_fields=keep_fields)
    with HarmonicModel(study, comm) as model:
        base_state(model)
        return solve_frequencies(model, frequencies, keep_fields=keep_fields)


def solve_frequencies(model: HarmonicModel, frequencies, *, keep_fields: bool = False, dc_key: str | None = None,
                      dc_value: float | None = None) -> SimulationResult:
    """Every drive frequency of ``frequencies`` (Hz) about the model's current base state, checked
    (:func:`~stimsim.solve.limits.check_model`; a DC heating power ``dc_value`` in W that the study key
    ``dc_key`` sets, e.g. a protocol's, is named in the refusal instead of the drive's). Collective."""
    start = time.perf_counter()
    rows, reports, fields = [], {}, {}
    for frequency in frequencies:
        found = frequency_response(model, frequency, solve_harmonics(model, frequency), keep_fields)
        rows += found.rows
        reports[frequency] = found.report
        if keep_fields:
            fields[frequency] = found.fields
        if found.report.warning is not None:
            log.warning(found.report.warning)
    check_model(model, rows, {f: r.validity for f, r in reports.items()}, dc_key, dc_value)
    seconds = model.domain.comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
    return SimulationResult(tuple(rows), reports, model.num_dofs, seconds, fields, model.domain.comm)
