"""Command line: ``stimsim run | experiment | fit | design | validate | info | mesh | sweep | export``.

Input errors print one line ``stimsim: error: <key> <what is accepted>`` (on rank 0) and exit with
status 2; solver failures exit with status 3; a sweep stopped by ``--max-samples`` or ``--time-limit``
before every sample is stored exits with status 4; Ctrl-C prints ``stimsim: interrupted`` and exits
with status 130, leaving nothing half-written. Run under ``mpiexec -n N`` for a distributed mesh or a
parallel sweep. See docs/guide/errors.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import stimsim  # noqa: F401  (loads the MPI/PETSc libraries first)
from mpi4py import MPI

from stimsim.study.study import Study
from stimsim.study.load import load_study
from stimsim.core.errors import InputError, SolverError, StimsimError
from stimsim.study.grains import overlapping_layers
from stimsim.study.lengths import domain_size
from stimsim.core.parallel import on_root
from stimsim.solve.limits import check_study

EXIT_INPUT, EXIT_SOLVER, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 2, 3, 4, 130

log = logging.getLogger("stimsim.cli")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``stimsim`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    comm = MPI.COMM_WORLD
    with _log_to_stderr(comm, args.quiet):
        return _handled(args, comm)


def _handled(args, comm) -> int:
    """Run the command of ``args``; input and solver errors and Ctrl-C become exit statuses."""
    try:
        return args.handler(args, comm)
    except StimsimError as err:
        if comm.rank == 0:
            print(f"stimsim: error: {err}", file=sys.stderr)
        return EXIT_SOLVER if isinstance(err, SolverError) else EXIT_INPUT
    except KeyboardInterrupt:  # outputs are staged: nothing half-written is left behind
        if comm.rank == 0:
            print("stimsim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


class _Lines(logging.Formatter):
    """Library diagnostics as the command prints them: warnings as 'stimsim: warning: ...', progress
    lines as they are."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        return f"stimsim: warning: {text}" if record.levelno >= logging.WARNING else text


class _Once(logging.Filter):
    """Each warning once per command: the library logs a warning where it arises (a sweep or a protocol
    shows it so) and the command prints its result's warnings again (:meth:`stimsim.solve.simulate.SimulationResult.warnings`)."""

    def __init__(self):
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        text = record.getMessage()
        new = text not in self.seen
        self.seen.add(text)
        return new


