"""Invalid input and business failures (rollback, NOT_FOUND, repeats: the conformance suite)."""

from __future__ import annotations

from typing import Any

import pytest
from azure_testkit import FAST, RG, WHERE, create_input, scale_set, tagged

import cloudops_azure.plugin
from cloudops.client import CloudOpsClient
from cloudops_testing.azure_emulator import AzureEmulator
from cloudops_testing.fixtures_azure import azure_account_config


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"capacity": {"min": 3, "max": 1, "desired": 2}}, "capacity"),
        ({"application": "bad name"}, "application"),
        ({"tags": {"cloudops:request-id": "spoofed"}}, "tags"),
        ({"instance_typo": "Standard_B1s"}, "instance_typo"),
        ({"image": "ubuntu-latest"}, "(root)"),
        ({"subnets": ["a/b", "c/d"]}, "(root)"),
        ({"key_name": "my-aws-key"}, "(root)"),
        ({"target_groups": ["tg"]}, "(root)"),
        ({"resource_group": "bad/group"}, "resource_group"),
    ],
)
async def test_invalid_input(
    azure_ops: CloudOpsClient,
    azure_emulator: AzureEmulator,
    app: str,
    change: dict[str, Any],
    field: str,
) -> None:
    result = await azure_ops.execute(
        "azure.createServerGroup",
        {**create_input(app), **change},
        request_id=f"{app}-invalid",
        **WHERE,
    )
    assert not result.ok
    assert result.error.code == "INVALID_INPUT"
    fields = [e["field"] for e in result.error.details["errors"]]
    assert any(f.startswith(field) for f in fields), fields
    assert tagged(azure_emulator, "cloudops:request-id", f"{app}-invalid") == []


async def test_detail_that_azure_cannot_name_is_invalid(
    azure_ops: CloudOpsClient, app: str
) -> None:
    result = await azure_ops.execute(
        "azure.createServerGroup", create_input(app, detail="a~b"), **WHERE
    )
    assert not result.ok and result.error.code == "INVALID_INPUT"


async def test_missing_backend_pool_is_not_found(
    azure_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    result = await azure_ops.execute(
        "azure.createServerGroup",
        create_input(app, load_balancers=["cloudops-lb/nope"]),
        **WHERE,
    )
    assert not result.ok
    assert result.error.code == "NOT_FOUND"
    assert result.error.details["azure_code"] == "InvalidResourceReference"
    assert scale_set(azure_emulator, f"{app}-test-v000") is None


async def test_missing_resource_group_and_image_are_not_found(
    azure_ops: CloudOpsClient, app: str
) -> None:
    group = await azure_ops.execute(
        "azure.createServerGroup", create_input(app, resource_group="no-such-rg"), **WHERE
    )
    assert not group.ok and group.error.code == "NOT_FOUND"
    assert group.error.details["azure_code"] == "ResourceGroupNotFound"
    image = await azure_ops.execute(
        "azure.createServerGroup",
        create_input(app, image="Canonical:nothing:here:latest"),
        **WHERE,
    )
    assert not image.ok and image.error.code == "NOT_FOUND"


async def test_quota_exceeded(
    azure_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    azure_emulator.settings.instance_quota = len(
        [
            vm
            for s in azure_emulator.scale_sets(RG)
            for vm in azure_emulator.instances(RG, s["name"])
        ]
    )
    try:
        result = await azure_ops.execute("azure.createServerGroup", create_input(app), **WHERE)
    finally:
        azure_emulator.settings.instance_quota = None
    assert not result.ok
    assert result.error.code == "QUOTA_EXCEEDED"
    assert "quota" in result.error.message


async def test_a_scale_set_made_by_someone_else_is_left_alone(
    azure_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    # Someone else's scale set holds v000 of the cluster: the sequence skips it.
    first = await azure_ops.execute(
        "azure.createServerGroup", create_input(app), request_id=f"{app}-other", **WHERE
    )
    assert first.ok, first.error
    second = await azure_ops.execute(
        "azure.createServerGroup", create_input(app), request_id=f"{app}-mine", **WHERE
    )
    assert second.ok, second.error
    assert second.value["name"] == f"{app}-test-v001"
    assert tagged(azure_emulator, "cloudops:request-id", f"{app}-other") == [f"{app}-test-v000"]


async def test_a_scale_set_in_another_region_is_not_found_there(
    cloudops_worker: Any, azure_emulator: AzureEmulator, app: str
) -> None:
    accounts = azure_account_config(azure_emulator.url, regions=("eastus", "westus"))
    async with cloudops_worker(
        plugins=[cloudops_azure.plugin], load_entrypoints=False, accounts=accounts
    ) as ops:
        created = await ops.execute("azure.createServerGroup", create_input(app), **WHERE)
        assert created.ok, created.error
        name = created.value["name"]
        elsewhere = {"account": WHERE["account"], "region": "westus"}
        described = await ops.execute(
            "azure.describeServerGroup", {"server_group": name}, **elsewhere
        )
        assert not described.ok and described.error.code == "NOT_FOUND"
        destroyed = await ops.execute(
            "azure.destroyServerGroup", {"server_group": name, **FAST}, **elsewhere
        )
        assert destroyed.ok and destroyed.value["changed"] is False
        assert scale_set(azure_emulator, name) is not None


async def test_a_create_cancelled_while_creating_is_deleted_once_the_creation_ends(
    azure_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    """Azure refuses a DELETE while the create runs: the rollback waits, then deletes once."""
    import asyncio
    import time

    name = f"{app}-test-v000"
    path = (
        f"/subscriptions/{azure_emulator.subscription}/resourceGroups/{RG}/providers/"
        f"Microsoft.Compute/virtualMachineScaleSets/{name}"
    )
    azure_emulator.hold(name)
    handle = await azure_ops.submit(
        "azure.createServerGroup", create_input(app), request_id=f"{app}-cancel", **WHERE
    )
    deadline = time.monotonic() + 30
    while (await handle.progress()).current_step != "wait for provisioning":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    await handle.cancel()
    # Wait until the rollback has checked the scale set twice and held back its DELETE each time:
    # its activity is pending at attempt 3 or later, having failed with NotReady.
    polls = None
    deadline = time.monotonic() + 60
    while True:
        description = await handle.handle.describe()
        polls = next(
            (
                a
                for a in description.raw_description.pending_activities
                if a.activity_type.name == "azure.delete_scale_set"
            ),
            None,
        )
        if polls is not None and polls.attempt >= 3:
            break
        assert time.monotonic() < deadline, f"the rollback did not poll: {polls}"
        await asyncio.sleep(0.1)
    assert "Creating" in polls.last_failure.message, polls
    found = scale_set(azure_emulator, name)
    assert found is not None and found["properties"]["provisioningState"] == "Creating"
    assert azure_emulator.request_count("DELETE", path) == 0  # no DELETE doomed to a 409

    azure_emulator.release(name)
    result = await asyncio.wait_for(handle.result(), timeout=90)
    assert result.error is not None and result.error.code == "CANCELLED"
    assert [r.ok for r in result.error.rollbacks] == [True]
    assert scale_set(azure_emulator, name) is None
    assert azure_emulator.request_count("DELETE", path) == 1
