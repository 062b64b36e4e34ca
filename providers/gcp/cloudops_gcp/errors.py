"""One table that sorts Compute Engine errors into cloudops' retryable and business failures.

Why one table: whether a GCP error is worth retrying is decided once per status and reason,
not at every call site. Two kinds of errors reach us:

- a synchronous answer, raised by google-api-core as ``GoogleAPICallError`` (by HTTP status:
  ``NotFound``, ``Conflict``, ``TooManyRequests``...) with the body's ``errors[].reason``; or a
  raw ``requests`` exception (timeouts, resets), which the REST transport does not wrap;
- an Operation that ends DONE with ``error.errors[].code`` (``QUOTA_EXCEEDED``,
  ``RESOURCE_NOT_FOUND``...), classified by :func:`classify_operation_error`.

Throttling (429, 403 ``rateLimitExceeded``), 5xx, timeouts and resets are retried by Temporal
(honouring Retry-After); invalid requests (400), quota (403 ``quotaExceeded``), missing
resources (404) and conflicts (409) are business failures. Anything else is retried a bounded
number of times and then reported as ``RETRIES_EXHAUSTED`` with the original error attached.

google-api-core and requests are imported inside the functions, so importing this module (the
plugin module does) stays cheap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import cloudops
from cloudops import ErrorCode
from cloudops.servergroups.rules import RETRY

__all__ = [
    "ERROR_TABLE",
    "OPERATION_ERROR_TABLE",
    "RETRY",
    "Rule",
    "classify",
    "classify_operation_error",
    "is_transient",
]


@dataclass(frozen=True)
class Rule:
    """One row: an HTTP status (None: any) and a reason pattern (None: any), and the outcome."""

    status: int | None
    reasons: str | None
    outcome: str

    def matches(self, status: int, reasons: list[str]) -> bool:
        """Whether an answer with this status and these reasons falls under the rule."""
        if self.status is not None and self.status != status:
            return False
        if self.reasons is None:
            return True
        return any(re.fullmatch(self.reasons, reason) for reason in reasons)


#: Synchronous answers, tried in order; the first matching row decides.
ERROR_TABLE: tuple[Rule, ...] = (
    Rule(403, r"rateLimitExceeded|userRateLimitExceeded|backendError", RETRY),
    Rule(403, r"quotaExceeded|QUOTA_EXCEEDED|limitExceeded|dailyLimitExceeded", "QUOTA_EXCEEDED"),
    Rule(403, None, ErrorCode.CLOUD_REJECTED),  # permissions, billing, API disabled
    Rule(401, None, ErrorCode.CLOUD_REJECTED),
    Rule(400, r"resourceNotReady|resourceInUseByAnotherResourceTransient", RETRY),
    Rule(400, r"resourceInUseByAnotherResource", ErrorCode.CONFLICT),
    Rule(400, None, ErrorCode.INVALID_INPUT),
    Rule(404, None, ErrorCode.NOT_FOUND),
    Rule(409, r"resourceNotReady", RETRY),
    Rule(409, None, ErrorCode.CONFLICT),
    Rule(412, None, RETRY),  # a stale fingerprint: read again and retry
    Rule(408, None, RETRY),
    Rule(429, None, RETRY),
    Rule(None, None, RETRY),  # 5xx and anything unknown: bounded retries
)

#: Codes of a DONE Operation's ``error.errors[].code``, tried in order; unknown codes fall back
#: to the operation's ``httpErrorStatusCode`` through :data:`ERROR_TABLE`.
OPERATION_ERROR_TABLE: tuple[tuple[str, str], ...] = (
    (
        r"RESOURCE_OPERATION_RATE_EXCEEDED|RATE_LIMIT_EXCEEDED|RESOURCE_NOT_READY|"
        r"INTERNAL_ERROR|SERVICE_UNAVAILABLE|TIMEOUT|UNAVAILABLE|CONDITION_NOT_MET",
        RETRY,
    ),
    (r"QUOTA_EXCEEDED|.*_QUOTA_EXCEEDED|ZONE_RESOURCE_POOL_EXHAUSTED.*", "QUOTA_EXCEEDED"),
    (r"RESOURCE_NOT_FOUND|NOT_FOUND", ErrorCode.NOT_FOUND),
    (r"RESOURCE_ALREADY_EXISTS|ALREADY_EXISTS|RESOURCE_IN_USE_BY_ANOTHER_RESOURCE", "CONFLICT"),
    (r"PERMISSION_DENIED|FORBIDDEN|.*_NOT_AUTHORIZED", ErrorCode.CLOUD_REJECTED),
    (r"INVALID_.*|REQUIRED_FIELD_MISSING|BAD_REQUEST|UNSUPPORTED_OPERATION", "INVALID_INPUT"),
)


def _outcome(status: int, reasons: list[str]) -> str:
    for rule in ERROR_TABLE:
        if rule.matches(status, reasons):
            return str(rule.outcome)
    return RETRY


def classify_operation_error(code: str, http_status: int | None) -> str:
    """``RETRY`` or the cloudops code for a failed Operation's error code."""
    for pattern, outcome in OPERATION_ERROR_TABLE:
        if re.fullmatch(pattern, code):
            return str(outcome)
    if http_status:
        return _outcome(http_status, [])
    return str(ErrorCode.CLOUD_REJECTED)


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _reasons(exc: Any) -> list[str]:
    reasons = [str(e.get("reason")) for e in getattr(exc, "errors", None) or [] if e]
    if getattr(exc, "reason", None):
        reasons.append(str(exc.reason))
    return [r for r in reasons if r and r != "None"]


