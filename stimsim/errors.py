"""Exceptions that carry a message meant for the user, never a traceback."""


class StimsimError(Exception):
    """Base class of the errors stimsim reports to the user as one clear message."""


class InputError(StimsimError, ValueError):
    """Bad input: names the offending study key (or argument) and what is accepted."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key} {message}")


class SolverError(StimsimError, RuntimeError):
    """A linear solve failed: no convergence, a MUMPS error or a non-finite solution."""
