"""One table that sorts azure-core's exceptions into cloudops' retryable and business failures.

Why one table: whether an Azure error is worth retrying is a judgement made once per error code
and status, not at every call site. Throttling (429, honouring Retry-After), 408, 5xx answers,
dropped connections and timeouts become :class:`cloudops.RetryableError`; invalid requests,
exhausted quotas, missing required resources (404, ``InvalidResourceReference``) and
conflicts that are not ours (409) become :class:`cloudops.BusinessError` with a cloudops code
and ARM's own code and message in the details. An error the table does not know is retried a
bounded number of times and then reported as ``RETRIES_EXHAUSTED``.

A long-running operation that *ended* Failed or Canceled is never retryable here: polling it
again cannot change its outcome, so its ARM code decides the business code.

azure-core is imported inside :func:`classify` only, so importing this module stays cheap.
"""

from __future__ import annotations

from typing import Any

import cloudops
from cloudops import ErrorCode
from cloudops.servergroups.rules import RETRY, Rule, first_outcome
from cloudops.servergroups.translate import retry_after_seconds

__all__ = ["ERROR_TABLE", "Rule", "arm_error", "classify", "retry_after"]

#: Tried in order; the first matching row decides.
ERROR_TABLE: tuple[Rule, ...] = (
    # Throttling and a service in trouble: retry, whatever the code says.
    Rule(r".*", RETRY, statuses=r"408|429|5\d\d"),
    Rule(
        r"TooManyRequests|SubscriptionRequestsThrottled|TenantRequestsThrottled|"
        r"ResourceRequestsThrottled|ServerBusy|ServiceUnavailable|InternalServerError|"
        r"GatewayTimeout|RetryableError|AnotherOperationInProgress|ExpiredAuthenticationToken|"
        r"PreconditionFailed",  # 412: the etag we sent is stale; the rerun reads it again
        RETRY,
    ),
    # Compute's "not now": busy with another operation (the rerun waits for it), or an instance
    # id that is no longer active (the rerun reads the VMs again and counts it as gone).
    Rule(r"OperationNotAllowed", RETRY, message=r"being created|middle of operation"),
    Rule(r"InvalidParameter", RETRY, message=r"not an active Virtual Machine Scale Set VM"),
    # Quotas and limits.
    Rule(r"OperationNotAllowed", ErrorCode.QUOTA_EXCEEDED, message=r"quota|limit"),
    Rule(r".*QuotaExceeded.*|.*LimitExceeded.*|QuotaReached", ErrorCode.QUOTA_EXCEEDED),
    # Capacity: the region cannot give us these VMs now.
    Rule(
        r"SkuNotAvailable|AllocationFailed|ZonalAllocationFailed|"
        r"OverconstrainedAllocationRequest|OverconstrainedZonalAllocationRequest",
        ErrorCode.CLOUD_REJECTED,
    ),
    # Refused for who we are.
    Rule(
        r"AuthorizationFailed|AuthenticationFailed|InvalidAuthenticationToken.*|"
        r"LinkedAuthorizationFailed|SubscriptionNotFound|MissingSubscriptionRegistration|"
        r"ReadOnlyDisabledSubscription|DisallowedOperation|RequestDisallowedByPolicy|"
        r"ScopeLocked",
        ErrorCode.CLOUD_REJECTED,
    ),
    # Something the request needs does not exist.
    Rule(
        r"ResourceNotFound|ResourceGroupNotFound|NotFound|ParentResourceNotFound|"
        r"InvalidResourceReference|.*NotFound",
        ErrorCode.NOT_FOUND,
    ),
    Rule(r"InvalidParameter", ErrorCode.NOT_FOUND, message=r"not found|does not exist"),
    # Exists already in a shape we did not ask for, or is being changed by someone else.
    Rule(
        r"InvalidResourceLocation|PropertyChangeNotAllowed|OperationNotAllowed|Conflict|"
        r"ResourceExists.*|.*AlreadyExists|OperationPreempted|Canceled",
        ErrorCode.CONFLICT,
    ),
    # Bad requests.
    Rule(
        r"InvalidParameter|InvalidRequestContent|InvalidRequestFormat|InvalidResourceName|"
        r"LocationRequired|MissingApiVersionParameter|InvalidApiVersionParameter|BadRequest|"
        r"InvalidTag.*|Invalid.*|.*Invalid",
        ErrorCode.INVALID_INPUT,
    ),
)

