"""Chaos: throttling and 5xx on ~30% of calls, and a worker killed while an Operation runs.

Both prove the same property from two sides: every change is made exactly once. Under faults,
Temporal retries the activities (the client only retries reads) and the API deduplicates by
``requestId``; after a crash, the next worker polls the Operation the dead one started
instead of sending the mutation again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from gcp_testkit import FAST, WHERE, create_input
from temporalio.client import Client

import cloudops_gcp.plugin
from cloudops.client import CloudOpsClient
from cloudops_testing.faults import FaultProxy, FaultRules
from cloudops_testing.fixtures_gcp import GCP_REGION, gcp_account_config
from cloudops_testing.gcp_emulator import GcpEmulator
from cloudops_testing.processes import WorkerProcess


async def test_a_lifecycle_through_30_percent_faults_makes_everything_once(
    cloudops_worker: Any,
    gcp_emulator: GcpEmulator,
    gcp_fault_proxy: Callable[..., FaultProxy],
    app: str,
) -> None:
    gcp_emulator.add_backend_service(f"{app}-web")
    gcp_emulator.add_target_pool(GCP_REGION, f"{app}-pool")
    proxy = gcp_fault_proxy(FaultRules(throttle=0.15, unavailable=0.15, seed=20240601))
    accounts = gcp_account_config(proxy.url)
    async with cloudops_worker(
        plugins=[cloudops_gcp.plugin], load_entrypoints=False, accounts=accounts
    ) as ops:
        created = await ops.execute(
            "gcp.createServerGroup",
            create_input(app, load_balancers=[f"{app}-web"], target_pools=[f"{app}-pool"]),
            request_id=f"{app}-chaos",
            **WHERE,
        )
        assert created.ok, created.error
        name = created.value["name"]
        template = created.value["resources"]["instance_template"]
        steps: list[tuple[str, dict[str, Any]]] = [
            ("gcp.resizeServerGroup", {"capacity": {"min": 3, "max": 3, "desired": 3}}),
            ("gcp.disableServerGroup", {}),
            ("gcp.enableServerGroup", {}),
            ("gcp.destroyServerGroup", {}),
        ]
        for operation, extra in steps:
            result = await ops.execute(operation, {"server_group": name, **extra, **FAST}, **WHERE)
            assert result.ok, (operation, result.error)
            assert result.value["changed"] is True, operation
            if operation == "gcp.resizeServerGroup":
                assert result.value["healthy_count"] == 3

    counts = proxy.counts
    assert counts["throttle"] + counts["unavailable"] >= 5, counts
    assert counts["forwarded"] > 0
    # Exactly one template and one group were made (and later deleted), whatever was retried.
    assert gcp_emulator.applied("instanceTemplates.insert", template) == 1
    assert gcp_emulator.applied("instanceGroupManagers.insert", name) == 1
    assert gcp_emulator.applied("instanceGroupManagers.resize", name) == 1
    assert gcp_emulator.applied("instanceGroupManagers.delete", name) == 1
    assert gcp_emulator.group(name) is None
    assert gcp_emulator.template(template) is None
    assert [i for i in gcp_emulator.instances() if i["name"].startswith(f"{name}-")] == []
    service = gcp_emulator.backend_service(f"{app}-web")
    assert service is not None and service.get("backends", []) == []


async def _until(condition: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def test_a_worker_killed_while_an_operation_runs_is_replaced_without_resending(
    worker_process: Callable[..., WorkerProcess],
    temporal_client: Client,
    gcp_emulator: GcpEmulator,
    gcp_accounts: dict[str, Any],
    app: str,
) -> None:
    kind = "instanceGroupManagers.insert"
    queue = f"gcp-crash-{app}"
    name = f"{app}-test-v000"

    def igm_insert() -> dict[str, Any] | None:
        found = [o for o in gcp_emulator.operations(kind) if o["targetLink"].endswith(f"/{name}")]
        return found[0] if found else None

    gcp_emulator.hold(kind)  # the group's insert Operation stays RUNNING until released
    try:
        first = await asyncio.to_thread(
            worker_process, queue, accounts=gcp_accounts, plugins=["gcp"]
        )
        ops = CloudOpsClient(temporal_client, task_queue=queue)
        handle = await ops.submit(
            "gcp.createServerGroup",
            create_input(app, wait_timeout_seconds=30),
            request_id=f"{app}-crash",
            **WHERE,
        )
        # The first worker started the insert and is polling its Operation: its first attempt
        # re-reads for about a second (about 5 reads), later attempts read once, a second apart.
        op = await _until(lambda: (o := igm_insert()) and o["reads"] >= 7 and o)
        assert op["status"] == "RUNNING"
        # Kill it between two polls: just after a read, not during an attempt (an attempt cut
        # short is only retried after its heartbeat timeout, 10 s, which would slow the test).
        reads = op["reads"]
        await _until(lambda: (o := igm_insert()) and o["reads"] > reads)
        await asyncio.sleep(0.3)
        await asyncio.to_thread(first.kill)
        killed_at = igm_insert()
        assert killed_at is not None and killed_at["status"] == "RUNNING"

        # A new worker picks the workflow up and polls the same Operation.
        await asyncio.to_thread(worker_process, queue, accounts=gcp_accounts, plugins=["gcp"])
        await _until(lambda: (o := igm_insert()) and o["reads"] > killed_at["reads"] + 1)
    finally:
        gcp_emulator.release(kind)

    result = await asyncio.wait_for(handle.result(), timeout=90)
    assert result.ok, result.error
    assert result.value["name"] == name
    # The insert was sent once: no new insert, not even a deduplicated repeat.
    sent = [m for m in gcp_emulator.mutations(kind) if m.target.endswith(f"/{name}")]
    assert len(sent) == 1, sent
    assert (
        gcp_emulator.applied(
            "instanceTemplates.insert", result.value["resources"]["instance_template"]
        )
        == 1
    )
    group = gcp_emulator.group(name)
    assert group is not None and group["status"]["isStable"]
    assert len(gcp_emulator.instances(name)) == 2
