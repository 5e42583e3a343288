"""What the AFM records: the cantilever's contact resonance, lock-in detection, DART and SHO fits.

The cantilever in contact is a damped driven oscillator around its contact resonance f0 with quality
factor Q (Gannepalli et al., Nanotechnology 22, 355705, 2011, and its corrigendum). With time factor
e^{i w t} a surface displacement X at frequency f moves the detector by H(f) X,

    H(f) = f0^2 / (f0^2 - f^2 + i f f0 / Q),

so the amplitude is |X| f0^2 / sqrt((f0^2 - f^2)^2 + (f f0/Q)^2) and the detector lags by
atan2(f f0/Q, f0^2 - f^2). The lock-in tuned to harmonic n of the drive frequency reads H(n f) X_n,
plus detector noise. Amplitudes are in m (the detector signal calibrated as a displacement), phases in
degrees, frequencies in Hz.

DART (dual amplitude resonance tracking) reads two frequencies f1 < f0 < f2 and inverts the two
amplitudes and phases for f0, Q and the intrinsic (resonance-free) response; :func:`fit_sho` fits a
swept spectrum instead.

A Hertz contact under a static force is stiffer the deeper it is indented, so the indentation's
oscillation makes a force at the sums and differences of its harmonics: :class:`HertzContact` and
:func:`contact_harmonics` give it as the surface displacement that would move the tip alike
(docs/guide/instrument.md, 'Hertz contact nonlinearity').
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, least_squares

from stimsim.physics.drives import second_order_pairs
from stimsim.core.errors import InputError, checked_number


#: A swept spectrum has a signal when the fitted intrinsic amplitude is this many standard errors
#: (and Q twice its standard error): noise alone gave below 3 and 0.5 in 10 seeded sweeps, a signal of
#: 3 % of the noise at Q = 46 above 3.6 and 2.6 (tests/test_instrument.py).
SIGNIFICANCE = 3.0

#: Wavenumbers x = kappa L of the first flexural mode of a clamped cantilever with a free end and with
#: a pinned end (1 + cos x cosh x = 0, tan x = tanh x).
FREE_END, PINNED_END = 1.8751040687, 3.9266023120


def contact_mode(stiffness_ratio: float) -> float:
    """Wavenumber x = kappa L of the first flexural mode of an Euler-Bernoulli cantilever clamped at
    one end with a spring of stiffness ``stiffness_ratio`` k*/k_c (k_c = 3EI/L^3) at the other: the
    root of the clamped mode's end conditions y''(L) = 0, EI y'''(L) = k* y(L) (Rabe, Janser & Arnold,
    Rev. Sci. Instrum. 67, 3281, 1996). The frequency goes as x^2, from the free cantilever (k* = 0)
    to the pinned limit (k* >> k_c), 4.39 times higher."""
    if stiffness_ratio == 0:
        return FREE_END

    def determinant(x):
        c, s, ch, sh = math.cos(x), math.sin(x), math.cosh(x), math.sinh(x)
        bending = x**3 / 3
        return (c + ch) * (-bending * (c + ch) - stiffness_ratio * (s - sh)) - (s + sh) * (
            bending * (s - sh) - stiffness_ratio * (c - ch)
        )

    return brentq(determinant, FREE_END * (1 - 1e-9), PINNED_END * (1 + 1e-9), xtol=1e-14)


@dataclass(frozen=True)
class Resonance:
    """Contact resonance: frequency ``frequency`` (Hz) and quality factor ``quality``.

    With ``cantilever_stiffness`` k_c (N/m) the resonance follows the contact stiffness k* of the tip
    as the first contact mode of the cantilever (:func:`contact_mode`), f0(k*) = f0 x(k*/k_c)^2 /
    x(k_ref/k_c)^2, where ``reference_stiffness`` (N/m) is the contact stiffness at which f0 was
    measured; Q is kept.
    """

    frequency: float
    quality: float
    cantilever_stiffness: float | None = None
    reference_stiffness: float | None = None

    def __post_init__(self):
        checked_number("instrument.resonance_frequency", self.frequency, 0.0, 1e10, "Hz")
        checked_number("instrument.quality_factor", self.quality, 0.5, 1e6, "1")
        if self.cantilever_stiffness is not None:
            checked_number("instrument.cantilever_stiffness", self.cantilever_stiffness, 0.0, 1e6, "N/m")
            if self.reference_stiffness is None:
                raise InputError("instrument.cantilever_stiffness", "needs the reference contact stiffness (N/m)")

    def at_contact_stiffness(self, stiffness: float) -> Resonance:
        """The resonance at contact stiffness ``stiffness`` (N/m); unchanged without a cantilever model."""
        if self.cantilever_stiffness is None:
            return self
        ratio = contact_mode(stiffness / self.cantilever_stiffness) / contact_mode(
            self.reference_stiffness / self.cantilever_stiffness
        )
        return Resonance(self.frequency * ratio**2, self.quality, self.cantilever_stiffness, stiffness)

    def transfer(self, frequency):
        """H(f) (complex, 1 at f = 0) at ``frequency`` (Hz, scalar or array)."""
        f, f0 = np.asarray(frequency, dtype=float), self.frequency
        return f0**2 / (f0**2 - f**2 + 1j * f * f0 / self.quality)


def contact_stiffness(contact_radius: float, youngs_modulus: float, poisson_ratio: float) -> float:
    """Normal stiffness k* = 2 a E* (N/m) of a circular contact of radius a (m) on an elastic half-space,
    E* = E / (1 - nu^2) for a rigid tip (Johnson, Contact Mechanics, 1985, section 4.2)."""
    return 2 * contact_radius * youngs_modulus / (1 - poisson_ratio**2)


@dataclass(frozen=True)
class HertzContact:
    """Hertz contact of a rigid sphere of radius ``tip_radius`` (m) pressed with the static force
    ``force`` (N) on a sample of reduced modulus ``reduced_modulus`` E* = E / (1 - nu^2) (Pa):
    F = K delta^(3/2) with K = (4/3) E* sqrt(R) (Johnson, Contact Mechanics, 1985, section 4.2)."""

    force: float
    tip_radius: float
    reduced_modulus: float

    @property
    def prefactor(self) -> float:
        """K = (4/3) E* sqrt(R) (N/m^(3/2))."""
        return 4 / 3 * self.reduced_modulus * math.sqrt(self.tip_radius)

    @property
    def indentation(self) -> float:
        """Static indentation delta0 = (F0 / K)^(2/3) (m)."""
        return (self.force / self.prefactor) ** (2 / 3)

    @property
    def stiffness(self) -> float:
        """Linear contact stiffness k* = dF/d delta = (3/2) K delta0^(1/2) = 2 a E* (N/m)."""
        return 1.5 * self.prefactor * math.sqrt(self.indentation)

    @property
    def curvature(self) -> float:
        """F'' = (3/4) K delta0^(-1/2) = k* / (2 delta0) (N/m^2)."""
        return self.stiffness / (2 * self.indentation)


def contact_harmonics(
    surface: dict[int, complex], drive_frequency: float, resonance: Resonance, contact: HertzContact
) -> dict[int, complex]:
    """The Hertz contact's second-order force at each sum and difference of the harmonics of the
    surface displacement ``surface`` (harmonic n of ``drive_frequency`` (Hz) -> complex X_n, m), as the
    surface displacement F_k / k* (m) that would move the tip alike: the lock-in reads
    H(k f) (X_k + F_k / k*).

    The tip (deflection z) sits on the cantilever (stiffness k_c, ``resonance.cantilever_stiffness``;
    k_c << k* when the resonance has none) and on the contact: m z'' + c z' + k_c z = F(delta0 + u_s - z) - F0,
    linearised m z'' + c z' + (k_c + k*) z = k* u_s, so z_n = g H(n f) X_n with g = k* / (k* + k_c) and
    the indentation oscillates by delta_n = (1 - g H(n f)) X_n. The force (1/2) F'' delta(t)^2 lands at
    the pairs of :func:`stimsim.physics.drives.second_order_pairs` with their weights (1/4 at 2n, 1/2 at n + m and
    m - n); it moves the tip as a surface displacement F_k / k* would (docs/guide/instrument.md)."""
    k = contact.stiffness
    coupling = 1.0 if resonance.cantilever_stiffness is None else k / (k + resonance.cantilever_stiffness)
    indentation = {n: (1 - coupling * resonance.transfer(n * drive_frequency)) * x for n, x in surface.items()}
    found: dict[int, complex] = {}
    for pair in second_order_pairs(indentation):
        other = indentation[pair.second].conjugate() if pair.conjugate else indentation[pair.second]
        force = pair.weight * contact.curvature * indentation[pair.first] * other
        found[pair.harmonic] = found.get(pair.harmonic, 0j) + complex(force / k)
    return found


class LockIn:
    """Lock-in detection of drive harmonics through the resonance, with optional detector noise.

    ``noise`` (m) is the standard deviation of each quadrature (X and Y) of one reading; readings draw
    from a generator seeded with ``seed``, so a run is reproducible.
    """

    def __init__(self, resonance: Resonance, noise: float = 0.0, seed: int = 0):
        self.resonance = resonance
        self.noise = checked_number("instrument.noise", noise, 0.0, 1.0, "m", low_inclusive=True)
        self.rng = np.random.default_rng(seed)

    def read(self, drive_frequency, harmonic: int, displacement):
        """Complex lock-in output(s) (m) for the intrinsic displacement amplitude(s) ``displacement``
        (complex, m) at ``harmonic`` of ``drive_frequency`` (Hz)."""
        signal = self.resonance.transfer(harmonic * np.asarray(drive_frequency, dtype=float)) * displacement
        if self.noise:
            shape = np.shape(signal)
            signal = signal + self.noise * (self.rng.standard_normal(shape) + 1j * self.rng.standard_normal(shape))
        return signal


@dataclass(frozen=True)
class ResonanceEstimate:
    """f0 (Hz), Q and the intrinsic response (complex, m) behind a measurement, with standard errors
    (None where not estimated)."""

    frequency: float
    quality: float
    intrinsic: complex
    frequency_stderr: float | None = None
    quality_stderr: float | None = None
    amplitude_stderr: float | None = None

    @property
    def amplitude(self) -> float:
        """Intrinsic amplitude |A_d| (m)."""
        return abs(self.intrinsic)

    @property
    def phase_deg(self) -> float:
        """Intrinsic phase (degrees): the phase the displacement would have without the resonance."""
        return math.degrees(np.angle(self.intrinsic))


def dart(f1: float, f2: float, z1: complex, z2: complex) -> ResonanceEstimate:
    """Invert two lock-in readings ``z1``, ``z2`` (complex, m) at ``f1`` < f0 < ``f2`` (Hz) for the
    resonance and the intrinsic response (Gannepalli et al. 2011, docs/guide/instrument.md, 'DART: two frequencies across the resonance'); it assumes the
    intrinsic response is the same at both frequencies."""
    if not 0 < f1 < f2:
        raise InputError("DART", f"needs 0 < f1 < f2, got f1 = {f1:g} Hz, f2 = {f2:g} Hz")
    a1, a2 = abs(z1), abs(z2)
    lag1, lag2 = -np.angle(z1), -np.angle(z2)  # the oscillator lags: phases in the lag convention
    tangent = math.tan(lag2 - lag1)
    if a1 == 0 or a2 == 0 or tangent == 0:
        raise InputError("DART", "needs two non-zero readings with different phases")
    ratio = f1 * a1 / (f2 * a2)
    root = math.copysign(math.sqrt(1 + tangent**2), tangent)
    x1 = -(1 - root / ratio) / tangent
    x2 = (1 - root * ratio) / tangent
    numerator, denominator = f2 * x1 - f1 * x2, f1 * x1 - f2 * x2
    if numerator * denominator <= 0:
        raise InputError("DART", "readings are not consistent with one resonance between f1 and f2")
    f0 = math.sqrt(f1 * f2 * numerator / denominator)
    quality = math.sqrt(f1 * f2 * numerator * denominator) / (f2**2 - f1**2)
    intrinsic = z1 / Resonance(f0, quality).transfer(f1)
    return ResonanceEstimate(float(f0), float(quality), complex(intrinsic))


def fit_sho(frequency, readings) -> ResonanceEstimate:
    """Least-squares fit of complex readings (m) at ``frequency`` (Hz, array) with A_d H(f) (constant
    intrinsic response A_d): f0, Q and A_d with standard errors from the Jacobian, the noise variance
    estimated from the residual."""
    f = np.asarray(frequency, dtype=float)
    z = np.asarray(readings, dtype=complex)
    if f.size < 5 or f.size != z.size:
        raise InputError("SHO fit", f"needs at least 5 readings with one frequency each, got {f.size}, {z.size}")
    if not np.abs(z).max() > 0:
        raise InputError("SHO fit", "all readings are zero: there is no resonance to fit")
    peak = int(np.argmax(np.abs(z)))
    f0, width = f[peak], _half_power_width(f, np.abs(z), peak)
    quality = f0 / width if width > 0 else 10.0
    start = z[peak] / Resonance(f0, quality).transfer(f0)
    scale = np.abs(z).max()

    def residual(p):
        model = (p[2] + 1j * p[3]) * scale * Resonance(f0 * p[0], p[1]).transfer(f)
        difference = (model - z) / scale
        return np.concatenate([difference.real, difference.imag])

    try:
        fit = least_squares(
            residual, [1.0, quality, start.real / scale, start.imag / scale], bounds=([0.5, 0.5, -np.inf, -np.inf], np.inf),
            x_scale="jac", xtol=1e-14, ftol=1e-14, gtol=1e-14,
        )
    except InputError:  # the fit ran off to a resonance no cantilever has: noise, not a resonance
        raise InputError("SHO fit", "no signal: no resonance explains these readings (noise only)") from None
    covariance = _covariance(fit.jac, fit.fun)
    amplitude = complex(fit.x[2], fit.x[3]) * scale
    gradient = np.array([0, 0, fit.x[2], fit.x[3]]) / max(abs(amplitude) / scale, 1e-300)
    estimate = ResonanceEstimate(
        frequency=float(f0 * fit.x[0]),
        quality=float(fit.x[1]),
        intrinsic=amplitude,
        frequency_stderr=float(f0 * math.sqrt(covariance[0, 0])),
        quality_stderr=float(math.sqrt(covariance[1, 1])),
        amplitude_stderr=float(scale * math.sqrt(max(gradient @ covariance @ gradient, 0.0))),
    )
    if estimate.amplitude < SIGNIFICANCE * estimate.amplitude_stderr or estimate.quality_stderr > estimate.quality / 2:
        raise InputError(
            "SHO fit", f"no signal: the fitted resonance is not above the noise (amplitude {estimate.amplitude:.3g} +- "
            f"{estimate.amplitude_stderr:.2g} m, Q {estimate.quality:.3g} +- {estimate.quality_stderr:.2g})"
        )
    return estimate


def _half_power_width(f, amplitude, peak: int) -> float:
    """Full width (Hz) where the amplitude exceeds peak / sqrt(2), or 0 if the sweep does not reach it."""
    above = np.flatnonzero(amplitude >= amplitude[peak] / math.sqrt(2))
    return float(f[above].max() - f[above].min())


def _covariance(jacobian, residual) -> np.ndarray:
    """Parameter covariance (J^T J)^-1 s^2 with s^2 the residual variance per degree of freedom."""
    dof = max(jacobian.shape[0] - jacobian.shape[1], 1)
    variance = float(residual @ residual) / dof
    return np.linalg.pinv(jacobian.T @ jacobian) * variance
