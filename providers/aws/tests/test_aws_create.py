"""createServerGroup and describeServerGroup on AWS, checked by reading moto's state."""

from __future__ import annotations

from typing import Any

from aws_testkit import WHERE, asg_of, create_input, launch_template_of, registered, target_group

from cloudops.client import CloudOpsClient
from cloudops_testing.fixtures_aws import MotoNetwork, count_tagged


async def test_create_server_group_with_target_group(
    aws_ops: CloudOpsClient, moto_client: Any, moto_network: MotoNetwork, app: str
) -> None:
    arn = target_group(moto_client, moto_network, f"{app}-web")
    result = await aws_ops.execute(
        "aws.createServerGroup",
        create_input(
            moto_network, app, target_groups=[f"{app}-web"], user_data="#!/bin/sh\necho hi"
        ),
        request_id=f"{app}-create",
        **WHERE,
    )
    assert result.ok, result.error
    value = result.value
    assert value["name"] == f"{app}-test-v000"
    assert value["cluster"] == f"{app}-test"
    assert value["sequence"] == 0
    assert value["healthy_count"] == 2

    group = asg_of(moto_client, f"{app}-test-v000")
    assert group is not None
    assert (group["MinSize"], group["DesiredCapacity"], group["MaxSize"]) == (1, 2, 3)
    assert group["TargetGroupARNs"] == [arn]
    assert group["HealthCheckType"] == "ELB"
    tags = {t["Key"]: t["Value"] for t in group["Tags"]}
    assert tags["cloudops:request-id"] == f"{app}-create"
    assert tags["team"] == "cloudops"
    ids = {i["InstanceId"] for i in group["Instances"]}
    assert len(ids) == 2
    assert set(registered(moto_client, arn)) == ids

    template = launch_template_of(moto_client, f"{app}-test-v000")
    assert template is not None
    data = moto_client("ec2").describe_launch_template_versions(
        LaunchTemplateId=template["LaunchTemplateId"], Versions=["1"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["ImageId"] == moto_network.image_id
    assert data["InstanceType"] == "t3.micro"
    assert data["SecurityGroupIds"] == [moto_network.security_group_id]

    counts = count_tagged(moto_client, "cloudops:request-id", f"{app}-create")
    assert counts.auto_scaling_groups == [f"{app}-test-v000"]
    assert counts.launch_templates == [f"{app}-test-v000"]
    assert len(counts.instances) == 2

    # describeServerGroup reads it all back.
    described = await aws_ops.execute(
        "aws.describeServerGroup", {"server_group": f"{app}-test-v000"}, **WHERE
    )
    assert described.ok, described.error
    found = described.value
    assert (found["application"], found["stack"], found["sequence"]) == (app, "test", 0)
    assert found["capacity"] == {"min": 1, "max": 3, "desired": 2}
    assert found["image"] == moto_network.image_id
    assert found["instance_type"] == "t3.micro"
    assert found["target_groups"] == [f"{app}-web"]
    assert found["launch_template_name"] == f"{app}-test-v000"
    assert {i["health"] for i in found["instances"]} == {"Up"}
    assert all(i["load_balancer_health"] == {f"{app}-web": "healthy"} for i in found["instances"])
