"""Calibration of the fit's uncertainties: how often the reported 68 % and 95 % intervals hold the
truth, and the bias of the estimate, over noisy replicas of synthetic data.

    .venv/bin/python benchmarks/calibration.py [--replicas 200] [--noise 0.01] [--refinement 0.3]
        [--modes measured,estimated] [--amplitudes-only] [--seed 1]

SDC half-space under a 20 nm tip, 1 uW power modulation, D = 1e-11 m^2/s (the truth), drive
frequencies 1 and 10 kHz on both sides of the ionic corner D/(2 pi a^2) ~ 4 kHz, harmonics 1 and 2
with phases: 8 data values, D fitted from 1.3 times the truth, 7 degrees of freedom. Each replica
adds Gaussian noise of relative size ``noise`` to every amplitude and of ``noise`` rad to every phase
and is fitted once per mode:

* ``true``: the sigmas given, ``noise`` times the true amplitude (what an oracle would give);
* ``measured``: the sigmas given, ``noise`` times the measured amplitude (what a user can give);
* ``estimated``: no sigmas (the default relative sigmas, the errors scaled by the reduced chi-square).

With ``--amplitudes-only`` the phases are left out (4 data values, 3 degrees of freedom).

Printed per mode: the fraction of replicas whose 68 % and 95 % intervals (interval_68, interval_95 of
fit.json) hold the truth, with its binomial standard error; the same for +-1 and +-1.96 standard
errors; z = (ln D - ln D_true) / stderr(ln D): its mean with standard error and its standard
deviation (1 if the errors are right); the mean reduced chi-square. One model on COMM_SELF serves
every fit (docs/guide/fitting.md, 'Uncertainty').
"""

from __future__ import annotations

import argparse
import math
import time

import stimsim  # noqa: F401
import numpy as np
from mpi4py import MPI

from stimsim.inverse.data import Data
from stimsim.inverse.fit import JointModel, fit_options, fit_with
from stimsim.study.load import study_from_dict

TRUTH = 1e-11
FREQUENCIES = (1e3, 1e4)
MODES = ("true", "measured", "estimated")


def study(refinement: float):
    return study_from_dict({
        "sample": {"material": "SDC", "properties": {"diffusivity": TRUTH}},
        "tip": {"contact_radius": 20e-9},
        "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": list(FREQUENCIES)},
        "mesh": {"refinement": refinement},
    })


def replica(template: Data, y: np.ndarray, noise: float, rng, mode: str, phases: bool) -> Data:
    """Noisy data about the model values ``y`` with the sigmas of ``mode`` (module docstring), with
    or without ``phases``."""
    amplitude = np.abs(y) * (1 + noise * rng.standard_normal(y.size))
    phase = np.angle(y) + noise * rng.standard_normal(y.size)
    reference = np.abs(y) if mode == "true" else amplitude
    return Data(template.frequency, template.harmonic, amplitude, phase if phases else None, noise * reference,
                np.full(y.size, noise) if phases else None, mode != "estimated", template.rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=200)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--refinement", type=float, default=0.3)
    parser.add_argument("--modes", default="measured,estimated", help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--amplitudes-only", action="store_true", help="leave the phases out")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    modes = args.modes.split(",")
    truth_study = study(args.refinement)
    points = [(f, n) for n in (1, 2) for f in FREQUENCIES]
    frequency, harmonic = (np.array(v) for v in zip(*points))
    ones = np.ones(len(points))
    template = Data(frequency, harmonic, ones, None, ones, None, True, np.arange(2, len(points) + 2))
    options = fit_options(truth_study, ["diffusivity"])
    found = {mode: [] for mode in modes}
    start = time.perf_counter()
    with JointModel(truth_study, ["diffusivity"], template, MPI.COMM_SELF) as model:
        y = model.predict([TRUTH])[0]
        rng = np.random.default_rng(args.seed)
        for i in range(args.replicas):
            state = rng.bit_generator.state
            for mode in modes:  # the same noise for every mode
                rng.bit_generator.state = state
                data = replica(template, y, args.noise, rng, mode, not args.amplitudes_only)
                found[mode].append(_summary(fit_with(model, data, options, start=[1.3 * TRUTH])))
            if (i + 1) % 20 == 0:
                print(f"{i + 1} replicas, {time.perf_counter() - start:.0f} s", flush=True)
    print(f"SDC, D = {TRUTH:g} m^2/s, {len(FREQUENCIES)} frequencies x harmonics 1, 2 "
          f"{'without' if args.amplitudes_only else 'with'} phases, noise {args.noise:g}, "
          f"refinement {args.refinement:g}, {args.replicas} replicas, {time.perf_counter() - start:.0f} s")
    for mode in modes:
        report(mode, np.array(found[mode]))


def _summary(result) -> tuple:
    """(inside interval_68, inside interval_95, z, reduced chi-square, evaluations, converged) of one fit."""
    d = result.parameter("diffusivity")
    z = (math.log(d.value) - math.log(TRUTH)) / d.stderr_x if d.stderr is not None else math.nan
    inside = [low is not None and high is not None and low <= TRUTH <= high for low, high in (d.interval_68, d.interval_95)]
    return (*inside, z, result.reduced_chi2 or math.nan, result.nfev, result.converged)


def report(mode: str, rows: np.ndarray) -> None:
    """Print the coverage and bias of one mode's fits (module docstring)."""
    count = len(rows)
    z = rows[:, 2]

    def share(mask) -> str:
        p = float(np.mean(mask))
        return f"{100 * p:.1f} +- {100 * math.sqrt(p * (1 - p) / count):.1f} %"

    print(f"{mode:>9}: interval_68 {share(rows[:, 0])}, interval_95 {share(rows[:, 1])}; |z| < 1 {share(np.abs(z) < 1)}, "
          f"|z| < 1.96 {share(np.abs(z) < 1.96)}; mean z {np.mean(z):+.3f} +- {np.std(z) / math.sqrt(count):.3f}, "
          f"std z {np.std(z):.3f}; mean reduced chi2 {np.nanmean(rows[:, 3]):.3f}; median {np.median(rows[:, 4]):.0f} "
          f"evaluations, {int(np.sum(rows[:, 5]))}/{count} converged")


if __name__ == "__main__":
    main()
