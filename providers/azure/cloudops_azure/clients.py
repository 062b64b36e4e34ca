"""ComputeManagementClient per worker account, built from ``cloudops.toml``.

Why here and cached: a request names an account, never a credential, so the worker resolves the
account's subscription, credential source and optional endpoint override (the emulator) when an
activity runs. A client holds a connection pool and a token cache, so it is built once per
account settings and reused (Azure clients are thread-safe).

The SDK's own retries are kept small (``retry_total``, default 1 retry) and its timeouts short:
Temporal owns durable retrying, with backoff and history, across worker restarts.

The Azure SDK is imported inside functions: the plugin module imports this package's
activities, and ``cloudops --help`` must not pay for azure-mgmt-compute (about a second).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cloudops
from cloudops import BusinessError, ErrorCode
from cloudops_azure.models import AzureAccountSettings

if TYPE_CHECKING:
    from azure.mgmt.compute import ComputeManagementClient

__all__ = ["account_settings", "clear_cache", "compute_client", "resource_group_of"]

USER_AGENT = "cloudops-azure/0.1"
#: The bearer token the ``emulator`` credential sends (plain HTTP, local emulators only).
EMULATOR_TOKEN = "cloudops-emulator-test-token"

_lock = threading.Lock()
_clients: dict[tuple[str, str], Any] = {}


def clear_cache() -> None:
    """Forget every cached client (tests, or after a secret was rotated)."""
    with _lock:
        _clients.clear()


def _account(name: str) -> cloudops.Account:
    found = cloudops.current_account(name)
    if found.provider != "azure":
        raise BusinessError(
            ErrorCode.INVALID_INPUT, f"account {name!r} is a {found.provider} account, not azure"
        )
    return found


def account_settings(name: str) -> AzureAccountSettings:
    """The validated Azure settings of the worker's account ``name``."""
    settings = _account(name).settings
    if isinstance(settings, AzureAccountSettings):
        return settings
    return AzureAccountSettings.model_validate(settings or {})


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
    found = _account(account)
    settings = account_settings(account)
    key = (found.name, f"{found.endpoint or ''}|{settings.model_dump_json()}")
    with _lock:
        cached: ComputeManagementClient | None = _clients.get(key)
        if cached is not None:
            return cached
        from azure.mgmt.compute import ComputeManagementClient

        credential, policy = _credential(found, settings)
        options: dict[str, Any] = {
            "polling_interval": settings.polling_interval_seconds,
            "retry_total": settings.retry_total,
            "retry_backoff_factor": 0.5,
            "retry_backoff_max": 8,
            "connection_timeout": settings.connection_timeout_seconds,
            "read_timeout": settings.read_timeout_seconds,
            "user_agent": USER_AGENT,
        }
        if policy is not None:
            options["authentication_policy"] = policy
        if found.endpoint and found.endpoint.startswith("https://"):
            options["credential_scopes"] = [f"{found.endpoint.rstrip('/')}/.default"]
        client = ComputeManagementClient(
            credential, settings.subscription_id, base_url=found.endpoint or None, **options
        )
        _clients[key] = client
        return client
