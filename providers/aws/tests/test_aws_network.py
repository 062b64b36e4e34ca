"""Load balancers and security groups on AWS: every operation over HTTP to moto, on Temporal.

Each test reads back from moto what the operations did, and counts the mutating calls the
fault proxy saw (an identical upsert must make none).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aws_testkit import WHERE, create_input

import cloudops_aws.plugin
from cloudops.client import CloudOpsClient
from cloudops_testing.faults import (
    FaultRules,
    ProxyRequest,
    ProxyResponse,
    aws_query_error,
    aws_reject_duplicate_asg,
)
from cloudops_testing.fixtures_aws import MotoNetwork, aws_account_config
from cloudops_testing.network_inputs import load_balancer_input, security_group_input

_READS = ("Describe", "Get", "List")


class Recorder:
    """A fidelity rule that records every AWS action, and fails the ones listed in ``fail``."""

    def __init__(self) -> None:
        self.actions: list[str] = []
        self.fail: set[str] = set()
        self.hold: set[str] = set()
        self.held = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: ProxyRequest) -> ProxyResponse | None:
        action = request.action or ""
        self.actions.append(action)
        if action in self.fail:
            return aws_query_error(400, "ValidationError", f"{action} refused by the test")
        if action in self.hold:
            self.held.set()
            self.release.wait(60)
        return None

    def mutations(self) -> list[str]:
        return [a for a in self.actions if not a.startswith(_READS)]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def net_ops(
    cloudops_worker: Any, aws_fault_proxy: Any, recorder: Recorder
) -> AsyncIterator[CloudOpsClient]:
    """A worker of the AWS plugin on moto through a proxy recording (and failing) actions."""
    proxy = aws_fault_proxy(FaultRules(), fidelity=[recorder, aws_reject_duplicate_asg])
    async with cloudops_worker(
        plugins=[cloudops_aws.plugin],
        load_entrypoints=False,
        accounts=aws_account_config(proxy.url),
    ) as ops:
        yield ops


def _group(moto_client: Any, name: str) -> dict[str, Any] | None:
    found = moto_client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [name]}]
    )["SecurityGroups"]
    return found[0] if found else None


def _rules(group: dict[str, Any]) -> set[tuple[Any, ...]]:
    rules = set()
    for rule in group["IpPermissions"]:
        for r in rule.get("IpRanges") or []:
            rules.add((rule["IpProtocol"], rule.get("FromPort"), rule.get("ToPort"), r["CidrIp"]))
        for p in rule.get("UserIdGroupPairs") or []:
            rules.add((rule["IpProtocol"], rule.get("FromPort"), rule.get("ToPort"), p["GroupId"]))
    return rules


def _balancer(moto_client: Any, name: str) -> dict[str, Any] | None:
    elbv2 = moto_client("elbv2")
    found = [
        b for b in elbv2.describe_load_balancers()["LoadBalancers"] if b["LoadBalancerName"] == name
    ]
    return found[0] if found else None


def _target_groups(moto_client: Any, prefix: str) -> dict[str, dict[str, Any]]:
    groups = moto_client("elbv2").describe_target_groups()["TargetGroups"]
    return {g["TargetGroupName"]: g for g in groups if g["TargetGroupName"].startswith(prefix)}


def _listeners(moto_client: Any, arn: str) -> dict[int, dict[str, Any]]:
    found = moto_client("elbv2").describe_listeners(LoadBalancerArn=arn)["Listeners"]
    return {item["Port"]: item for item in found}


async def test_security_group_upsert_converges_and_is_idempotent(
    net_ops: CloudOpsClient, moto_client: Any, recorder: Recorder, app: str
) -> None:
    other = await net_ops.execute(
        "aws.upsertSecurityGroup", security_group_input(app, stack="db", ingress=[]), **WHERE
    )
    assert other.ok, other.error
    result = await net_ops.execute(
        "aws.upsertSecurityGroup",
        security_group_input(
            app,
            ingress=[
                *security_group_input(app)["ingress"],
                {"protocol": "tcp", "from_port": 5432, "source_groups": [f"{app}-db"]},
            ],
        ),
        **WHERE,
    )
    assert result.ok, result.error
    assert result.value["created"] is True
    group = _group(moto_client, f"{app}-web")
    db = _group(moto_client, f"{app}-db")
    assert group is not None and db is not None
    assert _rules(group) == {
        ("tcp", 80, 80, "10.0.0.0/8"),
        ("tcp", 7000, 7100, group["GroupId"]),
        ("tcp", 5432, 5432, db["GroupId"]),
    }
    tags = {t["Key"]: t["Value"] for t in group["Tags"]}
    assert tags["cloudops:security-group"] == f"{app}-web"

    # The same input again: nothing changes, no mutating call.
    recorder.actions.clear()
    again = await net_ops.execute(
        "aws.upsertSecurityGroup",
        security_group_input(
            app,
            ingress=[
                *security_group_input(app)["ingress"],
                {"protocol": "tcp", "from_port": 5432, "source_groups": [f"{app}-db"]},
            ],
        ),
        **WHERE,
    )
    assert again.ok and again.value["changed"] is False, again
    assert recorder.mutations() == []

    # A changed input: one rule revoked, one added.
    changed = await net_ops.execute(
        "aws.upsertSecurityGroup",
        security_group_input(
            app,
            ingress=[
                {"protocol": "tcp", "from_port": 443, "cidrs": ["0.0.0.0/0"]},
                security_group_input(app)["ingress"][0],
            ],
        ),
        **WHERE,
    )
    assert changed.ok and changed.value["changed"] is True, changed
    group = _group(moto_client, f"{app}-web")
    assert group is not None
    assert _rules(group) == {("tcp", 80, 80, "10.0.0.0/8"), ("tcp", 443, 443, "0.0.0.0/0")}

    described = await net_ops.execute("aws.describeSecurityGroup", {"name": f"{app}-web"}, **WHERE)
    assert described.ok, described.error
    assert {(p["from_port"], p["source"]) for p in described.value["ingress"]} == {
        (80, "10.0.0.0/8"),
        (443, "0.0.0.0/0"),
    }
    listed = await net_ops.execute("aws.listSecurityGroups", {"application": app}, **WHERE)
    assert [g["name"] for g in listed.value["security_groups"]] == [f"{app}-db", f"{app}-web"]

    deleted = await net_ops.execute("aws.deleteSecurityGroup", {"name": f"{app}-web"}, **WHERE)
    assert deleted.ok and deleted.value["changed"] is True, deleted
    assert _group(moto_client, f"{app}-web") is None
    gone = await net_ops.execute("aws.deleteSecurityGroup", {"name": f"{app}-web"}, **WHERE)
    assert gone.ok and gone.value["changed"] is False


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (
            {"protocol": "tcp", "from_port": 90, "to_port": 80, "cidrs": ["10.0.0.0/8"]},
            "ingress.0.to_port",
        ),
        (
            {"protocol": "tcp", "from_port": 80, "to_port": 70000, "cidrs": ["10.0.0.0/8"]},
            "ingress.0.to_port",
        ),
        ({"protocol": "tcp", "from_port": 80, "cidrs": ["10.0.0.300/8"]}, "ingress.0.cidrs"),
        ({"protocol": "tcp", "from_port": 80, "cidrs": ["10.0.0.1/8"]}, "ingress.0.cidrs"),
        ({"protocol": "tcp", "from_port": 80}, "ingress.0.from_self"),
        (
            {"protocol": "tcp", "from_port": 80, "source_groups": ["nope-none"]},
            "ingress.0.source_groups.0",
        ),
    ],
)
async def test_security_group_invalid_input_names_the_field(
    net_ops: CloudOpsClient,
    recorder: Recorder,
    moto_client: Any,
    app: str,
    rule: dict[str, Any],
    field: str,
) -> None:
    result = await net_ops.execute(
        "aws.upsertSecurityGroup", security_group_input(app, ingress=[rule]), **WHERE
    )
    assert not result.ok
    assert result.error.code == "INVALID_INPUT", result.error
    fields = [e["field"] for e in result.error.details["errors"]]
    assert any(f.endswith(field) for f in fields), fields
    assert recorder.mutations() == []
    assert _group(moto_client, f"{app}-web") is None


async def test_load_balancer_upsert_converges_serves_a_server_group_and_deletes(
    net_ops: CloudOpsClient,
    moto_client: Any,
    moto_network: MotoNetwork,
    recorder: Recorder,
    app: str,
) -> None:
    result = await net_ops.execute("aws.upsertLoadBalancer", load_balancer_input(app), **WHERE)
    assert result.ok, result.error
    assert result.value["created"] is True
    balancer = _balancer(moto_client, f"{app}-web")
    assert balancer is not None and balancer["Type"] == "application"
    assert balancer["Scheme"] == "internet-facing"
    groups = _target_groups(moto_client, f"{app}-web")
    assert list(groups) == [f"{app}-web-8080"]
    assert groups[f"{app}-web-8080"]["HealthCheckPath"] == "/health"
    listeners = _listeners(moto_client, balancer["LoadBalancerArn"])
    assert list(listeners) == [80]
    action = listeners[80]["DefaultActions"][0]
    assert action["TargetGroupArn"] == groups[f"{app}-web-8080"]["TargetGroupArn"]

    recorder.actions.clear()
    again = await net_ops.execute("aws.upsertLoadBalancer", load_balancer_input(app), **WHERE)
    assert again.ok and again.value["changed"] is False, again
    assert recorder.mutations() == []

    # Converge: another listener on a new target port, another health check path.
    changed = await net_ops.execute(
        "aws.upsertLoadBalancer",
        load_balancer_input(
            app,
            listeners=[
                {"protocol": "HTTP", "port": 80, "target_port": 8080},
                {"protocol": "HTTP", "port": 8000, "target_port": 9000},
            ],
            health_check={"path": "/ready", "interval_seconds": 15},
        ),
        **WHERE,
    )
    assert changed.ok, changed.error
    groups = _target_groups(moto_client, f"{app}-web")
    assert sorted(groups) == [f"{app}-web-8080", f"{app}-web-9000"]
    assert {g["HealthCheckPath"] for g in groups.values()} == {"/ready"}
    assert sorted(_listeners(moto_client, balancer["LoadBalancerArn"])) == [80, 8000]

    # Back to one listener: the other listener and its target group go.
    back = await net_ops.execute("aws.upsertLoadBalancer", load_balancer_input(app), **WHERE)
    assert back.ok, back.error
    assert sorted(_target_groups(moto_client, f"{app}-web")) == [f"{app}-web-8080"]
    assert sorted(_listeners(moto_client, balancer["LoadBalancerArn"])) == [80]

    # A server group names the load balancer by our name: it joins its target group.
    created = await net_ops.execute(
        "aws.createServerGroup",
        create_input(moto_network, app, load_balancers=[f"{app}-web"], wait=False),
        **WHERE,
    )
    assert created.ok, created.error
    asg = moto_client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[created.value["name"]]
    )["AutoScalingGroups"][0]
    tg_arn = _target_groups(moto_client, f"{app}-web")[f"{app}-web-8080"]["TargetGroupArn"]
    assert asg["TargetGroupARNs"] == [tg_arn]
    assert not asg.get("LoadBalancerNames")

    described = await net_ops.execute("aws.describeLoadBalancer", {"name": f"{app}-web"}, **WHERE)
    assert described.ok, described.error
    assert described.value["server_groups"] == [created.value["name"]]
    assert described.value["listeners"][0]["target_port"] == 8080
    assert described.value["address"]
    listed = await net_ops.execute("aws.listLoadBalancers", {"application": app}, **WHERE)
    assert [b["name"] for b in listed.value["load_balancers"]] == [f"{app}-web"]

    refused = await net_ops.execute("aws.deleteLoadBalancer", {"name": f"{app}-web"}, **WHERE)
    assert not refused.ok and refused.error.code == "CONFLICT", refused
    assert created.value["name"] in refused.error.message
    assert _balancer(moto_client, f"{app}-web") is not None

    forced = await net_ops.execute(
        "aws.deleteLoadBalancer", {"name": f"{app}-web", "force": True}, **WHERE
    )
    assert forced.ok and forced.value["changed"] is True, forced
    assert _balancer(moto_client, f"{app}-web") is None
    assert _target_groups(moto_client, f"{app}-web") == {}
    await net_ops.execute(
        "aws.destroyServerGroup", {"server_group": created.value["name"], "wait": False}, **WHERE
    )


async def test_failed_upsert_rolls_back_what_it_changed(
    net_ops: CloudOpsClient, moto_client: Any, recorder: Recorder, app: str
) -> None:
    # A first upsert fails at its listener: the target group and load balancer it made go.
    recorder.fail = {"CreateListener"}
    failed = await net_ops.execute("aws.upsertLoadBalancer", load_balancer_input(app), **WHERE)
    assert not failed.ok
    assert [(r.step, r.ok) for r in failed.error.rollbacks] == [
        (f"delete listeners/{app}-web", True),
        (f"delete load_balancer/{app}-web", True),
        (f"delete target_group/{app}-web-8080", True),
    ]
    assert _balancer(moto_client, f"{app}-web") is None
    assert _target_groups(moto_client, f"{app}-web") == {}

    # A converge that fails puts the changed health check back.
    recorder.fail = set()
    assert (await net_ops.execute("aws.upsertLoadBalancer", load_balancer_input(app), **WHERE)).ok
    recorder.fail = {"CreateListener"}
    failed = await net_ops.execute(
        "aws.upsertLoadBalancer",
        load_balancer_input(
            app,
            listeners=[
                {"protocol": "HTTP", "port": 80, "target_port": 8080},
                {"protocol": "HTTP", "port": 81, "target_port": 8080},
            ],
            health_check={"path": "/other"},
        ),
        **WHERE,
    )
    assert not failed.ok
    groups = _target_groups(moto_client, f"{app}-web")
    assert groups[f"{app}-web-8080"]["HealthCheckPath"] == "/health"
    balancer = _balancer(moto_client, f"{app}-web")
    assert balancer is not None
    assert sorted(_listeners(moto_client, balancer["LoadBalancerArn"])) == [80]
    recorder.fail = set()
    assert (await net_ops.execute("aws.deleteLoadBalancer", {"name": f"{app}-web"}, **WHERE)).ok


async def test_security_group_in_use_refuses_delete(
    net_ops: CloudOpsClient, moto_client: Any, moto_network: MotoNetwork, app: str
) -> None:
    assert (await net_ops.execute("aws.upsertSecurityGroup", security_group_input(app), **WHERE)).ok
    created = await net_ops.execute(
        "aws.createServerGroup",
        create_input(moto_network, app, security_groups=[f"{app}-web"], wait=False),
        **WHERE,
    )
    assert created.ok, created.error
    refused = await net_ops.execute("aws.deleteSecurityGroup", {"name": f"{app}-web"}, **WHERE)
    assert not refused.ok and refused.error.code == "CONFLICT", refused
    assert _group(moto_client, f"{app}-web") is not None
    destroyed = await net_ops.execute(
        "aws.destroyServerGroup",
        {"server_group": created.value["name"], "poll_interval_seconds": 0.5},
        **WHERE,
    )
    assert destroyed.ok, destroyed.error
    deleted = await net_ops.execute("aws.deleteSecurityGroup", {"name": f"{app}-web"}, **WHERE)
    assert deleted.ok, deleted.error
    assert _group(moto_client, f"{app}-web") is None


async def test_repeated_request_and_killed_worker_make_no_duplicates(
    worker_process: Any,
    temporal_client: Any,
    aws_fault_proxy: Any,
    moto_client: Any,
    app: str,
) -> None:
    recorder = Recorder()
    recorder.hold = {"CreateListener"}
    proxy = aws_fault_proxy(FaultRules(), fidelity=[recorder])
    queue = f"aws-lb-crash-{uuid.uuid4().hex[:8]}"
    worker = await asyncio.to_thread(
        worker_process, queue, accounts=aws_account_config(proxy.url), plugins=["aws"]
    )
    ops = CloudOpsClient(temporal_client, task_queue=queue)
    request = f"{app}-lb"
    handle = await ops.submit(
        "aws.upsertLoadBalancer", load_balancer_input(app), request_id=request, **WHERE
    )
    assert await asyncio.to_thread(recorder.held.wait, 60), "the upsert never made its listener"
    worker.kill()
    recorder.hold = set()
    recorder.release.set()
    await asyncio.to_thread(worker.start)
    result = await asyncio.wait_for(handle.result(), 90)
    assert result.ok, result.error
    again = await ops.submit(
        "aws.upsertLoadBalancer", load_balancer_input(app), request_id=request, **WHERE
    )
    assert (await again.result()).value == result.value  # the same workflow, not a second run
    balancer = _balancer(moto_client, f"{app}-web")
    assert balancer is not None
    assert list(_target_groups(moto_client, f"{app}-web")) == [f"{app}-web-8080"]
    assert list(_listeners(moto_client, balancer["LoadBalancerArn"])) == [80]
    named = [
        b
        for b in moto_client("elbv2").describe_load_balancers()["LoadBalancers"]
        if b["LoadBalancerName"].startswith(app)
    ]
    assert len(named) == 1
