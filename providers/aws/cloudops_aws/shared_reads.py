"""The reads of concurrent waits, shared per account and region (:mod:`cloudops.batching`).

``aws.wait_for_capacity`` attempts that arrive in one worker within the batch window read their
groups with one ``DescribeAutoScalingGroups`` (up to 100 names) and each target group's health
once, whatever the number of operations waiting on it. ``aws.next_server_group_name`` attempts
likewise share one listing of the account's groups (every page of it) and one
``DescribeLaunchTemplates`` per 50 clusters: with 1,000 creates at once, each naming alone would
list every group of the account (20 pages at 1,000 groups).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloudops.batching import ReadBatcher
from cloudops.servergroups.contract import GroupCall
from cloudops_aws.clients import aws_client
from cloudops_aws.reads import paginate, target_health, traffic_health

__all__ = [
    "GROUPS",
    "NAMES",
    "TARGET_HEALTH",
    "shared_group",
    "shared_names",
    "shared_traffic_health",
]


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

    elbv2 = aws_client("elbv2", account, region)
    return {arn: target_health(elbv2, arn) for arn in arns}


Taken = list[tuple[str, Any]]


def _fetch_names(account: str, region: str, clusters: Sequence[str]) -> dict[str, Taken]:
    """Cluster -> the names (and creation times) its groups and launch templates hold."""
    asg = aws_client("autoscaling", account, region)
    ec2 = aws_client("ec2", account, region)
    taken: dict[str, Taken] = {cluster: [] for cluster in clusters}

    def add(name: str, created: Any) -> None:
        cluster, _, sequence = name.rpartition("-v")
        for owner in (name, cluster if sequence.isdigit() else None):
            if owner in taken:
                taken[owner].append((name, created))

    pages = {"PageSize": 100}  # DescribeAutoScalingGroups' largest page
    for group in paginate(
        asg, "describe_auto_scaling_groups", "AutoScalingGroups", PaginationConfig=pages
    ):
        add(group["AutoScalingGroupName"], group.get("CreatedTime"))
    for start in range(0, len(clusters), 50):
        # Only these clusters' templates: an account may hold thousands (see next_name).
        values = [v for c in clusters[start : start + 50] for v in (c, f"{c}-v*")]
        for template in paginate(
            ec2,
            "describe_launch_templates",
            "LaunchTemplates",
            Filters=[{"Name": "launch-template-name", "Values": values}],
            PaginationConfig={"PageSize": 200},
        ):
            add(template["LaunchTemplateName"], template.get("CreateTime"))
    return taken


#: Cluster -> names taken by its groups and launch templates, by (account, region).
NAMES: ReadBatcher[Taken] = ReadBatcher(_fetch_names)

#: Auto Scaling group descriptions, by (account, region).
GROUPS: ReadBatcher[dict[str, Any]] = ReadBatcher(_fetch_groups)
#: Target group ARN -> instance id -> state, by (account, region).
TARGET_HEALTH: ReadBatcher[dict[str, str]] = ReadBatcher(_fetch_health)


def shared_group(account: str, region: str, name: str) -> dict[str, Any] | None:
    """The group's description from a shared read, or None when it does not exist."""
    return GROUPS.get((account, region), name)


def shared_traffic_health(call: GroupCall, group: dict[str, Any]) -> dict[str, dict[str, str]]:
    """As ``traffic_health``, each target group read once for every wait sharing the batch."""
    health: dict[str, dict[str, str]] = {}
    for arn in group.get("TargetGroupARNs") or []:
        health[arn] = TARGET_HEALTH.get((call.account, call.region), arn) or {}
    if group.get("LoadBalancerNames"):  # classic load balancers: read as before
        health.update(traffic_health(call, {**group, "TargetGroupARNs": []}))
    return health


def shared_names(account: str, region: str, cluster: str) -> Taken:
    """The names ``cluster``'s groups and templates take, from a listing shared by a batch.

    The list is the batch's own (every naming of ``cluster`` in it gets the same object).
    """
    taken = NAMES.get((account, region), cluster)
    return taken if taken is not None else []
