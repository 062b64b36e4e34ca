"""Idempotency, rollback, the error taxonomy and a SIGKILLed worker, read back from the cloud."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from reference_testkit import (
    WHERE,
    account_config,
    create_input,
    fail,
    read_group,
    read_groups,
    succeed,
)

import cloudops_reference.plugin as plugin
from cloudops import BusinessError
from cloudops.accounts import using_accounts
from cloudops.client import CloudOpsClient
from cloudops.registry import CloudOps
from cloudops.servergroups.contract import TAG_REQUEST_ID
from cloudops.servergroups.models import CreateServerGroupInput
from cloudops_reference.activities import create_group, delete_group
from cloudops_reference.models import DeleteInput, GroupSpec
from cloudops_testing.pytest_plugin import accounts_from


def spec(app: str, request_id: str) -> GroupSpec:
    template = CreateServerGroupInput.model_validate(create_input(app))
    tags = {TAG_REQUEST_ID: request_id}
    return GroupSpec(
        **WHERE, name=f"{app}-v000", request_id=request_id, template=template, tags=tags
    )


async def test_create_is_idempotent_per_request(cloud_db: Path, app: str) -> None:
    """A create that runs twice (a lost answer) makes one group; another request's is CONFLICT."""
    with using_accounts(
        accounts_from(account_config(cloud_db), CloudOps([plugin], load_entrypoints=False))
    ):
        first = await create_group(spec(app, "req-1"))
        again = await create_group(spec(app, "req-1"))
        assert (first.instances, again.instances) == (2, 2)
        with pytest.raises(BusinessError) as conflict:
            await create_group(spec(app, "req-2"))
        assert conflict.value.code == "CONFLICT"
        # A rollback deletes only what its own request made; a missing group is success.
        kept = await delete_group(
            DeleteInput(**WHERE, name=f"{app}-v000", only_if_request_id="req-2")
        )
        assert not kept.found and read_group(cloud_db, f"{app}-v000") is not None
        gone = await delete_group(
            DeleteInput(**WHERE, name=f"{app}-v000", only_if_request_id="req-1")
        )
        assert gone.found and read_groups(cloud_db) == []
        assert not (await delete_group(DeleteInput(**WHERE, name=f"{app}-v000"))).found


async def test_a_create_that_times_out_is_rolled_back(
    cloudops_worker: Any, cloud_db: Path, app: str
) -> None:
    """Instances that never run: the wait times out, and the group is deleted again."""
    accounts = account_config(cloud_db, boot_polls=1000)
    async with cloudops_worker([plugin], load_entrypoints=False, accounts=accounts) as ops:
        error = await fail(ops, "createServerGroup", create_input(app, wait_timeout_seconds=2))
    assert error.code in ("TIMED_OUT", "RETRIES_EXHAUSTED")  # the poll ran out of time
    assert [(r.step, r.ok) for r in error.rollbacks] == [(f"delete {app}-test-v000", True)]
    assert read_groups(cloud_db) == []


async def test_a_failed_resize_restores_the_capacity(
    cloudops_worker: Any, cloud_db: Path, app: str
) -> None:
    accounts = account_config(cloud_db, boot_polls=1000)
    async with cloudops_worker([plugin], load_entrypoints=False, accounts=accounts) as ops:
        made = await succeed(ops, "createServerGroup", create_input(app, wait=False))
        resize = {"server_group": made["name"], "capacity": {"min": 0, "max": 9, "desired": 5}}
        error = await fail(ops, "resizeServerGroup", {**resize, "wait_timeout_seconds": 2})
    assert error.code in ("TIMED_OUT", "RETRIES_EXHAUSTED")  # the poll ran out of time
    found = read_group(cloud_db, made["name"])
    assert found is not None
    assert found.capacity.model_dump() == {"min": 1, "max": 4, "desired": 2}


async def test_an_account_without_a_sqlite_endpoint_is_invalid_input(
    ref_ops: CloudOpsClient, cloudops_worker: Any, app: str
) -> None:
    accounts = {"accounts": {"reference": {"provider": "reference", "endpoint": "http://x"}}}
    async with cloudops_worker([plugin], load_entrypoints=False, accounts=accounts) as ops:
        error = await fail(ops, "describeServerGroup", {"server_group": f"{app}-v000"})
    assert error.code == "INVALID_INPUT"
    assert "sqlite:///" in error.message


async def test_a_worker_killed_while_waiting_finishes_once(
    worker_process: Any, temporal_client: Any, cloud_db: Path, app: str
) -> None:
    """SIGKILL the worker while the create polls: the cloud is a file, so a new worker finishes."""
    queue = f"reference-crash-{uuid.uuid4().hex[:8]}"
    accounts = account_config(cloud_db, boot_polls=8)
    worker = await asyncio.to_thread(
        worker_process, queue, accounts=accounts, plugins=["reference"]
    )
    ops = CloudOpsClient(temporal_client, task_queue=queue)
    create = create_input(app, poll_interval_seconds=0.5)
    request = f"{app}-crash"
    handle = await ops.submit("reference.createServerGroup", create, request_id=request, **WHERE)
    for _ in range(200):
        if (await handle.progress()).current_step == "wait for instances":
            break
        await asyncio.sleep(0.05)
    worker.kill()
    starting = read_group(cloud_db, f"{app}-test-v000")
    assert starting is not None and starting.healthy_count == 0  # killed mid-wait
    await asyncio.to_thread(worker.start)
    result = await asyncio.wait_for(handle.result(), 90)
    assert result.ok and result.value is not None, result.error
    assert result.value["healthy_count"] == 2
    groups = read_groups(cloud_db)
    assert [g.tags[TAG_REQUEST_ID] for g in groups] == [request]
    assert len(groups[0].instances) == 2
