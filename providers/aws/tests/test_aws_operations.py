"""Happy paths of every operation, each checked by reading moto's state with boto3."""

from __future__ import annotations

from typing import Any

import pytest
from aws_testkit import (
    FAST,
    WHERE,
    asg_of,
    create_input,
    launch_template_of,
    registered,
    target_group,
)

from cloudops.client import CloudOpsClient
from cloudops_testing.fixtures_aws import MotoNetwork


@pytest.fixture
async def group(
    aws_ops: CloudOpsClient, moto_client: Any, moto_network: MotoNetwork, app: str
) -> dict[str, Any]:
    """A server group of 2 instances in a target group of its own."""
    arn = target_group(moto_client, moto_network, f"{app}-tg")
    result = await aws_ops.execute(
        "aws.createServerGroup",
        create_input(moto_network, app, target_groups=[arn], key_name=None),
        **WHERE,
    )
    assert result.ok, result.error
    return {"name": result.value["name"], "target_group": arn, "app": app}


def suspended(moto_client: Any, name: str) -> set[str]:
    found = asg_of(moto_client, name)
    assert found is not None
    return {p["ProcessName"] for p in found["SuspendedProcesses"]}


async def test_resize(aws_ops: CloudOpsClient, moto_client: Any, group: dict[str, Any]) -> None:
    name = group["name"]
    result = await aws_ops.execute(
        "aws.resizeServerGroup",
        {"server_group": name, "capacity": {"min": 2, "max": 5, "desired": 3}, **FAST},
        **WHERE,
    )
    assert result.ok, result.error
    assert result.value["healthy_count"] == 3
    found = asg_of(moto_client, name)
    assert found is not None
    assert (found["MinSize"], found["DesiredCapacity"], found["MaxSize"]) == (2, 3, 5)
    assert len(found["Instances"]) == 3
    assert len(registered(moto_client, group["target_group"])) == 3

    down = await aws_ops.execute(
        "aws.resizeServerGroup",
        {"server_group": name, "capacity": {"min": 0, "max": 5, "desired": 1}, **FAST},
        **WHERE,
    )
    assert down.ok, down.error
    found = asg_of(moto_client, name)
    assert found is not None
    assert found["DesiredCapacity"] == 1
    assert len(found["Instances"]) == 1


async def test_disable_then_enable(
    aws_ops: CloudOpsClient, moto_client: Any, group: dict[str, Any]
) -> None:
    name, arn = group["name"], group["target_group"]
    instances = set(registered(moto_client, arn))
    assert len(instances) == 2

    disabled = await aws_ops.execute(
        "aws.disableServerGroup", {"server_group": name, **FAST}, **WHERE
    )
    assert disabled.ok, disabled.error
    assert disabled.value["disabled"] is True
    assert disabled.value["changed"] is True
    assert suspended(moto_client, name) == {"Launch", "Terminate", "AddToLoadBalancer"}
    assert registered(moto_client, arn) == {}

    described = await aws_ops.execute("aws.describeServerGroup", {"server_group": name}, **WHERE)
    assert described.ok, described.error
    assert described.value["disabled"] is True
    assert {i["health"] for i in described.value["instances"]} == {"OutOfService"}

    again = await aws_ops.execute("aws.disableServerGroup", {"server_group": name, **FAST}, **WHERE)
    assert again.ok, again.error
    assert again.value["changed"] is False

    enabled = await aws_ops.execute(
        "aws.enableServerGroup", {"server_group": name, **FAST}, **WHERE
    )
    assert enabled.ok, enabled.error
    assert enabled.value["disabled"] is False
    assert enabled.value["healthy_count"] == 2
    assert suspended(moto_client, name) == set()
    assert set(registered(moto_client, arn)) == instances


async def test_resize_keeps_a_disabled_group_disabled(
    aws_ops: CloudOpsClient, moto_client: Any, group: dict[str, Any]
) -> None:
    name = group["name"]
    assert (await aws_ops.execute("aws.disableServerGroup", {"server_group": name}, **WHERE)).ok
    result = await aws_ops.execute(
        "aws.resizeServerGroup",
        {"server_group": name, "capacity": {"min": 0, "max": 3, "desired": 0}, **FAST},
        **WHERE,
    )
    assert result.ok, result.error
    assert result.value["disabled"] is True
    assert suspended(moto_client, name) == {"AddToLoadBalancer"}
    found = asg_of(moto_client, name)
    assert found is not None
    assert found["Instances"] == []


