"""Virtual experiments: the protocols an STIM user runs, and the data the AFM would record.

A study file describes the instrument in ``[instrument]`` and the protocols in ``[protocol.<name>]``
tables (:data:`PROTOCOLS`):

- ``resonance_sweep``: the drive frequency is swept so that the lock-in harmonic of a channel (thermal
  or ionic) crosses the contact resonance; the model gives the intrinsic response at every point, the
  lock-in reads it through the resonance, and an SHO fit and DART recover f0, Q and the intrinsic
  amplitude (the STIM paper's Fig. 5).
- ``modulation``: temperature spectroscopy, a slow modulation of the DC heating under a fast drive
  (:mod:`stimsim.experiments.modulation`); the ionic response against the DC power traces loops (the paper's Fig. 6).
- ``dc_series``: steady responses against the DC heating power.
- ``force_series``: responses against the static contact force (Hertz preload and contact radius), with
  the contact resonance following the contact stiffness.
- ``line_scan`` and ``map`` (3D samples only): the tip moved over the sample, one solve per position,
  run as a sweep over the tip position into a resumable store (:mod:`stimsim.experiments.scans`).

With ``[instrument] contact_nonlinearity = "hertz"`` the lock-in also reads the Hertz contact's
second harmonics (:func:`stimsim.instrument.afm.contact_harmonics`): the sweeps add them to the intrinsic
signal and say how much in their ``contact_*`` columns; the DC and force series list them as rows of kind
'contact' and give a 'total' row (everything the lock-in reads) wherever several kinds land on one
harmonic. The modulation traces stay the sample's own harmonics.

Each protocol returns a :class:`Table`; :func:`run_experiments` runs the ones a study asks for.
Powers in W, forces in N, frequencies in Hz, displacements in m, phases in degrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from stimsim.core.errors import InputError, suggest
from stimsim.core.progress import Progress
from stimsim.experiments.modulation import Modulation, modulation_loop
from stimsim.fem.response import PARTS
from stimsim.instrument.afm import (
    HertzContact,
    LockIn,
    Resonance,
    contact_harmonics,
    contact_stiffness,
    dart,
    fit_sho,
)
from stimsim.solve.forward import base_state, dc_heating_per_watt
from stimsim.solve.model import HarmonicModel
from stimsim.solve.simulate import solve_frequencies
from stimsim.study.grains import disk_fractions
from stimsim.study.load import derived_study
from stimsim.study.schema import REQUIRED, Key, check_table
from stimsim.study.study import Study

_HZ = dict(low=0.0, high=1e10)

INSTRUMENT: dict[str, Key] = {
    "resonance_frequency": Key("number", "Hz", "contact resonance f0 of the cantilever", REQUIRED, **_HZ),
    "quality_factor": Key("number", "1", "quality factor Q of the contact resonance", REQUIRED, low=0.5, high=1e6),
    "cantilever_stiffness": Key(
        "number", "N/m", "cantilever stiffness k_c: f0 follows the contact stiffness 2aE* (absent: f0 fixed)",
        low=0.0, high=1e6,
    ),
    "noise": Key("number", "m", "detector noise per lock-in quadrature", 0.0, low=0.0, high=1e-6, low_inclusive=True),
    "seed": Key("integer", "", "seed of the noise generator", 0, low=0, high=2**32 - 1),
    "contact_nonlinearity": Key(
        "string", "", "second harmonics of the tip-sample contact read by the lock-in: none, or the Hertz "
        "contact under tip.force on a tip of tip.tip_radius", "none", choices=("none", "hertz"),
    ),
}

#: How a line scan or map is run (not what it computes): ranks per position and the dispatcher of
#: :func:`stimsim.hpc.sweep.run_sweep` (its ``ranks_per_sample`` and ``dispatcher``).
SCAN_RUN_KEYS: dict[str, Key] = {
    "ranks_per_position": Key("integer", "1", "MPI ranks that solve one position together", 1, low=1, high=100000),
    "dispatcher": Key(
        "string", "", "where the dispatcher of the positions runs: beside rank 0's group, or alone on rank 0",
        "shared", choices=("shared", "dedicated"),
    ),
}

class Protocol(StrEnum):
    """The virtual experiments a study can run, one ``[protocol.<name>]`` table each."""

    RESONANCE_SWEEP = "resonance_sweep"
    MODULATION = "modulation"
    DC_SERIES = "dc_series"
    FORCE_SERIES = "force_series"
    LINE_SCAN = "line_scan"
    MAP = "map"

    @property
    def is_scan(self) -> bool:
        """Whether it moves the tip over a 3D sample (:mod:`stimsim.experiments.scans`), one table of its name."""
        return self in (Protocol.LINE_SCAN, Protocol.MAP)

    @property
    def needs_instrument(self) -> bool:
        """Whether it reads through the instrument's resonance."""
        return self in (Protocol.RESONANCE_SWEEP, Protocol.FORCE_SERIES)

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables it writes (file names without suffix)."""
        extra = {Protocol.RESONANCE_SWEEP: "resonance_fit", Protocol.MODULATION: "modulation_loops"}
        return (self.value, extra[self]) if self in extra else (self.value,)



PROTOCOLS: dict[str, dict[str, Key]] = {
    "resonance_sweep": {
        "channel": Key("string", "", "channels swept", "both", choices=("both", "thermal", "ionic")),
        "points": Key("integer", "", "drive frequencies per sweep", 41, low=5, high=2001),
        "span": Key("number", "1", "sweep width in resonance widths f0/Q", 8.0, low=0.5, high=100.0),
        "dart_offset": Key("number", "1", "DART frequencies f0 (1 -/+ offset/(2Q))", 0.5, low=0.0, high=10.0),
    },
    "modulation": {
        "drive_frequency": Key("number", "Hz", "fast drive frequency (default: the first study frequency)", **_HZ),
        "modulation_frequencies": Key("numbers", "Hz", "slow modulation frequencies f_m", REQUIRED, low=0.0, high=1e9),
        "dc_power_amplitude": Key(
            "number", "W", "amplitude dP of the DC power modulation", REQUIRED, low=0.0, high=10.0, low_inclusive=True
        ),
        "waveform": Key("string", "", "waveform of the modulation", "sine", choices=("sine", "triangle", "square")),
        "periods": Key("integer", "", "modulation periods run (the last is recorded)", 3, low=1, high=1000),
        "steps_per_period": Key("integer", "", "slow time steps per modulation period", 32, low=8, high=10000),
    },
    "dc_series": {
        "dc_powers": Key("numbers", "W", "total DC heating powers", REQUIRED, low=0.0, high=10.0, low_inclusive=True),
        "drive_frequency": Key("number", "Hz", "drive frequency (default: the first study frequency)", **_HZ),
    },
    "line_scan": {
        "start": Key("numbers", "m", "first tip position [x, y] of the scan (geometry.model = '3d')", REQUIRED, low=-1.0, high=1.0),
        "end": Key("numbers", "m", "last tip position [x, y] of the scan", REQUIRED, low=-1.0, high=1.0),
        "points": Key("integer", "1", "tip positions along the line, start and end included", REQUIRED, low=2, high=10000),
        **SCAN_RUN_KEYS,
    },
    "map": {
        "origin": Key("numbers", "m", "corner [x, y] of the mapped rectangle with the smallest x and y (geometry.model = '3d')",
                      REQUIRED, low=-1.0, high=1.0),
        "size": Key("numbers", "m", "width [wx, wy] of the rectangle along x and y", REQUIRED, low=0.0, high=2.0),
        "points": Key("integers", "1", "tip positions [nx, ny] along x and y, edges included", REQUIRED, low=2, high=1000),
        **SCAN_RUN_KEYS,
    },
    "force_series": {
        "forces": Key("numbers", "N", "static contact forces (Hertz preload and contact radius)", REQUIRED, low=0.0, high=1e-3),
        "tip_radius": Key("number", "m", "tip radius of the Hertz contact (default: tip.tip_radius)", low=0.0, high=1e-3),
        "drive_frequency": Key("number", "Hz", "drive frequency (default: the first study frequency)", **_HZ),
    },
}


@dataclass(frozen=True)
class Table:
    """A tidy table: ``columns`` (name, unit, meaning) and ``rows`` (dicts keyed by column name)."""

    name: str
    columns: tuple[tuple[str, str, str], ...]
    rows: list[dict]

    @property
    def names(self) -> list[str]:
        return [c[0] for c in self.columns]


def instrument(study: Study) -> tuple[Resonance, LockIn]:
    """The study's contact resonance (at its own contact stiffness) and lock-in."""
    if "instrument" not in study.extensions:
        raise InputError("instrument", "is required by the protocols: give resonance_frequency and quality_factor")
    table = check_table("instrument", INSTRUMENT, study.extensions["instrument"])
    stiffness = contact_stiffness_of(study)
    resonance = Resonance(
        table["resonance_frequency"], table["quality_factor"], table["cantilever_stiffness"],
        stiffness if table["cantilever_stiffness"] is not None else None,
    )
    return resonance, LockIn(resonance, table["noise"], table["seed"])


