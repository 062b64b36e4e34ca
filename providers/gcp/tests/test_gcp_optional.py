"""The optional verbs GCP offers (the autoscaler as the group's scaling policy) on a real
Temporal server, read back from the emulator with the official client: set, repeated without a
second change, undone when an operation composing it (``testkit.thenFail``) fails, deleted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from gcp_testkit import FAST, WHERE, create_input
from test_gcp_autoscaler import kinds_on, read_autoscaler

import cloudops_gcp.plugin
from cloudops.client import CloudOpsClient
from cloudops_testing import then_fail
from cloudops_testing.fixtures_gcp import GCP_PROJECT
from cloudops_testing.gcp_emulator import GcpEmulator


@pytest.fixture
async def ops(cloudops_worker: Any, gcp_accounts: dict[str, Any]) -> AsyncIterator[CloudOpsClient]:
    async with cloudops_worker(
        plugins=[cloudops_gcp.plugin, then_fail], load_entrypoints=False, accounts=gcp_accounts
    ) as client:
        yield client


def _cpu(group: str, percent: float) -> dict[str, Any]:
    return {"server_group": group, "policy_name": "cpu", "target_tracking": {"target": percent}}


async def test_the_autoscaler_is_the_scaling_policy(
    ops: CloudOpsClient, gcp_emulator: GcpEmulator, gcp_client: Callable[[str], Any], app: str
) -> None:
    made = await ops.execute("gcp.createServerGroup", create_input(app), **WHERE)
    assert made.ok, made.error
    group = made.value["name"]
    assert await read_autoscaler(gcp_client, group) is None

    first = await ops.execute("gcp.upsertScalingPolicy", _cpu(group, 50), **WHERE)
    assert first.ok and first.value["changed"], first.error
    scaler = await read_autoscaler(gcp_client, group)
    assert scaler.autoscaling_policy.cpu_utilization.utilization_target == 0.5
    assert (
        scaler.autoscaling_policy.min_num_replicas,
        scaler.autoscaling_policy.max_num_replicas,
    ) == (2, 2)
    again = await ops.execute("gcp.upsertScalingPolicy", _cpu(group, 50), **WHERE)
    assert again.ok and not again.value["changed"]
    assert kinds_on(gcp_emulator, group).count("autoscalers.insert") == 1
    assert "autoscalers.patch" not in kinds_on(gcp_emulator, group)

    step = {
        "server_group": group,
        "policy_name": "up",
        "step": {
            "steps": [{"adjustment": 1}],
            "alarm": {"comparison": "GreaterThanThreshold", "threshold": 80},
        },
    }
    refused = await ops.execute("gcp.upsertScalingPolicy", step, **WHERE)
    assert refused.error.code == "INVALID_INPUT"

    # Composed and then failing: the previous policy comes back, a deleted autoscaler too.
    for change in (
        {"operation": "gcp.upsertScalingPolicy", "input": _cpu(group, 80)},
        {
            "operation": "gcp.deleteScalingPolicy",
            "input": {"server_group": group, "policy_name": "cpu"},
        },
    ):
        failed = await ops.execute("testkit.thenFail", {"steps": [change]}, **WHERE)
        assert not failed.ok and [r.ok for r in failed.error.rollbacks] == [True], failed.error
        scaler = await read_autoscaler(gcp_client, group)
        assert scaler is not None
        assert scaler.autoscaling_policy.cpu_utilization.utilization_target == 0.5

    for _ in range(2):
        deleted = await ops.execute(
            "gcp.deleteScalingPolicy", {"server_group": group, "policy_name": "cpu"}, **WHERE
        )
        assert deleted.ok, deleted.error
    assert not deleted.value["changed"]
    assert await read_autoscaler(gcp_client, group) is None


async def test_clones_and_sourced_creates_copy_the_auto_healing_policy(
    ops: CloudOpsClient, gcp_client: Callable[[str], Any], app: str
) -> None:
    healing = {"health_check": "hc-web", "initial_delay_seconds": 120}
    made = await ops.execute(
        "gcp.createServerGroup", create_input(app, auto_healing=healing), **WHERE
    )
    assert made.ok, made.error
    source = made.value["name"]
    clone = await ops.execute("gcp.cloneServerGroup", {"source": source, **FAST}, **WHERE)
    assert clone.ok, clone.error
    sourced = await ops.execute("gcp.createServerGroup", create_input(app, source=source), **WHERE)
    assert sourced.ok, sourced.error
    assert sourced.value["resources"]["scaling_copied"] == "auto_healing=1"
    for name in (source, clone.value["name"], sourced.value["name"]):
        group = await asyncio.to_thread(
            gcp_client("InstanceGroupManagersClient").get,
            project=GCP_PROJECT,
            zone="us-central1-a",
            instance_group_manager=name,
        )
        (policy,) = group.auto_healing_policies
        assert policy.health_check.endswith(f"projects/{GCP_PROJECT}/global/healthChecks/hc-web")
        assert policy.initial_delay_sec == 120


async def test_detach_abandons_an_instance_that_keeps_running(
    ops: CloudOpsClient, gcp_client: Callable[[str], Any], app: str
) -> None:
    made = await ops.execute("gcp.createServerGroup", create_input(app), **WHERE)
    assert made.ok, made.error
    group = made.value["name"]
    described = await ops.execute("gcp.describeServerGroup", {"server_group": group}, **WHERE)
    first = sorted(i["id"] for i in described.value["instances"])[0]
    detach = {"server_group": group, "instance_ids": [first]}
    refused = await ops.execute(
        "gcp.detachInstances", {**detach, "decrement_desired": False}, **WHERE
    )
    assert refused.error.code == "INVALID_INPUT"
    detached = await ops.execute("gcp.detachInstances", detach, **WHERE)
    assert detached.ok and detached.value["changed"], detached.error
    again = await ops.execute("gcp.detachInstances", detach, **WHERE)
    assert again.ok and not again.value["changed"], again.value
    after = await ops.execute("gcp.describeServerGroup", {"server_group": group}, **WHERE)
    assert after.value["capacity"]["desired"] == 1
    assert first not in [i["id"] for i in after.value["instances"]]
    instance = await asyncio.to_thread(
        gcp_client("InstancesClient").get,
        project=GCP_PROJECT,
        zone="us-central1-a",
        instance=first.rsplit("/", 1)[-1],
    )
    assert instance.status == "RUNNING"