@contextmanager
def _log_to_stderr(comm, quiet: bool):
    """While the command runs, send the library's log (``logging.getLogger('stimsim')``) to stderr of
    rank 0: warnings always (each once), progress lines (INFO) unless ``quiet``; other ranks stay silent."""
    log = logging.getLogger("stimsim")
    handler = logging.StreamHandler(sys.stderr) if comm.rank == 0 else logging.NullHandler()
    handler.setFormatter(_Lines())
    handler.addFilter(_Once())
    saved = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate = saved[1]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stimsim", description=__doc__.splitlines()[0])
    parser.set_defaults(quiet=False)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="solve a study and write OUTDIR/response.csv, validity.csv, study.toml, plot")
    _study_arguments(run)
    run.add_argument("-o", "--output", type=Path, help="output folder (default results/<study name>)")
    _overwrite_argument(run)
    run.add_argument("-q", "--quiet", action="store_true", help="do not print the response table")
    run.add_argument(
        "--fields", action="store_true",
        help="also write the base state and every solved harmonic as ADIOS2 VTX files (OUTDIR/fields/*.bp, ParaView)",
    )
    run.set_defaults(handler=_run)

    experiment = commands.add_parser(
        "experiment", help="run the study's [protocol.*] virtual experiments; write CSV, NetCDF, plots (and map images)"
    )
    _study_arguments(experiment)
    experiment.add_argument("-o", "--output", type=Path, help="output folder (default results/<study name>)")
    _overwrite_argument(experiment)
    experiment.add_argument(
        "--protocol", action="append", default=[], metavar="NAME", help="run only this protocol (repeatable)"
    )
    experiment.add_argument(
        "--resume", action="store_true",
        help="complete the position stores of line_scan and map protocols (OUTDIR/<name>.store) left by an earlier run",
    )
    experiment.add_argument("-q", "--quiet", action="store_true", help="do not print progress lines and summaries (warnings still)")
    experiment.set_defaults(handler=_experiment)

    fit = commands.add_parser("fit", help="fit study parameters to measured harmonics, or compare [[fit.models]]; write OUTDIR/fit.json, fit.csv, fit.png (models.csv)")
    _study_arguments(fit)
    fit.add_argument(
        "data", type=Path, nargs="?",
        help="measured harmonics (CSV with response.csv column names); default: the study's [[fit.data]] tables",
    )
    fit.add_argument(
        "--param", dest="parameters", action="append", default=[], metavar="NAME",
        help="parameter to fit, e.g. diffusivity or sample.properties.diffusivity (repeatable; default [fit] parameters)",
    )
    fit.add_argument(
        "--posterior", type=int, metavar="STEPS",
        help="also sample the Bayesian posterior (emcee, walkers over the MPI ranks) for STEPS steps",
    )
    fit.add_argument("--walkers", type=int, help="posterior walkers (default 4 per parameter, at least 8)")
    fit.add_argument("-o", "--output", type=Path, help="output folder (default results/<study name>-fit)")
    _overwrite_argument(fit)
    fit.add_argument("-q", "--quiet", action="store_true", help="do not print progress lines and the estimates (warnings still)")
    fit.set_defaults(handler=_fit)

    design = commands.add_parser(
        "design", help="rank candidate measurements by the uncertainty of a target parameter and by model separation; "
        "write OUTDIR/design.csv, design.json, design.png",
    )
    _study_arguments(design)
    design.add_argument("-o", "--output", type=Path, help="output folder (default results/<study name>-design)")
    _overwrite_argument(design)
    design.add_argument("-q", "--quiet", action="store_true", help="do not print progress lines and the ranking (warnings still)")
    design.set_defaults(handler=_design)

    validate = commands.add_parser(
        "validate", help="run every check of run, experiment, fit, design, sweep and mesh on a study; print it resolved"
    )
    _study_arguments(validate)
    validate.set_defaults(handler=_validate)

    info = commands.add_parser("info", help="versions, scalar type and MPI size")
    info.set_defaults(handler=_info)

    mesh = commands.add_parser("mesh", help="write the study's mesh (.msh, .vtu, .vtk or .xdmf)")
    _study_arguments(mesh)
    mesh.add_argument(
        "-o", "--output", type=Path, required=True,
        help="mesh file; the suffix picks the format: .msh (gmsh), .vtu, .vtk (VTK), .xdmf (XDMF with HDF5 .h5)",
    )
    mesh.set_defaults(handler=_mesh)

    sweep = commands.add_parser("sweep", help="solve the samples of the study's [sweep] table into a result store")
    _study_arguments(sweep)
    sweep.add_argument("-o", "--output", type=Path, help="result store folder (default results/<study name>-sweep)")
    sweep.add_argument("--resume", action="store_true", help="complete an existing store of the same sweep")
    sweep.add_argument("--retry-failed", action="store_true", help="with --resume: solve the failed samples again")
    sweep.add_argument("-q", "--quiet", action="store_true", help="no progress lines (failed samples and warnings still)")
    sweep.add_argument("--max-samples", type=_positive(int), metavar="N", help="solve at most N samples in this run")
    sweep.add_argument(
        "--time-limit", type=_positive(float), metavar="SECONDS",
        help="hand out no new sample after SECONDS (end before the job's wall-time limit, then --resume)",
    )
    sweep.add_argument("--dry-run", action="store_true", help="list the samples and check their studies; solve nothing")
    sweep.set_defaults(handler=_sweep)

    export = commands.add_parser("export", help="write a result store as one flat CSV (a column per axis key)")
    export.add_argument("store", type=Path, help="result store folder of stimsim sweep")
    export.add_argument("output", type=Path, help="CSV file to write")
    export.set_defaults(handler=_export)
    return parser


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0:
            raise argparse.ArgumentTypeError(f"must be a {kind.__name__} > 0, got {text!r}")
        return value

    return parse


def _overwrite_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--overwrite", action="store_true", help="write into an output folder that holds other files (they are removed)"
    )


def _study_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", type=Path, help="study file (TOML)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a study key, e.g. --set tip.contact_radius=10e-9 (repeatable)",
    )


