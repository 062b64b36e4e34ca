"""Invalid input, business failures and the rollback of what a failed create made."""

from __future__ import annotations

from typing import Any

from aws_testkit import WHERE, asg_of, create_input, launch_template_of

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


async def test_region_and_account_are_checked(
    aws_ops: CloudOpsClient, moto_network: MotoNetwork, app: str
) -> None:
    wrong_region = await aws_ops.execute(
        "aws.createServerGroup",
        create_input(moto_network, app),
        account="moto",
        region="eu-west-1",
    )
    assert not wrong_region.ok
    assert wrong_region.error.code == "INVALID_INPUT"
    no_account = await aws_ops.execute("aws.describeServerGroup", {"server_group": "x-v000"})
    assert not no_account.ok
    assert no_account.error.code == "INVALID_INPUT"


async def test_missing_target_group_rolls_back_the_launch_template(
    aws_ops: CloudOpsClient, moto_client: Any, moto_network: MotoNetwork, app: str
) -> None:
    result = await aws_ops.execute(
        "aws.createServerGroup",
        create_input(moto_network, app, target_groups=[f"{app}-does-not-exist"]),
        request_id=f"{app}-rollback",
        **WHERE,
    )
    assert not result.ok
    assert result.error.code == "NOT_FOUND"
    assert "TargetGroupNotFound" in result.error.message
    assert result.error.details["aws_code"] == "TargetGroupNotFound"
    name = f"{app}-test-v000"
    steps = {r.step: r.ok for r in result.error.rollbacks}
    assert steps == {
        f"delete auto scaling group {name}": True,
        f"delete launch template {name}": True,
    }
    assert launch_template_of(moto_client, name) is None
    assert asg_of(moto_client, name) is None
    counts = count_tagged(moto_client, "cloudops:request-id", f"{app}-rollback")
    assert counts.launch_templates == [] and counts.instances == []


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


async def test_unknown_server_group(aws_ops: CloudOpsClient, app: str) -> None:
    for operation in ("aws.resizeServerGroup", "aws.enableServerGroup", "aws.cloneServerGroup"):
        payload: dict[str, Any] = {"server_group": f"{app}-v000"}
        if operation == "aws.resizeServerGroup":
            payload["capacity"] = {"min": 0, "max": 1, "desired": 1}
        if operation == "aws.cloneServerGroup":
            payload = {"source": f"{app}-v000"}
        result = await aws_ops.execute(operation, payload, **WHERE)
        assert not result.ok, operation
        assert result.error.code == "NOT_FOUND", (operation, result.error)
