"""Ionic-response spectroscopy: studies/spectroscopy.toml for three diffusivities.

    .venv/bin/python studies/spectroscopy.py [-o results/spectroscopy]   (also under mpiexec)

Writes spectroscopy.csv (response.csv columns plus diffusivity_m2_s) and spectroscopy.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import stimsim  # noqa: F401
from mpi4py import MPI

from stimsim.study.load import load_study
from stimsim.solve.simulate import simulate
from stimsim.io.files import RESPONSE_COLUMNS, staged_output, write_rows
from stimsim.core.parallel import on_root

HERE = Path(__file__).resolve().parent
DIFFUSIVITIES = (1e-15, 1e-13, 1e-11)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("results/spectroscopy"))
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    table = []
    for diffusivity in DIFFUSIVITIES:
        study = load_study(HERE / "spectroscopy.toml", [f"sample.properties.diffusivity={diffusivity!r}"])
        rows = simulate(study, comm).rows
        table += [r.row() | {"diffusivity_m2_s": diffusivity} for r in rows]
        if comm.rank == 0:
            for r in rows:
                print(f"D={diffusivity:.0e} f={r.drive_frequency:9.3g} n={r.harmonic} {r.kind:8s} {r.amplitude * 1e12:10.5f} pm {r.phase_deg:8.2f} deg")

    def write() -> None:
        with staged_output(args.output) as staging:
            write_rows(table, staging / "spectroscopy.csv", ("diffusivity_m2_s", *RESPONSE_COLUMNS))
            plot(table, staging / "spectroscopy.png")

    on_root(comm, "--output", write)


def plot(table: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (amplitude, phase) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
    for diffusivity in DIFFUSIVITIES:
        for kind, style in (("thermal", "--"), ("ionic", "-")):
            rows = [r for r in table if r["diffusivity_m2_s"] == diffusivity and r["kind"] == kind]
            f = [r["drive_frequency_hz"] for r in rows]
            amplitude.loglog(f, [r["amplitude_m"] * 1e12 for r in rows], style, marker="o", label=f"{kind}, D = {diffusivity:.0e}")
            phase.semilogx(f, [r["phase_deg"] for r in rows], style, marker="o")
    amplitude.set_ylabel("tip displacement amplitude (pm)")
    phase.set_ylabel("phase (deg)")
    phase.set_xlabel("drive frequency (Hz)")
    amplitude.legend(fontsize=7)
    for ax in (amplitude, phase):
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("SDC ceria, 1 uW into a 20 nm contact: thermal (n=1) and ionic (n=2)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
