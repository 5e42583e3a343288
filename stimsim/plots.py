"""Plots of the tip response (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_response(responses, path: Path, title: str = "") -> None:
    """Amplitude and phase of the tip displacement and temperature against drive frequency."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), sharex=True)
    for (harmonic, kind), group in _groups(responses).items():
        f = [r.drive_frequency for r in group]
        label = f"n={harmonic} {kind}"
        axes[0, 0].semilogx(f, [r.amplitude * 1e12 for r in group], "o-", label=label)
        axes[1, 0].semilogx(f, [r.phase_deg for r in group], "o-", label=label)
        axes[0, 1].semilogx(f, [r.temperature_amplitude for r in group], "s-", label=label)
        axes[1, 1].semilogx(f, [r.temperature_phase_deg for r in group], "s-", label=label)
    axes[0, 0].set_ylabel("tip displacement amplitude (pm)")
    axes[1, 0].set_ylabel("displacement phase (deg)")
    axes[0, 1].set_ylabel("tip temperature amplitude (K)")
    axes[1, 1].set_ylabel("temperature phase (deg)")
    for ax in axes[1]:
        ax.set_xlabel("drive frequency (Hz)")
    for ax in axes.flat:
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _groups(responses) -> dict:
    groups: dict = {}
    for r in responses:
        groups.setdefault((r.harmonic, r.kind), []).append(r)
    return groups
