"""Work that only rank 0 does (files, gmsh), with its failure reported on every rank.

A rank-0 exception that the other ranks never hear of leaves them waiting in the next collective
call: :func:`on_root` broadcasts the outcome and raises the same error on every rank.
"""

from __future__ import annotations

from stimsim.core.errors import InputError, StimsimError


def on_root(comm, key: str, action, *args):
    """Run ``action(*args)`` on rank 0 of ``comm`` (collective). A failure raises InputError on all
    ranks, naming ``key`` and the cause. Returns the action's result on rank 0, None elsewhere."""
    result, message = None, None
    if comm.rank == 0:
        try:
            result = action(*args)
        except StimsimError as err:
            message = str(err).removeprefix(f"{key} ")
        except Exception as err:  # noqa: BLE001 (reported to the user with its cause)
            message = f"failed: {type(err).__name__}: {err}"
    message = comm.bcast(message, root=0)
    if message is not None:
        raise InputError(key, message)
    return result