def hertz_contact_requested(study: Study) -> bool:
    """Whether the study's instrument reads the contact nonlinearity (contact_nonlinearity = 'hertz')."""
    if "instrument" not in study.extensions:
        return False
    return check_table("instrument", INSTRUMENT, study.extensions["instrument"])["contact_nonlinearity"] != "none"


def hertz_contact(study: Study) -> HertzContact | None:
    """The study's Hertz contact if its instrument reads the contact nonlinearity (None otherwise)."""
    if not hertz_contact_requested(study):
        return None
    tip, top = study.tip, study.sample.material
    if not tip.force > 0 or tip.tip_radius is None:
        raise InputError(
            "instrument.contact_nonlinearity", "= 'hertz' needs a Hertz contact: give tip.force (N) and tip.tip_radius (m)"
        )
    return HertzContact(tip.force, tip.tip_radius, top.youngs_modulus / (1 - top.poisson_ratio**2))


def protocols(study: Study) -> dict[Protocol, dict]:
    """The validated ``[protocol.<name>]`` tables of a study, by protocol."""
    tables = study.extensions.get("protocol", {})
    if not isinstance(tables, dict) or not tables:
        raise InputError("protocol", f"needs at least one [protocol.<name>] table; names: {', '.join(PROTOCOLS)}")
    checked = {}
    for name, table in tables.items():
        if name not in PROTOCOLS:
            raise InputError(f"protocol.{name}", f"is not a protocol{suggest(name, PROTOCOLS)}")
        options = checked[Protocol(name)] = check_table(f"protocol.{name}", PROTOCOLS[name], table)
        if "drive_frequency" in options and options["drive_frequency"] is None:
            options["drive_frequency"] = study.excitation.frequencies[0]
    return checked


