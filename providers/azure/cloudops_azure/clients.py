"""ComputeManagementClient per worker account, built from ``cloudops.toml``.

Why here and cached: a request names an account, never a credential, so the worker resolves the
account's subscription, credential source and optional endpoint override (the emulator) when an
activity runs. A client holds a connection pool and a token cache, so it is built once per
account settings and reused (Azure clients are thread-safe).

The SDK's own retries are kept small (``retry_total``, default 1 retry) and its timeouts short:
Temporal owns durable retrying, with backoff and history, across worker restarts.

Every client carries a telemetry policy (azure-core's ``per_retry_policies`` extension point):
each HTTP attempt, long-running-operation polls included, is one span ``azure.{service}.{api}``
and one ``cloudops_cloud_api_latency`` sample, named from the ARM path by :func:`arm_call_name`
(``PUT .../virtualMachineScaleSets/web-v000`` is ``virtualMachineScaleSets.createOrUpdate``).

The Azure SDK is imported inside functions: the plugin module imports this package's
activities, and ``cloudops --help`` must not pay for azure-mgmt-compute (about a second).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cloudops
from cloudops import BusinessError, ErrorCode
from cloudops.servergroups.translate import account_of
from cloudops_azure.models import AzureAccountSettings

if TYPE_CHECKING:
    from azure.mgmt.compute import ComputeManagementClient

__all__ = [
    "account_settings",
    "arm_call_name",
    "clear_cache",
    "compute_client",
    "monitor_client",
    "network_client",
    "resource_group_of",
    "telemetry_policy",
]

USER_AGENT = "cloudops-azure/0.1"
#: The bearer token the ``emulator`` credential sends (plain HTTP, local emulators only).
EMULATOR_TOKEN = "cloudops-emulator-test-token"

_lock = threading.Lock()
_clients: dict[tuple[str, str, str], Any] = {}


def clear_cache() -> None:
    """Forget every cached client (tests, or after a secret was rotated)."""
    with _lock:
        _clients.clear()


def account_settings(name: str) -> AzureAccountSettings:
    """The validated Azure settings of the worker's account ``name``."""
    return account_of(name, "azure", AzureAccountSettings)[1]


def resource_group_of(account: str, override: str | None) -> str:
    """The resource group a call acts in: the input's, else the account's default."""
    return override or account_settings(account).resource_group


