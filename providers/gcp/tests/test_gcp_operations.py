"""What GCP adds to the contract's verbs, checked by reading the emulator's state.

The verbs' common behaviour is checked by the conformance suite (test_gcp_conformance.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from gcp_testkit import FAST, WHERE, create_input

from cloudops.client import CloudOpsClient
from cloudops_testing.checks import succeed
from cloudops_testing.fixtures_gcp import GCP_REGION
from cloudops_testing.gcp_emulator import GcpEmulator


@pytest.fixture
async def group(gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, app: str) -> dict[str, Any]:
    """A zonal server group of 2 behind a backend service and a target pool of its own."""
    gcp_emulator.add_backend_service(f"{app}-web")
    gcp_emulator.add_target_pool(GCP_REGION, f"{app}-pool")
    result = await gcp_ops.execute(
        "gcp.createServerGroup",
        create_input(app, load_balancers=[f"{app}-web"], target_pools=[f"{app}-pool"]),
        request_id=f"{app}-create",
        **WHERE,
    )
    assert result.ok, result.error
    return {
        "name": result.value["name"],
        "app": app,
        "service": f"{app}-web",
        "pool": f"{app}-pool",
        "template": result.value["resources"]["instance_template"],
    }


def backends(emulator: GcpEmulator, service: str) -> list[str]:
    found = emulator.backend_service(service)
    assert found is not None
    return [b["group"].rsplit("/", 1)[-1] for b in found.get("backends", [])]


def pool_members(emulator: GcpEmulator, pool: str) -> set[str]:
    found = emulator.target_pool(GCP_REGION, pool)
    assert found is not None
    return {i.rsplit("/", 1)[-1] for i in found["instances"]}


def members(emulator: GcpEmulator, name: str) -> set[str]:
    return {i["name"] for i in emulator.instances(name) if i["currentAction"] != "DELETING"}


async def test_create_adds_the_group_to_its_load_balancers_and_describe_shows_it(
    gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, group: dict[str, Any]
) -> None:
    name = group["name"]
    assert backends(gcp_emulator, group["service"]) == [name]
    assert pool_members(gcp_emulator, group["pool"]) == members(gcp_emulator, name)
    found = gcp_emulator.group(name)
    assert found is not None
    assert [p.rsplit("/", 1)[-1] for p in found["targetPools"]] == [group["pool"]]
    # The backend service's portName ("http") is a named port of the instance group.
    assert found["namedPorts"] == [{"name": "http", "port": 80}]
    template = gcp_emulator.template(group["template"])
    assert template is not None
    metadata = {i["key"]: i["value"] for i in template["properties"]["metadata"]["items"]}
    assert metadata["backend-service-names"] == group["service"]
    assert metadata["load-balancer-names"] == group["pool"]

    result = await gcp_ops.execute(
        "gcp.describeServerGroup", {"server_group": group["name"]}, **WHERE
    )
    assert result.ok, result.error
    value = result.value
    assert value["name"] == group["name"]
    assert value["cluster"] == f"{group['app']}-test"
    assert value["application"] == group["app"]
    assert value["stack"] == "test"
    assert value["sequence"] == 0
    assert value["capacity"] == {"min": 2, "max": 2, "desired": 2}
    assert value["image"] == "projects/debian-cloud/global/images/family/debian-12"
    assert value["instance_type"] == "e2-small"
    assert value["disabled"] is False
    assert value["zone"] == "us-central1-a" and value["regional"] is False
    assert value["zones"] == ["us-central1-a"]
    assert value["load_balancers"] == [group["service"]]
    assert value["target_pools"] == [group["pool"]]
    assert value["security_groups"] == ["web"]
    assert value["tags"] == {"team": "cloudops"}
    assert value["instance_template"] == group["template"]
    assert value["request_id"] == f"{group['app']}-create"
    assert value["is_stable"] is True
    assert len(value["instances"]) == 2
    assert {i["health"] for i in value["instances"]} == {"Up"}
    assert all(
        i["load_balancer_health"] == {group["service"]: "HEALTHY"} for i in value["instances"]
    )


async def test_resize(
    gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, group: dict[str, Any]
) -> None:
    name = group["name"]
    result = await gcp_ops.execute(
        "gcp.resizeServerGroup",
        {"server_group": name, "capacity": {"min": 2, "max": 5, "desired": 3}, **FAST},
        **WHERE,
    )
    assert result.ok, result.error
    assert result.value["healthy_count"] == 3
    assert result.value["capacity"] == {"min": 3, "max": 3, "desired": 3}
    found = gcp_emulator.group(name)
    assert found is not None and found["targetSize"] == 3
    assert len(members(gcp_emulator, name)) == 3
    assert len(pool_members(gcp_emulator, group["pool"])) == 3

    down = await gcp_ops.execute(
        "gcp.resizeServerGroup",
        {"server_group": name, "capacity": {"min": 0, "max": 5, "desired": 1}, **FAST},
        **WHERE,
    )
    assert down.ok, down.error
    found = gcp_emulator.group(name)
    assert found is not None and found["targetSize"] == 1
    assert len(gcp_emulator.instances(name)) == 1

    same = await gcp_ops.execute(
        "gcp.resizeServerGroup",
        {"server_group": name, "capacity": {"min": 1, "max": 1, "desired": 1}, **FAST},
        **WHERE,
    )
    assert same.ok and same.value["changed"] is False
    resizes = [
        m for m in gcp_emulator.mutations("instanceGroupManagers.resize") if name in m.target
    ]
    assert len(resizes) == 2 and len({m.request_id for m in resizes}) == 2


async def test_resize_keeps_a_disabled_group_disabled(
    gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, group: dict[str, Any]
) -> None:
    name = group["name"]
    await succeed(gcp_ops, "gcp.disableServerGroup", {"server_group": name, **FAST}, **WHERE)
    result = await gcp_ops.execute(
        "gcp.resizeServerGroup",
        {"server_group": name, "capacity": {"min": 3, "max": 3, "desired": 3}, **FAST},
        **WHERE,
    )
    assert result.ok, result.error
    assert result.value["disabled"] is True
    assert backends(gcp_emulator, group["service"]) == []
    assert pool_members(gcp_emulator, group["pool"]) == set()
    assert len(members(gcp_emulator, name)) == 3


async def test_terminate_instances(
    gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, group: dict[str, Any]
) -> None:
    name = group["name"]
    first, second = sorted(members(gcp_emulator, name))
    before = {i["name"]: i["id"] for i in gcp_emulator.instances(name)}

    # Recreate one instance (shrinking is in the conformance suite): same name, a new VM
    # (new id); the group keeps its size.
    replaced = await gcp_ops.execute(
        "gcp.terminateInstances", {"server_group": name, "instance_ids": [first], **FAST}, **WHERE
    )
    assert replaced.ok, replaced.error
    assert replaced.value["terminated"] == [first]
    after = {i["name"]: i for i in gcp_emulator.instances(name)}
    assert set(after) == {first, second}
    assert after[first]["id"] != before[first] and after[first]["status"] == "RUNNING"

    unknown = await gcp_ops.execute(
        "gcp.terminateInstances",
        {"server_group": name, "instance_ids": ["someone-else-abcd"], **FAST},
        **WHERE,
    )
    assert not unknown.ok
    assert unknown.error.code == "NOT_FOUND"

    # Abandon: the instance leaves the group but keeps running.
    abandoned = await gcp_ops.execute(
        "gcp.terminateInstances",
        {"server_group": name, "instance_ids": [first], "abandon": True, **FAST},
        **WHERE,
    )
    assert abandoned.ok, abandoned.error
    found = gcp_emulator.group(name)
    assert found is not None and found["targetSize"] == 1
    left = [i for i in gcp_emulator.instances() if i["name"] == first]
    assert left and left[0]["group"] is None and left[0]["status"] == "RUNNING"


async def test_clone_carries_zone_load_balancers_and_network_tags(
    gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, group: dict[str, Any]
) -> None:
    name = group["name"]
    result = await gcp_ops.execute(
        "gcp.cloneServerGroup", {"source": name, "instance_type": "e2-medium", **FAST}, **WHERE
    )
    assert result.ok, result.error
    clone = result.value["name"]
    found = gcp_emulator.group(clone)
    assert found is not None
    assert found["zone"].endswith("/zones/us-central1-a")
    assert [p.rsplit("/", 1)[-1] for p in found["targetPools"]] == [group["pool"]]
    assert sorted(backends(gcp_emulator, group["service"])) == sorted([name, clone])
    template = gcp_emulator.template(result.value["resources"]["instance_template"])
    assert template is not None
    assert template["properties"]["machineType"] == "e2-medium"
    assert template["properties"]["tags"]["items"] == ["web"]


async def test_list_server_groups(
    gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, group: dict[str, Any]
) -> None:
    app, first = group["app"], group["name"]
    lb = {"load_balancers": [group["service"]], "target_pools": [group["pool"]]}
    one = {"min": 1, "max": 1, "desired": 1}
    regional = await gcp_ops.execute(
        "gcp.createServerGroup",
        create_input(app, zones=["us-central1-a", "us-central1-b"], capacity=one, **lb),
        **WHERE,
    )
    assert regional.ok, regional.error
    other = await gcp_ops.execute(
        "gcp.createServerGroup", create_input(app, stack="other", capacity=one), **WHERE
    )
    assert other.ok, other.error
    disabled = await gcp_ops.execute(
        "gcp.disableServerGroup", {"server_group": first, **FAST}, **WHERE
    )
    assert disabled.ok, disabled.error

    listed = await gcp_ops.execute(
        "gcp.listServerGroups", {"application": app, "stack": "test"}, **WHERE
    )
    assert listed.ok, listed.error
    assert listed.value["cluster"] == f"{app}-test"
    groups = listed.value["server_groups"]
    assert [g["name"] for g in groups] == [first, f"{app}-test-v001"]
    assert [g["regional"] for g in groups] == [False, True]
    assert [g["disabled"] for g in groups] == [True, False]
    assert [len(g["instances"]) for g in groups] == [2, 1]
    assert groups[1]["zones"] == ["us-central1-a", "us-central1-b"]
    assert groups[1]["active_backend_services"] == [group["service"]]

    empty = await gcp_ops.execute("gcp.listServerGroups", {"application": f"{app}x"}, **WHERE)
    assert empty.ok, empty.error
    assert empty.value["server_groups"] == []


def test_a_group_being_deleted_is_told_from_one_scaling_in() -> None:
    from types import SimpleNamespace

    from cloudops_gcp.activities import _being_deleted

    def group(target_size: int, **actions: int) -> Any:
        return SimpleNamespace(target_size=target_size, current_actions=SimpleNamespace(**actions))

    assert _being_deleted(group(2, deleting=2, none=0))
    assert not _being_deleted(group(2, deleting=1, none=2))  # scaling in from 3
    assert not _being_deleted(group(0, deleting=2))  # resized to 0: kept
    assert not _being_deleted(group(2, none=2))


async def test_a_group_on_a_regional_instance_template(
    gcp_ops: CloudOpsClient, gcp_emulator: GcpEmulator, gcp_client: Any, app: str
) -> None:
    """Groups may use regionInstanceTemplates: describe reads it, destroy deletes it."""
    from google.cloud import compute_v1 as v1

    from cloudops_testing.fixtures_gcp import GCP_PROJECT

    name, where = f"{app}-test-v000", {"project": GCP_PROJECT, "region": GCP_REGION}
    image = "projects/debian-cloud/global/images/family/debian-12"
    disk = v1.AttachedDisk(
        boot=True, initialize_params=v1.AttachedDiskInitializeParams(source_image=image)
    )
    body = v1.InstanceTemplate(
        name=name, properties=v1.InstanceProperties(machine_type="e2-small", disks=[disk])
    )
    op = gcp_client("RegionInstanceTemplatesClient").insert_unary(
        **where, instance_template_resource=body
    )
    gcp_client("RegionOperationsClient").wait(**where, operation=op.name)
    group = v1.InstanceGroupManager(
        name=name,
        base_instance_name=name,
        target_size=1,
        instance_template=f"projects/{GCP_PROJECT}/regions/{GCP_REGION}/instanceTemplates/{name}",
    )
    op = gcp_client("InstanceGroupManagersClient").insert_unary(
        project=GCP_PROJECT, zone="us-central1-a", instance_group_manager_resource=group
    )
    gcp_client("ZoneOperationsClient").wait(
        project=GCP_PROJECT, zone="us-central1-a", operation=op.name
    )
    described = await gcp_ops.execute("gcp.describeServerGroup", {"server_group": name}, **WHERE)
    assert described.ok, described.error
    template = f"regions/{GCP_REGION}/instanceTemplates/{name}"
    assert (described.value["instance_template"], described.value["image"]) == (template, image)
    destroyed = await gcp_ops.execute(
        "gcp.destroyServerGroup", {"server_group": name, **FAST}, **WHERE
    )
    assert destroyed.ok, destroyed.error
    assert destroyed.value["resources"]["instance_template"] == template
    assert f"projects/{GCP_PROJECT}/{template}" not in gcp_emulator.state.templates
