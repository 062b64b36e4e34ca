"""google-cloud-compute clients per worker account, built from ``cloudops.toml``.

Why here and cached: a request names an account, never a credential, so the worker resolves the
account's credential source (ADC, a service-account key file, or none for an emulator) and its
optional endpoint override when an activity runs. Building a client (and its authorized HTTP
session) is not free, so clients are built once per (account settings, client class) under a
lock and reused; the REST clients are safe to share between activity threads.

Every client of one account is built with the same ``ClientOptions``: the operations clients in
particular, because an ``ExtendedOperation``'s ``.result()`` polls through an internal client
built without them (it would call the real Google endpoint). cloudops polls Operations itself,
with :func:`compute_client` ("ZoneOperationsClient" ...), in a durable polling activity.

google-cloud-compute is imported inside functions: the plugin module imports this package's
activities, and ``cloudops --help`` must not pay for it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import cloudops
from cloudops_gcp.models import GcpAccountSettings

__all__ = ["GcpClients", "clear_cache", "gcp_clients"]

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
USER_AGENT = "cloudops-gcp/0.1"


@dataclass(frozen=True)
class GcpClients:
    """The clients factory of one account: ``clients.get("InstanceTemplatesClient")``.

    ``project`` is the account's project; ``timeout`` the per-call timeout; ``read_retry`` a
    ``google.api_core.retry.Retry`` for reads (or None), to pass as ``retry=`` on gets, lists and
    operation polls. Mutations are called with ``retry=None``: Temporal retries them.
    """

    account: str
    project: str
    timeout: float
    read_retry: Any
    _credentials: Any
    _options: Any
    _cache: dict[str, Any]
    _lock: threading.Lock

    def get(self, name: str) -> Any:
        """The ``google.cloud.compute_v1.<name>`` client of this account (cached)."""
        with self._lock:
            client = self._cache.get(name)
            if client is None:
                from google.api_core.gapic_v1.client_info import ClientInfo
                from google.cloud import compute_v1

                cls = getattr(compute_v1, name)
                client = cls(
                    credentials=self._credentials,
                    transport="rest",
                    client_options=self._options,
                    client_info=ClientInfo(user_agent=USER_AGENT),  # type: ignore[no-untyped-call]
                )
                self._cache[name] = client
            return client


_lock = threading.Lock()
_accounts: dict[tuple[str, str], GcpClients] = {}


def clear_cache() -> None:
    """Forget every cached client (tests, or after credentials were rotated)."""
    with _lock:
        _accounts.clear()


def _settings(account: cloudops.Account) -> GcpAccountSettings:
    settings = account.settings
    if isinstance(settings, GcpAccountSettings):
        return settings
    return GcpAccountSettings.model_validate(settings or {})


def _credentials(account: cloudops.Account, settings: GcpAccountSettings) -> Any:
    """None (ADC, resolved by the client), key-file credentials, or anonymous ones."""
    if settings.credentials == "anonymous":
        if not account.endpoint:
            raise cloudops.BusinessError(
                cloudops.ErrorCode.CLOUD_REJECTED,
                f"account {account.name!r} asks for anonymous credentials without an endpoint "
                "override; anonymous credentials are only for emulators",
            )
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    if settings.service_account_key_file:
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            settings.service_account_key_file, scopes=list(SCOPES)
        )
    import google.auth

    credentials, _ = google.auth.default(scopes=list(SCOPES))
    return credentials


def _read_retry(seconds: float) -> Any:
    if seconds <= 0:
        return None
    from google.api_core.retry import Retry

    from cloudops_gcp.errors import is_transient

    return Retry(predicate=is_transient, initial=0.2, maximum=2.0, multiplier=2.0, timeout=seconds)


def gcp_clients(account: str) -> GcpClients:
    """The client factory of the worker's account ``account``.

    Call it inside an activity run by a cloudops worker (it reads the account with
    :func:`cloudops.current_account`). Credential errors it raises are google-auth's: classify
    them like any other call.
    """
    found = cloudops.current_account(account)
    if found.provider != "gcp":
        raise cloudops.BusinessError(
            cloudops.ErrorCode.INVALID_INPUT,
            f"account {account!r} is a {found.provider} account, not a gcp one",
        )
    settings = _settings(found)
    key = (found.name, f"{found.endpoint or ''}|{settings.model_dump_json()}")
    with _lock:
        cached = _accounts.get(key)
        if cached is not None:
            return cached
        from google.api_core.client_options import ClientOptions

        options = ClientOptions(api_endpoint=found.endpoint) if found.endpoint else None
        clients = GcpClients(
            account=found.name,
            project=settings.project,
            timeout=settings.request_timeout_seconds,
            read_retry=_read_retry(settings.read_retry_seconds),
            _credentials=_credentials(found, settings),
            _options=options,
            _cache={},
            _lock=threading.Lock(),
        )
        _accounts[key] = clients
        return clients
