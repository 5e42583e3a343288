"""Field output (``stimsim run --fields``): the VTX files read back with ADIOS2's own reader hold the
solved fields in SI units, for the base state and every harmonic."""

import numpy as np
import pytest
from mpi4py import MPI

from stimsim.cli import main
from stimsim.study.load import load_study
from stimsim.solve.fields import harmonic_file_name
from stimsim.solve.model import HarmonicModel
from stimsim.solve.simulate import simulate
from stimsim.physics.coupled import CONCENTRATION, DISPLACEMENT, TEMPERATURE

from conftest import ROOT

adios2 = pytest.importorskip("adios2")

STUDY = ROOT / "studies" / "default.toml"
SETTINGS = ["mesh.refinement=0.3", "excitation.frequencies=[1e4]", "excitation.dc_power=2e-7"]


def read(path, name) -> np.ndarray:
    """All blocks (one per writing rank) of a VTX variable, concatenated."""
    with adios2.FileReader(str(path)) as reader:
        blocks = []
        for block in range(len(reader.all_blocks_info(name)[0])):
            variable = reader.inquire_variable(name)
            variable.set_block_selection(block)
            blocks.append(np.asarray(reader.read(variable)).ravel())
        return np.concatenate(blocks)


def global_extreme(values: np.ndarray, op=MPI.MAX) -> float:
    return MPI.COMM_WORLD.allreduce(float(values.max(initial=-np.inf) if op == MPI.MAX else values.min(initial=np.inf)), op=op)


def test_fields_read_back(shared_tmp):
    outdir = shared_tmp / "run"
    assert main(["run", str(STUDY), *sum((["--set", s] for s in SETTINGS), []), "-o", str(outdir), "--fields", "-q"]) == 0
    # the same solve in this process gives the expected values
    study = load_study(STUDY, SETTINGS)
    with HarmonicModel(study, MPI.COMM_WORLD) as model:
        solutions = simulate(study, MPI.COMM_WORLD, model=model, keep_fields=True).solutions
        s = model.scales
        first = solutions[0].fields(1)
        expected = {
            "temperature_k_amplitude": global_extreme(np.abs(first[TEMPERATURE].x.array) * s.temperature),
            "displacement_z_m_amplitude": global_extreme(np.abs(first[DISPLACEMENT].x.array[1::2]) * s.displacement),
            "concentration_excess_mol_m3_amplitude": global_extreme(np.abs(first[CONCENTRATION].x.array) * s.concentration),
        }
        second = solutions[0].fields(2)
        expected_second = global_extreme(np.abs(second[CONCENTRATION].x.array) * s.concentration)
        base_rise = global_extreme(model.base[TEMPERATURE].x.array.real * s.temperature)
    if MPI.COMM_WORLD.rank == 0:
        folder = outdir / "fields"
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            ["base.bp", harmonic_file_name(1e4, 1), harmonic_file_name(1e4, 2)]
        )
        harmonic_1 = folder / harmonic_file_name(1e4, 1)
        # the two runs may solve the coupled system by different methods (the 'auto' choice between
        # staggered and monolithic goes by timing): equal to the staggered solver's tolerance
        for name, value in expected.items():
            assert read(harmonic_1, name).max() == pytest.approx(value, rel=1e-8), name
        assert all(v > 0 for v in expected.values()) and expected_second > 0
        assert read(folder / harmonic_file_name(1e4, 2), "concentration_excess_mol_m3_amplitude").max() == pytest.approx(
            expected_second, rel=1e-8
        )
        # amplitude and phase are those of the real and imaginary parts
        real, imag = read(harmonic_1, "temperature_k_real"), read(harmonic_1, "temperature_k_imag")
        assert np.allclose(np.hypot(real, imag), read(harmonic_1, "temperature_k_amplitude"), rtol=1e-12, atol=0)
        phase = read(harmonic_1, "temperature_phase_deg")
        assert np.allclose(np.degrees(np.arctan2(imag, real)), phase, atol=1e-9)
        # the base state: a DC heating of 0.2 uW raises the temperature (real field only)
        assert read(folder / "base.bp", "temperature_k_real").max() == pytest.approx(base_rise, rel=1e-12)
        assert base_rise > 0.1
