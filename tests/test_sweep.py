"""Parameter sweeps: samplers and their checks, the parallel sweep against one-by-one solves, a killed
and resumed sweep, failed samples, the store's refusals, and the sweep/export commands."""

import csv
import logging
import math
import os
import signal
import subprocess
import sys
import time
import tomllib

import numpy as np
import pytest
from mpi4py import MPI

from stimsim.cli import EXIT_INCOMPLETE, EXIT_INPUT, main
from stimsim.study.load import study_from_dict
from stimsim.solve.simulate import simulate
from stimsim.core.errors import InputError
from stimsim.io.files import RESPONSE_COLUMNS
from stimsim.hpc.store import Store
from stimsim.hpc.sweep import ModelCache, evaluate, load_sweep, read_store, run_sweep, sweep_from_dict

from conftest import ROOT

#: A cheap base study: SDC without ions, coarse mesh, two frequencies (~0.1 s per sample).
BASE = {
    "sample": {"material": "SDC", "properties": {"partial_molar_volume": 0.0}},
    "tip": {"contact_radius": 20e-9},
    "excitation": {"mode": "power", "power_amplitude": 1e-6, "frequencies": [1e4, 1e5]},
    "mesh": {"refinement": 0.5},
}
STUDY_TEXT = """
[sample]
material = "SDC"
[sample.properties]
partial_molar_volume = 0.0
[tip]
contact_radius = 20e-9
[excitation]
mode = "power"
power_amplitude = 1e-6
frequencies = [1e4, 1e5]
[mesh]
refinement = 0.5
"""


def with_sweep(**table) -> dict:
    return {**BASE, "sweep": table}


def write_study(folder, sweep_text: str):
    path = folder / "study.toml"
    if MPI.COMM_WORLD.rank == 0:
        path.write_text(STUDY_TEXT + sweep_text)
    MPI.COMM_WORLD.barrier()
    return path


# -- definitions (no solves) ------------------------------------------------------------------------


def test_grid_is_the_product_with_the_first_axis_slowest():
    sweep = sweep_from_dict(with_sweep(axes={"tip.contact_radius": [1e-8, 2e-8], "tip.weighting": ["uniform", "hertz", "uniform"]}))
    assert sweep.mode == "grid" and len(sweep) == 6 and sweep.ranks_per_sample == 1
    assert sweep.values(0) == {"tip.contact_radius": 1e-8, "tip.weighting": "uniform"}
    assert sweep.values(4) == {"tip.contact_radius": 2e-8, "tip.weighting": "hertz"}
    study = sweep.study(4)
    assert study.tip.contact_radius == 2e-8 and study.tip.weighting == "hertz"
    assert "sweep" not in sweep.raw(4) and BASE["tip"]["contact_radius"] == 20e-9  # base untouched


def test_nested_axis_keys_and_list_mode():
    nested = sweep_from_dict(with_sweep(mode="list", axes={"sample": {"properties": {"diffusivity": [1e-14, 1e-13]}},
                                                           "tip.contact_radius": [1e-8, 3e-8]}))
    assert nested.axes == ("sample.properties.diffusivity", "tip.contact_radius")
    assert nested.values(1) == {"sample.properties.diffusivity": 1e-13, "tip.contact_radius": 3e-8}
    assert nested.study(1).sample.material.diffusivity == 1e-13
    grid = sweep_from_dict(with_sweep(axes={"tip.contact_radius": [1e-8, 3e-8]}))
    as_list = sweep_from_dict(with_sweep(mode="list", ranks_per_sample=2, axes={"tip.contact_radius": [1e-8, 3e-8]}))
    assert grid.fingerprint() == as_list.fingerprint()  # same samples, same sweep; ranks are a run setting
    other = sweep_from_dict({**with_sweep(axes={"tip.contact_radius": [1e-8, 3e-8]}), "mesh": {"refinement": 1.0}})
    assert other.fingerprint() != grid.fingerprint()


