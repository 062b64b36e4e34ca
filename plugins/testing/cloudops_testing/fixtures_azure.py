"""Azure fixtures: the local ARM emulator, a fault proxy in front of it, accounts pointed at them.

Why an emulator over HTTP rather than mocks: the provider's activities must be tested through
the official azure-mgmt-compute client (pipeline, retries, long-running operation polling,
continuation tokens, error mapping), because that is where production failures come from.

Fixtures (loaded by the ``cloudops`` pytest plugin):

- ``azure_emulator`` (session): an :class:`~cloudops_testing.azure_emulator.AzureEmulator` on a
  free loopback port with a resource group, a subnet and a load balancer with two backend pools
  (``AZURE_RESOURCE_GROUP``, ``AZURE_SUBNET``, ``AZURE_POOLS``).
- ``azure_accounts``: a ``cloudops.toml``-shaped dict with one account ``azure-emu`` on the
  emulator (test-only ``emulator`` credential); pass it to ``cloudops_worker(accounts=...)`` or
  ``worker_process(..., accounts=...)``.
- ``azure_fault_proxy``: factory of :class:`~cloudops_testing.faults.FaultProxy` in front of
  the emulator (Azure-flavoured error bodies); stopped at teardown.

Helpers: :func:`azure_account_config` (an accounts dict for any endpoint) and
:func:`emulator_compute_client` (the official client pointed at an emulator, for arranging
and asserting).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from cloudops_testing.azure_stack import (
    AZURE_ACCOUNT,
    AZURE_IMAGE,
    AZURE_LOAD_BALANCER,
    AZURE_POOLS,
    AZURE_REGION,
    AZURE_RESOURCE_GROUP,
    AZURE_SSH_KEY,
    AZURE_SUBNET,
    AZURE_SUBSCRIPTION,
    azure_account_config,
    new_azure_emulator,
)

if TYPE_CHECKING:
    from cloudops_testing.azure_emulator import AzureEmulator
    from cloudops_testing.faults import FaultProxy, FaultRules

__all__ = [
    "AZURE_ACCOUNT",
    "AZURE_IMAGE",
    "AZURE_LOAD_BALANCER",
    "AZURE_POOLS",
    "AZURE_REGION",
    "AZURE_RESOURCE_GROUP",
    "AZURE_SSH_KEY",
    "AZURE_SUBNET",
    "AZURE_SUBSCRIPTION",
    "azure_account_config",
    "azure_accounts",
    "azure_emulator",
    "azure_fault_proxy",
    "emulator_compute_client",
    "emulator_monitor_client",
]


@pytest.fixture(scope="session")
def azure_emulator() -> Iterator[AzureEmulator]:
    """An ARM emulator for the whole session, with a resource group, subnet and load balancer.

    Its state is shared by the whole session: give each test its own names (application) or
    call ``azure_emulator.reset()`` and arrange again.
    """
    emulator = new_azure_emulator()
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def azure_accounts(azure_emulator: AzureEmulator) -> dict[str, Any]:
    """Accounts for ``cloudops_worker(accounts=...)``: ``azure-emu`` in ``eastus``, emulated."""
    return azure_account_config(azure_emulator.url)


@pytest.fixture
def azure_fault_proxy(azure_emulator: AzureEmulator) -> Iterator[Callable[..., FaultProxy]]:
    """Factory of fault proxies in front of the emulator.

    ``proxy = azure_fault_proxy(FaultRules(throttle=0.3, retry_after=1, seed=1,
    flavor="azure"))`` starts one (rules default to no faults, Azure flavour). Point an account
    at it with ``azure_account_config(proxy.url)``. Every proxy is stopped when the test ends.
    """
    from cloudops_testing.faults import FaultProxy, FaultRules

    started: list[FaultProxy] = []

    def start(rules: FaultRules | None = None) -> FaultProxy:
        # Always in Azure's flavour: AWS-style faults (400 Throttling) would be real errors here.
        proxy = FaultProxy(azure_emulator.url, replace(rules or FaultRules(), flavor="azure"))
        proxy.start()
        started.append(proxy)
        return proxy

    try:
        yield start
    finally:
        for proxy in started:
            proxy.stop()


def emulator_compute_client(
    url: str, subscription: str = AZURE_SUBSCRIPTION, **options: Any
) -> Any:
    """The official ``ComputeManagementClient`` pointed at an emulator (or a proxy before it).

    Uses a fixed test token with a policy that sends it over plain HTTP; ``options`` go to the
    client (e.g. ``polling_interval``, ``retry_total``).
    """
    from azure.mgmt.compute import ComputeManagementClient

    return _emulator_client(ComputeManagementClient, url, subscription, **options)


def emulator_monitor_client(
    url: str, subscription: str = AZURE_SUBSCRIPTION, **options: Any
) -> Any:
    """The official ``MonitorManagementClient`` (autoscale settings) pointed at an emulator."""
    from azure.mgmt.monitor import MonitorManagementClient

    return _emulator_client(MonitorManagementClient, url, subscription, **options)


def _emulator_client(kind: Any, url: str, subscription: str, **options: Any) -> Any:
    from azure.core.credentials import AccessToken
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    class TestCredential:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken("emulator-test-token", int(time.time()) + 3600)

    class TestAuthorization(SansIOHTTPPolicy[Any, Any]):
        def on_request(self, request: Any) -> None:
            request.http_request.headers["Authorization"] = "Bearer emulator-test-token"

    options.setdefault("polling_interval", 0.1)
    options.setdefault("retry_total", 0)
    return kind(
        TestCredential(),
        subscription,
        base_url=url,
        authentication_policy=TestAuthorization(),
        **options,
    )
