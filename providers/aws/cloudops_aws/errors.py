"""One table that sorts botocore's exceptions into cloudops' retryable and business failures.

Why one table: whether an AWS error is worth retrying is a judgement made once per error code,
not at every call site. Throttling, 5xx answers, dropped connections and timeouts become
:class:`cloudops.RetryableError` (Temporal retries them with backoff, honouring Retry-After);
invalid requests, exhausted limits, missing or conflicting resources become
:class:`cloudops.BusinessError` with a cloudops code and AWS's own message. An error code the
table does not know is retried a bounded number of times (the operation's retry policy) and then
reported as ``RETRIES_EXHAUSTED`` with the original error attached.

botocore is imported inside :func:`classify` only, so importing this module stays cheap.
"""

from __future__ import annotations

from typing import Any

import cloudops
from cloudops import ErrorCode
from cloudops.servergroups.rules import RETRY, Rule, first_outcome
from cloudops.servergroups.translate import retry_after_seconds

__all__ = ["ERROR_TABLE", "Rule", "classify", "retry_after"]

#: Tried in order; the first matching row decides. Exact codes come before patterns.
ERROR_TABLE: tuple[Rule, ...] = (
    # Throttling: every service has its own spelling.
    Rule(
        r"Throttling|ThrottlingException|ThrottledException|RequestLimitExceeded|"
        r"TooManyRequestsException|RequestThrottled|RequestThrottledException|SlowDown|"
        r"EC2ThrottledException|BandwidthLimitExceeded|PriorRequestNotComplete|"
        r"ProvisionedThroughputExceededException|TransactionInProgressException",
        RETRY,
    ),
    # The service is unwell: retry.
    Rule(
        r"ServiceUnavailable|ServiceUnavailableException|Unavailable|InternalError|"
        r"InternalFailure|InternalServerError|InternalServiceError|ServerError|"
        r"RequestTimeout|RequestTimeoutException|RequestExpired|ExpiredToken|"
        r"ExpiredTokenException|IDPCommunicationError",
        RETRY,
    ),
    # Transient conflicts with an activity already running on the resource: retry.
    Rule(
        r"ScalingActivityInProgress|ScalingActivityInProgressFault|ResourceInUse|"
        r"ResourceInUseFault|ResourceContention|ResourceContentionFault|"
        r"IncorrectInstanceState|InsufficientInstanceCapacity|ConcurrentModification|"
        r"OperationNotPermittedException",
        RETRY,
    ),
    # Auto Scaling says "not found" with a ValidationError.
    Rule(r"ValidationError", ErrorCode.NOT_FOUND, message=r"not found|does not exist"),
    # Already there and not ours.
    Rule(
        r"AlreadyExists|AlreadyExistsFault|AlreadyExistsException|.*\.AlreadyExistsException|"
        r"DuplicateTargetGroupName|DuplicateLoadBalancerName|IdempotentParameterMismatch|"
        r"InvalidGroup\.Duplicate|InvalidKeyPair\.Duplicate|EntityAlreadyExists",
        ErrorCode.CONFLICT,
    ),
    # Limits and quotas.
    Rule(
        r"LimitExceeded|LimitExceededException|LimitExceededFault|InstanceLimitExceeded|"
        r"VcpuLimitExceeded|MaxSpotInstanceCountExceeded|TooManyTargetGroups|TooManyTargets|"
        r"TooManyLoadBalancers|TooManyRegistrationsForTargetId|ServiceQuotaExceededException|"
        r".*LimitExceeded.*|.*QuotaExceeded.*",
        ErrorCode.QUOTA_EXCEEDED,
    ),
    # Refused for who we are: the worker's credentials or permissions
    # (before the broad "Invalid.*" row below).
    Rule(
        r"AccessDenied|AccessDeniedException|UnauthorizedOperation|AuthFailure|"
        r"InvalidClientTokenId|SignatureDoesNotMatch|UnrecognizedClientException|"
        r"OptInRequired|Blocked|PendingVerification|MissingAuthenticationToken",
        ErrorCode.CLOUD_REJECTED,
    ),
    # Something the request needs does not exist.
    Rule(
        r"TargetGroupNotFound|LoadBalancerNotFound|NoSuchEntity|InvalidTarget|"
        r".*\.NotFound|.*\.NotFoundException|.*NotFound|.*NotFoundException|"
        r"InvalidAMIID\.Unavailable",
        ErrorCode.NOT_FOUND,
    ),
    # Bad requests.
    Rule(
        r"ValidationError|ValidationException|InvalidParameter|InvalidParameterValue|"
        r"InvalidParameterCombination|InvalidParameterException|MissingParameter|"
        r"InvalidInput|InvalidQueryParameter|MalformedQueryString|InvalidAction|"
        r"InvalidConfigurationRequest|InvalidRequest|UnsupportedOperation|"
        r"Unsupported|.*\.Malformed|.*\.MalformedException|Invalid.*",
        ErrorCode.INVALID_INPUT,
    ),
)

