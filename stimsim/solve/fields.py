"""Field output for ParaView: the base state and every harmonic of the method that answered, in physical units.

Format: ADIOS2 VTX (``.bp`` folders, :class:`dolfinx.io.VTXWriter`). It keeps the P2 fields exactly
(XDMF would interpolate them to the P1 geometry) and ParaView opens it with its ADIOS2 VTX reader
(File > Open, "ADIOS2VTXReader"). One folder per state: ``base.bp`` (the DC base state) and
``f<frequency>Hz_h<n>.bp`` (harmonic n of a drive frequency, what a lock-in at n sees: the
expansion's first and second orders summed, or harmonic n = 0..H of the periodic state where harmonic
balance answered, n = 0 its rectified DC part). The time domain keeps only the tip signal, so it has
no fields to write (:func:`check_field_output`). Each holds real P2 fields with the unit in the name:

* ``temperature_k_{real,imag,amplitude}``, ``temperature_phase_deg``;
* ``displacement_m_{real,imag}`` (vectors, (r, z) on an axisymmetric domain) and
  ``displacement_z_m_amplitude``, ``displacement_z_phase_deg``;
* with mobile ions ``hydrostatic_stress_pa_*`` and ``concentration_excess_mol_m3_*`` (the excess over the
  stress-free equilibrium c0(x)), likewise.

The base state has the real parts only (it is a real field). Rank 0 does not gather anything: every rank
writes its part, collectively.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from dolfinx import fem
from dolfinx.io import VTXWriter

from stimsim.core.errors import InputError
from stimsim.physics.coupled import CARRIER, CONCENTRATION, DISPLACEMENT, POTENTIAL, STRESS, TEMPERATURE
from stimsim.study.modes import PeriodicMethod

#: Quantity and unit of each field in the output names.
NAMES = {
    TEMPERATURE: ("temperature", "k"),
    DISPLACEMENT: ("displacement", "m"),
    STRESS: ("hydrostatic_stress", "pa"),
    CONCENTRATION: ("concentration_excess", "mol_m3"),
    CARRIER: ("carrier_excess", "mol_m3"),
    POTENTIAL: ("potential", "v"),
}


def physical_scales(model) -> dict[str, float]:
    """Factor from the scaled to the SI value of each field of ``model``."""
    s = model.scales
    return {
        TEMPERATURE: s.temperature, DISPLACEMENT: s.displacement, STRESS: s.stress, CONCENTRATION: s.concentration,
        CARRIER: s.concentration, POTENTIAL: s.potential,
    }


def harmonic_file_name(frequency: float, harmonic: int) -> str:
    """Folder name of harmonic ``harmonic`` of the drive ``frequency`` (Hz)."""
    return f"f{frequency:.6g}Hz_h{harmonic}.bp"


def check_field_output(study) -> None:
    """Refuse field output (``--fields``) for a study whose periodic method keeps no fields: the
    time domain (before any solve)."""
    if study.solver.periodic == PeriodicMethod.TIME_DOMAIN:
        raise InputError(
            "--fields", "cannot be written with [solver] periodic = 'time_domain', which keeps only the tip signal "
            "(accepted: 'auto', 'expansion' or 'harmonic_balance', which solves the same periodic state with its fields)",
        )


def write_fields(folder: str | Path, model, fields: dict[float, dict[int, dict]]) -> list[Path]:
    """Write the base state of ``model`` and ``fields`` (drive frequency in Hz -> harmonic -> scaled
    fields, :attr:`~stimsim.solve.simulate.SimulationResult.fields`) into ``folder`` (collective)."""
    folder = Path(folder)
    comm = model.domain.comm
    if comm.rank == 0:
        folder.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    written = [_write(folder / "base.bp", model, model.base, periodic=False)]
    for frequency, by_harmonic in sorted(fields.items()):
        for harmonic, harmonic_fields in sorted(by_harmonic.items()):
            path = folder / harmonic_file_name(frequency, harmonic)
            written.append(_write(path, model, harmonic_fields, periodic=True))
    return written


def _write(path: Path, model, fields: dict, periodic: bool) -> Path:
    outputs = []
    for name, f in fields.items():
        outputs += _real_fields(name, f.x.array * physical_scales(model)[name], f.function_space, periodic)
    with VTXWriter(model.domain.comm, path, outputs, engine="BP4") as writer:
        writer.write(0.0)
    return path


def _real_fields(name: str, values: np.ndarray, V, periodic: bool) -> list[fem.Function]:
    """Real Functions of a complex field's ``values`` (SI) on ``V``: real (and imaginary) parts, and
    for a periodic field the amplitude and phase (of the vertical component for the displacement)."""
    quantity, unit = NAMES[name]
    found = [_real(V, f"{quantity}_{unit}_real", values.real)]
    if not periodic:
        return found
    found.append(_real(V, f"{quantity}_{unit}_imag", values.imag))
    if V.dofmap.index_map_bs > 1:
        V, dofs = V.sub(V.dofmap.index_map_bs - 1).collapse()
        values, quantity = values[dofs], f"{quantity}_z"
    found.append(_real(V, f"{quantity}_{unit}_amplitude", np.abs(values)))
    found.append(_real(V, f"{quantity}_phase_deg", np.degrees(np.angle(values))))
    return found


def _real(V, name: str, data: np.ndarray) -> fem.Function:
    f = fem.Function(V, name=name, dtype=np.float64)
    f.x.array[:] = data
    return f
