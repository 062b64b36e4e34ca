"""Every verb of the contract on a real Temporal server, each read back from the SQLite cloud."""

from __future__ import annotations

from pathlib import Path

import pytest
from reference_testkit import FAST, create_input, fail, read_group, read_groups, succeed

import cloudops_reference.plugin as plugin
from cloudops.client import CloudOpsClient
from cloudops.registry import CloudOps
from cloudops.servergroups.contract import TAG_REQUEST_ID, VERBS, ownership_tags
from cloudops.servergroups.models import HealthState, ServerGroupDescription


def stored(cloud_db: Path, name: str) -> ServerGroupDescription:
    found = read_group(cloud_db, name)
    assert found is not None, f"{name} is not in the cloud"
    return found


def test_the_plugin_registers_every_verb_of_the_contract() -> None:
    catalogue = CloudOps([plugin], load_entrypoints=False).catalogue
    assert list(catalogue.operations) == [f"reference.{verb}" for verb in VERBS]
    assert all(name.startswith("reference.") for name in catalogue.activities)
    assert catalogue.providers["reference"].provider.classify is not None


@pytest.fixture
async def group(ref_ops: CloudOpsClient, app: str) -> str:
    """A server group of two running instances, in traffic."""
    return str((await succeed(ref_ops, "createServerGroup", create_input(app)))["name"])


async def test_create_waits_until_the_instances_run(
    ref_ops: CloudOpsClient, cloud_db: Path, app: str
) -> None:
    result = await ref_ops.execute(
        "reference.createServerGroup",
        create_input(app),
        request_id=f"{app}-create",
        account="reference",
        region="local-1",
    )
    assert result.ok and result.value is not None and result.metadata is not None, result.error
    assert result.value["name"] == f"{app}-test-v000"
    assert (result.value["instance_count"], result.value["healthy_count"]) == (2, 2)
    steps = [step.name for step in result.metadata.steps]
    assert steps == ["choose name", "create group", "wait for instances"]

    found = stored(cloud_db, f"{app}-test-v000")
    assert found.capacity.model_dump() == {"min": 1, "max": 4, "desired": 2}
    assert [i.zone for i in found.instances] == ["local-1a", "local-1b"]
    assert {i.health for i in found.instances} == {HealthState.UP}
    assert {i.state for i in found.instances} == {"running"}
    assert found.image == "img-1" and found.load_balancers == ["lb-1"]
    mine = ownership_tags(f"{app}-create", found.name, f"{app}-test", app)
    assert found.tags == {"team": "core", **mine}


async def test_instances_start_before_they_run(
    ref_ops: CloudOpsClient, cloud_db: Path, app: str
) -> None:
    """Without ``wait`` the create answers at once, its instances still starting."""
    done = await succeed(ref_ops, "createServerGroup", create_input(app, wait=False))
    assert done["healthy_count"] == 0
    found = stored(cloud_db, done["name"])
    assert {i.health for i in found.instances} == {HealthState.STARTING}


async def test_clone_copies_the_source_with_overrides(
    ref_ops: CloudOpsClient, cloud_db: Path, group: str, app: str
) -> None:
    clone = {"source": group, "image": "img-2", "tags": {"release": "2"}, **FAST}
    done = await succeed(ref_ops, "cloneServerGroup", clone)
    assert done["name"] == f"{app}-test-v001"
    assert done["resources"] == {"source": group}
    copy = stored(cloud_db, f"{app}-test-v001")
    assert (copy.image, copy.instance_type) == ("img-2", "small")
    assert copy.zones == ["local-1a", "local-1b"] and copy.load_balancers == ["lb-1"]
    assert copy.tags["team"] == "core" and copy.tags["release"] == "2"
    assert copy.tags[TAG_REQUEST_ID] != stored(cloud_db, group).tags[TAG_REQUEST_ID]
    assert copy.healthy_count == 2


