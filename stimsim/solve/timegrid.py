"""Harmonic balance's time grid over one drive period: the collocation phases that carry a periodic
state's values, the steps of its time-stepping preconditioners, and the exact maps between samples at
equally spaced phases and harmonics 0..H (:mod:`stimsim.solve.periodic`, :mod:`stimsim.solve.fieldsplit`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Backward-Euler steps of the preconditioner per interval between collocation phases (all on the
#: factorisation at the phase that begins the interval).
SUBSTEPS = 2


@dataclass(frozen=True)
class TimeGrid:
    """Real operators along one period for H harmonics: ``collocation`` = 2H + 1 phases carry the
    unknowns and are where the balance is evaluated; ``steps`` = SUBSTEPS x collocation phases are the
    preconditioner's time steps (every SUBSTEPS-th is a collocation phase). ``derivative`` (collocation
    x collocation) is d/dphi, ``interpolate`` (steps x collocation) gives the values at the steps, both
    exact for H harmonics."""

    harmonics: int
    derivative: np.ndarray
    interpolate: np.ndarray

    @classmethod
    def build(cls, harmonics: int) -> TimeGrid:
        collocation = 2 * harmonics + 1
        spectrum = harmonics_of(np.eye(collocation), harmonics)
        wavenumbers = 1j * np.arange(harmonics + 1)[:, None]
        return cls(
            harmonics=harmonics,
            derivative=samples_of(wavenumbers * spectrum, collocation),
            interpolate=samples_of(spectrum, SUBSTEPS * collocation),
        )

    @property
    def collocation(self) -> int:
        return 2 * self.harmonics + 1

    @property
    def steps(self) -> int:
        return SUBSTEPS * self.collocation

    @staticmethod
    def phases(count: int) -> np.ndarray:
        """``count`` equally spaced phases over one period (rad)."""
        return 2 * math.pi * np.arange(count) / count


def harmonics_of(samples: np.ndarray, harmonics: int) -> np.ndarray:
    """Harmonics X_0..X_H of real samples at equally spaced phases (axis 0): X_0 the mean,
    X_k = (2/N) sum_j x_j e^{-i k phi_j}."""
    spectrum = np.fft.rfft(samples, axis=0)[: harmonics + 1] / samples.shape[0]
    spectrum[1:] *= 2
    return spectrum


def samples_of(spectrum: np.ndarray, count: int) -> np.ndarray:
    """Real samples at ``count`` equally spaced phases of sum_k Re(X_k e^{i k phi}) (X along axis 0)."""
    padded = np.zeros((count // 2 + 1,) + spectrum.shape[1:], dtype=complex)
    padded[: spectrum.shape[0]] = spectrum * (count / 2)
    padded[0] = spectrum[0].real * count
    return np.fft.irfft(padded, n=count, axis=0)


def along_period(matrix: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """``matrix`` (a :class:`TimeGrid` operator) applied along the phases (axis 0) of ``samples``."""
    return np.tensordot(matrix, samples, axes=(1, 0))
