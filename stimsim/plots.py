"""Plots of the tip response (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

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


def plot_fit(points: list[dict], path: Path, title: str = "") -> None:
    """Measured (with one-sigma bars) against fitted amplitude and phase, per harmonic, against frequency."""
    fig, axes = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
    for harmonic in sorted({p["harmonic"] for p in points}):
        group = sorted((p for p in points if p["harmonic"] == harmonic), key=lambda p: p["drive_frequency_hz"])
        f = [p["drive_frequency_hz"] for p in group]
        data = axes[0].errorbar(
            f, [p["amplitude_m"] * 1e12 for p in group], yerr=[p["amplitude_sigma_m"] * 1e12 for p in group],
            fmt="o", label=f"n={harmonic} data",
        )
        color = data[0].get_color()
        axes[0].plot(f, [p["model_amplitude_m"] * 1e12 for p in group], "-", color=color, label=f"n={harmonic} fit")
        model = np.degrees(np.unwrap(np.radians([p["model_phase_deg"] for p in group])))  # continuous in f
        if "phase_deg" in group[0]:
            offset = [(p["phase_deg"] - p["model_phase_deg"] + 180) % 360 - 180 for p in group]
            axes[1].errorbar(f, model + offset, yerr=[p["phase_sigma_deg"] for p in group], fmt="o", color=color)
        axes[1].plot(f, model, "-", color=color)
    axes[0].set(xscale="log", yscale="log", ylabel="tip displacement amplitude (pm)")
    axes[1].set(xscale="log", xlabel="drive frequency (Hz)", ylabel="displacement phase (deg)")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
