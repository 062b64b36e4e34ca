"""The botocore error table: which AWS answers are retried and which become business errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

import cloudops
from cloudops_aws.errors import classify, retry_after


def client_error(
    code: str, message: str = "boom", status: int = 400, headers: dict[str, str] | None = None
) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {
            "HTTPStatusCode": status,
            "HTTPHeaders": headers or {},
            "RequestId": "req-1",
        },
    }
    return ClientError(response, "CreateAutoScalingGroup")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("Throttling", 400),
        ("RequestLimitExceeded", 503),
        ("ThrottlingException", 400),
        ("ServiceUnavailable", 503),
        ("InternalFailure", 500),
        ("InternalError", 500),
        ("ScalingActivityInProgress", 400),
        ("ResourceInUse", 400),
        ("SomethingNewAndOdd", 400),  # unknown: retried a bounded number of times
        ("InvalidParameterValue", 500),  # 5xx wins over the code
        ("SomethingNewAndOdd", 429),
    ],
)
def test_retryable(code: str, status: int) -> None:
    mapped = classify(client_error(code, status=status))
    assert isinstance(mapped, cloudops.RetryableError)
    assert code in mapped.message


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("ValidationError", "AutoScalingGroup name not found - x", "NOT_FOUND"),
        ("ValidationError", "Max bound, 1, must be >= desired", "INVALID_INPUT"),
        ("InvalidParameterValue", "bad", "INVALID_INPUT"),
        ("InvalidAMIID.Malformed", "bad", "INVALID_INPUT"),
        ("InvalidAMIID.NotFound", "no such image", "NOT_FOUND"),
        ("InvalidLaunchTemplateName.NotFoundException", "x", "NOT_FOUND"),
        ("TargetGroupNotFound", "One or more target groups not found", "NOT_FOUND"),
        ("LimitExceeded", "too many groups", "QUOTA_EXCEEDED"),
        ("InstanceLimitExceeded", "vCPU", "QUOTA_EXCEEDED"),
        ("VcpuLimitExceeded", "vCPU", "QUOTA_EXCEEDED"),
        ("AlreadyExists", "AutoScalingGroup by this name already exists", "CONFLICT"),
        ("InvalidLaunchTemplateName.AlreadyExistsException", "in use", "CONFLICT"),
        ("AccessDenied", "not authorized", "CLOUD_REJECTED"),
        ("UnauthorizedOperation", "not authorized", "CLOUD_REJECTED"),
        ("InvalidClientTokenId", "bad key", "CLOUD_REJECTED"),
    ],
)
def test_business(code: str, message: str, expected: str) -> None:
    mapped = classify(client_error(code, message))
    assert isinstance(mapped, cloudops.BusinessError)
    assert mapped.code == expected
    assert message in mapped.message
    assert mapped.error_details["aws_code"] == code
    assert mapped.error_details["aws_operation"] == "CreateAutoScalingGroup"
    assert mapped.non_retryable


def test_retry_after_headers() -> None:
    mapped = classify(client_error("Throttling", headers={"retry-after": "7"}))
    assert isinstance(mapped, cloudops.RetryableError)
    assert mapped.next_retry_delay == timedelta(seconds=7)
    assert retry_after({"x-amz-retry-after": "1500"}) == 1.5
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after({"Retry-After": "soon"}) is None
    assert retry_after({}) is None


def test_connection_problems_are_retryable() -> None:
    for exc in (
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
        ConnectTimeoutError(endpoint_url="http://127.0.0.1:9"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:9"),
    ):
        assert isinstance(classify(exc), cloudops.RetryableError), exc


def test_client_side_problems() -> None:
    invalid = classify(ParamValidationError(report="MinSize must be an integer"))
    assert isinstance(invalid, cloudops.BusinessError)
    assert invalid.code == "INVALID_INPUT"
    no_credentials = classify(NoCredentialsError())
    assert isinstance(no_credentials, cloudops.BusinessError)
    assert no_credentials.code == "CLOUD_REJECTED"


def test_other_exceptions_are_left_alone() -> None:
    bug = KeyError("x")
    assert classify(bug) is bug
    ours = cloudops.BusinessError("CONFLICT", "x")
    assert classify(ours) is ours
