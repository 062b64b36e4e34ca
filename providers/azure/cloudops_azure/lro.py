"""Durable waits on Azure long-running operations, one status check per activity attempt.

Why: the SDK's ``LROPoller`` polls in a background thread until the operation ends, inside one
process. A worker crash would lose that wait, and re-running the activity would re-issue the
mutation. Instead, the activity that begins a mutation hands back the poller's continuation
token (recorded in the workflow history) without polling, and a polling activity resumes from
the token and checks the operation *once* per attempt, answering :class:`cloudops.NotReady`
while it runs: Temporal's retries are the poll loop (``ctx.poll``), and any worker can take the
next attempt. Both use the SDK's own polling code (Azure-AsyncOperation, Location, the final
GET of the resource) through its public ``polling=`` extension point: a polling method whose
``run`` does nothing (begin) or checks once (resume).

The Azure SDK is imported lazily, like everywhere in this package.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import Any

__all__ = ["Pending", "begin", "resume"]


class Pending(Exception):
    """The operation was still running at the one status check; ``status`` says how far."""

    def __init__(self, status: str, retry_after: float | None) -> None:
        super().__init__(f"the operation is {status}")
        self.status = status
        self.retry_after = retry_after


@functools.cache
def _polling_classes() -> tuple[type[Any], type[Any]]:
    from azure.mgmt.core.polling.arm_polling import ARMPolling

    from cloudops_azure.errors import retry_after

    class BeginOnly(ARMPolling):
        """Reads the initial answer (and so the continuation token) and polls nothing."""

        def run(self) -> None:
            return None

    class CheckOnce(ARMPolling):
        """One status request; the final GET when that shows the operation ended."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # LROPoller calls run() in a thread of its own: carry the activity's context
            # variables (operation context, tracing span, activity meter) into it.
            self._context = contextvars.copy_context()

        def run(self) -> None:
            self._context.run(super().run)

        def _delay(self) -> None:
            # ARMPolling calls this between two status requests: stop after the first one.
            headers = getattr(getattr(self, "_pipeline_response", None), "http_response", None)
            raise Pending(self.status(), retry_after(getattr(headers, "headers", None)))

    return BeginOnly, CheckOnce


def begin(
    start: Callable[..., Any], *args: Any, etag: str | None = None, **kwargs: Any
) -> tuple[str, bool]:
    """Send a mutation with an SDK ``begin_*`` method; return (continuation token, finished).

    ``finished`` is true when the first answer already ended the operation (e.g. a DELETE of
    nothing answered 204). Nothing is polled: no background thread outlives the activity.
    ``etag``: ``"*"`` sends ``If-None-Match: *`` (create only if absent), another value
    ``If-Match`` (change only what was read); a mismatch is 412, retried after a new read.
    """
    if etag is not None:
        from azure.core import MatchConditions

        kwargs["match_condition"] = (
            MatchConditions.IfMissing if etag == "*" else MatchConditions.IfNotModified
        )
        kwargs["etag"] = None if etag == "*" else etag
    begin_only, _ = _polling_classes()
    poller = start(*args, polling=begin_only(0), **kwargs)
    token = str(poller.continuation_token())
    return token, bool(poller.polling_method().finished())


def resume(start: Callable[..., Any], *args: Any, token: str) -> Any:
    """Check once on the operation behind ``token``; its result, or :class:`Pending`.

    ``start`` is the same SDK ``begin_*`` method that began it (its positional arguments are
    required by the SDK but unused when resuming). A Failed or Canceled operation raises the
    SDK's ``HttpResponseError`` (classified by :func:`cloudops_azure.errors.classify`).
    """
    _, check_once = _polling_classes()
    poller = start(*args, continuation_token=token, polling=check_once(0))
    return poller.result()
