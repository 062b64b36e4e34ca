"""Deploy strategies on AWS (moto in server mode, a real Temporal server)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

import cloudops_aws.plugin
import cloudops_deploy.plugin
from cloudops.client import CloudOpsClient
from cloudops_testing.fixtures_aws import MOTO_ACCOUNT, MOTO_REGION

WHERE = {"account": MOTO_ACCOUNT, "region": MOTO_REGION}
FAST = {"health_timeout_seconds": 60, "poll_interval_seconds": 0.5}


@pytest.fixture
async def deploy_ops(
    cloudops_worker: Any, aws_accounts: dict[str, Any]
) -> AsyncIterator[CloudOpsClient]:
    async with cloudops_worker(
        plugins=[cloudops_aws.plugin, cloudops_deploy.plugin],
        load_entrypoints=False,
        accounts=aws_accounts,
    ) as ops:
        yield ops


@pytest.fixture
def app() -> str:
    return f"d{uuid.uuid4().hex[:10]}"


def server_group(network: Any, app: str, **overrides: Any) -> dict[str, Any]:
    data = {
        "application": app,
        "stack": "prod",
        "image": network.image_id,
        "instance_type": "t3.micro",
        "capacity": {"min": 1, "max": 4, "desired": 2},
        "zones": ["us-east-1a"],
        "security_groups": [network.security_group_id],
    }
    data.update(overrides)
    return data


def groups_of(moto_client: Any, cluster: str) -> dict[str, dict[str, Any]]:
    asg = moto_client("autoscaling")
    found = {}
    for page in asg.get_paginator("describe_auto_scaling_groups").paginate():
        for group in page["AutoScalingGroups"]:
            name = group["AutoScalingGroupName"]
            if name.startswith(cluster + "-v"):
                found[name] = group
    return found


def suspended(group: dict[str, Any]) -> set[str]:
    return {p["ProcessName"] for p in group.get("SuspendedProcesses", [])}


async def red_black(ops: CloudOpsClient, network: Any, app: str, **extra: Any) -> Any:
    payload = {"server_group": server_group(network, app), **FAST, **extra}
    return await ops.execute("deploy.redBlack", payload, **WHERE)


async def test_red_black_replaces_the_old_group(
    deploy_ops: CloudOpsClient, moto_network: Any, moto_client: Any, app: str
) -> None:
    first = await red_black(deploy_ops, moto_network, app)
    assert first.ok, first.error
    assert first.value["new_server_group"] == f"{app}-prod-v000"
    assert first.value["previous_server_groups"] == []

    second = await red_black(deploy_ops, moto_network, app)
    assert second.ok, second.error
    assert second.value["new_server_group"] == f"{app}-prod-v001"
    assert second.value["disabled"] == [f"{app}-prod-v000"]
    groups = await asyncio.to_thread(groups_of, moto_client, f"{app}-prod")
    assert "AddToLoadBalancer" in suspended(groups[f"{app}-prod-v000"])
    assert "AddToLoadBalancer" not in suspended(groups[f"{app}-prod-v001"])
    steps = [s.name for s in second.metadata.steps]
    assert steps[0] == "find the cluster's server groups"
    assert f"disable {app}-prod-v000" in steps


async def test_a_failed_create_leaves_the_cluster_as_it_was(
    deploy_ops: CloudOpsClient, moto_network: Any, moto_client: Any, app: str
) -> None:
    assert (await red_black(deploy_ops, moto_network, app)).ok
    bad = server_group(moto_network, app, target_groups=["no-such-target-group"])
    result = await deploy_ops.execute("deploy.redBlack", {"server_group": bad, **FAST}, **WHERE)
    assert not result.ok and result.error is not None
    assert result.error.code == "NOT_FOUND"
    groups = await asyncio.to_thread(groups_of, moto_client, f"{app}-prod")
    assert list(groups) == [f"{app}-prod-v000"]
    assert "AddToLoadBalancer" not in suspended(groups[f"{app}-prod-v000"])


async def _wait_for_judgement(handle: Any) -> None:
    for _ in range(400):
        if "judgement" in (await handle.progress()).awaiting_input:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the deploy never asked for a judgement")


@pytest.mark.parametrize("decision", ["reject", "timeout", "cancel"])
async def test_rejected_timed_out_or_cancelled_deploy_rolls_back(
    deploy_ops: CloudOpsClient, moto_network: Any, moto_client: Any, app: str, decision: str
) -> None:
    assert (await red_black(deploy_ops, moto_network, app)).ok
    payload = {
        "server_group": server_group(moto_network, app),
        "manual_judgement": True,
        "judgement_timeout_seconds": 2 if decision == "timeout" else 300,
        **FAST,
    }
    handle = await deploy_ops.submit("deploy.redBlack", payload, **WHERE)
    if decision != "timeout":
        await _wait_for_judgement(handle)
    if decision == "reject":
        await handle.send_input("judgement", {"approved": False}, sender="qa")
    elif decision == "cancel":
        await handle.cancel()
    result = await handle.result()
    expected = {"reject": "REJECTED", "timeout": "TIMED_OUT", "cancel": "CANCELLED"}[decision]
    assert result.error is not None and result.error.code == expected
    assert all(r.ok for r in result.error.rollbacks), result.error.rollbacks
    groups = await asyncio.to_thread(groups_of, moto_client, f"{app}-prod")
    assert list(groups) == [f"{app}-prod-v000"], "the new group is gone"
    assert "AddToLoadBalancer" not in suspended(groups[f"{app}-prod-v000"])


async def test_approved_deploy_and_max_remaining_server_groups(
    deploy_ops: CloudOpsClient, moto_network: Any, moto_client: Any, app: str
) -> None:
    for _ in range(2):
        assert (await red_black(deploy_ops, moto_network, app)).ok
    payload = {
        "server_group": server_group(moto_network, app),
        "manual_judgement": True,
        "max_remaining_server_groups": 2,
        "scale_down_old": True,
        **FAST,
    }
    handle = await deploy_ops.submit("deploy.redBlack", payload, **WHERE)
    await _wait_for_judgement(handle)
    await handle.send_input("judgement", {"approved": True}, sender="lead")
    result = await handle.result()
    assert result.ok, result.error
    assert result.value["judged_by"] == "lead"
    assert result.value["destroyed"] == [f"{app}-prod-v000"]
    assert result.value["scaled_down"] == [f"{app}-prod-v001"]
    groups = await asyncio.to_thread(groups_of, moto_client, f"{app}-prod")
    assert sorted(groups) == [f"{app}-prod-v001", f"{app}-prod-v002"]
    assert groups[f"{app}-prod-v001"]["DesiredCapacity"] == 0


async def test_rolling_red_black_moves_capacity_in_steps(
    deploy_ops: CloudOpsClient, moto_network: Any, moto_client: Any, app: str
) -> None:
    sized = server_group(moto_network, app, capacity={"min": 0, "max": 4, "desired": 4})
    assert (
        await deploy_ops.execute("deploy.redBlack", {"server_group": sized, **FAST}, **WHERE)
    ).ok
    result = await deploy_ops.execute(
        "deploy.rollingRedBlack",
        {"server_group": sized, "percentages": [50, 100], **FAST},
        **WHERE,
    )
    assert result.ok, result.error
    steps = [s.name for s in result.metadata.steps]
    assert f"50%: {app}-prod-v001 to 2 instance(s)" in steps
    assert f"50%: {app}-prod-v000 to 2 instance(s)" in steps
    assert f"100%: {app}-prod-v000 to 0 instance(s)" in steps
    groups = await asyncio.to_thread(groups_of, moto_client, f"{app}-prod")
    assert groups[f"{app}-prod-v001"]["DesiredCapacity"] == 4
    assert groups[f"{app}-prod-v000"]["DesiredCapacity"] == 0
    assert "AddToLoadBalancer" in suspended(groups[f"{app}-prod-v000"])


async def test_rollback_restores_the_previous_group(
    deploy_ops: CloudOpsClient, moto_network: Any, moto_client: Any, app: str
) -> None:
    for _ in range(2):
        assert (await red_black(deploy_ops, moto_network, app)).ok
    result = await deploy_ops.execute(
        "deploy.rollback", {"restore": f"{app}-prod-v000", **FAST}, **WHERE
    )
    assert result.ok, result.error
    assert result.value["disabled"] == [f"{app}-prod-v001"]
    groups = await asyncio.to_thread(groups_of, moto_client, f"{app}-prod")
    assert "AddToLoadBalancer" not in suspended(groups[f"{app}-prod-v000"])
    assert "AddToLoadBalancer" in suspended(groups[f"{app}-prod-v001"])


async def test_deploy_without_an_account_is_invalid_input(deploy_ops: CloudOpsClient) -> None:
    result = await deploy_ops.execute("deploy.redBlack", {"server_group": {}})
    assert result.error is not None and result.error.code == "INVALID_INPUT"
    assert result.error.details["errors"][0]["field"] == "account"
