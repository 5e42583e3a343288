"""Plots of the tip response (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_response(responses, path: Path, title: str = "") -> None:
    """Amplitude (log axis: the ionic response is orders below the thermal one) and phase of the tip
    displacement and temperature against drive frequency. Rows of exactly zero (the ionic rows of a
    material without mobile ions) have no amplitude or phase and are not drawn."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), sharex=True)
    for (harmonic, kind), group in _groups(responses).items():
        label = f"n={harmonic} {kind}"
        moving = [r for r in group if r.amplitude > 0]
        heated = [r for r in group if r.temperature_amplitude > 0]
        if moving:
            f = [r.drive_frequency for r in moving]
            axes[0, 0].loglog(f, [r.amplitude * 1e12 for r in moving], "o-", label=label)
            axes[1, 0].semilogx(f, [r.phase_deg for r in moving], "o-", label=label)
        if heated:
            f = [r.drive_frequency for r in heated]
            axes[0, 1].loglog(f, [r.temperature_amplitude for r in heated], "s-", label=label)
            axes[1, 1].semilogx(f, [r.temperature_phase_deg for r in heated], "s-", label=label)
    axes[0, 0].set_ylabel("tip displacement amplitude (pm)")
    axes[1, 0].set_ylabel("displacement phase (deg)")
    axes[0, 1].set_ylabel("tip temperature amplitude (K)")
    axes[1, 1].set_ylabel("temperature phase (deg)")
    for ax in axes[1]:
        ax.set_xlabel("drive frequency (Hz)")
    for ax in axes.flat:
        ax.grid(True, which="both", alpha=0.3)
    if axes[0, 0].get_legend_handles_labels()[0]:
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


