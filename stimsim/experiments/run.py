"""Running a study's virtual experiments: the protocols chosen, checked and run in order."""

from __future__ import annotations

import logging
from pathlib import Path

from stimsim.core.errors import InputError, suggest
from stimsim.core.progress import Progress
from stimsim.experiments.protocols import (
    Protocol,
    Table,
    dc_series,
    estimate_dc_power,
    force_series,
    hertz_contact,
    hertz_contact_requested,
    instrument,
    modulation,
    protocols,
    resonance_sweep,
)
from stimsim.experiments.scans import MAP_IMAGES, check_scan, check_store, run_scan
from stimsim.solve.limits import check_study
from stimsim.study.load import derived_study
from stimsim.study.modes import GeometryModel
from stimsim.study.study import Study

log = logging.getLogger(__name__)

#: Protocol runners of the axisymmetric protocols; each returns one table or a tuple of tables.
RUNNERS = {
    Protocol.RESONANCE_SWEEP: resonance_sweep,
    Protocol.MODULATION: modulation,
    Protocol.DC_SERIES: dc_series,
    Protocol.FORCE_SERIES: force_series,
}
#: The protocols that move the tip over a 3D sample.
SCANS = tuple(p for p in Protocol if p.is_scan)


def check_experiments(study: Study, only: list[str] | None = None) -> dict[Protocol, dict]:
    """Every check ``stimsim experiment`` makes before it solves anything (``stimsim validate`` runs
    it too): the protocol tables, the ``--protocol`` names ``only``, the instrument where a protocol
    reads through it (or where the study gives one), what each protocol needs of the study and the
    temperature limits of its heatings. Returns the chosen protocols' options by name."""
    chosen = protocols(study)
    for name in only or []:
        if name not in chosen:
            raise InputError("--protocol", f"= {name!r} is not in the study{suggest(name, chosen)}")
    chosen = {name: options for name, options in chosen.items() if not only or name in only}
    _check_model(study, chosen)
    if any(name.is_scan for name in chosen):
        _check_scan_keys(study)
    if "instrument" in study.extensions or any(name.needs_instrument for name in chosen):
        instrument(study)
        hertz_contact(study)
    if Protocol.FORCE_SERIES in chosen and (chosen[Protocol.FORCE_SERIES]["tip_radius"] or study.tip.tip_radius) is None:
        raise InputError("protocol.force_series.tip_radius", "is required (m) unless the study gives tip.tip_radius")
    for name in (Protocol.MODULATION, Protocol.DC_SERIES):
        if name in chosen and study.drive.dc_key is None:
            raise InputError(
                f"protocol.{name}",
                f"needs a DC heating power: excitation.mode {study.excitation.mode!r} has none (use 'power', 'laser' or 'joule')",
            )
    if Protocol.MODULATION in chosen:
        if not study.sample.material.is_ionic:
            raise InputError("sample.material", "has no mobile ions: the DC modulation changes nothing (use an ionic material)")
        own, amplitude = estimate_dc_power(study), chosen[Protocol.MODULATION]["dc_power_amplitude"]
        if amplitude > own:
            raise InputError(
                "protocol.modulation.dc_power_amplitude",
                f"= {amplitude:g} W exceeds the mean DC power {own:g} W (the heating would turn negative)",
            )
    if Protocol.DC_SERIES in chosen:
        own = estimate_dc_power(study)
        for power in chosen[Protocol.DC_SERIES]["dc_powers"]:
            if power < own * (1 - 1e-12):
                raise InputError("protocol.dc_series.dc_powers", f"= {power:g} W is below the drive's own DC power {own:g} W")
    check_study(study)
    for name, options in chosen.items():
        _check_heating(study, name, options)
    return chosen


def _check_model(study: Study, chosen: dict[str, dict]) -> None:
    """Scans need a 3D sample (and check every position on it); the other protocols are axisymmetric."""
    threed = study.sample.model == GeometryModel.THREE_D
    for name, options in chosen.items():
        if name.is_scan and not threed:
            raise InputError(
                f"protocol.{name}", "needs geometry.model = '3d' (the axisymmetric tip stays on the axis of the sample)"
            )
        if not name.is_scan and threed:
            raise InputError(
                f"protocol.{name}", f"is not yet supported with geometry.model = '3d' (there: {' and '.join(SCANS)})"
            )
        if name.is_scan:
            check_scan(study, name, options)


