"""Field output for ParaView: the base state and every solved harmonic, in physical units.

Format: ADIOS2 VTX (``.bp`` folders, :class:`dolfinx.io.VTXWriter`). It keeps the P2 fields exactly
(XDMF would interpolate them to the P1 geometry) and ParaView opens it with its ADIOS2 VTX reader
(File > Open, "ADIOS2VTXReader"). One folder per state: ``base.bp`` (the DC base state) and
``f<frequency>Hz_h<n>.bp`` (harmonic n of a drive frequency: first and second orders summed, what a
lock-in at n sees). Each holds real P2 fields with the unit in the name:

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

from stimsim.physics.coupled import CARRIER, CONCENTRATION, DISPLACEMENT, POTENTIAL, STRESS, TEMPERATURE

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


def write_fields(folder: str | Path, model, solutions) -> list[Path]:
    """Write the base state and every harmonic of ``solutions``
    (:class:`~stimsim.solve.forward.HarmonicSolution`) of ``model`` into ``folder`` (collective)."""
    folder = Path(folder)
    comm = model.domain.comm
    if comm.rank == 0:
        folder.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    written = [_write(folder / "base.bp", model, model.base, periodic=False)]
    for solution in solutions:
        for harmonic in sorted(set(solution.first) | set(solution.second)):
            path = folder / harmonic_file_name(solution.frequency, harmonic)
            written.append(_write(path, model, solution.fields(harmonic), periodic=True))
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