def test_latin_hypercube_is_stratified_reproducible_and_log_scaled():
    table = dict(mode="lhs", samples=8, seed=3, log=["sample.properties.diffusivity"],
                 axes={"sample.properties.diffusivity": [1e-15, 1e-11], "tip.contact_radius": [1e-8, 3e-8]})
    sweep = sweep_from_dict(with_sweep(**table))
    points = np.array(sweep.samples)
    assert points.shape == (8, 2)
    strata_d = np.floor((np.log(points[:, 0]) - math.log(1e-15)) / (math.log(1e-11 / 1e-15) / 8))
    strata_a = np.floor((points[:, 1] - 1e-8) / (2e-8 / 8))
    assert sorted(strata_d) == list(range(8)) and sorted(strata_a) == list(range(8))  # one point per stratum
    assert sweep_from_dict(with_sweep(**table)).samples == sweep.samples
    assert sweep_from_dict(with_sweep(**{**table, "seed": 4})).samples != sweep.samples


def test_csv_rows_relative_to_the_study(tmp_path):
    (tmp_path / "points.csv").write_text('sample.material,tip.contact_radius\n"PTFE",1e-8\nSi,2.5e-8\n\n')
    (tmp_path / "study.toml").write_text(STUDY_TEXT + '[sweep]\nmode = "csv"\nfile = "points.csv"\n')
    sweep = load_sweep(tmp_path / "study.toml", ["sweep.ranks_per_sample=1"])
    assert sweep.axes == ("sample.material", "tip.contact_radius")
    assert sweep.samples == (("PTFE", 1e-8), ("Si", 2.5e-8))
    assert sweep.portable_base()["sweep"] == {"mode": "list", "ranks_per_sample": 1, "dispatcher": "shared", "axes": {
        "sample.material": ["PTFE", "Si"], "tip.contact_radius": [1e-8, 2.5e-8]}}
    (tmp_path / "points.csv").write_text("tip.contact_radius,tip.weighting\n1e-8\n")
    with pytest.raises(InputError, match="line 2: expected 2 non-empty values"):
        load_sweep(tmp_path / "study.toml")


@pytest.mark.parametrize(
    "table, message",
    [
        (None, "sweep is missing"),
        ({"mode": "random", "axes": {"tip.contact_radius": [1e-8]}}, "sweep.mode = 'random' is not accepted; use 'grid' or"),
        ({"axes": {"tip.contact_radius": [1e-8]}, "sample": 3}, "sweep.sample is not a known key; did you mean 'samples'? (known: mode, axes"),
        ({"axes": {"tip.contact_radius": [1e-8]}, "samples": 3}, "sweep.samples is not used by sweep.mode = 'grid'"),
        ({}, "sweep.axes must be a table of study key = [values]"),
        ({"axes": {"sample.properties.difusivity": [1e-13]}}, "sweep.axes.sample.properties.difusivity must name one material property"),
        ({"axes": {"tip.radius": [1e-8]}}, "sweep.axes.tip.radius is not a study key; did you mean 'tip_radius'? (keys of [tip]: contact_radius"),
        ({"axes": {"probe.radius": [1e-8]}}, "'probe' is not a section"),
        ({"axes": {"tip.contact_radius": 1e-8}}, "sweep.axes.tip.contact_radius must be a non-empty list of values"),
        ({"axes": {"tip.contact_radius": []}}, "must be a non-empty list"),
        ({"axes": {"tip.contact_radius": ["big"]}}, "sweep.axes.tip.contact_radius values must each be a number, got 'big'"),
        ({"axes": {"excitation.frequencies": [1e3]}}, "values must each be a non-empty list of numbers"),
        ({"mode": "list", "axes": {"tip.contact_radius": [1e-8, 2e-8], "tip.weighting": ["hertz"]}}, "same length"),
        ({"mode": "lhs", "axes": {"tip.contact_radius": [1e-8, 2e-8]}}, "sweep.samples must be an integer >= 1, got None"),
        ({"mode": "lhs", "samples": 4, "axes": {"tip.contact_radius": [3e-8, 2e-8]}}, "must be bounds [low, high] with low < high"),
        ({"mode": "lhs", "samples": 4, "log": ["tip.radius"], "axes": {"tip.contact_radius": [1e-8, 2e-8]}}, "sweep.log must be true or a list of axis keys among ['tip.contact_radius']"),
        ({"mode": "lhs", "samples": 4, "log": True, "axes": {"ions.space_charge_excess": [-0.5, 1.0]}}, "must have bounds > 0 to be sampled in log"),
        ({"mode": "csv"}, "sweep.file is required with sweep.mode = 'csv'"),
        ({"mode": "csv", "file": "missing.csv"}, "sweep.file cannot read"),
        ({"axes": {"tip.contact_radius": [1e-8]}, "ranks_per_sample": 0}, "sweep.ranks_per_sample must be an integer >= 1, got 0"),
        ({"axes": {"tip.contact_radius": [1e-8]}, "dispatcher": "rank0"}, "sweep.dispatcher = 'rank0' is not accepted; use 'shared' or 'dedicated'"),
    ],
)
def test_malformed_sweep_is_rejected_naming_the_key(table, message):
    raw = dict(BASE) if table is None else with_sweep(**table)
    with pytest.raises(InputError) as err:
        sweep_from_dict(raw)
    assert message in str(err.value)


