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
import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import activity

from cloudops.heartbeat import heartbeat_interval

__all__ = ["blocking_activity", "heartbeat_interval"]

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
            return await asyncio.to_thread(classified, arg)

        return activity.defn(name=name)(run)

    return decorate