def _advanced(progress: Progress, value):
    """``value``, after counting one step of ``progress``."""
    progress.advance()
    return value


def harmonic_signal(rows, harmonic: int) -> complex:
    """Everything the sample's surface does at ``harmonic`` (m): first and second orders, ionic or not."""
    return sum((r.displacement for r in rows if r.harmonic == harmonic and r.kind in PARTS), 0j)


def surface_harmonics(rows) -> dict[int, complex]:
    """The first-order ('thermal') surface displacement (m) by harmonic: what the contact is driven by."""
    return {r.harmonic: r.displacement for r in rows if r.kind == "thermal"}


def contact_signals(rows, frequency: float, resonance: Resonance, contact: HertzContact | None) -> dict[int, complex]:
    """The contact's equivalent surface displacement (m) by harmonic at the drive ``frequency`` (Hz)
    (:func:`stimsim.instrument.afm.contact_harmonics`; empty without a contact nonlinearity)."""
    return {} if contact is None else contact_harmonics(surface_harmonics(rows), frequency, resonance, contact)


# -- resonance sweep ----------------------------------------------------------------------------

SWEEP_COLUMNS = (
    ("channel", "", "thermal or ionic lock-in channel"),
    ("harmonic", "", "lock-in harmonic n of the drive"),
    ("drive_frequency_hz", "Hz", "drive frequency f"),
    ("signal_frequency_hz", "Hz", "frequency n f the lock-in reads"),
    ("intrinsic_amplitude_m", "m", "model surface displacement amplitude at n f"),
    ("intrinsic_phase_deg", "deg", "its phase"),
    ("contact_amplitude_m", "m", "part of the intrinsic signal from the Hertz contact nonlinearity (0: not modelled)"),
    ("contact_phase_deg", "deg", "its phase"),
    ("measured_amplitude_m", "m", "lock-in amplitude through the resonance (with noise)"),
    ("measured_phase_deg", "deg", "lock-in phase"),
    ("measured_real_m", "m", "lock-in X"),
    ("measured_imag_m", "m", "lock-in Y"),
)
FIT_COLUMNS = (
    ("channel", "", "thermal or ionic lock-in channel"),
    ("method", "", "model (the truth at f0), sho_fit (swept spectrum) or dart (two frequencies)"),
    ("resonance_frequency_hz", "Hz", "contact resonance f0"),
    ("quality_factor", "1", "quality factor Q"),
    ("intrinsic_amplitude_m", "m", "intrinsic amplitude A_d"),
    ("intrinsic_phase_deg", "deg", "intrinsic phase"),
    ("resonance_frequency_stderr_hz", "Hz", "standard error of f0 (sho_fit)"),
    ("quality_factor_stderr", "1", "standard error of Q (sho_fit)"),
    ("intrinsic_amplitude_stderr_m", "m", "standard error of A_d (sho_fit)"),
    ("note", "", "why a method gives no estimate (e.g. no signal above the noise)"),
)