def test_ranks_per_sample_must_divide_the_ranks(shared_tmp):
    sweep = sweep_from_dict(with_sweep(ranks_per_sample=MPI.COMM_WORLD.size + 1, axes={"tip.contact_radius": [1e-8]}))
    with pytest.raises(InputError, match=f"sweep.ranks_per_sample = {MPI.COMM_WORLD.size + 1} must divide the {MPI.COMM_WORLD.size} MPI ranks"):
        run_sweep(sweep, shared_tmp / "never", MPI.COMM_WORLD)
    assert not (shared_tmp / "never").exists()


# -- solving sweeps -----------------------------------------------------------------------------------


def responses_by_sample(store) -> dict[int, list[complex]]:
    _, _, results = read_store(store)
    out: dict[int, list[complex]] = {}
    for row in results:
        out.setdefault(int(row["sample_id"]), []).append(complex(float(row["u_real_m"]), float(row["u_imag_m"])))
    return out


@pytest.mark.parametrize("per_sample", ["one rank", "all ranks", "dedicated dispatcher"])
def test_parallel_sweep_matches_samples_solved_one_by_one(shared_tmp, per_sample):
    """Groups of 1 rank (dynamic balancing over COMM_WORLD), one group of every rank (distributed
    mesh), or groups of 1 rank beside a dedicated dispatcher on rank 0 give the numbers of each sample
    solved alone on COMM_SELF; the bad sample fails alone."""
    comm = MPI.COMM_WORLD
    dedicated = per_sample == "dedicated dispatcher"
    ranks = comm.size if per_sample == "all ranks" else 1
    sweep = sweep_from_dict(with_sweep(ranks_per_sample=ranks, dispatcher="dedicated" if dedicated else "shared", axes={
        "sample.properties.thermal_conductivity": [1.0, 4.0], "sample.properties.poisson_ratio": [0.25, 0.6, 0.35]}))
    store = shared_tmp / "store"
    if dedicated and comm.size == 1:
        with pytest.raises(InputError, match="sweep.dispatcher = 'dedicated' needs at least 2 MPI ranks"):
            run_sweep(sweep, store, comm, quiet=True)
        return
    summary = run_sweep(sweep, store, comm, quiet=True)
    assert (summary.total, summary.stored, summary.failed, summary.complete) == (6, 6, 2, True)
    assert summary.groups == (comm.size - dedicated) // ranks
    if comm.rank != 0:
        return
    axes, samples, results = read_store(store)
    assert sorted(int(s["sample_id"]) for s in samples) == list(range(6))
    failed = {int(s["sample_id"]): s["error"] for s in samples if s["status"] == "failed"}
    assert sorted(failed) == [1, 4]
    assert all("sample.properties.poisson_ratio = 0.6 is outside the accepted range" in e for e in failed.values())
    if comm.size > 1 and ranks == 1:
        assert {s["group"] for s in samples} == {str(g) for g in range(comm.size - dedicated)}  # every group computed
    stored = responses_by_sample(store)
    assert sorted(stored) == [0, 2, 3, 5]
    for index in stored:
        rows = simulate(sweep.study(index), MPI.COMM_SELF).rows
        expected = [r.displacement for r in rows]
        assert len(stored[index]) == len(expected) == 4
        for got, want in zip(stored[index], expected):
            assert abs(got - want) <= 1e-8 * abs(want)
    assert [r["kind"] for r in results if r["sample_id"] == "0"] == ["thermal", "ionic", "thermal", "ionic"]
    assert float(results[0]["sample.properties.thermal_conductivity"]) in (1.0, 4.0)


