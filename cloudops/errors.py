"""The error taxonomy: what Temporal should retry, and what must become a business failure.

Activities raise :class:`RetryableError` for anything that may succeed later (throttling, 5xx,
timeouts, connection resets) and :class:`BusinessError` for anything that will not (validation,
quota, not found, conflict). Both are Temporal ``ApplicationError`` subclasses, so they cross the
activity boundary with their type intact and the runner reads the code back from the failure.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

__all__ = [
    "BusinessError",
    "ErrorCode",
    "NotReady",
    "RetryableError",
]


class ErrorCode(StrEnum):
    """Codes an :class:`~cloudops.models.OperationError` carries; plugins may add their own."""

    INVALID_INPUT = "INVALID_INPUT"
    UNKNOWN_OPERATION = "UNKNOWN_OPERATION"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    CLOUD_REJECTED = "CLOUD_REJECTED"
    RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"
    TIMED_OUT = "TIMED_OUT"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    #: The caller's identity is missing, expired, forged or not meant for cloudops.
    UNAUTHENTICATED = "UNAUTHENTICATED"
    #: The verified caller may not run this operation on this account and application.
    PERMISSION_DENIED = "PERMISSION_DENIED"
    INTERNAL = "INTERNAL"


#: The Temporal failure ``type`` of a retryable error; the runner uses it to tell "retries ran out"
#: apart from a business failure.
RETRYABLE_TYPE = "Retryable"
#: The failure ``type`` used by :class:`NotReady` (retry-as-poll).
NOT_READY_TYPE = "NotReady"


class RetryableError(ApplicationError):
    """A failure that may go away: Temporal retries the activity with backoff.

    ``retry_after`` carries a server's Retry-After so the next attempt waits at least that long.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: timedelta | float | None = None,
        cause: str | None = None,
    ) -> None:
        if isinstance(retry_after, int | float):
            retry_after = timedelta(seconds=retry_after)
        details: tuple[Any, ...] = ({"cause": cause},) if cause else ()
        super().__init__(message, *details, type=RETRYABLE_TYPE, next_retry_delay=retry_after)


class NotReady(ApplicationError):
    """Raised by a polling activity while the awaited state is not reached yet.

    It is retried like any failure but logged as benign, so a poll of many attempts neither grows
    the workflow history nor fills logs and metrics with errors.
    """

    def __init__(self, message: str, *, retry_after: timedelta | float | None = None) -> None:
        if isinstance(retry_after, int | float):
            retry_after = timedelta(seconds=retry_after)
        super().__init__(
            message,
            type=NOT_READY_TYPE,
            next_retry_delay=retry_after,
            category=ApplicationErrorCategory.BENIGN,
        )


class BusinessError(ApplicationError):
    """A failure no retry will fix; it ends the operation with ``WorkflowResult.ok == False``.

    Raise it from an activity or from operation code. ``code`` becomes ``OperationError.code``.
    """

    def __init__(
        self, code: str | ErrorCode, message: str, details: dict[str, Any] | None = None
    ) -> None:
        code = str(code)
        super().__init__(message, details or {}, type=code, non_retryable=True)
        self.code = code
        self.error_details: dict[str, Any] = dict(details or {})

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the exception picklable (multiprocessing activity executors, pytest-xdist).
        return (type(self), (self.code, self.message, self.error_details))
