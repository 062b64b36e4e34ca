"""boto3 clients per worker account, region and service, built from ``cloudops.toml``.

Why here and cached: a request names an account, never a credential, so the worker resolves the
account's credential source (profile, role to assume, or boto3's default chain) and its optional
endpoint override (emulators) when an activity runs. Creating a boto3 client costs tens of
milliseconds and a session is not thread-safe, so clients are built under a lock and reused per
(account settings, region, service); boto3 clients themselves are thread-safe. Assumed-role
credentials are refreshed a few minutes before they expire.

botocore's own retries are kept small (``max_attempts``, default 2 tries in "standard" mode):
Temporal owns durable retrying, with backoff and history, across worker restarts.

Every client is instrumented through botocore's event system (no SDK method is wrapped): each
HTTP attempt is one span ``aws.{service}.{Operation}`` (e.g. ``aws.autoscaling.
CreateAutoScalingGroup``) and one ``cloudops_cloud_api_latency`` sample, begun on
``request-created`` and ended on ``response-received`` with the HTTP status and AWS error code
(or the connection error when there was no answer).

boto3 is imported inside functions: the plugin module imports this package's activities, and
``cloudops --help`` must not pay for boto3.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import cloudops
from cloudops.servergroups.translate import account_of
from cloudops_aws.models import AwsAccountSettings

__all__ = ["aws_client", "clear_cache", "instrument"]

#: Refresh assumed-role credentials this long before they expire.
REFRESH_MARGIN_SECONDS = 300.0
USER_AGENT = "cloudops-aws/0.1"


@dataclass(frozen=True)
class _Key:
    """What makes two clients interchangeable: same account settings, region and service."""

    account: str
    fingerprint: str
    region: str
    service: str


@dataclass
class _Session:
    session: Any  # boto3.Session
    expires_at: float | None  # monotonic deadline of assumed-role credentials
    generation: int = 0  # clients built from an older session are rebuilt


_lock = threading.Lock()
_sessions: dict[tuple[str, str], _Session] = {}
_clients: dict[_Key, tuple[int, Any]] = {}
_generation = [0]


def clear_cache() -> None:
    """Forget every cached session and client (tests, or after credentials were rotated)."""
    with _lock:
        _sessions.clear()
        _clients.clear()


def _fingerprint(account: cloudops.Account, settings: AwsAccountSettings) -> str:
    return f"{account.endpoint or ''}|{settings.model_dump_json()}"


def _config(settings: AwsAccountSettings) -> Any:
    from botocore.config import Config

    return Config(
        retries={"total_max_attempts": settings.max_attempts, "mode": "standard"},
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        user_agent_extra=USER_AGENT,
    )


def _base_session(settings: AwsAccountSettings) -> Any:
    import boto3

    if settings.profile:
        return boto3.Session(profile_name=settings.profile)
    return boto3.Session()


_CALL = "cloudops_cloud_call"  # key of the call in flight in botocore's request context


def instrument(client: Any) -> Any:
    """Make every API call of a boto3 ``client`` a cloud-API span and latency sample.

    Uses botocore's per-client events: ``request-created`` starts the call (once per attempt,
    retries included), ``response-received`` ends it; ``after-call``/``after-call-error`` end a
    call a failure left open. Registering twice is harmless (unique ids). Returns ``client``.
    """
    from cloudops.telemetry import begin_cloud_call

    service = client.meta.service_model.service_name

    def started(request: Any = None, operation_name: str = "", **kwargs: Any) -> None:
        context = getattr(request, "context", None)
        if isinstance(context, dict):
            _end(context)  # a previous attempt that never got to response-received
            context[_CALL] = begin_cloud_call("aws", service, operation_name)

    def received(
        context: Any = None,
        response_dict: Any = None,
        parsed_response: Any = None,
        exception: BaseException | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(context, dict):
            return
        if exception is not None or response_dict is None:
            _end(context, "no_response", error=exception)
            return
        status = int(response_dict.get("status_code") or 0)
        code = None
        if status >= 400 and isinstance(parsed_response, dict):
            code = (parsed_response.get("Error") or {}).get("Code")
        _end(context, "ok" if status < 400 else "error", status=status, code=code)

    def finished(
        context: Any = None,
        http_response: Any = None,
        exception: BaseException | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(context, dict):
            return
        status = getattr(http_response, "status_code", None)
        if exception is not None or status is None:
            _end(context, "no_response", error=exception)
        else:
            _end(context, "ok" if status < 400 else "error", status=status)

    events = client.meta.events
    events.register("request-created", started, unique_id="cloudops-call-begin")
    events.register("response-received", received, unique_id="cloudops-call-end")
    events.register("after-call", finished, unique_id="cloudops-call-after")
    events.register("after-call-error", finished, unique_id="cloudops-call-after-error")
    # Under an account budget, each request (retries too) waits for this process's turn.
    events.register_first("request-created", _paced, unique_id="cloudops-budget-pace")
    return client


def _paced(**kwargs: Any) -> None:
    from cloudops.budgets import pace_current

    pace_current()


def _end(
    context: dict[str, Any],
    outcome: str = "error",
    *,
    status: int | None = None,
    code: str | None = None,
    error: BaseException | None = None,
) -> None:
    call = context.pop(_CALL, None)
    if call is not None:
        call.end(outcome, http_status=status, error_code=code, error=error)


def _assume_role(
    base: Any, account: cloudops.Account, settings: AwsAccountSettings, region: str
) -> _Session:
    import boto3

    sts = instrument(
        base.client(
            "sts", region_name=region, endpoint_url=account.endpoint, config=_config(settings)
        )
    )
    params: dict[str, Any] = {
        "RoleArn": settings.role_arn,
        "RoleSessionName": settings.role_session_name,
        "DurationSeconds": settings.role_duration_seconds,
    }
    if settings.external_id:
        params["ExternalId"] = settings.external_id
    credentials = sts.assume_role(**params)["Credentials"]
    session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    lifetime = credentials["Expiration"].timestamp() - time.time()
    return _Session(session, time.monotonic() + max(0.0, lifetime - REFRESH_MARGIN_SECONDS))


def _session(account: cloudops.Account, settings: AwsAccountSettings, region: str) -> _Session:
    key = (account.name, _fingerprint(account, settings))
    entry = _sessions.get(key)
    if entry is not None and (entry.expires_at is None or time.monotonic() < entry.expires_at):
        return entry
    base = _base_session(settings)
    entry = (
        _assume_role(base, account, settings, region) if settings.role_arn else _Session(base, None)
    )
    _generation[0] += 1
    entry.generation = _generation[0]
    _sessions[key] = entry
    return entry


def aws_client(service: str, account: str, region: str) -> Any:
    """A boto3 client of ``service`` for the worker's account ``account`` in ``region``.

    Call it inside an activity run by a cloudops worker (it reads the account with
    :func:`cloudops.current_account`). Errors it raises (unknown profile, a refused
    AssumeRole) are botocore's: classify them like any other call.
    """
    found, settings = account_of(account, "aws", AwsAccountSettings)
    key = _Key(found.name, _fingerprint(found, settings), region, service)
    with _lock:
        entry = _session(found, settings, region)
        cached = _clients.get(key)
        if cached is not None and cached[0] == entry.generation:
            return cached[1]
        client = instrument(
            entry.session.client(
                service, region_name=region, endpoint_url=found.endpoint, config=_config(settings)
            )
        )
        _clients[key] = (entry.generation, client)
        return client
