"""The error table and the account rules, without a worker.

The exceptions are built the way google-api-core builds them from an answer (status, message,
``errors`` with their reasons), and requests' own exceptions as the REST transport raises them.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from google.api_core import exceptions as api
from google.auth.exceptions import DefaultCredentialsError
from pydantic import ValidationError

from cloudops import BusinessError, RetryableError
from cloudops.accounts import Account, AccountBook, using_accounts
from cloudops_gcp.clients import clear_cache, gcp_clients
from cloudops_gcp.errors import RETRY, classify, classify_operation_error, is_transient
from cloudops_gcp.models import GcpAccountSettings


def reason(name: str) -> list[dict[str, str]]:
    return [{"reason": name, "domain": "global", "message": name}]


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (api.TooManyRequests("slow down", errors=reason("rateLimitExceeded")), RETRY),
        (api.ServiceUnavailable("down"), RETRY),
        (api.InternalServerError("oops"), RETRY),
        (api.BadGateway("proxy"), RETRY),
        (api.GatewayTimeout("late"), RETRY),
        (api.Forbidden("rate", errors=reason("rateLimitExceeded")), RETRY),
        (api.Forbidden("quota", errors=reason("quotaExceeded")), "QUOTA_EXCEEDED"),
        (api.Forbidden("denied", errors=reason("forbidden")), "CLOUD_REJECTED"),
        (api.Unauthorized("who"), "CLOUD_REJECTED"),
        (api.NotFound("gone", errors=reason("notFound")), "NOT_FOUND"),
        (api.Conflict("there", errors=reason("alreadyExists")), "CONFLICT"),
        (api.Conflict("busy", errors=reason("resourceNotReady")), RETRY),
        (api.BadRequest("bad", errors=reason("invalid")), "INVALID_INPUT"),
        (api.BadRequest("used", errors=reason("resourceInUseByAnotherResource")), "CONFLICT"),
        (api.BadRequest("wait", errors=reason("resourceNotReady")), RETRY),
        (api.PreconditionFailed("stale", errors=reason("conditionNotMet")), RETRY),
        (requests.exceptions.ReadTimeout("read timed out"), RETRY),
        (requests.exceptions.ConnectionError("reset by peer"), RETRY),
        (requests.exceptions.ChunkedEncodingError("cut"), RETRY),
        (api.RetryError("gave up", cause=None), RETRY),
        (DefaultCredentialsError("no ADC"), "CLOUD_REJECTED"),
    ],
)
def test_error_table(error: Exception, outcome: str) -> None:
    mapped = classify(error)
    if outcome == RETRY:
        assert isinstance(mapped, RetryableError), mapped
    else:
        assert isinstance(mapped, BusinessError), mapped
        assert mapped.code == outcome


def test_business_errors_carry_gcp_details_and_retry_after() -> None:
    mapped = classify(api.NotFound("The resource 'x' was not found", errors=reason("notFound")))
    assert isinstance(mapped, BusinessError)
    assert mapped.error_details == {
        "http_status": 404,
        "gcp_reasons": ["notFound"],
        "gcp_message": "The resource 'x' was not found",
    }

    response = requests.Response()
    response.status_code = 429
    response.headers["Retry-After"] = "7"
    throttled = classify(api.TooManyRequests("slow", response=response))
    assert isinstance(throttled, RetryableError)
    assert throttled.next_retry_delay is not None
    assert throttled.next_retry_delay.total_seconds() == 7


def test_unrelated_and_cloudops_errors_pass_through() -> None:
    bug = ValueError("a bug")
    assert classify(bug) is bug
    already = BusinessError("NOT_FOUND", "x")
    assert classify(already) is already


def test_only_transient_reads_are_retried_in_the_call() -> None:
    assert is_transient(api.ServiceUnavailable("down"))
    assert is_transient(api.TooManyRequests("slow"))
    assert is_transient(requests.exceptions.ConnectionError("reset"))
    assert not is_transient(api.NotFound("gone"))
    assert not is_transient(api.PreconditionFailed("stale"))  # needs a fresh read first


@pytest.mark.parametrize(
    ("code", "status", "outcome"),
    [
        ("QUOTA_EXCEEDED", 403, "QUOTA_EXCEEDED"),
        ("ZONE_RESOURCE_POOL_EXHAUSTED", 503, "QUOTA_EXCEEDED"),
        ("RESOURCE_NOT_FOUND", 404, "NOT_FOUND"),
        ("RESOURCE_ALREADY_EXISTS", 409, "CONFLICT"),
        ("RESOURCE_IN_USE_BY_ANOTHER_RESOURCE", 400, "CONFLICT"),
        ("RESOURCE_OPERATION_RATE_EXCEEDED", 403, RETRY),
        ("INTERNAL_ERROR", 500, RETRY),
        ("INVALID_FIELD_VALUE", 400, "INVALID_INPUT"),
        ("PERMISSION_DENIED", 403, "CLOUD_REJECTED"),
        ("SOMETHING_NEW", 503, RETRY),  # unknown codes go by the HTTP status
        ("SOMETHING_NEW", 404, "NOT_FOUND"),
        ("SOMETHING_NEW", None, "CLOUD_REJECTED"),
    ],
)
def test_operation_error_table(code: str, status: int | None, outcome: str) -> None:
    assert classify_operation_error(code, status) == outcome


def book(endpoint: str | None, **settings: Any) -> AccountBook:
    account = Account(
        name="acct",
        provider="gcp",
        regions=[],
        endpoint=endpoint,
        settings=GcpAccountSettings(project="my-project", **settings),
    )
    return AccountBook({"acct": account})


def test_anonymous_credentials_need_an_endpoint_override() -> None:
    clear_cache()
    with using_accounts(book(None, credentials="anonymous")), pytest.raises(BusinessError) as err:
        gcp_clients("acct")
    assert err.value.code == "CLOUD_REJECTED"
    with using_accounts(book("http://127.0.0.1:1", credentials="anonymous")):
        clients = gcp_clients("acct")
        assert clients.project == "my-project"
        assert gcp_clients("acct") is clients  # cached per account
        client = clients.get("InstanceTemplatesClient")
        assert client.api_endpoint == "http://127.0.0.1:1"
        assert clients.get("ZoneOperationsClient").api_endpoint == "http://127.0.0.1:1"
    clear_cache()


def test_missing_adc_is_a_business_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    clear_cache()
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    with using_accounts(book(None)), pytest.raises(DefaultCredentialsError) as err:
        gcp_clients("acct")
    mapped = classify(err.value)
    assert isinstance(mapped, BusinessError) and mapped.code == "CLOUD_REJECTED"
    clear_cache()


def test_account_settings_are_validated() -> None:
    with pytest.raises(ValidationError):
        GcpAccountSettings(project="UPPER")
    with pytest.raises(ValidationError):
        GcpAccountSettings(
            project="my-project", credentials="anonymous", service_account_key_file="k"
        )
    with pytest.raises(ValidationError):
        GcpAccountSettings.model_validate({"project": "my-project", "profile": "aws-thing"})
