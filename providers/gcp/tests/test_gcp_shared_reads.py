"""Shared reads of concurrent waits (cloudops_gcp.shared_reads), over HTTP to the emulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gcp_testkit import WHERE, create_input

import cloudops_gcp.plugin
from cloudops.client import CloudOpsClient
from cloudops_testing.faults import FaultProxy
from cloudops_testing.fixtures_gcp import GCP_PROJECT, gcp_account_config
from cloudops_testing.gcp_emulator import GcpEmulator
from cloudops_testing.processes import WorkerProcess
from cloudops_testing.shared_reads import (
    check_waits_share_their_reads,
    execute_all,
    shared_under_a_budget,
)


@pytest.fixture
def slow_boots(gcp_emulator: GcpEmulator) -> Iterator[Callable[[float], None]]:
    """Set how long the (session's) emulator's instances take to boot, for this test only."""
    before = gcp_emulator.timing.instance_seconds

    def set_boot(seconds: float) -> None:
        gcp_emulator.timing.instance_seconds = seconds

    try:
        yield set_boot
    finally:
        gcp_emulator.timing.instance_seconds = before


async def create_many(ops: CloudOpsClient, app: str, n: int) -> list[Any]:
    """``n`` createServerGroup-with-wait at once, one cluster each, polling every 0.5 s."""
    inputs = [create_input(f"{app}{i}", poll_interval_seconds=0.5) for i in range(n)]
    return await execute_all(ops, "gcp.createServerGroup", inputs, **WHERE)


async def test_concurrent_waits_share_their_reads(
    cloudops_worker: Any,
    gcp_accounts: dict[str, Any],
    slow_boots: Callable[[float], None],
    monkeypatch: pytest.MonkeyPatch,
    app: str,
) -> None:
    from cloudops_gcp.shared_reads import GROUPS, MANAGED

    slow_boots(5.0)  # long enough for 3+ polls each on a loaded machine
    async with cloudops_worker(
        plugins=[cloudops_gcp.plugin], load_entrypoints=False, accounts=gcp_accounts
    ) as ops:
        # Groups: instanceGroupManagers.list; members: listManagedInstances.
        await check_waits_share_their_reads(
            monkeypatch, GROUPS, MANAGED, lambda prefix: create_many(ops, app + prefix, 6)
        )


async def test_shared_reads_survive_a_sigkilled_worker_under_a_budget(
    worker_process: Callable[..., WorkerProcess],
    temporal_client: Any,
    gcp_fault_proxy: Callable[..., FaultProxy],
    gcp_emulator: GcpEmulator,
    slow_boots: Callable[[float], None],
    app: str,
) -> None:
    slow_boots(6.0)
    proxy = gcp_fault_proxy()
    results = await shared_under_a_budget(
        worker_process,
        temporal_client,
        proxy,
        gcp_account_config(proxy.url),
        GCP_PROJECT,  # Compute meters the project
        lambda ops: create_many(ops, app, 6),
    )
    for result in results:
        assert result.value["healthy_count"] == 2
        assert gcp_emulator.applied("instanceGroupManagers.insert", result.value["name"]) == 1
