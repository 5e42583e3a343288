"""The benchmarks that measure each case in its own process (a peak resident set of its own, cold caches):
the child prints its result as one ``RESULT <json>`` line, the parent runs it and reads that line.
Imported by the scripts beside it (run as ``python benchmarks/<name>.py``, this folder is on the path)."""

from __future__ import annotations

import json
import subprocess
import sys

#: The start of the child's result line.
PREFIX = "RESULT "


def report(result: dict) -> None:
    """Print ``result`` (JSON-serialisable) as the child's result line."""
    print(PREFIX + json.dumps(result), flush=True)


def run(command: list[str], what: str, env: dict | None = None) -> dict:
    """Run the child ``command`` (environment ``env``, default this one's) and return its result; exit
    naming ``what`` with the end of its stderr if it fails."""
    output = subprocess.run(command, capture_output=True, text=True, env=env)
    if output.returncode != 0:
        sys.exit(f"{what} failed:\n{output.stderr[-3000:]}")
    line = next(line for line in output.stdout.splitlines() if line.startswith(PREFIX))
    return json.loads(line[len(PREFIX):])


def relative(value: list, reference: list) -> float:
    """Relative difference of two complex values given as [real, imag]."""
    return abs(complex(*value) - complex(*reference)) / abs(complex(*reference))
