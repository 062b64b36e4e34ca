"""Per-worker state the workflow code reads: the catalogue and the worker's options.

Workflow code cannot receive objects from the worker that runs it, and the workflow class is one
class for every worker, so the runner finds its worker's catalogue by task queue. A process may run
several workers (tests, embedding) as long as each task queue has one catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cloudops.registry import Catalogue

__all__ = ["WorkerRuntime", "install", "lookup", "uninstall"]


@dataclass(frozen=True)
class WorkerRuntime:
    """What the runner workflow needs from the worker that runs it."""

    catalogue: Catalogue
    search_attributes: bool = True
    #: Verify the caller and check permissions (``cloudops.permissions``) before any activity.
    authorization: bool = False
    identity_timeout: timedelta = timedelta(seconds=60)


_BY_TASK_QUEUE: dict[str, WorkerRuntime] = {}
_LAST: list[WorkerRuntime] = []


def install(task_queue: str, runtime: WorkerRuntime) -> None:
    """Make ``runtime`` the one workflows on ``task_queue`` use in this process."""
    _BY_TASK_QUEUE[task_queue] = runtime
    _LAST[:] = [runtime]


def uninstall(task_queue: str, runtime: WorkerRuntime) -> None:
    """Forget ``runtime`` if it is still the one installed for ``task_queue``."""
    if _BY_TASK_QUEUE.get(task_queue) is runtime:
        del _BY_TASK_QUEUE[task_queue]


def lookup(task_queue: str) -> WorkerRuntime:
    """The runtime of ``task_queue``; for replays of histories from other queues, the last one."""
    runtime = _BY_TASK_QUEUE.get(task_queue)
    if runtime is None:
        if not _LAST:
            raise RuntimeError("no cloudops worker runtime is installed in this process")
        return _LAST[0]
    return runtime
