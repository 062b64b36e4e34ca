"""The reads of concurrent waits, shared per account and region (:mod:`cloudops.batching`).

``aws.wait_for_capacity`` attempts that arrive in one worker within the batch window read their
groups with one ``DescribeAutoScalingGroups`` (up to 100 names) and each target group's health
once, whatever the number of operations waiting on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloudops.batching import ReadBatcher
from cloudops.servergroups.contract import GroupCall
from cloudops_aws.clients import aws_client

__all__ = ["GROUPS", "TARGET_HEALTH", "shared_group", "shared_traffic_health"]


def _fetch_groups(account: str, region: str, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    asg = aws_client("autoscaling", account, region)
    found: dict[str, dict[str, Any]] = {}
    params: dict[str, Any] = {"AutoScalingGroupNames": list(names), "MaxRecords": 100}
    while True:
        answer = asg.describe_auto_scaling_groups(**params)
        for group in answer.get("AutoScalingGroups", []):
            found[group["AutoScalingGroupName"]] = dict(group)
        if not answer.get("NextToken"):
            return found
        params["NextToken"] = answer["NextToken"]


def _fetch_health(account: str, region: str, arns: Sequence[str]) -> dict[str, dict[str, str]]:
    from cloudops_aws.activities import _target_health

    elbv2 = aws_client("elbv2", account, region)
    return {arn: _target_health(elbv2, arn) for arn in arns}


#: Auto Scaling group descriptions, by (account, region).
GROUPS: ReadBatcher[dict[str, Any]] = ReadBatcher(_fetch_groups)
#: Target group ARN -> instance id -> state, by (account, region).
TARGET_HEALTH: ReadBatcher[dict[str, str]] = ReadBatcher(_fetch_health)


def shared_group(account: str, region: str, name: str) -> dict[str, Any] | None:
    """The group's description from a shared read, or None when it does not exist."""
    return GROUPS.get((account, region), name)


def shared_traffic_health(call: GroupCall, group: dict[str, Any]) -> dict[str, dict[str, str]]:
    """As ``_traffic_health``, each target group read once for every wait sharing the batch."""
    from cloudops_aws.activities import _traffic_health

    health: dict[str, dict[str, str]] = {}
    for arn in group.get("TargetGroupARNs") or []:
        health[arn] = TARGET_HEALTH.get((call.account, call.region), arn) or {}
    if group.get("LoadBalancerNames"):  # classic load balancers: read as before
        health.update(_traffic_health(call, {**group, "TargetGroupARNs": []}))
    return health