def plot_table(table, path: Path, title: str = "") -> None:
    """The figure of one virtual-experiment table (:mod:`stimsim.experiments`), by table name."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    PLOTTERS[table.name](table.rows, axes)
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_fit(points: list[dict], path: Path, title: str = "") -> None:
    """Measured (with one-sigma bars) against fitted amplitude and phase, per measurement condition and
    harmonic, against frequency (points without ``phase_deg`` have no measured phase)."""
    fig, axes = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
    for condition, harmonic in sorted({(p.get("condition", ""), p["harmonic"]) for p in points}):
        group = sorted((p for p in points if (p.get("condition", ""), p["harmonic"]) == (condition, harmonic)),
                       key=lambda p: p["drive_frequency_hz"])
        label = f"n={harmonic}" + (f", {condition}" if condition else "")
        f = np.array([p["drive_frequency_hz"] for p in group])
        data = axes[0].errorbar(
            f, [p["amplitude_m"] * 1e12 for p in group], yerr=[p["amplitude_sigma_m"] * 1e12 for p in group],
            fmt="o", label=f"{label} data",
        )
        color = data[0].get_color()
        axes[0].plot(f, [p["model_amplitude_m"] * 1e12 for p in group], "-", color=color, label=f"{label} fit")
        model = np.degrees(np.unwrap(np.radians([p["model_phase_deg"] for p in group])))  # continuous in f
        phased = np.array(["phase_deg" in p for p in group])
        if phased.any():
            offset = [(p["phase_deg"] - p["model_phase_deg"] + 180) % 360 - 180 for p in group if "phase_deg" in p]
            axes[1].errorbar(f[phased], model[phased] + offset, yerr=[p["phase_sigma_deg"] for p in group if "phase_deg" in p],
                             fmt="o", color=color)
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


def plot_design(rows: list[dict], path: Path, title: str = "") -> None:
    """A measurement design (rows of design.csv): the predicted sigma of ln target with the chosen set
    plus one more measurement, against drive frequency, one line per harmonic and DC power, the chosen
    candidates ringed and the chosen set's own sigma dashed; with model separation, its chi-square
    likewise below. Undetermined candidates (empty sigma) are not drawn."""
    panels = [("sigma_ln_target", "chosen", "sigma of ln target, chosen set\n+ one more measurement")]
    if "separation_chi2" in rows[0]:
        panels.append(("separation_chi2", "separating", "model separation chi-square,\nseparating set + one more"))
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 3.6 * len(panels)), sharex=True, squeeze=False)
    groups: dict = {}
    for row in rows:
        groups.setdefault((row["harmonic"], row["dc_power_w"]), []).append(row)
    for ax, (column, marked, label) in zip(axes[:, 0], panels):
        for (harmonic, power), group in sorted(groups.items()):
            shown = sorted((r for r in group if (r[f"{column}_next"] or 0) > 0), key=lambda r: r["drive_frequency_hz"])
            if not shown:
                continue
            f = [r["drive_frequency_hz"] for r in shown]
            line = ax.loglog(f, [r[f"{column}_next"] for r in shown], "o-", ms=4, label=f"n={harmonic}, {power:g} W DC")[0]
            picked = [r for r in shown if r[marked]]
            ax.plot([r["drive_frequency_hz"] for r in picked], [r[f"{column}_next"] for r in picked], "o", ms=11,
                    mfc="none", color=line.get_color())
        last = max((r for r in rows if r[marked]), key=lambda r: r["rank" if marked == "chosen" else "separation_rank"])
        if last[column]:
            ax.axhline(last[column], color="k", ls="--", lw=1, label="the chosen set")
        ax.set(ylabel=label)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    axes[-1, 0].set_xlabel("drive frequency (Hz); ringed: chosen")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _by(rows, key) -> dict:
    groups: dict = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    return groups


def _sweep(rows, axes) -> None:
    for channel, group in _by(rows, "channel").items():
        f = [r["signal_frequency_hz"] / 1e3 for r in group]
        n = group[0]["harmonic"]
        axes[0].plot(f, [r["measured_amplitude_m"] * 1e12 for r in group], "o-", ms=3, label=f"{channel} (n={n}) measured")
        axes[0].plot(f, [r["intrinsic_amplitude_m"] * 1e12 for r in group], "--", label=f"{channel} intrinsic")
        axes[1].plot(f, [r["measured_phase_deg"] for r in group], "o-", ms=3, label=f"{channel} (n={n})")
    axes[0].set(xlabel="lock-in frequency n f (kHz)", ylabel="amplitude (pm)", yscale="log")
    axes[1].set(xlabel="lock-in frequency n f (kHz)", ylabel="phase (deg)")


def _fits(rows, axes) -> None:
    for channel, group in _by(rows, "channel").items():
        methods = [r["method"] for r in group]
        axes[0].plot(methods, [r["intrinsic_amplitude_m"] * 1e12 for r in group], "o", label=channel)
        axes[1].plot(methods, [r["resonance_frequency_hz"] / 1e3 for r in group], "o", label=channel)
    axes[0].set(ylabel="intrinsic amplitude (pm)", yscale="log")
    axes[1].set(ylabel="contact resonance (kHz)")


def _loops(rows, axes) -> None:
    harmonic = max(r["harmonic"] for r in rows if r["kind"] == "ionic")
    for f_m, group in _by([r for r in rows if r["kind"] == "ionic" and r["harmonic"] == harmonic], "modulation_frequency_hz").items():
        p = [r["dc_power_w"] * 1e6 for r in group] + [group[0]["dc_power_w"] * 1e6]
        a = [r["amplitude_m"] * 1e12 for r in group] + [group[0]["amplitude_m"] * 1e12]
        axes[0].plot(p, a, "-", label=f"f_m = {f_m:g} Hz")
        axes[1].plot(p, [r["phase_deg"] for r in group] + [group[0]["phase_deg"]], "-", label=f"f_m = {f_m:g} Hz")
    axes[0].set(xlabel="DC heating power (uW)", ylabel=f"ionic amplitude, n={harmonic} (pm)")
    axes[1].set(xlabel="DC heating power (uW)", ylabel="ionic phase (deg)")


def _loop_areas(rows, axes) -> None:
    f = [r["modulation_frequency_hz"] for r in rows]
    axes[0].loglog(f, [r["loop_area_m_w"] for r in rows], "o-")
    axes[0].set(xlabel="modulation frequency (Hz)", ylabel="loop area (m W)")
    axes[1].semilogx(f, [r["relative_loop_area"] for r in rows], "o-")
    axes[1].set(xlabel="modulation frequency (Hz)", ylabel="loop area / (amplitude range x power range)")


def _series(key: str, scale: float, label: str):
    def plot(rows, axes) -> None:
        for (harmonic, kind), group in _by(rows, "_group").items():
            x = [r[key] * scale for r in group]
            axes[0].plot(x, [r["amplitude_m"] * 1e12 for r in group], "o-", label=f"n={harmonic} {kind}")
            axes[1].plot(x, [r["phase_deg"] for r in group], "o-", label=f"n={harmonic} {kind}")
        axes[0].set(xlabel=label, ylabel="amplitude (pm)", yscale="log")
        axes[1].set(xlabel=label, ylabel="phase (deg)")

    return lambda rows, axes: plot([dict(r, _group=(r["harmonic"], r["kind"])) for r in rows], axes)


PLOTTERS = {
    "resonance_sweep": _sweep,
    "resonance_fit": _fits,
    "modulation": _loops,
    "modulation_loops": _loop_areas,
    "dc_series": _series("dc_power_w", 1e6, "DC heating power (uW)"),
    "force_series": _series("force_n", 1e9, "contact force (nN)"),
}


def plot_scan(table, path: Path, channels, title: str = "") -> None:
    """The picture of a line scan or map (:mod:`stimsim.experiments.scans`): for a line scan, the amplitude and
    phase of the thermal and ionic channels (harmonics ``channels.thermal`` and ``channels.ionic``)
    against the distance along it, a curve per drive frequency; for a map, their images at the first
    drive frequency, and the contact-resonance shift where the table has it. A channel without signal
    (no mobile ions) is left empty with a note."""
    picked = {name: [r for r in table.rows if r["kind"] == name and r["harmonic"] == n]
              for name, n in (("thermal", channels.thermal), ("ionic", channels.ionic))}
    shift = any("resonance_shift_hz" in r for r in table.rows)
    columns = 3 if table.name == "map" and shift else 2
    fig, axes = plt.subplots(2, columns, figsize=(5.2 * columns, 7.5), squeeze=False)
    for column, (name, rows) in enumerate(picked.items()):
        label = f"{name}, n={rows[0]['harmonic']}" if rows else name
        if not any(r["amplitude_m"] > 0 for r in rows):
            for ax in axes[:, column]:
                ax.text(0.5, 0.5, f"no {name} signal", ha="center", va="center", transform=ax.transAxes)
            continue
        if table.name == "line_scan":
            _profiles(rows, axes[:, column], label)
        else:
            _images(fig, rows, axes[:, column], label)
    if columns == 3:
        thermal = picked["thermal"]
        first = [r for r in thermal if r["drive_frequency_hz"] == thermal[0]["drive_frequency_hz"]]
        _image(fig, axes[0, 2], first, [r["resonance_shift_hz"] / 1e3 for r in first], "contact resonance shift (kHz)")
        axes[1, 2].axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _profiles(rows, axes, label: str) -> None:
    """Amplitude (pm) and phase (deg) against the distance (nm), a curve per drive frequency."""
    for frequency, group in _by(rows, "drive_frequency_hz").items():
        d = [r["distance_m"] * 1e9 for r in group]
        axes[0].plot(d, [r["amplitude_m"] * 1e12 for r in group], "o-", ms=3, label=f"{frequency:g} Hz")
        axes[1].plot(d, [r["phase_deg"] for r in group], "o-", ms=3, label=f"{frequency:g} Hz")
    axes[0].set(ylabel=f"{label} amplitude (pm)")
    axes[1].set(xlabel="distance along the scan (nm)", ylabel=f"{label} phase (deg)")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)


def _images(fig, rows, axes, label: str) -> None:
    """Amplitude (pm) and phase (deg) images at the first drive frequency."""
    first = [r for r in rows if r["drive_frequency_hz"] == rows[0]["drive_frequency_hz"]]
    at = f"{first[0]['drive_frequency_hz']:g} Hz"
    _image(fig, axes[0], first, [r["amplitude_m"] * 1e12 for r in first], f"{label} amplitude (pm), {at}")
    _image(fig, axes[1], first, [r["phase_deg"] for r in first], f"{label} phase (deg), {at}")


def _image(fig, ax, rows, values, label: str) -> None:
    """``values`` of the map ``rows`` as an image over (x, y) in nm (a missing position left blank)."""
    xs, ys = sorted({r["x_m"] for r in rows}), sorted({r["y_m"] for r in rows})
    grid = np.full((len(ys), len(xs)), np.nan)
    for r, value in zip(rows, values):
        grid[ys.index(r["y_m"]), xs.index(r["x_m"])] = value
    mesh = ax.pcolormesh(np.array(xs) * 1e9, np.array(ys) * 1e9, grid, shading="nearest")
    fig.colorbar(mesh, ax=ax)
    ax.set(xlabel="x (nm)", ylabel="y (nm)", title=label, aspect="equal")