def _check_scan_keys(study: Study) -> None:
    """What a scan does not use: the Hertz contact's harmonics (refused: the scans' tables have no
    contact rows yet) and tip.position (a warning: the scan moves the tip; ``stimsim run`` uses it)."""
    if hertz_contact_requested(study):
        raise InputError(
            "instrument.contact_nonlinearity", "= 'hertz' is not yet supported by the scans of a 3D study (their "
            "tables have no contact rows): use 'none'"
        )
    if "position" in study.raw.get("tip", {}):
        log.warning(f"tip.position = {list(study.tip.position)!r} m is not used by {' and '.join(SCANS)}: the scan "
                    "moves the tip (stimsim run uses it)")


def _check_heating(study: Study, name: str, options: dict) -> None:
    """The temperature limits (:func:`stimsim.solve.limits.check_study`) of every heating a protocol applies."""
    single = derived_study(study, {"excitation.frequencies": [options.get("drive_frequency") or study.excitation.frequencies[0]]})
    if name == Protocol.DC_SERIES:
        for power in options["dc_powers"]:
            check_study(single, dc_power=power, key="protocol.dc_series.dc_powers")
    elif name == Protocol.MODULATION:
        own, amplitude = estimate_dc_power(study), options["dc_power_amplitude"]
        for power in (own - amplitude, own + amplitude):
            check_study(single, dc_power=max(power, 0.0), key="protocol.modulation.dc_power_amplitude")
    elif name == Protocol.FORCE_SERIES:
        tip_radius = options["tip_radius"] or study.tip.tip_radius
        for force in options["forces"]:
            check_study(derived_study(study, {
                "tip.force": force, "tip.tip_radius": tip_radius, "tip.contact_radius": None,
                "excitation.frequencies": [options["drive_frequency"]],
            }))
    elif name == Protocol.RESONANCE_SWEEP:
        resonance, _ = instrument(study)
        lowest = resonance.frequency * (1 - 0.5 * options["span"] / resonance.quality) / study.drive.channels.ionic
        check_study(derived_study(study, {"excitation.frequencies": [max(lowest, 1e-3)]}))


def output_names(study: Study, only: list[str] | None = None) -> list[str]:
    """The files ``stimsim experiment`` writes into OUTDIR for these protocols."""
    chosen = [name for name in study.extensions.get("protocol", {}) if not only or name in only]
    known = [Protocol(name) for name in chosen if name in set(Protocol)]
    tables = [t for name in known for t in name.tables]
    stores = [store_name(name) for name in known if name.is_scan]
    images = list(MAP_IMAGES) if Protocol.MAP in known else []
    return [f"{t}.{ext}" for t in tables for ext in ("csv", "png")] + ["experiment.nc", "study.toml"] + stores + images


def store_name(name: str) -> str:
    """The folder in OUTDIR that holds the positions of the scan ``name`` (a sweep store)."""
    return f"{name}.store"


def run_experiments(
    study: Study, comm, only: list[str] | None = None, quiet: bool = True, folder=None, resume: bool = False
) -> list[Table]:
    """Run the study's protocols (or the named ones among them) in order; collective. Progress lines
    go to stderr of rank 0 unless ``quiet`` (:class:`~stimsim.core.progress.Progress`). Line scans and maps
    solve their positions into the store :func:`store_name` in ``folder`` (required for them), which
    ``resume`` completes (:func:`stimsim.experiments.scans.run_scan`)."""
    chosen = check_experiments(study, only)
    scans = [name for name in chosen if name.is_scan]
    if scans and folder is None:
        raise InputError("OUTDIR", f"is required by protocol.{scans[0]}: its positions are stored there")
    for name in scans:
        check_store(Path(folder) / store_name(name), resume, comm)
    tables = []
    for name, options in chosen.items():
        if name.is_scan:
            tables.append(run_scan(study, name, options, Path(folder) / store_name(name), comm, resume, quiet))
            continue
        total = {Protocol.DC_SERIES: len(options.get("dc_powers", ())), Protocol.FORCE_SERIES: len(options.get("forces", ())),
                 Protocol.MODULATION: len(options.get("modulation_frequencies", ()))}.get(name)
        progress = Progress(f"experiment {name}", total, quiet, comm.rank)
        found = RUNNERS[name](study, comm, options, progress)
        tables += list(found) if isinstance(found, tuple) else [found]
    return tables


