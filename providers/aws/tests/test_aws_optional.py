"""The optional verbs on AWS over real HTTP (moto behind the fault proxy) on a real Temporal.

Each verb is read back from moto, repeated without a second copy of anything, and rolled back
when it (or an operation composing it, ``testkit.thenFail``) fails. The proxy refuses the
calls named in ``refused``, standing in for AWS refusing them (a validation error).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aws_testkit import FAST, WHERE, asg_of, create_input

import cloudops_aws.plugin
from cloudops.client import CloudOpsClient
from cloudops_testing import then_fail
from cloudops_testing.checks import check_tag_verbs
from cloudops_testing.faults import (
    AWS_FIDELITY,
    ProxyRequest,
    ProxyResponse,
    aws_json_error,
    aws_query_error,
)
from cloudops_testing.fixtures_aws import MotoNetwork, aws_account_config


@pytest.fixture
def refused() -> dict[str, bytes]:
    """AWS actions the proxy refuses (a ValidationError) when their body holds the bytes given."""
    return {}


@pytest.fixture
async def ops(
    cloudops_worker: Any, aws_fault_proxy: Any, refused: dict[str, bytes]
) -> AsyncIterator[CloudOpsClient]:
    def refuse(request: ProxyRequest) -> ProxyResponse | None:
        action = request.action or ""
        if action not in refused or refused[action] not in request.body:
            return None
        message = f"{action} refused by the test"
        json_type = request.headers.get("Content-Type", "")
        if request.headers.get("X-Amz-Target"):  # a JSON protocol (CloudWatch)
            return aws_json_error(400, "ValidationError", message, json_type)
        return aws_query_error(400, "ValidationError", message)

    proxy = aws_fault_proxy(fidelity=[*AWS_FIDELITY, refuse])
    async with cloudops_worker(
        plugins=[cloudops_aws.plugin, then_fail],
        load_entrypoints=False,
        accounts=aws_account_config(proxy.url),
    ) as client:
        yield client


async def _group(ops: CloudOpsClient, network: MotoNetwork, app: str, desired: int = 1) -> str:
    capacity = {"min": 0, "max": 3, "desired": desired}
    made = await ops.execute(
        "aws.createServerGroup", create_input(network, app, capacity=capacity), **WHERE
    )
    assert made.ok, made.error
    return str(made.value["name"])


def _policies(moto_client: Any, group: str) -> dict[str, dict[str, Any]]:
    found = moto_client("autoscaling").describe_policies(AutoScalingGroupName=group)
    return {p["PolicyName"]: p for p in found["ScalingPolicies"]}


def _alarms(moto_client: Any, group: str) -> dict[str, dict[str, Any]]:
    found = moto_client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{group}-")
    return {a["AlarmName"]: a for a in found["MetricAlarms"]}


STEP = {
    "policy_name": "up",
    "step": {
        "steps": [{"lower": 0, "adjustment": 1}],
        "alarm": {"comparison": "GreaterThanOrEqualToThreshold", "threshold": 70},
    },
}


async def test_scaling_policies_upsert_repeat_roll_back_and_delete(
    ops: CloudOpsClient,
    moto_client: Any,
    moto_network: MotoNetwork,
    app: str,
    refused: dict[str, bytes],
) -> None:
    group = await _group(ops, moto_network, app)
    cpu = {"server_group": group, "policy_name": "cpu", "target_tracking": {"target": 50}}
    first = await ops.execute("aws.upsertScalingPolicy", cpu, **WHERE)
    assert first.ok and first.value["changed"], first.error
    again = await ops.execute("aws.upsertScalingPolicy", cpu, **WHERE)
    assert again.ok and not again.value["changed"]
    policy = _policies(moto_client, group)["cpu"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["TargetTrackingConfiguration"]["TargetValue"] == 50

    step = await ops.execute("aws.upsertScalingPolicy", {"server_group": group, **STEP}, **WHERE)
    assert step.ok, step.error
    up = _policies(moto_client, group)["up"]
    assert up["StepAdjustments"][0]["ScalingAdjustment"] == 1
    (alarm,) = _alarms(moto_client, group).values()
    assert alarm["AlarmName"] == f"{group}-up" and alarm["AlarmActions"] == [up["PolicyARN"]]
    assert alarm["Dimensions"] == [{"Name": "AutoScalingGroupName", "Value": group}]

    # AWS refuses the new alarm after the policy changed: the old policy and alarm come back,
    # and a policy that did not exist before is deleted again.
    refused["PutMetricAlarm"] = b"99"
    alarm_99 = {"comparison": "GreaterThanOrEqualToThreshold", "threshold": 99}
    changed = {"policy_name": "up", "step": {"steps": [{"adjustment": 3}], "alarm": alarm_99}}
    failed = await ops.execute(
        "aws.upsertScalingPolicy", {"server_group": group, **changed}, **WHERE
    )
    assert not failed.ok and failed.error.rollbacks and failed.error.rollbacks[0].ok
    new = await ops.execute(
        "aws.upsertScalingPolicy", {"server_group": group, **changed, "policy_name": "new"}, **WHERE
    )
    assert not new.ok
    refused.clear()
    policies = _policies(moto_client, group)
    assert sorted(policies) == ["cpu", "up"]
    assert policies["up"]["StepAdjustments"][0]["ScalingAdjustment"] == 1
    assert list(_alarms(moto_client, group)) == [f"{group}-up"]

    for _ in range(2):  # the second delete finds nothing to do
        deleted = await ops.execute(
            "aws.deleteScalingPolicy", {"server_group": group, "policy_name": "up"}, **WHERE
        )
        assert deleted.ok, deleted.error
    assert not deleted.value["changed"]
    assert sorted(_policies(moto_client, group)) == ["cpu"]
    assert _alarms(moto_client, group) == {}


def _template(moto_client: Any, group: str) -> tuple[str, str, int]:
    """(the group's version, the template's default version, how many versions)."""
    spec = (asg_of(moto_client, group) or {})["LaunchTemplate"]
    ec2 = moto_client("ec2")
    template = ec2.describe_launch_templates(LaunchTemplateIds=[spec["LaunchTemplateId"]])
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=spec["LaunchTemplateId"])
    default = str(template["LaunchTemplates"][0]["DefaultVersionNumber"])
    return str(spec["Version"]), default, len(versions["LaunchTemplateVersions"])


def _instances(moto_client: Any, group: str) -> set[str]:
    return {i["InstanceId"] for i in (asg_of(moto_client, group) or {}).get("Instances", [])}


async def test_update_launch_template_rolls_instances_and_goes_back_on_failure(
    ops: CloudOpsClient,
    moto_client: Any,
    moto_network: MotoNetwork,
    app: str,
    refused: dict[str, bytes],
) -> None:
    group = await _group(ops, moto_network, app, desired=2)
    before, old = _template(moto_client, group), _instances(moto_client, group)
    update = {"server_group": group, "instance_type": "t3.small", "roll_instances": True, **FAST}
    done = await ops.execute("aws.updateLaunchTemplate", update, request_id=f"{group}-u", **WHERE)
    assert done.ok, done.error
    assert done.value["resources"]["previous"] == before[0]
    version = done.value["resources"]["current"]
    assert _template(moto_client, group) == (version, version, before[2] + 1)
    now = _instances(moto_client, group)
    assert len(now) == 2 and not now & old
    types = moto_client("ec2").describe_instances(InstanceIds=sorted(now))["Reservations"]
    assert {i["InstanceType"] for r in types for i in r["Instances"]} == {"t3.small"}

    # The same request again, its activity retried: no second version.
    again = await ops.execute("aws.updateLaunchTemplate", update, request_id=f"{group}-u", **WHERE)
    assert again.ok and again.value["resources"]["current"] == version
    assert _template(moto_client, group)[2] == before[2] + 1

    # A replacement AWS refuses: the group and the template go back to the version before.
    refused["TerminateInstanceInAutoScalingGroup"] = b""
    failed = await ops.execute(
        "aws.updateLaunchTemplate", {**update, "instance_type": "t3.medium"}, **WHERE
    )
    refused.clear()
    assert not failed.ok
    assert [r.ok for r in failed.error.rollbacks] == [True]
    assert _template(moto_client, group)[:2] == (version, version)


async def test_tags_processes_reboot_detach_and_their_undo(
    ops: CloudOpsClient, moto_client: Any, moto_network: MotoNetwork, app: str
) -> None:
    group = await _group(ops, moto_network, app, desired=2)

    def tags() -> dict[str, str]:
        found = (asg_of(moto_client, group) or {}).get("Tags", [])
        return {t["Key"]: t["Value"] for t in found if not t["Key"].startswith("cloudops:")}

    def suspended() -> set[str]:
        found = (asg_of(moto_client, group) or {}).get("SuspendedProcesses", [])
        return {p["ProcessName"] for p in found}

    await check_tag_verbs(ops, "aws", group, tags, **WHERE)

    processes = {"server_group": group, "processes": ["AZRebalance"]}
    assert (await ops.execute("aws.suspendProcesses", processes, **WHERE)).value["changed"]
    assert not (await ops.execute("aws.suspendProcesses", processes, **WHERE)).value["changed"]
    assert suspended() == {"AZRebalance"}
    assert (await ops.execute("aws.resumeProcesses", processes, **WHERE)).value["changed"]
    assert suspended() == set()

    first, second = sorted(_instances(moto_client, group))
    rebooted = await ops.execute(
        "aws.rebootInstances", {"server_group": group, "instance_ids": [first]}, **WHERE
    )
    assert rebooted.ok and rebooted.value["resources"]["instances"] == first
    stranger = await ops.execute(
        "aws.rebootInstances", {"server_group": group, "instance_ids": ["i-0000000000"]}, **WHERE
    )
    assert stranger.error.code == "NOT_FOUND"

    # Composed and then failing: every change comes back.
    steps = [
        {
            "operation": "aws.upsertServerGroupTags",
            "input": {"server_group": group, "tags": {"team": "x", "new": "1"}},
        },
        {"operation": "aws.suspendProcesses", "input": processes},
        {
            "operation": "aws.detachInstances",
            "input": {"server_group": group, "instance_ids": [first]},
        },
    ]
    failed = await ops.execute("testkit.thenFail", {"steps": steps}, **WHERE)
    assert not failed.ok and all(r.ok for r in failed.error.rollbacks), failed.error
    assert len(failed.error.rollbacks) == 3
    assert tags() == {"team": "web"} and suspended() == set()
    assert _instances(moto_client, group) == {first, second}

    detach = {"server_group": group, "instance_ids": [first]}
    detached = await ops.execute("aws.detachInstances", detach, **WHERE)
    assert detached.ok and detached.value["changed"], detached.error
    assert not (await ops.execute("aws.detachInstances", detach, **WHERE)).value["changed"]
    group_now = asg_of(moto_client, group) or {}
    assert _instances(moto_client, group) == {second} and group_now["DesiredCapacity"] == 1
    state = moto_client("ec2").describe_instances(InstanceIds=[first])["Reservations"]
    assert state[0]["Instances"][0]["State"]["Name"] == "running"


async def test_allow_launch_shares_an_image_and_its_snapshots(
    ops: CloudOpsClient, moto_client: Any, moto_network: MotoNetwork
) -> None:
    ec2 = moto_client("ec2")
    instance = ec2.run_instances(ImageId=moto_network.image_id, MinCount=1, MaxCount=1)
    image = ec2.create_image(
        InstanceId=instance["Instances"][0]["InstanceId"], Name=f"baked-{id(ec2)}"
    )["ImageId"]
    share = {"image": image, "target_account": "111122223333"}
    shared = await ops.execute("aws.allowLaunch", share, **WHERE)
    assert shared.ok and shared.value["changed"], shared.error
    granted = ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission")
    assert granted["LaunchPermissions"] == [{"UserId": "111122223333"}]
    for snapshot in shared.value["snapshots"]:
        volume = ec2.describe_snapshot_attribute(
            SnapshotId=snapshot, Attribute="createVolumePermission"
        )
        assert {"UserId": "111122223333"} in volume["CreateVolumePermissions"]
    assert not (await ops.execute("aws.allowLaunch", share, **WHERE)).value["changed"]
    # The worker's own account (looked up by name) owns the image: nothing to share.
    own = await ops.execute("aws.allowLaunch", {"image": image, "target_account": "moto"}, **WHERE)
    assert own.ok and not own.value["changed"], own.error


BAKE_ROLE = "arn:aws:iam::111111111111:role/bake"


async def test_a_create_shares_an_image_of_another_configured_account(
    cloudops_worker: Any,
    aws_fault_proxy: Any,
    moto_server: Any,
    moto_network: MotoNetwork,
    app: str,
) -> None:
    """The image was baked in the ``bake`` account (moto account 111111111111 through an
    assumed role): the create in ``moto`` shares it from there first, as Orca does.

    moto does not let one account see another's image, shared or not (AWS does), so the create
    then fails on the image: that shows the undo too, which takes the permission back.
    """
    import boto3

    proxy = aws_fault_proxy()
    accounts = aws_account_config(proxy.url)
    accounts["accounts"]["bake"] = {**accounts["accounts"]["moto"], "role_arn": BAKE_ROLE}
    creds = boto3.client("sts", region_name="us-east-1", endpoint_url=moto_server.url).assume_role(
        RoleArn=BAKE_ROLE, RoleSessionName="bake-test"
    )["Credentials"]
    bake = boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=moto_server.url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    base = bake.describe_images(Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm-*"]}])
    instance = bake.run_instances(ImageId=base["Images"][0]["ImageId"], MinCount=1, MaxCount=1)
    image = bake.create_image(
        InstanceId=instance["Instances"][0]["InstanceId"], Name=f"{app}-baked"
    )
    async with cloudops_worker(
        plugins=[cloudops_aws.plugin], load_entrypoints=False, accounts=accounts
    ) as ops:
        made = await ops.execute(
            "aws.createServerGroup",
            create_input(moto_network, app, image=image["ImageId"]),
            **WHERE,
        )
    assert not made.ok and made.error.code == "NOT_FOUND", made.error  # moto: see above
    shares = [r for r in proxy.log if r.target == "ModifyImageAttribute"]
    assert len(shares) == 2  # shared with the deploy's account, then taken back by the undo
    assert "unshare the image" in [r.step for r in made.error.rollbacks if r.ok]
    granted = bake.describe_image_attribute(ImageId=image["ImageId"], Attribute="launchPermission")
    assert granted["LaunchPermissions"] == []
