"""Reads that both the activities and the shared reads make (boto3 calls, no state).

Why a module of their own: ``cloudops_aws.shared_reads`` batches them for concurrent waits and
``cloudops_aws.activities`` makes them alone; living in either would tie the two in a circle.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cloudops.servergroups.contract import GroupCall
from cloudops_aws.clients import aws_client

__all__ = ["classic_health", "paginate", "target_health", "traffic_health"]


def target_health(elbv2: Any, target_group_arn: str) -> dict[str, str]:
    """Instance id -> target state (healthy, unhealthy, initial, draining, unused...)."""
    answer = elbv2.describe_target_health(TargetGroupArn=target_group_arn)
    return {
        d["Target"]["Id"]: d["TargetHealth"]["State"]
        for d in answer.get("TargetHealthDescriptions", [])
    }


def classic_health(elb: Any, load_balancer: str) -> dict[str, str]:
    """Instance id -> state (InService, OutOfService) behind a classic load balancer."""
    answer = elb.describe_instance_health(LoadBalancerName=load_balancer)
    return {s["InstanceId"]: s["State"] for s in answer.get("InstanceStates", [])}


def traffic_health(call: GroupCall, group: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Load balancer (target group ARN or classic ELB name) -> instance id -> state."""
    health: dict[str, dict[str, str]] = {}
    arns = group.get("TargetGroupARNs") or []
    if arns:
        elbv2 = aws_client("elbv2", call.account, call.region)
        for arn in arns:
            health[arn] = target_health(elbv2, arn)
    names = group.get("LoadBalancerNames") or []
    if names:
        elb = aws_client("elb", call.account, call.region)
        for name in names:
            health[name] = classic_health(elb, name)
    return health


def paginate(client: Any, method: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every item under ``key`` of every page boto3's paginator of ``method`` returns."""
    for page in client.get_paginator(method).paginate(**params):
        yield from page.get(key, [])