#: When no code row matches, the status decides.
_BY_STATUS = {
    400: ErrorCode.INVALID_INPUT,
    401: ErrorCode.CLOUD_REJECTED,
    403: ErrorCode.CLOUD_REJECTED,
    404: ErrorCode.NOT_FOUND,
    409: ErrorCode.CONFLICT,
}


def lookup(code: str, message: str, status: int) -> str | None:
    """The outcome of the first matching row, or None."""
    return first_outcome(ERROR_TABLE, code, message, status)


def retry_after(headers: Any) -> float | None:
    """Seconds to wait, from ``Retry-After`` (seconds or a date) or ``retry-after-ms``."""
    return retry_after_seconds(headers, ("retry-after-ms", "x-ms-retry-after-ms"))


def arm_error(exc: BaseException) -> tuple[str, str, int]:
    """(ARM code, message, HTTP status) of an azure-core HttpResponseError (or blanks)."""
    error = getattr(exc, "error", None)
    code = str(getattr(error, "code", None) or "")
    message = str(getattr(error, "message", None) or "")
    status = int(getattr(exc, "status_code", None) or 0)
    if not message:
        message = str(getattr(exc, "message", None) or exc)
    return code, message, status


def _details(exc: BaseException, code: str, message: str, status: int) -> dict[str, Any]:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    request = getattr(response, "request", None)
    details: dict[str, Any] = {
        "azure_code": code or None,
        "azure_message": message,
        "http_status": status or None,
        "azure_request_id": headers.get("x-ms-request-id") if headers else None,
    }
    if request is not None:
        details["http_method"] = getattr(request, "method", None)
    target = getattr(getattr(exc, "error", None), "target", None)
    if target:
        details["azure_target"] = str(target)
    return details


def classify(exc: BaseException) -> BaseException:
    """Map an exception raised by the Azure SDK onto cloudops' error taxonomy.

    Returns a :class:`cloudops.RetryableError` or :class:`cloudops.BusinessError` to raise in
    its place (``raise classify(err) from err``); cloudops' own errors and exceptions that are not
    azure-core's are returned unchanged.
    """
    if isinstance(exc, cloudops.BusinessError | cloudops.RetryableError | cloudops.NotReady):
        return exc
    from azure.core.exceptions import (
        AzureError,
        ClientAuthenticationError,
        DecodeError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )
    from azure.core.polling.base_polling import OperationFailed

    if isinstance(exc, ServiceRequestError) and "non-TLS" in str(exc):
        # azure-core refuses to send a bearer token over http://: a configuration error that
        # no retry can fix (a real credential aimed at an emulator or proxy endpoint).
        return cloudops.BusinessError(
            ErrorCode.CLOUD_REJECTED,
            "the account sends an Azure token to an http:// endpoint, which azure-core refuses: "
            'use an https:// endpoint, or credential = "emulator" for a local emulator',
            {"azure_error": type(exc).__name__},
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError | DecodeError):
        return cloudops.RetryableError(
            f"Azure could not be reached or answered badly: {exc}", cause=type(exc).__name__
        )
    if isinstance(exc, ClientAuthenticationError) and getattr(exc, "response", None) is None:
        return cloudops.BusinessError(
            ErrorCode.CLOUD_REJECTED,
            f"the worker could not get an Azure token: {exc}",
            {"azure_error": type(exc).__name__},
        )
    if isinstance(exc, HttpResponseError):
        code, message, status = arm_error(exc)
        details = _details(exc, code, message, status)
        if isinstance(exc.inner_exception, OperationFailed) and 200 <= status < 300:
            # The long-running operation ended Failed or Canceled: polling again cannot help.
            code = code or "Canceled"
            outcome = lookup(code, message, 0)
            if outcome in (None, RETRY):
                outcome = ErrorCode.CLOUD_REJECTED
            details["azure_code"] = code
            return cloudops.BusinessError(
                outcome, f"the Azure operation failed: {code}: {message}", details
            )
        outcome = lookup(code, message, status) or _BY_STATUS.get(status)
        if outcome is None and 400 <= status < 500:
            outcome = ErrorCode.CLOUD_REJECTED
        if outcome is None or outcome == RETRY:
            headers = getattr(exc.response, "headers", None)
            return cloudops.RetryableError(
                f"Azure answered {status or 'an error'}, will retry: {code or 'error'}: {message}",
                retry_after=retry_after(headers),
                cause=code or str(status),
            )
        return cloudops.BusinessError(
            outcome, f"Azure refused the request: {code or status}: {message}", details
        )
    if isinstance(exc, AzureError):
        return cloudops.RetryableError(f"Azure client error: {exc}", cause=type(exc).__name__)
    return exc