def _load(args, quiet: bool = False) -> Study:
    """The study of ``args``; with charged species, its Debye length and space-charge layers printed
    (unless ``quiet``) and a warning where the electroneutral limit does not hold or where grain
    boundaries' layers overlap."""
    study = load_study(args.study, args.overrides)
    if not study.sample.species or MPI.COMM_WORLD.rank != 0:
        return study
    line, warning = _species_line(study)
    warnings = [warning] if warning is not None else []
    warnings += overlapping_layers(study.sample.grain_boundaries, study.charged_layer(), domain_size(study))
    for warning in warnings:
        log.warning(warning)
    if not quiet:
        print(line)
        if study.space_charge() is not None:
            print(_space_charge_line(study, "space-charge layer", study.space_charge()[1], 1))
        for i, b in enumerate(study.sample.grain_boundaries):
            if b.core_potential is not None:
                print(_space_charge_line(study, f"grain boundary {i} space-charge layers", b.core_potential, 2))
    return study


def _species_line(study: Study) -> tuple[str, str | None]:
    """One log line on the charged species (their Debye length) and a warning where the electroneutral
    limit does not hold (None under 'poisson', which resolves the Debye length)."""
    pair = study.sample.pair
    if pair is not None:  # the Debye length that justifies electroneutrality
        return pair.summary(study.sample.material.relative_permittivity, study.tip.contact_radius)
    debye = study.charged_layer().debye_length
    names = " + ".join(s.name for s in study.sample.species)
    return f"poisson {names}: Debye length {debye:.3g} m ({debye / study.tip.contact_radius:.2g} of the contact radius)", None


def _space_charge_line(study: Study, what: str, potential: float, sides: int) -> str:
    """One log line on equilibrium space-charge layers (``sides`` of them about a core at ``potential``, V):
    core potential and charge, their width and the species' concentrations at the core (dilute,
    Boltzmann: no site limit)."""
    layer = study.charged_layer()
    surface = layer.concentrations_at([0.0], potential)
    names = ", ".join(f"{s.name} {c[0]:.3g}" for s, c in zip(study.sample.species, surface))
    return (
        f"{what}: core potential {potential:.4g} V, core charge {sides * layer.core_charge(potential):.3g} C/m^2, "
        f"e-folding length at the core {layer.width(potential):.3g} m; at the core (mol/m^3): {names}"
    )


RUN_FILES = ("response.csv", "validity.csv", "periodic.csv", "study.toml", "response.png", "fields")
FIT_FILES = ("fit.json", "fit.csv", "fit.png", "posterior.csv", "models.csv", "models.json")
DESIGN_FILES = ("design.csv", "design.json", "design.png")
#: Rows of the ranking that ``stimsim design`` prints beyond the chosen ones.
DESIGN_PRINTED_EXTRA = 3


def _outdir(args, comm, default: Path, names) -> Path:
    """The checked output folder of a command (before any solve; on rank 0, errors on every rank)."""
    from stimsim.io.files import check_output_dir

    outdir = args.output or default
    on_root(comm, "OUTDIR", check_output_dir, outdir, names, args.overwrite)
    return outdir


def _run(args, comm) -> int:
    from stimsim.io.files import staged_output, write_study
    from stimsim.io.plots import plot_response
    from stimsim.solve.fields import check_field_output, write_fields
    from stimsim.solve.model import HarmonicModel
    from stimsim.solve.simulate import simulate

    study = _load(args, args.quiet)
    check_study(study)
    if args.fields:
        check_field_output(study)
    outdir = _outdir(args, comm, Path("results") / args.study.stem, RUN_FILES)
    start = time.perf_counter()
    with HarmonicModel(study, comm) as model:
        result = simulate(study, comm, model=model, keep_fields=args.fields)
        elapsed = time.perf_counter() - start

        def write() -> None:
            with staged_output(outdir, replace=args.overwrite) as staging:
                result.write_tables(staging)
                write_study(study.resolved, staging / "study.toml")
                plot_response(result.rows, staging / "response.png", title=args.study.stem)

        on_root(comm, "OUTDIR", write)
        if args.fields:
            write_fields(outdir / "fields", model, result.fields)
    for warning in result.warnings():  # shown even with -q, once per parameter
        log.warning(warning)
    if comm.rank == 0 and not args.quiet:
        _print_table(result.rows)
        for row in result.periodic_rows():
            print(f"{row['drive_frequency_hz']:.4g} Hz: {row['method']}, {row['reason']}")
        print(f"{result.num_dofs} DOFs on {comm.size} rank(s), {elapsed:.2f} s; results in {outdir}/")
    return 0


