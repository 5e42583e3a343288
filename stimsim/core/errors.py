"""Exceptions that carry a message meant for the user, never a traceback, and the number check that
every input goes through."""

import difflib
import math


class StimsimError(Exception):
    """Base class of the errors stimsim reports to the user as one clear message."""


class InputError(StimsimError, ValueError):
    """Bad input: names the offending study key (or argument) and what is accepted."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key} {message}")


class SolverError(StimsimError, RuntimeError):
    """A linear solve failed: no convergence, a MUMPS error or a non-finite solution."""


def history(values, count: int = 12) -> str:
    """A convergence history (residuals or update sizes, dimensionless) for a message: at most ``count``
    values, the first and the last always among them, in %.2e."""
    values = list(values)
    if len(values) > count:
        picks = sorted({round(i * (len(values) - 1) / (count - 1)) for i in range(count)})
        values = [values[i] for i in picks]
    return ", ".join(f"{v:.2e}" for v in values)


def did_you_mean(word, known) -> str:
    """The one rule for every name a user types: ``"; did you mean 'x'?"`` with the closest of the
    ``known`` names (difflib ratio >= 0.6, also ignoring case and '-' for '_'), or ''."""
    known = [str(k) for k in known]
    close = difflib.get_close_matches(str(word), known, n=1, cutoff=0.6)
    if not close:  # a different case or separator is still a typo ('Thermal-Conductivity')
        folded = {k.lower().replace("-", "_"): k for k in known}
        close = difflib.get_close_matches(str(word).lower().replace("-", "_"), list(folded), n=1, cutoff=0.6)
        close = [folded[c] for c in close]
    return f"; did you mean {close[0]!r}?" if close else ""


def suggest(word, known) -> str:
    """:func:`did_you_mean` followed by the list of known names, to append to a message."""
    return f"{did_you_mean(word, known)} (known: {', '.join(str(k) for k in known)})"


def checked_number(key: str, value, low: float, high: float, unit: str, low_inclusive=False, high_inclusive=False):
    """``value`` as a finite float in the interval (low, high) (brackets per the flags), or an
    :class:`InputError` naming ``key`` and the accepted range with its ``unit``."""
    opening, closing = "[" if low_inclusive else "(", "]" if high_inclusive else ")"
    accepted = f"{opening}{low:g}, {high:g}{closing} {unit}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(key, f"must be a number in {accepted}, got {value!r}")
    try:
        value = float(value)
    except OverflowError:
        raise InputError(key, f"is outside the accepted range {accepted}") from None
    too_low = value < low if low_inclusive else value <= low
    too_high = value > high if high_inclusive else value >= high
    if not math.isfinite(value) or too_low or too_high:
        raise InputError(key, f"= {value:g} is outside the accepted range {accepted}")
    return value
