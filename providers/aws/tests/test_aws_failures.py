"""Invalid input and business failures (rollback and NOT_FOUND: the conformance suite)."""

from __future__ import annotations

from typing import Any

from aws_testkit import WHERE, create_input, launch_template_of

from cloudops.client import CloudOpsClient
from cloudops_testing.fixtures_aws import MotoNetwork, count_tagged

INVALID = [
    ({"capacity": {"min": 3, "max": 1, "desired": 2}}, "capacity"),
    ({"capacity": {"min": -1, "max": 1, "desired": 0}}, "capacity.min"),
    ({"application": "bad name"}, "application"),
    ({"zones": [], "subnets": []}, "(root)"),
    ({"tags": {"cloudops:request-id": "spoofed"}}, "tags"),
    ({"instance_typo": "t3.micro"}, "instance_typo"),
    ({"user_data": "x", "user_data_base64": "eA=="}, "(root)"),
]


async def test_invalid_input(
    aws_ops: CloudOpsClient, moto_client: Any, moto_network: MotoNetwork, app: str
) -> None:
    for number, (change, field) in enumerate(INVALID):
        result = await aws_ops.execute(
            "aws.createServerGroup",
            {**create_input(moto_network, app), **change},
            request_id=f"{app}-invalid-{number}",
            **WHERE,
        )
        assert not result.ok, change
        assert result.error.code == "INVALID_INPUT", (change, result.error)
        fields = [e["field"] for e in result.error.details["errors"]]
        assert any(f.startswith(field) for f in fields), (change, fields)
        counts = count_tagged(moto_client, "cloudops:request-id", f"{app}-invalid-{number}")
        assert counts.launch_templates == [] and counts.auto_scaling_groups == []


async def test_missing_image_is_not_found(
    aws_ops: CloudOpsClient, moto_client: Any, moto_network: MotoNetwork, app: str
) -> None:
    result = await aws_ops.execute(
        "aws.createServerGroup",
        create_input(moto_network, app, image="ami-00000000deadbeef0"),
        **WHERE,
    )
    assert not result.ok
    assert result.error.code == "NOT_FOUND"
    assert launch_template_of(moto_client, f"{app}-test-v000") is None


async def test_a_name_taken_by_someone_else_is_a_conflict_and_is_left_alone(
    aws_ops: CloudOpsClient, moto_client: Any, moto_network: MotoNetwork, app: str
) -> None:
    # Someone else's launch template holds v000 of the cluster. The sequence skips it...
    moto_client("ec2").create_launch_template(
        LaunchTemplateName=f"{app}-test-v000",
        LaunchTemplateData={"ImageId": moto_network.image_id},
    )
    result = await aws_ops.execute(
        "aws.createServerGroup", create_input(moto_network, app), **WHERE
    )
    assert result.ok, result.error
    assert result.value["name"] == f"{app}-test-v001"
    assert launch_template_of(moto_client, f"{app}-test-v000") is not None


async def test_sequence_wraps_after_999(
    aws_ops: CloudOpsClient, moto_client: Any, moto_network: MotoNetwork, app: str
) -> None:
    moto_client("ec2").create_launch_template(
        LaunchTemplateName=f"{app}-v999", LaunchTemplateData={"ImageId": moto_network.image_id}
    )
    result = await aws_ops.execute(
        "aws.createServerGroup",
        create_input(moto_network, app, stack="", capacity={"min": 0, "max": 1, "desired": 0}),
        **WHERE,
    )
    assert result.ok, result.error
    assert result.value["name"] == f"{app}-v000"