async def test_resize_up_and_down(ref_ops: CloudOpsClient, cloud_db: Path, group: str) -> None:
    up = {"server_group": group, "capacity": {"min": 2, "max": 5, "desired": 3}, **FAST}
    done = await succeed(ref_ops, "resizeServerGroup", up)
    assert (done["instance_count"], done["healthy_count"]) == (3, 3)
    found = stored(cloud_db, group)
    assert found.capacity.model_dump() == {"min": 2, "max": 5, "desired": 3}
    assert found.healthy_count == 3

    down = {"server_group": group, "capacity": {"min": 0, "max": 5, "desired": 1}, **FAST}
    await succeed(ref_ops, "resizeServerGroup", down)
    assert len(stored(cloud_db, group).instances) == 1


async def test_disable_then_enable(ref_ops: CloudOpsClient, cloud_db: Path, group: str) -> None:
    change = {"server_group": group, **FAST}
    disabled = await succeed(ref_ops, "disableServerGroup", change)
    assert (disabled["disabled"], disabled["healthy_count"]) == (True, 0)
    found = stored(cloud_db, group)
    assert found.disabled
    assert {i.health for i in found.instances} == {HealthState.OUT_OF_SERVICE}
    assert {i.state for i in found.instances} == {"running"}  # out of traffic, still running
    assert (await succeed(ref_ops, "disableServerGroup", change))["changed"] is False

    enabled = await succeed(ref_ops, "enableServerGroup", change)
    assert (enabled["disabled"], enabled["healthy_count"]) == (False, 2)
    found = stored(cloud_db, group)
    assert not found.disabled
    assert {i.health for i in found.instances} == {HealthState.UP}


async def test_destroy_twice(ref_ops: CloudOpsClient, cloud_db: Path, group: str) -> None:
    change = {"server_group": group, **FAST}
    assert (await succeed(ref_ops, "destroyServerGroup", change))["changed"] is True
    assert read_group(cloud_db, group) is None
    assert (await succeed(ref_ops, "destroyServerGroup", change))["changed"] is False


async def test_terminate_replaces_the_instances(
    ref_ops: CloudOpsClient, cloud_db: Path, group: str
) -> None:
    victim = stored(cloud_db, group).instances[0].id
    terminate = {"server_group": group, "instance_ids": [victim, "i-gone"], **FAST}
    done = await succeed(ref_ops, "terminateInstances", terminate)
    assert (done["terminated"], done["already_gone"]) == ([victim], ["i-gone"])
    after = stored(cloud_db, group)
    assert after.capacity.desired == 2
    ids = {i.id for i in after.instances}
    assert len(ids) == 2 and victim not in ids
    assert after.healthy_count == 2  # the replacement was waited for


async def test_terminate_and_decrement_desired(
    ref_ops: CloudOpsClient, cloud_db: Path, group: str
) -> None:
    victims = [i.id for i in stored(cloud_db, group).instances]
    terminate = {"server_group": group, "instance_ids": victims, "decrement_desired": True}
    done = await succeed(ref_ops, "terminateInstances", {**terminate, **FAST})
    assert done["capacity"] == {"min": 0, "max": 4, "desired": 0}
    after = stored(cloud_db, group)
    assert after.instances == []
    assert after.capacity.model_dump() == {"min": 0, "max": 4, "desired": 0}


async def test_describe(ref_ops: CloudOpsClient, group: str, app: str) -> None:
    found = await succeed(ref_ops, "describeServerGroup", {"server_group": group})
    assert (found["name"], found["cluster"], found["application"]) == (group, f"{app}-test", app)
    assert len(found["instances"]) == 2
    assert {i["load_balancer_health"]["lb-1"] for i in found["instances"]} == {"Up"}


async def test_describe_a_missing_group_is_not_found(ref_ops: CloudOpsClient) -> None:
    error = await fail(ref_ops, "describeServerGroup", {"server_group": "nothing-here-v000"})
    assert error.code == "NOT_FOUND"


async def test_list_the_cluster_oldest_first(
    ref_ops: CloudOpsClient, cloud_db: Path, group: str, app: str
) -> None:
    await succeed(ref_ops, "createServerGroup", create_input(app, wait=False))
    await succeed(ref_ops, "createServerGroup", create_input(app, stack="other", wait=False))
    listed = await succeed(ref_ops, "listServerGroups", {"application": app, "stack": "test"})
    assert [g["name"] for g in listed["server_groups"]] == [group, f"{app}-test-v001"]
    assert len(read_groups(cloud_db)) == 3
