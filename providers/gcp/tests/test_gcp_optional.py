"""The optional verbs GCP offers (the autoscaler as the group's scaling policy) on a real
Temporal server, read back from the emulator with the official client: set, repeated without a
second change, undone when an operation composing it (``testkit.thenFail``) fails, deleted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from gcp_testkit import FAST, IMAGE, WHERE, create_input
from test_gcp_autoscaler import kinds_on, read_autoscaler

import cloudops_gcp.plugin
from cloudops.client import CloudOpsClient
from cloudops_testing import then_fail
from cloudops_testing.fixtures_gcp import GCP_PROJECT
from cloudops_testing.gcp_emulator import ApiError, GcpEmulator


@pytest.fixture
async def ops(cloudops_worker: Any, gcp_accounts: dict[str, Any]) -> AsyncIterator[CloudOpsClient]:
    async with cloudops_worker(
        plugins=[cloudops_gcp.plugin, then_fail], load_entrypoints=False, accounts=gcp_accounts
    ) as client:
        yield client


def _cpu(group: str, percent: float) -> dict[str, Any]:
    return {"server_group": group, "policy_name": "cpu", "target_tracking": {"target": percent}}


async def test_the_autoscaler_is_the_scaling_policy(
    ops: CloudOpsClient, gcp_emulator: GcpEmulator, gcp_client: Callable[[str], Any], app: str
) -> None:
    made = await ops.execute("gcp.createServerGroup", create_input(app), **WHERE)
    assert made.ok, made.error
    group = made.value["name"]
    assert await read_autoscaler(gcp_client, group) is None

    first = await ops.execute("gcp.upsertScalingPolicy", _cpu(group, 50), **WHERE)
    assert first.ok and first.value["changed"], first.error
    scaler = await read_autoscaler(gcp_client, group)
    assert scaler.autoscaling_policy.cpu_utilization.utilization_target == 0.5
    assert (
        scaler.autoscaling_policy.min_num_replicas,
        scaler.autoscaling_policy.max_num_replicas,
    ) == (2, 2)
    again = await ops.execute("gcp.upsertScalingPolicy", _cpu(group, 50), **WHERE)
    assert again.ok and not again.value["changed"]
    assert kinds_on(gcp_emulator, group).count("autoscalers.insert") == 1
    assert "autoscalers.patch" not in kinds_on(gcp_emulator, group)

    step = {
        "server_group": group,
        "policy_name": "up",
        "step": {
            "steps": [{"adjustment": 1}],
            "alarm": {"comparison": "GreaterThanThreshold", "threshold": 80},
        },
    }
    refused = await ops.execute("gcp.upsertScalingPolicy", step, **WHERE)
    assert refused.error.code == "INVALID_INPUT"

    # Composed and then failing: the previous policy comes back, a deleted autoscaler too.
    for change in (
        {"operation": "gcp.upsertScalingPolicy", "input": _cpu(group, 80)},
        {
            "operation": "gcp.deleteScalingPolicy",
            "input": {"server_group": group, "policy_name": "cpu"},
        },
    ):
        failed = await ops.execute("testkit.thenFail", {"steps": [change]}, **WHERE)
        assert not failed.ok and [r.ok for r in failed.error.rollbacks] == [True], failed.error
        scaler = await read_autoscaler(gcp_client, group)
        assert scaler is not None
        assert scaler.autoscaling_policy.cpu_utilization.utilization_target == 0.5

    for _ in range(2):
        deleted = await ops.execute(
            "gcp.deleteScalingPolicy", {"server_group": group, "policy_name": "cpu"}, **WHERE
        )
        assert deleted.ok, deleted.error
    assert not deleted.value["changed"]
    assert await read_autoscaler(gcp_client, group) is None


async def _copies(ops: CloudOpsClient, app: str, **settings: Any) -> tuple[list[str], str]:
    """A source group with ``settings``, its clone and a create from it; what the create copied."""
    made = await ops.execute("gcp.createServerGroup", create_input(app, **settings), **WHERE)
    assert made.ok, made.error
    source = made.value["name"]
    clone = await ops.execute("gcp.cloneServerGroup", {"source": source, **FAST}, **WHERE)
    assert clone.ok, clone.error
    sourced = await ops.execute("gcp.createServerGroup", create_input(app, source=source), **WHERE)
    assert sourced.ok, sourced.error
    names = [source, clone.value["name"], sourced.value["name"]]
    return names, str(sourced.value["resources"]["scaling_copied"])


async def test_clones_and_sourced_creates_copy_the_auto_healing_policy(
    ops: CloudOpsClient, gcp_client: Callable[[str], Any], app: str
) -> None:
    healing = {"health_check": "hc-web", "initial_delay_seconds": 120}
    names, copied = await _copies(ops, app, auto_healing=healing)
    assert copied == "auto_healing=1"
    for name in names:
        group = await asyncio.to_thread(
            gcp_client("InstanceGroupManagersClient").get,
            project=GCP_PROJECT,
            zone="us-central1-a",
            instance_group_manager=name,
        )
        (policy,) = group.auto_healing_policies
        assert policy.health_check.endswith(f"projects/{GCP_PROJECT}/global/healthChecks/hc-web")
        assert policy.initial_delay_sec == 120


async def _new_group(ops: CloudOpsClient, app: str) -> str:
    made = await ops.execute("gcp.createServerGroup", create_input(app), **WHERE)
    assert made.ok, made.error
    return str(made.value["name"])


async def _group_and_instance(ops: CloudOpsClient, app: str) -> tuple[str, str]:
    """A new group of two, and the first of its instances."""
    group = await _new_group(ops, app)
    described = await ops.execute("gcp.describeServerGroup", {"server_group": group}, **WHERE)
    return group, sorted(i["id"] for i in described.value["instances"])[0]


async def test_detach_abandons_an_instance_that_keeps_running(
    ops: CloudOpsClient, gcp_client: Callable[[str], Any], app: str
) -> None:
    group, first = await _group_and_instance(ops, app)
    detach = {"server_group": group, "instance_ids": [first]}
    refused = await ops.execute(
        "gcp.detachInstances", {**detach, "decrement_desired": False}, **WHERE
    )
    assert refused.error.code == "INVALID_INPUT"
    detached = await ops.execute("gcp.detachInstances", detach, **WHERE)
    assert detached.ok and detached.value["changed"], detached.error
    again = await ops.execute("gcp.detachInstances", detach, **WHERE)
    assert again.ok and not again.value["changed"], again.value
    after = await ops.execute("gcp.describeServerGroup", {"server_group": group}, **WHERE)
    assert after.value["capacity"]["desired"] == 1
    assert first not in [i["id"] for i in after.value["instances"]]
    instance = await asyncio.to_thread(
        gcp_client("InstancesClient").get,
        project=GCP_PROJECT,
        zone="us-central1-a",
        instance=first.rsplit("/", 1)[-1],
    )
    assert instance.status == "RUNNING"


#: Another image of the emulator's list (an update to it).
IMAGE_V2 = "projects/debian-cloud/global/images/debian-12-bookworm-v20240515"


def _group(gcp_client: Callable[[str], Any], name: str) -> Any:
    return gcp_client("InstanceGroupManagersClient").get(
        project=GCP_PROJECT, zone="us-central1-a", instance_group_manager=name
    )


def _template_of(gcp_client: Callable[[str], Any], name: str) -> Any:
    group = _group(gcp_client, name)
    return gcp_client("InstanceTemplatesClient").get(
        project=GCP_PROJECT, instance_template=group.instance_template.rsplit("/", 1)[-1]
    )


def _templates(gcp_client: Callable[[str], Any]) -> list[str]:
    return sorted(t.name for t in gcp_client("InstanceTemplatesClient").list(project=GCP_PROJECT))


async def test_update_launch_template_sets_a_new_template_and_goes_back_on_failure(
    ops: CloudOpsClient, gcp_emulator: GcpEmulator, gcp_client: Callable[[str], Any], app: str
) -> None:
    group = await _new_group(ops, app)
    first = (await asyncio.to_thread(_template_of, gcp_client, group)).name
    before = await asyncio.to_thread(_templates, gcp_client)
    change = {"server_group": group, "instance_type": "e2-medium", "user_data": "echo hi", **FAST}
    change["image"] = IMAGE_V2

    updated = await ops.execute("gcp.updateLaunchTemplate", change, **WHERE)
    assert updated.ok and updated.value["changed"], updated.error
    template = await asyncio.to_thread(_template_of, gcp_client, group)
    assert template.name == updated.value["resources"]["current"] != first
    assert updated.value["resources"]["previous"] == first
    assert template.properties.machine_type == "e2-medium"
    (disk,) = template.properties.disks
    assert disk.initialize_params.source_image.endswith(IMAGE_V2)
    metadata = {i.key: i.value for i in template.properties.metadata.items}
    assert metadata["startup-script"] == "echo hi"
    assert dict(template.properties.labels) == {"team": "cloudops"}
    after = await asyncio.to_thread(_templates, gcp_client)
    assert len(after) == len(before) + 1

    # The same change again makes no second template.
    again = await ops.execute("gcp.updateLaunchTemplate", change, **WHERE)
    assert again.ok and not again.value["changed"], again.error
    assert await asyncio.to_thread(_templates, gcp_client) == after

    # Rolling: every instance is recreated from the new template.
    rolled = await ops.execute(
        "gcp.updateLaunchTemplate",
        {**change, "instance_type": "e2-standard-2", "roll_instances": True, "roll_batch_size": 2},
        **WHERE,
    )
    assert rolled.ok, rolled.error
    assert len(rolled.value["resources"]["replaced"].split(",")) == 2
    current = rolled.value["resources"]["current"]
    managed = gcp_client("InstanceGroupManagersClient").list_managed_instances(
        project=GCP_PROJECT, zone="us-central1-a", instance_group_manager=group
    )
    assert {m.version.instance_template.rsplit("/", 1)[-1] for m in managed} == {current}

    # A replacement GCP refuses: the group goes back to its template, the copy is deleted.
    gcp_emulator.fail_next(
        "instanceGroupManagers.recreateInstances",
        ApiError(403, "quotaExceeded", "Quota 'CPUS' exceeded.", "QUOTA_EXCEEDED"),
    )
    failed = await ops.execute(
        "gcp.updateLaunchTemplate", {**change, "image": IMAGE, "roll_instances": True}, **WHERE
    )
    assert failed.error.code == "QUOTA_EXCEEDED"
    assert [r.ok for r in failed.error.rollbacks] == [True], failed.error
    assert (await asyncio.to_thread(_template_of, gcp_client, group)).name == current
    assert len(await asyncio.to_thread(_templates, gcp_client)) == len(before) + 2

    # Composed and then failing: the same.
    failed = await ops.execute(
        "testkit.thenFail",
        {
            "steps": [
                {
                    "operation": "gcp.updateLaunchTemplate",
                    "input": {**change, "instance_type": "e2-micro"},
                }
            ]
        },
        **WHERE,
    )
    assert not failed.ok and [r.ok for r in failed.error.rollbacks] == [True], failed.error
    template = await asyncio.to_thread(_template_of, gcp_client, group)
    assert template.name == current and template.properties.machine_type == "e2-standard-2"
    assert len(await asyncio.to_thread(_templates, gcp_client)) == len(before) + 2

    refused = await ops.execute(
        "gcp.updateLaunchTemplate", {"server_group": group, "key_name": "mine"}, **WHERE
    )
    assert refused.error.code == "INVALID_INPUT" and "key_name" in str(refused.error.details)

    # The group's destroy takes along the templates its updates replaced.
    destroyed = await ops.execute(
        "gcp.destroyServerGroup", {"server_group": group, **FAST}, **WHERE
    )
    assert destroyed.ok, destroyed.error
    assert not [t for t in await asyncio.to_thread(_templates, gcp_client) if t.startswith(group)]


async def test_labels_of_the_template_upsert_delete_and_undo(
    ops: CloudOpsClient, gcp_client: Callable[[str], Any], app: str
) -> None:
    group = await _new_group(ops, app)
    first = (await asyncio.to_thread(_template_of, gcp_client, group)).name
    labels = {"server_group": group, "tags": {"env": "prod", "team": "web"}}

    upserted = await ops.execute("gcp.upsertServerGroupTags", labels, **WHERE)
    assert upserted.ok and upserted.value["changed"], upserted.error
    template = await asyncio.to_thread(_template_of, gcp_client, group)
    assert dict(template.properties.labels) == {"env": "prod", "team": "web"}
    count = len(await asyncio.to_thread(_templates, gcp_client))
    again = await ops.execute("gcp.upsertServerGroupTags", labels, **WHERE)
    assert again.ok and not again.value["changed"]
    assert len(await asyncio.to_thread(_templates, gcp_client)) == count

    deleted = await ops.execute(
        "gcp.deleteServerGroupTags", {"server_group": group, "keys": ["env"]}, **WHERE
    )
    assert deleted.ok and deleted.value["changed"], deleted.error
    template = await asyncio.to_thread(_template_of, gcp_client, group)
    assert dict(template.properties.labels) == {"team": "web"}

    # A change inside an operation that then fails: the template before it comes back.
    failed = await ops.execute(
        "testkit.thenFail",
        {
            "steps": [
                {
                    "operation": "gcp.upsertServerGroupTags",
                    "input": {"server_group": group, "tags": {"team": "db"}},
                }
            ]
        },
        **WHERE,
    )
    assert not failed.ok and [r.ok for r in failed.error.rollbacks] == [True], failed.error
    back = await asyncio.to_thread(_template_of, gcp_client, group)
    assert back.name == template.name and dict(back.properties.labels) == {"team": "web"}
    assert len(await asyncio.to_thread(_templates, gcp_client)) == count + 1
    assert first in await asyncio.to_thread(_templates, gcp_client)

    for bad in ({"Team": "web"}, {"team": "Web"}, {"team": "x" * 64}):
        refused = await ops.execute(
            "gcp.upsertServerGroupTags", {"server_group": group, "tags": bad}, **WHERE
        )
        assert refused.error.code == "INVALID_INPUT" and "tags" in str(refused.error), bad


async def test_reboot_resets_instances_of_the_group(
    ops: CloudOpsClient, gcp_client: Callable[[str], Any], app: str
) -> None:
    group, first = await _group_and_instance(ops, app)

    def resets() -> list[str]:
        found = gcp_client("ZoneOperationsClient").list(project=GCP_PROJECT, zone="us-central1-a")
        return [o.target_link.rsplit("/", 1)[-1] for o in found if o.operation_type == "reset"]

    rebooted = await ops.execute(
        "gcp.rebootInstances", {"server_group": group, "instance_ids": [first]}, **WHERE
    )
    assert rebooted.ok and rebooted.value["resources"]["instances"] == first, rebooted.error
    assert await asyncio.to_thread(resets) == [first]
    outsider = await ops.execute(
        "gcp.rebootInstances", {"server_group": group, "instance_ids": [first, "vm-x"]}, **WHERE
    )
    assert outsider.error.code == "NOT_FOUND" and "vm-x" in outsider.error.message
    assert await asyncio.to_thread(resets) == [first]


async def test_clones_and_sourced_creates_copy_the_named_ports(
    ops: CloudOpsClient, gcp_client: Callable[[str], Any], app: str
) -> None:
    ports = {"http": 8080, "grpc": 9090}
    names, copied = await _copies(ops, app, named_ports=ports)
    assert copied == "named_ports=1"
    source = names[0]
    own = await ops.execute(
        "gcp.cloneServerGroup", {"source": source, "named_ports": {"web": 80}, **FAST}, **WHERE
    )
    assert own.ok, own.error

    def named(name: str) -> dict[str, int]:
        group = gcp_client("InstanceGroupsClient").get(
            project=GCP_PROJECT, zone="us-central1-a", instance_group=name
        )
        return {p.name: p.port for p in group.named_ports}

    for name in names:
        assert await asyncio.to_thread(named, name) == ports, name
    assert await asyncio.to_thread(named, own.value["name"]) == {"web": 80}