def _experiment(args, comm) -> int:
    from stimsim.experiments.run import SCANS, check_experiments, output_names, run_experiments
    from stimsim.io.files import staged_output, write_netcdf, write_study, write_table_csv
    from stimsim.io.plots import plot_scan, plot_table
    from stimsim.experiments.protocols import Protocol
    from stimsim.experiments.scans import ScanStopped, write_map_images

    study = _load(args, args.quiet)
    chosen = check_experiments(study, args.protocol)
    if args.resume and not any(name.is_scan for name in chosen):
        raise InputError("--resume", f"only continues the positions of {' and '.join(SCANS)} protocols")
    outdir = _outdir(args, comm, Path("results") / args.study.stem, output_names(study, args.protocol))
    start = time.perf_counter()
    try:
        tables = run_experiments(study, comm, args.protocol, quiet=args.quiet, folder=outdir, resume=args.resume)
    except ScanStopped as err:
        if comm.rank == 0:
            print(f"stimsim: {err}", file=sys.stderr)
        return EXIT_INCOMPLETE
    elapsed = time.perf_counter() - start

    def write() -> None:
        import tomli_w

        source = f"stimsim {stimsim.__version__}"
        with staged_output(outdir, replace=args.overwrite) as staging:
            for table in tables:
                write_table_csv(table, staging / f"{table.name}.csv")
                title = f"{args.study.stem}: {table.name}"
                if table.name in SCANS:
                    plot_scan(table, staging / f"{table.name}.png", study.drive.channels, title=title)
                else:
                    plot_table(table, staging / f"{table.name}.png", title=title)
                if table.name == Protocol.MAP:
                    write_map_images(table, chosen[Protocol.MAP], staging, f"{source}: {args.study.stem}")
            attributes = {"title": f"stimsim virtual experiment {args.study.stem}", "source": source,
                          "study": tomli_w.dumps(study.resolved)}
            write_netcdf(tables, staging / "experiment.nc", attributes)
            write_study(study.resolved, staging / "study.toml")

    on_root(comm, "OUTDIR", write)
    if comm.rank == 0 and not args.quiet:
        for table in tables:
            _print_summary(table)
        print(f"{len(tables)} tables on {comm.size} rank(s), {elapsed:.1f} s; results in {outdir}/")
    return 0


def _print_summary(table) -> None:
    """The short tables in full (whole column names, units below them, '-' for no value); long traces
    as their size."""
    if len(table.rows) > 24:
        print(f"{table.name}: {len(table.rows)} rows (see {table.name}.csv)")
        return
    print(f"{table.name}:")
    for line in format_table(table.columns, table.rows):
        print("  " + line)


def format_table(columns, rows) -> list[str]:
    """Console lines of a table: ``columns`` (name, unit, meaning), ``rows`` dicts by name; every
    column as wide as its name, unit or widest value."""
    def cell(value) -> str:
        if value is None or (isinstance(value, float) and value != value):
            return "-"
        return f"{value:.5g}" if isinstance(value, float) else str(value)

    body = [[cell(row.get(name)) for name, _, _ in columns] for row in rows]
    units = [f"[{unit}]" if unit else "" for _, unit, _ in columns]
    widths = [max([len(name), len(u)] + [len(r[i]) for r in body]) for i, ((name, _, _), u) in enumerate(zip(columns, units))]
    lines = [" ".join(f"{name:>{w}}" for (name, _, _), w in zip(columns, widths))]
    lines.append(" ".join(f"{u:>{w}}" for u, w in zip(units, widths)).rstrip())
    lines += [" ".join(f"{c:>{w}}" for c, w in zip(r, widths)) for r in body]
    return lines


def _print_table(responses) -> None:
    """The response rows on stdout; amplitudes to four significant digits, so that a small ionic
    response (1e-6 pm and less at low power) does not print as zero."""
    print(f"{'f (Hz)':>10} {'n':>2} {'kind':>8} {'|u| (pm)':>10} {'phase (deg)':>11} {'|T| (K)':>10} {'phase (deg)':>11}")
    for r in responses:
        print(
            f"{r.drive_frequency:10.4g} {r.harmonic:2d} {r.kind:>8} {r.amplitude * 1e12:10.4g} "
            f"{r.phase_deg:11.3f} {r.temperature_amplitude:10.4g} {r.temperature_phase_deg:11.3f}"
        )


