"""Turn a blocking cloud-SDK function into a Temporal activity that runs in a thread.

Why one helper for every provider: boto3, google-cloud-compute and azure-mgmt-compute all block.
An async activity must not block the worker's event loop, so the function runs in a thread (no
activity executor needed on the worker, and context variables, such as the operation context
used by logs and metrics, travel with it). While the thread works, the worker heartbeats the
activity (:mod:`cloudops.heartbeat`, for every activity with a heartbeat timeout), so that when
a worker is SIGKILLed mid-call the attempt is retried elsewhere after the heartbeat timeout
(seconds), not after the start-to-close timeout (minutes). SDK exceptions are mapped onto
cloudops' taxonomy in one place by the provider's ``classify`` function.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from temporalio import activity

from cloudops.heartbeat import heartbeat_interval

__all__ = ["THREADS_ENV", "blocking_activity", "heartbeat_interval"]

#: Threads the blocking activities of a process share (default 200: two workers' activity
#: slots, the worker's queue and its budget queue, 100 each by Temporal's default).
THREADS_ENV = "CLOUDOPS_BLOCKING_THREADS"
DEFAULT_THREADS = 200

InT = TypeVar("InT")
OutT = TypeVar("OutT")

Classifier = Callable[[BaseException], BaseException]


def blocking_activity(
    name: str, classify: Classifier
) -> Callable[[Callable[[InT], OutT]], Callable[[InT], Awaitable[OutT]]]:
    """Make ``fn(arg) -> result`` (blocking) an async Temporal activity called ``name``.

    ``classify(err)`` returns the cloudops error to raise instead of ``err`` (or ``err`` itself
    to let it through unchanged). Heartbeats come from the cloudops worker, which beats every
    activity while it runs.
    """

    def decorate(fn: Callable[[InT], OutT]) -> Callable[[InT], Awaitable[OutT]]:
        def classified(arg: InT) -> OutT:
            try:
                return fn(arg)
            except Exception as err:
                mapped = classify(err)
                if mapped is err:
                    raise
                raise mapped from err

        @functools.wraps(fn)
        async def run(arg: InT) -> OutT:
            # As asyncio.to_thread (the context travels), but on cloudops' own pool.
            call = functools.partial(contextvars.copy_context().run, classified, arg)
            return await asyncio.get_running_loop().run_in_executor(_pool(), call)

        return activity.defn(name=name)(run)

    return decorate


_executor: list[ThreadPoolExecutor] = []
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The threads blocking activities run in (``CLOUDOPS_BLOCKING_THREADS``).

    Why not the event loop's default executor (``asyncio.to_thread``): it has ``cpu_count + 4``
    threads, 6 on a 2-core machine, while a worker runs up to 100 activities at once, and many of
    them wait (for a shared read's batch, for the budget's pacing) rather than work: at 1,000
    operations the attempts queued for a thread until their start-to-close timeout cancelled them.
    """
    with _executor_lock:
        if not _executor:
            try:
                threads = max(1, int(os.environ.get(THREADS_ENV, DEFAULT_THREADS)))
            except ValueError:
                threads = DEFAULT_THREADS
            _executor.append(
                ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cloudops-blocking")
            )
        return _executor[0]
