"""The instrument model: SHO transfer function, lock-in, DART and the SHO fit (docs/guide/instrument.md)."""

import math

import numpy as np
import pytest

from stimsim.core.errors import InputError
from stimsim.instrument.afm import LockIn, Resonance, contact_mode, contact_stiffness, dart, fit_sho

#: The paper's ceria thermal channel (docs/theory/paper.md) and an intrinsic response of 38.2 pm.
F0, Q = 123.4e3, 57.7
INTRINSIC = 38.2e-12 * np.exp(0.7j)


def test_transfer_function_has_the_sho_amplitude_and_lag():
    """|H| = f0^2 / sqrt((f0^2 - f^2)^2 + (f f0/Q)^2), lag atan2(f f0/Q, f0^2 - f^2): 1 at DC, Q at f0
    with a 90 degree lag, 180 degrees far above."""
    resonance = Resonance(F0, Q)
    f = np.array([0.0, 0.9 * F0, F0, 1.1 * F0, 20 * F0])
    h = resonance.transfer(f)
    amplitude = F0**2 / np.sqrt((F0**2 - f**2) ** 2 + (f * F0 / Q) ** 2)
    np.testing.assert_allclose(np.abs(h), amplitude, rtol=1e-13)
    np.testing.assert_allclose(-np.angle(h), np.arctan2(f * F0 / Q, F0**2 - f**2), atol=1e-13)
    assert abs(h[2]) == pytest.approx(Q, rel=1e-13) and math.degrees(-np.angle(h[2])) == pytest.approx(90)


def test_lock_in_reads_harmonic_n_at_n_times_the_drive_and_noise_is_seeded():
    resonance = Resonance(F0, Q)
    clean = LockIn(resonance).read(F0 / 4, 4, INTRINSIC)
    assert clean == pytest.approx(Q * INTRINSIC * -1j, rel=1e-12)  # on resonance: gain Q, 90 degree lag
    noisy = [LockIn(resonance, noise=1e-12, seed=7).read(np.full(2000, F0 / 4), 4, INTRINSIC) for _ in range(2)]
    np.testing.assert_array_equal(noisy[0], noisy[1])
    deviation = noisy[0] - clean
    assert np.std(deviation.real) == pytest.approx(1e-12, rel=0.1) and np.std(deviation.imag) == pytest.approx(1e-12, rel=0.1)


@pytest.mark.parametrize("offset", [0.2, 0.5, 2.0])
def test_dart_recovers_resonance_and_intrinsic_response_exactly(offset):
    """Noise-free readings at f0 (1 -/+ offset / 2Q): f0, Q, amplitude and phase to round-off."""
    resonance = Resonance(F0, Q)
    f1, f2 = F0 * (1 - offset / (2 * Q)), F0 * (1 + offset / (2 * Q))
    z1, z2 = (resonance.transfer(f) * INTRINSIC for f in (f1, f2))
    found = dart(f1, f2, z1, z2)
    assert found.frequency == pytest.approx(F0, rel=1e-12)
    assert found.quality == pytest.approx(Q, rel=1e-10)
    assert found.intrinsic == pytest.approx(INTRINSIC, rel=1e-10)


def test_dart_with_noise_stays_within_the_expected_scatter():
    """1 % detector noise (relative to the readings at the DART points): over 200 seeded draws the
    mean estimates are unbiased to 0.5 % and f0 scatters by less than 0.1 % of f0."""
    resonance = Resonance(F0, Q)
    f1, f2 = F0 * (1 - 0.5 / (2 * Q)), F0 * (1 + 0.5 / (2 * Q))
    noise = 0.01 * abs(resonance.transfer(f1) * INTRINSIC)
    lock_in = LockIn(resonance, noise=noise, seed=3)
    estimates = [dart(f1, f2, lock_in.read(f1, 1, INTRINSIC), lock_in.read(f2, 1, INTRINSIC)) for _ in range(200)]
    f0 = np.array([e.frequency for e in estimates])
    amplitude = np.array([e.amplitude for e in estimates])
    quality = np.array([e.quality for e in estimates])
    assert abs(f0.mean() / F0 - 1) < 1e-4 and f0.std() / F0 < 1e-3
    assert abs(np.median(amplitude) / abs(INTRINSIC) - 1) < 5e-3
    assert abs(np.median(quality) / Q - 1) < 5e-3


