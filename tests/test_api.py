"""The public Python API as the README shows it: three lines from a study file to a typed result."""

import os
import re
from pathlib import Path

import stimsim
from mpi4py import MPI

from stimsim.solve.simulate import SimulationResult

ROOT = Path(__file__).resolve().parents[1]


def readme_api_block() -> str:
    """The first Python code block of the README's 'Python API' section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_api_runs_as_written(shared_tmp):
    """The README's three lines, run as written from the repository root, give a result whose rows
    are the default study's (thermal at harmonic 1, ionic at 2, every drive frequency), how each
    frequency was solved, and a response.csv written once."""
    code = readme_api_block()
    assert code.strip().splitlines() == [
        "import stimsim", 'study = stimsim.load_study("studies/default.toml")', "result = stimsim.simulate(study)",
    ]
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        scope: dict = {}
        exec(code, scope)
    finally:
        os.chdir(here)
    result, study = scope["result"], scope["study"]
    assert isinstance(result, SimulationResult)
    frequencies = study.excitation.frequencies
    assert set(result.periodic) == set(frequencies)
    for f in frequencies:
        thermal, ionic = result.row(f, 1, "thermal"), result.row(f, 2, "ionic")
        assert thermal.amplitude > 1e-12 and 0 < ionic.amplitude < thermal.amplitude
        assert result.periodic[f].method == "expansion" and result.validity[f]
    path = result.to_csv(shared_tmp / "response.csv")
    if MPI.COMM_WORLD.rank == 0:
        lines = path.read_text().splitlines()
        assert lines[0].startswith("drive_frequency_hz,harmonic,kind") and len(lines) == len(result.rows) + 1
        assert lines[1].split(",")[-1] == "expansion"


def test_api_names_resolve_and_unknown_names_do_not():
    from stimsim.inverse.forward_model import ForwardModel
    from stimsim.study.load import load_study

    assert stimsim.ForwardModel is ForwardModel and stimsim.load_study is load_study
    assert {"load_study", "simulate", "ForwardModel", "SimulationResult"} <= set(stimsim.__all__)
    try:
        stimsim.no_such_name
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:
        raise AssertionError("an unknown name resolved")
    assert (Path(stimsim.__file__).parent / "py.typed").is_file()