def resonance_sweep(study: Study, comm, options: dict, progress: Progress) -> tuple[Table, Table]:
    """Sweep each channel across the resonance: the recorded spectra and the recovered resonances."""
    resonance, lock_in = instrument(study)
    contact = hertz_contact(study)
    channels_of = study.drive.channels
    harmonics = {"thermal": channels_of.thermal, "ionic": channels_of.ionic}
    channels = ("thermal", "ionic") if options["channel"] == "both" else (options["channel"],)
    offsets = np.linspace(-0.5, 0.5, options["points"]) * options["span"] / resonance.quality
    dart_offsets = np.array([-1.0, 1.0]) * options["dart_offset"] / (2 * resonance.quality)
    plan = {c: resonance.frequency / harmonics[c] * (1 + np.concatenate([offsets, dart_offsets, [0.0]])) for c in channels}
    sweep_study = derived_study(study, {"excitation.frequencies": sorted({float(f) for fs in plan.values() for f in fs})})
    with HarmonicModel(sweep_study, comm) as model:
        base_state(model)
        progress.total = sum(len(fs) for fs in plan.values())
        signals = {c: [_advanced(progress, _lock_in_signal(_checked(model, f), harmonics[c], f, resonance, contact)) for f in fs]
                   for c, fs in plan.items()}
    spectra, fits = [], []
    for c in channels:
        n, f = harmonics[c], plan[c]
        x, from_contact = (np.array(part) for part in zip(*signals[c]))
        readings = lock_in.read(f, n, x)
        points = len(offsets)
        spectra += [_sweep_row(c, n, f[i], x[i], from_contact[i], readings[i]) for i in range(points)]
        truth = dict(resonance_frequency_hz=resonance.frequency, quality_factor=resonance.quality)
        fits.append(dict(channel=c, method="model", **truth, **_complex_columns("intrinsic", x[-1]), note=""))
        fits.append(_fit_row(c, "sho_fit", lambda: fit_sho(n * f[:points], readings[:points])))
        if fits[-1]["note"].startswith("no signal"):  # two readings cannot tell a resonance from noise
            fits.append(dict(channel=c, method="dart", note="no signal (see sho_fit)"))
        else:
            fits.append(_fit_row(c, "dart", lambda: dart(n * f[points], n * f[points + 1], readings[points], readings[points + 1])))
    return Table("resonance_sweep", SWEEP_COLUMNS, spectra), Table("resonance_fit", FIT_COLUMNS, fits)