def _fit_data(args, study: Study, comm):
    """The measured data of a fit (read on rank 0, broadcast) and their name: DATA when given, else the
    study's [[fit.data]] tables (files relative to the study file's folder)."""
    from stimsim.core.parallel import shared_from_root
    from stimsim.inverse.data import data_from_tables, fit_tables, read_data

    tables = fit_tables(study)
    if args.data is not None:
        if tables:
            log.info(f"DATA {args.data} is given: the study's [[fit.data]] tables are not read")
        return shared_from_root(comm, "DATA", read_data, args.data), args.data.name
    if not tables:
        raise InputError(
            "DATA", "is required: give a DATA file (CSV with response.csv column names), or [[fit.data]] tables in the study "
            "(docs/guide/fitting.md#measured-data-files)"
        )
    return shared_from_root(comm, "fit.data", data_from_tables, study, args.study.parent), "[[fit.data]]"


def _fit(args, comm) -> int:
    """Fit the study's parameters to DATA or, with [[fit.models]], fit every model and compare them
    (fit.json is then the preferred model's fit, models.csv the comparison)."""
    from dataclasses import replace

    from stimsim.inverse.compare import check_models, fit_models
    from stimsim.inverse.fit import fit, fit_options
    from stimsim.inverse.models import model_specs
    from stimsim.inverse.results import write_fit
    from stimsim.solve.limits import check_study

    study = _load(args, args.quiet)
    specs = model_specs(study)
    if specs and args.parameters:
        raise InputError("--param", "cannot be given with [[fit.models]]: each model names its parameters (params)")
    if specs:
        check_models(study, specs)
    else:
        fit_options(study, args.parameters)
    check_study(study)
    outdir = _outdir(args, comm, Path("results") / f"{args.study.stem}-fit", FIT_FILES)
    data, source = _fit_data(args, study, comm)
    comparison, fitted, samples = None, study, None
    if specs:
        comparison = fit_models(study, data, specs, comm, quiet=args.quiet)
        result, fitted = comparison.chosen.result, comparison.chosen.spec.study(study)
    else:
        result = fit(study, data, args.parameters, comm, quiet=args.quiet)
    if args.posterior is not None:
        from stimsim.inverse.posterior import posterior

        summary, samples = posterior(fitted, data, result, comm, args.posterior, args.walkers)
        result = replace(result, posterior=summary)
    title = f"{args.study.stem}: fit to {source}"
    if comparison is not None:
        title += f", model {comparison.chosen.name!r}"
    on_root(comm, "OUTDIR", write_fit, result, outdir, title, samples, args.overwrite, comparison)
    if comm.rank == 0:
        for warning in (*(comparison.warnings if comparison else ()), *result.warnings):  # shown even with -q
            log.warning(warning)
    if comm.rank == 0 and not args.quiet:
        _print_fit(result, comparison)
        print(f"results in {outdir}/")
    return 0


def _design(args, comm) -> int:
    from stimsim.inverse.design import DESIGN_COLUMNS, SEPARATION_COLUMNS, design, design_options, write_design

    study = _load(args, args.quiet)
    design_options(study)
    check_study(study)
    outdir = _outdir(args, comm, Path("results") / f"{args.study.stem}-design", DESIGN_FILES)
    start = time.perf_counter()
    result = design(study, comm, quiet=args.quiet)
    on_root(comm, "OUTDIR", write_design, result, outdir, args.study.stem, args.overwrite)
    if comm.rank == 0:
        for note in result.notes:  # shown even with -q
            log.warning(note)
    if comm.rank == 0 and not args.quiet:
        shown = [c for c in DESIGN_COLUMNS if c[0] not in ("chosen", "note")]
        if result.separation is not None:
            shown += [c for c in SEPARATION_COLUMNS if c[0] == "separation_chi2"]
        rows = result.rows()[: result.options.measurements + DESIGN_PRINTED_EXTRA]
        for line in format_table(shown, rows):
            print("  " + line)
        summary = result.summary()
        sigma = summary["sigma_ln_target"]
        print(
            f"sigma of {result.target_label} with the {result.options.measurements} chosen: "
            f"{'undetermined' if sigma is None else f'{sigma:.3g}'}; {len(result.candidates)} candidates, "
            f"{time.perf_counter() - start:.1f} s; results in {outdir}/"
        )
    return 0


