"""Chaos: throttling and 503s from a fault proxy, and a worker killed mid-operation.

Both end the same way: every operation completes once, exactly one scale set is made, and its
PUT reached Azure once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from azure_testkit import FAST, RG, WHERE, create_input, scale_set, tagged
from temporalio.client import Client

import cloudops_azure.plugin
from cloudops.client import CloudOpsClient
from cloudops_testing.azure_emulator import AzureEmulator
from cloudops_testing.faults import FaultRules
from cloudops_testing.fixtures_azure import azure_account_config


async def test_lifecycle_through_throttling_and_unavailability(
    cloudops_worker: Any, azure_emulator: AzureEmulator, azure_fault_proxy: Any, app: str
) -> None:
    proxy = azure_fault_proxy(
        FaultRules(throttle=0.2, unavailable=0.1, retry_after=1, seed=5, flavor="azure")
    )
    accounts = azure_account_config(proxy.url)
    async with cloudops_worker(
        plugins=[cloudops_azure.plugin], load_entrypoints=False, accounts=accounts
    ) as ops:
        created = await ops.execute(
            "azure.createServerGroup", create_input(app), request_id=f"{app}-chaos", **WHERE
        )
        assert created.ok, created.error
        name = created.value["name"]
        steps: list[tuple[str, dict[str, Any]]] = [
            ("azure.resizeServerGroup", {"capacity": {"min": 1, "max": 3, "desired": 3}}),
            ("azure.disableServerGroup", {}),
            ("azure.enableServerGroup", {}),
            ("azure.destroyServerGroup", {}),
        ]
        for operation, extra in steps:
            result = await ops.execute(operation, {"server_group": name, **extra, **FAST}, **WHERE)
            assert result.ok, (operation, result.error)
    counts = proxy.counts
    assert counts["throttle"] + counts["unavailable"] > 5, counts
    assert azure_emulator.put_count(RG, name) == 1
    assert tagged(azure_emulator, "cloudops:request-id", f"{app}-chaos") == []
    assert scale_set(azure_emulator, name) is None
    creates = [o for o in azure_emulator.operations() if o["target"] == name]
    assert [o["kind"] for o in creates].count("create") == 1


async def test_killed_worker_resumes_the_put_without_sending_it_again(
    worker_process: Any,
    temporal_client: Client,
    azure_emulator: AzureEmulator,
    azure_accounts: dict[str, Any],
    app: str,
) -> None:
    name = f"{app}-test-v000"
    queue = f"azure-crash-{app}"
    azure_emulator.hold(name)
    worker = worker_process(queue, accounts=azure_accounts, plugins=["azure"])
    ops = CloudOpsClient(temporal_client, task_queue=queue)
    handle = await ops.submit(
        "azure.createServerGroup", create_input(app), request_id=f"{app}-crash", **WHERE
    )
    deadline = time.monotonic() + 30
    while True:  # until the PUT was accepted and the workflow is polling the operation
        progress = await handle.progress()
        polls = progress.current_attempt or 0
        if progress.current_step == "wait for provisioning" and polls >= 3:
            break
        assert time.monotonic() < deadline, progress
        await asyncio.sleep(0.1)
    worker.kill()
    assert azure_emulator.put_count(RG, name) == 1
    found = scale_set(azure_emulator, name)
    assert found is not None and found["properties"]["provisioningState"] == "Creating"

    worker.start()
    azure_emulator.release(name)
    result = await asyncio.wait_for(handle.result(), timeout=120)
    assert result.ok, result.error
    assert result.value["healthy_count"] == 2
    assert azure_emulator.put_count(RG, name) == 1
    assert tagged(azure_emulator, "cloudops:request-id", f"{app}-crash") == [name]