class _EmulatorCredential:
    """A TokenCredential with a fixed token: the emulator accepts any bearer token."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(EMULATOR_TOKEN, int(time.time()) + 3600)


def _static_authorization() -> Any:
    """A pipeline policy that sets the test bearer token.

    Why: azure-core's bearer token policy refuses to send a token over plain http, and the
    emulator is plain http; this policy replaces it for ``credential = "emulator"`` only.
    """
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    class StaticAuthorization(SansIOHTTPPolicy[Any, Any]):
        def on_request(self, request: Any) -> None:
            request.http_request.headers["Authorization"] = f"Bearer {EMULATOR_TOKEN}"

    return StaticAuthorization()


#: What an HTTP method does to one ARM resource (a path ending in a resource name).
_ITEM_VERBS = {
    "GET": "get",
    "PUT": "createOrUpdate",
    "PATCH": "update",
    "DELETE": "delete",
    "HEAD": "checkExistence",
}
#: POST actions whose name alone would be ambiguous (``POST .../delete`` deletes instances).
_ACTIONS = {"delete": "deleteInstances"}
#: Path scopes that say where a resource lives, not what it is.
_SCOPES = ("subscriptions", "resourcegroups", "locations")


def arm_call_name(method: str, url: str) -> tuple[str, str]:
    """(service, api) of an ARM request, for span names and metric labels.

    ``service`` is the resource type path, without the namespace and the subscription,
    resource group or location scope (``virtualMachineScaleSets``,
    ``virtualMachineScaleSets/virtualMachines``, ``operations``); ``api`` is ``get``,
    ``createOrUpdate``, ``update``, ``delete`` on a resource, ``list`` on a collection, or the
    action name of a ``POST`` (``manualupgrade``; ``deleteInstances`` for ``POST .../delete``).
    """
    from urllib.parse import urlsplit

    segments = [s for s in urlsplit(url).path.split("/") if s]
    types: list[str] = []
    tail: str | None = None
    i = 0
    while i < len(segments):
        if segments[i].lower() == "providers" and i + 1 < len(segments):
            i += 2  # providers/Microsoft.Compute: the namespace
            continue
        if i + 1 < len(segments):
            types.append(segments[i])
            i += 2
        else:
            tail = segments[i]
            i += 1
    method = method.upper()
    if tail is not None and method == "POST":
        api = _ACTIONS.get(tail.lower(), tail)
    elif tail is not None:
        types.append(tail)
        api = "list" if method == "GET" else method.lower()
    else:
        api = _ITEM_VERBS.get(method, method.lower())
    while len(types) > 1 and types[0].lower() in _SCOPES:
        types.pop(0)
    return "/".join(types) or "arm", api


_CALL = "cloudops_cloud_call"  # key of the call in flight in the pipeline context


def _end(context: Any, outcome: str, **details: Any) -> None:
    call = context.pop(_CALL, None) if context is not None else None
    if call is not None:
        call.end(outcome, **details)


def _error_code(response: Any) -> str | None:
    """ARM's error code of an error answer: the header, else the body's ``error.code``."""
    code = response.headers.get("x-ms-error-code")
    if code:
        return str(code)
    try:
        error = json.loads(response.text()).get("error") or {}
        return str(error["code"]) if error.get("code") else None
    except Exception:  # no JSON body, or a streamed one not read
        return None


def telemetry_policy() -> Any:
    """An azure-core policy making every HTTP attempt a cloud-API span and latency sample.

    Under an account budget (:mod:`cloudops.budgets`), each attempt first waits for this
    process's turn.

    Pass it as ``per_retry_policies=[telemetry_policy()]`` to an Azure management client.
    """
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    from cloudops.budgets import pace_current
    from cloudops.telemetry import begin_cloud_call

    class CloudApiTelemetry(SansIOHTTPPolicy[Any, Any]):
        def on_request(self, request: Any) -> None:
            pace_current()  # under an account budget: this process's turn (retries too)
            http = request.http_request
            service, api = arm_call_name(http.method, http.url)
            _end(request.context, "no_response")  # an attempt that never ended
            request.context[_CALL] = begin_cloud_call("azure", service, api)

        def on_response(self, request: Any, response: Any) -> None:
            status = int(response.http_response.status_code)
            if status < 400:
                _end(request.context, "ok", http_status=status)
            else:
                code = _error_code(response.http_response)
                _end(request.context, "error", http_status=status, error_code=code)

        def on_exception(self, request: Any) -> None:
            _end(request.context, "no_response", error=sys.exc_info()[1])

    return CloudApiTelemetry()


def _secret(settings: AzureAccountSettings) -> str:
    if settings.client_secret_env:
        value = os.environ.get(settings.client_secret_env)
        source = f"environment variable {settings.client_secret_env}"
    else:
        assert settings.client_secret_file is not None
        path = Path(settings.client_secret_file).expanduser()
        value = path.read_text().strip() if path.is_file() else None
        source = f"file {path}"
    if not value:
        raise BusinessError(
            ErrorCode.CLOUD_REJECTED,
            f"the service principal secret is missing: {source} is unset or empty on the worker",
        )
    return value


def _credential(account: cloudops.Account, settings: AzureAccountSettings) -> tuple[Any, Any]:
    """(credential, authentication policy or None) for an account."""
    if settings.credential == "emulator":
        if not (account.endpoint or "").startswith("http://"):
            raise BusinessError(
                ErrorCode.CLOUD_REJECTED,
                f"account {account.name!r} uses the test-only emulator credential, which needs "
                "an http:// endpoint of a local emulator",
            )
        return _EmulatorCredential(), _static_authorization()
    if settings.credential == "service_principal":
        from azure.identity import ClientSecretCredential

        assert settings.tenant_id is not None and settings.client_id is not None
        return ClientSecretCredential(
            settings.tenant_id, settings.client_id, _secret(settings)
        ), None
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(), None


def compute_client(account: str) -> ComputeManagementClient:
    """A ComputeManagementClient for the worker's account ``account``.

    Call it inside an activity run by a cloudops worker (it reads the account with
    :func:`cloudops.current_account`).
    """
    client: ComputeManagementClient = _management_client(
        account, "azure.mgmt.compute", "ComputeManagementClient"
    )
    return client


def network_client(account: str) -> Any:
    """A NetworkManagementClient (azure-mgmt-network) for the worker's account ``account``."""
    return _management_client(account, "azure.mgmt.network", "NetworkManagementClient")


def monitor_client(account: str) -> Any:
    """A MonitorManagementClient (autoscale settings) for the worker's account ``account``."""
    return _management_client(account, "azure.mgmt.monitor", "MonitorManagementClient")


def _management_client(account: str, module: str, name: str) -> Any:
    found, settings = account_of(account, "azure", AzureAccountSettings)
    key = (found.name, f"{found.endpoint or ''}|{settings.model_dump_json()}", name)
    with _lock:
        cached = _clients.get(key)
        if cached is not None:
            return cached
        cls = getattr(importlib.import_module(module), name)

        credential, policy = _credential(found, settings)
        options: dict[str, Any] = {
            "polling_interval": settings.polling_interval_seconds,
            "retry_total": settings.retry_total,
            "retry_backoff_factor": 0.5,
            "retry_backoff_max": 8,
            "connection_timeout": settings.connection_timeout_seconds,
            "read_timeout": settings.read_timeout_seconds,
            "user_agent": USER_AGENT,
            "per_retry_policies": [telemetry_policy()],
        }
        if policy is not None:
            options["authentication_policy"] = policy
        if found.endpoint and found.endpoint.startswith("https://"):
            options["credential_scopes"] = [f"{found.endpoint.rstrip('/')}/.default"]
        client = cls(
            credential, settings.subscription_id, base_url=found.endpoint or None, **options
        )
        _clients[key] = client
        return client