# Exceptions raised before or instead of an AWS answer, by botocore class name.
_RETRYABLE_BOTOCORE = (
    "ConnectionError",  # EndpointConnectionError, ConnectTimeoutError, SSLError, proxy errors
    "HTTPClientError",  # ConnectionClosedError, ReadTimeoutError, ResponseStreamingError
    "IncompleteReadError",
    "ResponseParserError",  # an HTML error page instead of XML/JSON (a proxy or load balancer)
    "CredentialRetrievalError",
    "MetadataRetrievalError",
    "TokenRetrievalError",
    "CapacityNotAvailableError",
)
_WORKER_CONFIG_BOTOCORE = (
    "NoCredentialsError",
    "PartialCredentialsError",
    "ProfileNotFound",
    "NoRegionError",
    "UnknownServiceError",
    "ConfigParseError",
)


def retry_after(headers: dict[str, Any]) -> float | None:
    """Seconds to wait before retrying, from ``Retry-After`` or ``x-amz-retry-after`` (ms)."""
    return retry_after_seconds(headers, ("x-amz-retry-after",))


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def classify(exc: BaseException) -> BaseException:
    """Map an exception raised by boto3/botocore onto cloudops' error taxonomy.

    Returns a :class:`cloudops.RetryableError` or :class:`cloudops.BusinessError` to raise in its
    place (``raise classify(err) from err``); cloudops' own errors and exceptions that are not
    botocore's are returned unchanged.
    """
    if isinstance(exc, cloudops.BusinessError | cloudops.RetryableError | cloudops.NotReady):
        return exc
    from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
    from botocore.parsers import ResponseParserError

    if isinstance(exc, ClientError):
        return _classify_client_error(exc)
    if isinstance(exc, ParamValidationError):
        return cloudops.BusinessError(
            ErrorCode.INVALID_INPUT,
            f"AWS request is invalid: {exc}",
            {"aws_error": type(exc).__name__},
        )
    names = _names(exc)
    if isinstance(exc, BotoCoreError | ResponseParserError) and names & set(_RETRYABLE_BOTOCORE):
        return cloudops.RetryableError(
            f"AWS could not be reached or answered badly: {exc}", cause=type(exc).__name__
        )
    if names & set(_WORKER_CONFIG_BOTOCORE):
        return cloudops.BusinessError(
            ErrorCode.CLOUD_REJECTED,
            f"the worker's AWS configuration is incomplete: {exc}",
            {"aws_error": type(exc).__name__},
        )
    if isinstance(exc, BotoCoreError):
        return cloudops.RetryableError(f"AWS client error: {exc}", cause=type(exc).__name__)
    return exc


def _classify_client_error(exc: Any) -> BaseException:
    response: dict[str, Any] = exc.response or {}
    error = response.get("Error") or {}
    meta = response.get("ResponseMetadata") or {}
    code = str(error.get("Code") or "Unknown")
    message = str(error.get("Message") or exc)
    status = int(meta.get("HTTPStatusCode") or 0)
    operation = getattr(exc, "operation_name", None) or "request"
    details = {
        "aws_code": code,
        "aws_message": message,
        "aws_operation": operation,
        "http_status": status,
        "aws_request_id": meta.get("RequestId"),
    }
    # An unknown code is retried (a bounded number of times) in case it is a transient state the
    # table does not know; 429 and 5xx answers are the server's problem whatever the code says.
    outcome = first_outcome(ERROR_TABLE, code, message) or RETRY
    if status == 429 or status >= 500:
        outcome = RETRY
    if outcome == RETRY:
        return cloudops.RetryableError(
            f"AWS {operation} failed, will retry: {code}: {message}",
            retry_after=retry_after(meta.get("HTTPHeaders") or {}),
            cause=code,
        )
    return cloudops.BusinessError(outcome, f"AWS {operation} failed: {code}: {message}", details)