def is_transient(exc: BaseException) -> bool:
    """Whether a *read* may be retried at once inside the call (429, 5xx, reset, timeout).

    Why separate from :func:`classify`: reads are cheap and side-effect free, so a few quick
    in-call retries save a Temporal retry; mutations are never retried in the call.
    """
    from google.api_core import exceptions as api
    from requests import exceptions as http

    if isinstance(exc, http.ConnectionError | http.Timeout | http.ChunkedEncodingError):
        return True
    if isinstance(exc, api.GoogleAPICallError) and exc.code is not None:
        return _outcome(int(exc.code), _reasons(exc)) == RETRY and int(exc.code) != 412
    return isinstance(exc, api.RetryError)


def classify(exc: BaseException) -> BaseException:
    """Map an exception raised by google-cloud-compute (or requests) onto the taxonomy.

    Returns a :class:`cloudops.RetryableError` or :class:`cloudops.BusinessError` to raise in its
    place (``raise classify(err) from err``); cloudops' own errors and unrelated exceptions are
    returned unchanged.
    """
    if isinstance(exc, cloudops.BusinessError | cloudops.RetryableError | cloudops.NotReady):
        return exc
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth
    from requests import exceptions as http

    if isinstance(exc, api.GoogleAPICallError):
        status = int(exc.code or 0)
        reasons = _reasons(exc)
        outcome = _outcome(status, reasons)
        message = getattr(exc, "message", None) or str(exc)
        if outcome == RETRY:
            return cloudops.RetryableError(
                f"GCP answered {status} {', '.join(reasons)}, will retry: {message}",
                retry_after=_retry_after(exc),
                cause=type(exc).__name__,
            )
        details = {"http_status": status, "gcp_reasons": reasons, "gcp_message": message}
        return cloudops.BusinessError(outcome, f"GCP refused the request: {message}", details)
    if isinstance(exc, api.RetryError):
        return cloudops.RetryableError(f"GCP kept failing: {exc}", cause=type(exc).__name__)
    if isinstance(exc, http.ConnectionError | http.Timeout | http.ChunkedEncodingError):
        return cloudops.RetryableError(
            f"GCP could not be reached or the call timed out: {exc}", cause=type(exc).__name__
        )
    if isinstance(exc, auth.DefaultCredentialsError | auth.RefreshError):
        return cloudops.BusinessError(
            ErrorCode.CLOUD_REJECTED,
            f"the worker has no usable GCP credentials: {exc}",
            {"gcp_error": type(exc).__name__},
        )
    if isinstance(exc, auth.TransportError):
        return cloudops.RetryableError(f"GCP credentials refresh failed: {exc}", cause="auth")
    return exc
