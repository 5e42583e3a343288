"""Harmonic balance converges with the number of harmonics H at a large amplitude: SDC (D = 1e-12 m^2/s)
under 2 uW at 20 kHz, theta_1 = 13.4 K at the tip (gamma = E_a theta_1/(R T^2) = 1.2). The table of u_1 to
u_4 against H = 2 ... 16 is in docs/harmonics.md ('Large amplitudes')."""

import pytest
from mpi4py import MPI

from stimsim.config import study_from_dict
from stimsim.forward import simulate

FREQUENCY = 2e4


def tip_displacements(harmonics: int) -> dict[int, complex]:
    """u_z harmonics 0..H (m) of the periodic state by harmonic balance with H = ``harmonics``."""
    study = study_from_dict(
        {
            "sample": {"material": "SDC", "properties": {"diffusivity": 1e-12}},
            "tip": {"contact_radius": 20e-9},
            "excitation": {"mode": "power", "power_amplitude": 2e-6, "frequencies": [FREQUENCY]},
            "mesh": {"refinement": 0.3},
            "solver": {"periodic": "harmonic_balance", "harmonics": harmonics},
        }
    )
    rows, model = simulate(study, MPI.COMM_WORLD)
    model.destroy()
    return {r.harmonic: r.displacement for r in rows if r.kind == "total"}


@pytest.fixture(scope="module")
def by_h():
    return {h: tip_displacements(h) for h in (3, 6)}


def test_highest_harmonic_decays_as_h_grows(by_h):
    """u_H / u_2: 8.3e-2 at H = 3, 3.2e-5 at H = 6 (measured); asked: a fall by more than 100."""
    tail = {h: abs(u[h] / u[2]) for h, u in by_h.items()}
    assert tail[6] < tail[3] / 100, tail


@pytest.mark.parametrize("harmonic, tolerance", [(1, 1e-5), (2, 1e-3), (3, 1e-2)])
def test_harmonics_converge_as_h_grows(by_h, harmonic, tolerance):
    """From H = 3 to H = 6, u_1 moves by 1e-7, u_2 by 6e-5 and u_3 by 1.4e-3 (complex, relative;
    measured): each within ``tolerance``, ten times the measured change or more."""
    coarse, fine = by_h[3][harmonic], by_h[6][harmonic]
    assert abs(coarse / fine - 1) < tolerance, (coarse, fine)