def _print_fit(result, comparison) -> None:
    """The estimates (and posterior) of ``result`` and, with a models ``comparison``, one line per model."""
    for model in comparison.models if comparison else ():
        if model.result is None:
            print(f"model {model.name}: not fitted (see the warning)")
            continue
        bic = "undefined" if model.bic is None else f"{model.bic:.4g} (delta {model.delta_bic:.3g})"
        mark = ", preferred" if model.preferred else ""
        print(f"model {model.name}: chi2 {model.result.chi2:.4g} ({model.result.degrees_of_freedom} dof), BIC {bic}{mark}")
    for p in result.parameters:
        stderr = "undetermined" if p.stderr is None else f"{p.stderr:.3g}"
        print(f"{p.name:>24} = {p.value:.6g} +- {stderr} ({p.derivative})")
        if result.posterior is not None:
            q = result.posterior.parameters[p.name]
            print(f"{'posterior':>24}: median {q.median:.6g}, 68 % [{q.p16:.6g}, {q.p84:.6g}]")
    print(f"chi2 {result.chi2:.4g} ({result.degrees_of_freedom} dof), {result.nfev} evaluations, {result.wall_time_s:.1f} s")


def _validate(args, comm) -> int:
    """Every check the other commands make before they solve: the study, the temperature limits of
    its heating, its [protocol.*] and [instrument] tables (experiment), [fit] (fit), [design] (design),
    [sweep] (sweep) and the mesh; prints the resolved study, the sources and notes of its materials and a summary."""
    import tomli_w

    from stimsim.geometry.meshes import mesh_spec
    from stimsim.solve.limits import check_study, estimate
    from stimsim.solve.model import check_estimated_size, estimated_direct_dofs, linear_solver

    study = _load(args)
    summary = []
    if "protocol" in study.extensions:
        from stimsim.experiments.run import check_experiments

        from stimsim.experiments.scans import scan_cost, scan_positions, scan_problems

        chosen = check_experiments(study)
        summary.append(f"protocols {', '.join(chosen)}")
        for name, options in ((n, o) for n, o in chosen.items() if n.is_scan):
            positions = scan_positions(name, options)
            summary.append(scan_cost(study, name, positions, scan_problems(study, positions)[1])[0])
    elif "instrument" in study.extensions:
        from stimsim.experiments.protocols import instrument

        instrument(study)
    if "fit" in study.extensions:
        from stimsim.inverse.fit import fit_options

        from stimsim.inverse.compare import check_models
        from stimsim.inverse.models import model_specs

        specs = model_specs(study)
        check_models(study, specs)
        names = fit_options(study, require=False).parameters
        if specs:
            summary.append(f"fit models {', '.join(spec.name for spec in specs)}")
        else:
            summary.append(f"fit parameters {', '.join(names) or '(give --param)'}")
        summary += _fit_tables_summary(study, args.study.parent, comm)
    if "design" in study.extensions:
        from stimsim.inverse.design import design_options

        options = design_options(study)
        summary.append(f"design for {options.target}, {options.measurements} measurement(s)")
    if "sweep" in study.extensions:
        from stimsim.hpc.sweep import load_sweep

        sweep = load_sweep(args.study, args.overrides)
        summary.append(f"sweep of {len(sweep)} samples ({sweep.mode})")
    check_study(study)
    check_estimated_size(study)
    spec = mesh_spec(study)
    if spec.gdim == 3:
        summary.append(f"mesh.refinement {study.mesh.refinement:.3g}, about {estimated_direct_dofs(study)} DOFs to "
                       f"factorise (estimate), {linear_solver(study)} linear solver")
    if comm.rank == 0:
        print(tomli_w.dumps(study.resolved), end="")
        for key, material in (("sample.material", study.sample.material), ("geometry.substrate", study.sample.substrate)):
            if material is None:
                continue
            print(f"# {key} {material.name}: {material.citation}")
            for name, note in material.notes.items():
                print(f"#   {name}: {note}")
            if material.max_temperature != float("inf"):
                print(f"#   stands up to {material.max_temperature:g} K: {material.max_temperature_note}")
        tip = estimate(study)
        print(f"# tip temperature (estimate): {study.excitation.ambient_temperature:g} K + {tip.dc_rise:.3g} K DC, "
              f"oscillating by {tip.oscillation:.3g} K")
        summary.append(f"domain {spec.domain_size:.4g} m, surface radii {spec.surface_radii} m")
        print(f"# valid; {'; '.join(summary)}")
    return 0