def _lock_in_signal(rows, harmonic: int, frequency: float, resonance: Resonance, contact) -> tuple[complex, complex]:
    """(intrinsic signal, its part from the contact) (m) at ``harmonic`` of ``frequency`` (Hz)."""
    from_contact = contact_signals(rows, frequency, resonance, contact).get(harmonic, 0j)
    return harmonic_signal(rows, harmonic) + from_contact, from_contact


def _checked(model, frequency: float, dc_key: str | None = None, dc_value: float | None = None) -> list:
    """The tip responses at ``frequency``, refused if their temperature or concentration leaves the
    model's range (:func:`stimsim.solve.limits.check_model`)."""
    return list(solve_frequencies(model, [frequency], dc_key=dc_key, dc_value=dc_value).rows)


def _sweep_row(channel, harmonic, drive_frequency, intrinsic, from_contact, reading) -> dict:
    return dict(
        channel=channel, harmonic=harmonic, drive_frequency_hz=float(drive_frequency),
        signal_frequency_hz=float(harmonic * drive_frequency), **_complex_columns("intrinsic", intrinsic),
        **_complex_columns("contact", from_contact),
        **_complex_columns("measured", reading), measured_real_m=float(reading.real), measured_imag_m=float(reading.imag),
    )


def _complex_columns(prefix: str, value: complex) -> dict:
    return {f"{prefix}_amplitude_m": float(abs(value)), f"{prefix}_phase_deg": float(np.degrees(np.angle(value)))}


def _fit_row(channel, method, estimate) -> dict:
    """The row of an estimate (a callable); a channel with no signal (all readings zero, or noise that
    no resonance explains) gets a row of empty values, as a lock-in analysis would report nothing."""
    try:
        estimate = estimate()
    except InputError as err:
        return dict(channel=channel, method=method, note=str(err).removeprefix(f"{err.key} "))
    return dict(
        channel=channel, method=method, note="", resonance_frequency_hz=estimate.frequency, quality_factor=estimate.quality,
        **_complex_columns("intrinsic", estimate.intrinsic), resonance_frequency_stderr_hz=estimate.frequency_stderr,
        quality_factor_stderr=estimate.quality_stderr, intrinsic_amplitude_stderr_m=estimate.amplitude_stderr,
    )


# -- series and modulation ------------------------------------------------------------------------

RESPONSE_COLUMNS = (
    ("harmonic", "", "harmonic n of the drive"),
    ("kind", "", "thermal (first order), ionic (second order), nonionic (heater background), contact (Hertz "
     "contact, read by the lock-in) or total (their sum where several land)"),
    ("amplitude_m", "m", "intrinsic tip displacement amplitude"),
    ("phase_deg", "deg", "its phase relative to the heating"),
    ("u_real_m", "m", "real part of the complex amplitude"),
    ("u_imag_m", "m", "imaginary part"),
)


def _response_rows(rows, contact: dict[int, complex] | None = None, **fields) -> list[dict]:
    """Table rows of the sample's tip responses ``rows`` and of the ``contact`` signals (m, by
    harmonic), with a 'total' row where several kinds land on one harmonic."""
    parts = [(r.harmonic, r.kind, r.displacement) for r in rows if r.kind in PARTS]
    parts += [(n, "contact", x) for n, x in sorted((contact or {}).items())]
    for harmonic in sorted({n for n, _, _ in parts}):
        landing = [x for n, _, x in parts if n == harmonic]
        if len(landing) > 1:
            parts.append((harmonic, "total", sum(landing, 0j)))
    return [
        dict(fields, harmonic=n, kind=kind, amplitude_m=abs(x), phase_deg=float(np.degrees(np.angle(x))),
             u_real_m=x.real, u_imag_m=x.imag)
        for n, kind, x in parts
    ]


