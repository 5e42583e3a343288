"""Progress lines (logged at INFO on logger 'stimsim'): counted, rate-limited, silent when quiet or
off rank 0."""

import logging

import pytest

from stimsim.core.progress import Progress, format_duration


@pytest.mark.parametrize(
    "seconds, text", [(4.24, "4.2 s"), (95.2, "95 s"), (725, "12 min 05 s"), (12000, "3 h 20 min")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_lines_count_and_estimate_the_time_left(caplog):
    caplog.set_level(logging.INFO, logger="stimsim")
    progress = Progress("fit", total=4, interval=0.0)
    progress.advance("chi-square 3")
    (line,) = caplog.messages
    assert line.startswith("fit: 1/4 | ") and "left" in line and line.endswith("chi-square 3")


def test_rate_limit_quiet_and_other_ranks(caplog):
    caplog.set_level(logging.INFO, logger="stimsim")
    limited = Progress("experiment dc_series", total=100, interval=3600.0)
    for _ in range(100):
        limited.advance()
    assert caplog.messages == []  # within the first interval: no line at all
    for progress in (Progress("x", 3, quiet=True, interval=0.0), Progress("x", 3, rank=1, interval=0.0)):
        progress.advance()
        assert progress.done == 1
    assert caplog.messages == []