def _fit_tables_summary(study: Study, folder: Path, comm) -> list[str]:
    """The study's [[fit.data]] tables read (files found, channels in them, frequencies within the
    study's) as one summary line; [] without them."""
    from stimsim.core.parallel import shared_from_root
    from stimsim.inverse.data import data_from_tables, fit_tables

    if not fit_tables(study):
        return []
    data = shared_from_root(comm, "fit.data", data_from_tables, study, folder)
    points, tables, conditions = len(data.amplitude), len(data.sources), len(data.conditions)
    return [f"fit data {points} points from {tables} [[fit.data]] table(s), {conditions} condition(s)"]


def _info(args, comm) -> int:
    import dolfinx
    import numpy as np
    from petsc4py import PETSc

    if comm.rank == 0:
        print(f"stimsim {stimsim.__version__}")
        print(f"dolfinx {dolfinx.__version__}, PETSc {'.'.join(map(str, PETSc.Sys.getVersion()))}")
        print(f"scalar type {np.dtype(PETSc.ScalarType).name}, MPI ranks {comm.size}")
        print(f"python {sys.version.split()[0]}")
    return 0


def _mesh(args, comm) -> int:
    from stimsim.geometry.meshes import export_mesh, mesh_spec

    path = export_mesh(mesh_spec(_load(args)), args.output, comm)
    if comm.rank == 0:
        print(f"mesh written to {path}")
    return 0


def _sweep(args, comm) -> int:
    from stimsim.hpc.sweep import load_sweep, run_sweep

    sweep = load_sweep(args.study, args.overrides)
    if args.retry_failed and not args.resume:
        raise InputError("--retry-failed", "needs --resume")
    if args.dry_run:
        if comm.rank == 0:
            _print_samples(sweep)
        return 0
    store = args.output or Path("results") / f"{args.study.stem}-sweep"
    summary = run_sweep(
        sweep, store, comm, resume=args.resume, retry_failed=args.retry_failed, quiet=args.quiet,
        max_samples=args.max_samples, time_limit=args.time_limit,
    )
    return 0 if summary.complete else EXIT_INCOMPLETE


def _print_samples(sweep) -> None:
    from stimsim.hpc.store import cell

    print(f"# {len(sweep)} samples ({sweep.mode}), ranks_per_sample = {sweep.ranks_per_sample}")
    print(",".join(["sample_id", *sweep.axes, "check"]))
    for index in range(len(sweep)):
        try:
            sweep.study(index)
            check = "ok"
        except StimsimError as err:
            check = f"rejected: {err}"
        print(",".join([str(index), *(cell(v) for v in sweep.samples[index]), check]))


def _export(args, comm) -> int:
    from stimsim.hpc.store import export_csv

    if args.output.suffix.lower() != ".csv":
        raise InputError(
            "OUT", f"= {str(args.output)!r}: the export is a CSV file (suffix .csv); for Parquet or NetCDF convert it "
            "with pandas (read_csv(...).to_parquet(...)) or xarray"
        )
    counts, error = None, None
    if comm.rank == 0:
        try:
            from stimsim.io.files import check_writable

            if args.output.is_dir():
                raise InputError("OUT", f"= {str(args.output)!r} is a folder; give a CSV file name")
            check_writable(args.output, "OUT")
            counts = export_csv(args.store, args.output)
        except InputError as err:
            error = (err.key, str(err).removeprefix(f"{err.key} "))
        except OSError as err:
            error = ("OUT", f"{str(args.output)!r} cannot be written: {err}")
    error = comm.bcast(error, root=0)
    if error is not None:
        raise InputError(*error)
    if comm.rank == 0:
        rows, samples, failed = counts
        print(f"{rows} rows ({samples} samples, {failed} failed) written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