def dc_series(study: Study, comm, options: dict, progress: Progress) -> Table:
    """Steady harmonics at the drive frequency against the total DC heating power (one model)."""
    single = derived_study(study, {"excitation.frequencies": [options["drive_frequency"]]})
    key = "protocol.dc_series.dc_powers"
    resonance, contact = _resonance_if_needed(study), hertz_contact(study)
    model = HarmonicModel(single, comm)
    rows = []
    try:
        own = base_state(model) / dc_heating_per_watt(model)
        for power in options["dc_powers"]:
            if power < own * (1 - 1e-12):
                raise InputError(
                    "protocol.dc_series.dc_powers", f"= {power:g} W is below the drive's own DC power {own:g} W"
                )
            model.solve_base_state(power * dc_heating_per_watt(model))
            rise = model.tip_values(model.base)[1].real
            found = _checked(model, options["drive_frequency"], dc_key=key, dc_value=power)
            signals = contact_signals(found, options["drive_frequency"], resonance, contact)
            rows += _response_rows(found, signals, dc_power_w=power, dc_tip_temperature_rise_k=rise)
            progress.advance(f"{power:g} W")
    finally:
        model.destroy()
    columns = (("dc_power_w", "W", "total DC heating power"), ("dc_tip_temperature_rise_k", "K", "steady tip temperature above ambient"))
    return Table("dc_series", columns + RESPONSE_COLUMNS, rows)


def force_series(study: Study, comm, options: dict, progress: Progress) -> Table:
    """Harmonics at the drive frequency against the static contact force: each force has its Hertz
    contact radius, preload and mesh (the heated disk keeps tip.thermal_contact_radius if the study
    gives one); the resonance follows the contact stiffness, relative to the study's own contact."""
    tip_radius = options["tip_radius"] or study.tip.tip_radius
    if tip_radius is None:
        raise InputError("protocol.force_series.tip_radius", "is required (m) unless the study gives tip.tip_radius")
    resonance, _ = instrument(study)
    rows = []
    for force in options["forces"]:
        variant = derived_study(study, {
            "tip.force": force, "tip.tip_radius": tip_radius, "tip.contact_radius": None,
            "excitation.frequencies": [options["drive_frequency"]],
        })
        with HarmonicModel(variant, comm) as model:
            base_state(model)
            found = _checked(model, options["drive_frequency"])
        progress.advance(f"{force:g} N")
        stiffness = contact_stiffness_of(variant)
        here = resonance.at_contact_stiffness(stiffness)
        signals = contact_signals(found, options["drive_frequency"], here, hertz_contact(variant))
        rows += _response_rows(
            found, signals, force_n=force, contact_radius_m=variant.tip.contact_radius, contact_stiffness_n_per_m=stiffness,
            resonance_frequency_hz=here.frequency,
        )
    columns = (
        ("force_n", "N", "static contact force"),
        ("contact_radius_m", "m", "Hertz contact radius"),
        ("contact_stiffness_n_per_m", "N/m", "contact stiffness 2 a E*"),
        ("resonance_frequency_hz", "Hz", "contact resonance at this stiffness"),
    )
    return Table("force_series", columns + RESPONSE_COLUMNS, rows)


def _resonance_if_needed(study: Study) -> Resonance | None:
    """The study's resonance where its instrument reads the contact nonlinearity (None otherwise)."""
    return instrument(study)[0] if hertz_contact(study) is not None else None


