"""Work that only rank 0 does (files, gmsh), with its failure reported on every rank.

A rank-0 exception that the other ranks never hear of leaves them waiting in the next collective
call: :func:`on_root` broadcasts the outcome and raises the same error on every rank.
"""

from __future__ import annotations

from stimsim.core.errors import InputError, StimsimError


def on_root(comm, key: str, action, *args):
    """Run ``action(*args)`` on rank 0 of ``comm`` (collective). A failure raises InputError on all
    ranks, naming ``key`` and the cause. Returns the action's result on rank 0, None elsewhere."""
    return _root_outcome(comm, key, action, args, own_keys=False)


def shared_from_root(comm, key: str, action, *args):
    """Run ``action(*args)`` on rank 0 of ``comm`` and return its result on every rank (collective,
    broadcast). An InputError of the action keeps its own key (e.g. ``fit.data[1].amplitude``); any
    other failure raises InputError naming ``key`` and the cause."""
    return comm.bcast(_root_outcome(comm, key, action, args, own_keys=True), root=0)


def _root_outcome(comm, key: str, action, args, own_keys: bool):
    """The action's result on rank 0 (None elsewhere); a failure raised as InputError on all ranks,
    named by its own key (``own_keys``, InputErrors only) or by ``key``."""
    result, failure = None, None
    if comm.rank == 0:
        try:
            result = action(*args)
        except StimsimError as err:
            name = err.key if own_keys and isinstance(err, InputError) else key
            failure = (name, str(err).removeprefix(f"{name} "))
        except Exception as err:  # noqa: BLE001 (reported to the user with its cause)
            failure = (key, f"failed: {type(err).__name__}: {err}")
    failure = comm.bcast(failure, root=0)
    if failure is not None:
        raise InputError(*failure)
    return result
