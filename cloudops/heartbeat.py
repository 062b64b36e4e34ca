"""Every activity heartbeats, and a worker that stops hands its activities back at once.

Why: an activity attempt lost with its worker (SIGKILL, OOM, a node gone) is only noticed by the
Temporal server when a timeout fires. Without a heartbeat timeout that is the start-to-close
timeout (minutes); with one, it is the heartbeat timeout (seconds) — but only if something
heartbeats while the attempt runs. Plugin authors should not have to know that, so the worker
does it for them: :class:`AutoHeartbeatInterceptor` (installed by ``CloudOpsPlugin``) runs an
asyncio task next to every activity attempt scheduled with a heartbeat timeout, which
heartbeats every :func:`heartbeat_interval` while the attempt runs. It serves async and sync
activities alike: the interceptor always runs on the worker's event loop (a sync activity runs
in the worker's executor, not on the loop), and heartbeats are sent from the loop in any case
(the SDK encodes their details asynchronously), so a thread would add nothing. An async
activity that blocks the event loop (calls a blocking SDK directly) starves every heartbeat of
the worker, its own included: wrap such calls with :func:`cloudops.blocking.blocking_activity`
or ``asyncio.to_thread``.

An activity that heartbeats itself keeps its details: the task skips a beat when the activity
heartbeated within the interval, and otherwise re-sends the details the activity last sent (at
first, those the previous attempt left), so what the next attempt reads from
``activity.info().heartbeat_details`` is always what the activity said.

Heartbeating also delivers cancellation: a workflow cancelled while one of its activities runs
cancels that activity at its next heartbeat (``asyncio.CancelledError`` in an async activity).

Worker shutdown needs nothing from here: ``Worker(graceful_shutdown_timeout=...)`` (``cloudops
worker --grace-period``) stops polling, lets running activities finish for that long, then
cancels the rest, and the SDK reports each of those attempts as a retryable failure
(``WorkerShutdown``), so the next attempt starts on another worker after the retry policy's
first interval, without waiting for a timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

__all__ = ["AutoHeartbeatInterceptor", "heartbeat_interval"]


def heartbeat_interval(timeout_seconds: float) -> float:
    """How often to heartbeat for a heartbeat timeout: a quarter of it, within 0.5 to 5 s.

    Temporal's SDK forwards heartbeats to the server at most every 80% of the timeout anyway;
    beating more often than that only costs a little CPU, beating less often risks a spurious
    timeout.
    """
    return max(0.5, min(5.0, timeout_seconds / 4))


class _Beats:
    """What one attempt last heartbeated, and when (shared by its inbound and outbound)."""

    def __init__(self) -> None:
        self.details: Sequence[Any] = ()
        self.at = time.monotonic()  # of the last heartbeat, the activity's or ours


class _Outbound(ActivityOutboundInterceptor):
    def __init__(self, next: ActivityOutboundInterceptor, beats: _Beats) -> None:
        super().__init__(next)
        self._beats = beats

    def heartbeat(self, *details: Any) -> None:
        self._beats.details = details
        self._beats.at = time.monotonic()
        self.next.heartbeat(*details)


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor) -> None:
        super().__init__(next)
        self._beats = _Beats()
        self._send: ActivityOutboundInterceptor | None = None

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        # Our own beats go straight to ``outbound``; the activity's pass through _Outbound.
        self._send = outbound
        super().init(_Outbound(outbound, self._beats))

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        timeout = info.heartbeat_timeout
        beating: asyncio.Task[None] | None = None
        if timeout and not info.is_local and self._send is not None:
            self._beats.details = tuple(info.heartbeat_details)
            interval = heartbeat_interval(timeout.total_seconds())
            beating = asyncio.create_task(
                self._beat(self._send, interval), name=f"heartbeat {info.activity_type}"
            )
        try:
            return await self.next.execute_activity(input)
        finally:
            if beating is not None:
                beating.cancel()

    async def _beat(self, send: ActivityOutboundInterceptor, interval: float) -> None:
        beats = self._beats
        beats.at = time.monotonic()
        while True:
            wait = beats.at + interval - time.monotonic()
            if wait > 0:  # the last heartbeat (maybe the activity's own) is recent enough
                await asyncio.sleep(wait)
                continue
            beats.at = time.monotonic()
            send.heartbeat(*beats.details)


class AutoHeartbeatInterceptor(Interceptor):
    """Heartbeats every activity attempt that has a heartbeat timeout, while it runs.

    See the module's documentation. Put it first in the worker's interceptors, so that the
    activity's own heartbeats reach it through every other interceptor.
    """

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap one activity attempt."""
        return _Inbound(next)
