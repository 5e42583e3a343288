"""The STIM paper's fourth-harmonic budget: studies/paper_budget.toml, one mechanism at a time.

    .venv/bin/python studies/paper_budget.py [-o results/paper_budget]   (also under mpiexec)

For ceria (SDC at 3.8057 V) and PTFE (0.92928 V) each mechanism is switched on alone: stress-driven
ions (D = 1e-13 and 1e-11 m^2/s), thermotransport (Q* = +-1e4 J/mol at D = 1e-11), alpha(T), the
heater's resistance coefficient and the Hertz contact (30 nm rigid tip, read through the ionic
channel's resonance at four times the drive). Every one of them is second order in the heating, so
at the heating that gives the paper's thermal amplitude A_p the fourth harmonic is
A_p * u4 / u2^2 (u2: the model's thermal channel, harmonic 2 at 61.7 kHz, which the ions' first-order
Vegard strain changes; u4: harmonic 4 at 30.525 kHz). Writes paper_budget.csv (both the raw ratio
u4 / A_p and the rescaled one) and prints the table (docs/theory/paper.md, "The budget at the paper's thermal amplitude, one mechanism at a time").
"""

from __future__ import annotations

import argparse
from pathlib import Path

import stimsim  # noqa: F401
from mpi4py import MPI

from stimsim.study.load import load_study
from stimsim.experiments.protocols import surface_harmonics
from stimsim.solve.simulate import simulate
from stimsim.instrument.afm import HertzContact, Resonance, contact_harmonics
from stimsim.io.files import staged_output, write_rows
from stimsim.core.parallel import on_root

HERE = Path(__file__).resolve().parent
IONIC_DRIVE, THERMAL_DRIVE = 30.525e3, 61.7e3  # Hz
#: Per material: overrides that give the paper's heating, the paper's thermal amplitude (m) and the
#: ionic sweep's quality factor (the resonance sits at four times the ionic drive).
MATERIALS = {
    "SDC": ([], 38.2e-12, 55.95),
    "PTFE": (['sample.material="PTFE"', "excitation.ac_voltage=0.92928"], 44.3e-12, 49.52),
}
#: Everything off: the study's mechanisms zeroed, the built-in ions.
OFF = ["sample.properties.heat_of_transport=0", "sample.properties.thermal_expansion_derivative=0",
       "excitation.heater_temperature_coefficient=0", "sample.properties.diffusivity=1e-13"]
#: SDC without mobile ions (for the backgrounds alone).
NO_IONS = "sample.properties.concentration=0"
#: (material, mechanism, overrides on top of OFF, Hertz force in N or None)
VARIANTS = (
    ("SDC", "ions, D = 1e-13 m^2/s", [], None),
    ("SDC", "ions, D = 1e-11 m^2/s", ["sample.properties.diffusivity=1e-11"], None),
    ("SDC", "ions + Q* = 1e4 J/mol, D = 1e-11", ["sample.properties.diffusivity=1e-11", "sample.properties.heat_of_transport=1e4"], None),
    ("SDC", "ions + Q* = -1e4 J/mol, D = 1e-11", ["sample.properties.diffusivity=1e-11", "sample.properties.heat_of_transport=-1e4"], None),
    ("SDC", "alpha' = 5e-9 1/K^2, no ions", [NO_IONS, "sample.properties.thermal_expansion_derivative=5e-9"], None),
    ("SDC", "heater beta = 1e-3 1/K, no ions", [NO_IONS, "excitation.heater_temperature_coefficient=1e-3"], None),
    ("SDC", "heater beta = 1.76e-3 1/K, no ions", [NO_IONS, "excitation.heater_temperature_coefficient=1.76e-3"], None),
    ("SDC", "Hertz contact 10 nN, no ions", [NO_IONS], 10e-9),
    ("SDC", "Hertz contact 50 nN, no ions", [NO_IONS], 50e-9),
    ("PTFE", "alpha' = 1.2e-6 1/K^2", ["sample.properties.thermal_expansion_derivative=1.2e-6"], None),
    ("PTFE", "heater beta = 1e-3 1/K", ["excitation.heater_temperature_coefficient=1e-3"], None),
    ("PTFE", "heater beta = 1.76e-3 1/K", ["excitation.heater_temperature_coefficient=1.76e-3"], None),
    ("PTFE", "Hertz contact 10 nN", [], 10e-9),
    ("PTFE", "Hertz contact 50 nN", [], 50e-9),
)
TIP_RADIUS = 30e-9  # m, the Hertz tip of studies/stim_ceria.toml
COLUMNS = ("material", "mechanism", "thermal_model_m", "harmonic4_model_m", "ratio_raw", "ratio_at_paper_thermal")


def harmonic(rows, frequency: float, n: int, extra: complex = 0j) -> float:
    """|sum of the first- and second-order parts at harmonic n of ``frequency``| (m), plus ``extra``."""
    return abs(sum((r.displacement for r in rows if r.drive_frequency == frequency and r.harmonic == n and r.kind != "total"), extra))


def contact(rows, study, force: float, quality: float) -> complex:
    """The Hertz contact's harmonic 4 (m) at the ionic drive, driven by the thermal harmonic 2."""
    top = study.sample.material
    hertz = HertzContact(force, TIP_RADIUS, top.youngs_modulus / (1 - top.poisson_ratio**2))
    surface = surface_harmonics([r for r in rows if r.drive_frequency == IONIC_DRIVE])
    return contact_harmonics(surface, IONIC_DRIVE, Resonance(4 * IONIC_DRIVE, quality), hertz).get(4, 0j)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("results/paper_budget"))
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    table = []
    for material, mechanism, overrides, force in VARIANTS:
        heating, paper_thermal, quality = MATERIALS[material]
        study = load_study(HERE / "paper_budget.toml", [*OFF, *heating, *overrides])
        rows = simulate(study, comm).rows
        thermal = harmonic(rows, THERMAL_DRIVE, 2)
        fourth = harmonic(rows, IONIC_DRIVE, 4, contact(rows, study, force, quality) if force else 0j)
        table.append(dict(material=material, mechanism=mechanism, thermal_model_m=thermal, harmonic4_model_m=fourth,
                          ratio_raw=fourth / paper_thermal, ratio_at_paper_thermal=paper_thermal * fourth / thermal**2))
        if comm.rank == 0:
            r = table[-1]
            print(f"{material:4s} {mechanism:40s} u2 {thermal * 1e12:7.2f} pm  u4 {fourth * 1e12:7.4f} pm  "
                  f"u4/A_p {100 * r['ratio_raw']:6.3f} %  rescaled {100 * r['ratio_at_paper_thermal']:6.3f} %", flush=True)

    def write() -> None:
        with staged_output(args.output) as staging:
            write_rows(table, staging / "paper_budget.csv", COLUMNS)

    on_root(comm, "--output", write)


if __name__ == "__main__":
    main()