def test_ionic_samples_match_their_own_solves(shared_tmp):
    """With mobile ions the group keeps the monolithic method once measured: same numbers."""
    comm = MPI.COMM_WORLD
    raw = with_sweep(axes={"sample.properties.diffusivity": [1e-13, 1e-12]})
    raw["sample"] = {"material": "SDC"}
    raw["excitation"] = {**BASE["excitation"], "frequencies": [1e4]}
    raw["mesh"] = {"refinement": 0.2}  # ionic samples: a coarser mesh than BASE's (suite time)
    sweep = sweep_from_dict(raw)
    summary = run_sweep(sweep, shared_tmp / "store", comm, quiet=True)
    assert (summary.stored, summary.failed) == (2, 0)
    if comm.rank == 0:
        stored = responses_by_sample(shared_tmp / "store")
        for index in range(2):
            rows = simulate(sweep.study(index), MPI.COMM_SELF).rows
            assert rows[1].kind == "ionic" and abs(rows[1].displacement) > 0
            for got, want in zip(stored[index], [r.displacement for r in rows], strict=True):
                assert abs(got - want) <= 1e-8 * abs(want)


def test_samples_on_one_mesh_reuse_the_model_in_place(shared_tmp):
    """Samples that differ only in material properties that leave the mesh alone (Omega, c0) take over
    the group's model through set_parameters (its log says so) and still give the
    numbers of each sample solved alone."""
    comm = MPI.COMM_WORLD
    raw = with_sweep(axes={"sample.properties.partial_molar_volume": [5e-6, 6.5e-6],
                           "sample.properties.concentration": [3000.0, 4150.0]})
    raw["sample"] = {"material": "SDC", "properties": {"diffusivity": 1e-12}}
    raw["excitation"] = {**BASE["excitation"], "frequencies": [1e4]}
    raw["mesh"] = {"refinement": 0.2}
    sweep = sweep_from_dict(raw)
    summary = run_sweep(sweep, shared_tmp / "store", comm, quiet=True)
    assert (summary.stored, summary.failed) == (4, 0)
    if comm.rank != 0:
        return
    logs = "".join(p.read_text() for p in (shared_tmp / "store" / "logs").iterdir())
    assert logs.count("model reused in place") >= 4 - summary.groups
    stored = responses_by_sample(shared_tmp / "store")
    for index in range(4):
        rows = simulate(sweep.study(index), MPI.COMM_SELF).rows
        for got, want in zip(stored[index], [r.displacement for r in rows], strict=True):
            assert abs(got - want) <= 1e-8 * abs(want)