async def test_terminate_instances(
    aws_ops: CloudOpsClient, moto_client: Any, group: dict[str, Any]
) -> None:
    name = group["name"]
    found = asg_of(moto_client, name)
    assert found is not None
    first, second = sorted(i["InstanceId"] for i in found["Instances"])

    # Replace one instance: the group launches another.
    replaced = await aws_ops.execute(
        "aws.terminateInstances", {"server_group": name, "instance_ids": [first], **FAST}, **WHERE
    )
    assert replaced.ok, replaced.error
    assert replaced.value["terminated"] == [first]
    found = asg_of(moto_client, name)
    assert found is not None
    ids = {i["InstanceId"] for i in found["Instances"]}
    assert len(ids) == 2
    assert first not in ids
    state = moto_client("ec2").describe_instances(InstanceIds=[first])
    assert state["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"

    # Shrink: desired drops to 1, and min (1) stays.
    shrunk = await aws_ops.execute(
        "aws.terminateInstances",
        {"server_group": name, "instance_ids": [second], "decrement_desired": True, **FAST},
        **WHERE,
    )
    assert shrunk.ok, shrunk.error
    found = asg_of(moto_client, name)
    assert found is not None
    assert found["DesiredCapacity"] == 1
    assert shrunk.value["terminated"] == [second]
    # Only the instance launched to replace the first one is left: nothing replaced the second.
    assert [i["InstanceId"] for i in found["Instances"]] == sorted(ids - {second})
    state = moto_client("ec2").describe_instances(InstanceIds=[second])
    assert state["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"

    # Terminating an instance that is already gone is done, not an error.
    repeat = await aws_ops.execute(
        "aws.terminateInstances",
        {"server_group": name, "instance_ids": [second], "decrement_desired": True, **FAST},
        **WHERE,
    )
    assert repeat.ok, repeat.error
    assert repeat.value["already_gone"] == [second]
    found = asg_of(moto_client, name)
    assert found is not None
    assert found["DesiredCapacity"] == 1

    unknown = await aws_ops.execute(
        "aws.terminateInstances",
        {"server_group": name, "instance_ids": ["i-0123456789abcdef0"], **FAST},
        **WHERE,
    )
    assert not unknown.ok
    assert unknown.error.code == "NOT_FOUND"


async def test_clone_with_overrides(
    aws_ops: CloudOpsClient, moto_client: Any, group: dict[str, Any]
) -> None:
    name = group["name"]
    result = await aws_ops.execute(
        "aws.cloneServerGroup",
        {
            "source": name,
            "instance_type": "t3.small",
            "capacity": {"min": 1, "max": 1, "desired": 1},
            "tags": {"version": "2"},
            **FAST,
        },
        **WHERE,
    )
    assert result.ok, result.error
    clone = result.value["name"]
    assert clone == f"{group['app']}-test-v001"
    assert result.value["resources"]["source"] == name

    found = asg_of(moto_client, clone)
    assert found is not None
    assert found["DesiredCapacity"] == 1
    assert found["TargetGroupARNs"] == [group["target_group"]]
    tags = {t["Key"]: t["Value"] for t in found["Tags"]}
    assert tags["team"] == "cloudops"  # from the source
    assert tags["version"] == "2"  # the override
    assert tags["cloudops:server-group"] == clone
    template = launch_template_of(moto_client, clone)
    assert template is not None
    data = moto_client("ec2").describe_launch_template_versions(
        LaunchTemplateId=template["LaunchTemplateId"], Versions=["1"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["InstanceType"] == "t3.small"
    source = asg_of(moto_client, name)
    assert source is not None
    assert source["DesiredCapacity"] == 2  # the source is untouched


async def test_describe(
    aws_ops: CloudOpsClient, moto_network: MotoNetwork, group: dict[str, Any]
) -> None:
    result = await aws_ops.execute(
        "aws.describeServerGroup", {"server_group": group["name"]}, **WHERE
    )
    assert result.ok, result.error
    value = result.value
    assert value["name"] == group["name"]
    assert value["cluster"] == f"{group['app']}-test"
    assert value["application"] == group["app"]
    assert value["stack"] == "test"
    assert value["sequence"] == 0
    assert value["capacity"] == {"min": 1, "max": 3, "desired": 2}
    assert value["image"] == moto_network.image_id
    assert value["instance_type"] == "t3.micro"
    assert value["disabled"] is False
    assert value["target_groups"] == [f"{group['app']}-tg"]
    assert value["launch_template_name"] == group["name"]
    assert len(value["instances"]) == 2
    assert {i["health"] for i in value["instances"]} == {"Up"}
    assert all(
        i["load_balancer_health"] == {f"{group['app']}-tg": "healthy"} for i in value["instances"]
    )

    missing = await aws_ops.execute(
        "aws.describeServerGroup", {"server_group": f"{group['app']}-nope-v000"}, **WHERE
    )
    assert not missing.ok
    assert missing.error.code == "NOT_FOUND"


async def test_destroy(aws_ops: CloudOpsClient, moto_client: Any, group: dict[str, Any]) -> None:
    name = group["name"]
    result = await aws_ops.execute(
        "aws.destroyServerGroup", {"server_group": name, **FAST}, **WHERE
    )
    assert result.ok, result.error
    assert result.value["changed"] is True
    assert asg_of(moto_client, name) is None
    assert launch_template_of(moto_client, name) is None

    # Not found is success.
    again = await aws_ops.execute("aws.destroyServerGroup", {"server_group": name, **FAST}, **WHERE)
    assert again.ok, again.error
    assert again.value["changed"] is False


async def test_list_server_groups(
    aws_ops: CloudOpsClient, moto_client: Any, moto_network: MotoNetwork, group: dict[str, Any]
) -> None:
    app = group["app"]
    second = await aws_ops.execute(
        "aws.createServerGroup",
        create_input(moto_network, app, capacity={"min": 0, "max": 1, "desired": 1}),
        **WHERE,
    )
    assert second.ok, second.error
    other = await aws_ops.execute(
        "aws.createServerGroup",
        create_input(moto_network, app, stack="other", capacity={"min": 0, "max": 1, "desired": 0}),
        **WHERE,
    )
    assert other.ok, other.error

    listed = await aws_ops.execute(
        "aws.listServerGroups", {"application": app, "stack": "test"}, **WHERE
    )
    assert listed.ok, listed.error
    assert listed.value["cluster"] == f"{app}-test"
    names = [g["name"] for g in listed.value["server_groups"]]
    assert names == [f"{app}-test-v000", f"{app}-test-v001"]
    assert [len(g["instances"]) for g in listed.value["server_groups"]] == [2, 1]

    empty = await aws_ops.execute("aws.listServerGroups", {"application": f"{app}x"}, **WHERE)
    assert empty.ok, empty.error
    assert empty.value["server_groups"] == []