def test_sho_fit_recovers_exactly_without_noise_and_within_its_errors_with_noise():
    resonance = Resonance(F0, Q)
    f = np.linspace(F0 * (1 - 4 / Q), F0 * (1 + 4 / Q), 41)
    exact = fit_sho(f, resonance.transfer(f) * INTRINSIC)
    assert exact.frequency == pytest.approx(F0, rel=1e-12) and exact.quality == pytest.approx(Q, rel=1e-10)
    assert exact.intrinsic == pytest.approx(INTRINSIC, rel=1e-10)
    lock_in = LockIn(resonance, noise=0.02 * Q * abs(INTRINSIC), seed=11)  # 2 % of the peak
    noisy = fit_sho(f, lock_in.read(f, 1, INTRINSIC))
    assert abs(noisy.frequency - F0) < 4 * noisy.frequency_stderr
    assert abs(noisy.quality - Q) < 4 * noisy.quality_stderr
    assert abs(noisy.amplitude - abs(INTRINSIC)) < 4 * noisy.amplitude_stderr
    assert noisy.amplitude_stderr < 0.02 * abs(INTRINSIC)


def test_contact_mode_runs_from_the_free_to_the_pinned_cantilever():
    """x(0) solves 1 + cos x cosh x = 0, x(k* >> k_c) -> tan x = tanh x, monotonic in between; a weak
    spring raises omega^2 by k*/m_eff with m_eff = m/4 (Rayleigh quotient of the free mode), i.e.
    (x/x0)^4 - 1 = 12 (k*/k_c) / x0^4."""
    x0 = contact_mode(0.0)
    assert x0 == pytest.approx(1.8751040687, rel=1e-10)
    assert 1 + math.cos(x0) * math.cosh(x0) == pytest.approx(0, abs=1e-9)
    pinned = contact_mode(1e9)
    assert math.tan(pinned) == pytest.approx(math.tanh(pinned), abs=1e-6) and pinned == pytest.approx(3.9266, rel=1e-4)
    modes = [contact_mode(r) for r in (0.0, 0.1, 1.0, 10.0, 100.0, 1e4)]
    assert all(b > a for a, b in zip(modes, modes[1:]))
    ratio = 1e-4
    assert (contact_mode(ratio) / x0) ** 4 - 1 == pytest.approx(12 * ratio / x0**4, rel=1e-3)


def test_resonance_follows_the_contact_stiffness_through_the_contact_mode():
    stiffness = contact_stiffness(20e-9, 200e9, 0.3)
    assert stiffness == pytest.approx(2 * 20e-9 * 200e9 / 0.91)
    resonance = Resonance(F0, Q, cantilever_stiffness=40.0, reference_stiffness=stiffness)
    softer = resonance.at_contact_stiffness(stiffness / 20)
    expected = F0 * (contact_mode(stiffness / 20 / 40) / contact_mode(stiffness / 40)) ** 2
    assert softer.frequency == pytest.approx(expected, rel=1e-12) and softer.frequency < F0
    assert resonance.at_contact_stiffness(stiffness).frequency == pytest.approx(F0, rel=1e-12)
    stiffest = F0 * (3.9267 / contact_mode(stiffness / 40)) ** 2
    assert F0 < resonance.at_contact_stiffness(1e12).frequency < stiffest
    assert Resonance(F0, Q).at_contact_stiffness(1e9).frequency == F0


@pytest.mark.parametrize(
    "call, key",
    [
        (lambda: Resonance(-1.0, Q), "instrument.resonance_frequency"),
        (lambda: Resonance(F0, 0.1), "instrument.quality_factor"),
        (lambda: LockIn(Resonance(F0, Q), noise=-1e-12), "instrument.noise"),
        (lambda: dart(2e5, 1e5, 1j, 1.0), "DART"),
        (lambda: fit_sho([1.0, 2.0], [1j, 1j]), "SHO fit"),
    ],
)
def test_bad_instrument_input_is_rejected_by_name(call, key):
    with pytest.raises(InputError, match=key):
        call()


def test_sho_fit_of_noise_alone_says_no_signal_and_a_weak_signal_is_found():
    """PTFE's ionic channel carries only detector noise: no resonance with standard errors, 'no signal'."""
    resonance = Resonance(118.7e3, 46.4)
    f = resonance.frequency * (1 + np.linspace(-0.5, 0.5, 41) * 8 / resonance.quality)
    for seed in range(10):
        with pytest.raises(InputError, match="no signal"):
            fit_sho(f, LockIn(resonance, 1e-15, seed).read(f, 1, 0j))
    for seed in range(3):  # 3 % of the noise, lifted by Q = 46 at the resonance
        found = fit_sho(f, LockIn(resonance, 1e-15, seed).read(f, 1, 3e-17 * (1 + 1j)))
        assert found.quality == pytest.approx(46.4, rel=0.5)