def test_sweeps_on_sub_communicators_and_the_store_lock(shared_tmp):
    """Each half of COMM_WORLD runs its own sweep into its own store; a store in use is refused."""
    world = MPI.COMM_WORLD
    half = world.Split(world.rank % 2, world.rank)
    sweep = sweep_of(2)
    store = shared_tmp / f"store-{world.rank % 2}"
    summary = run_sweep(sweep, store, half, quiet=True)
    assert (summary.stored, summary.groups) == (2, half.size)
    half.Free()
    world.barrier()
    if world.rank == 0:
        stores = sorted(shared_tmp.glob("store-*"))
        assert len(stores) == min(world.size, 2)
        assert all(responses_by_sample(s) == responses_by_sample(stores[0]) for s in stores)
        held = Store.open(stores[0], sweep, resume=True)
        with pytest.raises(InputError, match="is in use by another running sweep"):
            Store.open(stores[0], sweep, resume=True)
        held.close()


def sweep_of(count: int):
    return sweep_from_dict(with_sweep(mode="list", axes={"sample.properties.thermal_conductivity": [float(v) for v in np.linspace(1.0, 3.0, count)]}))


def test_killed_sweep_resumes_to_exactly_the_full_result(shared_tmp):
    comm = MPI.COMM_WORLD
    sweep = sweep_of(5)
    full, partial = shared_tmp / "full", shared_tmp / "partial"
    run_sweep(sweep, full, comm, quiet=True)
    first = run_sweep(sweep, partial, comm, quiet=True, max_samples=2)
    assert (first.complete, first.stored, first.new) == (False, 2, 2)
    if comm.rank == 0:  # what a kill leaves: result rows of an unfinished sample, half-written lines
        _, samples, results = read_store(partial)
        done = {int(s["sample_id"]) for s in samples}
        orphan, lost = [i for i in range(5) if i not in done][:2]
        with open(partial / "results.csv", "a") as stream:
            for i in (orphan, lost):  # unfinished, and finished but 3 of its 4 rows lost in a node crash
                stream.write(f"{i},{sweep.samples[i][0]!r},ok,0.1," + ",".join(["1.0"] * len(RESPONSE_COLUMNS)) + "\n")
            stream.write(f"{orphan},{sweep.samples[orphan][0]!r},ok,0.1,1e4,1,ther")
        with open(partial / "samples.csv", "a") as stream:
            stream.write(f"{lost},ok,,0.1,1959,4,0,{sweep.samples[lost][0]!r}\n")
            stream.write(f"{orphan},ok,,0.1")
    comm.barrier()
    with pytest.raises(InputError, match="is not empty; complete the sweep in it with --resume"):
        run_sweep(sweep, partial, comm, quiet=True)
    other = sweep_of(6)
    with pytest.raises(InputError, match=r"holds another sweep: the number of samples differs \(stored 5, now 6\)"):
        run_sweep(other, partial, comm, quiet=True, resume=True)
    changed = sweep_from_dict(with_sweep(mode="list", axes={"sample.properties.thermal_conductivity": [1.0, 9.0, 2.0, 2.5, 3.0]}))
    with pytest.raises(InputError, match=r"sample 1 differs \(sample.properties.thermal_conductivity 1.5 -> 9.0\)"):
        run_sweep(changed, partial, comm, quiet=True, resume=True)
    summary = run_sweep(sweep, partial, comm, quiet=True, resume=True)
    assert summary.complete and summary.stored == 5 and summary.new == 5 - first.stored
    if comm.rank == 0:
        _, samples, results = read_store(partial)
        assert sorted(int(s["sample_id"]) for s in samples) == list(range(5))  # no duplicates
        _, _, reference = read_store(full)
        key = lambda r: (int(r["sample_id"]), r["drive_frequency_hz"], r["harmonic"], r["kind"])  # noqa: E731
        assert len(results) == len(reference) == 20
        for got, want in zip(sorted(results, key=key), sorted(reference, key=key)):
            assert key(got) == key(want) and got["u_real_m"] == want["u_real_m"] and got["u_imag_m"] == want["u_imag_m"]
    again = run_sweep(sweep, partial, comm, quiet=True, resume=True)
    assert again.new == 0 and again.complete


