"""Helpers of the cloudops-aws tests (inputs, reading moto's state)."""

from __future__ import annotations

from typing import Any

from cloudops.accounts import AccountBook, FileConfig
from cloudops_aws.models import AwsAccountSettings
from cloudops_testing.fixtures_aws import MOTO_ACCOUNT, MOTO_REGION, MotoNetwork, aws_account_config


def create_input(network: MotoNetwork, application: str, **overrides: Any) -> dict[str, Any]:
    """A small, fast createServerGroup input."""
    data: dict[str, Any] = {
        "application": application,
        "stack": "test",
        "image": network.image_id,
        "instance_type": "t3.micro",
        "capacity": {"min": 1, "max": 3, "desired": 2},
        "zones": ["us-east-1a"],
        "security_groups": [network.security_group_id],
        "tags": {"team": "cloudops"},
        "poll_interval_seconds": 0.5,
        "wait_timeout_seconds": 60,
    }
    data.update(overrides)
    return data


WHERE = {"account": MOTO_ACCOUNT, "region": MOTO_REGION}
FAST = {"poll_interval_seconds": 0.5, "wait_timeout_seconds": 60}


def asg_of(moto_client: Any, name: str) -> dict[str, Any] | None:
    groups = moto_client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    return groups["AutoScalingGroups"][0] if groups["AutoScalingGroups"] else None


def launch_template_of(moto_client: Any, name: str) -> dict[str, Any] | None:
    try:
        found = moto_client("ec2").describe_launch_templates(LaunchTemplateNames=[name])
    except Exception as err:  # botocore ClientError: not found
        if "NotFound" in str(err):
            return None
        raise
    return found["LaunchTemplates"][0]


def target_group(moto_client: Any, network: MotoNetwork, name: str) -> str:
    created = moto_client("elbv2").create_target_group(
        Name=name, Protocol="HTTP", Port=80, VpcId=network.vpc_id, TargetType="instance"
    )
    return str(created["TargetGroups"][0]["TargetGroupArn"])


def registered(moto_client: Any, arn: str) -> dict[str, str]:
    health = moto_client("elbv2").describe_target_health(TargetGroupArn=arn)
    return {
        d["Target"]["Id"]: d["TargetHealth"]["State"] for d in health["TargetHealthDescriptions"]
    }


def book_for(endpoint: str, **settings: Any) -> AccountBook:
    """An account book with the ``moto`` account at ``endpoint``, for calling activities directly
    (inside ``cloudops.accounts.using_accounts``)."""
    config = FileConfig.model_validate(aws_account_config(endpoint, **settings))
    return AccountBook.from_config(config, {"aws": AwsAccountSettings})
