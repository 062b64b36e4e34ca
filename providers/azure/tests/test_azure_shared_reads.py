"""Shared reads of concurrent waits (cloudops_azure.shared_reads), over HTTP to the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure_testkit import WHERE, create_input, tagged

import cloudops_azure.plugin
from cloudops.client import CloudOpsClient
from cloudops.servergroups.contract import TAG_REQUEST_ID
from cloudops_testing.azure_emulator import AzureEmulator
from cloudops_testing.faults import FaultProxy
from cloudops_testing.fixtures_azure import AZURE_SUBSCRIPTION, azure_account_config
from cloudops_testing.processes import WorkerProcess
from cloudops_testing.shared_reads import (
    check_waits_share_their_reads,
    execute_all,
    shared_under_a_budget,
)


@pytest.fixture
def slow_boots(azure_emulator: AzureEmulator) -> Iterator[Callable[[float], None]]:
    """Set how long the (session's) emulator's VMs take to boot, for this test only."""
    before = azure_emulator.settings.boot_seconds

    def set_boot(seconds: float) -> None:
        azure_emulator.settings.boot_seconds = seconds

    try:
        yield set_boot
    finally:
        azure_emulator.settings.boot_seconds = before


async def create_many(ops: CloudOpsClient, app: str, n: int) -> list[Any]:
    """``n`` createServerGroup-with-wait at once, one cluster each, polling every 0.5 s.

    Each with the request id ``{app}{i}-create``.
    """
    return list(
        await asyncio.gather(
            *(
                execute_all(
                    ops,
                    "azure.createServerGroup",
                    [create_input(f"{app}{i}", poll_interval_seconds=0.5)],
                    request_id=f"{app}{i}-create",
                    **WHERE,
                )
                for i in range(n)
            )
        )
    )


async def test_concurrent_waits_share_their_reads(
    cloudops_worker: Any,
    azure_accounts: dict[str, Any],
    slow_boots: Callable[[float], None],
    monkeypatch: pytest.MonkeyPatch,
    app: str,
) -> None:
    from cloudops_azure.shared_reads import SCALE_SETS, VMS

    slow_boots(5.0)  # long enough for 3+ polls each on a loaded machine
    async with cloudops_worker(
        plugins=[cloudops_azure.plugin], load_entrypoints=False, accounts=azure_accounts
    ) as ops:
        # Groups: the resource group's scale sets, one list; members: a scale set's VMs.
        await check_waits_share_their_reads(
            monkeypatch, SCALE_SETS, VMS, lambda prefix: create_many(ops, app + prefix, 6)
        )


async def test_shared_reads_survive_a_sigkilled_worker_under_a_budget(
    worker_process: Callable[..., WorkerProcess],
    temporal_client: Any,
    azure_fault_proxy: Callable[..., FaultProxy],
    azure_emulator: AzureEmulator,
    slow_boots: Callable[[float], None],
    app: str,
) -> None:
    slow_boots(6.0)
    proxy = azure_fault_proxy()
    results = await shared_under_a_budget(
        worker_process,
        temporal_client,
        proxy,
        azure_account_config(proxy.url),
        AZURE_SUBSCRIPTION.lower(),  # Resource Manager meters the subscription
        lambda ops: create_many(ops, app, 6),
    )
    for i, [result] in enumerate(results):
        assert result.value["healthy_count"] == 2
        # Made once, whatever was retried after the kill.
        assert tagged(azure_emulator, TAG_REQUEST_ID, f"{app}{i}-create") == [result.value["name"]]