def start_sweep(tmp_path, count: int):
    """`stimsim sweep` of ``count`` samples in a subprocess, returned once 3 samples are stored."""
    study = tmp_path / "study.toml"
    values = ", ".join(repr(float(v)) for v in np.linspace(1.0, 3.0, count))
    study.write_text(STUDY_TEXT + f'[sweep]\n[sweep.axes]\n"sample.properties.thermal_conductivity" = [{values}]\n')
    store = tmp_path / "store"
    process = subprocess.Popen([sys.executable, "-m", "stimsim.cli", "sweep", str(study), "-o", str(store), "-q"],
                               env=dict(os.environ), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        lines = (store / "samples.csv").read_text().count("\n") if (store / "samples.csv").exists() else 0
        if lines >= 4:  # header + 3 samples
            break
        time.sleep(0.01)
    return process, study, store


@pytest.mark.serial
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_killed_or_terminated_sweep_then_resume(tmp_path, how):
    """kill -9 mid-sample loses only that sample; SIGTERM (Slurm's time limit) ends after the sample in
    flight with status 4. Either way --resume stores every sample exactly once."""
    count = 24
    process, study, store = start_sweep(tmp_path, count)
    process.send_signal(getattr(signal, how))
    process.wait()
    expected = -signal.SIGKILL if how == "SIGKILL" else EXIT_INCOMPLETE
    assert process.returncode == expected, process.stderr.read()
    _, stopped, results = read_store(store)
    assert 3 <= len(stopped) < count
    if how == "SIGTERM":
        assert len(results) == 4 * len(stopped) and (store / "results.csv").read_text().endswith("\n")
    assert main(["sweep", str(study), "-o", str(store), "-q"]) == EXIT_INPUT  # refuses to overwrite
    assert main(["sweep", str(study), "-o", str(store), "-q", "--resume"]) == 0
    _, samples, results = read_store(store)
    assert sorted(int(s["sample_id"]) for s in samples) == list(range(count))
    assert len(results) == 4 * count and all(s["status"] == "ok" for s in samples)


def test_unexpected_error_is_recorded_the_rest_complete_and_retried_on_demand(shared_tmp, monkeypatch):
    import stimsim.hpc.sweep as module

    real = module.evaluate

    def flaky(study, comm, cache):
        if study.sample.material.thermal_conductivity == 2.0:
            raise RuntimeError("PETSc error 76 (simulated)")
        return real(study, comm, cache)

    monkeypatch.setattr(module, "evaluate", flaky)
    store = shared_tmp / "store"
    summary = run_sweep(sweep_of(3), store, MPI.COMM_WORLD, quiet=True)
    assert (summary.stored, summary.failed) == (3, 1)
    if MPI.COMM_WORLD.rank == 0:
        _, samples, _ = read_store(store)
        failed = [s for s in samples if s["status"] == "failed"]
        assert [s["sample_id"] for s in failed] == ["1"] and failed[0]["error"] == "RuntimeError: PETSc error 76 (simulated)"
        logs = "".join(p.read_text() for p in (store / "logs").iterdir())
        assert "Traceback" in logs and "sample 1 failed" in logs
    calls = []

    def compiling_elsewhere(study, comm, cache):
        calls.append(study.sample.material.thermal_conductivity)
        if calls.count(study.sample.material.thermal_conductivity) == 1:
            raise RuntimeError("Failed JIT compilation of form: JIT compilation timed out, probably ...")
        return real(study, comm, cache)

    monkeypatch.setattr(module, "evaluate", compiling_elsewhere)
    retried = run_sweep(sweep_of(3), store, MPI.COMM_WORLD, quiet=True, resume=True, retry_failed=True)
    assert (retried.new, retried.failed, retried.stored) == (1, 0, 3)
    every = [c for part in MPI.COMM_WORLD.allgather(calls) for c in part]
    assert every == [2.0, 2.0]  # a JIT timeout (cold cache, another group compiling) is tried once more


# -- command line -------------------------------------------------------------------------------------


def test_sweep_and_export_commands(shared_tmp, capsys):
    study = write_study(shared_tmp, '[sweep]\n[sweep.axes]\n"tip.contact_radius" = [15e-9, 25e-9]\n')
    store, table = shared_tmp / "store", shared_tmp / "flat.csv"
    assert main(["sweep", str(study), "-o", str(store), "--max-samples", "1"]) == EXIT_INCOMPLETE
    if MPI.COMM_WORLD.rank == 0:
        err = capsys.readouterr().err
        assert "sweep: 2 samples, 2 to solve" in err and "stopped by a limit (continue with --resume)" in err
    assert main(["sweep", str(study), "-o", str(store)]) == EXIT_INPUT
    assert main(["sweep", str(study), "-o", str(store), "--resume", "--set", "mesh.refinement=0.6", "-q"]) == EXIT_INPUT
    if MPI.COMM_WORLD.rank == 0:
        err = capsys.readouterr().err
        assert "is not empty; complete the sweep in it with --resume" in err
        assert "holds another sweep: the base study differs at mesh.refinement" in err
    assert main(["sweep", str(study), "-o", str(store), "--resume", "-q"]) == 0
    assert main(["export", str(store), str(table)]) == 0
    if MPI.COMM_WORLD.rank == 0:
        with open(table, newline="") as stream:
            rows = list(csv.DictReader(stream))
        assert list(rows[0])[:5] == ["sample_id", "tip.contact_radius", "status", "error", "wall_time_s"]
        assert list(rows[0])[5:] == list(RESPONSE_COLUMNS)
        assert [(r["sample_id"], r["tip.contact_radius"]) for r in rows] == [("0", "1.5e-08")] * 4 + [("1", "2.5e-08")] * 4
        assert (store / "provenance.json").is_file() and (store / "study.toml").is_file()
        assert "8 rows (2 samples, 0 failed)" in capsys.readouterr().out
        assert study_from_dict({k: v for k, v in load_sweep(store / "study.toml").base.items() if k != "sweep"})
    assert main(["export", str(shared_tmp), str(table)]) == EXIT_INPUT
    assert main(["export", str(store), str(shared_tmp / "flat.parquet")]) == EXIT_INPUT
    assert main(["sweep", str(store / "study.toml"), "-o", str(store), "--resume", "-q"]) == 0  # stored study resumes
    limited = shared_tmp / "limited"
    assert main(["sweep", str(study), "-o", str(limited), "-q", "--time-limit", "1e-9"]) == EXIT_INCOMPLETE
    if MPI.COMM_WORLD.rank == 0:
        assert read_store(limited)[1] == []  # nothing handed out after the limit
    with pytest.raises(SystemExit):
        main(["sweep", str(study), "--max-samples", "0"])


def test_sweep_command_rejects_malformed_definitions(shared_tmp, capsys):
    study = write_study(shared_tmp, '[sweep]\n[sweep.axes]\n"tip.contact_raduis" = [15e-9]\n')
    assert main(["sweep", str(study), "-o", str(shared_tmp / "never")]) == EXIT_INPUT
    assert main(["sweep", str(study), "--set", "sweep.axes={}", "--retry-failed", "-o", str(shared_tmp / "never")]) == EXIT_INPUT
    if MPI.COMM_WORLD.rank == 0:
        err = capsys.readouterr().err.splitlines()
        assert err[0].startswith("stimsim: error: sweep.axes.tip.contact_raduis is not a study key; did you mean 'contact_radius'? (keys of [tip]")
        assert err[1].startswith("stimsim: error: sweep.axes must be a table")
    assert not (shared_tmp / "never").exists()


@pytest.mark.serial
def test_dry_run_lists_samples_and_flags_rejected_ones(tmp_path, capsys):
    (tmp_path / "study.toml").write_text(STUDY_TEXT + '[sweep]\n[sweep.axes]\n"sample.properties.poisson_ratio" = [0.3, 0.7]\n')
    assert main(["sweep", str(tmp_path / "study.toml"), "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "sample_id,sample.properties.poisson_ratio,check"
    assert out[2] == "0,0.3,ok" and out[3].startswith("1,0.7,rejected: sample.properties.poisson_ratio = 0.7")


def test_example_study_is_a_valid_sweep():
    sweep = load_sweep(ROOT / "studies" / "sweep_example.toml")
    assert len(sweep) >= 4
    for index in range(len(sweep)):
        sweep.study(index)


def test_quiet_still_reports_failed_samples(caplog):
    """-q silences progress, not problems: failed samples are logged as warnings (the first ten of a run)."""
    from types import SimpleNamespace

    from stimsim.hpc.sweep import REPORTED_FAILURES, Dispatcher

    dispatcher = Dispatcher(SimpleNamespace(stored={}), list(range(20)), None, None, quiet=True, interval=1.0)
    for index in range(REPORTED_FAILURES + 2):
        dispatcher.new_failed += 1
        dispatcher.report_failure({"sample_id": index, "error": f"error {index}"})
    err = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert err[0] == "sweep: sample 0 failed: error 0"
    assert len(err) == REPORTED_FAILURES + 1 and "samples.csv" in err[-1]


def test_axes_name_a_table_of_an_array_by_its_index():
    """An axis can be a key of one [[sample.species]] table; an index past the array names its length."""
    raw = tomllib.loads((ROOT / "studies" / "ceria_vacancies_electrons.toml").read_text())
    sweep = sweep_from_dict(raw | {"sweep": {"axes": {"sample.species[0].diffusivity": [1e-13, 2e-13]}}})
    assert sweep.study(1).sample.species[0].diffusivity == 2e-13
    with pytest.raises(InputError, match=r"sweep.axes.sample.species\[2\].diffusivity has index 2, but sample.species has 2"):
        sweep_from_dict(raw | {"sweep": {"axes": {"sample.species[2].diffusivity": [1e-13]}}})
    with pytest.raises(InputError, match=r"sweep.axes.sample.species\[0\].charge values must each be a whole number"):
        sweep_from_dict(raw | {"sweep": {"axes": {"sample.species[0].charge": [1.5]}}})


def test_a_3d_sweep_of_a_grain_boundary_core_is_resumable_and_matches_direct_solves(shared_tmp):
    """[sweep] in 3D: two Young's moduli of a grain boundary's core (no ions, coarse quarter box) through
    the same store, stopped after one sample and resumed; each stored sample equals its own simulate(),
    and a group's second sample on the same mesh takes over the model in place (a core property is an
    in-place key)."""
    comm = MPI.COMM_WORLD
    raw = {**BASE, "geometry": {"model": "3d", "grain_boundaries": [
        {"point": [0.0, 0.0], "normal": [1.0, 0.0], "width": 4e-9, "properties": {"youngs_modulus": 140e9}}]},
        "excitation": {**BASE["excitation"], "frequencies": [1e5]}, "mesh": {"refinement": 0.25}}
    key = "geometry.grain_boundaries[0].properties.youngs_modulus"
    sweep = sweep_from_dict(raw | {"sweep": {"mode": "list", "axes": {key: [140e9, 60e9]}}})
    store = shared_tmp / "store"
    first = run_sweep(sweep, store, comm, quiet=True, max_samples=1)
    assert (first.stored, first.complete) == (1, False)
    summary = run_sweep(sweep, store, comm, quiet=True, resume=True)
    assert (summary.stored, summary.failed, summary.new, summary.complete) == (2, 0, 1, True)
    if comm.rank != 0:
        return
    stored, cache = responses_by_sample(store), ModelCache(MPI.COMM_SELF)
    for index, made in enumerate(("mesh", "model reused in place")):
        rows, _, how = evaluate(sweep.study(index), MPI.COMM_SELF, cache)
        assert how.startswith(made)
        fresh = [r.displacement for r in simulate(sweep.study(index), MPI.COMM_SELF).rows]
        for got, cached, want in zip(stored[index], [r.displacement for r in rows], fresh, strict=True):
            assert abs(got - want) <= 1e-8 * abs(want) and abs(cached - want) <= 1e-8 * abs(want)
    cache.drop_model()
