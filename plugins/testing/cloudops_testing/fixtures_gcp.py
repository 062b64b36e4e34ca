"""GCP fixtures: the local Compute Engine emulator, accounts pointed at it, a fault proxy.

Why an emulator over HTTP: the provider's activities must be tested through google-cloud-compute's
real REST transport (serialisation, error parsing, its retries, connection handling), because
that is where production failures come from. The emulator
(:mod:`cloudops_testing.gcp_emulator`) speaks the real wire format.

Fixtures (loaded by the ``cloudops`` pytest plugin):

- ``gcp_emulator`` (session): the emulator on a free loopback port, with fast timings
  (operations take 0.2 s, instances boot in 0.4 s). Its state is shared by the session: give
  each test its own names, or call ``gcp_emulator.reset()``.
- ``gcp_accounts``: a ``cloudops.toml``-shaped dict with one account ``gcp-emu`` (project
  ``cloudops-emu``, region ``us-central1``, anonymous credentials) on the emulator; pass it to
  ``cloudops_worker(accounts=...)`` or ``worker_process(..., accounts=...)``.
- ``gcp_fault_proxy``: factory of :class:`~cloudops_testing.faults.FaultProxy` (gcp flavor) in
  front of the emulator; stopped at teardown. Point an account at it with
  ``gcp_account_config(proxy.url)``.
- ``gcp_client``: factory of official clients straight to the emulator, for arranging and
  asserting: ``gcp_client("InstanceGroupManagersClient")``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from cloudops_testing.gcp_stack import (
    GCP_ACCOUNT,
    GCP_PROJECT,
    GCP_REGION,
    gcp_account_config,
    new_gcp_emulator,
)

if TYPE_CHECKING:
    from cloudops_testing.faults import FaultProxy, FaultRules
    from cloudops_testing.gcp_emulator import GcpEmulator

__all__ = [
    "GCP_ACCOUNT",
    "GCP_PROJECT",
    "GCP_REGION",
    "gcp_account_config",
    "gcp_accounts",
    "gcp_client",
    "gcp_emulator",
    "gcp_fault_proxy",
]


@pytest.fixture(scope="session")
def gcp_emulator() -> Iterator[GcpEmulator]:
    """The Compute Engine emulator for the whole session, with fast operations and boots."""
    emulator = new_gcp_emulator()
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def gcp_accounts(gcp_emulator: GcpEmulator) -> dict[str, Any]:
    """Accounts for ``cloudops_worker(accounts=...)``: ``gcp-emu`` in ``us-central1``."""
    return gcp_account_config(gcp_emulator.url)


@pytest.fixture
def gcp_fault_proxy(gcp_emulator: GcpEmulator) -> Iterator[Callable[..., FaultProxy]]:
    """Factory of fault proxies (gcp flavor) in front of the emulator.

    ``proxy = gcp_fault_proxy(FaultRules(throttle=0.15, unavailable=0.15, seed=1))``; the rules'
    flavor is forced to ``gcp`` so injected errors carry Compute's error bodies.
    """
    from dataclasses import replace

    from cloudops_testing.faults import FaultProxy, FaultRules

    started: list[FaultProxy] = []

    def start(rules: FaultRules | None = None) -> FaultProxy:
        proxy = FaultProxy(gcp_emulator.url, replace(rules or FaultRules(), flavor="gcp"))
        proxy.start()
        started.append(proxy)
        return proxy

    try:
        yield start
    finally:
        for proxy in started:
            proxy.stop()


@pytest.fixture
def gcp_client(gcp_emulator: GcpEmulator) -> Callable[[str], Any]:
    """Factory of official google-cloud-compute clients straight to the emulator."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import compute_v1

    cache: dict[str, Any] = {}

    def client(name: str) -> Any:
        if name not in cache:
            cache[name] = getattr(compute_v1, name)(
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                transport="rest",
                client_options=ClientOptions(api_endpoint=gcp_emulator.url),
            )
        return cache[name]

    return client
