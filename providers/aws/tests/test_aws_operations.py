"""What AWS adds to the contract's verbs, checked by reading moto's state with boto3.

The verbs' common behaviour is checked by the conformance suite (test_aws_conformance.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_testkit import (
    FAST,
    WHERE,
    asg_of,
    create_input,
    launch_template_of,
    target_group,
)

from cloudops.client import CloudOpsClient
from cloudops_testing.checks import succeed
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


async def test_disable_suspends_processes_and_a_resize_keeps_it_disabled(
    aws_ops: CloudOpsClient, moto_client: Any, group: dict[str, Any]
) -> None:
    name = group["name"]
    await succeed(aws_ops, "aws.disableServerGroup", {"server_group": name, **FAST}, **WHERE)
    assert suspended(moto_client, name) == {"Launch", "Terminate", "AddToLoadBalancer"}
    described = await aws_ops.execute("aws.describeServerGroup", {"server_group": name}, **WHERE)
    assert described.ok, described.error
    assert {i["health"] for i in described.value["instances"]} == {"OutOfService"}

    # A resize of a disabled group scales it, and new instances stay out of the target group.
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

    enabled = await aws_ops.execute(
        "aws.enableServerGroup", {"server_group": name, **FAST}, **WHERE
    )
    assert enabled.ok, enabled.error
    assert suspended(moto_client, name) == set()


async def test_terminate_instances(
    aws_ops: CloudOpsClient, moto_client: Any, group: dict[str, Any]
) -> None:
    name = group["name"]
    found = asg_of(moto_client, name)
    assert found is not None
    first, second = sorted(i["InstanceId"] for i in found["Instances"])[:2]

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


async def test_clone_writes_the_instance_type_override_in_its_launch_template(
    aws_ops: CloudOpsClient, moto_client: Any, group: dict[str, Any]
) -> None:
    result = await aws_ops.execute(
        "aws.cloneServerGroup", {"source": group["name"], "instance_type": "t3.small"}, **WHERE
    )
    assert result.ok, result.error
    clone = result.value["name"]
    found = asg_of(moto_client, clone)
    assert found is not None
    assert found["TargetGroupARNs"] == [group["target_group"]]
    template = launch_template_of(moto_client, clone)
    assert template is not None
    data = moto_client("ec2").describe_launch_template_versions(
        LaunchTemplateId=template["LaunchTemplateId"], Versions=["1"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["InstanceType"] == "t3.small"
