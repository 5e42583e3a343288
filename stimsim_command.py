"""The ``stimsim`` command's entry point (``[project.scripts]``), outside the package so that it runs
before the package's imports: loading MPI, PETSc and dolfinx takes about a second, and Ctrl-C then
must end the command as it does later, with one line ``stimsim: interrupted`` and exit status 130
(on the first rank only) instead of a traceback. Nothing has been written at that point.
"""

import os
import sys

#: Exit status of an interrupted command (128 + SIGINT), as :data:`stimsim.cli.EXIT_INTERRUPTED`.
EXIT_INTERRUPTED = 130
#: Environment variables in which MPI launchers give a process its rank.
RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK")


def main() -> int:
    """Import and run :func:`stimsim.cli.main`; returns the exit status."""
    try:
        from stimsim.cli import main as command

        return command()
    except KeyboardInterrupt:
        if all(os.environ.get(name, "0") == "0" for name in RANK_VARIABLES):
            print("stimsim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
