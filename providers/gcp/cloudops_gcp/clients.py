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

Every client is instrumented through the SDK's own extension points, no method wrapped: each
HTTP request its REST transport sends is one span ``gcp.{resource}.{method}`` (e.g.
``gcp.instanceGroupManagers.insert``) and one ``cloudops_cloud_api_latency`` sample. The method
is named by the transport's ``interceptor`` (its ``pre_<method>`` hook runs just before the
request); the request is timed by a ``requests`` transport adapter mounted on the transport's
authorized session, which also sees failures without an answer (connection errors, timeouts).

google-cloud-compute is imported inside functions: the plugin module imports this package's
activities, and ``cloudops --help`` must not pay for it.
"""

from __future__ import annotations

import functools
import sys
import threading
from dataclasses import dataclass
from typing import Any

import cloudops
from cloudops.servergroups.translate import account_of
from cloudops_gcp.models import GcpAccountSettings

__all__ = ["GcpClients", "clear_cache", "gcp_clients", "instrumented_transport"]

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
                    transport=instrumented_transport(cls),
                    client_options=self._options,
                    client_info=ClientInfo(user_agent=USER_AGENT),  # type: ignore[no-untyped-call]
                )
                self._cache[name] = client
            return client

    def read(self, client: str, method: str, **fields: Any) -> Any:
        """One read of this account's project, with the read retry and the call timeout."""
        call = getattr(self.get(client), method)
        return call(project=self.project, retry=self.read_retry, timeout=self.timeout, **fields)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _resource_of(client_class: type[Any]) -> str:
    """``InstanceGroupManagersClient`` -> ``instanceGroupManagers`` (Compute's resource name)."""
    name = client_class.__name__.removesuffix("Client")
    return name[:1].lower() + name[1:]


class _MethodNames(threading.local):
    """The method the transport is calling on this thread, set by its interceptor."""

    current = "call"


@functools.cache
def _interceptor_class(base: type[Any]) -> type[Any]:
    """A subclass of a transport's ``...RestInterceptor`` noting the method it calls.

    Its ``pre_<method>`` hooks note ``method`` in camel case (``pre_list_managed_instances``
    notes ``listManagedInstances``, as Compute's API reference names it), then do what the
    base class does (nothing).
    """

    def noting(hook: str) -> Any:
        api = _camel(hook.removeprefix("pre_"))
        original = getattr(base, hook)

        def pre(self: Any, request: Any, metadata: Any) -> Any:
            self.cloudops_names.current = api
            return original(self, request, metadata)

        return pre

    hooks = {name: noting(name) for name in dir(base) if name.startswith("pre_")}
    return type(f"CloudOps{base.__name__}", (base,), hooks)


@functools.cache
def _adapter_class() -> type[Any]:
    from requests.adapters import BaseAdapter

    from cloudops.budgets import pace_current
    from cloudops.telemetry import begin_cloud_call

    class CloudApiTelemetryAdapter(BaseAdapter):
        """Times each request sent through another adapter as one cloud API call."""

        def __init__(self, inner: Any, resource: str, names: _MethodNames) -> None:
            super().__init__()
            self.inner = inner
            self.resource = resource
            self.names = names

        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            pace_current()  # under an account budget: this process's turn (retries too)
            call = begin_cloud_call("gcp", self.resource, self.names.current)
            try:
                response = self.inner.send(request, *args, **kwargs)
            except BaseException as err:
                call.end("no_response", error=err)
                raise
            status = int(response.status_code)
            if status < 400:
                call.end("ok", http_status=status)
            else:
                call.end("error", http_status=status, error_code=_error_reason(response))
            return response

        def close(self) -> None:
            self.inner.close()

    return CloudApiTelemetryAdapter


def _error_reason(response: Any) -> str | None:
    """Compute's error reason (``notFound``, ``rateLimitExceeded``...) of an error answer."""
    try:
        error = response.json().get("error") or {}
        details = error.get("errors") or [{}]
        return str(details[0].get("reason") or error.get("status") or "") or None
    except Exception:  # not JSON
        return None


def instrumented_transport(client_class: type[Any]) -> Any:
    """A ``transport=`` callable for a ``compute_v1`` client: its REST transport, instrumented.

    The client calls it with the arguments it would give its REST transport class; the
    transport gets a noting interceptor, and its session a telemetry adapter in front of the
    adapters it had (kept, so mTLS or proxies configured by google-auth still apply).
    """
    transport_class = client_class.get_transport_class("rest")
    module = sys.modules[transport_class.__module__]  # the transport's module defines both
    base = getattr(module, transport_class.__name__.replace("Transport", "Interceptor"), None)
    resource = _resource_of(client_class)

    def build(**kwargs: Any) -> Any:
        names = _MethodNames()
        if base is not None:
            interceptor = _interceptor_class(base)()
            interceptor.cloudops_names = names
            kwargs["interceptor"] = interceptor
        transport = transport_class(**kwargs)
        session = transport._session  # the AuthorizedSession every request goes through
        adapter_class = _adapter_class()
        for prefix in ("https://", "http://"):
            inner = session.get_adapter(prefix)
            session.mount(prefix, adapter_class(inner, resource, names))
        return transport

    return build


_lock = threading.Lock()
_accounts: dict[tuple[str, str], GcpClients] = {}


def clear_cache() -> None:
    """Forget every cached client (tests, or after credentials were rotated)."""
    with _lock:
        _accounts.clear()


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
    found, settings = account_of(account, "gcp", GcpAccountSettings)
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
