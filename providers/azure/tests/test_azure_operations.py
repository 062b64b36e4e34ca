"""What Azure adds to the contract's verbs, checked by reading the emulator's state.

The verbs' common behaviour is checked by the conformance suite (test_azure_conformance.py).
"""

from __future__ import annotations

from azure_testkit import (
    FAST,
    RG,
    WHERE,
    create_group,
    create_input,
    in_pool,
    pool_id,
    scale_set,
    vm_states,
)

from cloudops.client import CloudOpsClient
from cloudops_testing.azure_emulator import AzureEmulator
from cloudops_testing.fixtures_azure import AZURE_LOAD_BALANCER


async def test_resize_up_and_down(
    azure_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    name = await create_group(azure_ops, app, capacity={"min": 1, "max": 2, "desired": 1})
    up = await azure_ops.execute(
        "azure.resizeServerGroup",
        {"server_group": name, "capacity": {"min": 1, "max": 4, "desired": 3}, **FAST},
        **WHERE,
    )
    assert up.ok, up.error
    assert (up.value["instance_count"], up.value["healthy_count"], up.value["changed"]) == (
        3,
        3,
        True,
    )
    found = scale_set(azure_emulator, name)
    assert found is not None and found["sku"]["capacity"] == 3
    assert found["tags"]["cloudops:capacity-max"] == "4"
    assert vm_states(azure_emulator, name) == [("Succeeded", "running")] * 3

    down = await azure_ops.execute(
        "azure.resizeServerGroup",
        {"server_group": name, "capacity": {"min": 0, "max": 4, "desired": 1}, **FAST},
        **WHERE,
    )
    assert down.ok, down.error
    assert [vm["instanceId"] for vm in azure_emulator.instances(RG, name)] == ["0"]

    same = await azure_ops.execute(
        "azure.resizeServerGroup",
        {"server_group": name, "capacity": {"min": 0, "max": 4, "desired": 1}, **FAST},
        **WHERE,
    )
    assert same.ok and same.value["changed"] is False


async def test_disable_then_enable_moves_the_vms_out_of_and_into_the_pools(
    azure_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    name = await create_group(azure_ops, app, load_balancers=["cloudops-lb/web", "cloudops-lb/api"])
    members = {f"{name}_0", f"{name}_1"}
    assert in_pool(azure_emulator, "web", name) == members
    assert in_pool(azure_emulator, "api", name) == members

    disabled = await azure_ops.execute(
        "azure.disableServerGroup", {"server_group": name, **FAST}, **WHERE
    )
    assert disabled.ok, disabled.error
    assert disabled.value["disabled"] is True and disabled.value["changed"] is True
    assert (
        in_pool(azure_emulator, "web", name) == set()
        and in_pool(azure_emulator, "api", name) == set()
    )
    found = scale_set(azure_emulator, name)
    assert found is not None
    assert found["tags"]["cloudops:traffic"] == "disabled"
    assert found["tags"]["cloudops:backend-pools"] == "cloudops-lb/web,cloudops-lb/api"
    described = await azure_ops.execute(
        "azure.describeServerGroup", {"server_group": name}, **WHERE
    )
    assert described.ok and described.value["disabled"] is True
    assert {i["health"] for i in described.value["instances"]} == {"OutOfService"}

    again = await azure_ops.execute(
        "azure.disableServerGroup", {"server_group": name, **FAST}, **WHERE
    )
    assert again.ok and again.value["changed"] is False

    # A disabled group resized stays out of its pools.
    resized = await azure_ops.execute(
        "azure.resizeServerGroup",
        {"server_group": name, "capacity": {"min": 1, "max": 3, "desired": 3}, **FAST},
        **WHERE,
    )
    assert resized.ok and resized.value["disabled"] is True
    assert in_pool(azure_emulator, "web", name) == set()

    enabled = await azure_ops.execute(
        "azure.enableServerGroup", {"server_group": name, **FAST}, **WHERE
    )
    assert enabled.ok, enabled.error
    assert enabled.value["disabled"] is False and enabled.value["healthy_count"] == 3
    assert in_pool(azure_emulator, "web", name) == members | {f"{name}_2"}
    assert in_pool(azure_emulator, "api", name) == members | {f"{name}_2"}
    found = scale_set(azure_emulator, name)
    assert found is not None and "cloudops:traffic" not in found["tags"]
    described = await azure_ops.execute(
        "azure.describeServerGroup", {"server_group": name}, **WHERE
    )
    assert {i["health"] for i in described.value["instances"]} == {"Up"}
    assert described.value["instances"][0]["load_balancer_health"] == {"web": "in", "api": "in"}


async def test_terminate_instances_replacing_and_shrinking(
    azure_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    name = await create_group(azure_ops, app, capacity={"min": 2, "max": 3, "desired": 3})
    replaced = await azure_ops.execute(
        "azure.terminateInstances",
        {"server_group": name, "instance_ids": [f"{name}_0"], **FAST},
        **WHERE,
    )
    assert replaced.ok, replaced.error
    assert replaced.value["terminated"] == [f"{name}_0"]
    assert replaced.value["capacity"] == {"min": 2, "max": 3, "desired": 3}
    ids = [vm["instanceId"] for vm in azure_emulator.instances(RG, name)]
    assert "0" not in ids and len(ids) == 3
    assert vm_states(azure_emulator, name) == [("Succeeded", "running")] * 3

    shrunk = await azure_ops.execute(
        "azure.terminateInstances",
        {
            "server_group": name,
            "instance_ids": [f"{name}_1", "2"],
            "decrement_desired": True,
            **FAST,
        },
        **WHERE,
    )
    assert shrunk.ok, shrunk.error
    assert shrunk.value["capacity"] == {"min": 1, "max": 3, "desired": 1}
    found = scale_set(azure_emulator, name)
    assert found is not None and found["sku"]["capacity"] == 1
    assert found["tags"]["cloudops:capacity-min"] == "1"

    foreign = await azure_ops.execute(
        "azure.terminateInstances",
        {"server_group": name, "instance_ids": ["other-v000_1"], **FAST},
        **WHERE,
    )
    assert not foreign.ok and foreign.error.code == "INVALID_INPUT"


async def test_describe(azure_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str) -> None:
    name = await create_group(azure_ops, app, detail="canary", security_groups=["web-nsg"])
    result = await azure_ops.execute("azure.describeServerGroup", {"server_group": name}, **WHERE)
    assert result.ok, result.error
    value = result.value
    assert (value["application"], value["stack"], value["detail"]) == (app, "test", "canary")
    assert value["capacity"] == {"min": 1, "max": 3, "desired": 2}
    assert value["instance_type"] == "Standard_B1s"
    assert value["image"] == "Canonical:ubuntu-24_04-lts:server:latest"
    assert value["load_balancers"] == ["cloudops-lb/web"]
    assert value["backend_pools"] == [pool_id("web")]
    assert value["subnets"][0].endswith("/virtualNetworks/cloudops-vnet/subnets/default")
    assert value["security_groups"][0].endswith("/networkSecurityGroups/web-nsg")
    assert value["provisioning_state"] == "Succeeded" and value["upgrade_policy"] == "Automatic"
    assert value["resource_group"] == RG and value["region"] == "eastus"
    assert sorted(i["zone"] for i in value["instances"]) == ["1", "2"]
    assert {i["health"] for i in value["instances"]} == {"Up"}
    assert {i["state"] for i in value["instances"]} == {"Succeeded/running"}


async def test_clone_copies_user_data_and_image_and_sets_the_sku(
    azure_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    source = await create_group(azure_ops, app, user_data="#cloud-config\n")
    result = await azure_ops.execute(
        "azure.cloneServerGroup",
        {"source": source, "instance_type": "Standard_D2s_v5", **FAST},
        **WHERE,
    )
    assert result.ok, result.error
    original, copy = (
        scale_set(azure_emulator, source),
        scale_set(azure_emulator, result.value["name"]),
    )
    assert original is not None and copy is not None
    assert copy["sku"] == {"name": "Standard_D2s_v5", "tier": "Standard", "capacity": 2}
    src_profile = original["properties"]["virtualMachineProfile"]
    copy_profile = copy["properties"]["virtualMachineProfile"]
    assert copy_profile["userData"] == src_profile["userData"]
    assert (
        copy_profile["storageProfile"]["imageReference"]
        == (src_profile["storageProfile"]["imageReference"])
    )


async def test_disable_under_the_manual_upgrade_policy_upgrades_the_vms(
    azure_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    name = await create_group(azure_ops, app, upgrade_policy="Manual")
    assert in_pool(azure_emulator, "web", name) == {f"{name}_0", f"{name}_1"}
    disabled = await azure_ops.execute(
        "azure.disableServerGroup", {"server_group": name, **FAST}, **WHERE
    )
    assert disabled.ok, disabled.error
    assert in_pool(azure_emulator, "web", name) == set()
    assert all(vm["properties"]["latestModelApplied"] for vm in azure_emulator.instances(RG, name))
    kinds = [o["kind"] for o in azure_emulator.operations() if o["target"] == name]
    assert kinds == ["create", "update", "upgradeInstances"]
    enabled = await azure_ops.execute(
        "azure.enableServerGroup", {"server_group": name, **FAST}, **WHERE
    )
    assert enabled.ok, enabled.error
    assert in_pool(azure_emulator, "web", name) == {f"{name}_0", f"{name}_1"}


async def test_rolling_upgrade_policy_needs_a_probe_and_disable_waits_for_the_batches(
    azure_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    """Rolling needs a health probe; a model change reaches the VMs in batches, later."""
    refused = await azure_ops.execute(
        "azure.createServerGroup", create_input(app, upgrade_policy="Rolling"), **WHERE
    )
    assert not refused.ok and refused.error.code == "INVALID_INPUT"
    assert refused.error.details["errors"][0]["field"] == "health_probe"
    name = await create_group(
        azure_ops, app, upgrade_policy="Rolling", health_probe=f"{AZURE_LOAD_BALANCER}/health"
    )
    found = scale_set(azure_emulator, name)
    assert found is not None
    network = found["properties"]["virtualMachineProfile"]["networkProfile"]
    assert network["healthProbe"]["id"].endswith(f"/{AZURE_LOAD_BALANCER}/probes/health")
    assert in_pool(azure_emulator, "web", name) == {f"{name}_0", f"{name}_1"}
    disabled = await azure_ops.execute(
        "azure.disableServerGroup", {"server_group": name, **FAST}, **WHERE
    )
    assert disabled.ok, disabled.error
    assert in_pool(azure_emulator, "web", name) == set()  # every batch is done


async def test_list_server_groups(
    azure_ops: CloudOpsClient, azure_emulator: AzureEmulator, app: str
) -> None:
    one = {"min": 1, "max": 1, "desired": 1}
    first = await create_group(azure_ops, app, capacity=one)
    second = await create_group(azure_ops, app, capacity=one)
    gone = await create_group(azure_ops, app, capacity=one)
    await create_group(azure_ops, app, stack="other", capacity=one)
    disabled = await azure_ops.execute(
        "azure.disableServerGroup", {"server_group": first, **FAST}, **WHERE
    )
    assert disabled.ok, disabled.error
    azure_emulator.hold(gone)  # its deletion stays in progress: it must not be listed
    try:
        deleting = await azure_ops.execute(
            "azure.destroyServerGroup", {"server_group": gone, "wait": False, **FAST}, **WHERE
        )
        assert deleting.ok, deleting.error
        listed = await azure_ops.execute(
            "azure.listServerGroups", {"application": app, "stack": "test"}, **WHERE
        )
        held = scale_set(azure_emulator, gone)
        assert held is not None and held["properties"]["provisioningState"] == "Deleting"
    finally:
        azure_emulator.release(gone)
    assert listed.ok, listed.error
    assert listed.value["cluster"] == f"{app}-test"
    groups = listed.value["server_groups"]
    assert [g["name"] for g in groups] == [first, second]
    assert [g["disabled"] for g in groups] == [True, False]
    assert [len(g["instances"]) for g in groups] == [1, 1]
    assert all(g["resource_group"] == RG for g in groups)
    assert groups[1]["load_balancers"] == ["cloudops-lb/web"]

    empty = await azure_ops.execute(
        "azure.listServerGroups", {"application": f"{app}x", "resource_group": RG}, **WHERE
    )
    assert empty.ok, empty.error
    assert empty.value["server_groups"] == []
