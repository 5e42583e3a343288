"""Progress lines for long runs (experiments, fits, sweeps): on stderr of rank 0, rate-limited.

A line at most every ``interval`` seconds or 2 % of the elapsed time, whichever is longer, so that a
day-long job writes a few hundred lines; nothing with ``quiet``. Progress is not a problem report:
warnings and failures are printed whether quiet or not.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


def format_duration(seconds: float) -> str:
    """A duration for people: '4.2 s', '95 s', '12 min 05 s', '3 h 20 min'."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Counts steps of a task named ``label`` (``total`` of them if known) and reports them on stderr
    of rank ``rank`` 0, rate-limited (module docstring)."""

    def __init__(self, label: str, total: int | None = None, quiet: bool = False, rank: int = 0, interval: float = 1.0):
        self.label, self.total, self.interval = label, total, interval
        self.active = not quiet and rank == 0
        self.start = time.perf_counter()
        self.done, self.last_report = 0, 0.0

    def due(self) -> bool:
        """Whether a line may be printed now (and, if so, the clock of the last line is reset)."""
        elapsed = time.perf_counter() - self.start
        if not self.active or elapsed - self.last_report < max(self.interval, 0.02 * elapsed):
            return False
        self.last_report = elapsed
        return True

    def advance(self, detail: str = "", steps: int = 1) -> None:
        """Count ``steps`` more and report if due, with ``detail`` at the end of the line."""
        self.done += steps
        if not self.due():
            return
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        left = ""
        if self.total and rate > 0 and self.done < self.total:
            left = f" | {format_duration((self.total - self.done) / rate)} left"
        tail = f" | {detail}" if detail else ""
        log.info(f"{self.label}: {count} | {format_duration(elapsed)}{left}{tail}")
