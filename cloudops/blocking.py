"""Turn a blocking cloud-SDK function into a Temporal activity that heartbeats while it runs.

Why one helper for every provider: boto3, google-cloud-compute and azure-mgmt-compute all block.
An async activity must not block the worker's event loop, so the function runs in a thread (no
activity executor needed on the worker, and context variables, such as the operation context
used by logs and metrics, travel with it). While the thread works, the activity heartbeats, so
that when a worker is SIGKILLed mid-call the attempt is retried elsewhere after the heartbeat
timeout (seconds), not after the start-to-close timeout (minutes). SDK exceptions are mapped onto
cloudops' taxonomy in one place by the provider's ``classify`` function.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import activity

__all__ = ["blocking_activity", "heartbeat_interval"]

InT = TypeVar("InT")
OutT = TypeVar("OutT")

Classifier = Callable[[BaseException], BaseException]


def heartbeat_interval(timeout_seconds: float) -> float:
    """How often to heartbeat for a heartbeat timeout: a quarter of it, within 0.5 to 5 s.

    Temporal's SDK throttles heartbeats it sends to 80% of the timeout anyway; beating more often
    than that only costs a little CPU, beating less often risks a spurious timeout.
    """
    return max(0.5, min(5.0, timeout_seconds / 4))


def blocking_activity(
    name: str, classify: Classifier
) -> Callable[[Callable[[InT], OutT]], Callable[[InT], Awaitable[OutT]]]:
    """Make ``fn(arg) -> result`` (blocking) an async Temporal activity called ``name``.

    ``classify(err)`` returns the cloudops error to raise instead of ``err`` (or ``err`` itself
    to let it through unchanged).
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
            call = asyncio.ensure_future(asyncio.to_thread(classified, arg))
            timeout = activity.info().heartbeat_timeout if activity.in_activity() else None
            if timeout:
                interval = heartbeat_interval(timeout.total_seconds())
                while not (await asyncio.wait({call}, timeout=interval))[0]:
                    activity.heartbeat()
            return await call

        return activity.defn(name=name)(run)

    return decorate