def contact_stiffness_of(study: Study) -> float:
    """Contact stiffness 2 a E* (N/m) of the study's tip on its sample's own (top) material: the contact
    at which the instrument's resonance frequency is given (on grains: the grain interior's)."""
    top = study.sample.material
    return contact_stiffness(study.tip.contact_radius, top.youngs_modulus, top.poisson_ratio)


def contact_stiffness_under_tip(study: Study) -> float:
    """Contact stiffness 2 a E* (N/m) at the study's tip position (3D): E* averaged over the contact disk
    by the area fractions of the grains and grain-boundary cores under it (parallel springs); equal to
    :func:`contact_stiffness_of` away from them."""
    sample, radius = study.sample, study.tip.contact_radius
    fractions = disk_fractions(sample.grain_boundaries, study.tip.position, radius)
    return sum(
        share * contact_stiffness(radius, m.youngs_modulus, m.poisson_ratio) for share, m in zip(fractions, sample.regions())
    )


LOOP_COLUMNS = (
    ("modulation_frequency_hz", "Hz", "slow modulation frequency f_m"),
    ("harmonic", "", "ionic harmonic n of the drive"),
    ("loop_area_m_w", "m W", "area of the ionic amplitude against DC power over one period"),
    ("relative_loop_area", "1", "area / (amplitude range x power range)"),
    ("amplitude_min_m", "m", "smallest ionic amplitude over the period"),
    ("amplitude_max_m", "m", "largest ionic amplitude over the period"),
    ("step_seconds", "s", "wall time per slow time step"),
    ("harmonics_seconds", "s", "wall time per recomputation of the fast harmonics"),
    ("newton_iterations", "", "modified-Newton iterations per slow step"),
    ("gmres_iterations", "", "GMRES iterations per fast solve (reference-LU preconditioner)"),
)


def modulation(study: Study, comm, options: dict, progress: Progress) -> tuple[Table, Table]:
    """Slow DC modulation under the fast drive: the recorded loops and their areas per f_m."""
    drive = options["drive_frequency"]
    model = HarmonicModel(derived_study(study, {"excitation.frequencies": [drive]}), comm)
    n = model.drive.channels.ionic
    traces, loops = [], []
    try:
        for f_m in options["modulation_frequencies"]:
            setting = Modulation(f_m, options["dc_power_amplitude"], options["waveform"], options["periods"], options["steps_per_period"])
            result = modulation_loop(model, drive, setting)
            progress.advance(f"f_m = {f_m:g} Hz")
            for point in result.points:
                traces += _response_rows(point.responses, modulation_frequency_hz=f_m, time_s=point.time, dc_power_w=point.dc_power)
            loops.append(_loop_row(result, n))
    finally:
        model.destroy()
    trace_columns = (
        ("modulation_frequency_hz", "Hz", "slow modulation frequency f_m"),
        ("time_s", "s", "time from the start of the modulation"),
        ("dc_power_w", "W", "instantaneous DC heating power"),
    )
    return Table("modulation", trace_columns + RESPONSE_COLUMNS, traces), Table("modulation_loops", LOOP_COLUMNS, loops)


def estimate_dc_power(study: Study) -> float:
    """The study's own DC heating power (W): the sample's for 'power', the absorbed for 'laser', the
    heater's electrical power for 'joule'."""
    return study.drive.dc_power


def _loop_row(result, harmonic: int) -> dict:
    amplitude = np.abs(result.channel(harmonic, "ionic"))
    area = result.loop_area(harmonic)
    spread = np.ptp(amplitude) * np.ptp(result.dc_powers())
    return dict(
        modulation_frequency_hz=result.modulation.frequency, harmonic=harmonic, loop_area_m_w=area,
        relative_loop_area=area / spread if spread > 0 else 0.0, amplitude_min_m=float(amplitude.min()),
        amplitude_max_m=float(amplitude.max()), step_seconds=result.cost.step_seconds,
        harmonics_seconds=result.cost.harmonics_seconds, newton_iterations=result.cost.newton_iterations,
        gmres_iterations=result.cost.gmres_iterations,
    )


